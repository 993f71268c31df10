// SPDX-License-Identifier: GPL-2.0-only
/*
 * What vigil host runs for an operator, on real SQLite stores and real
 * files: a retention pass (age and size cap, counted in HostCounters, the
 * newest row kept), the Prometheus rendering (exact lines, label escaping),
 * the jsonl output's rotation and its counted write errors (/dev/full).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "conn.h"
#include "fmt.h"
#include "frame.h"
#include "hoststate.h"
#include "hostops.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "retain.h"
#include "store.h"
#include "wire.h"

static char dir[PATH_MAX], dbpath[PATH_MAX + 8];
static struct vg_store *st;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vigil-ops-XXXXXX");
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

static void exec_sql(const char *sql)
{
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(vg_store_db(st), sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql,
		     msg ? msg : "");
}

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

/* n process events at ts, each with a payload of pad bytes, command lines "tag-i". */
static void add_events(const char *table, int n, const char *ts, const char *tag, int pad)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		 " INSERT INTO %s (Timestamp, DeviceId, ActionType, %s)"
		 " SELECT '%s', 'dev', 'X', '%s-' || i || zeroblob(%d) FROM c",
		 n, table, strcmp(table, "DeviceProcessEvents") ? "FileName" : "ProcessCommandLine",
		 ts, tag, pad);
	exec_sql(sql);
}

static const uint64_t now_ns = 1764446400ull * 1000000000ull; /* 2025-11-29T20:00:00Z */

Test(retain, deletes_what_is_older_and_counts_it, .init = setup, .fini = teardown)
{
	struct vg_retain r = { .keep_ms = 86400000 };

	/* More than two chunks of old rows, a few recent ones, old rows in another table. */
	add_events("DeviceProcessEvents", 1200, "2025-11-27T10:00:00.000Z", "old", 0);
	add_events("DeviceProcessEvents", 7, "2025-11-29T19:00:00.000Z", "new", 0);
	add_events("DeviceFileEvents", 3, "2025-11-20T10:00:00.000Z", "oldf", 0);
	add_events("DeviceFileEvents", 1, "2025-11-29T19:59:00.000Z", "newf", 0);
	cr_assert_eq(vg_retain_pass(vg_store_db(st), &r, now_ns), 1203);
	cr_expect_eq(q_int("SELECT count(*) FROM DeviceProcessEvents"), 7);
	cr_expect_eq(q_int("SELECT count(*) FROM DeviceProcessEvents WHERE ProcessCommandLine"
			   " LIKE 'new-%'"),
		     7);
	cr_expect_eq(q_int("SELECT count(*) FROM DeviceFileEvents"), 1);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'RetentionDeleted'"
			   " AND Label = 'DeviceProcessEvents'"),
		     1200);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'RetentionDeleted'"
			   " AND Label = 'DeviceFileEvents'"),
		     3);
	/* A second pass finds nothing and counts nothing more. */
	cr_expect_eq(vg_retain_pass(vg_store_db(st), &r, now_ns), 0);
	cr_expect_eq(q_int("SELECT sum(Count) FROM HostCounters"), 1203);
}

/* SQLite would give a deleted newest row's rowid out again: cursors would skip events. */
Test(retain, keeps_the_newest_row, .init = setup, .fini = teardown)
{
	struct vg_retain r = { .keep_ms = 86400000 };
	long long top;

	add_events("DeviceProcessEvents", 5, "2025-11-01T00:00:00.000Z", "old", 0);
	top = q_int("SELECT max(rowid) FROM DeviceProcessEvents");
	cr_assert_eq(vg_retain_pass(vg_store_db(st), &r, now_ns), 4);
	cr_expect_eq(q_int("SELECT rowid FROM DeviceProcessEvents"), top);
}

