// SPDX-License-Identifier: GPL-2.0-only
/* The option parser and usage errors every vigil command shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "store.h"

int vg_cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n])
		return 0;
	*val = *i + 1 < argc ? argv[++*i] : NULL;
	return 1;
}

int vg_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vigil: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vigil %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return 2;
}

int vg_cli_is_help(const char *a)
{
	return !strcmp(a, "-h") || !strcmp(a, "--help");
}

int vg_cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = val ? strtol(val, &end, 10) : 0;
	if (!val || errno || *end || v < lo || v > hi)
		return vg_cli_usage(cmd, "%s needs a number from %ld to %ld", opt, lo, hi);
	*out = (int)v;
	return 0;
}

int vg_cli_open_store(const char *cmd, const char *db, struct vg_store **s)
{
	int err = vg_store_open_existing(s, db);

	if (err)
		vg_err(err, "%s: cannot open %s", cmd, db);
	return err;
}

int vg_cli_log_opt(const char *cmd, int argc, char **argv, int *i)
{
	const char *val;
	int v;

	if (vg_cli_opt(argc, argv, i, "--log-format", &val)) {
		v = vg_log_format_parse(val);
		if (v < 0)
			return vg_cli_usage(cmd, "%s needs text or json", "--log-format");
		vg_log_json = v;
		/* A spawned vigild logs the same way. */
		setenv("VIGIL_LOG_FORMAT", val, 1);
		return 1;
	}
	if (vg_cli_opt(argc, argv, i, "--log-level", &val)) {
		v = vg_log_level_parse(val);
		if (v < 0)
			return vg_cli_usage(cmd, "%s needs error, warning, info or debug",
					    "--log-level");
		vg_log_max = v;
		setenv("VIGIL_LOG_LEVEL", val, 1);
		return 1;
	}
	return 0;
}
