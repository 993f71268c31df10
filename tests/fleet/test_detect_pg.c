// SPDX-License-Identifier: GPL-2.0-only
/*
 * Detections in vigil server (server/detect_pg.c): real batches through the
 * real server over TLS into a throwaway PostgreSQL (one, or a coordinator of
 * two shards), a rule of a rules dir made here, the detector connected as
 * its own role, and the alerts read back from PostgreSQL and `vigil alerts --pg`.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

#define FRAME "application/vnd.vigil.frame"
#define MARK "vg-detect-marker"

static pid_t server2 = -1;
static char detect_ci[600];
static int bad_rule; /* setup() adds a rule whose query PostgreSQL fails */

static void stop(pid_t *p, int sig)
{
	if (*p > 0) {
		kill(*p, sig);
		waitpid(*p, NULL, 0);
		*p = -1;
	}
}

static void teardown(void)
{
	stop(&server, SIGTERM);
	stop(&server2, SIGTERM);
	fx_cleanup_dir();
}

/* conninfo as another role */
static void as_role(char *out, size_t size, const char *user)
{
	char *u;

	snprintf(out, size, "%s", conninfo);
	u = strstr(out, "user=postgres");
	cr_assert_not_null(u, "%s", out);
	snprintf(u, size - (size_t)(u - out), "user=%s", user);
}

/* `vigil server --detect` on a free port, its log in dir/log. */
static const char *rules_dir = "rules"; /* setup()'s, or the shipped ones */
/* A Sigma rule setup() imports (vigil rules import-sigma) into sigma/ to detect with. */
static const char *sigma_rule;

static pid_t spawn_detect(const char *log)
{
	const char *const extra[] = { "--detect", detect_ci, "--rules", rules_dir, NULL };

	return spawn_server_args(log, extra);
}

/*
 * A cluster, the roles, a rules dir with one rule (every process whose
 * command line holds MARK, an alert per device and process tree) and a
 * detecting server with its onboarding package in ob.txt.
 */
static void setup(void)
{
	FILE *f;

	fx_pg_ca();
	sh("'%s' server roles --pg '%s' >/dev/null", vigil(), conninfo);
	as_role(detect_ci, sizeof(detect_ci), "vigil_detect");
	cr_assert_eq(mkdir("rules", 0755), 0);
	f = fopen("rules/marker.rule", "w");
	cr_assert_not_null(f);
	fputs("title: Marker run\nseverity: High\ncategory: Execution\nmitre: T1059\n"
	      "description: a test's marked process\nquery:\nDeviceProcessEvents\n"
	      "| where ProcessCommandLine contains \"" MARK "\"\n",
	      f);
	cr_assert_eq(fclose(f), 0);
	if (bad_rule) {
		/* toint() of a command line: SQLite carries on, PostgreSQL fails the query */
		f = fopen("rules/bad.rule", "w");
		cr_assert_not_null(f);
		fputs("title: Bad\nseverity: Low\ncategory: Execution\nmitre: T1059\nquery:\n"
		      "DeviceProcessEvents\n| where toint(ProcessCommandLine) > 0\n",
		      f);
		cr_assert_eq(fclose(f), 0);
	}
	if (sigma_rule) {
		cr_assert_eq(mkdir("sigma", 0755), 0);
		f = fopen("sigma_mark.yml", "w");
		cr_assert_not_null(f);
		fputs(sigma_rule, f);
		cr_assert_eq(fclose(f), 0);
		sh("'%s' rules import-sigma -o sigma sigma_mark.yml 2>/dev/null", vigil());
		rules_dir = "sigma";
	}
	server = spawn_detect("server.log");
	port = server_port(server, "server.log");
	sh("'%s' server onboard --pg '%s' --url https://127.0.0.1:%d --ca ca.pem --out ob.txt"
	   " >/dev/null",
	   vigil(), conninfo, port);
}

static char *argv_mark[] = { "/bin/sh", "-c", MARK };
static char *argv_plain[] = { "/bin/sh", "-c", "true" };

/*
 * Post a batch of dev (named name) as frame seq of stream: n process
 * events, children of ppid, every one marked but the last when plain_last.
 */
