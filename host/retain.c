// SPDX-License-Identifier: GPL-2.0-only
/* Retention of the local store: see retain.h. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "log.h"
#include "outbox.h"
#include "retain.h"
#include "store.h"

/* The tables a pass deletes from; the first VG_RETAIN_EVENTS are the size cap's too. */
static const char *const vg_retain_tables[] = {
	"DeviceProcessEvents", "DeviceFileEvents", "DeviceNetworkEvents",
	"DeviceEvents",	       "SuppressedEvents", "ReceivedFrames",
};
#define VG_RETAIN_NT (sizeof(vg_retain_tables) / sizeof(vg_retain_tables[0]))
#define VG_RETAIN_EVENTS 5
/* vg_retain_oldest()'s answer when the outbox holds the oldest data (vg_retain_outbox()). */
static const char vg_retain_outbox_t[] = "UpstreamOutbox";

int vg_host_counter_add(sqlite3 *db, const char *name, const char *label, int64_t n)
{
	char ts[VG_ISO_LEN];
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(
		db,
		"INSERT INTO HostCounters (Name, Label, Count, Timestamp)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (Name, Label) DO UPDATE"
		" SET Count = Count + excluded.Count, Timestamp = excluded.Timestamp",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return vg_sqlite_errno(rc);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n);
	sqlite3_bind_text(st, 4, vg_iso_time(ts, vg_now_ns()), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : vg_sqlite_errno(rc);
}

int64_t vg_retain_used_bytes(sqlite3 *db)
{
	static const char sql[] =
		"SELECT (p.page_count - f.freelist_count) * s.page_size"
		" FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s";
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * Delete up to VG_RETAIN_CHUNK rows of table t, in one transaction with
 * their count: those before cut (an ISO time), or with cut NULL the oldest.
 * Rows deleted, or a negative errno.
 */
static int64_t vg_retain_chunk(sqlite3 *db, const char *t, const char *cut)
{
	char sql[512];
	sqlite3_stmt *st;
	int64_t n;
	int rc, err;

	snprintf(sql, sizeof(sql),
		 "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s"
		 " rowid < (SELECT max(rowid) FROM %s) ORDER BY Timestamp LIMIT %d)",
		 t, t, cut ? "Timestamp < ?1 AND" : "", t, VG_RETAIN_CHUNK);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return vg_sqlite_errno(rc);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		if (cut)
			sqlite3_bind_text(st, 1, cut, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "retention: %s: %s", t, sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	n = sqlite3_changes(db);
	err = n ? vg_host_counter_add(db, "RetentionDeleted", t, n) : 0;
	if (!err) {
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		err = vg_sqlite_errno(rc);
	}
	if (err) {
		vg_log(VG_ERROR, "retention: %s: %s", t, sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	return n;
}

/* One statement of the outbox chunk, cut bound as ?1 when not NULL; its first column in *v. */
static int vg_retain_outbox_sql(sqlite3 *db, const char *sql, const char *cut, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	if (cut)
		sqlite3_bind_text(st, 1, cut, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && v)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/*
 * The same for the upstream outbox (UpstreamOutbox): frames stored before
 * cut (or the oldest), not shipped yet, so lost upstream. Counted as
 * UpstreamLost frames and events in the transaction that deletes them, and
 * logged. Its Ids are never reused (AUTOINCREMENT): the newest may go too.
 */
static int64_t vg_retain_outbox(sqlite3 *db, const char *cut)
{
	char pick[256], sql[384];
	int64_t n = 0, events = 0;
	int rc, err;

	snprintf(pick, sizeof(pick), "SELECT Id, Events FROM UpstreamOutbox%s ORDER BY Id LIMIT %d",
		 cut ? " WHERE Timestamp < ?1" : "", VG_RETAIN_CHUNK);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return vg_sqlite_errno(rc);
	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(Events), 0) FROM (%s)", pick);
	rc = vg_retain_outbox_sql(db, sql, cut, &events);
	if (rc == SQLITE_DONE) {
		snprintf(sql, sizeof(sql),
			 "DELETE FROM UpstreamOutbox WHERE Id IN (SELECT Id FROM (%s))", pick);
		rc = vg_retain_outbox_sql(db, sql, cut, NULL);
		n = sqlite3_changes(db);
	}
	err = rc == SQLITE_DONE ? 0 : vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	if (!err && n)
		err = vg_host_counter_add(db, VG_UP_LOST, "frames", n);
	if (!err && n)
		err = vg_host_counter_add(db, VG_UP_LOST, "events", events);
	if (!err)
		err = vg_sqlite_errno(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
	if (err) {
		vg_log(VG_ERROR, "retention: UpstreamOutbox: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	if (n)
		vg_log(VG_WARN,
		       "retention: %lld frames (%lld events) removed before they went upstream"
		       " (counted in HostCounters %s)",
		       (long long)n, (long long)events, VG_UP_LOST);
	return n;
}

/* The event table whose oldest row is the oldest of all, or NULL when all are (nearly) empty. */
static const char *vg_retain_oldest(sqlite3 *db)
{
	const char *best = NULL;
	char sql[256], oldest[VG_ISO_LEN] = "";
	sqlite3_stmt *st;

	for (size_t i = 0; i < VG_RETAIN_EVENTS; i++) {
		const char *t = vg_retain_tables[i];

		snprintf(sql, sizeof(sql),
			 "SELECT min(Timestamp) FROM %s WHERE rowid < (SELECT max(rowid) FROM %s)",
			 t, t);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			continue;
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
			const char *ts = (const char *)sqlite3_column_text(st, 0);

			if (!best || strcmp(ts, oldest) < 0) {
				snprintf(oldest, sizeof(oldest), "%s", ts);
				best = t;
			}
		}
		sqlite3_finalize(st);
	}
	/* Unshipped frames take room too: the oldest data goes first, shipped or not. */
	if (sqlite3_prepare_v2(db, "SELECT Timestamp FROM UpstreamOutbox ORDER BY Id LIMIT 1", -1,
			       &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
		    (!best || strcmp((const char *)sqlite3_column_text(st, 0), oldest) < 0))
			best = vg_retain_outbox_t;
		sqlite3_finalize(st);
	}
	return best;
}

int64_t vg_retain_pass(sqlite3 *db, const struct vg_retain *r, uint64_t now_ns)
{
	int64_t total = 0, n, used;
	char cut[VG_ISO_LEN];

	if (r->keep_ms > 0) {
		uint64_t keep_ns = (uint64_t)r->keep_ms * 1000000u;

		vg_iso_time(cut, now_ns > keep_ns ? now_ns - keep_ns : 0);
		for (size_t i = 0; i < VG_RETAIN_NT; i++) {
			do {
				if (r->stop && *r->stop)
					return total;
				n = vg_retain_chunk(db, vg_retain_tables[i], cut);
				if (n < 0)
					return n;
				total += n;
				if (n == VG_RETAIN_CHUNK && r->pause_ms)
					sqlite3_sleep(r->pause_ms);
			} while (n == VG_RETAIN_CHUNK);
		}
		do {
			if (r->stop && *r->stop)
				return total;
			n = vg_retain_outbox(db, cut);
			if (n < 0)
				return n;
			total += n;
		} while (n == VG_RETAIN_CHUNK);
	}
	while (r->max_bytes > 0 && (used = vg_retain_used_bytes(db)) > r->max_bytes) {
		const char *t = vg_retain_oldest(db);

		if (!t || (r->stop && *r->stop))
			break;
		n = t == vg_retain_outbox_t ? vg_retain_outbox(db, NULL) :
					      vg_retain_chunk(db, t, NULL);
		if (n <= 0)
			return n < 0 ? n : total;
		total += n;
		if (r->pause_ms)
			sqlite3_sleep(r->pause_ms);
	}
	return total;
}
