// SPDX-License-Identifier: GPL-2.0-only
/*
 * The console's HTTP side: routes under /console/ on vigil server's TLS
 * listener, analysts' logins (a token per analyst kept as its SHA-256 in
 * ConsoleAnalysts, checked through the server's own connection) and their
 * sessions (a random cookie, Secure, HttpOnly, SameSite=Strict, held by this
 * server process for 8 hours), the one HTML escape every page uses, the
 * style sheet and script compiled in, and each worker's read-only connection
 * as the analyst role. Pages are GETs; the two POSTs (login, a hunt) are
 * form bodies of at most VG_CONSOLE_MAX_BODY, a hunt's carrying the session's
 * CSRF token. Every answer has a Content-Security-Policy of default-src
 * 'self': no inline script runs, whatever a page shows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "console_assets.h"
#include "console_int.h"
#include "hunt.h"
#include "log.h"

#define VG_CONSOLE_MAX_BODY (256u << 10)
#define VG_CONSOLE_QUERY_MAX (64u << 10)
#define VG_SESSIONS 256
#define VG_SESSION_SECS (8 * 3600)
#define VG_COOKIE "vigil_console"
#define VG_CSP                                                                               \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"           \
	" frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

static const char *vg_owner, *vg_analyst;
static pthread_key_t vg_db_key;
static pthread_once_t vg_db_once = PTHREAD_ONCE_INIT;

struct vg_sess {
	char id[VG_TOKEN_HEX + 1]; /* "" when free */
	struct vg_session s;
	time_t expires;
};
static struct vg_sess vg_sessions[VG_SESSIONS];
static pthread_mutex_t vg_sess_lock = PTHREAD_MUTEX_INITIALIZER;

/* A POST being read: its form fields, each bounded. */
struct vg_creq {
	unsigned int magic;
	struct MHD_PostProcessor *pp;
	size_t len;
	int too_big;
	struct vg_sb name, token, query, fmt, csrf;
};
#define VG_CREQ_MAGIC 0x76676331u

static void vg_db_free(void *pg)
{
	PQfinish(pg);
}

static void vg_db_key_make(void)
{
	pthread_key_create(&vg_db_key, vg_db_free);
}

void vg_console_init(const char *owner, const char *analyst)
{
	vg_owner = owner;
	vg_analyst = analyst;
	pthread_once(&vg_db_once, vg_db_key_make);
}

const char *vg_console_conninfo(void)
{
	return vg_analyst;
}

int vg_console_url(const char *url)
{
	return !strcmp(url, "/") || !strncmp(url, "/console", 8);
}

/* ---- HTML */

void vg_html_esc(struct vg_sb *b, const char *s)
{
	const char *p = s ? s : "", *run = p;

	for (; *p; p++) {
		const char *e = NULL;

		switch (*p) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		}
		if (!e)
			continue;
		vg_sb_addn(b, run, (size_t)(p - run));
		vg_sb_add(b, e);
		run = p + 1;
	}
	vg_sb_addn(b, run, (size_t)(p - run));
}

void vg_html(struct vg_sb *b, const char *s)
{
	struct vg_sb e;

	vg_sb_init(&e);
	vg_sb_safe(&e, s);
	if (vg_sb_err(&e))
		b->err = e.err;
	else
		vg_html_esc(b, vg_sb_str(&e));
	vg_sb_free(&e);
}

void vg_htmlf(struct vg_sb *b, const char *fmt, ...)
{
	va_list ap;
	const char *run = fmt;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%' || !fmt[1] || !strchr("stp", fmt[1]))
			continue;
		vg_sb_addn(b, run, (size_t)(fmt - run));
		fmt++;
		if (*fmt == 's')
			vg_html(b, va_arg(ap, const char *));
		else if (*fmt == 't')
			vg_html_esc(b, va_arg(ap, const char *));
		else
			vg_sb_add(b, va_arg(ap, const char *));
		run = fmt + 1;
	}
	vg_sb_add(b, run);
	va_end(ap);
}

void vg_url_arg(struct vg_sb *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			vg_sb_addn(b, (const char *)p, 1);
		else
			vg_sb_printf(b, "%%%02X", *p);
	}
}

