// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil rules import-sigma: Sigma rules (YAML) written as detection rules
 * (hunt/sigma.c translates). Every file is translated and the results are
 * loaded as `vigil host` loads rules, against an empty store in memory,
 * before any is written: one bad file and nothing is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "detect.h"
#include "fmt.h"
#include "log.h"
#include "sigma.h"
#include "store.h"

const char vg_usage_rules[] =
	"usage: vigil rules import-sigma [-o DIR] FILE.yml...\n"
	"\n"
	"Translate Sigma rules (sigmahq.io, specification v2; one rule per file) into\n"
	"detection rules (*.rule) for `vigil host --rules DIR` and `vigil server\n"
	"--detect`. The logsource category picks the table (process_creation:\n"
	"DeviceProcessEvents; file_event, file_change, file_rename, file_delete,\n"
	"image_load: DeviceFileEvents; network_connection: DeviceNetworkEvents) and\n"
	"the fields map to its columns as Sigma's Kusto back end maps them for\n"
	"Defender (Image: FolderPath, CommandLine: ProcessCommandLine, ParentImage:\n"
	"InitiatingProcessFolderPath, TargetFilename: FolderPath, DestinationIp:\n"
	"RemoteIP, ...; README \"Sigma rules\" has the table). Modifiers: contains,\n"
	"startswith, endswith, all, re (re|i), cidr (IPv4), cased, exists, gt, gte,\n"
	"lt, lte; wildcards * and ?; conditions with and, or, not, parentheses,\n"
	"'1 of PATTERN', 'all of PATTERN', '1 of them', 'all of them'. level gives\n"
	"the severity (critical: High), the attack.tNNNN tags the MITRE techniques\n"
	"(one is needed), the first tactic tag the category. What has no\n"
	"translation (a field without a column, an aggregation, an unknown modifier,\n"
	"a logsource without a table, keyword searches) is an error FILE:LINE:COL;\n"
	"YAML anchors and aliases, nesting deeper than 16, values over 16 KiB and\n"
	"files over 256 KiB are refused. Any error: exit 1 and nothing written.\n"
	"\n"
	"  -o, --output DIR  write each rule as DIR/NAME.rule (NAME: the file's name\n"
	"                    without .yml/.yaml; an existing rule is replaced).\n"
	"                    Without -o, one FILE's rule goes to standard output.\n"
	"  -h, --help        show this text\n";

struct vg_import {
	const char *src;
	char name[256];
	struct vg_sb rule;
};

/* NAME of a FILE.yml path: letters, digits, '-', '_' and '.' only. */
static int vg_rule_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".yml"))
		n -= 4;
	else if (n > 5 && !strcmp(base + n - 5, ".yaml"))
		n -= 5;
	if (!n || n >= size - 5 || base[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
			    base[i]))
			return -EINVAL;
	memcpy(name, base, n);
	name[n] = 0;
	return 0;
}

static int vg_import_read(struct vg_import *im, struct vg_sb *errors)
{
	char *buf = malloc(VG_SIGMA_MAX_BYTES + 1);
	FILE *f;
	size_t n;
	int err;

	if (!buf)
		return -ENOMEM;
	f = fopen(im->src, "r");
	if (!f) {
		err = -errno;
		vg_sb_safe(errors, im->src);
		vg_sb_printf(errors, ": %s\n", strerror(-err));
		free(buf);
		return err;
	}
	n = fread(buf, 1, VG_SIGMA_MAX_BYTES + 1, f);
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		vg_sb_safe(errors, im->src);
		vg_sb_add(errors, ": read error\n");
	} else {
		err = vg_sigma_translate(im->src, buf, n, &im->rule, errors);
	}
	free(buf);
	return err;
}

static int vg_write_file(const char *path, const struct vg_sb *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, vg_sb_str(text), text->len) != (ssize_t)text->len)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

/*
 * Load the rules as `vigil host` would: each in a staging directory of its
 * own inside dir, so that the rules already in dir play no part. 0, or the
 * loader's errors.
 */
static int vg_import_check(struct vg_import *im, int n, const char *dir, char *stage, size_t size,
			   struct vg_sb *errors)
{
	struct vg_store *st = NULL;
	int err;

