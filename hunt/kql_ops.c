// SPDX-License-Identifier: GPL-2.0-only
/*
 * The KQL that hunting queries lean on, over the core in kql.c: join,
 * union, project-away, project-rename, summarize's arg_max/arg_min and
 * make_set/make_list, between, has_any/has_all, matches regex, datetime()
 * and dynamic([...]) literals, bin() and datetime +/- timespan. Every name
 * and literal reaches SQL through vg_sql_ident()/vg_sql_str(); SQL that is
 * SQLite's own goes through the dialect table (vg_kql_sqlite) at the end.
 */
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

/* A regular expression longer than this is refused (compiled per statement). */
#define VG_KQL_MAX_REGEX 1024
/* {n,m} repetitions above this are refused: regcomp's automaton grows with them. */
#define VG_KQL_MAX_REPEAT 255
/* union legs: SQLite refuses compound SELECTs of more than 500 parts. */
#define VG_KQL_MAX_UNION 64

/* ---- small helpers */

/* A column name not yet in cols: name, else name1, name2, ... (Kusto's join). */
static void vg_unique_name(char **cols, int n, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s", name);
	for (int i = 1; vg_cols_find(cols, n, out) >= 0; i++)
		snprintf(out, size, "%s%d", name, i);
}

static void vg_tab_set(struct vg_tab *t, struct vg_sb *sql, char **cols, int ncols)
{
	vg_sb_free(&t->sql);
	t->sql = *sql;
	vg_cols_free(t->cols, t->ncols);
	t->cols = cols;
	t->ncols = ncols;
}

/* A tabular operand of join/union: "(tabular expression)" or a bare table or let. */
static int vg_operand(struct vg_kq *k, struct vg_tab *t)
{
	if (vg_accept_op(k, "(")) {
		if (vg_tabular(k, t, 0))
			return k->err;
		return vg_expect_op(k, ")", "to close the table expression");
	}
	return vg_source(k, t, 0);
}

/* ---- join */

static const struct vg_join_kind {
	const char *name;
	const char *sql; /* join keyword; NULL: (NOT) EXISTS */
	int right; /* the result has the right side's rows (not allowed in rules) */
	int anti;
} vg_join_kinds[] = {
	{ "innerunique", "JOIN", 0, 0 },    { "inner", "JOIN", 0, 0 },
	{ "leftouter", "LEFT JOIN", 0, 0 }, { "rightouter", "RIGHT JOIN", 1, 0 },
	{ "fullouter", "FULL JOIN", 1, 0 }, { "leftsemi", NULL, 0, 0 },
	{ "leftanti", NULL, 0, 1 },	    { "anti", NULL, 0, 1 },
	{ "leftantisemi", NULL, 0, 1 },	    { "rightsemi", NULL, 1, 0 },
	{ "rightanti", NULL, 1, 1 },	    { "rightantisemi", NULL, 1, 1 },
};

/* "kind = X", "hint.strategy = X": the join's parameters before its right side. */
static int vg_join_params(struct vg_kq *k, const struct vg_join_kind **kind)
{
	while (vg_cur(k)->t == TK_IDENT && !vg_stage_end(vg_cur(k))) {
		struct vg_tok *p = vg_cur(k), *v;

		if (vg_is_word(p, "kind") && vg_is_op(vg_peek(k, 1), "=")) {
			size_t i;

			k->pos += 2;
			if (vg_expect_ident(k, "a join kind after kind=", &v))
				return k->err;
			for (i = 0; i < sizeof(vg_join_kinds) / sizeof(vg_join_kinds[0]); i++)
				if (!strcmp(v->s, vg_join_kinds[i].name))
					break;
			if (i == sizeof(vg_join_kinds) / sizeof(vg_join_kinds[0]))
				return vg_kq_fail(k, v, "unsupported join kind '%s'", v->s);
			*kind = &vg_join_kinds[i];
		} else if (vg_is_word(p, "hint") && vg_is_op(vg_peek(k, 1), ".")) {
			/* hint.strategy=shuffle and the like: the database plans the join */
			k->pos += 2;
			if (vg_expect_ident(k, "a hint name", &v) ||
			    vg_expect_op(k, "=", "after the hint name"))
				return k->err;
			if (vg_cur(k)->t != TK_IDENT && vg_cur(k)->t != TK_STR &&
			    vg_cur(k)->t != TK_NUM)
				return vg_kq_fail(k, vg_cur(k), "expected the hint's value");
			k->pos++;
		} else {
			break;
		}
	}
	return 0;
}

