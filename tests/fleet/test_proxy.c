// SPDX-License-Identifier: GPL-2.0-only
/*
 * The upstream route through real tinyproxy processes (each on a free
 * loopback port, its own config and log, running as nobody): three real
 * hosts ship through three proxies, chosen by the configuration file, by
 * https_proxy and by ALL_PROXY, to one server; stopped, each one's outbox
 * shipped empty, every event and frame of each host's store is in PostgreSQL
 * exactly once; each proxy's log shows the CONNECTs. The proxy order's
 * table (host/proxy.c) with the route each row actually takes, seen in the
 * proxies' logs. The connectivity test (`vigil healthcheck`) passes through
 * a proxy to a running server and fails with the proxy's reason (407, proxy
 * down) or the server's (stopped: the proxy's 500; database down: 503).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

struct tp {
	pid_t pid;
	int port;
	char name[16]; /* its config NAME.conf and log NAME.log, in dir */
};

static struct tp tps[4] = { { .pid = -1 }, { .pid = -1 }, { .pid = -1 }, { .pid = -1 } };
static struct fx_host hosts[3] = { { .pid = -1 }, { .pid = -1 }, { .pid = -1 } };

static const char *const proxy_vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy",
					  "ALL_PROXY",	 "http_proxy",	"HTTP_PROXY",
					  "no_proxy",	 "NO_PROXY",	"VIGIL_CONFIG" };

/* Nothing from the machine's environment decides a route here. */
static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		unsetenv(proxy_vars[i]);
}

static int port_open(int p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = s >= 0 && !connect(s, (struct sockaddr *)&a, sizeof(a));
	if (s >= 0)
		close(s);
	return ok;
}

/*
 * tinyproxy NAME on port (0: a free one), demanding Basic credentials when
 * auth; back once it accepts connections. Started as root, it runs as nobody.
 */
static void tp_start(struct tp *t, const char *name, int auth, int port_want)
{
	char path[128], log[128];

	snprintf(t->name, sizeof(t->name), "%s", name);
	for (int tries = 0; tries < 20; tries++) {
		FILE *f;

		t->port = port_want ? port_want : 20000 + rand() % 30000;
		if (!port_want && port_open(t->port))
			continue;
		snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fprintf(f,
			"User nobody\nGroup nogroup\nPort %d\nListen 127.0.0.1\nTimeout 30\n"
			"Allow 127.0.0.1\nLogLevel Info\n%s",
			t->port, auth ? "BasicAuth vigil secret\n" : "");
		cr_assert_eq(fclose(f), 0);
		snprintf(log, sizeof(log), "%s/%s.log", dir, name);
		t->pid = fork();
		cr_assert_neq(t->pid, -1);
		if (!t->pid) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (!freopen(log, "a", stderr) || !freopen(log, "a", stdout))
				_exit(127);
			execlp("tinyproxy", "tinyproxy", "-d", "-c", path, (char *)NULL);
			_exit(127);
		}
		for (int w = 0; w < 100; w++) {
			if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
				t->pid = -1;
				break;
			}
			if (fx_log_has(strrchr(log, '/') + 1, "Starting main loop") &&
			    port_open(t->port))
				return;
			fx_sleep_ms(100);
		}
		if (t->pid > 0) {
			kill(t->pid, SIGTERM);
			waitpid(t->pid, NULL, 0);
			t->pid = -1;
		}
	}
	cr_assert_fail("tinyproxy %s did not start; see %s/%s.log", name, dir, name);
}

static void tp_stop(struct tp *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
	}
	t->pid = -1;
}

/* How many CONNECTs to the server the proxy's log holds. */
static int tp_connects(const struct tp *t)
{
	char cmd[256], out[32];

	snprintf(cmd, sizeof(cmd), "grep -c 'CONNECT 127.0.0.1:%d ' '%s/%s.log' || true", port, dir,
		 t->name);
	sh_line(out, sizeof(out), cmd);
	return atoi(out);
}

static void teardown(void)
{
	for (int i = 0; i < 3; i++)
		fx_host_stop(&hosts[i]);
	for (int i = 0; i < 4; i++)
		tp_stop(&tps[i]);
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
	clear_env();
	fx_cleanup_dir();
}

static void setup(void)
{
	clear_env();
	srand((unsigned)getpid());
	fx_hosts_init();
	fx_server_onboard();
}

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 1800);

