// SPDX-License-Identifier: GPL-2.0-only
/* vigild and vigil host stop cleanly and leave no BPF program behind. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void wait_gone(pid_t pid)
{
	for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
		usleep(50000);
	cr_assert_neq(kill(pid, 0), 0, "vigild (pid %d) still running", pid);
}

static void stop_and_check(int sig)
{
	struct vg_t_host h;
	pid_t vigild;
	int status;

	vg_t_host_start(&h, NULL);
	vigild = vg_t_host_child(&h);
	cr_assert_gt(vigild, 0, "no vigild under the host");
	cr_assert_geq(vg_t_count_vg_progs(), 3, "programs not loaded while running");
	status = vg_t_host_stop(&h, sig);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "host status %#x", status);
	wait_gone(vigild);
	cr_assert_eq(vg_t_count_vg_progs(), 0, "BPF programs left behind");
}

Test(shutdown, sigterm_leaves_nothing, .timeout = 60)
{
	stop_and_check(SIGTERM);
}

Test(shutdown, sigint_leaves_nothing, .timeout = 60)
{
	stop_and_check(SIGINT);
}

/* The host vanishing (SIGKILL) closes vigild's stdin/stdout: vigild must exit on its own. */
Test(shutdown, peer_close_stops_vigild, .timeout = 60)
{
	struct vg_t_host h;
	pid_t vigild;

	vg_t_host_start(&h, NULL);
	vigild = vg_t_host_child(&h);
	cr_assert_gt(vigild, 0);
	vg_t_host_stop(&h, SIGKILL);
	wait_gone(vigild);
	cr_assert_eq(vg_t_count_vg_progs(), 0, "BPF programs left behind");
}
