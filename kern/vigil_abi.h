/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The event ABI between the BPF programs and vigild: one header, included by
 * the kern/ programs and daemon/. Fixed-width types only, explicit padding, layouts
 * asserted on both compilers. Every record starts with struct vg_event_hdr
 * and carries its size, so a reader can skip types it does not know.
 * Enumerators are never renumbered.
 */
#ifndef VIGIL_ABI_H
#define VIGIL_ABI_H

#ifndef __VMLINUX_H__ /* BPF side already has __u32 & co. */
#include <linux/types.h>
#endif

enum vg_event_type {
	VG_EV_EXEC = 1,
	VG_EV_FORK = 2,
	VG_EV_EXIT = 3,
	VG_EV_FILE = 4,
	VG_EV_NET = 5,
	VG_EV_SEC = 6,
	VG_EV_SUMMARY = 7, /* suppressed events of one key or process, reported by the flush */
	VG_EV_WAKE = 8, /* header only: wakes vigild from its idle sleep; no event */
	VG_EV_TYPE_MAX,
};

/*
 * The bit of the 64-bit filter vg_sens_dir_bloom (kern/sys.bpf.c) that a
 * watched directory name sets: its length and first 8 bytes (zero past a
 * shorter name), hashed. vigild sets the bits, the programs test them.
 */
#define VG_SENS_DIR_BIT(len, head) ((((__u64)(head) + (__u64)(len)) * 0x9e3779b97f4a7c15ull) >> 58)

/* Accounting classes (index of the counters map is class * VG_CNT_MAX + reason). */
enum vg_class {
	VG_CLASS_EXEC = 0,
	VG_CLASS_FORK = 1,
	VG_CLASS_EXIT = 2,
	VG_CLASS_FILE = 3,
	VG_CLASS_NET = 4,
	VG_CLASS_SEC = 5,
	VG_CLASS_MAX,
};

/*
 * seen = emitted + filtered + deduplicated + rate_limited + ringbuf_full,
 * per class. "filtered" also counts the sensor's own processes.
 */
enum vg_counter {
	VG_CNT_SEEN = 0,
	VG_CNT_EMITTED = 1,
	VG_CNT_FILTERED = 2,
	VG_CNT_DEDUP = 3,
	VG_CNT_RATELIMIT = 4,
	VG_CNT_RB_FULL = 5,
	VG_CNT_MAX,
};

/* Bounds of the variable tail of an exec event. */
#define VG_PATH_MAX 4096 /* path including its NUL, at most VG_PATH_MAX - 1 bytes */
#define VG_ARGV_CAP 4095 /* hard cap of the argv run-time limit */
#define VG_COMM_LEN 16
#define VG_ENV_VAL 512 /* bytes kept of one loader variable, NUL included */
#define VG_ENV_SCAN 256 /* environment variables looked at per exec */

struct vg_event_hdr {
	__u16 type; /* enum vg_event_type */
	__u16 flags; /* VG_F_* */
	__u32 size; /* whole record incl. tail, bytes */
	__u64 ts_boot_ns;
};

#define VG_F_ARGV_TRUNC 0x0001 /* argv cut at the limit */
#define VG_F_PATH_TRUNC 0x0002 /* a path had more components than the walk allows */
#define VG_F_CWD_TRUNC 0x0004
#define VG_F_FILELESS 0x0008 /* exec of a memfd or of a file with no link left */
#define VG_F_STDIN_SOCK 0x0010 /* exec: fd 0 is a socket */
#define VG_F_STDOUT_SOCK 0x0020 /* exec: fd 1 is a socket */
#define VG_F_SNAPSHOT \
	0x0040 /* exec: not an exec, a process running when a --record capture began */

/* The task the event is about. */
struct vg_task {
	__u32 pid; /* thread id of the task */
	__u32 tgid; /* process id */
	__u32 ppid; /* tgid of the real parent */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 pidns; /* inode of the process's PID namespace: exec and fork records; 0 in others */
	__u64 start_boot_ns; /* process (group leader) start, ns since boot */
	__u64 cgroup_id;
	char comm[VG_COMM_LEN];
};

