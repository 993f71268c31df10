/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigild's state and the jobs main() and the event loop (vigild.c) hand
 * out: options (options.c), filter rule sets (filters.c), the batch with its
 * counters report (report.c) and the --record capture (record.c).
 */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bpf/libbpf.h>

#include "bpf.h"
#include "control.h"
#include "delivery.h"
#include "device.h"
#include "filter.h"
#include "sender.h"
#include "sensor.h"

#define VG_MAX_IGNORE 16
#define VG_IDLE_MS 2000 /* --idle-ms default (vigild --help says it too) */

struct vg_opts {
	const char *transport;
	struct vg_bpf_opts bpf;
	uint32_t batch_max;
	uint32_t flush_ms;
	uint32_t idle_ms; /* --idle-ms: the flush timer once idle (vigild.c); 0: never */
	int zstd_level;
	uint32_t ignore[VG_MAX_IGNORE];
	int nignore;
	const char *device_id, *device_name, *host_device_id, *machine_group;
	const char *dump_dir; /* --dump-batches: raw batches for training the dictionary */
	const char *control; /* --control PATH: the local root-only control socket */
	int no_dict;
	int verbose;
	int probe, json;
	struct vg_delivery dlv;
	const char *filters; /* --filters FILE, reloaded on SIGHUP */
	const char *record; /* --record FILE: every record received, for vigil filter test */
	uint32_t hash_max_mb; /* --hash-max-mb: 0 is --no-hash */
	uint32_t hash_wait_ms; /* --hash-wait-ms */
};

struct vg_daemon {
	struct vg_opts o;
	struct vg_bpf bpf;
	struct ring_buffer *rb;
	struct ring_buffer *rb_proc; /* the process ring again, drained after the others */
	struct vg_sensor sensor;
	struct vg_sender tx;
	struct vg_device dev;
	struct vg_counts sent_counts; /* counters in the last batch sent */
	uint64_t sent_lost; /* delivery losses reported in it */
	uint64_t stream_id;
	int device_sent;
	int peer_gone;
	int err;
	uint64_t wakeups, records, summaries;
	struct vg_control ctl;
	uint64_t dumped;
	struct vg_vf_set *filters; /* the rule set in the kernel (--filters) */
	FILE *record; /* --record FILE */
	int dump_fd; /* --dump-batches DIR */
	uint64_t filter_gen; /* rule sets loaded */
	int asleep; /* idle: flush timer slowed, the kernel wakes us (vigild.c) */
	uint64_t tick_records; /* records at the end of the last tick */
};

/* The command line into o: 0 to run, 1 to exit 0 (help, version), < 0 for a usage error. */
int vg_opts_parse(int argc, char **argv, struct vg_opts *o);

/* (Re)load --filters FILE into the kernel; a file with errors leaves the running set. */
int vg_load_filters(struct vg_daemon *d);
/*
 * Rule text from the host (a FILTER frame) or the control socket: check it,
 * swap it in, and say how it went in out ("ok: ..." or "error: ..." with the
 * diagnostics); errors leave the running set.
 */
void vg_filter_text(struct vg_daemon *d, const char *name, const char *text, size_t len, char *out,
		    size_t size);

/*
 * Encode what is pending (events, counters, device on first use) and send
 * it; without force only when something changed since the last batch.
 */
int vg_flush(struct vg_daemon *d, int force);
/* The counters as the control socket's stats command answers them (JSON); 0 or -EIO. */
int vg_report_stats(struct vg_daemon *d, char *out, size_t size);

/* Open --record FILE and write the snapshot of running processes; 0 or a negative errno. */
int vg_record_open(struct vg_daemon *d);
/* Append one record to the capture; a failed write stops recording (with a warning). */
void vg_record(struct vg_daemon *d, const void *data, size_t size);

#endif
