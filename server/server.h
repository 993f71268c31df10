/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vigil server: batches from hosts over HTTPS (server.c, libmicrohttpd with
 * GnuTLS) into PostgreSQL (pgstore.c, libpq; schema in pgschema.c).
 */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batch.h"

/* The schema this server writes; migrated forward on start (SchemaVersion). */
#define VG_PG_SCHEMA_VERSION 8
/* The whole schema (every step in order), and the step from version - 1 to version. */
const char *vg_pg_schema_sql(void);
const char *vg_pg_schema_step(int version);

/* Tokens and secrets: 32 random bytes as 64 hex digits; stored as their SHA-256 in hex. */
#define VG_TOKEN_HEX 64
#define VG_DEVICE_ID_MAX 128

struct vg_pg;

/* Connect: 0, or -EIO with why set (the server's message). */
int vg_pg_open(struct vg_pg **pg, const char *conninfo, char *why, size_t why_len);
void vg_pg_close(struct vg_pg *pg);
/* Create or migrate the schema to VG_PG_SCHEMA_VERSION: 0 or -EIO (logged). */
int vg_pg_migrate(struct vg_pg *pg);
/*
 * Make today's and tomorrow's partitions and, with vg_pg_set_retain_days(N),
 * drop the event tables' partitions of days before today - N (each logged and
 * counted in RetentionDropped): 0 or -EIO. vg_pg_store_batch() runs it on a
 * connection's first batch of each UTC day, and makes a missing day's
 * partitions when an event needs them.
 */
int vg_pg_maintain(struct vg_pg *pg);
void vg_pg_set_retain_days(int days);
/*
 * The ingest role (INSERT into the event tables, no SELECT of them; what the
 * device checks, exactly once and the counters need), the analyst role
 * (SELECT only) and, unless NULL, the detector's (detect_pg.c: SELECT of the
 * event tables, INSERT and UPDATE of AlertInfo, AlertEvidence,
 * DetectionState and DetectionFailed only), created with LOGIN and no password unless they
 * exist, and granted in the current schema: 0 or -EIO (logged).
 */
int vg_pg_roles(struct vg_pg *pg, const char *ingest, const char *analyst, const char *detect);
/*
 * Spread the tables of a device's batch over n shard servers (docs/fleet.md):
 * migrate each shard and the coordinator, then make those tables of the
 * coordinator hash partitions on "DeviceId" that are postgres_fdw foreign
 * tables of the shards, and vigil_partition/vigil_retain calls of every
 * shard. The coordinator's tables must be empty. 0, -EINVAL, -EIO (logged).
 */
int vg_pg_shards(const char *coord, const char *const *shards, int n);
/* 0 when the database answers, else -EIO with why set. */
int vg_pg_ping(struct vg_pg *pg, char *why, size_t why_len);

/* A new enrolment secret (hex, NUL-terminated) stored hashed: 0 or -EIO. */
int vg_pg_new_secret(struct vg_pg *pg, char secret[VG_TOKEN_HEX + 1]);
/*
 * Enrol device_id with secret: 0 and a new token, -EACCES (bad secret),
 * -EEXIST (already enrolled), -EIO.
 */
int vg_pg_enroll(struct vg_pg *pg, const char *secret, const char *device_id,
		 const char *device_name, char token[VG_TOKEN_HEX + 1]);
/* 0 (revoked now), -ENOENT (not enrolled), -EIO. */
int vg_pg_revoke(struct vg_pg *pg, const char *device_id);
/*
 * The device a token belongs to: 0 with device (VG_DEVICE_ID_MAX + 1 bytes),
 * -ENOENT (unknown), -EACCES (revoked; device still set), -EIO.
 */
int vg_pg_token_device(struct vg_pg *pg, const char *token, char *device);
/* Count a refusal of a batch (ServerRefused): 0 or -EIO. */
int vg_pg_refused(struct vg_pg *pg, const char *device, const char *reason);

/*
 * Store a decoded batch (v) sent as frame seq with the credential of device
 * `owner`, exactly once: 1 stored, 0 a resend already stored, -EPERM the
 * batch's device is not the owner's nor a WSL instance of it (why says so),
 * -EBADMSG (why: what is missing or bad), -EIO (database: nothing stored).
 */
int vg_pg_store_batch(struct vg_pg *pg, const char *owner, uint64_t seq, struct vg_batch *v,
		      char *why, size_t why_len);

/* One frame of a request of several (POST /v1/batches, VG_UPP_CT_FRAMES). */
struct vg_pg_frame {
	uint64_t seq;
	struct vg_batch *v; /* NULL: refused before it was stored (result and why say so) */
	int result; /* as vg_pg_store_batch(): 1, 0, -EPERM or -EBADMSG */
	char why[256];
	char dev[VG_DEVICE_ID_MAX + 1], dev_name[256]; /* the frame's device, once found */
};

/*
 * Store frames f[0..n-1] (in order: a stream's later frame may follow its
 * first in the same request) in one transaction, each exactly once as
 * vg_pg_store_batch(): 0 with each frame's result, committed when any was
 * stored (a refused frame is rolled back alone: after a refusal the request
 * is stored again with a savepoint per frame); -EIO
 * (nothing stored), or -EBADMSG with why when the frames bring more days
 * without partitions than one request may make (nothing stored).
 */
