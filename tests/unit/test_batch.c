// SPDX-License-Identifier: GPL-2.0-only
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include "batch.h"
#include "frame.h"
#include "wire.h"

static char *argv_sh[] = { "/bin/sh", "-c", "exit 7" };
static char *argv_bash[] = { "bash" };
static char *tags[] = { "WSL2", "lab" };

/* One batch with every kind of content, all statically allocated. */
struct sample {
	Vigil__V1__Process proc, parent;
	Vigil__V1__ProcessEvent pe;
	Vigil__V1__Event ev, *evs[1];
	Vigil__V1__Counter c_exec, c_exit, *cs[2];
	Vigil__V1__DeviceInfo dev;
	Vigil__V1__Batch b;
};

static void sample_init(struct sample *s)
{
	vigil__v1__process__init(&s->proc);
	s->proc.pid = 4242;
	s->proc.ppid = 4200;
	s->proc.start_time_ns = 1795694400123456789ull;
	s->proc.exe = "/usr/bin/dash";
	s->proc.n_argv = 3;
	s->proc.argv = argv_sh;
	s->proc.argv_truncated = 1;
	s->proc.cwd = "/tmp";
	s->proc.uid = 1000;
	s->proc.gid = 1001;
	s->proc.euid = 0;
	s->proc.egid = 1003;
	s->proc.comm = "sh";
	s->proc.cgroup_id = 0x1234567890ull;
	s->proc.exe_inode = 987654321;
	s->proc.exe_dev = 0x801;
	s->proc.user = "alice";

	vigil__v1__process__init(&s->parent);
	s->parent.pid = 4200;
	s->parent.ppid = 1;
	s->parent.exe = "/usr/bin/bash";
	s->parent.n_argv = 1;
	s->parent.argv = argv_bash;

	vigil__v1__process_event__init(&s->pe);
	s->pe.action = VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED;
	s->pe.process = &s->proc;
	s->pe.parent = &s->parent;
	s->pe.exit_code = 7;
	s->pe.exit_signal = 0;
	s->pe.core_dumped = 1;
	s->pe.grandparent_exe = "/sbin/init";

	vigil__v1__event__init(&s->ev);
	s->ev.report_id = 77;
	s->ev.time_ns = 1795694400223000000ull;
	s->ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	s->ev.process = &s->pe;
	s->evs[0] = &s->ev;

	vigil__v1__counter__init(&s->c_exec);
	s->c_exec.event_class = "exec";
	s->c_exec.seen = 100;
	s->c_exec.emitted = 90;
	s->c_exec.filtered = 4;
	s->c_exec.deduplicated = 3;
	s->c_exec.rate_limited = 2;
	s->c_exec.ringbuf_full = 1;
	vigil__v1__counter__init(&s->c_exit);
	s->c_exit.event_class = "exit";
	s->c_exit.seen = 5;
	s->c_exit.emitted = 5;
	s->cs[0] = &s->c_exec;
	s->cs[1] = &s->c_exit;

	vigil__v1__device_info__init(&s->dev);
	s->dev.device_id = "dev-1";
	s->dev.device_name = "DESKTOP-1";
	s->dev.client_version = "0.1.0";
	s->dev.os_platform = "Linux";
	s->dev.os_architecture = "x86_64";
	s->dev.os_version = "6.18.0";
	s->dev.os_distribution = "Debian 12";
	s->dev.host_device_id = "host-9";
	s->dev.machine_group = "builders";
	s->dev.n_tags = 2;
	s->dev.tags = tags;

	vigil__v1__batch__init(&s->b);
	s->b.boot_time_ns = 1795690000000000000ull;
	s->b.device = &s->dev;
	s->b.n_events = 1;
	s->b.events = s->evs;
	s->b.n_counters = 2;
	s->b.counters = s->cs;
	s->b.events_lost = 12;
}

