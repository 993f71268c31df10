// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sender.h"
#include "wire.h"

#define VG_BACKOFF_MIN_MS 100
#define VG_CONNECT_TIMEOUT_MS 500

static int64_t vg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Control replies and the HELLO: written between queued frames, never
 * inside one. One buffer per sender.
 */
struct vg_ctl_out {
	uint8_t *buf;
	size_t len, off, cap;
};
static struct vg_ctl_out vg_ctl;

static int vg_ctl_add(const uint8_t *p, size_t n)
{
	if (vg_ctl.off == vg_ctl.len)
		vg_ctl.off = vg_ctl.len = 0;
	if (vg_ctl.len + n > vg_ctl.cap) {
		size_t cap = vg_ctl.cap ? vg_ctl.cap : 256;
		uint8_t *nb;

		while (cap < vg_ctl.len + n)
			cap *= 2;
		nb = realloc(vg_ctl.buf, cap);
		if (!nb)
			return -ENOMEM;
		vg_ctl.buf = nb;
		vg_ctl.cap = cap;
	}
	memcpy(vg_ctl.buf + vg_ctl.len, p, n);
	vg_ctl.len += n;
	return 0;
}

static int vg_ctl_frame(uint8_t type, uint64_t seq, const void *payload, size_t len)
{
	uint8_t *f;
	size_t flen;
	int err = vg_wire_frame(type, 0, seq, payload, len, &f, &flen);

	if (err)
		return err;
	err = vg_ctl_add(f, flen);
	free(f);
	return err;
}

static void vg_sender_epoll(struct vg_sender *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = s->tag_in };

	if (s->ep < 0 || s->rfd < 0)
		return;
	if (s->rfd == s->wfd) {
		if (s->want_out)
			ev.events |= EPOLLOUT;
		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->rfd, &ev);
		return;
	}
	/* stdio over two pipes: stdout joins the set only while it is full. */
	ev.events = EPOLLOUT;
	ev.data.u64 = s->tag_out;
	if (s->want_out)
		epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wfd, &ev);
	else
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->wfd, NULL);
}

static void vg_sender_disconnect(struct vg_sender *s, const char *why)
{
	if (s->rfd < 0)
		return;
	if (s->ep >= 0) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->rfd, NULL);
		if (s->wfd != s->rfd)
			epoll_ctl(s->ep, EPOLL_CTL_DEL, s->wfd, NULL);
	}
	if (s->owns_fds)
		close(s->rfd);
	s->rfd = s->wfd = -1;
	s->owns_fds = 0;
	s->want_out = 0;
	s->disconnects++;
	vg_frame_reader_free(&s->rd);
	vg_ctl.len = vg_ctl.off = 0;
	if (s->addr.kind == VG_ADDR_STDIO)
		return;
	s->retry_at_ms = vg_now_ms() + s->backoff_ms;
	vg_log(VG_INFO, "%s (%zu frames unacknowledged); reconnecting in %u ms", why, s->q.count,
	       s->backoff_ms);
	s->backoff_ms =
		s->backoff_ms * 2 > s->o.backoff_max_ms ? s->o.backoff_max_ms : s->backoff_ms * 2;
}

/* Write control bytes and queued frames; 0, or -EPIPE when the connection was lost. */
static int vg_sender_pump(struct vg_sender *s)
{
	int ret;

	if (s->wfd < 0)
		return 0;
	for (;;) {
		if (vg_ctl.off < vg_ctl.len && s->q.wr_off == 0) {
			ssize_t n = write(s->wfd, vg_ctl.buf + vg_ctl.off, vg_ctl.len - vg_ctl.off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				ret = 1;
				goto out;
			}
			if (n < 0) {
				ret = -errno;
				goto out;
			}
			vg_ctl.off += (size_t)n;
			continue;
		}
		if (vg_ctl.off < vg_ctl.len && s->q.wr_off == 0)
			continue;
		if (s->keyed && !s->authed) {
			ret = 0; /* no frame before the host proved the key */
			break;
		}
		ret = vg_queue_write(&s->q, s->wfd);
		if (ret == 0 && vg_ctl.off < vg_ctl.len)
			continue;
		break;
	}
out:
	if (ret < 0) {
		vg_sender_disconnect(s, ret == -EPIPE || ret == -ECONNRESET ?
						"peer closed the connection" :
						"write to peer failed");
		return -EPIPE;
	}
	if (s->want_out != (ret == 1)) {
		s->want_out = ret == 1;
		vg_sender_epoll(s);
	}
	return 0;
}

