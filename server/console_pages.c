// SPDX-License-Identifier: GPL-2.0-only
/*
 * The console's pages (console.c serves them): Devices (`vigil devices`'
 * KQL query through the hunting translator, filtered here), a device's
 * timeline (the four event tables newest first, keyset-paged on Timestamp
 * and ReportId, never OFFSET), an event with all its columns, the process
 * tree around an event, Alerts with their evidence, and Hunting (the
 * translator of `vigil hunt --pg`). Every value shown goes through
 * vg_html(); every value a query takes is a parameter, never SQL text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"
#include "console_queries.h"
#include "hunt.h"

#define VG_TIMELINE_PAGE 50
#define VG_HUNT_ROWS 1000
#define VG_HUNT_HTML_MAX (4u << 20)
#define VG_HUNT_EXPORT_MAX (64u << 20)

/* ---- the inventory: vigil devices' rows */

enum { D_ID, D_NAME, D_OS, D_DISTRO, D_OSVER, D_TAGS, D_HOST, D_VER, D_HEALTH, D_SEEN, D_EVENTS,
       D_DROPPED, D_NCOLS };

struct vg_inv {
	char *text;
	char *(*row)[D_NCOLS];
	int n;
};

static void vg_inv_free(struct vg_inv *v)
{
	free(v->text);
	free(v->row);
}

