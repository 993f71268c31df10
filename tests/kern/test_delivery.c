// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delivery under faults, with the real vigild and `vigil host --listen`
 * (delivery_rig.h): the host killed and restarted mid-stream or while
 * storing a backlog, vigild SIGKILLed and restarted on its spool, the host
 * away for a while, the spool cap reached, the spool on a full tmpfs, a
 * wrong key, idle connections, the database deleted or full (test_spool.c
 * has the spool's own tests). Each ends with every event stored exactly
 * once, or with the loss counted exactly (stored events + EventsLost =
 * emitted).
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

/* Every delivery test, here and in test_spool.c, ends by stopping what its rig started. */
TestSuite(delivery, .fini = dlv_rig_teardown, .timeout = 120);

Test(delivery, host_killed_and_restarted_mid_stream)
{
	dlv_rig_setup("tcp");
	dlv_host_start();
	dlv_vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&dlv.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", dlv.h.log);
	dlv_execs(0, 150);
	dlv_host_kill(SIGKILL); /* mid-stream: batches in flight, unacknowledged */
	dlv_execs(150, 150);
	usleep(300000);
	dlv_host_start();
	dlv_execs(300, 150);
	dlv_wait_marked(0, 450);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(0, 450);
	cr_assert_eq(dlv_assert_counted(), 0);
	cr_assert(dlv_log_has("reconnecting"), "no reconnect logged (log %s)", dlv.h.log);
}

/*
 * Group commit (host/conn.h) under a backlog: the host stopped while vigild
 * sends small batches, so they pile up in its socket and it reads many at
 * once when it goes on, then killed while storing them. What it had not
 * committed was not acknowledged: after a restart every event is stored
 * exactly once.
 */
Test(delivery, host_killed_while_storing_a_backlog)
{
	static const char *const small[] = { "--batch", "4", NULL };

	dlv_rig_setup("unix");
	dlv_host_start();
	dlv_vigild_start(1, small);
	cr_assert_geq(vg_t_wait_int(&dlv.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", dlv.h.log);
	kill(dlv.h.pid, SIGSTOP);
	dlv_execs(0, 300);
	usleep(300000); /* vigild's last batches reach the socket */
	kill(dlv.h.pid, SIGCONT);
	usleep(5000);
	dlv_host_kill(SIGKILL);
	dlv_host_start();
	dlv_execs(300, 50);
	dlv_wait_marked(0, 350);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(0, 350);
	cr_assert_eq(dlv_assert_counted(), 0);
}

Test(delivery, vigild_sigkilled_and_restarted_on_its_spool)
{
	long long streams;

	dlv_rig_setup("unix");
	dlv_vigild_start(1, NULL); /* no host yet: everything goes to the spool */
	dlv_execs(0, 100);
	usleep(500000); /* flushed (50 ms) into the spool */
	dlv_execs(100, 30);
	kill(dlv.vigild, SIGKILL); /* mid-batch */
	waitpid(dlv.vigild, NULL, 0);
	dlv.vigild = 0;
	dlv_host_start();
	dlv_vigild_start(1, NULL);
	dlv_execs(200, 100);
	dlv_wait_marked(0, 100);
	dlv_wait_marked(200, 100);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	/* Spooled before the kill: exactly once, under the first run's stream. */
	dlv_assert_exactly_once(0, 100);
	/* The new run's own events: exactly once. */
	dlv_assert_exactly_once(200, 100);
	/* The batch being built at SIGKILL may be gone, but nothing twice. */
	{
		long long rows, distinct;

		dlv_marked(100, 30, &rows, &distinct);
		cr_assert_eq(rows, distinct, "duplicates after the restart");
	}
	streams = dlv_db_int(
		"SELECT count(DISTINCT StreamId) FROM ReceivedFrames WHERE DeviceId = '%s'",
		dlv.devid);
	cr_assert_eq(streams, 2, "%lld streams: the spooled frames kept their run's stream",
		     streams);
	cr_assert(dlv_log_has("unacknowledged frames from an earlier run"), "log %s", dlv.h.log);
}

Test(delivery, host_away_for_a_while)
{
	dlv_rig_setup("unix");
	dlv_vigild_start(0, NULL); /* memory queue only */
	dlv_execs(0, 200);
	sleep(2);
	dlv_execs(200, 100);
	dlv_host_start();
	dlv_execs(300, 100);
	dlv_wait_marked(0, 400);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(0, 400);
	cr_assert_eq(dlv_assert_counted(), 0);
	cr_assert_eq(dlv_db_int("SELECT sum(RingbufFull) FROM SensorCounters WHERE DeviceId = '%s'",
				dlv.devid),
		     0, "backpressure reached the kernel");
}

Test(delivery, spool_cap_reached_loss_is_counted)
{
	const char *extra[] = {
		"--spool-max-mb", "1", "--queue-mem-kb", "64", "--batch", "1", NULL
	};
	long long lost;

	dlv_rig_setup("unix");
	dlv_vigild_start(1, extra);
	dlv_execs(0, 2500);
	usleep(300000);
	dlv_host_start();
	/* The spool replays its backlog before the execs that must all arrive. */
	dlv_wait_settled();
	dlv_execs(2500, 50);
	/* A replay can pause for a reconnect: wait for the new execs, not just for a lull. */
	dlv_wait_marked(2500, 50);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	lost = dlv_assert_counted();
	cr_assert_gt(lost, 0, "a 1 MiB spool held everything: the cap was not reached");
	dlv_assert_exactly_once(2500, 50);
	cr_assert(dlv_log_has("over its cap"), "log %s", dlv.h.log);
}

Test(delivery, spool_on_a_full_tmpfs_loss_is_counted)
{
	const char *extra[] = { "--queue-mem-kb", "64", "--batch", "1", NULL };
	char full[200], filler[220];
	long long lost;

	dlv_rig_setup("unix");
	dlv_tmpfs_mount(full, sizeof(full), "size=128k");
	snprintf(dlv.spool, sizeof(dlv.spool), "%s/spool", full);
	cr_assert_eq(mkdir(dlv.spool, 0700), 0);
	dlv_fill_up(full, filler, sizeof(filler));
	dlv_vigild_start(1, extra);
	dlv_execs(0, 1500);
	usleep(300000);
	dlv_host_start();
	/* The backlog drains (what 64 KiB held) before the execs that must all arrive. */
	dlv_wait_settled();
	dlv_execs(1500, 50);
	dlv_wait_marked(1500, 50);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	lost = dlv_assert_counted();
	cr_assert_gt(lost, 0, "64 KiB of memory held everything: nothing was forced out");
	dlv_assert_exactly_once(1500, 50);
	cr_assert(dlv_log_has("spool: cannot write"), "log %s", dlv.h.log);
}

/* A real vigild with another key for its device: the host stores nothing from it. */
Test(delivery, tcp_wrong_key_stores_nothing)
{
	dlv_rig_setup("tcp");
	dlv_write_key(dlv.key, 0x22);
	dlv_host_start();
	dlv_vigild_start(0, NULL);
	dlv_execs(0, 20);
	for (int t = 0; t < 300 && !dlv_log_has("the host did not prove the key"); t++)
		usleep(100000);
	cr_assert(dlv_log_has("the host did not prove the key"), "log %s", dlv.h.log);
	cr_assert_eq(dlv_db_int("SELECT count(*) FROM DeviceInfo WHERE DeviceId = '%s'", dlv.devid),
		     0);
	cr_assert_eq(dlv_db_int("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = '%s'",
				dlv.devid),
		     0);
}

static int tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)dlv.port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	for (int t = 0; t < 300; t++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	cr_assert_fail("cannot connect to %s", dlv.addr);
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

	dlv_rig_setup("tcp");
	dlv_host_start();
	for (int i = 0; i < 64; i++)
		idle[i] = tcp_connect();
	spoof = tcp_connect();
	cr_assert_eq(vg_wire_frame(VG_FRAME_HELLO, 0, 0, NULL, 0, &f, &flen), 0);
	cr_assert_eq(write(spoof, f, flen), (ssize_t)flen);
	free(f);
	dlv_vigild_start(0, NULL);
	dlv_execs(0, 50);
	dlv_wait_marked(0, 50);
	dlv_assert_exactly_once(0, 50);
	cr_assert_geq(vg_t_wait_int(&dlv.h, 1, 10000,
				    "SELECT count(*) FROM HostRefused WHERE DeviceId = ''"
				    " AND Reason LIKE 'not authenticated%%'"),
		      1, "log %s", dlv.h.log);
	cr_assert_eq(
		dlv_db_int("SELECT count(*) FROM DeviceInfo WHERE DeviceId != '%s'", dlv.devid), 0);
	for (int i = 0; i < 64; i++)
		close(idle[i]);
	close(spoof);
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
}

/* Wait (10 s at most) for the host to exit by itself; its wait status, or -1. */
static int host_exited(void)
{
	int st;

	for (int t = 0; t < 200; t++) {
		if (waitpid(dlv.h.pid, &st, WNOHANG) == dlv.h.pid) {
			dlv.h.pid = 0;
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

	dlv_rig_setup("unix");
	dlv_host_start();
	dlv_vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&dlv.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", dlv.h.log);
	dlv_execs(0, 100);
	dlv_wait_marked(0, 100);
	cr_assert_eq(unlink(dlv.h.db), 0);
	dlv_execs(100, 100);
	st = host_exited();
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
		  "the host went on after its database was deleted (status %d, log %s)", st,
		  dlv.h.log);
	snprintf(gone, sizeof(gone), "store: %s deleted while the host had it open", dlv.h.db);
	cr_assert(dlv_log_has(gone), "log %s", dlv.h.log);
	dlv_host_start();
	dlv_execs(200, 50);
	dlv_wait_marked(100, 150);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(100, 150);
}

/*
 * The database on a full filesystem: commits fail, nothing is acknowledged
 * (the error names the file), vigild keeps resending, and once there is
 * room again every event is stored once and nothing is counted lost.
 */
Test(delivery, database_on_a_full_filesystem)
{
	char full[200], filler[220], why[260];

	dlv_rig_setup("unix");
	/* Room for the WAL to reach its checkpoint (1000 pages) once the filler is gone. */
	dlv_tmpfs_mount(full, sizeof(full), "size=16m");
	snprintf(dlv.h.db, sizeof(dlv.h.db), "%s/t.db", full);
	dlv_host_start();
	dlv_vigild_start(1, NULL);
	cr_assert_geq(vg_t_wait_int(&dlv.h, 1, 10000, "SELECT count(*) FROM DeviceInfo"), 1,
		      "no device report (log %s)", dlv.h.log);
	dlv_execs(0, 20);
	dlv_wait_marked(0, 20);
	dlv_fill_up(full, filler, sizeof(filler));
	dlv_execs(20, 200);
	snprintf(why, sizeof(why), "store %s: commit: database or disk is full", dlv.h.db);
	for (int t = 0; t < 200 && !dlv_log_has(why); t++)
		usleep(50000);
	cr_assert(dlv_log_has(why), "no commit failed on a full filesystem (log %s)", dlv.h.log);
	cr_assert_eq(unlink(filler), 0);
	dlv_wait_marked(0, 220);
	dlv_wait_settled();
	dlv_vigild_stop();
	dlv_host_kill(SIGTERM);
	dlv_assert_exactly_once(0, 220);
	cr_assert_eq(dlv_assert_counted(), 0);
}
