/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel integration tests: run the real `vigil host --spawn vigild` as root,
 * cause real process activity, read what reached SQLite.
 */
#ifndef VG_T_HARNESS_H
#define VG_T_HARNESS_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

struct vg_t_host {
	pid_t pid; /* vigil host */
	char dir[64]; /* temp dir holding the database and the logs */
	char db[128];
	char log[128]; /* stderr of host and vigild */
	const char *const *host_args; /* extra `vigil host` arguments, NULL-terminated */
};

/* Skip the test unless root; start host+vigild (extra vigild args, NULL-terminated). */
void vg_t_host_start(struct vg_t_host *h, const char *const *vigild_args);
/* The same with extra arguments for `vigil host` itself. */
void vg_t_host_start_args(struct vg_t_host *h, const char *const *host_args,
			  const char *const *vigild_args);
/* Start host+vigild again on the same database; wait for its device report (the nth). */
void vg_t_host_restart(struct vg_t_host *h, const char *const *vigild_args, int reports);
/* Send sig to the host and wait for it; returns its wait status. */
int vg_t_host_stop(struct vg_t_host *h, int sig);
/* The vigild child of the host, or 0. */
pid_t vg_t_host_child(const struct vg_t_host *h);

sqlite3 *vg_t_db_open(const struct vg_t_host *h);
/* The first column of the first row of a query as an integer (-1 when no row). */
long long vg_t_query_int(sqlite3 *db, const char *fmt, ...);
/* Same, as a malloc'd string (NULL when no row or NULL). */
char *vg_t_query_str(sqlite3 *db, const char *fmt, ...);
/* Poll until the query's integer reaches want or timeout_ms passes; returns the last value. */
long long vg_t_wait_int(const struct vg_t_host *h, long long want, int timeout_ms, const char *fmt,
			...);

/*
 * BPF object ids (key "prog_id", "link_id" or "map_id") that process pid
 * holds open, from /proc/PID/fdinfo; returns how many.
 */
int vg_t_bpf_ids_of(pid_t pid, const char *key, __u32 *ids, int max);
/* How many of these ids still name a live object. */
int vg_t_bpf_ids_alive(const char *key, const __u32 *ids, int n);
/* A new directory /tmp/TAG-XXXXXX, its real path into dir. */
/*
 * The run's own temp folder (tests/kern/main.c makes it under /tmp and
 * removes it, mounts and all, once every test has run): every folder, file
 * and socket a test makes goes under it, so nothing outlives the run even
 * when a test is killed at its timeout.
 */
/* The binary named by environment variable env (VIGIL, VIGILD), else fallback. */
const char *vg_t_bin(const char *env, const char *fallback);
/* Run a shell command (printf-formatted); the test fails unless it exits 0. */
void vg_t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *vg_t_root(void);
void vg_t_tmpdir(char *dir, size_t size, const char *tag);
/* Remove dir and everything under it (a warning when that fails); "" is nothing. */
void vg_t_rmrf(const char *dir);
/*
 * Start argv (argv[0] a path) with stdout and stderr appended to log; it
 * gets SIGTERM when the test process dies. Its pid.
 */
pid_t vg_t_spawn(const char *log, const char *const *argv);
/* n fork+execs of /bin/true ARG, one after the other. */
void vg_t_execs(const char *arg, int n);
/*
 * fork + execve(path, argv, envp; NULL: this process's environment), after
 * its exit when wait_exit; its pid once its ProcessCreated row is stored.
 */
pid_t vg_t_exec_stored(const struct vg_t_host *h, const char *path, char *const argv[],
		       char *const envp[], int wait_exit);
/* A unique marker for argv. */
void vg_t_marker(char *buf, size_t size, const char *tag);

#endif
