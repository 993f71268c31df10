// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host's filter fetcher (cli/upfilters.h). Polled rather than
 * long-polled: vigil server answers from a small pool of worker threads,
 * each with its own database connection, and a request held open per host
 * would take one of them for its whole wait; a poll with If-None-Match costs
 * the server one token and one indexed look-up and is answered 304 with no
 * body, and a set still reaches every host of its group within
 * VG_UPF_POLL_MS. Before anything is enrolled (the sender enrols on the
 * first batch, upstream.c) there is no token yet: the fetcher reads the
 * token file until there is one.
 *
 * What comes back is checked with the sensor's compiler before it is handed
 * on, within VG_VF_FILE_MAX; a set that does not compile is logged and
 * left, the sensors keep what they run.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "filter.h"
#include "log.h"
#include "upfilters.h"
#include "upproxy.h"

#define VG_UPF_TOKEN_MAX 128
#define VG_UPF_TAG_MAX 160

struct vg_upfilters {
	const char *const *urls;
	int n_urls, cur;
	const char *token_file;
	char token[VG_UPF_TOKEN_MAX + 1];
	CURL *curl;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;

	/* The answer under way. */
	char *body;
	size_t body_len, body_cap;
	int too_big;
	char etag[VG_UPF_TAG_MAX], group[VG_UPF_TAG_MAX], version[32];

	char held[VG_UPF_TAG_MAX]; /* the ETag of the set handed on: If-None-Match */
	long last_status; /* to log a change of state once, not every poll */

	/* Handed to the connection loop (under lock). */
	char *ready;
	size_t ready_len;
	char ready_label[2 * VG_UPF_TAG_MAX];
};

static size_t vg_upf_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vg_upfilters *f = arg;
	size_t n = size * nmemb;

	if (f->body_len + n > VG_VF_FILE_MAX) {
		f->too_big = 1;
		return 0; /* curl stops the transfer */
	}
	if (f->body_len + n + 1 > f->body_cap) {
		size_t cap = f->body_cap ? f->body_cap : 4096;
		char *b;

		while (cap < f->body_len + n + 1)
			cap *= 2;
		b = realloc(f->body, cap);
		if (!b)
			return 0;
		f->body = b;
		f->body_cap = cap;
	}
	memcpy(f->body + f->body_len, p, n);
	f->body_len += n;
	f->body[f->body_len] = 0;
	return n;
}

/* A header's value (up to the line's end) into out when the line is name. */
static void vg_upf_hdr_value(const char *p, size_t n, const char *name, char *out, size_t size)
{
	size_t k = strlen(name), l;

	if (n <= k || strncasecmp(p, name, k))
		return;
	p += k;
	n -= k;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	l = 0;
	while (l < n && p[l] != '\r' && p[l] != '\n')
		l++;
	snprintf(out, size, "%.*s", (int)(l < size ? l : size - 1), p);
}

static size_t vg_upf_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct vg_upfilters *f = arg;
	size_t n = size * nmemb;

	vg_upf_hdr_value(p, n, "ETag:", f->etag, sizeof(f->etag));
	vg_upf_hdr_value(p, n, "X-Vigil-Group:", f->group, sizeof(f->group));
	vg_upf_hdr_value(p, n, "X-Vigil-Version:", f->version, sizeof(f->version));
	return n;
}

static int vg_upf_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct vg_upfilters *f = arg;
	int stop;

	pthread_mutex_lock(&f->lock);
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop; /* non-zero aborts the transfer: the host is stopping */
}

/* The token the sender kept once enrolled (upstream.c writes it whole, by rename). */
static void vg_upf_token(struct vg_upfilters *f)
{
	int fd = open(f->token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, f->token, VG_UPF_TOKEN_MAX);
	close(fd);
	f->token[n > 0 ? n : 0] = 0;
	f->token[strcspn(f->token, "\r\n")] = 0;
	if (strspn(f->token, "0123456789abcdefABCDEF") != strlen(f->token))
		f->token[0] = 0;
}

/* Log a state once, when it differs from the last poll's. */
static void vg_upf_state(struct vg_upfilters *f, long status, int level, const char *fmt,
			 const char *detail)
{
	if (status == f->last_status)
		return;
	f->last_status = status;
	vg_log(level, fmt, detail);
}

/* A set that came: checked, then handed to the connection loop. */
static void vg_upf_got(struct vg_upfilters *f)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char name[2 * VG_UPF_TAG_MAX], *diag = NULL, *text;
	size_t dlen = 0;
	FILE *df;
	int err;

	/* The server's words go into messages: only the names it may send. */
	if (!f->group[0] || strspn(f->group, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					     "0123456789._-") != strlen(f->group))
		snprintf(f->group, sizeof(f->group), "?");
	if (!f->version[0] || strspn(f->version, "0123456789") != strlen(f->version))
		snprintf(f->version, sizeof(f->version), "?");
	snprintf(name, sizeof(name), "server group %s version %s", f->group, f->version);
	df = open_memstream(&diag, &dlen);
	if (!set || !df) {
		if (df)
			fclose(df);
		free(set);
		vg_log(VG_ERROR, "filters from the server: out of memory");
		return;
	}
	err = vg_vf_parse(set, name, f->body ? f->body : "", f->body_len, df);
	fclose(df);
	if (err) {
		vg_log(VG_ERROR, "filters from %s: %d errors; not sent", name, set->errors);
		vg_log_lines(VG_ERROR, diag ? diag : "");
		/* Not fetched again until it changes: the same text would fail the same way. */
		snprintf(f->held, sizeof(f->held), "%s", f->etag);
		free(diag);
		free(set);
		return;
	}
	free(diag);
	text = malloc(f->body_len + 1);
	if (!text) {
		free(set);
		return;
	}
	memcpy(text, f->body ? f->body : "", f->body_len);
	text[f->body_len] = 0;
	vg_log(VG_INFO, "filters: %d rules from %s", set->n, name);
	free(set);
	pthread_mutex_lock(&f->lock);
	free(f->ready); /* a newer set replaces one the loop has not taken yet */
	f->ready = text;
	f->ready_len = f->body_len;
	snprintf(f->ready_label, sizeof(f->ready_label), "%s", name);
	pthread_mutex_unlock(&f->lock);
	snprintf(f->held, sizeof(f->held), "%s", f->etag);
}

