// SPDX-License-Identifier: GPL-2.0-only
/*
 * End to end: the real `vigil host` binary ($VIGIL, else build/vigil) on a
 * unix socket and with a spawned stand-in for vigild, checked through the
 * ACKs it sends and the SQLite file it writes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "batch.h"
#include "frame.h"
#include "wire.h"

static char dir[64], db[128], sock[128], errlog[128];

static const char *vigil_bin(void)
{
	const char *v = getenv("VIGIL");

	return v && *v ? v : "build/vigil";
}

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-host-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/h.db", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(errlog, sizeof(errlog), "%s/stderr", dir);
	if (access(vigil_bin(), X_OK))
		cr_skip_test("no vigil binary at %s (set VIGIL)", vigil_bin());
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

static pid_t run_vigil(char *const argv[])
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execv(vigil_bin(), argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	int st;

	for (int t = 0; t < timeout_ms; t += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("vigil did not exit within %d ms", timeout_ms);
	return -1;
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* A frame holding a batch of one event with the given report id. */
static uint8_t *mkbatch(uint64_t seq, uint64_t report_id, const char *device, size_t *len)
{
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[] = { &ev };
	Vigil__V1__DeviceInfo d = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = seq };
	uint8_t *z, *f;
	size_t zlen;

	p.pid = 100;
	p.exe = "/usr/bin/true";
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &p;
	ev.report_id = report_id;
	ev.time_ns = 1795694400000000000ull + report_id;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	b.n_events = 1;
	b.events = evs;
	if (device) {
		d.device_id = (char *)device;
		b.device = &d;
	}
	cr_assert_eq(vg_batch_pack(&b, 1, &z, &zlen), 0);
	f = malloc(VG_FRAME_HDR_LEN + zlen);
	h.len = (uint32_t)zlen;
	vg_frame_hdr_pack(f, &h, z);
	memcpy(f + VG_FRAME_HDR_LEN, z, zlen);
	free(z);
	*len = VG_FRAME_HDR_LEN + zlen;
	return f;
}

static int connect_host(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, sock);
	for (int t = 0; t < 300; t++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	cr_assert_fail("cannot connect to %s", sock);
	return -1;
}

