/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Delivery on top of lib/frame.h, shared by vigild and the host:
 * acknowledgements naming their stream, the control frames, bounds on what
 * a decoded batch may hold, and the shipped zstd dictionary. Portable C.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "vigil.pb-c.h"

#define VG_ACK_FRAME_LEN (VG_FRAME_HDR_LEN + 8)
/* Largest control payload (FILTER) either side accepts. */
#define VG_CONTROL_MAX_PAYLOAD (1u << 20)

/* Bounds on a decoded batch: more than this is a malformed frame. */
#define VG_BATCH_MAX_EVENTS_WIRE 65536
#define VG_BATCH_MAX_COUNTERS 64
#define VG_BATCH_MAX_ARGV 4096
#define VG_BATCH_MAX_TAGS 64

void vg_le64_put(uint8_t *p, uint64_t v);
uint64_t vg_le64_get(const uint8_t *p);

/* An ACK frame for (stream, seq) into out (VG_ACK_FRAME_LEN bytes). */
void vg_wire_ack_pack(uint8_t out[VG_ACK_FRAME_LEN], uint64_t stream, uint64_t seq);

/*
 * A whole frame (header + payload) of the given type into a malloc'd
 * buffer: 0, or -ENOMEM / -EMSGSIZE.
 */
int vg_wire_frame(uint8_t type, uint16_t flags, uint64_t seq, const void *payload, size_t len,
		  uint8_t **out, size_t *out_len);

/* 0 when every repeated field of b is within the bounds above, else -E2BIG. */
int vg_batch_check(const Vigil__V1__Batch *b);

#endif
