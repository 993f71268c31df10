// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delivery under faults, with the real vigild and `vigil host --listen`:
 * the host killed and restarted mid-stream, vigild SIGKILLed and restarted
 * on its spool (once, and again and again at arbitrary points), the host
 * away for a while, the spool cap reached, the spool on a full tmpfs. Each
 * ends with every event stored exactly once, or with the loss counted
 * exactly (stored events + EventsLost = emitted).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"
#include "frame.h"
#include "wire.h"

struct rig {
	struct vg_t_host h; /* dir, db, log; h.pid is the host */
	char addr[160], spool[160], devid[64], marker[64];
	char keys[160], key[160]; /* tcp: the host's --keys and vigild's --key */
	int port;
	pid_t vigild;
	int starts; /* of vigild, to find its 'watching' lines in the log */
	int tmpfs;
};

static struct rig R;

static const char *bin(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

static pid_t run(char *const argv[], const char *log)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* A test that times out must not leave a reconnecting vigild behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDERR_FILENO);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* A key file (mode 0600) for R.devid whose key bytes are seed, seed+1, ... */
static void write_key(const char *path, int seed)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "%s ", R.devid);
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (seed + i) & 0xff);
	fputc('\n', f);
	fclose(f);
	cr_assert_eq(chmod(path, 0600), 0);
}

static void rig_setup(const char *transport)
{
	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	memset(&R, 0, sizeof(R));
	snprintf(R.h.dir, sizeof(R.h.dir), "%s/vg-dlv-XXXXXX", vg_t_root());
	cr_assert_not_null(mkdtemp(R.h.dir));
	snprintf(R.h.db, sizeof(R.h.db), "%s/t.db", R.h.dir);
	snprintf(R.h.log, sizeof(R.h.log), "%s/log", R.h.dir);
	snprintf(R.spool, sizeof(R.spool), "%s/spool", R.h.dir);
	vg_t_marker(R.devid, sizeof(R.devid), "dev");
	vg_t_marker(R.marker, sizeof(R.marker), "dlv");
	if (!strcmp(transport, "unix")) {
		snprintf(R.addr, sizeof(R.addr), "unix:%s/sock", R.h.dir);
		return;
	}
	/* tcp: every peer proves the device's key. */
	R.port = 20000 + getpid() % 20000;
	snprintf(R.addr, sizeof(R.addr), "tcp:127.0.0.1:%d", R.port);
	snprintf(R.keys, sizeof(R.keys), "%s/keys", R.h.dir);
	snprintf(R.key, sizeof(R.key), "%s/key", R.h.dir);
	write_key(R.keys, 0x11);
	write_key(R.key, 0x11);
}

static void rig_teardown(void)
{
	char cmd[200];

	if (R.vigild > 0) {
		kill(R.vigild, SIGKILL);
		waitpid(R.vigild, NULL, 0);
	}
	if (R.h.pid > 0) {
		kill(R.h.pid, SIGKILL);
		waitpid(R.h.pid, NULL, 0);
	}
	if (R.tmpfs) {
		snprintf(cmd, sizeof(cmd), "%s/full", R.h.dir);
		umount2(cmd, MNT_DETACH);
	}
	if (R.h.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", R.h.dir);
		system(cmd);
	}
}

static void host_start(void)
{
	char *argv[] = {
		(char *)bin("VIGIL", "build/vigil"), "host", "--db", R.h.db, "--listen", R.addr,
		R.keys[0] ? "--keys" : NULL,	     R.keys, NULL
	};

	R.h.pid = run(argv, R.h.log);
}

static void host_kill(int sig)
{
	kill(R.h.pid, sig);
	waitpid(R.h.pid, NULL, 0);
	R.h.pid = 0;
}

