// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define VG_CHUNK 65536

struct vg_arena_chunk {
	struct vg_arena_chunk *next;
	size_t used, size;
	_Alignas(8) char data[];
};

void *vg_arena_alloc(struct vg_arena *a, size_t size)
{
	struct vg_arena_chunk *c = a->head;
	void *p;

	size = (size + 7) & ~(size_t)7;
	if (!c || c->used + size > c->size) {
		size_t cs = size > VG_CHUNK ? size : VG_CHUNK;

		c = malloc(sizeof(*c) + cs);
		if (!c)
			return NULL;
		c->size = cs;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->bytes += cs;
	}
	p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *vg_arena_strndup(struct vg_arena *a, const char *s, size_t n)
{
	char *d = vg_arena_alloc(a, n + 1);

	if (d)
		memcpy(d, s, n);
	return d;
}

char *vg_arena_strdup(struct vg_arena *a, const char *s)
{
	return vg_arena_strndup(a, s, strlen(s));
}

void vg_arena_reset(struct vg_arena *a)
{
	struct vg_arena_chunk *c = a->head, *keep = NULL;

	while (c) {
		struct vg_arena_chunk *next = c->next;

		if (!keep && c->size == VG_CHUNK) {
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		} else {
			free(c);
		}
		c = next;
	}
	a->head = keep;
	a->bytes = keep ? keep->size : 0;
}

void vg_arena_free(struct vg_arena *a)
{
	while (a->head) {
		struct vg_arena_chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	a->bytes = 0;
}
