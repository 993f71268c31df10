// SPDX-License-Identifier: GPL-2.0-only
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proctable.h"

/* An exec record of pid (parent ppid, user uid) with no tail: vg_pt_exec takes the strings apart. */
static void exec_rec(struct vg_exec_event *e, uint32_t pid, uint32_t ppid, uint32_t uid,
		     size_t argv_len)
{
	memset(e, 0, sizeof(*e));
	e->hdr.type = VG_EV_EXEC;
	e->task.pid = e->task.tgid = pid;
	e->task.ppid = ppid;
	e->task.uid = e->task.euid = uid;
	e->argv_len = (uint16_t)argv_len;
}

Test(proctable, insert_get_remove)
{
	struct vg_proctable t;
	struct vg_exec_event e;
	struct vg_actor a;
	struct vg_proc *p;

	cr_assert_eq(vg_pt_init(&t, 100), 0);
	cr_assert_null(vg_pt_get(&t, 42));
	p = vg_pt_upsert(&t, 42);
	cr_assert_not_null(p);
	cr_assert_eq(p->pid, 42);
	exec_rec(&e, 42, 7, 0, 0);
	cr_assert_eq(vg_pt_exec(&t, &e, "/usr/bin/true", "", "/", &a), 0);
	cr_assert_eq(vg_pt_upsert(&t, 42), p, "upsert of a present pid returns the entry");
	cr_assert_eq(vg_pt_get(&t, 42)->ppid, 7);
	cr_assert_str_eq(vg_pt_get(&t, 42)->exe, "/usr/bin/true");
	cr_assert_eq(vg_pt_count(&t), 1);
	cr_assert_eq(vg_pt_remove(&t, 42), 0);
	cr_assert_eq(vg_pt_remove(&t, 42), -ENOENT);
	cr_assert_null(vg_pt_get(&t, 42));
	cr_assert_eq(vg_pt_count(&t), 0);
	vg_pt_free(&t);
}

/* Growth, tombstones and colliding keys: every live pid stays findable. */
Test(proctable, churn_keeps_every_live_entry)
{
	struct vg_proctable t;

	cr_assert_eq(vg_pt_init(&t, 1u << 20), 0);
	for (uint32_t round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < 5000; i++) {
			struct vg_proc *p = vg_pt_upsert(&t, round * 5000 + i + 1);

			cr_assert_not_null(p);
			p->ppid = round;
		}
		/* Remove all but every tenth of this round. */
		for (uint32_t i = 0; i < 5000; i++)
			if (i % 10)
				cr_assert_eq(vg_pt_remove(&t, round * 5000 + i + 1), 0);
	}
	cr_assert_eq(vg_pt_count(&t), 20 * 500);
	for (uint32_t round = 0; round < 20; round++)
		for (uint32_t i = 0; i < 5000; i++) {
			struct vg_proc *p = vg_pt_get(&t, round * 5000 + i + 1);

			if (i % 10) {
				cr_assert_null(p);
			} else {
				cr_assert_not_null(p, "pid %u lost", round * 5000 + i + 1);
				cr_assert_eq(p->ppid, round);
			}
		}
	cr_assert_lt(t.filled * 2, t.cap + 2, "tombstones not reclaimed");
	vg_pt_free(&t);
}

Test(proctable, bounded)
{
	struct vg_proctable t;

	cr_assert_eq(vg_pt_init(&t, 3), 0);
	cr_assert_not_null(vg_pt_upsert(&t, 1));
	cr_assert_not_null(vg_pt_upsert(&t, 2));
	cr_assert_not_null(vg_pt_upsert(&t, 3));
	cr_assert_null(vg_pt_upsert(&t, 4), "table over its bound");
	cr_assert_not_null(vg_pt_upsert(&t, 2), "present entries stay reachable when full");
	vg_pt_free(&t);
}

