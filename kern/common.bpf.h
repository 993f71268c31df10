/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps and helpers every vigil BPF program shares. BPF side only. */
#ifndef VG_COMMON_BPF_H
#define VG_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "vigil_abi.h"

/* Room for the largest exec record; offsets are masked to 16 KiB, see vg_exec. */
#define VG_EV_BUF 20480
#define VG_PATH_BUF (2 * VG_PATH_MAX)

struct vg_scratch {
	struct {
		__u64 dentry, mnt;
		__u32 pos, _pad;
	} w; /* vg_path_walk() loop state */
	char ev[VG_EV_BUF];
	char path[VG_PATH_BUF];
};

/* Per-CPU scratch: records are built here, not on the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_scratch);
} vg_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VG_CLASS_MAX *VG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vg_counters SEC(".maps");

/* Processes never reported: vigild itself and the host that spawned it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} vg_ignore SEC(".maps");

static __always_inline void vg_count(__u32 class, __u32 reason)
{
	__u32 key = class * VG_CNT_MAX + reason;
	__u64 *c = bpf_map_lookup_elem(&vg_counters, &key);

	if (c)
		*c += 1;
}

static __always_inline struct vg_scratch *vg_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_scratch, &zero);
}

static __always_inline int vg_ignored(__u32 tgid)
{
	return bpf_map_lookup_elem(&vg_ignore, &tgid) != NULL;
}

#endif
