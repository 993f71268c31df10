/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The BPF side of vigild: loading and attaching (bpf.c), probing what the
 * kernel allows (probe.c), filter rule slots (slots.c), and the sweep of
 * what dedup and rate limiting hold back (sweep.c).
 */
#ifndef VG_BPF_H
#define VG_BPF_H

#include <pthread.h>
#include <stdint.h>

#include "names.h"
#include "vigil_abi.h"

/* A rate limit: events per second and burst; rate 0 is off. */
struct vg_rate {
	uint32_t rate, burst;
};

#define VG_SENS_EXTRA 32 /* --sensitive-read entries */

struct vg_bpf_opts {
	uint32_t ringbuf_kb; /* process ring; the network ring gets a quarter */
	uint32_t file_ringbuf_kb; /* file ring */
	uint32_t argv_max;
	uint32_t dedup_ms[VG_CLASS_MAX]; /* window per class, 0 is off (file only today) */
	struct vg_rate rl[VG_CLASS_MAX]; /* per process (file and network only) */
	struct vg_rate rlg[VG_CLASS_MAX]; /* whole machine */
	enum vg_hook hook; /* preference for every group */
	unsigned int sources; /* bit per enum vg_source wanted */
	/*
	 * --old-values: read what a chattr or futimens replaces at the entry
	 * of those syscalls under the tracepoint hooks too (with fentry always:
	 * there only they pay; a syscall entry tracepoint costs every syscall).
	 */
	int old_values;
	/* Bit per enum vg_hook to treat as refused (tests, --deny-hook). */
	unsigned int deny[VG_GRP_MAX];
	const uint32_t *ignore; /* tgids never reported (vigild adds itself) */
	int nignore;
	/* --sensitive-read: files whose read is reported besides the built-in list */
	struct vg_sens_entry {
		char dir[16], name[16]; /* parent directory's name; file name ("": any) */
	} sens[VG_SENS_EXTRA];
	int nsens;
};

/*
 * Add a --sensitive-read PATH to o: the last two components, the parent
 * directory's name and the file's ("DIR/": every file of DIR). 0, or
 * -EINVAL after saying why (a name over 15 bytes, too many entries or
 * directory names).
 */
int vg_bpf_sens_add(struct vg_bpf_opts *o, const char *path);

struct vigil_bpf;
struct bpf_link;

#define VG_TP_LINKS_MAX 96

struct vg_group_state {
	enum vg_hook hook; /* chosen; VG_HOOK_NONE when not attached */
	char why[160]; /* why this hook, or why none */
};

/* What the sweep (sweep.c) keeps from one flush tick to the next. */
struct vg_sweep {
	uint64_t held; /* deduplicated + rate-limited, all classes, at the last look */
	uint64_t looked_ns; /* boot time of the last look */
	uint64_t exits; /* processes exited, at the last walk */
	uint64_t walked_ns; /* boot time of the last walk */
	uint64_t due_ns; /* walk by then: something held back falls due */
	uint64_t walks; /* walks of the tables so far */
	int walked, no_batch;
	uint32_t chunk; /* entries keys and vals hold */
	struct vg_lim_key *keys;
	struct vg_lim_val *vals;
};

struct vg_bpf {
	struct vigil_bpf *skel;
	struct vg_group_state grp[VG_GRP_MAX];
	uint32_t ringbuf_bytes;
	int ncpus;
	/*
	 * The tp and fentry hooks of sys_exit: one link per watched syscall,
	 * released in a thread (vg_bpf_detach).
	 */
	struct bpf_link *tp_links[VG_TP_LINKS_MAX];
	int ntp_links;
	pthread_t tp_release;
	int tp_releasing;
	struct vg_sweep sweep;
};

struct vg_counts {
	uint64_t v[VG_CLASS_MAX][VG_CNT_MAX];
};

struct vg_ring_stat {
	const char *name;
	uint64_t size, fill, peak;
};

/*
 * Report what the dedup and rate-limit tables hold: entries of processes
 * that are gone (alive() says 0) are reported and deleted; entries of live
 * processes are reported when idle for their window, or always when force
 * (shutdown). The tables are walked only when that can find something (a
 * process exited, an entry falls due) or force. Returns the number of
 * summaries written, or a negative errno.
 */
int vg_bpf_sweep(struct vg_bpf *b, const struct vg_bpf_opts *o, uint64_t now_boot_ns, int force,
		 int (*alive)(void *ctx, uint32_t tgid), void *ctx);
