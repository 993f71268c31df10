// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "proctable.h"

/* A removed slot: probing goes on past it, inserts may reuse it. */
static struct vg_proc vg_tombstone;
#define TOMB (&vg_tombstone)

static size_t vg_hash(uint32_t pid, size_t cap)
{
	return (pid * 2654435761u) & (cap - 1);
}

int vg_pt_init(struct vg_proctable *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->cap = 1024;
	t->max = max;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	return t->slots ? 0 : -ENOMEM;
}

static void vg_proc_free(struct vg_proc *p)
{
	while (p) {
		struct vg_proc *prev = p->prev;

		free(p->exe);
		free(p->cwd);
		free(p->args);
		free(p);
		p = prev;
	}
}

/* Free the images older than p (p->prev on). */
static void vg_proc_cut(struct vg_proc *p)
{
	vg_proc_free(p->prev);
	p->prev = NULL;
}

void vg_pt_free(struct vg_proctable *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] && t->slots[i] != TOMB)
			vg_proc_free(t->slots[i]);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static struct vg_proc **vg_pt_find(struct vg_proctable *t, uint32_t pid,
				   struct vg_proc ***free_slot)
{
	size_t i = vg_hash(pid, t->cap);

	if (free_slot)
		*free_slot = NULL;
	for (size_t n = 0; n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
		struct vg_proc **s = &t->slots[i];

		if (!*s) {
			if (free_slot && !*free_slot)
				*free_slot = s;
			return NULL;
		}
		if (*s == TOMB) {
			if (free_slot && !*free_slot)
				*free_slot = s;
			continue;
		}
		if ((*s)->pid == pid)
			return s;
	}
	return NULL;
}

static int vg_pt_grow(struct vg_proctable *t)
{
	size_t cap = t->used * 4 > t->cap ? t->cap * 2 : t->cap; /* else just clear tombstones */
	struct vg_proc **old = t->slots;
	size_t old_cap = t->cap;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->cap = cap;
	t->filled = t->used;
	for (size_t i = 0; i < old_cap; i++) {
		struct vg_proc *p = old[i];
		size_t j;

		if (!p || p == TOMB)
			continue;
		j = vg_hash(p->pid, cap);
		while (t->slots[j])
			j = (j + 1) & (cap - 1);
		t->slots[j] = p;
	}
	free(old);
	return 0;
}

struct vg_proc *vg_pt_get(struct vg_proctable *t, uint32_t pid)
{
	struct vg_proc **s = vg_pt_find(t, pid, NULL);

	return s ? *s : NULL;
}

struct vg_proc *vg_pt_upsert(struct vg_proctable *t, uint32_t pid)
{
	struct vg_proc **s, **slot;
	struct vg_proc *p;

	s = vg_pt_find(t, pid, &slot);
	if (s)
		return *s;
	if (t->used >= t->max)
		return NULL;
	/* Keep the load (tombstones included) under 1/2 so probes stay short. */
	if ((t->filled + 1) * 2 > t->cap) {
		if (vg_pt_grow(t))
			return NULL;
		vg_pt_find(t, pid, &slot);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	if (*slot != TOMB)
		t->filled++;
	*slot = p;
	t->used++;
	return p;
}

int vg_pt_remove(struct vg_proctable *t, uint32_t pid)
{
	struct vg_proc **s = vg_pt_find(t, pid, NULL);

	if (!s)
		return -ENOENT;
	vg_proc_free(*s);
	*s = TOMB;
	t->used--;
	return 0;
}

size_t vg_pt_sweep_exited(struct vg_proctable *t, uint64_t before)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++) {
		struct vg_proc *p = t->slots[i];

		if (!p || p == TOMB)
			continue;
		/* An image replaced before `before` gets no more late events. */
		for (struct vg_proc *img = p; img->prev; img = img->prev) {
			if (img->image_boot_ns < before) {
				vg_proc_cut(img);
				break;
			}
		}
		if (!p->exited_boot_ns || p->exited_boot_ns >= before)
			continue;
		vg_proc_free(p);
		t->slots[i] = TOMB;
		t->used--;
		n++;
	}
	return n;
}

