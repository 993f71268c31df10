// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "esc.h"
#include "fmt.h"

void vg_sb_init(struct vg_sb *b)
{
	memset(b, 0, sizeof(*b));
}

void vg_sb_free(struct vg_sb *b)
{
	free(b->s);
	vg_sb_init(b);
}

void vg_sb_reset(struct vg_sb *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static int vg_sb_grow(struct vg_sb *b, size_t more)
{
	size_t cap;
	char *ns;

	if (b->err)
		return b->err;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	ns = realloc(b->s, cap);
	if (!ns)
		return b->err = -ENOMEM;
	b->s = ns;
	b->cap = cap;
	return 0;
}

void vg_sb_addn(struct vg_sb *b, const char *s, size_t n)
{
	if (vg_sb_grow(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void vg_sb_add(struct vg_sb *b, const char *s)
{
	vg_sb_addn(b, s, strlen(s));
}

void vg_sb_printf(struct vg_sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || vg_sb_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *vg_sb_str(const struct vg_sb *b)
{
	if (b->err)
		return NULL;
	return b->s ? b->s : "";
}

void vg_sb_esc(struct vg_sb *b, const char *s, size_t n)
{
	char one[VG_ESC_CHAR_MAX];

	while (n) {
		size_t k, used = vg_esc_char(s, n, one, &k, &(int){ 0 });

		vg_sb_addn(b, one, k);
		s += used;
		n -= used;
	}
}

void vg_sb_safe(struct vg_sb *b, const char *s)
{
	if (s)
		vg_sb_esc(b, s, strlen(s));
}

void vg_sb_cell(struct vg_sb *b, const char *s, int width, int cut)
{
	char one[VG_ESC_CHAR_MAX];
	size_t n = s ? strlen(s) : 0;
	int w = 0;

	while (n) {
		size_t k;
		int cols;
		size_t used = vg_esc_char(s, n, one, &k, &cols);

		if (cut && w + cols > width)
			break;
		vg_sb_addn(b, one, k);
		w += cols;
		s += used;
		n -= used;
	}
	for (; w < width; w++)
		vg_sb_addn(b, " ", 1);
}

/* The JSON rule is lib/esc.h's, shared with the daemon. */
void vg_json_str(struct vg_sb *b, const char *s)
{
	const char *p = s ? s : "";
	size_t n = strlen(p);

	vg_sb_addn(b, "\"", 1);
	while (n) {
		size_t run = vg_json_run(p, n), k, used;
		char one[VG_ESC_CHAR_MAX];

		vg_sb_addn(b, p, run);
		p += run;
		n -= run;
		if (!n)
			break;
		used = vg_json_esc_char(p, n, one, &k);
		vg_sb_addn(b, one, k);
		p += used;
		n -= used;
	}
	vg_sb_addn(b, "\"", 1);
}

void vg_json_kv(struct vg_sb *b, const char *key, const char *value)
{
	vg_sb_add(b, b->len > 1 ? "," : "");
	vg_json_str(b, key);
	vg_sb_add(b, ":");
	vg_json_str(b, value);
}

int vg_sb_put(const struct vg_sb *b, FILE *out)
{
	if (vg_sb_err(b))
		return -ENOMEM;
	return fputs(vg_sb_str(b), out) == EOF ? -EPIPE : 0;
}

/*
 * Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil
 * inverse): no gmtime_r/gmtime_s, so one code path on every platform.
 */
static void vg_civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

char *vg_iso_time(char out[VG_ISO_LEN], uint64_t epoch_ns)
{
	uint64_t secs = epoch_ns / 1000000000u;
	unsigned ms = (unsigned)(epoch_ns / 1000000u % 1000u);
	unsigned sod = (unsigned)(secs % 86400u), m, d;
	int y;

	vg_civil((int64_t)(secs / 86400u), &y, &m, &d);
	/*
	 * By hand: the store formats several a stored event, and snprintf() was
	 * 3% of its time. Epoch ns in 64 bits end in 2554: four year digits.
	 */
	{
		unsigned f[7] = { (unsigned)y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms };
		static const char sep[] = "--T::.Z";
		char *o = out;

		for (int i = 0; i < 7; i++) {
			if (i == 0 || i == 6)
				*o++ = (char)('0' + f[i] / (i ? 100 : 1000) % 10);
			if (i == 0)
				*o++ = (char)('0' + f[i] / 100 % 10);
			*o++ = (char)('0' + f[i] / 10 % 10);
			*o++ = (char)('0' + f[i] % 10);
			*o++ = sep[i];
		}
		*o = '\0';
	}
	return out;
}

/* What a shell would split or unquote: such an argument is quoted. */
#define VG_SHELL_SPECIAL " \t\n\r\v\f'\"\\"

void vg_cmdline(struct vg_sb *b, char *const *argv, size_t argc)
{
	for (size_t i = 0; i < argc; i++) {
		const char *a = argv[i] ? argv[i] : "";
		size_t plain = strcspn(a, VG_SHELL_SPECIAL); /* one pass, by table */

		if (i)
			vg_sb_addn(b, " ", 1);
		if (*a && !a[plain]) {
			vg_sb_addn(b, a, plain);
			continue;
		}
		vg_sb_addn(b, "'", 1);
		for (; *a; a++) {
			if (*a == '\'')
				vg_sb_add(b, "'\\''");
			else
				vg_sb_addn(b, a, 1);
		}
		vg_sb_addn(b, "'", 1);
	}
}

const char *vg_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int vg_secret_name(const char *name, size_t len)
{
	static const char *const words[] = { "key", "secret", "password", "passwd", "token" };
	char low[128];

	if (len >= sizeof(low))
		len = sizeof(low) - 1;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

void vg_redact(char *text)
{
	static const char red[] = "REDACTED";
	char *line = text;

	/* user:pass@host, with or without a scheme: keep the host. */
	for (char *at = strchr(text, '@'); at; at = strchr(at + 1, '@')) {
		char *start = at, *colon = NULL;

		while (start > text && !strchr(" \t\n\"'=,;/", start[-1])) {
			start--;
			if (*start == ':' && !colon)
				colon = start;
		}
		if (!colon)
			continue;
		memset(start, '*', (size_t)(at - start));
		memcpy(start, red,
		       (size_t)(at - start) < sizeof(red) - 1 ? (size_t)(at - start) :
								sizeof(red) - 1);
	}
	/* name=value lines whose name says secret. */
	while (line && *line) {
		char *eol = strchr(line, '\n'), *eq = strchr(line, '=');

		if (eq && (!eol || eq < eol) && vg_secret_name(line, (size_t)(eq - line))) {
			char *v = eq + 1, *end = eol ? eol : v + strlen(v);

			for (char *p = v; p < end; p++)
				*p = p - v < (ptrdiff_t)sizeof(red) - 1 ? red[p - v] : '*';
		}
		line = eol ? eol + 1 : NULL;
	}
}
