// SPDX-License-Identifier: GPL-2.0-only
/* --probe: what this kernel allows per attach point, and the table users read. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bpf.h"
#include "esc.h"
#include "names.h"
#include "vigil.skel.h"

int vg_bpf_probe(struct vg_bpf *b, const struct vg_bpf_opts *o)
{
	unsigned int want = vg_groups_wanted(o->sources);
	uint32_t ring = vg_ringbuf_size(64);
	int attached = 0;

	vg_bpf_quiet(1);
	for (int g = 0; g < VG_GRP_MAX; g++) {
		struct vg_group_state *st = &b->grp[g];
		enum vg_hook hooks[VG_GRP_MAX], cand[VG_CAND_MAX];
		int n = vg_candidates(o, g, cand);
		size_t used = 0;

		st->hook = VG_HOOK_NONE;
		if (!(want & 1u << g)) {
			snprintf(st->why, sizeof(st->why), "not wanted (--sources)");
			continue;
		}
		st->why[0] = '\0';
		for (int i = 0; i < n && st->hook == VG_HOOK_NONE; i++) {
			struct vigil_bpf *s = NULL;
			int err;

			if (o->deny[g] & 1u << cand[i]) {
				used += snprintf(st->why + used, sizeof(st->why) - used,
						 "%s%s denied by --deny-hook", used ? "; " : "",
						 vg_hook_name(cand[i]));
				continue;
			}
			for (int k = 0; k < VG_GRP_MAX; k++)
				hooks[k] = k == g ? cand[i] : VG_HOOK_NONE;
			err = vg_bpf_load(&s, o, hooks, ring);
			if (err == -ENOENT && cand[i] == VG_HOOK_TP) {
				used += snprintf(st->why + used, sizeof(st->why) - used,
						 "%stp refused: no syscall tracepoints in tracefs",
						 used ? "; " : "");
				continue;
			}
			if (err == -ENOENT && cand[i] == VG_HOOK_FENTRY && g == VG_GRP_SYSX) {
				used += snprintf(
					st->why + used, sizeof(st->why) - used,
					"%sfentry refused: no watched syscall function in BTF",
					used ? "; " : "");
				continue;
			}
			if (err) {
				used += snprintf(st->why + used, sizeof(st->why) - used,
						 "%s%s refused: %s", used ? "; " : "",
						 vg_hook_name(cand[i]), strerror(-err));
				continue;
			}
			vigil_bpf__destroy(s);
			st->hook = cand[i];
			snprintf(st->why + used, sizeof(st->why) - used, "%s%s loads",
				 used ? "; " : "", vg_hook_name(cand[i]));
			attached++;
		}
		if (used >= sizeof(st->why))
			st->why[sizeof(st->why) - 1] = '\0';
	}
	vg_bpf_quiet(0);
	return attached ? 0 : -ENOTSUP;
}

static int vg_src_group(int src, int *second)
{
	*second = -1;
	switch (src) {
	case VG_SRC_EXEC:
		return VG_GRP_EXEC;
	case VG_SRC_FORK:
		return VG_GRP_FORK;
	case VG_SRC_EXIT:
		return VG_GRP_EXIT;
	case VG_SRC_NET:
		*second = VG_GRP_SYSX; /* accept and UDP */
		return VG_GRP_TCP;
	default:
		return VG_GRP_SYSX;
	}
}

void vg_bpf_probe_print(const struct vg_bpf *b, const struct vg_bpf_opts *o, int json)
{
	if (!json)
		printf("%-9s %-9s %-7s %-22s %s\n", "SOURCE", "SUPPORTED", "HOOK", "ATTACH POINT",
		       "WHY");
	for (int src = 0; src < VG_SRC_MAX; src++) {
		int second, g = vg_src_group(src, &second);
		const struct vg_group_state *st = &b->grp[g];
		int wanted = !!(o->sources & 1u << src);
		int ok = wanted && st->hook != VG_HOOK_NONE;
		char why[400], esc[VG_ESC_CHAR_MAX * sizeof(why) + 1];

		snprintf(why, sizeof(why), "%s", wanted ? st->why : "not wanted (--sources)");
		if (ok && second >= 0 && b->grp[second].hook == VG_HOOK_NONE)
			snprintf(why, sizeof(why), "%s; accept and UDP need %s: %s", st->why,
				 vg_group_name(second), b->grp[second].why);
		if (json) {
			printf("{\"source\":\"%s\",\"supported\":%s,\"hook\":\"%s\",\"attach_point\":"
			       "\"%s\",\"fallback\":%s,\"reason\":\"",
			       vg_source_name(src), ok ? "true" : "false",
			       vg_hook_name(ok ? st->hook : VG_HOOK_NONE), vg_group_name(g),
			       ok && st->hook == VG_HOOK_RAW_TP && o->hook != VG_HOOK_RAW_TP ?
				       "true" :
				       "false");
			vg_json_esc(esc, sizeof(esc), why, strlen(why));
			printf("%s\"}\n", esc);
		} else {
			printf("%-9s %-9s %-7s %-22s %s\n", vg_source_name(src), ok ? "yes" : "no",
			       vg_hook_name(ok ? st->hook : VG_HOOK_NONE), vg_group_name(g), why);
		}
	}
	fflush(stdout);
}
