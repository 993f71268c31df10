// SPDX-License-Identifier: GPL-2.0-only
/* Real sensors for the fleet tests (hosts.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

static char vigild_abs[PATH_MAX], marker[32];

void fx_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void fx_hosts_init(void)
{
	const char *v = getenv("VIGILD");
	char path[PATH_MAX];

	if (geteuid())
		cr_skip_test("loads BPF programs and runs PostgreSQL: run as root");
	snprintf(path, sizeof(path), "%s/build/vigild", srcdir());
	cr_assert_not_null(realpath(v && *v ? v : path, vigild_abs), "VIGILD: %s", strerror(errno));
	snprintf(marker, sizeof(marker), "vgf%d", (int)getpid());
}

const char *fx_vigild(void)
{
	return vigild_abs;
}

const char *fx_marker(void)
{
	return marker;
}

long long fx_sq(const struct fx_host *h, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	char path[128];

	snprintf(path, sizeof(path), "%s/%s.db", dir, h->name);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

int fx_log_has(const char *file, const char *s)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' '%s/%s'", s, dir, file);
	return system(cmd) == 0;
}

void fx_host_start(struct fx_host *h, const char *name, const char *urls, const char *device_id,
		   const char *host_id)
{
	char db[64], log[64];
	long long reports;

	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(db, sizeof(db), "%s.db", name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	reports = fx_sq(h, "SELECT count(*) FROM DeviceInfo");
	if (reports < 0)
		reports = 0;
	h->pid = fork();
	cr_assert_neq(h->pid, -1);
	if (!h->pid) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen(log, "a", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		if (host_id)
			execl(vigil(), "vigil", "host", "--db", db, "--no-rules", "--upstream",
			      urls, "--onboarding", "ob.txt", "-v", "--spawn", vigild_abs,
			      "--flush-ms", "50", "--device-id", device_id, "--host-device-id",
			      host_id, (char *)NULL);
		else
			execl(vigil(), "vigil", "host", "--db", db, "--no-rules", "--upstream",
			      urls, "--onboarding", "ob.txt", "-v", "--spawn", vigild_abs,
			      "--flush-ms", "50", "--device-id", device_id, (char *)NULL);
		_exit(127);
	}
	/* vigild reports its device once its programs are attached. */
	for (int t = 0; t < 600 && fx_sq(h, "SELECT count(*) FROM DeviceInfo") <= reports; t++) {
		cr_assert_eq(waitpid(h->pid, NULL, WNOHANG), 0, "vigil host exited; see %s", log);
		fx_sleep_ms(100);
	}
	cr_assert_gt(fx_sq(h, "SELECT count(*) FROM DeviceInfo"), reports, "no sensor; see %s",
		     log);
}

void fx_host_stop_synced(struct fx_host *h, const char *device)
{
	char sql[256];
	long long local, fleet = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM ReceivedFrames WHERE DeviceId = '%s'",
		 device);
	local = fx_sq(h, sql);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM \"ReceivedFrames\" WHERE \"DeviceId\" = '%s'", device);
	for (int t = 0; t < 3000 && (fleet = atoll(pgq(sql))) < local; t++)
		fx_sleep_ms(100);
	cr_assert_geq(fleet, local, "%s: %lld of %lld frames reached PostgreSQL", h->name, fleet,
		      local);
	fx_host_stop(h);
}

void fx_hosts_teardown(struct fx_host *hosts, int n)
{
	for (int i = 0; i < n; i++)
		fx_host_stop(&hosts[i]);
	fx_server_stop();
	fx_cleanup_dir();
}

void fx_host_stop(struct fx_host *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGTERM);
	waitpid(h->pid, NULL, 0);
	h->pid = -1;
}

void fx_run_marked(int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char arg[64];
		pid_t pid;

		snprintf(arg, sizeof(arg), "%s-%d", marker, i);
		pid = fork();
		cr_assert_neq(pid, -1);
		if (!pid) {
			execl("/bin/true", "/bin/true", arg, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
}

static long long pg_num(const char *fmt, const char *device, const char *arg)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, device, arg);
	return atoll(pgq(sql));
}

void fx_pg_wait_marked(const char *device, long long n)
{
	static const char rows_sql[] =
		"SELECT count(*) FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" = '%s' AND"
		" \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" LIKE '/bin/true %s-%%'";
	static const char distinct_sql[] =
		"SELECT count(DISTINCT \"ProcessCommandLine\") FROM \"DeviceProcessEvents\" WHERE"
		" \"DeviceId\" = '%s' AND \"ActionType\" = 'ProcessCreated' AND"
		" \"ProcessCommandLine\" LIKE '/bin/true %s-%%'";
	long long distinct = 0;

	for (int t = 0; t < 1800 && distinct < n; t++) {
		distinct = pg_num(distinct_sql, device, marker);
		if (distinct < n)
			fx_sleep_ms(100);
	}
	cr_assert_eq(distinct, n, "%lld of %lld marked execs of %s reached PostgreSQL", distinct, n,
		     device);
	cr_assert_eq(pg_num(rows_sql, device, marker), n, "marked execs of %s stored twice",
		     device);
}

