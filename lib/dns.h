/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DNS replies as a monitored process received them (kern/sys.bpf.c copies
 * a bounded prefix of each reply to a socket that sent a query): the
 * question and the A, AAAA and CNAME answers. Everything in a reply is
 * attacker input: every offset is checked against the bytes there are,
 * compression pointers may only point backwards and are followed a bounded
 * number of times, names are at most 255 bytes, and the counts in the
 * header are believed only as far as the records are there.
 */
#ifndef VG_DNS_H
#define VG_DNS_H

#include <stddef.h>
#include <stdint.h>

#define VG_DNS_ANSWERS_MAX 16 /* answers kept; the rest are counted */
#define VG_DNS_NAME_TEXT 1024 /* a 255-byte name with every byte escaped as \DDD */

struct vg_dns_answer {
	char name[VG_DNS_NAME_TEXT];
	uint16_t type; /* 1 A, 5 CNAME, 28 AAAA */
	uint32_t ttl;
	/* A, AAAA: the address as text; CNAME: the canonical name */
	char data[VG_DNS_NAME_TEXT];
};

struct vg_dns_reply {
	uint16_t id;
	uint8_t rcode; /* 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ... */
	uint8_t truncated; /* TC: the server cut the reply (the client asks again over TCP) */
	char qname[VG_DNS_NAME_TEXT];
	int qtype; /* -1: no question */
	unsigned int ancount; /* answers the header announces */
	unsigned int nanswers; /* A, AAAA and CNAME answers read, up to VG_DNS_ANSWERS_MAX */
	unsigned int others; /* answers of other types, or past VG_DNS_ANSWERS_MAX */
	/* The copy ended before the reply did (cut): the answers after it are not known. */
	uint8_t cut;
	struct vg_dns_answer an[VG_DNS_ANSWERS_MAX];
	/* -EBADMSG: what was wrong and at which byte of the reply */
	const char *why;
	size_t at;
};

/*
 * Parse msg (n bytes of a reply of full bytes: n < full when the copy was
 * cut) into r. 0, or -EBADMSG with r->why and r->at: not a response, a
 * label over 63 bytes, a name over 255, a compression pointer that does
 * not point backwards or too many of them, a record past the end of a
 * reply that was not cut.
 */
int vg_dns_reply_parse(const uint8_t *msg, size_t n, size_t full, struct vg_dns_reply *r);

/* Type 1, 5, 28 as "A", "CNAME", "AAAA"; NULL for others. */
const char *vg_dns_type_name(int type);

#endif
