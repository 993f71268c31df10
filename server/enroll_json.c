// SPDX-License-Identifier: GPL-2.0-only
/* The enrolment request's JSON (POST /v1/enroll): attacker input, parsed in place, bounded by n. */
#include <string.h>

#include "enroll_json.h"

const char *vg_enroll_parse(char *s, size_t n, const char *const *keys, const char **vals,
				   size_t nkeys)
{
	size_t i = 0;

#define VG_WS()                                                                               \
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) \
	i++
	char *str[2]; /* the member's name and value, unescaped in place */

	VG_WS();
	if (i >= n || s[i++] != '{')
		return "body is not a JSON object";
	VG_WS();
	if (i < n && s[i] == '}')
		return "missing members";
	for (;;) {
		size_t k;

		for (int w = 0; w < 2; w++) {
			char *o;

			VG_WS();
			if (i >= n || s[i] != '"')
				return w ? "member value is not a string" : "member name is not a string";
			o = str[w] = &s[++i];
			for (;;) {
				if (i >= n)
					return "unterminated string";
				if ((unsigned char)s[i] < 0x20)
					return "control character in a string";
				if (s[i] == '"')
					break;
				if (s[i] == '\\') {
					if (i + 1 >= n || !strchr("\"\\/", s[i + 1]))
						return "unsupported escape in a string";
					i++;
				}
				*o++ = s[i++];
			}
			i++;
			*o = 0; /* over the closing quote or an escape already taken */
			VG_WS();
			if (!w) {
				if (i >= n || s[i++] != ':')
					return "expected ':'";
			}
		}
		for (k = 0; k < nkeys && strcmp(keys[k], str[0]); k++)
			;
		if (k == nkeys)
			return "unknown member";
		if (vals[k])
			return "duplicate member";
		vals[k] = str[1];
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		if (i < n && s[i] == '}')
			break;
		return "expected ',' or '}'";
	}
	i++;
	VG_WS();
	return i == n ? NULL : "trailing bytes after the object";
#undef VG_WS
}
