// SPDX-License-Identifier: GPL-2.0-only
/* vigil host's retention thread, metrics endpoint and outputs: see hostops.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "detect.h"
#include "events.h"
#include "fmt.h"
#include "hostops.h"
#include "log.h"
#include "store.h"

int vg_parse_size(const char *s, int64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end);
		if (!u || !*u)
			return -EINVAL;
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
		for (int i = 0; i <= u - units; i++) {
			if (v > (unsigned long long)INT64_MAX / 1024)
				return -EINVAL;
			v *= 1024;
		}
	}
	if (v > (unsigned long long)INT64_MAX)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

int vg_parse_hostport(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char host[128], *port;

	if (!spec || strlen(spec) >= sizeof(host))
		return -EINVAL;
	strcpy(host, spec);
	port = strrchr(host, ':');
	if (!port || !port[1] || strchr(port, '/'))
		return -EINVAL;
	*port++ = 0;
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 3 || host[n - 1] != ']')
			return -EINVAL;
		host[n - 1] = 0;
		memmove(host, host + 1, n - 1);
	}
	if (getaddrinfo(*host ? host : NULL, port, &hints, &ai))
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* ---- retention */

/*
 * A side thread of the host (the retention, the detections): a connection of
 * its own to the store, which waits for the writer of batches as long as it
 * takes (that one holds the lock a transaction at a time), a lock and a
 * condition on the monotonic clock, and the flag that stops it.
 */
struct vg_side {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int stop;
	sqlite3 *db;
};

