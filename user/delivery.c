// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "log.h"

#define VG_QUEUE_MEM_DEFAULT (64u << 20)
#define VG_SPOOL_MAX_DEFAULT (256ull << 20)

void vg_delivery_defaults(struct vg_delivery *dv)
{
	memset(dv, 0, sizeof(*dv));
	dv->tx.mem_max = VG_QUEUE_MEM_DEFAULT;
	dv->tx.spool_max = VG_SPOOL_MAX_DEFAULT;
	dv->tx.spool_sync = VG_SYNC_INTERVAL;
	dv->tx.backoff_max_ms = 5000;
}

static int vg_num(const char *opt, const char *s, unsigned long lo, unsigned long hi,
		  unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *out < lo || *out > hi) {
		vg_log(VG_ERROR, "%s: '%s' is not a number from %lu to %lu", opt, s, lo, hi);
		return -EINVAL;
	}
	return 0;
}

int vg_delivery_opt(struct vg_delivery *dv, int c, const char *arg, int *err)
{
	unsigned long v = 0;

	*err = 0;
	switch (c) {
	case VG_OPT_SPOOL:
		if (!*arg) {
			vg_log(VG_ERROR, "--spool: empty directory name");
			*err = -EINVAL;
		}
		dv->tx.spool_dir = arg;
		return 1;
	case VG_OPT_SPOOL_MAX:
		*err = vg_num("--spool-max-mb", arg, 1, 1u << 20, &v);
		dv->tx.spool_max = (uint64_t)v << 20;
		return 1;
	case VG_OPT_SPOOL_SYNC:
		*err = vg_spool_sync_parse(arg, &dv->tx.spool_sync);
		if (*err)
			vg_log(VG_ERROR, "--spool-sync: '%s' is not none, interval or always", arg);
		return 1;
	case VG_OPT_QUEUE_MEM:
		*err = vg_num("--queue-mem-kb", arg, 64, 4u << 20, &v);
		dv->tx.mem_max = (size_t)v << 10;
		return 1;
	case VG_OPT_BACKOFF_MAX:
		*err = vg_num("--backoff-max-ms", arg, 100, 600000, &v);
		dv->tx.backoff_max_ms = (uint32_t)v;
		return 1;
	case VG_OPT_KEY:
		dv->tx.key_file = arg; /* read by vg_sender_open() */
		return 1;
	default:
		return 0;
	}
}

void vg_delivery_usage(FILE *f)
{
	fprintf(f,
		"Delivery (every frame is kept until the host acknowledges it):\n"
		"  --spool DIR          also keep unacknowledged frames on disk in DIR (created\n"
		"                       0700): they survive the host being away and a restart\n"
		"                       of vigild, and are resent first, under their original\n"
		"                       stream and sequence numbers; DIR must be vigild's own\n"
		"                       and writable by it alone, or vigild refuses to start\n"
		"  --spool-max-mb N     spool size cap (default %llu); over it the oldest frames\n"
		"                       are dropped and counted as lost\n"
		"  --spool-sync P       none, interval (fdatasync each flush; default) or always\n"
		"                       (fdatasync each frame)\n"
		"  --queue-mem-kb N     unacknowledged frames kept in memory (default %u); without\n"
		"                       a spool, the oldest beyond it are dropped and counted\n"
		"  --backoff-max-ms N   reconnect backoff ceiling (default 5000; from 100 ms, doubling)\n"
		"  --key FILE           one line 'DEVICE-ID KEYHEX' (`vigil keygen`; owned by root,\n"
		"                       mode 0600): prove this device's key to the host on each\n"
		"                       connection before anything is sent, and want the host to\n"
		"                       prove it first. DEVICE-ID must be this device's id.\n"
		"                       Needed by a host listening on tcp or vsock with --keys.\n",
		VG_SPOOL_MAX_DEFAULT >> 20, VG_QUEUE_MEM_DEFAULT >> 10);
}

int vg_delivery_hello(struct vg_sender *tx, Vigil__V1__DeviceInfo *dev, uint64_t stream,
		      uint64_t boot_time_ns)
{
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	size_t len;
	uint8_t *buf;
	int err;

	b.device = dev;
	b.stream_id = stream;
	b.boot_time_ns = boot_time_ns;
	len = vigil__v1__batch__get_packed_size(&b);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	vigil__v1__batch__pack(&b, buf);
	err = vg_sender_set_hello(tx, buf, len);
	free(buf);
	return err;
}

static int64_t vg_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vg_delivery_finish(struct vg_sender *tx, int ms)
{
	int64_t end = vg_ms() + ms;

	while (!vg_sender_all_acked(tx)) {
		struct pollfd pfd = { .fd = tx->rfd, .events = POLLIN };
		int64_t left = end - vg_ms();

		if (left <= 0)
			break;
		if (!vg_sender_connected(tx)) {
			/* The host may be just coming back: keep trying until the deadline. */
			if (tx->addr.kind == VG_ADDR_STDIO)
				break;
			tx->retry_at_ms =
				tx->retry_at_ms < vg_ms() + 100 ? tx->retry_at_ms : vg_ms() + 100;
			vg_sender_tick(tx);
			if (!vg_sender_connected(tx)) {
				poll(NULL, 0, 50);
				continue;
			}
			pfd.fd = tx->rfd;
		}
		if (tx->want_out && tx->wfd == tx->rfd)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, left > 100 ? 100 : (int)left) < 0 && errno != EINTR)
			break;
		vg_sender_writable(tx);
		if (vg_sender_read(tx))
			break;
	}
	if (vg_sender_all_acked(tx))
		return;
	if (tx->q.dir)
		vg_log(VG_INFO, "%zu unacknowledged frames stay in the spool %s for the next run",
		       tx->q.count, tx->q.dir);
	else
		vg_log(VG_WARN,
		       "host did not acknowledge the last %zu frames (%s); without --spool they are lost",
		       tx->q.count, vg_sender_connected(tx) ? "timed out" : "not connected");
}
