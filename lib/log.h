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

void vg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vg_vlog(int level, const char *who, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * Log "prog: <message>: <strerror(-err)>" and return err, so that a failure
 * reads `return vg_err(-errno, "open %s", path);`.
 */
int vg_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