/*
 * Exec: after the fixed part come three strings, each NUL-terminated, at
 * the offsets implied by the lengths: the executable path, the argument
 * area (argv strings, each NUL-terminated), the working directory.
 * Each length counts the bytes stored, including NULs.
 */
struct vg_exec_event {
	struct vg_event_hdr hdr;
	struct vg_task task;
	__u64 exe_ino;
	__u32 exe_dev;
	__u16 path_len;
	__u16 argv_len;
	__u16 cwd_len;
	__u16 env_len; /* the loader's variables of the new environment, below */
	__u16 _pad1[2];
	__u64 cap_effective; /* of the new image */
	/*
	 * char tail[]: path, argv, cwd, env. env holds the new image's
	 * LD_PRELOAD and LD_LIBRARY_PATH as "NAME=value" strings, each
	 * NUL-terminated and cut at VG_ENV_VAL bytes; the kernel looks at the
	 * first VG_ENV_SCAN variables of the environment.
	 */
};

struct vg_fork_event {
	struct vg_event_hdr hdr;
	struct vg_task task; /* the new process (child) */
};

struct vg_exit_event {
	struct vg_event_hdr hdr;
	struct vg_task task;
	__u32 exit_code; /* as wait(2) reports it: status << 8, or signal | 0x80 when core */
	__u32 _pad2;
};

enum vg_file_op {
	VG_FILE_CREATE = 1, /* an open that created the file */
	VG_FILE_MODIFY = 2, /* opened for write or truncate */
	VG_FILE_DELETE = 3, /* unlink, rmdir */
	VG_FILE_RENAME = 4,
	VG_FILE_CHMOD = 5,
	VG_FILE_CHOWN = 6,
	VG_FILE_SENSITIVE_READ = 7, /* opened for read, and on the watch list */
	VG_FILE_SYMLINK = 8, /* symlink, symlinkat: rel2 the target as the caller gave it */
	VG_FILE_LINK = 9, /* link, linkat: base2 + rel2 the existing file */
	VG_FILE_MKDIR = 10, /* mkdir, mkdirat: mode as requested */
	VG_FILE_XATTR = 11, /* setxattr, lsetxattr, fsetxattr: rel2 the attribute's name */
	VG_FILE_ATTR = 12, /* ioctl FS_IOC_SETFLAGS (chattr): mode the new flags */
	VG_FILE_TIMES = 13, /* utimensat, futimesat, utimes, utime with times given */
	/*
	 * execve, execveat that failed with ENOEXEC: a file without #!, which
	 * a shell (bash, zsh) then runs itself in the same process, no exec
	 * (vigild reports it as the process starting the script).
	 */
	VG_FILE_EXEC_SCRIPT = 14,
	/* mmap of a file with PROT_EXEC (a shared library): a process's first of each file */
	VG_FILE_IMAGE_LOAD = 15,
};

/* VG_FILE_TIMES: which times the caller gave (open_flags). */
#define VG_TIMES_ATIME 1
#define VG_TIMES_MTIME 2
/*
 * VG_FILE_ATTR, VG_FILE_TIMES (open_flags): the values before the change
 * are known (old_flags; old_atime_ns, old_mtime_ns), read at the syscall's
 * entry where an fd named the file.
 */
#define VG_OLD_KNOWN 4
/* old_flags: what the kernel's i_flags said of FS_IMMUTABLE_FL and FS_APPEND_FL (only those) */
#define VG_FS_IMMUTABLE_FL 0x10
#define VG_FS_APPEND_FL 0x20

/*
 * File: two paths, each as a kernel-resolved part and a caller part. When
 * the kernel could resolve the object itself (an fd), `base` is the whole
 * path and `rel` is empty; when the object is gone or was never opened
 * (unlink, rename), `base` is the resolved directory the caller's path is
 * relative to (cwd or dirfd) and `rel` the path as the caller passed it.
 * Tail: base, rel, base2, rel2 (rename destination), each NUL-terminated.
 */
