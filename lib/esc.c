// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
#include <string.h>

#include "esc.h"

size_t vg_utf8_seq(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c, min;
	size_t len;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, c = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3, c = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0; /* continuation byte, overlong lead C0/C1, or F5-FF */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static const char vg_hex[] = "0123456789abcdef";

size_t vg_esc_char(const char *s, size_t n, char out[VG_ESC_CHAR_MAX], size_t *outn, int *cols)
{
	unsigned char b = (unsigned char)s[0];
	uint32_t cp = 0;
	size_t len = vg_utf8_seq(s, n, &cp);

	if (len && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f)) {
		memcpy(out, s, len);
		*outn = len;
		*cols = 1;
		return len;
	}
	out[0] = '\\';
	if (len == 2) { /* a C1 control encoded as UTF-8 */
		memcpy(out + 1, "u00", 3);
		out[4] = vg_hex[cp >> 4];
		out[5] = vg_hex[cp & 15];
		*outn = 6;
	} else if (b == '\n' || b == '\r' || b == '\t') {
		out[1] = b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
		*outn = 2;
		len = 1;
	} else {
		out[1] = 'x';
		out[2] = vg_hex[b >> 4];
		out[3] = vg_hex[b & 15];
		*outn = 4;
		len = 1;
	}
	*cols = (int)*outn;
	return len;
}

size_t vg_esc(char *out, size_t size, const char *s, size_t n)
{
	size_t total = 0, at = 0;
	char one[VG_ESC_CHAR_MAX];
	int full = !size;

	while (n) {
		size_t k, used = vg_esc_char(s, n, one, &k, &(int){ 0 });

		/* Cut at a whole character: once one does not fit, nothing more goes in. */
		if (!full && at + k < size) {
			memcpy(out + at, one, k);
			at += k;
		} else {
			full = 1;
		}
		total += k;
		s += used;
		n -= used;
	}
	if (size)
		out[at] = '\0';
	return total;
}

size_t vg_esc_unsafe_at(const char *s, size_t n)
{
	char one[VG_ESC_CHAR_MAX];
	size_t at = 0;

	while (at < n) {
		size_t k, used = vg_esc_char(s + at, n - at, one, &k, &(int){ 0 });

		/* An escaped form is always longer than what it stands for. */
		if (k != used && s[at] != '\n')
			return at;
		at += used;
	}
	return n;
}

int vg_esc_cols(const char *s, size_t n)
{
	char one[VG_ESC_CHAR_MAX];
	int cols = 0;

	while (n) {
		size_t k;
		int c;
		size_t used = vg_esc_char(s, n, one, &k, &c);

		cols += c;
		s += used;
		n -= used;
	}
	return cols;
}
