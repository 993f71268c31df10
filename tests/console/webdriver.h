/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Headless Chromium for the console tests (webdriver.c): chromedriver's
 * WebDriver HTTP API spoken with libcurl. Each helper fails the test with a
 * reason; waits are bounded, never timed assertions.
 */
#ifndef VG_WEBDRIVER_H
#define VG_WEBDRIVER_H

/* Start chromedriver and a headless Chromium session (profile under dir). */
void wd_start(const char *dir);
/* End the session and chromedriver (nothing when not started). */
void wd_stop(void);
void wd_go(const char *url);
/* Run script (it returns a string) in the page: the string, valid until the next call. */
const char *wd_js(const char *script);
/* Wait (bounded) until script returns "1" in a loaded page. */
void wd_wait(const char *script);
/* Clear the element css selects and type text into it. */
void wd_type(const char *css, const char *text);
/* Click the (first) element css selects, as a user does. */
void wd_click(const char *css);
/* A PNG of the page into $VG_SHOTS/name.png (VG_SHOTS unset: nothing). */
void wd_shot(const char *name);

#endif