Test(retain, size_cap_takes_the_oldest_first, .init = setup, .fini = teardown)
{
	struct vg_retain r = { .max_bytes = 2 << 20 };
	int64_t before;

	/* 3 MiB of old file events, then 3 MiB of newer process events. */
	add_events("DeviceFileEvents", 768, "2025-11-28T00:00:00.000Z", "f", 4096);
	add_events("DeviceProcessEvents", 768, "2025-11-29T00:00:00.000Z", "p", 4096);
	before = vg_retain_used_bytes(vg_store_db(st));
	cr_assert_gt(before, 6 << 20);
	cr_assert_gt(vg_retain_pass(vg_store_db(st), &r, now_ns), 0);
	cr_expect_leq(vg_retain_used_bytes(vg_store_db(st)), 2 << 20);
	/* The older table went first, down to its newest row. */
	cr_expect_eq(q_int("SELECT count(*) FROM DeviceFileEvents"), 1);
	cr_expect_gt(q_int("SELECT count(*) FROM DeviceProcessEvents"), 0);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Label = 'DeviceFileEvents'"), 767);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Label = 'DeviceProcessEvents'"),
		     768 - q_int("SELECT count(*) FROM DeviceProcessEvents"));
}

static char *render(const struct vg_host_metrics *m)
{
	struct vg_sb b;
	char *s;

	vg_sb_init(&b);
	cr_assert_eq(vg_metrics_render(&b, vg_store_db(st), m), 0);
	s = strdup(vg_sb_str(&b));
	vg_sb_free(&b);
	return s;
}

Test(metrics, counters_labels_and_histogram, .init = setup, .fini = teardown)
{
	struct vg_host_metrics m = { 0 };
	char *out;

	exec_sql("INSERT INTO SensorCounters VALUES ('d\"1\\\n\x01\xff', 'exec', 10, 7, 1, 1, 1,"
		 " 0, 2, '2025-11-29T00:00:00.000Z');"
		 "INSERT INTO SensorRings VALUES ('d1', 'process', 1048576, 100, 2000, 'x');"
		 "INSERT INTO SensorQueue VALUES ('d1', 3, 4096, 8192, 'x');"
		 "INSERT INTO HostCounters VALUES ('RetentionDeleted', 'DeviceEvents', 5, 'x');"
		 "INSERT INTO HostCounters VALUES ('OutputErrors', 'jsonl:/x', 2, 'x');");
	vg_metrics_batch(&m, 1, 300000, 1000); /* 0.3 ms */
	vg_metrics_batch(&m, 1, 20000000, 500); /* 20 ms */
	vg_metrics_batch(&m, 0, 1, 1); /* a resend */
	out = render(&m);
#define HAS(line) cr_expect_not_null(strstr(out, line "\n"), "no '%s' in:\n%s", line, out)
	HAS("# TYPE vigil_events_seen_total counter");
	HAS("vigil_events_seen_total{device=\"d\\\"1\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\",class=\"exec\"} "
	    "10");
	HAS("vigil_events_emitted_total{device=\"d\\\"1\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\",class="
	    "\"exec\"} 7");
	HAS("vigil_events_dropped_total{device=\"d\\\"1\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\",class="
	    "\"exec\",reason=\"lost\"} 2");
	HAS("vigil_events_dropped_total{device=\"d\\\"1\\\\\\n\xef\xbf\xbd\xef\xbf\xbd\",class="
	    "\"exec\",reason=\"ringbuf_full\"} 0");
	HAS("# TYPE vigil_ring_fill_bytes gauge");
	HAS("vigil_ring_fill_bytes{device=\"d1\",ring=\"process\"} 100");
	HAS("# TYPE vigil_sensor_queue_frames gauge");
	HAS("vigil_sensor_queue_frames{device=\"d1\"} 3");
	HAS("vigil_sensor_queue_memory_bytes{device=\"d1\"} 4096");
	HAS("vigil_sensor_spool_bytes{device=\"d1\"} 8192");
	HAS("vigil_retention_deleted_rows_total{table=\"DeviceEvents\"} 5");
	HAS("vigil_output_errors_total{output=\"jsonl:/x\"} 2");
	HAS("vigil_host_batches_total 2");
	HAS("vigil_host_batches_resent_total 1");
	HAS("vigil_host_received_bytes_total 1500");
	HAS("# TYPE vigil_store_batch_seconds histogram");
	HAS("vigil_store_batch_seconds_bucket{le=\"0.0005\"} 1");
	HAS("vigil_store_batch_seconds_bucket{le=\"0.01\"} 1");
	HAS("vigil_store_batch_seconds_bucket{le=\"0.025\"} 2");
	HAS("vigil_store_batch_seconds_bucket{le=\"+Inf\"} 2");
	HAS("vigil_store_batch_seconds_sum 0.020300000");
	HAS("vigil_store_batch_seconds_count 2");
#undef HAS
	/* Nothing but printable UTF-8 and line ends. */
	for (const char *p = out; *p; p++)
		cr_expect(*p == '\n' || (unsigned char)*p >= 0x20, "control byte at %zu",
			  (size_t)(p - out));
	free(out);
}

