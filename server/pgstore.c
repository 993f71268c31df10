// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet store's write path in PostgreSQL (libpq): one batch in one
 * transaction, exactly once by ("DeviceId", "StreamId", "Seq"), the same
 * rows and AdditionalFields as the local store writes (host/store_write.c,
 * host/store_fields.c). Every value travels as a query parameter, or as a
 * COPY row (the event tables: one COPY per table and batch, escaped here).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "esc.h"
#include "fmt.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "store_int.h"

#define VG_PG_MAX_PARAMS 40
/* Rows of one event table sent in one INSERT (and by postgres_fdw in one batch to a shard). */
#define VG_PG_ROWS 64

enum { VG_ROWS_PROCESS, VG_ROWS_FILE, VG_ROWS_NET, VG_ROWS_DEVEV, VG_ROWS_SUPP, VG_ROWS_KINDS };

/* One event table's rows of a batch not sent yet. */
struct vg_rows {
	const char *sql; /* the one-row INSERT: the multi-row one is its text to VALUES, repeated */
	int cols, n;
	char *v[VG_PG_ROWS * VG_PG_MAX_PARAMS]; /* copies; NULL for SQL NULL */
	uint64_t ns[VG_PG_ROWS]; /* each row's event time */
};

/*
 * How a batch's events reach their tables. On one PostgreSQL: one COPY per
 * event table and batch, the measured fast path (README: a statement per
 * row cost a round trip and an executor start each). On a coordinator whose
 * event tables' partitions are postgres_fdw foreign tables (vigil server
 * shards): INSERTs of VG_PG_ROWS rows, which postgres_fdw sends to a shard
 * as one batch (batch_size). COPY does reach foreign partitions, but
 * PostgreSQL 15's postgres_fdw sends each copied row to its shard as an
 * INSERT of its own, a network round trip per row (COPY into a foreign
 * table honours batch_size only from PostgreSQL 16): 2,000 rows copied into
 * a coordinator of two shards were 1,143 INSERT statements on one shard, the
 * same rows by INSERT 18. Both paths take the same column lists and the same
 * missing-day retry (vg_pg_store_batch).
 */
enum { VG_PG_COPY = 1, VG_PG_INSERT };

struct vg_pg {
	PGconn *c;
	struct vg_sb tmp, tmp2, tmp3, sql;
	struct vg_rows rows[VG_ROWS_KINDS]; /* VG_PG_INSERT: rows not sent yet */
	struct vg_sb copy[VG_ROWS_KINDS]; /* VG_PG_COPY: COPY text rows of the batch under way */
	int mode; /* VG_PG_COPY or VG_PG_INSERT, found on the first batch (0 before) */
	/*
	 * The times of the rows buffered for COPY; after -EAGAIN (no partition),
	 * the times of the rows that may have found none.
	 */
	uint64_t *ns;
	size_t n_ns, cap_ns;
	char schema[192]; /* vg_pg_roles(): current_schema(), quoted */
	int no_partition; /* the last statement failed for want of a day's partition */
	int64_t maintained; /* the UTC day (since the epoch) vg_pg_maintain() last ran for */
};

/* vigil server --retain-days: 0 keeps every day. */
static int vg_pg_retain_days;

void vg_pg_set_retain_days(int days)
{
	vg_pg_retain_days = days;
}

/* One statement's parameters: text, NULL for SQL NULL. */
struct vg_pp {
	const char *v[VG_PG_MAX_PARAMS];
	char num[VG_PG_MAX_PARAMS][VG_ISO_LEN];
	char *own[VG_PG_MAX_PARAMS]; /* copies made valid UTF-8 */
	int n;
};

static void vg_pp_reset(struct vg_pp *p)
{
	for (int i = 0; i < p->n; i++) {
		free(p->own[i]);
		p->own[i] = NULL;
	}
	p->n = 0;
}

/*
 * Text as PostgreSQL (UTF8) accepts it: a byte that is not part of valid
 * UTF-8 (a Linux file name may hold any) becomes \xNN, as lib/esc.h writes
 * it, so the batch stores instead of failing forever.
 */
static void vg_pp_str(struct vg_pp *p, const char *s)
{
	size_t n = strlen(s), i = 0, o = 0;
	uint32_t cp;
	char *d;

	p->own[p->n] = NULL;
	while (i < n) {
		size_t k = vg_utf8_seq(s + i, n - i, &cp);

		if (!k)
			break;
		i += k;
	}
	if (i == n) {
		p->v[p->n++] = s;
		return;
	}
	i = 0;
	d = malloc(4 * n + 1);
	if (!d) {
		p->v[p->n++] = "";
		return;
	}
	while (i < n) {
		size_t k = vg_utf8_seq(s + i, n - i, &cp);

		if (k) {
			memcpy(d + o, s + i, k);
			o += k;
			i += k;
		} else {
			o += (size_t)sprintf(d + o, "\\x%02X", (unsigned char)s[i++]);
		}
	}
	d[o] = 0;
	p->own[p->n] = d;
	p->v[p->n++] = d;
}

/* Text, NULL for a missing or empty string (as the local store binds it). */
static void vg_pp_text(struct vg_pp *p, const char *s)
{
	if (!s || !*s) {
		p->own[p->n] = NULL;
		p->v[p->n++] = NULL;
		return;
	}
	vg_pp_str(p, s);
}

static void vg_pp_null(struct vg_pp *p)
{
	vg_pp_text(p, NULL);
}

static void vg_pp_int(struct vg_pp *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)v);
	p->own[p->n] = NULL;
	p->v[p->n] = p->num[p->n];
	p->n++;
}

