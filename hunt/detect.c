// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fmt.h"
#include "kql.h"
#include "log.h"
#include "store.h"

#define VG_RULE_MAX_BYTES (64 * 1024)
#define VG_RULE_MAX_GROUP 8

static const char vg_alerts_sql[] =
	"CREATE TABLE IF NOT EXISTS AlertInfo ("
	" Timestamp TEXT NOT NULL,"
	" AlertId TEXT,"
	" Title TEXT NOT NULL,"
	" Category TEXT,"
	" Severity TEXT,"
	" DetectionSource TEXT,"
	" AttackTechniques TEXT,"
	" RuleId TEXT,"
	" DeviceId TEXT,"
	" DeviceName TEXT,"
	" Description TEXT,"
	" GroupKey TEXT NOT NULL UNIQUE,"
	" AlertKey TEXT,"
	" EvidenceCount INTEGER,"
	" FirstActivity TEXT,"
	" LastActivity TEXT);"
	"CREATE TABLE IF NOT EXISTS AlertEvidence ("
	" Timestamp TEXT,"
	" AlertId TEXT NOT NULL,"
	" Title TEXT,"
	" Categories TEXT,"
	" AttackTechniques TEXT,"
	" DetectionSource TEXT,"
	" EntityType TEXT,"
	" EvidenceRole TEXT,"
	" DeviceId TEXT,"
	" DeviceName TEXT,"
	" ActionType TEXT,"
	" FileName TEXT,"
	" FolderPath TEXT,"
	" ProcessId INTEGER,"
	" ProcessCommandLine TEXT,"
	" AccountName TEXT,"
	" RemoteIP TEXT,"
	" RemotePort INTEGER,"
	" SourceTable TEXT NOT NULL,"
	" SourceRowId INTEGER NOT NULL,"
	" ReportId INTEGER);"
	"CREATE INDEX IF NOT EXISTS AlertEvidence_Alert ON AlertEvidence(AlertId);"
	"CREATE TABLE IF NOT EXISTS DetectionState ("
	" TableName TEXT PRIMARY KEY,"
	" LastRowId INTEGER NOT NULL);";

/* Columns a store made by an older vigil lacks, added in place; then their indexes. */
static const char *const vg_alert_added[] = { "AlertKey TEXT", "EvidenceCount INTEGER",
					      "FirstActivity TEXT", "LastActivity TEXT" };
static const char vg_alerts_idx_sql[] =
	"CREATE INDEX IF NOT EXISTS AlertInfo_Key ON AlertInfo(AlertKey);"
	"CREATE INDEX IF NOT EXISTS AlertEvidence_Source ON AlertEvidence(SourceTable, SourceRowId);";

/* An alert takes the evidence of its rule, device and process tree for this long. */
#define VG_RULE_WINDOW_MS (10 * 60 * 1000LL)
#define VG_RULE_MAX_WINDOW_MS (7 * 24 * 3600 * 1000LL)

/* Columns copied from an event into its evidence row, when the event has them. */
static const char *const vg_ev_cols[] = {
	"Timestamp", "DeviceId",	   "DeviceName",  "ActionType", "FileName",   "FolderPath",
	"ProcessId", "ProcessCommandLine", "AccountName", "RemoteIP",	"RemotePort", "ReportId",
};
#define VG_NEV (sizeof(vg_ev_cols) / sizeof(vg_ev_cols[0]))

struct vg_rule {
	char *id; /* file name without .rule */
	char *path;
	char *title, *severity, *category, *mitre, *description;
	char *group[VG_RULE_MAX_GROUP];
	int ngroup;
	int64_t window_ms; /* an alert takes its group's evidence this long after its first */
	int64_t lookback_ms; /* 0: new rows only; else every row of this span, each once */
	char *query;
	int query_line; /* line of the file where the query starts, minus one */
	int waiting; /* its table is not in the store yet */
	int logged_wait;
	sqlite3_stmt *st;
	char *table;
	int ev_idx[VG_NEV]; /* result column of each vg_ev_cols, -1 */
	int group_idx[VG_RULE_MAX_GROUP];
	int tree_idx[4]; /* vg_tree_cols in the result, -1 */
	int fallback_cmd; /* InitiatingProcessCommandLine when no ProcessCommandLine */
};

