/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The daemon's event core, free of BPF and I/O so tests can drive it with
 * hand-made records: turn ring buffer records into protobuf events, keep the
 * process table current, collect events into the next batch.
 */
#ifndef VG_SENSOR_H
#define VG_SENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cgroup.h"
#include "distros.h"
#include "hash.h"
#include "proctable.h"
#include "users.h"
#include "vigil.pb-c.h"

struct vg_dd_path;

struct vg_sensor {
	struct vg_proctable pt;
	struct vg_users users;
	struct vg_distros distros; /* WSL: each distribution's PID namespace, name, users */
	const char *procfs; /* where to look up processes the table misses; may be NULL */
	struct vg_arena arena; /* what the pending events point to */
	Vigil__V1__Event **events; /* pending, in arrival order */
	size_t nevents, cap;
	uint64_t next_report_id;
	int64_t boot_to_epoch_ns; /* add to a boot-time stamp for Unix epoch ns */
	uint64_t received; /* records handled */
	struct vg_dd_path *paths; /* dedup key -> path, for summaries (direct-mapped) */
	uint64_t lost; /* records that became no event: malformed, or no memory */
	/* Fidelity vigild adds (hash.h, cgroup.h); each NULL/0 when off, as in unit tests. */
	struct vg_hasher *hasher; /* image digests */
	int hash_wait_ms; /* how long a batch waits for the digests its events need */
	/*
	 * The worker's finished count when a wait last timed out (+1; 0: it did
	 * not): a worker stuck on one file (a hung network file system) makes
	 * one batch wait, not every batch after it.
	 */
	uint64_t hash_stalled_at;
	struct vg_hash_stats hstats;
	struct vg_hfill *fills; /* pending events' processes whose digests are being computed */
	size_t nfills, fcap;
	struct vg_cgroups *cgroups; /* container of a cgroup id */
	int stat_files; /* FileSize of file events */
	struct vg_queued **queue; /* records of this drain of the rings, not handled yet */
	size_t nqueue, qcap;
};

int vg_sensor_init(struct vg_sensor *s, const char *procfs, const char *passwd);
/*
 * What vigild adds to the kernel's records: FileSize, the container from the
 * cgroup, and (hash_max > 0) the image digests of files up to hash_max bytes,
 * a batch waiting at most hash_wait_ms for them. 0 or a negative errno.
 */
int vg_sensor_fidelity(struct vg_sensor *s, uint64_t hash_max, int hash_wait_ms);
void vg_sensor_free(struct vg_sensor *s);
/* Re-read the boot-time to wall-clock offset (clock changes, suspend). */
void vg_sensor_sync_clock(struct vg_sensor *s);
/* Handle one record from the ring buffer: 0, or -EBADMSG / -ENOMEM (counted as lost). */
int vg_sensor_record(struct vg_sensor *s, const void *data, size_t size);
/*
 * Before a batch: wait (at most hash_wait_ms) for the digests pending events
 * need and fill them in; the ones still not ready are counted late.
 */
void vg_sensor_hash_settle(struct vg_sensor *s);
/* The hashing counters: the worker's and the sensor's. */
void vg_sensor_hash_stats(struct vg_sensor *s, struct vg_hash_stats *out);
/*
 * The rings are drained one after the other, so a record can arrive after
 * a later one of another ring (a file written before an exec, read after
 * the exec). vg_sensor_queue() keeps a copy of each record of one drain;
 * vg_sensor_settle() handles them in the order they happened (kernel time,
 * then arrival), calling full(ctx) whenever max events are pending (a
 * non-zero return stops it and is returned; the rest stay queued).
 * vg_sensor_queue: 0, or -ENOMEM (counted as lost).
 */
int vg_sensor_queue(struct vg_sensor *s, const void *data, size_t size);
int vg_sensor_settle(struct vg_sensor *s, size_t max, int (*full)(void *ctx), void *ctx);
/* Point b at the pending events (b keeps pointing into s until vg_sensor_batch_done()). */
void vg_sensor_batch_fill(struct vg_sensor *s, Vigil__V1__Batch *b);
void vg_sensor_batch_done(struct vg_sensor *s);
/*
 * out = base joined with rel (rel as given by a caller: relative to base,
 * or absolute), normalized lexically. 0, or -ENAMETOOLONG.
 */
int vg_path_join(char *out, size_t size, const char *base, const char *rel);

#endif
