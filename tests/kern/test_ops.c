// SPDX-License-Identifier: GPL-2.0-only
/*
 * Operating vigil host, as root with a real sensor: the Prometheus endpoint
 * (curl, parsed by Prometheus' own Python parser) says what `vigil stats`
 * says at the same moment; --output jsonl carries a marked exec; a
 * retention pass removes the events faked older, counts them, keeps the rest.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *bin(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

/* Run a shell command; its stdout (malloc'd) and exit status. */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *out = NULL, buf[4096];
	size_t len = 0, n;
	FILE *m = open_memstream(&out, &len);

	cr_assert_not_null(p);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, m);
	*status = pclose(p);
	fclose(m);
	return out;
}

static int same_file(const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* The port vigil host logged for --metrics 127.0.0.1:0. */
static unsigned metrics_port(const struct vg_t_host *h)
{
	for (int i = 0; i < 100; i++) {
		char line[1024];
		unsigned port = 0;
		FILE *f = fopen(h->log, "r");

		while (f && fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "/metrics (port ");

			if (p && sscanf(p, "/metrics (port %u)", &port) == 1)
				break;
		}
		if (f)
			fclose(f);
		if (port)
			return port;
		usleep(50000);
	}
	cr_assert_fail("no metrics port in %s", h->log);
	return 0;
}

Test(ops, metrics_equal_stats, .timeout = 90)
{
	static const char *const host_args[] = { "--metrics", "127.0.0.1:0", "--no-rules", NULL };
	char marker[64], m1[256], m2[256], s[256], hdr[256], cmd[2048], *out;
	struct vg_t_host h;
	unsigned port;
	pid_t child;
	int status, stable = 0;

	vg_t_host_start_args(&h, host_args, NULL);
	port = metrics_port(&h);
	vg_t_marker(marker, sizeof(marker), "metrics");
	vg_t_execs(marker, 5);
	cr_assert_eq(vg_t_wait_int(&h, 5, 15000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
				   " 'ProcessCreated' AND ProcessCommandLine = '/bin/true %s'",
				   marker),
		     5);
	/* The workload stops: vigild is stopped, so nothing more is stored. */
	child = vg_t_host_child(&h);
	cr_assert_gt(child, 0);
	cr_assert_eq(kill(child, SIGSTOP), 0);
	snprintf(m1, sizeof(m1), "%s/m1", h.dir);
	snprintf(m2, sizeof(m2), "%s/m2", h.dir);
	snprintf(s, sizeof(s), "%s/stats.json", h.dir);
	snprintf(hdr, sizeof(hdr), "%s/headers", h.dir);
	/* A batch still in the socket may land: stats between two equal scrapes is still. */
	for (int i = 0; i < 100 && !stable; i++) {
		snprintf(cmd, sizeof(cmd),
			 "curl -sf -D %s -o %s http://127.0.0.1:%u/metrics && %s stats --db %s"
			 " --json > %s && curl -sf -o %s http://127.0.0.1:%u/metrics",
			 hdr, m1, port, bin("VIGIL", "build/vigil"), h.db, s, m2, port);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		stable = same_file(m1, m2);
		if (!stable)
			usleep(100000);
	}
	kill(child, SIGCONT);
	cr_assert(stable, "the metrics never held still with vigild stopped");
	snprintf(cmd, sizeof(cmd), "grep -qi '^Content-Type: text/plain; version=0.0.4' %s", hdr);
	cr_expect_eq(system(cmd), 0, "no Prometheus text content type");
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tests/kern/prom_check.py %s %s 2>&1", m1, s);
	out = run(cmd, &status);
	cr_expect_eq(status, 0, "%s", out);
	cr_expect_not_null(strstr(out, "compared "), "%s", out);
	cr_log_info("metrics vs stats: %s", out);
	free(out);
	/* Anything but GET /metrics is refused. */
	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%u/x",
		 port);
	out = run(cmd, &status);
	cr_expect_str_eq(out, "404");
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code}' -X POST -d x "
		 "http://127.0.0.1:%u/metrics",
		 port);
	out = run(cmd, &status);
	cr_expect_str_eq(out, "405");
	free(out);
	cr_expect_eq(vg_t_host_stop(&h, SIGTERM), 0);
	vg_t_rmrf(h.dir);
}