Test(batch, round_trip_every_field)
{
	struct sample s;
	Vigil__V1__Batch *b;
	uint8_t *z;
	size_t zlen;

	sample_init(&s);
	cr_assert_eq(vg_batch_pack(&s.b, 3, &z, &zlen), 0);
	cr_assert_gt(zlen, 0);
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), 0);
	free(z);

	cr_assert_eq(b->boot_time_ns, 1795690000000000000ull);
	cr_assert_eq(b->events_lost, 12);
	cr_assert_not_null(b->device);
	cr_assert_str_eq(b->device->device_id, "dev-1");
	cr_assert_str_eq(b->device->device_name, "DESKTOP-1");
	cr_assert_str_eq(b->device->client_version, "0.1.0");
	cr_assert_str_eq(b->device->os_platform, "Linux");
	cr_assert_str_eq(b->device->os_architecture, "x86_64");
	cr_assert_str_eq(b->device->os_version, "6.18.0");
	cr_assert_str_eq(b->device->os_distribution, "Debian 12");
	cr_assert_str_eq(b->device->host_device_id, "host-9");
	cr_assert_str_eq(b->device->machine_group, "builders");
	cr_assert_eq(b->device->n_tags, 2);
	cr_assert_str_eq(b->device->tags[0], "WSL2");
	cr_assert_str_eq(b->device->tags[1], "lab");

	cr_assert_eq(b->n_counters, 2);
	cr_assert_str_eq(b->counters[0]->event_class, "exec");
	cr_assert_eq(b->counters[0]->seen, 100);
	cr_assert_eq(b->counters[0]->emitted, 90);
	cr_assert_eq(b->counters[0]->filtered, 4);
	cr_assert_eq(b->counters[0]->deduplicated, 3);
	cr_assert_eq(b->counters[0]->rate_limited, 2);
	cr_assert_eq(b->counters[0]->ringbuf_full, 1);
	cr_assert_str_eq(b->counters[1]->event_class, "exit");
	cr_assert_eq(b->counters[1]->seen, 5);

	cr_assert_eq(b->n_events, 1);
	Vigil__V1__Event *ev = b->events[0];
	cr_assert_eq(ev->report_id, 77);
	cr_assert_eq(ev->time_ns, 1795694400223000000ull);
	cr_assert_eq(ev->body_case, VIGIL__V1__EVENT__BODY_PROCESS);
	Vigil__V1__ProcessEvent *pe = ev->process;
	cr_assert_eq(pe->action, VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED);
	cr_assert_eq(pe->exit_code, 7);
	cr_assert_eq(pe->exit_signal, 0);
	cr_assert(pe->core_dumped);
	cr_assert_str_eq(pe->grandparent_exe, "/sbin/init");
	Vigil__V1__Process *p = pe->process;
	cr_assert_eq(p->pid, 4242);
	cr_assert_eq(p->ppid, 4200);
	cr_assert_eq(p->start_time_ns, 1795694400123456789ull);
	cr_assert_str_eq(p->exe, "/usr/bin/dash");
	cr_assert_eq(p->n_argv, 3);
	cr_assert_str_eq(p->argv[0], "/bin/sh");
	cr_assert_str_eq(p->argv[1], "-c");
	cr_assert_str_eq(p->argv[2], "exit 7");
	cr_assert(p->argv_truncated);
	cr_assert_str_eq(p->cwd, "/tmp");
	cr_assert_eq(p->uid, 1000);
	cr_assert_eq(p->gid, 1001);
	cr_assert_eq(p->euid, 0);
	cr_assert_eq(p->egid, 1003);
	cr_assert_str_eq(p->comm, "sh");
	cr_assert_eq(p->cgroup_id, 0x1234567890ull);
	cr_assert_eq(p->exe_inode, 987654321);
	cr_assert_eq(p->exe_dev, 0x801);
	cr_assert_str_eq(p->user, "alice");
	cr_assert_not_null(pe->parent);
	cr_assert_eq(pe->parent->pid, 4200);
	cr_assert_eq(pe->parent->ppid, 1);
	cr_assert_str_eq(pe->parent->exe, "/usr/bin/bash");
	cr_assert_str_eq(pe->parent->argv[0], "bash");
	vigil__v1__batch__free_unpacked(b, NULL);
}

Test(batch, empty_batch_round_trip)
{
	Vigil__V1__Batch e = VIGIL__V1__BATCH__INIT, *b;
	uint8_t *z;
	size_t zlen;

	cr_assert_eq(vg_batch_pack(&e, 1, &z, &zlen), 0);
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), 0);
	cr_assert_eq(b->n_events, 0);
	cr_assert_null(b->device);
	vigil__v1__batch__free_unpacked(b, NULL);
	free(z);
}