/* The inventory, or -errno with the page's error set. */
static int vg_inv_read(struct vg_page *p, struct vg_inv *v)
{
	char *err = NULL, *line, *save = NULL;
	int cut, first = 1;
	long n;

	memset(v, 0, sizeof(*v));
	n = vg_console_kql(vg_devices_kql, VG_HUNT_CSV, 64u << 20, &v->text, &err, &cut);
	free(err);
	if (n < 0 || cut) {
		vg_page_error(p, 503, cut ? "the inventory is over 64 MiB" :
					    "the database could not answer (see the server's log)");
		return n < 0 ? (int)n : -EFBIG;
	}
	v->row = calloc((size_t)n + 1, sizeof(*v->row));
	if (!v->row) {
		vg_page_error(p, 500, "out of memory");
		return -ENOMEM;
	}
	for (line = strtok_r(v->text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *f[VG_CSV_MAX];

		if (first) {
			first = 0;
			continue;
		}
		if (v->n <= n && vg_csv_split(line, f, VG_CSV_MAX) == D_NCOLS)
			memcpy(v->row[v->n++], f, sizeof(f[0]) * D_NCOLS);
	}
	return 0;
}

static void vg_dev_link(struct vg_sb *b, const char *id)
{
	vg_link(b, "dev", id, "/console/device", "id", id, (char *)NULL);
}

/* The WSL instances whose host is id, as links; "" when none. */
static void vg_instances(struct vg_sb *b, const struct vg_inv *v, const char *id)
{
	int k = 0;

	for (int i = 0; i < v->n; i++) {
		if (strcmp(v->row[i][D_HOST], id))
			continue;
		vg_sb_add(b, k++ ? ", " : "");
		vg_link(b, "wsl", v->row[i][D_ID], "/console/device", "id", v->row[i][D_ID],
			(char *)NULL);
	}
}

static void vg_input(struct vg_sb *b, const char *label, const char *name, const char *val)
{
	vg_sb_printf(b, "<label>%s <input name=\"%s\" id=\"f-%s\" value=\"", label, name, name);
	vg_html(b, val);
	vg_sb_add(b, "\"></label>");
}

void vg_page_devices(struct MHD_Connection *c, struct vg_page *p)
{
	static const char *const healths[] = { "", "active", "dropping", "inactive", "no data" };
	const char *tag = vg_arg(c, "tag"), *health = vg_arg(c, "health"), *name = vg_arg(c, "name");
	struct vg_inv v;
	struct vg_sb *b = &p->b;
	int shown = 0;

	if (vg_inv_read(p, &v))
		return;
	vg_page_head(p, "Devices", "devices");
	vg_sb_add(b, "<form class=\"filter\" method=\"get\">");
	vg_input(b, "Tag", "tag", tag);
	vg_sb_add(b, "<label>Health <select name=\"health\" id=\"f-health\">");
	for (size_t i = 0; i < sizeof(healths) / sizeof(healths[0]); i++) {
		vg_sb_printf(b, "<option value=\"%s\"%s>%s</option>", healths[i],
			     !strcmp(health, healths[i]) ? " selected" : "",
			     *healths[i] ? healths[i] : "any");
	}
	vg_sb_add(b, "</select></label>");
	vg_input(b, "Name", "name", name);
	vg_sb_add(b, "<button id=\"f-go\">Filter</button></form>\n"
		     "<table id=\"devices\"><thead><tr><th>Name</th><th>Device</th><th>OS</th>"
		     "<th>Tags</th><th>Host</th><th>WSL instances</th><th>Sensor</th>"
		     "<th>Health</th><th>Last seen</th><th>Events</th><th>Drops</th></tr></thead>"
		     "<tbody>\n");
	for (int i = 0; i < v.n; i++) {
		char *(*r) = v.row[i];
		char want[80];

		snprintf(want, sizeof(want), "\"%s\"", tag);
		if (*tag && !strcasestr(r[D_TAGS], want))
			continue;
		if (*health && strcmp(r[D_HEALTH], health))
			continue;
		if (*name && !strcasestr(r[D_NAME], name) && !strcasestr(r[D_ID], name))
			continue;
		shown++;
		/* the inventory's CSV is escaped text already (hunt.c) */
		vg_htmlf(b, "<tr class=\"device\" data-id=\"%t\"><td>%t</td><td>", r[D_ID],
			 r[D_NAME]);
		vg_dev_link(b, r[D_ID]);
		vg_htmlf(b, "</td><td>%t %t %t</td><td class=\"tags\">%t</td><td>", r[D_OS],
			 r[D_DISTRO], r[D_OSVER], r[D_TAGS]);
		if (*r[D_HOST])
			vg_link(b, "host", r[D_HOST], "/console/device", "id", r[D_HOST],
				(char *)NULL);
		vg_sb_add(b, "</td><td>");
		vg_instances(b, &v, r[D_ID]);
		vg_htmlf(b,
			 "</td><td>%t</td><td class=\"health h-%t\">%t</td><td>%t</td>"
			 "<td class=\"num\">%t</td><td class=\"num\">%t</td></tr>\n",
			 r[D_VER], strchr(r[D_HEALTH], ' ') ? "none" : r[D_HEALTH], r[D_HEALTH],
			 r[D_SEEN], r[D_EVENTS], r[D_DROPPED]);
	}
	vg_sb_printf(b, "</tbody></table><p class=\"count\" id=\"count\">%d of %d devices</p>",
		     shown, v.n);
	vg_page_tail(p);
	vg_inv_free(&v);
}

/* ---- a device */

/*
 * The text filter's LIKE pattern for $4 (its %, _ and \ taken literally), and
 * the command line as the trigram index of schema step 2 has it, so a
 * search of a million rows reads that index, not the rows.
 */
#define VG_LIKE_Q                                                                      \
	"'%' || replace(replace(replace(lower($4), '\\', '\\\\'), '%', '\\%'), '_', '\\_')" \
	" || '%'"
#define VG_CMDLINE_TRGM "lower(coalesce(CAST(\"ProcessCommandLine\" AS text), ''))"

/*
 * The event tables: what the timeline shows of each and what its text
 * filter matches, each through an index: a command line holding the text,
 * or a file name or remote address that is the text.
 */
static const struct {
	const char *table, *type, *detail, *match;
} vg_tables[] = {
	{ "DeviceProcessEvents", "process",
	  "concat_ws(' ', \"FolderPath\", '|', \"ProcessCommandLine\")",
	  VG_CMDLINE_TRGM " LIKE " VG_LIKE_Q " OR \"FileName\" = $4" },
	{ "DeviceFileEvents", "file", "concat_ws(' ', \"FolderPath\", \"PreviousFolderPath\")",
	  "\"FileName\" = $4" },
	{ "DeviceNetworkEvents", "network",
	  "concat_ws(' ', \"Protocol\", \"LocalIP\" || ':' || \"LocalPort\", '->',"
	  " \"RemoteIP\" || ':' || \"RemotePort\")",
	  "\"RemoteIP\" = $4" },
	{ "DeviceEvents", "other", "concat_ws(' ', \"FolderPath\", \"AdditionalFields\")",
	  "\"FileName\" = $4" },
};
#define VG_NTABLES (sizeof(vg_tables) / sizeof(vg_tables[0]))

static int vg_table_ok(const char *t)
{
	for (size_t i = 0; i < VG_NTABLES; i++)
		if (!strcmp(t, vg_tables[i].table))
			return 1;
	return 0;
}

/*
 * One page of the timeline: each chosen table's newest rows under the bound
 * (an index range scan of DeviceId, Timestamp), merged, then every column of
 * each as key/value rows in the table's column order. $1 device, $2 bound
 * time ('' none), $3 bound ReportId, $4 text, $5 1: the bound itself is in.
 */
static void vg_timeline_sql(struct vg_sb *s, const char *type)
{
	int k = 0;

	vg_sb_add(s, "WITH p AS (SELECT * FROM (");
	for (size_t i = 0; i < VG_NTABLES; i++) {
		if (*type && strcmp(type, vg_tables[i].type))
			continue;
		vg_sb_printf(s,
			     "%s(SELECT '%s' AS tb, \"Timestamp\" AS ts, \"ReportId\" AS rid,"
			     " \"ActionType\" AS act, %s AS detail,"
			     " \"InitiatingProcessFileName\" AS ipf, %s AS pid, to_json(t) AS j"
			     " FROM \"%s\" t WHERE \"DeviceId\" = $1 AND ($2 = '' OR"
			     " (\"Timestamp\", \"ReportId\") < (NULLIF($2, '')::timestamptz, $3::bigint) OR"
			     " ($5 = '1' AND \"Timestamp\" = NULLIF($2, '')::timestamptz AND \"ReportId\" = $3::bigint))"
			     " AND ($4 = '' OR %s)"
			     " ORDER BY \"Timestamp\" DESC, \"ReportId\" DESC LIMIT %d)",
			     k++ ? " UNION ALL " : "", vg_tables[i].table, vg_tables[i].detail,
			     i ? "\"InitiatingProcessId\"" : "\"ProcessId\"", vg_tables[i].table,
			     vg_tables[i].match, VG_TIMELINE_PAGE + 1);
	}
	vg_sb_printf(s, ") u ORDER BY ts DESC, rid DESC LIMIT %d)"
			" SELECT tb, ts, rid, act, detail, ipf, pid, e.key, e.value"
			" FROM p CROSS JOIN LATERAL json_each_text(p.j) WITH ORDINALITY e"
			" ORDER BY ts DESC, rid DESC, tb, e.ordinality",
		     VG_TIMELINE_PAGE + 1);
}

static void vg_device_head(struct vg_page *p, const char *id)
{
	struct vg_sb *b = &p->b;
	struct vg_inv v;

	vg_page_head(p, id, "devices");
	vg_sb_add(b, "<dl class=\"info\" id=\"info\">");
	if (!vg_inv_read(p, &v)) {
		for (int i = 0; i < v.n; i++) {
			char *(*r) = v.row[i];

			if (strcmp(r[D_ID], id))
				continue;
			vg_htmlf(b,
				 "<dt>Name</dt><dd>%t</dd><dt>OS</dt><dd>%t %t %t</dd><dt>Tags</dt>"
				 "<dd>%t</dd><dt>Sensor</dt><dd>%t</dd><dt>Health</dt><dd>%t</dd>"
				 "<dt>Last seen</dt><dd>%t</dd>",
				 r[D_NAME], r[D_OS], r[D_DISTRO], r[D_OSVER], r[D_TAGS], r[D_VER],
				 r[D_HEALTH], r[D_SEEN]);
			if (*r[D_HOST]) {
				vg_sb_add(b, "<dt>Windows host</dt><dd id=\"host\">");
				vg_dev_link(b, r[D_HOST]);
				vg_sb_add(b, "</dd>");
			}
			vg_sb_add(b, "<dt>WSL instances</dt><dd id=\"instances\">");
			vg_instances(b, &v, id);
			vg_sb_add(b, "</dd>");
		}
		vg_inv_free(&v);
	}
	vg_sb_add(b, "</dl>\n");
}

static void vg_accounting(struct vg_page *p, const char *id)
{
	static const char sql[] =
		"SELECT \"EventClass\", \"Seen\", \"Emitted\", \"Filtered\", \"Deduplicated\","
		" \"RateLimited\", \"RingbufFull\", \"EventsLost\", \"Timestamp\""
		" FROM \"SensorCounters\" WHERE \"DeviceId\" = $1 ORDER BY 1";
	PGresult *r = vg_console_q(p, sql, 1, &id);
	struct vg_sb *b = &p->b;

	if (!r)
		return;
	vg_sb_add(b, "<h2>Sensor accounting</h2><table id=\"accounting\"><thead><tr>"
		     "<th>Class</th><th>Seen</th><th>Emitted</th><th>Filtered</th>"
		     "<th>Deduplicated</th><th>Rate-limited</th><th>Ring full</th><th>Lost</th>"
		     "<th>As of</th></tr></thead><tbody>");
	for (int i = 0; i < PQntuples(r); i++) {
		vg_sb_add(b, "<tr>");
		for (int j = 0; j < PQnfields(r); j++) {
			vg_sb_add(b, j && j < 8 ? "<td class=\"num\">" : "<td>");
			vg_html(b, PQgetvalue(r, i, j));
			vg_sb_add(b, "</td>");
		}
		vg_sb_add(b, "</tr>");
	}
	vg_sb_add(b, "</tbody></table>\n");
	PQclear(r);
}

/*
 * The hits of the filter rules the device's sensors ran (SensorFilterHits:
 * each run's highest, added up), each rule by its set's Signature and index
 * in FilterSetRules: of the set of the device's group with that Signature
 * when there is one, else the newest version of any group's. A Signature no
 * set of the server has (the host's own --filters) is shown as such, with
 * its hits: nothing reported is left off.
 */
static void vg_filter_hits(struct vg_page *p, const char *id)
{
	static const char sql[] =
		"WITH h AS (SELECT \"Signature\", \"RuleIndex\", sum(\"Hits\") AS n,"
		" max(\"Timestamp\") AS t FROM \"SensorFilterHits\" WHERE \"DeviceId\" = $1"
		" GROUP BY 1, 2),"
		" s AS (SELECT DISTINCT ON (\"Signature\") \"Signature\", \"MachineGroup\","
		" \"Version\" FROM \"FilterSets\" WHERE \"Signature\" IN (SELECT \"Signature\""
		" FROM h) ORDER BY \"Signature\", \"MachineGroup\" = coalesce((SELECT"
		" \"MachineGroup\" FROM \"DeviceGroups\" WHERE \"DeviceId\" = $1), 'default')"
		" DESC, \"Version\" DESC)"
		" SELECT s.\"MachineGroup\", s.\"Version\", h.\"Signature\", h.\"RuleIndex\","
		" r.\"Line\", r.\"Action\", r.\"Rule\", h.n, h.t FROM h LEFT JOIN s USING"
		" (\"Signature\") LEFT JOIN \"FilterSetRules\" r ON r.\"MachineGroup\" ="
		" s.\"MachineGroup\" AND r.\"Version\" = s.\"Version\" AND r.\"RuleIndex\" ="
		" h.\"RuleIndex\" ORDER BY s.\"MachineGroup\" NULLS LAST, s.\"Version\" DESC,"
		" h.\"Signature\", h.\"RuleIndex\"";
	PGresult *r = vg_console_q(p, sql, 1, &id);
	struct vg_sb *b = &p->b;

	if (!r)
		return;
	vg_sb_add(b, "<h2>Filter rules</h2><table id=\"filter-hits\"><thead><tr>"
		     "<th>Set</th><th>Rule</th><th>Line</th><th>Action</th><th>Filter rule</th>"
		     "<th>Hits</th><th>As of</th></tr></thead><tbody>");
	for (int i = 0; i < PQntuples(r); i++) {
		int known = !PQgetisnull(r, i, 0), ruled = !PQgetisnull(r, i, 6);

		vg_sb_add(b, "<tr><td class=\"set\">");
		if (known)
			vg_htmlf(b, "%s version %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		else
			vg_htmlf(b, "not from the server (signature %s)", PQgetvalue(r, i, 2));
		vg_htmlf(b,
			 "</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
			 "<td class=\"action\">%s</td><td class=\"rule\"><code>%s</code></td>"
			 "<td class=\"num hits\">%s</td><td>%s</td></tr>",
			 PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
			 ruled ? PQgetvalue(r, i, 6) : "", PQgetvalue(r, i, 7), PQgetvalue(r, i, 8));
	}
	vg_sb_printf(b, "</tbody></table><p class=\"count\" id=\"filter-count\">%d filter rules"
			" reported</p>\n",
		     PQntuples(r));
	PQclear(r);
}

/* Rows i and j of a timeline result are columns of one event. */
static int vg_same_event(const PGresult *r, int i, int j)
{
	for (int k = 0; k < 3; k++)
		if (strcmp(PQgetvalue(r, i, k), PQgetvalue(r, j, k)))
			return 0;
	return 1;
}

void vg_page_device(struct MHD_Connection *c, struct vg_page *p)
{
	static const char *const types[] = { "", "process", "file", "network", "other" };
	const char *id = vg_arg(c, "id"), *type = vg_arg(c, "type"), *q = vg_arg(c, "q");
	const char *before = vg_arg(c, "before"), *rid = vg_arg(c, "rid"), *at = vg_arg(c, "at");
	const char *mark = vg_arg(c, "mark");
	const char *v[5] = { id, *at ? at : before, *rid ? rid : "0", q, *at ? "1" : "0" };
	char lts[64] = "", lrid[32] = "";
	struct vg_sb sql, *b = &p->b;
	PGresult *r;
	int events = 0, more = 0, i, ok = 0;

	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
		ok |= !strcmp(type, types[k]);
	if (!*id || !ok || strlen(q) > 512) {
		vg_page_error(p, 400, "a device id, a type of process, file, network or other"
				      " and a text of at most 512 bytes");
		return;
	}
	vg_sb_init(&sql);
	vg_timeline_sql(&sql, type);
	r = vg_sb_err(&sql) ? NULL : vg_console_q(p, vg_sb_str(&sql), 5, v);
	vg_sb_free(&sql);
	if (!r)
		return;
	vg_device_head(p, id);
	if (p->status != 200) {
		PQclear(r);
		return;
	}
	vg_accounting(p, id);
	vg_filter_hits(p, id);
	vg_sb_add(b, "<h2>Timeline</h2><form class=\"filter\" method=\"get\">"
		     "<input type=\"hidden\" name=\"id\" value=\"");
	vg_html(b, id);
	vg_sb_add(b, "\"><label>Type <select name=\"type\" id=\"f-type\">");
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
		vg_sb_printf(b, "<option value=\"%s\"%s>%s</option>", types[k],
			     !strcmp(type, types[k]) ? " selected" : "", *types[k] ? types[k] : "all");
	vg_sb_add(b, "</select></label>");
	vg_input(b, "Text", "q", q);
	vg_sb_add(b, "<button id=\"f-go\">Filter</button></form>\n<table id=\"timeline\"><thead><tr>"
		     "<th>Time</th><th>Type</th><th>Action</th><th>Process</th><th>Details"
		     " (click for every column)</th><th></th></tr></thead><tbody>\n");
	for (i = 0; i < PQntuples(r); i++) {
		const char *tb = PQgetvalue(r, i, 0), *ts = PQgetvalue(r, i, 1);
		const char *rr = PQgetvalue(r, i, 2);

		if (!i || !vg_same_event(r, i, i - 1)) {
			if (events == VG_TIMELINE_PAGE) {
				more = 1;
				break;
			}
			events++;
			snprintf(lts, sizeof(lts), "%s", ts);
			snprintf(lrid, sizeof(lrid), "%s", rr);
			vg_htmlf(b,
				 "<tr class=\"ev%p\" data-action=\"%s\" id=\"ev-%s\">"
				 "<td class=\"time\">%s</td><td>%s</td><td>%s</td><td>%s</td>"
				 "<td class=\"detail\"><details><summary>%s</summary>"
				 "<table class=\"cols\">",
				 *mark && !strcmp(mark, rr) ? " mark" : "", PQgetvalue(r, i, 3), rr, ts,
				 tb, PQgetvalue(r, i, 3), PQgetvalue(r, i, 5), PQgetvalue(r, i, 4));
		}
		vg_htmlf(b, "<tr><th>%s</th><td>%s</td></tr>", PQgetvalue(r, i, 7),
			 PQgetvalue(r, i, 8));
		if (i + 1 < PQntuples(r) && vg_same_event(r, i, i + 1))
			continue;
		/* the event's last column: its links */
		vg_sb_add(b, "</table></details></td><td class=\"links\">");
		vg_link(b, "event", "event", "/console/event", "id", id, "table", tb, "report", rr,
			"at", ts, (char *)NULL);
		if (*PQgetvalue(r, i, 6)) {
			vg_sb_add(b, " ");
			vg_link(b, "tree", "tree", "/console/tree", "id", id, "pid", PQgetvalue(r, i, 6),
				"at", ts, (char *)NULL);
		}
		vg_sb_add(b, "</td></tr>\n");
	}
	vg_sb_printf(b, "</tbody></table><p class=\"count\" id=\"count\">%d events</p>", events);
	if (more) {
		vg_sb_add(b, "<p class=\"more\">");
		vg_link(b, "next", "Older events", "/console/device", "id", id, "type", type, "q", q,
			"before", lts, "rid", lrid, (char *)NULL);
		vg_sb_add(b, "</p>");
	}
	PQclear(r);
	vg_page_tail(p);
}

/* ---- one event, every column */

void vg_page_event(struct MHD_Connection *c, struct vg_page *p)
{
	const char *id = vg_arg(c, "id"), *table = vg_arg(c, "table"), *rep = vg_arg(c, "report");
	const char *at = vg_arg(c, "at");
	const char *v[3] = { id, rep, at };
	struct vg_sb sql, *b = &p->b;
	PGresult *r;

	if (!*id || !vg_table_ok(table) || !*rep || rep[strspn(rep, "0123456789")]) {
		vg_page_error(p, 400, "a device id, an event table and a report id");
		return;
	}
	vg_sb_init(&sql);
	vg_sb_printf(&sql,
		     "SELECT e.key, e.value FROM (SELECT to_json(t) AS j FROM \"%s\" t"
		     " WHERE \"DeviceId\" = $1 AND \"ReportId\" = $2::bigint"
		     " AND ($3 = '' OR \"Timestamp\" = NULLIF($3, '')::timestamptz) LIMIT 1) s"
		     " CROSS JOIN LATERAL json_each_text(s.j) WITH ORDINALITY e ORDER BY e.ordinality",
		     table);
	r = vg_sb_err(&sql) ? NULL : vg_console_q(p, vg_sb_str(&sql), 3, v);
	vg_sb_free(&sql);
	if (!r)
		return;
	if (!PQntuples(r)) {
		PQclear(r);
		vg_page_error(p, 404, "no such event (its day may be past retention)");
		return;
	}
	vg_page_head(p, "Event", "devices");
	vg_sb_add(b, "<p>");
	vg_link(b, "dev", id, "/console/device", "id", id, (char *)NULL);
	vg_sb_add(b, " &middot; ");
	vg_link(b, "timeline", "in the timeline", "/console/device", "id", id, "at", at, "rid", rep,
		"mark", rep, (char *)NULL);
	vg_sb_add(b, "</p><table class=\"cols\" id=\"event\">");
	for (int i = 0; i < PQntuples(r); i++)
		vg_htmlf(b, "<tr><th>%s</th><td>%s</td></tr>", PQgetvalue(r, i, 0),
			 PQgetvalue(r, i, 1));
	vg_sb_add(b, "</table>");
	PQclear(r);
	vg_page_tail(p);
}

/* ---- the process tree around an event */

#define VG_TREE_UP 16
#define VG_TREE_DOWN 100

static const char vg_tree_cols[] =
	"SELECT \"ProcessId\", \"ProcessParentId\", \"FileName\", \"ProcessCommandLine\","
	" \"Timestamp\", \"ReportId\", \"AccountName\" FROM \"DeviceProcessEvents\""
	" WHERE \"DeviceId\" = $1 AND \"ActionType\" = 'ProcessCreated' AND ";

static void vg_tree_item(struct vg_sb *b, const PGresult *r, int i, const char *id, int self)
{
	vg_htmlf(b, "%p%s <b>%s</b> <code>%s</code> %s ",
		 self ? "<li class=\"self\" id=\"self\">" : "<li>", PQgetvalue(r, i, 0),
		 PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 6));
	vg_link(b, "event", PQgetvalue(r, i, 4), "/console/event", "id", id, "table",
		"DeviceProcessEvents", "report", PQgetvalue(r, i, 5), "at", PQgetvalue(r, i, 4),
		(char *)NULL);
}

void vg_page_tree(struct MHD_Connection *c, struct vg_page *p)
{
	const char *id = vg_arg(c, "id"), *pid = vg_arg(c, "pid"), *at = vg_arg(c, "at");
	PGresult *up[VG_TREE_UP], *down = NULL;
	char cur[32], sql[512];
	const char *v[3] = { id, cur, at };
	struct vg_sb *b = &p->b;
	int n = 0;

	if (!*id || !*pid || pid[strspn(pid, "0123456789")] || strlen(pid) > 10 || !*at) {
		vg_page_error(p, 400, "a device id, a process id and a time");
		return;
	}
	/* Up: the creation of each process at or before the time, then its parent's. */
	snprintf(cur, sizeof(cur), "%s", pid);
	snprintf(sql, sizeof(sql),
		 "%s\"ProcessId\" = $2::bigint AND \"Timestamp\" <= $3::timestamptz"
		 " ORDER BY \"Timestamp\" DESC LIMIT 1",
		 vg_tree_cols);
	while (n < VG_TREE_UP) {
		PGresult *r = vg_console_q(p, sql, 3, v);

		if (!r)
			goto out;
		if (!PQntuples(r)) {
			PQclear(r);
			break;
		}
		up[n++] = r;
		snprintf(cur, sizeof(cur), "%s", PQgetvalue(r, 0, 1));
		v[2] = PQgetvalue(r, 0, 4);
		if (!*cur || !strcmp(cur, "0"))
			break;
	}
	/* Down: what the process started after its creation (or the time). */
	snprintf(cur, sizeof(cur), "%s", pid);
	v[2] = n ? PQgetvalue(up[0], 0, 4) : at;
	snprintf(sql, sizeof(sql),
		 "%s\"ProcessParentId\" = $2::bigint AND \"Timestamp\" >= $3::timestamptz"
		 " ORDER BY \"Timestamp\" LIMIT %d",
		 vg_tree_cols, VG_TREE_DOWN);
	down = vg_console_q(p, sql, 3, v);
	if (!down)
		goto out;
	vg_page_head(p, "Process tree", "devices");
	vg_sb_add(b, "<p>");
	vg_link(b, "dev", id, "/console/device", "id", id, (char *)NULL);
	vg_htmlf(b, ": process %s at %s</p>", pid, at);
	vg_sb_add(b, "<div class=\"tree\" id=\"tree\">");
	if (!n)
		vg_sb_add(b, "<p class=\"note\">Its creation is not in the store (it started before"
			     " the sensor or its day is past retention).</p><ul><li class=\"self\">"
			     "process <b>?</b>");
	for (int i = n - 1; i >= 0; i--) {
		vg_sb_add(b, "<ul>");
		vg_tree_item(b, up[i], 0, id, !i);
	}
	vg_sb_add(b, "<ul class=\"children\">");
	for (int i = 0; i < PQntuples(down); i++) {
		vg_tree_item(b, down, i, id, 0);
		vg_sb_add(b, "</li>");
	}
	vg_sb_add(b, "</ul>");
	for (int i = 0; i < (n ? n : 1); i++)
		vg_sb_add(b, "</li></ul>");
	vg_sb_add(b, "</div>");
	vg_page_tail(p);
out:
	for (int i = 0; i < n; i++)
		PQclear(up[i]);
	PQclear(down);
}

/* ---- alerts */

#define VG_ALERTS_MAX 200

void vg_page_alerts(struct MHD_Connection *c, struct vg_page *p)
{
	static const char alerts[] =
		"SELECT \"Timestamp\", \"AlertId\", \"Severity\", \"Title\", \"Category\","
		" \"AttackTechniques\", \"DeviceId\", \"DeviceName\" FROM \"AlertInfo\""
		" WHERE $1 = '' OR \"Severity\" = $1 ORDER BY CASE \"Severity\" WHEN 'High' THEN 0"
		" WHEN 'Medium' THEN 1 WHEN 'Low' THEN 2 ELSE 3 END, \"Timestamp\" DESC,"
		" \"AlertId\" LIMIT 200";
	static const char evidence[] =
		"SELECT e.\"AlertId\", e.\"DeviceId\", e.\"Timestamp\", e.\"EntityType\","
		" e.\"EvidenceRole\", e.\"ActionType\", e.\"FileName\", e.\"ProcessCommandLine\","
		" e.\"RemoteIP\", e.\"SourceTable\", e.\"ReportId\" FROM \"AlertEvidence\" e"
		" WHERE (e.\"DeviceId\", e.\"AlertId\") IN (SELECT \"DeviceId\", \"AlertId\" FROM ("
		"SELECT \"DeviceId\", \"AlertId\", \"Severity\", \"Timestamp\" FROM \"AlertInfo\""
		" WHERE $1 = '' OR \"Severity\" = $1 ORDER BY CASE \"Severity\" WHEN 'High' THEN 0"
		" WHEN 'Medium' THEN 1 WHEN 'Low' THEN 2 ELSE 3 END, \"Timestamp\" DESC,"
		" \"AlertId\" LIMIT 200) a) ORDER BY e.\"AlertId\", e.\"Timestamp\" LIMIT 20000";
	static const char *const sevs[] = { "", "High", "Medium", "Low", "Informational" };
	const char *sev = vg_arg(c, "severity");
	PGresult *a = vg_console_q(p, alerts, 1, &sev), *e;
	struct vg_sb *b = &p->b;

	if (!a)
		return;
	e = vg_console_q(p, evidence, 1, &sev);
	if (!e) {
		PQclear(a);
		return;
	}
	vg_page_head(p, "Alerts", "alerts");
	vg_sb_add(b, "<form class=\"filter\" method=\"get\"><label>Severity <select name=\"severity\""
		     " id=\"f-severity\">");
	for (size_t i = 0; i < sizeof(sevs) / sizeof(sevs[0]); i++)
		vg_sb_printf(b, "<option value=\"%s\"%s>%s</option>", sevs[i],
			     !strcmp(sev, sevs[i]) ? " selected" : "", *sevs[i] ? sevs[i] : "any");
	vg_sb_add(b, "</select></label><button id=\"f-go\">Filter</button></form>\n"
		     "<div id=\"alerts\">");
	for (int i = 0; i < PQntuples(a); i++) {
		const char *aid = PQgetvalue(a, i, 1), *dev = PQgetvalue(a, i, 6);

		vg_htmlf(b, "<section class=\"alert\"><h2><span class=\"sev\">%s</span> %s</h2><p>%s"
			    " &middot; ",
			 PQgetvalue(a, i, 2), PQgetvalue(a, i, 3), PQgetvalue(a, i, 0));
		vg_dev_link(b, dev);
		vg_htmlf(b, " &middot; %s %s &middot; %s", PQgetvalue(a, i, 4), PQgetvalue(a, i, 5),
			 aid);
		vg_sb_add(b, "</p><table class=\"evidence\"><thead><tr><th>Time</th><th>Entity</th>"
			     "<th>Role</th><th>Action</th><th>File</th><th>Command line</th>"
			     "<th>Remote</th><th>Event</th></tr></thead><tbody>");
		for (int j = 0; j < PQntuples(e); j++) {
			if (strcmp(PQgetvalue(e, j, 0), aid) || strcmp(PQgetvalue(e, j, 1), dev))
				continue;
			vg_sb_add(b, "<tr>");
			for (int k = 2; k < 9; k++) {
				vg_sb_add(b, "<td>");
				vg_html(b, PQgetvalue(e, j, k));
				vg_sb_add(b, "</td>");
			}
			vg_sb_add(b, "<td>");
			if (vg_table_ok(PQgetvalue(e, j, 9)) && *PQgetvalue(e, j, 10))
				vg_link(b, "evidence", "open", "/console/event", "id", dev, "table",
					PQgetvalue(e, j, 9), "report", PQgetvalue(e, j, 10), "at",
					PQgetvalue(e, j, 2), (char *)NULL);
			vg_sb_add(b, "</td></tr>");
		}
		vg_sb_add(b, "</tbody></table></section>\n");
	}
	vg_sb_printf(b, "</div><p class=\"count\" id=\"count\">%d alerts%s</p>", PQntuples(a),
		     PQntuples(a) == VG_ALERTS_MAX ? " (the first 200)" : "");
	PQclear(a);
	PQclear(e);
	vg_page_tail(p);
}

/* ---- hunting */

static void vg_hunt_table(struct vg_sb *b, char *out, int cut)
{
	char *line, *save = NULL, *f[VG_CSV_MAX];
	int rows = -1;

	vg_sb_add(b, "<table id=\"result\">");
	for (line = strtok_r(out, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		int n = vg_csv_split(line, f, VG_CSV_MAX);

		if (rows == VG_HUNT_ROWS) {
			cut = 1;
			break;
		}
		vg_sb_add(b, rows < 0 ? "<thead><tr>" : "<tr>");
		for (int i = 0; i < n; i++) {
			vg_sb_add(b, rows < 0 ? "<th>" : "<td>");
			vg_html_esc(b, f[i]); /* hunt.c's CSV escaped it already */
			vg_sb_add(b, rows < 0 ? "</th>" : "</td>");
		}
		vg_sb_add(b, rows < 0 ? "</tr></thead><tbody>\n" : "</tr>\n");
		rows++;
	}
	vg_sb_printf(b, "</tbody></table><p class=\"count\" id=\"count\">%d rows%s</p>",
		     rows < 0 ? 0 : rows,
		     cut ? " shown: the result has more (export it as CSV or JSON)" : "");
}

void vg_page_hunt(struct MHD_Connection *c, struct vg_page *p, const struct vg_session *s,
		  const char *query, const char *fmt)
{
	struct vg_sb *b = &p->b;
	const char *saved = vg_arg(c, "saved");
	char *out = NULL, *err = NULL;
	int cut = 0, f = -1;
	long n = 0;

	if (!query) {
		int k = atoi(saved);

		query = k >= 1 && k <= (int)VG_SAVED_N ? vg_saved[k - 1].kql : "";
	} else {
		f = !strcmp(fmt, "csv") ? VG_HUNT_CSV : !strcmp(fmt, "json") ? VG_HUNT_JSON : VG_HUNT_CSV;
		n = vg_console_kql(query, f,
				   strcmp(fmt, "csv") && strcmp(fmt, "json") ? VG_HUNT_HTML_MAX :
									      VG_HUNT_EXPORT_MAX,
				   &out, &err, &cut);
		if (n >= 0 && !cut && (!strcmp(fmt, "csv") || !strcmp(fmt, "json"))) {
			vg_sb_add(b, out);
			p->ctype = f == VG_HUNT_CSV ? "text/csv; charset=utf-8" :
						      "application/x-ndjson; charset=utf-8";
			p->attachment = f == VG_HUNT_CSV ? "hunt.csv" : "hunt.json";
			goto out;
		}
	}
	vg_page_head(p, "Hunting", "hunt");
	vg_sb_add(b, "<div class=\"hunt\"><form method=\"post\" action=\"/console/hunt\" id=\"hunt\">"
		     "<input type=\"hidden\" name=\"csrf\" value=\"");
	vg_html_esc(b, s->csrf);
	vg_sb_add(b, "\"><textarea name=\"q\" id=\"q\" rows=\"12\" spellcheck=\"false\">");
	vg_html_esc(b, query); /* the analyst's own text, lines and all */
	vg_sb_add(b, "</textarea><div class=\"buttons\">"
		     "<button name=\"fmt\" value=\"html\" id=\"run\">Run</button>"
		     "<button name=\"fmt\" value=\"csv\" id=\"csv\">Export CSV</button>"
		     "<button name=\"fmt\" value=\"json\" id=\"json\">Export JSON</button>"
		     "<button type=\"button\" id=\"save\">Save in this browser</button>"
		     "</div></form><aside><h2>Saved queries</h2><ul id=\"saved\">");
	for (size_t i = 0; i < VG_SAVED_N; i++) {
		char k[16];

		snprintf(k, sizeof(k), "%zu", i + 1);
		vg_sb_add(b, "<li>");
		vg_link(b, "saved", vg_saved[i].title, "/console/hunt", "saved", k, (char *)NULL);
		vg_sb_add(b, "</li>");
	}
	vg_sb_add(b, "</ul><ul id=\"local\"></ul></aside></div>\n");
	if (n < 0 && err && *err) {
		vg_sb_add(b, "<pre class=\"error\" id=\"error\">");
		vg_html_esc(b, err); /* the translator's message, the query line and a caret */
		vg_sb_add(b, "</pre>");
		p->status = 400;
	} else if (n < 0) {
		vg_sb_add(b, "<p class=\"error\" id=\"error\">The query failed in the database"
			     " (see the server's log).</p>");
		p->status = 503;
	} else if (out && cut && f != -1 && (!strcmp(fmt, "csv") || !strcmp(fmt, "json"))) {
		vg_sb_add(b, "<p class=\"error\" id=\"error\">The export is over 64 MiB: narrow the"
			     " query (take, where, project).</p>");
		p->status = 413;
	} else if (out) {
		vg_hunt_table(b, out, cut);
	}
	vg_page_tail(p);
out:
	free(out);
	free(err);
}
