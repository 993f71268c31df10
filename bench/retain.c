// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/retain: does a retention pass slow ingestion down? The store's write
 * path (vg_store_batch, one transaction a batch, synchronous=FULL, WAL) takes
 * batches of 256 process events as fast as it can for S seconds, on a store
 * holding N rows older than a day, with no retention, then with the
 * retention thread of `vigil host --retain-days 1 --retain-interval 1`
 * deleting those rows beside it; rounds alternate, medians are printed.
 *
 *   build/bench/retain [--seconds S] [--old N] [--rounds R] [--dir DIR]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "fmt.h"
#include "hostops.h"
#include "log.h"
#include "store.h"

#define PER_BATCH 256

static char *argv_sh[] = { "/bin/sh", "-c", "true" };

struct run {
	double events_per_s;
	double p99_ms; /* of one batch's store */
	long long deleted;
};

static void prefill(struct vg_store *st, long old)
{
	char sql[512], *msg = NULL;

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
		 " INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType,"
		 " ProcessCommandLine, FolderPath) SELECT strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ',"
		 " 'now', '-10 days'), 'bench', 'ProcessCreated', '/bin/sh -c old ' || i,"
		 " '/usr/bin/dash' FROM c",
		 old);
	if (sqlite3_exec(vg_store_db(st), sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "retain: prefill: %s\n", msg);
		exit(1);
	}
}

static struct run one(const char *dir, int retain, double seconds, long old)
{
	static Vigil__V1__Event ev[PER_BATCH], *evs[PER_BATCH];
	Vigil__V1__Process proc, parent;
	Vigil__V1__ProcessEvent pe;
	Vigil__V1__DeviceInfo dev;
	Vigil__V1__Batch b;
	struct vg_store_peer peer = { 0 };
	struct vg_retainer *rt = NULL;
	struct vg_store *st;
	struct run r = { 0 };
	char db[4096], cmd[4200];
	double t0, *lat = NULL;
	size_t nlat = 0, cap = 0;
	uint64_t seq = 0, rid = 1;
	sqlite3_stmt *q;

	snprintf(db, sizeof(db), "%s/bench-retain.db", dir);
	snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
	if (system(cmd) || vg_store_open(&st, db))
		exit(1);
	prefill(st, old);

	vigil__v1__process__init(&proc);
	proc.pid = 4242;
	proc.ppid = 4200;
	proc.exe = "/usr/bin/dash";
	proc.n_argv = 3;
	proc.argv = argv_sh;
	proc.cwd = "/tmp";
	proc.comm = "sh";
	proc.user = "root";
	vigil__v1__process__init(&parent);
	parent.pid = 4200;
	parent.exe = "/usr/bin/bash";
	vigil__v1__process_event__init(&pe);
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &proc;
	pe.parent = &parent;
	for (int i = 0; i < PER_BATCH; i++) {
		vigil__v1__event__init(&ev[i]);
		ev[i].body_case = VIGIL__V1__EVENT__BODY_PROCESS;
		ev[i].process = &pe;
		evs[i] = &ev[i];
	}
	vigil__v1__device_info__init(&dev);
	dev.device_id = "bench";
	dev.device_name = "bench";
	vigil__v1__batch__init(&b);
	b.device = &dev;
	b.n_events = PER_BATCH;
	b.events = evs;
	b.stream_id = 1;

