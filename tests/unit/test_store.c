// SPDX-License-Identifier: GPL-2.0-only
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "fmt.h"
#include "store.h"

static char dir[64];
static char dbpath[128];
static struct vg_store *st;

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
}

static void teardown(void)
{
	char cmd[160];

	vg_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

static char *argv_sh[] = { "/bin/sh", "-c", "exit 7" };
static char *argv_odd[] = { "printf", "", "it's", "a\"b", "tab\there", "plain" };
static char *argv_bash[] = { "-bash" };
static char *tags[] = { "WSL2" };

struct sample {
	Vigil__V1__Process proc, parent;
	Vigil__V1__ProcessEvent pe;
	Vigil__V1__Event ev, *evs[1];
	Vigil__V1__Counter c, *cs[1];
	Vigil__V1__DeviceInfo dev;
	Vigil__V1__Batch b;
};

/* 2026-11-26T12:00:00.123Z, a process created by bash. */
#define T0 1795694400123000000ull

static void sample_init(struct sample *s, Vigil__V1__ProcessAction action)
{
	vigil__v1__process__init(&s->proc);
	s->proc.pid = 4242;
	s->proc.ppid = 4200;
	s->proc.start_time_ns = T0 - 1000000;
	s->proc.exe = "/usr/bin/dash";
	s->proc.n_argv = 3;
	s->proc.argv = argv_sh;
	s->proc.cwd = "/tmp";
	s->proc.uid = 0;
	s->proc.gid = 5;
	s->proc.euid = 0;
	s->proc.egid = 6;
	s->proc.comm = "sh";
	s->proc.cgroup_id = 4096;
	s->proc.exe_inode = 1234;
	s->proc.exe_dev = 2049;
	s->proc.user = "root";

	vigil__v1__process__init(&s->parent);
	s->parent.pid = 4200;
	s->parent.ppid = 1;
	s->parent.start_time_ns = T0 - 5000000000ull;
	s->parent.exe = "/usr/bin/bash";
	s->parent.n_argv = 1;
	s->parent.argv = argv_bash;
	s->parent.user = "root";

	vigil__v1__process_event__init(&s->pe);
	s->pe.action = action;
	s->pe.process = &s->proc;
	s->pe.parent = &s->parent;
	s->pe.grandparent_exe = "/usr/lib/systemd/systemd";

	vigil__v1__event__init(&s->ev);
	s->ev.report_id = 10;
	s->ev.time_ns = T0;
	s->ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	s->ev.process = &s->pe;
	s->evs[0] = &s->ev;

	vigil__v1__counter__init(&s->c);
	s->c.event_class = "exec";
	s->c.seen = 10;
	s->c.emitted = 7;
	s->c.filtered = 1;
	s->c.deduplicated = 1;
	s->c.rate_limited = 1;

	vigil__v1__device_info__init(&s->dev);
	s->dev.device_id = "dev-A";
	s->dev.device_name = "DESKTOP-A";
	s->dev.client_version = "0.1.0";
	s->dev.os_platform = "Linux";
	s->dev.os_architecture = "x86_64";
	s->dev.os_version = "6.18.0";
	s->dev.os_distribution = "Debian 12";
	s->dev.host_device_id = "win-host-1";
	s->dev.n_tags = 1;
	s->dev.tags = tags;

	vigil__v1__batch__init(&s->b);
	s->b.device = &s->dev;
	s->b.n_events = 1;
	s->b.events = s->evs;
	s->b.n_counters = 1;
	s->b.counters = s->cs;
	s->cs[0] = &s->c;
	s->b.events_lost = 3;
}

/* First row of a query as text (NULL for SQL NULL), malloc'd; "" when no row. */
static char *q1(const char *sql)
{
	sqlite3_stmt *s;
	char *r = NULL;

	cr_assert_eq(sqlite3_prepare_v2(vg_store_db(st), sql, -1, &s, NULL), SQLITE_OK, "%s: %s",
		     sql, sqlite3_errmsg(vg_store_db(st)));
	if (sqlite3_step(s) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL)
			r = strdup((const char *)sqlite3_column_text(s, 0));
	} else {
		r = strdup("");
	}
	sqlite3_finalize(s);
	return r;
}

