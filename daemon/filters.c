// SPDX-License-Identifier: GPL-2.0-only
/* Filter rule sets: checked, swapped into the kernel, the running one kept on errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/* Swap a checked rule set into the kernel (it becomes d->filters), or keep the running one. */
static int vg_use_filters(struct vg_daemon *d, struct vg_vf_set *set, const char *name)
{
	struct vg_flt_rule rules[VG_FLT_RULES];
	int err, i;

	for (i = 0; i < set->n; i++)
		rules[i] = set->rules[i].k;
	err = vg_bpf_filters(&d->bpf, rules, set->n);
	if (err) {
		free(set);
		return err;
	}
	free(d->filters);
	d->filters = set;
	d->filter_gen++;
	vg_log(VG_INFO, "filters: %d rules from %s (generation %llu)", set->n, name,
	       (unsigned long long)d->filter_gen);
	return 0;
}

int vg_load_filters(struct vg_daemon *d)
{
	struct vg_vf_set *set;
	int err;

	if (!d->o.filters)
		return 0;
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	err = vg_vf_parse_file(set, d->o.filters, stderr);
	if (err) {
		free(set);
		if (err == -EINVAL)
			return vg_err(err, "%s has errors; filters unchanged", d->o.filters);
		return vg_err(err, "read %s", d->o.filters);
	}
	return vg_use_filters(d, set, d->o.filters);
}

_Static_assert(VG_VF_FILE_MAX <= VG_CONTROL_BODY_MAX, "a rule file must fit a control command");

void vg_filter_text(struct vg_daemon *d, const char *name, const char *text, size_t len, char *out,
		    size_t size)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char *diag = NULL;
	size_t dlen = 0;
	FILE *df = open_memstream(&diag, &dlen);
	int err;

	if (!set || !df) {
		snprintf(out, size, "error: out of memory");
		goto out;
	}
	err = vg_vf_parse(set, name, text, len, df);
	fclose(df);
	df = NULL;
	if (err) {
		snprintf(out, size, "error: %d errors; filters unchanged\n%s", set->errors, diag);
		vg_log(VG_WARN, "filters from %s: %d errors; filters unchanged", name, set->errors);
		vg_log_lines(VG_WARN, diag);
		goto out;
	}
	err = vg_use_filters(d, set, name);
	set = NULL;
	if (err)
		snprintf(out, size, "error: %s; filters unchanged", strerror(-err));
	else
		snprintf(out, size, "ok: %d rules, generation %llu%s%s", d->filters->n,
			 (unsigned long long)d->filter_gen, dlen ? "\n" : "", diag);
out:
	if (df)
		fclose(df);
	free(diag);
	free(set);
}
