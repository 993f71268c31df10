// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process events through the whole pipeline: kernel -> vigild -> frames ->
 * vigil host -> SQLite. Each test runs real processes and asserts on the
 * rows they produced.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;

static void stop_host(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
}

static pid_t spawn_in(const char *cwd, char *const argv[])
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (cwd && chdir(cwd))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Every class balances: seen = emitted + filtered + deduplicated + rate-limited + ring-full. */
static void assert_accounting(sqlite3 *db)
{
	cr_assert_eq(vg_t_query_int(db, "SELECT count(*) FROM SensorCounters"), 6,
		     "expected counters for exec, fork, exit, file, network, security");
	cr_assert_eq(
		vg_t_query_int(db, "SELECT count(*) FROM SensorCounters WHERE Seen != "
				   "Emitted + Filtered + Deduplicated + RateLimited + RingbufFull"),
		0, "accounting identity broken");
	cr_assert_eq(vg_t_query_int(db, "SELECT sum(RingbufFull) FROM SensorCounters"), 0,
		     "process events lost to a full ring buffer");
	cr_assert_eq(vg_t_query_int(db, "SELECT max(EventsLost) FROM SensorCounters"), 0);
}

Test(proc, exec_and_exit_reach_sqlite, .fini = stop_host, .timeout = 60)
{
	char marker[64], dir[PATH_MAX], sh[PATH_MAX], cmd[256];
	char *argv[] = { "/bin/sh", "-c", "exit 7", marker, NULL };
	char *s;
	sqlite3 *db;
	pid_t pid;
	int status;

	vg_t_host_start(&host, NULL);
	vg_t_marker(marker, sizeof(marker), "exit7");
	vg_t_tmpdir(dir, sizeof(dir), "vg-cwd");
	cr_assert_not_null(realpath("/bin/sh", sh));

	pid = spawn_in(dir, argv);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7);

	cr_assert_eq(vg_t_wait_int(&host, 1, 5000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				   "AND ActionType = 'ProcessTerminated'",
				   pid),
		     1, "no exit event for pid %d", pid);
	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				    "AND ActionType = 'ProcessCreated'",
				    pid),
		     1, "no exec event for pid %d", pid);

#define EXEC_COL(col)                                                                      \
	vg_t_query_str(db,                                                                 \
		       "SELECT " col " FROM DeviceProcessEvents WHERE ProcessId = %d AND " \
		       "ActionType = 'ProcessCreated'",                                    \
		       pid)
	s = EXEC_COL("FolderPath");
	cr_assert_str_eq(s, sh, "absolute executable path");
	free(s);
	s = EXEC_COL("FileName");
	cr_assert_str_eq(s, strrchr(sh, '/') + 1);
	free(s);
	snprintf(cmd, sizeof(cmd), "/bin/sh -c 'exit 7' %s", marker);
	s = EXEC_COL("ProcessCommandLine");
	cr_assert_str_eq(s, cmd);
	free(s);
	s = EXEC_COL("ProcessCurrentDirectory");
	cr_assert_str_eq(s, dir);
	free(s);
	s = EXEC_COL("AccountName");
	cr_assert_str_eq(s, "root");
	free(s);
	cr_assert_eq(
		vg_t_query_int(db,
			       "SELECT AccountUid FROM DeviceProcessEvents WHERE ProcessId = %d "
			       "AND ActionType = 'ProcessCreated'",
			       pid),
		0);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT ProcessParentId FROM DeviceProcessEvents WHERE "
				    "ProcessId = %d AND ActionType = 'ProcessCreated'",
				    pid),
		     getpid(), "ppid");
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT InitiatingProcessId FROM DeviceProcessEvents WHERE "
				    "ProcessId = %d AND ActionType = 'ProcessCreated'",
				    pid),
		     getpid(), "initiating process");
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT ProcessExitCode FROM DeviceProcessEvents WHERE "
				    "ProcessId = %d AND ActionType = 'ProcessTerminated'",
				    pid),
		     7, "exit code");
	/* The fork that made the child is there too, before its exec. */
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				    "AND ActionType = 'ProcessForked' AND ProcessParentId = %d",
				    pid, getpid()),
		     1, "fork event");
	sqlite3_close(db);
	rmdir(dir);

	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0, "host exit status");
	db = vg_t_db_open(&host);
	assert_accounting(db);
	sqlite3_close(db);
}

