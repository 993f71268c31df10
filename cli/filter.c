// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil filter check FILE: parse and check a rule file.
 * vigil filter test FILE --capture CAPTURE: replay a vigild --record capture
 * through the kernel's matcher and say what each rule would have dropped.
 * vigil filter apply FILE --control SOCKET: send FILE to vigild's control
 * socket; vigild checks it and swaps the set atomically, and answers.
 * vigil filter apply FILE --pid PID: check FILE, copy it over the --filters
 * file of a running vigild or vigil host and send it SIGHUP (vigild swaps the
 * set; the host sends it to every connected sensor).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "esc.h"
#include "filter.h"
#include "cli.h"
#include "fmt.h"
#include "log.h"

const char vg_usage_filter[] =
	"usage: vigil filter check FILE [--json]\n"
	"       vigil filter test FILE --capture CAPTURE [--json]\n"
	"       vigil filter apply FILE (--control SOCKET | --pid PID)\n"
	"\n"
	"check   parse FILE; errors and warnings as FILE:LINE:COL with the line and a caret;\n"
	"        exit 1 on errors\n"
	"test    replay a capture (vigild --record) through the rules: per rule hits,\n"
	"        events kept and dropped, bytes saved\n"
	"apply   swap FILE into a running sensor atomically (no event is judged by half a\n"
	"        rule set, none is lost): --control sends it to vigild's control socket\n"
	"        (vigild --control SOCKET) and prints vigild's answer; --pid copies it over\n"
	"        the --filters file of vigild or of `vigil host` (which sends it to every\n"
	"        connected sensor) and sends that process SIGHUP. Exit 1 on errors.\n";

static int vg_filter_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "vigil: filter: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", vg_usage_filter);
	return 2;
}

/* A JSON string on f, escaped by fmt.c's vg_json_str. */
static void vg_put_json_str(FILE *f, const char *s)
{
	struct vg_sb b;

	vg_sb_init(&b);
	vg_json_str(&b, s);
	fputs(vg_sb_err(&b) ? "\"\"" : vg_sb_str(&b), f);
	vg_sb_free(&b);
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
		vg_put_json_str(stdout, file);
		printf(",\"rules\":%d,\"errors\":%d,\"warnings\":%d}\n", set->n, set->errors,
		       set->warnings);
	} else {
		printf("%s: %d rules, %d errors, %d warnings\n", file, set->n, set->errors,
		       set->warnings);
	}
	free(set);
	return err ? 1 : 0;
}

/*
 * Read and check FILE before it is applied: diagnostics on stderr, nothing on
 * success. 0 (and its text in *text, to free, when text is not NULL) or 1.
 */
static int vg_filter_valid(const char *file, char **text, size_t *len)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char *t = NULL;
	size_t n = 0;
	int err = set ? vg_vf_read_file(file, &t, &n) : -ENOMEM;

	if (!err)
		err = vg_vf_parse(set, file, t, n, stderr);
	free(set);
	if (err && err != -EINVAL)
		fprintf(stderr, "vigil: filter: %s: %s\n", file, strerror(-err));
	else if (err)
		fprintf(stderr, "vigil: filter: %s has errors; not applied\n", file);
	if (err || !text) {
		free(t);
		return err ? 1 : 0;
	}
	*text = t;
	*len = n;
	return 0;
}

struct vg_rule_stat {
	uint64_t hits, dropped, bytes;
};

/*
 * A capture read as a stream, in time order. The three rings interleave
 * records by drain, not by time, but never by more than a drain cycle (the
 * flush interval, or a quarter of a ring): a window of VG_CAP_WINDOW_NS
 * re-sorts them while holding only that much of the capture in memory.
 */
#define VG_CAP_WINDOW_NS (5ull * 1000000000ull)

struct vg_cap_rec {
	uint64_t ts, n; /* time, then capture order */
	uint32_t len;
	unsigned char *data;
};

struct vg_cap {
	FILE *f;
	const char *name;
	struct vg_cap_rec *heap; /* min-heap on (ts, n) */
	size_t len, cap;
	uint64_t n, newest;
	int eof;
};

static int vg_cap_before(const struct vg_cap_rec *a, const struct vg_cap_rec *b)
{
	return a->ts != b->ts ? a->ts < b->ts : a->n < b->n;
}

