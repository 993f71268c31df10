// SPDX-License-Identifier: GPL-2.0-only
/*
 * The WSL plug-in DLL: WSL calls WSLPluginAPIV1_EntryPoint() when it loads
 * us, then our hooks as VMs and distributions come and go. On VM start we
 * run vigild in the VM with ExecuteBinary() and a worker thread pumps its
 * frames into the portable host core (conn.c, store.c), which stores them
 * and queues the ACKs the worker writes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winconf.h"
#include "winlog.h"
#include "winproxy.h"
#include "winup.h"
#include "wslplugin.h"

#include "conn.h"
#include "conntest.h"
#include "fmt.h"
#include "frame.h"
#include "health.h"
#include "hoststate.h"
#include "log.h"
#include "store.h"

#define VG_LINUX_DIR L"/opt/vigil"
/* Distributions a VM's map holds at most (vigild takes 64). */
#define VG_MAX_DISTROS 64
/* How long OnVMStopping waits for frames still in flight. */
#define VG_STOP_WAIT_MS 3000

static struct vg_plugin {
	const struct WSLPluginAPIV1 *api;
	CRITICAL_SECTION lock; /* the store and HostState, between hooks and worker */
	struct vg_win_conf conf;
	struct vg_store *store;
	SOCKET sock;
	HANDLE worker;
	HANDLE conntest; /* the connectivity test, ConnectivityTest seconds after start */
	HANDLE stop_ev; /* set by OnVMStopping: the connectivity test need not run */
	volatile LONG stopping;
	struct vg_conn conn;
	struct vg_winup *up; /* the sender to vigil server, when one is configured */
	struct vg_sb distros; /* JSON array of the distributions seen this VM */
	/* The same, with their PID namespaces, for vigild (a DISTROS frame). */
	struct vg_pl_distro {
		UINT64 pidns;
		UINT32 initpid;
		int running;
		char name[128], flavor[64], version[64];
	} map[VG_MAX_DISTROS];
	int nmap;
} vg_pl = { .sock = INVALID_SOCKET };

static HRESULT vg_hr(int err)
{
	switch (err) {
	case 0:
		return S_OK;
	case -ENOMEM:
		return E_OUTOFMEMORY;
	case -EACCES:
	case -EPERM:
		return E_ACCESSDENIED;
	case -ENOENT:
		return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
	case -EINVAL:
		return E_INVALIDARG;
	default:
		return E_FAIL;
	}
}

/* Record a HostState row; with no VM running the store is opened for it. */
static void vg_state(const char *name, const char *value)
{
	struct vg_store *s;
	int err = 0;

	EnterCriticalSection(&vg_pl.lock);
	s = vg_pl.store;
	if (!s) {
		err = vg_store_open(&s, vg_pl.conf.db);
		if (!err)
			err = vg_hoststate_init(vg_store_db(s));
	}
	if (!err)
		err = vg_hoststate_set(vg_store_db(s), name, value);
	if (err)
		vg_log(VG_ERROR, "record %s in %s: %s", name, vg_pl.conf.db, strerror(-err));
	if (s != vg_pl.store)
		vg_store_close(s);
	LeaveCriticalSection(&vg_pl.lock);
}

/*
 * The WSL 1 distributions registered, one name a line, in HostState: no
 * sensor can watch them (they have no VM), so healthcheck names them with
 * the command that converts them. WSL keeps each user's distributions under
 * HKEY_USERS\<SID>\...\Lxss\{GUID} (DistributionName, Version 1 or 2);
 * the plug-in runs in the WSL service, so it looks under every user.
 */
