// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL subset: every construct translated and run on a real SQLite store
 * (the store's own schema), malformed queries with their line:column.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "hunt.h"
#include "kql.h"
#include "store.h"

static char dir[64], dbpath[128];
static struct vg_store *st;
static sqlite3 *db;

static void exec_sql(const char *sql)
{
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-kql-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	db = vg_store_db(st);
	exec_sql("INSERT INTO DeviceInfo (Timestamp, DeviceId, OSPlatform, HostDeviceId) VALUES"
		 " ('2026-01-01T00:00:00.000Z', 'wsl1', 'Linux', 'win1'),"
		 " ('2026-01-01T00:00:01.000Z', 'lin1', 'Linux', ''),"
		 " ('2026-01-01T00:00:02.000Z', 'wsl1', 'Linux', 'win1'),"
		 " ('2026-01-01T00:00:03.000Z', 'win9', 'Windows', NULL)");
	exec_sql("INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, ReportId,"
		 " FileName, FolderPath, ProcessId, ProcessCommandLine, AccountUid) VALUES"
		 " ('2026-01-01T00:00:10.000Z', 'wsl1', 'ProcessCreated', 1, 'curl',"
		 "  '/usr/bin/curl', 100, 'curl -o /tmp/x http://Example.com/a', 0),"
		 " ('2026-01-01T00:00:11.000Z', 'wsl1', 'ProcessCreated', 2, 'wget',"
		 "  '/usr/bin/wget', 101, 'wget http://example.com/b', 1000),"
		 " ('2026-01-01T00:00:12.000Z', 'lin1', 'ProcessCreated', 1, 'curl',"
		 "  '/usr/bin/curl', 200, 'curl https://example.org', 1000),"
		 " ('2026-01-01T00:00:13.000Z', 'lin1', 'ProcessCreated', 2, 'wget',"
		 "  '/usr/bin/wget', 201, 'wget -q x', 0),"
		 " ('2026-01-01T00:00:14.000Z', 'wsl1', 'ProcessTerminated', 3, 'curl',"
		 "  '/usr/bin/curl', 100, NULL, 0),"
		 " ('2026-01-01T00:00:15.000Z', 'wsl1', 'ProcessCreated', 4, 'Curlish',"
		 "  '/opt/Curlish', 102, 'Curlish --version', 0),"
		 " ('2026-01-01T00:00:16.000Z', 'lin1', 'ProcessCreated', 3, NULL,"
		 "  NULL, 202, NULL, 0)");
}

static void teardown(void)
{
	char cmd[160];

	vg_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

/* Run q as CSV; the output (rows joined by '\n', header first) or the error text. */
static char *run(const char *q, long *rows)
{
	char *out = NULL, *err = NULL;
	size_t ol = 0, el = 0;
	FILE *fo = open_memstream(&out, &ol), *fe = open_memstream(&err, &el);
	long n = vg_hunt_run(db, q, "q", VG_HUNT_CSV, fo, fe);

	fclose(fo);
	fclose(fe);
	if (rows)
		*rows = n;
	if (n < 0) {
		free(out);
		return err;
	}
	free(err);
	/* CSV lines end in \r\n: keep the \n only, for readable expectations. */
	for (char *s = out, *d = out;; s++) {
		if (*s != '\r')
			*d++ = *s;
		if (!*s)
			break;
	}
	return out;
}

static void expect(const char *q, const char *want)
{
	long n;
	char *got = run(q, &n);

	cr_assert_geq(n, 0, "query failed: %s\n%s", q, got);
	cr_expect_str_eq(got, want, "query: %s\nwant:\n%sgot:\n%s", q, want, got);
	free(got);
}

/* A malformed query: -EINVAL and the message starts with "q:line:col: msg". */
static void expect_error(const char *q, const char *where_msg, const char *caret_line)
{
	long n;
	char *got = run(q, &n);
	char want[256];

	cr_assert_eq(n, -EINVAL, "query should fail: %s\ngot: %s", q, got);
	snprintf(want, sizeof(want), "q:%s", where_msg);
	cr_expect_eq(strncmp(got, want, strlen(want)), 0, "query: %s\nwant: %sgot: %s", q, want,
		     got);
	if (caret_line)
		cr_expect_not_null(strstr(got, caret_line), "no caret line '%s' in:\n%s",
				   caret_line, got);
	free(got);
}

TestSuite(kql, .init = setup, .fini = teardown);

Test(kql, schema_query_1_wsl_endpoints)
{
	expect("let wsl_endpoints = DeviceInfo\n"
	       "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	       "| distinct DeviceId;\n"
	       "wsl_endpoints",
	       "DeviceId\nwsl1\n");
}

Test(kql, schema_query_2_distinct_rename)
{
	expect("DeviceInfo\n"
	       "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	       "| distinct WSLDeviceId=DeviceId, HostDeviceId",
	       "WSLDeviceId,HostDeviceId\nwsl1,win1\n");
}

Test(kql, schema_query_3_curl_wget_on_wsl)
{
	expect("let wsl_endpoints = DeviceInfo\n"
	       "| where OSPlatform == \"Linux\" and isempty(HostDeviceId) != true\n"
	       "| distinct DeviceId;\n"
	       "DeviceProcessEvents\n"
	       "| where FileName == \"curl\" or FileName == \"wget\"\n"
	       "| where DeviceId in (wsl_endpoints)\n"
	       "| sort by Timestamp desc\n"
	       "| project ReportId, ActionType, FileName",
	       "ReportId,ActionType,FileName\n3,ProcessTerminated,curl\n2,ProcessCreated,wget\n"
	       "1,ProcessCreated,curl\n");
}

Test(kql, where_equality_is_case_sensitive_and_tilde_is_not)
{
	expect("DeviceProcessEvents | where FileName == \"curlish\" | count", "Count\n0\n");
	expect("DeviceProcessEvents | where FileName =~ \"curlish\" | count", "Count\n1\n");
	expect("DeviceProcessEvents | where FileName !~ \"CURL\" | count", "Count\n4\n");
	/* a NULL FileName is "" and so differs from "curl" */
	expect("DeviceProcessEvents | where FileName != \"curl\" | count", "Count\n4\n");
	expect("DeviceProcessEvents | where FileName == \"\" | project ProcessId",
	       "ProcessId\n202\n");
}

Test(kql, string_operators)
{
	expect("DeviceProcessEvents | where ProcessCommandLine has \"example\" | count",
	       "Count\n3\n");
	/* has matches terms, contains substrings */
	expect("DeviceProcessEvents | where ProcessCommandLine has \"exam\" | count", "Count\n0\n");
	expect("DeviceProcessEvents | where ProcessCommandLine contains \"exam\" | count",
	       "Count\n3\n");
	expect("DeviceProcessEvents | where ProcessCommandLine contains_cs \"Example\" | count",
	       "Count\n1\n");
	expect("DeviceProcessEvents | where ProcessCommandLine has_cs \"example\" | count",
	       "Count\n2\n");
	expect("DeviceProcessEvents | where FolderPath startswith \"/USR/\" | count", "Count\n5\n");
	expect("DeviceProcessEvents | where FolderPath startswith_cs \"/USR/\" | count",
	       "Count\n0\n");
	expect("DeviceProcessEvents | where FolderPath endswith \"get\" | count", "Count\n2\n");
	expect("DeviceProcessEvents | where FolderPath !endswith \"get\" | count", "Count\n5\n");
	expect("DeviceProcessEvents | where ProcessCommandLine !has \"example\" | count",
	       "Count\n4\n");
	expect("DeviceProcessEvents | where ProcessCommandLine !contains \"http\" | count",
	       "Count\n4\n");
	expect("DeviceProcessEvents | where FolderPath !startswith \"/usr\" | count", "Count\n2\n");
}

Test(kql, in_lists_and_tables)
{
	expect("DeviceProcessEvents | where FileName in (\"curl\", \"wget\") | count",
	       "Count\n5\n");
	expect("DeviceProcessEvents | where FileName !in (\"curl\", \"wget\") | count",
	       "Count\n2\n");
	expect("DeviceProcessEvents | where FileName in~ (\"CURLISH\") | project ProcessId",
	       "ProcessId\n102\n");
	expect("DeviceProcessEvents | where ProcessId in (100, 201) | distinct ProcessId"
	       " | sort by ProcessId asc",
	       "ProcessId\n100\n201\n");
	expect("DeviceProcessEvents | where DeviceId !in (DeviceInfo | where HostDeviceId == \"\""
	       " | project DeviceId) | distinct DeviceId",
	       "DeviceId\nwsl1\n");
}

Test(kql, logic_and_comparisons)
{
	expect("DeviceProcessEvents | where ProcessId > 100 and ProcessId <= 201"
	       " and not(FileName == \"wget\") | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n102\n200\n");
	expect("DeviceProcessEvents | where ProcessId < 101 or ProcessId >= 202"
	       " | project ProcessId, ActionType | sort by ProcessId asc, ActionType asc",
	       "ProcessId,ActionType\n100,ProcessCreated\n100,ProcessTerminated\n202,"
	       "ProcessCreated\n");
	expect("DeviceProcessEvents | where isnotempty(ProcessCommandLine) and AccountUid != 0"
	       " | count",
	       "Count\n2\n");
	expect("DeviceProcessEvents | where isempty(FileName) | project ProcessId",
	       "ProcessId\n202\n");
	expect("DeviceProcessEvents | where (ProcessId + 1) * 2 == 202 | project ProcessId",
	       "ProcessId\n100\n100\n");
}

Test(kql, ago_and_scalar_lets)
{
	exec_sql("INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, FileName)"
		 " VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-10 minutes'), 'wsl1',"
		 " 'ProcessCreated', 'recent')");
	expect("DeviceProcessEvents | where Timestamp > ago(1h) | project FileName",
	       "FileName\nrecent\n");
	expect("DeviceProcessEvents | where Timestamp > ago(5m) | count", "Count\n0\n");
	expect("let window = 2h; let who = \"recent\";\n"
	       "DeviceProcessEvents | where Timestamp > ago(window) and FileName == who | count",
	       "Count\n1\n");
	expect("let n = 2; DeviceProcessEvents | where isnotnull(ProcessId) | sort by ProcessId asc"
	       " | take n | project ProcessId",
	       "ProcessId\n100\n100\n");
}

Test(kql, project_extend_distinct)
{
	expect("DeviceProcessEvents | where ProcessId == 101 | project Pid = ProcessId, FileName,"
	       " Up = toupper(FileName), strlen(FileName)",
	       "Pid,FileName,Up,Column1\n101,wget,WGET,4\n");
	expect("DeviceProcessEvents | where ProcessId == 101 | extend FileName = strcat(FileName,"
	       " \"!\"), Twice = ProcessId * 2 | project FileName, Twice, ReportId",
	       "FileName,Twice,ReportId\nwget!,202,2\n");
	expect("DeviceProcessEvents | distinct DeviceId | sort by DeviceId asc",
	       "DeviceId\nlin1\nwsl1\n");
	expect("DeviceInfo | distinct * | count", "Count\n4\n");
}

Test(kql, summarize_sort_take_top_count)
{
	expect("DeviceProcessEvents | where ActionType == \"ProcessCreated\""
	       " | summarize count() by DeviceId | sort by DeviceId asc",
	       "DeviceId,count_\nlin1,3\nwsl1,3\n");
	expect("DeviceProcessEvents | summarize n = count(), pids = dcount(ProcessId),"
	       " top = max(ProcessId), c = countif(FileName == \"curl\") by DeviceId"
	       " | order by n desc, DeviceId asc",
	       "DeviceId,n,pids,top,c\nwsl1,4,3,102,2\nlin1,3,3,202,1\n");
	expect("DeviceProcessEvents | summarize count()", "count_\n7\n");
	expect("DeviceProcessEvents | top 2 by ProcessId | project ProcessId",
	       "ProcessId\n202\n201\n");
	expect("DeviceProcessEvents | top 1 by ProcessId asc | project ProcessId",
	       "ProcessId\n100\n");
	expect("DeviceProcessEvents | sort by ProcessId | limit 1 | project ProcessId",
	       "ProcessId\n202\n");
	/* desc puts empty values last, asc first */
	expect("DeviceProcessEvents | where ProcessId > 200 | sort by FileName | project ProcessId",
	       "ProcessId\n201\n202\n");
	expect("DeviceProcessEvents | where ProcessId > 200 | sort by FileName asc"
	       " | project ProcessId",
	       "ProcessId\n202\n201\n");
	expect("DeviceProcessEvents | count", "Count\n7\n");
}

Test(kql, comments_strings_and_multiple_lets)
{
	expect("// the curl runs\n"
	       "let a = DeviceProcessEvents | where FileName == 'curl';  // single quotes\n"
	       "let b = a | where DeviceId == @\"wsl1\";\n"
	       "b | where ProcessCommandLine has \"o\" | project ProcessId",
	       "ProcessId\n100\n");
	expect("DeviceProcessEvents | where ProcessCommandLine == \"wget -q x\" | project ProcessId",
	       "ProcessId\n201\n");
}

Test(kql, sql_is_never_injected)
{
	expect("DeviceProcessEvents | where FileName == \"x'; DROP TABLE DeviceInfo; --\" | count",
	       "Count\n0\n");
	expect("DeviceInfo | count", "Count\n4\n");
}

Test(kql, malformed_queries_report_line_and_column)
{
	expect_error("DeviceProcessEvents | where Foo == 1", "1:29: unknown column 'Foo'",
		     "                            ^");
	expect_error("NoSuchTable | take 1", "1:1: unknown table 'NoSuchTable'", NULL);
	expect_error("DeviceInfo\n| lookup (DeviceProcessEvents) on DeviceId",
		     "2:3: unsupported operator 'lookup'", "  | lookup");
	expect_error("DeviceInfo | mv-expand x", "1:14: unsupported operator 'mv-expand'", NULL);
	expect_error("DeviceInfo | frobnicate", "1:14: unknown operator 'frobnicate'", NULL);
	expect_error("DeviceInfo | where DeviceId == \"x", "1:32: unterminated string", NULL);
	expect_error("DeviceInfo | where DeviceId = \"x\"",
		     "1:29: '=' is not a comparison: use '=='", NULL);
	expect_error("DeviceInfo | where DeviceId like \"x\"", "1:29: unsupported operator 'like'",
		     NULL);
	expect_error("DeviceInfo | where", "1:19: where needs a condition", NULL);
	expect_error("DeviceInfo | take x", "1:19: take needs a row count (a whole number)", NULL);
	expect_error("DeviceInfo | where ago(5) > 1",
		     "1:20: ago() needs a timespan such as 1h or 30m", NULL);
	expect_error("DeviceInfo | where Timestamp > 1h",
		     "1:30: a timespan is supported only in ago(), bin(), between and added to"
		     " or subtracted from a datetime",
		     NULL);
	expect_error("DeviceInfo | where Timestamp > ago(3weeks)",
		     "1:37: unknown timespan unit 'weeks'", NULL);
	expect_error("DeviceInfo | where frob(DeviceId)", "1:20: unsupported function 'frob'",
		     NULL);
	expect_error("DeviceInfo | where count() > 1",
		     "1:20: count() is an aggregation: use it in summarize", NULL);
	expect_error("DeviceInfo | summarize percentile(DeviceId, 5)",
		     "1:24: unsupported aggregation 'percentile'", NULL);
	expect_error("DeviceInfo | project DeviceId, DeviceId",
		     "1:32: duplicate column name"
		     " 'DeviceId'",
		     NULL);
	expect_error("let x = DeviceInfo;", "1:20: no query to run (only let statements)", NULL);
	expect_error("let x = DeviceInfo", "1:19: the query ends after a let statement", NULL);
	expect_error("DeviceInfo | where (DeviceId == \"a\"", "1:36: expected ')' to close '('",
		     NULL);
	expect_error("DeviceInfo | where DeviceId == $", "1:32: unexpected character '$'", NULL);
	expect_error("DeviceInfo\n  | take 1\n  | sort DeviceId", "3:10: expected 'by' after sort",
		     "         ^");
	expect_error("DeviceInfo | take 1; DeviceInfo",
		     "1:22: only one query statement is supported", NULL);
	expect_error("DeviceInfo | where 1 < 2 < 3",
		     "1:26: comparisons do not chain: use parentheses", NULL);
	expect_error("DeviceInfo | where DeviceId == \"\\q\"",
		     "1:33: unknown escape sequence in string", NULL);
	expect_error("", "1:1: no query to run", NULL);
}

Test(kql, deep_nesting_is_an_error_not_a_crash)
{
	char q[4096];
	size_t n = 0;

	n += (size_t)snprintf(q, sizeof(q), "DeviceInfo | where ");
	for (int i = 0; i < 500; i++)
		q[n++] = '(';
	q[n] = 0;
	expect_error(q, "1:", NULL);
}

Test(kql, bounded_source_for_rules)
{
	struct vg_kql_query q;
	struct vg_kql_error e;

	cr_assert_eq(vg_kql_translate(db, "DeviceProcessEvents | where FileName == \"wget\"",
				      VG_KQL_BOUNDED, &q, &e),
		     0, "%s", e.msg);
	cr_assert_str_eq(q.source, "DeviceProcessEvents");
	cr_assert_str_eq(q.cols[0], "_rid");
	{
		sqlite3_stmt *s;
		int n = 0;

		cr_assert_eq(sqlite3_prepare_v2(db, q.sql, -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_int64(s, 1, 2); /* rows 3.. : only lin1's wget */
		sqlite3_bind_int64(s, 2, 7);
		while (sqlite3_step(s) == SQLITE_ROW) {
			cr_expect_eq(sqlite3_column_int64(s, 0), 4);
			n++;
		}
		sqlite3_finalize(s);
		cr_expect_eq(n, 1);
	}
	vg_kql_query_free(&q);
}

Test(kql, output_formats)
{
	char *out = NULL, *err = NULL;
	size_t ol = 0, el = 0;
	FILE *fo = open_memstream(&out, &ol), *fe = open_memstream(&err, &el);

	cr_assert_eq(vg_hunt_run(db,
				 "DeviceProcessEvents | where ProcessId == 100 and "
				 "isnotempty(ProcessCommandLine) | project ProcessId, "
				 "ProcessCommandLine, X = 1.5",
				 "q", VG_HUNT_JSON, fo, fe),
		     1);
	fclose(fo);
	cr_expect_str_eq(out, "{\"ProcessId\":100,\"ProcessCommandLine\":\"curl -o /tmp/x "
			      "http://Example.com/a\",\"X\":1.5}\n");
	free(out);
	fo = open_memstream(&out, &ol);
	cr_assert_eq(vg_hunt_run(db,
				 "DeviceInfo | where DeviceId == \"lin1\" | project DeviceId,"
				 " OSPlatform",
				 "q", VG_HUNT_TABLE, fo, fe),
		     1);
	fclose(fo);
	cr_expect_str_eq(out, "DeviceId  OSPlatform\n--------  ----------\nlin1      Linux\n");
	free(out);
	fo = open_memstream(&out, &ol);
	cr_assert_eq(vg_hunt_run(db, "DeviceInfo | take 1 | project a = \"x,\\\"y\"", "q",
				 VG_HUNT_CSV, fo, fe),
		     1);
	fclose(fo);
	cr_expect_str_eq(out, "a\r\n\"x,\"\"y\"\r\n");
	free(out);
	fclose(fe);
	free(err);
}

/* ---- join, union, arg_max, lists, regex, time: the KQL of published hunting queries */

/* Rows of the other event tables for the correlating queries. */
static void more_events(void)
{
	exec_sql("INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, ActionType, ReportId,"
		 " RemoteIP, RemotePort, InitiatingProcessId, InitiatingProcessFileName) VALUES"
		 " ('2026-01-01T00:00:30.000Z', 'wsl1', 'ConnectionSuccess', 10, '10.0.0.9', 4444,"
		 "  101, 'wget'),"
		 " ('2026-01-01T00:00:31.000Z', 'lin1', 'ConnectionSuccess', 11, '10.0.0.8', 443,"
		 "  200, 'curl'),"
		 " ('2026-01-02T00:00:31.000Z', 'lin1', 'ConnectionSuccess', 12, '10.0.0.7', 1337,"
		 "  200, 'curl')");
	exec_sql(
		"INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
		" FolderPath, InitiatingProcessId) VALUES"
		" ('2026-01-01T00:00:20.000Z', 'wsl1', 'FileCreated', 20, 'x', '/tmp/x', 100),"
		" ('2026-01-01T00:00:21.000Z', 'lin1', 'FileCreated', 21, 'y', '/var/log/y', 200),"
		" ('2026-01-01T00:00:22.000Z', 'lin1', 'FileModified', 22, 'z', '/dev/shm/z', 201)");
}

Test(kql, join_kinds)
{
	expect("DeviceProcessEvents | where FileName == \"wget\"\n"
	       "| join kind=inner (DeviceInfo | where Timestamp > datetime(2026-01-01T00:00:00.5Z)\n"
	       "  | project DeviceId, HostDeviceId) on DeviceId\n"
	       "| project ProcessId, DeviceId, DeviceId1, HostDeviceId | sort by ProcessId asc",
	       "ProcessId,DeviceId,DeviceId1,HostDeviceId\n101,wsl1,wsl1,win1\n201,lin1,lin1,\n");
	/* leftouter keeps the left rows without a match, their right columns empty */
	expect("DeviceInfo | join kind=leftouter (DeviceProcessEvents"
	       " | where ActionType == \"ProcessTerminated\")"
	       " on $left.DeviceId == $right.DeviceId | project DeviceId, ProcessId"
	       " | sort by DeviceId asc",
	       "DeviceId,ProcessId\nlin1,\nwin9,\nwsl1,100\nwsl1,100\n");
	expect("DeviceInfo | join kind=leftsemi (DeviceProcessEvents | where FileName == \"Curlish\")"
	       " on DeviceId | project Timestamp | sort by Timestamp asc",
	       "Timestamp\n2026-01-01T00:00:00.000Z\n2026-01-01T00:00:02.000Z\n");
	expect("DeviceInfo | join kind=leftanti DeviceProcessEvents on DeviceId | project DeviceId",
	       "DeviceId\nwin9\n");
	expect("DeviceInfo | join kind=rightanti (DeviceProcessEvents) on DeviceId | count",
	       "Count\n0\n");
	/* Kusto's default (innerunique) keeps one left row per key; inner keeps them all */
	expect("DeviceInfo | join (DeviceProcessEvents | where ProcessId == 100) on DeviceId | count",
	       "Count\n2\n");
	expect("DeviceInfo | join kind=inner (DeviceProcessEvents | where ProcessId == 100)"
	       " on DeviceId | count",
	       "Count\n4\n");
	/* two keys, and a key with different names on the two sides */
	expect("DeviceProcessEvents | join kind=inner hint.strategy=shuffle (DeviceProcessEvents\n"
	       "  | where ActionType == \"ProcessTerminated\" | project Dev = DeviceId, ProcessId,"
	       " Ended = Timestamp)\n"
	       "  on $left.DeviceId == $right.Dev, ProcessId | project ReportId, Ended"
	       " | sort by ReportId asc",
	       "ReportId,Ended\n1,2026-01-01T00:00:14.000Z\n3,2026-01-01T00:00:14.000Z\n");
}

Test(kql, union_of_tables_and_subqueries)
{
	expect("union DeviceInfo, (DeviceProcessEvents | where ProcessId == 202) | count",
	       "Count\n5\n");
	expect("union withsource=Table DeviceInfo, DeviceProcessEvents\n"
	       "| where DeviceId == \"win9\" or ProcessId == 202\n"
	       "| project Table, DeviceId, OSPlatform, ProcessId | sort by Table asc",
	       "Table,DeviceId,OSPlatform,ProcessId\nDeviceInfo,win9,Windows,\n"
	       "DeviceProcessEvents,lin1,,202\n");
	expect("union kind=inner DeviceInfo, DeviceProcessEvents | where DeviceId == \"win9\"",
	       "Timestamp,DeviceId,DeviceName\n2026-01-01T00:00:03.000Z,win9,\n");
	expect("DeviceInfo | where DeviceId == \"win9\" | union (DeviceInfo"
	       " | where DeviceId == \"lin1\") | project DeviceId | sort by DeviceId asc",
	       "DeviceId\nlin1\nwin9\n");
	expect("let a = DeviceInfo | where OSPlatform == \"Windows\";\n"
	       "union a, a | summarize count() by DeviceId",
	       "DeviceId,count_\nwin9,2\n");
}

Test(kql, arg_max_and_arg_min)
{
	expect("DeviceProcessEvents | summarize arg_max(Timestamp, FileName, ProcessId) by DeviceId"
	       " | sort by DeviceId asc",
	       "DeviceId,Timestamp,FileName,ProcessId\nlin1,2026-01-01T00:00:16.000Z,,202\n"
	       "wsl1,2026-01-01T00:00:15.000Z,Curlish,102\n");
	/* *: every other column of that row, after the by columns and the key */
	expect("DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId | where DeviceId == \"lin1\"",
	       "DeviceId,Timestamp,DeviceName,ClientVersion,OSPlatform,OSArchitecture,OSVersion,"
	       "OSDistribution,HostDeviceId,MachineGroup,RegistryDeviceTag,DeviceTags,"
	       "OnboardingStatus\nlin1,2026-01-01T00:00:01.000Z,,,Linux,,,,,,,,\n");
	expect("DeviceProcessEvents | summarize arg_max(Timestamp, *) by DeviceId"
	       " | project DeviceId, ReportId, ProcessId | sort by DeviceId asc",
	       "DeviceId,ReportId,ProcessId\nlin1,3,202\nwsl1,4,102\n");
	expect("DeviceProcessEvents | where isnotempty(FileName)"
	       " | summarize arg_min(ProcessId, FileName) by DeviceId | sort by DeviceId asc",
	       "DeviceId,ProcessId,FileName\nlin1,200,curl\nwsl1,100,curl\n");
	expect("DeviceInfo | summarize arg_max(Timestamp, *) | project Timestamp, DeviceId",
	       "Timestamp,DeviceId\n2026-01-01T00:00:03.000Z,win9\n");
	/* a null key is never the largest */
	expect("DeviceProcessEvents | summarize arg_max(FileName, ProcessId) by DeviceId"
	       " | sort by DeviceId asc",
	       "DeviceId,FileName,ProcessId\nlin1,wget,201\nwsl1,wget,101\n");
}

Test(kql, make_set_and_make_list)
{
	expect("DeviceProcessEvents | where DeviceId == \"wsl1\" | sort by Timestamp asc"
	       " | summarize make_set(FileName), make_list(ProcessId)",
	       "set_FileName,list_ProcessId\n\"[\"\"curl\"\",\"\"wget\"\",\"\"Curlish\"\"]\","
	       "\"[100,101,100,102]\"\n");
	/* nulls are left out; a set has each value once */
	expect("DeviceProcessEvents | where DeviceId == \"lin1\" | sort by Timestamp asc"
	       " | summarize Files = make_set(FileName), Uids = make_set(AccountUid) by DeviceId",
	       "DeviceId,Files,Uids\nlin1,\"[\"\"curl\"\",\"\"wget\"\"]\",\"[1000,0]\"\n");
}

Test(kql, project_away_and_rename)
{
	expect("DeviceInfo | where DeviceId == \"win9\" | project-away Device*, OS*, *Tag*,"
	       " HostDeviceId, MachineGroup, OnboardingStatus, ClientVersion",
	       "Timestamp\n2026-01-01T00:00:03.000Z\n");
	expect("DeviceInfo | where DeviceId == \"win9\" | project DeviceId, OSPlatform"
	       " | project-rename Platform = OSPlatform, Id = DeviceId",
	       "Id,Platform\nwin9,Windows\n");
}

Test(kql, datetime_between_and_bin)
{
	expect("DeviceProcessEvents | where Timestamp between (datetime(2026-01-01 00:00:12) .."
	       " datetime(\"2026-01-01T00:00:13.000Z\")) | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n200\n201\n");
	/* a timespan as the upper bound: start .. start + span */
	expect("DeviceProcessEvents | where Timestamp between (datetime(2026-01-01T00:00:15) .. 1s)"
	       " | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n102\n202\n");
	expect("DeviceProcessEvents | where ProcessId !between (101 .. 201) | project ProcessId"
	       " | sort by ProcessId asc",
	       "ProcessId\n100\n100\n202\n");
	expect("DeviceProcessEvents | where Timestamp > datetime(2026-01-01T00:00:20Z) - 5s"
	       " | project ProcessId",
	       "ProcessId\n202\n");
	expect("DeviceProcessEvents | where ProcessId == 202 | project Later = Timestamp + 1m,"
	       " Earlier = 1h + Timestamp - 2h",
	       "Later,Earlier\n2026-01-01T00:01:16.000Z,2025-12-31T23:00:16.000Z\n");
	expect("DeviceProcessEvents | summarize count() by bin(Timestamp, 5s)"
	       " | sort by Timestamp asc",
	       "Timestamp,count_\n2026-01-01T00:00:10.000Z,5\n2026-01-01T00:00:15.000Z,2\n");
	expect("DeviceProcessEvents | summarize count() by bin(Timestamp, 1d)",
	       "Timestamp,count_\n2026-01-01T00:00:00.000Z,7\n");
	expect("DeviceProcessEvents | summarize n = count() by b = bin(ProcessId, 100)"
	       " | sort by b asc",
	       "b,n\n100,4\n200,3\n");
	expect("DeviceInfo | take 1 | project a = bin(-7, 5), b = bin(7.5, 2), c = floor(-0.5, 1),"
	       " d = bin(7, 0)",
	       "a,b,c,d\n-10,6.0,-1.0,\n");
}

Test(kql, has_any_has_all_and_lists)
{
	expect("DeviceProcessEvents | where ProcessCommandLine has_any (\"EXAMPLE\", \"version\")"
	       " | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n100\n101\n102\n200\n");
	expect("DeviceProcessEvents | where ProcessCommandLine has_all (\"wget\", \"example\")"
	       " | project ProcessId",
	       "ProcessId\n101\n");
	/* terms, not substrings */
	expect("DeviceProcessEvents | where ProcessCommandLine has_any (\"exam\", \"vers\") | count",
	       "Count\n0\n");
	expect("let tools = dynamic([\"curl\", \"wget\"]);\n"
	       "DeviceProcessEvents | where ProcessCommandLine has_any (tools)"
	       " and FileName in (tools) | count",
	       "Count\n4\n");
	expect("let t = dynamic([\"CURL\"]); DeviceProcessEvents | where FileName in~ (t) | count",
	       "Count\n3\n");
	expect("let pids = dynamic([100, -1, 202]); DeviceProcessEvents | where ProcessId !in (pids)"
	       " | count",
	       "Count\n4\n");
	expect("DeviceProcessEvents | where ProcessCommandLine has_any (dynamic([])) | count",
	       "Count\n0\n");
	expect("DeviceProcessEvents | where ProcessCommandLine has_all (dynamic([])) | count",
	       "Count\n7\n");
}

Test(kql, matches_regex)
{
	expect("DeviceProcessEvents | where ProcessCommandLine matches regex"
	       " @\"^(curl|wget) .*\\.(com|org)\" | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n100\n101\n200\n");
	/* RE2's \d, (?i), (?:...) and lazy quantifiers */
	expect("DeviceProcessEvents | where tostring(ProcessId) matches regex @\"^20\\d$\" | count",
	       "Count\n3\n");
	expect("DeviceProcessEvents | where FileName matches regex \"(?i)^(?:curlISH)+?$\""
	       " | project ProcessId",
	       "ProcessId\n102\n");
	expect("DeviceProcessEvents | where FolderPath matches regex @\"^/[\\w]+/[a-z\\-]+/w\""
	       " | project ProcessId | sort by ProcessId asc",
	       "ProcessId\n101\n201\n");
	expect("DeviceProcessEvents | where FileName matches regex @\"\\Acurl\\z\" | count",
	       "Count\n3\n");
	expect("DeviceProcessEvents | where ProcessCommandLine matches regex @\" [\\-\\]]q\""
	       " | project ProcessId",
	       "ProcessId\n201\n");
	/* a pattern from a column: compiled again for each new pattern */
	expect("DeviceProcessEvents | where FileName matches regex FileName | count", "Count\n6\n");
	expect("DeviceProcessEvents | where isnotempty(FileName)"
	       " | where not(FolderPath matches regex strcat(FileName, \"$\")) | count",
	       "Count\n0\n");
}

Test(kql, sql_is_never_injected_through_new_operators)
{
	expect("DeviceInfo | where DeviceId has_any (\"x'); DROP TABLE DeviceInfo; --\") | count",
	       "Count\n0\n");
	expect("DeviceInfo | where DeviceId matches regex \"'); DROP TABLE DeviceInfo; --\""
	       " | count",
	       "Count\n0\n");
	expect("DeviceInfo | count", "Count\n4\n");
}

Test(kql, new_operators_report_line_and_column)
{
	expect_error("DeviceInfo | join kind=sideways (DeviceInfo) on DeviceId",
		     "1:24: unsupported join kind 'sideways'", NULL);
	expect_error("DeviceInfo | join (DeviceProcessEvents) on Foo",
		     "1:44: unknown column 'Foo' on the left side of join", NULL);
	expect_error(
		"DeviceInfo | join (DeviceProcessEvents) on $left.DeviceId == $right.OSPlatform",
		"1:69: unknown column 'OSPlatform' on the right side of join", NULL);
	expect_error("DeviceInfo | join (DeviceProcessEvents) on $left.DeviceId == $left.DeviceId",
		     "1:68: a join key compares $left with $right", NULL);
	expect_error("DeviceInfo | join (DeviceProcessEvents)",
		     "1:40: expected 'on' and the join's key columns", NULL);
	expect_error("DeviceInfo\n| join (DeviceProcessEvents | where Nope == 1) on DeviceId",
		     "2:37: unknown column 'Nope'", "                                    ^");
	expect_error("union DeviceInfo, NoSuchTable", "1:19: unknown table 'NoSuchTable'", NULL);
	expect_error("union kind=middle DeviceInfo",
		     "1:12: union kind is inner or outer, not 'middle'", NULL);
	expect_error(
		"union kind=inner (DeviceInfo | project A = DeviceId), (DeviceInfo | project B = DeviceId)",
		"1:1: union kind=inner: the tables share no column", NULL);
	expect_error(
		"DeviceInfo | summarize arg_max(Timestamp) by DeviceId",
		"1:41: arg_max(Expr, *) or arg_max(Expr, Column, ...) needs the columns to return",
		NULL);
	expect_error("DeviceInfo | summarize count(), arg_max(Timestamp, *) by DeviceId",
		     "1:33: arg_max() must be the only aggregation of its summarize", NULL);
	expect_error("DeviceInfo | summarize arg_max(Timestamp, *), count() by DeviceId",
		     "1:47: arg_max() must be the only aggregation of its summarize", NULL);
	expect_error("DeviceInfo | summarize Last = arg_max(Timestamp, *) by DeviceId",
		     "1:24: arg_max() names its own columns: drop 'Last ='", NULL);
	expect_error("DeviceInfo | summarize arg_max(Timestamp, Nope) by DeviceId",
		     "1:43: unknown column 'Nope'", NULL);
	expect_error("DeviceInfo | project-away Nope", "1:27: unknown column 'Nope'", NULL);
	expect_error("DeviceInfo | project-away *", "1:14: project-away removes every column",
		     NULL);
	expect_error("DeviceInfo | project-rename A = Nope", "1:33: unknown column 'Nope'", NULL);
	expect_error("DeviceInfo | project-rename DeviceId = OSPlatform",
		     "1:29: duplicate column name 'DeviceId'", NULL);
	expect_error("DeviceInfo | where Timestamp > datetime(2026-02-30)",
		     "1:41: expected a datetime such as 2026-01-31T12:00:00Z", NULL);
	expect_error("DeviceInfo | where Timestamp > datetime(2026-01-01",
		     "1:41: unterminated datetime literal", NULL);
	expect_error("DeviceInfo | where Timestamp between (1 , 2)",
		     "1:41: expected '..' between the bounds of between", NULL);
	expect_error("DeviceInfo | where Timestamp between (1 .. 1h)",
		     "1:44: a timespan upper bound needs a datetime lower bound", NULL);
	expect_error("DeviceInfo | where DeviceId has_any (\"a\", 1h)",
		     "1:43: a timespan is supported only in", NULL);
	expect_error("let l = dynamic([\"a\"]); DeviceInfo | where DeviceId has_any (\"b\", l)",
		     "1:67: a dynamic list must be the only element of has_any (...)", NULL);
	expect_error("let l = dynamic([\"a\"]); DeviceInfo | where DeviceId == l",
		     "1:53: a dynamic list is supported only in in (...), has_any and has_all",
		     NULL);
	expect_error("DeviceInfo | where DeviceId in (dynamic(\"a\"))",
		     "1:41: expected '[' in dynamic(): only lists", NULL);
	expect_error("DeviceInfo | where DeviceId matches \"x\"",
		     "1:37: expected 'regex' after matches", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex \"a(b\"",
		     "1:43: bad regular expression: ", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex \"(?<=a)b\"",
		     "1:43: unsupported group (?<", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex @\"\\p{L}\"",
		     "1:43: unsupported escape \\p in regular expression", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex \"a{1000}\"",
		     "1:43: repetition count above 255", NULL);
	/* regcomp copies repeated operands: stacked and nested repetitions are refused */
	expect_error("DeviceInfo | where DeviceId matches regex @\"[\\w.]+++++++++++\"",
		     "1:43: repetition of a repetition ('+' after a quantifier)", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex \"a*{2}\"",
		     "1:43: repetition of a repetition ('{' after a quantifier)", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex \"((a{200}){200})\"",
		     "1:43: regular expression too large once its repetitions are expanded", NULL);
	expect_error("DeviceInfo | where DeviceId matches regex "
		     "\"((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)\"",
		     "1:43: regular expression too large once its repetitions are expanded", NULL);
	{
		char q[1200] = "DeviceInfo | where DeviceId matches regex \"";
		size_t n = strlen(q);

		memset(q + n, 'a', 1030);
		strcpy(q + n + 1030, "\"");
		expect_error(q, "1:43: regular expression longer than 1024 bytes", NULL);
	}
	expect_error("DeviceInfo | where Timestamp > now() * 1h",
		     "1:38: a timespan is supported only", NULL);
	expect_error("DeviceInfo | where Timestamp > \"x\" - 1h",
		     "1:36: a timespan is added to or subtracted from a datetime only", NULL);
	expect_error("DeviceInfo | summarize count() by bin(Timestamp, \"x\")",
		     "1:35: bin() rounds to a number or a timespan", NULL);
}

/* A pattern that comes from the data and does not compile is a query error, not a crash. */
Test(kql, bad_regex_from_a_column_fails_the_query)
{
	const char *text =
		"DeviceProcessEvents | where FileName matches regex strcat(\"(\", FileName)"
		" | count";
	struct vg_kql_query q;
	struct vg_kql_error e;
	sqlite3_stmt *s;

	cr_assert_eq(vg_kql_register(db), 0);
	/* translated (the pattern is not a literal) ... */
	cr_assert_eq(vg_kql_translate(db, text, 0, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(sqlite3_prepare_v2(db, q.sql, -1, &s, NULL), SQLITE_OK);
	vg_kql_query_free(&q);
	/* ... and refused by regexp() when it meets the first row */
	cr_expect_eq(sqlite3_step(s), SQLITE_ERROR);
	cr_expect_str_eq(sqlite3_errmsg(db), "bad regular expression: Unmatched ( or \\(");
	sqlite3_finalize(s);
}

/* Published-style hunting queries (Defender advanced hunting), run unchanged. */
Test(kql, hunting_query_process_behind_a_c2_port)
{
	more_events();
	expect("// Which process opened a connection to a port used by common C2 frameworks?\n"
	       "let c2_ports = dynamic([4444, 1337, 8443]);\n"
	       "DeviceNetworkEvents\n"
	       "| where Timestamp between (datetime(2026-01-01) .. 1d)\n"
	       "| where RemotePort in (c2_ports)\n"
	       "| join kind=inner (\n"
	       "    DeviceProcessEvents\n"
	       "    | where ActionType == \"ProcessCreated\"\n"
	       "    | summarize arg_max(Timestamp, *) by DeviceId, ProcessId\n"
	       "    ) on $left.DeviceId == $right.DeviceId, $left.InitiatingProcessId == "
	       "$right.ProcessId\n"
	       "| project Timestamp, DeviceId, RemoteIP, RemotePort, FileName, ProcessCommandLine",
	       "Timestamp,DeviceId,RemoteIP,RemotePort,FileName,ProcessCommandLine\n"
	       "2026-01-01T00:00:30.000Z,wsl1,10.0.0.9,4444,wget,\"wget http://example.com/b\"\n");
}

Test(kql, hunting_query_download_tools_per_hour)
{
	expect("let tools = dynamic([\"curl\", \"wget\"]);\n"
	       "DeviceProcessEvents\n"
	       "| where Timestamp > datetime(2025-12-31)\n"
	       "| where FileName in~ (tools) and ProcessCommandLine has_any (\"http\", \"https\")\n"
	       "| summarize Runs = count(), Commands = make_set(FileName), FirstSeen = min(Timestamp)\n"
	       "    by DeviceId, bin(Timestamp, 1h)\n"
	       "| project-rename Hour = Timestamp\n"
	       "| project-away FirstSeen\n"
	       "| sort by DeviceId asc",
	       "DeviceId,Hour,Runs,Commands\n"
	       "lin1,2026-01-01T00:00:00.000Z,1,\"[\"\"curl\"\"]\"\n"
	       "wsl1,2026-01-01T00:00:00.000Z,2,\"[\"\"curl\"\",\"\"wget\"\"]\"\n");
}

Test(kql, hunting_query_sigma_style_writes_to_tmp)
{
	more_events();
	/* the shape of Sigma's Kusto back end: where clauses of has_any, regex and endswith */
	expect("union DeviceProcessEvents, DeviceFileEvents\n"
	       "| where Timestamp between (datetime(2026-01-01T00:00:00Z) .. datetime(2026-01-01T23:59:59Z))\n"
	       "| where (FolderPath matches regex @\"^/(tmp|dev/shm)/\" or ProcessCommandLine has_any (\"/tmp/x\"))\n"
	       "| summarize Events = count(), Actions = make_set(ActionType) by DeviceId\n"
	       "| sort by DeviceId asc",
	       "DeviceId,Events,Actions\n"
	       "lin1,1,\"[\"\"FileModified\"\"]\"\n"
	       "wsl1,2,\"[\"\"ProcessCreated\"\",\"\"FileCreated\"\"]\"\n");
}

/* A rule's query (bounded source) may join other tables but its rows stay its own. */
Test(kql, bounded_rules_join_but_do_not_union)
{
	struct vg_kql_query q;
	struct vg_kql_error e;

	cr_assert_eq(vg_kql_translate(db,
				      "DeviceProcessEvents | join kind=leftsemi (DeviceInfo"
				      " | where HostDeviceId == \"win1\") on DeviceId",
				      VG_KQL_BOUNDED, &q, &e),
		     0, "%s", e.msg);
	cr_assert_str_eq(q.cols[0], "_rid");
	{
		sqlite3_stmt *s;
		int n = 0;

		cr_assert_eq(sqlite3_prepare_v2(db, q.sql, -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_int64(s, 1, 1); /* rows 2..5: wsl1's rows 2 and 5 */
		sqlite3_bind_int64(s, 2, 5);
		while (sqlite3_step(s) == SQLITE_ROW) {
			cr_expect_eq(sqlite3_column_int64(s, 0), n ? 5 : 2);
			n++;
		}
		sqlite3_finalize(s);
		cr_expect_eq(n, 2);
	}
	vg_kql_query_free(&q);
	cr_expect_eq(vg_kql_translate(db, "DeviceProcessEvents | union DeviceInfo", VG_KQL_BOUNDED,
				      &q, &e),
		     -EINVAL);
	cr_expect_str_eq(e.msg, "a rule's query reads only its own table: union is not allowed");
	cr_expect_eq(vg_kql_translate(db,
				      "DeviceProcessEvents | join kind=rightanti (DeviceInfo)"
				      " on DeviceId",
				      VG_KQL_BOUNDED, &q, &e),
		     -EINVAL);
	cr_expect_eq(e.col, 23);
	cr_expect_eq(vg_kql_translate(db, "union DeviceInfo", VG_KQL_BOUNDED, &q, &e), -EINVAL);
	cr_expect_str_eq(e.msg, "a rule's query must start from a table, not a union");
}

Test(kql, nested_unions_are_bounded)
{
	char q[4096] = "";

	for (int i = 0; i < 300; i++)
		strcat(q, "union ");
	strcat(q, "DeviceInfo");
	expect_error(q, "1:", NULL);
	expect("union (union DeviceInfo, DeviceInfo), DeviceInfo | count", "Count\n12\n");
}

/* What Sigma's Kusto back end writes for a `|cidr` value: a literal range, to the bit. */
Test(kql, ipv4_is_in_range)
{
	exec_sql(
		"INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, ActionType, ReportId,"
		" RemoteIP, LocalIP) VALUES"
		" ('2026-01-01T00:00:20.000Z', 'lin1', 'ConnectionSuccess', 10, '172.16.0.1', '10.1.2.3'),"
		" ('2026-01-01T00:00:21.000Z', 'lin1', 'ConnectionSuccess', 11, '172.31.255.255', '10.1.2.30'),"
		" ('2026-01-01T00:00:22.000Z', 'lin1', 'ConnectionSuccess', 12, '172.32.0.1', '10.1.2.3'),"
		" ('2026-01-01T00:00:23.000Z', 'lin1', 'ConnectionSuccess', 13, '172.15.9.9', 'fe80::1'),"
		" ('2026-01-01T00:00:24.000Z', 'lin1', 'ConnectionSuccess', 14, '172.16.0.256', NULL)");
	expect("DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, \"172.16.0.0/12\")"
	       " | project ReportId",
	       "ReportId\n10\n11\n");
	expect("DeviceNetworkEvents | where not(ipv4_is_in_range(RemoteIP, \"172.16.0.0/12\"))"
	       " | project ReportId",
	       "ReportId\n12\n13\n14\n");
	expect("DeviceNetworkEvents | where ipv4_is_in_range(LocalIP, \"10.1.2.3\") | count",
	       "Count\n2\n");
	expect("DeviceNetworkEvents | where ipv4_is_in_range(LocalIP, \"10.1.2.0/27\") | count",
	       "Count\n3\n");
	expect("DeviceNetworkEvents | where ipv4_is_in_range(LocalIP, \"0.0.0.0/0\") | count",
	       "Count\n3\n");
	expect_error("DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, \"172.16.0.0/33\")",
		     "1:56: '172.16.0.0/33' is not an IPv4 address or range", NULL);
	expect_error("DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, \"10.0.0.300\")",
		     "1:56: '10.0.0.300' is not", NULL);
	expect_error("DeviceNetworkEvents | where ipv4_is_in_range(RemoteIP, LocalIP)",
		     "1:29: ipv4_is_in_range() takes its range as a string literal", NULL);
}

/*
 * The shapes Sigma's Kusto back end writes for the Defender tables
 * (pySigma-backend-kusto, microsoft_xdr): each runs unchanged.
 */
Test(kql, sigma_backend_output_runs_unchanged)
{
	expect("DeviceProcessEvents\n"
	       "| where (FolderPath endswith \"/curl\" and ProcessCommandLine contains \" -o \")"
	       " and (not(ProcessCommandLine contains \"example.org\"))\n| project ReportId",
	       "ReportId\n1\n");
	expect("DeviceProcessEvents\n"
	       "| where ProcessCommandLine in~ (\"WGET -Q X\", \"none\") or"
	       " ProcessCommandLine startswith \"curlish\"\n| project ProcessId",
	       "ProcessId\n201\n102\n");
	expect("DeviceProcessEvents\n"
	       "| where (ProcessCommandLine matches regex \"(?i)^curl .*example\\\\.(com|org)\" or"
	       " FileName =~ \"WGET\") and ProcessId =~ \"200\"\n| project ProcessId",
	       "ProcessId\n200\n");
	expect("DeviceProcessEvents\n"
	       "| where FolderPath startswith_cs \"/usr/bin/\" and ProcessCommandLine contains_cs"
	       " \"Example\" and (ProcessCommandLine has_any (\"http\", \"ftp\"))\n| project ProcessId",
	       "ProcessId\n100\n");
	expect("DeviceProcessEvents\n| where isnull(ProcessCommandLine) or"
	       " (AccountUid == 1000 and ProcessCommandLine endswith_cs \".org\")\n| project ProcessId",
	       "ProcessId\n200\n100\n202\n");
}

/* The ActionTypes a query's rows can have, when its first where says (detections skip the rest). */
Test(kql, actions_the_first_where_requires)
{
	static const struct {
		const char *q, *want; /* want: the values joined by ',', "" for none */
	} cases[] = {
		{ "DeviceProcessEvents | where ActionType == \"ProcessCreated\"",
		  "ProcessCreated" },
		{ "DeviceFileEvents | where ActionType in (\"FileCreated\", \"FileModified\")"
		  " and FolderPath startswith \"/etc/\" | where FileName != \"x\"",
		  "FileCreated,FileModified" },
		{ "DeviceProcessEvents | where ActionType == \"ProcessCreated\" and (FileName =="
		  " \"a\" or FileName == \"b\")",
		  "ProcessCreated" },
		{ "let x = DeviceFileEvents | where ActionType == \"FileDeleted\" | project FolderPath;"
		  " DeviceProcessEvents | where ActionType == \"ProcessCreated\"",
		  "ProcessCreated" },
		/* an `or` at the where's own level: rows of other ActionTypes pass it */
		{ "DeviceProcessEvents | where ActionType == \"ProcessCreated\" or FileName == \"a\"",
		  "" },
		{ "DeviceProcessEvents | where ActionType == \"ProcessCreated\" and FileName == \"a\""
		  " or FileName == \"b\"",
		  "" },
		{ "DeviceProcessEvents | where FileName == \"a\" and ActionType == \"ProcessCreated\"",
		  "" },
		{ "DeviceProcessEvents | where (ActionType == \"ProcessCreated\")", "" },
		{ "DeviceProcessEvents | where ActionType =~ \"processcreated\"", "" },
		{ "DeviceProcessEvents | where ActionType in~ (\"ProcessCreated\")", "" },
		{ "DeviceProcessEvents | where ActionType != \"ProcessCreated\"", "" },
		{ "DeviceProcessEvents | extend A = 1 | where ActionType == \"ProcessCreated\"",
		  "" },
		{ "DeviceProcessEvents | where ActionType in (\"a\", FileName)", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vg_kql_query q;
		struct vg_kql_error e;
		char got[256] = "";

		cr_assert_eq(vg_kql_translate(db, cases[i].q, VG_KQL_BOUNDED, &q, &e), 0, "%s: %s",
			     cases[i].q, e.msg);
		for (int k = 0; k < q.nactions; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "",
				 q.actions[k]);
		cr_expect_str_eq(got, cases[i].want, "%s", cases[i].q);
		vg_kql_query_free(&q);
	}
}
