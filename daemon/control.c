// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

int vg_control_open(struct vg_control *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int err;

	c->fd = -1;
	c->refused = 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return vg_err(-ENAMETOOLONG, "control socket %s", path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return vg_err(-errno, "control socket");
	unlink(path);
	/* Created 0600 from the start: no window where others could connect. */
	old = umask(0177);
	err = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && listen(c->fd, 8))
		err = -errno;
	if (err) {
		close(c->fd);
		c->fd = -1;
		return vg_err(err, "control socket %s", path);
	}
	return 0;
}

void vg_control_close(struct vg_control *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	unlink(c->path);
	c->fd = -1;
}

static void vg_reply(int fd, const char *msg)
{
	size_t len = strlen(msg);

	if (write(fd, msg, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		vg_log(VG_DEBUG, "control: the client left before the answer");
}

/*
 * Read into buf[have..cap), each read within a second, until the client ends
 * its stream (*eof set), a newline has come when `line`, or buf is full.
 * Returns the bytes buf holds.
 */
static size_t vg_read_more(int fd, char *buf, size_t have, size_t cap, int line, int *eof)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	*eof = 0;
	while (have < cap && !(line && memchr(buf, '\n', have)) && poll(&pfd, 1, 1000) == 1) {
		ssize_t n = read(fd, buf + have, cap - have);

		if (n < 0 && errno == EINTR)
			continue;
		*eof = n == 0;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	return have;
}

int vg_control_serve(struct vg_control *c,
		     int (*handler)(void *ctx, const char *cmd, const char *body, size_t len,
				    char *out, size_t size),
		     void *ctx)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char cmd[256], out[8192], *body = NULL, *nl;
	size_t n, blen = 0;
	int fd, eof;

	fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
		c->refused++;
		vg_log(VG_WARN, "control: refused a connection from uid %d (root only)",
		       len == sizeof(cred) ? (int)cred.uid : -1);
		vg_reply(fd, "error: root only");
		close(fd);
		return 0;
	}
	/*
	 * One short line, however the client's writes split it; a client that
	 * says nothing for a second is dropped.
	 */
	n = vg_read_more(fd, cmd, 0, sizeof(cmd) - 1, 1, &eof);
	if (!n) {
		close(fd);
		return 0;
	}
	cmd[n] = '\0';
	nl = memchr(cmd, '\n', n);
	if (nl && nl - cmd == 6 && !memcmp(cmd, "filter", 6)) {
		/* "filter\n" then the rule text up to the end of the stream */
		body = malloc(VG_CONTROL_BODY_MAX);
		if (!body) {
			close(fd);
			return 0;
		}
		blen = n - 7;
		memcpy(body, nl + 1, blen);
		blen = vg_read_more(fd, body, blen, VG_CONTROL_BODY_MAX, 0, &eof);
		if (!eof) {
			vg_reply(fd, "error: filter: the text must end within a second and "
				     "hold at most 1 MiB");
			goto out;
		}
	}
	cmd[strcspn(cmd, "\r\n")] = '\0';
	out[0] = '\0';
	if (handler(ctx, cmd, body, blen, out, sizeof(out)))
		snprintf(out, sizeof(out), "error: unknown command '%.64s'", cmd);
	vg_reply(fd, out);
out:
	free(body);
	close(fd);
	return 0;
}
