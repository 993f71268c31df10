/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The health the healthcheck command reports (healthcheck.h). Reads the
 * store the host side writes (HostState, DeviceInfo, SensorCounters, ReceivedFrames,
 * the upstream outbox) and says
 * whether telemetry flows, in the words users of the WSL plug-in know.
 */
#ifndef VG_HEALTH_H
#define VG_HEALTH_H

#include <stdint.h>
#include <stdio.h>

#include "outbox.h"

/*
 * Every text healthcheck and the plug-in show, as documented (README
 * "Windows host plug-in"); vg_health_texts[] lists them for the test that
 * holds them word for word. The %s ones are formats.
 */
#define VG_HEALTH_OK "Healthy"
/* No WSL VM runs (the plug-in's store, or healthcheck.exe without one). */
#define VG_HEALTH_NO_VM "Launch WSL distribution with 'bash' command and retry in 5 minutes"
/* No `vigil host` session runs (a Linux host's store). */
#define VG_HEALTH_NO_HOST "Start the host endpoint with 'vigil host' and retry in 5 minutes"
#define VG_HEALTH_WAITING "Waiting for telemetry. Try again in 5 minutes."
#define VG_HEALTH_CRASHED "Unhealthy: sensor crashed (%s)"
#define VG_HEALTH_KERNEL \
	"Unhealthy: kernel capability missing: the sensor could not run on the custom kernel (%s)"
#define VG_HEALTH_DROPPED "Unhealthy: %lld events dropped"
#define VG_HEALTH_PROXY "Unhealthy: %s"
/* The plug-in's PluginError when a custom kernel is not allowed. */
#define VG_HEALTH_CUSTOM_KERNEL "Custom Kernel/Configuration not supported."
/* A WSL 1 distribution (name, name): no sensor can watch it. */
#define VG_HEALTH_WSL1 "%s: WSL 1, not monitored: convert it with 'wsl --set-version %s 2'"
/* vigil host --upstream: the server unreachable for a minute or more (minutes, events pending). */
#define VG_HEALTH_UP_DOWN "Unhealthy: upstream unreachable for %lld minutes, %lld events pending"
/* The server refuses this host (its answer, e.g. "... refused 403 ...token revoked..."). */
#define VG_HEALTH_UP_REFUSED "Unhealthy: upstream refused this host (%s), %lld events pending"
/* Seconds without an answer before healthcheck calls the upstream unreachable (a restart is not). */
#define VG_HEALTH_UP_GRACE_S 60

extern const char *const vg_health_texts[];
extern const unsigned vg_health_ntexts;

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
	char wsl1[512]; /* the WSL 1 distributions' names, one a line */
	int wsl; /* a WSL host's store (the plug-in wrote it), else a Linux host's */
	char warnings[512];
	int64_t received, dropped;
	char last_telemetry[48]; /* ISO 8601, "" when none */
	struct vg_outbox_state up; /* up.url "": no --upstream */
};

/*
 * Fill h from the store (db NULL: no store yet, so no VM ever ran) and
 * decide the health. self_version is the caller's version, used when the
 * store has none. wsl: the caller is the WSL plug-in's healthcheck; else
 * the store decides (a WSL version in it means the plug-in wrote it), and
 * a Linux host's states speak of `vigil host`, not of WSL. 0 or a
 * negative errno (the reason is logged).
 */
int vg_health_read(struct sqlite3 *db, const char *self_version, int wsl, struct vg_health *h);

/* Human lines, or one JSON object when json. 0, or -EPIPE. */
int vg_health_print(const struct vg_health *h, FILE *out, int json);

/*
 * Show the proxy the platform's sources choose (proxy.h): an unusable
 * configured proxy makes a Healthy state unhealthy, a legacy value warns.
 */
void vg_health_proxy(struct vg_health *h, const struct vg_proxy_sources *ps);

#endif
