// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf.h"
#include "log.h"
#include "proctable.h"
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

const char *vg_hook_name(enum vg_hook h)
{
	switch (h) {
	case VG_HOOK_TP_BTF:
		return "tp_btf";
	case VG_HOOK_RAW_TP:
		return "raw_tp";
	case VG_HOOK_NONE:
		return "none";
	case VG_HOOK_FENTRY:
		return "fentry";
	default:
		return "auto";
	}
}

static const char *const vg_class_names[VG_CLASS_MAX] = {
	[VG_CLASS_EXEC] = "exec", [VG_CLASS_FORK] = "fork",   [VG_CLASS_EXIT] = "exit",
	[VG_CLASS_FILE] = "file", [VG_CLASS_NET] = "network", [VG_CLASS_SEC] = "security",
};

const char *vg_class_name(int cls)
{
	return cls >= 0 && cls < VG_CLASS_MAX ? vg_class_names[cls] : "?";
}

static const char *const vg_source_names[VG_SRC_MAX] = {
	[VG_SRC_EXEC] = "exec", [VG_SRC_FORK] = "fork",	  [VG_SRC_EXIT] = "exit",
	[VG_SRC_FILE] = "file", [VG_SRC_NET] = "network", [VG_SRC_SEC] = "security",
};

const char *vg_source_name(int src)
{
	return src >= 0 && src < VG_SRC_MAX ? vg_source_names[src] : "?";
}

/* Group names are the attach points, as --deny-hook takes them. */
static const char *const vg_group_names[VG_GRP_MAX] = {
	[VG_GRP_EXEC] = "sched_process_exec", [VG_GRP_FORK] = "sched_process_fork",
	[VG_GRP_EXIT] = "sched_process_exit", [VG_GRP_SYSX] = "sys_exit",
	[VG_GRP_TCP] = "inet_sock_set_state",
};

const char *vg_group_name(int grp)
{
	return grp >= 0 && grp < VG_GRP_MAX ? vg_group_names[grp] : "?";
}

int vg_parse_sources(const char *list, unsigned int *out)
{
	char buf[256], *save = NULL, *w;

	snprintf(buf, sizeof(buf), "%s", list);
	*out = 0;
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int i;

		if (!strcmp(w, "all")) {
			*out = (1u << VG_SRC_MAX) - 1;
			continue;
		}
		for (i = 0; i < VG_SRC_MAX && strcmp(w, vg_source_names[i]); i++)
			;
		if (i == VG_SRC_MAX) {
			vg_log(VG_ERROR,
			       "unknown source '%s' (exec, fork, exit, file, network, security, all)",
			       w);
			return -EINVAL;
		}
		*out |= 1u << i;
	}
	return 0;
}

int vg_parse_deny(const char *arg, struct vg_bpf_opts *o)
{
	char buf[64], *hook;
	int g;

	snprintf(buf, sizeof(buf), "%s", arg);
	hook = strchr(buf, ':');
	if (hook)
		*hook++ = '\0';
	for (g = 0; g < VG_GRP_MAX && strcmp(buf, vg_group_names[g]); g++)
		;
	if (g == VG_GRP_MAX) {
		vg_log(VG_ERROR,
		       "--deny-hook: unknown attach point '%s' (sched_process_exec, "
		       "sched_process_fork, sched_process_exit, sys_exit, inet_sock_set_state)",
		       buf);
		return -EINVAL;
	}
	if (!hook)
		o->deny[g] |= 1u << VG_HOOK_TP_BTF | 1u << VG_HOOK_RAW_TP | 1u << VG_HOOK_FENTRY;
	else if (!strcmp(hook, "tp_btf"))
		o->deny[g] |= 1u << VG_HOOK_TP_BTF;
	else if (!strcmp(hook, "raw_tp"))
		o->deny[g] |= 1u << VG_HOOK_RAW_TP;
	else if (!strcmp(hook, "fentry"))
		o->deny[g] |= 1u << VG_HOOK_FENTRY;
	else {
		vg_log(VG_ERROR, "--deny-hook: unknown hook '%s' (fentry, tp_btf, raw_tp)", hook);
		return -EINVAL;
	}
	return 0;
}

