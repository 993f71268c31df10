// SPDX-License-Identifier: GPL-2.0-only
/*
 * What one BATCH payload costs the host to decode: frames built to amplify
 * (small on the wire, huge once decompressed and unpacked) next to a dense
 * batch of real-looking exec events. Each frame is decoded in a child
 * process of its own, as the host decodes it (vg_batch_open, then one event
 * at a time as they are stored), and the child's peak RSS and decode time
 * are reported.
 *
 *   decode [--unbounded] [--json]
 *
 * --unbounded also decodes each frame the way the host did before the wire
 * walk and the allocation budget existed (decompress, then protobuf-c's
 * unpack with nothing counted): what the bounds save.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "batch.h"
#include "wire.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("decode: realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
		v >>= 7;
	} while (v);
	put(b, t, n);
}

/* Field number f, length-delimited, holding src. */
static void put_msg(struct buf *b, unsigned int f, const struct buf *src)
{
	put_varint(b, (uint64_t)f << 3 | 2);
	put_varint(b, src->len);
	put(b, src->p, src->len);
}

/* The finding: 16.7 million empty events, 32 MiB of "field 3, length 0". */
static void shape_events(struct buf *raw)
{
	while (raw->len + 2 <= VG_BATCH_MAX_DECODED)
		put(raw, "\x1a\x00", 2);
}

/* Events whose process holds 4096 empty argv strings each, up to 32 MiB. */
static void shape_argv(struct buf *raw)
{
	struct buf proc = { 0 }, pe = { 0 }, ev = { 0 };

	for (int i = 0; i < VG_BATCH_MAX_ARGV; i++)
		put(&proc, "\x2a\x00", 2);
	put_msg(&pe, 2, &proc);
	put_msg(&ev, 10, &pe);
	while (raw->len + ev.len + 8 <= VG_BATCH_MAX_DECODED)
		put_msg(raw, 3, &ev);
	free(proc.p);
	free(pe.p);
	free(ev.p);
}

/* 65536 events (the bound), each a process event with an empty process and parent. */
static void shape_nested(struct buf *raw)
{
	for (int i = 0; i < VG_BATCH_MAX_EVENTS_WIRE; i++)
		put(raw, "\x1a\x08\x52\x06\x12\x00\x1a\x00\x20\x01", 10);
}

/* 11 million fields the schema does not know (field 99, varint 0). */
static void shape_unknown(struct buf *raw)
{
	while (raw->len + 3 <= VG_BATCH_MAX_DECODED)
		put(raw, "\x98\x06\x00", 3);
}

/* One singular field (boot_time_ns) given 16.7 million times: protobuf-c keeps the last. */
static void shape_repeat(struct buf *raw)
{
	while (raw->len + 2 <= VG_BATCH_MAX_DECODED)
		put(raw, "\x08\x00", 2);
}

/* A dense real batch: 65536 exec events with paths, argv, cwd and a parent. */
static void shape_exec(struct buf *raw)
{
	static char *argv[] = { "gcc", "-O2", "-c", "-o", "build/obj/file.o", "src/file.c" };
	static char *pargv[] = { "make", "-j8" };
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT, pp = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	Vigil__V1__Event *evs = calloc(VG_BATCH_MAX_EVENTS_WIRE, sizeof(*evs));
	Vigil__V1__Event **evp = calloc(VG_BATCH_MAX_EVENTS_WIRE, sizeof(*evp));

	if (!evs || !evp)
		exit(1);
	p.exe = "/usr/bin/x86_64-linux-gnu-gcc-12";
	p.argv = argv;
	p.n_argv = 6;
	p.cwd = "/home/alice/src/project";
	p.comm = "gcc";
	p.user = "alice";
	p.uid = p.gid = p.euid = p.egid = 1000;
	pp.exe = "/usr/bin/make";
	pp.argv = pargv;
	pp.n_argv = 2;
	pp.cwd = p.cwd;
	pp.comm = "make";
	pp.user = "alice";
	pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED;
	pe.process = &p;
	pe.parent = &pp;
	pe.grandparent_exe = "/usr/bin/bash";
	for (int i = 0; i < VG_BATCH_MAX_EVENTS_WIRE; i++) {
		vigil__v1__event__init(&evs[i]);
		evs[i].report_id = 1000000 + i;
		evs[i].time_ns = 1795694400000000000ull + i * 1000ull;
		evs[i].body_case = VIGIL__V1__EVENT__BODY_PROCESS;
		evs[i].process = &pe;
		evp[i] = &evs[i];
	}
	b.events = evp;
	b.n_events = VG_BATCH_MAX_EVENTS_WIRE;
	raw->cap = raw->len = vigil__v1__batch__get_packed_size(&b);
	raw->p = malloc(raw->cap);
	if (!raw->p)
		exit(1);
	vigil__v1__batch__pack(&b, raw->p);
	free(evs);
	free(evp);
}

