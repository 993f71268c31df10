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
/* The plug-in's subkey under WSL's plug-in registrations, where the seed keeps ConnectivityTest. */
#define VG_REG_PLUGIN_KEY L"SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Lxss\\Plugins\\vigil"
/* Where the host EDR's static proxy policy (TelemetryProxyServer) is kept. */
#define VG_REG_POLICY_KEY L"SOFTWARE\\Policies\\Microsoft\\Windows\\DataCollection"
/* WSL's distributions, one {GUID} subkey each, under each user's hive. */
#define VG_LXSS_KEY L"Software\\Microsoft\\Windows\\CurrentVersion\\Lxss"

struct vg_win_conf {
	char db[3 * MAX_PATH]; /* DbPath, UTF-8 (what SQLite takes) */
	char vigild[512]; /* VigildPath: the sensor's path inside the VM */
	WCHAR install_dir[MAX_PATH]; /* InstallDir: mounted read-only at /opt/vigil */
	int allow_custom_kernel; /* AllowCustomKernel DWORD */
	DWORD connectivity_test; /* ConnectivityTest DWORD: seconds after VM start, 0 = off */
	char conn_url[512]; /* ConnectivityTestUrl: the telemetry backend, http://host:port/path */
	char upstream_url
		[512]; /* UpstreamUrl: `vigil server`, https://host:port ("": the package's url=) */
	char onboarding[3 * MAX_PATH]; /* OnboardingPath, UTF-8 ("": not shipping) */
	WCHAR onboarding_w[MAX_PATH];
	char log[3 * MAX_PATH]; /* LogPath (default %ProgramData%\vigil\plugin.log) */
	WCHAR log_w[MAX_PATH];
	DWORD log_max; /* LogMaxBytes: the log's size before it is rotated to .1 */
};

/* Shipping is configured: an onboarding package or a server URL is set. */
#define VG_WIN_UPSTREAM(c) ((c)->onboarding[0] || (c)->upstream_url[0])

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
