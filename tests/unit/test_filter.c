// SPDX-License-Identifier: GPL-2.0-only
/*
 * The filter language: every construct compiled and matched with the
 * kernel's own matcher against hand-made events; malformed input reported
 * at its exact line and column.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "filter.h"
#include "cli.h"

static struct vg_vf_set set;
static char diag[8192];

/* Parse text; diagnostics into diag. */
static int parse(const char *text)
{
	FILE *f = fmemopen(diag, sizeof(diag), "w");
	int err;

	memset(diag, 0, sizeof(diag));
	cr_assert(f);
	err = vg_vf_parse(&set, "t.vf", text, strlen(text), f);
	fclose(f);
	return err;
}

static void expect_error(const char *text, const char *where_msg)
{
	cr_assert_eq(parse(text), -EINVAL, "accepted: %s", text);
	cr_assert(strstr(diag, where_msg), "want '%s', got:\n%s", where_msg, diag);
	cr_assert(strstr(diag, "^\n"), "no caret:\n%s", diag);
}

static void expect_warning(const char *text, const char *where_msg)
{
	cr_assert_eq(parse(text), 0, "rejected: %s\n%s", text, diag);
	cr_assert(strstr(diag, where_msg), "want '%s', got:\n%s", where_msg, diag);
}

static struct vg_flt_in file_ev(const char *comm, unsigned op, const char *path)
{
	struct vg_flt_in in;
	size_t n = strlen(path), k = n < VG_FLT_VAL ? n : VG_FLT_VAL;

	memset(&in, 0, sizeof(in));
	in.cls = VG_CLASS_FILE;
	in.op = op;
	in.uid = 1000;
	strncpy((char *)in.comm, comm, VG_COMM_LEN - 1);
	memcpy(in.head, path, k);
	memcpy(in.tail + VG_FLT_VAL - k, path + n - k, k);
	in.path_len = in.tail_len = n;
	return in;
}

static struct vg_flt_in net_ev(int fam, const char *addr, unsigned rport)
{
	struct vg_flt_in in;

	memset(&in, 0, sizeof(in));
	in.cls = VG_CLASS_NET;
	in.op = VG_NET_CONNECT;
	in.family = fam;
	in.rport = rport;
	cr_assert_eq(inet_pton(fam, addr, in.raddr), 1);
	return in;
}

static int judge(struct vg_flt_in in, int *drop)
{
	return vg_vf_judge(&set, &in, drop);
}

Test(filter, issue_examples_compile_and_match)
{
	int drop;

	cr_assert_eq(parse("# developer noise\n"
			   "drop file where comm == \"cc1\" and path suffix \".h\"\n"
			   "keep exec where uid == 0\n"
			   "drop network where remote in 10.0.0.0/8 and rport == 53\n"
			   "\n"
			   "drop file where path prefix \"/proc/\"\n"),
		     0, "%s", diag);
	cr_assert_eq(set.n, 4);
	cr_assert_eq(set.rules[0].line, 2);
	cr_assert_eq(set.rules[3].line, 6);
	cr_assert_eq(judge(file_ev("cc1", VG_FILE_MODIFY, "/usr/include/stdio.h"), &drop), 0);
	cr_assert(drop);
	/* comm is exact: cc1plus is not cc1 */
	cr_assert_eq(judge(file_ev("cc1plus", VG_FILE_MODIFY, "/usr/include/stdio.h"), &drop), -1);
	cr_assert(!drop);
	cr_assert_eq(judge(file_ev("cc1", VG_FILE_MODIFY, "/usr/include/stdio.c"), &drop), -1);
	cr_assert_eq(judge(net_ev(AF_INET, "10.1.2.3", 53), &drop), 2);
	cr_assert(drop);
	cr_assert_eq(judge(net_ev(AF_INET, "11.1.2.3", 53), &drop), -1);
	cr_assert_eq(judge(net_ev(AF_INET, "10.1.2.3", 54), &drop), -1);
	cr_assert_eq(judge(file_ev("cat", VG_FILE_CREATE, "/proc/1/x"), &drop), 3);
	cr_assert_eq(judge(file_ev("cat", VG_FILE_CREATE, "/pro"), &drop), -1);
}

