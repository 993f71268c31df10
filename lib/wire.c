// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "wire.h"

void vg_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t vg_le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void vg_wire_ack_pack(uint8_t out[VG_ACK_FRAME_LEN], uint64_t stream, uint64_t seq)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_ACK, .seq = seq, .len = 8 };

	vg_le64_put(out + VG_FRAME_HDR_LEN, stream);
	vg_frame_hdr_pack(out, &h, out + VG_FRAME_HDR_LEN);
}

int vg_wire_frame(uint8_t type, uint16_t flags, uint64_t seq, const void *payload, size_t len,
		  uint8_t **out, size_t *out_len)
{
	struct vg_frame_hdr h = { .type = type, .flags = flags, .seq = seq, .len = (uint32_t)len };
	uint8_t *f;

	if (len > VG_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	f = malloc(VG_FRAME_HDR_LEN + len);
	if (!f)
		return -ENOMEM;
	if (len)
		memcpy(f + VG_FRAME_HDR_LEN, payload, len);
	vg_frame_hdr_pack(f, &h, f + VG_FRAME_HDR_LEN);
	*out = f;
	*out_len = VG_FRAME_HDR_LEN + len;
	return 0;
}

/* Nesting of the schema: Batch > Event > ProcessEvent > Process is 4 deep. */
#define VG_WALK_MAX_DEPTH 8
/* Fields of the largest message the walker may meet (Process has 24). */
#define VG_WALK_MAX_FIELDS 32
/* protobuf-c's ScannedMember: what unpacking holds per field while it scans a message. */
#define VG_PBC_SCANNED_MEMBER 32

static const struct vg_bound {
	const ProtobufCMessageDescriptor *msg;
	const char *field;
	uint32_t max;
} vg_bounds[] = {
	{ &vigil__v1__batch__descriptor, "events", VG_BATCH_MAX_EVENTS_WIRE },
	{ &vigil__v1__batch__descriptor, "counters", VG_BATCH_MAX_COUNTERS },
	{ &vigil__v1__batch__descriptor, "rings", VG_BATCH_MAX_RINGS },
	{ &vigil__v1__batch__descriptor, "filter_rules", VG_BATCH_MAX_RULES },
	{ &vigil__v1__device_info__descriptor, "tags", VG_BATCH_MAX_TAGS },
	{ &vigil__v1__process__descriptor, "argv", VG_BATCH_MAX_ARGV },
	{ &vigil__v1__security_event__descriptor, "details", VG_BATCH_MAX_DETAILS },
	{ &vigil__v1__process_event__descriptor, "loader_env", VG_BATCH_MAX_LOADER_ENV },
};

uint32_t vg_batch_bound(const ProtobufCMessageDescriptor *msg, const char *field)
{
	for (size_t i = 0; i < sizeof(vg_bounds) / sizeof(vg_bounds[0]); i++)
		if (vg_bounds[i].msg == msg && !strcmp(vg_bounds[i].field, field))
			return vg_bounds[i].max;
	return 0; /* a repeated field nobody bounded: any entry is refused */
}

struct vg_walk {
	size_t cost; /* what stays allocated once unpacked */
	/*
	 * protobuf-c's scan slabs: a message's are held while its children
	 * unpack. scan: those of the messages being walked, so far; sub: what
	 * the message walked last holds at most with its children's.
	 */
	size_t scan, sub, scan_peak;
	size_t budget, len;
	char *why;
	size_t why_len;
};

static int vg_walk_fail(struct vg_walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	if (w->why && w->why_len) {
		va_start(ap, fmt);
		vsnprintf(w->why, w->why_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

static int vg_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned int i = 0; i < 10 && *off < len; i++) {
		uint8_t b = p[(*off)++];

		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -EBADMSG;
}

/*
 * What malloc(n) takes (glibc's chunk of n + 8 rounded to 16, at least 32),
 * as the budget allocator counts it. From 1 KiB glibc serves best fit from
 * bins of mixed sizes and hands a chunk out whole when the rest would be
 * under its 32-byte minimum: 16 bytes more, depending on the heap before.
 */
static size_t vg_alloc_cost(size_t n)
{
	size_t c = (n + VG_BATCH_ALLOC_OVERHEAD + 15) & ~(size_t)15;

	return c < 32 ? 32 : c >= 1024 ? c + 16 : c;
}

/*
 * Over budget: what stays allocated so far, and the most the scan slabs may
 * hold at once (they come and go while messages unpack).
 */
static int vg_walk_over(struct vg_walk *w, size_t scan)
{
	if (scan > w->scan_peak)
		w->scan_peak = scan;
	return w->cost + w->scan_peak > w->budget;
}

/* Bytes of one element of a repeated field's array (protobuf-c's sizeof_elt_in_repeated_array). */
static size_t vg_elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 8;
	}
}

int vg_pb_next(const uint8_t *p, size_t len, size_t *off, struct vg_pb_field *f)
{
	uint64_t key, v;
	int err;

	memset(f, 0, sizeof(*f));
	if (vg_varint(p, len, off, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return -EBADMSG;
	f->number = (uint32_t)(key >> 3);
	f->wire_type = key & 7;
	switch (f->wire_type) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		err = vg_varint(p, len, off, &v);
		break;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		err = len - *off < 8 ? -EBADMSG : 0;
		*off += err ? 0 : 8;
		break;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		err = len - *off < 4 ? -EBADMSG : 0;
		*off += err ? 0 : 4;
		break;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		err = vg_varint(p, len, off, &v);
		if (!err && v > len - *off)
			err = -EBADMSG;
		if (!err) {
			f->body = p + *off;
			f->body_len = (size_t)v;
			*off += f->body_len;
		}
		break;
	default:
		err = -EBADMSG; /* groups: protobuf-c has none */
	}
	return err;
}

/* The wire type a (non-packed) field of type t is encoded with. */
static unsigned int vg_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return PROTOBUF_C_WIRE_TYPE_64BIT;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return PROTOBUF_C_WIRE_TYPE_32BIT;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	default:
		return PROTOBUF_C_WIRE_TYPE_VARINT;
	}
}

