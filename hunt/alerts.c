// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "alerts.h"
#include "events.h"
#include "fmt.h"
#include "log.h"
#include "store.h"

#include "hunt.h"

const char *const vg_alert_cols[VG_ALERT_NCOLS] = {
	"Timestamp",	    "AlertId", "Title",	   "Category",	 "Severity",	"DetectionSource",
	"AttackTechniques", "RuleId",  "DeviceId", "DeviceName", "Description",
};

const char *const vg_evidence_cols[VG_EVIDENCE_NCOLS] = {
	"Timestamp",	"SourceTable",	      "SourceRowId", "ReportId", "EntityType",
	"EvidenceRole", "DeviceId",	      "ActionType",  "FileName", "FolderPath",
	"ProcessId",	"ProcessCommandLine", "AccountName", "RemoteIP", "RemotePort",
};

static void vg_obj(struct vg_sb *b, struct vg_hunt_src *st, const char *const *names, int n,
		   int from)
{
	for (int i = 0; i < n; i++) {
		vg_sb_add(b, i ? "," : "");
		vg_json_str(b, names[i]);
		vg_sb_add(b, ":");
		st->json(st, i + from, b);
	}
}

static const char *vg_col(struct vg_hunt_src *st, int i)
{
	const char *v = st->text(st, i);

	return v ? v : "";
}

long vg_alerts_emit(struct vg_alerts_src *s, FILE *out, int json)
{
	struct vg_hunt_src *al = s->alerts;
	struct vg_sb b;
	long n = 0;
	int rc, err = 0;

	vg_sb_init(&b);
	while (!err && (rc = al->next(al)) == 1) {
		struct vg_hunt_src *ev;
		int nev = 0;

		vg_sb_reset(&b);
		if (json) {
			vg_sb_add(&b, "{");
			vg_obj(&b, al, vg_alert_cols, VG_ALERT_NCOLS, 1);
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
		ev = s->evidence(s, vg_col(al, 2));
		if (!ev) {
			err = -EIO;
			break;
		}
		while ((rc = ev->next(ev)) == 1) {
			if (json) {
				vg_sb_add(&b, nev ? ",{" : "{");
				vg_obj(&b, ev, vg_evidence_cols, VG_EVIDENCE_NCOLS, 0);
				vg_sb_add(&b, "}");
			} else {
				vg_sb_add(&b, "    ");
				vg_sb_safe(&b, vg_col(ev, 0));
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, 1));
				vg_sb_printf(&b, "#%s", *vg_col(ev, 2) ? vg_col(ev, 2) : "0");
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, 7));
				vg_sb_add(&b, "  ");
				vg_sb_safe(&b, vg_col(ev, *vg_col(ev, 11) ? 11 : 9));
				vg_sb_add(&b, "\n");
			}
			nev++;
		}
		if (rc < 0) {
			err = rc;
			break;
		}
		if (json)
			vg_sb_add(&b, "]}\n");
		if (vg_sb_err(&b))
			err = -ENOMEM;
		else if (fputs(vg_sb_str(&b), out) == EOF || fflush(out))
			err = -EPIPE;
		if (s->printed)
			s->printed(s);
		n++;
	}
	if (!err && rc < 0)
		err = rc;
	vg_sb_free(&b);
	return err ? err : n;
}

/* ---- the alerts of a store */

struct vg_alerts_sqlite {
	struct vg_alerts_src src;
	struct vg_hunt_sqlite al, ev;
	int64_t *last;
};

static struct vg_hunt_src *vg_alerts_sqlite_evidence(struct vg_alerts_src *src, const char *id)
{
	struct vg_alerts_sqlite *s = (struct vg_alerts_sqlite *)src;

	sqlite3_reset(s->ev.st);
	sqlite3_bind_text(s->ev.st, 1, id, -1, SQLITE_TRANSIENT);
	return &s->ev.src;
}

static void vg_alerts_sqlite_printed(struct vg_alerts_src *src)
{
	struct vg_alerts_sqlite *s = (struct vg_alerts_sqlite *)src;

	*s->last = sqlite3_column_int64(s->al.st, 0);
}

/* "SELECT <rowid, >cols FROM table" with the columns quoted */
void vg_alerts_select(struct vg_sb *b, const char *first, const char *const *cols, int n,
		      const char *table)
{
	vg_sb_printf(b, "SELECT %s", first ? first : "");
	for (int i = 0; i < n; i++)
		vg_sb_printf(b, "%s\"%s\"", i || first ? ", " : "", cols[i]);
	vg_sb_printf(b, " FROM \"%s\"", table);
}

long vg_alerts_print(sqlite3 *db, FILE *out, int json, int64_t after, int64_t *last)
{
	struct vg_alerts_sqlite s = { .src = { .evidence = vg_alerts_sqlite_evidence,
					       .printed = vg_alerts_sqlite_printed },
				      .last = last };
	sqlite3_stmt *al = NULL, *ev = NULL;
	struct vg_sb q;
	long n;
	int rc;

	vg_sb_init(&q);
	vg_alerts_select(&q, "rowid", vg_alert_cols, VG_ALERT_NCOLS, "AlertInfo");
	vg_sb_add(&q, " WHERE rowid > ? ORDER BY rowid");
	rc = vg_sb_err(&q) ? SQLITE_NOMEM : sqlite3_prepare_v2(db, vg_sb_str(&q), -1, &al, NULL);
	if (rc != SQLITE_OK) {
		vg_sb_free(&q);
		/* No alert tables: no host with detections has written this store. */
		if (strstr(sqlite3_errmsg(db), "no such table"))
			return 0;
		vg_log(VG_ERROR, "alerts: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	vg_sb_reset(&q);
	vg_alerts_select(&q, NULL, vg_evidence_cols, VG_EVIDENCE_NCOLS, "AlertEvidence");
	vg_sb_add(&q, " WHERE AlertId = ? ORDER BY rowid");
	rc = vg_sb_err(&q) ? SQLITE_NOMEM : sqlite3_prepare_v2(db, vg_sb_str(&q), -1, &ev, NULL);
	vg_sb_free(&q);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(al);
		vg_log(VG_ERROR, "alerts: %s", sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	sqlite3_bind_int64(al, 1, after);
	vg_hunt_sqlite_init(&s.al, db, al);
	vg_hunt_sqlite_init(&s.ev, db, ev);
	s.src.alerts = &s.al.src;
	n = vg_alerts_emit(&s.src, out, json);
	sqlite3_finalize(al);
	sqlite3_finalize(ev);
	return n;
}
