// SPDX-License-Identifier: GPL-2.0-only
/* vigild's local control socket answers root only, one command per line. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;
static char path[128];

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
}

/* Send one command, return the answer line (static buffer), or NULL when connect fails. */
static const char *ask(const char *cmd)
{
	static char buf[4096];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ssize_t n, got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return NULL;
	}
	/*
	 * In two writes on purpose: vigild reads up to the newline however it
	 * arrives. A refused peer is answered and closed before vigild reads:
	 * its writes may fail (EPIPE) with the answer already waiting to be read.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (write(fd, cmd, strlen(cmd)) >= 0)
		(void)!write(fd, "\n", 1);
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

Test(control, root_only_commands, .fini = teardown, .timeout = 60)
{
	const char *args[] = { "--control", path, NULL };
	struct stat st;
	const char *a;
	int pipefd[2], status;
	char answer[128] = "";
	pid_t child;

	snprintf(path, sizeof(path), "%s/vg-ctl-%d.sock", vg_t_root(), getpid());
	vg_t_host_start(&host, args);
	cr_assert_eq(stat(path, &st), 0, "no control socket at %s", path);
	cr_assert_eq(st.st_mode & 0777, 0600, "control socket mode %o", st.st_mode & 0777);

	a = ask("ping");
	cr_assert_not_null(a);
	cr_assert_str_eq(a, "pong");
	a = ask("stats");
	cr_assert_not_null(strstr(a, "\"exec\":{\"seen\":"), "stats: %s", a);
	cr_assert_str_eq(ask("flush"), "ok");
	cr_assert_not_null(strstr(ask("bogus"), "error: unknown command"));

	/* The same socket opened for everyone: a non-root peer is still refused by SO_PEERCRED. */
	cr_assert_eq(chmod(path, 0666), 0);
	cr_assert_eq(pipe(pipefd), 0);
	child = fork();
	if (child == 0) {
		const char *r;

		close(pipefd[0]);
		if (setgid(65534) || setuid(65534))
			_exit(2);
		r = ask("stats");
		if (write(pipefd[1], r ? r : "(connect failed)",
			  strlen(r ? r : "(connect failed)")) < 0)
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	cr_assert_gt(read(pipefd[0], answer, sizeof(answer) - 1), 0);
	close(pipefd[0]);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert_str_eq(answer, "error: root only", "a non-root peer got: %s", answer);

	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	cr_assert_neq(stat(path, &st), 0, "control socket left behind");
}

/*
 * With nothing to do vigild sleeps: its flush timer slows to --idle-ms (10
 * minutes here) and the kernel wakes it for the next record. A privilege
 * change reaches the store long before that timer would have fired.
 */
Test(control, idle_sleep_woken_by_record, .fini = teardown, .timeout = 120)
{
	const char *args[] = { "--control", path,     "--sources", "security",
			       "--idle-ms", "600000", NULL };
	const char *a = NULL;
	pid_t child;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/vg-ctl-%d.sock", vg_t_root(), getpid());
	vg_t_host_start(&host, args);
	for (int i = 0; i < 600; i++) {
		a = ask("stats");
		if (a && strstr(a, "\"asleep\":1"))
			break;
		usleep(100 * 1000);
	}
	cr_assert(a && strstr(a, "\"asleep\":1"), "vigild never went idle: %s", a ? a : "");
	child = fork();
	if (child == 0)
		_exit(setresuid(0, 0, 0) ? 1 : 0);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	cr_assert_eq(vg_t_wait_int(&host, 1, 60000,
				   "SELECT count(*) FROM DeviceEvents WHERE ActionType = "
				   "'PrivilegeChange' AND InitiatingProcessId = %d",
				   child),
		     1, "the record did not wake the sleeping sensor (log: %s)", host.log);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	db = vg_t_db_open(&host);
	cr_assert_eq(vg_t_query_int(db,
				    "SELECT count(*) FROM DeviceEvents WHERE ActionType = "
				    "'PrivilegeChange' AND InitiatingProcessId = %d",
				    child),
		     1);
	sqlite3_close(db);
}
