// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf.h"
#include "log.h"
#include "names.h"
#include "vigil.skel.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static int vg_verbose;
static int vg_quiet_libbpf; /* probing: a refusal is an answer, not a warning */

static int vg_libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char *text;

	if (lvl == LIBBPF_DEBUG && !vg_verbose)
		return 0;
	if (vg_quiet_libbpf && !vg_verbose)
		return 0;
	/* "libbpf: ...", and the verifier's log is many lines: one log line each. */
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	vg_log_lines(lvl == LIBBPF_WARN ? VG_WARN : VG_INFO, text);
	free(text);
	return 0;
}

void vg_bpf_setup_logging(int verbose)
{
	vg_verbose = verbose;
	libbpf_set_print(vg_libbpf_log);
}

void vg_bpf_quiet(int quiet)
{
	vg_quiet_libbpf = quiet;
}

uint32_t vg_ringbuf_size(uint32_t kb)
{
	uint64_t want = (uint64_t)kb * 1024, size = (uint64_t)sysconf(_SC_PAGESIZE);

	while (size < want)
		size <<= 1;
	return (uint32_t)size;
}

unsigned int vg_groups_wanted(unsigned int sources)
{
	unsigned int g = 0;

	if (sources & 1u << VG_SRC_EXEC)
		g |= 1u << VG_GRP_EXEC;
	if (sources & 1u << VG_SRC_FORK)
		g |= 1u << VG_GRP_FORK;
	if (sources & 1u << VG_SRC_EXIT)
		g |= 1u << VG_GRP_EXIT;
	if (sources & (1u << VG_SRC_FILE | 1u << VG_SRC_SEC | 1u << VG_SRC_NET))
		g |= 1u << VG_GRP_SYSX;
	if (sources & 1u << VG_SRC_NET)
		g |= 1u << VG_GRP_TCP;
	return g;
}

/* The tp hook's program: vg_sysx_tpd (plain loads) where it is loaded, else vg_sysx_tp. */
static struct bpf_program *vg_sysx_tp_prog(struct vigil_bpf *s)
{
	return bpf_program__autoload(s->progs.vg_sysx_tpd) ? s->progs.vg_sysx_tpd :
							     s->progs.vg_sysx_tp;
}

static struct bpf_program *vg_group_prog(struct vigil_bpf *s, int grp, enum vg_hook h)
{
	int btf = h == VG_HOOK_TP_BTF;

	if (h == VG_HOOK_FENTRY)
		return grp == VG_GRP_FORK ? s->progs.vg_fork_fent : NULL;
	if (h == VG_HOOK_TP)
		return grp == VG_GRP_SYSX ? vg_sysx_tp_prog(s) : NULL;

	switch (grp) {
	case VG_GRP_EXEC:
		return btf ? s->progs.vg_exec_btf : s->progs.vg_exec_raw;
	case VG_GRP_FORK:
		return btf ? s->progs.vg_fork_btf : s->progs.vg_fork_raw;
	case VG_GRP_EXIT:
		return btf ? s->progs.vg_exit_btf : s->progs.vg_exit_raw;
	case VG_GRP_SYSX:
		return btf ? s->progs.vg_sysx_btf : s->progs.vg_sysx_raw;
	default:
		return btf ? s->progs.vg_tcp_btf : s->progs.vg_tcp_raw;
	}
}

/* The syscalls watched per source, by number and by name (the tp hook's tracepoints). */
#define VG_SC(src, name)                        \
	{                                       \
		VG_SRC_##src, SYS_##name, #name \
	}
static const struct vg_syscall {
	int src;
	long nr;
	const char *name;
} vg_syscalls[] = {
	VG_SC(FILE, open),	  VG_SC(FILE, openat),	  VG_SC(FILE, openat2),
	VG_SC(FILE, creat),	  VG_SC(FILE, unlink),	  VG_SC(FILE, unlinkat),
	VG_SC(FILE, rmdir),	  VG_SC(FILE, rename),	  VG_SC(FILE, renameat),
	VG_SC(FILE, renameat2),	  VG_SC(FILE, chmod),	  VG_SC(FILE, fchmod),
	VG_SC(FILE, fchmodat),	  VG_SC(FILE, fchmodat2), VG_SC(FILE, chown),
	VG_SC(FILE, fchown),	  VG_SC(FILE, lchown),	  VG_SC(FILE, fchownat),
	VG_SC(NET, accept),	  VG_SC(NET, accept4),	  VG_SC(NET, connect),
	VG_SC(NET, sendto),	  VG_SC(NET, sendmsg),	  VG_SC(NET, sendmmsg),
	VG_SC(SEC, ptrace),	  VG_SC(SEC, bpf),	  VG_SC(SEC, init_module),
	VG_SC(SEC, finit_module), VG_SC(SEC, setuid),	  VG_SC(SEC, setgid),
	VG_SC(SEC, setreuid),	  VG_SC(SEC, setregid),	  VG_SC(SEC, setresuid),
	VG_SC(SEC, setresgid),	  VG_SC(FILE, mkdir),	  VG_SC(FILE, mkdirat),
	VG_SC(FILE, link),	  VG_SC(FILE, linkat),	  VG_SC(FILE, symlink),
	VG_SC(FILE, symlinkat),	  VG_SC(FILE, setxattr),  VG_SC(FILE, lsetxattr),
	VG_SC(FILE, fsetxattr),	  VG_SC(FILE, ioctl),	  VG_SC(FILE, utimensat),
	VG_SC(FILE, futimesat),	  VG_SC(FILE, utimes),	  VG_SC(FILE, utime),
	VG_SC(SEC, kill),	  VG_SC(SEC, tkill),	  VG_SC(SEC, tgkill),
	VG_SC(FILE, execve),	  VG_SC(FILE, execveat),  VG_SC(FILE, mmap),
	VG_SC(DNSR, recvfrom),	  VG_SC(DNSR, recvmsg),	  VG_SC(DNSR, recvmmsg),
};

