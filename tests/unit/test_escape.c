// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attacker text on the terminal: command lines and file names with ESC, OSC,
 * newlines, C1 controls and bytes that are not UTF-8 go into a real store
 * (and raise a real alert); the real `vigil` binary ($VIGIL, else
 * build/vigil) prints them with hunt, alerts and events, and nothing but
 * printable UTF-8 and line ends may come out; every JSON line parses (jq)
 * and is valid UTF-8. Also lib/esc.h's rule itself, and the caret under an
 * escaped diagnostic line.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detect.h"
#include "esc.h"
#include "filter.h"
#include "fmt.h"
#include "kql.h"
#include "store.h"

/* Everything a terminal or a log reader must not be handed raw. */
#define EXE "/tmp/\x1b]0;owned\x07x\n\xff\xc2\x9b.sh"
static char *argv_evil[] = { EXE,
			     "\x1b[2J\x1b[31mred",
			     "one\nvigil: forged line",
			     "bad\xff\xfe\xc0\xafutf8",
			     "c1\xc2\x9b"
			     "31m\x9b",
			     "caf\xc3\xa9" };

static char dir[64], dbpath[128];

static const char *vigil_bin(void)
{
	const char *v = getenv("VIGIL");

	return v && *v ? v : "build/vigil";
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	cr_assert_not_null(f, "%s", path);
	for (;;) {
		buf = realloc(buf, cap += 65536);
		n += fread(buf + n, 1, cap - n - 1, f);
		if (feof(f))
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Printable UTF-8 and line ends only: no C0 but \n (and \r before \n when
 * crlf), no DEL, no C1 whether raw or encoded, nothing that is not UTF-8.
 */
static void assert_clean(const char *what, const char *s, size_t n, int crlf)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = vg_utf8_seq(s + i, n - i, &cp);

		cr_assert_neq(len, 0, "%s: byte 0x%02x at %zu is not UTF-8:\n%s", what,
			      (unsigned char)s[i], i, s);
		cr_assert(cp >= 0x20 || cp == '\n' || (crlf && cp == '\r' && s[i + 1] == '\n'),
			  "%s: control 0x%02x at %zu:\n%s", what, cp, i, s);
		cr_assert(cp != 0x7f && (cp < 0x80 || cp > 0x9f), "%s: U+%04X at %zu:\n%s", what,
			  cp, i, s);
		i += len;
	}
}

/*
 * Run vigil ARGS; its stdout and stderr, both checked clean, go to *out and
 * *errs (malloc'd). Returns the exit status.
 */
static int run(int crlf, char *const argv[], char **out_text, char **err_text)
{
	char out[160], err[160], *o, *e;
	size_t on, en;
	pid_t pid;
	int st;

	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), 1);
		dup2(open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600), 2);
		execv(vigil_bin(), argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	o = slurp(out, &on);
	e = slurp(err, &en);
	assert_clean(argv[1], o, on, crlf);
	assert_clean(argv[1], e, en, 0);
	*out_text = o;
	*err_text = e;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Every line of s is JSON jq parses, and (assert_clean ran) valid UTF-8. */
static void assert_json_lines(const char *s)
{
	char path[160], cmd[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/lines.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(s, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "jq -e . '%s' >/dev/null 2>&1", path);
	cr_assert_eq(system(cmd), 0, "not JSON lines:\n%s", s);
}

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-escape-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

TestSuite(escape, .init = setup, .fini = teardown);

Test(escape, the_rule)
{
	/* unsafe: what vg_esc_unsafe_at() answers, -1 for "nothing" */
	static const struct {
		const char *in, *out;
		int cols, unsafe;
	} cases[] = {
		{ "plain /usr/bin", "plain /usr/bin", 14, -1 },
		{ "\x1b]0;t\x07", "\\x1b]0;t\\x07", 12, 0 },
		{ "a\nb\r\tc", "a\\nb\\r\\tc", 9, 3 }, /* a newline ends an output line */
		{ "\x7f\x01", "\\x7f\\x01", 8, 0 },
		{ "caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5", 6, -1 }, /* kept */
		{ "\xc2\x9b"
		  "1m",
		  "\\u009b1m", 8, 0 }, /* C1 as UTF-8 */
		{ "\x9b\xff", "\\x9b\\xff", 8, 0 }, /* raw C1, never UTF-8 */
		{ "\xc0\xaf", "\\xc0\\xaf", 8, 0 }, /* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80", 12, 0 }, /* a surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", 16, 0 }, /* beyond U+10FFFF */
		{ "ok\xe6\x97", "ok\\xe6\\x97", 10, 2 }, /* cut short */
		{ "back\\slash", "back\\slash", 10, -1 },
	};
	char cut[6];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);
		char out[64];

		cr_assert_eq(vg_esc(out, sizeof(out), cases[i].in, n), strlen(cases[i].out));
		cr_assert_str_eq(out, cases[i].out, "case %zu", i);
		cr_assert_eq(vg_esc_cols(cases[i].in, n), cases[i].cols, "case %zu", i);
		cr_assert_eq(vg_esc_unsafe_at(cases[i].in, n),
			     cases[i].unsafe < 0 ? n : (size_t)cases[i].unsafe, "case %zu", i);
	}
	/* Cut at a whole character, the length of the whole form still returned. */
	cr_assert_eq(vg_esc(cut, sizeof(cut),
			    "ab\x1b"
			    "c",
			    4),
		     7);
	cr_assert_str_eq(cut, "ab");
}

