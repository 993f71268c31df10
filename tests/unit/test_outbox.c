// SPDX-License-Identifier: GPL-2.0-only
/*
 * The upstream outbox on a real SQLite store: each new batch's frame kept
 * byte for byte in the batch's transaction (once, a resend adds nothing),
 * nothing kept without --upstream, and retention counting the frames it
 * removes before they were shipped (age and size cap) as UpstreamLost.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "conn.h"
#include "fmt.h"
#include "frame.h"
#include "hoststate.h"
#include "metrics.h"
#include "outbox.h"
#include "retain.h"
#include "store.h"
#include "wire.h"

static char dir[PATH_MAX], dbpath[PATH_MAX + 8];
static struct vg_store *st;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vigil-outbox-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	vg_store_close(st);
	st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(outbox, .init = setup, .fini = teardown);

static long long q_int(const char *sql)
{
	sqlite3_stmt *s;
	long long v = -1;

	cr_assert_eq(sqlite3_prepare_v2(vg_store_db(st), sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void exec_sql(const char *sql)
{
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(vg_store_db(st), sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql,
		     msg ? msg : "");
}

/* A BATCH frame of stream 7 naming device dev, with n process events. */
static uint8_t *mkframe(uint64_t seq, const char *dev, int n, size_t *flen)
{
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[4] = { &ev, &ev, &ev, &ev };
	Vigil__V1__DeviceInfo d = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	uint8_t *z, *f;
	size_t zlen;

	p.pid = 100;
	p.exe = "/usr/bin/true";
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &p;
	ev.report_id = seq;
	ev.time_ns = 1795694400000000000ull + seq;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	b.n_events = (size_t)n;
	b.events = evs;
	b.stream_id = 7;
	d.device_id = (char *)dev;
	d.device_name = "box";
	b.device = &d;
	cr_assert_eq(vg_batch_pack(&b, 1, &z, &zlen), 0);
	cr_assert_eq(vg_wire_frame(VG_FRAME_BATCH, VG_FRAME_F_ZSTD, seq, z, zlen, &f, flen), 0);
	free(z);
	return f;
}

/* Feed frames of seqs to a trusted connection of the store. */
static void feed(const uint64_t *seqs, int n, uint8_t **frames, size_t *lens)
{
	struct vg_conn c;

	vg_conn_init(&c, 1);
	for (int i = 0; i < n; i++) {
		frames[i] = mkframe(seqs[i], "dev-1", 1 + (int)(seqs[i] % 4), &lens[i]);
		cr_assert_eq(vg_conn_input(&c, st, frames[i], lens[i]), 0, "seq %llu",
			     (unsigned long long)seqs[i]);
	}
	vg_conn_free(&c);
}

Test(outbox, each_new_frame_kept_once_as_received)
{
	static const uint64_t seqs[] = { 1, 2, 1, 3, 2 }; /* two resends */
	uint8_t *f[5];
	size_t len[5];
	sqlite3_stmt *s;
	int row = 0;

	vg_store_set_outbox(st, 1);
	feed(seqs, 5, f, len);
	cr_assert_eq(q_int("SELECT count(*) FROM ReceivedFrames"), 3);
	cr_assert_eq(q_int("SELECT count(*) FROM UpstreamOutbox"), 3);
	cr_assert_eq(sqlite3_prepare_v2(vg_store_db(st),
					"SELECT Seq, StreamId, DeviceId, DeviceName, Events, Frame"
					" FROM UpstreamOutbox ORDER BY Id",
					-1, &s, NULL),
		     SQLITE_OK);
	/* In the order stored, each the frame's bytes exactly (seqs[0], [1], [3]). */
	for (int i = 0; i < 5; i++) {
		if (i == 2 || i == 4)
			continue;
		cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
		cr_expect_eq(sqlite3_column_int64(s, 0), (long long)seqs[i]);
		cr_expect_eq(sqlite3_column_int64(s, 1), 7);
		cr_expect_str_eq((const char *)sqlite3_column_text(s, 2), "dev-1");
		cr_expect_str_eq((const char *)sqlite3_column_text(s, 3), "box");
		cr_expect_eq(sqlite3_column_int64(s, 4), 1 + (long long)(seqs[i] % 4));
		cr_assert_eq((size_t)sqlite3_column_bytes(s, 5), len[i]);
		cr_expect_eq(memcmp(sqlite3_column_blob(s, 5), f[i], len[i]), 0, "frame %d", i);
		row++;
	}
	cr_expect_eq(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	cr_expect_eq(row, 3);
	for (int i = 0; i < 5; i++)
		free(f[i]);
}

Test(outbox, nothing_kept_without_upstream)
{
	static const uint64_t seqs[] = { 1, 2 };
	uint8_t *f[2];
	size_t len[2];

	feed(seqs, 2, f, len);
	cr_assert_eq(q_int("SELECT count(*) FROM ReceivedFrames"), 2);
	cr_expect_eq(q_int("SELECT count(*) FROM UpstreamOutbox"), 0);
	free(f[0]);
	free(f[1]);
}

static const uint64_t now_ns = 1764446400ull * 1000000000ull; /* 2025-11-29T20:00:00Z */

/* n outbox frames stored at ts, of events each, pad bytes each. */
static void add_frames(int n, const char *ts, int events, int pad)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		 " INSERT INTO UpstreamOutbox (DeviceId, StreamId, Seq, Events, Timestamp, Frame)"
		 " SELECT 'dev', 1, i, %d, '%s', zeroblob(%d) FROM c",
		 n, events, ts, pad);
	exec_sql(sql);
}

