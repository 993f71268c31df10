// SPDX-License-Identifier: GPL-2.0-only
/*
 * The spool's recovery, with real files: a segment written by the queue
 * itself is cut at every byte offset, damaged in the middle, or acked in
 * the middle, and opened again; what comes back must be exactly the whole
 * unacknowledged frames, and what does not must be counted lost. Then the
 * ownership rule: a spool directory or segment someone else could have
 * placed is refused, never followed, never truncated.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#define STREAM 0x5eed5eedULL
#define NREC 24

static char dir[64], spool[128];

static void setup(void)
{
	strcpy(dir, "/tmp/vigil-spool-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	vg_log_max = VG_ERROR; /* thousands of deliberate "damaged" warnings */
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	system(cmd);
	vg_log_max = VG_INFO;
}

TestSuite(spool, .init = setup, .fini = teardown);

/* Frame i: a few bytes that say which it is, of a length that varies. */
static size_t frame_of(int i, uint8_t *buf)
{
	size_t len = 1 + (size_t)(i * 37 % 300);

	for (size_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 31 + k);
	return len;
}

static uint32_t nevents_of(int i)
{
	return (uint32_t)(i % 5 + 1); /* never 0: a loss must show */
}

/* The oldest segment of a spool directory into out ("" when none); how many there are. */
static int seg_path(const char *d, char *out, size_t size)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	char first[64] = "";
	int n = 0;

	out[0] = 0;
	cr_assert_not_null(dp);
	while ((de = readdir(dp)))
		if (!strncmp(de->d_name, "seg-", 4) && (!n++ || strcmp(de->d_name, first) < 0))
			snprintf(first, sizeof(first), "%s", de->d_name);
	closedir(dp);
	if (n)
		snprintf(out, size, "%s/%s", d, first);
	return n;
}

static size_t file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return (size_t)st.st_size;
}

/* Everything the queue would send, in order, into buf (through a pipe). */
static size_t drain(struct vg_queue *q, uint8_t *buf, size_t cap)
{
	int p[2];
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	cr_assert_geq(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 16);
	cr_assert_eq(vg_queue_write(q, p[1]), 0, "more than a pipe holds");
	close(p[1]);
	n = read(p[0], buf, cap);
	close(p[0]);
	cr_assert_geq(n, 0);
	return (size_t)n;
}

/*
 * The script every recovery test replays: frames 1..NREC, each record's end
 * offset kept in end[]; after every fifth frame the host acknowledges all but
 * the last two (an ack record). acked[r] is the highest seq acknowledged by
 * record r and those before it; frame[r] is the seq record r holds (0: ack).
 */
struct script {
	size_t end[2 * NREC];
	uint64_t frame[2 * NREC], acked[2 * NREC];
	int nrec;
	uint8_t seg[1 << 16];
	size_t size;
};

static void write_script(struct script *sc)
{
	struct vg_queue q;
	uint8_t buf[512];
	char path[160];
	uint64_t acked = 0;
	int fd;

	memset(sc, 0, sizeof(*sc));
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	for (int i = 1; i <= NREC; i++) {
		size_t len = frame_of(i, buf);

		cr_assert_eq(vg_queue_push(&q, STREAM, (uint64_t)i, nevents_of(i), buf, len), 0);
		cr_assert_eq(seg_path(spool, path, sizeof(path)), 1);
		sc->frame[sc->nrec] = (uint64_t)i;
		sc->acked[sc->nrec] = acked;
		sc->end[sc->nrec++] = file_size(path);
		if (i % 5 == 0) {
			acked = (uint64_t)i - 2;
			cr_assert_gt(vg_queue_ack(&q, STREAM, acked), 0);
			sc->acked[sc->nrec] = acked;
			sc->end[sc->nrec++] = file_size(path);
		}
	}
	/* The process dies here: nothing is cleaned up. */
	vg_queue_free(&q);
	seg_path(spool, path, sizeof(path));
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	sc->size = (size_t)read(fd, sc->seg, sizeof(sc->seg));
	close(fd);
	cr_assert_eq(sc->size, sc->end[sc->nrec - 1]);
	cr_assert_lt(sc->size, 64u << 10, "the script must fit one segment");
}

