// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL subset -> SQLite. One recursive-descent pass: every pipe stage
 * becomes "SELECT ... FROM (<previous stage>)" and knows its output
 * columns, tabular lets become WITH clauses, scalar lets are substituted.
 *
 * Semantics kept from Kusto where SQL differs: strings are never null
 * (a NULL column compares as ""), ==/!= are case-sensitive and =~ is not,
 * has/contains/startswith/endswith are case-insensitive unless _cs,
 * `sort by` defaults to descending.
 */
#include <ctype.h>
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

/* ---- lexer */

static int vg_is_id0(int c)
{
	return isalpha(c) || c == '_';
}

static int vg_is_id(int c)
{
	return isalnum(c) || c == '_';
}

static int vg_tok_push(struct vg_kq *k, int *cap, struct vg_tok *t)
{
	if (k->ntk == *cap) {
		int nc = *cap ? *cap * 2 : 64;
		struct vg_tok *n = realloc(k->tk, (size_t)nc * sizeof(*n));

		if (!n) {
			free(t->s);
			return vg_kq_oom(k);
		}
		k->tk = n;
		*cap = nc;
	}
	k->tk[k->ntk++] = *t;
	return 0;
}

static double vg_span_unit(const char *u)
{
	static const struct {
		const char *name;
		double secs;
	} units[] = {
		{ "d", 86400 },
		{ "day", 86400 },
		{ "days", 86400 },
		{ "h", 3600 },
		{ "hr", 3600 },
		{ "hrs", 3600 },
		{ "hour", 3600 },
		{ "hours", 3600 },
		{ "m", 60 },
		{ "min", 60 },
		{ "minute", 60 },
		{ "minutes", 60 },
		{ "s", 1 },
		{ "sec", 1 },
		{ "second", 1 },
		{ "seconds", 1 },
		{ "ms", 0.001 },
		{ "milli", 0.001 },
		{ "millis", 0.001 },
		{ "microsecond", 1e-6 },
		{ "microseconds", 1e-6 },
		{ "tick", 1e-7 },
		{ "ticks", 1e-7 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(u, units[i].name))
			return units[i].secs;
	return -1;
}

static const char *const vg_ops[] = { "==", "!=", "=~", "!~", "<=", ">=", "<", ">",
				      "=",  "|",  ";",	"(",  ")",  ",",  "+", "-",
				      "*",  "/",  "%",	"..", ".",  "[",  "]" };

static int vg_lex(struct vg_kq *k, const char *text)
{
	const char *p = text, *line_start = text;
	int line = 1, cap = 0, ws = 1;

	for (;;) {
		struct vg_tok t = { 0 };
		const char *start;
		struct vg_sb sb;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' ||
		       (p[0] == '/' && p[1] == '/')) {
			if (*p == '/') {
				while (*p && *p != '\n')
					p++;
				continue;
			}
			if (*p == '\n') {
				line++;
				line_start = p + 1;
			}
			p++;
			ws = 1;
		}
		t.line = line;
		t.col = (int)(p - line_start) + 1;
		t.adj = !ws;
		ws = 0;
		start = p;
		if (!*p) {
			t.t = TK_EOF;
			return vg_tok_push(k, &cap, &t);
		}
		vg_sb_init(&sb);
		if (k->ntk >= 2 && vg_is_op(&k->tk[k->ntk - 1], "(") &&
		    vg_is_word(&k->tk[k->ntk - 2], "datetime") && *p != '"' && *p != '\'' &&
		    *p != ')') {
			/* datetime(2026-01-31T12:00:00Z): the text up to ')' is the literal */
			const char *e = p;

			while (*e && *e != ')' && *e != '\n')
				e++;
			if (*e != ')') {
				vg_sb_free(&sb);
				return vg_kq_fail(k, &t, "unterminated datetime literal");
			}
			while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
				e--;
			vg_sb_addn(&sb, p, (size_t)(e - p));
			p = e;
			t.t = TK_STR;
		} else if (vg_is_id0((unsigned char)*p) ||
			   (*p == '$' && vg_is_id0((unsigned char)p[1]))) {
			p++; /* $left, $right of join ... on */
			while (vg_is_id((unsigned char)*p))
				p++;
			/* in~ and !in~ are single operators */
			if (p - start == 2 && !strncmp(start, "in", 2) && *p == '~')
				p++;
			t.t = TK_IDENT;
			vg_sb_addn(&sb, start, (size_t)(p - start));
		} else if (*p == '!' && vg_is_id0((unsigned char)p[1])) {
			p++;
			while (vg_is_id((unsigned char)*p))
				p++;
			if (*p == '~')
				p++;
			t.t = TK_OP;
			vg_sb_addn(&sb, start, (size_t)(p - start));
		} else if (isdigit((unsigned char)*p) ||
			   (*p == '.' && isdigit((unsigned char)p[1]))) {
			const char *u;

			while (isdigit((unsigned char)*p))
				p++;
			if (*p == '.' && isdigit((unsigned char)p[1])) {
				p++;
				while (isdigit((unsigned char)*p))
					p++;
			}
			vg_sb_addn(&sb, start, (size_t)(p - start));
			t.t = TK_NUM;
			u = p;
			while (isalpha((unsigned char)*p))
				p++;
			if (p > u) {
				char unit[16] = "";
				double secs = -1;

				if (p - u < (long)sizeof(unit)) {
					memcpy(unit, u, (size_t)(p - u));
					secs = vg_span_unit(unit);
				}
				if (secs < 0) {
					vg_sb_free(&sb);
					t.col += (int)(u - start);
					return vg_kq_fail(k, &t, "unknown timespan unit '%.*s'",
							  (int)(p - u), u);
				}
				t.t = TK_SPAN;
				t.span = strtod(vg_sb_str(&sb), NULL) * secs;
			} else if (vg_is_id((unsigned char)*p)) {
				vg_sb_free(&sb);
				return vg_kq_fail(k, &t, "malformed number");
			}
		} else if (*p == '"' || *p == '\'' ||
			   (*p == '@' && (p[1] == '"' || p[1] == '\''))) {
			int verbatim = *p == '@';
			char q;

			if (verbatim)
				p++;
			q = *p++;
			for (;;) {
				if (!*p || *p == '\n') {
					vg_sb_free(&sb);
					return vg_kq_fail(k, &t, "unterminated string");
				}
				if (*p == q) {
					if (verbatim && p[1] == q) {
						vg_sb_addn(&sb, p, 1);
						p += 2;
						continue;
					}
					p++;
					break;
				}
				if (*p == '\\' && !verbatim) {
					char c = p[1];

					switch (c) {
					case 'n':
						c = '\n';
						break;
					case 't':
						c = '\t';
						break;
					case 'r':
						c = '\r';
						break;
					case '\\':
					case '"':
					case '\'':
						break;
					default: {
						struct vg_tok bad = t;

						vg_sb_free(&sb);
						bad.col += (int)(p - start);
						return vg_kq_fail(
							k, &bad,
							"unknown escape sequence in string");
					}
					}
					vg_sb_addn(&sb, &c, 1);
					p += 2;
					continue;
				}
				vg_sb_addn(&sb, p, 1);
				p++;
			}
			t.t = TK_STR;
		} else {
			size_t i;

			for (i = 0; i < sizeof(vg_ops) / sizeof(vg_ops[0]); i++)
				if (!strncmp(p, vg_ops[i], strlen(vg_ops[i])))
					break;
			if (i == sizeof(vg_ops) / sizeof(vg_ops[0])) {
				vg_sb_free(&sb);
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					return vg_kq_fail(k, &t,
							  "unexpected character (byte 0x%02x)",
							  (unsigned char)*p);
				return vg_kq_fail(k, &t, "unexpected character '%c'", *p);
			}
			vg_sb_add(&sb, vg_ops[i]);
			p += strlen(vg_ops[i]);
			t.t = TK_OP;
		}
		if (vg_sb_err(&sb)) {
			vg_sb_free(&sb);
			return vg_kq_oom(k);
		}
		t.s = sb.s ? sb.s : strdup("");
		if (!t.s)
			return vg_kq_oom(k);
		if (vg_tok_push(k, &cap, &t))
			return k->err;
	}
}