/* "$left.A" or "$right.B": which side (0 left, 1 right) and the column token. */
static int vg_join_side(struct vg_kq *k, int *side, struct vg_tok **col)
{
	struct vg_tok *s = vg_cur(k);

	if (!vg_is_word(s, "$left") && !vg_is_word(s, "$right"))
		return vg_kq_fail(k, s, "expected $left.Column or $right.Column in join ... on");
	*side = s->s[1] == 'r';
	k->pos++;
	if (vg_expect_op(k, ".", "after $left/$right"))
		return k->err;
	return vg_expect_ident(k, "a column name after $left./$right.", col);
}

static int vg_join_col(struct vg_kq *k, const struct vg_tab *t, const struct vg_tok *c,
		       const char *side)
{
	if (vg_cols_find(t->cols, t->ncols, c->s) < 0)
		return vg_kq_fail(k, c, "unknown column '%s' on the %s side of join", c->s, side);
	return 0;
}

/* "on A, $left.B == $right.C, ...": " AND "-joined equalities into cond, left keys into lkeys. */
static int vg_join_on(struct vg_kq *k, const struct vg_tab *l, const struct vg_tab *r,
		      struct vg_sb *cond, struct vg_sb *lkeys)
{
	struct vg_tok *on = vg_cur(k);

	if (!vg_is_word(on, "on"))
		return vg_kq_fail(k, on, "expected 'on' and the join's key columns");
	k->pos++;
	if (vg_stage_end(vg_cur(k)))
		return vg_kq_fail(k, vg_cur(k), "join ... on needs at least one column");
	do {
		struct vg_tok *a, *b;

		if (vg_cur(k)->t == TK_IDENT && vg_cur(k)->s[0] == '$') {
			int sa, sb;

			if (vg_join_side(k, &sa, &a) ||
			    vg_expect_op(k, "==", "between join keys") || vg_join_side(k, &sb, &b))
				return k->err;
			if (sa == sb)
				return vg_kq_fail(k, b, "a join key compares $left with $right");
			if (sa) {
				struct vg_tok *s = a;

				a = b;
				b = s;
			}
		} else {
			if (vg_expect_ident(k, "a column name in join ... on", &a))
				return k->err;
			b = a;
		}
		if (vg_join_col(k, l, a, "left") || vg_join_col(k, r, b, "right"))
			return k->err;
		vg_sb_add(cond, cond->len ? " AND \"kql_l\"." : "\"kql_l\".");
		vg_sql_ident(cond, a->s);
		vg_sb_add(cond, " = \"kql_r\".");
		vg_sql_ident(cond, b->s);
		if (lkeys->len)
			vg_sb_add(lkeys, ", ");
		vg_sql_ident(lkeys, a->s);
	} while (vg_accept_op(k, ",") || (vg_is_word(vg_cur(k), "and") && ++k->pos));
	if (!vg_stage_end(vg_cur(k)))
		return vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a join key");
	return 0;
}