static void send_all(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* Read one ACK; its seq, or -1 on EOF. */
static int64_t read_ack(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t raw[VG_ACK_FRAME_LEN];
	struct vg_frame_hdr h;
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n;

		cr_assert_eq(poll(&pfd, 1, 5000), 1, "no ACK within 5 s");
		n = read(fd, raw + got, sizeof(raw) - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	cr_assert_eq(vg_frame_hdr_unpack(raw, &h), 0);
	cr_assert_eq(h.type, VG_FRAME_ACK);
	/* The payload names the batch's stream (0 in these batches). */
	cr_assert_eq(h.len, 8);
	cr_assert_eq(vg_frame_verify(raw, &h, raw + VG_FRAME_HDR_LEN), 0);
	cr_assert_eq(vg_le64_get(raw + VG_FRAME_HDR_LEN), 0);
	return (int64_t)h.seq;
}

static long long count(const char *sql)
{
	sqlite3 *d;
	sqlite3_stmt *s;
	long long n = -1;

	/* -1 when the file or table is not there (yet). */
	if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(d);
		return -1;
	}
	sqlite3_busy_timeout(d, 2000);
	if (sqlite3_prepare_v2(d, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(d);
	return n;
}

TestSuite(host, .init = setup, .fini = teardown, .timeout = 30);

Test(host, listen_acks_and_isolates_a_bad_connection)
{
	char addr[140];
	char *argv[] = { "vigil", "host", "--db", db, "--listen", addr, NULL };
	size_t n1, n2, n3;
	uint8_t *f1 = mkbatch(1, 1, "dev-L", &n1);
	uint8_t *f2 = mkbatch(2, 2, NULL, &n2);
	uint8_t *bad = mkbatch(9, 9, "dev-X", &n3);
	struct stat st;
	pid_t pid;
	int a, b;

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	pid = run_vigil(argv);
	a = connect_host();
	b = connect_host();
	cr_assert_eq(stat(sock, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	send_all(a, f1, n1);
	cr_assert_eq(read_ack(a), 1);
	/* A corrupt payload byte: b is closed, a goes on. */
	bad[n3 - 1] ^= 0xff;
	send_all(b, bad, n3);
	cr_assert_eq(read_ack(b), -1, "the bad connection got an ACK");
	/* Split across writes, and then a resend of seq 1. */
	send_all(a, f2, 10);
	usleep(20000);
	send_all(a, f2 + 10, n2 - 10);
	cr_assert_eq(read_ack(a), 2);
	send_all(a, f1, n1);
	cr_assert_eq(read_ack(a), 1);

	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents"), 2);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = 'dev-L'"), 2);
	cr_assert_eq(count("SELECT count(*) FROM ReceivedFrames"), 2);
	cr_assert_eq(count("SELECT count(*) FROM DeviceInfo WHERE DeviceId = 'dev-X'"), 0);

	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
	cr_assert_neq(access(sock, F_OK), 0, "socket path left behind");
	cr_assert_not_null(strstr(slurp(errlog), "vigil: connection 2: "), "stderr: %s",
			   slurp(errlog));
	cr_assert_not_null(strstr(slurp(errlog), "(seq 9)"), "stderr: %s", slurp(errlog));
	close(a);
	close(b);
	free(f1);
	free(f2);
	free(bad);
}

/* A peer's PONG text is logged under lib/esc.h's rule: it cannot forge a log line. */
Test(host, pong_payload_logged_escaped)
{
	static const char text[] = "error: \x1b]0;pwned\x07\nvigil: connection 9: forged\xff";
	char addr[140], *log;
	char *argv[] = { "vigil", "host", "--db", db, "--listen", addr, NULL };
	struct vg_frame_hdr h = { .type = VG_FRAME_PONG, .seq = 7, .len = sizeof(text) - 1 };
	uint8_t pong[VG_FRAME_HDR_LEN + sizeof(text)];
	size_t n1, n2;
	uint8_t *f1 = mkbatch(1, 1, "dev-P", &n1), *f2 = mkbatch(2, 2, NULL, &n2);
	pid_t pid;
	int a;

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	pid = run_vigil(argv);
	a = connect_host();
	send_all(a, f1, n1);
	cr_assert_eq(read_ack(a), 1);
	vg_frame_hdr_pack(pong, &h, text);
	memcpy(pong + VG_FRAME_HDR_LEN, text, h.len);
	send_all(a, pong, VG_FRAME_HDR_LEN + h.len);
	send_all(a, f2, n2); /* its ACK: the PONG before it was handled */
	cr_assert_eq(read_ack(a), 2);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
	log = slurp(errlog);
	cr_assert_not_null(strstr(log, "update 7: error: \\x1b]0;pwned\\x07\\nvigil: connection 9:"
				       " forged\\xff\n"),
			   "stderr: %s", log);
	cr_assert_null(strchr(log, '\x1b'), "raw ESC in the log: %s", log);
	cr_assert_null(strstr(log, "\nvigil: connection 9: forged"), "forged line: %s", log);
	close(a);
	free(f1);
	free(f2);
}

/* A stand-in for vigild: send the frames in FRAMES, keep the ACKs, exit CODE. */
static void write_fake(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0700);
}

static void write_frames(const char *path, int nframes)
{
	FILE *f = fopen(path, "w");

	for (int i = 1; i <= nframes; i++) {
		size_t n;
		uint8_t *fr = mkbatch((uint64_t)i, (uint64_t)i, "dev-S", &n);

		fwrite(fr, 1, n, f);
		free(fr);
	}
	fclose(f);
}

Test(host, spawn_passes_stdio_and_args)
{
	char fake[140], frames[140], acks[140], args[140], body[600];
	char *argv[] = { "vigil", "host", "--db", db, "--spawn", fake, "--extra", "x y", NULL };
	char want[64];
	pid_t pid;

	snprintf(fake, sizeof(fake), "%s/fake", dir);
	snprintf(frames, sizeof(frames), "%s/frames", dir);
	snprintf(acks, sizeof(acks), "%s/acks", dir);
	snprintf(args, sizeof(args), "%s/args", dir);
	write_frames(frames, 3);
	snprintf(body, sizeof(body), "echo \"$*\" > %s\ncat %s\nhead -c %d > %s\nexit 0", args,
		 frames, 3 * VG_ACK_FRAME_LEN, acks);
	write_fake(fake, body);

	pid = run_vigil(argv);
	cr_assert_eq(wait_exit(pid, 10000), 0, "stderr: %s", slurp(errlog));
	snprintf(want, sizeof(want), "--transport stdio --ignore-pid %d --extra x y\n", pid);
	cr_assert_str_eq(slurp(args), want);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = 'dev-S'"), 3);
	{
		FILE *f = fopen(acks, "r");
		uint8_t raw[VG_FRAME_HDR_LEN];
		struct vg_frame_hdr h;

		cr_assert_not_null(f);
		for (uint64_t seq = 1; seq <= 3; seq++) {
			uint8_t stream[8];

			cr_assert_eq(fread(raw, 1, sizeof(raw), f), sizeof(raw));
			cr_assert_eq(vg_frame_hdr_unpack(raw, &h), 0);
			cr_assert_eq(h.type, VG_FRAME_ACK);
			cr_assert_eq(h.seq, seq);
			cr_assert_eq(fread(stream, 1, 8, f), 8);
		}
		fclose(f);
	}
}

Test(host, spawn_reports_failed_vigild)
{
	char fake[140];
	char *argv[] = { "vigil", "host", "--db", db, "--spawn", fake, NULL };
	pid_t pid;

	snprintf(fake, sizeof(fake), "%s/fake", dir);
	write_fake(fake, "exit 3");
	pid = run_vigil(argv);
	cr_assert_eq(wait_exit(pid, 10000), 1);
	cr_assert_not_null(strstr(slurp(errlog), "vigil: vigild exited with status 3"),
			   "stderr: %s", slurp(errlog));
}

Test(host, spawn_sigterm_stops_vigild_after_drain)
{
	char fake[140], frames[140], body[400];
	char *argv[] = { "vigil", "host", "--db", db, "--spawn", fake, NULL };
	pid_t pid;

	snprintf(fake, sizeof(fake), "%s/fake", dir);
	snprintf(frames, sizeof(frames), "%s/frames", dir);
	write_frames(frames, 2);
	/* On SIGTERM: one more batch (the drain), then a clean exit. */
	snprintf(body, sizeof(body),
		 "trap 'cat %s.last; exit 0' TERM\ncat %s\nwhile :; do sleep 0.05; done", frames,
		 frames);
	write_fake(fake, body);
	{
		char last[160];
		FILE *f;
		size_t n;
		uint8_t *fr = mkbatch(3, 3, NULL, &n);

		snprintf(last, sizeof(last), "%s.last", frames);
		f = fopen(last, "w");
		fwrite(fr, 1, n, f);
		fclose(f);
		free(fr);
	}
	pid = run_vigil(argv);
	for (int t = 0; t < 500 && count("SELECT count(*) FROM ReceivedFrames") < 2; t++)
		usleep(10000);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 10000), 0, "stderr: %s", slurp(errlog));
	cr_assert_eq(count("SELECT count(*) FROM ReceivedFrames"), 3);
}

