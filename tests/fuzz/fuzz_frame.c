// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes into the frame stream reader, in the
 * chunks the first byte picks, as a peer's socket would deliver them. Every
 * frame it hands out must be whole and checked; an error ends the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_frame_reader r;
	struct vg_frame_hdr h;
	const uint8_t *payload;
	size_t chunk, off = 1;
	int ret = 0;

	if (!size)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	vg_frame_reader_init(&r);
	while (off < size && ret >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (vg_frame_reader_feed(&r, data + off, n))
			break;
		off += n;
		while ((ret = vg_frame_reader_next(&r, &h, &payload)) == 1) {
			if (h.len > VG_FRAME_MAX_PAYLOAD)
				abort();
			/* Touch every payload byte: ASan checks they are inside the buffer. */
			if (h.len && vg_crc32c(0, payload, h.len) == 0x12345678u && h.type == 0xff)
				ret = 1;
			if (h.type == VG_FRAME_ACK && h.len == 8)
				(void)vg_le64_get(payload);
		}
	}
	if (ret < 0)
		(void)vg_frame_strerror(ret);
	vg_frame_reader_free(&r);
	return 0;
}