Test(filter, keep_is_an_exception_to_a_later_drop)
{
	int drop;

	cr_assert_eq(parse("keep file where path prefix \"/home/me/secret\"\n"
			   "drop file where path prefix \"/home/\"\n"),
		     0, "%s", diag);
	cr_assert_eq(judge(file_ev("vi", VG_FILE_MODIFY, "/home/me/secret/a"), &drop), 0);
	cr_assert(!drop);
	cr_assert_eq(judge(file_ev("vi", VG_FILE_MODIFY, "/home/me/b"), &drop), 1);
	cr_assert(drop);
}

Test(filter, path_operators_and_long_paths)
{
	char longp[300];
	int drop;

	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "/build/", 7);
	strcpy(longp + 290, "/x.o");
	cr_assert_eq(parse("drop file where path == \"/etc/hosts\"\n"
			   "drop file where path extension \"o\"\n"
			   "drop file where op in (deleted, renamed) and path prefix \"/tmp/\"\n"
			   "drop file where uid != 1000\n"),
		     0, "%s", diag);
	cr_assert_eq(judge(file_ev("x", VG_FILE_MODIFY, "/etc/hosts"), &drop), 0);
	cr_assert_eq(judge(file_ev("x", VG_FILE_MODIFY, "/etc/hosts2"), &drop), -1);
	cr_assert_eq(judge(file_ev("x", VG_FILE_MODIFY, longp), &drop), 1);
	cr_assert_eq(judge(file_ev("x", VG_FILE_DELETE, "/tmp/a"), &drop), 2);
	cr_assert_eq(judge(file_ev("x", VG_FILE_MODIFY, "/tmp/a"), &drop), -1);
	struct vg_flt_in root = file_ev("x", VG_FILE_MODIFY, "/tmp/a");

	root.uid = 0;
	cr_assert_eq(judge(root, &drop), 3);
}

Test(filter, ipv6_cidr_and_ports)
{
	int drop;

	cr_assert_eq(parse("drop network where remote in fd00::/8 and lport == 0\n"
			   "drop network where remote == 192.168.1.1\n"),
		     0, "%s", diag);
	cr_assert_eq(judge(net_ev(AF_INET6, "fd12::1", 443), &drop), 0);
	cr_assert_eq(judge(net_ev(AF_INET6, "fe80::1", 443), &drop), -1);
	/* an IPv4 rule never matches IPv6 */
	cr_assert_eq(judge(net_ev(AF_INET, "253.0.0.1", 443), &drop), -1);
	cr_assert_eq(judge(net_ev(AF_INET, "192.168.1.1", 1), &drop), 1);
	cr_assert_eq(judge(net_ev(AF_INET, "192.168.1.2", 1), &drop), -1);
}

Test(filter, malformed_input_at_exact_positions)
{
	expect_error("drop file where fruit == \"x\"\n", "t.vf:1:17: unknown field 'fruit'");
	expect_error("\ndrop network where remote in 10.0.0.0/33\n",
		     "t.vf:2:39: bad prefix length (0 to 32)");
	expect_error("drop network where remote in 10.0.0.1/8\n",
		     "t.vf:1:30: address has bits set beyond the /8 prefix");
	expect_error("drop network where remote in 10.0.300.0/24\n", "t.vf:1:30: bad IPv4 address");
	expect_error("drop network where remote in fd00:::1/8\n", "t.vf:1:30: bad IPv6 address");
	expect_error("drop file where path prefix \"/tmp\n", "t.vf:1:29: unclosed string");
	expect_error("drop file where comm == \"0123456789abcdef\"\n",
		     "t.vf:1:25: value longer than 15 bytes");
	expect_error(
		"drop file where path prefix "
		"\"/0123456789012345678901234567890123456789012345678901234567890123456789\"\n",
		"t.vf:1:29: value longer than 64 bytes");
	expect_error("zap file\n", "t.vf:1:1: expected 'drop' or 'keep'");
	expect_error("drop files\n", "t.vf:1:6: unknown event class 'files'");
	expect_error("drop exec where uid == 0\n", "t.vf:1:6: process events cannot be dropped");
	expect_error("drop file where uid == 0 or uid == 1\n", "t.vf:1:26: expected 'and'");
	expect_error("drop file where uid == x\n", "t.vf:1:24: expected a number");
	expect_error("drop network where rport == 70000\n", "t.vf:1:29: bad number (0 to 65535)");
	expect_error("drop file where op == exploded\n", "t.vf:1:23: unknown operation 'exploded'");
	expect_error("drop file where uid == 1 and uid == 2\n",
		     "t.vf:1:30: field 'uid' given twice");
	expect_error("drop file where path prefix \"/a\" sample 1/1\n",
		     "t.vf:1:41: sample 1/N needs N from 2 to 1000000");
	expect_error("drop file where path prefix \"/a\" sample 10\n",
		     "t.vf:1:41: expected 1/N after 'sample'");
	expect_error("keep file where path prefix \"/a\" sample 1/10\n",
		     "t.vf:1:34: only a drop rule can sample");
	expect_error("drop file where comm ~ \"a\"\n", "t.vf:1:22: comm takes ==");
	expect_error("drop file where op in deleted\n", "t.vf:1:23: expected '('");
	expect_error("drop file where op in (deleted\n", "t.vf:1:31: expected ',' or ')'");
	expect_error("drop file where exe suffix \"/cc1\"\n", "t.vf:1:21: exe takes == or prefix");
	expect_error("drop file where parent_exe == \"/a\" and parent_exe prefix \"/b\"\n",
		     "t.vf:1:40: field 'parent_exe' given twice");
}

