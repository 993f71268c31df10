// SPDX-License-Identifier: GPL-2.0-only
/*
 * The store's write path: one batch in one transaction, or several in one
 * (vg_store_group_begin(), each a savepoint). Each table has one
 * binder (vg_store_<table>) that binds all its columns; the column groups
 * tables share (the event's common five, a process, the initiating process,
 * a path) have one helper each.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compat.h"
#include "fmt.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

/*
 * The columns every event table starts with (vg_bind_common()) and the acting
 * process's that DeviceFileEvents, DeviceNetworkEvents and DeviceEvents end
 * with (vg_bind_initiating()).
 */
#define VG_COMMON_COLS "Timestamp, DeviceId, DeviceName, ActionType, ReportId"
#define VG_INITIATING_COLS                                                              \
	" InitiatingProcessId, InitiatingProcessFileName, InitiatingProcessFolderPath," \
	" InitiatingProcessCommandLine, InitiatingProcessCreationTime,"                 \
	" InitiatingProcessAccountName, InitiatingProcessAccountUid,"                   \
	" InitiatingProcessParentId, InitiatingProcessParentFileName, AdditionalFields"
/* Appended to every event table (store_fields.c), bound by vg_bind_image_cols(). */
#define VG_IMAGE_COLS                                                                  \
	", InitiatingProcessSHA256, InitiatingProcessSHA1, InitiatingProcessFileSize," \
	" ContainerId, ContainerName"

