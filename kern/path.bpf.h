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
	for (i = 0; i < VG_PATH_DEPTH; i++) {
		struct mount *mnt = (void *)s->w.mnt;
		struct dentry *d = (void *)s->w.dentry;
		struct dentry *root = BPF_CORE_READ(mnt, mnt.mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		const unsigned char *name;
		__u32 len;

		if (d == root || d == parent) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			/* The root of the mount tree, or a filesystem root that is not a mount root (detached). */
			if (d != root || mnt == up) {
				trunc = 0;
				break;
			}
			parent = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
		} else {
			len = BPF_CORE_READ(d, d_name.len) & VG_NAME_MASK;
			name = BPF_CORE_READ(d, d_name.name);
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
	f = vg_fd_file(task, (__u32)dfd);
	return vg_path_walk(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), s);
}

#endif
