// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ingest benchmark's hosts (bench/ingest.sh runs it): K threads, each a
 * host with its own device enrolled on `vigil server`, send N batch frames
 * of M events each (process, file and network events like vigild's, every
 * one different, zstd-compressed as vigild sends them), P frames per request
 * (--per-request 1: one at a time, application/vnd.vigil.frame, as the
 * Windows plug-in and older hosts do; more: application/vnd.vigil.frames,
 * as `vigil host --upstream` does with a backlog). The frames and the
 * requests' bodies are built before the clock starts. Prints events stored
 * per second and the send-to-commit latency of a request (a 200 comes only
 * after its transaction committed), p50 and p99.
 *   ingest --url https://HOST:PORT --ca CA.pem --secret S [--hosts K]
 *          [--batches N] [--events M] [--per-request P] [--tag T]
 * With --unix PATH instead, each host is a sensor connected to `vigil host
 * --listen unix:PATH` (SQLite): it writes its frames as vigild does, without
 * waiting, and the latency is from the first frame sent to each ACK (the
 * host acknowledges a batch after its commit).
 *   ingest --unix PATH [--hosts K] [--batches N] [--events M] [--tag T]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "frame.h"
#include "wire.h"

struct host {
	pthread_t t;
	int id;
	char dev[64], token[80];
	uint8_t **frames;
	size_t *lens;
	double *lat; /* s, per request */
	uint8_t **bodies; /* the requests' bodies: per_request frames each */
	size_t *body_lens;
	int n_req;
	int failed;
};

static const char *url, *ca, *secret, *unix_path, *tag = "bench";
static int n_hosts = 4, n_batches = 100, n_events = 500, per_request = 1;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "ingest: %s\n", what);
	exit(1);
}

/* Batch seq of host h: n_events events; the stream's first names the device. */
static void build(struct host *h, int seq)
{
	static char *exes[] = { "/usr/bin/git", "/usr/bin/make", "/usr/bin/cc", "/usr/bin/curl" };
	Vigil__V1__Event *evs = calloc((size_t)n_events, sizeof(*evs)), **ep;
	Vigil__V1__Process *procs = calloc((size_t)n_events, sizeof(*procs));
	Vigil__V1__ProcessEvent *pes = calloc((size_t)n_events, sizeof(*pes));
	Vigil__V1__FileEvent *fes = calloc((size_t)n_events, sizeof(*fes));
	Vigil__V1__NetworkEvent *nes = calloc((size_t)n_events, sizeof(*nes));
	char (*args)[64] = calloc((size_t)n_events, 64), (*paths)[96] = calloc((size_t)n_events, 96),
	     **argvs = calloc((size_t)n_events * 3, sizeof(char *));
	Vigil__V1__Counter cnt = VIGIL__V1__COUNTER__INIT, *cs[1] = { &cnt };
	Vigil__V1__DeviceInfo di = VIGIL__V1__DEVICE_INFO__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	struct vg_frame_hdr hd = { .type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = (uint64_t)seq };
	uint8_t *payload;
	size_t len;

	ep = calloc((size_t)n_events, sizeof(*ep));
	if (!evs || !procs || !pes || !fes || !nes || !args || !paths || !argvs || !ep)
		die("out of memory");
	for (int i = 0; i < n_events; i++) {
		Vigil__V1__Event *ev = &evs[i];
		Vigil__V1__Process *p = &procs[i];
		int k = seq * n_events + i;

		vigil__v1__event__init(ev);
		vigil__v1__process__init(p);
		p->pid = 10000 + (uint32_t)(k % 50000);
		p->ppid = 9000 + (uint32_t)(k % 977);
		p->exe = exes[k % 4];
		snprintf(args[i], 64, "--bench=%d-%d", h->id, k);
		argvs[3 * i] = p->exe;
		argvs[3 * i + 1] = "-C";
		argvs[3 * i + 2] = args[i];
		p->argv = &argvs[3 * i];
		p->n_argv = 3;
		p->user = "dev";
		p->uid = 1000;
		p->cwd = "/home/dev/src";
		p->start_time_ns = 1795694400000000000ull + (uint64_t)k * 1000;
		ev->report_id = (uint64_t)k;
		ev->time_ns = 1795694400000000000ull + (uint64_t)k * 1000 + 500;
		if (i % 5 < 3) {
			vigil__v1__process_event__init(&pes[i]);
			pes[i].action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
			pes[i].process = p;
			ev->body_case = VIGIL__V1__EVENT__BODY_PROCESS;
			ev->process = &pes[i];
		} else if (i % 5 == 3) {
			vigil__v1__file_event__init(&fes[i]);
			fes[i].action_type = "FileCreated";
			snprintf(paths[i], 96, "/home/dev/src/build/obj-%d.o", k);
			fes[i].path = paths[i];
			fes[i].process = p;
			ev->body_case = VIGIL__V1__EVENT__BODY_FILE;
			ev->file = &fes[i];
		} else {
			vigil__v1__network_event__init(&nes[i]);
			nes[i].action_type = "ConnectionSuccess";
			nes[i].protocol = "Tcp";
			snprintf(paths[i], 96, "192.0.2.%d", k % 250 + 1);
			nes[i].remote_ip = paths[i];
			nes[i].remote_port = 443;
			nes[i].local_ip = "10.0.0.2";
			nes[i].local_port = 30000 + (uint32_t)(k % 20000);
			nes[i].process = p;
			ev->body_case = VIGIL__V1__EVENT__BODY_NETWORK;
			ev->network = &nes[i];
		}
		ep[i] = ev;
	}
	cnt.event_class = "exec";
	cnt.seen = cnt.emitted = (uint64_t)(seq * n_events);
	di.device_id = h->dev;
	di.device_name = h->dev;
	di.os_platform = "Linux";
	di.client_version = "bench";
	b.device = seq == 1 ? &di : NULL;
	b.stream_id = 1;
	b.n_events = (size_t)n_events;
	b.events = ep;
	b.n_counters = 1;
	b.counters = cs;
	if (vg_batch_pack(&b, 3, &payload, &len))
		die("vg_batch_pack");
	hd.len = (uint32_t)len;
	h->frames[seq - 1] = malloc(VG_FRAME_HDR_LEN + len);
	if (!h->frames[seq - 1])
		die("out of memory");
	vg_frame_hdr_pack(h->frames[seq - 1], &hd, payload);
	memcpy(h->frames[seq - 1] + VG_FRAME_HDR_LEN, payload, len);
	h->lens[seq - 1] = VG_FRAME_HDR_LEN + len;
	free(payload);
	free(evs);
	free(procs);
	free(pes);
	free(fes);
	free(nes);
	free(args);
	free(paths);
	free(argvs);
	free(ep);
}

