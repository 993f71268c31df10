// SPDX-License-Identifier: GPL-2.0-only
/* The upstream protocol both senders speak (upproto.h). Portable C. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "upproto.h"

int vg_upp_onboarding_parse(char *text, const char *name, struct vg_upp_onboarding *ob)
{
	char *line = text, *next;
	int lineno = 0;

	memset(ob, 0, sizeof(*ob));
	for (; line && *line; line = next) {
		size_t l = strcspn(line, "\n");

		next = line[l] ? line + l + 1 : NULL;
		line[l] = 0;
		if (l && line[l - 1] == '\r')
			line[l - 1] = 0;
		lineno++;
		if (!line[0] || line[0] == '#')
			continue;
		if (!strncmp(line, "url=", 4) && !ob->url) {
			ob->url = line + 4;
		} else if (!strncmp(line, "ca=", 3) && !ob->ca && !ob->ca_pem) {
			ob->ca = line + 3;
		} else if (!strncmp(line, "ca_pem=", 7) && !ob->ca && !ob->ca_pem) {
			ob->ca_pem = line + 7;
		} else if (!strncmp(line, "secret=", 7) && !ob->secret) {
			ob->secret = line + 7;
		} else {
			vg_log(VG_ERROR,
			       "%s:%d: not url=, ca=, ca_pem= or secret= (or given twice)", name,
			       lineno);
			return -EINVAL;
		}
	}
	if (!ob->secret || !*ob->secret || (!ob->ca && !ob->ca_pem)) {
		vg_log(VG_ERROR, "%s: needs secret= and ca= or ca_pem=", name);
		return -EINVAL;
	}
	return 0;
}

/* s as a JSON string's content: quotes, backslashes and control bytes escaped. */
static int vg_upp_json_str(char *out, size_t size, size_t *o, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (*o + 7 >= size)
			return -ENOSPC;
		if (c == '"' || c == '\\')
			*o += (size_t)snprintf(out + *o, size - *o, "\\%c", c);
		else if (c < 0x20)
			*o += (size_t)snprintf(out + *o, size - *o, "\\u%04x", c);
		else
			out[(*o)++] = (char)c;
	}
	out[*o] = 0;
	return 0;
}

int vg_upp_enroll_body(char *out, size_t n, const char *secret, const char *device_id,
		       const char *device_name)
{
	const char *part[] = { "{\"secret\":\"",
			       secret,
			       "\",\"device_id\":\"",
			       device_id,
			       "\",\"device_name\":\"",
			       *device_name ? device_name : device_id,
			       "\"}" };
	size_t o = 0;

	for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
		size_t l = strlen(part[i]);

		if (i % 2) {
			if (vg_upp_json_str(out, n, &o, part[i]))
				return -ENOSPC;
			continue;
		}
		if (o + l >= n)
			return -ENOSPC;
		memcpy(out + o, part[i], l + 1);
		o += l;
	}
	return 0;
}

int vg_upp_enroll_token(const char *resp, char *token)
{
	const char *p = strstr(resp, "\"token\":\"");
	size_t n = 0;

	if (!p)
		return -EINVAL;
	p += 9;
	while (n < VG_UPP_TOKEN_MAX &&
	       ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f')))
		n++;
	if (!n || p[n] != '"')
		return -EINVAL;
	memcpy(token, p, n);
	token[n] = 0;
	return 0;
}

int vg_upp_token_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'))
			return 0;
	return strlen(t) <= VG_UPP_TOKEN_MAX;
}

enum vg_upp_verdict vg_upp_verdict(long st)
{
	if (st == 200)
		return VG_UPP_STORED;
	if (st >= 400 && st < 500 && st != 429 && st != 408)
		return VG_UPP_REFUSED;
	return VG_UPP_RETRY;
}

size_t vg_upp_frames_final(const long *status, size_t n)
{
	size_t i = 0;

	while (i < n && vg_upp_verdict(status[i]) != VG_UPP_RETRY)
		i++;
	return i;
}

int vg_upp_credential_refused(long st, const char *body)
{
	return st == 401 || (st == 403 && strstr(body, "token revoked"));
}

long vg_upp_backoff(long wait)
{
	return wait * 2 > VG_UPP_WAIT_MAX_MS ? VG_UPP_WAIT_MAX_MS : wait * 2;
}

long vg_upp_retry_after(const char *v)
{
	char *end;
	long s;

	while (*v == ' ' || *v == '\t')
		v++;
	s = strtol(v, &end, 10);
	if (end == v)
		return -1;
	return s < 0 ? 0 : s > VG_UPP_RETRY_AFTER_MAX ? VG_UPP_RETRY_AFTER_MAX : s;
}

/* Past the JSON string that starts at s (its opening quote): the byte after its closing one, or NULL. */
static const char *vg_upp_skip_str(const char *s)
{
	for (s++; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (*s == '"')
			return s + 1;
	}
	return NULL;
}

int vg_upp_frames_answer(const char *resp, long *status, size_t n)
{
	const char *p = strstr(resp, "{\"frames\":[");
	size_t i = 0;

	if (!p)
		return -EBADMSG;
	p += 11;
	while (*p != ']') {
		if (i == n || (i && *p++ != ','))
			return -EBADMSG;
		if (!strncmp(p, "{\"stored\":true}", 15)) {
			status[i++] = 200;
			p += 15;
		} else if (!strncmp(p, "{\"stored\":false}", 16)) {
			status[i++] = 200;
			p += 16;
		} else if (!strncmp(p, "{\"status\":", 10)) {
			char *end;
			long st = strtol(p + 10, &end, 10);

			if (end == p + 10 || st < 400 || st > 499)
				return -EBADMSG;
			status[i++] = st;
			/* The rest of the member: strings skipped whole (a reason may hold a brace). */
			for (p = end; p && *p && *p != '}';)
				p = *p == '"' ? vg_upp_skip_str(p) : p + 1;
			if (!p || *p != '}')
				return -EBADMSG;
			p++;
		} else {
			return -EBADMSG;
		}
	}
	return i == n ? 0 : -EBADMSG;
}
