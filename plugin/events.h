/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading the store back: the event timeline (vigil events, host --print)
 * and the sensor counters (vigil stats). Portable C over SQLite and stdio.
 */
#ifndef VG_EVENTS_H
#define VG_EVENTS_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* Highest DeviceProcessEvents rowid now stored (0 when none), or a negative errno. */
int64_t vg_events_last_rowid(struct vg_store *s);

/*
 * Print stored events with after < rowid <= upto (upto < 0: no upper bound),
 * one line each: the human timeline, or JSON objects when json. by_time
 * orders by Timestamp then ReportId, else by rowid (arrival, for following).
 * limit > 0 keeps only the last limit events of that order. *last gets the
 * highest rowid printed (unchanged when none). Number of events printed, or
 * a negative errno (-EPIPE when out fails).
 */
int vg_events_print(struct vg_store *s, FILE *out, int json, int by_time, int64_t after,
		    int64_t upto, long limit, int64_t *last);

/* vigil stats: one line (or JSON object) per device and event class. 0 or -errno. */
int vg_stats_print(struct vg_store *s, FILE *out, int json);

#endif
