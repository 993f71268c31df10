// SPDX-License-Identifier: GPL-2.0-only
/* lib/auth.h's primitives on Windows: BCrypt's HMAC-SHA256 and system RNG. */
#include <windows.h>
#include <bcrypt.h>

#include "auth.h"
#include "compat.h"

int vg_hmac_sha256(const uint8_t *key, size_t klen, const void *msg, size_t len,
		   uint8_t out[VG_AUTH_MAC_LEN])
{
	BCRYPT_ALG_HANDLE alg = NULL;
	BCRYPT_HASH_HANDLE hash = NULL;
	NTSTATUS st;

	st = BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL,
					 BCRYPT_ALG_HANDLE_HMAC_FLAG);
	if (BCRYPT_SUCCESS(st))
		st = BCryptCreateHash(alg, &hash, NULL, 0, (PUCHAR)key, (ULONG)klen, 0);
	if (BCRYPT_SUCCESS(st))
		st = BCryptHashData(hash, (PUCHAR)msg, (ULONG)len, 0);
	if (BCRYPT_SUCCESS(st))
		st = BCryptFinishHash(hash, out, VG_AUTH_MAC_LEN, 0);
	if (hash)
		BCryptDestroyHash(hash);
	if (alg)
		BCryptCloseAlgorithmProvider(alg, 0);
	return BCRYPT_SUCCESS(st) ? 0 : -EIO;
}

int vg_random(void *buf, size_t len)
{
	NTSTATUS st = BCryptGenRandom(NULL, buf, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG);

	return BCRYPT_SUCCESS(st) ? 0 : -EIO;
}
