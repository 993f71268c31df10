// SPDX-License-Identifier: GPL-2.0-only
/* The upstream outbox as the store holds it: see outbox.h. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "hoststate.h"
#include "log.h"
#include "outbox.h"
#include "store.h"

/*
 * The numbers of one row of sql (arg bound as ?1 unless NULL) into
 * v[0..n-1], column n as text into txt; a table the store lacks (an older
 * store, or one no host with --upstream wrote) reads as zeros.
 */
static int vg_ob_row(sqlite3 *db, const char *sql, const char *arg, int64_t *v, int n, char *txt,
		     size_t tn)
{
	sqlite3_stmt *st;
	int rc;

	memset(v, 0, sizeof(*v) * (size_t)n);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		if (strstr(sqlite3_errmsg(db), "no such table"))
			return 0;
		vg_log(VG_ERROR, "upstream state: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			v[i] = sqlite3_column_int64(st, i);
		if (txt && sqlite3_column_text(st, n))
			snprintf(txt, tn, "%s", (const char *)sqlite3_column_text(st, n));
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "upstream state: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	return 0;
}

int vg_outbox_read(sqlite3 *db, struct vg_outbox_state *o)
{
	int64_t v[3];
	int err = 0;
	struct {
		const char *name;
		char *out;
		size_t n;
	} hs[] = {
		{ VG_HS_UPSTREAM, o->url, sizeof(o->url) },
		{ VG_HS_UP_STATE, o->state, sizeof(o->state) },
		{ VG_HS_UP_ERROR, o->error, sizeof(o->error) },
		{ VG_HS_UP_SINCE, o->since, sizeof(o->since) },
	};

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]) && !err; i++) {
		err = vg_hoststate_get(db, hs[i].name, hs[i].out, hs[i].n);
		err = err < 0 ? err : 0;
	}
	/* The oldest pending frame is the lowest Id: no scan for the lag. */
	if (!err)
		err = vg_ob_row(
			db,
			"SELECT count(*), coalesce(sum(Events), 0), " VG_OUTBOX_AGE(
				"(SELECT Timestamp FROM UpstreamOutbox ORDER BY Id LIMIT 1)") " FROM UpstreamOutbox",
			NULL, v, 3, NULL, 0);
	if (!err) {
		o->frames = v[0];
		o->events = v[1];
		o->lag_s = v[0] ? v[2] : 0;
		err = vg_ob_row(db,
				"SELECT coalesce(sum(CASE Label WHEN 'frames' THEN Count END), 0),"
				" coalesce(sum(CASE Label WHEN 'events' THEN Count END), 0)"
				" FROM HostCounters WHERE Name = '" VG_UP_LOST "'",
				NULL, v, 2, NULL, 0);
		o->lost_frames = v[0];
		o->lost_events = v[1];
	}
	if (!err)
		err = vg_ob_row(db, "SELECT 0, max(Timestamp) FROM UpstreamStreams", NULL, v, 1,
				o->shipped, sizeof(o->shipped));
	/* since came from HostState: bound, never pasted into the SQL. */
	if (!err && o->state[0] && strcmp(o->state, VG_UP_SHIPPING) && o->since[0])
		err = vg_ob_row(db, "SELECT " VG_OUTBOX_AGE("?1"), o->since, &o->failing_s, 1, NULL,
				0);
	return err;
}

