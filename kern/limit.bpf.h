/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * In-kernel dedup and rate limiting. BPF side only.
 *
 * Dedup: an event whose (process, class, operation, object) was emitted
 * less than a window ago is suppressed and counted in its table entry. The
 * next emitted event of the key carries the count and time span of what was
 * suppressed before it; what no later event picks up, the flush program
 * reports as a summary record. Counts move with atomic adds, and a report
 * subtracts exactly what it read, so suppressed counts add up exactly.
 *
 * Rate limiting: a GCRA (virtual scheduling) bucket per process and class,
 * and one per class for the whole machine. Process lifecycle and security
 * events are never limited: only the file and network classes call this.
 *
 * Entries are deleted by vigild through the flush program once their
 * process is gone, never while it runs, so no increment can race a delete.
 */
#ifndef VG_LIMIT_BPF_H
#define VG_LIMIT_BPF_H

#include "common.bpf.h"

/*
 * Run-time knobs, per class, set by vigild before load (0: off). Defined by
 * the object that defines VG_OWN_GLOBALS (proc.bpf.c), extern elsewhere: a
 * __weak variable keeps one copy of its storage per object after `bpftool
 * gen object`, and each program would read its own.
 */
#ifdef VG_OWN_GLOBALS
const volatile __u64 vg_dedup_ns[VG_CLASS_MAX] = {};
const volatile __u64 vg_rl_interval_ns[VG_CLASS_MAX] = {}; /* 1e9 / events per second */
const volatile __u64 vg_rl_burst[VG_CLASS_MAX] = {};
const volatile __u64 vg_rlg_interval_ns[VG_CLASS_MAX] = {}; /* whole machine */
const volatile __u64 vg_rlg_burst[VG_CLASS_MAX] = {};
const volatile __u64 vg_tick_ns = 0; /* a jiffy (the coarse clocks' resolution); 0: unknown */
#else
extern const volatile __u64 vg_dedup_ns[VG_CLASS_MAX];
extern const volatile __u64 vg_rl_interval_ns[VG_CLASS_MAX];
extern const volatile __u64 vg_rl_burst[VG_CLASS_MAX];
extern const volatile __u64 vg_rlg_interval_ns[VG_CLASS_MAX];
extern const volatile __u64 vg_rlg_burst[VG_CLASS_MAX];
extern const volatile __u64 vg_tick_ns;
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vg_lim_key);
	__type(value, struct vg_lim_val);
} vg_dedup SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vg_lim_key);
	__type(value, struct vg_lim_val);
} vg_bucket SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VG_CLASS_MAX);
	__type(key, __u32);
	__type(value, struct vg_lim_val);
} vg_gbucket SEC(".maps") __weak;

struct vg_supp {
	__u64 count, first_ns, last_ns;
};

/* Take what an entry has suppressed so far: exactly what was read is subtracted. */
static __always_inline void vg_take(struct vg_lim_val *v, struct vg_supp *out)
{
	__u64 c = v->count;

	out->count = 0;
	if (!c)
		return;
	__sync_fetch_and_add(&v->count, -c);
	out->count = c;
	out->first_ns = v->first_ns;
	out->last_ns = v->last_ns;
	v->first_ns = 0;
}

static __always_inline void vg_note_suppressed(struct vg_lim_val *v, __u64 now)
{
	__sync_fetch_and_add(&v->count, 1);
	if (!v->first_ns)
		v->first_ns = now;
	v->last_ns = now;
	/*
	 * A sleeping vigild must report it once idle. After the atomic add (a
	 * full barrier on x86), so the class counter, counted before this, is
	 * seen by vigild once it has gone to sleep, or it is woken.
	 */
	vg_wake(&vg_rb_proc);
}

/* The key's dedup entry, made when missing; NULL when dedup is off or the table is full. */
static __always_inline struct vg_lim_val *vg_dedup_entry(__u32 class, const struct vg_lim_key *k)
{
	struct vg_lim_val *v, nv = { .flt_rule = -1 };

	if (class >= VG_CLASS_MAX || !vg_dedup_ns[class])
		return NULL;
	v = bpf_map_lookup_elem(&vg_dedup, k);
	if (v)
		return v;
	/* A full table dedups nothing more, and loses nothing. */
	bpf_map_update_elem(&vg_dedup, k, &nv, BPF_NOEXIST);
	return bpf_map_lookup_elem(&vg_dedup, k);
}

/* Does an event at now fall in the entry's window (a duplicate to suppress)? */
static __always_inline int vg_dedup_in_window(__u32 class, const struct vg_lim_val *v, __u64 now)
{
	return v && class < VG_CLASS_MAX && v->mark_ns && now - v->mark_ns < vg_dedup_ns[class];
}

