/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What vigil host runs beside the connection loop for an operator:
 * the detections and retention (--retain-days, --max-db-size), each in a
 * thread with its own SQLite connection, the Prometheus endpoint (--metrics, libmicrohttpd's thread),
 * and the outputs a SIEM shipper takes (--output jsonl:FILE, syslog).
 */
#ifndef VG_HOSTOPS_H
#define VG_HOSTOPS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "metrics.h"
#include "retain.h"

struct vg_store;
struct vg_cursor;

/* "10G", "512M", "64K", "4096": bytes (K, M, G, T are powers of 1024). 0, or -EINVAL. */
int vg_parse_size(const char *s, int64_t *out);

/* "ADDR:PORT", "[IPv6]:PORT" or ":PORT" (every address) into ss. 0, or -EINVAL. */
int vg_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *sl);

/* ---- retention */
struct vg_retainer;
/* Start the thread: a pass at once, then every interval_s. 0 or -errno (logged). */
int vg_retainer_start(struct vg_retainer **rt, const char *db, const struct vg_retain *r,
		      unsigned interval_s);
void vg_retainer_stop(struct vg_retainer *rt);

/* ---- detections */
/*
 * The rules of dir (hunt/detect.h) run in a thread with a connection of its
 * own to db: at most once every VG_DETECT_EVERY_MS while batches arrive, at
 * once while a run left rows behind. Its reads do not stop the writer of
 * batches; its writes (alerts, evidence, watermarks) hold it a short
 * transaction. A rule that does not load fails the start: 0, or -errno with
 * why (file:line:col and a caret for a rule).
 */
#define VG_DETECT_EVERY_MS 1000
struct vg_detector;
struct vg_sb;
int vg_detector_start(struct vg_detector **dt, const char *db, const char *dir, struct vg_sb *why);
/* Batches were stored: the next run is due. */
void vg_detector_due(struct vg_detector *dt);
/* final: one last run over what was stored first. Then the thread ends and dt is freed. */
void vg_detector_stop(struct vg_detector *dt, int final);

/* ---- metrics */
struct vg_metrics_server;
/* Serve GET /metrics on addr (vg_parse_hostport) from db and m. 0 or -errno (logged). */
int vg_metrics_start(struct vg_metrics_server **ms, const char *addr, const char *db,
		     const struct vg_host_metrics *m);
/* The port it listens on (for ":0"). */
unsigned vg_metrics_port(const struct vg_metrics_server *ms);
void vg_metrics_stop(struct vg_metrics_server *ms);

/* ---- outputs */
enum { VG_OUT_JSONL, VG_OUT_SYSLOG };

struct vg_output {
	int kind;
	char *spec; /* as given: the label of its counters */
	char *path; /* jsonl: FILE; syslog: the daemon's socket */
	int64_t max_size; /* jsonl: rotate before a line would take FILE past this; 0 never */
	int keep; /* jsonl: FILE.1 ... FILE.keep kept */
	int facility; /* syslog */
	int fd; /* jsonl: FILE; syslog: a datagram socket connected to path */
	int64_t size; /* of FILE now */
	uint64_t written, errors; /* not yet in HostCounters */
	int failing; /* the last write failed: logged once until one succeeds */
};

#define VG_OUT_MAX_SIZE (100LL << 20)
#define VG_SYSLOG_PATH "/dev/log"
/* How long one event waits for a full syslog queue (not while the daemon is failing). */
#define VG_SYSLOG_WAIT_MS 1000
#define VG_OUT_KEEP 5

/* Parse --output SPEC into o (jsonl:FILE[,max-size=SIZE][,keep=N] or syslog[:FACILITY]). */
int vg_output_parse(struct vg_output *o, const char *spec);
/*
 * Open it (jsonl: FILE for appending; syslog: connect to /dev/log, which
 * may fail now and work later). 0 or -errno (logged).
 */
int vg_output_open(struct vg_output *o);
void vg_output_close(struct vg_output *o);
/* Write one line (len bytes, its newline included), rotating first when due. 0 or -errno. */
int vg_output_line(struct vg_output *o, const char *line, size_t len);
/*
 * Every event stored after *cur to each of the n outputs (one JSON object a
 * line, the schema's column names); *cur moves past them. Number of events.
 */
int vg_outputs_write(struct vg_output *o, int n, struct vg_store *s, struct vg_cursor *cur);
/* Add the outputs' counts to HostCounters (OutputEvents, OutputErrors per spec). */
void vg_outputs_count(struct vg_output *o, int n, struct vg_store *s);

#endif
