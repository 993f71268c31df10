// SPDX-License-Identifier: GPL-2.0-only
/* vigil alerts: the alerts detections raised, with their evidence, then --follow. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "store.h"

#define VG_FOLLOW_MS 200

const char vg_usage_alerts[] =
	"usage: vigil alerts ([--db FILE] [--follow] | --pg CONNINFO) [--json]\n"
	"\n"
	"Print the alerts detections raised (AlertInfo), oldest first, each with its\n"
	"evidence (AlertEvidence: the table, rowid and ReportId of every event behind\n"
	"it, its action and command line or path). Text from the sensors comes out\n"
	"with controls and bytes that are not UTF-8 escaped (\\x1b, \\n, \\xff).\n"
	"\n"
	"  --db FILE    SQLite database written by `vigil host` (never created)\n"
	"               default: db= of /etc/vigil/vigil.conf, else\n"
	"               /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO  the fleet's PostgreSQL instead (libpq conninfo), read-only;\n"
	"               every alert there, by time (no --follow)\n"
	"  --json       one JSON object per alert per line, with an \"Evidence\" array\n"
	"  --follow     then print new alerts as they are raised, until SIGINT/SIGTERM\n"
	"  -h, --help   show this text\n";

static volatile sig_atomic_t vg_stop;

static void vg_on_signal(int sig)
{
	vg_stop = 1;
}

int vg_cmd_alerts(int argc, char **argv)
{
	const char *val, *db = NULL, *pg = NULL;
	int json = 0, follow = 0;
	struct vg_store *s;
	int64_t last = 0;
	long n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_alerts, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("alerts", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("alerts", "%s needs a conninfo", "--pg");
			pg = val;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
			follow = 1;
		} else {
			return vg_cli_usage("alerts", "unknown option '%s'", a);
		}
	}
	if (!db && !pg)
		db = vg_cli_default_db();
	if (!db == !pg)
		return vg_cli_usage("alerts", "%s", "give one of --db FILE or --pg CONNINFO");
	if (pg) {
		if (follow)
			return vg_cli_usage("alerts", "%s", "--follow needs --db");
		n = vg_alerts_print_pg(pg, stdout, json);
		return n < 0 && n != -EPIPE ? 1 : 0;
	}
	if (vg_cli_open_store("alerts", db, &s))
		return 1;
	n = vg_alerts_print(vg_store_db(s), stdout, json, 0, &last);
	if (n >= 0 && follow) {
		struct sigaction sa = { .sa_handler = vg_on_signal };
		struct timespec ts = { 0, VG_FOLLOW_MS * 1000000L };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		while (!vg_stop && n >= 0) {
			nanosleep(&ts, NULL);
			n = vg_alerts_print(vg_store_db(s), stdout, json, last, &last);
		}
	}
	vg_store_close(s);
	if (n == -EPIPE)
		return 0;
	return n < 0 ? 1 : 0;
}
