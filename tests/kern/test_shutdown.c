// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigild and vigil host stop cleanly and leave no BPF program, link or map
 * behind. The ids come from vigild's own fds, so another sensor running on
 * the machine at the same time does not disturb the check.
 */
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

struct held {
	__u32 progs[64], links[64], maps[64];
	int np, nl, nm;
};

static void held_by(pid_t vigild, struct held *h)
{
	h->np = vg_t_bpf_ids_of(vigild, "prog_id", h->progs, 64);
	h->nl = vg_t_bpf_ids_of(vigild, "link_id", h->links, 64);
	h->nm = vg_t_bpf_ids_of(vigild, "map_id", h->maps, 64);
	cr_assert_geq(h->np, 3, "vigild holds %d programs, expected exec, fork and exit", h->np);
	cr_assert_geq(h->nl, 3, "vigild holds %d links", h->nl);
	cr_assert_eq(vg_t_bpf_ids_alive("prog_id", h->progs, h->np), h->np);
}

static void assert_released(const struct held *h)
{
	/* The kernel frees programs and maps after an RCU grace period: allow it 2 s. */
	for (int i = 0; i < 40; i++) {
		if (!vg_t_bpf_ids_alive("link_id", h->links, h->nl) &&
		    !vg_t_bpf_ids_alive("prog_id", h->progs, h->np) &&
		    !vg_t_bpf_ids_alive("map_id", h->maps, h->nm))
			break;
		usleep(50000);
	}
	cr_assert_eq(vg_t_bpf_ids_alive("link_id", h->links, h->nl), 0, "BPF links left behind");
	cr_assert_eq(vg_t_bpf_ids_alive("prog_id", h->progs, h->np), 0, "BPF programs left behind");
	cr_assert_eq(vg_t_bpf_ids_alive("map_id", h->maps, h->nm), 0, "BPF maps left behind");
}

static void stop_and_check(int sig)
{
	struct vg_t_host h;
	struct held held;
	pid_t vigild;
	int status;

	vg_t_host_start(&h, NULL);
	vigild = vg_t_host_child(&h);
	cr_assert_gt(vigild, 0, "no vigild under the host");
	held_by(vigild, &held);
	status = vg_t_host_stop(&h, sig);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "host status %#x", status);
	wait_gone(vigild);
	assert_released(&held);
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

	struct held held;

	vg_t_host_start(&h, NULL);
	vigild = vg_t_host_child(&h);
	cr_assert_gt(vigild, 0);
	held_by(vigild, &held);
	vg_t_host_stop(&h, SIGKILL);
	wait_gone(vigild);
	assert_released(&held);
}
