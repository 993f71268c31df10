// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host's sending side (cli/upstream.h): libcurl over TLS 1.2+, trusting
 * only the onboarding package's CA.
 *
 * The local store is the outbox. The host's store writes each new batch's
 * frame, as the server takes it, into UpstreamOutbox in the same transaction
 * as the batch's rows (host/store.h), so what the host stored and what it
 * still owes upstream cannot disagree, whenever the host stops (SIGTERM,
 * SIGKILL, power). This thread reads the oldest row (the lowest Id, so each
 * stream in the order stored), POSTs it, and only after the server's 200
 * deletes it and advances the stream's watermark (UpstreamStreams) in one
 * transaction. A crash between the 200 and that commit sends the frame again
 * on the next run; the server stores it once, by (DeviceId, StreamId, Seq),
 * so at least once from here is exactly once there. No copy in memory, no
 * second queue to bound: the outbox is bounded by the store's retention
 * (host/retain.c), which counts what it removes unshipped (UpstreamLost).
 *
 * What is pending goes in order, up to VG_UPP_FRAMES_MAX frames per request
 * (VG_UPP_CT_FRAMES; one frame per request to a server that answers that
 * 415, an older one); the answer's acknowledged frames leave the outbox in
 * one transaction. A 5xx, 429 or network error sends the same frames again
 * after a doubling wait (Retry-After when the server gives one);
 * a credential the server no longer takes (401, 403 token revoked) or an
 * enrolment it refuses keeps everything and looks again every
 * VG_UP_RECHECK_MS; another 4xx of a frame (or of its place in the answer to
 * several) drops that frame, counted in HostRefused. Another 4xx of the
 * whole request of several sends those frames one per request instead.
 * Several servers (URL1,URL2,...): one that does not answer at all is left
 * for the next at once; a full round without an answer waits as above.
 * How it goes is kept in HostState (host/outbox.h) for stats and healthcheck.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "fmt.h"
#include "hoststate.h"
#include "log.h"
#include "outbox.h"
#include "store.h"
#include "upproto.h"
#include "upproxy.h"
#include "upstream.h"

#define VG_UP_WAIT_MIN_MS 250
#define VG_UP_WAIT_MAX_MS 30000
#define VG_UP_RECHECK_MS (10 * 60 * 1000) /* a refused credential: look again this rarely */
#define VG_UP_DRAIN_MS 5000 /* at stop, while the server takes what is pending */
#define VG_UP_TOKEN_MAX VG_UPP_TOKEN_MAX
#define VG_UP_RESP_MAX 65536 /* the answer to VG_UPP_FRAMES_MAX frames, their reasons too */
#define VG_UP_URLS_MAX 8

struct vg_upstream {
	char *urls, *url_v[VG_UP_URLS_MAX]; /* the list, split in place */
	int n_urls, cur; /* the server sent to now */
	/* 1: the server answered several frames with 415 (an older one): one frame per request */
	unsigned char single[VG_UP_URLS_MAX];
	char *ca_file, *token_file, *secret;
	char token[VG_UP_TOKEN_MAX + 1];
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond, idle; /* work or stop for the thread; the thread ended, for stop */
	int work; /* a batch was stored since the thread last looked */
	int draining; /* stop asked: send what is pending, then end */
	int done; /* the thread ended */
	int stop; /* read by libcurl's progress callback too (atomic) */

	struct vg_outbox_sender ob; /* the thread's own connection to the store */
	CURL *curl;
	char resp[VG_UP_RESP_MAX];
	size_t resp_len;
	long retry_after; /* s, from the last answer; -1 none */
};

static char *vg_up_strdup(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s%s", a, b) < 0)
		return NULL;
	return s;
}

/* Write len bytes to path, mode 0600, through a new file renamed over it (never a link). */
static int vg_up_write_private(const char *path, const void *buf, size_t len)
{
	char *tmp = vg_up_strdup(path, ".tmp");
	int fd, err = 0;

	if (!tmp)
		return -ENOMEM;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	free(tmp);
	return err;
}

