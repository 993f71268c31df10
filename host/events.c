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

static int vg_has(sqlite3_stmt *st, const char *name)
{
	int i = vg_col(st, name);

	return i >= 0 && sqlite3_column_type(st, i) != SQLITE_NULL;
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

/* Every column but our own bookkeeping ones, under its name; first the table. */
static void vg_row_json(struct vg_sb *b, sqlite3_stmt *st, const char *table)
{
	int n = sqlite3_column_count(st);

	vg_sb_add(b, "{\"Table\":");
	vg_json_str(b, table);
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);

		if (!strncmp(name, "vg_", 3))
			continue;
		vg_sb_add(b, ",");
		vg_json_str(b, name);
		vg_sb_add(b, ":");
		vg_json_column(b, st, i);
	}
	vg_sb_add(b, "}");
}

/*
 * 2026-11-26T12:00:00.123Z  ProcessCreated     sh[4242] <- bash[4200]  /bin/sh -c 'exit 7'  (cwd /tmp, uid 0)
 * 2026-11-26T12:00:00.125Z  ProcessTerminated  sh[4242] <- bash[4200]  exit 7
 */
static void vg_row_human(struct vg_sb *b, sqlite3_stmt *st)
{
	const char *action = vg_text(st, "ActionType");
	const char *name = vg_text(st, "FileName");
	const char *pname = vg_text(st, "InitiatingProcessFileName");
	const char *cmd = vg_text(st, "ProcessCommandLine");
	const char *cwd = vg_text(st, "ProcessCurrentDirectory");
	int64_t ppid = vg_has(st, "InitiatingProcessId") ? vg_int(st, "InitiatingProcessId") :
							   vg_int(st, "ProcessParentId");

	if (!name)
		name = vg_text(st, "vg_comm");
	vg_sb_printf(b, "%s  ", vg_text(st, "Timestamp"));
	vg_sb_cell(b, action ? action : "?", 18, 0);
	vg_sb_add(b, " ");
	vg_sb_safe(b, name ? name : "?");
	vg_sb_printf(b, "[%lld] <- ", (long long)vg_int(st, "ProcessId"));
	vg_sb_safe(b, pname ? pname : "?");
	vg_sb_printf(b, "[%lld]", (long long)ppid);

	if (action && !strcmp(action, "ProcessTerminated")) {
		if (vg_has(st, "vg_signal"))
			vg_sb_printf(b, "  signal %lld", (long long)vg_int(st, "vg_signal"));
		else
			vg_sb_printf(b, "  exit %lld", (long long)vg_int(st, "ProcessExitCode"));
		if (vg_int(st, "vg_core"))
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
	vg_sb_printf(b, "uid %lld", (long long)vg_int(st, "AccountUid"));
	if (vg_text(st, "Distribution")) {
		vg_sb_add(b, ", distribution ");
		vg_sb_safe(b, vg_text(st, "Distribution"));
	}
	vg_sb_add(b, ")");
}

/* "name[pid] <- parent[ppid]" of the initiating process. */
static void vg_initiator(struct vg_sb *b, sqlite3_stmt *st)
{
	const char *name = vg_text(st, "InitiatingProcessFileName");
	const char *pname = vg_text(st, "InitiatingProcessParentFileName");

	vg_sb_safe(b, name ? name : "?");
	vg_sb_printf(b, "[%lld] <- ", (long long)vg_int(st, "InitiatingProcessId"));
	vg_sb_safe(b, pname ? pname : "?");
	vg_sb_printf(b, "[%lld]", (long long)vg_int(st, "InitiatingProcessParentId"));
}

/*
 * 2026-11-26T12:00:00.123Z  FileRenamed        mv[77] <- bash[70]  /tmp/a -> /tmp/b
 * 2026-11-26T12:00:00.124Z  ConnectionSuccess  curl[80] <- bash[70]  Tcp 127.0.0.1:40000 -> 127.0.0.1:8080
 * 2026-11-26T12:00:00.125Z  PtraceAttach       gdb[81] <- bash[70]  /usr/bin/sleep {"TargetProcessId":82}
 */
static void vg_row_human_other(struct vg_sb *b, sqlite3_stmt *st, int table)
{
	const char *action = vg_text(st, "ActionType");
	const char *path = vg_text(st, "FolderPath");
	const char *extra = vg_text(st, "AdditionalFields");

	vg_sb_printf(b, "%s  ", vg_text(st, "Timestamp"));
	vg_sb_cell(b, action ? action : "?", 18, 0);
	vg_sb_add(b, " ");
	vg_initiator(b, st);
	vg_sb_add(b, "  ");
	if (table == 2) {
		vg_sb_safe(b, vg_text(st, "Protocol") ?: "?");
		vg_sb_add(b, " ");
		vg_sb_safe(b, vg_text(st, "LocalIP") ? vg_text(st, "LocalIP") : "?");
		vg_sb_printf(b, ":%lld -> ", (long long)vg_int(st, "LocalPort"));
		vg_sb_safe(b, vg_text(st, "RemoteIP") ? vg_text(st, "RemoteIP") : "?");
		vg_sb_printf(b, ":%lld", (long long)vg_int(st, "RemotePort"));
		return;
	}
	if (table == 1 && vg_text(st, "PreviousFolderPath")) {
		vg_sb_safe(b, vg_text(st, "PreviousFolderPath"));
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
static void vg_format_row(struct vg_sb *text, sqlite3_stmt *st, int t, int json)
{
	vg_sb_reset(text);
	if (json)
		vg_row_json(text, st, vg_event_tables[t]);
	else if (t == 0)
		vg_row_human(text, st);
	else
		vg_row_human_other(text, st, t);
	vg_sb_add(text, "\n");
}

/*
 * Table t's rows after `after` and up to `upto` (< 0: no bound), in timeline
 * order, or the newest `limit` of them newest first (limit > 0). SQLite sorts
 * (spilling to disk for large tables), so no caller holds a whole table.
 */
static int vg_range_query(sqlite3 *db, int t, int64_t after, int64_t upto, long limit,
			  const char *distro, sqlite3_stmt **st)
{
	char sql[600];
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT " VG_EVENT_COLS " FROM %s WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)%s"
		 " ORDER BY Timestamp %s, ReportId %s, rowid %s%s",
		 vg_event_tables[t], distro ? " AND Distribution = ?4" : "",
		 limit > 0 ? "DESC" : "", limit > 0 ? "DESC" : "", limit > 0 ? "DESC" : "",
		 limit > 0 ? " LIMIT ?3" : "");
	rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc);
	}
	sqlite3_bind_int64(*st, 1, after);
	sqlite3_bind_int64(*st, 2, upto);
	if (limit > 0)
		sqlite3_bind_int64(*st, 3, limit);
	if (distro)
		sqlite3_bind_text(*st, 4, distro, -1, SQLITE_TRANSIENT);
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

