/* SPDX-License-Identifier: GPL-2.0-only */
/* The `vigil filter check|test|apply` commands. */
#ifndef VG_FILTER_CLI_H
#define VG_FILTER_CLI_H

extern const char vg_usage_filter[];

/* argv[0] is "filter"; the process exit status (0, 1 runtime or bad file, 2 usage). */
int vg_cmd_filter(int argc, char **argv);

#endif