static long fsize(const char *p)
{
	struct stat s;

	return stat(p, &s) ? -1 : (long)s.st_size;
}

Test(output, jsonl_rotates_by_size, .init = setup, .fini = teardown)
{
	struct vg_output o;
	char spec[PATH_MAX + 64], path[PATH_MAX + 8], line[128], buf[8192];
	int last = -1;

	snprintf(spec, sizeof(spec), "jsonl:%s/ev.jsonl,max-size=4K,keep=2", dir);
	cr_assert_eq(vg_output_parse(&o, spec), 0);
	cr_assert_eq(o.max_size, 4096);
	cr_assert_eq(o.keep, 2);
	cr_assert_eq(vg_output_open(&o), 0);
	/* 200 lines of 100 bytes: 40 a file, so FILE, FILE.1, FILE.2 and the rest gone. */
	for (int i = 0; i < 200; i++) {
		snprintf(line, sizeof(line), "{\"n\":%4d,\"pad\":\"%080d\"}\n", i, 0);
		cr_assert_eq(strlen(line), 100);
		cr_assert_eq(vg_output_line(&o, line, 100), 0);
	}
	cr_expect_eq(o.written, 200);
	cr_expect_eq(o.errors, 0);
	vg_output_close(&o);
	/* Oldest to newest: FILE.2, FILE.1, FILE; whole lines, in order, none past 4K. */
	for (int k = 2; k >= 0; k--) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/ev.jsonl%s%.0d", dir, k ? "." : "", k);
		cr_expect_leq(fsize(path), 4096, "%s", path);
		f = fopen(path, "r");
		cr_assert_not_null(f, "%s", path);
		while (fgets(buf, sizeof(buf), f)) {
			int n;

			cr_assert_eq(sscanf(buf, "{\"n\":%d,", &n), 1, "%s", buf);
			cr_expect(last < 0 || n == last + 1, "%d after %d", n, last);
			last = n;
		}
		fclose(f);
	}
	cr_expect_eq(last, 199);
	snprintf(path, sizeof(path), "%s/ev.jsonl.3", dir);
	cr_expect_eq(fsize(path), -1, "keep=2 kept a third file");
}

Test(output, write_errors_are_counted, .init = setup, .fini = teardown)
{
	struct vg_output o;
	int saved = vg_log_max;

	cr_assert_eq(vg_output_parse(&o, "jsonl:/dev/full,max-size=0"), 0);
	cr_assert_eq(vg_output_open(&o), 0);
	vg_log_max = -1;
	for (int i = 0; i < 3; i++)
		cr_expect_eq(vg_output_line(&o, "{}\n", 3), -ENOSPC);
	vg_log_max = saved;
	cr_expect_eq(o.errors, 3);
	cr_expect_eq(o.written, 0);
	vg_outputs_count(&o, 1, st);
	cr_expect_eq(o.errors, 0);
	cr_expect_eq(q_int("SELECT Count FROM HostCounters WHERE Name = 'OutputErrors'"
			   " AND Label = 'jsonl:/dev/full,max-size=0'"),
		     3);
	vg_output_close(&o);
}

