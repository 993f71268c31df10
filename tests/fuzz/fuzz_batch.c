// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a BATCH payload, both as the zstd
 * frame the host decompresses (bounded) and as an uncompressed Batch,
 * decoded as the host decodes them (vg_batch_decode); what decodes is
 * checked against the field bounds, walked, and packed again by vg_pb_pack()
 * (protobuf-c's bytes). And the wire walk must never count less than
 * protobuf-c then really holds while it unpacks.
 */
#include <errno.h>
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

/* What decoded, packed again by vigild's encoder, is protobuf-c's bytes. */
static void repack(const Vigil__V1__Batch *b)
{
	size_t want_len = vigil__v1__batch__get_packed_size(b), got_len;
	uint8_t *want = malloc(want_len ? want_len : 1), *got;

	if (!want || vg_pb_pack(&b->base, &got, &got_len))
		abort();
	vigil__v1__batch__pack(b, want);
	if (got_len != want_len || memcmp(got, want, want_len))
		abort();
	free(want);
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Vigil__V1__Batch *b = NULL;
	size_t cost, peak;
	char why[160];

	for (int zstd = 0; zstd <= 1; zstd++) {
		if (vg_batch_decode(data, size, zstd, &b, why, sizeof(why)) == 0) {
			walk(b);
			repack(b);
			vigil__v1__batch__free_unpacked(b, NULL);
		}
	}
	if (vg_batch_walk(data, size, vg_batch_unpack_budget(size), &cost, NULL, 0) == 0) {
		int err = vg_batch_unpack_peak(data, size, &peak);

		/* The walk counted less than unpacking held, or the budget lost count. */
		if ((err == 0 && peak > cost) || err == -EIO)
			abort();
	}
	return 0;
}