/* `vigil healthcheck --json --db DB` (a bogus https_proxy of its own, ignored): its exit status. */
static int healthcheck(const char *db, char *out, size_t size)
{
	char cmd[512];
	size_t len;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "https_proxy=http://127.0.0.1:1 '%s' healthcheck --json --db '%s' 2>&1", vigil(),
		 db);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	len = fread(out, 1, size - 1, p);
	out[len] = 0;
	return WEXITSTATUS(pclose(p));
}

/* The JSON string value of key in out (healthcheck's flat object), "" when absent. */
static const char *json_str(const char *out, const char *key)
{
	static char v[1024];
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":\"", key);
	p = strstr(out, k);
	v[0] = 0;
	if (p) {
		p += strlen(k);
		snprintf(v, sizeof(v), "%.*s", (int)strcspn(p, "\""), p);
	}
	return v;
}

static void cfg_write(const char *name, const char *proxy)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[host]\nproxy = %s\n", proxy);
	cr_assert_eq(fclose(f), 0);
}

/*
 * `vigil host --db DB --listen unix:DIR/NAME.sock` (no sensor), with
 * --upstream (and --proxy PROXY unless NULL) when upstream, env=val in its
 * environment unless env is NULL, its log appended to DIR/NAME.log.
 */
static pid_t spawn_lite(const char *name, const char *db, const char *proxy, int upstream,
			const char *env, const char *val)
{
	char url[64], sock[128], log[128];
	const char *argv[16] = { "vigil", "host", "--db", db, "--no-rules", "--listen", sock };
	int n = 7;
	pid_t pid;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	snprintf(sock, sizeof(sock), "unix:%s/%s.sock", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	if (upstream) {
		argv[n++] = "--upstream";
		argv[n++] = url;
		argv[n++] = "--onboarding";
		argv[n++] = "ob.txt";
	}
	if (upstream && proxy) {
		argv[n++] = "--proxy";
		argv[n++] = proxy;
	}
	unlink(sock + 5);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen(log, "a", stderr))
			_exit(127);
		if (env)
			setenv(env, val, 1);
		execv(vigil(), (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/*
 * The n hosts' stores again, as shippers only (no sensor, so nothing new is
 * stored), host i with env[i]=val[i] for its route, until every outbox is
 * empty: what the stops' 5 s drain left behind on a busy machine goes on the
 * next run, as the outbox is durable. Bounded by progress: it fails once no
 * outbox has shrunk for 60 s (or a shipper exits), naming what is pending.
 */
static void ship_backlogs(const struct fx_host *h, int n, const char *const *env,
			  const char *const *val)
{
	long long pending[3], last = -1, sum;
	pid_t pid[3];
	int stalled = 0, status;

	cr_assert_leq(n, 3);
	for (int i = 0; i < n; i++) {
		char db[64];

		snprintf(db, sizeof(db), "%s.db", h[i].name);
		pid[i] = spawn_lite(h[i].name, db, NULL, 1, env[i], val[i]);
	}
	for (;;) {
		sum = 0;
		for (int i = 0; i < n; i++) {
			pending[i] = fx_sq(&h[i], "SELECT count(*) FROM UpstreamOutbox");
			sum += pending[i] < 0 ? 1 : pending[i];
			cr_assert_eq(waitpid(pid[i], NULL, WNOHANG), 0,
				     "the shipper of %s exited; see %s/%s.log", h[i].name, dir,
				     h[i].name);
		}
		if (!sum)
			break;
		stalled = last >= 0 && sum >= last ? stalled + 1 : 0;
		last = sum;
		cr_assert_lt(
			stalled, 600,
			"nothing shipped for 60 s: %lld, %lld, %lld frames pending in %s, %s, %s"
			" (-1: unreadable); see their logs in %s",
			pending[0], n > 1 ? pending[1] : 0, n > 2 ? pending[2] : 0, h[0].name,
			n > 1 ? h[1].name : "-", n > 2 ? h[2].name : "-", dir);
		fx_sleep_ms(100);
	}
	for (int i = 0; i < n; i++) {
		kill(pid[i], SIGTERM);
		cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
	}
}

Test(proxy, three_hosts_ship_through_their_proxies_every_event_once)
{
	static const char *const devs[3] = { "px-config", "px-https", "px-all" };
	char url[64], px[3][64], out[4096], want[256], log[32];
	int before[3];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "tp%d", i);
		tp_start(&tps[i], name, 0, 0);
		snprintf(px[i], sizeof(px[i]), "http://127.0.0.1:%d", tps[i].port);
		before[i] = tp_connects(&tps[i]);
	}
	/*
	 * The configuration file's proxy wins over the environment's, which names
	 * a dead one: the events arrive only if the host took the right route.
	 */
	cfg_write("h0.conf", px[0]);
	setenv("VIGIL_CONFIG", "h0.conf", 1);
	setenv("https_proxy", "http://127.0.0.1:1", 1);
	fx_host_start(&hosts[0], "h0", url, devs[0], NULL);
	clear_env();
	/* https_proxy before ALL_PROXY; a no_proxy that names another host changes nothing. */
	setenv("https_proxy", px[1], 1);
	setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
	setenv("no_proxy", "other.example,localhost", 1);
	fx_host_start(&hosts[1], "h1", url, devs[1], NULL);
	clear_env();
	setenv("ALL_PROXY", px[2], 1);
	fx_host_start(&hosts[2], "h2", url, devs[2], NULL);
	clear_env();

	fx_run_marked(0, 30);
	for (int i = 0; i < 3; i++)
		fx_pg_wait_marked(devs[i], 30);
	/* The telemetry's own CONNECTs, before healthcheck adds its tests. */
	for (int i = 0; i < 3; i++)
		cr_expect_gt(tp_connects(&tps[i]), before[i], "no CONNECT in %s/%s.log", dir,
			     tps[i].name);

	/* Each host's route, as recorded and as tested by healthcheck through it. */
	for (int i = 0; i < 3; i++) {
		char db[16];

		snprintf(db, sizeof(db), "h%d.db", i);
		healthcheck(db, out, sizeof(out));
		snprintf(want, sizeof(want), "127.0.0.1:%d", tps[i].port);
		cr_expect_str_eq(json_str(out, "Proxy"), want, "h%d: %s", i, out);
		cr_expect_str_eq(json_str(out, "ProxySource"), i ? "environment" : "configuration",
				 "h%d: %s", i, out);
		snprintf(want, sizeof(want),
			 "passed: https://127.0.0.1:%d/v1/health answered 200 through proxy"
			 " 127.0.0.1:%d",
			 port, tps[i].port);
		cr_expect_str_eq(json_str(out, "LastConnectivityTest"), want, "h%d: %s", i, out);
	}

	/*
	 * h2's proxy goes away: healthcheck says which proxy and why, and a host
	 * otherwise Healthy is not; the proxy back on its port, the backlog ships.
	 */
	tp_stop(&tps[2]);
	cr_expect_eq(healthcheck("h2.db", out, sizeof(out)), 3, "%s", out);
	snprintf(want, sizeof(want),
		 "failed: cannot connect to proxy 127.0.0.1:%d (from environment): ", tps[2].port);
	cr_expect(!strncmp(json_str(out, "LastConnectivityTest"), want, strlen(want)), "%s", out);
	if (!strstr(out, "events dropped"))
		cr_expect(!strncmp(json_str(out, "Health"),
				   "Unhealthy: connectivity test failed: cannot connect to proxy",
				   60),
			  "%s", out);
	fx_run_marked(30, 10);
	for (int t = 0; t < 600 && !fx_log_has("h2.log", "cannot connect to proxy 127.0.0.1"); t++)
		fx_sleep_ms(100);
	cr_expect(fx_log_has("h2.log", "cannot connect to proxy 127.0.0.1"),
		  "the sender's log does not name the proxy; see %s/h2.log", dir);
	tp_start(&tps[3], "tp2b", 0, tps[2].port);
	for (int t = 0; t < 1800 && !tp_connects(&tps[3]); t++)
		fx_sleep_ms(100);
	cr_expect_gt(tp_connects(&tps[3]), 0, "no CONNECT after the proxy came back");

	/*
	 * Stopped, each host's backlog shipped on a run of its own through its
	 * route until its outbox is empty (while the sensors of a busy machine
	 * run, frames may come faster than one request each ships them): every
	 * marked exec once, and every event of each store in PostgreSQL exactly
	 * once, every frame too, and nothing else; none refused.
	 */
	for (int i = 0; i < 3; i++)
		fx_host_stop(&hosts[i]);
	ship_backlogs(hosts, 3, (const char *const[]){ "VIGIL_CONFIG", "https_proxy", "ALL_PROXY" },
		      (const char *const[]){ "h0.conf", px[1], px[2] });
	for (int i = 0; i < 3; i++)
		fx_pg_wait_marked(devs[i], 40);
	for (int i = 0; i < 3; i++) {
		fx_each_once_in_pg(&hosts[i], devs[i]);
		cr_expect_eq(fx_sq(&hosts[i], "SELECT count(*) FROM HostRefused WHERE Reason LIKE"
					      " 'upstream:%'"),
			     0, "%s had frames refused or counted as not sent", hosts[i].name);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "upstream: through proxy 127.0.0.1:%d (%s)",
			 tps[i].port, i ? "environment" : "configuration");
		snprintf(log, sizeof(log), "%s.log", hosts[i].name);
		cr_expect(fx_log_has(log, want), "%s/%s has no '%s'", dir, log, want);
	}
}

