/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The keyed handshake between vigild and the host, for transports anyone
 * else could reach (tcp, vsock, a unix socket that is not root-only). Each
 * device has a 32-byte pre-shared key; both sides prove they know it with
 * HMAC-SHA256 over fresh nonces, and the device id in the proof is the only
 * identity the host accepts on that connection.
 *
 *   daemon -> host  AUTH seq 1: nonce_d[32] device_id   (1..255 bytes)
 *   host -> daemon  CHALLENGE:  nonce_h[32] mac_h[32]
 *   daemon -> host  AUTH seq 2: mac_d[32]
 *
 * mac_h = HMAC(key, "vigil-auth-1 host"   || nonce_d || nonce_h || len || id)
 * mac_d = HMAC(key, "vigil-auth-1 sensor" || nonce_d || nonce_h || len || id)
 *
 * The host proves first (over the daemon's nonce), so a daemon never sends
 * anything under its key to a host that does not know it; the distinct
 * labels keep one side's proof from being replayed as the other's.
 *
 * Portable C: the primitives (vg_hmac_sha256, vg_random) come from nettle
 * and getrandom on Linux (lib/crypto.c), from BCrypt on Windows
 * (plugin/crypto.c).
 */
#ifndef VG_AUTH_H
#define VG_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define VG_AUTH_KEY_LEN 32
#define VG_AUTH_NONCE_LEN 32
#define VG_AUTH_MAC_LEN 32
#define VG_AUTH_ID_MAX 255
#define VG_AUTH_BEGIN 1 /* seq of the first AUTH frame */
#define VG_AUTH_PROOF 2 /* seq of the second */

struct vg_key {
	char id[VG_AUTH_ID_MAX + 1];
	uint8_t key[VG_AUTH_KEY_LEN];
};

/* Keys by device id (--keys FILE on the host, --key FILE in vigild). */
struct vg_keys {
	struct vg_key *v;
	size_t n;
};

/* Platform primitives: 0, or a negative errno. */
int vg_hmac_sha256(const uint8_t *key, size_t klen, const void *msg, size_t len,
		   uint8_t out[VG_AUTH_MAC_LEN]);
int vg_random(void *buf, size_t len);

/* mac_h (host) or mac_d (!host) for these nonces and id: 0 or -errno. */
int vg_auth_mac(const uint8_t key[VG_AUTH_KEY_LEN], int host, const uint8_t *nonce_d,
		const uint8_t *nonce_h, const char *id, size_t id_len,
		uint8_t out[VG_AUTH_MAC_LEN]);
/* 1 when the two MACs are equal, in time independent of where they differ. */
int vg_auth_mac_equal(const uint8_t *a, const uint8_t *b);

/*
 * Parse key-file text: lines "DEVICE-ID KEYHEX" (64 hex digits), blank lines
 * and '#' comments. On error, -EINVAL and the line in *bad_line. 0 or -errno.
 */
int vg_keys_parse(struct vg_keys *k, const char *text, size_t len, unsigned *bad_line);
const struct vg_key *vg_keys_find(const struct vg_keys *k, const char *id, size_t id_len);
void vg_keys_free(struct vg_keys *k);

/* Linux (lib/crypto.c): read a key file that only its owner, root or us, can read. */
int vg_keys_load(struct vg_keys *k, const char *path);

#endif
