/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Detection rules as files (rules/NAME.rule): the header (title, severity,
 * category, MITRE technique, description, group, window, lookback) and the
 * KQL query, parsed and checked here for both back ends: the host's SQLite
 * store (detect.c) and the fleet's PostgreSQL (server/detect_pg.c). Also the
 * grouping both share: which alert a result row belongs to (its AlertKey)
 * and whether it falls in that alert's window. Portable C.
 */
#ifndef VG_RULE_H
#define VG_RULE_H

#include <stdint.h>

struct vg_sb;

#define VG_RULE_MAX_GROUP 8

struct vg_rule_def {
	char *id; /* file name without .rule */
	char *path;
	char *title, *severity, *category, *mitre, *description;
	char *group[VG_RULE_MAX_GROUP];
	int ngroup;
	int64_t window_ms; /* an alert takes its group's evidence this long after its first */
	int64_t lookback_ms; /* 0: new rows only; else every row of this span, each once */
	char *query;
	int query_line; /* line of the file where the query starts, minus one */
};

/*
 * Every *.rule file of dir, in name order, parsed: 0 with *defs (*n of
 * them; vg_rules_free()), or -EINVAL with "file:line:col: message" lines in
 * errors, -ENOENT etc. when dir cannot be read, -ENOMEM.
 */
int vg_rules_load(const char *dir, struct vg_rule_def **defs, int *n, struct vg_sb *errors);
void vg_rule_def_free(struct vg_rule_def *r);
void vg_rules_free(struct vg_rule_def *defs, int n);

/* "2026-11-29T17:23:17.123Z" (or PostgreSQL's "2026-11-29 17:23:17.123+00") as epoch ms, or -1 */
int64_t vg_rule_time_ms(const char *t);

/*
 * The columns of a result row the grouping reads: text(ctx, i) is column i
 * as text (NULL for NULL).
 */
struct vg_rule_row {
	const char *(*text)(void *ctx, int col);
	void *ctx;
	int device; /* DeviceId */
	const int *group_idx; /* the rule's group columns, when it has any */
	const int *tree_idx; /* vg_rule_tree_cols, -1 when absent */
	const char *table;
	long long rid; /* the row's id in its table */
};

/* Columns copied from an event into its evidence row, when the event has them (in order). */
#define VG_RULE_NEV 12
extern const char *const vg_rule_ev_cols[VG_RULE_NEV];
/* AlertEvidence's EntityType of an event of table */
const char *vg_rule_entity_type(const char *table);

/* The columns every event has that name its process tree (a row's tree_idx). */
extern const char *const vg_rule_tree_cols[4];

/*
 * The group of a result row of r: rule, device, then the rule's group
 * columns, else the process tree (a process running its parent's program
 * belongs to its parent's tree), else the row itself. Appended to key.
 */
void vg_rule_key(const struct vg_rule_def *r, const struct vg_rule_row *row, struct vg_sb *key);

/* Does an event at ts_ms belong to the alert of r whose first event was at first_ms? */
int vg_rule_in_window(const struct vg_rule_def *r, int64_t first_ms, int64_t ts_ms);

#endif