/* ---- token helpers */

const char *vg_tok_desc(const struct vg_tok *t)
{
	switch (t->t) {
	case TK_EOF:
		return "end of query";
	case TK_STR:
		return "a string";
	case TK_NUM:
	case TK_SPAN:
		return "a number";
	default:
		return NULL;
	}
}

int vg_expect_op(struct vg_kq *k, const char *op, const char *what)
{
	struct vg_tok *t = vg_cur(k);
	const char *d = vg_tok_desc(t);

	if (vg_accept_op(k, op))
		return 0;
	if (d)
		return vg_kq_fail(k, t, "expected '%s' %s, found %s", op, what, d);
	return vg_kq_fail(k, t, "expected '%s' %s, found '%s'", op, what, t->s);
}

int vg_expect_ident(struct vg_kq *k, const char *what, struct vg_tok **out)
{
	struct vg_tok *t = vg_cur(k);
	const char *d = vg_tok_desc(t);

	if (t->t == TK_IDENT) {
		k->pos++;
		*out = t;
		return 0;
	}
	if (d)
		return vg_kq_fail(k, t, "expected %s, found %s", what, d);
	return vg_kq_fail(k, t, "expected %s, found '%s'", what, t->s);
}

/* End of a pipe stage's argument list. */
int vg_stage_end(const struct vg_tok *t)
{
	return t->t == TK_EOF || vg_is_op(t, "|") || vg_is_op(t, ";") || vg_is_op(t, ")");
}

/* ---- SQL text */

/* s between quote characters q, each q inside doubled: SQL's quoting of names and strings. */
void vg_sql_quote(struct vg_sb *b, const char *s, char q)
{
	vg_sb_addn(b, &q, 1);
	for (const char *p = s; *p; p++) {
		vg_sb_addn(b, p, 1);
		if (*p == q)
			vg_sb_addn(b, p, 1);
	}
	vg_sb_addn(b, &q, 1);
}

void vg_sql_ident(struct vg_sb *b, const char *name)
{
	vg_sql_quote(b, name, '"');
}

void vg_sql_str(struct vg_sb *b, const char *s)
{
	vg_sql_quote(b, s, '\'');
}

void vg_cols_free(char **cols, int n)
{
	if (!cols)
		return;
	for (int i = 0; i < n; i++)
		free(cols[i]);
	free(cols);
}

