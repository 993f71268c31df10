// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil host --listen: the listening socket, who may connect (keys, our own
 * user on a private unix socket, loopback), the per-peer and total limits,
 * the handshake and idle deadlines, and the refusals they count.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "endpoint.h"
#include "endpoint_int.h"
#include "log.h"
#include "store.h"

static const char *const vg_hr_reason[VG_HR_NR] = {
	[VG_HR_HELLO] = "no handshake or hello in time",
	[VG_HR_IDLE] = "idle timeout",
	[VG_HR_LIMIT] = "connection limit",
};

static int vg_host_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/*
 * Who may connect decides who must prove a key: a unix socket that is ours
 * alone lets root (and us) in without one; tcp beyond loopback and vsock
 * (any VM) are not started without --keys.
 */
static int vg_host_check_listen(struct vg_host *h)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct stat st = { 0 };

	switch (h->addr.kind) {
	case VG_ADDR_UNIX:
		h->unix_private = !lstat(h->addr.path, &st) && S_ISSOCK(st.st_mode) &&
				  (st.st_uid == 0 || st.st_uid == geteuid()) && !(st.st_mode & 077);
		if (!h->unix_private)
			vg_log(VG_WARN,
			       "%s is not ours alone (owner %u, mode %o): every peer must "
			       "prove a key",
			       h->o->listen, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return 0;
	case VG_ADDR_TCP:
		if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl))
			return vg_err(-errno, "getsockname");
		if (h->keys.n)
			return 0;
		if (!vg_host_loopback(&ss)) {
			vg_log(VG_ERROR,
			       "--listen %s: not a loopback address, and without --keys anyone who "
			       "reaches it could send events as any device: give --keys FILE "
			       "(see vigil keygen)",
			       h->o->listen);
			return -EPERM;
		}
		vg_log(VG_WARN,
		       "--listen %s without --keys: any local user can send events as any "
		       "device",
		       h->o->listen);
		return 0;
	default:
		if (h->keys.n)
			return 0;
		vg_log(VG_ERROR, "--listen %s: any virtual machine can connect: give --keys FILE",
		       h->o->listen);
		return -EPERM;
	}
}

int vg_host_listen_addr(struct vg_host *h, const char *spec)
{
	int err;

	if (vg_addr_parse(spec, &h->addr))
		return -EINVAL;
	/* unix: refuses a non-socket or a live host's socket, replaces a stale one, mode 0600. */
	h->lfd = vg_addr_listen(&h->addr);
	if (h->lfd < 0)
		return h->lfd;
	err = vg_host_check_listen(h);
	if (err) {
		close(h->lfd);
		h->lfd = -1;
		if (h->addr.kind == VG_ADDR_UNIX)
			unlink(h->addr.path);
	}
	return err;
}

/* The peer's address (tcp), uid (unix) or cid (vsock), and whether it is trusted. */
static int vg_host_peer(struct vg_host *h, int fd, char *peer, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ucred cr;

	snprintf(peer, size, "?");
	if (h->addr.kind == VG_ADDR_UNIX) {
		sl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl))
			return 0;
		snprintf(peer, size, "uid %u", (unsigned)cr.uid);
		return h->unix_private && (cr.uid == 0 || cr.uid == geteuid());
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, peer, (socklen_t)size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, peer,
			  (socklen_t)size);
	else if (ss.ss_family == AF_VSOCK)
		snprintf(peer, size, "cid %u", ((struct sockaddr_vm *)&ss)->svm_cid);
	/* Loopback tcp without --keys: allowed at start, with a warning. */
	return h->addr.kind == VG_ADDR_TCP && !h->keys.n;
}

static void vg_host_refused(struct vg_host *h, int why)
{
	h->refused[why]++;
	if (!h->refused_flush_ms)
		h->refused_flush_ms = vg_mono_ms() + 1000;
}

/*
 * Write the loop's refusal counts a second after the first (a flood costs
 * one transaction a second, not one each), or now.
 */