/*
 * Is a watched syscall one this kernel has? A kernel built without module
 * support (no /proc/modules) answers init_module and finit_module with
 * ENOSYS and has no tracepoint for them: no hook watches them there, so
 * every hook reports the same events.
 */
static int vg_syscall_present(const struct vg_syscall *sc)
{
	if (sc->nr == SYS_init_module || sc->nr == SYS_finit_module)
		return !access("/proc/modules", F_OK);
	return 1;
}

/* The syscalls sys_exit watches for the wanted sources. */
static void vg_sys_mask(volatile __u64 *mask, unsigned int sources)
{
	for (size_t i = 0; i < 8; i++)
		mask[i] = 0;
	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++)
		if (sources & 1u << vg_syscalls[i].src && vg_syscall_present(&vg_syscalls[i]))
			mask[vg_syscalls[i].nr / 64] |= 1ull << (vg_syscalls[i].nr % 64);
}

/*
 * The tp hook attaches through perf events, which name a tracepoint by the
 * id tracefs shows (libbpf reads it from debugfs's tracing/ when that
 * exists, else from /sys/kernel/tracing). Where tracefs is not mounted,
 * vigild mounts it on /sys/kernel/tracing, where systemd mounts it at boot,
 * and leaves it there: unmounting it after the attach let a second vigild
 * starting at the same moment (three sensors of a test, WSL distributions)
 * find the tracepoints gone halfway through its own attach, and watch fewer
 * syscalls than it said.
 */
#define VG_TRACEFS "/sys/kernel/tracing"

static const char *vg_tracefs_events(void)
{
	return access("/sys/kernel/debug/tracing", F_OK) ? VG_TRACEFS "/events" :
							   "/sys/kernel/debug/tracing/events";
}

/* 0 when the syscall tracepoints can be read, else a negative errno. */
int vg_tracefs_hold(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/syscalls", vg_tracefs_events());
	if (!access(p, F_OK))
		return 0;
	if (access(VG_TRACEFS "/events", F_OK)) {
		if (mount("nodev", VG_TRACEFS, "tracefs", 0, NULL))
			return -errno;
		vg_log(VG_DEBUG, "mounted tracefs on %s (it stays mounted)", VG_TRACEFS);
	}
	return access(p, F_OK) ? -ENOENT : 0;
}

/* Is this watched syscall's exit tracepoint one this kernel has (tracefs held)? */
static int vg_sysx_tp_present(const struct vg_syscall *sc)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/syscalls/sys_exit_%s", vg_tracefs_events(), sc->name);
	return vg_syscall_present(sc) && !access(path, F_OK);
}

/*
 * The tp hook: 0 when tracefs can be read and this kernel has a tracepoint
 * for at least one watched syscall, else a negative errno. A syscall this
 * kernel lacks (fchmodat2 before v6.6) has no tracepoint and nothing to
 * watch.
 */
static int vg_sysx_tp_check(unsigned int sources)
{
	int err = vg_tracefs_hold();

	if (err)
		return err;
	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++)
		if (sources & 1u << vg_syscalls[i].src && vg_sysx_tp_present(&vg_syscalls[i]))
			return 0;
	return -ENOENT;
}

/*
 * Hook fentry (kern/fexit.bpf.h): the fexit program of a watched syscall,
 * vg_fx_NAME, is loaded where this kernel has the syscall's function
 * (__x64_sys_NAME in its BTF; fchmodat2 came with v6.6).
 */
static struct btf *vg_vmlinux_btf;

/* Does the kernel's BTF have this function (read once)? */
static int vg_kernel_has_fn(const char *fn)
{
	if (!vg_vmlinux_btf) {
		vg_vmlinux_btf = btf__load_vmlinux_btf();
		if (!vg_vmlinux_btf)
			return 0;
	}
	return btf__find_by_name_kind(vg_vmlinux_btf, fn, BTF_KIND_FUNC) > 0;
}

static int vg_sysx_fn_present(const struct vg_syscall *sc)
{
	char fn[64];

	if (!vg_syscall_present(sc))
		return 0;
	snprintf(fn, sizeof(fn), "__x64_sys_%s", sc->name);
	return vg_kernel_has_fn(fn);
}

/*
 * Is the syscall function's struct pt_regs argument only a forward
 * declaration in the kernel's BTF (5.10: the verifier then refuses to read
 * it, and kern/fexit.bpf.h reads the registers from the task's stack)?
 */
