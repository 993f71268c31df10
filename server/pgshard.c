// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil server shards: the fleet's rows spread over shard servers with
 * PostgreSQL's own machinery (docs/fleet.md). Each shard holds the whole
 * schema (its event tables partitioned by day); on the coordinator the tables
 * of a device's batch become hash partitions on "DeviceId" that are foreign
 * tables (postgres_fdw, async_capable, so a hunt scans every shard at once),
 * so a batch commits on its device's shard alone, and vigil_partition and
 * vigil_retain run on every shard (dblink).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "log.h"
#include "server.h"

/*
 * The tables a batch writes with plain INSERTs: sharded. The counters (whose
 * upserts postgres_fdw cannot send) and the server's own tables stay on the
 * coordinator.
 */
static const char *const vg_shard_tables[] = {
	"DeviceProcessEvents", "DeviceFileEvents", "DeviceNetworkEvents", "DeviceEvents",
	"SuppressedEvents",    "DeviceInfo",	   "ReceivedFrames",
};
#define VG_SHARD_TABLES (sizeof(vg_shard_tables) / sizeof(vg_shard_tables[0]))

/* On the coordinator: make every shard's partitions; a shard that does not answer is skipped. */
static const char vg_shard_functions[] =
	"CREATE OR REPLACE FUNCTION vigil_partition(day date) RETURNS integer LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$"
	" DECLARE s text; n integer := 0; k integer;"
	" BEGIN"
	"  FOR s IN SELECT srvname FROM pg_foreign_server WHERE srvname LIKE 'vigil\\_shard\\_%'"
	"   ORDER BY 1 LOOP"
	"   BEGIN"
	"    SELECT v INTO k FROM dblink(s, format('SELECT vigil_partition(%L)', day))"
	"     AS t(v integer);"
	"    n := n + k;"
	"   EXCEPTION WHEN sqlclient_unable_to_establish_sqlconnection"
	"    OR connection_exception THEN"
	"    RAISE WARNING 'vigil_partition: shard % does not answer: %', s, SQLERRM;"
	"   END;"
	"  END LOOP;"
	"  RETURN n;"
	" END $$;"
	"CREATE OR REPLACE FUNCTION vigil_retain(days integer)"
	" RETURNS TABLE(\"Table\" text, \"Day\" date, \"Rows\" bigint) LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$"
	" DECLARE s text; r record;"
	" BEGIN"
	"  FOR s IN SELECT srvname FROM pg_foreign_server WHERE srvname LIKE 'vigil\\_shard\\_%'"
	"   ORDER BY 1 LOOP"
	"   FOR r IN SELECT * FROM dblink(s, format('SELECT * FROM vigil_retain(%s)', days))"
	"    AS x(t text, d date, n bigint) LOOP"
	"    INSERT INTO \"RetentionDropped\" AS o VALUES (r.t, r.d, r.n, now())"
	"     ON CONFLICT ON CONSTRAINT \"RetentionDropped_pkey\" DO UPDATE"
	"     SET \"Rows\" = o.\"Rows\" + excluded.\"Rows\", \"Timestamp\" = excluded.\"Timestamp\";"
	"    \"Table\" := r.t; \"Day\" := r.d; \"Rows\" := r.n;"
	"    RETURN NEXT;"
	"   END LOOP;"
	"  END LOOP;"
	" END $$;";

static int vg_shard_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	vg_log(VG_ERROR, "server shards: postgresql: %s", PQresultErrorMessage(r));
	PQclear(r);
	return -EIO;
}

/* Add "KEY 'VALUE'" (VALUE quoted as a literal) to b, comma first unless it is the first. */
static void vg_shard_opt(PGconn *c, struct vg_sb *b, int *n, const char *key, const char *val)
{
	char *lit = PQescapeLiteral(c, val, strlen(val));

	if (!lit) {
		b->err = -ENOMEM;
		return;
	}
	vg_sb_printf(b, "%s%s %s", (*n)++ ? ", " : "", key, lit);
	PQfreemem(lit);
}