Test(escape, json_is_valid_utf8)
{
	struct vg_sb b;

	vg_sb_init(&b);
	vg_json_str(&b, "a\"\\\n\x1b\x7f\xc2\x9b\x9b\xff\xc0\xaf\xed\xa0\x80 caf\xc3\xa9");
	cr_assert_str_eq(vg_sb_str(&b), "\"a\\\"\\\\\\n\\u001b\\u007f\\u009b\\ufffd\\ufffd\\ufffd"
					"\\ufffd\\ufffd\\ufffd\\ufffd caf\xc3\xa9\"");
	vg_sb_free(&b);
}

/* The daemon's builder-free JSON form is the host's, quotes aside, and is cut at a whole character. */
Test(escape, json_esc_is_json_str)
{
	static const char *const in[] = {
		"plain caf\xc3\xa9",
		"a\"\\\n\r\t\x1b\x7f\xc2\x9b\x9b\xff\xc0\xaf\xed\xa0\x80 x",
		"",
	};
	char out[256], cut[8];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct vg_sb b;
		size_t n = vg_json_esc(out, sizeof(out), in[i], strlen(in[i]));

		vg_sb_init(&b);
		vg_json_str(&b, in[i]);
		cr_assert_eq(n + 2, strlen(vg_sb_str(&b)));
		cr_assert_eq(strncmp(vg_sb_str(&b) + 1, out, n), 0, "%s vs %s", vg_sb_str(&b), out);
		vg_sb_free(&b);
	}
	cr_assert_eq(vg_json_esc(cut, sizeof(cut),
				 "ab\x01"
				 "cd",
				 5),
		     10);
	cr_assert_str_eq(cut, "ab", "\\u0001 does not fit whole: nothing after it either");
}

/* The caret stays under the character it points at once the line before it is escaped. */
Test(escape, diagnostics_caret)
{
	static const char text[] = "drop file where comm == \"\x1b[31m\xff\" and bogus x\n";
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char *diag = NULL, *line, *caret;
	size_t dlen = 0;
	FILE *f = open_memstream(&diag, &dlen);
	struct vg_sb b;
	struct vg_kql_error e = { .line = 2, .col = 12 };

	cr_assert_neq(vg_vf_parse(set, "bad\x1b.vf", text, sizeof(text) - 1, f), 0);
	fclose(f);
	assert_clean("filter diagnostics", diag, dlen, 0);
	cr_assert_not_null(strstr(diag, "bad\\x1b.vf:1:"), "%s", diag);
	line = strstr(diag, "\n  drop");
	cr_assert_not_null(line, "%s", diag);
	line += 3;
	cr_assert_not_null(strstr(line, "\"\\x1b[31m\\xff\" and bogus"), "%s", diag);
	caret = strchr(line, '\n') + 3;
	cr_assert_eq(strchr(caret, '^') - caret, strstr(line, "bogus") - line, "%s", diag);
	free(diag);
	free(set);

	/* The same for a query: column 12 of line 2 is the 'n' of "name" after ESC and \xff. */
	vg_sb_init(&b);
	snprintf(e.msg, sizeof(e.msg), "unknown column 'x\x1b'");
	vg_kql_error_format(&b, "q\x07:", "T\n| where \x1b\xff name == 1\n", 0, &e);
	assert_clean("query diagnostics", b.s, b.len, 0);
	line = strstr(b.s, "\n  ") + 3;
	caret = strchr(line, '\n') + 3;
	cr_assert_eq(strchr(caret, '^') - caret, strstr(line, "name") - line, "%s", b.s);
	cr_assert_not_null(strstr(b.s, "q\\x07:2:12: unknown column 'x\\x1b'"), "%s", b.s);
	vg_sb_free(&b);
}

