// SPDX-License-Identifier: GPL-2.0-only
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_stableOutBuffer */
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
	size_t raw_len, bound, zlen;
	uint8_t *raw, *z;
	int err = vg_pb_pack(&b->base, &raw, &raw_len);

	if (err)
		return err;
	bound = ZSTD_compressBound(raw_len);
	z = malloc(bound);
	if (!z) {
		free(raw);
		return -ENOMEM;
	}
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

/* Compressed bytes fed at a time when the output is checked as it grows. */
#define VG_ZSTD_STEP 256

/*
 * vg_zstd_decompress(), and check (when not NULL) called on what is out so
 * far each time it grows fourfold, from 1 MiB: nonzero stops decompressing
 * with that error. (Most of vigild's batches are smaller: they are walked
 * once, whole, afterwards; a bomb is refused by the time four times its first
 * prefix that fails the check is out.) The compressed bytes are then fed
 * VG_ZSTD_STEP at a time, and a frame that declares its size is decompressed
 * straight into one buffer of that size (zstd keeps no window of its own).
 */
static int vg_zstd_inflate(const uint8_t *src, size_t len, size_t max,
			   int (*check)(void *ctx, const uint8_t *out, size_t len), void *ctx,
			   uint8_t **out, size_t *out_len)
{
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_outBuffer ob;
	unsigned long long claimed;
	unsigned int dict_id;
	size_t cap, ret, next = 1024 * 1024;
	uint8_t *buf;
	int err = 0, stable;

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
	stable = check && claimed != ZSTD_CONTENTSIZE_UNKNOWN;
	if (stable && ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_stableOutBuffer, 1))) {
		err = -EIO;
		goto out;
	}
	if (check && len > VG_ZSTD_STEP)
		in.size = VG_ZSTD_STEP;
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
		if (check && ob.pos >= next) {
			err = check(ctx, buf, ob.pos);
			if (err)
				goto out;
			while (next <= ob.pos)
				next *= 4;
		}
		if (ret == 0)
			break; /* frame complete */
		if (ob.pos == ob.size) {
			uint8_t *nb;

			if (stable) {
				err = -EBADMSG; /* more than it declared */
				goto out;
			}
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
			if (in.size == len) {
				err = -EBADMSG; /* truncated frame */
				goto out;
			}
			in.size = len - in.size > VG_ZSTD_STEP ? in.size + VG_ZSTD_STEP : len;
		}
	}
	if (in.pos != len) {
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

int vg_zstd_decompress(const uint8_t *src, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	return vg_zstd_inflate(src, len, max, NULL, NULL, out, out_len);
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
	int refused, nomem;
	struct vg_batch *v; /* vg_arena_alloc(): whose chunks */
};

/* Charge cost to bg: 0, or -1 (refused) when it would pass the limit. */
static int vg_pb_charge(struct vg_pb_budget *bg, size_t cost)
{
	if (cost > bg->limit - bg->used) {
		bg->refused = 1;
		return -1;
	}
	bg->used += cost;
	if (bg->used > bg->peak)
		bg->peak = bg->used;
	return 0;
}

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
	if (!p) {
		bg->nomem = 1;
		return NULL;
	}
	cost = vg_usable_size(p) + VG_BATCH_ALLOC_OVERHEAD;
	if (vg_pb_charge(bg, cost)) {
		free(p);
		return NULL;
	}
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

/* protobuf-c's unpack of one message with bg's allocator: NULL and -E2BIG, -ENOMEM or -EBADMSG. */
static void *vg_pb_unpack_with(struct vg_pb_budget *bg, const ProtobufCMessageDescriptor *d,
			       const uint8_t *p, size_t len, int *err)
{
	void *m;

	bg->a.allocator_data = bg;
	m = protobuf_c_message_unpack(d, &bg->a, len, p);
	*err = m ? 0 : bg->refused ? -E2BIG : bg->nomem ? -ENOMEM : -EBADMSG;
	return m;
}

/* The same, in malloc'd memory held to budget. */
static void *vg_pb_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
			  size_t budget, int *err)
{
	struct vg_pb_budget bg = { .a = { vg_pb_alloc, vg_pb_free, NULL }, .limit = budget };

	return vg_pb_unpack_with(&bg, d, p, len, err);
}