/* The foreign server vigil_shard_I and its user mapping, from a shard's conninfo. */
static int vg_shard_server(PGconn *c, struct vg_sb *b, int i, const char *shard)
{
	static const char *const srv_keys[] = { "host", "hostaddr", "port", "dbname", "sslmode" };
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(shard, &err);
	const char *user = NULL, *password = NULL;
	int n = 0;

	if (!opts) {
		vg_log(VG_ERROR, "server shards: shard %d: %s", i, err ? err : "out of memory");
		PQfreemem(err);
		return -EINVAL;
	}
	vg_sb_printf(b, "CREATE SERVER vigil_shard_%d FOREIGN DATA WRAPPER postgres_fdw OPTIONS (",
		     i);
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "user"))
			user = o->val;
		else if (!strcmp(o->keyword, "password"))
			password = o->val;
		for (size_t k = 0; k < sizeof(srv_keys) / sizeof(srv_keys[0]); k++)
			if (!strcmp(o->keyword, srv_keys[k]))
				vg_shard_opt(c, b, &n, o->keyword, o->val);
	}
	vg_shard_opt(c, b, &n, "async_capable", "true");
	vg_shard_opt(c, b, &n, "batch_size", "64"); /* pgstore.c's VG_PG_ROWS rows in one */
	vg_sb_printf(b, ");CREATE USER MAPPING FOR PUBLIC SERVER vigil_shard_%d OPTIONS (", i);
	n = 0;
	if (user)
		vg_shard_opt(c, b, &n, "user", user);
	/* No password (peer or trust on the shard): a superuser may let the roles connect so. */
	vg_shard_opt(c, b, &n, password ? "password" : "password_required",
		     password ? password : "false");
	vg_sb_add(b, ");");
	PQconninfoFree(opts);
	return 0;
}

int vg_pg_shards(const char *coord, const char *const *shards, int n)
{
	struct vg_sb b;
	struct vg_pg *pg;
	char why[256];
	PGconn *c;
	int err = 0;

	/* Each shard, and the coordinator, at this server's schema version. */
	for (int i = 0; i <= n; i++) {
		const char *ci = i < n ? shards[i] : coord;

		if (vg_pg_open(&pg, ci, why, sizeof(why))) {
			vg_log(VG_ERROR, "server shards: %s %d: %s", i < n ? "shard" : "coordinator",
			       i, why);
			return -EIO;
		}
		err = vg_pg_migrate(pg);
		vg_pg_close(pg);
		if (err)
			return err;
	}
	c = PQconnectdb(coord);
	if (PQstatus(c) != CONNECTION_OK) {
		vg_log(VG_ERROR, "server shards: coordinator: %s", PQerrorMessage(c));
		PQfinish(c);
		return -EIO;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	vg_sb_init(&b);
	vg_sb_add(&b, "BEGIN;SELECT pg_advisory_xact_lock(7415901);"
		      "CREATE EXTENSION IF NOT EXISTS postgres_fdw;"
		      "CREATE EXTENSION IF NOT EXISTS dblink;");
	for (int i = 0; !err && i < n; i++)
		err = vg_shard_server(c, &b, i, shards[i]);
	for (size_t t = 0; !err && t < VG_SHARD_TABLES; t++) {
		const char *name = vg_shard_tables[t];

		/* Only an empty table moves: rows already stored stay where they are. */
		vg_sb_printf(&b,
			     "DO $$ BEGIN IF EXISTS (SELECT 1 FROM \"%s\") THEN RAISE EXCEPTION"
			     " '\"%s\" holds rows: shard an empty fleet database'; END IF; END $$;"
			     "ALTER TABLE \"%s\" RENAME TO \"%s_local\";"
			     "CREATE TABLE \"%s\" (LIKE \"%s_local\" INCLUDING DEFAULTS) PARTITION BY HASH (\"DeviceId\");"
			     "DROP TABLE \"%s_local\";",
			     name, name, name, name, name, name, name);
		for (int i = 0; i < n; i++)
			vg_sb_printf(&b,
				     "CREATE FOREIGN TABLE \"%s_s%d\" PARTITION OF \"%s\" FOR VALUES"
				     " WITH (MODULUS %d, REMAINDER %d) SERVER vigil_shard_%d"
				     " OPTIONS (table_name '%s');",
				     name, i, name, n, i, i, name);
	}
	vg_sb_add(&b, vg_shard_functions);
	vg_sb_add(&b, "COMMIT;");
	if (!err && vg_sb_err(&b))
		err = -ENOMEM;
	if (!err)
		err = vg_shard_exec(c, vg_sb_str(&b));
	vg_sb_free(&b);
	PQfinish(c);
	return err;
}
