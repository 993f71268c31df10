// SPDX-License-Identifier: GPL-2.0-only
/*
 * The plug-in's sender (winup.h): the local store is the outbox, as for
 * `vigil host --upstream` (cli/upstream.c). The plug-in's store writes each
 * batch's frame into UpstreamOutbox in the batch's own transaction
 * (vg_store_set_outbox()); this thread, on its own connection, sends the
 * oldest pending frame to `vigil server` with WinHTTP and only after the
 * server's 200 takes it out and advances the stream's watermark
 * (host/outbox.h). A VM stop, a service restart or a crash leaves what is
 * pending in the store, sent on the next start, stored once upstream. One
 * frame at a time, in order; no answer, 5xx, 408 or 429 sends it again after
 * a doubling wait (Retry-After when the server gives one); a credential the
 * server no longer takes (401, 403 token revoked) or an enrolment it refuses
 * keeps everything and looks again every VG_WU_RECHECK_MS; another 4xx drops
 * that frame, counted in HostRefused. How it goes is in HostState
 * (Upstream*, host/outbox.h), for healthcheck and `vigil stats`.
 *
 * The proxy is the one the seed's order picks (vg_proxy_choose over
 * winproxy.c's sources), handed to WinHTTP as a named proxy: HTTPS goes
 * through it with CONNECT.
 *
 * TLS trusts only the onboarding package's CA. WinHTTP cannot be given a
 * root of its own, so each request is told to accept an unknown root
 * (SECURITY_FLAG_IGNORE_UNKNOWN_CA: WinHTTP still checks the name, the
 * dates and the signatures) and the chain is checked here
 * (vg_wu_cert_check: WINHTTP_OPTION_SERVER_CERT_CONTEXT,
 * CertGetCertificateChain with the CA as an additional store; the chain
 * must end at that very CA with no error but the root being unknown to
 * Windows). Neither the token nor a body reaches a server that fails it:
 * - the status callback checks the certificate in SENDING_REQUEST, before
 *   the request goes out, and closes the request handle if it fails, which
 *   stops the request on Windows;
 * - Wine's WinHTTP builds the request before that callback and sends it
 *   even so: a request that opens a new connection therefore goes without
 *   the token (the callback takes the Authorization header out at
 *   CONNECTING_TO_SERVER, before the handshake) and ends before its body;
 *   a GET of /v1/health opens a connection, checked and read to the end,
 *   which goes back to WinHTTP's pool, and the request goes again on it.
 *   Only connections whose certificate passed reach the pool (the others
 *   are closed with their request), so the token only ever travels on one;
 * - the body (the enrolment secret, the events) goes with WinHttpWriteData
 *   after WinHttpSendRequest returned and the check passed.
 * Redirects are off: one would take the token elsewhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winsock2.h>
#include <windows.h>
#include <wincrypt.h>
#include <winhttp.h>

#include "fmt.h"
#include "hoststate.h"
#include "log.h"
#include "outbox.h"
#include "proxy.h"
#include "store.h"
#include "upproto.h"
#include "winproxy.h"
#include "winup.h"

#define VG_WU_DRAIN_MS 5000
#define VG_WU_RESP_MAX 4096
#define VG_WU_RECHECK_MS (10 * 60 * 1000) /* a refused credential: look again this rarely */

struct vg_winup {
	vg_winup_state_fn state;
	char url[512]; /* https://HOST:PORT, no trailing slash */
	WCHAR host[256];
	INTERNET_PORT port;
	char *secret;
	PCCERT_CONTEXT ca;
	HCERTSTORE ca_store;
	WCHAR token_file[3 * MAX_PATH];
	char token[VG_UPP_TOKEN_MAX + 1];
	struct vg_proxy_choice proxy;
	HINTERNET session, connect;

	HANDLE thread;
	CRITICAL_SECTION lock;
	CONDITION_VARIABLE cond, idle;
	int work; /* a batch was stored since the thread last looked */
	int draining; /* VM stop: send what is pending, then end */
	int done; /* the thread ended */
	int stop;
	struct vg_outbox_sender ob; /* the thread's own connection to the store */

	char resp[VG_WU_RESP_MAX];
	size_t resp_len;
	long retry_after;
	char why[384]; /* why the last request got no answer */
	char logged[384]; /* the last reason logged */
};

static const struct {
	DWORD code;
	const char *text;
} vg_wu_errors[] = {
	{ ERROR_WINHTTP_TIMEOUT, "timed out" },
	{ ERROR_WINHTTP_NAME_NOT_RESOLVED, "name not resolved" },
	{ ERROR_WINHTTP_CANNOT_CONNECT, "cannot connect" },
	{ ERROR_WINHTTP_CONNECTION_ERROR, "connection reset" },
	{ ERROR_WINHTTP_SECURE_FAILURE, "TLS failure" },
	{ ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "invalid answer" },
	{ ERROR_WINHTTP_SECURE_CERT_CN_INVALID, "certificate is for another name" },
	{ ERROR_WINHTTP_SECURE_CERT_DATE_INVALID, "certificate expired or not yet valid" },
	{ ERROR_WINHTTP_SECURE_INVALID_CA, "certificate of an unknown CA" },
};

