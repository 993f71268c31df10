/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A batch on the wire: a vigil.v1.Batch (schemas/vigil.proto), protobuf
 * encoded, then zstd-compressed as one zstd frame. Shared by vigild and the
 * host; portable C.
 */
#ifndef VG_BATCH_H
#define VG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vigil.pb-c.h"

/* Largest decoded batch the host accepts: bounds decompression bombs. */
#define VG_BATCH_MAX_DECODED (32u << 20)

/*
 * Encode and compress b into a malloc'd buffer: 0 with out and out_len set, or
 * -ENOMEM, -EMSGSIZE (compressed frame over VG_FRAME_MAX_PAYLOAD) or -EIO.
 */
int vg_batch_pack(const Vigil__V1__Batch *b, int zstd_level, uint8_t **out, size_t *out_len);

/*
 * Decode a BATCH or HELLO payload, bounded before anything is allocated for
 * it: decompress when zstd (bounded by VG_BATCH_MAX_DECODED, whatever the
 * frame claims; what is out so far is walked as it grows), count its fields
 * and what unpacking would cost on the wire (vg_batch_walk(), lib/wire.h),
 * then unpack with an allocator held to that budget. 0 and *out, to free with vigil__v1__batch__free_unpacked(),
 * or -EFBIG (decompressed size over the bound), -E2BIG (a field over its
 * bound, or over the unpack budget), -EBADMSG (not zstd or not a Batch),
 * -ENOKEY, -ENOMEM. why (may be NULL) says which field and bound.
 */
int vg_batch_decode(const uint8_t *payload, size_t len, int zstd, Vigil__V1__Batch **out, char *why,
		    size_t why_len);
/*
 * The same, but the events stay encoded until asked for one at a time: what
 * decoding holds is then the decompressed bytes and one event, however many
 * events the batch has (the host stores them so). b is the batch without its
 * events (n_events 0).
 */
struct vg_batch {
	Vigil__V1__Batch *b;
	size_t n_events;
	/* private */
	const uint8_t *enc; /* the encoded Batch: raw, or the payload itself */
	uint8_t *raw;
	size_t len, budget;
	struct vg_batch_span {
		size_t off, len;
	} * ev;
	struct vg_batch_chunk *chunks; /* the current event's memory */
};

/* 0, or an error as vg_batch_decode(); v is then closed. payload must outlive v. */
int vg_batch_open(struct vg_batch *v, const uint8_t *payload, size_t len, int zstd, char *why,
		  size_t why_len);
/*
 * Unpack event i (< v->n_events): 0 or -errno. The event lives in v's memory
 * until the next vg_batch_event() or vg_batch_close(); it is not freed.
 */
int vg_batch_event(struct vg_batch *v, size_t i, Vigil__V1__Event **ev);
void vg_batch_close(struct vg_batch *v);

/* vg_batch_decode() of a zstd payload. */
int vg_batch_unpack(const uint8_t *payload, size_t len, Vigil__V1__Batch **out);

/*
 * Compress with the zstd dictionary shipped with both sides (on by default).
 * The frame carries the dictionary id; a frame naming another dictionary is
 * refused with -ENOKEY, so either side can change it later.
 */
void vg_batch_use_dict(int on);
unsigned int vg_batch_dict_id(void);

/*
 * Unpack an encoded Batch whole with nothing refused and free it: 0 and the
 * most protobuf-c held at once, as the budget counts it (for tests: the wire
 * walk must never count less), or -EBADMSG.
 */
int vg_batch_unpack_peak(const uint8_t *raw, size_t len, size_t *peak);

/* Bounded zstd decompression into a malloc'd buffer (exposed for tests). */
int vg_zstd_decompress(const uint8_t *src, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif
