// SPDX-License-Identifier: GPL-2.0-only
/*
 * The healthcheck command both platforms run: the health (health.c), then,
 * when asked, the support bundle (bundle.c) that carries it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bundle.h"
#include "health.h"
#include "healthcheck.h"
#include "log.h"
#include "store.h"

static const char vg_usage_health[] =
	"usage: healthcheck [--db FILE] [--json] [--supportBundle [--out DIR]]\n"
	"\n"
	"Say whether telemetry flows from the sensor (in the WSL VM, or under\n"
	"`vigil host` on Linux) to this host: plug-in, WSL and sensor versions, health,\n"
	"last connectivity test, proxy and where it came from, events received and\n"
	"dropped, time of the last telemetry, WSL 1 distributions (not monitored),\n"
	"and with `vigil host --upstream` the upstream: state, events pending, lag,\n"
	"the last error and since when (unhealthy when unreachable for a minute, or\n"
	"when the server refuses this host's token).\n"
	"On Linux the connectivity test runs now when `vigil host` has a server\n"
	"(--upstream): GET /v1/health through the route and CA the host uses.\n"
	"Exit status 0 when Healthy, 3 when not, 1 on errors, 2 on bad usage.\n"
	"\n"
	"  --db FILE        the host's SQLite store\n"
	"  --json           one JSON object\n"
	"  --supportBundle  also write a tar archive for support (health, host state,\n"
	"                   stats, configuration with secrets redacted, sensor probe,\n"
	"                   recent frames) and print its path\n"
	"  --out DIR        where the archive goes\n"
	"  -h, --help       show this text\n";

int vg_healthcheck_main(int argc, char **argv, const struct vg_healthcheck_env *env)
{
	const char *path = env->db_default, *dir = env->bundle_dir;
	struct vg_store *s = NULL;
	struct vg_health h;
	int json = 0, bundle = 0, err, ret;
	char out[1024];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			path = argv[++i];
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(vg_usage_health, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--supportBundle")) {
			bundle = 1;
		} else {
			fprintf(stderr, "%s: healthcheck: unknown or incomplete option '%s'\n%s",
				vg_prog, argv[i], vg_usage_health);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "%s: healthcheck: --db FILE is required\n%s", vg_prog,
			vg_usage_health);
		return 2;
	}
	err = vg_store_open_existing(&s, path);
	if (err && err != -ENOENT) {
		vg_log(VG_ERROR, "healthcheck: open %s: %s", path, strerror(-err));
		return 1;
	}
	/* No store yet: no VM has ever started the plug-in. */
	err = vg_health_read(s ? vg_store_db(s) : NULL, env->self_version, env->wsl, &h);
	if (!err && !(env->conntest && env->conntest(s ? vg_store_db(s) : NULL, &h)) && env->proxy)
		vg_health_proxy(&h, env->proxy);
	ret = err ? 1 : strcmp(h.health, VG_HEALTH_OK) ? 3 : 0;
	if (!err && vg_health_print(&h, stdout, json))
		ret = 1;
	if (!err && bundle) {
		if (vg_bundle_write(dir ? dir : ".", s, &h, &env->bundle, out, sizeof(out)))
			ret = 1;
		else
			printf("Support bundle: %s\n", out);
	}
	vg_store_close(s);
	return ret;
}
