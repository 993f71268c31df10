// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil hunt --pg: the KQL query translated for PostgreSQL (kql_pg.c) and
 * run through libpq in a read-only session on the fleet's tables, printed
 * by the printers of hunt.c. Values come back as SQLite's would print:
 * timestamps as ISO 8601 UTC with milliseconds, booleans 1/0, doubles as
 * SQLite writes them. Linux only (libpq).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "esc.h"
#include "events.h"
#include "fmt.h"
#include "hunt.h"
#include "hunt_pg.h"
#include "kql.h"
#include "log.h"

/* The tables a fleet query may read: the store's (docs/schema.md), no server bookkeeping. */
static const char *const vg_pg_tables[] = {
	"DeviceProcessEvents", "DeviceFileEvents", "DeviceNetworkEvents", "DeviceEvents",
	"DeviceInfo",	       "SuppressedEvents", "SensorCounters",	  "SensorCounterStreams",
	"ReceivedFrames",      "AlertInfo",	   "AlertEvidence",
};
_Static_assert(sizeof(vg_pg_tables) / sizeof(vg_pg_tables[0]) == VG_PG_NTABLES,
	       "hunt_pg.h counts the fleet tables");

/* PostgreSQL type oids (pg_type.dat) */
#define VG_OID_BOOL 16
#define VG_OID_INT8 20
#define VG_OID_INT2 21
#define VG_OID_INT4 23
#define VG_OID_FLOAT4 700
#define VG_OID_FLOAT8 701
#define VG_OID_TIMESTAMP 1114
#define VG_OID_TIMESTAMPTZ 1184
#define VG_OID_NUMERIC 1700

/* libpq's last error without its trailing newline */
static const char *vg_pg_err(PGconn *pg, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", PQerrorMessage(pg));
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return buf;
}

void vg_pg_cat_free(struct vg_pg_cat *c)
{
	for (size_t i = 0; i < VG_PG_NTABLES; i++) {
		for (int j = 0; j < c->t[i].ncols; j++)
			free(c->cols[i][j]);
		free(c->cols[i]);
	}
}

int vg_pg_catalog(PGconn *pg, struct vg_pg_cat *c)
{
	static const char sql[] = "SELECT table_name, column_name FROM information_schema.columns"
				  " WHERE table_schema = current_schema()"
				  " ORDER BY table_name, ordinal_position";
	PGresult *r = PQexec(pg, sql);
	int err = 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < VG_PG_NTABLES; i++)
		c->t[i].name = vg_pg_tables[i];
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char m[512];

		vg_log(VG_ERROR, "hunt: reading the tables: %s", vg_pg_err(pg, m, sizeof(m)));
		PQclear(r);
		return -EIO;
	}
	for (int row = 0; row < PQntuples(r) && !err; row++) {
		const char *tn = PQgetvalue(r, row, 0), *cn = PQgetvalue(r, row, 1);

		/* the detector's cursor (server/pgschema.c), not an event's column */
		if (!strcmp(cn, "IngestId"))
			continue;
		for (size_t i = 0; i < VG_PG_NTABLES; i++) {
			char **n;

			if (strcmp(tn, vg_pg_tables[i]))
				continue;
			n = realloc(c->cols[i], (size_t)(c->t[i].ncols + 1) * sizeof(*n));
			if (!n || !(n[c->t[i].ncols] = strdup(cn))) {
				if (n)
					c->cols[i] = n;
				err = -ENOMEM;
				break;
			}
			c->cols[i] = n;
			c->t[i].cols = (const char *const *)n;
			c->t[i].ncols++;
		}
	}
	PQclear(r);
	return err;
}

/* ---- rows */

struct vg_pg_src {
	struct vg_hunt_src src;
	PGresult *r;
	int row, nrows;
	PGconn *stream; /* rows one at a time from this connection (single-row mode) */
	char buf[64];
};

static int vg_pg_next(struct vg_hunt_src *src)
{
	struct vg_pg_src *s = (struct vg_pg_src *)src;
	char m[512];

	if (!s->stream)
		return ++s->row < s->nrows;
	PQclear(s->r);
	s->r = PQgetResult(s->stream);
	s->row = 0;
	switch (PQresultStatus(s->r)) {
	case PGRES_SINGLE_TUPLE:
		return 1;
	case PGRES_TUPLES_OK: /* the end */
		PQclear(s->r);
		while ((s->r = PQgetResult(s->stream)))
			PQclear(s->r);
		return 0;
	default:
		vg_log(VG_ERROR, "hunt: query failed: %s", vg_pg_err(s->stream, m, sizeof(m)));
		PQclear(s->r);
		while ((s->r = PQgetResult(s->stream)))
			PQclear(s->r);
		return -EIO;
	}
}