Test(output, bad_specs)
{
	struct vg_output o;
	const char *bad[] = { "jsonl:",		  "jsonl:,keep=1",    "jsonl:/x,max-size=1",
			      "jsonl:/x,keep=-1", "jsonl:/x,size=1M", "syslog:kern0",
			      "file:/x",	  "syslogx" };
	int saved = vg_log_max;

	vg_log_max = -1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(vg_output_parse(&o, bad[i]), -EINVAL, "%s", bad[i]);
	vg_log_max = saved;
	cr_assert_eq(vg_output_parse(&o, "syslog:local3"), 0);
	cr_expect_eq(o.kind, VG_OUT_SYSLOG);
	vg_output_close(&o);
}

Test(output, sizes)
{
	int64_t v;

	cr_expect_eq(vg_parse_size("4096", &v), 0);
	cr_expect_eq(v, 4096);
	cr_expect_eq(vg_parse_size("64K", &v), 0);
	cr_expect_eq(v, 65536);
	cr_expect_eq(vg_parse_size("10MiB", &v), 0);
	cr_expect_eq(v, 10 << 20);
	cr_expect_eq(vg_parse_size("2G", &v), 0);
	cr_expect_eq(v, 2LL << 30);
	cr_expect_eq(vg_parse_size("1X", &v), -EINVAL);
	cr_expect_eq(vg_parse_size("-1", &v), -EINVAL);
	cr_expect_eq(vg_parse_size("", &v), -EINVAL);
	cr_expect_eq(vg_parse_size("99999999999T", &v), -EINVAL);
}

Test(output, host_and_port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *bad[] = { "9464",	   "127.0.0.1:",	 "[::1:9464", "localhost:9464",
			      "1.2.3.4:x", "1.2.3.4:80/metrics", "" };

	cr_assert_eq(vg_parse_hostport("127.0.0.1:9464", &ss, &sl), 0);
	cr_expect_eq(ss.ss_family, AF_INET);
	cr_assert_eq(vg_parse_hostport("[::1]:9464", &ss, &sl), 0);
	cr_expect_eq(ss.ss_family, AF_INET6);
	cr_expect_eq(vg_parse_hostport(":9464", &ss, &sl), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(vg_parse_hostport(bad[i], &ss, &sl), -EINVAL, "%s", bad[i]);
}

/* Bad operator options: a usage error (exit 2) naming the option, before anything starts. */
Test(output, host_refuses_bad_options)
{
	static const char *const cases[][2] = {
		{ "--retain-days 0", "--retain-days needs a number from 1" },
		{ "--max-db-size 10K", "--max-db-size needs a size of 1M or more" },
		{ "--retain-interval x", "--retain-interval needs a number" },
		{ "--output file:/x", "--output file:/x: expected jsonl:FILE" },
		{ "--output jsonl:/x,keep=1001", "'keep=1001' is not max-size=SIZE" },
		{ "--output syslog:kern", "--output syslog:kern: no such facility" },
		{ "--log-format xml", "--log-format needs text or json" },
		{ "--log-level loud", "--log-level needs error, warning, info or debug" },
	};
	const char *v = getenv("VIGIL");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cmd[512], out[4096];
		size_t n;
		FILE *p;

		snprintf(
			cmd, sizeof(cmd),
			"%s host --db /nonexistent/x.db %s --spawn /bin/false 2>&1; echo \"rc=$?\"",
			v && *v ? v : "build/vigil", cases[i][0]);
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = 0;
		pclose(p);
		cr_expect_not_null(strstr(out, cases[i][1]), "%s: %s", cases[i][0], out);
		cr_expect_not_null(strstr(out, "rc=2\n"), "%s: %s", cases[i][0], out);
	}
}

/*
 * The upstream outbox (vigil host --upstream): each new batch's frame kept
 * byte for byte in the batch's transaction (once, a resend adds nothing),
 * nothing kept without --upstream, retention counting the frames it removes
 * unshipped (age and size cap) as UpstreamLost, and its metrics.
 */
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

Test(outbox, each_new_frame_kept_once_as_received, .init = setup, .fini = teardown)
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

Test(outbox, nothing_kept_without_upstream, .init = setup, .fini = teardown)
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

Test(outbox, retention_counts_unshipped_frames_it_removes, .init = setup, .fini = teardown)
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

Test(outbox, size_cap_takes_unshipped_frames_when_they_are_the_oldest, .init = setup,
     .fini = teardown)
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

