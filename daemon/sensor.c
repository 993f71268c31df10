// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dns.h"
#include "esc.h"
#include "log.h"
#include "names.h"
#include "sensor.h"
#include "vigil_abi.h"

#define VG_PROCTABLE_MAX (1u << 20)
#define VG_DD_PATHS 4096 /* dedup keys whose path vigild remembers for summaries */

struct vg_dd_path {
	struct vg_lim_key key;
	char *path;
};
/* A process message whose image digests the worker is computing. */
struct vg_hfill {
	Vigil__V1__Process *pb;
	struct vg_hash_key key;
};

/* How long an exited process stays in the table for events still in other rings. */
#define VG_EXITED_KEEP_NS (2ull * 1000000000)

int vg_sensor_init(struct vg_sensor *s, const char *procfs, const char *passwd)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = vg_pt_init(&s->pt, VG_PROCTABLE_MAX);
	if (err)
		return err;
	s->paths = calloc(VG_DD_PATHS, sizeof(*s->paths));
	if (!s->paths)
		return -ENOMEM;
	vg_users_init(&s->users, passwd);
	s->procfs = procfs;
	s->next_report_id = 1;
	vg_sensor_sync_clock(s);
	if (procfs) {
		err = vg_pt_scan(&s->pt, procfs);
		if (err < 0)
			return err;
	}
	return 0;
}

int vg_sensor_fidelity(struct vg_sensor *s, uint64_t hash_max, int hash_wait_ms)
{
	int err;

	s->stat_files = 1;
	s->cgroups = malloc(sizeof(*s->cgroups));
	if (!s->cgroups)
		return -ENOMEM;
	if (vg_cgroups_init(s->cgroups, NULL)) {
		/* No cgroup v2 mount: no container columns, everything else as usual. */
		vg_cgroups_free(s->cgroups);
		free(s->cgroups);
		s->cgroups = NULL;
	}
	if (!hash_max)
		return 0;
	s->hash_wait_ms = hash_wait_ms;
	err = vg_hasher_start(&s->hasher, hash_max);
	return err;
}

