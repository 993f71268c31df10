// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * File, socket and security syscalls, at their exit: the pt_regs still hold
 * the arguments there, and the return value says whether the operation
 * happened. No VFS or socket tracepoint carries these events, and fentry/LSM
 * are refused on our development kernel (docs/internals.md, Kernel matrix).
 *
 * Hooks, best first (vigild probes them per attach point, daemon/bpf.c):
 * - tp: one program attached to the exit tracepoint of each watched
 *   syscall (syscalls/sys_exit_openat, ...). The kernel tests its own
 *   bitmap of enabled syscalls before any BPF runs, so a syscall vigil does
 *   not watch runs no vigil code at all; it pays only the traced-syscall
 *   path that any syscall tracepoint puts every task on. Needs
 *   bpf_task_pt_regs() (v5.15) and tracefs.
 * - tp_btf, raw_tp: one program on sys_exit for every syscall of the
 *   machine, whose first instruction tests the syscall number against
 *   vg_sys_mask. The program still runs (~50 ns per syscall on the test
 *   machine with the test alone), so these are the fallback.
 * Every hook calls the same handlers with the same arguments: same events,
 * same fields, same accounting.
 */
#include "common.bpf.h"
#include "compat.bpf.h"
#include "limit.bpf.h"
#include "path.bpf.h"
#define VG_FLT_JUDGE vg_flt_jsys
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Syscall numbers watched, one bit each; set by vigild from the enabled sources. */
const volatile __u64 vg_sys_mask[8];

#define VG_REL_MAX 2048 /* bytes of a caller's path kept (a power of two) */
#define VG_O_ACCMODE 3
#define VG_O_CREAT 0100
#define VG_O_TRUNC 01000
#define VG_O_APPEND 02000
#define VG_S_IFMT 0170000
#define VG_S_IFREG 0100000
#define VG_S_IFSOCK 0140000
#define VG_AF_INET 2
#define VG_AF_INET6 10
#define VG_IPPROTO_TCP 6
#define VG_IPPROTO_UDP 17
#define VG_PTRACE_ATTACH 16
#define VG_PTRACE_SEIZE 0x4206
#define VG_BPF_PROG_LOAD 5
#define VG_FS_IOC_SETFLAGS 0x40086602 /* _IOW('f', 2, long) */
#define VG_FS_IOC32_SETFLAGS 0x40046602 /* _IOW('f', 2, int) */
#define VG_UTIME_NOW ((1l << 30) - 1)
#define VG_UTIME_OMIT ((1l << 30) - 2)
#define VG_SIGKILL 9
#define VG_SIGTERM 15
#define VG_SIGSTOP 19
#define VG_ENOEXEC 8
#define VG_PROT_EXEC 4
#define VG_MAP_ANONYMOUS 0x20

/*
 * Parent directory names of the files whose read is an event, set by vigild
 * from the same list as vg_sensitive: a read-only open is looked up in that
 * map only when its directory's name has one of these lengths and first 8
 * bytes, so the commonest file syscall of a build (a compiler's headers)
 * costs no string copies and no hash lookups.
 */
#define VG_SENS_DIRS 16
const volatile struct {
	__u64 head;
	__u32 len, _pad;
} vg_sens_dir[VG_SENS_DIRS];

/*
 * One bit per watched name (VG_SENS_DIR_BIT): a directory whose bit is clear
 * is not on the list, which most are, so the slots are compared only for
 * about one directory in eight.
 */
const volatile __u64 vg_sens_dir_bloom;

/* The first five syscall arguments, read once by each hook's program. */
struct vg_args {
	__u64 a[5];
};

/* Files whose read is an event: (parent directory name, file name); "" matches any name. */
struct vg_sens_key {
	char dir[16];
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vg_sens_key);
	__type(value, __u8);
} vg_sensitive SEC(".maps");

/* UDP destinations a socket already sent to: the first datagram is the event. */
struct vg_udp_key {
	__u64 sk;
	__u8 addr[16];
	__u16 port;
	__u16 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vg_udp_key);
	__type(value, __u8);
} vg_udp_seen SEC(".maps");

/*
 * Files an address space mapped executable already: its first mapping of
 * each is the event. The mm, not the pid: an exec starts a new one, whose
 * loader maps the same libraries again.
 */
struct vg_image_key {
	__u64 mm;
	__u64 ino, dev;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct vg_image_key);
	__type(value, __u8);
} vg_image_seen SEC(".maps");

/* Copy a caller's path string to ev + off; returns the bytes stored (0 when none). */
static __always_inline __u32 vg_put_user_str(struct vg_scratch *s, __u32 off, const void *ustr)
{
	long n;

	if (!ustr)
		return 0;
	n = bpf_probe_read_user_str(&s->ev[off & 16383], VG_REL_MAX, ustr);
	return n > 0 ? (__u32)n & (VG_REL_MAX * 2 - 1) : 0;
}

static __always_inline struct vg_file_event *vg_file_begin(struct vg_scratch *s, __u32 op)
{
	struct vg_file_event *e = (void *)s->ev;

	__builtin_memset(e, 0, sizeof(*e));
	vg_fill_cur(&e->task);
	e->op = op;
	return e;
}

/* ts: the clock read for the event's rate limit, which needs no second read (80 ns here). */
static __always_inline int vg_file_submit(struct vg_scratch *s, struct vg_file_event *e, __u32 off,
					  __u64 ts)
{
	e->hdr.type = VG_EV_FILE;
	e->hdr.size = off;
	e->hdr.ts_boot_ns = ts;
	return vg_submit(&vg_rb_file, VG_CLASS_FILE, e, off & 16383);
}

/* Is a directory of this name's length and first 8 bytes on the watch list? */
static __always_inline int vg_sens_dir_match(__u32 len, __u64 head)
{
	if (len < 8)
		head &= (1ull << (len * 8)) - 1;
	if (!((vg_sens_dir_bloom >> VG_SENS_DIR_BIT(len, head)) & 1))
		return 0;
	for (int i = 0; i < VG_SENS_DIRS; i++)
		if (vg_sens_dir[i].len && vg_sens_dir[i].len == len && vg_sens_dir[i].head == head)
			return 1;
	return 0;
}

/*
 * Could a file in directory d be on the watch list? (exact on names up to
 * 8 bytes) The parent's name, its length and, when it is stored in the
 * dentry itself (every name short enough to be watched), its first bytes
 * come from one read of the parent: d_name, d_inode and the inline name
 * that follows it.
 */
static __always_inline int vg_sensitive_dir(struct dentry *d, struct vg_scratch *s)
{
	struct dentry *p = BPF_CORE_READ(d, d_parent);
	__u64 o_len = bpf_core_field_offset(struct dentry, d_name.len);
	__u64 o_name = bpf_core_field_offset(struct dentry, d_name.name);
	__u64 o_inl = bpf_core_field_offset(struct dentry, d_inode) + 8;
	__u64 lo = VG_WIN_LO(VG_MIN(o_len, o_name)),
	      hi = VG_MAX(o_len + 4, VG_MAX(o_name, o_inl) + 8);
	__u64 head = 0;
	const unsigned char *name;
	__u32 len;

	if (!p)
		return 0;
	if (s && !vg_win_read(s->win, VG_WIN, p, lo, hi)) {
		len = VG_WIN_GET(__u32, s->win, lo, o_len);
		name = VG_WIN_GET(const unsigned char *, s->win, lo, o_name);
		if (name == (const unsigned char *)p + o_inl)
			head = VG_WIN_GET(__u64, s->win, lo, o_inl);
		else
			bpf_probe_read_kernel(&head, sizeof(head), name);
	} else {
		struct qstr q = {};

		if (bpf_core_read(&q, sizeof(q), &p->d_name))
			return 0;
		len = q.len;
		bpf_probe_read_kernel(&head, sizeof(head), q.name);
	}
	return vg_sens_dir_match(len, head);
}

