// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "paths.h"
#include "spool.h"
#include "spool_int.h"
#include "wire.h"

static const uint8_t *vg_qent_bytes(struct vg_queue *q, struct vg_qent *e);

static uint8_t *vg_scratch; /* bytes of the spooled-only entry being written */
static size_t vg_scratch_cap;

static void vg_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int vg_spool_sync_parse(const char *s, enum vg_spool_sync *out)
{
	if (!strcmp(s, "none"))
		*out = VG_SYNC_NONE;
	else if (!strcmp(s, "interval"))
		*out = VG_SYNC_INTERVAL;
	else if (!strcmp(s, "always"))
		*out = VG_SYNC_ALWAYS;
	else
		return -EINVAL;
	return 0;
}

void vg_queue_init(struct vg_queue *q, size_t mem_max)
{
	memset(q, 0, sizeof(*q));
	q->mem_max = mem_max;
	q->dirfd = -1;
}

static void vg_seg_name(char *buf, size_t size, uint64_t id)
{
	snprintf(buf, size, "seg-%016" PRIx64 ".vgs", id);
}

void vg_seg_delete(struct vg_queue *q, struct vg_seg *s)
{
	struct vg_seg **pp = &q->segs;
	char name[40];

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	if (q->active == s)
		q->active = NULL;
	vg_seg_name(name, sizeof(name), s->id);
	if (unlinkat(q->dirfd, name, 0) && errno != ENOENT)
		vg_log(VG_WARN, "spool: remove %s/%s: %s", q->dir, name, strerror(errno));
	close(s->fd);
	q->disk_bytes -= s->size;
	free(s);
}

/* Unlink e from the queue and free it; its segment goes when nothing in it is left. */
static void vg_qent_drop(struct vg_queue *q, struct vg_qent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		q->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		q->tail = e->prev;
	if (q->unsent == e) {
		q->unsent = e->next;
		q->wr_off = 0;
	}
	if (e->bytes)
		q->mem_bytes -= e->len;
	if (e->seg && --e->seg->nlive == 0 && e->seg != q->active && !e->seg->pinned)
		vg_seg_delete(q, e->seg);
	q->count--;
	free(e->bytes);
	free(e);
}

static void vg_qent_evict(struct vg_queue *q, struct vg_qent *e)
{
	q->frames_evicted++;
	q->events_evicted += e->nevents;
	vg_qent_drop(q, e);
}

/* The entry being written now: its bytes are in use, do not take them away. */
static int vg_qent_busy(const struct vg_queue *q, const struct vg_qent *e)
{
	return e == q->unsent && q->wr_off > 0;
}

void vg_queue_free(struct vg_queue *q)
{
	while (q->head) {
		struct vg_qent *e = q->head;

		q->head = e->next;
		free(e->bytes);
		free(e);
	}
	while (q->segs) {
		struct vg_seg *s = q->segs;

		q->segs = s->next;
		close(s->fd);
		free(s);
	}
	if (q->dirfd >= 0)
		close(q->dirfd);
	free(q->dir);
	free(vg_scratch);
	vg_scratch = NULL;
	vg_scratch_cap = 0;
	memset(q, 0, sizeof(*q));
	q->dirfd = -1;
}

struct vg_qent *vg_qent_append(struct vg_queue *q, uint64_t stream, uint64_t seq, uint32_t nevents,
			       size_t len)
{
	struct vg_qent *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->stream = stream;
	e->seq = seq;
	e->nevents = nevents;
	e->len = len;
	e->prev = q->tail;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	if (!q->unsent)
		q->unsent = e;
	q->count++;
	return e;
}

size_t vg_ack_apply(struct vg_queue *q, uint64_t stream, uint64_t seq)
{
	struct vg_qent *e = q->head, *n;
	size_t acked = 0;

	for (; e; e = n) {
		n = e->next;
		if (e->stream != stream)
			continue;
		if (e->seq > seq)
			break;
		if (vg_qent_busy(q, e))
			continue;
		vg_qent_drop(q, e);
		acked++;
	}
	q->frames_acked += acked;
	return acked;
}

/* ---- segments */

static void vg_rec_hdr(uint8_t *h, uint32_t type, uint64_t stream, uint64_t seq, uint32_t nevents,
		       const uint8_t *payload, uint32_t len)
{
	uint32_t crc;

	vg_put32(h, VG_REC_MAGIC);
	vg_put32(h + 4, type);
	vg_le64_put(h + 8, stream);
	vg_le64_put(h + 16, seq);
	vg_put32(h + 24, nevents);
	vg_put32(h + 28, len);
	crc = vg_crc32c(0, h, 32);
	if (len)
		crc = vg_crc32c(crc, payload, len);
	vg_put32(h + 32, crc);
	vg_put32(h + 36, 0);
}

