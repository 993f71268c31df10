// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <zstd.h>

#include "batch.h"
#include "compat.h"
#include "frame.h"

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
	zlen = ZSTD_compress(z, bound, raw, raw_len, zstd_level);
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
	size_t cap, ret;
	uint8_t *buf;
	int err = 0;

	/* The frame's claimed size is only a hint for the first allocation. */
	claimed = ZSTD_getFrameContentSize(src, len);
	if (claimed == ZSTD_CONTENTSIZE_ERROR)
		return -EBADMSG;
	if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed > max)
		return -EFBIG;
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

int vg_batch_unpack(const uint8_t *payload, size_t len, Vigil__V1__Batch **out)
{
	uint8_t *raw;
	size_t raw_len;
	int err;

	err = vg_zstd_decompress(payload, len, VG_BATCH_MAX_DECODED, &raw, &raw_len);
	if (err)
		return err;
	*out = vigil__v1__batch__unpack(NULL, raw_len, raw);
	free(raw);
	return *out ? 0 : -EBADMSG;
}
