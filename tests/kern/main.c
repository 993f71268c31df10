// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel tests share one kernel: a test that counts loaded vg_ programs
 * must not see another test's sensor. Run them one at a time, whatever
 * --jobs says.
 */
#include <criterion/criterion.h>

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;

	if (criterion_handle_args(argc, argv, true)) {
		criterion_options.jobs = 1;
		result = !criterion_run_all_tests(tests);
	}
	criterion_finalize(tests);
	return result;
}