const char *const vg_stmt_sql[VG_ST_NR] = {
	[VG_ST_SKIPPED] = "INSERT INTO HostSkippedEvents (DeviceId, Reason, Count, Timestamp)"
			  " VALUES (?, ?, 1, ?) ON CONFLICT (DeviceId, Reason) DO UPDATE SET"
			  " Count = Count + 1, Timestamp = excluded.Timestamp",
	[VG_ST_BEGIN] = "BEGIN IMMEDIATE",
	[VG_ST_COMMIT] = "COMMIT",
	[VG_ST_ROLLBACK] = "ROLLBACK",
	[VG_ST_FRAME] = "INSERT OR IGNORE INTO ReceivedFrames (DeviceId, StreamId, Seq, Timestamp,"
			" Events) VALUES (?, ?, ?, ?, ?)",
	[VG_ST_DEVICE] = "INSERT INTO DeviceInfo (Timestamp, DeviceId, DeviceName, ClientVersion,"
			 " OSPlatform, OSArchitecture, OSVersion, OSDistribution, HostDeviceId,"
			 " MachineGroup, RegistryDeviceTag, DeviceTags, OnboardingStatus)"
			 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 'Onboarded')",
	[VG_ST_EVENT] = "INSERT INTO DeviceProcessEvents (" VG_COMMON_COLS
			", ProcessId, FileName, FolderPath,"
			" ProcessCommandLine, ProcessCreationTime, AccountName, AccountUid,"
			" ProcessCurrentDirectory, ProcessExitCode, ProcessParentId,"
			" InitiatingProcessId, InitiatingProcessFileName,"
			" InitiatingProcessFolderPath, InitiatingProcessCommandLine,"
			" InitiatingProcessCreationTime, InitiatingProcessAccountName,"
			" InitiatingProcessParentId, InitiatingProcessParentFileName,"
			" AdditionalFields, SHA256, SHA1, FileSize" VG_IMAGE_COLS ", Distribution"
			") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			" ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	/* Counters only grow within a run: a batch stored late does not take them back. */
	[VG_ST_COUNTER] =
		"INSERT INTO SensorCounterStreams (DeviceId, StreamId, EventClass, Seen,"
		" Emitted, Filtered, Deduplicated, RateLimited, RingbufFull, EventsLost,"
		" Timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		" ON CONFLICT (DeviceId, StreamId, EventClass) DO UPDATE SET"
		" Seen = max(Seen, excluded.Seen), Emitted = max(Emitted, excluded.Emitted),"
		" Filtered = max(Filtered, excluded.Filtered),"
		" Deduplicated = max(Deduplicated, excluded.Deduplicated),"
		" RateLimited = max(RateLimited, excluded.RateLimited),"
		" RingbufFull = max(RingbufFull, excluded.RingbufFull),"
		" EventsLost = max(EventsLost, excluded.EventsLost),"
		" Timestamp = excluded.Timestamp",
	/* events_lost is per run: every class's row of the run carries it. */
	[VG_ST_LOST] = "UPDATE SensorCounterStreams SET EventsLost = max(EventsLost, ?),"
		       " Timestamp = ? WHERE DeviceId = ? AND StreamId = ?",
	[VG_ST_COUNTER_SUM] =
		"INSERT INTO SensorCounters (DeviceId, EventClass, Seen, Emitted,"
		" Filtered, Deduplicated, RateLimited, RingbufFull, EventsLost,"
		" Timestamp) SELECT DeviceId, EventClass, sum(Seen), sum(Emitted),"
		" sum(Filtered), sum(Deduplicated), sum(RateLimited), sum(RingbufFull),"
		" sum(EventsLost), ? FROM SensorCounterStreams WHERE DeviceId = ?"
		" GROUP BY DeviceId, EventClass"
		" ON CONFLICT (DeviceId, EventClass) DO UPDATE SET"
		" Seen = excluded.Seen, Emitted = excluded.Emitted,"
		" Filtered = excluded.Filtered,"
		" Deduplicated = excluded.Deduplicated,"
		" RateLimited = excluded.RateLimited,"
		" RingbufFull = excluded.RingbufFull,"
		" EventsLost = excluded.EventsLost, Timestamp = excluded.Timestamp",
	/* 1-5 the common columns, then the table's own, then vg_bind_initiating()'s ten. */
	[VG_ST_FILE] =
		"INSERT INTO DeviceFileEvents (" VG_COMMON_COLS ","
		" FileName, FolderPath, PreviousFileName, PreviousFolderPath," VG_INITIATING_COLS
			VG_IMAGE_COLS ", FileSize, Distribution)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_NET] = "INSERT INTO DeviceNetworkEvents (" VG_COMMON_COLS ","
		      " RemoteIP, RemotePort, LocalIP, LocalPort, Protocol," VG_INITIATING_COLS
			      VG_IMAGE_COLS ", Distribution)"
		      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		      " ?, ?, ?, ?, ?, ?)",
	/* The common five first, as vg_bind_common() binds them. */
	[VG_ST_SUPP] = "INSERT INTO SuppressedEvents (" VG_COMMON_COLS
		       ", Reason, EventClass, Count, FirstTimestamp, LastTimestamp,"
		       " FileName, FolderPath, InitiatingProcessId, InitiatingProcessFileName,"
		       " InitiatingProcessFolderPath, InitiatingProcessCommandLine)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_RING] = "INSERT INTO SensorRings (DeviceId, Ring, SizeBytes, FillBytes,"
		       " PeakFillBytes, Timestamp) VALUES (?, ?, ?, ?, ?, ?)"
		       " ON CONFLICT (DeviceId, Ring) DO UPDATE SET SizeBytes = excluded.SizeBytes,"
		       " FillBytes = excluded.FillBytes,"
		       " PeakFillBytes = max(PeakFillBytes, excluded.PeakFillBytes),"
		       " Timestamp = excluded.Timestamp",
	[VG_ST_QUEUE] = "INSERT OR REPLACE INTO SensorQueue (DeviceId, Frames, MemBytes,"
			" SpoolBytes, Timestamp) VALUES (?, ?, ?, ?, ?)",
	[VG_ST_DAEMON] = "INSERT OR REPLACE INTO SensorDaemon (DeviceId, Wakeups, Records,"
			 " Summaries, Timestamp, Hashed, HashCached, HashTooLarge, HashUnreadable,"
			 " HashGone, HashQueueFull, HashLate)"
			 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_OUTBOX] = "INSERT INTO UpstreamOutbox (DeviceId, DeviceName, StreamId, Seq, Events,"
			 " Timestamp, Frame) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_SAVEPOINT] = "SAVEPOINT vg_batch",
	[VG_ST_RELEASE] = "RELEASE vg_batch",
	[VG_ST_ROLLBACK_TO] = "ROLLBACK TO vg_batch",
	[VG_ST_DEVEV] =
		"INSERT INTO DeviceEvents (" VG_COMMON_COLS ","
		" FileName, FolderPath," VG_INITIATING_COLS VG_IMAGE_COLS ", Distribution)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

static int vg_peer_update(struct vg_store_peer *p, const Vigil__V1__DeviceInfo *d)
{
	char *id = strdup(d->device_id ? d->device_id : "");
	char *name = strdup(d->device_name ? d->device_name : "");

	if (!id || !name) {
		free(id);
		free(name);
		return -ENOMEM;
	}
	vg_store_peer_free(p);
	p->device_id = id;
	p->device_name = name;
	return 0;
}

/*
 * Bind text, or NULL for a missing or empty string. Not copied: v (the
 * event's own strings, the store's tmp buffers) must stay as it is until the
 * statement's vg_step(), which clears the bindings; a binder that fails
 * before it leaves them to vg_store_unbind().
 */
static int vg_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v || !*v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* After a failed batch: no statement keeps a binding to what the batch held. */
static void vg_store_unbind(struct vg_store *s)
{
	for (int i = 0; i < VG_ST_NR; i++) {
		sqlite3_reset(s->st[i]);
		sqlite3_clear_bindings(s->st[i]);
	}
}

static int vg_bind_time(sqlite3_stmt *st, int i, uint64_t ns)
{
	char iso[VG_ISO_LEN];

	if (!ns)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, vg_iso_time(iso, ns), -1, SQLITE_TRANSIENT);
}