/* Note a clock read (now, at jiffies j) on this CPU for vg_dedup_est(); returns now. */
static __always_inline __u64 vg_clock_note(struct vg_scratch *s, __u64 now, __u64 j)
{
	if (s) {
		s->clk_ns = now;
		s->clk_j = j;
		s->clk_est = 0;
	}
	return now;
}

/* The clock (boot time), noted with the jiffies j read just before. */
static __always_inline __u64 vg_clock(struct vg_scratch *s, __u64 j)
{
	return vg_clock_note(s, bpf_ktime_get_boot_ns(), j);
}

/*
 * The time of an event on dedup entry v at jiffies j (bpf_jiffies64(),
 * which the verifier inlines as a load) when it is certainly a duplicate
 * in v's window, without reading the clock: a bound from this CPU's last
 * clock read (vg_clock) and the ticks since. 0 when not certain (read the
 * clock): no window start, a window whose dropped event may open another
 * (flt_drop), the tick unknown, or the upper bound past the window.
 *
 * bpf_ktime_get_boot_ns() cost a duplicate open 80 ns of its 210 on the
 * test VM (its calls return through a Safe RET thunk): a build opening the
 * same files over and over pays that per open. The window stays exact,
 * as the upper bound decides it; what an estimate gives up is the
 * precision of the times a summary reports (first_ns, last_ns): exact to
 * within 4 ticks (16 ms at HZ=250), never later than the event, never
 * before the window's start. Jiffies do not count a suspend: a duplicate
 * just after a resume may be suppressed in the window it had before (and
 * counted).
 */
static __always_inline __u64 vg_dedup_est(__u32 class, const struct vg_lim_val *v,
					  const struct vg_scratch *s, __u64 j)
{
	__u64 tick = vg_tick_ns, d, hi, lo;

	if (!v || !s || !tick || class >= VG_CLASS_MAX || !v->mark_ns || v->flt_drop || !s->clk_ns)
		return 0;
	/*
	 * Since the clock read, between d - 2 and d + 2 ticks passed: a tick
	 * each side for when jiffies moved, one for an update behind.
	 */
	d = j - s->clk_j;
	if (d > (1ull << 32)) /* keeps (d + 2) * tick from overflowing */
		return 0;
	hi = s->clk_ns + (d + 2) * tick;
	if (hi < v->mark_ns || hi - v->mark_ns >= vg_dedup_ns[class])
		return 0;
	lo = s->clk_ns + (d > 2 ? (d - 2) * tick : 0);
	return lo > v->mark_ns ? lo : v->mark_ns;
}

/* Suppress a duplicate: counted in the entry (for the next emitted event or a summary) and as such. */
static __always_inline void vg_dedup_suppress(__u32 class, struct vg_lim_val *v, __u64 now)
{
	vg_count(class, VG_CNT_DEDUP);
	vg_note_suppressed(v, now);
}

/* Give back what an event took when it could not be emitted after all. */
static __always_inline void vg_untake(struct vg_lim_val *v, const struct vg_supp *s)
{
	if (v && s->count)
		__sync_fetch_and_add(&v->count, s->count);
}

/* GCRA: conforming when the theoretical arrival time is within the burst tolerance. */
static __always_inline int vg_gcra(struct vg_lim_val *v, __u64 now, __u64 t, __u64 burst)
{
	__u64 tat = v->mark_ns > now ? v->mark_ns : now;
	__u64 tau = burst > 1 ? (burst - 1) * t : 0;

	if (tat - now > tau)
		return 0;
	v->mark_ns = tat + t;
	return 1;
}

/* 1 when the event is over its process's or its class's rate (counted), else 0. */
static __always_inline int vg_rate_check(__u32 class, __u32 tgid, __u64 now)
{
	struct vg_lim_key k = { .tgid = tgid, .class = (__u16) class };
	struct vg_lim_val *v, *g, nv = {};
	__u64 t, gt, burst, gburst;
	__u32 gkey = class;
	int ok = 1;

	if (class >= VG_CLASS_MAX)
		return 0;
	/* Read the knobs while the index is known bounded: the key copy goes to the stack. */
	t = vg_rl_interval_ns[class];
	gt = vg_rlg_interval_ns[class];
	burst = vg_rl_burst[class];
	gburst = vg_rlg_burst[class];
	if (!t && !gt)
		return 0;
	v = bpf_map_lookup_elem(&vg_bucket, &k);
	if (!v) {
		bpf_map_update_elem(&vg_bucket, &k, &nv, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&vg_bucket, &k);
		if (!v)
			return 0; /* table full: no limit rather than a silent loss */
	}
	if (t)
		ok = vg_gcra(v, now, t, burst);
	if (ok && gt) {
		g = bpf_map_lookup_elem(&vg_gbucket, &gkey);
		if (g)
			ok = vg_gcra(g, now, gt, gburst);
	}
	if (ok)
		return 0;
	vg_count(class, VG_CNT_RATELIMIT);
	vg_note_suppressed(v, now);
	return 1;
}

#endif
