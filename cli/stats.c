// SPDX-License-Identifier: GPL-2.0-only
/* vigil stats: SensorCounters per device and event class, over every vigild run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "events.h"
#include "outbox.h"
#include "store.h"

const char vg_usage_stats[] =
	"usage: vigil stats [--db FILE] [--json]\n"
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
	"  --db FILE    SQLite database written by `vigil host` (never created)\n"
	"               default: db= of /etc/vigil/vigil.conf, else\n"
	"               /var/lib/vigil/vigil.db\n"
	"  --json       one JSON object per line\n"
	"  -h, --help   show this text\n";

int vg_cmd_stats(int argc, char **argv)
{
	const char *val, *db = NULL;
	struct vg_store *s;
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
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else {
			return vg_cli_usage("stats", "unknown option '%s'", a);
		}
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
