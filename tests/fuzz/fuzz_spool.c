// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as the segments of a spool left by an
 * earlier run, opened by the real loader (user/spool.c) from a real
 * directory. Byte 0 picks how many segments (1-3, bits 0-1) and whether the
 * recovered frames stay in memory or are read back from the files (bit 7);
 * then a u16 length for each segment but the last, which takes the rest.
 *
 * Whatever the bytes, opening succeeds, every recovered frame can be read
 * back whole, and opening the same spool again recovers the same frames
 * and counts no more lost (the first open cut the damaged tails and deleted
 * the empty segments, nothing else).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "spool.h"

static char spool[64];

static void spool_empty(void)
{
	DIR *dp = opendir(spool);
	struct dirent *de;

	while (dp && (de = readdir(dp)))
		if (de->d_name[0] != '.' && unlinkat(dirfd(dp), de->d_name, 0))
			abort();
	if (dp)
		closedir(dp);
}

static void spool_remove(void)
{
	spool_empty();
	rmdir(spool);
}

/*
 * Open the spool and read every recovered frame back: a checksum of them
 * all, how many, and how many frames the open counted lost.
 */
static uint32_t recover(int in_memory, size_t *count, uint64_t *lost)
{
	struct vg_queue q;
	uint32_t sum = 0;
	int p[2];

	vg_queue_init(&q, in_memory ? 1 << 24 : 0);
	if (vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE))
		abort();
	if (q.frames_recovered != q.count)
		abort();
	*count = q.count;
	*lost = q.frames_evicted;
	/* Frame by frame through a pipe, so each one's bytes can be summed. */
	if (pipe(p))
		abort();
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	for (;;) {
		uint8_t buf[4096];
		int r = vg_queue_write(&q, p[1]);
		ssize_t n;

		if (r < 0)
			abort(); /* a frame the loader kept but cannot read back */
		while ((n = read(p[0], buf, sizeof(buf))) > 0)
			sum = vg_crc32c(sum, buf, (size_t)n);
		if (r == 0)
			break;
	}
	close(p[0]);
	close(p[1]);
	if (q.frames_evicted != *lost)
		abort(); /* a frame the loader kept could not be read back */
	vg_queue_free(&q);
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off, nseg, count1, count2;
	uint64_t lost1, lost2;
	uint32_t sum1, sum2;

	if (!spool[0]) {
		strcpy(spool, "/tmp/vg-fuzz-spool-XXXXXX");
		if (!mkdtemp(spool))
			abort();
		vg_log_max = -1; /* damaged segments are the point: no warnings */
		atexit(spool_remove);
	}
	if (!size)
		return 0;
	nseg = (size_t)(data[0] & 3) % 3 + 1;
	off = 1;
	for (size_t i = 0; i < nseg; i++) {
		size_t len = size - off;
		char path[128];
		int fd;

		if (i + 1 < nseg) {
			if (size - off < 2)
				break;
			len = (size_t)data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			if (len > size - off)
				len = size - off;
		}
		snprintf(path, sizeof(path), "%s/seg-%016zx.vgs", spool, i * 7 + 1);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, data + off, len) != (ssize_t)len)
			abort();
		close(fd);
		off += len;
	}
	sum1 = recover(data[0] & 0x80, &count1, &lost1);
	sum2 = recover(!(data[0] & 0x80), &count2, &lost2);
	/* Damage in the middle is counted again, a cut tail is not. */
	if (count1 != count2 || sum1 != sum2 || lost2 > lost1)
		abort();
	spool_empty();
	return 0;
}