static int vg_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int vg_store_device(struct vg_store *s, const char *now, const Vigil__V1__DeviceInfo *d)
{
	sqlite3_stmt *st = s->st[VG_ST_DEVICE];
	struct vg_sb *tags = &s->tmp;
	int rc;

	if (!vg_device_tags_json(tags, d))
		return SQLITE_NOMEM;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, d->device_id ? d->device_id : "", -1, SQLITE_TRANSIENT);
	vg_bind_text(st, 3, d->device_name);
	vg_bind_text(st, 4, d->client_version);
	vg_bind_text(st, 5, d->os_platform);
	vg_bind_text(st, 6, d->os_architecture);
	vg_bind_text(st, 7, d->os_version);
	vg_bind_text(st, 8, d->os_distribution);
	/* Empty, not NULL, on plain Linux: the hunting queries test isempty(). */
	sqlite3_bind_text(st, 9, d->host_device_id ? d->host_device_id : "", -1, SQLITE_TRANSIENT);
	vg_bind_text(st, 10, d->machine_group);
	sqlite3_bind_text(st, 11, vg_sb_str(tags), -1, SQLITE_TRANSIENT);
	rc = vg_step(st);
	if (rc != SQLITE_OK || !d->sensor_exe || !*d->sensor_exe || !d->sensor_exe_inode)
		return rc;
	rc = sqlite3_prepare_v2(s->db,
				"INSERT OR REPLACE INTO SensorExecutables (DeviceId, FolderPath,"
				" ExeInode, ExeDev, Timestamp) VALUES (?, ?, ?, ?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, d->device_id ? d->device_id : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, d->sensor_exe, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)d->sensor_exe_inode);
	sqlite3_bind_int64(st, 4, d->sensor_exe_dev);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
	rc = vg_step(st);
	sqlite3_finalize(st);
	return rc;
}

const char *vg_action_type(Vigil__V1__ProcessAction a)
{
	switch (a) {
	case VIGIL__V1__PROCESS_ACTION__PROCESS_CREATED:
		return "ProcessCreated";
	case VIGIL__V1__PROCESS_ACTION__PROCESS_FORKED:
		return "ProcessForked";
	case VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED:
		return "ProcessTerminated";
	default:
		return NULL;
	}
}

/* A process's columns: Id, FileName, FolderPath, CommandLine, then CreationTime, AccountName. */
enum { VG_PROC_COLS_SHORT = 4, VG_PROC_COLS = 6 };

/* Bind p's first ncols columns (VG_PROC_COLS_SHORT or VG_PROC_COLS) from i. */
static int vg_bind_process(sqlite3_stmt *st, int i, struct vg_sb *cmd, const Vigil__V1__Process *p,
			   int ncols)
{
	vg_sb_reset(cmd);
	vg_cmdline(cmd, p->argv, p->n_argv);
	if (vg_sb_err(cmd))
		return SQLITE_NOMEM;
	sqlite3_bind_int64(st, i, p->pid);
	vg_bind_text(st, i + 1, p->exe && *p->exe ? vg_basename(p->exe) : NULL);
	vg_bind_text(st, i + 2, p->exe);
	vg_bind_text(st, i + 3, p->n_argv ? vg_sb_str(cmd) : NULL);
	if (ncols < VG_PROC_COLS)
		return SQLITE_OK;
	vg_bind_time(st, i + 4, p->start_time_ns);
	vg_bind_text(st, i + 5, p->user);
	return SQLITE_OK;
}

/*
 * NULL for an event this host has a table for; else why it is skipped (a
 * newer sensor's kind, or a message missing what its table needs), in buf.
 */