int vg_op_join(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op)
{
	const struct vg_join_kind *kind = &vg_join_kinds[0];
	struct vg_tab r = { 0 };
	struct vg_sb cond, lkeys, left, sql;
	char **cols = NULL;
	int ncols = 0;

	vg_sb_init(&cond);
	vg_sb_init(&lkeys);
	vg_sb_init(&left);
	vg_sb_init(&sql);
	if (vg_join_params(k, &kind))
		goto out;
	if (t->bounded && kind->right) {
		vg_kq_fail(k, op, "a rule's join keeps its own rows: kind=%s is not allowed",
			   kind->name);
		goto out;
	}
	if (vg_stage_end(vg_cur(k))) {
		vg_kq_fail(k, vg_cur(k), "join needs a table to join with");
		goto out;
	}
	if (vg_operand(k, &r) || vg_join_on(k, t, &r, &cond, &lkeys))
		goto out;
	if (!strcmp(kind->name, "innerunique")) {
		/* Kusto's default: one left row per key value */
		vg_sb_printf(&left,
			     "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY %s) AS"
			     " \"kql_rn\" FROM (%s)) WHERE \"kql_rn\" = 1",
			     vg_sb_str(&lkeys), vg_sb_str(&t->sql));
	} else {
		vg_sb_add(&left, vg_sb_str(&t->sql));
	}
	if (!kind->sql) {
		const struct vg_tab *keep = kind->right ? &r : t;

		vg_sb_add(&sql, "SELECT ");
		for (int i = 0; i < keep->ncols && !k->err; i++) {
			vg_sb_add(&sql, i ? ", " : "");
			vg_sql_ident(&sql, keep->cols[i]);
			vg_cols_add(k, &cols, &ncols, keep->cols[i]);
		}
		vg_sb_printf(
			&sql,
			" FROM (%s) AS \"%s\" WHERE %sEXISTS (SELECT 1 FROM (%s) AS \"%s\" WHERE %s)",
			kind->right ? vg_sb_str(&r.sql) : vg_sb_str(&left),
			kind->right ? "kql_r" : "kql_l", kind->anti ? "NOT " : "",
			kind->right ? vg_sb_str(&left) : vg_sb_str(&r.sql),
			kind->right ? "kql_l" : "kql_r", vg_sb_str(&cond));
	} else {
		vg_sb_add(&sql, "SELECT ");
		for (int i = 0; i < t->ncols + r.ncols && !k->err; i++) {
			int right = i >= t->ncols;
			const char *c = right ? r.cols[i - t->ncols] : t->cols[i];
			char nm[200];

			vg_unique_name(cols, ncols, c, nm, sizeof(nm));
			vg_sb_add(&sql, i ? ", " : "");
			vg_sb_add(&sql, right ? "\"kql_r\"." : "\"kql_l\".");
			vg_sql_ident(&sql, c);
			vg_sb_add(&sql, " AS ");
			vg_sql_ident(&sql, nm);
			vg_cols_add(k, &cols, &ncols, nm);
		}
		vg_sb_printf(&sql, " FROM (%s) AS \"kql_l\" %s (%s) AS \"kql_r\" ON %s",
			     vg_sb_str(&left), kind->sql, vg_sb_str(&r.sql), vg_sb_str(&cond));
	}
	if (!k->err) {
		vg_tab_set(t, &sql, cols, ncols);
		vg_sb_init(&sql);
		cols = NULL;
		ncols = 0;
	}
out:
	vg_tab_free(&r);
	vg_cols_free(cols, ncols);
	vg_sb_free(&cond);
	vg_sb_free(&lkeys);
	vg_sb_free(&left);
	vg_sb_free(&sql);
	return k->err;
}

/* ---- union */

struct vg_leg {
	struct vg_tab t;
	char name[80]; /* withsource value */
};

static int vg_union_params(struct vg_kq *k, int *inner, const struct vg_tok **src)
{
	while (vg_cur(k)->t == TK_IDENT && vg_is_op(vg_peek(k, 1), "=")) {
		struct vg_tok *p = vg_cur(k), *v;

		k->pos += 2;
		if (vg_expect_ident(k, "a value", &v))
			return k->err;
		if (vg_is_word(p, "kind")) {
			if (strcmp(v->s, "inner") && strcmp(v->s, "outer"))
				return vg_kq_fail(k, v, "union kind is inner or outer, not '%s'",
						  v->s);
			*inner = v->s[0] == 'i';
		} else if (vg_is_word(p, "withsource")) {
			*src = v;
		} else if (vg_is_word(p, "isfuzzy")) {
			if (strcmp(v->s, "false"))
				return vg_kq_fail(k, v, "isfuzzy=true is not supported");
		} else {
			return vg_kq_fail(k, p, "unknown union parameter '%s'", p->s);
		}
	}
	return 0;
}

/*
 * union [kind=inner|outer] [withsource=Name] T1, (T2 | ...), ...: the rows
 * of all, with every column of any (outer, the default) or only the columns
 * all share (inner); a missing column is null. With t holding rows already
 * (T | union U), t is the first leg.
 */
