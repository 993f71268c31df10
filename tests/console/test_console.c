// SPDX-License-Identifier: GPL-2.0-only
/*
 * The console in a browser: two real sensors (a Windows host's device and
 * a WSL2 instance of it) ship through real hosts to `vigil server
 * --console-pg` over TLS into a throwaway PostgreSQL, and headless Chromium,
 * driven through chromedriver (webdriver.c), logs in as an analyst and uses
 * the pages as a person does: filter the inventory to WSL2 and follow the
 * host link, find a marked exec in a timeline, run a hunt with a mistake,
 * open an alert's evidence, read a command line full of markup as text, and
 * see the WSL device's filter rule (a set applied to its group) with its hits.
 * Each page's screenshot goes to $VG_SHOTS (make check-console: build/console-shots).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"
#include "webdriver.h"

static struct fx_host hosts[2] = { { .pid = -1 }, { .pid = -1 } };
static const char *const devs[2] = { "con-winhost", "con-wsl" };
/* Markup and quotes in an argument (no spaces: one argv word as the store joins them). */
static const char planted[] = "<script>window.vgx=1</script>\"'<img/src=x/onerror=window.vgy=1>";
static char base[64];

static void teardown(void)
{
	wd_stop();
	for (int i = 0; i < 2; i++)
		fx_host_stop(&hosts[i]);
	fx_server_stop();
	fx_cleanup_dir();
}

TestSuite(console, .fini = teardown, .timeout = 900);

/* The server with the console reading as the analyst role. */
static void start_server(void)
{
	char analyst[600];

	fx_pg_ca();
	sh("'%s' server roles --pg '%s' >/dev/null", vigil(), conninfo);
	snprintf(analyst, sizeof(analyst), "%s user=vigil_analyst", conninfo);
	server = fork();
	cr_assert_neq(server, -1);
	if (!server) {
		if (!freopen("server.log", "w", stderr))
			_exit(127);
		execl(vigil(), "vigil", "server", "--pg", conninfo, "--listen",
		      "https://127.0.0.1:0", "--cert", "srv.pem", "--key", "srv.key", "--threads",
		      "2", "--console-pg", analyst, (char *)NULL);
		_exit(127);
	}
	port = server_port(server, "server.log");
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", port);
	sh("'%s' server onboard --pg '%s' --url %s --ca ca.pem --out ob.txt >/dev/null", vigil(),
	   conninfo, base);
}

static void go(const char *path)
{
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", base, path);
	wd_go(url);
}

