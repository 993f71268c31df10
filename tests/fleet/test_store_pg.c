// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet store's schema in a throwaway PostgreSQL (scripts/pgtest.sh,
 * root): a version 1 database migrated forward with its rows, day partitions
 * made on demand (once, with two connections racing) and dropped by
 * retention, the Windows host's DeviceInfo row, the ingest and analyst roles,
 * and the bytes an event takes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "batch.h"
#include "fixture.h"
#include "fmt.h"
#include "frame.h"
#include "hunt.h"
#include "kql.h"
#include "server.h"
#include "store.h"

#define NS_DAY (86400ull * 1000000000ull)

static PGconn *connect_as(const char *user)
{
	char ci[600], *u;
	PGconn *c;

	snprintf(ci, sizeof(ci), "%s", conninfo);
	u = strstr(ci, "user=postgres");
	cr_assert_not_null(u, "%s", ci);
	snprintf(u, sizeof(ci) - (size_t)(u - ci), "user=%s", user);
	c = PQconnectdb(ci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

/* Run sql on c: its SQLSTATE ("" when it succeeded). */
static const char *run_state(PGconn *c, const char *sql)
{
	static char state[8];
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	snprintf(state, sizeof(state), "%s",
		 st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? "" :
		 s						 ? s :
								   "?");
	PQclear(r);
	return state;
}

static void run_ok(PGconn *c, const char *sql)
{
	const char *st = run_state(c, sql);

	cr_assert_str_empty(st, "%s: %s %s", sql, st, PQerrorMessage(c));
}

static long pgn(const char *sql)
{
	return strtol(pgq(sql), NULL, 10);
}

/*
 * How many tables named like `like` the store has: in the one database, or
 * summed over the shards (through the coordinator's dblink servers).
 */
static long relations(const char *like)
{
	char sql[1024];

	if (!fx_sharded()) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM pg_class WHERE relname LIKE '%s'"
			 " AND relkind = 'r'",
			 like);
		return pgn(sql);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT sum(n) FROM pg_foreign_server s, dblink(s.srvname, 'SELECT count(*) FROM"
		 " pg_class WHERE relname LIKE ''%s'' AND relkind = ''r''') AS t(n bigint)"
		 " WHERE s.srvname LIKE 'vigil\\_shard\\_%%'",
		 like);
	return pgn(sql);
}

/* Tables of the day ns is in, named TABLE_YYYYMMDD, of `table` ("%" for every event table). */
static long day_tables(const char *table, uint64_t ns)
{
	char iso[VG_ISO_LEN], like[128];

	vg_iso_time(iso, ns);
	snprintf(like, sizeof(like), "%s\\_%.4s%.2s%.2s", table, iso, iso + 5, iso + 8);
	return relations(like);
}

static struct vg_pg *open_migrated(void)
{
	struct vg_pg *pg;
	char why[256];

	cr_assert_eq(vg_pg_open(&pg, conninfo, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(vg_pg_migrate(pg), 0);
	return pg;
}

static char *argv_curl[] = { "curl", "-s", "https://example.com/install.sh" };

/* n process events of dev (host: its HostDeviceId), event i at times[i % nt], packed. */
static void pack(const char *dev, const char *host, uint64_t stream, uint64_t seq,
		 const uint64_t *times, size_t nt, size_t n, uint8_t **payload, size_t *len)
{
	Vigil__V1__Process proc = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	Vigil__V1__Event *evs = calloc(n, sizeof(*evs)), **pevs = calloc(n, sizeof(*pevs));

	cr_assert(evs && pevs);
	proc.pid = 4242;
	proc.ppid = 4200;
	proc.exe = "/usr/bin/curl";
	proc.n_argv = 3;
	proc.argv = argv_curl;
	proc.user = "dev";
	proc.cwd = "/home/dev/src/project";
	proc.start_time_ns = times[0];
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &proc;
	for (size_t i = 0; i < n; i++) {
		vigil__v1__event__init(&evs[i]);
		evs[i].report_id = seq * 100000 + i;
		evs[i].time_ns = times[i % nt] + i * 1000;
		evs[i].body_case = VIGIL__V1__EVENT__BODY_PROCESS;
		evs[i].process = &pe;
		pevs[i] = &evs[i];
	}
	di.device_id = (char *)dev;
	di.device_name = "box";
	di.os_platform = "Linux";
	di.host_device_id = (char *)host;
	b.device = dev ? &di : NULL;
	b.stream_id = stream;
	b.n_events = n;
	b.events = pevs;
	cr_assert_eq(vg_batch_pack(&b, 3, payload, len), 0);
	free(evs);
	free(pevs);
}

/* Store pack()'s batch as frame seq with owner's credential: vg_pg_store_batch(). */
static int store(struct vg_pg *pg, const char *owner, const char *dev, const char *host,
		 uint64_t stream, uint64_t seq, const uint64_t *times, size_t nt, size_t n,
		 char *why)
{
	struct vg_batch v;
	uint8_t *payload;
	size_t len;
	int ret;

	pack(dev, host, stream, seq, times, nt, n, &payload, &len);
	cr_assert_eq(vg_batch_open(&v, payload, len, 1, why, 256), 0, "%s", why);
	ret = vg_pg_store_batch(pg, owner, seq, &v, why, 256);
	vg_batch_close(&v);
	free(payload);
	return ret;
}

/* pack()'s batch of stream 1 framed as vigild sends it, in file name (dev NULL: it names none). */
static void frame_file(const char *name, const char *dev, uint64_t seq, size_t n)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = seq };
	uint8_t hdr[VG_FRAME_HDR_LEN], *payload;
	uint64_t t = vg_now_ns();
	size_t len;
	FILE *f;

	pack(dev, NULL, 1, seq, &t, 1, n, &payload, &len);
	h.len = (uint32_t)len;
	vg_frame_hdr_pack(hdr, &h, payload);
	f = fopen(name, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	cr_assert_eq(fwrite(payload, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	free(payload);
}

static void setup(void)
{
	fx_pg_ca();
}

static void teardown(void)
{
	vg_pg_set_retain_days(0);
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
	fx_cleanup_dir();
}

TestSuite(fleet_store, .init = setup, .fini = teardown);

/* Skip the test when cond: cleaned up first, as a skipped test's .fini does not run. */
#define SKIP_IF(cond, why)                 \
	do {                               \
		if (cond) {                \
			teardown();        \
			cr_skip_test(why); \
		}                          \
	} while (0)

/* A version 1 database (the server before daily partitions) with rows of two days. */
Test(fleet_store, v1_migrates_with_its_rows)
{
	struct vg_pg *pg;
	char plan[4096] = "";
	PGresult *r;
	PGconn *c;

	SKIP_IF(fx_sharded(), "a version 1 database is a single PostgreSQL");
	c = connect_as("postgres");
	run_ok(c, vg_pg_schema_step(1));
	run_ok(c,
	       "CREATE TABLE \"SchemaVersion\" (\"Version\" integer PRIMARY KEY,"
	       " \"Applied\" timestamptz NOT NULL); INSERT INTO \"SchemaVersion\" VALUES (1, now())");
	run_ok(c,
	       "INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\","
	       " \"ProcessCommandLine\") VALUES ('2026-11-01T10:00:00Z', 'd1', 'ProcessCreated',"
	       " 'curl -s https://x'), ('2026-11-02T23:59:59.999Z', 'd1', 'ProcessCreated',"
	       " 'wget y'), ('2026-11-02T00:00:00Z', 'd2', 'ProcessCreated', NULL)");
	run_ok(c,
	       "INSERT INTO \"DeviceNetworkEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\","
	       " \"RemoteIP\") VALUES ('2026-11-03T01:00:00Z', 'd1', 'ConnectionSuccess', '10.1.2.3')");
	run_ok(c, "INSERT INTO \"DeviceInfo\" (\"Timestamp\", \"DeviceId\") VALUES (now(), 'd1')");

	pg = open_migrated();
	vg_pg_close(pg);
	cr_assert_eq(pgn("SELECT max(\"Version\") FROM \"SchemaVersion\""), VG_PG_SCHEMA_VERSION);
	cr_assert_str_eq(pgq("SELECT relkind FROM pg_class WHERE relname = 'DeviceProcessEvents'"),
			 "p");
	/* Every row kept, each in its day's partition. */
	cr_assert_str_eq(pgq("SELECT string_agg(tableoid::regclass || ' ' || \"DeviceId\" || ' ' ||"
			     " coalesce(\"ProcessCommandLine\", '-'), ', ' ORDER BY \"Timestamp\")"
			     " FROM \"DeviceProcessEvents\""),
			 "\"DeviceProcessEvents_20261101\" d1 curl -s https://x,"
			 " \"DeviceProcessEvents_20261102\" d2 -,"
			 " \"DeviceProcessEvents_20261102\" d1 wget y");
	cr_assert_str_eq(pgq("SELECT tableoid::regclass || ' ' || \"RemoteIP\""
			     " FROM \"DeviceNetworkEvents\""),
			 "\"DeviceNetworkEvents_20261103\" 10.1.2.3");
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceInfo\""), 1);
	cr_assert_eq(pgn("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_v1'"), 0);
	/* Each migrated event row has an ingest id of its own, the detector's cursor. */
	cr_assert_eq(pgn("SELECT count(DISTINCT \"IngestId\") FROM \"DeviceProcessEvents\""), 3);
	/* Every event table has every migrated day (15 = 5 tables x 3 days). */
	cr_assert_eq(pgn("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid ="
			 " i.inhrelid WHERE c.relname ~ '_2026110[123]$' AND c.relkind = 'r'"),
		     15);
	/* A second start changes nothing. */
	pg = open_migrated();
	vg_pg_close(pg);
	cr_assert_eq(pgn("SELECT count(*) FROM \"SchemaVersion\""), VG_PG_SCHEMA_VERSION);

	/* The hunters' `has` on the command line (hunt/kql_pg.c's expression) takes the trigrams. */
	run_ok(c, "SET enable_seqscan = off");
	r = PQexec(c,
		   "EXPLAIN SELECT * FROM \"DeviceProcessEvents\" WHERE"
		   " lower(coalesce(CAST(\"ProcessCommandLine\" AS text), '')) ~ 'install\\.sh'");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	for (int i = 0; i < PQntuples(r); i++)
		strncat(plan, PQgetvalue(r, i, 0), sizeof(plan) - strlen(plan) - 1);
	PQclear(r);
	cr_assert_not_null(
		strstr(plan, "Bitmap Index Scan on \"DeviceProcessEvents_20261101_lower_idx\""),
		"%s", plan);
	/* And `contains`, as the translator writes it. */
	{
		static const char *const cols[] = { "Timestamp", "DeviceId", "ProcessCommandLine" };
		const struct vg_kql_table t = { "DeviceProcessEvents", cols, 3 };
		struct vg_kql_query q;
		struct vg_kql_error e;
		char sql[1024];

		cr_assert_eq(vg_kql_translate_for(VG_KQL_PG, &t, 1,
						  "DeviceProcessEvents | where ProcessCommandLine"
						  " contains \"Install.sh\"",
						  0, &q, &e),
			     0, "%s", e.msg);
		snprintf(sql, sizeof(sql), "EXPLAIN %s", q.sql);
		vg_kql_query_free(&q);
		r = PQexec(c, sql);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
		plan[0] = 0;
		for (int i = 0; i < PQntuples(r); i++)
			strncat(plan, PQgetvalue(r, i, 0), sizeof(plan) - strlen(plan) - 1);
		PQclear(r);
		cr_assert_not_null(strstr(plan, "Bitmap Index Scan on"
						" \"DeviceProcessEvents_20261101_lower_idx\""),
				   "%s", plan);
	}
	PQfinish(c);
}

/* Today, ten and forty days ago: each day's partitions made as its first event comes. */
Test(fleet_store, partitions_on_demand_and_retention)
{
	uint64_t now = vg_now_ns(), t[3] = { now, now - 10 * NS_DAY, now - 40 * NS_DAY };
	uint64_t many[40];
	struct vg_pg *pg = open_migrated();
	char why[256], q[512], d40[VG_ISO_LEN];

	cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 1, 1, t, 3, 6, why), 1, "%s", why);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 6);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(day_tables("%", t[i]), 5 * (fx_sharded() ? 2 : 1));
	/* The resend is still exactly once. */
	cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 1, 1, t, 3, 6, why), 0, "%s", why);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 6);

	/* One batch may bring at most 32 new days: refused whole, nothing stored. */
	for (int i = 0; i < 40; i++)
		many[i] = now - (uint64_t)(100 + i) * NS_DAY;
	cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 1, 2, many, 40, 40, why), -EBADMSG);
	cr_assert_not_null(strstr(why, "more than 32 days"), "%s", why);
	cr_assert_eq(pgn("SELECT count(*) FROM \"ReceivedFrames\""), 1);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 6);

	/*
	 * vigil server --retain-days 30: the forty-day-old day goes before it
	 * listens, in every event table, logged and counted.
	 */
	snprintf(q, sizeof(q),
		 "'%s' server --retain-days 0 --pg x --listen x --cert x --key x 2>/dev/null",
		 vigil());
	cr_assert_eq(system(q), 2 << 8);
	server = fork();
	cr_assert_neq(server, -1);
	if (!server) {
		if (!freopen("retain.log", "w", stderr))
			_exit(127);
		execl(vigil(), "vigil", "server", "--pg", conninfo, "--listen",
		      "https://127.0.0.1:0", "--cert", "srv.pem", "--key", "srv.key",
		      "--retain-days", "30", (char *)NULL);
		_exit(127);
	}
	server_port(server, "retain.log");
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 4);
	vg_iso_time(d40, t[2]);
	snprintf(q, sizeof(q),
		 "grep -q 'retention: dropped DeviceProcessEvents of %.10s (2 rows), older than 30"
		 " days' retain.log",
		 d40);
	sh("%s", q);
	snprintf(q, sizeof(q),
		 "SELECT string_agg(\"Table\" || ' ' || \"Rows\", ', ' ORDER BY \"Table\") FROM"
		 " \"RetentionDropped\" WHERE \"Day\" = '%.10s'",
		 d40);
	cr_assert_str_eq(pgq(q), "DeviceEvents 0, DeviceFileEvents 0, DeviceNetworkEvents 0,"
				 " DeviceProcessEvents 2, SuppressedEvents 0");
	/* (With the refused batch's empty days: it made their partitions before it gave up.) */
	cr_assert_eq(pgn("SELECT sum(\"Rows\") FROM \"RetentionDropped\""), 2);
	/* Today's and tomorrow's partitions are there ahead of their events. */
	cr_assert_eq(day_tables("DeviceFileEvents", now + NS_DAY), fx_sharded() ? 2 : 1);
	cr_assert_eq(day_tables("%", t[2]), 0);
	vg_pg_close(pg);
}