static int vg_cap_push(struct vg_cap *c, struct vg_cap_rec r)
{
	size_t i;

	if (c->len == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 1024;
		struct vg_cap_rec *nh = realloc(c->heap, nc * sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		c->heap = nh;
		c->cap = nc;
	}
	for (i = c->len++; i && vg_cap_before(&r, &c->heap[(i - 1) / 2]); i = (i - 1) / 2)
		c->heap[i] = c->heap[(i - 1) / 2];
	c->heap[i] = r;
	return 0;
}

static struct vg_cap_rec vg_cap_pop(struct vg_cap *c)
{
	struct vg_cap_rec top = c->heap[0], last = c->heap[--c->len];
	size_t i = 0;

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= c->len)
			break;
		if (k + 1 < c->len && vg_cap_before(&c->heap[k + 1], &c->heap[k]))
			k++;
		if (!vg_cap_before(&c->heap[k], &last))
			break;
		c->heap[i] = c->heap[k];
		i = k;
	}
	if (c->len)
		c->heap[i] = last;
	return top;
}

/* The next record in time order: 1 and *out (free out->data), 0 at the end, -1 on a bad capture. */
static int vg_cap_next(struct vg_cap *c, struct vg_cap_rec *out)
{
	while (!c->eof && (!c->len || c->heap[0].ts + VG_CAP_WINDOW_NS > c->newest)) {
		struct vg_cap_rec r = { .n = c->n };
		size_t got = fread(&r.len, 1, sizeof(r.len), c->f);

		if (got == 0 && feof(c->f)) {
			c->eof = 1;
			break;
		}
		if (got != sizeof(r.len) || r.len > (1 << 16) ||
		    r.len < sizeof(struct vg_event_hdr) || !(r.data = malloc(r.len)) ||
		    fread(r.data, 1, r.len, c->f) != r.len) {
			fprintf(stderr, "vigil: filter: %s: truncated or bad record %llu\n",
				c->name, (unsigned long long)c->n);
			free(r.data);
			return -1;
		}
		r.ts = ((const struct vg_event_hdr *)r.data)->ts_boot_ns;
		if (vg_cap_push(c, r)) {
			fprintf(stderr, "vigil: filter: out of memory\n");
			free(r.data);
			return -1;
		}
		if (r.ts > c->newest)
			c->newest = r.ts;
		c->n++;
	}
	if (!c->len)
		return 0;
	*out = vg_cap_pop(c);
	return 1;
}

static void vg_cap_close(struct vg_cap *c)
{
	while (c->len)
		free(vg_cap_pop(c).data);
	free(c->heap);
	if (c->f)
		fclose(c->f);
}