int vg_batch_unpack_peak(const uint8_t *raw, size_t len, size_t *peak)
{
	struct vg_pb_budget bg = { .a = { vg_pb_alloc, vg_pb_free, NULL }, .limit = SIZE_MAX };
	Vigil__V1__Batch *b;

	bg.a.allocator_data = &bg;
	b = vigil__v1__batch__unpack(&bg.a, len, raw);
	if (!b)
		return -EBADMSG;
	vigil__v1__batch__free_unpacked(b, &bg.a);
	*peak = bg.peak;
	return bg.used ? -EIO : 0;
}

struct vg_prefix {
	size_t budget;
	char *why;
	size_t why_len;
};

/*
 * What is decompressed so far, up to its last whole top-level field, is a
 * Batch too: whatever bound it passes, the whole batch passes as well. So a
 * frame that inflates to 16 million empty events stops at the first MiB.
 */
static int vg_batch_prefix_check(void *ctx, const uint8_t *p, size_t len)
{
	struct vg_prefix *px = ctx;
	struct vg_pb_field f;
	size_t off = 0, whole = 0;

	while (off < len && !vg_pb_next(p, len, &off, &f))
		whole = off;
	return vg_batch_walk(p, whole, px->budget, NULL, px->why, px->why_len);
}

int vg_batch_open(struct vg_batch *v, const uint8_t *payload, size_t len, int zstd, char *why,
		  size_t why_len)
{
	struct vg_prefix px = { vg_batch_unpack_budget(VG_BATCH_MAX_DECODED), why, why_len };
	struct vg_pb_field f;
	uint8_t *shell = NULL;
	size_t off = 0, shell_len = 0, n = 0;
	int err;

	memset(v, 0, sizeof(*v));
	if (why && why_len)
		why[0] = 0;
	v->enc = payload;
	v->len = len;
	if (zstd) {
		unsigned long long claimed = ZSTD_getFrameContentSize(payload, len);

		if (claimed <= VG_BATCH_MAX_DECODED)
			px.budget = vg_batch_unpack_budget((size_t)claimed);
		err = vg_zstd_inflate(payload, len, VG_BATCH_MAX_DECODED, vg_batch_prefix_check,
				      &px, &v->raw, &v->len);
		if (err)
			return err;
		v->enc = v->raw;
	}
	v->budget = vg_batch_unpack_budget(v->len);
	err = vg_batch_walk(v->enc, v->len, v->budget, NULL, why, why_len);
	if (err)
		goto err_close;
	/* Where each event is; everything else is the shell, unpacked now. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			shell = malloc(shell_len ? shell_len : 1);
			v->ev = malloc((n ? n : 1) * sizeof(*v->ev));
			if (!shell || !v->ev) {
				err = -ENOMEM;
				goto err_close;
			}
		}
		for (off = shell_len = n = 0; off < v->len;) {
			size_t start = off;

			vg_pb_next(v->enc, v->len, &off, &f); /* the walk checked every field */
			if (f.number == 3 && f.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
				if (pass) {
					v->ev[n].off = (size_t)(f.body - v->enc);
					v->ev[n].len = f.body_len;
				}
				n++;
			} else {
				if (pass)
					memcpy(shell + shell_len, v->enc + start, off - start);
				shell_len += off - start;
			}
		}
	}
	v->n_events = n;
	v->b = vg_pb_unpack(&vigil__v1__batch__descriptor, shell, shell_len, v->budget, &err);
	free(shell);
	shell = NULL;
	if (err) {
		if (err == -E2BIG && why && why_len)
			snprintf(why, why_len, "unpacking took more than %zu bytes", v->budget);
		goto err_close;
	}
	/* What the walk counted, unless protobuf-c merged copies past a bound. */
	if (vg_batch_check(v->b)) {
		err = -E2BIG;
		if (why && why_len)
			snprintf(why, why_len, "a repeated field is over its bound once unpacked");
		goto err_close;
	}
	return 0;

err_close:
	free(shell);
	vg_batch_close(v);
	return err;
}

/*
 * The memory of the event vg_batch_event() hands out: protobuf-c's
 * allocations (a few dozen per event) cut from chunks in order, and all taken
 * back at once when the next event is unpacked, instead of a malloc() and a
 * free() each and a walk of the event to free it (a tenth of the host's CPU
 * per stored event, by perf). The same budget as vg_pb_alloc(): each
 * allocation costs its 8-aligned size and an 8-byte header holding that cost,
 * which is never more than vg_batch_walk() counted for it (glibc's chunk).
 */
#define VG_ARENA_CHUNK (64u << 10)

