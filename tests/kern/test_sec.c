// SPDX-License-Identifier: GPL-2.0-only
/* Security events (DeviceEvents): each caused for real, checked in the store. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct vg_t_host host;

static void setup(void)
{
	vg_t_host_start(&host, NULL);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
}

static long long dev_rows(const char *action, pid_t pid, const char *extra)
{
	return vg_t_wait_int(&host, 1, 5000,
			     "SELECT count(*) FROM DeviceEvents WHERE ActionType = '%s' AND "
			     "InitiatingProcessId = %d %s",
			     action, pid, extra ? extra : "");
}

Test(sec, ptrace_attach, .init = setup, .fini = teardown, .timeout = 60)
{
	char cond[96];
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	cr_assert_eq(ptrace(PTRACE_ATTACH, child, NULL, NULL), 0);
	waitpid(child, NULL, 0);
	ptrace(PTRACE_DETACH, child, NULL, NULL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(cond, sizeof(cond), "AND json_extract(AdditionalFields, '$.TargetProcessId') = %d",
		 child);
	cr_assert_eq(dev_rows("PtraceAttach", getpid(), cond), 1);
}

Test(sec, setuid_and_module_and_bpf_load, .init = setup, .fini = teardown, .timeout = 60)
{
	union bpf_attr attr;
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	pid_t child = fork();
	int fd;

	if (child == 0)
		_exit(setresuid(0, 0, 0) ? 1 : 0);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	cr_assert_eq(dev_rows("PrivilegeChange", child, NULL), 1);

	/*
	 * An attempt counts, whatever the kernel answers: this one fails on the
	 * fd. A kernel without module support has no such syscall (ENOSYS) and
	 * no hook watches it there.
	 */
	cr_assert_neq(syscall(SYS_finit_module, -1, "", 0), 0);
	cr_assert_eq(dev_rows("KernelModuleLoad", getpid(), NULL),
		     access("/proc/modules", F_OK) ? 0 : 1);

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)prog;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	strcpy(attr.prog_name, "tprobe");
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	cr_assert_geq(fd, 0, "BPF_PROG_LOAD");
	close(fd);
	cr_assert_eq(dev_rows("BpfProgramLoad", getpid(),
			      "AND json_extract(AdditionalFields, '$.ProgramName') = 'tprobe'"),
		     1);
}

Test(sec, sensitive_read_and_fileless_exec, .init = setup, .fini = teardown, .timeout = 60)
{
	char buf[4096];
	int fd, mfd, in;
	ssize_t n;
	pid_t child;

	fd = open("/etc/shadow", O_RDONLY);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(dev_rows("SensitiveFileRead", getpid(), "AND FolderPath = '/etc/shadow'"), 1);

	/* Copy /bin/true into a memfd and run it from there. */
	mfd = memfd_create("vg-fileless", MFD_CLOEXEC);
	in = open("/bin/true", O_RDONLY);
	cr_assert(mfd >= 0 && in >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(mfd, buf, (size_t)n), n);
	close(in);
	child = fork();
	if (child == 0) {
		char *argv[] = { "vg-fileless", NULL }, *envp[] = { NULL };

		fexecve(mfd, argv, envp);
		_exit(127);
	}
	cr_assert_eq(waitpid(child, NULL, 0), child);
	close(mfd);
	cr_assert_eq(dev_rows("FilelessExec", child, NULL), 1);
	/* stored with its memfd name, as /proc/PID/exe shows it, so the rule on the path fires */
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 5000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d AND"
			      " ActionType = 'ProcessCreated' AND FolderPath ="
			      " '/memfd:vg-fileless' AND FileName = 'memfd:vg-fileless'",
			      child),
		1);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 10000,
			      "SELECT count(*) FROM AlertInfo a JOIN AlertEvidence e USING"
			      " (AlertId) WHERE a.RuleId = 'fileless_exec' AND e.ProcessId = %d",
			      child),
		1);
}

