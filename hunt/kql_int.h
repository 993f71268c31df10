/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The KQL translator's insides, shared by its files: kql.c (entry, lets,
 * pipelines, columns), kql_lex.c (tokens), kql_expr.c (expressions),
 * kql_fn.c (scalar functions and word operators), kql_ops.c (one-table
 * operators), kql_join.c (join, union) and kql_sql.c (SQL text, dialect,
 * run-time functions). Not an API: only kql.h is.
 */
#ifndef VG_KQL_INT_H
#define VG_KQL_INT_H

#include <regex.h>
#include <sqlite3.h>
#include <string.h>

#include "fmt.h"
#include "kql.h"

/* Bounds that keep a hostile query from exhausting the stack or memory. */
#define VG_KQL_MAX_TEXT (256 * 1024)
#define VG_KQL_MAX_DEPTH 24 /* SQLite's own parser stack (100) refused deeper translations */

enum vg_tk { TK_EOF, TK_IDENT, TK_STR, TK_NUM, TK_SPAN, TK_OP };

struct vg_tok {
	enum vg_tk t;
	int line, col;
	int adj; /* no whitespace before it */
	char *s; /* identifier, operator, number text or decoded string */
	double span; /* TK_SPAN: seconds */
};

/*
 * What an expression is known to be. K_TIME: a datetime (ISO 8601 text);
 * K_LIST: dynamic([...]), its SQL a one-column SELECT of the elements.
 */
enum vg_kind { K_ANY, K_STR, K_NUM, K_SPAN, K_TIME, K_LIST };

struct vg_ex {
	struct vg_sb sql;
	enum vg_kind kind;
	double span;
	const char *colname; /* a bare column reference: its name */
	int json; /* extract_json()'s value, whose type the database's JSON decides */
};

struct vg_tab {
	struct vg_sb sql;
	char **cols;
	int ncols;
	int bounded; /* reads the rule's bounded source (has "_rid") */
};

struct vg_let {
	char *name;
	int tabular;
	char *sql; /* scalar: expression; tabular: WITH name */
	enum vg_kind kind;
	double span;
	char **cols;
	int ncols;
};

struct vg_kq {
	sqlite3 *db; /* the tables: of db, or of tables[] when db is NULL */
	const struct vg_kql_table *tables;
	int ntables;
	int flags;
	struct vg_tok *tk;
	int ntk, pos;
	struct vg_kql_error *e;
	int err;
	int depth;
	struct vg_let *lets;
	int nlets;
	struct vg_sb with;
	int nwith;
	char *main_source;
	const struct vg_kql_dialect *dl;
};

/*
 * The SQL that differs between databases, one entry per construct: the
 * translator calls these and never writes such SQL inline, so another
 * dialect (PostgreSQL) is another table.
 */
