/* SPDX-License-Identifier: GPL-2.0-only */
/* Deadlines for the timed waits (pthread_cond_timedwait() and the like). */
#ifndef VG_DEADLINE_H
#define VG_DEADLINE_H

#include <stdint.h>
#include <time.h>

/* The time ms milliseconds from now on clock clk, the clock the wait's condition uses. */
static inline struct timespec vg_deadline_ms(clockid_t clk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

#endif
