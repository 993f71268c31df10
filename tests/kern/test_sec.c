// SPDX-License-Identifier: GPL-2.0-only
/* Security events (DeviceEvents): each caused for real, checked in the store. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
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

	/* An attempt counts, whatever the kernel answers: this one fails on the fd. */
	cr_assert_neq(syscall(SYS_finit_module, -1, "", 0), 0);
	cr_assert_eq(dev_rows("KernelModuleLoad", getpid(), NULL), 1);

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
	child = fork();
	if (child == 0) {
		char *argv[] = { "/bin/sh", "-c", "exit 0", NULL };

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
