/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `vigil host --upstream URL --onboarding FILE`: every batch frame the host
 * stored goes on to `vigil server` (POST /v1/batches), from a thread of its
 * own with a bounded in-memory queue, sent again until the server says 200.
 */
#ifndef VG_UPSTREAM_H
#define VG_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

struct vg_upstream;

/*
 * Read the onboarding package, the token kept in DB.token (enrolment waits
 * for the first frame's device otherwise) and start the sender. 0 or -errno
 * (logged, naming the file and line).
 */
int vg_upstream_open(struct vg_upstream **u, const char *url, const char *onboarding,
		     const char *db);

/* Queue a copy of one frame (header and payload) of device; the oldest goes when full. */
void vg_upstream_send(struct vg_upstream *u, const char *device_id, const char *device_name,
		      const uint8_t *frame, size_t len);

/* Frames dropped since the last call: refused by the server (4xx), pushed out of a full queue. */
void vg_upstream_take_dropped(struct vg_upstream *u, uint64_t *refused, uint64_t *overflow);

/*
 * Stop the sender once the queue is empty, or after 5 s (the attempt under
 * way ends first); what is still queued is counted as overflow.
 */
void vg_upstream_stop(struct vg_upstream *u);
void vg_upstream_close(struct vg_upstream *u);

/* The CA file the sender trusts (the package's ca=, or DB.ca.pem). */
const char *vg_upstream_ca(const struct vg_upstream *u);

#endif
