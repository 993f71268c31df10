// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL scalar functions (the table of them and the calls) and the operators
 * Kusto writes as words: between, has_any/has_all, matches regex, bin() and
 * datetime +/- timespan. SQL that differs between databases goes through
 * the dialect table (k->dl).
 */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

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
	{ "ipv4_is_in_range", 2, NULL },
	{ "floor", 2, NULL },
};

/*
 * A literal IPv4 range ("10.0.0.0/8", or one address) as a regular
 * expression over dotted-quad text: each octet the prefix fixes is its
 * number, one it fixes in part the alternation of its numbers, the rest any
 * octet. Both dialects run it as they run `matches regex`. 0 or -EINVAL.
 */
int vg_ipv4_range_re(const char *s, struct vg_sb *re)
{
	static const char any[] = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
	unsigned int o[4], bits = 32;
	int n = 0;

	if (sscanf(s, "%3u.%3u.%3u.%3u%n", &o[0], &o[1], &o[2], &o[3], &n) != 4 ||
	    !isdigit((unsigned char)*s))
		return -EINVAL;
	if (s[n] == '/') {
		const char *b = s + n + 1;
		char *end;

		if (!isdigit((unsigned char)*b))
			return -EINVAL;
		bits = (unsigned int)strtoul(b, &end, 10);
		if (*end || end - b > 2 || bits > 32)
			return -EINVAL;
	} else if (s[n]) {
		return -EINVAL;
	}
	vg_sb_add(re, "^");
	for (int i = 0; i < 4; i++) {
		unsigned int fixed = bits > 8u * i ? bits - 8u * i : 0, lo, hi;

		if (o[i] > 255)
			return -EINVAL;
		if (fixed > 8)
			fixed = 8;
		lo = fixed ? o[i] & (0xffu << (8 - fixed)) & 0xff : 0;
		hi = lo | (0xffu >> fixed);
		vg_sb_add(re, i ? "[.]" : "");
		if (fixed == 0) {
			vg_sb_add(re, any);
		} else if (lo == hi) {
			vg_sb_printf(re, "%u", lo);
		} else {
			vg_sb_add(re, "(");
			for (unsigned int v = lo; v <= hi; v++)
				vg_sb_printf(re, "%s%u", v > lo ? "|" : "", v);
			vg_sb_add(re, ")");
		}
	}
	vg_sb_add(re, "$");
	return 0;
}

/* ipv4_is_in_range(x, "a.b.c.d/n"): the range must be a literal, checked here. */
static int vg_fn_ipv4_range(struct vg_kq *k, struct vg_tok *name, struct vg_ex *a, struct vg_ex *x)
{
	const struct vg_tok *lit = vg_cur(k) - 2;
	struct vg_sb re, re_sql;
	char err[200];

	if (lit->t != TK_STR || !vg_is_op(lit - 1, ","))
		return vg_kq_fail(k, name,
				  "ipv4_is_in_range() takes its range as a string literal");
	vg_sb_init(&re);
	vg_sb_init(&re_sql);
	if (vg_ipv4_range_re(lit->s, &re))
		vg_kq_fail(k, lit, "'%s' is not an IPv4 address or range such as 10.0.0.0/8",
			   lit->s);
	else if (vg_sb_err(&re))
		vg_kq_oom(k);
	else {
		vg_sql_str(&re_sql, vg_sb_str(&re));
		if (k->dl->regex(&x->sql, vg_sb_str(&a[0].sql), vg_sb_str(&re_sql), vg_sb_str(&re),
				 err, sizeof(err)))
			vg_kq_fail(k, lit, "%s", err);
	}
	vg_sb_free(&re);
	vg_sb_free(&re_sql);
	return k->err;
}

