// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "conn.h"
#include "detect.h"
#include "fmt.h"
#include "events.h"
#include "filter.h"
#include "endpoint.h"
#include "hoststate.h"
#include "log.h"
#include "store.h"
#include "wire.h"

#define VG_HOST_MAX_CONNS 64
#define VG_HOST_GRACE_MS 12000 /* longer than vigild's final acknowledgement wait */
#define VG_HOST_READ 65536

struct vg_host_conn {
	int fd;
	struct vg_conn c;
	char peer[64]; /* "127.0.0.1", "uid 1000", "cid 3": the per-peer limit's key */
	int64_t opened_ms, last_ms; /* accepted, last frame */
	uint64_t frames; /* c.frames at last_ms */
	int filters_due; /* --filters not sent yet: they wait for the handshake */
};

/* Refusals of the connection loop, counted in HostRefused (at most once a second). */
enum { VG_HR_HELLO, VG_HR_IDLE, VG_HR_LIMIT, VG_HR_NR };
static const char *const vg_hr_reason[VG_HR_NR] = {
	[VG_HR_HELLO] = "no handshake or hello in time",
	[VG_HR_IDLE] = "idle timeout",
	[VG_HR_LIMIT] = "connection limit",
};

struct vg_host {
	const struct vg_host_opts *o;
	struct vg_store *store;
	struct vg_detect *detect;
	int sfd, lfd;
	struct vg_host_conn conns[VG_HOST_MAX_CONNS];
	int nconns;
	unsigned next_id;
	struct vg_cursor print_cursor;
	int print;
	uint8_t *rbuf;

	pid_t child;
	int child_status;
	int child_reaped;
	int conn_closed; /* --spawn: the one connection is gone */
	int stage; /* 0, 1 SIGTERM sent, 2 SIGKILL sent */
	int64_t deadline_ms;
	int stopping; /* --listen: a signal asked us to stop */
	int store_lost; /* the store's file was deleted or replaced: stop, exit 1 */

	struct vg_addr addr; /* --listen */
	struct vg_keys keys; /* --keys FILE */
	int unix_private; /* the unix socket is ours alone (owner root or us, mode 0600) */
	uint64_t refused[VG_HR_NR]; /* not yet in HostRefused */
	int64_t refused_flush_ms;

	char *filters; /* --filters FILE's checked text, pushed to each connection */
	size_t filters_len;
	uint64_t filters_gen; /* seq of the FILTER frames: 1 for the first text, +1 per SIGHUP */
};

static int64_t vg_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vg_host_print(struct vg_host *h)
{
	int n;

	if (!h->print)
		return;
	n = vg_events_print(h->store, stdout, h->o->json, &h->print_cursor, NULL, 0,
			    &h->print_cursor);
	if (n == -EPIPE) {
		/* Storing matters more than showing: keep going without --print. */
		vg_log(VG_WARN, "stdout closed; no longer printing events");
		h->print = 0;
	}
}

/* vigild takes a FILTER frame up to this size: any rule file fits. */
_Static_assert(VG_VF_FILE_MAX <= VG_CONTROL_MAX_PAYLOAD, "a rule file must fit a FILTER frame");

/* Read and check --filters FILE; on success it replaces the text pushed to sensors. */
static int vg_host_read_filters(struct vg_host *h)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char *text = NULL;
	size_t n = 0;
	int err;

	if (!set)
		return -ENOMEM;
	err = vg_vf_read_file(h->o->filters, &text, &n);
	if (err) {
		vg_err(err, "--filters %s", h->o->filters);
		goto out;
	}
	err = vg_vf_parse(set, h->o->filters, text, n, stderr);
	if (err) {
		vg_err(err, "--filters %s has errors; not sent", h->o->filters);
		goto out;
	}
	free(h->filters);
	h->filters = text;
	h->filters_len = n;
	h->filters_gen++;
	text = NULL;
	vg_log(VG_INFO, "filters: %d rules from %s (update %llu)", set->n, h->o->filters,
	       (unsigned long long)h->filters_gen);
out:
	free(text);
	free(set);
	return err;
}

/* Queue the filter text for one connection; the sensor answers with a PONG of the same seq. */
static void vg_host_push_filters(struct vg_host_conn *hc, uint64_t gen, const char *text,
				 size_t len)
{
	int err = vg_conn_control(&hc->c, VG_FRAME_FILTER, gen, text, len);

	if (err)
		vg_log(VG_ERROR, "connection %u: cannot queue the filters: %s", hc->c.id,
		       strerror(-err));
}

/* Send the filters now, or once the peer proved its key: nothing goes to a stranger. */
static void vg_host_filters_to(struct vg_host *h, struct vg_host_conn *hc)
{
	hc->filters_due = 0;
	if (!h->filters)
		return;
	if (hc->c.auth_required && hc->c.auth_state != 2) {
		hc->filters_due = 1;
		return;
	}
	vg_host_push_filters(hc, h->filters_gen, h->filters, h->filters_len);
}

