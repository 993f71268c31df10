/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Filters in the kernel: the rules vigild compiled from a filters/NAME.vf file,
 * judged before an event costs ring space. Two slots of rules; vg_flt_cfg
 * names the active one and is written last, and an event reads it once.
 * BPF side only.
 */
#ifndef VG_FILTER_BPF_H
#define VG_FILTER_BPF_H

#include "common.bpf.h"
#include "vf_match.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * VG_FLT_RULES);
	__type(key, __u32);
	__type(value, struct vg_flt_rule);
} vg_flt_rules SEC(".maps") __weak;

/* Hits per slot and rule. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * VG_FLT_RULES);
	__type(key, __u32);
	__type(value, __u64);
} vg_flt_hits SEC(".maps") __weak;

/*
 * Each process's executable, for exe and parent_exe (struct vg_flt_exe).
 * LRU: a process the map lost is judged as of unknown executable (exe
 * conditions do not match), never as someone else's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vg_flt_exe);
} vg_flt_exe SEC(".maps") __weak;

/* The input being judged, with slack for the path copies: [0] process context, [1] softirq. */
struct vg_flt_buf {
	struct vg_flt_in in;
	__u8 slack[2 * VG_FLT_VAL];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vg_flt_buf);
} vg_flt_buf SEC(".maps") __weak;

#ifdef VG_OWN_GLOBALS
struct vg_flt_cfg vg_flt_cfg = {};
#else
extern struct vg_flt_cfg vg_flt_cfg;
#endif

static __always_inline struct vg_flt_in *vg_flt_get(__u32 which)
{
	struct vg_flt_buf *b = bpf_map_lookup_elem(&vg_flt_buf, &which);

	return b ? &b->in : NULL;
}

/* Any rules loaded? (read without the slot: a cheap test before building an input) */
static __always_inline int vg_flt_on(void)
{
	__u32 slot = vg_flt_cfg.slot & 1;

	return vg_flt_cfg.nrules[slot] != 0;
}

/* A verdict: bit 0 set when the event is dropped, the rest the deciding rule + 1 (0: none). */
#define VG_FLT_DROPS(v) ((v)&1)
#define VG_FLT_RULE(v) ((int)((v) >> 1) - 1)

#ifdef VG_FLT_JUDGE
/*
 * The active rule set's verdict on the input in vg_flt_buf[which]; counts
 * the deciding rule's hit. A global function, so the verifier checks the
 * rule loop once per program rather than at every call site (bpf_loop()
 * would need v5.17); each program file names its own (VG_FLT_JUDGE), as
 * global functions of different objects must not collide when linked.
 */
__noinline int VG_FLT_JUDGE(__u32 which)
{
	struct vg_flt_in *in = vg_flt_get(which & 1);
	__u32 slot, n, i;

	if (!in)
		return 0;
	slot = vg_flt_cfg.slot & 1;
	n = vg_flt_cfg.nrules[slot];
	for (i = 0; i < VG_FLT_RULES; i++) {
		__u32 key = slot * VG_FLT_RULES + i;
		struct vg_flt_rule *r;
		__u64 *hits;

		if (i >= n)
			break;
		r = bpf_map_lookup_elem(&vg_flt_rules, &key);
		if (!r)
			break;
		if (!vg_flt_rule_match(r, in))
			continue;
		hits = bpf_map_lookup_elem(&vg_flt_hits, &key);
		return (int)(i + 1) << 1 | vg_flt_hit(r, hits);
	}
	return 0;
}
#define vg_flt_judge VG_FLT_JUDGE
#endif

static __always_inline void vg_flt_task(struct vg_flt_in *in, __u32 cls, __u32 op,
					const struct vg_task *t)
{
	in->cls = cls;
	in->op = op;
	in->uid = t->uid;
	in->cgroup = t->cgroup_id;
	__builtin_memcpy(in->comm, t->comm, VG_COMM_LEN);
	in->path_len = 0;
	in->tail_len = 0;
	in->family = 0;
	in->rport = 0;
	in->lport = 0;
	in->exe.len = 0;
	in->pexe.len = 0;
	/* Two lookups only while a loaded rule set asks (either slot: a flip may come between). */
	if (vg_flt_cfg.exe) {
		struct vg_flt_exe *x = bpf_map_lookup_elem(&vg_flt_exe, &t->tgid);

		if (x)
			__builtin_memcpy(&in->exe, x, sizeof(*x));
		x = bpf_map_lookup_elem(&vg_flt_exe, &t->ppid);
		if (x)
			__builtin_memcpy(&in->pexe, x, sizeof(*x));
	}
}

#ifdef VG_FLT_JUDGE
/* A net event: 1 when dropped (counted as filtered). */
static __always_inline int vg_flt_net(const struct vg_net_event *e, __u32 which)
{
	struct vg_flt_in *in;

	if (!vg_flt_on())
		return 0;
	in = vg_flt_get(which);
	if (!in)
		return 0;
	vg_flt_task(in, VG_CLASS_NET, e->op, &e->task);
	in->family = e->family;
	in->rport = e->rport;
	in->lport = e->lport;
	__builtin_memcpy(in->raddr, e->raddr, 16);
	if (!VG_FLT_DROPS(vg_flt_judge(which)))
		return 0;
	vg_count(VG_CLASS_NET, VG_CNT_FILTERED);
	return 1;
}