struct vg_file_event {
	struct vg_event_hdr hdr;
	struct vg_task task;
	__u32 op; /* enum vg_file_op */
	__u32 mode;
	__u32 uid; /* chown */
	__u32 gid;
	__u32 open_flags;
	__u32 _pad3;
	__u64 ino;
	__u64 dev;
	/* Duplicates of this event (same process, operation, file) suppressed before it. */
	__u64 supp_count;
	union {
		struct {
			__u64 supp_first_ns;
			__u64 supp_last_ns;
		};
		/*
		 * VG_FILE_TIMES: the times given, ns since the epoch (VG_TIMES_* in
		 * open_flags), and the file's times before (VG_OLD_KNOWN).
		 */
		struct {
			__s64 atime_ns;
			__s64 mtime_ns;
			__s64 old_atime_ns;
			__s64 old_mtime_ns;
		};
		/* VG_FILE_ATTR: the flags before (VG_OLD_KNOWN; VG_FS_* bits only) */
		struct {
			__u32 old_flags;
		};
		/*
		 * VG_FILE_XATTR: the value's size; for security.capability
		 * (struct vfs_cap_data) its magic_etc (revision and the
		 * effective bit) and the permitted set's two halves.
		 */
		struct {
			__u32 xattr_size;
			__u32 cap_magic;
			__u32 cap_permitted[2];
		};
	};
	__u16 base_len;
	__u16 rel_len;
	__u16 base2_len;
	__u16 rel2_len;
};

enum vg_net_op {
	VG_NET_CONNECT = 1, /* TCP SYN sent */
	VG_NET_CONNECTED = 2, /* TCP established (active) */
	VG_NET_CONNECT_FAIL = 3, /* TCP SYN_SENT -> CLOSE */
	VG_NET_ACCEPT = 4, /* accept(2) returned a connection */
	VG_NET_LISTEN = 5,
	VG_NET_UDP_CONNECT = 6,
	VG_NET_UDP_SEND = 7, /* first datagram of a socket to a destination */
	VG_NET_DNS_QUERY = 8, /* a UDP datagram to port 53: tail the question (dns_len) */
	/*
	 * A datagram received on a socket that sent a query (within
	 * VG_DNS_WAIT_NS): tail the reply's first bytes (dns_len of dns_full),
	 * raddr/rport the sender when the caller asked for it, else the peer.
	 */
	VG_NET_DNS_ANSWER = 9,
};

/* Bytes of a DNS reply kept: the classic UDP limit, which most answers fit. */
#define VG_DNS_REPLY 512

/* Bytes of a DNS query's question kept (name and type), after its 12-byte header. */
#define VG_DNS_QUESTION 260

struct vg_net_event {
	struct vg_event_hdr hdr;
	struct vg_task task;
	__u16 op; /* enum vg_net_op */
	__u16 proto; /* IPPROTO_TCP, IPPROTO_UDP */
	__u16 family; /* AF_INET, AF_INET6 */
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u16 dns_len; /* VG_NET_DNS_QUERY: bytes of the tail, the question as sent and a NUL */
	__u16 dns_full; /* VG_NET_DNS_ANSWER: the reply's size (dns_len: the bytes kept) */
	__u16 _pad5;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
};

enum vg_sec_op {
	VG_SEC_SETID = 1, /* set*uid/set*gid changed credentials */
	VG_SEC_PTRACE = 2, /* PTRACE_ATTACH or PTRACE_SEIZE */
	VG_SEC_MODULE = 3, /* init_module/finit_module, successful or not */
	VG_SEC_BPF_LOAD = 4, /* BPF_PROG_LOAD */
	VG_SEC_SIGNAL =
		5, /* kill, tkill, tgkill of SIGKILL, SIGTERM or SIGSTOP to another process */
};

/* Security-relevant syscalls; tail: a path (finit_module's file), NUL-terminated. */
struct vg_sec_event {
	struct vg_event_hdr hdr;
	struct vg_task task;
	__u32 op; /* enum vg_sec_op */
	__s32 ret;
	__u32 target; /* ptrace, signal: target pid; setid: syscall nr; bpf: prog type */
	__u32 arg; /* ptrace: request; signal: the signal */
	char name[16]; /* bpf: program name */
	__u16 path_len;
	__u16 _pad6[3];
};