/*
 * Take fd as a connection from peer; trusted: a private socketpair or a
 * root-only unix socket, whose peer need not prove a key.
 */
static int vg_host_add(struct vg_host *h, int fd, const char *peer, int trusted)
{
	struct vg_host_conn *hc;

	if (h->nconns == VG_HOST_MAX_CONNS) {
		vg_log(VG_ERROR, "refusing a connection: %d already open", VG_HOST_MAX_CONNS);
		close(fd);
		return -EMFILE;
	}
	hc = &h->conns[h->nconns++];
	hc->fd = fd;
	vg_conn_init(&hc->c, ++h->next_id);
	snprintf(hc->peer, sizeof(hc->peer), "%s", peer);
	hc->opened_ms = hc->last_ms = vg_mono_ms();
	hc->frames = 0;
	hc->c.keys = h->keys.n ? &h->keys : NULL;
	hc->c.auth_required = !trusted;
	vg_log(VG_DEBUG, "connection %u: open (%s%s)", hc->c.id, peer,
	       trusted ? "" : ", must prove a key");
	vg_host_filters_to(h, hc);
	return 0;
}

/* Write queued ACKs without blocking. 0, or -errno when the peer is gone. */
static int vg_host_flush(struct vg_host_conn *hc)
{
	while (hc->c.out_len) {
		ssize_t n = send(hc->fd, hc->c.out, hc->c.out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		vg_conn_consume(&hc->c, (size_t)n);
	}
	return 0;
}

static void vg_host_close(struct vg_host *h, int i)
{
	struct vg_host_conn *hc = &h->conns[i];

	/* The peer may already be gone: best effort, and a lost ACK only means a resend. */
	vg_host_flush(hc);
	vg_log(VG_DEBUG, "connection %u: closed (%llu batches stored, %llu resends)", hc->c.id,
	       (unsigned long long)hc->c.stored, (unsigned long long)hc->c.resent);
	close(hc->fd);
	vg_conn_free(&hc->c);
	h->conns[i] = h->conns[--h->nconns];
	if (h->o->spawn)
		h->conn_closed = 1;
}

/*
 * Read what the peer sent, store it and queue ACKs. 1 while the connection
 * stays open, 0 when it was closed (EOF, bad frame, error).
 */
static int vg_host_read(struct vg_host *h, int i)
{
	struct vg_host_conn *hc = &h->conns[i];
	int err = 0, eof = 0;

	/* A bounded number of reads per wakeup keeps one busy peer from starving others. */
	for (int k = 0; k < 16; k++) {
		ssize_t n = recv(hc->fd, h->rbuf, VG_HOST_READ, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			vg_log(VG_ERROR, "connection %u: read: %s", hc->c.id, strerror(errno));
			err = -errno;
			break;
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		err = vg_conn_input(&hc->c, h->store, h->rbuf, (size_t)n);
		if (err)
			break;
	}
	if (!err && hc->filters_due && hc->c.auth_state == 2)
		vg_host_filters_to(h, hc);
	vg_host_print(h);
	if (h->detect && vg_detect_run(h->detect) < 0)
		vg_log(VG_WARN, "detections failed on this batch; they run again on the next");
	if (!err && !eof) {
		err = vg_host_flush(hc);
		if (!err)
			return 1;
		vg_log(VG_DEBUG, "connection %u: write: %s", hc->c.id, strerror(-err));
	}
	if (eof && vg_frame_reader_pending(&hc->c.rd))
		vg_log(VG_WARN, "connection %u: closed inside a frame (%zu bytes unused)", hc->c.id,
		       vg_frame_reader_pending(&hc->c.rd));
	vg_host_close(h, i);
	return 0;
}

/* Empty every connection's socket buffer: fully received frames get stored. */
static void vg_host_drain_all(struct vg_host *h)
{
	for (int i = h->nconns - 1; i >= 0; i--) {
		while (i < h->nconns && vg_host_read(h, i))
			if (recv(h->conns[i].fd, h->rbuf, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
				break;
	}
}

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

static int vg_host_listen_addr(struct vg_host *h, const char *spec)
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
static void vg_host_refused_flush(struct vg_host *h, int now)
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

static void vg_host_accept(struct vg_host *h)
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
static void vg_host_sweep(struct vg_host *h)
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

static int vg_host_spawn(struct vg_host *h, const sigset_t *oldmask)
{
	const struct vg_host_opts *o = h->o;
	char pidbuf[24];
	char **argv;
	int sv[2];
	pid_t pid;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	argv = calloc((size_t)o->spawn_argc + 6, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[0] = (char *)o->spawn;
	argv[1] = "--transport";
	argv[2] = "stdio";
	argv[3] = "--ignore-pid";
	argv[4] = pidbuf;
	for (int i = 0; i < o->spawn_argc; i++)
		argv[5 + i] = o->spawn_argv[i];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(argv);
		return vg_err(-errno, "socketpair");
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		free(argv);
		return vg_err(err, "fork");
	}
	if (pid == 0) {
		/*
		 * Its own process group: a terminal ^C reaches only us, and we
		 * stop vigild with one SIGTERM so it drains instead of seeing
		 * two signals.
		 */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		/* dup2() leaves the new descriptors without FD_CLOEXEC. */
		if (dup2(sv[1], STDIN_FILENO) < 0 || dup2(sv[1], STDOUT_FILENO) < 0) {
			vg_err(-errno, "dup2");
			_exit(127);
		}
		execv(o->spawn, argv);
		vg_err(-errno, "exec %s", o->spawn);
		_exit(127);
	}
	free(argv);
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		/* Without it a read could block the loop: stop the child and give up. */
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return vg_err(err, "socket flags");
	}
	h->child = pid;
	return vg_host_add(h, sv[0], "vigild", 1);
}

static void vg_host_reap(struct vg_host *h)
{
	int status;

	if (h->child <= 0 || h->child_reaped)
		return;
	if (waitpid(h->child, &status, WNOHANG) == h->child) {
		h->child_status = status;
		h->child_reaped = 1;
		/* Its socket end may be held by a grandchild: do not wait for EOF forever. */
		if (!h->conn_closed)
			h->deadline_ms = vg_mono_ms() + VG_HOST_GRACE_MS;
	}
}

/* Ask the child to stop, then insist. */
static void vg_host_escalate(struct vg_host *h)
{
	if (h->child <= 0 || h->child_reaped)
		return;
	if (h->stage == 0) {
		kill(h->child, SIGTERM);
		h->stage = 1;
		h->deadline_ms = vg_mono_ms() + VG_HOST_GRACE_MS;
	} else if (h->stage == 1) {
		vg_log(VG_WARN, "vigild did not stop; killing it");
		kill(h->child, SIGKILL);
		h->stage = 2;
		h->deadline_ms = 0;
	}
}

static void vg_host_signals(struct vg_host *h)
{
	struct signalfd_siginfo si;

	while (read(h->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			vg_host_reap(h);
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			if (!h->o->filters) {
				vg_log(VG_INFO, "SIGHUP: no --filters file to send");
			} else if (!vg_host_read_filters(h)) {
				for (int i = 0; i < h->nconns; i++) {
					vg_host_filters_to(h, &h->conns[i]);
					if (vg_host_flush(&h->conns[i]))
						vg_log(VG_WARN, "connection %u: filters not sent",
						       h->conns[i].c.id);
				}
			}
			continue;
		}
		if (h->o->spawn)
			vg_host_escalate(h);
		else
			h->stopping = 1;
	}
}

static void vg_host_timeout(struct vg_host *h)
{
	if (!h->deadline_ms || vg_mono_ms() < h->deadline_ms)
		return;
	h->deadline_ms = 0;
	if (h->child_reaped) {
		if (h->nconns) {
			vg_log(VG_WARN, "vigild exited but its connection stays open; closing it");
			vg_host_drain_all(h);
			while (h->nconns)
				vg_host_close(h, 0);
		}
		return;
	}
	vg_host_escalate(h);
}

static int vg_host_child_exit(struct vg_host *h)
{
	int st = h->child_status;

	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) == 0)
			return 0;
		vg_log(VG_ERROR, "vigild exited with status %d", WEXITSTATUS(st));
		return 1;
	}
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGTERM && h->stage == 1)
			return 0;
		if (WTERMSIG(st) == SIGKILL && h->stage == 2) {
			vg_log(VG_ERROR, "vigild killed after it did not stop within %d s",
			       VG_HOST_GRACE_MS / 1000);
			return 1;
		}
		vg_log(VG_ERROR, "vigild killed by signal %d (%s)", WTERMSIG(st),
		       strsignal(WTERMSIG(st)));
	}
	return 1;
}