/* Everything: merge the tables' ordered rows as they come, one row each in memory. */
static int vg_events_stream(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
			    const struct vg_cursor *upto, const char *distro,
			    struct vg_cursor *last)
{
	sqlite3 *db = vg_store_db(s);
	sqlite3_stmt *st[VG_EVENT_TABLES] = { 0 };
	int live[VG_EVENT_TABLES] = { 0 }, tcol[VG_EVENT_TABLES], rcol[VG_EVENT_TABLES];
	int err = 0, printed = 0, rc;
	struct vg_sb text;

	vg_sb_init(&text);
	for (int t = 0; t < VG_EVENT_TABLES && !err; t++) {
		err = vg_range_query(db, t, after->row[t], upto ? upto->row[t] : -1, 0, distro,
				     &st[t]);
		if (!err) {
			tcol[t] = vg_col(st[t], "Timestamp");
			rcol[t] = vg_col(st[t], "ReportId");
			rc = sqlite3_step(st[t]);
			live[t] = rc == SQLITE_ROW;
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				err = vg_sqlite_errno(rc);
		}
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
			ts = (const char *)sqlite3_column_text(st[t], tcol[t]);
			rep = sqlite3_column_int64(st[t], rcol[t]);
			if (m < 0 || vg_order(ts ? ts : "", rep, t, sqlite3_column_int64(st[t], 0),
					      mts, mrep, m, sqlite3_column_int64(st[m], 0)) < 0) {
				m = t;
				mts = ts ? ts : "";
				mrep = rep;
			}
		}
		if (m < 0)
			break;
		vg_format_row(&text, st[m], m, json);
		err = vg_sb_put(&text, out);
		if (err)
			break;
		printed++;
		if (sqlite3_column_int64(st[m], 0) > last->row[m])
			last->row[m] = sqlite3_column_int64(st[m], 0);
		rc = sqlite3_step(st[m]);
		live[m] = rc == SQLITE_ROW;
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(db));
			err = vg_sqlite_errno(rc);
		}
	}
	for (int t = 0; t < VG_EVENT_TABLES; t++)
		sqlite3_finalize(st[t]);
	vg_sb_free(&text);
	return err ? err : printed;
}