Test(filter, too_many_rules_for_the_maps)
{
	char text[8192] = "";

	for (int i = 0; i <= VG_FLT_RULES; i++) {
		char line[80];

		snprintf(line, sizeof(line), "drop file where uid == %d\n", i);
		strcat(text, line);
	}
	expect_error(text, "t.vf:65:1: too many rules: the kernel holds 64");
	cr_assert_eq(set.n, VG_FLT_RULES);
}

Test(filter, warnings_never_match_and_shadowed)
{
	expect_warning("drop network where path suffix \".h\"\n",
		       "t.vf:1:6: warning: rule can never match: only file events have a path");
	expect_warning("drop file where rport == 53\n",
		       "t.vf:1:6: warning: rule can never match: only network events");
	expect_warning("drop file where op == connect\n",
		       "t.vf:1:23: warning: rule can never match: the operation is not one");
	expect_warning("drop file where path == \"/a/b.c\" and path suffix \".h\"\n",
		       "t.vf:1:1: warning: rule can never match: the path cannot equal");
	expect_warning("drop file where path prefix \"/proc/\"\n"
		       "drop file where path prefix \"/proc/self/\" and comm == \"ps\"\n",
		       "t.vf:2:1: warning: rule is shadowed by line 1");
	expect_warning("drop network where remote in 10.0.0.0/8\n"
		       "keep network where remote in 10.1.0.0/16 and rport == 53\n",
		       "t.vf:2:1: warning: rule is shadowed by line 1");
	expect_warning("drop file where exe == \"cc\"\n",
		       "t.vf:1:24: warning: rule can never match: executables are absolute paths");
	expect_warning(
		"drop file where exe prefix \"/usr/\"\n"
		"drop file where exe == \"/usr/bin/cc\" and parent_exe prefix \"/usr/bin/\"\n",
		"t.vf:2:1: warning: rule is shadowed by line 1");
	expect_warning("drop file where parent_exe prefix \"/usr/bin/make\"\n"
		       "drop file where parent_exe == \"/usr/bin/make\"\n",
		       "t.vf:2:1: warning: rule is shadowed by line 1");
	/* not shadowed: the later rule is broader */
	cr_assert_eq(parse("drop file where path prefix \"/proc/self/\"\n"
			   "drop file where path prefix \"/proc/\"\n"),
		     0);
	cr_assert_eq(set.warnings, 0, "%s", diag);
}

Test(filter, records_build_the_kernel_input)
{
	unsigned char buf[512];
	struct vg_file_event *e = (void *)buf;
	struct vg_flt_in in;
	const char *base = "/home/me", *rel = "src/x.h";
	int drop;

	memset(buf, 0, sizeof(buf));
	e->hdr.type = VG_EV_FILE;
	e->op = VG_FILE_DELETE;
	strcpy((char *)e->task.comm, "rm");
	e->base_len = strlen(base) + 1;
	e->rel_len = strlen(rel) + 1;
	memcpy(e + 1, base, e->base_len);
	memcpy((char *)(e + 1) + e->base_len, rel, e->rel_len);
	e->hdr.size = sizeof(*e) + e->base_len + e->rel_len;
	cr_assert_eq(vg_vf_input(&in, buf, e->hdr.size, NULL), 0);
	cr_assert_eq(in.path_len, strlen("/home/me/src/x.h"));
	cr_assert(!memcmp(in.head, "/home/me/src/x.h", in.path_len));
	cr_assert_eq(parse("drop file where path == \"/home/me/src/x.h\" and op == deleted\n"), 0);
	cr_assert_eq(vg_vf_judge(&set, &in, &drop), 0);
	cr_assert(drop);
	/* a process record is not judged */
	e->hdr.type = VG_EV_EXEC;
	cr_assert_eq(vg_vf_input(&in, buf, e->hdr.size, NULL), -1);
}

