// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf.h"
#include "log.h"
#include "vigil.skel.h"

static int vg_verbose;

static int vg_libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG && !vg_verbose)
		return 0;
	vg_vlog(lvl == LIBBPF_WARN ? VG_WARN : VG_INFO, NULL, fmt, ap); /* "libbpf: ..." */
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
	default:
		return "auto";
	}
}

const char *vg_class_name(int cls)
{
	static const char *const names[VG_CLASS_MAX] = {
		[VG_CLASS_EXEC] = "exec",
		[VG_CLASS_FORK] = "fork",
		[VG_CLASS_EXIT] = "exit",
	};

	return cls >= 0 && cls < VG_CLASS_MAX ? names[cls] : "?";
}

uint32_t vg_ringbuf_size(uint32_t kb)
{
	uint64_t want = (uint64_t)kb * 1024, size = (uint64_t)sysconf(_SC_PAGESIZE);

	while (size < want)
		size <<= 1;
	return (uint32_t)size;
}

static void vg_bpf_select(struct vigil_bpf *skel, enum vg_hook hook)
{
	int btf = hook == VG_HOOK_TP_BTF;

	bpf_program__set_autoload(skel->progs.vg_exec_btf, btf);
	bpf_program__set_autoload(skel->progs.vg_fork_btf, btf);
	bpf_program__set_autoload(skel->progs.vg_exit_btf, btf);
	bpf_program__set_autoload(skel->progs.vg_exec_raw, !btf);
	bpf_program__set_autoload(skel->progs.vg_fork_raw, !btf);
	bpf_program__set_autoload(skel->progs.vg_exit_raw, !btf);
}

/* open -> configure -> load with one hook family; the caller attaches. */
static int vg_bpf_load(struct vg_bpf *b, const struct vg_bpf_opts *o, enum vg_hook hook)
{
	int err;

	b->skel = vigil_bpf__open();
	if (!b->skel)
		return vg_err(-errno, "open BPF object");
	b->skel->rodata->vg_argv_max = o->argv_max;
	b->ringbuf_bytes = vg_ringbuf_size(o->ringbuf_kb);
	/* Wake vigild at a quarter full: room for bursts while it gets scheduled. */
	b->skel->rodata->vg_wakeup_bytes = b->ringbuf_bytes / 4;
	err = bpf_map__set_max_entries(b->skel->maps.vg_rb_proc, b->ringbuf_bytes);
	if (err) {
		vg_err(err, "size ring buffer to %u bytes", b->ringbuf_bytes);
		goto err_destroy;
	}
	vg_bpf_select(b->skel, hook);
	err = vigil_bpf__load(b->skel);
	if (err)
		goto err_destroy;
	b->hook_used = hook;
	return 0;

err_destroy:
	vigil_bpf__destroy(b->skel);
	b->skel = NULL;
	return err;
}

int vg_bpf_start(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus < 0)
		return vg_err(b->ncpus, "count possible CPUs");

	err = vg_bpf_load(b, o, o->hook == VG_HOOK_RAW_TP ? VG_HOOK_RAW_TP : VG_HOOK_TP_BTF);
	if (err && o->hook == VG_HOOK_AUTO) {
		vg_log(VG_WARN, "tp_btf programs refused (%s); falling back to raw_tp",
		       strerror(-err));
		err = vg_bpf_load(b, o, VG_HOOK_RAW_TP);
	}
	if (err)
		return vg_err(err, "load BPF programs (-v shows the verifier log)");

	err = vg_bpf_ignore_pid(b, (uint32_t)getpid());
	for (int i = 0; !err && i < o->nignore; i++)
		err = vg_bpf_ignore_pid(b, o->ignore[i]);
	if (err)
		goto err_destroy;
	err = vigil_bpf__attach(b->skel);
	if (err) {
		vg_err(err, "attach BPF programs");
		goto err_destroy;
	}
	vg_log(VG_DEBUG, "attached %s programs, ring buffer %u bytes", vg_hook_name(b->hook_used),
	       b->ringbuf_bytes);
	return 0;

err_destroy:
	vigil_bpf__destroy(b->skel);
	b->skel = NULL;
	return err;
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

int vg_bpf_ringbuf_fd(const struct vg_bpf *b)
{
	return bpf_map__fd(b->skel->maps.vg_rb_proc);
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