static void post(const char *token, const char *dev, const char *name, uint64_t stream,
		 uint64_t seq, int ppid, int n, int plain_last)
{
	Vigil__V1__Process proc[8];
	Vigil__V1__ProcessEvent pe[8];
	Vigil__V1__Event ev[8], *evs[8];
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;

	cr_assert(n <= 8);
	for (int i = 0; i < n; i++) {
		vigil__v1__process__init(&proc[i]);
		vigil__v1__process_event__init(&pe[i]);
		vigil__v1__event__init(&ev[i]);
		proc[i].pid = ppid + 1 + i;
		proc[i].ppid = ppid;
		proc[i].exe = "/usr/bin/dash";
		proc[i].n_argv = 3;
		proc[i].argv = plain_last && i == n - 1 ? argv_plain : argv_mark;
		proc[i].user = "root";
		pe[i].action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
		pe[i].process = &proc[i];
		ev[i].report_id = seq * 10 + (uint64_t)i;
		/* 2026-11-26T12:00:SEQ.00I: within one window of the rule's 10 minutes */
		ev[i].time_ns =
			1795694400000000000ull + seq * 1000000000ull + (uint64_t)i * 1000000;
		ev[i].body_case = VIGIL__V1__EVENT__BODY_PROCESS;
		ev[i].process = &pe[i];
		evs[i] = &ev[i];
	}
	di.device_id = (char *)dev;
	di.device_name = (char *)name;
	di.os_platform = "Linux";
	di.host_device_id = "";
	b.device = &di;
	b.stream_id = stream;
	b.n_events = (size_t)n;
	b.events = evs;
	fx_frame_file("b.frame", &b, seq);
	cr_assert_eq(fx_post("/v1/batches", "b.frame", token, FRAME), 200);
}

static long pgn(const char *sql)
{
	return atol(pgq(sql));
}

/* Every stored process row is behind the detector's cursor. */
#define CAUGHT_UP                                                                              \
	"SELECT coalesce((SELECT \"LastIngestId\" FROM \"DetectionState\" WHERE \"TableName\"" \
	" = 'DeviceProcessEvents'), 0) >= (SELECT coalesce(max(\"IngestId\"), 0) FROM"         \
	" \"DeviceProcessEvents\") AND EXISTS (SELECT 1 FROM \"DeviceProcessEvents\")"

/* Wait (bounded; not a timing assertion) until sql answers t. */
static void wait_for(const char *sql)
{
	for (int i = 0; i < 1200; i++) {
		if (!strcmp(pgq(sql), "t"))
			return;
		usleep(100 * 1000);
	}
	cr_assert_fail("still not true after 120 s: %s", sql);
}

/* The marked rows that are not evidence exactly once. */
#define NOT_ONCE                                                                                \
	"SELECT count(*) FROM \"DeviceProcessEvents\" p WHERE \"ProcessCommandLine\" LIKE"      \
	" '%" MARK "%' AND (SELECT count(*) FROM \"AlertEvidence\" e WHERE e.\"SourceTable\" =" \
	" 'DeviceProcessEvents' AND e.\"SourceRowId\" = p.\"IngestId\" AND e.\"DeviceId\" ="    \
	" p.\"DeviceId\") <> 1"

/* The detector waits for the batches in flight (VG_PG_INGEST_LOCK). */
#define WAITING                                                                                 \
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 7415903" \
	" AND mode = 'ExclusiveLock' AND NOT granted)"

TestSuite(detect_pg, .fini = teardown);

