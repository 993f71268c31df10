/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigil alerts: AlertInfo rows with their AlertEvidence, as text or JSON
 * lines. Portable C over SQLite and stdio.
 */
#ifndef VG_ALERTS_H
#define VG_ALERTS_H

#include <stdint.h>
#include <stdio.h>

struct sqlite3;

/*
 * Print alerts with rowid > after, oldest first; *last gets the highest
 * rowid printed. JSON: one object per alert, AlertInfo's columns and an
 * "Evidence" array of AlertEvidence objects. Number printed, or a negative
 * errno (-EPIPE when out fails). A store without alert tables has none.
 */
long vg_alerts_print(struct sqlite3 *db, FILE *out, int json, int64_t after, int64_t *last);

#endif
