// SPDX-License-Identifier: GPL-2.0-only
/*
 * `vigil host --upstream URL --onboarding FILE` end to end: the real vigild
 * (BPF, root) spawned by the real host, execs of /bin/true with a marker,
 * and every one of them in the host's SQLite and in the server's PostgreSQL
 * exactly once, across a server stopped for over a minute (stats and
 * healthcheck show what waits), a host SIGKILLed with a backlog, a restart,
 * and a revoked token (kept locally, nothing more shipped).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

static pid_t host = -1;
/* vigild's --batch under start_host(): its default, unless a test wants many frames. */
static const char *host_batch = "512";
static char devid[256];
static const char *marker;

/* A number from the host's SQLite (-1 when it cannot be read yet). */
static long long sq(const char *sql)
{
	static const struct fx_host h = { .name = "h" };

	return fx_sq(&h, sql);
}

static void start_host(void)
{
	long long reports = sq("SELECT count(*) FROM DeviceInfo");
	char url[64];

	if (reports < 0)
		reports = 0;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	host = fork();
	cr_assert_neq(host, -1);
	if (!host) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen("host.log", "a", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(vigil(), "vigil", "host", "--db", "h.db", "--no-rules", "--upstream", url,
		      "--onboarding", "ob.txt", "-v", "--spawn", fx_vigild(), "--flush-ms", "50",
		      "--batch", host_batch, (char *)NULL);
		_exit(127);
	}
	/* vigild reports its device once its programs are attached. */
	for (int t = 0; t < 300 && sq("SELECT count(*) FROM DeviceInfo") <= reports; t++) {
		cr_assert_eq(waitpid(host, NULL, WNOHANG), 0, "vigil host exited; see %s/host.log",
			     dir);
		fx_sleep_ms(100);
	}
	cr_assert_gt(sq("SELECT count(*) FROM DeviceInfo"), reports, "no sensor; see %s/host.log",
		     dir);
}

static void stop_host(void)
{
	int status;

	if (host <= 0)
		return;
	kill(host, SIGTERM);
	waitpid(host, &status, 0);
	host = -1;
}

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
}

/* The server again, on the port the host sends to. */
static void restart_server(void)
{
	char listen[64];

	snprintf(listen, sizeof(listen), "https://127.0.0.1:%d", port);
	for (int t = 0; t < 50; t++) {
		server = fork();
		cr_assert_neq(server, -1);
		if (!server) {
			if (!freopen("server2.log", "w", stderr))
				_exit(127);
			execl(vigil(), "vigil", "server", "--pg", conninfo, "--listen", listen,
			      "--cert", "srv.pem", "--key", "srv.key", "--threads", "2",
			      (char *)NULL);
			_exit(127);
		}
		if (server_port(server, "server2.log") == port)
			return;
	}
	cr_assert_fail("the server did not listen on port %d again", port);
}

static void setup(void)
{
	fx_hosts_init();
	marker = fx_marker();
	fx_server_onboard();
}

static void teardown(void)
{
	stop_host();
	stop_server();
	fx_cleanup_dir();
}

TestSuite(upstream, .fini = teardown, .timeout = 300);

/* Marked execs in PostgreSQL: rows and distinct command lines. */
static void pg_marked(long long *rows, long long *distinct)
{
	char sql[512];

	/* One statement, one snapshot: a row stored between two would miscount. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) || ' ' || count(DISTINCT \"ProcessCommandLine\") FROM"
		 " \"DeviceProcessEvents\" WHERE \"ActionType\" = 'ProcessCreated' AND"
		 " \"ProcessCommandLine\" LIKE '/bin/true %s-%%'",
		 marker);
	cr_assert_eq(sscanf(pgq(sql), "%lld %lld", rows, distinct), 2);
}

/* Wait (bounded) until n marked execs are in PostgreSQL, then check there are no more. */
static void pg_wait_marked(long long n)
{
	long long rows = 0, distinct = 0;

	for (int t = 0; t < 1200 && distinct < n; t++) {
		pg_marked(&rows, &distinct);
		if (distinct < n)
			fx_sleep_ms(100);
	}
	cr_assert_eq(distinct, n, "%lld of %lld marked execs reached PostgreSQL; see %s/host.log",
		     distinct, n, dir);
	cr_assert_eq(rows, n, "%lld rows for %lld execs in PostgreSQL", rows, n);
}

static long long sq_marked(void)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = 'ProcessCreated'"
		 " AND ProcessCommandLine LIKE '/bin/true %s-%%'",
		 marker);
	return sq(sql);
}

