// SPDX-License-Identifier: GPL-2.0-only
/*
 * Filters in the kernel: a drop rule keeps matching events out of the ring
 * (the kernel counts them as filtered, the store has none) while others
 * arrive; a hot swap under load loses nothing and keeps the identity.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[PATH_MAX], rules[PATH_MAX + 16];

static void setup(void)
{
	char tmpl[] = "/tmp/vg-filter-XXXXXX";

	cr_assert_not_null(mkdtemp(tmpl));
	cr_assert_not_null(realpath(tmpl, dir));
	snprintf(rules, sizeof(rules), "%s/rules.vf", dir);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			cr_log_warn("cleanup of %s failed", dir);
	}
}

static void write_rules(const char *path, const char *fmt, const char *arg)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, fmt, arg, arg);
	cr_assert_eq(fclose(f), 0);
}

static void create(const char *prefix, int i)
{
	char p[PATH_MAX + 32];
	int fd;

	if (i < 0)
		snprintf(p, sizeof(p), "%s/%s", dir, prefix); /* a whole name */
	else
		snprintf(p, sizeof(p), "%s/%s%d", dir, prefix, i);
	fd = open(p, O_CREAT | O_WRONLY | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
}

static long long stored(sqlite3 *db, const char *prefix)
{
	return vg_t_query_int(db,
			      "SELECT count(*) FROM DeviceFileEvents WHERE ActionType = "
			      "'FileCreated' AND FolderPath LIKE '%q/%q%%'",
			      dir, prefix);
}

static long long identity_broken(sqlite3 *db)
{
	return vg_t_query_int(db, "SELECT count(*) FROM SensorCounters WHERE Seen != Emitted + "
				  "Filtered + Deduplicated + RateLimited + RingbufFull");
}

static const char *const vigild_args[] = {
	"--filters", rules, "--rate-limit", "file:0", "--rate-limit-global", "file:0", NULL
};

