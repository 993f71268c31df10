// SPDX-License-Identifier: GPL-2.0-only
/*
 * kern/limit.bpf.h and the dedup verdict cache of kern/filter.bpf.h, run
 * in the kernel through BPF_PROG_TEST_RUN: GCRA rate limits per process
 * and per machine, the dedup window, the suppressed counts an emitted event
 * carries, and the verdict a dedup entry keeps for its duplicates. The
 * clock is the event's time, passed in, so nothing here depends on speed.
 */
#include <criterion/criterion.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"

#define T0 1000000000ull /* an event time, ns */

static struct bpft_bpf *skel;

static void fini(void)
{
	bpft_bpf__destroy(skel);
	skel = NULL;
}

static int rate(int class, __u32 tgid, __u64 now)
{
	__u64 args[3] = { (__u64) class, tgid, now };

	return bpft_run(skel->progs.vgt_rate, args, 3);
}

static struct vg_lim_val bucket(__u32 tgid, int class)
{
	struct vg_lim_key k = { .tgid = tgid, .class = (__u16) class };
	struct vg_lim_val v = { 0 };

	cr_assert_eq(bpf_map__lookup_elem(skel->maps.vg_bucket, &k, sizeof(k), &v, sizeof(v), 0), 0,
		     "no bucket for tgid %u", tgid);
	return v;
}

/* Load with a dedup window on file events, nothing else limited. */
static void load_dedup(__u64 window_ns)
{
	struct bpft_knobs k = { 0 };

	k.dedup_ns[VG_CLASS_FILE] = window_ns;
	skel = bpft_load(&k);
}

/* File events counted as filtered and as deduplicated so far. */
static void expect_counts(__u64 filtered, __u64 dedup)
{
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_FILTERED), filtered);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_DEDUP), dedup);
}

TestSuite(limit, .fini = fini);

Test(limit, gcra_burst_then_one_per_interval)
{
	struct bpft_knobs k = { 0 };
	struct vg_lim_val v;
	int i;

	k.rl_interval_ns[VG_CLASS_FILE] = 1000;
	k.rl_burst[VG_CLASS_FILE] = 4;
	skel = bpft_load(&k);
	/* A burst of 4 at one instant passes; the 5th and 6th are over. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(rate(VG_CLASS_FILE, 7, T0), 0, "event %d of the burst limited", i);
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0), 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 10), 1);
	/* One interval later one more conforms, and only one. */
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 1000), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 1000), 1);
	/* Just before the next interval: still over. */
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 1999), 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 2000), 0);
	/* After a long pause the whole burst is back. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 1000000), 0, "refill: event %d limited",
			     i);
	cr_assert_eq(rate(VG_CLASS_FILE, 7, T0 + 1000000), 1);

	/* Each limited event is counted, in the counters and in the process's bucket. */
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_RATELIMIT), 5);
	v = bucket(7, VG_CLASS_FILE);
	cr_assert_eq(v.count, 5);
	cr_assert_eq(v.first_ns, T0);
	cr_assert_eq(v.last_ns, T0 + 1000000);
	cr_assert_eq(v.mark_ns, T0 + 1000000 + 4 * 1000, "theoretical arrival time");
}

Test(limit, gcra_burst_one_and_per_process)
{
	struct bpft_knobs k = { 0 };

	k.rl_interval_ns[VG_CLASS_NET] = 500;
	k.rl_burst[VG_CLASS_NET] = 1; /* 0 and 1 both mean no burst */
	skel = bpft_load(&k);
	cr_assert_eq(rate(VG_CLASS_NET, 1, T0), 0);
	cr_assert_eq(rate(VG_CLASS_NET, 1, T0 + 499), 1);
	cr_assert_eq(rate(VG_CLASS_NET, 1, T0 + 500), 0);
	/* Another process has a bucket of its own. */
	cr_assert_eq(rate(VG_CLASS_NET, 2, T0 + 500), 0);
	cr_assert_eq(rate(VG_CLASS_NET, 2, T0 + 501), 1);
	cr_assert_eq(bucket(1, VG_CLASS_NET).count, 1);
	cr_assert_eq(bucket(2, VG_CLASS_NET).count, 1);
	/* Classes without a limit are never limited and keep no bucket. */
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 0);
	cr_assert_eq(rate(VG_CLASS_MAX, 1, T0), 0);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_NET, VG_CNT_RATELIMIT), 2);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_RATELIMIT), 0);
}

