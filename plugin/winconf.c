// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "winconf.h"

static HINSTANCE vg_module;

void vg_win_set_module(HINSTANCE inst)
{
	vg_module = inst;
}

void vg_win_utf8(const WCHAR *w, char *out, size_t n)
{
	if (!n)
		return;
	out[0] = '\0';
	if (w && !WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)n, NULL, NULL))
		out[n - 1] = '\0';
}

static int vg_reg_get(HKEY root, const WCHAR *key, const WCHAR *name, DWORD flags, void *buf,
		      DWORD *len)
{
	LSTATUS st = RegGetValueW(root, key, name, flags, NULL, buf, len);

	return st == ERROR_SUCCESS ? 0 : -ENOENT;
}

int vg_win_reg_str(const WCHAR *name, char *out, size_t n)
{
	WCHAR w[1024];
	DWORD len = sizeof(w);

	if (vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_KEY, name, RRF_RT_REG_SZ, w, &len))
		return -ENOENT;
	vg_win_utf8(w, out, n);
	return 0;
}

int vg_win_reg_dword(const WCHAR *name, DWORD *out)
{
	DWORD len = sizeof(*out);

	return vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_KEY, name, RRF_RT_REG_DWORD, out, &len);
}

void vg_win_conf_read(struct vg_win_conf *c)
{
	DWORD v, len;
	WCHAR *slash;

	memset(c, 0, sizeof(*c));
	if (vg_win_reg_str(L"DbPath", c->db, sizeof(c->db))) {
		char pd[MAX_PATH];

		if (!GetEnvironmentVariableA("ProgramData", pd, sizeof(pd)))
			snprintf(pd, sizeof(pd), "C:\\ProgramData");
		/* The installer creates the folder with its access rights (vigil.wxs). */
		snprintf(c->db, sizeof(c->db), "%s\\vigil\\vigil.db", pd);
	}
	if (vg_win_reg_str(L"VigildPath", c->vigild, sizeof(c->vigild)))
		snprintf(c->vigild, sizeof(c->vigild), "/opt/vigil/vigild");
	len = sizeof(c->install_dir);
	if (vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_KEY, L"InstallDir", RRF_RT_REG_SZ, c->install_dir,
		       &len)) {
		/* The folder this DLL was installed in, which holds vigild too. */
		GetModuleFileNameW(vg_module, c->install_dir, MAX_PATH);
		slash = wcsrchr(c->install_dir, L'\\');
		if (slash)
			*slash = L'\0';
	}
	if (!vg_win_reg_dword(L"AllowCustomKernel", &v))
		c->allow_custom_kernel = v != 0;
	/* The seed's place first (the plug-in's subkey of WSL's Plugins), then ours. */
	len = sizeof(v);
	if (!vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_PLUGIN_KEY, L"ConnectivityTest",
			RRF_RT_REG_DWORD, &v, &len) ||
	    !vg_win_reg_dword(L"ConnectivityTest", &v))
		c->connectivity_test = v;
	vg_win_reg_str(L"ConnectivityTestUrl", c->conn_url, sizeof(c->conn_url));
	vg_win_reg_str(L"UpstreamUrl", c->upstream_url, sizeof(c->upstream_url));
	len = sizeof(c->onboarding_w);
	if (!vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_KEY, L"OnboardingPath", RRF_RT_REG_SZ,
			c->onboarding_w, &len))
		vg_win_utf8(c->onboarding_w, c->onboarding, sizeof(c->onboarding));
	len = sizeof(c->log_w);
	if (vg_reg_get(HKEY_LOCAL_MACHINE, VG_REG_KEY, L"LogPath", RRF_RT_REG_SZ, c->log_w, &len)) {
		WCHAR pd[MAX_PATH];

		if (!GetEnvironmentVariableW(L"ProgramData", pd, MAX_PATH))
			wcscpy(pd, L"C:\\ProgramData");
		_snwprintf(c->log_w, MAX_PATH, L"%ls\\vigil\\plugin.log", pd);
		c->log_w[MAX_PATH - 1] = 0;
	}
	vg_win_utf8(c->log_w, c->log, sizeof(c->log));
	c->log_max = 1u << 20;
	if (!vg_win_reg_dword(L"LogMaxBytes", &v) && v >= 4096)
		c->log_max = v;
}

void vg_win_host_name(char *out, size_t n)
{
	WCHAR w[256];
	DWORD len = 256;

	if (!GetComputerNameExW(ComputerNameDnsHostname, w, &len))
		w[0] = L'\0';
	vg_win_utf8(w, out, n);
}

void vg_win_host_device_id(char *out, size_t n)
{
	WCHAR w[128];
	DWORD len = sizeof(w);

	if (vg_reg_get(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography", L"MachineGuid",
		       RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY, w, &len))
		w[0] = L'\0';
	vg_win_utf8(w, out, n);
}
