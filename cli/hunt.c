// SPDX-License-Identifier: GPL-2.0-only
/* vigil hunt: a KQL query over the store (hunt/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "hunt.h"
#include "log.h"
#include "store.h"

#define VG_QUERY_FILE_MAX (1024 * 1024)

const char vg_usage_hunt[] =
	"usage: vigil hunt ([--db FILE] | --pg CONNINFO) (QUERY | --file F)\n"
	"                  [--format table|json|csv] [--json]\n"
	"\n"
	"Run a Kusto (KQL) query over the store. Supported: let (tabular, scalar and\n"
	"dynamic([...]) lists), pipes, where (==, !=, =~, !~, <, <=, >, >=, in, !in,\n"
	"in~, has, contains, startswith, endswith and their ! and _cs forms, has_any,\n"
	"has_all, between (a .. b), matches regex (RE2 syntax on POSIX ERE),\n"
	"ipv4_is_in_range(Col, \"10.0.0.0/8\") (a literal range), and, or,\n"
	"not(), isempty(), isnotempty(), isnull(), ago(), now(), datetime(), bin(),\n"
	"datetime +/- timespan, tolower(), strcat(), iff(), ...), project,\n"
	"project-away, project-rename, extend, distinct (with Name=Column renames),\n"
	"summarize count(), countif(), dcount(), sum(), min(), max(), avg(),\n"
	"make_set(), make_list(), arg_max(), arg_min() by, join (kind=innerunique,\n"
	"inner, leftouter, leftsemi, leftanti, ...; on Col or on $left.A == $right.B),\n"
	"union, sort by / order by (asc|desc, default desc), take / limit, top N by,\n"
	"count. Tables and columns\n"
	"are those of the store (DeviceProcessEvents, DeviceInfo, AlertInfo, ...).\n"
	"A query error prints line:column, the line and a caret, and exits 1.\n"
	"\n"
	"  --db FILE        SQLite database written by `vigil host` (never created)\n"
	"                   default: db= of /etc/vigil/vigil.conf, else\n"
	"                   /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO    the fleet's PostgreSQL instead (libpq conninfo such as\n"
	"                   'host=db dbname=vigil user=hunter'; a password goes in\n"
	"                   ~/.pgpass or PGPASSWORD), read-only; see\n"
	"                   README \"Hunting\" for what differs from SQLite\n"
	"  --file F         read the query from F ('-': standard input)\n"
	"  --format FMT     table (default, aligned columns), json (one object per\n"
	"                   row per line) or csv (RFC 4180, header row); table and\n"
	"                   csv print controls and bytes that are not UTF-8 as \\n,\n"
	"                   \\x1b, \\xff, ...; json is valid UTF-8 (\\ufffd for them)\n"
	"  --json           same as --format json\n"
	"  -v, --verbose    also print the SQL the query became\n"
	"  -h, --help       show this text\n";

static char *vg_slurp(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *buf;
	size_t n;

	if (!f) {
		vg_err(-errno, "hunt: cannot read %s", path);
		return NULL;
	}
	buf = malloc(VG_QUERY_FILE_MAX + 1);
	if (!buf) {
		vg_err(-ENOMEM, "hunt: read %s", path);
		goto out;
	}
	n = fread(buf, 1, VG_QUERY_FILE_MAX + 1, f);
	if (ferror(f) || n > VG_QUERY_FILE_MAX) {
		vg_log(VG_ERROR, "hunt: %s: %s", path,
		       ferror(f) ? "read error" : "query larger than 1 MiB");
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = 0;
	if (strlen(buf) != n) {
		vg_log(VG_ERROR, "hunt: %s: holds a NUL byte", path);
		free(buf);
		buf = NULL;
	}
out:
	if (f != stdin)
		fclose(f);
	return buf;
}

int vg_cmd_hunt(int argc, char **argv)
{
	const char *val, *db = NULL, *pg = NULL, *file = NULL, *query = NULL;
	enum vg_hunt_format fmt = VG_HUNT_TABLE;
	struct vg_store *s;
	char *text = NULL;
	long n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_hunt, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("hunt", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("hunt", "%s needs a conninfo", "--pg");
			pg = val;
		} else if (vg_cli_opt(argc, argv, &i, "--file", &val)) {
			if (!val)
				return vg_cli_usage("hunt", "%s needs a file", "--file");
			file = val;
		} else if (vg_cli_opt(argc, argv, &i, "--format", &val)) {
			if (vg_hunt_format_parse(val, &fmt))
				return vg_cli_usage("hunt",
						    "--format takes table, json or csv, not '%s'",
						    val ? val : "");
		} else if (!strcmp(a, "--json")) {
			fmt = VG_HUNT_JSON;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			vg_log_max = VG_DEBUG;
		} else if (a[0] == '-' && a[1]) {
			return vg_cli_usage("hunt", "unknown option '%s'", a);
		} else if (query) {
			return vg_cli_usage("hunt", "%s",
					    "give the query as one argument (quote it)");
		} else {
			query = a;
		}
	}
	if (!db && !pg)
		db = vg_cli_default_db();
	if (!db == !pg)
		return vg_cli_usage("hunt", "%s", "give one of --db FILE or --pg CONNINFO");
	if (!!query == !!file)
		return vg_cli_usage("hunt", "%s", "give one of QUERY or --file F");
	if (file) {
		text = vg_slurp(file);
		if (!text)
			return 1;
	}
	if (pg) {
		n = vg_hunt_run_pg(pg, text ? text : query, file ? file : "query", fmt, stdout,
				   stderr);
		free(text);
		return n < 0 && n != -EPIPE ? 1 : 0;
	}
	if (vg_cli_open_store("hunt", db, &s)) {
		free(text);
		return 1;
	}
	n = vg_hunt_run(vg_store_db(s), text ? text : query, file ? file : "query", fmt, stdout,
			stderr);
	vg_store_close(s);
	free(text);
	if (n == -EPIPE)
		return 0;
	return n < 0 ? 1 : 0;
}