/* "STEP: reason (WinHTTP error N)" into u->why; 0 (no answer) for the caller to return. */
static long vg_wu_fail(struct vg_winup *u, const char *step, DWORD err)
{
	const char *text = "error";

	for (size_t i = 0; i < sizeof(vg_wu_errors) / sizeof(vg_wu_errors[0]); i++)
		if (vg_wu_errors[i].code == err)
			text = vg_wu_errors[i].text;
	snprintf(u->why, sizeof(u->why), "%s %s%s%s: %s (WinHTTP error %lu)", step, u->url,
		 u->proxy.server[0] ? " through proxy " : "", u->proxy.server, text,
		 (unsigned long)err);
	return 0;
}

/* A file of at most max bytes, NUL-terminated (*out malloc'd). 0 or a negative errno. */
static int vg_wu_read_file(const WCHAR *path, size_t max, char **out, size_t *len)
{
	HANDLE f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
			       OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	LARGE_INTEGER size;
	DWORD got = 0;
	char *buf;

	*out = NULL;
	if (f == INVALID_HANDLE_VALUE)
		return GetLastError() == ERROR_FILE_NOT_FOUND ||
				       GetLastError() == ERROR_PATH_NOT_FOUND ?
			       -ENOENT :
			       -EACCES;
	if (!GetFileSizeEx(f, &size) || size.QuadPart > (LONGLONG)max) {
		CloseHandle(f);
		return -EFBIG;
	}
	buf = malloc((size_t)size.QuadPart + 1);
	if (!buf) {
		CloseHandle(f);
		return -ENOMEM;
	}
	if (!ReadFile(f, buf, (DWORD)size.QuadPart, &got, NULL)) {
		CloseHandle(f);
		free(buf);
		return -EIO;
	}
	CloseHandle(f);
	buf[got] = 0;
	if (memchr(buf, 0, got)) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	if (len)
		*len = got;
	return 0;
}

/* The CA from PEM text: u->ca and a store holding it. 0 or -EINVAL. */
static int vg_wu_ca(struct vg_winup *u, const char *pem, const char *name)
{
	DWORD len = 0;
	BYTE *der;

	if (!CryptStringToBinaryA(pem, 0, CRYPT_STRING_BASE64HEADER, NULL, &len, NULL, NULL) ||
	    !(der = malloc(len))) {
		vg_log(VG_ERROR, "%s: the CA is not a PEM certificate", name);
		return -EINVAL;
	}
	if (CryptStringToBinaryA(pem, 0, CRYPT_STRING_BASE64HEADER, der, &len, NULL, NULL))
		u->ca = CertCreateCertificateContext(X509_ASN_ENCODING, der, len);
	free(der);
	u->ca_store = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, NULL);
	if (!u->ca || !u->ca_store ||
	    !CertAddCertificateContextToStore(u->ca_store, u->ca, CERT_STORE_ADD_ALWAYS, NULL)) {
		vg_log(VG_ERROR, "%s: the CA is not a certificate Windows can read", name);
		return -EINVAL;
	}
	return 0;
}

static void vg_wu_wide(const char *s, WCHAR *out, int n)
{
	if (!MultiByteToWideChar(CP_UTF8, 0, s, -1, out, n))
		out[0] = 0;
}

/*
 * The onboarding package (OnboardingPath): the secret, the CA (ca_pem= or
 * a ca= PEM file), and the server when UpstreamUrl does not name one.
 */
static int vg_wu_onboarding(struct vg_winup *u, const struct vg_win_conf *c)
{
	struct vg_upp_onboarding ob;
	char name[sizeof(c->onboarding) + 32], *text, *pem = NULL;
	int err;

	snprintf(name, sizeof(name), "OnboardingPath %s", c->onboarding);
	if (!c->onboarding[0]) {
		vg_log(VG_ERROR, "UpstreamUrl is set but OnboardingPath is not");
		return -EINVAL;
	}
	err = vg_wu_read_file(c->onboarding_w, VG_UPP_ONBOARDING_MAX, &text, NULL);
	if (err)
		return vg_err(err, "%s", name);
	err = vg_upp_onboarding_parse(text, name, &ob);
	if (!err && !c->upstream_url[0] && !ob.url) {
		vg_log(VG_ERROR, "%s: no url= and no UpstreamUrl", name);
		err = -EINVAL;
	}
	if (!err) {
		snprintf(u->url, sizeof(u->url), "%s",
			 c->upstream_url[0] ? c->upstream_url : ob.url);
		u->secret = strdup(ob.secret);
		if (!u->secret)
			err = -ENOMEM;
	}
	if (!err && ob.ca_pem) {
		DWORD len = 0;

		if (!CryptStringToBinaryA(ob.ca_pem, 0, CRYPT_STRING_BASE64, NULL, &len, NULL,
					  NULL) ||
		    !(pem = calloc(1, len + 1)) ||
		    !CryptStringToBinaryA(ob.ca_pem, 0, CRYPT_STRING_BASE64, (BYTE *)pem, &len,
					  NULL, NULL)) {
			vg_log(VG_ERROR, "%s: ca_pem= is not base64", name);
			err = -EINVAL;
		}
	} else if (!err) {
		WCHAR w[MAX_PATH * 2];

		vg_wu_wide(ob.ca, w, MAX_PATH * 2);
		err = vg_wu_read_file(w, 1 << 20, &pem, NULL);
		if (err)
			vg_err(err, "%s: ca=%s", name, ob.ca);
	}
	if (!err)
		err = vg_wu_ca(u, pem, name);
	free(pem);
	free(text);
	return err;
}