static void vg_pp_time(struct vg_pp *p, uint64_t ns)
{
	if (!ns) {
		vg_pp_null(p);
		return;
	}
	vg_iso_time(p->num[p->n], ns);
	p->own[p->n] = NULL;
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* An event of a day without its partition yet: the caller makes it and tries again. */
static int vg_pg_no_partition(const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return state && !strcmp(state, "23514") &&
	       strstr(PQresultErrorMessage(r), "no partition of relation");
}

/* Run sql with n parameters v: the result (PQclear it) or NULL (logged). */
static PGresult *vg_pg_execv(struct vg_pg *pg, const char *what, const char *sql, int n,
			     const char *const *v)
{
	PGresult *r = PQexecParams(pg->c, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	pg->no_partition = 0;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	if (vg_pg_no_partition(r)) {
		pg->no_partition = 1;
		PQclear(r);
		return NULL;
	}
	vg_log(VG_ERROR, "server: postgresql: %s: %s", what,
	       r ? PQresultErrorMessage(r) : PQerrorMessage(pg->c));
	PQclear(r);
	return NULL;
}

/* Run sql with p's parameters (p is reset): the result (PQclear it) or NULL (logged). */
static PGresult *vg_pg_exec(struct vg_pg *pg, const char *what, const char *sql,
			    struct vg_pp *p)
{
	PGresult *r = vg_pg_execv(pg, what, sql, p ? p->n : 0, p ? p->v : NULL);

	if (p)
		vg_pp_reset(p);
	return r;
}

static void vg_rows_clear(struct vg_rows *r)
{
	for (int i = 0; i < r->n * r->cols; i++) {
		free(r->v[i]);
		r->v[i] = NULL;
	}
	r->n = 0;
}

/* The rows buffered for the batch under way, sent or not, are dropped. */
static void vg_pg_rows_clear(struct vg_pg *pg)
{
	for (int k = 0; k < VG_ROWS_KINDS; k++) {
		vg_rows_clear(&pg->rows[k]);
		vg_sb_reset(&pg->copy[k]);
	}
}

/* Note a row's time (for the missing-day retry): 0 or -ENOMEM. */
static int vg_pg_ns_add(struct vg_pg *pg, uint64_t ns)
{
	if (pg->n_ns == pg->cap_ns) {
		size_t cap = pg->cap_ns ? 2 * pg->cap_ns : 256;
		uint64_t *n = realloc(pg->ns, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		pg->ns = n;
		pg->cap_ns = cap;
	}
	pg->ns[pg->n_ns++] = ns;
	return 0;
}

/*
 * Send kind's rows in one INSERT: 0, -ENOMEM, -EAGAIN (a day has no
 * partition: pg->ns holds the rows' times), -EIO. The rows are gone.
 */
static int vg_pg_flush(struct vg_pg *pg, int kind)
{
	struct vg_rows *r = &pg->rows[kind];
	const char *values;
	PGresult *res;
	int err = 0, k = 1;

	if (!r->n)
		return 0;
	values = strstr(r->sql, " VALUES (");
	vg_sb_reset(&pg->sql);
	vg_sb_addn(&pg->sql, r->sql, (size_t)(values - r->sql) + 8);
	for (int i = 0; i < r->n; i++) {
		vg_sb_add(&pg->sql, i ? ", (" : "(");
		for (int c = 0; c < r->cols; c++)
			vg_sb_printf(&pg->sql, c ? ", $%d" : "$%d", k++);
		vg_sb_add(&pg->sql, ")");
	}
	if (vg_sb_err(&pg->sql)) {
		err = -ENOMEM;
	} else {
		res = vg_pg_execv(pg, "store events", vg_sb_str(&pg->sql), r->n * r->cols,
				  (const char *const *)r->v);
		PQclear(res);
		if (!res && pg->no_partition) {
			pg->n_ns = 0;
			for (int i = 0; !err && i < r->n; i++)
				err = vg_pg_ns_add(pg, r->ns[i]);
			err = err ? err : -EAGAIN;
		} else if (!res) {
			err = -EIO;
		}
	}
	vg_rows_clear(r);
	return err;
}

/*
 * Send kind's COPY rows with one COPY, its column list the one-row INSERT's:
 * 0, -ENOMEM, -EAGAIN (a day has no partition: pg->ns holds the batch's
 * rows' times), -EIO (logged). The rows are gone.
 */
static int vg_pg_copy_flush(struct vg_pg *pg, int kind)
{
	struct vg_sb *b = &pg->copy[kind];
	const char *ins = pg->rows[kind].sql, *end;
	int ok, no_part = 0;
	PGresult *r;

	if (!b->len)
		return 0;
	ins += strlen("INSERT INTO");
	end = strstr(ins, " VALUES");
	vg_sb_reset(&pg->sql);
	vg_sb_add(&pg->sql, "COPY");
	vg_sb_addn(&pg->sql, ins, (size_t)(end - ins));
	vg_sb_add(&pg->sql, " FROM STDIN");
	if (vg_sb_err(&pg->sql) || vg_sb_err(b)) {
		vg_sb_reset(b);
		return -ENOMEM;
	}
	r = PQexec(pg->c, vg_sb_str(&pg->sql));
	ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	ok = ok && PQputCopyData(pg->c, b->s, (int)b->len) == 1;
	ok = PQputCopyEnd(pg->c, ok ? NULL : "not sent whole") == 1 && ok;
	while ((r = PQgetResult(pg->c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			no_part = no_part || vg_pg_no_partition(r);
			ok = 0;
		}
		PQclear(r);
	}
	vg_sb_reset(b);
	if (no_part)
		return -EAGAIN;
	if (!ok) {
		vg_log(VG_ERROR, "server: postgresql: copy rows: %s", PQerrorMessage(pg->c));
		return -EIO;
	}
	return 0;
}

/* Every kind's rows, by the connection's mode: 0 or as vg_pg_flush(). */
static int vg_pg_flush_all(struct vg_pg *pg)
{
	int err = 0;

	for (int k = 0; !err && k < VG_ROWS_KINDS; k++)
		err = pg->mode == VG_PG_COPY ? vg_pg_copy_flush(pg, k) : vg_pg_flush(pg, k);
	return err;
}

/* 0, or -EIO. */
static int vg_pg_cmd(struct vg_pg *pg, const char *what, const char *sql, struct vg_pp *p)
{
	PGresult *r = vg_pg_exec(pg, what, sql, p);

	PQclear(r);
	return r ? 0 : -EIO;
}

static void vg_pg_rollback(struct vg_pg *pg)
{
	PQclear(PQexec(pg->c, "ROLLBACK"));
}

/* A lost connection is made again before the next request. */
static int vg_pg_ready(struct vg_pg *pg)
{
	if (PQstatus(pg->c) != CONNECTION_OK)
		PQreset(pg->c);
	return PQstatus(pg->c) == CONNECTION_OK ? 0 : -EIO;
}

int vg_pg_open(struct vg_pg **out, const char *conninfo, char *why, size_t why_len)
{
	struct vg_pg *pg = calloc(1, sizeof(*pg));

	*out = NULL;
	if (!pg)
		return -ENOMEM;
	pg->c = PQconnectdb(conninfo);
	vg_sb_init(&pg->tmp);
	vg_sb_init(&pg->tmp2);
	vg_sb_init(&pg->tmp3);
	vg_sb_init(&pg->sql);
	for (int i = 0; i < VG_ROWS_KINDS; i++)
		vg_sb_init(&pg->copy[i]);
	if (PQstatus(pg->c) != CONNECTION_OK) {
		snprintf(why, why_len, "%s", PQerrorMessage(pg->c));
		why[strcspn(why, "\n")] = 0;
		vg_pg_close(pg);
		return -EIO;
	}
	PQclear(PQexec(pg->c, "SET client_min_messages = warning"));
	*out = pg;
	return 0;
}

void vg_pg_close(struct vg_pg *pg)
{
	if (!pg)
		return;
	PQfinish(pg->c);
	vg_sb_free(&pg->tmp);
	vg_sb_free(&pg->tmp2);
	vg_sb_free(&pg->tmp3);
	vg_sb_free(&pg->sql);
	vg_pg_rows_clear(pg);
	for (int i = 0; i < VG_ROWS_KINDS; i++)
		vg_sb_free(&pg->copy[i]);
	free(pg->ns);
	free(pg);
}

int vg_pg_ping(struct vg_pg *pg, char *why, size_t why_len)
{
	PGresult *r;

	if (vg_pg_ready(pg)) {
		snprintf(why, why_len, "%s", PQerrorMessage(pg->c));
		why[strcspn(why, "\n")] = 0;
		return -EIO;
	}
	r = PQexec(pg->c, "SELECT 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(why, why_len, "%s", PQerrorMessage(pg->c));
		why[strcspn(why, "\n")] = 0;
		PQclear(r);
		return -EIO;
	}
	PQclear(r);
	return 0;
}

/* Several servers may start at once: the migration runs under an advisory lock. */
#define VG_PG_MIGRATE_LOCK "7415901"

/* The database's schema version (0: none yet), or -1 (logged). */
static long vg_pg_version(struct vg_pg *pg)
{
	PGresult *r = vg_pg_exec(pg, "look for SchemaVersion",
				 "SELECT to_regclass('\"SchemaVersion\"') IS NULL", NULL);
	long have;

	if (!r)
		return -1;
	have = PQgetvalue(r, 0, 0)[0] == 't' ? 0 : -2;
	PQclear(r);
	if (!have)
		return 0;
	r = vg_pg_exec(pg, "read SchemaVersion",
		       "SELECT coalesce(max(\"Version\"), 0) FROM \"SchemaVersion\"", NULL);
	if (!r)
		return -1;
	have = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return have;
}

int vg_pg_migrate(struct vg_pg *pg)
{
	struct vg_pp p = { 0 };
	long have = vg_pg_version(pg);

	/* Up to date: nothing to lock or create, so a role that owns nothing may start. */
	if (have == VG_PG_SCHEMA_VERSION)
		return 0;
	if (vg_pg_cmd(pg, "begin migration", "BEGIN", NULL) ||
	    vg_pg_cmd(pg, "lock migration", "SELECT pg_advisory_xact_lock(" VG_PG_MIGRATE_LOCK ")",
		      NULL) ||
	    vg_pg_cmd(pg, "create SchemaVersion",
		      "CREATE TABLE IF NOT EXISTS \"SchemaVersion\" (\"Version\" integer PRIMARY KEY,"
		      " \"Applied\" timestamptz NOT NULL)",
		      NULL))
		goto err;
	have = vg_pg_version(pg); /* another server may have migrated it meanwhile */
	if (have < 0)
		goto err;
	if (have > VG_PG_SCHEMA_VERSION) {
		vg_log(VG_ERROR, "server: the database has schema version %ld, this server knows %d",
		       have, VG_PG_SCHEMA_VERSION);
		goto err;
	}
	for (int v = (int)have + 1; v <= VG_PG_SCHEMA_VERSION; v++) {
		/* Constant DDL, no values: the simple query protocol runs it whole. */
		PGresult *r = PQexec(pg->c, vg_pg_schema_step(v));

		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			vg_log(VG_ERROR, "server: postgresql: schema version %d: %s", v,
			       PQresultErrorMessage(r));
			PQclear(r);
			goto err;
		}
		PQclear(r);
		vg_pp_int(&p, v);
		if (vg_pg_cmd(pg, "record schema version",
			      "INSERT INTO \"SchemaVersion\" VALUES ($1, now())", &p))
			goto err;
		if (have)
			vg_log(VG_INFO, "server: schema migrated to version %d", v);
	}
	if (vg_pg_cmd(pg, "commit migration", "COMMIT", NULL))
		goto err;
	return 0;
err:
	vg_pg_rollback(pg);
	return -EIO;
}

#define VG_NS_DAY (86400ull * 1000000000ull)

/* The UTC day of a time in ns since the epoch, as days since the epoch and as YYYY-MM-DD. */
static int64_t vg_pg_day(uint64_t ns, char out[11])
{
	int64_t day = (int64_t)(ns / VG_NS_DAY);
	char iso[VG_ISO_LEN];

	vg_iso_time(iso, (uint64_t)day * VG_NS_DAY);
	snprintf(out, 11, "%.10s", iso);
	return day;
}

/* Make the day's partitions of every event table if they are missing: how many made, or -EIO. */
static int vg_pg_partition(struct vg_pg *pg, uint64_t ns)
{
	struct vg_pp p = { 0 };
	PGresult *r;
	char day[11];
	int n;

	vg_pg_day(ns, day);
	vg_pp_str(&p, day);
	r = vg_pg_exec(pg, "make a day's partitions", "SELECT vigil_partition($1::date)", &p);
	if (!r)
		return -EIO;
	n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

/* The tables --retain-days trims (not partitioned by day), and the function that does. */
static const char *const vg_pg_trims[][2] = {
	{ "ReceivedFrames", "SELECT vigil_retain_frames($1)" },
	{ "SensorFilterHits", "SELECT vigil_retain_filter_hits($1)" },
};

int vg_pg_maintain(struct vg_pg *pg)
{
	uint64_t now = vg_now_ns(), ns_day = VG_NS_DAY;
	struct vg_pp p = { 0 };
	PGresult *r;
	char day[11];
	int64_t today = vg_pg_day(now, day);

	/* Today's and tomorrow's partitions ahead of the events. */
	if (vg_pg_partition(pg, now) < 0 || vg_pg_partition(pg, now + ns_day) < 0)
		return -EIO;
	if (vg_pg_retain_days > 0) {
		vg_pp_int(&p, vg_pg_retain_days);
		r = vg_pg_exec(pg, "drop old partitions", "SELECT * FROM vigil_retain($1)", &p);
		if (!r)
			return -EIO;
		for (int i = 0; i < PQntuples(r); i++)
			vg_log(VG_INFO,
			       "server: retention: dropped %s of %s (%s rows), older than %d days",
			       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			       vg_pg_retain_days);
		PQclear(r);
		/*
		 * and the exactly-once record of those days' frames, each stream's
		 * newest kept; the hits of sensor runs over since, each device's
		 * newest of each rule kept
		 */
		for (size_t t = 0; t < sizeof(vg_pg_trims) / sizeof(vg_pg_trims[0]); t++) {
			vg_pp_int(&p, vg_pg_retain_days);
			r = vg_pg_exec(pg, vg_pg_trims[t][0], vg_pg_trims[t][1], &p);
			if (!r)
				return -EIO;
			if (strcmp(PQgetvalue(r, 0, 0), "0"))
				vg_log(VG_INFO,
				       "server: retention: trimmed %s rows of %s, older than %d days",
				       PQgetvalue(r, 0, 0), vg_pg_trims[t][0], vg_pg_retain_days);
			PQclear(r);
		}
	}
	pg->maintained = today;
	return 0;
}

struct pg_conn *vg_pg_conn(struct vg_pg *pg)
{
	return pg->c;
}

void vg_sha256_hex(const char *s, size_t len, char out[VG_TOKEN_HEX + 1])
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)s);
	sha256_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

int vg_random_hex(char out[VG_TOKEN_HEX + 1])
{
	uint8_t b[VG_TOKEN_HEX / 2];
	int err = vg_random(b, sizeof(b));

	if (err)
		return err;
	for (size_t i = 0; i < sizeof(b); i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	return 0;
}

int vg_pg_new_secret(struct vg_pg *pg, char secret[VG_TOKEN_HEX + 1])
{
	char hash[VG_TOKEN_HEX + 1];
	struct vg_pp p = { 0 };
	int err = vg_random_hex(secret);

	if (err)
		return err;
	vg_sha256_hex(secret, strlen(secret), hash);
	vg_pp_str(&p, hash);
	return vg_pg_cmd(pg, "store secret",
			 "INSERT INTO \"ServerSecrets\" (\"SecretHash\", \"Created\") VALUES ($1, now())",
			 &p);
}

int vg_pg_enroll(struct vg_pg *pg, const char *secret, const char *device_id,
		 const char *device_name, char token[VG_TOKEN_HEX + 1])
{
	char hash[VG_TOKEN_HEX + 1], shash[VG_TOKEN_HEX + 1];
	struct vg_pp p = { 0 };
	PGresult *r;
	int n, err;

	if (vg_pg_ready(pg))
		return -EIO;
	vg_sha256_hex(secret, strlen(secret), shash);
	vg_pp_str(&p, shash);
	r = vg_pg_exec(pg, "check secret",
		       "SELECT 1 FROM \"ServerSecrets\" WHERE \"SecretHash\" = $1", &p);
	if (!r)
		return -EIO;
	n = PQntuples(r);
	PQclear(r);
	if (!n)
		return -EACCES;
	err = vg_random_hex(token);
	if (err)
		return err;
	vg_sha256_hex(token, strlen(token), hash);
	vg_pp_str(&p, device_id);
	vg_pp_text(&p, device_name);
	vg_pp_str(&p, hash);
	vg_pp_str(&p, shash);
	/* The secret's machine group (onboard --group), unless the device has one already. */
	r = vg_pg_exec(pg, "enrol device",
		       "WITH e AS (INSERT INTO \"EnrolledDevices\" (\"DeviceId\", \"DeviceName\","
		       " \"TokenHash\", \"Enrolled\") VALUES ($1, $2, $3, now()) ON CONFLICT"
		       " (\"DeviceId\") DO NOTHING RETURNING \"DeviceId\"), g AS (INSERT INTO"
		       " \"DeviceGroups\" (\"DeviceId\", \"MachineGroup\", \"Timestamp\") SELECT"
		       " e.\"DeviceId\", s.\"MachineGroup\", now() FROM e JOIN \"ServerSecrets\" s ON"
		       " s.\"SecretHash\" = $4 WHERE s.\"MachineGroup\" IS NOT NULL ON CONFLICT"
		       " (\"DeviceId\") DO NOTHING) SELECT count(*) FROM e",
		       &p);
	if (!r)
		return -EIO;
	n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n ? 0 : -EEXIST;
}

int vg_pg_revoke(struct vg_pg *pg, const char *device_id)
{
	struct vg_pp p = { 0 };
	PGresult *r;
	int n;

	vg_pp_str(&p, device_id);
	r = vg_pg_exec(pg, "revoke",
		       "UPDATE \"EnrolledDevices\" SET \"Revoked\" = true, \"RevokedAt\" = now()"
		       " WHERE \"DeviceId\" = $1",
		       &p);
	if (!r)
		return -EIO;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n ? 0 : -ENOENT;
}

int vg_pg_token_device(struct vg_pg *pg, const char *token, char *device)
{
	char hash[VG_TOKEN_HEX + 1];
	struct vg_pp p = { 0 };
	PGresult *r;
	int ret;

	if (vg_pg_ready(pg))
		return -EIO;
	vg_sha256_hex(token, strlen(token), hash);
	vg_pp_str(&p, hash);
	r = vg_pg_exec(pg, "look up token",
		       "SELECT \"DeviceId\", \"Revoked\" FROM \"EnrolledDevices\""
		       " WHERE \"TokenHash\" = $1",
		       &p);
	if (!r)
		return -EIO;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -ENOENT;
	}
	snprintf(device, VG_DEVICE_ID_MAX + 1, "%s", PQgetvalue(r, 0, 0));
	ret = PQgetvalue(r, 0, 1)[0] == 't' ? -EACCES : 0;
	PQclear(r);
	return ret;
}

int vg_pg_refused(struct vg_pg *pg, const char *device, const char *reason)
{
	struct vg_pp p = { 0 };

	if (vg_pg_ready(pg))
		return -EIO;
	vg_pp_str(&p, device ? device : "");
	vg_pp_str(&p, reason);
	return vg_pg_cmd(pg, "count a refusal",
			 "INSERT INTO \"ServerRefused\" (\"DeviceId\", \"Reason\", \"Count\","
			 " \"Timestamp\") VALUES ($1, $2, 1, now()) ON CONFLICT (\"DeviceId\","
			 " \"Reason\") DO UPDATE SET \"Count\" = \"ServerRefused\".\"Count\" + 1,"
			 " \"Timestamp\" = excluded.\"Timestamp\"",
			 &p);
}

/* ---- the batch: the local store's columns, in the same order */

#define VG_COMMON_COLS "\"Timestamp\", \"DeviceId\", \"DeviceName\", \"ActionType\", \"ReportId\""
#define VG_INITIATING_COLS                                                                \
	" \"InitiatingProcessId\", \"InitiatingProcessFileName\","                        \
	" \"InitiatingProcessFolderPath\", \"InitiatingProcessCommandLine\","             \
	" \"InitiatingProcessCreationTime\", \"InitiatingProcessAccountName\","           \
	" \"InitiatingProcessAccountUid\", \"InitiatingProcessParentId\","                \
	" \"InitiatingProcessParentFileName\", \"AdditionalFields\""
/* Schema version 3: the initiating image's digests and size, the event's container. */
#define VG_IMAGE_COLS                                                                   \
	", \"InitiatingProcessSHA256\", \"InitiatingProcessSHA1\","                          \
	" \"InitiatingProcessFileSize\", \"ContainerId\", \"ContainerName\""
/* Schema version 3 too: the WSL distribution of the process the row is about. */
#define VG_DISTRIBUTION_COL ", \"Distribution\""

static const char vg_sql_process[] =
	"INSERT INTO \"DeviceProcessEvents\" (" VG_COMMON_COLS ", \"ProcessId\", \"FileName\","
	" \"FolderPath\", \"ProcessCommandLine\", \"ProcessCreationTime\", \"AccountName\","
	" \"AccountUid\", \"ProcessCurrentDirectory\", \"ProcessExitCode\", \"ProcessParentId\","
	" \"InitiatingProcessId\", \"InitiatingProcessFileName\", \"InitiatingProcessFolderPath\","
	" \"InitiatingProcessCommandLine\", \"InitiatingProcessCreationTime\","
	" \"InitiatingProcessAccountName\", \"InitiatingProcessParentId\","
	" \"InitiatingProcessParentFileName\", \"AdditionalFields\", \"SHA256\", \"SHA1\","
	" \"FileSize\"" VG_IMAGE_COLS VG_DISTRIBUTION_COL ") VALUES ($1, $2, $3, $4, $5,"
	" $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,"
	" $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)";
static const char vg_sql_file[] =
	"INSERT INTO \"DeviceFileEvents\" (" VG_COMMON_COLS ", \"FileName\", \"FolderPath\","
	" \"PreviousFileName\", \"PreviousFolderPath\"," VG_INITIATING_COLS VG_IMAGE_COLS
	", \"FileSize\"" VG_DISTRIBUTION_COL ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
	" $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)";
static const char vg_sql_net[] =
	"INSERT INTO \"DeviceNetworkEvents\" (" VG_COMMON_COLS ", \"RemoteIP\", \"RemotePort\","
	" \"LocalIP\", \"LocalPort\", \"Protocol\"," VG_INITIATING_COLS VG_IMAGE_COLS
	VG_DISTRIBUTION_COL ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
	" $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)";
static const char vg_sql_devev[] =
	"INSERT INTO \"DeviceEvents\" (" VG_COMMON_COLS ", \"FileName\", \"FolderPath\","
	VG_INITIATING_COLS VG_IMAGE_COLS VG_DISTRIBUTION_COL ") VALUES ($1, $2, $3, $4, $5, $6,"
	" $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)";
static const char vg_sql_supp[] =
	"INSERT INTO \"SuppressedEvents\" (" VG_COMMON_COLS ", \"Reason\", \"EventClass\","
	" \"Count\", \"FirstTimestamp\", \"LastTimestamp\", \"FileName\", \"FolderPath\","
	" \"InitiatingProcessId\", \"InitiatingProcessFileName\", \"InitiatingProcessFolderPath\","
	" \"InitiatingProcessCommandLine\") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
	" $11, $12, $13, $14, $15, $16)";

struct vg_pg_tx {
	struct vg_pg *pg;
	const Vigil__V1__DeviceInfo *dev;
	const char *now;
	uint64_t ns; /* the event's time */
	struct vg_pp p;
};

/* p's values as one row of COPY's text format at the end of b (see vg_sb_err()). */
static void vg_copy_row(struct vg_sb *b, const struct vg_pp *p)
{
	for (int i = 0; i < p->n; i++) {
		const char *v = p->v[i], *run;

		if (i)
			vg_sb_addn(b, "\t", 1);
		if (!v) {
			vg_sb_addn(b, "\\N", 2);
			continue;
		}
		/* Backslash, newline, carriage return and tab are escaped; the rest is as is. */
		for (run = v; *v; v++) {
			const char *e = *v == '\\' ? "\\\\" :
					*v == '\n'  ? "\\n" :
					*v == '\r'  ? "\\r" :
					*v == '\t'  ? "\\t" :
						      NULL;

			if (!e)
				continue;
			vg_sb_addn(b, run, (size_t)(v - run));
			vg_sb_addn(b, e, 2);
			run = v + 1;
		}
		vg_sb_addn(b, run, (size_t)(v - run));
	}
	vg_sb_addn(b, "\n", 1);
}

/*
 * Add p's parameters as a row of kind (sql: its one-row INSERT, whose column
 * list COPY takes too): buffered for the batch's COPY, or sent when
 * VG_PG_ROWS wait (VG_PG_INSERT). 0 or as vg_pg_flush().
 */
static int vg_pg_row(struct vg_pg_tx *t, int kind, const char *sql)
{
	struct vg_rows *r = &t->pg->rows[kind];
	char **v = r->v + r->n * t->p.n;
	int err = 0;

	r->sql = sql;
	r->cols = t->p.n;
	if (t->pg->mode == VG_PG_COPY) {
		vg_copy_row(&t->pg->copy[kind], &t->p);
		vg_pp_reset(&t->p);
		err = vg_sb_err(&t->pg->copy[kind]);
		return err ? err : vg_pg_ns_add(t->pg, t->ns);
	}
	for (int i = 0; i < t->p.n; i++) {
		v[i] = t->p.v[i] ? strdup(t->p.v[i]) : NULL;
		if (t->p.v[i] && !v[i])
			err = -ENOMEM;
	}
	r->ns[r->n++] = t->ns;
	vg_pp_reset(&t->p);
	if (err)
		return err;
	return r->n == VG_PG_ROWS ? vg_pg_flush(t->pg, kind) : 0;
}

/* Parameters 1-5: Timestamp (the epoch when none), DeviceId, DeviceName, ActionType, ReportId. */
static void vg_pp_common(struct vg_pg_tx *t, const Vigil__V1__Event *ev, const char *action)
{
	if (ev->time_ns)
		vg_pp_time(&t->p, ev->time_ns);
	else
		vg_pp_str(&t->p, "1970-01-01T00:00:00.000Z");
	vg_pp_str(&t->p, t->dev->device_id);
	vg_pp_text(&t->p, t->dev->device_name);
	if (action) /* as the local store binds it: "" stays "", only a missing one is NULL */
		vg_pp_str(&t->p, action);
	else
		vg_pp_null(&t->p);
	vg_pp_int(&t->p, (int64_t)ev->report_id);
}

/* A process's Id, FileName, FolderPath, CommandLine and (full) CreationTime, AccountName. */
static int vg_pp_process(struct vg_pp *p, struct vg_sb *cmd, const Vigil__V1__Process *pr,
			 int full)
{
	vg_sb_reset(cmd);
	vg_cmdline(cmd, pr->argv, pr->n_argv);
	if (vg_sb_err(cmd))
		return -ENOMEM;
	vg_pp_int(p, pr->pid);
	vg_pp_text(p, pr->exe && *pr->exe ? vg_basename(pr->exe) : NULL);
	vg_pp_text(p, pr->exe);
	vg_pp_text(p, pr->n_argv ? vg_sb_str(cmd) : NULL);
	if (full) {
		vg_pp_time(p, pr->start_time_ns);
		vg_pp_text(p, pr->user);
	}
	return 0;
}

static int vg_pp_initiating(struct vg_pg_tx *t, const Vigil__V1__Process *pr,
			    const Vigil__V1__Process *parent, const char *json)
{
	int err = vg_pp_process(&t->p, &t->pg->tmp, pr, 1);

	if (err)
		return err;
	vg_pp_int(&t->p, pr->uid);
	vg_pp_int(&t->p, pr->ppid);
	vg_pp_text(&t->p, parent && parent->exe && *parent->exe ? vg_basename(parent->exe) : NULL);
	vg_pp_text(&t->p, json);
	return 0;
}

static void vg_pp_path(struct vg_pp *p, const char *path)
{
	vg_pp_text(p, path && *path ? vg_basename(path) : NULL);
	vg_pp_text(p, path);
}

/* A digest as hex (held by p until the command ran), NULL when absent or of a wrong length. */
static void vg_pp_digest(struct vg_pp *p, ProtobufCBinaryData d, size_t want)
{
	char hex[65];

	p->own[p->n] = vg_digest_hex(hex, d, want) ? strdup(hex) : NULL;
	p->v[p->n] = p->own[p->n];
	p->n++;
}

/* An image's SHA256, SHA1 and size (NULL when unknown). */
static void vg_pp_image(struct vg_pp *p, const Vigil__V1__Process *pr)
{
	static const ProtobufCBinaryData none;

	vg_pp_digest(p, pr ? pr->sha256 : none, 32);
	vg_pp_digest(p, pr ? pr->sha1 : none, 20);
	if (pr && pr->exe_size)
		vg_pp_int(p, (int64_t)pr->exe_size);
	else
		vg_pp_null(p);
}

/* VG_IMAGE_COLS: the initiating process's image (ip, may be NULL), the container of c. */
static void vg_pp_image_cols(struct vg_pp *p, const Vigil__V1__Process *ip,
			     const Vigil__V1__Process *c)
{
	vg_pp_image(p, ip);
	vg_pp_text(p, c->container_id);
	vg_pp_text(p, c->container_name);
}

/* VG_DISTRIBUTION_COL: the WSL distribution of p ("" outside one: NULL), as the local store. */
static void vg_pp_distribution(struct vg_pp *p, const Vigil__V1__Process *pr)
{
	vg_pp_text(p, pr->distribution);
}

static int vg_pg_process(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	const Vigil__V1__ProcessEvent *pe = ev->process;
	const Vigil__V1__Process *pr = pe->process, *pp = pe->parent;
	int err;

	vg_pp_common(t, ev, vg_action_type(pe->action));
	err = vg_pp_process(&t->p, &t->pg->tmp, pr, 1);
	if (err)
		return err;
	vg_pp_int(&t->p, pr->uid);
	vg_pp_text(&t->p, pr->cwd);
	if (pe->action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED)
		vg_pp_int(&t->p, pe->exit_signal ? 128 + pe->exit_signal : pe->exit_code);
	else
		vg_pp_null(&t->p);
	vg_pp_int(&t->p, pr->ppid);
	if (pp) {
		err = vg_pp_process(&t->p, &t->pg->tmp2, pp, 1);
		if (err)
			return err;
		vg_pp_int(&t->p, pp->ppid);
	} else {
		vg_pp_int(&t->p, pr->ppid);
		for (int i = 0; i < 6; i++)
			vg_pp_null(&t->p);
	}
	vg_pp_text(&t->p, pe->grandparent_exe && *pe->grandparent_exe ?
				  vg_basename(pe->grandparent_exe) :
				  NULL);
	vg_process_fields(&t->pg->tmp3, pe);
	if (vg_sb_err(&t->pg->tmp3))
		return -ENOMEM;
	vg_pp_text(&t->p, vg_sb_str(&t->pg->tmp3));
	vg_pp_image(&t->p, pr);
	vg_pp_image_cols(&t->p, pp, pr);
	/* The process the row is about: a child of unshare -p runs in a namespace of its own. */
	vg_pp_distribution(&t->p, pr);
	return vg_pg_row(t, VG_ROWS_PROCESS, vg_sql_process);
}

static int vg_pg_file(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	const Vigil__V1__FileEvent *fe = ev->file;
	int err;

	vg_file_fields(&t->pg->tmp3, fe);
	if (vg_sb_err(&t->pg->tmp3))
		return -ENOMEM;
	vg_pp_common(t, ev, fe->action_type);
	vg_pp_path(&t->p, fe->path);
	vg_pp_path(&t->p, fe->previous_path);
	err = vg_pp_initiating(t, fe->process, fe->parent, vg_sb_str(&t->pg->tmp3));
	vg_pp_image_cols(&t->p, fe->process, fe->process);
	if (fe->size)
		vg_pp_int(&t->p, (int64_t)fe->size);
	else
		vg_pp_null(&t->p);
	vg_pp_distribution(&t->p, fe->process);
	return err ? err : vg_pg_row(t, VG_ROWS_FILE, vg_sql_file);
}

static int vg_pg_network(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	const Vigil__V1__NetworkEvent *ne = ev->network;
	int err;

	vg_pp_common(t, ev, ne->action_type);
	vg_pp_text(&t->p, ne->remote_ip);
	vg_pp_int(&t->p, ne->remote_port);
	vg_pp_text(&t->p, ne->local_ip);
	vg_pp_int(&t->p, ne->local_port);
	vg_pp_text(&t->p, ne->protocol);
	err = vg_pp_initiating(t, ne->process, ne->parent, NULL);
	vg_pp_image_cols(&t->p, ne->process, ne->process);
	vg_pp_distribution(&t->p, ne->process);
	return err ? err : vg_pg_row(t, VG_ROWS_NET, vg_sql_net);
}

static int vg_pg_security(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	const Vigil__V1__SecurityEvent *se = ev->security;
	const char *json = se->additional_fields; /* an older sensor's, as it sent it */
	int err;

	if (se->n_details) {
		json = vg_store_details_json(&t->pg->tmp3, se);
		if (!json)
			return -ENOMEM;
	}
	vg_pp_common(t, ev, se->action_type);
	vg_pp_path(&t->p, se->file_path);
	err = vg_pp_initiating(t, se->process, se->parent, json);
	vg_pp_image_cols(&t->p, se->process, se->process);
	vg_pp_distribution(&t->p, se->process);
	return err ? err : vg_pg_row(t, VG_ROWS_DEVEV, vg_sql_devev);
}

static int vg_pg_suppression(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	const Vigil__V1__Suppression *su = ev->suppression;
	int err;

	/* ActionType may be NULL here: the column allows it. */
	vg_pp_common(t, ev, su->action_type && *su->action_type ? su->action_type : NULL);
	vg_pp_text(&t->p, su->reason);
	vg_pp_text(&t->p, su->event_class);
	vg_pp_int(&t->p, (int64_t)su->count);
	vg_pp_time(&t->p, su->first_ns);
	vg_pp_time(&t->p, su->last_ns);
	vg_pp_path(&t->p, su->path);
	if (su->process) {
		err = vg_pp_process(&t->p, &t->pg->tmp, su->process, 0);
		if (err)
			return err;
	} else {
		for (int i = 0; i < 4; i++)
			vg_pp_null(&t->p);
	}
	return vg_pg_row(t, VG_ROWS_SUPP, vg_sql_supp);
}

/* One more event of this device not stored (or stored without a part), for why. */
static int vg_pg_skipped(struct vg_pg_tx *t, const char *why)
{
	/* Counted with the batch, so a resend does not count it twice. */
	vg_pp_str(&t->p, t->dev->device_id);
	vg_pp_str(&t->p, why);
	vg_pp_str(&t->p, t->now);
	return vg_pg_cmd(t->pg, "count a skipped event",
			 "INSERT INTO \"HostSkippedEvents\" (\"DeviceId\", \"Reason\","
			 " \"Count\", \"Timestamp\") VALUES ($1, $2, 1, $3)"
			 " ON CONFLICT (\"DeviceId\", \"Reason\") DO UPDATE SET"
			 " \"Count\" = \"HostSkippedEvents\".\"Count\" + 1,"
			 " \"Timestamp\" = excluded.\"Timestamp\"",
			 &t->p);
}

static int vg_pg_kind(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	switch (ev->body_case) {
	case VIGIL__V1__EVENT__BODY_FILE:
		return vg_pg_file(t, ev);
	case VIGIL__V1__EVENT__BODY_NETWORK:
		return vg_pg_network(t, ev);
	case VIGIL__V1__EVENT__BODY_SECURITY:
		return vg_pg_security(t, ev);
	case VIGIL__V1__EVENT__BODY_SUPPRESSION:
		return vg_pg_suppression(t, ev);
	default:
		return vg_pg_process(t, ev);
	}
}

static int vg_pg_one(struct vg_pg_tx *t, const Vigil__V1__Event *ev)
{
	char why_buf[64];
	const char *why = vg_event_unknown(ev, why_buf, sizeof(why_buf));
	int err;

	if (why)
		return vg_pg_skipped(t, why);
	err = vg_pg_kind(t, ev);
	if (!err && vg_event_bad_digests(ev))
		err = vg_pg_skipped(t, VG_BAD_DIGEST_REASON);
	return err;
}

static int vg_pg_device(struct vg_pg_tx *t)
{
	const Vigil__V1__DeviceInfo *d = t->dev;
	struct vg_sb *tags = &t->pg->tmp;

	if (!vg_device_tags_json(tags, d))
		return -ENOMEM;
	vg_pp_str(&t->p, t->now);
	vg_pp_str(&t->p, d->device_id);
	vg_pp_text(&t->p, d->device_name);
	vg_pp_text(&t->p, d->client_version);
	vg_pp_text(&t->p, d->os_platform);
	vg_pp_text(&t->p, d->os_architecture);
	vg_pp_text(&t->p, d->os_version);
	vg_pp_text(&t->p, d->os_distribution);
	/* Empty, not NULL, on plain Linux: the hunting queries test isempty(). */
	vg_pp_str(&t->p, d->host_device_id ? d->host_device_id : "");
	vg_pp_text(&t->p, d->machine_group);
	vg_pp_str(&t->p, vg_sb_str(tags));
	if (vg_pg_cmd(t->pg, "store device info",
		      "INSERT INTO \"DeviceInfo\" (\"Timestamp\", \"DeviceId\", \"DeviceName\","
		      " \"ClientVersion\", \"OSPlatform\", \"OSArchitecture\", \"OSVersion\","
		      " \"OSDistribution\", \"HostDeviceId\", \"MachineGroup\","
		      " \"RegistryDeviceTag\", \"DeviceTags\", \"OnboardingStatus\") VALUES ($1,"
		      " $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, 'Onboarded')",
		      &t->p))
		return -EIO;
	if (!d->host_device_id || !*d->host_device_id)
		return 0;
	/*
	 * A WSL instance's HostDeviceId is its Windows host, which runs no
	 * sensor of ours: the first time it is named it gets a DeviceInfo row of
	 * its own (its name as it enrolled, if it did), so it resolves to a device.
	 */
	vg_pp_str(&t->p, t->now);
	vg_pp_str(&t->p, d->host_device_id);
	return vg_pg_cmd(t->pg, "store the host's device info",
			 "INSERT INTO \"DeviceInfo\" (\"Timestamp\", \"DeviceId\", \"DeviceName\","
			 " \"OSPlatform\", \"HostDeviceId\", \"DeviceTags\", \"OnboardingStatus\")"
			 " SELECT $1, $2, (SELECT \"DeviceName\" FROM \"EnrolledDevices\" WHERE"
			 " \"DeviceId\" = $2), 'Windows', '', '[]', 'Onboarded' WHERE NOT EXISTS"
			 " (SELECT 1 FROM \"DeviceInfo\" WHERE \"DeviceId\" = $2)",
			 &t->p);
}

/* Counters only grow within a run; SensorCounters is the sum over the device's runs. */
static int vg_pg_counters(struct vg_pg_tx *t, const Vigil__V1__Batch *b)
{
	const char *dev = t->dev->device_id;
	int err;

	for (size_t i = 0; i < b->n_counters; i++) {
		const Vigil__V1__Counter *c = b->counters[i];

		vg_pp_str(&t->p, dev);
		vg_pp_int(&t->p, (int64_t)b->stream_id);
		vg_pp_str(&t->p, c->event_class ? c->event_class : "");
		vg_pp_int(&t->p, (int64_t)c->seen);
		vg_pp_int(&t->p, (int64_t)c->emitted);
		vg_pp_int(&t->p, (int64_t)c->filtered);
		vg_pp_int(&t->p, (int64_t)c->deduplicated);
		vg_pp_int(&t->p, (int64_t)c->rate_limited);
		vg_pp_int(&t->p, (int64_t)c->ringbuf_full);
		vg_pp_int(&t->p, (int64_t)b->events_lost);
		vg_pp_str(&t->p, t->now);
		err = vg_pg_cmd(
			t->pg, "store counters",
			"INSERT INTO \"SensorCounterStreams\" AS s (\"DeviceId\", \"StreamId\","
			" \"EventClass\", \"Seen\", \"Emitted\", \"Filtered\", \"Deduplicated\","
			" \"RateLimited\", \"RingbufFull\", \"EventsLost\", \"Timestamp\") VALUES ($1,"
			" $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (\"DeviceId\","
			" \"StreamId\", \"EventClass\") DO UPDATE SET"
			" \"Seen\" = greatest(s.\"Seen\", excluded.\"Seen\"),"
			" \"Emitted\" = greatest(s.\"Emitted\", excluded.\"Emitted\"),"
			" \"Filtered\" = greatest(s.\"Filtered\", excluded.\"Filtered\"),"
			" \"Deduplicated\" = greatest(s.\"Deduplicated\", excluded.\"Deduplicated\"),"
			" \"RateLimited\" = greatest(s.\"RateLimited\", excluded.\"RateLimited\"),"
			" \"RingbufFull\" = greatest(s.\"RingbufFull\", excluded.\"RingbufFull\"),"
			" \"EventsLost\" = greatest(s.\"EventsLost\", excluded.\"EventsLost\"),"
			" \"Timestamp\" = excluded.\"Timestamp\"",
			&t->p);
		if (err)
			return err;
	}
	vg_pp_int(&t->p, (int64_t)b->events_lost);
	vg_pp_str(&t->p, t->now);
	vg_pp_str(&t->p, dev);
	vg_pp_int(&t->p, (int64_t)b->stream_id);
	err = vg_pg_cmd(t->pg, "store events lost",
			"UPDATE \"SensorCounterStreams\" SET \"EventsLost\" = greatest(\"EventsLost\","
			" $1), \"Timestamp\" = $2 WHERE \"DeviceId\" = $3 AND \"StreamId\" = $4",
			&t->p);
	return err;
}

/* Is f[i] a stored frame of f[last]'s device and stream? */
static int vg_pg_same_dev_stream(const struct vg_pg_frame *f, size_t i, size_t last)
{
	return f[i].v && f[i].result == 1 && f[i].v->b->stream_id == f[last].v->b->stream_id &&
	       !strcmp(f[i].dev, f[last].dev);
}

#define VG_MAX_TO(a, b) ((a) = (a) > (b) ? (a) : (b))

/*
 * The counters of the request's stored frames f[0..last] of f[last]'s device
 * and stream as one batch holding each class's highest values: counters only
 * grow within a stream and vg_pg_counters() keeps the greatest, so this is
 * what storing each frame's would leave, for one statement per class and
 * request instead of per frame. 0 or -errno.
 */
static int vg_pg_counters_merged(struct vg_pg *pg, const struct vg_pg_frame *f, size_t last,
				 const char *now)
{
	Vigil__V1__Batch m = VIGIL__V1__BATCH__INIT;
	Vigil__V1__DeviceInfo d = VIGIL__V1__DEVICE_INFO__INIT;
	struct vg_pg_tx t = { .pg = pg, .now = now, .dev = &d };
	Vigil__V1__Counter *c, **cp;
	size_t cap = 1;
	int err;

	for (size_t i = 0; i <= last; i++)
		cap += vg_pg_same_dev_stream(f, i, last) ? f[i].v->b->n_counters : 0;
	c = calloc(cap, sizeof(*c));
	cp = calloc(cap, sizeof(*cp));
	if (!c || !cp) {
		free(c);
		free(cp);
		return -ENOMEM;
	}
	for (size_t i = 0; i <= last; i++) {
		const Vigil__V1__Batch *b = f[i].v ? f[i].v->b : NULL;

		if (!vg_pg_same_dev_stream(f, i, last))
			continue;
		VG_MAX_TO(m.events_lost, b->events_lost);
		for (size_t k = 0; k < b->n_counters; k++) {
			const Vigil__V1__Counter *x = b->counters[k];
			const char *cls = x->event_class ? x->event_class : "";
			size_t j = 0;

			while (j < m.n_counters && strcmp(c[j].event_class, cls))
				j++;
			if (j == m.n_counters) {
				vigil__v1__counter__init(&c[j]);
				c[j].event_class = (char *)cls;
				cp[m.n_counters++] = &c[j];
			}
			VG_MAX_TO(c[j].seen, x->seen);
			VG_MAX_TO(c[j].emitted, x->emitted);
			VG_MAX_TO(c[j].filtered, x->filtered);
			VG_MAX_TO(c[j].deduplicated, x->deduplicated);
			VG_MAX_TO(c[j].rate_limited, x->rate_limited);
			VG_MAX_TO(c[j].ringbuf_full, x->ringbuf_full);
		}
	}
	m.stream_id = f[last].v->b->stream_id;
	m.counters = cp;
	d.device_id = (char *)f[last].dev;
	err = vg_pg_counters(&t, &m);
	free(c);
	free(cp);
	return err;
}

/* SensorCounters of dev: the sums over its streams' (after its frames' vg_pg_counters()). */
static int vg_pg_counters_sum(struct vg_pg_tx *t, const char *dev)
{
	vg_pp_str(&t->p, t->now);
	vg_pp_str(&t->p, dev);
	return vg_pg_cmd(
		t->pg, "sum counters",
		"INSERT INTO \"SensorCounters\" (\"DeviceId\", \"EventClass\", \"Seen\", \"Emitted\","
		" \"Filtered\", \"Deduplicated\", \"RateLimited\", \"RingbufFull\", \"EventsLost\","
		" \"Timestamp\") SELECT \"DeviceId\", \"EventClass\", sum(\"Seen\"), sum(\"Emitted\"),"
		" sum(\"Filtered\"), sum(\"Deduplicated\"), sum(\"RateLimited\"), sum(\"RingbufFull\"),"
		" sum(\"EventsLost\"), $1 FROM \"SensorCounterStreams\" WHERE \"DeviceId\" = $2"
		" GROUP BY \"DeviceId\", \"EventClass\" ON CONFLICT (\"DeviceId\", \"EventClass\")"
		" DO UPDATE SET \"Seen\" = excluded.\"Seen\", \"Emitted\" = excluded.\"Emitted\","
		" \"Filtered\" = excluded.\"Filtered\", \"Deduplicated\" = excluded.\"Deduplicated\","
		" \"RateLimited\" = excluded.\"RateLimited\", \"RingbufFull\" = excluded.\"RingbufFull\","
		" \"EventsLost\" = excluded.\"EventsLost\", \"Timestamp\" = excluded.\"Timestamp\"",
		&t->p);
}

/*
 * May the credential of owner write dev's batch? Its own device, or a WSL
 * instance it runs (HostDeviceId = owner) that is no enrolled host itself and
 * that no other host has claimed before: 0, -EPERM with why, -EIO.
 */
static int vg_pg_authorize(struct vg_pg_tx *t, const char *owner, char *why, size_t why_len)
{
	const Vigil__V1__DeviceInfo *d = t->dev;
	PGresult *r;
	int n;

	if (!strcmp(d->device_id, owner))
		return 0;
	if (!d->host_device_id || strcmp(d->host_device_id, owner)) {
		snprintf(why, why_len, "device is not the credential's and not a WSL instance of it");
		return -EPERM;
	}
	vg_pp_str(&t->p, d->device_id);
	vg_pp_str(&t->p, owner);
	r = vg_pg_exec(t->pg, "check the device's host",
		       "SELECT 1 FROM \"EnrolledDevices\" WHERE \"DeviceId\" = $1 UNION ALL"
		       " SELECT 1 FROM \"DeviceInfo\" WHERE \"DeviceId\" = $1"
		       " AND \"HostDeviceId\" <> $2 LIMIT 1",
		       &t->p);
	if (!r)
		return -EIO;
	n = PQntuples(r);
	PQclear(r);
	if (n) {
		snprintf(why, why_len, "device is enrolled itself or runs on another host");
		return -EPERM;
	}
	return 0;
}

/*
 * One frame's rows inside the request's transaction (begun): 1 stored, 0 a
 * resend already stored, -EPERM, -EBADMSG (why), -EAGAIN (a day has no
 * partition), -ENOMEM or -EIO. On an error the frame's statements are the
 * caller's to roll back.
 */
static int vg_pg_frame_rows(struct vg_pg *pg, const char *owner, struct vg_pg_frame *f,
			    const struct vg_pg_frame *same, const char *now)
{
	const Vigil__V1__Batch *b = f->v->b;
	struct vg_batch *v = f->v;
	Vigil__V1__DeviceInfo known = VIGIL__V1__DEVICE_INFO__INIT;
	struct vg_pg_tx t = { .pg = pg, .dev = b->device, .now = now };
	char *dev_id = f->dev, *dev_name = f->dev_name, *why = f->why;
	size_t why_len = sizeof(f->why);
	uint64_t seq = f->seq;
	PGresult *r;
	int err, n;

	if (b->device) {
		err = vg_pg_authorize(&t, owner, why, why_len);
	} else if (same) {
		/* The stream's device as an earlier frame of this request found it: no query. */
		snprintf(dev_id, sizeof(f->dev), "%s", same->dev);
		snprintf(dev_name, sizeof(f->dev_name), "%s", same->dev_name);
		known.device_id = dev_id;
		known.device_name = dev_name;
		t.dev = &known;
		err = 0;
	} else {
		/*
		 * vigild names its device in a stream's first batch only: a later
		 * one is the device's whose batch of the same stream was stored,
		 * among the owner's own and its WSL instances'. The owner's own
		 * first, by "DeviceId": on shards that reads the owner's shard only.
		 */
		vg_pp_int(&t.p, (int64_t)b->stream_id);
		vg_pp_str(&t.p, owner);
		r = vg_pg_exec(pg, "find the stream's device",
			       "SELECT f.\"DeviceId\", (SELECT d.\"DeviceName\" FROM \"DeviceInfo\" d"
			       " WHERE d.\"DeviceId\" = $2 ORDER BY d.\"Timestamp\" DESC LIMIT 1)"
			       " FROM \"ReceivedFrames\" f WHERE f.\"StreamId\" = $1 AND"
			       " f.\"DeviceId\" = $2 LIMIT 1",
			       &t.p);
		if (r && !PQntuples(r)) {
			PQclear(r);
			vg_pp_int(&t.p, (int64_t)b->stream_id);
			vg_pp_str(&t.p, owner);
			r = vg_pg_exec(pg, "find the stream's device",
				       "SELECT f.\"DeviceId\", (SELECT d.\"DeviceName\" FROM"
				       " \"DeviceInfo\" d WHERE d.\"DeviceId\" = f.\"DeviceId\" ORDER BY"
				       " d.\"Timestamp\" DESC LIMIT 1) FROM \"ReceivedFrames\" f WHERE"
				       " f.\"StreamId\" = $1 AND f.\"DeviceId\" IN (SELECT \"DeviceId\""
				       " FROM \"DeviceInfo\" WHERE \"HostDeviceId\" = $2) LIMIT 1",
				       &t.p);
		}
		err = r ? 0 : -EIO;
		if (r && PQntuples(r) == 1) {
			snprintf(dev_id, sizeof(f->dev), "%s", PQgetvalue(r, 0, 0));
			snprintf(dev_name, sizeof(f->dev_name), "%s", PQgetvalue(r, 0, 1));
			known.device_id = dev_id;
			known.device_name = dev_name;
			t.dev = &known;
		} else if (r) {
			snprintf(why, why_len,
				 "batch without its device, and no batch of stream %llu stored",
				 (unsigned long long)b->stream_id);
			err = -EBADMSG;
		}
		PQclear(r);
	}
	if (err)
		return err;
	if (t.dev != &known) {
		snprintf(dev_id, sizeof(f->dev), "%s", t.dev->device_id);
		snprintf(dev_name, sizeof(f->dev_name), "%s",
			 t.dev->device_name ? t.dev->device_name : "");
	}
	vg_pp_str(&t.p, t.dev->device_id);
	vg_pp_int(&t.p, (int64_t)b->stream_id);
	vg_pp_int(&t.p, (int64_t)seq);
	vg_pp_str(&t.p, now);
	vg_pp_int(&t.p, (int64_t)v->n_events);
	r = vg_pg_exec(pg, "record frame",
		       "INSERT INTO \"ReceivedFrames\" (\"DeviceId\", \"StreamId\", \"Seq\","
		       " \"Timestamp\", \"Events\") VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		       &t.p);
	if (!r)
		return -EIO;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (!n)
		return 0; /* a resend of a stored batch */
	err = b->device ? vg_pg_device(&t) : 0;
	for (size_t i = 0; !err && i < v->n_events; i++) {
		Vigil__V1__Event *ev;

		err = vg_batch_event(v, i, &ev);
		if (err) {
			snprintf(why, why_len, "event %zu: %s", i, strerror(-err));
			err = -EBADMSG;
			break;
		}
		t.ns = ev->time_ns;
		err = vg_pg_one(&t, ev);
	}
	/* COPY's rows wait for the request's end (vg_pg_store_once). */
	if (!err && pg->mode != VG_PG_COPY)
		err = vg_pg_flush_all(pg);
	/* The counters go once per stream and request (vg_pg_counters_merged()). */
	if (!err)
		err = vg_pg_filter_hits(pg, t.dev->device_id, b, t.now, why, why_len);
	if (err)
		vg_pp_reset(&t.p);
	return err ? err : 1;
}

/*
 * The latest frame before f[i] in the request that found (or named) the
 * device of f[i]'s stream, or NULL: a later frame of a stream names no device.
 */
static const struct vg_pg_frame *vg_pg_same_stream(const struct vg_pg_frame *f, size_t i)
{
	uint64_t stream = f[i].v->b->stream_id;

	if (f[i].v->b->device)
		return NULL;
	while (i--)
		if (f[i].v && f[i].result >= 0 && f[i].dev[0] && f[i].v->b->stream_id == stream)
			return &f[i];
	return NULL;
}

/* COPY text held for the request before it is sent: a bound on a worker's memory. */
#define VG_PG_COPY_HOLD (8u << 20)

static size_t vg_pg_copy_len(const struct vg_pg *pg)
{
	size_t n = 0;

	for (int k = 0; k < VG_ROWS_KINDS; k++)
		n += pg->copy[k].len;
	return n;
}

/*
 * The frames of one request in one transaction, as vg_pg_store_frames(), or
 * -EAGAIN: a day has no partition (pg->ns: the rows' times). With savepoints
 * (sp), each frame has one: a frame refused (-EPERM, -EBADMSG) is rolled back
 * alone and the others stay. Without, a refusal among several frames rolls
 * back everything and asks for the savepoints (-ERESTART): a savepoint is a
 * round trip and a subtransaction per frame, and refusals are rare. A
 * database error rolls back everything.
 */
static int vg_pg_store_once(struct vg_pg *pg, const char *owner, struct vg_pg_frame *f, size_t n,
			    int sp)
{
	char now[VG_ISO_LEN];
	size_t stored = 0;
	PGresult *r;
	int err = 0;

	vg_iso_time(now, vg_now_ns());
	pg->n_ns = 0;
	/*
	 * Shared, before the rows take their "IngestId"s: the detector takes
	 * this lock exclusively to know every id up to the sequence's value is
	 * committed or gone (server/detect_pg.c).
	 */
	r = PQexec(pg->c, "BEGIN; SELECT pg_advisory_xact_lock_shared(" VG_PG_INGEST_LOCK ")");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		vg_log(VG_ERROR, "server: postgresql: begin: %s", PQerrorMessage(pg->c));
		PQclear(r);
		vg_pg_rollback(pg);
		return -EIO;
	}
	PQclear(r);
	for (size_t i = 0; !err && i < n; i++) {
		size_t mark[VG_ROWS_KINDS], ns_mark = pg->n_ns;
		int rc;

		if (!f[i].v)
			continue; /* refused before */
		if (sp && vg_pg_cmd(pg, "savepoint", "SAVEPOINT vg_frame", NULL)) {
			err = -EIO;
			break;
		}
		for (int k = 0; k < VG_ROWS_KINDS; k++)
			mark[k] = pg->copy[k].len;
		f[i].why[0] = 0;
		f[i].dev[0] = 0;
		rc = vg_pg_frame_rows(pg, owner, &f[i], vg_pg_same_stream(f, i), now);
		if (rc >= 0) {
			f[i].result = rc;
			stored += (size_t)rc;
			if (vg_pg_copy_len(pg) > VG_PG_COPY_HOLD)
				err = vg_pg_flush_all(pg);
			continue;
		}
		if (rc != -EPERM && rc != -EBADMSG) {
			err = rc;
			break;
		}
		if (n > 1 && !sp) {
			err = -ERESTART;
			break;
		}
		/* This frame's rows and statements go; the others' stay. */
		f[i].result = rc;
		for (int k = 0; k < VG_ROWS_KINDS; k++) {
			vg_rows_clear(&pg->rows[k]);
			pg->copy[k].len = mark[k];
		}
		pg->n_ns = ns_mark;
		if (sp && vg_pg_cmd(pg, "roll a frame back", "ROLLBACK TO SAVEPOINT vg_frame", NULL))
			err = -EIO;
	}
	if (!err && stored)
		err = vg_pg_flush_all(pg);
	/* Each stream's counters once per request, at its last stored frame. */
	for (size_t i = 0; !err && i < n; i++) {
		size_t j = i + 1;

		if (!vg_pg_same_dev_stream(f, i, i))
			continue;
		while (j < n && !vg_pg_same_dev_stream(f, j, i))
			j++;
		if (j == n)
			err = vg_pg_counters_merged(pg, f, i, now);
	}
	/* Each device's counters summed once per request, after all its frames'. */
	for (size_t i = 0; !err && i < n; i++) {
		struct vg_pg_tx t = { .pg = pg, .now = now };
		size_t j = 0;

		if (!f[i].v || f[i].result != 1)
			continue;
		while (j < i && (!f[j].v || f[j].result != 1 || strcmp(f[j].dev, f[i].dev)))
			j++;
		if (j == i)
			err = vg_pg_counters_sum(&t, f[i].dev);
	}
	if (!err && stored)
		return vg_pg_cmd(pg, "commit", "COMMIT", NULL) ? -EIO : 0;
	vg_pg_rows_clear(pg);
	vg_pg_rollback(pg);
	return err == -ENOMEM || err == -EAGAIN || err == -ERESTART || !err ? err : -EIO;
}

/* The most days without partitions one batch may bring (each costs a retry). */
#define VG_PG_NEW_DAYS_MAX 32

static int vg_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * COPY, or INSERTs of VG_PG_ROWS rows where the event tables' partitions are
 * foreign tables (a coordinator of shards; see VG_PG_COPY): 0 or -EIO.
 */
static int vg_pg_mode(struct vg_pg *pg)
{
	PGresult *r;

	if (pg->mode)
		return 0;
	r = vg_pg_exec(pg, "look for shards",
		       "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON"
		       " c.oid = i.inhrelid WHERE i.inhparent ="
		       " to_regclass('\"DeviceProcessEvents\"') AND c.relkind = 'f')",
		       NULL);
	if (!r)
		return -EIO;
	pg->mode = PQgetvalue(r, 0, 0)[0] == 't' ? VG_PG_INSERT : VG_PG_COPY;
	PQclear(r);
	return 0;
}

/* A frame's batch names a device id the store can hold: 0, or -EBADMSG with why. */
static int vg_pg_device_ok(const Vigil__V1__Batch *b, char *why, size_t why_len)
{
	if (b->device && (!b->device->device_id || !*b->device->device_id)) {
		snprintf(why, why_len, "batch with an empty device id");
		return -EBADMSG;
	}
	if (b->device && strlen(b->device->device_id) > VG_DEVICE_ID_MAX) {
		snprintf(why, why_len, "device id over %d bytes", VG_DEVICE_ID_MAX);
		return -EBADMSG;
	}
	return 0;
}

int vg_pg_store_frames(struct vg_pg *pg, const char *owner, struct vg_pg_frame *f, size_t n,
		       char *why, size_t why_len)
{
	char day[11];
	int err, made = 0, sp = 0;

	for (size_t i = 0; i < n; i++) {
		if (f[i].v && vg_pg_device_ok(f[i].v->b, f[i].why, sizeof(f[i].why))) {
			f[i].result = -EBADMSG;
			f[i].v = NULL;
		}
	}
	if (vg_pg_ready(pg))
		return -EIO;
	/*
	 * Once a day per connection: the partitions ahead, and retention. A
	 * failure waits for tomorrow: a missing day is made when it is needed.
	 */
	if (pg->maintained != vg_pg_day(vg_now_ns(), day) && vg_pg_maintain(pg)) {
		vg_log(VG_WARN, "server: the day's partitions and retention failed; again tomorrow");
		pg->maintained = vg_pg_day(vg_now_ns(), day);
		if (vg_pg_ready(pg))
			return -EIO;
	}
	if (vg_pg_mode(pg))
		return -EIO;
	for (;;) {
		int round = 0;

		err = vg_pg_store_once(pg, owner, f, n, sp);
		if (err == -ERESTART) { /* a frame refused among others: again, each on its own */
			sp = 1;
			continue;
		}
		if (err != -EAGAIN)
			return err;
		/* Each day of the rows that failed once (pg->ns), sorted, once. */
		for (size_t i = 0; i < pg->n_ns; i++)
			pg->ns[i] = (uint64_t)vg_pg_day(pg->ns[i], day);
		qsort(pg->ns, pg->n_ns, sizeof(pg->ns[0]), vg_u64_cmp);
		for (size_t i = 0; i < pg->n_ns; i++) {
			int n;

			if (i && pg->ns[i] == pg->ns[i - 1])
				continue;
			n = vg_pg_partition(pg, pg->ns[i] * VG_NS_DAY);
			if (n < 0)
				return -EIO;
			round += n > 0;
			if (n > 0 && ++made > VG_PG_NEW_DAYS_MAX) {
				snprintf(why, why_len,
					 "events of more than %d days that have no partition yet",
					 VG_PG_NEW_DAYS_MAX);
				return -EBADMSG;
			}
		}
		if (!round) { /* nothing was missing after all: not a loop */
			vg_log(VG_ERROR, "server: no partition for an event, and none to make");
			return -EIO;
		}
	}
}

int vg_pg_store_batch(struct vg_pg *pg, const char *owner, uint64_t seq, struct vg_batch *v,
		      char *why, size_t why_len)
{
	struct vg_pg_frame f = { .seq = seq, .v = v };
	int err = vg_pg_store_frames(pg, owner, &f, 1, why, why_len);

	if (err)
		return err;
	if (f.result < 0)
		snprintf(why, why_len, "%s", f.why);
	return f.result;
}

/* ---- roles */

/* What each role may do, on top of USAGE of the schema (each statement ends with the role). */
static const char *const vg_pg_ingest_grants[] = {
	"GRANT INSERT ON \"DeviceProcessEvents\", \"DeviceFileEvents\", \"DeviceNetworkEvents\","
	" \"DeviceEvents\", \"SuppressedEvents\", \"AlertInfo\", \"AlertEvidence\" TO ",
	/* the device checks, exactly once, the stream's device, the counters' upserts */
	"GRANT SELECT, INSERT ON \"DeviceInfo\", \"ReceivedFrames\", \"EnrolledDevices\" TO ",
	"GRANT SELECT, INSERT, UPDATE ON \"SensorCounters\", \"SensorCounterStreams\","
	" \"HostSkippedEvents\", \"ServerRefused\" TO ",
	"GRANT SELECT ON \"ServerSecrets\", \"SchemaVersion\" TO ",
	"GRANT EXECUTE ON FUNCTION vigil_partition(date), vigil_retain(integer) TO ",
	/* --retain-days: the exactly-once record's and the filter hits' trims */
	"GRANT EXECUTE ON FUNCTION vigil_retain_frames(integer),"
	" vigil_retain_filter_hits(integer) TO ",
	"GRANT USAGE ON SEQUENCE \"IngestSeq\" TO ", /* each event row's "IngestId" */
	/* filter sets: what a host fetches, and the hits its batches report */
	"GRANT SELECT ON \"FilterSets\" TO ",
	"GRANT SELECT, INSERT ON \"DeviceGroups\" TO ", /* an onboard --group secret's enrolment */
	"GRANT SELECT, INSERT, UPDATE ON \"SensorFilterHits\" TO ",
};
static const char *const vg_pg_analyst_grants[] = {
	"GRANT SELECT ON \"DeviceProcessEvents\", \"DeviceFileEvents\", \"DeviceNetworkEvents\","
	" \"DeviceEvents\", \"SuppressedEvents\", \"DeviceInfo\", \"AlertInfo\", \"AlertEvidence\","
	" \"SensorCounters\", \"SensorCounterStreams\", \"HostSkippedEvents\", \"ServerRefused\","
	" \"ReceivedFrames\", \"SchemaVersion\", \"RetentionDropped\" TO ",
	"GRANT SELECT ON \"FilterSets\", \"FilterSetRules\", \"DeviceGroups\","
	" \"SensorFilterHits\" TO ",
	/* the inventory, without the token hashes */
	"GRANT SELECT (\"DeviceId\", \"DeviceName\", \"Revoked\", \"Enrolled\", \"RevokedAt\")"
	" ON \"EnrolledDevices\" TO ",
	"GRANT SELECT ON \"DetectionState\", \"DetectionFailed\" TO ",
};
/* The detector (detect_pg.c): reads the events, writes the alerts, its cursors and failures. */
static const char *const vg_pg_detect_grants[] = {
	"GRANT SELECT ON \"DeviceProcessEvents\", \"DeviceFileEvents\", \"DeviceNetworkEvents\","
	" \"DeviceEvents\", \"DeviceInfo\", \"SchemaVersion\", \"IngestSeq\" TO ",
	"GRANT SELECT, INSERT, UPDATE ON \"AlertInfo\", \"AlertEvidence\", \"DetectionState\","
	" \"DetectionFailed\" TO ",
	"GRANT USAGE ON SEQUENCE \"AlertSeq\" TO ",
};

/* Create role (LOGIN, no password) unless it exists, and grant it its statements: 0 or -EIO. */
static int vg_pg_role(struct vg_pg *pg, const char *role, const char *const *grants, size_t n)
{
	struct vg_pp p = { 0 };
	char *id = PQescapeIdentifier(pg->c, role, strlen(role));
	PGresult *r;
	int err = -EIO, have;

	if (!id)
		return -ENOMEM;
	vg_pp_str(&p, role);
	r = vg_pg_exec(pg, "look up role", "SELECT 1 FROM pg_roles WHERE rolname = $1", &p);
	if (!r)
		goto out;
	have = PQntuples(r);
	PQclear(r);
	vg_sb_reset(&pg->tmp);
	vg_sb_printf(&pg->tmp, "CREATE ROLE %s LOGIN", id);
	if (!have && vg_pg_cmd(pg, "create role", vg_sb_str(&pg->tmp), NULL))
		goto out;
	vg_sb_reset(&pg->tmp);
	vg_sb_printf(&pg->tmp, "GRANT USAGE ON SCHEMA %s TO %s", pg->schema, id);
	if (vg_pg_cmd(pg, "grant", vg_sb_str(&pg->tmp), NULL))
		goto out;
	for (size_t i = 0; i < n; i++) {
		vg_sb_reset(&pg->tmp);
		vg_sb_add(&pg->tmp, grants[i]);
		vg_sb_add(&pg->tmp, id);
		if (vg_sb_err(&pg->tmp) || vg_pg_cmd(pg, "grant", vg_sb_str(&pg->tmp), NULL))
			goto out;
	}
	err = 0;
out:
	PQfreemem(id);
	return err;
}

int vg_pg_roles(struct vg_pg *pg, const char *ingest, const char *analyst, const char *detect)
{
	PGresult *r = vg_pg_exec(pg, "current schema", "SELECT quote_ident(current_schema())", NULL);
	int err;

	if (!r)
		return -EIO;
	snprintf(pg->schema, sizeof(pg->schema), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (vg_pg_cmd(pg, "begin", "BEGIN", NULL))
		return -EIO;
	err = vg_pg_role(pg, ingest, vg_pg_ingest_grants,
			 sizeof(vg_pg_ingest_grants) / sizeof(vg_pg_ingest_grants[0]));
	if (!err)
		err = vg_pg_role(pg, analyst, vg_pg_analyst_grants,
				 sizeof(vg_pg_analyst_grants) / sizeof(vg_pg_analyst_grants[0]));
	if (!err && detect)
		err = vg_pg_role(pg, detect, vg_pg_detect_grants,
				 sizeof(vg_pg_detect_grants) / sizeof(vg_pg_detect_grants[0]));
	if (!err && vg_pg_cmd(pg, "commit", "COMMIT", NULL))
		return -EIO;
	if (err)
		vg_pg_rollback(pg);
	return err;
}
