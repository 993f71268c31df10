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
 * frame claims), count its repeated fields and what unpacking would cost on
 * the wire (vg_batch_walk(), lib/wire.h), then unpack with an allocator held
 * to that budget. 0 and *out, to free with vigil__v1__batch__free_unpacked(),
 * or -EFBIG (decompressed size over the bound), -E2BIG (a field over its
 * bound, or over the unpack budget), -EBADMSG (not zstd or not a Batch),
 * -ENOKEY, -ENOMEM. why (may be NULL) says which field and bound.
 */
int vg_batch_decode(const uint8_t *payload, size_t len, int zstd, Vigil__V1__Batch **out, char *why,
		    size_t why_len);
/* vg_batch_decode() of a zstd payload. */
int vg_batch_unpack(const uint8_t *payload, size_t len, Vigil__V1__Batch **out);

/*
 * Compress with the zstd dictionary shipped with both sides (on by default).
 * The frame carries the dictionary id; a frame naming another dictionary is
 * refused with -ENOKEY, so either side can change it later.
 */
void vg_batch_use_dict(int on);
unsigned int vg_batch_dict_id(void);

/* Bounded zstd decompression into a malloc'd buffer (exposed for tests). */
int vg_zstd_decompress(const uint8_t *src, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif
