// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "log.h"

const char *vg_prog = "vigil";
int vg_log_max = VG_INFO;

static const char *const vg_level_tag[] = {
	[VG_ERROR] = "",
	[VG_WARN] = "warning: ",
	[VG_INFO] = "",
	[VG_DEBUG] = "debug: ",
};

void vg_vlog(int level, const char *who, const char *fmt, va_list ap)
{
	char small[1024], safe[1024], *msg = small, *out;
	va_list copy;
	size_t n;
	int len;

	if (level > vg_log_max)
		return;
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
	/* One line whatever the arguments held: lib/esc.h's rule on the whole message. */
	out = n < sizeof(safe) / 4 ? safe : malloc(4 * n + 1);
	if (out)
		vg_esc(out, out == safe ? sizeof(safe) : 4 * n + 1, msg, n);
	else
		vg_esc(out = safe, sizeof(safe), msg, n);
	if (who)
		fprintf(stderr, "%s: %s%s: %s\n", vg_prog, vg_level_tag[level], who, out);
	else
		fprintf(stderr, "%s: %s%s\n", vg_prog, vg_level_tag[level], out);
	if (out != safe)
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