size_t vg_pt_count(const struct vg_proctable *t)
{
	return t->used;
}

static int vg_proc_set_str(char **dst, const char *src)
{
	char *n = NULL;

	if (src) {
		n = strdup(src);
		if (!n)
			return -ENOMEM;
	}
	free(*dst);
	*dst = n;
	return 0;
}

static int vg_proc_set_args(struct vg_proc *p, const char *args, size_t len)
{
	char *n = NULL;

	if (len) {
		n = malloc(len + 1);
		if (!n)
			return -ENOMEM;
		memcpy(n, args, len);
		n[len] = '\0';
	}
	free(p->args);
	p->args = n;
	p->args_len = len;
	return 0;
}

static int vg_proc_copy_image(struct vg_proc *dst, const struct vg_proc *src)
{
	if (dst == src)
		return 0;
	if (vg_proc_set_str(&dst->exe, src->exe) || vg_proc_set_str(&dst->cwd, src->cwd) ||
	    vg_proc_set_args(dst, src->args, src->args_len))
		return -ENOMEM;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->euid = src->euid;
	dst->egid = src->egid;
	dst->cgroup_id = src->cgroup_id;
	dst->exe_ino = src->exe_ino;
	dst->exe_dev = src->exe_dev;
	dst->pidns = src->pidns;
	dst->argv_truncated = src->argv_truncated;
	dst->stdin_socket = src->stdin_socket;
	dst->stdout_socket = src->stdout_socket;
	dst->hash_state = src->hash_state;
	dst->hkey = src->hkey;
	memcpy(dst->comm, src->comm, sizeof(dst->comm));
	return 0;
}

static ssize_t vg_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			total = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

/* Fill p from procfs root/pid; 0, or -ENOENT when the process is gone. */
static int vg_pt_read_proc(struct vg_proc *p, const char *procfs, uint32_t pid)
{
	char path[PATH_MAX], buf[4096], link[PATH_MAX];
	unsigned long long start_ticks = 0;
	unsigned int ppid = 0;
	struct stat st;
	ssize_t n;
	char *s;

	snprintf(path, sizeof(path), "%s/%u/stat", procfs, pid);
	n = vg_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ESRCH ? -ENOENT : (int)n;
	/* comm may hold spaces and parentheses: the fields follow the last ')'. */
	s = strrchr(buf, ')');
	if (!s)
		return -EINVAL;
	{
		char *open_paren = strchr(buf, '(');
		size_t clen = open_paren ? (size_t)(s - open_paren - 1) : 0;

		if (clen >= sizeof(p->comm))
			clen = sizeof(p->comm) - 1;
		if (open_paren)
			memcpy(p->comm, open_paren + 1, clen);
		p->comm[clen] = '\0';
	}
	if (sscanf(s + 2,
		   "%*c %u %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &ppid, &start_ticks) != 2)
		return -EINVAL;
	p->ppid = ppid;
	p->start_boot_ns = start_ticks * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));

	snprintf(path, sizeof(path), "%s/%u/status", procfs, pid);
	if (vg_read_file(path, buf, sizeof(buf)) > 0) {
		char *u = strstr(buf, "\nUid:"), *g = strstr(buf, "\nGid:");
		unsigned int r, e;

		if (u && sscanf(u + 5, "%u %u", &r, &e) == 2) {
			p->uid = r;
			p->euid = e;
		}
		if (g && sscanf(g + 5, "%u %u", &r, &e) == 2) {
			p->gid = r;
			p->egid = e;
		}
	}

	if (vg_pt_read_exe(procfs, pid, link, sizeof(link)) > 0 && vg_proc_set_str(&p->exe, link))
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%u/exe", procfs, pid);
	if (!stat(path, &st)) {
		/* The image the kernel holds, as an exec record names it (kernel dev_t encoding). */
		p->exe_ino = st.st_ino;
		p->exe_dev = (uint32_t)(major(st.st_dev) << 20 | minor(st.st_dev));
	}
	snprintf(path, sizeof(path), "%s/%u/cwd", procfs, pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (vg_proc_set_str(&p->cwd, link))
			return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/%u/ns/pid", procfs, pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		unsigned int ns;

		link[n] = '\0';
		if (sscanf(link, "pid:[%u]", &ns) == 1)
			p->pidns = ns;
	}
	snprintf(path, sizeof(path), "%s/%u/cmdline", procfs, pid);
	n = vg_read_file(path, buf, sizeof(buf));
	if (n > 0) {
		if (buf[n - 1] != '\0')
			n++; /* vg_read_file() terminated it */
		if (vg_proc_set_args(p, buf, (size_t)n))
			return -ENOMEM;
	}
	return 0;
}

