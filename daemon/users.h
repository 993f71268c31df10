/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * uid -> account name from an /etc/passwd file, read directly rather than
 * through NSS so that a static vigild behaves the same in the WSL2 root
 * namespace as in a distribution.
 */
#ifndef VG_USERS_H
#define VG_USERS_H

#include <stdint.h>
#include <time.h>

struct vg_user;

struct vg_users {
	const char *path; /* normally /etc/passwd */
	struct vg_user *list;
	time_t loaded;
};

void vg_users_init(struct vg_users *u, const char *path);
void vg_users_free(struct vg_users *u);
/* The name, or NULL when unknown. Re-reads the file on a miss, at most every 5 s. */
const char *vg_user_name(struct vg_users *u, uint32_t uid);

#endif
