// SPDX-License-Identifier: GPL-2.0-only
/*
 * The telemetry attackers' techniques leave: links, directories, extended
 * attributes and capabilities, inode flags, file times, signals and the
 * loader's environment. Each operation is done by this test process (or a
 * child it starts) with known arguments; the stored rows are counted
 * exactly and checked field by field, and the operations that must leave
 * nothing (failed, a plain touch, a harmless signal) leave nothing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[PATH_MAX];

/* vigil host with vigild's extra arguments (NULL: none), and a temp folder as the cwd. */
static void start_in_dir(const char *const *args)
{
	vg_t_host_start(&host, args);
	vg_t_tmpdir(dir, sizeof(dir), "vg-telemetry");
	cr_assert_eq(chdir(dir), 0);
}

static void setup(void)
{
	start_in_dir(NULL);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	if (dir[0] && !chdir("/"))
		vg_t_rmrf(dir);
}

TestSuite(telemetry, .init = setup, .fini = teardown, .timeout = 60);

/* The inode flags and file times tests: what the syscalls replace too, whatever the hook. */
static void setup_oldv(void)
{
	static const char *const args[] = { "--old-values", NULL };

	start_in_dir(args);
}

static char *at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0644);

	cr_assert_geq(fd, 0, "open %s", path);
	close(fd);
}

/* Rows of this process with this action on this file, once want are there (or 5 s passed). */
static long long rows(const char *action, const char *folder, long long want)
{
	return vg_t_wait_int(&host, want, want ? 10000 : 0,
			     "SELECT count(*) FROM DeviceFileEvents WHERE ActionType = '%s' AND"
			     " FolderPath = '%q' AND InitiatingProcessId = %d",
			     action, folder, getpid());
}

/* AdditionalFields of the last such row. */
static char *fields(const char *action, const char *folder)
{
	sqlite3 *db = vg_t_db_open(&host);
	char *v = vg_t_query_str(db,
				 "SELECT AdditionalFields FROM DeviceFileEvents WHERE ActionType ="
				 " '%s' AND FolderPath = '%q' ORDER BY rowid DESC LIMIT 1",
				 action, folder);

	sqlite3_close(db);
	cr_assert_not_null(v, "%s %s", action, folder);
	return v;
}

static void has(const char *json, const char *part)
{
	cr_expect_not_null(strstr(json, part), "%s not in %s", part, json);
}

/*
 * A marker operation last: once its row is stored, every earlier event of
 * this process was handled (one ring, in order), so "none" counts are exact.
 */
static void barrier(const char *name)
{
	cr_assert_eq(mkdir(name, 0700), 0);
	cr_assert_eq(rows("DirectoryCreated", at(name), 1), 1);
}

