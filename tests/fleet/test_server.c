// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil server end to end on this machine: a throwaway PostgreSQL
 * (scripts/pgtest.sh), a CA and a server certificate made now with certtool,
 * the real `vigil server` process, requests with the real curl binary, and
 * the rows read back from PostgreSQL.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "fixture.h"
#include "frame.h"
#include "server.h"

static char token[128];
static pid_t server2 = -1;

/*
 * Each test calls setup() first, in its body: a failure there still runs the
 * suite's fini (a failed .init would skip it and leave PostgreSQL running).
 */
static void setup(void)
{
	fx_server_onboard();
}

static void cleanup(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
	if (server2 > 0) {
		kill(server2, SIGTERM);
		waitpid(server2, NULL, 0);
		server2 = -1;
	}
	fx_cleanup_dir();
}

static void teardown(void)
{
	cleanup();
}

/* One more request header for req(), e.g. "Transfer-Encoding: chunked". */
static const char *extra_header;

/*
 * A request with curl: the HTTP status, the body in body (NUL-terminated).
 * data: a file to POST (NULL: GET), auth: the bearer token (NULL: none).
 */
static int req(const char *path, const char *data, const char *auth, const char *ctype, char *body,
	       size_t size)
{
	char cmd[1024], code[16];
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd),
		 "curl -sS --cacert ca.pem -o resp.txt -D resp.hdr -w '%%{http_code}' %s%s"
		 " %s%s%s %s%s%s %s%s%s https://127.0.0.1:%d%s",
		 data ? "--data-binary @" : "", data ? data : "",
		 auth ? "-H 'Authorization: Bearer " : "", auth ? auth : "", auth ? "'" : "",
		 ctype ? "-H 'Content-Type: " : "", ctype ? ctype : "", ctype ? "'" : "",
		 extra_header ? "-H '" : "", extra_header ? extra_header : "",
		 extra_header ? "'" : "", port, path);
	sh_line(code, sizeof(code), cmd);
	f = fopen("resp.txt", "r");
	n = f ? fread(body, 1, size - 1, f) : 0;
	body[n] = 0;
	if (f)
		fclose(f);
	return atoi(code);
}

static int has_retry_after(void)
{
	return system("grep -qi '^Retry-After: [0-9]' resp.hdr") == 0;
}

