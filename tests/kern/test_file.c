// SPDX-License-Identifier: GPL-2.0-only
/*
 * File events through the whole pipeline: each operation is done by this
 * test process with known arguments, and the stored row is checked field by
 * field.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char dir[PATH_MAX];

static void setup(void)
{
	vg_t_host_start(&host, NULL);
	/* Resolved, as the kernel reports paths. */
	vg_t_tmpdir(dir, sizeof(dir), "vg-file");
	cr_assert_eq(chdir(dir), 0);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	if (dir[0]) {
		char cmd[PATH_MAX + 32];

		umount2(dir, MNT_DETACH); /* nothing is mounted there; a no-op */
		snprintf(cmd, sizeof(cmd), "umount -q %s/dst 2>/dev/null; rm -rf %s", dir, dir);
		if (system(cmd))
			cr_log_warn("cleanup of %s failed", dir);
	}
}

static void touch(const char *path, int flags)
{
	int fd = open(path, flags, 0644);

	cr_assert_geq(fd, 0, "open %s", path);
	close(fd);
}

/* Wait for, then return, the number of rows of this process in a table matching a condition. */
static long long rows(const char *table, const char *action, const char *folder)
{
	return vg_t_wait_int(
		&host, 1, 5000,
		"SELECT count(*) FROM %s WHERE ActionType = '%s' AND FolderPath = '%q' "
		"AND InitiatingProcessId = %d",
		table, action, folder, getpid());
}

static char *col(const char *table, const char *column, const char *action, const char *folder)
{
	sqlite3 *db = vg_t_db_open(&host);
	char *v = vg_t_query_str(db,
				 "SELECT %s FROM %s WHERE ActionType = '%s' AND FolderPath = '%q' "
				 "ORDER BY rowid DESC LIMIT 1",
				 column, table, action, folder);

	sqlite3_close(db);
	return v;
}

static char *at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

