// SPDX-License-Identifier: GPL-2.0-only
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "events.h"
#include "fmt.h"
#include "log.h"

const char *const vg_event_tables[VG_EVENT_TABLES] = {
	"DeviceProcessEvents",
	"DeviceFileEvents",
	"DeviceNetworkEvents",
	"DeviceEvents",
};

int vg_events_last(struct vg_store *s, struct vg_cursor *c)
{
	for (int t = 0; t < VG_EVENT_TABLES; t++) {
		char sql[96];
		sqlite3_stmt *st;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT max(rowid) FROM %s", vg_event_tables[t]);
		rc = sqlite3_prepare_v2(vg_store_db(s), sql, -1, &st, NULL);
		if (rc != SQLITE_OK) {
			vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(vg_store_db(s)));
			return vg_sqlite_errno(rc);
		}
		rc = sqlite3_step(st);
		c->row[t] = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW)
			return vg_sqlite_errno(rc);
	}
	return 0;
}

static int vg_col(sqlite3_stmt *st, const char *name)
{
	int n = sqlite3_column_count(st);

	for (int i = 0; i < n; i++) {
		if (!strcmp(sqlite3_column_name(st, i), name))
			return i;
	}
	return -1;
}

static const char *vg_text(sqlite3_stmt *st, const char *name)
{
	int i = vg_col(st, name);

	if (i < 0 || sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return (const char *)sqlite3_column_text(st, i);
}

static int64_t vg_int(sqlite3_stmt *st, const char *name)
{
	int i = vg_col(st, name);

	return i < 0 ? 0 : sqlite3_column_int64(st, i);
}

void vg_json_column(struct vg_sb *b, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		vg_sb_add(b, "null");
		break;
	case SQLITE_INTEGER:
		vg_sb_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		vg_sb_printf(b, "%.17g", sqlite3_column_double(st, i));
		break;
	default:
		vg_json_str(b, (const char *)sqlite3_column_text(st, i));
	}
}

/* ---- one row of an event table, from either database (events.h: struct vg_row) */

static int vg_r_col(struct vg_row *r, const char *name)
{
	int n = r->ncols(r);

	for (int i = 0; i < n; i++) {
		if (!strcmp(r->name(r, i), name))
			return i;
	}
	return -1;
}

static const char *vg_r_text(struct vg_row *r, const char *name)
{
	int i = vg_r_col(r, name);

	return i < 0 ? NULL : r->text(r, i);
}

static int vg_r_has(struct vg_row *r, const char *name)
{
	return vg_r_text(r, name) != NULL;
}

