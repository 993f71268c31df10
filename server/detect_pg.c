// SPDX-License-Identifier: GPL-2.0-only
/*
 * Detections in vigil server: the rules of hunt/rule.c translated by the KQL
 * translator's PostgreSQL dialect (hunt/kql_pg.c) and run over the fleet
 * tables by one thread of one server at a time, with the detector's own
 * role (vigil server roles --detect). Alerts name their device and go to
 * AlertInfo, their evidence rows to AlertEvidence, grouped as the local
 * store groups them (rule.c: AlertKey, window, lookback).
 *
 * One detector: the thread holds a session advisory lock (VG_PG_DETECT_LOCK)
 * while it runs; every other server's thread tries it each interval and
 * takes over when the holder's session ends (the server died or lost its
 * connection). A cursor that writes once a second on the same row could
 * still race if two ran: each cycle's cursor update names the value it read
 * and rolls back when another moved it.
 *
 * The cursor: every event row takes an "IngestId" from one sequence as it
 * is stored (pgschema.c, version 4). Ids are taken in one order and
 * committed in another: a batch that took id 100 may commit after one that
 * took 101, so "every id up to the largest committed one" would skip 100
 * for good. Each batch's transaction holds VG_PG_INGEST_LOCK shared from
 * before its first id (pgstore.c); a cycle takes it exclusively for a
 * moment, so no batch is in flight, and reads the sequence: every id up to
 * that value belongs to a transaction that committed or rolled back, and
 * no later transaction can take one. The cycle then reads the rows of
 * (cursor, that value] and moves the cursor there, in one transaction with
 * the alerts it writes: a detector killed halfway wrote nothing and the
 * next one starts from the same cursor (no alert lost or written twice).
 * The exclusive lock waits at most lock_timeout for a batch in flight (a
 * shard that does not answer): the cycle is skipped rather than ingest kept
 * waiting behind it. xmin snapshots were the other way, but no index serves
 * "rows whose xmin is newer than this snapshot" (a scan of every table each
 * cycle) and a coordinator's foreign partitions have their shard's xids.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"
#include "hunt_pg.h"
#include "kql.h"
#include "log.h"
#include "rule.h"
#include "server.h"
#include "store.h"

/* Seconds between cycles, and the longest a cycle waits for the batches in flight. */
#define VG_DETECT_INTERVAL_S 1
#define VG_DETECT_LOCK_TIMEOUT "1s"

struct vg_prule {
	struct vg_rule_def d;
	char *sql, *table;
	int runnable; /* translated for this database */
	int logged; /* its translation error was logged */
};

static struct {
	char *conninfo;
	struct vg_prule *rules;
	int nrules;
	PGconn *c;
	int held; /* VG_PG_DETECT_LOCK is this session's */
	int waiting_logged;
	char last_error[512];
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
} vg_dp = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static const char *vg_dp_err(char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", PQerrorMessage(vg_dp.c));
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return buf;
}

