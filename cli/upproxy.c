// SPDX-License-Identifier: GPL-2.0-only
/* The upstream route: proxy choice, curl's setting, reasons, connectivity test (upproxy.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conntest.h"
#include "esc.h"
#include "hoststate.h"
#include "log.h"
#include "proxy.h"
#include "upproxy.h"

#define VG_UP_URLS_MAX 8
#define VG_UP_BODY_MAX 512

const char *const vg_up_proxy_vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
					 "no_proxy",	"NO_PROXY",    NULL };

static const char *vg_up_configured;

/*
 * curl's message of the last failure. One for the process: the handles
 * outlive the thread that used them last (a thread's own would dangle at
 * curl_easy_cleanup), and one thread sends while healthcheck runs its own.
 */
static char vg_up_errbuf[CURL_ERROR_SIZE];

void vg_up_proxy_config(const char *proxy)
{
	vg_up_configured = proxy;
}

/* HOST (brackets kept) and HOST:PORT (443 by default) of https://HOST[:PORT][/...]. */
static void vg_up_target(const char *url, char *host, size_t hn, char *hostport, size_t hpn)
{
	const char *p = strncmp(url, "https://", 8) ? url : url + 8;
	size_t len = strcspn(p, "/?#"), hl;
	const char *colon;

	if (p[0] == '[') {
		const char *end = memchr(p, ']', len);

		hl = end ? (size_t)(end - p) + 1 : len;
	} else {
		colon = memchr(p, ':', len);
		hl = colon ? (size_t)(colon - p) : len;
	}
	snprintf(host, hn, "%.*s", (int)hl, p);
	snprintf(hostport, hpn, "%.*s%s", (int)len, p, hl == len ? ":443" : "");
}

int vg_up_route(const char *url, struct vg_proxy_choice *c)
{
	struct vg_proxy_sources ps = { .config = vg_up_configured };
	char host[256], hostport[300];

	for (int i = 0; i < 4 && !ps.env; i++) {
		const char *v = getenv(vg_up_proxy_vars[i]);

		ps.env = v && *v ? v : NULL;
	}
	ps.no_proxy = getenv("no_proxy");
	if (!ps.no_proxy || !*ps.no_proxy)
		ps.no_proxy = getenv("NO_PROXY");
	vg_up_target(url, host, sizeof(host), hostport, sizeof(hostport));
	ps.host = host;
	return vg_proxy_choose(&ps, c);
}

/* curl's proxy for the route c; "" turns off curl's own reading of the environment. */
static void vg_up_set_route(CURL *curl, const struct vg_proxy_choice *c)
{
	char proxy[300];

	snprintf(proxy, sizeof(proxy), "%s%s", c->server[0] ? "http://" : "", c->server);
	curl_easy_setopt(curl, CURLOPT_PROXY, proxy);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "");
	curl_easy_setopt(curl, CURLOPT_PROXYTYPE, (long)CURLPROXY_HTTP);
	curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, vg_up_errbuf);
	vg_up_errbuf[0] = '\0';
}

int vg_up_apply_proxy(CURL *curl, const char *url)
{
	struct vg_proxy_choice c;

	if (vg_up_route(url, &c)) {
		/* vg_up_check() refused this at start: the environment cannot change since. */
		vg_log(VG_ERROR, "upstream: %s", c.error);
		curl_easy_setopt(curl, CURLOPT_PROXY,
				 "http://0.0.0.0:0"); /* never direct instead */
		return -EINVAL;
	}
	vg_up_set_route(curl, &c);
	return 0;
}

void vg_up_tls(CURL *curl, const char *ca, long connect_s)
{
	curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
	curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_s);
}

int vg_up_check(const char *urls)
{
	char buf[4096], *save = NULL;
	struct vg_proxy_choice c;

	snprintf(buf, sizeof(buf), "%s", urls);
	for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save))
		if (vg_up_route(u, &c)) {
			vg_log(VG_ERROR, "host: --upstream %s: %s (--proxy direct ignores it)", u,
			       c.error);
			return -EINVAL;
		}
	return 0;
}

static int vg_up_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return 1;
	default:
		return 0;
	}
}

/* Why, on route c (server "" for direct). */
static void vg_up_why_route(CURL *curl, CURLcode rc, const char *url,
			    const struct vg_proxy_choice *c, char *out, size_t n)
{
	const char *detail = vg_up_errbuf[0] ? vg_up_errbuf : curl_easy_strerror(rc);
	char host[256], target[300], via[300] = "";
	long connect_code = 0;

	vg_up_target(url, host, sizeof(host), target, sizeof(target));
	if (c->server[0])
		snprintf(via, sizeof(via), " through proxy %s", c->server);
	curl_easy_getinfo(curl, CURLINFO_HTTP_CONNECTCODE, &connect_code);
	if (c->server[0] && connect_code && (connect_code < 200 || connect_code > 299))
		snprintf(out, n, "proxy %s %s (%ld to CONNECT %s)%s", c->server,
			 vg_conntest_proxy_why((int)connect_code), connect_code, target,
			 connect_code == 407 ? ": vigil sends no proxy credentials, let this host"
					       " through without them" :
					       "");
	else if (rc == CURLE_COULDNT_RESOLVE_PROXY)
		snprintf(out, n, "cannot resolve proxy %s (from %s)", c->server, c->source);
	else if (rc == CURLE_COULDNT_CONNECT && c->server[0])
		snprintf(out, n, "cannot connect to proxy %s (from %s): %s", c->server, c->source,
			 detail);
	else if (rc == CURLE_COULDNT_CONNECT)
		snprintf(out, n, "cannot connect to %s: %s", target, detail);
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		snprintf(out, n, "cannot resolve %s", host);
	else if (vg_up_tls_error(rc))
		snprintf(out, n, "TLS with %s failed%s: %s", target, via, detail);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, n, "%s timed out%s: %s", target, via, detail);
	else
		snprintf(out, n, "%s%s: %s", target, via, detail);
}