static int vg_sender_connect(struct vg_sender *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = s->tag_in };
	int fd = vg_addr_connect(&s->addr, VG_CONNECT_TIMEOUT_MS);

	if (fd < 0) {
		if (!s->connect_failing++)
			vg_log(VG_INFO,
			       "cannot connect to %s: %s; %zu frames wait, retrying with backoff",
			       s->o.spec, strerror(-fd), s->q.count);
		s->retry_at_ms = vg_now_ms() + s->backoff_ms;
		s->backoff_ms = s->backoff_ms * 2 > s->o.backoff_max_ms ? s->o.backoff_max_ms :
									  s->backoff_ms * 2;
		return fd;
	}
	s->rfd = s->wfd = fd;
	s->owns_fds = 1;
	s->connects++;
	s->connect_failing = 0;
	s->backoff_ms = VG_BACKOFF_MIN_MS;
	vg_frame_reader_init(&s->rd);
	vg_queue_rewind(&s->q);
	vg_ctl.len = vg_ctl.off = 0;
	s->keepalive_at_ms = vg_now_ms() + VG_KEEPALIVE_MS;
	s->authed = 0;
	if (s->keyed) {
		/* Our nonce and device first; the HELLO follows the host's proof. */
		uint8_t begin[VG_AUTH_NONCE_LEN + VG_AUTH_ID_MAX];
		size_t id_len = strlen(s->key.id);
		int err = vg_random(s->nonce_d, sizeof(s->nonce_d));

		memcpy(begin, s->nonce_d, VG_AUTH_NONCE_LEN);
		memcpy(begin + VG_AUTH_NONCE_LEN, s->key.id, id_len);
		if (!err)
			err = vg_ctl_frame(VG_FRAME_AUTH, VG_AUTH_BEGIN, begin,
					   VG_AUTH_NONCE_LEN + id_len);
		if (err) {
			vg_err(err, "handshake");
			vg_sender_disconnect(s, "cannot begin the handshake");
			return err;
		}
	} else if (s->hello) {
		vg_ctl_add(s->hello, s->hello_len);
	}
	if (s->ep >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
	vg_log(VG_INFO, "connected to %s; resending %zu unacknowledged frames", s->o.spec,
	       s->q.count);
	return vg_sender_pump(s);
}

int vg_sender_open(struct vg_sender *s, const struct vg_sender_opts *o)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->o = *o;
	if (!s->o.backoff_max_ms)
		s->o.backoff_max_ms = 5000;
	s->rfd = s->wfd = s->ep = -1;
	s->next_seq = 1;
	s->backoff_ms = VG_BACKOFF_MIN_MS;
	vg_frame_reader_init(&s->rd);
	vg_queue_init(&s->q, o->mem_max);
	err = vg_addr_parse(o->spec, &s->addr);
	if (err)
		return err;
	if (o->key_file) {
		struct vg_keys k;

		if (s->addr.kind == VG_ADDR_STDIO)
			return vg_err(-EINVAL, "--key: for unix, tcp and vsock transports; "
					       "stdio is the host's own socketpair");
		err = vg_keys_load(&k, o->key_file);
		if (err)
			return err;
		if (k.n != 1) {
			vg_keys_free(&k);
			return vg_err(-EINVAL, "--key %s: holds %zu keys; want this device's alone",
				      o->key_file, k.n);
		}
		s->key = k.v[0];
		s->keyed = 1;
		vg_keys_free(&k);
	}
	if (o->spool_dir) {
		err = vg_queue_open_spool(&s->q, o->spool_dir, o->spool_max, o->spool_sync);
		if (err)
			return err;
		if (s->q.frames_recovered)
			vg_log(VG_INFO,
			       "spool %s: %" PRIu64 " unacknowledged frames from an earlier "
			       "run will be sent first",
			       o->spool_dir, s->q.frames_recovered);
	}
	if (s->addr.kind == VG_ADDR_STDIO) {
		s->rfd = STDIN_FILENO;
		s->wfd = STDOUT_FILENO;
		/*
		 * Reads and writes are driven by epoll. stdin and stdout may be
		 * one socket (the plug-in's ExecuteBinary).
		 */
		if (fcntl(s->rfd, F_SETFL, fcntl(s->rfd, F_GETFL) | O_NONBLOCK) < 0 ||
		    fcntl(s->wfd, F_SETFL, fcntl(s->wfd, F_GETFL) | O_NONBLOCK) < 0)
			return vg_err(-errno, "make the transport non-blocking");
		return 0;
	}
	/* The first connect is vg_sender_attach()'s, once the HELLO is known. */
	return 0;
}

void vg_sender_close(struct vg_sender *s)
{
	if (s->rfd >= 0 && s->owns_fds)
		close(s->rfd);
	s->rfd = s->wfd = -1;
	s->owns_fds = 0;
	vg_queue_free(&s->q);
	vg_frame_reader_free(&s->rd);
	free(s->hello);
	free(s->filter);
	free(s->distros);
	s->hello = s->filter = s->distros = NULL;
	free(vg_ctl.buf);
	memset(&vg_ctl, 0, sizeof(vg_ctl));
	memset(&s->key, 0, sizeof(s->key));
}

