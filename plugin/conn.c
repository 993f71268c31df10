// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compat.h"
#include "conn.h"
#include "log.h"

void vg_conn_init(struct vg_conn *c, unsigned id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	vg_frame_reader_init(&c->rd);
}

void vg_conn_free(struct vg_conn *c)
{
	vg_frame_reader_free(&c->rd);
	vg_store_peer_free(&c->peer);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
}

void vg_conn_consume(struct vg_conn *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

static int vg_conn_ack(struct vg_conn *c, uint64_t seq)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_ACK, .seq = seq };

	if (c->out_len + VG_FRAME_HDR_LEN > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 16 * VG_FRAME_HDR_LEN;
		uint8_t *nb = realloc(c->out, cap);

		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->out_cap = cap;
	}
	vg_frame_hdr_pack(c->out + c->out_len, &h, NULL);
	c->out_len += VG_FRAME_HDR_LEN;
	return 0;
}

/* vg_frame_strerror() speaks of headers; a bad payload needs its own words. */
static const char *vg_payload_strerror(int err)
{
	if (err == -EBADMSG)
		return "batch payload is not a zstd-compressed vigil.v1.Batch";
	return vg_frame_strerror(err);
}

static int vg_conn_batch(struct vg_conn *c, struct vg_store *s, const struct vg_frame_hdr *h,
			 const uint8_t *payload)
{
	Vigil__V1__Batch *b;
	int err;

	if (h->flags & VG_FRAME_F_ZSTD) {
		err = vg_batch_unpack(payload, h->len, &b);
	} else {
		/* Uncompressed: the frame bound (VG_FRAME_MAX_PAYLOAD) bounds it. */
		b = vigil__v1__batch__unpack(NULL, h->len, payload);
		err = b ? 0 : -EBADMSG;
	}
	if (err) {
		vg_log(VG_ERROR, "connection %u: %s (seq %llu)", c->id, vg_payload_strerror(err),
		       (unsigned long long)h->seq);
		return err;
	}
	err = vg_store_batch(s, &c->peer, h->seq, b);
	vigil__v1__batch__free_unpacked(b, NULL);
	if (err < 0) {
		/* No ACK: the daemon keeps the batch and sends it again later. */
		vg_log(VG_ERROR, "connection %u: cannot store batch (seq %llu): %s", c->id,
		       (unsigned long long)h->seq, strerror(-err));
		return err;
	}
	if (err)
		c->stored++;
	else
		c->resent++;
	err = vg_conn_ack(c, h->seq);
	if (err)
		vg_log(VG_ERROR, "connection %u: %s (seq %llu)", c->id, vg_frame_strerror(err),
		       (unsigned long long)h->seq);
	return err;
}

int vg_conn_input(struct vg_conn *c, struct vg_store *s, const void *data, size_t len)
{
	struct vg_frame_hdr h;
	const uint8_t *payload;
	int ret;

	ret = vg_frame_reader_feed(&c->rd, data, len);
	if (ret) {
		vg_log(VG_ERROR, "connection %u: %s", c->id, vg_frame_strerror(ret));
		return ret;
	}
	for (;;) {
		memset(&h, 0, sizeof(h));
		ret = vg_frame_reader_next(&c->rd, &h, &payload);
		if (ret == 0)
			return 0;
		if (ret < 0) {
			vg_log(VG_ERROR, "connection %u: %s (seq %llu)", c->id,
			       vg_frame_strerror(ret), (unsigned long long)h.seq);
			return ret;
		}
		if (h.type != VG_FRAME_BATCH) {
			vg_log(VG_ERROR, "connection %u: unexpected frame type %u (seq %llu)",
			       c->id, h.type, (unsigned long long)h.seq);
			return -EPROTO;
		}
		ret = vg_conn_batch(c, s, &h, payload);
		if (ret)
			return ret;
	}
}
