// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fmt.h"
#include "kql.h"
#include "log.h"
#include "retain.h"
#include "rule.h"
#include "store.h"

static const char vg_alerts_sql[] =
	"CREATE TABLE IF NOT EXISTS AlertInfo ("
	" Timestamp TEXT NOT NULL,"
	" AlertId TEXT,"
	" Title TEXT NOT NULL,"
	" Category TEXT,"
	" Severity TEXT,"
	" DetectionSource TEXT,"
	" AttackTechniques TEXT,"
	" RuleId TEXT,"
	" DeviceId TEXT,"
	" DeviceName TEXT,"
	" Description TEXT,"
	" GroupKey TEXT NOT NULL UNIQUE,"
	" AlertKey TEXT,"
	" EvidenceCount INTEGER,"
	" FirstActivity TEXT,"
	" LastActivity TEXT);"
	"CREATE TABLE IF NOT EXISTS AlertEvidence ("
	" Timestamp TEXT,"
	" AlertId TEXT NOT NULL,"
	" Title TEXT,"
	" Categories TEXT,"
	" AttackTechniques TEXT,"
	" DetectionSource TEXT,"
	" EntityType TEXT,"
	" EvidenceRole TEXT,"
	" DeviceId TEXT,"
	" DeviceName TEXT,"
	" ActionType TEXT,"
	" FileName TEXT,"
	" FolderPath TEXT,"
	" ProcessId INTEGER,"
	" ProcessCommandLine TEXT,"
	" AccountName TEXT,"
	" RemoteIP TEXT,"
	" RemotePort INTEGER,"
	" SourceTable TEXT NOT NULL,"
	" SourceRowId INTEGER NOT NULL,"
	" ReportId INTEGER);"
	"CREATE INDEX IF NOT EXISTS AlertEvidence_Alert ON AlertEvidence(AlertId);"
	"CREATE TABLE IF NOT EXISTS DetectionState ("
	" TableName TEXT PRIMARY KEY,"
	" LastRowId INTEGER NOT NULL);";

/* Columns a store made by an older vigil lacks, added in place; then their indexes. */
static const char *const vg_alert_added[] = { "AlertKey TEXT", "EvidenceCount INTEGER",
					      "FirstActivity TEXT", "LastActivity TEXT" };
static const char vg_alerts_idx_sql[] =
	"CREATE INDEX IF NOT EXISTS AlertInfo_Key ON AlertInfo(AlertKey);"
	"CREATE INDEX IF NOT EXISTS AlertEvidence_Source ON AlertEvidence(SourceTable, SourceRowId);";

struct vg_rule {
	struct vg_rule_def d; /* the file as parsed (rule.c) */
	int waiting; /* its table is not in the store yet */
	int logged_wait;
	sqlite3_stmt *st;
	char *table;
	int ev_idx[VG_RULE_NEV]; /* result column of each vg_rule_ev_cols, -1 */
	int group_idx[VG_RULE_MAX_GROUP];
	int tree_idx[4]; /* vg_rule_tree_cols in the result, -1 */
	int fallback_cmd; /* InitiatingProcessCommandLine when no ProcessCommandLine */
	char **acts; /* the ActionTypes its rows can have (vg_kql_query.actions), or none */
	int nacts;
	uint64_t cost_ns; /* what its query and rows took in the last run (0: did not run) */
	struct vg_hit *hits; /* the rows its query returned this run (vg_detect_run) */
	size_t nhits, hits_cap;
	uint64_t capped; /* rows past VG_DETECT_MAX_HITS this run */
	int ran; /* its query ran this run */
};

/* One result row of a rule's query, copied out of the read (the values' own copies). */
struct vg_hit {
	sqlite3_value **v;
};

struct vg_detect {
	sqlite3 *db;
	struct vg_rule *rules;
	int nrules;
	sqlite3_stmt *ins_alert, *find_alert, *upd_alert, *has_ev, *ins_ev, *get_wm, *set_wm;
	struct vg_span {
		const char *table;
		int64_t hi; /* the watermark it moves to, when moved */
		int moved;
	} * spans; /* per table of a rule this run */
	int nspans, nmoved;
	size_t nhits; /* rows the rules returned this run */
	int behind; /* the last run stopped short of the newest rows */
};