struct vg_kql_dialect {
	const char *name; /* for errors: "SQLite", "PostgreSQL" */
	/* the current time moved by secs seconds, as stored timestamps are written */
	void (*now)(struct vg_sb *b, double secs);
	/* datetime x moved by secs seconds */
	void (*time_add)(struct vg_sb *b, const char *x, double secs);
	/* datetime x rounded down to a multiple of secs since the epoch */
	void (*time_bin)(struct vg_sb *b, const char *x, double secs);
	/* number x rounded down to a multiple of r */
	void (*num_bin)(struct vg_sb *b, const char *x, const char *r);
	/*
	 * x matches the regular expression re_sql (both SQL); lit is its text
	 * when it is a string literal (else NULL). 0, or -EINVAL with err set.
	 */
	int (*regex)(struct vg_sb *b, const char *x, const char *re_sql, const char *lit, char *err,
		     size_t size);
	/* the aggregate JSON array of x's non-null values (distinct: a set; time: datetimes) */
	void (*list_agg)(struct vg_sb *b, const char *x, int distinct, int time);
	/* Kusto's has/contains/startswith/endswith (op) of needle n in x, case-sensitive or not */
	void (*strop)(struct vg_sb *b, const char *op, const char *x, const char *n, int cs);
	/* the SQL template of a scalar function given the default one; NULL: not available */
	const char *(*fn)(const char *name, const char *sql);
	/*
	 * extract_json()'s value json ==/!= (eq) a non-string other; NULL: as
	 * any two values. PostgreSQL's value is text, which a boolean or number
	 * does not compare with.
	 */
	void (*json_eq)(struct vg_sb *b, const char *json, const char *other, int eq);
	const char *avg; /* the SQL template of avg() over %s */
	const char *sub; /* after a subquery in FROM: its alias, if the database needs one */
	const char *is, *is_not; /* null-safe equality */
	const char *not_true; /* "(cond) <not_true>": false or null */
	const char *true_sql, *false_sql;
	int nulls_explicit; /* sort: write Kusto's default NULLS FIRST/LAST out */
	size_t max_ident; /* longest column name in bytes (0: no limit) */
	/*
	 * A rule's bounded read of its table (VG_KQL_BOUNDED): what comes before
	 * the table's name and after it; NULL: no bounded reads.
	 */
	const char *bounded_sel, *bounded_where;
	int explicit_cols; /* a table is read by its known columns' names, not * */
};

extern const struct vg_kql_dialect vg_kql_sqlite; /* kql_sql.c */
extern const struct vg_kql_dialect vg_kql_pg; /* kql_pg.c */

