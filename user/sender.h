/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Frames out, acknowledgements in, over one transport. Sent frames are kept
 * until the host acknowledges them (up to a memory bound; what the bound
 * forces out is counted as lost events).
 */
#ifndef VG_SENDER_H
#define VG_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct vg_pending;

struct vg_sender {
	int rfd, wfd;
	int owns_fds; /* close them in vg_sender_close() */
	uint64_t next_seq; /* of the next frame sent; starts at 1 */
	uint64_t acked; /* highest sequence number acknowledged */
	struct vg_pending *head, *tail;
	size_t pending_bytes, max_pending_bytes;
	uint64_t events_evicted; /* events in frames dropped unacknowledged by the bound */
	struct vg_frame_reader rd;
};

/* "stdio" (frames on stdout, acks on stdin) or "unix:PATH" (connect). 0 or -errno. */
int vg_sender_open(struct vg_sender *s, const char *spec, size_t max_pending_bytes);
void vg_sender_close(struct vg_sender *s);
/* Frame and write a payload; 0, or -EPIPE when the peer is gone, or -errno. */
int vg_sender_send(struct vg_sender *s, uint8_t type, uint16_t flags, const void *payload,
		   size_t len, uint32_t nevents);
/*
 * Read what the peer sent and apply acknowledgements. 0, -EPIPE when the
 * peer closed, or a negative error (malformed stream, unknown frame).
 */
int vg_sender_read(struct vg_sender *s);
int vg_sender_all_acked(const struct vg_sender *s);

#endif
