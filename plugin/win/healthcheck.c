// SPDX-License-Identifier: GPL-2.0-only
/* healthcheck.exe: the portable healthcheck over the plug-in's store (DbPath). */
#include "health.h"
#include "log.h"
#include "winconf.h"
#include "winproxy.h"

int main(int argc, char **argv)
{
	struct vg_win_proxy wp;
	struct vg_win_conf c;

	vg_prog = "healthcheck";
	vg_win_conf_read(&c);
	vg_win_proxy_read(&wp);
	return vg_healthcheck_main(argc, argv, c.db, VG_PLUGIN_VERSION, &wp.src);
}