void vg_sensor_free(struct vg_sensor *s)
{
	vg_hasher_stop(s->hasher);
	if (s->cgroups) {
		vg_cgroups_free(s->cgroups);
		free(s->cgroups);
	}
	vg_pt_free(&s->pt);
	vg_users_free(&s->users);
	vg_distros_free(&s->distros);
	vg_arena_free(&s->arena);
	free(s->events);
	free(s->fills);
	for (size_t i = 0; i < s->nqueue; i++)
		free(s->queue[i]);
	free(s->queue);
	for (size_t i = 0; s->paths && i < VG_DD_PATHS; i++)
		free(s->paths[i].path);
	free(s->paths);
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

/* The kernel's dev_t encoding of a st_dev, as exe_dev carries it. */
static uint32_t vg_kdev(dev_t d)
{
	return (uint32_t)(major(d) << 20 | minor(d));
}

/* fd, when it is open on the image (ino, kdev) the kernel named; else closed and -1. */
static int vg_image_fd(int fd, const struct vg_proc *p, struct stat *st)
{
	if (fd < 0)
		return -1;
	if (fstat(fd, st) || st->st_ino != p->exe_ino || vg_kdev(st->st_dev) != p->exe_dev ||
	    !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * First sight of p's image: open the file the kernel exec'd (/proc/PID/exe
 * while the process lives, else its path, either only when device and inode
 * are the kernel's) and hand it to the hasher, unless the cache knows it.
 */
static void vg_hash_prepare(struct vg_sensor *s, struct vg_proc *p)
{
	char link[64];
	struct stat st;
	int fd = -1;

	if (!s->hasher || p->hash_state)
		return;
	p->hash_state = 2;
	p->hkey = (struct vg_hash_key){ 0 }; /* a previous image's, until this one is opened */
	if (!p->exe || !p->exe_ino)
		return; /* kernel threads, fileless images: no file */
	if (s->procfs) {
		snprintf(link, sizeof(link), "%s/%u/exe", s->procfs, p->pid);
		fd = vg_image_fd(open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY), p, &st);
	}
	if (fd < 0)
		fd = vg_image_fd(open(p->exe, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY), p,
				 &st);
	if (fd < 0) {
		s->hstats.gone++;
		return;
	}
	p->hkey = (struct vg_hash_key){ .dev = st.st_dev,
					.ino = st.st_ino,
					.size = (uint64_t)st.st_size,
					.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
						    st.st_mtim.tv_nsec };
	p->hash_state = 1;
	switch (vg_hasher_submit(s->hasher, fd, &p->hkey)) {
	case VG_HS_ABSENT:
		s->hstats.queue_full++;
		p->hash_state = 2; /* its size is still known */
		break;
	case VG_HS_DONE:
		s->hstats.cached++;
		break;
	case VG_HS_TOO_LARGE:
		s->hstats.too_large++;
		break;
	case VG_HS_UNREADABLE:
		s->hstats.unreadable++;
		break;
	case VG_HS_PENDING:
		break;
	}
}

static uint8_t *vg_arena_dup(struct vg_arena *a, const void *v, size_t n)
{
	uint8_t *d = vg_arena_alloc(a, n);

	if (d)
		memcpy(d, v, n);
	return d;
}

static int vg_pb_digests(struct vg_sensor *s, Vigil__V1__Process *pb, const struct vg_hash_val *v)
{
	pb->sha256.data = vg_arena_dup(&s->arena, v->sha256, sizeof(v->sha256));
	pb->sha1.data = vg_arena_dup(&s->arena, v->sha1, sizeof(v->sha1));
	if (!pb->sha256.data || !pb->sha1.data)
		return -ENOMEM;
	pb->sha256.len = sizeof(v->sha256);
	pb->sha1.len = sizeof(v->sha1);
	return 0;
}

/* What vigild adds about p's image and cgroup: digests, size, container. */
static int vg_pb_image(struct vg_sensor *s, const struct vg_proc *p, Vigil__V1__Process *pb)
{
	struct vg_hash_val v;

	if (s->cgroups) {
		const struct vg_container *c = vg_cgroup_container(s->cgroups, p->cgroup_id);

		if (c && c->id[0] && !(pb->container_id = vg_arena_strdup(&s->arena, c->id)))
			return -ENOMEM;
		if (c && c->name[0] && !(pb->container_name = vg_arena_strdup(&s->arena, c->name)))
			return -ENOMEM;
	}
	if (!s->hasher || !p->hash_state || !p->hkey.ino)
		return 0;
	pb->exe_size = p->hkey.size;
	if (p->hash_state != 1)
		return 0;
	switch (vg_hasher_get(s->hasher, &p->hkey, &v)) {
	case VG_HS_DONE:
		return vg_pb_digests(s, pb, &v);
	case VG_HS_PENDING:
		if (s->nfills == s->fcap) {
			size_t cap = s->fcap ? s->fcap * 2 : 64;
			struct vg_hfill *n = realloc(s->fills, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			s->fills = n;
			s->fcap = cap;
		}
		s->fills[s->nfills++] = (struct vg_hfill){ .pb = pb, .key = p->hkey };
		return 0;
	default:
		return 0;
	}
}

void vg_sensor_hash_settle(struct vg_sensor *s)
{
	uint64_t hashed, unreadable, done;
	struct vg_hash_val v;

	if (!s->hasher || !s->nfills)
		return;
	vg_hasher_counts(s->hasher, &hashed, &unreadable, &done);
	if (s->hash_wait_ms > 0 && s->hash_stalled_at != done + 1) {
		s->hash_stalled_at = 0;
		if (vg_hasher_wait(s->hasher, s->hash_wait_ms) == -ETIMEDOUT) {
			vg_hasher_counts(s->hasher, &hashed, &unreadable, &done);
			s->hash_stalled_at = done + 1;
		}
	}
	for (size_t i = 0; i < s->nfills; i++) {
		/* Out of memory here leaves the event without digests: it is still sent. */
		if (vg_hasher_get(s->hasher, &s->fills[i].key, &v) != VG_HS_DONE ||
		    vg_pb_digests(s, s->fills[i].pb, &v))
			s->hstats.late++;
	}
	s->nfills = 0;
}

void vg_sensor_hash_stats(struct vg_sensor *s, struct vg_hash_stats *out)
{
	uint64_t hashed = 0, unreadable = 0, done;

	*out = s->hstats;
	if (s->hasher)
		vg_hasher_counts(s->hasher, &hashed, &unreadable, &done);
	out->hashed = hashed;
	out->unreadable += unreadable;
}

static Vigil__V1__Process *vg_pb_process(struct vg_sensor *s, const struct vg_proc *p)
{
	struct vg_arena *a = &s->arena;
	Vigil__V1__Process *pb = vg_arena_alloc(a, sizeof(*pb));
	struct vg_distro *d = vg_distro_of(&s->distros, p->pidns);
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
	pb->stdin_socket = p->stdin_socket;
	pb->stdout_socket = p->stdout_socket;
	pb->comm = vg_arena_strdup(a, p->comm);
	if (p->exe)
		pb->exe = vg_arena_strdup(a, p->exe);
	if (p->cwd)
		pb->cwd = vg_arena_strdup(a, p->cwd);
	/* In a WSL distribution, its own users: the VM root's /etc/passwd is another system's. */
	user = vg_user_name(d ? &d->users : &s->users, p->uid);
	if (user)
		pb->user = vg_arena_strdup(a, user);
	if (d)
		pb->distribution = vg_arena_strdup(a, d->name);
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
	if (!pb->comm || (p->exe && !pb->exe) || (p->cwd && !pb->cwd) || (user && !pb->user) ||
	    (d && !pb->distribution))
		return NULL;
	if (vg_pb_image(s, p, pb))
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

/* The acting process, its parent and its grandparent's image, as every event carries them. */
struct vg_lineage {
	Vigil__V1__Process *process, *parent;
	char *grandparent_exe;
};

static int vg_lineage(struct vg_sensor *s, const struct vg_actor *a, struct vg_lineage *l)
{
	memset(l, 0, sizeof(*l));
	if (s->hasher) {
		vg_hash_prepare(s, vg_pt_get(&s->pt, a->proc->pid));
		if (a->parent)
			vg_hash_prepare(s, vg_pt_get(&s->pt, a->parent->pid));
	}
	l->process = vg_pb_process(s, a->proc);
	if (!l->process)
		return -ENOMEM;
	if (a->parent) {
		l->parent = vg_pb_process(s, a->parent);
		if (!l->parent)
			return -ENOMEM;
		if (a->grandparent_exe) {
			l->grandparent_exe = vg_arena_strdup(&s->arena, a->grandparent_exe);
			if (!l->grandparent_exe)
				return -ENOMEM;
		}
	}
	return 0;
}

static Vigil__V1__Event *vg_new_event(struct vg_sensor *s, uint64_t ts_boot_ns)
{
	Vigil__V1__Event *ev = vg_arena_alloc(&s->arena, sizeof(*ev));

	if (!ev)
		return NULL;
	vigil__v1__event__init(ev);
	ev->report_id = s->next_report_id++;
	ev->time_ns = vg_epoch(s, ts_boot_ns);
	return ev;
}

/* A process event about a's process. */
/* env: an exec's loader variables (env_len bytes of NUL-terminated strings), else NULL. */
static int vg_emit(struct vg_sensor *s, uint64_t ts_boot_ns, Vigil__V1__ProcessAction action,
		   const struct vg_actor *a, uint32_t exit_code, const char *env, size_t env_len)
{
	Vigil__V1__Event *ev = vg_new_event(s, ts_boot_ns);
	Vigil__V1__ProcessEvent *pe = vg_arena_alloc(&s->arena, sizeof(*pe));
	struct vg_lineage l;

	if (!ev || !pe || vg_lineage(s, a, &l))
		return -ENOMEM;
	vigil__v1__process_event__init(pe);
	ev->body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev->process = pe;
	pe->action = action;
	pe->process = l.process;
	pe->parent = l.parent;
	pe->grandparent_exe = l.grandparent_exe;
	if (action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED) {
		/* exit_code as wait(2) encodes it */
		pe->exit_signal = exit_code & 0x7f;
		pe->exit_code = pe->exit_signal ? 0 : (exit_code >> 8) & 0xff;
		pe->core_dumped = !!(exit_code & 0x80);
	}
	for (size_t n = 0; env && n < env_len; n += strlen(env + n) + 1) {
		char **v = pe->loader_env;

		pe->loader_env = vg_arena_alloc(&s->arena, (pe->n_loader_env + 1) * sizeof(*v));
		if (!pe->loader_env)
			return -ENOMEM;
		if (pe->n_loader_env)
			memcpy(pe->loader_env, v, pe->n_loader_env * sizeof(*v));
		pe->loader_env[pe->n_loader_env++] = (char *)env + n;
	}
	return vg_push(s, ev);
}

/* A detail of a security event: a number, or text when text is set. */
struct vg_det {
	const char *name;
	long long num;
	const char *text;
};
#define VG_DET_NUM(n, v)                           \
	{                                          \
		.name = (n), .num = (long long)(v) \
	}
#define VG_DET_TEXT(n, t)                \
	{                                \
		.name = (n), .text = (t) \
	}

static int vg_emit_security(struct vg_sensor *s, uint64_t ts_boot_ns, const struct vg_actor *a,
			    const char *action, const char *file_path, const struct vg_det *det,
			    size_t ndet)
{
	Vigil__V1__Event *ev = vg_new_event(s, ts_boot_ns);
	Vigil__V1__SecurityEvent *se = vg_arena_alloc(&s->arena, sizeof(*se));
	struct vg_lineage l;

	if (!ev || !se || vg_lineage(s, a, &l))
		return -ENOMEM;
	vigil__v1__security_event__init(se);
	ev->body_case = VIGIL__V1__EVENT__BODY_SECURITY;
	ev->security = se;
	se->action_type = (char *)action;
	se->process = l.process;
	se->parent = l.parent;
	se->grandparent_exe = l.grandparent_exe;
	if (file_path && !(se->file_path = vg_arena_strdup(&s->arena, file_path)))
		return -ENOMEM;
	/* The host writes them as AdditionalFields: JSON is built on one side only. */
	if (ndet) {
		Vigil__V1__Detail *d = vg_arena_alloc(&s->arena, ndet * sizeof(*d));

		se->details = vg_arena_alloc(&s->arena, ndet * sizeof(*se->details));
		if (!d || !se->details)
			return -ENOMEM;
		for (size_t i = 0; i < ndet; i++) {
			vigil__v1__detail__init(&d[i]);
			d[i].name = (char *)det[i].name;
			if (det[i].text) {
				d[i].value_case = VIGIL__V1__DETAIL__VALUE_TEXT;
				d[i].text = vg_arena_strdup(&s->arena, det[i].text);
				if (!d[i].text)
					return -ENOMEM;
			} else {
				d[i].value_case = VIGIL__V1__DETAIL__VALUE_NUMBER;
				d[i].number = det[i].num;
			}
			se->details[i] = &d[i];
		}
		se->n_details = ndet;
	}
	return vg_push(s, ev);
}

#define VG_NDET(a) (sizeof(a) / sizeof((a)[0]))

static int vg_on_exec(struct vg_sensor *s, const struct vg_exec_event *e, size_t size)
{
	const char *tail = (const char *)(e + 1);
	size_t tail_len = size - sizeof(*e);
	struct vg_actor a;
	const char *path, *argv, *cwd, *env;
	int err;

	if ((size_t)e->path_len + e->argv_len + e->cwd_len + e->env_len > tail_len ||
	    !e->path_len || !e->cwd_len || tail[e->path_len - 1] ||
	    tail[e->path_len + e->argv_len + e->cwd_len - 1])
		return -EBADMSG;
	if (e->argv_len && tail[e->path_len + e->argv_len - 1])
		return -EBADMSG;
	path = tail;
	argv = tail + e->path_len;
	cwd = argv + e->argv_len;
	env = cwd + e->cwd_len;
	if (e->env_len && env[e->env_len - 1])
		return -EBADMSG;

	if (vg_pt_exec(&s->pt, e, path, argv, cwd, &a))
		return -ENOMEM;
	err = vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED, &a, 0, env,
		      e->env_len);
	if (!err && e->hdr.flags & VG_F_FILELESS)
		err = vg_emit_security(s, e->hdr.ts_boot_ns, &a, "FilelessExec", path, NULL, 0);
	if (!err && (e->task.euid != e->task.uid || e->task.egid != e->task.gid)) {
		char cap[24];

		/* A set-user-ID or set-group-ID image: the exec changed the credentials. */
		snprintf(cap, sizeof(cap), "0x%llx", (unsigned long long)e->cap_effective);
		const struct vg_det det[] = {
			VG_DET_TEXT("Via", "exec"),	  VG_DET_NUM("Uid", e->task.uid),
			VG_DET_NUM("Euid", e->task.euid), VG_DET_NUM("Gid", e->task.gid),
			VG_DET_NUM("Egid", e->task.egid), VG_DET_TEXT("CapEffective", cap),
		};
		err = vg_emit_security(s, e->hdr.ts_boot_ns, &a, "PrivilegeChange", path, det,
				       VG_NDET(det));
	}
	return err;
}

static int vg_on_fork(struct vg_sensor *s, const struct vg_fork_event *e)
{
	struct vg_actor a;

	if (vg_pt_fork(&s->pt, e, &a))
		return -ENOMEM;
	return vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED, &a, 0, NULL,
		       0);
}

static int vg_on_exit(struct vg_sensor *s, const struct vg_exit_event *e)
{
	struct vg_actor a;

	if (vg_pt_exit(&s->pt, e, &a))
		return -ENOMEM;
	return vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED, &a,
		       e->exit_code, NULL, 0);
}

int vg_path_join(char *out, size_t size, const char *base, const char *rel)
{
	char tmp[2 * VG_PATH_MAX + 2];
	size_t n = 0;
	const char *p;

	if (!rel || !*rel)
		snprintf(tmp, sizeof(tmp), "%s", base ? base : "/");
	else if (rel[0] == '/')
		snprintf(tmp, sizeof(tmp), "%s", rel);
	else
		snprintf(tmp, sizeof(tmp), "%s/%s", base ? base : "", rel);
	/* Lexical: "." goes, ".." takes the previous component away, "//" is "/". */
	out[0] = '\0';
	for (p = tmp; *p;) {
		const char *c = p;
		size_t len;

		while (*c == '/')
			c++;
		len = strcspn(c, "/");
		p = c + len;
		if (!len || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--;
			out[n] = '\0';
			continue;
		}
		if (n + 1 + len + 1 > size)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, c, len);
		n += len;
		out[n] = '\0';
	}
	if (!n) {
		if (size < 2)
			return -ENAMETOOLONG;
		strcpy(out, "/");
	}
	return 0;
}

/* The tail strings of a record: each length counts its NUL; 0 means absent. */
static int vg_tail_str(const char **cur, const char *end, uint16_t len, const char **out)
{
	*out = NULL;
	if (!len)
		return 0;
	if (*cur + len > end || (*cur)[len - 1])
		return -EBADMSG;
	*out = *cur;
	*cur += len;
	return 0;
}

static struct vg_dd_path *vg_dd_slot(struct vg_sensor *s, const struct vg_lim_key *k)
{
	uint64_t h = (k->tgid * 0x9e3779b97f4a7c15ull) ^ (k->obj * 0xc2b2ae3d27d4eb4full) ^
		     (k->obj2 << 7) ^ k->op;

	return &s->paths[(h ^ (h >> 29)) % VG_DD_PATHS];
}

/* Remember the path of a dedup key, for a summary that may come later. */
static void vg_dd_remember(struct vg_sensor *s, const struct vg_file_event *e, const char *path)
{
	struct vg_lim_key k = {
		.tgid = e->task.tgid,
		.class = VG_CLASS_FILE,
		.op = (uint16_t)e->op,
		.obj = e->ino,
		.obj2 = e->dev | (uint64_t)(e->open_flags & (O_ACCMODE | O_TRUNC | O_APPEND)) << 32
	};
	struct vg_dd_path *slot = vg_dd_slot(s, &k);

	if (slot->path && !memcmp(&slot->key, &k, sizeof(k)))
		return;
	free(slot->path);
	slot->key = k;
	slot->path = strdup(path);
}

static const char *const vg_file_actions[] = {
	[VG_FILE_CREATE] = "FileCreated",	  [VG_FILE_MODIFY] = "FileModified",
	[VG_FILE_DELETE] = "FileDeleted",	  [VG_FILE_RENAME] = "FileRenamed",
	[VG_FILE_CHMOD] = "FileModeChanged",	  [VG_FILE_CHOWN] = "FileOwnerChanged",
	[VG_FILE_SYMLINK] = "SymlinkCreated",	  [VG_FILE_LINK] = "HardLinkCreated",
	[VG_FILE_MKDIR] = "DirectoryCreated",	  [VG_FILE_XATTR] = "ExtendedAttributeSet",
	[VG_FILE_ATTR] = "FileAttributesChanged", [VG_FILE_TIMES] = "FileTimestampChanged",
	[VG_FILE_IMAGE_LOAD] = "ImageLoaded",
};

/*
 * A shell running a file without #! itself (its execve failed with
 * ENOEXEC): the process starts the script without an exec, so it is
 * reported as one, its command line the shell and the file as the shell was
 * given it, relative to the directory the kernel resolved; the host finds
 * the script there as for "sh FILE" (ScriptPath).
 */
static int vg_on_script(struct vg_sensor *s, const struct vg_file_event *e, struct vg_actor *a,
			const char *base, const char *rel)
{
	Vigil__V1__ProcessEvent *pe;
	Vigil__V1__Process *p;
	char **argv;
	int err;

	if (!rel || !*rel)
		return -EBADMSG;
	err = vg_emit(s, e->hdr.ts_boot_ns, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED, a, 0, NULL,
		      0);
	if (err)
		return err;
	pe = s->events[s->nevents - 1]->process;
	p = pe->process;
	argv = vg_arena_alloc(&s->arena, 2 * sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[0] = p->exe && *p->exe ? p->exe : p->comm;
	argv[1] = vg_arena_strdup(&s->arena, rel);
	p->cwd = vg_arena_strdup(&s->arena, base);
	if (!argv[0] || !argv[1] || !p->cwd)
		return -ENOMEM;
	p->argv = argv;
	p->n_argv = 2;
	p->argv_truncated = 0;
	pe->shell_fallback = 1;
	return 0;
}

/* What the operations added after the first ones carry besides the file. */
static int vg_file_extra(struct vg_sensor *s, const struct vg_file_event *e,
			 Vigil__V1__FileEvent *fe, const char *base2, const char *rel2)
{
	char target[2 * VG_PATH_MAX];

	switch (e->op) {
	case VG_FILE_SYMLINK:
		/* the target as given: the kernel stores it unresolved */
		if (!rel2)
			return -EBADMSG;
		fe->link_target = vg_arena_strdup(&s->arena, rel2);
		return fe->link_target ? 0 : -ENOMEM;
	case VG_FILE_LINK:
		if (!base2 || vg_path_join(target, sizeof(target), base2, rel2))
			return -EBADMSG;
		fe->link_target = vg_arena_strdup(&s->arena, target);
		return fe->link_target ? 0 : -ENOMEM;
	case VG_FILE_XATTR:
		if (!rel2)
			return -EBADMSG;
		fe->attribute_name = vg_arena_strdup(&s->arena, rel2);
		fe->attribute_size = e->xattr_size;
		/* VFS_CAP_FLAGS_EFFECTIVE is bit 0 of magic_etc; the revision is the top byte */
		if (e->cap_magic) {
			fe->capabilities = e->cap_permitted[0] | (uint64_t)e->cap_permitted[1]
									 << 32;
			fe->capabilities_effective = e->cap_magic & 1;
		}
		return fe->attribute_name ? 0 : -ENOMEM;
	case VG_FILE_ATTR:
		fe->file_flags = e->mode;
		fe->previous_known = !!(e->open_flags & VG_OLD_KNOWN);
		fe->previous_file_flags =
			fe->previous_known ? e->old_flags & (VG_FS_IMMUTABLE_FL | VG_FS_APPEND_FL) :
					     0;
		return 0;
	case VG_FILE_TIMES:
		fe->times_given = e->open_flags & (VG_TIMES_ATIME | VG_TIMES_MTIME);
		fe->access_time_ns = fe->times_given & VG_TIMES_ATIME ? e->atime_ns : 0;
		fe->modification_time_ns = fe->times_given & VG_TIMES_MTIME ? e->mtime_ns : 0;
		fe->previous_known = !!(e->open_flags & VG_OLD_KNOWN);
		if (fe->previous_known) {
			fe->previous_access_time_ns = e->old_atime_ns;
			fe->previous_modification_time_ns = e->old_mtime_ns;
		}
		return fe->times_given ? 0 : -EBADMSG;
	default:
		return 0;
	}
}

static int vg_on_file(struct vg_sensor *s, const struct vg_file_event *e, size_t size)
{
	const char *cur = (const char *)(e + 1), *end = (const char *)e + size;
	const char *base, *rel, *base2, *rel2;
	char path[2 * VG_PATH_MAX], prev[2 * VG_PATH_MAX];
	Vigil__V1__Event *ev;
	Vigil__V1__FileEvent *fe;
	struct vg_lineage l;
	struct vg_actor a;

	if (vg_tail_str(&cur, end, e->base_len, &base) ||
	    vg_tail_str(&cur, end, e->rel_len, &rel) ||
	    vg_tail_str(&cur, end, e->base2_len, &base2) ||
	    vg_tail_str(&cur, end, e->rel2_len, &rel2) || !base || !e->op ||
	    e->op > VG_FILE_IMAGE_LOAD)
		return -EBADMSG;
	if (vg_path_join(path, sizeof(path), base, rel))
		return -EBADMSG;
	if (vg_pt_actor_at(&s->pt, &e->task, e->hdr.ts_boot_ns, s->procfs, &a))
		return -ENOMEM;
	if (e->op == VG_FILE_EXEC_SCRIPT)
		return vg_on_script(s, e, &a, base, rel);
	if (e->op == VG_FILE_SENSITIVE_READ) {
		const struct vg_det det[] = { VG_DET_NUM("Suppressed", e->supp_count) };

		vg_dd_remember(s, e, path);
		return vg_emit_security(s, e->hdr.ts_boot_ns, &a, "SensitiveFileRead", path, det,
					e->supp_count ? 1 : 0);
	}

	ev = vg_new_event(s, e->hdr.ts_boot_ns);
	fe = vg_arena_alloc(&s->arena, sizeof(*fe));
	if (!ev || !fe || vg_lineage(s, &a, &l))
		return -ENOMEM;
	vigil__v1__file_event__init(fe);
	ev->body_case = VIGIL__V1__EVENT__BODY_FILE;
	ev->file = fe;
	fe->action_type = (char *)vg_file_actions[e->op];
	fe->process = l.process;
	fe->parent = l.parent;
	fe->grandparent_exe = l.grandparent_exe;
	fe->inode = e->ino;
	fe->mode = e->op == VG_FILE_ATTR ? 0 : e->mode;
	if (e->supp_count && e->op <= VG_FILE_SENSITIVE_READ) {
		fe->suppressed = e->supp_count;
		fe->suppressed_first_ns = vg_epoch(s, e->supp_first_ns);
		fe->suppressed_last_ns = vg_epoch(s, e->supp_last_ns);
	}
	if (e->op == VG_FILE_MODIFY)
		vg_dd_remember(s, e, path);
	fe->open_flags = e->op <= VG_FILE_SENSITIVE_READ ? e->open_flags : 0;
	fe->path_from_caller = rel != NULL;
	if (vg_file_extra(s, e, fe, base2, rel2))
		return -EBADMSG;
	if (e->op == VG_FILE_CHOWN) {
		fe->owner_uid = e->uid;
		fe->owner_gid = e->gid;
	}
	if (e->op == VG_FILE_RENAME) {
		/* The event's path is where the file is now; previous_path where it was. */
		if (!base2 || vg_path_join(prev, sizeof(prev), base2, rel2))
			return -EBADMSG;
		fe->previous_path = vg_arena_strdup(&s->arena, path);
		fe->path = vg_arena_strdup(&s->arena, prev);
	} else {
		fe->path = vg_arena_strdup(&s->arena, path);
	}
	if (!fe->path || (e->op == VG_FILE_RENAME && !fe->previous_path))
		return -ENOMEM;
	/*
	 * Only records that name the device (the opens, an image's mmap) can
	 * pass the check below: those made from an fd (fchmod, fchown,
	 * fsetxattr, chattr, futimens) carry the inode alone, and no mounted
	 * file system has device 0, so they would pay a path lookup that
	 * always fails (a third of vigild's time in a flood of fchmod).
	 */
	if (s->stat_files && e->op != VG_FILE_DELETE && e->ino && e->dev) {
		struct stat st;

		/*
		 * The size now, of the same file (inode and device): a path reused
		 * since is not it. Asked of the file system and not read by the
		 * kernel (i_size) because an open's event is made when the open
		 * returns, before the writes that follow it: the kernel's size
		 * then is the size before them (0 after O_TRUNC or a create).
		 */
		if (!lstat(fe->path, &st) && st.st_ino == e->ino && vg_kdev(st.st_dev) == e->dev &&
		    S_ISREG(st.st_mode))
			fe->size = (uint64_t)st.st_size;
	}
	return vg_push(s, ev);
}

static const char *const vg_net_actions[] = {
	[VG_NET_CONNECT] = "ConnectionAttempt",
	[VG_NET_CONNECTED] = "ConnectionSuccess",
	[VG_NET_CONNECT_FAIL] = "ConnectionFailed",
	[VG_NET_ACCEPT] = "InboundConnectionAccepted",
	[VG_NET_LISTEN] = "ListeningConnectionCreated",
	[VG_NET_UDP_CONNECT] = "ConnectionAttempt",
	[VG_NET_UDP_SEND] = "ConnectionAttempt",
};

static char *vg_ip(struct vg_arena *a, uint16_t family, const uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf)))
		return NULL;
	return vg_arena_strdup(a, buf);
}

