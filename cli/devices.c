// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil devices: the device inventory, one KQL query (below) through the
 * hunting translator, so the fleet's PostgreSQL and a host's SQLite answer
 * it the same way and an analyst can run or change it with `vigil hunt`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "hunt.h"
#include "log.h"
#include "store.h"

/* Each device's latest report, its frames and its sensor's losses. */
const char vg_devices_kql[] =
	"DeviceInfo\n"
	"| summarize arg_max(Timestamp, DeviceName, OSPlatform, OSDistribution, OSVersion,"
	" DeviceTags, HostDeviceId, ClientVersion) by DeviceId\n"
	"| join kind=leftouter (ReceivedFrames | summarize LastSeen=max(Timestamp),"
	" Events=sum(Events) by DeviceId) on DeviceId\n"
	"| join kind=leftouter (SensorCounters | summarize RingFull=sum(RingbufFull),"
	" Lost=max(EventsLost) by DeviceId | extend Dropped = RingFull + Lost) on DeviceId\n"
	"| extend Health = iff(isnull(LastSeen), \"no data\", iff(LastSeen < ago(15m),"
	" \"inactive\", iff(Dropped > 0, \"dropping\", \"active\")))\n"
	"| project DeviceId, DeviceName, OSPlatform, OSDistribution, OSVersion, DeviceTags,"
	" HostDeviceId, ClientVersion, Health, LastSeen, Events, Dropped\n"
	"| sort by DeviceId asc\n";

const char vg_usage_devices[] =
	"usage: vigil devices ([--db FILE] | --pg CONNINFO) [--format table|json|csv] [--json]\n"
	"\n"
	"The device inventory: one row per device that reported (DeviceInfo), with its\n"
	"latest name, OS, tags (WSL2), HostDeviceId (the Windows host a WSL instance runs\n"
	"on), sensor version (ClientVersion), Health, LastSeen (its last stored batch),\n"
	"Events (stored) and Dropped (the sensor's ring-full and lost events).\n"
	"Health: \"active\" (a batch in the last 15 minutes), \"dropping\" (active, and\n"
	"its sensor lost events), \"inactive\" (none for 15 minutes), \"no data\".\n"
	"`vigil devices -v` prints the KQL query it runs (`vigil hunt` takes it too).\n"
	"\n"
	"  --db FILE      SQLite database written by `vigil host` (never created);\n"
	"                 default: db= of /etc/vigil/vigil.conf, else /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO  the fleet's PostgreSQL (`vigil server`), read-only\n"
	"  --format FMT   table (default), json (one object per line) or csv\n"
	"  --json         same as --format json\n"
	"  -v, --verbose  print the KQL query and the SQL it became\n"
	"  -h, --help     show this text\n";

int vg_cmd_devices(int argc, char **argv)
{
	const char *val, *db = NULL, *pg = NULL;
	enum vg_hunt_format fmt = VG_HUNT_TABLE;
	struct vg_store *s;
	long n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_devices, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("devices", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("devices", "%s needs a conninfo", "--pg");
			pg = val;
		} else if (vg_cli_opt(argc, argv, &i, "--format", &val)) {
			if (vg_hunt_format_parse(val, &fmt))
				return vg_cli_usage("devices",
						    "--format takes table, json or csv, not '%s'",
						    val ? val : "");
		} else if (!strcmp(a, "--json")) {
			fmt = VG_HUNT_JSON;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			vg_log_max = VG_DEBUG;
		} else {
			return vg_cli_usage("devices", "unknown argument '%s'", a);
		}
	}
	if (!db && !pg)
		db = vg_cli_default_db();
	if (!db == !pg)
		return vg_cli_usage("devices", "%s", "give one of --db FILE or --pg CONNINFO");
	vg_log(VG_DEBUG, "devices: KQL:\n%s", vg_devices_kql);
	if (pg) {
		n = vg_hunt_run_pg(pg, vg_devices_kql, "devices", fmt, stdout, stderr);
		return n < 0 && n != -EPIPE ? 1 : 0;
	}
	if (vg_cli_open_store("devices", db, &s))
		return 1;
	n = vg_hunt_run(vg_store_db(s), vg_devices_kql, "devices", fmt, stdout, stderr);
	vg_store_close(s);
	return n < 0 && n != -EPIPE ? 1 : 0;
}
