// SPDX-License-Identifier: GPL-2.0-only
/* vigil server's enrolment body parser (server/enroll_json.c) on any bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "secret", "device_id", "device_name" };
	const char *vals[3] = { NULL, NULL, NULL };
	char *s = malloc(size ? size : 1); /* exactly the body: ASan sees a read past it */

	if (!s)
		return 0;
	memcpy(s, data, size);
	if (!vg_enroll_parse(s, size, keys, vals, 3))
		for (int i = 0; i < 3; i++)
			if (vals[i] && (vals[i] < s || vals[i] + strlen(vals[i]) >= s + size))
				abort(); /* a value must lie inside the body, its NUL too */
	free(s);
	return 0;
}