static int vg_walk_msg(struct vg_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		       size_t len, unsigned int depth)
{
	size_t count[VG_WALK_MAX_FIELDS] = { 0 };
	uint32_t bound[VG_WALK_MAX_FIELDS];
	size_t off = 0, nfields = 0, nunknown = 0, scan = 0, held = 16, slab = 32, child = 0;

	if (depth > VG_WALK_MAX_DEPTH)
		return vg_walk_fail(w, -EBADMSG, "%s: nested too deep", d->short_name);
	if (d->n_fields > VG_WALK_MAX_FIELDS)
		return vg_walk_fail(w, -EBADMSG, "%s: more fields than the walker holds",
				    d->short_name);
	w->cost += vg_alloc_cost(d->sizeof_message);
	while (off < len) {
		const ProtobufCFieldDescriptor *f;
		struct vg_pb_field pf;
		size_t start = off, n, idx;
		int err, packed;

		err = vg_pb_next(p, len, &off, &pf);
		if (err)
			return vg_walk_fail(w, err, "%s: malformed field at byte %zu",
					    d->short_name, start);
		n = pf.body_len;
		/* Fields past the first 16 are scanned into slabs of 32, 64, ... members. */
		if (++nfields > held) {
			size_t c = vg_alloc_cost(slab * VG_PBC_SCANNED_MEMBER);

			w->scan += c;
			scan += c;
			held += slab;
			slab *= 2;
		}
		f = protobuf_c_message_descriptor_get_field(d, pf.number);
		if (!f) {
			/* Kept as an unknown field: a copy of its bytes. */
			if (++nunknown > VG_BATCH_MAX_UNKNOWN)
				return vg_walk_fail(w, -E2BIG, "%s: more than %u unknown fields",
						    d->short_name, VG_BATCH_MAX_UNKNOWN);
			w->cost +=
				sizeof(ProtobufCMessageUnknownField) + vg_alloc_cost(off - start);
			if (vg_walk_over(w, w->scan + child))
				break;
			continue;
		}
		idx = (size_t)(f - d->fields);
		packed = f->label == PROTOBUF_C_LABEL_REPEATED &&
			 vg_wire_type(f->type) != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		if (pf.wire_type != vg_wire_type(f->type) &&
		    !(packed && pf.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED))
			return vg_walk_fail(w, -EBADMSG, "%s.%s: wire type %u at byte %zu",
					    d->short_name, f->name, pf.wire_type, start);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (!count[idx])
				bound[idx] = vg_batch_bound(d, f->name);
			/* A packed run of scalars holds at most one element per byte. */
			count[idx] +=
				packed && pf.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ? n :
												 1;
			if (count[idx] > bound[idx])
				return vg_walk_fail(w, -E2BIG, "%s.%s: more than %u entries",
						    d->short_name, f->name, bound[idx]);
			w->cost += vg_elt_size(f->type);
		} else if (count[idx]++) {
			/*
			 * Given twice: no encoder does that, protobuf-c would take the
			 * last (or merge two messages), and an attacker repeats it.
			 */
			return vg_walk_fail(w, -E2BIG, "%s.%s: appears more than once",
					    d->short_name, f->name);
		}
		if (pf.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				err = vg_walk_msg(w, f->descriptor, pf.body, n, depth + 1);
				if (err)
					return err;
				if (w->sub > child)
					child = w->sub;
			} else if (f->type == PROTOBUF_C_TYPE_STRING ||
				   f->type == PROTOBUF_C_TYPE_BYTES) {
				w->cost += vg_alloc_cost(n + 1);
			}
		}
		if (vg_walk_over(w, w->scan + child))
			break;
	}
	/* One allocation per array (repeated fields, unknown fields), charged by element so far. */
	for (size_t i = 0; i < d->n_fields; i++) {
		size_t bytes = count[i] * vg_elt_size(d->fields[i].type);

		if (count[i] && d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
			w->cost += vg_alloc_cost(bytes) - bytes;
	}
	if (nunknown)
		w->cost += vg_alloc_cost(nunknown * sizeof(ProtobufCMessageUnknownField)) -
			   nunknown * sizeof(ProtobufCMessageUnknownField);
	if (vg_walk_over(w, w->scan + child))
		return vg_walk_fail(w, -E2BIG,
				    "unpacking would take more than %zu bytes (the bound for a "
				    "%zu-byte batch)",
				    w->budget, w->len);
	w->scan -= scan;
	w->sub = scan + child;
	return 0;
}

