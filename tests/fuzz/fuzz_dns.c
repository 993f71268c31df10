// SPDX-License-Identifier: GPL-2.0-only
/*
 * The DNS reply parser (lib/dns.c) on any bytes, as a whole reply and as a
 * copy cut short of a longer one: no read past the copy, every name and
 * datum NUL-terminated within its buffer, a refusal always with a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

static struct vg_dns_reply r;

static void check(int err)
{
	if (err && (err != -EBADMSG || !r.why))
		abort();
	if (err)
		return;
	if (r.nanswers > VG_DNS_ANSWERS_MAX || !memchr(r.qname, 0, sizeof(r.qname)))
		abort();
	for (unsigned int i = 0; i < r.nanswers; i++)
		if (!memchr(r.an[i].name, 0, sizeof(r.an[i].name)) ||
		    !memchr(r.an[i].data, 0, sizeof(r.an[i].data)) ||
		    !vg_dns_type_name(r.an[i].type))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *m = malloc(size ? size : 1); /* exactly the copy: ASan sees a read past it */

	if (!m)
		return 0;
	memcpy(m, data, size);
	check(vg_dns_reply_parse(m, size, size, &r));
	check(vg_dns_reply_parse(m, size, size + 100, &r));
	free(m);
	return 0;
}
