// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host's sending side (cli/upstream.h): libcurl over TLS 1.2+, trusting
 * only the onboarding package's CA. One frame at a time, in order; a 5xx,
 * 429 or network error sends the same frame again after a doubling wait
 * (Retry-After when the server gives one); another 4xx drops it, counted.
 * Several servers (URL1,URL2,...): one that does not answer at all is left
 * for the next at once; a full round without an answer waits as above.
 * Not durable: a frame still queued 5 s after the host stops is counted, not kept.
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

#include "log.h"
#include "upproxy.h"
#include "upstream.h"

#define VG_UP_QUEUE_MAX 4096 /* frames */
#define VG_UP_QUEUE_BYTES (64u << 20)
#define VG_UP_WAIT_MIN_MS 250
#define VG_UP_WAIT_MAX_MS 30000
#define VG_UP_RETRY_AFTER_MAX 300 /* s */
#define VG_UP_DRAIN_MS 5000 /* at stop, while the server takes what is queued */
#define VG_UP_TOKEN_MAX 128
#define VG_UP_RESP_MAX 4096
#define VG_UP_URLS_MAX 8

struct vg_up_frame {
	struct vg_up_frame *next;
	char device_id[128], device_name[128];
	size_t len;
	uint8_t data[];
};

struct vg_upstream {
	char *urls, *url_v[VG_UP_URLS_MAX]; /* the list, split in place */
	int n_urls, cur; /* the server sent to now */
	char *ca_file, *token_file, *secret;
	char token[VG_UP_TOKEN_MAX + 1];
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond, idle; /* work or stop for the thread; a frame done, for stop */
	int sending; /* the thread holds a frame */
	struct vg_up_frame *head, *tail;
	size_t n, bytes;
	int stop;
	uint64_t refused, overflow;

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

/* The onboarding package: url=, ca= (a PEM file) or ca_pem= (its base64), secret=. */
static int vg_up_onboarding(struct vg_upstream *u, const char *file, const char *db)
{
	char line[1 << 16];
	char *ca_b64 = NULL, *ca = NULL;
	int lineno = 0, err = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return vg_err(-errno, "--onboarding %s", file);
	while (!err && fgets(line, sizeof(line), f)) {
		size_t l = strcspn(line, "\r\n");

		lineno++;
		if (line[l] == 0 && !feof(f)) {
			vg_log(VG_ERROR, "--onboarding %s:%d: line over %zu bytes", file, lineno,
			       sizeof(line));
			err = -EINVAL;
			break;
		}
		line[l] = 0;
		if (!line[0] || line[0] == '#' || !strncmp(line, "url=", 4))
			continue;
		if (!strncmp(line, "ca=", 3) && !ca && !ca_b64) {
			ca = strdup(line + 3);
		} else if (!strncmp(line, "ca_pem=", 7) && !ca && !ca_b64) {
			ca_b64 = strdup(line + 7);
		} else if (!strncmp(line, "secret=", 7) && !u->secret) {
			u->secret = strdup(line + 7);
		} else {
			vg_log(VG_ERROR,
			       "--onboarding %s:%d: not url=, ca=, ca_pem= or secret= (or given twice)",
			       file, lineno);
			err = -EINVAL;
		}
	}
	fclose(f);
	if (!err && (!u->secret || !*u->secret || (!ca && !ca_b64))) {
		vg_log(VG_ERROR, "--onboarding %s: needs secret= and ca= or ca_pem=", file);
		err = -EINVAL;
	}
	if (!err && ca) {
		u->ca_file = ca;
		ca = NULL;
	} else if (!err) {
		gnutls_datum_t in = { (unsigned char *)ca_b64, (unsigned)strlen(ca_b64) }, out;

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
	free(ca);
	free(ca_b64);
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
	for (const char *p = u->token; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_')) {
			u->token[0] = 0;
			vg_log(VG_ERROR, "%s: not a token", u->token_file);
			return -EINVAL;
		}
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
		long s = strtol(p + 12, NULL, 10);

		u->retry_after = s < 0 ? 0 : s > VG_UP_RETRY_AFTER_MAX ? VG_UP_RETRY_AFTER_MAX : s;
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
		char why[512];

		vg_up_why(u->curl, rc, url, why, sizeof(why));
		vg_log(VG_WARN, "upstream %s: %s", url, why);
	}
	curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return status;
}

/* s as a JSON string's content: quotes, backslashes and control bytes escaped. */
static void vg_up_json_str(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
}

/* Enrol as device: 200 keeps the token in DB.token; the status otherwise (0: no answer). */
static long vg_up_enroll(struct vg_upstream *u, const char *device_id, const char *device_name)
{
	char body[2048], id[800], name[800], sec[400];
	const char *p;
	long st;
	size_t n = 0;
	int err;

	vg_up_json_str(id, sizeof(id), device_id);
	vg_up_json_str(name, sizeof(name), *device_name ? device_name : device_id);
	vg_up_json_str(sec, sizeof(sec), u->secret);
	snprintf(body, sizeof(body),
		 "{\"secret\":\"%s\",\"device_id\":\"%s\",\"device_name\":\"%s\"}", sec, id, name);
	st = vg_up_post(u, "/v1/enroll", "application/json", body, strlen(body), 0);
	if (st != 200) {
		if (st)
			vg_log(VG_ERROR, "upstream: enrolment of %s refused (%ld): %s", device_id,
			       st, u->resp);
		return st;
	}
	p = strstr(u->resp, "\"token\":\"");
	if (p) {
		p += 9;
		while (n < VG_UP_TOKEN_MAX &&
		       ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')))
			n++;
	}
	if (!n || p[n] != '"') {
		vg_log(VG_ERROR, "upstream: enrolment answer without a token: %s", u->resp);
		return 502;
	}
	memcpy(u->token, p, n);
	u->token[n] = 0;
	err = vg_up_write_private(u->token_file, u->token, n);
	if (err)
		/* Sent with all the same; a restart cannot enrol again (409), so say so. */
		vg_err(err, "upstream: cannot keep the token in %s", u->token_file);
	vg_log(VG_INFO, "upstream: enrolled %s", device_id);
	return 200;
}

/* Sleep ms, or until stopped: 1 when stopped. */
static int vg_up_wait(struct vg_upstream *u, long ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
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

/* Send f until the server stores it (1) or refuses it (0); -1 when stopped. */
static int vg_up_deliver(struct vg_upstream *u, const struct vg_up_frame *f)
{
	long wait = VG_UP_WAIT_MIN_MS, st;
	int tried = 0;

	for (;;) {
		if (!u->token[0] && f->device_id[0])
			st = vg_up_enroll(u, f->device_id, f->device_name);
		else
			st = 0;
		if (u->token[0]) {
			st = vg_up_post(u, "/v1/batches", "application/vnd.vigil.frame", f->data,
					f->len, 1);
			if (st == 200)
				return 1;
			if (st >= 400 && st < 500 && st != 429 && st != 408) {
				vg_log(VG_ERROR, "upstream: frame of %s refused (%ld): %s",
				       f->device_id, st, u->resp);
				return 0;
			}
			if (st)
				vg_log(VG_WARN, "upstream: server answered %ld, sending again", st);
		} else if (!f->device_id[0]) {
			vg_log(VG_ERROR, "upstream: a frame of no known device before enrolment");
			return 0;
		}
		if (!st && vg_up_failover(u, &tried))
			continue;
		/* Retry-After: 0 is not a licence to spin. */
		if (vg_up_wait(u, u->retry_after > 0 ? u->retry_after * 1000 : wait))
			return -1;
		wait = wait * 2 > VG_UP_WAIT_MAX_MS ? VG_UP_WAIT_MAX_MS : wait * 2;
	}
}

static void *vg_up_thread(void *arg)
{
	struct vg_upstream *u = arg;

	for (;;) {
		struct vg_up_frame *f;
		int r;

		pthread_mutex_lock(&u->lock);
		while (!u->stop && !u->head)
			pthread_cond_wait(&u->cond, &u->lock);
		if (u->stop) {
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
		/* Ours while it is sent: a full queue pushes out only the frames behind it. */
		f = u->head;
		u->head = f->next;
		if (!u->head)
			u->tail = NULL;
		u->n--;
		u->bytes -= f->len;
		u->sending = 1;
		pthread_mutex_unlock(&u->lock);
		r = vg_up_deliver(u, f);
		free(f);
		pthread_mutex_lock(&u->lock);
		if (r < 0)
			u->overflow++; /* stopped before the server had it */
		else if (!r)
			u->refused++;
		u->sending = 0;
		pthread_cond_broadcast(&u->idle);
		pthread_mutex_unlock(&u->lock);
		if (r < 0)
			return NULL;
	}
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
	if (err)
		goto fail;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(u->curl = curl_easy_init())) {
		err = vg_err(-ENOMEM, "upstream: libcurl");
		goto fail;
	}
	curl_easy_setopt(u->curl, CURLOPT_CAINFO, u->ca_file);
	curl_easy_setopt(u->curl, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(u->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(u->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(u->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(u->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(u->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(u->curl, CURLOPT_WRITEFUNCTION, vg_up_body);
	curl_easy_setopt(u->curl, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(u->curl, CURLOPT_HEADERFUNCTION, vg_up_header);
	curl_easy_setopt(u->curl, CURLOPT_HEADERDATA, u);
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

void vg_upstream_send(struct vg_upstream *u, const char *device_id, const char *device_name,
		      const uint8_t *frame, size_t len)
{
	struct vg_up_frame *f = malloc(sizeof(*f) + len);

	pthread_mutex_lock(&u->lock);
	if (!f) {
		u->overflow++;
		pthread_mutex_unlock(&u->lock);
		return;
	}
	snprintf(f->device_id, sizeof(f->device_id), "%s", device_id ? device_id : "");
	snprintf(f->device_name, sizeof(f->device_name), "%s", device_name ? device_name : "");
	f->len = len;
	f->next = NULL;
	memcpy(f->data, frame, len);
	while (u->head && (u->n >= VG_UP_QUEUE_MAX || u->bytes + len > VG_UP_QUEUE_BYTES)) {
		struct vg_up_frame *old = u->head;

		u->head = old->next;
		u->n--;
		u->bytes -= old->len;
		u->overflow++;
		free(old);
	}
	if (u->tail && u->head)
		u->tail->next = f;
	else
		u->head = f;
	u->tail = f;
	u->n++;
	u->bytes += len;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void vg_upstream_take_dropped(struct vg_upstream *u, uint64_t *refused, uint64_t *overflow)
{
	pthread_mutex_lock(&u->lock);
	*refused = u->refused;
	*overflow = u->overflow;
	u->refused = u->overflow = 0;
	pthread_mutex_unlock(&u->lock);
}

void vg_upstream_stop(struct vg_upstream *u)
{
	struct timespec ts;

	if (!u || !u->started)
		return;
	/* What the host stored last (vigild's drain) gets its chance first. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += VG_UP_DRAIN_MS / 1000;
	pthread_mutex_lock(&u->lock);
	while ((u->head || u->sending) &&
	       pthread_cond_timedwait(&u->idle, &u->lock, &ts) != ETIMEDOUT)
		;
	u->stop = 1;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->thread, NULL);
	u->started = 0;
	while (u->head) {
		struct vg_up_frame *f = u->head;

		u->head = f->next;
		u->overflow++;
		free(f);
	}
	u->tail = NULL;
	u->n = u->bytes = 0;
}

void vg_upstream_close(struct vg_upstream *u)
{
	if (!u)
		return;
	vg_upstream_stop(u);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	pthread_cond_destroy(&u->idle);
	free(u->urls);
	free(u->ca_file);
	free(u->token_file);
	free(u->secret);
	free(u);
}

const char *vg_upstream_ca(const struct vg_upstream *u)
{
	return u->ca_file;
}