const char *vg_event_unknown(const Vigil__V1__Event *ev, char *buf, size_t size)
{
	switch (ev->body_case) {
	case VIGIL__V1__EVENT__BODY_PROCESS:
		if (!ev->process || !ev->process->process)
			return "process event without its process";
		return vg_action_type(ev->process->action) ? NULL :
							     "process event of an unknown action";
	case VIGIL__V1__EVENT__BODY_FILE:
		return ev->file && ev->file->process && ev->file->action_type && ev->file->path ?
			       NULL :
			       "file event without its process, action or path";
	case VIGIL__V1__EVENT__BODY_NETWORK:
		return ev->network && ev->network->process && ev->network->action_type ?
			       NULL :
			       "network event without its process or action";
	case VIGIL__V1__EVENT__BODY_SECURITY:
		return ev->security && ev->security->process && ev->security->action_type ?
			       NULL :
			       "security event without its process or action";
	case VIGIL__V1__EVENT__BODY_SUPPRESSION:
		return ev->suppression && ev->suppression->reason ? NULL :
								    "suppression without a reason";
	default:
		if (ev->base.n_unknown_fields) {
			snprintf(buf, size, "unknown event kind (field %u)",
				 ev->base.unknown_fields[0].tag);
			return buf;
		}
		return "event without a body";
	}
}

/*
 * Columns 1-5 of every event table: Timestamp (the epoch when the event has
 * none), DeviceId, DeviceName, ActionType (NULL: none), ReportId.
 */
static void vg_bind_common(sqlite3_stmt *st, const struct vg_store_peer *peer,
			   const Vigil__V1__Event *ev, const char *action)
{
	if (ev->time_ns)
		vg_bind_time(st, 1, ev->time_ns);
	else
		sqlite3_bind_text(st, 1, "1970-01-01T00:00:00.000Z", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, peer->device_id ? peer->device_id : "", -1, SQLITE_TRANSIENT);
	vg_bind_text(st, 3, peer->device_name);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ev->report_id);
}

/*
 * The acting process as InitiatingProcess* columns from i: Id, FileName,
 * FolderPath, CommandLine, CreationTime, AccountName, AccountUid, ParentId,
 * ParentFileName, then AdditionalFields (json, may be NULL).
 */
static int vg_bind_initiating(struct vg_store *s, sqlite3_stmt *st, int i,
			      const Vigil__V1__Process *p, const Vigil__V1__Process *parent,
			      const char *json)
{
	int rc = vg_bind_process(st, i, &s->tmp, p, VG_PROC_COLS);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, i + 6, p->uid);
	sqlite3_bind_int64(st, i + 7, p->ppid);
	vg_bind_text(st, i + 8,
		     parent && parent->exe && *parent->exe ? vg_basename(parent->exe) : NULL);
	vg_bind_text(st, i + 9, json);
	return SQLITE_OK;
}

/* Bind a full path as FileName (i) and FolderPath (i + 1). */
static void vg_bind_path(sqlite3_stmt *st, int i, const char *path)
{
	vg_bind_text(st, i, path && *path ? vg_basename(path) : NULL);
	vg_bind_text(st, i + 1, path);
}

