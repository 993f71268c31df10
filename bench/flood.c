// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event generator of the zero-drop ceiling (`make bench`): T threads
 * make file events vigil captures and never suppresses (with vigild's dedup
 * and rate limits off), paced together at RATE operations per second for
 * SECONDS, and print one JSON line.
 *
 *   flood chmod|open RATE SECONDS [--threads T] [--dir DIR] [--control SOCK]
 *         [--sensor PID] [--host PID]
 *
 * chmod   fchmod() of the thread's own file, mode alternating: one syscall
 *         per event, the cheapest event there is to make (a FileModified
 *         attribute change of a distinct file per thread; vigil has no
 *         dedup for attribute changes)
 * open    open for writing + close of the thread's 64 files in turn
 *         (distinct files: each one a FileModified event with --dedup-ms 0)
 *
 * RATE 0 is as fast as the threads go. Pacing is per thread, by absolute
 * deadlines checked every few operations, so a late operation does not slow
 * the next ones and a sleep's slack is made up in a burst; a thread sleeps
 * until 250 us of operations are due (FL_SLICE_NS), not one. T defaults to two
 * threads per CPU. The files live in a new directory under DIR (default
 * /dev/shm, a tmpfs: no disk in the measurement), removed at the end.
 *
 * --control SOCK  vigild's control socket (vigild --control): its counters
 *                 are read before and, once vigild has read what the run
 *                 caused (fl_settle), after; the differences
 *                 are printed (seen, emitted, ringbuf_full, events_lost,
 *                 records: every class summed; machine-wide, like the sensor)
 * --sensor PID, --host PID  the CPU share (CPU s per wall s, every thread) of
 *                 these processes during the generation, from schedstat
 *
 * The machine's CPU share busy in the same window (/proc/stat) is printed
 * too. Usage errors exit 2, failures 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FL_FILES 64 /* files per thread (open) */
#define FL_CHUNK 64 /* operations between two looks at the clock */
/*
 * A paced thread sleeps until this much work is due, not each operation:
 * woken once per operation (every 20-40 us per thread at the ceiling's
 * rates) the generator spent more CPU in the scheduler than in its
 * syscalls, CPU the sensor then lacked on a 2-CPU machine. 250 us of
 * operations at once is at most a few hundred events: far below what a
 * ring buffer holds.
 */
#define FL_SLICE_NS 250000
#define FL_THREADS_MAX 256

struct fl_thread {
	pthread_t tid;
	int idx;
	int fds[1];
	char dir[PATH_MAX];
	long long rate; /* ops/s of this thread, 0: unpaced */
	long long ops;
	int err;
};

static int fl_kind_open;
static long long fl_start_ns, fl_end_ns;
static pthread_barrier_t fl_barrier;

static long long fl_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fl_sleep_until(long long due)
{
	struct timespec ts = { .tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int fl_op(struct fl_thread *t, long long i, char *path, size_t size)
{
	int fd;

	if (!fl_kind_open)
		return fchmod(t->fds[0], (i & 1) ? 0600 : 0644) ? -errno : 0;
	snprintf(path, size, "%s/t%d-%lld", t->dir, t->idx, i % FL_FILES);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static void *fl_run(void *arg)
{
	struct fl_thread *t = arg;
	char path[PATH_MAX + 32];
	long long i = 0, now;
	int n;

	pthread_barrier_wait(&fl_barrier);
	for (;;) {
		now = fl_ns();
		if (now >= fl_end_ns)
			break;
		n = FL_CHUNK;
		if (t->rate) {
			/* Operations due by now; none due: sleep until the next one is. */
			long long due = (long long)((double)(now - fl_start_ns) * t->rate / 1e9) + 1;

			if (i >= due) {
				long long next = i + (long long)((double)t->rate * FL_SLICE_NS / 1e9);

				fl_sleep_until(fl_start_ns + (long long)((double)next * 1e9 / t->rate));
				continue;
			}
			if (due - i < n)
				n = (int)(due - i);
		}
		for (int k = 0; k < n; k++, i++) {
			t->err = fl_op(t, i, path, sizeof(path));
			if (t->err)
				goto out;
		}
	}
out:
	t->ops = i;
	return NULL;
}

/* Counters from vigild's control socket, every class summed. */
struct fl_counts {
	unsigned long long seen, emitted, rb_full, lost, records;
};

static unsigned long long fl_sum(const char *json, const char *key)
{
	unsigned long long n = 0;
	char pat[40];
	size_t plen;

	plen = (size_t)snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (const char *p = strstr(json, pat); p; p = strstr(p + plen, pat))
		n += strtoull(p + plen, NULL, 10);
	return n;
}

static int fl_stats(const char *sock, struct fl_counts *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "flood: control socket path too long: %s\n", sock);
		return -1;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, "stats\n", 6) != 6) {
		fprintf(stderr, "flood: control socket %s: %s\n", sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	if (!strstr(buf, "\"records\":")) {
		fprintf(stderr, "flood: control socket %s answered '%.200s'\n", sock, buf);
		return -1;
	}
	c->seen = fl_sum(buf, "seen");
	c->emitted = fl_sum(buf, "emitted");
	c->rb_full = fl_sum(buf, "ringbuf_full");
	c->lost = fl_sum(buf, "events_lost");
	c->records = fl_sum(buf, "records");
	return 0;
}

/* CPU ns of every thread of a process (schedstat), -1 when it is gone. */
static long long fl_cpu_ns(int pid)
{
	char path[PATH_MAX];
	long long sum = 0, v;
	struct dirent *de;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* a thread that ended */
		if (fscanf(f, "%lld", &v) == 1)
			sum += v;
		fclose(f);
	}
	closedir(d);
	return sum;
}

/* Busy and total jiffies of the machine (/proc/stat's first line). */
static void fl_machine(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "re");

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*busy = *total - v[3] - v[4]; /* idle, iowait */
	}
	fclose(f);
}

