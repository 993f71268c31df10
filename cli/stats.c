// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil stats: SensorCounters per device and event class, over every vigild
 * run, and the host's own counts; with --pg, the fleet's.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "events.h"
#include "fmt.h"
#include "hunt.h"
#include "log.h"
#include "outbox.h"
#include "server.h"
#include "store.h"

/*
 * vigil stats --pg: the fleet's accounting from PostgreSQL, each section one
 * query over the tables the analyst role may read; the first column a
 * label (a table, class or reason: escaped, as it may come from a host), the
 * others numbers.
 */
static const struct {
	const char *title, *section, *sql;
} vg_stats_pg[] = {
	{ "DEVICES (enrolled, revoked, reporting, with a batch in the last 15 minutes)", "devices",
	  "SELECT 'devices' AS \"Fleet\", (SELECT count(*) FROM \"EnrolledDevices\") AS"
	  " \"Enrolled\", (SELECT count(*) FROM \"EnrolledDevices\" WHERE \"Revoked\") AS"
	  " \"Revoked\", (SELECT count(DISTINCT \"DeviceId\") FROM \"DeviceInfo\") AS"
	  " \"Reporting\", (SELECT count(DISTINCT \"DeviceId\") FROM \"ReceivedFrames\" WHERE"
	  " \"Timestamp\" >= now() - interval '15 minutes') AS \"Active\"" },
	{ "STORED (rows now, and rows retention dropped: RetentionDropped)", "stored",
	  "SELECT v.\"Table\", v.\"Rows\", coalesce((SELECT sum(x.\"Rows\") FROM"
	  " \"RetentionDropped\" x WHERE x.\"Table\" = v.\"Table\"), 0) AS \"RetentionDropped\""
	  " FROM (VALUES ('DeviceProcessEvents', (SELECT count(*) FROM \"DeviceProcessEvents\")),"
	  " ('DeviceFileEvents', (SELECT count(*) FROM \"DeviceFileEvents\")),"
	  " ('DeviceNetworkEvents', (SELECT count(*) FROM \"DeviceNetworkEvents\")),"
	  " ('DeviceEvents', (SELECT count(*) FROM \"DeviceEvents\")),"
	  " ('SuppressedEvents', (SELECT count(*) FROM \"SuppressedEvents\")),"
	  " ('ReceivedFrames', (SELECT count(*) FROM \"ReceivedFrames\")),"
	  " ('SensorFilterHits', (SELECT count(*) FROM \"SensorFilterHits\")))"
	  " AS v(\"Table\", \"Rows\")" },
	{ "SENSORS (SensorCounters summed over every device and vigild run)", "sensors",
	  "SELECT \"EventClass\", count(DISTINCT \"DeviceId\") AS \"Devices\", sum(\"Seen\") AS"
	  " \"Seen\", sum(\"Emitted\") AS \"Emitted\", sum(\"Filtered\") AS \"Filtered\","
	  " sum(\"Deduplicated\") AS \"Deduplicated\", sum(\"RateLimited\") AS \"RateLimited\","
	  " sum(\"RingbufFull\") AS \"RingbufFull\", CASE WHEN sum(\"Seen\") = sum(\"Emitted\") +"
	  " sum(\"Filtered\") + sum(\"Deduplicated\") + sum(\"RateLimited\") + sum(\"RingbufFull\")"
	  " THEN 'ok' ELSE 'MISMATCH' END AS \"Accounting\" FROM \"SensorCounters\" GROUP BY 1"
	  " ORDER BY 1" },
	{ "LOST IN USERSPACE (each device's vigild, EventsLost)", "lost",
	  "SELECT 'events lost' AS \"Fleet\", count(*) FILTER (WHERE l > 0) AS \"Devices\","
	  " coalesce(sum(l), 0) AS \"EventsLost\" FROM (SELECT \"DeviceId\", max(\"EventsLost\")"
	  " AS l FROM \"SensorCounters\" GROUP BY 1) x" },
	{ "EVENTS HOSTS COULD NOT STORE (HostSkippedEvents)", "skipped",
	  "SELECT \"Reason\", count(DISTINCT \"DeviceId\") AS \"Devices\", sum(\"Count\") AS"
	  " \"Count\" FROM \"HostSkippedEvents\" GROUP BY 1 ORDER BY 1" },
	{ "REFUSED UPSTREAM BY THE SERVER (ServerRefused)", "refused",
	  "SELECT \"Reason\", count(DISTINCT \"DeviceId\") AS \"Devices\", sum(\"Count\") AS"
	  " \"Count\" FROM \"ServerRefused\" GROUP BY 1 ORDER BY 1" },
};

/* PostgreSQL's numeric types (pg_type.dat): a value printed unquoted in JSON. */
static int vg_stats_pg_num(Oid t)
{
	return t == 20 || t == 21 || t == 23 || t == 1700;
}

