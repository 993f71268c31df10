// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fmt.h"
#include "proxy.h"

/*
 * Normalise one proxy entry to host:port. WinHTTP and the Network &
 * Internet settings may hold a list ("a:80;b:80") or per-scheme entries
 * ("http=a:80;https=b:443"): the https entry wins, else the first one.
 * 0, or -EINVAL with why set.
 */
static int vg_proxy_norm(const char *in, char *out, size_t n, const char **why)
{
	char buf[256], *tok, *save = NULL, *pick = NULL, *p, *end;
	long port;

	if (strlen(in) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", in);
	for (tok = strtok_r(buf, "; \t", &save); tok; tok = strtok_r(NULL, "; \t", &save)) {
		if (!strncmp(tok, "https=", 6)) {
			pick = tok + 6;
			break;
		}
		if (!strncmp(tok, "http=", 5))
			tok += 5;
		else if (strchr(tok, '=') && !strstr(tok, "://"))
			continue; /* ftp=, socks=: not for us */
		if (!pick)
			pick = tok;
	}
	if (!pick || !*pick) {
		*why = "empty";
		return -EINVAL;
	}
	if (strchr(pick, '@')) {
		*why = "credentials in a proxy URL are not supported";
		return -EINVAL;
	}
	if (!strncmp(pick, "http://", 7))
		pick += 7;
	else if (strstr(pick, "://")) {
		*why = "only http:// proxies are supported";
		return -EINVAL;
	}
	p = strrchr(pick, ':');
	if (p && (end = strchr(p, '/')))
		*end = '\0'; /* http://host:port/ */
	if (!p || p == pick) {
		*why = "not host:port";
		return -EINVAL;
	}
	port = strtol(p + 1, &end, 10);
	if (*end || end == p + 1 || port < 1 || port > 65535) {
		*why = "bad port";
		return -EINVAL;
	}
	for (const char *c = pick; c < p; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".-_[]:", *c)) {
			*why = "bad host name";
			return -EINVAL;
		}
	snprintf(out, n, "%s", pick);
	return 0;
}

int vg_proxy_choose(const struct vg_proxy_sources *in, struct vg_proxy_choice *out)
{
	const struct {
		const char *value, *source;
	} order[] = {
		{ in->config, VG_PROXY_SRC_CONFIG },
		{ in->static_server, in->static_source ? in->static_source : VG_PROXY_SRC_STATIC },
		{ in->winhttp, VG_PROXY_SRC_WINHTTP },
		{ in->user, VG_PROXY_SRC_USER },
		{ in->env, VG_PROXY_SRC_ENV },
	};
	const char *why;

	memset(out, 0, sizeof(*out));
	out->source = VG_PROXY_SRC_DIRECT;
	if (in->legacy && *in->legacy)
		snprintf(out->warning, sizeof(out->warning),
			 "legacy proxy value '%s' (DefenderProxyServer) is ignored: set"
			 " TelemetryProxyServer instead",
			 in->legacy);
	vg_redact(out->warning);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!order[i].value || !*order[i].value)
			continue;
		out->source = order[i].source;
		if (order[i].value == in->config && !strcmp(in->config, "direct"))
			return 0;
		if (order[i].value == in->env && in->host && in->no_proxy &&
		    vg_proxy_bypass(in->no_proxy, in->host)) {
			out->source = VG_PROXY_SRC_NO_PROXY;
			return 0;
		}
		if (vg_proxy_norm(order[i].value, out->server, sizeof(out->server), &why)) {
			snprintf(out->error, sizeof(out->error), "%s proxy '%s': %s",
				 order[i].source, order[i].value, why);
			out->server[0] = '\0';
			vg_redact(out->error); /* a proxy URL may carry credentials */
			return -EINVAL;
		}
		return 0;
	}
	return 0;
}

int vg_proxy_bypass(const char *no_proxy, const char *host)
{
	char buf[1024], name[256], *tok, *save = NULL, *c;
	size_t hl, tl;

	if (strlen(no_proxy) >= sizeof(buf) || strlen(host) >= sizeof(name))
		return 0;
	snprintf(buf, sizeof(buf), "%s", no_proxy);
	/* [::1] and ::1 alike; a host name is case-insensitive, with or without its final dot. */
	snprintf(name, sizeof(name), "%s", host + (host[0] == '['));
	hl = strlen(name);
	if (hl && (name[hl - 1] == ']' || name[hl - 1] == '.'))
		name[--hl] = '\0';
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!strcmp(tok, "*"))
			return 1;
		if (tok[0] == '[') {
			tok++;
			c = strchr(tok, ']');
		} else {
			c = strchr(tok, ':');
			if (c && strchr(c + 1, ':'))
				c = NULL; /* an IPv6 address without brackets */
		}
		if (c)
			*c = '\0';
		if (tok[0] == '.')
			tok++;
		tl = strlen(tok);
		if (tl && tok[tl - 1] == '.')
			tok[--tl] = '\0';
		if (!tl || tl > hl)
			continue;
		if (!strcasecmp(name + hl - tl, tok) && (hl == tl || name[hl - tl - 1] == '.'))
			return 1;
	}
	return 0;
}