/* A spool holding the first n bytes of the scripted segment. */
static void spool_with(const struct script *sc, const uint8_t *bytes, size_t n)
{
	char path[200];
	int fd;

	mkdir(spool, 0700);
	snprintf(path, sizeof(path), "%s/seg-0000000000000000.vgs", spool);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, bytes, n), (ssize_t)n);
	close(fd);
	(void)sc;
}

/* Empty the spool directory (it holds segments only) and remove it. */
static void spool_clear(void)
{
	DIR *dp = opendir(spool);
	struct dirent *de;

	while (dp && (de = readdir(dp)))
		if (de->d_name[0] != '.')
			cr_assert_eq(unlinkat(dirfd(dp), de->d_name, 0), 0, "%s", de->d_name);
	if (dp)
		closedir(dp);
	rmdir(spool);
}

/* Frames i in (from, to], concatenated as the queue would send them. */
static size_t expect_frames(uint64_t acked, uint64_t last, uint8_t *out)
{
	size_t n = 0;

	for (uint64_t i = acked + 1; i <= last; i++)
		n += frame_of((int)i, out + n);
	return n;
}

/*
 * Cut the segment at every byte offset: the whole records before the cut
 * come back (minus what their acks cover), the record cut in two is counted
 * lost with the events its header still names (one when it names none, and
 * nothing for an ack), and the file is cut back to its last whole record.
 */
Test(spool, cut_at_every_offset_recovers_the_whole_records_and_counts_the_rest)
{
	static struct script sc;
	static uint8_t got[1 << 16], want[1 << 16];
	int rounds = 0;

	write_script(&sc);
	spool_clear();
	for (size_t cut = 0; cut <= sc.size; cut++) {
		struct vg_queue q;
		uint64_t last = 0, acked = 0, lost_events = 0, lost_frames = 0;
		size_t whole_end = 0, n, m;
		char path[200];
		int r, nseg;

		for (r = 0; r < sc.nrec && sc.end[r] <= cut; r++) {
			if (sc.frame[r])
				last = sc.frame[r];
			acked = sc.acked[r];
			whole_end = sc.end[r];
		}
		if (cut > whole_end) {
			/* Record r is cut in two: count what the contract says. */
			size_t have = cut - whole_end;

			if (sc.frame[r]) {
				lost_frames = 1;
				lost_events = have >= 28 ? nevents_of((int)sc.frame[r]) : 1;
			} else if (have < 8) {
				lost_frames = lost_events = 1; /* too little to tell it is an ack */
			}
		}
		spool_with(&sc, sc.seg, cut);
		/* Odd cuts resend from memory, even ones read the frames back from the file. */
		vg_queue_init(&q, cut % 2 ? 1 << 20 : 0);
		cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0, "cut %zu",
			     cut);
		cr_assert_eq(q.count, last - acked, "cut %zu: %zu frames back, want %llu", cut,
			     q.count, (unsigned long long)(last - acked));
		cr_assert_eq(q.events_evicted, lost_events, "cut %zu: %llu events lost, want %llu",
			     cut, (unsigned long long)q.events_evicted,
			     (unsigned long long)lost_events);
		cr_assert_eq(q.frames_evicted, lost_frames, "cut %zu", cut);
		n = drain(&q, got, sizeof(got));
		m = expect_frames(acked, last, want);
		cr_assert_eq(n, m, "cut %zu: %zu bytes resent, want %zu", cut, n, m);
		cr_assert_eq(memcmp(got, want, n), 0, "cut %zu: resent bytes differ", cut);
		vg_queue_free(&q);
		nseg = seg_path(spool, path, sizeof(path));
		if (last > acked) {
			cr_assert_eq(file_size(path), whole_end, "cut %zu: not cut back to %zu",
				     cut, whole_end);
			/* The acks carried on in a segment of their own. */
			cr_assert_eq(nseg, 1 + (acked > 0), "cut %zu: %d segments", cut, nseg);
		} else {
			cr_assert_eq(nseg, 0, "cut %zu: a segment with nothing live is kept", cut);
		}
		spool_clear();
		rounds++;
	}
	cr_assert_gt(rounds, 1000, "only %d offsets", rounds);
}