/* The onboarding package (host/upproto.h): ca= (a PEM file) or ca_pem= (its base64), secret=. */
static int vg_up_onboarding(struct vg_upstream *u, const char *file, const char *db)
{
	struct vg_upp_onboarding ob;
	char *text = NULL, *name = vg_up_strdup("--onboarding ", file);
	size_t len = 0;
	int err = 0;
	FILE *f = fopen(file, "re");

	if (!f || !name) {
		err = vg_err(f ? -ENOMEM : -errno, "--onboarding %s", file);
		goto out;
	}
	text = malloc(VG_UPP_ONBOARDING_MAX + 1);
	if (!text) {
		err = vg_err(-ENOMEM, "--onboarding %s", file);
		goto out;
	}
	len = fread(text, 1, VG_UPP_ONBOARDING_MAX + 1, f);
	if (ferror(f) || len > VG_UPP_ONBOARDING_MAX || memchr(text, 0, len)) {
		vg_log(VG_ERROR, "--onboarding %s: not an onboarding package (%s)", file,
		       ferror(f)		   ? "read error" :
		       len > VG_UPP_ONBOARDING_MAX ? "over 1 MiB" :
						     "a NUL byte");
		err = -EINVAL;
		goto out;
	}
	text[len] = 0;
	err = vg_upp_onboarding_parse(text, name, &ob);
	if (err)
		goto out;
	u->secret = strdup(ob.secret);
	if (!u->secret) {
		err = vg_err(-ENOMEM, "--onboarding %s", file);
	} else if (ob.ca) {
		u->ca_file = strdup(ob.ca);
		err = u->ca_file ? 0 : vg_err(-ENOMEM, "--onboarding %s", file);
	} else {
		gnutls_datum_t in = { (unsigned char *)ob.ca_pem, (unsigned)strlen(ob.ca_pem) },
			       out;

		if (gnutls_base64_decode2(&in, &out) < 0) {
			vg_log(VG_ERROR, "--onboarding %s: ca_pem= is not base64", file);
			err = -EINVAL;
		} else {
			/* curl reads the CA from a file: DB.ca.pem, next to the token. */
			u->ca_file = vg_up_strdup(db, ".ca.pem");
			err = u->ca_file ? vg_up_write_private(u->ca_file, out.data, out.size) :
					   -ENOMEM;
			if (err)
				vg_err(err, "write %s", u->ca_file ? u->ca_file : "the CA");
			gnutls_free(out.data);
		}
	}
out:
	if (f)
		fclose(f);
	free(text);
	free(name);
	return err;
}

/* The token of an earlier enrolment, from DB.token (not a link). 0 when there is none. */
static int vg_up_token_load(struct vg_upstream *u)
{
	int fd = open(u->token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : vg_err(-errno, "open %s", u->token_file);
	n = read(fd, u->token, VG_UP_TOKEN_MAX);
	close(fd);
	if (n < 0)
		return vg_err(-errno, "read %s", u->token_file);
	u->token[n] = 0;
	u->token[strcspn(u->token, "\r\n")] = 0;
	if (!vg_upp_token_ok(u->token)) {
		u->token[0] = 0;
		vg_log(VG_ERROR, "%s: not a token", u->token_file);
		return -EINVAL;
	}
	return 0;
}

static size_t vg_up_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vg_upstream *u = arg;
	size_t n = size * nmemb, room = sizeof(u->resp) - 1 - u->resp_len;

	memcpy(u->resp + u->resp_len, p, n < room ? n : room);
	u->resp_len += n < room ? n : room;
	u->resp[u->resp_len] = 0;
	return n;
}

static size_t vg_up_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vg_upstream *u = arg;
	size_t n = size * nmemb;

	if (n > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		char v[32];

		snprintf(v, sizeof(v), "%.*s", (int)(n - 12 < 31 ? n - 12 : 31), p + 12);
		u->retry_after = vg_upp_retry_after(v);
	}
	return n;
}

