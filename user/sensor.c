// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sensor.h"
#include "vigil_abi.h"

#define VG_PROCTABLE_MAX (1u << 20)

int vg_sensor_init(struct vg_sensor *s, const char *procfs, const char *passwd)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = vg_pt_init(&s->pt, VG_PROCTABLE_MAX);
	if (err)
		return err;
	vg_users_init(&s->users, passwd);
	s->next_report_id = 1;
	vg_sensor_sync_clock(s);
	if (procfs) {
		err = vg_pt_scan(&s->pt, procfs);
		if (err < 0)
			return err;
	}
	return 0;
}

void vg_sensor_free(struct vg_sensor *s)
{
	vg_pt_free(&s->pt);
	vg_users_free(&s->users);
	vg_arena_free(&s->arena);
	free(s->events);
	memset(s, 0, sizeof(*s));
}

static int64_t vg_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void vg_sensor_sync_clock(struct vg_sensor *s)
{
	s->boot_to_epoch_ns = vg_clock_ns(CLOCK_REALTIME) - vg_clock_ns(CLOCK_BOOTTIME);
}

static uint64_t vg_epoch(const struct vg_sensor *s, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + s->boot_to_epoch_ns);
}

/* Update the table entry of a task from the kernel's view of it. */
static void vg_proc_from_task(struct vg_proc *p, const struct vg_task *t)
{
	p->ppid = t->ppid;
	p->uid = t->uid;
	p->gid = t->gid;
	p->euid = t->euid;
	p->egid = t->egid;
	p->start_boot_ns = t->start_boot_ns;
	p->cgroup_id = t->cgroup_id;
	memcpy(p->comm, t->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
}

static Vigil__V1__Process *vg_pb_process(struct vg_sensor *s, const struct vg_proc *p)
{
	struct vg_arena *a = &s->arena;
	Vigil__V1__Process *pb = vg_arena_alloc(a, sizeof(*pb));
	const char *user;
	size_t argc = 0;

	if (!pb)
		return NULL;
	vigil__v1__process__init(pb);
	pb->pid = p->pid;
	pb->ppid = p->ppid;
	pb->start_time_ns = p->start_boot_ns ? vg_epoch(s, p->start_boot_ns) : 0;
	pb->uid = p->uid;
	pb->gid = p->gid;
	pb->euid = p->euid;
	pb->egid = p->egid;
	pb->cgroup_id = p->cgroup_id;
	pb->exe_inode = p->exe_ino;
	pb->exe_dev = p->exe_dev;
	pb->argv_truncated = p->argv_truncated;
	pb->comm = vg_arena_strdup(a, p->comm);
	if (p->exe)
		pb->exe = vg_arena_strdup(a, p->exe);
	if (p->cwd)
		pb->cwd = vg_arena_strdup(a, p->cwd);
	user = vg_user_name(&s->users, p->uid);
	if (user)
		pb->user = vg_arena_strdup(a, user);
	for (size_t i = 0; i < p->args_len; i++)
		argc += p->args[i] == '\0';
	if (argc) {
		const char *arg = p->args;

		pb->argv = vg_arena_alloc(a, argc * sizeof(*pb->argv));
		if (!pb->argv)
			return NULL;
		for (size_t i = 0; i < argc; i++) {
			size_t n = strlen(arg);

			pb->argv[i] = vg_arena_strndup(a, arg, n);
			if (!pb->argv[i])
				return NULL;
			arg += n + 1;
		}
		pb->n_argv = argc;
	}
	if (!pb->comm || (p->exe && !pb->exe) || (p->cwd && !pb->cwd))
		return NULL;
	return pb;
}

static int vg_push(struct vg_sensor *s, Vigil__V1__Event *ev)
{
	if (s->nevents == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		Vigil__V1__Event **n = realloc(s->events, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->events = n;
		s->cap = cap;
	}
	s->events[s->nevents++] = ev;
	return 0;
}

/* Emit a process event about p (already updated), with its parent from the table. */
static int vg_emit(struct vg_sensor *s, uint64_t ts_boot_ns, Vigil__V1__ProcessAction action,
		   const struct vg_proc *p, uint32_t exit_code)
{
	struct vg_arena *a = &s->arena;
	Vigil__V1__Event *ev = vg_arena_alloc(a, sizeof(*ev));
	Vigil__V1__ProcessEvent *pe = vg_arena_alloc(a, sizeof(*pe));
	const struct vg_proc *parent = vg_pt_get(&s->pt, p->ppid);

	if (!ev || !pe)
		return -ENOMEM;
	vigil__v1__event__init(ev);
	vigil__v1__process_event__init(pe);
	ev->report_id = s->next_report_id++;
	ev->time_ns = vg_epoch(s, ts_boot_ns);
	ev->body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev->process = pe;
	pe->action = action;
	pe->process = vg_pb_process(s, p);
	if (!pe->process)
		return -ENOMEM;
	if (parent && parent != p) {
		const struct vg_proc *gp = vg_pt_get(&s->pt, parent->ppid);

		pe->parent = vg_pb_process(s, parent);
		if (!pe->parent)
			return -ENOMEM;
		if (gp && gp->exe) {
			pe->grandparent_exe = vg_arena_strdup(a, gp->exe);
			if (!pe->grandparent_exe)
				return -ENOMEM;
		}
	}
	if (action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED) {
		/* exit_code as wait(2) encodes it */
		pe->exit_signal = exit_code & 0x7f;
		pe->exit_code = pe->exit_signal ? 0 : (exit_code >> 8) & 0xff;
		pe->core_dumped = !!(exit_code & 0x80);
	}
	return vg_push(s, ev);
}

static int vg_on_exec(struct vg_sensor *s, const struct vg_exec_event *e, size_t size)
{
	const char *tail = (const char *)(e + 1);
	size_t tail_len = size - sizeof(*e);
	struct vg_proc *p;
	const char *path, *argv, *cwd;

	if ((size_t)e->path_len + e->argv_len + e->cwd_len > tail_len || !e->path_len ||
	    !e->cwd_len || tail[e->path_len - 1] ||
	    tail[e->path_len + e->argv_len + e->cwd_len - 1])
		return -EBADMSG;
	if (e->argv_len && tail[e->path_len + e->argv_len - 1])
		return -EBADMSG;
	path = tail;
	argv = tail + e->path_len;
	cwd = argv + e->argv_len;

	p = vg_pt_upsert(&s->pt, e->task.tgid);
	if (!p)
		return -ENOMEM;
	vg_proc_from_task(p, &e->task);
	p->exe_ino = e->exe_ino;
	p->exe_dev = e->exe_dev;
	p->argv_truncated = !!(e->hdr.flags & VG_F_ARGV_TRUNC);
	if (vg_proc_set_str(&p->exe, path) || vg_proc_set_str(&p->cwd, cwd) ||
	    vg_proc_set_args(p, argv, e->argv_len))
		return -ENOMEM;
	return vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED, p, 0);
}

static int vg_on_fork(struct vg_sensor *s, const struct vg_fork_event *e)
{
	struct vg_proc *child = vg_pt_upsert(&s->pt, e->task.tgid);
	const struct vg_proc *parent;

	if (!child)
		return -ENOMEM;
	/* The child runs its parent's image until it execs. */
	parent = vg_pt_get(&s->pt, e->task.ppid);
	if (parent && vg_proc_copy_image(child, parent))
		return -ENOMEM;
	vg_proc_from_task(child, &e->task);
	return vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED, child, 0);
}

