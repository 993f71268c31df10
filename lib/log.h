/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdarg.h>
#include <stddef.h>

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
/* --log-format json: one JSON object per line instead of text. */
extern int vg_log_json;

/*
 * Print "TIME LEVEL prog: message" on stderr (TIME in UTC with
 * milliseconds, LEVEL error, warning, info or debug), or with
 * --log-format json {"time":..,"level":..,"prog":..,"msg":..} on one line
 * (the message through the JSON rule). When stderr is the journal
 * (JOURNAL_STREAM names it) each line starts with its sd-daemon priority,
 * <3> <4> <6> or <7>, and carries no time: journald files errors as
 * errors and stamps the time itself. The message is always one
 * line: it is printed under lib/esc.h's rule, so a newline or escape
 * sequence in an argument (a peer's answer, a file name) comes out as \n or
 * \x1b and cannot forge another log line or drive the terminal.
 */
void vg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The level of a --log-level name (error, warning, info, debug), or -1. */
int vg_log_level_parse(const char *s);
/* --log-format: 0 for text, 1 for json, -1 for anything else. */
int vg_log_format_parse(const char *s);
/*
 * Take $VIGIL_LOG_FORMAT and $VIGIL_LOG_LEVEL (how vigil host passes its
 * flags to the vigild it spawns); -EINVAL when one is set to no known value.
 */
int vg_log_env(void);
/* 1 when stderr is the journal's stream ($JOURNAL_STREAM is stderr's device:inode). */
int vg_log_journald(void);
/* Where each line also goes, whole (the Windows plug-in's own log file); NULL: stderr only. */
extern void (*vg_log_sink)(const char *line, size_t len);
/*
 * snprintf-like: one log line, newline included, as vg_log prints it; who
 * may be NULL. The length of the whole line. For tests.
 */
size_t vg_log_format(char *out, size_t size, int level, int json, int journald, const char *time,
		     const char *prog, const char *who, const char *msg);
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
