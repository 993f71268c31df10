/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The health the healthcheck command reports (healthcheck.h). Reads the
 * store the host side writes (HostState, DeviceInfo, SensorCounters, ReceivedFrames) and says
 * whether telemetry flows, in the words users of the WSL plug-in know.
 */
#ifndef VG_HEALTH_H
#define VG_HEALTH_H

#include <stdint.h>
#include <stdio.h>

#define VG_HEALTH_OK "Healthy"
#define VG_HEALTH_NO_VM "Launch WSL distribution with 'bash' command and retry in 5 minutes"
#define VG_HEALTH_WAITING "Waiting for telemetry. Try again in 5 minutes"

struct sqlite3;
struct vg_proxy_sources;

struct vg_health {
	char plugin_version[32];
	char wsl_version[32];
	char sensor_version[64];
	char health[384]; /* VG_HEALTH_* or "Unhealthy: <reason>" */
	char vm_state[16];
	char connectivity[256];
	char proxy[256];
	char proxy_source[64];
	char distributions[512]; /* JSON array */
	char warnings[512];
	int64_t received, dropped;
	char last_telemetry[48]; /* ISO 8601, "" when none */
};

/*
 * Fill h from the store (db NULL: no store yet, so no VM ever ran) and
 * decide the health. self_version is the caller's version, used when the
 * store has none. 0 or a negative errno (the reason is logged).
 */
int vg_health_read(struct sqlite3 *db, const char *self_version, struct vg_health *h);

/* Human lines, or one JSON object when json. 0, or -EPIPE. */
int vg_health_print(const struct vg_health *h, FILE *out, int json);

/*
 * Show the proxy the platform's sources choose (proxy.h): an unusable
 * configured proxy makes a Healthy state unhealthy, a legacy value warns.
 */
void vg_health_proxy(struct vg_health *h, const struct vg_proxy_sources *ps);

#endif
