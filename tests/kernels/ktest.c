// SPDX-License-Identifier: GPL-2.0-only
/*
 * vg-ktest: the kernel matrix's test runner. Static, so it runs in a busybox
 * initramfs under QEMU as well as natively: it starts the real vigild with
 * `--transport stdio` once per hook variant, decodes its frames with
 * lib/frame.h and lib/batch.h (no host, no SQLite), runs a ground-truth
 * workload and checks that exactly its events arrive with the right fields,
 * that the accounting identity holds, and that vigild releases its programs.
 *
 *   vg-ktest [-n N] VIGILD HOOK...    HOOK: auto, tp_btf, raw_tp, ...
 *
 * Lines starting with "vgk " are for scripts/kernels/matrix.sh:
 *   vgk probe <a line of `vigild --probe --json`, or n/a>
 *   vgk variant <hook> chosen=<what vigild logged> pass=<n> fail=<n>
 *       events=<processes>/<exec>/<fork>/<exit> events of the workload ms=<duration>
 *   vgk prog <hook> <program> <verified insns or n/a>
 *   vgk fallback <hook> <vigild's line saying which path it refused and why>
 *   vgk fail <hook> <check>: <why>
 * Exit status: 0 when every check of every variant passed, 1 otherwise,
 * 2 on a usage error.
 */
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
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "batch.h"
#include "frame.h"

#define VGK_MAX_PROGS 32
#define VGK_STORM_MAX 1000
#define VGK_START_MS 60000 /* TCG: loading and verifying takes seconds */
#define VGK_EVENT_MS 30000
#define VGK_STOP_MS 20000
#define VGK_RELEASE_MS 10000

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
	struct vgk_proc *procs;
	int nprocs;
	/* results */
	int pass, fail;
	char chosen[64];
	__u32 prog_ids[VGK_MAX_PROGS];
	int nprogs;
};

static int vgk_storm = 50;

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
		execl(vigild, vigild, "--transport", "stdio", "--hook", r->hook, "--flush-ms", "50",
		      "--filters", r->flt, (char *)NULL);
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

/* The hooks vigild reported in "watching (HOOK/POINT, ...; ...)". */
static void vgk_chosen(struct vgk_run *r)
{
	char line[512];
	FILE *f = fopen(r->log, "r");

	snprintf(r->chosen, sizeof(r->chosen), "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "watching (");

		if (strstr(line, "refused") || strstr(line, "falling back"))
			printf("vgk fallback %s %s", r->hook, line);

		if (p) {
			p += strlen("watching (");
			p[strcspn(p, ",)")] = '\0';
			snprintf(r->chosen, sizeof(r->chosen), "%s", p);
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

static int vgk_has_id(const struct vgk_run *r, __u32 id)
{
	for (int i = 0; i < r->nprogs; i++)
		if (r->prog_ids[i] == id)
			return 1;
	return 0;
}

/* The programs vigild holds, by id, from /proc/PID/fdinfo (a link fd names its program too). */
static void vgk_find_progs(struct vgk_run *r)
{
	char path[64], line[128];

	for (int fd = 0; fd < 256 && r->nprogs < VGK_MAX_PROGS; fd++) {
		FILE *f;
		unsigned int id;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", r->vigild, fd);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1 && !vgk_has_id(r, id))
				r->prog_ids[r->nprogs++] = id;
		fclose(f);
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
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, "vg_", 3)) {
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
	int seen[3] = { 0 }, err;

	vg_frame_reader_init(&r.rd);
	snprintf(r.flt, sizeof(r.flt), "/tmp/vgk-%s.vf", hook);
	if (!realpath("/bin/sh", r.sh) || !realpath("/proc/self/exe", r.self) ||
	    !(f = fopen(r.flt, "w")) || vgk_filter_file(&r, f)) {
		vgk_check(&r, 0, "start", "write %s: %s", r.flt, strerror(errno));
		goto out;
	}
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
	vgk_stop(&r);
	vgk_accounting(&r);
	if (r.fail)
		vgk_dump_log(&r);
out:
	vgk_cleanup(&r);
	for (int i = 0; i < r.nprocs; i++) {
		seen[0] += r.procs[i].exec;
		seen[1] += r.procs[i].fork;
		seen[2] += r.procs[i].exit;
	}
	printf("vgk variant %s chosen=%s pass=%d fail=%d events=%d/%d/%d/%d ms=%ld\n", hook,
	       r.chosen[0] ? r.chosen : "-", r.pass, r.fail, r.nprocs, seen[0], seen[1], seen[2],
	       vgk_ms() - t0);
	fflush(stdout);
	if (r.last)
		vigil__v1__batch__free_unpacked(r.last, NULL);
	vg_frame_reader_free(&r.rd);
	free(r.procs);
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

	while ((c = getopt(argc, argv, "n:h")) != -1) {
		switch (c) {
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
			printf("usage: vg-ktest [-n N] VIGILD HOOK...\n");
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: vg-ktest [-n N] VIGILD HOOK...\n");
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