Test(telemetry, symlink_hard_link_and_mkdir)
{
	char *j;
	int dfd;

	touch("f");
	cr_assert_eq(symlink("../elsewhere/x", "l1"), 0);
	cr_assert_eq(mkdir("sub", 0750), 0);
	dfd = open("sub", O_DIRECTORY | O_RDONLY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(symlinkat("/etc/systemd/system/vg.service", dfd, "l2"), 0);
	cr_assert_eq(link("f", "sub/h"), 0);
	cr_assert_eq(linkat(AT_FDCWD, "f", dfd, "h2", 0), 0);
	close(dfd);
	/* failures are nothing: the link and the directory exist already */
	cr_assert_eq(symlink("x", "l1"), -1);
	cr_assert_eq(link("f", "sub/h"), -1);
	cr_assert_eq(mkdir("sub", 0750), -1);

	cr_expect_eq(rows("SymlinkCreated", at("l1"), 1), 1);
	j = fields("SymlinkCreated", at("l1"));
	has(j, "\"LinkTarget\":\"../elsewhere/x\"");
	free(j);
	cr_expect_eq(rows("SymlinkCreated", at("sub/l2"), 1), 1);
	j = fields("SymlinkCreated", at("sub/l2"));
	has(j, "\"LinkTarget\":\"/etc/systemd/system/vg.service\"");
	free(j);
	cr_expect_eq(rows("HardLinkCreated", at("sub/h"), 1), 1);
	j = fields("HardLinkCreated", at("sub/h"));
	has(j, "\"LinkTarget\":\"");
	has(j, at("f"));
	free(j);
	cr_expect_eq(rows("HardLinkCreated", at("sub/h2"), 1), 1);
	cr_expect_eq(rows("DirectoryCreated", at("sub"), 1), 1);
	j = fields("DirectoryCreated", at("sub"));
	has(j, "\"Mode\":\"0750\"");
	free(j);
	barrier("done");
	cr_expect_eq(rows("SymlinkCreated", at("l1"), 0), 1, "a failed symlink was recorded");
	cr_expect_eq(rows("HardLinkCreated", at("sub/h"), 0), 1);
	cr_expect_eq(rows("DirectoryCreated", at("sub"), 0), 1);
}

/* chattr +FLAG, then -FLAG, on the file of fd: what FS_IOC_SETFLAGS is asked. */
static void chattr_on_off(int fd, int flag)
{
	int flags;

	cr_assert_eq(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	flags |= flag;
	cr_assert_eq(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0, "chattr 0x%x: %s", flag,
		     strerror(errno));
	flags &= ~flag;
	cr_assert_eq(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
}

Test(telemetry, xattr_capabilities_chattr, .init = setup_oldv)
{
	struct vfs_cap_data cap = {
		.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
		.data[0].permitted = 1u << CAP_SETUID | 1u << CAP_NET_RAW,
	};
	int fd;
	char *j;

	touch("f");
	touch("g");
	cr_assert_eq(setxattr("f", "user.vg", "abc", 3, 0), 0);
	cr_assert_eq(setxattr("g", "security.capability", &cap, sizeof(cap), 0), 0);
	cr_assert_eq(rows("ExtendedAttributeSet", at("f"), 1), 1);
	j = fields("ExtendedAttributeSet", at("f"));
	has(j, "\"AttributeName\":\"user.vg\"");
	has(j, "\"AttributeSize\":3");
	cr_expect_null(strstr(j, "Capabilities"), "%s", j);
	free(j);
	cr_assert_eq(rows("ExtendedAttributeSet", at("g"), 1), 1);
	j = fields("ExtendedAttributeSet", at("g"));
	has(j, "\"AttributeName\":\"security.capability\"");
	has(j, "\"Capabilities\":\"cap_setuid,cap_net_raw\"");
	has(j, "\"CapabilitiesEffective\":true");
	free(j);

	/* chattr +i, then -i (so the file can go): two events; reading the flags is none */
	fd = open("f", O_RDONLY);
	cr_assert_geq(fd, 0);
	chattr_on_off(fd, FS_IMMUTABLE_FL);
	close(fd);
	cr_assert_eq(rows("FileAttributesChanged", at("f"), 2), 2);
	/* each with the flags before it: +i on a file that was not, -i on one that was */
	cr_expect_eq(vg_t_wait_int(&host, 1, 0,
				   "SELECT count(*) FROM DeviceFileEvents WHERE ActionType ="
				   " 'FileAttributesChanged' AND FolderPath = '%q' AND"
				   " json_extract(AdditionalFields, '$.Immutable') = 1 AND"
				   " json_extract(AdditionalFields, '$.OldImmutable') = 0 AND"
				   " json_extract(AdditionalFields, '$.OldAppendOnly') = 0",
				   at("f")),
		     1);
	cr_expect_eq(vg_t_wait_int(&host, 1, 0,
				   "SELECT count(*) FROM DeviceFileEvents WHERE ActionType ="
				   " 'FileAttributesChanged' AND FolderPath = '%q' AND"
				   " json_extract(AdditionalFields, '$.Immutable') IS NULL AND"
				   " json_extract(AdditionalFields, '$.OldImmutable') = 1",
				   at("f")),
		     1);
	barrier("done");
	cr_expect_eq(rows("FileAttributesChanged", at("f"), 0), 2);
	cr_expect_eq(rows("ExtendedAttributeSet", at("f"), 0), 1);
}

Test(telemetry, explicit_file_times_and_not_a_plain_touch, .init = setup_oldv)
{
	struct timespec ts[2] = { { 0, 0 }, { 86400, 5000000 } };
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 3600, 0 } };
	struct timeval tv[2] = { { 7200, 0 }, { 7200, 250000 } };
	int fd;
	char *j;

	struct timespec ts2[2] = { { 100, 0 }, { 200, 0 } };

	touch("f");
	touch("g");
	touch("h");
	touch("k");
	cr_assert_eq(utimensat(AT_FDCWD, "f", ts, 0), 0);
	/* k: times by path, then by fd (as touch -t does): the second knows the first's */
	cr_assert_eq(utimensat(AT_FDCWD, "k", ts, 0), 0);
	fd = open("k", O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(futimens(fd, ts2), 0);
	close(fd);
	cr_assert_eq(utimensat(AT_FDCWD, "f", NULL, 0), 0); /* touch: now, no event */
	fd = open("g", O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(futimens(fd, omit), 0);
	close(fd);
	cr_assert_eq(utimes("h", tv), 0);

	cr_expect_eq(rows("FileTimestampChanged", at("f"), 1), 1);
	j = fields("FileTimestampChanged", at("f"));
	has(j, "\"AccessTime\":\"1970-01-01T00:00:00.000Z\"");
	has(j, "\"ModificationTime\":\"1970-01-02T00:00:00.005Z\"");
	cr_expect_null(strstr(j, "Previous"), "by path, the old times are not known: %s", j);
	free(j);
	cr_expect_eq(rows("FileTimestampChanged", at("k"), 2), 2);
	j = fields("FileTimestampChanged", at("k"));
	has(j, "\"AccessTime\":\"1970-01-01T00:01:40.000Z\"");
	has(j, "\"ModificationTime\":\"1970-01-01T00:03:20.000Z\"");
	has(j, "\"PreviousAccessTime\":\"1970-01-01T00:00:00.000Z\"");
	has(j, "\"PreviousModificationTime\":\"1970-01-02T00:00:00.005Z\"");
	free(j);
	cr_expect_eq(rows("FileTimestampChanged", at("g"), 1), 1);
	j = fields("FileTimestampChanged", at("g"));
	has(j, "\"ModificationTime\":\"1970-01-01T01:00:00.000Z\"");
	has(j, "\"PreviousModificationTime\":\"");
	cr_expect_null(strstr(j, "AccessTime"), "%s", j);
	free(j);
	cr_expect_eq(rows("FileTimestampChanged", at("h"), 1), 1);
	j = fields("FileTimestampChanged", at("h"));
	has(j, "\"AccessTime\":\"1970-01-01T02:00:00.000Z\"");
	has(j, "\"ModificationTime\":\"1970-01-01T02:00:00.250Z\"");
	free(j);
	barrier("done");
	cr_expect_eq(rows("FileTimestampChanged", at("f"), 0), 1, "a plain touch was recorded");
}

/* The hook `vigild --probe --json` chooses for the file source: "fentry", "tp"... */
static void file_hook(char *out, size_t size)
{
	char cmd[PATH_MAX + 64], line[512], *h;
	FILE *p;

	out[0] = 0;
	snprintf(cmd, sizeof(cmd), "%s --probe --json 2>/dev/null",
		 vg_t_bin("VIGILD", "build/vigild"));
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "\"source\":\"file\"") && (h = strstr(line, "\"hook\":\"")))
			snprintf(out, size, "%.*s", (int)strcspn(h + 8, "\""), h + 8);
	cr_assert_eq(pclose(p), 0);
	cr_assert(out[0], "vigild --probe --json named no hook for the file source");
}

/*
 * Without --old-values the same events come, with what they replaced only
 * where reading it costs no other syscall (fentry): under the tracepoint
 * hooks it would take an entry tracepoint, which every syscall pays.
 */
Test(telemetry, old_values_only_with_fentry_by_default)
{
	struct timespec ts[2] = { { 100, 0 }, { 200, 0 } };
	char hook[32], *j;
	int fd, fentry;

	file_hook(hook, sizeof(hook));
	fentry = !strcmp(hook, "fentry");
	touch("f");
	fd = open("f", O_RDONLY);
	cr_assert_geq(fd, 0);
	chattr_on_off(fd, FS_APPEND_FL);
	cr_assert_eq(futimens(fd, ts), 0);
	close(fd);
	cr_assert_eq(rows("FileAttributesChanged", at("f"), 2), 2);
	j = fields("FileAttributesChanged", at("f"));
	cr_expect_eq(strstr(j, "\"OldAppendOnly\":true") != NULL, fentry, "hook %s: %s", hook, j);
	free(j);
	cr_assert_eq(rows("FileTimestampChanged", at("f"), 1), 1);
	j = fields("FileTimestampChanged", at("f"));
	has(j, "\"ModificationTime\":\"1970-01-01T00:03:20.000Z\"");
	cr_expect_eq(strstr(j, "\"PreviousModificationTime\"") != NULL, fentry, "hook %s: %s", hook,
		     j);
	free(j);
}

/* Start /bin/sleep and wait until its exec is stored; its pid. */
static pid_t sleeper(void)
{
	char *const argv[] = { "sleep", "300", NULL };

	return vg_t_exec_stored(&host, "/bin/sleep", argv, NULL, 0);
}

static long long signals(pid_t target, int sig, long long want)
{
	return vg_t_wait_int(&host, want, want ? 10000 : 0,
			     "SELECT count(*) FROM DeviceEvents WHERE ActionType = 'SignalSent' AND"
			     " InitiatingProcessId = %d AND json_extract(AdditionalFields,"
			     " '$.TargetProcessId') = %d AND json_extract(AdditionalFields,"
			     " '$.Signal') = %d",
			     getpid(), target, sig);
}

Test(telemetry, signals_to_another_process)
{
	pid_t a = sleeper(), b = sleeper();
	sqlite3 *db;
	char *s;
	int st;

	/* none: a probe, a harmless signal, a failed kill, a signal to itself */
	cr_assert_eq(kill(a, 0), 0);
	cr_assert_eq(kill(a, SIGCONT), 0);
	cr_assert_eq(kill(999999999, SIGKILL), -1);
	cr_assert_eq(kill(getpid(), SIGCONT), 0);
	/* events: stop, kill, terminate */
	cr_assert_eq(kill(a, SIGSTOP), 0);
	cr_assert_eq(kill(a, SIGKILL), 0);
	cr_assert_eq(waitpid(a, &st, 0), a);
	cr_assert_eq(syscall(SYS_tgkill, b, b, SIGTERM), 0);
	cr_assert_eq(waitpid(b, &st, 0), b);

	cr_expect_eq(signals(a, SIGSTOP, 1), 1);
	cr_expect_eq(signals(a, SIGKILL, 1), 1);
	cr_expect_eq(signals(b, SIGTERM, 1), 1);
	db = vg_t_db_open(&host);
	s = vg_t_query_str(
		db,
		"SELECT FileName || ' ' || json_extract(AdditionalFields, '$.SignalName')"
		" FROM DeviceEvents WHERE ActionType = 'SignalSent' AND"
		" json_extract(AdditionalFields, '$.TargetProcessId') = %d AND"
		" json_extract(AdditionalFields, '$.Signal') = 9",
		a);
	sqlite3_close(db);
	cr_expect_str_eq(s ? s : "", "sleep SIGKILL");
	free(s);
	barrier("done");
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(*) FROM DeviceEvents WHERE ActionType = 'SignalSent'"
			      " AND InitiatingProcessId = %d",
			      getpid()),
		3, "a harmless, failed or own signal was recorded");
}