/* A line of the host's log holding s (waited for, bounded). */
static int host_log_has(const char *s)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "grep -q -- '%s' host.log", s);
	return system(cmd) == 0;
}

/* The Upstream line of `vigil stats --json` for h.db into line ("" when it has none). */
static void stats_upstream(char *line, size_t n)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' stats --db h.db --json", vigil());
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	line[0] = 0;
	while (fgets(line, (int)n, p) && !strstr(line, "{\"Table\":\"Upstream\""))
		line[0] = 0;
	while (fgetc(p) != EOF)
		;
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

/* `vigil healthcheck --db h.db`: its Health line into health, the exit status returned. */
static int healthcheck(char *health, size_t n)
{
	char cmd[512], line[1024];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' healthcheck --db h.db", vigil());
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	health[0] = 0;
	while (fgets(line, sizeof(line), p))
		if (!strncmp(line, "Health:", 7))
			snprintf(health, n, "%s", line + strspn(line + 7, " ") + 7);
	st = pclose(p);
	health[strcspn(health, "\n")] = 0;
	cr_assert(WIFEXITED(st), "%s did not exit", cmd);
	return WEXITSTATUS(st);
}

/* Marked execs that reached PostgreSQL, by distinct command line. */
static long long pg_distinct(void)
{
	long long rows, distinct;

	pg_marked(&rows, &distinct);
	return distinct;
}

/*
 * After the host stopped: PostgreSQL holds every frame shipped (shipped:
 * stored here and not pending) and none this store does not hold. A frame
 * the server stored as the host stopped may still be pending here.
 */
static void pg_frames_between(long long shipped)
{
	long long fleet = atoll(pgq("SELECT count(*) FROM \"ReceivedFrames\""));

	cr_assert_geq(fleet, shipped, "%lld frames in PostgreSQL, %lld shipped", fleet, shipped);
	cr_assert_leq(fleet, sq("SELECT count(*) FROM ReceivedFrames"),
		      "%lld frames in PostgreSQL, more than the host stored", fleet);
}

/*
 * The host started; its first `shipped` marked execs in PostgreSQL, then the
 * server stopped and `more` marked execs in the host's store only (waiting at
 * most `tenths` tenths of a second for them).
 */
static void ship_then_store_only(int shipped, int more, int tenths)
{
	start_host();
	fx_run_marked(0, shipped);
	pg_wait_marked(shipped);
	stop_server();
	fx_run_marked(shipped, more);
	for (int t = 0; t < tenths && sq_marked() < shipped + more; t++)
		fx_sleep_ms(100);
	cr_assert_eq(sq_marked(), shipped + more);
}

Test(upstream, every_exec_once_across_a_server_outage_and_a_host_restart)
{
	struct stat st;
	char sql[256];

	setup();
	start_host();
	fx_run_marked(0, 50);
	pg_wait_marked(50);
	cr_assert_eq(sq_marked(), 50);
	/* The token is kept for the next run, private, and the server knows this device. */
	cr_assert_eq(lstat("h.db.token", &st), 0, "no h.db.token");
	cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode);
	snprintf(devid, sizeof(devid), "%s",
		 pgq("SELECT \"DeviceId\" FROM \"DeviceProcessEvents\" LIMIT 1"));
	cr_assert(devid[0]);

	/* The server goes away; the host keeps storing and keeps trying. */
	stop_server();
	fx_run_marked(50, 50);
	for (int t = 0; t < 600 && !host_log_has("upstream https://127.0.0.1"); t++)
		fx_sleep_ms(100);
	cr_assert(host_log_has("upstream https://127.0.0.1"),
		  "the host never found the server gone");
	for (int t = 0; t < 600 && sq_marked() < 100; t++)
		fx_sleep_ms(100);
	cr_assert_eq(sq_marked(), 100);
	restart_server();
	pg_wait_marked(100);

	/* A new run reuses the token: enrolling again would be refused (409). */
	stop_host();
	start_host();
	fx_run_marked(100, 10);
	pg_wait_marked(110);
	cr_assert_eq(sq_marked(), 110);
	stop_host();
	cr_assert(!host_log_has("enrolment of"), "the host enrolled again");
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM HostRefused WHERE Reason LIKE 'upstream:%%'");
	cr_assert_eq(sq(sql), 0, "frames counted as not sent");
}

