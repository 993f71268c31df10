// SPDX-License-Identifier: GPL-2.0-only
/*
 * lib/log.c's line: "TIME LEVEL prog: message", the JSON form, the journald
 * form with sd-daemon priorities (chosen only when $JOURNAL_STREAM names
 * stderr), and the real `vigil` binary's lines with --log-format json.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define T "2026-11-29T20:06:36.123Z"

static const char *line(int level, int json, int journald, const char *who, const char *msg)
{
	static char buf[512];
	size_t n = vg_log_format(buf, sizeof(buf), level, json, journald, T, "vigild", who, msg);

	cr_assert_eq(n, strlen(buf), "length %zu of '%s'", n, buf);
	return buf;
}

Test(log, text_has_time_and_level)
{
	cr_assert_str_eq(line(VG_ERROR, 0, 0, NULL, "boom"), T " error vigild: boom\n");
	cr_assert_str_eq(line(VG_WARN, 0, 0, "bpf", "slow"), T " warning vigild: bpf: slow\n");
	cr_assert_str_eq(line(VG_INFO, 0, 0, NULL, "up"), T " info vigild: up\n");
	cr_assert_str_eq(line(VG_DEBUG, 0, 0, NULL, "x"), T " debug vigild: x\n");
	/* A peer's newline cannot forge a line; an escape cannot drive the terminal. */
	cr_assert_str_eq(line(VG_INFO, 0, 0, NULL, "a\nerror vigild: forged\x1b[2J"),
			 T " info vigild: a\\nerror vigild: forged\\x1b[2J\n");
}

Test(log, journald_priorities)
{
	cr_assert_str_eq(line(VG_ERROR, 0, 1, NULL, "boom"), "<3>error vigild: boom\n");
	cr_assert_str_eq(line(VG_WARN, 0, 1, NULL, "w"), "<4>warning vigild: w\n");
	cr_assert_str_eq(line(VG_INFO, 0, 1, NULL, "i"), "<6>info vigild: i\n");
	cr_assert_str_eq(line(VG_DEBUG, 0, 1, NULL, "d"), "<7>debug vigild: d\n");
	cr_assert_str_eq(line(VG_ERROR, 1, 1, NULL, "j"),
			 "<3>{\"level\":\"error\",\"prog\":\"vigild\",\"msg\":\"j\"}\n");
}

Test(log, json_is_escaped)
{
	cr_assert_str_eq(line(VG_WARN, 1, 0, "w\"ho", "a\"b\\c\nd\x01\xff"),
			 "{\"time\":\"" T "\",\"level\":\"warning\",\"prog\":\"vigild\","
			 "\"who\":\"w\\\"ho\",\"msg\":\"a\\\"b\\\\c\\nd\\u0001\\ufffd\"}\n");
}

Test(log, cut_short_still_counts)
{
	char small[8];
	size_t n = vg_log_format(small, sizeof(small), VG_INFO, 0, 0, T, "vigild", NULL, "hello");

	cr_assert_eq(n, strlen(T " info vigild: hello\n"));
	cr_assert_eq(strlen(small), sizeof(small) - 1);
}

Test(log, names)
{
	cr_assert_eq(vg_log_level_parse("warning"), VG_WARN);
	cr_assert_eq(vg_log_level_parse("debug"), VG_DEBUG);
	cr_assert_eq(vg_log_level_parse("warn"), -1);
	cr_assert_eq(vg_log_level_parse(NULL), -1);
	cr_assert_eq(vg_log_format_parse("json"), 1);
	cr_assert_eq(vg_log_format_parse("text"), 0);
	cr_assert_eq(vg_log_format_parse("JSON"), -1);
}

/* $JOURNAL_STREAM counts only while it names what fd 2 is. */
Test(log, journal_stream_must_be_stderr)
{
	char spec[64];
	struct stat st;
	FILE *f = tmpfile();
	int saved = dup(2);

	cr_assert_not_null(f);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(fileno(f), 2), 2);
	cr_assert_eq(fstat(2, &st), 0);
	snprintf(spec, sizeof(spec), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	unsetenv("JOURNAL_STREAM");
	cr_expect_eq(vg_log_journald(), 0);
	setenv("JOURNAL_STREAM", spec, 1);
	cr_expect_eq(vg_log_journald(), 1);
	snprintf(spec, sizeof(spec), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", spec, 1);
	cr_expect_eq(vg_log_journald(), 0);
	setenv("JOURNAL_STREAM", "garbage", 1);
	cr_expect_eq(vg_log_journald(), 0);
	unsetenv("JOURNAL_STREAM");
	dup2(saved, 2);
	close(saved);
	fclose(f);
}

/* The real binary: a usage-free runtime error, as one JSON object with time and level. */
Test(log, vigil_json_lines)
{
	const char *v = getenv("VIGIL");
	char cmd[512], out[1024] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "env -u JOURNAL_STREAM %s --log-format json events --db /nonexistent/x.db 2>&1",
		 v && *v ? v : "build/vigil");
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(out, sizeof(out), p));
	pclose(p);
	cr_assert_eq(strncmp(out, "{\"time\":\"", 9), 0, "%s", out);
	cr_assert_not_null(strstr(out,
				  "\",\"level\":\"error\",\"prog\":\"vigil\",\"msg\":\"events: "
				  "cannot open /nonexistent/x.db: "),
			   "%s", out);
	cr_assert_eq(out[strlen(out) - 2], '}', "%s", out);
}

/* The real binary under "journald": stderr is the stream $JOURNAL_STREAM names. */
Test(log, vigil_journald_priority)
{
	const char *v = getenv("VIGIL");
	char path[] = "/tmp/vigil-log-XXXXXX", cmd[512], out[1024] = "";
	struct stat st;
	FILE *f;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "JOURNAL_STREAM=%llu:%llu %s events --db /nonexistent/x.db 2>>%s; "
		 "env -u JOURNAL_STREAM %s events --db /nonexistent/x.db 2>>%s",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 v && *v ? v : "build/vigil", path, v && *v ? v : "build/vigil", path);
	cr_assert_neq(system(cmd), 0);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, sizeof(out), f));
	cr_expect_eq(strncmp(out, "<3>error vigil: events: cannot open /nonexistent/x.db", 53), 0,
		     "%s", out);
	/* Not the journal: no priority, a time first. */
	cr_assert_not_null(fgets(out, sizeof(out), f));
	cr_expect_eq(strncmp(out, "20", 2), 0, "%s", out);
	cr_expect_not_null(strstr(out, "Z error vigil: events: cannot open"), "%s", out);
	fclose(f);
	unlink(path);
}
