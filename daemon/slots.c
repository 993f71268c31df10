// SPDX-License-Identifier: GPL-2.0-only
/*
 * Filter rule sets in the kernel: two slots, one active; a new set fills the
 * idle one and the index flips. Also the executables the rules' exe
 * conditions read, seeded for processes running before attach.
 */
#include <errno.h>
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
