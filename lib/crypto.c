// SPDX-License-Identifier: GPL-2.0-only
/* lib/auth.h's primitives on Linux: nettle's HMAC-SHA256, getrandom, key files. */
#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

int vg_hmac_sha256(const uint8_t *key, size_t klen, const void *msg, size_t len,
		   uint8_t out[VG_AUTH_MAC_LEN])
{
	struct hmac_sha256_ctx ctx;

	hmac_sha256_set_key(&ctx, klen, key);
	hmac_sha256_update(&ctx, len, msg);
	hmac_sha256_digest(&ctx, VG_AUTH_MAC_LEN, out);
	memset(&ctx, 0, sizeof(ctx));
	return 0;
}

int vg_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define VG_KEYS_FILE_MAX (1u << 20)

int vg_keys_load(struct vg_keys *k, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	unsigned bad = 0;
	struct stat st;
	char *text;
	ssize_t n;
	int err;

	memset(k, 0, sizeof(*k));
	if (fd < 0)
		return vg_err(-errno, "key file %s", path);
	if (fstat(fd, &st)) {
		err = vg_err(-errno, "key file %s", path);
		goto out_fd;
	}
	/* Whoever can read or replace it can be any device. */
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 077)) {
		vg_log(VG_ERROR,
		       "key file %s: must be a regular file owned by root (or by us), "
		       "not readable or writable by group or others (mode %o, owner %u)",
		       path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		err = -EPERM;
		goto out_fd;
	}
	if (st.st_size > VG_KEYS_FILE_MAX) {
		vg_log(VG_ERROR, "key file %s: over %u bytes", path, VG_KEYS_FILE_MAX);
		err = -EFBIG;
		goto out_fd;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		err = -ENOMEM;
		goto out_fd;
	}
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		err = vg_err(n < 0 ? -errno : -EIO, "key file %s: read", path);
		goto out_text;
	}
	err = vg_keys_parse(k, text, (size_t)n, &bad);
	if (err == -EINVAL)
		vg_log(VG_ERROR,
		       "key file %s: line %u: not 'DEVICE-ID KEYHEX' (a printable id of at most "
		       "%d bytes, %d hex digits, each id once)",
		       path, bad, VG_AUTH_ID_MAX, 2 * VG_AUTH_KEY_LEN);
	else if (!err && !k->n) {
		vg_log(VG_ERROR, "key file %s: no keys", path);
		err = -EINVAL;
	}
	if (err)
		vg_keys_free(k);
out_text:
	memset(text, 0, (size_t)st.st_size + 1);
	free(text);
out_fd:
	close(fd);
	return err;
}
