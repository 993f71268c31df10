/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which proxy the telemetry goes through. One portable decision over the
 * sources a thin platform layer reads (Windows: the plug-in's registry key,
 * the WinHTTP default proxy, the Network & Internet settings; Linux: the
 * host configuration and the usual proxy environment variables), in this
 * order: the configured proxy (Linux: --proxy), the static
 * TelemetryProxyServer setting, WinHTTP, Network & Internet (or the
 * environment, unless no_proxy names the server), else direct.
 */
#ifndef VG_PROXY_H
#define VG_PROXY_H

struct vg_proxy_sources {
	const char *static_server; /* TelemetryProxyServer, NULL when unset */
	const char *static_source; /* where it was read, NULL: VG_PROXY_SRC_STATIC */
	const char *winhttp; /* WinHTTP named proxy (netsh winhttp set proxy) */
	const char *user; /* Network & Internet proxy settings, when enabled */
	const char *env; /* Linux: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY */
	const char *legacy; /* a leftover DefenderProxyServer-style value: ignored */
	const char *config; /* Linux: --proxy (proxy = in [host]); "direct": none */
	const char *no_proxy; /* Linux: no_proxy or NO_PROXY, for env only */
	const char *host; /* the server's host name, matched against no_proxy */
};

#define VG_PROXY_SRC_STATIC "TelemetryProxyServer"
#define VG_PROXY_SRC_STATIC_OVERRIDE "TelemetryProxyServer (plug-in key)"
#define VG_PROXY_SRC_WINHTTP "WinHTTP"
#define VG_PROXY_SRC_USER "Network & Internet settings"
#define VG_PROXY_SRC_ENV "environment"
#define VG_PROXY_SRC_DIRECT "direct"
#define VG_PROXY_SRC_CONFIG "configuration"
#define VG_PROXY_SRC_NO_PROXY "no_proxy"

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

/*
 * Does no_proxy (names by commas or blanks, as curl reads it) name host? "*"
 * names every host, "example.com" and ".example.com" name example.com and
 * its subdomains, an address names itself; a :port on an entry is ignored.
 */
int vg_proxy_bypass(const char *no_proxy, const char *host);

#endif