/*
 * `vigil host` (no sensor: --listen) records its route; healthcheck tests
 * it; the proxies' logs say which one the request took.
 */
static void lite_host(const char *db, const char *proxy, int upstream)
{
	char sock[128];
	struct stat st;
	pid_t pid = spawn_lite("lite", db, proxy, upstream, NULL, NULL);
	int status;

	snprintf(sock, sizeof(sock), "%s/lite.sock", dir);
	/* The socket comes after HostState is written. */
	for (int t = 0; t < 300 && stat(sock, &st); t++) {
		cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "vigil host exited; see %s/lite.log",
			     dir);
		fx_sleep_ms(50);
	}
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "vigil host failed; see %s/lite.log",
		  dir);
}

Test(proxy, the_order_and_the_route_each_row_takes)
{
	static const struct {
		const char *config, *https, *all, *no_proxy;
		int via; /* 0 A, 1 B, -1 direct */
		const char *source;
	} rows[] = {
		{ "A", "B", NULL, NULL, 0, "configuration" },
		{ "direct", "B", NULL, NULL, -1, "configuration" },
		{ NULL, "B", "A", NULL, 1, "environment" },
		{ NULL, NULL, "A", NULL, 0, "environment" },
		{ NULL, "B", NULL, "localhost,127.0.0.1", -1, "no_proxy" },
		{ NULL, "B", NULL, ".example.com", 1, "environment" },
		{ NULL, NULL, NULL, NULL, -1, "direct" },
	};
	char px[2][64], out[4096], want[256];

	tp_start(&tps[0], "tpA", 0, 0);
	tp_start(&tps[1], "tpB", 0, 0);
	for (int i = 0; i < 2; i++)
		snprintf(px[i], sizeof(px[i]), "http://127.0.0.1:%d", tps[i].port);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *cfg = rows[r].config;
		int before[2] = { tp_connects(&tps[0]), tp_connects(&tps[1]) };

		if (rows[r].https)
			setenv("https_proxy", px[rows[r].https[0] - 'A'], 1);
		if (rows[r].all)
			setenv("ALL_PROXY", px[rows[r].all[0] - 'A'], 1);
		if (rows[r].no_proxy)
			setenv("NO_PROXY", rows[r].no_proxy, 1);
		lite_host("rt.db", cfg && strcmp(cfg, "direct") ? px[cfg[0] - 'A'] : cfg, 1);
		clear_env();
		healthcheck("rt.db", out, sizeof(out));
		if (rows[r].via < 0)
			snprintf(want, sizeof(want), "direct");
		else
			snprintf(want, sizeof(want), "127.0.0.1:%d", tps[rows[r].via].port);
		cr_expect_str_eq(json_str(out, "Proxy"), want, "row %zu: %s", r, out);
		cr_expect_str_eq(json_str(out, "ProxySource"), rows[r].source, "row %zu: %s", r,
				 out);
		cr_expect(!strncmp(json_str(out, "LastConnectivityTest"), "passed: ", 8),
			  "row %zu: %s", r, out);
		/* The route taken: a CONNECT in the chosen proxy's log only. */
		for (int i = 0; i < 2; i++)
			cr_expect_eq(tp_connects(&tps[i]) - before[i], rows[r].via == i,
				     "row %zu: %d CONNECTs through %s", r,
				     tp_connects(&tps[i]) - before[i], tps[i].name);
	}

	/* An unusable proxy that wins stops the host at start, named; it is never skipped. */
	{
		static const char *const bad[][2] = {
			{ "https_proxy=p.example", "environment proxy 'p.example': not host:port" },
			{ "VIGIL_CONFIG=bad.conf", "127.0.0.1:1': credentials in a proxy URL are"
						   " not supported" },
		};
		char cmd[512];
		FILE *f;
		int rc;

		cfg_write("bad.conf", "http://u:pw@127.0.0.1:1");
		for (size_t i = 0; i < 2; i++) {
			snprintf(cmd, sizeof(cmd),
				 "%s ALL_PROXY=%s '%s' host --db bad.db --no-rules --listen"
				 " unix:%s/bad.sock --upstream https://127.0.0.1:%d --onboarding"
				 " ob.txt >bad.out 2>&1",
				 bad[i][0], px[0], vigil(), dir, port);
			rc = system(cmd);
			cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s: %d", cmd, rc);
			f = fopen("bad.out", "r");
			cr_assert_not_null(f);
			out[fread(out, 1, sizeof(out) - 1, f)] = 0;
			fclose(f);
			cr_expect(strstr(out, bad[i][1]), "want '%s' in: %s", bad[i][1], out);
			cr_expect(!strstr(out, "pw"), "the password shows: %s", out);
		}
	}
}

