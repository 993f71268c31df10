/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Real sensors for the fleet tests (hosts.c): `vigil host --spawn vigild
 * --upstream ...` processes with their own SQLite store and device id, marked
 * execs, and the comparison of what a host stored with what PostgreSQL holds.
 */
#ifndef VG_FLEET_HOSTS_H
#define VG_FLEET_HOSTS_H

#include <sys/types.h>

struct fx_host {
	pid_t pid;
	char name[32]; /* its store is NAME.db, its log NAME.log, in dir */
};

/* Skip the test unless root; find vigild (VIGILD, default build/vigild). */
void fx_hosts_init(void);
const char *fx_vigild(void);
/*
 * Start a host NAME sending to urls (a --upstream list) whose vigild reports
 * device_id (and host_id as its Windows host, tagged WSL2, when not NULL);
 * back once the sensor's programs are attached (its DeviceInfo is stored).
 */
void fx_host_start(struct fx_host *h, const char *name, const char *urls, const char *device_id,
		   const char *host_id);
/* A suite's fini: stop the n hosts, the server and the cluster; remove dir. */
void fx_hosts_teardown(struct fx_host *hosts, int n);
/* SIGTERM and wait: the host gives its upstream outbox 5 s to empty first. */
void fx_host_stop(struct fx_host *h);
/*
 * Wait (bounded) until PostgreSQL has as many of device's frames as h had
 * stored when called, then stop h: what its 5 s drain must still send is
 * only what came since, however busy the machine's other work keeps vigild.
 */
void fx_host_stop_synced(struct fx_host *h, const char *device);
/* A number from NAME.db (-1 when it cannot be read yet). */
long long fx_sq(const struct fx_host *h, const char *sql);
/* Does file (in dir) hold s? */
int fx_log_has(const char *file, const char *s);
void fx_sleep_ms(int ms);
/* Exec /bin/true MARKER-i for i in from..from+n-1 (marker: per test process). */
const char *fx_marker(void);
void fx_run_marked(int from, int n);
/* Wait (bounded) until device has n distinct marked execs in PostgreSQL, and no more rows. */
void fx_pg_wait_marked(const char *device, long long n);
/*
 * After h stopped: every event table, ReceivedFrames and its Events hold the
 * same counts for device in h's store and in PostgreSQL (each batch stored
 * once on both sides), and no frame was counted as not sent.
 */
void fx_same_in_pg(const struct fx_host *h, const char *device);

/*
 * After h stopped with its outbox empty: every event of device in h's store
 * is in PostgreSQL exactly once, and nothing else, compared as sets (the
 * events' ReportId per table, the frames' StreamId and Seq): the first
 * difference is named.
 */
void fx_each_once_in_pg(const struct fx_host *h, const char *device);

#endif