Test(outbox, metrics_pending_lag_failing_shipped_lost, .init = setup, .fini = teardown)
{
	char *out;
	const char *p;
	long long v = -1;

	/* A store no host with --upstream wrote: no samples. */
	add_frames(2, "2025-11-27T10:00:00.000Z", 3, 1);
	out = render(NULL);
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
	out = render(NULL);
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

/*
 * Group commit (conn.h): the batch frames one read brings are stored in one
 * transaction and each ACKed, and on_stored, only after it committed; a
 * batch that fails is undone alone, a transaction an error rolled back
 * ACKs nothing, and a host that dies mid-group has stored nothing of it.
 * Faults are SQLite's own: a TEMP trigger raising an error, or calling a
 * function that ends the process, on one event of one frame.
 */
struct gc_seen {
	int commits; /* commits of the store's connection */
	size_t acks_at[4]; /* ACKs queued when each committed */
	int stored; /* on_stored calls */
	uint64_t seq[64];
	int commits_then[64], new_then[64];
	const struct vg_conn *c;
};

static int gc_commit(void *arg)
{
	struct gc_seen *g = arg;

	if (g->commits < 4)
		g->acks_at[g->commits] = g->c->out_len / VG_ACK_FRAME_LEN;
	g->commits++;
	return 0;
}

static void gc_stored(void *arg, const struct vg_conn *c, const uint8_t *frame, size_t len)
{
	struct gc_seen *g = arg;
	struct vg_frame_hdr h;

	cr_assert_lt(g->stored, 64);
	cr_assert_eq(vg_frame_hdr_unpack(frame, &h), 0);
	cr_assert_eq(len, VG_FRAME_HDR_LEN + (size_t)h.len);
	g->seq[g->stored] = h.seq;
	g->commits_then[g->stored] = g->commits;
	g->new_then[g->stored++] = c->last_new;
}

/* A trusted connection watched by g; the commit hook on the store's connection. */
static void gc_conn(struct vg_conn *c, struct gc_seen *g)
{
	memset(g, 0, sizeof(*g));
	vg_conn_init(c, 1);
	g->c = c;
	c->on_stored = gc_stored;
	c->on_stored_arg = g;
	sqlite3_commit_hook(vg_store_db(st), gc_commit, g);
}

/* The frames of seqs, one after another in one buffer (as one read brings them). */
static uint8_t *gc_frames(const uint64_t *seqs, int n, size_t *total)
{
	uint8_t *buf = NULL;

	*total = 0;
	for (int i = 0; i < n; i++) {
		size_t len;
		uint8_t *f = mkframe(seqs[i], "dev-1", 1 + (int)(seqs[i] % 4), &len);

		buf = realloc(buf, *total + len);
		cr_assert_not_null(buf);
		memcpy(buf + *total, f, len);
		*total += len;
		free(f);
	}
	return buf;
}

/* The seqs of the ACKs c queued, in order, into acks; how many. */
static int gc_acks(const struct vg_conn *c, uint64_t *acks, int max)
{
	int n = (int)(c->out_len / VG_ACK_FRAME_LEN);
	struct vg_frame_hdr h;

	cr_assert_eq(c->out_len % VG_ACK_FRAME_LEN, 0);
	cr_assert_leq(n, max);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(vg_frame_hdr_unpack(c->out + i * VG_ACK_FRAME_LEN, &h), 0);
		cr_assert_eq(h.type, VG_FRAME_ACK);
		acks[i] = h.seq;
	}
	return n;
}

/* Events stored of the frames 1..n (1 + seq % 4 each), each exactly once. */
static void gc_assert_stored_once(int n)
{
	long long events = 0;

	for (int s = 1; s <= n; s++)
		events += 1 + s % 4;
	cr_assert_eq(q_int("SELECT count(*) FROM ReceivedFrames"), n);
	cr_assert_eq(q_int("SELECT count(DISTINCT Seq) FROM ReceivedFrames"), n);
	cr_assert_eq(q_int("SELECT max(Seq) FROM ReceivedFrames"), n);
	cr_assert_eq(q_int("SELECT count(*) FROM DeviceProcessEvents"), events);
}

