/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transport addresses, shared by vigild (connects) and the Linux host
 * (listens): stdio, unix:PATH, tcp:HOST:PORT, vsock:CID:PORT.
 */
#ifndef VG_ADDR_H
#define VG_ADDR_H

#include <stdint.h>

enum vg_addr_kind {
	VG_ADDR_STDIO,
	VG_ADDR_UNIX,
	VG_ADDR_TCP,
	VG_ADDR_VSOCK,
};

struct vg_addr {
	enum vg_addr_kind kind;
	char path[108]; /* unix */
	char host[256]; /* tcp */
	uint16_t port; /* tcp, vsock */
	uint32_t cid; /* vsock: 2 is the host under WSL2 */
};

/* Parse a transport spec: 0, or -EINVAL with the reason logged. */
int vg_addr_parse(const char *spec, struct vg_addr *a);

/*
 * Connect a non-blocking, close-on-exec stream socket to a (not stdio),
 * waiting at most timeout_ms for the handshake: the fd, or -errno (not
 * logged: the caller retries with backoff).
 */
int vg_addr_connect(const struct vg_addr *a, int timeout_ms);

/* Listen on a (unix: mode 0600, stale socket replaced): the fd, or -errno (logged). */
int vg_addr_listen(const struct vg_addr *a);

#endif