/* 1 when table has column col (a name without spaces), 0 when not, -1 on error */
static int vg_has_column(sqlite3 *db, const char *table, const char *col, size_t len)
{
	sqlite3_stmt *st;
	char sql[96];
	int found = 0, rc;

	snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s')", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		if (n && strlen(n) == len && !strncmp(n, col, len))
			found = 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? found : -1;
}

int vg_alerts_schema(sqlite3 *db)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, vg_alerts_sql, NULL, NULL, &msg);

	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(vg_alert_added) / sizeof(*vg_alert_added);
	     i++) {
		const char *c = vg_alert_added[i];
		char sql[96];
		int has = vg_has_column(db, "AlertInfo", c, strcspn(c, " "));

		if (has < 0) {
			rc = sqlite3_errcode(db);
			break;
		}
		if (has)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE AlertInfo ADD COLUMN %s", c);
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, vg_alerts_idx_sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "detect: create alert tables: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	return 0;
}

static void vg_hits_free(struct vg_rule *r)
{
	int ncol = r->st ? sqlite3_column_count(r->st) : 0;

	for (size_t i = 0; i < r->nhits; i++) {
		for (int c = 0; c < ncol; c++)
			sqlite3_value_free(r->hits[i].v[c]);
		free(r->hits[i].v);
	}
	r->nhits = 0;
}

/* Keep the row st is on: SQLITE_OK, or SQLITE_NOMEM. */
static int vg_hit_add(struct vg_rule *r)
{
	int ncol = sqlite3_column_count(r->st);
	struct vg_hit *h;

	if (r->nhits == r->hits_cap) {
		size_t cap = r->hits_cap ? r->hits_cap * 2 : 16;

		h = realloc(r->hits, cap * sizeof(*h));
		if (!h)
			return SQLITE_NOMEM;
		r->hits = h;
		r->hits_cap = cap;
	}
	h = &r->hits[r->nhits];
	h->v = calloc((size_t)ncol, sizeof(*h->v));
	if (!h->v)
		return SQLITE_NOMEM;
	for (int c = 0; c < ncol; c++) {
		h->v[c] = sqlite3_value_dup(sqlite3_column_value(r->st, c));
		if (!h->v[c]) {
			while (c--)
				sqlite3_value_free(h->v[c]);
			free(h->v);
			return SQLITE_NOMEM;
		}
	}
	r->nhits++;
	return SQLITE_OK;
}

static void vg_rule_free(struct vg_rule *r)
{
	vg_hits_free(r);
	free(r->hits);
	vg_rule_def_free(&r->d);
	free(r->table);
	for (int i = 0; i < r->nacts; i++)
		free(r->acts[i]);
	free(r->acts);
	sqlite3_finalize(r->st);
}

/*
 * The ActionTypes among rows lo+1..hi of table, into seen (strings to free):
 * their number, or -1 when there are more than max (or no such column).
 * One read of the new rows, where a rule that wants none of them would
 * have read them all for nothing.
 */
#define VG_DETECT_MAX_ACTS 32
static int vg_new_actions(sqlite3 *db, const char *table, int64_t lo, int64_t hi, char **seen,
			  int max, int *rc)
{
	struct vg_sb sql;
	sqlite3_stmt *st = NULL;
	int n = 0, r;

	vg_sb_init(&sql);
	vg_sb_printf(&sql,
		     "SELECT DISTINCT ActionType FROM \"%s\" WHERE rowid > ?1 AND rowid <= ?2",
		     table);
	r = sqlite3_prepare_v2(db, vg_sb_str(&sql) ?: "", -1, &st, NULL);
	vg_sb_free(&sql);
	if (r != SQLITE_OK)
		return -1; /* the rules run as they are */
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);

		if (n == max || !a || !(seen[n] = strdup(a)))
			break;
		n++;
	}
	/* Stopped early (too many, a NULL, no memory: still a row) or an error. */
	if (r != SQLITE_DONE) {
		if (r != SQLITE_ROW)
			*rc = r;
		while (n > 0)
			free(seen[--n]);
		n = -1;
	}
	sqlite3_finalize(st);
	return n;
}