/* The state as one JSON object, or the section's first lines. */
static void vg_ob_state(struct vg_sb *b, const struct vg_outbox_state *o, int json)
{
	if (json) {
		vg_sb_add(b, "{\"Table\":\"Upstream\"");
		vg_json_kv(b, "Url", o->url);
		vg_json_kv(b, "State", o->state);
		vg_json_kv(b, "Error", o->error);
		vg_json_kv(b, "ErrorSince", o->since);
		vg_sb_printf(b,
			     ",\"FailingSeconds\":%lld,\"PendingFrames\":%lld,"
			     "\"PendingEvents\":%lld,\"LagSeconds\":%lld,\"LostFrames\":%lld,"
			     "\"LostEvents\":%lld",
			     (long long)o->failing_s, (long long)o->frames, (long long)o->events,
			     (long long)o->lag_s, (long long)o->lost_frames,
			     (long long)o->lost_events);
		vg_json_kv(b, "LastShipped", o->shipped);
		vg_sb_add(b, "}\n");
		return;
	}
	vg_sb_add(b, "\nUPSTREAM ");
	vg_sb_safe(b, o->url);
	vg_sb_add(b, ": ");
	vg_sb_safe(b, o->state[0] ? o->state : "not started");
	if (o->failing_s || (o->state[0] && strcmp(o->state, VG_UP_SHIPPING))) {
		vg_sb_printf(b, " for %lld s (since ", (long long)o->failing_s);
		vg_sb_safe(b, o->since);
		vg_sb_add(b, "): ");
		vg_sb_safe(b, o->error);
	}
	vg_sb_printf(b,
		     "\npending: %lld frames, %lld events; lag %lld s (the oldest pending frame's"
		     " age)\nlast shipped: ",
		     (long long)o->frames, (long long)o->events, (long long)o->lag_s);
	vg_sb_safe(b, o->shipped[0] ? o->shipped : "never");
	vg_sb_printf(
		b, "\nlost upstream (retention removed them unshipped): %lld frames, %lld events\n",
		(long long)o->lost_frames, (long long)o->lost_events);
}

int vg_outbox_print(sqlite3 *db, FILE *out, int json)
{
	/* The watermark per stream with what each still has pending. */
	static const char sql[] =
		"SELECT DeviceId, StreamId, max(Shipped), sum(Frames), sum(Events), sum(PendFrames),"
		" sum(PendEvents) FROM (SELECT DeviceId, StreamId, Seq AS Shipped, Frames, Events,"
		" 0 AS PendFrames, 0 AS PendEvents FROM UpstreamStreams UNION ALL"
		" SELECT DeviceId, StreamId, NULL, 0, 0, 1, Events FROM UpstreamOutbox)"
		" GROUP BY DeviceId, StreamId ORDER BY DeviceId, StreamId";
	struct vg_outbox_state o;
	struct vg_sb b;
	sqlite3_stmt *st;
	int err, rc, rows = 0;

	err = vg_outbox_read(db, &o);
	if (err || !o.url[0])
		return err;
	vg_sb_init(&b);
	vg_ob_state(&b, &o, json);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "stats: upstream: %s", sqlite3_errmsg(db));
		vg_sb_free(&b);
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *dev = (const char *)sqlite3_column_text(st, 0);
		long long v[6];

		for (int i = 0; i < 6; i++)
			v[i] = sqlite3_column_int64(st, i + 1);
		if (json) {
			vg_sb_add(&b, "{\"Table\":\"UpstreamStreams\"");
			vg_json_kv(&b, "DeviceId", dev);
			vg_sb_printf(
				&b,
				",\"StreamId\":%lld,\"Seq\":%lld,\"Frames\":%lld,"
				"\"Events\":%lld,\"PendingFrames\":%lld,\"PendingEvents\":%lld}\n",
				v[0], v[1], v[2], v[3], v[4], v[5]);
			continue;
		}
		if (!rows++)
			vg_sb_printf(&b, "%-24s %20s %11s %10s %12s %10s %12s\n", "DEVICE",
				     "STREAM", "SHIPPED SEQ", "FRAMES", "EVENTS", "PENDING",
				     "PENDING EV");
		vg_sb_cell(&b, dev && *dev ? dev : "-", 24, 0);
		vg_sb_printf(&b, " %20lld %11lld %10lld %12lld %10lld %12lld\n", v[0], v[1], v[2],
			     v[3], v[4], v[5]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "stats: upstream: %s", sqlite3_errmsg(db));
		err = vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	if (!err)
		err = vg_sb_put(&b, out);
	vg_sb_free(&b);
	return err;
}

