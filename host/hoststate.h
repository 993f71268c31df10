/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the host endpoint knows beyond the telemetry itself: whether a VM
 * runs, when it started, the WSL and plug-in versions, how the sensor
 * ended, distributions, connectivity and proxy results. Kept as name/value
 * rows in the store's HostState table (*extension*), written by the plug-in
 * (or vigil host) and read by healthcheck. Portable C over SQLite.
 */
#ifndef VG_HOSTSTATE_H
#define VG_HOSTSTATE_H

#include <stddef.h>

struct sqlite3;

/* Names of HostState rows. */
#define VG_HS_VM_STATE "VmState" /* "running" or "stopped" */
#define VG_HS_VM_STARTED "VmStartedAt" /* ISO 8601 */
#define VG_HS_WSL_VERSION "WslVersion"
#define VG_HS_PLUGIN_VERSION "PluginVersion"
#define VG_HS_CUSTOM_CONFIG "CustomConfiguration" /* "", "kernel", "kernel,cmdline" */
#define VG_HS_SENSOR "SensorState" /* "starting", "running", "exited: <why>" */
#define VG_HS_DISTROS "Distributions" /* JSON array of {Name, Flavor, Version} */
#define VG_HS_CONNECTIVITY "ConnectivityTest" /* "passed: ...", "failed: ..." */
#define VG_HS_PROXY "Proxy" /* "direct" or host:port */
#define VG_HS_PROXY_SOURCE "ProxySource"
#define VG_HS_WARNINGS "Warnings"
/* The plug-in's sender to vigil server: "ok: ..." or "failing: <why>; counts (URL via proxy)" */
#define VG_HS_UPSTREAM "Upstream"
/* The names of the WSL 1 distributions registered (not monitored), one a line */
#define VG_HS_WSL1 "Wsl1Distributions"
/* vigil host --upstream (cli/upstream.c): the servers, and how shipping goes (outbox.h) */
#define VG_HS_UPSTREAM "Upstream" /* the --upstream list */
#define VG_HS_UP_STATE "UpstreamState" /* "shipping", "unreachable", "refused" */
#define VG_HS_UP_ERROR "UpstreamError" /* the last failure, "" when none */
#define VG_HS_UP_SINCE "UpstreamErrorSince" /* ISO 8601: failing since */
#define VG_HS_UPSTREAM_CA "UpstreamCa" /* the CA it trusts, for healthcheck's connectivity test */

/* Create the HostState table when missing. 0 or a negative errno. */
int vg_hoststate_init(struct sqlite3 *db);

/* Set name to value (NULL deletes it), with the current time. 0 or -errno. */
int vg_hoststate_set(struct sqlite3 *db, const char *name, const char *value);

/*
 * Copy the value of name into out (size n, truncated): 1 when present,
 * 0 when not (out is ""), or a negative errno.
 */
int vg_hoststate_get(struct sqlite3 *db, const char *name, char *out, size_t n);

/*
 * A host endpoint session begins (running: VmState running, VmStartedAt now,
 * SensorState starting) or ends (VmState stopped). 0 or -errno.
 */
int vg_hoststate_session(struct sqlite3 *db, int running);

#endif
