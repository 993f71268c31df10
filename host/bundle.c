// SPDX-License-Identifier: GPL-2.0-only
/* healthcheck --supportBundle: the tar archive (bundle.h). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "compat.h"
#include "events.h"
#include "fmt.h"
#include "health.h"
#include "log.h"
#include "store.h"

/* One ustar member: 512-byte header, data, padding to 512. */
static int vg_tar_add(FILE *f, const char *name, const char *data, size_t len, long long mtime)
{
	unsigned char h[512] = { 0 };
	static const unsigned char zero[512];
	unsigned sum = 0;

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len);
	snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)mtime);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	if (fwrite(h, 1, 512, f) != 512 || fwrite(data, 1, len, f) != len)
		return -EIO;
	if (len % 512 && fwrite(zero, 1, 512 - len % 512, f) != 512 - len % 512)
		return -EIO;
	return 0;
}

/* Redact text and add it to the archive, and its name to the manifest. */
static int vg_bundle_add(FILE *f, struct vg_sb *manifest, const char *name, const char *text,
			 long long now)
{
	char *copy = strdup(text ? text : "");
	int err;

	if (!copy)
		return -ENOMEM;
	vg_redact(copy);
	err = vg_tar_add(f, name, copy, strlen(copy), now);
	vg_sb_printf(manifest, "%s\t%lu bytes\n", name, (unsigned long)strlen(copy));
	free(copy);
	return err;
}

/* What a printer wrote to a temporary file, as a string (tmpfile(): no POSIX memstream). */
static int vg_capture(struct vg_store *s, int (*print)(struct vg_store *, FILE *, int),
		      struct vg_sb *out)
{
	FILE *t = tmpfile();
	char buf[4096];
	size_t n;
	int err;

	if (!t) {
		vg_sb_printf(out, "cannot make a temporary file: %s\n", strerror(errno));
		return 0;
	}
	err = print(s, t, 1);
	rewind(t);
	while ((n = fread(buf, 1, sizeof(buf), t)) > 0)
		vg_sb_addn(out, buf, n);
	fclose(t);
	if (err < 0)
		vg_sb_printf(out, "error: %s\n", strerror(-err));
	return 0;
}

static int vg_hoststate_dump(sqlite3 *db, struct vg_sb *out)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "SELECT Name, Value, Timestamp FROM HostState ORDER BY Name", -1,
			       &st, NULL) != SQLITE_OK) {
		vg_sb_printf(out, "no HostState: %s\n", sqlite3_errmsg(db));
		return 0;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		vg_sb_printf(out, "%s=%s\t(%s)\n", (const char *)sqlite3_column_text(st, 0),
			     (const char *)sqlite3_column_text(st, 1),
			     (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	return 0;
}

int vg_bundle_write(const char *dir, struct vg_store *s, const struct vg_health *h,
		    const struct vg_bundle_extra *x, char *out, size_t n)
{
	struct vg_sb manifest, text;
	long long now = (long long)(vg_now_ns() / 1000000000u);
	char stamp[VG_ISO_LEN], name[32];
	FILE *f, *t;
	int err = 0;

	vg_iso_time(stamp, vg_now_ns());
	/* 2026-11-26T12:00:00.123Z -> 20261126T120000Z */
	snprintf(name, sizeof(name), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", stamp, stamp + 5, stamp + 8,
		 stamp + 11, stamp + 14, stamp + 17);
	snprintf(out, n, "%s/vigil-support-%s.tar", dir, name);
	f = fopen(out, "wb");
	if (!f)
		return vg_err(-errno, "support bundle: create %s", out);
	vg_sb_init(&manifest);
	vg_sb_init(&text);
	vg_sb_printf(&manifest, "vigil support bundle, %s\n", stamp);

	t = tmpfile();
	if (t) {
		char buf[4096];
		size_t got;

		vg_health_print(h, t, 1);
		rewind(t);
		while ((got = fread(buf, 1, sizeof(buf), t)) > 0)
			vg_sb_addn(&text, buf, got);
		fclose(t);
	}
	err = vg_bundle_add(f, &manifest, "health.json", vg_sb_str(&text), now);
	vg_sb_reset(&text);
	if (s) {
		vg_hoststate_dump(vg_store_db(s), &text);
	} else {
		vg_sb_add(&text, "no store yet: no VM has started the plug-in\n");
	}
	err = err ?: vg_bundle_add(f, &manifest, "hoststate.txt", vg_sb_str(&text), now);
	vg_sb_reset(&text);
	if (s)
		vg_capture(s, vg_stats_print, &text);
	err = err ?: vg_bundle_add(f, &manifest, "stats.json", vg_sb_str(&text), now);
	err = err ?: vg_bundle_add(f, &manifest, "config.txt", x->config, now);
	err = err ?: vg_bundle_add(f, &manifest, "probe.txt", x->probe, now);
	err = err ?: vg_bundle_add(f, &manifest, "logs.txt", x->logs, now);
	/*
	 * The spool lives inside the VM with vigild; what reaches the host is
	 * its batch sequence: the latest frames received per device and stream.
	 */
	vg_sb_reset(&text);
	if (s) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(vg_store_db(s),
				       "SELECT DeviceId, StreamId, Seq, Timestamp, Events"
				       " FROM ReceivedFrames ORDER BY rowid DESC LIMIT 20",
				       -1, &st, NULL) == SQLITE_OK) {
			vg_sb_add(&text, "DeviceId\tStreamId\tSeq\tTimestamp\tEvents\n");
			while (sqlite3_step(st) == SQLITE_ROW)
				vg_sb_printf(&text, "%s\t%lld\t%lld\t%s\t%lld\n",
					     (const char *)sqlite3_column_text(st, 0),
					     (long long)sqlite3_column_int64(st, 1),
					     (long long)sqlite3_column_int64(st, 2),
					     (const char *)sqlite3_column_text(st, 3),
					     (long long)sqlite3_column_int64(st, 4));
			sqlite3_finalize(st);
		}
	}
	err = err ?: vg_bundle_add(f, &manifest, "spool.txt", vg_sb_str(&text), now);
	if (vg_sb_err(&manifest) || vg_sb_err(&text))
		err = err ?: -ENOMEM;
	err = err ?: vg_tar_add(f, "MANIFEST", vg_sb_str(&manifest), manifest.len, now);
	/* End of archive: two zero blocks. */
	if (!err) {
		static const char zero[1024];

		if (fwrite(zero, 1, sizeof(zero), f) != sizeof(zero))
			err = -EIO;
	}
	if (fclose(f) && !err)
		err = -EIO;
	vg_sb_free(&manifest);
	vg_sb_free(&text);
	if (err) {
		remove(out);
		return vg_err(err, "support bundle: write %s", out);
	}
	return 0;
}
