/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The upstream protocol both senders speak to `vigil server` (cli/upstream.c
 * with libcurl, plugin/winup.c with WinHTTP): the onboarding package, the
 * enrolment request and its answer, what an answer to a batch means, the
 * wait between attempts. No I/O here: the transports read files and send.
 */
#ifndef VG_UPPROTO_H
#define VG_UPPROTO_H

#include <stddef.h>

#define VG_UPP_TOKEN_MAX 128
#define VG_UPP_WAIT_MIN_MS 250
#define VG_UPP_WAIT_MAX_MS 30000
#define VG_UPP_RETRY_AFTER_MAX 300 /* s */
/* An onboarding package larger than this is not one. */
#define VG_UPP_ONBOARDING_MAX (1u << 20)

/* The package of `vigil server onboard`, parsed in place: pointers into its text, NULL if absent. */
struct vg_upp_onboarding {
	const char *url; /* url= */
	const char *ca; /* ca= a PEM file */
	const char *ca_pem; /* ca_pem= the PEM in base64 */
	const char *secret; /* secret= */
};

/*
 * Parse text (NUL-terminated, rewritten in place) as an onboarding package:
 * url=, ca= or ca_pem=, secret= lines, # comments, blank lines. name says
 * where it came from in the messages ("NAME:LINE: ..."). 0, or -EINVAL (logged).
 */
int vg_upp_onboarding_parse(char *text, const char *name, struct vg_upp_onboarding *ob);

/* The body of POST /v1/enroll. 0, or -ENOSPC when it does not fit n bytes. */
int vg_upp_enroll_body(char *out, size_t n, const char *secret, const char *device_id,
		       const char *device_name);

/* The token of an enrolment's answer ({"token":"<hex>"}) into token (VG_UPP_TOKEN_MAX + 1). 0 or -EINVAL. */
int vg_upp_enroll_token(const char *resp, char *token);

/* A kept token is letters, digits, '-' and '_' only (it goes into a header): 1 when it is. */
int vg_upp_token_ok(const char *token);

/*
 * POST /v1/batches: one frame (VG_UPP_CT_FRAME, the Windows plug-in's and
 * older hosts'), or with VG_UPP_CT_FRAMES up to VG_UPP_FRAMES_MAX frames back
 * to back, each its own header and batch, VG_UPP_BODY_MAX bytes in all (the
 * one frame's bound: a server holds no more per request either way). The
 * answer to several: 200 {"frames":[...]}, one member per frame in order:
 * {"stored":true}, {"stored":false} (a resend) or {"status":4xx,"error":"..."}.
 */
#define VG_UPP_CT_FRAME "application/vnd.vigil.frame"
#define VG_UPP_CT_FRAMES "application/vnd.vigil.frames"
#define VG_UPP_FRAMES_MAX 64
#define VG_UPP_BODY_MAX (24u + (4u << 20))

/*
 * The answer to VG_UPP_CT_FRAMES (its body, NUL-terminated) into status[0..n-1]:
 * 200 stored (or stored before), else the frame's 4xx. 0, or -EBADMSG when
 * the answer is not n such members.
 */
int vg_upp_frames_answer(const char *resp, long *status, size_t n);

/* What the server's answer to a batch (HTTP status; 0: no answer) means. */
enum vg_upp_verdict {
	VG_UPP_STORED, /* 200: stored (or already was) */
	VG_UPP_RETRY, /* no answer, 5xx, 408, 429: the same batch again later */
	VG_UPP_REFUSED, /* another 4xx (a revoked token: 403): this batch never will be (counted) */
};
enum vg_upp_verdict vg_upp_verdict(long status);

/*
 * How many of the n answers in status[] (vg_upp_frames_answer) lead up to
 * the first that is not final (408, 429: vg_upp_verdict's RETRY): those
 * frames are done, stored or refused; the rest are sent again.
 */
size_t vg_upp_frames_final(const long *status, size_t n);

/*
 * 401, or 403 for the token itself (not for one frame's device): the
 * server refuses this host's credential; its frames are kept, not dropped.
 */
int vg_upp_credential_refused(long status, const char *body);

/* The wait after wait_ms: doubled, at most VG_UPP_WAIT_MAX_MS. */
long vg_upp_backoff(long wait_ms);

/* A Retry-After header's value in seconds, bounded by VG_UPP_RETRY_AFTER_MAX; -1 when not a number. */
long vg_upp_retry_after(const char *value);

#endif
