// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil host's endpoint: the connection loop, the spawned vigild, signals,
 * --filters and --print. The listening side is listen.c.
 */
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
#include "fmt.h"
#include "events.h"
#include "upproxy.h"
#include "upstream.h"
#include "upfilters.h"
#include "filter.h"
#include "endpoint.h"
#include "endpoint_int.h"
#include "hoststate.h"
#include "log.h"
#include "store.h"
#include "wire.h"

int64_t vg_mono_ms(void)
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

/* --output: what was stored since the last time goes to every output. */
static void vg_host_outputs(struct vg_host *h)
{
	int n;

	if (!h->o->noutputs)
		return;
	n = vg_outputs_write(h->o->outputs, h->o->noutputs, h->store, &h->out_cursor);
	if (n < 0)
		vg_log(VG_WARN, "outputs: cannot read the stored events: %s", strerror(-n));
}

/* The outputs' counts into HostCounters: at most once a second, or now. */
static void vg_host_outputs_count(struct vg_host *h, int now)
{
	int64_t t = vg_mono_ms();

	if (!h->o->noutputs || (!now && t - h->out_count_ms < 1000))
		return;
	h->out_count_ms = t;
	vg_outputs_count(h->o->outputs, h->o->noutputs, h->store);
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

static int vg_host_flush(struct vg_host_conn *hc);

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

/* Send the filters to every connection (those still in the handshake get them after it). */
static void vg_host_filters_all(struct vg_host *h)
{
	for (int i = 0; i < h->nconns; i++) {
		vg_host_filters_to(h, &h->conns[i]);
		if (vg_host_flush(&h->conns[i]))
			vg_log(VG_WARN, "connection %u: filters not sent", h->conns[i].c.id);
	}
}

/*
 * --upstream: a new set of the host's machine group (checked by
 * upfilters.c) replaces the text pushed to sensors, as SIGHUP does with
 * --filters; the later of the two wins.
 */
static void vg_host_server_filters(struct vg_host *h)
{
	char label[384], *text;
	size_t len;

	if (!vg_upfilters_take(h->upf, &text, &len, label, sizeof(label)))
		return;
	free(h->filters);
	h->filters = text;
	h->filters_len = len;
	h->filters_gen++;
	vg_log(VG_INFO, "filters: %s to %d sensors (update %llu)", label, h->nconns,
	       (unsigned long long)h->filters_gen);
	vg_host_filters_all(h);
}

/*
 * conn.h: a stored batch is measured (--metrics); a new one's frame is in
 * the outbox (vg_store_set_outbox()), for the upstream sender.
 */
static void vg_host_stored(void *arg, const struct vg_conn *c, const uint8_t *frame, size_t len)
{
	struct vg_host *h = arg;

	(void)frame;
	vg_metrics_batch(&h->metrics, c->last_new, c->store_ns, len);
	if (h->up && c->last_new)
		vg_upstream_wake(h->up);
}

/*
 * Take fd as a connection from peer; trusted: a private socketpair or a
 * root-only unix socket, whose peer need not prove a key.
 */
int vg_host_add(struct vg_host *h, int fd, const char *peer, int trusted)
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
	hc->c.on_stored = vg_host_stored;
	hc->c.on_stored_arg = h;
	__atomic_store_n(&h->metrics.connections, (uint64_t)h->nconns, __ATOMIC_RELAXED);
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

void vg_host_close(struct vg_host *h, int i)
{
	struct vg_host_conn *hc = &h->conns[i];

	/* The peer may already be gone: best effort, and a lost ACK only means a resend. */
	vg_host_flush(hc);
	vg_log(VG_DEBUG, "connection %u: closed (%llu batches stored, %llu resends, %llu commits)",
	       hc->c.id, (unsigned long long)hc->c.stored, (unsigned long long)hc->c.resent,
	       (unsigned long long)hc->c.commits);
	close(hc->fd);
	vg_conn_free(&hc->c);
	h->conns[i] = h->conns[--h->nconns];
	__atomic_store_n(&h->metrics.connections, (uint64_t)h->nconns, __ATOMIC_RELAXED);
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
	uint64_t stored = hc->c.stored;
	int err = 0, eof = 0, in;

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
		/* What the reads bring is stored after them, in one transaction (conn.h). */
		err = vg_conn_feed(&hc->c, h->rbuf, (size_t)n);
		if (err)
			break;
	}
	/* Even after a failed read or EOF: what came whole before it is stored. */
	in = vg_conn_input(&hc->c, h->store, NULL, 0);
	if (!err)
		err = in;
	if (!err && hc->filters_due && hc->c.auth_state == 2)
		vg_host_filters_to(h, hc);
	vg_host_print(h);
	vg_host_outputs(h);
	if (hc->c.stored != stored)
		vg_detector_due(h->dt);
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
				vg_host_filters_all(h);
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
		if (((h->lfd >= 0 && h->nconns) || h->refused_flush_ms || h->o->noutputs) &&
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
		vg_host_server_filters(h);
		vg_host_refused_flush(h, 0);
		vg_host_outputs_count(h, 0);
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
		err = vg_detector_start(&h.dt, o->db, o->rules, &why);
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
	if (o->noutputs) {
		if (vg_events_last(h.store, &h.out_cursor))
			goto out_store;
		for (int i = 0; i < o->noutputs; i++)
			if (vg_output_open(&o->outputs[i]))
				goto out_store;
	}
	if (o->filters && vg_host_read_filters(&h))
		goto out_store;
	if (o->metrics && vg_metrics_start(&h.ms, o->metrics, o->db, &h.metrics))
		goto out_store;
	if (o->retain_days || o->max_db_size) {
		struct vg_retain r = { .keep_ms = (int64_t)o->retain_days * 86400000,
				       .max_bytes = o->max_db_size };

		if (vg_retainer_start(&h.rt, o->db, &r, o->retain_interval_s))
			goto out_store;
	}
	if (o->upstream) {
		vg_store_set_outbox(h.store, 1);
		if (vg_upstream_open(&h.up, o->upstream, o->onboarding, o->db))
			goto out_store;
	}
	if (h.up && vg_upfilters_open(&h.upf, h.up))
		goto out_store;
	/*
	 * For healthcheck: this host endpoint plays the plug-in's running VM.
	 * Written before the socket exists, so no peer waits on these commits.
	 */
	vg_hoststate_session(vg_store_db(h.store), 1);
	vg_up_record(vg_store_db(h.store), o->upstream, h.up ? vg_upstream_ca(h.up) : NULL);
	err = o->spawn ? vg_host_spawn(&h, &oldmask) : vg_host_listen_addr(&h, o->listen);
	if (err) {
		vg_hoststate_session(vg_store_db(h.store), 0);
		goto out_store;
	}

	ret = vg_host_loop(&h) || h.store_lost;
	vg_detector_stop(h.dt, !h.store_lost); /* a last run over what the last batches stored */
	h.dt = NULL;
	vg_upfilters_close(h.upf);
	h.upf = NULL;
	vg_upstream_stop(h.up);
	vg_host_refused_flush(&h, 1);
	vg_host_outputs_count(&h, 1);
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
	vg_retainer_stop(h.rt);
	vg_metrics_stop(h.ms);
	for (int i = 0; i < o->noutputs; i++)
		vg_output_close(&o->outputs[i]);
	vg_upfilters_close(h.upf);
	vg_upstream_close(h.up);
	vg_detector_stop(h.dt, 0);
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
