/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Between the queue (spool.c: memory, segments, writing) and the loader
 * (spool_load.c: reading the segments an earlier run left): the record
 * layout of spool.h and the steps both take.
 */
#ifndef VG_SPOOL_INT_H
#define VG_SPOOL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "spool.h"

#define VG_REC_MAGIC 0x50534756u /* "VGSP" */
#define VG_REC_HDR 40
#define VG_REC_FRAME 1
#define VG_REC_ACK 2

struct vg_qent {
	struct vg_qent *prev, *next;
	uint64_t stream, seq;
	uint32_t nevents;
	size_t len;
	uint8_t *bytes; /* NULL: only in the spool, at seg/off */
	struct vg_seg *seg;
	uint64_t off;
};

struct vg_seg {
	struct vg_seg *next;
	uint64_t id;
	int fd;
	uint64_t size;
	size_t nlive; /* unacknowledged frames in it */
	int pinned; /* being evicted: not deleted under the evictor's feet */
};

static inline uint32_t vg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A new entry at the tail (bytes not set: the caller fills them or its segment); NULL: no memory. */
struct vg_qent *vg_qent_append(struct vg_queue *q, uint64_t stream, uint64_t seq, uint32_t nevents,
			       size_t len);
/* Drop stream's entries up to seq that no write is using; returns how many (frames_acked). */
size_t vg_ack_apply(struct vg_queue *q, uint64_t stream, uint64_t seq);
/* Unlink segment s from the queue and the spool directory, and free it. */
void vg_seg_delete(struct vg_queue *q, struct vg_seg *s);
/* Keep memory under its bound: spooled frames drop their bytes, unwritten others go (counted). */
void vg_queue_trim_memory(struct vg_queue *q);
/* Append one record; 0, or -errno with the segment left as it was. */
int vg_spool_append(struct vg_queue *q, uint32_t type, uint64_t stream, uint64_t seq,
		    uint32_t nevents, const uint8_t *payload, size_t len, uint64_t *off);

#endif