static int vg_sysx_fn_regs_fwd(const struct vg_syscall *sc)
{
	const struct btf_type *t;
	char fn[64];
	int id;

	snprintf(fn, sizeof(fn), "__x64_sys_%s", sc->name);
	id = btf__find_by_name_kind(vg_vmlinux_btf, fn, BTF_KIND_FUNC);
	t = id > 0 ? btf__type_by_id(vg_vmlinux_btf, btf__type_by_id(vg_vmlinux_btf, id)->type) :
		     NULL;
	if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 1)
		return 0;
	t = btf__type_by_id(vg_vmlinux_btf, btf_params(t)[0].type);
	if (!t || !btf_is_ptr(t))
		return 0;
	/* By hand: btf__resolve_type() takes a forward declaration for void. */
	do
		t = btf__type_by_id(vg_vmlinux_btf, t->type);
	while (t && btf_is_mod(t));
	return t && btf_is_fwd(t);
}

static struct bpf_program *vg_sysx_fx_prog(struct vigil_bpf *s, const struct vg_syscall *sc)
{
	char name[64];

	snprintf(name, sizeof(name), "vg_fx_%s", sc->name);
	return bpf_object__find_program_by_name(s->obj, name);
}

/*
 * Load the fexit program of each watched syscall this kernel has, and no
 * other; -ENOENT when there is none (then nothing to watch this way).
 */
static int vg_sysx_fx_select(struct vigil_bpf *s, unsigned int sources, int on)
{
	int any = 0;

	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++) {
		const struct vg_syscall *sc = &vg_syscalls[i];
		struct bpf_program *p = vg_sysx_fx_prog(s, sc);
		int load = on && sources & 1u << sc->src && vg_sysx_fn_present(sc);

		if (!p) {
			/* Every watched syscall has its VG_FX() line in kern/fexit.bpf.h. */
			if (load)
				return vg_err(-ENOENT, "fentry: no program vg_fx_%s", sc->name);
			continue;
		}
		bpf_program__set_autoload(p, load);
		bpf_program__set_autoattach(p, false); /* vg_sysx_fx_attach() */
		if (load)
			s->rodata->vg_fx_regs_fwd[sc->nr] = (__u8)vg_sysx_fn_regs_fwd(sc);
		any |= load;
	}
	return on && !any ? -ENOENT : 0;
}

/* Attach the fexit program of every watched syscall loaded (fentry hook). */
static int vg_sysx_fx_attach(struct vg_bpf *b, unsigned int sources)
{
	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++) {
		const struct vg_syscall *sc = &vg_syscalls[i];
		struct bpf_program *p = vg_sysx_fx_prog(b->skel, sc);

		if (!p || !bpf_program__autoload(p) || !(sources & 1u << sc->src))
			continue;
		if (b->ntp_links >= VG_TP_LINKS_MAX)
			return -E2BIG;
		b->tp_links[b->ntp_links] = bpf_program__attach_trace(p);
		if (!b->tp_links[b->ntp_links])
			return vg_err(-errno, "attach fexit to __x64_sys_%s", sc->name);
		b->ntp_links++;
	}
	return 0;
}

/* Attach the tp program to the exit tracepoint of every watched syscall this kernel has. */
static int vg_sysx_tp_attach(struct vg_bpf *b, unsigned int sources)
{
	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++) {
		const struct vg_syscall *sc = &vg_syscalls[i];
		char tp[64];

		if (!(sources & 1u << sc->src) || !vg_sysx_tp_present(sc))
			continue;
		if (b->ntp_links >= VG_TP_LINKS_MAX)
			return -E2BIG;
		snprintf(tp, sizeof(tp), "sys_exit_%s", sc->name);
		b->tp_links[b->ntp_links] =
			bpf_program__attach_tracepoint(vg_sysx_tp_prog(b->skel), "syscalls", tp);
		if (!b->tp_links[b->ntp_links])
			return vg_err(-errno, "attach to tracepoint syscalls/%s", tp);
		b->ntp_links++;
	}
	return 0;
}

/*
 * The syscalls whose entry is watched too (kern/sys.bpf.c, vg_sys_enter):
 * a chattr's and an fd's explicit times' old values, read before the
 * syscall changes them. With fentry, the fentry program vg_fn_NAME: only
 * these two syscalls pay for it. With the tracepoint hooks (tp, tp_btf,
 * raw_tp), vg_sysn_tp on the entry tracepoint of each, only with
 * --old-values: an entry tracepoint, even one, puts the kernel's
 * sys_enter probe on every syscall of the machine (getppid: +15 ns, a
 * third of the sensor's cost on a syscall it does not watch, measured on
 * 6.18). Only their events' old values depend on it: without it (or
 * where tracefs cannot be had for tp_btf and raw_tp) the same events come
 * without them.
 */
static const char *const vg_sys_enters[] = { "ioctl", "utimensat" };

static const struct vg_syscall *vg_syscall_named(const char *name)
{
	for (size_t i = 0; i < sizeof(vg_syscalls) / sizeof(vg_syscalls[0]); i++)
		if (!strcmp(vg_syscalls[i].name, name))
			return &vg_syscalls[i];
	return NULL;
}

