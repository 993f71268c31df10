// SPDX-License-Identifier: GPL-2.0-only
/* Headless Chromium through chromedriver's WebDriver HTTP API (webdriver.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <nettle/base64.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "webdriver.h"

static pid_t wd_pid = -1;
static int wd_port;
static char wd_sess[128];
static char *wd_resp; /* the last response body */
static char *wd_val; /* the last decoded string */

/* A port nobody listens on now (chromedriver takes it next). */
static int wd_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), p;

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &l), 0);
	p = ntohs(a.sin_port);
	close(s);
	return p;
}

static size_t wd_write(char *ptr, size_t size, size_t n, void *f)
{
	return fwrite(ptr, size, n, f);
}

/* method path body: the HTTP status (0: no connection); the body in wd_resp. */
static long wd_http(const char *method, const char *path, const char *body)
{
	char url[512];
	size_t len = 0;
	long code = 0;
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	FILE *f;

	free(wd_resp);
	wd_resp = NULL;
	f = open_memstream(&wd_resp, &len);
	cr_assert(c && f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", wd_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wd_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	fclose(f);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

static void wd_ok(const char *method, const char *path, const char *body)
{
	long code = wd_http(method, path, body);

	cr_assert_eq(code, 200, "webdriver %s %s %s: %ld %s", method, path, body ? body : "", code,
		     wd_resp ? wd_resp : "");
}

/* s as a JSON string appended to f. */
static void wd_jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void wd_utf8(FILE *f, unsigned int cp)
{
	if (cp < 0x80) {
		fputc((int)cp, f);
	} else if (cp < 0x800) {
		fputc(0xc0 | (cp >> 6), f);
		fputc(0x80 | (cp & 0x3f), f);
	} else if (cp < 0x10000) {
		fputc(0xe0 | (cp >> 12), f);
		fputc(0x80 | ((cp >> 6) & 0x3f), f);
		fputc(0x80 | (cp & 0x3f), f);
	} else {
		fputc(0xf0 | (cp >> 18), f);
		fputc(0x80 | ((cp >> 12) & 0x3f), f);
		fputc(0x80 | ((cp >> 6) & 0x3f), f);
		fputc(0x80 | (cp & 0x3f), f);
	}
}

/* The JSON string after "key": in wd_resp, decoded into wd_val. */
static const char *wd_str(const char *key)
{
	char pat[64];
	const char *p;
	size_t len = 0;
	FILE *f;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = wd_resp ? strstr(wd_resp, pat) : NULL;
	cr_assert_not_null(p, "webdriver: no %s in %s", key, wd_resp ? wd_resp : "");
	p += strlen(pat);
	while (*p == ' ')
		p++;
	cr_assert_eq(*p, '"', "webdriver: %s is not a string: %s", key, wd_resp);
	free(wd_val);
	wd_val = NULL;
	f = open_memstream(&wd_val, &len);
	cr_assert_not_null(f);
	for (p++; *p && *p != '"'; p++) {
		unsigned int cp, lo;

		if (*p != '\\') {
			fputc(*p, f);
			continue;
		}
		switch (*++p) {
		case 'n':
			fputc('\n', f);
			break;
		case 't':
			fputc('\t', f);
			break;
		case 'r':
			fputc('\r', f);
			break;
		case 'b':
			fputc('\b', f);
			break;
		case 'f':
			fputc('\f', f);
			break;
		case 'u':
			cr_assert_eq(sscanf(p + 1, "%4x", &cp), 1);
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u' &&
			    sscanf(p + 3, "%4x", &lo) == 1) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			wd_utf8(f, cp);
			break;
		default:
			fputc(*p, f);
		}
	}
	fclose(f);
	return wd_val;
}

void wd_start(const char *dir)
{
	char path[256], *body = NULL;
	size_t len = 0;
	FILE *f;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	wd_port = wd_free_port();
	snprintf(path, sizeof(path), "%s/chromedriver.log", dir);
	wd_pid = fork();
	cr_assert_neq(wd_pid, -1);
	if (!wd_pid) {
		char port[32];

		snprintf(port, sizeof(port), "--port=%d", wd_port);
		if (!freopen(path, "w", stdout) || !freopen(path, "a", stderr))
			_exit(127);
		execlp("chromedriver", "chromedriver", port, (char *)NULL);
		_exit(127);
	}
	for (int tries = 0; wd_http("GET", "/status", NULL) != 200; tries++) {
		cr_assert_lt(tries, 300, "chromedriver did not start; see %s", path);
		cr_assert_eq(waitpid(wd_pid, NULL, WNOHANG), 0, "chromedriver exited; see %s",
			     path);
		usleep(100 * 1000);
	}
	f = open_memstream(&body, &len);
	cr_assert_not_null(f);
	/* root needs --no-sandbox; the test's CA is not the browser's: acceptInsecureCerts */
	fprintf(f,
		"{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\","
		"\"acceptInsecureCerts\":true,\"goog:chromeOptions\":{\"args\":["
		"\"--headless=new\",\"--no-sandbox\",\"--disable-gpu\","
		"\"--disable-dev-shm-usage\",\"--window-size=1400,1000\",\"--user-data-dir=%s/chrome\"]}}}}",
		dir);
	fclose(f);
	wd_ok("POST", "/session", body);
	free(body);
	snprintf(wd_sess, sizeof(wd_sess), "/session/%s", wd_str("sessionId"));
}

void wd_stop(void)
{
	if (wd_sess[0]) {
		wd_http("DELETE", wd_sess, NULL);
		wd_sess[0] = 0;
	}
	if (wd_pid > 0) {
		kill(wd_pid, SIGTERM);
		waitpid(wd_pid, NULL, 0);
		wd_pid = -1;
	}
	free(wd_resp);
	free(wd_val);
	wd_resp = wd_val = NULL;
}

/* POST {"key":"val"MORE} to the session's sub path. */
static void wd_post(const char *sub, const char *key, const char *val, const char *more)
{
	char path[512], *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	cr_assert_not_null(f);
	fprintf(f, "{\"%s\":", key);
	wd_jstr(f, val);
	fprintf(f, "%s}", more ? more : "");
	fclose(f);
	snprintf(path, sizeof(path), "%s%s", wd_sess, sub);
	wd_ok("POST", path, body);
	free(body);
}

void wd_go(const char *url)
{
	wd_post("/url", "url", url, NULL);
}

const char *wd_js(const char *script)
{
	wd_post("/execute/sync", "script", script, ",\"args\":[]");
	return wd_str("value");
}

void wd_wait(const char *script)
{
	char s[2048];

	snprintf(s, sizeof(s),
		 "return document.readyState == 'complete' && (function () { %s })()"
		 " ? '1' : '0';",
		 script);
	for (int tries = 0; strcmp(wd_js(s), "1"); tries++) {
		cr_assert_lt(tries, 600, "the page never had: %s (%s)", script,
			     wd_js("return location.href + ': ' +"
				   " document.body.innerText.slice(0, 400);"));
		usleep(100 * 1000);
	}
}

/* The element css selects: its id. */
static void wd_elem(const char *css, char *id, size_t size)
{
	char more[512], *m = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&m, &len);

	cr_assert_not_null(f);
	fputs(",\"value\":", f);
	wd_jstr(f, css);
	fclose(f);
	snprintf(more, sizeof(more), "%s", m);
	free(m);
	wd_post("/element", "using", "css selector", more);
	snprintf(id, size, "%s", wd_str("element-6066-11e4-a52e-4f735466cecf"));
}