/* Each printing command over that store: its exit status and some escaped text it shows. */
static const struct {
	const char *cmd, *opt, *query;
	int status;
	const char *want[3];
} cmds[] = {
	{ "hunt",
	  NULL,
	  "DeviceProcessEvents | project FileName, FolderPath, ProcessCommandLine,"
	  " ProcessCurrentDirectory, DeviceName, InitiatingProcessFileName",
	  0,
	  { "/tmp/\\x1b]0;owned\\x07x\\n\\xff\\u009b.sh", "\\x1b[2J\\x1b[31mred",
	    "host\\n\\xff" } },
	{ "hunt", "--format=csv", "DeviceProcessEvents", 0, { "\\x1b[2J" } },
	{ "hunt",
	  "--json",
	  "DeviceProcessEvents",
	  0,
	  { "\\u001b]0;owned\\u0007x\\n\\ufffd\\u009b.sh" } },
	{ "alerts",
	  NULL,
	  NULL,
	  0,
	  { "Executable run from /tmp", "\\x1b[2J\\x1b[31mred", "device dev\\x1b[1m" } },
	{ "alerts", "--json", NULL, 0, { "\\u001b[2J" } },
	{ "events",
	  NULL,
	  NULL,
	  0,
	  { "c1\\u009b31m\\x9b", "'one\\nvigil: forged line'", "caf\xc3\xa9" } },
	{ "events", "--json", NULL, 0, { "one\\nvigil: forged line" } },
	{ "stats", NULL, NULL, 0, { "host\\n\\xff", "exec\\x1b[8m" } },
	/* A query error echoes the query line: escaped, exit 1. */
	{ "hunt", NULL, "DeviceProcessEvents | where \x1b]0;x\x07 == 1", 1, { "\\x1b]0;x\\x07" } },
};

/* A hostile exec in a real store, a real alert on it, and every printing command over it. */
Test(escape, hunt_alerts_events_print_nothing_raw)
{
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT, parent = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[] = { &ev };
	Vigil__V1__DeviceInfo d = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Counter c = VIGIL__V1__COUNTER__INIT, *cs[] = { &c };
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	struct vg_store_peer peer = { 0 };
	struct vg_detect *det;
	struct vg_store *st;
	struct vg_sb why;
	char *out, *err;
	int status;

	if (access(vigil_bin(), X_OK))
		cr_skip_test("no vigil binary at %s (set VIGIL)", vigil_bin());
	p.pid = 4242;
	p.ppid = 4200;
	p.exe = EXE;
	p.argv = argv_evil;
	p.n_argv = sizeof(argv_evil) / sizeof(argv_evil[0]);
	p.cwd = "/tmp/\x1b[H\n";
	p.comm = "\x1b[K";
	parent.pid = 4200;
	parent.exe = "/usr/bin/\x1b]8;;http://x\x07sh";
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &p;
	pe.parent = &parent;
	ev.report_id = 1;
	ev.time_ns = 1795694400123000000ull;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	d.device_id = "dev\x1b[1m";
	d.device_name = "host\n\xff";
	b.device = &d;
	b.n_events = 1;
	b.events = evs;
	c.event_class = "exec\x1b[8m";
	b.n_counters = 1;
	b.counters = cs;
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &b), 1);
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&det, vg_store_db(st), "rules", &why), 0, "%s",
		     vg_sb_str(&why));
	vg_sb_free(&why);
	cr_assert_geq(vg_detect_run(det), 1, "exec_from_tmp raised no alert");
	vg_detect_close(det);
	vg_store_close(st);
	vg_store_peer_free(&peer);

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *a[] = { "vigil", (char *)cmds[i].cmd, "--db", dbpath, NULL, NULL, NULL };
		int n = 4;

		if (cmds[i].opt)
			a[n++] = (char *)cmds[i].opt;
		if (cmds[i].query)
			a[n++] = (char *)cmds[i].query;
		status = run(cmds[i].opt && !strcmp(cmds[i].opt, "--format=csv"), a, &out, &err);
		cr_assert_eq(status, cmds[i].status, "%s %s: exit %d", cmds[i].cmd,
			     cmds[i].opt ?: "", status);
		if (cmds[i].opt && !strcmp(cmds[i].opt, "--json"))
			assert_json_lines(out);
		for (int k = 0; k < 3 && cmds[i].want[k]; k++)
			cr_assert(strstr(out, cmds[i].want[k]) || strstr(err, cmds[i].want[k]),
				  "%s %s: no %s in:\n%s%s", cmds[i].cmd, cmds[i].opt ?: "",
				  cmds[i].want[k], out, err);
		free(out);
		free(err);
	}
}

/* `vigil filter check` of a binary file: diagnostics on stderr, escaped. */
Test(escape, binary_filter_file)
{
	char path[160], *out, *err;
	FILE *f;

	if (access(vigil_bin(), X_OK))
		cr_skip_test("no vigil binary at %s (set VIGIL)", vigil_bin());
	snprintf(path, sizeof(path), "%s/bin.vf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("\x7f"
	      "ELF\x02\x01\x01\x1b]0;pwned\x07\n"
	      "drop file where comm == \"\x1b[2J\" and \xff\xfe\n"
	      "\x1b[31mkeep\x9b file\r\n",
	      f);
	fclose(f);
	{
		char *a[] = { "vigil", "filter", "check", path, NULL };

		cr_assert_eq(run(0, a, &out, &err), 1);
		cr_assert_not_null(strstr(err, "bin.vf:1:1: "), "%s", err);
		cr_assert_not_null(strstr(err, "\\x7fELF\\x02\\x01\\x01\\x1b]0;pwned\\x07"), "%s",
				   err);
		free(out);
		free(err);
	}
}
