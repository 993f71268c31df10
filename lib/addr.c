// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "addr.h"
#include "log.h"

static int vg_parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *out > max || *s == '-' ? -EINVAL : 0;
}

int vg_addr_parse(const char *spec, struct vg_addr *a)
{
	const char *colon;
	unsigned long v;

	memset(a, 0, sizeof(*a));
	if (!strcmp(spec, "stdio")) {
		a->kind = VG_ADDR_STDIO;
		return 0;
	}
	if (!strncmp(spec, "unix:", 5)) {
		a->kind = VG_ADDR_UNIX;
		if (!spec[5] || strlen(spec + 5) >= sizeof(a->path)) {
			vg_log(VG_ERROR, "transport '%s': unix socket path empty or over %zu bytes",
			       spec, sizeof(a->path) - 1);
			return -EINVAL;
		}
		strcpy(a->path, spec + 5);
		return 0;
	}
	if (!strncmp(spec, "tcp:", 4) || !strncmp(spec, "vsock:", 6)) {
		int tcp = spec[0] == 't';
		const char *rest = spec + (tcp ? 4 : 6);
		size_t hl;

		colon = strrchr(rest, ':');
		if (!colon || colon == rest || vg_parse_num(colon + 1, 65535, &v) || !v) {
			vg_log(VG_ERROR, "transport '%s': want %s:PORT with a port from 1 to 65535",
			       spec, tcp ? "tcp:HOST" : "vsock:CID");
			return -EINVAL;
		}
		a->port = (uint16_t)v;
		hl = (size_t)(colon - rest);
		if (tcp) {
			a->kind = VG_ADDR_TCP;
			if (hl >= sizeof(a->host))
				return vg_log(VG_ERROR, "transport '%s': host name too long", spec),
				       -EINVAL;
			memcpy(a->host, rest, hl);
			/* [::1]:PORT */
			if (a->host[0] == '[' && a->host[hl - 1] == ']') {
				memmove(a->host, a->host + 1, hl - 2);
				a->host[hl - 2] = '\0';
			}
			return 0;
		}
		a->kind = VG_ADDR_VSOCK;
		{
			char cid[16];

			if (hl >= sizeof(cid))
				hl = sizeof(cid) - 1;
			memcpy(cid, rest, hl);
			cid[hl] = '\0';
			if (vg_parse_num(cid, 0xffffffffu, &v)) {
				vg_log(VG_ERROR, "transport '%s': CID '%s' is not a number", spec,
				       cid);
				return -EINVAL;
			}
			a->cid = (uint32_t)v;
		}
		return 0;
	}
	vg_log(VG_ERROR,
	       "unknown transport '%s' (stdio, unix:PATH, tcp:HOST:PORT or vsock:CID:PORT)", spec);
	return -EINVAL;
}

/* Finish a non-blocking connect: 0 or -errno. */
static int vg_connect_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t sl = sizeof(int);
	int soerr = 0, n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
		return -errno;
	return -soerr;
}

static int vg_connect_sa(int family, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len)) {
		err = -errno;
		if (err == -EINPROGRESS || err == -EAGAIN)
			err = vg_connect_wait(fd, timeout_ms);
	}
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int vg_addr_connect(const struct vg_addr *a, int timeout_ms)
{
	switch (a->kind) {
	case VG_ADDR_UNIX: {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, a->path);
		return vg_connect_sa(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa), timeout_ms);
	}
	case VG_ADDR_VSOCK: {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
					  .svm_cid = a->cid,
					  .svm_port = a->port };

		return vg_connect_sa(AF_VSOCK, (struct sockaddr *)&sa, sizeof(sa), timeout_ms);
	}
	case VG_ADDR_TCP: {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
		char port[8];
		int fd = -EHOSTUNREACH, rc;

		snprintf(port, sizeof(port), "%u", a->port);
		rc = getaddrinfo(a->host, port, &hints, &res);
		if (rc)
			return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = vg_connect_sa(ai->ai_family, ai->ai_addr, ai->ai_addrlen, timeout_ms);
			if (fd >= 0)
				break;
		}
		freeaddrinfo(res);
		if (fd >= 0) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
		}
		return fd;
	}
	default:
		return -EINVAL;
	}
}

static int vg_listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, err;

	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vg_err(-EEXIST, "listen on %s: not a socket, not removing it", path);
		/* Only a stale socket is removed, never a live host's. */
		fd = vg_connect_sa(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa), 200);
		if (fd >= 0 || fd == -EAGAIN || fd == -ETIMEDOUT) {
			if (fd >= 0)
				close(fd);
			return vg_err(-EADDRINUSE, "listen on %s: another host is listening", path);
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vg_err(-errno, "socket");
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && chmod(path, 0600))
		err = -errno;
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return vg_err(err, "listen on %s", path);
	}
	return fd;
}

int vg_addr_listen(const struct vg_addr *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	char port[8];
	int fd, rc, one = 1;

	switch (a->kind) {
	case VG_ADDR_UNIX:
		return vg_listen_unix(a->path);
	case VG_ADDR_VSOCK: {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
					  .svm_cid = a->cid,
					  .svm_port = a->port };

		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return vg_err(-errno, "vsock socket");
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
			rc = -errno;
			close(fd);
			return vg_err(rc, "listen on vsock:%u:%u", a->cid, a->port);
		}
		return fd;
	}
	case VG_ADDR_TCP:
		snprintf(port, sizeof(port), "%u", a->port);
		rc = getaddrinfo(a->host, port, &hints, &res);
		if (rc)
			return vg_err(-EINVAL, "listen on %s:%s: %s", a->host, port,
				      gai_strerror(rc));
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			freeaddrinfo(res);
			return vg_err(rc, "socket");
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 16)) {
			rc = -errno;
			freeaddrinfo(res);
			close(fd);
			return vg_err(rc, "listen on tcp:%s:%s", a->host, port);
		}
		freeaddrinfo(res);
		return fd;
	default:
		return vg_err(-EINVAL, "cannot listen on stdio");
	}
}
