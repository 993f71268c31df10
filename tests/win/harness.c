// SPDX-License-Identifier: GPL-2.0-only
/*
 * Plays WSL for the plug-in DLL, under Wine: loads the real DLL, calls
 * WSLPluginAPIV1_EntryPoint() with a fake API, then the VM hooks.
 * ExecuteBinary() connects to tests/win/relay on the Linux side, tells it
 * the folder mounts and the argv, and hands the plug-in that socket: the
 * relay runs the real vigild with its stdin and stdout on the connection.
 *
 *   harness.exe DLL [--wsl X.Y.Z] [--custom N] [--relay PORT] [--db WINPATH]
 *               [--vigild LINUXPATH] [--install-dir WINPATH] [--allow-custom]
 *               [--distro NAME,FLAVOR,VERSION[,PIDNS,INITPID]]... [--stop-file WINPATH]
 *               [--timeout S]
 *               [--conn-test SECONDS --conn-url URL] [--wsl1 NAME]... [--register-wsl1 NAME]
 *               [--load-only] [--upstream URL] [--onboarding WINPATH] [--log WINPATH]
 *               [--log-max BYTES]
 *
 * The fake registry of distributions (HKCU\...\Lxss, emptied first): --distro
 * registers a WSL 2 one, --wsl1 a WSL 1 one before the plug-in loads, and
 * --register-wsl1 one after the VM started, then calls OnDistributionRegistered.
 *
 * Prints what the plug-in did ("entry: 0x...", "PluginError: ...",
 * "ExecuteBinary: ...", "OnVMStarted: 0x...") for tests/win/run.sh to check.
 * Exit 0 when every hook returned S_OK, 3 when one failed, 2 on bad usage.
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wslplugin.h"

#define VG_MAX_MOUNTS 4

static struct {
	int port;
	struct {
		char linux_path[512], unix_path[1024];
	} mounts[VG_MAX_MOUNTS];
	int nmounts;
} vg_h;

static void vg_utf8(const WCHAR *w, char *out, int n)
{
	out[0] = '\0';
	if (w)
		WideCharToMultiByte(CP_UTF8, 0, w, -1, out, n, NULL, NULL);
}

static HRESULT vg_mount(WSLSessionId session, LPCWSTR windows_path, LPCWSTR linux_path,
			BOOL read_only, LPCWSTR name)
{
	char win[1024], lin[512], nm[64];
	char *u = vg_h.mounts[vg_h.nmounts].unix_path;

	vg_utf8(windows_path, win, sizeof(win));
	vg_utf8(linux_path, lin, sizeof(lin));
	vg_utf8(name, nm, sizeof(nm));
	printf("MountFolder: %s -> %s %s name=%s\n", win, lin, read_only ? "ro" : "rw", nm);
	/* Wine's Z: drive is the Linux root: Z:\a\b is /a/b. */
	if (vg_h.nmounts == VG_MAX_MOUNTS || (win[0] != 'Z' && win[0] != 'z') || win[1] != ':')
		return E_INVALIDARG;
	snprintf(u, sizeof(vg_h.mounts[0].unix_path), "%s", win + 2);
	for (char *p = u; *p; p++)
		if (*p == '\\')
			*p = '/';
	snprintf(vg_h.mounts[vg_h.nmounts].linux_path, sizeof(vg_h.mounts[0].linux_path), "%s",
		 lin);
	vg_h.nmounts++;
	return S_OK;
}

static int vg_send_str(SOCKET s, const char *str)
{
	size_t len = strlen(str);

	return send(s, str, (int)len, 0) == (int)len ? 0 : -1;
}

