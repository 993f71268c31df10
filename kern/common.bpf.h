/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps and helpers every vigil BPF program shares. BPF side only. */
#ifndef VG_COMMON_BPF_H
#define VG_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "vigil_abi.h"

/* Room for the largest exec record; offsets are masked to 16 KiB, see vg_exec. */
#define VG_EV_BUF 20480
#define VG_PATH_BUF (2 * VG_PATH_MAX)

struct vg_scratch {
	struct {
		__u64 dentry, mnt;
		__u64 root, up, mountpoint; /* mnt's mnt.mnt_root, mnt_parent, mnt_mountpoint */
		__u32 pos, _pad;
	} w; /* vg_path_walk() loop state */
	__u64 win[10]; /* neighbouring kernel fields read at once (vg_win_read) */
	__u64 clk_ns, clk_j; /* this CPU's last clock read and the jiffies then (vg_clock) */
	__u32 clk_est, _pad2; /* the event's time is vg_dedup_est()'s, not the clock's */
	char ev[VG_EV_BUF];
	char path[VG_PATH_BUF];
};

/*
 * Maps every program file uses are defined __weak here: each kern/ program
 * object carries an identical definition and `bpftool gen object` keeps one.
 */

/* Per-CPU scratch: records are built here, not on the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_scratch);
} vg_scratch SEC(".maps") __weak;

/*
 * Copy the bytes of *src from field offset lo to hi (CO-RE offsets, which
 * the verifier sees as constants) into win (size bytes) in one read: 0 when
 * done, -1 when the span does not fit (another kernel's layout), and the
 * caller then reads field by field. lo is rounded down to 8 bytes, so every
 * field is as aligned in the window (on the stack) as in the struct. On
 * the test machine each helper call costs tens of ns (its return, and those
 * of the functions it calls, go through the kernel's return thunk: AMD's
 * SRSO "safe RET"), so neighbouring fields are one read, not one each.
 * The window is in the per-CPU scratch, not on the stack: 5.10 allows 512
 * bytes for the stack of a program and the subprograms it calls together.
 */
static __always_inline int vg_win_read(__u64 *win, __u32 size, const void *src, __u64 lo, __u64 hi)
{
	if (lo & 7 || hi <= lo || hi - lo > size)
		return -1;
	if (bpf_probe_read_kernel(win, hi - lo, (const char *)src + lo))
		__builtin_memset(win, 0, size);
	return 0;
}

#define VG_WIN sizeof(((struct vg_scratch *)0)->win)
#define VG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VG_WIN_LO(a) ((a) & ~7ull)
/* The field at CO-RE offset off of a window read from lo, of the given type. */
#define VG_WIN_GET(type, win, lo, off) (*(type *)((char *)(win) + ((off) - (lo))))

#define VG_NCOUNTERS (VG_CLASS_MAX * VG_CNT_MAX)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VG_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} vg_counters SEC(".maps") __weak;

/* Processes never reported: vigild itself and the host that spawned it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} vg_ignore SEC(".maps") __weak;

/*
 * Ring buffers by priority: file events, the flood-prone class, have their
 * own, so a burst of them cannot take the room of process, security and
 * network events. Sizes are set by vigild before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} vg_rb_proc SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} vg_rb_file SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} vg_rb_net SEC(".maps") __weak;

static __always_inline void vg_count(__u32 class, __u32 reason)
{
	__u32 key = class * VG_CNT_MAX + reason;
	__u64 *c = bpf_map_lookup_elem(&vg_counters, &key);

	if (c)
		*c += 1;
}

static __always_inline struct vg_scratch *vg_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_scratch, &zero);
}

static __always_inline int vg_ignored(__u32 tgid)
{
	return bpf_map_lookup_elem(&vg_ignore, &tgid) != NULL;
}

static __always_inline struct file *vg_fd_file(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * The current task's file of fd: every fd a watched syscall names. Where
 * the kernel has bpf_get_current_task_btf() (v5.11) the chain down to
 * the fd array is plain loads the verifier checks, and only the slot itself
 * is a helper call (a read-only open: 387 -> 270 ns per run, bpf_stats on
 * a busy 2-CPU VM).
 */
static __always_inline struct file *vg_cur_fd_file(__u64 fd)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *t = bpf_get_current_task_btf();
		struct fdtable *fdt = t->files->fdt;
		struct file **fds, *f = NULL;

		if (fd >= fdt->max_fds)
			return NULL;
		fds = fdt->fd;
		bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
		return f;
	}
	return vg_fd_file((void *)bpf_get_current_task(), fd);
}

