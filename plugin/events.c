// SPDX-License-Identifier: GPL-2.0-only
#include <inttypes.h>
#include <sqlite3.h>
#include <string.h>

#include "compat.h"
#include "events.h"
#include "fmt.h"
#include "log.h"

int64_t vg_events_last_rowid(struct vg_store *s)
{
	sqlite3_stmt *st;
	int64_t last = 0;
	int rc;

	rc = sqlite3_prepare_v2(vg_store_db(s), "SELECT max(rowid) FROM DeviceProcessEvents", -1,
				&st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(vg_store_db(s)));
		return vg_sqlite_errno(rc);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	else
		last = vg_sqlite_errno(rc);
	sqlite3_finalize(st);
	return last;
}

/* Terminal-safe text: control bytes become \xNN so argv cannot drive the terminal. */
static void vg_safe(struct vg_sb *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			vg_sb_printf(b, "\\x%02x", *p);
		else
			vg_sb_addn(b, (const char *)p, 1);
	}
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
	vg_sb_printf(b, "%s  %-18s ", vg_text(st, "Timestamp"), action ? action : "?");
	vg_safe(b, name ? name : "?");
	vg_sb_printf(b, "[%lld] <- ", (long long)vg_int(st, "ProcessId"));
	vg_safe(b, pname ? pname : "?");
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
		vg_safe(b, cmd);
	}
	vg_sb_add(b, "  (");
	if (cwd) {
		vg_sb_add(b, "cwd ");
		vg_safe(b, cwd);
		vg_sb_add(b, ", ");
	}
	vg_sb_printf(b, "uid %lld)", (long long)vg_int(st, "AccountUid"));
}

#define VG_EVENT_COLS                                                                \
	"rowid AS vg_rowid, *, json_extract(AdditionalFields, '$.Comm') AS vg_comm," \
	" json_extract(AdditionalFields, '$.ExitSignal') AS vg_signal,"              \
	" json_extract(AdditionalFields, '$.CoreDumped') AS vg_core"

int vg_events_print(struct vg_store *s, FILE *out, int json, int by_time, int64_t after,
		    int64_t upto, long limit, int64_t *last)
{
	sqlite3 *db = vg_store_db(s);
	const char *sql;
	sqlite3_stmt *st;
	struct vg_sb line;
	int rc, n = 0, err = 0;

	if (by_time && limit > 0)
		sql = "SELECT * FROM (SELECT " VG_EVENT_COLS " FROM DeviceProcessEvents"
		      " WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)"
		      " ORDER BY Timestamp DESC, ReportId DESC, rowid DESC LIMIT ?3)"
		      " ORDER BY Timestamp, ReportId, vg_rowid";
	else if (by_time)
		sql = "SELECT " VG_EVENT_COLS " FROM DeviceProcessEvents"
		      " WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)"
		      " ORDER BY Timestamp, ReportId, rowid";
	else
		sql = "SELECT * FROM (SELECT " VG_EVENT_COLS " FROM DeviceProcessEvents"
		      " WHERE rowid > ?1 AND (?2 < 0 OR rowid <= ?2)"
		      " ORDER BY rowid DESC LIMIT ?3) ORDER BY vg_rowid";
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc);
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
	vg_sb_init(&line);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(st, 0);

		vg_sb_reset(&line);
		if (json)
			vg_row_json(&line, st, "DeviceProcessEvents");
		else
			vg_row_human(&line, st);
		vg_sb_add(&line, "\n");
		if (vg_sb_err(&line)) {
			err = -ENOMEM;
			break;
		}
		if (fputs(vg_sb_str(&line), out) == EOF) {
			err = -EPIPE;
			break;
		}
		if (!*last || rowid > *last)
			*last = rowid;
		n++;
	}
	if (!err && rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "events: %s", sqlite3_errmsg(db));
		err = vg_sqlite_errno(rc);
	}
	sqlite3_finalize(st);
	vg_sb_free(&line);
	if (!err && fflush(out) == EOF)
		err = -EPIPE;
	return err ? err : n;
}

int vg_stats_print(struct vg_store *s, FILE *out, int json)
{
	sqlite3 *db = vg_store_db(s);
	sqlite3_stmt *st;
	struct vg_sb line, label;
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
	vg_sb_init(&label);
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
			vg_sb_reset(&label);
			vg_safe(&label, name && *name ? name : dev && *dev ? dev : "-");
			vg_sb_printf(&line, "%-24s ", vg_sb_str(&label) ? vg_sb_str(&label) : "");
			vg_sb_printf(
				&line, "%-8s %12lld %12lld %12lld %12lld %12lld %12lld %12lld  %s",
				vg_text(st, "EventClass"), (long long)seen,
				(long long)vg_int(st, "Emitted"), (long long)vg_int(st, "Filtered"),
				(long long)vg_int(st, "Deduplicated"),
				(long long)vg_int(st, "RateLimited"),
				(long long)vg_int(st, "RingbufFull"),
				(long long)vg_int(st, "EventsLost"), ok);
		}
		vg_sb_add(&line, "\n");
		if (vg_sb_err(&line)) {
			err = -ENOMEM;
			break;
		}
		if (fputs(vg_sb_str(&line), out) == EOF) {
			err = -EPIPE;
			break;
		}
		rows++;
	}
	if (!err && rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "stats: %s", sqlite3_errmsg(db));
		err = vg_sqlite_errno(rc);
	}
	if (!err && !rows && !json)
		fputs("no sensor counters stored yet\n", out);
	sqlite3_finalize(st);
	vg_sb_free(&line);
	vg_sb_free(&label);
	if (!err && fflush(out) == EOF)
		err = -EPIPE;
	return err;
}
