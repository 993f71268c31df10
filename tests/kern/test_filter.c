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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[PATH_MAX], rules[PATH_MAX + 16];

static void setup(void)
{
	vg_t_tmpdir(dir, sizeof(dir), "vg-filter");
	snprintf(rules, sizeof(rules), "%s/rules.vf", dir);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	vg_t_rmrf(dir);
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

/* `vigil filter test rules --capture cap`: the predicted drops of lines 1..n into dropped[1..n]. */
static void predict(const char *cap, long long *dropped, int n)
{
	char cmd[3 * PATH_MAX], line[512];
	FILE *p;

	for (int l = 1; l <= n; l++)
		dropped[l] = -1;
	snprintf(cmd, sizeof(cmd), "%s filter test %s --capture %s --json",
		 getenv("VIGIL") ? getenv("VIGIL") : "build/vigil", rules, cap);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		char *d = strstr(line, "\"dropped\":");

		for (int l = 1; l <= n; l++) {
			char want[32];

			snprintf(want, sizeof(want), "\"line\":%d,", l);
			if (strstr(line, want) && d)
				dropped[l] = atoll(d + 10);
		}
	}
	cr_assert_eq(pclose(p), 0);
}

/*
 * Record a workload without filters, predict with `vigil filter test`, run
 * the same workload with the filters live: the prediction is the result.
 */
