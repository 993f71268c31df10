/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The upstream outbox as the store holds it (vigil host --upstream,
 * cli/upstream.c): frames not yet shipped (UpstreamOutbox), the watermark
 * per stream (UpstreamStreams), frames retention removed before they were
 * shipped (HostCounters UpstreamLost), and the sender's state (HostState
 * Upstream*). What `vigil stats`, healthcheck and --metrics show of it.
 * Portable C over SQLite.
 */
#ifndef VG_OUTBOX_H
#define VG_OUTBOX_H

#include <stdint.h>
#include <stdio.h>

struct sqlite3;

/* Sender states (HostState UpstreamState). */
#define VG_UP_SHIPPING "shipping" /* the last attempt was stored, or nothing to send */
#define VG_UP_UNREACHABLE "unreachable" /* no answer, 5xx or 429: sent again soon */
#define VG_UP_REFUSED "refused" /* token revoked or unknown, enrolment refused: kept, rechecked */

/* HostCounters Name for what retention removed from the outbox; Label "frames" or "events". */
#define VG_UP_LOST "UpstreamLost"

/* SQL: the seconds from an ISO 8601 expression to now, by SQLite (portable, no timegm). */
#define VG_OUTBOX_AGE(expr) \
	"coalesce(CAST((julianday('now') - julianday(" expr ")) * 86400 AS INTEGER), 0)"

struct vg_outbox_state {
	char url[256]; /* "" when this store's host never ran with --upstream */
	char state[16];
	char error[256];
	char since[32]; /* ISO 8601 */
	int64_t failing_s; /* seconds since `since` while state is not shipping, else 0 */
	int64_t frames, events; /* pending */
	int64_t lag_s; /* age of the oldest pending frame (stored how long ago); 0 when none */
	int64_t lost_frames, lost_events;
	char shipped[32]; /* when a frame was last shipped, "" never */
};

/* Read o from db (a store without the tables reads as never configured). 0 or -errno. */
int vg_outbox_read(struct sqlite3 *db, struct vg_outbox_state *o);

/*
 * `vigil stats`' upstream section: the state, pending and lag, then the
 * watermark per stream; one JSON object per line when json. Nothing when
 * the store never had --upstream. 0, -EPIPE or -errno.
 */
int vg_outbox_print(struct sqlite3 *db, FILE *out, int json);

/*
 * The sender's side, for both senders (cli/upstream.c with libcurl,
 * plugin/winup.c with WinHTTP): each works on its own connection to the
 * store, reads the oldest pending frame, sends it, and only after the
 * server's answer marks it done.
 */

/* The oldest row of UpstreamOutbox, copied out: no read transaction is held while it is sent. */
struct vg_outbox_frame {
	int64_t id, stream, seq, events;
	char device_id[128], device_name[128];
	size_t len;
	uint8_t data[];
};

/* What the sender last wrote to HostState, so it writes only changes. */
struct vg_outbox_sender {
	struct sqlite3 *db; /* the sender's own connection */
	char state[16], error[256];
};

/*
 * Open the sender's connection to the store at path (its tables exist
 * already: the host opened it with vg_store_set_outbox()) and record url
 * in HostState; the earlier run's state is cleared (the last error stays).
 * 0 or -errno, logged.
 */
int vg_outbox_sender_open(struct vg_outbox_sender *s, const char *path, const char *url);
void vg_outbox_sender_close(struct vg_outbox_sender *s);

/* The oldest pending frame into *out (malloc'd): 1, 0 when none, or -errno. */
int vg_outbox_next(struct vg_outbox_sender *s, struct vg_outbox_frame **out);
/*
 * The oldest pending frames, in order, into out[] (each malloc'd): at most
 * max, and past the first no more than max_bytes of frames in all. How
 * many (0 when none), or -errno (none kept).
 */
int vg_outbox_next_n(struct vg_outbox_sender *s, struct vg_outbox_frame **out, int max,
		     size_t max_bytes);

/*
 * f is done: stored upstream (its stream's watermark advances) or refused
 * (counted in HostRefused with reason); either way it leaves the outbox,
 * in one transaction. A frame retention removed meanwhile was counted
 * lost: a stored one is taken back out of that count. On failure the frame
 * stays and is sent again (stored once upstream all the same).
 */
void vg_outbox_done(struct vg_outbox_sender *s, const struct vg_outbox_frame *f, int stored);
/* As vg_outbox_done() for fv[0..n-1] (stored[i] each), all in one transaction. */
void vg_outbox_done_n(struct vg_outbox_sender *s, struct vg_outbox_frame *const *fv,
		      const int *stored, int n);

/*
 * How shipping goes, into HostState when it changed: state (VG_UP_*) and
 * the error (NULL: the last one stays). Failing since: the first failure
 * after shipping went well.
 */
void vg_outbox_state(struct vg_outbox_sender *s, const char *state, const char *error);

/* HostRefused Reason for a frame the server refused. */
#define VG_UP_REFUSED_REASON "upstream: frame refused by the server"

#endif