/*
 * --retain-days trims ReceivedFrames as it drops the event days: every frame
 * stored before the kept days but each stream's newest, so a batch that names
 * no device still finds its stream's device and a resend of that one is
 * still refused.
 */
Test(fleet_store, received_frames_trimmed_with_the_days)
{
	uint64_t now = vg_now_ns();
	struct vg_pg *pg = open_migrated();
	char why[256];

	for (uint64_t seq = 1; seq <= 3; seq++)
		cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 1, seq, &now, 1, 1, why), 1, "%s",
			     why);
	cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 2, 1, &now, 1, 1, why), 1, "%s", why);
	cr_assert_eq(store(pg, "dev-2", "dev-2", NULL, 1, 9, &now, 1, 1, why), 1, "%s", why);
	/* stored forty days ago, but stream 1's third frame only yesterday */
	pgq("UPDATE \"ReceivedFrames\" SET \"Timestamp\" = now() - interval '40 days'"
	    " RETURNING 1");
	pgq("UPDATE \"ReceivedFrames\" SET \"Timestamp\" = now() - interval '1 day'"
	    " WHERE \"DeviceId\" = 'dev-1' AND \"StreamId\" = 1 AND \"Seq\" = 3 RETURNING 1");
	vg_pg_set_retain_days(30);
	cr_assert_eq(vg_pg_maintain(pg), 0);
	vg_pg_set_retain_days(0);
	cr_assert_str_eq(pgq("SELECT string_agg(\"DeviceId\" || ' ' || \"StreamId\" || ' ' ||"
			     " \"Seq\", ', ' ORDER BY \"DeviceId\", \"StreamId\", \"Seq\")"
			     " FROM \"ReceivedFrames\""),
			 "dev-1 1 3, dev-1 2 1, dev-2 1 9");
	cr_assert_str_eq(pgq("SELECT \"Rows\" FROM \"RetentionDropped\" WHERE \"Table\" ="
			     " 'ReceivedFrames'"),
			 "2");
	/* what is kept still decides */
	cr_assert_eq(store(pg, "dev-1", "dev-1", NULL, 1, 3, &now, 1, 1, why), 0, "%s", why);
	cr_assert_eq(store(pg, "dev-1", NULL, NULL, 1, 4, &now, 1, 1, why), 1, "%s", why);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" ="
			 " 'dev-1'"),
		     5);
	vg_pg_close(pg);
}