Test(proc, two_thousand_processes_none_lost, .fini = stop_host, .timeout = 120)
{
	enum { N = 2000 };
	char marker[64];
	char *argv[] = { "/bin/true", marker, NULL };
	sqlite3 *db;

	vg_t_host_start(&host, NULL);
	vg_t_marker(marker, sizeof(marker), "storm");
	for (int i = 0; i < N; i++) {
		int status;
		pid_t pid = spawn_in(NULL, argv);

		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* SIGTERM: vigild detaches, drains, sends the last batch; the host stores it. */
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0, "host exit status");

	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = "
				    "'ProcessCreated' AND ProcessCommandLine = '/bin/true %s'",
				    marker),
		     N, "exec events");
	cr_assert_eq(
		vg_t_query_int(db,
			       "SELECT count(DISTINCT ProcessId) FROM DeviceProcessEvents WHERE "
			       "ActionType = 'ProcessCreated' AND ProcessCommandLine = "
			       "'/bin/true %s'",
			       marker),
		N, "distinct pids");
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = "
				    "'ProcessTerminated' AND ProcessCommandLine = '/bin/true %s' "
				    "AND ProcessExitCode = 0",
				    marker),
		     N, "exit events");
	assert_accounting(db);
	/* Stored rows equal what the kernel emitted: nothing lost between them. */
	cr_assert_eq(vg_t_query_int(db, "SELECT Emitted FROM SensorCounters WHERE EventClass = "
					"'exec'"),
		     vg_t_query_int(db, "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType "
					"= 'ProcessCreated'"));
	cr_assert_eq(vg_t_query_int(db, "SELECT Emitted FROM SensorCounters WHERE EventClass = "
					"'exit'"),
		     vg_t_query_int(db, "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType "
					"= 'ProcessTerminated'"));
	sqlite3_close(db);
}

Test(proc, raw_tp_fallback_sees_exec, .fini = stop_host, .timeout = 60)
{
	static const char *const args[] = { "--hook", "raw_tp", NULL };
	char marker[64];
	char *argv[] = { "/bin/true", marker, NULL };
	pid_t pid;

	vg_t_host_start(&host, args);
	vg_t_marker(marker, sizeof(marker), "rawtp");
	pid = spawn_in(NULL, argv);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(vg_t_wait_int(&host, 2, 5000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				   "AND ActionType IN ('ProcessCreated', 'ProcessTerminated')",
				   pid),
		     2, "exec and exit through raw_tp programs");
}

/*
 * vigild puts itself and every --ignore-pid (the host passes its own pid) in
 * the kernel's ignore map: an ignored process's exec and exit are counted as
 * filtered, never reported.
 */
Test(proc, ignored_process_is_filtered_in_kernel, .fini = stop_host, .timeout = 60)
{
	char marker[64], pidarg[16];
	char *argv[] = { "/bin/sh", "-c", "read x; exec /bin/true \"$0\"", marker, NULL };
	const char *args[] = { "--ignore-pid", pidarg, NULL };
	int pipefd[2];
	sqlite3 *db;
	pid_t helper, vigild, host_pid;

	vg_t_marker(marker, sizeof(marker), "ignored");
	cr_assert_eq(pipe(pipefd), 0);
	helper = fork();
	cr_assert_geq(helper, 0);
	if (helper == 0) {
		dup2(pipefd[0], STDIN_FILENO);
		close(pipefd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[0]);
	snprintf(pidarg, sizeof(pidarg), "%d", helper);
	vg_t_host_start(&host, args);
	vigild = vg_t_host_child(&host);
	host_pid = host.pid;
	cr_assert_gt(vigild, 0);

	/* Let the helper exec and exit while the sensor watches. */
	cr_assert_eq(write(pipefd[1], "go\n", 3), 3);
	close(pipefd[1]);
	cr_assert_eq(waitpid(helper, NULL, 0), helper);
	cr_assert_eq(vg_t_host_stop(&host, SIGINT), 0);

	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId IN "
				    "(%d, %d, %d) AND ActionType != 'ProcessForked'",
				    helper, vigild, host_pid),
		     0, "an ignored process was reported");
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE "
				    "ProcessCommandLine LIKE '%%%s%%'",
				    marker),
		     0);
	cr_assert_geq(vg_t_query_int(db, "SELECT Filtered FROM SensorCounters WHERE EventClass = "
					 "'exec'"),
		      1, "the ignored exec was not counted as filtered");
	cr_assert_geq(vg_t_query_int(db, "SELECT Filtered FROM SensorCounters WHERE EventClass = "
					 "'exit'"),
		      1, "the ignored exit was not counted as filtered");
	assert_accounting(db);
	sqlite3_close(db);
}

/*
 * A second vigild run numbers its frames from 1 again: its batches must be
 * stored, not taken for resends of the first run's.
 */
Test(proc, restarted_sensor_is_stored, .fini = stop_host, .timeout = 60)
{
	char m1[64], m2[64];
	char *a1[] = { "/bin/true", m1, NULL }, *a2[] = { "/bin/true", m2, NULL };
	sqlite3 *db;
	pid_t pid;

	vg_t_host_start(&host, NULL);
	vg_t_marker(m1, sizeof(m1), "run1");
	pid = spawn_in(NULL, a1);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	vg_t_host_restart(&host, NULL, 2);
	vg_t_marker(m2, sizeof(m2), "run2");
	pid = spawn_in(NULL, a2);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = "
				    "'ProcessCreated' AND ProcessCommandLine IN ('/bin/true %s', "
				    "'/bin/true %s')",
				    m1, m2),
		     2, "an exec of one of the two runs is missing");
	cr_assert_eq(vg_t_query_int(db, "SELECT count(DISTINCT StreamId) FROM ReceivedFrames"), 2);
	sqlite3_close(db);
}
