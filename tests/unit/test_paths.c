// SPDX-License-Identifier: GPL-2.0-only
/*
 * Paths vigild writes to as root (user/paths.h): a file is never written
 * through a symlink or when it is someone else's, and nothing is truncated
 * before that is known; a socket's directory must not let others swap it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-paths-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	vg_log_max = -1;
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
	vg_log_max = VG_INFO;
}

TestSuite(paths, .init = setup, .fini = teardown);

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static off_t size_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

Test(paths, file_is_created_or_truncated_when_ours)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/new", dir);
	fd = vg_file_create_own("--record", AT_FDCWD, path);
	cr_assert_geq(fd, 0);
	close(fd);
	put(path, "old content");
	fd = vg_file_create_own("--record", AT_FDCWD, path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(size_of(path), 0);
}

Test(paths, file_through_a_symlink_is_refused_and_untouched)
{
	char victim[128], link[128];

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	put(victim, "keep me");
	cr_assert_eq(symlink(victim, link), 0);
	cr_assert_eq(vg_file_create_own("--record", AT_FDCWD, link), -ELOOP);
	cr_assert_eq(size_of(victim), 7);
}

Test(paths, file_of_another_user_or_with_two_links_is_refused_and_untouched)
{
	char path[128], other[128];

	if (geteuid() != 0)
		cr_skip_test("chown needs root");
	snprintf(path, sizeof(path), "%s/theirs", dir);
	put(path, "keep me");
	cr_assert_eq(chown(path, 65534, 65534), 0);
	cr_assert_eq(vg_file_create_own("--record", AT_FDCWD, path), -EPERM);
	cr_assert_eq(size_of(path), 7);
	cr_assert_eq(chown(path, 0, 0), 0);
	snprintf(other, sizeof(other), "%s/hardlink", dir);
	cr_assert_eq(link(path, other), 0);
	cr_assert_eq(vg_file_create_own("--record", AT_FDCWD, other), -EPERM);
	cr_assert_eq(size_of(path), 7);
}

Test(paths, socket_directory_others_can_write_is_refused_unless_sticky)
{
	char sub[128], sock[160];

	snprintf(sub, sizeof(sub), "%s/d", dir);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", sub);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(vg_parent_dir_check("--control", sock), 0);
	cr_assert_eq(chmod(sub, 0777), 0);
	cr_assert_eq(vg_parent_dir_check("--control", sock), -EPERM);
	cr_assert_eq(chmod(sub, 01777), 0);
	cr_assert_eq(vg_parent_dir_check("--control", sock), 0);
}

Test(paths, directory_must_be_ours_and_closed_to_others)
{
	char sub[128];
	int fd;

	snprintf(sub, sizeof(sub), "%s/d", dir);
	fd = vg_dir_open_own("--dump-batches", sub, 0);
	cr_assert_eq(fd, -ENOENT);
	fd = vg_dir_open_own("--dump-batches", sub, 1);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(chmod(sub, 0707), 0);
	cr_assert_eq(vg_dir_open_own("--dump-batches", sub, 0), -EPERM);
}
