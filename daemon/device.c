// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "device.h"

static void vg_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void vg_read_line(const char *path, char *dst, size_t size)
{
	FILE *f = fopen(path, "re");

	dst[0] = '\0';
	if (!f)
		return;
	if (fgets(dst, (int)size, f))
		dst[strcspn(dst, "\r\n")] = '\0';
	fclose(f);
}

static void vg_os_release(char *dst, size_t size)
{
	char line[256];
	FILE *f = fopen("/etc/os-release", "re");

	if (!f)
		f = fopen("/usr/lib/os-release", "re");
	vg_copy(dst, size, "Linux");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		v = line + 12;
		v[strcspn(v, "\r\n")] = '\0';
		if (*v == '"') {
			v++;
			v[strcspn(v, "\"")] = '\0';
		}
		vg_copy(dst, size, v);
		break;
	}
	fclose(f);
}

/*
 * This very executable, named as the kernel names the image of the processes
 * it reports (exe_inode, and exe_dev as the superblock's kernel dev_t).
 */
static void vg_sensor_exe(struct vg_device *d)
{
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", d->sensor_exe, sizeof(d->sensor_exe) - 1);

	if (n <= 0 || stat("/proc/self/exe", &st)) {
		d->sensor_exe[0] = '\0';
		return;
	}
	d->sensor_exe[n] = '\0';
	d->pb.sensor_exe = d->sensor_exe;
	d->pb.sensor_exe_inode = st.st_ino;
	d->pb.sensor_exe_dev = (uint32_t)(major(st.st_dev) << 20 | minor(st.st_dev));
}

void vg_device_init(struct vg_device *d, const char *device_id, const char *device_name,
		    const char *host_device_id, const char *machine_group)
{
	Vigil__V1__DeviceInfo *pb = &d->pb;
	struct utsname u;

	memset(d, 0, sizeof(*d));
	if (device_id)
		vg_copy(d->device_id, sizeof(d->device_id), device_id);
	else
		vg_read_line("/etc/machine-id", d->device_id, sizeof(d->device_id));
	if (uname(&u) == 0) {
		vg_copy(d->os_version, sizeof(d->os_version), u.release);
		vg_copy(d->os_arch, sizeof(d->os_arch), u.machine);
		/* WSL2 kernels say so in their release: 5.15.153.1-microsoft-standard-WSL2 */
		d->wsl = strstr(u.release, "microsoft") || strstr(u.release, "WSL");
		if (!device_id && !d->device_id[0])
			vg_copy(d->device_id, sizeof(d->device_id), u.nodename);
	}
	if (device_name)
		vg_copy(d->device_name, sizeof(d->device_name), device_name);
	else if (gethostname(d->device_name, sizeof(d->device_name) - 1))
		vg_copy(d->device_name, sizeof(d->device_name), "localhost");
	vg_os_release(d->os_release, sizeof(d->os_release));
	vg_copy(d->os_distribution, sizeof(d->os_distribution), d->os_release);
	vg_copy(d->host_device_id, sizeof(d->host_device_id), host_device_id);
	vg_copy(d->machine_group, sizeof(d->machine_group), machine_group);

	vigil__v1__device_info__init(pb);
	pb->device_id = d->device_id;
	pb->device_name = d->device_name;
	pb->client_version = VG_VERSION;
	pb->os_platform = "Linux";
	pb->os_architecture = d->os_arch;
	pb->os_version = d->os_version;
	pb->os_distribution = d->os_distribution;
	pb->host_device_id = d->host_device_id;
	pb->machine_group = d->machine_group;
	vg_sensor_exe(d);
	if (d->wsl || d->host_device_id[0]) {
		d->tags[0] = "WSL2";
		pb->tags = d->tags;
		pb->n_tags = 1;
	}
}
