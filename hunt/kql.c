// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL subset -> SQLite: the entry (vg_kql_translate) and the statement
 * level: lets, a pipeline's source and its stages, the columns each stage
 * has. The lexer is kql_lex.c, expressions kql_expr.c and kql_fn.c,
 * operators kql_ops.c and kql_join.c, the SQL text and functions kql_sql.c.
 *
 * One recursive-descent pass: every pipe stage becomes "SELECT ... FROM
 * (<previous stage>)" and knows its output columns, tabular lets become WITH
 * clauses, scalar lets are substituted.
 *
 * Semantics kept from Kusto where SQL differs: strings are never null
 * (a NULL column compares as ""), ==/!= are case-sensitive and =~ is not,
 * has/contains/startswith/endswith are case-insensitive unless _cs,
 * `sort by` defaults to descending.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "fmt.h"
#include "kql.h"
#include "kql_int.h"

int vg_kq_fail(struct vg_kq *k, const struct vg_tok *t, const char *fmt, ...)
{
	va_list ap;

	if (k->err)
		return k->err;
	k->err = -EINVAL;
	k->e->line = t->line;
	k->e->col = t->col;
	va_start(ap, fmt);
	vsnprintf(k->e->msg, sizeof(k->e->msg), fmt, ap);
	va_end(ap);
	return k->err;
}

int vg_kq_oom(struct vg_kq *k)
{
	if (!k->err) {
		k->err = -ENOMEM;
		snprintf(k->e->msg, sizeof(k->e->msg), "out of memory");
	}
	return k->err;
}

/* ---- columns, tables, lets */

void vg_cols_free(char **cols, int n)
{
	if (!cols)
		return;
	for (int i = 0; i < n; i++)
		free(cols[i]);
	free(cols);
}

int vg_elems_add(struct vg_kq *k, char ***elems, int *n, const char *s)
{
	char **nc = realloc(*elems, (size_t)(*n + 1) * sizeof(**elems));

	if (!nc)
		return vg_kq_oom(k);
	*elems = nc;
	nc[*n] = strdup(s);
	if (!nc[*n])
		return vg_kq_oom(k);
	(*n)++;
	return 0;
}

int vg_cols_add(struct vg_kq *k, char ***cols, int *n, const char *name)
{
	/* PostgreSQL cuts longer names, so two could become one: refused where written */
	if (k->dl->max_ident && strlen(name) > k->dl->max_ident) {
		const struct vg_tok *at = vg_cur(k);

		for (int i = k->pos; i >= 0; i--) {
			if (k->tk[i].t == TK_IDENT && !strcmp(k->tk[i].s, name)) {
				at = &k->tk[i];
				break;
			}
		}
		return vg_kq_fail(k, at, "column name '%.40s...' longer than %zu bytes on %s", name,
				  k->dl->max_ident, k->dl->name);
	}
	return vg_elems_add(k, cols, n, name);
}

int vg_cols_find(char **cols, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(cols[i], name))
			return i;
	return -1;
}

void vg_tab_free(struct vg_tab *t)
{
	vg_sb_free(&t->sql);
	vg_cols_free(t->cols, t->ncols);
	t->cols = NULL;
	t->ncols = 0;
}

/* Wrap the stage so far: "SELECT <head> FROM (<sql>)" + tail. */
void vg_tab_wrap(struct vg_kq *k, struct vg_tab *t, const char *head, const char *tail)
{
	struct vg_sb n;

	vg_sb_init(&n);
	vg_sb_printf(&n, "SELECT %s FROM (%s)%s%s", head, vg_sb_str(&t->sql) ?: "", k->dl->sub,
		     tail);
	vg_sb_free(&t->sql);
	t->sql = n;
}

/* Wrap the stage in "SELECT head FROM (...)" with the columns *cols, taken (*cols = NULL). */
void vg_tab_rewrap(struct vg_kq *k, struct vg_tab *t, const char *head, char ***cols, int *ncols)
{
	vg_tab_wrap(k, t, head, "");
	vg_cols_free(t->cols, t->ncols);
	t->cols = *cols;
	t->ncols = *ncols;
	*cols = NULL;
	*ncols = 0;
}