/* kql.c: keep the first error (at token t, or out of memory) and return it */
int vg_kq_fail(struct vg_kq *k, const struct vg_tok *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vg_kq_oom(struct vg_kq *k);

static inline struct vg_tok *vg_cur(struct vg_kq *k)
{
	return &k->tk[k->pos];
}

static inline struct vg_tok *vg_peek(struct vg_kq *k, int n)
{
	int i = k->pos + n;

	return &k->tk[i < k->ntk ? i : k->ntk - 1];
}

static inline int vg_is_op(const struct vg_tok *t, const char *op)
{
	return t->t == TK_OP && !strcmp(t->s, op);
}

static inline int vg_is_word(const struct vg_tok *t, const char *w)
{
	return t->t == TK_IDENT && !strcmp(t->s, w);
}

static inline int vg_accept_op(struct vg_kq *k, const char *op)
{
	if (!vg_is_op(vg_cur(k), op))
		return 0;
	k->pos++;
	return 1;
}

/* kql_lex.c: text into k->tk (k->ntk tokens, the last TK_EOF); 0 or k->err */
int vg_lex(struct vg_kq *k, const char *text);
const char *vg_tok_desc(const struct vg_tok *t);
int vg_expect_op(struct vg_kq *k, const char *op, const char *what);
int vg_expect_ident(struct vg_kq *k, const char *what, struct vg_tok **out);
int vg_stage_end(const struct vg_tok *t);
void vg_dashed_word(struct vg_kq *k, char *buf, size_t size);

/* kql_fn.c: a literal IPv4 address or range ("10.0.0.0/8") as a regular expression; 0 or -EINVAL */
int vg_ipv4_range_re(const char *s, struct vg_sb *re);

/* kql_sql.c */
void vg_sql_quote(struct vg_sb *b, const char *s, char q);
void vg_sql_ident(struct vg_sb *b, const char *name);
void vg_sql_str(struct vg_sb *b, const char *s);
/* re (RE2 syntax) compiled as POSIX ERE; 0, or -EINVAL/-ENOMEM with err set */
int vg_re_compile(const char *re, regex_t *rx, char *err, size_t size);
/* RE2 escapes and what a dialect writes for them */
struct vg_re_esc {
	char c;
	const char *ere;
};
/* re (RE2) rewritten with the escape tables esc and esc_br (in brackets); 0 or -EINVAL */
int vg_re_translate(const char *re, const struct vg_re_esc *esc, const struct vg_re_esc *esc_br,
		    struct vg_sb *out, int *icase, char *err, size_t size);

/* kql.c */
void vg_cols_free(char **cols, int n);
int vg_cols_add(struct vg_kq *k, char ***cols, int *n, const char *name);
/* a string onto a list (a column name goes through vg_cols_add, which checks it) */
int vg_elems_add(struct vg_kq *k, char ***elems, int *n, const char *s);
int vg_cols_find(char **cols, int n, const char *name);
void vg_tab_free(struct vg_tab *t);
void vg_tab_wrap(struct vg_kq *k, struct vg_tab *t, const char *head, const char *tail);
void vg_tab_rewrap(struct vg_kq *k, struct vg_tab *t, const char *head, char ***cols, int *ncols);
void vg_tab_set(struct vg_tab *t, struct vg_sb *sql, char ***cols, int *ncols);
struct vg_let *vg_let_find(struct vg_kq *k, const char *name);
int vg_table_cols(struct vg_kq *k, const char *name, char ***cols, int *n);
int vg_is_unsupported(const char *w);
int vg_tabular_here(struct vg_kq *k);
int vg_tabular(struct vg_kq *k, struct vg_tab *t, int bounded);
int vg_source(struct vg_kq *k, struct vg_tab *t, int bounded);

/* kql_expr.c */
void vg_ex_init(struct vg_ex *x);
int vg_no_span(struct vg_kq *k, const struct vg_tok *t, const struct vg_ex *x);
int vg_expr(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x);
/* additive (mul 0) or multiplicative (mul 1) level: a comparison's operand */
int vg_arith(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x, int mul);
int vg_args(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *args, int max);
void vg_args_free(struct vg_ex *args, int n);
int vg_is_agg(const char *w);
int vg_literal_fn(struct vg_kq *k, struct vg_ex *x); /* datetime(...), dynamic([...]) */
/* the SQL of a list: one column "kql_v", a row per element */
void vg_list_sql(struct vg_sb *b, char **elems, int n);

/* kql_ops.c: one-table operators; vg_operator reads the stage after a '|' */
int vg_operator(struct vg_kq *k, struct vg_tab *t);
int vg_item(struct vg_kq *k, const struct vg_tab *in, struct vg_sb *sel, char ***cols, int *ncols,
	    int *auto_n);
int vg_op_project_away(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op);
int vg_op_project_rename(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op);

/* kql_ops.c: summarize's arg_max/arg_min and make_set/make_list */
struct vg_argmax {
	const struct vg_tok *at; /* the arg_max/arg_min token; NULL: none */
	int max;
	char *key; /* name of the maximized column */
	struct vg_sb sel; /* "expr AS name, ..." over the input, key first */
	char **cols;
	int ncols;
	int star;
};
int vg_argmax_parse(struct vg_kq *k, const struct vg_tab *t, struct vg_tok *f,
		    struct vg_argmax *am);
int vg_argmax_finish(struct vg_kq *k, struct vg_tab *t, struct vg_argmax *am, const char *by,
		     char **bcols, int nb);
void vg_argmax_free(struct vg_argmax *am);

/* kql_join.c */
int vg_op_join(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op);
int vg_op_union(struct vg_kq *k, struct vg_tab *t, const struct vg_tok *op);

/* kql_fn.c: a call of a scalar function, and the word operators */
int vg_call(struct vg_kq *k, const struct vg_tab *tab, struct vg_tok *name, struct vg_ex *x);
int vg_fn_bin(struct vg_kq *k, const struct vg_tok *name, struct vg_ex *a, int n, struct vg_ex *x);
int vg_time_arith(struct vg_kq *k, const struct vg_tok *op, struct vg_ex *x, struct vg_ex *r);
int vg_op_between(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		  const struct vg_tok *op);
int vg_op_has_list(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		   const struct vg_tok *op);
int vg_op_matches(struct vg_kq *k, const struct vg_tab *tab, struct vg_ex *x,
		  const struct vg_tok *op);

#endif