/* Run sql with n text parameters: the result (PQclear it), NULL when it failed (logged). */
static PGresult *vg_dp_exec(const char *what, const char *sql, int n, const char *const *v)
{
	PGresult *r = PQexecParams(vg_dp.c, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	char m[512];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	vg_log(VG_ERROR, "detect: %s: %s", what, vg_dp_err(m, sizeof(m)));
	PQclear(r);
	return NULL;
}

static int vg_dp_cmd(const char *what, const char *sql, int n, const char *const *v)
{
	PGresult *r = vg_dp_exec(what, sql, n, v);

	PQclear(r);
	return r ? 0 : -EIO;
}

/* Translate every rule against the database's tables; a rule PostgreSQL cannot run is logged once. */
static int vg_dp_translate(void)
{
	struct vg_pg_cat cat;
	int err = vg_pg_catalog(vg_dp.c, &cat), n = 0;

	if (err)
		return err;
	for (int i = 0; i < vg_dp.nrules; i++) {
		struct vg_prule *r = &vg_dp.rules[i];
		struct vg_kql_query q;
		struct vg_kql_error e;
		struct vg_sb msg;

		free(r->sql);
		free(r->table);
		r->sql = r->table = NULL;
		r->runnable = 0;
		err = vg_kql_translate_for(VG_KQL_PG, cat.t, VG_PG_NTABLES, r->d.query,
					   VG_KQL_BOUNDED, &q, &e);
		if (err == -ENOMEM)
			break;
		err = 0;
		if (!q.sql) {
			if (!r->logged) {
				char prefix[300];

				snprintf(prefix, sizeof(prefix), "%s:", r->d.path);
				vg_sb_init(&msg);
				vg_kql_error_format(&msg, prefix, r->d.query, r->d.query_line, &e);
				vg_log(VG_WARN, "detect: rule %s does not run on PostgreSQL:", r->d.id);
				vg_log_lines(VG_WARN, vg_sb_str(&msg) ?: "");
				vg_sb_free(&msg);
			}
			r->logged = 1;
			continue;
		}
		if (!q.ncols || strcmp(q.cols[0], "_rid")) {
			vg_log(VG_WARN,
			       "detect: rule %s: the query must return the events of its table"
			       " (where and extend only)",
			       r->d.id);
			vg_kql_query_free(&q);
			continue;
		}
		r->sql = q.sql;
		r->table = q.source;
		q.sql = q.source = NULL;
		r->runnable = 1;
		n++;
		vg_kql_query_free(&q);
	}
	vg_pg_cat_free(&cat);
	if (!err)
		vg_log(VG_INFO, "detect: %d of %d rules run on PostgreSQL", n, vg_dp.nrules);
	return err;
}

/* ---- one cycle */

struct vg_dp_row {
	PGresult *r;
	int row;
};

static const char *vg_dp_text(void *ctx, int col)
{
	struct vg_dp_row *x = ctx;

	if (col < 0 || PQgetisnull(x->r, x->row, col))
		return NULL;
	return PQgetvalue(x->r, x->row, col);
}

static int vg_dp_col(PGresult *r, const char *name)
{
	char q[80];

	snprintf(q, sizeof(q), "\"%s\"", name); /* PQfnumber folds unquoted names */
	return PQfnumber(r, q);
}

/*
 * The alert of the result row at row of res (rule p): found in its window or
 * opened; then the row's evidence. Columns by name: the row also holds
 * "IngestId", which the translator does not count.
 */
static int vg_dp_row(struct vg_prule *p, PGresult *res, int row, const char *now, int *new_alerts)
{
	struct vg_dp_row x = { res, row };
	int ev_idx[VG_RULE_NEV], group_idx[VG_RULE_MAX_GROUP], tree_idx[4];
	const char *rid = PQgetvalue(res, row, 0), *v[7 + VG_RULE_NEV];
	char ts[VG_ISO_LEN], *alert_id = NULL;
	int64_t ts_ms;
	struct vg_sb key, gk;
	PGresult *r;
	int err = 0;

	for (int i = 0; i < VG_RULE_NEV; i++)
		ev_idx[i] = vg_dp_col(res, vg_rule_ev_cols[i]);
	for (int i = 0; i < p->d.ngroup; i++)
		group_idx[i] = vg_dp_col(res, p->d.group[i]);
	for (int i = 0; i < 4; i++)
		tree_idx[i] = vg_dp_col(res, vg_rule_tree_cols[i]);
	ts_ms = vg_rule_time_ms(vg_dp_text(&x, ev_idx[0]));
	if (ts_ms < 0)
		ts_ms = vg_rule_time_ms(now);
	vg_iso_time(ts, (uint64_t)ts_ms * 1000000);
	if (p->d.lookback_ms) {
		/* a row seen by an earlier cycle may be evidence already */
		v[0] = p->table, v[1] = rid, v[2] = p->d.id;
		r = vg_dp_exec("evidence seen",
			       "SELECT 1 FROM \"AlertEvidence\" e JOIN \"AlertInfo\" a USING"
			       " (\"AlertId\") WHERE e.\"SourceTable\" = $1 AND e.\"SourceRowId\" = $2"
			       " AND a.\"RuleId\" = $3 LIMIT 1",
			       3, v);
		if (!r)
			return -EIO;
		err = PQntuples(r);
		PQclear(r);
		if (err)
			return 0;
	}
	vg_sb_init(&key);
	vg_sb_init(&gk);
	vg_rule_key(&p->d,
		    &(struct vg_rule_row){ .text = vg_dp_text,
					   .ctx = &x,
					   .device = ev_idx[1],
					   .group_idx = group_idx,
					   .tree_idx = tree_idx,
					   .table = p->table,
					   .rid = strtoll(rid, NULL, 10) },
		    &key);
	vg_sb_printf(&gk, "%s\x1d%s", vg_sb_str(&key) ?: "", ts);
	if (vg_sb_err(&key) || vg_sb_err(&gk)) {
		err = -ENOMEM;
		goto out;
	}
	/* the group's latest alert */
	v[0] = vg_sb_str(&key);
	r = vg_dp_exec("find the alert",
		       "SELECT \"AlertId\", to_char(\"FirstActivity\" AT TIME ZONE 'UTC',"
		       " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM \"AlertInfo\" WHERE \"AlertKey\" = $1"
		       " ORDER BY \"Timestamp\" DESC, length(\"AlertId\") DESC, \"AlertId\" DESC"
		       " LIMIT 1",
		       1, v);
	if (!r) {
		err = -EIO;
		goto out;
	}
	if (PQntuples(r) &&
	    vg_rule_in_window(&p->d, vg_rule_time_ms(PQgetvalue(r, 0, 1)), ts_ms))
		alert_id = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (alert_id) {
		v[0] = alert_id, v[1] = ts;
		err = vg_dp_cmd("count the evidence",
				"UPDATE \"AlertInfo\" SET \"EvidenceCount\" = \"EvidenceCount\" + 1,"
				" \"FirstActivity\" = least(\"FirstActivity\", $2),"
				" \"LastActivity\" = greatest(\"LastActivity\", $2)"
				" WHERE \"AlertId\" = $1",
				2, v);
	} else {
		v[0] = now, v[1] = p->d.title, v[2] = p->d.category, v[3] = p->d.severity;
		v[4] = p->d.mitre, v[5] = p->d.id, v[6] = vg_dp_text(&x, ev_idx[1]);
		v[7] = vg_dp_text(&x, ev_idx[2]), v[8] = p->d.description;
		v[9] = vg_sb_str(&gk), v[10] = vg_sb_str(&key), v[11] = ts;
		r = vg_dp_exec("open an alert",
			       "INSERT INTO \"AlertInfo\" (\"Timestamp\", \"AlertId\", \"Title\","
			       " \"Category\", \"Severity\", \"DetectionSource\", \"AttackTechniques\","
			       " \"RuleId\", \"DeviceId\", \"DeviceName\", \"Description\", \"GroupKey\","
			       " \"AlertKey\", \"EvidenceCount\", \"FirstActivity\", \"LastActivity\")"
			       " VALUES ($1, 'vg' || lpad(nextval('\"AlertSeq\"')::text, 8, '0'), $2,"
			       " $3, $4, 'vigil', $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)"
			       " RETURNING \"AlertId\"",
			       12, v);
		if (r) {
			alert_id = strdup(PQgetvalue(r, 0, 0));
			vg_log(VG_INFO, "alert %s: %s (%s, %s) on %s (%s)", PQgetvalue(r, 0, 0),
			       p->d.title, p->d.severity, p->d.mitre, v[6] ?: "?", v[7] ?: "?");
			(*new_alerts)++;
		}
		PQclear(r);
		err = r ? 0 : -EIO;
	}
	if (!err && !alert_id)
		err = -ENOMEM;
	if (err)
		goto out;
	v[0] = alert_id, v[1] = p->d.title, v[2] = p->d.category, v[3] = p->d.mitre;
	v[4] = vg_rule_entity_type(p->table), v[5] = p->table, v[6] = rid;
	for (int i = 0; i < VG_RULE_NEV; i++) {
		int col = ev_idx[i];

		/* A file or network event names the process by its initiating command line. */
		if (!strcmp(vg_rule_ev_cols[i], "ProcessCommandLine") && col < 0)
			col = vg_dp_col(res, "InitiatingProcessCommandLine");
		v[7 + i] = vg_dp_text(&x, col);
	}
	v[7] = ts;
	err = vg_dp_cmd("add the evidence",
			"INSERT INTO \"AlertEvidence\" (\"AlertId\", \"Title\", \"Categories\","
			" \"AttackTechniques\", \"DetectionSource\", \"EntityType\", \"EvidenceRole\","
			" \"SourceTable\", \"SourceRowId\", \"Timestamp\", \"DeviceId\", \"DeviceName\","
			" \"ActionType\", \"FileName\", \"FolderPath\", \"ProcessId\","
			" \"ProcessCommandLine\", \"AccountName\", \"RemoteIP\", \"RemotePort\","
			" \"ReportId\") VALUES ($1, $2, $3, $4, 'vigil', $5, 'Impacted', $6, $7, $8,"
			" $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
			7 + VG_RULE_NEV, v);
out:
	free(alert_id);
	vg_sb_free(&key);
	vg_sb_free(&gk);
	return err;
}

/*
 * Every id up to *hi is committed or gone: 0, 1 when the batches in flight
 * did not finish within the lock timeout (no cycle now), -EIO.
 */
static int vg_dp_horizon(long long *hi)
{
	PGresult *r;
	const char *state;

	r = PQexec(vg_dp.c, "BEGIN; SET LOCAL lock_timeout = '" VG_DETECT_LOCK_TIMEOUT "';"
			    " SELECT pg_advisory_xact_lock(" VG_PG_INGEST_LOCK ");"
			    " SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM \"IngestSeq\"");
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		*hi = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return vg_dp_cmd("commit", "COMMIT", 0, NULL);
	}
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && !strcmp(state, "55P03")) { /* lock_not_available */
		PQclear(r);
		PQclear(PQexec(vg_dp.c, "ROLLBACK"));
		vg_log(VG_DEBUG, "detect: batches in flight for " VG_DETECT_LOCK_TIMEOUT
				 ": no cycle now");
		return 1;
	}
	vg_log(VG_ERROR, "detect: the ingest horizon: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQclear(PQexec(vg_dp.c, "ROLLBACK"));
	return -EIO;
}

