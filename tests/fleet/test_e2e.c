// SPDX-License-Identifier: GPL-2.0-only
/*
 * Three sensors end to end: three real vigild on this machine with their own
 * device ids, one of them a WSL2 instance (--host-device-id) of another, each
 * shipping through its own `vigil host --upstream` to one server. Every event
 * each host stored is in PostgreSQL exactly once, and the schema's three
 * hunting queries, read verbatim from docs/schema.md, return the WSL device
 * and its host through `vigil hunt --pg`.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

static struct fx_host hosts[3] = { { .pid = -1 }, { .pid = -1 }, { .pid = -1 } };
static const char *const devs[3] = { "e2e-linux", "e2e-winhost", "e2e-wsl" };

static void teardown(void)
{
	fx_hosts_teardown(hosts, 3);
}

TestSuite(e2e, .fini = teardown, .timeout = 600);

/*
 * The hunting queries of docs/schema.md ("The hunting queries every release
 * answers verbatim"), each fenced block into q1.kql, q2.kql, q3.kql.
 */
static int schema_queries(void)
{
	char path[512], line[512], name[16];
	FILE *in, *out = NULL;
	int n = 0, on = 0;

	snprintf(path, sizeof(path), "%s/docs/schema.md", srcdir());
	in = fopen(path, "r");
	cr_assert_not_null(in, "%s", path);
	while (fgets(line, sizeof(line), in)) {
		if (!strncmp(line, "## ", 3)) {
			on = strstr(line, "hunting queries") != NULL;
			continue;
		}
		if (!on || strncmp(line, "```", 3)) {
			if (out)
				fputs(line, out);
			continue;
		}
		if (out) {
			fclose(out);
			out = NULL;
		} else {
			snprintf(name, sizeof(name), "q%d.kql", ++n);
			out = fopen(name, "w");
			cr_assert_not_null(out);
		}
	}
	fclose(in);
	cr_assert_null(out, "an unclosed block in %s", path);
	return n;
}

