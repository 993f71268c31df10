// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "esc.h"
#include "log.h"

const char *vg_prog = "vigil";
int vg_log_max = VG_INFO;
int vg_log_json;
void (*vg_log_sink)(const char *line, size_t len);

static const char *const vg_level_name[] = {
	[VG_ERROR] = "error",
	[VG_WARN] = "warning",
	[VG_INFO] = "info",
	[VG_DEBUG] = "debug",
};

/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const char
	vg_level_prio[] = { [VG_ERROR] = '3', [VG_WARN] = '4', [VG_INFO] = '6', [VG_DEBUG] = '7' };

int vg_log_level_parse(const char *s)
{
	for (int i = 0; i <= VG_DEBUG; i++)
		if (s && !strcmp(s, vg_level_name[i]))
			return i;
	return -1;
}

int vg_log_format_parse(const char *s)
{
	if (s && !strcmp(s, "text"))
		return 0;
	if (s && !strcmp(s, "json"))
		return 1;
	return -1;
}

int vg_log_env(void)
{
	const char *f = getenv("VIGIL_LOG_FORMAT"), *l = getenv("VIGIL_LOG_LEVEL");
	int err = 0, v;

	if (f && *f) {
		v = vg_log_format_parse(f);
		if (v < 0)
			err = -EINVAL;
		else
			vg_log_json = v;
	}
	if (l && *l) {
		v = vg_log_level_parse(l);
		if (v < 0)
			err = -EINVAL;
		else
			vg_log_max = v;
	}
	return err;
}

int vg_log_journald(void)
{
#ifndef _WIN32
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* sd-daemon: ours only when stderr is still the stream systemd named. */
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st))
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
#else
	return 0;
#endif
}

/* "2026-11-29T20:06:36.123Z": UTC with milliseconds. */
static void vg_log_time(char out[32])
{
	struct timeval tv;
	struct tm tm;
	time_t t;

	gettimeofday(&tv, NULL);
	t = tv.tv_sec;
#ifdef _WIN32
	gmtime_s(&tm, &t);
#else
	gmtime_r(&t, &tm);
#endif
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

size_t vg_log_format(char *out, size_t size, int level, int json, int journald, const char *time,
		     const char *prog, const char *who, const char *msg)
{
	size_t n = strlen(msg), w = who ? strlen(who) : 0, len = 0;
	char *tmp;

	if (level < VG_ERROR)
		level = VG_ERROR;
	if (level > VG_DEBUG)
		level = VG_DEBUG;
	if (size)
		*out = '\0';
	/* One line whatever the arguments held: lib/esc.h's rules on the whole message. */
	tmp = malloc(6 * (n > w ? n : w) + 1);
	if (!tmp)
		return 0;
#define VG_PUT(...)                                                                             \
	do {                                                                                    \
		int k_ = snprintf(out + (len < size ? len : size), len < size ? size - len : 0, \
				  __VA_ARGS__);                                                 \
		len += k_ > 0 ? (size_t)k_ : 0;                                                 \
	} while (0)
	if (journald)
		VG_PUT("<%c>", vg_level_prio[level]);
	if (json) {
		VG_PUT("{");
		if (!journald)
			VG_PUT("\"time\":\"%s\",", time);
		VG_PUT("\"level\":\"%s\",\"prog\":\"%s\",", vg_level_name[level], prog);
		if (who) {
			vg_json_esc(tmp, 6 * w + 1, who, w);
			VG_PUT("\"who\":\"%s\",", tmp);
		}
		vg_json_esc(tmp, 6 * n + 1, msg, n);
		VG_PUT("\"msg\":\"%s\"}\n", tmp);
	} else {
		/* journald stamps each line itself. */
		if (!journald)
			VG_PUT("%s ", time);
		VG_PUT("%s %s: ", vg_level_name[level], prog);
		if (who) {
			vg_esc(tmp, 4 * w + 1, who, w);
			VG_PUT("%s: ", tmp);
		}
		vg_esc(tmp, 4 * n + 1, msg, n);
		VG_PUT("%s\n", tmp);
	}
#undef VG_PUT
	free(tmp);
	return len;
}

void vg_vlog(int level, const char *who, const char *fmt, va_list ap)
{
	char small[1024], line[2048], time[32], *msg = small, *out = line;
	static int journald = -1;
	va_list copy;
	size_t n;
	int len;

	if (level > vg_log_max)
		return;
	if (journald < 0)
		journald = vg_log_journald();
	va_copy(copy, ap);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	/* Verifier logs run to megabytes: print them whole. */
	if (len >= (int)sizeof(small)) {
		msg = malloc((size_t)len + 1);
		if (msg)
			vsnprintf(msg, (size_t)len + 1, fmt, copy);
		else
			msg = small;
	}
	va_end(copy);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	vg_log_time(time);
	n = vg_log_format(line, sizeof(line), level, vg_log_json, journald, time, vg_prog, who,
			  msg);
	if (n >= sizeof(line)) {
		out = malloc(n + 1);
		if (out)
			vg_log_format(out, n + 1, level, vg_log_json, journald, time, vg_prog, who,
				      msg);
		else
			out = line;
	}
	/* One write per line: lines of several processes on one stderr do not interleave. */
	fputs(out, stderr);
	fflush(stderr);
	if (vg_log_sink)
		vg_log_sink(out, strlen(out));
	if (out != line)
		free(out);
	if (msg != small)
		free(msg);
}

void vg_log_lines(int level, const char *text)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");

		vg_log(level, "%.*s", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

void vg_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vg_vlog(level, NULL, fmt, ap);
	va_end(ap);
}

int vg_err(int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err < 0)
		vg_log(VG_ERROR, "%s: %s", msg, strerror(-err));
	else
		vg_log(VG_ERROR, "%s", msg);
	return err;
}