/*
 * --retain-days trims SensorFilterHits: the rows of sensor runs that
 * reported nothing since before the kept days, except each device's newest
 * of each rule of each rule list; counted in RetentionDropped.
 */
Test(fleet_store, filter_hits_trimmed_with_the_days)
{
	struct vg_pg *pg = open_migrated();
	/* (device, stream, generation, rule, signature, hits, days ago) */
	static const char rows[] =
		"('dev-1', 1, 1, 0, 'A', 5, 40), ('dev-1', 1, 1, 1, 'A', 6, 40),"
		" ('dev-1', 2, 1, 0, 'A', 2, 1), ('dev-1', 2, 1, 1, 'A', 3, 1),"
		" ('dev-1', 1, 2, 0, 'B', 7, 40),"
		" ('dev-2', 8, 1, 0, 'A', 1, 50), ('dev-2', 9, 1, 0, 'A', 4, 45)";
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO \"SensorFilterHits\" (\"DeviceId\", \"StreamId\", \"Generation\","
		 " \"RuleIndex\", \"Signature\", \"Hits\", \"Timestamp\") SELECT d, s, g, r, sig,"
		 " n, now() - make_interval(days => a) FROM (VALUES %s) AS v(d, s, g, r, sig, n, a)"
		 " RETURNING 1",
		 rows);
	pgq(sql);
	vg_pg_set_retain_days(30);
	cr_assert_eq(vg_pg_maintain(pg), 0);
	cr_assert_eq(vg_pg_maintain(pg), 0, "a second pass trims nothing more");
	vg_pg_set_retain_days(0);
	/* dev-1's first run of A and dev-2's older run go; B's only run and dev-2's newest stay. */
	cr_assert_str_eq(
		pgq("SELECT string_agg(\"DeviceId\" || ' ' || \"Signature\" || ' ' ||"
		    " \"StreamId\" || ' ' || \"RuleIndex\" || ' ' || \"Hits\", ', ' ORDER BY"
		    " \"DeviceId\", \"Signature\", \"StreamId\", \"RuleIndex\") FROM"
		    " \"SensorFilterHits\""),
		"dev-1 A 2 0 2, dev-1 A 2 1 3, dev-1 B 1 0 7, dev-2 A 9 0 4");
	cr_assert_str_eq(pgq("SELECT \"Rows\" FROM \"RetentionDropped\" WHERE \"Table\" ="
			     " 'SensorFilterHits'"),
			 "3");
	vg_pg_close(pg);
}

