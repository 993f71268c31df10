// SPDX-License-Identifier: GPL-2.0-only
/* vigil top: the report (vg_top_print) and the command that refreshes it. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "compat.h"
#include "fmt.h"
#include "hunt.h"
#include "log.h"
#include "server.h"
#include "top.h"

/* Every event row of the window, as (table, action, process, executable, path). */
#define VG_TOP_EVENTS                                                                                 \
	"SELECT 'DeviceProcessEvents' AS T, ActionType AS A, InitiatingProcessFileName AS P,"         \
	" InitiatingProcessFolderPath AS E, NULL AS F FROM DeviceProcessEvents WHERE Timestamp >= ?1" \
	" UNION ALL SELECT 'DeviceFileEvents', ActionType, InitiatingProcessFileName,"                \
	" InitiatingProcessFolderPath, FolderPath FROM DeviceFileEvents WHERE Timestamp >= ?1"        \
	" UNION ALL SELECT 'DeviceNetworkEvents', ActionType, InitiatingProcessFileName,"             \
	" InitiatingProcessFolderPath, NULL FROM DeviceNetworkEvents WHERE Timestamp >= ?1"           \
	" UNION ALL SELECT 'DeviceEvents', ActionType, InitiatingProcessFileName,"                    \
	" InitiatingProcessFolderPath, FolderPath FROM DeviceEvents WHERE Timestamp >= ?1"

static const struct {
	const char *title;
	const char *key; /* an expression over the columns of VG_TOP_EVENTS */
} vg_top_sections[] = {
	{ "process", "coalesce(P, '?')" },
	{ "executable", "coalesce(E, '?')" },
	/* The directory of a file: its path up to the last '/'. */
	{ "directory", "rtrim(F, replace(F, '/', ''))" },
	{ "event type", "T || ' ' || A" },
};

/* A section's heading (first) and one of its rows. */
static void vg_top_head(FILE *out, const struct vg_top_opts *o, const char *title)
{
	if (!o->json)
		fprintf(out, "\n%-60s %10s %10s\n", title, "events", "per s");
}

static void vg_top_row(FILE *out, const struct vg_top_opts *o, struct vg_sb *line,
		       const char *title, const char *k, long long n)
{
	vg_sb_reset(line);
	if (o->json) {
		vg_sb_add(line, "{\"Section\":");
		vg_json_str(line, title);
		vg_sb_add(line, ",\"Key\":");
		vg_json_str(line, k ? k : "");
		vg_sb_printf(line, ",\"Events\":%lld,\"PerSecond\":%.2f}", n,
			     (double)n / o->window_s);
		fprintf(out, "%s\n", vg_sb_str(line));
	} else {
		vg_sb_cell(line, k, 60, 1);
		fprintf(out, "%s %10lld %10.1f\n", vg_sb_str(line) ?: "", n,
			(double)n / o->window_s);
	}
}

static int vg_top_section(sqlite3 *db, FILE *out, const struct vg_top_opts *o, const char *since,
			  int sec)
{
	char sql[2048];
	sqlite3_stmt *st;
	struct vg_sb line;
	int rc, rows = 0;

	snprintf(sql, sizeof(sql),
		 "SELECT %s AS K, count(*) AS N FROM (" VG_TOP_EVENTS ") WHERE %s IS NOT NULL"
		 " GROUP BY K ORDER BY N DESC, K LIMIT ?2",
		 vg_top_sections[sec].key, vg_top_sections[sec].key);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "top: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc);
	}
	sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, o->limit);
	vg_sb_init(&line);
	vg_top_head(out, o, vg_top_sections[sec].title);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		vg_top_row(out, o, &line, vg_top_sections[sec].title,
			   (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
		rows++;
	}
	vg_sb_free(&line);
	sqlite3_finalize(st);
	if (!rows && !o->json)
		fprintf(out, "%-60s\n", "(none)");
	return rc == SQLITE_DONE ? 0 : vg_sqlite_errno(rc);
}

