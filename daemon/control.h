/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigild's local control socket: a unix stream socket that answers root
 * only (the peer's credentials are checked with SO_PEERCRED), one command
 * per line, one answer per line:
 *   ping            -> pong
 *   stats           -> a JSON object: per class counters, rings, daemon counts
 *   reload          -> reloads the --filters file, as SIGHUP does ("ok" or the error)
 *   flush           -> sends a batch now ("ok")
 *   filter\nTEXT    -> checks the rule text (up to the end of the stream,
 *                      at most 1 MiB) and swaps it in: "ok: N rules, ..." or
 *                      "error: ..." with the diagnostics (running set kept)
 * Anything else gets "error: unknown command".
 */
#ifndef VG_CONTROL_H
#define VG_CONTROL_H

#include <stddef.h>

struct vg_control {
	int fd; /* listening socket, -1 when off */
	char path[108];
	unsigned long refused; /* connections from non-root peers */
};

/* Listen on path (an old socket there is replaced), mode 0600. 0 or -errno. */
int vg_control_open(struct vg_control *c, const char *path);
void vg_control_close(struct vg_control *c);

#define VG_CONTROL_BODY_MAX (1u << 20)

/*
 * Accept one connection, check its peer is root, read one command line (and
 * the body of a filter command) and answer it with handler(ctx, cmd, body,
 * len, out, size), which writes the answer (without the final newline) and
 * returns 0. 0, or -errno on a socket error.
 */
int vg_control_serve(struct vg_control *c,
		     int (*handler)(void *ctx, const char *cmd, const char *body, size_t len,
				    char *out, size_t size),
		     void *ctx);

#endif