/* Run /bin/true with envp; its pid once its exec is stored. */
static pid_t run_env(char *const envp[])
{
	char *const argv[] = { "true", NULL };

	return vg_t_exec_stored(&host, "/bin/true", argv, envp, 1);
}

static char *exec_field(pid_t pid, const char *key)
{
	sqlite3 *db = vg_t_db_open(&host);
	char *v = vg_t_query_str(db,
				 "SELECT json_extract(AdditionalFields, '$.%s') FROM"
				 " DeviceProcessEvents WHERE ProcessId = %d AND ActionType ="
				 " 'ProcessCreated'",
				 key, pid);

	sqlite3_close(db);
	return v;
}

Test(telemetry, loader_environment_of_an_exec)
{
	static char many[300][24], longv[1200];
	char *env[302], *s;
	pid_t pid;

	/*
	 * ld.so ignores a preload it cannot find (and says so): the program
	 * still runs. Of two, ld.so takes the last.
	 */
	char *const e1[] = { "A=1",
			     "LD_PRELOAD=/vg-none/x.so",
			     "B=2",
			     "LD_LIBRARY_PATH=/vg-none/lib",
			     "LD_PRELOAD=/vg-second.so",
			     NULL };
	pid = run_env(e1);
	s = exec_field(pid, "LD_PRELOAD");
	cr_expect_str_eq(s ? s : "(null)", "/vg-second.so");
	free(s);
	s = exec_field(pid, "LD_LIBRARY_PATH");
	cr_expect_str_eq(s ? s : "(null)", "/vg-none/lib");
	free(s);

	/* none without them, and a name that merely starts alike is not one */
	char *const e2[] = { "LD_PRELOADX=/vg-none/y.so", "XLD_PRELOAD=1", NULL };
	pid = run_env(e2);
	cr_expect_null(exec_field(pid, "LD_PRELOAD"));
	cr_expect_null(exec_field(pid, "LD_PRELOADX"));

	/* a value is cut at 511 bytes; a variable after the 256th is not looked at */
	memset(longv, 'v', sizeof(longv) - 1);
	memcpy(longv, "LD_LIBRARY_PATH=/", 17);
	for (int i = 0; i < 300; i++) {
		snprintf(many[i], sizeof(many[i]), "VG_%d=x", i);
		env[i] = many[i];
	}
	snprintf(many[200], sizeof(many[200]), "LD_PRELOAD=/vg-200.so");
	env[201] = longv;
	snprintf(many[280], sizeof(many[280]), "LD_PRELOAD=/vg-280.so");
	env[300] = NULL;
	pid = run_env(env);
	s = exec_field(pid, "LD_PRELOAD");
	cr_expect_str_eq(s ? s : "(null)", "/vg-200.so");
	free(s);
	s = exec_field(pid, "LD_LIBRARY_PATH");
	cr_assert_not_null(s);
	cr_expect_eq(strlen(s), 511 - 16, "%zu", strlen(s));
	free(s);
	env[200] = many[0];
	pid = run_env(env);
	cr_expect_null(exec_field(pid, "LD_PRELOAD"), "the 281st variable was looked at");
}

