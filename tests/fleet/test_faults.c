// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet under failure: a real `vigil host --spawn vigild --upstream`
 * streaming marked execs while PostgreSQL stops for 60 s, while the server
 * is SIGKILLed in the middle of a batch's transaction, and while one of two
 * servers dies. Each time every event the host stored is in PostgreSQL
 * exactly once: the same rows per table and the same ReceivedFrames.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

static struct fx_host ha = { .pid = -1 };
static pid_t server2 = -1, execs = -1;

static void kill_wait(pid_t *pid, int sig)
{
	if (*pid > 0) {
		kill(*pid, sig);
		waitpid(*pid, NULL, 0);
		*pid = -1;
	}
}

static void teardown(void)
{
	kill_wait(&execs, SIGKILL);
	fx_host_stop(&ha);
	kill_wait(&server, SIGTERM);
	kill_wait(&server2, SIGTERM);
	fx_cleanup_dir();
}

TestSuite(faults, .fini = teardown, .timeout = 600);

static void setup(void)
{
	fx_hosts_init();
	fx_server_onboard();
}

static const char *url(int p)
{
	static char buf[2][64];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "https://127.0.0.1:%d", p);
	return buf[i];
}

/* The server again on `port`, as the host knows it. */
static void restart_server(void)
{
	server = fork();
	cr_assert_neq(server, -1);
	if (!server) {
		if (!freopen("server-again.log", "w", stderr))
			_exit(127);
		execl(vigil(), "vigil", "server", "--pg", conninfo, "--listen", url(port), "--cert",
		      "srv.pem", "--key", "srv.key", "--threads", "2", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(server_port(server, "server-again.log"), port);
}

/* Marked execs from..from+n-1 in a child, while the test does something else. */
static void run_marked_bg(int from, int n)
{
	execs = fork();
	cr_assert_neq(execs, -1);
	if (!execs) {
		for (int i = 0; i < n; i++) {
			fx_run_marked(from + i, 1);
			fx_sleep_ms(20);
		}
		_exit(0);
	}
}

Test(faults, postgresql_stopped_for_60s_mid_stream)
{
	char body[64], cmd[256];

	setup();
	fx_host_start(&ha, "a", url(port), "fault-a", NULL);
	fx_run_marked(0, 20);
	fx_pg_wait_marked("fault-a", 20);
	fx_pg_stop();
	/* Down for 60 s, with execs before and during: the host keeps storing and resending. */
	fx_run_marked(20, 20);
	for (int t = 0; t < 600 && !fx_log_has("a.log", "server answered 503"); t++)
		fx_sleep_ms(100);
	cr_assert(fx_log_has("a.log", "server answered 503"), "no 503 while the database is down");
	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code}' --cacert ca.pem %s/v1/health", url(port));
	sh_line(body, sizeof(body), cmd);
	cr_assert_str_eq(body, "503");
	fx_sleep_ms(30000);
	fx_run_marked(40, 20);
	fx_sleep_ms(30000);
	fx_pg_resume();
	fx_pg_wait_marked("fault-a", 60);
	fx_host_stop_synced(&ha, "fault-a");
	fx_same_in_pg(&ha, "fault-a");
}

/* Wait (bounded) until one of the server's transactions is open, then SIGKILL it. */
static void kill_server_mid_batch(void)
{
	PGconn *c = PQconnectdb(conninfo);
	int open = 0;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	for (int t = 0; t < 100000 && !open; t++) {
		PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE"
					" pid <> pg_backend_pid() AND xact_start IS NOT NULL AND"
					" query LIKE 'INSERT%'");

		open = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
		PQclear(r);
	}
	PQfinish(c);
	cr_assert(open, "never saw the server inside a batch's transaction");
	kill_wait(&server, SIGKILL);
}

Test(faults, server_sigkilled_mid_batch)
{
	setup();
	fx_host_start(&ha, "a", url(port), "fault-a", NULL);
	run_marked_bg(0, 200);
	for (int i = 0; i < 3; i++) {
		kill_server_mid_batch();
		restart_server();
	}
	cr_assert_eq(waitpid(execs, NULL, 0), execs);
	execs = -1;
	fx_pg_wait_marked("fault-a", 200);
	fx_host_stop_synced(&ha, "fault-a");
	fx_same_in_pg(&ha, "fault-a");
	cr_assert(fx_log_has("a.log", "upstream https://127.0.0.1"),
		  "the host never missed the killed server");
}

Test(faults, one_of_two_servers_killed)
{
	char urls[160], trying[96];
	int port2;

	setup();
	server2 = spawn_server("server2.log");
	port2 = server_port(server2, "server2.log");
	snprintf(urls, sizeof(urls), "%s,%s", url(port), url(port2));
	fx_host_start(&ha, "a", urls, "fault-a", NULL);
	fx_run_marked(0, 20);
	fx_pg_wait_marked("fault-a", 20);
	kill_wait(&server, SIGKILL);
	fx_run_marked(20, 20);
	fx_pg_wait_marked("fault-a", 40);
	snprintf(trying, sizeof(trying), "upstream: trying %s", url(port2));
	cr_assert(fx_log_has("a.log", trying), "the host did not turn to the second server");
	fx_host_stop_synced(&ha, "fault-a");
	fx_same_in_pg(&ha, "fault-a");
}