Test(limit, gcra_machine_wide_bucket)
{
	struct bpft_knobs k = { 0 };

	k.rl_interval_ns[VG_CLASS_FILE] = 1000;
	k.rl_burst[VG_CLASS_FILE] = 10;
	k.rlg_interval_ns[VG_CLASS_FILE] = 1000;
	k.rlg_burst[VG_CLASS_FILE] = 3;
	skel = bpft_load(&k);
	/* Three processes share the machine's burst of 3, each far below its own. */
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 2, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 3, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 4, T0), 1);
	/* The suppressed count goes to the process whose event it was. */
	cr_assert_eq(bucket(1, VG_CLASS_FILE).count, 1);
	cr_assert_eq(bucket(2, VG_CLASS_FILE).count, 0);
	cr_assert_eq(bucket(4, VG_CLASS_FILE).count, 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 2, T0 + 1000), 0);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_RATELIMIT), 2);
}

/* A full bucket table limits no new process rather than lose its events silently. */
Test(limit, gcra_table_full)
{
	struct bpft_knobs k = { 0 };

	k.rl_interval_ns[VG_CLASS_FILE] = 1000;
	k.rl_burst[VG_CLASS_FILE] = 1;
	k.bucket_entries = 2;
	skel = bpft_load(&k);
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 1, T0), 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 2, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 2, T0), 1);
	cr_assert_eq(rate(VG_CLASS_FILE, 3, T0), 0);
	cr_assert_eq(rate(VG_CLASS_FILE, 3, T0), 0, "a process without a bucket was limited");
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_RATELIMIT), 2);
}

/* Dedup: a window of 1000 ns on file events, no filters, no rate limit. */
Test(limit, dedup_window)
{
	struct vgt_file f, g;
	struct vgt_out out;

	load_dedup(1000);
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
	cr_assert_eq(out.supp_count, 0);
	cr_assert_eq(out.verdict, -1, "judged without rules");
	/* Repeats inside the window are counted, not emitted; they do not move the window. */
	cr_assert_eq(bpft_open(skel, &f, T0 + 500, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 999, &out), VGT_ENDED);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_DEDUP), 2);
	/* The first event after the window carries what was suppressed. */
	cr_assert_eq(bpft_open(skel, &f, T0 + 1000, &out), VGT_EMIT);
	cr_assert_eq(out.supp_count, 2);
	cr_assert_eq(out.supp_first_ns, T0 + 500);
	cr_assert_eq(out.supp_last_ns, T0 + 999);
	cr_assert_eq(bpft_open(skel, &f, T0 + 1999, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 2000, &out), VGT_EMIT);
	cr_assert_eq(out.supp_count, 1);
	cr_assert_eq(out.supp_first_ns, T0 + 1999);

	/* Another operation, file or process is another key: emitted. */
	g = f;
	g.op = VG_FILE_SENSITIVE_READ;
	cr_assert_eq(bpft_open(skel, &g, T0 + 2001, &out), VGT_EMIT);
	g = f;
	g.ino++;
	cr_assert_eq(bpft_open(skel, &g, T0 + 2001, &out), VGT_EMIT);
	g = f;
	g.dev++;
	cr_assert_eq(bpft_open(skel, &g, T0 + 2001, &out), VGT_EMIT);
	g = f;
	g.task.tgid++;
	cr_assert_eq(bpft_open(skel, &g, T0 + 2001, &out), VGT_EMIT);
	/* Creates are distinct files: never deduplicated. */
	g = f;
	g.op = VG_FILE_CREATE;
	cr_assert_eq(bpft_open(skel, &g, T0 + 2001, &out), VGT_EMIT);
	cr_assert_eq(bpft_open(skel, &g, T0 + 2002, &out), VGT_EMIT);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_DEDUP), 3);
}

/* An event at time now (ns, what the clock would read) and jiffies j; returns its fate. */
static int open_at(struct vgt_file *f, __u64 now, __u64 j, struct vgt_out *out)
{
	f->j = j;
	return bpft_open(skel, f, now, out);
}

#define MS 1000000ull
#define J0 5000ull /* jiffies at T0 */

/* Load with a dedup window of 1 s on file events and a tick of 4 ms (HZ=250). */
static void load_estimate(void)
{
	struct bpft_knobs k = { 0 };

	k.dedup_ns[VG_CLASS_FILE] = 1000 * MS;
	k.tick_ns = 4 * MS;
	skel = bpft_load(&k);
}

/*
 * Duplicates in their window take a time from this CPU's last clock read
 * and the jiffies since (4 ms a tick here) instead of reading the clock:
 * never later than the event, never before the window's start. The window
 * stays exact: where the upper bound (two ticks on) reaches its end, the
 * clock is read.
 */