static int write_file(const char *name, const void *buf, size_t len)
{
	FILE *f = fopen(name, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	return fclose(f);
}

static void write_str(const char *name, const char *s)
{
	write_file(name, s, strlen(s));
}

static void enroll(const char *dev)
{
	char secret[128], body[512], json[512];
	FILE *f = fopen("ob.txt", "r");
	char *p;

	cr_assert_not_null(f);
	while (fgets(secret, sizeof(secret), f) && strncmp(secret, "secret=", 7))
		;
	fclose(f);
	secret[strcspn(secret, "\n")] = 0;
	snprintf(json, sizeof(json),
		 "{\"secret\":\"%s\",\"device_id\":\"%s\",\"device_name\":\"N\"}", secret + 7, dev);
	write_file("enroll.json", json, strlen(json));
	cr_assert_eq(req("/v1/enroll", "enroll.json", NULL, NULL, body, sizeof(body)), 200, "%s",
		     body);
	p = strstr(body, "\"token\":\"");
	cr_assert_not_null(p, "%s", body);
	snprintf(token, sizeof(token), "%.64s", p + 9);
}

static char *argv_sh[] = { "/bin/sh", "-c", "exit 7" };

/* The stream id of batch_file()'s batches. */
static uint64_t batch_stream = 77;

/*
 * A batch of one process event from dev (host: its HostDeviceId; dev NULL: a
 * batch that names no device, as vigild's after a stream's first), framed as
 * vigild sends it.
 */
static void batch_file(const char *name, const char *dev, const char *host, uint64_t seq)
{
	Vigil__V1__Process proc = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[1] = { &ev };
	Vigil__V1__Counter cnt = VIGIL__V1__COUNTER__INIT, *cs[1] = { &cnt };
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;

	proc.pid = 4242;
	proc.ppid = 4200;
	proc.exe = "/usr/bin/dash";
	proc.n_argv = 3;
	proc.argv = argv_sh;
	proc.user = "root";
	/* A WSL instance's process runs in a distribution; a Linux host's in none. */
	proc.distribution = host && *host ? "Ubuntu-22.04" : "";
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &proc;
	ev.report_id = 10;
	ev.time_ns = 1795694400123000000ull;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	cnt.event_class = "exec";
	cnt.seen = 10;
	cnt.emitted = 7;
	di.device_id = (char *)dev;
	di.device_name = "DESKTOP";
	di.os_platform = "Linux";
	di.host_device_id = (char *)host;
	b.device = dev ? &di : NULL;
	b.stream_id = batch_stream;
	b.n_events = 1;
	b.events = evs;
	b.n_counters = 1;
	b.counters = cs;
	fx_frame_file(name, &b, seq);
}

/* src with its last byte flipped, into dst: a frame whose crc does not match. */
static void crc_broken_file(const char *src, const char *dst)
{
	uint8_t buf[512];
	FILE *f = fopen(src, "rb");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	cr_assert_gt(n, VG_FRAME_HDR_LEN);
	buf[n - 1] ^= 0xff;
	write_file(dst, buf, n);
}

/* A whole frame, crc and all, whose payload is no zstd batch. */
static void not_zstd_file(const char *name, uint64_t seq)
{
	struct vg_frame_hdr h = {
		.type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = seq, .len = 8
	};
	uint8_t fr[VG_FRAME_HDR_LEN + 8] = { 0 };

	memcpy(fr + VG_FRAME_HDR_LEN, "notzstd!", 8);
	vg_frame_hdr_pack(fr, &h, fr + VG_FRAME_HDR_LEN);
	write_file(name, fr, sizeof(fr));
}

#define FRAME "application/vnd.vigil.frame"

TestSuite(server, .fini = teardown);

Test(server, health_enroll_and_tokens)
{
	char body[4096];

	setup();
	cr_assert_eq(req("/v1/health", NULL, NULL, NULL, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"status\":\"ok\",\"database\":\"ok\"}");
	/* A target in absolute form (Wine's WinHTTP sends it in a proxy's tunnel) is its path. */
	{
		char cmd[512], code[16];

		snprintf(cmd, sizeof(cmd),
			 "curl -sS --cacert ca.pem -o resp.txt -w '%%{http_code}' --request-target"
			 " https://127.0.0.1:%d/v1/health https://127.0.0.1:%d/",
			 port, port);
		sh_line(code, sizeof(code), cmd);
		cr_assert_str_eq(code, "200");
	}
	write_str("bad.json", "{\"secret\":\"nope\",\"device_id\":\"dev-A\"}");
	cr_assert_eq(req("/v1/enroll", "bad.json", NULL, NULL, body, sizeof(body)), 401, "%s",
		     body);
	write_str("junk.json", "{\"secret\":1}");
	cr_assert_eq(req("/v1/enroll", "junk.json", NULL, NULL, body, sizeof(body)), 400, "%s",
		     body);
	enroll("dev-A");
	cr_assert_eq(strlen(token), 64);
	/* Only the token's hash is kept. */
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"EnrolledDevices\" WHERE \"TokenHash\" ="
			     " encode(sha256(convert_to(\"DeviceId\", 'UTF8')), 'hex') OR"
			     " \"TokenHash\" LIKE '%' || \"DeviceId\""),
			 "0");
	{
		char sql[256];

		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM \"EnrolledDevices\" WHERE \"TokenHash\" = '%s'",
			 token);
		cr_assert_str_eq(pgq(sql), "0");
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM \"EnrolledDevices\" WHERE \"TokenHash\" ="
			 " encode(sha256('%s'), 'hex') AND \"DeviceId\" = 'dev-A'",
			 token);
		cr_assert_str_eq(pgq(sql), "1");
	}
	batch_file("a1.frame", "dev-A", "", 1);
	cr_assert_eq(req("/v1/batches", "a1.frame", NULL, FRAME, body, sizeof(body)), 401);
	cr_assert_eq(req("/v1/batches", "a1.frame",
			 "0000000000000000000000000000000000000000000000000000000000000000", FRAME,
			 body, sizeof(body)),
		     401);
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "0");
}