/* https://HOST[:PORT] into host and port; anything else is refused. */
static int vg_wu_url(struct vg_winup *u)
{
	URL_COMPONENTSW uc = { .dwStructSize = sizeof(uc) };
	WCHAR w[512], path[256];
	size_t l = strlen(u->url);

	while (l && u->url[l - 1] == '/')
		u->url[--l] = 0;
	vg_wu_wide(u->url, w, 512);
	uc.lpszHostName = u->host;
	uc.dwHostNameLength = sizeof(u->host) / sizeof(WCHAR);
	uc.lpszUrlPath = path;
	uc.dwUrlPathLength = sizeof(path) / sizeof(WCHAR);
	if (strncmp(u->url, "https://", 8) || strpbrk(u->url, " \t\r\n") ||
	    !WinHttpCrackUrl(w, 0, 0, &uc) || uc.nScheme != INTERNET_SCHEME_HTTPS || !u->host[0] ||
	    path[0]) {
		vg_log(VG_ERROR, "UpstreamUrl '%s': not https://HOST[:PORT]", u->url);
		return -EINVAL;
	}
	u->port = uc.nPort;
	return 0;
}

/* The proxy the seed's order picks, WinHTTP's session through it, the connection's target. */
static int vg_wu_session(struct vg_winup *u)
{
	struct vg_win_proxy wp;
	WCHAR proxy[256];
	DWORD protos = WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_2;

	vg_win_proxy_read(&wp);
	if (vg_proxy_choose(&wp.src, &u->proxy)) {
		vg_log(VG_ERROR, "upstream: %s", u->proxy.error);
		snprintf(u->why, sizeof(u->why), "%s", u->proxy.error);
		return -EINVAL;
	}
	if (u->proxy.warning[0])
		vg_log(VG_WARN, "upstream: %s", u->proxy.warning);
	vg_wu_wide(u->proxy.server, proxy, 256);
	u->session = WinHttpOpen(
		L"vigil-plugin",
		proxy[0] ? WINHTTP_ACCESS_TYPE_NAMED_PROXY : WINHTTP_ACCESS_TYPE_NO_PROXY,
		proxy[0] ? proxy : WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0);
	if (!u->session)
		return vg_err(-ENOMEM, "upstream: WinHttpOpen (error %lu)",
			      (unsigned long)GetLastError());
	/* TLS 1.2, what the server requires at least; nothing older. */
	WinHttpSetOption(u->session, WINHTTP_OPTION_SECURE_PROTOCOLS, &protos, sizeof(protos));
	/* Bounded: a VM stop waits for the attempt under way. */
	WinHttpSetTimeouts(u->session, 10000, 10000, 30000, 30000);
	u->connect = WinHttpConnect(u->session, u->host, u->port, 0);
	if (!u->connect)
		return vg_err(-ENOMEM, "upstream: WinHttpConnect (error %lu)",
			      (unsigned long)GetLastError());
	vg_log(VG_INFO, "upstream: %s through %s (%s)", u->url,
	       u->proxy.server[0] ? u->proxy.server : "no proxy", u->proxy.source);
	return 0;
}

/*
 * The server's certificate must chain to the onboarding CA and to nothing
 * else, and be for the server's name: 0, or -EACCES with u->why saying why.
 */