/* The sender's side: see outbox.h. */

#define VG_OB_BUSY_MS 5000

static int vg_ob_sql(struct vg_outbox_sender *s, const char *what, int rc)
{
	if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	vg_log(VG_ERROR, "upstream: %s: %s", what, sqlite3_errmsg(s->db));
	return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
}

int vg_outbox_sender_open(struct vg_outbox_sender *s, const char *path, const char *url)
{
	int rc;

	memset(s, 0, sizeof(*s));
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		return vg_err(vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO, "upstream: open %s",
			      path);
	sqlite3_busy_timeout(s->db, VG_OB_BUSY_MS);
	/*
	 * No fsync per shipped frame: a delete lost with the power only sends
	 * that frame again, and the server stores it once. (The batches' own
	 * commits keep synchronous=FULL on the host's connection.)
	 */
	sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	/*
	 * An earlier run's state says nothing of now: it comes back with the
	 * first attempt (at once when frames are pending). The last error stays.
	 */
	if (vg_hoststate_init(s->db) || vg_hoststate_set(s->db, VG_HS_UPSTREAM, url) ||
	    vg_hoststate_set(s->db, VG_HS_UP_STATE, NULL) ||
	    vg_hoststate_set(s->db, VG_HS_UP_SINCE, NULL))
		return -EIO; /* logged */
	return 0;
}

void vg_outbox_sender_close(struct vg_outbox_sender *s)
{
	sqlite3_close(s->db);
	s->db = NULL;
}

