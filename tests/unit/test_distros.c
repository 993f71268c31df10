// SPDX-License-Identifier: GPL-2.0-only
/*
 * The WSL distribution list the host sends vigild (a DISTROS frame): parsed
 * whole or refused whole, saying which line; each distribution's users read
 * from its init's root.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "distros.h"

static char dir[64];

static void setup(void)
{
	char path[128];
	FILE *f;

	strcpy(dir, "/tmp/vigil-distros-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* dir is the procfs: pid 77's root holds Alpha's passwd. */
	snprintf(path, sizeof(path), "mkdir -p '%s/77/root/etc'", dir);
	cr_assert_eq(system(path), 0);
	snprintf(path, sizeof(path), "%s/77/root/etc/passwd", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("root:x:0:0::/root:/bin/sh\nalice:x:4242:4242::/home/alice:/bin/sh\n", f);
	fclose(f);
}

static void teardown(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

TestSuite(distros, .init = setup, .fini = teardown);

#define SET(d, text, why) vg_distros_set(d, dir, text, strlen(text), why, sizeof(why))

Test(distros, map_names_and_users)
{
	struct vg_distros d = { 0 };
	char why[160] = "";
	struct vg_distro *a;

	cr_assert_eq(SET(&d,
			 "4026532300\t77\t1\tAlpha\talpine\t3.19\n"
			 "4026532400\t88\t0\tBeta\t\t\n"
			 "4026532500\t99\t1\tGamma\tdebian\t12\n",
			 why),
		     0, "%s", why);
	cr_assert_eq(d.n, 3);
	a = vg_distro_of(&d, 4026532300u);
	cr_assert_not_null(a);
	cr_expect_str_eq(a->name, "Alpha");
	cr_expect_eq(a->initpid, 77);
	cr_expect_str_eq(vg_user_name(&a->users, 4242), "alice");
	cr_expect_str_eq(vg_distro_of(&d, 4026532400u)->name, "Beta");
	cr_expect_null(vg_distro_of(&d, 4026531836u));
	cr_expect_null(vg_distro_of(&d, 0));
	/* Beta stopped: not among the running ones. */
	vg_distros_os(&d, why, sizeof(why));
	cr_expect_str_eq(why, "Alpha (alpine 3.19), Gamma (debian 12)");
	vg_distros_free(&d);
}

Test(distros, bad_list_refused_whole_with_its_line)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "1\t2\t1\tA\tf\tv\n1\t2\t1\tB\tf\n", "line 2: 5 tab-separated fields, want 6" },
		{ "x\t2\t1\tA\tf\tv\n", "line 1: bad PID namespace" },
		{ "1\t0\t1\tA\tf\tv\n", "line 1: bad init pid" },
		{ "1\t2\t2\tA\tf\tv\n", "line 1: bad running flag" },
		{ "1\t2\t1\t\tf\tv\n", "line 1: bad name" },
		{ "1\t2\t1\tA\x1b[31m\tf\tv\n", "line 1: bad name" },
		{ "4294967296\t2\t1\tA\tf\tv\n", "line 1: bad PID namespace" },
		{ "1\t2\t1\tA\tf\tv\t7\n", "line 1: more than 6 tab-separated fields, want 6" },
	};
	struct vg_distros d = { 0 };
	char why[160];

	cr_assert_eq(SET(&d, "4026532300\t77\t1\tAlpha\talpine\t3.19\n", why), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		cr_expect_eq(SET(&d, bad[i].text, why), -EINVAL, "case %zu", i);
		cr_expect_str_eq(why, bad[i].why, "case %zu", i);
	}
	/* The last good list stands. */
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(vg_distro_of(&d, 4026532300u)->name, "Alpha");
	vg_distros_free(&d);
}
