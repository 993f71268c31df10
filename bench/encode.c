// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigild's userspace work without a kernel: replay ring buffer records
 * through the event core (daemon/sensor.h) and the batch codec (lib/batch.h),
 * and report encode + compress throughput.
 *
 *   encode record FILE [PROCFS]   write a capture: for every process in the
 *                                 process table (default /proc), a fork, an
 *                                 exec with its real path, argv and cwd, and
 *                                 an exit, as the BPF programs lay them out
 *   encode replay FILE [--seconds S] [--batch N] [--zstd-level L] [--json]
 *
 * A capture is a sequence of (u32 length, record) in host byte order, the
 * records in the kern/vigil_abi.h layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "include/generated/autoconf.h"
#include "sensor.h"
#include "vigil_abi.h"

#define EN_PID_BASE 4000000u /* above pid_max: synthetic children never meet real pids */

static long long en_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void en_task(struct vg_task *t, const struct vg_proc *p, uint32_t tgid, uint32_t ppid)
{
	memset(t, 0, sizeof(*t));
	t->pid = tgid;
	t->tgid = tgid;
	t->ppid = ppid;
	t->uid = p->uid;
	t->gid = p->gid;
	t->euid = p->euid;
	t->egid = p->egid;
	t->start_boot_ns = p->start_boot_ns;
	t->cgroup_id = p->cgroup_id;
	memcpy(t->comm, p->comm, sizeof(t->comm));
}

static int en_put(FILE *f, const void *rec, uint32_t len)
{
	return fwrite(&len, sizeof(len), 1, f) == 1 && fwrite(rec, len, 1, f) == 1 ? 0 : -EIO;
}

static int en_record_one(FILE *f, const struct vg_proc *p, uint32_t child, uint64_t ts)
{
	static char buf[sizeof(struct vg_exec_event) + VG_PATH_MAX * 2 + VG_ARGV_CAP + 1];
	struct vg_exec_event *e = (void *)buf;
	struct vg_fork_event fe = { 0 };
	struct vg_exit_event xe = { 0 };
	const char *exe = p->exe ? p->exe : "/unknown", *cwd = p->cwd ? p->cwd : "/";
	size_t plen = strnlen(exe, VG_PATH_MAX - 1) + 1, clen = strnlen(cwd, VG_PATH_MAX - 1) + 1;
	size_t alen = p->args_len > VG_ARGV_CAP ? 0 : p->args_len;
	char *tail = (char *)(e + 1);
	int err;

	fe.hdr.type = VG_EV_FORK;
	fe.hdr.size = sizeof(fe);
	fe.hdr.ts_boot_ns = ts;
	en_task(&fe.task, p, child, p->pid);

	memset(e, 0, sizeof(*e));
	e->hdr.type = VG_EV_EXEC;
	e->hdr.ts_boot_ns = ts + 1000;
	en_task(&e->task, p, child, p->pid);
	e->exe_ino = p->exe_ino;
	e->exe_dev = p->exe_dev;
	e->path_len = (__u16)plen;
	e->argv_len = (__u16)alen;
	e->cwd_len = (__u16)clen;
	memcpy(tail, exe, plen - 1);
	tail[plen - 1] = '\0';
	if (alen)
		memcpy(tail + plen, p->args, alen);
	memcpy(tail + plen + alen, cwd, clen - 1);
	tail[plen + alen + clen - 1] = '\0';
	e->hdr.size = (__u32)(sizeof(*e) + plen + alen + clen);

	xe.hdr.type = VG_EV_EXIT;
	xe.hdr.size = sizeof(xe);
	xe.hdr.ts_boot_ns = ts + 2000;
	en_task(&xe.task, p, child, p->pid);

	err = en_put(f, &fe, sizeof(fe));
	err = err ?: en_put(f, e, e->hdr.size);
	return err ?: en_put(f, &xe, sizeof(xe));
}

static int en_record(const char *path, const char *procfs)
{
	struct vg_proctable pt;
	uint32_t n = 0;
	FILE *f;
	int err;

	err = vg_pt_init(&pt, 1u << 20);
	if (err)
		return err;
	err = vg_pt_scan(&pt, procfs);
	if (err < 0) {
		fprintf(stderr, "encode: read %s: %s\n", procfs, strerror(-err));
		vg_pt_free(&pt);
		return err;
	}
	f = fopen(path, "wb");
	if (!f) {
		err = -errno;
		fprintf(stderr, "encode: %s: %s\n", path, strerror(errno));
		vg_pt_free(&pt);
		return err;
	}
	err = 0;
	for (size_t i = 0; i < pt.cap && !err; i++) {
		const struct vg_proc *p = pt.slots[i];

		if (!p || !p->pid || vg_pt_get(&pt, p->pid) != p) /* empty slot or tombstone */
			continue;
		err = en_record_one(f, p, EN_PID_BASE + n, 1000000000ull + n * 10000ull);
		n++;
	}
	if (fclose(f) && !err)
		err = -EIO;
	vg_pt_free(&pt);
	if (err) {
		fprintf(stderr, "encode: write %s: %s\n", path, strerror(-err));
		return err;
	}
	printf("encode: recorded %u processes (%u records) from %s into %s\n", n, n * 3, procfs,
	       path);
	return 0;
}