/* Whether a row of one of the rule's ActionTypes is among seen (nseen < 0: unknown, so yes). */
static int vg_rule_may_match(const struct vg_rule *r, char **seen, int nseen)
{
	if (!r->nacts || nseen < 0)
		return 1;
	for (int i = 0; i < r->nacts; i++)
		for (int j = 0; j < nseen; j++)
			if (!strcmp(r->acts[i], seen[j]))
				return 1;
	return 0;
}

static int vg_col_index(const struct vg_kql_query *q, const char *name)
{
	for (int i = 0; i < q->ncols; i++)
		if (!strcmp(q->cols[i], name))
			return i;
	return -1;
}

/*
 * Translate and prepare a rule's query. -EAGAIN when its table is not in
 * the store yet; -EINVAL with the reason in errors.
 */
static int vg_rule_compile(struct vg_detect *d, struct vg_rule *r, struct vg_sb *errors)
{
	struct vg_kql_query q;
	struct vg_kql_error e;
	int err, rc;

	err = vg_kql_translate(d->db, r->d.query, VG_KQL_BOUNDED, &q, &e);
	if (err == -EINVAL && !strncmp(e.msg, "unknown table", 13)) {
		if (!r->logged_wait)
			vg_log(VG_INFO, "rule %s waits for a table: %s", r->d.id, e.msg);
		r->logged_wait = 1;
		r->waiting = 1;
		return -EAGAIN;
	}
	if (err == -EINVAL) {
		char prefix[300];

		snprintf(prefix, sizeof(prefix), "%s:", r->d.path);
		vg_kql_error_format(errors, prefix, r->d.query, r->d.query_line, &e);
		return err;
	}
	if (err)
		return err;
	if (vg_col_index(&q, "_rid") != 0 || vg_col_index(&q, "DeviceId") < 0) {
		vg_sb_printf(errors,
			     "%s: the query must return the events of its table"
			     " (where and extend only: no project, summarize or count)\n",
			     r->d.path);
		vg_kql_query_free(&q);
		return -EINVAL;
	}
	for (int i = 0; i < r->d.ngroup; i++) {
		r->group_idx[i] = vg_col_index(&q, r->d.group[i]);
		if (r->group_idx[i] < 0) {
			vg_sb_printf(errors,
				     "%s: group column '%s' is not a column of the result\n",
				     r->d.path, r->d.group[i]);
			vg_kql_query_free(&q);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < VG_RULE_NEV; i++)
		r->ev_idx[i] = vg_col_index(&q, vg_rule_ev_cols[i]);
	for (int i = 0; i < 4; i++)
		r->tree_idx[i] = vg_col_index(&q, vg_rule_tree_cols[i]);
	r->fallback_cmd = vg_col_index(&q, "InitiatingProcessCommandLine");
	rc = sqlite3_prepare_v3(d->db, q.sql, -1, SQLITE_PREPARE_PERSISTENT, &r->st, NULL);
	if (rc != SQLITE_OK) {
		vg_sb_printf(errors, "%s: the store refused the translated query: %s\n", r->d.path,
			     sqlite3_errmsg(d->db));
		vg_kql_query_free(&q);
		return -EINVAL;
	}
	r->table = q.source;
	q.source = NULL;
	r->acts = q.actions;
	r->nacts = q.nactions;
	q.actions = NULL;
	q.nactions = 0;
	if (r->nacts)
		vg_log(VG_DEBUG, "rule %s: rows of %d ActionType(s) only, the first %s", r->d.id,
		       r->nacts, r->acts[0]);
	r->waiting = 0;
	if (r->logged_wait)
		vg_log(VG_INFO, "rule %s: table %s is here, rule active", r->d.id, r->table);
	vg_kql_query_free(&q);
	return 0;
}

static int vg_detect_prepare(struct vg_detect *d)
{
	static const char *const sql[] = {
		"INSERT INTO AlertInfo (Timestamp, Title, Category, Severity, DetectionSource,"
		" AttackTechniques, RuleId, DeviceId, DeviceName, Description, GroupKey, AlertKey,"
		" EvidenceCount, FirstActivity, LastActivity)"
		" VALUES (?, ?, ?, ?, 'vigil', ?, ?, ?, ?, ?, ?, ?, 1, ?12, ?12)",
		/* the group's latest alert */
		"SELECT AlertId, FirstActivity FROM AlertInfo WHERE AlertKey = ?"
		" ORDER BY rowid DESC LIMIT 1",
		"UPDATE AlertInfo SET EvidenceCount = EvidenceCount + 1,"
		" FirstActivity = min(FirstActivity, ?2), LastActivity = max(LastActivity, ?2)"
		" WHERE AlertId = ?1",
		"SELECT 1 FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
		" WHERE e.SourceTable = ? AND e.SourceRowId = ? AND a.RuleId = ?",
		"INSERT INTO AlertEvidence (AlertId, Title, Categories, AttackTechniques,"
		" DetectionSource, EntityType, EvidenceRole, SourceTable, SourceRowId, Timestamp,"
		" DeviceId, DeviceName, ActionType, FileName, FolderPath, ProcessId,"
		" ProcessCommandLine, AccountName, RemoteIP, RemotePort, ReportId)"
		" VALUES (?, ?, ?, ?, 'vigil', ?, 'Impacted', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		" ?, ?)",
		"SELECT LastRowId FROM DetectionState WHERE TableName = ?",
		"INSERT INTO DetectionState (TableName, LastRowId) VALUES (?, ?)"
		" ON CONFLICT (TableName) DO UPDATE SET LastRowId = excluded.LastRowId",
	};
	sqlite3_stmt **st[] = { &d->ins_alert, &d->find_alert, &d->upd_alert, &d->has_ev,
				&d->ins_ev,    &d->get_wm,     &d->set_wm };

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		int rc = sqlite3_prepare_v3(d->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, st[i],
					    NULL);
		if (rc != SQLITE_OK) {
			vg_log(VG_ERROR, "detect: prepare: %s", sqlite3_errmsg(d->db));
			return vg_sqlite_errno(rc) ?: -EIO;
		}
	}
	return 0;
}

