// SPDX-License-Identifier: GPL-2.0-only
/*
 * lib/dns.c, the DNS reply parser, on replies built byte by byte: the
 * answers of well-formed ones exactly (compression pointers, CNAME chains,
 * AAAA, NXDOMAIN, a reply the copy cut), and every malformed one refused
 * with the reason and the byte: pointer loops, forward pointers, labels and
 * names too long, counts past the end, addresses of the wrong size.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "dns.h"

static struct vg_dns_reply r;

/* Header (id 0x1234, QR, rcode), question "vg.example" A; the bytes so far. */
static size_t head(uint8_t *b, int rcode, int ancount)
{
	static const uint8_t h[] = { 0x12, 0x34, 0x81, 0x80, 0,	  1, 0,	  0,   0,   0,
				     0,	   0,	 2,    'v',  'g', 7, 'e', 'x', 'a', 'm',
				     'p',  'l',	 'e',  0,    0,	  1, 0,	  1 };

	memcpy(b, h, sizeof(h));
	b[3] = (uint8_t)(0x80 | rcode);
	b[7] = (uint8_t)ancount;
	return sizeof(h);
}

static size_t rr(uint8_t *b, size_t n, const void *name, size_t nlen, int type, const void *rd,
		 size_t rdlen)
{
	memcpy(b + n, name, nlen);
	n += nlen;
	b[n++] = (uint8_t)(type >> 8);
	b[n++] = (uint8_t)type;
	memcpy(b + n, (const uint8_t[]){ 0, 1, 0, 0, 1, 0x2c }, 6); /* IN, TTL 300 */
	n += 6;
	b[n++] = (uint8_t)(rdlen >> 8);
	b[n++] = (uint8_t)rdlen;
	memcpy(b + n, rd, rdlen);
	return n + rdlen;
}

static const uint8_t ptr_q[] = { 0xc0, 12 };
static const uint8_t a1[] = { 192, 0, 2, 1 };

Test(dns, a_cname_chain_with_pointers)
{
	static const uint8_t cname[] = { 3, 'w', 'w', 'w', 0xc0, 12 }; /* www. + the question */
	uint8_t b[512], p2[2];
	size_t n = head(b, 0, 2), at;

	at = n + 12;
	n = rr(b, n, ptr_q, 2, 5, cname, sizeof(cname));
	p2[0] = 0xc0;
	p2[1] = (uint8_t)at;
	n = rr(b, n, p2, 2, 1, a1, 4);
	cr_assert_eq(vg_dns_reply_parse(b, n, n, &r), 0, "%s at %zu", r.why, r.at);
	cr_expect_eq(r.id, 0x1234);
	cr_expect_str_eq(r.qname, "vg.example");
	cr_expect_eq(r.qtype, 1);
	cr_expect_eq(r.rcode, 0);
	cr_expect_eq(r.ancount, 2);
	cr_assert_eq(r.nanswers, 2);
	cr_expect_str_eq(r.an[0].name, "vg.example");
	cr_expect_eq(r.an[0].type, 5);
	cr_expect_str_eq(r.an[0].data, "www.vg.example");
	cr_expect_eq(r.an[0].ttl, 300);
	cr_expect_str_eq(r.an[1].name, "www.vg.example");
	cr_expect_eq(r.an[1].type, 1);
	cr_expect_str_eq(r.an[1].data, "192.0.2.1");
	cr_expect_eq(r.others + r.cut + r.truncated, 0);
}

