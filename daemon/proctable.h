/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What vigild knows about each live process, keyed by pid (tgid): filled
 * from /proc at start, then kept current by fork, exec and exit events, so an
 * event can name its parent and grandparent without asking the kernel again.
 */
#ifndef VG_PROCTABLE_H
#define VG_PROCTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "vigil_abi.h"

struct vg_proc {
	uint32_t pid;
	uint32_t ppid;
	uint32_t uid, gid, euid, egid;
	uint64_t start_boot_ns;
	uint64_t cgroup_id;
	uint64_t exe_ino;
	uint32_t exe_dev;
	uint32_t pidns; /* inode of its PID namespace, 0 when unknown */
	int argv_truncated;
	int stdin_socket, stdout_socket; /* at its last exec */
	uint64_t exited_boot_ns; /* when its exit was seen; kept a while for late events */
	uint64_t image_boot_ns; /* when this image began (exec, or fork); 0: unknown */
	struct vg_proc *prev; /* the images before its execs, newest first, for late events */
	char comm[16];
	char *exe; /* malloc'd, may be NULL */
	char *cwd; /* malloc'd, may be NULL */
	char *args; /* argv strings, each NUL-terminated, args_len bytes in all */
	size_t args_len;
	/* Its image as vigild opened it (hash.h): 0 not looked at yet, 1 key known, 2 none. */
	uint8_t hash_state;
	struct vg_hash_key hkey; /* hash_state 1: hkey.size is the image's size */
};

struct vg_proctable {
	struct vg_proc **slots; /* open addressing, linear probing, tombstones */
	size_t cap; /* power of two */
	size_t used; /* live entries */
	size_t filled; /* live entries + tombstones */
	size_t max; /* entries kept at most; inserts beyond evict nothing, fail */
};

/*
 * What an event carries about the process that caused it: its entry (up to
 * date with the record), its parent's (NULL when unknown or the process
 * itself) and its grandparent's executable (NULL when unknown). Valid until
 * the next change to the table.
 */
struct vg_actor {
	const struct vg_proc *proc, *parent;
	const char *grandparent_exe;
};

int vg_pt_init(struct vg_proctable *t, size_t max);
void vg_pt_free(struct vg_proctable *t);

/*
 * One call per lifecycle event: each brings the entry up to date with the
 * record and fills *a for the encoder. 0, or -ENOMEM when the entry cannot
 * be created or its strings copied (the table is full, or no memory).
 */
/* An exec: the image (path, argv strings of argv_len bytes, cwd) is the record's. */
int vg_pt_exec(struct vg_proctable *t, const struct vg_exec_event *e, const char *path,
	       const char *argv, const char *cwd, struct vg_actor *a);
/* A fork: the child runs its parent's image until it execs; a reused pid starts a new life. */
int vg_pt_fork(struct vg_proctable *t, const struct vg_fork_event *e, struct vg_actor *a);
/* An exit: the entry stays a while for events still in other rings (vg_pt_sweep_exited). */
int vg_pt_exit(struct vg_proctable *t, const struct vg_exit_event *e, struct vg_actor *a);
/*
 * Any other event (file, network, security): the acting task's entry, read
 * from procfs (when not NULL) if the table has not seen the process before.
 */
int vg_pt_actor(struct vg_proctable *t, const struct vg_task *task, const char *procfs,
		struct vg_actor *a);
/*
 * The same for an event that happened at ts_boot_ns: a process that has
 * exec'd since is named with the image, command line and account it had
 * then (the last VG_PT_IMAGES images of a process are kept for this while
 * events from before an exec may still come, vg_pt_sweep_exited()).
 */
#define VG_PT_IMAGES 4
int vg_pt_actor_at(struct vg_proctable *t, const struct vg_task *task, uint64_t ts_boot_ns,
		   const char *procfs, struct vg_actor *a);

/* The entry for pid, NULL when absent: nothing is created or changed. */
struct vg_proc *vg_pt_get(struct vg_proctable *t, uint32_t pid);
/*
 * The entry for pid, created empty when absent (its old contents are kept
 * when present). NULL on allocation failure or when the table is full.
 */
struct vg_proc *vg_pt_upsert(struct vg_proctable *t, uint32_t pid);
/* 0 when removed, -ENOENT when absent. */
int vg_pt_remove(struct vg_proctable *t, uint32_t pid);
size_t vg_pt_count(const struct vg_proctable *t);
/*
 * Remove the processes that exited before `before` (boot-time ns), and the
 * earlier images of live ones replaced before it; returns how many processes.
 */
size_t vg_pt_sweep_exited(struct vg_proctable *t, uint64_t before);

/*
 * Add every process under procfs root (normally "/proc") to the table.
 * Returns the number added, or a negative errno when the root cannot be read.
 */
int vg_pt_scan(struct vg_proctable *t, const char *procfs);
/*
 * Call fn for every process under procfs root: fn returns 0 (counted), > 0
 * (skipped) or < 0 (stop, returned). Returns the count or a negative errno.
 */
int vg_pt_each_pid(const char *procfs, int (*fn)(void *ctx, uint32_t pid), void *ctx);
/* The executable path of procfs/pid, " (deleted)" cut; its length or -ENOENT. */
int vg_pt_read_exe(const char *procfs, uint32_t pid, char *buf, size_t size);

#endif