static void vg_sysn_select(struct vigil_bpf *s, const struct vg_bpf_opts *o, enum vg_hook h)
{
	int file = !!(o->sources & 1u << VG_SRC_FILE);

	for (size_t i = 0; i < sizeof(vg_sys_enters) / sizeof(vg_sys_enters[0]); i++) {
		const struct vg_syscall *sc = vg_syscall_named(vg_sys_enters[i]);
		char name[64];
		struct bpf_program *p;

		snprintf(name, sizeof(name), "vg_fn_%s", vg_sys_enters[i]);
		p = bpf_object__find_program_by_name(s->obj, name);
		bpf_program__set_autoload(p, file && h == VG_HOOK_FENTRY && sc &&
						     vg_sysx_fn_present(sc));
		bpf_program__set_autoattach(p, false); /* vg_sysn_attach() */
	}
	bpf_program__set_autoload(
		s->progs.vg_sysn_tp,
		file && o->old_values &&
			(h == VG_HOOK_TP || h == VG_HOOK_TP_BTF || h == VG_HOOK_RAW_TP));
	bpf_program__set_autoattach(s->progs.vg_sysn_tp, false);
}

/* Attach the entry programs vg_sysn_select() loaded. */
static int vg_sysn_attach(struct vg_bpf *b)
{
	int tp = bpf_program__autoload(b->skel->progs.vg_sysn_tp);
	char path[192];

	if (tp && vg_tracefs_hold()) {
		vg_log(VG_INFO, "no tracefs: the flags and times a chattr or futimens replace are"
				" not reported");
		return 0;
	}
	for (size_t i = 0; i < sizeof(vg_sys_enters) / sizeof(vg_sys_enters[0]); i++) {
		const char *n = vg_sys_enters[i];
		struct bpf_program *p;

		if (b->ntp_links >= VG_TP_LINKS_MAX)
			return -E2BIG;
		if (tp) {
			snprintf(path, sizeof(path), "%s/syscalls/sys_enter_%s",
				 vg_tracefs_events(), n);
			if (access(path, F_OK))
				continue;
			snprintf(path, sizeof(path), "sys_enter_%s", n);
			b->tp_links[b->ntp_links] = bpf_program__attach_tracepoint(
				b->skel->progs.vg_sysn_tp, "syscalls", path);
		} else {
			snprintf(path, sizeof(path), "vg_fn_%s", n);
			p = bpf_object__find_program_by_name(b->skel->obj, path);
			if (!p || !bpf_program__autoload(p))
				continue;
			b->tp_links[b->ntp_links] = bpf_program__attach_trace(p);
		}
		if (!b->tp_links[b->ntp_links])
			return vg_err(-errno, "attach to the entry of %s", n);
		b->ntp_links++;
	}
	return 0;
}

/*
 * Credential and key files whose read is reported (SensitiveFileRead), as
 * (parent directory name, file name); an empty name matches every file of
 * the directory. Names, not paths: the kernel compares two dentry names.
 */
static const char *const vg_watch[][2] = {
	{ "etc", "shadow" },
	{ "etc", "gshadow" },
	{ "etc", "sudoers" },
	{ ".ssh", "" },
	{ ".aws", "credentials" },
	{ ".aws", "config" },
	{ ".kube", "config" },
	{ ".docker", "config.json" },
	{ ".azure", "accessTokens.json" },
	{ "gcloud", "credentials.db" },
	{ "gcloud", "application_default_credentials.json" },
	{ ".gnupg", "" },
};

#define VG_NWATCH (sizeof(vg_watch) / sizeof(vg_watch[0]))
#define VG_SENS_DIRS 16 /* kern/sys.bpf.c: vg_sens_dir's slots */

/* The directory name of entry i: the built-in list's, then --sensitive-read's. */
static const char *vg_sens_dir_of(const struct vg_bpf_opts *o, size_t i)
{
	return i < VG_NWATCH ? vg_watch[i][0] : o->sens[i - VG_NWATCH].dir;
}

/*
 * Each watched directory name once, as its length and first 8 bytes
 * (kern/sys.bpf.c), into dirs and its bit into *bloom when given; how many
 * there are.
 */
struct vg_sens_dir_slot {
	__u64 head;
	__u32 len, _pad;
};

static size_t vg_sens_dirs(const struct vg_bpf_opts *o, volatile struct vg_sens_dir_slot *dirs,
			   uint64_t *bloom)
{
	struct {
		uint64_t head;
		uint32_t len;
	} seen[VG_SENS_DIRS + 1];
	size_t n = 0;

	for (size_t i = 0; i < VG_NWATCH + (size_t)o->nsens && n <= VG_SENS_DIRS; i++) {
		const char *d = vg_sens_dir_of(o, i);
		uint64_t head = 0;
		uint32_t len = (uint32_t)strlen(d);
		size_t k;

		memcpy(&head, d, len < 8 ? len : 8);
		for (k = 0; k < n; k++)
			if (seen[k].len == len && seen[k].head == head)
				break;
		if (k < n)
			continue;
		seen[n].len = len;
		seen[n].head = head;
		if (dirs && n < VG_SENS_DIRS) {
			dirs[n].len = len;
			dirs[n].head = head;
		}
		if (bloom)
			*bloom |= 1ull << VG_SENS_DIR_BIT(len, head);
		n++;
	}
	return n;
}

