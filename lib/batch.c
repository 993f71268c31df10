// SPDX-License-Identifier: GPL-2.0-only
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "batch.h"
#include "compat.h"
#include "frame.h"
#include "wire.h"

/* schemas/vigil-v1.zdict, embedded at build time (xxd -i). */
extern unsigned char vg_zdict[];
extern unsigned int vg_zdict_len;

static int vg_use_dict = 1;
static ZSTD_CDict *vg_cdict;
static int vg_cdict_level;
static ZSTD_DDict *vg_ddict;
static ZSTD_CCtx *vg_cctx;

void vg_batch_use_dict(int on)
{
	vg_use_dict = on;
}

unsigned int vg_batch_dict_id(void)
{
	return ZSTD_getDictID_fromDict(vg_zdict, vg_zdict_len);
}

/* Compress with the shipped dictionary; the zstd frame records its id. */
static size_t vg_compress_dict(void *dst, size_t cap, const void *src, size_t len, int level)
{
	if (!vg_cctx)
		vg_cctx = ZSTD_createCCtx();
	if (!vg_cdict || vg_cdict_level != level) {
		ZSTD_freeCDict(vg_cdict);
		vg_cdict = ZSTD_createCDict(vg_zdict, vg_zdict_len, level);
		vg_cdict_level = level;
	}
	if (!vg_cctx || !vg_cdict)
		return ZSTD_compress(dst, cap, src, len, level);
	return ZSTD_compress_usingCDict(vg_cctx, dst, cap, src, len, vg_cdict);
}

int vg_batch_pack(const Vigil__V1__Batch *b, int zstd_level, uint8_t **out, size_t *out_len)
{
	size_t raw_len = vigil__v1__batch__get_packed_size(b);
	size_t bound = ZSTD_compressBound(raw_len);
	uint8_t *raw, *z;
	size_t zlen;

	raw = malloc(raw_len ? raw_len : 1);
	z = malloc(bound);
	if (!raw || !z) {
		free(raw);
		free(z);
		return -ENOMEM;
	}
	vigil__v1__batch__pack(b, raw);
	zlen = vg_use_dict ? vg_compress_dict(z, bound, raw, raw_len, zstd_level) :
			     ZSTD_compress(z, bound, raw, raw_len, zstd_level);
	free(raw);
	if (ZSTD_isError(zlen)) {
		free(z);
		return -EIO;
	}
	if (zlen > VG_FRAME_MAX_PAYLOAD) {
		free(z);
		return -EMSGSIZE;
	}
	*out = z;
	*out_len = zlen;
	return 0;
}

int vg_zstd_decompress(const uint8_t *src, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_outBuffer ob;
	unsigned long long claimed;
	unsigned int dict_id;
	size_t cap, ret;
	uint8_t *buf;
	int err = 0;

	/* The frame's claimed size is only a hint for the first allocation. */
	claimed = ZSTD_getFrameContentSize(src, len);
	if (claimed == ZSTD_CONTENTSIZE_ERROR)
		return -EBADMSG;
	if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed > max)
		return -EFBIG;
	/* A frame made with a dictionary names it: only ours can be used. */
	dict_id = ZSTD_getDictID_fromFrame(src, len);
	if (dict_id && dict_id != vg_batch_dict_id())
		return -ENOKEY;
	cap = claimed == ZSTD_CONTENTSIZE_UNKNOWN ? 64 * 1024 : (size_t)claimed;
	if (cap == 0)
		cap = 1;
	buf = malloc(cap);
	dctx = ZSTD_createDCtx();
	if (!buf || !dctx) {
		err = -ENOMEM;
		goto out;
	}
	/* Refuse window sizes that would need more memory than the output bound. */
	ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 25);
	if (dict_id) {
		if (!vg_ddict)
			vg_ddict = ZSTD_createDDict(vg_zdict, vg_zdict_len);
		if (!vg_ddict || ZSTD_isError(ZSTD_DCtx_refDDict(dctx, vg_ddict))) {
			err = -ENOMEM;
			goto out;
		}
	}
	ob.dst = buf;
	ob.size = cap;
	ob.pos = 0;
	for (;;) {
		ret = ZSTD_decompressStream(dctx, &ob, &in);
		if (ZSTD_isError(ret)) {
			err = -EBADMSG;
			goto out;
		}
		if (ret == 0)
			break; /* frame complete */
		if (ob.pos == ob.size) {
			uint8_t *nb;

			if (cap >= max) {
				err = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			ob.dst = buf;
			ob.size = cap;
		} else if (in.pos == in.size) {
			err = -EBADMSG; /* truncated frame */
			goto out;
		}
	}
	if (in.pos != in.size) {
		err = -EBADMSG; /* trailing bytes after the zstd frame */
		goto out;
	}
	*out = buf;
	*out_len = ob.pos;
	buf = NULL;
out:
	ZSTD_freeDCtx(dctx);
	free(buf);
	return err;
}