struct vg_detect {
	sqlite3 *db;
	struct vg_rule *rules;
	int nrules;
	sqlite3_stmt *ins_alert, *find_alert, *upd_alert, *has_ev, *ins_ev, *get_wm, *set_wm;
};

/*
 * The process tree an event belongs to, from the columns every event has:
 * a process running its parent's program (a subshell, a forked worker: it
 * did not exec) belongs to its parent's tree, any other to its own. So the
 * probes of a loop of subshells are one tree, the loop's shell.
 */
static const char *const vg_tree_cols[4] = {
	"InitiatingProcessId",
	"InitiatingProcessParentId",
	"InitiatingProcessFileName",
	"InitiatingProcessParentFileName",
};

/* 1 when table has column col (a name without spaces), 0 when not, -1 on error */
static int vg_has_column(sqlite3 *db, const char *table, const char *col, size_t len)
{
	sqlite3_stmt *st;
	char sql[96];
	int found = 0, rc;

	snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s')", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		if (n && strlen(n) == len && !strncmp(n, col, len))
			found = 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? found : -1;
}

int vg_alerts_schema(sqlite3 *db)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, vg_alerts_sql, NULL, NULL, &msg);

	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(vg_alert_added) / sizeof(*vg_alert_added);
	     i++) {
		const char *c = vg_alert_added[i];
		char sql[96];
		int has = vg_has_column(db, "AlertInfo", c, strcspn(c, " "));

		if (has < 0) {
			rc = sqlite3_errcode(db);
			break;
		}
		if (has)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE AlertInfo ADD COLUMN %s", c);
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, vg_alerts_idx_sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "detect: create alert tables: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	return 0;
}

static void vg_rule_free(struct vg_rule *r)
{
	free(r->id);
	free(r->path);
	free(r->title);
	free(r->severity);
	free(r->category);
	free(r->mitre);
	free(r->description);
	for (int i = 0; i < r->ngroup; i++)
		free(r->group[i]);
	free(r->query);
	free(r->table);
	sqlite3_finalize(r->st);
}

static char *vg_trim_dup(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static int vg_valid_technique(const char *s)
{
	/* T1234 or T1234.001, comma-separated */
	for (;;) {
		while (*s == ' ')
			s++;
		if (s[0] != 'T' || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
		    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
			return 0;
		s += 5;
		if (*s == '.') {
			if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
			    !isdigit((unsigned char)s[3]))
				return 0;
			s += 4;
		}
		while (*s == ' ')
			s++;
		if (!*s)
			return 1;
		if (*s++ != ',')
			return 0;
	}
}

/* "30s", "10m", "2h", "1d": milliseconds, or -1 */
static int64_t vg_duration_ms(const char *s)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n <= 0 || n > 1000000 || !end[0] || end[1])
		return -1;
	switch (*end) {
	case 's':
		return n * 1000;
	case 'm':
		return n * 60 * 1000;
	case 'h':
		return n * 3600 * 1000;
	case 'd':
		return n * 24 * 3600 * 1000;
	}
	return -1;
}

/*
 * Parse a rule file's text: "key: value" lines (# comments, blank lines),
 * then "query:" and the KQL to the end of the file.
 */
static int vg_rule_parse(struct vg_rule *r, const char *path, const char *text,
			 struct vg_sb *errors)
{
	const char *p = text;
	int line = 0;