int vg_bpf_sens_add(struct vg_bpf_opts *o, const char *path)
{
	struct vg_sens_entry *e = &o->sens[o->nsens];
	const char *end = path + strlen(path), *name, *dir;
	size_t nlen, dlen;

	if (o->nsens == VG_SENS_EXTRA)
		return vg_err(-EINVAL, "--sensitive-read: at most %d", VG_SENS_EXTRA);
	/* the last component (empty after a trailing /), then its parent's */
	name = end;
	while (name > path && name[-1] != '/')
		name--;
	nlen = (size_t)(end - name);
	dir = name > path ? name - 1 : path;
	while (dir > path && dir[-1] != '/')
		dir--;
	dlen = (size_t)(name > path ? name - 1 - dir : 0);
	if (!dlen || (dlen == 1 && *dir == '.') || (dlen == 2 && !strncmp(dir, "..", 2)) ||
	    (nlen == 1 && *name == '.') || (nlen == 2 && !strncmp(name, "..", 2)))
		return vg_err(-EINVAL,
			      "--sensitive-read %s: give the file's directory and name (DIR/NAME,"
			      " /etc/krb5.keytab), or DIR/ for every file of DIR",
			      path);
	if (dlen >= sizeof(e->dir) || nlen >= sizeof(e->name))
		return vg_err(-EINVAL,
			      "--sensitive-read %s: the kernel compares names of at most %zu bytes",
			      path, sizeof(e->dir) - 1);
	memset(e, 0, sizeof(*e));
	memcpy(e->dir, dir, dlen);
	memcpy(e->name, name, nlen);
	o->nsens++;
	if (vg_sens_dirs(o, NULL, NULL) > VG_SENS_DIRS) {
		static const struct vg_bpf_opts none;

		o->nsens--;
		return vg_err(-EINVAL,
			      "--sensitive-read %s: at most %d directory names in all, the built-in"
			      " list's %zu included",
			      path, VG_SENS_DIRS, vg_sens_dirs(&none, NULL, NULL));
	}
	return 0;
}

/* open -> configure -> load with the given hook per group (VG_HOOK_NONE: not loaded). */
static int vg_bpf_load_as(struct vigil_bpf **out, const struct vg_bpf_opts *o,
			  const enum vg_hook hooks[VG_GRP_MAX], uint32_t ring_bytes, int direct);

/*
 * Load with the hooks given. For the tp hook, vg_sysx_tpd first where the
 * kernel has what it calls; should this kernel's verifier refuse it,
 * vg_sysx_tp (the same events, its file read by helper calls).
 */
int vg_bpf_load(struct vigil_bpf **out, const struct vg_bpf_opts *o,
		const enum vg_hook hooks[VG_GRP_MAX], uint32_t ring_bytes)
{
	/* Known once the helper-read program loaded where it did not: not verified again. */
	static int tpd_refused;
	int err, tpd_err = 0;

	/* vg_sysx_tpd calls bpf_rdonly_cast(), a kfunc from v6.2. */
	if (hooks[VG_GRP_SYSX] == VG_HOOK_TP && !tpd_refused &&
	    vg_kernel_has_fn("bpf_rdonly_cast")) {
		tpd_err = vg_bpf_load_as(out, o, hooks, ring_bytes, 1);
		if (!tpd_err)
			return 0;
	}
	err = vg_bpf_load_as(out, o, hooks, ring_bytes, 0);
	if (tpd_err && !err) {
		tpd_refused = 1;
		vg_log(VG_INFO,
		       "tp hook: the kernel refused the program that reads an open's "
		       "file by plain loads (%s); the one that reads it by helper calls "
		       "instead",
		       strerror(-tpd_err));
	}
	return err;
}

/*
 * A jiffy in ns: the coarse clocks tick with them (their resolution is the
 * kernel's TICK_NSEC). 0 when it does not look like one (1 us to 100 ms):
 * duplicates then read the clock (kern/limit.bpf.h, vg_dedup_est).
 */
static uint64_t vg_tick_ns(void)
{
	struct timespec r;
	uint64_t ns;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &r))
		return 0;
	ns = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
	return ns >= 1000 && ns <= 100000000 ? ns : 0;
}