/* A DNS query for name (type qtype) in wire format into buf; its length. */
static size_t dns_query(uint8_t *buf, const char *name, int qtype)
{
	size_t n = 12;

	memset(buf, 0, 12);
	buf[0] = 0x12;
	buf[2] = 0x01; /* recursion desired */
	buf[5] = 1; /* one question */
	for (const char *p = name; *p;) {
		size_t len = strcspn(p, ".");

		buf[n++] = (uint8_t)len;
		memcpy(buf + n, p, len);
		n += len;
		p += len + (p[len] == '.');
	}
	buf[n++] = 0;
	buf[n++] = (uint8_t)(qtype >> 8);
	buf[n++] = (uint8_t)qtype;
	buf[n++] = 0;
	buf[n++] = 1; /* IN */
	return n;
}

static long long dns_rows(const char *name, int qtype, long long want)
{
	return vg_t_wait_int(
		&host, want, want ? 10000 : 0,
		"SELECT count(*) FROM DeviceEvents WHERE ActionType = 'DnsQuery' AND"
		" InitiatingProcessId = %d AND json_extract(AdditionalFields,"
		" '$.DnsQueryString') = '%q' AND json_extract(AdditionalFields,"
		" '$.QueryType') = %d AND json_extract(AdditionalFields, '$.RemoteIP')"
		" = '127.0.0.1' AND json_extract(AdditionalFields, '$.RemotePort') = 53",
		getpid(), name, qtype);
}