Test(dns, aaaa_other_types_and_nxdomain)
{
	static const uint8_t six[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	uint8_t b[512];
	size_t n = head(b, 0, 3);

	n = rr(b, n, ptr_q, 2, 16, "\3txt", 4); /* TXT: counted, not listed */
	n = rr(b, n, ptr_q, 2, 28, six, 16);
	n = rr(b, n, ptr_q, 2, 1, a1, 4);
	cr_assert_eq(vg_dns_reply_parse(b, n, n, &r), 0, "%s", r.why);
	cr_assert_eq(r.nanswers, 2);
	cr_expect_eq(r.others, 1);
	cr_expect_str_eq(r.an[0].data, "2001:db8::2");
	cr_expect_str_eq(vg_dns_type_name(r.an[0].type), "AAAA");

	n = head(b, 3, 0);
	b[2] |= 0x02; /* TC */
	cr_assert_eq(vg_dns_reply_parse(b, n, n, &r), 0);
	cr_expect_eq(r.rcode, 3);
	cr_expect_eq(r.truncated, 1);
	cr_expect_eq(r.nanswers, 0);
}

/* A label byte that could pass for a separator or a control is written \DDD. */
Test(dns, names_are_escaped)
{
	static const uint8_t evil[] = { 4, 'a', '.', ',', 0x1b, 0 };
	uint8_t b[512];
	size_t n = head(b, 0, 1);

	n = rr(b, n, evil, sizeof(evil), 1, a1, 4);
	cr_assert_eq(vg_dns_reply_parse(b, n, n, &r), 0, "%s", r.why);
	cr_expect_str_eq(r.an[0].name, "a\\046\\044\\027");
}

/* A reply longer than the copy: the answers before the cut, and cut set. */
Test(dns, cut_by_the_copy_is_not_malformed)
{
	uint8_t b[512];
	size_t n = head(b, 0, 2), first;

	first = n = rr(b, n, ptr_q, 2, 1, a1, 4);
	n = rr(b, n, ptr_q, 2, 1, a1, 4);
	cr_assert_eq(vg_dns_reply_parse(b, first + 5, n, &r), 0);
	cr_expect_eq(r.cut, 1);
	cr_expect_eq(r.nanswers, 1);
	cr_expect_eq(vg_dns_reply_parse(b, first + 5, first + 5, &r), -EBADMSG);
	cr_expect_str_eq(r.why, "a record past the reply's end");
}

static void refused(const uint8_t *b, size_t n, const char *why)
{
	cr_expect_eq(vg_dns_reply_parse(b, n, n, &r), -EBADMSG, "%s", why);
	cr_expect(r.why && strstr(r.why, why), "%s, not %s", r.why, why);
}

Test(dns, malformed_replies_are_refused)
{
	uint8_t b[600], self[2], fwd[2] = { 0xc0, 200 }, hop[4];
	size_t n;

	n = head(b, 0, 1); /* a pointer to itself */
	self[0] = 0xc0;
	self[1] = (uint8_t)n;
	n = rr(b, n, self, 2, 1, a1, 4);
	refused(b, n, "does not point back");

	n = head(b, 0, 1); /* two pointers to each other */
	hop[0] = 0xc0;
	hop[1] = (uint8_t)(n + 2);
	hop[2] = 0xc0;
	hop[3] = (uint8_t)n;
	n = rr(b, n, hop, 4, 1, a1, 4);
	refused(b, n, "does not point back");

	n = head(b, 0, 1); /* forward */
	n = rr(b, n, fwd, 2, 1, a1, 4);
	refused(b, n, "does not point back");

	n = head(b, 0, 1);
	n = rr(b, n, (const uint8_t[]){ 0x40, 0 }, 2, 1, a1, 4);
	refused(b, n, "label type");

	n = head(b, 0, 1);
	n = rr(b, n, ptr_q, 2, 1, a1, 3);
	refused(b, n, "wrong length");

	n = head(b, 0, 1); /* a CNAME whose name runs past its record */
	n = rr(b, n, ptr_q, 2, 5, "\3www", 4);
	b[n++] = 0;
	refused(b, n - 1, "past its record");

	n = head(b, 0, 3); /* announces three, has one */
	n = rr(b, n, ptr_q, 2, 1, a1, 4);
	refused(b, n, "past the reply's end");

	n = head(b, 0, 0);
	b[2] = 0x01; /* a query, not a response */
	refused(b, n, "not a response");
	refused(b, 11, "shorter than a header");

	/* a name of 5 labels of 63: over 255 bytes */
	n = 12;
	memcpy(b, "\x12\x34\x81\x80\0\1\0\0\0\0\0\0", 12);
	for (int i = 0; i < 5; i++) {
		b[n++] = 63;
		memset(b + n, 'x', 63);
		n += 63;
	}
	b[n++] = 0;
	memcpy(b + n, "\0\1\0\1", 4);
	refused(b, n + 4, "over 255");
}

/* Every prefix of a good reply, as a whole reply and as a cut copy: no crash, a clear answer. */
Test(dns, every_prefix)
{
	uint8_t b[512];
	size_t n = head(b, 0, 2);

	n = rr(b, n, ptr_q, 2, 5, "\3www\xc0\x0c", 6);
	n = rr(b, n, ptr_q, 2, 1, a1, 4);
	for (size_t k = 0; k < n; k++) {
		cr_expect_eq(vg_dns_reply_parse(b, k, k, &r), -EBADMSG, "%zu", k);
		cr_expect_eq(vg_dns_reply_parse(b, k, n, &r), k < 12 ? -EBADMSG : 0, "%zu", k);
	}
}