Test(outbox, retention_counts_unshipped_frames_it_removes)
{
	struct vg_retain r = { .keep_ms = 86400000 };
	struct vg_outbox_state o;

	/* More than a chunk of old frames, then recent ones. */
	add_frames(600, "2025-11-27T10:00:00.000Z", 3, 10);
	add_frames(4, "2025-11-29T19:00:00.000Z", 5, 10);
	cr_assert_eq(vg_retain_pass(vg_store_db(st), &r, now_ns), 600);
	cr_expect_eq(q_int("SELECT count(*) FROM UpstreamOutbox"), 4);
	cr_expect_eq(q_int("SELECT count(*) FROM UpstreamOutbox WHERE Events = 5"), 4);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'UpstreamLost'"
			   " AND Label = 'frames'"),
		     600);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'UpstreamLost'"
			   " AND Label = 'events'"),
		     1800);
	cr_assert_eq(vg_outbox_read(vg_store_db(st), &o), 0);
	cr_expect_eq(o.frames, 4);
	cr_expect_eq(o.events, 20);
	cr_expect_eq(o.lost_frames, 600);
	cr_expect_eq(o.lost_events, 1800);
	/* A second pass removes nothing and counts nothing more. */
	cr_expect_eq(vg_retain_pass(vg_store_db(st), &r, now_ns), 0);
	cr_expect_eq(q_int("SELECT sum(Count) FROM HostCounters"), 2400);
}

Test(outbox, size_cap_takes_unshipped_frames_when_they_are_the_oldest)
{
	struct vg_retain r = { .max_bytes = 2 << 20 };
	long long left;

	/* 4 MiB of frames older than 2 MiB of events: the frames go first. */
	add_frames(1024, "2025-11-27T00:00:00.000Z", 2, 4096);
	exec_sql("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 512)"
		 " INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType,"
		 " ProcessCommandLine) SELECT '2025-11-29T00:00:00.000Z', 'dev', 'X',"
		 " 'p-' || i || zeroblob(1024) FROM c");
	cr_assert_gt(vg_retain_pass(vg_store_db(st), &r, now_ns), 0);
	cr_expect_leq(vg_retain_used_bytes(vg_store_db(st)), 2 << 20);
	left = q_int("SELECT count(*) FROM UpstreamOutbox");
	cr_expect_lt(left, 1024);
	cr_expect_eq(q_int("SELECT count(*) FROM DeviceProcessEvents"), 512, "events went first");
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'UpstreamLost'"
			   " AND Label = 'frames'"),
		     1024 - left);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'UpstreamLost'"
			   " AND Label = 'events'"),
		     2 * (1024 - left));
}

static char *render(void)
{
	struct vg_sb b;
	char *s;

	vg_sb_init(&b);
	cr_assert_eq(vg_metrics_render(&b, vg_store_db(st), NULL), 0);
	s = strdup(vg_sb_str(&b));
	vg_sb_free(&b);
	return s;
}

Test(outbox, metrics_pending_lag_failing_shipped_lost)
{
	char *out;
	const char *p;
	long long v = -1;

	/* A store no host with --upstream wrote: no samples. */
	add_frames(2, "2025-11-27T10:00:00.000Z", 3, 1);
	out = render();
	cr_expect_null(strstr(out, "vigil_upstream_pending_frames 0"), "%s", out);
	free(out);

	cr_assert_eq(vg_hoststate_init(vg_store_db(st)), 0);
	cr_assert_eq(vg_hoststate_set(vg_store_db(st), VG_HS_UPSTREAM, "https://s:1"), 0);
	cr_assert_eq(vg_hoststate_set(vg_store_db(st), VG_HS_UP_STATE, VG_UP_UNREACHABLE), 0);
	cr_assert_eq(vg_hoststate_set(vg_store_db(st), VG_HS_UP_SINCE, "2025-11-27T10:00:00.000Z"),
		     0);
	add_frames(1, "2025-11-28T10:00:00.000Z", 4, 1);
	exec_sql(
		"INSERT INTO UpstreamStreams VALUES ('d', 1, 9, 3, 30, 'x'), ('d', 2, 4, 1, 2, 'x');"
		"INSERT INTO HostCounters VALUES ('UpstreamLost', 'frames', 4, 'x'),"
		" ('UpstreamLost', 'events', 12, 'x')");
	out = render();
#define HAS(line) cr_expect_not_null(strstr(out, line "\n"), "no '%s' in:\n%s", line, out)
	HAS("# TYPE vigil_upstream_pending_frames gauge");
	HAS("vigil_upstream_pending_frames 3");
	HAS("vigil_upstream_pending_events 10");
	HAS("vigil_upstream_shipped_frames_total{device=\"d\"} 4");
	HAS("vigil_upstream_shipped_events_total{device=\"d\"} 32");
	HAS("vigil_upstream_lost_total{unit=\"events\"} 12");
	HAS("vigil_upstream_lost_total{unit=\"frames\"} 4");
#undef HAS
	/* Ages against the clock: at least since those 2025 dates. */
	p = strstr(out, "\nvigil_upstream_lag_seconds ");
	cr_assert_not_null(p, "%s", out);
	cr_expect_eq(sscanf(p, "\nvigil_upstream_lag_seconds %lld", &v), 1);
	cr_expect_gt(v, 86400, "lag %lld", v);
	p = strstr(out, "\nvigil_upstream_failing_seconds{state=\"unreachable\"} ");
	cr_assert_not_null(p, "%s", out);
	cr_expect_eq(sscanf(p, "\nvigil_upstream_failing_seconds{state=\"unreachable\"} %lld", &v),
		     1);
	cr_expect_gt(v, 86400, "failing %lld", v);
	free(out);
}