static HRESULT vg_exec(WSLSessionId session, LPCSTR path, LPCSTR *argv, SOCKET *out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char line[1200];
	SOCKET s;

	printf("ExecuteBinary: %s", path);
	for (int i = 1; argv[i]; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	sa.sin_port = htons((u_short)vg_h.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (s == INVALID_SOCKET || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		printf("ExecuteBinary: cannot reach the relay on port %d (WSA %d)\n", vg_h.port,
		       WSAGetLastError());
		if (s != INVALID_SOCKET)
			closesocket(s);
		return HRESULT_FROM_WIN32(ERROR_CONNECTION_REFUSED);
	}
	for (int i = 0; i < vg_h.nmounts; i++) {
		snprintf(line, sizeof(line), "mount %s %s\n", vg_h.mounts[i].linux_path,
			 vg_h.mounts[i].unix_path);
		vg_send_str(s, line);
	}
	snprintf(line, sizeof(line), "path %s\n", path);
	vg_send_str(s, line);
	for (int i = 0; argv[i]; i++) {
		snprintf(line, sizeof(line), "arg %s\n", argv[i]);
		vg_send_str(s, line);
	}
	if (vg_send_str(s, "exec\n")) {
		closesocket(s);
		return E_FAIL;
	}
	*out = s;
	return S_OK;
}

static HRESULT vg_plugin_error(LPCWSTR message)
{
	char msg[512];

	vg_utf8(message, msg, sizeof(msg));
	printf("PluginError: %s\n", msg);
	fflush(stdout);
	return S_OK;
}

static int vg_reg_sz(const WCHAR *name, const char *value)
{
	WCHAR w[1024];
	HKEY k;
	LSTATUS st;

	MultiByteToWideChar(CP_UTF8, 0, value, -1, w, 1024);
	st = RegCreateKeyExW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\vigil", 0, NULL, 0, KEY_SET_VALUE,
			     NULL, &k, NULL);
	if (st)
		return -1;
	st = RegSetValueExW(k, name, 0, REG_SZ, (const BYTE *)w,
			    (DWORD)((wcslen(w) + 1) * sizeof(WCHAR)));
	RegCloseKey(k);
	return st ? -1 : 0;
}

/* A value of the plug-in's key, or none when value is NULL. */
static int vg_reg_opt(const WCHAR *name, const char *value)
{
	LSTATUS st;

	if (value)
		return vg_reg_sz(name, value);
	st = RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\vigil", name);
	return st && st != ERROR_FILE_NOT_FOUND ? -1 : 0;
}

static int vg_reg_dword_in(const WCHAR *key, const WCHAR *name, DWORD v)
{
	HKEY k;
	LSTATUS st;

	st = RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_SET_VALUE, NULL, &k, NULL);
	if (st)
		return -1;
	st = RegSetValueExW(k, name, 0, REG_DWORD, (const BYTE *)&v, sizeof(v));
	RegCloseKey(k);
	return st ? -1 : 0;
}

static int vg_reg_dword(const WCHAR *name, DWORD v)
{
	return vg_reg_dword_in(L"SOFTWARE\\vigil", name, v);
}

#define VG_LXSS L"Software\\Microsoft\\Windows\\CurrentVersion\\Lxss"

/* A distribution in WSL's registry: HKCU\...\Lxss\{GUID n} with its name and version. */
static int vg_reg_distro(int n, const char *name, DWORD version)
{
	WCHAR key[256], w[256];
	HKEY k;
	LSTATUS st;

	swprintf(key, 256, VG_LXSS L"\\{6c1e0b2a-0000-4000-8000-%012d}", n);
	MultiByteToWideChar(CP_UTF8, 0, name, -1, w, 256);
	st = RegCreateKeyExW(HKEY_CURRENT_USER, key, 0, NULL, 0, KEY_SET_VALUE, NULL, &k, NULL);
	if (st)
		return -1;
	st = RegSetValueExW(k, L"DistributionName", 0, REG_SZ, (const BYTE *)w,
			    (DWORD)((wcslen(w) + 1) * sizeof(WCHAR)));
	if (!st)
		st = RegSetValueExW(k, L"Version", 0, REG_DWORD, (const BYTE *)&version,
				    sizeof(version));
	RegCloseKey(k);
	return st ? -1 : 0;
}