int vg_detect_open(struct vg_detect **out, sqlite3 *db, const char *dir, struct vg_sb *errors)
{
	struct vg_rule_def *defs = NULL;
	struct vg_detect *d;
	int ndefs = 0, err;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->db = db;
	err = vg_kql_register(db);
	if (!err)
		err = vg_alerts_schema(db);
	if (!err)
		err = vg_detect_prepare(d);
	if (!err)
		err = vg_rules_load(dir, &defs, &ndefs, errors);
	if (err)
		goto err_free;
	d->rules = calloc((size_t)ndefs + 1, sizeof(*d->rules));
	if (!d->rules) {
		err = -ENOMEM;
		goto err_free;
	}
	for (int i = 0; i < ndefs; i++) {
		struct vg_rule *r = &d->rules[d->nrules++];

		r->d = defs[i];
		memset(&defs[i], 0, sizeof(defs[i]));
		err = vg_rule_compile(d, r, errors);
		if (err == -EAGAIN)
			err = 0;
		if (err)
			goto err_free;
	}
	vg_rules_free(defs, ndefs);
	*out = d;
	return 0;

err_free:
	vg_rules_free(defs, ndefs);
	vg_detect_close(d);
	return err;
}

void vg_detect_close(struct vg_detect *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nrules; i++)
		vg_rule_free(&d->rules[i]);
	free(d->rules);
	sqlite3_finalize(d->ins_alert);
	sqlite3_finalize(d->find_alert);
	sqlite3_finalize(d->upd_alert);
	sqlite3_finalize(d->has_ev);
	sqlite3_finalize(d->ins_ev);
	sqlite3_finalize(d->get_wm);
	sqlite3_finalize(d->set_wm);
	free(d->spans);
	free(d);
}