/* "2026-11-29 18:00:00.5+00" -> "2026-11-29T18:00:00.500Z", as the store writes times */
static const char *vg_pg_time(char *out, size_t size, const char *v)
{
	int ms = 0, nd = 0;
	const char *p;

	if (strlen(v) < 19 || v[10] != ' ' || v[4] != '-')
		return v; /* years past 9999, BC, infinity: as PostgreSQL wrote them */
	p = v + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 3)
				ms = ms * 10 + (*p - '0');
	for (; nd < 3; nd++)
		ms *= 10;
	if (*p && strcmp(p, "+00"))
		return v;
	snprintf(out, size, "%.10sT%.8s.%03dZ", v, v + 11, ms);
	return out;
}

/* a double as sqlite3_column_text() writes it: 15 digits and always a point */
static const char *vg_pg_double(char *out, size_t size, const char *v)
{
	char *e, *x;
	double d = strtod(v, &e);

	if (*e || !*v)
		return v;
	snprintf(out, size, "%.15g", d);
	if (strpbrk(out, ".ni"))
		return out;
	x = strchr(out, 'e');
	if (x) {
		char tail[16];

		snprintf(tail, sizeof(tail), "%s", x);
		snprintf(x, size - (size_t)(x - out), ".0%s", tail);
	} else {
		strncat(out, ".0", size - strlen(out) - 1);
	}
	return out;
}

static const char *vg_pg_text(struct vg_hunt_src *src, int c)
{
	struct vg_pg_src *s = (struct vg_pg_src *)src;
	const char *v;

	if (PQgetisnull(s->r, s->row, c))
		return NULL;
	v = PQgetvalue(s->r, s->row, c);
	switch (PQftype(s->r, c)) {
	case VG_OID_BOOL:
		return v[0] == 't' ? "1" : "0";
	case VG_OID_TIMESTAMPTZ:
	case VG_OID_TIMESTAMP:
		return vg_pg_time(s->buf, sizeof(s->buf), v);
	case VG_OID_FLOAT4:
	case VG_OID_FLOAT8:
		return vg_pg_double(s->buf, sizeof(s->buf), v);
	}
	return v;
}

static void vg_pg_json(struct vg_hunt_src *src, int c, struct vg_sb *b)
{
	struct vg_pg_src *s = (struct vg_pg_src *)src;
	const char *v = vg_pg_text(src, c);
	char *e;
	double d;

	if (!v) {
		vg_sb_add(b, "null");
		return;
	}
	switch (PQftype(s->r, c)) {
	case VG_OID_BOOL:
	case VG_OID_INT2:
	case VG_OID_INT4:
	case VG_OID_INT8:
		vg_sb_add(b, v);
		return;
	case VG_OID_NUMERIC:
	case VG_OID_FLOAT4:
	case VG_OID_FLOAT8:
		d = strtod(PQgetvalue(s->r, s->row, c), &e);
		if (!*e && d - d == 0) { /* finite: as vg_json_column() writes a double */
			if (PQftype(s->r, c) == VG_OID_NUMERIC && !strpbrk(v, ".eE"))
				vg_sb_add(b, v);
			else
				vg_sb_printf(b, "%.17g", d);
			return;
		}
	}
	vg_json_str(b, v);
}

/* ---- the run */

/* a session that cannot write, with times in UTC and literal backslashes in strings */
static const char vg_pg_session[] = "SET default_transaction_read_only = on;"
				    " SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"
				    " SET standard_conforming_strings = on";

/* A read-only session on conninfo, or NULL (logged). */
PGconn *vg_hunt_pg_open(const char *conninfo, const char *who)
{
	PGconn *pg = PQconnectdb(conninfo);
	PGresult *r;
	char m[512];

	if (PQstatus(pg) != CONNECTION_OK) {
		vg_log(VG_ERROR, "%s: cannot connect to PostgreSQL: %s", who,
		       vg_pg_err(pg, m, sizeof(m)));
		PQfinish(pg);
		return NULL;
	}
	r = PQexec(pg, vg_pg_session);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		vg_log(VG_ERROR, "%s: setting up the session: %s", who,
		       vg_pg_err(pg, m, sizeof(m)));
		PQclear(r);
		PQfinish(pg);
		return NULL;
	}
	PQclear(r);
	return pg;
}

long vg_hunt_run_pg(const char *conninfo, const char *text, const char *origin,
		    enum vg_hunt_format fmt, FILE *out, FILE *errf)
{
	struct vg_pg_src s = { .src = { vg_pg_next, vg_pg_text, vg_pg_json }, .row = -1 };
	struct vg_kql_query q = { 0 };
	struct vg_kql_error e;
	struct vg_pg_cat cat;
	char m[512];
	PGconn *pg = vg_hunt_pg_open(conninfo, "hunt");
	long n = -EIO;
	int err;