/* Is this file (its dentry d) on the watch list of credential and key files? */
static __always_inline int vg_sensitive_file(struct dentry *d, struct vg_scratch *s)
{
	struct vg_sens_key k = {};

	if (!vg_sensitive_dir(d, s))
		return 0;
	bpf_probe_read_kernel_str(k.name, sizeof(k.name), BPF_CORE_READ(d, d_name.name));
	bpf_probe_read_kernel_str(k.dir, sizeof(k.dir), BPF_CORE_READ(d, d_parent, d_name.name));
	if (bpf_map_lookup_elem(&vg_sensitive, &k))
		return 1;
	__builtin_memset(k.name, 0, sizeof(k.name));
	return bpf_map_lookup_elem(&vg_sensitive, &k) != NULL;
}

/* The record of an open, in scratch; returns its size. */
static __always_inline __u32 vg_open_build(struct vg_scratch *s, __u32 op, struct file *f,
					   __u64 flags, __u32 imode, __u64 ino, __u64 dev)
{
	/* The task only here: a duplicate ends before, with one helper call less. */
	struct vg_file_event *e = vg_file_begin(s, op);
	__u32 walk, off;

	e->open_flags = (__u32)flags;
	e->mode = imode;
	e->ino = ino;
	e->dev = dev;
	walk = vg_file_walk(f, s);
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_PATH_TRUNC;
	off = sizeof(*e);
	e->base_len = vg_put_path(s, off, walk);
	return off + e->base_len;
}

/* An open's flags, from its arguments. */
static __always_inline __u64 vg_open_flags(const struct vg_args *a, __u32 nr)
{
	__u64 fl = 0;

	if (nr == VG_NR_open)
		return a->a[1];
	if (nr == VG_NR_creat)
		return 01 | 0100 | 01000; /* O_WRONLY | O_CREAT | O_TRUNC */
	if (nr == VG_NR_openat2) {
		bpf_probe_read_user(&fl, sizeof(fl), (void *)a->a[2]);
		return fl;
	}
	return a->a[2];
}

/* What the inline part of an open read of its file, for vg_sys_open(). */
struct vg_open_pre {
	struct file *f;
	struct inode *inode;
	struct dentry *dentry;
	__u64 flags;
	__u32 fmode, _pad;
};

/*
 * The first part of an open, inline in each hook's program (no call into
 * a subprogram for what ends here): its flags, its file's f_mode, f_inode
 * and dentry in one read, and a read-only open (no O_CREAT: nothing was
 * created), which is an event only for a watched credential or key file,
 * decided by its directory's name before anything else is read. 1 when
 * vg_sys_open() must look further. p is the caller's, never its address
 * passed on: inlined, it stays in registers.
 */
static __always_inline int vg_open_pre(const struct vg_args *a, long ret, __u32 nr,
				       struct vg_open_pre *p)
{
	__u64 o_mode = bpf_core_field_offset(struct file, f_mode);
	__u64 o_inode = bpf_core_field_offset(struct file, f_inode);
	__u64 o_dentry = bpf_core_field_offset(struct file, f_path.dentry);
	__u64 lo = VG_WIN_LO(VG_MIN(o_mode, VG_MIN(o_inode, o_dentry)));
	__u64 hi = VG_MAX(o_mode + 4, VG_MAX(o_inode, o_dentry) + 8);
	struct vg_scratch *s;
	struct file *f;

	if (ret < 0)
		return 0;
	p->flags = vg_open_flags(a, nr);
	f = vg_cur_fd_file((__u64)ret);
	if (!f)
		return 0;
	p->f = f;
	s = vg_scratch_get();
	if (s && !vg_win_read(s->win, VG_WIN, f, lo, hi)) {
		p->fmode = VG_WIN_GET(__u32, s->win, lo, o_mode);
		p->inode = VG_WIN_GET(struct inode *, s->win, lo, o_inode);
		p->dentry = VG_WIN_GET(struct dentry *, s->win, lo, o_dentry);
	} else {
		p->fmode = BPF_CORE_READ(f, f_mode);
		p->inode = BPF_CORE_READ(f, f_inode);
		p->dentry = BPF_CORE_READ(f, f_path.dentry);
	}
	if (!(p->flags & (VG_O_ACCMODE | VG_O_TRUNC | VG_O_CREAT)) &&
	    !vg_sensitive_dir(p->dentry, s))
		return 0;
	return 1;
}

/*
 * bpf_rdonly_cast() (v6.2): a pointer the verifier takes as a kernel
 * struct of the given BTF type, read by plain loads it turns into
 * exception-table loads, with no helper call. Weak: on older kernels
 * vg_sysx_tpd is not loaded (daemon/bpf.c), and nothing else calls it.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/*
 * vg_open_pre() by plain loads, for vg_sysx_tpd: a read-only open that is
 * no event (the commonest file syscall) makes no helper call after its
 * flags (bpf_task_pt_regs). Each helper call costs tens of ns on a CPU
 * whose returns go through a return thunk; this path made five.
 */
static __always_inline int vg_open_pre_direct(struct task_struct *t, const struct vg_args *a,
					      long ret, __u32 nr, struct vg_open_pre *p)
{
	__u64 o_inl = bpf_core_field_offset(struct dentry, d_inode) + 8;
	struct fdtable *fdt;
	struct dentry *d;
	struct kiocb *slot;
	struct file *f;
	const unsigned char *name;
	__u64 head = 0, inl;
	__u32 len;

	if (ret < 0)
		return 0;
	p->flags = vg_open_flags(a, nr);
	fdt = t->files->fdt;
	if ((__u64)ret >= fdt->max_fds)
		return 0;
	/*
	 * The slot fdt->fd[ret] is a pointer to a pointer, which the verifier
	 * lets no plain load follow: it is read as the first member of a
	 * struct whose first member is a struct file * (kiocb's ki_filp, first
	 * since 2.6). The offset is CO-RE's, so another layout still reads the
	 * slot.
	 */
	slot = bpf_rdonly_cast((const char *)fdt->fd + (__u64)ret * sizeof(void *) -
				       bpf_core_field_offset(struct kiocb, ki_filp),
			       bpf_core_type_id_kernel(struct kiocb));
	f = slot->ki_filp;
	if (!f)
		return 0;
	p->f = f;
	p->fmode = f->f_mode;
	p->inode = f->f_inode;
	p->dentry = f->f_path.dentry;
	if (p->flags & (VG_O_ACCMODE | VG_O_TRUNC | VG_O_CREAT))
		return 1;
	/* vg_sensitive_dir(), read the same way. */
	d = p->dentry->d_parent;
	if (!d)
		return 0;
	len = d->d_name.len;
	name = d->d_name.name;
	/*
	 * Compared as a number the compiler cannot see through: knowing the two
	 * equal, it would load through name, which the verifier does not take
	 * for the pointer it equals (6.12 refused the program so).
	 */
	inl = (__u64)d + o_inl;
	asm volatile("" : "+r"(inl));
	if ((__u64)name == inl) {
		head = *(const __u64 *)((const char *)d + o_inl);
		asm volatile(""
			     : "+r"(head)); /* a load of its own, not shared with the read below */
	} else {
		bpf_probe_read_kernel(&head, sizeof(head), name);
	}
	return vg_sens_dir_match(len, head);
}

/*
 * open, openat, openat2, creat: the fd names the file, so the kernel
 * resolves it whole. The file's inode fields are the caller's: imode, ino,
 * and its super block's device read from sb, or dev when sb is NULL (tpd);
 * tgid the caller's or 0 (read here); s is the scratch or NULL.
 */
static __always_inline int vg_sys_open_body(struct file *f, struct dentry *dentry, __u64 flags,
					    __u32 fmode, __u32 imode, __u64 ino,
					    struct super_block *sb, __u64 dev, __u32 tgid,
					    struct vg_scratch *s)
{
	struct vg_lim_val *dd = NULL;
	struct vg_supp supp = {};
	struct vg_file_event *e;
	__u64 now, j;
	__u32 gen;
	__u32 op, off = 0;
	int filtering, dup = 0, verdict = -1;

	if ((imode & VG_S_IFMT) != VG_S_IFREG)
		return 0; /* devices, pipes, directories: not file events */
	if (fmode & VG_FMODE_CREATED)
		op = VG_FILE_CREATE;
	else if ((flags & VG_O_ACCMODE) || (flags & VG_O_TRUNC))
		op = VG_FILE_MODIFY;
	else if (vg_sensitive_file(dentry, s))
		op = VG_FILE_SENSITIVE_READ;
	else
		return 0;

