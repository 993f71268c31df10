// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sweep: what the dedup and rate-limit tables hold back is reported as
 * suppression summaries, written to the process ring by the kernel's flush
 * program (run through BPF_PROG_TEST_RUN).
 *
 * Walking the tables costs the kernel a look at each of their 81,920
 * buckets however few entries they hold, and the flush timer fires five
 * times a second. So a tick walks them only when a walk can find work: an
 * entry held back falls due (known from the last walk, or bounded by the
 * counters: nothing can fall due sooner than a window after it was held
 * back), a process exited (its entries are reported and deleted), or
 * VG_SWEEP_BACKSTOP_NS passed since the last walk (a zombie reaped after a
 * walk saw it alive). A walk reads the tables a chunk at a time
 * (bpf_map_lookup_batch, one syscall per chunk) where the kernel allows it.
 */
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf.h"
#include "log.h"
#include "vigil.skel.h"

#define VG_SWEEP_CHUNK 512 /* entries per batch lookup, grown when a bucket holds more */
#define VG_SWEEP_BACKSTOP_NS 10000000000ull /* walk at least this often */
/* Suppressed events read their clock before the counter moves: allow for it. */
#define VG_SWEEP_SLACK_NS 200000000ull
#define VG_ENOTSUPP 524 /* the kernel's ENOTSUPP, which userspace headers lack */

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

struct vg_walk {
	struct vg_bpf *b;
	const struct vg_bpf_opts *o;
	uint64_t now;
	int force;
	int (*alive)(void *ctx, uint32_t tgid);
	void *ctx;
	int reported;
	uint64_t due; /* when the earliest entry left holding a count falls due */
};

/* How long an entry of map m (0 dedup, 1 rate limit) must be idle before it is reported. */
static uint64_t vg_idle_ns(const struct vg_bpf_opts *o, int m, const struct vg_lim_key *k)
{
	return m == 0 ? (uint64_t)o->dedup_ms[k->class % VG_CLASS_MAX] * 1000000 : 1000000000ull;
}

/* One entry: report it when due or its process is gone (then delete it too). */
static int vg_visit(struct vg_walk *w, int m, const struct vg_lim_key *key,
		    const struct vg_lim_val *v)
{
	uint64_t idle = vg_idle_ns(w->o, m, key);
	int gone = !w->alive(w->ctx, key->tgid), r;

	if (!gone && !(v->count && (w->force || w->now - v->last_ns >= idle))) {
		if (v->count && v->last_ns + idle < w->due)
			w->due = v->last_ns + idle;
		return 0;
	}
	r = vg_flush_key(w->b, m, gone, key);
	if (r < 0)
		return r == -2 ? -ENOBUFS : r;
	w->reported += v->count ? 1 : 0;
	return 0;
}

/*
 * Walk by key, two syscalls an entry (kernels without batch lookups). Act
 * during the walk. The key after this one is taken before this one may be
 * deleted (a gone process's keys), so the walk goes on from it rather than
 * from the start: starting over after each gone process made a sweep
 * quadratic in the map's size, minutes on a machine with many short-lived
 * processes, with vigild's main loop held meanwhile.
 */
static int vg_walk_keys(struct vg_walk *w, int m, struct bpf_map *map)
{
	struct vg_lim_key key, next;
	int fd = bpf_map__fd(map);
	/* Bounded: keys the kernel adds or evicts meanwhile can restart the walk. */
	long budget = 2l * (long)bpf_map__max_entries(map) + 1024;
	int have = bpf_map_get_next_key(fd, NULL, &next) == 0;

	while (have && budget-- > 0) {
		struct vg_lim_val v;
		int err;

		key = next;
		have = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		err = vg_visit(w, m, &key, &v);
		if (err)
			return err;
	}
	if (have)
		w->due = 0; /* cut short: the rest at the next tick */
	return 0;
}

/*
 * Walk a chunk of entries per syscall. The cursor is a bucket index, so
 * deleting entries already read does not disturb it. -EOPNOTSUPP when the
 * kernel has no batch lookup for hash maps (before 5.6).
 */
static int vg_walk_batch(struct vg_walk *w, int m, struct bpf_map *map)
{
	struct vg_sweep *s = &w->b->sweep;
	int fd = bpf_map__fd(map), err;
	uint32_t cursor, *in = NULL;

	for (;;) {
		uint32_t n = s->chunk;

		err = bpf_map_lookup_batch(fd, in, &cursor, s->keys, s->vals, &n, NULL);
		if (err == -ENOSPC && !n) {
			/* One bucket holds more than a chunk: make room and read it again. */
			uint32_t chunk = s->chunk * 2;
			void *k = realloc(s->keys, chunk * sizeof(*s->keys));
			void *v = k ? realloc(s->vals, chunk * sizeof(*s->vals)) : NULL;

			if (k)
				s->keys = k;
			if (!v)
				return -ENOMEM;
			s->vals = v;
			s->chunk = chunk;
			continue;
		}
		/* Before 5.6 no such command (EINVAL), or none for this map type (ENOTSUPP). */
		if (!in && (err == -EINVAL || err == -VG_ENOTSUPP || err == -EOPNOTSUPP))
			return -EOPNOTSUPP;
		if (err && err != -ENOENT)
			return err;
		for (uint32_t i = 0; i < n; i++) {
			int e = vg_visit(w, m, &s->keys[i], &s->vals[i]);

			if (e)
				return e;
		}
		if (err == -ENOENT)
			return 0;
		in = &cursor;
	}
}

