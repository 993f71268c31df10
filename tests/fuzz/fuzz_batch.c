// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a BATCH payload, both as the zstd
 * frame the host decompresses (bounded) and as an uncompressed Batch,
 * decoded as the host decodes them (vg_batch_decode); what decodes is
 * checked against the field bounds and walked. And the wire walk must never
 * count less than protobuf-c then really holds while it unpacks.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "wire.h"

static void walk(const Vigil__V1__Batch *b)
{
	size_t n = 0;

	if (vg_batch_check(b))
		abort(); /* vg_batch_decode() let a batch over a bound through */
	for (size_t i = 0; i < b->n_events; i++) {
		const Vigil__V1__Event *e = b->events[i];

		if (e->body_case == VIGIL__V1__EVENT__BODY_PROCESS && e->process &&
		    e->process->process) {
			const Vigil__V1__Process *p = e->process->process;

			for (size_t k = 0; k < p->n_argv; k++)
				n += strlen(p->argv[k]);
			if (p->exe)
				n += strlen(p->exe);
		}
	}
	for (size_t i = 0; i < b->n_counters; i++)
		if (b->counters[i]->event_class)
			n += strlen(b->counters[i]->event_class);
	if (n == (size_t)-1)
		abort();
}

/* protobuf-c's peak while unpacking, counted as lib/batch.c's budget allocator counts it. */
struct counting {
	ProtobufCAllocator a;
	size_t used, peak;
};

static void *count_alloc(void *data, size_t n)
{
	struct counting *c = data;
	void *p = malloc(n ? n : 1);

	if (p)
		c->used += malloc_usable_size(p) + VG_BATCH_ALLOC_OVERHEAD;
	if (c->used > c->peak)
		c->peak = c->used;
	return p;
}

static void count_free(void *data, void *p)
{
	struct counting *c = data;

	if (p)
		c->used -= malloc_usable_size(p) + VG_BATCH_ALLOC_OVERHEAD;
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct counting c = { .a = { count_alloc, count_free, &c } };
	Vigil__V1__Batch *b = NULL;
	char why[160];
	size_t cost;

	for (int zstd = 0; zstd <= 1; zstd++) {
		if (vg_batch_decode(data, size, zstd, &b, why, sizeof(why)) == 0) {
			walk(b);
			vigil__v1__batch__free_unpacked(b, NULL);
		}
	}
	if (vg_batch_walk(data, size, vg_batch_unpack_budget(size), &cost, NULL, 0) == 0) {
		b = vigil__v1__batch__unpack(&c.a, size, data);
		if (b) {
			if (c.peak > cost)
				abort(); /* the walk counted less than unpacking held */
			vigil__v1__batch__free_unpacked(b, &c.a);
		}
	}
	return 0;
}