Test(server, batches_exactly_once_and_authorized)
{
	char body[4096];

	setup();
	enroll("dev-A");
	batch_file("a1.frame", "dev-A", "", 1);
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"stored\":true}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceProcessEvents\""), "1");
	cr_assert_str_eq(pgq("SELECT \"DeviceId\" || '|' || \"ActionType\" || '|' ||"
			     " \"ProcessCommandLine\" || '|' || \"FileName\" || '|' ||"
			     " \"Timestamp\" AT TIME ZONE 'UTC' FROM \"DeviceProcessEvents\""),
			 "dev-A|ProcessCreated|/bin/sh -c 'exit 7'|dash|2026-11-26 12:00:00.123");
	cr_assert_str_eq(pgq("SELECT \"Seen\" || '/' || \"Emitted\" FROM \"SensorCounters\""
			     " WHERE \"DeviceId\" = 'dev-A' AND \"EventClass\" = 'exec'"),
			 "10/7");
	cr_assert_str_eq(
		pgq("SELECT \"OSPlatform\" FROM \"DeviceInfo\" WHERE \"DeviceId\" = 'dev-A'"),
		"Linux");

	/* The resend of a stored batch: acknowledged, not stored twice. */
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"stored\":false}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceProcessEvents\""), "1");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "1");

	/* A later batch of the stream names no device: it is the stream's. */
	batch_file("a3.frame", NULL, NULL, 3);
	cr_assert_eq(req("/v1/batches", "a3.frame", token, FRAME, body, sizeof(body)), 200, "%s",
		     body);
	cr_assert_str_eq(body, "{\"stored\":true}");
	cr_assert_str_eq(pgq("SELECT count(*) || ' ' || min(\"DeviceName\") FROM"
			     " \"DeviceProcessEvents\" WHERE \"DeviceId\" = 'dev-A'"),
			 "2 DESKTOP");
	batch_stream = 78;
	batch_file("s78.frame", NULL, NULL, 1);
	batch_stream = 77;
	cr_assert_eq(req("/v1/batches", "s78.frame", token, FRAME, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"batch without its device, and no batch of stream 78"
			       " stored\"}");

	/* The WSL instance this host runs writes through it. */
	batch_file("w1.frame", "wsl-A", "dev-A", 1);
	cr_assert_eq(req("/v1/batches", "w1.frame", token, FRAME, body, sizeof(body)), 200, "%s",
		     body);
	cr_assert_str_eq(body, "{\"stored\":true}");
	cr_assert_str_eq(pgq("SELECT \"HostDeviceId\" FROM \"DeviceInfo\" WHERE \"DeviceId\" ="
			     " 'wsl-A'"),
			 "dev-A");
	cr_assert_str_eq(pgq("SELECT string_agg(\"DeviceId\" || ' ' || coalesce(\"Distribution\","
			     " 'null'), ', ' ORDER BY \"DeviceId\") FROM \"DeviceProcessEvents\""),
			 "dev-A null, dev-A null, wsl-A Ubuntu-22.04");

	/* Another host's device: refused and counted, nothing stored. */
	batch_file("b1.frame", "dev-B", "", 1);
	cr_assert_eq(req("/v1/batches", "b1.frame", token, FRAME, body, sizeof(body)), 403, "%s",
		     body);
	cr_assert_eq(req("/v1/batches", "b1.frame", token, FRAME, body, sizeof(body)), 403);
	cr_assert_str_eq(
		pgq("SELECT \"Count\" FROM \"ServerRefused\" WHERE \"DeviceId\" = 'dev-A'"), "2");
	cr_assert_str_eq(
		pgq("SELECT count(*) FROM \"ReceivedFrames\" WHERE \"DeviceId\" = 'dev-B'"), "0");
	/* Nor may it claim an enrolled host as its WSL instance. */
	{
		char tok_a[128];

		strcpy(tok_a, token);
		enroll("dev-C");
		batch_file("c1.frame", "dev-C", "dev-A", 5);
		cr_assert_eq(req("/v1/batches", "c1.frame", tok_a, FRAME, body, sizeof(body)), 403);
		strcpy(token, tok_a);
	}

	/* Revoked: 403 at once. */
	sh("'%s' server revoke --pg '%s' dev-A >/dev/null", vigil(), conninfo);
	batch_file("a2.frame", "dev-A", "", 2);
	cr_assert_eq(req("/v1/batches", "a2.frame", token, FRAME, body, sizeof(body)), 403);
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\" WHERE \"Seq\" = 2"), "0");
}

