/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one rule for printing text that came from the monitored machine or a
 * peer (command lines, file names, device names, a peer's answers, rule and
 * query files) on a terminal or in a log. Valid printable UTF-8 is kept.
 * Newline, carriage return and tab become \n, \r and \t; every other
 * control character becomes \xNN (C0, DEL, and a C1 control as a raw byte)
 * or \u00NN (a C1 control encoded as UTF-8, U+0080-U+009F); each byte that
 * is not part of valid UTF-8 (overlong, surrogate, beyond U+10FFFF, cut
 * short) becomes \xNN. The result is printable text on one line: it cannot
 * start an escape sequence, move the cursor or begin a new log line.
 * Backslashes are kept as they are: text output is for people, JSON (see
 * vg_json_str) is for programs. Portable C, no allocation.
 */
#ifndef VG_ESC_H
#define VG_ESC_H

#include <stddef.h>
#include <stdint.h>

/* Longest form of one character: "\u009f" (6 bytes), NUL not counted. */
#define VG_ESC_CHAR_MAX 6

/*
 * Length of the valid UTF-8 sequence that starts s (n > 0 bytes), with its
 * code point in *cp; 0 when s does not start one.
 */
size_t vg_utf8_seq(const char *s, size_t n, uint32_t *cp);

/*
 * The printed form of the character at s (n > 0 bytes): written to out
 * (*outn bytes, not NUL-terminated). Returns how many bytes of s it took (at
 * least 1). *cols is the terminal columns it takes, one per kept character
 * (for a caret under a diagnostic).
 */
size_t vg_esc_char(const char *s, size_t n, char out[VG_ESC_CHAR_MAX], size_t *outn, int *cols);

/*
 * snprintf-like: the printed form of s (n bytes) into out (size bytes, NUL
 * terminated, cut at a whole character). Returns the length of the whole
 * printed form, so out needs at most 4 * n + 1 bytes.
 */
size_t vg_esc(char *out, size_t size, const char *s, size_t n);

/* Columns taken on a terminal by the printed form of the first n bytes of s. */
int vg_esc_cols(const char *s, size_t n);

/*
 * Offset of the first character of s (n bytes) that the rule would not print
 * as it is, newlines excepted (they end the lines of an output); n when there
 * is none. For tests and fuzzers judging what was printed.
 */
size_t vg_esc_unsafe_at(const char *s, size_t n);

#endif