uint32_t vg_ringbuf_size(uint32_t kb)
{
	uint64_t want = (uint64_t)kb * 1024, size = (uint64_t)sysconf(_SC_PAGESIZE);

	while (size < want)
		size <<= 1;
	return (uint32_t)size;
}

static unsigned int vg_groups_wanted(unsigned int sources)
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
static int vg_bpf_load(struct vigil_bpf **out, const struct vg_bpf_opts *o,
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
static int vg_candidates(const struct vg_bpf_opts *o, int g, enum vg_hook c[3])
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

int vg_bpf_probe(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	unsigned int want = vg_groups_wanted(o->sources);
	uint32_t ring = vg_ringbuf_size(64);
	int attached = 0;

	vg_quiet_libbpf = 1;
	for (int g = 0; g < VG_GRP_MAX; g++) {
		struct vg_group_state *st = &b->grp[g];
		enum vg_hook hooks[VG_GRP_MAX], cand[3];
		int n = vg_candidates(o, g, cand);
		size_t used = 0;

		st->hook = VG_HOOK_NONE;
		if (!(want & 1u << g)) {
			snprintf(st->why, sizeof(st->why), "not wanted (--sources)");
			continue;
		}
		st->why[0] = '\0';
		for (int i = 0; i < n && st->hook == VG_HOOK_NONE; i++) {
			struct vigil_bpf *s = NULL;
			int err;

			if (o->deny[g] & 1u << cand[i]) {
				used += snprintf(st->why + used, sizeof(st->why) - used,
						 "%s%s denied by --deny-hook", used ? "; " : "",
						 vg_hook_name(cand[i]));
				continue;
			}
			for (int k = 0; k < VG_GRP_MAX; k++)
				hooks[k] = k == g ? cand[i] : VG_HOOK_NONE;
			err = vg_bpf_load(&s, o, hooks, ring);
			if (err) {
				used += snprintf(st->why + used, sizeof(st->why) - used,
						 "%s%s refused: %s", used ? "; " : "",
						 vg_hook_name(cand[i]), strerror(-err));
				continue;
			}
			vigil_bpf__destroy(s);
			st->hook = cand[i];
			snprintf(st->why + used, sizeof(st->why) - used, "%s%s loads",
				 used ? "; " : "", vg_hook_name(cand[i]));
			attached++;
		}
		if (used >= sizeof(st->why))
			st->why[sizeof(st->why) - 1] = '\0';
	}
	vg_quiet_libbpf = 0;
	return attached ? 0 : -ENOTSUP;
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
			       vg_group_names[g], b->grp[g].why);
	}
	for (int g = 0; g < VG_GRP_MAX; g++)
		if (want & 1u << g && b->grp[g].hook == VG_HOOK_NONE)
			vg_log(VG_WARN, "%s not attached (%s): its events are not reported",
			       vg_group_names[g], b->grp[g].why);
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

int vg_parse_rate(const char *opt, const char *arg, struct vg_rate r[VG_CLASS_MAX])
{
	char cls[32];
	unsigned long rate, burst = 0;
	int c, n;

	n = sscanf(arg, "%31[a-z]:%lu:%lu", cls, &rate, &burst);
	c = !strcmp(cls, "file") ? VG_CLASS_FILE : !strcmp(cls, "network") ? VG_CLASS_NET : -1;
	if (n < 2 || c < 0 || rate > 100000000 || burst > 100000000) {
		vg_log(VG_ERROR,
		       "%s: '%s' is not CLASS:RATE[:BURST] with CLASS file or network "
		       "(process, security and exec events are never limited)",
		       opt, arg);
		return -EINVAL;
	}
	r[c].rate = (uint32_t)rate;
	r[c].burst = (uint32_t)(burst ? burst : 2 * rate);
	return 0;
}

/* Run the flush program for one key; returns its result (1 done, <0 ring full). */
static int vg_flush_key(struct vg_bpf *b, int map, int del, const struct vg_lim_key *k)
{
	LIBBPF_OPTS(bpf_test_run_opts, run);
	struct vg_flush_arg arg = { .map = (uint32_t)map, .del = (uint32_t)del, .key = *k };
	uint32_t zero = 0;
	int err;

	err = bpf_map__update_elem(b->skel->maps.vg_flush_in, &zero, sizeof(zero), &arg,
				   sizeof(arg), BPF_ANY);
	if (err)
		return err;
	err = bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.vg_flush), &run);
	if (err)
		return -errno;
	return (int)run.retval;
}

