// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sender.h"

struct vg_pending {
	struct vg_pending *next;
	uint64_t seq;
	uint32_t nevents;
	size_t len;
};

static int vg_connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return vg_err(-ENAMETOOLONG, "unix socket path %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vg_err(-errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return vg_err(err, "connect to %s", path);
	}
	return fd;
}

int vg_sender_open(struct vg_sender *s, const char *spec, size_t max_pending_bytes)
{
	memset(s, 0, sizeof(*s));
	s->next_seq = 1;
	s->max_pending_bytes = max_pending_bytes;
	vg_frame_reader_init(&s->rd);
	if (!strcmp(spec, "stdio")) {
		s->rfd = STDIN_FILENO;
		s->wfd = STDOUT_FILENO;
	} else if (!strncmp(spec, "unix:", 5)) {
		int fd = vg_connect_unix(spec + 5);

		if (fd < 0)
			return fd;
		s->rfd = s->wfd = fd;
		s->owns_fds = 1;
	} else {
		return vg_err(-EINVAL, "unknown transport '%s' (stdio or unix:PATH)", spec);
	}
	/*
	 * Reads are driven by epoll. stdin and stdout may share one open file
	 * (a socket), so the flag can reach writes too: vg_writev_all() waits
	 * with poll() on EAGAIN.
	 */
	if (fcntl(s->rfd, F_SETFL, fcntl(s->rfd, F_GETFL) | O_NONBLOCK) < 0)
		return vg_err(-errno, "make the transport non-blocking");
	return 0;
}

void vg_sender_close(struct vg_sender *s)
{
	while (s->head) {
		struct vg_pending *n = s->head->next;

		free(s->head);
		s->head = n;
	}
	vg_frame_reader_free(&s->rd);
	if (s->owns_fds)
		close(s->rfd);
	s->owns_fds = 0;
}

static int vg_writev_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/*
				 * stdin and stdout may be one socket (the plug-in's
				 * ExecuteBinary): O_NONBLOCK for reads applies to both.
				 */
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return -errno;
				continue;
			}
			return -errno;
		}
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void vg_evict(struct vg_sender *s)
{
	while (s->head && s->pending_bytes > s->max_pending_bytes) {
		struct vg_pending *p = s->head;

		s->head = p->next;
		if (!s->head)
			s->tail = NULL;
		s->pending_bytes -= p->len;
		s->events_evicted += p->nevents;
		free(p);
	}
}

int vg_sender_send(struct vg_sender *s, uint8_t type, uint16_t flags, const void *payload,
		   size_t len, uint32_t nevents)
{
	struct vg_frame_hdr h = { .type = type, .flags = flags, .seq = s->next_seq, .len = len };
	uint8_t raw[VG_FRAME_HDR_LEN];
	struct iovec iov[2] = { { raw, sizeof(raw) }, { (void *)payload, len } };
	struct vg_pending *p;
	int err;

	if (len > VG_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	vg_frame_hdr_pack(raw, &h, payload);
	err = vg_writev_all(s->wfd, iov, len ? 2 : 1);
	if (err)
		return err;
	s->next_seq++;
	/*
	 * Keep the bookkeeping of what awaits an acknowledgement. Resending
	 * after a reconnect needs the bytes too: that comes with the spool.
	 */
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->next = NULL;
	p->seq = h.seq;
	p->nevents = nevents;
	p->len = VG_FRAME_HDR_LEN + len;
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	s->pending_bytes += p->len;
	vg_evict(s);
	return 0;
}

static void vg_ack(struct vg_sender *s, uint64_t seq)
{
	if (seq > s->acked)
		s->acked = seq;
	while (s->head && s->head->seq <= s->acked) {
		struct vg_pending *p = s->head;

		s->head = p->next;
		if (!s->head)
			s->tail = NULL;
		s->pending_bytes -= p->len;
		free(p);
	}
}

int vg_sender_read(struct vg_sender *s)
{
	uint8_t buf[4096];
	struct vg_frame_hdr h;
	const uint8_t *payload;
	ssize_t n;
	int err;

	for (;;) {
		n = read(s->rfd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		err = vg_frame_reader_feed(&s->rd, buf, (size_t)n);
		if (err)
			return err;
		while ((err = vg_frame_reader_next(&s->rd, &h, &payload)) == 1) {
			if (h.type != VG_FRAME_ACK) {
				vg_log(VG_WARN,
				       "peer sent frame type %u, which vigild does not take",
				       h.type);
				return -EPROTO;
			}
			vg_ack(s, h.seq);
		}
		if (err < 0) {
			vg_log(VG_ERROR, "from peer: %s", vg_frame_strerror(err));
			return err;
		}
	}
}

int vg_sender_all_acked(const struct vg_sender *s)
{
	return s->acked + 1 >= s->next_seq;
}
