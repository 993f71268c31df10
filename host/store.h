/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host's SQLite store: decoded batches become rows under the names of
 * docs/schema.md (DeviceProcessEvents, DeviceInfo) plus our
 * extensions (SensorCounters, ReceivedFrames). Portable C over SQLite.
 *
 * Exactly-once: ReceivedFrames holds (DeviceId, StreamId, Seq) of every stored batch
 * and is written in the same transaction as the batch's rows, so a resent
 * batch is recognised and stored once, however often it arrives.
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stdint.h>

#include "vigil.pb-c.h"

struct vg_store;
struct sqlite3;

/*
 * What the store remembers about one connection: the device that last
 * reported on it, whose id and name label later batches without a device.
 */
struct vg_store_peer {
	char *device_id; /* NULL until a batch carries a device */
	char *device_name;
};

void vg_store_peer_free(struct vg_store_peer *p);

/*
 * Open (creating the file and the tables when missing) a store for writing:
 * WAL mode, a busy timeout, synchronous=FULL since an ACK promises the rows
 * survive. 0, or a negative errno (the reason is logged).
 */
int vg_store_open(struct vg_store **s, const char *path);

/*
 * Open an existing store read-only (vigil events/stats/hunt/...): never
 * creates the file. The cause of a failure: -ENOENT missing, -EACCES not
 * readable, -EBUSY locked, -EROFS a WAL store whose -shm file is missing and
 * may not be made (its writer persists it: a writer has not run since),
 * -EBADMSG not an SQLite database.
 */
int vg_store_open_existing(struct vg_store **s, const char *path);

void vg_store_close(struct vg_store *s);

/*
 * Store one batch in one transaction (in a group: the group's, below): its
 * device report, events, counters and its (DeviceId, StreamId, seq). 1 when stored, 0 when that pair was already
 * stored (a resend: nothing written), or a negative errno (nothing written).
 * Updates peer from b->device, even for a resend. -ESTALE once the database
 * file or its WAL was deleted or replaced under the store (checked after
 * each commit): from then on every batch, since nothing committed would
 * reach the file at the path.
 */
int vg_store_batch(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
		   const Vigil__V1__Batch *b);

/*
 * The same for a batch whose events are still encoded (lib/batch.h): they
 * are unpacked, stored and freed one at a time. With vg_store_set_outbox()
 * on, frame (its header and payload, as `vigil server` takes it; NULL: none)
 * goes to UpstreamOutbox in the batch's transaction: a batch is stored with
 * its frame kept for upstream, or not at all. A resend writes nothing, so
 * each frame is kept once.
 */
struct vg_batch;
int vg_store_batch_view(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			struct vg_batch *v, const uint8_t *frame, size_t len);
/*
 * Group commit: the batches stored between vg_store_group_begin() and
 * vg_store_group_end() share one transaction, so one commit (one fsync)
 * makes them all durable. Each is a savepoint of its own: one that fails is
 * undone alone (a negative errno from vg_store_batch_view()) and the others
 * stay. None of them is stored until vg_store_group_end() returned 0: only
 * then may they be acknowledged. It returns -ESTALE as vg_store_batch()
 * does, or another negative errno when the commit failed or an error
 * (a full disk, an I/O error) had rolled the whole transaction back: then
 * none of the group is stored. 0 when no group is open.
 */
int vg_store_group_begin(struct vg_store *s);
int vg_store_group_end(struct vg_store *s);

/* vigil host --upstream: keep each new batch's frame for the sender (cli/upstream.h). */
void vg_store_set_outbox(struct vg_store *s, int on);

/* 1 once the store found its files deleted or replaced (vg_store_batch()). */
int vg_store_lost(const struct vg_store *s);

/*
 * Count n refusals of a peer or frame (HostRefused): device is the one the
 * peer proved (or "" before that), reason a short fixed text. 0 or -errno.
 */
int vg_store_refused(struct vg_store *s, const char *device, const char *reason, uint64_t n);

/*
 * A security event's details as its AdditionalFields JSON object, in j: names
 * and text through the JSON rule (lib/esc.h), numbers as they are. NULL when
 * out of memory.
 */
struct vg_sb;
const char *vg_store_details_json(struct vg_sb *j, const Vigil__V1__SecurityEvent *se);
/* A device's tags as DeviceInfo.DeviceTags, a JSON array, in j; NULL when out of memory. */
const char *vg_device_tags_json(struct vg_sb *j, const Vigil__V1__DeviceInfo *d);

/* The connection, for queries (vigil events/stats). */
struct sqlite3 *vg_store_db(struct vg_store *s);

/* Map an SQLite result code to a negative errno. */
int vg_sqlite_errno(int rc);

/* Nanoseconds since the Unix epoch, from the portable C11 clock. */
uint64_t vg_now_ns(void);

#endif
