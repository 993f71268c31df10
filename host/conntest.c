// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET vg_sock;
#define VG_BAD_SOCK INVALID_SOCKET
#define vg_sock_close closesocket
#else
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
typedef int vg_sock;
#define VG_BAD_SOCK (-1)
#define vg_sock_close close
#endif

#include "compat.h"
#include "conntest.h"
#include "proxy.h"

/* Split host:port (the port defaults to dflt). 0 or -EINVAL. */
static int vg_hostport(const char *in, size_t len, char *host, size_t hn, char *port, size_t pn,
		       const char *dflt)
{
	const char *colon = memchr(in, ':', len);
	size_t hl = colon ? (size_t)(colon - in) : len;

	if (!hl || hl >= hn)
		return -EINVAL;
	memcpy(host, in, hl);
	host[hl] = '\0';
	if (colon)
		snprintf(port, pn, "%.*s", (int)(len - hl - 1), colon + 1);
	else
		snprintf(port, pn, "%s", dflt);
	return port[0] ? 0 : -EINVAL;
}

static vg_sock vg_dial(const char *host, const char *port, int timeout_ms, int *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	vg_sock s = VG_BAD_SOCK;

	*err = -EHOSTUNREACH;
	if (getaddrinfo(host, port, &hints, &ai)) {
		*err = -ENOENT;
		return VG_BAD_SOCK;
	}
	for (a = ai; a; a = a->ai_next) {
#ifdef _WIN32
		DWORD tv = (DWORD)timeout_ms;
#else
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
#endif
		s = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
		if (s == VG_BAD_SOCK)
			continue;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&tv, sizeof(tv));
		if (!connect(s, a->ai_addr, (int)a->ai_addrlen))
			break;
		*err = -ECONNREFUSED;
		vg_sock_close(s);
		s = VG_BAD_SOCK;
	}
	freeaddrinfo(ai);
	return s;
}

int vg_conntest(const char *url, const struct vg_proxy_choice *proxy, int timeout_ms, char *result,
		size_t n)
{
	char host[256], port[16], phost[256], pport[16], req[1024], resp[512];
	const char *hp, *path, *via_host, *via_port;
	int direct = !proxy || !proxy->server[0], err, got = 0, code;
	vg_sock s;

	if (strncmp(url, "http://", 7)) {
		snprintf(result, n, "failed: '%s' is not an http:// URL", url);
		return -EINVAL;
	}
	hp = url + 7;
	path = strchr(hp, '/');
	if (vg_hostport(hp, path ? (size_t)(path - hp) : strlen(hp), host, sizeof(host), port,
			sizeof(port), "80")) {
		snprintf(result, n, "failed: no host in '%s'", url);
		return -EINVAL;
	}
	if (!direct && vg_hostport(proxy->server, strlen(proxy->server), phost, sizeof(phost),
				   pport, sizeof(pport), "8080")) {
		snprintf(result, n, "failed: proxy '%s' is not host:port", proxy->server);
		return -EINVAL;
	}
	via_host = direct ? host : phost;
	via_port = direct ? port : pport;
	s = vg_dial(via_host, via_port, timeout_ms, &err);
	if (s == VG_BAD_SOCK) {
		snprintf(result, n, "failed: cannot connect to %s %s:%s: %s",
			 direct ? "the backend" : "proxy", via_host, via_port,
			 err == -ENOENT ? "name not resolved" : "connection refused");
		return err;
	}
	snprintf(req, sizeof(req), "GET %s%s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: vigil\r\n\r\n",
		 direct ? "" : url, direct ? (path ? path : "/") : "", host, port);
	if (send(s, req, (int)strlen(req), 0) != (int)strlen(req)) {
		vg_sock_close(s);
		snprintf(result, n, "failed: sending the request to %s:%s failed", via_host,
			 via_port);
		return -EIO;
	}
	while (got < (int)sizeof(resp) - 1) {
		int r = recv(s, resp + got, (int)sizeof(resp) - 1 - got, 0);

		if (r <= 0)
			break;
		got += r;
		resp[got] = '\0';
		if (strstr(resp, "\r\n"))
			break;
	}
	vg_sock_close(s);
	resp[got] = '\0';
	resp[strcspn(resp, "\r\n")] = '\0';
	if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(result, n, "failed: no HTTP answer from %s %s:%s%s",
			 direct ? "backend" : "proxy", via_host, via_port,
			 got ? "" : " (timed out or closed)");
		return -EPROTO;
	}
	if (code >= 200 && code < 400) {
		snprintf(result, n, "passed: %s reachable %s%s (%s)", url,
			 direct ? "directly" : "through proxy ", direct ? "" : proxy->server, resp);
		return 0;
	}
	if (!direct && (code == 403 || code == 407 || code == 502 || code == 503))
		snprintf(result, n, "failed: proxy %s %s: %s", proxy->server,
			 vg_conntest_proxy_why(code), resp);
	else
		snprintf(result, n, "failed: %s answered: %s", url, resp);
	return -EACCES;
}

const char *vg_conntest_proxy_why(int code)
{
	if (code == 407)
		return "requires credentials";
	if (code >= 500)
		return "could not reach the server";
	return "refused";
}
