/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The plug-in's own log file (LogPath, default %ProgramData%\vigil\plugin.log):
 * its output would otherwise be lost inside the WSL service. Every vg_log
 * line goes there too; past LogMaxBytes (default 1 MiB) the file becomes
 * plugin.log.1 (the one before goes) and a new one starts.
 */
#ifndef VG_WINLOG_H
#define VG_WINLOG_H

#include "winconf.h"

/* Start (or move) the log to c's LogPath. Failures are reported on stderr only. */
void vg_win_log_open(const struct vg_win_conf *c);
void vg_win_log_close(void);

#endif
