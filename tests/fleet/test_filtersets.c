// SPDX-License-Identifier: GPL-2.0-only
/*
 * Filter sets from the server: `vigil server filters apply` on a group,
 * real sensors (vigild, BPF, root) behind real `vigil host --upstream`
 * processes that fetch their group's set and hand it on, and the per-rule
 * hits of every sensor back in PostgreSQL. Every sensor on this machine sees
 * the same connections, so one workload shows the group's sensors dropping
 * what the other group's sensor still reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "hosts.h"

#define N_DROP 20

static struct fx_host hosts[3];
static char dev[3][64];

static void teardown(void)
{
	fx_hosts_teardown(hosts, 3);
}

TestSuite(filtersets, .fini = teardown, .timeout = 900);

static void write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(s, f);
	cr_assert_eq(fclose(f), 0);
}

/*
 * Connections, a class the machine's other work floods less than files: to
 * 127.0.0.77 (what the set drops) or 127.0.0.78 (kept: the sign that a
 * sensor's events of the moment arrived), from port base.
 */
#define IP_DROP "127.0.0.77"
#define IP_KEEP "127.0.0.78"

static int phase_port(const char *phase)
{
	return strcmp(phase, "before") ? 21000 : 20000;
}

/* Attempt n connections to ip, ports phase_port(phase) + i (refused: nothing listens). */
static void connect_to(const char *ip, const char *phase, int n)
{
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)(phase_port(phase) + i)) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		cr_assert_geq(fd, 0);
		cr_assert_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
		cr_assert_neq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s listens", ip);
		close(fd);
	}
}

/* Distinct connections of device in PostgreSQL to ip in phase. */
static long long pg_conns(const char *device, const char *ip, const char *phase)
{
	char sql[512];

	snprintf(
		sql, sizeof(sql),
		"SELECT count(DISTINCT \"RemotePort\") FROM \"DeviceNetworkEvents\" WHERE"
		" \"DeviceId\" = '%s' AND \"RemoteIP\" = '%s' AND \"RemotePort\" BETWEEN %d AND %d",
		device, ip, phase_port(phase), phase_port(phase) + 999);
	return atoll(pgq(sql));
}

/* Wait (bounded) until host h's device has n connections to ip of phase in PostgreSQL. */
static void pg_wait_conns(int h, const char *ip, const char *phase, long long n)
{
	long long got = 0;

	for (int t = 0; t < 1200 && (got = pg_conns(dev[h], ip, phase)) < n; t++)
		fx_sleep_ms(100);
	cr_assert_geq(got, n, "%s: %lld of %lld connections to %s (%s) in PostgreSQL", dev[h], got,
		      n, ip, phase);
}

/* `vigil server ARGS`: its exit status, its output in out.txt and err.txt. */
static int vs(const char *args)
{
	char cmd[2048];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' server %s --pg '%s' >out.txt 2>err.txt", vigil(), args,
		 conninfo);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Does f (in dir) hold s? */
static int file_has(const char *f, const char *s)
{
	return fx_log_has(f, s);
}

/* The sensor of host h runs a set of n rules (its batches say so in SensorFilterRules). */
static void wait_sensor_rules(int h, const char *rule_like, long long n)
{
	char sql[512];
	long long got = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM SensorFilterRules WHERE Rule LIKE '%s'",
		 rule_like);
	/*
	 * Bounded generously: vigild reads the host's frames between its drains
	 * and sweeps, which grow long on a machine busy with other work (a
	 * sweep once held it for minutes: daemon/sweep.c).
	 */
	for (int t = 0; t < 1800 && (got = fx_sq(&hosts[h], sql)) != n; t++)
		fx_sleep_ms(100);
	if (got != n) {
		char cmd[256], tail[2048] = "";
		FILE *p;

		snprintf(cmd, sizeof(cmd), "grep -v /v1/batches %s.log | tail -12", hosts[h].name);
		p = popen(cmd, "r");
		if (p) {
			tail[fread(tail, 1, sizeof(tail) - 1, p)] = 0;
			pclose(p);
		}
		cr_assert_fail("the sensor of %s does not run the group's set: %s", hosts[h].name,
			       tail);
	}
}