/* vigild on R.addr with the spool (unless spool is 0) and extra args. */
static void vigild_start(int spool, const char *const *extra)
{
	char *argv[40];
	int n = 0;

	argv[n++] = (char *)bin("VIGILD", "build/vigild");
	argv[n++] = "--transport";
	argv[n++] = R.addr;
	argv[n++] = "--flush-ms";
	argv[n++] = "50";
	argv[n++] = "--backoff-max-ms";
	argv[n++] = "200";
	argv[n++] = "--device-id";
	argv[n++] = R.devid;
	/* Process events only: other work on the machine floods the file source. */
	argv[n++] = "--sources";
	argv[n++] = "exec,fork,exit";
	if (spool) {
		argv[n++] = "--spool";
		argv[n++] = R.spool;
	}
	if (R.key[0]) {
		argv[n++] = "--key";
		argv[n++] = R.key;
	}
	for (int i = 0; extra && extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	R.vigild = run(argv, R.h.log);
	R.starts++;
	/* Attached once it logs so; without a host there is no DeviceInfo to wait for. */
	for (int t = 0; t < 300; t++) {
		FILE *f = fopen(R.h.log, "r");
		char line[512];
		int up = 0;

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "vigild: watching ("))
				up++;
		if (f)
			fclose(f);
		if (up >= R.starts)
			return;
		usleep(50000);
	}
	cr_assert_fail("vigild did not start (log %s)", R.h.log);
}

/* Wait until the host stops storing frames (the resent backlog is in). */
static void wait_settled(void)
{
	long long last = -2, now;
	int stable = 0;

	for (int t = 0; t < 600 && stable < 8; t++) {
		now = vg_t_wait_int(&R.h, 0, 0, "SELECT count(*) FROM ReceivedFrames");
		stable = now == last && now > 0 ? stable + 1 : 0;
		last = now;
		usleep(100000);
	}
}

/* SIGTERM: vigild drains, sends the last batch and waits (3 s) for its ACK. */
static void vigild_stop(void)
{
	int st;

	kill(R.vigild, SIGTERM);
	cr_assert_eq(waitpid(R.vigild, &st, 0), R.vigild);
	R.vigild = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vigild exit status %d (log %s)", st,
		  R.h.log);
}

