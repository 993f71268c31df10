// SPDX-License-Identifier: GPL-2.0-only
/*
 * The filter matcher (kern/vf_match.h) as the kernel runs it, through
 * kern/filter.bpf.h's vg_flt_file() and vg_flt_net(): each kind of
 * condition on crafted events, the path a relative operation is judged by,
 * first-match order and sampling. Rules are compiled by lib/filter.c, and
 * every verdict is checked against `vigil filter test`'s replay.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <string.h>

#include "harness.h"

static struct bpft_bpf *skel;

static void fini(void)
{
	bpft_bpf__destroy(skel);
	skel = NULL;
}

TestSuite(filter, .fini = fini);

/* The verdict on a file event of tgid 10 (uid 1000, parent 1) by comm with path base + rel. */
static int file_verdict(const char *comm, __u32 op, const char *base, const char *rel)
{
	struct vgt_file f = bpft_file(10, comm, op, base, rel);
	struct vgt_out out;

	f.task.uid = 1000;
	bpft_open(skel, &f, 1, &out);
	cr_assert_geq(out.verdict, 0, "not judged");
	return out.verdict;
}

Test(filter, comm_uid_op)
{
	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where comm == \"cc1\"\n"
			   "drop file where uid == 0\n"
			   "drop file where uid != 1000 and comm == \"x\"\n"
			   "drop file where op in (deleted, renamed)\n");
	cr_assert_eq(file_verdict("cc1", VG_FILE_MODIFY, "/a", NULL), DROPS(0));
	cr_assert_eq(file_verdict("cc1plus", VG_FILE_MODIFY, "/a", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("cc", VG_FILE_MODIFY, "/a", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("x", VG_FILE_MODIFY, "/a", NULL), VERDICT_NONE, "uid is 1000");
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/a", "b"), DROPS(3));
	cr_assert_eq(file_verdict("w", VG_FILE_RENAME, "/a", "b"), DROPS(3));
	cr_assert_eq(file_verdict("w", VG_FILE_CHMOD, "/a", "b"), VERDICT_NONE);
	cr_assert_eq(bpft_hits(skel, 0), 1);
	cr_assert_eq(bpft_hits(skel, 3), 2);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_FILTERED), 3);
}

Test(filter, uid_zero)
{
	struct vgt_file f;
	struct vgt_out out;

	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where uid == 0\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/a", NULL);
	f.task.uid = 0;
	cr_assert_eq(bpft_open(skel, &f, 1, &out), VGT_ENDED);
	cr_assert_eq(out.verdict, DROPS(0));
	f.task.uid = 1;
	cr_assert_eq(bpft_open(skel, &f, 1, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, VERDICT_NONE);
}

Test(filter, path_prefix_eq_suffix_extension)
{
	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where path == \"/etc/hosts\"\n"
			   "drop file where path prefix \"/proc/\"\n"
			   "drop file where path suffix \".swp\"\n"
			   "drop file where path prefix \"/src/\" and path extension \"o\"\n");
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/etc/hosts", NULL), DROPS(0));
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/etc/hosts2", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/etc/host", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/proc/1/status", NULL), DROPS(1));
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/proc", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/home/u/.a.c.swp", NULL), DROPS(2));
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/home/u/.a.c.swpx", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/src/x/a.o", NULL), DROPS(3));
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/src/x/a.so", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/src/x/ao", NULL), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/lib/a.o", NULL), VERDICT_NONE);
}

/* Paths longer than a rule value: the prefix is matched on the head, the suffix on the tail. */
Test(filter, long_paths)
{
	char path[600], longer[1000];

	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where path prefix \"/data/\" and path suffix \".conf\"\n");
	memset(path, 'd', sizeof(path));
	memcpy(path, "/data/", 6);
	strcpy(path + sizeof(path) - 6, ".conf");
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, path, NULL), DROPS(0));
	path[sizeof(path) - 2] = 'g';
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, path, NULL), VERDICT_NONE);
	/* A relative path: the resolved directory joined with the caller's part. */
	memset(longer, 'r', 400);
	strcpy(longer + 400, ".conf");
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/data", longer), DROPS(0));
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/dat", longer), VERDICT_NONE);
}

