// SPDX-License-Identifier: GPL-2.0-only
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "fmt.h"
#include "hoststate.h"
#include "log.h"
#include "store.h"

int vg_hoststate_init(sqlite3 *db)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db,
			  "CREATE TABLE IF NOT EXISTS HostState (Name TEXT PRIMARY KEY,"
			  " Value TEXT NOT NULL, Timestamp TEXT NOT NULL)",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "store: create HostState: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	return 0;
}

int vg_hoststate_set(sqlite3 *db, const char *name, const char *value)
{
	char now[VG_ISO_LEN];
	sqlite3_stmt *st;
	int rc;

	if (value)
		rc = sqlite3_prepare_v2(
			db,
			"INSERT INTO HostState (Name, Value, Timestamp) VALUES (?, ?, ?)"
			" ON CONFLICT (Name) DO UPDATE SET Value = excluded.Value,"
			" Timestamp = excluded.Timestamp",
			-1, &st, NULL);
	else
		rc = sqlite3_prepare_v2(db, "DELETE FROM HostState WHERE Name = ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (value) {
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, vg_iso_time(now, vg_now_ns()), -1, SQLITE_TRANSIENT);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
err:
	vg_log(VG_ERROR, "store: set HostState %s: %s", name, sqlite3_errmsg(db));
	return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
}

int vg_hoststate_get(sqlite3 *db, const char *name, char *out, size_t n)
{
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (n)
		out[0] = '\0';
	rc = sqlite3_prepare_v2(db, "SELECT Value FROM HostState WHERE Name = ?", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		/* A store no plug-in has written to yet has no HostState table. */
		if (strstr(sqlite3_errmsg(db), "no such table"))
			return 0;
		vg_log(VG_ERROR, "store: read HostState %s: %s", name, sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "store: read HostState %s: %s", name, sqlite3_errmsg(db));
		ret = vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	sqlite3_finalize(st);
	return ret;
}

int vg_hoststate_session(sqlite3 *db, int running)
{
	char now[VG_ISO_LEN];
	int err = vg_hoststate_init(db);

	if (!err && running)
		err = vg_hoststate_set(db, VG_HS_VM_STARTED, vg_iso_time(now, vg_now_ns()));
	if (!err)
		err = vg_hoststate_set(db, VG_HS_SENSOR, running ? "starting" : "exited: stopped");
	if (!err)
		err = vg_hoststate_set(db, VG_HS_VM_STATE, running ? "running" : "stopped");
	return err;
}