int vg_detect_rule_cost(const struct vg_detect *d, int i, const char **id, uint64_t *ns)
{
	if (i < 0 || i >= d->nrules)
		return -ENOENT;
	*id = d->rules[i].d.id;
	*ns = d->rules[i].cost_ns;
	return 0;
}

int vg_detect_nrules(const struct vg_detect *d, int *waiting)
{
	int w = 0;

	for (int i = 0; i < d->nrules; i++)
		w += d->rules[i].waiting;
	if (waiting)
		*waiting = w;
	return d->nrules;
}

static int vg_step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void vg_bind_col(sqlite3_stmt *dst, int i, const struct vg_hit *h, int col)
{
	if (col < 0)
		sqlite3_bind_null(dst, i);
	else
		sqlite3_bind_value(dst, i, h->v[col]);
}

static const char *vg_hit_text(void *h, int col)
{
	return (const char *)sqlite3_value_text(((struct vg_hit *)h)->v[col]);
}

/* Open a new alert of r for row q: its id into *alert_id. */
static int vg_alert_open(struct vg_detect *d, struct vg_rule *r, struct vg_hit *q, const char *now,
			 const char *key, const char *ts, char **alert_id)
{
	sqlite3_stmt *st = d->ins_alert;
	int dev = r->ev_idx[1], name = r->ev_idx[2];
	sqlite3_int64 rid;
	char *gk, *upd;
	int rc;

	/* unique per window: the group's key and when its first event happened */
	if (asprintf(&gk, "%s\x1d%s", key, ts) < 0)
		return SQLITE_NOMEM;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->d.title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->d.category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->d.severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->d.mitre, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->d.id, -1, SQLITE_STATIC);
	vg_bind_col(st, 7, q, dev);
	vg_bind_col(st, 8, q, name);
	if (r->d.description)
		sqlite3_bind_text(st, 9, r->d.description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, gk, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, ts, -1, SQLITE_TRANSIENT);
	free(gk);
	rc = vg_step_reset(st);
	if (rc != SQLITE_OK)
		return rc;
	rid = sqlite3_last_insert_rowid(d->db);
	if (asprintf(alert_id, "vg%08lld", (long long)rid) < 0)
		return SQLITE_NOMEM;
	if (asprintf(&upd, "UPDATE AlertInfo SET AlertId = '%s' WHERE rowid = %lld", *alert_id,
		     (long long)rid) < 0)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(d->db, upd, NULL, NULL, NULL);
	free(upd);
	if (rc == SQLITE_OK)
		vg_log(VG_INFO, "alert %s: %s (%s, %s) on %s", *alert_id, r->d.title, r->d.severity,
		       r->d.mitre, dev >= 0 ? vg_hit_text(q, dev) ?: "?" : "?");
	return rc;
}

/*
 * One result row of r: find its alert (same rule, device and process tree,
 * or group columns, within the rule's window) or open one, add the
 * evidence row.
 */
