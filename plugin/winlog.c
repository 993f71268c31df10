// SPDX-License-Identifier: GPL-2.0-only
/* The plug-in's log file, size-capped with one rotation (winlog.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "winlog.h"

static struct {
	INIT_ONCE once;
	CRITICAL_SECTION lock;
	HANDLE f;
	WCHAR path[MAX_PATH], old[MAX_PATH + 4];
	DWORD max;
	ULONGLONG size;
} vg_wl = { .once = INIT_ONCE_STATIC_INIT, .f = INVALID_HANDLE_VALUE };

static BOOL CALLBACK vg_wl_init(INIT_ONCE *once, void *arg, void **ctx)
{
	InitializeCriticalSection(&vg_wl.lock);
	return TRUE;
}

/* Open for appending; others may read it (healthcheck's bundle) or rename it. */
static void vg_wl_reopen(void)
{
	LARGE_INTEGER size;

	if (vg_wl.f != INVALID_HANDLE_VALUE)
		CloseHandle(vg_wl.f);
	vg_wl.f = CreateFileW(vg_wl.path, FILE_APPEND_DATA,
			      FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			      OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	vg_wl.size = vg_wl.f != INVALID_HANDLE_VALUE && GetFileSizeEx(vg_wl.f, &size) ?
			     (ULONGLONG)size.QuadPart :
			     0;
}

static void vg_wl_write(const char *line, size_t len)
{
	DWORD w;

	EnterCriticalSection(&vg_wl.lock);
	if (vg_wl.f != INVALID_HANDLE_VALUE && vg_wl.size && vg_wl.size + len > vg_wl.max) {
		CloseHandle(vg_wl.f);
		vg_wl.f = INVALID_HANDLE_VALUE;
		MoveFileExW(vg_wl.path, vg_wl.old, MOVEFILE_REPLACE_EXISTING);
		vg_wl_reopen();
	}
	if (vg_wl.f != INVALID_HANDLE_VALUE && WriteFile(vg_wl.f, line, (DWORD)len, &w, NULL))
		vg_wl.size += w;
	LeaveCriticalSection(&vg_wl.lock);
}

void vg_win_log_open(const struct vg_win_conf *c)
{
	InitOnceExecuteOnce(&vg_wl.once, vg_wl_init, NULL, NULL);
	EnterCriticalSection(&vg_wl.lock);
	if (vg_wl.f == INVALID_HANDLE_VALUE || wcscmp(vg_wl.path, c->log_w)) {
		wcscpy(vg_wl.path, c->log_w);
		_snwprintf(vg_wl.old, MAX_PATH + 4, L"%ls.1", vg_wl.path);
		vg_wl.old[MAX_PATH + 3] = 0;
		vg_wl_reopen();
	}
	vg_wl.max = c->log_max;
	LeaveCriticalSection(&vg_wl.lock);
	if (vg_wl.f == INVALID_HANDLE_VALUE) {
		fprintf(stderr, "vigil-plugin: cannot open the log %s (error %lu)\n", c->log,
			(unsigned long)GetLastError());
		return;
	}
	vg_log_sink = vg_wl_write;
}

void vg_win_log_close(void)
{
	vg_log_sink = NULL;
	InitOnceExecuteOnce(&vg_wl.once, vg_wl_init, NULL, NULL);
	EnterCriticalSection(&vg_wl.lock);
	if (vg_wl.f != INVALID_HANDLE_VALUE)
		CloseHandle(vg_wl.f);
	vg_wl.f = INVALID_HANDLE_VALUE;
	LeaveCriticalSection(&vg_wl.lock);
}