/* n fork+execs of /bin/true, each with argv[1] = "<marker>-<i>". */
static void execs(int from, int n)
{
	char arg[96];
	char *argv[] = { "/bin/true", arg, NULL };

	for (int i = from; i < from + n; i++) {
		pid_t pid;

		snprintf(arg, sizeof(arg), "%s-%d", R.marker, i);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
}

/* Rows for execs from..from+n-1, and how many distinct ones. */
static void marked(int from, int n, long long *rows, long long *distinct)
{
	sqlite3 *db = vg_t_db_open(&R.h);
	*rows = 0;
	*distinct = 0;
	for (int i = from; i < from + n; i++) {
		long long c = vg_t_query_int(db,
					     "SELECT count(*) FROM DeviceProcessEvents WHERE "
					     "ActionType = 'ProcessCreated' AND "
					     "ProcessCommandLine = '/bin/true %s-%d'",
					     R.marker, i);

		*rows += c;
		*distinct += c > 0;
	}
	sqlite3_close(db);
}

/*
 * Wait (60 s at most) until every exec from..from+n-1 is stored: a spool
 * replay or a reconnect backoff can pause the stream for longer than
 * wait_settled()'s lull on a busy machine.
 */
static void wait_marked(int from, int n)
{
	long long rows, distinct = 0;

	for (int t = 0; t < 300 && distinct < n; t++) {
		marked(from, n, &rows, &distinct);
		if (distinct < n)
			usleep(200000);
	}
}

static void assert_exactly_once(int from, int n)
{
	long long rows, distinct;

	marked(from, n, &rows, &distinct);
	cr_assert_eq(distinct, n, "%lld of %d execs stored (log %s)", distinct, n, R.h.log);
	cr_assert_eq(rows, n, "%lld rows for %d execs: duplicates (log %s)", rows, n, R.h.log);
}

/*
 * The exact count: every event the kernel emitted for this device is a row
 * or counted in EventsLost. Returns EventsLost.
 */
static long long assert_counted(void)
{
	sqlite3 *db = vg_t_db_open(&R.h);
	long long emitted, rows, lost;

	emitted = vg_t_query_int(
		db, "SELECT sum(Emitted) FROM SensorCounters WHERE DeviceId = '%s'", R.devid);
	lost = vg_t_query_int(
		db, "SELECT max(EventsLost) FROM SensorCounters WHERE DeviceId = '%s'", R.devid);
	rows = vg_t_query_int(
		db,
		"SELECT (SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceFileEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceNetworkEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceEvents WHERE DeviceId = '%s'"
		"    AND ActionType != 'FilelessExec'"
		"    AND coalesce(json_extract(AdditionalFields, '$.Via'), '') != 'exec')",
		R.devid, R.devid, R.devid, R.devid);
	sqlite3_close(db);
	cr_assert_gt(emitted, 0);
	/*
	 * One exec can also yield a FilelessExec or a PrivilegeChange (a set-id
	 * image) row in DeviceEvents: vigild derives those, the kernel emitted
	 * one event. Without them, rows and losses add up to what was emitted.
	 */
	cr_assert_eq(rows + lost, emitted, "stored %lld + lost %lld != emitted %lld (log %s)", rows,
		     lost, emitted, R.h.log);
	return lost;
}

static long long db_int(const char *fmt, const char *arg)
{
	sqlite3 *db = vg_t_db_open(&R.h);
	long long v = vg_t_query_int(db, fmt, arg);

	sqlite3_close(db);
	return v;
}

static int log_has(const char *s)
{
	FILE *f = fopen(R.h.log, "r");
	char line[1024];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* A tmpfs (mount options opts) at R.h.dir/full, its path into full; the teardown unmounts it. */
static void tmpfs_mount(char *full, size_t size, const char *opts)
{
	snprintf(full, size, "%s/full", R.h.dir);
	cr_assert_eq(mkdir(full, 0700), 0);
	cr_assert_eq(mount("tmpfs", full, "tmpfs", 0, opts), 0, "mount tmpfs: %s", strerror(errno));
	R.tmpfs = 1;
}

/* Fill dir's filesystem with dir/filler (its path into filler) until ENOSPC. */
static void fill_up(const char *dir, char *filler, size_t size)
{
	static char blk[4096];
	int fd;

	snprintf(filler, size, "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	while (write(fd, blk, sizeof(blk)) > 0)
		;
	cr_assert_eq(errno, ENOSPC);
	close(fd);
}

TestSuite(delivery, .fini = rig_teardown, .timeout = 120);

Test(delivery, host_killed_and_restarted_mid_stream)
{
	rig_setup("tcp");
	host_start();
	vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&R.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", R.h.log);
	execs(0, 150);
	host_kill(SIGKILL); /* mid-stream: batches in flight, unacknowledged */
	execs(150, 150);
	usleep(300000);
	host_start();
	execs(300, 150);
	wait_marked(0, 450);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	assert_exactly_once(0, 450);
	cr_assert_eq(assert_counted(), 0);
	cr_assert(log_has("reconnecting"), "no reconnect logged (log %s)", R.h.log);
}

Test(delivery, vigild_sigkilled_and_restarted_on_its_spool)
{
	long long streams;

	rig_setup("unix");
	vigild_start(1, NULL); /* no host yet: everything goes to the spool */
	execs(0, 100);
	usleep(500000); /* flushed (50 ms) into the spool */
	execs(100, 30);
	kill(R.vigild, SIGKILL); /* mid-batch */
	waitpid(R.vigild, NULL, 0);
	R.vigild = 0;
	host_start();
	vigild_start(1, NULL);
	execs(200, 100);
	wait_marked(0, 100);
	wait_marked(200, 100);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	/* Spooled before the kill: exactly once, under the first run's stream. */
	assert_exactly_once(0, 100);
	/* The new run's own events: exactly once. */
	assert_exactly_once(200, 100);
	/* The batch being built at SIGKILL may be gone, but nothing twice. */
	{
		long long rows, distinct;

		marked(100, 30, &rows, &distinct);
		cr_assert_eq(rows, distinct, "duplicates after the restart");
	}
	streams =
		db_int("SELECT count(DISTINCT StreamId) FROM ReceivedFrames WHERE DeviceId = '%s'",
		       R.devid);
	cr_assert_eq(streams, 2, "%lld streams: the spooled frames kept their run's stream",
		     streams);
	cr_assert(log_has("unacknowledged frames from an earlier run"), "log %s", R.h.log);
}

Test(delivery, host_away_for_a_while)
{
	rig_setup("unix");
	vigild_start(0, NULL); /* memory queue only */
	execs(0, 200);
	sleep(2);
	execs(200, 100);
	host_start();
	execs(300, 100);
	wait_marked(0, 400);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	assert_exactly_once(0, 400);
	cr_assert_eq(assert_counted(), 0);
	cr_assert_eq(db_int("SELECT sum(RingbufFull) FROM SensorCounters WHERE DeviceId = '%s'",
			    R.devid),
		     0, "backpressure reached the kernel");
}

Test(delivery, spool_cap_reached_loss_is_counted)
{
	const char *extra[] = {
		"--spool-max-mb", "1", "--queue-mem-kb", "64", "--batch", "1", NULL
	};
	long long lost;

	rig_setup("unix");
	vigild_start(1, extra);
	execs(0, 2500);
	usleep(300000);
	host_start();
	/* The spool replays its backlog before the execs that must all arrive. */
	wait_settled();
	execs(2500, 50);
	/* A replay can pause for a reconnect: wait for the new execs, not just for a lull. */
	wait_marked(2500, 50);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	lost = assert_counted();
	cr_assert_gt(lost, 0, "a 1 MiB spool held everything: the cap was not reached");
	assert_exactly_once(2500, 50);
	cr_assert(log_has("over its cap"), "log %s", R.h.log);
}

Test(delivery, spool_on_a_full_tmpfs_loss_is_counted)
{
	const char *extra[] = { "--queue-mem-kb", "64", "--batch", "1", NULL };
	char full[200], filler[220];
	long long lost;

	rig_setup("unix");
	tmpfs_mount(full, sizeof(full), "size=128k");
	snprintf(R.spool, sizeof(R.spool), "%s/spool", full);
	cr_assert_eq(mkdir(R.spool, 0700), 0);
	fill_up(full, filler, sizeof(filler));
	vigild_start(1, extra);
	execs(0, 1500);
	usleep(300000);
	host_start();
	/* The backlog drains (what 64 KiB held) before the execs that must all arrive. */
	wait_settled();
	execs(1500, 50);
	wait_marked(1500, 50);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	lost = assert_counted();
	cr_assert_gt(lost, 0, "64 KiB of memory held everything: nothing was forced out");
	assert_exactly_once(1500, 50);
	cr_assert(log_has("spool: cannot write"), "log %s", R.h.log);
}

/*
 * Crash consistency of the spool (issue 15, finding 1). A spool record as
 * user/spool.h documents it, read here independently of the loader: 40-byte
 * header (magic "VGSP", type 1 frame / 2 ack, stream, seq, nevents, payload
 * length, crc32c, zero), then the payload.
 */
struct spooled {
	uint64_t stream, seq;
	uint32_t nevents;
	int whole, named;
};

struct spool_view {
	struct spooled f[8192];
	int n;
	struct {
		uint64_t stream, seq;
	} ack[64];
	int nack;
	int torn; /* records cut short (at most one per segment after SIGKILL) */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void view_ack(struct spool_view *v, uint64_t stream, uint64_t seq)
{
	for (int i = 0; i < v->nack; i++)
		if (v->ack[i].stream == stream) {
			if (seq > v->ack[i].seq)
				v->ack[i].seq = seq;
			return;
		}
	cr_assert_lt(v->nack, 64);
	v->ack[v->nack].stream = stream;
	v->ack[v->nack++].seq = seq;
}

static int view_acked(const struct spool_view *v, const struct spooled *f)
{
	for (int i = 0; i < v->nack; i++)
		if (v->ack[i].stream == f->stream)
			return f->named && f->seq <= v->ack[i].seq;
	return 0;
}

/*
 * Every segment of R.spool. A SIGKILL cuts at most the last record of a
 * segment: anything else out of place fails the test. The record cut short
 * counts as the loader's contract says: its header's event count when the
 * header got that far (28 bytes), else one event; an ack cut short, none.
 */
static void spool_view(struct spool_view *v)
{
	static uint8_t buf[32 << 20];
	DIR *d = opendir(R.spool);
	struct dirent *de;

	memset(v, 0, sizeof(*v));
	cr_assert_not_null(d, "open %s", R.spool);
	while ((de = readdir(d))) {
		char path[400];
		size_t size, off = 0;
		FILE *f;

		if (strncmp(de->d_name, "seg-", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", R.spool, de->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f);
		size = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		while (off < size) {
			const uint8_t *h = buf + off;
			size_t have = size - off;
			uint32_t type = have >= 8 ? le32(h + 4) : 0;
			struct spooled *s;

			cr_assert(have < 4 || le32(h) == 0x50534756u, "%s: no record at %zu", path,
				  off);
			if (have >= 40 && have >= 40 + (size_t)le32(h + 28)) {
				cr_assert(type == 1 || type == 2, "%s: type %u at %zu", path, type,
					  off);
				if (type == 2)
					view_ack(v, le64(h + 8), le64(h + 16));
			}
			if (type == 2) {
				off += 40;
				continue;
			}
			cr_assert_lt(v->n, 8192);
			s = &v->f[v->n++];
			s->whole = have >= 40 && have >= 40 + (size_t)le32(h + 28);
			s->named = have >= 24;
			s->stream = have >= 16 ? le64(h + 8) : 0;
			s->seq = have >= 24 ? le64(h + 16) : 0;
			s->nevents = have >= 28 ? le32(h + 24) : 1;
			if (!s->whole) {
				v->torn++;
				break;
			}
			off += 40 + le32(h + 28);
		}
	}
	closedir(d);
}

/* Column col of the stored frame f (ReceivedFrames), or -1 when the host has not stored it. */
static long long frame_col(sqlite3 *db, const char *col, const struct spooled *f)
{
	return vg_t_query_int(db,
			      "SELECT %s FROM ReceivedFrames WHERE DeviceId = '%s' AND StreamId = "
			      "%lld AND Seq = %lld",
			      col, R.devid, (long long)f->stream, (long long)f->seq);
}

/*
 * A write cut short at a chosen point: the newest segment's last record, if
 * it is a frame the host never received, is cut to its first `at` bytes
 * (at < its length). Returns whether it was.
 */
static int tear_last_frame(size_t at)
{
	static uint8_t buf[32 << 20];
	char newest[64] = "", path[400];
	size_t size, off = 0, last = 0;
	struct dirent *de;
	DIR *d = opendir(R.spool);
	long long stored;
	FILE *f;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "seg-", 4) && strcmp(de->d_name, newest) > 0)
			snprintf(newest, sizeof(newest), "%s", de->d_name);
	closedir(d);
	if (!newest[0])
		return 0;
	snprintf(path, sizeof(path), "%s/%s", R.spool, newest);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	size = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	while (off + 40 <= size && off + 40 + le32(buf + off + 28) <= size) {
		last = off;
		off += 40 + le32(buf + off + 28);
	}
	if (off != size || !size || le32(buf + last + 4) != 1)
		return 0;
	{
		sqlite3 *db = vg_t_db_open(&R.h);

		stored = vg_t_query_int(db,
					"SELECT count(*) FROM ReceivedFrames WHERE StreamId = %lld "
					"AND Seq = %lld",
					(long long)le64(buf + last + 8),
					(long long)le64(buf + last + 16));
		sqlite3_close(db);
	}
	if (stored)
		return 0;
	at %= size - last;
	cr_assert_eq(truncate(path, (off_t)(last + at)), 0);
	return 1;
}

/*
 * vigild SIGKILLed again and again at arbitrary points while it writes
 * frames (the host reading them, or killed so they pile up in the spool)
 * and while it records acknowledgements, each time restarted on the same
 * spool. Each round: every event of a frame the spool held unacknowledged
 * is stored or counted in the new run's EventsLost, exactly.
 */
Test(delivery, vigild_sigkilled_at_many_points_counts_every_spooled_event, .timeout = 240)
{
	const char *extra[] = { "--batch", "8", NULL };
	static struct spool_view v;
	const int rounds = 36;
	long long torn = 0, lost_all = 0, frames_all = 0;
	int cut = 0;

	rig_setup("unix");
	host_start();
	vigild_start(1, extra);
	for (int r = 0; r < rounds; r++) {
		int away = r % 3 == 1; /* host killed: the backlog is in the spool only */
		long long emitted = 0, stored = 0, lost = -1, last_rowid = 0;
		char known[4096] = "0";
		sqlite3 *db;
		pid_t work;
		int ok = 0;

		if (away)
			host_kill(SIGKILL);
		work = fork();
		cr_assert_geq(work, 0);
		if (work == 0) {
			char arg[96];

			for (int i = 0; i < 400; i++) {
				pid_t p = fork();

				snprintf(arg, sizeof(arg), "%s-%d-%d", R.marker, r, i);
				if (p == 0) {
					execl("/bin/true", "/bin/true", arg, (char *)NULL);
					_exit(127);
				}
				waitpid(p, NULL, 0);
			}
			_exit(0);
		}
		usleep(20000 + (useconds_t)(r * 7919 % 23) * 13000); /* 20-306 ms in */
		kill(R.vigild, SIGKILL);
		waitpid(R.vigild, NULL, 0);
		R.vigild = 0;
		waitpid(work, NULL, 0);
		if (away) {
			host_start();
			/* As if the kill had come in the middle of the last write. */
			cut += tear_last_frame((size_t)r * 7919);
		}

		spool_view(&v);
		torn += v.torn;
		/* The streams stored so far: the restarted run's is none of them. */
		db = vg_t_db_open(&R.h);
		{
			sqlite3_stmt *st;
			size_t n = 1;

			cr_assert_eq(sqlite3_prepare_v2(
					     db, "SELECT DISTINCT StreamId FROM ReceivedFrames", -1,
					     &st, NULL),
				     SQLITE_OK);
			while (sqlite3_step(st) == SQLITE_ROW && n < sizeof(known) - 32)
				n += (size_t)snprintf(known + n, sizeof(known) - n, ",%lld",
						      (long long)sqlite3_column_int64(st, 0));
			sqlite3_finalize(st);
		}
		sqlite3_close(db);

		vigild_start(1, extra);
		/* Wait for the resent frames, then for a frame of the new run after them. */
		for (int t = 0; t < 300 && !ok; t++) {
			long long newer;

			db = vg_t_db_open(&R.h);
			ok = 1;
			last_rowid = 0;
			for (int i = 0; i < v.n && ok; i++) {
				long long row;

				if (!v.f[i].whole || view_acked(&v, &v.f[i]))
					continue;
				row = frame_col(db, "rowid", &v.f[i]);
				ok = row > 0;
				if (row > last_rowid)
					last_rowid = row;
			}
			newer = ok ? vg_t_query_int(
					     db,
					     "SELECT count(*) FROM ReceivedFrames WHERE rowid > "
					     "%lld AND StreamId NOT IN (%s)",
					     last_rowid, known) :
				     0;
			ok = ok && newer > 0;
			sqlite3_close(db);
			if (!ok)
				usleep(100000);
		}
		cr_assert(ok, "round %d: the spooled frames were not all resent (log %s)", r,
			  R.h.log);

		db = vg_t_db_open(&R.h);
		for (int i = 0; i < v.n; i++) {
			long long ev;

			if (view_acked(&v, &v.f[i]))
				continue;
			emitted += v.f[i].nevents;
			if (!v.f[i].named)
				continue;
			ev = frame_col(db, "Events", &v.f[i]);
			cr_assert(v.f[i].whole || ev < 0,
				  "round %d: a frame cut short in the spool was stored", r);
			if (ev > 0)
				stored += ev;
		}
		/* The new run's own count (SensorCounters adds up every run). */
		lost = vg_t_query_int(db,
				      "SELECT max(EventsLost) FROM SensorCounterStreams WHERE "
				      "DeviceId = '%s' AND StreamId NOT IN (%s)",
				      R.devid, known);
		sqlite3_close(db);
		cr_assert_eq(stored + lost, emitted,
			     "round %d (host %s): stored %lld + lost %lld != %lld events the "
			     "spool held unacknowledged (log %s)",
			     r, away ? "away" : "reading", stored, lost, emitted, R.h.log);
		lost_all += lost;
		frames_all += v.n;
	}
	vigild_stop();
	host_kill(SIGTERM);
	{
		long long dup =
			db_int("SELECT count(*) - count(DISTINCT ProcessCommandLine) FROM "
			       "DeviceProcessEvents WHERE ActionType = 'ProcessCreated' AND "
			       "ProcessCommandLine LIKE '/bin/true %s-%%'",
			       R.marker);

		cr_assert_eq(dup, 0, "%lld execs stored twice", dup);
	}
	cr_log_info("%d SIGKILLs: %lld spooled frames, %lld cut short (%d by the test), %lld "
		    "events counted lost",
		    rounds, frames_all, torn, cut, lost_all);
	cr_assert_gt(cut, 0, "no write was cut short: the loss count went untested");
}

/* vigild with args must stop (non-zero) and say why (want, in the log). */
static void vigild_refused(const char *const *args, const char *want)
{
	char *argv[16];
	int n = 0, status = -1;
	pid_t pid;

	argv[n++] = (char *)bin("VIGILD", "build/vigild");
	argv[n++] = "--transport";
	argv[n++] = R.addr;
	argv[n++] = "--sources";
	argv[n++] = "exec";
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	pid = run(argv, R.h.log);
	for (int t = 0; t < 400 && waitpid(pid, &status, WNOHANG) == 0; t++)
		usleep(50000);
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		  "vigild %s %s ran (status %d, log %s)", args[0], args[1], status, R.h.log);
	cr_assert(log_has(want), "no \"%s\" in the log %s", want, R.h.log);
}

/*
 * Issue 15, finding 2: what another user placed in the spool is not
 * vigild's. A segment of real frames handed to uid 65534 is not resent, a
 * symlink named like a segment does not make root truncate its target, and
 * a spool directory others can write to stops vigild with the reason.
 */
Test(delivery, spool_of_another_user_is_not_trusted)
{
	static const char secret[] = "a root-owned file that is not a segment\n";
	char seg[300], forged[300], link[300], victim[200];
	struct stat st, forged_st;
	long long rows, distinct;
	int fd;

	rig_setup("unix");
	vigild_start(1, NULL); /* no host: the frames stay in the spool */
	execs(0, 50);
	usleep(500000);
	kill(R.vigild, SIGKILL);
	waitpid(R.vigild, NULL, 0);
	R.vigild = 0;
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000000.vgs", R.spool);
	snprintf(forged, sizeof(forged), "%s/seg-0000000000000007.vgs", R.spool);
	cr_assert_eq(rename(seg, forged), 0, "%s: %s", seg, strerror(errno));
	cr_assert_eq(chown(forged, 65534, 65534), 0);
	cr_assert_eq(stat(forged, &forged_st), 0);
	cr_assert_gt(forged_st.st_size, 0);
	snprintf(victim, sizeof(victim), "%s/victim", R.h.dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, secret, sizeof(secret)), (ssize_t)sizeof(secret));
	close(fd);
	snprintf(link, sizeof(link), "%s/seg-0000000000000003.vgs", R.spool);
	cr_assert_eq(symlink(victim, link), 0);

	host_start();
	vigild_start(1, NULL);
	execs(100, 20);
	wait_marked(100, 20);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	assert_exactly_once(100, 20);
	marked(0, 50, &rows, &distinct);
	cr_assert_eq(rows, 0, "%lld events of a segment owned by uid 65534 were stored", rows);
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(secret), "the symlink's target was truncated");
	cr_assert_eq(lstat(link, &st), 0, "the symlink was removed");
	cr_assert_eq(stat(forged, &st), 0, "the forged segment was removed");
	cr_assert_eq(st.st_size, forged_st.st_size, "the forged segment was changed");
	cr_assert(log_has("is not owned by vigild's user: not loaded"), "log %s", R.h.log);
	cr_assert(log_has("is not a regular file: not loaded"), "log %s", R.h.log);

	/* A spool directory its group or others can write to: refused, non-zero exit. */
	cr_assert_eq(chmod(R.spool, 0777), 0);
	{
		const char *args[] = { "--spool", R.spool, NULL };

		vigild_refused(args, "lets its group or others write to it: refusing it");
	}
}

/*
 * The other paths vigild writes to as root: --record through a symlink
 * (its target left intact), a control socket in a directory anyone can
 * write to, a --dump-batches directory anyone can write to. Each refused.
 */
Test(delivery, paths_others_could_place_are_refused)
{
	static const char secret[] = "root's file\n";
	char victim[200], link[200], open_dir[200], sock[260];
	struct stat st;
	int fd;

	rig_setup("unix");
	snprintf(victim, sizeof(victim), "%s/victim", R.h.dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, secret, sizeof(secret)), (ssize_t)sizeof(secret));
	close(fd);
	snprintf(link, sizeof(link), "%s/capture", R.h.dir);
	cr_assert_eq(symlink(victim, link), 0);
	{
		const char *args[] = { "--record", link, NULL };

		vigild_refused(args, "is a symbolic link: refusing to write through it");
	}
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(secret), "--record truncated the symlink's target");

	snprintf(open_dir, sizeof(open_dir), "%s/open", R.h.dir);
	cr_assert_eq(mkdir(open_dir, 0700), 0);
	cr_assert_eq(chmod(open_dir, 0777), 0);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", open_dir);
	{
		const char *args[] = { "--control", sock, NULL };

		vigild_refused(args, "lets others replace what is in it: refusing it");
	}
	{
		const char *args[] = { "--dump-batches", open_dir, NULL };

		vigild_refused(args, "lets its group or others write to it: refusing it");
	}
}