Test(file, create_modify_relative_and_dirfd, .init = setup, .fini = teardown, .timeout = 60)
{
	char *s;
	int dfd;

	touch("created.txt", O_CREAT | O_WRONLY | O_EXCL);
	cr_assert_eq(rows("DeviceFileEvents", "FileCreated", at("created.txt")), 1);
	s = col("DeviceFileEvents", "FileName", "FileCreated", at("created.txt"));
	cr_assert_str_eq(s, "created.txt");
	free(s);
	s = col("DeviceFileEvents", "InitiatingProcessFolderPath", "FileCreated",
		at("created.txt"));
	cr_assert_not_null(s);
	free(s);

	touch("created.txt", O_WRONLY | O_TRUNC);
	cr_assert_eq(rows("DeviceFileEvents", "FileModified", at("created.txt")), 1);
	touch("created.txt", O_RDONLY);

	cr_assert_eq(mkdir("sub", 0755), 0);
	dfd = open("sub", O_DIRECTORY | O_RDONLY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(chdir("/"), 0); /* dirfd, not cwd, must decide */
	{
		int fd = openat(dfd, "viadirfd", O_CREAT | O_WRONLY, 0600);

		cr_assert_geq(fd, 0);
		close(fd);
	}
	cr_assert_eq(rows("DeviceFileEvents", "FileCreated", at("sub/viadirfd")), 1);
	cr_assert_eq(unlinkat(dfd, "viadirfd", 0), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileDeleted", at("sub/viadirfd")), 1);
	close(dfd);
	cr_assert_eq(chdir(dir), 0);

	/* A read-only open of an ordinary file is not a file event. */
	cr_assert_eq(
		vg_t_query_int(vg_t_db_open(&host),
			       "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = '%q' AND "
			       "ActionType NOT IN ('FileCreated', 'FileModified')",
			       at("created.txt")),
		0);
}

Test(file, rename_delete_mode_owner, .init = setup, .fini = teardown, .timeout = 60)
{
	char *s;

	cr_assert_eq(mkdir("a", 0755), 0);
	cr_assert_eq(mkdir("b", 0755), 0);
	touch("a/f", O_CREAT | O_WRONLY);
	cr_assert_eq(rename("a/f", "b/../b/g"), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileRenamed", at("b/g")), 1);
	s = col("DeviceFileEvents", "PreviousFolderPath", "FileRenamed", at("b/g"));
	cr_assert_str_eq(s, at("a/f"));
	free(s);
	s = col("DeviceFileEvents", "PreviousFileName", "FileRenamed", at("b/g"));
	cr_assert_str_eq(s, "f");
	free(s);

	cr_assert_eq(chmod("b/g", 0755), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileModeChanged", at("b/g")), 1);
	s = col("DeviceFileEvents", "AdditionalFields", "FileModeChanged", at("b/g"));
	cr_assert_not_null(strstr(s, "\"Mode\":\"0755\""), "%s", s);
	cr_assert_not_null(strstr(s, "\"MadeExecutable\":true"), "%s", s);
	free(s);

	cr_assert_eq(chown("b/g", 1234, 5678), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileOwnerChanged", at("b/g")), 1);
	s = col("DeviceFileEvents", "AdditionalFields", "FileOwnerChanged", at("b/g"));
	cr_assert_not_null(strstr(s, "\"OwnerUid\":1234"), "%s", s);
	cr_assert_not_null(strstr(s, "\"OwnerGid\":5678"), "%s", s);
	free(s);

	cr_assert_eq(unlink("b/g"), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileDeleted", at("b/g")), 1);
	cr_assert_eq(rmdir("a"), 0);
	cr_assert_eq(rows("DeviceFileEvents", "FileDeleted", at("a")), 1);
	/* A failed delete is no event. */
	cr_assert_neq(unlink("does-not-exist"), 0);
}

Test(file, bind_mount_and_symlinked_directory, .init = setup, .fini = teardown, .timeout = 60)
{
	cr_assert_eq(mkdir("src", 0755), 0);
	cr_assert_eq(mkdir("dst", 0755), 0);
	cr_assert_eq(mount(at("src"), at("dst"), NULL, MS_BIND, NULL), 0, "bind mount");
	/* Through the mount, the path is where the caller saw the file. */
	touch("dst/through-bind", O_CREAT | O_WRONLY);
	cr_assert_eq(rows("DeviceFileEvents", "FileCreated", at("dst/through-bind")), 1);
	cr_assert_eq(umount2(at("dst"), 0), 0);

	cr_assert_eq(mkdir("real", 0755), 0);
	cr_assert_eq(symlink("real", "link"), 0);
	/* The kernel resolves the open through the symlinked directory. */
	touch("link/z", O_CREAT | O_WRONLY);
	cr_assert_eq(rows("DeviceFileEvents", "FileCreated", at("real/z")), 1);
}

/* A scripted workload known in advance: exactly these counts, nothing missing or extra. */
Test(file, ground_truth_counts, .init = setup, .fini = teardown, .timeout = 120)
{
	enum { N = 300, M = 120, K = 150 }; /* deletes hit files that were not renamed */
	char p[64], q[64];
	sqlite3 *db;

	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "f%d", i);
		touch(p, O_CREAT | O_WRONLY | O_EXCL);
	}
	for (int i = 0; i < M; i++) {
		snprintf(p, sizeof(p), "f%d", i);
		snprintf(q, sizeof(q), "r%d", i);
		cr_assert_eq(rename(p, q), 0);
	}
	for (int i = N - K; i < N; i++) {
		snprintf(p, sizeof(p), "f%d", i);
		cr_assert_eq(unlink(p), 0);
	}
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
#define COUNT(action)                                                                           \
	vg_t_query_int(db,                                                                      \
		       "SELECT count(*) FROM DeviceFileEvents WHERE ActionType = '" action "' " \
		       "AND FolderPath LIKE '%q/%%' AND InitiatingProcessId = %d",              \
		       dir, getpid())
	cr_assert_eq(COUNT("FileCreated"), N);
	cr_assert_eq(COUNT("FileRenamed"), M);
	cr_assert_eq(COUNT("FileDeleted"), K);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath LIKE "
				    "'%q/%%' AND ActionType NOT IN ('FileCreated', 'FileRenamed', "
				    "'FileDeleted')",
				    dir),
		     0, "extra file events");
	cr_assert_eq(vg_t_query_int(db, "SELECT count(*) FROM SensorCounters WHERE Seen != "
					"Emitted + Filtered + Deduplicated + RateLimited + "
					"RingbufFull"),
		     0, "accounting identity broken");
	cr_assert_eq(vg_t_query_int(db, "SELECT RingbufFull FROM SensorCounters WHERE "
					"EventClass = 'file'"),
		     0);
	sqlite3_close(db);
}

/* With the sys_exit hook refused, process events keep flowing and file events say why not. */
Test(file, probe_fallback_keeps_other_sources, .timeout = 60)
{
	static const char *const args[] = { "--deny-hook", "sys_exit", NULL };
	char marker[64], tmpl[PATH_MAX];
	char *argv[] = { "/bin/true", marker, NULL };
	pid_t pid;
	sqlite3 *db;
	FILE *p;
	char line[512];
	int file_no = 0, exec_yes = 0;

	vg_t_host_start(&host, args);
	vg_t_tmpdir(tmpl, sizeof(tmpl), "vg-file");
	snprintf(line, sizeof(line), "%s/x", tmpl);
	touch(line, O_CREAT | O_WRONLY);
	vg_t_marker(marker, sizeof(marker), "nosys");
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(
		vg_t_wait_int(&host, 1, 5000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d AND "
			      "ActionType = 'ProcessCreated'",
			      pid),
		1);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db, "SELECT count(*) FROM DeviceFileEvents"), 0);
	sqlite3_close(db);
	unlink(line);
	rmdir(tmpl);

	snprintf(line, sizeof(line), "%s --probe --deny-hook sys_exit",
		 getenv("VIGILD") ? getenv("VIGILD") : "build/vigild");
	p = popen(line, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (!strncmp(line, "file ", 5) && strstr(line, " no ") &&
		    strstr(line, "denied by --deny-hook"))
			file_no = 1;
		if (!strncmp(line, "exec ", 5) && strstr(line, " yes "))
			exec_yes = 1;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert(file_no, "--probe does not say the file source is unavailable and why");
	cr_assert(exec_yes, "--probe does not say exec is still supported");
}

/*
 * The file ring is drained after the process ring: a process that writes a
 * file and exits at once must still be named on its file event.
 */
Test(file, short_lived_writer_is_named, .init = setup, .fini = teardown, .timeout = 60)
{
	char sh[PATH_MAX], *s;
	char *argv[] = { "/bin/sh", "-c", "echo x > short-lived.txt", NULL };
	pid_t pid;

	cr_assert_not_null(realpath("/bin/sh", sh));
	for (int i = 0; i < 20; i++) {
		pid = fork();
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
	}
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	{
		sqlite3 *db = vg_t_db_open(&host);

		cr_assert_eq(
			vg_t_query_int(db,
				       "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = "
				       "'%q' AND InitiatingProcessFolderPath = '%q'",
				       at("short-lived.txt"), sh),
			20, "file events of short-lived processes lost their process");
		s = vg_t_query_str(
			db,
			"SELECT InitiatingProcessCommandLine FROM DeviceFileEvents WHERE "
			"FolderPath = '%q' LIMIT 1",
			at("short-lived.txt"));
		cr_assert_str_eq(s, "/bin/sh -c 'echo x > short-lived.txt'");
		free(s);
		sqlite3_close(db);
	}
}

/* Does the host's log say vigild watches with this hook and attach point ("tp/sys_exit")? */
static int watching_with(const struct vg_t_host *h, const char *hook_point)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen(h->log, "r");

	cr_assert_not_null(f, "%s", h->log);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "watching (") && strstr(line, hook_point))
			found = 1;
	fclose(f);
	return found;
}

