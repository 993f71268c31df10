// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TCP connections from inet_sock_set_state: a tracepoint that fires on
 * state changes only, so it costs nothing on other syscalls. A connection
 * becomes established (or fails) in softirq context, on whatever task the
 * CPU was running, so the task that started it is remembered per socket at
 * SYN_SENT and the later events are attributed to it. tcp_v4_connect() and
 * tcp_v6_connect() enter SYN_SENT before inet_hash_connect() picks the
 * local port, so a ConnectionAttempt has local port 0; the success or
 * failure that follows carries it.
 */
#include "common.bpf.h"
#include "limit.bpf.h"
#define VG_FLT_JUDGE vg_flt_jnet
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VG_TCP_ESTABLISHED 1
#define VG_TCP_SYN_SENT 2
#define VG_TCP_CLOSE 7
#define VG_TCP_LISTEN 10
#define VG_IPPROTO_TCP 6

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct vg_task);
} vg_sk_owner SEC(".maps");

static __always_inline int vg_sk_state(struct sock *sk, int old, int new)
{
	struct vg_net_event e;
	struct vg_task *owner;
	__u64 key = (__u64)sk;

	if (BPF_CORE_READ(sk, sk_protocol) != VG_IPPROTO_TCP)
		return 0;
	__builtin_memset(&e, 0, sizeof(e));
	if (old == VG_TCP_CLOSE && new == VG_TCP_SYN_SENT)
		e.op = VG_NET_CONNECT;
	else if (old == VG_TCP_SYN_SENT && new == VG_TCP_ESTABLISHED)
		e.op = VG_NET_CONNECTED;
	else if (old == VG_TCP_SYN_SENT && new == VG_TCP_CLOSE)
		e.op = VG_NET_CONNECT_FAIL;
	else if (old == VG_TCP_CLOSE && new == VG_TCP_LISTEN)
		e.op = VG_NET_LISTEN;
	else
		return 0;

	vg_count(VG_CLASS_NET, VG_CNT_SEEN);
	if (e.op == VG_NET_CONNECT || e.op == VG_NET_LISTEN) {
		/* connect(2) and listen(2) run in the caller's context. */
		vg_fill_cur(&e.task);
		if (e.op == VG_NET_CONNECT)
			bpf_map_update_elem(&vg_sk_owner, &key, &e.task, BPF_ANY);
	} else {
		owner = bpf_map_lookup_elem(&vg_sk_owner, &key);
		if (owner)
			e.task = *owner;
		else
			vg_fill_cur(&e.task);
		bpf_map_delete_elem(&vg_sk_owner, &key);
	}
	if (vg_ignored(e.task.tgid)) {
		vg_count(VG_CLASS_NET, VG_CNT_FILTERED);
		return 0;
	}
	e.proto = VG_IPPROTO_TCP;
	vg_net_addrs(&e, sk);
	/* Buffer 1: the handshake completes in softirq, which may interrupt a syscall's judging. */
	if (vg_flt_net(&e, 1))
		return 0;
	if (vg_rate_check(VG_CLASS_NET, e.task.tgid, bpf_ktime_get_boot_ns()))
		return 0;
	vg_hdr(&e.hdr, VG_EV_NET, sizeof(e));
	vg_submit(&vg_rb_net, VG_CLASS_NET, &e, sizeof(e));
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(vg_tcp_btf, struct sock *sk, int oldstate, int newstate)
{
	return vg_sk_state(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(vg_tcp_raw, struct sock *sk, int oldstate, int newstate)
{
	return vg_sk_state(sk, oldstate, newstate);
}