static const struct shape {
	const char *name;
	void (*build)(struct buf *raw);
} shapes[] = {
	{ "events", shape_events }, { "argv", shape_argv },   { "nested", shape_nested },
	{ "unknown", shape_unknown }, { "repeat", shape_repeat }, { "exec", shape_exec },
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Decode in a child; its peak RSS (KiB), the decode time and the result. */
static int run(const uint8_t *z, size_t zlen, int unbounded, long *rss_kb, double *secs,
	       char *why, size_t why_len)
{
	int pfd[2], status;
	struct rusage ru;
	pid_t pid;
	struct {
		int err;
		double secs;
		char why[200];
	} res = { 0 };

	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		Vigil__V1__Batch *b = NULL;
		double t0 = now_s();

		close(pfd[0]);
		if (unbounded) {
			uint8_t *raw;
			size_t raw_len;

			res.err = vg_zstd_decompress(z, zlen, VG_BATCH_MAX_DECODED, &raw, &raw_len);
			if (!res.err) {
				b = vigil__v1__batch__unpack(NULL, raw_len, raw);
				res.err = b ? vg_batch_check(b) : -EBADMSG;
				free(raw);
			}
		} else {
			/* As the host stores a batch: one event at a time (host/store.c). */
			struct vg_batch v;

			res.err = vg_batch_open(&v, z, zlen, 1, res.why, sizeof(res.why));
			for (size_t i = 0; b == NULL && i < v.n_events && !res.err; i++) {
				Vigil__V1__Event *ev;

				res.err = vg_batch_event(&v, i, &ev);
			}
			vg_batch_close(&v);
		}
		if (b)
			vigil__v1__batch__free_unpacked(b, NULL);
		res.secs = now_s() - t0;
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &res, sizeof(res)) != sizeof(res))
		res.err = -EPIPE;
	close(pfd[0]);
	if (wait4(pid, &status, 0, &ru) != pid)
		return -errno;
	*rss_kb = ru.ru_maxrss;
	*secs = res.secs;
	snprintf(why, why_len, "%s", res.why);
	return res.err;
}

int main(int argc, char **argv)
{
	int unbounded = 0, json = 0;
	long base_kb;
	double secs;
	char why[200];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--unbounded")) {
			unbounded = 1;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else {
			fprintf(stderr, "usage: decode [--unbounded] [--json]\n");
			return 2;
		}
	}
	/* A child that decodes nothing: the RSS every child starts with. */
	run((const uint8_t *)"", 0, 0, &base_kb, &secs, why, sizeof(why));
	if (!json)
		printf("%-8s %10s %10s %5s %10s %8s  %s\n", "frame", "wire B", "decoded B", "mode",
		       "+RSS KiB", "ms", "result");
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct buf raw = { 0 };
		size_t bound, zlen, cost;
		uint8_t *z;

		shapes[i].build(&raw);
		vg_batch_walk(raw.p, raw.len, SIZE_MAX, &cost, NULL, 0);
		bound = ZSTD_compressBound(raw.len);
		z = malloc(bound);
		zlen = z ? ZSTD_compress(z, bound, raw.p, raw.len, 3) : 0;
		if (!z || ZSTD_isError(zlen)) {
			fprintf(stderr, "decode: compress %s failed\n", shapes[i].name);
			return 1;
		}
		free(raw.p);
		malloc_trim(0);
		if (!json)
			printf("%-8s unpacking counted on the wire: %zu bytes, %.1f per byte\n",
			       shapes[i].name, cost, (double)cost / raw.len);
		for (int m = 0; m <= unbounded; m++) {
			long kb;
			int err = run(z, zlen, m, &kb, &secs, why, sizeof(why));
			const char *res = err ? strerror(-err) : "decoded";

			if (json)
				printf("{\"frame\":\"%s\",\"wire_bytes\":%zu,\"decoded_bytes\":%zu,"
				       "\"mode\":\"%s\",\"rss_kib\":%ld,\"ms\":%.1f,\"result\":\"%s\"}\n",
				       shapes[i].name, zlen, raw.len, m ? "before" : "now",
				       kb - base_kb, secs * 1e3, res);
			else
				printf("%-8s %10zu %10zu %5s %10ld %8.1f  %s%s%s\n", shapes[i].name,
				       zlen, raw.len, m ? "before" : "now", kb - base_kb, secs * 1e3,
				       res, *why ? ": " : "", why);
		}
		free(z);
	}
	if (!json)
		printf("(+RSS: peak RSS of the decoding child over one that decodes nothing, %ld "
		       "KiB)\n",
		       base_kb);
	return 0;
}
