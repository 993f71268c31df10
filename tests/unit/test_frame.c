// SPDX-License-Identifier: GPL-2.0-only
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* A whole frame (header + payload) in a malloc'd buffer. */
static uint8_t *mkframe(uint8_t type, uint64_t seq, const void *payload, uint32_t len,
			size_t *out_len)
{
	struct vg_frame_hdr h = { .type = type, .flags = VG_FRAME_F_ZSTD, .seq = seq, .len = len };
	uint8_t *f = malloc(VG_FRAME_HDR_LEN + len + 1);

	cr_assert_not_null(f);
	vg_frame_hdr_pack(f, &h, payload);
	if (len)
		memcpy(f + VG_FRAME_HDR_LEN, payload, len);
	*out_len = VG_FRAME_HDR_LEN + len;
	return f;
}

Test(frame, crc32c_known_vector)
{
	/* The CRC-32C check value of "123456789" (RFC 3720 appendix). */
	cr_assert_eq(vg_crc32c(0, "123456789", 9), 0xe3069283u);
}

Test(frame, header_round_trip)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH,
				  .flags = VG_FRAME_F_ZSTD,
				  .seq = 0x0102030405060708ull,
				  .len = 5 };
	struct vg_frame_hdr g;
	uint8_t raw[VG_FRAME_HDR_LEN];

	vg_frame_hdr_pack(raw, &h, "hello");
	/* Little-endian on the wire whatever the host. */
	cr_assert_eq(memcmp(raw, "VIGL", 4), 0);
	cr_assert_eq(raw[4], VG_FRAME_VERSION);
	cr_assert_eq(raw[8], 0x08);
	cr_assert_eq(raw[15], 0x01);
	cr_assert_eq(vg_frame_hdr_unpack(raw, &g), 0);
	cr_assert_eq(g.magic, VG_FRAME_MAGIC);
	cr_assert_eq(g.version, VG_FRAME_VERSION);
	cr_assert_eq(g.type, VG_FRAME_BATCH);
	cr_assert_eq(g.flags, VG_FRAME_F_ZSTD);
	cr_assert_eq(g.seq, 0x0102030405060708ull);
	cr_assert_eq(g.len, 5);
	cr_assert_eq(g.crc, h.crc);
	cr_assert_eq(vg_frame_verify(raw, &g, "hello"), 0);
	cr_assert_eq(vg_frame_verify(raw, &g, "hellO"), -EILSEQ);
}

Test(frame, reader_byte_by_byte)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 42, "payload!", 8, &n);

	vg_frame_reader_init(&r);
	for (size_t i = 0; i < n - 1; i++) {
		cr_assert_eq(vg_frame_reader_feed(&r, f + i, 1), 0);
		cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 0, "frame early at byte %zu", i);
		cr_assert_eq(vg_frame_reader_pending(&r), i + 1);
	}
	cr_assert_eq(vg_frame_reader_feed(&r, f + n - 1, 1), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 1);
	cr_assert_eq(h.seq, 42);
	cr_assert_eq(h.len, 8);
	cr_assert_eq(memcmp(p, "payload!", 8), 0);
	cr_assert_eq(vg_frame_reader_pending(&r), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 0);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, truncated_frame_waits)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 7, "0123456789", 10, &n);

	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n - 3), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 0);
	cr_assert_eq(vg_frame_reader_pending(&r), n - 3);
	/* Only a header's worth: still nothing. */
	vg_frame_reader_free(&r);
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, VG_FRAME_HDR_LEN - 1), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 0);
	cr_assert_eq(vg_frame_reader_pending(&r), VG_FRAME_HDR_LEN - 1);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, bad_magic)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 1, "abc", 3, &n);

	f[0] ^= 0xff;
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), -EBADMSG);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, bad_version)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 1, "abc", 3, &n);

	f[4] = VG_FRAME_VERSION + 1;
	cr_assert_eq(vg_frame_hdr_unpack(f, &h), -EPROTONOSUPPORT);
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), -EPROTONOSUPPORT);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, bad_checksum)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 9, "some payload", 12, &n);

	f[VG_FRAME_HDR_LEN + 5] ^= 0x01;
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), -EILSEQ);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, bad_header_checksum)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n;
	uint8_t *f = mkframe(VG_FRAME_BATCH, 9, "x", 1, &n);

	f[8] ^= 0x01; /* the seq is covered by the crc too */
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), -EILSEQ);
	vg_frame_reader_free(&r);
	free(f);
}

Test(frame, oversized_rejected_from_header_alone)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH, .seq = 3 };
	uint32_t len = VG_FRAME_MAX_PAYLOAD + 1;
	struct vg_frame_reader r;
	uint8_t raw[VG_FRAME_HDR_LEN];
	const uint8_t *p;

	/* Claim one byte over the bound; the payload never comes. */
	vg_frame_hdr_pack(raw, &h, NULL);
	for (int i = 0; i < 4; i++)
		raw[16 + i] = (uint8_t)(len >> (8 * i));
	cr_assert_eq(vg_frame_hdr_unpack(raw, &h), -EMSGSIZE);
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, raw, sizeof(raw)), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), -EMSGSIZE);
	/* Nothing near the claimed size was buffered. */
	cr_assert_lt(r.cap, (size_t)64 * 1024);
	vg_frame_reader_free(&r);
}

Test(frame, max_payload_accepted)
{
	size_t n;
	uint8_t *payload = calloc(1, VG_FRAME_MAX_PAYLOAD);
	uint8_t *f = mkframe(VG_FRAME_BATCH, 5, payload, VG_FRAME_MAX_PAYLOAD, &n);
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;

	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, f, n), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 1);
	cr_assert_eq(h.len, VG_FRAME_MAX_PAYLOAD);
	vg_frame_reader_free(&r);
	free(f);
	free(payload);
}

Test(frame, two_frames_in_one_feed)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *p;
	size_t n1, n2;
	uint8_t *f1 = mkframe(VG_FRAME_BATCH, 100, "first", 5, &n1);
	uint8_t *f2 = mkframe(VG_FRAME_ACK, 101, NULL, 0, &n2);
	uint8_t *both = malloc(n1 + n2 + 4);

	memcpy(both, f1, n1);
	memcpy(both + n1, f2, n2);
	memcpy(both + n1 + n2, "VIGL", 4); /* start of a third */
	vg_frame_reader_init(&r);
	cr_assert_eq(vg_frame_reader_feed(&r, both, n1 + n2 + 4), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 1);
	cr_assert_eq(h.seq, 100);
	cr_assert_eq(h.type, VG_FRAME_BATCH);
	cr_assert_eq(memcmp(p, "first", 5), 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 1);
	cr_assert_eq(h.seq, 101);
	cr_assert_eq(h.type, VG_FRAME_ACK);
	cr_assert_eq(h.len, 0);
	cr_assert_eq(vg_frame_reader_next(&r, &h, &p), 0);
	cr_assert_eq(vg_frame_reader_pending(&r), 4);
	vg_frame_reader_free(&r);
	free(f1);
	free(f2);
	free(both);
}

Test(frame, strerror_names_each_code)
{
	cr_assert_str_eq(vg_frame_strerror(-EBADMSG), "bad frame magic");
	cr_assert_str_eq(vg_frame_strerror(-EILSEQ), "frame checksum mismatch");
	cr_assert_str_eq(vg_frame_strerror(-EMSGSIZE), "frame length over the bound");
	cr_assert_str_eq(vg_frame_strerror(-EPROTONOSUPPORT), "unsupported frame version");
}