	if (!pg)
		return -EIO;
	err = vg_pg_catalog(pg, &cat);
	if (!err) {
		err = vg_kql_translate_for(VG_KQL_PG, cat.t, (int)VG_PG_NTABLES, text, 0, &q, &e);
		if (err)
			err = vg_hunt_error(err, text, origin, &e, errf);
	}
	vg_pg_cat_free(&cat);
	if (err) {
		n = err;
		goto out;
	}
	vg_log(VG_DEBUG, "hunt: SQL: %s", q.sql);
	/* the extended protocol: one statement, never several; rows as they come */
	if (!PQsendQueryParams(pg, q.sql, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(pg)) {
		vg_log(VG_ERROR, "hunt: query failed: %s", vg_pg_err(pg, m, sizeof(m)));
		goto out;
	}
	s.stream = pg;
	n = vg_hunt_print(&s.src, &q, fmt, out);
	PQclear(s.r);
out:
	PQfinish(pg);
	vg_kql_query_free(&q);
	return n;
}

/* ---- vigil alerts --pg */

struct vg_pg_alerts {
	struct vg_alerts_src src;
	PGconn *pg;
	struct vg_pg_src al, ev;
	const char *ev_sql;
};

static struct vg_hunt_src *vg_pg_alerts_evidence(struct vg_alerts_src *src, const char *id)
{
	struct vg_pg_alerts *s = (struct vg_pg_alerts *)src;
	char m[512];