static void expect(const char *sql, const char *want)
{
	char *got = q1(sql);

	if (!want)
		cr_expect_null(got, "%s: got '%s', want NULL", sql, got);
	else
		cr_expect(got && !strcmp(got, want), "%s: got '%s', want '%s'", sql,
			  got ? got : "(null)", want);
	free(got);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, wal_mode)
{
	expect("PRAGMA journal_mode", "wal");
}

Test(store, process_created_columns)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	cr_assert_str_eq(peer.device_id, "dev-A");

#define COL(c) "SELECT " c " FROM DeviceProcessEvents"
	expect(COL("count(*)"), "1");
	expect(COL("Timestamp"), "2026-11-26T12:00:00.123Z");
	expect(COL("DeviceId"), "dev-A");
	expect(COL("DeviceName"), "DESKTOP-A");
	expect(COL("ActionType"), "ProcessCreated");
	expect(COL("ReportId"), "10");
	expect(COL("FileName"), "dash");
	expect(COL("FolderPath"), "/usr/bin/dash");
	expect(COL("ProcessId"), "4242");
	expect(COL("ProcessParentId"), "4200");
	expect(COL("ProcessCommandLine"), "/bin/sh -c 'exit 7'");
	expect(COL("ProcessCreationTime"), "2026-11-26T12:00:00.122Z");
	expect(COL("AccountName"), "root");
	expect(COL("AccountUid"), "0");
	expect(COL("ProcessCurrentDirectory"), "/tmp");
	expect(COL("ProcessExitCode"), NULL);
	expect(COL("InitiatingProcessId"), "4200");
	expect(COL("InitiatingProcessFileName"), "bash");
	expect(COL("InitiatingProcessFolderPath"), "/usr/bin/bash");
	expect(COL("InitiatingProcessCommandLine"), "-bash");
	expect(COL("InitiatingProcessCreationTime"), "2026-11-26T11:59:55.123Z");
	expect(COL("InitiatingProcessAccountName"), "root");
	expect(COL("InitiatingProcessParentId"), "1");
	expect(COL("InitiatingProcessParentFileName"), "systemd");
	expect(COL("json_valid(AdditionalFields)"), "1");
	expect(COL("json_extract(AdditionalFields, '$.Comm')"), "sh");
	expect(COL("json_extract(AdditionalFields, '$.CgroupId')"), "4096");
	expect(COL("json_extract(AdditionalFields, '$.ExeInode')"), "1234");
	expect(COL("json_extract(AdditionalFields, '$.ExeDev')"), "2049");
	expect(COL("json_extract(AdditionalFields, '$.Gid')"), "5");
	expect(COL("json_extract(AdditionalFields, '$.Euid')"), "0");
	expect(COL("json_extract(AdditionalFields, '$.Egid')"), "6");
	expect(COL("json_extract(AdditionalFields, '$.ParentId')"), "4200");
	/* Only what applies: not truncated, not terminated. */
	expect(COL("json_type(AdditionalFields, '$.ArgvTruncated')"), NULL);
	expect(COL("json_type(AdditionalFields, '$.ExitSignal')"), NULL);
	expect(COL("json_type(AdditionalFields, '$.CoreDumped')"), NULL);
	expect(COL("json_type(AdditionalFields, '$.ScriptPath')"), NULL); /* sh -c: no script */
	expect("SELECT Seq || ' ' || Events || ' ' || DeviceId FROM ReceivedFrames", "1 1 dev-A");
	vg_store_peer_free(&peer);
}

/*
 * SuppressedEvents, every column: one summary with its process, one without a
 * process, an action or a time (NULLs, and the epoch for the missing time).
 */
Test(store, suppression_columns)
{
	struct vg_store_peer peer = { 0 };
	Vigil__V1__Suppression su[2];
	Vigil__V1__Event ev[2], *evs[2] = { &ev[0], &ev[1] };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	for (int i = 0; i < 2; i++) {
		vigil__v1__suppression__init(&su[i]);
		vigil__v1__event__init(&ev[i]);
		ev[i].body_case = VIGIL__V1__EVENT__BODY_SUPPRESSION;
		ev[i].suppression = &su[i];
		ev[i].report_id = 20 + (uint64_t)i;
	}
	ev[0].time_ns = T0;
	su[0].reason = "Deduplicated";
	su[0].event_class = "file";
	su[0].action_type = "FileModified";
	su[0].process = &s.proc;
	su[0].path = "/var/log/syslog";
	su[0].count = 41;
	su[0].first_ns = T0 - 2000000000ull;
	su[0].last_ns = T0 - 1000000000ull;
	su[1].reason = "RateLimited";
	su[1].action_type = "";
	su[1].count = 7;
	s.b.n_events = 2;
	s.b.events = evs;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);