/* Wait (bounded) until host h's device has at least n hits of the set in PostgreSQL: its hits. */
static long long wait_hits(int h, long long n)
{
	char sql[512];
	long long hits = 0;

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(\"Hits\"), 0) FROM \"SensorFilterHits\" WHERE \"DeviceId\" ="
		 " '%s' AND \"Signature\" = (SELECT \"Signature\" FROM \"FilterSets\")",
		 dev[h]);
	for (int t = 0; t < 600 && (hits = atoll(pgq(sql))) < n; t++)
		fx_sleep_ms(100);
	return hits;
}

/*
 * A batch from device dev (enrolled now) whose sensor runs rules exactly
 * lab's version 1 (a host's own --filters with the same file), with hits.
 */
static void post_same_rules(const char *dev, uint64_t hits)
{
	Vigil__V1__FilterRule fr = VIGIL__V1__FILTER_RULE__INIT, *frs[1] = { &fr };
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	char token[VG_FX_TOKEN];

	fx_enroll(dev, token);
	fr.index = 0;
	fr.line = 2;
	fr.rule = "drop network where remote == " IP_DROP;
	fr.action = "drop";
	fr.hits = hits;
	fr.generation = 1;
	di.device_id = (char *)dev;
	di.device_name = (char *)dev;
	di.os_platform = "Linux";
	b.device = &di;
	b.stream_id = 4711;
	b.n_filter_rules = 1;
	b.filter_rules = frs;
	fx_frame_file("same.frame", &b, 1);
	cr_assert_eq(fx_post("/v1/batches", "same.frame", token, "application/vnd.vigil.frame"),
		     200);
}

/* The sum of the hits of devices a and b for lab's set in PostgreSQL. */
static long long lab_hits(void)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(\"Hits\"), 0) FROM \"SensorFilterHits\" WHERE \"DeviceId\" IN"
		 " ('%s', '%s') AND \"Signature\" = (SELECT \"Signature\" FROM \"FilterSets\" WHERE"
		 " \"MachineGroup\" = 'lab')",
		 dev[0], dev[1]);
	return atoll(pgq(sql));
}