Test(filter, replay_predicts_the_live_result, .init = setup, .fini = teardown, .timeout = 180)
{
	enum { NA = 300, NB = 200 };
	char cap[PATH_MAX + 16];
	const char *rec_args[] = { "--record", cap, "--rate-limit", "file:0", "--rate-limit-global",
				   "file:0",   NULL };
	long long pred[2], pred_drop, live_a, live_b;
	sqlite3 *db;

	snprintf(cap, sizeof(cap), "%s/cap", dir);
	write_rules(rules, "drop file where path prefix \"%s/\" and path extension \"a\"\n", dir);
	vg_t_host_start(&host, rec_args);
	create_run("rec", NA, NB);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	predict(cap, pred, 1);
	pred_drop = pred[1];

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

/*
 * The exe/parent_exe workload: copies of sh and touch under dir/bin. A copied
 * sh started before vigild (so the kernel knows it only from vigild's /proc
 * seed) waits for dir/go, then creates tag-pre1 through its touch copy,
 * tag-pre2 through /usr/bin/touch and tag-pre3 itself; a copied sh started
 * after does the same for tag-post1..3. The test process creates tag-kept1
 * (through /usr/bin/touch) and tag-kept2. Returns the early sh's pid.
 */
static pid_t exe_workload_start(const char *tag)
{
	char script[4 * PATH_MAX], sh[PATH_MAX + 16];
	pid_t early;

	snprintf(sh, sizeof(sh), "%s/bin/sh", dir);
	snprintf(script, sizeof(script),
		 "while [ ! -e %s/go-%s ]; do sleep 0.02; done; %s/bin/touch %s/%s-pre1; "
		 "/usr/bin/touch %s/%s-pre2; : > %s/%s-pre3",
		 dir, tag, dir, dir, tag, dir, tag, dir, tag);
	early = fork();
	cr_assert_geq(early, 0);
	if (early == 0) {
		execl(sh, "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	return early;
}

static void exe_workload_finish(const char *tag, pid_t early)
{
	char cmd[4 * PATH_MAX];
	int st;

	snprintf(cmd, sizeof(cmd), "%s/go-%s", dir, tag);
	create(cmd + strlen(dir) + 1, -1);
	cr_assert_eq(waitpid(early, &st, 0), early);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(cmd, sizeof(cmd),
		 "%s/bin/sh -c '%s/bin/touch %s/%s-post1; /usr/bin/touch %s/%s-post2; : > "
		 "%s/%s-post3' && /usr/bin/touch %s/%s-kept1",
		 dir, dir, dir, tag, dir, tag, dir, tag, dir, tag);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s-kept2", tag);
	create(cmd, -1);
}

/*
 * exe and parent_exe in the kernel, for processes it saw exec and for one
 * running before vigild; and `vigil filter test` on a capture of the same
 * workload predicts each rule's drops.
 */
Test(filter, exe_and_parent_exe_judged_in_the_kernel, .init = setup, .fini = teardown,
     .timeout = 180)
{
	char cap[PATH_MAX + 16], cmd[3 * PATH_MAX];
	const char *rec_args[] = { "--record", cap, "--rate-limit", "file:0", "--rate-limit-global",
				   "file:0",   NULL };
	long long pred[4] = { -1, -1, -1, -1 }, hits1, hits2;
	sqlite3 *db;
	pid_t early;

	snprintf(cmd, sizeof(cmd), "mkdir %s/bin && cp /bin/sh /usr/bin/touch %s/bin/", dir, dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(cap, sizeof(cap), "%s/cap", dir);
	snprintf(cmd, sizeof(cmd), "%s/bin/", dir);
	{
		FILE *f = fopen(rules, "w");

		cr_assert_not_null(f);
		/*
		 * Line 1 takes the library loads (ImageLoaded) first: how many a
		 * process shows depends on the kernel's per-address-space LRU,
		 * which the machine's other loads evict from, so the record and
		 * the live run need not see the same number. Lines 2 and 3 are
		 * what this test is about.
		 */
		fprintf(f,
			"drop file where op == image\n"
			"drop file where exe prefix \"%s\"\n"
			"drop file where parent_exe == \"%ssh\"\n",
			cmd, cmd);
		cr_assert_eq(fclose(f), 0);
	}

	/* Recorded without filters, then replayed. */
	early = exe_workload_start("rec");
	vg_t_host_start(&host, rec_args);
	exe_workload_finish("rec", early);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	predict(cap, pred, 3);

	/* Live, with the rules in the kernel. */
	early = exe_workload_start("live");
	vg_t_host_start(&host, vigild_args);
	exe_workload_finish("live", early);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	for (int i = 1; i <= 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "live-pre%d", i);
		cr_assert_eq(stored(db, name), 0, "%s reached the store", name);
		snprintf(name, sizeof(name), "live-post%d", i);
		cr_assert_eq(stored(db, name), 0, "%s reached the store", name);
	}
	cr_assert_eq(stored(db, "live-kept1"), 1);
	cr_assert_eq(stored(db, "live-kept2"), 1);
	hits1 = vg_t_query_int(db, "SELECT Hits FROM SensorFilterRules WHERE Line = 2");
	hits2 = vg_t_query_int(db, "SELECT Hits FROM SensorFilterRules WHERE Line = 3");
	cr_log_info("exe rule: %lld hits (predicted %lld dropped); parent_exe rule: %lld (%lld)",
		    hits1, pred[2], hits2, pred[3]);
	/* pre1, pre3, post1, post3 by exe; pre2, post2 by parent_exe, and nothing else here. */
	cr_assert_geq(hits1, 4);
	cr_assert_geq(hits2, 2);
	cr_assert_eq(pred[2], hits1, "replay predicted %lld, the kernel dropped %lld", pred[2],
		     hits1);
	cr_assert_eq(pred[3], hits2, "replay predicted %lld, the kernel dropped %lld", pred[3],
		     hits2);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

/* Answer of vigild's control socket to "filter\n" TEXT (static buffer). */
static const char *ask_filter(const char *sock, const char *text)
{
	static char buf[8192];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ssize_t n, got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(fd, "filter\n", 7), 7);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return buf;
}

/*
 * `vigil host --filters FILE` sends the rules over the connection; SIGHUP to
 * the host sends a new FILE (a FILE with errors is not sent, the running
 * rules stay); `vigil filter apply --control` swaps rules through vigild's
 * control socket, which checks them first. Each takes effect in the kernel.
 */
Test(filter, apply_over_the_control_channel, .init = setup, .fini = teardown, .timeout = 180)
{
	enum { N = 40 };
	char sock[PATH_MAX + 16], other[PATH_MAX + 16], cmd[3 * PATH_MAX];
	const char *host_args[] = { "--filters", rules, NULL };
	const char *args[] = { "--control", sock, "--rate-limit", "file:0", "--rate-limit-global",
			       "file:0",    NULL };
	const char *a;
	sqlite3 *db;
	FILE *p;

	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(other, sizeof(other), "%s/other.vf", dir);
	write_rules(rules, "drop file where path prefix \"%s/h1-\"\n", dir);
	vg_t_host_start_args(&host, host_args, args);
	cr_assert_eq(
		vg_t_wait_int(&host, 1, 10000,
			      "SELECT count(*) FROM SensorFilterRules WHERE Rule LIKE '%%h1-%%'"),
		1, "the host's rules did not reach the sensor");
	for (int i = 0; i < N; i++)
		create("h1-a", i);

	/* SIGHUP to the host: the new file goes to the sensor. */
	write_rules(rules, "drop file where path prefix \"%s/h2-\"\n", dir);
	cr_assert_eq(kill(host.pid, SIGHUP), 0);
	cr_assert_eq(
		vg_t_wait_int(&host, 1, 10000,
			      "SELECT count(*) FROM SensorFilterRules WHERE Rule LIKE '%%h2-%%'"),
		1, "the new rules did not reach the sensor");
	for (int i = 0; i < N; i++) {
		create("h1-b", i);
		create("h2-a", i);
	}
	/* A file with errors is not sent: the h2- rule stays. */
	write_rules(rules, "drop file where path prefix \"%s/h3-\" and bogus == 1\n", dir);
	cr_assert_eq(kill(host.pid, SIGHUP), 0);
	usleep(300 * 1000);
	for (int i = 0; i < N; i++)
		create("h2-b", i);

	/* vigild's control socket checks the text itself and says where it is wrong. */
	a = ask_filter(sock, "drop file where path prefix \"/x\" and\n");
	cr_assert(!strncmp(a, "error: 1 errors", 15), "%s", a);
	cr_assert_not_null(strstr(a, "control:1:"), "%s", a);
	write_rules(other, "drop file where path prefix \"%s/c-\"\n", dir);
	snprintf(cmd, sizeof(cmd), "%s filter apply %s --control %s",
		 getenv("VIGIL") ? getenv("VIGIL") : "build/vigil", other, sock);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(cmd, sizeof(cmd), p));
	cr_assert_eq(pclose(p), 0);
	cr_assert(!strncmp(cmd, "ok: 1 rules", 11), "%s", cmd);
	for (int i = 0; i < N; i++) {
		create("c-", i);
		create("h2-c", i);
	}
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	db = vg_t_db_open(&host);
	cr_assert_eq(stored(db, "h1-a"), 0, "first rules (from the host) not applied");
	cr_assert_eq(stored(db, "h1-b"), N, "first rules still applied after SIGHUP");
	cr_assert_eq(stored(db, "h2-a"), 0, "the host's new rules not applied");
	cr_assert_eq(stored(db, "h2-b"), 0, "a file with errors replaced the rules");
	cr_assert_eq(stored(db, "c-"), 0, "apply --control not applied");
	cr_assert_eq(stored(db, "h2-c"), N, "apply --control left the old rules");
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}

static void open_write(const char *name, int n)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	for (int i = 0; i < n; i++) {
		int fd = open(p, O_WRONLY | O_CREAT, 0600);

		cr_assert_geq(fd, 0);
		close(fd);
	}
}

static long long file_rows(sqlite3 *db, const char *name, const char *action)
{
	return vg_t_query_int(db,
			      "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = '%q/%q'"
			      " AND ActionType = '%q'",
			      dir, name, action);
}

static long long summarized(sqlite3 *db, const char *name)
{
	return vg_t_query_int(db,
			      "SELECT coalesce(sum(Count), 0) FROM SuppressedEvents WHERE"
			      " FolderPath = '%q/%q'",
			      dir, name);
}

/*
 * Opening one file again and again: the first open of a dedup window is
 * judged, its duplicates keep that verdict — those of a dropped file are
 * dropped and counted for its rule (no summary), those of a kept file are
 * deduplicated and summarized — and after a swap the next one is judged
 * again: the file the new set keeps has its first event emitted.
 */
Test(filter, duplicates_keep_the_verdict_of_their_window, .init = setup, .fini = teardown,
     .timeout = 120)
{
	enum { N = 3000, M = 100 };
	char sock[PATH_MAX + 16], text[PATH_MAX + 64];
	const char *args[] = {
		"--filters",	       rules,	 "--control", sock, "--rate-limit", "file:0",
		"--rate-limit-global", "file:0", NULL
	};
	sqlite3 *db;

	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	write_rules(rules, "drop file where path prefix \"%s/noisy\"\n", dir);
	vg_t_host_start(&host, args);
	open_write("noisy", N + 1); /* created, then N opens for write */
	open_write("kept", N + 1);
	cr_assert_eq(vg_t_wait_int(&host, N + 1, 10000,
				   "SELECT Hits FROM SensorFilterRules WHERE Line = 1"),
		     N + 1, "the drop rule's hits are not every event of the file");
	snprintf(text, sizeof(text), "drop file where path prefix \"%s/other\"\n", dir);
	cr_assert(!strncmp(ask_filter(sock, text), "ok", 2));
	open_write("noisy", M); /* inside the same dedup window */
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);

	db = vg_t_db_open(&host);
	cr_assert_eq(file_rows(db, "noisy", "FileCreated"), 0);
	cr_assert_eq(file_rows(db, "noisy", "FileModified"), 1,
		     "after the swap, the first open of the kept file is not emitted");
	cr_assert_eq(summarized(db, "noisy"), M - 1);
	cr_assert_eq(file_rows(db, "kept", "FileCreated"), 1);
	cr_assert_eq(file_rows(db, "kept", "FileModified"), 1);
	cr_assert_eq(summarized(db, "kept"), N - 1);
	cr_assert_geq(vg_t_query_int(db, "SELECT Filtered FROM SensorCounters WHERE EventClass ="
					 " 'file'"),
		      N + 1);
	cr_assert_eq(identity_broken(db), 0);
	sqlite3_close(db);
}
