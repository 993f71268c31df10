/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * healthcheck --supportBundle: one tar archive (ustar, readable by any tar)
 * with what support needs to see, secrets redacted. Portable C.
 */
#ifndef VG_BUNDLE_H
#define VG_BUNDLE_H

#include <stddef.h>

struct vg_store;
struct vg_health;

/* What the platform adds: its configuration and the sensor's probe output. */
struct vg_bundle_extra {
	const char *config; /* "name=value" lines: registry values or host config */
	const char *probe; /* vigild --probe output, or why there is none */
	const char *logs; /* recent log lines, or where the logs are */
};

/*
 * Write dir/vigil-support-<UTC time>.tar holding health.json, hoststate.txt,
 * stats.json, config.txt, probe.txt, logs.txt, spool.txt and MANIFEST.
 * s may be NULL (no store yet). 0 with the path in out, or a negative errno
 * (logged).
 */
int vg_bundle_write(const char *dir, struct vg_store *s, const struct vg_health *h,
		    const struct vg_bundle_extra *x, char *out, size_t n);

#endif