static int vg_walk_map(struct vg_walk *w, int m, struct bpf_map *map)
{
	struct vg_sweep *s = &w->b->sweep;
	int err;

	if (!s->no_batch && !s->keys) {
		s->keys = calloc(VG_SWEEP_CHUNK, sizeof(*s->keys));
		s->vals = calloc(VG_SWEEP_CHUNK, sizeof(*s->vals));
		s->chunk = VG_SWEEP_CHUNK;
		if (!s->keys || !s->vals)
			return -ENOMEM;
	}
	if (!s->no_batch) {
		err = vg_walk_batch(w, m, map);
		if (err != -EOPNOTSUPP)
			return err;
		vg_log(VG_DEBUG, "no batch lookups of hash maps here: the sweep walks key by key");
		s->no_batch = 1;
	}
	return vg_walk_keys(w, m, map);
}

/* The shortest time an entry is held before it is reported; 0 when no table can fill. */
static uint64_t vg_min_idle_ns(const struct vg_bpf_opts *o)
{
	uint64_t min = 0;

	for (int c = 0; c < VG_CLASS_MAX; c++) {
		uint64_t d = (uint64_t)o->dedup_ms[c] * 1000000;

		if (d && (!min || d < min))
			min = d;
		if ((o->rl[c].rate || o->rlg[c].rate) && (!min || 1000000000ull < min))
			min = 1000000000ull;
	}
	return min;
}

/* Events held back so far (deduplicated or rate-limited), all classes. */
static uint64_t vg_held(const struct vg_counts *c)
{
	uint64_t held = 0;

	for (int k = 0; k < VG_CLASS_MAX; k++)
		held += c->v[k][VG_CNT_DEDUP] + c->v[k][VG_CNT_RATELIMIT];
	return held;
}

/* Can this tick's walk find anything to do? Takes note of the counters either way. */
static int vg_sweep_needed(struct vg_bpf *b, const struct vg_bpf_opts *o, uint64_t now,
			   uint64_t *exits)
{
	struct vg_sweep *s = &b->sweep;
	uint64_t min_idle = vg_min_idle_ns(o), held;
	struct vg_counts c;
	int err = vg_bpf_counts(b, &c);

	if (err)
		return err;
	held = vg_held(&c);
	*exits = c.v[VG_CLASS_EXIT][VG_CNT_SEEN];
	if (held != s->held) {
		/* Held back since the last look: due a window after it at the soonest. */
		uint64_t due = s->looked_ns + min_idle;

		due = due > VG_SWEEP_SLACK_NS ? due - VG_SWEEP_SLACK_NS : 0;
		if (due < s->due_ns)
			s->due_ns = due;
	}
	s->held = held;
	s->looked_ns = now;
	if (!min_idle) {
		s->due_ns = UINT64_MAX; /* no dedup, no rate limits: the tables stay empty */
		return 0;
	}
	/* Without the exit program no counter says a process is gone. */
	return !s->walked || now >= s->due_ns || *exits != s->exits ||
	       now - s->walked_ns >= VG_SWEEP_BACKSTOP_NS ||
	       b->grp[VG_GRP_EXIT].hook == VG_HOOK_NONE;
}

int vg_bpf_sweep(struct vg_bpf *b, const struct vg_bpf_opts *o, uint64_t now_boot_ns, int force,
		 int (*alive)(void *ctx, uint32_t tgid), void *ctx)
{
	struct bpf_map *maps[2] = { b->skel->maps.vg_dedup, b->skel->maps.vg_bucket };
	struct vg_walk w = { .b = b,
			     .o = o,
			     .now = now_boot_ns,
			     .force = force,
			     .alive = alive,
			     .ctx = ctx,
			     .due = UINT64_MAX };
	struct vg_sweep *s = &b->sweep;
	uint64_t exits = 0;
	int err = vg_sweep_needed(b, o, now_boot_ns, &exits);

	if (err < 0)
		return err;
	if (!err && !force)
		return 0;
	s->walks++;
	for (int m = 0; m < 2; m++) {
		err = vg_walk_map(&w, m, maps[m]);
		if (err) {
			s->due_ns = 0; /* not all seen: walk again at the next tick */
			return err;
		}
	}
	s->walked = 1;
	s->walked_ns = now_boot_ns;
	s->exits = exits;
	s->due_ns = w.due;
	return w.reported;
}

void vg_bpf_sweep_free(struct vg_bpf *b)
{
	free(b->sweep.keys);
	free(b->sweep.vals);
	b->sweep.keys = NULL;
	b->sweep.vals = NULL;
}

int vg_bpf_sweep_idle(struct vg_bpf *b, int fresh)
{
	struct vg_counts c;

	if (b->sweep.due_ns != UINT64_MAX)
		return 0;
	if (!fresh)
		return 1;
	return !vg_bpf_counts(b, &c) && vg_held(&c) == b->sweep.held;
}

void vg_bpf_asleep(struct vg_bpf *b, int asleep)
{
	/* Sequentially consistent: ordered before the drain that follows (see kern/common.bpf.h). */
	__atomic_store_n(&b->skel->bss->vg_asleep, (uint32_t)asleep, __ATOMIC_SEQ_CST);
}