/* Replace the stage with sql and the columns *cols, both taken (*sql emptied, *cols = NULL). */
void vg_tab_set(struct vg_tab *t, struct vg_sb *sql, char ***cols, int *ncols)
{
	vg_sb_free(&t->sql);
	t->sql = *sql;
	vg_sb_init(sql);
	vg_cols_free(t->cols, t->ncols);
	t->cols = *cols;
	t->ncols = *ncols;
	*cols = NULL;
	*ncols = 0;
}

struct vg_let *vg_let_find(struct vg_kq *k, const char *name)
{
	for (int i = k->nlets - 1; i >= 0; i--)
		if (!strcmp(k->lets[i].name, name))
			return &k->lets[i];
	return NULL;
}

/* Columns of a real table, or 0 when there is no such table. */
int vg_table_cols(struct vg_kq *k, const char *name, char ***cols, int *n)
{
	sqlite3_stmt *st;
	int rc;

	if (!k->db) {
		for (int i = 0; i < k->ntables; i++) {
			if (strcmp(k->tables[i].name, name))
				continue;
			for (int c = 0; c < k->tables[i].ncols && !k->err; c++)
				vg_cols_add(k, cols, n, k->tables[i].cols[c]);
			break;
		}
		return k->err;
	}
	if (!strncmp(name, "sqlite_", 7))
		return 0;
	rc = sqlite3_prepare_v2(k->db,
				"SELECT p.name FROM sqlite_master m, pragma_table_info(m.name) p"
				" WHERE m.type IN ('table', 'view') AND m.name = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return vg_kq_oom(k);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (vg_cols_add(k, cols, n, (const char *)sqlite3_column_text(st, 0)))
			break;
	}
	sqlite3_finalize(st);
	return k->err;
}

