/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The Windows side's configuration and identity: values under the plug-in's
 * registry key, the host's name and device id, UTF-16 to UTF-8.
 */
#ifndef VG_WINCONF_H
#define VG_WINCONF_H

#include <winsock2.h>
#include <windows.h>

#define VG_PLUGIN_VERSION "0.1.0"
/* The plug-in's key under HKEY_LOCAL_MACHINE. */
#define VG_REG_KEY L"SOFTWARE\\vigil"
/* WSL's distributions, one {GUID} subkey each, under each user's hive. */
#define VG_LXSS_KEY L"Software\\Microsoft\\Windows\\CurrentVersion\\Lxss"

struct vg_win_conf {
	char db[3 * MAX_PATH]; /* DbPath, UTF-8 (what SQLite takes) */
	char vigild[512]; /* VigildPath: the sensor's path inside the VM */
	WCHAR install_dir[MAX_PATH]; /* InstallDir: mounted read-only at /opt/vigil */
	int allow_custom_kernel; /* AllowCustomKernel DWORD */
	DWORD connectivity_test; /* ConnectivityTest DWORD: seconds after VM start, 0 = off */
	char conn_url[512]; /* ConnectivityTestUrl: the telemetry backend, http://host:port/path */
};

/* Fill c from the registry, defaults for what is not set. */
void vg_win_conf_read(struct vg_win_conf *c);

/* A REG_SZ or REG_DWORD value of the plug-in's key: 0, or -ENOENT. */
int vg_win_reg_str(const WCHAR *name, char *out, size_t n);
int vg_win_reg_dword(const WCHAR *name, DWORD *out);

void vg_win_host_name(char *out, size_t n);
/* The Windows host's device id (MachineGuid), "" when unknown. */
void vg_win_host_device_id(char *out, size_t n);
/* UTF-16 to UTF-8, truncated to n bytes; NULL gives "". */
void vg_win_utf8(const WCHAR *w, char *out, size_t n);
void vg_win_set_module(HINSTANCE inst);

#endif