int vg_batch_walk(const uint8_t *raw, size_t len, size_t budget, size_t *cost, char *why,
		  size_t why_len)
{
	struct vg_walk w = { .budget = budget, .len = len, .why = why, .why_len = why_len };
	int err = vg_walk_msg(&w, &vigil__v1__batch__descriptor, raw, len, 0);

	if (cost)
		*cost = w.cost + w.scan_peak;
	return err;
}

static int vg_process_check(const Vigil__V1__Process *p)
{
	return !p || p->n_argv <= VG_BATCH_MAX_ARGV ? 0 : -E2BIG;
}

int vg_batch_check(const Vigil__V1__Batch *b)
{
	if (b->n_events > VG_BATCH_MAX_EVENTS_WIRE || b->n_counters > VG_BATCH_MAX_COUNTERS ||
	    b->n_rings > VG_BATCH_MAX_RINGS || b->n_filter_rules > VG_BATCH_MAX_RULES)
		return -E2BIG;
	if (b->device && b->device->n_tags > VG_BATCH_MAX_TAGS)
		return -E2BIG;
	for (size_t i = 0; i < b->n_events; i++) {
		const Vigil__V1__Event *e = b->events[i];

		if (e->body_case == VIGIL__V1__EVENT__BODY_SECURITY && e->security &&
		    e->security->n_details > VG_BATCH_MAX_DETAILS)
			return -E2BIG;
		if (e->body_case != VIGIL__V1__EVENT__BODY_PROCESS || !e->process)
			continue;
		if (vg_process_check(e->process->process) || vg_process_check(e->process->parent) ||
		    e->process->n_loader_env > VG_BATCH_MAX_LOADER_ENV)
			return -E2BIG;
	}
	return 0;
}