/*
 * Every datagram to port 53 is a query event with its name and type (the
 * same socket asking again included: the connection event is only its
 * first); sendto, send on a connected socket, sendmsg and sendmmsg alike.
 * Nothing listens: a query sent is what counts. Port 54 is no query.
 */
Test(telemetry, dns_queries_by_name)
{
	struct sockaddr_in ns = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in other = ns;
	uint8_t q[512], q2[512];
	struct iovec iov[2];
	struct mmsghdr mm[2];
	struct msghdr m = {
		.msg_name = &ns, .msg_namelen = sizeof(ns), .msg_iov = iov, .msg_iovlen = 1
	};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), cfd = socket(AF_INET, SOCK_DGRAM, 0);
	size_t n;

	cr_assert_geq(fd, 0);
	other.sin_port = htons(54);
	n = dns_query(q, "vg-one.example", 1);
	cr_assert_eq(sendto(fd, q, n, 0, (void *)&ns, sizeof(ns)), (ssize_t)n);
	cr_assert_eq(sendto(fd, q, n, 0, (void *)&ns, sizeof(ns)), (ssize_t)n);
	cr_assert_eq(sendto(fd, q, n, 0, (void *)&other, sizeof(other)), (ssize_t)n);
	n = dns_query(q, "vg-two.example", 28);
	cr_assert_eq(connect(cfd, (void *)&ns, sizeof(ns)), 0);
	cr_assert_eq(send(cfd, q, n, 0), (ssize_t)n);
	n = dns_query(q, "vg-three.example", 16);
	iov[0] = (struct iovec){ q, n };
	cr_assert_eq(sendmsg(fd, &m, 0), (ssize_t)n);
	/* as glibc asks for A and AAAA at once: the first is read */
	n = dns_query(q, "vg-four.example", 1);
	iov[1] = (struct iovec){ q2, dns_query(q2, "vg-four.example", 28) };
	iov[0] = (struct iovec){ q, n };
	memset(mm, 0, sizeof(mm));
	mm[0].msg_hdr = m;
	mm[1].msg_hdr = m;
	mm[1].msg_hdr.msg_iov = &iov[1];
	cr_assert_eq(sendmmsg(fd, mm, 2, 0), 2);
	close(fd);
	close(cfd);

	cr_expect_eq(dns_rows("vg-one.example", 1, 2), 2);
	cr_expect_eq(dns_rows("vg-two.example", 28, 1), 1);
	cr_expect_eq(dns_rows("vg-three.example", 16, 1), 1);
	cr_expect_eq(dns_rows("vg-four.example", 1, 1), 1);
	barrier("done");
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(*) FROM DeviceEvents WHERE ActionType = 'DnsQuery' AND"
			      " InitiatingProcessId = %d",
			      getpid()),
		5, "a datagram to port 54 was a query");
}

/* A resource record into b at n: name (wire form, pointers allowed), type, data; the new end. */
static size_t rr(uint8_t *b, size_t n, const void *name, size_t nlen, int type, const void *rd,
		 size_t rdlen)
{
	static const uint8_t rest[] = { 0, 1, 0, 0, 0x0e, 0x10 }; /* IN, TTL 3600 */

	memcpy(b + n, name, nlen);
	n += nlen;
	b[n++] = (uint8_t)(type >> 8);
	b[n++] = (uint8_t)type;
	memcpy(b + n, rest, sizeof(rest));
	n += sizeof(rest);
	b[n++] = (uint8_t)(rdlen >> 8);
	b[n++] = (uint8_t)rdlen;
	memcpy(b + n, rd, rdlen);
	return n + rdlen;
}

