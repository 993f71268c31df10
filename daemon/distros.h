/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The WSL distributions the host names (a DISTROS frame, lib/frame.h): PID
 * namespace -> name, and the distribution's own user database, read through
 * its init process's root (/proc/INITPID/root/etc/passwd). One vigild in the
 * WSL VM's root namespace sees every distribution's processes; this says
 * which distribution each one is in.
 */
#ifndef VG_DISTROS_H
#define VG_DISTROS_H

#include <stddef.h>
#include <stdint.h>

#include "users.h"

#define VG_DISTROS_MAX 64

struct vg_distro {
	uint32_t pidns, initpid;
	int running;
	char name[128], flavor[64], version[64];
	char passwd[96]; /* PROCFS/INITPID/root/etc/passwd */
	struct vg_users users;
};

struct vg_distros {
	struct vg_distro *list;
	size_t n;
};

/*
 * Replace the map with the frame's text: one distribution a line,
 * "PIDNS\tINITPID\tRUNNING\tNAME\tFLAVOR\tVERSION" (RUNNING 1 or 0). A bad
 * text leaves the map as it was: -EINVAL with the line and what is wrong in
 * why. procfs: where /proc is.
 */
int vg_distros_set(struct vg_distros *d, const char *procfs, const char *text, size_t len,
		   char *why, size_t why_size);
void vg_distros_free(struct vg_distros *d);
/* The distribution of a PID namespace, or NULL. */
struct vg_distro *vg_distro_of(struct vg_distros *d, uint32_t pidns);
/* The running distributions as DeviceInfo.OSDistribution says them: "Name (flavor version), ...". */
void vg_distros_os(const struct vg_distros *d, char *out, size_t size);

#endif