static int vg_detect_row(struct vg_detect *d, struct vg_rule *r, struct vg_hit *q, const char *now,
			 int *new_alerts)
{
	sqlite3_stmt *st;
	int dev = r->ev_idx[1], tcol = r->ev_idx[0];
	const char *ts = tcol >= 0 ? vg_hit_text(q, tcol) : NULL;
	int64_t rid = sqlite3_value_int64(q->v[0]);
	int64_t ts_ms = vg_rule_time_ms(ts);
	struct vg_sb key;
	char *alert_id = NULL;
	int rc;

	if (ts_ms < 0)
		ts = now, ts_ms = vg_rule_time_ms(now);
	if (r->d.lookback_ms) {
		/* a row seen by an earlier run may be evidence already */
		st = d->has_ev;
		sqlite3_bind_text(st, 1, r->table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, rid);
		sqlite3_bind_text(st, 3, r->d.id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc == SQLITE_ROW)
			return SQLITE_OK;
		if (rc != SQLITE_DONE)
			return rc;
	}

	vg_sb_init(&key);
	vg_rule_key(&r->d,
		    &(struct vg_rule_row){ .text = vg_hit_text,
					   .ctx = q,
					   .device = dev,
					   .group_idx = r->group_idx,
					   .tree_idx = r->tree_idx,
					   .table = r->table,
					   .rid = (long long)rid },
		    &key);
	if (vg_sb_err(&key))
		return SQLITE_NOMEM;

	st = d->find_alert;
	sqlite3_bind_text(st, 1, vg_sb_str(&key), -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t first = vg_rule_time_ms((const char *)sqlite3_column_text(st, 1));

		if (vg_rule_in_window(&r->d, first, ts_ms))
			alert_id = strdup((const char *)sqlite3_column_text(st, 0) ?: "");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (alert_id) {
		st = d->upd_alert;
		sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
		rc = vg_step_reset(st);
	} else {
		rc = vg_alert_open(d, r, q, now, vg_sb_str(&key), ts, &alert_id);
		*new_alerts += rc == SQLITE_OK;
	}
	vg_sb_free(&key);
	if (rc == SQLITE_OK && !alert_id)
		rc = SQLITE_NOMEM;
	if (rc != SQLITE_OK) {
		free(alert_id);
		return rc;
	}

	st = d->ins_ev;
	sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->d.title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->d.category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->d.mitre, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, vg_rule_entity_type(r->table), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->table, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, rid);
	for (size_t i = 0; i < VG_RULE_NEV; i++) {
		int col = r->ev_idx[i];

		/* A file or network event names the process by its initiating command line. */
		if (!strcmp(vg_rule_ev_cols[i], "ProcessCommandLine") && col < 0)
			col = r->fallback_cmd;
		vg_bind_col(st, 8 + (int)i, q, col);
	}
	free(alert_id);
	return vg_step_reset(st);
}

static int64_t vg_query_i64(sqlite3 *db, sqlite3_stmt *st, const char *bind, int *rc)
{
	int64_t v = 0;

	if (bind)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT);
	*rc = sqlite3_step(st);
	if (*rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	*rc = *rc == SQLITE_ROW || *rc == SQLITE_DONE ? SQLITE_OK : *rc;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return v;
}

/* Where r reads table from: after lo, or from the first row of its lookback span. */
static int vg_lookback(struct vg_detect *d, const struct vg_rule *r, const char *table, int64_t lo,
		       int64_t *from)
{
	char since[VG_ISO_LEN], *sql;
	sqlite3_stmt *st;
	int rc;

	*from = lo;
	vg_iso_time(since, vg_now_ns() - (uint64_t)r->d.lookback_ms * 1000000);
	sql = sqlite3_mprintf("SELECT min(rowid) - 1 FROM \"%w\" WHERE Timestamp >= ?", table);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    sqlite3_column_int64(st, 0) < lo)
		*from = sqlite3_column_int64(st, 0);
	return sqlite3_finalize(st);
}

/*
 * A run reads, then writes. The rule queries run in one read transaction (a
 * snapshot, which the writer of batches does not wait for: the host gives the
 * detections a connection and a thread of their own) and the rows they return
 * are kept; then one short write transaction makes the alerts and evidence
 * and moves the watermarks. A run reads at most VG_DETECT_SPAN new rows of a
 * table (the next run, at once, reads on) and keeps at most
 * VG_DETECT_MAX_HITS rows in all, which bounds its memory and how long the
 * writer of batches may wait for its write (about 20 us a row): the rows past
 * it are not made evidence, and are counted (HostCounters
 * DetectionRowsCapped, by rule) and logged.
 */
#define VG_DETECT_SPAN 100000
#define VG_DETECT_MAX_HITS 50000

