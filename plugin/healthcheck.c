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

int main(int argc, char **argv)
{
	struct vg_healthcheck_env env = { .self_version = VG_PLUGIN_VERSION, .wsl = 1 };
	struct vg_win_proxy wp;
	struct vg_win_conf c;
	struct vg_sb cfg;
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
	vg_reg_dump(&cfg);
	vg_sb_printf(&cfg, "WinHTTP proxy=%s\nNetwork & Internet proxy=%s\n", wp.winhttp, wp.user);
	env.db_default = c.db;
	env.bundle_dir = dir;
	env.proxy = &wp.src;
	env.bundle.config = vg_sb_str(&cfg);
	env.bundle.probe = "not collected here: the probe runs inside the WSL VM, as\n"
			   "  wsl -u root /opt/vigil/vigild --probe --json\n";
	env.bundle.logs = "the plug-in logs through WSL's host logging; vigild's stderr goes to\n"
			  "the VM's kernel log (wsl -u root dmesg)\n";
	ret = vg_healthcheck_main(argc, argv, &env);
	vg_sb_free(&cfg);
	return ret;
}
