/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `vigil host --upstream URL --onboarding FILE`: every batch frame the host
 * stored goes on to `vigil server` (POST /v1/batches) from the store's
 * outbox (UpstreamOutbox, written with the batch's rows), from a thread of
 * its own, sent again until the server says 200; then it leaves the outbox
 * and its stream's watermark advances (UpstreamStreams). host/outbox.h reads
 * how it goes.
 */
#ifndef VG_UPSTREAM_H
#define VG_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

struct vg_upstream;

/*
 * Read the onboarding package, the token kept in DB.token (enrolment waits
 * for the first frame's device otherwise) and start the sender on the store
 * DB (open already, its tables made). 0 or -errno (logged, naming the file
 * and line).
 */
int vg_upstream_open(struct vg_upstream **u, const char *url, const char *onboarding,
		     const char *db);

/* A batch was stored (its frame is in the outbox): the sender looks now. */
void vg_upstream_wake(struct vg_upstream *u);

/*
 * Stop the sender once the outbox is empty, or after 5 s (an attempt under
 * way is cut short); what is still pending stays in the outbox for the next run.
 */
void vg_upstream_stop(struct vg_upstream *u);
void vg_upstream_close(struct vg_upstream *u);

/*
 * Where the sender goes, for the filter fetcher (upfilters.h): the --upstream
 * servers (n of them), the CA file curl trusts and the file the token is kept
 * in once enrolled. Fixed from vg_upstream_open() to vg_upstream_close().
 */
void vg_upstream_where(const struct vg_upstream *u, const char *const **urls, int *n,
		       const char **ca_file, const char **token_file);
/* The CA file the sender trusts (the package's ca=, or DB.ca.pem). */
const char *vg_upstream_ca(const struct vg_upstream *u);

#endif
