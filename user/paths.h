/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Paths vigild (root) writes to, given on its command line: never through
 * a name someone else could have placed. A directory it keeps files in
 * (--spool, --dump-batches) must be its own and writable by it alone; a
 * file it writes (--record) is opened without following a symlink and must
 * be a regular file of its own with one link before anything is truncated;
 * the directory of its control socket must not let others swap the socket.
 * Each refusal is logged with the path, the option and the reason.
 */
#ifndef VG_PATHS_H
#define VG_PATHS_H

#include <sys/stat.h>

/*
 * Open directory dir for opt (created 0700 when missing if create): not a
 * symlink, owned by the euid, not group- or world-writable. fd, or -errno:
 * -ELOOP (a symlink), -EPERM (someone else's or writable by others).
 */
int vg_dir_open_own(const char *opt, const char *dir, int create);
/*
 * Open name (relative to dirfd, or a path with AT_FDCWD) for writing,
 * created 0600 when missing, then truncated: not through a symlink, and a
 * regular file of the euid with one link, else -EPERM or -ELOOP and nothing
 * changed. fd or -errno.
 */
int vg_file_create_own(const char *opt, int dirfd, const char *name);
/*
 * A socket is to be created at path: its directory must belong to root or
 * the euid and not be writable by others, unless sticky (/tmp). 0 or -EPERM.
 */
int vg_parent_dir_check(const char *opt, const char *path);
/* Why st (of something at path, for opt) is not a file vigild may trust: NULL when it is. */
const char *vg_own_file_problem(const struct stat *st);

#endif