Test(limit, dedup_estimate)
{
	struct vgt_file f;
	struct vgt_out out;

	load_estimate();
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	cr_assert_eq(open_at(&f, T0, J0, &out), VGT_EMIT);
	cr_assert_eq(out.now, T0, "a new key reads the clock");
	/* 10 ticks on (40 ms by the clock): at least 8 ticks passed. */
	cr_assert_eq(open_at(&f, T0 + 40 * MS, J0 + 10, &out), VGT_ENDED);
	cr_assert_eq(out.now, T0 + 32 * MS, "estimate %llu", (unsigned long long)out.now);
	/* 247 ticks on: at most 249 (996 ms), inside the window. */
	cr_assert_eq(open_at(&f, T0 + 990 * MS, J0 + 247, &out), VGT_ENDED);
	cr_assert_eq(out.now, T0 + 980 * MS);
	/* 248 ticks on: 1000 ms possible, so the clock decides (999 ms: still inside). */
	cr_assert_eq(open_at(&f, T0 + 999 * MS, J0 + 248, &out), VGT_ENDED);
	cr_assert_eq(out.now, T0 + 999 * MS, "the clock read near the window's end");
	/* Past the window by the clock: emitted with what was suppressed, its time the clock's. */
	cr_assert_eq(open_at(&f, T0 + 1010 * MS, J0 + 251, &out), VGT_EMIT);
	cr_assert_eq(out.now, T0 + 1010 * MS);
	cr_assert_eq(out.supp_count, 3);
	cr_assert_eq(out.supp_first_ns, T0 + 32 * MS);
	cr_assert_eq(out.supp_last_ns, T0 + 999 * MS);
	/* In the same tick as the window's start: the start itself, never before it. */
	cr_assert_eq(open_at(&f, T0 + 1011 * MS, J0 + 251, &out), VGT_ENDED);
	cr_assert_eq(out.now, T0 + 1010 * MS);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_DEDUP), 4);
}

/* The dropped event's duplicates read the clock: a kept one after it opens a window. */
Test(limit, dedup_estimate_not_after_a_drop)
{
	struct vgt_file f;
	struct vgt_out out;

	load_estimate();
	bpft_filters(skel, "drop file where path prefix \"/tmp/noise/\"\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/noise/a", NULL);
	cr_assert_eq(open_at(&f, T0, J0, &out), VGT_ENDED);
	cr_assert_eq(open_at(&f, T0 + 40 * MS, J0 + 10, &out), VGT_ENDED);
	cr_assert_eq(out.now, T0 + 40 * MS, "the clock, not an estimate");
	/* Rules without the drop: the next one is kept, at the clock's time. */
	bpft_filters(skel, "drop file where path prefix \"/tmp/other/\"\n");
	cr_assert_eq(open_at(&f, T0 + 80 * MS, J0 + 20, &out), VGT_EMIT);
	cr_assert_eq(out.now, T0 + 80 * MS);
}

Test(limit, dedup_off)
{
	struct vgt_file f;
	struct vgt_out out;

	skel = bpft_load(NULL);
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
	cr_assert_eq(bpft_open(skel, &f, T0 + 1, &out), VGT_EMIT);
	expect_counts(0, 0);
}

/* A full dedup table deduplicates no new key, and loses none of its events. */
Test(limit, dedup_table_full)
{
	struct bpft_knobs k = { 0 };
	struct vgt_file f;
	struct vgt_out out;
	int i;

	k.dedup_ns[VG_CLASS_FILE] = 1000;
	k.dedup_entries = 2;
	skel = bpft_load(&k);
	for (i = 0; i < 3; i++) {
		f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
		f.ino = (__u64)i;
		cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
		cr_assert_eq(bpft_open(skel, &f, T0 + 1, &out), i < 2 ? VGT_ENDED : VGT_EMIT,
			     "key %d", i);
	}
	expect_counts(0, 2);
}

/* A rate-limited event leaves the dedup entry's count for a later event. */
Test(limit, dedup_count_survives_rate_limit)
{
	struct bpft_knobs k = { 0 };
	struct vgt_file f;
	struct vgt_out out;

	k.dedup_ns[VG_CLASS_FILE] = 1000;
	k.rl_interval_ns[VG_CLASS_FILE] = 1000000;
	k.rl_burst[VG_CLASS_FILE] = 1;
	skel = bpft_load(&k);
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
	cr_assert_eq(bpft_open(skel, &f, T0 + 500, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 1000, &out), VGT_LIMITED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 1000000, &out), VGT_EMIT);
	cr_assert_eq(out.supp_count, 1, "the duplicate suppressed before the limited event");
	cr_assert_eq(out.supp_first_ns, T0 + 500);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_DEDUP), 1);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_RATELIMIT), 1);
}

