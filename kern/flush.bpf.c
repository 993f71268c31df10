// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Report what a dedup or rate-limit entry has suppressed, as a summary
 * record on the process ring, and delete the entry when asked. vigild runs
 * it with BPF_PROG_TEST_RUN (a raw_tp program: test_run of tp_btf fails),
 * one key at a time, from its flush timer and at shutdown. Doing the
 * read-and-subtract in the kernel keeps it exact while the programs keep
 * counting on other CPUs.
 */
#include "common.bpf.h"
#include "limit.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_flush_arg);
} vg_flush_in SEC(".maps");

SEC("raw_tp")
int vg_flush(void *ctx)
{
	struct vg_summary_event *e;
	struct vg_flush_arg *in;
	struct vg_lim_key key;
	struct vg_lim_val *v;
	struct vg_supp supp;
	__u32 zero = 0;
	void *map;

	in = bpf_map_lookup_elem(&vg_flush_in, &zero);
	if (!in)
		return -1;
	key = in->key;
	map = in->map ? (void *)&vg_bucket : (void *)&vg_dedup;
	v = bpf_map_lookup_elem(map, &key);
	if (!v)
		return 0;
	if (v->count) {
		/* Reserve first: a full ring leaves the count in place for the next flush. */
		e = bpf_ringbuf_reserve(&vg_rb_proc, sizeof(*e), 0);
		if (!e)
			return -2;
		vg_take(v, &supp);
		vg_hdr(&e->hdr, VG_EV_SUMMARY, sizeof(*e));
		e->key = key;
		e->reason = in->map ? VG_CNT_RATELIMIT : VG_CNT_DEDUP;
		e->_pad7 = 0;
		e->count = supp.count;
		e->first_ns = supp.first_ns;
		e->last_ns = supp.last_ns;
		bpf_ringbuf_submit(e, 0);
	}
	if (in->del)
		bpf_map_delete_elem(map, &key);
	return 1;
}