/* The reply to query q (n bytes): QR set, the rcode and ancount given; answers appended by rr(). */
static size_t reply_head(uint8_t *b, const uint8_t *q, size_t n, int rcode, int ancount)
{
	memcpy(b, q, n);
	b[2] |= 0x80;
	b[3] = (uint8_t)(0x80 | rcode); /* recursion available */
	b[7] = (uint8_t)ancount;
	return n;
}

static long long responses(const char *where, long long want)
{
	return vg_t_wait_int(
		&host, want, want ? 10000 : 0,
		"SELECT count(*) FROM DeviceEvents WHERE ActionType = 'DnsResponse' AND"
		" InitiatingProcessId = %d%s",
		getpid(), where);
}

static char *response_fields(const char *name)
{
	sqlite3 *db = vg_t_db_open(&host);
	char *v = vg_t_query_str(db,
				 "SELECT AdditionalFields FROM DeviceEvents WHERE ActionType ="
				 " 'DnsResponse' AND json_extract(AdditionalFields,"
				 " '$.DnsQueryString') = '%q' ORDER BY rowid DESC LIMIT 1",
				 name);

	sqlite3_close(db);
	cr_assert_not_null(v, "DnsResponse %s", name);
	return v;
}

/*
 * Replies to the queries a process sent, from a resolver the test plays on
 * 127.0.0.1:53: A through a CNAME whose name points back into the reply
 * (recvfrom), AAAA (recvmsg), NXDOMAIN (recvmmsg); each its answers
 * exactly. A reply with a pointer loop and one whose answer is cut short
 * are refused and counted as lost, and the sensor goes on. A datagram to
 * a socket that asked nothing, and the resolver's own receives, are no
 * reply.
 */