/*
 * Run p's query over the rows of (v[0], v[1]] in a savepoint: its result, or
 * NULL with the savepoint rolled back (the error logged).
 */
static PGresult *vg_dp_query(struct vg_prule *p, const char *const *v)
{
	PGresult *r;

	if (vg_dp_cmd("savepoint", "SAVEPOINT vg_rule", 0, NULL))
		return NULL;
	r = vg_dp_exec(p->d.id, p->sql, 2, v);
	if (!r) {
		char m[512];

		/* the error, for vg_dp_failed(), before the rollback clears it */
		snprintf(vg_dp.last_error, sizeof(vg_dp.last_error), "%s", vg_dp_err(m, sizeof(m)));
		PQclear(PQexec(vg_dp.c, "ROLLBACK TO SAVEPOINT vg_rule"));
		return NULL;
	}
	if (vg_dp_cmd("release savepoint", "RELEASE SAVEPOINT vg_rule", 0, NULL)) {
		PQclear(r);
		return NULL;
	}
	return r;
}

/*
 * p's query failed on the rows of (v[0], v[1]] (a value PostgreSQL refuses
 * where SQLite carries on: toint() of text that is no number): rather than
 * hold every rule's detections back, the rule skips these rows and the
 * loss is counted in DetectionFailed. 0 or -EIO.
 */