int vg_cols_add(struct vg_kq *k, char ***cols, int *n, const char *name)
{
	char **nc = realloc(*cols, (size_t)(*n + 1) * sizeof(**cols));

	if (!nc)
		return vg_kq_oom(k);
	*cols = nc;
	nc[*n] = strdup(name);
	if (!nc[*n])
		return vg_kq_oom(k);
	(*n)++;
	return 0;
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
void vg_tab_wrap(struct vg_tab *t, const char *head, const char *tail)
{
	struct vg_sb n;

	vg_sb_init(&n);
	vg_sb_printf(&n, "SELECT %s FROM (%s)%s", head, vg_sb_str(&t->sql) ?: "", tail);
	vg_sb_free(&t->sql);
	t->sql = n;
}

/* Wrap the stage in "SELECT head FROM (...)" with the columns *cols, taken (*cols = NULL). */
void vg_tab_rewrap(struct vg_tab *t, const char *head, char ***cols, int *ncols)
{
	vg_tab_wrap(t, head, "");
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

static int vg_is_unsupported(const char *w)
{
	for (size_t i = 0; i < sizeof(vg_unsupported) / sizeof(vg_unsupported[0]); i++)
		if (!strcmp(w, vg_unsupported[i]))
			return 1;
	return 0;
}

/*
 * A word joined to the next ones by '-' without spaces (project-away,
 * mv-expand), for naming an operator; advances past it.
 */
void vg_dashed_word(struct vg_kq *k, char *buf, size_t size)
{
	struct vg_tok *t = vg_cur(k);

	snprintf(buf, size, "%s", t->s ? t->s : "");
	k->pos++;
	while (vg_is_op(vg_cur(k), "-") && vg_cur(k)->adj && vg_peek(k, 1)->t == TK_IDENT &&
	       vg_peek(k, 1)->adj) {
		size_t l = strlen(buf);

		snprintf(buf + l, size - l, "-%s", vg_peek(k, 1)->s);
		k->pos += 2;
	}
}

/* Does a tabular expression start here (as opposed to a scalar one)? */
static int vg_tabular_here(struct vg_kq *k)
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

/* ---- expressions */

void vg_ex_init(struct vg_ex *x)
{
	memset(x, 0, sizeof(*x));
	vg_sb_init(&x->sql);
}

int vg_no_span(struct vg_kq *k, const struct vg_tok *t, const struct vg_ex *x)
{
	if (x->kind == K_SPAN)
		return vg_kq_fail(k, t,
				  "a timespan is supported only in ago(), bin(), between and added"
				  " to or subtracted from a datetime");
	if (x->kind == K_LIST)
		return vg_kq_fail(
			k, t, "a dynamic list is supported only in in (...), has_any and has_all");
	return 0;
}

static const char *const vg_aggs[] = { "count", "countif",  "dcount",	 "sum",	    "min",    "max",
				       "avg",	"make_set", "make_list", "arg_max", "arg_min" };

int vg_is_agg(const char *w)
{
	for (size_t i = 0; i < sizeof(vg_aggs) / sizeof(vg_aggs[0]); i++)
		if (!strcmp(w, vg_aggs[i]))
			return 1;
	return 0;
}

/* Parse "(a, b, ...)" into args[]; returns how many, or a negative errno. */
int vg_args(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *args, int max)
{
	int n = 0;

	if (vg_expect_op(k, "(", "after the function name"))
		return k->err;
	if (vg_accept_op(k, ")"))
		return 0;
	for (;;) {
		if (n == max) {
			vg_kq_fail(k, vg_cur(k), "too many arguments");
			break;
		}
		vg_ex_init(&args[n]);
		if (vg_expr(k, tab, &args[n++]))
			break;
		if (vg_accept_op(k, ")"))
			return n;
		if (vg_expect_op(k, ",", "or ')' between arguments"))
			break;
	}
	vg_args_free(args, n);
	return k->err;
}

void vg_args_free(struct vg_ex *args, int n)
{
	for (int i = 0; i < n; i++)
		vg_sb_free(&args[i].sql);
}

/*
 * Scalar functions: the number of arguments (-1: one or more) and the SQL,
 * whose %s take the arguments named by idx, in that order. NULL SQL: built
 * in vg_call() (strcat, ago).
 */
static const struct vg_fn {
	const char *name;
	int args;
	const char *sql;
	unsigned char idx[3];
} vg_fns[] = {
	{ "isempty", 1, "(coalesce(%s, '') = '')" },
	{ "isnotempty", 1, "(coalesce(%s, '') <> '')" },
	{ "isnull", 1, "(%s IS NULL)" },
	{ "isnotnull", 1, "(%s IS NOT NULL)" },
	{ "not", 1, "(NOT coalesce(%s, 0))" },
	{ "tolower", 1, "lower(coalesce(%s, ''))" },
	{ "toupper", 1, "upper(coalesce(%s, ''))" },
	{ "strlen", 1, "length(coalesce(%s, ''))" },
	{ "tostring", 1, "coalesce(CAST(%s AS TEXT), '')" },
	{ "toint", 1, "CAST(%s AS INTEGER)" },
	{ "tolong", 1, "CAST(%s AS INTEGER)" },
	{ "todouble", 1, "CAST(%s AS REAL)" },
	{ "toreal", 1, "CAST(%s AS REAL)" },
	{ "now", 0, NULL },
	{ "iff", 3, "(CASE WHEN %s THEN %s ELSE %s END)", { 0, 1, 2 } },
	{ "iif", 3, "(CASE WHEN %s THEN %s ELSE %s END)", { 0, 1, 2 } },
	/* json_extract() fails the whole query on malformed JSON; Kusto gives empty. */
	{ "extract_json",
	  2,
	  "(CASE WHEN json_valid(%s) THEN json_extract(%s, %s) END)",
	  { 1, 1, 0 } },
	{ "extractjson",
	  2,
	  "(CASE WHEN json_valid(%s) THEN json_extract(%s, %s) END)",
	  { 1, 1, 0 } },
	{ "strcat", -1, NULL },
	{ "ago", 1, NULL },
	{ "bin", 2, NULL },
	{ "floor", 2, NULL },
};

static int vg_call(struct vg_kq *k, const struct vg_tab *tab, struct vg_tok *name, struct vg_ex *x)
{
	const struct vg_fn *fn = NULL;
	struct vg_ex a[8];
	const char *f = name->s;
	int n;

	if (vg_is_agg(f))
		return vg_kq_fail(k, name, "%s() is an aggregation: use it in summarize", f);
	n = vg_args(k, tab, a, 8);
	if (n < 0)
		return n;
	for (size_t i = 0; i < sizeof(vg_fns) / sizeof(vg_fns[0]) && !fn; i++)
		if (!strcmp(f, vg_fns[i].name))
			fn = &vg_fns[i];
	if (!fn) {
		vg_args_free(a, n);
		return vg_kq_fail(k, name, "unsupported function '%s'", f);
	}
	if (fn->args >= 0 && n != fn->args) {
		vg_args_free(a, n);
		return vg_kq_fail(k, name, "%s() takes %d argument%s, not %d", f, fn->args,
				  fn->args == 1 ? "" : "s", n);
	}
	if (fn->args < 0 && n == 0) {
		vg_args_free(a, n);
		return vg_kq_fail(k, name, "%s() needs at least one argument", f);
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(f, "ago") && strcmp(f, "bin") && strcmp(f, "floor") &&
		    vg_no_span(k, name, &a[i])) {
			vg_args_free(a, n);
			return k->err;
		}
	}
#define A(i) vg_sb_str(&a[i].sql)
	if (fn->sql) {
		const char *s[3];

		for (int i = 0; i < 3; i++)
			s[i] = fn->idx[i] < n ? A(fn->idx[i]) : "";
		vg_sb_printf(&x->sql, fn->sql, s[0], s[1], s[2]);
	} else if (!strcmp(f, "strcat")) {
		vg_sb_add(&x->sql, "(");
		for (int i = 0; i < n; i++)
			vg_sb_printf(&x->sql, "%scoalesce(CAST(%s AS TEXT), '')", i ? " || " : "",
				     A(i));
		vg_sb_add(&x->sql, ")");
	} else if (!strcmp(f, "bin") || !strcmp(f, "floor")) {
		vg_fn_bin(k, name, a, n, x);
	} else if (!strcmp(f, "now")) {
		k->dl->now(&x->sql, 0);
		x->kind = K_TIME;
	} else { /* ago */
		if (a[0].kind != K_SPAN) {
			vg_args_free(a, n);
			return vg_kq_fail(k, name, "ago() needs a timespan such as 1h or 30m");
		}
		/* Timestamps are stored as ISO 8601 text with ms: compare as text. */
		k->dl->now(&x->sql, -a[0].span);
		x->kind = K_TIME;
	}
#undef A
	vg_args_free(a, n);
	if (k->err)
		return k->err;
	return vg_sb_err(&x->sql) ? vg_kq_oom(k) : 0;
}

static int vg_primary(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x)
{
	struct vg_tok *t = vg_cur(k);
	struct vg_let *l;
	int i;

	switch (t->t) {
	case TK_NUM:
		k->pos++;
		vg_sb_add(&x->sql, t->s);
		x->kind = K_NUM;
		return 0;
	case TK_SPAN:
		k->pos++;
		vg_sb_printf(&x->sql, "%.3f", t->span);
		x->kind = K_SPAN;
		x->span = t->span;
		return 0;
	case TK_STR:
		k->pos++;
		vg_sql_str(&x->sql, t->s);
		x->kind = K_STR;
		return 0;
	case TK_EOF:
		return vg_kq_fail(k, t, "expected an expression, found end of query");
	case TK_OP:
		if (vg_accept_op(k, "(")) {
			struct vg_ex in;

			vg_ex_init(&in);
			if (vg_expr(k, tab, &in) || vg_expect_op(k, ")", "to close '('")) {
				vg_sb_free(&in.sql);
				return k->err;
			}
			vg_sb_printf(&x->sql, "(%s)", vg_sb_str(&in.sql));
			x->kind = in.kind;
			x->span = in.span;
			vg_sb_free(&in.sql);
			return 0;
		}
		return vg_kq_fail(k, t, "expected an expression, found '%s'", t->s);
	case TK_IDENT:
		break;
	}
	if ((vg_is_word(t, "datetime") || vg_is_word(t, "dynamic")) && vg_is_op(vg_peek(k, 1), "("))
		return vg_literal_fn(k, x);
	if (vg_is_op(vg_peek(k, 1), "(")) {
		k->pos++;
		return vg_call(k, tab, t, x);
	}
	k->pos++;
	if (!strcmp(t->s, "true") || !strcmp(t->s, "false")) {
		vg_sb_add(&x->sql, t->s[0] == 't' ? "1" : "0");
		x->kind = K_NUM;
		return 0;
	}
	i = tab ? vg_cols_find(tab->cols, tab->ncols, t->s) : -1;
	if (i >= 0) {
		vg_sql_ident(&x->sql, t->s);
		x->colname = tab->cols[i];
		return 0;
	}
	l = vg_let_find(k, t->s);
	if (l && !l->tabular) {
		vg_sb_printf(&x->sql, "(%s)", l->sql);
		x->kind = l->kind;
		x->span = l->span;
		return 0;
	}
	if (l)
		return vg_kq_fail(k, t, "'%s' is a tabular let: use it as a source or in in (...)",
				  t->s);
	return vg_kq_fail(k, t, "unknown column '%s'", t->s);
}

static int vg_unary(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x)
{
	struct vg_tok *t = vg_cur(k);

	if (++k->depth > VG_KQL_MAX_DEPTH)
		return vg_kq_fail(k, t, "expression nested too deeply");
	if (vg_accept_op(k, "-") || vg_accept_op(k, "+")) {
		struct vg_ex in;

		vg_ex_init(&in);
		if (!vg_unary(k, tab, &in) && !vg_no_span(k, t, &in))
			vg_sb_printf(&x->sql, "(%s%s)", t->s, vg_sb_str(&in.sql));
		x->kind = in.kind == K_NUM ? K_NUM : K_ANY;
		vg_sb_free(&in.sql);
	} else {
		vg_primary(k, tab, x);
	}
	k->depth--;
	return k->err;
}

/* Left-associative binary levels: ops[] SQL-equal to themselves. */
static int vg_binary(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x, int level);

int vg_arith(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x, int mul)
{
	static const char *const addops[] = { "+", "-" }, *const mulops[] = { "*", "/", "%" };
	const char *const *ops = mul ? mulops : addops;
	int nops = mul ? 3 : 2;

	if (mul ? vg_unary(k, tab, x) : vg_arith(k, tab, x, 1))
		return k->err;
	for (;;) {
		struct vg_tok *t = vg_cur(k);
		struct vg_ex r;
		int i;

		for (i = 0; i < nops; i++)
			if (vg_is_op(t, ops[i]))
				break;
		if (i == nops)
			return 0;
		k->pos++;
		vg_ex_init(&r);
		if (mul ? vg_unary(k, tab, &r) : vg_arith(k, tab, &r, 1)) {
			vg_sb_free(&r.sql);
			return k->err;
		}
		if (!mul && (x->kind == K_SPAN || r.kind == K_SPAN)) {
			vg_time_arith(k, t, x, &r);
			vg_sb_free(&r.sql);
			if (k->err)
				return k->err;
			continue;
		}
		if (vg_no_span(k, t, x) || vg_no_span(k, t, &r)) {
			vg_sb_free(&r.sql);
			return k->err;
		}
		{
			struct vg_sb n;

			vg_sb_init(&n);
			vg_sb_printf(&n, "(%s %s %s)", vg_sb_str(&x->sql), ops[i],
				     vg_sb_str(&r.sql));
			vg_sb_free(&x->sql);
			x->sql = n;
		}
		x->kind = K_ANY;
		x->colname = NULL;
		vg_sb_free(&r.sql);
	}
}

/* "in (...)" / "!in (...)" / in~: a list of expressions or a tabular expression. */
static int vg_in(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x, const char *op)
{
	int neg = op[0] == '!', ci = op[strlen(op) - 1] == '~';
	struct vg_sb n;

	if (vg_expect_op(k, "(", "after in"))
		return k->err;
	vg_sb_init(&n);
	if (ci)
		vg_sb_printf(&n, "(lower(%s) IN (", vg_sb_str(&x->sql));
	else
		vg_sb_printf(&n, "(%s IN (", vg_sb_str(&x->sql));
	if (vg_tabular_here(k)) {
		struct vg_tab sub = { 0 };
		struct vg_tok *st = vg_cur(k);

		if (!vg_tabular(k, &sub, 0)) {
			if (sub.ncols < 1)
				vg_kq_fail(k, st, "in (...) needs a table with a column");
			else {
				vg_sb_add(&n, ci ? "SELECT lower(" : "SELECT ");
				vg_sql_ident(&n, sub.cols[0]);
				vg_sb_printf(&n, "%s FROM (%s)", ci ? ")" : "",
					     vg_sb_str(&sub.sql));
			}
		}
		vg_tab_free(&sub);
		if (!k->err)
			vg_expect_op(k, ")", "to close in (...)");
	} else {
		for (int i = 0; !k->err; i++) {
			struct vg_ex e;
			struct vg_tok *et = vg_cur(k);

			vg_ex_init(&e);
			if (!vg_expr(k, tab, &e) && e.kind == K_LIST) {
				/* in (list) with let list = dynamic([...]): the only element */
				if (i || !vg_is_op(vg_cur(k), ")"))
					vg_kq_fail(
						k, et,
						"a dynamic list must be the only element of in (...)");
				else
					vg_sb_printf(&n,
						     ci ? "SELECT lower(\"kql_v\") FROM (%s)" :
							  "SELECT \"kql_v\" FROM (%s)",
						     vg_sb_str(&e.sql));
			} else if (!k->err && !vg_no_span(k, et, &e)) {
				vg_sb_printf(&n, ci ? "%slower(%s)" : "%s%s", i ? ", " : "",
					     vg_sb_str(&e.sql));
			}
			vg_sb_free(&e.sql);
			if (k->err || vg_accept_op(k, ")"))
				break;
			vg_expect_op(k, ",", "or ')' in the in (...) list");
		}
	}
	vg_sb_add(&n, "))");
	if (!k->err && neg) {
		/* Kusto: an empty value is "not in" any list; SQL would say NULL. */
		struct vg_sb m;

		vg_sb_init(&m);
		vg_sb_printf(&m, "(%s IS NOT 1)", vg_sb_str(&n));
		vg_sb_free(&n);
		n = m;
	}
	vg_sb_free(&x->sql);
	x->sql = n;
	x->kind = K_ANY;
	x->colname = NULL;
	return k->err;
}

static const char *const vg_strops[] = { "has", "contains", "startswith", "endswith" };

static int vg_compare(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x)
{
	static const char *const cmpops[] = { "==", "!=", "=~", "!~", "<", "<=", ">", ">=" };
	struct vg_tok *t;
	const char *op = NULL, *base = NULL;
	int neg = 0, cs = 0;
	struct vg_ex r;
	struct vg_sb n;

	if (vg_arith(k, tab, x, 0))
		return k->err;
	t = vg_cur(k);
	if (t->t == TK_OP) {
		for (size_t i = 0; i < sizeof(cmpops) / sizeof(cmpops[0]); i++)
			if (!strcmp(t->s, cmpops[i]))
				op = cmpops[i];
		if (!op && t->s[0] == '!' && isalpha((unsigned char)t->s[1]))
			op = t->s;
		if (!op && vg_is_op(t, "="))
			return vg_kq_fail(k, t, "'=' is not a comparison: use '=='");
	} else if (t->t == TK_IDENT) {
		const char *w = t->s;

		if (!strcmp(w, "in") || !strcmp(w, "in~"))
			op = w;
		for (size_t i = 0; i < sizeof(vg_strops) / sizeof(vg_strops[0]); i++) {
			size_t l = strlen(vg_strops[i]);

			if (!strncmp(w, vg_strops[i], l) && (!w[l] || !strcmp(w + l, "_cs")))
				op = w;
		}
		if (!op && (!strcmp(w, "hasprefix") || !strcmp(w, "hassuffix") ||
			    !strcmp(w, "like") || !strcmp(w, "contains_any")))
			return vg_kq_fail(k, t, "unsupported operator '%s'", w);
	}
	if (t->t == TK_IDENT || t->t == TK_OP) {
		const char *w = t->t == TK_OP && t->s[0] == '!' ? t->s + 1 : t->s;
		int (*fn)(struct vg_kq *, const struct vg_tab *, struct vg_ex *,
			  const struct vg_tok *) = NULL;

		if (!strcmp(w, "between"))
			fn = vg_op_between;
		else if (t->t == TK_IDENT && (!strcmp(w, "has_any") || !strcmp(w, "has_all")))
			fn = vg_op_has_list;
		else if (t->t == TK_IDENT && !strcmp(w, "matches"))
			fn = vg_op_matches;
		if (fn) {
			k->pos++;
			if (fn(k, tab, x, t))
				return k->err;
			goto chained;
		}
	}
	if (!op)
		return 0;
	k->pos++;
	if (!strcmp(op, "in") || !strcmp(op, "in~") || !strcmp(op, "!in") || !strcmp(op, "!in~")) {
		if (vg_no_span(k, t, x))
			return k->err;
		return vg_in(k, tab, x, op);
	}
	if (op[0] == '!' && isalpha((unsigned char)op[1])) {
		neg = 1;
		base = op + 1;
	} else if (isalpha((unsigned char)op[0])) {
		base = op;
	}
	if (base) {
		size_t i, l = 0;

		for (i = 0; i < sizeof(vg_strops) / sizeof(vg_strops[0]); i++) {
			l = strlen(vg_strops[i]);
			if (!strncmp(base, vg_strops[i], l) &&
			    (!base[l] || !strcmp(base + l, "_cs")))
				break;
		}
		if (i == sizeof(vg_strops) / sizeof(vg_strops[0]))
			return vg_kq_fail(k, t, "unsupported operator '%s'", op);
		cs = base[l] != 0;
		base = vg_strops[i];
	}
	vg_ex_init(&r);
	if (vg_arith(k, tab, &r, 0) || vg_no_span(k, t, x) || vg_no_span(k, t, &r)) {
		vg_sb_free(&r.sql);
		return k->err;
	}
	vg_sb_init(&n);
	if (base) {
		vg_sb_printf(&n, "(%skql_%s(%s, %s, %d))", neg ? "NOT " : "", base,
			     vg_sb_str(&x->sql), vg_sb_str(&r.sql), cs);
	} else if (!strcmp(op, "==") || !strcmp(op, "!=")) {
		int eq = op[0] == '=';

		if (x->kind == K_STR || r.kind == K_STR)
			vg_sb_printf(&n, "(coalesce(%s, '') %s coalesce(%s, ''))",
				     vg_sb_str(&x->sql), eq ? "=" : "<>", vg_sb_str(&r.sql));
		else
			vg_sb_printf(&n, "(%s %s %s)", vg_sb_str(&x->sql), eq ? "IS" : "IS NOT",
				     vg_sb_str(&r.sql));
	} else if (!strcmp(op, "=~") || !strcmp(op, "!~")) {
		vg_sb_printf(&n, "(lower(coalesce(%s, '')) %s lower(coalesce(%s, '')))",
			     vg_sb_str(&x->sql), op[0] == '=' ? "=" : "<>", vg_sb_str(&r.sql));
	} else {
		vg_sb_printf(&n, "(%s %s %s)", vg_sb_str(&x->sql), op, vg_sb_str(&r.sql));
	}
	vg_sb_free(&x->sql);
	vg_sb_free(&r.sql);
	x->sql = n;
	x->kind = K_ANY;
	x->colname = NULL;
chained:
	t = vg_cur(k);
	if (t->t == TK_OP && (!strcmp(t->s, "==") || !strcmp(t->s, "!=") || !strcmp(t->s, "<") ||
			      !strcmp(t->s, ">") || !strcmp(t->s, "<=") || !strcmp(t->s, ">=")))
		return vg_kq_fail(k, t, "comparisons do not chain: use parentheses");
	return 0;
}

static int vg_binary(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x, int level)
{
	const char *word = level ? "and" : "or";

	if (level ? vg_compare(k, tab, x) : vg_binary(k, tab, x, 1))
		return k->err;
	while (vg_is_word(vg_cur(k), word)) {
		struct vg_tok *t = vg_cur(k);
		struct vg_ex r;
		struct vg_sb n;

		k->pos++;
		vg_ex_init(&r);
		if ((level ? vg_compare(k, tab, &r) : vg_binary(k, tab, &r, 1)) ||
		    vg_no_span(k, t, x) || vg_no_span(k, t, &r)) {
			vg_sb_free(&r.sql);
			return k->err;
		}
		vg_sb_init(&n);
		vg_sb_printf(&n, "(%s %s %s)", vg_sb_str(&x->sql), level ? "AND" : "OR",
			     vg_sb_str(&r.sql));
		vg_sb_free(&x->sql);
		vg_sb_free(&r.sql);
		x->sql = n;
		x->kind = K_ANY;
		x->colname = NULL;
	}
	return 0;
}

int vg_expr(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x)
{
	struct vg_tok *t = vg_cur(k);

	if (++k->depth > VG_KQL_MAX_DEPTH)
		return vg_kq_fail(k, t, "expression nested too deeply");
	vg_binary(k, tab, x, 0);
	k->depth--;
	if (!k->err && vg_sb_err(&x->sql))
		return vg_kq_oom(k);
	return k->err;
}

/* ---- tabular operators */

/*
 * One "[Name =] expr" item of project/extend/distinct/summarize by: the SQL
 * "expr AS "Name"" goes to sel, the name to cols. A bare column keeps its
 * name; anything else without a name becomes Column1, Column2, ...
 */
int vg_item(struct vg_kq *k, const struct vg_tab *in, struct vg_sb *sel, char ***cols, int *ncols,
	    int *auto_n)
{
	struct vg_tok *name = NULL, *start;
	char autoname[32];
	const char *nm;
	struct vg_ex x;

	if (vg_cur(k)->t == TK_IDENT && vg_is_op(vg_peek(k, 1), "=")) {
		name = vg_cur(k);
		k->pos += 2;
	}
	start = vg_cur(k);
	vg_ex_init(&x);
	if (vg_expr(k, in, &x) || vg_no_span(k, start, &x)) {
		vg_sb_free(&x.sql);
		return k->err;
	}
	if (name) {
		nm = name->s;
	} else if (x.colname) {
		nm = x.colname;
	} else {
		snprintf(autoname, sizeof(autoname), "Column%d", ++*auto_n);
		nm = autoname;
	}
	if (vg_cols_find(*cols, *ncols, nm) >= 0) {
		vg_sb_free(&x.sql);
		return vg_kq_fail(k, name ? name : start, "duplicate column name '%s'", nm);
	}
	vg_sb_printf(sel, "%s%s AS ", *ncols ? ", " : "", vg_sb_str(&x.sql));
	vg_sql_ident(sel, nm);
	vg_sb_free(&x.sql);
	return vg_cols_add(k, cols, ncols, nm);
}

/* project / distinct: a new column list. */
static int vg_op_project(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op, int distinct)
{
	struct vg_sb sel;
	char **cols = NULL;
	int ncols = 0, auto_n = 0;

	if (distinct && vg_accept_op(k, "*")) {
		vg_tab_wrap(t, "DISTINCT *", "");
		return 0;
	}
	if (vg_stage_end(vg_cur(k)))
		return vg_kq_fail(k, vg_cur(k), "%s needs at least one column", op->s);
	vg_sb_init(&sel);
	if (distinct)
		vg_sb_add(&sel, "DISTINCT ");
	do {
		if (vg_item(k, t, &sel, &cols, &ncols, &auto_n))
			break;
	} while (vg_accept_op(k, ","));
	if (!k->err && !vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a column of %s, found '%s'",
			   op->s, vg_cur(k)->s ? vg_cur(k)->s : "end of query");
	if (!k->err)
		vg_tab_rewrap(t, vg_sb_str(&sel), &cols, &ncols);
	vg_cols_free(cols, ncols);
	vg_sb_free(&sel);
	return k->err;
}

static int vg_op_extend(struct vg_kq *k, struct vg_tab *t)
{
	struct vg_sb sel, add;
	char **cols = NULL, **newc = NULL;
	int ncols = 0, nnew = 0, auto_n = 0;

	if (vg_stage_end(vg_cur(k)))
		return vg_kq_fail(k, vg_cur(k), "extend needs at least one column");
	vg_sb_init(&sel);
	vg_sb_init(&add);
	do {
		if (vg_item(k, t, &add, &newc, &nnew, &auto_n))
			break;
	} while (vg_accept_op(k, ","));
	if (!k->err && !vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a column of extend");
	if (!k->err) {
		/* Keep every old column, in place, unless a new one replaces it. */
		for (int i = 0; i < t->ncols && !k->err; i++) {
			if (vg_cols_find(newc, nnew, t->cols[i]) >= 0)
				continue;
			if (ncols)
				vg_sb_add(&sel, ", ");
			vg_sql_ident(&sel, t->cols[i]);
			vg_cols_add(k, &cols, &ncols, t->cols[i]);
		}
		if (ncols)
			vg_sb_add(&sel, ", ");
		vg_sb_add(&sel, vg_sb_str(&add));
		for (int i = 0; i < nnew && !k->err; i++)
			vg_cols_add(k, &cols, &ncols, newc[i]);
	}
	if (!k->err)
		vg_tab_rewrap(t, vg_sb_str(&sel), &cols, &ncols);
	vg_cols_free(cols, ncols);
	vg_cols_free(newc, nnew);
	vg_sb_free(&sel);
	vg_sb_free(&add);
	return k->err;
}

static int vg_op_summarize(struct vg_kq *k, struct vg_tab *t)
{
	struct vg_sb aggs, by, sel;
	char **acols = NULL, **bcols = NULL, **cols = NULL;
	int na = 0, nb = 0, nc = 0, auto_n = 0;
	struct vg_argmax am = { 0 };

	vg_sb_init(&am.sel);
	vg_sb_init(&aggs);
	vg_sb_init(&by);
	vg_sb_init(&sel);
	while (!vg_is_word(vg_cur(k), "by") && !vg_stage_end(vg_cur(k))) {
		struct vg_tok *name = NULL, *f;
		struct vg_ex a[2];
		char nm[160];
		int n;

		if ((na || am.at) && vg_expect_op(k, ",", "between aggregations"))
			break;
		if (vg_cur(k)->t == TK_IDENT && vg_is_op(vg_peek(k, 1), "=")) {
			name = vg_cur(k);
			k->pos += 2;
		}
		f = vg_cur(k);
		if (f->t != TK_IDENT || !vg_is_op(vg_peek(k, 1), "(")) {
			vg_kq_fail(k, f, "expected an aggregation such as count() in summarize");
			break;
		}
		if (!vg_is_agg(f->s)) {
			vg_kq_fail(k, f, "unsupported aggregation '%s'", f->s);
			break;
		}
		if (name && !strncmp(f->s, "arg_m", 5)) {
			vg_kq_fail(k, name, "%s() names its own columns: drop '%s ='", f->s,
				   name->s);
			break;
		}
		if (am.at || (na && !strncmp(f->s, "arg_m", 5))) {
			vg_kq_fail(k, f, "%s() must be the only aggregation of its summarize",
				   am.at ? am.at->s : f->s);
			break;
		}
		k->pos++;
		if (!strncmp(f->s, "arg_m", 5)) {
			if (vg_argmax_parse(k, t, f, &am))
				break;
			continue;
		}
		n = vg_args(k, t, a, 2);
		if (n < 0)
			break;
		if (n != (strcmp(f->s, "count") ? 1 : 0)) {
			vg_args_free(a, n);
			vg_kq_fail(k, f, "%s() takes %s", f->s,
				   strcmp(f->s, "count") ? "one argument" : "no arguments");
			break;
		}
		if (name)
			snprintf(nm, sizeof(nm), "%s", name->s);
		else if (!strcmp(f->s, "count") || !strcmp(f->s, "countif"))
			snprintf(nm, sizeof(nm), "%s_", f->s);
		else if (!strncmp(f->s, "make_", 5)) /* Kusto: set_X, list_X */
			snprintf(nm, sizeof(nm), "%s_%s", f->s + 5,
				 a[0].colname ? a[0].colname : "");
		else if (a[0].colname)
			snprintf(nm, sizeof(nm), "%s_%s", f->s, a[0].colname);
		else
			snprintf(nm, sizeof(nm), "%s_", f->s);
		if (vg_cols_find(acols, na, nm) >= 0) {
			vg_args_free(a, n);
			vg_kq_fail(k, name ? name : f, "duplicate column name '%s'", nm);
			break;
		}
		vg_sb_add(&aggs, na ? ", " : "");
		if (!strcmp(f->s, "count"))
			vg_sb_add(&aggs, "count(*)");
		else if (!strcmp(f->s, "countif"))
			vg_sb_printf(&aggs, "sum(CASE WHEN %s THEN 1 ELSE 0 END)",
				     vg_sb_str(&a[0].sql));
		else if (!strcmp(f->s, "dcount"))
			vg_sb_printf(&aggs, "count(DISTINCT %s)", vg_sb_str(&a[0].sql));
		else if (!strncmp(f->s, "make_", 5))
			k->dl->list_agg(&aggs, vg_sb_str(&a[0].sql), !strcmp(f->s, "make_set"));
		else
			vg_sb_printf(&aggs, "%s(%s)", f->s, vg_sb_str(&a[0].sql));
		vg_sb_add(&aggs, " AS ");
		vg_sql_ident(&aggs, nm);
		vg_args_free(a, n);
		vg_cols_add(k, &acols, &na, nm);
	}
	if (!k->err && vg_is_word(vg_cur(k), "by")) {
		k->pos++;
		if (vg_stage_end(vg_cur(k)))
			vg_kq_fail(k, vg_cur(k), "summarize ... by needs at least one column");
		while (!k->err) {
			if (vg_item(k, t, &by, &bcols, &nb, &auto_n))
				break;
			if (!vg_accept_op(k, ","))
				break;
		}
	}
	if (!k->err && !vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "expected ',', 'by' or '|' in summarize");
	if (!k->err && !na && !nb && !am.at)
		vg_kq_fail(k, vg_cur(k), "summarize needs an aggregation or a by clause");
	if (!k->err && am.at) {
		vg_argmax_finish(k, t, &am, vg_sb_str(&by), bcols, nb);
		goto out;
	}
	for (int i = 0; i < na && !k->err; i++)
		if (vg_cols_find(bcols, nb, acols[i]) >= 0)
			vg_kq_fail(k, vg_cur(k), "duplicate column name '%s'", acols[i]);
	if (!k->err) {
		struct vg_sb tail;

		vg_sb_init(&tail);
		vg_sb_add(&sel, vg_sb_str(&by));
		if (nb && na)
			vg_sb_add(&sel, ", ");
		vg_sb_add(&sel, vg_sb_str(&aggs));
		if (nb) {
			vg_sb_add(&tail, " GROUP BY ");
			for (int i = 1; i <= nb; i++)
				vg_sb_printf(&tail, "%s%d", i > 1 ? ", " : "", i);
		}
		vg_tab_wrap(t, vg_sb_str(&sel), vg_sb_str(&tail));
		vg_sb_free(&tail);
		for (int i = 0; i < nb && !k->err; i++)
			vg_cols_add(k, &cols, &nc, bcols[i]);
		for (int i = 0; i < na && !k->err; i++)
			vg_cols_add(k, &cols, &nc, acols[i]);
		vg_cols_free(t->cols, t->ncols);
		t->cols = cols;
		t->ncols = nc;
		cols = NULL;
	}
out:
	vg_argmax_free(&am);
	vg_cols_free(cols, nc);
	vg_cols_free(acols, na);
	vg_cols_free(bcols, nb);
	vg_sb_free(&aggs);
	vg_sb_free(&by);
	vg_sb_free(&sel);
	return k->err;
}

/* "e [asc|desc] [nulls first|last], ..." into " ORDER BY ..." */
static int vg_order_list(struct vg_kq *k, struct vg_tab *t, struct vg_sb *ord)
{
	vg_sb_add(ord, " ORDER BY ");
	do {
		struct vg_tok *st = vg_cur(k);
		struct vg_ex x;
		int desc = 1;

		vg_ex_init(&x);
		if (vg_expr(k, t, &x) || vg_no_span(k, st, &x)) {
			vg_sb_free(&x.sql);
			return k->err;
		}
		if (vg_is_word(vg_cur(k), "asc")) {
			desc = 0;
			k->pos++;
		} else if (vg_is_word(vg_cur(k), "desc")) {
			k->pos++;
		}
		vg_sb_printf(ord, "%s%s %s", ord->len > 10 ? ", " : "", vg_sb_str(&x.sql),
			     desc ? "DESC" : "ASC");
		vg_sb_free(&x.sql);
		if (vg_is_word(vg_cur(k), "nulls")) {
			k->pos++;
			if (vg_is_word(vg_cur(k), "first") || vg_is_word(vg_cur(k), "last")) {
				vg_sb_printf(ord, " NULLS %s",
					     vg_cur(k)->s[0] == 'f' ? "FIRST" : "LAST");
				k->pos++;
			} else {
				return vg_kq_fail(k, vg_cur(k),
						  "expected 'first' or 'last' after nulls");
			}
		}
	} while (vg_accept_op(k, ","));
	if (!vg_stage_end(vg_cur(k)))
		return vg_kq_fail(k, vg_cur(k), "expected ',', asc, desc or '|' in the sort list");
	return 0;
}

/* The row count of take/limit/top: a non-negative integer or a scalar let holding one. */
static int vg_count_arg(struct vg_kq *k, const char *opname, struct vg_sb *out)
{
	struct vg_tok *t = vg_cur(k);
	struct vg_let *l = t->t == TK_IDENT ? vg_let_find(k, t->s) : NULL;

	if (t->t == TK_NUM && !strchr(t->s, '.')) {
		vg_sb_add(out, t->s);
	} else if (l && !l->tabular && l->kind == K_NUM) {
		vg_sb_printf(out, "(%s)", l->sql);
	} else {
		return vg_kq_fail(k, t, "%s needs a row count (a whole number)", opname);
	}
	k->pos++;
	return 0;
}

static int vg_operator(struct vg_kq *k, struct vg_tab *t)
{
	struct vg_tok *op = vg_cur(k);
	char name[64];

	if (op->t != TK_IDENT) {
		const char *d = vg_tok_desc(op);

		if (d)
			return vg_kq_fail(k, op, "expected an operator after '|', found %s", d);
		return vg_kq_fail(k, op, "expected an operator after '|', found '%s'", op->s);
	}
	vg_dashed_word(k, name, sizeof(name));
	if (!strcmp(name, "where")) {
		struct vg_ex x;
		struct vg_sb tail;

		if (vg_stage_end(vg_cur(k)))
			return vg_kq_fail(k, vg_cur(k), "where needs a condition");
		vg_ex_init(&x);
		vg_sb_init(&tail);
		if (!vg_expr(k, t, &x) && !vg_no_span(k, op, &x)) {
			if (!vg_stage_end(vg_cur(k)))
				vg_kq_fail(k, vg_cur(k),
					   "unexpected '%s' after the where condition",
					   vg_cur(k)->s);
			vg_sb_printf(&tail, " WHERE %s", vg_sb_str(&x.sql));
			vg_tab_wrap(t, "*", vg_sb_str(&tail));
		}
		vg_sb_free(&x.sql);
		vg_sb_free(&tail);
		return k->err;
	}
	if (!strcmp(name, "project"))
		return vg_op_project(k, t, op, 0);
	if (!strcmp(name, "distinct"))
		return vg_op_project(k, t, op, 1);
	if (!strcmp(name, "extend"))
		return vg_op_extend(k, t);
	if (!strcmp(name, "summarize"))
		return vg_op_summarize(k, t);
	if (!strcmp(name, "sort") || !strcmp(name, "order")) {
		struct vg_sb ord;

		if (!vg_is_word(vg_cur(k), "by"))
			return vg_kq_fail(k, vg_cur(k), "expected 'by' after %s", name);
		k->pos++;
		vg_sb_init(&ord);
		if (!vg_order_list(k, t, &ord))
			vg_tab_wrap(t, "*", vg_sb_str(&ord));
		vg_sb_free(&ord);
		return k->err;
	}
	if (!strcmp(name, "take") || !strcmp(name, "limit")) {
		struct vg_sb tail;

		vg_sb_init(&tail);
		vg_sb_add(&tail, " LIMIT ");
		if (!vg_count_arg(k, name, &tail)) {
			if (!vg_stage_end(vg_cur(k)))
				vg_kq_fail(k, vg_cur(k), "unexpected '%s' after %s", vg_cur(k)->s,
					   name);
			else
				vg_tab_wrap(t, "*", vg_sb_str(&tail));
		}
		vg_sb_free(&tail);
		return k->err;
	}
	if (!strcmp(name, "top")) {
		struct vg_sb n, tail;

		vg_sb_init(&n);
		vg_sb_init(&tail);
		if (!vg_count_arg(k, name, &n)) {
			if (!vg_is_word(vg_cur(k), "by"))
				vg_kq_fail(k, vg_cur(k), "expected 'by' after top N");
			else {
				k->pos++;
				if (!vg_order_list(k, t, &tail)) {
					vg_sb_printf(&tail, " LIMIT %s", vg_sb_str(&n));
					vg_tab_wrap(t, "*", vg_sb_str(&tail));
				}
			}
		}
		vg_sb_free(&n);
		vg_sb_free(&tail);
		return k->err;
	}
	if (!strcmp(name, "count")) {
		if (!vg_stage_end(vg_cur(k)))
			return vg_kq_fail(k, vg_cur(k), "unexpected '%s' after count",
					  vg_cur(k)->s);
		vg_tab_wrap(t, "count(*) AS \"Count\"", "");
		vg_cols_free(t->cols, t->ncols);
		t->cols = NULL;
		t->ncols = 0;
		return vg_cols_add(k, &t->cols, &t->ncols, "Count");
	}
	if (!strcmp(name, "join"))
		return vg_op_join(k, t, op);
	if (!strcmp(name, "union"))
		return vg_op_union(k, t, op);
	if (!strcmp(name, "project-away"))
		return vg_op_project_away(k, t, op);
	if (!strcmp(name, "project-rename"))
		return vg_op_project_rename(k, t, op);
	if (vg_is_unsupported(name))
		return vg_kq_fail(k, op, "unsupported operator '%s'", name);
	return vg_kq_fail(k, op, "unknown operator '%s'", name);
}

/*
 * The source of a tabular expression: a table, a tabular let or a union,
 * without the pipes after it (join's and union's operands stop there).
 */
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
		if (bounded) {
			vg_sb_add(&t->sql, "SELECT rowid AS \"_rid\", * FROM ");
			vg_sql_ident(&t->sql, src->s);
			vg_sb_add(&t->sql, " WHERE rowid > ?1 AND rowid <= ?2");
			free(k->main_source);
			k->main_source = strdup(src->s);
		} else {
			vg_sb_add(&t->sql, "SELECT * FROM ");
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

int vg_kql_translate(sqlite3 *db, const char *text, int flags, struct vg_kql_query *q,
		     struct vg_kql_error *e)
{
	struct vg_kq k = { .db = db, .flags = flags, .e = e, .dl = &vg_kql_sqlite };
	struct vg_tab main = { 0 };
	int have_main = 0;

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

void vg_kql_query_free(struct vg_kql_query *q)
{
	free(q->sql);
	vg_cols_free(q->cols, q->ncols);
	free(q->source);
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

/* ---- SQL functions: Kusto's string operators */

static int vg_lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int vg_eqn(const char *a, const char *b, size_t n, int cs)
{
	for (size_t i = 0; i < n; i++)
		if (cs ? a[i] != b[i] : vg_lc((unsigned char)a[i]) != vg_lc((unsigned char)b[i]))
			return 0;
	return 1;
}

enum { VG_F_HAS, VG_F_CONTAINS, VG_F_STARTS, VG_F_ENDS };

/*
 * Kusto's has matches whole terms: runs of letters and digits. A needle that
 * is itself several terms must appear with term boundaries at both ends.
 */
static int vg_has(const char *h, size_t hl, const char *n, size_t nl, int cs)
{
	if (!nl)
		return 1;
	for (size_t i = 0; i + nl <= hl; i++) {
		if (!vg_eqn(h + i, n, nl, cs))
			continue;
		if (i && isalnum((unsigned char)h[i - 1]) && isalnum((unsigned char)n[0]))
			continue;
		if (i + nl < hl && isalnum((unsigned char)h[i + nl]) &&
		    isalnum((unsigned char)n[nl - 1]))
			continue;
		return 1;
	}
	return 0;
}

static void vg_sql_strop(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int which = (int)(long)sqlite3_user_data(ctx);
	const char *h = (const char *)sqlite3_value_text(argv[0]);
	const char *n = (const char *)sqlite3_value_text(argv[1]);
	size_t hl = h ? (size_t)sqlite3_value_bytes(argv[0]) : 0;
	size_t nl = n ? (size_t)sqlite3_value_bytes(argv[1]) : 0;
	int cs = sqlite3_value_int(argv[2]), r = 0;

	if (!h)
		h = "";
	if (!n)
		n = "";
	switch (which) {
	case VG_F_HAS:
		r = vg_has(h, hl, n, nl, cs);
		break;
	case VG_F_CONTAINS:
		for (size_t i = 0; !r && i + nl <= hl; i++)
			r = vg_eqn(h + i, n, nl, cs);
		break;
	case VG_F_STARTS:
		r = nl <= hl && vg_eqn(h, n, nl, cs);
		break;
	case VG_F_ENDS:
		r = nl <= hl && vg_eqn(h + hl - nl, n, nl, cs);
		break;
	}
	sqlite3_result_int(ctx, r);
}

int vg_kql_register(sqlite3 *db)
{
	static const char *const names[] = { "kql_has", "kql_contains", "kql_startswith",
					     "kql_endswith" };

	for (long i = 0; i < 4; i++) {
		int rc =
			sqlite3_create_function(db, names[i], 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
						(void *)i, vg_sql_strop, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	return vg_kql_register_ops(db);
}
