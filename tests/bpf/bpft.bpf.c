// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test programs for the BPF unit tests: each runs real kern/ code (rate
 * limits, dedup and the verdict cache, the filter matcher, the path walk)
 * on an input from a map or from the ctx (BPF_PROG_TEST_RUN hands a raw_tp
 * program ctx_in as its argument array) and leaves what it decided in its
 * return value and in vgt_out. Never loaded by vigild.
 */
#define VG_OWN_GLOBALS
#include "common.bpf.h"
#include "limit.bpf.h"
#include "path.bpf.h"
#define VG_FLT_JUDGE vg_flt_jtest
#include "filter.bpf.h"
#include "bpft.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vgt_file);
} vgt_file_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_net_event);
} vgt_net_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vgt_out);
} vgt_out SEC(".maps");

/*
 * ctx: class, tgid, now. Returns vg_rate_check(): 1 when over the rate.
 * The sensor passes the class as a constant, and so does this: a variable
 * class loses its bound between clang's two copies of it.
 */
SEC("raw_tp")
int vgt_rate(__u64 *ctx)
{
	__u32 tgid = (__u32)ctx[1];
	__u64 now = ctx[2];

	switch (ctx[0]) {
	case VG_CLASS_FILE:
		return vg_rate_check(VG_CLASS_FILE, tgid, now);
	case VG_CLASS_NET:
		return vg_rate_check(VG_CLASS_NET, tgid, now);
	default:
		return vg_rate_check(VG_CLASS_MAX, tgid, now);
	}
}

/*
 * The file event in vgt_file_in through dedup, filters and the rate limit
 * in vg_sys_open()'s order, the event built from the input instead of a
 * struct file. Returns enum vgt_fate.
 */
SEC("raw_tp")
int vgt_open(void *ctx)
{
	struct vg_scratch *s = vg_scratch_get();
	struct vg_lim_val *dd = NULL;
	struct vg_supp supp = {};
	struct vg_file_event *e;
	struct vgt_file *in;
	struct vgt_out *out;
	int dup = 0, verdict = -1;
	__u32 zero = 0, gen;
	__u64 now;

	in = bpf_map_lookup_elem(&vgt_file_in, &zero);
	out = bpf_map_lookup_elem(&vgt_out, &zero);
	if (!in || !out || !s)
		return -1;
	out->verdict = -1;
	out->supp_count = 0;
	out->supp_first_ns = 0;
	out->supp_last_ns = 0;
	gen = vg_flt_cfg.slot;
	if (in->op != VG_FILE_CREATE) {
		struct vg_lim_key k = {
			.tgid = in->task.tgid,
			.class = VG_CLASS_FILE,
			.op = (__u16)in->op,
			.obj = in->ino,
			.obj2 = in->dev,
		};

		dd = vg_dedup_entry(VG_CLASS_FILE, &k);
		/* As the sensor: a duplicate in its window takes the estimate, not the clock. */
		now = vg_dedup_est(VG_CLASS_FILE, dd, s, in->j);
		if (!now)
			now = vg_clock_note(s, in->now, in->j);
		else
			s->clk_est = 1;
		dup = vg_dedup_in_window(VG_CLASS_FILE, dd, now);
	} else {
		now = vg_clock_note(s, in->now, in->j);
	}
	out->now = now;
	if (vg_flt_on()) {
		if (vg_dedup_cached(dd, dup, gen, now))
			return VGT_ENDED;
		e = (void *)s->ev;
		__builtin_memset(e, 0, sizeof(*e));
		e->task = in->task;
		e->op = in->op;
		e->base_len = in->base_len;
		e->rel_len = in->rel_len;
		bpf_probe_read_kernel(&s->ev[sizeof(*e)], VGT_TAIL, in->tail);
		verdict = vg_flt_file(s);
		out->verdict = verdict;
	}
	if (vg_dedup_judged(dd, dup, gen, verdict, now))
		return VGT_ENDED;
	if (s->clk_est)
		now = vg_clock_note(s, in->now, in->j);
	out->now = now;
	if (vg_rate_check(VG_CLASS_FILE, in->task.tgid, now))
		return VGT_LIMITED;
	if (dd) {
		vg_take(dd, &supp);
		out->supp_count = supp.count;
		out->supp_first_ns = supp.first_ns;
		out->supp_last_ns = supp.last_ns;
	}
	return VGT_EMIT;
}

/* The net event in vgt_net_in through the filters: 1 when dropped. */
SEC("raw_tp")
int vgt_net(void *ctx)
{
	struct vg_net_event *e;
	__u32 zero = 0;

	e = bpf_map_lookup_elem(&vgt_net_in, &zero);
	if (!e)
		return -1;
	return vg_flt_net(e, 0);
}

/*
 * ctx: a file descriptor of the calling task, or VG_AT_FDCWD for its cwd.
 * Resolves its path as the file events do (vgt_out: walk, path); returns
 * the bytes of the path, NUL included.
 */
SEC("raw_tp")
int vgt_path(__u64 *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct vg_scratch *s = vg_scratch_get();
	struct vgt_out *out;
	__u32 zero = 0, walk, len;

	out = bpf_map_lookup_elem(&vgt_out, &zero);
	if (!out || !s)
		return -1;
	walk = vg_dir_walk(task, (int)ctx[0], s);
	len = vg_put_path(s, 0, walk);
	out->walk = walk;
	bpf_probe_read_kernel(out->path, sizeof(out->path), s->ev);
	return len;
}