/* A real vigild with another key for its device: the host stores nothing from it. */
Test(delivery, tcp_wrong_key_stores_nothing)
{
	rig_setup("tcp");
	write_key(R.key, 0x22);
	host_start();
	vigild_start(0, NULL);
	execs(0, 20);
	for (int t = 0; t < 300 && !log_has("the host did not prove the key"); t++)
		usleep(100000);
	cr_assert(log_has("the host did not prove the key"), "log %s", R.h.log);
	cr_assert_eq(db_int("SELECT count(*) FROM DeviceInfo WHERE DeviceId = '%s'", R.devid), 0);
	cr_assert_eq(
		db_int("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = '%s'", R.devid),
		0);
}

static int tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)R.port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	for (int t = 0; t < 300; t++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	cr_assert_fail("cannot connect to %s", R.addr);
	return -1;
}

/*
 * 64 connections that never say anything held every slot of the host: the
 * real sensor, connecting after them, must still get its events stored. And
 * a peer without the key that names the sensor's device is refused, counted.
 */
Test(delivery, idle_connections_do_not_stop_the_sensor)
{
	int idle[64], spoof;
	uint8_t *f;
	size_t flen;

	rig_setup("tcp");
	host_start();
	for (int i = 0; i < 64; i++)
		idle[i] = tcp_connect();
	spoof = tcp_connect();
	cr_assert_eq(vg_wire_frame(VG_FRAME_HELLO, 0, 0, NULL, 0, &f, &flen), 0);
	cr_assert_eq(write(spoof, f, flen), (ssize_t)flen);
	free(f);
	vigild_start(0, NULL);
	execs(0, 50);
	wait_marked(0, 50);
	assert_exactly_once(0, 50);
	cr_assert_geq(vg_t_wait_int(&R.h, 1, 10000,
				    "SELECT count(*) FROM HostRefused WHERE DeviceId = ''"
				    " AND Reason LIKE 'not authenticated%%'"),
		      1, "log %s", R.h.log);
	cr_assert_eq(db_int("SELECT count(*) FROM DeviceInfo WHERE DeviceId != '%s'", R.devid), 0);
	for (int i = 0; i < 64; i++)
		close(idle[i]);
	close(spoof);
	vigild_stop();
	host_kill(SIGTERM);
}

