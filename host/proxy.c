// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		{ in->static_server, VG_PROXY_SRC_STATIC },
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
