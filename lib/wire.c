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