/* An image's SHA256 (i), SHA1 (i + 1) and size (i + 2; NULL when unknown). */
static void vg_bind_image(sqlite3_stmt *st, int i, const Vigil__V1__Process *p)
{
	char hex[65];

	/* Copied: hex is gone before the statement runs. */
	if (vg_digest_hex(hex, p->sha256, 32))
		sqlite3_bind_text(st, i, hex, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
	if (vg_digest_hex(hex, p->sha1, 20))
		sqlite3_bind_text(st, i + 1, hex, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i + 1);
	if (p->exe_size)
		sqlite3_bind_int64(st, i + 2, (sqlite3_int64)p->exe_size);
	else
		sqlite3_bind_null(st, i + 2);
}

/*
 * VG_IMAGE_COLS from i: the initiating process's image (ip, may be NULL),
 * then the container of c (the event's process).
 */
static void vg_bind_image_cols(sqlite3_stmt *st, int i, const Vigil__V1__Process *ip,
			       const Vigil__V1__Process *c)
{
	if (ip)
		vg_bind_image(st, i, ip);
	vg_bind_text(st, i + 3, c->container_id);
	vg_bind_text(st, i + 4, c->container_name);
}

static int vg_store_file(struct vg_store *s, const struct vg_store_peer *peer,
			 const Vigil__V1__Event *ev)
{
	const Vigil__V1__FileEvent *fe = ev->file;
	sqlite3_stmt *st = s->st[VG_ST_FILE];
	struct vg_sb *j = &s->tmp3;
	int rc;

	vg_file_fields(j, fe);
	if (vg_sb_err(j))
		return SQLITE_NOMEM;
	vg_bind_common(st, peer, ev, fe->action_type);
	vg_bind_path(st, 6, fe->path);
	vg_bind_path(st, 8, fe->previous_path);
	rc = vg_bind_initiating(s, st, 10, fe->process, fe->parent, vg_sb_str(j));
	vg_bind_image_cols(st, 20, fe->process, fe->process);
	if (fe->size)
		sqlite3_bind_int64(st, 25, (sqlite3_int64)fe->size);
	vg_bind_text(st, 26, fe->process->distribution);
	return rc != SQLITE_OK ? rc : vg_step(st);
}

static int vg_store_network(struct vg_store *s, const struct vg_store_peer *peer,
			    const Vigil__V1__Event *ev)
{
	const Vigil__V1__NetworkEvent *ne = ev->network;
	sqlite3_stmt *st = s->st[VG_ST_NET];
	int rc;

	vg_bind_common(st, peer, ev, ne->action_type);
	vg_bind_text(st, 6, ne->remote_ip);
	sqlite3_bind_int64(st, 7, ne->remote_port);
	vg_bind_text(st, 8, ne->local_ip);
	sqlite3_bind_int64(st, 9, ne->local_port);
	vg_bind_text(st, 10, ne->protocol);
	rc = vg_bind_initiating(s, st, 11, ne->process, ne->parent, NULL);
	vg_bind_image_cols(st, 21, ne->process, ne->process);
	vg_bind_text(st, 26, ne->process->distribution);
	return rc != SQLITE_OK ? rc : vg_step(st);
}

static int vg_store_suppression(struct vg_store *s, const struct vg_store_peer *peer,
				const Vigil__V1__Event *ev)
{
	const Vigil__V1__Suppression *su = ev->suppression;
	sqlite3_stmt *st = s->st[VG_ST_SUPP];
	const char *action = su->action_type && *su->action_type ? su->action_type : NULL;
	int rc;

	vg_bind_common(st, peer, ev, action);
	vg_bind_text(st, 6, su->reason);
	vg_bind_text(st, 7, su->event_class);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)su->count);
	vg_bind_time(st, 9, su->first_ns);
	vg_bind_time(st, 10, su->last_ns);
	vg_bind_path(st, 11, su->path);
	if (su->process) {
		rc = vg_bind_process(st, 13, &s->tmp, su->process, VG_PROC_COLS_SHORT);
		if (rc != SQLITE_OK)
			return rc;
	}
	return vg_step(st);
}

static int vg_store_rings(struct vg_store *s, const char *dev, const char *now,
			  const Vigil__V1__Batch *b)
{
	sqlite3_stmt *st = s->st[VG_ST_RING];
	int rc;

	for (size_t i = 0; i < b->n_rings; i++) {
		const Vigil__V1__RingStats *r = b->rings[i];

		sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, r->name ? r->name : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)r->size_bytes);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)r->fill_bytes);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)r->peak_fill_bytes);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
		rc = vg_step(st);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int vg_store_daemon(struct vg_store *s, const char *dev, const char *now,
			   const Vigil__V1__Batch *b)
{
	sqlite3_stmt *st = s->st[VG_ST_DAEMON];
	int rc;

	if (!b->daemon)
		return SQLITE_OK;
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b->daemon->wakeups);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)b->daemon->records);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)b->daemon->summaries);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)b->daemon->hashed);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)b->daemon->hash_cached);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)b->daemon->hash_too_large);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)b->daemon->hash_unreadable);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)b->daemon->hash_gone);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)b->daemon->hash_queue_full);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)b->daemon->hash_late);
	rc = vg_step(st);
	if (rc != SQLITE_OK)
		return rc;
	st = s->st[VG_ST_QUEUE];
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b->daemon->queue_frames);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)b->daemon->queue_mem_bytes);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)b->daemon->spool_bytes);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
	return vg_step(st);
}

