// SPDX-License-Identifier: GPL-2.0-only
/*
 * vg-ktest: the kernel matrix's test runner. Static, so it runs in a busybox
 * initramfs under QEMU as well as natively: it starts the real vigild with
 * `--transport stdio` once per hook variant, decodes its frames with
 * lib/frame.h and lib/batch.h (no host, no SQLite), runs a ground-truth
 * workload and checks that exactly its events arrive with the right fields,
 * that the accounting identity holds, and that vigild releases its programs.
 *
 *   vg-ktest [-n N] [-e HOOK] [-q] VIGILD VARIANT...
 *
 * VARIANT: auto, tp_btf or raw_tp (vigild --hook), or tp: --hook auto with
 * --deny-hook sys_exit:fentry, which forces the per-syscall tracepoints
 * where the kernel allows fentry. -e: the auto variant must choose HOOK for
 * sys_exit (the matrix's VMs allow fentry).
 *
 * Besides process events each variant runs the file, network and security
 * ground truth (vgk_ground: one process creates, modifies, renames, chmods,
 * chowns and deletes a file, reads a watched key file, listens, connects,
 * accepts, sends UDP twice to one destination and connects UDP, calls
 * setuid and PTRACE_SEIZE) and checks that exactly its events arrive, and
 * measures what getppid, stat, a modifying open+close of one file and a
 * read-only open+close cost with and without the sensor (with it: after the
 * ground truth, once vigild is idle; printed, never asserted: QEMU inflates
 * absolute times, a ratio in one VM compares).
 *
 * -q (the matrix's VMs, where nothing else runs): where sys_exit's hook is
 * fentry, the with/without ratios come from interleaved rounds in which the
 * sensor is switched off and on (vgk_rounds); and for every variant the
 * kernel counts which of vigild's programs run during each loop
 * (vgk_runs). Those counts are exact, and asserted: under fentry and tp
 * getppid and stat run none of vigil's syscall programs, under tp_btf and
 * raw_tp exactly one per call.
 *
 * Lines starting with "vgk " are for scripts/kernels/matrix.sh:
 *   vgk probe <a line of `vigild --probe --json`, or n/a>
 *   vgk variant <hook> chosen=<fork's hook>,<sys_exit's hook> pass=<n> fail=<n>
 *       events=<processes>/<exec>/<fork>/<exit> events of the workload ms=<duration>
 *       ground=<file>/<network>/<security> events of the ground truth
 *       ratio=<getppid>/<stat>/<open+close>/<read-only open+close> (with/without)
 *       rounds=<interleaved rounds, 0: one measurement before and after vigild>
 *       runs=<syscall program runs per call, the same four; 0 where not counted>
 *   vgk cost <hook> <syscall> <ns without> <ns with> (before and after vigild / with it)
 *   vgk ratio <hook> <syscall> <median> <lowest> <highest> <rounds>
 *   vgk round <hook> <i> <ns without>/<ns with> for each of the four
 *   vgk runs <hook> <syscall> calls=<n> sys=<runs> other=<runs> ns_per_run=<ns>
 *   vgk run <hook> <syscall> <program> <runs> <ns per run>
 *   vgk prog <hook> <program> <verified insns or n/a>
 *   vgk fallback <hook> <vigild's line saying which path it refused and why>
 *   vgk fail <hook> <check>: <why>
 * Exit status: 0 when every check of every variant passed, 1 otherwise,
 * 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "batch.h"
#include "frame.h"

#define VGK_MAX_PROGS 160
#define VGK_STORM_MAX 1000
#define VGK_START_MS 240000 /* TCG: loading and verifying takes a minute on 5.10 (fentry) */
#define VGK_EVENT_MS 30000
#define VGK_STOP_MS 20000
#define VGK_RELEASE_MS 10000
#define VGK_GT_MAX 64
#define VGK_COSTS 4
#define VGK_ROUNDS 7

/* What the ground-truth workload expects to see for one process. */
struct vgk_proc {
	pid_t pid;
	int code; /* exit status */
	char marker[48];
	int exec, fork, exit; /* events seen for it */
	int exec_ok, exit_ok;
};

struct vgk_run {
	const char *hook;
	pid_t vigild;
	int to_fd, from_fd; /* vigild's stdin and stdout */
	char log[64]; /* vigild's stderr */
	struct vg_frame_reader rd;
	int frames;
	uint64_t received[3]; /* events per action: created, forked, terminated */
	Vigil__V1__Batch *last; /* last batch, for its counters */
	int eof;
	/* the workload */
	char sh[PATH_MAX], cwd[PATH_MAX];
	char flt[PATH_MAX], self[PATH_MAX]; /* the filter file; our own executable */
	int flt_seen[5]; /* file events for /tmp/vgk-flt-HOOK-x1, -y1, -z1, -x2, -y2 */
	pid_t gt_pid; /* the ground truth's process: its file, network and security events */
	char *gt_got[VGK_GT_MAX];
	int ngt_got;
	double cost[2][VGK_COSTS]; /* ns per call, without and with the sensor */
	struct vgk_proc *procs;
	int nprocs;
	/* results */
	int pass, fail;
	char chosen[64];
	__u32 prog_ids[VGK_MAX_PROGS];
	int nprogs;
	/* -q: the interleaved rounds and the program runs (vgk_rounds, vgk_runs) */
	int stat_fd[VGK_MAX_PROGS]; /* vigild's fdinfo of each program, or -1 */
	char prog_name[VGK_MAX_PROGS][BPF_OBJ_NAME_LEN];
	double round[VGK_ROUNDS][2][VGK_COSTS]; /* ns per call, without and with */
	int nrounds;
	double runs[VGK_COSTS]; /* syscall programs' runs per call, exact */
};

static int vgk_storm = 50;
static const char *vgk_expect; /* -e: the auto variant's sys_exit hook */
static int vgk_quiet; /* -q: nothing else runs here (vgk_rounds, vgk_runs) */

