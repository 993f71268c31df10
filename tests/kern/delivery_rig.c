// SPDX-License-Identifier: GPL-2.0-only
/* The delivery rig (delivery_rig.h). */
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

struct dlv_rig dlv;

const char *dlv_bin(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

pid_t dlv_run(char *const argv[], const char *log)
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

/* A key file (mode 0600) for dlv.devid whose key bytes are seed, seed+1, ... */
void dlv_write_key(const char *path, int seed)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "%s ", dlv.devid);
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (seed + i) & 0xff);
	fputc('\n', f);
	fclose(f);
	cr_assert_eq(chmod(path, 0600), 0);
}

void dlv_rig_setup(const char *transport)
{
	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	memset(&dlv, 0, sizeof(dlv));
	snprintf(dlv.h.dir, sizeof(dlv.h.dir), "%s/vg-dlv-XXXXXX", vg_t_root());
	cr_assert_not_null(mkdtemp(dlv.h.dir));
	snprintf(dlv.h.db, sizeof(dlv.h.db), "%s/t.db", dlv.h.dir);
	snprintf(dlv.h.log, sizeof(dlv.h.log), "%s/log", dlv.h.dir);
	snprintf(dlv.spool, sizeof(dlv.spool), "%s/spool", dlv.h.dir);
	vg_t_marker(dlv.devid, sizeof(dlv.devid), "dev");
	vg_t_marker(dlv.marker, sizeof(dlv.marker), "dlv");
	if (!strcmp(transport, "unix")) {
		snprintf(dlv.addr, sizeof(dlv.addr), "unix:%s/sock", dlv.h.dir);
		return;
	}
	/* tcp: every peer proves the device's key. */
	dlv.port = 20000 + getpid() % 20000;
	snprintf(dlv.addr, sizeof(dlv.addr), "tcp:127.0.0.1:%d", dlv.port);
	snprintf(dlv.keys, sizeof(dlv.keys), "%s/keys", dlv.h.dir);
	snprintf(dlv.key, sizeof(dlv.key), "%s/key", dlv.h.dir);
	dlv_write_key(dlv.keys, 0x11);
	dlv_write_key(dlv.key, 0x11);
}

void dlv_rig_teardown(void)
{
	char cmd[200];

	if (dlv.vigild > 0) {
		kill(dlv.vigild, SIGKILL);
		waitpid(dlv.vigild, NULL, 0);
	}
	if (dlv.h.pid > 0) {
		kill(dlv.h.pid, SIGKILL);
		waitpid(dlv.h.pid, NULL, 0);
	}
	if (dlv.tmpfs) {
		snprintf(cmd, sizeof(cmd), "%s/full", dlv.h.dir);
		umount2(cmd, MNT_DETACH);
	}
	if (dlv.h.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dlv.h.dir);
		system(cmd);
	}
}

void dlv_host_start(void)
{
	char *argv[] = { (char *)dlv_bin("VIGIL", "build/vigil"),
			 "host",
			 "--db",
			 dlv.h.db,
			 "--listen",
			 dlv.addr,
			 dlv.keys[0] ? "--keys" : NULL,
			 dlv.keys,
			 NULL };

	dlv.h.pid = dlv_run(argv, dlv.h.log);
}

void dlv_host_kill(int sig)
{
	kill(dlv.h.pid, sig);
	waitpid(dlv.h.pid, NULL, 0);
	dlv.h.pid = 0;
}

/* vigild on dlv.addr with the spool (unless spool is 0) and extra args. */
void dlv_vigild_start(int spool, const char *const *extra)
{
	char *argv[40];
	int n = 0;

	argv[n++] = (char *)dlv_bin("VIGILD", "build/vigild");
	argv[n++] = "--transport";
	argv[n++] = dlv.addr;
	argv[n++] = "--flush-ms";
	argv[n++] = "50";
	argv[n++] = "--backoff-max-ms";
	argv[n++] = "200";
	argv[n++] = "--device-id";
	argv[n++] = dlv.devid;
	/* Process events only: other work on the machine floods the file source. */
	argv[n++] = "--sources";
	argv[n++] = "exec,fork,exit";
	if (spool) {
		argv[n++] = "--spool";
		argv[n++] = dlv.spool;
	}
	if (dlv.key[0]) {
		argv[n++] = "--key";
		argv[n++] = dlv.key;
	}
	for (int i = 0; extra && extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	dlv.vigild = dlv_run(argv, dlv.h.log);
	dlv.starts++;
	/* Attached once it logs so; without a host there is no DeviceInfo to wait for. */
	for (int t = 0; t < 300; t++) {
		FILE *f = fopen(dlv.h.log, "r");
		char line[512];
		int up = 0;

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "vigild: watching ("))
				up++;
		if (f)
			fclose(f);
		if (up >= dlv.starts)
			return;
		usleep(50000);
	}
	cr_assert_fail("vigild did not start (log %s)", dlv.h.log);
}