/* A forked child runs its parent's image: a deep copy of exe, cwd and argv. */
Test(proctable, copy_image)
{
	struct vg_proctable t;
	struct vg_exec_event e;
	struct vg_fork_event f = { 0 };
	struct vg_actor act;
	const struct vg_proc *a, *b;

	cr_assert_eq(vg_pt_init(&t, 10), 0);
	exec_rec(&e, 1, 0, 1000, 8);
	cr_assert_eq(vg_pt_exec(&t, &e, "/bin/bash", "bash\0-l\0", "/root", &act), 0);
	f.task = e.task;
	f.task.pid = f.task.tgid = 2;
	f.task.ppid = 1;
	cr_assert_eq(vg_pt_fork(&t, &f, &act), 0);
	a = vg_pt_get(&t, 1);
	b = act.proc;
	cr_assert_eq(act.parent, a, "the actor's parent is the forking process");
	cr_assert_str_eq(b->exe, "/bin/bash");
	cr_assert_str_eq(b->cwd, "/root");
	cr_assert_eq(b->args_len, 8);
	cr_assert_eq(memcmp(b->args, "bash\0-l\0", 8), 0);
	cr_assert_eq(b->uid, 1000);
	cr_assert_neq(b->exe, a->exe, "deep copy");
	vg_pt_free(&t);
}

/* The /proc scan finds this very process with its real executable and cwd. */
Test(proctable, scan_finds_self)
{
	struct vg_proctable t;
	struct vg_proc *p;
	char exe[PATH_MAX], cwd[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(vg_pt_init(&t, 1u << 20), 0);
	cr_assert_gt(vg_pt_scan(&t, "/proc"), 1);
	p = vg_pt_get(&t, (uint32_t)getpid());
	cr_assert_not_null(p);
	cr_assert_str_eq(p->exe, exe);
	cr_assert_str_eq(p->cwd, cwd);
	cr_assert_eq(p->ppid, (uint32_t)getppid());
	cr_assert_eq(p->uid, getuid());
	cr_assert_gt(p->start_boot_ns, 0);
	cr_assert_gt(p->args_len, 0);
	cr_assert_eq(p->args[p->args_len - 1], '\0');
	cr_assert_eq(vg_pt_scan(&t, "/nonexistent-procfs"), -ENOENT);
	vg_pt_free(&t);
}

/*
 * An event whose record comes after a later exec of its process is named
 * with the image the process had when the event happened, and the account
 * the event carries; the images kept are bounded and swept.
 */
Test(proctable, late_event_names_the_image_of_its_time)
{
	struct vg_proctable t;
	struct vg_exec_event e;
	struct vg_task task;
	struct vg_actor a;

	cr_assert_eq(vg_pt_init(&t, 100), 0);
	exec_rec(&e, 42, 7, 1000, 0);
	e.hdr.ts_boot_ns = 100;
	cr_assert_eq(vg_pt_exec(&t, &e, "/bin/sh", "", "/", &a), 0);
	exec_rec(&e, 42, 7, 0, 0);
	e.hdr.ts_boot_ns = 200;
	cr_assert_eq(vg_pt_exec(&t, &e, "/usr/bin/systemctl", "", "/", &a), 0);

	memset(&task, 0, sizeof(task));
	task.pid = task.tgid = 42;
	task.ppid = 7;
	task.uid = 1000;
	cr_assert_eq(vg_pt_actor_at(&t, &task, 150, NULL, &a), 0);
	cr_expect_str_eq(a.proc->exe, "/bin/sh");
	cr_expect_eq(a.proc->uid, 1000);
	task.uid = 0;
	cr_assert_eq(vg_pt_actor_at(&t, &task, 250, NULL, &a), 0);
	cr_expect_str_eq(a.proc->exe, "/usr/bin/systemctl");
	cr_expect_eq(a.proc->uid, 0);
	/* before anything the table knows: the oldest image kept */
	cr_assert_eq(vg_pt_actor_at(&t, &task, 50, NULL, &a), 0);
	cr_expect_str_eq(a.proc->exe, "/bin/sh");

	/* at most VG_PT_IMAGES images per process */
	for (int i = 0; i < 10; i++) {
		exec_rec(&e, 42, 7, 0, 0);
		e.hdr.ts_boot_ns = 300 + (uint64_t)i;
		cr_assert_eq(vg_pt_exec(&t, &e, i % 2 ? "/bin/a" : "/bin/b", "", "/", &a), 0);
	}
	{
		int n = 0;

		for (struct vg_proc *p = vg_pt_get(&t, 42); p; p = p->prev)
			n++;
		cr_expect_eq(n, VG_PT_IMAGES);
	}
	/* replaced before the sweep's horizon: gone */
	vg_pt_sweep_exited(&t, 1000);
	cr_expect_null(vg_pt_get(&t, 42)->prev);
	cr_assert_eq(vg_pt_actor_at(&t, &task, 150, NULL, &a), 0);
	cr_expect_str_eq(a.proc->exe, "/bin/a");
	vg_pt_free(&t);
}