int vg_op_union(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op)
{
	const struct vg_tok *srccol = NULL;
	struct vg_leg *legs = NULL;
	struct vg_sb sql;
	char **cols = NULL;
	int nlegs = 0, inner = 0, ncols = 0;

	vg_sb_init(&sql);
	if (++k->depth > VG_KQL_MAX_DEPTH) { /* union union union ... */
		vg_kq_fail(k, op, "query nested too deeply");
		goto out;
	}
	if (t->bounded) {
		vg_kq_fail(k, op, "a rule's query reads only its own table: union is not allowed");
		goto out;
	}
	legs = calloc(VG_KQL_MAX_UNION, sizeof(*legs));
	if (!legs) {
		vg_kq_oom(k);
		goto out;
	}
	if (vg_union_params(k, &inner, &srccol))
		goto out;
	if (t->sql.len) {
		legs[0].t = *t;
		snprintf(legs[0].name, sizeof(legs[0].name), "union_arg0");
		memset(t, 0, sizeof(*t));
		vg_sb_init(&t->sql);
		nlegs = 1;
	}
	if (vg_stage_end(vg_cur(k))) {
		vg_kq_fail(k, vg_cur(k), "union needs at least one table");
		goto out;
	}
	do {
		struct vg_tok *lt = vg_cur(k);

		if (nlegs == VG_KQL_MAX_UNION) {
			vg_kq_fail(k, lt, "union of more than %d tables", VG_KQL_MAX_UNION);
			goto out;
		}
		if (lt->t == TK_IDENT)
			snprintf(legs[nlegs].name, sizeof(legs[nlegs].name), "%s", lt->s);
		else
			snprintf(legs[nlegs].name, sizeof(legs[nlegs].name), "union_arg%d", nlegs);
		if (vg_operand(k, &legs[nlegs++].t))
			goto out;
	} while (vg_accept_op(k, ","));
	if (!vg_stage_end(vg_cur(k))) {
		vg_kq_fail(k, vg_cur(k), "expected ',' or '|' after a table of union");
		goto out;
	}
	if (srccol && vg_cols_add(k, &cols, &ncols, srccol->s))
		goto out;
	for (int i = 0; i < nlegs && !k->err; i++) {
		for (int c = 0; c < legs[i].t.ncols && !k->err; c++) {
			const char *nm = legs[i].t.cols[c];
			int everywhere = 1;

			if (vg_cols_find(cols, ncols, nm) >= 0) {
				if (srccol && !strcmp(nm, srccol->s))
					vg_kq_fail(k, srccol, "duplicate column name '%s'", nm);
				continue;
			}
			for (int j = 0; j < nlegs && inner; j++)
				everywhere &=
					vg_cols_find(legs[j].t.cols, legs[j].t.ncols, nm) >= 0;
			if (everywhere)
				vg_cols_add(k, &cols, &ncols, nm);
		}
	}
	if (!k->err && !ncols) {
		vg_kq_fail(k, op, "union kind=inner: the tables share no column");
		goto out;
	}
	for (int i = 0; i < nlegs && !k->err; i++) {
		vg_sb_add(&sql, i ? " UNION ALL SELECT " : "SELECT ");
		for (int c = 0; c < ncols; c++) {
			vg_sb_add(&sql, c ? ", " : "");
			if (srccol && !c)
				vg_sql_str(&sql, legs[i].name);
			else if (vg_cols_find(legs[i].t.cols, legs[i].t.ncols, cols[c]) >= 0)
				vg_sql_ident(&sql, cols[c]);
			else
				vg_sb_add(&sql, "NULL");
			vg_sb_add(&sql, " AS ");
			vg_sql_ident(&sql, cols[c]);
		}
		vg_sb_printf(&sql, " FROM (%s)", vg_sb_str(&legs[i].t.sql));
	}
	if (!k->err) {
		vg_tab_set(t, &sql, cols, ncols);
		vg_sb_init(&sql);
		cols = NULL;
		ncols = 0;
	}
out:
	for (int i = 0; legs && i < nlegs; i++)
		vg_tab_free(&legs[i].t);
	free(legs);
	k->depth--;
	vg_cols_free(cols, ncols);
	vg_sb_free(&sql);
	return k->err;
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
		vg_tab_rewrap(t, vg_sb_str(&sel), &cols, &ncols);
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
			     " %s NULLS LAST) AS \"kql_rn\" FROM (SELECT %s FROM (%s)))"
			     " WHERE \"kql_rn\" = 1",
			     am->max ? "DESC" : "ASC", vg_sb_str(&in), vg_sb_str(&t->sql));
		vg_tab_set(t, &sql, cols, ncols);
		vg_sb_init(&sql);
		cols = NULL;
		ncols = 0;
	}
	vg_cols_free(cols, ncols);
	vg_sb_free(&in);
	vg_sb_free(&part);
	vg_sb_free(&out);
	vg_sb_free(&sql);
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
static void vg_list_sql(struct vg_sb *b, char **elems, int n)
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
				vg_cols_add(k, &elems, &n, vg_sb_str(&s));
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
	vg_sb_printf(
		&n,
		op->s[0] == '!' ? "((%s >= %s AND %s <= %s) IS NOT 1)" : "(%s >= %s AND %s <= %s)",
		vg_sb_str(&x->sql), vg_sb_str(&lo.sql), vg_sb_str(&x->sql), vg_sb_str(&hi.sql));
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
				vg_cols_add(k, &elems, &ne, vg_sb_str(&e.sql));
		}
		vg_sb_free(&e.sql);
	}
	if (k->err)
		goto out;
	if (!list.len)
		vg_list_sql(&list, elems, ne);
	/* any: some element is a term of x; all: no element is not */
	vg_sb_printf(&n,
		     "(%sEXISTS (SELECT 1 FROM (%s) AS \"kql_list\" WHERE %skql_has(%s, "
		     "\"kql_list\".\"kql_v\", 0)))",
		     all ? "NOT " : "", vg_sb_str(&list), all ? "NOT " : "", vg_sb_str(&x->sql));
	vg_replace(k, x, &n, K_ANY);
	vg_sb_init(&n);
