/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One daemon connection on the host: bytes in, frames out of the reader,
 * each BATCH decoded, stored, then acknowledged. No I/O here: the caller
 * reads the transport, hands the bytes to vg_conn_input() and writes
 * out[] back, so the same logic serves sockets, stdio and the Windows
 * plug-in's pipe. Portable C.
 */
#ifndef VG_CONN_H
#define VG_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "frame.h"
#include "store.h"

struct vg_conn {
	unsigned id; /* "connection N" in messages */
	struct vg_frame_reader rd;
	struct vg_store_peer peer;
	uint8_t *out; /* ACK frames not yet written to the peer */
	size_t out_len, out_cap;
	uint64_t stored, resent; /* batches stored, and resends acknowledged again */
	int hello; /* the daemon said who it is (HELLO) */
	uint64_t pongs, last_pong; /* answers to PING and FILTER */
	uint64_t frames; /* frames received (the host's idle timeout watches it) */

	/*
	 * The keyed handshake (lib/auth.h), set by the transport before the
	 * first input: keys the host knows (NULL: none), and whether this
	 * peer must prove one before anything else is taken.
	 */
	const struct vg_keys *keys;
	int auth_required;
	int auth_state; /* 0 not begun, 1 challenged, 2 proven */
	const struct vg_key *auth_key; /* the device being, or proven, authenticated */
	uint8_t nonce_d[VG_AUTH_NONCE_LEN], nonce_h[VG_AUTH_NONCE_LEN];

	/*
	 * Optional: called with each BATCH frame as received (header and
	 * payload, len bytes) once it is stored, or was already, before its ACK.
	 */
	void (*on_stored)(void *arg, const struct vg_conn *c, const uint8_t *frame, size_t len);
	void *on_stored_arg;
	/* For on_stored: how long storing the batch took, and whether it was new (not a resend). */
	uint64_t store_ns;
	int last_new;
};

void vg_conn_init(struct vg_conn *c, unsigned id);
void vg_conn_free(struct vg_conn *c);

/*
 * Take len bytes from the peer and handle every complete frame in them.
 * Each stored (or already stored) BATCH appends an ACK to out[], after its
 * transaction committed. 0 when the connection goes on; a negative errno
 * (already logged as "connection N: reason (seq S)") when it must be
 * closed: a malformed or unexpected frame, or a failed store. ACKs queued
 * before the failure stay in out[] and should still be written.
 */
int vg_conn_input(struct vg_conn *c, struct vg_store *s, const void *data, size_t len);

/*
 * Whether the peer said who it is (HELLO, a DeviceInfo, or a proven key):
 * from then on the connection's device is fixed, and a HELLO or DeviceInfo
 * naming another is refused, counted in HostRefused and closes it.
 */
int vg_conn_identified(const struct vg_conn *c);

/* Queue a control frame (FILTER, STATS, PING) for the daemon: 0 or -errno. */
int vg_conn_control(struct vg_conn *c, uint8_t type, uint64_t seq, const void *payload, size_t len);

/* Drop the first n bytes of out[] (written to the peer). */
void vg_conn_consume(struct vg_conn *c, size_t n);

#endif