	vg_count(VG_CLASS_FILE, VG_CNT_SEEN);
	if (!tgid)
		tgid = vg_cur_tgid(); /* without a probe read */
	if (sb)
		dev = BPF_CORE_READ(sb, s_dev);
	/*
	 * Before dedup: a scratch the verifier knows is there keeps the clock's
	 * branches from doubling its walk of what follows (6.1's went past its
	 * limit of a million instructions).
	 */
	if (!s) {
		vg_count(VG_CLASS_FILE, VG_CNT_RB_FULL);
		return 0;
	}
	j = bpf_jiffies64();
	/*
	 * Creates are distinct files; opening one file again and again is the
	 * noise dedup suppresses. Filters judge before dedup and rate limits, so
	 * dropped noise leaves no summaries: the first event of a window is
	 * built and judged, and its entry keeps the verdict, so duplicates of a
	 * dropped event are dropped (and counted for their rule) without
	 * building their path again, while the same rule set is in force (a
	 * swap makes the next duplicate judged again).
	 *
	 * A duplicate costs one map lookup: the entry is looked up before the
	 * ignore list, as an entry is made only for a process not on it, and
	 * the list is filled before the programs attach and never changes.
	 */
	filtering = vg_flt_on();
	gen = vg_flt_cfg.slot;
	if (op != VG_FILE_CREATE && vg_dedup_ns[VG_CLASS_FILE]) {
		struct vg_lim_key k = {
			.tgid = tgid,
			.class = VG_CLASS_FILE,
			.op = (__u16)op,
			.obj = ino,
			.obj2 = dev | (flags & (VG_O_ACCMODE | VG_O_TRUNC | VG_O_APPEND)) << 32,
		};

		dd = bpf_map_lookup_elem(&vg_dedup, &k);
		if (!dd) {
			if (vg_ignored(tgid)) {
				vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
				return 0;
			}
			dd = vg_dedup_entry(VG_CLASS_FILE, &k);
		}
		/* A duplicate in its window: no clock read (s->clk_est says so). */
		now = vg_dedup_est(VG_CLASS_FILE, dd, s, j);
		if (!now)
			now = vg_clock(s, j);
		else
			s->clk_est = 1;
		dup = vg_dedup_in_window(VG_CLASS_FILE, dd, now);
	} else if (vg_ignored(tgid)) {
		vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
		return 0;
	} else {
		now = vg_clock(s, j);
	}
	if (filtering) {
		if (vg_dedup_cached(dd, dup, gen, now))
			return 0;
		off = vg_open_build(s, op, f, flags, imode, ino, dev);
		verdict = vg_flt_file(s);
	}
	if (vg_dedup_judged(dd, dup, gen, verdict, now))
		return 0;
	/*
	 * Emitted after all (a verdict changed meanwhile): the event's time is
	 * the clock's. A flag in memory, not a variable: the verifier would
	 * walk what follows once for each of its values (over its limit).
	 */
	if (s->clk_est)
		now = vg_clock(s, j);
	if (vg_rate_check(VG_CLASS_FILE, tgid, now))
		return 0; /* the dedup entry keeps its count for a later event or the flush */
	if (!filtering)
		off = vg_open_build(s, op, f, flags, imode, ino, dev);
	e = (void *)s->ev;
	if (dd) {
		vg_take(dd, &supp);
		e->supp_count = supp.count;
		e->supp_first_ns = supp.first_ns;
		e->supp_last_ns = supp.last_ns;
	}
	if (vg_file_submit(s, e, off, now) && dd)
		vg_untake(dd, &supp);
	return 0;
}

/* vg_sys_open_body() with the inode's fields read by probe reads (every hook but tpd). */
static __noinline int vg_sys_open(struct file *f, struct inode *inode, struct dentry *dentry,
				  __u64 flags, __u32 fmode)
{
	__u64 o_imode = bpf_core_field_offset(struct inode, i_mode);
	__u64 o_sb = bpf_core_field_offset(struct inode, i_sb);
	__u64 o_ino = bpf_core_field_offset(struct inode, i_ino);
	__u64 lo = VG_WIN_LO(VG_MIN(o_imode, VG_MIN(o_sb, o_ino)));
	__u64 hi = VG_MAX(o_imode + 2, VG_MAX(o_sb, o_ino) + 8);
	struct vg_scratch *s = vg_scratch_get();
	struct super_block *sb;
	__u32 imode;
	__u64 ino;

	if (s && !vg_win_read(s->win, VG_WIN, inode, lo, hi)) {
		imode = VG_WIN_GET(__u16, s->win, lo, o_imode);
		sb = VG_WIN_GET(struct super_block *, s->win, lo, o_sb);
		ino = VG_WIN_GET(__u64, s->win, lo, o_ino);
	} else {
		imode = BPF_CORE_READ(inode, i_mode);
		sb = BPF_CORE_READ(inode, i_sb);
		ino = BPF_CORE_READ(inode, i_ino);
	}
	return vg_sys_open_body(f, dentry, flags, fmode, imode, ino, sb, 0, 0, s);
}

/*
 * vg_sys_open_body() for vg_sysx_tpd, which read the inode and the task by
 * plain loads (five arguments at most): the flags and the tgid in one
 * (which spares a helper call), the device, i_mode and whether the open
 * created the file (VG_OPEN_CREATED) in another.
 */
#define VG_OPEN_CREATED (1ull << 48)
static __noinline int vg_sys_open_known(struct file *f, struct dentry *dentry, __u64 ino,
					__u64 flags_tgid, __u64 dev_imode)
{
	return vg_sys_open_body(f, dentry, (__u32)flags_tgid,
				dev_imode & VG_OPEN_CREATED ? VG_FMODE_CREATED : 0,
				(__u16)(dev_imode >> 32), ino, NULL, (__u32)dev_imode,
				flags_tgid >> 32, vg_scratch_get());
}

/*
 * The times utimensat, futimesat, utimes and utime were given, into t (ns
 * since the epoch); 0 when the caller gave none
 * (NULL: now, as a plain touch does, or UTIME_NOW and UTIME_OMIT), which is
 * no event. ts points at two struct timespec (nsec: 1), two struct timeval
 * (usec: 1000) or, for utime, a struct utimbuf of two seconds (0).
 */
struct vg_times {
	__s64 ns[2]; /* access, modification */
	__u32 given; /* VG_TIMES_* */
};

static __always_inline int vg_times_given(struct vg_times *t, const void *ts, int unit)
{
	__s64 v[4] = {};
	int i;

	if (!ts || bpf_probe_read_user(v, unit ? sizeof(v) : 2 * sizeof(v[0]), ts))
		return 0;
	if (!unit) {
		v[2] = v[1];
		v[1] = v[3] = 0;
	}
	for (i = 0; i < 2; i++) {
		__s64 sec = v[2 * i], sub = v[2 * i + 1];

		if (unit == 1 && (sub == VG_UTIME_NOW || sub == VG_UTIME_OMIT))
			continue;
		t->given |= i ? VG_TIMES_MTIME : VG_TIMES_ATIME;
		t->ns[i & 1] = sec * 1000000000 + sub * unit;
	}
	return t->given != 0;
}

/*
 * What a chattr or an fd's explicit times replace: read at the syscall's
 * entry (vg_sys_enter), where the file still has them, and taken at its
 * exit by the same thread (vg_old_take). By thread: a thread is in one
 * syscall at a time; a stale entry (the call failed) is replaced by the
 * thread's next one, and the LRU bounds the rest.
 */
struct vg_old {
	__u64 ino; /* the file the fd named at entry: the exit's must be the same */
	__u32 nr;
	__u32 flags; /* VG_FS_IMMUTABLE_FL, VG_FS_APPEND_FL from the inode's i_flags */
	__s64 ns[2]; /* access, modification */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct vg_old);
} vg_old_vals SEC(".maps");