	while (*p) {
		const char *eol = p + strcspn(p, "\n"), *colon;
		char key[32];
		char **slot = NULL;
		size_t kl;

		line++;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (*p == '#' || p[strspn(p, " \t\r")] == '\n' || p + strspn(p, " \t\r") == eol) {
			p = *eol ? eol + 1 : eol;
			continue;
		}
		kl = colon ? (size_t)(colon - p) : 0;
		if (!colon || kl >= sizeof(key)) {
			vg_sb_printf(errors,
				     "%s:%d:1: expected 'key: value' (title, severity, category,"
				     " mitre, description, group, window, lookback, query)\n",
				     path, line);
			return -EINVAL;
		}
		memcpy(key, p, kl);
		key[kl] = 0;
		if (!strcmp(key, "query")) {
			if (colon + 1 + strspn(colon + 1, " \t\r") != eol) {
				vg_sb_printf(errors,
					     "%s:%d:%d: the query starts on the line after"
					     " 'query:'\n",
					     path, line, (int)kl + 2);
				return -EINVAL;
			}
			r->query_line = line;
			r->query = strdup(*eol ? eol + 1 : "");
			break;
		}
		if (!strcmp(key, "title"))
			slot = &r->title;
		else if (!strcmp(key, "severity"))
			slot = &r->severity;
		else if (!strcmp(key, "category"))
			slot = &r->category;
		else if (!strcmp(key, "mitre"))
			slot = &r->mitre;
		else if (!strcmp(key, "description"))
			slot = &r->description;
		if (slot) {
			if (*slot) {
				vg_sb_printf(errors, "%s:%d:1: '%s' given twice\n", path, line,
					     key);
				return -EINVAL;
			}
			*slot = vg_trim_dup(colon + 1, (size_t)(eol - colon - 1));
			if (!*slot)
				return -ENOMEM;
		} else if (!strcmp(key, "window") || !strcmp(key, "lookback")) {
			char *v = vg_trim_dup(colon + 1, (size_t)(eol - colon - 1));
			int64_t ms = v ? vg_duration_ms(v) : -1;

			if (!v)
				return -ENOMEM;
			if (ms < 0 || ms > VG_RULE_MAX_WINDOW_MS) {
				vg_sb_printf(errors,
					     "%s:%d:%d: '%s' is not a duration of at most 7d"
					     " (30s, 10m, 2h, 1d)\n",
					     path, line, (int)kl + 3, v);
				free(v);
				return -EINVAL;
			}
			free(v);
			*(key[0] == 'w' ? &r->window_ms : &r->lookback_ms) = ms;
		} else if (!strcmp(key, "group")) {
			const char *g = colon + 1;

			while (g < eol) {
				size_t n = strcspn(g, ",\n");

				if (g + n > eol)
					n = (size_t)(eol - g);
				if (r->ngroup == VG_RULE_MAX_GROUP) {
					vg_sb_printf(errors, "%s:%d:1: at most %d group columns\n",
						     path, line, VG_RULE_MAX_GROUP);
					return -EINVAL;
				}
				r->group[r->ngroup] = vg_trim_dup(g, n);
				if (!r->group[r->ngroup])
					return -ENOMEM;
				if (*r->group[r->ngroup])
					r->ngroup++;
				else
					free(r->group[r->ngroup]);
				g += n + 1;
			}
		} else {
			vg_sb_printf(errors,
				     "%s:%d:1: unknown key '%s' (title, severity, category,"
				     " mitre, description, group, window, lookback, query)\n",
				     path, line, key);
			return -EINVAL;
		}
		p = *eol ? eol + 1 : eol;
	}
	if (!r->window_ms)
		r->window_ms = VG_RULE_WINDOW_MS;
	if (!r->query) {
		vg_sb_printf(errors, "%s:%d:1: no 'query:' section\n", path, line + 1);
		return -EINVAL;
	}
	if (!r->title || !r->severity || !r->category || !r->mitre) {
		vg_sb_printf(errors, "%s:1:1: a rule needs title, severity, category and mitre\n",
			     path);
		return -EINVAL;
	}
	if (strcmp(r->severity, "Informational") && strcmp(r->severity, "Low") &&
	    strcmp(r->severity, "Medium") && strcmp(r->severity, "High")) {
		vg_sb_printf(errors,
			     "%s: severity '%s' is not Informational, Low, Medium or High\n", path,
			     r->severity);
		return -EINVAL;
	}
	if (!vg_valid_technique(r->mitre)) {
		vg_sb_printf(errors,
			     "%s: mitre '%s' is not an ATT&CK technique id such as T1059"
			     " or T1059.004\n",
			     path, r->mitre);
		return -EINVAL;
	}
	return 0;
}

static int vg_col_index(const struct vg_kql_query *q, const char *name)
{
	for (int i = 0; i < q->ncols; i++)
		if (!strcmp(q->cols[i], name))
			return i;
	return -1;
}

/*
 * Translate and prepare a rule's query. -EAGAIN when its table is not in
 * the store yet; -EINVAL with the reason in errors.
 */
