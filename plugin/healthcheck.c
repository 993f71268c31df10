// SPDX-License-Identifier: GPL-2.0-only
/* healthcheck.exe: the portable healthcheck over the plug-in's store (DbPath). */
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "healthcheck.h"
#include "log.h"
#include "winconf.h"
#include "winproxy.h"

/* Every value under the plug-in's key, as name=value lines. */
static void vg_reg_dump(struct vg_sb *b)
{
	WCHAR name[256];
	BYTE data[2048];
	char n8[512], v8[2048];
	HKEY k;

	if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, VG_REG_KEY, 0, KEY_READ, &k)) {
		vg_sb_add(b, "HKLM\\SOFTWARE\\vigil: not present\n");
		return;
	}
	vg_sb_add(b, "[HKLM\\SOFTWARE\\vigil]\n");
	for (DWORD i = 0;; i++) {
		DWORD nl = 256, dl = sizeof(data) - sizeof(WCHAR), type;

		if (RegEnumValueW(k, i, name, &nl, NULL, &type, data, &dl))
			break;
		vg_win_utf8(name, n8, sizeof(n8));
		if (type == REG_DWORD) {
			DWORD v;

			memcpy(&v, data, sizeof(v));
			vg_sb_printf(b, "%s=%lu\n", n8, (unsigned long)v);
		} else if (type == REG_SZ || type == REG_EXPAND_SZ) {
			data[dl] = data[dl + 1] = 0;
			vg_win_utf8((const WCHAR *)data, v8, sizeof(v8));
			vg_sb_printf(b, "%s=%s\n", n8, v8);
		} else {
			vg_sb_printf(b, "%s=(type %lu, %lu bytes)\n", n8, (unsigned long)type,
				     (unsigned long)dl);
		}
	}
	RegCloseKey(k);
}

#define VG_HC_LOG_MAX (1u << 20)

/* The plug-in's log (LogPath), its last MiB, for the bundle's logs.txt. */
static void vg_log_file(struct vg_sb *b, const struct vg_win_conf *c)
{
	HANDLE f = CreateFileW(c->log_w, GENERIC_READ,
			       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			       OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	LARGE_INTEGER size, at = { 0 };
	static char buf[VG_HC_LOG_MAX + 1];
	DWORD got = 0;

	vg_sb_printf(b, "The plug-in's log, %s (the one before it: %s.1):\n", c->log, c->log);
	if (f == INVALID_HANDLE_VALUE) {
		vg_sb_printf(b, "not readable (error %lu)\n", (unsigned long)GetLastError());
		return;
	}
	if (GetFileSizeEx(f, &size) && size.QuadPart > VG_HC_LOG_MAX) {
		at.QuadPart = size.QuadPart - VG_HC_LOG_MAX;
		SetFilePointerEx(f, at, NULL, FILE_BEGIN);
		vg_sb_printf(b, "(its last %u bytes)\n", VG_HC_LOG_MAX);
	}
	if (ReadFile(f, buf, VG_HC_LOG_MAX, &got, NULL)) {
		buf[got] = 0;
		/* The plug-in's lines were escaped as they were logged: no NUL among them. */
		vg_sb_add(b, buf);
	}
	CloseHandle(f);
	vg_sb_add(b, "\nvigild's stderr goes to the VM's kernel log (wsl -u root dmesg)\n");
}

int main(int argc, char **argv)
{
	struct vg_healthcheck_env env = { .self_version = VG_PLUGIN_VERSION, .wsl = 1 };
	struct vg_win_proxy wp;
	struct vg_win_conf c;
	struct vg_sb cfg, logs;
	char dir[sizeof(c.db)], *slash;
	int ret;

	vg_prog = "healthcheck";
	vg_win_conf_read(&c);
	vg_win_proxy_read(&wp);
	snprintf(dir, sizeof(dir), "%s", c.db);
	slash = strrchr(dir, '\\');
	if (slash)
		*slash = '\0';
	vg_sb_init(&cfg);
	vg_sb_init(&logs);
	vg_reg_dump(&cfg);
	vg_sb_printf(&cfg, "WinHTTP proxy=%s\nNetwork & Internet proxy=%s\n", wp.winhttp, wp.user);
	env.db_default = c.db;
	env.bundle_dir = dir;
	env.proxy = &wp.src;
	env.bundle.config = vg_sb_str(&cfg);
	env.bundle.probe = "not collected here: the probe runs inside the WSL VM, as\n"
			   "  wsl -u root /opt/vigil/vigild --probe --json\n";
	/* Read only when a bundle is asked for: the log may be large. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--supportBundle"))
			vg_log_file(&logs, &c);
	env.bundle.logs = vg_sb_str(&logs);
	ret = vg_healthcheck_main(argc, argv, &env);
	vg_sb_free(&cfg);
	vg_sb_free(&logs);
	return ret;
}