/* One POST: the HTTP status, or 0 when no answer came (logged as why). */
static long vg_up_post(struct vg_upstream *u, const char *path, const char *ctype, const void *body,
		       size_t len, int auth)
{
	struct curl_slist *hdrs = NULL;
	char url[1024], hdr[64 + VG_UP_TOKEN_MAX];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", u->url_v[u->cur], path);
	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	hdrs = curl_slist_append(hdrs, hdr);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", u->token);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	u->resp_len = 0;
	u->resp[0] = 0;
	u->retry_after = -1;
	curl_easy_setopt(u->curl, CURLOPT_URL, url);
	vg_up_apply_proxy(u->curl, url);
	curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(u->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(u->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(u->curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &status);
		vg_log(VG_DEBUG, "upstream %s: %ld %s", path, status, u->resp);
	} else {
		/* The reason, for the upstream state and the log. */
		vg_up_why(u->curl, rc, url, u->resp, sizeof(u->resp));
		if (!__atomic_load_n(&u->stop, __ATOMIC_RELAXED))
			vg_log(VG_WARN, "upstream %s: %s", url, u->resp);
	}
	curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return status;
}

/* Enrol as device: 200 keeps the token in DB.token; the status otherwise (0: no answer). */
static long vg_up_enroll(struct vg_upstream *u, const char *device_id, const char *device_name)
{
	char body[4096];
	long st;
	int err;

	if (vg_upp_enroll_body(body, sizeof(body), u->secret, device_id, device_name)) {
		vg_log(VG_ERROR, "upstream: enrolment of %s: secret or names too long", device_id);
		return 400;
	}
	st = vg_up_post(u, "/v1/enroll", "application/json", body, strlen(body), 0);
	if (st != 200) {
		if (st)
			vg_log(VG_ERROR, "upstream: enrolment of %s refused (%ld): %s", device_id,
			       st, u->resp);
		return st;
	}
	if (vg_upp_enroll_token(u->resp, u->token)) {
		vg_log(VG_ERROR, "upstream: enrolment answer without a token: %s", u->resp);
		return 502;
	}
	err = vg_up_write_private(u->token_file, u->token, strlen(u->token));
	if (err)
		/* Sent with all the same; a restart cannot enrol again (409), so say so. */
		vg_err(err, "upstream: cannot keep the token in %s", u->token_file);
	vg_log(VG_INFO, "upstream: enrolled %s", device_id);
	return 200;
}

/* Sleep ms, or until stopped: 1 when stopped. */
static int vg_up_wait(struct vg_upstream *u, long ms)
{
	struct timespec ts = vg_deadline_ms(CLOCK_REALTIME, ms);
	int stop;

	pthread_mutex_lock(&u->lock);
	while (!u->stop && pthread_cond_timedwait(&u->cond, &u->lock, &ts) != ETIMEDOUT)
		;
	stop = u->stop;
	pthread_mutex_unlock(&u->lock);
	return stop;
}

/*
 * No answer from the server sent to: the next one in the list. 1 when there
 * is one this round has not tried yet (send again at once), 0 to wait.
 */
static int vg_up_failover(struct vg_upstream *u, int *tried)
{
	if (u->n_urls < 2)
		return 0;
	u->cur = (u->cur + 1) % u->n_urls;
	vg_log(VG_WARN, "upstream: trying %s", u->url_v[u->cur]);
	if (++*tried < u->n_urls)
		return 1;
	*tried = 0;
	return 0;
}

/* The server's answer as the error: URL, status and its reason. */
static void vg_up_answer_error(struct vg_upstream *u, const char *what, long st, const char *state)
{
	char e[256];

	snprintf(e, sizeof(e), "%s: %s %ld %.160s", u->url_v[u->cur], what, st, u->resp);
	vg_outbox_state(&u->ob, state, e);
}

/* No 200: the state says why, the server's answer or curl's reason (vg_up_post() left it in resp). */
static void vg_up_failed(struct vg_upstream *u, long st)
{
	char e[256];

	if (st) {
		vg_up_answer_error(u, "answered", st, VG_UP_UNREACHABLE);
		return;
	}
	snprintf(e, sizeof(e), "%s: %.160s", u->url_v[u->cur], u->resp);
	vg_outbox_state(&u->ob, VG_UP_UNREACHABLE, e);
}

/* The server refuses this host's credential (401, 403 token revoked): every frame is kept. */
static void vg_up_host_refused(struct vg_upstream *u, long st)
{
	vg_log(VG_ERROR,
	       "upstream: the server refuses this host's token (%ld): %s;"
	       " keeping every frame, looking again in %d minutes",
	       st, u->resp, VG_UP_RECHECK_MS / 60000);
	vg_up_answer_error(u, "refused", st, VG_UP_REFUSED);
}

/* A 4xx that sending the same again will not change (not 408, 429). */
static int vg_up_final(long st)
{
	return st >= 400 && st < 500 && st != 429 && st != 408;
}

/*
 * No answer that settles it: 1 when stopped, else 0 once it may be sent again
 * (at once to the next server when this one did not answer, else after the
 * doubling *wait or the server's Retry-After).
 */
static int vg_up_again(struct vg_upstream *u, long st, int *tried, long *wait)
{
	if (__atomic_load_n(&u->stop, __ATOMIC_RELAXED))
		return 1; /* an attempt cut short says nothing of the server */
	vg_up_failed(u, st);
	if (!st && vg_up_failover(u, tried))
		return 0;
	/* Retry-After: 0 is not a licence to spin. */
	if (vg_up_wait(u, u->retry_after > 0 ? u->retry_after * 1000 : *wait))
		return 1;
	*wait = *wait * 2 > VG_UP_WAIT_MAX_MS ? VG_UP_WAIT_MAX_MS : *wait * 2;
	return 0;
}

enum { VG_UP_STOPPED = -1, VG_UP_DROPPED, VG_UP_STORED, VG_UP_KEEP, VG_UP_SINGLE };

/*
 * Send f until the server stores it (VG_UP_STORED) or refuses that frame
 * (VG_UP_DROPPED); VG_UP_KEEP when it refuses the host (enrolment or
 * token): the frame stays pending; VG_UP_STOPPED when stopped.
 */
static int vg_up_deliver(struct vg_upstream *u, const struct vg_outbox_frame *f)
{
	long wait = VG_UP_WAIT_MIN_MS, st;
	int tried = 0;

	for (;;) {
		st = 0;
		if (!u->token[0] && !f->device_id[0]) {
			vg_log(VG_ERROR, "upstream: a frame of no known device before enrolment");
			return VG_UP_DROPPED;
		}
		if (!u->token[0]) {
			st = vg_up_enroll(u, f->device_id, f->device_name);
			if (vg_up_final(st)) {
				vg_up_answer_error(u, "enrolment refused", st, VG_UP_REFUSED);
				return VG_UP_KEEP;
			}
		}
		if (u->token[0]) {
			st = vg_up_post(u, "/v1/batches", VG_UPP_CT_FRAME, f->data, f->len, 1);
			if (st == 200) {
				vg_outbox_state(&u->ob, VG_UP_SHIPPING, NULL);
				return VG_UP_STORED;
			}
			if (vg_upp_credential_refused(st, u->resp)) {
				vg_up_host_refused(u, st);
				return VG_UP_KEEP;
			}
			if (vg_up_final(st)) {
				vg_log(VG_ERROR, "upstream: frame of %s refused (%ld): %s",
				       f->device_id, st, u->resp);
				return VG_UP_DROPPED;
			}
			if (st)
				vg_log(VG_WARN, "upstream: server answered %ld, sending again", st);
		}
		if (vg_up_again(u, st, &tried, &wait))
			return VG_UP_STOPPED;
	}
}

/*
 * Send fv[0..n-1] in one request (VG_UPP_CT_FRAMES) until the server answers
 * for each (VG_UP_STORED, stored[i] 1 stored, 0 refused), refuses the host
 * (VG_UP_KEEP), or the request as a whole (VG_UP_SINGLE: send them one per
 * request; after a 415 to every request to this server). VG_UP_STOPPED.
 * *done: how many frames from the first have their answer (stored[]); n
 * after VG_UP_STORED, fewer after VG_UP_SINGLE when a frame was answered
 * "later" (408, 429): it and those after it go one per request, each
 * retried as a single frame is (a stored one is stored once).
 */
static int vg_up_deliver_many(struct vg_upstream *u, struct vg_outbox_frame *const *fv, int n,
			      int *stored, int *done)
{
	long wait = VG_UP_WAIT_MIN_MS, st, status[VG_UPP_FRAMES_MAX];
	size_t len = 0;
	uint8_t *body;
	int tried = 0, ret;

	if (!u->token[0])
		return VG_UP_SINGLE; /* the enrolment goes with the first frame's device */
	for (int i = 0; i < n; i++)
		len += fv[i]->len;
	body = malloc(len);
	if (!body)
		return VG_UP_SINGLE;
	len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(body + len, fv[i]->data, fv[i]->len);
		len += fv[i]->len;
	}
	for (;;) {
		st = vg_up_post(u, "/v1/batches", VG_UPP_CT_FRAMES, body, len, 1);
		if (st == 200 && !vg_upp_frames_answer(u->resp, status, (size_t)n)) {
			*done = (int)vg_upp_frames_final(status, (size_t)n);
			for (int i = 0; i < *done; i++) {
				stored[i] = status[i] == 200;
				if (!stored[i])
					vg_log(VG_ERROR, "upstream: frame of %s refused (%ld)",
					       fv[i]->device_id, status[i]);
			}
			vg_log(VG_DEBUG, "upstream: %d frames in one request", n);
			vg_outbox_state(&u->ob, VG_UP_SHIPPING, NULL);
			if (*done == n) {
				ret = VG_UP_STORED;
				break;
			}
			vg_log(VG_WARN,
			       "upstream: frame of %s not taken yet (%ld); it and the %d after it"
			       " go one per request",
			       fv[*done]->device_id, status[*done], n - *done - 1);
			ret = VG_UP_SINGLE;
			break;
		}
		if (st == 200) {
			/* Nothing is taken as acknowledged: sent again, stored once there. */
			vg_log(VG_WARN, "upstream: an answer to %d frames that is not one: %.160s",
			       n, u->resp);
		} else if (vg_upp_credential_refused(st, u->resp)) {
			vg_up_host_refused(u, st);
			ret = VG_UP_KEEP;
			break;
		} else if (vg_up_final(st)) {
			if (st == 415) {
				u->single[u->cur] = 1;
				vg_log(VG_INFO,
				       "upstream: %s takes one frame per request (415 to several)",
				       u->url_v[u->cur]);
			} else {
				vg_log(VG_WARN,
				       "upstream: %d frames refused together (%ld): %s; sending them"
				       " one by one",
				       n, st, u->resp);
			}
			ret = VG_UP_SINGLE;
			break;
		} else if (st) {
			vg_log(VG_WARN, "upstream: server answered %ld, sending again", st);
		}
		if (vg_up_again(u, st, &tried, &wait)) {
			ret = VG_UP_STOPPED;
			break;
		}
		/* Only a failover changes the server: one an older one, one frame per request. */
		if (u->single[u->cur]) {
			ret = VG_UP_SINGLE;
			break;
		}
	}
	free(body);
	return ret;
}

