// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

struct vg_user {
	struct vg_user *next;
	uint32_t uid;
	char name[];
};

void vg_users_init(struct vg_users *u, const char *path)
{
	memset(u, 0, sizeof(*u));
	u->path = path;
}

void vg_users_free(struct vg_users *u)
{
	while (u->list) {
		struct vg_user *n = u->list->next;

		free(u->list);
		u->list = n;
	}
}

static void vg_users_load(struct vg_users *u)
{
	char line[1024];
	FILE *f;

	vg_users_free(u);
	u->loaded = time(NULL);
	f = fopen(u->path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *name = line, *c1 = strchr(line, ':'), *c2, *end;
		unsigned long uid;
		struct vg_user *e;

		if (!c1)
			continue;
		c2 = strchr(c1 + 1, ':');
		if (!c2)
			continue;
		uid = strtoul(c2 + 1, &end, 10);
		if (end == c2 + 1 || *end != ':')
			continue;
		e = malloc(sizeof(*e) + (size_t)(c1 - name) + 1);
		if (!e)
			break;
		e->uid = (uint32_t)uid;
		memcpy(e->name, name, (size_t)(c1 - name));
		e->name[c1 - name] = '\0';
		e->next = u->list;
		u->list = e;
	}
	fclose(f);
}

static const char *vg_users_find(struct vg_users *u, uint32_t uid)
{
	for (struct vg_user *e = u->list; e; e = e->next)
		if (e->uid == uid)
			return e->name;
	return NULL;
}

const char *vg_user_name(struct vg_users *u, uint32_t uid)
{
	const char *n;

	if (!u->loaded)
		vg_users_load(u);
	n = vg_users_find(u, uid);
	if (!n && time(NULL) - u->loaded >= 5) {
		vg_users_load(u);
		n = vg_users_find(u, uid);
	}
	return n;
}
