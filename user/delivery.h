/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigild's delivery options and the pieces of its main loop that deal with
 * the sender, kept out of vigild.c: --spool and friends, the HELLO, the
 * final wait for acknowledgements.
 */
#ifndef VG_DELIVERY_H
#define VG_DELIVERY_H

#include <stdint.h>
#include <stdio.h>

#include "sender.h"
#include "vigil.pb-c.h"

enum {
	VG_OPT_SPOOL = 512,
	VG_OPT_SPOOL_MAX,
	VG_OPT_SPOOL_SYNC,
	VG_OPT_QUEUE_MEM,
	VG_OPT_BACKOFF_MAX,
	VG_OPT_KEY,
};

/* clang-format off */
#define VG_DELIVERY_LONGOPTS \
	{ "spool", required_argument, NULL, VG_OPT_SPOOL }, \
	{ "spool-max-mb", required_argument, NULL, VG_OPT_SPOOL_MAX }, \
	{ "spool-sync", required_argument, NULL, VG_OPT_SPOOL_SYNC }, \
	{ "queue-mem-kb", required_argument, NULL, VG_OPT_QUEUE_MEM }, \
	{ "backoff-max-ms", required_argument, NULL, VG_OPT_BACKOFF_MAX }, \
	{ "key", required_argument, NULL, VG_OPT_KEY }
/* clang-format on */

struct vg_delivery {
	struct vg_sender_opts tx;
};

void vg_delivery_defaults(struct vg_delivery *dv);
/* 1 when c was a delivery option (0 or -EINVAL in *err), 0 when it was not. */
int vg_delivery_opt(struct vg_delivery *dv, int c, const char *arg, int *err);
void vg_delivery_usage(FILE *f);
/* The HELLO every connection starts with: device and stream, uncompressed Batch. */
int vg_delivery_hello(struct vg_sender *tx, Vigil__V1__DeviceInfo *dev, uint64_t stream,
		      uint64_t boot_time_ns);
/*
 * Shutting down: write what is queued and wait up to ms for the host to
 * acknowledge it. What stays unacknowledged is in the spool for the next
 * run, or (without one) reported lost here.
 */
void vg_delivery_finish(struct vg_sender *tx, int ms);

#endif