static void run_planted(void)
{
	char tag[64];
	pid_t pid;

	snprintf(tag, sizeof(tag), "%s-planted", fx_marker());
	pid = fork();
	cr_assert_neq(pid, -1);
	if (!pid) {
		execl("/bin/true", "/bin/true", planted, tag, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

/* The stored command line of the WSL device's exec whose argument ends with suffix. */
static void stored_cmdline(const char *suffix, char *out, size_t size)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT \"ProcessCommandLine\" FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" ="
		 " '%s' AND \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" LIKE"
		 " '%%%s-%s' LIMIT 1",
		 devs[1], fx_marker(), suffix);
	for (int t = 0; t < 600 && !*pgq(sql); t++)
		fx_sleep_ms(100);
	snprintf(out, size, "%s", pgq(sql));
	cr_assert(*out, "the exec ending in %s-%s never reached PostgreSQL", fx_marker(), suffix);
}

/* Two alerts of the WSL device, the High one's evidence marked exec 2, the Medium one's 1. */
static void plant_alerts(void)
{
	char sql[2048];

	for (int i = 1; i <= 2; i++) {
		snprintf(
			sql, sizeof(sql),
			"WITH e AS (SELECT * FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" = '%s'"
			" AND \"ActionType\" = 'ProcessCreated'"
			" AND \"ProcessCommandLine\" = '/bin/true %s-%d'),"
			" a AS (INSERT INTO \"AlertInfo\" (\"Timestamp\", \"AlertId\", \"Title\","
			" \"Category\", \"Severity\", \"DetectionSource\", \"RuleId\", \"DeviceId\","
			" \"DeviceName\", \"GroupKey\") SELECT \"Timestamp\", 'con-alert-%d',"
			" 'Marked exec %d', 'Execution', '%s', 'vigil', 'test', \"DeviceId\","
			" \"DeviceName\", 'g%d' FROM e RETURNING 1)"
			" INSERT INTO \"AlertEvidence\" (\"Timestamp\", \"AlertId\", \"EntityType\","
			" \"EvidenceRole\", \"DeviceId\", \"ActionType\", \"FileName\", \"FolderPath\","
			" \"ProcessId\", \"ProcessCommandLine\", \"SourceTable\", \"SourceRowId\","
			" \"ReportId\") SELECT \"Timestamp\", 'con-alert-%d', 'Process', 'Impacted',"
			" \"DeviceId\", \"ActionType\", \"FileName\", \"FolderPath\", \"ProcessId\","
			" \"ProcessCommandLine\", 'DeviceProcessEvents', 0, \"ReportId\" FROM e"
			" RETURNING \"ReportId\"",
			devs[1], fx_marker(), i, i, i, i == 2 ? "High" : "Medium", i, i);
		cr_assert(*pgq(sql), "marked exec %d of %s not stored", i, devs[1]);
	}
}

static void login(const char *token)
{
	go("/console/devices");
	wd_wait("return document.getElementById('login') != null;");
	wd_shot("login");
	wd_type("#name", "alice");
	wd_type("#token", token);
	wd_click("#login");
	wd_wait("return document.getElementById('devices') != null;");
	cr_assert_str_eq(wd_js("return document.getElementById('who').textContent;"), "alice");
}

/* The inventory filtered to WSL2: the WSL device only, linking to its host, which lists it. */
static void inventory(void)
{
	cr_assert_str_eq(wd_js("return Array.from(document.querySelectorAll('#devices tbody tr'))"
			       ".map(r => r.dataset.id).join(',');"),
			 "con-winhost,con-wsl");
	wd_type("#f-tag", "WSL2");
	wd_click("#f-go");
	wd_wait("return location.search.includes('tag=WSL2');");
	cr_assert_str_eq(wd_js("return Array.from(document.querySelectorAll('#devices tbody tr'))"
			       ".map(r => r.dataset.id).join(',');"),
			 "con-wsl");
	cr_assert_str_eq(wd_js("return document.querySelector('#devices td.tags').textContent;"),
			 "[\"WSL2\"]");
	wd_shot("devices-wsl2");
	cr_assert_str_eq(wd_js("return document.querySelector('#devices a.host').textContent;"),
			 "con-winhost");
	wd_click("#devices a.host");
	wd_wait("return document.getElementById('title').textContent == 'con-winhost';");
	cr_assert_str_eq(wd_js("return document.getElementById('instances').textContent;"),
			 "con-wsl");
	wd_shot("device-host");
	wd_click("#instances a.wsl");
	wd_wait("return document.getElementById('title').textContent == 'con-wsl';");
	cr_assert_str_eq(wd_js("return document.querySelector('#host a').textContent;"),
			 "con-winhost");
}

/* Rows of the WSL device's process table whose command line is cmd, as the count line says. */
static void want_count(const char *cmd, char *out, size_t size)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) || ' events' FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" ="
		 " '%s' AND \"ProcessCommandLine\" = '%s'",
		 devs[1], cmd);
	snprintf(out, size, "%s", pgq(sql));
}

/* The command lines of the timeline's ProcessCreated rows, from their expanded columns. */
static const char created_js[] = "return Array.from(document.querySelectorAll("
				 "'#timeline tr.ev[data-action=ProcessCreated] table.cols tr'))"
				 ".filter(r => r.firstChild.textContent == 'ProcessCommandLine')"
				 ".map(r => r.lastChild.textContent).join('|');";

/* The WSL device's timeline filtered by text shows the marked exec with its command line. */
static void timeline(void)
{
	char want[128], count[64];

	snprintf(want, sizeof(want), "/bin/true %s-1", fx_marker());
	want_count(want, count, sizeof(count));
	wd_type("#f-q", want);
	wd_click("#f-go");
	wd_wait("return location.search.includes('q=');");
	/* its ProcessCreated and what else its table holds of it (its exit) */
	cr_assert_str_eq(wd_js("return document.getElementById('count').textContent;"), count);
	cr_assert_str_eq(wd_js(created_js), want);
	wd_click("#timeline tr.ev[data-action=ProcessCreated] summary");
	wd_shot("timeline");
	/* Its process tree: the exec under the test's process. */
	wd_click("#timeline tr.ev[data-action=ProcessCreated] a.tree");
	wd_wait("return document.getElementById('tree') != null;");
	cr_assert_str_eq(wd_js("return document.querySelector('#self code').textContent;"), want);
	wd_shot("tree");
}

