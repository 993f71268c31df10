// SPDX-License-Identifier: GPL-2.0-only
/*
 * KQL join and union: the operators that read a second table (or many).
 * Every name reaches SQL through vg_sql_ident().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

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
			     " \"kql_rn\" FROM (%s)%s)%s WHERE \"kql_rn\" = 1",
			     vg_sb_str(&lkeys), vg_sb_str(&t->sql), k->dl->sub, k->dl->sub);
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
	if (!k->err)
		vg_tab_set(t, &sql, &cols, &ncols);
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
		vg_sb_printf(&sql, " FROM (%s)%s", vg_sb_str(&legs[i].t.sql), k->dl->sub);
	}
	if (!k->err)
		vg_tab_set(t, &sql, &cols, &ncols);
out:
	for (int i = 0; legs && i < nlegs; i++)
		vg_tab_free(&legs[i].t);
	free(legs);
	k->depth--;
	vg_cols_free(cols, ncols);
	vg_sb_free(&sql);
	return k->err;
}