/* Compress total zero bytes by streaming a small buffer; declare the size or not. */
static uint8_t *zeros_zstd(size_t total, int declare, size_t *out_len)
{
	static uint8_t zero[1 << 20];
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = 1 << 20, pos = 0;
	uint8_t *out = malloc(cap);

	cr_assert(cc && out);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	if (declare)
		ZSTD_CCtx_setPledgedSrcSize(cc, total);
	for (size_t done = 0; done < total; done += sizeof(zero)) {
		int last = done + sizeof(zero) >= total;
		ZSTD_inBuffer in = { zero, sizeof(zero), 0 };
		size_t rem;

		do {
			ZSTD_outBuffer ob = { out + pos, cap - pos, 0 };

			rem = ZSTD_compressStream2(cc, &ob, &in,
						   last ? ZSTD_e_end : ZSTD_e_continue);
			cr_assert(!ZSTD_isError(rem), "%s", ZSTD_getErrorName(rem));
			pos += ob.pos;
		} while (last ? rem != 0 : in.pos < in.size);
	}
	ZSTD_freeCCtx(cc);
	*out_len = pos;
	return out;
}

/* Cap the address space so that decoding the bomb in full would fail with -ENOMEM. */
static void cap_memory(size_t extra)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	struct rlimit rl;

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (size_t)sysconf(_SC_PAGESIZE) + extra;
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

Test(batch, bomb_with_unknown_size_is_efbig)
{
	size_t zlen;
	uint8_t *z = zeros_zstd((size_t)100 << 20, 0, &zlen);
	Vigil__V1__Batch *b = NULL;

	cr_assert_lt(zlen, (size_t)VG_FRAME_MAX_PAYLOAD, "the bomb must fit in a frame");
	cr_assert_eq(ZSTD_getFrameContentSize(z, zlen), ZSTD_CONTENTSIZE_UNKNOWN);
	cap_memory((size_t)80 << 20);
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), -EFBIG);
	cr_assert_null(b);
	free(z);
}

Test(batch, bomb_with_declared_size_is_efbig)
{
	size_t zlen;
	uint8_t *z = zeros_zstd((size_t)100 << 20, 1, &zlen);
	Vigil__V1__Batch *b = NULL;

	cr_assert_eq(ZSTD_getFrameContentSize(z, zlen), (unsigned long long)100 << 20);
	cap_memory((size_t)80 << 20);
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), -EFBIG);
	free(z);
}

Test(batch, garbage_is_ebadmsg)
{
	static const uint8_t junk[] = "this is not zstd at all, just words";
	Vigil__V1__Batch *b = NULL;

	cr_assert_eq(vg_batch_unpack(junk, sizeof(junk), &b), -EBADMSG);
	cr_assert_eq(vg_batch_unpack(junk, 0, &b), -EBADMSG);
}

Test(batch, zstd_of_non_protobuf_is_ebadmsg)
{
	/* Valid zstd, but the content is no Batch: field 3 (events) with a length past the end. */
	static const uint8_t raw[] = { 0x1a, 0x7f, 0x01 };
	uint8_t z[64];
	size_t zlen = ZSTD_compress(z, sizeof(z), raw, sizeof(raw), 1);
	Vigil__V1__Batch *b = NULL;

	cr_assert(!ZSTD_isError(zlen));
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), -EBADMSG);
}

Test(batch, truncated_zstd_is_ebadmsg)
{
	struct sample s;
	Vigil__V1__Batch *b = NULL;
	uint8_t *z;
	size_t zlen;

	sample_init(&s);
	cr_assert_eq(vg_batch_pack(&s.b, 3, &z, &zlen), 0);
	for (size_t cut = 1; cut < 8; cut++)
		cr_assert_eq(vg_batch_unpack(z, zlen - cut, &b), -EBADMSG, "cut %zu", cut);
	cr_assert_eq(vg_batch_unpack(z, zlen / 2, &b), -EBADMSG);
	free(z);
}

Test(batch, trailing_bytes_are_ebadmsg)
{
	struct sample s;
	Vigil__V1__Batch *b = NULL;
	uint8_t *z, *zz;
	size_t zlen;

	sample_init(&s);
	cr_assert_eq(vg_batch_pack(&s.b, 3, &z, &zlen), 0);
	zz = malloc(zlen + 3);
	memcpy(zz, z, zlen);
	memcpy(zz + zlen, "abc", 3);
	cr_assert_eq(vg_batch_unpack(zz, zlen + 3, &b), -EBADMSG);
	free(z);
	free(zz);
}

