// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sweep: what the dedup and rate-limit tables hold back is reported as
 * suppression summaries, written to the process ring by the kernel's flush
 * program (run through BPF_PROG_TEST_RUN).
 */
#include <errno.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf.h"
#include "vigil.skel.h"

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
		struct vg_lim_key key, next;
		int fd = bpf_map__fd(maps[m]);
		/* Bounded: keys the kernel adds or evicts meanwhile can restart the walk. */
		long budget = 2l * (long)bpf_map__max_entries(maps[m]) + 1024;
		int have = bpf_map_get_next_key(fd, NULL, &next) == 0;

		/*
		 * Act during the walk. The key after this one is taken before this one
		 * may be deleted (a gone process's keys), so the walk goes on from it
		 * rather than from the start: starting over after each gone process
		 * made a sweep quadratic in the map's size, minutes on a machine with
		 * many short-lived processes, with vigild's main loop held meanwhile.
		 */
		while (have && budget-- > 0) {
			struct vg_lim_val v;
			uint64_t idle;
			int gone, r;

			key = next;
			have = bpf_map_get_next_key(fd, &key, &next) == 0;
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
		}
	}
	return reported;
}