void vg_link(struct vg_sb *b, const char *cls, const char *text, const char *path, ...)
{
	const char *k, *v;
	va_list ap;
	int first = 1;

	vg_sb_add(b, "<a");
	if (cls) {
		vg_sb_add(b, " class=\"");
		vg_html_esc(b, cls);
		vg_sb_add(b, "\"");
	}
	vg_sb_add(b, " href=\"");
	vg_html_esc(b, path);
	va_start(ap, path);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		vg_sb_add(b, first ? "?" : "&amp;");
		vg_sb_add(b, k);
		vg_sb_add(b, "=");
		vg_url_arg(b, v);
		first = 0;
	}
	va_end(ap);
	vg_sb_add(b, "\">");
	vg_html(b, text);
	vg_sb_add(b, "</a>");
}

static __thread const struct vg_session *vg_cur;

void vg_page_head(struct vg_page *p, const char *title, const char *nav)
{
	static const char *const tabs[][2] = { { "devices", "Devices" },
					       { "hunt", "Hunting" },
					       { "alerts", "Alerts" } };

	vg_sb_add(&p->b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<title>");
	vg_html(&p->b, title);
	vg_sb_add(&p->b, " - vigil</title><link rel=\"stylesheet\" href=\"/console/style.css\">"
			 "<script src=\"/console/console.js\" defer></script></head>\n<body>"
			 "<nav><span class=\"brand\">vigil</span>");
	for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
		vg_sb_printf(&p->b, "<a href=\"/console/%s\"%s>%s</a>", tabs[i][0],
			     nav && !strcmp(nav, tabs[i][0]) ? " class=\"on\"" : "", tabs[i][1]);
	}
	if (vg_cur) {
		vg_sb_add(&p->b, "<form class=\"out\" method=\"post\" action=\"/console/logout\">"
				 "<span id=\"who\">");
		vg_html(&p->b, vg_cur->name);
		vg_sb_add(&p->b, "</span><input type=\"hidden\" name=\"csrf\" value=\"");
		vg_html_esc(&p->b, vg_cur->csrf);
		vg_sb_add(&p->b, "\"><button>Log out</button></form>");
	}
	vg_sb_add(&p->b, "</nav>\n<main>\n<h1 id=\"title\">");
	vg_html(&p->b, title);
	vg_sb_add(&p->b, "</h1>\n");
}

void vg_page_tail(struct vg_page *p)
{
	vg_sb_add(&p->b, "</main></body></html>\n");
}

void vg_page_error(struct vg_page *p, unsigned int status, const char *msg)
{
	vg_sb_reset(&p->b);
	p->status = status;
	vg_page_head(p, status == 404 ? "Not found" : "Error", NULL);
	vg_sb_add(&p->b, "<p class=\"error\" id=\"error\">");
	vg_html(&p->b, msg);
	vg_sb_add(&p->b, "</p>");
	vg_page_tail(p);
}

const char *vg_arg(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

	return v ? v : "";
}

/* ---- the database */