	if (retain) {
		struct vg_retain rr = { .keep_ms = 86400000 };

		if (vg_retainer_start(&rt, db, &rr, 1))
			exit(1);
	}
	t0 = bench_s(CLOCK_MONOTONIC);
	while (bench_s(CLOCK_MONOTONIC) - t0 < seconds) {
		double s;
		uint64_t now = vg_now_ns();

		for (int i = 0; i < PER_BATCH; i++) {
			ev[i].report_id = rid++;
			ev[i].time_ns = now;
		}
		s = bench_s(CLOCK_MONOTONIC);
		if (vg_store_batch(st, &peer, ++seq, &b) != 1) {
			fprintf(stderr, "retain: a batch was not stored\n");
			exit(1);
		}
		if (nlat == cap) {
			cap = cap ? 2 * cap : 4096;
			lat = realloc(lat, cap * sizeof(*lat));
			if (!lat)
				exit(1);
		}
		lat[nlat++] = bench_s(CLOCK_MONOTONIC) - s;
	}
	r.events_per_s = (double)(seq * PER_BATCH) / (bench_s(CLOCK_MONOTONIC) - t0);
	vg_retainer_stop(rt);
	qsort(lat, nlat, sizeof(*lat), bench_cmp_double);
	r.p99_ms = nlat ? lat[nlat * 99 / 100] * 1e3 : 0;
	if (sqlite3_prepare_v2(vg_store_db(st),
			       "SELECT coalesce(sum(Count), 0) FROM HostCounters"
			       " WHERE Name = 'RetentionDeleted'",
			       -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			r.deleted = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	free(lat);
	vg_store_peer_free(&peer);
	vg_store_close(st);
	system(cmd);
	return r;
}

/* A pass alone, as the thread runs it (5 ms between chunks): rows deleted per second. */
static double pass_alone(const char *dir, long old)
{
	struct vg_retain r = { .keep_ms = 86400000, .pause_ms = VG_RETAIN_PAUSE_MS };
	struct vg_store *st;
	char db[4096], cmd[4200];
	double t0, rate;
	int64_t n;

	snprintf(db, sizeof(db), "%s/bench-retain.db", dir);
	snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
	if (system(cmd) || vg_store_open(&st, db))
		exit(1);
	prefill(st, old);
	sqlite3_exec(vg_store_db(st), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	t0 = bench_s(CLOCK_MONOTONIC);
	n = vg_retain_pass(vg_store_db(st), &r, vg_now_ns());
	rate = (double)n / (bench_s(CLOCK_MONOTONIC) - t0);
	vg_store_close(st);
	system(cmd);
	return rate;
}

int main(int argc, char **argv)
{
	double seconds = 5, e[2][16], p[2][16], ratio[16];
	long old = 200000, deleted = 0;
	int rounds = 3;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--old"))
			old = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
	}
	if (rounds < 1 || rounds > 16 || seconds <= 0 || old < 1) {
		fprintf(stderr,
			"usage: retain [--seconds S] [--old N] [--rounds 1-16] [--dir DIR]\n");
		return 2;
	}
	vg_log_max = VG_WARN;
	for (int r = 0; r < rounds; r++) {
		/* Alternate which goes first: neither always meets a cold or a warm disk. */
		for (int k = 0; k < 2; k++) {
			int retain = (k + r) % 2;
			struct run x = one(dir, retain, seconds, old);

			e[retain][r] = x.events_per_s;
			p[retain][r] = x.p99_ms;
			if (retain)
				deleted += x.deleted;
		}
	}
	/* The median of same-round ratios: what survives a machine busy with other work. */
	for (int r = 0; r < rounds; r++)
		ratio[r] = e[1][r] / e[0][r];
	qsort(ratio, (size_t)rounds, sizeof(double), bench_cmp_double);
	for (int k = 0; k < 2; k++) {
		qsort(e[k], (size_t)rounds, sizeof(double), bench_cmp_double);
		qsort(p[k], (size_t)rounds, sizeof(double), bench_cmp_double);
	}
	printf("ingestion into SQLite, %d events a batch, %.0f s a run, %d rounds (medians),\n"
	       "on a store holding %ld rows older than a day:\n\n",
	       PER_BATCH, seconds, rounds, old);
	printf("%-22s %14s %16s\n", "", "events/s", "p99 batch (ms)");
	printf("%-22s %14.0f %16.2f\n", "no retention", e[0][rounds / 2], p[0][rounds / 2]);
	printf("%-22s %14.0f %16.2f\n", "retention pass running", e[1][rounds / 2],
	       p[1][rounds / 2]);
	printf("\nrate with retention / without (median of same-round ratios): %.3f"
	       " (rounds: %.3f to %.3f)\nrows the passes deleted: %ld a round\n",
	       ratio[rounds / 2], ratio[0], ratio[rounds - 1], deleted / rounds);
	printf("a pass alone (no ingestion) deletes %.0f rows/s\n", pass_alone(dir, old));
	return 0;
}
