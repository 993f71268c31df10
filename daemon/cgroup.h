/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The container a process runs in, from its cgroup v2 path: the runtimes
 * name the cgroup after the container (docker-<id>.scope, /docker/<id>,
 * cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope,
 * systemd-nspawn's machine-NAME.scope). The kernel reports a cgroup id;
 * vigild opens the cgroup by that id (a cgroupfs file handle), reads its
 * path once and keeps the answer per id.
 */
#ifndef VG_CGROUP_H
#define VG_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define VG_CONTAINER_ID_MAX 65 /* 64 hex digits and the NUL */
#define VG_CONTAINER_NAME_MAX 128
#define VG_CGROUP_CACHE 256 /* cgroup ids remembered (direct-mapped) */

struct vg_container {
	char id[VG_CONTAINER_ID_MAX];
	char name[VG_CONTAINER_NAME_MAX];
};

/*
 * The container of a cgroup path (absolute, or relative to the cgroup
 * root): 1 with *c filled (id or name may be empty), 0 when the path names
 * no container.
 */
int vg_cgroup_parse(const char *path, struct vg_container *c);

struct vg_cgroup_ent {
	uint64_t id;
	struct vg_container c; /* empty strings: no container */
};

struct vg_cgroups {
	int root_fd; /* the cgroup v2 mount, -1 when there is none */
	struct vg_cgroup_ent *cache; /* VG_CGROUP_CACHE entries */
	uint64_t lookups; /* paths read (cache misses) */
};

/* Open the cgroup v2 mount under root ("/sys/fs/cgroup" when NULL). 0 or a negative errno. */
int vg_cgroups_init(struct vg_cgroups *g, const char *root);
void vg_cgroups_free(struct vg_cgroups *g);
/* The container of cgroup id, NULL when none (or the cgroup is gone). */
const struct vg_container *vg_cgroup_container(struct vg_cgroups *g, uint64_t id);

#endif
