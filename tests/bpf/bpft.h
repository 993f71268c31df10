/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the BPF unit tests (tests/bpf) pass between the test programs in
 * bpft.bpf.c and the runner: inputs and outputs of one BPF_PROG_TEST_RUN.
 */
#ifndef VG_BPFT_H
#define VG_BPFT_H

#include "vigil_abi.h"

#define VGT_TAIL 1024 /* bytes of base\0rel\0 a test file event carries */

/* A file event as vg_sys_open() has it before it judges: its key, time and paths. */
struct vgt_file {
	struct vg_task task;
	__u32 op; /* enum vg_file_op */
	__u16 base_len, rel_len; /* as in struct vg_file_event, NULs included */
	__u64 now; /* the event's time (bpf_ktime_get_boot_ns() in the sensor) */
	__u64 j; /* jiffies then (bpf_jiffies64()), for vg_dedup_est() */
	__u64 ino, dev; /* dedup key */
	char tail[VGT_TAIL]; /* base, then rel */
};

/* What vgt_open and vgt_path leave for the runner. */
struct vgt_out {
	__s32 verdict; /* vg_flt_file()'s, or -1 when the event was not judged */
	__u32 walk; /* vg_path_walk()'s result */
	__u64 supp_count, supp_first_ns, supp_last_ns; /* what an emitted event carries */
	__u64 now; /* the time vgt_open gave the event: the clock's (in now) or vg_dedup_est()'s */
	char path[VG_PATH_MAX]; /* vgt_path: the resolved path, NUL-terminated */
};

/* vgt_open's return value. */
enum vgt_fate {
	VGT_EMIT = 0, /* would be submitted */
	VGT_ENDED = 1, /* dropped by a filter or suppressed as a duplicate */
	VGT_LIMITED = 2, /* over a rate limit */
};

#endif