static int vg_dp_failed(struct vg_prule *p, const char *const *v)
{
	const char *f[4] = { p->d.id, v[0], v[1], vg_dp.last_error };

	vg_log(VG_WARN, "detect: rule %s skips the rows of ids %s to %s of %s: %s", p->d.id, v[0],
	       v[1], p->table, vg_dp.last_error);
	return vg_dp_cmd("count the rule's failure",
			 "INSERT INTO \"DetectionFailed\" AS d VALUES ($1, 1, $2, $3, $4, now())"
			 " ON CONFLICT (\"RuleId\") DO UPDATE SET \"Failures\" = d.\"Failures\" + 1,"
			 " \"FromIngestId\" = excluded.\"FromIngestId\","
			 " \"ToIngestId\" = excluded.\"ToIngestId\", \"Error\" = excluded.\"Error\","
			 " \"Timestamp\" = excluded.\"Timestamp\"",
			 4, f);
}

/* Rules reading table over the rows of (lo, hi]. */
static int vg_dp_table(const char *table, long long lo, long long hi, const char *now,
		       int *new_alerts)
{
	char los[24], his[24];
	const char *v[2] = { los, his };
	int err = 0;

	snprintf(his, sizeof(his), "%lld", hi);
	for (int i = 0; !err && i < vg_dp.nrules; i++) {
		struct vg_prule *p = &vg_dp.rules[i];
		long long rlo = lo;
		PGresult *r;

		if (!p->runnable || strcmp(p->table, table))
			continue;
		snprintf(los, sizeof(los), "%lld", lo);
		if (p->d.lookback_ms) {
			/* Its span only when a new row matches (as detect.c reads it). */
			char since[VG_ISO_LEN], sql[256];
			const char *sv[1] = { since };

			r = vg_dp_query(p, v);
			if (!r) {
				err = PQstatus(vg_dp.c) == CONNECTION_OK ? vg_dp_failed(p, v) : -EIO;
				continue;
			}
			rlo = PQntuples(r) ? lo : hi;
			PQclear(r);
			if (rlo == hi)
				continue;
			vg_iso_time(since, vg_now_ns() - (uint64_t)p->d.lookback_ms * 1000000);
			snprintf(sql, sizeof(sql),
				 "SELECT min(\"IngestId\") - 1 FROM \"%s\" WHERE \"Timestamp\" >= $1",
				 table);
			r = vg_dp_exec("lookback", sql, 1, sv);
			if (!r)
				return -EIO;
			if (!PQgetisnull(r, 0, 0) && strtoll(PQgetvalue(r, 0, 0), NULL, 10) < lo)
				rlo = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			PQclear(r);
			snprintf(los, sizeof(los), "%lld", rlo);
		}
		r = vg_dp_query(p, v);
		if (!r) {
			err = PQstatus(vg_dp.c) == CONNECTION_OK ? vg_dp_failed(p, v) : -EIO;
			continue;
		}
		for (int row = 0; !err && row < PQntuples(r); row++)
			err = vg_dp_row(p, r, row, now, new_alerts);
		PQclear(r);
	}
	return err;
}