static int fl_usage(void)
{
	fprintf(stderr, "usage: flood chmod|open RATE SECONDS [--threads T] [--dir DIR] "
			"[--control SOCK] [--sensor PID] [--host PID]\n");
	return 2;
}

static int fl_num(const char *what, const char *s, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || end == s || *end || *out < lo || *out > hi) {
		fprintf(stderr, "flood: %s: '%s' is not a number from %lld to %lld\n", what, s, lo,
			hi);
		return -1;
	}
	return 0;
}

/* Every file of every thread, made before the clock starts. */
static int fl_setup(struct fl_thread *th, int nt, const char *dir)
{
	char path[PATH_MAX + 32];

	for (int k = 0; k < nt; k++) {
		struct fl_thread *t = &th[k];

		t->idx = k;
		snprintf(t->dir, sizeof(t->dir), "%s", dir);
		for (int j = 0; j < (fl_kind_open ? FL_FILES : 1); j++) {
			int fd;

			snprintf(path, sizeof(path), "%s/t%d-%d", dir, k, j);
			fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
			if (fd < 0) {
				fprintf(stderr, "flood: %s: %s\n", path, strerror(errno));
				return -1;
			}
			if (fl_kind_open)
				close(fd);
			else
				t->fds[0] = fd;
		}
	}
	return 0;
}

static void fl_cleanup(struct fl_thread *th, int nt, const char *dir)
{
	char path[PATH_MAX + 32];

	for (int k = 0; k < nt; k++) {
		if (!fl_kind_open && th[k].fds[0] > 0)
			close(th[k].fds[0]);
		for (int j = 0; j < FL_FILES; j++) {
			snprintf(path, sizeof(path), "%s/t%d-%d", dir, k, j);
			unlink(path);
		}
	}
	rmdir(dir);
}

/*
 * Wait until vigild has read what the run caused: as many records as the
 * kernel emitted since c0 (records count every ring, summaries too), or
 * `records` still for 0.6 s; 15 s at most.
 */