static long vgk_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vgk_check(struct vgk_run *r, int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void vgk_check(struct vgk_run *r, int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		r->pass++;
		printf("vgk ok %s %s\n", r->hook, name);
		return;
	}
	r->fail++;
	printf("vgk fail %s %s: ", r->hook, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int vgk_argv_is(const Vigil__V1__Process *p, char *const want[])
{
	size_t i;

	for (i = 0; want[i]; i++)
		if (i >= p->n_argv || strcmp(p->argv[i], want[i]))
			return 0;
	return i == p->n_argv;
}

static struct vgk_proc *vgk_find(struct vgk_run *r, uint32_t pid)
{
	for (int i = 0; i < r->nprocs; i++)
		if (r->procs[i].pid == (pid_t)pid)
			return &r->procs[i];
	return NULL;
}

/*
 * The ground truth's events as strings: "file ACTION PATH[ <- PREVIOUS]",
 * "net ACTION PROTOCOL IP:PORT" (the local end of a listen or an accept,
 * else the remote one), "sec ACTION [PATH]".
 */
static void vgk_ground_event(struct vgk_run *r, const Vigil__V1__Event *ev)
{
	const Vigil__V1__Process *p = NULL;
	char buf[PATH_MAX * 2 + 64];

	switch (ev->body_case) {
	case VIGIL__V1__EVENT__BODY_FILE:
		p = ev->file->process;
		if (ev->file->previous_known && ev->file->times_given)
			snprintf(buf, sizeof(buf), "file %s %s was %lld", ev->file->action_type,
				 ev->file->path,
				 (long long)ev->file->previous_modification_time_ns);
		else if (ev->file->previous_path && ev->file->previous_path[0])
			snprintf(buf, sizeof(buf), "file %s %s <- %s", ev->file->action_type,
				 ev->file->path, ev->file->previous_path);
		else
			snprintf(buf, sizeof(buf), "file %s %s", ev->file->action_type,
				 ev->file->path);
		break;
	case VIGIL__V1__EVENT__BODY_NETWORK: {
		const Vigil__V1__NetworkEvent *n = ev->network;
		int local = !strcmp(n->action_type, "ListeningConnectionCreated") ||
			    !strcmp(n->action_type, "InboundConnectionAccepted");

		p = n->process;
		snprintf(buf, sizeof(buf), "net %s %s %s:%u", n->action_type, n->protocol,
			 local ? n->local_ip : n->remote_ip,
			 local ? n->local_port : n->remote_port);
		break;
	}
	case VIGIL__V1__EVENT__BODY_SECURITY:
		p = ev->security->process;
		snprintf(buf, sizeof(buf), "sec %s%s%s", ev->security->action_type,
			 ev->security->file_path && ev->security->file_path[0] ? " " : "",
			 ev->security->file_path ? ev->security->file_path : "");
		/* a DNS reply with its question and addresses */
		for (size_t i = 0; !strcmp(ev->security->action_type, "DnsResponse") &&
				   i < ev->security->n_details;
		     i++) {
			const Vigil__V1__Detail *d = ev->security->details[i];

			if (!strcmp(d->name, "DnsQueryString") || !strcmp(d->name, "IPAddresses"))
				snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " %s",
					 d->text ? d->text : "?");
		}
		break;
	default:
		return;
	}
	if (!p || !r->gt_pid || p->pid != (uint32_t)r->gt_pid || r->ngt_got >= VGK_GT_MAX)
		return;
	r->gt_got[r->ngt_got++] = strdup(buf);
}

/* The files of the filter check: x1, y1 and z1 must be dropped in the kernel, x2 and y2 kept. */
static const char *const vgk_flt_names[5] = { "x1", "y1", "z1", "x2", "y2" };

static void vgk_flt_path(const struct vgk_run *r, int i, char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/vgk-flt-%s-%s", r->hook, vgk_flt_names[i]);
}

static void vgk_on_event(struct vgk_run *r, const Vigil__V1__Event *ev)
{
	const Vigil__V1__ProcessEvent *pe = ev->process;
	const Vigil__V1__Process *p;
	struct vgk_proc *w;

	vgk_ground_event(r, ev);
	if (ev->body_case == VIGIL__V1__EVENT__BODY_FILE && ev->file && ev->file->path) {
		for (int i = 0; i < 5; i++) {
			char path[96];

			vgk_flt_path(r, i, path, sizeof(path));
			r->flt_seen[i] += !strcmp(ev->file->path, path);
		}
		return;
	}
	if (ev->body_case != VIGIL__V1__EVENT__BODY_PROCESS || !pe || !pe->process)
		return;
	p = pe->process;
	if (pe->action >= 1 && pe->action <= 3)
		r->received[pe->action - 1]++;
	w = vgk_find(r, p->pid);
	if (!w)
		return;
	switch (pe->action) {
	case VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED: {
		char code[16];
		char *argv[] = { "/bin/sh", "-c", code, w->marker, NULL };

		snprintf(code, sizeof(code), "exit %d", w->code);
		w->exec++;
		w->exec_ok = !strcmp(p->exe, r->sh) && !strcmp(p->cwd, r->cwd) &&
			     vgk_argv_is(p, argv) && p->ppid == (uint32_t)getpid() &&
			     p->uid == getuid();
		if (!w->exec_ok)
			printf("vgk note %s: exec of %d: exe '%s' cwd '%s' argc %zu ppid %u\n",
			       r->hook, w->pid, p->exe, p->cwd, p->n_argv, p->ppid);
		break;
	}
	case VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED:
		w->fork += p->ppid == (uint32_t)getpid();
		break;
	case VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED:
		w->exit++;
		w->exit_ok = pe->exit_code == w->code && !pe->exit_signal;
		break;
	default:
		break;
	}
}

static int vgk_ack(struct vgk_run *r, uint64_t seq)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_ACK, .seq = seq };
	uint8_t raw[VG_FRAME_HDR_LEN];

	vg_frame_hdr_pack(raw, &h, NULL);
	return write(r->to_fd, raw, sizeof(raw)) == sizeof(raw) ? 0 : -EPIPE;
}

/* Read what vigild sent within ms; decode, record, acknowledge. 0 or -errno. */
static int vgk_pump(struct vgk_run *r, int ms)
{
	struct pollfd pfd = { .fd = r->from_fd, .events = POLLIN };
	uint8_t buf[65536];
	struct vg_frame_hdr h;
	const uint8_t *payload;
	ssize_t n;
	int err;

	if (r->eof)
		return -EPIPE;
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = read(r->from_fd, buf, sizeof(buf));
	if (n <= 0) {
		r->eof = 1;
		return n < 0 ? -errno : 0;
	}
	err = vg_frame_reader_feed(&r->rd, buf, (size_t)n);
	while (!err && (err = vg_frame_reader_next(&r->rd, &h, &payload)) == 1) {
		Vigil__V1__Batch *b;

		/* The HELLO that starts the stream names the device: nothing to record or acknowledge. */
		if (h.type == VG_FRAME_HELLO)
			continue;
		err = h.type == VG_FRAME_BATCH ? vg_batch_unpack(payload, h.len, &b) : -EBADMSG;
		if (err)
			break;
		for (size_t i = 0; i < b->n_events; i++)
			vgk_on_event(r, b->events[i]);
		if (r->last)
			vigil__v1__batch__free_unpacked(r->last, NULL);
		r->last = b;
		r->frames++;
		err = vgk_ack(r, h.seq);
	}
	if (err < 0 && err != -EPIPE)
		printf("vgk note %s: bad frame from vigild: %s\n", r->hook, vg_frame_strerror(err));
	return err < 0 ? err : 0;
}

static int vgk_start(struct vgk_run *r, const char *vigild)
{
	int in[2], out[2], logfd;

	snprintf(r->log, sizeof(r->log), "/tmp/vgk-vigild-%s.log", r->hook);
	logfd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	r->vigild = fork();
	if (r->vigild < 0)
		return -errno;
	if (r->vigild == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(logfd, 2);
		if (!strcmp(r->hook, "tp"))
			execl(vigild, vigild, "--transport", "stdio", "--hook", "auto",
			      "--deny-hook", "sys_exit:fentry", "--flush-ms", "50", "--filters",
			      r->flt, (char *)NULL);
		else
			execl(vigild, vigild, "--transport", "stdio", "--hook", r->hook,
			      "--flush-ms", "50", "--filters", r->flt, (char *)NULL);
		fprintf(stderr, "vg-ktest: exec %s: %s\n", vigild, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(logfd);
	r->to_fd = in[1];
	r->from_fd = out[0];
	return 0;
}

/* The hook vigild reported for point in "watching (HOOK/POINT, ...; ...)", or "-". */
static void vgk_hook_of(const char *list, const char *point, char *out, size_t size)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "/%s", point);
	snprintf(out, size, "-");
	p = strstr(list, pat);
	if (!p || (p[strlen(pat)] != ',' && p[strlen(pat)] != ';'))
		return;
	while (p > list && p[-1] != ' ' && p[-1] != '(')
		p--;
	snprintf(out, size, "%.*s", (int)strcspn(p, "/"), p);
}