static size_t exec_rec(unsigned char *buf, __u32 tgid, __u32 ppid, const char *exe)
{
	struct vg_exec_event *e = (void *)buf;

	memset(buf, 0, 512);
	e->hdr.type = VG_EV_EXEC;
	e->task.tgid = e->task.pid = tgid;
	e->task.ppid = ppid;
	e->path_len = strlen(exe) + 1;
	memcpy(e + 1, exe, e->path_len);
	e->hdr.size = sizeof(*e) + e->path_len;
	return e->hdr.size;
}

static size_t task_rec(unsigned char *buf, __u16 type, __u32 tgid, __u32 ppid)
{
	struct vg_file_event *e = (void *)buf; /* fork and exit records are shorter */

	memset(buf, 0, 512);
	e->hdr.type = type;
	e->task.tgid = e->task.pid = tgid;
	e->task.ppid = ppid;
	strcpy((char *)e->task.comm, "cc1");
	e->op = VG_FILE_CREATE;
	e->base_len = sizeof("/tmp/o.s");
	memcpy(e + 1, "/tmp/o.s", e->base_len);
	e->hdr.size = type == VG_EV_FILE ? sizeof(*e) + e->base_len : sizeof(struct vg_exit_event);
	return type == VG_EV_FILE ? e->hdr.size : 512;
}

/* exe and parent_exe follow exec, fork and exit, as the kernel's map does. */
Test(filter, exe_and_parent_exe_follow_the_processes)
{
	struct vg_vf_procs *procs = vg_vf_procs_new();
	unsigned char buf[512];
	struct vg_flt_in in;
	size_t n;
	int drop;

	cr_assert(procs);
	cr_assert_eq(
		parse("keep file where exe == \"/usr/lib/gcc/cc1\" and parent_exe == \"/usr/bin/gcc\"\n"
		      "drop file where exe prefix \"/usr/lib/gcc/\"\n"
		      "drop file where parent_exe prefix \"/usr/bin/ma\"\n"),
		0, "%s", diag);
	n = exec_rec(buf, 100, 1, "/usr/bin/make");
	cr_assert_eq(vg_vf_procs_track(procs, buf, n), 0);
	/* 101 forks from make, then execs cc1: exe cc1, parent make */
	n = task_rec(buf, VG_EV_FORK, 101, 100);
	cr_assert_eq(vg_vf_procs_track(procs, buf, n), 0);
	n = task_rec(buf, VG_EV_FILE, 101, 100);
	cr_assert_eq(vg_vf_input(&in, buf, n, procs), 0);
	cr_assert_eq(in.exe.len, strlen("/usr/bin/make"), "the fork copies the image");
	cr_assert_eq(judge(in, &drop), 2);
	cr_assert(drop);
	n = exec_rec(buf, 101, 100, "/usr/lib/gcc/cc1");
	vg_vf_procs_track(procs, buf, n);
	n = task_rec(buf, VG_EV_FILE, 101, 100);
	vg_vf_input(&in, buf, n, procs);
	cr_assert_eq(judge(in, &drop), 1);
	cr_assert(drop);
	/* a cc1 whose parent is gcc: the keep exception */
	n = exec_rec(buf, 200, 1, "/usr/bin/gcc");
	vg_vf_procs_track(procs, buf, n);
	n = exec_rec(buf, 201, 200, "/usr/lib/gcc/cc1");
	vg_vf_procs_track(procs, buf, n);
	n = task_rec(buf, VG_EV_FILE, 201, 200);
	vg_vf_input(&in, buf, n, procs);
	cr_assert_eq(judge(in, &drop), 0);
	cr_assert(!drop);
	/* "/usr/lib/gcc/cc1" is not == "/usr/lib/gcc/cc1plus", but has its prefix */
	n = exec_rec(buf, 202, 200, "/usr/lib/gcc/cc1plus");
	vg_vf_procs_track(procs, buf, n);
	n = task_rec(buf, VG_EV_FILE, 202, 200);
	vg_vf_input(&in, buf, n, procs);
	cr_assert_eq(judge(in, &drop), 1);
	/* once make exits, its pid is unknown: exe conditions do not match */
	n = task_rec(buf, VG_EV_EXIT, 100, 1);
	vg_vf_procs_track(procs, buf, n);
	n = task_rec(buf, VG_EV_FILE, 300, 100);
	vg_vf_input(&in, buf, n, procs);
	cr_assert_eq(in.pexe.len, 0);
	cr_assert_eq(judge(in, &drop), -1);
	vg_vf_procs_free(procs);
}