int vg_sender_attach(struct vg_sender *s, int ep, uint64_t tag_in, uint64_t tag_out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag_in };

	s->ep = ep;
	s->tag_in = tag_in;
	s->tag_out = tag_out;
	if (s->rfd < 0) {
		/* Not there yet is fine: frames wait in the queue, vg_sender_tick() retries. */
		vg_sender_connect(s);
		return 0;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->rfd, &ev) < 0)
		return -errno;
	vg_sender_epoll(s);
	return vg_sender_pump(s) < 0 && s->addr.kind == VG_ADDR_STDIO ? -EPIPE : 0;
}

int vg_sender_set_hello(struct vg_sender *s, const void *payload, size_t len)
{
	uint8_t *f;
	size_t flen;
	int err = vg_wire_frame(VG_FRAME_HELLO, 0, 0, payload, len, &f, &flen);

	if (err)
		return err;
	free(s->hello);
	s->hello = f;
	s->hello_len = flen;
	/* Connected already (stdio, or a connect in vg_sender_open()): say it now. */
	if (s->wfd >= 0 && !s->q.frames_written && s->q.wr_off == 0 && (!s->keyed || s->authed)) {
		err = vg_ctl_add(f, flen);
		if (!err)
			vg_sender_pump(s);
	}
	return err;
}

int vg_sender_send(struct vg_sender *s, uint8_t type, uint16_t flags, const void *payload,
		   size_t len, uint32_t nevents)
{
	uint8_t *f;
	size_t flen;
	int err = vg_wire_frame(type, flags, s->next_seq, payload, len, &f, &flen);

	if (err)
		return err;
	err = vg_queue_push(&s->q, s->o.stream_id, s->next_seq, nevents, f, flen);
	free(f);
	if (err)
		return err;
	s->next_seq++;
	/* Queued either way; only a closed stdio has nobody to come back to. */
	if (vg_sender_pump(s) < 0 && s->addr.kind == VG_ADDR_STDIO)
		return -EPIPE;
	return 0;
}

int vg_sender_writable(struct vg_sender *s)
{
	return vg_sender_pump(s);
}

/* One frame from the host. 0, or a negative errno: drop the connection. */
static int vg_sender_challenge(struct vg_sender *s, const struct vg_frame_hdr *h,
			       const uint8_t *payload)
{
	uint8_t mac[VG_AUTH_MAC_LEN];
	size_t id_len = strlen(s->key.id);
	int err;

	if (!s->keyed || s->authed || h->len != VG_AUTH_NONCE_LEN + VG_AUTH_MAC_LEN) {
		vg_log(VG_WARN, "peer sent an unexpected %u-byte CHALLENGE", h->len);
		return -EPROTO;
	}
	err = vg_auth_mac(s->key.key, 1, s->nonce_d, payload, s->key.id, id_len, mac);
	if (err)
		return err;
	if (!vg_auth_mac_equal(mac, payload + VG_AUTH_NONCE_LEN)) {
		vg_log(VG_ERROR,
		       "the host did not prove the key of %s: not our host, or another key",
		       s->key.id);
		return -EACCES;
	}
	err = vg_auth_mac(s->key.key, 0, s->nonce_d, payload, s->key.id, id_len, mac);
	err = err ?: vg_ctl_frame(VG_FRAME_AUTH, VG_AUTH_PROOF, mac, sizeof(mac));
	if (!err && s->hello)
		err = vg_ctl_add(s->hello, s->hello_len);
	if (err)
		return err;
	s->authed = 1;
	vg_log(VG_INFO, "the host proved the key of %s", s->key.id);
	return 0;
}

/* A copy of a control payload (FILTER, DISTROS) within its bound, for vigild to apply. */
static int vg_payload_copy(const struct vg_frame_hdr *h, const uint8_t *payload, const char *what,
			   uint8_t **out)
{
	if (h->len > VG_CONTROL_MAX_PAYLOAD) {
		vg_log(VG_WARN, "peer sent a %u-byte %s, over the %u-byte bound", h->len, what,
		       VG_CONTROL_MAX_PAYLOAD);
		return -EMSGSIZE;
	}
	*out = malloc(h->len ? h->len : 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, payload, h->len);
	return 0;
}

