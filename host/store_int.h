/* SPDX-License-Identifier: GPL-2.0-only */
/* What store.c (schema, life cycle) and store_write.c (the write path) share. */
#ifndef VG_STORE_INT_H
#define VG_STORE_INT_H

#include <sqlite3.h>

#include "fmt.h"

enum vg_stmt {
	VG_ST_BEGIN,
	VG_ST_COMMIT,
	VG_ST_ROLLBACK,
	VG_ST_FRAME,
	VG_ST_DEVICE,
	VG_ST_EVENT,
	VG_ST_COUNTER,
	VG_ST_LOST,
	VG_ST_COUNTER_SUM,
	VG_ST_FILE,
	VG_ST_NET,
	VG_ST_DEVEV,
	VG_ST_SUPP,
	VG_ST_RING,
	VG_ST_DAEMON,
	VG_ST_SKIPPED,
	VG_ST_QUEUE,
	VG_ST_OUTBOX,
	VG_ST_SAVEPOINT, /* group commit: each batch of a group is a savepoint of its own */
	VG_ST_RELEASE,
	VG_ST_ROLLBACK_TO,
	VG_ST_NR,
};

/* Each statement's SQL (store_write.c), prepared once when a writer opens the store. */
extern const char *const vg_stmt_sql[VG_ST_NR];

struct vg_store {
	sqlite3 *db;
	sqlite3_stmt *st[VG_ST_NR];
	/*
	 * A writer's database file and its WAL, held open to see them deleted
	 * or replaced under it: SQLite would go on committing to the unlinked
	 * files, and the host acknowledging what nobody will find.
	 */
	char *path;
	int fd[2];
	int lost; /* deleted or replaced: nothing is stored or acknowledged any more */
	int outbox; /* vg_store_set_outbox(): new batches' frames go to UpstreamOutbox */
	int group; /* inside vg_store_group_begin() .. vg_store_group_end() */
	int group_batches; /* batches the group took (stored, or found stored) */
	struct vg_sb tmp; /* command lines and JSON while binding one event */
	struct vg_sb tmp2;
	struct vg_sb tmp3;
};

/* Log what failed with SQLite's message; the negative errno of rc. */
int vg_store_fail(struct vg_store *s, int rc, const char *what);

/*
 * 0 while the database file and its WAL are still the files at their paths;
 * else -ESTALE, logged once, and the store refuses every batch from then on.
 */
int vg_store_check(struct vg_store *s);

/* AdditionalFields (store_fields.c), in j: a process event's and a file event's. */
void vg_process_fields(struct vg_sb *j, const Vigil__V1__ProcessEvent *pe);
void vg_file_fields(struct vg_sb *j, const Vigil__V1__FileEvent *fe);

/*
 * Append the columns added since the tables were first written to a store
 * lacking them (store_fields.c); an SQLite result code.
 */
int vg_store_add_columns(sqlite3 *db);

/* Image digests: d as lowercase hex in out (65 bytes), NULL when absent or not want bytes long. */
const char *vg_digest_hex(char *out, ProtobufCBinaryData d, size_t want);
/*
 * 1 when an event (of a table) carries a digest of a wrong length: only a
 * broken or forged sensor sends one; the event is stored without it, counted.
 */
int vg_event_bad_digests(const Vigil__V1__Event *ev);
#define VG_BAD_DIGEST_REASON "digest of a wrong length (event stored without it)"

/* store_write.c, shared with the fleet server (server/pgstore.c): a process action's ActionType
 * (NULL: unknown), and why an event has no table (NULL: it has one; buf may hold the reason). */
const char *vg_action_type(Vigil__V1__ProcessAction a);
const char *vg_event_unknown(const Vigil__V1__Event *ev, char *buf, size_t size);

#endif