static int en_load(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long sz;

	if (!f) {
		fprintf(stderr, "encode: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EIO;
	}
	*buf = malloc(sz ? sz : 1);
	if (!*buf || fread(*buf, 1, sz, f) != (size_t)sz) {
		fclose(f);
		fprintf(stderr, "encode: read %s failed\n", path);
		return -EIO;
	}
	fclose(f);
	*len = sz;
	return 0;
}

/* Check the framing of a capture; the number of records, or -EBADMSG. */
static long en_count(const uint8_t *buf, size_t len)
{
	size_t off = 0;
	long n = 0;

	while (off < len) {
		uint32_t rl;

		if (len - off < sizeof(rl))
			return -EBADMSG;
		memcpy(&rl, buf + off, sizeof(rl));
		off += sizeof(rl);
		if (rl < sizeof(struct vg_event_hdr) || rl > len - off)
			return -EBADMSG;
		off += rl;
		n++;
	}
	return n;
}

static int en_parse_num(const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < lo || *out > hi) {
		fprintf(stderr, "encode: %s: '%s' is not a number from %ld to %ld\n", opt, s, lo,
			hi);
		return -EINVAL;
	}
	return 0;
}

static int en_replay(const char *path, int argc, char **argv)
{
	long seconds = 2, batch = CONFIG_BATCH_MAX_EVENTS, level = CONFIG_ZSTD_LEVEL;
	uint64_t events = 0, raw_bytes = 0, wire_bytes = 0, batches = 0, lost = 0;
	struct vg_sensor s;
	long long start, now, deadline;
	uint8_t *cap = NULL;
	size_t cap_len = 0;
	long nrec;
	int json = 0, err;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			json = 1;
			continue;
		}
		if (!v ||
		    (strcmp(a, "--seconds") && strcmp(a, "--batch") && strcmp(a, "--zstd-level"))) {
			fprintf(stderr, "encode: replay: unknown option or missing value '%s'\n",
				a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--seconds"))
			err = en_parse_num(a, v, 1, 3600, &seconds);
		else if (!strcmp(a, "--batch"))
			err = en_parse_num(a, v, 1, 65536, &batch);
		else
			err = en_parse_num(a, v, 1, 19, &level);
		if (err)
			return err;
	}
	err = en_load(path, &cap, &cap_len);
	if (err)
		return err;
	nrec = en_count(cap, cap_len);
	if (nrec <= 0) {
		fprintf(stderr, "encode: %s: %s\n", path,
			nrec ? "not a capture (bad record framing)" : "empty capture");
		free(cap);
		return -EBADMSG;
	}
	/* No procfs and no passwd: what the capture carries is all there is. */
	err = vg_sensor_init(&s, NULL, "/etc/passwd");
	if (err) {
		free(cap);
		return err;
	}

	start = en_ns();
	deadline = start + seconds * 1000000000LL;
	do {
		for (size_t off = 0; off < cap_len;) {
			uint32_t rl;

			memcpy(&rl, cap + off, sizeof(rl));
			off += sizeof(rl);
			if (vg_sensor_record(&s, cap + off, rl))
				lost++;
			off += rl;
			if (s.nevents >= (size_t)batch) {
				Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
				uint8_t *out;
				size_t out_len;

				vg_sensor_batch_fill(&s, &b);
				raw_bytes += vigil__v1__batch__get_packed_size(&b);
				err = vg_batch_pack(&b, (int)level, &out, &out_len);
				if (err) {
					fprintf(stderr, "encode: pack: %s\n", strerror(-err));
					goto out;
				}
				free(out);
				events += s.nevents;
				wire_bytes += out_len + 24; /* + the frame header */
				batches++;
				vg_sensor_batch_done(&s);
			}
		}
		now = en_ns();
	} while (now < deadline);

	{
		double secs = (now - start) / 1e9;

		if (json)
			printf("{\"records\":%ld,\"batch\":%ld,\"zstd_level\":%ld,\"seconds\":%.3f,"
			       "\"events\":%llu,\"batches\":%llu,\"lost\":%llu,"
			       "\"events_per_s\":%.0f,\"protobuf_mb_per_s\":%.2f,"
			       "\"wire_mb_per_s\":%.2f,\"protobuf_bytes_per_event\":%.1f,"
			       "\"wire_bytes_per_event\":%.1f}\n",
			       nrec, batch, level, secs, (unsigned long long)events,
			       (unsigned long long)batches, (unsigned long long)lost, events / secs,
			       raw_bytes / secs / 1e6, wire_bytes / secs / 1e6,
			       events ? (double)raw_bytes / events : 0,
			       events ? (double)wire_bytes / events : 0);
		else
			printf("encode+compress: %llu events in %.2f s = %.0f events/s; protobuf "
			       "%.1f MB/s in, %.2f MB/s out; %.1f -> %.1f bytes/event "
			       "(batch %ld, zstd %ld, %ld records in the capture)\n",
			       (unsigned long long)events, secs, events / secs,
			       raw_bytes / secs / 1e6, wire_bytes / secs / 1e6,
			       events ? (double)raw_bytes / events : 0,
			       events ? (double)wire_bytes / events : 0, batch, level, nrec);
	}
	if (lost) {
		fprintf(stderr, "encode: %llu records of the capture became no event\n",
			(unsigned long long)lost);
		err = -EBADMSG;
	}
out:
	vg_sensor_free(&s);
	free(cap);
	return err;
}

static int en_usage(void)
{
	fprintf(stderr, "usage: encode record FILE [PROCFS]\n"
			"       encode replay FILE [--seconds S] [--batch N] [--zstd-level L] "
			"[--json]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "record") && argc <= 4)
		return en_record(argv[2], argc == 4 ? argv[3] : "/proc") ? 1 : 0;
	if (argc >= 3 && !strcmp(argv[1], "replay")) {
		int err = en_replay(argv[2], argc - 3, argv + 3);

		return err == -EINVAL ? 2 : err ? 1 : 0;
	}
	return en_usage();
}