/* Open s's connection to db and make its lock and condition. An SQLite result code. */
static int vg_side_open(struct vg_side *s, const char *db)
{
	pthread_condattr_t ca;
	int rc = sqlite3_open_v2(db, &s->db, SQLITE_OPEN_READWRITE, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_close(s->db);
		s->db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(s->db, 60000);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	return SQLITE_OK;
}

/* Undo vg_side_open(), after the thread ended or when it never started. */
static void vg_side_close(struct vg_side *s)
{
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

/* Stop the thread and wait for it (then vg_side_close(), once its statements are finalized). */
static void vg_side_stop(struct vg_side *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
}

static int64_t vg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct vg_retainer {
	struct vg_side s;
	struct vg_retain r;
	unsigned interval_s;
};

static void *vg_retainer_main(void *arg)
{
	struct vg_retainer *rt = arg;

	for (;;) {
		struct timespec until;
		int64_t n = vg_retain_pass(rt->s.db, &rt->r, vg_now_ns());

		if (n > 0)
			vg_log(VG_INFO, "retention: deleted %lld rows", (long long)n);
		else if (n < 0)
			vg_log(VG_WARN, "retention: the pass stopped (%s); next one in %u s",
			       strerror((int)-n), rt->interval_s);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += rt->interval_s;
		pthread_mutex_lock(&rt->s.mu);
		while (!rt->s.stop &&
		       pthread_cond_timedwait(&rt->s.cv, &rt->s.mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&rt->s.mu);
		if (rt->s.stop)
			return NULL;
	}
}

int vg_retainer_start(struct vg_retainer **out, const char *db, const struct vg_retain *r,
		      unsigned interval_s)
{
	struct vg_retainer *rt = calloc(1, sizeof(*rt));
	int rc, err;

	*out = NULL;
	if (!rt)
		return -ENOMEM;
	rc = vg_side_open(&rt->s, db);
	if (rc != SQLITE_OK) {
		err = vg_sqlite_errno(rc);
		vg_log(VG_ERROR, "retention: %s: %s", db, sqlite3_errstr(rc));
		free(rt);
		return err;
	}
	/* A deletion a power cut undoes is done again by the next pass: no fsync each chunk. */
	sqlite3_exec(rt->s.db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	rt->r = *r;
	if (!rt->r.pause_ms)
		rt->r.pause_ms = VG_RETAIN_PAUSE_MS;
	rt->r.stop = &rt->s.stop;
	rt->interval_s = interval_s;
	err = -pthread_create(&rt->s.th, NULL, vg_retainer_main, rt);
	if (err) {
		vg_err(err, "retention: thread");
		vg_side_close(&rt->s);
		free(rt);
		return err;
	}
	*out = rt;
	return 0;
}

void vg_retainer_stop(struct vg_retainer *rt)
{
	if (!rt)
		return;
	vg_side_stop(&rt->s);
	vg_side_close(&rt->s);
	free(rt);
}

/* ---- detections */

struct vg_detector {
	struct vg_side s;
	int due; /* batches stored since the last run began */
	int final; /* at stop: one last run over what is due */
	struct vg_detect *d;
};

static void *vg_detector_main(void *arg)
{
	struct vg_detector *dt = arg;
	int64_t last = vg_now_ms() - VG_DETECT_EVERY_MS;
	int again = 0;

	pthread_mutex_lock(&dt->s.mu);
	for (;;) {
		while (!dt->due && !dt->s.stop)
			pthread_cond_wait(&dt->s.cv, &dt->s.mu);
		/* Once a second while batches arrive; at once when behind, or for the last run. */
		while (dt->due && !dt->s.stop && !again) {
			int64_t left = last + VG_DETECT_EVERY_MS - vg_now_ms();
			struct timespec until;

			if (left <= 0)
				break;
			until = vg_deadline_ms(CLOCK_MONOTONIC, left);
			pthread_cond_timedwait(&dt->s.cv, &dt->s.mu, &until);
		}
		if (!dt->due || (dt->s.stop && !dt->final))
			break;
		dt->due = 0;
		pthread_mutex_unlock(&dt->s.mu);
		if (vg_detect_run(dt->d) < 0)
			vg_log(VG_WARN,
			       "detections failed on these batches; they run again on the next");
		last = vg_now_ms();
		again = vg_detect_behind(dt->d);
		pthread_mutex_lock(&dt->s.mu);
		dt->due |= again;
	}
	pthread_mutex_unlock(&dt->s.mu);
	return NULL;
}

int vg_detector_start(struct vg_detector **out, const char *db, const char *rules,
		      struct vg_sb *why)
{
	struct vg_detector *dt = calloc(1, sizeof(*dt));
	int rc, err;

	*out = NULL;
	if (!dt)
		return -ENOMEM;
	/* A connection of our own to an in-memory or temporary database would be another database. */
	if (!*db || !strcmp(db, ":memory:") || strstr(db, "mode=memory")) {
		vg_sb_printf(why,
			     "detections read the store from a connection of their own: "
			     "--db '%s' is not a file they can open (--no-rules)",
			     db);
		free(dt);
		return -EINVAL;
	}
	rc = vg_side_open(&dt->s, db);
	if (rc != SQLITE_OK) {
		vg_sb_printf(why, "%s: %s", db, sqlite3_errstr(rc));
		free(dt);
		return vg_sqlite_errno(rc);
	}
	/* What the rules read is what was just stored: in the WAL and the kernel's page cache. */
	sqlite3_exec(dt->s.db, "PRAGMA cache_size = -32768", NULL, NULL, NULL);
	err = vg_detect_open(&dt->d, dt->s.db, rules, why);
	if (!err) {
		err = -pthread_create(&dt->s.th, NULL, vg_detector_main, dt);
		if (err)
			vg_sb_printf(why, "detections: thread: %s", strerror(-err));
	}
	if (err) {
		vg_detect_close(dt->d);
		vg_side_close(&dt->s);
		free(dt);
		return err;
	}
	*out = dt;
	return 0;
}

void vg_detector_due(struct vg_detector *dt)
{
	if (!dt)
		return;
	pthread_mutex_lock(&dt->s.mu);
	if (!dt->due) {
		dt->due = 1;
		pthread_cond_signal(&dt->s.cv);
	}
	pthread_mutex_unlock(&dt->s.mu);
}

void vg_detector_stop(struct vg_detector *dt, int final)
{
	if (!dt)
		return;
	pthread_mutex_lock(&dt->s.mu);
	dt->final = final; /* read by the thread once it sees the stop */
	pthread_mutex_unlock(&dt->s.mu);
	vg_side_stop(&dt->s);
	vg_detect_close(dt->d);
	vg_side_close(&dt->s);
	free(dt);
}

/* ---- outputs */

static const struct {
	const char *name;
	int facility;
} vg_facilities[] = {
	{ "daemon", LOG_DAEMON },     { "user", LOG_USER },	{ "auth", LOG_AUTH },
	{ "authpriv", LOG_AUTHPRIV }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 },     { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 },     { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int vg_output_parse(struct vg_output *o, const char *spec)
{
	*o = (struct vg_output){ .fd = -1, .max_size = VG_OUT_MAX_SIZE, .keep = VG_OUT_KEEP };
	if (!strncmp(spec, "syslog", 6) && (!spec[6] || spec[6] == ':')) {
		o->kind = VG_OUT_SYSLOG;
		o->facility = LOG_DAEMON;
		o->path = strdup(VG_SYSLOG_PATH);
		if (!o->path)
			return -ENOMEM;
		if (spec[6]) {
			size_t i;

			for (i = 0; i < sizeof(vg_facilities) / sizeof(vg_facilities[0]); i++)
				if (!strcmp(spec + 7, vg_facilities[i].name))
					break;
			if (i == sizeof(vg_facilities) / sizeof(vg_facilities[0])) {
				vg_output_close(o);
				return vg_err(-EINVAL,
					      "--output %s: no such facility (daemon, user, auth, "
					      "authpriv, local0 ... local7)",
					      spec);
			}
			o->facility = vg_facilities[i].facility;
		}
	} else if (!strncmp(spec, "jsonl:", 6) && spec[6] && spec[6] != ',') {
		char *opt;

		o->kind = VG_OUT_JSONL;
		o->path = strdup(spec + 6);
		if (!o->path)
			return -ENOMEM;
		opt = strchr(o->path, ',');
		if (opt)
			*opt++ = 0;
		while (opt && *opt) {
			char *next = strchr(opt, ',');
			int64_t v;

			if (next)
				*next++ = 0;
			if (!strncmp(opt, "max-size=", 9) && !vg_parse_size(opt + 9, &v) &&
			    (v == 0 || v >= 4096)) {
				o->max_size = v;
			} else if (!strncmp(opt, "keep=", 5) && !vg_parse_size(opt + 5, &v) &&
				   v <= 1000) {
				o->keep = (int)v;
			} else {
				/* opt points into o->path: say it before that is freed. */
				vg_log(VG_ERROR,
				       "--output %s: '%s' is not max-size=SIZE (0, or 4K and more)"
				       " or keep=N (0 to 1000)",
				       spec, opt);
				vg_output_close(o);
				return -EINVAL;
			}
			opt = next;
		}
	} else {
		return vg_err(-EINVAL,
			      "--output %s: expected jsonl:FILE[,max-size=SIZE,keep=N] or "
			      "syslog[:FACILITY]",
			      spec);
	}
	o->spec = strdup(spec);
	if (!o->spec) {
		vg_output_close(o);
		return -ENOMEM;
	}
	return 0;
}

static int vg_output_reopen(struct vg_output *o)
{
	struct stat st;

	if (o->fd >= 0)
		close(o->fd);
	o->fd = open(o->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (o->fd < 0)
		return -errno;
	o->size = fstat(o->fd, &st) ? 0 : st.st_size;
	return 0;
}

/* syslog: a datagram socket connected to the local daemon's /dev/log. */
static int vg_syslog_connect(struct vg_output *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (o->fd >= 0)
		close(o->fd);
	o->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (o->fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", o->path);
	if (connect(o->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(o->fd);
		o->fd = -1;
		return err;
	}
	return 0;
}

/*
 * One event as one datagram, "<PRI>Mmm dd hh:mm:ss vigil[PID]: MESSAGE",
 * the form syslog(3) sends to /dev/log. Unlike syslog(3) it never blocks
 * for long: a full queue is waited for up to VG_SYSLOG_WAIT_MS (a live
 * daemon catching up), not at all while the daemon is failing (a stuck one
 * would stall storing), and a failure is returned so it is counted.
 */
static int vg_syslog_send(struct vg_output *o, const char *msg, size_t len)
{
	char hdr[96];
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	time_t t = time(NULL);
	int64_t deadline = 0;
	struct tm tm;
	size_t h;

	localtime_r(&t, &tm);
	h = (size_t)snprintf(hdr, sizeof(hdr), "<%d>", o->facility | LOG_INFO);
	h += strftime(hdr + h, sizeof(hdr) - h, "%b %e %H:%M:%S ", &tm);
	h += (size_t)snprintf(hdr + h, sizeof(hdr) - h, "vigil[%d]: ", (int)getpid());
	iov[0] = (struct iovec){ hdr, h };
	iov[1] = (struct iovec){ (void *)msg, len };
	for (int reconnected = 0;;) {
		struct pollfd p;
		int64_t left;

		if (o->fd < 0) {
			int err = vg_syslog_connect(o);

			if (err)
				return err;
			reconnected = 1;
		}
		if (sendmsg(o->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			int err = -errno;

			/* The daemon restarted: its socket is a new one. */
			close(o->fd);
			o->fd = -1;
			if (reconnected || (err != -ECONNREFUSED && err != -ENOTCONN))
				return err;
			continue;
		}
		if (o->failing)
			return -EAGAIN;
		if (!deadline)
			deadline = vg_now_ms() + VG_SYSLOG_WAIT_MS;
		left = deadline - vg_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		p = (struct pollfd){ .fd = o->fd, .events = POLLOUT };
		poll(&p, 1, (int)left);
	}
}

int vg_output_open(struct vg_output *o)
{
	int err;

	if (o->kind == VG_OUT_SYSLOG) {
		err = vg_syslog_connect(o);
		/* No syslog daemon yet: each event retries, and is counted when it cannot go. */
		if (err)
			vg_err(err, "--output %s: %s (trying again with each event)", o->spec,
			       o->path);
		return 0;
	}
	err = vg_output_reopen(o);
	if (err)
		vg_err(err, "--output %s", o->spec);
	return err;
}

void vg_output_close(struct vg_output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->path);
	free(o->spec);
	o->fd = -1;
	o->path = o->spec = NULL;
}

/* FILE.keep-1 ... FILE.1 move up one, FILE becomes FILE.1, a new FILE is opened. */
static int vg_output_rotate(struct vg_output *o)
{
	size_t n = strlen(o->path) + 16;
	char *from = malloc(n), *to = malloc(n);
	int err = 0;

	if (!from || !to) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	for (int i = o->keep - 1; i >= 1; i--) {
		snprintf(from, n, "%s.%d", o->path, i);
		snprintf(to, n, "%s.%d", o->path, i + 1);
		if (rename(from, to) && errno != ENOENT)
			err = -errno;
	}
	if (o->keep > 0) {
		snprintf(to, n, "%s.1", o->path);
		if (rename(o->path, to) && errno != ENOENT)
			err = -errno;
	} else if (unlink(o->path) && errno != ENOENT) {
		err = -errno;
	}
	free(from);
	free(to);
	/* Reopened even when a rename failed: the lines go on somewhere visible. */
	return vg_output_reopen(o) ?: err;
}

int vg_output_line(struct vg_output *o, const char *line, size_t len)
{
	int err = 0;

	if (o->kind == VG_OUT_SYSLOG)
		/* The event's JSON object is the message. */
		err = vg_syslog_send(o, line, len && line[len - 1] == '\n' ? len - 1 : len);
	else if (o->fd < 0 || (o->max_size && o->size && o->size + (int64_t)len > o->max_size))
		err = vg_output_rotate(o);
	while (!err && len && o->kind == VG_OUT_JSONL) {
		ssize_t w = o->fd >= 0 ? write(o->fd, line, len) : -1;

		if (w < 0) {
			if (o->fd >= 0 && errno == EINTR)
				continue;
			err = o->fd >= 0 ? -errno : -EBADF;
			break;
		}
		o->size += w;
		line += w;
		len -= (size_t)w;
	}
	if (err) {
		o->errors++;
		if (!o->failing)
			vg_err(err,
			       "--output %s: events are being lost (counted in "
			       "OutputErrors)",
			       o->spec);
		o->failing = 1;
		return err;
	}
	if (o->failing)
		vg_log(VG_INFO, "--output %s: writing again", o->spec);
	o->failing = 0;
	o->written++;
	return 0;
}

int vg_outputs_write(struct vg_output *o, int n, struct vg_store *s, struct vg_cursor *cur)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int events;

	if (!n)
		return 0;
	mem = open_memstream(&buf, &len);
	if (!mem)
		return -errno;
	events = vg_events_print(s, mem, 1, cur, NULL, 0, cur);
	fclose(mem);
	for (size_t off = 0; events > 0 && off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;

		for (int i = 0; i < n; i++)
			vg_output_line(&o[i], buf + off, l);
		off += l;
	}
	free(buf);
	return events;
}

void vg_outputs_count(struct vg_output *o, int n, struct vg_store *s)
{
	for (int i = 0; i < n; i++) {
		if (o[i].written && !vg_host_counter_add(vg_store_db(s), "OutputEvents", o[i].spec,
							 (int64_t)o[i].written))
			o[i].written = 0;
		if (o[i].errors && !vg_host_counter_add(vg_store_db(s), "OutputErrors", o[i].spec,
							(int64_t)o[i].errors))
			o[i].errors = 0;
	}
}