void fx_same_in_pg(const struct fx_host *h, const char *device)
{
	static const char *const tables[] = { "DeviceProcessEvents", "DeviceFileEvents",
					      "DeviceNetworkEvents", "DeviceEvents",
					      "SuppressedEvents" };
	char sql[512];
	long long local, fleet;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE DeviceId = '%s'",
			 tables[i], device);
		local = fx_sq(h, sql);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\" WHERE \"DeviceId\" = '%s'",
			 tables[i], device);
		fleet = atoll(pgq(sql));
		cr_assert_eq(fleet, local, "%s of %s: %lld rows in PostgreSQL, %lld in %s.db",
			     tables[i], device, fleet, local, h->name);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) * 1000000 + coalesce(sum(Events), 0) FROM ReceivedFrames"
		 " WHERE DeviceId = '%s'",
		 device);
	local = fx_sq(h, sql);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) * 1000000 + coalesce(sum(\"Events\"), 0) FROM \"ReceivedFrames\""
		 " WHERE \"DeviceId\" = '%s'",
		 device);
	fleet = atoll(pgq(sql));
	cr_assert_eq(
		fleet, local,
		"ReceivedFrames of %s (frames * 1e6 + events): %lld in PostgreSQL, %lld in %s.db",
		device, fleet, local, h->name);
	cr_assert_gt(local, 1000000, "no frames");
	cr_assert_eq(fx_sq(h, "SELECT count(*) FROM HostRefused WHERE Reason LIKE 'upstream:%'"), 0,
		     "%s counted frames as not sent", h->name);
}

/* Rows of two numbers, sorted: what each side holds of a device's events or frames. */
struct fx_keys {
	long long (*k)[2];
	size_t n, cap;
};

static void fx_keys_add(struct fx_keys *ks, long long a, long long b)
{
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? 2 * ks->cap : 1024;
		ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
		cr_assert_not_null(ks->k);
	}
	ks->k[ks->n][0] = a;
	ks->k[ks->n][1] = b;
	ks->n++;
}

static int fx_keys_cmp(const void *x, const void *y)
{
	const long long *a = x, *b = y;

	return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

/* sql's rows (two integer columns, NULL as -1) in h's store (h) or PostgreSQL (h NULL), sorted. */
static void fx_keys_read(struct fx_keys *ks, const struct fx_host *h, const char *sql)
{
	memset(ks, 0, sizeof(*ks));
	if (h) {
		char path[128];
		sqlite3 *db;
		sqlite3_stmt *st;
		int rc;

		snprintf(path, sizeof(path), "%s/%s.db", dir, h->name);
		cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
			     sqlite3_errmsg(db));
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			fx_keys_add(ks,
				    sqlite3_column_type(st, 0) == SQLITE_NULL ?
					    -1 :
					    sqlite3_column_int64(st, 0),
				    sqlite3_column_type(st, 1) == SQLITE_NULL ?
					    -1 :
					    sqlite3_column_int64(st, 1));
		cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
	} else {
		PGconn *c = PQconnectdb(conninfo);
		PGresult *r;

		cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
		r = PQexec(c, sql);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
		for (int i = 0; i < PQntuples(r); i++)
			fx_keys_add(ks, PQgetisnull(r, i, 0) ? -1 : atoll(PQgetvalue(r, i, 0)),
				    PQgetisnull(r, i, 1) ? -1 : atoll(PQgetvalue(r, i, 1)));
		PQclear(r);
		PQfinish(c);
	}
	qsort(ks->k, ks->n, sizeof(*ks->k), fx_keys_cmp);
}

void fx_each_once_in_pg(const struct fx_host *h, const char *device)
{
	static const struct {
		const char *table, *key,
			*pkey; /* the key: ReportId, or the frame's stream and seq */
	} t[] = {
		{ "DeviceProcessEvents", "ReportId, 0", "\"ReportId\", 0" },
		{ "DeviceFileEvents", "ReportId, 0", "\"ReportId\", 0" },
		{ "DeviceNetworkEvents", "ReportId, 0", "\"ReportId\", 0" },
		{ "DeviceEvents", "ReportId, 0", "\"ReportId\", 0" },
		{ "SuppressedEvents", "ReportId, 0", "\"ReportId\", 0" },
		{ "ReceivedFrames", "StreamId, Seq", "\"StreamId\", \"Seq\"" },
	};
	char sql[512];
	struct fx_keys local, fleet;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t a = 0, b = 0;

		snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE DeviceId = '%s'", t[i].key,
			 t[i].table, device);
		fx_keys_read(&local, h, sql);
		snprintf(sql, sizeof(sql), "SELECT %s FROM \"%s\" WHERE \"DeviceId\" = '%s'",
			 t[i].pkey, t[i].table, device);
		fx_keys_read(&fleet, NULL, sql);
		/* The first difference of the sorted lists, named. */
		while (a < local.n && b < fleet.n && !fx_keys_cmp(local.k[a], fleet.k[b])) {
			a++;
			b++;
		}
		if (a < local.n || b < fleet.n) {
			int in_local = a < local.n &&
				       (b == fleet.n || fx_keys_cmp(local.k[a], fleet.k[b]) < 0);
			const long long *k = in_local ? local.k[a] : fleet.k[b];

			cr_assert_fail("%s of %s: %zu rows in %s.db, %zu in PostgreSQL; the first"
				       " difference: (%lld, %lld) %s",
				       t[i].table, device, local.n, h->name, fleet.n, k[0], k[1],
				       in_local ? "is missing in PostgreSQL" :
						  "is in PostgreSQL once more than in the store");
		}
		if (!strcmp(t[i].table, "ReceivedFrames"))
			cr_assert_gt(local.n, 0, "%s: no frames in %s.db", device, h->name);
		free(local.k);
		free(fleet.k);
	}
}
