// SPDX-License-Identifier: GPL-2.0-only
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "harness.h"

const char *vg_t_bin(const char *env, const char *fallback)
{
	const char *v = getenv(env);

	return v && *v ? v : fallback;
}

void vg_t_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void vg_t_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void vg_t_host_start(struct vg_t_host *h, const char *const *vigild_args)
{
	vg_t_host_start_args(h, NULL, vigild_args);
}

void vg_t_host_start_args(struct vg_t_host *h, const char *const *host_args,
			  const char *const *vigild_args)
{
	if (geteuid() != 0)
		cr_skip_test("kernel tests load BPF programs: run as root (sudo make check)");
	memset(h, 0, sizeof(*h));
	cr_assert_lt(snprintf(h->dir, sizeof(h->dir), "%s/vg-ktest-XXXXXX", vg_t_root()),
		     (int)sizeof(h->dir));
	cr_assert_not_null(mkdtemp(h->dir), "mkdtemp: %s", strerror(errno));
	snprintf(h->db, sizeof(h->db), "%s/t.db", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/host.log", h->dir);
	h->host_args = host_args;
	vg_t_host_restart(h, vigild_args, 1);
}

void vg_t_host_restart(struct vg_t_host *h, const char *const *vigild_args, int reports)
{
	const char *argv[32];
	int n = 0, fd;

	argv[n++] = vg_t_bin("VIGIL", "build/vigil");
	argv[n++] = "host";
	argv[n++] = "--db";
	argv[n++] = h->db;
	for (int i = 0; h->host_args && h->host_args[i] && n < 16; i++)
		argv[n++] = h->host_args[i];
	argv[n++] = "--spawn";
	argv[n++] = vg_t_bin("VIGILD", "build/vigild");
	argv[n++] = "--flush-ms";
	argv[n++] = "50";
	for (int i = 0; vigild_args && vigild_args[i] && n < 31; i++)
		argv[n++] = vigild_args[i];
	argv[n] = NULL;

	h->pid = fork();
	cr_assert_geq(h->pid, 0, "fork: %s", strerror(errno));
	if (h->pid == 0) {
		/* A test that dies or times out takes its host (and so its vigild) along. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	/* vigild sends its device report once its programs are attached. */
	cr_assert_geq(vg_t_wait_int(h, reports, 15000, "SELECT count(*) FROM DeviceInfo"), reports,
		      "the sensor did not report within 15 s (log: %s)", h->log);
}

int vg_t_host_stop(struct vg_t_host *h, int sig)
{
	int status = -1;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, sig);
	/* vigild may wait 8 s for its last acknowledgement, the host 12 s for vigild. */
	for (int i = 0; i < 400; i++) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			return status;
		}
		vg_t_sleep_ms(50);
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
	cr_assert_fail("vigil host did not stop within 20 s of signal %d", sig);
	return status;
}

pid_t vg_t_host_child(const struct vg_t_host *h)
{
	char path[64];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", h->pid, h->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

sqlite3 *vg_t_db_open(const struct vg_t_host *h)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(h->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "open %s",
		     h->db);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static sqlite3_stmt *vg_t_prepare(sqlite3 *db, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	char *sql = sqlite3_vmprintf(fmt, ap);

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	sqlite3_free(sql);
	return st;
}

long long vg_t_query_int(sqlite3 *db, const char *fmt, ...)
{
	sqlite3_stmt *st;
	long long v = -1;
	va_list ap;

	va_start(ap, fmt);
	st = vg_t_prepare(db, fmt, ap);
	va_end(ap);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

char *vg_t_query_str(sqlite3 *db, const char *fmt, ...)
{
	sqlite3_stmt *st;
	char *v = NULL;
	va_list ap;

	va_start(ap, fmt);
	st = vg_t_prepare(db, fmt, ap);
	va_end(ap);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

long long vg_t_wait_int(const struct vg_t_host *h, long long want, int timeout_ms, const char *fmt,
			...)
{
	long long v = -1;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		struct stat st;

		if (stat(h->db, &st) == 0) {
			sqlite3 *db = vg_t_db_open(h);
			sqlite3_stmt *stmt;
			char *sql;
			va_list ap;

			va_start(ap, fmt);
			sql = sqlite3_vmprintf(fmt, ap);
			va_end(ap);
			/* The host creates its tables a moment after the file. */
			if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
				if (sqlite3_step(stmt) == SQLITE_ROW)
					v = sqlite3_column_int64(stmt, 0);
				sqlite3_finalize(stmt);
			}
			sqlite3_free(sql);
			sqlite3_close(db);
			if (v >= want)
				return v;
		}
		vg_t_sleep_ms(50);
	}
	return v;
}

int vg_t_bpf_ids_of(pid_t pid, const char *key, __u32 *ids, int max)
{
	char path[64], line[128];
	struct dirent *d;
	DIR *dir;
	int n = 0;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < max) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f) && n < max)
			if (!strncmp(line, key, klen) && line[klen] == ':')
				ids[n++] = (__u32)strtoul(line + klen + 1, NULL, 10);
		fclose(f);
	}
	closedir(dir);
	return n;
}

int vg_t_bpf_ids_alive(const char *key, const __u32 *ids, int n)
{
	int alive = 0;

	for (int i = 0; i < n; i++) {
		int fd = !strcmp(key, "link_id") ? bpf_link_get_fd_by_id(ids[i]) :
			 !strcmp(key, "map_id")	 ? bpf_map_get_fd_by_id(ids[i]) :
						   bpf_prog_get_fd_by_id(ids[i]);

		if (fd >= 0) {
			alive++;
			close(fd);
		}
	}
	return alive;
}

void vg_t_marker(char *buf, size_t size, const char *tag)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, size, "vg-%s-%d-%ld", tag, getpid(), ts.tv_nsec);
}

const char *vg_t_root(void)
{
	const char *r = getenv("VG_T_ROOT");

	return r && *r ? r : "/tmp";
}

void vg_t_tmpdir(char *dir, size_t size, const char *tag)
{
	char tmpl[PATH_MAX];

	cr_assert_lt(snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", vg_t_root(), tag),
		     (int)sizeof(tmpl));
	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
	cr_assert_geq(size, (size_t)PATH_MAX);
	cr_assert_not_null(realpath(tmpl, dir));
}

void vg_t_rmrf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		cr_log_warn("cleanup of %s failed", dir);
}

pid_t vg_t_spawn(const char *log, const char *const *argv)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

void vg_t_execs(const char *arg, int n)
{
	for (int i = 0; i < n; i++) {
		char *argv[] = { "/bin/true", (char *)arg, NULL };
		pid_t p = fork();

		cr_assert_geq(p, 0);
		if (p == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		waitpid(p, NULL, 0);
	}
}

pid_t vg_t_exec_stored(const struct vg_t_host *h, const char *path, char *const argv[],
		       char *const envp[], int wait_exit)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		execve(path, argv, envp ? envp : environ);
		_exit(127);
	}
	if (wait_exit)
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(
		vg_t_wait_int(h, 1, 30000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d AND"
			      " ActionType = 'ProcessCreated'",
			      pid),
		1, "the exec of %s was not stored (log %s)", path, h->log);
	return pid;
}