/*
 * Issue 15, finding 1: an ack bringing a segment to nothing unacknowledged,
 * with frames after it, must not take the segment away while it is read.
 */
Test(spool, ack_that_empties_a_segment_midway_keeps_the_frames_after_it)
{
	struct vg_queue q;
	uint8_t buf[512], got[4096], want[4096];
	char path[160];
	size_t n, m = 0;

	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(vg_queue_push(&q, STREAM, (uint64_t)i, 7, buf, frame_of(i, buf)), 0);
	cr_assert_eq(vg_queue_ack(&q, STREAM, 3), 3);
	for (int i = 4; i <= 6; i++) {
		cr_assert_eq(vg_queue_push(&q, STREAM, (uint64_t)i, 7, buf, frame_of(i, buf)), 0);
		m += frame_of(i, want + m);
	}
	vg_queue_free(&q); /* killed */
	seg_path(spool, path, sizeof(path));
	n = file_size(path);

	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.count, 3, "%zu of 3 unacknowledged frames recovered", q.count);
	cr_assert_eq(q.events_evicted, 0);
	cr_assert_eq(drain(&q, got, sizeof(got)), m);
	cr_assert_eq(memcmp(got, want, m), 0);
	vg_queue_free(&q);
	cr_assert_eq(file_size(path), n, "a whole segment was cut");
}

/*
 * A clean stop leaves a segment whose last record is the ack of everything
 * in it. Reopening it reads that ack as the whole record it is: nothing
 * counted, nothing cut, the segment deleted and the disk use back to 0.
 */
Test(spool, clean_restart_finds_whole_records_only)
{
	struct vg_queue q;
	uint8_t buf[512];
	char path[160];
	size_t n;

	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	for (int i = 1; i <= 4; i++)
		cr_assert_eq(vg_queue_push(&q, STREAM, (uint64_t)i, 2, buf, frame_of(i, buf)), 0);
	cr_assert_eq(vg_queue_ack(&q, STREAM, 2), 2);
	vg_queue_free(&q);
	seg_path(spool, path, sizeof(path));
	n = file_size(path);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.count, 2);
	cr_assert_eq(q.frames_evicted, 0);
	cr_assert_eq(q.disk_bytes, n + 40, "the segment and the ack carried on");
	cr_assert_eq(vg_queue_ack(&q, STREAM, 4), 2);
	vg_queue_free(&q);
	cr_assert_neq(access(path, F_OK), 0, "an acknowledged segment is still there");

	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	for (int i = 5; i <= 6; i++)
		cr_assert_eq(vg_queue_push(&q, STREAM, (uint64_t)i, 2, buf, frame_of(i, buf)), 0);
	cr_assert_eq(vg_queue_ack(&q, STREAM, 6), 2);
	vg_queue_free(&q); /* stopped cleanly: everything acknowledged */
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.count, 0);
	cr_assert_eq(q.frames_evicted, 0);
	cr_assert_eq(q.disk_bytes, 0, "%llu bytes of disk counted for an empty spool",
		     (unsigned long long)q.disk_bytes);
	vg_queue_free(&q);
	cr_assert_eq(seg_path(spool, path, sizeof(path)), 0, "a segment is still there: %s", path);
}

/*
 * A damaged record in the middle is not a tail: the records after it come
 * back, the damaged frame is counted with its events (unless an ack says
 * the host has it), nothing is cut.
 */