/* A command line with a script tag and quotes is text: shown as stored, and nothing ran. */
static void planted_text(void)
{
	char stored[512];

	stored_cmdline("planted", stored, sizeof(stored));
	/* the store quotes the argument as a shell would: the markup and quotes stay */
	cr_assert(strstr(stored, "<script>window.vgx=1</script>") && strchr(stored, '"') &&
			  strstr(stored, "<img/src=x/onerror=window.vgy=1>"),
		  "%s", stored);
	go("/console/device?id=con-wsl&q=planted");
	wd_wait("return document.getElementById('timeline') != null;");
	cr_assert_str_eq(wd_js(created_js), stored);
	wd_click("#timeline tr.ev[data-action=ProcessCreated] summary");
	cr_assert_str_eq(wd_js("return String(document.querySelectorAll('main script, main img')"
			       ".length) + typeof window.vgx + typeof window.vgy;"),
			 "0undefinedundefined");
	wd_shot("planted");
}

#define IP_DROP "127.0.0.79"
#define N_DROP 10

/*
 * The WSL device in group con (before it enrols) and a set for the group
 * that drops its connections to IP_DROP: the winhost's sensor, in
 * "default", runs none.
 */
static void apply_filter_set(void)
{
	FILE *f = fopen("con.vf", "w");

	cr_assert_not_null(f);
	fputs("# console\ndrop network where remote == " IP_DROP "\n", f);
	cr_assert_eq(fclose(f), 0);
	sh("'%s' server group %s con --pg '%s' >/dev/null", vigil(), devs[1], conninfo);
	sh("'%s' server filters apply con.vf --group con --pg '%s' >/dev/null", vigil(), conninfo);
}

/* Once the WSL device's sensor runs the set: N_DROP connections it drops, their hits in PostgreSQL. */
static void filter_hits_made(void)
{
	char sql[256];
	long long hits = 0;

	for (int t = 0; t < 1800 && fx_sq(&hosts[1], "SELECT count(*) FROM SensorFilterRules") != 1;
	     t++)
		fx_sleep_ms(100);
	cr_assert_eq(fx_sq(&hosts[1], "SELECT count(*) FROM SensorFilterRules"), 1,
		     "the sensor of %s does not run its group's set", devs[1]);
	for (int i = 0; i < N_DROP; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)(22000 + i)) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert_geq(fd, 0);
		cr_assert_eq(inet_pton(AF_INET, IP_DROP, &sa.sin_addr), 1);
		cr_assert_neq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
			      IP_DROP " listens");
		close(fd);
	}
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(\"Hits\"), 0) FROM \"SensorFilterHits\" WHERE \"DeviceId\" ="
		 " '%s'",
		 devs[1]);
	for (int t = 0; t < 600 && (hits = atoll(pgq(sql))) < N_DROP; t++)
		fx_sleep_ms(100);
	cr_assert_geq(hits, N_DROP, "%lld hits of %s in PostgreSQL", hits, devs[1]);
}

/* The WSL device's page: its one filter rule, its action and its hits as PostgreSQL has them. */
static void filter_rules(void)
{
	char sql[256], want[512];

	snprintf(sql, sizeof(sql),
		 "SELECT 'con version 1|0|2|drop|' || (SELECT \"Rule\" FROM \"FilterSetRules\")"
		 " || '|' || sum(\"Hits\") FROM \"SensorFilterHits\" WHERE \"DeviceId\" = '%s'",
		 devs[1]);
	snprintf(want, sizeof(want), "%s", pgq(sql));
	cr_assert(strstr(want, "|drop|drop network where remote == " IP_DROP "|") ||
			  strstr(want, "|drop|remote == " IP_DROP "|"),
		  "%s", want);
	go("/console/device?id=con-wsl");
	wd_wait("return document.getElementById('filter-hits') != null;");
	cr_assert_str_eq(
		wd_js("return Array.from(document.querySelectorAll('#filter-hits tbody tr'))"
		      ".map(r => Array.from(r.cells).slice(0, 6).map(c => c.textContent)"
		      ".join('|')).join('\\n');"),
		want);
	wd_shot("filter-hits");
	go("/console/device?id=con-winhost");
	wd_wait("return document.getElementById('filter-hits') != null;");
	cr_assert_str_eq(wd_js("return document.getElementById('filter-count').textContent;"),
			 "0 filter rules reported");
}

