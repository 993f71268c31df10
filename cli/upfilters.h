/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `vigil host --upstream`: the filter set of the host's machine group, from
 * vigil server (GET /v1/filters), fetched at start and every
 * VG_UPF_POLL_MS after, by a thread of its own with its own curl handle.
 * The connection loop takes each new set and sends it to its sensors.
 */
#ifndef VG_UPFILTERS_H
#define VG_UPFILTERS_H

#include <stddef.h>

#include "upstream.h"

#define VG_UPF_POLL_MS 2000

struct vg_upfilters;

/* Start fetching with u's servers, CA and token: 0 or -errno (logged). */
int vg_upfilters_open(struct vg_upfilters **f, const struct vg_upstream *u);

/*
 * A checked set fetched since the last call: 1 with *text (malloc'd, the
 * caller's) and *len, and what it is ("group G version V") in label; 0 when
 * there is none.
 */
int vg_upfilters_take(struct vg_upfilters *f, char **text, size_t *len, char *label,
		      size_t label_size);

/* Stop the thread (a fetch under way is abandoned) and free f; NULL is fine. */
void vg_upfilters_close(struct vg_upfilters *f);

#endif