/* Free what the sweep keeps (vg_bpf_stop does). */
void vg_bpf_sweep_free(struct vg_bpf *b);
/*
 * Nothing held back waits for a sweep; fresh: and nothing was held back
 * since the last one (reads the counters).
 */
int vg_bpf_sweep_idle(struct vg_bpf *b, int fresh);
/* Tell the programs vigild sleeps (wake it for the next record) or not. */
void vg_bpf_asleep(struct vg_bpf *b, int asleep);
/* Ring sizes and fill, by enum vg_ring; resets the peaks. */
void vg_bpf_ring_stats(struct vg_bpf *b, struct vg_ring_stat out[VG_RING_MAX]);

/*
 * Load with the preferred hooks (probing each attach point when that fails)
 * and attach. A group the kernel refuses is logged with the reason and the
 * rest keep working; 0 as long as at least one group is attached, else a
 * negative errno.
 */
int vg_bpf_start(struct vg_bpf *b, const struct vg_bpf_opts *o);
/*
 * tracefs for the tp hook: 0 when the syscall tracepoints can be read
 * (mounting it when it is not, and leaving it mounted: a second vigild may
 * be attaching), else a negative errno.
 */
int vg_tracefs_hold(void);
/* Probe only: fill b->grp without keeping anything loaded. */
int vg_bpf_probe(struct vg_bpf *b, const struct vg_bpf_opts *o);
/* Print the per-source table (--probe); json: one object per line. */
void vg_bpf_probe_print(const struct vg_bpf *b, const struct vg_bpf_opts *o, int json);
/*
 * Check what vigil cannot run without at all (BTF, ring buffers); 0, or a
 * negative errno after printing the missing feature and the kernel option.
 */
int vg_bpf_check_kernel(void);
/*
 * Detach every program: no new events after this; maps stay readable. The
 * tp hook's tracepoints may still be being released: vg_bpf_stop() waits.
 */
void vg_bpf_detach(struct vg_bpf *b);
void vg_bpf_stop(struct vg_bpf *b);
int vg_bpf_ignore_pid(struct vg_bpf *b, uint32_t tgid);
/* Fill the watch list of credential and key files (SensitiveFileRead). */
int vg_bpf_watch_defaults(struct vg_bpf *b, const struct vg_bpf_opts *o);
/*
 * Swap in a compiled rule set (n rules, at most VG_FLT_RULES): the idle slot
 * is filled and its hit counters zeroed, then the active index flips.
 */
int vg_bpf_filters(struct vg_bpf *b, const struct vg_flt_rule *rules, int n);
/*
 * Give the kernel the executable of every process running before the
 * programs were attached (later ones it learns at exec and fork), for exe
 * and parent_exe conditions. Returns how many, or a negative errno.
 */
int vg_bpf_seed_exe(struct vg_bpf *b, const char *procfs);
/* Hits of the active set's first n rules, summed over CPUs. */
int vg_bpf_filter_hits(const struct vg_bpf *b, uint64_t *hits, int n);
/* The fd of a ring buffer map (enum vg_ring). */
int vg_bpf_ringbuf_fd(const struct vg_bpf *b, int which);
/* Sum the per-CPU counters. */
int vg_bpf_counts(const struct vg_bpf *b, struct vg_counts *out);

/* Ring buffer size actually used for a requested size: a power of two of at least a page. */
uint32_t vg_ringbuf_size(uint32_t kb);
/* Route libbpf's messages through vg_log (debug ones only with verbose). */
void vg_bpf_setup_logging(int verbose);

/* The loader's steps the prober (probe.c) repeats for each attach point. */
/* Bit per enum vg_group the sources (bits of enum vg_source) need. */
unsigned int vg_groups_wanted(unsigned int sources);
/* The hooks to try for group g, in order; returns how many. */
#define VG_CAND_MAX 4
int vg_candidates(const struct vg_bpf_opts *o, int g, enum vg_hook c[VG_CAND_MAX]);
/* Open, configure and load with hooks[g] per group (VG_HOOK_NONE: not loaded). */
int vg_bpf_load(struct vigil_bpf **out, const struct vg_bpf_opts *o,
		const enum vg_hook hooks[VG_GRP_MAX], uint32_t ring_bytes);
/* While probing, libbpf's refusals are answers, not warnings (shown with -v). */
void vg_bpf_quiet(int quiet);

#endif
