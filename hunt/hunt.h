/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigil hunt: run a KQL query (kql.h) over the store and print the rows as
 * an aligned table, JSON lines or CSV. Portable C over SQLite and stdio.
 */
#ifndef VG_HUNT_H
#define VG_HUNT_H

#include <stdio.h>

struct sqlite3;

enum vg_hunt_format { VG_HUNT_TABLE, VG_HUNT_JSON, VG_HUNT_CSV };

/*
 * Translate and run text on db, print the result on out. A query error is
 * printed on err as "<origin>:line:col: message", the line and a caret, and
 * gives -EINVAL. Number of rows printed, or a negative errno (-EPIPE when
 * out fails).
 */
long vg_hunt_run(struct sqlite3 *db, const char *text, const char *origin, enum vg_hunt_format fmt,
		 FILE *out, FILE *err);

#endif
