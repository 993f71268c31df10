/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host's metrics in the Prometheus text format (version 0.0.4), as
 * `vigil host --metrics` serves them at /metrics: the sensor counters the
 * store holds (the numbers `vigil stats` prints, read from the same rows),
 * ring fill, the daemon's counts, refusals, retention and outputs, alerts,
 * and what this host process measured itself (batches, bytes, store
 * latency). Portable C over SQLite.
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stdint.h>

struct sqlite3;
struct vg_sb;

/* Upper bounds (seconds) of the store latency histogram's buckets, +Inf not counted. */
#define VG_METRICS_BUCKETS 12
extern const double vg_metrics_bucket_s[VG_METRICS_BUCKETS];

/*
 * Measured by the connection loop, read by the metrics thread: every field
 * is read and written with __atomic builtins.
 */
struct vg_host_metrics {
	uint64_t batches; /* batches stored (resends not counted) */
	uint64_t resent; /* resent batches acknowledged again */
	uint64_t bytes; /* bytes of the BATCH frames */
	uint64_t store_ns_sum; /* time spent storing them */
	uint64_t store_le[VG_METRICS_BUCKETS + 1]; /* per bucket (not cumulative), +Inf last */
	uint64_t connections; /* open now */
};

/* One stored batch (stored 0: a resend) that took ns to store, len bytes. */
void vg_metrics_batch(struct vg_host_metrics *m, int stored, uint64_t ns, uint64_t len);

/*
 * Append the exposition to out: db's counters (a connection of the caller's;
 * tables a store lacks are left out) and m's (NULL: none). 0, or a negative
 * errno.
 */
int vg_metrics_render(struct vg_sb *out, struct sqlite3 *db, const struct vg_host_metrics *m);

/* A label value in the text format: \\ \" \n escaped, other controls and bytes not UTF-8 as U+FFFD. */
void vg_metrics_label(struct vg_sb *out, const char *s);

#endif
