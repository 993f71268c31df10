// SPDX-License-Identifier: GPL-2.0-only
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "frame.h"

/* CRC-32C (Castagnoli), reflected polynomial 0x82f63b78, table built once. */
static uint32_t vg_crc_table[256];

static void vg_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		vg_crc_table[i] = c;
	}
}

uint32_t vg_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!vg_crc_table[1])
		vg_crc_init();
	crc = ~crc;
	while (len--)
		crc = vg_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void vg_put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t vg_get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t vg_frame_crc(const uint8_t raw_hdr[VG_FRAME_HDR_LEN], const void *payload,
			     uint32_t len)
{
	uint32_t crc = vg_crc32c(0, raw_hdr, 20);

	return len ? vg_crc32c(crc, payload, len) : crc;
}

void vg_frame_hdr_pack(uint8_t out[VG_FRAME_HDR_LEN], struct vg_frame_hdr *h, const void *payload)
{
	h->magic = VG_FRAME_MAGIC;
	h->version = VG_FRAME_VERSION;
	vg_put_le(out, h->magic, 4);
	out[4] = h->version;
	out[5] = h->type;
	vg_put_le(out + 6, h->flags, 2);
	vg_put_le(out + 8, h->seq, 8);
	vg_put_le(out + 16, h->len, 4);
	h->crc = vg_frame_crc(out, payload, h->len);
	vg_put_le(out + 20, h->crc, 4);
}

int vg_frame_hdr_unpack(const uint8_t in[VG_FRAME_HDR_LEN], struct vg_frame_hdr *h)
{
	h->magic = (uint32_t)vg_get_le(in, 4);
	h->version = in[4];
	h->type = in[5];
	h->flags = (uint16_t)vg_get_le(in + 6, 2);
	h->seq = vg_get_le(in + 8, 8);
	h->len = (uint32_t)vg_get_le(in + 16, 4);
	h->crc = (uint32_t)vg_get_le(in + 20, 4);
	if (h->magic != VG_FRAME_MAGIC)
		return -EBADMSG;
	if (h->version != VG_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (h->len > VG_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

int vg_frame_verify(const uint8_t raw_hdr[VG_FRAME_HDR_LEN], const struct vg_frame_hdr *h,
		    const void *payload)
{
	return vg_frame_crc(raw_hdr, payload, h->len) == h->crc ? 0 : -EILSEQ;
}

void vg_frame_reader_init(struct vg_frame_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void vg_frame_reader_free(struct vg_frame_reader *r)
{
	free(r->buf);
	vg_frame_reader_init(r);
}

int vg_frame_reader_feed(struct vg_frame_reader *r, const void *data, size_t len)
{
	if (r->consumed) {
		memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
		r->len -= r->consumed;
		r->consumed = 0;
	}
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *nb;

		while (cap < r->len + len)
			cap *= 2;
		nb = realloc(r->buf, cap);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = cap;
	}
	if (len)
		memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int vg_frame_reader_next(struct vg_frame_reader *r, struct vg_frame_hdr *h, const uint8_t **payload)
{
	const uint8_t *p = r->buf + r->consumed;
	size_t avail = r->len - r->consumed;
	int err;

	if (avail < VG_FRAME_HDR_LEN)
		return 0;
	/* Check the header before waiting for a payload it may only claim to have. */
	err = vg_frame_hdr_unpack(p, h);
	if (err)
		return err;
	if (avail < VG_FRAME_HDR_LEN + (size_t)h->len)
		return 0;
	err = vg_frame_verify(p, h, p + VG_FRAME_HDR_LEN);
	if (err)
		return err;
	*payload = p + VG_FRAME_HDR_LEN;
	r->consumed += VG_FRAME_HDR_LEN + h->len;
	return 1;
}

size_t vg_frame_reader_pending(const struct vg_frame_reader *r)
{
	return r->len - r->consumed;
}

const char *vg_frame_strerror(int err)
{
	switch (err) {
	case -EBADMSG:
		return "bad frame magic";
	case -EPROTONOSUPPORT:
		return "unsupported frame version";
	case -EMSGSIZE:
		return "frame length over the bound";
	case -EILSEQ:
		return "frame checksum mismatch";
	case -EFBIG:
		return "decompressed payload over the bound";
	case -ENOKEY:
		return "payload compressed with an unknown zstd dictionary";
	case -ENOMEM:
		return "out of memory";
	default:
		return "malformed frame";
	}
}