/*
 * The name of a DNS question (labels as sent, q bytes) as dotted text into
 * out, and the type after it (-1: cut off); -EBADMSG for what no resolver
 * sends: a label over 63 bytes, a compression pointer, a name over 253.
 */
static int vg_dns_name(const uint8_t *q, size_t n, char *out, size_t size, int *qtype)
{
	size_t i = 0, o = 0;

	*qtype = -1;
	out[0] = '\0';
	while (i < n && q[i]) {
		size_t len = q[i++];

		if (len > 63 || i + len > n || o + len + 2 > size || o + len + 1 > 254)
			return -EBADMSG;
		if (o)
			out[o++] = '.';
		memcpy(out + o, q + i, len);
		o += len;
		out[o] = '\0';
		i += len;
	}
	if (i + 3 <= n) /* the name's end, then the type */
		*qtype = q[i + 1] << 8 | q[i + 2];
	return 0;
}

static int vg_on_dns(struct vg_sensor *s, const struct vg_net_event *e, size_t size,
		     struct vg_actor *a)
{
	const uint8_t *q = (const uint8_t *)(e + 1);
	char name[256], *ip;
	int qtype;

	if (!e->dns_len || sizeof(*e) + e->dns_len > size || q[e->dns_len - 1] ||
	    vg_dns_name(q, e->dns_len - 1, name, sizeof(name), &qtype))
		return -EBADMSG;
	ip = vg_ip(&s->arena, e->family, e->raddr);
	if (!ip)
		return -ENOMEM;
	const struct vg_det det[] = {
		VG_DET_TEXT("DnsQueryString", name),
		VG_DET_TEXT("RemoteIP", ip),
		VG_DET_NUM("RemotePort", e->rport),
		VG_DET_NUM("QueryType", qtype),
	};
	return vg_emit_security(s, e->hdr.ts_boot_ns, a, "DnsQuery", NULL, det,
				qtype < 0 ? VG_NDET(det) - 1 : VG_NDET(det));
}