out:
	vg_cols_free(elems, ne);
	vg_sb_free(&list);
	vg_sb_free(&n);
	return k->err;
}

/* ---- regular expressions: RE2 syntax onto POSIX ERE */

struct vg_re_esc {
	char c;
	const char *ere;
};

/* RE2 escapes and their ERE (glibc has \s \w \b and their negations as they are) */
static const struct vg_re_esc vg_re_esc[] = {
	{ 'd', "[0-9]" }, { 'D', "[^0-9]" }, { 's', "\\s" }, { 'S', "\\S" }, { 'w', "\\w" },
	{ 'W', "\\W" },	  { 'b', "\\b" },    { 'B', "\\B" }, { 'A', "^" },   { 'z', "$" },
	{ 'n', "\n" },	  { 't', "\t" },     { 'r', "\r" },  { 0, NULL },
};

/* ... and inside [...], where ERE takes no escapes */
static const struct vg_re_esc vg_re_esc_br[] = {
	{ 'd', "0-9" }, { 's', "[:space:]" }, { 'w', "[:alnum:]_" }, { 'n', "\n" },
	{ 't', "\t" },	{ 'r', "\r" },	      { 0, NULL },
};

static const char *vg_re_escape(const struct vg_re_esc *t, char c)
{
	for (; t->c; t++)
		if (t->c == c)
			return t->ere;
	return NULL;
}

/* a letter, digit or non-ASCII byte: an escape of it that RE2 has and ERE lacks */
static int vg_re_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (unsigned char)c >= 0x80;
}

/*
 * Rewrite the RE2 constructs hunting queries use into POSIX ERE (glibc
 * regcomp): a leading (?i), (?:...), \d \D (and \d \s \w in brackets),
 * escaped punctuation in brackets, \A \z, lazy quantifiers (same match or
 * not). What ERE cannot say (look-around, named groups, \p{..}, backrefs)
 * is an error. 0, or -EINVAL with err filled.
 */
