/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The outgoing queue: every frame vigild sends stays here, whole, until the
 * host acknowledges it. Frames are kept in memory up to a bound; with a spool
 * directory they are also appended to checksummed segment files, so they
 * survive a reconnect, the host being away for long, and a restart of vigild.
 *
 * A frame is named by (stream, seq): a restarted vigild resends spooled
 * frames under their original stream and seq (the spool keeps them whole,
 * Batch.stream_id inside), while its new frames go out under a new stream.
 * ACKs name their stream (lib/wire.h).
 *
 * Segment file "seg-<16 hex id>.vgs": records of a 40-byte little-endian
 * header, then the payload:
 *   0 u32 magic "VGSP"  4 u32 type (1 frame, 2 ack)  8 u64 stream  16 u64 seq
 *  24 u32 nevents      28 u32 len (payload bytes)   32 u32 crc32c(bytes 0..31, payload)
 *  36 u32 zero
 * A frame record's payload is the frame exactly as sent; an ack record has
 * none.
 *
 * Opening the spool again reads every record of every segment first, then
 * applies the acks, then deletes the segments left with nothing
 * unacknowledged, so no ack can take away a segment still being read. A
 * damaged stretch followed by whole records is skipped and the loader
 * carries on after it; a damaged tail (a write cut short) is cut off. The
 * frames either held are counted lost (frames_evicted, events_evicted) with
 * the event count their header still gives, or as one event when it gives
 * none. The directory must belong to vigild's user and be writable by it
 * alone, else it is refused; a segment that is not a regular file of that
 * user with one link (a symlink, say) is left alone, not loaded.
 *
 * Nothing leaves silently: what the memory bound (without a spool), the disk
 * cap or a failing disk forces out is counted in frames_evicted and
 * events_evicted, which vigild reports to the host as events_lost.
 */
#ifndef VG_SPOOL_H
#define VG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

enum vg_spool_sync {
	VG_SYNC_NONE, /* leave it to the page cache: survives vigild, not the machine */
	VG_SYNC_INTERVAL, /* fdatasync on vg_queue_sync() (each flush tick) */
	VG_SYNC_ALWAYS, /* fdatasync after every frame */
};

struct vg_qent;
struct vg_seg;

struct vg_queue {
	struct vg_qent *head, *tail;
	struct vg_qent *unsent; /* first entry not completely written on this connection */
	size_t wr_off; /* bytes of unsent already written */
	size_t count; /* entries */
	size_t mem_bytes, mem_max; /* frame bytes held in memory, and the bound */

	/* Spool (dir == NULL: memory only). */
	char *dir;
	int dirfd;
	struct vg_seg *segs, *active; /* oldest first */
	uint64_t next_seg_id;
	uint64_t disk_bytes, disk_max, seg_max;
	enum vg_spool_sync sync;
	int dirty;

	/* Accounting. */
	uint64_t frames_evicted, events_evicted;
	uint64_t spool_errors; /* failed segment writes (full disk, I/O errors) */
	uint64_t frames_recovered; /* unacknowledged frames found in the spool at open */
	uint64_t frames_written, frames_acked;
};

void vg_queue_init(struct vg_queue *q, size_t mem_max);
/*
 * Use dir as spool (created 0700 when missing; refused with -EPERM unless
 * owned by the euid and not group- or world-writable, -ELOOP when a
 * symlink), holding at most disk_max bytes. Unacknowledged frames of earlier
 * runs join the queue, oldest first. 0 or -errno (logged).
 */
int vg_queue_open_spool(struct vg_queue *q, const char *dir, uint64_t disk_max,
			enum vg_spool_sync sync);
void vg_queue_free(struct vg_queue *q);

/*
 * Queue a whole frame (copied). Never fails for lack of room: the oldest
 * frames make way, counted. 0, or -ENOMEM.
 */
int vg_queue_push(struct vg_queue *q, uint64_t stream, uint64_t seq, uint32_t nevents,
		  const uint8_t *frame, size_t len);
/* The host stored every frame of stream up to seq: forget them. Returns how many. */
size_t vg_queue_ack(struct vg_queue *q, uint64_t stream, uint64_t seq);
/* A new connection: everything unacknowledged is to be sent again, in order. */
void vg_queue_rewind(struct vg_queue *q);
/*
 * Write as much as the non-blocking fd takes. 0 when nothing is left to
 * write, 1 when the fd is full (wait for EPOLLOUT), or -errno (connection
 * lost: rewind after reconnecting).
 */
int vg_queue_write(struct vg_queue *q, int fd);
/* fdatasync the active segment if written since the last call (VG_SYNC_INTERVAL). */
void vg_queue_sync(struct vg_queue *q);

static inline int vg_queue_has_unsent(const struct vg_queue *q)
{
	return q->unsent != NULL;
}

int vg_spool_sync_parse(const char *s, enum vg_spool_sync *out);

#endif
