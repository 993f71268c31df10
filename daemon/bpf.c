// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
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

static struct bpf_program *vg_group_prog(struct vigil_bpf *s, int grp, enum vg_hook h)
{
	int btf = h == VG_HOOK_TP_BTF;

	if (h == VG_HOOK_FENTRY)
		return grp == VG_GRP_FORK ? s->progs.vg_fork_fent : NULL;

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

static void vg_mask_set(volatile __u64 *mask, long nr)
{
	mask[nr / 64] |= 1ull << (nr % 64);
}

/* The syscalls sys_exit watches for the wanted sources. */
static void vg_sys_mask(volatile __u64 *mask, unsigned int sources)
{
	static const long file[] = {
		SYS_open,     SYS_openat,    SYS_openat2,  SYS_creat,	  SYS_unlink, SYS_unlinkat,
		SYS_rmdir,    SYS_rename,    SYS_renameat, SYS_renameat2, SYS_chmod,  SYS_fchmod,
		SYS_fchmodat, SYS_fchmodat2, SYS_chown,	   SYS_fchown,	  SYS_lchown, SYS_fchownat,
	};
	static const long net[] = { SYS_accept, SYS_accept4, SYS_connect,
				    SYS_sendto, SYS_sendmsg, SYS_sendmmsg };
	static const long sec[] = { SYS_ptrace,	   SYS_bpf,	 SYS_init_module, SYS_finit_module,
				    SYS_setuid,	   SYS_setgid,	 SYS_setreuid,	  SYS_setregid,
				    SYS_setresuid, SYS_setresgid };
	size_t i;

	for (i = 0; i < 8; i++)
		mask[i] = 0;
	if (sources & 1u << VG_SRC_FILE)
		for (i = 0; i < sizeof(file) / sizeof(file[0]); i++)
			vg_mask_set(mask, file[i]);
	if (sources & 1u << VG_SRC_NET)
		for (i = 0; i < sizeof(net) / sizeof(net[0]); i++)
			vg_mask_set(mask, net[i]);
	if (sources & 1u << VG_SRC_SEC)
		for (i = 0; i < sizeof(sec) / sizeof(sec[0]); i++)
			vg_mask_set(mask, sec[i]);
}

/* open -> configure -> load with the given hook per group (VG_HOOK_NONE: not loaded). */
int vg_bpf_load(struct vigil_bpf **out, const struct vg_bpf_opts *o,
		const enum vg_hook hooks[VG_GRP_MAX], uint32_t ring_bytes)
{
	struct vigil_bpf *s;
	uint32_t file_bytes;
	int err;

	s = vigil_bpf__open();
	if (!s)
		return -errno;
	s->rodata->vg_argv_max = o->argv_max;
	vg_sys_mask(s->rodata->vg_sys_mask, o->sources);
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
int vg_candidates(const struct vg_bpf_opts *o, int g, enum vg_hook c[3])
{
	int n = 0;

	if (g == VG_GRP_FORK && o->hook == VG_HOOK_AUTO)
		c[n++] = VG_HOOK_FENTRY;
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

int vg_bpf_start(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	unsigned int want = vg_groups_wanted(o->sources);
	enum vg_hook hooks[VG_GRP_MAX];
	int err, any = 0;

	memset(b, 0, sizeof(*b));
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus < 0)
		return vg_err(b->ncpus, "count possible CPUs");
	b->ringbuf_bytes = vg_ringbuf_size(o->ringbuf_kb);

	/* The common case first: every group on its preferred hook, one load. */
	for (int g = 0; g < VG_GRP_MAX; g++) {
		enum vg_hook c[3];

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
	 * The fast path alone first: a load of one small program tells whether
	 * this kernel takes fentry, so a refusal does not cost a failed load of
	 * everything and a probe of every attach point.
	 */
	if (hooks[VG_GRP_FORK] == VG_HOOK_FENTRY) {
		enum vg_hook only[VG_GRP_MAX], c[3];
		struct vigil_bpf *s = NULL;

		for (int g = 0; g < VG_GRP_MAX; g++)
			only[g] = g == VG_GRP_FORK ? VG_HOOK_FENTRY : VG_HOOK_NONE;
		err = vg_bpf_load(&s, o, only, vg_ringbuf_size(64));
		vigil_bpf__destroy(s);
		if (err) {
			vg_candidates(o, VG_GRP_FORK, c);
			hooks[VG_GRP_FORK] = b->grp[VG_GRP_FORK].hook = c[1];
			snprintf(b->grp[VG_GRP_FORK].why, sizeof(b->grp[VG_GRP_FORK].why),
				 "fentry refused: %s; %s loads", strerror(-err),
				 vg_hook_name(c[1]));
		}
	}
	err = vg_bpf_load(&b->skel, o, hooks, b->ringbuf_bytes);
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

	err = vg_bpf_watch_defaults(b);
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
	return 0;

err_destroy:
	vigil_bpf__destroy(b->skel);
	b->skel = NULL;
	return err;
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

int vg_bpf_watch_defaults(struct vg_bpf *b)
{
	for (size_t i = 0; i < sizeof(vg_watch) / sizeof(vg_watch[0]); i++) {
		struct {
			char dir[16];
			char name[16];
		} k = {};
		uint8_t one = 1;
		int err;

		strncpy(k.dir, vg_watch[i][0], sizeof(k.dir) - 1);
		strncpy(k.name, vg_watch[i][1], sizeof(k.name) - 1);
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

void vg_bpf_detach(struct vg_bpf *b)
{
	if (b->skel)
		vigil_bpf__detach(b->skel);
}

void vg_bpf_stop(struct vg_bpf *b)
{
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
	uint64_t *vals = calloc((size_t)b->ncpus, sizeof(*vals));
	int err = 0;

	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	for (uint32_t key = 0; key < VG_CLASS_MAX * VG_CNT_MAX; key++) {
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
