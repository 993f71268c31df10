/* SPDX-License-Identifier: GPL-2.0-only */
/* Option parsing and usage errors shared by the vigil commands. */
#ifndef VG_CLI_H
#define VG_CLI_H

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

#endif