int vg_pg_store_frames(struct vg_pg *pg, const char *owner, struct vg_pg_frame *f, size_t n,
		       char *why, size_t why_len);

/*
 * Taken shared by each batch's transaction before its rows take their
 * "IngestId"s, exclusively by the detector (detect_pg.c) for a moment; and
 * the one the running detector holds (one server's at a time).
 */
#define VG_PG_INGEST_LOCK "7415903"
#define VG_PG_DETECT_LOCK "7415904"

/*
 * Filter sets from the server (filtersets.c): versioned per machine group,
 * checked with the sensor's own compiler (lib/filter.h) before anything is
 * stored; a device's group is "default" until set.
 */
#define VG_GROUP_MAX 64
#define VG_GROUP_DEFAULT "default"
/* 1 when g is a group name: 1 to VG_GROUP_MAX of A-Z a-z 0-9 . _ - */
int vg_group_valid(const char *g);
/*
 * Check text (rule file `name`, messages "name:line:col: ..." to diag) and
 * store it as group's next version: 0 with *version, -EINVAL (errors, nothing
 * stored), -EALREADY (the text is the group's current version, *version),
 * -EIO.
 */
int vg_pg_filters_apply(struct vg_pg *pg, const char *group, const char *name, const char *text,
			size_t len, FILE *diag, long long *version);
/* Devices enrolled with secret (hex) get group, unless they have one: 0 or -EIO. */
int vg_pg_secret_group(struct vg_pg *pg, const char *secret, const char *group);
/* device's group is now group: 0 or -EIO. */
int vg_pg_group_set(struct vg_pg *pg, const char *device, const char *group);
/*
 * The current set of device's group: 0 with group (VG_GROUP_MAX + 1 bytes),
 * *version, *text (malloc'd) and *len; -ENOENT (the group has none: group
 * set), -EIO.
 */
int vg_pg_filters_for(struct vg_pg *pg, const char *device, char *group, long long *version,
		      char **text, size_t *len);
/*
 * Keep the per-rule hits a batch of device reports (Batch.filter_rules), in
 * the batch's transaction: 0, -EBADMSG (why), -EIO.
 */
int vg_pg_filter_hits(struct vg_pg *pg, const char *device, const Vigil__V1__Batch *b,
		      const char *now, char *why, size_t why_len);
/* `vigil server filters list|show|hits`: 0, -ENOENT (no such group or version), -EIO. */
int vg_pg_filters_list(struct vg_pg *pg, FILE *out, int json);
int vg_pg_filters_show(struct vg_pg *pg, FILE *out, const char *group, long long version);
int vg_pg_filters_hits(struct vg_pg *pg, FILE *out, const char *group, long long version,
		       int devices, int json);
/* The connection under pg (libpq's PGconn), for filtersets.c. */
struct pg_conn;
/*
 * The fleet's view of the filter sets (filtersets.c), on any connection
 * that may read them (the analyst role's): `vigil top --pg`'s rules of every
 * group's current set by hits, at most limit, with the devices of the group
 * reporting them and the last hit; `vigil stats --pg`'s sets with their
 * devices and hits, and the rule lists no set of the server has. 0, -EIO,
 * -EPIPE.
 */
int vg_pg_fleet_rules(struct pg_conn *c, FILE *out, int limit, int json);
int vg_pg_fleet_sets(struct pg_conn *c, FILE *out, int json);
struct pg_conn *vg_pg_conn(struct vg_pg *pg);

/* SHA-256 of s in hex (out: 65 bytes). */
void vg_sha256_hex(const char *s, size_t len, char out[VG_TOKEN_HEX + 1]);
/* 32 random bytes as hex: 0 or -errno. */
int vg_random_hex(char out[VG_TOKEN_HEX + 1]);

struct vg_server_opts {
	const char *conninfo;
	const char *listen; /* https://ADDR:PORT (PORT 0: any; the one taken is logged) */
	const char *cert, *key;
	unsigned int threads;
	unsigned int max_conns;
	unsigned int max_inflight; /* batches between headers and answer; more get 429 */
	const char *detect; /* the detector's conninfo (detect_pg.c), NULL: no detections */
	const char *rules; /* its rules' directory */
	const char *console_pg; /* the analyst role's conninfo: the console; NULL none */
};

/*
 * Load the rules of dir (a malformed one fails: -EINVAL, logged) and start
 * the detector thread on conninfo (detect_pg.c): it runs the detections
 * while this server holds the fleet's detector lock, else stands by.
 */
int vg_detect_pg_start(const char *conninfo, const char *dir);
void vg_detect_pg_stop(void);

/* Serve until SIGINT/SIGTERM: 0, or a negative errno when it could not start. */
int vg_server_run(const struct vg_server_opts *o);

/* The largest request body: one whole frame (header + VG_FRAME_MAX_PAYLOAD). */
#define VG_SERVER_MAX_BODY (24u + (4u << 20))

#endif