Test(batch, unknown_fields_still_decode)
{
	struct sample s;
	Vigil__V1__Batch *b = NULL;
	size_t len, zlen;
	uint8_t *raw, z[4096];

	sample_init(&s);
	len = vigil__v1__batch__get_packed_size(&s.b);
	raw = malloc(len + 16);
	vigil__v1__batch__pack(&s.b, raw);
	/* Field 99 varint 1, then field 100 length-delimited "new". */
	memcpy(raw + len, "\x98\x06\x01\xa2\x06\x03new", 9);
	len += 9;
	zlen = ZSTD_compress(z, sizeof(z), raw, len, 1);
	cr_assert(!ZSTD_isError(zlen));
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), 0);
	cr_assert_eq(b->n_events, 1);
	cr_assert_eq(b->events[0]->report_id, 77);
	cr_assert_str_eq(b->events[0]->process->process->exe, "/usr/bin/dash");
	cr_assert_eq(b->events_lost, 12);
	cr_assert_str_eq(b->device->device_id, "dev-1");
	vigil__v1__batch__free_unpacked(b, NULL);
	free(raw);
}

/*
 * The shipped dictionary: frames made with it name it and decode, frames
 * made without it still decode, and a frame naming another dictionary is
 * refused rather than decoded into garbage.
 */
Test(batch, dictionary_named_in_frame)
{
	struct sample s;
	Vigil__V1__Batch *b;
	uint8_t *z, *plain;
	size_t zlen, plen;

	cr_assert_neq(vg_batch_dict_id(), 0, "the shipped dictionary has no id");
	sample_init(&s);
	vg_batch_use_dict(1);
	cr_assert_eq(vg_batch_pack(&s.b, 3, &z, &zlen), 0);
	cr_assert_eq(ZSTD_getDictID_fromFrame(z, zlen), vg_batch_dict_id());
	cr_assert_eq(vg_batch_unpack(z, zlen, &b), 0);
	cr_assert_str_eq(b->device->device_id, "dev-1");
	vigil__v1__batch__free_unpacked(b, NULL);

	vg_batch_use_dict(0);
	cr_assert_eq(vg_batch_pack(&s.b, 3, &plain, &plen), 0);
	vg_batch_use_dict(1);
	cr_assert_eq(ZSTD_getDictID_fromFrame(plain, plen), 0);
	cr_assert_lt(zlen, plen, "the dictionary did not shrink a typical batch");
	cr_assert_eq(vg_batch_unpack(plain, plen, &b), 0);
	vigil__v1__batch__free_unpacked(b, NULL);
	free(plain);

	{
		/*
		 * Name another dictionary: change the frame header's dictionary id
		 * field (after the magic, the descriptor byte and, unless single
		 * segment, the window byte).
		 */
		uint8_t fhd = z[4];
		size_t at = 5 + ((fhd >> 5) & 1 ? 0 : 1);

		cr_assert_neq(fhd & 3, 0, "frame records no dictionary id");
		z[at] ^= 0x5a;
		cr_assert_neq(ZSTD_getDictID_fromFrame(z, zlen), vg_batch_dict_id());
		cr_assert_eq(vg_batch_unpack(z, zlen, &b), -ENOKEY);
	}
	free(z);
}

/*
 * Bounded before allocation (issue 15, finding 3): what a frame costs is
 * counted on the wire, and protobuf-c unpacks under a budget.
 */

/* zstd of raw (plain, no dictionary), size declared. */
static uint8_t *zstd_of(const uint8_t *raw, size_t len, size_t *zlen)
{
	size_t cap = ZSTD_compressBound(len);
	uint8_t *z = malloc(cap);

	cr_assert_not_null(z);
	*zlen = ZSTD_compress(z, cap, raw, len, 3);
	cr_assert(!ZSTD_isError(*zlen));
	return z;
}

/* n copies of pat, back to back. */
static uint8_t *repeat(const void *pat, size_t plen, size_t n, size_t *len)
{
	uint8_t *r = malloc(plen * n + 1);

	cr_assert_not_null(r);
	for (size_t i = 0; i < n; i++)
		memcpy(r + i * plen, pat, plen);
	*len = plen * n;
	return r;
}