Test(server, malformed_and_oversized)
{
	char body[4096];

	setup();
	enroll("dev-A");
	/* Not a frame, a frame with a bad crc, a frame whose payload is not a batch. */
	write_str("junk.frame", "hello, server");
	cr_assert_eq(req("/v1/batches", "junk.frame", token, FRAME, body, sizeof(body)), 400);
	cr_assert_not_null(strstr(body, "frame"), "%s", body);
	batch_file("a1.frame", "dev-A", "", 1);
	crc_broken_file("a1.frame", "crc.frame");
	cr_assert_eq(req("/v1/batches", "crc.frame", token, FRAME, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"frame crc mismatch\"}");
	not_zstd_file("nz.frame", 3);
	cr_assert_eq(req("/v1/batches", "nz.frame", token, FRAME, body, sizeof(body)), 400);
	cr_assert_not_null(strstr(body, "batch"), "%s", body);
	/* A body over the bound. */
	sh("head -c %u /dev/zero > big.frame", 24u + (4u << 20) + 1);
	cr_assert_eq(req("/v1/batches", "big.frame", token, FRAME, body, sizeof(body)), 413);
	/* The same without a length up front (chunked): read, dropped past the bound, 413. */
	extra_header = "Transfer-Encoding: chunked";
	cr_assert_eq(req("/v1/batches", "big.frame", token, FRAME, body, sizeof(body)), 413);
	extra_header = NULL;
	cr_assert_str_eq(body, "{\"error\":\"body over the limit\"}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "0");
	/* The server serves the others still, and the good batch. */
	cr_assert_eq(req("/v1/health", NULL, NULL, NULL, body, sizeof(body)), 200);
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"stored\":true}");
	cr_assert_eq(system("grep -q 'refused a batch of dev-A: frame crc mismatch' server.log"),
		     0);
}

#define FRAMES "application/vnd.vigil.frames"

/* The files (NULL-terminated) back to back into out: a body of several frames. */
static void cat_files(const char *out, ...)
{
	char cmd[1024] = "cat";
	const char *f;
	va_list ap;

	va_start(ap, out);
	while ((f = va_arg(ap, const char *)))
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s", f);
	va_end(ap);
	sh("%s > %s", cmd, out);
}

/*
 * Several frames in one request: stored in order in one transaction, each
 * exactly once and answered by its place; a malformed frame or another
 * device's in the middle is refused alone (400, 403 by index) and the others
 * are stored; a body whose framing breaks, or with more frames than the
 * bound, is refused whole with nothing stored; a body over the byte bound is
 * refused from its headers.
 */
Test(server, several_frames_in_one_request)
{
	char body[8192], sql[256];

	setup();
	enroll("dev-A");
	/* The stream's first frame names the device, the next two do not: the same request. */
	batch_file("a1.frame", "dev-A", "", 1);
	batch_file("a2.frame", NULL, NULL, 2);
	batch_file("a3.frame", NULL, NULL, 3);
	cat_files("a123.frames", "a1.frame", "a2.frame", "a3.frame", NULL);
	cr_assert_eq(req("/v1/batches", "a123.frames", token, FRAMES, body, sizeof(body)), 200,
		     "%s", body);
	cr_assert_str_eq(body,
			 "{\"frames\":[{\"stored\":true},{\"stored\":true},{\"stored\":true}]}");
	cr_assert_str_eq(pgq("SELECT string_agg(\"Seq\"::text, ',' ORDER BY \"Seq\") ||"
			     " ' ' || count(DISTINCT \"Timestamp\") FROM \"ReceivedFrames\""),
			 "1,2,3 1", "one request, one transaction");
	cr_assert_str_eq(pgq("SELECT count(*) || ' ' || min(\"DeviceId\") FROM"
			     " \"DeviceProcessEvents\""),
			 "3 dev-A");
	/* The same request again: every frame acknowledged, none stored twice. */
	cr_assert_eq(req("/v1/batches", "a123.frames", token, FRAMES, body, sizeof(body)), 200);
	cr_assert_str_eq(body,
			 "{\"frames\":[{\"stored\":false},{\"stored\":false},{\"stored\":false}]}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceProcessEvents\""), "3");

	/* A frame with a bad crc and one whose batch is no batch, between good ones. */
	batch_file("a4.frame", NULL, NULL, 4);
	batch_file("a5.frame", NULL, NULL, 5);
	crc_broken_file("a5.frame", "a5crc.frame");
	not_zstd_file("a6nz.frame", 6);
	batch_file("a7.frame", NULL, NULL, 7);
	cat_files("bad.frames", "a4.frame", "a5crc.frame", "a6nz.frame", "a7.frame", NULL);
	cr_assert_eq(req("/v1/batches", "bad.frames", token, FRAMES, body, sizeof(body)), 200, "%s",
		     body);
	cr_assert_str_eq(body, "{\"frames\":[{\"stored\":true},{\"status\":400,\"error\":\"frame"
			       " crc mismatch\"},{\"status\":400,\"error\":\"batch: Bad"
			       " message\"},{\"stored\":true}]}");
	cr_assert_str_eq(pgq("SELECT string_agg(\"Seq\"::text, ',' ORDER BY \"Seq\") FROM"
			     " \"ReceivedFrames\""),
			 "1,2,3,4,7");

	/* Another host's device in the middle: 403 at its place, counted; the others stored. */
	batch_file("a8.frame", NULL, NULL, 8);
	batch_file("b1.frame", "dev-B", "", 1);
	batch_file("a9.frame", NULL, NULL, 9);
	cat_files("foreign.frames", "a8.frame", "b1.frame", "a9.frame", NULL);
	cr_assert_eq(req("/v1/batches", "foreign.frames", token, FRAMES, body, sizeof(body)), 200,
		     "%s", body);
	cr_assert_str_eq(body, "{\"frames\":[{\"stored\":true},{\"status\":403,\"error\":\"device"
			       " is not the credential's and not a WSL instance of it\"},"
			       "{\"stored\":true}]}");
	cr_assert_str_eq(pgq("SELECT string_agg(\"DeviceId\" || ':' || \"Seq\", ',' ORDER BY"
			     " \"Seq\") FROM \"ReceivedFrames\" WHERE \"Seq\" >= 8"),
			 "dev-A:8,dev-A:9");
	cr_assert_str_eq(
		pgq("SELECT \"Count\" FROM \"ServerRefused\" WHERE \"DeviceId\" = 'dev-A'"), "1");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceProcessEvents\""), "7");

	/* The framing breaks after a good frame: refused whole, the good one not stored either. */
	batch_file("a10.frame", NULL, NULL, 10);
	write_str("junk.bin", "these thirty bytes are no frame");
	cat_files("broken.frames", "a10.frame", "junk.bin", NULL);
	cr_assert_eq(req("/v1/batches", "broken.frames", token, FRAMES, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"frame 1: frame header: bad frame magic\"}");
	/* A frame cut short at the end. */
	sh("head -c -3 a10.frame > cut.frame");
	cat_files("cut.frames", "a10.frame", "cut.frame", NULL);
	cr_assert_eq(req("/v1/batches", "cut.frames", token, FRAMES, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"frame 1: frame length past the body's end\"}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\" WHERE \"Seq\" = 10"), "0");
	/* More frames than the bound (64). */
	sh("for i in $(seq 65); do cat a10.frame; done > many.frames");
	cr_assert_eq(req("/v1/batches", "many.frames", token, FRAMES, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"more than 64 frames\"}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\" WHERE \"Seq\" = 10"), "0");
	/* 64 are taken: the same frame 64 times is stored once. */
	sh("for i in $(seq 64); do cat a10.frame; done > many.frames");
	cr_assert_eq(req("/v1/batches", "many.frames", token, FRAMES, body, sizeof(body)), 200);
	cr_assert_eq(strncmp(body, "{\"frames\":[{\"stored\":true},{\"stored\":false},", 44), 0,
		     "%s", body);
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\" WHERE \"Seq\" = 10"), "1");

	/*
	 * A body declared over the bound is refused from its headers: the
	 * answer comes though the 4 MiB it announces never do.
	 */
	extra_header = "Content-Length: 4194329";
	cr_assert_eq(req("/v1/batches", "a10.frame", token, FRAMES, body, sizeof(body)), 413);
	extra_header = NULL;
	cr_assert_str_eq(body, "{\"error\":\"body over the limit\"}");
	/* An unknown type still says which it takes. */
	cr_assert_eq(req("/v1/batches", "a10.frame", token, "text/plain", body, sizeof(body)), 415);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"DeviceProcessEvents\"");
	cr_assert_str_eq(pgq(sql), "8");
	cr_assert_eq(system("grep -q 'refused frame 1 of 4 of dev-A: frame crc mismatch'"
			    " server.log"),
		     0);
}