/*
 * The answers of r as text, into the arena: what 'A' the addresses ("a,b"),
 * 'C' the canonical names, '*' every answer ("NAME TYPE DATA; ...").
 */
static char *vg_dns_list(struct vg_arena *arena, const struct vg_dns_reply *r, char what)
{
	char *buf = NULL, *out;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int first = 1;

	if (!f)
		return NULL;
	for (unsigned int i = 0; i < r->nanswers; i++) {
		const struct vg_dns_answer *an = &r->an[i];

		if ((what == 'A' && an->type == 5) || (what == 'C' && an->type != 5))
			continue;
		if (!first)
			fputs(what == '*' ? "; " : ",", f);
		first = 0;
		if (what == '*')
			fprintf(f, "%s %s %s", an->name, vg_dns_type_name(an->type), an->data);
		else
			fputs(an->data, f);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	out = vg_arena_strdup(arena, buf);
	free(buf);
	return out;
}

/*
 * A reply to a query the process sent (DnsResponse): the question, the
 * response code and the A, AAAA and CNAME answers. A reply the parser
 * refuses (lib/dns.c: pointer loops, lengths past the end) is no event and
 * counted as lost, as a malformed query is.
 */
static int vg_on_dns_answer(struct vg_sensor *s, const struct vg_net_event *e, size_t size,
			    struct vg_actor *a)
{
	static const char *const rcodes[] = { "NOERROR",  "FORMERR", "SERVFAIL",
					      "NXDOMAIN", "NOTIMP",  "REFUSED" };
	struct vg_det det[16];
	struct vg_dns_reply *r;
	char *ip, *addrs, *names, *all;
	size_t n = 0;
	int err;

	if (sizeof(*e) + e->dns_len > size || e->dns_len > e->dns_full)
		return -EBADMSG;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = vg_dns_reply_parse((const uint8_t *)(e + 1), e->dns_len, e->dns_full, r);
	if (err) {
		vg_log(VG_DEBUG, "a DNS reply to pid %u refused: %s at byte %zu", e->task.tgid,
		       r->why, r->at);
		free(r);
		return err;
	}
	ip = vg_ip(&s->arena, e->family, e->raddr);
	addrs = vg_dns_list(&s->arena, r, 'A');
	names = vg_dns_list(&s->arena, r, 'C');
	all = vg_dns_list(&s->arena, r, '*');
	if (!ip || !addrs || !names || !all) {
		free(r);
		return -ENOMEM;
	}
	det[n++] = (struct vg_det)VG_DET_TEXT("DnsQueryString", r->qname);
	if (r->qtype >= 0)
		det[n++] = (struct vg_det)VG_DET_NUM("QueryType", r->qtype);
	det[n++] = (struct vg_det)VG_DET_NUM("ResponseCode", r->rcode);
	if (r->rcode < VG_NDET(rcodes))
		det[n++] = (struct vg_det)VG_DET_TEXT("ResponseCodeName", rcodes[r->rcode]);
	det[n++] = (struct vg_det)VG_DET_TEXT("IPAddresses", addrs);
	det[n++] = (struct vg_det)VG_DET_TEXT("CanonicalNames", names);
	det[n++] = (struct vg_det)VG_DET_TEXT("Answers", all);
	det[n++] = (struct vg_det)VG_DET_NUM("AnswerCount", r->ancount);
	if (r->others)
		det[n++] = (struct vg_det)VG_DET_NUM("OtherAnswers", r->others);
	det[n++] = (struct vg_det)VG_DET_TEXT("RemoteIP", ip);
	det[n++] = (struct vg_det)VG_DET_NUM("RemotePort", e->rport);
	if (r->truncated)
		det[n++] = (struct vg_det)VG_DET_NUM("Truncated", 1);
	if (r->cut)
		det[n++] = (struct vg_det)VG_DET_NUM("AnswersCut", 1);
	err = vg_emit_security(s, e->hdr.ts_boot_ns, a, "DnsResponse", NULL, det, n);
	free(r);
	return err;
}

static int vg_on_net(struct vg_sensor *s, const struct vg_net_event *e, size_t size)
{
	Vigil__V1__Event *ev;
	Vigil__V1__NetworkEvent *ne;
	struct vg_lineage l;
	struct vg_actor a;
	int err;

	if (!e->op || e->op > VG_NET_DNS_ANSWER || (e->family != AF_INET && e->family != AF_INET6))
		return -EBADMSG;
	if (e->op == VG_NET_DNS_QUERY || e->op == VG_NET_DNS_ANSWER) {
		if (vg_pt_actor_at(&s->pt, &e->task, e->hdr.ts_boot_ns, s->procfs, &a))
			return -ENOMEM;
		return e->op == VG_NET_DNS_QUERY ? vg_on_dns(s, e, size, &a) :
						   vg_on_dns_answer(s, e, size, &a);
	}
	err = vg_pt_actor_at(&s->pt, &e->task, e->hdr.ts_boot_ns, s->procfs, &a);
	ev = vg_new_event(s, e->hdr.ts_boot_ns);
	ne = vg_arena_alloc(&s->arena, sizeof(*ne));
	if (err || !ev || !ne || vg_lineage(s, &a, &l))
		return -ENOMEM;
	vigil__v1__network_event__init(ne);
	ev->body_case = VIGIL__V1__EVENT__BODY_NETWORK;
	ev->network = ne;
	ne->action_type = (char *)vg_net_actions[e->op];
	ne->process = l.process;
	ne->parent = l.parent;
	ne->grandparent_exe = l.grandparent_exe;
	ne->protocol = e->proto == IPPROTO_UDP ? "Udp" : "Tcp";
	ne->local_ip = vg_ip(&s->arena, e->family, e->laddr);
	ne->remote_ip = vg_ip(&s->arena, e->family, e->raddr);
	ne->local_port = e->lport;
	ne->remote_port = e->rport;
	if (!ne->local_ip || !ne->remote_ip)
		return -ENOMEM;
	return vg_push(s, ev);
}

/*
 * An event about another process (e->target: ptrace, signals): its image as
 * the file and its uid as the last detail, both left out when vigild does
 * not know it (an exit that came first leaves its entry a while).
 */
static int vg_emit_at_target(struct vg_sensor *s, const struct vg_sec_event *e,
			     const struct vg_actor *a, const char *action, struct vg_det *det,
			     size_t ndet)
{
	const struct vg_proc *target = vg_pt_get(&s->pt, e->target);

	if (target)
		det[ndet - 1].num = target->uid;
	return vg_emit_security(s, e->hdr.ts_boot_ns, a, action, target ? target->exe : NULL, det,
				target ? ndet : ndet - 1);
}

static int vg_on_sec(struct vg_sensor *s, const struct vg_sec_event *e, size_t size)
{
	const char *cur = (const char *)(e + 1), *end = (const char *)e + size, *path;
	struct vg_actor a;

	if (vg_tail_str(&cur, end, e->path_len, &path))
		return -EBADMSG;
	if (vg_pt_actor_at(&s->pt, &e->task, e->hdr.ts_boot_ns, s->procfs, &a))
		return -ENOMEM;
	switch (e->op) {
	case VG_SEC_SETID: {
		const struct vg_det det[] = {
			VG_DET_TEXT("Via", "syscall"),	VG_DET_NUM("Syscall", e->target),
			VG_DET_NUM("Uid", e->task.uid), VG_DET_NUM("Euid", e->task.euid),
			VG_DET_NUM("Gid", e->task.gid), VG_DET_NUM("Egid", e->task.egid),
		};
		return vg_emit_security(s, e->hdr.ts_boot_ns, &a, "PrivilegeChange", NULL, det,
					VG_NDET(det));
	}
	case VG_SEC_PTRACE: {
		struct vg_det det[] = {
			VG_DET_NUM("TargetProcessId", e->target),
			VG_DET_NUM("Request", e->arg),
			VG_DET_NUM("TargetAccountUid", 0),
		};

		return vg_emit_at_target(s, e, &a, "PtraceAttach", det, VG_NDET(det));
	}
	case VG_SEC_SIGNAL: {
		struct vg_det det[] = {
			VG_DET_NUM("TargetProcessId", e->target),
			VG_DET_NUM("Signal", e->arg),
			VG_DET_TEXT("SignalName", e->arg == SIGKILL ? "SIGKILL" :
						  e->arg == SIGTERM ? "SIGTERM" :
						  e->arg == SIGSTOP ? "SIGSTOP" :
								      "other"),
			VG_DET_NUM("TargetAccountUid", 0),
		};

		return vg_emit_at_target(s, e, &a, "SignalSent", det, VG_NDET(det));
	}
	case VG_SEC_MODULE: {
		/* The loader's image (0: unknown), for rules that exclude the sensor by it. */
		const struct vg_det det[] = {
			VG_DET_NUM("Result", e->ret),
			VG_DET_NUM("ExeInode", a.proc->exe_ino),
			VG_DET_NUM("ExeDev", a.proc->exe_dev),
		};
		return vg_emit_security(s, e->hdr.ts_boot_ns, &a, "KernelModuleLoad", path, det,
					VG_NDET(det));
	}
	case VG_SEC_BPF_LOAD: {
		char name[sizeof(e->name) + 1];

		snprintf(name, sizeof(name), "%.*s", (int)strnlen(e->name, sizeof(e->name)),
			 e->name);
		const struct vg_det det[] = {
			VG_DET_TEXT("ProgramName", name),
			VG_DET_NUM("ProgramType", e->target),
			VG_DET_NUM("Result", e->ret),
			VG_DET_NUM("ExeInode", a.proc->exe_ino),
			VG_DET_NUM("ExeDev", a.proc->exe_dev),
		};
		return vg_emit_security(s, e->hdr.ts_boot_ns, &a, "BpfProgramLoad", NULL, det,
					VG_NDET(det));
	}
	default:
		return -EBADMSG;
	}
}

static int vg_on_summary(struct vg_sensor *s, const struct vg_summary_event *e)
{
	Vigil__V1__Event *ev = vg_new_event(s, e->hdr.ts_boot_ns);
	Vigil__V1__Suppression *su = vg_arena_alloc(&s->arena, sizeof(*su));
	struct vg_proc *p = vg_pt_get(&s->pt, e->key.tgid);
	struct vg_proc anon = { .pid = e->key.tgid };
	const struct vg_dd_path *slot;

	if (!ev || !su)
		return -ENOMEM;
	if (e->key.class >= VG_CLASS_MAX ||
	    (e->reason != VG_CNT_DEDUP && e->reason != VG_CNT_RATELIMIT))
		return -EBADMSG;
	vigil__v1__suppression__init(su);
	ev->body_case = VIGIL__V1__EVENT__BODY_SUPPRESSION;
	ev->suppression = su;
	su->reason = e->reason == VG_CNT_DEDUP ? "Deduplicated" : "RateLimited";
	su->event_class = (char *)vg_class_name(e->key.class);
	su->count = e->count;
	su->first_ns = e->first_ns ? vg_epoch(s, e->first_ns) : 0;
	su->last_ns = e->last_ns ? vg_epoch(s, e->last_ns) : 0;
	if (e->reason == VG_CNT_DEDUP && e->key.class == VG_CLASS_FILE) {
		su->action_type = e->key.op == VG_FILE_SENSITIVE_READ ?
					  "SensitiveFileRead" :
				  e->key.op < sizeof(vg_file_actions) / sizeof(vg_file_actions[0]) ?
					  (char *)vg_file_actions[e->key.op] :
					  NULL;
		slot = vg_dd_slot(s, &e->key);
		if (slot->path && !memcmp(&slot->key, &e->key, sizeof(e->key)) &&
		    !(su->path = vg_arena_strdup(&s->arena, slot->path)))
			return -ENOMEM;
	}
	su->process = vg_pb_process(s, p ? p : &anon);
	return su->process ? vg_push(s, ev) : -ENOMEM;
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
	case VG_EV_FILE:
		if (h->size < sizeof(struct vg_file_event))
			goto bad;
		err = vg_on_file(s, data, h->size);
		break;
	case VG_EV_NET:
		if (h->size < sizeof(struct vg_net_event))
			goto bad;
		err = vg_on_net(s, data, h->size);
		break;
	case VG_EV_SEC:
		if (h->size < sizeof(struct vg_sec_event))
			goto bad;
		err = vg_on_sec(s, data, h->size);
		break;
	case VG_EV_SUMMARY:
		if (h->size < sizeof(struct vg_summary_event))
			goto bad;
		err = vg_on_summary(s, data);
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

struct vg_queued {
	uint64_t ts;
	uint64_t seq; /* arrival */
	size_t size;
	unsigned char data[];
};

int vg_sensor_queue(struct vg_sensor *s, const void *data, size_t size)
{
	const struct vg_event_hdr *h = data;
	struct vg_queued *q;

	if (s->nqueue == s->qcap) {
		size_t cap = s->qcap ? s->qcap * 2 : 1024;
		struct vg_queued **n = realloc(s->queue, cap * sizeof(*n));

		if (!n)
			goto lost;
		s->queue = n;
		s->qcap = cap;
	}
	q = malloc(sizeof(*q) + size);
	if (!q)
		goto lost;
	/* A record too short for a header is judged (and counted) when handled. */
	q->ts = size >= sizeof(*h) ? h->ts_boot_ns : 0;
	q->seq = s->nqueue;
	q->size = size;
	memcpy(q->data, data, size);
	s->queue[s->nqueue++] = q;
	return 0;
lost:
	s->lost++;
	return -ENOMEM;
}

static int vg_queued_cmp(const void *a, const void *b)
{
	const struct vg_queued *x = *(const struct vg_queued *const *)a;
	const struct vg_queued *y = *(const struct vg_queued *const *)b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int vg_sensor_settle(struct vg_sensor *s, size_t max, int (*full)(void *ctx), void *ctx)
{
	size_t i;
	int err = 0;

	qsort(s->queue, s->nqueue, sizeof(*s->queue), vg_queued_cmp);
	for (i = 0; i < s->nqueue && !err;) {
		struct vg_queued *q = s->queue[i++];

		vg_sensor_record(s, q->data, q->size); /* a bad record is counted as lost */
		free(q);
		if (s->nevents >= max && full)
			err = full(ctx);
	}
	/* What a failed flush left: kept in order for the next settle. */
	memmove(s->queue, s->queue + i, (s->nqueue - i) * sizeof(*s->queue));
	s->nqueue -= i;
	for (i = 0; i < s->nqueue; i++)
		s->queue[i]->seq = i;
	return err;
}

void vg_sensor_batch_fill(struct vg_sensor *s, Vigil__V1__Batch *b)
{
	b->events = s->events;
	b->n_events = s->nevents;
}

void vg_sensor_batch_done(struct vg_sensor *s)
{
	uint64_t now = (uint64_t)vg_clock_ns(CLOCK_BOOTTIME);

	s->nevents = 0;
	s->nfills = 0;
	vg_arena_reset(&s->arena);
	if (now > VG_EXITED_KEEP_NS)
		vg_pt_sweep_exited(&s->pt, now - VG_EXITED_KEEP_NS);
}