Test(batch, amplification_frame_refused_before_unpacking)
{
	/* The finding: 16.7 million empty events (field 3, length 0) in a 3 KB frame. */
	size_t len, zlen;
	uint8_t *raw = repeat("\x1a\x00", 2, VG_BATCH_MAX_DECODED / 2, &len);
	uint8_t *z = zstd_of(raw, len, &zlen);
	Vigil__V1__Batch *b = (void *)1;
	char why[160];

	free(raw);
	cr_assert_lt(zlen, 8192);
	/*
	 * Unpacking it whole takes 1.7 GB: with 96 MiB of address space to spare
	 * only a refusal before unpacking gets the right error.
	 */
	cap_memory((size_t)96 << 20);
	cr_assert_eq(vg_batch_decode(z, zlen, 1, &b, why, sizeof(why)), -E2BIG, "%s", why);
	cr_assert_null(b);
	cr_assert_str_eq(why, "Batch.events: more than 65536 entries");
	free(z);
}

Test(batch, every_repeated_field_has_a_bound)
{
	const ProtobufCMessageDescriptor *todo[16] = { &vigil__v1__batch__descriptor };
	size_t n = 1, seen = 0;

	/* Every message reachable from Batch (the schema has no cycles). */
	while (seen < n) {
		const ProtobufCMessageDescriptor *d = todo[seen++];

		for (unsigned int i = 0; i < d->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &d->fields[i];

			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				cr_expect_gt(vg_batch_bound(d, f->name), 0, "%s.%s has no bound",
					     d->short_name, f->name);
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				size_t k = 0;

				while (k < n && todo[k] != f->descriptor)
					k++;
				cr_assert_lt(k, 16);
				if (k == n)
					todo[n++] = f->descriptor;
			}
		}
	}
}