/*
 * Frames that each decode within a batch's bound (32 MiB) but together past
 * it: the request is refused whole (413), nothing stored, whatever the 4 MiB
 * of zstd they came in.
 */
Test(server, several_frames_decoding_over_the_bound)
{
	Vigil__V1__Process proc = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[1] = { &ev };
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	char body[4096], name[32], *arg = malloc(5u << 20), *argv1[1] = { arg };
	char cmd[512] = "cat";

	setup();
	enroll("dev-A");
	cr_assert_not_null(arg);
	memset(arg, 'A', (5u << 20) - 1);
	arg[(5u << 20) - 1] = 0;
	proc.pid = 4242;
	proc.exe = "/usr/bin/dash";
	proc.n_argv = 1;
	proc.argv = argv1;
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &proc;
	ev.time_ns = 1795694400123000000ull;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	di.device_id = "dev-A";
	di.os_platform = "Linux";
	b.stream_id = 90;
	b.n_events = 1;
	b.events = evs;
	/* Seven frames of a 5 MiB command line each: 35 MiB decoded, a few KiB sent. */
	for (int i = 1; i <= 7; i++) {
		b.device = i == 1 ? &di : NULL;
		snprintf(name, sizeof(name), "big%d.frame", i);
		fx_frame_file(name, &b, (uint64_t)i);
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s", name);
	}
	free(arg);
	sh("%s > big.frames; test $(stat -c %%s big.frames) -lt 100000", cmd);
	cr_assert_eq(req("/v1/batches", "big.frames", token, FRAMES, body, sizeof(body)), 413, "%s",
		     body);
	cr_assert_str_eq(body, "{\"error\":\"frames decoding to over 32 MiB together: send"
			       " fewer\"}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "0");
	/* Each alone is taken. */
	cr_assert_eq(req("/v1/batches", "big1.frame", token, FRAME, body, sizeof(body)), 200, "%s",
		     body);
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "1");
}

