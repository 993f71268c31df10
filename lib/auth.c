// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "compat.h"

#define VG_AUTH_LABEL_HOST "vigil-auth-1 host"
#define VG_AUTH_LABEL_SENSOR "vigil-auth-1 sensor"

int vg_auth_mac(const uint8_t key[VG_AUTH_KEY_LEN], int host, const uint8_t *nonce_d,
		const uint8_t *nonce_h, const char *id, size_t id_len, uint8_t out[VG_AUTH_MAC_LEN])
{
	const char *label = host ? VG_AUTH_LABEL_HOST : VG_AUTH_LABEL_SENSOR;
	uint8_t msg[32 + 2 * VG_AUTH_NONCE_LEN + 1 + VG_AUTH_ID_MAX];
	size_t n = strlen(label);

	if (!id_len || id_len > VG_AUTH_ID_MAX)
		return -EINVAL;
	memcpy(msg, label, n);
	memcpy(msg + n, nonce_d, VG_AUTH_NONCE_LEN);
	n += VG_AUTH_NONCE_LEN;
	memcpy(msg + n, nonce_h, VG_AUTH_NONCE_LEN);
	n += VG_AUTH_NONCE_LEN;
	msg[n++] = (uint8_t)id_len;
	memcpy(msg + n, id, id_len);
	n += id_len;
	return vg_hmac_sha256(key, VG_AUTH_KEY_LEN, msg, n, out);
}

int vg_auth_mac_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (int i = 0; i < VG_AUTH_MAC_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static int vg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One "ID HEX" line (no newline) into k: 0 or -EINVAL/-ENOMEM. */
static int vg_keys_line(struct vg_keys *k, const char *p, const char *end)
{
	const char *id, *hex;
	struct vg_key *nv, *e;
	size_t id_len;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return 0;
	id = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	id_len = (size_t)(p - id);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	hex = p;
	while (end > hex && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	if (!id_len || id_len > VG_AUTH_ID_MAX || end - hex != 2 * VG_AUTH_KEY_LEN)
		return -EINVAL;
	for (const char *c = id; c < id + id_len; c++)
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
			return -EINVAL;
	if (vg_keys_find(k, id, id_len))
		return -EINVAL; /* the same device twice: which key is meant? */
	nv = realloc(k->v, (k->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	k->v = nv;
	e = &k->v[k->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, id_len);
	for (int i = 0; i < VG_AUTH_KEY_LEN; i++) {
		int hi = vg_hexval(hex[2 * i]), lo = vg_hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	k->n++;
	return 0;
}

int vg_keys_parse(struct vg_keys *k, const char *text, size_t len, unsigned *bad_line)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int err;

		line++;
		if (!nl)
			nl = end;
		err = vg_keys_line(k, p, nl);
		if (err) {
			*bad_line = line;
			return err;
		}
		p = nl + 1;
	}
	return 0;
}

const struct vg_key *vg_keys_find(const struct vg_keys *k, const char *id, size_t id_len)
{
	for (size_t i = 0; i < k->n; i++)
		if (strlen(k->v[i].id) == id_len && !memcmp(k->v[i].id, id, id_len))
			return &k->v[i];
	return NULL;
}

void vg_keys_free(struct vg_keys *k)
{
	if (k->v)
		memset(k->v, 0, k->n * sizeof(*k->v));
	free(k->v);
	k->v = NULL;
	k->n = 0;
}
