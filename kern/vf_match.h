/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The filter matcher: one rule against one event's struct vg_flt_in. Plain
 * C with fixed bounds, included by the BPF programs (kern/filter.bpf.h) and
 * by userspace (`vigil filter test`), so a replay predicts what the kernel
 * does. Values are compared a word at a time under byte masks the compiler
 * (lib/filter.c) sets.
 */
#ifndef VG_VF_MATCH_H
#define VG_VF_MATCH_H

#include "vigil_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Every value compared here sits at a multiple of 8 bytes in its struct. */
typedef __u64 __attribute__((may_alias, aligned(8))) vg_flt_u64;

static __always_inline __u64 vg_flt_word(const __u8 *p)
{
	return *(const vg_flt_u64 *)p;
}

/* a and b equal on the bytes where mask is set; no branches, for the verifier's sake. */
static __always_inline int vg_flt_span_eq(const __u8 *a, const __u8 *b, const __u8 *mask)
{
	__u64 d = 0;
	__u32 w;

	for (w = 0; w < VG_FLT_VAL / 8; w++)
		d |= (vg_flt_word(a + w * 8) ^ vg_flt_word(b + w * 8)) & vg_flt_word(mask + w * 8);
	return d == 0;
}

/* An executable against an == (whole length) or prefix value. */
static __always_inline int vg_flt_exe_match(const struct vg_flt_exe *x, const __u8 *val,
					    const __u8 *mask, __u32 len, int eq)
{
	if (x->len < len || (eq && x->len != len))
		return 0;
	return vg_flt_span_eq(x->head, val, mask);
}

static __always_inline int vg_flt_rule_match(const struct vg_flt_rule *r,
					     const struct vg_flt_in *in)
{
	__u32 f = r->fields;

	if (!(r->classes & (1u << (in->cls & 7))))
		return 0;
	if ((f & VG_FM_OP) && !(r->ops & (1u << (in->op & 31))))
		return 0;
	if ((f & VG_FM_UID) && in->uid != r->uid)
		return 0;
	if ((f & VG_FM_NOT_UID) && in->uid == r->uid)
		return 0;
	if ((f & VG_FM_CGROUP) && in->cgroup != r->cgroup)
		return 0;
	if ((f & VG_FM_RPORT) && in->rport != r->rport)
		return 0;
	if ((f & VG_FM_LPORT) && in->lport != r->lport)
		return 0;
	if (f & VG_FM_COMM) {
		if ((vg_flt_word(in->comm) ^ vg_flt_word(r->comm)) & vg_flt_word(r->comm_mask))
			return 0;
		if ((vg_flt_word(in->comm + 8) ^ vg_flt_word(r->comm + 8)) &
		    vg_flt_word(r->comm_mask + 8))
			return 0;
	}
	if (f & VG_FM_RADDR) {
		if (in->family != r->family)
			return 0;
		if ((vg_flt_word(in->raddr) ^ vg_flt_word(r->raddr)) & vg_flt_word(r->rmask))
			return 0;
		if ((vg_flt_word(in->raddr + 8) ^ vg_flt_word(r->raddr + 8)) &
		    vg_flt_word(r->rmask + 8))
			return 0;
	}
	if (f & (VG_FM_PATH_EQ | VG_FM_PATH_PRE)) {
		if (in->path_len < r->pre_len)
			return 0;
		if ((f & VG_FM_PATH_EQ) && in->path_len != r->pre_len)
			return 0;
		if (!vg_flt_span_eq(in->head, r->pre, r->pre_mask))
			return 0;
	}
	if (f & VG_FM_PATH_SUF) {
		if (in->tail_len < r->suf_len)
			return 0;
		if (!vg_flt_span_eq(in->tail, r->suf, r->suf_mask))
			return 0;
	}
	if ((f & (VG_FM_EXE_EQ | VG_FM_EXE_PRE)) &&
	    !vg_flt_exe_match(&in->exe, r->exe, r->exe_mask, r->exe_len, f & VG_FM_EXE_EQ))
		return 0;
	if ((f & (VG_FM_PEXE_EQ | VG_FM_PEXE_PRE)) &&
	    !vg_flt_exe_match(&in->pexe, r->pexe, r->pexe_mask, r->pexe_len, f & VG_FM_PEXE_EQ))
		return 0;
	return 1;
}

/*
 * A match of rule r: count it in *hits (NULL: not counted) and say whether
 * the rule drops the event. `sample 1/N` keeps a drop rule's 1st, N+1th, ...
 * match: per CPU in the kernel, on one counter in the replay.
 */
static __always_inline int vg_flt_hit(const struct vg_flt_rule *r, __u64 *hits)
{
	if (hits)
		*hits += 1;
	return r->action == VG_FLT_DROP && !(r->sample > 1 && hits && *hits % r->sample == 1);
}

#endif