static int vg_table_exists(struct vg_kq *k, const char *name)
{
	sqlite3_stmt *st;
	int found = 0;

	if (!k->db) {
		for (int i = 0; i < k->ntables; i++)
			if (!strcmp(k->tables[i].name, name))
				return 1;
		return 0;
	}
	if (sqlite3_prepare_v2(k->db,
			       "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view')"
			       " AND name = ?1 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Tabular operators and sources of Kusto that this subset does not have. */
static const char *const vg_unsupported[] = {
	"lookup",	"parse",
	"parse-where",	"mv-expand",
	"mv-apply",	"render",
	"make-series",	"evaluate",
	"project-keep", "project-reorder",
	"sample",	"sample-distinct",
	"search",	"find",
	"fork",		"facet",
	"serialize",	"invoke",
	"range",	"print",
	"getschema",	"as",
	"consume",	"partition",
	"scan",		"top-nested",
	"top-hitters",	"externaldata",
	"reduce",	"datatable",
	"materialize",	"extend-schema",
	"where-not",	"filter",
	"set",		"declare",
	"alias",	"pattern",
	"restrict",	"view",
};

int vg_is_unsupported(const char *w)
{
	for (size_t i = 0; i < sizeof(vg_unsupported) / sizeof(vg_unsupported[0]); i++)
		if (!strcmp(w, vg_unsupported[i]))
			return 1;
	return 0;
}

/* Does a tabular expression start here (as opposed to a scalar one)? */
int vg_tabular_here(struct vg_kq *k)
{
	struct vg_tok *t = vg_cur(k), *n = vg_peek(k, 1);
	struct vg_let *l;

	if (vg_is_word(t, "union"))
		return 1;
	if (t->t != TK_IDENT || vg_is_op(n, "("))
		return 0;
	if (vg_is_op(n, "|"))
		return 1;
	l = vg_let_find(k, t->s);
	if (l)
		return l->tabular;
	return vg_table_exists(k, t->s) || vg_is_unsupported(t->s);
}

/* ---- sources and pipelines */

/*
 * The source of a tabular expression: a table, a tabular let or a union,
 * without the pipes after it (join's and union's operands stop there).
 */
/*
 * A table's columns as its source reads them: * where the dialect has no
 * columns of its own (SQLite), else the table's known columns by name, so
 * a column the database keeps for itself (PostgreSQL's "IngestId") is not
 * part of any result.
 */
static void vg_source_cols(struct vg_kq *k, struct vg_tab *t)
{
	int n = 0;

	if (!k->dl->explicit_cols) {
		vg_sb_add(&t->sql, "*");
		return;
	}
	for (int i = 0; i < t->ncols; i++) {
		if (!strcmp(t->cols[i], "_rid"))
			continue;
		vg_sb_add(&t->sql, n++ ? ", " : "");
		vg_sql_ident(&t->sql, t->cols[i]);
	}
}

int vg_source(struct vg_kq *k, struct vg_tab *t, int bounded)
{
	struct vg_tok *src = vg_cur(k);
	struct vg_let *l;

	memset(t, 0, sizeof(*t));
	vg_sb_init(&t->sql);
	t->bounded = bounded;
	if (src->t != TK_IDENT) {
		const char *d = vg_tok_desc(src);

		if (d)
			return vg_kq_fail(k, src, "expected a table name, found %s", d);
		return vg_kq_fail(k, src, "expected a table name, found '%s'", src->s);
	}
	l = vg_let_find(k, src->s);
	if (l && l->tabular) {
		k->pos++;
		vg_sb_printf(&t->sql, "SELECT * FROM %s", l->sql);
		for (int i = 0; i < l->ncols && !k->err; i++)
			vg_cols_add(k, &t->cols, &t->ncols, l->cols[i]);
		if (bounded)
			return vg_kq_fail(k, src,
					  "a rule's query must start from a table, not a let");
	} else if (l) {
		return vg_kq_fail(k, src, "'%s' is a scalar let, not a table", src->s);
	} else if (vg_is_word(src, "union")) {
		if (bounded)
			return vg_kq_fail(k, src,
					  "a rule's query must start from a table, not a union");
		k->pos++;
		return vg_op_union(k, t, src);
	} else {
		char name[64];

		vg_dashed_word(k, name, sizeof(name));
		if (vg_is_unsupported(name))
			return vg_kq_fail(k, src, "unsupported operator '%s'", name);
		if (bounded && vg_cols_add(k, &t->cols, &t->ncols, "_rid"))
			return k->err;
		if (vg_table_cols(k, src->s, &t->cols, &t->ncols))
			return k->err;
		if (t->ncols == !!bounded)
			return vg_kq_fail(k, src, "unknown table '%s'", src->s);
		if (bounded && !k->dl->bounded_sel) {
			return vg_kq_fail(k, src, "a rule's query needs SQLite, not %s",
					  k->dl->name);
		} else if (bounded) {
			vg_sb_add(&t->sql, k->dl->bounded_sel);
			vg_source_cols(k, t);
			vg_sb_add(&t->sql, " FROM ");
			vg_sql_ident(&t->sql, src->s);
			vg_sb_add(&t->sql, k->dl->bounded_where);
			free(k->main_source);
			k->main_source = strdup(src->s);
		} else {
			vg_sb_add(&t->sql, "SELECT ");
			vg_source_cols(k, t);
			vg_sb_add(&t->sql, " FROM ");
			vg_sql_ident(&t->sql, src->s);
		}
	}
	return k->err;
}

int vg_tabular(struct vg_kq *k, struct vg_tab *t, int bounded)
{
	if (++k->depth > VG_KQL_MAX_DEPTH) {
		memset(t, 0, sizeof(*t));
		vg_sb_init(&t->sql);
		return vg_kq_fail(k, vg_cur(k), "query nested too deeply");
	}
	if (vg_source(k, t, bounded))
		return k->err;
	while (!k->err && vg_accept_op(k, "|"))
		vg_operator(k, t);
	k->depth--;
	if (!k->err && vg_sb_err(&t->sql))
		return vg_kq_oom(k);
	return k->err;
}

/* ---- statements */

static int vg_let_stmt(struct vg_kq *k)
{
	struct vg_tok *name = NULL;
	struct vg_let l = { 0 };

	k->pos++; /* let */
	if (vg_expect_ident(k, "a name after let", &name) ||
	    vg_expect_op(k, "=", "after the let name"))
		return k->err;
	if (vg_is_op(vg_cur(k), ";") || vg_cur(k)->t == TK_EOF)
		return vg_kq_fail(k, vg_cur(k), "let %s = needs a value", name->s);
	if (vg_tabular_here(k)) {
		struct vg_tab t;
		char cte[96];

		if (vg_tabular(k, &t, 0)) {
			vg_tab_free(&t);
			return k->err;
		}
		snprintf(cte, sizeof(cte), "\"kql_let%d\"", k->nwith);
		vg_sb_printf(&k->with, "%s%s AS (%s)", k->nwith ? ", " : "", cte,
			     vg_sb_str(&t.sql));
		k->nwith++;
		l.tabular = 1;
		l.sql = strdup(cte);
		l.cols = t.cols;
		l.ncols = t.ncols;
		t.cols = NULL;
		t.ncols = 0;
		vg_tab_free(&t);
	} else {
		struct vg_ex x;

		vg_ex_init(&x);
		if (vg_expr(k, NULL, &x)) {
			vg_sb_free(&x.sql);
			return k->err;
		}
		l.sql = strdup(vg_sb_str(&x.sql));
		l.kind = x.kind;
		l.span = x.span;
		vg_sb_free(&x.sql);
	}
	l.name = strdup(name->s);
	{
		struct vg_let *nl = realloc(k->lets, (size_t)(k->nlets + 1) * sizeof(*nl));

		if (nl)
			k->lets = nl;
		if (!nl || !l.name || !l.sql) {
			free(l.name);
			free(l.sql);
			vg_cols_free(l.cols, l.ncols);
			return vg_kq_oom(k);
		}
		k->lets[k->nlets++] = l;
	}
	if (vg_cur(k)->t == TK_EOF)
		return vg_kq_fail(k, vg_cur(k),
				  "the query ends after a let statement: add the query to run");
	return vg_expect_op(k, ";", "after the let statement");
}

/*
 * The ActionType values the pipeline at token i must begin with (see struct
 * vg_kql_query), into q; nothing when it begins otherwise.
 */
static int vg_main_actions(struct vg_kq *k, int i, struct vg_kql_query *q)
{
	const struct vg_tok *t = k->tk;
	char **acts = NULL;
	int n = 0, depth = 0, ok = 0;

	if (i + 5 >= k->ntk || t[i].t != TK_IDENT || !k->main_source ||
	    strcmp(t[i].s, k->main_source) || !vg_is_op(&t[i + 1], "|") ||
	    !vg_is_word(&t[i + 2], "where") || t[i + 3].t != TK_IDENT ||
	    strcmp(t[i + 3].s, "ActionType"))
		return 0;
	i += 4;
	if (vg_is_op(&t[i], "==") && t[i + 1].t == TK_STR) {
		if (vg_elems_add(k, &acts, &n, t[i + 1].s))
			goto out;
		i += 2;
	} else if (t[i].t == TK_IDENT && !strcmp(t[i].s, "in") && vg_is_op(&t[i + 1], "(")) {
		for (i += 2; i < k->ntk && t[i].t == TK_STR; i += 2) {
			if (vg_elems_add(k, &acts, &n, t[i].s))
				goto out;
			if (!vg_is_op(&t[i + 1], ","))
				break;
		}
		if (i >= k->ntk || t[i].t != TK_STR || !vg_is_op(&t[i + 1], ")"))
			goto out;
		i += 2;
	} else {
		return 0;
	}
	/* The rest of the where: `and` terms only, whatever they hold in parentheses. */
	if (!vg_stage_end(&t[i]) && !vg_is_word(&t[i], "and"))
		goto out;
	for (; i < k->ntk && !(depth == 0 && vg_stage_end(&t[i])); i++) {
		if (vg_is_op(&t[i], "(") || vg_is_op(&t[i], "["))
			depth++;
		else if (vg_is_op(&t[i], ")") || vg_is_op(&t[i], "]"))
			depth--;
		else if (depth == 0 && vg_is_word(&t[i], "or"))
			goto out;
	}
	ok = 1;
out:
	if (ok) {
		q->actions = acts;
		q->nactions = n;
	} else {
		vg_cols_free(acts, n);
	}
	return k->err;
}

static int vg_kql_run(struct vg_kq *kq, const char *text, int flags, struct vg_kql_query *q,
		      struct vg_kql_error *e)
{
	struct vg_kq k = *kq;
	struct vg_tab main = { 0 };
	int have_main = 0, main_at = 0;

	memset(q, 0, sizeof(*q));
	memset(e, 0, sizeof(*e));
	vg_sb_init(&k.with);
	vg_sb_init(&main.sql);
	if (strlen(text) > VG_KQL_MAX_TEXT) {
		struct vg_tok t = { .line = 1, .col = 1 };

		vg_kq_fail(&k, &t, "query longer than %d bytes", VG_KQL_MAX_TEXT);
		goto out;
	}
	if (vg_lex(&k, text))
		goto out;
	while (!k.err && vg_cur(&k)->t != TK_EOF) {
		struct vg_tok *t = vg_cur(&k);

		if (vg_accept_op(&k, ";"))
			continue;
		if (vg_is_word(t, "let")) {
			vg_let_stmt(&k);
			continue;
		}
		if (have_main) {
			vg_kq_fail(&k, t, "only one query statement is supported (after the lets)");
			break;
		}
		main_at = k.pos;
		if (vg_tabular(&k, &main, flags & VG_KQL_BOUNDED))
			break;
		have_main = 1;
		if (!vg_stage_end(vg_cur(&k)) || vg_is_op(vg_cur(&k), ")"))
			vg_kq_fail(&k, vg_cur(&k), "unexpected '%s' after the query",
				   vg_cur(&k)->s ? vg_cur(&k)->s : "");
	}
	if (!k.err && !have_main)
		vg_kq_fail(&k, vg_cur(&k), "no query to run (only let statements)");
	if (k.err)
		goto out;
	{
		struct vg_sb sql;

		vg_sb_init(&sql);
		if (k.nwith)
			vg_sb_printf(&sql, "WITH %s ", vg_sb_str(&k.with));
		vg_sb_add(&sql, vg_sb_str(&main.sql));
		if (vg_sb_err(&sql)) {
			vg_sb_free(&sql);
			vg_kq_oom(&k);
			goto out;
		}
		q->sql = sql.s;
	}
	if (vg_main_actions(&k, main_at, q))
		goto out;
	q->cols = main.cols;
	q->ncols = main.ncols;
	main.cols = NULL;
	main.ncols = 0;
	q->source = k.main_source;
	k.main_source = NULL;
out:
	vg_tab_free(&main);
	vg_sb_free(&k.with);
	for (int i = 0; i < k.ntk; i++)
		free(k.tk[i].s);
	free(k.tk);
	for (int i = 0; i < k.nlets; i++) {
		free(k.lets[i].name);
		free(k.lets[i].sql);
		vg_cols_free(k.lets[i].cols, k.lets[i].ncols);
	}
	free(k.lets);
	free(k.main_source);
	return k.err;
}

int vg_kql_translate(sqlite3 *db, const char *text, int flags, struct vg_kql_query *q,
		     struct vg_kql_error *e)
{
	struct vg_kq k = { .db = db, .flags = flags, .e = e, .dl = &vg_kql_sqlite };

	return vg_kql_run(&k, text, flags, q, e);
}

int vg_kql_translate_for(enum vg_kql_sql dialect, const struct vg_kql_table *tables, int ntables,
			 const char *text, int flags, struct vg_kql_query *q,
			 struct vg_kql_error *e)
{
	struct vg_kq k = { .tables = tables,
			   .ntables = ntables,
			   .flags = flags,
			   .e = e,
			   .dl = dialect == VG_KQL_PG ? &vg_kql_pg : &vg_kql_sqlite };

	return vg_kql_run(&k, text, flags, q, e);
}

void vg_kql_query_free(struct vg_kql_query *q)
{
	free(q->sql);
	vg_cols_free(q->cols, q->ncols);
	free(q->source);
	vg_cols_free(q->actions, q->nactions);
	memset(q, 0, sizeof(*q));
}

void vg_kql_error_format(struct vg_sb *out, const char *prefix, const char *text, int line_offset,
			 const struct vg_kql_error *e)
{
	const char *p = text;
	int line = 1;

	vg_sb_safe(out, prefix);
	vg_sb_printf(out, "%d:%d: ", e->line + line_offset, e->col);
	vg_sb_safe(out, e->msg);
	vg_sb_add(out, "\n");
	while (*p && line < e->line) {
		if (*p++ == '\n')
			line++;
	}
	if (line != e->line || !e->line)
		return;
	{
		/* The line as lib/esc.h prints it, the caret under the same character. */
		size_t n = strcspn(p, "\r\n"), before = e->col > 0 ? (size_t)e->col - 1 : 0;
		int pad =
			before > n ? vg_esc_cols(p, n) + (int)(before - n) : vg_esc_cols(p, before);

		vg_sb_add(out, "  ");
		vg_sb_esc(out, p, n);
		vg_sb_printf(out, "\n  %*s^\n", pad, "");
	}
}
