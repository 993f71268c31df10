/* SPDX-License-Identifier: GPL-2.0-only */
/* Loading, attaching and reading the BPF side of vigild. */
#ifndef VG_BPF_H
#define VG_BPF_H

#include <stdint.h>

#include "vigil_abi.h"

enum vg_hook {
	VG_HOOK_AUTO = 0, /* tp_btf, falling back to raw_tp when the kernel refuses it */
	VG_HOOK_TP_BTF,
	VG_HOOK_RAW_TP,
};

struct vg_bpf_opts {
	uint32_t ringbuf_kb;
	uint32_t argv_max;
	enum vg_hook hook;
	const uint32_t *ignore; /* tgids never reported (vigild adds itself) */
	int nignore;
};

struct vigil_bpf;
struct ring_buffer;

struct vg_bpf {
	struct vigil_bpf *skel;
	enum vg_hook hook_used; /* VG_HOOK_TP_BTF or VG_HOOK_RAW_TP once loaded */
	uint32_t ringbuf_bytes;
	int ncpus;
};

struct vg_counts {
	uint64_t v[VG_CLASS_MAX][VG_CNT_MAX];
};

int vg_bpf_start(struct vg_bpf *b, const struct vg_bpf_opts *o);
/* Detach every program: no new events after this; maps stay readable. */
void vg_bpf_detach(struct vg_bpf *b);
void vg_bpf_stop(struct vg_bpf *b);
int vg_bpf_ignore_pid(struct vg_bpf *b, uint32_t tgid);
int vg_bpf_ringbuf_fd(const struct vg_bpf *b);
/* Sum the per-CPU counters. */
int vg_bpf_counts(const struct vg_bpf *b, struct vg_counts *out);

const char *vg_hook_name(enum vg_hook h);
const char *vg_class_name(int cls);
/* Ring buffer size actually used for a requested size: a power of two of at least a page. */
uint32_t vg_ringbuf_size(uint32_t kb);
/* Route libbpf's messages through vg_log (debug ones only with verbose). */
void vg_bpf_setup_logging(int verbose);

#endif
