// SPDX-License-Identifier: GPL-2.0-only
/*
 * The micro workloads of `make bench`: run one kind of operation N times,
 * one after the other, and print "<elapsed ns> <ops>" on stdout.
 *
 *   workload open N       open for writing + close of a temporary file (a
 *                         FileModified event for vigil, deduplicated by default)
 *   workload openro N     read-only open + close of the same file (no event: the
 *                         commonest file syscall of a build, a compiler's headers)
 *   workload stat N       stat of a temporary file
 *   workload exec N       fork + exec /bin/true + wait
 *   workload execnew N    fork + exec + wait of a copy of /bin/true whose mtime
 *                         changes before each exec: a new file to vigild's hash
 *                         cache every time (SHA256 and SHA1 read in full)
 *   workload fork N       fork + _exit + wait (the cheapest process events)
 *   workload tcp N        connect + accept + close both, on 127.0.0.1
 *   workload getppid N    getppid(), a syscall no sensor here captures
 *   workload recv N       recvmsg on an empty UDP socket (EAGAIN), as an event
 *                         loop drains its sockets: watched for DNS replies, no event
 *   workload ioctl N      ioctl FIONREAD on a pipe: an ioctl vigil watches the
 *                         syscall of (for chattr's FS_IOC_SETFLAGS) but does not report
 *   workload mmapx N      mmap PROT_READ|PROT_EXEC + munmap of the first page of a
 *                         library this process has mapped already (libc): a repeated
 *                         load, which vigil's image LRU absorbs (no event)
 *   workload mmapro N     mmap PROT_READ + munmap of the same page (no event: not
 *                         executable)
 *
 * With --rate R the operations are paced at R per second (absolute
 * deadlines, so a late operation does not slow the next ones); the rate
 * ramp uses it. Usage errors exit 2, failures 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct wl_ctx {
	char path[64];
	int lfd;
	int fd; /* ioctl: a pipe's read end; mmapx, mmapro: the library */
	long long execs; /* execnew: the copy's mtime (ns) */
	struct sockaddr_in addr;
};

static int wl_fail(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	return -1;
}

static int wl_open_close(struct wl_ctx *c, int flags)
{
	int fd = open(c->path, flags | O_CLOEXEC);

	if (fd < 0)
		return wl_fail(c->path);
	close(fd);
	return 0;
}

static int wl_open(struct wl_ctx *c)
{
	return wl_open_close(c, O_WRONLY);
}

static int wl_openro(struct wl_ctx *c)
{
	return wl_open_close(c, O_RDONLY);
}

static int wl_stat(struct wl_ctx *c)
{
	struct stat st;

	return stat(c->path, &st) ? wl_fail(c->path) : 0;
}

static int wl_wait(pid_t pid)
{
	int status;

	if (pid < 0)
		return wl_fail("fork");
	if (waitpid(pid, &status, 0) != pid)
		return wl_fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "workload: child %d failed (status 0x%x)\n", pid, status);
		return -1;
	}
	return 0;
}

static int wl_exec(struct wl_ctx *c)
{
	char *args[] = { "/bin/true", NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execv(args[0], args);
		_exit(127);
	}
	return wl_wait(pid);
}

static int wl_execnew(struct wl_ctx *c)
{
	struct timespec ts[2];
	pid_t pid;

	c->execs++;
	ts[0] = ts[1] = (struct timespec){ .tv_sec = c->execs / 1000000000LL,
					   .tv_nsec = c->execs % 1000000000LL };
	if (utimensat(AT_FDCWD, c->path, ts, 0))
		return wl_fail("utimensat");
	pid = fork();
	if (pid == 0) {
		execl(c->path, c->path, (char *)NULL);
		_exit(127);
	}
	return wl_wait(pid);
}

/* execnew: the temporary file becomes a copy of /bin/true. */
static int wl_execnew_setup(struct wl_ctx *c)
{
	char buf[65536];
	int in = open("/bin/true", O_RDONLY | O_CLOEXEC);
	int out = open(c->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (in < 0 || out < 0)
		return wl_fail("copy /bin/true");
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return wl_fail("copy /bin/true");
	close(in);
	if (close(out) || n < 0 || chmod(c->path, 0700))
		return wl_fail("copy /bin/true");
	return 0;
}

static int wl_fork(struct wl_ctx *c)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return wl_wait(pid);
}

static int wl_tcp(struct wl_ctx *c)
{
	/* Linger 0: close sends RST, so no TIME_WAIT piles up over many runs. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int cfd, afd;

	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0)
		return wl_fail("socket");
	/* The handshake completes in the kernel: connect returns before accept. */
	if (connect(cfd, (struct sockaddr *)&c->addr, sizeof(c->addr))) {
		close(cfd);
		return wl_fail("connect 127.0.0.1");
	}
	afd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0) {
		close(cfd);
		return wl_fail("accept");
	}
	setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(afd);
	close(cfd);
	return 0;
}

static int wl_getppid(struct wl_ctx *c)
{
	/* syscall(), so no libc could ever cache it */
	syscall(SYS_getppid);
	return 0;
}

static int wl_ioctl(struct wl_ctx *c)
{
	int n;

	/* The commonest ioctl kind (a terminal, pipe or socket query): watched, not an event. */
	return ioctl(c->fd, FIONREAD, &n) ? wl_fail("ioctl FIONREAD") : 0;
}