#define VG_AT_EMPTY_PATH 0x1000
#define VG_S_APPEND 4 /* the kernel's i_flags (include/linux/fs.h), unchanged since 2.6 */
#define VG_S_IMMUTABLE 8

/*
 * struct inode's times: struct timespec64 i_atime, i_mtime until v6.6;
 * __i_atime, __i_mtime from v6.7 (kernel 12cd44023651); seconds and
 * nanoseconds apart from v6.11 (kernel 3aa63a569c64).
 */
struct inode___ts64 {
	struct timespec64 i_atime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___ts64u {
	struct timespec64 __i_atime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___sec {
	__s64 i_atime_sec;
	__s64 i_mtime_sec;
	__u32 i_atime_nsec;
	__u32 i_mtime_nsec;
} __attribute__((preserve_access_index));

static __always_inline void vg_inode_times(struct inode *inode, __s64 ns[2])
{
	struct inode___sec *s = (void *)inode;
	struct inode___ts64u *u = (void *)inode;
	struct inode___ts64 *o = (void *)inode;
	struct timespec64 t[2] = {};

	if (bpf_core_field_exists(s->i_atime_sec)) {
		ns[0] = BPF_CORE_READ(s, i_atime_sec) * 1000000000 + BPF_CORE_READ(s, i_atime_nsec);
		ns[1] = BPF_CORE_READ(s, i_mtime_sec) * 1000000000 + BPF_CORE_READ(s, i_mtime_nsec);
		return;
	}
	if (bpf_core_field_exists(u->__i_atime)) {
		BPF_CORE_READ_INTO(&t[0], u, __i_atime);
		BPF_CORE_READ_INTO(&t[1], u, __i_mtime);
	} else {
		BPF_CORE_READ_INTO(&t[0], o, i_atime);
		BPF_CORE_READ_INTO(&t[1], o, i_mtime);
	}
	ns[0] = t[0].tv_sec * 1000000000 + t[0].tv_nsec;
	ns[1] = t[1].tv_sec * 1000000000 + t[1].tv_nsec;
}

/*
 * At the entry of ioctl and utimensat (each hook's entry program, below):
 * the inode flags a FS_IOC_SETFLAGS replaces, and the times an fd's
 * explicit times replace (futimens: no path, or AT_EMPTY_PATH with ""). A
 * path is resolved inside the syscall, which BPF cannot do ahead of it (and
 * a walk of its own could find another file than the kernel's), so its old
 * times are not known. Every other ioctl ends at the first test.
 */
static __noinline int vg_sys_enter(const struct vg_args *a, __u32 nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vg_old o = { .nr = nr };
	struct inode *inode;
	struct file *f;
	__u32 iflags;
	char c = 1;

	if (nr == VG_NR_ioctl) {
		if (a->a[1] != VG_FS_IOC_SETFLAGS && a->a[1] != VG_FS_IOC32_SETFLAGS)
			return 0;
	} else if (nr == VG_NR_utimensat) {
		if (!a->a[2])
			return 0; /* now: no event */
		if (a->a[1] && (!(a->a[3] & VG_AT_EMPTY_PATH) ||
				bpf_probe_read_user(&c, sizeof(c), (void *)a->a[1]) || c))
			return 0;
	} else {
		return 0;
	}
	f = vg_cur_fd_file(a->a[0]);
	if (!f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	o.ino = BPF_CORE_READ(inode, i_ino);
	if (nr == VG_NR_ioctl) {
		iflags = BPF_CORE_READ(inode, i_flags);
		o.flags = (iflags & VG_S_IMMUTABLE ? VG_FS_IMMUTABLE_FL : 0) |
			  (iflags & VG_S_APPEND ? VG_FS_APPEND_FL : 0);
	} else {
		vg_inode_times(inode, o.ns);
	}
	bpf_map_update_elem(&vg_old_vals, &id, &o, BPF_ANY);
	return 0;
}

/* At the exit: the values vg_sys_enter read for this thread's call on file f, into e. */
static __always_inline void vg_old_take(struct vg_file_event *e, struct file *f, __u32 nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vg_old *o = bpf_map_lookup_elem(&vg_old_vals, &id);

	if (!o)
		return;
	if (o->nr == nr && o->ino == BPF_CORE_READ(f, f_inode, i_ino)) {
		e->open_flags |= VG_OLD_KNOWN;
		if (nr == VG_NR_ioctl) {
			e->old_flags = o->flags;
		} else {
			e->old_atime_ns = o->ns[0];
			e->old_mtime_ns = o->ns[1];
		}
	}
	bpf_map_delete_elem(&vg_old_vals, &id);
}

/* setxattr's name (into rel2) and, for security.capability, the value's head, into e. */
static __always_inline void vg_xattr(struct vg_file_event *e, const char *name, const void *value,
				     __u64 size)
{
	__u64 n[3] = {};
	__u32 cap[5];

	e->xattr_size = (__u32)size;
	bpf_probe_read_user_str(n, sizeof(n), name);
	/* "security.capability" as three little-endian words, NUL-padded */
	if (n[0] != 0x7974697275636573ull || n[1] != 0x6c6962617061632eull || n[2] != 0x797469ull ||
	    size < sizeof(cap) || bpf_probe_read_user(cap, sizeof(cap), value))
		return;
	e->cap_magic = cap[0];
	e->cap_permitted[0] = cap[1];
	e->cap_permitted[1] = cap[3];
}

/*
 * unlink, rmdir, rename, chmod, chown, mkdir, link, symlink, setxattr,
 * chattr and explicit file times by path: the object may be gone (or was
 * never opened), so the kernel resolves the directory the caller's path is
 * relative to and the event carries the caller's path as given.
 */
static __noinline int vg_sys_path_op(const struct vg_args *a, long ret, __u32 nr)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct vg_scratch *s;
	struct vg_file_event *e;
	int dfd = VG_AT_FDCWD, dfd2 = VG_AT_FDCWD;
	const void *p1 = NULL, *p2 = NULL;
	__u32 op, off, walk, mode = 0, uid = 0, gid = 0;
	struct vg_times times = {};
	__u64 xname = 0, xval = 0, xsize = 0, now;
	struct file *f = NULL;
	int base2 = 0;

	if (ret != 0)
		return 0;
	switch (nr) {
	case VG_NR_unlink:
	case VG_NR_rmdir:
		op = VG_FILE_DELETE;
		p1 = (void *)a->a[0];
		break;
	case VG_NR_unlinkat:
		op = VG_FILE_DELETE;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		break;
	case VG_NR_rename:
		op = VG_FILE_RENAME;
		p1 = (void *)a->a[0];
		p2 = (void *)a->a[1];
		break;
	case VG_NR_renameat:
	case VG_NR_renameat2:
		op = VG_FILE_RENAME;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		dfd2 = (int)a->a[2];
		p2 = (void *)a->a[3];
		break;
	case VG_NR_chmod:
		op = VG_FILE_CHMOD;
		p1 = (void *)a->a[0];
		mode = (__u32)a->a[1];
		break;
	case VG_NR_fchmod:
		op = VG_FILE_CHMOD;
		f = vg_cur_fd_file(a->a[0]);
		mode = (__u32)a->a[1];
		break;
	case VG_NR_fchmodat:
	case VG_NR_fchmodat2:
		op = VG_FILE_CHMOD;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		mode = (__u32)a->a[2];
		break;
	case VG_NR_chown:
	case VG_NR_lchown:
		op = VG_FILE_CHOWN;
		p1 = (void *)a->a[0];
		uid = (__u32)a->a[1];
		gid = (__u32)a->a[2];
		break;
	case VG_NR_fchown:
		op = VG_FILE_CHOWN;
		f = vg_cur_fd_file(a->a[0]);
		uid = (__u32)a->a[1];
		gid = (__u32)a->a[2];
		break;
	case VG_NR_fchownat:
		op = VG_FILE_CHOWN;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		uid = (__u32)a->a[2];
		gid = (__u32)a->a[3];
		break;
	case VG_NR_mkdir:
		op = VG_FILE_MKDIR;
		p1 = (void *)a->a[0];
		mode = (__u32)a->a[1];
		break;
	case VG_NR_mkdirat:
		op = VG_FILE_MKDIR;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		mode = (__u32)a->a[2];
		break;
	case VG_NR_symlink: /* symlink(target, linkpath): the link is the event's file */
		op = VG_FILE_SYMLINK;
		p1 = (void *)a->a[1];
		p2 = (void *)a->a[0];
		break;
	case VG_NR_symlinkat: /* symlinkat(target, newdirfd, linkpath) */
		op = VG_FILE_SYMLINK;
		dfd = (int)a->a[1];
		p1 = (void *)a->a[2];
		p2 = (void *)a->a[0];
		break;
	case VG_NR_link: /* link(oldpath, newpath) */
		op = VG_FILE_LINK;
		p1 = (void *)a->a[1];
		p2 = (void *)a->a[0];
		base2 = 1;
		break;
	case VG_NR_linkat: /* linkat(olddirfd, oldpath, newdirfd, newpath, flags) */
		op = VG_FILE_LINK;
		dfd = (int)a->a[2];
		p1 = (void *)a->a[3];
		dfd2 = (int)a->a[0];
		p2 = (void *)a->a[1];
		base2 = 1;
		break;
	case VG_NR_setxattr:
	case VG_NR_lsetxattr:
		op = VG_FILE_XATTR;
		p1 = (void *)a->a[0];
		goto xattr;
	case VG_NR_fsetxattr:
		op = VG_FILE_XATTR;
		f = vg_cur_fd_file(a->a[0]);
xattr:
		xname = a->a[1];
		xval = a->a[2];
		xsize = a->a[3];
		p2 = (void *)xname;
		break;
	case VG_NR_ioctl: /* FS_IOC_SETFLAGS only (vg_sys_exit) */
		op = VG_FILE_ATTR;
		f = vg_cur_fd_file(a->a[0]);
		bpf_probe_read_user(&mode, sizeof(mode), (void *)a->a[2]);
		break;
	case VG_NR_utimensat: /* utimensat(dirfd, path or NULL: dirfd itself, times, flags) */
		op = VG_FILE_TIMES;
		if (!vg_times_given(&times, (void *)a->a[2], 1))
			return 0;
		if (a->a[1])
			dfd = (int)a->a[0], p1 = (void *)a->a[1];
		else
			f = vg_cur_fd_file(a->a[0]);
		break;
	case VG_NR_futimesat:
		op = VG_FILE_TIMES;
		if (!vg_times_given(&times, (void *)a->a[2], 1000))
			return 0;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		break;
	case VG_NR_execve: /* execve(path, argv, envp): failed with ENOEXEC (vg_sys_exit) */
		op = VG_FILE_EXEC_SCRIPT;
		p1 = (void *)a->a[0];
		break;
	case VG_NR_execveat:
		op = VG_FILE_EXEC_SCRIPT;
		dfd = (int)a->a[0];
		p1 = (void *)a->a[1];
		break;
	case VG_NR_utimes:
	case VG_NR_utime:
		op = VG_FILE_TIMES;
		if (!vg_times_given(&times, (void *)a->a[1], nr == VG_NR_utimes ? 1000 : 0))
			return 0;
		p1 = (void *)a->a[0];
		break;
	default:
		return 0;
	}

	vg_count(VG_CLASS_FILE, VG_CNT_SEEN);
	if (vg_ignored(vg_cur_tgid())) {
		vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
		return 0;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_FILE, VG_CNT_RB_FULL);
		return 0;
	}
	e = vg_file_begin(s, op);
	e->mode = mode;
	e->uid = uid;
	e->gid = gid;
	if (op == VG_FILE_TIMES) {
		e->open_flags = times.given;
		e->atime_ns = times.ns[0];
		e->mtime_ns = times.ns[1];
	} else if (op == VG_FILE_XATTR) {
		vg_xattr(e, (void *)xname, (void *)xval, xsize);
	}
	off = sizeof(*e);
	if (f && (op == VG_FILE_ATTR || op == VG_FILE_TIMES))
		vg_old_take(e, f, nr);
	if (f) {
		/* fchmod, fchown, fsetxattr, chattr, futimens: the fd names the file itself. */
		e->ino = BPF_CORE_READ(f, f_inode, i_ino);
		walk = vg_file_walk(f, s);
	} else {
		walk = vg_dir_walk(task, dfd, s);
	}
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_PATH_TRUNC;
	e->base_len = vg_put_path(s, off, walk);
	off += e->base_len;
	e->rel_len = vg_put_user_str(s, off, p1);
	off += e->rel_len;
	if (op == VG_FILE_RENAME || base2) {
		walk = vg_dir_walk(task, dfd2, s);
		e->base2_len = vg_put_path(s, off, walk);
		off += e->base2_len;
	}
	if (p2) {
		/* rename's or link's source, a symlink's target, an attribute's name */
		e->rel2_len = vg_put_user_str(s, off, p2);
		off += e->rel2_len;
	}
	/* Built first: filters judge before the rate limit, which a dropped event must not use. */
	if (vg_flt_on() && VG_FLT_DROPS(vg_flt_file(s)))
		return 0;
	now = bpf_ktime_get_boot_ns();
	if (vg_rate_check(VG_CLASS_FILE, vg_cur_tgid(), now))
		return 0;
	vg_file_submit(s, e, off, now);
	return 0;
}

/*
 * mmap(addr, len, prot, flags, fd, off) of a file with PROT_EXEC: what the
 * loader does for each shared library (ld.so, dlopen). A process's first
 * mapping of a file is the event (vg_image_seen; the next are counted as
 * deduplicated), judged by the filters and limited like the file class.
 */
static __noinline int vg_sys_image(const struct vg_args *a, long ret)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct vg_image_key k = { .mm = (__u64)BPF_CORE_READ(task, mm) };
	__u32 tgid = vg_cur_tgid();
	struct vg_file_event *e;
	struct vg_scratch *s;
	struct file *f;
	__u32 off, walk;
	__u64 now;
	__u8 one = 1;

