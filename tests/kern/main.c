// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel tests share one kernel: a test that counts loaded vg_ programs
 * must not see another test's sensor. Run them one at a time, whatever
 * --jobs says.
 *
 * Every test makes its folders under one folder of the run's (VG_T_ROOT,
 * see vg_t_root()), removed here once all have passed: a test killed at its
 * timeout leaves no folder, file or mount behind. After a failure the
 * folder stays, for the logs the failure messages name.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int vg_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Mounts a killed test left under root, deepest first, then the folder itself. */
static void vg_root_remove(const char *root)
{
	size_t n = strlen(root);

	for (int pass = 0; pass < 8; pass++) {
		char line[PATH_MAX * 2], mnt[PATH_MAX], last[PATH_MAX] = "";
		FILE *f = fopen("/proc/self/mounts", "r");

		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %4095s", mnt) == 1 && !strncmp(mnt, root, n) &&
			    mnt[n] == '/')
				snprintf(last, sizeof(last), "%s", mnt);
		fclose(f);
		if (!last[0])
			break;
		fprintf(stderr, "kern_tests: a test left %s mounted: detaching it\n", last);
		umount2(last, MNT_DETACH);
	}
	nftw(root, vg_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	char root[] = "/tmp/vg-kt-XXXXXX";
	int result = 0, own_root = 0;

	if (!getenv("VG_T_ROOT") && mkdtemp(root)) {
		/* Others may pass through, as through /tmp (test_control's non-root peer). */
		chmod(root, 0711);
		setenv("VG_T_ROOT", root, 1);
		own_root = 1;
	}
	if (criterion_handle_args(argc, argv, true)) {
		criterion_options.jobs = 1;
		result = !criterion_run_all_tests(tests);
	}
	criterion_finalize(tests);
	if (own_root && !result)
		vg_root_remove(root);
	else if (own_root)
		fprintf(stderr, "kern_tests: the failed run's folders and logs are in %s\n", root);
	return result;
}