Test(server, database_down_is_503)
{
	char body[4096];

	setup();
	enroll("dev-A");
	batch_file("a1.frame", "dev-A", "", 1);
	sh("%s/scripts/pgtest.sh stop %s/pg", srcdir(), dir);
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 503, "%s",
		     body);
	cr_assert(has_retry_after());
	cr_assert_eq(req("/v1/health", NULL, NULL, NULL, body, sizeof(body)), 503);
	cr_assert(has_retry_after());
	cr_assert_not_null(strstr(body, "\"status\":\"degraded\""), "%s", body);
}

/* The event kinds besides processes, each into its table, and text that is not UTF-8. */
Test(server, every_event_kind)
{
	Vigil__V1__Process proc = VIGIL__V1__PROCESS__INIT, badproc;
	uint8_t digest[32];
	Vigil__V1__FileEvent fe = VIGIL__V1__FILE_EVENT__INIT;
	Vigil__V1__NetworkEvent ne = VIGIL__V1__NETWORK_EVENT__INIT;
	Vigil__V1__SecurityEvent se = VIGIL__V1__SECURITY_EVENT__INIT;
	Vigil__V1__Detail det = VIGIL__V1__DETAIL__INIT, *dets[1] = { &det };
	Vigil__V1__Suppression su = VIGIL__V1__SUPPRESSION__INIT;
	Vigil__V1__Event ev[5], *evs[5];
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	char body[4096];

	setup();
	enroll("dev-A");
	proc.pid = 7;
	proc.exe = "/usr/bin/cp";
	proc.n_argv = 3;
	proc.argv = argv_sh;
	/* The image's digests (0x00, 0x01, ...), size and container. */
	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)i;
	proc.sha256 = (ProtobufCBinaryData){ .len = 32, .data = digest };
	proc.sha1 = (ProtobufCBinaryData){ .len = 20, .data = digest };
	proc.exe_size = 4096;
	proc.container_id = "c0ffee";
	proc.container_name = "web";
	proc.distribution = "Ubuntu-22.04";
	/* A forged sensor's digest of 5 bytes: stored without it, counted. */
	badproc = proc;
	badproc.sha256.len = 5;
	badproc.distribution = ""; /* outside WSL: NULL, as the local store */
	fe.action_type = "FileCreated";
	fe.process = &proc;
	fe.path = "/tmp/bad\xff.txt";
	fe.size = 77;
	fe.previous_path = "/tmp/a\tb\nc\\d\re"; /* what COPY's text format escapes */
	ne.action_type = "ConnectionSuccess";
	ne.process = &badproc;
	ne.protocol = "Tcp";
	ne.remote_ip = "192.0.2.7";
	ne.remote_port = 443;
	se.action_type = "KernelModuleLoad";
	se.process = &proc;
	se.file_path = "/lib/modules/x.ko";
	det.name = "ModuleName";
	det.value_case = VIGIL__V1__DETAIL__VALUE_TEXT;
	det.text = "x";
	se.n_details = 1;
	se.details = dets;
	su.reason = "RateLimited";
	su.event_class = "file";
	su.count = 12;
	for (int i = 0; i < 5; i++) {
		vigil__v1__event__init(&ev[i]);
		ev[i].time_ns = 1795694400123000000ull;
		ev[i].report_id = 100 + i;
		evs[i] = &ev[i];
	}
	ev[0].body_case = VIGIL__V1__EVENT__BODY_FILE;
	ev[0].file = &fe;
	ev[1].body_case = VIGIL__V1__EVENT__BODY_NETWORK;
	ev[1].network = &ne;
	ev[2].body_case = VIGIL__V1__EVENT__BODY_SECURITY;
	ev[2].security = &se;
	ev[3].body_case = VIGIL__V1__EVENT__BODY_SUPPRESSION;
	ev[3].suppression = &su;
	/* ev[4]: no body (a newer sensor's kind): skipped and counted. */
	di.device_id = "dev-A";
	b.device = &di;
	b.stream_id = 78;
	b.n_events = 5;
	b.events = evs;
	fx_frame_file("k.frame", &b, 9);

	cr_assert_eq(req("/v1/batches", "k.frame", token, FRAME, body, sizeof(body)), 200, "%s",
		     body);
	cr_assert_str_eq(body, "{\"stored\":true}");
	cr_assert_str_eq(pgq("SELECT \"FileName\" || '|' || \"FolderPath\" || '|' ||"
			     " \"InitiatingProcessFileName\" FROM \"DeviceFileEvents\""),
			 "bad\\xFF.txt|/tmp/bad\\xFF.txt|cp");
	cr_assert_str_eq(
		pgq("SELECT \"PreviousFolderPath\" = E'/tmp/a\\tb\\nc\\\\d\\re' AND"
		    " \"PreviousFileName\" = E'a\\tb\\nc\\\\d\\re' FROM \"DeviceFileEvents\""),
		"t");
	cr_assert_str_eq(pgq("SELECT \"RemoteIP\" || ':' || \"RemotePort\" || ' ' || \"Protocol\""
			     " FROM \"DeviceNetworkEvents\""),
			 "192.0.2.7:443 Tcp");
	cr_assert_str_eq(pgq("SELECT \"ActionType\" || '|' || \"FileName\" || '|' ||"
			     " \"AdditionalFields\" FROM \"DeviceEvents\""),
			 "KernelModuleLoad|x.ko|{\"ModuleName\":\"x\"}");
	cr_assert_str_eq(pgq("SELECT \"Reason\" || '|' || \"Count\" || '|' ||"
			     " coalesce(\"ActionType\", 'null') FROM \"SuppressedEvents\""),
			 "RateLimited|12|null");
	cr_assert_str_eq(
		pgq("SELECT \"InitiatingProcessSHA256\" || '|' || \"InitiatingProcessSHA1\""
		    " || '|' || \"InitiatingProcessFileSize\" || '|' || \"ContainerId\" || '|'"
		    " || \"ContainerName\" || '|' || \"FileSize\" FROM \"DeviceFileEvents\""),
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f|"
		"000102030405060708090a0b0c0d0e0f10111213|4096|c0ffee|web|77");
	cr_assert_str_eq(pgq("SELECT coalesce(\"InitiatingProcessSHA256\", 'null') || '|' ||"
			     " \"InitiatingProcessSHA1\" FROM \"DeviceNetworkEvents\""),
			 "null|000102030405060708090a0b0c0d0e0f10111213");
	/* Schema version 3's Distribution: the WSL distribution of the row's process. */
	cr_assert_str_eq(pgq("SELECT (SELECT \"Distribution\" FROM \"DeviceFileEvents\") || '|' ||"
			     " (SELECT \"Distribution\" FROM \"DeviceEvents\") || '|' ||"
			     " (SELECT coalesce(\"Distribution\", 'null') FROM"
			     " \"DeviceNetworkEvents\")"),
			 "Ubuntu-22.04|Ubuntu-22.04|null");
	cr_assert_str_eq(pgq("SELECT string_agg(\"Reason\" || '|' || \"Count\", ';' ORDER BY"
			     " \"Reason\") FROM \"HostSkippedEvents\""),
			 "digest of a wrong length (event stored without it)|1;"
			 "event without a body|1");
}