	f = vg_cur_fd_file((__u32)a->a[4]);
	if (!f)
		return 0;
	vg_count(VG_CLASS_FILE, VG_CNT_SEEN);
	k.ino = BPF_CORE_READ(f, f_inode, i_ino);
	k.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	if (bpf_map_lookup_elem(&vg_image_seen, &k)) {
		vg_count(VG_CLASS_FILE, VG_CNT_DEDUP);
		return 0;
	}
	bpf_map_update_elem(&vg_image_seen, &k, &one, BPF_ANY);
	if (vg_ignored(tgid)) {
		vg_count(VG_CLASS_FILE, VG_CNT_FILTERED);
		return 0;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_FILE, VG_CNT_RB_FULL);
		return 0;
	}
	e = vg_file_begin(s, VG_FILE_IMAGE_LOAD);
	e->ino = k.ino;
	e->dev = k.dev;
	e->mode = BPF_CORE_READ(f, f_inode, i_mode);
	walk = vg_file_walk(f, s);
	if (walk & VG_PATH_TRUNC_BIT)
		e->hdr.flags |= VG_F_PATH_TRUNC;
	off = sizeof(*e);
	e->base_len = vg_put_path(s, off, walk);
	off += e->base_len;
	if (vg_flt_on() && VG_FLT_DROPS(vg_flt_file(s)))
		return 0;
	now = bpf_ktime_get_boot_ns();
	if (vg_rate_check(VG_CLASS_FILE, tgid, now))
		return 0;
	vg_file_submit(s, e, off, now);
	return 0;
}

static __always_inline struct sock *vg_fd_sock(__u64 fd)
{
	struct file *f = vg_cur_fd_file(fd);
	struct socket *sock;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & VG_S_IFMT) != VG_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* A destination from a caller's sockaddr; 0 when it is one we report. */
static __always_inline int vg_user_sockaddr(struct vg_net_event *e, const void *uaddr)
{
	struct {
		__u16 family;
		__u16 port;
		__u32 v4_or_flowinfo;
		__u8 v6[16];
	} sa = {};

	if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return -1;
	if (sa.family != VG_AF_INET && sa.family != VG_AF_INET6)
		return -1;
	e->family = sa.family;
	e->rport = bpf_ntohs(sa.port);
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	if (sa.family == VG_AF_INET)
		__builtin_memcpy(e->raddr, &sa.v4_or_flowinfo, 4);
	else
		__builtin_memcpy(e->raddr, sa.v6, 16);
	return 0;
}

