/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The route of `vigil host --upstream` (Linux, libcurl): the proxy the
 * portable order (host/proxy.h) picks from --proxy (proxy = in [host]),
 * then https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY unless no_proxy (or
 * NO_PROXY) names the server, else direct; HTTPS through a proxy by
 * CONNECT. The same route serves the telemetry and the connectivity test
 * (GET /v1/health), and failures are told naming the proxy or the server.
 */
#ifndef VG_UPPROXY_H
#define VG_UPPROXY_H

#include <curl/curl.h>
#include <stddef.h>

struct sqlite3;
struct vg_proxy_choice;

/* The proxy variables read, then no_proxy and NO_PROXY; NULL-terminated. */
extern const char *const vg_up_proxy_vars[];

/* --proxy URL (http://HOST:PORT, or direct); NULL: not configured. */
void vg_up_proxy_config(const char *proxy);

/*
 * The route to url (https://HOST[:PORT][/...]): 0 with c filled, or -EINVAL
 * when the proxy that wins is unusable (c->error says which and why).
 */
int vg_up_route(const char *url, struct vg_proxy_choice *c);

/*
 * Make curl's next transfer to url take its route: the proxy (CONNECT for
 * HTTPS) or direct, never curl's own reading of the environment. 0, or
 * -EINVAL when the route is unusable (checked at start: vg_up_check()).
 */
int vg_up_apply_proxy(CURL *curl, const char *url);

/*
 * The TLS every upstream transfer uses: only the onboarding package's CA
 * (ca) trusted, TLS 1.2 or later, https only, no signals (curl runs in
 * threads), connect_s seconds to connect.
 */
void vg_up_tls(CURL *curl, const char *ca, long connect_s);

/* Each URL of a --upstream list has a usable route: 0, or -EINVAL logged. */
int vg_up_check(const char *urls);

/*
 * Why a transfer to url failed (rc) on curl's route, naming the proxy
 * ("proxy H:P requires credentials (407 to CONNECT ...)", "cannot connect
 * to proxy H:P: ...") or the server (TLS, refused, timed out).
 */
void vg_up_why(CURL *curl, CURLcode rc, const char *url, char *out, size_t n);

/*
 * The connectivity test: GET URL/v1/health for each URL of urls until one
 * answers 200, over TLS trusting only ca, through proxy (its server ""
 * for direct). 0 with result "passed: ...", else a negative errno with
 * "failed: <the proxy's or the server's reason>" of the first URL.
 */
int vg_up_conntest(const char *urls, const char *ca, const struct vg_proxy_choice *proxy,
		   char *result, size_t n);

/*
 * At `vigil host` start: keep urls, the CA file (made absolute) and the
 * route of the first URL in HostState for healthcheck (urls NULL: no
 * server, the rows are removed), and log the route. 0 or -errno.
 */
int vg_up_record(struct sqlite3 *db, const char *urls, const char *ca);

#endif
