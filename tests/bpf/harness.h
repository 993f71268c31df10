/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * BPF unit tests: load tests/bpf/bpft.bpf.c (real kern/ code in test-only
 * programs), run its programs with BPF_PROG_TEST_RUN, read its maps.
 */
#ifndef VG_BPFT_HARNESS_H
#define VG_BPFT_HARNESS_H

#include <stdint.h>
#include <linux/types.h>

#include "bpft.h"
#include "bpft.skel.h"

/* A verdict of rule i (vg_flt_judge()): kept or dropped; VERDICT_NONE when no rule matched. */
#define KEEPS(i) (((i) + 1) << 1)
#define DROPS(i) (((i) + 1) << 1 | 1)
#define VERDICT_NONE 0

/* Knobs set before load, per class (0: off), as vigild sets them. */
struct bpft_knobs {
	__u64 dedup_ns[VG_CLASS_MAX];
	__u64 rl_interval_ns[VG_CLASS_MAX], rl_burst[VG_CLASS_MAX];
	__u64 rlg_interval_ns[VG_CLASS_MAX], rlg_burst[VG_CLASS_MAX];
	__u32 dedup_entries, bucket_entries; /* table sizes (0: as built) */
	__u64 tick_ns; /* a jiffy (vg_tick_ns); 0: duplicates read the clock */
};

/* Skip the test unless root; pin to one CPU (per-CPU counts); open, set knobs, load. */
struct bpft_bpf *bpft_load(const struct bpft_knobs *k);
/* Run prog once with ctx args (raw_tp: the argument array); returns its return value. */
int bpft_run(struct bpf_program *prog, const __u64 *args, int nargs);
/* A counter of vg_counters, summed over CPUs. */
__u64 bpft_counter(struct bpft_bpf *skel, int class, int reason);
/* Hits of rule i of the active slot, summed over CPUs. */
__u64 bpft_hits(struct bpft_bpf *skel, int i);
/*
 * Compile a rule file's text (lib/filter.c) and swap it in as vigild does:
 * the idle slot filled and its hits zeroed, then the active slot flipped.
 * Returns the rule count.
 */
int bpft_filters(struct bpft_bpf *skel, const char *vf);
/* Flip the active slot to the other one with the same rules: a new generation. */
void bpft_reswap(struct bpft_bpf *skel);
/* Set a process's executable in vg_flt_exe (as exec does). */
void bpft_exe(struct bpft_bpf *skel, __u32 tgid, const char *path);

/* A file event input: task with tgid, uid, comm; op; base and rel path (rel NULL: none). */
struct vgt_file bpft_file(__u32 tgid, const char *comm, __u32 op, const char *base,
			  const char *rel);
/*
 * Run vgt_open on f (its time now); returns enum vgt_fate, *out what it
 * left. When filters judged it, checks that `vigil filter test`'s replay
 * (lib/filter.c, same matcher) predicts the same rule and verdict.
 */
int bpft_open(struct bpft_bpf *skel, struct vgt_file *f, __u64 now, struct vgt_out *out);

/* Run vgt_net on e; 1 when dropped (checked against the replay's prediction). */
int bpft_net(struct bpft_bpf *skel, const struct vg_net_event *e);

#endif