static int vg_on_exit(struct vg_sensor *s, const struct vg_exit_event *e)
{
	struct vg_proc *p = vg_pt_upsert(&s->pt, e->task.tgid);
	int err;

	if (!p)
		return -ENOMEM;
	vg_proc_from_task(p, &e->task);
	err = vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED, p,
		      e->exit_code);
	vg_pt_remove(&s->pt, e->task.tgid);
	return err;
}

int vg_sensor_record(struct vg_sensor *s, const void *data, size_t size)
{
	const struct vg_event_hdr *h = data;
	int err = -EBADMSG;

	if (size < sizeof(*h) || h->size > size)
		goto bad;
	switch (h->type) {
	case VG_EV_EXEC:
		if (h->size < sizeof(struct vg_exec_event))
			goto bad;
		err = vg_on_exec(s, data, h->size);
		break;
	case VG_EV_FORK:
		if (h->size < sizeof(struct vg_fork_event))
			goto bad;
		err = vg_on_fork(s, data);
		break;
	case VG_EV_EXIT:
		if (h->size < sizeof(struct vg_exit_event))
			goto bad;
		err = vg_on_exit(s, data);
		break;
	default:
		goto bad; /* a type this vigild does not know */
	}
	if (err)
		goto lost;
	s->received++;
	return 0;
bad:
	err = -EBADMSG;
lost:
	s->lost++;
	return err;
}

void vg_sensor_batch_fill(struct vg_sensor *s, Vigil__V1__Batch *b)
{
	b->events = s->events;
	b->n_events = s->nevents;
}

void vg_sensor_batch_done(struct vg_sensor *s)
{
	s->nevents = 0;
	vg_arena_reset(&s->arena);
}
