/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>

enum vg_log_level {
	VG_ERROR = 0,
	VG_WARN = 1,
	VG_INFO = 2,
	VG_DEBUG = 3,
};

/* Program name printed before every message, e.g. "vigild". */
extern const char *vg_prog;
/* Messages above this level are not printed (VG_INFO by default, -v raises it). */
extern int vg_log_max;

/*
 * Print "prog: [warning: ]message" on stderr. The message is always one
 * line: it is printed under lib/esc.h's rule, so a newline or escape
 * sequence in an argument (a peer's answer, a file name) comes out as \n or
 * \x1b and cannot forge another log line or drive the terminal.
 */
void vg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Log text that is several lines by construction (diagnostics with a caret,
 * the verifier's log) one log line per line; only for text whose untrusted
 * parts were escaped already, since each newline starts a line.
 */
void vg_log_lines(int level, const char *text);
void vg_vlog(int level, const char *who, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * Log "prog: <message>: <strerror(-err)>" and return err, so that a failure
 * reads `return vg_err(-errno, "open %s", path);`.
 */
int vg_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