Test(filter, drop_rule_never_reaches_the_ring, .init = setup, .fini = teardown, .timeout = 120)
{
	enum { NDROP = 500, NKEEP = 100 };
	long long filtered;
	sqlite3 *db;

	write_rules(rules,
		    "# the test's noise\n"
		    "keep file where path prefix \"%s/drop-but-keep\"\n"
		    "drop file where path prefix \"%s/drop\"\n",
		    dir);
	vg_t_host_start(&host, vigild_args);
	for (int i = 0; i < NDROP; i++)
		create("drop", i);
	for (int i = 0; i < NKEEP; i++) {
		create("keep", i);
		create("drop-but-keep", i);
	}
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(stored(db, "drop-but-keep"), NKEEP);
	cr_assert_eq(stored(db, "drop") - NKEEP, 0, "dropped files reached the store");
	cr_assert_eq(stored(db, "keep"), NKEEP);
	filtered = vg_t_query_int(db, "SELECT Filtered FROM SensorCounters WHERE EventClass = "
				      "'file'");
	cr_log_info("file events filtered in the kernel: %lld", filtered);
	cr_assert_geq(filtered, NDROP);
	/* Per-rule hits reach the host: the keep rule decided its files, the drop rule its own. */
	cr_assert_eq(vg_t_query_int(db, "SELECT Hits FROM SensorFilterRules WHERE Line = 2"),
		     NKEEP);
	cr_assert_eq(vg_t_query_int(db, "SELECT Hits FROM SensorFilterRules WHERE Line = 3"),
		     NDROP);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/*
 * Files come in pairs a<i>, b<i>; the set in force drops one prefix, and
 * the swaps alternate it. Each pair then stores exactly one file, except
 * pairs a swap falls between; every swap must take effect.
 */
Test(filter, hot_swap_under_load_loses_nothing, .init = setup, .fini = teardown, .timeout = 180)
{
	enum { PAIRS = 6000, SWAPS = 20 };
	int swaps;
	char ra[PATH_MAX + 16], rb[PATH_MAX + 16], pa[PATH_MAX], pb[PATH_MAX];
	long long a, b, full;
	pid_t gen, vigild;
	sqlite3 *db;
	int st;

	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	snprintf(ra, sizeof(ra), "%s/a.vf", dir);
	snprintf(rb, sizeof(rb), "%s/b.vf", dir);
	write_rules(ra, "drop file where path prefix \"%s\"\n", pa);
	write_rules(rb, "drop file where path prefix \"%s\"\n", pb);
	write_rules(rules, "drop file where path prefix \"%s\"\n", pa);
	vg_t_host_start(&host, vigild_args);
	vigild = vg_t_host_child(&host);
	cr_assert_gt(vigild, 0);
	gen = fork();
	cr_assert_geq(gen, 0);
	if (gen == 0) {
		for (int i = 0; i < PAIRS; i++) {
			create("a", i);
			create("b", i);
			if (i % 10 == 0)
				usleep(1000); /* spread the load over the swaps */
		}
		_exit(0);
	}
	/* Swap every 30 ms for as long as the load runs, and at least SWAPS times. */
	for (swaps = 1;; swaps++) {
		char cmd[3 * PATH_MAX];

		usleep(30 * 1000);
		snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", swaps % 2 ? rb : ra,
			 rules, rules, rules);
		cr_assert_eq(system(cmd), 0);
		cr_assert_eq(kill(vigild, SIGHUP), 0);
		if (swaps >= SWAPS && waitpid(gen, &st, WNOHANG) == gen)
			break;
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	a = stored(db, "a");
	b = stored(db, "b");
	full = vg_t_query_int(db, "SELECT RingbufFull FROM SensorCounters WHERE EventClass = "
				  "'file'");
	cr_log_info("hot swap: %d pairs, %lld a + %lld b stored, %d swaps", PAIRS, a, b, swaps);
	cr_assert_gt(a, 0, "no swap to the b set took effect");
	cr_assert_gt(b, 0, "the a set never dropped");
	cr_assert_eq(full, 0);
	cr_assert_geq(a + b, PAIRS - swaps, "%lld stored of %d pairs: events lost", a + b, PAIRS);
	cr_assert_leq(a + b, PAIRS + swaps, "%lld stored of %d pairs: a drop failed", a + b, PAIRS);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/* A run's files: dir/<tag><i>.a (na of them) and dir/<tag><i>.b (nb). */
static void create_run(const char *tag, int na, int nb)
{
	char p[64];

	for (int i = 0; i < na || i < nb; i++) {
		if (i < na) {
			snprintf(p, sizeof(p), "%s%d.a", tag, i);
			create(p, -1);
		}
		if (i < nb) {
			snprintf(p, sizeof(p), "%s%d.b", tag, i);
			create(p, -1);
		}
	}
}

/*
 * Record a workload without filters, predict with `vigil filter test`, run
 * the same workload with the filters live: the prediction is the result.
 */
Test(filter, replay_predicts_the_live_result, .init = setup, .fini = teardown, .timeout = 180)
{
	enum { NA = 300, NB = 200 };
	char cap[PATH_MAX + 16], cmd[3 * PATH_MAX], line[512];
	const char *rec_args[] = { "--record", cap, "--rate-limit", "file:0", "--rate-limit-global",
				   "file:0",   NULL };
	long long pred_drop = -1, live_a, live_b;
	sqlite3 *db;
	FILE *p;

	snprintf(cap, sizeof(cap), "%s/cap", dir);
	write_rules(rules, "drop file where path prefix \"%s/\" and path extension \"a\"\n", dir);
	vg_t_host_start(&host, rec_args);
	create_run("rec", NA, NB);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	snprintf(cmd, sizeof(cmd), "%s filter test %s --capture %s --json",
		 getenv("VIGIL") ? getenv("VIGIL") : "build/vigil", rules, cap);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *d = strstr(line, "\"dropped\":");

		if (strstr(line, "\"line\":1,") && d)
			pred_drop = atoll(d + 10);
	}
	cr_assert_eq(pclose(p), 0);

	vg_t_host_start(&host, vigild_args);
	create_run("live", NA, NB);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	live_a = vg_t_query_int(db,
				"SELECT count(*) FROM DeviceFileEvents WHERE ActionType = "
				"'FileCreated' AND FolderPath LIKE '%q/live%%.a'",
				dir);
	live_b = vg_t_query_int(db,
				"SELECT count(*) FROM DeviceFileEvents WHERE ActionType = "
				"'FileCreated' AND FolderPath LIKE '%q/live%%.b'",
				dir);
	cr_log_info("predicted %lld dropped; live: %lld of %d .a stored, %lld of %d .b", pred_drop,
		    live_a, NA, live_b, NB);
	cr_assert_eq(pred_drop, NA, "prediction %lld, workload %d", pred_drop, NA);
	cr_assert_eq(NA - live_a, pred_drop, "live dropped %lld, predicted %lld", NA - live_a,
		     pred_drop);
	cr_assert_eq(live_b, NB);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/* sample 1/N in the kernel: one in N matches kept per CPU, the rest dropped and counted. */
Test(filter, sampling_keeps_one_in_n, .init = setup, .fini = teardown, .timeout = 120)
{
	enum { N = 200, EVERY = 10 };
	long long kept, cpus = sysconf(_SC_NPROCESSORS_CONF);
	sqlite3 *db;

	write_rules(rules, "drop file where path prefix \"%s/s\" sample 1/10\n", dir);
	vg_t_host_start(&host, vigild_args);
	for (int i = 0; i < N; i++)
		create("s", i);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	kept = stored(db, "s");
	cr_log_info("sample 1/%d of %d creates: %lld kept", EVERY, N, kept);
	/* Each CPU keeps its 1st, 11th, ... match: N/EVERY kept, up to one more per CPU. */
	cr_assert(kept >= N / EVERY && kept <= N / EVERY + cpus, "kept %lld of %d", kept, N);
	cr_assert_eq(vg_t_query_int(db, "SELECT Hits FROM SensorFilterRules WHERE Line = 1"), N);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}
