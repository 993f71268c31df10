/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the `vigil` commands share: option parsing, usage errors, opening the
 * store, and each command's entry point (cli/vigil.c dispatches from one
 * table; each command lives in its own cli/NAME.c).
 */
#ifndef VG_CLI_H
#define VG_CLI_H

#include <stdio.h>

#define VG_VERSION "0.1.0"

struct vg_store;

/*
 * Does argv[*i] name option `name` ("--name VALUE" or "--name=VALUE")? 1 with
 * *val set (NULL when the value is missing) and *i past it, else 0.
 */
int vg_cli_opt(int argc, char **argv, int *i, const char *name, const char **val);

/*
 * "vigil: CMD: message" and "Try 'vigil CMD --help'." on stderr (cmd NULL:
 * no command); returns 2, the exit status of a usage error.
 */
int vg_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Print --version: the version, the git commit baked in at build time (or
 * that the tree had no .git) and the libbpf headers built with.
 */
void vg_cli_version(FILE *f);

/* Is a "-h" or "--help"? */
int vg_cli_is_help(const char *a);

/*
 * Parse opt's value val as a number from lo to hi into *out: 0, or the usage
 * error (printed) and 2.
 */
int vg_cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, int *out);

/*
 * --log-format text|json and --log-level error|warning|info|debug at
 * argv[*i]: 1 when taken (applied, and put in the environment for a spawned
 * vigild; *i moves past the value), 2 after a usage error, 0 when argv[*i]
 * is another option.
 */
int vg_cli_log_opt(const char *cmd, int argc, char **argv, int *i);

/* Open an existing store (never created): 0, or a negative errno, logged as "CMD: ...". */
int vg_cli_open_store(const char *cmd, const char *db, struct vg_store **s);

/*
 * The detection rules' directory when --rules is not given (cli/host.c):
 * $VIGIL_RULES, the source tree's rules/, VG_DATADIR/rules; NULL: none.
 */
const char *vg_cli_rules_dir(void);

/*
 * The commands: argv[0] is the command's name; each returns the process
 * exit status (0, 1 runtime error, 2 usage; healthcheck 3 when not healthy).
 */
int vg_cmd_host(int argc, char **argv);
int vg_cmd_events(int argc, char **argv);
int vg_cmd_stats(int argc, char **argv);
int vg_cmd_hunt(int argc, char **argv);
int vg_cmd_alerts(int argc, char **argv);
int vg_cmd_healthcheck(int argc, char **argv);
int vg_cmd_filter(int argc, char **argv);
int vg_cmd_top(int argc, char **argv);
int vg_cmd_keygen(int argc, char **argv);
int vg_cmd_server(int argc, char **argv);
int vg_cmd_devices(int argc, char **argv);
int vg_cmd_rules(int argc, char **argv);

/* Their --help texts (healthcheck's is the portable host/healthcheck.c's). */
extern const char vg_usage_host[], vg_usage_events[], vg_usage_stats[], vg_usage_hunt[],
	vg_usage_alerts[], vg_usage_filter[], vg_usage_top[], vg_usage_keygen[], vg_usage_server[];
extern const char vg_usage_devices[];
extern const char vg_usage_rules[];

#endif