/* Wait until the host stops storing frames (the resent backlog is in). */
void dlv_wait_settled(void)
{
	long long last = -2, now;
	int stable = 0;

	for (int t = 0; t < 600 && stable < 8; t++) {
		now = vg_t_wait_int(&dlv.h, 0, 0, "SELECT count(*) FROM ReceivedFrames");
		stable = now == last && now > 0 ? stable + 1 : 0;
		last = now;
		usleep(100000);
	}
}

/* SIGTERM: vigild drains, sends the last batch and waits (3 s) for its ACK. */
void dlv_vigild_stop(void)
{
	int st;

	kill(dlv.vigild, SIGTERM);
	cr_assert_eq(waitpid(dlv.vigild, &st, 0), dlv.vigild);
	dlv.vigild = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vigild exit status %d (log %s)", st,
		  dlv.h.log);
}

/* n fork+execs of /bin/true, each with argv[1] = "<marker>-<i>". */
void dlv_execs(int from, int n)
{
	char arg[96];
	char *argv[] = { "/bin/true", arg, NULL };

	for (int i = from; i < from + n; i++) {
		pid_t pid;

		snprintf(arg, sizeof(arg), "%s-%d", dlv.marker, i);
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
void dlv_marked(int from, int n, long long *rows, long long *distinct)
{
	sqlite3 *db = vg_t_db_open(&dlv.h);
	*rows = 0;
	*distinct = 0;
	for (int i = from; i < from + n; i++) {
		long long c = vg_t_query_int(db,
					     "SELECT count(*) FROM DeviceProcessEvents WHERE "
					     "ActionType = 'ProcessCreated' AND "
					     "ProcessCommandLine = '/bin/true %s-%d'",
					     dlv.marker, i);

		*rows += c;
		*distinct += c > 0;
	}
	sqlite3_close(db);
}

/*
 * Wait (60 s at most) until every exec from..from+n-1 is stored: a spool
 * replay or a reconnect backoff can pause the stream for longer than
 * dlv_wait_settled()'s lull on a busy machine.
 */
void dlv_wait_marked(int from, int n)
{
	long long rows, distinct = 0;

	for (int t = 0; t < 300 && distinct < n; t++) {
		dlv_marked(from, n, &rows, &distinct);
		if (distinct < n)
			usleep(200000);
	}
}

void dlv_assert_exactly_once(int from, int n)
{
	long long rows, distinct;

	dlv_marked(from, n, &rows, &distinct);
	cr_assert_eq(distinct, n, "%lld of %d execs stored (log %s)", distinct, n, dlv.h.log);
	cr_assert_eq(rows, n, "%lld rows for %d execs: duplicates (log %s)", rows, n, dlv.h.log);
}

/*
 * The exact count: every event the kernel emitted for this device is a row
 * or counted in EventsLost. Returns EventsLost.
 */
long long dlv_assert_counted(void)
{
	sqlite3 *db = vg_t_db_open(&dlv.h);
	long long emitted, rows, lost;

	emitted = vg_t_query_int(
		db, "SELECT sum(Emitted) FROM SensorCounters WHERE DeviceId = '%s'", dlv.devid);
	lost = vg_t_query_int(
		db, "SELECT max(EventsLost) FROM SensorCounters WHERE DeviceId = '%s'", dlv.devid);
	rows = vg_t_query_int(
		db,
		"SELECT (SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceFileEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceNetworkEvents WHERE DeviceId = '%s')"
		" + (SELECT count(*) FROM DeviceEvents WHERE DeviceId = '%s'"
		"    AND ActionType != 'FilelessExec'"
		"    AND coalesce(json_extract(AdditionalFields, '$.Via'), '') != 'exec')",
		dlv.devid, dlv.devid, dlv.devid, dlv.devid);
	sqlite3_close(db);
	cr_assert_gt(emitted, 0);
	/*
	 * One exec can also yield a FilelessExec or a PrivilegeChange (a set-id
	 * image) row in DeviceEvents: vigild derives those, the kernel emitted
	 * one event. Without them, rows and losses add up to what was emitted.
	 */
	cr_assert_eq(rows + lost, emitted, "stored %lld + lost %lld != emitted %lld (log %s)", rows,
		     lost, emitted, dlv.h.log);
	return lost;
}

long long dlv_db_int(const char *fmt, const char *arg)
{
	sqlite3 *db = vg_t_db_open(&dlv.h);
	long long v = vg_t_query_int(db, fmt, arg);

	sqlite3_close(db);
	return v;
}

int dlv_log_has(const char *s)
{
	FILE *f = fopen(dlv.h.log, "r");
	char line[1024];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* A tmpfs (mount options opts) at dlv.h.dir/full, its path into full; the teardown unmounts it. */
void dlv_tmpfs_mount(char *full, size_t size, const char *opts)
{
	snprintf(full, size, "%s/full", dlv.h.dir);
	cr_assert_eq(mkdir(full, 0700), 0);
	cr_assert_eq(mount("tmpfs", full, "tmpfs", 0, opts), 0, "mount tmpfs: %s", strerror(errno));
	dlv.tmpfs = 1;
}

/* Fill dir's filesystem with dir/filler (its path into filler) until ENOSPC. */
void dlv_fill_up(const char *dir, char *filler, size_t size)
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
