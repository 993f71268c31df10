// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL scalar expressions: the precedence levels (or, and, comparisons,
 * in, arithmetic, unary), primaries and the datetime(...) and dynamic([...])
 * literals. Each expression becomes SQL text and a known kind (vg_ex).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

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
		vg_sb_add(&x->sql, t->s[0] == 't' ? k->dl->true_sql : k->dl->false_sql);
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
		x->json = 0;
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
				vg_sb_printf(&n, "%s FROM (%s)%s", ci ? ")" : "",
					     vg_sb_str(&sub.sql), k->dl->sub);
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
						     ci ? "SELECT lower(\"kql_v\") FROM (%s)%s" :
							  "SELECT \"kql_v\" FROM (%s)%s",
						     vg_sb_str(&e.sql), k->dl->sub);
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
		vg_sb_printf(&m, "(%s %s)", vg_sb_str(&n), k->dl->not_true);
		vg_sb_free(&n);
		n = m;
	}
	vg_sb_free(&x->sql);
	x->sql = n;
	x->kind = K_ANY;
	x->colname = NULL;
	x->json = 0;
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
		vg_sb_printf(&n, "(%s", neg ? "NOT " : "");
		k->dl->strop(&n, base, vg_sb_str(&x->sql), vg_sb_str(&r.sql), cs);
		vg_sb_add(&n, ")");
	} else if (!strcmp(op, "==") || !strcmp(op, "!=")) {
		int eq = op[0] == '=';

		if (k->dl->json_eq && (x->json || r.json) && x->kind != K_STR && r.kind != K_STR)
			k->dl->json_eq(&n, vg_sb_str(x->json ? &x->sql : &r.sql),
				       vg_sb_str(x->json ? &r.sql : &x->sql), eq);
		else if (x->kind == K_STR || r.kind == K_STR)
			vg_sb_printf(&n, "(coalesce(%s, '') %s coalesce(%s, ''))",
				     vg_sb_str(&x->sql), eq ? "=" : "<>", vg_sb_str(&r.sql));
		else
			vg_sb_printf(&n, "(%s %s %s)", vg_sb_str(&x->sql),
				     eq ? k->dl->is : k->dl->is_not, vg_sb_str(&r.sql));
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
	x->json = 0;
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
		x->json = 0;
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

/* ---- literals: datetime(...), dynamic([...]) */

static int vg_digits(const char *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

/* "2026-01-31", "2026-01-31 12:00", "2026-01-31T12:00:00.5Z" -> "2026-01-31T12:00:00.500Z" */
static int vg_parse_datetime(const char *s, char *out, size_t size)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	const char *p = s;

	if (vg_digits(p, 4, &y) || p[4] != '-' || vg_digits(p + 5, 2, &mo) || p[7] != '-' ||
	    vg_digits(p + 8, 2, &d))
		return -1;
	p += 10;
	if (*p == 'T' || *p == ' ') {
		if (vg_digits(p + 1, 2, &h) || p[3] != ':' || vg_digits(p + 4, 2, &mi))
			return -1;
		p += 6;
		if (*p == ':') {
			if (vg_digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			if (*p == '.') {
				int nd = 0;

				for (p++; *p >= '0' && *p <= '9'; p++, nd++)
					if (nd < 3)
						ms = ms * 10 + (*p - '0');
				if (!nd || nd > 7)
					return -1;
				for (; nd < 3; nd++)
					ms *= 10;
			}
		}
	}
	if (*p == 'Z')
		p++;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
		return -1;
	if (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400)))
		return -1;
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
	return 0;
}

/* The SQL of a list: one column "kql_v", a row per element. */
void vg_list_sql(struct vg_sb *b, char **elems, int n)
{
	if (!n) {
		vg_sb_add(b, "SELECT NULL AS \"kql_v\" WHERE 1 = 0");
		return;
	}
	vg_sb_add(b, "SELECT \"column1\" AS \"kql_v\" FROM (VALUES ");
	for (int i = 0; i < n; i++)
		vg_sb_printf(b, "%s(%s)", i ? ", " : "", elems[i]);
	vg_sb_add(b, ") AS \"kql_vals\"");
}

int vg_literal_fn(struct vg_kq *k, struct vg_ex *x)
{
	struct vg_tok *f = vg_cur(k), *v;

	k->pos++;
	if (vg_expect_op(k, "(", "after the function name"))
		return k->err;
	v = vg_cur(k);
	if (!strcmp(f->s, "datetime")) {
		char iso[40];

		if (v->t != TK_STR || vg_parse_datetime(v->s, iso, sizeof(iso)))
			return vg_kq_fail(k, v, "expected a datetime such as 2026-01-31T12:00:00Z");
		k->pos++;
		vg_sql_str(&x->sql, iso);
		x->kind = K_TIME;
	} else { /* dynamic([...]) */
		char **elems = NULL;
		int n = 0;

		if (vg_expect_op(k, "[", "in dynamic(): only lists dynamic([...]) are supported"))
			return k->err;
		while (!k->err && !vg_accept_op(k, "]")) {
			struct vg_tok *e = vg_cur(k);
			struct vg_sb s;

			vg_sb_init(&s);
			if (n && vg_expect_op(k, ",", "or ']' between list elements"))
				break;
			e = vg_cur(k);
			if (e->t == TK_STR) {
				vg_sql_str(&s, e->s);
			} else if (e->t == TK_NUM) {
				vg_sb_add(&s, e->s);
			} else if (vg_is_op(e, "-") && vg_peek(k, 1)->t == TK_NUM) {
				k->pos++;
				vg_sb_printf(&s, "-%s", vg_cur(k)->s);
			} else {
				vg_sb_free(&s);
				vg_kq_fail(k, e, "a dynamic list holds strings and numbers");
				break;
			}
			k->pos++;
			if (vg_sb_err(&s))
				vg_kq_oom(k);
			else
				vg_elems_add(k, &elems, &n, vg_sb_str(&s));
			vg_sb_free(&s);
		}
		if (!k->err)
			vg_list_sql(&x->sql, elems, n);
		vg_cols_free(elems, n);
		x->kind = K_LIST;
	}
	if (k->err || vg_expect_op(k, ")", "to close the literal"))
		return k->err;
	return vg_sb_err(&x->sql) ? vg_kq_oom(k) : 0;
}