int vg_pt_each_pid(const char *procfs, int (*fn)(void *ctx, uint32_t pid), void *ctx)
{
	struct dirent *d;
	DIR *dir = opendir(procfs);
	int n = 0, err = 0;

	if (!dir)
		return -errno;
	while (err >= 0 && (d = readdir(dir))) {
		char *end;
		unsigned long pid = strtoul(d->d_name, &end, 10);

		if (!isdigit((unsigned char)d->d_name[0]) || *end || !pid || pid > UINT32_MAX)
			continue;
		err = fn(ctx, (uint32_t)pid);
		n += err == 0;
	}
	closedir(dir);
	return err < 0 ? err : n;
}

int vg_pt_read_exe(const char *procfs, uint32_t pid, char *buf, size_t size)
{
	static const char deleted[] = " (deleted)";
	char path[64 + PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/exe", procfs, pid);
	n = readlink(path, buf, size - 1);
	if (n <= 0)
		return -ENOENT; /* gone, or a kernel thread */
	buf[n] = '\0';
	if ((size_t)n > sizeof(deleted) - 1 && !strcmp(buf + n - (sizeof(deleted) - 1), deleted))
		buf[n -= sizeof(deleted) - 1] = '\0';
	return (int)n;
}

struct vg_pt_scan_ctx {
	struct vg_proctable *t;
	const char *procfs;
};

static int vg_pt_scan_one(void *ctx, uint32_t pid)
{
	struct vg_pt_scan_ctx *c = ctx;
	struct vg_proc *p = vg_pt_upsert(c->t, pid);

	if (!p)
		return -ENOSPC;
	if (vg_pt_read_proc(p, c->procfs, pid)) {
		vg_pt_remove(c->t, pid); /* exited meanwhile */
		return 1;
	}
	return 0;
}

int vg_pt_scan(struct vg_proctable *t, const char *procfs)
{
	struct vg_pt_scan_ctx c = { t, procfs };
	int n = vg_pt_each_pid(procfs, vg_pt_scan_one, &c);

	/* A full table keeps what it holds, as before. */
	return n == -ENOSPC ? (int)vg_pt_count(t) : n;
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
	/* Only exec and fork records carry it; the others keep what the table knows. */
	if (t->pidns)
		p->pidns = t->pidns;
	memcpy(p->comm, t->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
}

/* p's parent and grandparent's image, from the table. */
static void vg_pt_lineage(struct vg_proctable *t, const struct vg_proc *p, struct vg_actor *a)
{
	const struct vg_proc *parent = vg_pt_get(t, p->ppid);

	a->proc = p;
	a->parent = NULL;
	a->grandparent_exe = NULL;
	if (parent && parent != p) {
		const struct vg_proc *gp = vg_pt_get(t, parent->ppid);

		a->parent = parent;
		a->grandparent_exe = gp ? gp->exe : NULL;
	}
}

/* Keep p's image as it is before an exec replaces it, for events from before the exec. */
static void vg_proc_push_image(struct vg_proc *p)
{
	struct vg_proc *old, *img;
	int n = 1;

	if (!p->exe && !p->args)
		return; /* nothing known to keep */
	old = calloc(1, sizeof(*old));
	if (!old)
		return; /* late events get the new image, as without history */
	old->pid = p->pid;
	old->ppid = p->ppid;
	old->start_boot_ns = p->start_boot_ns;
	old->image_boot_ns = p->image_boot_ns;
	if (vg_proc_copy_image(old, p)) {
		vg_proc_free(old);
		return;
	}
	old->prev = p->prev;
	p->prev = old;
	for (img = old; img->prev; img = img->prev)
		if (++n == VG_PT_IMAGES) {
			vg_proc_cut(img);
			break;
		}
}

int vg_pt_exec(struct vg_proctable *t, const struct vg_exec_event *e, const char *path,
	       const char *argv, const char *cwd, struct vg_actor *a)
{
	struct vg_proc *p = vg_pt_upsert(t, e->task.tgid);

	if (!p)
		return -ENOMEM;
	if (!(e->hdr.flags & VG_F_SNAPSHOT) && !p->exited_boot_ns)
		vg_proc_push_image(p);
	p->image_boot_ns = e->hdr.ts_boot_ns;
	vg_proc_from_task(p, &e->task);
	p->exe_ino = e->exe_ino;
	p->exe_dev = e->exe_dev;
	p->hash_state = 0;
	p->hkey = (struct vg_hash_key){ 0 };
	p->exited_boot_ns = 0;
	p->argv_truncated = !!(e->hdr.flags & VG_F_ARGV_TRUNC);
	p->stdin_socket = !!(e->hdr.flags & VG_F_STDIN_SOCK);
	p->stdout_socket = !!(e->hdr.flags & VG_F_STDOUT_SOCK);
	if (vg_proc_set_str(&p->exe, path) || vg_proc_set_str(&p->cwd, cwd) ||
	    vg_proc_set_args(p, argv, e->argv_len))
		return -ENOMEM;
	vg_pt_lineage(t, p, a);
	return 0;
}

int vg_pt_fork(struct vg_proctable *t, const struct vg_fork_event *e, struct vg_actor *a)
{
	struct vg_proc *child = vg_pt_upsert(t, e->task.tgid);
	const struct vg_proc *parent;

	if (!child)
		return -ENOMEM;
	parent = vg_pt_get(t, e->task.ppid);
	vg_proc_cut(child); /* a reused pid: the old process's images are not this one's */
	if (parent && vg_proc_copy_image(child, parent))
		return -ENOMEM;
	vg_proc_from_task(child, &e->task);
	child->exited_boot_ns = 0;
	child->image_boot_ns = e->hdr.ts_boot_ns;
	vg_pt_lineage(t, child, a);
	return 0;
}

int vg_pt_exit(struct vg_proctable *t, const struct vg_exit_event *e, struct vg_actor *a)
{
	struct vg_proc *p = vg_pt_upsert(t, e->task.tgid);

	if (!p)
		return -ENOMEM;
	vg_proc_from_task(p, &e->task);
	/*
	 * Keep the entry a while: the file and network rings are drained after
	 * the process ring, so this process's last file events may come next.
	 */
	p->exited_boot_ns = e->hdr.ts_boot_ns ? e->hdr.ts_boot_ns : 1;
	vg_pt_lineage(t, p, a);
	return 0;
}

int vg_pt_actor(struct vg_proctable *t, const struct vg_task *task, const char *procfs,
		struct vg_actor *a)
{
	return vg_pt_actor_at(t, task, 0, procfs, a);
}

int vg_pt_actor_at(struct vg_proctable *t, const struct vg_task *task, uint64_t ts_boot_ns,
		   const char *procfs, struct vg_actor *a)
{
	struct vg_proc *p = vg_pt_upsert(t, task->tgid), *img;

	if (!p)
		return -ENOMEM;
	/* Not seen before (started before the sensor and missed by the scan): ask procfs. */
	if (!p->exe && procfs)
		vg_pt_read_proc(p, procfs, task->tgid);
	/*
	 * An event from before the process's last exec (its record came after
	 * the exec's): the image it had then, with the account the event carries.
	 */
	img = p;
	while (ts_boot_ns && img->prev && img->image_boot_ns && ts_boot_ns < img->image_boot_ns)
		img = img->prev;
	vg_proc_from_task(img, task);
	vg_pt_lineage(t, img, a);
	return 0;
}
