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

/*
 * Group commit: the BATCH frames one vg_conn_input() call finds whole are
 * stored in one transaction, at most this many frames and bytes of frames
 * at a time, so that one commit's wait (and the ACKs held for it) stays
 * short.
 */
#define VG_CONN_GROUP_FRAMES 32
#define VG_CONN_GROUP_BYTES (2u << 20)

/* A frame of the open group, stored (or found stored) but not yet committed. */
struct vg_conn_pending {
	const uint8_t *frame; /* header and payload, in the reader */
	size_t len;
	uint64_t stream, seq;
	uint64_t ns; /* storing it took */
	int is_new; /* 0: a resend of a stored batch */
};

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
	/*
	 * For on_stored: how long storing the batch took (its own statements
	 * and the commit of its group), and whether it was new (not a resend).
	 */
	uint64_t store_ns;
	int last_new;

	/* The group being stored (vg_conn_input()): ACKed once it committed. */
	struct vg_conn_pending group[VG_CONN_GROUP_FRAMES];
	int group_n;
	size_t group_bytes;
	uint64_t commits; /* transactions committed (groups, each of one or more batches) */
};

void vg_conn_init(struct vg_conn *c, unsigned id);
void vg_conn_free(struct vg_conn *c);

/*
 * Take len bytes from the peer (none: only what vg_conn_feed() gave) and
 * handle every complete frame in the reader. The BATCH frames in a row are
 * stored in one transaction (up to VG_CONN_GROUP_FRAMES and _BYTES; any
 * other frame ends the group first), and each stored (or already stored)
 * one appends an ACK to out[] and runs on_stored once, in order, after that
 * transaction committed. 0 when the connection goes on; a negative errno
 * (already logged as "connection N: reason (seq S)") when it must be
 * closed: a malformed or unexpected frame, or a failed store. A batch that
 * fails is undone alone: the group's batches before it are committed and
 * ACKed, it and what follows are not (the daemon sends them again). When
 * the commit fails, or an error rolled the whole transaction back, none of
 * the group is ACKed. ACKs queued before the failure stay in out[] and
 * should still be written.
 */
int vg_conn_input(struct vg_conn *c, struct vg_store *s, const void *data, size_t len);

/*
 * Only add len bytes to the reader, to be handled by the next
 * vg_conn_input(): a transport that has several reads ready stores them
 * in one group. 0, or a negative errno (logged).
 */
int vg_conn_feed(struct vg_conn *c, const void *data, size_t len);

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
