/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Absolute paths resolved in the kernel. bpf_d_path() is only allowed from
 * fentry/LSM programs on an allow-list of hooks, so tracepoints walk the
 * dentry chain themselves: up d_parent to the root of each mount, then over
 * to the mount point in the parent mount, until the root of the mount tree.
 * The result is the path as seen from the mount namespace's root (what
 * /proc/PID/exe shows outside a chroot).
 */
#ifndef VG_PATH_BPF_H
#define VG_PATH_BPF_H

#include "common.bpf.h"

/* Components walked before a path is marked truncated (mount crossings count). */
#define VG_PATH_DEPTH 64
#define VG_NAME_MASK 255 /* NAME_MAX */

#define VG_PATH_TRUNC_BIT (1u << 16)

/* The current mount's root, parent and mount point into s->w: one read where they neighbour. */
static __always_inline void vg_walk_mount(struct vg_scratch *s, struct mount *mnt)
{
	__u64 o_root = bpf_core_field_offset(struct mount, mnt.mnt_root);
	__u64 o_up = bpf_core_field_offset(struct mount, mnt_parent);
	__u64 o_mp = bpf_core_field_offset(struct mount, mnt_mountpoint);
	__u64 lo = VG_WIN_LO(VG_MIN(o_root, VG_MIN(o_up, o_mp)));
	__u64 hi = VG_MAX(o_root, VG_MAX(o_up, o_mp)) + 8;

	if (!vg_win_read(s->win, VG_WIN, mnt, lo, hi)) {
		s->w.root = VG_WIN_GET(__u64, s->win, lo, o_root);
		s->w.up = VG_WIN_GET(__u64, s->win, lo, o_up);
		s->w.mountpoint = VG_WIN_GET(__u64, s->win, lo, o_mp);
	} else {
		s->w.root = (__u64)BPF_CORE_READ(mnt, mnt.mnt_root);
		s->w.up = (__u64)BPF_CORE_READ(mnt, mnt_parent);
		s->w.mountpoint = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
	}
}

/*
 * Write the path of (dentry, vfsmnt) into s->path, ending at
 * path[VG_PATH_MAX - 1] = '\0'. Returns the offset where it starts, with
 * VG_PATH_TRUNC_BIT set when the walk gave up before the root. The string is
 * VG_PATH_MAX - offset bytes long, NUL included, and never longer than
 * VG_PATH_MAX - 1.
 *
 * The loop state lives in the per-CPU map, not in registers: values loaded
 * from a map are unknown to the verifier, so every iteration starts from the
 * same abstract state and the mount-crossing branch does not double the
 * states to explore per iteration ("BPF program is too large" with 2^64
 * paths otherwise).
 */
static __noinline __u32 vg_path_walk(struct dentry *dentry, struct vfsmount *vfsmnt,
				     struct vg_scratch *s)
{
	__u64 o_parent = bpf_core_field_offset(struct dentry, d_parent);
	__u64 o_len = bpf_core_field_offset(struct dentry, d_name.len);
	__u64 o_name = bpf_core_field_offset(struct dentry, d_name.name);
	__u64 lo = VG_WIN_LO(VG_MIN(o_parent, VG_MIN(o_len, o_name)));
	__u64 hi = VG_MAX(o_len + 4, VG_MAX(o_parent, o_name) + 8);
	__u32 trunc = VG_PATH_TRUNC_BIT;
	__u32 pos;
	int i;