#define SUPP(c, id) "SELECT " c " FROM SuppressedEvents WHERE ReportId = " id
	expect("SELECT count(*) FROM SuppressedEvents", "2");
	expect(SUPP("Timestamp", "20"), "2026-11-26T12:00:00.123Z");
	expect(SUPP("DeviceId", "20"), "dev-A");
	expect(SUPP("DeviceName", "20"), "DESKTOP-A");
	expect(SUPP("Reason", "20"), "Deduplicated");
	expect(SUPP("EventClass", "20"), "file");
	expect(SUPP("ActionType", "20"), "FileModified");
	expect(SUPP("Count", "20"), "41");
	expect(SUPP("FirstTimestamp", "20"), "2026-11-26T11:59:58.123Z");
	expect(SUPP("LastTimestamp", "20"), "2026-11-26T11:59:59.123Z");
	expect(SUPP("FileName", "20"), "syslog");
	expect(SUPP("FolderPath", "20"), "/var/log/syslog");
	expect(SUPP("InitiatingProcessId", "20"), "4242");
	expect(SUPP("InitiatingProcessFileName", "20"), "dash");
	expect(SUPP("InitiatingProcessFolderPath", "20"), "/usr/bin/dash");
	expect(SUPP("InitiatingProcessCommandLine", "20"), "/bin/sh -c 'exit 7'");
	expect(SUPP("Timestamp", "21"), "1970-01-01T00:00:00.000Z");
	expect(SUPP("Reason", "21"), "RateLimited");
	expect(SUPP("Count", "21"), "7");
	expect(SUPP("quote(EventClass) || quote(ActionType) || quote(FirstTimestamp) ||"
		    " quote(LastTimestamp) || quote(FileName) || quote(FolderPath) ||"
		    " quote(InitiatingProcessId) || quote(InitiatingProcessFileName) ||"
		    " quote(InitiatingProcessFolderPath) || quote(InitiatingProcessCommandLine)",
		    "21"),
	       "NULLNULLNULLNULLNULLNULLNULLNULLNULLNULL");
	vg_store_peer_free(&peer);
}

Test(store, exit_code_and_signal)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED);
	s.pe.exit_code = 7;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	s.pe.exit_code = 0;
	s.pe.exit_signal = 9;
	s.pe.core_dumped = 1;
	s.ev.report_id = 11;
	s.proc.argv_truncated = 1;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);

	expect("SELECT ActionType FROM DeviceProcessEvents WHERE ReportId = 10",
	       "ProcessTerminated");
	expect("SELECT ProcessExitCode FROM DeviceProcessEvents WHERE ReportId = 10", "7");
	expect("SELECT json_type(AdditionalFields, '$.ExitSignal') FROM DeviceProcessEvents"
	       " WHERE ReportId = 10",
	       NULL);
	expect("SELECT ProcessExitCode FROM DeviceProcessEvents WHERE ReportId = 11", "137");
	expect("SELECT json_extract(AdditionalFields, '$.ExitSignal') FROM DeviceProcessEvents"
	       " WHERE ReportId = 11",
	       "9");
	expect("SELECT json_type(AdditionalFields, '$.CoreDumped') FROM DeviceProcessEvents"
	       " WHERE ReportId = 11",
	       "true");
	expect("SELECT json_type(AdditionalFields, '$.ArgvTruncated') FROM DeviceProcessEvents"
	       " WHERE ReportId = 11",
	       "true");
	vg_store_peer_free(&peer);
}

Test(store, forked_action_type)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	expect("SELECT ActionType FROM DeviceProcessEvents", "ProcessForked");
	vg_store_peer_free(&peer);
}

Test(store, command_line_quoting)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	s.proc.argv = argv_odd;
	s.proc.n_argv = 6;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	expect("SELECT ProcessCommandLine FROM DeviceProcessEvents",
	       "printf '' 'it'\\''s' 'a\"b' 'tab\there' plain");
	vg_store_peer_free(&peer);
}