/* The filter set a batch reports replaces the device's previous one. */
static int vg_store_filter_rules(struct vg_store *s, const char *dev, const char *now,
				 const Vigil__V1__Batch *b)
{
	sqlite3_stmt *st;
	int rc;

	if (!b->n_filter_rules)
		return SQLITE_OK;
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM SensorFilterRules WHERE DeviceId = ?", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	rc = vg_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_prepare_v2(
		s->db,
		"INSERT INTO SensorFilterRules (DeviceId, RuleIndex, Line, Rule, Action,"
		" Hits, Generation, Timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < b->n_filter_rules && rc == SQLITE_OK; i++) {
		const Vigil__V1__FilterRule *r = b->filter_rules[i];

		sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, r->index);
		sqlite3_bind_int64(st, 3, r->line);
		sqlite3_bind_text(st, 4, r->rule ? r->rule : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, r->action ? r->action : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)r->hits);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)r->generation);
		sqlite3_bind_text(st, 8, now, -1, SQLITE_TRANSIENT);
		rc = vg_step(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static int vg_store_security(struct vg_store *s, const struct vg_store_peer *peer,
			     const Vigil__V1__Event *ev)
{
	const Vigil__V1__SecurityEvent *se = ev->security;
	sqlite3_stmt *st = s->st[VG_ST_DEVEV];
	int rc;

	const char *json = se->additional_fields; /* an older sensor's, as it sent it */

	if (se->n_details) {
		json = vg_store_details_json(&s->tmp3, se);
		if (!json)
			return SQLITE_NOMEM;
	}
	vg_bind_common(st, peer, ev, se->action_type);
	vg_bind_path(st, 6, se->file_path);
	rc = vg_bind_initiating(s, st, 8, se->process, se->parent, json);
	vg_bind_image_cols(st, 18, se->process, se->process);
	vg_bind_text(st, 23, se->process->distribution);
	return rc != SQLITE_OK ? rc : vg_step(st);
}

static int vg_store_event(struct vg_store *s, const struct vg_store_peer *peer,
			  const Vigil__V1__Event *ev)
{
	sqlite3_stmt *st = s->st[VG_ST_EVENT];
	const Vigil__V1__ProcessEvent *pe;
	const Vigil__V1__Process *p, *pp;
	const char *action;
	int rc;

	pe = ev->process;
	p = pe->process;
	pp = pe->parent;
	action = vg_action_type(pe->action);

	vg_bind_common(st, peer, ev, action);
	/* 6 ProcessId, 7 FileName, 8 FolderPath, 9 CommandLine, 10 CreationTime, 11 AccountName */
	rc = vg_bind_process(st, 6, &s->tmp, p, VG_PROC_COLS);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 12, p->uid);
	vg_bind_text(st, 13, p->cwd);
	if (pe->action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED)
		sqlite3_bind_int64(st, 14, pe->exit_signal ? 128 + pe->exit_signal : pe->exit_code);
	else
		sqlite3_bind_null(st, 14);
	sqlite3_bind_int64(st, 15, p->ppid);
	if (pp) {
		/* 16 Id, 17 FileName, 18 FolderPath, 19 CommandLine, 20 CreationTime, 21 AccountName */
		rc = vg_bind_process(st, 16, &s->tmp2, pp, VG_PROC_COLS);
		if (rc != SQLITE_OK)
			return rc;
		sqlite3_bind_int64(st, 22, pp->ppid);
	} else {
		/* The parent message is missing; its pid is still known. */
		sqlite3_bind_int64(st, 16, p->ppid);
	}
	vg_bind_text(st, 23,
		     pe->grandparent_exe && *pe->grandparent_exe ?
			     vg_basename(pe->grandparent_exe) :
			     NULL);
	vg_process_fields(&s->tmp3, pe);
	if (vg_sb_err(&s->tmp3))
		return SQLITE_NOMEM;
	sqlite3_bind_text(st, 24, vg_sb_str(&s->tmp3), -1, SQLITE_TRANSIENT);
	/* 25 SHA256, 26 SHA1, 27 FileSize: the process's image; then the parent's and the container. */
	vg_bind_image(st, 25, p);
	vg_bind_image_cols(st, 28, pp, p);
	/* The process the row is about: a child of unshare -p runs in a namespace of its own. */
	vg_bind_text(st, 33, p->distribution);
	return vg_step(st);
}

static int vg_store_counters(struct vg_store *s, const char *dev, const char *now,
			     const Vigil__V1__Batch *b)
{
	sqlite3_stmt *st = s->st[VG_ST_COUNTER];
	int rc;

	for (size_t i = 0; i < b->n_counters; i++) {
		const Vigil__V1__Counter *c = b->counters[i];

		sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)b->stream_id);
		sqlite3_bind_text(st, 3, c->event_class ? c->event_class : "", -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)c->seen);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)c->emitted);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)c->filtered);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)c->deduplicated);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)c->rate_limited);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)c->ringbuf_full);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)b->events_lost);
		sqlite3_bind_text(st, 11, now, -1, SQLITE_TRANSIENT);
		rc = vg_step(st);
		if (rc != SQLITE_OK)
			return rc;
	}
	st = s->st[VG_ST_LOST];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)b->events_lost);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)b->stream_id);
	rc = vg_step(st);
	if (rc != SQLITE_OK)
		return rc;
	st = s->st[VG_ST_COUNTER_SUM];
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dev, -1, SQLITE_TRANSIENT);
	return vg_step(st);
}

