// SPDX-License-Identifier: GPL-2.0-only
/*
 * In-kernel dedup, rate limiting and ring overload: what the kernel holds
 * back is counted exactly and reaches the host, and the critical classes
 * get through.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[PATH_MAX];

static void mkdir_tmp(void)
{
	vg_t_tmpdir(dir, sizeof(dir), "vg-limit");
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	vg_t_rmrf(dir);
}

/* Create n distinct files under dir/prefix*, pause_us apart (0: as fast as possible). */
static void create_files(const char *prefix, int n, unsigned pause_us)
{
	char p[PATH_MAX];

	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/%s%d", dir, prefix, i);
		fd = open(p, O_CREAT | O_WRONLY | O_EXCL, 0600);
		if (fd < 0)
			_exit(3);
		close(fd);
		if (pause_us)
			usleep(pause_us);
	}
}

static long long identity_broken(sqlite3 *db)
{
	return vg_t_query_int(db, "SELECT count(*) FROM SensorCounters WHERE Seen != Emitted + "
				  "Filtered + Deduplicated + RateLimited + RingbufFull");
}

Test(limit, same_file_100k_opens_add_up, .fini = teardown, .timeout = 120)
{
	enum { N = 100000 };
	char path[PATH_MAX];
	long long rows, carried, summarized;
	sqlite3 *db;

	vg_t_host_start(&host, NULL);
	mkdir_tmp();
	snprintf(path, sizeof(path), "%s/hot", dir);
	for (int i = 0; i < N; i++) {
		int fd = open(path, O_WRONLY | O_CREAT, 0600);

		cr_assert_geq(fd, 0);
		close(fd);
	}
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	/* The first open created the file; the other N - 1 modified it. */
	cr_assert_eq(
		vg_t_query_int(db,
			       "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = '%q' AND "
			       "ActionType = 'FileCreated'",
			       path),
		1);
	rows = vg_t_query_int(db,
			      "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = '%q' AND "
			      "ActionType = 'FileModified' AND InitiatingProcessId = %d",
			      path, getpid());
	carried = vg_t_query_int(
		db,
		"SELECT coalesce(sum(json_extract(AdditionalFields, '$.Suppressed')), "
		"0) FROM DeviceFileEvents WHERE FolderPath = '%q' AND InitiatingProcessId "
		"= %d",
		path, getpid());
	summarized = vg_t_query_int(db,
				    "SELECT coalesce(sum(Count), 0) FROM SuppressedEvents WHERE "
				    "FolderPath = '%q' AND Reason = 'Deduplicated' AND "
				    "InitiatingProcessId = %d",
				    path, getpid());
	cr_log_info("100k opens: %lld events, %lld carried, %lld in summaries", rows, carried,
		    summarized);
	cr_assert_leq(rows, 20, "%lld events for one hot file: dedup did not work", rows);
	cr_assert_eq(rows + carried + summarized, N - 1,
		     "%lld events + %lld carried + %lld summarized != %d opens", rows, carried,
		     summarized, N - 1);
	cr_assert_geq(vg_t_query_int(db, "SELECT Deduplicated FROM SensorCounters WHERE "
					 "EventClass = 'file'"),
		      carried + summarized);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

Test(limit, flood_is_limited_others_get_through, .fini = teardown, .timeout = 120)
{
	static const char *const args[] = { "--rate-limit", "file:500:500", NULL };
	enum { FLOOD = 20000, CALM = 50, EXECS = 100 };
	char cond[PATH_MAX + 64];
	long long flood_rows, flood_limited;
	pid_t flooder, calm;
	sqlite3 *db;

	vg_t_host_start(&host, args);
	mkdir_tmp();
	flooder = fork();
	if (flooder == 0) {
		create_files("flood", FLOOD, 0);
		_exit(0);
	}
	calm = fork();
	if (calm == 0) {
		create_files("calm", CALM, 5000); /* 200 per second: under the limit */
		_exit(0);
	}
	vg_t_execs("vg-limit-exec", EXECS);
	cr_assert_eq(waitpid(flooder, NULL, 0), flooder);
	cr_assert_eq(waitpid(calm, NULL, 0), calm);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	db = vg_t_db_open(&host);
	snprintf(cond, sizeof(cond), "FolderPath LIKE '%s/calm%%'", dir);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceFileEvents WHERE %s AND "
				    "InitiatingProcessId = %d",
				    cond, calm),
		     CALM, "the calm process lost file events to another's flood");
	cr_assert_eq(vg_t_query_int(
			     db,
			     "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = "
			     "'ProcessCreated' AND ProcessCommandLine = '/bin/true vg-limit-exec' "
			     "AND ProcessParentId = %d",
			     getpid()),
		     EXECS, "exec events were limited");
	flood_rows =
		vg_t_query_int(db,
			       "SELECT count(*) FROM DeviceFileEvents WHERE InitiatingProcessId "
			       "= %d AND ActionType = 'FileCreated'",
			       flooder);
	flood_limited = vg_t_query_int(db,
				       "SELECT coalesce(sum(Count), 0) FROM SuppressedEvents WHERE "
				       "Reason = 'RateLimited' AND EventClass = 'file' AND "
				       "InitiatingProcessId = %d",
				       flooder);
	cr_log_info("flood: %lld of %d stored, %lld rate-limited", flood_rows, FLOOD,
		    flood_limited);
	cr_assert_lt(flood_rows, FLOOD, "the flood was not limited");
	cr_assert_eq(flood_rows + flood_limited, FLOOD, "limited events not counted exactly");
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/* A tiny file ring and a fast producer: file drops are counted, no exec is lost. */
Test(limit, ring_overload_spares_critical_classes, .fini = teardown, .timeout = 120)
{
	static const char *const args[] = { "--file-ringbuf-kb",
					    "4",
					    "--rate-limit",
					    "file:0",
					    "--rate-limit-global",
					    "file:0",
					    "--flush-ms",
					    "1000",
					    NULL };
	enum { FLOOD = 30000, EXECS = 200 };
	long long dropped, stored, emitted;
	pid_t flooder;
	sqlite3 *db;

	vg_t_host_start(&host, args);
	mkdir_tmp();
	flooder = fork();
	if (flooder == 0) {
		create_files("o", FLOOD, 0);
		_exit(0);
	}
	vg_t_execs("vg-overload-exec", EXECS);
	cr_assert_eq(waitpid(flooder, NULL, 0), flooder);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	db = vg_t_db_open(&host);
	dropped = vg_t_query_int(db, "SELECT RingbufFull FROM SensorCounters WHERE EventClass = "
				     "'file'");
	emitted = vg_t_query_int(db, "SELECT Emitted FROM SensorCounters WHERE EventClass = "
				     "'file'");
	stored = vg_t_query_int(db, "SELECT count(*) FROM DeviceFileEvents");
	cr_log_info("overload: %lld file events dropped at a full ring, %lld stored", dropped,
		    stored);
	cr_assert_gt(dropped, 0, "a 4 KiB ring absorbed %d creates: no overload", FLOOD);
	cr_assert_eq(stored, emitted, "emitted file events did not all reach the store");
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = "
				    "'ProcessCreated' AND ProcessCommandLine = '/bin/true "
				    "vg-overload-exec'"),
		     EXECS, "exec events lost to the file flood");
	cr_assert_eq(vg_t_query_int(db, "SELECT sum(RingbufFull) FROM SensorCounters WHERE "
					"EventClass IN ('exec', 'fork', 'exit')"),
		     0);
	cr_assert_eq(identity_broken(db), 0);
	cr_assert_gt(vg_t_query_int(db, "SELECT PeakFillBytes FROM SensorRings WHERE Ring = "
					"'file'"),
		     0, "ring fill not reported");
	sqlite3_close(db);
}