/* `vigil hunt --pg` over qN.kql in fmt: its output in out. */
static void hunt(int n, const char *fmt, char *out, size_t size)
{
	char cmd[1024];
	FILE *p;
	size_t len;

	snprintf(cmd, sizeof(cmd), "'%s' hunt --pg '%s' --format %s --file q%d.kql", vigil(),
		 conninfo, fmt, n);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	len = fread(out, 1, size - 1, p);
	out[len] = 0;
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

/* The output of a command, whole, into out. */
static void run_out(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t len;

	cr_assert_not_null(p);
	len = fread(out, 1, size - 1, p);
	out[len] = 0;
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

/*
 * `vigil devices --pg`: the three devices, the WSL one with its tag and host,
 * each with the events its host stored; `--db` on a host's own store agrees.
 */
static void devices_inventory(void)
{
	static char out[1 << 16];
	char cmd[1024], want[512], *line, *save = NULL;
	int rows = 0;

	snprintf(cmd, sizeof(cmd), "'%s' devices --pg '%s' --json", vigil(), conninfo);
	run_out(cmd, out, sizeof(out));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const struct fx_host *h = &hosts[rows];

		cr_assert_lt(rows, 3, "more than three devices: %s", line);
		snprintf(want, sizeof(want), "{\"DeviceId\":\"%s\",\"DeviceName\":", devs[rows]);
		cr_assert(!strncmp(line, want, strlen(want)), "%s", line);
		snprintf(want, sizeof(want), "\"DeviceTags\":\"%s\",\"HostDeviceId\":\"%s\",",
			 rows == 2 ? "[\\\"WSL2\\\"]" : "[]", rows == 2 ? devs[1] : "");
		cr_assert_not_null(strstr(line, want), "%s: no %s", line, want);
		/* Sending now; "dropping" when the machine's other work filled its rings. */
		cr_assert(strstr(line, "\"Health\":\"active\"") ||
				  strstr(line, "\"Health\":\"dropping\""),
			  "%s", line);
		snprintf(want, sizeof(want), "\"Events\":%lld,",
			 fx_sq(h, "SELECT sum(Events) FROM ReceivedFrames"));
		cr_assert_not_null(strstr(line, want), "%s: no %s", line, want);
		rows++;
	}
	cr_assert_eq(rows, 3);
	snprintf(cmd, sizeof(cmd), "'%s' devices --db wsl.db --format csv | cut -d, -f1,7,8",
		 vigil());
	run_out(cmd, out, sizeof(out));
	snprintf(
		want, sizeof(want), "DeviceId,HostDeviceId,ClientVersion\ne2e-wsl,e2e-winhost,%s\n",
		pgq("SELECT max(\"ClientVersion\") FROM \"DeviceInfo\" WHERE \"DeviceId\" = 'e2e-wsl'"));
	cr_assert_str_eq(out, want);
}

/* `vigil events --pg --device` prints the WSL device's timeline as its host's store has it. */
static void events_timeline(void)
{
	char cmd[1024];

	snprintf(
		cmd, sizeof(cmd),
		"'%s' events --db wsl.db --json > ev-db.json && '%s' events --pg '%s' --device"
		" e2e-wsl --json > ev-pg.json && test -s ev-db.json && cmp ev-db.json ev-pg.json &&"
		" '%s' events --db wsl.db --limit 5 > ev-db.txt && '%s' events --pg '%s' --device"
		" e2e-wsl --limit 5 > ev-pg.txt && test $(wc -l < ev-pg.txt) = 5 &&"
		" cmp ev-db.txt ev-pg.txt",
		vigil(), vigil(), conninfo, vigil(), vigil(), conninfo);
	sh("%s", cmd);
}

Test(e2e, three_sensors_one_wsl_every_event_once_and_the_schema_queries)
{
	static char out[1 << 20];
	char url[64], *line, *save = NULL;
	int rows = 0;

	fx_hosts_init();
	fx_server_onboard();
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	fx_host_start(&hosts[0], "linux", url, devs[0], NULL);
	fx_host_start(&hosts[1], "winhost", url, devs[1], NULL);
	fx_host_start(&hosts[2], "wsl", url, devs[2], devs[1]);
	/* Every sensor sees every exec on the machine: each device stores each once. */
	fx_run_marked(0, 30);
	sh("curl --version >/dev/null");
	for (int i = 0; i < 3; i++)
		fx_pg_wait_marked(devs[i], 30);
	for (int i = 0; i < 3; i++)
		fx_host_stop_synced(&hosts[i], devs[i]);
	for (int i = 0; i < 3; i++)
		fx_same_in_pg(&hosts[i], devs[i]);
	cr_assert_str_eq(pgq("SELECT string_agg(DISTINCT \"DeviceTags\", ' ') FROM \"DeviceInfo\""
			     " WHERE \"DeviceId\" = 'e2e-wsl'"),
			 "[\"WSL2\"]");

	cr_assert_eq(schema_queries(), 3, "docs/schema.md: not three hunting queries");
	hunt(1, "csv", out, sizeof(out));
	cr_assert_str_eq(out, "DeviceId\r\ne2e-wsl\r\n");
	hunt(2, "csv", out, sizeof(out));
	cr_assert_str_eq(out, "WSLDeviceId,HostDeviceId\r\ne2e-wsl,e2e-winhost\r\n");
	/*
	 * Every sensor saw our curl (and whatever else ran on the machine): the
	 * WSL device's curl and wget rows only, ours among them.
	 */
	hunt(3, "json", out, sizeof(out));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert_not_null(strstr(line, "\"DeviceId\":\"e2e-wsl\""), "%s", line);
		cr_assert(strstr(line, "\"FileName\":\"curl\"") ||
				  strstr(line, "\"FileName\":\"wget\""),
			  "%s", line);
		rows += strstr(line, "\"ProcessCommandLine\":\"curl --version\"") != NULL;
	}
	cr_assert_geq(rows, 1, "the curl exec of the WSL device not found");
	devices_inventory();
	events_timeline();
}