Test(ops, jsonl_output_has_a_marked_exec, .timeout = 90)
{
	char spec[256], marker[64], want[160], cmd[1024], *out = NULL;
	const char *host_args[] = { "--output", spec, "--no-rules", NULL };
	struct vg_t_host h;
	sqlite3 *db;
	int status;

	/* The harness makes the directory: the spec names a file in the next one it makes. */
	snprintf(spec, sizeof(spec), "jsonl:%s/vg-ops-out.jsonl,max-size=1M,keep=2", vg_t_root());
	vg_t_host_start_args(&h, host_args, NULL);
	vg_t_marker(marker, sizeof(marker), "jsonl");
	vg_t_execs(marker, 1);
	snprintf(want, sizeof(want), "\"ProcessCommandLine\":\"/bin/true %s\"", marker);
	for (int i = 0; i < 300; i++) {
		free(out);
		snprintf(cmd, sizeof(cmd), "cat %s/vg-ops-out.jsonl* | grep -F '%s'", vg_t_root(),
			 marker);
		out = run(cmd, &status);
		if (strstr(out, want))
			break;
		usleep(50000);
	}
	cr_assert_not_null(strstr(out, want), "the marked exec never reached the file");
	cr_expect_not_null(strstr(out, "{\"Table\":\"DeviceProcessEvents\",\"Timestamp\":\""), "%s",
			   out);
	cr_expect_not_null(strstr(out, "\"ActionType\":\"ProcessCreated\""), "%s", out);
	cr_expect_not_null(strstr(out, "\"FileName\":\"true\""), "%s", out);
	free(out);
	cr_expect_eq(vg_t_host_stop(&h, SIGTERM), 0);
	/* Every line of every file is one JSON object. */
	snprintf(cmd, sizeof(cmd),
		 "cat %s/vg-ops-out.jsonl* | /usr/bin/python3 -c 'import json, sys; "
		 "n = sum(1 for l in sys.stdin if isinstance(json.loads(l), dict)); print(n)'",
		 vg_t_root());
	out = run(cmd, &status);
	cr_expect_eq(status, 0, "%s", out);
	cr_expect_gt(atoi(out), 0, "%s", out);
	/* What it wrote is counted, nothing lost. */
	db = vg_t_db_open(&h);
	cr_expect_geq(vg_t_query_int(db,
				     "SELECT Count FROM HostCounters WHERE Name = 'OutputEvents'"
				     " AND Label = '%q'",
				     spec),
		      atoi(out));
	cr_expect_eq(vg_t_query_int(db, "SELECT count(*) FROM HostCounters"
					" WHERE Name = 'OutputErrors'"),
		     0);
	sqlite3_close(db);
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -f %s/vg-ops-out.jsonl*", vg_t_root());
	cr_expect_eq(system(cmd), 0);
	vg_t_rmrf(h.dir);
}

Test(ops, retention_deletes_and_counts_old_events, .timeout = 90)
{
	static const char *const host_args[] = { "--retain-days", "1", "--retain-interval", "1",
						 "--no-rules",	  NULL };
	char old[64], recent[64], cmd[1024], line[128], *out;
	struct vg_t_host h;
	long long k, kb;
	sqlite3 *db;
	int status;

	vg_t_host_start_args(&h, host_args, NULL);
	vg_t_marker(old, sizeof(old), "old");
	vg_t_marker(recent, sizeof(recent), "recent");
	vg_t_execs(old, 3);
	cr_assert_eq(vg_t_wait_int(&h, 3, 15000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
				   " 'ProcessCreated' AND ProcessCommandLine = '/bin/true %s'",
				   old),
		     3);
	vg_t_execs(recent, 3);
	cr_assert_eq(vg_t_wait_int(&h, 3, 15000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
				   " 'ProcessCreated' AND ProcessCommandLine = '/bin/true %s'",
				   recent),
		     3);
	/* The events of `old` become two days old (their exits came before recent's execs). */
	db = vg_t_db_open(&h);
	k = vg_t_query_int(db,
			   "SELECT count(*) FROM DeviceProcessEvents WHERE"
			   " ProcessCommandLine = '/bin/true %s'",
			   old);
	kb = vg_t_query_int(db,
			    "SELECT count(*) FROM DeviceProcessEvents WHERE"
			    " ProcessCommandLine = '/bin/true %s'",
			    recent);
	cr_assert_geq(k, 3);
	sqlite3_close(db);
	cr_assert_eq(sqlite3_open_v2(h.db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(sqlite3_exec(db,
				  sqlite3_mprintf(
					  "UPDATE DeviceProcessEvents SET Timestamp ="
					  " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '-2 days')"
					  " WHERE ProcessCommandLine = '/bin/true %q'",
					  old),
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	/* The next pass (one a second) deletes exactly them. */
	cr_assert_eq(vg_t_wait_int(&h, k, 15000,
				   "SELECT Count FROM HostCounters WHERE Name = 'RetentionDeleted'"
				   " AND Label = 'DeviceProcessEvents'"),
		     k, "log: %s", h.log);
	db = vg_t_db_open(&h);
	cr_expect_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE"
				    " ProcessCommandLine = '/bin/true %s'",
				    old),
		     0);
	cr_expect_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE"
				    " ProcessCommandLine = '/bin/true %s'",
				    recent),
		     kb);
	sqlite3_close(db);
	cr_expect_eq(vg_t_host_stop(&h, SIGTERM), 0);
	/* vigil stats shows the count. */
	snprintf(cmd, sizeof(cmd), "%s stats --db %s", bin("VIGIL", "build/vigil"), h.db);
	out = run(cmd, &status);
	snprintf(line, sizeof(line), "%-12lld RetentionDeleted  DeviceProcessEvents\n", k);
	cr_expect_not_null(strstr(out, line), "no '%s' in:\n%s", line, out);
	free(out);
	vg_t_rmrf(h.dir);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * --output syslog:local3 with the host in a mount namespace of its own whose
 * /dev/log is the test's datagram socket (this machine's /dev/log is left
 * alone); a real vigild outside it connects over --listen. Also
 * --log-format json: every line host and vigild logged is a JSON object.
 */