/* The current task's process id: a helper that reads no memory of the task's. */
static __always_inline __u32 vg_cur_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* Fill the local and remote ends of a net event from a socket. */
static __always_inline void vg_net_addrs(struct vg_net_event *e, struct sock *sk)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == 10 /* AF_INET6 */) {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->raddr, sk, __sk_common.skc_daddr);
	}
}

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
	t->pidns = 0; /* proc.bpf.c sets it where it matters: exec and fork */
	/* start_boottime (v5.5) counts suspend, like bpf_ktime_get_boot_ns(). */
	t->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	/* Fork: the child is still in its parent's cgroup; other events run as the task. */
	t->cgroup_id = bpf_get_current_cgroup_id();
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

/*
 * vg_fill_task() for the current task. Where the kernel has
 * bpf_get_current_task_btf() (v5.11) the fields are plain loads the
 * verifier checks (through the task's BTF type), not a helper call each: a
 * helper's return goes through the return thunk on the test machine
 * (vg_win_read); the eleven reads were 200-300 ns of an fchmod event's
 * 2.2-2.4 us (bpf_stats).
 */
static __always_inline void vg_fill_cur(struct vg_task *t)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();
		const struct cred *cred = task->cred;

		t->pid = task->pid;
		t->tgid = task->tgid;
		t->ppid = task->real_parent->tgid;
		t->uid = cred->uid.val;
		t->gid = cred->gid.val;
		t->euid = cred->euid.val;
		t->egid = cred->egid.val;
		t->pidns = 0;
		t->start_boot_ns = task->group_leader->start_boottime;
		t->cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(&t->comm, sizeof(t->comm));
		return;
	}
	vg_fill_task(t, (void *)bpf_get_current_task());
}

static __always_inline void vg_hdr(struct vg_event_hdr *h, __u16 type, __u32 size)
{
	h->type = type;
	h->flags = 0;
	h->size = size;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
}

/*
 * Wake vigild only when a ring is a quarter full; otherwise it drains on
 * its flush timer. A wakeup per record costs the traced workload more than
 * the program itself: an exec storm ran 16% slower with one, 1-3% without
 * (make bench's exec workload, 2 CPUs).
 */
enum { VG_RING_PROC, VG_RING_FILE, VG_RING_NET, VG_RING_MAX };

/* Fill of each ring, for vigil stats (vigild reads them and resets the peaks). */
#ifdef VG_OWN_GLOBALS
struct vg_ring_fill vg_fill[VG_RING_MAX] = {};
#else
extern struct vg_ring_fill vg_fill[VG_RING_MAX];
#endif

/*
 * Set by vigild while it has nothing to do and its flush timer runs slow
 * (daemon/vigild.c): the next record, or the next event held back, wakes
 * it at once with a header-only VG_EV_WAKE record. Read after the record's
 * commit (a full barrier), and vigild drains the rings after setting it, so
 * either the kernel sees it set or vigild sees the record.
 */
#ifdef VG_OWN_GLOBALS
__u32 vg_asleep = 0;
#else
extern __u32 vg_asleep;
#endif

static __always_inline void vg_wake(void *rb)
{
	struct vg_event_hdr h;

	if (!*(volatile __u32 *)&vg_asleep)
		return;
	vg_hdr(&h, VG_EV_WAKE, sizeof(h));
	bpf_ringbuf_output(rb, &h, sizeof(h), BPF_RB_FORCE_WAKEUP);
}

static __always_inline int vg_submit(void *rb, __u32 class, void *rec, __u64 size)
{
	__u32 ring = rb == (void *)&vg_rb_file ? VG_RING_FILE :
		     rb == (void *)&vg_rb_net  ? VG_RING_NET :
						 VG_RING_PROC;
	__u64 fill = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) + size;
	__u64 flags = fill >= bpf_ringbuf_query(rb, BPF_RB_RING_SIZE) / 4 ? BPF_RB_FORCE_WAKEUP :
									    BPF_RB_NO_WAKEUP;

	vg_fill[ring].fill = fill;
	if (fill > vg_fill[ring].peak)
		vg_fill[ring].peak = fill;
	if (bpf_ringbuf_output(rb, rec, size, flags)) {
		vg_count(class, VG_CNT_RB_FULL);
		return -1;
	}
	vg_count(class, VG_CNT_EMITTED);
	if (flags == BPF_RB_NO_WAKEUP)
		vg_wake(rb);
	return 0;
}

#endif