/* Feed frames 1..n in one read to a fresh connection: all stored once, all ACKed in order. */
static void gc_resend_all(int n)
{
	uint64_t seqs[64], acks[64];
	struct gc_seen g;
	struct vg_conn c;
	size_t total;
	uint8_t *buf;

	for (int i = 0; i < n; i++)
		seqs[i] = (uint64_t)i + 1;
	buf = gc_frames(seqs, n, &total);
	gc_conn(&c, &g);
	cr_assert_eq(vg_conn_input(&c, st, buf, total), 0);
	cr_assert_eq(gc_acks(&c, acks, 64), n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(acks[i], seqs[i]);
	gc_assert_stored_once(n);
	sqlite3_commit_hook(vg_store_db(st), NULL, NULL);
	vg_conn_free(&c);
	free(buf);
}

Test(gcommit, frames_of_one_read_share_a_commit_then_are_acked, .init = setup, .fini = teardown)
{
	uint64_t seqs[41], acks[64];
	struct gc_seen g;
	struct vg_conn c;
	size_t total;
	uint8_t *buf;

	/* 40 new frames and a resend of seq 2: over one group's VG_CONN_GROUP_FRAMES (32). */
	for (int i = 0; i < 40; i++)
		seqs[i] = (uint64_t)i + 1;
	seqs[40] = 2;
	buf = gc_frames(seqs, 41, &total);
	gc_conn(&c, &g);
	cr_assert_eq(vg_conn_input(&c, st, buf, total), 0);
	cr_assert_eq(g.commits, 2, "%d commits", g.commits);
	/* Each group's ACKs come after its commit: none before the first, 32 before the second. */
	cr_expect_eq(g.acks_at[0], 0);
	cr_expect_eq(g.acks_at[1], 32);
	cr_assert_eq(gc_acks(&c, acks, 64), 41);
	cr_assert_eq(g.stored, 41);
	for (int i = 0; i < 41; i++) {
		cr_expect_eq(acks[i], seqs[i], "ACK %d", i);
		cr_expect_eq(g.seq[i], seqs[i], "on_stored %d", i);
		/* The first 32 after the first commit, the other 9 after the second. */
		cr_expect_eq(g.commits_then[i], i < 32 ? 1 : 2, "on_stored %d", i);
		cr_expect_eq(g.new_then[i], i < 40, "on_stored %d", i);
	}
	cr_expect_eq(c.stored, 40);
	cr_expect_eq(c.resent, 1);
	gc_assert_stored_once(40);
	sqlite3_commit_hook(vg_store_db(st), NULL, NULL);
	vg_conn_free(&c);
	free(buf);
}

/*
 * Frames 1..5 in one read, the third failing at its event (after its
 * ReceivedFrames row) by RAISE(kind): the ACKs queued, into acks; how many.
 */
static int gc_fault(const char *kind, struct gc_seen *g, uint64_t *acks, int max)
{
	static const uint64_t seqs[] = { 1, 2, 3, 4, 5 };
	char sql[200];
	struct vg_conn c;
	size_t total;
	uint8_t *buf = gc_frames(seqs, 5, &total);
	int n;

	snprintf(sql, sizeof(sql),
		 "CREATE TEMP TRIGGER gc_fault BEFORE INSERT ON DeviceProcessEvents"
		 " WHEN NEW.ReportId = 3 BEGIN SELECT RAISE(%s, 'test fault'); END",
		 kind);
	exec_sql(sql);
	gc_conn(&c, g);
	cr_assert_lt(vg_conn_input(&c, st, buf, total), 0);
	n = gc_acks(&c, acks, max);
	sqlite3_commit_hook(vg_store_db(st), NULL, NULL);
	g->c = NULL;
	vg_conn_free(&c);
	free(buf);
	exec_sql("DROP TRIGGER gc_fault");
	return n;
}

Test(gcommit, a_failed_batch_is_undone_alone, .init = setup, .fini = teardown)
{
	uint64_t acks[8];
	struct gc_seen g;

	/* 1 and 2 committed together and ACKed; 3 undone (its frame row too); 4, 5 not read. */
	cr_assert_eq(gc_fault("ABORT", &g, acks, 8), 2);
	cr_assert_eq(g.commits, 1);
	cr_expect_eq(g.acks_at[0], 0);
	cr_expect_eq(acks[0], 1);
	cr_expect_eq(acks[1], 2);
	cr_expect_eq(g.stored, 2);
	gc_assert_stored_once(2);
	/* The daemon sends all five again: each stored once. */
	gc_resend_all(5);
}

Test(gcommit, a_transaction_rolled_back_by_an_error_acks_nothing, .init = setup, .fini = teardown)
{
	uint64_t acks[8];
	struct gc_seen g;

	/* As SQLite does on a full disk or an I/O error: the whole transaction is gone. */
	cr_assert_eq(gc_fault("ROLLBACK", &g, acks, 8), 0, "ACKed what is not stored");
	cr_expect_eq(g.commits, 0);
	cr_expect_eq(g.stored, 0);
	cr_assert_eq(q_int("SELECT count(*) FROM ReceivedFrames"), 0);
	cr_assert_eq(q_int("SELECT count(*) FROM DeviceProcessEvents"), 0);
	gc_resend_all(5);
}

/* The host's end mid-group: what it had queued to send, on the pipe, then gone. */
static struct vg_conn *gc_dying;
static int gc_pipe;

static void gc_die(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t n = gc_dying->out_len;

	(void)ctx;
	(void)argc;
	(void)argv;
	if (write(gc_pipe, &n, sizeof(n)) != sizeof(n))
		_exit(1);
	_exit(9);
}

static void gc_setup_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vigil-ops-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
}