static int vg_re_translate(const char *re, struct vg_sb *out, int *icase, char *err, size_t size)
{
	const char *p = re;

	*icase = 0;
	if (strlen(re) > VG_KQL_MAX_REGEX) {
		snprintf(err, size, "regular expression longer than %d bytes", VG_KQL_MAX_REGEX);
		return -EINVAL;
	}
	if (!strncmp(p, "(?i)", 4)) {
		*icase = 1;
		p += 4;
	}
	while (*p) {
		if (*p == '\\') {
			const char *rep = vg_re_escape(vg_re_esc, p[1]);
			char c = p[1];

			p += c ? 2 : 1;
			if (rep) {
				vg_sb_add(out, rep);
			} else if (!c || vg_re_word(c)) {
				snprintf(err, size,
					 c ? "unsupported escape \\%c in regular expression" :
					     "regular expression ends in a backslash",
					 c);
				return -EINVAL;
			} else {
				vg_sb_printf(out, "\\%c", c); /* escaped punctuation */
			}
		} else if (*p == '[') {
			/* ERE brackets take no escapes: ']' goes first, '-' last */
			struct vg_sb in;
			int neg = 0, rb = 0, dash = 0;

			vg_sb_init(&in);
			p++;
			if (*p == '^') {
				neg = 1;
				p++;
			}
			if (*p == ']') {
				rb = 1;
				p++;
			}
			while (*p && *p != ']') {
				if (p[0] == '[' && p[1] == ':') {
					const char *e = strstr(p, ":]");

					if (!e)
						break;
					vg_sb_addn(&in, p, (size_t)(e + 2 - p));
					p = e + 2;
				} else if (*p == '\\' && p[1]) {
					const char *rep = vg_re_escape(vg_re_esc_br, p[1]);
					char c = p[1];

					p += 2;
					if (rep) {
						vg_sb_add(&in, rep);
					} else if (c == ']' || c == '-') {
						rb |= c == ']';
						dash |= c == '-';
					} else if (vg_re_word(c)) {
						vg_sb_free(&in);
						snprintf(err, size,
							 "unsupported escape \\%c in a bracket"
							 " expression",
							 c);
						return -EINVAL;
					} else {
						vg_sb_addn(&in, &c, 1);
					}
				} else {
					vg_sb_addn(&in, p++, 1);
				}
			}
			if (*p != ']') {
				vg_sb_free(&in);
				snprintf(err, size, "unterminated [ in regular expression");
				return -EINVAL;
			}
			p++;
			vg_sb_printf(out, "[%s%s%s%s]", neg ? "^" : "", rb ? "]" : "",
				     vg_sb_str(&in) ?: "", dash ? "-" : "");
			vg_sb_free(&in);
		} else if (p[0] == '(' && p[1] == '?') {
			if (p[2] != ':') {
				snprintf(err, size,
					 "unsupported group (?%c in regular expression (only (?:"
					 " and a leading (?i))",
					 p[2] ? p[2] : ' ');
				return -EINVAL;
			}
			vg_sb_add(out, "(");
			p += 3;
		} else if (*p == '{') {
			const char *e = p + 1;
			long v = 0;

			/* {n}, {n,}, {n,m}: bounded counts */
			while ((*e >= '0' && *e <= '9') || *e == ',') {
				v = *e == ',' ? 0 : v * 10 + (*e - '0');
				if (v > VG_KQL_MAX_REPEAT) {
					snprintf(err, size,
						 "repetition count above %d in regular expression",
						 VG_KQL_MAX_REPEAT);
					return -EINVAL;
				}
				e++;
			}
			vg_sb_addn(out, p++, 1);
		} else {
			vg_sb_addn(out, p, 1);
			/* lazy quantifiers: *? +? ?? }? match the same strings */
			if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '?')
				p++;
			p++;
		}
	}
	return 0;
}

static int vg_re_compile(const char *re, regex_t *rx, char *err, size_t size)
{
	struct vg_sb ere;
	int icase, rc;

	vg_sb_init(&ere);
	if (vg_re_translate(re, &ere, &icase, err, size)) {
		vg_sb_free(&ere);
		return -EINVAL;
	}
	if (vg_sb_err(&ere)) {
		vg_sb_free(&ere);
		snprintf(err, size, "out of memory");
		return -ENOMEM;
	}
	rc = regcomp(rx, vg_sb_str(&ere) ?: "", REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	vg_sb_free(&ere);
	if (rc) {
		char m[120];

		regerror(rc, rx, m, sizeof(m));
		snprintf(err, size, "bad regular expression: %s", m);
		return rc == REG_ESPACE ? -ENOMEM : -EINVAL;
	}
	return 0;
}

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
			k->dl->regex(&n, vg_sb_str(&x->sql), vg_sb_str(&r.sql));
			vg_replace(k, x, &n, K_ANY);
			vg_sb_init(&n);
		}
	}
	vg_sb_free(&r.sql);
	vg_sb_free(&n);
	return k->err;
}

/* ---- SQL functions */

static void vg_re_free(void *p)
{
	regfree(p);
	free(p);
}

/*
 * regexp(pattern, text): SQLite's "text REGEXP pattern". The compiled
 * pattern is kept with the statement (auxdata) while the pattern argument
 * stays the same, so a column is matched without recompiling per row.
 */