/* Filter rules with their hits, and the rate since the previous report. */
static int vg_top_rules(sqlite3 *db, FILE *out, const struct vg_top_opts *o, int64_t *prev,
			int nmax, double interval_s)
{
	sqlite3_stmt *st;
	int rc, rows = 0;

	rc = sqlite3_prepare_v2(db,
				"SELECT RuleIndex, Line, Action, Rule, Hits FROM SensorFilterRules"
				" ORDER BY DeviceId, RuleIndex",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return 0; /* a store from before filters: no rules to show */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int idx = sqlite3_column_int(st, 0);
		long long hits = sqlite3_column_int64(st, 4);
		double rate = -1;

		if (idx >= 0 && idx < nmax && prev) {
			if (prev[idx] >= 0 && interval_s > 0 && hits >= prev[idx])
				rate = (double)(hits - prev[idx]) / interval_s;
			prev[idx] = hits;
		}
		if (!rows && !o->json)
			fprintf(out, "\n%-5s %-5s %-60s %10s %10s\n", "rule", "line", "filter rule",
				"hits", "per s");
		if (o->json) {
			struct vg_sb j;

			vg_sb_init(&j);
			vg_sb_printf(&j,
				     "{\"Section\":\"rule\",\"RuleIndex\":%d,\"Line\":%d,\"Rule\":",
				     idx, sqlite3_column_int(st, 1));
			vg_json_str(&j, (const char *)sqlite3_column_text(st, 3));
			vg_sb_printf(&j, ",\"Hits\":%lld", hits);
			if (rate >= 0)
				vg_sb_printf(&j, ",\"PerSecond\":%.2f", rate);
			vg_sb_add(&j, "}");
			fprintf(out, "%s\n", vg_sb_str(&j));
			vg_sb_free(&j);
		} else {
			struct vg_sb rule;
			char per[32] = "-";

			vg_sb_init(&rule);
			vg_sb_cell(&rule, (const char *)sqlite3_column_text(st, 3), 60, 1);
			if (rate >= 0)
				snprintf(per, sizeof(per), "%.1f", rate);
			fprintf(out, "%-5d %-5d %s %10lld %10s\n", idx, sqlite3_column_int(st, 1),
				vg_sb_str(&rule) ?: "", hits, per);
			vg_sb_free(&rule);
		}
		rows++;
	}
	sqlite3_finalize(st);
	return 0;
}

int vg_top_print(struct vg_store *s, FILE *out, const struct vg_top_opts *o, uint64_t now_ns,
		 int64_t *rule_hits_prev, int nrules_max, double interval_s)
{
	sqlite3 *db = vg_store_db(s);
	char since[VG_ISO_LEN], now[VG_ISO_LEN];
	int err = 0;

	vg_iso_time(since, now_ns - (uint64_t)o->window_s * 1000000000ull);
	if (!o->json)
		fprintf(out, "vigil top: events stored since %s (last %d s), at %s\n", since,
			o->window_s, vg_iso_time(now, now_ns));
	for (size_t i = 0; !err && i < sizeof(vg_top_sections) / sizeof(vg_top_sections[0]); i++)
		err = vg_top_section(db, out, o, since, (int)i);
	if (!err)
		err = vg_top_rules(db, out, o, rule_hits_prev, nrules_max, interval_s);
	fflush(out);
	return err;
}

/*
 * The fleet's report (--pg): the same sections over every device's events in
 * PostgreSQL, by device first, then the rules of every group's current
 * filter set by their hits across the group's devices (server/filtersets.c).
 */
#define VG_TOP_PG_EVENTS(t, f)                                                                  \
	"SELECT '" t "' AS \"T\", \"ActionType\" AS \"A\", \"DeviceId\" AS \"D\","              \
	" \"InitiatingProcessFileName\" AS \"P\", \"InitiatingProcessFolderPath\" AS \"E\", " f \
	" AS \"F\" FROM \"" t "\" WHERE \"Timestamp\" >= $1::timestamptz"
#define VG_TOP_PG_PROC VG_TOP_PG_EVENTS("DeviceProcessEvents", "NULL")
#define VG_TOP_PG_FILE VG_TOP_PG_EVENTS("DeviceFileEvents", "\"FolderPath\"")
#define VG_TOP_PG_NET VG_TOP_PG_EVENTS("DeviceNetworkEvents", "NULL")
#define VG_TOP_PG_DEV VG_TOP_PG_EVENTS("DeviceEvents", "\"FolderPath\"")
#define VG_TOP_PG_ALL                                                           \
	VG_TOP_PG_PROC " UNION ALL " VG_TOP_PG_FILE " UNION ALL " VG_TOP_PG_NET \
		       " UNION ALL " VG_TOP_PG_DEV

static const struct {
	const char *title;
	const char *key; /* over the columns of VG_TOP_PG_EVENTS */
} vg_top_pg_sections[] = {
	{ "device", "\"D\"" },
	{ "process", "coalesce(\"P\", '?')" },
	{ "executable", "coalesce(\"E\", '?')" },
	{ "directory", "rtrim(\"F\", replace(\"F\", '/', ''))" },
	{ "event type", "\"T\" || ' ' || \"A\"" },
};

