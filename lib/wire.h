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
/* Largest control payload (FILTER, DISTROS) either side accepts. */
#define VG_CONTROL_MAX_PAYLOAD (1u << 20)

/*
 * Bounds on a decoded batch: more than this is a malformed frame. Every
 * repeated field of the schema has one (vg_batch_walk() refuses a repeated
 * field it has no bound for).
 */
#define VG_BATCH_MAX_EVENTS_WIRE 65536
#define VG_BATCH_MAX_COUNTERS 64
#define VG_BATCH_MAX_ARGV 4096
#define VG_BATCH_MAX_TAGS 64
#define VG_BATCH_MAX_RINGS 16 /* vigild sends 3 */
#define VG_BATCH_MAX_RULES 256 /* vigild sends its filter set: VG_FLT_RULES (64) */
#define VG_BATCH_MAX_DETAILS 32 /* vigild sends at most 6 per security event */
#define VG_BATCH_MAX_LOADER_ENV 128 /* vigild sends what fits 1 KiB: at most 86 */
/* Fields a message may hold that this schema does not know (a newer sensor's). */
#define VG_BATCH_MAX_UNKNOWN 1024

/*
 * What unpacking a batch may hold at once, counted as protobuf-c allocates
 * and frees (malloc's usable size plus VG_BATCH_ALLOC_OVERHEAD each): this
 * many times the encoded size, plus VG_BATCH_UNPACK_SLACK. A dense batch of
 * exec events takes about 5 times its encoding; what vigild can be made to
 * send at worst (4095 empty arguments: 2 bytes each on the wire, 40 once
 * unpacked) about 21 times: that must never be refused, or whoever runs such
 * a command would stall delivery. Empty messages and unknown fields, which
 * vigild never sends, take 30 to 60 times.
 */
#define VG_BATCH_UNPACK_RATIO 24
/*
 * The slack covers protobuf-c's scan of a message's fields, held while it
 * unpacks: 32 bytes a field, in doubling slabs; 4 MiB for 65536 events.
 */
#define VG_BATCH_UNPACK_SLACK (8u << 20)
#define VG_BATCH_ALLOC_OVERHEAD 8

static inline size_t vg_batch_unpack_budget(size_t encoded_len)
{
	return VG_BATCH_UNPACK_RATIO * encoded_len + VG_BATCH_UNPACK_SLACK;
}

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

/* One field of an encoded protobuf message. */
struct vg_pb_field {
	uint32_t number;
	unsigned int wire_type; /* PROTOBUF_C_WIRE_TYPE_* */
	const uint8_t *body; /* length-delimited: its bytes */
	size_t body_len;
};

/* The field at *off of the message p[0..len): 0 with *off past it, or -EBADMSG. */
int vg_pb_next(const uint8_t *p, size_t len, size_t *off, struct vg_pb_field *f);

/*
 * Walk an encoded (uncompressed) Batch on the wire, before anything is
 * allocated for it: count every repeated field of every message against its
 * bound and its unknown fields against VG_BATCH_MAX_UNKNOWN, and add up what
 * protobuf-c would hold at most while it unpacks it (against budget, see
 * vg_batch_unpack_budget()). 0 with *cost (may be NULL) set; -E2BIG when a
 * count or the cost is over its bound, or a field that is not repeated
 * appears twice (no encoder does; protobuf-c would keep the last or merge);
 * -EBADMSG when the bytes are no protobuf message or a field has the wrong
 * wire type. why (may be NULL) then says where, e.g. "Batch.events: more
 * than 65536 entries".
 */
int vg_batch_walk(const uint8_t *raw, size_t len, size_t budget, size_t *cost, char *why,
		  size_t why_len);

/* The bound of a repeated field (by its name in the .proto), 0 for none. */
uint32_t vg_batch_bound(const ProtobufCMessageDescriptor *msg, const char *field);

/*
 * m encoded as protobuf_c_message_pack() encodes it (the same bytes), into
 * a malloc'd buffer, sizing each nested message once instead of once per
 * level above it: 0, or -ENOMEM, or -EMSGSIZE (over 4 GiB).
 */
int vg_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len);

/* 0 when every repeated field of b is within the bounds above, else -E2BIG. */
int vg_batch_check(const Vigil__V1__Batch *b);

#endif
