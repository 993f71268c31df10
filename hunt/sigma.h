/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Sigma rules (https://sigmahq.io, specification v2) brought in as vigil
 * detection rules: the YAML read with libyaml under limits (size, depth,
 * nodes, scalar length, no aliases), the logsource mapped to a table of the
 * schema, the fields to its columns as Sigma's Kusto back end maps them for
 * Defender, the detection and condition written as KQL, and title, level,
 * tags and description as the rule's header. Portable C over libyaml.
 */
#ifndef VG_SIGMA_H
#define VG_SIGMA_H

#include <stddef.h>

struct vg_sb;

/* A Sigma file larger than this is refused. */
#define VG_SIGMA_MAX_BYTES (256 * 1024)

/*
 * Translate the Sigma rule text (len bytes, read from path) into the text
 * of a .rule file, appended to out. 0; -EINVAL with "path:line:col:
 * message\n" appended to errors (nothing to out); -ENOMEM.
 */
int vg_sigma_translate(const char *path, const char *text, size_t len, struct vg_sb *out,
		       struct vg_sb *errors);

#endif