/* Wait (10 s at most) for the host to exit by itself; its wait status, or -1. */
static int host_exited(void)
{
	int st;

	for (int t = 0; t < 200; t++) {
		if (waitpid(R.h.pid, &st, WNOHANG) == R.h.pid) {
			R.h.pid = 0;
			return st;
		}
		usleep(50000);
	}
	return -1;
}

/*
 * Issue 15, finding 5: the database file deleted under a running host. It
 * used to go on acknowledging into the unlinked file. Now it acknowledges
 * nothing more and exits 1, naming the file; a host restarted on a fresh
 * database gets every event emitted after the deletion, from vigild's queue.
 */
Test(delivery, database_deleted_under_the_host)
{
	char gone[240];
	int st;

	rig_setup("unix");
	host_start();
	vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&R.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", R.h.log);
	execs(0, 100);
	wait_marked(0, 100);
	cr_assert_eq(unlink(R.h.db), 0);
	execs(100, 100);
	st = host_exited();
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		  "the host went on after its database was deleted (status %d, log %s)", st,
		  R.h.log);
	snprintf(gone, sizeof(gone), "store: %s deleted while the host had it open", R.h.db);
	cr_assert(log_has(gone), "log %s", R.h.log);
	host_start();
	execs(200, 50);
	wait_marked(100, 150);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	assert_exactly_once(100, 150);
}