/* One cycle: the rows stored since each table's cursor, in one transaction. Alerts, or -errno. */
static int vg_dp_cycle(void)
{
	char now[VG_ISO_LEN], los[24], his[24];
	const char *v[3];
	long long hi, lo;
	int new_alerts = 0, err;

	err = vg_dp_horizon(&hi);
	if (err)
		return err < 0 ? err : 0;
	vg_iso_time(now, vg_now_ns());
	snprintf(his, sizeof(his), "%lld", hi);
	if (vg_dp_cmd("begin", "BEGIN", 0, NULL))
		return -EIO;
	for (int i = 0; !err && i < vg_dp.nrules; i++) {
		const char *table = vg_dp.rules[i].table;
		int seen = 0, moved;
		PGresult *r;

		if (!vg_dp.rules[i].runnable)
			continue;
		for (int j = 0; j < i; j++)
			seen |= vg_dp.rules[j].runnable && !strcmp(vg_dp.rules[j].table, table);
		if (seen)
			continue;
		v[0] = table;
		r = vg_dp_exec("read the cursor",
			       "SELECT \"LastIngestId\" FROM \"DetectionState\" WHERE \"TableName\" = $1",
			       1, v);
		if (!r) {
			err = -EIO;
			break;
		}
		lo = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
		PQclear(r);
		if (hi <= lo)
			continue;
		err = vg_dp_table(table, lo, hi, now, &new_alerts);
		if (err)
			break;
		/* from the value read: a second detector moving it meanwhile makes this one roll back */
		snprintf(los, sizeof(los), "%lld", lo);
		v[1] = his, v[2] = los;
		r = vg_dp_exec("move the cursor",
			       "INSERT INTO \"DetectionState\" AS s VALUES ($1, $2, now())"
			       " ON CONFLICT (\"TableName\") DO UPDATE SET \"LastIngestId\" ="
			       " excluded.\"LastIngestId\", \"Timestamp\" = excluded.\"Timestamp\""
			       " WHERE s.\"LastIngestId\" = $3",
			       3, v);
		moved = r && atoi(PQcmdTuples(r)) == 1;
		PQclear(r);
		if (!r) {
			err = -EIO;
		} else if (!moved) {
			vg_log(VG_WARN, "detect: %s's cursor moved under this detector: cycle undone",
			       table);
			err = -EAGAIN;
		}
	}
	if (!err && vg_dp_cmd("commit", "COMMIT", 0, NULL))
		err = -EIO;
	if (err) {
		PQclear(PQexec(vg_dp.c, "ROLLBACK"));
		return err;
	}
	if (new_alerts)
		vg_log(VG_INFO, "detect: %d new alerts", new_alerts);
	return new_alerts;
}