/* The last limit events: the newest limit of each table, merged; the cursor moves to the end. */
static int vg_events_tail(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
			  const struct vg_cursor *upto, long limit, const char *distro,
			  struct vg_cursor *last)
{
	sqlite3 *db = vg_store_db(s);
	struct vg_line *lines = NULL;
	size_t n = 0, cap = 0, first = 0;
	int err = 0, printed = 0, rc;
	struct vg_sb text;

	vg_sb_init(&text);
	for (int t = 0; t < VG_EVENT_TABLES && !err; t++) {
		int64_t hi = upto ? upto->row[t] : -1;
		sqlite3_stmt *st;

		err = vg_range_query(db, t, after->row[t], hi, limit, distro, &st);
		if (err)
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct vg_line *l;

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
			vg_format_row(&text, st, t, json);
			l = &lines[n];
			l->ts = strdup(vg_text(st, "Timestamp") ? vg_text(st, "Timestamp") : "");
			l->report_id = vg_int(st, "ReportId");
			l->table = t;
			l->rowid = sqlite3_column_int64(st, 0);
			l->text = vg_sb_err(&text) ? NULL : strdup(vg_sb_str(&text));
			if (!l->ts || !l->text) {
				free(l->ts);
				free(l->text);
				err = -ENOMEM;
				break;
			}
			n++;
		}
		if (!err && rc != SQLITE_DONE) {
			vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(db));
			err = vg_sqlite_errno(rc);
		}
		sqlite3_finalize(st);
		/* Everything in the range is behind the cursor, printed or cut by the limit. */
		if (!err)
			err = vg_range_end(db, t, after->row[t], hi, &last->row[t]);
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

int vg_events_print(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		    const struct vg_cursor *upto, long limit, struct vg_cursor *last)
{
	return vg_events_print_in(s, out, json, after, upto, limit, NULL, last);
}

int vg_events_print_in(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		       const struct vg_cursor *upto, long limit, const char *distro,
		       struct vg_cursor *last)
{
	int n = limit > 0 ? vg_events_tail(s, out, json, after, upto, limit, distro, last) :
			    vg_events_stream(s, out, json, after, upto, distro, last);

	if (n >= 0 && fflush(out) == EOF)
		return -EPIPE;
	return n;
}

/* Ring buffer fill and the daemon's own counts, after the counters. */
static int vg_stats_extra(sqlite3 *db, FILE *out, int json)
{
	static const char *const sql[5] = {
		"SELECT DeviceId, Ring, SizeBytes, FillBytes, PeakFillBytes, Timestamp"
		" FROM SensorRings ORDER BY DeviceId, Ring",
		"SELECT DeviceId, Wakeups, Records, Summaries, Timestamp FROM SensorDaemon"
		" ORDER BY DeviceId",
		"SELECT DeviceId, RuleIndex, Line, Rule, Action, Hits, Generation, Timestamp"
		" FROM SensorFilterRules ORDER BY DeviceId, RuleIndex",
		"SELECT DeviceId, Reason, Count, Timestamp FROM HostSkippedEvents"
		" ORDER BY DeviceId, Reason",
		"SELECT DeviceId, Reason, Count, Timestamp FROM HostRefused"
		" ORDER BY DeviceId, Reason",
	};
	static const char *const table[5] = { "SensorRings", "SensorDaemon", "SensorFilterRules",
					      "HostSkippedEvents", "HostRefused" };
	struct vg_sb line;
	int err = 0;

	vg_sb_init(&line);
	for (int q = 0; q < 5 && !err; q++) {
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
				vg_row_json(&line, st, table[q]);
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
			vg_row_json(&line, st, "SensorCounters");
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