static int wl_mmap(struct wl_ctx *c, int prot)
{
	void *p = mmap(NULL, 4096, prot, MAP_PRIVATE, c->fd, 0);

	if (p == MAP_FAILED)
		return wl_fail("mmap");
	return munmap(p, 4096) ? wl_fail("munmap") : 0;
}

static int wl_mmapx(struct wl_ctx *c)
{
	return wl_mmap(c, PROT_READ | PROT_EXEC);
}

static int wl_mmapro(struct wl_ctx *c)
{
	return wl_mmap(c, PROT_READ);
}

/* ioctl: a pipe whose read end is queried. */
static int wl_ioctl_setup(struct wl_ctx *c)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return wl_fail("pipe");
	c->fd = p[0];
	c->lfd = p[1]; /* closed at the end like the listener */
	return 0;
}

static int wl_recv(struct wl_ctx *c)
{
	char b[64];
	struct iovec iov = { b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	/* Nothing queued: the syscall and its exit hook, nothing else. */
	if (syscall(SYS_recvmsg, c->lfd, &m, MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		return wl_fail("recvmsg");
	return 0;
}

static int wl_recv_setup(struct wl_ctx *c)
{
	c->lfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	c->addr.sin_family = AF_INET;
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&c->addr, sizeof(c->addr)))
		return wl_fail("a UDP socket on 127.0.0.1");
	return 0;
}

/* mmapx, mmapro: the file of the first executable mapping that is not this program (libc). */
static int wl_mmap_setup(struct wl_ctx *c)
{
	char line[512], self[256], *path = NULL, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *f = fopen("/proc/self/maps", "re");

	if (n < 0 || !f)
		return wl_fail("/proc/self");
	self[n] = 0;
	while (!path && fgets(line, sizeof(line), f)) {
		p = strchr(line, '/');
		if (!strstr(line, " r-xp ") || !p)
			continue;
		p[strcspn(p, "\n")] = 0;
		if (strcmp(p, self))
			path = p;
	}
	fclose(f);
	if (!path) {
		fprintf(stderr, "workload: no library mapped executable in /proc/self/maps\n");
		return -1;
	}
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	return c->fd < 0 ? wl_fail(path) : 0;
}

static int wl_tcp_setup(struct wl_ctx *c)
{
	socklen_t len = sizeof(c->addr);
	int one = 1;

	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		return wl_fail("socket");
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	c->addr.sin_family = AF_INET;
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(c->lfd, (struct sockaddr *)&c->addr, sizeof(c->addr)) || listen(c->lfd, 128) ||
	    getsockname(c->lfd, (struct sockaddr *)&c->addr, &len))
		return wl_fail("listen on 127.0.0.1");
	return 0;
}

static const struct {
	const char *name;
	int (*op)(struct wl_ctx *c);
} wl_kinds[] = {
	{ "open", wl_open }, { "stat", wl_stat }, { "exec", wl_exec },
	{ "fork", wl_fork }, { "tcp", wl_tcp },	  { "getppid", wl_getppid },
	{ "execnew", wl_execnew },
	{ "openro", wl_openro },
	{ "ioctl", wl_ioctl },
	{ "recv", wl_recv },
	{ "mmapx", wl_mmapx },
	{ "mmapro", wl_mmapro },
};

static long long wl_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int wl_usage(void)
{
	fprintf(stderr, "usage: workload open|openro|stat|exec|execnew|fork|tcp|getppid|ioctl|mmapx|mmapro|recv N [--rate OPS_PER_S]\n");
	return 2;
}

static int wl_parse(const char *s, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < 1 || *out > max) {
		fprintf(stderr, "workload: '%s' is not a number from 1 to %ld\n", s, max);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int (*op)(struct wl_ctx * c) = NULL;
	struct wl_ctx c = { .lfd = -1, .fd = -1 };
	long n, rate = 0;
	long long start, end;
	int fd, ret = 1;

	if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--rate")))
		return wl_usage();
	for (size_t i = 0; i < sizeof(wl_kinds) / sizeof(wl_kinds[0]); i++)
		if (!strcmp(argv[1], wl_kinds[i].name))
			op = wl_kinds[i].op;
	if (!op) {
		fprintf(stderr, "workload: unknown kind '%s'\n", argv[1]);
		return wl_usage();
	}
	if (wl_parse(argv[2], 1000000000L, &n) ||
	    (argc == 5 && wl_parse(argv[4], 10000000L, &rate)))
		return 2;

	snprintf(c.path, sizeof(c.path), "/tmp/vg-wl-%d", getpid());
	fd = open(c.path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return wl_fail(c.path), 1;
	close(fd);
	if (op == wl_tcp && wl_tcp_setup(&c))
		goto out;
	if (op == wl_execnew && wl_execnew_setup(&c))
		goto out;
	if (op == wl_recv && wl_recv_setup(&c))
		goto out;
	if (op == wl_ioctl && wl_ioctl_setup(&c))
		goto out;
	if ((op == wl_mmapx || op == wl_mmapro) && wl_mmap_setup(&c))
		goto out;

	start = wl_ns();
	for (long i = 0; i < n; i++) {
		if (rate) {
			long long due = start + i * 1000000000LL / rate;
			struct timespec ts = { .tv_sec = due / 1000000000LL,
					       .tv_nsec = due % 1000000000LL };

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		if (op(&c))
			goto out;
	}
	end = wl_ns();
	printf("%lld %ld\n", end - start, n);
	ret = 0;
out:
	if (c.lfd >= 0)
		close(c.lfd);
	if (c.fd >= 0)
		close(c.fd);
	unlink(c.path);
	return ret;
}
