/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The plug-in's sender to `vigil server` (plugin/winup.c): WinHTTP through
 * the proxy the seed's order picks (winproxy.h), TLS checked against the
 * onboarding package's CA only. The protocol is host/upproto.h's, shared
 * with `vigil host --upstream` (cli/upstream.c).
 */
#ifndef VG_WINUP_H
#define VG_WINUP_H

#include <stddef.h>
#include <stdint.h>

#include "winconf.h"

struct vg_winup;

/* Where a sender that could not start says why: HostState name and value (NULL: delete). */
typedef void (*vg_winup_state_fn)(const char *name, const char *value);

/*
 * Read the onboarding package (OnboardingPath), the token of an earlier
 * enrolment (DB.token) and start the sender thread, which ships the
 * store's outbox (c->db, opened with vg_store_set_outbox()) on its own
 * connection, what earlier runs left pending first. 0 or a negative errno
 * (logged, and recorded in HostState as Upstream*, host/outbox.h).
 */
int vg_winup_open(struct vg_winup **u, const struct vg_win_conf *c, vg_winup_state_fn state);

/* A batch was stored (and so is in the outbox): the sender looks. */
void vg_winup_wake(struct vg_winup *u);

/*
 * Stop once the outbox is empty, or after 5 s; what is left stays pending
 * in the store for the next start. Then free u. NULL is fine.
 */
void vg_winup_close(struct vg_winup *u);

/*
 * The connectivity test against the server: GET URL/v1/health through the
 * chosen proxy with the onboarding CA, as the telemetry goes. result gets
 * "passed: ..." or "failed: <reason>"; 0 when passed.
 */
int vg_winup_conntest(const struct vg_win_conf *c, char *result, size_t n);

#endif