/*
 * Two servers making the same day at once: the second waits and finds it
 * made. (Through a coordinator each shard's part is its own transaction.)
 */
Test(fleet_store, partition_race_between_two_connections)
{
	struct vg_pg *pg = open_migrated();
	PGconn *a = connect_as("postgres"), *b = connect_as("postgres");
	PGresult *r;

	vg_pg_close(pg);
	run_ok(a, "BEGIN");
	cr_assert_str_eq(PQgetvalue(PQexec(a, "SELECT vigil_partition('2020-02-02')"), 0, 0),
			 fx_sharded() ? "10" : "5");
	cr_assert_eq(PQsendQuery(b, "SELECT vigil_partition('2020-02-02')"), 1);
	/* b waits for a's lock: it has no result before a commits. */
	cr_assert_eq(PQconsumeInput(b), 1);
	if (!fx_sharded())
		cr_assert_eq(PQisBusy(b), 1);
	run_ok(a, "COMMIT");
	r = PQgetResult(b);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(b));
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
	while ((r = PQgetResult(b)))
		PQclear(r);
	PQfinish(a);
	PQfinish(b);
}

/* A WSL instance's Windows host becomes a device of its own, once. */
Test(fleet_store, windows_host_device_row)
{
	uint64_t t = vg_now_ns();
	struct vg_pg *pg = open_migrated();
	char why[256];

	cr_assert_eq(store(pg, "wsl-1", "wsl-1", "win-1", 5, 1, &t, 1, 1, why), 1, "%s", why);
	cr_assert_eq(store(pg, "wsl-1", "wsl-1", "win-1", 6, 1, &t, 1, 1, why), 1, "%s", why);
	cr_assert_str_eq(
		pgq("SELECT string_agg(\"DeviceId\" || ' ' || \"OSPlatform\" || ' ' ||"
		    " \"HostDeviceId\" || ' ' || \"DeviceTags\", ', ' ORDER BY \"DeviceId\")"
		    " FROM \"DeviceInfo\" WHERE \"OSPlatform\" = 'Windows'"),
		"win-1 Windows  []");
	/* The seed's join: the WSL device's host resolves. */
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceInfo\" w JOIN \"DeviceInfo\" h ON"
			     " h.\"DeviceId\" = w.\"HostDeviceId\" WHERE w.\"DeviceId\" = 'wsl-1'"),
			 "2");
	/* A plain Linux device names no host: no row is made for "". */
	cr_assert_eq(store(pg, "lin-1", "lin-1", "", 7, 1, &t, 1, 1, why), 1, "%s", why);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceInfo\" WHERE \"DeviceId\" = ''"), 0);
	vg_pg_close(pg);
}