static int vg_sender_frame(struct vg_sender *s, const struct vg_frame_hdr *h,
			   const uint8_t *payload)
{
	if (s->keyed && !s->authed && h->type != VG_FRAME_CHALLENGE) {
		vg_log(VG_WARN, "peer sent frame type %u before the handshake", h->type);
		return -EPROTO;
	}
	switch (h->type) {
	case VG_FRAME_CHALLENGE:
		return vg_sender_challenge(s, h, payload);
	case VG_FRAME_ACK:
		if (h->len != 0 && h->len != 8) {
			vg_log(VG_WARN, "peer sent an ACK with a %u-byte payload", h->len);
			return -EBADMSG;
		}
		vg_queue_ack(&s->q, h->len ? vg_le64_get(payload) : s->o.stream_id, h->seq);
		return 0;
	case VG_FRAME_STATS:
		s->stats_requested = 1;
		return 0;
	case VG_FRAME_PING:
		s->pings++;
		if (h->len > 256) {
			vg_log(VG_WARN, "peer sent a PING with a %u-byte payload", h->len);
			return -EBADMSG;
		}
		return vg_ctl_frame(VG_FRAME_PONG, h->seq, payload, h->len);
	case VG_FRAME_FILTER: {
		uint8_t *copy;
		int err = vg_payload_copy(h, payload, "filter", &copy);

		if (err)
			return err;
		/* A newer update replaces one not applied yet; the older one is answered as such. */
		if (s->filter &&
		    vg_ctl_frame(VG_FRAME_PONG, s->filter_seq, "error: superseded", 17))
			vg_log(VG_WARN, "cannot answer filter update %" PRIu64, s->filter_seq);
		free(s->filter);
		s->filter = copy;
		s->filter_len = h->len;
		s->filter_seq = h->seq;
		vg_log(VG_INFO, "filter update %" PRIu64 " (%u bytes) received", h->seq, h->len);
		return 0; /* vigild applies it and answers (vg_sender_answer) */
	}
	case VG_FRAME_DISTROS: {
		uint8_t *copy;
		int err = vg_payload_copy(h, payload, "distribution list", &copy);

		if (err)
			return err;
		free(s->distros); /* each list is whole: a newer one replaces it */
		s->distros = copy;
		s->distros_len = h->len;
		return 0; /* vigild applies it (vg_apply_distros) */
	}
	default:
		vg_log(VG_WARN, "peer sent frame type %u, which vigild does not take", h->type);
		return -EPROTO;
	}
}

int vg_sender_answer(struct vg_sender *s, uint64_t seq, const char *text)
{
	int err = vg_ctl_frame(VG_FRAME_PONG, seq, text, strlen(text));

	if (err)
		return err;
	return vg_sender_pump(s) < 0 && s->addr.kind == VG_ADDR_STDIO ? -EPIPE : 0;
}

int vg_sender_read(struct vg_sender *s)
{
	uint8_t buf[4096];
	struct vg_frame_hdr h;
	const uint8_t *payload;
	ssize_t n;
	int err;

	while (s->rfd >= 0) {
		n = read(s->rfd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			err = -errno;
			vg_sender_disconnect(s, "read from peer failed");
			return s->addr.kind == VG_ADDR_STDIO ? err : 0;
		}
		if (n == 0) {
			vg_sender_disconnect(s, "peer closed the connection");
			return s->addr.kind == VG_ADDR_STDIO ? -EPIPE : 0;
		}
		err = vg_frame_reader_feed(&s->rd, buf, (size_t)n);
		while (!err && (err = vg_frame_reader_next(&s->rd, &h, &payload)) == 1)
			err = vg_sender_frame(s, &h, payload);
		if (err == -EACCES) {
			/* Logged by vg_sender_challenge(): the host did not prove our key. */
			vg_sender_disconnect(s, "handshake failed");
			return 0;
		}
		if (err < 0) {
			vg_log(VG_ERROR, "from peer: %s; closing the connection",
			       vg_frame_strerror(err));
			vg_sender_disconnect(s, "malformed frame from peer");
			return s->addr.kind == VG_ADDR_STDIO ? err : 0;
		}
	}
	return vg_sender_pump(s) < 0 && s->addr.kind == VG_ADDR_STDIO ? -EPIPE : 0;
}

void vg_sender_tick(struct vg_sender *s)
{
	int64_t now = vg_now_ms();

	if (s->rfd < 0 && s->addr.kind != VG_ADDR_STDIO && now >= s->retry_at_ms)
		vg_sender_connect(s);
	/* stdio is the host's own socketpair or the plug-in's pipe: no idle timeout there. */
	if (s->wfd >= 0 && s->addr.kind != VG_ADDR_STDIO && (!s->keyed || s->authed) &&
	    now >= s->keepalive_at_ms) {
		s->keepalive_at_ms = now + VG_KEEPALIVE_MS;
		if (!vg_ctl_frame(VG_FRAME_PING, 0, NULL, 0))
			vg_sender_pump(s);
	}
	vg_queue_sync(&s->q);
}

int vg_sender_connected(const struct vg_sender *s)
{
	return s->rfd >= 0;
}

int vg_sender_all_acked(const struct vg_sender *s)
{
	return s->q.count == 0;
}

uint64_t vg_sender_events_lost(const struct vg_sender *s)
{
	return s->q.events_evicted;
}