Test(proxy, the_connectivity_test_says_whose_fault_it_is)
{
	char px[64], auth[64], out[4096], want[256], url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	tp_start(&tps[0], "tp", 0, 0);
	tp_start(&tps[1], "tpauth", 1, 0);
	snprintf(px, sizeof(px), "http://127.0.0.1:%d", tps[0].port);
	snprintf(auth, sizeof(auth), "http://127.0.0.1:%d", tps[1].port);

	/* No server configured: said so, not "failed". */
	lite_host("none.db", NULL, 0);
	healthcheck("none.db", out, sizeof(out));
	cr_expect_str_eq(json_str(out, "LastConnectivityTest"),
			 "not run: no server configured (vigil host --upstream URL)", "%s", out);

	lite_host("ok.db", px, 1);
	healthcheck("ok.db", out, sizeof(out));
	snprintf(want, sizeof(want),
		 "passed: https://127.0.0.1:%d/v1/health answered 200 through proxy 127.0.0.1:%d",
		 port, tps[0].port);
	cr_expect_str_eq(json_str(out, "LastConnectivityTest"), want, "%s", out);

	lite_host("auth.db", auth, 1);
	healthcheck("auth.db", out, sizeof(out));
	snprintf(want, sizeof(want),
		 "failed: proxy 127.0.0.1:%d requires credentials (407 to CONNECT 127.0.0.1:%d)",
		 tps[1].port, port);
	cr_expect(!strncmp(json_str(out, "LastConnectivityTest"), want, strlen(want)), "%s", out);

	/* The sender itself logs the 407 of a real host's first send, naming the proxy. */
	setenv("https_proxy", auth, 1);
	fx_host_start(&hosts[0], "h407", url, "px-407", NULL);
	clear_env();
	snprintf(want, sizeof(want), "proxy 127.0.0.1:%d requires credentials (407 to CONNECT",
		 tps[1].port);
	for (int t = 0; t < 600 && !fx_log_has("h407.log", want); t++)
		fx_sleep_ms(100);
	cr_expect(fx_log_has("h407.log", want), "%s/h407.log has no '%s'", dir, want);
	fx_host_stop(&hosts[0]);

	/* PostgreSQL down: the server's 503 and its words. */
	fx_pg_stop();
	healthcheck("ok.db", out, sizeof(out));
	fx_pg_resume();
	snprintf(want, sizeof(want),
		 "failed: https://127.0.0.1:%d/v1/health answered 503: database: ", port);
	cr_expect(!strncmp(json_str(out, "LastConnectivityTest"), want, strlen(want)), "%s", out);

	/* The server stopped: the proxy cannot reach it. */
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	server = -1;
	healthcheck("ok.db", out, sizeof(out));
	snprintf(want, sizeof(want),
		 "failed: proxy 127.0.0.1:%d could not reach the server (500 to CONNECT"
		 " 127.0.0.1:%d)",
		 tps[0].port, port);
	cr_expect_str_eq(json_str(out, "LastConnectivityTest"), want, "%s", out);

	/* The proxy down. */
	tp_stop(&tps[0]);
	healthcheck("ok.db", out, sizeof(out));
	snprintf(
		want, sizeof(want),
		"failed: cannot connect to proxy 127.0.0.1:%d (from configuration): ", tps[0].port);
	cr_expect(!strncmp(json_str(out, "LastConnectivityTest"), want, strlen(want)), "%s", out);
}