/* Nothing pending: wait for a stored batch. 1 when the thread should end. */
static int vg_up_idle(struct vg_upstream *u)
{
	int end;

	pthread_mutex_lock(&u->lock);
	while (!u->work && !u->draining && !u->stop)
		pthread_cond_wait(&u->cond, &u->lock);
	end = u->stop || (u->draining && !u->work);
	u->work = 0;
	pthread_mutex_unlock(&u->lock);
	return end;
}

static int vg_up_draining(struct vg_upstream *u)
{
	int d;

	pthread_mutex_lock(&u->lock);
	d = u->draining;
	pthread_mutex_unlock(&u->lock);
	return d;
}

static void *vg_up_thread(void *arg)
{
	struct vg_upstream *u = arg;

	for (;;) {
		struct vg_outbox_frame *fv[VG_UPP_FRAMES_MAX];
		int stored[VG_UPP_FRAMES_MAX], done = 0, r;
		int n = vg_outbox_next_n(&u->ob, fv, u->single[u->cur] ? 1 : VG_UPP_FRAMES_MAX,
					 VG_UPP_BODY_MAX);

		if (n == 0 && vg_up_idle(u))
			break;
		if (n < 0 && vg_up_wait(u, 1000)) /* the store is busy: later */
			break;
		if (n <= 0)
			continue;
		r = n > 1 ? vg_up_deliver_many(u, fv, n, stored, &done) : VG_UP_SINGLE;
		/* One frame per request: each in order until one is neither stored nor refused. */
		while (r == VG_UP_SINGLE && done < n) {
			int one = vg_up_deliver(u, fv[done]);

			if (one == VG_UP_STORED || one == VG_UP_DROPPED)
				stored[done++] = one == VG_UP_STORED;
			else
				r = one;
		}
		if (done)
			vg_outbox_done_n(&u->ob, fv, stored, done);
		for (int i = 0; i < n; i++)
			free(fv[i]);
		if (r == VG_UP_STOPPED)
			break;
		/* No hammering a server that refuses us; a stopping host leaves it for its next run. */
		if (r == VG_UP_KEEP && (vg_up_draining(u) || vg_up_wait(u, VG_UP_RECHECK_MS)))
			break;
	}
	pthread_mutex_lock(&u->lock);
	u->done = 1;
	pthread_cond_broadcast(&u->idle);
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* libcurl: an attempt under way ends when the host stops. */
static int vg_up_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct vg_upstream *u = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return __atomic_load_n(&u->stop, __ATOMIC_RELAXED);
}