/* The hooks vigild chose for fork and sys_exit, from its "watching (...)" line. */
static void vgk_chosen(struct vgk_run *r)
{
	char line[512], fork[16], sysx[16];
	FILE *f = fopen(r->log, "r");

	snprintf(r->chosen, sizeof(r->chosen), "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "refused") || strstr(line, "falling back"))
			printf("vgk fallback %s %s", r->hook, line);
		if (strstr(line, "watching (")) {
			vgk_hook_of(line, "sched_process_fork", fork, sizeof(fork));
			vgk_hook_of(line, "sys_exit", sysx, sizeof(sysx));
			snprintf(r->chosen, sizeof(r->chosen), "%s,%s", fork, sysx);
		}
	}
	fclose(f);
}

static void vgk_dump_log(struct vgk_run *r)
{
	char line[512];
	FILE *f = fopen(r->log, "r");

	while (f && fgets(line, sizeof(line), f))
		printf("vgk log %s: %s", r->hook, line);
	if (f)
		fclose(f);
}

/*
 * The programs vigild holds, by id, from /proc/PID/fdinfo (a link fd names
 * its program too). A program's own fd says run_cnt there: that fdinfo is
 * kept open, so vgk_sample() reads the counts with pread() alone, a syscall
 * vigil does not watch.
 */
static void vgk_find_progs(struct vgk_run *r)
{
	char path[64], line[128];
	struct dirent *de;
	DIR *dir;

	for (int i = 0; i < VGK_MAX_PROGS; i++)
		r->stat_fd[i] = -1;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", r->vigild);
	dir = opendir(path);
	while (dir && (de = readdir(dir)) && r->nprogs < VGK_MAX_PROGS) {
		unsigned int id = 0;
		int own = 0, k;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%.16s", r->vigild, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "prog_id: %u", &id);
			own |= !strncmp(line, "run_cnt:", 8);
		}
		fclose(f);
		if (!id)
			continue;
		for (k = 0; k < r->nprogs && r->prog_ids[k] != id; k++)
			;
		if (k == r->nprogs)
			r->prog_ids[r->nprogs++] = id;
		if (own && r->stat_fd[k] < 0)
			r->stat_fd[k] = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (dir)
		closedir(dir);
}

static void vgk_close_stats(struct vgk_run *r)
{
	for (int i = 0; i < VGK_MAX_PROGS; i++) {
		if (r->stat_fd[i] >= 0)
			close(r->stat_fd[i]);
		r->stat_fd[i] = -1;
	}
}

/*
 * bpf_prog_info.verified_insns came with v5.16 (kernel aba64c7da9); older
 * kernels return a shorter info_len, and we say n/a.
 */
static void vgk_print_progs(struct vgk_run *r)
{
	for (int i = 0; i < r->nprogs; i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(r->prog_ids[i]);

		memset(&info, 0, sizeof(info));
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			memcpy(r->prog_name[i], info.name, sizeof(r->prog_name[i]));
		if (!strncmp(r->prog_name[i], "vg_", 3)) {
			if (len >= offsetof(struct bpf_prog_info, verified_insns) +
					   sizeof(info.verified_insns))
				printf("vgk prog %s %s %u\n", r->hook, info.name,
				       info.verified_insns);
			else
				printf("vgk prog %s %s n/a\n", r->hook, info.name);
		}
		close(fd);
	}
}

static int vgk_progs_alive(struct vgk_run *r)
{
	int alive = 0;

	for (int i = 0; i < r->nprogs; i++) {
		int fd = bpf_prog_get_fd_by_id(r->prog_ids[i]);

		if (fd >= 0) {
			alive++;
			close(fd);
		}
	}
	return alive;
}

