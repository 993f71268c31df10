// SPDX-License-Identifier: GPL-2.0-only
/*
 * The path walk (kern/path.bpf.h) on real dentries: files this test opens
 * and its working directory, found from the calling task (BPF_PROG_TEST_RUN
 * of a raw_tp program runs in the caller's context), nested, across a
 * tmpfs and a bind mount in a private mount namespace, and cut at its
 * depth and length bounds.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "harness.h"

#define TRUNC (1u << 16) /* VG_PATH_TRUNC_BIT */

static struct bpft_bpf *skel;
static char tmp[PATH_MAX]; /* this test's directory, its real path */
static char mnt[3][PATH_MAX + 16]; /* mounted here, to unmount (last first) */

/* Remove name under dfd and everything below it, by fd (paths may exceed PATH_MAX). */
static void rmtree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	struct dirent *d;
	DIR *dir;

	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			rmtree_at(fd, d->d_name);
	closedir(dir);
	if (unlinkat(dfd, name, AT_REMOVEDIR))
		fprintf(stderr, "test_path: cannot remove %s: %s\n", name, strerror(errno));
}

static void init(void)
{
	char t[] = "/tmp/vg-bpft-XXXXXX";

	skel = bpft_load(NULL);
	cr_assert(mkdtemp(t), "mkdtemp: %s", strerror(errno));
	cr_assert(realpath(t, tmp), "realpath %s: %s", t, strerror(errno));
}

static void fini(void)
{
	if (chdir("/"))
		fprintf(stderr, "test_path: chdir /: %s\n", strerror(errno));
	for (int i = 2; i >= 0; i--)
		if (mnt[i][0] && umount2(mnt[i], MNT_DETACH))
			fprintf(stderr, "test_path: umount %s: %s\n", mnt[i], strerror(errno));
	if (tmp[0])
		rmtree_at(AT_FDCWD, tmp);
	bpft_bpf__destroy(skel);
	skel = NULL;
}

TestSuite(path, .init = init, .fini = fini);

/* The walk of fd (or AT_FDCWD: the cwd) into out; returns vg_path_walk()'s result. */
static __u32 walk(int fd, struct vgt_out *out)
{
	__u64 arg = (__u64)(__s64)fd;
	__u32 zero = 0;
	int len = bpft_run(skel->progs.vgt_path, &arg, 1);

	cr_assert_eq(
		bpf_map__lookup_elem(skel->maps.vgt_out, &zero, sizeof(zero), out, sizeof(*out), 0),
		0);
	out->path[sizeof(out->path) - 1] = '\0';
	cr_assert_eq(len, (int)strlen(out->path) + 1, "length %d for \"%s\"", len, out->path);
	return out->walk;
}

/* Path of the file at path (opened by path), which must be want, not truncated. */
static void expect_path(const char *path, const char *want)
{
	struct vgt_out out;
	int fd = open(path, O_RDONLY);
	__u32 w;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	w = walk(fd, &out);
	close(fd);
	cr_assert_str_eq(out.path, want);
	cr_assert_eq(w & TRUNC, 0, "%s marked truncated", want);
}

static void mkfile(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	close(fd);
}

static void mkdirs(const char *fmt, const char *base)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), fmt, base);
	cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
}

Test(path, nested)
{
	char p[PATH_MAX + 64];

	mkdirs("%s/a", tmp);
	mkdirs("%s/a/b", tmp);
	mkdirs("%s/a/b/c d", tmp);
	snprintf(p, sizeof(p), "%s/a/b/c d/file.txt", tmp);
	mkfile(p);
	expect_path(p, p);
	/* A directory fd, and the path as the caller wrote it does not matter. */
	snprintf(p, sizeof(p), "%s/a/./b/../b", tmp);
	{
		char want[PATH_MAX + 64];

		snprintf(want, sizeof(want), "%s/a/b", tmp);
		expect_path(p, want);
	}
	expect_path("/", "/");
}

Test(path, cwd)
{
	char p[PATH_MAX + 64];
	struct vgt_out out;

	mkdirs("%s/w", tmp);
	snprintf(p, sizeof(p), "%s/w", tmp);
	cr_assert_eq(chdir(p), 0);
	cr_assert_eq(walk(-100 /* AT_FDCWD */, &out) & TRUNC, 0);
	cr_assert_str_eq(out.path, p);
}