Test(detect_pg, a_rule_on_two_devices_two_alerts_each_naming_its_device)
{
	char ta[VG_FX_TOKEN], tb[VG_FX_TOKEN], cmd[1024], out[4096];
	FILE *p;
	size_t n;

	bad_rule = 1;
	setup();
	fx_enroll("dev-A", ta);
	fx_enroll("dev-B", tb);
	post(ta, "dev-A", "DESKTOP-A", 1, 1, 100, 4, 1);
	post(tb, "dev-B", "DESKTOP-B", 1, 1, 200, 2, 0);
	wait_for(CAUGHT_UP);
	cr_assert_str_eq(pgq("SELECT string_agg(\"DeviceId\" || ' ' || \"DeviceName\" || ' ' ||"
			     " \"EvidenceCount\" || ' ' || \"RuleId\" || ' ' || \"Severity\", ', '"
			     " ORDER BY \"DeviceId\") FROM \"AlertInfo\""),
			 "dev-A DESKTOP-A 3 marker High, dev-B DESKTOP-B 2 marker High");
	/* Each evidence row is a marked event of its alert's device, once. */
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertEvidence\" e JOIN \"AlertInfo\" a USING"
			 " (\"AlertId\") WHERE e.\"DeviceId\" = a.\"DeviceId\""),
		     5);
	cr_assert_eq(pgn(NOT_ONCE), 0);
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertEvidence\" e JOIN \"DeviceProcessEvents\" p"
			 " ON p.\"IngestId\" = e.\"SourceRowId\" WHERE p.\"ProcessCommandLine\""
			 " NOT LIKE '%" MARK "%'"),
		     0);
	cr_assert_str_eq(
		pgq("SELECT string_agg(to_char(\"FirstActivity\" AT TIME ZONE 'UTC',"
		    " 'HH24:MI:SS.MS') || '..' || to_char(\"LastActivity\" AT TIME ZONE 'UTC',"
		    " 'HH24:MI:SS.MS'), ', ' ORDER BY \"DeviceId\") FROM \"AlertInfo\""),
		"12:00:01.000..12:00:01.002, 12:00:01.000..12:00:01.001");

	/* An analyst sees them with vigil alerts --pg, device, name and grouping. */
	as_role(out, sizeof(out), "vigil_analyst");
	snprintf(cmd, sizeof(cmd), "'%s' alerts --pg '%s'", vigil(), out);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	cr_assert_eq(pclose(p), 0);
	out[n] = 0;
	cr_assert(strstr(out, "device dev-A (DESKTOP-A)  3 events 2026-11-26T12:00:01.000Z.."
			      "2026-11-26T12:00:01.002Z\n"),
		  "%s", out);
	cr_assert(strstr(out, "device dev-B (DESKTOP-B)  2 events"), "%s", out);
	cr_assert(fx_log_has("server.log", "this server runs the detections"));
	cr_assert(fx_log_has("server.log", "detect: 2 of 2 rules run on PostgreSQL"));
	/* The rule PostgreSQL fails skipped those rows, counted; the other was not held back. */
	cr_assert_str_eq(pgq("SELECT \"RuleId\" || ' ' || (\"Failures\" > 0) || ' ' ||"
			     " (\"ToIngestId\" > \"FromIngestId\") FROM \"DetectionFailed\""),
			 "bad true true");
	cr_assert(strstr(pgq("SELECT \"Error\" FROM \"DetectionFailed\""),
			 "invalid input syntax for type integer"),
		  "%s", pgq("SELECT \"Error\" FROM \"DetectionFailed\""));
}

/* Two detecting servers: one runs the rule, one alert per group; the other takes over. */
Test(detect_pg, two_servers_one_alert_per_group_and_a_takeover)
{
	char ta[VG_FX_TOKEN];
	int port1, port2;

	setup();
	port1 = port;
	server2 = spawn_detect("server2.log");
	port2 = server_port(server2, "server2.log");
	fx_enroll("dev-A", ta);
	for (int i = 1; i <= 6; i++) {
		port = i % 2 ? port1 : port2;
		post(ta, "dev-A", "DESKTOP-A", 1, (uint64_t)i, 100, 2, 0);
	}
	wait_for(CAUGHT_UP);
	cr_assert_str_eq(pgq("SELECT count(*) || ' ' || sum(\"EvidenceCount\") FROM \"AlertInfo\""),
			 "1 12");
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertEvidence\""), 12);
	cr_assert_eq(pgn(NOT_ONCE), 0);
	cr_assert_neq(fx_log_has("server.log", "this server runs the detections"),
		      fx_log_has("server2.log", "this server runs the detections"));
	/* the one running them dies; the other carries on, in the same alert */
	if (fx_log_has("server.log", "this server runs the detections")) {
		stop(&server, SIGKILL);
		port = port2;
	} else {
		stop(&server2, SIGKILL);
		port = port1;
	}
	for (int i = 7; i <= 9; i++)
		post(ta, "dev-A", "DESKTOP-A", 1, (uint64_t)i, 100, 2, 0);
	wait_for(CAUGHT_UP);
	cr_assert_str_eq(pgq("SELECT count(*) || ' ' || sum(\"EvidenceCount\") FROM \"AlertInfo\""),
			 "1 18");
	cr_assert_eq(pgn(NOT_ONCE), 0);
	cr_assert(fx_log_has(server > 0 ? "server.log" : "server2.log",
			     "this server runs the detections"));
}

/*
 * The detecting server SIGKILLed while batches come and started again: each
 * batch (its own process tree) is one alert, each marked row evidence once.
 */
