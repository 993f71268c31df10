// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sets the proxy sources healthcheck.exe reads, for the table-driven proxy
 * tests under Wine. Each option takes a value or "-" (unset):
 *   proxyset.exe --policy V --static V --winhttp V --user V --legacy V
 * --policy is TelemetryProxyServer under the host EDR's policy key
 * (HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection); --static
 * and --legacy are TelemetryProxyServer and DefenderProxyServer under
 * HKLM\SOFTWARE\vigil; --winhttp goes through
 * WinHttpSetDefaultProxyConfiguration() (what netsh winhttp set proxy
 * does); --user writes the Network & Internet settings (the
 * DefaultConnectionSettings blob WinHttpGetIEProxyConfigForCurrentUser reads).
 */
#include <winsock2.h>
#include <windows.h>
#include <winhttp.h>
#include <stdio.h>
#include <string.h>

#define VG_KEY L"SOFTWARE\\vigil"
#define VG_POLICY_KEY L"SOFTWARE\\Policies\\Microsoft\\Windows\\DataCollection"
#define VG_CONN_KEY L"Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections"

static int vg_plugin_value(const WCHAR *key, const WCHAR *name, const char *v)
{
	WCHAR w[512];
	LSTATUS st;
	HKEY k;

	st = RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_ALL_ACCESS, NULL, &k, NULL);
	if (st)
		return -1;
	if (!strcmp(v, "-")) {
		st = RegDeleteValueW(k, name);
		st = st == ERROR_FILE_NOT_FOUND ? 0 : st;
	} else {
		MultiByteToWideChar(CP_UTF8, 0, v, -1, w, 512);
		st = RegSetValueExW(k, name, 0, REG_SZ, (const BYTE *)w,
				    (DWORD)((wcslen(w) + 1) * sizeof(WCHAR)));
	}
	RegCloseKey(k);
	return st ? -1 : 0;
}

static int vg_winhttp(const char *v)
{
	WINHTTP_PROXY_INFO info = { WINHTTP_ACCESS_TYPE_NO_PROXY, NULL, NULL };
	WCHAR w[512];

	if (strcmp(v, "-")) {
		MultiByteToWideChar(CP_UTF8, 0, v, -1, w, 512);
		info.dwAccessType = WINHTTP_ACCESS_TYPE_NAMED_PROXY;
		info.lpszProxy = w;
	}
	return WinHttpSetDefaultProxyConfiguration(&info) ? 0 : -1;
}

static int vg_user(const char *v)
{
	BYTE blob[600] = { 0 };
	DWORD *d = (DWORD *)blob, len = 0, n = 0;
	LSTATUS st;
	HKEY k;

	/* magic, change counter, flags (1 direct, 2 proxy), then counted strings. */
	d[0] = 0x46;
	d[1] = 1;
	d[2] = 1;
	if (strcmp(v, "-")) {
		d[2] |= 2;
		len = (DWORD)strlen(v);
		if (len > 500)
			return -1;
	}
	d[3] = len;
	memcpy(blob + 16, v, len);
	n = 16 + len + 4 * 4; /* empty bypass list, autoconfig URL and the rest */
	st = RegCreateKeyExW(HKEY_CURRENT_USER, VG_CONN_KEY, 0, NULL, 0, KEY_ALL_ACCESS, NULL, &k,
			     NULL);
	if (st)
		return -1;
	st = RegSetValueExW(k, L"DefaultConnectionSettings", 0, REG_BINARY, blob, n);
	RegCloseKey(k);
	return st ? -1 : 0;
}

int main(int argc, char **argv)
{
	int err = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *v = argv[i + 1];

		if (!strcmp(argv[i], "--static"))
			err |= vg_plugin_value(VG_KEY, L"TelemetryProxyServer", v);
		else if (!strcmp(argv[i], "--policy"))
			err |= vg_plugin_value(VG_POLICY_KEY, L"TelemetryProxyServer", v);
		else if (!strcmp(argv[i], "--legacy"))
			err |= vg_plugin_value(VG_KEY, L"DefenderProxyServer", v);
		else if (!strcmp(argv[i], "--winhttp"))
			err |= vg_winhttp(v);
		else if (!strcmp(argv[i], "--user"))
			err |= vg_user(v);
		else {
			fprintf(stderr, "proxyset: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (err)
		fprintf(stderr, "proxyset: could not set every source\n");
	return err ? 1 : 0;
}