PGconn *vg_console_db(void)
{
	PGconn *pg = pthread_getspecific(vg_db_key);
	PGresult *r;

	if (pg && PQstatus(pg) != CONNECTION_OK) {
		PQfinish(pg);
		pg = NULL;
		pthread_setspecific(vg_db_key, NULL);
	}
	if (pg)
		return pg;
	pg = PQconnectdb(vg_analyst);
	if (PQstatus(pg) != CONNECTION_OK) {
		vg_log(VG_ERROR, "console: postgresql: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	/* Read-only whatever the role may do; times in UTC as the store writes them. */
	r = PQexec(pg, "SET default_transaction_read_only = on; SET TimeZone = 'UTC';"
		       " SET DateStyle = 'ISO'; SET statement_timeout = '30s'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		vg_log(VG_ERROR, "console: postgresql session: %s", PQerrorMessage(pg));
		PQclear(r);
		PQfinish(pg);
		return NULL;
	}
	PQclear(r);
	pthread_setspecific(vg_db_key, pg);
	return pg;
}

PGresult *vg_console_q(struct vg_page *p, const char *sql, int n, const char *const *vals)
{
	PGconn *pg = vg_console_db();
	PGresult *r;

	if (!pg) {
		vg_page_error(p, 503, "the database is unavailable");
		return NULL;
	}
	r = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	vg_log(VG_ERROR, "console: query failed: %s", PQerrorMessage(pg));
	PQclear(r);
	vg_page_error(p, 503, "the database could not answer (see the server's log)");
	return NULL;
}

/* ---- KQL through vigil hunt --pg's path, its output bounded */

struct vg_bounded {
	struct vg_sb *b;
	size_t limit;
	int cut;
};

static ssize_t vg_bounded_write(void *cookie, const char *buf, size_t size)
{
	struct vg_bounded *o = cookie;

	if (o->b->len + size > o->limit) {
		o->cut = 1;
		errno = EFBIG;
		return -1;
	}
	vg_sb_addn(o->b, buf, size);
	return vg_sb_err(o->b) ? -1 : (ssize_t)size;
}

long vg_console_kql(const char *text, int fmt, size_t limit, char **out, char **err, int *cut)
{
	struct vg_sb ob, eb;
	struct vg_bounded o = { .b = &ob, .limit = limit };
	FILE *of, *ef;
	long n;

	vg_sb_init(&ob);
	vg_sb_init(&eb);
	o.b = &ob;
	of = fopencookie(&o, "w", (cookie_io_functions_t){ .write = vg_bounded_write });
	ef = fopencookie(&(struct vg_bounded){ .b = &eb, .limit = 64u << 10 }, "w",
			 (cookie_io_functions_t){ .write = vg_bounded_write });
	if (!of || !ef) {
		if (of)
			fclose(of);
		if (ef)
			fclose(ef);
		return -ENOMEM;
	}
	n = vg_hunt_run_pg(vg_analyst, text, "query", (enum vg_hunt_format)fmt, of, ef);
	fclose(of);
	fclose(ef);
	*cut = o.cut;
	if (o.cut && n == -EPIPE)
		n = 0;
	*out = strdup(vg_sb_str(&ob) ? vg_sb_str(&ob) : "");
	*err = strdup(vg_sb_str(&eb) ? vg_sb_str(&eb) : "");
	vg_sb_free(&ob);
	vg_sb_free(&eb);
	if (!*out || !*err) {
		free(*out);
		free(*err);
		*out = *err = NULL;
		return -ENOMEM;
	}
	return n;
}

int vg_csv_split(char *line, char **f, int max)
{
	char *r = line, *w;
	int n = 0;

	while (n < max) {
		f[n++] = w = r;
		if (*r == '"') {
			for (r++; *r; r++) {
				if (*r == '"' && r[1] == '"')
					r++;
				else if (*r == '"')
					break;
				*w++ = *r;
			}
			if (*r == '"')
				r++;
		} else {
			while (*r && *r != ',')
				*w++ = *r++;
		}
		if (*r != ',') {
			*w = 0;
			break;
		}
		*w = 0;
		r++;
	}
	return n;
}

/* ---- analysts and sessions */

static int vg_owner_exec(const char *conninfo, const char *sql, int n, const char *const *vals,
			 int *rows)
{
	PGconn *pg = PQconnectdb(conninfo);
	PGresult *r;
	int err = 0;

	if (PQstatus(pg) != CONNECTION_OK) {
		vg_log(VG_ERROR, "console: postgresql: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return -EIO;
	}
	r = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		vg_log(VG_ERROR, "console: %s", PQerrorMessage(pg));
		err = -EIO;
	} else if (rows) {
		*rows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) :
							       atoi(PQcmdTuples(r));
	}
	PQclear(r);
	PQfinish(pg);
	return err;
}

int vg_console_analyst_add(const char *conninfo, const char *name, char token[VG_TOKEN_HEX + 1])
{
	char hash[VG_TOKEN_HEX + 1];
	const char *v[2] = { name, hash };
	int err = vg_random_hex(token);

	if (err)
		return err;
	vg_sha256_hex(token, VG_TOKEN_HEX, hash);
	return vg_owner_exec(conninfo,
			     "INSERT INTO \"ConsoleAnalysts\" VALUES ($1, $2, now())"
			     " ON CONFLICT (\"Name\") DO UPDATE SET \"TokenHash\" = excluded.\"TokenHash\","
			     " \"Created\" = excluded.\"Created\"",
			     2, v, NULL);
}

int vg_console_analyst_remove(const char *conninfo, const char *name)
{
	int rows = 0, err = vg_owner_exec(conninfo,
					  "DELETE FROM \"ConsoleAnalysts\" WHERE \"Name\" = $1", 1,
					  &name, &rows);

	return err ? err : rows ? 0 : -ENOENT;
}

/* Is name's token this one? 1, 0, or -EIO. */
static int vg_analyst_check(const char *name, const char *token)
{
	char hash[VG_TOKEN_HEX + 1];
	const char *v[2] = { name, hash };
	int rows = 0, err;

	if (strlen(token) != VG_TOKEN_HEX)
		return 0;
	vg_sha256_hex(token, VG_TOKEN_HEX, hash);
	err = vg_owner_exec(vg_owner,
			    "SELECT 1 FROM \"ConsoleAnalysts\" WHERE \"Name\" = $1"
			    " AND \"TokenHash\" = $2",
			    2, v, &rows);
	return err ? err : rows == 1;
}

/* Equal strings, in a time that does not depend on where they differ. */
static int vg_same(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char d = n != strlen(b);

	for (size_t i = 0; i < n && i <= strlen(b); i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return !d;
}

/* A new session for name: its id in id, 0 or -errno. */
static int vg_session_new(const char *name, char id[VG_TOKEN_HEX + 1])
{
	struct vg_sess *slot = NULL;
	time_t now = time(NULL);
	char csrf[VG_TOKEN_HEX + 1];
	int err = vg_random_hex(id);

	if (!err)
		err = vg_random_hex(csrf);
	if (err)
		return err;
	pthread_mutex_lock(&vg_sess_lock);
	for (int i = 0; i < VG_SESSIONS; i++) {
		struct vg_sess *s = &vg_sessions[i];

		if (!s->id[0] || s->expires <= now) {
			slot = s;
			break;
		}
		if (!slot || s->expires < slot->expires)
			slot = s; /* all in use: the one closest to its end goes */
	}
	memcpy(slot->id, id, sizeof(slot->id));
	snprintf(slot->s.name, sizeof(slot->s.name), "%s", name);
	memcpy(slot->s.csrf, csrf, sizeof(slot->s.csrf));
	slot->expires = now + VG_SESSION_SECS;
	pthread_mutex_unlock(&vg_sess_lock);
	return 0;
}

/* The request's session into out: 1, or 0 for none (or expired). drop: end it. */
static int vg_session_get(struct MHD_Connection *c, struct vg_session *out, int drop)
{
	const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, VG_COOKIE);
	time_t now = time(NULL);
	int found = 0;

	if (!id || strlen(id) != VG_TOKEN_HEX)
		return 0;
	pthread_mutex_lock(&vg_sess_lock);
	for (int i = 0; i < VG_SESSIONS && !found; i++) {
		struct vg_sess *s = &vg_sessions[i];

		if (s->id[0] && s->expires > now && vg_same(s->id, id)) {
			*out = s->s;
			found = 1;
			if (drop)
				memset(s, 0, sizeof(*s));
		}
	}
	pthread_mutex_unlock(&vg_sess_lock);
	return found;
}

/* ---- answers */

static enum MHD_Result vg_send(struct MHD_Connection *c, struct vg_page *p, const char *cookie)
{
	const char *s = vg_sb_str(&p->b);
	struct MHD_Response *r;
	enum MHD_Result ret;
	char disp[128];

	if (vg_sb_err(&p->b) || !s) {
		s = "out of memory\n";
		p->status = 500;
		p->ctype = "text/plain; charset=utf-8";
	}
	r = MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				p->ctype ? p->ctype : "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy", VG_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (p->attachment) {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", p->attachment);
		MHD_add_response_header(r, "Content-Disposition", disp);
	}
	if (p->location[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, p->location);
	if (cookie)
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	ret = MHD_queue_response(c, p->location[0] ? 303 : p->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result vg_asset(struct MHD_Connection *c, const unsigned char *data,
				unsigned int len, const char *ctype)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, "Content-Security-Policy", VG_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=3600");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void vg_login_page(struct vg_page *p, const char *msg)
{
	vg_page_head(p, "Log in", NULL);
	if (msg) {
		vg_sb_add(&p->b, "<p class=\"error\" id=\"error\">");
		vg_html(&p->b, msg);
		vg_sb_add(&p->b, "</p>");
	}
	vg_sb_add(&p->b,
		  "<form class=\"login\" method=\"post\" action=\"/console/login\">"
		  "<label>Analyst <input name=\"name\" id=\"name\" autocomplete=\"username\"></label>"
		  "<label>Token <input name=\"token\" id=\"token\" type=\"password\""
		  " autocomplete=\"current-password\"></label>"
		  "<button id=\"login\">Log in</button></form>"
		  "<p class=\"note\">A token comes from <code>vigil server analyst add NAME</code>.</p>");
	vg_page_tail(p);
}

/* A POST from another site (its Origin not this host): refused before anything. */
static int vg_foreign(struct MHD_Connection *c)
{
	const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

	if (!o)
		return 0;
	return !h || strncmp(o, "https://", 8) || strcmp(o + 8, h);
}

static enum MHD_Result vg_post(struct MHD_Connection *c, const char *url, struct vg_creq *q)
{
	struct vg_page p = { .status = 200 };
	struct vg_session s;
	char cookie[256], id[VG_TOKEN_HEX + 1];
	enum MHD_Result ret;
	int ok;

	vg_sb_init(&p.b);
	if (q->too_big || vg_sb_err(&q->query) || vg_sb_err(&q->name) || vg_sb_err(&q->token)) {
		vg_page_error(&p, 413, "the form is over its limit");
	} else if (vg_foreign(c)) {
		vg_page_error(&p, 403, "a form from another site");
	} else if (!strcmp(url, "/console/login")) {
		const char *name = vg_sb_str(&q->name) ? vg_sb_str(&q->name) : "";

		ok = *name ? vg_analyst_check(name, vg_sb_str(&q->token) ? vg_sb_str(&q->token) : "")
			   : 0;
		if (ok == 1 && !vg_session_new(name, id)) {
			vg_log(VG_INFO, "console: analyst %s logged in", name);
			snprintf(cookie, sizeof(cookie),
				 VG_COOKIE "=%s; Path=/console; Max-Age=%d; Secure; HttpOnly;"
					   " SameSite=Strict",
				 id, VG_SESSION_SECS);
			snprintf(p.location, sizeof(p.location), "/console/devices");
			ret = vg_send(c, &p, cookie);
			vg_sb_free(&p.b);
			return ret;
		}
		if (ok < 0) {
			p.status = 503;
			vg_login_page(&p, "the database is unavailable");
		} else {
			struct vg_sb e;

			vg_sb_init(&e);
			vg_sb_safe(&e, name);
			vg_log(VG_WARN, "console: a failed login as %s", vg_sb_str(&e) ? vg_sb_str(&e) : "");
			vg_sb_free(&e);
			p.status = 401;
			vg_login_page(&p, "unknown analyst or wrong token");
		}
	} else if (!vg_session_get(c, &s, 0)) {
		snprintf(p.location, sizeof(p.location), "/console/login");
	} else if (!vg_sb_str(&q->csrf) || !vg_same(vg_sb_str(&q->csrf), s.csrf)) {
		vg_page_error(&p, 403, "the form's token is not this session's (reload the page)");
	} else if (!strcmp(url, "/console/logout")) {
		vg_session_get(c, &s, 1);
		snprintf(p.location, sizeof(p.location), "/console/login");
		ret = vg_send(c, &p, VG_COOKIE "=; Path=/console; Max-Age=0; Secure; HttpOnly;"
					       " SameSite=Strict");
		vg_sb_free(&p.b);
		return ret;
	} else if (!strcmp(url, "/console/hunt")) {
		vg_cur = &s;
		vg_page_hunt(c, &p, &s, vg_sb_str(&q->query) ? vg_sb_str(&q->query) : "",
			     vg_sb_str(&q->fmt) ? vg_sb_str(&q->fmt) : "html");
		vg_cur = NULL;
	} else {
		vg_page_error(&p, 404, "no such page");
	}
	ret = vg_send(c, &p, NULL);
	vg_sb_free(&p.b);
	return ret;
}

static enum MHD_Result vg_get(struct MHD_Connection *c, const char *url)
{
	static const struct {
		const char *url;
		void (*page)(struct MHD_Connection *c, struct vg_page *p);
	} pages[] = {
		{ "/console/devices", vg_page_devices }, { "/console/device", vg_page_device },
		{ "/console/event", vg_page_event },	 { "/console/tree", vg_page_tree },
		{ "/console/alerts", vg_page_alerts },
	};
	struct vg_page p = { .status = 200 };
	struct vg_session s;
	enum MHD_Result ret;
	size_t i;

	if (!strcmp(url, "/console/style.css"))
		return vg_asset(c, vg_console_style_css, vg_console_style_css_len,
				"text/css; charset=utf-8");
	if (!strcmp(url, "/console/console.js"))
		return vg_asset(c, vg_console_console_js, vg_console_console_js_len,
				"text/javascript; charset=utf-8");
	vg_sb_init(&p.b);
	if (!strcmp(url, "/console/login")) {
		vg_login_page(&p, NULL);
	} else if (!strcmp(url, "/") || !strcmp(url, "/console") || !strcmp(url, "/console/")) {
		/* the session cookie's path is /console: it is checked there */
		snprintf(p.location, sizeof(p.location), "/console/devices");
	} else if (!vg_session_get(c, &s, 0)) {
		snprintf(p.location, sizeof(p.location), "/console/login");
	} else {
		vg_cur = &s;
		for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
			if (!strcmp(url, pages[i].url))
				break;
		if (i < sizeof(pages) / sizeof(pages[0]))
			pages[i].page(c, &p);
		else if (!strcmp(url, "/console/hunt"))
			vg_page_hunt(c, &p, &s, NULL, NULL);
		else
			vg_page_error(&p, 404, "no such page");
		vg_cur = NULL;
	}
	ret = vg_send(c, &p, NULL);
	vg_sb_free(&p.b);
	return ret;
}

static enum MHD_Result vg_field(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *filename, const char *ctype, const char *enc,
				const char *data, uint64_t off, size_t size)
{
	struct vg_creq *q = cls;
	struct vg_sb *b = !strcmp(key, "name")	? &q->name :
			  !strcmp(key, "token") ? &q->token :
			  !strcmp(key, "q")	? &q->query :
			  !strcmp(key, "fmt")	? &q->fmt :
			  !strcmp(key, "csrf")	? &q->csrf :
						  NULL;

	if (!b)
		return MHD_YES;
	if (b->len + size > VG_CONSOLE_QUERY_MAX) {
		q->too_big = 1;
		return MHD_YES;
	}
	vg_sb_addn(b, data, size);
	return MHD_YES;
}

static void vg_creq_free(struct vg_creq *q)
{
	if (q->pp)
		MHD_destroy_post_processor(q->pp);
	vg_sb_free(&q->name);
	vg_sb_free(&q->token);
	vg_sb_free(&q->query);
	vg_sb_free(&q->fmt);
	vg_sb_free(&q->csrf);
	free(q);
}

int vg_console_done(void **con_cls)
{
	struct vg_creq *q = *con_cls;

	if (!q || q->magic != VG_CREQ_MAGIC)
		return 0;
	vg_creq_free(q);
	*con_cls = NULL;
	return 1;
}

enum MHD_Result vg_console(struct MHD_Connection *c, const char *url, const char *method,
			   const char *upload, size_t *upload_size, void **con_cls)
{
	struct vg_creq *q = *con_cls;
	struct vg_page p = { .status = 200 };
	enum MHD_Result ret;

	if (!vg_analyst) {
		vg_sb_init(&p.b);
		vg_page_error(&p, 404, "no console on this server (vigil server --console-pg)");
		ret = vg_send(c, &p, NULL);
		vg_sb_free(&p.b);
		return ret;
	}
	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
			return vg_get(c, url);
		vg_sb_init(&p.b);
		if (strcmp(method, "POST"))
			vg_page_error(&p, 405, "GET or POST only");
		else if (cl && strtoull(cl, NULL, 10) > VG_CONSOLE_MAX_BODY)
			vg_page_error(&p, 413, "the form is over its limit");
		if (p.status != 200) {
			ret = vg_send(c, &p, NULL);
			vg_sb_free(&p.b);
			return ret;
		}
		vg_sb_free(&p.b);
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->magic = VG_CREQ_MAGIC;
		vg_sb_init(&q->name);
		vg_sb_init(&q->token);
		vg_sb_init(&q->query);
		vg_sb_init(&q->fmt);
		vg_sb_init(&q->csrf);
		*con_cls = q;
		q->pp = MHD_create_post_processor(c, 4096, vg_field, q);
		if (!q->pp) {
			vg_sb_init(&p.b);
			vg_page_error(&p, 415, "a form (application/x-www-form-urlencoded) only");
			ret = vg_send(c, &p, NULL);
			vg_sb_free(&p.b);
			return ret;
		}
		return MHD_YES;
	}
	if (*upload_size) {
		q->len += *upload_size;
		if (q->len > VG_CONSOLE_MAX_BODY)
			q->too_big = 1;
		else if (MHD_post_process(q->pp, upload, *upload_size) != MHD_YES)
			q->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	return vg_post(c, url, q);
}
