// SPDX-License-Identifier: GPL-2.0-only
/* The batch vigild sends: pending events with the counters, ring, daemon and filter reports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "daemon.h"
#include "frame.h"
#include "log.h"
#include "names.h"
#include "paths.h"

/* Write a batch's protobuf, before compression, for scripts/train-dict.sh. */
static void vg_dump_batch(struct vg_daemon *d, const Vigil__V1__Batch *b)
{
	size_t len = vigil__v1__batch__get_packed_size(b);
	uint8_t *raw = malloc(len ? len : 1);
	char path[64];
	FILE *f;
	int fd;

	if (!raw)
		return;
	vigil__v1__batch__pack(b, raw);
	/* The name carries the event count, for the per-event figures. */
	snprintf(path, sizeof(path), "%020llu-%zu.pb", (unsigned long long)++d->dumped,
		 b->n_events);
	fd = vg_file_create_own("--dump-batches", d->dump_fd, path);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f || fwrite(raw, 1, len, f) != len)
		vg_log(VG_WARN, "--dump-batches: write %s/%s: %s", d->o.dump_dir, path,
		       strerror(errno));
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(raw);
}

static int vg_counts_changed(const struct vg_counts *a, const struct vg_counts *b)
{
	return memcmp(a, b, sizeof(*a)) != 0;
}

int vg_flush(struct vg_daemon *d, int force)
{
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	Vigil__V1__Counter cnt[VG_CLASS_MAX], *cntp[VG_CLASS_MAX];
	struct vg_counts now;
	uint8_t *payload;
	size_t len;
	int err;

	if (d->peer_gone)
		return 0;
	err = vg_bpf_counts(&d->bpf, &now);
	if (err)
		return vg_err(err, "read counters");
	if (!force && !d->sensor.nevents && d->device_sent &&
	    !vg_counts_changed(&now, &d->sent_counts) &&
	    d->sent_lost == vg_sender_events_lost(&d->tx))
		return 0;

	vg_sensor_hash_settle(&d->sensor);
	vg_sensor_batch_fill(&d->sensor, &b);
	b.boot_time_ns = (uint64_t)d->sensor.boot_to_epoch_ns;
	b.stream_id = d->stream_id;
	if (!d->device_sent)
		b.device = &d->dev.pb;
	for (int c = 0; c < VG_CLASS_MAX; c++) {
		vigil__v1__counter__init(&cnt[c]);
		cnt[c].event_class = (char *)vg_class_name(c);
		cnt[c].seen = now.v[c][VG_CNT_SEEN];
		cnt[c].emitted = now.v[c][VG_CNT_EMITTED];
		cnt[c].filtered = now.v[c][VG_CNT_FILTERED];
		cnt[c].deduplicated = now.v[c][VG_CNT_DEDUP];
		cnt[c].rate_limited = now.v[c][VG_CNT_RATELIMIT];
		cnt[c].ringbuf_full = now.v[c][VG_CNT_RB_FULL];
		cntp[c] = &cnt[c];
	}
	b.counters = cntp;
	b.n_counters = VG_CLASS_MAX;
	b.events_lost = d->sensor.lost + vg_sender_events_lost(&d->tx);
	{
		static Vigil__V1__RingStats rs[VG_RING_MAX], *rsp[VG_RING_MAX];
		static Vigil__V1__DaemonStats ds;
		struct vg_ring_stat st[VG_RING_MAX];
		struct vg_hash_stats hs;

		vg_bpf_ring_stats(&d->bpf, st);
		for (int i = 0; i < VG_RING_MAX; i++) {
			vigil__v1__ring_stats__init(&rs[i]);
			rs[i].name = (char *)st[i].name;
			rs[i].size_bytes = st[i].size;
			rs[i].fill_bytes = st[i].fill;
			rs[i].peak_fill_bytes = st[i].peak;
			rsp[i] = &rs[i];
		}
		vigil__v1__daemon_stats__init(&ds);
		ds.wakeups = d->wakeups;
		ds.records = d->records;
		ds.summaries = d->summaries;
		vg_sensor_hash_stats(&d->sensor, &hs);
		ds.hashed = hs.hashed;
		ds.hash_cached = hs.cached;
		ds.hash_too_large = hs.too_large;
		ds.hash_unreadable = hs.unreadable;
		ds.hash_gone = hs.gone;
		ds.hash_queue_full = hs.queue_full;
		ds.hash_late = hs.late;
		ds.queue_frames = d->tx.q.count;
		ds.queue_mem_bytes = d->tx.q.mem_bytes;
		ds.spool_bytes = d->tx.q.disk_bytes;
		b.rings = rsp;
		b.n_rings = VG_RING_MAX;
		b.daemon = &ds;
	}
	if (d->filters) {
		static Vigil__V1__FilterRule fr[VG_FLT_RULES], *frp[VG_FLT_RULES];
		uint64_t hits[VG_FLT_RULES] = {};
		int n = d->filters->n;

		vg_bpf_filter_hits(&d->bpf, hits, n);
		for (int i = 0; i < n; i++) {
			vigil__v1__filter_rule__init(&fr[i]);
			fr[i].index = i;
			fr[i].line = d->filters->rules[i].line;
			fr[i].rule = d->filters->rules[i].text;
			fr[i].action =
				d->filters->rules[i].k.action == VG_FLT_DROP ? "drop" : "keep";
			fr[i].hits = hits[i];
			fr[i].generation = d->filter_gen;
			frp[i] = &fr[i];
		}
		b.filter_rules = frp;
		b.n_filter_rules = n;
	}

	if (d->o.dump_dir)
		vg_dump_batch(d, &b);
	err = vg_batch_pack(&b, d->o.zstd_level, &payload, &len);
	if (err)
		return vg_err(err, "encode batch of %zu events", d->sensor.nevents);
	err = vg_sender_send(&d->tx, VG_FRAME_BATCH, VG_FRAME_F_ZSTD, payload, len,
			     (uint32_t)d->sensor.nevents);
	free(payload);
	if (err == -EPIPE || err == -ECONNRESET) {
		vg_log(VG_INFO, "peer closed the connection");
		d->peer_gone = 1;
		return 0;
	}
	if (err)
		return vg_err(err, "send batch");
	vg_log(VG_DEBUG, "sent batch %llu: %zu events, %zu bytes",
	       (unsigned long long)d->tx.next_seq - 1, d->sensor.nevents, len);
	d->device_sent = 1;
	d->sent_counts = now;
	d->sent_lost = b.events_lost - d->sensor.lost;
	vg_sensor_batch_done(&d->sensor);
	return 0;
}

