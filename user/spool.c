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
#include "wire.h"

#define VG_REC_MAGIC 0x50534756u /* "VGSP" */
#define VG_REC_HDR 40
#define VG_REC_FRAME 1
#define VG_REC_ACK 2

struct vg_qent {
	struct vg_qent *prev, *next;
	uint64_t stream, seq;
	uint32_t nevents;
	size_t len;
	uint8_t *bytes; /* NULL: only in the spool, at seg/off */
	struct vg_seg *seg;
	uint64_t off;
};

struct vg_seg {
	struct vg_seg *next;
	uint64_t id;
	int fd;
	uint64_t size;
	size_t nlive; /* unacknowledged frames in it */
	int pinned; /* being evicted: not deleted under the evictor's feet */
};

static const uint8_t *vg_qent_bytes(struct vg_queue *q, struct vg_qent *e);

static uint8_t *vg_scratch; /* bytes of the spooled-only entry being written */
static size_t vg_scratch_cap;

static void vg_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t vg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
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

static void vg_seg_delete(struct vg_queue *q, struct vg_seg *s)
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

static struct vg_qent *vg_qent_append(struct vg_queue *q, uint64_t stream, uint64_t seq,
				      uint32_t nevents, size_t len)
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

static size_t vg_ack_apply(struct vg_queue *q, uint64_t stream, uint64_t seq)
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
static int vg_spool_append(struct vg_queue *q, uint32_t type, uint64_t stream, uint64_t seq,
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
static void vg_queue_trim_memory(struct vg_queue *q)
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

/*
 * Whole-record check at p (avail bytes there): the record's size, or 0 when
 * no whole, checksummed record of a known type starts there.
 */
static uint64_t vg_rec_whole(const uint8_t *p, uint64_t avail)
{
	uint32_t type, len;

	if (avail < VG_REC_HDR || vg_get32(p) != VG_REC_MAGIC || vg_get32(p + 36))
		return 0;
	type = vg_get32(p + 4);
	len = vg_get32(p + 28);
	if ((type != VG_REC_FRAME && type != VG_REC_ACK) || (type == VG_REC_ACK && len) ||
	    len > VG_FRAME_HDR_LEN + VG_FRAME_MAX_PAYLOAD || len > avail - VG_REC_HDR)
		return 0;
	if (vg_crc32c(vg_crc32c(0, p, 32), p + VG_REC_HDR, len) != vg_get32(p + 32))
		return 0;
	return VG_REC_HDR + (uint64_t)len;
}

/*
 * What opening the spool found besides frames: the highest acknowledged seq
 * of each stream named by an ack record, and the frame records too damaged
 * to resend. A damaged frame that an ack covers was stored: not a loss.
 */
struct vg_ack_seen {
	uint64_t stream, seq;
};

struct vg_damaged {
	uint64_t stream, seq; /* as its header says, unchecked */
	uint32_t nevents;
	int named; /* the header got as far as the seq */
};

struct vg_load {
	struct vg_ack_seen *acks;
	size_t nacks, acks_cap;
	struct vg_damaged *bad;
	size_t nbad, bad_cap;
};

static int vg_grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap = *cap ? 2 * *cap : 8;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int vg_load_ack(struct vg_load *ld, uint64_t stream, uint64_t seq)
{
	for (size_t i = 0; i < ld->nacks; i++) {
		if (ld->acks[i].stream == stream) {
			if (seq > ld->acks[i].seq)
				ld->acks[i].seq = seq;
			return 0;
		}
	}
	if (vg_grow((void **)&ld->acks, &ld->acks_cap, ld->nacks, sizeof(*ld->acks)))
		return -ENOMEM;
	ld->acks[ld->nacks].stream = stream;
	ld->acks[ld->nacks++].seq = seq;
	return 0;
}

static int vg_load_acked(const struct vg_load *ld, uint64_t stream, uint64_t seq)
{
	for (size_t i = 0; i < ld->nacks; i++)
		if (ld->acks[i].stream == stream)
			return seq <= ld->acks[i].seq;
	return 0;
}

/*
 * Note the frames of a damaged stretch [p, p + n) of a segment: a frame whose
 * header still names its event count is counted with it (at most a batch's
 * worth); a frame, or a stretch, whose count cannot be read counts as one
 * lost event, the least a lost frame stands for. Ack records lose nothing
 * (the host keeps what it stored once).
 */
static int vg_load_damaged(struct vg_load *ld, const uint8_t *p, uint64_t n)
{
	while (n) {
		uint32_t type = n >= 8 ? vg_get32(p + 4) : 0;
		struct vg_damaged *d;
		uint64_t len;
		int known = n >= 8 && vg_get32(p) == VG_REC_MAGIC &&
			    (type == VG_REC_FRAME || type == VG_REC_ACK);

		if (!known || type == VG_REC_FRAME) {
			if (vg_grow((void **)&ld->bad, &ld->bad_cap, ld->nbad, sizeof(*ld->bad)))
				return -ENOMEM;
			d = &ld->bad[ld->nbad++];
			memset(d, 0, sizeof(*d));
			d->nevents = 1;
			if (!known)
				return 0;
			d->named = n >= 24;
			if (d->named) {
				d->stream = vg_le64_get(p + 8);
				d->seq = vg_le64_get(p + 16);
			}
			if (n >= 28 && vg_get32(p + 24) <= VG_BATCH_MAX_EVENTS_WIRE)
				d->nevents = vg_get32(p + 24);
		}
		if (n < 32)
			return 0;
		len = VG_REC_HDR + (uint64_t)vg_get32(p + 28);
		if (len >= n)
			return 0;
		p += len;
		n -= len;
	}
	return 0;
}

static int vg_seg_filter(const struct dirent *d)
{
	if (strncmp(d->d_name, "seg-", 4) || strlen(d->d_name) != 24 ||
	    strcmp(d->d_name + 20, ".vgs"))
		return 0;
	return strspn(d->d_name + 4, "0123456789abcdef") == 16;
}

/*
 * Open a segment of the spool: a regular file owned by us with no other
 * name, never through a symlink. Anything else is left alone: the spool
 * holds what vigild resends as its own events. fd, or -errno (logged).
 */
static int vg_seg_open(struct vg_queue *q, const char *name, struct stat *st)
{
	struct stat pre;
	const char *why = NULL;
	int fd;

	if (fstatat(q->dirfd, name, &pre, AT_SYMLINK_NOFOLLOW))
		return vg_err(-errno, "spool: %s/%s", q->dir, name);
	fd = -1;
	if (!S_ISREG(pre.st_mode)) {
		why = "is not a regular file";
	} else {
		fd = openat(q->dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno != ELOOP)
			return vg_err(-errno, "spool: open %s/%s", q->dir, name);
		if (fd >= 0 && fstat(fd, st)) {
			int err = -errno;

			close(fd);
			return vg_err(err, "spool: stat %s/%s", q->dir, name);
		}
		if (fd < 0)
			why = "is not a regular file";
		else if (st->st_dev != pre.st_dev || st->st_ino != pre.st_ino)
			why = "changed while being opened";
		else
			why = vg_own_file_problem(st);
	}
	if (why) {
		vg_log(VG_WARN, "spool: %s/%s %s: not loaded, left as it is", q->dir, name, why);
		if (fd >= 0)
			close(fd);
		return -EPERM;
	}
	return fd;
}

/*
 * Read every record of one segment: frames join the queue (in the segment,
 * their bytes in memory while mem_max allows), acks are collected for later.
 * Nothing is acknowledged or deleted here. A damaged stretch followed by
 * whole records is skipped and its frames counted lost; a damaged tail (a
 * write cut short) is counted and cut off, so appends start clean.
 */
static int vg_seg_load(struct vg_queue *q, const char *name, struct vg_load *ld)
{
	struct vg_seg *s, **pp;
	const uint8_t *m = NULL;
	uint64_t off = 0, size;
	struct stat st;
	int fd, err = 0;

	fd = vg_seg_open(q, name, &st);
	if (fd < 0)
		return fd == -EPERM ? 0 : fd;
	size = (uint64_t)st.st_size;
	if (size) {
		m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			err = -errno;
			close(fd);
			return vg_err(err, "spool: read %s/%s", q->dir, name);
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	s->fd = fd;
	s->id = strtoull(name + 4, NULL, 16);
	for (pp = &q->segs; *pp; pp = &(*pp)->next)
		;
	*pp = s;

	while (off < size && !err) {
		uint64_t whole = vg_rec_whole(m + off, size - off), next;
		const uint8_t *h = m + off;
		struct vg_qent *e;
		uint32_t len;

		if (!whole) {
			/* Resynchronise on the next whole record, if there is one. */
			for (next = off + 1; next < size; next++)
				if (m[next] == (VG_REC_MAGIC & 0xff) &&
				    vg_rec_whole(m + next, size - next))
					break;
			err = vg_load_damaged(ld, h, next - off);
			vg_log(VG_WARN,
			       "spool: %s/%s: bytes %" PRIu64 "..%" PRIu64
			       " are not whole records%s",
			       q->dir, name, off, next,
			       next < size ? " (damaged): skipped" :
					     " (write cut short?): cut off");
			if (next == size || err)
				break;
			off = next;
			continue;
		}
		len = (uint32_t)(whole - VG_REC_HDR);
		if (vg_get32(h + 4) == VG_REC_ACK) {
			err = vg_load_ack(ld, vg_le64_get(h + 8), vg_le64_get(h + 16));
		} else {
			e = vg_qent_append(q, vg_le64_get(h + 8), vg_le64_get(h + 16),
					   vg_get32(h + 24), len);
			if (!e) {
				err = -ENOMEM;
				break;
			}
			e->seg = s;
			e->off = off + VG_REC_HDR;
			s->nlive++;
			if (q->mem_bytes + len <= q->mem_max && (e->bytes = malloc(len))) {
				memcpy(e->bytes, h + VG_REC_HDR, len);
				q->mem_bytes += len;
			}
		}
		off += whole;
	}
	if (!err && off < size && ftruncate(fd, (off_t)off))
		vg_log(VG_WARN, "spool: cut %s/%s at %" PRIu64 ": %s", q->dir, name, off,
		       strerror(errno));
	s->size = off < size ? off : size;
	q->disk_bytes += s->size;
	fd = -1;
out:
	if (m)
		munmap((void *)m, size);
	if (fd >= 0)
		close(fd);
	return err;
}

int vg_queue_open_spool(struct vg_queue *q, const char *dir, uint64_t disk_max,
			enum vg_spool_sync sync)
{
	struct vg_load ld = {};
	uint64_t frames = 0, events = 0;
	struct dirent **names = NULL;
	int n, err = 0;

	/*
	 * Ours alone: vigild runs as root and resends what the spool holds as
	 * its own events, so a directory someone else owns or can write to
	 * would let them forge events or have root truncate their links.
	 */
	q->dirfd = vg_dir_open_own("--spool", dir, 1);
	if (q->dirfd < 0)
		return q->dirfd;
	q->dir = strdup(dir);
	if (!q->dir)
		return -ENOMEM;
	q->disk_max = disk_max;
	q->seg_max = disk_max / 8;
	if (q->seg_max > (16u << 20))
		q->seg_max = 16u << 20;
	if (q->seg_max < (64u << 10))
		q->seg_max = 64u << 10;
	q->sync = sync;

	n = scandirat(q->dirfd, ".", &names, vg_seg_filter, alphasort);
	if (n < 0)
		return vg_err(-errno, "spool: read %s", dir);
	/* Every name counts, loaded or not: a new segment must not collide with one. */
	for (int i = 0; i < n; i++) {
		uint64_t id = strtoull(names[i]->d_name + 4, NULL, 16);

		if (id >= q->next_seg_id)
			q->next_seg_id = id + 1;
	}
	/* First every record of every segment, oldest first ... */
	for (int i = 0; i < n; i++) {
		if (!err)
			err = vg_seg_load(q, names[i]->d_name, &ld);
		free(names[i]);
	}
	free(names);
	/* ... then what the host acknowledged, and what is lost for good ... */
	for (struct vg_seg *s = q->segs; s; s = s->next)
		s->pinned = 1;
	for (size_t i = 0; i < ld.nacks && !err; i++)
		vg_ack_apply(q, ld.acks[i].stream, ld.acks[i].seq);
	for (size_t i = 0; i < ld.nbad; i++) {
		if (ld.bad[i].named && vg_load_acked(&ld, ld.bad[i].stream, ld.bad[i].seq))
			continue;
		frames++;
		events += ld.bad[i].nevents;
	}
	/*
	 * The acks still matter while older segments stay: they go on in a new
	 * segment before the ones holding them are deleted, so the next open
	 * neither resends those frames nor counts their damage again.
	 */
	for (size_t i = 0; i < ld.nacks && q->count && !err; i++) {
		uint64_t off;

		if (vg_spool_append(q, VG_REC_ACK, ld.acks[i].stream, ld.acks[i].seq, 0, NULL, 0,
				    &off))
			vg_log(VG_WARN,
			       "spool %s: cannot keep the acks (acknowledged frames "
			       "will be sent again after a restart)",
			       dir);
	}
	free(ld.acks);
	free(ld.bad);
	if (err)
		return err;
	if (frames) {
		vg_log(VG_WARN,
		       "spool %s: %" PRIu64 " unacknowledged frames (%" PRIu64
		       " events) were damaged and cannot be resent (counted as lost)",
		       dir, frames, events);
		q->frames_evicted += frames;
		q->events_evicted += events;
	}
	/* ... then the segments left with nothing unacknowledged. */
	for (struct vg_seg *s = q->segs, *nx; s; s = nx) {
		nx = s->next;
		s->pinned = 0;
		if (!s->nlive && s != q->active)
			vg_seg_delete(q, s);
	}
	q->frames_recovered = q->count;
	vg_queue_trim_memory(q);
	return 0;
}
