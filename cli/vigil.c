// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil: the host side on Linux. One command per file in cli/, dispatched
 * from vg_commands[] below: `vigil host` receives and stores what vigild
 * sends; the others read the store back or act on a sensor.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"

static const char vg_usage_main[] =
	"usage: vigil [--log-format text|json] [--log-level LEVEL] <command> [options]\n"
	"\n"
	"commands:\n"
	"  host     receive batches from vigild, store them in SQLite, acknowledge them\n"
	"  events   print the stored process timeline\n"
	"  stats    print the sensor's accounting counters per device and event class\n"
	"  hunt     run a KQL hunting query over the store\n"
	"  alerts   print the alerts detections raised, with their evidence\n"
	"  healthcheck  say whether telemetry flows (see `vigil healthcheck --help`)\n"
	"  filter   check, test against a capture, or apply a filter rule file\n"
	"  top      the hottest event sources and filter rules, live\n"
	"  keygen   print a new key line for a device (vigil host --keys, vigild --key)\n"
	"  server   the fleet service: batches over HTTPS into PostgreSQL, enrolment\n"
	"  devices  the device inventory (a host's store or the fleet's PostgreSQL)\n"
	"  rules    import-sigma: Sigma rules (YAML) as detection rules\n"
	"  help     show this text, or `vigil help COMMAND` for one command\n"
	"\n"
	"options:\n"
	"  -h, --help     show this text\n"
	"  --version      print the version, the git commit and the libbpf built with\n"
	"  --log-format text|json  log lines as text (TIME LEVEL vigil: message) or\n"
	"                 one JSON object each ($VIGIL_LOG_FORMAT; default text)\n"
	"  --log-level error|warning|info|debug  the least severe level logged\n"
	"                 ($VIGIL_LOG_LEVEL; default info)\n"
	"\n"
	"`vigil COMMAND --help` describes the options of each command.\n"
	"\n"
	"Configuration: /etc/vigil/vigil.conf ($VIGIL_CONFIG names another; empty:\n"
	"none). Before any section, db = FILE: the store every command opens\n"
	"without --db (default /var/lib/vigil/vigil.db). Then sections [host],\n"
	"[events], [stats], [hunt], [alerts], [top]: KEY = VALUE or a flag alone, the\n"
	"keys being the command's long options without dashes; a value on the\n"
	"command line wins (a flag set in the file stays set). A bad line is an\n"
	"error naming FILE:LINE.\n";

/*
 * Every command: its name, its entry and its --help text (NULL: the command
 * prints its own, as healthcheck's comes from the portable host core).
 */
static const struct vg_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} vg_commands[] = {
	{ "host", vg_cmd_host, vg_usage_host },
	{ "events", vg_cmd_events, vg_usage_events },
	{ "stats", vg_cmd_stats, vg_usage_stats },
	{ "hunt", vg_cmd_hunt, vg_usage_hunt },
	{ "alerts", vg_cmd_alerts, vg_usage_alerts },
	{ "healthcheck", vg_cmd_healthcheck, NULL },
	{ "filter", vg_cmd_filter, vg_usage_filter },
	{ "top", vg_cmd_top, vg_usage_top },
	{ "keygen", vg_cmd_keygen, vg_usage_keygen },
	{ "server", vg_cmd_server, vg_usage_server },
	{ "devices", vg_cmd_devices, vg_usage_devices },
	{ "rules", vg_cmd_rules, vg_usage_rules },
	{ "help", NULL, vg_usage_main },
};

static const struct vg_command *vg_command(const char *name)
{
	for (size_t i = 0; i < sizeof(vg_commands) / sizeof(vg_commands[0]); i++)
		if (!strcmp(vg_commands[i].name, name))
			return &vg_commands[i];
	return NULL;
}

static int vg_cmd_help(int argc, char **argv)
{
	const struct vg_command *c;

	if (argc < 2) {
		fputs(vg_usage_main, stdout);
		return 0;
	}
	c = vg_command(argv[1]);
	if (!c)
		return vg_cli_usage(NULL, "help: unknown command '%s'", argv[1]);
	if (!c->usage)
		return c->fn(2, (char *[]){ argv[1], "--help", NULL });
	fputs(c->usage, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct vg_command *c;
	const char *cmd;
	int ok, i = 1;

	vg_prog = "vigil";
	if (vg_log_env())
		vg_log(VG_WARN, "VIGIL_LOG_FORMAT or VIGIL_LOG_LEVEL has no known value; ignored");
	/* vigil [--log-format F] [--log-level L] COMMAND: for every command. */
	while (i < argc && (ok = vg_cli_log_opt(NULL, argc, argv, &i))) {
		if (ok == 2)
			return 2;
		i++;
	}
	argc -= i - 1;
	argv += i - 1;
	if (argc < 2)
		return vg_cli_usage(NULL, "no command given");
	cmd = argv[1];
	if (vg_cli_is_help(cmd))
		return vg_cmd_help(1, argv + 1);
	if (!strcmp(cmd, "--version")) {
		vg_cli_version(stdout);
		return 0;
	}
	c = vg_command(cmd);
	if (c && c->fn) {
		int n = argc - 1, err;
		char **v = argv + 1;

		err = vg_cli_config(cmd, &n, &v);
		return err ? err : c->fn(n, v);
	}
	if (c)
		return vg_cmd_help(argc - 1, argv + 1);
	if (cmd[0] == '-')
		return vg_cli_usage(NULL, "unknown option '%s'", cmd);
	return vg_cli_usage(NULL, "unknown command '%s'", cmd);
}
