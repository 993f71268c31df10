/* SPDX-License-Identifier: GPL-2.0-only */
/* The `vigil hunt` and `vigil alerts` commands (argument parsing, files, follow). */
#ifndef VG_HUNT_CLI_H
#define VG_HUNT_CLI_H

extern const char vg_usage_hunt[];
extern const char vg_usage_alerts[];

/* argv[0] is the command name; the process exit status (0, 1 runtime, 2 usage). */
int vg_cmd_hunt(int argc, char **argv);
int vg_cmd_alerts(int argc, char **argv);

/*
 * The rules directory `vigil host` loads when --rules is not given: $VIGIL_RULES,
 * else the source tree's rules/ this binary was built from, else
 * /usr/share/vigil/rules. NULL when none exists.
 */
const char *vg_default_rules_dir(void);

#endif