	snprintf(stage, size, "%s/.vigil-sigma-XXXXXX", dir);
	if (!mkdtemp(stage)) {
		err = -errno;
		vg_sb_printf(errors, "%s: cannot make a staging directory: %s\n", dir,
			     strerror(-err));
		stage[0] = 0;
		return err;
	}
	err = vg_store_open(&st, ":memory:");
	for (int i = 0; i < n && !err; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s.rule", stage, im[i].name);
		err = vg_write_file(path, &im[i].rule);
		if (err)
			vg_sb_printf(errors, "%s: %s\n", path, strerror(-err));
	}
	if (!err) {
		struct vg_detect *d = NULL;

		err = vg_detect_open(&d, vg_store_db(st), stage, errors);
		vg_detect_close(d);
	}
	vg_store_close(st);
	return err;
}

static void vg_stage_remove(const char *stage, struct vg_import *im, int n)
{
	for (int i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s.rule", stage, im[i].name);
		unlink(path);
	}
	rmdir(stage);
}

static int vg_import_sigma(int argc, char **argv)
{
	const char *out = NULL;
	struct vg_import *im;
	struct vg_sb errors;
	char stage[4096] = "";
	int n = 0, err = 0, i = 1;

	for (; i < argc; i++) {
		const char *a = argv[i], *val;

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_rules, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--output", &val) ||
			   vg_cli_opt(argc, argv, &i, "-o", &val)) {
			if (!val)
				return vg_cli_usage("rules", "%s needs a directory", "--output");
			out = val;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (a[0] == '-' && a[1]) {
			return vg_cli_usage("rules", "unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (i == argc)
		return vg_cli_usage("rules", "import-sigma needs at least one FILE.yml");
	if (!out && argc - i > 1)
		return vg_cli_usage("rules", "give -o DIR for more than one FILE");
	im = calloc((size_t)(argc - i), sizeof(*im));
	if (!im)
		return vg_err(-ENOMEM, "rules"), 1;
	vg_sb_init(&errors);
	for (; i < argc; i++, n++) {
		im[n].src = argv[i];
		vg_sb_init(&im[n].rule);
		if (vg_rule_name(argv[i], im[n].name, sizeof(im[n].name))) {
			vg_sb_safe(&errors, argv[i]);
			vg_sb_add(&errors, ": a Sigma file is named NAME.yml or NAME.yaml, NAME"
					   " of letters, digits, '-', '_' and '.'\n");
			err = -EINVAL;
			continue;
		}
		for (int j = 0; j < n; j++)
			if (!strcmp(im[j].name, im[n].name)) {
				vg_sb_safe(&errors, argv[i]);
				vg_sb_printf(&errors, ": a second file for the rule %s\n",
					     im[n].name);
				err = -EINVAL;
			}
		if (vg_import_read(&im[n], &errors))
			err = -EINVAL;
	}
	if (!err) {
		const char *tmp = getenv("TMPDIR");

		err = vg_import_check(im, n,
				      out	  ? out :
				      tmp && *tmp ? tmp :
						    "/tmp",
				      stage, sizeof(stage), &errors);
	}
	for (int j = 0; j < n && !err; j++) {
		if (out) {
			char from[4096], to[4096];

			snprintf(from, sizeof(from), "%s/%s.rule", stage, im[j].name);
			snprintf(to, sizeof(to), "%s/%s.rule", out, im[j].name);
			if (rename(from, to)) {
				err = -errno;
				vg_sb_printf(&errors, "%s: %s\n", to, strerror(-err));
			} else {
				vg_log(VG_INFO, "rules: %s -> %s", im[j].src, to);
			}
		} else if (vg_sb_put(&im[j].rule, stdout)) {
			err = -EIO;
		}
	}
	if (stage[0])
		vg_stage_remove(stage, im, n);
	for (int j = 0; j < n; j++)
		vg_sb_free(&im[j].rule);
	free(im);
	if (err) {
		fputs(vg_sb_str(&errors) ?: "", stderr);
		fputs("vigil: rules: nothing written\n", stderr);
	}
	vg_sb_free(&errors);
	return err ? 1 : 0;
}

int vg_cmd_rules(int argc, char **argv)
{
	if (argc >= 2 && vg_cli_is_help(argv[1])) {
		fputs(vg_usage_rules, stdout);
		return 0;
	}
	if (argc < 2)
		return vg_cli_usage("rules", "give a subcommand: import-sigma");
	if (!strcmp(argv[1], "import-sigma"))
		return vg_import_sigma(argc - 1, argv + 1);
	return vg_cli_usage("rules", "unknown subcommand '%s' (import-sigma)", argv[1]);
}
