/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Connectivity test: can the telemetry backend be reached through the
 * chosen proxy? One HTTP GET (absolute URL through a proxy, a plain path
 * when direct), answered with 2xx or 3xx. Portable over BSD sockets and
 * Winsock (the caller has run WSAStartup()).
 */
#ifndef VG_CONNTEST_H
#define VG_CONNTEST_H

#include <stddef.h>

struct vg_proxy_choice;

/*
 * Test url ("http://host[:port][/path]") through proxy (NULL or direct:
 * no proxy), waiting at most timeout_ms per step. 0 when reachable, else a
 * negative errno; result always gets "passed: ..." or "failed: <reason>".
 */
int vg_conntest(const char *url, const struct vg_proxy_choice *proxy, int timeout_ms, char *result,
		size_t n);

/*
 * What a proxy's own answer means, for a failed result: "requires
 * credentials" (407: vigil sends none), "could not reach the server" (5xx
 * to CONNECT or GET), else "refused".
 */
const char *vg_conntest_proxy_why(int code);

#endif
