// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

int vg_dir_open_own(const char *opt, const char *dir, int create)
{
	struct stat st;
	int fd;

	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return vg_err(-errno, "%s %s: create", opt, dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && !lstat(dir, &st) &&
	    S_ISLNK(st.st_mode)) {
		vg_log(VG_ERROR, "%s %s: is a symbolic link: give the directory itself", opt, dir);
		return -ELOOP;
	}
	if (fd < 0 || fstat(fd, &st)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return vg_err(err, "%s %s", opt, dir);
	}
	if (st.st_uid != geteuid()) {
		vg_log(VG_ERROR, "%s %s: owned by uid %u, not by vigild's uid %u: refusing it", opt,
		       dir, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		vg_log(VG_ERROR,
		       "%s %s: mode %04o lets its group or others write to it: refusing it "
		       "(chmod go-w)",
		       opt, dir, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	return fd;
}

const char *vg_own_file_problem(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return "is not a regular file";
	if (st->st_uid != geteuid())
		return "is not owned by vigild's user";
	if (st->st_nlink != 1)
		return "has other hard links";
	return NULL;
}

int vg_file_create_own(const char *opt, int dirfd, const char *name)
{
	const char *why;
	struct stat st;
	int fd;

	/* No O_TRUNC yet: nothing is changed before the file is known to be ours. */
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ELOOP) {
		vg_log(VG_ERROR, "%s %s: is a symbolic link: refusing to write through it", opt,
		       name);
		return -ELOOP;
	}
	if (fd < 0 || fstat(fd, &st)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return vg_err(err, "%s %s", opt, name);
	}
	why = vg_own_file_problem(&st);
	if (why) {
		vg_log(VG_ERROR, "%s %s: %s: refusing to write to it", opt, name, why);
		close(fd);
		return -EPERM;
	}
	if (ftruncate(fd, 0) || fcntl(fd, F_SETFL, 0)) {
		int err = -errno;

		close(fd);
		return vg_err(err, "%s %s: truncate", opt, name);
	}
	return fd;
}

int vg_parent_dir_check(const char *opt, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st))
		return vg_err(-errno, "%s %s: directory %s", opt, path, dir);
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		vg_log(VG_ERROR, "%s %s: directory %s is owned by uid %u: refusing it", opt, path,
		       dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		vg_log(VG_ERROR,
		       "%s %s: directory %s (mode %04o) lets others replace what is in it: "
		       "refusing it",
		       opt, path, dir, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}