int vg_bpf_sweep(struct vg_bpf *b, const struct vg_bpf_opts *o, uint64_t now_boot_ns, int force,
		 int (*alive)(void *ctx, uint32_t tgid), void *ctx)
{
	struct bpf_map *maps[2] = { b->skel->maps.vg_dedup, b->skel->maps.vg_bucket };
	int reported = 0;

	for (int m = 0; m < 2; m++) {
		struct vg_lim_key key, next, *prev = NULL;
		int fd = bpf_map__fd(maps[m]);

		/*
		 * Act during the walk. A report leaves the key in place; deleting a gone
		 * process's keys can make get_next_key lose its place, so the walk then
		 * starts over (the deleted keys are not met again).
		 */
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			struct vg_lim_val v;
			uint64_t idle;
			int gone, r;

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd, &key, &v))
				continue;
			gone = !alive(ctx, key.tgid);
			idle = m == 0 ? (uint64_t)o->dedup_ms[key.class % VG_CLASS_MAX] * 1000000 :
					1000000000ull;
			if (!gone && !(v.count && (force || now_boot_ns - v.last_ns >= idle)))
				continue;
			r = vg_flush_key(b, m, gone, &key);
			if (r < 0)
				return r == -2 ? -ENOBUFS : r;
			reported += v.count ? 1 : 0;
			if (gone)
				prev = NULL; /* the walk goes on from the start: keys were deleted */
		}
	}
	return reported;
}

void vg_bpf_ring_stats(struct vg_bpf *b, struct vg_ring_stat out[3])
{
	static const char *const names[3] = { "process", "file", "network" };
	struct bpf_map *maps[3] = { b->skel->maps.vg_rb_proc, b->skel->maps.vg_rb_file,
				    b->skel->maps.vg_rb_net };

	for (int i = 0; i < 3; i++) {
		volatile struct vg_ring_fill *f = &b->skel->bss->vg_fill[i];

		out[i].name = names[i];
		out[i].size = bpf_map__max_entries(maps[i]);
		out[i].fill = f->fill;
		out[i].peak = f->peak;
		f->peak = 0;
	}
}

static int vg_src_group(int src, int *second)
{
	*second = -1;
	switch (src) {
	case VG_SRC_EXEC:
		return VG_GRP_EXEC;
	case VG_SRC_FORK:
		return VG_GRP_FORK;
	case VG_SRC_EXIT:
		return VG_GRP_EXIT;
	case VG_SRC_NET:
		*second = VG_GRP_SYSX; /* accept and UDP */
		return VG_GRP_TCP;
	default:
		return VG_GRP_SYSX;
	}
}

void vg_bpf_probe_print(const struct vg_bpf *b, const struct vg_bpf_opts *o, int json)
{
	if (!json)
		printf("%-9s %-9s %-7s %-22s %s\n", "SOURCE", "SUPPORTED", "HOOK", "ATTACH POINT",
		       "WHY");
	for (int src = 0; src < VG_SRC_MAX; src++) {
		int second, g = vg_src_group(src, &second);
		const struct vg_group_state *st = &b->grp[g];
		int wanted = !!(o->sources & 1u << src);
		int ok = wanted && st->hook != VG_HOOK_NONE;
		char why[400];

		snprintf(why, sizeof(why), "%s", wanted ? st->why : "not wanted (--sources)");
		if (ok && second >= 0 && b->grp[second].hook == VG_HOOK_NONE)
			snprintf(why, sizeof(why), "%s; accept and UDP need %s: %s", st->why,
				 vg_group_names[second], b->grp[second].why);
		if (json) {
			printf("{\"source\":\"%s\",\"supported\":%s,\"hook\":\"%s\",\"attach_point\":"
			       "\"%s\",\"fallback\":%s,\"reason\":\"",
			       vg_source_names[src], ok ? "true" : "false",
			       vg_hook_name(ok ? st->hook : VG_HOOK_NONE), vg_group_names[g],
			       ok && st->hook == VG_HOOK_RAW_TP && o->hook != VG_HOOK_RAW_TP ?
				       "true" :
				       "false");
			for (const char *p = why; *p; p++)
				printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			printf("\"}\n");
		} else {
			printf("%-9s %-9s %-7s %-22s %s\n", vg_source_names[src], ok ? "yes" : "no",
			       vg_hook_name(ok ? st->hook : VG_HOOK_NONE), vg_group_names[g], why);
		}
	}
	fflush(stdout);
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
	case 0:
		return bpf_map__fd(b->skel->maps.vg_rb_proc);
	case 1:
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

/*
 * Wait until no program still judges an event with the rules of the idle
 * slot, which it may have read as active before the last flip. Programs run
 * under RCU and read the index once per event, so one grace period after
 * the flip is enough: MEMBARRIER_CMD_GLOBAL is synchronize_rcu(). Kernels
 * with nohz_full refuse it; a program runs for microseconds, so 50 ms do.
 */
static void vg_bpf_grace(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50 * 1000);
}