/*
 * A datagram to port 53: a DNS query, its question (the name as labels,
 * the type, the class) as the caller sent it, after the 12-byte header.
 * Every one is an event (the UDP send event is only a socket's first to a
 * destination), limited per process like the class; vigild parses it.
 */
static __always_inline void vg_dns(const struct vg_net_event *ne, const void *buf, __u64 len)
{
	struct vg_scratch *s;
	struct vg_net_event *e;
	__u32 n;

	if (len <= 12 || !buf)
		return;
	vg_count(VG_CLASS_NET, VG_CNT_SEEN);
	if (vg_ignored(vg_cur_tgid())) {
		vg_count(VG_CLASS_NET, VG_CNT_FILTERED);
		return;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_NET, VG_CNT_RB_FULL);
		return;
	}
	e = (void *)s->ev;
	__builtin_memcpy(e, ne, sizeof(*e));
	e->op = VG_NET_DNS_QUERY;
	n = len - 12 < VG_DNS_QUESTION ? (__u32)(len - 12) : VG_DNS_QUESTION;
	n &= 511;
	if (bpf_probe_read_user(&s->ev[sizeof(*e)], n, buf + 12))
		n = 0;
	s->ev[(sizeof(*e) + n) & 1023] = '\0';
	e->dns_len = (__u16)(n + 1);
	if (vg_flt_net(e, 0))
		return;
	if (vg_rate_check(VG_CLASS_NET, vg_cur_tgid(), bpf_ktime_get_boot_ns()))
		return;
	vg_hdr(&e->hdr, VG_EV_NET, sizeof(*e) + e->dns_len);
	vg_submit(&vg_rb_net, VG_CLASS_NET, e, (sizeof(*e) + n + 1) & 1023);
}

/*
 * DNS replies: a process that sent a query waits for its answer on the same
 * socket. The query path marks the process (vg_dns_wait, by tgid: the
 * thread that reads the answer may be another) and the socket
 * (vg_dns_socks), each until VG_DNS_WAIT_NS after its last query (glibc's
 * default timeout). recvfrom, recvmsg and recvmmsg are among the commonest
 * syscalls of a desktop: their exit looks up the process once and ends
 * there unless it has a query in flight.
 */
#define VG_DNS_WAIT_NS (5ull * 1000000000)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tgid */
	__type(value, __u64); /* boot ns until which a reply is looked for */
} vg_dns_wait SEC(".maps");

/* A socket's last query: until when, and its resolver (the reply's sender unless told). */
struct vg_dns_sock {
	__u64 until;
	__u8 addr[16];
	__u16 port, family;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* struct sock * */
	__type(value, struct vg_dns_sock);
} vg_dns_socks SEC(".maps");

static __always_inline void vg_dns_expect(struct sock *sk, __u32 tgid, const struct vg_net_event *q)
{
	struct vg_dns_sock v = { .until = bpf_ktime_get_boot_ns() + VG_DNS_WAIT_NS,
				 .port = q->rport,
				 .family = q->family };
	__u64 k = (__u64)sk;

	__builtin_memcpy(v.addr, q->raddr, sizeof(v.addr));
	bpf_map_update_elem(&vg_dns_wait, &tgid, &v.until, BPF_ANY);
	bpf_map_update_elem(&vg_dns_socks, &k, &v, BPF_ANY);
}

/*
 * recvfrom(fd, buf, len, flags, src, srclen), recvmsg(fd, msg, flags),
 * recvmmsg(fd, msgvec, vlen, flags, timeout): the first VG_DNS_REPLY bytes
 * of the (first) datagram received on a socket that sent a query, which
 * vigild parses (lib/dns.c). recvmmsg's first message only, as sendmmsg's
 * first query only; a reply spread over several iovecs, the first only.
 */
static __noinline int vg_sys_recv(const struct vg_args *a, long ret, __u32 nr)
{
	__u32 tgid = vg_cur_tgid();
	__u64 *until = bpf_map_lookup_elem(&vg_dns_wait, &tgid);
	struct vg_dns_sock *q;
	const void *buf = NULL, *src = NULL;
	struct vg_net_event *e;
	struct vg_scratch *s;
	struct sock *sk;
	__u64 now, k, full = 0, cap = 0;
	__u32 n;

	if (!until)
		return 0; /* the common case: no query in flight */
	now = bpf_ktime_get_boot_ns();
	if (now > *until) {
		bpf_map_delete_elem(&vg_dns_wait, &tgid);
		return 0;
	}
	if (ret <= 0)
		return 0;
	sk = vg_fd_sock(a->a[0]);
	k = (__u64)sk;
	q = sk ? bpf_map_lookup_elem(&vg_dns_socks, &k) : NULL;
	if (!q || now > q->until)
		return 0;
	if (nr == VG_NR_recvfrom) {
		buf = (void *)a->a[1];
		cap = a->a[2];
		src = (void *)a->a[4];
		full = (__u64)ret;
	} else {
		/* recvmmsg: struct mmsghdr is a struct msghdr, then the message's length */
		struct user_msghdr *m = (void *)a->a[1];
		struct iovec *iov = NULL;
		__u32 mlen = 0;

		bpf_probe_read_user(&src, sizeof(src), &m->msg_name);
		bpf_probe_read_user(&iov, sizeof(iov), &m->msg_iov);
		if (iov) {
			bpf_probe_read_user(&buf, sizeof(buf), &iov->iov_base);
			bpf_probe_read_user(&cap, sizeof(cap), &iov->iov_len);
		}
		if (nr == VG_NR_recvmmsg) {
			bpf_probe_read_user(&mlen, sizeof(mlen), (void *)(m + 1));
			full = mlen;
		} else {
			full = (__u64)ret;
		}
	}
	if (!buf || !full)
		return 0;
	vg_count(VG_CLASS_NET, VG_CNT_SEEN);
	if (vg_ignored(tgid)) {
		vg_count(VG_CLASS_NET, VG_CNT_FILTERED);
		return 0;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_NET, VG_CNT_RB_FULL);
		return 0;
	}
	e = (void *)s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	e->op = VG_NET_DNS_ANSWER;
	e->proto = VG_IPPROTO_UDP;
	vg_net_addrs(e, sk);
	/* the sender, as the kernel filled it in; else the resolver the query went to */
	if (!src || vg_user_sockaddr(e, src)) {
		e->family = q->family;
		e->rport = q->port;
		__builtin_memcpy(e->raddr, q->addr, sizeof(e->raddr));
	}
	vg_fill_cur(&e->task);
	n = full < cap ? (__u32)full : (__u32)cap;
	if (n > VG_DNS_REPLY)
		n = VG_DNS_REPLY;
	if (bpf_probe_read_user(&s->ev[sizeof(*e)], n & 1023, buf))
		n = 0;
	e->dns_len = (__u16)n;
	e->dns_full = full > 0xffff ? 0xffff : (__u16)full;
	if (vg_flt_net(e, 0))
		return 0;
	if (vg_rate_check(VG_CLASS_NET, tgid, now))
		return 0;
	vg_hdr(&e->hdr, VG_EV_NET, sizeof(*e) + n);
	vg_submit(&vg_rb_net, VG_CLASS_NET, e, (sizeof(*e) + n) & 1023);
	return 0;
}

