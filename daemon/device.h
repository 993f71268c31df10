/* SPDX-License-Identifier: GPL-2.0-only */
/* The identity vigild reports for this machine (DeviceInfo in docs/schema.md). */
#ifndef VG_DEVICE_H
#define VG_DEVICE_H

#include "vigil.pb-c.h"

#define VG_VERSION "0.1.0"

struct vg_device {
	char device_id[80];
	char device_name[256];
	char os_version[128];
	char os_arch[32];
	char os_distribution[512]; /* /etc/os-release; on WSL, the running distributions */
	char os_release[128]; /* what /etc/os-release says */
	char host_device_id[80];
	char machine_group[128];
	char sensor_exe[4096];
	int wsl;
	char *tags[1];
	Vigil__V1__DeviceInfo pb;
};

/*
 * Fill d from the machine: /etc/machine-id, the hostname, uname, os-release,
 * WSL detection, and vigild's own executable (/proc/self/exe: path, inode,
 * device). Non-NULL arguments override what was found.
 */
void vg_device_init(struct vg_device *d, const char *device_id, const char *device_name,
		    const char *host_device_id, const char *machine_group);

#endif