static int vg_top_pg_print(PGconn *pg, FILE *out, const struct vg_top_opts *o, uint64_t now_ns)
{
	char since[VG_ISO_LEN], now[VG_ISO_LEN], sql[2048], lim[16];
	const char *v[2] = { since, lim };
	struct vg_sb line;
	int err = 0;

	vg_iso_time(since, now_ns - (uint64_t)o->window_s * 1000000000ull);
	snprintf(lim, sizeof(lim), "%d", o->limit);
	if (!o->json)
		fprintf(out, "vigil top: the fleet's events since %s (last %d s), at %s\n", since,
			o->window_s, vg_iso_time(now, now_ns));
	vg_sb_init(&line);
	for (size_t sec = 0;
	     !err && sec < sizeof(vg_top_pg_sections) / sizeof(vg_top_pg_sections[0]); sec++) {
		PGresult *r;

		snprintf(sql, sizeof(sql),
			 "SELECT %s AS \"K\", count(*) AS \"N\" FROM (" VG_TOP_PG_ALL ") e"
			 " WHERE %s IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2::integer",
			 vg_top_pg_sections[sec].key, vg_top_pg_sections[sec].key);
		r = PQexecParams(pg, sql, 2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			vg_log(VG_ERROR, "top: postgresql: %s", PQresultErrorMessage(r));
			PQclear(r);
			err = -EIO;
			break;
		}
		vg_top_head(out, o, vg_top_pg_sections[sec].title);
		for (int i = 0; i < PQntuples(r); i++)
			vg_top_row(out, o, &line, vg_top_pg_sections[sec].title,
				   PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1)));
		if (!PQntuples(r) && !o->json)
			fprintf(out, "%-60s\n", "(none)");
		PQclear(r);
	}
	vg_sb_free(&line);
	if (!err)
		err = vg_pg_fleet_rules(pg, out, o->limit, o->json);
	if (fflush(out) == EOF && !err)
		err = -EPIPE;
	return err;
}

const char vg_usage_top[] =
	"usage: vigil top ([--db FILE] | --pg CONNINFO) [--window S] [--interval S] [--limit N]\n"
	"                 [--once] [--json]\n"
	"\n"
	"The hottest event sources over the last window (default 10 s): by process, by\n"
	"executable, by directory of the files touched, by event type, with events per\n"
	"second; then each filter rule with its hits and hit rate. Refreshes every\n"
	"interval (default 2 s) until SIGINT/SIGTERM; --once prints one report.\n"
	"With --pg, the fleet's: the same sections over every device's events, by device\n"
	"first; then the rules of each machine group's current filter set (`vigil server\n"
	"filters apply`) by hits, summed over the devices now in the group, with how many\n"
	"of them report the rule and when a batch last brought more hits (last hit).\n"
	"\n"
	"  --db FILE     SQLite database written by `vigil host` (never created)\n"
	"                default: db= of /etc/vigil/vigil.conf, else\n"
	"                /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO the fleet's PostgreSQL (`vigil server`), read-only: the\n"
	"                analyst role's conninfo (`vigil server roles`)\n"
	"  --window S    seconds of events to rank (1-86400, default 10)\n"
	"  --interval S  seconds between reports (1-3600, default 2)\n"
	"  --limit N     rows per section (1-1000, default 10)\n"
	"  --once        one report, then exit\n"
	"  --json        one JSON object per row, with its Section\n"
	"  -h, --help    show this text\n";

int vg_cmd_top(int argc, char **argv)
{
	struct vg_top_opts o = { .window_s = 10, .limit = 10 };
	const char *val, *db = NULL, *pgc = NULL;
	int interval = 2, once = 0, err = 0, n;
	struct vg_store *s = NULL;
	PGconn *pg = NULL;
	int64_t prev[64];
	struct pollfd pfd = { .events = POLLIN };
	sigset_t mask;

	for (int i = 0; i < 64; i++)
		prev[i] = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_top, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("top", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("top", "%s needs a conninfo", "--pg");
			pgc = val;
		} else if (vg_cli_opt(argc, argv, &i, "--window", &val)) {
			if (vg_cli_int("top", "--window", val, 1, 86400, &o.window_s))
				return 2;
		} else if (vg_cli_opt(argc, argv, &i, "--interval", &val)) {
			if (vg_cli_int("top", "--interval", val, 1, 3600, &interval))
				return 2;
		} else if (vg_cli_opt(argc, argv, &i, "--limit", &val)) {
			if (vg_cli_int("top", "--limit", val, 1, 1000, &o.limit))
				return 2;
		} else if (!strcmp(a, "--once")) {
			once = 1;
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else {
			return vg_cli_usage("top", "unknown option '%s'", a);
		}
	}
	if (db && pgc)
		return vg_cli_usage("top", "%s", "give one of --db FILE or --pg CONNINFO");
	if (pgc) {
		pg = vg_hunt_pg_open(pgc, "top");
		if (!pg)
			return 1;
	} else {
		if (!db)
			db = vg_cli_default_db();
		if (vg_cli_open_store("top", db, &s))
			return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (!once) {
		sigprocmask(SIG_BLOCK, &mask, NULL);
		pfd.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	}
	for (;;) {
		if (!once && !o.json && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout); /* a fresh screen, like top(1) */
		if (pg)
			err = vg_top_pg_print(pg, stdout, &o, vg_now_ns());
		else
			err = vg_top_print(s, stdout, &o, vg_now_ns(), prev, 64, interval);
		if (err || once)
			break;
		n = poll(&pfd, 1, interval * 1000);
		if (n != 0)
			break; /* a signal (or a poll error): a clean stop */
	}
	if (!once)
		close(pfd.fd);
	if (s)
		vg_store_close(s);
	PQfinish(pg);
	return err == -EPIPE ? 0 : err ? 1 : 0;
}