static int64_t vg_r_int(struct vg_row *r, const char *name)
{
	const char *v = vg_r_text(r, name);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* Every column but our own bookkeeping ones, under its name; first the table. */
static void vg_row_json(struct vg_sb *b, struct vg_row *r, const char *table)
{
	int n = r->ncols(r);

	vg_sb_add(b, "{\"Table\":");
	vg_json_str(b, table);
	for (int i = 0; i < n; i++) {
		const char *name = r->name(r, i);

		if (!strncmp(name, "vg_", 3))
			continue;
		vg_sb_add(b, ",");
		vg_json_str(b, name);
		vg_sb_add(b, ":");
		r->json(r, i, b);
	}
	vg_sb_add(b, "}");
}

/*
 * 2026-11-26T12:00:00.123Z  ProcessCreated     sh[4242] <- bash[4200]  /bin/sh -c 'exit 7'  (cwd /tmp, uid 0)
 * 2026-11-26T12:00:00.125Z  ProcessTerminated  sh[4242] <- bash[4200]  exit 7
 */
static void vg_row_human(struct vg_sb *b, struct vg_row *r)
{
	const char *action = vg_r_text(r, "ActionType");
	const char *name = vg_r_text(r, "FileName");
	const char *pname = vg_r_text(r, "InitiatingProcessFileName");
	const char *cmd = vg_r_text(r, "ProcessCommandLine");
	const char *cwd = vg_r_text(r, "ProcessCurrentDirectory");
	int64_t ppid = vg_r_has(r, "InitiatingProcessId") ? vg_r_int(r, "InitiatingProcessId") :
							    vg_r_int(r, "ProcessParentId");

	if (!name)
		name = vg_r_text(r, "vg_comm");
	vg_sb_printf(b, "%s  ", vg_r_text(r, "Timestamp"));
	vg_sb_cell(b, action ? action : "?", 18, 0);
	vg_sb_add(b, " ");
	vg_sb_safe(b, name ? name : "?");
	vg_sb_printf(b, "[%lld] <- ", (long long)vg_r_int(r, "ProcessId"));
	vg_sb_safe(b, pname ? pname : "?");
	vg_sb_printf(b, "[%lld]", (long long)ppid);

	if (action && !strcmp(action, "ProcessTerminated")) {
		if (vg_r_has(r, "vg_signal"))
			vg_sb_printf(b, "  signal %lld", (long long)vg_r_int(r, "vg_signal"));
		else
			vg_sb_printf(b, "  exit %lld", (long long)vg_r_int(r, "ProcessExitCode"));
		if (vg_r_int(r, "vg_core"))
			vg_sb_add(b, " (core dumped)");
		return;
	}
	if (cmd) {
		vg_sb_add(b, "  ");
		vg_sb_safe(b, cmd);
	}
	vg_sb_add(b, "  (");
	if (cwd) {
		vg_sb_add(b, "cwd ");
		vg_sb_safe(b, cwd);
		vg_sb_add(b, ", ");
	}
	vg_sb_printf(b, "uid %lld", (long long)vg_r_int(r, "AccountUid"));
	if (vg_r_text(r, "Distribution")) {
		vg_sb_add(b, ", distribution ");
		vg_sb_safe(b, vg_r_text(r, "Distribution"));
	}
	vg_sb_add(b, ")");
}

/* "name[pid] <- parent[ppid]" of the initiating process. */
static void vg_initiator(struct vg_sb *b, struct vg_row *r)
{
	const char *name = vg_r_text(r, "InitiatingProcessFileName");
	const char *pname = vg_r_text(r, "InitiatingProcessParentFileName");

	vg_sb_safe(b, name ? name : "?");
	vg_sb_printf(b, "[%lld] <- ", (long long)vg_r_int(r, "InitiatingProcessId"));
	vg_sb_safe(b, pname ? pname : "?");
	vg_sb_printf(b, "[%lld]", (long long)vg_r_int(r, "InitiatingProcessParentId"));
}

/*
 * 2026-11-26T12:00:00.123Z  FileRenamed        mv[77] <- bash[70]  /tmp/a -> /tmp/b
 * 2026-11-26T12:00:00.124Z  ConnectionSuccess  curl[80] <- bash[70]  Tcp 127.0.0.1:40000 -> 127.0.0.1:8080
 * 2026-11-26T12:00:00.125Z  PtraceAttach       gdb[81] <- bash[70]  /usr/bin/sleep {"TargetProcessId":82}
 */
static void vg_row_human_other(struct vg_sb *b, struct vg_row *r, int table)
{
	const char *action = vg_r_text(r, "ActionType");
	const char *path = vg_r_text(r, "FolderPath");
	const char *extra = vg_r_text(r, "AdditionalFields");

	vg_sb_printf(b, "%s  ", vg_r_text(r, "Timestamp"));
	vg_sb_cell(b, action ? action : "?", 18, 0);
	vg_sb_add(b, " ");
	vg_initiator(b, r);
	vg_sb_add(b, "  ");
	if (table == 2) {
		vg_sb_safe(b, vg_r_text(r, "Protocol") ?: "?");
		vg_sb_add(b, " ");
		vg_sb_safe(b, vg_r_text(r, "LocalIP") ?: "?");
		vg_sb_printf(b, ":%lld -> ", (long long)vg_r_int(r, "LocalPort"));
		vg_sb_safe(b, vg_r_text(r, "RemoteIP") ?: "?");
		vg_sb_printf(b, ":%lld", (long long)vg_r_int(r, "RemotePort"));
		return;
	}
	if (table == 1 && vg_r_text(r, "PreviousFolderPath")) {
		vg_sb_safe(b, vg_r_text(r, "PreviousFolderPath"));
		vg_sb_add(b, " -> ");
	}
	if (path)
		vg_sb_safe(b, path);
	if (extra && strcmp(extra, "{}")) {
		vg_sb_add(b, path ? " " : "");
		vg_sb_safe(b, extra);
	}
}

#define VG_EVENT_COLS                                                                \
	"rowid AS vg_rowid, *, json_extract(AdditionalFields, '$.Comm') AS vg_comm," \
	" json_extract(AdditionalFields, '$.ExitSignal') AS vg_signal,"              \
	" json_extract(AdditionalFields, '$.CoreDumped') AS vg_core"

/* One event row, formatted, for the --limit path (at most limit per table in memory). */
struct vg_line {
	char *ts;
	int64_t report_id;
	int table;
	int64_t rowid;
	char *text;
};

static int vg_order(const char *xts, int64_t xrep, int xt, int64_t xrow, const char *yts,
		    int64_t yrep, int yt, int64_t yrow)
{
	int c = strcmp(xts, yts);

	if (c)
		return c;
	if (xrep != yrep)
		return xrep < yrep ? -1 : 1;
	if (xt != yt)
		return xt - yt;
	return xrow < yrow ? -1 : xrow > yrow;
}

static int vg_line_cmp(const void *a, const void *b)
{
	const struct vg_line *x = a, *y = b;

	return vg_order(x->ts, x->report_id, x->table, x->rowid, y->ts, y->report_id, y->table,
			y->rowid);
}

/* The current row of table t as one line of output. */
static void vg_format_row(struct vg_sb *text, struct vg_row *r, int t, int json)
{
	vg_sb_reset(text);
	if (json)
		vg_row_json(text, r, vg_event_tables[t]);
	else if (t == 0)
		vg_row_human(text, r);
	else
		vg_row_human_other(text, r, t);
	vg_sb_add(text, "\n");
}

/* Everything: merge the tables' ordered rows as they come, one row each in memory. */
static int vg_events_stream(struct vg_row *const *src, FILE *out, int json, struct vg_cursor *last)
{
	int live[VG_EVENT_TABLES] = { 0 };
	int err = 0, printed = 0, rc;
	struct vg_sb text;

	vg_sb_init(&text);
	for (int t = 0; t < VG_EVENT_TABLES && !err; t++) {
		rc = src[t] ? src[t]->step(src[t]) : 0;
		live[t] = rc > 0;
		if (rc < 0)
			err = rc;
	}
	while (!err) {
		const char *mts = NULL;
		int64_t mrep = 0;
		int m = -1;

		for (int t = 0; t < VG_EVENT_TABLES; t++) {
			const char *ts;
			int64_t rep;

			if (!live[t])
				continue;
			ts = vg_r_text(src[t], "Timestamp");
			rep = vg_r_int(src[t], "ReportId");
			if (m < 0 || vg_order(ts ? ts : "", rep, t, src[t]->rowid, mts, mrep, m,
					      src[m]->rowid) < 0) {
				m = t;
				mts = ts ? ts : "";
				mrep = rep;
			}
		}
		if (m < 0)
			break;
		vg_format_row(&text, src[m], m, json);
		err = vg_sb_put(&text, out);
		if (err)
			break;
		printed++;
		if (src[m]->rowid > last->row[m])
			last->row[m] = src[m]->rowid;
		rc = src[m]->step(src[m]);
		live[m] = rc > 0;
		if (rc < 0)
			err = rc;
	}
	vg_sb_free(&text);
	return err ? err : printed;
}

/* The last limit events: each source holds its table's newest limit; merged. */
static int vg_events_tail(struct vg_row *const *src, FILE *out, int json, long limit)
{
	struct vg_line *lines = NULL;
	size_t n = 0, cap = 0, first = 0;
	int err = 0, printed = 0, rc = 0;
	struct vg_sb text;

	vg_sb_init(&text);
	for (int t = 0; t < VG_EVENT_TABLES && !err; t++) {
		while (src[t] && (rc = src[t]->step(src[t])) > 0) {
			struct vg_line *l;
			const char *ts = vg_r_text(src[t], "Timestamp");

			if (n == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct vg_line *nl = realloc(lines, nc * sizeof(*nl));

				if (!nl) {
					err = -ENOMEM;
					break;
				}
				lines = nl;
				cap = nc;
			}
			vg_format_row(&text, src[t], t, json);
			l = &lines[n];
			l->ts = strdup(ts ? ts : "");
			l->report_id = vg_r_int(src[t], "ReportId");
			l->table = t;
			l->rowid = src[t]->rowid;
			l->text = vg_sb_err(&text) ? NULL : strdup(vg_sb_str(&text));
			if (!l->ts || !l->text) {
				free(l->ts);
				free(l->text);
				err = -ENOMEM;
				break;
			}
			n++;
		}
		if (!err && rc < 0)
			err = rc;
	}
	if (!err) {
		qsort(lines, n, sizeof(*lines), vg_line_cmp);
		if ((size_t)limit < n)
			first = n - (size_t)limit;
		for (size_t i = first; i < n; i++) {
			if (fputs(lines[i].text, out) == EOF) {
				err = -EPIPE;
				break;
			}
			printed++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(lines[i].ts);
		free(lines[i].text);
	}
	free(lines);
	vg_sb_free(&text);
	return err ? err : printed;
}

int vg_events_merge(struct vg_row *const src[VG_EVENT_TABLES], FILE *out, int json, long limit,
		    struct vg_cursor *last)
{
	struct vg_cursor ignored = { { 0 } };
	int n = limit > 0 ? vg_events_tail(src, out, json, limit) :
			    vg_events_stream(src, out, json, last ? last : &ignored);

	if (n >= 0 && fflush(out) == EOF)
		return -EPIPE;
	return n;
}

/* ---- the rows of a SQLite statement */

struct vg_row_sqlite {
	struct vg_row r;
	sqlite3 *db;
	sqlite3_stmt *st;
};

static int vg_rs_step(struct vg_row *r)
{
	struct vg_row_sqlite *s = (struct vg_row_sqlite *)r;
	int rc = sqlite3_step(s->st);

	if (rc == SQLITE_ROW) {
		r->rowid = sqlite3_column_int64(s->st, 0); /* vg_rowid */
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(s->db));
	return vg_sqlite_errno(rc);
}

static int vg_rs_ncols(struct vg_row *r)
{
	return sqlite3_column_count(((struct vg_row_sqlite *)r)->st);
}

static const char *vg_rs_name(struct vg_row *r, int i)
{
	return sqlite3_column_name(((struct vg_row_sqlite *)r)->st, i);
}

static const char *vg_rs_text(struct vg_row *r, int i)
{
	sqlite3_stmt *st = ((struct vg_row_sqlite *)r)->st;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return (const char *)sqlite3_column_text(st, i);
}

static void vg_rs_json(struct vg_row *r, int i, struct vg_sb *b)
{
	vg_json_column(b, ((struct vg_row_sqlite *)r)->st, i);
}

/* vg_row_json() of a statement's current row. */
static void vg_stmt_json(struct vg_sb *b, sqlite3_stmt *st, const char *table)
{
	struct vg_row_sqlite rs = { { NULL, vg_rs_ncols, vg_rs_name, vg_rs_text, vg_rs_json, 0 },
				    NULL,
				    st };

	vg_row_json(b, &rs.r, table);
}

/*
 * Table t's rows after `after` and up to `upto` (< 0: no bound), in timeline
 * order, or the newest `limit` of them newest first (limit > 0). SQLite sorts
 * (spilling to disk for large tables), so no caller holds a whole table.
 */
static int vg_range_query(struct vg_row_sqlite *s, int t, int64_t after, int64_t upto, long limit,
			  const char *distro)
{
	char sql[600];
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT " VG_EVENT_COLS " FROM %s WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)%s"
		 " ORDER BY Timestamp %s, ReportId %s, rowid %s%s",
		 vg_event_tables[t], distro ? " AND Distribution = ?4" : "",
		 limit > 0 ? "DESC" : "", limit > 0 ? "DESC" : "", limit > 0 ? "DESC" : "",
		 limit > 0 ? " LIMIT ?3" : "");
	s->r = (struct vg_row){ vg_rs_step, vg_rs_ncols, vg_rs_name, vg_rs_text, vg_rs_json, 0 };
	rc = sqlite3_prepare_v2(s->db, sql, -1, &s->st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(s->db));
		return vg_sqlite_errno(rc);
	}
	sqlite3_bind_int64(s->st, 1, after);
	sqlite3_bind_int64(s->st, 2, upto);
	if (limit > 0)
		sqlite3_bind_int64(s->st, 3, limit);
	if (distro)
		sqlite3_bind_text(s->st, 4, distro, -1, SQLITE_TRANSIENT);
	return 0;
}