/* ---- the thread */

static int vg_dp_connect(void)
{
	char m[512];
	PGresult *r;

	if (vg_dp.c && PQstatus(vg_dp.c) == CONNECTION_OK)
		return 0;
	vg_dp.held = 0;
	if (vg_dp.c)
		PQreset(vg_dp.c);
	else
		vg_dp.c = PQconnectdb(vg_dp.conninfo);
	if (PQstatus(vg_dp.c) != CONNECTION_OK) {
		vg_log(VG_WARN, "detect: cannot connect to PostgreSQL: %s", vg_dp_err(m, sizeof(m)));
		return -EIO;
	}
	r = PQexec(vg_dp.c, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"
			    " SET client_min_messages = warning");
	PQclear(r);
	return vg_dp_translate();
}

/* 1 when this session runs the detections, 0 when another does, -EIO. */
static int vg_dp_lead(void)
{
	PGresult *r;
	int held;

	if (vg_dp.held)
		return 1;
	r = vg_dp_exec("take the detector's lock",
		       "SELECT pg_try_advisory_lock(" VG_PG_DETECT_LOCK ")", 0, NULL);
	if (!r)
		return -EIO;
	held = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (held) {
		vg_log(VG_INFO, "detect: this server runs the detections");
		vg_dp.waiting_logged = 0;
	} else if (!vg_dp.waiting_logged) {
		vg_log(VG_INFO, "detect: another server runs the detections; this one stands by");
		vg_dp.waiting_logged = 1;
	}
	vg_dp.held = held;
	return held;
}

static void *vg_dp_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&vg_dp.lock);
	while (!vg_dp.stop) {
		struct timespec ts;

		pthread_mutex_unlock(&vg_dp.lock);
		if (!vg_dp_connect() && vg_dp_lead() > 0 && vg_dp_cycle() < 0 &&
		    PQstatus(vg_dp.c) != CONNECTION_OK)
			vg_dp.held = 0;
		pthread_mutex_lock(&vg_dp.lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += VG_DETECT_INTERVAL_S;
		if (!vg_dp.stop)
			pthread_cond_timedwait(&vg_dp.cond, &vg_dp.lock, &ts);
	}
	pthread_mutex_unlock(&vg_dp.lock);
	return NULL;
}

int vg_detect_pg_start(const char *conninfo, const char *dir)
{
	struct vg_rule_def *defs;
	struct vg_sb errors;
	int n, err;

	vg_sb_init(&errors);
	err = vg_rules_load(dir, &defs, &n, &errors);
	if (err) {
		vg_log_lines(VG_ERROR, vg_sb_str(&errors) ?: "detect: loading the rules failed");
		vg_sb_free(&errors);
		return err;
	}
	vg_sb_free(&errors);
	vg_dp.rules = calloc((size_t)n + 1, sizeof(*vg_dp.rules));
	vg_dp.conninfo = strdup(conninfo);
	if (!vg_dp.rules || !vg_dp.conninfo) {
		vg_rules_free(defs, n);
		vg_detect_pg_stop();
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		vg_dp.rules[i].d = defs[i];
	free(defs);
	vg_dp.nrules = n;
	vg_log(VG_INFO, "detect: %d rules from %s", n, dir);
	err = -pthread_create(&vg_dp.thread, NULL, vg_dp_main, NULL);
	if (err) {
		vg_detect_pg_stop();
		return err;
	}
	vg_dp.started = 1;
	return 0;
}

void vg_detect_pg_stop(void)
{
	if (vg_dp.started) {
		pthread_mutex_lock(&vg_dp.lock);
		vg_dp.stop = 1;
		pthread_cond_signal(&vg_dp.cond);
		pthread_mutex_unlock(&vg_dp.lock);
		pthread_join(vg_dp.thread, NULL);
		vg_dp.started = 0;
	}
	for (int i = 0; i < vg_dp.nrules; i++) {
		vg_rule_def_free(&vg_dp.rules[i].d);
		free(vg_dp.rules[i].sql);
		free(vg_dp.rules[i].table);
	}
	free(vg_dp.rules);
	vg_dp.rules = NULL;
	vg_dp.nrules = 0;
	PQfinish(vg_dp.c);
	vg_dp.c = NULL;
	free(vg_dp.conninfo);
	vg_dp.conninfo = NULL;
}