Test(store, resend_stored_once)
{
	struct vg_store_peer peer = { 0 }, other = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 5, &s.b), 1);
	cr_assert_eq(vg_store_batch(st, &peer, 5, &s.b), 0);
	expect("SELECT count(*) FROM DeviceProcessEvents", "1");
	expect("SELECT count(*) FROM DeviceInfo", "1");
	expect("SELECT count(*) FROM ReceivedFrames", "1");
	/* A new connection that has not named its device yet: DeviceId ''. */
	s.b.device = NULL;
	cr_assert_eq(vg_store_batch(st, &other, 5, &s.b), 1);
	expect("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = ''", "1");
	/* Same seq from another device is another batch. */
	s.b.device = &s.dev;
	s.dev.device_id = "dev-B";
	cr_assert_eq(vg_store_batch(st, &other, 5, &s.b), 1);
	cr_assert_eq(vg_store_batch(st, &other, 5, &s.b), 0);
	expect("SELECT count(*) FROM DeviceProcessEvents", "3");
	/* A restarted vigild numbers from 1 again, under a new stream id: stored. */
	s.b.stream_id = 77;
	cr_assert_eq(vg_store_batch(st, &other, 5, &s.b), 1);
	cr_assert_eq(vg_store_batch(st, &other, 5, &s.b), 0);
	expect("SELECT count(*) FROM DeviceProcessEvents", "4");
	vg_store_peer_free(&peer);
	vg_store_peer_free(&other);
}

/*
 * Issue 15, finding 5: the database file deleted, or replaced, under an open
 * store. SQLite would go on committing to the unlinked file; the store says
 * so (-ESTALE) for that batch and every later one, resends included.
 */
Test(store, deleted_file_refuses_batches)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	cr_assert_eq(vg_store_lost(st), 0);
	cr_assert_eq(unlink(dbpath), 0);
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), -ESTALE);
	cr_assert_eq(vg_store_lost(st), 1);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), -ESTALE, "a resend was acknowledged");
	vg_store_peer_free(&peer);
}

Test(store, replaced_file_refuses_batches)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	char other[160];
	FILE *f;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	snprintf(other, sizeof(other), "%s/other", dir);
	f = fopen(other, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(rename(other, dbpath), 0);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), -ESTALE);
	vg_store_peer_free(&peer);
}

Test(store, deleted_wal_refuses_batches)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	char wal[160];

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	cr_assert_eq(unlink(wal), 0);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), -ESTALE);
	vg_store_peer_free(&peer);
}

/* What the host cannot store is counted per reason, once per batch even when it is resent. */
Test(store, skipped_events_are_counted)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	Vigil__V1__Event newer, bodiless, *evs[3];
	Vigil__V1__ProcessEvent hollow;
	ProtobufCMessageUnknownField uf = { .tag = 42,
					    .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT,
					    .len = 1,
					    .data = (uint8_t *)"\x01" };
	char *out;
	FILE *f;
	size_t n;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	vigil__v1__event__init(&newer); /* a newer sensor's kind: field 42 */
	newer.base.n_unknown_fields = 1;
	newer.base.unknown_fields = &uf;
	vigil__v1__event__init(&bodiless);
	vigil__v1__process_event__init(&hollow);
	evs[0] = &newer;
	evs[1] = &s.ev;
	evs[2] = &bodiless;
	s.b.events = evs;
	s.b.n_events = 3;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 0);
	bodiless.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	bodiless.process = &hollow;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	expect("SELECT count(*) FROM DeviceProcessEvents", "2");
	expect("SELECT Count FROM HostSkippedEvents WHERE Reason = 'unknown event kind (field 42)'",
	       "2");
	expect("SELECT Count FROM HostSkippedEvents WHERE Reason = 'event without a body'", "1");
	expect("SELECT Count FROM HostSkippedEvents WHERE Reason = "
	       "'process event without its process'",
	       "1");
	/* vigil stats shows them */
	f = open_memstream(&out, &n);
	cr_assert_eq(vg_stats_print(st, f, 0), 0);
	fclose(f);
	cr_assert_not_null(strstr(out, "EVENTS THE HOST COULD NOT STORE"), "%s", out);
	cr_assert_not_null(strstr(out, "2            unknown event kind (field 42)"), "%s", out);
	free(out);
	vg_store_peer_free(&peer);
}

Test(store, batch_without_device_uses_connection_device)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	s.b.device = NULL;
	s.ev.report_id = 12;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	expect("SELECT DeviceId || '/' || DeviceName FROM DeviceProcessEvents WHERE ReportId = 12",
	       "dev-A/DESKTOP-A");
	expect("SELECT count(*) FROM DeviceInfo", "1");
	vg_store_peer_free(&peer);
}

