// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil filter check FILE: parse and check a rule file.
 * vigil filter test FILE --capture CAPTURE: replay a vigild --record capture
 * through the kernel's matcher and say what each rule would have dropped.
 * vigil filter apply FILE --pid PID: check FILE, copy it over the --filters
 * file of a running vigild and send it SIGHUP (it swaps the set atomically).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter.h"
#include "filter_cli.h"
#include "log.h"

const char vg_usage_filter[] =
	"usage: vigil filter check FILE [--json]\n"
	"       vigil filter test FILE --capture CAPTURE [--json]\n"
	"       vigil filter apply FILE --pid VIGILD-PID\n"
	"\n"
	"check   parse FILE; errors and warnings as FILE:LINE:COL with the line and a caret;\n"
	"        exit 1 on errors\n"
	"test    replay a capture (vigild --record) through the rules: per rule hits,\n"
	"        events kept and dropped, bytes saved\n"
	"apply   check FILE, copy it over the --filters file of the running vigild PID and\n"
	"        send it SIGHUP: vigild swaps the rule set in the kernel atomically\n";

static int vg_filter_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "vigil: filter: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", vg_usage_filter);
	return 2;
}

static void vg_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int vg_filter_check(const char *file, int json)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	int err;

	if (!set)
		return 1;
	err = vg_vf_parse_file(set, file, stderr);
	if (err && err != -EINVAL) {
		fprintf(stderr, "vigil: filter: %s: %s\n", file, strerror(-err));
		free(set);
		return 1;
	}
	if (json) {
		printf("{\"file\":");
		vg_json_str(stdout, file);
		printf(",\"rules\":%d,\"errors\":%d,\"warnings\":%d}\n", set->n, set->errors,
		       set->warnings);
	} else {
		printf("%s: %d rules, %d errors, %d warnings\n", file, set->n, set->errors,
		       set->warnings);
	}
	free(set);
	return err ? 1 : 0;
}

struct vg_rule_stat {
	uint64_t hits, dropped, bytes;
};

static int vg_filter_test(const char *file, const char *capture, int json)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	struct vg_rule_stat st[VG_FLT_RULES] = {};
	uint64_t records = 0, judged = 0, kept = 0, dropped = 0, bytes = 0, saved = 0;
	unsigned char *rec = malloc(1 << 16);
	FILE *f = NULL;
	uint32_t len;
	int err = 1;

	if (!set || !rec)
		goto out;
	if (vg_vf_parse_file(set, file, stderr)) {
		fprintf(stderr, "vigil: filter: %s: not usable\n", file);
		goto out;
	}
	f = fopen(capture, "rb");
	if (!f) {
		fprintf(stderr, "vigil: filter: %s: %s\n", capture, strerror(errno));
		goto out;
	}
	while (fread(&len, sizeof(len), 1, f) == 1) {
		struct vg_flt_in in;
		int drop, r;

		if (len > (1 << 16) || fread(rec, 1, len, f) != len) {
			fprintf(stderr, "vigil: filter: %s: truncated or bad record %llu\n",
				capture, (unsigned long long)records);
			goto out;
		}
		records++;
		bytes += len;
		if (vg_vf_input(&in, rec, len)) {
			kept++;
			continue;
		}
		judged++;
		r = vg_vf_judge(set, &in, &drop);
		if (r >= 0)
			st[r].hits++;
		if (drop) {
			dropped++;
			saved += len;
			st[r].dropped++;
			st[r].bytes += len;
		} else {
			kept++;
		}
	}
	for (int i = 0; i < set->n; i++) {
		if (json) {
			printf("{\"line\":%d,\"rule\":", set->rules[i].line);
			vg_json_str(stdout, set->rules[i].text);
			printf(",\"hits\":%llu,\"dropped\":%llu,\"bytes_saved\":%llu}\n",
			       (unsigned long long)st[i].hits, (unsigned long long)st[i].dropped,
			       (unsigned long long)st[i].bytes);
		} else {
			printf("line %-4d hits %-8llu dropped %-8llu saved %-10llu %s\n",
			       set->rules[i].line, (unsigned long long)st[i].hits,
			       (unsigned long long)st[i].dropped, (unsigned long long)st[i].bytes,
			       set->rules[i].text);
		}
	}
	if (json)
		printf("{\"records\":%llu,\"judged\":%llu,\"kept\":%llu,\"dropped\":%llu,"
		       "\"bytes\":%llu,\"bytes_saved\":%llu}\n",
		       (unsigned long long)records, (unsigned long long)judged,
		       (unsigned long long)kept, (unsigned long long)dropped,
		       (unsigned long long)bytes, (unsigned long long)saved);
	else
		printf("records %llu (judged %llu): kept %llu, dropped %llu; bytes %llu, saved "
		       "%llu\n",
		       (unsigned long long)records, (unsigned long long)judged,
		       (unsigned long long)kept, (unsigned long long)dropped,
		       (unsigned long long)bytes, (unsigned long long)saved);
	err = 0;
