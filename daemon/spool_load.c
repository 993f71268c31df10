// SPDX-License-Identifier: GPL-2.0-only
/*
 * Opening the spool: the segments an earlier run left are read back, whole
 * records resent, acknowledged ones dropped, and the damage counted.
 */
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
