// SPDX-License-Identifier: GPL-2.0-only
/* Container id and name from cgroup paths; cgroup id -> path through a cgroupfs file handle. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>

#include "cgroup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define VG_FILEID_KERNFS 0xfe /* the handle type cgroupfs uses: the 64-bit cgroup id */

static int vg_is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* c is "<prefix><64 hex><suffix>" exactly (len bytes): the id into out. */
static int vg_match_id(const char *c, size_t len, const char *prefix, const char *suffix, char *out)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);

	if (len != pl + 64 + sl || strncmp(c, prefix, pl) || strncmp(c + pl + 64, suffix, sl) ||
	    !vg_is_hex(c + pl, 64))
		return 0;
	memcpy(out, c + pl, 64);
	out[64] = '\0';
	return 1;
}

/* systemd's unit name escaping (\xNN) undone, into out. */
static void vg_unescape(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned int v;

		if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' &&
		    sscanf(s + i + 2, "%2x", &v) == 1 && v) {
			out[o++] = (char)v;
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

int vg_cgroup_parse(const char *path, struct vg_container *c)
{
	static const char *const scoped[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };
	const char *p = path, *prev = NULL;
	size_t prev_len = 0;
	int found = 0;

	memset(c, 0, sizeof(*c));
	/* The innermost component that names a container wins. */
	while (*p) {
		const char *comp;
		size_t len;

		while (*p == '/')
			p++;
		comp = p;
		len = strcspn(p, "/");
		p += len;
		if (!len)
			break;
		for (size_t i = 0; i < sizeof(scoped) / sizeof(scoped[0]); i++) {
			if (vg_match_id(comp, len, scoped[i], ".scope", c->id)) {
				c->name[0] = '\0';
				found = 1;
			}
		}
		if (prev && prev_len == 6 && !strncmp(prev, "docker", 6) &&
		    vg_match_id(comp, len, "", "", c->id)) {
			c->name[0] = '\0';
			found = 1;
		}
		if (len > 14 && !strncmp(comp, "machine-", 8) &&
		    !strncmp(comp + len - 6, ".scope", 6)) {
			c->id[0] = '\0';
			vg_unescape(comp + 8, len - 14, c->name, sizeof(c->name));
			found = 1;
		}
		prev = comp;
		prev_len = len;
	}
	return found;
}

int vg_cgroups_init(struct vg_cgroups *g, const char *root)
{
	const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };

	memset(g, 0, sizeof(*g));
	g->root_fd = -1;
	g->cache = calloc(VG_CGROUP_CACHE, sizeof(*g->cache));
	if (!g->cache)
		return -ENOMEM;
	for (size_t i = 0; i < 2 && g->root_fd < 0; i++) {
		struct statfs sf;
		int fd = open(root && !i ? root : roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (root && i)
			break;
		if (fd < 0)
			continue;
		if (fstatfs(fd, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
			close(fd);
			continue;
		}
		g->root_fd = fd;
	}
	return g->root_fd < 0 ? -ENOENT : 0;
}

void vg_cgroups_free(struct vg_cgroups *g)
{
	if (g->root_fd >= 0)
		close(g->root_fd);
	free(g->cache);
	memset(g, 0, sizeof(*g));
	g->root_fd = -1;
}

/* The path of cgroup id into buf (as the mount namespace sees it); 0 or a negative errno. */
static int vg_cgroup_path(struct vg_cgroups *g, uint64_t id, char *buf, size_t size)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = VG_FILEID_KERNFS } };
	char link[64];
	ssize_t n;
	int fd;

	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(g->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

const struct vg_container *vg_cgroup_container(struct vg_cgroups *g, uint64_t id)
{
	struct vg_cgroup_ent *e;
	char path[4096];

	if (!id || !g->cache || g->root_fd < 0)
		return NULL;
	e = &g->cache[(id * 0x9e3779b97f4a7c15ull >> 40) % VG_CGROUP_CACHE];
	if (e->id != id) {
		e->id = id;
		g->lookups++;
		if (vg_cgroup_path(g, id, path, sizeof(path)) || !vg_cgroup_parse(path, &e->c))
			memset(&e->c, 0, sizeof(e->c));
	}
	return e->c.id[0] || e->c.name[0] ? &e->c : NULL;
}