static int vg_host_loop(struct vg_host *h)
{
	struct pollfd pfd[VG_HOST_MAX_CONNS + 2];

	for (;;) {
		int n = 0, timeout = -1, first;

		if (h->o->spawn && h->conn_closed) {
			if (h->child_reaped)
				return vg_host_child_exit(h);
			/* EOF first: give the child its grace period to exit. */
			if (!h->deadline_ms)
				h->deadline_ms = vg_mono_ms() + VG_HOST_GRACE_MS;
		}
		if (h->stopping) {
			vg_host_drain_all(h);
			return 0;
		}
		if (h->deadline_ms) {
			int64_t left = h->deadline_ms - vg_mono_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		/* The HELLO deadline and idle timeouts are checked each second. */
		if (h->lfd >= 0 && (h->nconns || h->refused_flush_ms) &&
		    (timeout < 0 || timeout > 1000))
			timeout = 1000;
		pfd[n++] = (struct pollfd){ .fd = h->sfd, .events = POLLIN };
		if (h->lfd >= 0)
			pfd[n++] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
		first = n;
		for (int i = 0; i < h->nconns; i++)
			pfd[n++] = (struct pollfd){
				.fd = h->conns[i].fd,
				.events = POLLIN | (h->conns[i].c.out_len ? POLLOUT : 0),
			};
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return vg_err(-errno, "poll"), 1;
		}
		if (pfd[0].revents)
			vg_host_signals(h);
		/* Backwards: closing a connection moves the last one into its slot. */
		for (int i = n - 1; i >= first; i--) {
			int ci = i - first;

			if (!pfd[i].revents)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (!vg_host_read(h, ci))
					continue;
			}
			if ((pfd[i].revents & POLLOUT) && vg_host_flush(&h->conns[ci]))
				vg_host_close(h, ci);
		}
		/* After the loop above: making room moves connections between slots. */
		if (h->lfd >= 0 && pfd[1].revents)
			vg_host_accept(h);
		vg_host_sweep(h);
		vg_host_timeout(h);
		if (!h->store_lost && vg_store_lost(h->store)) {
			/*
			 * Nothing is acknowledged any more: drop the peers (they keep
			 * their frames to resend), stop vigild, exit 1 (the store logged
			 * why, naming the file).
			 */
			h->store_lost = 1;
			while (h->nconns)
				vg_host_close(h, 0);
			if (!h->o->spawn)
				return 1;
			vg_host_escalate(h);
		}
	}
}