static int vg_store_kind(struct vg_store *s, const struct vg_store_peer *peer,
			 const Vigil__V1__Event *ev);

/* One more event of this device not stored (or stored without a part), for why. */
static int vg_store_skipped(struct vg_store *s, const char *dev, const char *now, const char *why)
{
	sqlite3_stmt *st = s->st[VG_ST_SKIPPED];

	/* Counted with the batch, so a resend does not count it twice. */
	vg_log(VG_DEBUG, "store: skipped an event: %s", why);
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
	return vg_step(st);
}

static int vg_store_one(struct vg_store *s, const struct vg_store_peer *peer, const char *dev,
			const char *now, const Vigil__V1__Event *ev)
{
	char why_buf[64];
	const char *why = vg_event_unknown(ev, why_buf, sizeof(why_buf));
	int rc;

	if (why)
		return vg_store_skipped(s, dev, now, why);
	rc = vg_store_kind(s, peer, ev);
	if (rc == SQLITE_OK && vg_event_bad_digests(ev))
		rc = vg_store_skipped(s, dev, now, VG_BAD_DIGEST_REASON);
	return rc;
}

static int vg_store_kind(struct vg_store *s, const struct vg_store_peer *peer,
			 const Vigil__V1__Event *ev)
{
	switch (ev->body_case) {
	case VIGIL__V1__EVENT__BODY_FILE:
		return vg_store_file(s, peer, ev);
	case VIGIL__V1__EVENT__BODY_NETWORK:
		return vg_store_network(s, peer, ev);
	case VIGIL__V1__EVENT__BODY_SECURITY:
		return vg_store_security(s, peer, ev);
	case VIGIL__V1__EVENT__BODY_SUPPRESSION:
		return vg_store_suppression(s, peer, ev);
	default:
		return vg_store_event(s, peer, ev);
	}
}

/*
 * Undo the batch being stored: its transaction, or in a group its savepoint
 * only (the group's earlier batches stay). An error may have rolled back the
 * whole transaction already (SQLite does on a full disk, an I/O error, out of
 * memory): then there is no savepoint left, and vg_store_group_end() finds
 * the group gone.
 */
static void vg_store_undo(struct vg_store *s)
{
	if (!s->group) {
		vg_step(s->st[VG_ST_ROLLBACK]);
		return;
	}
	if (sqlite3_get_autocommit(s->db))
		return;
	vg_step(s->st[VG_ST_ROLLBACK_TO]);
	vg_step(s->st[VG_ST_RELEASE]);
}

/* b with its events, or (b->events NULL) v's events, unpacked one at a time. */
static int vg_store_batch_tx(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			     const Vigil__V1__Batch *b, struct vg_batch *v, const uint8_t *frame,
			     size_t frame_len)
{
	size_t n_events = b->events ? b->n_events : v ? v->n_events : 0;
	char now[VG_ISO_LEN];
	const char *dev, *what;
	sqlite3_stmt *st;
	int rc, err;

	if (b->device) {
		err = vg_peer_update(peer, b->device);
		if (err)
			return err;
	}
	dev = peer->device_id ? peer->device_id : "";
	vg_iso_time(now, vg_now_ns());

	/* In a group (vg_store_group_begin()), a savepoint: a failed batch undoes only its own rows. */
	what = s->group ? "begin batch" : "begin transaction";
	rc = vg_step(s->st[s->group ? VG_ST_SAVEPOINT : VG_ST_BEGIN]);
	if (rc != SQLITE_OK)
		return vg_store_fail(s, rc, what);

	what = "record frame";
	st = s->st[VG_ST_FRAME];
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b->stream_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n_events);
	rc = vg_step(st);
	if (rc != SQLITE_OK)
		goto err_rollback;
	if (sqlite3_changes(s->db) == 0) {
		vg_store_undo(s);
		return 0; /* a resend of a stored batch (or of one earlier in the group) */
	}

	what = "store device info";
	if (b->device) {
		rc = vg_store_device(s, now, b->device);
		if (rc != SQLITE_OK)
			goto err_rollback;
	}
	what = "store event";
	for (size_t i = 0; i < n_events; i++) {
		Vigil__V1__Event *ev;

		if (b->events) {
			ev = b->events[i];
		} else {
			/* One at a time: decoding holds one event, however many the batch has. */
			err = vg_batch_event(v, i, &ev);
			if (err) {
				vg_log(VG_ERROR, "store: event %llu of the batch: %s",
				       (unsigned long long)i, strerror(-err));
				vg_store_unbind(s);
				vg_store_undo(s);
				return err;
			}
		}
		rc = vg_store_one(s, peer, dev, now, ev);
		if (rc != SQLITE_OK)
			goto err_rollback;
	}
	what = "store counters";
	rc = vg_store_counters(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;
	rc = vg_store_rings(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;
	rc = vg_store_daemon(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;
	what = "store filter rules";
	rc = vg_store_filter_rules(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;

	/* In this transaction: a stored batch is always also in the outbox, and once. */
	what = "keep frame for upstream";
	if (s->outbox && frame) {
		st = s->st[VG_ST_OUTBOX];
		sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
		vg_bind_text(st, 2, peer->device_name);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)b->stream_id);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)n_events);
		sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob64(st, 7, frame, frame_len, SQLITE_STATIC);
		rc = vg_step(st);
		if (rc != SQLITE_OK)
			goto err_rollback;
	}

	what = s->group ? "end batch" : "commit";
	rc = vg_step(s->st[s->group ? VG_ST_RELEASE : VG_ST_COMMIT]);
	if (rc != SQLITE_OK)
		goto err_rollback;
	return 1;

