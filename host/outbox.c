// SPDX-License-Identifier: GPL-2.0-only
/* The upstream outbox as the store holds it: see outbox.h. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
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
