// SPDX-License-Identifier: GPL-2.0-only
/*
 * The filter language's replay (vigil filter test): follow a capture's
 * processes for exe and parent_exe, build each record's matcher input as the
 * kernel builds it, and judge it with the kernel's own matcher
 * (kern/vf_match.h), so the replay predicts what the kernel does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "vf_match.h"

#define VG_VF_PROC_BUCKETS 4096

struct vg_vf_proc {
	struct vg_vf_proc *next;
	__u32 tgid;
	struct vg_flt_exe exe;
};

struct vg_vf_procs {
	struct vg_vf_proc *b[VG_VF_PROC_BUCKETS];
};

struct vg_vf_procs *vg_vf_procs_new(void)
{
	return calloc(1, sizeof(struct vg_vf_procs));
}

void vg_vf_procs_free(struct vg_vf_procs *procs)
{
	if (!procs)
		return;
	for (int i = 0; i < VG_VF_PROC_BUCKETS; i++)
		while (procs->b[i]) {
			struct vg_vf_proc *p = procs->b[i];

			procs->b[i] = p->next;
			free(p);
		}
	free(procs);
}

static struct vg_vf_proc **vg_vf_proc_slot(const struct vg_vf_procs *procs, __u32 tgid)
{
	struct vg_vf_proc *const *pp = &procs->b[(tgid * 2654435761u) % VG_VF_PROC_BUCKETS];

	while (*pp && (*pp)->tgid != tgid)
		pp = &(*pp)->next;
	return (struct vg_vf_proc **)pp;
}

static int vg_vf_proc_set(struct vg_vf_procs *procs, __u32 tgid, const struct vg_flt_exe *x)
{
	struct vg_vf_proc **pp = vg_vf_proc_slot(procs, tgid);

	if (!*pp) {
		*pp = calloc(1, sizeof(**pp));
		if (!*pp)
			return -ENOMEM;
		(*pp)->tgid = tgid;
	}
	(*pp)->exe = *x;
	return 0;
}

int vg_vf_procs_track(struct vg_vf_procs *procs, const void *rec, size_t size)
{
	const struct vg_event_hdr *h = rec;

	if (size < sizeof(*h) || h->size > size)
		return 0;
	if (h->type == VG_EV_EXEC && size >= sizeof(struct vg_exec_event)) {
		const struct vg_exec_event *e = rec;
		const char *path = (const char *)(e + 1);
		struct vg_flt_exe x = {};

		if (sizeof(*e) + e->path_len > size)
			return 0;
		x.len = e->path_len ? (__u32)strnlen(path, e->path_len - 1) : 0;
		memcpy(x.head, path, x.len < VG_FLT_VAL ? x.len : VG_FLT_VAL);
		return vg_vf_proc_set(procs, e->task.tgid, &x);
	}
	if (h->type == VG_EV_FORK && size >= sizeof(struct vg_fork_event)) {
		const struct vg_fork_event *e = rec;
		struct vg_vf_proc *parent = *vg_vf_proc_slot(procs, e->task.ppid);

		return parent ? vg_vf_proc_set(procs, e->task.tgid, &parent->exe) : 0;
	}
	if (h->type == VG_EV_EXIT && size >= sizeof(struct vg_exit_event)) {
		const struct vg_exit_event *e = rec;
		struct vg_vf_proc **pp = vg_vf_proc_slot(procs, e->task.tgid), *p = *pp;

		if (p) {
			*pp = p->next;
			free(p);
		}
	}
	return 0;
}

static void vg_vf_task(struct vg_flt_in *in, int cls, __u32 op, const struct vg_task *t,
		       const struct vg_vf_procs *procs)
{
	struct vg_vf_proc *p;

	memset(in, 0, sizeof(*in));
	in->cls = cls;
	in->op = op;
	in->uid = t->uid;
	in->cgroup = t->cgroup_id;
	memcpy(in->comm, t->comm, VG_COMM_LEN);
	if (!procs)
		return;
	p = *vg_vf_proc_slot(procs, t->tgid);
	if (p)
		in->exe = p->exe;
	p = *vg_vf_proc_slot(procs, t->ppid);
	if (p)
		in->pexe = p->exe;
}

/* head: first bytes of s (len bytes); tail: last bytes of t (tlen), right-aligned. */
static void vg_vf_tail(struct vg_flt_in *in, const char *t, size_t tlen)
{
	size_t n = tlen < VG_FLT_VAL ? tlen : VG_FLT_VAL;

	memcpy(in->tail + VG_FLT_VAL - n, t + tlen - n, n);
	in->tail_len = tlen;
}

int vg_vf_input(struct vg_flt_in *in, const void *rec, size_t size, const struct vg_vf_procs *procs)
{
	const struct vg_event_hdr *h = rec;

	if (size < sizeof(*h) || h->size > size)
		return -1;
	if (h->type == VG_EV_NET && size >= sizeof(struct vg_net_event)) {
		const struct vg_net_event *e = rec;

		vg_vf_task(in, VG_CLASS_NET, e->op, &e->task, procs);
		in->family = e->family;
		in->rport = e->rport;
		in->lport = e->lport;
		memcpy(in->raddr, e->raddr, 16);
		return 0;
	}
	if (h->type == VG_EV_SEC && size >= sizeof(struct vg_sec_event)) {
		const struct vg_sec_event *e = rec;

		vg_vf_task(in, VG_CLASS_SEC, e->op, &e->task, procs);
		return 0;
	}
	if (h->type == VG_EV_FILE && size >= sizeof(struct vg_file_event)) {
		const struct vg_file_event *e = rec;
		const char *base = (const char *)(e + 1), *rel = base + e->base_len;
		size_t blen = e->base_len ? e->base_len - 1 : 0,
		       rlen = e->rel_len ? e->rel_len - 1 : 0;
		size_t pos;

		if (sizeof(*e) + e->base_len + e->rel_len > size)
			return -1;
		vg_vf_task(in, VG_CLASS_FILE, e->op, &e->task, procs);
		blen = strnlen(base, blen);
		rlen = strnlen(rel, rlen);
		if (rlen && rel[0] == '/') {
			memcpy(in->head, rel, rlen < VG_FLT_VAL ? rlen : VG_FLT_VAL);
			in->path_len = rlen;
			vg_vf_tail(in, rel, rlen);
		} else if (rlen) {
			pos = blen < VG_FLT_VAL ? blen : VG_FLT_VAL;
			memcpy(in->head, base, pos);
			if (blen != 1) {
				if (pos < VG_FLT_VAL)
					in->head[pos] = '/';
				pos++;
			}
			if (pos < VG_FLT_VAL)
				memcpy(in->head + pos, rel,
				       rlen < VG_FLT_VAL - pos ? rlen : VG_FLT_VAL - pos);
			in->path_len = blen + (blen != 1) + rlen;
			vg_vf_tail(in, rel, rlen);
		} else {
			memcpy(in->head, base, blen < VG_FLT_VAL ? blen : VG_FLT_VAL);
			in->path_len = blen;
			vg_vf_tail(in, base, blen);
		}
		return 0;
	}
	return -1;
}

int vg_vf_judge(struct vg_vf_set *set, const struct vg_flt_in *in, int *drop)
{
	int i;

	*drop = 0;
	for (i = 0; i < set->n; i++) {
		const struct vg_flt_rule *r = &set->rules[i].k;

		if (vg_flt_rule_match(r, in)) {
			*drop = vg_flt_hit(r, &set->matched[i]);
			return i;
		}
	}
	return -1;
}