/*
 * A tmpfs mounted inside the directory, another inside that one, and a
 * bind mount of a folder of the first: each crossing goes on from the
 * mount point in the parent mount.
 */
Test(path, mounts)
{
	char p[PATH_MAX + 64];

	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
	cr_assert_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "private: %s",
		     strerror(errno));
	mkdirs("%s/m", tmp);
	snprintf(mnt[0], sizeof(mnt[0]), "%s/m", tmp);
	cr_assert_eq(mount("vg-bpft", mnt[0], "tmpfs", 0, "size=1m"), 0, "tmpfs: %s",
		     strerror(errno));
	mkdirs("%s/m/x", tmp);
	mkdirs("%s/m/x/y", tmp);
	snprintf(p, sizeof(p), "%s/m/x/y/f", tmp);
	mkfile(p);
	expect_path(p, p);
	expect_path(mnt[0], mnt[0]); /* the root of a mount */

	mkdirs("%s/m/x/in", tmp);
	snprintf(mnt[1], sizeof(mnt[1]), "%s/m/x/in", tmp);
	cr_assert_eq(mount("vg-bpft2", mnt[1], "tmpfs", 0, "size=1m"), 0, "tmpfs: %s",
		     strerror(errno));
	mkdirs("%s/m/x/in/z", tmp);
	snprintf(p, sizeof(p), "%s/m/x/in/z/g", tmp);
	mkfile(p);
	expect_path(p, p);

	mkdirs("%s/bind", tmp);
	snprintf(mnt[2], sizeof(mnt[2]), "%s/bind", tmp);
	snprintf(p, sizeof(p), "%s/m/x", tmp);
	cr_assert_eq(mount(p, mnt[2], NULL, MS_BIND, NULL), 0, "bind: %s", strerror(errno));
	/* The same file through the bind mount: the path it was opened by. */
	snprintf(p, sizeof(p), "%s/bind/y/f", tmp);
	expect_path(p, p);
	expect_path(mnt[2], mnt[2]);
}

/* A chain of n directories named name under tmp, with a file f at the bottom; its fd. */
static int deep_file(const char *name, int n)
{
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY), next, i;

	cr_assert_geq(dfd, 0);
	for (i = 0; i < n; i++) {
		cr_assert_eq(mkdirat(dfd, name, 0700), 0, "mkdir level %d: %s", i, strerror(errno));
		next = openat(dfd, name, O_RDONLY | O_DIRECTORY);
		cr_assert_geq(next, 0);
		close(dfd);
		dfd = next;
	}
	next = openat(dfd, "f", O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(next, 0, "create f: %s", strerror(errno));
	close(dfd);
	return next;
}

/* 64 components at most: the walk keeps the last 64 and says it gave up. */
Test(path, depth_bound)
{
	char want[2 * 64 + 1] = "";
	struct vgt_out out;
	int fd = deep_file("d", 70), i;
	__u32 w;

	for (i = 0; i < 63; i++)
		strcat(want, "/d");
	strcat(want, "/f");
	w = walk(fd, &out);
	close(fd);
	cr_assert_neq(w & TRUNC, 0, "not marked truncated");
	cr_assert_str_eq(out.path, want);
}

/* VG_PATH_MAX - 1 bytes at most: whole components only, the deepest that fit. */
Test(path, length_bound)
{
	char name[251], *want = calloc(1, 4096);
	struct vgt_out out;
	int fd, i;
	__u32 w;

	cr_assert(want);
	memset(name, 'x', 250);
	name[250] = '\0';
	fd = deep_file(name, 20);
	/* "/f" and 16 components of 251 bytes: 4018; a 17th would make 4269. */
	for (i = 0; i < 16; i++) {
		strcat(want, "/");
		strcat(want, name);
	}
	strcat(want, "/f");
	w = walk(fd, &out);
	close(fd);
	cr_assert_neq(w & TRUNC, 0, "not marked truncated");
	cr_assert_eq(strlen(out.path), 4018);
	cr_assert_str_eq(out.path, want);
	free(want);
}