/*
 * A revoked host keeps its events: they stay in its outbox, PostgreSQL gets
 * nothing more, no frame is counted as refused, and it does not hammer the
 * server (one refused attempt, then the 10 minute wait).
 */
Test(upstream, a_revoked_host_keeps_its_events)
{
	char cmd[1024], health[512];
	long long rows, distinct;

	setup();
	start_host();
	fx_run_marked(0, 5);
	pg_wait_marked(5);
	snprintf(devid, sizeof(devid), "%s",
		 pgq("SELECT \"DeviceId\" FROM \"DeviceProcessEvents\" LIMIT 1"));
	snprintf(cmd, sizeof(cmd), "'%s' server revoke --pg '%s' '%s' >/dev/null", vigil(),
		 conninfo, devid);
	sh("%s", cmd);
	fx_run_marked(5, 5);
	for (int t = 0; t < 600 && !host_log_has("token (403)"); t++)
		fx_sleep_ms(100);
	cr_assert(host_log_has("token (403)"), "no 403 logged; see %s/host.log", dir);
	for (int t = 0; t < 600 && sq_marked() < 10; t++)
		fx_sleep_ms(100);
	cr_assert_eq(sq_marked(), 10);
	fx_run_marked(10, 5);
	for (int t = 0; t < 600 && sq_marked() < 15; t++)
		fx_sleep_ms(100);
	/* healthcheck names the refusal and what is kept. */
	cr_assert_eq(healthcheck(health, sizeof(health)), 3, "healthcheck: %s", health);
	cr_assert(strstr(health, "Unhealthy: upstream refused this host (") &&
			  strstr(health, "refused 403") && strstr(health, "token revoked") &&
			  strstr(health, "events pending"),
		  "healthcheck: %s", health);
	stop_host();
	cr_assert_eq(sq_marked(), 15);
	cr_assert_gt(sq("SELECT count(*) FROM UpstreamOutbox"), 0, "nothing kept to send");
	cr_assert_eq(sq("SELECT count(*) FROM HostRefused WHERE Reason LIKE 'upstream:%'"), 0,
		     "frames of a revoked host counted as refused");
	cr_assert_eq(system("test $(grep -c 'token (403)' host.log) -eq 1"), 0,
		     "the host asked again and again; see %s/host.log", dir);
	pg_marked(&rows, &distinct);
	cr_assert_eq(rows, 5, "%lld rows after the revocation", rows);
}

/*
 * The server down for over a minute: the host keeps storing, `vigil stats`
 * shows what waits and how old it is, healthcheck says the upstream is
 * unreachable with the events pending; then every exec arrives once, the
 * outbox empties and each frame is shipped once (the watermark's counts).
 */
Test(upstream, server_down_a_minute_then_every_event_once)
{
	char line[2048], health[512], c;
	long long pending = -1, lag = -1, frames;
	int st = -1, down = 0;

	setup();
	ship_then_store_only(10, 30, 600);
	/* Pending and lag while it is down (the host found it gone on its first frame). */
	for (int t = 0; t < 1200 && !down; t++) {
		stats_upstream(line, sizeof(line));
		pending = fx_json_num(line, "PendingEvents");
		lag = fx_json_num(line, "LagSeconds");
		down = pending > 0 && lag > 0 && strstr(line, "unreachable") &&
		       strstr(line, "Couldn't connect");
		if (!down)
			fx_sleep_ms(100);
	}
	cr_assert(strstr(line, "\"State\":\"unreachable\""), "stats: %s", line);
	cr_assert_geq(pending, 30, "stats: %s", line);
	cr_assert_gt(lag, 0, "stats: %s", line);
	cr_assert_gt(fx_json_num(line, "PendingFrames"), 0, "stats: %s", line);
	cr_assert(strstr(line, "Couldn't connect"), "no reason in stats: %s", line);
	/* A minute without an answer is unhealthy, with what waits. */
	for (int t = 0; t < 1200 && !strstr(health, "upstream unreachable for"); t++) {
		st = healthcheck(health, sizeof(health));
		if (!strstr(health, "upstream unreachable for"))
			fx_sleep_ms(100);
	}
	/* The machine's other work adds events while it waits: at least those stats saw. */
	cr_assert_eq(sscanf(health,
			    "Unhealthy: upstream unreachable for 1 minutes, %lld events pendin%c",
			    &lag, &c),
		     2, "healthcheck: %s", health);
	cr_assert_geq(lag, pending, "healthcheck: %s; stats had %lld pending", health, pending);
	cr_assert_eq(st, 3);
	cr_assert_eq(pg_distinct(), 10, "marked execs reached a stopped server");

	restart_server();
	pg_wait_marked(40);
	for (int t = 0; t < 600 && fx_json_num(line, "PendingFrames") != 0; t++) {
		stats_upstream(line, sizeof(line));
		if (fx_json_num(line, "PendingFrames"))
			fx_sleep_ms(100);
	}
	cr_assert_eq(fx_json_num(line, "PendingFrames"), 0, "stats: %s", line);
	cr_assert(strstr(line, "\"State\":\"shipping\""), "stats: %s", line);
	/* Whatever else it says (a busy machine's sensor may drop events), not the upstream. */
	healthcheck(health, sizeof(health));
	cr_assert_null(strstr(health, "upstream"), "healthcheck: %s", health);
	stop_host();
	/*
	 * Each frame stored here and not pending (vigild's last batches may
	 * outlast the 5 s the host gives them at stop) was shipped once: the
	 * watermark counts every one once, and PostgreSQL holds every one.
	 */
	frames = sq("SELECT count(*) FROM ReceivedFrames") -
		 sq("SELECT count(*) FROM UpstreamOutbox");
	cr_assert_eq(sq("SELECT sum(Frames) FROM UpstreamStreams"), frames);
	cr_assert_eq(sq("SELECT sum(Events) FROM UpstreamStreams"),
		     sq("SELECT sum(Events) FROM ReceivedFrames") -
			     sq("SELECT coalesce(sum(Events), 0) FROM UpstreamOutbox"));
	pg_frames_between(frames);
}