/*
 * Deletes, renames, chmod and chown by path: the caller's path when
 * absolute, else the directory joined with it by a '/', not normalized;
 * a suffix must lie in the caller's part.
 */
Test(filter, relative_paths)
{
	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where path == \"/home/u/src/a.h\"\n"
			   "drop file where path == \"/etc/passwd\"\n"
			   "drop file where path == \"/x\"\n"
			   "drop file where path prefix \"/w/a/../\"\n"
			   "drop file where path suffix \"/src/a.c\"\n");
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/home/u", "src/a.h"), DROPS(0));
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/home/u", "/etc/passwd"), DROPS(1));
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/", "x"), DROPS(2), "no '//' at the root");
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/w", "a/../b"), DROPS(3));
	/* The suffix lies in the caller's part, never reaching back into the directory. */
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/p", "x/src/a.c"), DROPS(4));
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/p/src", "a.c"), VERDICT_NONE);
	cr_assert_eq(file_verdict("w", VG_FILE_DELETE, "/p", "src/a.c"), VERDICT_NONE,
		     "the joining '/' is not the caller's");
	/* The whole path resolved by the kernel (an open): the suffix may cover all of it. */
	cr_assert_eq(file_verdict("w", VG_FILE_MODIFY, "/p/src/a.c", NULL), DROPS(4));
}

Test(filter, exe_and_parent_exe)
{
	struct vgt_file f;
	struct vgt_out out;

	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where exe == \"/usr/bin/make\"\n"
			   "drop file where exe prefix \"/usr/lib/gcc/\"\n"
			   "drop file where parent_exe == \"/usr/bin/dpkg\"\n");
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/a", NULL);
	/* Unknown executables: no exe condition matches. */
	cr_assert_eq(bpft_open(skel, &f, 1, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, VERDICT_NONE);
	bpft_exe(skel, 10, "/usr/bin/make");
	bpft_open(skel, &f, 1, &out);
	cr_assert_eq(out.verdict, DROPS(0));
	bpft_exe(skel, 10, "/usr/bin/make2");
	bpft_open(skel, &f, 1, &out);
	cr_assert_eq(out.verdict, VERDICT_NONE, "== is the whole path");
	bpft_exe(skel, 10, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1");
	bpft_open(skel, &f, 1, &out);
	cr_assert_eq(out.verdict, DROPS(1));
	bpft_exe(skel, 10, "/usr/bin/sh");
	bpft_exe(skel, 1, "/usr/bin/dpkg");
	bpft_open(skel, &f, 1, &out);
	cr_assert_eq(out.verdict, DROPS(2));
	/* Rules without exe conditions in the active slot: the input carries no executable. */
	bpft_filters(skel, "drop file where comm == \"nomatch\"\n");
	cr_assert_eq(skel->bss->vg_flt_cfg.exe & 1u << (skel->bss->vg_flt_cfg.slot & 1), 0);
}

Test(filter, first_match_decides)
{
	skel = bpft_load(NULL);
	bpft_filters(skel, "keep file where comm == \"ld\"\n"
			   "drop file where path prefix \"/tmp/\"\n"
			   "keep file where path prefix \"/tmp/\"\n");
	cr_assert_eq(file_verdict("ld", VG_FILE_CREATE, "/tmp/a.out", NULL), KEEPS(0));
	cr_assert_eq(file_verdict("cc", VG_FILE_CREATE, "/tmp/a.out", NULL), DROPS(1));
	cr_assert_eq(bpft_hits(skel, 0), 1);
	cr_assert_eq(bpft_hits(skel, 1), 1);
	cr_assert_eq(bpft_hits(skel, 2), 0, "a later rule was judged");
	/* Only file rules judge file events. */
	bpft_filters(skel, "drop network where rport == 0\n");
	cr_assert_eq(file_verdict("cc", VG_FILE_CREATE, "/tmp/a.out", NULL), VERDICT_NONE);
}

/* sample 1/3: the 1st, 4th, 7th ... match is kept, the others dropped; all are hits. */
Test(filter, sampling)
{
	static const int want[] = { KEEPS(0), DROPS(0), DROPS(0), KEEPS(0),
				    DROPS(0), DROPS(0), KEEPS(0) };
	unsigned i;

	skel = bpft_load(NULL);
	bpft_filters(skel, "drop file where path prefix \"/tmp/\" sample 1/3\n");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(file_verdict("w", VG_FILE_CREATE, "/tmp/x", NULL), want[i], "match %u",
			     i + 1);
	cr_assert_eq(bpft_hits(skel, 0), 7);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_FILE, VG_CNT_FILTERED), 4);
}