static int vg_bpf_load_as(struct vigil_bpf **out, const struct vg_bpf_opts *o,
			  const enum vg_hook hooks[VG_GRP_MAX], uint32_t ring_bytes, int direct)
{
	struct vigil_bpf *s;
	uint64_t bloom = 0;
	uint32_t file_bytes;
	int err;

	s = vigil_bpf__open();
	if (!s)
		return -errno;
	s->rodata->vg_argv_max = o->argv_max;
	vg_sys_mask(s->rodata->vg_sys_mask, o->sources);
	vg_sens_dirs(o, (volatile struct vg_sens_dir_slot *)s->rodata->vg_sens_dir, &bloom);
	s->rodata->vg_sens_dir_bloom = bloom;
	s->rodata->vg_tick_ns = vg_tick_ns();
	for (int c = 0; c < VG_CLASS_MAX; c++) {
		s->rodata->vg_dedup_ns[c] = (uint64_t)o->dedup_ms[c] * 1000000;
		s->rodata->vg_rl_interval_ns[c] = o->rl[c].rate ? 1000000000ull / o->rl[c].rate : 0;
		s->rodata->vg_rl_burst[c] = o->rl[c].burst ? o->rl[c].burst : o->rl[c].rate;
		s->rodata->vg_rlg_interval_ns[c] =
			o->rlg[c].rate ? 1000000000ull / o->rlg[c].rate : 0;
		s->rodata->vg_rlg_burst[c] = o->rlg[c].burst ? o->rlg[c].burst : o->rlg[c].rate;
	}
	/* Probing loads use small rings (ring_bytes is then a page or so) for every ring. */
	file_bytes = o->file_ringbuf_kb && ring_bytes >= vg_ringbuf_size(o->ringbuf_kb) ?
			     vg_ringbuf_size(o->file_ringbuf_kb) :
			     ring_bytes;
	err = bpf_map__set_max_entries(s->maps.vg_rb_proc, ring_bytes);
	err = err ?: bpf_map__set_max_entries(s->maps.vg_rb_file, file_bytes);
	err = err   ?:
		      bpf_map__set_max_entries(s->maps.vg_rb_net,
					       vg_ringbuf_size(ring_bytes / 4096));
	if (err)
		goto err_destroy;
	for (int g = 0; g < VG_GRP_MAX; g++) {
		bpf_program__set_autoload(vg_group_prog(s, g, VG_HOOK_TP_BTF),
					  hooks[g] == VG_HOOK_TP_BTF);
		bpf_program__set_autoload(vg_group_prog(s, g, VG_HOOK_RAW_TP),
					  hooks[g] == VG_HOOK_RAW_TP);
	}
	bpf_program__set_autoload(s->progs.vg_fork_fent, hooks[VG_GRP_FORK] == VG_HOOK_FENTRY);
	bpf_program__set_autoload(s->progs.vg_sysx_tp, hooks[VG_GRP_SYSX] == VG_HOOK_TP && !direct);
	bpf_program__set_autoload(s->progs.vg_sysx_tpd, hooks[VG_GRP_SYSX] == VG_HOOK_TP && direct);
	bpf_program__set_autoattach(s->progs.vg_sysx_tp, false); /* vg_sysx_tp_attach() */
	bpf_program__set_autoattach(s->progs.vg_sysx_tpd, false);
	if (hooks[VG_GRP_SYSX] == VG_HOOK_TP) {
		err = vg_sysx_tp_check(o->sources);
		if (err)
			goto err_destroy;
	}
	err = vg_sysx_fx_select(s, o->sources, hooks[VG_GRP_SYSX] == VG_HOOK_FENTRY);
	if (err)
		goto err_destroy;
	vg_sysn_select(s, o, hooks[VG_GRP_SYSX]);
	err = vigil_bpf__load(s);
	if (err)
		goto err_destroy;
	*out = s;
	return 0;

err_destroy:
	vigil_bpf__destroy(s);
	return err;
}

/* The hooks to try for a group, in order: the fast path first where there is one. */
int vg_candidates(const struct vg_bpf_opts *o, int g, enum vg_hook c[VG_CAND_MAX])
{
	int n = 0;

	if ((g == VG_GRP_FORK || g == VG_GRP_SYSX) && o->hook == VG_HOOK_AUTO)
		c[n++] = VG_HOOK_FENTRY;
	if (g == VG_GRP_SYSX && o->hook == VG_HOOK_AUTO)
		c[n++] = VG_HOOK_TP;
	if (o->hook != VG_HOOK_RAW_TP)
		c[n++] = VG_HOOK_TP_BTF;
	if (o->hook != VG_HOOK_TP_BTF)
		c[n++] = VG_HOOK_RAW_TP;
	return n;
}

int vg_bpf_check_kernel(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		vg_log(VG_ERROR,
		       "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): vigil "
		       "needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return -ENOTSUP;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		vg_log(VG_ERROR, "this kernel has no BPF ring buffers: vigil needs Linux 5.8 or "
				 "later with CONFIG_BPF_SYSCALL=y (and root)");
		return -ENOTSUP;
	}
	return 0;
}

static int vg_bpf_start_hooks(struct vg_bpf *b, const struct vg_bpf_opts *o);

int vg_bpf_start(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	memset(b, 0, sizeof(*b));
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus < 0)
		return vg_err(b->ncpus, "count possible CPUs");
	return vg_bpf_start_hooks(b, o);
}