Test(host, usage_errors_exit_2)
{
	char *argv[] = { "vigil", "host", "--db", db, "--bogus", NULL };
	char *argv2[] = { "vigil", "frobnicate", NULL };
	char *argv3[] = { "vigil", "events", "--db", db, NULL };

	cr_assert_eq(wait_exit(run_vigil(argv), 5000), 2);
	cr_assert_not_null(strstr(slurp(errlog), "--bogus"));
	cr_assert_eq(wait_exit(run_vigil(argv2), 5000), 2);
	cr_assert_eq(wait_exit(run_vigil(argv3), 5000), 1);
	cr_assert_not_null(strstr(slurp(errlog), "vigil: events: cannot open"));
	cr_assert_neq(access(db, F_OK), 0, "events created the database");
}

/* Beyond loopback, anyone who reaches the port could speak for any device: not without keys. */
Test(host, tcp_beyond_loopback_needs_keys)
{
	char addr[64], keys[160];
	char *argv[] = { "vigil", "host", "--db", db, "--no-rules", "--listen", addr, NULL };
	char *argk[] = { "vigil",    "host", "--db",   db,   "--no-rules",
			 "--listen", addr,   "--keys", keys, NULL };
	FILE *f;
	pid_t pid;

	snprintf(addr, sizeof(addr), "tcp:0.0.0.0:%d", 20000 + getpid() % 20000);
	pid = run_vigil(argv);
	cr_assert_eq(wait_exit(pid, 5000), 1, "stderr: %s", slurp(errlog));
	cr_assert_not_null(strstr(slurp(errlog), "not a loopback address"), "stderr: %s",
			   slurp(errlog));

	/* With keys it starts, and stops cleanly. */
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	f = fopen(keys, "w");
	cr_assert_not_null(f);
	fputs("devA 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", f);
	fclose(f);
	chmod(keys, 0640);
	pid = run_vigil(argk);
	cr_assert_eq(wait_exit(pid, 5000), 1, "a group-readable key file was taken");
	cr_assert_not_null(strstr(slurp(errlog), "not readable or writable by group"), "stderr: %s",
			   slurp(errlog));
	chmod(keys, 0600);
	pid = run_vigil(argk);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(20000 + getpid() % 20000),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = -1, up = 0;

		for (int t = 0; t < 500 && !up; t++) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
			close(fd);
			if (!up)
				usleep(10000);
		}
		cr_assert(up, "the host with --keys did not listen; stderr: %s", slurp(errlog));
	}
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
}

