/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Retention of the local store (vigil host --retain-days, --max-db-size):
 * one pass deletes event rows older than the cut, then the oldest event rows
 * until the pages in use fit the size cap, in small transactions of their
 * own so the writer of batches waits at most one chunk. What a pass deleted
 * is counted per table in HostCounters (Name 'RetentionDeleted'), in the
 * transaction that deleted it. The upstream outbox (UpstreamOutbox, outbox.h)
 * is bounded the same way: frames older than the cut, or the oldest data when
 * over the cap, go unshipped, counted as HostCounters UpstreamLost (Label
 * 'frames' and 'events') and logged. Portable C over SQLite.
 */
#ifndef VG_RETAIN_H
#define VG_RETAIN_H

#include <stdint.h>

struct sqlite3;

/* Rows one DELETE takes at most: a short write lock. */
#define VG_RETAIN_CHUNK 512
/* The retention thread's pause between chunks (vigil host). */
#define VG_RETAIN_PAUSE_MS 5

struct vg_retain {
	int64_t keep_ms; /* delete event rows older than now - keep_ms; 0: no age limit */
	int64_t max_bytes; /* pages in use above this: delete the oldest rows; 0: no cap */
	volatile int *stop; /* optional: set to end a pass between chunks */
	int pause_ms; /* between chunks: the writer of batches takes the lock first */
};

/*
 * One pass over db (a connection of its own, on a WAL store), with now_ns
 * the present (Unix epoch ns). Rows deleted (also added to HostCounters),
 * or a negative errno (the reason logged). The newest row of each table is
 * never deleted: SQLite would hand its rowid out again, and the cursors of
 * --print, --output and the detections count on rowids that only grow.
 */
int64_t vg_retain_pass(struct sqlite3 *db, const struct vg_retain *r, uint64_t now_ns);

/* Bytes of the pages db uses (freed pages, which SQLite reuses, not counted); -1 on error. */
int64_t vg_retain_used_bytes(struct sqlite3 *db);

/*
 * Add n to HostCounters(name, label) inside the caller's transaction (or as
 * its own statement). 0 or a negative errno.
 */
int vg_host_counter_add(struct sqlite3 *db, const char *name, const char *label, int64_t n);

#endif