void wd_type(const char *css, const char *text)
{
	char id[128], path[256];

	wd_elem(css, id, sizeof(id));
	snprintf(path, sizeof(path), "%s/element/%s/clear", wd_sess, id);
	wd_ok("POST", path, "{}");
	snprintf(path, sizeof(path), "/element/%s/value", id);
	wd_post(path, "text", text, NULL);
}

void wd_click(const char *css)
{
	char id[128], path[256];

	wd_elem(css, id, sizeof(id));
	snprintf(path, sizeof(path), "%s/element/%s/click", wd_sess, id);
	wd_ok("POST", path, "{}");
}

void wd_shot(const char *name)
{
	const char *dir = getenv("VG_SHOTS"), *b64;
	struct base64_decode_ctx ctx;
	char path[512];
	uint8_t *png;
	size_t n;
	FILE *f;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/screenshot", wd_sess);
	wd_ok("GET", path, NULL);
	b64 = wd_str("value");
	png = malloc(BASE64_DECODE_LENGTH(strlen(b64)));
	cr_assert_not_null(png);
	base64_decode_init(&ctx);
	n = BASE64_DECODE_LENGTH(strlen(b64));
	cr_assert(base64_decode_update(&ctx, &n, png, strlen(b64), b64) &&
		  base64_decode_final(&ctx));
	snprintf(path, sizeof(path), "%s/%s.png", dir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(png, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
	free(png);
}