Test(batch, nested_repeated_fields_are_counted)
{
	/* One event whose process holds 4097 arguments. */
	size_t alen, len = 0, zlen;
	uint8_t *args = repeat("\x2a\x01x", 3, VG_BATCH_MAX_ARGV + 1, &alen);
	uint8_t *raw = malloc(alen + 32), *z;
	Vigil__V1__Batch *b;
	char why[160];

	/* Batch.events (3) > Event.process (10) > ProcessEvent.process (2) > argv. */
	raw[len++] = 0x1a;
	raw[len++] = (uint8_t)(0x80 | ((alen + 6) & 0x7f));
	raw[len++] = (uint8_t)((alen + 6) >> 7);
	raw[len++] = 0x52;
	raw[len++] = (uint8_t)(0x80 | ((alen + 3) & 0x7f));
	raw[len++] = (uint8_t)((alen + 3) >> 7);
	raw[len++] = 0x12;
	raw[len++] = (uint8_t)(0x80 | (alen & 0x7f));
	raw[len++] = (uint8_t)(alen >> 7);
	memcpy(raw + len, args, alen);
	len += alen;
	z = zstd_of(raw, len, &zlen);
	cr_assert_eq(vg_batch_decode(z, zlen, 1, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Process.argv: more than 4096 entries");
	/* The same bytes uncompressed (a frame without F_ZSTD) are walked alike. */
	cr_assert_eq(vg_batch_decode(raw, len, 0, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Process.argv: more than 4096 entries");
	free(z);
	free(args);
	free(raw);
}

Test(batch, unknown_fields_are_counted)
{
	/* A newer sensor's fields are kept (a copy each): at most 1024 in a message. */
	size_t len;
	uint8_t *raw = repeat("\x98\x06\x00", 3, VG_BATCH_MAX_UNKNOWN + 1, &len);
	Vigil__V1__Batch *b;
	char why[160];

	cr_assert_eq(vg_batch_decode(raw, len, 0, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Batch: more than 1024 unknown fields");
	cr_assert_eq(vg_batch_decode(raw, len - 3, 0, &b, why, sizeof(why)), 0, "%s", why);
	vigil__v1__batch__free_unpacked(b, NULL);
	free(raw);
}

Test(batch, duplicate_and_mistyped_fields_refused)
{
	/* boot_time_ns twice: 16 million of them in a 3 KB frame made protobuf-c scan 500 MB. */
	static const uint8_t twice[] = { 0x08, 0x01, 0x08, 0x02 };
	/* boot_time_ns (a varint) given as 1 byte of length-delimited data. */
	static const uint8_t mistyped[] = { 0x0a, 0x01, 0x01 };
	Vigil__V1__Batch *b;
	char why[160];

	cr_assert_eq(vg_batch_decode(twice, sizeof(twice), 0, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Batch.boot_time_ns: appears more than once");
	cr_assert_eq(vg_batch_decode(mistyped, sizeof(mistyped), 0, &b, why, sizeof(why)),
		     -EBADMSG);
	cr_assert_str_eq(why, "Batch.boot_time_ns: wire type 2 at byte 0");
}

Test(batch, duplicate_message_field_refused)
{
	/* Batch.device twice: protobuf-c would merge the two, at a cost no encoder asks for. */
	static const uint8_t raw[] = { 0x12, 0x03, 0x0a, 0x01, 'a', 0x12, 0x03, 0x0a, 0x01, 'b' };
	Vigil__V1__Batch *b;
	char why[160];

	cr_assert_eq(vg_batch_decode(raw, sizeof(raw), 0, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Batch.device: appears more than once");
}

Test(batch, empty_messages_over_the_budget_refused)
{
	/* 65536 events (within the bound), each an empty process and parent: 55 times its size. */
	size_t len, zlen;
	uint8_t *raw = repeat("\x1a\x08\x52\x06\x12\x00\x1a\x00\x20\x01", 10,
			      VG_BATCH_MAX_EVENTS_WIRE, &len);
	uint8_t *z = zstd_of(raw, len, &zlen);
	Vigil__V1__Batch *b;
	size_t cost;
	char why[160];

	cr_assert_eq(vg_batch_walk(raw, len, SIZE_MAX, &cost, NULL, 0), 0);
	cr_assert_gt(cost, vg_batch_unpack_budget(len));
	cr_assert_eq(vg_batch_decode(z, zlen, 1, &b, why, sizeof(why)), -E2BIG);
	cr_assert_not_null(strstr(why, "unpacking would take more than"), "%s", why);
	free(raw);
	free(z);
}

/* The wire walk's estimate never falls short of what unpacking really holds. */
static void assert_estimate_covers(const uint8_t *raw, size_t len, const char *what)
{
	size_t cost, peak;

	cr_assert_eq(vg_batch_walk(raw, len, SIZE_MAX, &cost, NULL, 0), 0, "%s", what);
	cr_assert_eq(vg_batch_unpack_peak(raw, len, &peak), 0, "%s", what);
	cr_assert_geq(cost, peak, "%s: walk counted %zu, unpacking held %zu", what, cost, peak);
}

Test(batch, walk_estimate_covers_real_unpacking)
{
	struct sample s;
	size_t len;
	uint8_t *raw;

	sample_init(&s);
	len = vigil__v1__batch__get_packed_size(&s.b);
	raw = malloc(len);
	vigil__v1__batch__pack(&s.b, raw);
	assert_estimate_covers(raw, len, "sample");
	free(raw);
	raw = repeat("\x1a\x08\x52\x06\x12\x00\x1a\x00\x20\x01", 10, 1000, &len);
	assert_estimate_covers(raw, len, "empty messages");
	free(raw);
	raw = repeat("\x98\x06\x00", 3, VG_BATCH_MAX_UNKNOWN, &len);
	assert_estimate_covers(raw, len, "unknown fields");
	free(raw);
}

/*
 * The worst vigild can be made to send must decode: a process with 4095
 * empty arguments (an unprivileged `true "" "" ...`) in every event.
 */
/* 512 events whose process and parent have 4095 empty arguments each, packed. */
static uint8_t *argument_heavy(size_t *zlen)
{
	static char *args[4095];
	Vigil__V1__Process p = VIGIL__V1__PROCESS__INIT;
	Vigil__V1__ProcessEvent pe = VIGIL__V1__PROCESS_EVENT__INIT;
	Vigil__V1__Event ev = VIGIL__V1__EVENT__INIT, *evs[512];
	Vigil__V1__Batch in = VIGIL__V1__BATCH__INIT;
	uint8_t *z;

	for (int i = 0; i < 4095; i++)
		args[i] = "";
	p.exe = "/usr/bin/true";
	p.argv = args;
	p.n_argv = 4095;
	pe.process = &p;
	pe.parent = &p;
	ev.body_case = VIGIL__V1__EVENT__BODY_PROCESS;
	ev.process = &pe;
	for (int i = 0; i < 512; i++)
		evs[i] = &ev;
	in.events = evs;
	in.n_events = 512;
	cr_assert_eq(vg_batch_pack(&in, 3, &z, zlen), 0);
	return z;
}

Test(batch, argument_heavy_batch_decodes)
{
	Vigil__V1__Batch *b;
	size_t zlen;
	uint8_t *z = argument_heavy(&zlen);
	char why[160];

	cr_assert_eq(vg_batch_decode(z, zlen, 1, &b, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(b->n_events, 512);
	cr_assert_eq(b->events[511]->process->parent->n_argv, 4095);
	vigil__v1__batch__free_unpacked(b, NULL);
	free(z);
}

/*
 * The host unpacks the events one at a time (vg_batch_open/vg_batch_event):
 * the argument-heavy batch takes 170 MB unpacked whole, but decodes event by
 * event in 48 MiB of address space.
 */
Test(batch, events_unpacked_one_at_a_time)
{
	struct vg_batch v;
	size_t zlen;
	uint8_t *z = argument_heavy(&zlen);
	char why[160];

	cap_memory((size_t)48 << 20);
	cr_assert_eq(vg_batch_open(&v, z, zlen, 1, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(v.n_events, 512);
	cr_assert_eq(v.b->n_events, 0);
	for (size_t i = 0; i < v.n_events; i++) {
		Vigil__V1__Event *e;

		cr_assert_eq(vg_batch_event(&v, i, &e), 0, "event %zu", i);
		cr_assert_eq(e->process->parent->n_argv, 4095);
	}
	vg_batch_close(&v);
	free(z);
}

/*
 * What is decompressed so far is walked as it grows: the amplification frame
 * cut short is refused for its events (seen in its first MiB), not for
 * its missing end, which decompressing it whole would reach first.
 */
Test(batch, amplification_refused_before_decompressing_it_all)
{
	size_t len, zlen;
	uint8_t *raw = repeat("\x1a\x00", 2, VG_BATCH_MAX_DECODED / 2, &len);
	uint8_t *z = zstd_of(raw, len, &zlen), *out;
	Vigil__V1__Batch *b;
	char why[160];

	free(raw);
	cr_assert_eq(vg_zstd_decompress(z, zlen - 64, VG_BATCH_MAX_DECODED, &out, &len), -EBADMSG);
	cr_assert_eq(vg_batch_decode(z, zlen - 64, 1, &b, why, sizeof(why)), -E2BIG);
	cr_assert_str_eq(why, "Batch.events: more than 65536 entries");
	free(z);
}

/*
 * vg_pb_pack() writes protobuf-c's bytes: random messages of every type
 * reachable from Batch (every field set or not, zero, negative, empty,
 * oneofs, nested to the schema's depth, unknown fields), packed both ways.
 */
struct rnd {
	uint64_t s;
	void *held[8192];
	size_t n;
};

static uint64_t rnd_next(struct rnd *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static void *rnd_alloc(struct rnd *r, size_t n)
{
	void *p = calloc(1, n ? n : 1);

	cr_assert_not_null(p);
	cr_assert_lt(r->n, sizeof(r->held) / sizeof(r->held[0]));
	r->held[r->n++] = p;
	return p;
}

static const char *const rnd_strs[] = { "", "x", "/usr/bin/dash", "caf\xc3\xa9 \"quoted\"\n",
					"a string of more than one hundred and twenty-seven bytes, "
					"so that its length takes two bytes of varint on the wire "
					"..............." };

static ProtobufCMessage *rnd_msg(struct rnd *r, const ProtobufCMessageDescriptor *d, int depth);

static void rnd_value(struct rnd *r, const ProtobufCFieldDescriptor *f, void *v, int depth,
		      int in_array)
{
	uint64_t x = rnd_next(r);

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(const char **)v = !in_array && x % 7 == 0 ? NULL : rnd_strs[x % 5];
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)v = (!in_array && x % 5 == 0) || depth > 5 ?
						  NULL :
						  rnd_msg(r, f->descriptor, depth + 1);
		if (in_array && !*(ProtobufCMessage **)v)
			*(ProtobufCMessage **)v = rnd_msg(r, f->descriptor, 99);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = v;

		b->len = x % 3 ? x % 200 : 0;
		b->data = b->len ? (uint8_t *)rnd_strs[4] : NULL;
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)v = x % 2;
		break;
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT: {
		/* zero, small, large, negative */
		uint32_t w = x % 4 == 0 ? 0 :
			     x % 4 == 1 ? (uint32_t)(x >> 40) % 300 :
					  (uint32_t)(x >> 8);

		memcpy(v, &w, 4);
		break;
	}
	default: {
		uint64_t w = x % 4 == 0 ? 0 : x % 4 == 1 ? (x >> 40) % 300 : rnd_next(r);

		memcpy(v, &w, 8);
	}
	}
}

static size_t rnd_elt(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	default:
		return 4;
	}
}

static ProtobufCMessage *rnd_msg(struct rnd *r, const ProtobufCMessageDescriptor *d, int depth)
{
	ProtobufCMessage *m = rnd_alloc(r, d->sizeof_message);

	d->message_init(m);
	if (depth > 5)
		return m; /* an empty message: still written, as a length of 0 */
	for (unsigned int i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *member = (char *)m + f->offset;
		uint64_t x = rnd_next(r);

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = x % 4 == 0 ? 0 : x % 5, es = rnd_elt(f->type);
			char *a = rnd_alloc(r, n * es);

			for (size_t k = 0; k < n; k++)
				rnd_value(r, f, a + k * es, depth, 1);
			*(void **)member = a;
			*(size_t *)((char *)m + f->quantifier_offset) = n;
		} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* The members of a oneof share their place: the last one set is the case. */
			if (x % 3 == 0) {
				rnd_value(r, f, member, depth, 0);
				*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
			}
		} else if (x % 4) {
			rnd_value(r, f, member, depth, 0);
			if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
				*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) =
					x % 3 != 0;
		}
	}
	if (rnd_next(r) % 8 == 0) {
		ProtobufCMessageUnknownField *u = rnd_alloc(r, 2 * sizeof(*u));

		u[0] = (ProtobufCMessageUnknownField){ 900, PROTOBUF_C_WIRE_TYPE_VARINT, 1,
						       (uint8_t *)"\x05" };
		u[1] = (ProtobufCMessageUnknownField){ 70000, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
						       4,
						       (uint8_t *)"\x03"
								  "abc" };
		m->unknown_fields = u;
		m->n_unknown_fields = 1 + rnd_next(r) % 2;
	}
	return m;
}

Test(batch, pb_pack_writes_protobuf_c_bytes)
{
	const ProtobufCMessageDescriptor *todo[16] = { &vigil__v1__batch__descriptor };
	size_t n = 1, seen = 0, compared = 0, oneof_set = 0;
	struct rnd r = { .s = 0x9e3779b97f4a7c15ull };

	while (seen < n) {
		const ProtobufCMessageDescriptor *d = todo[seen++];

		for (unsigned int i = 0; i < d->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &d->fields[i];
			size_t k = 0;

			if (f->type != PROTOBUF_C_TYPE_MESSAGE)
				continue;
			while (k < n && todo[k] != f->descriptor)
				k++;
			cr_assert_lt(k, 16);
			if (k == n)
				todo[n++] = f->descriptor;
		}
		for (int round = 0; round < 300; round++) {
			ProtobufCMessage *m = rnd_msg(&r, d, round % 7 == 0 ? 6 : 0);
			size_t want_len = protobuf_c_message_get_packed_size(m), got_len = 0;
			uint8_t *want = malloc(want_len + 1), *got = NULL;

			cr_assert_not_null(want);
			cr_assert_eq(protobuf_c_message_pack(m, want), want_len);
			cr_assert_eq(vg_pb_pack(m, &got, &got_len), 0);
			cr_assert_eq(got_len, want_len, "%s, round %d: %zu bytes, protobuf-c %zu",
				     d->short_name, round, got_len, want_len);
			cr_assert_eq(memcmp(got, want, want_len), 0, "%s, round %d: other bytes",
				     d->short_name, round);
			for (unsigned int i = 0; i < d->n_fields; i++)
				if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
				    *(uint32_t *)((char *)m + d->fields[i].quantifier_offset))
					oneof_set++;
			compared += want_len;
			free(want);
			free(got);
			while (r.n)
				free(r.held[--r.n]);
		}
	}
	cr_assert_gt(n, 8, "only %zu message types reached", n);
	cr_assert_gt(oneof_set, 100, "the oneofs were hardly set (%zu)", oneof_set);
	cr_log_info("%zu message types, %zu bytes compared", n, compared);
}