static int vg_wu_cert_check(struct vg_winup *u, HINTERNET r)
{
	CERT_CHAIN_PARA para = { .cbSize = sizeof(para) };
	SSL_EXTRA_CERT_CHAIN_POLICY_PARA ssl = { .cbSize = sizeof(ssl),
						 .dwAuthType = AUTHTYPE_SERVER,
						 .fdwChecks = SECURITY_FLAG_IGNORE_UNKNOWN_CA,
						 .pwszServerName = u->host };
	CERT_CHAIN_POLICY_PARA pp = { .cbSize = sizeof(pp), .pvExtraPolicyPara = &ssl };
	CERT_CHAIN_POLICY_STATUS ps = { .cbSize = sizeof(ps) };
	PCCERT_CHAIN_CONTEXT chain = NULL;
	PCCERT_CONTEXT leaf = NULL, root;
	DWORD len = sizeof(leaf), errs;
	const char *bad = NULL;

	if (!WinHttpQueryOption(r, WINHTTP_OPTION_SERVER_CERT_CONTEXT, &leaf, &len) || !leaf)
		bad = "no server certificate";
	else if (!CertGetCertificateChain(NULL, leaf, NULL, u->ca_store, &para, 0, NULL, &chain) ||
		 !chain->cChain || !chain->rgpChain[0]->cElement)
		bad = "no certificate chain";
	if (!bad) {
		const CERT_SIMPLE_CHAIN *sc = chain->rgpChain[0];

		root = sc->rgpElement[sc->cElement - 1]->pCertContext;
		errs = chain->TrustStatus.dwErrorStatus &
		       ~(CERT_TRUST_IS_UNTRUSTED_ROOT | CERT_TRUST_REVOCATION_STATUS_UNKNOWN |
			 CERT_TRUST_IS_OFFLINE_REVOCATION);
		/* The very certificate, byte for byte: a look-alike with its name and serial is not it. */
		if (root->cbCertEncoded != u->ca->cbCertEncoded ||
		    memcmp(root->pbCertEncoded, u->ca->pbCertEncoded, root->cbCertEncoded))
			bad = "not issued by the onboarding package's CA";
		else if (errs)
			bad = "its chain to the onboarding CA is not valid";
		else if (!CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &pp,
							   &ps) ||
			 ps.dwError)
			bad = "not valid for this server";
	}
	if (chain)
		CertFreeCertificateChain(chain);
	if (leaf)
		CertFreeCertificateContext(leaf);
	if (!bad)
		return 0;
	snprintf(u->why, sizeof(u->why), "server certificate of %s refused: %s", u->url, bad);
	return -EACCES;
}

/* One request's state, the context value its status callback gets. */
struct vg_wu_req {
	struct vg_winup *u;
	int auth; /* it carries the bearer token */
	int fresh; /* it opened a new connection, and the token was taken out */
	int checked; /* the certificate was checked before the request went out */
	int refused; /* ... and refused, or the token could not be held back: r is closed */
};

/*
 * WinHTTP's status callback (synchronous: on the sending thread). A new
 * connection (CONNECTING_TO_SERVER, before its handshake and before the
 * request is built) gets no token: its certificate is not known yet. Before
 * each request goes out (SENDING_REQUEST, the place Microsoft documents for
 * this) the certificate is checked, and a request to a server the package's
 * CA did not certify is closed there.
 */
static void CALLBACK vg_wu_status(HINTERNET h, DWORD_PTR ctx, DWORD status, void *info, DWORD len)
{
	struct vg_wu_req *q = (struct vg_wu_req *)ctx;

	if (!q || q->refused)
		return;
	if (status == WINHTTP_CALLBACK_STATUS_CONNECTING_TO_SERVER && q->auth) {
		q->fresh = 1;
		if (WinHttpAddRequestHeaders(h, L"Authorization:", (DWORD)-1L,
					     WINHTTP_ADDREQ_FLAG_REPLACE) ||
		    GetLastError() == ERROR_WINHTTP_HEADER_NOT_FOUND)
			return;
		snprintf(q->u->why, sizeof(q->u->why),
			 "request to %s not sent: the token could not be held back (error %lu)",
			 q->u->url, (unsigned long)GetLastError());
	} else if (status == WINHTTP_CALLBACK_STATUS_SENDING_REQUEST) {
		q->checked = 1;
		if (!vg_wu_cert_check(q->u, h))
			return;
	} else {
		return;
	}
	q->refused = 1;
	WinHttpCloseHandle(h);
}

/*
 * One request: the HTTP status, or 0 when no answer came (u->why says
 * why). The body goes only once the server's certificate passed; the token
 * only on a connection whose certificate passed before (*fresh set when
 * the request opened a new one: it went without the token and was ended).
 */