Test(store, device_info_row)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
#define DEV(c) "SELECT " c " FROM DeviceInfo"
	expect(DEV("DeviceId"), "dev-A");
	expect(DEV("DeviceName"), "DESKTOP-A");
	expect(DEV("ClientVersion"), "0.1.0");
	expect(DEV("OSPlatform"), "Linux");
	expect(DEV("OSArchitecture"), "x86_64");
	expect(DEV("OSVersion"), "6.18.0");
	expect(DEV("OSDistribution"), "Debian 12");
	expect(DEV("HostDeviceId"), "win-host-1");
	expect(DEV("DeviceTags"), "[\"WSL2\"]");
	expect(DEV("OnboardingStatus"), "Onboarded");
	expect(DEV("length(Timestamp)"), "24");
	/* The schema's WSL query. */
	expect("SELECT DISTINCT DeviceId FROM DeviceInfo WHERE OSPlatform = 'Linux'"
	       " AND coalesce(HostDeviceId, '') != ''",
	       "dev-A");
	vg_store_peer_free(&peer);
}

Test(store, counters_upsert)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	s.c.seen = 20;
	s.c.emitted = 16;
	s.c.ringbuf_full = 1;
	s.b.events_lost = 4;
	s.b.device = NULL;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	expect("SELECT count(*) FROM SensorCounters", "1");
	expect("SELECT DeviceId || ' ' || EventClass || ' ' || Seen || ' ' || Emitted || ' ' ||"
	       " Filtered || ' ' || Deduplicated || ' ' || RateLimited || ' ' || RingbufFull"
	       " || ' ' || EventsLost FROM SensorCounters",
	       "dev-A exec 20 16 1 1 1 1 4");
	vg_store_peer_free(&peer);
}

/*
 * Every vigild run counts from zero under a stream of its own: the device's
 * totals add the runs up, so a restart does not hide an earlier run's losses,
 * and a batch of a run stored late does not take its counters back.
 */
Test(store, counters_add_up_across_runs)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	s.b.stream_id = 7;
	s.c.seen = 20;
	s.c.emitted = 16;
	s.c.ringbuf_full = 1;
	s.b.events_lost = 4;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	/* The next run: new stream, its own counts from zero. */
	s.b.device = NULL;
	s.b.stream_id = 8;
	s.c.seen = 3;
	s.c.emitted = 3;
	s.c.filtered = s.c.deduplicated = s.c.rate_limited = s.c.ringbuf_full = 0;
	s.b.events_lost = 0;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	expect("SELECT Seen || ' ' || Emitted || ' ' || RingbufFull || ' ' || EventsLost"
	       " FROM SensorCounters WHERE DeviceId = 'dev-A'",
	       "23 19 1 4");
	/* The first run's earlier batch, resent after the restart. */
	s.b.stream_id = 7;
	s.c.seen = 10;
	s.c.emitted = 10;
	s.b.events_lost = 2;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	expect("SELECT Seen || ' ' || Emitted || ' ' || RingbufFull || ' ' || EventsLost"
	       " FROM SensorCounters WHERE DeviceId = 'dev-A'",
	       "23 19 1 4");
	expect("SELECT group_concat(StreamId || ':' || EventsLost, ' ') FROM"
	       " (SELECT * FROM SensorCounterStreams ORDER BY StreamId)",
	       "7:4 8:0");
	vg_store_peer_free(&peer);
}

Test(store, open_existing_never_creates)
{
	struct vg_store *s2;
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/missing.db", dir);
	cr_assert_eq(vg_store_open_existing(&s2, missing), -ENOENT);
	cr_assert_neq(access(missing, F_OK), 0);
	cr_assert_eq(vg_store_open_existing(&s2, dbpath), 0);
	vg_store_close(s2);
}

/* vg_store_open_existing(path) as the user nobody, in a child: its result. */
static int open_as_nobody(const char *path)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		struct vg_store *s2;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(100);
		_exit(-vg_store_open_existing(&s2, path));
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

