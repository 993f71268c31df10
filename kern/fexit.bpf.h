/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hook fentry for the file, network (accept, UDP) and security syscalls:
 * fexit on the function of each watched syscall (__x64_sys_NAME), where the
 * kernel allows fentry (vigild probes it per attach point, daemon/bpf.c).
 * Included at the end of kern/sys.bpf.c: the programs call the same
 * handlers as the tp, tp_btf and raw_tp programs there.
 *
 * A syscall vigil does not watch then runs no vigil code at all, not even
 * the traced-syscall path that any syscall tracepoint puts every task on
 * (the tp hook's cost). A watched one pays a trampoline instead of the
 * tracepoint.
 *
 * Why the syscall's own function and not the kernel functions below it
 * that do the work: every hook must report the same events with the same
 * fields and the same accounting, and only the syscall function sees
 * exactly the caller's arguments (a relative path as given, the open flags
 * before the kernel adds O_LARGEFILE, the user's sockaddr) and its result,
 * with one signature, struct pt_regs, on every kernel from 5.10 on. The
 * functions below see other callers and other shapes:
 * - do_filp_open(), vfs_open() and security_file_open() also run for
 *   execve and the kernel's own opens (firmware, core dumps, swapon), and
 *   see the flags after the kernel changed them;
 * - do_unlinkat(), do_renameat2(), chmod_common(), chown_common() changed
 *   from user pointers to struct filename in 5.12 and lose the caller's
 *   path as given;
 * - inet_csk_accept() runs for in-kernel servers (NFS, SMB) and before the
 *   new fd is installed; udp_sendmsg()/udpv6_sendmsg() run for in-kernel
 *   senders (tunnels, DNS of NFS) and see no fd, and ip4_datagram_connect()
 *   misses IPv6.
 * BPF LSM programs (security_file_open and friends) run through the same
 * trampolines, see the kernel's flags rather than the caller's, and are
 * active only where the boot's LSM list names bpf, which the stock WSL
 * kernel's does not: not used.
 *
 * fentry programs are bound to one function when loaded, so there is one
 * program per syscall; each passes its number as a constant, so the
 * verifier walks only that syscall's handler.
 */
#ifndef VG_FEXIT_BPF_H
#define VG_FEXIT_BPF_H

/*
 * By syscall number, set by vigild: 1 where the kernel's BTF has struct
 * pt_regs only as a forward declaration in that syscall function's
 * prototype (5.10's __x64_sys_accept, ...), where the verifier refuses any
 * read of the argument. The registers are then read from the task's stack,
 * where the entry code saved them (task_pt_regs(): the top of the stack, no
 * padding on x86-64, THREAD_SIZE 16 KiB without KASAN).
 */
const volatile __u8 vg_fx_regs_fwd[512];

#define VG_THREAD_SIZE 16384

/* The caller's arguments from the syscall function's struct pt_regs (ctx[0]). */
static __always_inline void vg_fx_args(struct vg_args *a, __u64 *ctx, __u32 nr)
{
	if (vg_fx_regs_fwd[nr & 511]) {
		struct task_struct *t = (void *)bpf_get_current_task();
		char *top = (char *)BPF_CORE_READ(t, stack) + VG_THREAD_SIZE;
		/*
		 * Field by field, not a copy of struct pt_regs on the stack: its
		 * 168 bytes on top of the handler's frames pass 5.10's 512-byte
		 * limit for the combined stack (accept's path).
		 */
		struct pt_regs *r = (void *)(top - bpf_core_type_size(struct pt_regs));

		a->a[0] = BPF_CORE_READ(r, di);
		a->a[1] = BPF_CORE_READ(r, si);
		a->a[2] = BPF_CORE_READ(r, dx);
		a->a[3] = BPF_CORE_READ(r, r10);
		a->a[4] = BPF_CORE_READ(r, r8);
	} else {
		vg_args_btf(a, (struct pt_regs *)ctx[0]);
	}
}

static __always_inline int vg_fexit(__u64 *ctx, __u32 nr)
{
	struct vg_args a;

	if (vg_sysx_off)
		return 0;
	vg_fx_args(&a, ctx, nr);
	return vg_sys_exit(&a, (long)ctx[1], nr);
}

/* vigild finds the program of syscall NAME as vg_fx_NAME (daemon/bpf.c, vg_syscalls). */
#define VG_FX(name)                                 \
	SEC("fexit/__x64_sys_" #name)               \
	int vg_fx_##name(__u64 *ctx)                \
	{                                           \
		return vg_fexit(ctx, VG_NR_##name); \
	}

VG_FX(open)
VG_FX(openat)
VG_FX(openat2)
VG_FX(creat)
VG_FX(unlink)
VG_FX(unlinkat)
VG_FX(rmdir)
VG_FX(rename)
VG_FX(renameat)
VG_FX(renameat2)
VG_FX(chmod)
VG_FX(fchmod)
VG_FX(fchmodat)
VG_FX(fchmodat2)
VG_FX(chown)
VG_FX(fchown)
VG_FX(lchown)
VG_FX(fchownat)
VG_FX(accept)
VG_FX(accept4)
VG_FX(connect)
VG_FX(sendto)
VG_FX(sendmsg)
VG_FX(sendmmsg)
VG_FX(ptrace)
VG_FX(bpf)
VG_FX(init_module)
VG_FX(finit_module)
VG_FX(setuid)
VG_FX(setgid)
VG_FX(setreuid)
VG_FX(setregid)
VG_FX(setresuid)
VG_FX(setresgid)
VG_FX(mkdir)
VG_FX(mkdirat)
VG_FX(link)
VG_FX(linkat)
VG_FX(symlink)
VG_FX(symlinkat)
VG_FX(setxattr)
VG_FX(lsetxattr)
VG_FX(fsetxattr)
VG_FX(ioctl)
VG_FX(utimensat)
VG_FX(futimesat)
VG_FX(utimes)
VG_FX(utime)
VG_FX(kill)
VG_FX(tkill)
VG_FX(tgkill)
VG_FX(execve)
VG_FX(execveat)
VG_FX(mmap)
VG_FX(recvfrom)
VG_FX(recvmsg)
VG_FX(recvmmsg)

/*
 * The entry side (vg_sys_enter): fentry on the syscalls whose old values
 * an event reports; vigild finds them as vg_fn_NAME and loads them with
 * the fexit programs (daemon/bpf.c, vg_sys_enters).
 */
#define VG_FN(name)                                    \
	SEC("fentry/__x64_sys_" #name)                 \
	int vg_fn_##name(__u64 *ctx)                   \
	{                                              \
		struct vg_args a;                      \
                                                       \
		if (vg_sysx_off)                       \
			return 0;                      \
		vg_fx_args(&a, ctx, VG_NR_##name);     \
		return vg_sys_enter(&a, VG_NR_##name); \
	}

VG_FN(ioctl)
VG_FN(utimensat)

#endif