struct vg_batch_chunk {
	struct vg_batch_chunk *next;
	size_t cap, used;
	max_align_t data[];
};

static void *vg_arena_alloc(void *data, size_t n)
{
	struct vg_pb_budget *ar = data;
	struct vg_batch_chunk *c = ar->v->chunks, *nc;
	size_t cost;
	uint8_t *p;

	if (n > ar->limit) {
		ar->refused = 1;
		return NULL;
	}
	cost = 8 + ((n + 7) & ~(size_t)7);
	if (vg_pb_charge(ar, cost))
		return NULL;
	if (!c || c->cap - c->used < cost) {
		/* A large one gets a chunk of its own, behind the chunk being filled. */
		size_t cap = cost > VG_ARENA_CHUNK / 4 ? cost : VG_ARENA_CHUNK;

		nc = malloc(sizeof(*nc) + cap);
		if (!nc) {
			ar->used -= cost;
			ar->nomem = 1;
			return NULL;
		}
		nc->cap = cap;
		nc->used = 0;
		if (c && cap != VG_ARENA_CHUNK) {
			nc->next = c->next;
			c->next = nc;
		} else {
			nc->next = c;
			ar->v->chunks = nc;
		}
		c = nc;
	}
	p = (uint8_t *)c->data + c->used;
	c->used += cost;
	memcpy(p, &cost, sizeof(cost));
	return p + 8;
}

/* Counted back (protobuf-c frees what it unpacked so far on an error); the memory waits for the next event. */
static void vg_arena_free(void *data, void *p)
{
	struct vg_pb_budget *ar = data;
	size_t cost;

	if (!p)
		return;
	memcpy(&cost, (uint8_t *)p - 8, sizeof(cost));
	ar->used -= cost;
}

/* Every chunk back, but one of the usual size kept for the next event. */
static void vg_batch_chunks_reset(struct vg_batch *v, int keep)
{
	struct vg_batch_chunk *c = v->chunks, *next, *kept = NULL;

	for (; c; c = next) {
		next = c->next;
		if (keep && !kept && c->cap == VG_ARENA_CHUNK) {
			kept = c;
			kept->used = 0;
			kept->next = NULL;
		} else {
			free(c);
		}
	}
	v->chunks = kept;
}

int vg_batch_event(struct vg_batch *v, size_t i, Vigil__V1__Event **ev)
{
	struct vg_pb_budget ar = { .a = { vg_arena_alloc, vg_arena_free, NULL },
				   .limit = v->budget,
				   .v = v };
	int err;

	*ev = NULL;
	if (i >= v->n_events)
		return -ERANGE;
	vg_batch_chunks_reset(v, 1);
	*ev = vg_pb_unpack_with(&ar, &vigil__v1__event__descriptor, v->enc + v->ev[i].off,
				v->ev[i].len, &err);
	return err;
}

void vg_batch_close(struct vg_batch *v)
{
	if (v->b)
		vigil__v1__batch__free_unpacked(v->b, NULL);
	vg_batch_chunks_reset(v, 0);
	free(v->ev);
	free(v->raw);
	memset(v, 0, sizeof(*v));
}

int vg_batch_decode(const uint8_t *payload, size_t len, int zstd, Vigil__V1__Batch **out, char *why,
		    size_t why_len)
{
	struct vg_batch v;
	int err;

	*out = NULL;
	err = vg_batch_open(&v, payload, len, zstd, why, why_len);
	if (err)
		return err;
	v.b->events = v.n_events ? calloc(v.n_events, sizeof(*v.b->events)) : NULL;
	if (v.n_events && !v.b->events)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < v.n_events; i++) {
		/* Each its own, freed with the batch: not vg_batch_event()'s. */
		v.b->events[i] = vg_pb_unpack(&vigil__v1__event__descriptor, v.enc + v.ev[i].off,
					      v.ev[i].len, v.budget, &err);
		if (!err)
			v.b->n_events++;
	}
	if (!err && vg_batch_check(v.b))
		err = -E2BIG; /* an event's argv, merged from copies */
	if (!err) {
		*out = v.b;
		v.b = NULL;
	} else if (err == -E2BIG && why && why_len) {
		snprintf(why, why_len, "an event took more than %zu bytes to unpack", v.budget);
	}
	vg_batch_close(&v);
	return err;
}

int vg_batch_unpack(const uint8_t *payload, size_t len, Vigil__V1__Batch **out)
{
	return vg_batch_decode(payload, len, 1, out, NULL, 0);
}