Test(gcommit, host_dead_mid_group_loses_nothing, .init = gc_setup_dir, .fini = teardown)
{
	static const uint64_t seqs[] = { 1, 2, 3, 4, 5 };
	uint64_t queued = 99;
	int p[2], status;
	size_t total;
	uint8_t *buf = gc_frames(seqs, 5, &total);
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The host: its own store, ended by the fourth frame's event. */
		struct vg_conn c;

		close(p[0]);
		gc_pipe = p[1];
		if (vg_store_open(&st, dbpath) ||
		    sqlite3_create_function(vg_store_db(st), "gc_die", 0, SQLITE_UTF8, NULL, gc_die,
					    NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(vg_store_db(st),
				 "CREATE TEMP TRIGGER gc_fault BEFORE INSERT ON"
				 " DeviceProcessEvents WHEN NEW.ReportId = 4"
				 " BEGIN SELECT gc_die(); END",
				 NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		vg_conn_init(&c, 1);
		gc_dying = &c;
		vg_conn_input(&c, st, buf, total);
		_exit(2); /* not reached: the fourth frame ends it */
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &queued, sizeof(queued)), (ssize_t)sizeof(queued));
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 9, "status %d", status);
	/* Nothing ACKed, nothing committed: the daemon still holds all five. */
	cr_expect_eq(queued, 0, "%llu bytes of ACKs queued before the commit",
		     (unsigned long long)queued);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	cr_assert_eq(q_int("SELECT count(*) FROM ReceivedFrames"), 0);
	cr_assert_eq(q_int("SELECT count(*) FROM DeviceProcessEvents"), 0);
	gc_resend_all(5);
	free(buf);
}

/*
 * The detections read from a connection of their own: an in-memory store
 * would be another database to it, so the host says so instead of running
 * rules that never see a row; without rules it runs.
 */
Test(output, in_memory_store_runs_without_rules_only)
{
	const char *v = getenv("VIGIL");
	char cmd[512], out[4096];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "%s host --db :memory: --spawn /bin/true 2>&1; echo \"rc=$?\";"
		 " %s host --db :memory: --no-rules --spawn /bin/true 2>&1; echo \"rc=$?\"",
		 v && *v ? v : "build/vigil", v && *v ? v : "build/vigil");
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	cr_expect_not_null(strstr(out, "--db ':memory:' is not a file they can open (--no-rules)"),
			   "%s", out);
	cr_expect_not_null(strstr(out, "rc=1\nrc=0\n"), "%s", out);
}
