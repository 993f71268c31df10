// SPDX-License-Identifier: GPL-2.0-only
/*
 * --record FILE: every record received, as `vigil filter test --capture`
 * replays it: u32 length, then the record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "paths.h"
#include "proctable.h"
#include "vigil_abi.h"

static int vg_record_write(FILE *f, const void *data, size_t size)
{
	uint32_t len = (uint32_t)size;

	return fwrite(&len, sizeof(len), 1, f) == 1 && fwrite(data, 1, size, f) == size ? 0 : -EIO;
}

/*
 * A capture opens with the processes already running, as exec records
 * marked VG_F_SNAPSHOT (time 0), so a replay knows their executables as
 * the kernel does.
 */
static int vg_record_snapshot_one(void *ctx, uint32_t pid)
{
	struct {
		struct vg_exec_event e;
		char path[4096];
	} r;
	int n = vg_pt_read_exe("/proc", pid, r.path, sizeof(r.path));

	if (n < 0)
		return 1;
	memset(&r.e, 0, sizeof(r.e));
	r.e.hdr.type = VG_EV_EXEC;
	r.e.hdr.flags = VG_F_SNAPSHOT;
	r.e.task.pid = r.e.task.tgid = pid;
	r.e.path_len = (__u16)(n + 1);
	r.e.hdr.size = sizeof(r.e) + r.e.path_len;
	return vg_record_write(ctx, &r, r.e.hdr.size);
}

int vg_record_open(struct vg_daemon *d)
{
	int fd = vg_file_create_own("--record", AT_FDCWD, d->o.record);

	d->record = fd < 0 ? NULL : fdopen(fd, "w");
	if (!d->record) {
		int err = fd < 0 ? fd : vg_err(-errno, "--record %s", d->o.record);

		if (fd >= 0)
			close(fd);
		return err;
	}
	if (vg_pt_each_pid("/proc", vg_record_snapshot_one, d->record) < 0)
		return vg_err(-EIO, "--record %s: write the process snapshot", d->o.record);
	return 0;
}

void vg_record(struct vg_daemon *d, const void *data, size_t size)
{
	if (d->record && vg_record_write(d->record, data, size)) {
		vg_log(VG_WARN, "--record: write failed; recording stops");
		fclose(d->record);
		d->record = NULL;
	}
}