/* Run rule r over rows rlo+1..hi (its lookback span), keeping what it returns. */
static int vg_rule_read(struct vg_detect *d, struct vg_rule *r, const char *table, int64_t lo,
			int64_t hi)
{
	int64_t rlo = lo;
	uint64_t over = 0;
	int rc = SQLITE_OK;

	/*
	 * A lookback rule reads its span only when a new row matches: no new
	 * row is evidence, no older one became evidence either (and a batch
	 * with no row for its filters costs no window scan).
	 */
	if (r->d.lookback_ms) {
		sqlite3_bind_int64(r->st, 1, lo);
		sqlite3_bind_int64(r->st, 2, hi);
		rc = sqlite3_step(r->st);
		sqlite3_reset(r->st);
		if (rc == SQLITE_ROW)
			rc = vg_lookback(d, r, table, lo, &rlo);
		else if (rc == SQLITE_DONE)
			rlo = hi; /* nothing to read */
		if (rc != SQLITE_OK && rc != SQLITE_DONE)
			return rc;
		rc = SQLITE_OK;
	}
	sqlite3_bind_int64(r->st, 1, rlo);
	sqlite3_bind_int64(r->st, 2, hi);
	while (rlo < hi && (rc = sqlite3_step(r->st)) == SQLITE_ROW) {
		if (d->nhits < VG_DETECT_MAX_HITS) {
			rc = vg_hit_add(r);
			d->nhits += rc == SQLITE_OK;
		} else {
			over++;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_OK)
			break;
	}
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = SQLITE_OK;
	else if (rc != SQLITE_OK)
		vg_log(VG_ERROR, "rule %s: %s", r->d.id, sqlite3_errmsg(d->db));
	sqlite3_reset(r->st);
	if (over) {
		vg_log(VG_WARN,
		       "rule %s: %llu rows past the %d a run makes evidence of (counted, not evidence)",
		       r->d.id, (unsigned long long)over, VG_DETECT_MAX_HITS);
		r->capped += over;
	}
	return rc;
}