/* sample 1/N: a drop rule keeps the 1st, N+1th, ... of its matches, as the kernel does per CPU. */
Test(filter, sampling_keeps_one_in_n)
{
	int drop, kept = 0;

	cr_assert_eq(parse("drop file where path prefix \"/tmp/\" sample 1/4\n"), 0, "%s", diag);
	cr_assert_eq(set.rules[0].k.sample, 4);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(judge(file_ev("cc1", VG_FILE_CREATE, "/tmp/x"), &drop), 0);
		kept += !drop;
	}
	cr_assert_eq(kept, 25, "kept %d of 100 with sample 1/4", kept);
	cr_assert_eq(judge(file_ev("cc1", VG_FILE_CREATE, "/src/x"), &drop), -1);
	cr_assert_eq(drop, 0);
	cr_assert_eq(parse("drop file sample 1/2\n"), 0, "%s", diag);
}

static void cap_put(FILE *f, const void *rec, size_t len)
{
	uint32_t n = (uint32_t)len;

	cr_assert_eq(fwrite(&n, sizeof(n), 1, f), 1);
	cr_assert_eq(fwrite(rec, 1, len, f), len);
}

/* Run `vigil filter test rules --capture cap --json`; its last line (the totals) into out. */
static int filter_test_cli(const char *rules, const char *cap, char *out, size_t size)
{
	char *argv[] = {
		"filter", "test", (char *)rules, "--capture", (char *)cap, "--json", NULL
	};
	char tmpl[] = "/tmp/vg-ftest-XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(STDOUT_FILENO), rc;
	FILE *f;

	cr_assert_geq(fd, 0);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	rc = vg_cmd_filter(6, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	out[0] = '\0';
	while (fgets(out, (int)size, f) && !strstr(out, "\"records\""))
		;
	fclose(f);
	unlink(tmpl);
	return rc;
}

/*
 * The replay puts records back in time order (the rings interleave them by
 * drain): a file event written before its process's exec, but later in time,
 * is judged with that exec's executable. A cut capture is an error, at its
 * record number.
 */
Test(filter, replay_reorders_and_refuses_a_cut_capture)
{
	char dir[] = "/tmp/vg-replay-XXXXXX", rules[64], cap[64], out[512];
	unsigned char ex[512], fe[512];
	size_t nex, nfe;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(rules, sizeof(rules), "%s/r.vf", dir);
	snprintf(cap, sizeof(cap), "%s/cap", dir);
	f = fopen(rules, "w");
	fputs("drop file where exe == \"/opt/x/cc1\"\n", f);
	fclose(f);
	nex = exec_rec(ex, 300, 1, "/opt/x/cc1");
	((struct vg_event_hdr *)ex)->ts_boot_ns = 2000000000ull;
	nfe = task_rec(fe, VG_EV_FILE, 300, 1);
	((struct vg_event_hdr *)fe)->ts_boot_ns = 2500000000ull;
	f = fopen(cap, "wb");
	cap_put(f, fe, nfe); /* drained first, happened later */
	cap_put(f, ex, nex);
	fclose(f);
	cr_assert_eq(filter_test_cli(rules, cap, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "\"judged\":1,\"kept\":1,\"dropped\":1"), "%s", out);

	/* the same capture cut inside its second record */
	cr_assert_eq(truncate(cap, (off_t)(4 + nfe + 4 + nex / 2)), 0);
	cr_assert_eq(filter_test_cli(rules, cap, out, sizeof(out)), 1);
	snprintf(out, sizeof(out), "rm -rf %s", dir);
	cr_assert_eq(system(out), 0);
}

/* A rule file over VG_VF_FILE_MAX is refused whole, not parsed as far as it fits. */
Test(filter, oversized_file_is_refused)
{
	char path[] = "/tmp/vg-big-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	cr_assert_not_null(f);
	for (size_t i = 0; i <= VG_VF_FILE_MAX / 4; i++)
		fputs("# x\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(vg_vf_parse_file(&set, path, NULL), -EFBIG);
	unlink(path);
}