/* No rules loaded: the event is not judged at all. */
Test(filter, off)
{
	struct vgt_file f;
	struct vgt_out out;

	skel = bpft_load(NULL);
	f = bpft_file(10, "w", VG_FILE_MODIFY, "/a", NULL);
	cr_assert_eq(bpft_open(skel, &f, 1, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, -1);
	bpft_filters(skel, "");
	cr_assert_eq(bpft_open(skel, &f, 1, &out), VGT_EMIT);
	cr_assert_eq(out.verdict, -1);
}

static struct vg_net_event net(int family, const char *raddr, __u16 rport, __u16 lport, __u16 op)
{
	struct vg_net_event e = { .family = (__u16)family, .rport = rport, .lport = lport };

	e.hdr.type = VG_EV_NET;
	e.hdr.size = sizeof(e);
	e.op = op;
	e.task.tgid = e.task.pid = 20;
	e.task.uid = 1000;
	strcpy(e.task.comm, "curl");
	cr_assert_eq(inet_pton(family, raddr, e.raddr), 1, "%s", raddr);
	return e;
}

Test(filter, net_cidr_ports_op)
{
	struct vg_net_event e;

	skel = bpft_load(NULL);
	bpft_filters(skel, "drop network where remote in 10.0.0.0/8 and rport == 53\n"
			   "drop network where remote in fd00::/8\n"
			   "drop network where remote == 192.168.1.1\n"
			   "drop network where lport == 8080 and op == accept\n"
			   "drop network where remote in 0.0.0.0/0 and op in (listen, udp_send)\n");
	e = net(AF_INET, "10.1.2.3", 53, 40000, VG_NET_UDP_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 1);
	e = net(AF_INET, "10.1.2.3", 54, 40000, VG_NET_UDP_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 0, "rport");
	e = net(AF_INET, "11.1.2.3", 53, 40000, VG_NET_UDP_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 0, "outside the CIDR");
	e = net(AF_INET6, "fd12::1", 443, 40000, VG_NET_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 1);
	e = net(AF_INET6, "fe80::1", 443, 40000, VG_NET_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 0);
	e = net(AF_INET6, "a01:203::", 53, 40000, VG_NET_CONNECT); /* starts 10.1.2.3 */
	cr_assert_eq(bpft_net(skel, &e), 0, "an IPv4 rule matched IPv6");
	e = net(AF_INET, "192.168.1.1", 80, 40000, VG_NET_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 1);
	e = net(AF_INET, "192.168.1.2", 80, 40000, VG_NET_CONNECT);
	cr_assert_eq(bpft_net(skel, &e), 0);
	e = net(AF_INET, "1.2.3.4", 5555, 8080, VG_NET_ACCEPT);
	cr_assert_eq(bpft_net(skel, &e), 1);
	e = net(AF_INET, "1.2.3.4", 5555, 8080, VG_NET_CONNECTED);
	cr_assert_eq(bpft_net(skel, &e), 0, "op");
	e = net(AF_INET, "1.2.3.4", 5555, 8081, VG_NET_ACCEPT);
	cr_assert_eq(bpft_net(skel, &e), 0, "lport");
	e = net(AF_INET, "1.2.3.4", 5555, 8081, VG_NET_UDP_SEND);
	cr_assert_eq(bpft_net(skel, &e), 1);
	cr_assert_eq(bpft_hits(skel, 0), 1);
	cr_assert_eq(bpft_hits(skel, 1), 1);
	cr_assert_eq(bpft_hits(skel, 2), 1);
	cr_assert_eq(bpft_hits(skel, 3), 1);
	cr_assert_eq(bpft_hits(skel, 4), 1);
	cr_assert_eq(bpft_counter(skel, VG_CLASS_NET, VG_CNT_FILTERED), 5);
}
