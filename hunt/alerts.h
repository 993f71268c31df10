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

/* AlertInfo's and AlertEvidence's columns as printed, in order */
#define VG_ALERT_NCOLS 14
#define VG_EVIDENCE_NCOLS 15
extern const char *const vg_alert_cols[VG_ALERT_NCOLS];
extern const char *const vg_evidence_cols[VG_EVIDENCE_NCOLS];

struct vg_sb;
struct vg_hunt_src;

/* Alerts from a database: their rows (column 0 the database's own, then vg_alert_cols) */
struct vg_alerts_src {
	struct vg_hunt_src *alerts;
	/* the evidence rows (vg_evidence_cols) of the alert id; NULL: failed (logged) */
	struct vg_hunt_src *(*evidence)(struct vg_alerts_src *s, const char *id);
	void (*printed)(struct vg_alerts_src *s); /* after each alert, or NULL */
};

/* Print the alerts of s as vg_alerts_print() does; number printed or a negative errno. */
long vg_alerts_emit(struct vg_alerts_src *s, FILE *out, int json);

/* "SELECT [first, ]"col", ... FROM "table"" into b */
void vg_alerts_select(struct vg_sb *b, const char *first, const char *const *cols, int n,
		      const char *table);

/* vg_alerts_print() on the fleet's PostgreSQL (hunt_pg.c): every alert, by time. */
long vg_alerts_print_pg(const char *conninfo, FILE *out, int json);

#endif
