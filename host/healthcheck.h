/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The healthcheck command, one portable implementation behind `healthcheck.exe`
 * on Windows and `vigil healthcheck` on Linux: the health (health.h), then the
 * support bundle (bundle.h) when asked. The platform hands in its version,
 * proxy sources and what the bundle adds.
 */
#ifndef VG_HEALTHCHECK_H
#define VG_HEALTHCHECK_H

#include "bundle.h"

struct sqlite3;
struct vg_health;

/* What the platform hands the healthcheck command. */
struct vg_healthcheck_env {
	const char *db_default; /* without --db; NULL: --db is required */
	const char *self_version;
	int wsl; /* the WSL plug-in's healthcheck: WSL's health states even without a store */
	const char *bundle_dir; /* without --out */
	const struct vg_proxy_sources *proxy;
	/*
	 * Linux: run the connectivity test now and put its result (and a failure's
	 * Unhealthy) in h; 1 when the store names the route, which then stands
	 * instead of proxy's. NULL: the store's last result is shown.
	 */
	int (*conntest)(struct sqlite3 *db, struct vg_health *h);
	struct vg_bundle_extra bundle;
};

/*
 * The healthcheck command: [--db FILE] [--json] [--supportBundle [--out DIR]].
 * Exit status: 0 Healthy, 3 not healthy, 1 error, 2 usage.
 */
int vg_healthcheck_main(int argc, char **argv, const struct vg_healthcheck_env *env);

#endif
