// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "alerts.h"
#include "events.h"
#include "fmt.h"
#include "log.h"
#include "store.h"

static void vg_obj(struct vg_sb *b, sqlite3_stmt *st, int from)
{
	int n = sqlite3_column_count(st);

	for (int i = from; i < n; i++) {
		vg_sb_add(b, i > from ? "," : "");
		vg_json_str(b, sqlite3_column_name(st, i));
		vg_sb_add(b, ":");
		vg_json_column(b, st, i);
	}
}

static const char *vg_col(sqlite3_stmt *st, int i)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	return v ? v : "";
}

long vg_alerts_print(sqlite3 *db, FILE *out, int json, int64_t after, int64_t *last)
{
	sqlite3_stmt *al = NULL, *ev = NULL;
	struct vg_sb b;
	long n = 0;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db,
				"SELECT rowid, Timestamp, AlertId, Title, Category, Severity,"
				" DetectionSource, AttackTechniques, RuleId, DeviceId, DeviceName,"
				" Description FROM AlertInfo WHERE rowid > ? ORDER BY rowid",
				-1, &al, NULL);
	if (rc != SQLITE_OK) {
		/* No alert tables: no host with detections has written this store. */
		if (strstr(sqlite3_errmsg(db), "no such table"))
			return 0;
		vg_log(VG_ERROR, "alerts: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	rc = sqlite3_prepare_v2(db,
				"SELECT Timestamp, SourceTable, SourceRowId, ReportId, EntityType,"
				" EvidenceRole, DeviceId, ActionType, FileName, FolderPath,"
				" ProcessId, ProcessCommandLine, AccountName, RemoteIP, RemotePort"
				" FROM AlertEvidence WHERE AlertId = ? ORDER BY rowid",
				-1, &ev, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(al);
		vg_log(VG_ERROR, "alerts: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	vg_sb_init(&b);
	sqlite3_bind_int64(al, 1, after);
	while (!err && (rc = sqlite3_step(al)) == SQLITE_ROW) {
		int nev = 0;

		vg_sb_reset(&b);
		if (json) {
			vg_sb_add(&b, "{");
			vg_obj(&b, al, 1);
			vg_sb_add(&b, ",\"Evidence\":[");
		} else {
			/* Escaped: the rules and the events behind them wrote these values. */
			vg_sb_safe(&b, vg_col(al, 1));
			vg_sb_add(&b, "  ");
			vg_sb_cell(&b, vg_col(al, 5), 13, 0);
			vg_sb_add(&b, " ");
			vg_sb_safe(&b, vg_col(al, 2));
			vg_sb_add(&b, "  ");
			vg_sb_safe(&b, vg_col(al, 3));
			vg_sb_add(&b, "  [");
			vg_sb_safe(&b, vg_col(al, 4));
			vg_sb_add(&b, ", ");
			vg_sb_safe(&b, vg_col(al, 7));
			vg_sb_add(&b, "]  device ");
			vg_sb_safe(&b, vg_col(al, 9));
			vg_sb_add(&b, "\n");
		}
		sqlite3_bind_text(ev, 1, vg_col(al, 2), -1, SQLITE_TRANSIENT);
		while (sqlite3_step(ev) == SQLITE_ROW) {
			if (json) {
				vg_sb_add(&b, nev ? ",{" : "{");
				vg_obj(&b, ev, 0);
				vg_sb_add(&b, "}");
			} else {
				vg_sb_add(&b, "    ");
				vg_sb_safe(&b, vg_col(ev, 0));
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, 1));
				vg_sb_printf(&b, "#%lld", (long long)sqlite3_column_int64(ev, 2));
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, 7));
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, *vg_col(ev, 11) ? 11 : 9));
				vg_sb_add(&b, "\n");
			}
			nev++;
		}
		sqlite3_reset(ev);
		if (json)
			vg_sb_add(&b, "]}\n");
		if (vg_sb_err(&b))
			err = -ENOMEM;
		else if (fputs(vg_sb_str(&b), out) == EOF || fflush(out))
			err = -EPIPE;
		*last = sqlite3_column_int64(al, 0);
		n++;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		vg_log(VG_ERROR, "alerts: %s", sqlite3_errmsg(db));
		err = vg_sqlite_errno(rc) ?: -EIO;
	}
	sqlite3_finalize(al);
	sqlite3_finalize(ev);
	vg_sb_free(&b);
	return err ? err : n;
}