/* vg_bpf_start() once the CPUs are counted. */
static int vg_bpf_start_hooks(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	unsigned int want = vg_groups_wanted(o->sources);
	enum vg_hook hooks[VG_GRP_MAX];
	int err, any = 0, need_probe = 0;

	b->ringbuf_bytes = vg_ringbuf_size(o->ringbuf_kb);

	/* The common case first: every group on its preferred hook, one load. */
	for (int g = 0; g < VG_GRP_MAX; g++) {
		enum vg_hook c[VG_CAND_MAX];

		vg_candidates(o, g, c);
		hooks[g] = want & 1u << g ? c[0] : VG_HOOK_NONE;
		if (hooks[g] != VG_HOOK_NONE && o->deny[g] & 1u << hooks[g])
			hooks[g] = VG_HOOK_AUTO; /* needs probing */
		b->grp[g].hook = hooks[g];
		snprintf(b->grp[g].why, sizeof(b->grp[g].why), "%s",
			 hooks[g] == VG_HOOK_NONE ? "not wanted (--sources)" :
						    "preferred hook loads");
	}
	err = -EAGAIN;
	for (int g = 0; g < VG_GRP_MAX; g++)
		if (hooks[g] == VG_HOOK_AUTO)
			goto probe;
	vg_quiet_libbpf = 1;
	/*
	 * The fast path alone first: a load of one small program (fork's, whether
	 * fork is watched or not) tells whether this kernel takes fentry, so a
	 * refusal does not cost a failed load of everything and a probe of every
	 * attach point.
	 */
	if (hooks[VG_GRP_FORK] == VG_HOOK_FENTRY || hooks[VG_GRP_SYSX] == VG_HOOK_FENTRY) {
		enum vg_hook only[VG_GRP_MAX], c[VG_CAND_MAX];
		struct vigil_bpf *s = NULL;

		for (int g = 0; g < VG_GRP_MAX; g++)
			only[g] = g == VG_GRP_FORK ? VG_HOOK_FENTRY : VG_HOOK_NONE;
		err = vg_bpf_load(&s, o, only, vg_ringbuf_size(64));
		vigil_bpf__destroy(s);
		for (int g = 0; err && g < VG_GRP_MAX; g++) {
			int n, i = 1;

			if (hooks[g] != VG_HOOK_FENTRY)
				continue;
			/* The next hook --deny-hook leaves (sys_exit:tp denied: tp_btf). */
			n = vg_candidates(o, g, c);
			while (i < n && o->deny[g] & 1u << c[i])
				i++;
			if (i == n) {
				need_probe = 1; /* every other hook denied: probing says so */
				break;
			}
			hooks[g] = b->grp[g].hook = c[i];
			snprintf(b->grp[g].why, sizeof(b->grp[g].why),
				 "fentry refused: %s; %s loads", strerror(-err),
				 vg_hook_name(c[i]));
		}
	}
	err = need_probe ? -EAGAIN : vg_bpf_load(&b->skel, o, hooks, b->ringbuf_bytes);
	vg_quiet_libbpf = 0;
	if (err) {
probe:
		vg_log(VG_DEBUG, "one load with preferred hooks failed; probing each attach point");
		err = vg_bpf_probe(b, o);
		if (err)
			return vg_err(err,
				      "no attach point can be loaded (vigild --probe says why; "
				      "-v shows the verifier log)");
		for (int g = 0; g < VG_GRP_MAX; g++)
			hooks[g] = b->grp[g].hook;
		err = vg_bpf_load(&b->skel, o, hooks, b->ringbuf_bytes);
		if (err)
			return vg_err(err, "load BPF programs (-v shows the verifier log)");
	}
	for (int g = 0; g < VG_GRP_MAX; g++) {
		if (b->grp[g].hook == VG_HOOK_NONE)
			continue;
		any = 1;
		/* Only a fallback to raw_tp is worth a warning; a refused fast path is expected. */
		if (want & 1u << g && strstr(b->grp[g].why, "refused"))
			vg_log(b->grp[g].hook == VG_HOOK_RAW_TP ? VG_WARN : VG_DEBUG, "%s: %s",
			       vg_group_name(g), b->grp[g].why);
	}
	for (int g = 0; g < VG_GRP_MAX; g++)
		if (want & 1u << g && b->grp[g].hook == VG_HOOK_NONE)
			vg_log(VG_WARN, "%s not attached (%s): its events are not reported",
			       vg_group_name(g), b->grp[g].why);
	if (!any)
		return vg_err(-ENOTSUP, "nothing to attach");

	err = vg_bpf_watch_defaults(b, o);
	err = err ?: vg_bpf_ignore_pid(b, (uint32_t)getpid());
	for (int i = 0; !err && i < o->nignore; i++)
		err = vg_bpf_ignore_pid(b, o->ignore[i]);
	if (err)
		goto err_destroy;
	err = vigil_bpf__attach(b->skel);
	if (err) {
		vg_err(err, "attach BPF programs");
		goto err_destroy;
	}
	if (b->grp[VG_GRP_SYSX].hook == VG_HOOK_TP || b->grp[VG_GRP_SYSX].hook == VG_HOOK_FENTRY) {
		err = b->grp[VG_GRP_SYSX].hook == VG_HOOK_TP ? vg_sysx_tp_attach(b, o->sources) :
							       vg_sysx_fx_attach(b, o->sources);
	}
	if (b->grp[VG_GRP_SYSX].hook != VG_HOOK_NONE)
		err = err ?: vg_sysn_attach(b);
	if (err) {
		vg_bpf_detach(b);
		vg_bpf_stop(b);
		return err;
	}
	return 0;

err_destroy:
	vigil_bpf__destroy(b->skel);
	b->skel = NULL;
	return err;
}

