// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL tabular operators on one table: where, project, distinct, extend,
 * summarize (with arg_max/arg_min, make_set/make_list), sort/order, take,
 * top, count, project-away, project-rename. Each wraps the stage so far in
 * "SELECT ... FROM (...)" and sets its columns. join and union: kql_join.c.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

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
		vg_tab_wrap(k, t, "DISTINCT *", "");
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
		vg_tab_rewrap(k, t, vg_sb_str(&sel), &cols, &ncols);
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
		vg_tab_rewrap(k, t, vg_sb_str(&sel), &cols, &ncols);
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
			k->dl->list_agg(
				&aggs, vg_sb_str(&a[0].sql), !strcmp(f->s, "make_set"),
				a[0].kind == K_TIME ||
					(a[0].colname && !strcmp(a[0].colname, "Timestamp")));
		else if (!strcmp(f->s, "avg"))
			vg_sb_printf(&aggs, k->dl->avg, vg_sb_str(&a[0].sql));
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
		vg_tab_wrap(k, t, vg_sb_str(&sel), vg_sb_str(&tail));
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
		if (!vg_is_word(vg_cur(k), "nulls") && k->dl->nulls_explicit) {
			/* Kusto's (and SQLite's) default: nulls sort below everything */
			vg_sb_add(ord, desc ? " NULLS LAST" : " NULLS FIRST");
		} else if (vg_is_word(vg_cur(k), "nulls")) {
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

int vg_operator(struct vg_kq *k, struct vg_tab *t)
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
			vg_tab_wrap(k, t, "*", vg_sb_str(&tail));
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
			vg_tab_wrap(k, t, "*", vg_sb_str(&ord));
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
				vg_tab_wrap(k, t, "*", vg_sb_str(&tail));
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
					vg_tab_wrap(k, t, "*", vg_sb_str(&tail));
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
		vg_tab_wrap(k, t, "count(*) AS \"Count\"", "");
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

/* ---- project-away, project-rename */

/* Select cols (renamed to names[i] when names) from t. */
static int vg_reselect(struct vg_kq *k, struct vg_tab *t, char **keep, char **names, int n)
{
	struct vg_sb sel;
	char **cols = NULL;
	int ncols = 0;

	vg_sb_init(&sel);
	for (int i = 0; i < n && !k->err; i++) {
		vg_sb_add(&sel, i ? ", " : "");
		vg_sql_ident(&sel, keep[i]);
		vg_sb_add(&sel, " AS ");
		vg_sql_ident(&sel, names ? names[i] : keep[i]);
		vg_cols_add(k, &cols, &ncols, names ? names[i] : keep[i]);
	}
	if (!k->err)
		vg_tab_rewrap(k, t, vg_sb_str(&sel), &cols, &ncols);
	vg_cols_free(cols, ncols);
	vg_sb_free(&sel);
	return k->err;
}

/* project-away A, B*, *Id: every column but those (wildcards as in Kusto). */
int vg_op_project_away(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op)
{
	char *drop = calloc((size_t)t->ncols + 1, 1);
	char **keep = NULL;
	int nkeep = 0;

	if (!drop)
		return vg_kq_oom(k);
	if (vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "project-away needs at least one column");
	while (!k->err) {
		struct vg_tok *st = vg_cur(k);
		char pat[200] = "";
		int hit = 0, first = 1;

		/* a name with '*' wildcards: adjacent identifier and '*' tokens */
		while ((vg_cur(k)->t == TK_IDENT || vg_is_op(vg_cur(k), "*")) &&
		       (first || vg_cur(k)->adj)) {
			size_t l = strlen(pat);

			snprintf(pat + l, sizeof(pat) - l, "%s", vg_cur(k)->s);
			k->pos++;
			first = 0;
		}
		if (first) {
			vg_kq_fail(k, st, "expected a column name in project-away");
			break;
		}
		for (int i = 0; i < t->ncols; i++)
			if (!fnmatch(pat, t->cols[i], 0))
				drop[i] = hit = 1;
		if (!hit && !strchr(pat, '*')) {
			vg_kq_fail(k, st, "unknown column '%s'", pat);
			break;
		}
		if (!vg_accept_op(k, ","))
			break;
	}
	if (!k->err && !vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a column of project-away");
	for (int i = 0; i < t->ncols && !k->err; i++)
		if (!drop[i])
			vg_cols_add(k, &keep, &nkeep, t->cols[i]);
	if (!k->err && !nkeep)
		vg_kq_fail(k, op, "project-away removes every column");
	if (!k->err)
		vg_reselect(k, t, keep, NULL, nkeep);
	vg_cols_free(keep, nkeep);
	free(drop);
	return k->err;
}

/* project-rename New = Old, ...: the same columns, some renamed. */
int vg_op_project_rename(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op)
{
	char **names = NULL;
	int nn = 0;

	(void)op;
	for (int i = 0; i < t->ncols && !k->err; i++)
		vg_cols_add(k, &names, &nn, t->cols[i]);
	if (!k->err && vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "project-rename needs NewName = Column");
	while (!k->err) {
		struct vg_tok *nw, *old;
		char *s;
		int i;

		if (vg_expect_ident(k, "a new column name", &nw) ||
		    vg_expect_op(k, "=", "after the new name") ||
		    vg_expect_ident(k, "the column to rename", &old))
			break;
		i = vg_cols_find(t->cols, t->ncols, old->s);
		if (i < 0) {
			vg_kq_fail(k, old, "unknown column '%s'", old->s);
			break;
		}
		if (vg_cols_find(names, nn, nw->s) >= 0 && strcmp(names[i], nw->s)) {
			vg_kq_fail(k, nw, "duplicate column name '%s'", nw->s);
			break;
		}
		s = strdup(nw->s);
		if (!s) {
			vg_kq_oom(k);
			break;
		}
		free(names[i]);
		names[i] = s;
		if (!vg_accept_op(k, ","))
			break;
	}
	if (!k->err && !vg_stage_end(vg_cur(k)))
		vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a rename");
	if (!k->err)
		vg_reselect(k, t, t->cols, names, t->ncols);
	vg_cols_free(names, nn);
	return k->err;
}

/* ---- summarize: arg_max/arg_min, make_set/make_list */

void vg_argmax_free(struct vg_argmax *am)
{
	free(am->key);
	vg_sb_free(&am->sel);
	vg_cols_free(am->cols, am->ncols);
	memset(am, 0, sizeof(*am));
}

/* "(Key, *)" or "(Key, Col, Name = expr, ...)" after arg_max/arg_min. */
int vg_argmax_parse(struct vg_kq *k, const struct vg_tab *t, struct vg_tok *f, struct vg_argmax *am)
{
	int auto_n = 0;

	am->at = f;
	am->max = !strcmp(f->s, "arg_max");
	if (vg_expect_op(k, "(", "after the function name") ||
	    vg_item(k, t, &am->sel, &am->cols, &am->ncols, &auto_n))
		return k->err;
	am->key = strdup(am->cols[0]);
	if (!am->key)
		return vg_kq_oom(k);
	if (!vg_is_op(vg_cur(k), ","))
		return vg_kq_fail(
			k, vg_cur(k),
			"%s(Expr, *) or %s(Expr, Column, ...) needs the columns to return", f->s,
			f->s);
	while (vg_accept_op(k, ",")) {
		if (vg_accept_op(k, "*")) {
			am->star = 1;
			continue;
		}
		if (vg_item(k, t, &am->sel, &am->cols, &am->ncols, &auto_n))
			return k->err;
	}
	return vg_expect_op(k, ")", "to close the arguments");
}

/*
 * The row with the largest (smallest) key in each group: number the rows of
 * each group by the key, keep the first. Output: the by columns, the key,
 * the named columns (or with * every other input column).
 */
int vg_argmax_finish(struct vg_kq *k, struct vg_tab *t, struct vg_argmax *am, const char *by,
		     char **bcols, int nb)
{
	struct vg_sb in, part, out, sql;
	char **cols = NULL;
	int ncols = 0;

	vg_sb_init(&in);
	vg_sb_init(&part);
	vg_sb_init(&out);
	vg_sb_init(&sql);
	for (int i = 0; i < nb && !k->err; i++)
		vg_cols_add(k, &cols, &ncols, bcols[i]);
	/* input: by items, then the key and columns unless a by item has the name */
	vg_sb_add(&in, by);
	for (int i = 0; i < am->ncols && !k->err; i++) {
		if (vg_cols_find(cols, ncols, am->cols[i]) >= 0)
			vg_kq_fail(k, am->at, "duplicate column name '%s'", am->cols[i]);
		else
			vg_cols_add(k, &cols, &ncols, am->cols[i]);
	}
	if (nb)
		vg_sb_add(&in, ", ");
	vg_sb_add(&in, vg_sb_str(&am->sel));
	for (int i = 0; am->star && i < t->ncols && !k->err; i++) {
		if (vg_cols_find(cols, ncols, t->cols[i]) >= 0)
			continue;
		vg_sb_add(&in, ", ");
		vg_sql_ident(&in, t->cols[i]);
		vg_cols_add(k, &cols, &ncols, t->cols[i]);
	}
	for (int i = 0; i < ncols && !k->err; i++) {
		vg_sb_add(&out, i ? ", " : "");
		vg_sql_ident(&out, cols[i]);
		if (i < nb) {
			vg_sb_add(&part, i ? ", " : "PARTITION BY ");
			vg_sql_ident(&part, cols[i]);
		}
	}
	if (!k->err) {
		vg_sb_printf(&sql, "SELECT %s FROM (SELECT *, row_number() OVER (%s ORDER BY ",
			     vg_sb_str(&out), vg_sb_str(&part));
		vg_sql_ident(&sql, am->key);
		vg_sb_printf(&sql,
			     " %s NULLS LAST) AS \"kql_rn\" FROM (SELECT %s FROM (%s)%s)%s)%s"
			     " WHERE \"kql_rn\" = 1",
			     am->max ? "DESC" : "ASC", vg_sb_str(&in), vg_sb_str(&t->sql),
			     k->dl->sub, k->dl->sub, k->dl->sub);
		vg_tab_set(t, &sql, &cols, &ncols);
	}
	vg_cols_free(cols, ncols);
	vg_sb_free(&in);
	vg_sb_free(&part);
	vg_sb_free(&out);
	vg_sb_free(&sql);
	return k->err;
}