int vg_report_stats(struct vg_daemon *d, char *out, size_t size)
{
	struct vg_counts now;
	size_t n = 0;

	if (vg_bpf_counts(&d->bpf, &now))
		return -EIO;
	n += (size_t)snprintf(out + n, size - n, "{\"classes\":{");
	for (int c = 0; c < VG_CLASS_MAX && n < size; c++)
		n += (size_t)snprintf(
			out + n, size - n,
			"%s\"%s\":{\"seen\":%llu,\"emitted\":%llu,\"filtered\":%llu,"
			"\"deduplicated\":%llu,\"rate_limited\":%llu,\"ringbuf_full\":%llu}",
			c ? "," : "", vg_class_name(c), (unsigned long long)now.v[c][VG_CNT_SEEN],
			(unsigned long long)now.v[c][VG_CNT_EMITTED],
			(unsigned long long)now.v[c][VG_CNT_FILTERED],
			(unsigned long long)now.v[c][VG_CNT_DEDUP],
			(unsigned long long)now.v[c][VG_CNT_RATELIMIT],
			(unsigned long long)now.v[c][VG_CNT_RB_FULL]);
	if (n < size)
		snprintf(out + n, size - n,
			 "},\"records\":%llu,\"wakeups\":%llu,\"events_lost\":%llu,"
			 "\"asleep\":%d,\"sweeps\":%llu}",
			 (unsigned long long)d->records, (unsigned long long)d->wakeups,
			 (unsigned long long)(d->sensor.lost + vg_sender_events_lost(&d->tx)),
			 d->asleep, (unsigned long long)d->bpf.sweep.walks);
	return 0;
}
