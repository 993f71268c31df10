/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A Kusto (KQL) subset translated to one SQLite SELECT over the store:
 * let (tabular, scalar and dynamic lists), pipes, where, project,
 * project-away, project-rename, extend, distinct, summarize (with arg_max,
 * make_set, ...), join, union, sort/order by, take/limit, top, count.
 * Columns are tracked stage by stage against the database's real tables,
 * so a misspelt column or table is reported at its line and column, never
 * left to the database. SQLite, or PostgreSQL through a second dialect
 * (vg_kql_translate_for). Portable C over SQLite.
 */
#ifndef VG_KQL_H
#define VG_KQL_H

#include <stdio.h>

struct sqlite3;
struct vg_sb;

/* A query error: 1-based line and column (bytes) of the offending token. */
struct vg_kql_error {
	int line, col;
	char msg[200];
};

struct vg_kql_query {
	char *sql; /* one SELECT (with a WITH clause for tabular lets) */
	char **cols; /* result column names, in order */
	int ncols;
	char *source; /* the table the final pipeline reads (NULL: a let) */
	/*
	 * VG_KQL_BOUNDED: when the final pipeline begins `Table | where ActionType == "A"` or
	 * `... in ("A", "B")`, alone or joined by `and` (no `or` at that level):
	 * those values; no row of another ActionType can be in the result.
	 */
	char **actions;
	int nactions;
};

/*
 * VG_KQL_BOUNDED (detection rules): the final pipeline's source table is
 * read as rows with ?1 < rowid <= ?2 only (PostgreSQL: $1 < "IngestId" <= $2),
 * and gets a leading "_rid" column holding that id. Lets and `in (...)` subqueries still see every row.
 */
#define VG_KQL_BOUNDED 0x1

/*
 * Translate text against the tables of db. 0 and *q filled; -EINVAL for a
 * query error (*e says where and why); -ENOMEM.
 */
int vg_kql_translate(struct sqlite3 *db, const char *text, int flags, struct vg_kql_query *q,
		     struct vg_kql_error *e);
void vg_kql_query_free(struct vg_kql_query *q);

/* A table the query may read and its columns, in order. */
struct vg_kql_table {
	const char *name;
	const char *const *cols;
	int ncols;
};

enum vg_kql_sql { VG_KQL_SQLITE, VG_KQL_PG };

/*
 * Translate text for the database dialect (VG_KQL_PG: PostgreSQL 15, whose
 * tables have the store's names and quoted column names, Timestamp a
 * timestamptz) against the tables given. What the dialect cannot say is a
 * query error at its line and column.
 */
int vg_kql_translate_for(enum vg_kql_sql dialect, const struct vg_kql_table *tables, int ntables,
			 const char *text, int flags, struct vg_kql_query *q,
			 struct vg_kql_error *e);

/*
 * Append "prefix line:col: message\n", the query line and a caret under
 * the column. line_offset is added to the line shown (a rule's query starts
 * after its header).
 */
void vg_kql_error_format(struct vg_sb *out, const char *prefix, const char *text, int line_offset,
			 const struct vg_kql_error *e);

/*
 * Register the SQL functions translated queries call (kql_has, ..., kql_bin,
 * and regexp for REGEXP) on db. 0 or -errno.
 */
int vg_kql_register(struct sqlite3 *db);

#endif
