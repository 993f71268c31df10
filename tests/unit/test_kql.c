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
	cr_expect_str_eq(got, want, "query: %s", q);
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
	expect_error("DeviceInfo\n| join (DeviceProcessEvents) on DeviceId",
		     "2:3: unsupported operator 'join'", "  | join");
	expect_error("DeviceInfo | mv-expand x", "1:14: unsupported operator 'mv-expand'", NULL);
	expect_error("DeviceInfo | frobnicate", "1:14: unknown operator 'frobnicate'", NULL);
	expect_error("DeviceInfo | where DeviceId == \"x", "1:32: unterminated string", NULL);
	expect_error("DeviceInfo | where DeviceId = \"x\"",
		     "1:29: '=' is not a comparison: use '=='", NULL);
	expect_error("DeviceInfo | where DeviceId between (1 .. 2)",
		     "1:29: unsupported operator 'between'", NULL);
	expect_error("DeviceInfo | where", "1:19: where needs a condition", NULL);
	expect_error("DeviceInfo | take x", "1:19: take needs a row count (a whole number)", NULL);
	expect_error("DeviceInfo | where ago(5) > 1",
		     "1:20: ago() needs a timespan such as 1h or 30m", NULL);
	expect_error("DeviceInfo | where Timestamp > 1h",
		     "1:30: a timespan is supported only as"
		     " the argument of ago()",
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