/* The ingest role writes and cannot read events; the analyst reads and cannot write. */
Test(fleet_store, roles)
{
	uint64_t t[2] = { vg_now_ns(), vg_now_ns() - 3 * NS_DAY };
	struct vg_pg *pg = open_migrated(), *ing;
	PGconn *an, *in;
	char why[256], ci[600], cmd[1024], line[256];
	char *buf = NULL, *ebuf = NULL;
	size_t len = 0, elen = 0;
	FILE *out, *err;
	long rc;

	cr_assert_eq(vg_pg_roles(pg, "vigil_ingest", "vigil_analyst", NULL), 0);
	cr_assert_eq(vg_pg_roles(pg, "vigil_ingest", "vigil_analyst", NULL), 0, "twice is fine");
	vg_pg_close(pg);

	in = connect_as("vigil_ingest");
	cr_assert_str_eq(run_state(in, "SELECT * FROM \"DeviceProcessEvents\""), "42501");
	cr_assert_str_eq(run_state(in, "SELECT * FROM \"DeviceNetworkEvents\""), "42501");
	cr_assert_str_eq(run_state(in, "DELETE FROM \"ReceivedFrames\""), "42501");
	cr_assert_str_eq(run_state(in, "DROP TABLE \"DeviceEvents\""), "42501");
	PQfinish(in);

	/* The server's path with the ingest role: a batch, a new day's partitions, the host row. */
	snprintf(ci, sizeof(ci), "%s", conninfo);
	*strstr(ci, "user=postgres") = 0;
	strcat(ci, "user=vigil_ingest");
	cr_assert_eq(vg_pg_open(&ing, ci, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(vg_pg_migrate(ing), 0, "an up-to-date schema asks nothing of the role");
	cr_assert_eq(store(ing, "wsl-9", "wsl-9", "win-9", 1, 1, t, 2, 4, why), 1, "%s", why);
	cr_assert_eq(store(ing, "wsl-9", "wsl-9", "win-9", 1, 1, t, 2, 4, why), 0, "%s", why);
	/* and --retain-days' every trim (SECURITY DEFINER functions granted to it alone) */
	vg_pg_set_retain_days(30);
	cr_assert_eq(vg_pg_maintain(ing), 0, "retention as the ingest role");
	vg_pg_set_retain_days(0);
	vg_pg_close(ing);
	cr_assert_eq(pgn("SELECT count(*) FROM \"DeviceProcessEvents\""), 4);

	an = connect_as("vigil_analyst");
	cr_assert_str_empty(run_state(an, "SELECT * FROM \"DeviceProcessEvents\""));
	cr_assert_str_empty(
		run_state(an, "SELECT \"DeviceId\", \"Revoked\" FROM \"EnrolledDevices\""));
	cr_assert_str_eq(run_state(an, "SELECT \"TokenHash\" FROM \"EnrolledDevices\""), "42501");
	cr_assert_str_eq(run_state(an, "SELECT * FROM \"ServerSecrets\""), "42501");
	cr_assert_str_eq(run_state(an, "INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\","
				       " \"DeviceId\", \"ActionType\") VALUES (now(), 'x', 'y')"),
			 "42501");
	cr_assert_str_eq(run_state(an, "DELETE FROM \"DeviceInfo\""), "42501");
	cr_assert_str_eq(run_state(an, "SELECT vigil_retain(0)"), "42501");
	cr_assert_str_eq(run_state(an, "SELECT vigil_retain_filter_hits(0)"), "42501");
	cr_assert_str_eq(run_state(an, "SELECT vigil_partition('2020-01-01')"), "42501");
	PQfinish(an);

	/* Hunting with the analyst role: the translator's SQL, rows of the fleet. */
	*strstr(ci, "user=vigil_ingest") = 0;
	strcat(ci, "user=vigil_analyst");
	out = open_memstream(&buf, &len);
	err = open_memstream(&ebuf, &elen);
	rc = vg_hunt_run_pg(ci,
			    "DeviceProcessEvents | where ProcessCommandLine has 'install.sh'"
			    " | summarize n = count() by DeviceId",
			    "q", VG_HUNT_CSV, out, err);
	fclose(out);
	fclose(err);
	cr_assert_geq(rc, 0, "%ld: %s", rc, ebuf);
	cr_assert_not_null(strstr(buf, "wsl-9,4"), "%s", buf);
	free(buf);
	free(ebuf);

	/* vigil server itself starts and serves with the ingest role. */
	snprintf(conninfo, sizeof(conninfo), "%s", ci);
	*strstr(conninfo, "user=vigil_analyst") = 0;
	strcat(conninfo, "user=vigil_ingest");
	server = spawn_server("ingest.log");
	port = server_port(server, "ingest.log");
	snprintf(cmd, sizeof(cmd), "curl -s --cacert ca.pem https://127.0.0.1:%d/v1/health", port);
	sh_line(line, sizeof(line), cmd);
	cr_assert_str_eq(line, "{\"status\":\"ok\",\"database\":\"ok\"}");
	kill(server, SIGTERM);
	cr_assert_eq(waitpid(server, NULL, 0), server);
	server = -1;
}

#define FRAME "application/vnd.vigil.frame"

/* A device id of the shard with remainder r (of two). */
static void device_of_shard(char *dev, size_t size, int r)
{
	char sql[256];

	for (int i = 0; i < 100; i++) {
		snprintf(dev, size, "dev-%d", i);
		snprintf(sql, sizeof(sql),
			 "SELECT satisfies_hash_partition('\"ReceivedFrames\"'::regclass, 2, %d,"
			 " '%s'::text)",
			 r, dev);
		if (!strcmp(pgq(sql), "t"))
			return;
	}
	cr_assert_fail("no device of shard %d", r);
}

/*
 * One shard stopped for 60 s: its device's batch gets 503 with Retry-After
 * and is stored once when the shard is back; the other shard's device's
 * batches are stored all along.
 */
Test(fleet_store, a_stopped_shard_loses_nothing)
{
	char a[32], b[32], tok_a[VG_FX_TOKEN], tok_b[VG_FX_TOKEN], name[64], q[256];

	SKIP_IF(!fx_sharded(), "a topology with shards (VG_FLEET_SHARDS=2)");
	/* fx_server_onboard() without its fx_pg_ca(): setup() made the clusters. */
	server = spawn_server("server.log");
	port = server_port(server, "server.log");
	sh("'%s' server onboard --pg '%s' --url https://127.0.0.1:%d --ca ca.pem --out ob.txt"
	   " >/dev/null",
	   vigil(), conninfo, port);
	device_of_shard(a, sizeof(a), 0);
	device_of_shard(b, sizeof(b), 1);
	fx_enroll(a, tok_a);
	fx_enroll(b, tok_b);
	frame_file("b1.frame", b, 1, 7);
	sh("'%s/scripts/pgtest.sh' stop '%s/pg/shard1'", srcdir(), dir);
	for (int s = 1; s <= 60; s++) {
		snprintf(name, sizeof(name), "a%d.frame", s);
		frame_file(name, a, (uint64_t)s, 5);
		cr_assert_eq(fx_post("/v1/batches", name, tok_a, FRAME), 200, "batch %d of %s", s,
			     a);
		sh("grep -q '{\"stored\":true}' resp.txt");
		if (s % 10 == 1) {
			cr_assert_eq(fx_post("/v1/batches", "b1.frame", tok_b, FRAME), 503);
			sh("grep -qi '^Retry-After: [0-9]' resp.hdr");
		}
		sleep(1);
	}
	/* vigild's later batches name no device: found on the device's own shard. */
	frame_file("a61.frame", NULL, 61, 5);
	cr_assert_eq(fx_post("/v1/batches", "a61.frame", tok_a, FRAME), 200);
	sh("grep -q '{\"stored\":true}' resp.txt");
	sh("'%s/scripts/pgtest.sh' resume '%s/pg/shard1'", srcdir(), dir);
	cr_assert_eq(fx_post("/v1/batches", "b1.frame", tok_b, FRAME), 200);
	sh("grep -q '{\"stored\":true}' resp.txt");
	cr_assert_eq(fx_post("/v1/batches", "b1.frame", tok_b, FRAME), 200);
	sh("grep -q '{\"stored\":false}' resp.txt");
	snprintf(q, sizeof(q),
		 "SELECT string_agg(\"DeviceId\" || ' ' || n, ', ' ORDER BY \"DeviceId\") FROM"
		 " (SELECT \"DeviceId\", count(*) n FROM \"DeviceProcessEvents\" GROUP BY 1) x");
	snprintf(name, sizeof(name), "%s 305, %s 7", a, b);
	if (strcmp(a, b) > 0)
		snprintf(name, sizeof(name), "%s 7, %s 305", b, a);
	cr_assert_str_eq(pgq(q), name);
	cr_assert_eq(pgn("SELECT count(*) FROM \"ReceivedFrames\""), 62);
}

/*
 * The bytes an event takes in PostgreSQL (heap, TOAST and indexes of the
 * event tables' partitions) after 30000 events stored through the ingest path
 * as a developer workstation sends them: 60% execs (ProcessCreated, with
 * parent and AdditionalFields), 30% connections, 10% file events, paths and
 * command lines of the lengths such a machine has. README "Fleet server"
 * has the capacity table made from it.
 */
Test(fleet_store, bytes_per_event)
{
	static char *argv_make[] = { "cc",	    "-O2", "-g", "-Wall",
				     "-Iinclude",   "-c",  "-o", "build/obj/src/parser.o",
				     "src/parser.c" };
	enum { N = 30000, PER = 250 };
	Vigil__V1__Process pr = VIGIL__V1__PROCESS__INIT, pa = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__NetworkEvent ne = VIGIL__V1__NETWORK_EVENT__INIT;
	Vigil__V1__FileEvent fe = VIGIL__V1__FILE_EVENT__INIT;
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__NetworkEvent nes[PER];
	Vigil__V1__FileEvent fes[PER];
	Vigil__V1__Event evs[PER], *pevs[PER];
	struct vg_pg *pg;
	uint64_t now = vg_now_ns();
	char why[256], ip[PER][16], path[PER][96];
	long bytes, idx;

	SKIP_IF(fx_sharded(), "measured on one PostgreSQL");
	pg = open_migrated();
	pr.pid = 31337;
	pr.ppid = 31000;
	pr.exe = "/usr/lib/gcc/x86_64-linux-gnu/12/cc1";
	pr.argv = argv_make;
	pr.n_argv = 9;
	pr.cwd = "/home/developer/src/project";
	pr.user = "developer";
	pr.uid = 1000;
	pa = pr;
	pa.exe = "/usr/bin/make";
	pa.n_argv = 2;
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &pr;
	pe.parent = &pa;
	pe.grandparent_exe = "/usr/bin/bash";
	ne.action_type = "ConnectionSuccess";
	ne.process = &pr;
	ne.parent = &pa;
	ne.protocol = "Tcp";
	ne.local_ip = "172.20.14.3";
	ne.local_port = 48122;
	ne.remote_port = 443;
	fe.action_type = "FileCreated";
	fe.process = &pr;
	fe.parent = &pa;
	di.device_id = "dev-capacity";
	di.device_name = "DESKTOP-4K2J9QF";
	di.os_platform = "Linux";
	for (int s = 0; s < N / PER; s++) {
		Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
		struct vg_batch v;
		uint8_t *payload;
		size_t len;

		for (int i = 0; i < PER; i++) {
			int k = s * PER + i;

			vigil__v1__event__init(&evs[i]);
			evs[i].report_id = (uint64_t)k;
			evs[i].time_ns = now - (uint64_t)(N - k) * 1000000ull;
			if (k % 10 < 6) {
				evs[i].body_case = VIGIL__V1__EVENT__BODY_PROCESS;
				evs[i].process = &pe;
			} else if (k % 10 < 9) {
				snprintf(ip[i], sizeof(ip[i]), "140.82.%d.%d", k % 250, k % 97);
				nes[i] = ne;
				nes[i].remote_ip = ip[i];
				evs[i].body_case = VIGIL__V1__EVENT__BODY_NETWORK;
				evs[i].network = &nes[i];
			} else {
				snprintf(path[i], sizeof(path[i]),
					 "/home/developer/src/project/build/obj/src/unit_%05d.o",
					 k);
				fes[i] = fe;
				fes[i].path = path[i];
				evs[i].body_case = VIGIL__V1__EVENT__BODY_FILE;
				evs[i].file = &fes[i];
			}
			pevs[i] = &evs[i];
		}
		b.device = s ? NULL : &di;
		b.stream_id = 9;
		b.events = pevs;
		b.n_events = PER;
		cr_assert_eq(vg_batch_pack(&b, 3, &payload, &len), 0);
		cr_assert_eq(vg_batch_open(&v, payload, len, 1, why, sizeof(why)), 0, "%s", why);
		cr_assert_eq(vg_pg_store_batch(pg, "dev-capacity", (uint64_t)s + 1, &v, why,
					       sizeof(why)),
			     1, "%s", why);
		vg_batch_close(&v);
		free(payload);
	}
	vg_pg_close(pg);
	cr_assert_eq(pgn("SELECT (SELECT count(*) FROM \"DeviceProcessEvents\") + (SELECT count(*)"
			 " FROM \"DeviceNetworkEvents\") + (SELECT count(*) FROM"
			 " \"DeviceFileEvents\")"),
		     N);
	bytes = pgn(
		"SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i JOIN"
		" pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('DeviceProcessEvents',"
		" 'DeviceFileEvents', 'DeviceNetworkEvents', 'DeviceEvents', 'SuppressedEvents')");
	idx = pgn(
		"SELECT sum(pg_indexes_size(i.inhrelid)) FROM pg_inherits i JOIN"
		" pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('DeviceProcessEvents',"
		" 'DeviceFileEvents', 'DeviceNetworkEvents', 'DeviceEvents', 'SuppressedEvents')");
	fprintf(stderr, "fleet_store: %d events: %ld bytes, %ld per event (%ld in indexes)\n", N,
		bytes, bytes / N, idx / N);
	/* A row is hundreds of bytes: a kilobyte or more means something is stored twice. */
	cr_assert(bytes / N > 100 && bytes / N < 1000, "%ld bytes per event", bytes / N);
}
