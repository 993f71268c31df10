/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ids vigild names, and their names, in one place: event classes (of
 * kern/vigil_abi.h), event sources users choose, attach points (program
 * groups), hooks, and ring buffers. BPF-free, so the event core can print a
 * class without the loader.
 */
#ifndef VG_NAMES_H
#define VG_NAMES_H

enum vg_hook {
	VG_HOOK_AUTO = 0, /* tp_btf, falling back to raw_tp when the kernel refuses it */
	VG_HOOK_TP_BTF,
	VG_HOOK_RAW_TP,
	VG_HOOK_NONE, /* not attached */
	VG_HOOK_FENTRY, /* the fast path, where the kernel allows it (fork today) */
	VG_HOOK_TP, /* sys_exit: one tracepoint per watched syscall (syscalls/sys_exit_NAME) */
};

/*
 * Program groups: each is one attach point with a tp_btf and a raw_tp program
 * (sys_exit also has one tp program per watched syscall).
 */
enum vg_group {
	VG_GRP_EXEC = 0,
	VG_GRP_FORK,
	VG_GRP_EXIT,
	VG_GRP_SYSX, /* sys_exit: file, security, accept and UDP */
	VG_GRP_TCP, /* inet_sock_set_state: TCP connect, listen */
	VG_GRP_MAX,
};

/* What users see and choose: event sources. */
enum vg_source {
	VG_SRC_EXEC = 0,
	VG_SRC_FORK,
	VG_SRC_EXIT,
	VG_SRC_FILE,
	VG_SRC_NET,
	VG_SRC_SEC,
	VG_SRC_MAX,
};

/*
 * Not a source of its own but a bit of the same mask: the receive calls
 * (recvfrom, recvmsg, recvmmsg) watched for the replies to DNS queries, part
 * of network. Set with network unless --no-dns-replies: watching them puts
 * every receive of the machine on the traced path under the tp hook.
 */
#define VG_SRC_DNSR 31

/* The ring buffers, in the order vigild drains them. */
enum vg_ring {
	VG_RING_PROC = 0,
	VG_RING_FILE,
	VG_RING_NET,
	VG_RING_MAX,
};

/* The name of an id; "?" when out of range ("auto" for a hook). */
const char *vg_hook_name(enum vg_hook h);
const char *vg_class_name(int cls);
const char *vg_source_name(int src);
const char *vg_group_name(int grp); /* the attach point, as --deny-hook takes it */
const char *vg_ring_name(int ring);
/* The id of a name; -1 when unknown. */
int vg_source_find(const char *name);
int vg_group_find(const char *name);

#endif