/* With filters: the window's first event is judged, its duplicates take its verdict. */
Test(limit, verdict_cache_drop)
{
	struct vgt_file f;
	struct vgt_out out;

	load_dedup(1000);
	bpft_filters(skel, "drop file where path prefix \"/tmp/noise/\"\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/noise/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, DROPS(0), "rule 0 drops");
	/* Duplicates: not judged again (no verdict), dropped (not deduplicated), counted for rule 0. */
	cr_assert_eq(bpft_open(skel, &f, T0 + 100, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, -1, "a duplicate was judged again");
	cr_assert_eq(bpft_open(skel, &f, T0 + 200, &out), VGT_ENDED);
	cr_assert_eq(bpft_hits(skel, 0), 3);
	expect_counts(3, 0);
	/* A swap (same rules, new generation) makes the next duplicate judged afresh. */
	bpft_reswap(skel);
	cr_assert_eq(bpft_open(skel, &f, T0 + 300, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, DROPS(0));
	cr_assert_eq(bpft_hits(skel, 0), 1, "hits of the new slot");
	cr_assert_eq(bpft_open(skel, &f, T0 + 400, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, -1);
	cr_assert_eq(bpft_hits(skel, 0), 2);
	expect_counts(5, 0);
}

Test(limit, verdict_cache_keep_and_none)
{
	struct vgt_file f, g;
	struct vgt_out out;

	load_dedup(1000);
	bpft_filters(skel, "keep file where path prefix \"/tmp/keep/\"\n"
			   "drop file where path prefix \"/tmp/\"\n");
	/* Kept by rule 0: emitted; its duplicates are deduplicated, counted for rule 0. */
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/keep/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, KEEPS(0));
	cr_assert_eq(bpft_open(skel, &f, T0 + 10, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, -1);
	cr_assert_eq(bpft_hits(skel, 0), 2);
	/* No rule matches: kept, duplicates deduplicated without hits. */
	g = bpft_file(11, "w", VG_FILE_MODIFY, "/home/a", NULL);
	cr_assert_eq(bpft_open(skel, &g, T0, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, 0);
	cr_assert_eq(bpft_open(skel, &g, T0 + 10, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, -1);
	cr_assert_eq(bpft_open(skel, &g, T0 + 1000, &out), VGT_EMIT);
	cr_assert_eq(out.supp_count, 1);
	cr_assert_eq(bpft_hits(skel, 0), 2);
	cr_assert_eq(bpft_hits(skel, 1), 0);
	expect_counts(0, 2);
}

/* A kept event after dropped ones opens a window of its own: it is emitted. */
Test(limit, verdict_cache_kept_after_drop)
{
	struct vgt_file f;
	struct vgt_out out;

	load_dedup(1000);
	bpft_filters(skel, "drop file where path prefix \"/tmp/\"\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_ENDED);
	bpft_filters(skel, "drop file where path prefix \"/var/\"\n");
	cr_assert_eq(bpft_open(skel, &f, T0 + 100, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, 0);
	cr_assert_eq(out.supp_count, 0, "a dropped event is not a suppressed one");
	cr_assert_eq(bpft_open(skel, &f, T0 + 200, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 1100, &out), VGT_EMIT, "window from T0 + 100");
	cr_assert_eq(out.supp_count, 1);
	expect_counts(1, 1);
}

/* Sampling of a cached drop verdict: the duplicates count for the rule, every Nth is kept. */
Test(limit, verdict_cache_sampling)
{
	struct vgt_file f;
	struct vgt_out out;

	load_dedup(1000000);
	bpft_filters(skel, "drop file where path prefix \"/tmp/\" sample 1/3\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/tmp/a", NULL);
	/* Match 1 is sampled: kept and emitted, opening the window. */
	cr_assert_eq(bpft_open(skel, &f, T0, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, KEEPS(0));
	/* Matches 2 and 3: dropped from the cache; match 4 is kept, so only deduplicated. */
	cr_assert_eq(bpft_open(skel, &f, T0 + 1, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 2, &out), VGT_ENDED);
	cr_assert_eq(bpft_open(skel, &f, T0 + 3, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, -1);
	cr_assert_eq(bpft_hits(skel, 0), 4);
	expect_counts(2, 1);
}
