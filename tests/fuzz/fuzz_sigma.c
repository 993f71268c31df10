// SPDX-License-Identifier: GPL-2.0-only
/* The Sigma importer (hunt/sigma.c) on any bytes: a rule or an error, never both. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "sigma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1); /* exactly the file: ASan sees a read past it */
	struct vg_sb out, errors;
	int err;

	if (!s)
		return 0;
	memcpy(s, data, size);
	vg_sb_init(&out);
	vg_sb_init(&errors);
	err = vg_sigma_translate("f.yml", s, size, &out, &errors);
	if (err == -EINVAL ? out.len || !errors.len :
	    err == 0	   ? !out.len || errors.len :
			     err != -ENOMEM)
		abort();
	vg_sb_free(&out);
	vg_sb_free(&errors);
	free(s);
	return 0;
}