static int vg_stats_pg_print(PGconn *pg, FILE *out, int json)
{
	struct vg_sb line;
	int err = 0;

	vg_sb_init(&line);
	for (size_t q = 0; !err && q < sizeof(vg_stats_pg) / sizeof(vg_stats_pg[0]); q++) {
		PGresult *r = PQexec(pg, vg_stats_pg[q].sql);
		int nf = PQnfields(r);

		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			vg_log(VG_ERROR, "stats: postgresql: %s", PQresultErrorMessage(r));
			PQclear(r);
			err = -EIO;
			break;
		}
		if (!json) {
			fprintf(out, "%s%s\n%-32s", q ? "\n" : "", vg_stats_pg[q].title,
				PQfname(r, 0));
			for (int c = 1; c < nf; c++)
				fprintf(out, " %14s", PQfname(r, c));
			fputc('\n', out);
		}
		for (int i = 0; i < PQntuples(r) && !err; i++) {
			vg_sb_reset(&line);
			if (json) {
				vg_sb_add(&line, "{\"Section\":");
				vg_json_str(&line, vg_stats_pg[q].section);
				for (int c = 0; c < nf; c++) {
					vg_sb_add(&line, ",");
					vg_json_str(&line, PQfname(r, c));
					vg_sb_add(&line, ":");
					if (vg_stats_pg_num(PQftype(r, c)))
						vg_sb_add(&line, PQgetvalue(r, i, c));
					else
						vg_json_str(&line, PQgetvalue(r, i, c));
				}
				vg_sb_add(&line, "}");
			} else {
				vg_sb_cell(&line, PQgetvalue(r, i, 0), 32, 1);
				for (int c = 1; c < nf; c++) {
					vg_sb_add(&line, " ");
					if (vg_stats_pg_num(PQftype(r, c)))
						vg_sb_printf(&line, "%14s", PQgetvalue(r, i, c));
					else
						vg_sb_cell(&line, PQgetvalue(r, i, c), 14, 1);
				}
			}
			vg_sb_add(&line, "\n");
			err = vg_sb_put(&line, out);
		}
		if (!PQntuples(r) && !json)
			fputs("(none)\n", out);
		PQclear(r);
	}
	vg_sb_free(&line);
	if (!err)
		err = vg_pg_fleet_sets(pg, out, json);
	return err;
}

const char vg_usage_stats[] =
	"usage: vigil stats ([--db FILE] | --pg CONNINFO) [--json]\n"
	"\n"
	"Print SensorCounters per device and event class, added up over every vigild\n"
	"run: seen, emitted, filtered, deduplicated, rate-limited, ring-buffer-full and\n"
	"events lost, and whether seen = emitted + filtered + deduplicated +\n"
	"rate-limited + ringbuf-full holds (ok) or not (MISMATCH).\n"
	"Then ring fill, the daemon's counts, filter rule hits, what the host skipped or\n"
	"refused, and HostCounters: rows retention deleted per table (RetentionDeleted),\n"
	"events each --output wrote (OutputEvents) or could not (OutputErrors), frames\n"
	"and events retention removed before they went upstream (UpstreamLost).\n"
	"With `vigil host --upstream`: the upstream state (shipping, unreachable or\n"
	"refused, the last error and since when), frames and events pending, the lag\n"
	"(the oldest pending frame's age) and, per device and stream, the sequence\n"
	"number shipped up to, frames and events shipped and pending.\n"
	"\n"
	"With --pg, the fleet's accounting from `vigil server`'s PostgreSQL: devices\n"
	"(enrolled, revoked, reporting, active), rows stored per table and what\n"
	"retention dropped of each, the sensors' counters summed per event class with\n"
	"the identity checked, events lost in userspace, what hosts could not store and\n"
	"what the server refused (per reason, with the devices), and each machine\n"
	"group's current filter set with its devices and hits (then every other rule\n"
	"list sensors report: older versions, another group's set, a host's own).\n"
	"\n"
	"  --db FILE    SQLite database written by `vigil host` (never created)\n"
	"               default: db= of /etc/vigil/vigil.conf, else\n"
	"               /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO the fleet's PostgreSQL, read-only: the analyst role's\n"
	"               conninfo (`vigil server roles`)\n"
	"  --json       one JSON object per line\n"
	"  -h, --help   show this text\n";

int vg_cmd_stats(int argc, char **argv)
{
	const char *val, *db = NULL, *pgc = NULL;
	struct vg_store *s;
	PGconn *pg;
	int json = 0, err;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_stats, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("stats", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("stats", "%s needs a conninfo", "--pg");
			pgc = val;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else {
			return vg_cli_usage("stats", "unknown option '%s'", a);
		}
	}
	if (db && pgc)
		return vg_cli_usage("stats", "%s", "give one of --db FILE or --pg CONNINFO");
	if (pgc) {
		pg = vg_hunt_pg_open(pgc, "stats");
		if (!pg)
			return 1;
		err = vg_stats_pg_print(pg, stdout, json);
		if (!err && fflush(stdout) == EOF)
			err = -EPIPE;
		PQfinish(pg);
		return err && err != -EPIPE ? 1 : 0;
	}
	if (!db)
		db = vg_cli_default_db();
	if (vg_cli_open_store("stats", db, &s))
		return 1;
	err = vg_stats_print(s, stdout, json);
	if (!err)
		err = vg_outbox_print(vg_store_db(s), stdout, json);
	if (!err && fflush(stdout) == EOF)
		err = -EPIPE;
	vg_store_close(s);
	if (err == -EPIPE)
		return 0;
	return err ? 1 : 0;
}