/* Move *end to the highest rowid of table t in the range, if higher. */
static int vg_range_end(sqlite3 *db, int t, int64_t after, int64_t upto, int64_t *end)
{
	char sql[160];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT max(rowid) FROM %s WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)",
		 vg_event_tables[t]);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return vg_sqlite_errno(rc);
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    sqlite3_column_int64(st, 0) > *end)
		*end = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : vg_sqlite_errno(rc);
}

int vg_events_print(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		    const struct vg_cursor *upto, long limit, struct vg_cursor *last)
{
	return vg_events_print_in(s, out, json, after, upto, limit, NULL, last);
}

int vg_events_print_in(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		       const struct vg_cursor *upto, long limit, const char *distro,
		       struct vg_cursor *last)
{
	struct vg_row_sqlite rs[VG_EVENT_TABLES] = { 0 };
	struct vg_row *src[VG_EVENT_TABLES] = { 0 };
	int err = 0, n;

	for (int t = 0; t < VG_EVENT_TABLES && !err; t++) {
		rs[t].db = vg_store_db(s);
		err = vg_range_query(&rs[t], t, after->row[t], upto ? upto->row[t] : -1, limit,
				     distro);
		src[t] = &rs[t].r;
	}
	n = err ? err : vg_events_merge(src, out, json, limit, last);
	/* With a limit, everything in the range is behind the cursor, printed or cut. */
	for (int t = 0; n >= 0 && limit > 0 && t < VG_EVENT_TABLES; t++) {
		err = vg_range_end(vg_store_db(s), t, after->row[t], upto ? upto->row[t] : -1,
				   &last->row[t]);
		if (err)
			n = err;
	}
	for (int t = 0; t < VG_EVENT_TABLES; t++)
		sqlite3_finalize(rs[t].st);
	return n;
}