Test(detect_pg, detector_killed_and_restarted_nothing_lost_or_twice)
{
	char ta[VG_FX_TOKEN];
	int seq = 0;

	setup();
	fx_enroll("dev-A", ta);
	for (int round = 0; round < 3; round++) {
		char log[32];

		for (int i = 0; i < 8; i++, seq++)
			post(ta, "dev-A", "DESKTOP-A", 1, (uint64_t)seq + 1, 1000 + seq * 10, 3, 1);
		stop(&server, SIGKILL);
		/* a log of its own: the old one still says which port the dead one had */
		snprintf(log, sizeof(log), "server-%d.log", round);
		server = spawn_detect(log);
		port = server_port(server, log);
	}
	wait_for(CAUGHT_UP);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 24 * 3);
	cr_assert_str_eq(pgq("SELECT count(*) || ' ' || count(DISTINCT \"AlertKey\") || ' ' ||"
			     " min(\"EvidenceCount\") || ' ' || max(\"EvidenceCount\") FROM"
			     " \"AlertInfo\""),
			 "24 24 2 2");
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertEvidence\""), 48);
	cr_assert_eq(pgn(NOT_ONCE), 0);
}

/*
 * A batch that took its ingest ids first and commits last: the detector's
 * cursor does not pass it while it is in flight (a later batch committed
 * meanwhile), and its rows are evidence once it commits.
 */
Test(detect_pg, a_batch_committed_out_of_order_is_not_missed)
{
	char ta[VG_FX_TOKEN];
	PGconn *c;
	PGresult *r;

	setup();
	fx_enroll("dev-A", ta);
	post(ta, "dev-A", "DESKTOP-A", 1, 1, 100, 1, 0);
	wait_for(CAUGHT_UP);
	/* as vg_pg_store_batch() does: the shared lock, then the rows (their ids now) */
	c = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	r = PQexec(c, "BEGIN; SELECT pg_advisory_xact_lock_shared(7415903);"
		      " INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\", \"DeviceId\","
		      " \"DeviceName\", \"ActionType\", \"ProcessCommandLine\","
		      " \"InitiatingProcessId\") VALUES ('2026-11-26T12:00:00Z', 'dev-A',"
		      " 'DESKTOP-A', 'ProcessCreated', 'sh -c " MARK "', 300)");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	/* a later batch commits first (its ids are larger) */
	post(ta, "dev-A", "DESKTOP-A", 1, 2, 400, 1, 0);
	/* a cycle waits for the batch in flight (or, wrongly, reads past it) */
	wait_for("SELECT (" WAITING ") OR (" CAUGHT_UP ")");
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertInfo\" WHERE \"AlertKey\" LIKE '%tree:400'"),
		     0, "a cycle read past a batch in flight");
	r = PQexec(c, "COMMIT");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	wait_for(CAUGHT_UP);
	cr_assert_eq(pgn("SELECT count(*) FROM \"AlertInfo\""), 3);
	cr_assert_eq(pgn(NOT_ONCE), 0);
}

