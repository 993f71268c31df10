/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigil top: the hottest event sources in the store over a recent window —
 * by process, by executable, by directory of the files touched, by event
 * type — with rates, and each filter rule's hit rate, so a detection
 * engineer sees what to filter next.
 */
#ifndef VG_TOP_H
#define VG_TOP_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

struct vg_top_opts {
	int window_s; /* events of the last window_s seconds */
	int limit; /* rows per section */
	int json;
};

/*
 * Print one report for the window ending at now_ns. rule_hits_prev holds
 * the rules' hit counts of the previous report (NULL on the first) for hit
 * rates over interval_s; it is updated. 0 or a negative errno.
 */
int vg_top_print(struct vg_store *s, FILE *out, const struct vg_top_opts *o, uint64_t now_ns,
		 int64_t *rule_hits_prev, int nrules_max, double interval_s);

#endif
