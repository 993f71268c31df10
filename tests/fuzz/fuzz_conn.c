// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: a peer's frames into the host's connection logic
 * (host/conn.c) and an in-memory store. The input is records
 * [type u8][seq u8][len u16 LE][payload], each framed with a valid CRC so
 * the handshake, the identity checks and the batch path are reached. The
 * first byte picks the peer: one that must prove a key and does not, one
 * that must and does (the target answers the CHALLENGE with the right
 * key, then the records follow), or a trusted one. Whatever the records,
 * only the proven device (or the first one named) may be stored.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "log.h"
#include "store.h"
#include "wire.h"

static const char keytext[] =
	"devA 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
static struct vg_keys keys;
static struct vg_store *st;

static void feed(struct vg_conn *c, uint8_t type, uint64_t seq, const void *p, size_t len,
		 int *dead)
{
	uint8_t *f;
	size_t flen;

	if (*dead || vg_wire_frame(type,
				   type == VG_FRAME_BATCH || type == VG_FRAME_HELLO ?
					   (seq & 1) * VG_FRAME_F_ZSTD :
					   0,
				   seq >> 1, p, len, &f, &flen))
		return;
	*dead = vg_conn_input(c, st, f, flen) != 0;
	free(f);
}

/* The daemon's side of a right handshake for devA. */
static void handshake(struct vg_conn *c, int *dead)
{
	uint8_t begin[VG_AUTH_NONCE_LEN + 4] = { 1, 2, 3 }, mac[VG_AUTH_MAC_LEN];
	struct vg_frame_hdr h;

	memcpy(begin + VG_AUTH_NONCE_LEN, "devA", 4);
	feed(c, VG_FRAME_AUTH, (uint64_t)VG_AUTH_BEGIN << 1, begin, sizeof(begin), dead);
	if (*dead || c->out_len < VG_FRAME_HDR_LEN + 64 || vg_frame_hdr_unpack(c->out, &h))
		abort();
	vg_auth_mac(keys.v[0].key, 0, begin, c->out + VG_FRAME_HDR_LEN, "devA", 4, mac);
	vg_conn_consume(c, c->out_len);
	feed(c, VG_FRAME_AUTH, (uint64_t)VG_AUTH_PROOF << 1, mac, sizeof(mac), dead);
	if (*dead || c->auth_state != 2)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_conn c;
	size_t off = 1;
	int mode, dead = 0;

	if (!st) {
		unsigned bad;

		vg_log_max = -1; /* quiet */
		if (vg_store_open(&st, ":memory:") ||
		    vg_keys_parse(&keys, keytext, sizeof(keytext) - 1, &bad))
			abort();
	}
	if (!size)
		return 0;
	mode = data[0] % 3;
	vg_conn_init(&c, 1);
	c.keys = &keys;
	c.auth_required = mode != 2;
	if (mode == 1)
		handshake(&c, &dead);
	while (!dead && off + 4 <= size) {
		size_t len = (size_t)(data[off + 2] | data[off + 3] << 8);

		if (len > size - off - 4)
			len = size - off - 4;
		feed(&c, data[off], data[off + 1], data + off + 4, len, &dead);
		off += 4 + len;
	}
	/* The one invariant that matters here: nothing but devA under a key. */
	if (mode == 1 && (!c.peer.device_id || strcmp(c.peer.device_id, "devA")))
		abort();
	if (mode == 0 && c.stored)
		abort();
	vg_conn_free(&c);
	return 0;
}
