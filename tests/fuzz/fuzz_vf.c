// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the filter language: any input must either be
 * refused with errors or compile into rules whose values stay in bounds;
 * each compiled rule is run through the matcher; the diagnostics hold only
 * printable UTF-8 and newlines, whatever bytes the file held (lib/esc.h).
 * `make check-fuzz-vf` runs it for a bounded time (FUZZ_SECONDS).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "filter.h"
#include "vf_match.h"

static struct vg_vf_set set;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_flt_in in;
	int err, drop;
	char *diag = NULL;
	size_t dlen = 0;
	FILE *df = open_memstream(&diag, &dlen);

	if (!df)
		abort();
	err = vg_vf_parse(&set, "fuzz.vf", (const char *)data, size, df);
	fclose(df);
	if (vg_esc_unsafe_at(diag, dlen) != dlen)
		abort();
	free(diag);
	if (set.n < 0 || set.n > VG_FLT_RULES)
		abort();
	if (err && !set.errors)
		abort();
	for (int i = 0; i < set.n; i++) {
		const struct vg_flt_rule *r = &set.rules[i].k;

		if (r->pre_len > VG_FLT_VAL || r->suf_len > VG_FLT_VAL || r->exe_len > VG_FLT_VAL ||
		    r->pexe_len > VG_FLT_VAL || !r->classes ||
		    (r->action != VG_FLT_DROP && r->action != VG_FLT_KEEP))
			abort();
	}
	memset(&in, 0, sizeof(in));
	in.cls = VG_CLASS_FILE;
	if (size)
		memcpy(in.head, data, size < VG_FLT_VAL ? size : VG_FLT_VAL);
	in.path_len = in.tail_len = size < VG_FLT_VAL ? size : VG_FLT_VAL;
	memcpy(in.exe.head, in.head, VG_FLT_VAL);
	in.exe.len = in.path_len;
	in.pexe = in.exe;
	vg_vf_judge(&set, &in, &drop);
	return 0;
}
