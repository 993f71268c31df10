// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process lifecycle: exec, fork (new processes, not threads), exit (the last
 * thread of a process). The scheduler tracepoints fire once per event and put
 * no tax on other syscalls, unlike raw_tp/sys_enter (DESIGN.md: ~20 ns on
 * every syscall of the machine).
 *
 * Each event has two entry points with the same body: tp_btf (typed
 * arguments, the default) and raw_tp (for kernels that refuse tp_btf).
 * vigild picks one per event and disables the other before load.
 */
#include "common.bpf.h"
#include "path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Run-time knobs set by vigild before load. */
const volatile __u32 vg_argv_max = 2048;
const volatile __u32 vg_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* resized before load */
} vg_rb_proc SEC(".maps");

static __always_inline void vg_fill_task(struct vg_task *t, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	t->pid = BPF_CORE_READ(task, pid);
	t->tgid = BPF_CORE_READ(task, tgid);
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	t->uid = BPF_CORE_READ(cred, uid.val);
	t->gid = BPF_CORE_READ(cred, gid.val);
	t->euid = BPF_CORE_READ(cred, euid.val);
	t->egid = BPF_CORE_READ(cred, egid.val);
	t->_pad0 = 0;
	/* start_boottime (v5.5, kernel cc4...) counts suspend, like bpf_ktime_get_boot_ns(). */
	t->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	/* Fork: the child is still in its parent's cgroup; exec and exit run as the task. */
	t->cgroup_id = bpf_get_current_cgroup_id();
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

static __always_inline void vg_hdr(struct vg_event_hdr *h, __u16 type, __u32 size)
{
	h->type = type;
	h->flags = 0;
	h->size = size;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
}

/*
 * Wake vigild only when the ring holds vg_wakeup_bytes; otherwise it drains
 * on its flush timer. A wakeup per record costs the traced workload more
 * than the program itself: an exec storm ran 16% slower with one, 1-3%
 * without (bench/exec_cost.sh, 2 CPUs).
 */
static __always_inline int vg_submit(__u32 class, void *rec, __u64 size)
{
	__u64 flags = bpf_ringbuf_query(&vg_rb_proc, BPF_RB_AVAIL_DATA) + size >= vg_wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_output(&vg_rb_proc, rec, size, flags)) {
		vg_count(class, VG_CNT_RB_FULL);
		return 0;
	}
	vg_count(class, VG_CNT_EMITTED);
	return 0;
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

static __always_inline int vg_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	struct vg_scratch *s;
	struct vg_exec_event *e;
	struct file *file;
	struct fs_struct *fs;
	struct mm_struct *mm;
	unsigned long arg_start, arg_end;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
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
	e->hdr.flags = 0;

	file = BPF_CORE_READ(bprm, file);
	e->exe_ino = BPF_CORE_READ(file, f_inode, i_ino);
	e->exe_dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	walk = vg_path_walk(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), s);
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_PATH_TRUNC;
	off = sizeof(*e);
	e->path_len = vg_put_path(s, off, walk);
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

	e->_pad1[0] = e->_pad1[1] = e->_pad1[2] = 0;
	e->hdr.type = VG_EV_EXEC;
	e->hdr.size = off;
	e->hdr.ts_boot_ns = bpf_ktime_get_boot_ns();
	return vg_submit(VG_CLASS_EXEC, e, off & 16383);
}

static __always_inline int vg_fork(struct task_struct *parent, struct task_struct *child)
{
	struct vg_fork_event e;

	/* A new thread shares its tgid with the creator: not a process event. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	vg_count(VG_CLASS_FORK, VG_CNT_SEEN);
	if (vg_ignored(BPF_CORE_READ(parent, tgid))) {
		vg_count(VG_CLASS_FORK, VG_CNT_FILTERED);
		return 0;
	}
	__builtin_memset(&e, 0, sizeof(e));
	vg_hdr(&e.hdr, VG_EV_FORK, sizeof(e));
	vg_fill_task(&e.task, child);
	return vg_submit(VG_CLASS_FORK, &e, sizeof(e));
}

static __always_inline int vg_exit(struct task_struct *task)
{
	struct vg_exit_event e;

	/*
	 * do_exit() decrements signal->live before this tracepoint: the thread
	 * that takes it to zero is the last of its process.
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	vg_count(VG_CLASS_EXIT, VG_CNT_SEEN);
	if (vg_ignored(BPF_CORE_READ(task, tgid))) {
		vg_count(VG_CLASS_EXIT, VG_CNT_FILTERED);
		return 0;
	}
	__builtin_memset(&e, 0, sizeof(e));
	vg_hdr(&e.hdr, VG_EV_EXIT, sizeof(e));
	vg_fill_task(&e.task, task);
	e.exit_code = BPF_CORE_READ(task, exit_code);
	return vg_submit(VG_CLASS_EXIT, &e, sizeof(e));
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