int vg_bpf_watch_defaults(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	for (size_t i = 0; i < VG_NWATCH + (size_t)o->nsens; i++) {
		struct {
			char dir[16];
			char name[16];
		} k = {};
		uint8_t one = 1;
		int err;

		strncpy(k.dir, vg_sens_dir_of(o, i), sizeof(k.dir) - 1);
		strncpy(k.name, i < VG_NWATCH ? vg_watch[i][1] : o->sens[i - VG_NWATCH].name,
			sizeof(k.name) - 1);
		err = bpf_map__update_elem(b->skel->maps.vg_sensitive, &k, sizeof(k), &one,
					   sizeof(one), BPF_ANY);
		if (err)
			return vg_err(err, "fill the sensitive file list");
	}
	return 0;
}

void vg_bpf_ring_stats(struct vg_bpf *b, struct vg_ring_stat out[3])
{
	struct bpf_map *maps[VG_RING_MAX] = { b->skel->maps.vg_rb_proc, b->skel->maps.vg_rb_file,
					      b->skel->maps.vg_rb_net };

	for (int i = 0; i < VG_RING_MAX; i++) {
		volatile struct vg_ring_fill *f = &b->skel->bss->vg_fill[i];

		out[i].name = vg_ring_name(i);
		out[i].size = bpf_map__max_entries(maps[i]);
		out[i].fill = f->fill;
		out[i].peak = f->peak;
		f->peak = 0;
	}
}

/* One after the other: the kernel serializes them anyway. */
static void *vg_tp_links_destroy(void *arg)
{
	struct vg_bpf *b = arg;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < b->ntp_links; i++)
		bpf_link__destroy(b->tp_links[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	vg_log(VG_DEBUG, "%d syscall hooks released in %lld ms", b->ntp_links,
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	b->ntp_links = 0;
	return NULL;
}

/*
 * Releasing a syscall tracepoint's perf event waits for grace periods
 * under a kernel mutex (three since v6.13, where syscall tracepoints may
 * fault): the tp hook's 32 took 2 s on a busy 2-CPU machine. So its program
 * is switched off first (vg_sysx_off, and one grace period, membarrier's,
 * for any run still going), and the tracepoints are released in a thread
 * while vigild drains and sends its last batch; vg_bpf_stop() waits for it.
 * Nothing is reported after this returns, as before.
 */
void vg_bpf_detach(struct vg_bpf *b)
{
	if (!b->skel)
		return;
	if (b->ntp_links && !b->tp_releasing) {
		__atomic_store_n(&b->skel->bss->vg_sysx_off, 1, __ATOMIC_SEQ_CST);
		if (syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0))
			vg_log(VG_DEBUG, "membarrier: %s", strerror(errno));
		if (!pthread_create(&b->tp_release, NULL, vg_tp_links_destroy, b))
			b->tp_releasing = 1;
		else
			vg_tp_links_destroy(b);
	}
	vigil_bpf__detach(b->skel);
}

void vg_bpf_stop(struct vg_bpf *b)
{
	if (b->tp_releasing)
		pthread_join(b->tp_release, NULL);
	else if (b->ntp_links)
		vg_tp_links_destroy(b);
	b->tp_releasing = 0;
	vg_bpf_sweep_free(b);
	vigil_bpf__destroy(b->skel);
	b->skel = NULL;
}

int vg_bpf_ignore_pid(struct vg_bpf *b, uint32_t tgid)
{
	uint8_t one = 1;
	int err;

	err = bpf_map__update_elem(b->skel->maps.vg_ignore, &tgid, sizeof(tgid), &one, sizeof(one),
				   BPF_ANY);
	return err ? vg_err(err, "ignore pid %u", tgid) : 0;
}

int vg_bpf_ringbuf_fd(const struct vg_bpf *b, int which)
{
	switch (which) {
	case VG_RING_PROC:
		return bpf_map__fd(b->skel->maps.vg_rb_proc);
	case VG_RING_FILE:
		return bpf_map__fd(b->skel->maps.vg_rb_file);
	default:
		return bpf_map__fd(b->skel->maps.vg_rb_net);
	}
}

int vg_bpf_counts(const struct vg_bpf *b, struct vg_counts *out)
{
	enum { N = VG_CLASS_MAX * VG_CNT_MAX };
	uint64_t *vals = calloc((size_t)b->ncpus * N, sizeof(*vals));
	uint32_t keys[N], n = N, cursor;
	int err;

	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	/* Every counter in one syscall (kernels since 5.6), else one a counter. */
	err = bpf_map_lookup_batch(bpf_map__fd(b->skel->maps.vg_counters), NULL, &cursor, keys,
				   vals, &n, NULL);
	if ((!err || err == -ENOENT) && n == N) {
		for (uint32_t i = 0; i < N; i++)
			for (int c = 0; c < b->ncpus; c++)
				out->v[keys[i] / VG_CNT_MAX % VG_CLASS_MAX][keys[i] % VG_CNT_MAX] +=
					vals[(size_t)i * (size_t)b->ncpus + (size_t)c];
		free(vals);
		return 0;
	}
	err = 0;
	for (uint32_t key = 0; key < N; key++) {
		err = bpf_map__lookup_elem(b->skel->maps.vg_counters, &key, sizeof(key), vals,
					   sizeof(*vals) * (size_t)b->ncpus, 0);
		if (err)
			break;
		for (int c = 0; c < b->ncpus; c++)
			out->v[key / VG_CNT_MAX][key % VG_CNT_MAX] += vals[c];
	}
	free(vals);
	return err;
}