/*
 * vg_pb_pack(): protobuf-c's encoding, in two passes over the message tree
 * instead of one per level. protobuf_c_message_pack() asks each nested
 * message for its size before writing it, and that size asks its own nested
 * messages again: a Process inside a FileEvent inside an Event inside a
 * Batch is sized four times and its strings measured each time. Here the
 * first pass records, in the order a pre-order walk meets them, the size of
 * every message and the length of every string it will write; the second
 * writes the same walk, taking each from the record. Which fields are
 * written, in what order and how, is protobuf-c's (tests/unit/test_batch.c
 * compares the bytes for random messages of every type of the schema).
 */
struct vg_pbp {
	uint32_t *rec; /* message sizes and string lengths, in walk order */
	size_t n, cap, at;
	int err;
};

static size_t vg_pbp_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *vg_pbp_varint(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

static size_t vg_pbp_push(struct vg_pbp *c, size_t v)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		uint32_t *r = realloc(c->rec, cap * sizeof(*r));

		if (!r) {
			c->err = -ENOMEM;
			return c->n;
		}
		c->rec = r;
		c->cap = cap;
	}
	if (v > UINT32_MAX)
		c->err = -EMSGSIZE;
	c->rec[c->n] = (uint32_t)v;
	return c->n++;
}

/* Whether a proto3 field without label holds other than its default (0, "", NULL). */
static inline int vg_pbp_set(ProtobufCType t, const char *v)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)v;

		return s && *s;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)v != NULL;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)v != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v != 0;
	default:
		return *(const uint32_t *)v != 0;
	}
}

/* How many values of the field the message holds to write (0: none), and where. */
static inline size_t vg_pbp_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
				  const void **member)
{
	const char *v = (const char *)m + f->offset, *q = (const char *)m + f->quantifier_offset;

	*member = v;
	if (f->label == PROTOBUF_C_LABEL_NONE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return (size_t)vg_pbp_set(f->type, v);
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		*member = *(const void *const *)v;
		return *(const size_t *)q;
	}
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	/* A oneof's member, or an optional field with its has_ flag (pointers: set when not NULL). */
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)q != f->id)
		return 0;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const void *p = *(const void *const *)v;

		return p && p != f->default_value;
	}
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || *(const protobuf_c_boolean *)q;
}

static uint64_t vg_pbp_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* The varint a scalar of type t is written as (int32 and enums sign-extended). */
static uint64_t vg_pbp_scalar(ProtobufCType t, const void *v)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SINT32:
		return (uint32_t)vg_pbp_zigzag(*(const int32_t *)v);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		return (uint64_t)(int64_t) * (const int32_t *)v;
	case PROTOBUF_C_TYPE_UINT32:
		return *(const uint32_t *)v;
	case PROTOBUF_C_TYPE_SINT64:
		return vg_pbp_zigzag(*(const int64_t *)v);
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v ? 1 : 0;
	default:
		return *(const uint64_t *)v;
	}
}

/* Bytes of one element of a repeated field's array. */
static size_t vg_pbp_elt(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	default:
		return 4;
	}
}

static size_t vg_pbp_size(struct vg_pbp *c, const ProtobufCMessage *m);

