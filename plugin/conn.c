// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compat.h"
#include "conn.h"
#include "log.h"
#include "wire.h"

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

static int vg_conn_reserve(struct vg_conn *c, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 16 * VG_ACK_FRAME_LEN;

		while (cap < c->out_len + n)
			cap *= 2;
		uint8_t *nb = realloc(c->out, cap);

		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->out_cap = cap;
	}
	return 0;
}

/* ACKs name the batch's stream: a daemon may resend an earlier run's frames. */
static int vg_conn_ack(struct vg_conn *c, uint64_t stream, uint64_t seq)
{
	int err = vg_conn_reserve(c, VG_ACK_FRAME_LEN);

	if (err)
		return err;
	vg_wire_ack_pack(c->out + c->out_len, stream, seq);
	c->out_len += VG_ACK_FRAME_LEN;
	return 0;
}

int vg_conn_control(struct vg_conn *c, uint8_t type, uint64_t seq, const void *payload, size_t len)
{
	uint8_t *f;
	size_t flen;
	int err = vg_wire_frame(type, 0, seq, payload, len, &f, &flen);

	if (err)
		return err;
	err = vg_conn_reserve(c, flen);
	if (!err) {
		memcpy(c->out + c->out_len, f, flen);
		c->out_len += flen;
	}
	free(f);
	return err;
}

static char *vg_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static int vg_conn_hello(struct vg_conn *c, const Vigil__V1__DeviceInfo *d)
{
	char *id, *name;

	if (!d->device_id || !*d->device_id)
		return 0;
	id = vg_dup(d->device_id);
	name = vg_dup(d->device_name ? d->device_name : "");
	if (!id || !name) {
		free(id);
		free(name);
		return -ENOMEM;
	}
	vg_store_peer_free(&c->peer);
	c->peer.device_id = id;
	c->peer.device_name = name;
	c->hello = 1;
	return 0;
}

/* vg_frame_strerror() speaks of headers; a bad payload needs its own words. */
static const char *vg_payload_strerror(int err)
{
	if (err == -EBADMSG)
		return "batch payload is not a zstd-compressed vigil.v1.Batch";
	if (err == -E2BIG)
		return "batch is over a bound";
	return vg_frame_strerror(err);
}

static int vg_conn_batch(struct vg_conn *c, struct vg_store *s, const struct vg_frame_hdr *h,
			 const uint8_t *payload)
{
	struct vg_batch v;
	uint64_t stream;
	char why[160];
	int err;

	/*
	 * Counted on the wire before anything is allocated for it, and its
	 * events unpacked one at a time as they are stored (lib/batch.h).
	 */
	err = vg_batch_open(&v, payload, h->len, h->flags & VG_FRAME_F_ZSTD, why, sizeof(why));
	if (err) {
		vg_log(VG_ERROR, "connection %u: %s%s%s (seq %llu)", c->id,
		       vg_payload_strerror(err), *why ? ": " : "", why, (unsigned long long)h->seq);
		return err;
	}
	if (h->type == VG_FRAME_HELLO) {
		/* Names the device for what follows, resent frames of earlier runs included. */
		err = v.b->device ? vg_conn_hello(c, v.b->device) : 0;
		vg_batch_close(&v);
		return err;
	}
	stream = v.b->stream_id;
	err = vg_store_batch_view(s, &c->peer, h->seq, &v);
	vg_batch_close(&v);
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
	err = vg_conn_ack(c, stream, h->seq);
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
		if (h.type == VG_FRAME_PONG) {
			c->pongs++;
			c->last_pong = h.seq;
			/* The answer to a FILTER update says how it went. */
			if (h.len)
				vg_log(h.len >= 5 && !memcmp(payload, "error", 5) ? VG_WARN :
										    VG_INFO,
				       "connection %u: update %llu: %.*s", c->id,
				       (unsigned long long)h.seq,
				       (int)(h.len > 2048 ? 2048 : h.len), (const char *)payload);
			continue;
		}
		if (h.type != VG_FRAME_BATCH && h.type != VG_FRAME_HELLO) {
			vg_log(VG_ERROR, "connection %u: unexpected frame type %u (seq %llu)",
			       c->id, h.type, (unsigned long long)h.seq);
			return -EPROTO;
		}
		ret = vg_conn_batch(c, s, &h, payload);
		if (ret)
			return ret;
	}
}