/* Ring buffer fill and the daemon's own counts, after the counters. */
static int vg_stats_extra(sqlite3 *db, FILE *out, int json)
{
	static const char *const sql[7] = {
		"SELECT DeviceId, Ring, SizeBytes, FillBytes, PeakFillBytes, Timestamp"
		" FROM SensorRings ORDER BY DeviceId, Ring",
		/* Every column: a store an older host wrote has no hashing counts. */
		"SELECT * FROM SensorDaemon ORDER BY DeviceId",
		"SELECT DeviceId, RuleIndex, Line, Rule, Action, Hits, Generation, Timestamp"
		" FROM SensorFilterRules ORDER BY DeviceId, RuleIndex",
		"SELECT DeviceId, Reason, Count, Timestamp FROM HostSkippedEvents"
		" ORDER BY DeviceId, Reason",
		"SELECT DeviceId, Reason, Count, Timestamp FROM HostRefused"
		" ORDER BY DeviceId, Reason",
		"SELECT Name, Label, Count, Timestamp FROM HostCounters ORDER BY Name, Label",
		"SELECT DeviceId, Frames, MemBytes, SpoolBytes, Timestamp FROM SensorQueue"
		" ORDER BY DeviceId",
	};
	static const char *const table[7] = { "SensorRings",	   "SensorDaemon",
					      "SensorFilterRules", "HostSkippedEvents",
					      "HostRefused",	   "HostCounters",
					      "SensorQueue" };
	struct vg_sb line;
	int err = 0;

	vg_sb_init(&line);
	for (int q = 0; q < 7 && !err; q++) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(db, sql[q], -1, &st, NULL), rows = 0;

		if (rc != SQLITE_OK && q >= 3)
			continue; /* a database an older host wrote: nothing skipped or refused */
		if (rc != SQLITE_OK) {
			err = vg_sqlite_errno(rc);
			break;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			vg_sb_reset(&line);
			if (json) {
				vg_stmt_json(&line, st, table[q]);
			} else if (q == 0) {
				if (!rows)
					vg_sb_add(&line,
						  "\nRING      SIZE        FILL        PEAK\n");
				vg_sb_cell(&line, vg_text(st, "Ring") ?: "?", 8, 0);
				vg_sb_printf(&line, " %10lld  %10lld  %10lld",
					     (long long)vg_int(st, "SizeBytes"),
					     (long long)vg_int(st, "FillBytes"),
					     (long long)vg_int(st, "PeakFillBytes"));
			} else if (q == 3) {
				if (!rows)
					vg_sb_add(&line,
						  "\nEVENTS THE HOST COULD NOT STORE (a newer "
						  "sensor?)\nCOUNT        REASON\n");
				vg_sb_printf(&line, "%-12lld ", (long long)vg_int(st, "Count"));
				vg_sb_safe(&line, vg_text(st, "Reason"));
			} else if (q == 4) {
				const char *dev = vg_text(st, "DeviceId");

				if (!rows)
					vg_sb_add(&line, "\nPEERS AND FRAMES THE HOST REFUSED\n"
							 "COUNT        DEVICE           REASON\n");
				vg_sb_printf(&line, "%-12lld ", (long long)vg_int(st, "Count"));
				vg_sb_cell(&line, dev && *dev ? dev : "-", 16, 0);
				vg_sb_add(&line, " ");
				vg_sb_safe(&line, vg_text(st, "Reason"));
			} else if (q == 6) {
				vg_sb_printf(
					&line,
					"vigild queue: %lld frames unacknowledged, %lld bytes in "
					"memory, %lld bytes of spool on disk",
					(long long)vg_int(st, "Frames"),
					(long long)vg_int(st, "MemBytes"),
					(long long)vg_int(st, "SpoolBytes"));
			} else if (q == 5) {
				if (!rows)
					vg_sb_add(&line, "\nHOST COUNTERS (retention, outputs)\n"
							 "COUNT        NAME              LABEL\n");
				vg_sb_printf(&line, "%-12lld ", (long long)vg_int(st, "Count"));
				vg_sb_cell(&line, vg_text(st, "Name") ?: "?", 17, 0);
				vg_sb_add(&line, " ");
				vg_sb_safe(&line, vg_text(st, "Label"));
			} else if (q == 2) {
				if (!rows)
					vg_sb_add(&line, "\nFILTER RULES (hits since the set was "
							 "applied)\nLINE         HITS  RULE\n");
				vg_sb_printf(&line, "%-4lld %12lld  ",
					     (long long)vg_int(st, "Line"),
					     (long long)vg_int(st, "Hits"));
				vg_sb_safe(&line, vg_text(st, "Rule"));
			} else {
				long long w = vg_int(st, "Wakeups"), r = vg_int(st, "Records");

				vg_sb_printf(
					&line,
					"\nvigild: %lld records in %lld wakeups (%.1f per wakeup), "
					"%lld suppression summaries",
					r, w, w ? (double)r / (double)w : 0.0,
					(long long)vg_int(st, "Summaries"));
				if (vg_text(st, "Hashed"))
					vg_sb_printf(
						&line,
						"\nimage hashes: %lld files hashed, %lld from the "
						"cache; not hashed: %lld too large, %lld unreadable, "
						"%lld gone, %lld queue full; %lld events sent late",
						(long long)vg_int(st, "Hashed"),
						(long long)vg_int(st, "HashCached"),
						(long long)vg_int(st, "HashTooLarge"),
						(long long)vg_int(st, "HashUnreadable"),
						(long long)vg_int(st, "HashGone"),
						(long long)vg_int(st, "HashQueueFull"),
						(long long)vg_int(st, "HashLate"));
			}
			vg_sb_add(&line, "\n");
			err = vg_sb_put(&line, out);
			if (err)
				break;
			rows++;
		}
		sqlite3_finalize(st);
	}
	vg_sb_free(&line);
	return err;
}