/* One GET /v1/filters: the status, 0 when no answer came. */
static long vg_upf_fetch(struct vg_upfilters *f)
{
	struct curl_slist *hdrs = NULL;
	char url[1024], hdr[64 + VG_UPF_TAG_MAX];
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s/v1/filters", f->urls[f->cur]);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", f->token);
	hdrs = curl_slist_append(hdrs, hdr);
	if (f->held[0]) {
		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", f->held);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	f->body_len = 0;
	f->too_big = 0;
	f->etag[0] = f->group[0] = f->version[0] = 0;
	curl_easy_setopt(f->curl, CURLOPT_URL, url);
	vg_up_apply_proxy(f->curl, url); /* the telemetry's route (upproxy.h) */
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(f->curl);
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_OK)
		curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	else if (f->too_big)
		vg_upf_state(f, -2, VG_ERROR, "filters from the server: %s",
			     "the set is over 1 MiB; not taken");
	else if (rc != CURLE_ABORTED_BY_CALLBACK)
		vg_upf_state(f, -1, VG_WARN, "filters from the server: %s", curl_easy_strerror(rc));
	return status;
}

static void *vg_upf_thread(void *arg)
{
	struct vg_upfilters *f = arg;

	for (;;) {
		struct timespec ts;
		long st = 0;

		if (!f->token[0])
			vg_upf_token(f);
		if (f->token[0]) {
			st = vg_upf_fetch(f);
			if (st == 200 && f->etag[0]) {
				f->last_status = 200;
				vg_upf_got(f);
			} else if (st == 304) {
				f->last_status = 304;
			} else if (st == 204) {
				vg_upf_state(f, 204, VG_INFO,
					     "filters: the server has no set for group %s",
					     f->group[0] ? f->group : "?");
			} else if (st == 401 || st == 403) {
				vg_upf_state(f, st, VG_ERROR, "filters from the server: %s",
					     st == 401 ? "401, unknown token" :
							 "403, token revoked");
				/* The sender may enrol again: the token file is read afresh. */
				f->token[0] = 0;
			} else if (st) {
				char s[16];

				snprintf(s, sizeof(s), "%ld", st);
				vg_upf_state(f, st, VG_WARN, "filters from the server: answered %s",
					     s);
			}
			if (!st && f->n_urls > 1)
				f->cur = (f->cur + 1) % f->n_urls;
		}
		ts = vg_deadline_ms(CLOCK_REALTIME, VG_UPF_POLL_MS);
		pthread_mutex_lock(&f->lock);
		while (!f->stop && pthread_cond_timedwait(&f->cond, &f->lock, &ts) != ETIMEDOUT)
			;
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		pthread_mutex_unlock(&f->lock);
	}
}

int vg_upfilters_open(struct vg_upfilters **out, const struct vg_upstream *u)
{
	struct vg_upfilters *f = calloc(1, sizeof(*f));
	const char *ca;
	int err;

	*out = NULL;
	if (!f)
		return vg_err(-ENOMEM, "upstream filters");
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	vg_upstream_where(u, &f->urls, &f->n_urls, &ca, &f->token_file);
	f->last_status = -100;
	/* The sender's vg_upstream_open() made curl's global state. */
	f->curl = curl_easy_init();
	if (!f->curl) {
		err = vg_err(-ENOMEM, "upstream filters: libcurl");
		goto fail;
	}
	vg_up_tls(f->curl, ca, 10);
	curl_easy_setopt(f->curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, vg_upf_body);
	curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, vg_upf_header);
	curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->curl, CURLOPT_XFERINFOFUNCTION, vg_upf_progress);
	curl_easy_setopt(f->curl, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(f->curl, CURLOPT_NOPROGRESS, 0L);
	err = -pthread_create(&f->thread, NULL, vg_upf_thread, f);
	if (err) {
		vg_err(err, "upstream filters: thread");
		goto fail;
	}
	f->started = 1;
	*out = f;
	return 0;
fail:
	vg_upfilters_close(f);
	return err;
}

int vg_upfilters_take(struct vg_upfilters *f, char **text, size_t *len, char *label,
		      size_t label_size)
{
	int got = 0;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (f->ready) {
		*text = f->ready;
		*len = f->ready_len;
		snprintf(label, label_size, "%s", f->ready_label);
		f->ready = NULL;
		got = 1;
	}
	pthread_mutex_unlock(&f->lock);
	return got;
}

void vg_upfilters_close(struct vg_upfilters *f)
{
	if (!f)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->lock);
		f->stop = 1;
		pthread_cond_signal(&f->cond);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
	}
	if (f->curl)
		curl_easy_cleanup(f->curl);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f->body);
	free(f->ready);
	free(f);
}
