// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF unit test harness: the test object's skeleton, BPF_PROG_TEST_RUN, map
 * reads, and rule sets loaded through lib/filter.c as vigild loads them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "filter.h"
#include "harness.h"

/* The rules loaded last, for the userspace replay's prediction. */
static struct vg_vf_set bpft_set;

static int bpft_ncpus(void)
{
	int n = libbpf_num_possible_cpus();

	cr_assert_gt(n, 0, "libbpf_num_possible_cpus: %d", n);
	return n;
}

struct bpft_bpf *bpft_load(const struct bpft_knobs *k)
{
	struct bpft_bpf *skel;
	cpu_set_t cpus;
	int err, c;

	if (geteuid() != 0)
		cr_skip_test("BPF unit tests load BPF programs: run as root (sudo make check-bpf)");
	/* Per-CPU hit counts decide sampling: keep every run on one CPU. */
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
		for (c = 0; c < CPU_SETSIZE && !CPU_ISSET(c, &cpus); c++)
			;
		CPU_ZERO(&cpus);
		CPU_SET(c, &cpus);
		cr_assert_eq(sched_setaffinity(0, sizeof(cpus), &cpus), 0, "sched_setaffinity: %s",
			     strerror(errno));
	}
	skel = bpft_bpf__open();
	cr_assert(skel, "open the test BPF object: %s", strerror(errno));
	if (k) {
		memcpy((void *)skel->rodata->vg_dedup_ns, k->dedup_ns, sizeof(k->dedup_ns));
		memcpy((void *)skel->rodata->vg_rl_interval_ns, k->rl_interval_ns,
		       sizeof(k->rl_interval_ns));
		memcpy((void *)skel->rodata->vg_rl_burst, k->rl_burst, sizeof(k->rl_burst));
		memcpy((void *)skel->rodata->vg_rlg_interval_ns, k->rlg_interval_ns,
		       sizeof(k->rlg_interval_ns));
		memcpy((void *)skel->rodata->vg_rlg_burst, k->rlg_burst, sizeof(k->rlg_burst));
		skel->rodata->vg_tick_ns = k->tick_ns;
		if (k->dedup_entries)
			cr_assert_eq(
				bpf_map__set_max_entries(skel->maps.vg_dedup, k->dedup_entries), 0);
		if (k->bucket_entries)
			cr_assert_eq(
				bpf_map__set_max_entries(skel->maps.vg_bucket, k->bucket_entries),
				0);
	}
	err = bpft_bpf__load(skel);
	cr_assert_eq(err, 0, "load the test BPF object: %s", strerror(-err));
	memset(&bpft_set, 0, sizeof(bpft_set));
	return skel;
}

int bpft_run(struct bpf_program *prog, const __u64 *args, int nargs)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = args,
		    .ctx_size_in = (__u32)(nargs * sizeof(*args)));
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &run);

	cr_assert_eq(err, 0, "BPF_PROG_TEST_RUN of %s: %s", bpf_program__name(prog),
		     strerror(errno));
	return (int)run.retval;
}

static __u64 bpft_percpu_sum(struct bpf_map *map, __u32 key)
{
	int n = bpft_ncpus();
	__u64 *v = calloc(n, sizeof(*v)), sum = 0;
	int i;

	cr_assert(v);
	cr_assert_eq(bpf_map__lookup_elem(map, &key, sizeof(key), v, n * sizeof(*v), 0), 0,
		     "read %s[%u]: %s", bpf_map__name(map), key, strerror(errno));
	for (i = 0; i < n; i++)
		sum += v[i];
	free(v);
	return sum;
}

__u64 bpft_counter(struct bpft_bpf *skel, int class, int reason)
{
	return bpft_percpu_sum(skel->maps.vg_counters, (__u32)(class * VG_CNT_MAX + reason));
}

__u64 bpft_hits(struct bpft_bpf *skel, int i)
{
	__u32 slot = skel->bss->vg_flt_cfg.slot & 1;

	return bpft_percpu_sum(skel->maps.vg_flt_hits, slot * VG_FLT_RULES + (__u32)i);
}

/* Fill the idle slot with the rules of bpft_set (hits zeroed), then flip to it. */
static void bpft_swap(struct bpft_bpf *skel)
{
	volatile struct vg_flt_cfg *cfg = &skel->bss->vg_flt_cfg;
	__u32 next = (cfg->slot & 1) ^ 1, key, exe = 0;
	int n = bpft_ncpus(), i;
	__u64 *zero = calloc(n, sizeof(*zero));

	cr_assert(zero);
	for (i = 0; i < VG_FLT_RULES; i++) {
		key = next * VG_FLT_RULES + (__u32)i;
		cr_assert_eq(bpf_map__update_elem(skel->maps.vg_flt_hits, &key, sizeof(key), zero,
						  n * sizeof(*zero), BPF_ANY),
			     0);
		if (i < bpft_set.n) {
			exe |= bpft_set.rules[i].k.fields & VG_FM_EXE_ANY;
			cr_assert_eq(bpf_map__update_elem(skel->maps.vg_flt_rules, &key,
							  sizeof(key), &bpft_set.rules[i].k,
							  sizeof(bpft_set.rules[i].k), BPF_ANY),
				     0);
		}
	}
	free(zero);
	cfg->exe = exe ? cfg->exe | 1u << next : cfg->exe & ~(1u << next);
	cfg->nrules[next] = (__u32)bpft_set.n;
	cfg->slot = cfg->slot + 1;
	memset(bpft_set.matched, 0, sizeof(bpft_set.matched));
}

