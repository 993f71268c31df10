// SPDX-License-Identifier: GPL-2.0-only
/* vigil events: the stored process timeline, then --follow. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "events.h"
#include "hunt.h"
#include "log.h"
#include "store.h"

#define VG_FOLLOW_MS 200

const char vg_usage_events[] =
	"usage: vigil events [--db FILE] [--json] [--follow] [--limit N] [--distribution NAME]\n"
	"       vigil events --pg CONNINFO [--device ID] [--json] [--limit N]\n"
	"\n"
	"Print the stored events (DeviceProcessEvents, DeviceFileEvents,\n"
	"DeviceNetworkEvents, DeviceEvents) in Timestamp and ReportId order.\n"
	"\n"
	"  --db FILE    SQLite database written by `vigil host` (never created)\n"
	"               default: db= of /etc/vigil/vigil.conf, else\n"
	"               /var/lib/vigil/vigil.db\n"
	"  --pg CONNINFO  the fleet's PostgreSQL (`vigil server`), read-only: every\n"
	"               device's events, merged by time (--json names each DeviceId)\n"
	"  --device ID  with --pg: only this device's events\n"
	"  --json       one JSON object per line: \"Table\" then every column by name\n"
	"  --follow     then print new events as they are stored, until SIGINT/SIGTERM\n"
	"  --limit N    print only the last N stored events\n"
	"  --distribution NAME\n"
	"               only the events of this WSL distribution (column Distribution)\n"
	"  -h, --help   show this text\n";

/* Print rows stored after *last every VG_FOLLOW_MS until SIGINT/SIGTERM. */
static int vg_follow(struct vg_store *s, int json, const char *distro, struct vg_cursor last)
{
	struct pollfd pfd = { .events = POLLIN };
	sigset_t mask;
	int n;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return vg_err(-errno, "block signals");
	pfd.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (pfd.fd < 0)
		return vg_err(-errno, "signalfd");
	for (;;) {
		n = poll(&pfd, 1, VG_FOLLOW_MS);
		if (n < 0 && errno != EINTR) {
			n = vg_err(-errno, "poll");
			break;
		}
		if (n > 0) {
			n = 0; /* a signal: a clean stop */
			break;
		}
		n = vg_events_print_in(s, stdout, json, &last, NULL, 0, distro, &last);
		if (n < 0)
			break;
	}
	close(pfd.fd);
	return n < 0 ? n : 0;
}

int vg_cmd_events(int argc, char **argv)
{
	const char *val, *db = NULL, *pg = NULL, *device = NULL, *distro = NULL;
	int json = 0, follow = 0, n;
	long limit = 0;
	struct vg_store *s;
	struct vg_cursor upto, start = { { 0 } }, last = { { 0 } };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_events, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("events", "%s needs a file", "--db");
			db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &val)) {
			if (!val)
				return vg_cli_usage("events", "%s needs a conninfo", "--pg");
			pg = val;
		} else if (vg_cli_opt(argc, argv, &i, "--device", &val)) {
			if (!val)
				return vg_cli_usage("events", "%s needs a device id", "--device");
			device = val;
		} else if (vg_cli_opt(argc, argv, &i, "--limit", &val)) {
			char *end;

			errno = 0;
			limit = val ? strtol(val, &end, 10) : -1;
			if (!val || errno || *end || limit <= 0)
				return vg_cli_usage("events", "--limit needs a positive number");
		} else if (vg_cli_opt(argc, argv, &i, "--distribution", &val)) {
			if (!val || !*val)
				return vg_cli_usage("events", "%s needs a name", "--distribution");
			distro = val;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
			follow = 1;
		} else {
			return vg_cli_usage("events", "unknown option '%s'", a);
		}
	}
	if (db && pg)
		return vg_cli_usage("events", "give one of --db FILE or --pg CONNINFO");
	if (pg && follow)
		return vg_cli_usage("events", "--follow reads a host's store: not with --pg");
	if (device && !pg)
		return vg_cli_usage("events", "--device goes with --pg");
	if (distro && pg)
		return vg_cli_usage("events", "--distribution reads a host's store: not with --pg");
	if (pg) {
		long r = vg_events_print_pg(pg, device, stdout, json, limit);

		return r < 0 && r != -EPIPE ? 1 : 0;
	}
	if (!db)
		db = vg_cli_default_db();
	if (vg_cli_open_store("events", db, &s))
		return 1;
	n = vg_events_last(s, &upto);
	if (!n)
		n = vg_events_print_in(s, stdout, json, &start, &upto, limit, distro, &last);
	if (n >= 0 && follow)
		n = vg_follow(s, json, distro, upto);
	vg_store_close(s);
	/* A closed pipe (vigil events | head) is the reader's choice, not an error. */
	if (n == -EPIPE)
		return 0;
	return n < 0 ? 1 : 0;
}