out:
	if (f)
		fclose(f);
	free(rec);
	free(set);
	return err;
}

/* The --filters argument of a running vigild, from its command line. */
static int vg_vigild_filters(long pid, char *out, size_t size)
{
	char path[64], buf[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		if (!strcmp(buf + i, "--filters") && i + 10 < n) {
			snprintf(out, size, "%s", buf + i + 10);
			return 0;
		}
		if (!strncmp(buf + i, "--filters=", 10)) {
			snprintf(out, size, "%s", buf + i + 10);
			return 0;
		}
	}
	return -ENOENT;
}

static int vg_filter_apply(const char *file, long pid)
{
	char target[4096], tmp[4200], buf[65536];
	FILE *in, *out;
	size_t n;
	int err;

	if (vg_filter_check(file, 0))
		return 1;
	err = vg_vigild_filters(pid, target, sizeof(target));
	if (err) {
		fprintf(stderr, "vigil: filter: vigild %ld: %s\n", pid,
			err == -ENOENT ? "was not started with --filters FILE" : strerror(-err));
		return 1;
	}
	if (target[0] != '/') {
		fprintf(stderr, "vigil: filter: vigild %ld has a relative --filters path '%s'\n",
			pid, target);
		return 1;
	}
	snprintf(tmp, sizeof(tmp), "%s.apply%d", target, (int)getpid());
	in = fopen(file, "r");
	out = fopen(tmp, "w");
	if (!in || !out) {
		fprintf(stderr, "vigil: filter: copy %s to %s: %s\n", file, tmp, strerror(errno));
		goto fail;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			break;
	if (ferror(in) || fclose(out)) {
		out = NULL;
		fprintf(stderr, "vigil: filter: copy %s to %s failed\n", file, tmp);
		goto fail;
	}
	out = NULL;
	fclose(in);
	in = NULL;
	/* rename(): vigild reads either the old file or the new one, never a mix. */
	if (rename(tmp, target) || kill((pid_t)pid, SIGHUP)) {
		fprintf(stderr, "vigil: filter: apply to vigild %ld: %s\n", pid, strerror(errno));
		unlink(tmp);
		return 1;
	}
	printf("applied %s to vigild %ld (%s)\n", file, pid, target);
	return 0;
fail:
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	unlink(tmp);
	return 1;
}

int vg_cmd_filter(int argc, char **argv)
{
	const char *sub, *file = NULL, *capture = NULL;
	long pid = 0;
	int json = 0;

	if (argc < 2)
		return vg_filter_usage("%s", "no subcommand (check, test, apply)");
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		fputs(vg_usage_filter, stdout);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(vg_usage_filter, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--capture") && i + 1 < argc) {
			capture = argv[++i];
		} else if (!strcmp(a, "--pid") && i + 1 < argc) {
			char *end;

			pid = strtol(argv[++i], &end, 10);
			if (*end || pid <= 0)
				return vg_filter_usage("bad --pid '%s'", argv[i]);
		} else if (a[0] == '-') {
			return vg_filter_usage("unknown option or missing value '%s'", a);
		} else if (!file) {
			file = a;
		} else {
			return vg_filter_usage("unexpected argument '%s'", a);
		}
	}
	if (!file)
		return vg_filter_usage("%s", "FILE is required");
	if (!strcmp(sub, "check"))
		return vg_filter_check(file, json);
	if (!strcmp(sub, "test")) {
		if (!capture)
			return vg_filter_usage("%s", "test: --capture CAPTURE is required");
		return vg_filter_test(file, capture, json);
	}
	if (!strcmp(sub, "apply")) {
		if (!pid)
			return vg_filter_usage("%s", "apply: --pid VIGILD-PID is required");
		return vg_filter_apply(file, pid);
	}
	return vg_filter_usage("unknown subcommand '%s' (check, test, apply)", sub);
}
