/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Detections in the host core. A rule is a readable file (rules/NAME.rule):
 * a header with title, severity, category and MITRE ATT&CK technique, then
 * a KQL query (kql.h) over the tables of docs/schema.md. After each stored batch,
 * every rule runs over the rows its table gained since the last run (a
 * rowid watermark per table, kept in DetectionState): each row the query
 * returns is evidence. Rows of one rule, device and process tree (or the
 * rule's `group` columns) within the rule's window make one alert, with a
 * count and the times of its first and last event.
 * Alerts go to AlertInfo, evidence to AlertEvidence (the table and rowid
 * of each event, its ReportId and the columns an analyst looks at first).
 * Portable C over SQLite; nothing here knows the wire format.
 */
#ifndef VG_DETECT_H
#define VG_DETECT_H

#include <stdint.h>

struct sqlite3;
struct vg_sb;
struct vg_detect;

/* Create AlertInfo, AlertEvidence and DetectionState when missing. 0 or -errno. */
int vg_alerts_schema(struct sqlite3 *db);

/*
 * Load every *.rule file of dir (in name order) for evaluation on db,
 * creating the alert tables. A malformed rule fails the load with
 * "file:line:col: message" and a caret on errors (-EINVAL). A rule whose
 * table the store does not have yet waits for it (logged once).
 */
int vg_detect_open(struct vg_detect **d, struct sqlite3 *db, const char *dir, struct vg_sb *errors);
void vg_detect_close(struct vg_detect *d);

/* Rules loaded, and how many of them wait for a table. */
int vg_detect_nrules(const struct vg_detect *d, int *waiting);

/*
 * Rule i (0 .. vg_detect_nrules() - 1): its id, and what its query and its
 * rows' alerts took in the last vg_detect_run() (0 when it did not run: no
 * new row in its table). 0, or -ENOENT past the last rule. A rule that
 * takes 1 ms or more is logged at debug level (--log-level debug) each run.
 */
int vg_detect_rule_cost(const struct vg_detect *d, int i, const char **id, uint64_t *ns);

/*
 * Evaluate every rule over the rows stored since the last run: the rules'
 * queries in one read transaction, then their alerts and evidence in one
 * write transaction with the watermarks (so a writer on another connection
 * waits only for the write). Number of new alerts, or a negative errno.
 */
int vg_detect_run(struct vg_detect *d);

/* 1 when the last run read only part of the new rows of a table (it reads at most 100,000): run again. */
int vg_detect_behind(const struct vg_detect *d);

#endif
