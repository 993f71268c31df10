// SPDX-License-Identifier: GPL-2.0-only
/* DNS replies: the question and the A, AAAA and CNAME answers (lib/dns.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

#define VG_DNS_HDR 12
#define VG_DNS_QD_MAX 4 /* questions a reply may repeat; real ones have one */
#define VG_DNS_AN_MAX 256 /* answer records walked */
#define VG_DNS_WIRE_MAX 255

static int vg_dns_bad(struct vg_dns_reply *r, const char *why, size_t at)
{
	r->why = why;
	r->at = at;
	return -EBADMSG;
}

/*
 * One label's bytes as text into out at *o: letters, digits, '-', '_' and
 * '*' as they are, every other byte as \DDD (so a '.', ',' or ';' inside a
 * label cannot pass for a separator).
 */
static void vg_dns_label(const uint8_t *p, size_t len, char *out, size_t *o)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '*')
			out[(*o)++] = (char)c;
		else
			*o += (size_t)snprintf(out + *o, 5, "\\%03u", c);
	}
}

/*
 * The name at *off as dotted text into out (VG_DNS_NAME_TEXT bytes); *off
 * moves past the name as it is in place (a pointer ends it). A pointer must
 * point before the previous one's target (or the name's start), so
 * following them ends. -ENODATA: the bytes ran out; -EBADMSG: bad (r->why).
 */
static int vg_dns_name_at(const uint8_t *m, size_t n, size_t *off, char *out,
			  struct vg_dns_reply *r)
{
	size_t pos = *off, lowest = *off, wire = 1, o = 0;
	int jumped = 0;

	out[0] = '\0';
	for (;;) {
		uint8_t len;

		if (pos >= n)
			return -ENODATA;
		len = m[pos];
		if ((len & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= n)
				return -ENODATA;
			to = (size_t)(len & 0x3f) << 8 | m[pos + 1];
			if (to >= lowest)
				return vg_dns_bad(
					r, "a compression pointer that does not point back", pos);
			if (!jumped)
				*off = pos + 2;
			jumped = 1;
			lowest = to;
			pos = to;
			continue;
		}
		if (len & 0xc0)
			return vg_dns_bad(r, "a label type that is not a length or a pointer", pos);
		if (!len)
			break;
		wire += len + 1u;
		if (wire > VG_DNS_WIRE_MAX)
			return vg_dns_bad(r, "a name over 255 bytes", pos);
		if (pos + 1 + len > n)
			return -ENODATA;
		if (o)
			out[o++] = '.';
		vg_dns_label(m + pos + 1, len, out, &o);
		pos += 1u + len;
	}
	if (!jumped)
		*off = pos + 1;
	out[o] = '\0';
	return 0;
}

/* One answer record at *off; kept in r when it is an A, AAAA or CNAME and there is room. */
static int vg_dns_answer(const uint8_t *m, size_t n, size_t *off, struct vg_dns_reply *r)
{
	struct vg_dns_answer *a = &r->an[r->nanswers < VG_DNS_ANSWERS_MAX ? r->nanswers : 0];
	static __thread char skip[VG_DNS_NAME_TEXT];
	int keep = r->nanswers < VG_DNS_ANSWERS_MAX;
	char *name = keep ? a->name : skip;
	size_t start = *off, rd;
	uint16_t type, rdlen;
	int err;

	err = vg_dns_name_at(m, n, off, name, r);
	if (err)
		return err;
	if (*off + 10 > n)
		return -ENODATA;
	type = (uint16_t)(m[*off] << 8 | m[*off + 1]);
	rdlen = (uint16_t)(m[*off + 8] << 8 | m[*off + 9]);
	rd = *off + 10;
	if (rd + rdlen > n)
		return -ENODATA;
	*off = rd + rdlen;
	if (type != 1 && type != 5 && type != 28) {
		r->others++;
		return 0;
	}
	if ((type == 1 && rdlen != 4) || (type == 28 && rdlen != 16))
		return vg_dns_bad(r, "an address of the wrong length", start);
	if (!keep) {
		r->others++;
		return 0;
	}
	a->type = type;
	a->ttl = (uint32_t)m[rd - 6] << 24 | (uint32_t)m[rd - 5] << 16 | (uint32_t)m[rd - 4] << 8 |
		 m[rd - 3];
	if (type == 5) {
		size_t at = rd;

		/* the name may point back into the reply, but what is in place stays in rdata */
		err = vg_dns_name_at(m, n, &at, a->data, r);
		if (err == -ENODATA || (!err && at > rd + rdlen))
			return vg_dns_bad(r, "a CNAME past its record", rd);
		if (err)
			return err;
	} else if (!inet_ntop(type == 1 ? AF_INET : AF_INET6, m + rd, a->data, sizeof(a->data))) {
		return vg_dns_bad(r, "an address that is not one", rd);
	}
	r->nanswers++;
	return 0;
}

int vg_dns_reply_parse(const uint8_t *m, size_t n, size_t full, struct vg_dns_reply *r)
{
	static __thread char skip[VG_DNS_NAME_TEXT];
	unsigned int qd;
	size_t off = VG_DNS_HDR;
	int err = 0;

	memset(r, 0, offsetof(struct vg_dns_reply, an));
	r->qtype = -1;
	if (n > full)
		return vg_dns_bad(r, "more bytes than the reply has", full);
	if (n < VG_DNS_HDR)
		return vg_dns_bad(r, "shorter than a header", n);
	if (!(m[2] & 0x80))
		return vg_dns_bad(r, "not a response", 2);
	r->id = (uint16_t)(m[0] << 8 | m[1]);
	r->truncated = !!(m[2] & 0x02);
	r->rcode = m[3] & 0x0f;
	qd = (unsigned int)(m[4] << 8 | m[5]);
	r->ancount = (unsigned int)(m[6] << 8 | m[7]);
	if (qd > VG_DNS_QD_MAX)
		return vg_dns_bad(r, "more questions than a reply repeats", 4);
	for (unsigned int i = 0; i < qd; i++) {
		err = vg_dns_name_at(m, n, &off, i ? skip : r->qname, r);
		if (!err && off + 4 > n)
			err = -ENODATA;
		if (err)
			goto end;
		if (!i)
			r->qtype = m[off] << 8 | m[off + 1];
		off += 4;
	}
	for (unsigned int i = 0; i < r->ancount; i++) {
		if (i == VG_DNS_AN_MAX) {
			r->others += r->ancount - i;
			break;
		}
		err = vg_dns_answer(m, n, &off, r);
		if (err)
			goto end;
	}
end:
	if (err != -ENODATA)
		return err;
	if (n < full) {
		r->cut = 1;
		return 0;
	}
	return vg_dns_bad(r, "a record past the reply's end", off);
}

const char *vg_dns_type_name(int type)
{
	switch (type) {
	case 1:
		return "A";
	case 5:
		return "CNAME";
	case 28:
		return "AAAA";
	default:
		return NULL;
	}
}
