// SPDX-License-Identifier: GPL-2.0-only
/*
 * The spool under crashes and attack, with the real vigild and host
 * (delivery_rig.h): vigild SIGKILLed again and again at arbitrary points,
 * each round's stored + counted lost = what the spool held unacknowledged;
 * a spool another user filled; every path vigild opens as root.
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

#include "delivery_rig.h"
#include "frame.h"
#include "wire.h"

/*
 * Crash consistency of the spool (issue 15, finding 1). A spool record as
 * daemon/spool.h documents it, read here independently of the loader: 40-byte
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
 * Every segment of dlv.spool. A SIGKILL cuts at most the last record of a
 * segment: anything else out of place fails the test. The record cut short
 * counts as the loader's contract says: its header's event count when the
 * header got that far (28 bytes), else one event; an ack cut short, none.
 */
static void spool_view(struct spool_view *v)
{
	static uint8_t buf[32 << 20];
	DIR *d = opendir(dlv.spool);
	struct dirent *de;

	memset(v, 0, sizeof(*v));
	cr_assert_not_null(d, "open %s", dlv.spool);
	while ((de = readdir(d))) {
		char path[400];
		size_t size, off = 0;
		FILE *f;

		if (strncmp(de->d_name, "seg-", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dlv.spool, de->d_name);
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
			      col, dlv.devid, (long long)f->stream, (long long)f->seq);
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
	DIR *d = opendir(dlv.spool);
	long long stored;
	FILE *f;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "seg-", 4) && strcmp(de->d_name, newest) > 0)
			snprintf(newest, sizeof(newest), "%s", de->d_name);
	closedir(d);
	if (!newest[0])
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dlv.spool, newest);
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
		sqlite3 *db = vg_t_db_open(&dlv.h);

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

	dlv_rig_setup("unix");
	dlv_host_start();
	dlv_vigild_start(1, extra);
	for (int r = 0; r < rounds; r++) {
		int away = r % 3 == 1; /* host killed: the backlog is in the spool only */
		long long emitted = 0, stored = 0, lost = -1, last_rowid = 0;
		char known[4096] = "0";
		sqlite3 *db;
		pid_t work;
		int ok = 0;

		if (away)
			dlv_host_kill(SIGKILL);
		work = fork();
		cr_assert_geq(work, 0);
		if (work == 0) {
			char arg[96];

			for (int i = 0; i < 400; i++) {
				pid_t p = fork();

				snprintf(arg, sizeof(arg), "%s-%d-%d", dlv.marker, r, i);
				if (p == 0) {
					execl("/bin/true", "/bin/true", arg, (char *)NULL);
					_exit(127);
				}
				waitpid(p, NULL, 0);
			}
			_exit(0);
		}
		usleep(20000 + (useconds_t)(r * 7919 % 23) * 13000); /* 20-306 ms in */
		kill(dlv.vigild, SIGKILL);
		waitpid(dlv.vigild, NULL, 0);
		dlv.vigild = 0;
		waitpid(work, NULL, 0);
		if (away) {
			dlv_host_start();
			/* As if the kill had come in the middle of the last write. */
			cut += tear_last_frame((size_t)r * 7919);
		}

		spool_view(&v);
		torn += v.torn;
		/* The streams stored so far: the restarted run's is none of them. */
		db = vg_t_db_open(&dlv.h);
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

		dlv_vigild_start(1, extra);
		/* Wait for the resent frames, then for a frame of the new run after them. */
		for (int t = 0; t < 300 && !ok; t++) {
			long long newer;

			db = vg_t_db_open(&dlv.h);
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
			  dlv.h.log);

		db = vg_t_db_open(&dlv.h);
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
				      dlv.devid, known);
		sqlite3_close(db);
		cr_assert_eq(stored + lost, emitted,
			     "round %d (host %s): stored %lld + lost %lld != %lld events the "
			     "spool held unacknowledged (log %s)",
			     r, away ? "away" : "reading", stored, lost, emitted, dlv.h.log);
		lost_all += lost;
		frames_all += v.n;
	}
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	{
		long long dup =
			dlv_db_int("SELECT count(*) - count(DISTINCT ProcessCommandLine) FROM "
				   "DeviceProcessEvents WHERE ActionType = 'ProcessCreated' AND "
				   "ProcessCommandLine LIKE '/bin/true %s-%%'",
				   dlv.marker);

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

	argv[n++] = (char *)dlv_bin("VIGILD", "build/vigild");
	argv[n++] = "--transport";
	argv[n++] = dlv.addr;
	argv[n++] = "--sources";
	argv[n++] = "exec";
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	pid = dlv_run(argv, dlv.h.log);
	for (int t = 0; t < 400 && waitpid(pid, &status, WNOHANG) == 0; t++)
		usleep(50000);
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		  "vigild %s %s ran (status %d, log %s)", args[0], args[1], status, dlv.h.log);
	cr_assert(dlv_log_has(want), "no \"%s\" in the log %s", want, dlv.h.log);
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

	dlv_rig_setup("unix");
	dlv_vigild_start(1, NULL); /* no host: the frames stay in the spool */
	dlv_execs(0, 50);
	usleep(500000);
	kill(dlv.vigild, SIGKILL);
	waitpid(dlv.vigild, NULL, 0);
	dlv.vigild = 0;
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000000.vgs", dlv.spool);
	snprintf(forged, sizeof(forged), "%s/seg-0000000000000007.vgs", dlv.spool);
	cr_assert_eq(rename(seg, forged), 0, "%s: %s", seg, strerror(errno));
	cr_assert_eq(chown(forged, 65534, 65534), 0);
	cr_assert_eq(stat(forged, &forged_st), 0);
	cr_assert_gt(forged_st.st_size, 0);
	snprintf(victim, sizeof(victim), "%s/victim", dlv.h.dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, secret, sizeof(secret)), (ssize_t)sizeof(secret));
	close(fd);
	snprintf(link, sizeof(link), "%s/seg-0000000000000003.vgs", dlv.spool);
	cr_assert_eq(symlink(victim, link), 0);

	dlv_host_start();
	dlv_vigild_start(1, NULL);
	dlv_execs(100, 20);
	dlv_wait_marked(100, 20);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(100, 20);
	dlv_marked(0, 50, &rows, &distinct);
	cr_assert_eq(rows, 0, "%lld events of a segment owned by uid 65534 were stored", rows);
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(secret), "the symlink's target was truncated");
	cr_assert_eq(lstat(link, &st), 0, "the symlink was removed");
	cr_assert_eq(stat(forged, &st), 0, "the forged segment was removed");
	cr_assert_eq(st.st_size, forged_st.st_size, "the forged segment was changed");
	cr_assert(dlv_log_has("is not owned by vigild's user: not loaded"), "log %s", dlv.h.log);
	cr_assert(dlv_log_has("is not a regular file: not loaded"), "log %s", dlv.h.log);

	/* A spool directory its group or others can write to: refused, non-zero exit. */
	cr_assert_eq(chmod(dlv.spool, 0777), 0);
	{
		const char *args[] = { "--spool", dlv.spool, NULL };

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

	dlv_rig_setup("unix");
	snprintf(victim, sizeof(victim), "%s/victim", dlv.h.dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, secret, sizeof(secret)), (ssize_t)sizeof(secret));
	close(fd);
	snprintf(link, sizeof(link), "%s/capture", dlv.h.dir);
	cr_assert_eq(symlink(victim, link), 0);
	{
		const char *args[] = { "--record", link, NULL };

		vigild_refused(args, "is a symbolic link: refusing to write through it");
	}
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(secret), "--record truncated the symlink's target");

	snprintf(open_dir, sizeof(open_dir), "%s/open", dlv.h.dir);
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
