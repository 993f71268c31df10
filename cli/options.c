// SPDX-License-Identifier: GPL-2.0-only
/* The option parser and usage errors every vigil command shares. */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <bpf/libbpf_version.h>

#include "cli.h"
#include "config.h"
#include "generated/vigil_build.h"
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

/* The group that may read path: its own, or its directory's when it cannot be seen. */
static const char *vg_cli_group(const char *path)
{
	char dir[4096], *slash;
	struct group *g;
	struct stat st;

	if (stat(path, &st)) {
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		if (stat(dir, &st))
			return NULL;
	}
	g = st.st_gid ? getgrgid(st.st_gid) : NULL;
	return g ? g->gr_name : NULL;
}

int vg_cli_open_store(const char *cmd, const char *db, struct vg_store **s)
{
	int err = vg_store_open_existing(s, db);
	const char *g;

	switch (err) {
	case 0:
		break;
	case -ENOENT:
		vg_log(VG_ERROR,
		       "%s: cannot open %s: no such file; `vigil host` (the vigil service) "
		       "creates it, --db FILE or db= in %s names another",
		       cmd, db, VG_CONFIG_FILE);
		break;
	case -EACCES:
		g = vg_cli_group(db);
		if (g)
			vg_log(VG_ERROR,
			       "%s: cannot open %s: permission denied; members of the group '%s' "
			       "may read it (sudo adduser $USER %s, then log in again)",
			       cmd, db, g, g);
		else
			vg_err(err, "%s: cannot open %s", cmd, db);
		break;
	case -EBUSY:
		vg_log(VG_ERROR, "%s: cannot open %s: locked by another process; try again", cmd,
		       db);
		break;
	case -EROFS:
		vg_log(VG_ERROR,
		       "%s: cannot open %s: its -shm file is missing and only its directory's "
		       "owner may make it; run `vigil host` on it once, or read it as root",
		       cmd, db);
		break;
	case -EBADMSG:
		vg_log(VG_ERROR, "%s: cannot open %s: not a vigil store (not an SQLite database)",
		       cmd, db);
		break;
	default:
		vg_err(err, "%s: cannot open %s", cmd, db);
	}
	return err;
}

void vg_cli_version(FILE *f)
{
	fprintf(f, "vigil %s\ncommit %s\nlibbpf %d.%d (the headers it was built with)\n",
		VG_VERSION, VG_GIT_COMMIT, LIBBPF_MAJOR_VERSION, LIBBPF_MINOR_VERSION);
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