/*
 * The database on a full filesystem: commits fail, nothing is acknowledged
 * (the error names the file), vigild keeps resending, and once there is
 * room again every event is stored once and nothing is counted lost.
 */
Test(delivery, database_on_a_full_filesystem)
{
	char full[200], filler[220], why[260];

	rig_setup("unix");
	/* Room for the WAL to reach its checkpoint (1000 pages) once the filler is gone. */
	tmpfs_mount(full, sizeof(full), "size=16m");
	snprintf(R.h.db, sizeof(R.h.db), "%s/t.db", full);
	host_start();
	vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&R.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", R.h.log);
	execs(0, 20);
	wait_marked(0, 20);
	fill_up(full, filler, sizeof(filler));
	execs(20, 200);
	snprintf(why, sizeof(why), "store %s: commit: database or disk is full", R.h.db);
	for (int t = 0; t < 200 && !log_has(why); t++)
		usleep(50000);
	cr_assert(log_has(why), "no commit failed on a full filesystem (log %s)", R.h.log);
	cr_assert_eq(unlink(filler), 0);
	wait_marked(0, 220);
	wait_settled();
	vigild_stop();
	host_kill(SIGTERM);
	assert_exactly_once(0, 220);
	cr_assert_eq(assert_counted(), 0);
}
