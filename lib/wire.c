// SPDX-License-Identifier: GPL-2.0-only
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

static int vg_process_check(const Vigil__V1__Process *p)
{
	return !p || p->n_argv <= VG_BATCH_MAX_ARGV ? 0 : -E2BIG;
}

int vg_batch_check(const Vigil__V1__Batch *b)
{
	if (b->n_events > VG_BATCH_MAX_EVENTS_WIRE || b->n_counters > VG_BATCH_MAX_COUNTERS)
		return -E2BIG;
	if (b->device && b->device->n_tags > VG_BATCH_MAX_TAGS)
		return -E2BIG;
	for (size_t i = 0; i < b->n_events; i++) {
		const Vigil__V1__Event *e = b->events[i];

		if (e->body_case != VIGIL__V1__EVENT__BODY_PROCESS || !e->process)
			continue;
		if (vg_process_check(e->process->process) || vg_process_check(e->process->parent))
			return -E2BIG;
	}
	return 0;
}