	if (!s)
		return 0;
	/* container_of() with a CO-RE relocated offset: struct mount moves between kernels. */
	s->w.mnt = (__u64)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	s->w.dentry = (__u64)dentry;
	s->w.pos = VG_PATH_MAX - 1;
	s->path[VG_PATH_MAX - 1] = '\0';
	vg_walk_mount(s, (void *)s->w.mnt);
	/*
	 * Per component, one read of the dentry's parent and name (neighbours)
	 * and one of the name's bytes; per mount, one of its root, parent and
	 * mount point: a helper call costs tens of ns where returns go through
	 * the return thunk (vg_win_read), and a file four components deep under
	 * two mounts was 31 reads, now 13.
	 */
	for (i = 0; i < VG_PATH_DEPTH; i++) {
		struct mount *mnt = (void *)s->w.mnt;
		struct dentry *d = (void *)s->w.dentry;
		struct dentry *parent;
		const unsigned char *name;
		__u32 len;

		if (!vg_win_read(s->win, VG_WIN, d, lo, hi)) {
			parent = VG_WIN_GET(struct dentry *, s->win, lo, o_parent);
			len = VG_WIN_GET(__u32, s->win, lo, o_len);
			name = VG_WIN_GET(const unsigned char *, s->win, lo, o_name);
		} else {
			parent = BPF_CORE_READ(d, d_parent);
			len = BPF_CORE_READ(d, d_name.len);
			name = BPF_CORE_READ(d, d_name.name);
		}
		if (!parent)
			break; /* unreadable: truncated */
		if ((__u64)d == s->w.root || d == parent) {
			struct mount *up = (void *)s->w.up;

			/* The root of the mount tree, or a filesystem root that is not a mount root (detached). */
			if ((__u64)d != s->w.root || mnt == up) {
				trunc = 0;
				break;
			}
			parent = (void *)s->w.mountpoint;
			mnt = up;
			vg_walk_mount(s, mnt);
		} else {
			len &= VG_NAME_MASK;
			pos = s->w.pos;
			if (len + 2 > pos)
				break; /* keep pos >= 1 so the length fits VG_PATH_MAX - 1 */
			pos -= len;
			bpf_probe_read_kernel(&s->path[pos & (VG_PATH_MAX - 1)], len, name);
			pos -= 1;
			s->path[pos & (VG_PATH_MAX - 1)] = '/';
			s->w.pos = pos;
		}
		/*
		 * One block for both branches to continue in: with a `continue` in
		 * the mount-crossing branch clang put the loop latch above the loop
		 * header and fell through into it, and older verifiers refuse a
		 * fall-through back edge even in a bounded loop (5.10 and 6.1: "back-edge from
		 * insn 436 to 437"; 6.12 accepts it).
		 */
		s->w.dentry = (__u64)parent;
		s->w.mnt = (__u64)mnt;
	}
	pos = s->w.pos & (VG_PATH_MAX - 1);
	if (pos == VG_PATH_MAX - 1) {
		pos -= 1;
		s->path[pos] = '/';
	}
	return pos | trunc;
}

/* vg_path_walk() of a file's path: its mount and dentry are neighbours, one read. */
static __always_inline __u32 vg_file_walk(struct file *f, struct vg_scratch *s)
{
	__u64 o_mnt = bpf_core_field_offset(struct file, f_path.mnt);
	__u64 o_dentry = bpf_core_field_offset(struct file, f_path.dentry);
	__u64 lo = VG_WIN_LO(VG_MIN(o_mnt, o_dentry));
	__u64 hi = VG_MAX(o_mnt, o_dentry) + 8;

	if (s && !vg_win_read(s->win, VG_WIN, f, lo, hi))
		return vg_path_walk(VG_WIN_GET(struct dentry *, s->win, lo, o_dentry),
				    VG_WIN_GET(struct vfsmount *, s->win, lo, o_mnt), s);
	return vg_path_walk(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), s);
}

/* Copy a resolved path (vg_path_walk() result) to ev + off; returns the bytes copied. */
static __always_inline __u32 vg_put_path(struct vg_scratch *s, __u32 off, __u32 walk)
{
	__u32 pos = walk & (VG_PATH_MAX - 1);
	__u32 len = VG_PATH_MAX - pos;

	/*
	 * Masks rather than compares: clang may hoist a compare away from the
	 * access and the verifier then sees an unbounded offset. Offsets stay
	 * below 16 KiB and lengths below VG_PATH_MAX, so ev[VG_EV_BUF] holds them.
	 */
	bpf_probe_read_kernel(&s->ev[off & 16383], len & (VG_PATH_MAX - 1), &s->path[pos]);
	return len & (VG_PATH_MAX - 1);
}

#define VG_AT_FDCWD -100

/* The resolved path of a directory fd, or of the cwd for AT_FDCWD. */
static __always_inline __u32 vg_dir_walk(struct task_struct *task, int dfd, struct vg_scratch *s)
{
	struct file *f;

	if (dfd == VG_AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		return vg_path_walk(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), s);
	}
	f = vg_cur_fd_file((__u32)dfd);
	return vg_file_walk(f, s);
}

#endif
