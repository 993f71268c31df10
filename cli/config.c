// SPDX-License-Identifier: GPL-2.0-only
/*
 * The configuration file (config.h): sections named after commands, keys
 * after their long options. Which options a command has, and which take a
 * value, is read from its --help text, so the file's keys are the flags a
 * user sees and a new option is a key as soon as it is documented.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "esc.h"

#define VG_CONF_MAX (1 << 20)

/* The commands a section may name: those whose options are all flags. */
static const struct {
	const char *name;
	const char *usage;
} vg_conf_cmds[] = {
	{ "host", vg_usage_host }, { "events", vg_usage_events }, { "stats", vg_usage_stats },
	{ "hunt", vg_usage_hunt }, { "alerts", vg_usage_alerts }, { "top", vg_usage_top },
};

/* Options a file cannot give: they end the options or do not run the command. */
static const char *const vg_conf_refused[] = { "help", "version", "spawn" };

static const char *vg_conf_usage(const char *cmd)
{
	for (size_t i = 0; i < sizeof(vg_conf_cmds) / sizeof(vg_conf_cmds[0]); i++)
		if (!strcmp(vg_conf_cmds[i].name, cmd))
			return vg_conf_cmds[i].usage;
	return NULL;
}

/*
 * Does usage document --key? -1 no, 0 as a flag, 1 taking a value (some
 * mention of it is followed by a space and an upper-case placeholder).
 */
static int vg_conf_option(const char *usage, const char *key)
{
	size_t n = strlen(key);
	int found = -1;

	for (const char *p = strstr(usage, "--"); p; p = strstr(p + 2, "--")) {
		const char *e = p + 2 + n;

		if (strncmp(p + 2, key, n) || isalnum((unsigned char)*e) || *e == '-')
			continue;
		if (found < 0)
			found = 0;
		if (*e == ' ' && isupper((unsigned char)e[1]))
			found = 1;
	}
	return found;
}

