/* SPDX-License-Identifier: GPL-2.0-only */
/* A bump allocator for one batch: everything a batch points to goes at once. */
#ifndef VG_ARENA_H
#define VG_ARENA_H

#include <stddef.h>

struct vg_arena_chunk;

struct vg_arena {
	struct vg_arena_chunk *head;
	size_t bytes; /* allocated in all chunks, for memory accounting */
};

void *vg_arena_alloc(struct vg_arena *a, size_t size); /* zeroed, 8-byte aligned */
char *vg_arena_strndup(struct vg_arena *a, const char *s, size_t n);
char *vg_arena_strdup(struct vg_arena *a, const char *s);
void vg_arena_reset(struct vg_arena *a); /* free everything but one chunk */
void vg_arena_free(struct vg_arena *a);

#endif