int vg_host_run(const struct vg_host_opts *o)
{
	struct vg_host h = { .o = o, .sfd = -1, .lfd = -1, .print = o->print };
	sigset_t mask, oldmask;
	int ret = 1, err;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask))
		return vg_err(-errno, "block signals"), 1;
	signal(SIGPIPE, SIG_IGN);
	h.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (h.sfd < 0) {
		vg_err(-errno, "signalfd");
		goto out_mask;
	}
	if (o->keys && vg_keys_load(&h.keys, o->keys))
		goto out_sfd;
	h.rbuf = malloc(VG_HOST_READ);
	if (!h.rbuf) {
		vg_err(-ENOMEM, "read buffer");
		goto out_sfd;
	}
	err = vg_store_open(&h.store, o->db);
	if (err) {
		vg_err(err, "host: cannot open %s", o->db);
		goto out_buf;
	}
	if (o->rules) {
		struct vg_sb why;

		vg_sb_init(&why);
		err = vg_detect_open(&h.detect, vg_store_db(h.store), o->rules, &why);
		if (err) {
			vg_log_lines(VG_ERROR, vg_sb_str(&why)); /* a rule file may hold any byte */
			vg_err(err, "host: cannot load the rules of %s", o->rules);
			vg_sb_free(&why);
			goto out_store;
		}
		vg_sb_free(&why);
	} else if (!o->no_rules) {
		vg_log(VG_WARN, "no rules directory found (see --rules): no detections");
	}
	if (h.print) {
		if (vg_events_last(h.store, &h.print_cursor))
			goto out_store;
	}
	if (o->filters && vg_host_read_filters(&h))
		goto out_store;
	/*
	 * For healthcheck: this host endpoint plays the plug-in's running VM.
	 * Written before the socket exists, so no peer waits on these commits.
	 */
	vg_hoststate_session(vg_store_db(h.store), 1);
	err = o->spawn ? vg_host_spawn(&h, &oldmask) : vg_host_listen_addr(&h, o->listen);
	if (err) {
		vg_hoststate_session(vg_store_db(h.store), 0);
		goto out_store;
	}

	ret = vg_host_loop(&h) || h.store_lost;
	vg_host_refused_flush(&h, 1);
	vg_hoststate_session(vg_store_db(h.store), 0);

	while (h.nconns)
		vg_host_close(&h, 0);
	if (h.lfd >= 0) {
		close(h.lfd);
		if (o->listen_path)
			unlink(o->listen_path);
	}
	if (h.child > 0 && !h.child_reaped) {
		/* Only reached on a loop failure: do not leave vigild behind. */
		kill(h.child, SIGKILL);
		waitpid(h.child, NULL, 0);
	}
out_store:
	vg_detect_close(h.detect);
	vg_store_close(h.store);
out_buf:
	free(h.rbuf);
	free(h.filters);
out_sfd:
	vg_keys_free(&h.keys);
	close(h.sfd);
out_mask:
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return ret;
}