/* Does this kernel have bpf_rdonly_cast(), so that the tp hook is vg_sysx_tpd (daemon/bpf.c)? */
static int kernel_has_rdonly_cast(void)
{
	return !system("bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | "
		       "grep -q \"FUNC 'bpf_rdonly_cast'\"");
}

/* Is a BPF program of this name loaded? */
static int prog_loaded(const char *name)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "bpftool prog show 2>/dev/null | grep -q ' name %s '", name);
	return !system(cmd);
}

/*
 * The tp hook (one program on the exit tracepoint of each watched syscall:
 * vg_sysx_tpd where the kernel has bpf_rdonly_cast, an open's file, flags
 * and directory read by plain loads) and its fallback (one program on
 * sys_exit, vg_sysx_btf: helper calls) report the same rows, field for field: creates,
 * writes, a read-only open that truncates (its flags are all that say so),
 * a chmod, a delete; a read of a watched key directory's file; and no row
 * for read-only opens, one of them in a directory whose name is too long to
 * be stored in the dentry.
 */
Test(file, tp_hook_and_sys_exit_fallback_report_the_same, .fini = teardown, .timeout = 120)
{
	static const char *const deny[] = { "--deny-hook", "sys_exit:tp", NULL };
	const char *const *variants[] = { NULL, deny };
	static const char *const hook_point[] = { " tp/sys_exit", " tp_btf/sys_exit" };
	static const char *const actions[] = { "FileCreated", "FileModified", "FileModeChanged",
					       "FileDeleted" };
	char *fields[2];

	vg_t_tmpdir(dir, sizeof(dir), "vg-file");
	for (int v = 0; v < 2; v++) {
		char sub[PATH_MAX], p[PATH_MAX + 8], tr[PATH_MAX + 8], key[PATH_MAX + 16],
			lng[PATH_MAX + 64];
		struct stat st;
		sqlite3 *db;

		snprintf(sub, sizeof(sub), "%s/v%d", dir, v);
		cr_assert_eq(mkdir(sub, 0755), 0);
		snprintf(p, sizeof(p), "%s/a", sub);
		snprintf(key, sizeof(key), "%s/.ssh", sub);
		cr_assert_eq(mkdir(key, 0700), 0);
		snprintf(key, sizeof(key), "%s/.ssh/id_vg", sub);
		snprintf(lng, sizeof(lng),
			 "%s/a-directory-name-longer-than-any-dentry-keeps-inline", sub);
		cr_assert_eq(mkdir(lng, 0755), 0);
		strcat(lng, "/b");
		snprintf(tr, sizeof(tr), "%s/t", sub);
		touch(key, O_CREAT | O_WRONLY);
		touch(lng, O_CREAT | O_WRONLY);
		touch(tr, O_CREAT | O_WRONLY);
		vg_t_host_start(&host, variants[v]);
		cr_assert(watching_with(&host, hook_point[v]), "vigild does not watch with%s",
			  hook_point[v]);
		if (v == 0 && kernel_has_rdonly_cast())
			cr_assert(prog_loaded("vg_sysx_tpd"),
				  "this kernel has bpf_rdonly_cast, yet the tp hook is not "
				  "vg_sysx_tpd");
		touch(p, O_CREAT | O_WRONLY);
		touch(p, O_WRONLY | O_TRUNC);
		touch(p, O_RDONLY);
		touch(tr, O_RDONLY | O_TRUNC);
		touch(lng, O_RDONLY);
		touch(key, O_RDONLY);
		cr_assert_eq(chmod(p, 0600), 0);
		cr_assert_eq(stat(p, &st), 0);
		cr_assert_eq(unlink(p), 0);
		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
			cr_assert_eq(rows("DeviceFileEvents", actions[i], p), 1, "%s on%s",
				     actions[i], hook_point[v]);
		cr_assert_eq(rows("DeviceFileEvents", "FileModified", tr), 1,
			     "O_RDONLY|O_TRUNC on%s", hook_point[v]);
		cr_assert_eq(vg_t_wait_int(&host, 1, 5000,
					   "SELECT count(*) FROM DeviceEvents WHERE ActionType = "
					   "'SensitiveFileRead' AND FolderPath = '%q'",
					   key),
			     1, "the key's read on%s", hook_point[v]);
		cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
		db = vg_t_db_open(&host);
		cr_assert_eq(
			vg_t_query_int(db,
				       "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath "
				       "= '%q'",
				       p),
			4, "the read-only open made an event on%s", hook_point[v]);
		cr_assert_eq(
			vg_t_query_int(db,
				       "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath "
				       "= '%q' OR FolderPath = '%q'",
				       lng, key),
			0, "a read-only open made an event on%s", hook_point[v]);
		cr_assert_eq(vg_t_query_int(
				     db,
				     "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath "
				     "= '%q' AND json_extract(AdditionalFields, '$.Inode') = %llu",
				     p, (unsigned long long)st.st_ino),
			     2, "the opens do not name the file's inode on%s", hook_point[v]);
		/* Every other field but the times, in action order. */
		fields[v] = vg_t_query_str(
			db,
			"SELECT group_concat(ActionType || '|' || FileName || '|' || "
			"json_remove(AdditionalFields, '$.Inode'), ';') FROM (SELECT * FROM "
			"DeviceFileEvents WHERE FolderPath = '%q' ORDER BY Timestamp)",
			p);
		sqlite3_close(db);
	}
	cr_assert_str_eq(fields[0], fields[1]);
	free(fields[0]);
	free(fields[1]);
}