Test(store, open_existing_is_read_only_and_says_why)
{
	struct vg_store *s2;
	char p[200];
	FILE *f;

	/* The writer keeps its -wal and -shm: a reader who may not make them needs them. */
	vg_store_close(st);
	st = NULL;
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	cr_assert_eq(access(p, F_OK), 0, "the -wal went with the writer");
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	cr_assert_eq(access(p, F_OK), 0, "the -shm went with the writer");

	cr_assert_eq(vg_store_open_existing(&s2, dbpath), 0);
	cr_assert_eq(sqlite3_exec(vg_store_db(s2), "CREATE TABLE t(a)", NULL, NULL, NULL),
		     SQLITE_READONLY);
	vg_store_close(s2);

	snprintf(p, sizeof(p), "%s/text.db", dir);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("not a database, but long enough to have a header of its own....\n", f);
	fclose(f);
	cr_assert_eq(vg_store_open_existing(&s2, p), -EBADMSG);

	if (geteuid())
		return;
	/* dir is 0700: nobody may not reach the store. */
	cr_assert_eq(open_as_nobody(dbpath), -EACCES);
	/* Readable, but its -shm gone and the directory not nobody's to write. */
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(chmod(dbpath, 0644), 0);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	cr_assert_eq(unlink(p), 0);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(open_as_nobody(dbpath), -EROFS);
}

/* Run the printer into memory and return what it wrote. */
static char *print_events(int json, int64_t after)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct vg_cursor from = { { after, after, after, after } }, last = { { 0 } };

	cr_assert_not_null(f);
	cr_assert_geq(vg_events_print(st, f, json, &from, NULL, 0, &last), 0);
	fclose(f);
	return buf;
}

Test(store, timeline_human_format)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	char *out;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	s.proc.exe = "/bin/sh";
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED);
	s.proc.exe = "/bin/sh";
	s.ev.report_id = 11;
	s.ev.time_ns = T0 + 2000000;
	s.pe.exit_code = 7;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	s.ev.report_id = 12;
	s.ev.time_ns = T0 + 1000000; /* earlier: printed in time order */
	s.pe.exit_code = 0;
	s.pe.exit_signal = 9;
	cr_assert_eq(vg_store_batch(st, &peer, 3, &s.b), 1);

	out = print_events(0, 0);
	cr_assert_str_eq(out,
			 "2026-11-26T12:00:00.123Z  ProcessCreated     sh[4242] <- bash[4200]  "
			 "/bin/sh -c 'exit 7'  (cwd /tmp, uid 0)\n"
			 "2026-11-26T12:00:00.124Z  ProcessTerminated  sh[4242] <- bash[4200]  "
			 "signal 9\n"
			 "2026-11-26T12:00:00.125Z  ProcessTerminated  sh[4242] <- bash[4200]  "
			 "exit 7\n");
	free(out);
	vg_store_peer_free(&peer);
}

