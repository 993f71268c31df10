// SPDX-License-Identifier: GPL-2.0-only
/*
 * What vigild adds to the kernel's records, end to end as root: the SHA256
 * and SHA1 of executed images (and of the initiating process), FileSize, and
 * the container named by a real cgroup v2 directory; a hunt by hash finds the
 * exec; an image over the size cap is counted, not hashed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char cgdir[2][PATH_MAX]; /* cgroups a test made, removed by stop_host() */

static void stop_host(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
	for (int i = 0; i < 2; i++) {
		if (cgdir[i][0] && rmdir(cgdir[i]) && errno != ENOENT)
			cr_log_warn("rmdir %s: %s", cgdir[i], strerror(errno));
		cgdir[i][0] = '\0';
	}
}

static const char *bin(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

/* The first word of a command's output (malloc'd). */
static char *first_word(const char *cmd)
{
	char buf[4096];
	FILE *p = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	cr_assert_eq(pclose(p), 0, "command failed: %s", cmd);
	buf[n] = '\0';
	buf[strcspn(buf, " \t\n")] = '\0';
	return strdup(buf);
}

/* The digest tool's answer for path ("sha256sum" or "sha1sum"). */
static char *digest(const char *tool, const char *path)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "%s '%s'", tool, path);
	return first_word(cmd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	cr_assert(in >= 0 && out >= 0, "copy %s to %s: %s", from, to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	cr_assert_eq(n, 0);
	close(in);
	cr_assert_eq(close(out), 0);
}

/* Run path with one argument (in cgroup dir cg when not NULL); wait for it to exit 0. */
static pid_t run(const char *path, const char *arg, const char *cg)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (cg) {
			char procs[PATH_MAX + 16];
			int fd;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
			fd = open(procs, O_WRONLY);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(126);
			close(fd);
		}
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exited with %#x", path,
		  status);
	return pid;
}

/* The exec of pid has reached the store. */
static void wait_exec(pid_t pid)
{
	cr_assert_eq(vg_t_wait_int(&host, 1, 10000,
				   "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				   "AND ActionType = 'ProcessCreated'",
				   pid),
		     1, "no exec event for pid %d (log: %s)", pid, host.log);
}

static char *exec_col(sqlite3 *db, const char *col, pid_t pid)
{
	return vg_t_query_str(db,
			      "SELECT %s FROM DeviceProcessEvents WHERE ProcessId = %d AND "
			      "ActionType = 'ProcessCreated'",
			      col, pid);
}

/* `vigil hunt` of query as CSV (malloc'd). */
static char *hunt(const char *query)
{
	char path[PATH_MAX], cmd[2 * PATH_MAX], *out = NULL;
	size_t len = 0;
	FILE *f, *p, *m;
	char buf[4096];
	size_t n;

	snprintf(path, sizeof(path), "%s/q.kql", host.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(query, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s hunt --db %s --file %s --format csv",
		 bin("VIGIL", "build/vigil"), host.db, path);
	p = popen(cmd, "r");
	m = open_memstream(&out, &len);
	cr_assert(p && m);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, m);
	cr_assert_eq(pclose(p), 0, "hunt failed: %s", query);
	fclose(m);
	return out;
}

/* A hunt for the exec by hash column col == hex returns the row with the marker. */
static void assert_hunt_finds(const char *col, const char *hex, const char *marker)
{
	char q[512], *out;

	snprintf(q, sizeof(q),
		 "DeviceProcessEvents\n| where %s == \"%s\" and ProcessCommandLine has \"%s\"\n"
		 "| project ProcessCommandLine, %s\n",
		 col, hex, marker, col);
	out = hunt(q);
	cr_assert_not_null(strstr(out, marker), "hunt by %s found nothing:\n%s", col, out);
	cr_assert_not_null(strstr(out, hex), "%s", out);
	free(out);
}

Test(fidelity, exec_image_hashes_and_hunt, .fini = stop_host, .timeout = 90)
{
	/* Long enough that a loaded machine never sends the exec before its hash. */
	const char *args[] = { "--hash-wait-ms", "10000", NULL };
	char dir[PATH_MAX], copy[PATH_MAX + 16], m1[64], m2[64], self[PATH_MAX];
	char *sha256, *sha1, *self256, *s;
	struct stat st;
	sqlite3 *db;
	pid_t p1, p2;
	ssize_t n;

	vg_t_host_start(&host, args);
	vg_t_tmpdir(dir, sizeof(dir), "vg-fid");
	snprintf(copy, sizeof(copy), "%s/true-copy", dir);
	copy_file("/bin/true", copy, 0755);
	sha256 = digest("sha256sum", "/bin/true");
	sha1 = digest("sha1sum", "/bin/true");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert_gt(n, 0);
	self[n] = '\0';
	self256 = digest("sha256sum", self);
	cr_assert_eq(stat("/bin/true", &st), 0);

	vg_t_marker(m1, sizeof(m1), "fidtrue");
	vg_t_marker(m2, sizeof(m2), "fidcopy");
	p1 = run("/bin/true", m1, NULL);
	p2 = run(copy, m2, NULL);
	wait_exec(p1);
	wait_exec(p2);
	db = vg_t_db_open(&host);
	for (int i = 0; i < 2; i++) {
		pid_t pid = i ? p2 : p1;

		s = exec_col(db, "SHA256", pid);
		cr_assert_str_eq(s ? s : "(null)", sha256, "SHA256 of the exec of pid %d", pid);
		free(s);
		s = exec_col(db, "SHA1", pid);
		cr_assert_str_eq(s ? s : "(null)", sha1, "SHA1 of the exec of pid %d", pid);
		free(s);
		cr_assert_eq(vg_t_query_int(db,
					    "SELECT FileSize FROM DeviceProcessEvents WHERE "
					    "ProcessId = %d AND ActionType = 'ProcessCreated'",
					    pid),
			     st.st_size, "FileSize of the image");
		/* The initiating process is this test binary. */
		s = exec_col(db, "InitiatingProcessSHA256", pid);
		cr_assert_str_eq(s ? s : "(null)", self256, "InitiatingProcessSHA256");
		free(s);
	}
	sqlite3_close(db);
	assert_hunt_finds("SHA256", sha256, m1);
	assert_hunt_finds("SHA256", sha256, m2);
	assert_hunt_finds("SHA1", sha1, m1);
	free(sha256);
	free(sha1);
	free(self256);
	vg_t_rmrf(dir);
}

