// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
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

int vg_conn_identified(const struct vg_conn *c)
{
	return c->peer.device_id != NULL;
}

/* Printable ASCII of a peer's text for a log line, the rest as '?'. */
static const char *vg_conn_printable(char *buf, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/*
 * Refuse the peer: log why, count it in HostRefused under the device it
 * proved (a trusted peer: the one it named first; else ""), and make the
 * caller close the connection.
 */
static int vg_conn_refuse(struct vg_conn *c, struct vg_store *s, const char *reason,
			  const char *detail)
{
	const char *dev = "";
	int err;

	if (c->auth_state == 2)
		dev = c->auth_key->id;
	else if (!c->auth_required && vg_conn_identified(c))
		dev = c->peer.device_id;

	vg_log(VG_ERROR, "connection %u: refused: %s%s%s", c->id, reason, detail ? ": " : "",
	       detail ? detail : "");
	err = vg_store_refused(s, dev, reason, 1);
	if (err)
		vg_log(VG_ERROR, "connection %u: cannot count the refusal: %s", c->id,
		       strerror(-err));
	return -EACCES;
}

/* A HELLO or DeviceInfo naming a device: 1 when it is not the connection's. */
static int vg_conn_other_device(const struct vg_conn *c, const Vigil__V1__DeviceInfo *d)
{
	return vg_conn_identified(c) && strcmp(c->peer.device_id, d->device_id ? d->device_id : "");
}

static int vg_conn_auth(struct vg_conn *c, struct vg_store *s, const struct vg_frame_hdr *h,
			const uint8_t *p)
{
	uint8_t mac[VG_AUTH_MAC_LEN], ch[VG_AUTH_NONCE_LEN + VG_AUTH_MAC_LEN];
	const char *id = (const char *)p + VG_AUTH_NONCE_LEN;
	size_t id_len = h->len > VG_AUTH_NONCE_LEN ? h->len - VG_AUTH_NONCE_LEN : 0;
	char shown[VG_AUTH_ID_MAX + 1];
	int err;

	if (h->seq == VG_AUTH_BEGIN && c->auth_state == 0 && id_len && id_len <= VG_AUTH_ID_MAX) {
		vg_conn_printable(shown, sizeof(shown), id, id_len);
		c->auth_key = c->keys ? vg_keys_find(c->keys, id, id_len) : NULL;
		if (!c->auth_key)
			return vg_conn_refuse(c, s, "no key for the device", shown);
		memcpy(c->nonce_d, p, VG_AUTH_NONCE_LEN);
		err = vg_random(c->nonce_h, VG_AUTH_NONCE_LEN);
		if (!err)
			err = vg_auth_mac(c->auth_key->key, 1, c->nonce_d, c->nonce_h, id, id_len,
					  mac);
		if (err)
			return vg_err(err, "connection %u: handshake", c->id);
		memcpy(ch, c->nonce_h, VG_AUTH_NONCE_LEN);
		memcpy(ch + VG_AUTH_NONCE_LEN, mac, VG_AUTH_MAC_LEN);
		c->auth_state = 1;
		return vg_conn_control(c, VG_FRAME_CHALLENGE, 0, ch, sizeof(ch));
	}
	if (h->seq == VG_AUTH_PROOF && c->auth_state == 1 && h->len == VG_AUTH_MAC_LEN) {
		const char *kid = c->auth_key->id;

		err = vg_auth_mac(c->auth_key->key, 0, c->nonce_d, c->nonce_h, kid, strlen(kid),
				  mac);
		if (err)
			return vg_err(err, "connection %u: handshake", c->id);
		if (!vg_auth_mac_equal(mac, p))
			return vg_conn_refuse(c, s, "wrong key", kid);
		/* A trusted peer that said HELLO first cannot become another device either. */
		if (vg_conn_identified(c) && strcmp(c->peer.device_id, kid))
			return vg_conn_refuse(c, s, "hello names another device", kid);
		/* The proven device, and nothing else, from now on. */
		vg_store_peer_free(&c->peer);
		c->peer.device_id = vg_dup(kid);
		if (!c->peer.device_id)
			return -ENOMEM;
		c->auth_state = 2;
		vg_log(VG_INFO, "connection %u: device %s proved its key", c->id, kid);
		return 0;
	}
	return vg_conn_refuse(c, s, "malformed handshake", NULL);
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

/* Store one BATCH in the open group, as pending until it commits; or take a HELLO. */
static int vg_conn_batch(struct vg_conn *c, struct vg_store *s, const struct vg_frame_hdr *h,
			 const uint8_t *payload)
{
	struct vg_batch v;
	uint64_t stream, t;
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
	if (v.b->device && vg_conn_other_device(c, v.b->device)) {
		char shown[VG_AUTH_ID_MAX + 1], own[VG_AUTH_ID_MAX + 1];
		char detail[2 * VG_AUTH_ID_MAX + 64];
		const char *id = v.b->device->device_id ? v.b->device->device_id : "";

		snprintf(detail, sizeof(detail), "%s on a connection of %s (seq %llu)",
			 vg_conn_printable(shown, sizeof(shown), id, strlen(id)),
			 vg_conn_printable(own, sizeof(own), c->peer.device_id,
					   strlen(c->peer.device_id)),
			 (unsigned long long)h->seq);
		vg_batch_close(&v);
		return vg_conn_refuse(c, s,
				      h->type == VG_FRAME_HELLO ? "hello names another device" :
								  "batch names another device",
				      detail);
	}
	if (h->type == VG_FRAME_HELLO) {
		/* Names the device for what follows, resent frames of earlier runs included. */
		err = v.b->device ? vg_conn_hello(c, v.b->device) : 0;
		vg_batch_close(&v);
		return err;
	}
	stream = v.b->stream_id;
	t = vg_now_ns();
	/* The reader keeps the header right before the payload: the frame as received. */
	err = vg_store_batch_view(s, &c->peer, h->seq, &v, payload - VG_FRAME_HDR_LEN,
				  VG_FRAME_HDR_LEN + (size_t)h->len);
	vg_batch_close(&v);
	if (err < 0) {
		/* No ACK: the daemon keeps the batch and sends it again later. */
		vg_log(VG_ERROR, "connection %u: cannot store batch (seq %llu): %s", c->id,
		       (unsigned long long)h->seq, strerror(-err));
		return err;
	}
	/* ACKed once the group committed (vg_conn_group_end()). */
	c->group[c->group_n++] = (struct vg_conn_pending){
		.frame = payload - VG_FRAME_HDR_LEN,
		.len = VG_FRAME_HDR_LEN + (size_t)h->len,
		.stream = stream,
		.seq = h->seq,
		.ns = vg_now_ns() - t,
		.is_new = err > 0,
	};
	c->group_bytes += VG_FRAME_HDR_LEN + (size_t)h->len;
	return 0;
}

/*
 * Commit the open group, then for each of its batches in order: count it,
 * on_stored, ACK. Nothing is ACKed when the commit failed.
 */
static int vg_conn_group_end(struct vg_conn *c, struct vg_store *s)
{
	int n = c->group_n, err, ret = 0;
	uint64_t t = vg_now_ns();

	c->group_n = 0;
	c->group_bytes = 0;
	err = vg_store_group_end(s);
	if (err) {
		/* No ACK: the daemon keeps the batches and sends them again later. */
		if (n)
			vg_log(VG_ERROR,
			       "connection %u: cannot store batches (seq %llu to %llu): %s", c->id,
			       (unsigned long long)c->group[0].seq,
			       (unsigned long long)c->group[n - 1].seq, strerror(-err));
		return err;
	}
	c->commits++;
	t = vg_now_ns() - t;
	for (int i = 0; i < n; i++) {
		const struct vg_conn_pending *p = &c->group[i];

		if (p->is_new)
			c->stored++;
		else
			c->resent++;
		c->store_ns = p->ns + t;
		c->last_new = p->is_new;
		if (c->on_stored)
			c->on_stored(c->on_stored_arg, c, p->frame, p->len);
		/* An ACK not queued only means a resend, found stored. */
		err = vg_conn_ack(c, p->stream, p->seq);
		if (err && !ret) {
			vg_log(VG_ERROR, "connection %u: %s (seq %llu)", c->id,
			       vg_frame_strerror(err), (unsigned long long)p->seq);
			ret = err;
		}
	}
	return ret;
}

/* Store one BATCH or HELLO frame: a BATCH in the open group (one begun if none is). */
static int vg_conn_grouped(struct vg_conn *c, struct vg_store *s, const struct vg_frame_hdr *h,
			   const uint8_t *payload)
{
	int err;

	if (h->type == VG_FRAME_BATCH && !c->group_n) {
		err = vg_store_group_begin(s);
		if (err) {
			vg_log(VG_ERROR, "connection %u: cannot store batch (seq %llu): %s", c->id,
			       (unsigned long long)h->seq, strerror(-err));
			return err;
		}
	}
	err = vg_conn_batch(c, s, h, payload);
	/* A group with nothing in it (its first batch failed) has nothing to commit. */
	if (h->type == VG_FRAME_BATCH && !c->group_n) {
		int end = vg_store_group_end(s);

		return err ? err : end;
	}
	if (err)
		return err;
	if (c->group_n == VG_CONN_GROUP_FRAMES || c->group_bytes >= VG_CONN_GROUP_BYTES)
		return vg_conn_group_end(c, s);
	return 0;
}

int vg_conn_feed(struct vg_conn *c, const void *data, size_t len)
{
	int ret = vg_frame_reader_feed(&c->rd, data, len);

	if (ret)
		vg_log(VG_ERROR, "connection %u: %s", c->id, vg_frame_strerror(ret));
	return ret;
}

/* Each frame in the reader, until none is whole or one closes the connection. */
static int vg_conn_frames(struct vg_conn *c, struct vg_store *s)
{
	struct vg_frame_hdr h;
	const uint8_t *payload;
	int ret;

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
		c->frames++;
		/* Only BATCH frames in a row share a transaction: anything else comes after it. */
		if (h.type != VG_FRAME_BATCH && c->group_n) {
			ret = vg_conn_group_end(c, s);
			if (ret)
				return ret;
		}
		if (h.type == VG_FRAME_AUTH) {
			ret = vg_conn_auth(c, s, &h, payload);
			if (ret)
				return ret;
			continue;
		}
		if (c->auth_required && c->auth_state != 2) {
			char detail[64];

			snprintf(detail, sizeof(detail), "frame type %u before the handshake",
				 h.type);
			return vg_conn_refuse(c, s, "not authenticated (vigild --key)", detail);
		}
		if (h.type == VG_FRAME_PING)
			continue; /* the daemon's keepalive */
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
		ret = vg_conn_grouped(c, s, &h, payload);
		if (ret)
			return ret;
	}
}

int vg_conn_input(struct vg_conn *c, struct vg_store *s, const void *data, size_t len)
{
	int ret = len ? vg_conn_feed(c, data, len) : 0, end;

	if (ret)
		return ret;
	ret = vg_conn_frames(c, s);
	/* The frames stored before a failure are still committed and ACKed. */
	end = c->group_n ? vg_conn_group_end(c, s) : 0;
	return ret ? ret : end;
}
