// SPDX-License-Identifier: GPL-2.0-only
/* The configuration file (cli/config.c): keys, sections, flags, errors at FILE:LINE. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct vg_conf c;

static void fini(void)
{
	vg_conf_free(&c);
}

TestSuite(config, .fini = fini);

static int parse(const char *text, const char *cmd)
{
	return vg_conf_parse("vigil.conf", text, strlen(text), cmd, &c);
}

/* The text fails with exactly this message. */
static void fails(const char *text, const char *err)
{
	cr_assert_eq(parse(text, "host"), -EINVAL, "accepted: %s", text);
	cr_assert_str_eq(c.err, err);
	vg_conf_free(&c);
}

Test(config, keys_become_the_commands_options)
{
	const char *text = "# vigil\n"
			   "db = /var/lib/x.db   # the store\n"
			   "\n"
			   "[host]\n"
			   "  filters=/etc/f.vf\r\n"
			   "no-rules\n"
			   "print = no\n"
			   "idle-timeout = 60\n"
			   "[events]\n"
			   "json = yes\n"
			   "limit = 5\n"
			   "[ host ]\n"
			   "verbose\n";

	cr_assert_eq(parse(text, "host"), 0, "%s", c.err);
	cr_assert_str_eq(c.db, "/var/lib/x.db");
	cr_assert_eq(c.nargs, 4);
	cr_assert_str_eq(c.args[0], "--filters=/etc/f.vf");
	cr_assert_str_eq(c.args[1], "--no-rules");
	cr_assert_str_eq(c.args[2], "--idle-timeout=60");
	cr_assert_str_eq(c.args[3], "--verbose");
	vg_conf_free(&c);

	cr_assert_eq(parse(text, "events"), 0, "%s", c.err);
	cr_assert_eq(c.nargs, 2);
	cr_assert_str_eq(c.args[0], "--json");
	cr_assert_str_eq(c.args[1], "--limit=5");
	vg_conf_free(&c);

	/* A command without a section gets db only; an empty file nothing. */
	cr_assert_eq(parse(text, "keygen"), 0);
	cr_assert_eq(c.nargs, 0);
	cr_assert_str_eq(c.db, "/var/lib/x.db");
	vg_conf_free(&c);
	cr_assert_eq(parse("", "host"), 0);
	cr_assert_null(c.db);
	cr_assert_eq(c.nargs, 0);
}

Test(config, bad_lines_name_file_and_line)
{
	fails("db = a\nlisten = unix:/x\n",
	      "vigil.conf:2: unknown key 'listen' before any [section]: only db = FILE goes there");
	fails("[host]\n\n# c\nbogus = 1\n",
	      "vigil.conf:4: unknown key 'bogus' in [host] (the keys are `vigil host --help`'s "
	      "long options)");
	fails("[events]\nmax-per-peer = 3\n",
	      "vigil.conf:2: unknown key 'max-per-peer' in [events] (the keys are `vigil events "
	      "--help`'s long options)");
	fails("[hots]\n", "vigil.conf:1: unknown section [hots] (host, events, stats, hunt, "
			  "alerts, top)");
	fails("[host\n", "vigil.conf:1: a section is [COMMAND] alone on its line");
	fails("[host]\nfilters\n", "vigil.conf:2: filters needs a value: filters = VALUE");
	fails("[host]\nfilters =\n", "vigil.conf:2: 'filters =' without a value");
	fails("[host]\nprint = maybe\n",
	      "vigil.conf:2: print is a flag: alone on its line, or print = yes / no");
	fails("[host]\nspawn = /usr/sbin/vigild\n",
	      "vigil.conf:2: spawn cannot be set here: give it on the command line");
	fails("[host]\n--db = x\n", "vigil.conf:2: '--db' is not a key: KEY = VALUE, or a flag "
				    "alone (a long option without its dashes)");
	fails("db\n", "vigil.conf:1: db needs a value: db = FILE");
	/* Monitored-machine text is escaped in the message. */
	fails("[host]\nfo\x1b[2Jo = 1\n", "vigil.conf:2: 'fo\\x1b[2Jo' is not a key: KEY = VALUE, "
					  "or a flag alone (a long option without its dashes)");
	/* Checked whichever command runs: a bad [hunt] line fails `vigil host` too. */
	fails("[hunt]\nfromat = json\n",
	      "vigil.conf:2: unknown key 'fromat' in [hunt] (the keys are `vigil hunt --help`'s "
	      "long options)");
	cr_assert_eq(vg_conf_parse("v.conf", "db = x\n\n\0", 9, "host", &c), -EINVAL);
	cr_assert_str_eq(c.err, "v.conf:3: a NUL byte: not a text file");
}

Test(config, file_options_come_before_the_command_lines)
{
	char path[] = "/tmp/vigil-conf-XXXXXX";
	char *argv0[] = { "events", "--limit", "2", NULL };
	char **argv = argv0;
	int argc = 3, fd = mkstemp(path);
	const char text[] = "db = /srv/v.db\n[events]\nlimit = 9\njson\n";

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	setenv("VIGIL_CONFIG", path, 1);
	cr_assert_eq(vg_cli_config("events", &argc, &argv), 0);
	cr_assert_eq(argc, 5);
	cr_assert_str_eq(argv[0], "events");
	cr_assert_str_eq(argv[1], "--limit=9");
	cr_assert_str_eq(argv[2], "--json");
	cr_assert_str_eq(argv[3], "--limit"); /* the command line's, parsed last, wins */
	cr_assert_str_eq(argv[4], "2");
	cr_assert_null(argv[5]);
	cr_assert_str_eq(vg_cli_default_db(), "/srv/v.db");

	/* A file named by VIGIL_CONFIG must exist; an empty VIGIL_CONFIG is none. */
	unlink(path);
	cr_assert_eq(vg_conf_load(path, "events", &c), -ENOENT);
	setenv("VIGIL_CONFIG", "", 1);
	argv = argv0;
	argc = 3;
	cr_assert_eq(vg_cli_config("events", &argc, &argv), 0);
	cr_assert_eq(argc, 3);
}
