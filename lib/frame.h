/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The wire frame between vigild and the host: a fixed 24-byte little-endian
 * header, then `len` payload bytes.
 *
 *   0  u32 magic     "VIGL"
 *   4  u8  version   VG_FRAME_VERSION
 *   5  u8  type      enum vg_frame_type
 *   6  u16 flags     VG_FRAME_F_*
 *   8  u64 seq       sender's sequence number (BATCH), or the acknowledged one (ACK)
 *  16  u32 len       payload length, at most VG_FRAME_MAX_PAYLOAD
 *  20  u32 crc       CRC-32C of header bytes 0..19 and the payload
 *
 * Portable C: built into vigild, the Linux host and the Windows plug-in.
 */
#ifndef VG_FRAME_H
#define VG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define VG_FRAME_MAGIC 0x4c474956u /* "VIGL" read as a little-endian u32 */
#define VG_FRAME_VERSION 1
#define VG_FRAME_HDR_LEN 24
#define VG_FRAME_MAX_PAYLOAD (4u << 20)

enum vg_frame_type {
	VG_FRAME_BATCH = 1, /* payload: a vigil.v1.Batch, zstd-compressed when F_ZSTD */
	/*
	 * host -> daemon: every BATCH of a stream up to seq is stored. Payload:
	 * the stream id (u64 LE), or empty for the connection's current stream.
	 */
	VG_FRAME_ACK = 2,
	/* Delivery and control channel (lib/wire.h has the payload formats). */
	VG_FRAME_HELLO = 3, /* daemon -> host, first on each connection: a Batch with the device */
	VG_FRAME_FILTER = 4, /* host -> daemon: filter update, payload opaque here */
	VG_FRAME_STATS = 5, /* host -> daemon: send a batch with current counters now */
	/* host -> daemon: connectivity test, seq echoed in a PONG; daemon -> host: keepalive */
	VG_FRAME_PING = 6,
	VG_FRAME_PONG = 7, /* daemon -> host: answer to PING (and to FILTER: seq applied) */
	/* The keyed handshake (lib/auth.h), before the HELLO where the host asks for it. */
	VG_FRAME_AUTH = 8, /* daemon -> host: seq 1 nonce and device, seq 2 proof */
	VG_FRAME_CHALLENGE = 9, /* host -> daemon: nonce and the host's proof */
	/*
	 * host -> daemon: the WSL distributions, all of them each time (the WSL
	 * plug-in): one a line, "PIDNS\tINITPID\tRUNNING\tNAME\tFLAVOR\tVERSION"
	 * (daemon/distros.h).
	 */
	VG_FRAME_DISTROS = 10,
};

#define VG_FRAME_F_ZSTD 0x0001u

struct vg_frame_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
};

uint32_t vg_crc32c(uint32_t crc, const void *buf, size_t len);

/* Fill in magic, version and crc and write the header bytes. */
void vg_frame_hdr_pack(uint8_t out[VG_FRAME_HDR_LEN], struct vg_frame_hdr *h, const void *payload);

/*
 * Parse and check a header: 0, or -EBADMSG (bad magic), -EPROTONOSUPPORT
 * (version), -EMSGSIZE (len over the bound).
 */
int vg_frame_hdr_unpack(const uint8_t in[VG_FRAME_HDR_LEN], struct vg_frame_hdr *h);

/* 0 when the crc in h matches the header and payload, else -EILSEQ. */
int vg_frame_verify(const uint8_t raw_hdr[VG_FRAME_HDR_LEN], const struct vg_frame_hdr *h,
		    const void *payload);

/*
 * Incremental reader for a byte stream: feed whatever arrived, then take
 * complete, verified frames out. Memory is bounded by one frame.
 */
struct vg_frame_reader {
	uint8_t *buf;
	size_t len, cap;
	size_t consumed; /* bytes of buf already handed out */
};

void vg_frame_reader_init(struct vg_frame_reader *r);
void vg_frame_reader_free(struct vg_frame_reader *r);
/* 0, or -ENOMEM. */
int vg_frame_reader_feed(struct vg_frame_reader *r, const void *data, size_t len);
/*
 * 1 and a frame (payload points into the reader, valid until the next feed
 * or next call), 0 when more bytes are needed, or a negative errno from
 * vg_frame_hdr_unpack()/vg_frame_verify(): the stream is then unusable.
 */
int vg_frame_reader_next(struct vg_frame_reader *r, struct vg_frame_hdr *h,
			 const uint8_t **payload);
/* Bytes held that do not yet form a whole frame. */
size_t vg_frame_reader_pending(const struct vg_frame_reader *r);

/* A short, lower-case reason for a negative code from this module. */
const char *vg_frame_strerror(int err);

#endif