int vg_stats_print(struct vg_store *s, FILE *out, int json)
{
	sqlite3 *db = vg_store_db(s);
	sqlite3_stmt *st;
	struct vg_sb line;
	int rc, err = 0, rows = 0;

	rc = sqlite3_prepare_v2(
		db,
		"SELECT c.DeviceId, (SELECT d.DeviceName FROM DeviceInfo d"
		"  WHERE d.DeviceId = c.DeviceId ORDER BY d.rowid DESC LIMIT 1)"
		"  AS DeviceName, c.EventClass, c.Seen, c.Emitted, c.Filtered,"
		" c.Deduplicated, c.RateLimited, c.RingbufFull, c.EventsLost,"
		" c.Timestamp FROM SensorCounters c ORDER BY c.DeviceId, c.EventClass",
		-1, &st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "stats: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc);
	}
	vg_sb_init(&line);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seen = vg_int(st, "Seen");
		int64_t sum = vg_int(st, "Emitted") + vg_int(st, "Filtered") +
			      vg_int(st, "Deduplicated") + vg_int(st, "RateLimited") +
			      vg_int(st, "RingbufFull");
		const char *ok = seen == sum ? "ok" : "MISMATCH";
		const char *dev = vg_text(st, "DeviceId");
		const char *name = vg_text(st, "DeviceName");

		vg_sb_reset(&line);
		if (json) {
			vg_stmt_json(&line, st, "SensorCounters");
			/* Replace the closing brace: the identity check is ours, not a column. */
			line.len--;
			vg_sb_printf(&line, ",\"Accounting\":\"%s\"}", ok);
		} else {
			if (!rows)
				vg_sb_printf(&line,
					     "%-24s %-8s %12s %12s %12s %12s %12s %12s %12s  %s\n",
					     "DEVICE", "CLASS", "SEEN", "EMITTED", "FILTERED",
					     "DEDUP", "RATELIMITED", "RINGBUFFULL", "LOST",
					     "ACCOUNTING");
			vg_sb_cell(&line, name && *name ? name : dev && *dev ? dev : "-", 24, 0);
			vg_sb_add(&line, " ");
			vg_sb_cell(&line, vg_text(st, "EventClass"), 8, 0);
			vg_sb_printf(&line, " %12lld %12lld %12lld %12lld %12lld %12lld %12lld  %s",
				     (long long)seen, (long long)vg_int(st, "Emitted"),
				     (long long)vg_int(st, "Filtered"),
				     (long long)vg_int(st, "Deduplicated"),
				     (long long)vg_int(st, "RateLimited"),
				     (long long)vg_int(st, "RingbufFull"),
				     (long long)vg_int(st, "EventsLost"), ok);
		}
		vg_sb_add(&line, "\n");
		err = vg_sb_put(&line, out);
		if (err)
			break;
		rows++;
	}
	if (!err && rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "stats: %s", sqlite3_errmsg(db));
		err = vg_sqlite_errno(rc);
	}
	if (!err && !rows && !json)
		fputs("no sensor counters stored yet\n", out);
	sqlite3_finalize(st);
	if (!err)
		err = vg_stats_extra(db, out, json);
	vg_sb_free(&line);
	if (!err && fflush(out) == EOF)
		err = -EPIPE;
	return err;
}
