// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "fmt.h"
#include "events.h"
#include "hunt.h"
#include "kql.h"
#include "log.h"
#include "store.h"

/* Table cells wider than this are cut with "..." (JSON and CSV never are). */
#define VG_HUNT_CELL_MAX 120

struct vg_rows {
	char **cell; /* nrows * ncols strings, NULL for a NULL value */
	size_t nrows, cap;
	int ncols;
};

static void vg_rows_free(struct vg_rows *r)
{
	for (size_t i = 0; i < r->nrows * (size_t)r->ncols; i++)
		free(r->cell[i]);
	free(r->cell);
}

static int vg_rows_add(struct vg_rows *r, struct vg_hunt_src *src)
{
	if (r->nrows == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		char **n = realloc(r->cell, nc * (size_t)r->ncols * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->cell = n;
		r->cap = nc;
	}
	for (int i = 0; i < r->ncols; i++) {
		const char *v = src->text(src, i);
		char **c = &r->cell[r->nrows * (size_t)r->ncols + (size_t)i];

		*c = v ? strdup(v) : NULL;
		if (v && !*c) {
			for (int j = 0; j < i; j++)
				free(r->cell[r->nrows * (size_t)r->ncols + (size_t)j]);
			return -ENOMEM;
		}
	}
	r->nrows++;
	return 0;
}

/* Display width of UTF-8 text: one column per code point. */
static size_t vg_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* A cell on one line under lib/esc.h's rule, cut with "..." past VG_HUNT_CELL_MAX columns. */
static void vg_cell_text(struct vg_sb *b, const char *v)
{
	size_t n = strlen(v), w = 0;
	char one[VG_ESC_CHAR_MAX];

	while (n) {
		size_t k;
		int cols;
		size_t used = vg_esc_char(v, n, one, &k, &cols);

		w += (size_t)cols;
		if (w > VG_HUNT_CELL_MAX - 3) {
			vg_sb_add(b, "...");
			return;
		}
		vg_sb_addn(b, one, k);
		v += used;
		n -= used;
	}
}

static int vg_print_table(FILE *out, const struct vg_kql_query *q, const struct vg_rows *r)
{
	size_t *w = calloc((size_t)q->ncols, sizeof(*w));
	struct vg_sb line, cell;
	int err = 0;

	if (!w)
		return -ENOMEM;
	vg_sb_init(&line);
	vg_sb_init(&cell);
	for (int c = 0; c < q->ncols; c++)
		w[c] = vg_width(q->cols[c]);
	for (size_t i = 0; i < r->nrows; i++) {
		for (int c = 0; c < q->ncols; c++) {
			const char *v = r->cell[i * (size_t)r->ncols + (size_t)c];

			vg_sb_reset(&cell);
			vg_cell_text(&cell, v ? v : "");
			if (vg_width(vg_sb_str(&cell) ?: "") > w[c])
				w[c] = vg_width(vg_sb_str(&cell) ?: "");
		}
	}
	for (size_t i = 0; i <= r->nrows + 1 && !err; i++) {
		vg_sb_reset(&line);
		for (int c = 0; c < q->ncols; c++) {
			const char *v;
			size_t cw;

			if (i == 1) {
				for (size_t k = 0; k < w[c]; k++)
					vg_sb_add(&line, "-");
				vg_sb_add(&line, c + 1 < q->ncols ? "  " : "");
				continue;
			}
			v = i == 0 ? q->cols[c] : r->cell[(i - 2) * (size_t)r->ncols + (size_t)c];
			vg_sb_reset(&cell);
			vg_cell_text(&cell, v ? v : "");
			vg_sb_add(&line, vg_sb_str(&cell));
			cw = vg_width(vg_sb_str(&cell) ?: "");
			if (c + 1 < q->ncols)
				for (size_t k = cw; k < w[c] + 2; k++)
					vg_sb_add(&line, " ");
		}
		while (line.len && line.s[line.len - 1] == ' ')
			line.s[--line.len] = 0;
		vg_sb_add(&line, "\n");
		if (vg_sb_err(&line) || vg_sb_err(&cell))
			err = -ENOMEM;
		else if (fputs(vg_sb_str(&line), out) == EOF)
			err = -EPIPE;
	}
	vg_sb_free(&line);
	vg_sb_free(&cell);
	free(w);
	return err;
}

/* An RFC 4180 field of text escaped under lib/esc.h's rule, so a record is one line. */
static void vg_csv_field(struct vg_sb *b, const char *v)
{
	struct vg_sb e;

	if (!v)
		return;
	vg_sb_init(&e);
	vg_sb_safe(&e, v);
	v = vg_sb_err(&e) ? "" : vg_sb_str(&e);
	if (!v[strcspn(v, ",\" ")]) {
		vg_sb_add(b, v);
	} else {
		vg_sb_add(b, "\"");
		for (const char *p = v; *p; p++)
			vg_sb_add(b, *p == '"' ? "\"\"" : (char[]){ *p, 0 });
		vg_sb_add(b, "\"");
	}
	if (vg_sb_err(&e))
		b->err = e.err;
	vg_sb_free(&e);
}

/* ---- the rows of SQLite */

static int vg_sqlite_next(struct vg_hunt_src *src)
{
	struct vg_hunt_sqlite *s = (struct vg_hunt_sqlite *)src;
	int rc = sqlite3_step(s->st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	vg_log(VG_ERROR, "hunt: query failed: %s", sqlite3_errmsg(s->db));
	return vg_sqlite_errno(rc) ?: -EIO;
}

static const char *vg_sqlite_text(struct vg_hunt_src *src, int c)
{
	return (const char *)sqlite3_column_text(((struct vg_hunt_sqlite *)src)->st, c);
}

static void vg_sqlite_json(struct vg_hunt_src *src, int c, struct vg_sb *b)
{
	vg_json_column(b, ((struct vg_hunt_sqlite *)src)->st, c);
}

int vg_hunt_format_parse(const char *s, enum vg_hunt_format *fmt)
{
	static const char *const names[] = { "table", "json", "csv" };

	for (int i = 0; s && i < 3; i++) {
		if (!strcmp(s, names[i])) {
			*fmt = (enum vg_hunt_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

void vg_hunt_sqlite_init(struct vg_hunt_sqlite *s, sqlite3 *db, sqlite3_stmt *st)
{
	s->src.next = vg_sqlite_next;
	s->src.text = vg_sqlite_text;
	s->src.json = vg_sqlite_json;
	s->db = db;
	s->st = st;
}

/* ---- printing */

long vg_hunt_print(struct vg_hunt_src *src, const struct vg_kql_query *q, enum vg_hunt_format fmt,
		   FILE *out)
{
	struct vg_rows rows = { 0 };
	struct vg_sb line;
	long n = 0;
	int err = 0, rc;

	rows.ncols = q->ncols;
	vg_sb_init(&line);
	if (fmt == VG_HUNT_CSV) {
		for (int c = 0; c < q->ncols; c++) {
			vg_sb_add(&line, c ? "," : "");
			vg_csv_field(&line, q->cols[c]);
		}
		vg_sb_add(&line, "\r\n");
	}
	while (!err && (rc = src->next(src)) == 1) {
		n++;
		if (fmt == VG_HUNT_TABLE) {
			err = vg_rows_add(&rows, src);
			continue;
		}
		if (fmt == VG_HUNT_JSON) {
			vg_sb_add(&line, "{");
			for (int c = 0; c < q->ncols; c++) {
				vg_sb_add(&line, c ? "," : "");
				vg_json_str(&line, q->cols[c]);
				vg_sb_add(&line, ":");
				src->json(src, c, &line);
			}
			vg_sb_add(&line, "}\n");
		} else {
			for (int c = 0; c < q->ncols; c++) {
				vg_sb_add(&line, c ? "," : "");
				vg_csv_field(&line, src->text(src, c));
			}
			vg_sb_add(&line, "\r\n");
		}
		if (vg_sb_err(&line))
			err = -ENOMEM;
		else if (fputs(vg_sb_str(&line), out) == EOF)
			err = -EPIPE;
		vg_sb_reset(&line);
	}
	if (!err && rc < 0)
		err = rc;
	if (!err && fmt == VG_HUNT_CSV && !n && fputs(vg_sb_str(&line), out) == EOF)
		err = -EPIPE;
	if (!err && fmt == VG_HUNT_TABLE)
		err = vg_print_table(out, q, &rows);
	if (!err && fflush(out))
		err = -EPIPE;
	vg_rows_free(&rows);
	vg_sb_free(&line);
	return err ? err : n;
}

int vg_hunt_error(int err, const char *text, const char *origin, const struct vg_kql_error *e,
		  FILE *errf)
{
	struct vg_sb msg;
	char prefix[256];

	if (err != -EINVAL)
		return vg_err(err, "hunt: translate query");
	vg_sb_init(&msg);
	snprintf(prefix, sizeof(prefix), "%s:", origin ? origin : "query");
	vg_kql_error_format(&msg, prefix, text, 0, e);
	fputs(vg_sb_str(&msg) ?: "out of memory\n", errf);
	vg_sb_free(&msg);
	return err;
}

long vg_hunt_run(sqlite3 *db, const char *text, const char *origin, enum vg_hunt_format fmt,
		 FILE *out, FILE *errf)
{
	struct vg_hunt_sqlite s;
	struct vg_kql_query q;
	struct vg_kql_error e;
	long n;
	int err, rc;

	err = vg_kql_register(db);
	if (err)
		return vg_err(err, "hunt: register query functions");
	err = vg_kql_translate(db, text, 0, &q, &e);
	if (err)
		return vg_hunt_error(err, text, origin, &e, errf);
	vg_log(VG_DEBUG, "hunt: SQL: %s", q.sql);
	vg_hunt_sqlite_init(&s, db, NULL);
	rc = sqlite3_prepare_v2(db, q.sql, -1, &s.st, NULL);
	if (rc != SQLITE_OK) {
		vg_log(VG_ERROR, "hunt: the store refused the translated query: %s",
		       sqlite3_errmsg(db));
		vg_kql_query_free(&q);
		return vg_sqlite_errno(rc) ?: -EIO;
	}
	n = vg_hunt_print(&s.src, &q, fmt, out);
	sqlite3_finalize(s.st);
	vg_kql_query_free(&q);
	return n;
}