/* `vigil CMD --pg CONNINFO-as-analyst ARGS` into out.txt (err.txt): its exit status. */
static int vpg(const char *cmd, const char *args)
{
	char ci[600], line[2048];
	int st;

	snprintf(ci, sizeof(ci), "%s", conninfo);
	cr_assert_not_null(strstr(ci, "user=postgres"), "%s", ci);
	*strstr(ci, "user=postgres") = 0;
	strcat(ci, "user=vigil_analyst");
	snprintf(line, sizeof(line), "'%s' %s --pg '%s' %s >out.txt 2>err.txt", vigil(), cmd, ci,
		 args);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line of out.txt that holds every one of the strings (NULL-terminated), or "". */
static const char *out_line(const char *const *has)
{
	static char line[4096];
	FILE *f = fopen("out.txt", "r");
	int all = 0;

	cr_assert_not_null(f);
	while (!all && fgets(line, sizeof(line), f)) {
		all = 1;
		for (const char *const *h = has; *h; h++)
			all &= strstr(line, *h) != NULL;
	}
	fclose(f);
	return all ? line : "";
}

Test(filtersets, a_group_set_reaches_its_sensors_and_their_hits_the_server)
{
	char url[64], set[512], sql[512], out[256];
	long long hits_a, hits_b;

	fx_hosts_init();
	fx_server_onboard();
	for (int i = 0; i < 3; i++)
		snprintf(dev[i], sizeof(dev[i]), "fs-%c-%s", 'a' + i, fx_marker());

	/* a and b are in group lab (before they ever enrolled); c stays in "default". */
	snprintf(set, sizeof(set), "group %s lab", dev[0]);
	cr_assert_eq(vs(set), 0);
	snprintf(set, sizeof(set), "group %s lab", dev[1]);
	cr_assert_eq(vs(set), 0);
	cr_assert_eq(vs("group x bad/group"), 2, "a group name with a slash was taken");

	/* A set that does not compile is refused where it is wrong, and nothing is stored. */
	snprintf(set, sizeof(set),
		 "# lab\ndrop network where remote == " IP_DROP "\n"
		 "drop file where pth prefix \"/x\"\n");
	write_str("bad.vf", set);
	cr_assert_eq(vs("filters apply bad.vf --group lab"), 1);
	cr_assert(file_has("err.txt", "bad.vf:3:17:"), "no line:col in the refusal");
	cr_assert_eq(atoll(pgq("SELECT count(*) FROM \"FilterSets\"")), 0);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%c", 'a' + i);
		fx_host_start(&hosts[i], name, url, dev[i], NULL);
	}
	/* Before any set: every sensor reports the writes. */
	connect_to(IP_DROP, "before", 5);
	connect_to(IP_KEEP, "before", 5);
	for (int i = 0; i < 3; i++) {
		pg_wait_conns(i, IP_DROP, "before", 5);
		pg_wait_conns(i, IP_KEEP, "before", 5);
	}

	snprintf(set, sizeof(set), "# lab\ndrop network where remote == " IP_DROP "\n");
	write_str("lab.vf", set);
	cr_assert_eq(vs("filters apply lab.vf --group lab"), 0);
	cr_assert(file_has("out.txt", "filter set lab version 1 stored"));
	/* The same text again is no new version. */
	cr_assert_eq(vs("filters apply lab.vf --group lab"), 0);
	cr_assert(file_has("out.txt", "already has this text"));
	cr_assert_eq(atoll(pgq("SELECT count(*) FROM \"FilterSets\"")), 1);

	/* The group's sensors run it within seconds; the other group's runs none. */
	snprintf(sql, sizeof(sql), "%%remote == " IP_DROP "%%");
	wait_sensor_rules(0, sql, 1);
	wait_sensor_rules(1, sql, 1);
	cr_assert(fx_log_has("ha.log", "filters: server group lab version 1 to 1 sensors"));
	cr_assert_eq(fx_sq(&hosts[2], "SELECT count(*) FROM SensorFilterRules"), 0);

	/* Connections the rule drops: gone from a and b, still reported by c. */
	connect_to(IP_DROP, "after", N_DROP);
	connect_to(IP_KEEP, "after", 5);
	for (int i = 0; i < 3; i++)
		pg_wait_conns(i, IP_KEEP, "after", 5);
	pg_wait_conns(2, IP_DROP, "after", N_DROP);
	cr_assert_eq(pg_conns(dev[0], IP_DROP, "after"), 0, "a's sensor did not drop");
	cr_assert_eq(pg_conns(dev[1], IP_DROP, "after"), 0, "b's sensor did not drop");

	/*
	 * The server has each rule's hits from every sensor of the group (a
	 * drop counts at least once per connection; c ran no such set).
	 */
	hits_a = wait_hits(0, N_DROP);
	hits_b = wait_hits(1, N_DROP);
	cr_assert_geq(hits_a, N_DROP);
	cr_assert_geq(hits_b, N_DROP);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM \"SensorFilterHits\" WHERE \"DeviceId\" = '%s'", dev[2]);
	cr_assert_eq(atoll(pgq(sql)), 0);

	/*
	 * A device of another group whose sensor runs exactly the set's rules
	 * (the same Signature) counts for its own group, never for lab.
	 */
	snprintf(set, sizeof(set), "group %s-x other", fx_marker());
	cr_assert_eq(vs(set), 0);
	snprintf(set, sizeof(set), "%s-x", fx_marker());
	post_same_rules(set, 1000000);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM \"SensorFilterHits\" h JOIN \"FilterSets\" s USING"
		 " (\"Signature\") WHERE h.\"DeviceId\" = '%s' AND s.\"MachineGroup\" = 'lab'",
		 set);
	cr_assert_eq(atoll(pgq(sql)), 1, "the other group's device does not run lab's rules");

	/* What `vigil server filters hits` shows: the fleet's sum, from two devices. */
	cr_assert_eq(vs("filters hits --group lab --json"), 0);
	sh_line(out, sizeof(out), "cat out.txt");
	snprintf(set, sizeof(set), "\"RuleIndex\":0,\"Line\":2,\"Action\":\"drop\"");
	cr_assert(strstr(out, set), "%s", out);
	cr_assert(strstr(out, "\"Devices\":2,"), "%s", out);
	{
		const char *h = strstr(out, "\"Hits\":");

		cr_assert_not_null(h, "%s", out);
		cr_assert_geq(atoll(h + 7), hits_a + hits_b, "%s", out);
	}
	cr_assert_eq(vs("filters hits --group lab --devices"), 0);
	cr_assert(file_has("out.txt", dev[0]) && file_has("out.txt", dev[1]));
	cr_assert(!file_has("out.txt", dev[2]));
	cr_assert(!file_has("out.txt", set), "the other group's device counted for lab");

	/*
	 * The fleet's `vigil top` and `vigil stats`, read as the analyst role:
	 * lab's rule with the hits of a and b summed (what PostgreSQL held just
	 * before and after), two devices, a last hit; x's million is not in it.
	 */
	cr_assert_eq(vs("roles"), 0);
	{
		static const char *const rule[] = { "\"Section\":\"fleet rule\"",
						    "\"MachineGroup\":\"lab\"", "\"RuleIndex\":0",
						    NULL };
		static const char *const lab[] = { "\"Section\":\"filter set\"",
						   "\"MachineGroup\":\"lab\"", NULL };
		static const char *const other[] = { "\"Section\":\"filter set\"",
						     "\"MachineGroup\":null", NULL };
		static const char *const devices[] = { "\"Section\":\"devices\"", NULL };
		static const char *const text[] = { "lab v1", IP_DROP, NULL };
		long long before = lab_hits(), after;
		const char *l;

		cr_assert_eq(vpg("top", "--once --json --window 86400"), 0, "see %s/err.txt", dir);
		after = lab_hits();
		l = out_line(rule);
		cr_assert(strstr(l, "\"Line\":2,\"Action\":\"drop\",\"Rule\":\"drop network where"
				    " remote == " IP_DROP "\""),
			  "%s", l);
		cr_assert_eq(fx_json_num(l, "Devices"), 2, "%s", l);
		cr_assert_geq(fx_json_num(l, "Hits"), before, "%s", l);
		cr_assert_leq(fx_json_num(l, "Hits"), after, "%s", l);
		cr_assert(strstr(l, "\"LastHit\":\"20"), "%s", l);
		/* every device's events, by device first */
		for (int i = 0; i < 3; i++) {
			const char *const d[] = { "\"Section\":\"device\"", dev[i], NULL };

			cr_assert_str_neq(out_line(d), "",
					  "%s has no events in top's device section", dev[i]);
		}
		cr_assert_eq(vpg("top", "--once"), 0);
		cr_assert_str_neq(out_line(text), "", "no lab v1 row in top's text");

		before = lab_hits();
		cr_assert_eq(vpg("stats", "--json"), 0, "see %s/err.txt", dir);
		after = lab_hits();
		l = out_line(lab);
		cr_assert_eq(fx_json_num(l, "Devices"), 2, "%s", l);
		cr_assert_geq(fx_json_num(l, "Hits"), before, "%s", l);
		cr_assert_leq(fx_json_num(l, "Hits"), after, "%s", l);
		l = out_line(other);
		cr_assert_eq(fx_json_num(l, "Devices"), 1, "%s", l);
		cr_assert_eq(fx_json_num(l, "Hits"), 1000000, "%s", l);
		l = out_line(devices);
		cr_assert_eq(fx_json_num(l, "Enrolled"), 4, "%s", l);
		cr_assert_eq(fx_json_num(l, "Revoked"), 0, "%s", l);
		cr_assert_eq(fx_json_num(l, "Reporting"), 4, "%s", l);
		cr_assert_eq(vpg("stats", ""), 0);
		cr_assert(file_has("out.txt", "FILTER SETS"));
		/* One source: --db and --pg together are a usage error. */
		cr_assert_eq(vpg("top", "--db x.db --once"), 2);
		cr_assert_eq(vpg("stats", "--db x.db"), 2);
	}

	/* A bad set for the group afterwards changes nothing: stored set and sensors as they were. */
	cr_assert_eq(vs("filters apply bad.vf --group lab"), 1);
	cr_assert(file_has("err.txt", "bad.vf:3:17:"));
	cr_assert_eq(atoll(pgq("SELECT count(*) FROM \"FilterSets\"")), 1);
	cr_assert_eq(vs("filters show --group lab"), 0);
	cr_assert(file_has("out.txt", "remote == " IP_DROP));
	cr_assert(!file_has("out.txt", "pth"));
	cr_assert_eq(vs("filters list --json"), 0);
	cr_assert(file_has("out.txt", "\"MachineGroup\":\"lab\",\"Version\":1,\"Rules\":1,"));
	cr_assert(file_has("out.txt", "\"Devices\":2,"));
	for (int i = 0; i < 2; i++)
		cr_assert_eq(fx_sq(&hosts[i], "SELECT count(*) FROM SensorFilterRules"), 1);
}