/*
 * Key of the dedup and rate-limit tables. Dedup: (process, class, op,
 * object); rate limit: (process, class), op and object zero.
 */
struct vg_lim_key {
	__u32 tgid;
	__u16 class;
	__u16 op;
	__u64 obj; /* file: inode */
	__u64 obj2; /* file: device */
};

struct vg_lim_val {
	__u64 count; /* suppressed since last reported (atomic) */
	__u64 first_ns; /* of the first suppressed one */
	__u64 last_ns;
	__u64 mark_ns; /* dedup: window start (0: none yet); rate limit: theoretical arrival time */
	/*
	 * Dedup with filters: the verdict on the key's last judged event, valid
	 * while vg_flt_cfg.slot still equals flt_gen, so a duplicate in the
	 * window is judged without building its path again.
	 */
	__u32 flt_gen;
	__s16 flt_rule; /* index of the deciding rule in its slot, -1: none */
	__u8 flt_drop; /* that event was dropped */
	__u8 _pad;
};

/* What the flush program takes from userspace (vg_flush_arg[0]). */
struct vg_flush_arg {
	__u32 map; /* 0 dedup, 1 rate limit */
	__u32 del; /* delete the entry after reporting it */
	struct vg_lim_key key;
};

/* The suppressed count of one dedup key or one process's rate limit, with its time span. */
struct vg_summary_event {
	struct vg_event_hdr hdr;
	struct vg_lim_key key;
	__u32 reason; /* VG_CNT_DEDUP or VG_CNT_RATELIMIT */
	__u32 _pad7;
	__u64 count;
	__u64 first_ns;
	__u64 last_ns;
};

/* Ring buffer fill, written by the programs: current and highest since vigild last read it. */
struct vg_ring_fill {
	__u64 fill;
	__u64 peak;
};

/*
 * Filters (filters/NAME.vf, lib/filter.c): rules compiled into two slots of
 * VG_FLT_RULES entries each; the programs read the active slot once per
 * event, so a swap (userspace fills the other slot, then flips) never
 * judges an event by half a set. A rule matches when every condition in
 * `fields` holds; the first matching rule decides. kern/vf_match.h is the
 * matcher, shared by the programs and `vigil filter test`.
 */
#define VG_FLT_RULES 64 /* per slot */
#define VG_FLT_VAL 64 /* bytes of a path value (prefix, suffix, ==) */

#define VG_FM_COMM 0x0001
#define VG_FM_UID 0x0002
#define VG_FM_CGROUP 0x0004
#define VG_FM_OP 0x0008
#define VG_FM_PATH_EQ 0x0010
#define VG_FM_PATH_PRE 0x0020
#define VG_FM_PATH_SUF 0x0040
#define VG_FM_RADDR 0x0080
#define VG_FM_RPORT 0x0100
#define VG_FM_LPORT 0x0200
#define VG_FM_NOT_UID 0x0400 /* uid != value */
#define VG_FM_EXE_EQ 0x0800 /* the process's executable */
#define VG_FM_EXE_PRE 0x1000
#define VG_FM_PEXE_EQ 0x2000 /* its parent's executable */
#define VG_FM_PEXE_PRE 0x4000
#define VG_FM_EXE_ANY (VG_FM_EXE_EQ | VG_FM_EXE_PRE | VG_FM_PEXE_EQ | VG_FM_PEXE_PRE)

enum vg_flt_action {
	VG_FLT_NONE = 0, /* no rule matched: keep */
	VG_FLT_DROP = 1,
	VG_FLT_KEEP = 2,
};