static void vg_find_wsl1(void)
{
	struct vg_sb names;
	WCHAR sid[512];
	HKEY users;

	vg_sb_init(&names);
	if (RegOpenKeyExW(HKEY_USERS, NULL, 0, KEY_READ, &users))
		return;
	for (DWORD i = 0;; i++) {
		DWORD n = 256;
		HKEY lxss;

		if (RegEnumKeyExW(users, i, sid, &n, NULL, NULL, NULL, NULL))
			break;
		if (RegOpenKeyExW(users, wcscat(sid, L"\\" VG_LXSS_KEY), 0, KEY_READ, &lxss))
			continue;
		for (DWORD j = 0;; j++) {
			WCHAR guid[64], wname[256];
			DWORD gl = 64, ver = 0, len = sizeof(ver);
			char name[256];

			if (RegEnumKeyExW(lxss, j, guid, &gl, NULL, NULL, NULL, NULL))
				break;
			if (RegGetValueW(lxss, guid, L"Version", RRF_RT_REG_DWORD, NULL, &ver,
					 &len) ||
			    ver != 1)
				continue;
			len = sizeof(wname);
			if (RegGetValueW(lxss, guid, L"DistributionName", RRF_RT_REG_SZ, NULL,
					 wname, &len))
				continue;
			vg_win_utf8(wname, name, sizeof(name));
			/* One a line: a name cannot split its line. */
			for (char *p = name; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = '?';
			vg_sb_printf(&names, "%s%s", names.len ? "\n" : "", name);
		}
		RegCloseKey(lxss);
	}
	RegCloseKey(users);
	if (!vg_sb_err(&names)) {
		if (names.len)
			vg_log(VG_WARN, "WSL 1 distributions, not monitored: %s",
			       vg_sb_str(&names));
		vg_state(VG_HS_WSL1, names.len ? vg_sb_str(&names) : NULL);
	}
	vg_sb_free(&names);
}

static int vg_send_all(SOCKET s, const uint8_t *p, size_t len)
{
	while (len) {
		int n = send(s, (const char *)p, len > 65536 ? 65536 : (int)len, 0);

		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send what the connection has queued for the sensor (ACKs, the DISTROS
 * frame), with vg_pl.lock held: the worker and the hooks both queue.
 */
static int vg_flush_out(void)
{
	if (!vg_pl.conn.out_len || vg_pl.sock == INVALID_SOCKET)
		return 0;
	if (vg_send_all(vg_pl.sock, vg_pl.conn.out, vg_pl.conn.out_len))
		return -EPIPE;
	vg_conn_consume(&vg_pl.conn, vg_pl.conn.out_len);
	return 0;
}

static DWORD WINAPI vg_worker(void *arg)
{
	static char buf[64 * 1024];
	char why[128] = "";
	uint64_t took;
	int err = 0;

	for (;;) {
		int n = recv(vg_pl.sock, buf, sizeof(buf), 0);

		if (n == 0) {
			snprintf(why, sizeof(why), "exited: the sensor closed its connection");
			break;
		}
		if (n < 0) {
			snprintf(why, sizeof(why), "exited: receive failed (WSA error %d)",
				 WSAGetLastError());
			break;
		}
		EnterCriticalSection(&vg_pl.lock);
		took = vg_pl.conn.stored + vg_pl.conn.resent;
		err = vg_conn_input(&vg_pl.conn, vg_pl.store, buf, (size_t)n);
		/* ACKs queued before a failure are still owed to the sensor. */
		vg_flush_out();
		LeaveCriticalSection(&vg_pl.lock);
		if (err) {
			snprintf(why, sizeof(why), "exited: bad stream from the sensor: %s",
				 strerror(-err));
			break;
		}
		/* The first batches: one read may bring several, stored together (conn.h). */
		if (!took && vg_pl.conn.stored + vg_pl.conn.resent)
			vg_state(VG_HS_SENSOR, "running");
	}
	/* An end we did not ask for is what healthcheck calls a crashed sensor. */
	if (!vg_pl.stopping) {
		vg_log(VG_ERROR, "sensor %s", why + strlen("exited: "));
		vg_state(VG_HS_SENSOR, why);
	}
	return 0;
}

static DWORD WINAPI vg_conntest_worker(void *arg)
{
	struct vg_proxy_choice c;
	struct vg_win_proxy wp;
	char res[640];

	if (WaitForSingleObject(vg_pl.stop_ev, vg_pl.conf.connectivity_test * 1000) != WAIT_TIMEOUT)
		return 0;
	vg_win_proxy_read(&wp);
	if (vg_proxy_choose(&wp.src, &c))
		snprintf(res, sizeof(res), "failed: %s", c.error);
	else if (vg_pl.conf.conn_url[0])
		vg_conntest(vg_pl.conf.conn_url, &c, 5000, res, sizeof(res));
	else if (VG_WIN_UPSTREAM(&vg_pl.conf))
		/* The server's health endpoint, the way the telemetry goes. */
		vg_winup_conntest(&vg_pl.conf, res, sizeof(res));
	else
		snprintf(res, sizeof(res),
			 "not run: no server configured (UpstreamUrl, OnboardingPath)");
	vg_log(VG_INFO, "connectivity test %s", res);
	vg_state(VG_HS_PROXY, c.server[0] ? c.server : "direct");
	vg_state(VG_HS_PROXY_SOURCE, c.source);
	vg_state(VG_HS_CONNECTIVITY, res);
	return 0;
}

static int vg_version_ok(const struct WSLVersion *v)
{
	if (v->Major != 2)
		return v->Major > 2;
	if (v->Minor != 0)
		return 1;
	return v->Revision >= 7;
}

/* conn.h: a batch was stored, and with it its frame in the outbox: the sender looks (vg_pl.lock held). */
static void vg_stored(void *arg, const struct vg_conn *c, const uint8_t *frame, size_t len)
{
	(void)arg, (void)c, (void)frame, (void)len;
	if (vg_pl.up)
		vg_winup_wake(vg_pl.up);
}

static HRESULT vg_start_sensor(const struct WSLSessionInformation *session)
{
	char path[MAX_PATH + 32], name[256], hostid[128];
	LPCSTR argv[12];
	int i = 0;
	HRESULT hr;

	hr = vg_pl.api->MountFolder(session->SessionId, vg_pl.conf.install_dir, VG_LINUX_DIR, TRUE,
				    L"vigil");
	if (FAILED(hr)) {
		vg_log(VG_ERROR, "mount %ls at %ls: HRESULT 0x%08lx", vg_pl.conf.install_dir,
		       VG_LINUX_DIR, (unsigned long)hr);
		return hr;
	}
	snprintf(path, sizeof(path), "%s", vg_pl.conf.vigild);
	vg_win_host_name(name, sizeof(name));
	vg_win_host_device_id(hostid, sizeof(hostid));
	argv[i++] = path;
	argv[i++] = "--transport";
	argv[i++] = "stdio";
	argv[i++] = "--device-name";
	argv[i++] = name;
	if (hostid[0]) {
		argv[i++] = "--host-device-id";
		argv[i++] = hostid;
	}
	argv[i] = NULL;
	hr = vg_pl.api->ExecuteBinary(session->SessionId, path, argv, &vg_pl.sock);
	if (FAILED(hr)) {
		vg_log(VG_ERROR, "start %s in the VM: HRESULT 0x%08lx", path, (unsigned long)hr);
		vg_pl.sock = INVALID_SOCKET;
		return hr;
	}
	vg_conn_init(&vg_pl.conn, 1);
	vg_pl.conn.on_stored = vg_stored;
	vg_pl.stopping = 0;
	vg_pl.worker = CreateThread(NULL, 0, vg_worker, NULL, 0, NULL);
	if (!vg_pl.worker) {
		closesocket(vg_pl.sock);
		vg_pl.sock = INVALID_SOCKET;
		return HRESULT_FROM_WIN32(GetLastError());
	}
	return S_OK;
}

static void vg_close_store(void)
{
	EnterCriticalSection(&vg_pl.lock);
	vg_store_close(vg_pl.store);
	vg_pl.store = NULL;
	LeaveCriticalSection(&vg_pl.lock);
}

static HRESULT vg_on_vm_started(const struct WSLSessionInformation *session,
				const struct WSLVmCreationSettings *settings)
{
	DWORD custom = settings ? settings->CustomConfigurationFlags : 0;
	HRESULT hr;
	int err;

	vg_win_conf_read(&vg_pl.conf);
	vg_win_log_open(&vg_pl.conf);
	if ((custom &
	     (WSLUserConfigurationCustomKernel | WSLUserConfigurationCustomKernelCommandLine)) &&
	    !vg_pl.conf.allow_custom_kernel) {
		WCHAR msg[128];

		MultiByteToWideChar(CP_UTF8, 0, VG_HEALTH_CUSTOM_KERNEL, -1, msg, 128);
		hr = vg_pl.api->PluginError(msg);
		return FAILED(hr) ? hr : E_ABORT;
	}
	err = vg_store_open(&vg_pl.store, vg_pl.conf.db);
	if (!err)
		err = vg_hoststate_init(vg_store_db(vg_pl.store));
	if (err) {
		vg_log(VG_ERROR, "open store %s: %s", vg_pl.conf.db, strerror(-err));
		vg_close_store();
		return vg_hr(err);
	}
	vg_sb_reset(&vg_pl.distros);
	vg_pl.nmap = 0;
	vg_state(VG_HS_CUSTOM_CONFIG,
		 !custom					       ? "" :
		 custom == WSLUserConfigurationCustomKernel	       ? "kernel" :
		 custom == WSLUserConfigurationCustomKernelCommandLine ? "cmdline" :
									 "kernel,cmdline");
	vg_state(VG_HS_DISTROS, NULL);
	vg_state(VG_HS_SENSOR, "starting");
	vg_state(VG_HS_VM_STARTED, vg_iso_time((char[VG_ISO_LEN]){ 0 }, vg_now_ns()));
	vg_state(VG_HS_VM_STATE, "running");
	vg_state(VG_HS_UPSTREAM, NULL);
	/*
	 * Shipping: each batch's frame goes to the outbox in the batch's
	 * transaction, kept there until the server has it, across VM and
	 * service restarts. A sender that cannot start leaves them pending
	 * (health says why): the VM starts all the same.
	 */
	if (VG_WIN_UPSTREAM(&vg_pl.conf))
		vg_store_set_outbox(vg_pl.store, 1);
	if (VG_WIN_UPSTREAM(&vg_pl.conf) && vg_winup_open(&vg_pl.up, &vg_pl.conf, vg_state))
		vg_log(VG_ERROR, "not shipping to the server: see the lines above");
	hr = vg_start_sensor(session);
	if (SUCCEEDED(hr) && vg_pl.conf.connectivity_test) {
		ResetEvent(vg_pl.stop_ev);
		vg_pl.conntest = CreateThread(NULL, 0, vg_conntest_worker, NULL, 0, NULL);
	}
	if (FAILED(hr)) {
		char why[96];

		snprintf(why, sizeof(why), "exited: could not start (HRESULT 0x%08lx)",
			 (unsigned long)hr);
		vg_state(VG_HS_SENSOR, why);
	}
	return hr;
}

static HRESULT vg_on_vm_stopping(const struct WSLSessionInformation *session)
{
	if (vg_pl.conntest) {
		SetEvent(vg_pl.stop_ev);
		WaitForSingleObject(vg_pl.conntest, INFINITE);
		CloseHandle(vg_pl.conntest);
		vg_pl.conntest = NULL;
	}
	if (vg_pl.worker) {
		InterlockedExchange(&vg_pl.stopping, 1);
		/*
		 * The sensor sees end of input and exits; frames already on their
		 * way are still read and stored, then the worker sees the close.
		 */
		shutdown(vg_pl.sock, SD_SEND);
		if (WaitForSingleObject(vg_pl.worker, VG_STOP_WAIT_MS) != WAIT_OBJECT_0) {
			closesocket(vg_pl.sock);
			vg_pl.sock = INVALID_SOCKET;
			WaitForSingleObject(vg_pl.worker, INFINITE);
		}
		CloseHandle(vg_pl.worker);
		vg_pl.worker = NULL;
		vg_state(VG_HS_SENSOR, "exited: VM stopped");
	}
	if (vg_pl.sock != INVALID_SOCKET)
		closesocket(vg_pl.sock);
	vg_pl.sock = INVALID_SOCKET;
	vg_state(VG_HS_VM_STATE, "stopped");
	/* After the sensor's last batches: they get their chance to reach the server. */
	vg_winup_close(vg_pl.up);
	vg_pl.up = NULL;
	vg_close_store();
	vg_conn_free(&vg_pl.conn);
	return S_OK;
}

/* One a line for vigild: a name cannot split a line or a field. */
static void vg_plain(const WCHAR *w, char *out, size_t n)
{
	vg_win_utf8(w, out, n);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/*
 * The distributions of this VM to HostState (a JSON array) and to vigild
 * (a DISTROS frame, lib/frame.h): with its PID namespace vigild says each
 * event's distribution and reads the distribution's own users.
 */
static HRESULT vg_distros_changed(void)
{
	struct vg_sb *j = &vg_pl.distros, f;
	int err;

	vg_sb_reset(j);
	vg_sb_init(&f);
	vg_sb_add(j, "[");
	for (int i = 0; i < vg_pl.nmap; i++) {
		const struct vg_pl_distro *e = &vg_pl.map[i];

		vg_sb_add(j, i ? ",{\"Name\":" : "{\"Name\":");
		vg_json_str(j, e->name);
		vg_sb_add(j, ",\"Flavor\":");
		vg_json_str(j, e->flavor);
		vg_sb_add(j, ",\"Version\":");
		vg_json_str(j, e->version);
		vg_sb_add(j, "}");
		vg_sb_printf(&f, "%llu\t%lu\t%d\t%s\t%s\t%s\n", (unsigned long long)e->pidns,
			     (unsigned long)e->initpid, e->running, e->name, e->flavor, e->version);
	}
	vg_sb_add(j, "]");
	if (vg_sb_err(j) || vg_sb_err(&f)) {
		vg_sb_free(&f);
		return E_OUTOFMEMORY;
	}
	vg_state(VG_HS_DISTROS, vg_sb_str(j));
	EnterCriticalSection(&vg_pl.lock);
	/* No sensor runs (it could not start): it gets none. */
	err = vg_pl.sock == INVALID_SOCKET ?
		      0 :
		      vg_conn_control(&vg_pl.conn, VG_FRAME_DISTROS, 0, f.s, f.len);
	if (!err)
		err = vg_flush_out();
	LeaveCriticalSection(&vg_pl.lock);
	vg_sb_free(&f);
	if (err)
		vg_log(VG_ERROR, "send the distribution list to the sensor: %s", strerror(-err));
	return S_OK;
}

static HRESULT vg_on_distro_started(const struct WSLSessionInformation *session,
				    const struct WSLDistributionInformation *d)
{
	struct vg_pl_distro e = { .pidns = d->PidNamespace, .initpid = d->InitPid, .running = 1 };
	int i;

	vg_plain(d->Name, e.name, sizeof(e.name));
	vg_plain(d->Flavor, e.flavor, sizeof(e.flavor));
	vg_plain(d->Version, e.version, sizeof(e.version));
	if (!e.name[0] || !e.pidns || e.pidns > 0xffffffffu || !e.initpid) {
		vg_log(VG_WARN, "distribution '%s' (PID namespace %llu, init %lu): not mapped",
		       e.name, (unsigned long long)e.pidns, (unsigned long)e.initpid);
		return S_OK;
	}
	/* A restarted distribution has a new namespace: its entry is replaced. */
	for (i = 0; i < vg_pl.nmap && strcmp(vg_pl.map[i].name, e.name); i++)
		;
	if (i == VG_MAX_DISTROS) {
		vg_log(VG_WARN, "more than %d distributions: '%s' not mapped", VG_MAX_DISTROS,
		       e.name);
		return S_OK;
	}
	vg_pl.map[i] = e;
	if (i == vg_pl.nmap)
		vg_pl.nmap++;
	return vg_distros_changed();
}

static HRESULT vg_on_distro_stopping(const struct WSLSessionInformation *session,
				     const struct WSLDistributionInformation *d)
{
	char name[128];

	vg_plain(d->Name, name, sizeof(name));
	for (int i = 0; i < vg_pl.nmap; i++)
		if (!strcmp(vg_pl.map[i].name, name) && vg_pl.map[i].running) {
			/* Kept: its processes' last events still name it. */
			vg_pl.map[i].running = 0;
			return vg_distros_changed();
		}
	return S_OK;
}

/* A distribution (un)registered: the WSL 1 ones may have changed. */
static HRESULT vg_on_distro_registration(const struct WSLSessionInformation *session,
					 const struct WSLDistributionInformation *d)
{
	vg_find_wsl1();
	return S_OK;
}

__declspec(dllexport) HRESULT
	WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1 *api, struct WSLPluginHooksV1 *hooks)
{
	WSADATA wsa;
	char ver[48];

	vg_prog = "vigil-plugin";
	if (!vg_version_ok(&api->Version)) {
		vg_log(VG_ERROR, "WSL %u.%u.%u is too old: the plug-in needs 2.0.7 or later",
		       api->Version.Major, api->Version.Minor, api->Version.Revision);
		return WSL_E_PLUGIN_REQUIRES_UPDATE;
	}
	if (WSAStartup(MAKEWORD(2, 2), &wsa))
		return E_FAIL;
	vg_pl.api = api;
	/* What healthcheck shows before any VM starts: the versions, the WSL 1 distributions. */
	vg_win_conf_read(&vg_pl.conf);
	vg_win_log_open(&vg_pl.conf);
	vg_log(VG_INFO, "loaded by WSL %u.%u.%u", api->Version.Major, api->Version.Minor,
	       api->Version.Revision);
	snprintf(ver, sizeof(ver), "%u.%u.%u", api->Version.Major, api->Version.Minor,
		 api->Version.Revision);
	vg_state(VG_HS_WSL_VERSION, ver);
	vg_state(VG_HS_PLUGIN_VERSION, VG_PLUGIN_VERSION);
	vg_find_wsl1();
	hooks->OnVMStarted = vg_on_vm_started;
	hooks->OnVMStopping = vg_on_vm_stopping;
	hooks->OnDistributionStarted = vg_on_distro_started;
	hooks->OnDistributionStopping = vg_on_distro_stopping;
	hooks->OnDistributionRegistered = vg_on_distro_registration;
	hooks->OnDistributionUnregistered = vg_on_distro_registration;
	return S_OK;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, void *reserved)
{
	if (reason == DLL_PROCESS_ATTACH) {
		InitializeCriticalSection(&vg_pl.lock);
		vg_pl.stop_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
		if (!vg_pl.stop_ev)
			return FALSE;
		vg_sb_init(&vg_pl.distros);
		vg_win_set_module(inst);
	}
	return TRUE;
}
