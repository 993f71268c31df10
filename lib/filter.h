/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The filter language (filters/NAME.vf): parse and check a rule file,
 * compile it into the kernel's struct vg_flt_rule, and judge events in
 * userspace with the kernel's own matcher (kern/vf_match.h).
 */
#ifndef VG_FILTER_H
#define VG_FILTER_H

#include <stddef.h>
#include <stdio.h>

#include "vigil_abi.h"

#define VG_VF_TEXT 160 /* rule text kept for reports */
#define VG_VF_LINE_MAX 1024

struct vg_vf_rule {
	struct vg_flt_rule k; /* what the kernel gets */
	int line;
	char text[VG_VF_TEXT];
};

struct vg_vf_set {
	struct vg_vf_rule rules[VG_FLT_RULES]; /* the rules the kernel evaluates, in file order */
	int n;
	__u64 matched[VG_FLT_RULES]; /* replay: matches per rule so far (sampling) */
	int errors, warnings;
};

/*
 * Parse and check a rule file's text; name is used in messages, which go to
 * diag (NULL: none) as "name:line:col: message", the line and a caret.
 * Returns 0, or -EINVAL when there were errors.
 */
int vg_vf_parse(struct vg_vf_set *set, const char *name, const char *text, size_t len, FILE *diag);
/* The same from a file; -errno when it cannot be read, -EFBIG when over VG_VF_FILE_MAX. */
int vg_vf_parse_file(struct vg_vf_set *set, const char *path, FILE *diag);

#define VG_VF_FILE_MAX (1u << 20) /* bytes of a rule file */
/* A rule file whole: *text (malloc'd, NUL-terminated) and *len; -errno, or -EFBIG when too big. */
int vg_vf_read_file(const char *path, char **text, size_t *len);

/*
 * The executables of a replayed capture's processes, kept as the kernel
 * keeps them for exe and parent_exe: set at exec (and by the snapshot
 * records a capture begins with), copied at fork, removed at exit.
 */
struct vg_vf_procs;
struct vg_vf_procs *vg_vf_procs_new(void);
void vg_vf_procs_free(struct vg_vf_procs *procs);
/* Follow one record (in time order); other records are ignored. 0, or -ENOMEM. */
int vg_vf_procs_track(struct vg_vf_procs *procs, const void *rec, size_t size);

/*
 * The matcher input of a ring buffer record, built as the kernel builds it,
 * with the executables from procs (NULL: unknown); 0, or -1 for records
 * filters do not judge (process events, summaries, bad records).
 */
int vg_vf_input(struct vg_flt_in *in, const void *rec, size_t size,
		const struct vg_vf_procs *procs);
/* Index of the rule that decides, or -1; *drop says whether it drops. */
int vg_vf_judge(struct vg_vf_set *set, const struct vg_flt_in *in, int *drop);

#endif