int vg_bpf_filters(struct vg_bpf *b, const struct vg_flt_rule *rules, int n)
{
	volatile struct vg_flt_cfg *cfg = &b->skel->bss->vg_flt_cfg;
	int fd = bpf_map__fd(b->skel->maps.vg_flt_rules);
	int hfd = bpf_map__fd(b->skel->maps.vg_flt_hits);
	__u32 next = (cfg->slot & 1) ^ 1, key, i, exe = 0;
	__u64 *zero;

	if (n < 0 || n > VG_FLT_RULES)
		return -E2BIG;
	zero = calloc(b->ncpus > 0 ? b->ncpus : 1, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (i = 0; i < (__u32)n; i++)
		exe |= rules[i].fields & VG_FM_EXE_ANY;
	/* Fill the idle slot, then flip: an event reads the slot once, never half a set. */
	vg_bpf_grace();
	/* Inputs carry the executables while any rule that may be judged tests them. */
	cfg->exe = exe ? cfg->exe | 1u << next : cfg->exe & ~(1u << next);
	for (i = 0; i < VG_FLT_RULES; i++) {
		key = next * VG_FLT_RULES + i;
		if (bpf_map_update_elem(hfd, &key, zero, BPF_ANY) ||
		    (i < (__u32)n && bpf_map_update_elem(fd, &key, &rules[i], BPF_ANY))) {
			free(zero);
			return vg_err(-errno, "write filter rule %u", i);
		}
	}
	free(zero);
	cfg->nrules[next] = n;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	cfg->slot = cfg->slot + 1; /* slot & 1 == next; the count is the set's generation */
	return 0;
}

struct vg_seed_ctx {
	int fd;
	const char *procfs;
};

static int vg_bpf_seed_one(void *ctx, uint32_t pid)
{
	struct vg_seed_ctx *c = ctx;
	char path[4096];
	struct vg_flt_exe x = {};
	int n = vg_pt_read_exe(c->procfs, pid, path, sizeof(path));

	if (n < 0)
		return 1;
	x.len = (__u32)n;
	memcpy(x.head, path, x.len < VG_FLT_VAL ? x.len : VG_FLT_VAL);
	/* BPF_NOEXIST: an exec the kernel saw since is newer than this readlink. */
	if (bpf_map_update_elem(c->fd, &pid, &x, BPF_NOEXIST))
		return 1;
	return 0;
}

int vg_bpf_seed_exe(struct vg_bpf *b, const char *procfs)
{
	struct vg_seed_ctx c = { bpf_map__fd(b->skel->maps.vg_flt_exe), procfs };

	return vg_pt_each_pid(procfs, vg_bpf_seed_one, &c);
}

int vg_bpf_filter_hits(const struct vg_bpf *b, uint64_t *hits, int n)
{
	int fd = bpf_map__fd(b->skel->maps.vg_flt_hits);
	__u32 slot = b->skel->bss->vg_flt_cfg.slot & 1;
	__u64 *v = calloc(b->ncpus > 0 ? b->ncpus : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n && i < VG_FLT_RULES; i++) {
		__u32 key = slot * VG_FLT_RULES + i;

		hits[i] = 0;
		if (bpf_map_lookup_elem(fd, &key, v))
			continue;
		for (int c = 0; c < b->ncpus; c++)
			hits[i] += v[c];
	}
	free(v);
	return 0;
}