void vg_up_why(CURL *curl, CURLcode rc, const char *url, char *out, size_t n)
{
	struct vg_proxy_choice c;

	if (vg_up_route(url, &c)) {
		snprintf(out, n, "%s", c.error);
		return;
	}
	vg_up_why_route(curl, rc, url, &c, out, n);
}

struct vg_up_body {
	char s[VG_UP_BODY_MAX];
	size_t len;
};

static size_t vg_up_keep(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vg_up_body *b = arg;
	size_t len = size * nmemb, room = sizeof(b->s) - 1 - b->len;

	memcpy(b->s + b->len, p, len < room ? len : room);
	b->len += len < room ? len : room;
	b->s[b->len] = '\0';
	return len;
}

/* One GET URL/v1/health: 0, or -EIO with why. */
static int vg_up_health(CURL *curl, const char *url, const char *ca,
			const struct vg_proxy_choice *c, char *why, size_t n)
{
	struct vg_up_body body = { .len = 0 };
	char full[1100], db[256] = "";
	const char *p;
	long status = 0;
	CURLcode rc;

	snprintf(full, sizeof(full), "%s/v1/health", url);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, full);
	vg_up_tls(curl, ca, 5);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, vg_up_keep);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	vg_up_set_route(curl, c);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		vg_up_why_route(curl, rc, url, c, why, n);
		return -EIO;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		return 0;
	/* The server's own words on its database ({"database":"..."}), escaped. */
	p = strstr(body.s, "\"database\":\"");
	if (p) {
		p += 12;
		vg_esc(db, sizeof(db), p, strcspn(p, "\""));
	}
	snprintf(why, n, "%s answered %ld%s%s", full, status, db[0] ? ": database: " : "", db);
	return -EIO;
}

int vg_up_conntest(const char *urls, const char *ca, const struct vg_proxy_choice *proxy,
		   char *result, size_t n)
{
	char buf[4096], why[512], first[512] = "", *save = NULL;
	CURL *curl;

	if (!ca || !*ca || access(ca, R_OK)) {
		snprintf(result, n, "failed: cannot read the server's CA file %s: %s",
			 ca && *ca ? ca : "(none recorded)", strerror(ca && *ca ? errno : ENOENT));
		return -EACCES;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(curl = curl_easy_init())) {
		snprintf(result, n, "failed: libcurl: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(buf, sizeof(buf), "%s", urls);
	for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (!vg_up_health(curl, u, ca, proxy, why, sizeof(why))) {
			snprintf(result, n, "passed: %s/v1/health answered 200 %s%s", u,
				 proxy->server[0] ? "through proxy " : "directly", proxy->server);
			curl_easy_cleanup(curl);
			return 0;
		}
		if (!first[0])
			snprintf(first, sizeof(first), "%s", why);
	}
	curl_easy_cleanup(curl);
	snprintf(result, n, "failed: %s", first[0] ? first : "no server URL");
	return -EIO;
}

int vg_up_record(struct sqlite3 *db, const char *urls, const char *ca)
{
	char url[1024], abs[PATH_MAX];
	struct vg_proxy_choice c;
	int err;

	err = vg_hoststate_set(db, VG_HS_CONNECTIVITY, NULL); /* healthcheck runs it anew */
	if (!urls) {
		if (!err)
			err = vg_hoststate_set(db, VG_HS_UPSTREAM, NULL);
		if (!err)
			err = vg_hoststate_set(db, VG_HS_UPSTREAM_CA, NULL);
		return err;
	}
	snprintf(url, sizeof(url), "%.*s", (int)strcspn(urls, ","), urls);
	err = err ? err : vg_up_route(url, &c);
	if (!err)
		err = vg_hoststate_set(db, VG_HS_UPSTREAM, urls);
	if (!err)
		err = vg_hoststate_set(db, VG_HS_UPSTREAM_CA, realpath(ca, abs) ? abs : ca);
	if (!err)
		err = vg_hoststate_set(db, VG_HS_PROXY, c.server[0] ? c.server : "direct");
	if (!err)
		err = vg_hoststate_set(db, VG_HS_PROXY_SOURCE, c.source);
	if (!err)
		vg_log(VG_INFO, "upstream: %s%s (%s)", c.server[0] ? "through proxy " : "direct",
		       c.server, c.source);
	return err;
}