/* GET /v1/filters with curl's extra arguments: the status; body in resp.txt, headers resp.hdr. */
static int get(const char *extra)
{
	char cmd[1024], out[16];

	snprintf(cmd, sizeof(cmd),
		 "curl -sS --cacert ca.pem -o resp.txt -D resp.hdr -w '%%{http_code}' %s"
		 " https://127.0.0.1:%d/v1/filters",
		 extra, port);
	sh_line(out, sizeof(out), cmd);
	return atoi(out);
}

/* GET /v1/filters as a host sees it: a token, the group's set, 304 for the ETag it holds. */
Test(filtersets, the_resource)
{
	char token[VG_FX_TOKEN], auth[160], both[400];

	fx_hosts_init();
	fx_server_onboard();
	fx_enroll("dev-r", token);
	snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'", token);
	snprintf(both, sizeof(both), "%s -H 'If-None-Match: \"default/1\"'", auth);

	cr_assert_eq(get(""), 401);
	cr_assert_eq(get(auth), 204, "no set yet");
	cr_assert(file_has("resp.hdr", "X-Vigil-Group: default"));
	write_str("d.vf", "drop file where path prefix \"/nonexistent/\"\n");
	cr_assert_eq(vs("filters apply d.vf"), 0);
	cr_assert_eq(get(auth), 200);
	cr_assert(file_has("resp.hdr", "ETag: \"default/1\""));
	cr_assert(file_has("resp.txt", "drop file where path prefix \"/nonexistent/\""));
	cr_assert_eq(get(both), 304);
	/* Moved to another group: that group's set (none yet), then its own. */
	cr_assert_eq(vs("group dev-r other"), 0);
	cr_assert_eq(get(both), 204);
	write_str("o.vf", "# other\ndrop file where path prefix \"/other/\"\n");
	cr_assert_eq(vs("filters apply o.vf --group other"), 0);
	cr_assert_eq(get(both), 200);
	cr_assert(file_has("resp.hdr", "ETag: \"other/1\""));
	cr_assert(file_has("resp.txt", "/other/"));
	/* A revoked token gets nothing. */
	cr_assert_eq(vs("revoke dev-r"), 0);
	cr_assert_eq(get(auth), 403);

	/*
	 * A package made with --group puts the devices enrolled with it in that
	 * group, unless one was named for them before.
	 */
	snprintf(both, sizeof(both),
		 "onboard --url https://127.0.0.1:%d --ca ca.pem --out ob.txt --group lab2", port);
	cr_assert_eq(vs(both), 0);
	cr_assert_eq(vs("group dev-t pre"), 0);
	fx_enroll("dev-s", token);
	snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'", token);
	cr_assert_eq(get(auth), 204);
	cr_assert(file_has("resp.hdr", "X-Vigil-Group: lab2"));
	fx_enroll("dev-t", token);
	snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'", token);
	cr_assert_eq(get(auth), 204);
	cr_assert(file_has("resp.hdr", "X-Vigil-Group: pre"));
	cr_assert_eq(vs("onboard --url https://x --ca ca.pem --out x.txt --group 'a b'"), 2);
}
