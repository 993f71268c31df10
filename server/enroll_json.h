/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VG_ENROLL_JSON_H
#define VG_ENROLL_JSON_H

#include <stddef.h>

/*
 * Parse s (n bytes, rewritten in place) as one JSON object whose members are
 * strings, each without escapes other than \" \\ \/ and without control
 * characters; member i of keys (nkeys of them) into vals[i] (NUL-terminated,
 * inside s; vals start NULL, members not present stay NULL). Unknown and
 * duplicate members are refused. NULL, or the reason s is refused.
 */
const char *vg_enroll_parse(char *s, size_t n, const char *const *keys, const char **vals,
			    size_t nkeys);

#endif