int vg_call(struct vg_kq *k, const struct vg_tab *tab, struct vg_tok *name, struct vg_ex *x)
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
		const char *s[3], *sql = k->dl->fn(f, fn->sql);

		if (!sql) {
			vg_args_free(a, n);
			return vg_kq_fail(k, name, "%s() is not available on %s", f, k->dl->name);
		}
		for (int i = 0; i < 3; i++)
			s[i] = fn->idx[i] < n ? A(fn->idx[i]) : "";
		vg_sb_printf(&x->sql, sql, s[0], s[1], s[2]);
		x->json = !strcmp(f, "extract_json") || !strcmp(f, "extractjson");
	} else if (!strcmp(f, "strcat")) {
		vg_sb_add(&x->sql, "(");
		for (int i = 0; i < n; i++)
			vg_sb_printf(&x->sql, "%scoalesce(CAST(%s AS TEXT), '')", i ? " || " : "",
				     A(i));
		vg_sb_add(&x->sql, ")");
	} else if (!strcmp(f, "ipv4_is_in_range")) {
		vg_fn_ipv4_range(k, name, a, x);
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

/* ---- scalar operators and functions */

static int vg_replace(struct vg_kq *k, struct vg_ex *x, struct vg_sb *n, enum vg_kind kind)
{
	vg_sb_free(&x->sql);
	x->sql = *n;
	x->kind = kind;
	x->colname = NULL;
	return vg_sb_err(&x->sql) ? vg_kq_oom(k) : 0;
}

/* bin(x, 10) rounds a number down; bin(Timestamp, 1h) a datetime. floor() is the same. */
int vg_fn_bin(struct vg_kq *k, const struct vg_tok *name, struct vg_ex *a, int n, struct vg_ex *x)
{
	(void)n;
	if (vg_no_span(k, name, &a[0]))
		return k->err;
	if (a[1].kind == K_SPAN) {
		if (a[1].span < 0.001)
			return vg_kq_fail(k, name, "%s() needs a timespan of at least 1ms",
					  name->s);
		k->dl->time_bin(&x->sql, vg_sb_str(&a[0].sql), a[1].span);
		x->kind = K_TIME;
		x->colname = a[0].colname; /* by bin(Timestamp, 1h) is named Timestamp */
		return 0;
	}
	if (a[1].kind == K_STR || a[1].kind == K_LIST || a[1].kind == K_TIME)
		return vg_kq_fail(k, name, "%s() rounds to a number or a timespan", name->s);
	k->dl->num_bin(&x->sql, vg_sb_str(&a[0].sql), vg_sb_str(&a[1].sql));
	x->kind = K_NUM;
	x->colname = a[0].colname;
	return 0;
}

/* a + 1h, a - 1h, 1h + a, 1h + 30m (x op r, into x) */
int vg_time_arith(struct vg_kq *k, const struct vg_tok *op, struct vg_ex *x, struct vg_ex *r)
{
	int plus = vg_is_op(op, "+");
	struct vg_sb n;

	if (x->kind == K_SPAN && r->kind == K_SPAN) {
		vg_sb_init(&n);
		x->span = plus ? x->span + r->span : x->span - r->span;
		vg_sb_printf(&n, "%.3f", x->span);
		return vg_replace(k, x, &n, K_SPAN);
	}
	if (x->kind == K_SPAN && plus && (r->kind == K_TIME || r->kind == K_ANY)) {
		vg_sb_init(&n);
		k->dl->time_add(&n, vg_sb_str(&r->sql), x->span);
		return vg_replace(k, x, &n, K_TIME);
	}
	if (r->kind == K_SPAN && (x->kind == K_TIME || x->kind == K_ANY)) {
		vg_sb_init(&n);
		k->dl->time_add(&n, vg_sb_str(&x->sql), plus ? r->span : -r->span);
		return vg_replace(k, x, &n, K_TIME);
	}
	return vg_kq_fail(k, op, "a timespan is added to or subtracted from a datetime only");
}

/* x between (lo .. hi), x !between (...); hi may be a timespan after lo. */
int vg_op_between(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		  const struct vg_tok *op)
{
	struct vg_ex lo, hi;
	struct vg_tok *ht;
	struct vg_sb n;

	vg_ex_init(&lo);
	vg_ex_init(&hi);
	vg_sb_init(&n);
	if (vg_no_span(k, op, x) || vg_expect_op(k, "(", "after between") || vg_expr(k, tab, &lo) ||
	    vg_no_span(k, op, &lo) || vg_expect_op(k, "..", "between the bounds of between"))
		goto out;
	ht = vg_cur(k);
	if (vg_expr(k, tab, &hi) || vg_expect_op(k, ")", "to close between (...)"))
		goto out;
	if (hi.kind == K_SPAN) {
		struct vg_sb h;

		if (lo.kind != K_TIME && lo.kind != K_ANY) {
			vg_kq_fail(k, ht, "a timespan upper bound needs a datetime lower bound");
			goto out;
		}
		vg_sb_init(&h);
		k->dl->time_add(&h, vg_sb_str(&lo.sql), hi.span);
		vg_sb_free(&hi.sql);
		hi.sql = h;
		hi.kind = K_TIME;
	}
	if (vg_no_span(k, ht, &hi))
		goto out;
	vg_sb_printf(&n,
		     op->s[0] == '!' ? "((%s >= %s AND %s <= %s) %s)" : "(%s >= %s AND %s <= %s)",
		     vg_sb_str(&x->sql), vg_sb_str(&lo.sql), vg_sb_str(&x->sql), vg_sb_str(&hi.sql),
		     k->dl->not_true);
	vg_replace(k, x, &n, K_ANY);
	vg_sb_init(&n);
out:
	vg_sb_free(&lo.sql);
	vg_sb_free(&hi.sql);
	vg_sb_free(&n);
	return k->err;
}

/* x has_any ("a", "b"), x has_all (list): Kusto's term match against any/all elements. */
int vg_op_has_list(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		   const struct vg_tok *op)
{
	int all = !strcmp(op->s, "has_all");
	char **elems = NULL;
	int ne = 0;
	struct vg_sb list, n;

	vg_sb_init(&list);
	vg_sb_init(&n);
	if (vg_no_span(k, op, x) || vg_expect_op(k, "(", "after has_any/has_all"))
		goto out;
	while (!k->err && !vg_accept_op(k, ")")) {
		struct vg_tok *et;
		struct vg_ex e;

		if (ne && vg_expect_op(k, ",", "or ')' in the list"))
			break;
		et = vg_cur(k);
		vg_ex_init(&e);
		if (!vg_expr(k, tab, &e)) {
			if (e.kind == K_LIST && !ne && vg_is_op(vg_cur(k), ")")) {
				k->pos++;
				vg_sb_add(&list, vg_sb_str(&e.sql));
				vg_sb_free(&e.sql);
				break;
			}
			if (e.kind == K_LIST)
				vg_kq_fail(k, et,
					   "a dynamic list must be the only element of %s (...)",
					   op->s);
			else if (!vg_no_span(k, et, &e))
				vg_elems_add(k, &elems, &ne, vg_sb_str(&e.sql));
		}
		vg_sb_free(&e.sql);
	}
	if (k->err)
		goto out;
	if (!list.len)
		vg_list_sql(&list, elems, ne);
	/* any: some element is a term of x; all: no element is not */
	vg_sb_printf(&n, "(%sEXISTS (SELECT 1 FROM (%s) AS \"kql_list\" WHERE %s",
		     all ? "NOT " : "", vg_sb_str(&list), all ? "NOT " : "");
	k->dl->strop(&n, "has", vg_sb_str(&x->sql), "\"kql_list\".\"kql_v\"", 0);
	vg_sb_add(&n, "))");
	vg_replace(k, x, &n, K_ANY);
	vg_sb_init(&n);
out:
	vg_cols_free(elems, ne);
	vg_sb_free(&list);
	vg_sb_free(&n);
	return k->err;
}

/* ---- regular expressions */

/* x matches regex "re": a literal pattern is compiled now, so its mistakes have a position. */
int vg_op_matches(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		  const struct vg_tok *op)
{
	struct vg_tok *rt;
	struct vg_ex r;
	struct vg_sb n;

	if (!vg_is_word(vg_cur(k), "regex"))
		return vg_kq_fail(k, vg_cur(k), "expected 'regex' after matches");
	k->pos++;
	rt = vg_cur(k);
	vg_ex_init(&r);
	vg_sb_init(&n);
	if (!vg_no_span(k, op, x) && !vg_arith(k, tab, &r, 0) && !vg_no_span(k, rt, &r)) {
		if (rt->t == TK_STR && vg_cur(k) == rt + 1) {
			char err[200];
			regex_t rx;

			if (vg_re_compile(rt->s, &rx, err, sizeof(err)))
				vg_kq_fail(k, rt, "%s", err);
			else
				regfree(&rx);
		}
		if (!k->err) {
			const char *lit = rt->t == TK_STR && vg_cur(k) == rt + 1 ? rt->s : NULL;
			char err[200];

			if (k->dl->regex(&n, vg_sb_str(&x->sql), vg_sb_str(&r.sql), lit, err,
					 sizeof(err))) {
				vg_kq_fail(k, rt, "%s", err);
			} else {
				vg_replace(k, x, &n, K_ANY);
				vg_sb_init(&n); /* x has it now, even out of memory */
			}
		}
	}
	vg_sb_free(&r.sql);
	vg_sb_free(&n);
	return k->err;
}
