/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigil hunt: run a KQL query (kql.h) over the store and print the rows as
 * an aligned table, JSON lines or CSV. Portable C over SQLite and stdio.
 */
#ifndef VG_HUNT_H
#define VG_HUNT_H

#include <stdio.h>

struct sqlite3;
struct sqlite3_stmt;
struct vg_sb;
struct vg_kql_query;
struct vg_kql_error;

enum vg_hunt_format { VG_HUNT_TABLE, VG_HUNT_JSON, VG_HUNT_CSV };
/* "table", "json" or "csv" (a --format value) into *fmt: 0, or -EINVAL (s may be NULL). */
int vg_hunt_format_parse(const char *s, enum vg_hunt_format *fmt);

/*
 * Translate and run text on db, print the result on out. A query error is
 * printed on err as "<origin>:line:col: message", the line and a caret, and
 * gives -EINVAL. Number of rows printed, or a negative errno (-EPIPE when
 * out fails).
 */
long vg_hunt_run(struct sqlite3 *db, const char *text, const char *origin, enum vg_hunt_format fmt,
		 FILE *out, FILE *err);

/* A result read row by row: what the printers take from SQLite or PostgreSQL. */
struct vg_hunt_src {
	/* to the next row: 1, 0 after the last, or a negative errno (logged) */
	int (*next)(struct vg_hunt_src *s);
	/* column c of the row as text; NULL for a null */
	const char *(*text)(struct vg_hunt_src *s, int c);
	/* column c of the row as a JSON value into b (numbers unquoted) */
	void (*json)(struct vg_hunt_src *s, int c, struct vg_sb *b);
};

/* the rows of a prepared SQLite statement */
struct vg_hunt_sqlite {
	struct vg_hunt_src src;
	struct sqlite3 *db;
	struct sqlite3_stmt *st;
};
void vg_hunt_sqlite_init(struct vg_hunt_sqlite *s, struct sqlite3 *db, struct sqlite3_stmt *st);

/* Print the rows of src under q's column names; rows printed or a negative errno. */
long vg_hunt_print(struct vg_hunt_src *src, const struct vg_kql_query *q, enum vg_hunt_format fmt,
		   FILE *out);

/* A translation error err of text: a query error (-EINVAL) printed on errf with a caret. err. */
int vg_hunt_error(int err, const char *text, const char *origin, const struct vg_kql_error *e,
		  FILE *errf);

/*
 * vg_hunt_run() on PostgreSQL (hunt_pg.c): connect with the libpq conninfo,
 * read-only, and query the fleet's tables (the store's names).
 */
long vg_hunt_run_pg(const char *conninfo, const char *text, const char *origin,
		    enum vg_hunt_format fmt, FILE *out, FILE *err);

/*
 * vigil events on the fleet's PostgreSQL (hunt_pg.c): the timeline of every
 * device, or of device (not NULL), as vg_events_print() prints it; limit > 0
 * the last limit events. Number printed or a negative errno.
 */
long vg_events_print_pg(const char *conninfo, const char *device, FILE *out, int json, long limit);

/*
 * A session on conninfo that cannot write, times in UTC (the one every --pg
 * command reads through), or NULL (logged as "who: ..."); PQfinish it.
 */
struct pg_conn *vg_hunt_pg_open(const char *conninfo, const char *who);

/* vigil devices' inventory query (cli/devices.c); the console's Devices page runs it too. */
extern const char vg_devices_kql[];

#endif
