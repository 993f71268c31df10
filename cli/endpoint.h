/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `vigil host`: the Linux host endpoint. Owns the transport (a socketpair
 * to a spawned vigild, or a listening unix socket), the signals and the
 * child; the frame, store and ACK logic is the portable core (conn.h).
 */
#ifndef VG_ENDPOINT_H
#define VG_ENDPOINT_H

#include <stdint.h>

struct vg_output;

struct vg_host_opts {
	const char *db;
	const char *listen; /* --listen ADDR (lib/addr.h) */
	const char *listen_path; /* its PATH when unix:PATH, removed at exit */
	const char *spawn; /* --spawn PATH-TO-VIGILD */
	char **spawn_argv; /* what follows PATH, passed on to vigild */
	int spawn_argc;
	const char *rules; /* --rules DIR: detection rules, NULL for none */
	int no_rules;
	const char *filters; /* --filters FILE: rule text pushed to every sensor */
	int print; /* --print: show each stored event */
	int json; /* ... as JSON lines */
	const char *keys; /* --keys FILE: per-device keys of the handshake (lib/auth.h) */
	unsigned hello_timeout_s; /* --hello-timeout: handshake and HELLO within this */
	unsigned idle_timeout_s; /* --idle-timeout: close a connection this long without a frame */
	unsigned max_per_peer; /* --max-per-peer: connections of one address or uid */
	const char *upstream; /* --upstream URL: vigil server the stored batches go on to */
	const char *onboarding; /* --onboarding FILE: its CA and enrolment secret */
	unsigned retain_days; /* --retain-days: event rows older are deleted; 0 keeps them */
	int64_t max_db_size; /* --max-db-size: the oldest rows go above it; 0 no cap */
	unsigned retain_interval_s; /* --retain-interval: between retention passes */
	const char *metrics; /* --metrics ADDR:PORT: Prometheus text at /metrics */
	struct vg_output *outputs; /* --output: each stored event goes to each (hostops.h) */
	int noutputs;
};

#define VG_HOST_HELLO_TIMEOUT_S 5
#define VG_HOST_IDLE_TIMEOUT_S 120 /* vigild sends something at least every 30 s */
#define VG_HOST_MAX_PER_PEER 8
#define VG_HOST_RETAIN_INTERVAL_S 300
#define VG_HOST_MAX_OUTPUTS 8

/* Run until the peer is gone or a signal stops us; the process exit status. */
int vg_host_run(const struct vg_host_opts *o);

#endif