/*
 * Whoever can open the unix socket (here: its mode widened after the host
 * checked it) is not believed unless root: uid 65534 must prove a key.
 */
Test(host, unix_peer_not_root_needs_a_key)
{
	char addr[140];
	char *argv[] = { "vigil", "host", "--db", db, "--no-rules", "--listen", addr, NULL };
	size_t n;
	uint8_t *f = mkbatch(1, 1, "dev-R", &n);
	pid_t pid, child;
	int a, st;

	if (geteuid() != 0)
		cr_skip_test("needs root to act as another uid");
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	pid = run_vigil(argv);
	a = connect_host();
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(chmod(sock, 0666), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		int b;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		b = connect_host();
		send_all(b, f, n);
		_exit(read_ack(b) == -1 ? 0 : 1);
	}
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 got an ACK (status %d)", st);
	/* Root on the same socket is believed. */
	send_all(a, f, n);
	cr_assert_eq(read_ack(a), 1);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
	cr_assert_not_null(strstr(slurp(errlog), "not authenticated"), "stderr: %s", slurp(errlog));
	cr_assert_eq(count("SELECT count(*) FROM HostRefused WHERE Reason LIKE 'not auth%'"), 1);
	cr_assert_eq(count("SELECT count(*) FROM DeviceProcessEvents"), 1);
	close(a);
	free(f);
}

/* A connection that never says who it is is closed at the HELLO deadline, and counted. */
Test(host, silent_connection_closed_at_the_hello_deadline)
{
	char addr[140];
	char *argv[] = { "vigil",	    "host", "--db", db, "--no-rules", "--listen", addr,
			 "--hello-timeout", "1",    NULL };
	struct pollfd pfd = { .events = POLLIN };
	char c;
	pid_t pid;

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	pid = run_vigil(argv);
	pfd.fd = connect_host();
	/* Bounded only so a broken host cannot hang the test. */
	cr_assert_eq(poll(&pfd, 1, 20000), 1, "the host kept a silent connection open");
	cr_assert_eq(read(pfd.fd, &c, 1), 0);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
	cr_assert_eq(count("SELECT Count FROM HostRefused WHERE DeviceId = ''"
			   " AND Reason = 'no handshake or hello in time'"),
		     1, "stderr: %s", slurp(errlog));
	close(pfd.fd);
}

/*
 * Issue 15, finding 3: a 3 KB frame that decompresses to 16.7 million empty
 * events is refused before it is unpacked, the reason logged, the connection
 * closed; the host goes on serving others.
 */
Test(host, amplification_frame_refused_with_reason)
{
	char addr[140];
	char *argv[] = { "vigil", "host", "--db", db, "--listen", addr, NULL };
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = 5 };
	size_t rlen = VG_BATCH_MAX_DECODED, zcap = ZSTD_compressBound(rlen), zlen, n1;
	uint8_t *raw = malloc(rlen), *f = malloc(VG_FRAME_HDR_LEN + zcap);
	uint8_t *ok = mkbatch(1, 1, "dev-A", &n1);
	pid_t pid;
	int a, b;

	cr_assert(raw && f);
	for (size_t i = 0; i < rlen; i += 2)
		memcpy(raw + i, "\x1a\x00", 2);
	zlen = ZSTD_compress(f + VG_FRAME_HDR_LEN, zcap, raw, rlen, 3);
	cr_assert(!ZSTD_isError(zlen));
	free(raw);
	h.len = (uint32_t)zlen;
	vg_frame_hdr_pack(f, &h, f + VG_FRAME_HDR_LEN);

	snprintf(addr, sizeof(addr), "unix:%s", sock);
	pid = run_vigil(argv);
	a = connect_host();
	b = connect_host();
	send_all(b, f, VG_FRAME_HDR_LEN + zlen);
	cr_assert_eq(read_ack(b), -1, "the amplification frame was acknowledged");
	send_all(a, ok, n1);
	cr_assert_eq(read_ack(a), 1);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_exit(pid, 5000), 0, "stderr: %s", slurp(errlog));
	cr_assert_not_null(strstr(slurp(errlog), "batch is over a bound: Batch.events: more than "
						 "65536 entries (seq 5)"),
			   "stderr: %s", slurp(errlog));
	close(a);
	close(b);
	free(f);
	free(ok);
}
