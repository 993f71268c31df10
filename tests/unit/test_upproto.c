// SPDX-License-Identifier: GPL-2.0-only
/*
 * The upstream protocol both senders share (host/upproto.h): the onboarding
 * package as `vigil server onboard` writes it and as an attacker might, the
 * enrolment body's escaping, the token in the answer, what a status means.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "upproto.h"

Test(upproto, onboarding_as_the_server_writes_it)
{
	char text[] = "url=https://s.example:8443\r\nca_pem=QUJD\n# a comment\n\nsecret=s3cr3t\n";
	struct vg_upp_onboarding ob;

	cr_assert_eq(vg_upp_onboarding_parse(text, "ob.txt", &ob), 0);
	cr_assert_str_eq(ob.url, "https://s.example:8443");
	cr_assert_str_eq(ob.ca_pem, "QUJD");
	cr_assert_null(ob.ca);
	cr_assert_str_eq(ob.secret, "s3cr3t");
}

Test(upproto, onboarding_refused)
{
	static const char *const bad[] = {
		"ca=/a.pem\n", /* no secret */
		"secret=x\n", /* no CA */
		"secret=\nca=/a.pem\n", /* an empty secret */
		"secret=x\nca=/a.pem\nca_pem=QUJD\n", /* two CAs */
		"secret=x\nsecret=y\nca=/a.pem\n", /* the secret twice */
		"secret=x\nca=/a.pem\nurl=a\nurl=b\n", /* the URL twice */
		"secret=x\nca=/a.pem\nproxy=p\n", /* unknown */
		"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vg_upp_onboarding ob;
		char text[128];

		snprintf(text, sizeof(text), "%s", bad[i]);
		cr_assert_eq(vg_upp_onboarding_parse(text, "ob.txt", &ob), -EINVAL, "%s", bad[i]);
	}
}

Test(upproto, enroll_body_escapes_every_string)
{
	char out[256];

	cr_assert_eq(vg_upp_enroll_body(out, sizeof(out), "s\"\\", "id\n1", ""), 0);
	/* No name: the device's id stands in. */
	cr_assert_str_eq(out, "{\"secret\":\"s\\\"\\\\\",\"device_id\":\"id\\u000a1\","
			      "\"device_name\":\"id\\u000a1\"}");
	cr_assert_eq(vg_upp_enroll_body(out, 40, "secret", "device", "name"), -ENOSPC);
}

Test(upproto, token_from_the_answer)
{
	char t[VG_UPP_TOKEN_MAX + 1];

	cr_assert_eq(vg_upp_enroll_token("{\"token\":\"00ff1a\"}", t), 0);
	cr_assert_str_eq(t, "00ff1a");
	cr_assert_eq(vg_upp_enroll_token("{\"token\":\"\"}", t), -EINVAL);
	cr_assert_eq(vg_upp_enroll_token("{\"token\":\"ab\r\nX-Evil: 1\"}", t), -EINVAL);
	cr_assert_eq(vg_upp_enroll_token("{\"error\":\"no\"}", t), -EINVAL);
	cr_assert(vg_upp_token_ok("a-Z_9"));
	cr_assert(!vg_upp_token_ok("ab\r\nX: y"));
}

Test(upproto, verdicts_and_waits)
{
	cr_assert_eq(vg_upp_verdict(200), VG_UPP_STORED);
	cr_assert_eq(vg_upp_verdict(0), VG_UPP_RETRY);
	cr_assert_eq(vg_upp_verdict(503), VG_UPP_RETRY);
	cr_assert_eq(vg_upp_verdict(429), VG_UPP_RETRY);
	cr_assert_eq(vg_upp_verdict(408), VG_UPP_RETRY);
	cr_assert_eq(vg_upp_verdict(403), VG_UPP_REFUSED);
	cr_assert_eq(vg_upp_verdict(413), VG_UPP_REFUSED);
	cr_assert_eq(vg_upp_backoff(250), 500);
	cr_assert_eq(vg_upp_backoff(20000), VG_UPP_WAIT_MAX_MS);
	cr_assert_eq(vg_upp_retry_after(" 7\r\n"), 7);
	cr_assert_eq(vg_upp_retry_after("-3"), 0);
	cr_assert_eq(vg_upp_retry_after("99999"), VG_UPP_RETRY_AFTER_MAX);
	cr_assert_eq(vg_upp_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), -1);
}

/*
 * Per frame, 408 and 429 mean "later", as they do for a request: the frames
 * up to the first such are done (stored or refused), it and the rest are sent again.
 */
Test(upproto, frames_final_stops_at_the_first_later)
{
	long st[5] = { 200, 400, 200, 429, 200 };

	cr_assert_eq(vg_upp_frames_final(st, 5), 3);
	st[3] = 408;
	cr_assert_eq(vg_upp_frames_final(st, 5), 3);
	st[3] = 403;
	cr_assert_eq(vg_upp_frames_final(st, 5), 5);
	st[0] = 429;
	cr_assert_eq(vg_upp_frames_final(st, 5), 0);
	cr_assert_eq(vg_upp_frames_final(st, 0), 0);
}

/* The answer to several frames, as server/server.c writes it, and what is not one. */
Test(upproto, frames_answer_per_frame_in_order)
{
	long st[4];

	cr_assert_eq(
		vg_upp_frames_answer("{\"frames\":[{\"stored\":true},{\"status\":400,\"error\":"
				     "\"a } and a \\\" in it\"},{\"stored\":false},"
				     "{\"status\":403,\"error\":\"device\"}]}",
				     st, 4),
		0);
	cr_assert_eq(st[0], 200);
	cr_assert_eq(st[1], 400);
	cr_assert_eq(st[2], 200);
	cr_assert_eq(st[3], 403);
	/* Fewer or more members than frames sent, a status that is no refusal, junk: none. */
	cr_assert_eq(vg_upp_frames_answer("{\"frames\":[{\"stored\":true}]}", st, 2), -EBADMSG);
	cr_assert_eq(
		vg_upp_frames_answer("{\"frames\":[{\"stored\":true},{\"stored\":true}]}", st, 1),
		-EBADMSG);
	cr_assert_eq(vg_upp_frames_answer("{\"frames\":[{\"status\":503}]}", st, 1), -EBADMSG);
	cr_assert_eq(vg_upp_frames_answer("{\"frames\":[{\"status\":400,\"error\":\"cut", st, 1),
		     -EBADMSG);
	cr_assert_eq(vg_upp_frames_answer("{\"stored\":true}", st, 1), -EBADMSG);
	cr_assert_eq(vg_upp_frames_answer("{\"frames\":[{\"stored\":maybe}]}", st, 1), -EBADMSG);
}