/* The server keeps no state: a second one on the same database knows what the first stored. */
Test(server, two_servers_one_database)
{
	char body[4096];
	int port1;

	setup();
	server2 = spawn_server("server2.log");
	port1 = port;
	port = server_port(server2, "server2.log");
	cr_assert_neq(port, port1);
	enroll("dev-A");
	batch_file("a1.frame", "dev-A", "", 1);
	port = port1;
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"stored\":true}");
	port = server_port(server2, "server2.log");
	cr_assert_eq(req("/v1/batches", "a1.frame", token, FRAME, body, sizeof(body)), 200);
	cr_assert_str_eq(body, "{\"stored\":false}");
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"DeviceProcessEvents\""), "1");
	cr_assert_eq(atoi(pgq("SELECT max(\"Version\") FROM \"SchemaVersion\"")),
		     VG_PG_SCHEMA_VERSION);
	/* Enrolment: escapes and a device enrolled twice. */
	cr_assert_eq(req("/v1/enroll", "enroll.json", NULL, NULL, body, sizeof(body)), 409, "%s",
		     body);
	write_str("dup.json", "{\"secret\":\"a\",\"secret\":\"b\",\"device_id\":\"x\"}");
	cr_assert_eq(req("/v1/enroll", "dup.json", NULL, NULL, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"duplicate member\"}");
	write_str("esc.json", "{\"secret\":\"a\\u0041\",\"device_id\":\"x\"}");
	cr_assert_eq(req("/v1/enroll", "esc.json", NULL, NULL, body, sizeof(body)), 400);
	cr_assert_str_eq(body, "{\"error\":\"unsupported escape in a string\"}");
}