struct resp {
	char buf[16384];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t room = sizeof(r->buf) - 1 - r->len, k = size * n < room ? size * n : room;

	memcpy(r->buf + r->len, p, k);
	r->len += k;
	r->buf[r->len] = 0;
	return size * n;
}

/* One POST: the status (0: no answer). */
static long post(CURL *c, const char *path, const char *ctype, const char *token,
		 const void *body, size_t len, struct resp *r)
{
	struct curl_slist *hs = NULL;
	char u[512], h[160];
	long st = 0;

	snprintf(u, sizeof(u), "%s%s", url, path);
	snprintf(h, sizeof(h), "Content-Type: %s", ctype);
	hs = curl_slist_append(hs, h);
	hs = curl_slist_append(hs, "Expect:");
	if (token) {
		snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, h);
	}
	r->len = 0;
	r->buf[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(hs);
	return st;
}

static pthread_barrier_t go;

static void *run(void *arg)
{
	struct host *h = arg;
	CURL *c = curl_easy_init();
	struct resp r;
	char body[512];
	const char *p;
	long st;

	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	snprintf(body, sizeof(body), "{\"secret\":\"%s\",\"device_id\":\"%s\"}", secret, h->dev);
	st = post(c, "/v1/enroll", "application/json", NULL, body, strlen(body), &r);
	p = strstr(r.buf, "\"token\":\"");
	if (st != 200 || !p) {
		fprintf(stderr, "ingest: enrol %s: %ld %s\n", h->dev, st, r.buf);
		h->failed = 1;
	} else {
		snprintf(h->token, sizeof(h->token), "%.64s", p + 9);
	}
	pthread_barrier_wait(&go);
	for (int i = 0; !h->failed && i < h->n_req; i++) {
		double t0 = now_s();
		/* Sent again on 429/5xx/no answer, as the host does; the latency counts it all. */
		for (int tries = 0;; tries++) {
			st = post(c, "/v1/batches",
				  per_request > 1 ? "application/vnd.vigil.frames" :
						    "application/vnd.vigil.frame",
				  h->token, h->bodies[i], h->body_lens[i], &r);
			if (st == 200 || (st >= 400 && st < 500 && st != 429) || tries == 100)
				break;
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
		}
		if (st != 200 || strstr(r.buf, "\"status\"")) {
			fprintf(stderr, "ingest: %s request %d: %ld %s\n", h->dev, i + 1, st, r.buf);
			h->failed = 1;
		}
		h->lat[i] = now_s() - t0;
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* --unix: every frame written at once, then the ACKs read (the host queues them meanwhile). */
static void *run_unix(void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct host *h = arg;
	uint8_t ack[VG_ACK_FRAME_LEN];
	size_t got = 0;
	double t0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", unix_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("ingest: connect");
		h->failed = 1;
	}
	pthread_barrier_wait(&go);
	t0 = now_s();
	for (int i = 0; !h->failed && i < n_batches; i++) {
		for (size_t off = 0; off < h->lens[i];) {
			ssize_t n = write(fd, h->frames[i] + off, h->lens[i] - off);

			if (n <= 0) {
				perror("ingest: write");
				h->failed = 1;
				break;
			}
			off += (size_t)n;
		}
	}
	/* ACKs come in order, one per batch; each one's latency from the first frame sent. */
	for (int i = 0; !h->failed && i < n_batches; i++) {
		while (got < sizeof(ack)) {
			ssize_t n = read(fd, ack + got, sizeof(ack) - got);

			if (n <= 0) {
				fprintf(stderr, "ingest: %s: the host closed after %d ACKs\n", h->dev, i);
				h->failed = 1;
				break;
			}
			got += (size_t)n;
		}
		got = 0;
		h->lat[i] = now_s() - t0;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct host *hs;
	double t0, t1, *all;
	size_t n = 0, bytes = 0;
	int failed = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--ca"))
			ca = argv[i + 1];
		else if (!strcmp(argv[i], "--secret"))
			secret = argv[i + 1];
		else if (!strcmp(argv[i], "--unix"))
			unix_path = argv[i + 1];
		else if (!strcmp(argv[i], "--tag"))
			tag = argv[i + 1];
		else if (!strcmp(argv[i], "--hosts"))
			n_hosts = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--batches"))
			n_batches = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--events"))
			n_events = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--per-request"))
			per_request = atoi(argv[i + 1]);
		else
			die("usage: ingest (--url URL --ca CA --secret S | --unix PATH) [--hosts K]"
			    " [--batches N] [--events M] [--per-request P] [--tag T]");
	}
	if ((!unix_path && (!url || !ca || !secret)) || n_hosts < 1 || n_hosts > 256 ||
	    n_batches < 1 || n_events < 1 || n_events > 5000 || per_request < 1 || per_request > 64)
		die("--url, --ca, --secret (or --unix) needed; 1-256 hosts, 1-5000 events a batch,"
		    " 1-64 frames a request");
	if (unix_path && per_request != 1)
		die("--unix writes frames as vigild does: one at a time (no --per-request)");
	if (!unix_path)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	hs = calloc((size_t)n_hosts, sizeof(*hs));
	all = calloc((size_t)n_hosts * (size_t)n_batches, sizeof(*all));
	if (!hs || !all)
		die("out of memory");
	for (int k = 0; k < n_hosts; k++) {
		hs[k].id = k;
		snprintf(hs[k].dev, sizeof(hs[k].dev), "%s-%d", tag, k);
		hs[k].frames = calloc((size_t)n_batches, sizeof(*hs[k].frames));
		hs[k].lens = calloc((size_t)n_batches, sizeof(*hs[k].lens));
		hs[k].lat = calloc((size_t)n_batches, sizeof(*hs[k].lat));
		if (!hs[k].frames || !hs[k].lens || !hs[k].lat)
			die("out of memory");
		for (int s = 1; s <= n_batches; s++) {
			build(&hs[k], s);
			bytes += hs[k].lens[s - 1];
		}
		/* The frames back to back, per_request of them a body (the last may hold fewer). */
		hs[k].n_req = (n_batches + per_request - 1) / per_request;
		hs[k].bodies = calloc((size_t)hs[k].n_req, sizeof(*hs[k].bodies));
		hs[k].body_lens = calloc((size_t)hs[k].n_req, sizeof(*hs[k].body_lens));
		if (!hs[k].bodies || !hs[k].body_lens)
			die("out of memory");
		for (int q = 0; q < hs[k].n_req; q++) {
			size_t len = 0;

			for (int s = q * per_request; s < n_batches && s < (q + 1) * per_request; s++)
				len += hs[k].lens[s];
			hs[k].bodies[q] = malloc(len);
			if (!hs[k].bodies[q])
				die("out of memory");
			for (int s = q * per_request; s < n_batches && s < (q + 1) * per_request; s++) {
				memcpy(hs[k].bodies[q] + hs[k].body_lens[q], hs[k].frames[s],
				       hs[k].lens[s]);
				hs[k].body_lens[q] += hs[k].lens[s];
			}
		}
	}
	pthread_barrier_init(&go, NULL, (unsigned)n_hosts + 1);
	for (int k = 0; k < n_hosts; k++)
		pthread_create(&hs[k].t, NULL, unix_path ? run_unix : run, &hs[k]);
	pthread_barrier_wait(&go);
	t0 = now_s();
	for (int k = 0; k < n_hosts; k++)
		pthread_join(hs[k].t, NULL);
	t1 = now_s();
	for (int k = 0; k < n_hosts; k++) {
		failed |= hs[k].failed;
		for (int s = 0; s < hs[k].n_req; s++)
			all[n++] = hs[k].lat[s];
	}
	qsort(all, n, sizeof(*all), cmp);
	{
		size_t frames = (size_t)n_hosts * (size_t)n_batches, ev = frames * (size_t)n_events;

		printf("hosts=%d per_request=%d requests=%zu batches=%zu events=%zu"
		       " frame_bytes_per_event=%.1f seconds=%.2f events_per_s=%.0f p50_s=%.3f"
		       " p99_s=%.3f\n",
		       n_hosts, per_request, n, frames, ev, (double)bytes / (double)ev, t1 - t0,
		       (double)ev / (t1 - t0), all[n / 2],
		       all[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
	}
	return failed;
}
