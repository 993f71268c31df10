/* SPDX-License-Identifier: GPL-2.0-only */
/* What the store benchmarks (bench/retain.c, bench/rulecost.c) share: a clock, a sort order. */
#ifndef VG_BENCH_H
#define VG_BENCH_H

#include <time.h>

/* Seconds on clock (CLOCK_MONOTONIC: wall; CLOCK_PROCESS_CPUTIME_ID: this process's CPU). */
static inline double bench_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort() order of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