static int fl_settle(const char *sock, const struct fl_counts *c0, struct fl_counts *c)
{
	unsigned long long last = ~0ULL;
	int still = 0;

	for (int i = 0; i < 75; i++) {
		if (fl_stats(sock, c))
			return -1;
		if (c->records - c0->records >= c->emitted - c0->emitted)
			return 0;
		still = c->records == last ? still + 1 : 0;
		if (still >= 3)
			return 0;
		last = c->records;
		usleep(200000);
	}
	fprintf(stderr, "flood: vigild still reading records after 15 s\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *control = NULL, *base = "/dev/shm";
	long long rate, secs, nt, sensor = 0, host = 0, s0 = 0, s1 = 0, h0 = 0, h1 = 0, ops = 0;
	unsigned long long mb0, mt0, mb1, mt1;
	struct fl_counts c0 = { 0 }, c1 = { 0 };
	struct fl_thread *th;
	char dir[PATH_MAX];
	double wall;
	int ret = 1;

	nt = 2 * sysconf(_SC_NPROCESSORS_ONLN);
	if (argc < 4)
		return fl_usage();
	if (strcmp(argv[1], "chmod") && strcmp(argv[1], "open")) {
		fprintf(stderr, "flood: unknown kind '%s'\n", argv[1]);
		return fl_usage();
	}
	fl_kind_open = !strcmp(argv[1], "open");
	if (fl_num("RATE", argv[2], 0, 100000000LL, &rate) ||
	    fl_num("SECONDS", argv[3], 1, 3600, &secs))
		return 2;
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc)
			return fl_usage();
		if (!strcmp(argv[i], "--threads")) {
			if (fl_num("--threads", argv[i + 1], 1, FL_THREADS_MAX, &nt))
				return 2;
		} else if (!strcmp(argv[i], "--dir")) {
			base = argv[i + 1];
		} else if (!strcmp(argv[i], "--control")) {
			control = argv[i + 1];
		} else if (!strcmp(argv[i], "--sensor")) {
			if (fl_num("--sensor", argv[i + 1], 1, INT_MAX, &sensor))
				return 2;
		} else if (!strcmp(argv[i], "--host")) {
			if (fl_num("--host", argv[i + 1], 1, INT_MAX, &host))
				return 2;
		} else {
			return fl_usage();
		}
	}
	if (rate && rate < nt)
		nt = rate; /* every thread makes at least one operation a second */

	snprintf(dir, sizeof(dir), "%s/vg-flood-XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "flood: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	th = calloc((size_t)nt, sizeof(*th));
	if (!th) {
		rmdir(dir);
		return 1;
	}
	prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: pacing sleeps end close to their deadline */
	if (fl_setup(th, (int)nt, dir))
		goto out;
	for (int k = 0; k < nt; k++)
		th[k].rate = rate / nt + (k < rate % nt);
	if (control && fl_stats(control, &c0))
		goto out;
	pthread_barrier_init(&fl_barrier, NULL, (unsigned)nt + 1);
	for (int k = 0; k < nt; k++)
		if (pthread_create(&th[k].tid, NULL, fl_run, &th[k])) {
			fprintf(stderr, "flood: cannot start thread %d\n", k);
			exit(1); /* the others wait on the barrier forever */
		}
	s0 = sensor ? fl_cpu_ns((int)sensor) : 0;
	h0 = host ? fl_cpu_ns((int)host) : 0;
	fl_machine(&mb0, &mt0);
	fl_start_ns = fl_ns() + 1000000; /* every thread is past the barrier by then */
	fl_end_ns = fl_start_ns + secs * 1000000000LL;
	pthread_barrier_wait(&fl_barrier);
	for (int k = 0; k < nt; k++)
		pthread_join(th[k].tid, NULL);
	wall = (double)(fl_ns() - fl_start_ns) / 1e9;
	s1 = sensor ? fl_cpu_ns((int)sensor) : 0;
	h1 = host ? fl_cpu_ns((int)host) : 0;
	fl_machine(&mb1, &mt1);
	for (int k = 0; k < nt; k++) {
		if (th[k].err) {
			fprintf(stderr, "flood: %s in thread %d: %s\n", argv[1], k,
				strerror(-th[k].err));
			goto out;
		}
		ops += th[k].ops;
	}
	if (control && fl_settle(control, &c0, &c1))
		goto out;
	printf("{\"kind\":\"%s\",\"threads\":%lld,\"target_ops_s\":%lld,\"ops\":%lld,"
	       "\"seconds\":%.3f,\"achieved_ops_s\":%.0f,\"machine_busy\":%.3f",
	       argv[1], nt, rate, ops, wall, (double)ops / wall,
	       mt1 > mt0 ? (double)(mb1 - mb0) / (double)(mt1 - mt0) : 0.0);
	if (sensor)
		printf(",\"sensor_cpu\":%.3f", s0 < 0 || s1 < 0 ? -1.0 : (double)(s1 - s0) / 1e9 / wall);
	if (host)
		printf(",\"host_cpu\":%.3f", h0 < 0 || h1 < 0 ? -1.0 : (double)(h1 - h0) / 1e9 / wall);
	if (control)
		printf(",\"seen\":%llu,\"emitted\":%llu,\"ringbuf_full\":%llu,\"events_lost\":%llu,"
		       "\"records\":%llu",
		       c1.seen - c0.seen, c1.emitted - c0.emitted, c1.rb_full - c0.rb_full,
		       c1.lost - c0.lost, c1.records - c0.records);
	printf("}\n");
	ret = 0;
out:
	fl_cleanup(th, (int)nt, dir);
	free(th);
	return ret;
}
