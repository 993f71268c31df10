/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Frames out, acknowledgements and control frames in, over one transport.
 * Every frame goes through the queue (daemon/spool.h) and stays there until
 * the host acknowledges it, so a lost connection or a restart loses nothing:
 * connecting transports (unix, tcp, vsock) reconnect with backoff and resend
 * what is unacknowledged, in order. Writes never block: while the peer is
 * slow or away, frames pile up in the queue (memory, then the spool) and
 * the ring buffer keeps being drained.
 */
#ifndef VG_SENDER_H
#define VG_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "auth.h"
#include "frame.h"
#include "spool.h"

struct vg_sender_opts {
	const char *spec; /* stdio, unix:PATH, tcp:HOST:PORT, vsock:CID:PORT */
	size_t mem_max; /* bytes of frames held in memory */
	const char *spool_dir; /* NULL: no spool */
	uint64_t spool_max;
	enum vg_spool_sync spool_sync;
	uint64_t stream_id;
	uint32_t backoff_max_ms; /* reconnect backoff doubles from 100 ms up to this */
	const char *key_file; /* --key FILE: prove this device's key on each connection */
};

/*
 * A PING this often on a connecting transport (unix, tcp, vsock), so the
 * host's idle timeout spares a quiet sensor; such a host must know PING
 * from a daemon (vigil host takes it since the handshake came).
 */
#define VG_KEEPALIVE_MS 30000

struct vg_sender {
	struct vg_sender_opts o;
	struct vg_addr addr;
	int rfd, wfd; /* -1 while disconnected */
	int owns_fds; /* close them in vg_sender_close() */
	int want_out; /* the queue waits for the fd to take more */
	int ep; /* epoll set to keep rfd/wfd in, or -1 */
	uint64_t tag_in, tag_out;
	uint64_t next_seq; /* of the next frame of this run's stream; starts at 1 */
	struct vg_queue q;
	struct vg_frame_reader rd;
	uint8_t *hello; /* HELLO frame sent first on every connection */
	size_t hello_len;
	int64_t keepalive_at_ms;

	/* --key: the handshake (lib/auth.h) comes before the HELLO and the queue. */
	int keyed;
	struct vg_key key;
	int authed; /* on this connection */
	uint8_t nonce_d[VG_AUTH_NONCE_LEN];

	/* reconnect */
	uint32_t backoff_ms;
	int64_t retry_at_ms;
	uint64_t connects, disconnects;
	unsigned connect_failing; /* attempts since the last success (logged once) */

	/* control channel: what the host asked for */
	int stats_requested;
	uint8_t *filter; /* rule text of an update not applied yet (NULL: none), and its seq */
	size_t filter_len;
	uint64_t filter_seq;
	uint8_t *distros; /* the last DISTROS text not applied yet (NULL: none) */
	size_t distros_len;
	uint64_t pings;
};

/*
 * Open the transport (a connecting transport that cannot connect yet
 * keeps trying from vg_sender_tick()) and the spool. 0 or -errno.
 */
int vg_sender_open(struct vg_sender *s, const struct vg_sender_opts *o);
void vg_sender_close(struct vg_sender *s);
/* Keep the connection's fds in epoll set ep under these tags. */
int vg_sender_attach(struct vg_sender *s, int ep, uint64_t tag_in, uint64_t tag_out);
/* The frame sent first on every connection (copied); replaces the previous one. */
int vg_sender_set_hello(struct vg_sender *s, const void *payload, size_t len);
/*
 * Frame a payload under the next seq of this run's stream, queue it and
 * write what the transport takes. 0 (also while disconnected), or -errno.
 */
int vg_sender_send(struct vg_sender *s, uint8_t type, uint16_t flags, const void *payload,
		   size_t len, uint32_t nevents);
/*
 * Read what the peer sent: ACKs, control frames. 0, -EPIPE when the peer
 * closed (stdio: for good; otherwise the sender reconnects), or a negative
 * error after which the connection was dropped (malformed stream, logged).
 */
int vg_sender_read(struct vg_sender *s);
/* Answer a control frame of the peer (a FILTER update: "ok: ..." or "error: ..."). */
int vg_sender_answer(struct vg_sender *s, uint64_t seq, const char *text);
/* The fd can take more: write queued frames. 0 or -EPIPE (disconnected). */
int vg_sender_writable(struct vg_sender *s);
/* Periodic: reconnect when due, sync the spool. */
void vg_sender_tick(struct vg_sender *s);
int vg_sender_connected(const struct vg_sender *s);
int vg_sender_all_acked(const struct vg_sender *s);
/* Events in frames dropped unacknowledged (memory bound, spool cap, failing disk). */
uint64_t vg_sender_events_lost(const struct vg_sender *s);

#endif