Test(spool, damage_in_the_middle_is_skipped_not_cut)
{
	static struct script sc;
	static uint8_t bytes[1 << 16], got[1 << 16], want[1 << 16];
	struct vg_queue q;
	char path[200];
	uint64_t acked;
	size_t n, m = 0;
	int lost = 25, stored = 19; /* records of frames 22 and 17; 18 is the last acked */

	write_script(&sc);
	spool_clear();
	acked = sc.acked[sc.nrec - 1];
	cr_assert_eq(sc.frame[lost], 22);
	cr_assert_eq(sc.frame[stored], 17);
	cr_assert_eq(acked, 18);
	memcpy(bytes, sc.seg, sc.size);
	bytes[sc.end[lost - 1] + 40 + 1] ^= 0xff; /* a payload byte */
	bytes[sc.end[stored - 1] + 32] ^= 0x01; /* the checksum */
	spool_with(&sc, bytes, sc.size);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.frames_evicted, 1);
	cr_assert_eq(q.events_evicted, nevents_of(22));
	for (uint64_t i = acked + 1; i <= NREC; i++)
		if (i != 22)
			m += frame_of((int)i, want + m);
	cr_assert_eq(q.count, NREC - acked - 1);
	n = drain(&q, got, sizeof(got));
	cr_assert_eq(n, m);
	cr_assert_eq(memcmp(got, want, n), 0);
	vg_queue_free(&q);
	seg_path(spool, path, sizeof(path));
	cr_assert_eq(file_size(path), sc.size, "good records after the damage were cut off");
}

/* ---- Issue 15, finding 2: the spool belongs to vigild's user alone. */

Test(spool, world_writable_directory_is_refused)
{
	struct vg_queue q;

	cr_assert_eq(mkdir(spool, 0700), 0);
	cr_assert_eq(chmod(spool, 0777), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), -EPERM);
	vg_queue_free(&q);
	cr_assert_eq(chmod(spool, 0720), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), -EPERM);
	vg_queue_free(&q);
}

Test(spool, directory_of_another_user_is_refused)
{
	struct vg_queue q;

	if (geteuid() != 0)
		cr_skip_test("chown needs root");
	cr_assert_eq(mkdir(spool, 0700), 0);
	cr_assert_eq(chown(spool, 65534, 65534), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), -EPERM);
	vg_queue_free(&q);
}

Test(spool, symlinked_directory_is_refused)
{
	struct vg_queue q;
	char real[160];

	snprintf(real, sizeof(real), "%s/real", dir);
	cr_assert_eq(mkdir(real, 0700), 0);
	cr_assert_eq(symlink(real, spool), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), -ELOOP);
	vg_queue_free(&q);
}

/* A symlink named like a segment: not followed, its target neither read nor truncated. */
Test(spool, symlink_segment_is_not_followed)
{
	static const char secret[] = "root's file, not a segment\n";
	struct vg_queue q;
	char victim[160], link[200];
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, secret, sizeof(secret)), (ssize_t)sizeof(secret));
	close(fd);
	cr_assert_eq(mkdir(spool, 0700), 0);
	snprintf(link, sizeof(link), "%s/seg-0000000000000001.vgs", spool);
	cr_assert_eq(symlink(victim, link), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.count, 0);
	cr_assert_eq(q.events_evicted, 0);
	vg_queue_free(&q);
	cr_assert_eq(file_size(victim), sizeof(secret), "the symlink's target was truncated");
	cr_assert_eq(access(link, F_OK), 0, "the symlink was removed");
}

/* A well-formed segment that another user wrote is not resent as ours. */
Test(spool, segment_of_another_user_is_not_loaded)
{
	static struct script sc;
	struct vg_queue q;
	char path[200];

	if (geteuid() != 0)
		cr_skip_test("chown needs root");
	write_script(&sc);
	seg_path(spool, path, sizeof(path));
	cr_assert_eq(chown(path, 65534, 65534), 0);
	vg_queue_init(&q, 1 << 20);
	cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
	cr_assert_eq(q.count, 0, "%zu forged frames queued", q.count);
	vg_queue_free(&q);
	cr_assert_eq(file_size(path), sc.size, "the forged segment was changed");
	/* And the next segment does not collide with it. */
	{
		uint8_t buf[64];

		vg_queue_init(&q, 1 << 20);
		cr_assert_eq(vg_queue_open_spool(&q, spool, 1 << 30, VG_SYNC_NONE), 0);
		cr_assert_eq(vg_queue_push(&q, STREAM, 99, 1, buf, frame_of(1, buf)), 0);
		cr_assert_eq(q.spool_errors, 0);
		vg_queue_free(&q);
	}
}