Test(fidelity, file_size_of_a_written_file, .fini = stop_host, .timeout = 60)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], buf[12345];
	int fd;

	vg_t_host_start(&host, NULL);
	vg_t_tmpdir(dir, sizeof(dir), "vg-fsize");
	snprintf(path, sizeof(path), "%s/written", dir);
	memset(buf, 'x', sizeof(buf));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	cr_assert_eq(close(fd), 0);
	/* Opened for writing again once written: the size vigild sees is the final one. */
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(vg_t_wait_int(&host, 1, 10000,
				   "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath = '%s' "
				   "AND ActionType = 'FileModified'",
				   path),
		     1, "no FileModified for %s (log: %s)", path, host.log);
	{
		sqlite3 *db = vg_t_db_open(&host);

		cr_assert_eq(vg_t_query_int(db,
					    "SELECT FileSize FROM DeviceFileEvents WHERE "
					    "FolderPath = '%s' AND ActionType = 'FileModified'",
					    path),
			     (long long)sizeof(buf));
		sqlite3_close(db);
	}
	vg_t_rmrf(dir);
}

/* The cgroup v2 mount: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid machine. */
static const char *cgroup2_root(void)
{
	if (!access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		return "/sys/fs/cgroup";
	if (!access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

Test(fidelity, container_from_cgroup_path, .fini = stop_host, .timeout = 60)
{
	const char *root = cgroup2_root();
	char hex[65], name[64], m1[64], m2[64], *s;
	sqlite3 *db;
	pid_t p1, p2;

	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	cr_assert_not_null(root, "no cgroup v2 mount");
	vg_t_host_start(&host, NULL);
	/* A docker scope with a 64-hex id, and a systemd-nspawn machine named vg-test-PID. */
	snprintf(hex, sizeof(hex), "%016x%048x", (unsigned int)getpid(), 0xc0ffee);
	snprintf(cgdir[0], sizeof(cgdir[0]), "%s/docker-%s.scope", root, hex);
	snprintf(name, sizeof(name), "vg-test-%d", (int)getpid());
	snprintf(cgdir[1], sizeof(cgdir[1]), "%s/machine-vg\\x2dtest\\x2d%d.scope", root,
		 (int)getpid());
	for (int i = 0; i < 2; i++)
		cr_assert_eq(mkdir(cgdir[i], 0755), 0, "mkdir %s: %s", cgdir[i], strerror(errno));
	vg_t_marker(m1, sizeof(m1), "fiddocker");
	vg_t_marker(m2, sizeof(m2), "fidnspawn");
	p1 = run("/bin/true", m1, cgdir[0]);
	p2 = run("/bin/true", m2, cgdir[1]);
	wait_exec(p1);
	wait_exec(p2);
	db = vg_t_db_open(&host);
	s = exec_col(db, "ContainerId", p1);
	cr_assert_str_eq(s ? s : "(null)", hex, "ContainerId of an exec in %s", cgdir[0]);
	free(s);
	s = exec_col(db, "ContainerName", p2);
	cr_assert_str_eq(s ? s : "(null)", name, "ContainerName of an exec in %s", cgdir[1]);
	free(s);
	/* Outside a container: none. */
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d "
				    "AND ContainerId IS NOT NULL",
				    (int)getpid()),
		     0);
	sqlite3_close(db);
}

Test(fidelity, oversized_image_counted_not_hashed, .fini = stop_host, .timeout = 60)
{
	const char *args[] = { "--hash-max-mb", "1", "--hash-wait-ms", "10000", NULL };
	char dir[PATH_MAX], big[PATH_MAX + 16], m[64], *s;
	sqlite3 *db;
	pid_t pid;

	vg_t_host_start(&host, args);
	vg_t_tmpdir(dir, sizeof(dir), "vg-fbig");
	snprintf(big, sizeof(big), "%s/big-true", dir);
	copy_file("/bin/true", big, 0755);
	/* Zeros past the ELF's end: it still runs, and is 2 MiB over a 1 MiB cap. */
	cr_assert_eq(truncate(big, 2 << 20), 0);
	vg_t_marker(m, sizeof(m), "fidbig");
	pid = run(big, m, NULL);
	wait_exec(pid);
	cr_assert_geq(vg_t_wait_int(&host, 1, 10000, "SELECT HashTooLarge FROM SensorDaemon"), 1,
		      "an image over --hash-max-mb is not counted");
	db = vg_t_db_open(&host);
	s = exec_col(db, "SHA256", pid);
	cr_assert_null(s, "an image over the cap was hashed: %s", s);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT FileSize FROM DeviceProcessEvents WHERE ProcessId = %d "
				    "AND ActionType = 'ProcessCreated'",
				    pid),
		     2 << 20, "FileSize of an image too large to hash");
	sqlite3_close(db);
	vg_t_rmrf(dir);
}