Test(telemetry, dns_answers_from_a_local_resolver)
{
	struct sockaddr_in ns = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	static const uint8_t real[] = "\4real\2vg\7example", ptr_q[] = { 0xc0, 12 };
	static const uint8_t a1[] = { 10, 1, 2, 3 }, a2[] = { 10, 1, 2, 4 };
	static const uint8_t six[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t q[512], r[512], in[512], loop[2], ptr_real[2];
	struct iovec iov = { in, sizeof(in) };
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int srv = socket(AF_INET, SOCK_DGRAM, 0), cl = socket(AF_INET, SOCK_DGRAM, 0);
	int other = socket(AF_INET, SOCK_DGRAM, 0);
	long long lost0, lost;
	size_t n, k, qn;
	char *j;

	cr_assert(srv >= 0 && cl >= 0 && other >= 0);
	if (bind(srv, (void *)&ns, sizeof(ns)))
		cr_skip_test("127.0.0.1:53 is taken: %s", strerror(errno));
	lost0 = vg_t_wait_int(&host, 0, 0,
			      "SELECT COALESCE(max(EventsLost), 0) FROM SensorCounters");

	/* A: CNAME to real.vg.example (its name a pointer to the question), then two A */
	qn = dns_query(q, "vg-a.example", 1);
	cr_assert_eq(sendto(cl, q, qn, 0, (void *)&ns, sizeof(ns)), (ssize_t)qn);
	cr_assert_eq(recvfrom(srv, in, sizeof(in), 0, (void *)&from, &flen), (ssize_t)qn);
	n = reply_head(r, q, qn, 0, 3);
	k = n + 12; /* the CNAME's rdata: after its name pointer and fixed fields */
	n = rr(r, n, ptr_q, 2, 5, real, sizeof(real));
	ptr_real[0] = 0xc0;
	ptr_real[1] = (uint8_t)k;
	n = rr(r, n, ptr_real, 2, 1, a1, 4);
	n = rr(r, n, ptr_real, 2, 1, a2, 4);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvfrom(cl, in, sizeof(in), 0, NULL, NULL), (ssize_t)n);

	/* AAAA, read with recvmsg */
	qn = dns_query(q, "vg-six.example", 28);
	cr_assert_eq(sendto(cl, q, qn, 0, (void *)&ns, sizeof(ns)), (ssize_t)qn);
	cr_assert_eq(recvfrom(srv, in, sizeof(in), 0, (void *)&from, &flen), (ssize_t)qn);
	n = reply_head(r, q, qn, 0, 1);
	n = rr(r, n, ptr_q, 2, 28, six, 16);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvmsg(cl, &m, 0), (ssize_t)n);

	/* NXDOMAIN, read with recvmmsg */
	qn = dns_query(q, "vg-none.example", 1);
	cr_assert_eq(sendto(cl, q, qn, 0, (void *)&ns, sizeof(ns)), (ssize_t)qn);
	cr_assert_eq(recvfrom(srv, in, sizeof(in), 0, (void *)&from, &flen), (ssize_t)qn);
	n = reply_head(r, q, qn, 3, 0);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvmmsg(cl, &mm, 1, 0, NULL), 1);

	/* a name that points at itself, then an answer count past the reply's end */
	qn = dns_query(q, "vg-loop.example", 1);
	cr_assert_eq(sendto(cl, q, qn, 0, (void *)&ns, sizeof(ns)), (ssize_t)qn);
	cr_assert_eq(recvfrom(srv, in, sizeof(in), 0, (void *)&from, &flen), (ssize_t)qn);
	n = reply_head(r, q, qn, 0, 1);
	loop[0] = (uint8_t)(0xc0 | n >> 8);
	loop[1] = (uint8_t)n;
	n = rr(r, n, loop, 2, 1, a1, 4);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvfrom(cl, in, sizeof(in), 0, NULL, NULL), (ssize_t)n);
	n = reply_head(r, q, qn, 0, 2);
	n = rr(r, n, ptr_q, 2, 1, a1, 4);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvfrom(cl, in, sizeof(in), 0, NULL, NULL), (ssize_t)n);

	/* a socket that asked nothing receives a datagram from port 53: no reply */
	cr_assert_eq(connect(other, (void *)&ns, sizeof(ns)), 0);
	flen = sizeof(from);
	cr_assert_eq(getsockname(other, (void *)&from, &flen), 0);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recv(other, in, sizeof(in), 0), (ssize_t)n);
	close(other);
	close(cl);
	close(srv);

	cr_expect_eq(responses(" AND json_extract(AdditionalFields, '$.DnsQueryString') ="
			       " 'vg-a.example'",
			       1),
		     1);
	j = response_fields("vg-a.example");
	has(j, "\"QueryType\":1");
	has(j, "\"ResponseCode\":0");
	has(j, "\"ResponseCodeName\":\"NOERROR\"");
	has(j, "\"IPAddresses\":\"10.1.2.3,10.1.2.4\"");
	has(j, "\"CanonicalNames\":\"real.vg.example\"");
	has(j, "\"Answers\":\"vg-a.example CNAME real.vg.example; real.vg.example A 10.1.2.3;"
	       " real.vg.example A 10.1.2.4\"");
	has(j, "\"AnswerCount\":3");
	has(j, "\"RemoteIP\":\"127.0.0.1\"");
	has(j, "\"RemotePort\":53");
	free(j);
	j = response_fields("vg-six.example");
	has(j, "\"QueryType\":28");
	has(j, "\"IPAddresses\":\"2001:db8::1\"");
	has(j, "\"CanonicalNames\":\"\"");
	free(j);
	j = response_fields("vg-none.example");
	has(j, "\"ResponseCode\":3");
	has(j, "\"ResponseCodeName\":\"NXDOMAIN\"");
	has(j, "\"IPAddresses\":\"\"");
	has(j, "\"AnswerCount\":0");
	free(j);
	barrier("done");
	cr_expect_eq(responses("", 0), 3, "a malformed reply, or a datagram no query asked for");
	lost = vg_t_wait_int(&host, lost0 + 2, 10000,
			     "SELECT COALESCE(max(EventsLost), 0) FROM SensorCounters");
	cr_expect_eq(lost, lost0 + 2, "the two malformed replies are counted as lost");
}

static long long images(const char *folder, long long want)
{
	return vg_t_wait_int(
		&host, want, want ? 10000 : 0,
		"SELECT count(*) FROM DeviceFileEvents WHERE ActionType = 'ImageLoaded'"
		" AND FolderPath = '%q' AND InitiatingProcessId = %d",
		folder, getpid());
}

/*
 * A library mapped executable is an ImageLoaded event, once per address
 * space: mapping it again (as each dlopen() after a dlclose() does) is
 * counted as deduplicated, not stored; a mapping without PROT_EXEC is none.
 * A child that execs maps its own: one event of its own.
 */
Test(telemetry, image_loads_once_per_address_space)
{
	int fd;
	void *m;
	pid_t pid;

	cr_assert_eq(system("cp /lib/x86_64-linux-gnu/libm.so.6 vglib.so &&"
			    " cp /lib/x86_64-linux-gnu/libm.so.6 vgdata.so"),
		     0);
	fd = open("vglib.so", O_RDONLY);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 3; i++) {
		m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		cr_assert_neq(m, MAP_FAILED);
		munmap(m, 4096);
	}
	close(fd);
	fd = open("vgdata.so", O_RDONLY);
	cr_assert_geq(fd, 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	munmap(m, 4096);
	close(fd);
	cr_expect_eq(images(at("vglib.so"), 1), 1);

	/* the loader of a new image maps its libraries again: LD_PRELOAD's is one of them */
	{
		char env[PATH_MAX + 16];
		char *const envp[] = { env, NULL }, *const argv[] = { "true", NULL };

		snprintf(env, sizeof(env), "LD_PRELOAD=%s", at("vglib.so"));
		pid = vg_t_exec_stored(&host, "/bin/true", argv, envp, 1);
	}
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 10000,
			      "SELECT count(*) FROM DeviceFileEvents WHERE ActionType ="
			      " 'ImageLoaded' AND FolderPath = '%q' AND InitiatingProcessId = %d",
			      at("vglib.so"), pid),
		1);
	barrier("done");
	cr_expect_eq(images(at("vglib.so"), 0), 1, "a second mapping was stored");
	cr_expect_eq(images(at("vgdata.so"), 0), 0, "a mapping without PROT_EXEC was stored");
}

