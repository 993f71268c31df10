/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The configuration file, /etc/vigil/vigil.conf by default ($VIGIL_CONFIG
 * names another; empty: none). Its keys are the long options of the vigil
 * commands, without the dashes:
 *
 *   # before any section: only db, the store every command opens without --db
 *   db = /var/lib/vigil/vigil.db
 *   [host]                 # a command: host, events, stats, hunt, alerts, top
 *   filters = /usr/share/vigil/filters/default.vf
 *   no-rules               # a flag alone (or flag = yes / no)
 *
 * A section's lines become that command's options, placed before the command
 * line's, so a flag given there wins. Every line of the file is checked,
 * whichever command runs: an unknown section or key, a missing or unexpected
 * value is an error naming FILE:LINE.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>

#ifndef VG_CONFIG_FILE
#define VG_CONFIG_FILE "/etc/vigil/vigil.conf"
#endif
#ifndef VG_DEFAULT_DB
#define VG_DEFAULT_DB "/var/lib/vigil/vigil.db"
#endif

/* What the file says for one command. */
struct vg_conf {
	char *db; /* the global db=, or NULL */
	char **args; /* the command's section as options ("--key=value", "--flag") */
	int nargs;
	char err[512]; /* after a failure: "FILE:LINE: what is wrong" */
};

/*
 * Parse text (len bytes) of the file called name for command cmd (NULL: only
 * check). 0, or -EINVAL with c->err set; -ENOMEM. Free with vg_conf_free()
 * either way.
 */
int vg_conf_parse(const char *name, const char *text, size_t len, const char *cmd,
		  struct vg_conf *c);

/*
 * Read and parse the file at path: -ENOENT when it is missing (c->err says
 * so; the default file may be), other errors as vg_conf_parse().
 */
int vg_conf_load(const char *path, const char *cmd, struct vg_conf *c);

void vg_conf_free(struct vg_conf *c);

/* The store a command opens without --db: the config file's db=, else VG_DEFAULT_DB. */
const char *vg_cli_default_db(void);

/*
 * Load the configuration for command cmd and give back its argv with the
 * file's options after argv[0]: 0 (argv unchanged when the command has no
 * section), or an exit status 2 with the error printed.
 */
int vg_cli_config(const char *cmd, int *argc, char ***argv);

#endif