static int vg_filter_test(const char *file, const char *capture, int json)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	struct vg_vf_procs *procs = vg_vf_procs_new();
	struct vg_rule_stat st[VG_FLT_RULES] = {};
	uint64_t records = 0, judged = 0, kept = 0, dropped = 0, bytes = 0, saved = 0;
	struct vg_cap cap = { .name = capture };
	struct vg_cap_rec rec;
	int err = 1, more;

	if (!set || !procs)
		goto out;
	if (vg_vf_parse_file(set, file, stderr)) {
		fprintf(stderr, "vigil: filter: %s: not usable\n", file);
		goto out;
	}
	cap.f = fopen(capture, "rb");
	if (!cap.f) {
		fprintf(stderr, "vigil: filter: %s: %s\n", capture, strerror(errno));
		goto out;
	}
	while ((more = vg_cap_next(&cap, &rec)) == 1) {
		const struct vg_event_hdr *h = (const void *)rec.data;
		struct vg_flt_in in;
		int drop, r;

		if (vg_vf_procs_track(procs, rec.data, rec.len)) {
			free(rec.data);
			fprintf(stderr, "vigil: filter: out of memory\n");
			goto out;
		}
		/* A capture opens with the processes already running: not events. */
		if ((h->flags & VG_F_SNAPSHOT) && h->type == VG_EV_EXEC) {
			free(rec.data);
			continue;
		}
		records++;
		bytes += rec.len;
		if (vg_vf_input(&in, rec.data, rec.len, procs)) {
			kept++;
			free(rec.data);
			continue;
		}
		judged++;
		r = vg_vf_judge(set, &in, &drop);
		if (r >= 0)
			st[r].hits++;
		if (drop) {
			dropped++;
			saved += rec.len;
			st[r].dropped++;
			st[r].bytes += rec.len;
		} else {
			kept++;
		}
		free(rec.data);
	}
	if (more < 0)
		goto out;
	for (int i = 0; i < set->n; i++) {
		if (json) {
			printf("{\"line\":%d,\"rule\":", set->rules[i].line);
			vg_put_json_str(stdout, set->rules[i].text);
			printf(",\"hits\":%llu,\"dropped\":%llu,\"bytes_saved\":%llu}\n",
			       (unsigned long long)st[i].hits, (unsigned long long)st[i].dropped,
			       (unsigned long long)st[i].bytes);
		} else {
			char text[4 * VG_VF_TEXT + 1]; /* a quoted value may hold any byte */

			vg_esc(text, sizeof(text), set->rules[i].text, strlen(set->rules[i].text));
			printf("line %-4d hits %-8llu dropped %-8llu saved %-10llu %s\n",
			       set->rules[i].line, (unsigned long long)st[i].hits,
			       (unsigned long long)st[i].dropped, (unsigned long long)st[i].bytes,
			       text);
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
	vg_cap_close(&cap);
	vg_vf_procs_free(procs);
	free(set);
	return err;
}

/* The --filters argument of a running vigild or vigil host, from its command line. */
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
		/* `vigil host --spawn VIGILD ARGS`: what follows is vigild's, not the host's. */
		if (!strcmp(buf + i, "--spawn"))
			break;
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

	if (vg_filter_valid(file, NULL, NULL))
		return 1;
	err = vg_vigild_filters(pid, target, sizeof(target));
	if (err) {
		fprintf(stderr, "vigil: filter: process %ld: %s\n", pid,
			err == -ENOENT ? "was not started with --filters FILE" : strerror(-err));
		return 1;
	}
	if (target[0] != '/') {
		fprintf(stderr, "vigil: filter: process %ld has a relative --filters path '%s'\n",
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
		fprintf(stderr, "vigil: filter: apply to process %ld: %s\n", pid, strerror(errno));
		unlink(tmp);
		return 1;
	}
	printf("applied %s to process %ld (%s)\n", file, pid, target);
	return 0;
fail:
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	unlink(tmp);
	return 1;
}

/* Send FILE to vigild's control socket ("filter\n" and the text); print its answer. */
static int vg_filter_apply_control(const char *file, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	char *text = NULL, answer[8192];
	size_t len = 0, alen = 0;
	int fd = -1, ret = 1;
	ssize_t n;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vigil: filter: %s: path too long\n", sock);
		return 1;
	}
	if (vg_filter_valid(file, &text, &len))
		return 1;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "vigil: filter: %s: %s\n", sock, strerror(errno));
		goto out;
	}
	if (write(fd, "filter\n", 7) != 7 || write(fd, text, len) != (ssize_t)len ||
	    shutdown(fd, SHUT_WR)) {
		fprintf(stderr, "vigil: filter: send to %s: %s\n", sock, strerror(errno));
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (alen < sizeof(answer) - 1 && poll(&pfd, 1, 10000) == 1 &&
	       (n = read(fd, answer + alen, sizeof(answer) - 1 - alen)) > 0)
		alen += (size_t)n;
	answer[alen] = '\0';
	if (!alen) {
		fprintf(stderr, "vigil: filter: no answer from %s\n", sock);
		goto out;
	}
	fputs(answer, strncmp(answer, "ok", 2) ? stderr : stdout);
	ret = strncmp(answer, "ok", 2) ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

int vg_cmd_filter(int argc, char **argv)
{
	const char *sub, *file = NULL, *capture = NULL, *control = NULL;
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
		} else if (!strcmp(a, "--control") && i + 1 < argc) {
			control = argv[++i];
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
		if (!pid == !control)
			return vg_filter_usage("%s",
					       "apply: give one of --control SOCKET or --pid PID");
		return control ? vg_filter_apply_control(file, control) :
				 vg_filter_apply(file, pid);
	}
	return vg_filter_usage("unknown subcommand '%s' (check, test, apply)", sub);
}