/*
 * The verdict on a file event built in scratch (VG_FLT_DROPS: counted as
 * filtered). Its path: the whole path when the kernel resolved it, the
 * caller's path when absolute, else the resolved directory joined with the
 * caller's path (not normalized: "a/../b" stays). A suffix must lie within
 * the caller's part.
 */
static __noinline __attribute__((unused)) int vg_flt_file(struct vg_scratch *s)
{
	struct vg_file_event *e;
	struct vg_flt_in *in;
	__u32 boff = sizeof(struct vg_file_event), blen, roff, rlen, pos;
	int v;

	if (!s)
		return 0;
	in = vg_flt_get(0);
	if (!in)
		return 0;
	e = (void *)s->ev;
	vg_flt_task(in, VG_CLASS_FILE, e->op, &e->task);
	blen = e->base_len ? (e->base_len - 1) & (VG_PATH_MAX - 1) : 0;
	rlen = e->rel_len ? (e->rel_len - 1) & (VG_PATH_MAX - 1) : 0;
	roff = boff + e->base_len;
	if (rlen && s->ev[roff & 16383] == '/') {
		bpf_probe_read_kernel(in->head, VG_FLT_VAL, &s->ev[roff & 16383]);
		in->path_len = rlen;
	} else if (rlen) {
		pos = blen < VG_FLT_VAL ? blen : VG_FLT_VAL;
		/* Hide the bound from clang so the masks below stay for the verifier. */
		asm volatile("" : "+r"(pos));
		bpf_probe_read_kernel(in->head, pos & (VG_FLT_VAL * 2 - 1), &s->ev[boff]);
		if (blen != 1) {
			if (pos < VG_FLT_VAL)
				in->head[pos & (VG_FLT_VAL - 1)] = '/';
			pos++;
		}
		asm volatile("" : "+r"(pos));
		if (pos < VG_FLT_VAL)
			bpf_probe_read_kernel(in->head + (pos & (VG_FLT_VAL - 1)),
					      (VG_FLT_VAL - pos) & (VG_FLT_VAL - 1),
					      &s->ev[roff & 16383]);
		in->path_len = blen + (blen != 1) + rlen;
	} else {
		bpf_probe_read_kernel(in->head, VG_FLT_VAL, &s->ev[boff]);
		in->path_len = blen;
		roff = boff;
		rlen = blen;
	}
	/* The caller's part ends the path: its last bytes, right-aligned (roff >= VG_FLT_VAL). */
	bpf_probe_read_kernel(in->tail, VG_FLT_VAL, &s->ev[(roff + rlen - VG_FLT_VAL) & 16383]);
	in->tail_len = rlen;
	v = vg_flt_judge(0);
	if (VG_FLT_DROPS(v))
		vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
	return v;
}

/*
 * A duplicate of an event the same rule set already judged (rule: the
 * deciding rule's index): count the hit that rule would have had and say,
 * sampling included, whether it drops the event (then counted as filtered),
 * without building the event again.
 */
static __always_inline int vg_flt_again(int rule)
{
	__u32 key = (vg_flt_cfg.slot & 1) * VG_FLT_RULES + ((__u32)rule & (VG_FLT_RULES - 1));
	struct vg_flt_rule *r = bpf_map_lookup_elem(&vg_flt_rules, &key);
	__u64 *hits = bpf_map_lookup_elem(&vg_flt_hits, &key);

	if (!r || !vg_flt_hit(r, hits))
		return 0;
	vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
	return 1;
}

/*
 * Dedup with filters, before a file event is built (dd: its dedup entry or
 * NULL, dup: vg_dedup_in_window(), gen: the vg_flt_cfg.slot read for the
 * event): a duplicate of an event the same rule set judged takes that
 * verdict without building its path again, dropped (counted for its rule)
 * or suppressed as a duplicate. 1 when the event ends here.
 */
static __always_inline int vg_dedup_cached(struct vg_lim_val *dd, int dup, __u32 gen, __u64 now)
{
	if (!dd || !dup || dd->flt_gen != gen)
		return 0;
	if (dd->flt_rule < 0 || !vg_flt_again(dd->flt_rule))
		vg_dedup_suppress(VG_CLASS_FILE, dd, now);
	return 1;
}

/*
 * Dedup after the filters judged the built event (verdict: vg_flt_file(),
 * or -1 when no rules are loaded): the entry keeps the verdict for its
 * duplicates, and a kept event after dropped ones opens a window of its own.
 * 1 when the event ends here: dropped, or suppressed as a duplicate.
 */
static __always_inline int vg_dedup_judged(struct vg_lim_val *dd, int dup, __u32 gen, int verdict,
					   __u64 now)
{
	if (verdict >= 0) {
		if (dd) {
			if (!dup || dd->flt_drop) {
				dd->mark_ns = now;
				dup = 0;
			}
			dd->flt_gen = gen;
			dd->flt_rule = (__s16)VG_FLT_RULE(verdict);
			dd->flt_drop = VG_FLT_DROPS(verdict);
		}
		if (VG_FLT_DROPS(verdict))
			return 1;
	} else if (dd && !dup) {
		dd->mark_ns = now;
	}
	if (dd && dup) {
		vg_dedup_suppress(VG_CLASS_FILE, dd, now);
		return 1;
	}
	return 0;
}

#endif /* VG_FLT_JUDGE */

#endif
