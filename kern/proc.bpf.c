// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process lifecycle: exec, fork (new processes, not threads), exit (the last
 * thread of a process). The scheduler tracepoints fire once per event and put
 * no tax on other syscalls, unlike raw_tp/sys_enter (~20 ns on every
 * syscall of the machine, measured on the development kernel).
 *
 * Each event has two entry points with the same body: tp_btf (typed
 * arguments, the default) and raw_tp (for kernels that refuse tp_btf).
 * vigild picks one per event and disables the other before load.
 */
/* This object owns the globals the other program files declare extern. */
#define VG_OWN_GLOBALS
#include "common.bpf.h"
#include "compat.bpf.h"
#include "limit.bpf.h"
#include "path.bpf.h"
#include "filter.bpf.h" /* owns vg_flt_cfg */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Run-time knobs set by vigild before load. */
const volatile __u32 vg_argv_max = 2048;

/* Keep the new image's path for exe and parent_exe filter conditions. */
static __always_inline void vg_exe_set(__u32 tgid, struct vg_scratch *s, __u32 off, __u32 len)
{
	struct vg_flt_exe x = {};

	x.len = len ? len - 1 : 0;
	bpf_probe_read_kernel(x.head, sizeof(x.head), &s->ev[off & 16383]);
	bpf_map_update_elem(&vg_flt_exe, &tgid, &x, BPF_ANY);
}

static __always_inline int vg_fd_is_sock(struct task_struct *task, __u64 fd)
{
	struct file *f = vg_fd_file(task, fd);

	return f && (BPF_CORE_READ(f, f_inode, i_mode) & 0170000) == 0140000; /* S_ISSOCK */
}

/*
 * The inode of task's own PID namespace (what /proc/PID/ns/pid names): the
 * namespace of its pid at the pid's deepest level. vigild maps it to a WSL
 * distribution; read here because a short-lived process is gone before
 * vigild could read /proc.
 */
static __always_inline __u32 vg_pidns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid *up;

	if (!pid || level > 32)
		return 0;
	up = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
	     level * bpf_core_type_size(struct upid);
	return BPF_CORE_READ(up, ns, ns.inum);
}

/*
 * A memfd_create() file has a pseudo dentry, its own parent on an internal
 * mount: the walk finds no name. Its name is "memfd:NAME"; the path is
 * "/memfd:NAME", as /proc/PID/exe shows it. Returns the new walk result.
 */
static __always_inline __u32 vg_pseudo_path(struct dentry *d, struct vg_scratch *s, __u32 walk)
{
	__u32 len, pos;

	if (BPF_CORE_READ(d, d_parent) != d)
		return walk;
	len = BPF_CORE_READ(d, d_name.len) & VG_NAME_MASK;
	if (!len)
		return walk;
	pos = (VG_PATH_MAX - 2 - len) & (VG_PATH_MAX - 1);
	if (bpf_probe_read_kernel(&s->path[(pos + 1) & (VG_PATH_MAX - 1)], len & VG_NAME_MASK,
				  BPF_CORE_READ(d, d_name.name)))
		return walk;
	s->path[pos] = '/';
	s->path[VG_PATH_MAX - 1] = '\0';
	return pos;
}

/*
 * The loader's variables of the new image's environment (LD_PRELOAD,
 * LD_LIBRARY_PATH) among its first VG_ENV_SCAN, as "NAME=value" strings at
 * ev + off, each cut at VG_ENV_VAL bytes; returns the bytes stored. Each
 * variable is read once whole (its length leads to the next); a variable
 * longer than VG_PATH_MAX ends the scan.
 */
static __always_inline __u32 vg_loader_env(struct mm_struct *mm, struct vg_scratch *s, __u32 off)
{
	unsigned long p = BPF_CORE_READ(mm, env_start), end = BPF_CORE_READ(mm, env_end);
	__u32 len = 0;

	for (int i = 0; i < VG_ENV_SCAN && p < end; i++) {
		long n = bpf_probe_read_user_str(s->path, VG_PATH_MAX, (void *)p);
		__u64 w0, w1;

		if (n <= 0)
			break;
		w0 = *(__u64 *)s->path;
		w1 = *(__u64 *)&s->path[8];
		/* "LD_PRELOAD=" and "LD_LIBRARY_PATH=", as little-endian words */
		if (len < 2 * VG_ENV_VAL &&
		    ((w0 == 0x4f4c4552505f444cull && (w1 & 0xffffff) == 0x3d4441) ||
		     (w0 == 0x415242494c5f444cull && w1 == 0x3d485441505f5952ull))) {
			long m = bpf_probe_read_kernel_str(&s->ev[(off + len) & 16383], VG_ENV_VAL,
							   s->path);

			if (m > 0)
				len += (__u32)m & (2 * VG_ENV_VAL - 1);
		}
		if (n >= VG_PATH_MAX)
			break;
		p += n;
	}
	return len;
}