Test(ops, syslog_output_and_json_logs, .timeout = 90)
{
	char dir[PATH_MAX], logsock[PATH_MAX + 8], sock[PATH_MAX + 8], db[PATH_MAX + 8];
	char hostlog[PATH_MAX + 16], marker[64], want[160], cmd[4 * PATH_MAX], msg[65536];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 1 };
	int fd, found = 0, status;
	pid_t host, sensor;
	char *out;

	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	vg_t_tmpdir(dir, sizeof(dir), "vg-ops-syslog");
	snprintf(logsock, sizeof(logsock), "%s/log", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(db, sizeof(db), "%s/t.db", dir);
	snprintf(hostlog, sizeof(hostlog), "%s/host.log", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(logsock), sizeof(sa.sun_path));
	strcpy(sa.sun_path, logsock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(cmd, sizeof(cmd),
		 "mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs /dev &&"
		 " ln -s %s /dev/log && touch /dev/null && exec %s --log-format json"
		 " --log-level debug host"
		 " --db %s --listen unix:%s --no-rules --output syslog:local3",
		 logsock, bin("VIGIL", "build/vigil"), db, sock);
	{
		const char *a[] = { "/usr/bin/unshare", "-m", "/bin/sh", "-c", cmd, NULL };

		host = vg_t_spawn(hostlog, a);
	}
	for (int i = 0; i < 200 && access(sock, F_OK); i++)
		usleep(50000);
	cr_assert_eq(access(sock, F_OK), 0, "the host did not listen (log: %s)", hostlog);
	{
		char spec[PATH_MAX + 8];
		const char *a[] = { bin("VIGILD", "build/vigild"),
				    "--transport",
				    spec,
				    "--flush-ms",
				    "50",
				    "--log-format",
				    "json",
				    NULL };

		snprintf(spec, sizeof(spec), "unix:%s", sock);
		sensor = vg_t_spawn(hostlog, a);
	}
	vg_t_marker(marker, sizeof(marker), "syslog");
	snprintf(want, sizeof(want), "\"ProcessCommandLine\":\"/bin/true %s\"", marker);
	/* Exec every 2 s until the sensor is attached and the event comes round (60 s at most). */
	for (long t0 = now_ms(), next = t0; !found && now_ms() - t0 < 60000;) {
		ssize_t n;

		if (now_ms() >= next) {
			vg_t_execs(marker, 1);
			next = now_ms() + 2000;
		}
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			continue;
		msg[n] = 0;
		found = strstr(msg, want) != NULL;
	}
	cr_expect(found, "no syslog message with the marked exec (log: %s)", hostlog);
	if (found) {
		/* <local3.info> = <19 * 8 + 6>, ident vigil[pid], the event's JSON object. */
		cr_expect_eq(strncmp(msg, "<158>", 5), 0, "%s", msg);
		cr_expect_not_null(strstr(msg, " vigil["), "%s", msg);
		cr_expect_not_null(strstr(msg, "]: {\"Table\":\"DeviceProcessEvents\","), "%s",
				   msg);
	}
	kill(sensor, SIGTERM);
	waitpid(sensor, &status, 0);
	kill(host, SIGTERM);
	waitpid(host, &status, 0);
	close(fd);
	/* Every log line of both programs (the host at debug: it says each connection): JSON. */
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json, sys; ls = [json.loads(l) for l in"
		 " open(sys.argv[1])]; assert ls and all(set(l) >= {\"time\", \"level\", \"prog\","
		 " \"msg\"} for l in ls), ls; print(sorted({l[\"prog\"] for l in ls}))' %s 2>&1",
		 hostlog);
	out = run(cmd, &status);
	cr_expect_eq(status, 0, "%s", out);
	cr_expect_str_eq(out, "['vigil', 'vigild']\n");
	free(out);
	vg_t_rmrf(dir);
}