int vg_outbox_next_n(struct vg_outbox_sender *s, struct vg_outbox_frame **out, int max,
		     size_t max_bytes)
{
	sqlite3_stmt *st;
	size_t bytes = 0;
	int rc, n = 0, err = 0;

	rc = sqlite3_prepare_v2(s->db,
				"SELECT Id, DeviceId, DeviceName, StreamId, Seq, Events, Frame"
				" FROM UpstreamOutbox ORDER BY Id LIMIT ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return vg_ob_sql(s, "read the outbox", rc);
	sqlite3_bind_int(st, 1, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 6);
		const char *dev = (const char *)sqlite3_column_text(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		struct vg_outbox_frame *f;

		/* The first always; the next ones while the body stays in bounds. */
		if (n && bytes + len > max_bytes)
			break;
		f = malloc(sizeof(*f) + len);
		if (!f) {
			err = vg_err(-ENOMEM, "upstream: a frame of %llu bytes",
				     (unsigned long long)len);
			break;
		}
		f->id = sqlite3_column_int64(st, 0);
		f->stream = sqlite3_column_int64(st, 3);
		f->seq = sqlite3_column_int64(st, 4);
		f->events = sqlite3_column_int64(st, 5);
		snprintf(f->device_id, sizeof(f->device_id), "%s", dev ? dev : "");
		snprintf(f->device_name, sizeof(f->device_name), "%s", name ? name : "");
		f->len = len;
		if (len)
			memcpy(f->data, sqlite3_column_blob(st, 6), len);
		out[n++] = f;
		bytes += len;
		rc = SQLITE_DONE;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = vg_ob_sql(s, "read the outbox", rc);
	sqlite3_finalize(st);
	if (err) {
		while (n)
			free(out[--n]);
		return err;
	}
	return n;
}

int vg_outbox_next(struct vg_outbox_sender *s, struct vg_outbox_frame **out)
{
	*out = NULL;
	return vg_outbox_next_n(s, out, 1, 0);
}

static int vg_ob_exec(sqlite3 *db, const char *sql, const struct vg_outbox_frame *f,
		      const char *now)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
		const char *p = sqlite3_bind_parameter_name(st, i);

		if (!p) /* a number the statement skips */
			continue;
		if (!strcmp(p, "?1"))
			sqlite3_bind_int64(st, i, f->id);
		else if (!strcmp(p, "?2"))
			sqlite3_bind_text(st, i, f->device_id, -1, SQLITE_STATIC);
		else if (!strcmp(p, "?3"))
			sqlite3_bind_int64(st, i, f->stream);
		else if (!strcmp(p, "?4"))
			sqlite3_bind_int64(st, i, f->seq);
		else if (!strcmp(p, "?5"))
			sqlite3_bind_int64(st, i, f->events);
		else if (!strcmp(p, "?6"))
			sqlite3_bind_text(st, i, now, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

void vg_outbox_done_n(struct vg_outbox_sender *s, struct vg_outbox_frame *const *fv,
		      const int *stored, int n)
{
	static const char del[] = "DELETE FROM UpstreamOutbox WHERE Id = ?1";
	static const char mark[] =
		"INSERT INTO UpstreamStreams (DeviceId, StreamId, Seq, Frames, Events, Timestamp)"
		" VALUES (?2, ?3, ?4, 1, ?5, ?6) ON CONFLICT (DeviceId, StreamId) DO UPDATE SET"
		" Seq = max(Seq, excluded.Seq), Frames = Frames + 1,"
		" Events = Events + excluded.Events, Timestamp = excluded.Timestamp";
	static const char unlost[] =
		"UPDATE HostCounters SET Count = Count - CASE Label WHEN 'frames' THEN 1 ELSE ?5"
		" END, Timestamp = ?6 WHERE Name = '" VG_UP_LOST "'";
	static const char refused[] =
		"INSERT INTO HostRefused (DeviceId, Reason, Count, Timestamp)"
		" VALUES (?2, '" VG_UP_REFUSED_REASON "', 1, ?6) ON CONFLICT (DeviceId, Reason)"
		" DO UPDATE SET Count = Count + 1, Timestamp = excluded.Timestamp";
	char now[VG_ISO_LEN];
	int rc;

	vg_iso_time(now, vg_now_ns());
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	rc = rc == SQLITE_OK ? SQLITE_DONE : rc;
	/* Every frame of the answer in one transaction: one commit for the lot. */
	for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
		const struct vg_outbox_frame *f = fv[i];
		int gone;

		rc = vg_ob_exec(s->db, del, f, now);
		gone = rc == SQLITE_DONE && sqlite3_changes(s->db) == 0;
		if (rc == SQLITE_DONE && stored[i])
			rc = vg_ob_exec(s->db, mark, f, now);
		if (rc == SQLITE_DONE && stored[i] && gone)
			rc = vg_ob_exec(s->db, unlost, f, now);
		if (rc == SQLITE_DONE && !stored[i] && !gone)
			rc = vg_ob_exec(s->db, refused, f, now);
	}
	if (rc == SQLITE_DONE)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		vg_ob_sql(s, "mark frames shipped", rc);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

void vg_outbox_done(struct vg_outbox_sender *s, const struct vg_outbox_frame *f, int stored)
{
	struct vg_outbox_frame *fv[1] = { (struct vg_outbox_frame *)f };

	vg_outbox_done_n(s, fv, &stored, 1);
}

void vg_outbox_state(struct vg_outbox_sender *s, const char *state, const char *error)
{
	int failing = strcmp(state, VG_UP_SHIPPING) != 0;
	char now[VG_ISO_LEN];

	if (failing && (!s->state[0] || !strcmp(s->state, VG_UP_SHIPPING)))
		vg_hoststate_set(s->db, VG_HS_UP_SINCE, vg_iso_time(now, vg_now_ns()));
	if (strcmp(s->state, state)) {
		snprintf(s->state, sizeof(s->state), "%s", state);
		vg_hoststate_set(s->db, VG_HS_UP_STATE, state);
	}
	if (error && strcmp(s->error, error)) {
		snprintf(s->error, sizeof(s->error), "%s", error);
		vg_hoststate_set(s->db, VG_HS_UP_ERROR, error);
	}
}