/*
 * Backpressure: with --max-inflight 1, a batch whose body is still arriving
 * holds the only slot; the next is answered 429 with Retry-After before its
 * body is read, and once the first connection is gone the slot is free again.
 */
Test(server, batches_over_max_inflight_get_429)
{
	char body[4096], cmd[1024], pid[32];
	int seen = 0, freed = 0, restarts = 0;
	struct stat sb;

	setup();
	server2 = fork();
	cr_assert_neq(server2, -1);
	if (!server2) {
		if (!freopen("server2.log", "w", stderr))
			_exit(127);
		execl(vigil(), "vigil", "server", "--pg", conninfo, "--listen",
		      "https://127.0.0.1:0", "--cert", "srv.pem", "--key", "srv.key", "--threads",
		      "2", "--max-inflight", "1", (char *)NULL);
		_exit(127);
	}
	port = server_port(server2, "server2.log");
	enroll("dev-A");
	write_str("junk.frame", "hello, server");
	cr_assert_eq(req("/v1/batches", "junk.frame", token, FRAME, body, sizeof(body)), 400);
	/*
	 * 1 MiB at 16 KiB/s: in flight for a minute unless stopped. The probes
	 * below hold the one slot for a moment too, so the slow upload can be the
	 * one told 429: it writes its status only when it ends, and is then started again.
	 */
	sh("head -c 1048576 /dev/zero > slow.frame");
	snprintf(cmd, sizeof(cmd),
		 "curl -sS --cacert ca.pem --limit-rate 16k --data-binary"
		 " @slow.frame -H 'Authorization: Bearer %s' -H 'Content-Type: " FRAME "'"
		 " -o /dev/null -w '%%{http_code}' https://127.0.0.1:%d/v1/batches"
		 " >slow.status 2>/dev/null & echo $!",
		 token, port);
	unlink("slow.status");
	sh_line(pid, sizeof(pid), cmd);
	for (int t = 0; t < 300 && !seen; t++) {
		int st;

		usleep(100 * 1000);
		if (!stat("slow.status", &sb) && sb.st_size) {
			restarts++;
			unlink("slow.status");
			sh_line(pid, sizeof(pid), cmd);
			continue;
		}
		st = req("/v1/batches", "junk.frame", token, FRAME, body, sizeof(body));
		cr_assert(st == 400 || st == 429, "%d %s", st, body);
		seen = st == 429;
	}
	cr_assert(seen, "never 429 while a batch was in flight (slow upload started %d times)",
		  restarts + 1);
	if (restarts)
		cr_log_info("the slow upload was told 429 %d times, by a probe holding the slot",
			    restarts);
	cr_assert_str_eq(body, "{\"error\":\"server busy: too many batches in flight\"}");
	cr_assert_eq(system("grep -q '^Retry-After: 1' resp.hdr"), 0, "no Retry-After: 1");
	cr_assert_eq(kill(atoi(pid), SIGKILL), 0);
	for (int t = 0; t < 300 && !freed; t++) {
		freed = req("/v1/batches", "junk.frame", token, FRAME, body, sizeof(body)) == 400;
		if (!freed)
			usleep(100 * 1000);
	}
	cr_assert(freed, "the slot stayed taken after the connection closed: %s", body);
	cr_assert_str_eq(pgq("SELECT count(*) FROM \"ReceivedFrames\""), "0");
}