/* A query with a mistake shows where it is; a saved query of docs/schema.md runs. */
static void hunting(void)
{
	go("/console/hunt");
	wd_wait("return document.getElementById('q') != null;");
	wd_type("#q", "DeviceProcessEvents\n| where FileNam == \"true\"\n| take 5");
	wd_click("#run");
	wd_wait("return document.getElementById('error') != null;");
	cr_assert_str_eq(wd_js("return document.getElementById('error').textContent;"),
			 "query:2:9: unknown column 'FileNam'\n"
			 "  | where FileNam == \"true\"\n"
			 "          ^\n");
	wd_shot("hunt-error");
	wd_click("#saved li:nth-child(2) a");
	wd_wait("return document.getElementById('q').value.includes('WSLDeviceId');");
	wd_click("#run");
	wd_wait("return document.getElementById('result') != null;");
	cr_assert_str_eq(wd_js("return Array.from(document.querySelectorAll('#result tr'))"
			       ".map(r => Array.from(r.cells).map(c => c.textContent).join(','))"
			       ".join('\\n');"),
			 "WSLDeviceId,HostDeviceId\ncon-wsl,con-winhost");
	wd_shot("hunt-result");
}

/* Alerts by severity; the Medium one's evidence opens marked exec 1. */
static void alerts(void)
{
	char want[128], report[32], sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT \"ReportId\" FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" = '%s' AND"
		 " \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" = '/bin/true %s-1'",
		 devs[1], fx_marker());
	snprintf(report, sizeof(report), "%s", pgq(sql));
	go("/console/alerts");
	wd_wait("return document.getElementById('alerts') != null;");
	cr_assert_str_eq(wd_js("return Array.from(document.querySelectorAll('section.alert h2'))"
			       ".map(h => h.textContent).join('|');"),
			 "High Marked exec 2|Medium Marked exec 1");
	wd_shot("alerts");
	wd_click("section.alert:nth-of-type(2) a.evidence");
	wd_wait("return document.getElementById('event') != null;");
	snprintf(want, sizeof(want), "/bin/true %s-1|%s|con-wsl", fx_marker(), report);
	cr_assert_str_eq(wd_js("var v = {}; document.querySelectorAll('#event tr').forEach(r =>"
			       " v[r.cells[0] ? r.firstChild.textContent : ''] ="
			       " r.lastChild.textContent); return [v.ProcessCommandLine,"
			       " v.ReportId, v.DeviceId].join('|');"),
			 want);
	wd_shot("event");
	/* and from the event into the timeline, where it is marked */
	wd_click("a.timeline");
	wd_wait("return document.querySelector('#timeline tr.mark') != null;");
	snprintf(want, sizeof(want), "ev-%s", report);
	cr_assert_str_eq(wd_js("return document.querySelector('#timeline tr.mark').id;"), want);
}

Test(console, browser_inventory_timeline_hunting_alerts_and_markup_as_text)
{
	char url[64], token[128], cmd[1024];

	fx_hosts_init();
	start_server();
	apply_filter_set();
	snprintf(cmd, sizeof(cmd), "'%s' server analyst add alice --pg '%s'", vigil(), conninfo);
	sh_line(token, sizeof(token), cmd);
	cr_assert_eq(strlen(token), 64, "%s", token);
	snprintf(url, sizeof(url), "%s", base);
	fx_host_start(&hosts[0], "winhost", url, devs[0], NULL);
	fx_host_start(&hosts[1], "wsl", url, devs[1], devs[0]);
	run_planted();
	fx_run_marked(0, 3);
	for (int i = 0; i < 2; i++)
		fx_pg_wait_marked(devs[i], 3);
	filter_hits_made();
	for (int i = 0; i < 2; i++)
		fx_host_stop_synced(&hosts[i], devs[i]);
	plant_alerts();

	wd_start(dir);
	login(token);
	inventory();
	timeline();
	planted_text();
	hunting();
	alerts();
	filter_rules();
}