struct vg_flt_rule {
	__u32 fields; /* VG_FM_* */
	__u8 action; /* enum vg_flt_action */
	__u8 classes; /* bit per enum vg_class */
	__u8 family; /* raddr: 2 (AF_INET) or 10 (AF_INET6) */
	__u8 _pad0;
	__u32 ops; /* bit per file/net/sec op value */
	__u32 uid;
	__u32 sample; /* drop rules: keep one in `sample` matches (0 or 1: drop all) */
	__u16 rport, lport;
	/* Bytes of pre[] and suf[] that count; pre_len is the whole length for ==. */
	__u16 pre_len, suf_len;
	__u32 _pad1;
	__u64 cgroup;
	__u8 raddr[16];
	__u8 rmask[16];
	__u8 comm[VG_COMM_LEN];
	__u8 comm_mask[VG_COMM_LEN];
	__u8 pre[VG_FLT_VAL]; /* prefix (or whole path for ==), left-aligned */
	__u8 suf[VG_FLT_VAL]; /* suffix, right-aligned */
	__u8 pre_mask[VG_FLT_VAL]; /* 0xff on the bytes of pre[] that count */
	__u8 suf_mask[VG_FLT_VAL];
	/* exe and parent_exe: == (whole length) or prefix, as pre[] for the path. */
	__u16 exe_len, pexe_len;
	__u32 _pad2;
	__u8 exe[VG_FLT_VAL];
	__u8 exe_mask[VG_FLT_VAL];
	__u8 pexe[VG_FLT_VAL];
	__u8 pexe_mask[VG_FLT_VAL];
};

/*
 * A process's executable as the filters see it: the first bytes of its
 * absolute path and the whole length. The kernel keeps one per process
 * (vg_flt_exe, keyed by tgid): written at exec, copied at fork, deleted at
 * exit; vigild seeds the processes that were running before it.
 */
struct vg_flt_exe {
	__u32 len; /* bytes of the path, without NUL; 0: unknown */
	__u32 _pad;
	__u8 head[VG_FLT_VAL];
};

/* The active slot and its rule count; the index is written last. */
struct vg_flt_cfg {
	__u32 slot; /* counts swaps: slot & 1 is the active slot, the whole value its generation */
	__u32 nrules[2];
	__u32 exe; /* bit per slot: its rules test exe or parent_exe */
};

/* What a rule is matched against, built from an event (kernel and vigil filter test alike). */
struct vg_flt_in {
	__u32 cls; /* enum vg_class */
	__u32 op;
	__u32 uid;
	__u32 path_len; /* bytes of the matched path, without NUL */
	__u32 tail_len; /* bytes the suffix may cover (the caller's part of a relative path) */
	__u32 _pad2;
	__u16 family, rport, lport, _pad;
	__u64 cgroup;
	__u8 raddr[16];
	__u8 comm[VG_COMM_LEN];
	__u8 head[VG_FLT_VAL]; /* first bytes of the path */
	__u8 tail[VG_FLT_VAL]; /* last bytes of the path, right-aligned */
	struct vg_flt_exe exe, pexe; /* of the process and its parent (len 0: unknown) */
};

_Static_assert(sizeof(struct vg_event_hdr) == 16, "vigil ABI: vg_event_hdr");
_Static_assert(sizeof(struct vg_task) == 64, "vigil ABI: vg_task");
_Static_assert(sizeof(struct vg_exec_event) == 112, "vigil ABI: vg_exec_event");
_Static_assert(sizeof(struct vg_file_event) == 168, "vigil ABI: vg_file_event");
_Static_assert(sizeof(struct vg_lim_key) == 24, "vigil ABI: vg_lim_key");
_Static_assert(sizeof(struct vg_summary_event) == 72, "vigil ABI: vg_summary_event");
_Static_assert(sizeof(struct vg_net_event) == 128, "vigil ABI: vg_net_event");
_Static_assert(sizeof(struct vg_sec_event) == 120, "vigil ABI: vg_sec_event");
_Static_assert(sizeof(struct vg_fork_event) == 80, "vigil ABI: vg_fork_event");
_Static_assert(sizeof(struct vg_exit_event) == 88, "vigil ABI: vg_exit_event");

_Static_assert(sizeof(struct vg_flt_rule) == 624, "vigil ABI: vg_flt_rule");
_Static_assert(sizeof(struct vg_flt_cfg) == 16, "vigil ABI: vg_flt_cfg");
_Static_assert(sizeof(struct vg_flt_exe) == 72, "vigil ABI: vg_flt_exe");
_Static_assert(sizeof(struct vg_flt_in) == 344, "vigil ABI: vg_flt_in");

#endif