static long vg_wu_send(struct vg_winup *u, const WCHAR *verb, const char *path, const char *ctype,
		       const void *body, DWORD len, int auth, int *fresh)
{
	DWORD flags = SECURITY_FLAG_IGNORE_UNKNOWN_CA, st = 0, sl = sizeof(st), done = 0;
	DWORD noredir = WINHTTP_DISABLE_REDIRECTS;
	struct vg_wu_req q = { .u = u, .auth = auth };
	char hdrs[512];
	WCHAR wpath[256], whdrs[512], ra[32];
	HINTERNET r;
	BOOL sent;

	u->resp_len = 0;
	u->resp[0] = 0;
	u->retry_after = -1;
	*fresh = 0;
	vg_wu_wide(path, wpath, 256);
	r = WinHttpOpenRequest(u->connect, verb, wpath, NULL, WINHTTP_NO_REFERER,
			       WINHTTP_DEFAULT_ACCEPT_TYPES, WINHTTP_FLAG_SECURE);
	if (!r)
		return vg_wu_fail(u, "open a request to", GetLastError());
	WinHttpSetOption(r, WINHTTP_OPTION_SECURITY_FLAGS, &flags, sizeof(flags));
	/* A redirect would take the token elsewhere: the server never sends one. */
	WinHttpSetOption(r, WINHTTP_OPTION_DISABLE_FEATURE, &noredir, sizeof(noredir));
	if (WinHttpSetStatusCallback(r, vg_wu_status,
				     WINHTTP_CALLBACK_FLAG_CONNECT_TO_SERVER |
					     WINHTTP_CALLBACK_FLAG_SEND_REQUEST,
				     0) == WINHTTP_INVALID_STATUS_CALLBACK) {
		vg_wu_fail(u, "watch a request to", GetLastError());
		goto out;
	}
	snprintf(hdrs, sizeof(hdrs), "%s%s%s%s%s", ctype ? "Content-Type: " : "",
		 ctype ? ctype : "", ctype ? "\r\n" : "", auth ? "Authorization: Bearer " : "",
		 auth ? u->token : "");
	vg_wu_wide(hdrs, whdrs, 512);
	sent = WinHttpSendRequest(r, whdrs[0] ? whdrs : WINHTTP_NO_ADDITIONAL_HEADERS, (DWORD)-1L,
				  WINHTTP_NO_REQUEST_DATA, 0, len, (DWORD_PTR)&q);
	SecureZeroMemory(hdrs, sizeof(hdrs));
	SecureZeroMemory(whdrs, sizeof(whdrs));
	if (q.refused)
		return 0; /* the callback closed r: Windows stops the request there, Wine sends it without the token */
	if (!sent) {
		vg_wu_fail(u, "connect to", GetLastError());
		goto out;
	}
	/* No SENDING_REQUEST seen: the check before any body, all the same. */
	if (!q.checked && vg_wu_cert_check(u, r))
		goto out;
	if (q.fresh) {
		*fresh = 1;
		goto out;
	}
	while (done < len) {
		DWORD w = 0;

		if (!WinHttpWriteData(r, (const char *)body + done, len - done, &w) || !w) {
			vg_wu_fail(u, "send to", GetLastError());
			goto out;
		}
		done += w;
	}
	if (!WinHttpReceiveResponse(r, NULL)) {
		vg_wu_fail(u, "answer from", GetLastError());
		goto out;
	}
	WinHttpQueryHeaders(r, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
			    WINHTTP_HEADER_NAME_BY_INDEX, &st, &sl, WINHTTP_NO_HEADER_INDEX);
	sl = sizeof(ra);
	if (WinHttpQueryHeaders(r, WINHTTP_QUERY_RETRY_AFTER, WINHTTP_HEADER_NAME_BY_INDEX, ra, &sl,
				WINHTTP_NO_HEADER_INDEX)) {
		char v[32];

		vg_win_utf8(ra, v, sizeof(v));
		u->retry_after = vg_upp_retry_after(v);
	}
	/* Read to the end: the connection goes back to WinHTTP's pool, checked. */
	for (;;) {
		char tmp[1024];
		DWORD got = 0;
		size_t room = sizeof(u->resp) - 1 - u->resp_len;

		if (!WinHttpReadData(r, tmp, sizeof(tmp), &got) || !got)
			break;
		memcpy(u->resp + u->resp_len, tmp, got < room ? got : room);
		u->resp_len += got < room ? got : room;
		u->resp[u->resp_len] = 0;
	}
	if (st == 407)
		snprintf(u->why, sizeof(u->why), "proxy %s wants credentials (407)",
			 u->proxy.server);
	vg_log(VG_DEBUG, "upstream %s: %lu %s", path, (unsigned long)st, u->resp);
out:
	WinHttpCloseHandle(r);
	return st == 407 ? 0 : (long)st;
}

/*
 * One request, as vg_wu_send(). A request with the token that needed a new
 * connection went without it and ended before its body: a GET of the
 * health endpoint opens one (its certificate checked, its answer read to
 * the end, back in the pool), and the request goes again on it.
 */
static long vg_wu_request(struct vg_winup *u, const WCHAR *verb, const char *path,
			  const char *ctype, const void *body, DWORD len, int auth)
{
	int fresh;
	long st = vg_wu_send(u, verb, path, ctype, body, len, auth, &fresh);

	if (!fresh)
		return st;
	if (!vg_wu_send(u, L"GET", "/v1/health", NULL, NULL, 0, 0, &fresh))
		return 0;
	st = vg_wu_send(u, verb, path, ctype, body, len, auth, &fresh);
	if (fresh) {
		snprintf(u->why, sizeof(u->why),
			 "%s closes each connection: the token goes only on one whose"
			 " certificate was checked before",
			 u->url);
		return 0;
	}
	return st;
}