static int vg_rule_compile(struct vg_detect *d, struct vg_rule *r, struct vg_sb *errors)
{
	struct vg_kql_query q;
	struct vg_kql_error e;
	int err, rc;

	err = vg_kql_translate(d->db, r->query, VG_KQL_BOUNDED, &q, &e);
	if (err == -EINVAL && !strncmp(e.msg, "unknown table", 13)) {
		if (!r->logged_wait)
			vg_log(VG_INFO, "rule %s waits for a table: %s", r->id, e.msg);
		r->logged_wait = 1;
		r->waiting = 1;
		return -EAGAIN;
	}
	if (err == -EINVAL) {
		char prefix[300];

		snprintf(prefix, sizeof(prefix), "%s:", r->path);
		vg_kql_error_format(errors, prefix, r->query, r->query_line, &e);
		return err;
	}
	if (err)
		return err;
	if (vg_col_index(&q, "_rid") != 0 || vg_col_index(&q, "DeviceId") < 0) {
		vg_sb_printf(errors,
			     "%s: the query must return the events of its table"
			     " (where and extend only: no project, summarize or count)\n",
			     r->path);
		vg_kql_query_free(&q);
		return -EINVAL;
	}
	for (int i = 0; i < r->ngroup; i++) {
		r->group_idx[i] = vg_col_index(&q, r->group[i]);
		if (r->group_idx[i] < 0) {
			vg_sb_printf(errors,
				     "%s: group column '%s' is not a column of the result\n",
				     r->path, r->group[i]);
			vg_kql_query_free(&q);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < VG_NEV; i++)
		r->ev_idx[i] = vg_col_index(&q, vg_ev_cols[i]);
	for (int i = 0; i < 4; i++)
		r->tree_idx[i] = vg_col_index(&q, vg_tree_cols[i]);
	r->fallback_cmd = vg_col_index(&q, "InitiatingProcessCommandLine");
	rc = sqlite3_prepare_v3(d->db, q.sql, -1, SQLITE_PREPARE_PERSISTENT, &r->st, NULL);
	if (rc != SQLITE_OK) {
		vg_sb_printf(errors, "%s: the store refused the translated query: %s\n", r->path,
			     sqlite3_errmsg(d->db));
		vg_kql_query_free(&q);
		return -EINVAL;
	}
	r->table = q.source;
	q.source = NULL;
	r->waiting = 0;
	if (r->logged_wait)
		vg_log(VG_INFO, "rule %s: table %s is here, rule active", r->id, r->table);
	vg_kql_query_free(&q);
	return 0;
}

static int vg_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *vg_read_file(const char *path, struct vg_sb *errors)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		vg_sb_printf(errors, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(VG_RULE_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, VG_RULE_MAX_BYTES + 1, f);
	fclose(f);
	if (n > VG_RULE_MAX_BYTES) {
		vg_sb_printf(errors, "%s: larger than %d bytes\n", path, VG_RULE_MAX_BYTES);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	if (strlen(buf) != n) {
		vg_sb_printf(errors, "%s: holds a NUL byte\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static int vg_detect_prepare(struct vg_detect *d)
{
	static const char *const sql[] = {
		"INSERT INTO AlertInfo (Timestamp, Title, Category, Severity, DetectionSource,"
		" AttackTechniques, RuleId, DeviceId, DeviceName, Description, GroupKey, AlertKey,"
		" EvidenceCount, FirstActivity, LastActivity)"
		" VALUES (?, ?, ?, ?, 'vigil', ?, ?, ?, ?, ?, ?, ?, 1, ?12, ?12)",
		/* the group's latest alert */
		"SELECT AlertId, FirstActivity FROM AlertInfo WHERE AlertKey = ?"
		" ORDER BY rowid DESC LIMIT 1",
		"UPDATE AlertInfo SET EvidenceCount = EvidenceCount + 1,"
		" FirstActivity = min(FirstActivity, ?2), LastActivity = max(LastActivity, ?2)"
		" WHERE AlertId = ?1",
		"SELECT 1 FROM AlertEvidence e JOIN AlertInfo a USING (AlertId)"
		" WHERE e.SourceTable = ? AND e.SourceRowId = ? AND a.RuleId = ?",
		"INSERT INTO AlertEvidence (AlertId, Title, Categories, AttackTechniques,"
		" DetectionSource, EntityType, EvidenceRole, SourceTable, SourceRowId, Timestamp,"
		" DeviceId, DeviceName, ActionType, FileName, FolderPath, ProcessId,"
		" ProcessCommandLine, AccountName, RemoteIP, RemotePort, ReportId)"
		" VALUES (?, ?, ?, ?, 'vigil', ?, 'Impacted', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		" ?, ?)",
		"SELECT LastRowId FROM DetectionState WHERE TableName = ?",
		"INSERT INTO DetectionState (TableName, LastRowId) VALUES (?, ?)"
		" ON CONFLICT (TableName) DO UPDATE SET LastRowId = excluded.LastRowId",
	};
	sqlite3_stmt **st[] = { &d->ins_alert, &d->find_alert, &d->upd_alert, &d->has_ev,
				&d->ins_ev,    &d->get_wm,     &d->set_wm };

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		int rc = sqlite3_prepare_v3(d->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, st[i],
					    NULL);
		if (rc != SQLITE_OK) {
			vg_log(VG_ERROR, "detect: prepare: %s", sqlite3_errmsg(d->db));
			return vg_sqlite_errno(rc) ?: -EIO;
		}
	}
	return 0;
}

int vg_detect_open(struct vg_detect **out, sqlite3 *db, const char *dir, struct vg_sb *errors)
{
	struct vg_detect *d;
	char **names = NULL;
	int nnames = 0, err;
	struct dirent *de;
	DIR *dh;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->db = db;
	err = vg_kql_register(db);
	if (!err)
		err = vg_alerts_schema(db);
	if (!err)
		err = vg_detect_prepare(d);
	if (err)
		goto err_free;
	dh = opendir(dir);
	if (!dh) {
		err = -errno;
		vg_sb_printf(errors, "%s: %s\n", dir, strerror(errno));
		goto err_free;
	}
	while ((de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		char **nn;

		if (l < 6 || strcmp(de->d_name + l - 5, ".rule") || de->d_name[0] == '.')
			continue;
		nn = realloc(names, (size_t)(nnames + 1) * sizeof(*nn));
		if (!nn || !(nn[nnames] = strdup(de->d_name))) {
			names = nn ? nn : names;
			closedir(dh);
			err = -ENOMEM;
			goto err_names;
		}
		names = nn;
		nnames++;
	}
	closedir(dh);
	qsort(names, (size_t)nnames, sizeof(*names), vg_cmp_names);
	d->rules = calloc((size_t)nnames + 1, sizeof(*d->rules));
	if (!d->rules) {
		err = -ENOMEM;
		goto err_names;
	}
	for (int i = 0; i < nnames; i++) {
		struct vg_rule *r = &d->rules[d->nrules];
		char *text;

		r->path = malloc(strlen(dir) + strlen(names[i]) + 2);
		if (!r->path) {
			err = -ENOMEM;
			goto err_names;
		}
		sprintf(r->path, "%s/%s", dir, names[i]);
		r->id = strndup(names[i], strlen(names[i]) - 5);
		d->nrules++;
		text = vg_read_file(r->path, errors);
		if (!text) {
			err = -EINVAL;
			goto err_names;
		}
		err = vg_rule_parse(r, r->path, text, errors);
		free(text);
		if (!err) {
			err = vg_rule_compile(d, r, errors);
			if (err == -EAGAIN)
				err = 0;
		}
		if (err)
			goto err_names;
	}
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	*out = d;
	return 0;

err_names:
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
err_free:
	vg_detect_close(d);
	return err;
}

void vg_detect_close(struct vg_detect *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nrules; i++)
		vg_rule_free(&d->rules[i]);
	free(d->rules);
	sqlite3_finalize(d->ins_alert);
	sqlite3_finalize(d->find_alert);
	sqlite3_finalize(d->upd_alert);
	sqlite3_finalize(d->has_ev);
	sqlite3_finalize(d->ins_ev);
	sqlite3_finalize(d->get_wm);
	sqlite3_finalize(d->set_wm);
	free(d);
}

int vg_detect_nrules(const struct vg_detect *d, int *waiting)
{
	int w = 0;

	for (int i = 0; i < d->nrules; i++)
		w += d->rules[i].waiting;
	if (waiting)
		*waiting = w;
	return d->nrules;
}

static const char *vg_entity_type(const char *table)
{
	if (!strcmp(table, "DeviceProcessEvents"))
		return "Process";
	if (!strcmp(table, "DeviceFileEvents"))
		return "File";
	if (!strcmp(table, "DeviceNetworkEvents"))
		return "Ip";
	return "Event";
}

static int vg_step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void vg_bind_col(sqlite3_stmt *dst, int i, sqlite3_stmt *src, int col)
{
	if (col < 0)
		sqlite3_bind_null(dst, i);
	else
		sqlite3_bind_value(dst, i, sqlite3_column_value(src, col));
}

/* "2026-11-29T17:23:17.123Z" as Unix epoch ms; -1 when it is not that */
static int64_t vg_iso_ms(const char *t)
{
	int y, mo, d, h, mi, sec, ms = 0, n = 0;
	int64_t days;

	if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	if (t[n] == '.' && isdigit((unsigned char)t[n + 1]))
		ms = (int)strtol(t + n + 1, NULL, 10) % 1000;
	/* days from civil (proleptic Gregorian), H. Hinnant's algorithm */
	y -= mo <= 2;
	{
		int era = (y >= 0 ? y : y - 399) / 400;
		int yoe = y - era * 400;
		int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = (int64_t)era * 146097 + doe - 719468;
	}
	return ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
}

/* The process tree of the current row of r (vg_tree_cols) into key; 0 when it has none. */
static int vg_tree_key(const struct vg_rule *r, struct vg_sb *key)
{
	sqlite3_stmt *q = r->st;
	const char *f, *pf;

	if (r->tree_idx[0] < 0 || sqlite3_column_type(q, r->tree_idx[0]) == SQLITE_NULL)
		return 0;
	f = r->tree_idx[2] < 0 ? NULL : (const char *)sqlite3_column_text(q, r->tree_idx[2]);
	pf = r->tree_idx[3] < 0 ? NULL : (const char *)sqlite3_column_text(q, r->tree_idx[3]);
	if (f && pf && !strcmp(f, pf) && r->tree_idx[1] >= 0 &&
	    sqlite3_column_type(q, r->tree_idx[1]) != SQLITE_NULL)
		vg_sb_printf(key, "\x1ftree:%lld",
			     (long long)sqlite3_column_int64(q, r->tree_idx[1]));
	else
		vg_sb_printf(key, "\x1ftree:%lld",
			     (long long)sqlite3_column_int64(q, r->tree_idx[0]));
	return 1;
}

/* Open a new alert of r for the current row: its id into *alert_id. */
static int vg_alert_open(struct vg_detect *d, struct vg_rule *r, const char *now, const char *key,
			 const char *ts, char **alert_id)
{
	sqlite3_stmt *q = r->st, *st = d->ins_alert;
	int dev = r->ev_idx[1], name = r->ev_idx[2];
	sqlite3_int64 rid;
	char *gk, *upd;
	int rc;

	/* unique per window: the group's key and when its first event happened */
	if (asprintf(&gk, "%s\x1d%s", key, ts) < 0)
		return SQLITE_NOMEM;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->mitre, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->id, -1, SQLITE_STATIC);
	vg_bind_col(st, 7, q, dev);
	vg_bind_col(st, 8, q, name);
	if (r->description)
		sqlite3_bind_text(st, 9, r->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, gk, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, ts, -1, SQLITE_TRANSIENT);
	free(gk);
	rc = vg_step_reset(st);
	if (rc != SQLITE_OK)
		return rc;
	rid = sqlite3_last_insert_rowid(d->db);
	if (asprintf(alert_id, "vg%08lld", (long long)rid) < 0)
		return SQLITE_NOMEM;
	if (asprintf(&upd, "UPDATE AlertInfo SET AlertId = '%s' WHERE rowid = %lld", *alert_id,
		     (long long)rid) < 0)
		return SQLITE_NOMEM;
	rc = sqlite3_exec(d->db, upd, NULL, NULL, NULL);
	free(upd);
	if (rc == SQLITE_OK)
		vg_log(VG_INFO, "alert %s: %s (%s, %s) on %s", *alert_id, r->title, r->severity,
		       r->mitre, (const char *)sqlite3_column_text(q, dev) ?: "?");
	return rc;
}

/*
 * One result row of r: find its alert (same rule, device and process tree,
 * or group columns, within the rule's window) or open one, add the
 * evidence row.
 */
static int vg_detect_row(struct vg_detect *d, struct vg_rule *r, const char *now, int *new_alerts)
{
	sqlite3_stmt *q = r->st, *st;
	int dev = r->ev_idx[1], tcol = r->ev_idx[0];
	const char *ts = tcol >= 0 ? (const char *)sqlite3_column_text(q, tcol) : NULL;
	int64_t ts_ms = vg_iso_ms(ts);
	struct vg_sb key;
	char *alert_id = NULL;
	int rc;

	if (ts_ms < 0)
		ts = now, ts_ms = vg_iso_ms(now);
	if (r->lookback_ms) {
		/* a row seen by an earlier run may be evidence already */
		st = d->has_ev;
		sqlite3_bind_text(st, 1, r->table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, sqlite3_column_int64(q, 0));
		sqlite3_bind_text(st, 3, r->id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc == SQLITE_ROW)
			return SQLITE_OK;
		if (rc != SQLITE_DONE)
			return rc;
	}

	vg_sb_init(&key);
	vg_sb_printf(&key, "%s\x1f%s", r->id, (const char *)sqlite3_column_text(q, dev) ?: "");
	if (r->ngroup) {
		for (int i = 0; i < r->ngroup; i++)
			vg_sb_printf(&key, "\x1f%s",
				     (const char *)sqlite3_column_text(q, r->group_idx[i]) ?: "");
	} else if (!vg_tree_key(r, &key)) {
		vg_sb_printf(&key, "\x1f%s:%lld", r->table, (long long)sqlite3_column_int64(q, 0));
	}
	if (vg_sb_err(&key))
		return SQLITE_NOMEM;

	st = d->find_alert;
	sqlite3_bind_text(st, 1, vg_sb_str(&key), -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t first = vg_iso_ms((const char *)sqlite3_column_text(st, 1));

		/* the alert's window is [first, first + window): a later event opens another */
		if (first >= 0 && ts_ms < first + r->window_ms && ts_ms > first - r->window_ms)
			alert_id = strdup((const char *)sqlite3_column_text(st, 0) ?: "");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (alert_id) {
		st = d->upd_alert;
		sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
		rc = vg_step_reset(st);
	} else {
		rc = vg_alert_open(d, r, now, vg_sb_str(&key), ts, &alert_id);
		*new_alerts += rc == SQLITE_OK;
	}
	vg_sb_free(&key);
	if (rc == SQLITE_OK && !alert_id)
		rc = SQLITE_NOMEM;
	if (rc != SQLITE_OK) {
		free(alert_id);
		return rc;
	}

	st = d->ins_ev;
	sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->mitre, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, vg_entity_type(r->table), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->table, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, sqlite3_column_int64(q, 0));
	for (size_t i = 0; i < VG_NEV; i++) {
		int col = r->ev_idx[i];

		/* A file or network event names the process by its initiating command line. */
		if (!strcmp(vg_ev_cols[i], "ProcessCommandLine") && col < 0)
			col = r->fallback_cmd;
		vg_bind_col(st, 8 + (int)i, q, col);
	}
	free(alert_id);
	return vg_step_reset(st);
}

static int64_t vg_query_i64(sqlite3 *db, sqlite3_stmt *st, const char *bind, int *rc)
{
	int64_t v = 0;

	if (bind)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT);
	*rc = sqlite3_step(st);
	if (*rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	*rc = *rc == SQLITE_ROW || *rc == SQLITE_DONE ? SQLITE_OK : *rc;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return v;
}

/* Where r reads table from: after lo, or from the first row of its lookback span. */
static int vg_lookback(struct vg_detect *d, const struct vg_rule *r, const char *table, int64_t lo,
		       int64_t *from)
{
	char since[VG_ISO_LEN], *sql;
	sqlite3_stmt *st;
	int rc;

	*from = lo;
	vg_iso_time(since, vg_now_ns() - (uint64_t)r->lookback_ms * 1000000);
	sql = sqlite3_mprintf("SELECT min(rowid) - 1 FROM \"%w\" WHERE Timestamp >= ?", table);
	if (!sql)
		return SQLITE_NOMEM;
	rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, since, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    sqlite3_column_int64(st, 0) < lo)
		*from = sqlite3_column_int64(st, 0);
	return sqlite3_finalize(st);
}

int vg_detect_run(struct vg_detect *d)
{
	char now[VG_ISO_LEN];
	int new_alerts = 0, rc = SQLITE_OK, err = 0;
	char **done = NULL;
	int ndone = 0;

	vg_iso_time(now, vg_now_ns());
	for (int i = 0; i < d->nrules; i++) {
		if (d->rules[i].waiting) {
			struct vg_sb errors;

			vg_sb_init(&errors);
			err = vg_rule_compile(d, &d->rules[i], &errors);
			if (err && err != -EAGAIN)
				vg_log_lines(VG_ERROR, vg_sb_str(&errors) ?: "rule error");
			vg_sb_free(&errors);
			if (err) {
				/* A table with other columns than the rule expects. */
				d->rules[i].waiting = err == -EAGAIN;
				err = 0;
			}
		}
	}
	rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out;
	/* Per table: the rows since its watermark, for every rule reading it. */
	for (int i = 0; i < d->nrules && rc == SQLITE_OK; i++) {
		const char *table = d->rules[i].table;
		int64_t lo, hi, rlo;
		sqlite3_stmt *mx;
		char **nd;
		int seen = 0;

		if (!d->rules[i].st)
			continue;
		for (int j = 0; j < ndone; j++)
			seen |= !strcmp(done[j], table);
		if (seen)
			continue;
		nd = realloc(done, (size_t)(ndone + 1) * sizeof(*nd));
		if (!nd) {
			rc = SQLITE_NOMEM;
			break;
		}
		done = nd;
		done[ndone++] = (char *)table;

		lo = vg_query_i64(d->db, d->get_wm, table, &rc);
		if (rc != SQLITE_OK)
			break;
		{
			struct vg_sb sql;

			vg_sb_init(&sql);
			vg_sb_printf(&sql, "SELECT max(rowid) FROM \"%s\"", table);
			rc = sqlite3_prepare_v2(d->db, vg_sb_str(&sql) ?: "", -1, &mx, NULL);
			vg_sb_free(&sql);
			if (rc != SQLITE_OK)
				break;
			hi = vg_query_i64(d->db, mx, NULL, &rc);
			sqlite3_finalize(mx);
			if (rc != SQLITE_OK)
				break;
		}
		if (hi <= lo)
			continue;
		for (int j = i; j < d->nrules && rc == SQLITE_OK; j++) {
			struct vg_rule *r = &d->rules[j];

			if (!r->st || strcmp(r->table, table))
				continue;
			/*
			 * A lookback rule reads its span only when a new row matches:
			 * no new row is evidence, no older one became evidence either
			 * (and a batch with no row for its filters costs no window scan).
			 */
			rlo = lo;
			if (r->lookback_ms) {
				sqlite3_bind_int64(r->st, 1, lo);
				sqlite3_bind_int64(r->st, 2, hi);
				rc = sqlite3_step(r->st);
				sqlite3_reset(r->st);
				if (rc == SQLITE_ROW)
					rc = vg_lookback(d, r, table, lo, &rlo);
				else if (rc == SQLITE_DONE)
					rlo = hi; /* nothing to read */
				if (rc != SQLITE_OK && rc != SQLITE_DONE)
					break;
				rc = SQLITE_OK;
			}
			sqlite3_bind_int64(r->st, 1, rlo);
			sqlite3_bind_int64(r->st, 2, hi);
			while (rlo < hi && (rc = sqlite3_step(r->st)) == SQLITE_ROW) {
				rc = vg_detect_row(d, r, now, &new_alerts);
				if (rc != SQLITE_OK)
					break;
			}
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
			else if (rc != SQLITE_OK)
				vg_log(VG_ERROR, "rule %s: %s", r->id, sqlite3_errmsg(d->db));
			sqlite3_reset(r->st);
		}
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_text(d->set_wm, 1, table, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(d->set_wm, 2, hi);
		rc = vg_step_reset(d->set_wm);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "detect: %s", sqlite3_errmsg(d->db));
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	}
out:
	free(done);
	if (rc != SQLITE_OK)
		err = vg_sqlite_errno(rc) ?: -EIO;
	return err ? err : new_alerts;
}
