/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Text helpers of the host core: a growable string, JSON string escaping,
 * ISO 8601 timestamps, shell-style command lines and redacting secrets. Portable C (the
 * Windows plug-in builds it too): no POSIX calls here.
 */
#ifndef VG_FMT_H
#define VG_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A NUL-terminated growing string. An allocation failure is sticky: the
 * string stops growing and vg_sb_err() reports -ENOMEM, so callers check once.
 */
struct vg_sb {
	char *s;
	size_t len, cap;
	int err;
};

void vg_sb_init(struct vg_sb *b);
void vg_sb_free(struct vg_sb *b);
void vg_sb_reset(struct vg_sb *b);
void vg_sb_addn(struct vg_sb *b, const char *s, size_t n);
void vg_sb_add(struct vg_sb *b, const char *s);
void vg_sb_printf(struct vg_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far ("" when empty), or NULL after an allocation failure. */
const char *vg_sb_str(const struct vg_sb *b);
static inline int vg_sb_err(const struct vg_sb *b)
{
	return b->err;
}

/*
 * Append s as a quoted JSON string, valid UTF-8 whatever s holds: ", \,
 * control characters, DEL and C1 (U+0080-U+009F) escaped, and each byte
 * that is not part of valid UTF-8 written as \ufffd.
 */
void vg_json_str(struct vg_sb *b, const char *s);

/*
 * Append "key":value (value as vg_json_str writes it) to an object b has
 * opened with "{", with a comma before it unless it is the first member.
 */
void vg_json_kv(struct vg_sb *b, const char *key, const char *value);

/* Write b's text to out: 0, -ENOMEM when b failed to grow, -EPIPE when out fails. */
int vg_sb_put(const struct vg_sb *b, FILE *out);

/*
 * Append text from the monitored machine or a peer (n bytes, or a string
 * for vg_sb_safe, NULL appending nothing) under lib/esc.h's rule: controls
 * and bytes that are not UTF-8 written as \n, \xNN, \u0085 ...
 */
void vg_sb_esc(struct vg_sb *b, const char *s, size_t n);
void vg_sb_safe(struct vg_sb *b, const char *s);
/*
 * A table cell: s (NULL: "") as vg_sb_safe appends it, padded with spaces to
 * width columns and, when cut, cut there at a whole character.
 */
void vg_sb_cell(struct vg_sb *b, const char *s, int width, int cut);

/* "2026-11-26T12:00:00.123Z" for Unix epoch ns; out needs VG_ISO_LEN bytes. */
#define VG_ISO_LEN 48
char *vg_iso_time(char out[VG_ISO_LEN], uint64_t epoch_ns);

/*
 * Append argv joined by spaces, shell-style: an argument that is empty or
 * holds whitespace, quotes or a backslash is put in single quotes, with
 * each ' written as '\''.
 */
void vg_cmdline(struct vg_sb *b, char *const *argv, size_t argc);

/* The part after the last '/' (the whole string when there is none). */
const char *vg_basename(const char *path);

/*
 * Replace credentials in text, in place: "scheme://user:pass@host" and
 * "user:pass@host" lose "user:pass", and the value of any name=value line
 * whose name says key, secret, password or token becomes REDACTED.
 */
void vg_redact(char *text);

#endif