static void vg_sql_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *re = (const char *)sqlite3_value_text(argv[0]);
	const char *s = (const char *)sqlite3_value_text(argv[1]);
	regex_t *rx = sqlite3_get_auxdata(ctx, 0);
	int fresh = 0;

	(void)argc;
	if (!re || !s) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	if (!rx) {
		char err[200];
		int rc;

		rx = malloc(sizeof(*rx));
		if (!rx) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		rc = vg_re_compile(re, rx, err, sizeof(err));
		if (rc) {
			free(rx);
			if (rc == -ENOMEM)
				sqlite3_result_error_nomem(ctx);
			else
				sqlite3_result_error(ctx, err, -1);
			return;
		}
		fresh = 1;
	}
	sqlite3_result_int(ctx, !regexec(rx, s, 0, NULL, 0));
	if (fresh) /* SQLite frees it at once if it cannot keep it */
		sqlite3_set_auxdata(ctx, 0, rx, vg_re_free);
}

/* kql_bin(x, r): x rounded down to a multiple of r (null for r <= 0). */
static void vg_sql_bin(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int tx = sqlite3_value_numeric_type(argv[0]), tr = sqlite3_value_numeric_type(argv[1]);

	(void)argc;
	if (tx == SQLITE_NULL || tr == SQLITE_NULL || tx == SQLITE_TEXT || tr == SQLITE_TEXT ||
	    tx == SQLITE_BLOB || tr == SQLITE_BLOB) {
		sqlite3_result_null(ctx);
		return;
	}
	if (tx == SQLITE_INTEGER && tr == SQLITE_INTEGER) {
		sqlite3_int64 x = sqlite3_value_int64(argv[0]), r = sqlite3_value_int64(argv[1]);
		sqlite3_int64 q;

		if (r <= 0) {
			sqlite3_result_null(ctx);
			return;
		}
		q = x / r;
		if (x % r && x < 0)
			q--;
		sqlite3_result_int64(ctx, q * r);
	} else {
		double x = sqlite3_value_double(argv[0]), r = sqlite3_value_double(argv[1]);
		double q, f;

		if (!(r > 0)) {
			sqlite3_result_null(ctx);
			return;
		}
		q = x / r;
		/* floor() without libm: beyond 2^53 every double is whole */
		f = q > -9e15 && q < 9e15 ? (double)(sqlite3_int64)q : q;
		if (f > q)
			f -= 1;
		sqlite3_result_double(ctx, f * r);
	}
}

int vg_kql_register_ops(sqlite3 *db)
{
	int rc = sqlite3_create_function(db, "regexp", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
					 vg_sql_regexp, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "kql_bin", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
					     NULL, vg_sql_bin, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	return 0;
}

/* ---- the SQLite dialect */

#define VG_SQLITE_ISO "'%%Y-%%m-%%dT%%H:%%M:%%fZ'"

static void vg_sqlite_now(struct vg_sb *b, double secs)
{
	if (secs)
		vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", 'now', '%+.3f seconds')", secs);
	else
		vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", 'now')");
}

static void vg_sqlite_time_add(struct vg_sb *b, const char *x, double secs)
{
	vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", %s, '%+.3f seconds')", x, secs);
}

/* via milliseconds since the epoch: julianday() is exact to well under 1 ms today */
static void vg_sqlite_time_bin(struct vg_sb *b, const char *x, double secs)
{
	vg_sb_printf(b,
		     "strftime(" VG_SQLITE_ISO ", kql_bin(CAST(round((julianday(%s) - 2440587.5)"
		     " * 86400000.0) AS INTEGER), %lld) / 1000.0, 'unixepoch')",
		     x, (long long)(secs * 1000 + 0.5));
}

static void vg_sqlite_num_bin(struct vg_sb *b, const char *x, const char *r)
{
	vg_sb_printf(b, "kql_bin(%s, %s)", x, r);
}

static void vg_sqlite_regex(struct vg_sb *b, const char *x, const char *re)
{
	vg_sb_printf(b, "(coalesce(%s, '') REGEXP %s)", x, re);
}

static void vg_sqlite_list_agg(struct vg_sb *b, const char *x, int distinct)
{
	vg_sb_printf(b, "json_group_array(%s%s) FILTER (WHERE %s IS NOT NULL)",
		     distinct ? "DISTINCT " : "", x, x);
}

const struct vg_kql_dialect vg_kql_sqlite = {
	.now = vg_sqlite_now,
	.time_add = vg_sqlite_time_add,
	.time_bin = vg_sqlite_time_bin,
	.num_bin = vg_sqlite_num_bin,
	.regex = vg_sqlite_regex,
	.list_agg = vg_sqlite_list_agg,
};