static void vg_usage(void)
{
	fprintf(stderr,
		"usage: harness.exe DLL [--wsl X.Y.Z] [--custom N] [--relay PORT]"
		" [--db WINPATH] [--vigild PATH] [--install-dir WINPATH] [--allow-custom]"
		" [--distro NAME,FLAVOR,VERSION[,PIDNS,INITPID]]... [--stop-file WINPATH] [--timeout S]"
		" [--conn-test SECONDS --conn-url URL] [--wsl1 NAME]... [--register-wsl1 NAME]"
		" [--upstream URL] [--onboarding WINPATH] [--log WINPATH] [--log-max BYTES]"
		" [--load-only]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct WSLPluginAPIV1 api = { { 2, 0, 14 }, vg_mount, vg_exec, vg_plugin_error };
	struct WSLSessionInformation session = { .SessionId = 1 };
	struct WSLVmCreationSettings settings = { 0 };
	struct WSLPluginHooksV1 hooks = { 0 };
	WSLPluginAPI_EntryPointV1 entry;
	const char *stop_file = NULL, *distro[4], *register_wsl1 = NULL;
	int ndistro = 0;
	const char *wsl1[4];
	int nwsl1 = 0;
	int timeout = 60, allow = 0, load_only = 0;
	const char *conn_url = "", *upstream = NULL, *onboarding = NULL, *log = NULL;
	DWORD conn_test = 0, log_max = 0;
	WSADATA wsa;
	HMODULE dll;
	HRESULT hr;
	int failed = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		vg_usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--allow-custom")) {
			allow = 1;
			continue;
		}
		if (!strcmp(a, "--load-only")) {
			load_only = 1;
			continue;
		}
		if (!v)
			vg_usage();
		i++;
		if (!strcmp(a, "--wsl")) {
			if (sscanf(v, "%u.%u.%u", &api.Version.Major, &api.Version.Minor,
				   &api.Version.Revision) != 3)
				vg_usage();
		} else if (!strcmp(a, "--custom")) {
			settings.CustomConfigurationFlags = (DWORD)atoi(v);
		} else if (!strcmp(a, "--relay")) {
			vg_h.port = atoi(v);
		} else if (!strcmp(a, "--db")) {
			vg_reg_sz(L"DbPath", v);
		} else if (!strcmp(a, "--vigild")) {
			vg_reg_sz(L"VigildPath", v);
		} else if (!strcmp(a, "--install-dir")) {
			vg_reg_sz(L"InstallDir", v);
		} else if (!strcmp(a, "--conn-test")) {
			conn_test = (DWORD)atoi(v);
		} else if (!strcmp(a, "--conn-url")) {
			conn_url = v;
		} else if (!strcmp(a, "--upstream")) {
			upstream = v;
		} else if (!strcmp(a, "--onboarding")) {
			onboarding = v;
		} else if (!strcmp(a, "--log")) {
			log = v;
		} else if (!strcmp(a, "--log-max")) {
			log_max = (DWORD)atoi(v);
		} else if (!strcmp(a, "--distro") && ndistro < 4) {
			distro[ndistro++] = v;
		} else if (!strcmp(a, "--wsl1") && nwsl1 < 4) {
			wsl1[nwsl1++] = v;
		} else if (!strcmp(a, "--register-wsl1")) {
			register_wsl1 = v;
		} else if (!strcmp(a, "--stop-file")) {
			stop_file = v;
		} else if (!strcmp(a, "--timeout")) {
			timeout = atoi(v);
		} else {
			vg_usage();
		}
	}
	/* ConnectivityTest where the seed puts it: the plug-in's subkey of WSL's Plugins. */
	RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\vigil", L"ConnectivityTest");
	if (vg_reg_dword(L"AllowCustomKernel", allow) ||
	    vg_reg_dword_in(L"SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Lxss\\Plugins\\vigil",
			    L"ConnectivityTest", conn_test) ||
	    vg_reg_sz(L"ConnectivityTestUrl", conn_url) || vg_reg_opt(L"UpstreamUrl", upstream) ||
	    vg_reg_opt(L"OnboardingPath", onboarding) || vg_reg_opt(L"LogPath", log) ||
	    (log_max ? vg_reg_dword(L"LogMaxBytes", log_max) : vg_reg_opt(L"LogMaxBytes", NULL))) {
		fprintf(stderr, "harness: cannot write HKLM\\SOFTWARE\\vigil\n");
		return 1;
	}
	RegDeleteTreeW(HKEY_CURRENT_USER, VG_LXSS);
	for (int i = 0; i < nwsl1; i++)
		if (vg_reg_distro(10 + i, wsl1[i], 1)) {
			fprintf(stderr, "harness: cannot write HKCU\\...\\Lxss\n");
			return 1;
		}
	WSAStartup(MAKEWORD(2, 2), &wsa);

	dll = LoadLibraryA(argv[1]);
	if (!dll) {
		fprintf(stderr, "harness: cannot load %s (error %lu)\n", argv[1], GetLastError());
		return 1;
	}
	entry = (WSLPluginAPI_EntryPointV1)(void *)GetProcAddress(dll, "WSLPluginAPIV1_EntryPoint");
	if (!entry) {
		fprintf(stderr, "harness: %s exports no WSLPluginAPIV1_EntryPoint\n", argv[1]);
		return 1;
	}
	hr = entry(&api, &hooks);
	printf("entry: 0x%08lx\n", (unsigned long)hr);
	if (FAILED(hr))
		return 3;
	if (load_only)
		return 0;
	if (!hooks.OnVMStarted || !hooks.OnVMStopping || !hooks.OnDistributionStarted) {
		fprintf(stderr, "harness: the entry point left hooks unset\n");
		return 1;
	}
	hr = hooks.OnVMStarted(&session, &settings);
	printf("OnVMStarted: 0x%08lx\n", (unsigned long)hr);
	if (FAILED(hr))
		return 3;
	/* Each distribution starts: PIDNS and INITPID default to the VM root's (pid 1). */
	for (int i = 0; i < ndistro; i++) {
		struct WSLDistributionInformation d = { .InitPid = 1, .PidNamespace = 4026531836u };
		WCHAR name[64] = L"", flavor[64] = L"", version[64] = L"";
		char buf[200], *f, *v, *ns;

		snprintf(buf, sizeof(buf), "%s", distro[i]);
		f = strchr(buf, ',');
		v = f ? strchr(f + 1, ',') : NULL;
		if (!f || !v)
			vg_usage();
		*f++ = '\0';
		*v++ = '\0';
		ns = strchr(v, ',');
		if (ns) {
			unsigned long long pidns;
			unsigned init;

			*ns++ = '\0';
			if (sscanf(ns, "%llu,%u", &pidns, &init) != 2)
				vg_usage();
			d.PidNamespace = pidns;
			d.InitPid = init;
		}
		MultiByteToWideChar(CP_UTF8, 0, buf, -1, name, 64);
		MultiByteToWideChar(CP_UTF8, 0, f, -1, flavor, 64);
		MultiByteToWideChar(CP_UTF8, 0, v, -1, version, 64);
		d.Name = name;
		d.Flavor = flavor;
		d.Version = version;
		vg_reg_distro(1 + i, buf, 2);
		hr = hooks.OnDistributionStarted(&session, &d);
		printf("OnDistributionStarted: 0x%08lx\n", (unsigned long)hr);
		failed |= FAILED(hr);
	}
	if (register_wsl1) {
		struct WSLDistributionInformation d = { .InitPid = 0 };
		WCHAR name[64];

		MultiByteToWideChar(CP_UTF8, 0, register_wsl1, -1, name, 64);
		d.Name = name;
		vg_reg_distro(20, register_wsl1, 1);
		hr = hooks.OnDistributionRegistered ? hooks.OnDistributionRegistered(&session, &d) :
						      E_NOTIMPL;
		printf("OnDistributionRegistered: 0x%08lx\n", (unsigned long)hr);
		failed |= FAILED(hr);
	}
	printf("running\n");
	/* The Linux side runs the workload, checks the store, then creates the stop file. */
	for (int t = 0; t < timeout * 10; t++) {
		if (stop_file && GetFileAttributesA(stop_file) != INVALID_FILE_ATTRIBUTES)
			break;
		Sleep(100);
	}
	hr = hooks.OnVMStopping(&session);
	printf("OnVMStopping: 0x%08lx\n", (unsigned long)hr);
	failed |= FAILED(hr);
	return failed ? 3 : 0;
}
