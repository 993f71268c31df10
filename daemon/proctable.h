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

struct vg_proc {
	uint32_t pid;
	uint32_t ppid;
	uint32_t uid, gid, euid, egid;
	uint64_t start_boot_ns;
	uint64_t cgroup_id;
	uint64_t exe_ino;
	uint32_t exe_dev;
	int argv_truncated;
	int stdin_socket, stdout_socket; /* at its last exec */
	uint64_t exited_boot_ns; /* when its exit was seen; kept a while for late events */
	char comm[16];
	char *exe; /* malloc'd, may be NULL */
	char *cwd; /* malloc'd, may be NULL */
	char *args; /* argv strings, each NUL-terminated, args_len bytes in all */
	size_t args_len;
};

struct vg_proctable {
	struct vg_proc **slots; /* open addressing, linear probing, tombstones */
	size_t cap; /* power of two */
	size_t used; /* live entries */
	size_t filled; /* live entries + tombstones */
	size_t max; /* entries kept at most; inserts beyond evict nothing, fail */
};

int vg_pt_init(struct vg_proctable *t, size_t max);
void vg_pt_free(struct vg_proctable *t);
struct vg_proc *vg_pt_get(struct vg_proctable *t, uint32_t pid);
/*
 * The entry for pid, created empty when absent (its old contents are kept
 * when present). NULL on allocation failure or when the table is full.
 */
struct vg_proc *vg_pt_upsert(struct vg_proctable *t, uint32_t pid);
/* 0 when removed, -ENOENT when absent. */
int vg_pt_remove(struct vg_proctable *t, uint32_t pid);
size_t vg_pt_count(const struct vg_proctable *t);
/* Remove the processes that exited before `before` (boot-time ns); returns how many. */
size_t vg_pt_sweep_exited(struct vg_proctable *t, uint64_t before);

/* Replace a string or argument area of p; 0 or -ENOMEM. */
int vg_proc_set_str(char **dst, const char *src);
int vg_proc_set_args(struct vg_proc *p, const char *args, size_t len);
/* Copy the image (exe, args, cwd, comm, creds, inode) of src into dst. */
int vg_proc_copy_image(struct vg_proc *dst, const struct vg_proc *src);

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
/* Fill p from procfs root/pid; 0, or -ENOENT when the process is gone. */
int vg_pt_read_proc(struct vg_proc *p, const char *procfs, uint32_t pid);

#endif