static struct vg_seg *vg_seg_new(struct vg_queue *q)
{
	struct vg_seg *s, **pp;
	char name[40];
	int fd;

	vg_seg_name(name, sizeof(name), q->next_seg_id);
	fd = openat(q->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		vg_log(VG_WARN, "spool: create %s/%s: %s", q->dir, name, strerror(errno));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		unlinkat(q->dirfd, name, 0);
		return NULL;
	}
	s->id = q->next_seg_id++;
	s->fd = fd;
	for (pp = &q->segs; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	return s;
}

/* The active segment is full: close it for appends (it stays until its frames are acked). */
static void vg_seg_retire(struct vg_queue *q)
{
	struct vg_seg *s = q->active;

	if (!s)
		return;
	if (q->sync != VG_SYNC_NONE)
		fdatasync(s->fd);
	q->active = NULL;
	if (!s->nlive)
		vg_seg_delete(q, s);
}

/* Hold e's bytes in memory (read back from its segment if needed): 0 or -errno. */
static int vg_qent_to_memory(struct vg_queue *q, struct vg_qent *e)
{
	const uint8_t *b;

	if (e->bytes)
		return 0;
	b = vg_qent_bytes(q, e);
	if (!b)
		return -EIO;
	e->bytes = malloc(e->len);
	if (!e->bytes)
		return -ENOMEM;
	memcpy(e->bytes, b, e->len);
	q->mem_bytes += e->len;
	return 0;
}

/*
 * Make room for need more bytes under the cap: the oldest segments go, their
 * frames counted as lost. Frames of such a segment already written on this
 * connection may be stored by now: they move to memory instead and leave
 * with their ACK, so no loss is reported that did not happen.
 */
static void vg_spool_make_room(struct vg_queue *q, uint64_t need)
{
	while (q->disk_bytes + need > q->disk_max && q->segs) {
		struct vg_seg *s = q->segs;
		uint64_t lost = 0;
		int unsent = 0;

		if (s == q->active) {
			if (!s->size)
				return;
			vg_seg_retire(q);
			continue;
		}
		s->pinned = 1;
		for (struct vg_qent *e = q->head, *n; e; e = n) {
			n = e->next;
			unsent |= e == q->unsent;
			if (e->seg != s)
				continue;
			if ((!unsent || vg_qent_busy(q, e)) && !vg_qent_to_memory(q, e)) {
				e->seg = NULL;
				s->nlive--;
				continue;
			}
			lost++;
			vg_qent_evict(q, e);
		}
		if (lost)
			vg_log(VG_WARN,
			       "spool: over its cap of %" PRIu64 " bytes, %" PRIu64
			       " oldest frames dropped (counted as lost)",
			       q->disk_max, lost);
		vg_seg_delete(q, s);
	}
}

/* Append one record; 0, or -errno with the segment left as it was. */
int vg_spool_append(struct vg_queue *q, uint32_t type, uint64_t stream, uint64_t seq,
		    uint32_t nevents, const uint8_t *payload, size_t len, uint64_t *off)
{
	uint8_t h[VG_REC_HDR];
	struct vg_seg *s;
	size_t total = VG_REC_HDR + len, done = 0;

	if (type == VG_REC_FRAME)
		vg_spool_make_room(q, total);
	if (q->active && q->active->size >= q->seg_max)
		vg_seg_retire(q);
	if (!q->active) {
		q->active = vg_seg_new(q);
		if (!q->active)
			return -EIO;
	}
	s = q->active;
	vg_rec_hdr(h, type, stream, seq, nevents, payload, (uint32_t)len);
	while (done < total) {
		ssize_t n;

		if (done < VG_REC_HDR)
			n = pwrite(s->fd, h + done, VG_REC_HDR - done, (off_t)(s->size + done));
		else
			n = pwrite(s->fd, payload + (done - VG_REC_HDR), total - done,
				   (off_t)(s->size + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -ENOSPC;

			/* No torn record left behind for the next open to trip over. */
			if (ftruncate(s->fd, (off_t)s->size))
				vg_log(VG_WARN, "spool: truncate: %s", strerror(errno));
			return err;
		}
		done += (size_t)n;
	}
	*off = s->size + VG_REC_HDR;
	s->size += total;
	q->disk_bytes += total;
	q->dirty = 1;
	if (q->sync == VG_SYNC_ALWAYS)
		fdatasync(s->fd);
	return 0;
}

void vg_queue_sync(struct vg_queue *q)
{
	if (q->dirty && q->active && q->sync == VG_SYNC_INTERVAL)
		fdatasync(q->active->fd);
	q->dirty = 0;
}

/*
 * Keep memory under its bound: spooled frames drop their bytes, the others
 * go (counted). Only frames not yet written on this connection are dropped:
 * one written but unacknowledged may be stored already, and counting it lost
 * too would report a loss that did not happen. Those leave with their ACK.
 */
void vg_queue_trim_memory(struct vg_queue *q)
{
	int unsent = 0;

	for (struct vg_qent *e = q->head, *n; e && q->mem_bytes > q->mem_max; e = n) {
		n = e->next;
		unsent |= e == q->unsent;
		if (!e->bytes || vg_qent_busy(q, e) || e == q->tail)
			continue;
		if (e->seg) {
			free(e->bytes);
			e->bytes = NULL;
			q->mem_bytes -= e->len;
		} else if (unsent) {
			vg_qent_evict(q, e);
		}
	}
}

int vg_queue_push(struct vg_queue *q, uint64_t stream, uint64_t seq, uint32_t nevents,
		  const uint8_t *frame, size_t len)
{
	struct vg_qent *e;
	uint64_t off = 0;
	int err = -ENOENT;

	if (q->dir) {
		err = vg_spool_append(q, VG_REC_FRAME, stream, seq, nevents, frame, len, &off);
		if (err) {
			if (!q->spool_errors++)
				vg_log(VG_WARN,
				       "spool: cannot write to %s: %s (keeping frames in "
				       "memory; what does not fit is counted as lost)",
				       q->dir, strerror(-err));
		}
	}
	e = vg_qent_append(q, stream, seq, nevents, len);
	if (!e)
		return -ENOMEM;
	e->bytes = malloc(len);
	if (!e->bytes) {
		vg_qent_evict(q, e);
		return -ENOMEM;
	}
	memcpy(e->bytes, frame, len);
	q->mem_bytes += len;
	if (!err) {
		e->seg = q->active;
		e->off = off;
		q->active->nlive++;
	}
	vg_queue_trim_memory(q);
	return 0;
}

size_t vg_queue_ack(struct vg_queue *q, uint64_t stream, uint64_t seq)
{
	size_t n = vg_ack_apply(q, stream, seq);
	uint64_t off;

	/* Remember it, or a restart resends these (the host would store them once anyway). */
	if (n && q->dir && q->segs)
		vg_spool_append(q, VG_REC_ACK, stream, seq, 0, NULL, 0, &off);
	/* Nothing unacknowledged left on disk: start the next frames on a fresh, empty segment. */
	if (q->active && !q->active->nlive && q->active->size >= q->seg_max / 2)
		vg_seg_retire(q);
	return n;
}

void vg_queue_rewind(struct vg_queue *q)
{
	q->unsent = q->head;
	q->wr_off = 0;
}

/* The bytes of e, from memory or read back from its segment. */
static const uint8_t *vg_qent_bytes(struct vg_queue *q, struct vg_qent *e)
{
	size_t got = 0;

	if (e->bytes)
		return e->bytes;
	if (!e->seg)
		return NULL;
	if (vg_scratch_cap < e->len) {
		uint8_t *nb = realloc(vg_scratch, e->len);

		if (!nb)
			return NULL;
		vg_scratch = nb;
		vg_scratch_cap = e->len;
	}
	while (got < e->len) {
		ssize_t n =
			pread(e->seg->fd, vg_scratch + got, e->len - got, (off_t)(e->off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vg_log(VG_WARN, "spool: read back stream %" PRIx64 " seq %" PRIu64 ": %s",
			       e->stream, e->seq, n < 0 ? strerror(errno) : "short file");
			return NULL;
		}
		got += (size_t)n;
	}
	return vg_scratch;
}

int vg_queue_write(struct vg_queue *q, int fd)
{
	while (q->unsent) {
		struct vg_qent *e = q->unsent;
		const uint8_t *b = vg_qent_bytes(q, e);
		ssize_t n;

		if (!b) {
			if (q->wr_off)
				return -EIO; /* half a frame is on the wire: only a reconnect helps */
			vg_qent_evict(q, e);
			continue;
		}
		n = write(fd, b + q->wr_off, e->len - q->wr_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		q->wr_off += (size_t)n;
		if (q->wr_off == e->len) {
			q->unsent = e->next;
			q->wr_off = 0;
			q->frames_written++;
		}
	}
	return 0;
}

/* ---- opening a spool left by an earlier run */