static void setup_sens(void)
{
	static const char *const args[] = { "--sensitive-read", "/etc/vg-keytab",
					    "--sensitive-read", "~/vg-secrets/", NULL };

	start_in_dir(args);
}

static long long sens_reads(const char *folder, long long want)
{
	return vg_t_wait_int(
		&host, want, want ? 10000 : 0,
		"SELECT count(*) FROM DeviceEvents WHERE ActionType = 'SensitiveFileRead'"
		" AND FolderPath = '%q' AND InitiatingProcessId = %d",
		folder, getpid());
}

static void read_file(const char *path)
{
	int fd;

	touch(path);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	close(fd);
}

/*
 * --sensitive-read adds files to the built-in list, matched as it is (the
 * parent directory's name and the file's; DIR/: any file of DIR): their
 * read-only opens are SensitiveFileRead, and their neighbours' are nothing.
 */
Test(sensitive, reads_of_added_paths, .init = setup_sens, .fini = teardown, .timeout = 60)
{
	cr_assert_eq(mkdir("etc", 0700), 0);
	cr_assert_eq(mkdir("vg-secrets", 0700), 0);
	cr_assert_eq(mkdir("vg-secrets2", 0700), 0);
	read_file("etc/vg-keytab");
	read_file("etc/vg-keytab2");
	read_file("vg-secrets/token");
	read_file("vg-secrets/other");
	read_file("vg-secrets2/token");
	cr_expect_eq(sens_reads(at("etc/vg-keytab"), 1), 1);
	cr_expect_eq(sens_reads(at("vg-secrets/token"), 1), 1);
	cr_expect_eq(sens_reads(at("vg-secrets/other"), 1), 1);
	barrier("done");
	cr_expect_eq(sens_reads(at("etc/vg-keytab2"), 0), 0);
	cr_expect_eq(sens_reads(at("vg-secrets2/token"), 0), 0);
	cr_expect_eq(vg_t_wait_int(&host, 0, 0,
				   "SELECT count(*) FROM DeviceEvents WHERE ActionType ="
				   " 'SensitiveFileRead' AND InitiatingProcessId = %d",
				   getpid()),
		     3);
}

static void setup_nodnsr(void)
{
	static const char *const args[] = { "--no-dns-replies", NULL };

	start_in_dir(args);
}

/*
 * --no-dns-replies: the receive calls are not watched (under the tp hook
 * each would take the traced path), so a reply is no DnsResponse; the
 * query that asked for it is still a DnsQuery.
 */
Test(no_dns_replies, queries_still_reported, .init = setup_nodnsr, .fini = teardown, .timeout = 60)
{
	struct sockaddr_in ns = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	static const uint8_t ptr_q[] = { 0xc0, 12 }, a1[] = { 10, 1, 2, 3 };
	uint8_t q[512], r[512], in[512];
	int srv = socket(AF_INET, SOCK_DGRAM, 0), cl = socket(AF_INET, SOCK_DGRAM, 0);
	size_t n, qn;

	cr_assert(srv >= 0 && cl >= 0);
	if (bind(srv, (void *)&ns, sizeof(ns)))
		cr_skip_test("127.0.0.1:53 is taken: %s", strerror(errno));
	qn = dns_query(q, "vg-quiet.example", 1);
	cr_assert_eq(sendto(cl, q, qn, 0, (void *)&ns, sizeof(ns)), (ssize_t)qn);
	cr_assert_eq(recvfrom(srv, in, sizeof(in), 0, (void *)&from, &flen), (ssize_t)qn);
	n = reply_head(r, q, qn, 0, 1);
	n = rr(r, n, ptr_q, 2, 1, a1, 4);
	cr_assert_eq(sendto(srv, r, n, 0, (void *)&from, flen), (ssize_t)n);
	cr_assert_eq(recvfrom(cl, in, sizeof(in), 0, NULL, NULL), (ssize_t)n);
	close(srv);
	close(cl);
	cr_expect_eq(dns_rows("vg-quiet.example", 1, 1), 1, "the query was not reported");
	barrier("done");
	cr_expect_eq(responses("", 0), 0, "a reply was reported with --no-dns-replies");
}
