/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading the store back: the event timeline (vigil events, host --print)
 * and the sensor counters (vigil stats). Portable C over SQLite and stdio.
 */
#ifndef VG_EVENTS_H
#define VG_EVENTS_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* The event tables of the timeline, in the order a cursor holds them. */
#define VG_EVENT_TABLES 4
extern const char *const vg_event_tables[VG_EVENT_TABLES];

/* A position in each event table: the highest rowid already read. */
struct vg_cursor {
	int64_t row[VG_EVENT_TABLES];
};

/* The cursor at the end of what is stored now. 0, or a negative errno. */
int vg_events_last(struct vg_store *s, struct vg_cursor *c);

/*
 * Print stored events after the after cursor and up to upto (NULL: no upper
 * bound), one line each, in Timestamp then ReportId order: the human
 * timeline, or JSON objects (with their "Table") when json. limit > 0 keeps
 * only the last limit events. *last moves past what was printed. Number of
 * events printed, or a negative errno (-EPIPE when out fails).
 */
int vg_events_print(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		    const struct vg_cursor *upto, long limit, struct vg_cursor *last);

/* The same, only the events of the WSL distribution distro (the Distribution column). */
int vg_events_print_in(struct vg_store *s, FILE *out, int json, const struct vg_cursor *after,
		       const struct vg_cursor *upto, long limit, const char *distro,
		       struct vg_cursor *last);

struct vg_sb;
struct sqlite3_stmt;

/*
 * A source of event rows, in the order to print them, from SQLite or
 * PostgreSQL: columns by index under the store's names (times as the store
 * writes them), plus the computed vg_comm, vg_signal, vg_core (what
 * AdditionalFields says of Comm, ExitSignal, CoreDumped).
 */
struct vg_row {
	int (*step)(struct vg_row *r); /* to the next row: 1, 0 after the last, -errno (logged) */
	int (*ncols)(struct vg_row *r);
	const char *(*name)(struct vg_row *r, int i);
	const char *(*text)(struct vg_row *r, int i); /* NULL for a null */
	void (*json)(struct vg_row *r, int i, struct vg_sb *b); /* as a JSON value */
	int64_t rowid; /* of the current row; 0 where there is none */
};

/*
 * vg_events_print() over one source per event table (NULL: none): each in
 * timeline order, or with limit > 0 its newest limit rows. *last (may be
 * NULL) moves past the rows printed.
 */
int vg_events_merge(struct vg_row *const src[VG_EVENT_TABLES], FILE *out, int json, long limit,
		    struct vg_cursor *last);

/* Column i of the current row as a JSON value (null, number or string). */
void vg_json_column(struct vg_sb *b, struct sqlite3_stmt *st, int i);

/* vigil stats: one line (or JSON object) per device and event class. 0 or -errno. */
int vg_stats_print(struct vg_store *s, FILE *out, int json);

#endif