int bpft_filters(struct bpft_bpf *skel, const char *vf)
{
	char diag[2048] = "";
	FILE *f = fmemopen(diag, sizeof(diag), "w");
	int err;

	cr_assert(f);
	err = vg_vf_parse(&bpft_set, "t.vf", vf, strlen(vf), f);
	fclose(f);
	cr_assert_eq(err, 0, "rules do not compile:\n%s", diag);
	bpft_swap(skel);
	return bpft_set.n;
}

void bpft_reswap(struct bpft_bpf *skel)
{
	bpft_swap(skel);
}

void bpft_exe(struct bpft_bpf *skel, __u32 tgid, const char *path)
{
	struct vg_flt_exe x = { .len = (__u32)strlen(path) };

	strncpy((char *)x.head, path, sizeof(x.head));
	cr_assert_eq(bpf_map__update_elem(skel->maps.vg_flt_exe, &tgid, sizeof(tgid), &x, sizeof(x),
					  BPF_ANY),
		     0);
}

struct vgt_file bpft_file(__u32 tgid, const char *comm, __u32 op, const char *base, const char *rel)
{
	struct vgt_file f = { .op = op, .ino = 1000 + tgid, .dev = 8 };
	size_t bl = strlen(base) + 1, rl = rel ? strlen(rel) + 1 : 0;

	cr_assert_leq(bl + rl, sizeof(f.tail), "test paths too long");
	f.task.pid = f.task.tgid = tgid;
	f.task.ppid = 1;
	strncpy(f.task.comm, comm, sizeof(f.task.comm) - 1);
	memcpy(f.tail, base, bl);
	if (rel)
		memcpy(f.tail + bl, rel, rl);
	f.base_len = (__u16)bl;
	f.rel_len = (__u16)rl;
	return f;
}

/* The replay's verdict on f, encoded as the kernel's (rule + 1) << 1 | drop. */
static int bpft_predict(struct bpft_bpf *skel, const struct vgt_file *f)
{
	char rec[sizeof(struct vg_file_event) + VGT_TAIL] = { 0 };
	struct vg_file_event *e = (void *)rec;
	struct vg_flt_in in;
	int rule, drop = 0;

	e->hdr.type = VG_EV_FILE;
	e->hdr.size = (__u32)(sizeof(*e) + f->base_len + f->rel_len);
	e->task = f->task;
	e->op = f->op;
	e->base_len = f->base_len;
	e->rel_len = f->rel_len;
	memcpy(rec + sizeof(*e), f->tail, f->base_len + f->rel_len);
	cr_assert_eq(vg_vf_input(&in, rec, e->hdr.size, NULL), 0);
	/* The replay keeps no executables here: give it the kernel's. */
	if (skel->bss->vg_flt_cfg.exe) {
		bpf_map__lookup_elem(skel->maps.vg_flt_exe, &f->task.tgid, 4, &in.exe,
				     sizeof(in.exe), 0);
		bpf_map__lookup_elem(skel->maps.vg_flt_exe, &f->task.ppid, 4, &in.pexe,
				     sizeof(in.pexe), 0);
	}
	rule = vg_vf_judge(&bpft_set, &in, &drop);
	return rule < 0 ? 0 : (rule + 1) << 1 | (drop != 0);
}

int bpft_open(struct bpft_bpf *skel, struct vgt_file *f, __u64 now, struct vgt_out *out)
{
	__u32 zero = 0;
	int fate;

	f->now = now;
	/* The replay samples on its own counters: start them where the kernel's are. */
	for (int i = 0; i < bpft_set.n; i++)
		bpft_set.matched[i] = bpft_hits(skel, i);
	cr_assert_eq(bpf_map__update_elem(skel->maps.vgt_file_in, &zero, sizeof(zero), f,
					  sizeof(*f), BPF_ANY),
		     0);
	fate = bpft_run(skel->progs.vgt_open, NULL, 0);
	cr_assert_eq(
		bpf_map__lookup_elem(skel->maps.vgt_out, &zero, sizeof(zero), out, sizeof(*out), 0),
		0);
	if (out->verdict >= 0) {
		int want = bpft_predict(skel, f);

		cr_assert_eq(out->verdict, want,
			     "kernel verdict %#x, replay predicts %#x (rule + 1 << 1 | drop)",
			     out->verdict, want);
	}
	return fate;
}

int bpft_net(struct bpft_bpf *skel, const struct vg_net_event *e)
{
	struct vg_flt_in in;
	__u32 zero = 0;
	int drop = 0, got;

	for (int i = 0; i < bpft_set.n; i++)
		bpft_set.matched[i] = bpft_hits(skel, i);
	cr_assert_eq(bpf_map__update_elem(skel->maps.vgt_net_in, &zero, sizeof(zero), e, sizeof(*e),
					  BPF_ANY),
		     0);
	got = bpft_run(skel->progs.vgt_net, NULL, 0);
	cr_assert_eq(vg_vf_input(&in, e, sizeof(*e), NULL), 0);
	vg_vf_judge(&bpft_set, &in, &drop);
	cr_assert_eq(got, drop != 0, "kernel drops: %d, replay predicts %d", got, drop != 0);
	return got;
}
