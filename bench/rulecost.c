// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/rulecost: what each detection rule costs a run of `vigil host`'s
 * detections (hunt/detect.c) when the store holds a flood of file events.
 * A new store (the host's schema, its write path vg_store_batch) takes N
 * file events of the `bench/flood chmod` kind (FileModeChanged of 8 files in
 * /dev/shm by one process, stamped now) with ordinary activity every 1000:
 * a linker writing a program under /tmp that then runs, curl downloading a
 * file that is chmod'ed, a few execs from /usr/bin. The CPU it took is
 * printed per million events. Then R rounds of what a flooded host stores
 * in a second (B more flood events, 20 ordinary execs, a program run from
 * /tmp that nothing built, one the linker built, a downloaded one), each
 * followed by one vg_detect_run(): the median ms of the whole run and of
 * each rule that took 0.05 ms or more, costliest first.
 *
 *   build/bench/rulecost [--rules DIR] [--rows N] [--rounds R] [--batch B]
 *                        [--no-path-index] [--dir DIR]
 *
 * --no-path-index drops the store's DeviceFileEvents(FolderPath) index
 * before anything is stored: with another --rules DIR, a store and rules as
 * an older vigil had them, measured in the same sitting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "detect.h"
#include "bench.h"
#include "fmt.h"
#include "log.h"
#include "store.h"

#define CHUNK 4096 /* events a stored batch holds at most */
#define MAX_RULES 256
#define MAX_ROUNDS 64

static Vigil__V1__Event ev[CHUNK], *evs[CHUNK];
static Vigil__V1__FileEvent fe[CHUNK];
static Vigil__V1__ProcessEvent pe[CHUNK];
static Vigil__V1__Process pr[CHUNK];
static char path[CHUNK][96];
static size_t n;

static struct vg_store *st;
static struct vg_store_peer peer;
static uint64_t seq, rid;
static Vigil__V1__Process flood_p, ld_p, curl_p, chmod_p, shell_p;
static char *argv_run[] = { "./x" };

static double median[MAX_RULES]; /* of each rule's ms per run */

/* rule indexes, costliest first */
static int cmp_median(const void *a, const void *b)
{
	double x = median[*(const int *)a], y = median[*(const int *)b];

	return x > y ? -1 : x < y;
}

static void flush(void)
{
	Vigil__V1__DeviceInfo dev;
	Vigil__V1__Batch b;
	uint64_t now = vg_now_ns();

	if (!n)
		return;
	vigil__v1__device_info__init(&dev);
	dev.device_id = "bench";
	dev.device_name = "bench";
	vigil__v1__batch__init(&b);
	b.device = &dev;
	b.stream_id = 1;
	b.n_events = n;
	b.events = evs;
	for (size_t i = 0; i < n; i++) {
		ev[i].report_id = ++rid;
		ev[i].time_ns = now;
	}
	if (vg_store_batch(st, &peer, ++seq, &b) != 1) {
		fprintf(stderr, "rulecost: a batch was not stored\n");
		exit(1);
	}
	n = 0;
}

static Vigil__V1__Event *next(void)
{
	Vigil__V1__Event *e;

	if (n == CHUNK)
		flush();
	e = &ev[n];
	vigil__v1__event__init(e);
	evs[n] = e;
	return e;
}

static void file_ev(const char *action, Vigil__V1__Process *by, const char *fmt, long k)
{
	Vigil__V1__Event *e = next();

	vigil__v1__file_event__init(&fe[n]);
	fe[n].action_type = (char *)action;
	fe[n].process = by;
	snprintf(path[n], sizeof(path[n]), fmt, k);
	fe[n].path = path[n];
	e->body_case = VIGIL__V1__EVENT__BODY_FILE;
	e->file = &fe[n];
	n++;
}

static void exec_ev(const char *fmt, long k)
{
	Vigil__V1__Event *e = next();

	vigil__v1__process__init(&pr[n]);
	snprintf(path[n], sizeof(path[n]), fmt, k);
	pr[n].exe = path[n];
	pr[n].pid = (uint32_t)(20000 + rid % 30000 + n);
	pr[n].ppid = shell_p.pid;
	pr[n].argv = argv_run;
	pr[n].n_argv = 1;
	pr[n].cwd = "/home/u";
	pr[n].user = "u";
	pr[n].uid = 1000;
	pr[n].start_time_ns = vg_now_ns();
	vigil__v1__process_event__init(&pe[n]);
	pe[n].action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe[n].process = &pr[n];
	pe[n].parent = &shell_p;
	e->body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	e->process = &pe[n];
	n++;
}

static void proc_init(Vigil__V1__Process *p, const char *exe, uint32_t pid)
{
	vigil__v1__process__init(p);
	p->exe = (char *)exe;
	p->pid = pid;
	p->ppid = 1;
	p->uid = 1000;
	p->user = "u";
	p->cwd = "/home/u";
	p->start_time_ns = vg_now_ns();
}

/* Flood events from k on, with the ordinary activity of every 1000th. */
static void flood(long from, long count)
{
	for (long k = from; k < from + count; k++) {
		file_ev("FileModeChanged", &flood_p, "/dev/shm/vigil-flood-1/t%ld", k % 8);
		if (k % 1000)
			continue;
		file_ev("FileCreated", &ld_p, "/tmp/build-%ld/t", k / 1000);
		exec_ev("/tmp/build-%ld/t", k / 1000);
		file_ev("FileCreated", &curl_p, "/home/u/dl-%ld", k / 1000);
		file_ev("FileModeChanged", &chmod_p, "/home/u/dl-%ld", k / 1000);
		for (long j = 0; j < 5; j++)
			exec_ev("/usr/bin/tool%ld", j);
	}
}

int main(int argc, char **argv)
{
	static double run_ms[MAX_ROUNDS], rule_ms[MAX_RULES][MAX_ROUNDS];
	const char *rules = "rules", *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	long rows = 1000000, batch = 50000;
	int rounds = 5, path_index = 1, nrules, order[MAX_RULES];
	char db[4096], cmd[4200];
	struct vg_detect *det;
	struct vg_sb why;
	double c0, c1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-path-index")) {
			path_index = 0;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--rules"))
			rules = v;
		else if (!strcmp(a, "--rows"))
			rows = atol(v);
		else if (!strcmp(a, "--rounds"))
			rounds = atoi(v);
		else if (!strcmp(a, "--batch"))
			batch = atol(v);
		else if (!strcmp(a, "--dir"))
			dir = v;
		else
			goto usage;
	}
	if (rows < 1 || batch < 1 || rounds < 1 || rounds > MAX_ROUNDS)
		goto usage;
	vg_log_max = VG_WARN;
	proc_init(&flood_p, "/usr/local/bin/flood", 4000);
	proc_init(&ld_p, "/usr/bin/x86_64-linux-gnu-ld.bfd", 4001);
	proc_init(&curl_p, "/usr/bin/curl", 4002);
	proc_init(&chmod_p, "/usr/bin/chmod", 4003);
	proc_init(&shell_p, "/usr/bin/bash", 4004);

	snprintf(db, sizeof(db), "%s/bench-rulecost.db", dir);
	snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'", db, db, db);
	if (system(cmd) || vg_store_open(&st, db))
		return 1;
	if (!path_index &&
	    sqlite3_exec(vg_store_db(st), "DROP INDEX DeviceFileEvents_Path", NULL, NULL, NULL))
		fprintf(stderr, "rulecost: no FolderPath index to drop\n");
	c0 = bench_s(CLOCK_PROCESS_CPUTIME_ID);
	flood(0, rows);
	flush();
	c1 = bench_s(CLOCK_PROCESS_CPUTIME_ID);
	printf("rulecost: %ld flood file events (and %ld others) stored: %.2f CPU s per million"
	       " (FolderPath index: %s)\n",
	       rows, (rows + 999) / 1000 * 9, (c1 - c0) * 1e6 / (double)rows,
	       path_index ? "yes" : "no");

	vg_sb_init(&why);
	if (vg_detect_open(&det, vg_store_db(st), rules, &why)) {
		fprintf(stderr, "rulecost: %s", vg_sb_str(&why) ?: "rules not loaded\n");
		return 1;
	}
	vg_sb_free(&why);
	/* As if the detections had run over what is stored: each run reads only its round's. */
	if (sqlite3_exec(
		    vg_store_db(st),
		    "INSERT OR REPLACE INTO DetectionState SELECT 'DeviceFileEvents', max(rowid)"
		    " FROM DeviceFileEvents UNION ALL SELECT 'DeviceProcessEvents', max(rowid)"
		    " FROM DeviceProcessEvents",
		    NULL, NULL, NULL)) {
		fprintf(stderr, "rulecost: %s\n", sqlite3_errmsg(vg_store_db(st)));
		return 1;
	}
	nrules = vg_detect_nrules(det, NULL);
	if (nrules > MAX_RULES)
		nrules = MAX_RULES;
	for (int r = 0; r < rounds; r++) {
		double t0;

		flood(rows + (long)r * batch, batch);
		for (long j = 0; j < 20; j++)
			exec_ev("/usr/bin/other%ld", j);
		exec_ev("/tmp/round-%ld/x", r);
		exec_ev("/tmp/build-%ld/t", r + 1);
		exec_ev("/home/u/dl-%ld", r + 1);
		flush();
		t0 = bench_s(CLOCK_MONOTONIC);
		if (vg_detect_run(det) < 0) {
			fprintf(stderr, "rulecost: the detections failed\n");
			return 1;
		}
		run_ms[r] = (bench_s(CLOCK_MONOTONIC) - t0) * 1e3;
		for (int i = 0; i < nrules; i++) {
			const char *id;
			uint64_t ns;

			vg_detect_rule_cost(det, i, &id, &ns);
			rule_ms[i][r] = (double)ns / 1e6;
		}
	}
	for (int i = 0; i < nrules; i++) {
		qsort(rule_ms[i], (size_t)rounds, sizeof(double), bench_cmp_double);
		median[i] = rule_ms[i][rounds / 2];
		order[i] = i;
	}
	qsort(run_ms, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(order, (size_t)nrules, sizeof(*order), cmp_median);
	printf("rulecost: a run over %ld new flood events and 23 execs on top of them: %.1f ms"
	       " (median of %d; %.1f to %.1f)\n",
	       batch, run_ms[rounds / 2], rounds, run_ms[0], run_ms[rounds - 1]);
	for (int i = 0; i < nrules; i++) {
		double *m = rule_ms[order[i]];
		const char *id;
		uint64_t ns;

		if (m[rounds / 2] < 0.05)
			continue;
		vg_detect_rule_cost(det, order[i], &id, &ns);
		printf("rulecost:   %-28s %8.2f ms (%.2f to %.2f)\n", id, m[rounds / 2], m[0],
		       m[rounds - 1]);
	}
	vg_detect_close(det);
	vg_store_peer_free(&peer);
	vg_store_close(st);
	system(cmd);
	return 0;

usage:
	fprintf(stderr,
		"usage: rulecost [--rules DIR] [--rows N] [--rounds 1-%d] [--batch B]"
		" [--no-path-index] [--dir DIR]\n",
		MAX_ROUNDS);
	return 2;
}