void vg_host_refused_flush(struct vg_host *h, int now)
{
	if (!h->refused_flush_ms || (!now && vg_mono_ms() < h->refused_flush_ms))
		return;
	h->refused_flush_ms = 0;
	for (int r = 0; r < VG_HR_NR; r++) {
		if (!h->refused[r])
			continue;
		if (vg_store_refused(h->store, "", vg_hr_reason[r], h->refused[r])) {
			/* Logged; tried again in a second. */
			h->refused_flush_ms = vg_mono_ms() + 1000;
			continue;
		}
		h->refused[r] = 0;
	}
}

/*
 * Room for one more connection from peer: over the per-peer limit, or with
 * every slot taken, the oldest connection that has not said who it is
 * (of this peer, else of anyone) makes way. 0, or -EMFILE when only
 * identified connections hold the room.
 */
static int vg_host_admit(struct vg_host *h, const char *peer)
{
	int same = 0, old_same = -1, old_any = -1, victim;

	for (int i = 0; i < h->nconns; i++) {
		struct vg_host_conn *hc = &h->conns[i];
		int pending = !vg_conn_identified(&hc->c);
		int mine = !strcmp(hc->peer, peer);

		same += mine;
		if (pending && mine &&
		    (old_same < 0 || hc->opened_ms < h->conns[old_same].opened_ms))
			old_same = i;
		if (pending && (old_any < 0 || hc->opened_ms < h->conns[old_any].opened_ms))
			old_any = i;
	}
	if ((unsigned)same >= h->o->max_per_peer)
		victim = old_same;
	else if (h->nconns == VG_HOST_MAX_CONNS)
		victim = old_any;
	else
		return 0;
	if (victim < 0)
		return -EMFILE;
	vg_log(VG_WARN, "connection %u (%s): closed to make room: not identified, %s",
	       h->conns[victim].c.id, h->conns[victim].peer,
	       victim == old_same && (unsigned)same >= h->o->max_per_peer ?
		       "and its peer is at the per-peer limit" :
		       "and every slot is taken");
	vg_host_refused(h, VG_HR_LIMIT);
	vg_host_close(h, victim);
	return 0;
}

void vg_host_accept(struct vg_host *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		char peer[64];
		int trusted;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				vg_err(-errno, "accept");
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		trusted = vg_host_peer(h, fd, peer, sizeof(peer));
		if (vg_host_admit(h, peer)) {
			vg_log(VG_ERROR,
			       "refusing a connection from %s: at the per-peer limit (%u) "
			       "or every slot taken, all by identified sensors",
			       peer, h->o->max_per_peer);
			vg_host_refused(h, VG_HR_LIMIT);
			close(fd);
			continue;
		}
		vg_host_add(h, fd, peer, trusted);
	}
}

/* Close connections past the HELLO deadline or idle too long (not --spawn's). */
void vg_host_sweep(struct vg_host *h)
{
	int64_t now = vg_mono_ms();

	if (h->o->spawn)
		return;
	for (int i = h->nconns - 1; i >= 0; i--) {
		struct vg_host_conn *hc = &h->conns[i];

		if (hc->c.frames != hc->frames) {
			hc->frames = hc->c.frames;
			hc->last_ms = now;
		}
		if (!vg_conn_identified(&hc->c) &&
		    now - hc->opened_ms >= (int64_t)h->o->hello_timeout_s * 1000) {
			vg_log(VG_WARN, "connection %u (%s): no %s within %u s; closing", hc->c.id,
			       hc->peer, hc->c.auth_required ? "handshake" : "HELLO",
			       h->o->hello_timeout_s);
			vg_host_refused(h, VG_HR_HELLO);
			vg_host_close(h, i);
		} else if (now - hc->last_ms >= (int64_t)h->o->idle_timeout_s * 1000) {
			vg_log(VG_WARN, "connection %u (%s): no frame for %u s; closing", hc->c.id,
			       hc->peer, h->o->idle_timeout_s);
			vg_host_refused(h, VG_HR_IDLE);
			vg_host_close(h, i);
		}
	}
	vg_host_refused_flush(h, 0);
}
