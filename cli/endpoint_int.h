/* SPDX-License-Identifier: GPL-2.0-only */
/* What endpoint.c (the connection loop) and listen.c (the listening side) share. */
#ifndef VG_ENDPOINT_INT_H
#define VG_ENDPOINT_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "auth.h"
#include "conn.h"
#include "events.h"
#include "hostops.h"

struct vg_host_opts; /* endpoint.h */

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

struct vg_host {
	const struct vg_host_opts *o;
	struct vg_store *store;
	struct vg_detector *dt; /* the detections' thread (cli/hostops.h) */
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

	struct vg_upstream *up; /* --upstream: the sender (upstream.h), NULL without */
	struct vg_upfilters *upf; /* --upstream: the group's filter set (upfilters.h) */

	struct vg_host_metrics metrics; /* what --metrics serves besides the store's counts */
	struct vg_metrics_server *ms; /* --metrics */
	struct vg_retainer *rt; /* --retain-days, --max-db-size */
	struct vg_cursor out_cursor; /* --output: the last event written */
	int64_t out_count_ms; /* when the outputs' counts last went to HostCounters */
};

/* CLOCK_MONOTONIC in ms: deadlines and rates. */
int64_t vg_mono_ms(void);

/* endpoint.c: take fd as a connection (peer: its per-peer key), and close conns[i]. */
int vg_host_add(struct vg_host *h, int fd, const char *peer, int trusted);
void vg_host_close(struct vg_host *h, int i);

/* listen.c: listen on spec (--listen), accept who may connect, close the late and idle. */
int vg_host_listen_addr(struct vg_host *h, const char *spec);
void vg_host_accept(struct vg_host *h);
void vg_host_sweep(struct vg_host *h);
/* Count the refusals so far in HostRefused: at most once a second, or now. */
void vg_host_refused_flush(struct vg_host *h, int now);

#endif