/*
 * A child that creates n files under dir/prefix* and opens each twice more
 * at once: created, modified, and one duplicate held back per file, so the
 * dedup table holds n entries with a count each (more than the sweep reads
 * in one chunk). It stays until *release is written to, or exits when
 * release is NULL. Its pid once it is done opening.
 */
static pid_t hold_back(const char *prefix, int n, int *release)
{
	int done[2], hold[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(done), 0);
	cr_assert_eq(pipe(hold), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char p[PATH_MAX];

		close(done[0]);
		close(hold[1]);
		for (int i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/%s%d", dir, prefix, i);
			for (int r = 0; r < 3; r++) {
				int fd = open(p, O_CREAT | O_WRONLY, 0600);

				if (fd < 0)
					_exit(3);
				close(fd);
			}
		}
		if (write(done[1], "d", 1) != 1)
			_exit(4);
		if (release && read(hold[0], &c, 1) < 0)
			_exit(5);
		_exit(0);
	}
	close(done[1]);
	close(hold[0]);
	cr_assert_eq(read(done[0], &c, 1), 1, "the child failed to open its files");
	close(done[0]);
	if (release)
		*release = hold[1];
	else
		close(hold[1]);
	return pid;
}

#define HELD_SQL                                                                                  \
	"SELECT coalesce(sum(Count), 0) FROM SuppressedEvents WHERE Reason = 'Deduplicated' AND " \
	"InitiatingProcessId = %d"

/*
 * A running process's duplicates are reported once idle for the dedup
 * window, while vigild runs (its flush timer walks the tables only when
 * something can be due), each exactly once: not again at shutdown.
 */
Test(limit, held_back_reported_while_running, .fini = teardown, .timeout = 120)
{
	static const char *const args[] = {
		"--dedup-ms", "1000", "--rate-limit", "file:0", "--rate-limit-global",
		"file:0",     NULL
	};
	enum { N = 1500 };
	int release, status;
	pid_t child;
	sqlite3 *db;

	vg_t_host_start(&host, args);
	mkdir_tmp();
	child = hold_back("live", N, &release);
	cr_assert_eq(vg_t_wait_int(&host, N, 60000, HELD_SQL, child), N,
		     "the duplicates of a running process were not all reported (log: %s)",
		     host.log);
	close(release);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert_eq(status, 0);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db, HELD_SQL, child), N, "reported again at shutdown");
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/*
 * A process that exits has its duplicates reported while vigild runs, long
 * before its 10-minute window: its exit makes the next flush tick walk the
 * tables, and its entries are reported and deleted mid-walk.
 */
Test(limit, gone_process_reported_while_running, .fini = teardown, .timeout = 120)
{
	static const char *const args[] = { "--dedup-ms",
					    "600000",
					    "--rate-limit",
					    "file:0",
					    "--rate-limit",
					    "network:0",
					    "--rate-limit-global",
					    "file:0",
					    NULL };
	enum { N = 1500 };
	int status;
	pid_t child;
	sqlite3 *db;

	vg_t_host_start(&host, args);
	mkdir_tmp();
	child = hold_back("gone", N, NULL);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert_eq(status, 0);
	cr_assert_eq(vg_t_wait_int(&host, N, 60000, HELD_SQL, child), N,
		     "the duplicates of an exited process were not all reported (log: %s)",
		     host.log);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db, HELD_SQL, child), N, "reported again at shutdown");
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}
