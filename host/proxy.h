/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which proxy the telemetry goes through. One portable decision over the
 * sources a thin platform layer reads (Windows: the plug-in's registry key,
 * the WinHTTP default proxy, the Network & Internet settings; Linux: the
 * host configuration and the usual proxy environment variables), in this
 * order: the static TelemetryProxyServer setting, WinHTTP, Network &
 * Internet (or the environment), else direct.
 */
#ifndef VG_PROXY_H
#define VG_PROXY_H

struct vg_proxy_sources {
	const char *static_server; /* TelemetryProxyServer, NULL when unset */
	const char *winhttp; /* WinHTTP named proxy (netsh winhttp set proxy) */
	const char *user; /* Network & Internet proxy settings, when enabled */
	const char *env; /* Linux: https_proxy, HTTPS_PROXY, http_proxy, HTTP_PROXY */
	const char *legacy; /* a leftover DefenderProxyServer-style value: ignored */
};

#define VG_PROXY_SRC_STATIC "TelemetryProxyServer"
#define VG_PROXY_SRC_WINHTTP "WinHTTP"
#define VG_PROXY_SRC_USER "Network & Internet settings"
#define VG_PROXY_SRC_ENV "environment"
#define VG_PROXY_SRC_DIRECT "direct"

struct vg_proxy_choice {
	char server[256]; /* host:port, "" for direct */
	const char *source; /* VG_PROXY_SRC_* */
	char warning[256]; /* "" or why something was ignored */
	char error[256]; /* set when the chosen setting is unusable */
};

/*
 * Decide. 0 with out filled, or -EINVAL when the source that wins holds no
 * usable host:port (out->error says which and why): a configured proxy is
 * never skipped for a later one.
 */
int vg_proxy_choose(const struct vg_proxy_sources *in, struct vg_proxy_choice *out);

#endif
