// SPDX-License-Identifier: GPL-2.0-only
/* Prometheus text format of the host's counters: see metrics.h. */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "esc.h"
#include "fmt.h"
#include "metrics.h"
#include "outbox.h"
#include "retain.h"
#include "store.h"

const double vg_metrics_bucket_s[VG_METRICS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

#define VG_LOAD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define VG_ADD(p, v) __atomic_fetch_add(&(p), (v), __ATOMIC_RELAXED)

void vg_metrics_batch(struct vg_host_metrics *m, int stored, uint64_t ns, uint64_t len)
{
	int b = 0;

	if (!stored) {
		VG_ADD(m->resent, 1);
		return;
	}
	while (b < VG_METRICS_BUCKETS && (double)ns / 1e9 > vg_metrics_bucket_s[b])
		b++;
	VG_ADD(m->store_le[b], 1);
	VG_ADD(m->store_ns_sum, ns);
	VG_ADD(m->bytes, len);
	VG_ADD(m->batches, 1);
}

void vg_metrics_label(struct vg_sb *out, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n) {
		uint32_t cp;
		size_t k = vg_utf8_seq(s, n, &cp);

		if (k && cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0)) {
			if (*s == '\\' || *s == '"')
				vg_sb_addn(out, "\\", 1);
			vg_sb_addn(out, s, k);
		} else if (k && cp == '\n') {
			vg_sb_add(out, "\\n");
		} else {
			vg_sb_add(out, "\xef\xbf\xbd");
			k = k ? k : 1;
		}
		s += k;
		n -= k;
	}
}