static int vg_conf_fail(struct vg_conf *c, const char *name, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int vg_conf_fail(struct vg_conf *c, const char *name, unsigned line, const char *fmt, ...)
{
	char msg[384], esc[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vg_esc(esc, sizeof(esc), name, strlen(name));
	snprintf(c->err, sizeof(c->err), "%s:%u: %s", esc, line, msg);
	return -EINVAL;
}

static int vg_conf_add(struct vg_conf *c, const char *key, const char *val)
{
	char **a = realloc(c->args, (size_t)(c->nargs + 1) * sizeof(*a));
	size_t n = strlen(key) + (val ? strlen(val) + 1 : 0) + 3;

	if (!a)
		return -ENOMEM;
	c->args = a;
	a[c->nargs] = malloc(n);
	if (!a[c->nargs])
		return -ENOMEM;
	snprintf(a[c->nargs], n, "--%s%s%s", key, val ? "=" : "", val ? val : "");
	c->nargs++;
	return 0;
}

static char *vg_trim(char *s)
{
	char *e = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* One line (comments and blanks gone): a section, or a key for the current one. */
static int vg_conf_line(struct vg_conf *c, const char *name, unsigned ln, char *s,
			const char **sect, const char *cmd)
{
	char *key = s, *val = NULL, *eq = strchr(s, '='), esc[128];
	const char *usage;
	int kind;

	if (*s == '[') {
		char *end = strchr(s, ']');

		if (!end || vg_trim(end + 1)[0])
			return vg_conf_fail(c, name, ln,
					    "a section is [COMMAND] alone on its line");
		*end = '\0';
		s = vg_trim(s + 1);
		if (!vg_conf_usage(s)) {
			vg_esc(esc, sizeof(esc), s, strlen(s));
			return vg_conf_fail(
				c, name, ln,
				"unknown section [%s] (host, events, stats, hunt, alerts, top)",
				esc);
		}
		for (size_t i = 0; i < sizeof(vg_conf_cmds) / sizeof(vg_conf_cmds[0]); i++)
			if (!strcmp(vg_conf_cmds[i].name, s))
				*sect = vg_conf_cmds[i].name;
		return 0;
	}
	if (eq) {
		*eq = '\0';
		key = vg_trim(s);
		val = vg_trim(eq + 1);
		if (!*val)
			return vg_conf_fail(c, name, ln, "'%s =' without a value", key);
	}
	vg_esc(esc, sizeof(esc), key, strlen(key));
	if (!*key || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(key) ||
	    *key == '-')
		return vg_conf_fail(c, name, ln,
				    "'%s' is not a key: KEY = VALUE, or a flag alone (a long "
				    "option without its dashes)",
				    esc);
	if (!*sect) {
		if (strcmp(key, "db"))
			return vg_conf_fail(c, name, ln,
					    "unknown key '%s' before any [section]: only db = FILE "
					    "goes there",
					    esc);
		if (!val)
			return vg_conf_fail(c, name, ln, "db needs a value: db = FILE");
		free(c->db);
		c->db = strdup(val);
		return c->db ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(vg_conf_refused) / sizeof(vg_conf_refused[0]); i++)
		if (!strcmp(key, vg_conf_refused[i]))
			return vg_conf_fail(c, name, ln,
					    "%s cannot be set here: give it on the command line",
					    key);
	usage = vg_conf_usage(*sect);
	kind = vg_conf_option(usage, key);
	if (kind < 0)
		return vg_conf_fail(c, name, ln,
				    "unknown key '%s' in [%s] (the keys are `vigil %s --help`'s "
				    "long options)",
				    esc, *sect, *sect);
	if (kind == 1 && !val)
		return vg_conf_fail(c, name, ln, "%s needs a value: %s = VALUE", key, key);
	if (kind == 0 && val) {
		if (!strcmp(val, "no") || !strcmp(val, "false") || !strcmp(val, "0"))
			return 0;
		if (strcmp(val, "yes") && strcmp(val, "true") && strcmp(val, "1"))
			return vg_conf_fail(c, name, ln,
					    "%s is a flag: alone on its line, or %s = yes / no",
					    key, key);
		val = NULL;
	}
	if (!cmd || strcmp(cmd, *sect))
		return 0;
	return vg_conf_add(c, key, val);
}

int vg_conf_parse(const char *name, const char *text, size_t len, const char *cmd,
		  struct vg_conf *c)
{
	const char *sect = NULL;
	unsigned ln = 0;
	size_t off = 0;
	char *buf;
	int err = 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			ln++;
		else if (!text[i])
			return vg_conf_fail(c, name, ln + 1, "a NUL byte: not a text file");
	}
	ln = 0;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, len);
	buf[len] = '\0';
	while (off < len && !err) {
		char *s = buf + off, *nl = strchr(s, '\n'), *hash;

		if (nl)
			*nl = '\0';
		off += strlen(s) + 1;
		ln++;
		hash = strchr(s, '#');
		if (hash)
			*hash = '\0';
		s = vg_trim(s);
		if (*s)
			err = vg_conf_line(c, name, ln, s, &sect, cmd);
	}
	free(buf);
	return err;
}

int vg_conf_load(const char *path, const char *cmd, struct vg_conf *c)
{
	char *text = NULL, esc[256];
	size_t len = 0, got;
	FILE *f;
	int err;

	memset(c, 0, sizeof(*c));
	vg_esc(esc, sizeof(esc), path, strlen(path));
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		snprintf(c->err, sizeof(c->err), "%s: %s", esc, strerror(-err));
		return err;
	}
	text = malloc(VG_CONF_MAX + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	while ((got = fread(text + len, 1, VG_CONF_MAX + 1 - len, f)) > 0)
		len += got;
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err)
		snprintf(c->err, sizeof(c->err), "%s: read error", esc);
	else if (len > VG_CONF_MAX)
		err = vg_conf_fail(c, path, 0, "larger than %d bytes", VG_CONF_MAX);
	else
		err = vg_conf_parse(path, text, len, cmd, c);
	free(text);
	return err;
}

void vg_conf_free(struct vg_conf *c)
{
	for (int i = 0; i < c->nargs; i++)
		free(c->args[i]);
	free(c->args);
	free(c->db);
	c->args = NULL;
	c->db = NULL;
	c->nargs = 0;
}

/* The loaded file, for the life of the process. */
static struct vg_conf vg_cli_conf;

const char *vg_cli_default_db(void)
{
	return vg_cli_conf.db ? vg_cli_conf.db : VG_DEFAULT_DB;
}

int vg_cli_config(const char *cmd, int *argc, char ***argv)
{
	const char *env = getenv("VIGIL_CONFIG");
	const char *path = env ? env : VG_CONFIG_FILE;
	char **nv;
	int err;

	if (!*path)
		return 0;
	err = vg_conf_load(path, cmd, &vg_cli_conf);
	if (err == -ENOENT && !env)
		return 0; /* no file at the default place: no configuration */
	if (err) {
		fprintf(stderr, "vigil: configuration: %s\n",
			vg_cli_conf.err[0] ? vg_cli_conf.err : strerror(-err));
		vg_conf_free(&vg_cli_conf);
		return 2;
	}
	if (!vg_cli_conf.nargs)
		return 0;
	nv = calloc((size_t)(*argc + vg_cli_conf.nargs + 1), sizeof(*nv));
	if (!nv) {
		fprintf(stderr, "vigil: configuration: %s\n", strerror(ENOMEM));
		return 2;
	}
	nv[0] = (*argv)[0];
	memcpy(nv + 1, vg_cli_conf.args, (size_t)vg_cli_conf.nargs * sizeof(*nv));
	memcpy(nv + 1 + vg_cli_conf.nargs, *argv + 1, (size_t)(*argc - 1) * sizeof(*nv));
	*argc += vg_cli_conf.nargs;
	*argv = nv;
	return 0;
}