/* accept (TCP) and UDP connect/send: process context, so the caller is the actor. */
static __noinline int vg_sys_net(const struct vg_args *a, long ret, __u32 nr)
{
	struct vg_net_event e;
	struct sock *sk;
	__u16 proto;

	if (ret < 0)
		return 0;
	sk = vg_fd_sock(nr == VG_NR_accept || nr == VG_NR_accept4 ? (__u64)ret : a->a[0]);
	if (!sk)
		return 0;
	proto = BPF_CORE_READ(sk, sk_protocol);
	__builtin_memset(&e, 0, sizeof(e));
	e.proto = proto;
	vg_net_addrs(&e, sk);
	if (e.family != VG_AF_INET && e.family != VG_AF_INET6)
		return 0;
	if (nr == VG_NR_accept || nr == VG_NR_accept4) {
		if (proto != VG_IPPROTO_TCP)
			return 0;
		e.op = VG_NET_ACCEPT;
	} else if (proto != VG_IPPROTO_UDP) {
		return 0; /* TCP connects come from inet_sock_set_state */
	} else if (nr == VG_NR_connect) {
		e.op = VG_NET_UDP_CONNECT;
	} else {
		struct vg_udp_key k = { .sk = (__u64)sk };
		const void *uaddr = NULL, *buf = NULL;
		__u64 len = 0;
		__u8 one = 1;

		if (nr == VG_NR_sendto) {
			uaddr = (void *)a->a[4];
			buf = (void *)a->a[1];
			len = a->a[2];
		} else {
			/* sendmsg: struct msghdr; sendmmsg: its first struct mmsghdr starts with one. */
			struct user_msghdr *m = (void *)a->a[1];
			struct iovec *iov = NULL;

			bpf_probe_read_user(&uaddr, sizeof(uaddr), &m->msg_name);
			bpf_probe_read_user(&iov, sizeof(iov), &m->msg_iov);
			if (iov) {
				bpf_probe_read_user(&buf, sizeof(buf), &iov->iov_base);
				bpf_probe_read_user(&len, sizeof(len), &iov->iov_len);
			}
		}
		if (uaddr && vg_user_sockaddr(&e, uaddr))
			return 0;
		if (e.rport == 53) {
			vg_dns_expect(sk, vg_cur_tgid(), &e);
			vg_fill_cur(&e.task);
			vg_dns(&e, buf, len);
		}
		e.op = VG_NET_UDP_SEND;
		vg_count(VG_CLASS_NET, VG_CNT_SEEN);
		__builtin_memcpy(k.addr, e.raddr, sizeof(k.addr));
		k.port = e.rport;
		if (bpf_map_lookup_elem(&vg_udp_seen, &k)) {
			vg_count(VG_CLASS_NET, VG_CNT_DEDUP);
			return 0;
		}
		bpf_map_update_elem(&vg_udp_seen, &k, &one, BPF_ANY);
		goto emit;
	}
	vg_count(VG_CLASS_NET, VG_CNT_SEEN);
emit:
	if (vg_ignored(vg_cur_tgid())) {
		vg_count(VG_CLASS_NET, VG_CNT_FILTERED);
		return 0;
	}
	vg_fill_cur(&e.task);
	if (vg_flt_net(&e, 0))
		return 0;
	if (vg_rate_check(VG_CLASS_NET, vg_cur_tgid(), bpf_ktime_get_boot_ns()))
		return 0;
	vg_hdr(&e.hdr, VG_EV_NET, sizeof(e));
	vg_submit(&vg_rb_net, VG_CLASS_NET, &e, sizeof(e));
	return 0;
}

/* Credential changes, ptrace attach, module loads, BPF program loads. */
static __noinline int vg_sys_sec(const struct vg_args *a, long ret, __u32 nr)
{
	struct vg_scratch *s;
	struct vg_sec_event *e;
	__u32 off, walk;

	switch (nr) {
	case VG_NR_ptrace: {
		__u64 req = a->a[0];

		if (ret != 0 || (req != VG_PTRACE_ATTACH && req != VG_PTRACE_SEIZE))
			return 0;
		break;
	}
	case VG_NR_bpf:
		if (a->a[0] != VG_BPF_PROG_LOAD)
			return 0;
		break;
	case VG_NR_init_module:
	case VG_NR_finit_module:
		break; /* attempts count, successful or not */
	case VG_NR_kill:
	case VG_NR_tkill:
	case VG_NR_tgkill: {
		/* kill(pid, sig), tkill(tid, sig), tgkill(tgid, tid, sig) */
		__u64 sig = nr == VG_NR_tgkill ? a->a[2] : a->a[1];
		__s32 pid = (__s32)a->a[0];

		/* delivered, to one other process (not a group: pid <= 0), of a signal that ends or stops it */
		if (ret != 0 || pid <= 0 || (__u32)pid == vg_cur_tgid() ||
		    (sig != VG_SIGKILL && sig != VG_SIGTERM && sig != VG_SIGSTOP))
			return 0;
		break;
	}
	default:
		if (ret != 0)
			return 0; /* set*id that changed nothing */
	}

	vg_count(VG_CLASS_SEC, VG_CNT_SEEN);
	if (vg_ignored(vg_cur_tgid())) {
		vg_count(VG_CLASS_SEC, VG_CNT_FILTERED);
		return 0;
	}
	s = vg_scratch_get();
	if (!s) {
		vg_count(VG_CLASS_SEC, VG_CNT_RB_FULL);
		return 0;
	}
	e = (void *)s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	vg_fill_cur(&e->task);
	e->ret = (__s32)ret;
	off = sizeof(*e);
	switch (nr) {
	case VG_NR_ptrace:
		e->op = VG_SEC_PTRACE;
		e->arg = (__u32)a->a[0];
		e->target = (__u32)a->a[1];
		break;
	case VG_NR_bpf: {
		const __u8 *attr = (void *)a->a[1];

		e->op = VG_SEC_BPF_LOAD;
		bpf_probe_read_user(&e->target, sizeof(e->target), attr); /* prog_type */
		bpf_probe_read_user(e->name, sizeof(e->name), attr + 48); /* prog_name */
		e->name[15] = '\0';
		break;
	}
	case VG_NR_init_module:
		e->op = VG_SEC_MODULE;
		break;
	case VG_NR_finit_module: {
		struct file *f = vg_cur_fd_file(a->a[0]);

		e->op = VG_SEC_MODULE;
		if (f) {
			walk = vg_file_walk(f, s);
			e->path_len = vg_put_path(s, off, walk);
			off += e->path_len;
		}
		break;
	}
	case VG_NR_kill:
	case VG_NR_tkill:
	case VG_NR_tgkill:
		e->op = VG_SEC_SIGNAL;
		e->target = (__u32)a->a[0];
		e->arg = (__u32)(nr == VG_NR_tgkill ? a->a[2] : a->a[1]);
		break;
	default:
		e->op = VG_SEC_SETID;
		e->target = nr;
	}
	if (vg_flt_on()) {
		struct vg_flt_in *in = vg_flt_get(0);

		if (in) {
			vg_flt_task(in, VG_CLASS_SEC, e->op, &e->task);
			if (VG_FLT_DROPS(vg_flt_judge(0))) {
				vg_count(VG_CLASS_SEC, VG_CNT_FILTERED);
				return 0;
			}
		}
	}
	/* A script killing its jobs in a loop: signals are limited per process like file events. */
	if (e->op == VG_SEC_SIGNAL &&
	    vg_rate_check(VG_CLASS_SEC, vg_cur_tgid(), bpf_ktime_get_boot_ns()))
		return 0;
	e->hdr.type = VG_EV_SEC;
	e->hdr.size = off;
	e->hdr.ts_boot_ns = bpf_ktime_get_boot_ns();
	vg_submit(&vg_rb_proc, VG_CLASS_SEC, e, off & 16383);
	return 0;
}