static __always_inline int vg_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	struct vg_scratch *s;
	struct vg_exec_event *e;
	struct file *file;
	struct fs_struct *fs;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end;
	__u32 tgid = vg_cur_tgid();
	__u32 off, walk, alen, max;

	vg_count(VG_CLASS_EXEC, VG_CNT_SEEN);
	if (vg_ignored(tgid)) {
		vg_count(VG_CLASS_EXEC, VG_CNT_FILTERED);
		return 0;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_EXEC, VG_CNT_RB_FULL); /* cannot happen: array of one */
		return 0;
	}
	e = (void *)s->ev;
	vg_fill_task(&e->task, task);
	e->task.pidns = vg_pidns(task);
	e->hdr.flags = 0;

	file = BPF_CORE_READ(bprm, file);
	e->exe_ino = BPF_CORE_READ(file, f_inode, i_ino);
	e->cap_effective = vg_cap_effective(task);
	/* A shell whose stdin or stdout is a socket is how reverse shells look. */
	if (vg_fd_is_sock(task, 0))
		e->hdr.flags |= VG_F_STDIN_SOCK;
	if (vg_fd_is_sock(task, 1))
		e->hdr.flags |= VG_F_STDOUT_SOCK;
	/* memfd_create() files and deleted files have no link left. */
	if (BPF_CORE_READ(file, f_inode, __i_nlink) == 0)
		e->hdr.flags |= VG_F_FILELESS;
	e->exe_dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	walk = vg_file_walk(file, s);
	if (e->hdr.flags & VG_F_FILELESS)
		walk = vg_pseudo_path(BPF_CORE_READ(file, f_path.dentry), s, walk);
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_PATH_TRUNC;
	off = sizeof(*e);
	e->path_len = vg_put_path(s, off, walk);
	vg_exe_set(tgid, s, off, e->path_len);
	off += e->path_len;

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	alen = arg_end > arg_start ? arg_end - arg_start : 0;
	max = vg_argv_max < VG_ARGV_CAP ? vg_argv_max : VG_ARGV_CAP;
	if (alen > max) {
		alen = max;
		e->hdr.flags |= VG_F_ARGV_TRUNC;
	}
	alen &= 4095;
	if (alen && bpf_probe_read_user(&s->ev[off & 8191], alen, (void *)arg_start))
		alen = 0;
	if (alen)
		s->ev[(off + alen - 1) & 16383] = '\0'; /* a cut argv still ends in NUL */
	e->argv_len = alen;
	off += alen;

	fs = BPF_CORE_READ(task, fs);
	walk = vg_path_walk(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), s);
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_CWD_TRUNC;
	e->cwd_len = vg_put_path(s, off, walk);
	off += e->cwd_len;
	e->env_len = vg_loader_env(mm, s, off);
	off += e->env_len;

	e->_pad1[0] = e->_pad1[1] = 0;
	e->hdr.type = VG_EV_EXEC;
	e->hdr.size = off;
	e->hdr.ts_boot_ns = bpf_ktime_get_boot_ns();
	vg_submit(&vg_rb_proc, VG_CLASS_EXEC, e, off & 16383);
	return 0;
}

static __always_inline int vg_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	struct vg_flt_exe *x;
	struct vg_fork_event e;

	/* A new thread shares its tgid with the creator: not a process event. */
	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;
	/* The child runs its parent's image until it execs. */
	x = bpf_map_lookup_elem(&vg_flt_exe, &ptgid);
	if (x)
		bpf_map_update_elem(&vg_flt_exe, &ctgid, x, BPF_ANY);
	vg_count(VG_CLASS_FORK, VG_CNT_SEEN);
	if (vg_ignored(ptgid)) {
		vg_count(VG_CLASS_FORK, VG_CNT_FILTERED);
		return 0;
	}
	__builtin_memset(&e, 0, sizeof(e));
	vg_hdr(&e.hdr, VG_EV_FORK, sizeof(e));
	vg_fill_task(&e.task, child);
	/* unshare(CLONE_NEWPID) or clone(CLONE_NEWPID): the child may be in a new namespace. */
	e.task.pidns = vg_pidns(child);
	vg_submit(&vg_rb_proc, VG_CLASS_FORK, &e, sizeof(e));
	return 0;
}

static __always_inline int vg_exit(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct vg_exit_event e;

	/*
	 * do_exit() decrements signal->live before this tracepoint: the thread
	 * that takes it to zero is the last of its process.
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&vg_flt_exe, &tgid);
	vg_count(VG_CLASS_EXIT, VG_CNT_SEEN);
	if (vg_ignored(tgid)) {
		vg_count(VG_CLASS_EXIT, VG_CNT_FILTERED);
		return 0;
	}
	__builtin_memset(&e, 0, sizeof(e));
	vg_hdr(&e.hdr, VG_EV_EXIT, sizeof(e));
	vg_fill_task(&e.task, task);
	e.exit_code = BPF_CORE_READ(task, exit_code);
	vg_submit(&vg_rb_proc, VG_CLASS_EXIT, &e, sizeof(e));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return vg_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(vg_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return vg_exec(p, bprm);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vg_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return vg_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(vg_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return vg_fork(parent, child);
}

/*
 * The fentry path for fork, where the kernel allows fentry (vigild probes it;
 * the 6.18 development kernels refuse it with EPERM and keep the tracepoint).
 * wake_up_new_task() runs in the parent right after sched_process_fork, once
 * per new task, so the events are the same. It costs about what tp_btf costs:
 * it keeps the fast path and its fallback proven on every kernel of the
 * matrix until file events move to fentry/LSM.
 */
SEC("fentry/wake_up_new_task")
int BPF_PROG(vg_fork_fent, struct task_struct *child)
{
	/* bpf_get_current_task_btf() is v5.11+; the probe-read pointer serves BPF_CORE_READ. */
	return vg_fork((struct task_struct *)bpf_get_current_task(), child);
}

/* Only the first argument: v6.16 appended `group_dead`, older kernels lack it. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(vg_exit_btf, struct task_struct *p)
{
	return vg_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(vg_exit_raw, struct task_struct *p)
{
	return vg_exit(p);
}
