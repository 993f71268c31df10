/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel and architecture differences, in one place. Each entry says which
 * kernel change made it necessary.
 */
#ifndef VG_COMPAT_BPF_H
#define VG_COMPAT_BPF_H

#include "common.bpf.h"

/*
 * kernel_cap_t was { __u32 cap[2]; } until v6.3 made it { u64 val; }
 * (kernel f122a08b197d). Both are 8 bytes at the same place: read them raw.
 */
static __always_inline __u64 vg_cap_effective(struct task_struct *t)
{
	const struct cred *cred = BPF_CORE_READ(t, cred);
	__u64 caps = 0;

	bpf_core_read(&caps, sizeof(caps), &cred->cap_effective);
	return caps;
}

/*
 * FMODE_CREATED (v4.19, kernel 73a09dd94377) marks a struct file whose open
 * created the inode; its value has stayed 1 << 20.
 */
#define VG_FMODE_CREATED 0x100000u

/*
 * Syscall numbers and arguments at sys_exit. x86_64 only: the syscall
 * table is per architecture, and vigil builds for x86 (WSL2) today. At
 * sys_exit, pt_regs still hold the caller's arguments (the syscall entry
 * saved them; only ax was replaced by the return value), so one exit hook
 * sees the number, the arguments and the result.
 */
#if defined(__TARGET_ARCH_x86)
#define VG_NR_open 2
#define VG_NR_chmod 90
#define VG_NR_fchmod 91
#define VG_NR_chown 92
#define VG_NR_fchown 93
#define VG_NR_lchown 94
#define VG_NR_creat 85
#define VG_NR_rename 82
#define VG_NR_rmdir 84
#define VG_NR_unlink 87
#define VG_NR_connect 42
#define VG_NR_accept 43
#define VG_NR_sendto 44
#define VG_NR_sendmsg 46
#define VG_NR_ptrace 101
#define VG_NR_setuid 105
#define VG_NR_setgid 106
#define VG_NR_setreuid 113
#define VG_NR_setregid 114
#define VG_NR_setresuid 117
#define VG_NR_setresgid 119
#define VG_NR_init_module 175
#define VG_NR_openat 257
#define VG_NR_fchownat 260
#define VG_NR_unlinkat 263
#define VG_NR_renameat 264
#define VG_NR_fchmodat 268
#define VG_NR_accept4 288
#define VG_NR_sendmmsg 307
#define VG_NR_finit_module 313
#define VG_NR_renameat2 316
#define VG_NR_bpf 321
#define VG_NR_openat2 437
#define VG_NR_fchmodat2 452
#define VG_NR_ioctl 16
#define VG_NR_kill 62
#define VG_NR_mkdir 83
#define VG_NR_link 86
#define VG_NR_symlink 88
#define VG_NR_utime 132
#define VG_NR_setxattr 188
#define VG_NR_lsetxattr 189
#define VG_NR_fsetxattr 190
#define VG_NR_tkill 200
#define VG_NR_tgkill 234
#define VG_NR_utimes 235
#define VG_NR_mkdirat 258
#define VG_NR_futimesat 261
#define VG_NR_linkat 265
#define VG_NR_symlinkat 266
#define VG_NR_utimensat 280
#define VG_NR_execve 59
#define VG_NR_mmap 9
#define VG_NR_execveat 322
#define VG_NR_recvfrom 45
#define VG_NR_recvmsg 47
#define VG_NR_recvmmsg 299

static __always_inline __u64 vg_sys_nr(struct pt_regs *regs)
{
	return BPF_CORE_READ(regs, orig_ax);
}

static __always_inline __u64 vg_sys_arg(struct pt_regs *regs, int n)
{
	switch (n) {
	case 0:
		return BPF_CORE_READ(regs, di);
	case 1:
		return BPF_CORE_READ(regs, si);
	case 2:
		return BPF_CORE_READ(regs, dx);
	case 3:
		return BPF_CORE_READ(regs, r10);
	default:
		return BPF_CORE_READ(regs, r8);
	}
}
#else
#error "vigil: syscall numbers are only defined for x86_64"
#endif

#endif