/* The read: every rule's rows since its table's watermark, into r->hits and d->spans. */
static int vg_detect_read(struct vg_detect *d)
{
	int rc = sqlite3_exec(d->db, "BEGIN", NULL, NULL, NULL);

	/* Per table: the rows since its watermark, for every rule reading it. */
	for (int i = 0; i < d->nrules && rc == SQLITE_OK; i++) {
		const char *table = d->rules[i].table;
		int64_t lo, hi;
		sqlite3_stmt *mx;
		char *seen[VG_DETECT_MAX_ACTS];
		struct vg_span *ns;
		int dup = 0, need = 0, nseen;

		if (!d->rules[i].st)
			continue;
		for (int j = 0; j < d->nspans; j++)
			dup |= !strcmp(d->spans[j].table, table);
		if (dup)
			continue;
		lo = vg_query_i64(d->db, d->get_wm, table, &rc);
		if (rc != SQLITE_OK)
			break;
		{
			struct vg_sb sql;

			vg_sb_init(&sql);
			vg_sb_printf(&sql, "SELECT max(rowid) FROM \"%s\"", table);
			rc = sqlite3_prepare_v2(d->db, vg_sb_str(&sql) ?: "", -1, &mx, NULL);
			vg_sb_free(&sql);
			if (rc != SQLITE_OK)
				break;
			hi = vg_query_i64(d->db, mx, NULL, &rc);
			sqlite3_finalize(mx);
			if (rc != SQLITE_OK)
				break;
		}
		if (hi - lo > VG_DETECT_SPAN) {
			hi = lo + VG_DETECT_SPAN;
			d->behind = 1;
		}
		ns = realloc(d->spans, (size_t)(d->nspans + 1) * sizeof(*ns));
		if (!ns) {
			rc = SQLITE_NOMEM;
			break;
		}
		d->spans = ns;
		d->spans[d->nspans++] = (struct vg_span){ table, hi, hi > lo };
		if (hi <= lo)
			continue;
		d->nmoved++;
		for (int j = i; j < d->nrules; j++)
			need |= d->rules[j].st && d->rules[j].nacts &&
				!strcmp(d->rules[j].table, table);
		nseen = need ? vg_new_actions(d->db, table, lo, hi, seen, VG_DETECT_MAX_ACTS, &rc) :
			       -1;
		if (rc != SQLITE_OK)
			break;
		for (int j = i; j < d->nrules && rc == SQLITE_OK; j++) {
			struct vg_rule *r = &d->rules[j];
			uint64_t t0;

			if (!r->st || strcmp(r->table, table) || !vg_rule_may_match(r, seen, nseen))
				continue;
			t0 = vg_now_ns();
			rc = vg_rule_read(d, r, table, lo, hi);
			r->cost_ns = vg_now_ns() - t0;
			r->ran = 1;
		}
		while (nseen > 0)
			free(seen[--nseen]);
	}
	/* Only read: the end of the snapshot. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	else
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The write: alerts and evidence of the rows the read kept, the watermarks. */
static int vg_detect_write(struct vg_detect *d, const char *now, int *new_alerts)
{
	int rc = SQLITE_OK;

	if (!d->nmoved)
		return SQLITE_OK;
	rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (int i = 0; i < d->nrules && rc == SQLITE_OK; i++) {
		struct vg_rule *r = &d->rules[i];
		uint64_t t0 = vg_now_ns();

		for (size_t k = 0; k < r->nhits && rc == SQLITE_OK; k++)
			rc = vg_detect_row(d, r, &r->hits[k], now, new_alerts);
		if (r->capped && rc == SQLITE_OK)
			rc = vg_host_counter_add(d->db, "DetectionRowsCapped", r->d.id,
						 (int64_t)r->capped) ?
				     SQLITE_IOERR :
				     SQLITE_OK;
		if (!r->ran)
			continue;
		r->cost_ns += vg_now_ns() - t0;
		if (r->cost_ns >= 1000000)
			vg_log(VG_DEBUG, "rule %s: %.1f ms, %zu rows returned", r->d.id,
			       (double)r->cost_ns / 1e6, r->nhits);
	}
	for (int i = 0; i < d->nspans && rc == SQLITE_OK; i++) {
		if (!d->spans[i].moved)
			continue;
		sqlite3_bind_text(d->set_wm, 1, d->spans[i].table, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(d->set_wm, 2, d->spans[i].hi);
		rc = vg_step_reset(d->set_wm);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int vg_detect_run(struct vg_detect *d)
{
	char now[VG_ISO_LEN];
	int new_alerts = 0, rc = SQLITE_OK, err = 0;

	vg_iso_time(now, vg_now_ns());
	d->behind = 0;
	for (int i = 0; i < d->nrules; i++) {
		d->rules[i].cost_ns = 0;
		if (d->rules[i].waiting) {
			struct vg_sb errors;

			vg_sb_init(&errors);
			err = vg_rule_compile(d, &d->rules[i], &errors);
			if (err && err != -EAGAIN)
				vg_log_lines(VG_ERROR, vg_sb_str(&errors) ?: "rule error");
			vg_sb_free(&errors);
			if (err) {
				/* A table with other columns than the rule expects. */
				d->rules[i].waiting = err == -EAGAIN;
				err = 0;
			}
		}
	}
	rc = vg_detect_read(d);
	if (rc == SQLITE_OK)
		rc = vg_detect_write(d, now, &new_alerts);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "detect: %s", sqlite3_errmsg(d->db));
		d->behind = 0; /* not at once: the next batch or the next second */
	}
	for (int i = 0; i < d->nrules; i++) {
		vg_hits_free(&d->rules[i]);
		d->rules[i].ran = 0;
		d->rules[i].capped = 0;
	}
	d->nspans = d->nmoved = 0;
	d->nhits = 0;
	if (rc != SQLITE_OK)
		err = vg_sqlite_errno(rc) ?: -EIO;
	return err ? err : new_alerts;
}

int vg_detect_behind(const struct vg_detect *d)
{
	return d && d->behind;
}