#ifdef _WIN32
#define vg_usable_size _msize
#else
#define vg_usable_size malloc_usable_size
#endif

/*
 * protobuf-c's memory while it unpacks one batch, held to a budget: defence
 * in depth behind vg_batch_walk(), which counted the same on the wire before
 * anything was allocated. What it hands out is plain malloc memory, so the
 * batch is freed as usual.
 */
struct vg_pb_budget {
	ProtobufCAllocator a;
	size_t used, peak, limit;
	int refused;
};

static void *vg_pb_alloc(void *data, size_t n)
{
	struct vg_pb_budget *bg = data;
	void *p;
	size_t cost;

	if (n > bg->limit) {
		bg->refused = 1;
		return NULL;
	}
	p = malloc(n ? n : 1);
	if (!p)
		return NULL;
	cost = vg_usable_size(p) + VG_BATCH_ALLOC_OVERHEAD;
	if (cost > bg->limit - bg->used) {
		free(p);
		bg->refused = 1;
		return NULL;
	}
	bg->used += cost;
	if (bg->used > bg->peak)
		bg->peak = bg->used;
	return p;
}

static void vg_pb_free(void *data, void *p)
{
	struct vg_pb_budget *bg = data;

	if (!p)
		return;
	bg->used -= vg_usable_size(p) + VG_BATCH_ALLOC_OVERHEAD;
	free(p);
}

int vg_batch_decode(const uint8_t *payload, size_t len, int zstd, Vigil__V1__Batch **out, char *why,
		    size_t why_len)
{
	struct vg_pb_budget bg = { .a = { vg_pb_alloc, vg_pb_free, &bg } };
	uint8_t *raw = NULL;
	size_t raw_len = len;
	const uint8_t *enc = payload;
	int err;

	*out = NULL;
	if (why && why_len)
		why[0] = 0;
	if (zstd) {
		err = vg_zstd_decompress(payload, len, VG_BATCH_MAX_DECODED, &raw, &raw_len);
		if (err)
			return err;
		enc = raw;
	}
	bg.limit = vg_batch_unpack_budget(raw_len);
	err = vg_batch_walk(enc, raw_len, bg.limit, NULL, why, why_len);
	if (!err) {
		*out = vigil__v1__batch__unpack(&bg.a, raw_len, enc);
		if (!*out) {
			err = bg.refused ? -E2BIG : -EBADMSG;
			if (bg.refused && why && why_len)
				snprintf(why, why_len,
					 "unpacking took more than %zu bytes (the bound for a "
					 "%zu-byte batch)",
					 bg.limit, raw_len);
		}
	}
	/* Merged copies of a field could still add up past a bound. */
	if (!err && vg_batch_check(*out)) {
		vigil__v1__batch__free_unpacked(*out, NULL);
		*out = NULL;
		err = -E2BIG;
		if (why && why_len)
			snprintf(why, why_len, "a repeated field is over its bound once unpacked");
	}
	free(raw);
	return err;
}

int vg_batch_unpack(const uint8_t *payload, size_t len, Vigil__V1__Batch **out)
{
	return vg_batch_decode(payload, len, 1, out, NULL, 0);
}