/*
 * A host SIGKILLed with a backlog (the server down) keeps it in its store:
 * the next run sends it, and every exec is stored once upstream.
 */
Test(upstream, a_backlog_survives_sigkill)
{
	long long pending;

	setup();
	ship_then_store_only(5, 25, 600);
	pending = sq("SELECT count(*) FROM UpstreamOutbox");
	cr_assert_gt(pending, 0, "no backlog");
	kill(host, SIGKILL);
	waitpid(host, NULL, 0);
	host = -1;
	/* The backlog is still there, whole. */
	cr_assert_geq(sq("SELECT count(*) FROM UpstreamOutbox"), pending);
	cr_assert_eq(pg_distinct(), 5);

	restart_server();
	start_host();
	pg_wait_marked(30);
	fx_run_marked(30, 5);
	pg_wait_marked(35);
	stop_host();
	cr_assert_eq(sq_marked(), 35);
	pg_frames_between(sq("SELECT count(*) FROM ReceivedFrames") -
			  sq("SELECT count(*) FROM UpstreamOutbox"));
}

/*
 * A backlog of thousands of frames (vigild sending batches of 4 events while
 * the server is down; 1 made the machine's other work, every exec and exit
 * of a parallel build its own frame, outgrow what a loaded machine drains
 * in the time allowed) ships in far fewer requests than frames:
 * the frames of one request are one transaction at the server, so they share
 * one ReceivedFrames "Timestamp" (the server's clock as it stored them), and
 * the distinct timestamps count the requests that stored something.
 */
Test(upstream, a_backlog_of_thousands_ships_in_far_fewer_requests)
{
	long long backlog, frames, requests;

	setup();
	host_batch = "4";
	ship_then_store_only(5, 1500, 1800);
	backlog = sq("SELECT count(*) FROM UpstreamOutbox");
	cr_assert_geq(backlog, 700, "a backlog of %lld frames only", backlog);
	restart_server();
	pg_wait_marked(1505);
	stop_host();
	host_batch = "512";
	frames = atoll(pgq("SELECT count(*) FROM \"ReceivedFrames\""));
	requests = atoll(pgq("SELECT count(DISTINCT \"Timestamp\") FROM \"ReceivedFrames\""));
	cr_assert_geq(frames, backlog, "%lld frames in PostgreSQL, %lld were pending", frames,
		      backlog);
	cr_assert_lt(requests * 4, frames, "%lld frames in %lld requests", frames, requests);
	cr_log_info("upstream: %lld frames (%lld pending at the restart) in %lld requests", frames,
		    backlog, requests);
	pg_frames_between(sq("SELECT count(*) FROM ReceivedFrames") -
			  sq("SELECT count(*) FROM UpstreamOutbox"));
}