Test(store, timeline_json_lines)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	sqlite3_stmt *q;
	char *out;

	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	s.proc.cwd = "/tmp/\x01odd\"dir";
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	out = print_events(1, 0);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	/* SQLite's JSON parser as the judge. */
	cr_assert_eq(sqlite3_prepare_v2(
			     vg_store_db(st),
			     "SELECT json_valid(?1), json_extract(?1, '$.Table'),"
			     " json_type(?1, '$.ProcessId'), json_type(?1, '$.ProcessExitCode'),"
			     " json_extract(?1, '$.ProcessCurrentDirectory'),"
			     " json_extract(?1, '$.FileName'), json_type(?1, '$.vg_rowid')",
			     -1, &q, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(q, 1, out, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(q, 0), 1, "invalid JSON: %s", out);
	cr_assert_str_eq((const char *)sqlite3_column_text(q, 1), "DeviceProcessEvents");
	cr_assert_str_eq((const char *)sqlite3_column_text(q, 2), "integer");
	cr_assert_str_eq((const char *)sqlite3_column_text(q, 3), "null");
	cr_assert_str_eq((const char *)sqlite3_column_text(q, 4), "/tmp/\x01odd\"dir");
	cr_assert_str_eq((const char *)sqlite3_column_text(q, 5), "dash");
	cr_assert_eq(sqlite3_column_type(q, 6), SQLITE_NULL, "bookkeeping column leaked");
	sqlite3_finalize(q);
	cr_assert_not_null(strstr(out, "\\u0001odd\\\"dir"));
	free(out);
	vg_store_peer_free(&peer);
}

/* Digests as lowercase hex, sizes, the container; a digest of a wrong length counted. */
Test(store, image_digests_sizes_and_container)
{
	struct vg_store_peer peer = { 0 };
	struct sample s;
	uint8_t d[32];

	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)(0xa0 + i);
	sample_init(&s, VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED);
	s.proc.sha256 = (ProtobufCBinaryData){ .len = 32, .data = d };
	s.proc.sha1 = (ProtobufCBinaryData){ .len = 20, .data = d };
	s.proc.exe_size = 125640;
	s.proc.container_id = "0123abcd";
	s.proc.container_name = "web-1";
	s.parent.sha256 = (ProtobufCBinaryData){ .len = 32, .data = d + 0 };
	s.parent.exe_size = 99;
	cr_assert_eq(vg_store_batch(st, &peer, 1, &s.b), 1);
	expect(COL("SHA256"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
	expect(COL("SHA1"), "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3");
	expect(COL("FileSize"), "125640");
	expect(COL("InitiatingProcessSHA256"),
	       "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
	expect(COL("InitiatingProcessSHA1"), NULL);
	expect(COL("InitiatingProcessFileSize"), "99");
	expect(COL("ContainerId"), "0123abcd");
	expect(COL("ContainerName"), "web-1");
	expect("SELECT count(*) FROM HostSkippedEvents", "0");

	/* A forged 31-byte SHA256: the event is stored, without it, and counted. */
	s.proc.sha256.len = 31;
	s.ev.report_id = 11;
	cr_assert_eq(vg_store_batch(st, &peer, 2, &s.b), 1);
	expect(COL("count(*)"), "2");
	expect("SELECT coalesce(SHA256, 'null') || ' ' || SHA1 FROM DeviceProcessEvents"
	       " WHERE ReportId = 11",
	       "null a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3");
	expect("SELECT Reason || ' ' || Count FROM HostSkippedEvents",
	       "digest of a wrong length (event stored without it) 1");
	vg_store_peer_free(&peer);
}

/* A store written before the columns existed gets them appended when opened. */
Test(store, older_store_gets_the_new_columns)
{
	char *err = NULL;

	cr_assert_eq(sqlite3_exec(vg_store_db(st),
				  "ALTER TABLE DeviceProcessEvents DROP COLUMN ContainerName;"
				  "ALTER TABLE DeviceProcessEvents DROP COLUMN SHA1;"
				  "ALTER TABLE SensorDaemon DROP COLUMN HashLate",
				  NULL, NULL, &err),
		     SQLITE_OK, "%s", err);
	expect("SELECT count(*) FROM pragma_table_info('DeviceProcessEvents')"
	       " WHERE name IN ('SHA1', 'ContainerName')",
	       "0");
	vg_store_close(st);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	expect("SELECT group_concat(name, ',') FROM (SELECT name FROM"
	       " pragma_table_info('DeviceProcessEvents') WHERE cid >= 25 ORDER BY cid)",
	       "FileSize,InitiatingProcessSHA256,InitiatingProcessSHA1,InitiatingProcessFileSize,"
	       "ContainerId,Distribution,SHA1,ContainerName");
	expect("SELECT count(*) FROM pragma_table_info('SensorDaemon') WHERE name = 'HashLate'",
	       "1");
}

Test(fmt, iso_time)
{
	char b[VG_ISO_LEN];

	cr_assert_str_eq(vg_iso_time(b, 0), "1970-01-01T00:00:00.000Z");
	cr_assert_str_eq(vg_iso_time(b, T0), "2026-11-26T12:00:00.123Z");
	cr_assert_str_eq(vg_iso_time(b, 951782400999999999ull), "2000-02-29T00:00:00.999Z");
	cr_assert_str_eq(vg_iso_time(b, 4102444799000000000ull), "2099-12-31T23:59:59.000Z");
}

Test(fmt, json_escaping)
{
	struct vg_sb b;

	vg_sb_init(&b);
	vg_json_str(&b, "a\"b\\c\n\t\x1f\x7f"
			"é");
	cr_assert_str_eq(vg_sb_str(&b), "\"a\\\"b\\\\c\\n\\t\\u001f\\u007f"
					"é\"");
	vg_sb_free(&b);
}

Test(fmt, basename)
{
	cr_assert_str_eq(vg_basename("/usr/bin/curl"), "curl");
	cr_assert_str_eq(vg_basename("curl"), "curl");
	cr_assert_str_eq(vg_basename("/"), "");
}