static __always_inline int vg_sys_exit(const struct vg_args *a, long ret, __u64 nr)
{
	switch (nr) {
	case VG_NR_open:
	case VG_NR_openat:
	case VG_NR_openat2:
	case VG_NR_creat: {
		struct vg_open_pre p = {};

		if (!vg_open_pre(a, ret, nr, &p))
			return 0;
		return vg_sys_open(p.f, p.inode, p.dentry, p.flags, p.fmode);
	}
	case VG_NR_accept:
	case VG_NR_accept4:
	case VG_NR_connect:
	case VG_NR_sendto:
	case VG_NR_sendmsg:
	case VG_NR_sendmmsg:
		return vg_sys_net(a, ret, nr);
	case VG_NR_recvfrom:
	case VG_NR_recvmsg:
	case VG_NR_recvmmsg:
		return vg_sys_recv(a, ret, nr);
	case VG_NR_ptrace:
	case VG_NR_bpf:
	case VG_NR_init_module:
	case VG_NR_finit_module:
	case VG_NR_setuid:
	case VG_NR_setgid:
	case VG_NR_setreuid:
	case VG_NR_setregid:
	case VG_NR_setresuid:
	case VG_NR_setresgid:
	case VG_NR_kill:
	case VG_NR_tkill:
	case VG_NR_tgkill:
		return vg_sys_sec(a, ret, nr);
	case VG_NR_mmap:
		/* The commonest of them (anonymous memory, data) end here. */
		if (ret < 0 || !(a->a[2] & VG_PROT_EXEC) || (a->a[3] & VG_MAP_ANONYMOUS))
			return 0;
		return vg_sys_image(a, ret);
	case VG_NR_execve:
	case VG_NR_execveat:
		/* A file the kernel could not run, which a shell may run itself. */
		if (ret != -VG_ENOEXEC)
			return 0;
		return vg_sys_path_op(a, 0, nr);
	case VG_NR_ioctl:
		/* The commonest of them (terminals, sockets) end here. */
		if (a->a[1] != VG_FS_IOC_SETFLAGS && a->a[1] != VG_FS_IOC32_SETFLAGS)
			return 0;
		return vg_sys_path_op(a, ret, nr);
	default:
		return vg_sys_path_op(a, ret, nr);
	}
}

/* The arguments from a pt_regs the verifier knows (BTF): plain loads, no helper calls. */
static __always_inline void vg_args_btf(struct vg_args *a, struct pt_regs *regs)
{
	a->a[0] = regs->di;
	a->a[1] = regs->si;
	a->a[2] = regs->dx;
	a->a[3] = regs->r10;
	a->a[4] = regs->r8;
}

static __always_inline int vg_watched(__u64 nr)
{
	return nr < 512 && (vg_sys_mask[nr >> 6] & (1ull << (nr & 63)));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_sysx_btf, struct pt_regs *regs, long ret)
{
	struct vg_args a;
	__u64 nr;

	/*
	 * This runs on every syscall of the machine: read the number with a
	 * direct (BTF-checked, CO-RE relocated) load rather than a probe-read
	 * helper call. getppid: +95 ns with the helper.
	 */
	nr = regs->orig_ax;
	if (!vg_watched(nr))
		return 0;
	vg_args_btf(&a, regs);
	return vg_sys_exit(&a, ret, nr);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(vg_sysx_raw, struct pt_regs *regs, long ret)
{
	struct vg_args a;
	__u64 nr = vg_sys_nr(regs);

	if (!vg_watched(nr))
		return 0;
	for (int i = 0; i < 5; i++)
		a.a[i] = vg_sys_arg(regs, i);
	return vg_sys_exit(&a, ret, nr);
}

/*
 * Set by vigild when it stops: releasing the tp hook's tracepoints takes
 * grace periods (daemon/bpf.c, vg_bpf_detach), so they are released while
 * vigild sends its last batch, and report nothing from here on.
 */
__u32 vg_sysx_off = 0;

/* A syscalls/sys_exit_NAME record: struct trace_entry, the number, the result. */
struct vg_sys_exit_rec {
	__u64 ent;
	int nr;
	long ret;
};

/*
 * Hook tp: one program, which vigild attaches to the exit tracepoint of
 * each watched syscall this kernel has (daemon/bpf.c), so it is verified
 * once; the section names one of them for libbpf's sake.
 */
SEC("tp/syscalls/sys_exit_openat")
int vg_sysx_tp(struct vg_sys_exit_rec *ctx)
{
	struct vg_args a;
	struct pt_regs *regs;

	if (vg_sysx_off)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	vg_args_btf(&a, regs);
	return vg_sys_exit(&a, ctx->ret, regs->orig_ax);
}

/*
 * Where a task's registers are, from its stack's base: task_pt_regs() is
 * the same sum for every task of a running kernel (the stack's size, the
 * registers' size), so vg_sysx_tpd learns it from the first
 * bpf_task_pt_regs() and then reads the registers by plain loads.
 */
__u64 vg_regs_off = 0;

/*
 * Hook tp where the kernel has bpf_rdonly_cast() (v6.2): vg_sysx_tp with
 * its opens read by plain loads (vg_open_pre_direct); vigild loads one or
 * the other (daemon/bpf.c) and attaches it the same way.
 */
SEC("tp/syscalls/sys_exit_openat")
int vg_sysx_tpd(struct vg_sys_exit_rec *ctx)
{
	struct task_struct *t;
	struct vg_args a;
	struct pt_regs *regs;
	__u64 nr, off;

	if (vg_sysx_off)
		return 0;
	t = bpf_get_current_task_btf();
	off = vg_regs_off;
	if (off) {
		regs = bpf_rdonly_cast((const char *)t->stack + off,
				       bpf_core_type_id_kernel(struct pt_regs));
	} else {
		__u64 at = 0, stack = (__u64)t->stack;

		regs = (struct pt_regs *)bpf_task_pt_regs(t);
		/* The address as a number, which no verifier before 6.18 lets a subtraction make. */
		bpf_probe_read_kernel(&at, sizeof(at), &regs);
		if (at > stack && at - stack < (1u << 20))
			vg_regs_off = at - stack;
	}
	nr = regs->orig_ax;
	if (nr == VG_NR_open || nr == VG_NR_openat || nr == VG_NR_openat2 || nr == VG_NR_creat) {
		struct vg_open_pre p = {};
		__u64 flags_tgid, dev_imode;
		struct inode *inode;
		__u32 imode;

		/* An open's flags are in its second or third argument: no more is read. */
		a.a[1] = regs->si;
		a.a[2] = regs->dx;
		if (!vg_open_pre_direct(t, &a, ctx->ret, nr, &p))
			return 0;
		inode = p.inode;
		imode = inode->i_mode;
		/* As vg_sys_open_body() would, but without the call: /dev/null, /proc, pipes. */
		if ((imode & VG_S_IFMT) != VG_S_IFREG)
			return 0;
		flags_tgid = (__u32)p.flags | (__u64)(__u32)t->tgid << 32;
		dev_imode = inode->i_sb->s_dev | (__u64)(imode & 0xffff) << 32;
		if (p.fmode & VG_FMODE_CREATED)
			dev_imode |= VG_OPEN_CREATED;
		return vg_sys_open_known(p.f, p.dentry, inode->i_ino, flags_tgid, dev_imode);
	}
	vg_args_btf(&a, regs);
	return vg_sys_exit(&a, ctx->ret, nr);
}

/* A syscalls/sys_enter_NAME record: struct trace_entry, the number, the arguments. */
struct vg_sys_enter_rec {
	__u64 ent;
	int nr;
	__u64 args[6];
};

/*
 * The entry side of the tp, tp_btf and raw_tp hooks (vg_sys_enter): one
 * program on the entry tracepoints of ioctl and utimensat only, which
 * vigild loads and attaches with --old-values (vg_sysn_select() in
 * daemon/bpf.c: any syscall entry tracepoint makes the kernel run its
 * entry probe on every syscall). Its record carries the arguments, so it
 * needs no bpf_task_pt_regs().
 */
SEC("tp/syscalls/sys_enter_ioctl")
int vg_sysn_tp(struct vg_sys_enter_rec *ctx)
{
	struct vg_args a = {};

	if (vg_sysx_off)
		return 0;
	/*
	 * The kernel refuses to attach a program that reads past a record's
	 * end, and ioctl's has three arguments: utimensat's fourth is read with
	 * a helper, which that check does not see.
	 */
	a.a[0] = ctx->args[0];
	a.a[1] = ctx->args[1];
	a.a[2] = ctx->args[2];
	if (ctx->nr == VG_NR_utimensat)
		bpf_probe_read_kernel(&a.a[3], sizeof(a.a[3]), &ctx->args[3]);
	return vg_sys_enter(&a, (__u32)ctx->nr);
}

/* Hook fentry: fexit on each watched syscall's function, with the same handlers. */
#include "fexit.bpf.h"