static void vg_metrics_head(struct vg_sb *out, const char *name, const char *type, const char *help)
{
	vg_sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1",l2="v2"} value, the labels from the row's first nl text columns. */
static void vg_metrics_sample(struct vg_sb *out, const char *name, const char *const *labels,
			      sqlite3_stmt *st, int nl, int col)
{
	vg_sb_add(out, name);
	for (int i = 0; i < nl; i++) {
		vg_sb_printf(out, "%s%s=\"", i ? "," : "{", labels[i]);
		vg_metrics_label(out, (const char *)sqlite3_column_text(st, i));
		vg_sb_add(out, "\"");
	}
	vg_sb_printf(out, "%s %lld\n", nl ? "}" : "", (long long)sqlite3_column_int64(st, col));
}

/*
 * One family per value column of sql, whose first nl columns are the labels;
 * a table the store lacks yields nothing.
 */
struct vg_family {
	const char *name, *type, *help;
	int col;
};

static int vg_metrics_query(struct vg_sb *out, sqlite3 *db, const char *sql,
			    const char *const *labels, int nl, const struct vg_family *f, int nf)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return 0; /* an older store without that table */
	for (int i = 0; i < nf; i++) {
		vg_metrics_head(out, f[i].name, f[i].type, f[i].help);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			vg_metrics_sample(out, f[i].name, labels, st, nl, f[i].col);
		if (rc != SQLITE_DONE)
			break;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : vg_sqlite_errno(rc);
}

/* One query: its rows' first nl columns are the labels, each family takes one more column. */
struct vg_metrics_q {
	const char *sql;
	const char *labels[3];
	int nl;
	struct vg_family f[5];
	int nf;
};

static const struct vg_metrics_q vg_metrics_qs[] = {
	{ "SELECT DeviceId, EventClass, Seen, Emitted, Filtered, Deduplicated, RateLimited"
	  " FROM SensorCounters ORDER BY DeviceId, EventClass",
	  { "device", "class" },
	  2,
	  {
		  { "vigil_events_seen_total", "counter", "Events the sensor saw.", 2 },
		  { "vigil_events_emitted_total", "counter", "Events the sensor sent.", 3 },
		  { "vigil_events_filtered_total", "counter", "Events filter rules dropped.", 4 },
		  { "vigil_events_deduplicated_total", "counter",
		    "Events folded into an earlier one.", 5 },
		  { "vigil_events_limited_total", "counter", "Events over the rate limit.", 6 },
	  },
	  5 },
	{ "SELECT DeviceId, EventClass, 'ringbuf_full', RingbufFull FROM SensorCounters"
	  " UNION ALL SELECT DeviceId, EventClass, 'lost', EventsLost FROM SensorCounters"
	  " ORDER BY 1, 2, 3",
	  { "device", "class", "reason" },
	  3,
	  { { "vigil_events_dropped_total", "counter",
	      "Events lost: ring buffer full, or lost on the way (reason).", 3 } },
	  1 },
	{ "SELECT DeviceId, Ring, SizeBytes, FillBytes, PeakFillBytes FROM SensorRings"
	  " ORDER BY DeviceId, Ring",
	  { "device", "ring" },
	  2,
	  {
		  { "vigil_ring_size_bytes", "gauge", "Size of the sensor's ring buffer.", 2 },
		  { "vigil_ring_fill_bytes", "gauge", "Bytes waiting in the ring buffer.", 3 },
		  { "vigil_ring_peak_fill_bytes", "gauge", "Highest fill of the ring buffer.", 4 },
	  },
	  3 },
	{ "SELECT DeviceId, Wakeups, Records, Summaries FROM SensorDaemon ORDER BY DeviceId",
	  { "device" },
	  1,
	  {
		  { "vigil_sensor_wakeups_total", "counter", "Times vigild woke to read rings.",
		    1 },
		  { "vigil_sensor_records_total", "counter", "Records vigild read from rings.", 2 },
		  { "vigil_sensor_summaries_total", "counter", "Suppression summaries sent.", 3 },
	  },
	  3 },
	{ "SELECT DeviceId, Frames, MemBytes, SpoolBytes FROM SensorQueue ORDER BY DeviceId",
	  { "device" },
	  1,
	  {
		  { "vigil_sensor_queue_frames", "gauge",
		    "Frames the sensor holds unacknowledged (its last batch).", 1 },
		  { "vigil_sensor_queue_memory_bytes", "gauge", "Bytes of those frames in memory.",
		    2 },
		  { "vigil_sensor_spool_bytes", "gauge",
		    "Bytes of the sensor's spool files on disk.", 3 },
	  },
	  3 },
	{ "SELECT DeviceId, Reason, Count FROM HostRefused ORDER BY DeviceId, Reason",
	  { "device", "reason" },
	  2,
	  { { "vigil_host_refused_total", "counter", "Peers and frames the host refused.", 2 } },
	  1 },
	{ "SELECT DeviceId, Reason, Count FROM HostSkippedEvents ORDER BY DeviceId, Reason",
	  { "device", "reason" },
	  2,
	  { { "vigil_host_skipped_events_total", "counter",
	      "Events of stored batches the host could not store.", 2 } },
	  1 },
	{ "SELECT Label, Count FROM HostCounters WHERE Name = 'RetentionDeleted' ORDER BY Label",
	  { "table" },
	  1,
	  { { "vigil_retention_deleted_rows_total", "counter",
	      "Rows retention deleted from the store.", 1 } },
	  1 },
	{ "SELECT Label, Count FROM HostCounters WHERE Name = 'OutputEvents' ORDER BY Label",
	  { "output" },
	  1,
	  { { "vigil_output_events_total", "counter", "Events an --output wrote.", 1 } },
	  1 },
	{ "SELECT Label, Count FROM HostCounters WHERE Name = 'OutputErrors' ORDER BY Label",
	  { "output" },
	  1,
	  { { "vigil_output_errors_total", "counter", "Events an --output failed to write.", 1 } },
	  1 },
	/* vigil host --upstream (outbox.h): only a store with HostState Upstream has these. */
	{ "SELECT * FROM (SELECT count(*), coalesce(sum(Events), 0), " VG_OUTBOX_AGE(
		  "(SELECT Timestamp FROM UpstreamOutbox ORDER BY Id LIMIT 1)") " FROM UpstreamOutbox)"
										" WHERE EXISTS (SELECT 1 FROM HostState"
										" WHERE Name = 'Upstream')",
	  { NULL },
	  0,
	  {
		  { "vigil_upstream_pending_frames", "gauge", "Frames stored, not yet shipped.",
		    0 },
		  { "vigil_upstream_pending_events", "gauge", "Events stored, not yet shipped.",
		    1 },
		  { "vigil_upstream_lag_seconds", "gauge",
		    "Age of the oldest frame not yet shipped (0: none).", 2 },
	  },
	  3 },
	{ "SELECT s.Value, CASE WHEN s.Value = 'shipping' THEN 0 ELSE " VG_OUTBOX_AGE(
		  "t.Value") " END FROM HostState s LEFT JOIN HostState t"
			     " ON t.Name = 'UpstreamErrorSince' WHERE s.Name = 'UpstreamState'",
	  { "state" },
	  1,
	  { { "vigil_upstream_failing_seconds", "gauge",
	      "Seconds the upstream has been failing (state: shipping, unreachable, refused).",
	      1 } },
	  1 },
	{ "SELECT DeviceId, sum(Frames), sum(Events) FROM UpstreamStreams GROUP BY DeviceId"
	  " ORDER BY DeviceId",
	  { "device" },
	  1,
	  {
		  { "vigil_upstream_shipped_frames_total", "counter",
		    "Frames the server stored (200).", 1 },
		  { "vigil_upstream_shipped_events_total", "counter",
		    "Events of the frames the server stored.", 2 },
	  },
	  2 },
	{ "SELECT Label, Count FROM HostCounters WHERE Name = 'UpstreamLost' ORDER BY Label",
	  { "unit" },
	  1,
	  { { "vigil_upstream_lost_total", "counter",
	      "Frames and events retention removed before they were shipped (unit).", 1 } },
	  1 },
	{ "SELECT coalesce(Severity, ''), count(*) FROM AlertInfo GROUP BY 1 ORDER BY 1",
	  { "severity" },
	  1,
	  { { "vigil_alerts_total", "counter", "Alerts the detections raised.", 1 } },
	  1 },
};

static int vg_metrics_store(struct vg_sb *out, sqlite3 *db)
{
	int64_t used;

	for (size_t i = 0; i < sizeof(vg_metrics_qs) / sizeof(vg_metrics_qs[0]); i++) {
		const struct vg_metrics_q *q = &vg_metrics_qs[i];
		int err = vg_metrics_query(out, db, q->sql, q->labels, q->nl, q->f, q->nf);

		if (err)
			return err;
	}
	used = vg_retain_used_bytes(db);
	if (used >= 0) {
		vg_metrics_head(out, "vigil_store_used_bytes", "gauge",
				"Bytes of the store's pages in use.");
		vg_sb_printf(out, "vigil_store_used_bytes %lld\n", (long long)used);
	}
	return 0;
}

static void vg_metrics_host(struct vg_sb *out, const struct vg_host_metrics *m)
{
	uint64_t cum = 0;

	vg_metrics_head(out, "vigil_host_batches_total", "counter",
			"Batches this host process stored.");
	vg_sb_printf(out, "vigil_host_batches_total %llu\n",
		     (unsigned long long)VG_LOAD(m->batches));
	vg_metrics_head(out, "vigil_host_batches_resent_total", "counter",
			"Resent batches acknowledged again, not stored.");
	vg_sb_printf(out, "vigil_host_batches_resent_total %llu\n",
		     (unsigned long long)VG_LOAD(m->resent));
	vg_metrics_head(out, "vigil_host_received_bytes_total", "counter",
			"Bytes of the batches this host process stored.");
	vg_sb_printf(out, "vigil_host_received_bytes_total %llu\n",
		     (unsigned long long)VG_LOAD(m->bytes));
	vg_metrics_head(out, "vigil_host_connections", "gauge", "Sensor connections open now.");
	vg_sb_printf(out, "vigil_host_connections %llu\n",
		     (unsigned long long)VG_LOAD(m->connections));
	vg_metrics_head(out, "vigil_store_batch_seconds", "histogram",
			"Time to store one batch in SQLite, its group's commit included.");
	for (int b = 0; b <= VG_METRICS_BUCKETS; b++) {
		cum += VG_LOAD(m->store_le[b]);
		if (b < VG_METRICS_BUCKETS)
			vg_sb_printf(out, "vigil_store_batch_seconds_bucket{le=\"%g\"} %llu\n",
				     vg_metrics_bucket_s[b], (unsigned long long)cum);
		else
			vg_sb_printf(out, "vigil_store_batch_seconds_bucket{le=\"+Inf\"} %llu\n",
				     (unsigned long long)cum);
	}
	vg_sb_printf(out, "vigil_store_batch_seconds_sum %.9f\n",
		     (double)VG_LOAD(m->store_ns_sum) / 1e9);
	vg_sb_printf(out, "vigil_store_batch_seconds_count %llu\n", (unsigned long long)cum);
}

int vg_metrics_render(struct vg_sb *out, sqlite3 *db, const struct vg_host_metrics *m)
{
	int err = 0;

	/* One read transaction: the families are of the same moment. */
	if (db && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
		err = vg_metrics_store(out, db);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	if (!err && m)
		vg_metrics_host(out, m);
	return err ? err : vg_sb_err(out);
}