/* The kernel looks at fd 0 and 1 at exec: a shell on a TCP socket is flagged, and alerts. */
Test(sec, shell_with_socket_stdio_is_flagged, .init = setup, .fini = teardown, .timeout = 60)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l, c, a;
	pid_t child;

	l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(l, (void *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (void *)&sa, &len), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (void *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	cr_assert_eq(write(c, "exit 0\n", 7), 7);
	child = fork();
	if (child == 0) {
		char *argv[] = { "/bin/sh", NULL }; /* reads its commands from the socket */

		dup2(a, 0);
		dup2(a, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(child, NULL, 0), child);
	close(a);
	close(c);
	close(l);
	cr_assert_eq(
		vg_t_wait_int(&host, 1, 5000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d AND "
			      "ActionType = 'ProcessCreated' AND json_extract(AdditionalFields, "
			      "'$.StdinSocket') = 1 AND json_extract(AdditionalFields, "
			      "'$.StdoutSocket') = 1",
			      child),
		1, "shell with socket stdio not flagged");
	cr_assert_eq(
		vg_t_wait_int(&host, 1, 10000,
			      "SELECT count(*) FROM AlertInfo WHERE Title = 'Reverse shell (socket "
			      "stdio)'"),
		1, "no reverse shell alert");
}

/* Run vigild at path with --probe (it loads BPF programs, attaches none); its pid. */
static pid_t vigild_probe(const char *path)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(path, "vigild", "--probe", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s --probe failed: %d", path, st);
	return pid;
}

/* kernel_load alerts whose evidence is a BpfProgramLoad of process pid. */
static long long kernel_load_alerts(pid_t pid, long long want)
{
	return vg_t_wait_int(&host, want, want ? 10000 : 0,
			     "SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
			     " JOIN DeviceEvents d ON e.SourceTable = 'DeviceEvents' AND d.rowid ="
			     " e.SourceRowId WHERE a.RuleId = 'kernel_load' AND d.ActionType ="
			     " 'BpfProgramLoad' AND d.InitiatingProcessId = %d",
			     pid);
}

/*
 * The sensor is known by its image (path, inode, device), not by its name:
 * a byte-identical copy of vigild named vigild in another directory loading
 * BPF raises the alert, the real vigild (another sensor on this kernel) does not.
 */
Test(sec, bpf_load_rule_knows_the_sensor_by_its_image, .init = setup, .fini = teardown,
     .timeout = 90)
{
	const char *vigild =
		getenv("VIGILD") && *getenv("VIGILD") ? getenv("VIGILD") : "build/vigild";
	char real[PATH_MAX], dir[PATH_MAX], copy[PATH_MAX + 16], cmd[3 * PATH_MAX];
	pid_t genuine, fake;

	cr_assert_not_null(realpath(vigild, real));
	cr_assert_eq(vg_t_wait_int(&host, 1, 5000,
				   "SELECT count(*) FROM SensorExecutables WHERE FolderPath = '%s'",
				   real),
		     1, "the sensor did not report its executable");
	vg_t_tmpdir(dir, sizeof(dir), "vg-fakevigild");
	snprintf(copy, sizeof(copy), "%s/vigild", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", real, copy);
	cr_assert_eq(system(cmd), 0);

	genuine = vigild_probe(real);
	fake = vigild_probe(copy);
	cr_assert_geq(dev_rows("BpfProgramLoad", genuine, NULL), 1);
	cr_assert_geq(dev_rows("BpfProgramLoad", fake, NULL), 1);
	/* Rows are judged in order: once the copy's alert is there, the real one's rows were too. */
	cr_expect_geq(kernel_load_alerts(fake, 1), 1, "a copy named vigild loaded BPF unnoticed");
	cr_expect_eq(kernel_load_alerts(genuine, 0), 0, "the real vigild raised an alert");
	vg_t_rmrf(dir);
}