/* One value's bytes after its tag (a length prefix included). */
static size_t vg_pbp_value_size(struct vg_pbp *c, ProtobufCType t, const void *v)
{
	size_t n;

	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 4;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)v;

		n = s ? strlen(s) : 0;
		vg_pbp_push(c, n);
		return vg_pbp_varint_len(n) + n;
	}
	case PROTOBUF_C_TYPE_BYTES:
		n = ((const ProtobufCBinaryData *)v)->len;
		return vg_pbp_varint_len(n) + n;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;

		n = sub ? vg_pbp_size(c, sub) : (vg_pbp_push(c, 0), 0);
		return vg_pbp_varint_len(n) + n;
	}
	default:
		return vg_pbp_varint_len(vg_pbp_scalar(t, v));
	}
}

static int vg_pbp_packed(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_REPEATED && (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
}

/*
 * The messages every event is made of, field by field: each field its own
 * branch, which the CPU learns (always set, never set), where the walk over
 * the descriptor above switches on each field's type at one place and
 * mispredicts most of them. One function serves both passes: q->o is NULL
 * while sizing. The fields are the .proto's, in its order; a field added
 * there and not here makes other bytes than protobuf-c's, which the unit
 * test finds (it sets every field).
 */
struct vg_pbq {
	struct vg_pbp *c;
	uint8_t *o; /* NULL: sizing */
	size_t n;
};

static size_t vg_pbp_size(struct vg_pbp *c, const ProtobufCMessage *m);
static uint8_t *vg_pbp_write(struct vg_pbp *c, const ProtobufCMessage *m, uint8_t *o);

static inline void vg_q_varint(struct vg_pbq *q, uint32_t id, uint64_t v)
{
	if (q->o) {
		q->o = vg_pbp_varint(q->o, (uint64_t)id << 3 | PROTOBUF_C_WIRE_TYPE_VARINT);
		q->o = vg_pbp_varint(q->o, v);
	} else {
		q->n += vg_pbp_varint_len((uint64_t)id << 3) + vg_pbp_varint_len(v);
	}
}

/* uint32, uint64, int64 and bool: the value as it is; written when not 0. */
#define vg_q_u(q, id, v)                                   \
	do {                                               \
		if (v)                                     \
			vg_q_varint(q, id, (uint64_t)(v)); \
	} while (0)
/* int32 and enums: a negative value is sign-extended to ten bytes. */
#define vg_q_i32(q, id, v)                                                   \
	do {                                                                 \
		if (v)                                                       \
			vg_q_varint(q, id, (uint64_t)(int64_t)(int32_t)(v)); \
	} while (0)

static void vg_q_lenstr(struct vg_pbq *q, uint32_t id, const char *s)
{
	size_t l;

	if (!q->o) {
		l = s ? strlen(s) : 0;
		vg_pbp_push(q->c, l);
		q->n += vg_pbp_varint_len((uint64_t)id << 3) + vg_pbp_varint_len(l) + l;
		return;
	}
	l = q->c->rec[q->c->at++];
	q->o = vg_pbp_varint(q->o, (uint64_t)id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	q->o = vg_pbp_varint(q->o, l);
	if (l)
		memcpy(q->o, s, l);
	q->o += l;
}

static inline void vg_q_str(struct vg_pbq *q, uint32_t id, const char *s)
{
	if (s && *s)
		vg_q_lenstr(q, id, s);
}

static void vg_q_bytes(struct vg_pbq *q, uint32_t id, const ProtobufCBinaryData *b)
{
	if (!b->len)
		return;
	if (!q->o) {
		q->n += vg_pbp_varint_len((uint64_t)id << 3) + vg_pbp_varint_len(b->len) + b->len;
		return;
	}
	q->o = vg_pbp_varint(q->o, (uint64_t)id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	q->o = vg_pbp_varint(q->o, b->len);
	memcpy(q->o, b->data, b->len);
	q->o += b->len;
}

static void vg_q_msg(struct vg_pbq *q, uint32_t id, const void *m)
{
	size_t n;

	if (!m)
		return;
	if (!q->o) {
		n = vg_pbp_size(q->c, m);
		q->n += vg_pbp_varint_len((uint64_t)id << 3) + vg_pbp_varint_len(n) + n;
		return;
	}
	q->o = vg_pbp_varint(q->o, (uint64_t)id << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	q->o = vg_pbp_varint(q->o, q->c->rec[q->c->at]);
	q->o = vg_pbp_write(q->c, m, q->o);
}

static void vg_q_process(struct vg_pbq *q, const Vigil__V1__Process *p)
{
	vg_q_u(q, 1, p->pid);
	vg_q_u(q, 2, p->ppid);
	vg_q_u(q, 3, p->start_time_ns);
	vg_q_str(q, 4, p->exe);
	for (size_t i = 0; i < p->n_argv; i++)
		vg_q_lenstr(q, 5, p->argv[i]);
	vg_q_u(q, 6, p->argv_truncated);
	vg_q_str(q, 7, p->cwd);
	vg_q_u(q, 8, p->uid);
	vg_q_u(q, 9, p->gid);
	vg_q_u(q, 10, p->euid);
	vg_q_u(q, 11, p->egid);
	vg_q_str(q, 12, p->comm);
	vg_q_u(q, 13, p->cgroup_id);
	vg_q_u(q, 14, p->exe_inode);
	vg_q_u(q, 15, p->exe_dev);
	vg_q_str(q, 16, p->user);
	vg_q_u(q, 17, p->stdin_socket);
	vg_q_u(q, 18, p->stdout_socket);
	vg_q_bytes(q, 19, &p->sha256);
	vg_q_bytes(q, 20, &p->sha1);
	vg_q_u(q, 21, p->exe_size);
	vg_q_str(q, 22, p->container_id);
	vg_q_str(q, 23, p->container_name);
	vg_q_str(q, 24, p->distribution);
}

static void vg_q_process_event(struct vg_pbq *q, const Vigil__V1__ProcessEvent *e)
{
	vg_q_i32(q, 1, e->action);
	vg_q_msg(q, 2, e->process);
	vg_q_msg(q, 3, e->parent);
	vg_q_i32(q, 4, e->exit_code);
	vg_q_i32(q, 5, e->exit_signal);
	vg_q_u(q, 6, e->core_dumped);
	vg_q_str(q, 7, e->grandparent_exe);
	for (size_t i = 0; i < e->n_loader_env; i++)
		vg_q_lenstr(q, 8, e->loader_env[i]);
	vg_q_u(q, 9, e->shell_fallback);
}

static void vg_q_file_event(struct vg_pbq *q, const Vigil__V1__FileEvent *e)
{
	vg_q_str(q, 1, e->action_type);
	vg_q_msg(q, 2, e->process);
	vg_q_msg(q, 3, e->parent);
	vg_q_str(q, 4, e->path);
	vg_q_str(q, 5, e->previous_path);
	vg_q_u(q, 6, e->inode);
	vg_q_u(q, 7, e->mode);
	vg_q_u(q, 8, e->owner_uid);
	vg_q_u(q, 9, e->owner_gid);
	vg_q_u(q, 10, e->open_flags);
	vg_q_u(q, 11, e->path_from_caller);
	vg_q_str(q, 12, e->grandparent_exe);
	vg_q_u(q, 13, e->suppressed);
	vg_q_u(q, 14, e->suppressed_first_ns);
	vg_q_u(q, 15, e->suppressed_last_ns);
	vg_q_u(q, 16, e->size);
	vg_q_str(q, 17, e->link_target);
	vg_q_str(q, 18, e->attribute_name);
	vg_q_u(q, 19, e->attribute_size);
	vg_q_u(q, 20, e->capabilities);
	vg_q_u(q, 21, e->capabilities_effective);
	vg_q_u(q, 22, e->file_flags);
	vg_q_u(q, 23, e->times_given);
	vg_q_u(q, 24, e->access_time_ns);
	vg_q_u(q, 25, e->modification_time_ns);
	vg_q_u(q, 26, e->previous_known);
	vg_q_u(q, 27, e->previous_file_flags);
	vg_q_u(q, 28, e->previous_access_time_ns);
	vg_q_u(q, 29, e->previous_modification_time_ns);
}

static void vg_q_network_event(struct vg_pbq *q, const Vigil__V1__NetworkEvent *e)
{
	vg_q_str(q, 1, e->action_type);
	vg_q_msg(q, 2, e->process);
	vg_q_msg(q, 3, e->parent);
	vg_q_str(q, 4, e->protocol);
	vg_q_str(q, 5, e->local_ip);
	vg_q_u(q, 6, e->local_port);
	vg_q_str(q, 7, e->remote_ip);
	vg_q_u(q, 8, e->remote_port);
	vg_q_str(q, 9, e->grandparent_exe);
}

static void vg_q_security_event(struct vg_pbq *q, const Vigil__V1__SecurityEvent *e)
{
	vg_q_str(q, 1, e->action_type);
	vg_q_msg(q, 2, e->process);
	vg_q_msg(q, 3, e->parent);
	vg_q_str(q, 4, e->file_path);
	vg_q_str(q, 5, e->additional_fields);
	vg_q_str(q, 6, e->grandparent_exe);
	for (size_t i = 0; i < e->n_details; i++) {
		/* protobuf-c writes an empty message for a NULL element too */
		if (e->details[i])
			vg_q_msg(q, 7, e->details[i]);
		else if (q->o)
			q->o = vg_pbp_varint(vg_pbp_varint(q->o, 7 << 3 | 2), 0);
		else
			q->n += 2;
	}
}

static void vg_q_event(struct vg_pbq *q, const Vigil__V1__Event *e)
{
	vg_q_u(q, 1, e->report_id);
	vg_q_u(q, 2, e->time_ns);
	/* the body: a oneof of messages, written when its case is set and it is not NULL */
	if (e->body_case >= VIGIL__V1__EVENT__BODY_PROCESS &&
	    e->body_case <= VIGIL__V1__EVENT__BODY_SUPPRESSION)
		vg_q_msg(q, (uint32_t)e->body_case, e->process);
}

/* The fields of m written by one of the above, when it is of their type: 1, else 0. */
static int vg_q_fields(struct vg_pbq *q, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (d == &vigil__v1__process__descriptor)
		vg_q_process(q, (const void *)m);
	else if (d == &vigil__v1__event__descriptor)
		vg_q_event(q, (const void *)m);
	else if (d == &vigil__v1__file_event__descriptor)
		vg_q_file_event(q, (const void *)m);
	else if (d == &vigil__v1__process_event__descriptor)
		vg_q_process_event(q, (const void *)m);
	else if (d == &vigil__v1__network_event__descriptor)
		vg_q_network_event(q, (const void *)m);
	else if (d == &vigil__v1__security_event__descriptor)
		vg_q_security_event(q, (const void *)m);
	else
		return 0;
	return 1;
}

/* A message's size; its record is reserved first, so the writer meets it before its fields'. */
static size_t vg_pbp_size(struct vg_pbp *c, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	size_t slot = vg_pbp_push(c, 0), total = 0;
	struct vg_pbq q = { c, NULL, 0 };
	unsigned int i = vg_q_fields(&q, m) ? d->n_fields : 0;

	for (; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v;
		size_t cnt = vg_pbp_count(m, f, &v), tag, es, body = 0;

		if (!cnt)
			continue;
		tag = vg_pbp_varint_len((uint64_t)f->id << 3);
		es = vg_pbp_elt(f->type);
		for (size_t k = 0; k < cnt; k++)
			body += vg_pbp_value_size(c, f->type, (const char *)v + k * es);
		if (vg_pbp_packed(f)) {
			vg_pbp_push(c, body);
			total += tag + vg_pbp_varint_len(body) + body;
		} else {
			total += cnt * tag + body;
		}
	}
	total += q.n;
	for (size_t i = 0; i < m->n_unknown_fields; i++)
		total += vg_pbp_varint_len((uint64_t)m->unknown_fields[i].tag << 3) +
			 m->unknown_fields[i].len;
	if (!c->err)
		c->rec[slot] = (uint32_t)total;
	if (total > UINT32_MAX)
		c->err = -EMSGSIZE;
	return total;
}

static uint8_t *vg_pbp_write(struct vg_pbp *c, const ProtobufCMessage *m, uint8_t *o);

static uint8_t *vg_pbp_value(struct vg_pbp *c, ProtobufCType t, const void *v, uint8_t *o)
{
	size_t n;

	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT: {
		uint32_t x;

		memcpy(&x, v, 4);
		for (int i = 0; i < 4; i++)
			*o++ = (uint8_t)(x >> (8 * i));
		return o;
	}
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE: {
		uint64_t x;

		memcpy(&x, v, 8);
		vg_le64_put(o, x);
		return o + 8;
	}
	case PROTOBUF_C_TYPE_STRING:
		n = c->rec[c->at++];
		o = vg_pbp_varint(o, n);
		if (n)
			memcpy(o, *(const char *const *)v, n);
		return o + n;
	case PROTOBUF_C_TYPE_BYTES:
		n = ((const ProtobufCBinaryData *)v)->len;
		o = vg_pbp_varint(o, n);
		if (n)
			memcpy(o, ((const ProtobufCBinaryData *)v)->data, n);
		return o + n;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;

		o = vg_pbp_varint(o, c->rec[c->at]);
		if (!sub) {
			c->at++;
			return o;
		}
		return vg_pbp_write(c, sub, o);
	}
	default:
		return vg_pbp_varint(o, vg_pbp_scalar(t, v));
	}
}

static uint8_t *vg_pbp_write(struct vg_pbp *c, const ProtobufCMessage *m, uint8_t *o)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	struct vg_pbq q = { c, o, 0 };
	unsigned int i = 0;

	c->at++; /* its own size: written by the parent */
	if (vg_q_fields(&q, m)) {
		o = q.o;
		i = d->n_fields;
	}
	for (; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v;
		size_t cnt = vg_pbp_count(m, f, &v), es;

		if (!cnt)
			continue;
		es = vg_pbp_elt(f->type);
		if (vg_pbp_packed(f)) {
			o = vg_pbp_varint(o, (uint64_t)f->id << 3 |
						     PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
			o = vg_pbp_varint(o, c->rec[c->at++]);
			for (size_t k = 0; k < cnt; k++)
				o = vg_pbp_value(c, f->type, (const char *)v + k * es, o);
			continue;
		}
		for (size_t k = 0; k < cnt; k++) {
			o = vg_pbp_varint(o, (uint64_t)f->id << 3 | vg_wire_type(f->type));
			o = vg_pbp_value(c, f->type, (const char *)v + k * es, o);
		}
	}
	for (size_t i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];

		o = vg_pbp_varint(o, (uint64_t)u->tag << 3 | u->wire_type);
		memcpy(o, u->data, u->len);
		o += u->len;
	}
	return o;
}

int vg_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
	struct vg_pbp c = { 0 };
	size_t len = vg_pbp_size(&c, m);
	uint8_t *buf = c.err ? NULL : malloc(len ? len : 1);

	if (!buf) {
		free(c.rec);
		return c.err ? c.err : -ENOMEM;
	}
	if (vg_pbp_write(&c, m, buf) != buf + len || c.at != c.n) {
		/* A message changed between the passes: a caller's bug, never half a buffer. */
		free(c.rec);
		free(buf);
		return -EIO;
	}
	free(c.rec);
	*out = buf;
	*out_len = len;
	return 0;
}