err_rollback:
	err = vg_store_fail(s, rc, what);
	vg_store_unbind(s);
	vg_store_undo(s);
	return err;
}

static int vg_store_batch_do(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			     const Vigil__V1__Batch *b, struct vg_batch *v, const uint8_t *frame,
			     size_t frame_len)
{
	int ret;

	if (s->lost)
		return -ESTALE;
	ret = vg_store_batch_tx(s, peer, seq, b, v, frame, frame_len);
	if (ret >= 0 && s->group)
		s->group_batches++;
	/*
	 * Stored, or known as stored: only true of the file at the path. The
	 * check comes after the commit, so a deletion during it is seen too
	 * (a group's: vg_store_group_end()).
	 */
	if (ret >= 0 && !s->group && vg_store_check(s))
		return -ESTALE;
	return ret;
}

int vg_store_group_begin(struct vg_store *s)
{
	int rc;

	if (s->lost)
		return -ESTALE;
	rc = vg_step(s->st[VG_ST_BEGIN]);
	if (rc != SQLITE_OK)
		return vg_store_fail(s, rc, "begin transaction");
	s->group = 1;
	s->group_batches = 0;
	return 0;
}

int vg_store_group_end(struct vg_store *s)
{
	int rc, err;

	if (!s->group)
		return 0;
	s->group = 0;
	if (sqlite3_get_autocommit(s->db)) {
		if (!s->group_batches)
			return 0; /* its only batch failed: nothing else was lost */
		vg_log(VG_ERROR,
		       "store %s: an error rolled back the transaction: none of its %d batches is"
		       " stored",
		       s->path ? s->path : "", s->group_batches);
		return -EIO;
	}
	rc = vg_step(s->st[VG_ST_COMMIT]);
	if (rc != SQLITE_OK) {
		err = vg_store_fail(s, rc, "commit");
		vg_store_unbind(s);
		vg_step(s->st[VG_ST_ROLLBACK]);
		return err;
	}
	return vg_store_check(s);
}

int vg_store_batch(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
		   const Vigil__V1__Batch *b)
{
	return vg_store_batch_do(s, peer, seq, b, NULL, NULL, 0);
}

int vg_store_batch_view(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			struct vg_batch *v, const uint8_t *frame, size_t len)
{
	return vg_store_batch_do(s, peer, seq, v->b, v, frame, len);
}

void vg_store_set_outbox(struct vg_store *s, int on)
{
	s->outbox = on;
}

int vg_store_refused(struct vg_store *s, const char *device, const char *reason, uint64_t n)
{
	static const char sql[] =
		"INSERT INTO HostRefused (DeviceId, Reason, Count, Timestamp) VALUES (?, ?, ?, ?)"
		" ON CONFLICT (DeviceId, Reason) DO UPDATE SET Count = Count + excluded.Count,"
		" Timestamp = excluded.Timestamp";
	char now[VG_ISO_LEN];
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return vg_store_fail(s, rc, "count a refusal");
	vg_iso_time(now, vg_now_ns());
	sqlite3_bind_text(st, 1, device ? device : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)n);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : vg_store_fail(s, rc, "count a refusal");
}