/* The detector's role reads the events and writes alerts; it cannot write the events. */
Test(detect_pg, the_detect_role_cannot_write_event_tables)
{
	static const char *const denied[] = {
		"INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\")"
		" VALUES (now(), 'x', 'ProcessCreated')",
		"UPDATE \"DeviceProcessEvents\" SET \"ProcessCommandLine\" = ''",
		"DELETE FROM \"DeviceFileEvents\"",
		"TRUNCATE \"DeviceNetworkEvents\"",
		"DELETE FROM \"AlertInfo\"",
		"SELECT * FROM \"EnrolledDevices\"",
		"INSERT INTO \"ReceivedFrames\" VALUES ('x', 1, 1, now(), 1)",
	};
	PGconn *c;

	setup();
	c = PQconnectdb(detect_ci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		PGresult *r = PQexec(c, denied[i]);
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		cr_expect_str_eq(st ? st : "", "42501", "%s", denied[i]);
		PQclear(r);
	}
	{
		PGresult *r = PQexec(c, "SELECT count(*) FROM \"DeviceProcessEvents\"");

		cr_expect_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
}

/*
 * The shipped rules: all but the two that need the host's SensorExecutables
 * run (extract_json() is the schema's vigil_json()); a set-user-ID chmod,
 * seen through extract_json("$.Mode"), is an alert, a plain one is not, and
 * no rule fails on the rows.
 */
Test(detect_pg, shipped_rules_run_extract_json_on_postgresql)
{
	static char rules[600];
	static char *argv_chmod[] = { "chmod", "4755", "/tmp/vg-suid" };
	Vigil__V1__Process proc = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__FileEvent fe[2];
	Vigil__V1__Event ev[2], *evs[2];
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	char ta[VG_FX_TOKEN], want[96];
	glob_t g;

	snprintf(rules, sizeof(rules), "%s/rules/*.rule", srcdir());
	cr_assert_eq(glob(rules, 0, NULL, &g), 0);
	snprintf(want, sizeof(want), "detect: %zu of %zu rules run on PostgreSQL", g.gl_pathc - 2,
		 g.gl_pathc);
	globfree(&g);
	snprintf(rules, sizeof(rules), "%s/rules", srcdir());
	rules_dir = rules;
	setup();
	cr_assert(fx_log_has("server.log", want), "server.log lacks '%s'", want);
	cr_assert(fx_log_has("server.log", "detect: rule kernel_load does not run on PostgreSQL:"));
	cr_assert(fx_log_has("server.log",
			     "detect: rule kernel_load_attempt does not run on PostgreSQL:"));
	fx_enroll("dev-A", ta);
	proc.pid = 4242;
	proc.ppid = 1;
	proc.exe = "/usr/bin/chmod";
	proc.n_argv = 3;
	proc.argv = argv_chmod;
	proc.user = "root";
	for (int i = 0; i < 2; i++) {
		vigil__v1__file_event__init(&fe[i]);
		vigil__v1__event__init(&ev[i]);
		fe[i].action_type = "FileModeChanged";
		fe[i].process = &proc;
		fe[i].path = i ? "/tmp/vg-plain" : "/tmp/vg-suid";
		fe[i].mode = i ? 0100755 : 0104755;
		ev[i].report_id = 100 + (uint64_t)i;
		ev[i].time_ns = 1795694400000000000ull + (uint64_t)i * 1000000;
		ev[i].body_case = VIGIL__V1__EVENT__BODY_FILE;
		ev[i].file = &fe[i];
		evs[i] = &ev[i];
	}
	di.device_id = "dev-A";
	di.device_name = "DESKTOP-A";
	di.os_platform = "Linux";
	di.host_device_id = "";
	b.device = &di;
	b.stream_id = 1;
	b.n_events = 2;
	b.events = evs;
	fx_frame_file("b.frame", &b, 1);
	cr_assert_eq(fx_post("/v1/batches", "b.frame", ta, FRAME), 200);
	wait_for(
		"SELECT coalesce((SELECT \"LastIngestId\" FROM \"DetectionState\" WHERE"
		" \"TableName\" = 'DeviceFileEvents'), 0) >= (SELECT coalesce(max(\"IngestId\"), 0)"
		" FROM \"DeviceFileEvents\") AND EXISTS (SELECT 1 FROM \"DeviceFileEvents\")");
	cr_assert_str_eq(pgq("SELECT string_agg(e.\"FolderPath\", ' ') FROM \"AlertEvidence\" e"
			     " JOIN \"AlertInfo\" a USING (\"AlertId\") WHERE a.\"RuleId\" ="
			     " 'privesc_setid_chmod'"),
			 "/tmp/vg-suid");
	cr_assert_eq(pgn("SELECT count(*) FROM \"DetectionFailed\""), 0, "%s",
		     pgq("SELECT string_agg(\"RuleId\" || ': ' || \"Error\", '; ')"
			 " FROM \"DetectionFailed\""));
}

/*
 * A Sigma rule brought in by `vigil rules import-sigma` runs on PostgreSQL
 * as on SQLite: the marked processes are its evidence, the plain one is not.
 */
Test(detect_pg, an_imported_sigma_rule_runs_on_postgresql)
{
	char ta[VG_FX_TOKEN];

	sigma_rule = "title: Marked shell\n"
		     "tags: [attack.execution, attack.t1059.004]\n"
		     "logsource: {product: linux, category: process_creation}\n"
		     "detection:\n"
		     "    sel_img:\n"
		     "        Image|endswith: /DASH\n"
		     "        ParentProcessId: '100'\n"
		     "    sel_cli:\n"
		     "        CommandLine|contains|all: ['" MARK "', ' -c ']\n"
		     "        CommandLine|re: '^/bin/(ba|da)?sh '\n"
		     "    filter:\n"
		     "        CommandLine: ['true', '/bin/sh -c true']\n"
		     "    condition: all of sel_* and not filter\n"
		     "level: critical\n";
	setup();
	cr_assert(fx_log_has("server.log", "detect: 1 of 1 rules run on PostgreSQL"));
	fx_enroll("dev-A", ta);
	post(ta, "dev-A", "DESKTOP-A", 1, 1, 100, 3, 1);
	wait_for(CAUGHT_UP);
	cr_assert_str_eq(
		pgq("SELECT count(*) || ' ' || min(a.\"Severity\") FROM \"AlertEvidence\" e"
		    " JOIN \"AlertInfo\" a USING (\"AlertId\") WHERE a.\"RuleId\" ="
		    " 'sigma_mark'"),
		"2 High");
	cr_assert_eq(pgn("SELECT count(*) FROM \"DetectionFailed\""), 0);
}