	PQclear(s->ev.r);
	s->ev.r = PQexecParams(s->pg, s->ev_sql, 1, NULL, &id, NULL, NULL, 0);
	s->ev.row = -1;
	s->ev.nrows = 0;
	if (PQresultStatus(s->ev.r) != PGRES_TUPLES_OK) {
		vg_log(VG_ERROR, "alerts: %s", vg_pg_err(s->pg, m, sizeof(m)));
		return NULL;
	}
	s->ev.nrows = PQntuples(s->ev.r);
	return &s->ev.src;
}

long vg_alerts_print_pg(const char *conninfo, FILE *out, int json)
{
	struct vg_pg_alerts s = {
		.src = { .alerts = &s.al.src, .evidence = vg_pg_alerts_evidence },
		.al = { .src = { vg_pg_next, vg_pg_text, vg_pg_json }, .row = -1 },
		.ev = { .src = { vg_pg_next, vg_pg_text, vg_pg_json }, .row = -1 },
	};
	struct vg_sb aq, eq;
	long n = -EIO;
	char m[512];

	s.pg = vg_hunt_pg_open(conninfo, "alerts");
	if (!s.pg)
		return -EIO;
	vg_sb_init(&aq);
	vg_sb_init(&eq);
	vg_alerts_select(&aq, "NULL", vg_alert_cols, VG_ALERT_NCOLS, "AlertInfo");
	vg_sb_add(&aq, " ORDER BY \"Timestamp\", \"AlertId\"");
	vg_alerts_select(&eq, NULL, vg_evidence_cols, VG_EVIDENCE_NCOLS, "AlertEvidence");
	vg_sb_add(&eq, " WHERE \"AlertId\" = $1"
		       " ORDER BY \"Timestamp\", \"SourceTable\", \"SourceRowId\"");
	if (vg_sb_err(&aq) || vg_sb_err(&eq)) {
		n = -ENOMEM;
		goto out;
	}
	s.ev_sql = vg_sb_str(&eq);
	s.al.r = PQexecParams(s.pg, vg_sb_str(&aq), 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(s.al.r) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(s.al.r, PG_DIAG_SQLSTATE);

		/* no alert tables: no server with detections has written this database */
		if (state && !strcmp(state, "42P01"))
			n = 0;
		else
			vg_log(VG_ERROR, "alerts: %s", vg_pg_err(s.pg, m, sizeof(m)));
		goto out;
	}
	s.al.nrows = PQntuples(s.al.r);
	n = vg_alerts_emit(&s.src, out, json);
out:
	PQclear(s.al.r);
	PQclear(s.ev.r);
	PQfinish(s.pg);
	vg_sb_free(&aq);
	vg_sb_free(&eq);
	return n;
}

/* ---- vigil events --pg: the timeline through host/events.c's row interface */

#define VG_PG_FETCH 500

struct vg_pg_rows {
	struct vg_row r;
	struct vg_pg_src s; /* the fetched block; its text and JSON as the hunt's */
	PGconn *pg;
	int table;
};

static int vg_pgr_step(struct vg_row *r)
{
	struct vg_pg_rows *p = (struct vg_pg_rows *)r;
	char sql[64], m[512];

	if (++p->s.row < p->s.nrows)
		return 1;
	PQclear(p->s.r);
	snprintf(sql, sizeof(sql), "FETCH %d FROM vg_ev%d", VG_PG_FETCH, p->table);
	p->s.r = PQexec(p->pg, sql);
	p->s.row = 0;
	p->s.nrows = 0;
	if (PQresultStatus(p->s.r) != PGRES_TUPLES_OK) {
		vg_log(VG_ERROR, "events: %s", vg_pg_err(p->pg, m, sizeof(m)));
		return -EIO;
	}
	p->s.nrows = PQntuples(p->s.r);
	return p->s.nrows > 0;
}

/* The detector's cursor (server/pgschema.c) is no column of an event: the columns without it. */
static int vg_pgr_col(struct vg_row *r, int i)
{
	int skip = PQfnumber(((struct vg_pg_rows *)r)->s.r, "\"IngestId\"");

	return skip >= 0 && i >= skip ? i + 1 : i;
}

static int vg_pgr_ncols(struct vg_row *r)
{
	PGresult *res = ((struct vg_pg_rows *)r)->s.r;

	return PQnfields(res) - (PQfnumber(res, "\"IngestId\"") >= 0);
}

static const char *vg_pgr_name(struct vg_row *r, int i)
{
	return PQfname(((struct vg_pg_rows *)r)->s.r, vg_pgr_col(r, i));
}

static const char *vg_pgr_text(struct vg_row *r, int i)
{
	return vg_pg_text(&((struct vg_pg_rows *)r)->s.src, vg_pgr_col(r, i));
}

static void vg_pgr_json(struct vg_row *r, int i, struct vg_sb *b)
{
	vg_pg_json(&((struct vg_pg_rows *)r)->s.src, vg_pgr_col(r, i), b);
}

long vg_events_print_pg(const char *conninfo, const char *device, FILE *out, int json, long limit)
{
	struct vg_pg_rows rows[VG_EVENT_TABLES];
	struct vg_row *src[VG_EVENT_TABLES];
	const char *dir = limit > 0 ? "DESC" : "ASC";
	PGconn *pg = vg_hunt_pg_open(conninfo, "events");
	long n = -EIO;
	char m[512];
	struct vg_sb q;
	PGresult *r;

	if (!pg)
		return -EIO;
	vg_sb_init(&q);
	memset(rows, 0, sizeof(rows));
	r = PQexec(pg, "BEGIN");
	PQclear(r);
	for (int t = 0; t < VG_EVENT_TABLES; t++) {
		/* The columns vigil events reads from AdditionalFields, as the SQLite path does. */
		vg_sb_reset(&q);
		vg_sb_printf(&q,
			     "DECLARE vg_ev%d NO SCROLL CURSOR FOR SELECT *,"
			     " \"AdditionalFields\"::jsonb->>'Comm' AS vg_comm,"
			     " \"AdditionalFields\"::jsonb->>'ExitSignal' AS vg_signal,"
			     " (\"AdditionalFields\"::jsonb->'CoreDumped' = 'true')::int AS vg_core"
			     " FROM \"%s\"%s ORDER BY \"Timestamp\" %s, \"ReportId\" %s",
			     t, vg_event_tables[t], device ? " WHERE \"DeviceId\" = $1" : "", dir,
			     dir);
		if (limit > 0)
			vg_sb_printf(&q, " LIMIT %ld", limit);
		if (vg_sb_err(&q)) {
			n = -ENOMEM;
			goto out;
		}
		r = PQexecParams(pg, vg_sb_str(&q), device ? 1 : 0, NULL, &device, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			vg_log(VG_ERROR, "events: %s", vg_pg_err(pg, m, sizeof(m)));
			PQclear(r);
			goto out;
		}
		PQclear(r);
		rows[t].r = (struct vg_row){ vg_pgr_step, vg_pgr_ncols, vg_pgr_name,
					     vg_pgr_text, vg_pgr_json,	0 };
		rows[t].s = (struct vg_pg_src){ .src = { vg_pg_next, vg_pg_text, vg_pg_json },
						.row = -1 };
		rows[t].pg = pg;
		rows[t].table = t;
		src[t] = &rows[t].r;
	}
	n = vg_events_merge(src, out, json, limit, NULL);
out:
	for (int t = 0; t < VG_EVENT_TABLES; t++)
		PQclear(rows[t].s.r);
	vg_sb_free(&q);
	PQfinish(pg);
	return n;
}