static pid_t vgk_spawn(struct vgk_run *r, struct vgk_proc *w)
{
	char code[16];
	char *argv[] = { "/bin/sh", "-c", code, w->marker, NULL };
	pid_t pid;

	snprintf(code, sizeof(code), "exit %d", w->code);
	pid = fork();
	if (pid == 0) {
		if (chdir(r->cwd))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The processes the workload made: all of them seen exec'd, forked and exited? */
static int vgk_all_seen(struct vgk_run *r)
{
	for (int i = 0; i < r->nprocs; i++)
		if (!r->procs[i].exec || !r->procs[i].fork || !r->procs[i].exit)
			return 0;
	return 1;
}

static void vgk_workload(struct vgk_run *r)
{
	char dir[] = "/tmp/vgk-cwd-XXXXXX";
	int bad_status = 0, exact = 1, fields = 1;
	long deadline;

	if (!realpath("/bin/sh", r->sh) || !mkdtemp(dir) || !realpath(dir, r->cwd)) {
		vgk_check(r, 0, "workload", "set up: %s", strerror(errno));
		return;
	}
	r->nprocs = 1 + vgk_storm;
	r->procs = calloc((size_t)r->nprocs, sizeof(*r->procs));
	for (int i = 0; i < r->nprocs; i++) {
		struct vgk_proc *w = &r->procs[i];
		int status;

		/* Process 0 is the ground truth of the issue: sh -c 'exit 7'. */
		w->code = i ? i % 100 : 7;
		snprintf(w->marker, sizeof(w->marker), "vgk-%s-%d-%d", r->hook, (int)getpid(), i);
		w->pid = vgk_spawn(r, w);
		if (w->pid < 0 || waitpid(w->pid, &status, 0) != w->pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != w->code)
			bad_status++;
		vgk_pump(r, 0);
	}
	vgk_check(r, !bad_status, "workload_ran", "%d of %d processes did not exit as asked",
		  bad_status, r->nprocs);

	deadline = vgk_ms() + VGK_EVENT_MS;
	while (!vgk_all_seen(r) && vgk_ms() < deadline && !r->eof)
		vgk_pump(r, 100);

	vgk_check(r, r->procs[0].exec == 1 && r->procs[0].exec_ok, "exec_sh_exit7",
		  "pid %d: %d exec events, fields %s", r->procs[0].pid, r->procs[0].exec,
		  r->procs[0].exec_ok ? "right" : "wrong");
	vgk_check(r, r->procs[0].fork == 1, "fork_sh_exit7", "pid %d: %d fork events",
		  r->procs[0].pid, r->procs[0].fork);
	vgk_check(r, r->procs[0].exit == 1 && r->procs[0].exit_ok, "exit_code_7",
		  "pid %d: %d exit events, code %s", r->procs[0].pid, r->procs[0].exit,
		  r->procs[0].exit_ok ? "right" : "wrong");
	for (int i = 1; i < r->nprocs; i++) {
		struct vgk_proc *w = &r->procs[i];

		exact &= w->exec == 1 && w->fork == 1 && w->exit == 1;
		fields &= w->exec_ok && w->exit_ok;
	}
	vgk_check(r, exact, "storm_exactly_once",
		  "not every one of %d processes had exactly one "
		  "exec, fork and exit event",
		  vgk_storm);
	vgk_check(r, fields, "storm_fields", "argv, cwd, exe or exit code wrong in the storm");
}

/*
 * exe and parent_exe judged in the kernel: sh creates x1 (its exe is sh,
 * known from its exec) and y1 (its parent is this program, known from
 * vigild's /proc seed); a forked child of this program creates z1 (its exe
 * is this program, copied at fork — by fentry where the kernel allows it);
 * this program creates x2 and y2 (its exe is not sh, its parent is not itself).
 */
static int vgk_filter_file(struct vgk_run *r, FILE *f)
{
	fprintf(f,
		"drop file where exe == \"%s\" and path prefix \"/tmp/vgk-flt-%s-x\"\n"
		"drop file where parent_exe == \"%s\" and path prefix \"/tmp/vgk-flt-%s-y\"\n"
		"drop file where exe == \"%s\" and path prefix \"/tmp/vgk-flt-%s-z\"\n",
		r->sh, r->hook, r->self, r->hook, r->self, r->hook);
	return fclose(f);
}

static void vgk_filters(struct vgk_run *r)
{
	char x1[96], y1[96], cmd[256];
	long deadline;
	int status;
	pid_t pid;

	vgk_flt_path(r, 0, x1, sizeof(x1));
	vgk_flt_path(r, 1, y1, sizeof(y1));
	snprintf(cmd, sizeof(cmd), ": > %s; : > %s", x1, y1);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	pid = fork();
	if (pid == 0) {
		char z1[96];

		vgk_flt_path(r, 2, z1, sizeof(z1));
		_exit(close(open(z1, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	for (int i = 3; i < 5; i++) {
		char path[96];
		int fd;

		vgk_flt_path(r, i, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	deadline = vgk_ms() + VGK_EVENT_MS;
	while ((!r->flt_seen[3] || !r->flt_seen[4]) && vgk_ms() < deadline && !r->eof)
		vgk_pump(r, 100);
	vgk_pump(r, 200); /* what x1, y1 or z1 would have sent comes with or before them */
	vgk_check(r, r->flt_seen[3] && r->flt_seen[4], "filter_keeps_others", "x2/y2 events: %d/%d",
		  r->flt_seen[3], r->flt_seen[4]);
	vgk_check(r, !r->flt_seen[0] && !r->flt_seen[1] && !r->flt_seen[2], "filter_exe_in_kernel",
		  "x1/y1/z1 (exe at exec, parent_exe from the seed, exe copied at fork) reached "
		  "userspace: %d/%d/%d",
		  r->flt_seen[0], r->flt_seen[1], r->flt_seen[2]);
}

static int vgk_loopback(int type, struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) ||
	    getsockname(fd, (struct sockaddr *)sa, &len))
		return -1;
	return fd;
}

/*
 * A DNS query to a resolver a child plays on 127.0.83.53:53 (the child's
 * events are not the ground truth's: another pid) and its reply with one A
 * answer, read by recv.
 */
static int vgk_dns(void)
{
	static const uint8_t q[] = { 0x42, 0x42, 1,   0, 0,   1,   0,	0,   0, 0, 0, 0, 3,
				     'v',  'g',	 'k', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	static const uint8_t an[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7 };
	struct sockaddr_in ns = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr.s_addr = htonl(0x7f005335) };
	int srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int cl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint8_t b[128];
	int st = -1;
	pid_t p;

	if (srv < 0 || cl < 0 || bind(srv, (struct sockaddr *)&ns, sizeof(ns)))
		return -1;
	p = fork();
	if (p == 0) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(srv, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);

		if (n != sizeof(q))
			_exit(1);
		b[2] |= 0x80;
		b[7] = 1;
		memcpy(b + n, an, sizeof(an));
		n += sizeof(an);
		_exit(sendto(srv, b, (size_t)n, 0, (struct sockaddr *)&from, fl) != n);
	}
	close(srv);
	if (p < 0 || sendto(cl, q, sizeof(q), 0, (struct sockaddr *)&ns, sizeof(ns)) != sizeof(q) ||
	    recv(cl, b, sizeof(b), 0) != sizeof(q) + sizeof(an) || waitpid(p, &st, 0) != p || st)
		return -1;
	close(cl);
	return 0;
}

/*
 * The ground truth's process (a fork of this program, so its events name
 * it by pid): one of each file, network and security operation vigil
 * reports, plus a read-only open and a second datagram to one destination,
 * which it must not report. Only syscalls of the watch list run here, so a
 * syscall vigil learns to watch later adds no event to this list.
 */
static int vgk_ground_child(const char *dir, int pfd)
{
	struct timespec times[4] = { { 1, 0 }, { 86400, 5 }, { 2, 0 }, { 172800, 0 } };
	struct sockaddr_in l, u;
	int ls, c, a, us, u1, u2, fd, pipefd[2];
	uint16_t ports[2];
	pid_t g;

	ls = vgk_loopback(SOCK_STREAM, &l);
	us = vgk_loopback(SOCK_DGRAM, &u);
	if (ls < 0 || us < 0 || chdir(dir))
		return 10;
	/* The ports, for the parent's expected list, before any event. */
	ports[0] = ntohs(l.sin_port);
	ports[1] = ntohs(u.sin_port);
	if (write(pfd, ports, sizeof(ports)) != sizeof(ports))
		return 11;
	fd = open("a", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd))
		return 12;
	fd = open("a", O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
		return 13;
	fd = open("a", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || close(fd))
		return 14;
	if (rename("a", "b") || chmod("b", 0600) || chown("b", 0, 0) || unlink("b"))
		return 15;
	fd = open(".ssh/id_vgk", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd))
		return 16;
	fd = open(".ssh/id_vgk", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || close(fd))
		return 17;
	/* times by path (the old ones not known), then by fd (known: the entry read them) */
	fd = open("t", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || utimensat(AT_FDCWD, "t", times, 0) || futimens(fd, times + 2) || close(fd) ||
	    unlink("t"))
		return 23;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen(ls, 1) || c < 0 || connect(c, (struct sockaddr *)&l, sizeof(l)))
		return 18;
	a = accept(ls, NULL, NULL);
	u1 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	u2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (a < 0 || u1 < 0 || u2 < 0 ||
	    sendto(u1, "x", 1, 0, (struct sockaddr *)&u, sizeof(u)) != 1 ||
	    sendto(u1, "y", 1, 0, (struct sockaddr *)&u, sizeof(u)) != 1 ||
	    connect(u2, (struct sockaddr *)&u, sizeof(u)))
		return 19;
	if (vgk_dns())
		return 24;
	if (setuid(0) || pipe(pipefd))
		return 20;
	g = fork();
	if (g == 0) {
		char ch;

		close(pipefd[1]);
		_exit(read(pipefd[0], &ch, 1) < 0);
	}
	close(pipefd[0]);
	if (g < 0 || ptrace(PTRACE_SEIZE, g, NULL, NULL))
		return 21;
	close(pipefd[1]);
	if (waitpid(g, NULL, 0) != g)
		return 22;
	return 0;
}

static int vgk_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Events of one kind ("file ", "net ", "sec ") in want and got: equal as sorted lists? */
static void vgk_ground_check(struct vgk_run *r, const char *kind, char **want, int nwant,
			     int *count)
{
	char *w[VGK_GT_MAX], *g[VGK_GT_MAX], name[32];
	int nw = 0, ng = 0, same;

	for (int i = 0; i < nwant; i++)
		if (!strncmp(want[i], kind, strlen(kind)))
			w[nw++] = want[i];
	for (int i = 0; i < r->ngt_got; i++)
		if (!strncmp(r->gt_got[i], kind, strlen(kind)))
			g[ng++] = r->gt_got[i];
	qsort(w, (size_t)nw, sizeof(*w), vgk_strcmp);
	qsort(g, (size_t)ng, sizeof(*g), vgk_strcmp);
	same = nw == ng;
	for (int i = 0; same && i < nw; i++)
		same = !strcmp(w[i], g[i]);
	*count = ng;
	snprintf(name, sizeof(name), "ground_%.*s", (int)strlen(kind) - 1, kind);
	vgk_check(r, same, name, "%d events, %d expected (notes list both)", ng, nw);
	if (!same) {
		for (int i = 0; i < nw; i++)
			printf("vgk note %s: expected %s\n", r->hook, w[i]);
		for (int i = 0; i < ng; i++)
			printf("vgk note %s: received %s\n", r->hook, g[i]);
	}
}

/* Is every string of want among what arrived? (duplicates aside) */
static int vgk_ground_all(const struct vgk_run *r, char **want, int nwant)
{
	for (int i = 0; i < nwant; i++) {
		int found = 0;

		for (int k = 0; !found && k < r->ngt_got; k++)
			found = !strcmp(want[i], r->gt_got[k]);
		if (!found)
			return 0;
	}
	return 1;
}

static void vgk_ground(struct vgk_run *r, int counts[3])
{
	char tmpl[] = "/tmp/vgk-gt-XXXXXX", dir[PATH_MAX], ssh[PATH_MAX + 8], *want[32];
	uint16_t ports[2] = { 0, 0 };
	int pfd[2], status = -1, nwant = 0;
	long deadline;

	if (!mkdtemp(tmpl) || !realpath(tmpl, dir) || pipe2(pfd, O_CLOEXEC)) {
		vgk_check(r, 0, "ground_ran", "set up: %s", strerror(errno));
		return;
	}
	snprintf(ssh, sizeof(ssh), "%s/.ssh", dir);
	mkdir(ssh, 0700);
	r->gt_pid = fork();
	if (r->gt_pid == 0)
		_exit(vgk_ground_child(dir, pfd[1]));
	close(pfd[1]);
	if (r->gt_pid < 0 || read(pfd[0], ports, sizeof(ports)) != sizeof(ports))
		ports[0] = ports[1] = 0;
	close(pfd[0]);
	while (waitpid(r->gt_pid, &status, WNOHANG) == 0)
		vgk_pump(r, 10);
	vgk_check(r, WIFEXITED(status) && WEXITSTATUS(status) == 0 && ports[0], "ground_ran",
		  "the ground truth's process exited with status 0x%x", status);
#define VGK_WANT(...) asprintf(&want[nwant++], __VA_ARGS__)
	VGK_WANT("file FileCreated %s/a", dir);
	VGK_WANT("file FileModified %s/a", dir);
	VGK_WANT("file FileRenamed %s/b <- %s/a", dir, dir);
	VGK_WANT("file FileModeChanged %s/b", dir);
	VGK_WANT("file FileOwnerChanged %s/b", dir);
	VGK_WANT("file FileDeleted %s/b", dir);
	VGK_WANT("file FileCreated %s/.ssh/id_vgk", dir);
	VGK_WANT("sec SensitiveFileRead %s/.ssh/id_vgk", dir);
	VGK_WANT("file FileCreated %s/t", dir);
	VGK_WANT("file FileTimestampChanged %s/t", dir);
	/*
	 * The futimens knows the times it replaced where they are read at no
	 * other syscall's cost: with fentry (vigild --old-values asks it of the
	 * tracepoint hooks too).
	 */
	if (strstr(r->chosen, ",fentry"))
		VGK_WANT("file FileTimestampChanged %s/t was 86400000000005", dir);
	else
		VGK_WANT("file FileTimestampChanged %s/t", dir);
	VGK_WANT("file FileDeleted %s/t", dir);
	VGK_WANT("net ListeningConnectionCreated Tcp 127.0.0.1:%u", ports[0]);
	VGK_WANT("net ConnectionAttempt Tcp 127.0.0.1:%u", ports[0]);
	VGK_WANT("net ConnectionSuccess Tcp 127.0.0.1:%u", ports[0]);
	VGK_WANT("net InboundConnectionAccepted Tcp 127.0.0.1:%u", ports[0]);
	VGK_WANT("net ConnectionAttempt Udp 127.0.0.1:%u", ports[1]);
	VGK_WANT("net ConnectionAttempt Udp 127.0.0.1:%u", ports[1]);
	VGK_WANT("net ConnectionAttempt Udp 127.0.83.53:53");
	VGK_WANT("sec DnsQuery");
	VGK_WANT("sec DnsResponse vgk.test 192.0.2.7");
	VGK_WANT("sec PrivilegeChange");
	VGK_WANT("sec PtraceAttach %s", r->self); /* the target is a fork of this program */
#undef VGK_WANT
	deadline = vgk_ms() + VGK_EVENT_MS;
	while (!vgk_ground_all(r, want, nwant) && vgk_ms() < deadline && !r->eof)
		vgk_pump(r, 100);
	vgk_pump(r, 300); /* anything more would come with or before the last one */
	vgk_ground_check(r, "file ", want, nwant, &counts[0]);
	vgk_ground_check(r, "net ", want, nwant, &counts[1]);
	vgk_ground_check(r, "sec ", want, nwant, &counts[2]);
	for (int i = 0; i < nwant; i++)
		free(want[i]);
	/* The key file the ground truth made: run natively, the directory stayed in /tmp. */
	strncat(ssh, "/id_vgk", sizeof(ssh) - strlen(ssh) - 1);
	unlink(ssh);
	*strrchr(ssh, '/') = 0;
	rmdir(ssh);
	rmdir(dir);
}

static double vgk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * What the sensor costs on four loops: getppid and stat (syscalls vigil
 * does not watch), a modifying open+close of one file (after the first,
 * duplicates: the dedup hit path) and a read-only open+close (watched, no
 * event). Each loop is short (25-75 ms under TCG), so a round of all four
 * with and without the sensor takes about a second.
 */
static const char *const vgk_cost_names[VGK_COSTS] = { "getppid", "stat", "open_close",
						       "ro_open_close" };
static const int vgk_iters[VGK_COSTS] = { 50000, 5000, 2500, 2500 };

static void vgk_cost_path(const struct vgk_run *r, char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/vgk-cost-%s", r->hook);
}

/* Loop k, once: only its own syscalls run between the caller's two clock (or count) reads. */
static void vgk_loop(int k, const char *path)
{
	struct stat st;

	for (int i = 0; i < vgk_iters[k]; i++) {
		switch (k) {
		case 0:
			(void)getppid();
			break;
		case 1:
			(void)stat("/tmp", &st);
			break;
		case 2:
			close(open(path, O_WRONLY | O_CLOEXEC));
			break;
		default:
			close(open(path, O_RDONLY | O_CLOEXEC));
		}
	}
}

/* ns per call of loop k, the best of runs runs; with pump, the sensor's events are read between them. */
static double vgk_cost(struct vgk_run *r, int k, int runs, int pump)
{
	double best = 0;
	char path[64];

	vgk_cost_path(r, path, sizeof(path));
	for (int run = 0; run < runs; run++) {
		double t0 = vgk_now_ns(), ns;

		vgk_loop(k, path);
		ns = (vgk_now_ns() - t0) / vgk_iters[k];
		if (!best || ns < best)
			best = ns;
		if (pump)
			vgk_pump(r, 0);
	}
	return best;
}

/* Every loop's cost, the best of 3 runs (the sensor's events go nowhere while a loop runs). */
static void vgk_costs(struct vgk_run *r, double out[VGK_COSTS], int pump)
{
	char path[64];

	vgk_cost_path(r, path, sizeof(path));
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	for (int k = 0; k < VGK_COSTS; k++)
		out[k] = vgk_cost(r, k, 3, pump);
}

/* CPU ticks vigild has used (utime + stime), or -1. */
static long vgk_cpu_ticks(pid_t pid)
{
	char path[64], buf[512], *p;
	unsigned long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold spaces */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/*
 * Wait (pumping its frames) until vigild is idle: at most one tick of CPU
 * in 300 ms, for at most VGK_SETTLE_MS. Its start-up work (the /proc
 * snapshot, hashing what runs) and the draining of earlier workloads would
 * otherwise share the guest's CPUs with the cost loops, whatever the hook.
 */
#define VGK_SETTLE_MS 10000

static void vgk_settle(struct vgk_run *r)
{
	long deadline = vgk_ms() + VGK_SETTLE_MS, t = vgk_cpu_ticks(r->vigild), u;

	while (t >= 0 && vgk_ms() < deadline) {
		vgk_pump(r, 300);
		u = vgk_cpu_ticks(r->vigild);
		if (u < 0 || u - t <= 1)
			break;
		t = u;
	}
}

/* Run counts of vigild's programs, from the fdinfo vgk_find_progs() kept open. */
struct vgk_sample {
	unsigned long long cnt[VGK_MAX_PROGS], ns[VGK_MAX_PROGS];
};

static void vgk_sample(const struct vgk_run *r, struct vgk_sample *s)
{
	char buf[512];

	for (int i = 0; i < r->nprogs; i++) {
		ssize_t n = r->stat_fd[i] >= 0 ? pread(r->stat_fd[i], buf, sizeof(buf) - 1, 0) : -1;
		const char *p;

		s->cnt[i] = s->ns[i] = 0;
		if (n <= 0)
			continue;
		buf[n] = 0;
		if ((p = strstr(buf, "run_time_ns:")))
			s->ns[i] = strtoull(p + 12, NULL, 10);
		if ((p = strstr(buf, "run_cnt:")))
			s->cnt[i] = strtoull(p + 8, NULL, 10);
	}
}

/* The programs that run on syscalls (vg_fx_, vg_fn_: fentry; vg_sysx_, vg_sysn_: the others). */
static int vgk_sys_prog(const struct vgk_run *r, int i)
{
	const char *n = r->prog_name[i];

	return !strncmp(n, "vg_fx_", 6) || !strncmp(n, "vg_fn_", 6) || !strncmp(n, "vg_sysx_", 8) ||
	       !strncmp(n, "vg_sysn_", 8);
}

/* Stop (SIGSTOP) or continue vigild, and wait until it has. 0 or -errno. */
static int vgk_pause(struct vgk_run *r, int stop)
{
	int status;

	if (kill(r->vigild, stop ? SIGSTOP : SIGCONT) ||
	    waitpid(r->vigild, &status, stop ? WUNTRACED : WCONTINUED) != r->vigild)
		return -errno;
	return (stop ? WIFSTOPPED(status) : WIFCONTINUED(status)) ? 0 : -ECHILD;
}

/*
 * Which of vigild's programs run during each loop, and for how long, as
 * the kernel counts them (BPF_ENABLE_STATS: run_cnt and run_time_ns per
 * program): exact, where vigild is stopped (its own timer's bpf() calls
 * would run vg_fx_bpf) and nothing else runs (-q, the matrix's VMs: the
 * counts are the whole machine's). Reading the counts is pread() alone;
 * what two reads in a row add (a sys_exit program runs on those preads
 * too) is subtracted. Under fentry and tp a syscall vigil does not watch
 * must run none of the syscall programs; a sys_exit program (tp_btf,
 * raw_tp) runs exactly once per syscall.
 */
static void vgk_runs(struct vgk_run *r, const char *sysx)
{
	unsigned long long sys[VGK_COSTS] = { 0 };
	struct vgk_sample s[4];
	char path[64];
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (stats < 0 || vgk_pause(r, 1)) {
		vgk_check(r, 0, "runs_counted", "bpf_enable_stats or SIGSTOP: %s", strerror(errno));
		if (stats >= 0)
			close(stats);
		return;
	}
	vgk_cost_path(r, path, sizeof(path));
	for (int k = 0; k < VGK_COSTS; k++) {
		unsigned long long other = 0, ns = 0;

		vgk_sample(r, &s[0]);
		vgk_sample(r, &s[1]);
		vgk_sample(r, &s[2]);
		vgk_loop(k, path);
		vgk_sample(r, &s[3]);
		for (int i = 0; i < r->nprogs; i++) {
			unsigned long long n =
				(s[3].cnt[i] - s[2].cnt[i]) - (s[1].cnt[i] - s[0].cnt[i]);
			unsigned long long t =
				(s[3].ns[i] - s[2].ns[i]) - (s[1].ns[i] - s[0].ns[i]);

			if (!n)
				continue;
			printf("vgk run %s %s %s %llu %.0f\n", r->hook, vgk_cost_names[k],
			       r->prog_name[i], n, (double)t / n);
			if (vgk_sys_prog(r, i)) {
				sys[k] += n;
				ns += t;
			} else {
				other += n;
			}
		}
		r->runs[k] = (double)sys[k] / vgk_iters[k];
		printf("vgk runs %s %s calls=%d sys=%llu other=%llu ns_per_run=%.0f\n", r->hook,
		       vgk_cost_names[k], vgk_iters[k], sys[k], other,
		       sys[k] ? (double)ns / sys[k] : 0);
	}
	close(stats);
	if (vgk_pause(r, 0))
		vgk_check(r, 0, "runs_counted", "SIGCONT: %s", strerror(errno));
	if (!strcmp(sysx, "fentry") || !strcmp(sysx, "tp"))
		vgk_check(
			r, !sys[0] && !sys[1], "unwatched_runs_nothing",
			"vigil's syscall programs ran %llu times during %d getppid and %llu during "
			"%d stat (vgk run lines say which)",
			sys[0], vgk_iters[0], sys[1], vgk_iters[1]);
	else
		vgk_check(r,
			  sys[0] == (unsigned long long)vgk_iters[0] &&
				  sys[1] == (unsigned long long)vgk_iters[1],
			  "sys_exit_runs_once", "%llu runs in %d getppid, %llu in %d stat", sys[0],
			  vgk_iters[0], sys[1], vgk_iters[1]);
	vgk_check(r,
		  sys[2] >= (unsigned long long)vgk_iters[2] &&
			  sys[3] >= (unsigned long long)vgk_iters[3],
		  "watched_runs", "%llu runs in %d open+close, %llu in %d read-only", sys[2],
		  vgk_iters[2], sys[3], vgk_iters[3]);
}

/*
 * The sensor's cost on the four loops, decided in one VM (-q): VGK_ROUNDS
 * rounds; in each, every loop is timed without the sensor and right after
 * with it, or the other way round (alternating by round and loop, so a
 * drift of the guest's speed falls on both sides), the best of 2 runs
 * each; then per loop the median of the rounds' with/without ratios and
 * their range. Under TCG the guest's speed follows the host's load from
 * one tenth of a second to the next, so the two sides of a ratio are
 * measured next to each other, not a round apart.
 *
 * Without: vigild stopped (SIGSTOP) and kernel.ftrace_enabled 0, which
 * patches every fentry and fexit trampoline out of the kernel's text, so
 * the watched syscalls' functions run their own code again; the run counts
 * of vigil's syscall programs must be zero in the without measurements
 * (check baseline_runs_nothing: the fexit on openat does not run). What
 * stays attached are the tp_btf programs on the scheduler and
 * inet_sock_set_state, which none of these loops reaches (vgk_runs), and
 * vigild's memory. Starting vigild afresh for each round would be the
 * plainer baseline, but loading and verifying its programs takes 20-60 s
 * per start under TCG, and a tracing or perf link is detached only by
 * closing it, which only vigild can. Only fentry can be switched off so:
 * the other hooks keep the measurement before vigild starts and after it
 * stopped (r->cost).
 */
struct vgk_toggle {
	int ft; /* /proc/sys/kernel/ftrace_enabled */
	int stats; /* BPF_ENABLE_STATS while without */
	int off; /* without the sensor now */
	int stopped; /* vigild stopped by us */
	struct vgk_sample a; /* the counts when it went off */
	unsigned long long stray, other; /* programs run while off: syscall ones, others */
};

/*
 * Switch the sensor off (vigild stopped, ftrace off) or back on. 0 or
 * -errno; a switch off that failed halfway is undone by the switch on.
 */
static int vgk_switch(struct vgk_run *r, struct vgk_toggle *t, int off)
{
	struct vgk_sample b;
	int err = 0;
	long until;

	if (t->off == off)
		return 0;
	t->off = off;
	if (off) {
		t->stopped = !(err = vgk_pause(r, 1));
		if (!err && pwrite(t->ft, "0\n", 2, 0) != 2)
			err = -errno;
		if (!err && (t->stats = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0)
			err = -errno;
		vgk_sample(r, &t->a);
		return err;
	}
	vgk_sample(r, &b);
	for (int k = 0; k < r->nprogs; k++) {
		if (vgk_sys_prog(r, k))
			t->stray += b.cnt[k] - t->a.cnt[k];
		else
			t->other += b.cnt[k] - t->a.cnt[k];
	}
	if (t->stats >= 0)
		close(t->stats);
	t->stats = -1;
	if (pwrite(t->ft, "1\n", 2, 0) != 2)
		err = -errno;
	if (t->stopped && vgk_pause(r, 0))
		err = err ?: -errno;
	t->stopped = 0;
	/* What vigild's timer owes after the stop (one flush, its batch) is done before a loop. */
	for (until = vgk_ms() + 100; vgk_ms() < until;)
		vgk_pump(r, 20);
	return err;
}

static void vgk_rounds(struct vgk_run *r)
{
	struct vgk_toggle t = { .ft = open("/proc/sys/kernel/ftrace_enabled", O_WRONLY | O_CLOEXEC),
				.stats = -1 };
	char path[64];
	int err = 0, back;

	/*
	 * 5.10 refuses (EBUSY): its BPF trampolines share one ftrace_ops
	 * flagged permanent (direct_ops); 6.1 and 6.12 accept it. Those rows
	 * keep the measurement before and after vigild.
	 */
	if (t.ft < 0 || pwrite(t.ft, "0\n", 2, 0) != 2) {
		printf("vgk note %s: no interleaved rounds: kernel.ftrace_enabled 0: %s\n", r->hook,
		       strerror(errno));
		if (t.ft >= 0)
			close(t.ft);
		return;
	}
	if (pwrite(t.ft, "1\n", 2, 0) != 2) {
		vgk_check(r, 0, "rounds", "kernel.ftrace_enabled back to 1: %s", strerror(errno));
		close(t.ft);
		return;
	}
	vgk_cost_path(r, path, sizeof(path));
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	for (int i = 0; i < VGK_ROUNDS && !err; i++) {
		for (int k = 0; k < VGK_COSTS && !err; k++) {
			for (int half = 0; half < 2 && !err; half++) {
				int with = (i + k) & 1 ? !half : half;

				err = vgk_switch(r, &t, !with);
				if (!err)
					r->round[i][with][k] = vgk_cost(r, k, 2, with);
			}
		}
		printf("vgk round %s %d", r->hook, i);
		for (int k = 0; k < VGK_COSTS; k++)
			printf(" %.0f/%.0f", r->round[i][0][k], r->round[i][1][k]);
		putchar('\n');
	}
	back = vgk_switch(r, &t, 0);
	err = err ?: back;
	close(t.ft);
	if (err) {
		vgk_check(r, 0, "rounds", "switching the sensor off or on: %s", strerror(-err));
		return;
	}
	r->nrounds = VGK_ROUNDS;
	printf("vgk note %s: without the sensor, its other programs ran %llu times (scheduler, "
	       "TCP state: not these loops)\n",
	       r->hook, t.other);
	vgk_check(r, !t.stray, "baseline_runs_nothing",
		  "vigil's syscall programs ran %llu times while vigild was stopped and ftrace off",
		  t.stray);
}

static int vgk_dblcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Loop k's with/without ratio: the median of the rounds (and their range), else the one measurement. */
static double vgk_ratio(const struct vgk_run *r, int k, double *lo, double *hi)
{
	double q[VGK_ROUNDS];

	if (!r->nrounds) {
		*lo = *hi = r->cost[0][k] ? r->cost[1][k] / r->cost[0][k] : 0;
		return *lo;
	}
	for (int i = 0; i < r->nrounds; i++)
		q[i] = r->round[i][0][k] ? r->round[i][1][k] / r->round[i][0][k] : 0;
	qsort(q, (size_t)r->nrounds, sizeof(*q), vgk_dblcmp);
	*lo = q[0];
	*hi = q[r->nrounds - 1];
	return q[r->nrounds / 2];
}

static void vgk_stop(struct vgk_run *r)
{
	long deadline = vgk_ms() + VGK_STOP_MS;
	int status = -1, done = 0;

	kill(r->vigild, SIGTERM);
	while (!r->eof && vgk_ms() < deadline)
		vgk_pump(r, 100);
	while (vgk_ms() < deadline && !(done = waitpid(r->vigild, &status, WNOHANG) == r->vigild))
		usleep(20000);
	if (!done) {
		kill(r->vigild, SIGKILL);
		waitpid(r->vigild, &status, 0);
	}
	vgk_check(r, done && WIFEXITED(status) && WEXITSTATUS(status) == 0, "clean_shutdown",
		  "vigild did not exit 0 within %d ms of SIGTERM (status 0x%x)", VGK_STOP_MS,
		  status);
	/* The kernel frees programs after an RCU grace period (a tasks-trace one for tracing programs). */
	deadline = vgk_ms() + VGK_RELEASE_MS;
	while (vgk_progs_alive(r) && vgk_ms() < deadline)
		usleep(50000);
	vgk_check(r, r->nprogs > 0 && !vgk_progs_alive(r), "programs_released",
		  "%d of %d programs still loaded %d ms after vigild exited", vgk_progs_alive(r),
		  r->nprogs, VGK_RELEASE_MS);
}

/* seen = emitted + filtered + deduplicated + rate-limited + ring-full, and nothing lost. */
static void vgk_accounting(struct vgk_run *r)
{
	static const char *const cls[] = { "exec", "fork", "exit" };
	const Vigil__V1__Batch *b = r->last;
	int found = 0, balanced = 1, matched = 1;
	uint64_t filtered = 0;

	if (!b) {
		vgk_check(r, 0, "accounting_identity", "no batch received");
		return;
	}
	for (size_t i = 0; i < b->n_counters; i++) {
		const Vigil__V1__Counter *c = b->counters[i];

		if (!strcmp(c->event_class, "file"))
			filtered = c->filtered;
		for (int k = 0; k < 3; k++) {
			if (strcmp(c->event_class, cls[k]))
				continue;
			found++;
			balanced &= c->seen == c->emitted + c->filtered + c->deduplicated +
						       c->rate_limited + c->ringbuf_full &&
				    !c->ringbuf_full;
			/* Every emitted record reached us as one event (actions: exec, fork, exit). */
			matched &= c->emitted == r->received[k];
			if (c->emitted != r->received[k])
				printf("vgk note %s: %s emitted %llu, received %llu\n", r->hook,
				       cls[k], (unsigned long long)c->emitted,
				       (unsigned long long)r->received[k]);
		}
	}
	vgk_check(r, found == 3 && balanced, "accounting_identity",
		  "counters for %d of 3 classes, identity %s", found,
		  balanced ? "holds" : "broken or ring full");
	vgk_check(r, filtered >= 3, "filter_counted", "file events filtered in the kernel: %llu",
		  (unsigned long long)filtered);
	vgk_check(r, matched && !b->events_lost, "emitted_equals_received",
		  "events lost on the way (events_lost %llu)", (unsigned long long)b->events_lost);
}

/* The variant's files: run natively, they would stay in the machine's /tmp (its log was dumped on failure). */
static void vgk_cleanup(const struct vgk_run *r)
{
	char path[PATH_MAX];

	for (int i = 0; i < 5; i++) {
		vgk_flt_path(r, i, path, sizeof(path));
		unlink(path);
	}
	vgk_cost_path(r, path, sizeof(path));
	unlink(path);
	if (r->flt[0])
		unlink(r->flt);
	if (r->log[0])
		unlink(r->log);
	if (r->cwd[0])
		rmdir(r->cwd);
}

static int vgk_variant(const char *vigild, const char *hook)
{
	struct vgk_run r = { .hook = hook };
	long t0 = vgk_ms(), deadline;
	FILE *f;
	int seen[3] = { 0 }, ground[3] = { 0 }, err;
	double after[VGK_COSTS], lo[VGK_COSTS], hi[VGK_COSTS], mid[VGK_COSTS];
	const char *sysx;

	vg_frame_reader_init(&r.rd);
	snprintf(r.flt, sizeof(r.flt), "/tmp/vgk-%s.vf", hook);
	if (!realpath("/bin/sh", r.sh) || !realpath("/proc/self/exe", r.self) ||
	    !(f = fopen(r.flt, "w")) || vgk_filter_file(&r, f)) {
		vgk_check(&r, 0, "start", "write %s: %s", r.flt, strerror(errno));
		goto out;
	}
	vgk_costs(&r, r.cost[0], 0); /* no sensor yet */
	err = vgk_start(&r, vigild);
	if (err) {
		vgk_check(&r, 0, "start", "start %s: %s", vigild, strerror(-err));
		goto out;
	}
	/* vigild sends its first batch right after attaching. */
	deadline = vgk_ms() + VGK_START_MS;
	while (!r.frames && !r.eof && vgk_ms() < deadline)
		vgk_pump(&r, 100);
	vgk_chosen(&r);
	vgk_check(&r, r.frames > 0, "attach", "no batch from vigild --hook %s within %d ms", hook,
		  VGK_START_MS);
	if (!r.frames) {
		kill(r.vigild, SIGKILL);
		waitpid(r.vigild, NULL, 0);
		vgk_dump_log(&r);
		goto out;
	}
	printf("vgk note %s: attached in %ld ms\n", hook, vgk_ms() - t0);
	vgk_find_progs(&r);
	vgk_print_progs(&r);
	vgk_workload(&r);
	vgk_filters(&r);
	vgk_ground(&r, ground);
	/* With the sensor: once vigild is idle, so the loops measure the hook, not its start-up. */
	vgk_settle(&r);
	vgk_costs(&r, r.cost[1], 1);
	sysx = strchr(r.chosen, ',') ? strchr(r.chosen, ',') + 1 : "?";
	if (vgk_expect && !strcmp(hook, "auto"))
		vgk_check(&r, !strcmp(sysx, vgk_expect), "auto_chooses",
			  "sys_exit on %s, expected %s", sysx, vgk_expect);
	if (vgk_quiet) {
		if (!strcmp(sysx, "fentry"))
			vgk_rounds(&r);
		vgk_runs(&r, sysx);
	}
	vgk_close_stats(&r);
	vgk_stop(&r);
	vgk_accounting(&r);
	/* Without the sensor again: the faster of before and after (TCG translates code on first use). */
	vgk_costs(&r, after, 0);
	for (int k = 0; k < VGK_COSTS; k++)
		if (after[k] < r.cost[0][k])
			r.cost[0][k] = after[k];
	if (r.fail)
		vgk_dump_log(&r);
out:
	vgk_cleanup(&r);
	for (int i = 0; i < r.nprocs; i++) {
		seen[0] += r.procs[i].exec;
		seen[1] += r.procs[i].fork;
		seen[2] += r.procs[i].exit;
	}
	for (int k = 0; k < VGK_COSTS; k++) {
		printf("vgk cost %s %s %.0f %.0f\n", hook, vgk_cost_names[k], r.cost[0][k],
		       r.cost[1][k]);
		mid[k] = vgk_ratio(&r, k, &lo[k], &hi[k]);
		printf("vgk ratio %s %s %.3f %.3f %.3f %d\n", hook, vgk_cost_names[k], mid[k],
		       lo[k], hi[k], r.nrounds);
	}
	printf("vgk variant %s chosen=%s pass=%d fail=%d events=%d/%d/%d/%d ms=%ld "
	       "ground=%d/%d/%d ratio=%.2f/%.2f/%.2f/%.2f rounds=%d runs=%g/%g/%g/%g\n",
	       hook, r.chosen[0] ? r.chosen : "-", r.pass, r.fail, r.nprocs, seen[0], seen[1],
	       seen[2], vgk_ms() - t0, ground[0], ground[1], ground[2], mid[0], mid[1], mid[2],
	       mid[3], r.nrounds, r.runs[0], r.runs[1], r.runs[2], r.runs[3]);
	fflush(stdout);
	if (r.last)
		vigil__v1__batch__free_unpacked(r.last, NULL);
	vg_frame_reader_free(&r.rd);
	free(r.procs);
	for (int i = 0; i < r.ngt_got; i++)
		free(r.gt_got[i]);
	return r.fail || !r.pass;
}

/* Pass on what `vigild --probe --json` reports, where vigild has it (issue 3). */
static void vgk_probe(const char *vigild)
{
	char cmd[PATH_MAX + 64], line[512];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "'%s' --probe --json 2>/dev/null", vigild);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if (line[0] == '{' && ++n)
			printf("vgk probe %s", line);
	if (!f || pclose(f) != 0 || !n)
		printf("vgk probe n/a (this vigild has no --probe --json)\n");
}

int main(int argc, char **argv)
{
	struct utsname u;
	int c, failed = 0;
	unsigned long n;
	char *end;

	while ((c = getopt(argc, argv, "n:e:qh")) != -1) {
		switch (c) {
		case 'q':
			vgk_quiet = 1;
			break;
		case 'e':
			vgk_expect = optarg;
			break;
		case 'n':
			n = strtoul(optarg, &end, 10);
			if (*end || !*optarg || n > VGK_STORM_MAX) {
				fprintf(stderr, "vg-ktest: -n: '%s' is not a number from 0 to %d\n",
					optarg, VGK_STORM_MAX);
				return 2;
			}
			vgk_storm = (int)n;
			break;
		case 'h':
			printf("usage: vg-ktest [-n N] [-e HOOK] [-q] VIGILD VARIANT...\n");
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: vg-ktest [-n N] [-e HOOK] [-q] VIGILD VARIANT...\n");
		return 2;
	}
	if (access(argv[optind], X_OK)) {
		fprintf(stderr, "vg-ktest: %s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "vg-ktest: vigild loads BPF programs: run as root\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	uname(&u);
	printf("vgk kernel %s\n", u.release);
	vgk_probe(argv[optind]);
	for (int i = optind + 1; i < argc; i++)
		failed |= vgk_variant(argv[optind], argv[i]);
	printf("vgk done %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