/* The one place the curl handle is set up: TLS, the CA, timeouts, callbacks. */
static int vg_up_curl_init(struct vg_upstream *u)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(u->curl = curl_easy_init()))
		return vg_err(-ENOMEM, "upstream: libcurl");
	vg_up_tls(u->curl, u->ca_file, 10);
	curl_easy_setopt(u->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(u->curl, CURLOPT_WRITEFUNCTION, vg_up_body);
	curl_easy_setopt(u->curl, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(u->curl, CURLOPT_HEADERFUNCTION, vg_up_header);
	curl_easy_setopt(u->curl, CURLOPT_HEADERDATA, u);
	curl_easy_setopt(u->curl, CURLOPT_XFERINFOFUNCTION, vg_up_progress);
	curl_easy_setopt(u->curl, CURLOPT_XFERINFODATA, u);
	curl_easy_setopt(u->curl, CURLOPT_NOPROGRESS, 0L);
	return 0;
}

int vg_upstream_open(struct vg_upstream **up, const char *url, const char *onboarding,
		     const char *db)
{
	struct vg_upstream *u = calloc(1, sizeof(*u));
	int err;

	*up = NULL;
	if (!u)
		return vg_err(-ENOMEM, "upstream");
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	pthread_cond_init(&u->idle, NULL);
	u->urls = strdup(url);
	u->token_file = vg_up_strdup(db, ".token");
	if (!u->urls || !u->token_file) {
		err = vg_err(-ENOMEM, "upstream");
		goto fail;
	}
	for (char *save = NULL, *p = strtok_r(u->urls, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(p);

		while (l && p[l - 1] == '/')
			p[--l] = 0;
		if (u->n_urls == VG_UP_URLS_MAX || strncmp(p, "https://", 8) || l <= 8 ||
		    strpbrk(p, " \t\r\n")) {
			err = vg_err(-EINVAL,
				     "--upstream: '%s': at most %d https://HOST:PORT, by commas", p,
				     VG_UP_URLS_MAX);
			goto fail;
		}
		u->url_v[u->n_urls++] = p;
	}
	if (!u->n_urls) {
		err = vg_err(-EINVAL, "--upstream: no URL");
		goto fail;
	}
	err = vg_up_onboarding(u, onboarding, db);
	if (!err)
		err = vg_up_token_load(u);
	if (!err)
		err = vg_up_curl_init(u);
	if (!err)
		err = vg_outbox_sender_open(&u->ob, db, url);
	if (err)
		goto fail;
	err = -pthread_create(&u->thread, NULL, vg_up_thread, u);
	if (err) {
		vg_err(err, "upstream: thread");
		goto fail;
	}
	u->started = 1;
	*up = u;
	return 0;
fail:
	vg_upstream_close(u);
	return err;
}

void vg_upstream_wake(struct vg_upstream *u)
{
	pthread_mutex_lock(&u->lock);
	u->work = 1;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void vg_upstream_stop(struct vg_upstream *u)
{
	struct timespec ts;

	if (!u || !u->started)
		return;
	/* What the host stored last (vigild's drain) gets its chance first; the rest stays pending. */
	ts = vg_deadline_ms(CLOCK_REALTIME, VG_UP_DRAIN_MS);
	pthread_mutex_lock(&u->lock);
	u->draining = 1;
	pthread_cond_broadcast(&u->cond);
	while (!u->done && pthread_cond_timedwait(&u->idle, &u->lock, &ts) != ETIMEDOUT)
		;
	__atomic_store_n(&u->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->thread, NULL);
	u->started = 0;
}

void vg_upstream_close(struct vg_upstream *u)
{
	if (!u)
		return;
	vg_upstream_stop(u);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	vg_outbox_sender_close(&u->ob);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	pthread_cond_destroy(&u->idle);
	free(u->urls);
	free(u->ca_file);
	free(u->token_file);
	free(u->secret);
	free(u);
}

void vg_upstream_where(const struct vg_upstream *u, const char *const **urls, int *n,
		       const char **ca_file, const char **token_file)
{
	*urls = (const char *const *)u->url_v;
	*n = u->n_urls;
	*ca_file = u->ca_file;
	*token_file = u->token_file;
}

const char *vg_upstream_ca(const struct vg_upstream *u)
{
	return u->ca_file;
}
