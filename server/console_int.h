/* SPDX-License-Identifier: GPL-2.0-only */
/* What the console's files share (console.c: HTTP, logins, HTML; console_*.c: pages). */
#ifndef VG_CONSOLE_INT_H
#define VG_CONSOLE_INT_H

#include <libpq-fe.h>
#include <microhttpd.h>

#include "fmt.h"

/* A page being answered: its body and what goes in its headers. */
struct vg_page {
	struct vg_sb b;
	unsigned int status;
	const char *ctype; /* default text/html */
	const char *attachment; /* Content-Disposition file name, or NULL */
	char location[512]; /* a 303 to this when set */
};

/* The analyst a request is from, and the token its hunt form must carry. */
struct vg_session {
	char name[64];
	char csrf[65];
};

/*
 * THE HTML escape: every value a page shows goes through it. s (NULL: "")
 * as lib/esc.h writes monitored text (controls and bytes that are not UTF-8
 * as \n, \xNN), then & < > " ' as entities: safe in text and in a quoted
 * attribute alike. vg_html_esc skips the first step (text already escaped).
 */
void vg_html(struct vg_sb *b, const char *s);
void vg_html_esc(struct vg_sb *b, const char *s);
/*
 * fmt's text as it is, each %s an argument through vg_html, each %t one
 * through vg_html_esc, each %p one as it is (markup the page made). Nothing
 * else is a conversion.
 */
void vg_htmlf(struct vg_sb *b, const char *fmt, ...);
/* s percent-encoded (all but A-Z a-z 0-9 - . _ ~): a URL query value. */
void vg_url_arg(struct vg_sb *b, const char *s);
/* A link: <a href="path?k1=v1&k2=v2...">text</a>, values URL-encoded; text through vg_html. */
void vg_link(struct vg_sb *b, const char *cls, const char *text, const char *path, ...)
	__attribute__((sentinel));

void vg_page_head(struct vg_page *p, const char *title, const char *nav);
void vg_page_tail(struct vg_page *p);
void vg_page_error(struct vg_page *p, unsigned int status, const char *msg);

/* A query argument of the request ("" when absent). */
const char *vg_arg(struct MHD_Connection *c, const char *key);
/* The worker's read-only connection as the analyst role, or NULL (the page says so). */
PGconn *vg_console_db(void);
/* PQexecParams on it, a TUPLES_OK result or NULL (logged; the page says so). */
PGresult *vg_console_q(struct vg_page *p, const char *sql, int n, const char *const *vals);
/* The analyst conninfo: vg_hunt_run_pg() takes it. */
const char *vg_console_conninfo(void);

/* One CSV record (hunt.c's RFC 4180 lines) split into fields, in place. */
#define VG_CSV_MAX 128
int vg_csv_split(char *line, char **f, int max);

/*
 * A KQL query through vg_hunt_run_pg() (the translator of `vigil hunt --pg`):
 * its output in *out (at most limit bytes: *cut set when there was more),
 * a query error in *err. The result: rows, or a negative errno.
 */
long vg_console_kql(const char *text, int fmt, size_t limit, char **out, char **err, int *cut);

void vg_page_devices(struct MHD_Connection *c, struct vg_page *p);
void vg_page_device(struct MHD_Connection *c, struct vg_page *p);
void vg_page_event(struct MHD_Connection *c, struct vg_page *p);
void vg_page_tree(struct MHD_Connection *c, struct vg_page *p);
void vg_page_alerts(struct MHD_Connection *c, struct vg_page *p);
void vg_page_hunt(struct MHD_Connection *c, struct vg_page *p, const struct vg_session *s,
		  const char *query, const char *fmt);

#endif