/* Write the token to DB.token through a new file moved over it. */
static int vg_wu_token_save(struct vg_winup *u)
{
	WCHAR tmp[3 * MAX_PATH + 8];
	DWORD w = 0, len = (DWORD)strlen(u->token);
	HANDLE f;
	int ok;

	_snwprintf(tmp, sizeof(tmp) / sizeof(WCHAR), L"%ls.tmp", u->token_file);
	tmp[sizeof(tmp) / sizeof(WCHAR) - 1] = 0;
	f = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	if (f == INVALID_HANDLE_VALUE)
		return -EACCES;
	ok = WriteFile(f, u->token, len, &w, NULL) && w == len && FlushFileBuffers(f);
	CloseHandle(f);
	if (ok &&
	    MoveFileExW(tmp, u->token_file, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
		return 0;
	DeleteFileW(tmp);
	return -EIO;
}

static int vg_wu_token_load(struct vg_winup *u)
{
	char *t;
	int err = vg_wu_read_file(u->token_file, VG_UPP_TOKEN_MAX + 2, &t, NULL);

	if (err == -ENOENT)
		return 0;
	if (err)
		return vg_err(err, "read the upstream token");
	t[strcspn(t, "\r\n")] = 0;
	if (!vg_upp_token_ok(t)) {
		free(t);
		vg_log(VG_ERROR, "the upstream token file is not a token");
		return -EINVAL;
	}
	snprintf(u->token, sizeof(u->token), "%s", t);
	free(t);
	return 0;
}

/*
 * Enrol as the Windows host, its MachineGuid and name: the frames of its WSL
 * devices name it as their HostDeviceId, and the server takes them from the
 * host's credential (server/pgstore.c, vg_pg_authorize). Without a
 * MachineGuid, as f's device. 200 keeps the token; the status otherwise (0:
 * no answer).
 */
static long vg_wu_enroll(struct vg_winup *u, const struct vg_outbox_frame *f)
{
	char body[4096], id[128], name[256];
	long st;

	vg_win_host_device_id(id, sizeof(id));
	vg_win_host_name(name, sizeof(name));
	if (!id[0]) {
		snprintf(id, sizeof(id), "%s", f->device_id);
		snprintf(name, sizeof(name), "%s", f->device_name);
	}
	if (vg_upp_enroll_body(body, sizeof(body), u->secret, id, name)) {
		snprintf(u->why, sizeof(u->why), "enrolment of %s: secret or names too long", id);
		return 400;
	}
	st = vg_wu_request(u, L"POST", "/v1/enroll", "application/json", body, (DWORD)strlen(body),
			   0);
	SecureZeroMemory(body, sizeof(body));
	if (st != 200) {
		if (st)
			snprintf(u->why, sizeof(u->why), "enrolment of %s refused (%ld): %.200s",
				 id, st, u->resp);
		return st;
	}
	if (vg_upp_enroll_token(u->resp, u->token)) {
		snprintf(u->why, sizeof(u->why), "enrolment answer without a token");
		return 502;
	}
	if (vg_wu_token_save(u))
		/* Sent with all the same; a restart cannot enrol again (409), so say so. */
		vg_log(VG_ERROR, "upstream: cannot keep the token next to the store");
	vg_log(VG_INFO, "upstream: enrolled %s (%s)", id, name);
	return 200;
}

/* Sleep ms, or until stopped: 1 when stopped. */
static int vg_wu_wait(struct vg_winup *u, long ms)
{
	ULONGLONG end = GetTickCount64() + (ULONGLONG)ms;
	int stop;

	EnterCriticalSection(&u->lock);
	while (!u->stop && GetTickCount64() < end)
		SleepConditionVariableCS(&u->cond, &u->lock, (DWORD)(end - GetTickCount64()));
	stop = u->stop;
	LeaveCriticalSection(&u->lock);
	return stop;
}

/* Each new reason for no answer once in the log, not each attempt; HostState says it all along. */
static void vg_wu_unreachable(struct vg_winup *u)
{
	if (strcmp(u->why, u->logged)) {
		vg_log(VG_WARN, "upstream: %s", u->why);
		snprintf(u->logged, sizeof(u->logged), "%s", u->why);
	}
	vg_outbox_state(&u->ob, VG_UP_UNREACHABLE, u->why);
}

enum { VG_WU_STOPPED = -1, VG_WU_DROPPED, VG_WU_STORED, VG_WU_KEEP };

/*
 * Send f until the server stores it (VG_WU_STORED) or refuses that frame
 * (VG_WU_DROPPED); VG_WU_KEEP when it refuses the host (enrolment or
 * token): the frame stays pending; VG_WU_STOPPED when stopped.
 */
static int vg_wu_deliver(struct vg_winup *u, const struct vg_outbox_frame *f)
{
	long wait = VG_UPP_WAIT_MIN_MS, st;

	for (;;) {
		st = 0;
		if (!u->token[0] && !f->device_id[0]) {
			vg_log(VG_ERROR, "upstream: a frame of no known device before enrolment");
			return VG_WU_DROPPED;
		}
		if (!u->token[0]) {
			st = vg_wu_enroll(u, f);
			if (st && vg_upp_verdict(st) == VG_UPP_REFUSED) {
				/* A wrong secret, 409: the operator's to fix; kept meanwhile. */
				vg_log(VG_ERROR, "upstream: %s", u->why);
				vg_outbox_state(&u->ob, VG_UP_REFUSED, u->why);
				return VG_WU_KEEP;
			}
		}
		if (u->token[0]) {
			st = vg_wu_request(u, L"POST", "/v1/batches", "application/vnd.vigil.frame",
					   f->data, (DWORD)f->len, 1);
			if (st == 200) {
				vg_outbox_state(&u->ob, VG_UP_SHIPPING, NULL);
				return VG_WU_STORED;
			}
			if (vg_upp_credential_refused(st, u->resp)) {
				snprintf(u->why, sizeof(u->why), "%s: refused %ld %.160s", u->url,
					 st, u->resp);
				vg_log(VG_ERROR,
				       "upstream: the server refuses this host's token (%s);"
				       " keeping every frame, looking again in %d minutes",
				       u->why, VG_WU_RECHECK_MS / 60000);
				vg_outbox_state(&u->ob, VG_UP_REFUSED, u->why);
				return VG_WU_KEEP;
			}
			if (st && vg_upp_verdict(st) == VG_UPP_REFUSED) {
				vg_log(VG_ERROR, "upstream: batch of %s refused (%ld): %.200s",
				       f->device_id, st, u->resp);
				return VG_WU_DROPPED;
			}
			if (st)
				snprintf(u->why, sizeof(u->why), "%s: answered %ld %.160s", u->url,
					 st, u->resp);
		}
		if (vg_wu_wait(u, 0))
			return VG_WU_STOPPED; /* an attempt cut short says nothing of the server */
		vg_wu_unreachable(u);
		/* Retry-After: 0 is not a licence to spin. */
		if (vg_wu_wait(u, u->retry_after > 0 ? u->retry_after * 1000 : wait))
			return VG_WU_STOPPED;
		wait = vg_upp_backoff(wait);
	}
}

/* Nothing pending: wait for a stored batch. 1 when the thread should end. */
static int vg_wu_idle(struct vg_winup *u)
{
	int end;

	EnterCriticalSection(&u->lock);
	while (!u->work && !u->draining && !u->stop)
		SleepConditionVariableCS(&u->cond, &u->lock, INFINITE);
	end = u->stop || (u->draining && !u->work);
	u->work = 0;
	LeaveCriticalSection(&u->lock);
	return end;
}

static int vg_wu_draining(struct vg_winup *u)
{
	int d;

	EnterCriticalSection(&u->lock);
	d = u->draining;
	LeaveCriticalSection(&u->lock);
	return d;
}

static DWORD WINAPI vg_wu_thread(void *arg)
{
	struct vg_winup *u = arg;

	for (;;) {
		struct vg_outbox_frame *f;
		int r = vg_outbox_next(&u->ob, &f);

		if (r == 0 && vg_wu_idle(u))
			break;
		if (r < 0 && vg_wu_wait(u, 1000)) /* the store is busy: later */
			break;
		if (r <= 0)
			continue;
		r = vg_wu_deliver(u, f);
		if (r == VG_WU_STORED || r == VG_WU_DROPPED)
			vg_outbox_done(&u->ob, f, r == VG_WU_STORED);
		free(f);
		if (r == VG_WU_STOPPED)
			break;
		/* No hammering a server that refuses us; a stopping VM leaves it for the next start. */
		if (r == VG_WU_KEEP && (vg_wu_draining(u) || vg_wu_wait(u, VG_WU_RECHECK_MS)))
			break;
	}
	EnterCriticalSection(&u->lock);
	u->done = 1;
	WakeAllConditionVariable(&u->idle);
	LeaveCriticalSection(&u->lock);
	return 0;
}

static struct vg_winup *vg_wu_new(void)
{
	struct vg_winup *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	InitializeCriticalSection(&u->lock);
	InitializeConditionVariable(&u->cond);
	InitializeConditionVariable(&u->idle);
	return u;
}

static void vg_wu_free(struct vg_winup *u)
{
	vg_outbox_sender_close(&u->ob);
	if (u->connect)
		WinHttpCloseHandle(u->connect);
	if (u->session)
		WinHttpCloseHandle(u->session);
	if (u->ca)
		CertFreeCertificateContext(u->ca);
	if (u->ca_store)
		CertCloseStore(u->ca_store, 0);
	if (u->secret) {
		SecureZeroMemory(u->secret, strlen(u->secret));
		free(u->secret);
	}
	DeleteCriticalSection(&u->lock);
	free(u);
}

/* What both the sender and the connectivity test need: the package, the URL, the session. */
static int vg_wu_setup(struct vg_winup *u, const struct vg_win_conf *c)
{
	int err = vg_wu_onboarding(u, c);

	if (!err)
		err = vg_wu_url(u);
	if (!err)
		err = vg_wu_session(u);
	return err;
}

int vg_winup_open(struct vg_winup **up, const struct vg_win_conf *c, vg_winup_state_fn state)
{
	struct vg_winup *u = vg_wu_new();
	int err;

	*up = NULL;
	if (!u)
		return -ENOMEM;
	u->state = state;
	if (!MultiByteToWideChar(CP_UTF8, 0, c->db, -1, u->token_file,
				 sizeof(u->token_file) / sizeof(WCHAR) - 8))
		u->token_file[0] = 0;
	wcscat(u->token_file, L".token");
	err = vg_wu_setup(u, c);
	if (!err)
		err = vg_wu_token_load(u);
	if (!err)
		err = vg_outbox_sender_open(&u->ob, c->db, u->url);
	/* The route the telemetry takes, beside the server (the connectivity test writes the same). */
	if (!err && (vg_hoststate_set(u->ob.db, VG_HS_PROXY,
				      u->proxy.server[0] ? u->proxy.server : "direct") ||
		     vg_hoststate_set(u->ob.db, VG_HS_PROXY_SOURCE, u->proxy.source)))
		err = -EIO;
	if (!err) {
		u->thread = CreateThread(NULL, 0, vg_wu_thread, u, 0, NULL);
		if (!u->thread)
			err = -ENOMEM;
	}
	if (err) {
		char v[512];

		/* Not shipping: the frames stay pending in the store, health says why. */
		snprintf(v, sizeof(v), "not started: %s",
			 u->why[0] ? u->why : "see the plug-in's log (the configuration)");
		state(VG_HS_UPSTREAM, u->url[0] ? u->url : c->upstream_url);
		state(VG_HS_UP_STATE, VG_UP_REFUSED);
		state(VG_HS_UP_SINCE, vg_iso_time((char[VG_ISO_LEN]){ 0 }, vg_now_ns()));
		state(VG_HS_UP_ERROR, v);
		vg_wu_free(u);
		return err;
	}
	*up = u;
	return 0;
}

void vg_winup_wake(struct vg_winup *u)
{
	EnterCriticalSection(&u->lock);
	u->work = 1;
	WakeConditionVariable(&u->cond);
	LeaveCriticalSection(&u->lock);
}

void vg_winup_close(struct vg_winup *u)
{
	ULONGLONG end = GetTickCount64() + VG_WU_DRAIN_MS;

	if (!u)
		return;
	/* What the sensor stored last (its drain at VM stop) gets its chance first; the rest stays pending. */
	EnterCriticalSection(&u->lock);
	u->draining = 1;
	WakeAllConditionVariable(&u->cond);
	while (!u->done && GetTickCount64() < end)
		SleepConditionVariableCS(&u->idle, &u->lock, (DWORD)(end - GetTickCount64()));
	u->stop = 1;
	WakeAllConditionVariable(&u->cond);
	LeaveCriticalSection(&u->lock);
	WaitForSingleObject(u->thread, INFINITE);
	CloseHandle(u->thread);
	vg_wu_free(u);
}

int vg_winup_conntest(const struct vg_win_conf *c, char *res, size_t n)
{
	struct vg_winup *u = vg_wu_new();
	long st;
	int err;

	if (!u) {
		snprintf(res, n, "failed: out of memory");
		return -ENOMEM;
	}
	err = vg_wu_setup(u, c);
	if (err) {
		snprintf(res, n, "failed: %s",
			 u->why[0] ? u->why :
				     "the upstream configuration"
				     " is not usable (see the log)");
	} else {
		st = vg_wu_request(u, L"GET", "/v1/health", NULL, NULL, 0, 0);
		if (st >= 200 && st < 300)
			snprintf(res, n, "passed: %s/v1/health answered %ld through %s", u->url, st,
				 u->proxy.server[0] ? u->proxy.server : "no proxy");
		else if (st)
			snprintf(res, n, "failed: %s/v1/health answered %ld", u->url, st);
		else
			snprintf(res, n, "failed: %s", u->why);
		err = st >= 200 && st < 300 ? 0 : -EIO;
	}
	vg_wu_free(u);
	return err;
}
