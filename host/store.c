// SPDX-License-Identifier: GPL-2.0-only
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef TIME_UTC
#include <sys/time.h>
#endif
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "batch.h"
#include "compat.h"
#include "fmt.h"
#include "log.h"
#include "store.h"

#define VG_BUSY_TIMEOUT_MS 5000

static const char vg_schema[] =
	"CREATE TABLE IF NOT EXISTS DeviceProcessEvents ("
	" Timestamp TEXT NOT NULL,"
	" DeviceId TEXT NOT NULL,"
	" DeviceName TEXT,"
	" ActionType TEXT NOT NULL,"
	" ReportId INTEGER,"
	" FileName TEXT,"
	" FolderPath TEXT,"
	" SHA256 TEXT,"
	" ProcessId INTEGER,"
	" ProcessCommandLine TEXT,"
	" ProcessCreationTime TEXT,"
	" AccountName TEXT,"
	" AccountUid INTEGER,"
	" ProcessCurrentDirectory TEXT,"
	" ProcessExitCode INTEGER,"
	" ProcessParentId INTEGER,"
	" InitiatingProcessId INTEGER,"
	" InitiatingProcessFileName TEXT,"
	" InitiatingProcessFolderPath TEXT,"
	" InitiatingProcessCommandLine TEXT,"
	" InitiatingProcessCreationTime TEXT,"
	" InitiatingProcessAccountName TEXT,"
	" InitiatingProcessParentId INTEGER,"
	" InitiatingProcessParentFileName TEXT,"
	" AdditionalFields TEXT);"
	"CREATE INDEX IF NOT EXISTS DeviceProcessEvents_Device_Time"
	" ON DeviceProcessEvents(DeviceId, Timestamp);"
	"CREATE INDEX IF NOT EXISTS DeviceProcessEvents_Time"
	" ON DeviceProcessEvents(Timestamp, ReportId);"
	"CREATE INDEX IF NOT EXISTS DeviceProcessEvents_Pid ON DeviceProcessEvents(ProcessId);"
	"CREATE TABLE IF NOT EXISTS DeviceInfo ("
	" Timestamp TEXT NOT NULL,"
	" DeviceId TEXT NOT NULL,"
	" DeviceName TEXT,"
	" ClientVersion TEXT,"
	" OSPlatform TEXT,"
	" OSArchitecture TEXT,"
	" OSVersion TEXT,"
	" OSDistribution TEXT,"
	" HostDeviceId TEXT,"
	" MachineGroup TEXT,"
	" RegistryDeviceTag TEXT,"
	" DeviceTags TEXT,"
	" OnboardingStatus TEXT);"
	"CREATE INDEX IF NOT EXISTS DeviceInfo_Device_Time ON DeviceInfo(DeviceId, Timestamp);"
	/* DeviceFileEvents, DeviceNetworkEvents, DeviceEvents: the acting process is the initiating one. */
	"CREATE TABLE IF NOT EXISTS DeviceFileEvents ("
	" Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT,"
	" ActionType TEXT NOT NULL, ReportId INTEGER,"
	" FileName TEXT, FolderPath TEXT, PreviousFileName TEXT, PreviousFolderPath TEXT,"
	" FileSize INTEGER, SHA256 TEXT,"
	" InitiatingProcessId INTEGER,"
	" InitiatingProcessFileName TEXT,"
	" InitiatingProcessFolderPath TEXT,"
	" InitiatingProcessCommandLine TEXT,"
	" InitiatingProcessCreationTime TEXT,"
	" InitiatingProcessAccountName TEXT,"
	" InitiatingProcessAccountUid INTEGER,"
	" InitiatingProcessParentId INTEGER,"
	" InitiatingProcessParentFileName TEXT,"
	" AdditionalFields TEXT);"
	"CREATE INDEX IF NOT EXISTS DeviceFileEvents_Time ON DeviceFileEvents(Timestamp, ReportId);"
	"CREATE TABLE IF NOT EXISTS DeviceNetworkEvents ("
	" Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT,"
	" ActionType TEXT NOT NULL, ReportId INTEGER,"
	" RemoteIP TEXT, RemotePort INTEGER, LocalIP TEXT, LocalPort INTEGER, Protocol TEXT,"
	" InitiatingProcessId INTEGER,"
	" InitiatingProcessFileName TEXT,"
	" InitiatingProcessFolderPath TEXT,"
	" InitiatingProcessCommandLine TEXT,"
	" InitiatingProcessCreationTime TEXT,"
	" InitiatingProcessAccountName TEXT,"
	" InitiatingProcessAccountUid INTEGER,"
	" InitiatingProcessParentId INTEGER,"
	" InitiatingProcessParentFileName TEXT,"
	" AdditionalFields TEXT);"
	"CREATE INDEX IF NOT EXISTS DeviceNetworkEvents_Time"
	" ON DeviceNetworkEvents(Timestamp, ReportId);"
	"CREATE TABLE IF NOT EXISTS DeviceEvents ("
	" Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT,"
	" ActionType TEXT NOT NULL, ReportId INTEGER,"
	" FileName TEXT, FolderPath TEXT,"
	" InitiatingProcessId INTEGER,"
	" InitiatingProcessFileName TEXT,"
	" InitiatingProcessFolderPath TEXT,"
	" InitiatingProcessCommandLine TEXT,"
	" InitiatingProcessCreationTime TEXT,"
	" InitiatingProcessAccountName TEXT,"
	" InitiatingProcessAccountUid INTEGER,"
	" InitiatingProcessParentId INTEGER,"
	" InitiatingProcessParentFileName TEXT,"
	" AdditionalFields TEXT);"
	"CREATE INDEX IF NOT EXISTS DeviceEvents_Time ON DeviceEvents(Timestamp, ReportId);"
	/* Extensions: what the kernel held back, ring buffers, the daemon's own counts. */
	"CREATE TABLE IF NOT EXISTS SuppressedEvents ("
	" Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT, ReportId INTEGER,"
	" Reason TEXT NOT NULL, EventClass TEXT, ActionType TEXT, Count INTEGER NOT NULL,"
	" FirstTimestamp TEXT, LastTimestamp TEXT, FileName TEXT, FolderPath TEXT,"
	" InitiatingProcessId INTEGER, InitiatingProcessFileName TEXT,"
	" InitiatingProcessFolderPath TEXT, InitiatingProcessCommandLine TEXT);"
	"CREATE TABLE IF NOT EXISTS SensorRings ("
	" DeviceId TEXT NOT NULL, Ring TEXT NOT NULL, SizeBytes INTEGER, FillBytes INTEGER,"
	" PeakFillBytes INTEGER, Timestamp TEXT, PRIMARY KEY (DeviceId, Ring));"
	"CREATE TABLE IF NOT EXISTS SensorFilterRules ("
	" DeviceId TEXT NOT NULL, RuleIndex INTEGER NOT NULL, Line INTEGER, Rule TEXT,"
	" Action TEXT, Hits INTEGER, Generation INTEGER, Timestamp TEXT,"
	" PRIMARY KEY (DeviceId, RuleIndex));"
	/* What each sensor says it runs (DeviceInfo.sensor_exe): rules exclude the sensor by it. */
	"CREATE TABLE IF NOT EXISTS SensorExecutables ("
	" DeviceId TEXT NOT NULL, FolderPath TEXT NOT NULL, ExeInode INTEGER NOT NULL,"
	" ExeDev INTEGER NOT NULL, Timestamp TEXT,"
	" PRIMARY KEY (DeviceId, FolderPath, ExeInode, ExeDev));"
	"CREATE TABLE IF NOT EXISTS SensorDaemon ("
	" DeviceId TEXT PRIMARY KEY, Wakeups INTEGER, Records INTEGER, Summaries INTEGER,"
	" Timestamp TEXT);"
	"CREATE TABLE IF NOT EXISTS SensorCounters ("
	" DeviceId TEXT NOT NULL,"
	" EventClass TEXT NOT NULL,"
	" Seen INTEGER NOT NULL,"
	" Emitted INTEGER NOT NULL,"
	" Filtered INTEGER NOT NULL,"
	" Deduplicated INTEGER NOT NULL,"
	" RateLimited INTEGER NOT NULL,"
	" RingbufFull INTEGER NOT NULL,"
	" EventsLost INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL,"
	" PRIMARY KEY (DeviceId, EventClass));"
	/* Events of a batch the host could not store (a newer sensor's kinds, missing parts). */
	/*
	 * The counters of each vigild run (stream): every run counts from zero, so
	 * SensorCounters, the device's totals, is their sum, and the losses of an
	 * earlier run stay counted after a restart.
	 */
	"CREATE TABLE IF NOT EXISTS SensorCounterStreams ("
	" DeviceId TEXT NOT NULL, StreamId INTEGER NOT NULL, EventClass TEXT NOT NULL,"
	" Seen INTEGER NOT NULL, Emitted INTEGER NOT NULL, Filtered INTEGER NOT NULL,"
	" Deduplicated INTEGER NOT NULL, RateLimited INTEGER NOT NULL,"
	" RingbufFull INTEGER NOT NULL, EventsLost INTEGER NOT NULL, Timestamp TEXT NOT NULL,"
	" PRIMARY KEY (DeviceId, StreamId, EventClass));"
	/* A store written before runs were kept apart: its totals become stream 0. */
	"INSERT OR IGNORE INTO SensorCounterStreams SELECT DeviceId, 0, EventClass, Seen, Emitted,"
	" Filtered, Deduplicated, RateLimited, RingbufFull, EventsLost, Timestamp"
	" FROM SensorCounters WHERE NOT EXISTS (SELECT 1 FROM SensorCounterStreams);"
	"CREATE TABLE IF NOT EXISTS HostSkippedEvents ("
	" DeviceId TEXT NOT NULL, Reason TEXT NOT NULL, Count INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL, PRIMARY KEY (DeviceId, Reason));"
	/* Peers and frames the host refused (handshake, identity, limits): DeviceId as proven, or "". */
	"CREATE TABLE IF NOT EXISTS HostRefused ("
	" DeviceId TEXT NOT NULL, Reason TEXT NOT NULL, Count INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL, PRIMARY KEY (DeviceId, Reason));"
	"CREATE TABLE IF NOT EXISTS ReceivedFrames ("
	" DeviceId TEXT NOT NULL,"
	" StreamId INTEGER NOT NULL,"
	" Seq INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL,"
	" Events INTEGER NOT NULL,"
	" PRIMARY KEY (DeviceId, StreamId, Seq));";

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
	VG_ST_NR,
};

static const char *const vg_stmt_sql[VG_ST_NR] = {
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
	[VG_ST_EVENT] = "INSERT INTO DeviceProcessEvents (Timestamp, DeviceId, DeviceName,"
			" ActionType, ReportId, ProcessId, FileName, FolderPath,"
			" ProcessCommandLine, ProcessCreationTime, AccountName, AccountUid,"
			" ProcessCurrentDirectory, ProcessExitCode, ProcessParentId,"
			" InitiatingProcessId, InitiatingProcessFileName,"
			" InitiatingProcessFolderPath, InitiatingProcessCommandLine,"
			" InitiatingProcessCreationTime, InitiatingProcessAccountName,"
			" InitiatingProcessParentId, InitiatingProcessParentFileName,"
			" AdditionalFields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			" ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
		"INSERT INTO DeviceFileEvents (Timestamp, DeviceId, DeviceName, ActionType,"
		" ReportId, FileName, FolderPath, PreviousFileName, PreviousFolderPath,"
		" InitiatingProcessId, InitiatingProcessFileName, InitiatingProcessFolderPath,"
		" InitiatingProcessCommandLine, InitiatingProcessCreationTime,"
		" InitiatingProcessAccountName, InitiatingProcessAccountUid,"
		" InitiatingProcessParentId, InitiatingProcessParentFileName, AdditionalFields)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_NET] =
		"INSERT INTO DeviceNetworkEvents (Timestamp, DeviceId, DeviceName, ActionType,"
		" ReportId, RemoteIP, RemotePort, LocalIP, LocalPort, Protocol,"
		" InitiatingProcessId, InitiatingProcessFileName, InitiatingProcessFolderPath,"
		" InitiatingProcessCommandLine, InitiatingProcessCreationTime,"
		" InitiatingProcessAccountName, InitiatingProcessAccountUid,"
		" InitiatingProcessParentId, InitiatingProcessParentFileName, AdditionalFields)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_SUPP] = "INSERT INTO SuppressedEvents (Timestamp, DeviceId, DeviceName, ReportId,"
		       " Reason, EventClass, ActionType, Count, FirstTimestamp, LastTimestamp,"
		       " FileName, FolderPath, InitiatingProcessId, InitiatingProcessFileName,"
		       " InitiatingProcessFolderPath, InitiatingProcessCommandLine)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[VG_ST_RING] = "INSERT INTO SensorRings (DeviceId, Ring, SizeBytes, FillBytes,"
		       " PeakFillBytes, Timestamp) VALUES (?, ?, ?, ?, ?, ?)"
		       " ON CONFLICT (DeviceId, Ring) DO UPDATE SET SizeBytes = excluded.SizeBytes,"
		       " FillBytes = excluded.FillBytes,"
		       " PeakFillBytes = max(PeakFillBytes, excluded.PeakFillBytes),"
		       " Timestamp = excluded.Timestamp",
	[VG_ST_DAEMON] = "INSERT OR REPLACE INTO SensorDaemon (DeviceId, Wakeups, Records,"
			 " Summaries, Timestamp) VALUES (?, ?, ?, ?, ?)",
	[VG_ST_DEVEV] =
		"INSERT INTO DeviceEvents (Timestamp, DeviceId, DeviceName, ActionType,"
		" ReportId, FileName, FolderPath,"
		" InitiatingProcessId, InitiatingProcessFileName, InitiatingProcessFolderPath,"
		" InitiatingProcessCommandLine, InitiatingProcessCreationTime,"
		" InitiatingProcessAccountName, InitiatingProcessAccountUid,"
		" InitiatingProcessParentId, InitiatingProcessParentFileName, AdditionalFields)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

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
	struct vg_sb tmp; /* command lines and JSON while binding one event */
	struct vg_sb tmp2;
	struct vg_sb tmp3;
};

int vg_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

uint64_t vg_now_ns(void)
{
#ifdef TIME_UTC
	struct timespec ts;

	if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
		return (uint64_t)time(NULL) * 1000000000u;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#else
	/* mingw-w64 on msvcrt.dll has no timespec_get(); its libmingwex has this. */
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
#endif
}

static int vg_store_fail(struct vg_store *s, int rc, const char *what)
{
	int err = vg_sqlite_errno(rc);

	vg_log(VG_ERROR, "store%s%s: %s: %s", s->path ? " " : "", s->path ? s->path : "", what,
	       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	return err ? err : -EIO;
}

void vg_store_close(struct vg_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < VG_ST_NR; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
#ifndef _WIN32
	for (int i = 0; i < 2; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
#endif
	free(s->path);
	vg_sb_free(&s->tmp);
	vg_sb_free(&s->tmp2);
	vg_sb_free(&s->tmp3);
	free(s);
}

/* Keep the database file and its WAL (made by the schema's writes) open, to compare later. */
static int vg_store_hold(struct vg_store *s, const char *path)
{
	size_t n = strlen(path);

	s->path = malloc(n + 5);
	if (!s->path)
		return -ENOMEM;
	memcpy(s->path, path, n + 1);
#ifndef _WIN32
	/* SQLite's in-memory and temporary databases have no file to lose. */
	for (int i = 0; i < 2 && n && strcmp(path, ":memory:"); i++) {
		if (i)
			memcpy(s->path + n, "-wal", 5);
		s->fd[i] = open(s->path, O_RDONLY | O_CLOEXEC);
		if (s->fd[i] < 0 && (i == 0 || errno != ENOENT)) {
			int err = -errno;

			s->path[n] = 0;
			vg_log(VG_ERROR, "store: %s%s: %s", s->path, i ? "-wal" : "",
			       strerror(-err));
			return err;
		}
	}
	s->path[n] = 0;
#endif
	return 0;
}

/*
 * 0 while the database file and its WAL are still the files at their paths;
 * else -ESTALE, logged once, and the store refuses every batch from then on.
 */
static int vg_store_check(struct vg_store *s)
{
#ifndef _WIN32
	for (int i = 0; i < 2 && !s->lost; i++) {
		const char *what = NULL;
		struct stat held, now;
		char p[4096];

		if (s->fd[i] < 0)
			continue;
		snprintf(p, sizeof(p), "%s%s", s->path, i ? "-wal" : "");
		if (fstat(s->fd[i], &held))
			what = strerror(errno);
		else if (held.st_nlink == 0)
			what = "deleted";
		else if (stat(p, &now))
			what = errno == ENOENT ? "deleted" : strerror(errno);
		else if (held.st_dev != now.st_dev || held.st_ino != now.st_ino)
			what = "replaced by another file";
		if (what) {
			s->lost = 1;
			vg_log(VG_ERROR,
			       "store: %s %s while the host had it open: what it commits now "
			       "is lost, so nothing more is acknowledged; restart the host",
			       p, what);
		}
	}
#endif
	return s->lost ? -ESTALE : 0;
}

int vg_store_lost(const struct vg_store *s)
{
	return s->lost;
}

static int vg_store_do_open(struct vg_store **out, const char *path, int flags, int writer)
{
	struct vg_store *s;
	char *msg = NULL;
	int rc, err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd[0] = s->fd[1] = -1;
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		err = vg_sqlite_errno(rc);
		/* A read-only open of a missing file says CANTOPEN; say why. */
		if (rc == SQLITE_CANTOPEN)
			err = -ENOENT;
		goto err_close;
	}
	sqlite3_busy_timeout(s->db, VG_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(s->db, 0);
	if (writer) {
		rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
				  NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, vg_schema, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			vg_log(VG_ERROR, "store: %s: set up tables: %s", path,
			       msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			err = vg_sqlite_errno(rc);
			goto err_close;
		}
		for (int i = 0; i < VG_ST_NR; i++) {
			rc = sqlite3_prepare_v3(s->db, vg_stmt_sql[i], -1,
						SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
			if (rc != SQLITE_OK) {
				err = vg_store_fail(s, rc, "prepare");
				goto err_close;
			}
		}
		err = vg_store_hold(s, path);
		if (err)
			goto err_close;
	} else {
		/* Fails with "file is not a database" here rather than at the first query. */
		rc = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			err = vg_sqlite_errno(rc);
			goto err_close;
		}
	}
	*out = s;
	return 0;

err_close:
	vg_store_close(s);
	return err ? err : -EIO;
}

int vg_store_open(struct vg_store **s, const char *path)
{
	return vg_store_do_open(s, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1);
}

int vg_store_open_existing(struct vg_store **s, const char *path)
{
	/*
	 * Read-write without CREATE: never makes the file, and a reader of a WAL
	 * database may need to create the -shm file beside it.
	 */
	return vg_store_do_open(s, path, SQLITE_OPEN_READWRITE, 0);
}

sqlite3 *vg_store_db(struct vg_store *s)
{
	return s->db;
}

void vg_store_peer_free(struct vg_store_peer *p)
{
	free(p->device_id);
	free(p->device_name);
	p->device_id = NULL;
	p->device_name = NULL;
}

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

/* Bind text, or NULL for a missing or empty string. */
static int vg_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v || !*v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
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

	vg_sb_reset(tags);
	vg_sb_add(tags, "[");
	for (size_t i = 0; i < d->n_tags; i++) {
		if (i)
			vg_sb_add(tags, ",");
		vg_json_str(tags, d->tags[i]);
	}
	vg_sb_add(tags, "]");
	if (vg_sb_err(tags))
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

static const char *vg_action_type(Vigil__V1__ProcessAction a)
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

static void vg_json_num(struct vg_sb *j, const char *key, uint64_t v)
{
	vg_sb_add(j, j->len > 1 ? "," : "");
	vg_json_str(j, key);
	vg_sb_printf(j, ":%llu", (unsigned long long)v);
}

static void vg_additional_fields(struct vg_sb *j, const Vigil__V1__ProcessEvent *pe)
{
	const Vigil__V1__Process *p = pe->process;

	vg_sb_reset(j);
	vg_sb_add(j, "{");
	if (p->comm && *p->comm) {
		vg_json_str(j, "Comm");
		vg_sb_add(j, ":");
		vg_json_str(j, p->comm);
	}
	if (p->cgroup_id)
		vg_json_num(j, "CgroupId", p->cgroup_id);
	if (p->exe_inode)
		vg_json_num(j, "ExeInode", p->exe_inode);
	if (p->exe_dev)
		vg_json_num(j, "ExeDev", p->exe_dev);
	vg_json_num(j, "Gid", p->gid);
	vg_json_num(j, "Euid", p->euid);
	vg_json_num(j, "Egid", p->egid);
	if (p->argv_truncated)
		vg_sb_add(j, ",\"ArgvTruncated\":true");
	if (p->stdin_socket)
		vg_sb_add(j, ",\"StdinSocket\":true");
	if (p->stdout_socket)
		vg_sb_add(j, ",\"StdoutSocket\":true");
	if (pe->action == VIGIL__V1__PROCESS_ACTION__PROCESS_TERMINATED) {
		if (pe->exit_signal)
			vg_json_num(j, "ExitSignal", (uint32_t)pe->exit_signal);
		if (pe->core_dumped)
			vg_sb_add(j, ",\"CoreDumped\":true");
	}
	vg_json_num(j, "ParentId", p->ppid);
	vg_sb_add(j, "}");
}

static int vg_bind_process(sqlite3_stmt *st, int i, struct vg_sb *cmd, const Vigil__V1__Process *p)
{
	/* Binds i.. as Id, FileName, FolderPath, CommandLine, CreationTime, AccountName. */
	vg_sb_reset(cmd);
	vg_cmdline(cmd, p->argv, p->n_argv);
	if (vg_sb_err(cmd))
		return SQLITE_NOMEM;
	sqlite3_bind_int64(st, i, p->pid);
	vg_bind_text(st, i + 1, p->exe && *p->exe ? vg_basename(p->exe) : NULL);
	vg_bind_text(st, i + 2, p->exe);
	vg_bind_text(st, i + 3, p->n_argv ? vg_sb_str(cmd) : NULL);
	vg_bind_time(st, i + 4, p->start_time_ns);
	vg_bind_text(st, i + 5, p->user);
	return SQLITE_OK;
}

/*
 * NULL for an event this host has a table for; else why it is skipped (a
 * newer sensor's kind, or a message missing what its table needs), in buf.
 */
static const char *vg_event_unknown(const Vigil__V1__Event *ev, char *buf, size_t size)
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

/* Columns 1-5: Timestamp, DeviceId, DeviceName, ActionType, ReportId. */
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
	int rc = vg_bind_process(st, i, &s->tmp, p);

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

static int vg_store_file(struct vg_store *s, const struct vg_store_peer *peer,
			 const Vigil__V1__Event *ev)
{
	const Vigil__V1__FileEvent *fe = ev->file;
	sqlite3_stmt *st = s->st[VG_ST_FILE];
	struct vg_sb *j = &s->tmp3;
	int rc;

	vg_sb_reset(j);
	vg_sb_add(j, "{");
	if (fe->inode)
		vg_json_num(j, "Inode", fe->inode);
	if (fe->mode) {
		vg_sb_printf(j, "%s\"Mode\":\"%04o\"", j->len > 1 ? "," : "", fe->mode & 07777);
		if (!strcmp(fe->action_type, "FileModeChanged") && fe->mode & 0111)
			vg_sb_add(j, ",\"MadeExecutable\":true");
	}
	if (!strcmp(fe->action_type, "FileOwnerChanged")) {
		vg_json_num(j, "OwnerUid", fe->owner_uid);
		vg_json_num(j, "OwnerGid", fe->owner_gid);
	}
	if (fe->open_flags)
		vg_json_num(j, "OpenFlags", fe->open_flags);
	if (fe->suppressed) {
		char iso[VG_ISO_LEN];

		vg_json_num(j, "Suppressed", fe->suppressed);
		vg_sb_printf(j, ",\"SuppressedFirst\":\"%s\"",
			     vg_iso_time(iso, fe->suppressed_first_ns));
		vg_sb_printf(j, ",\"SuppressedLast\":\"%s\"",
			     vg_iso_time(iso, fe->suppressed_last_ns));
	}
	if (fe->path_from_caller)
		vg_sb_add(j, j->len > 1 ? ",\"PathFromCaller\":true" : "\"PathFromCaller\":true");
	vg_sb_add(j, "}");
	if (vg_sb_err(j))
		return SQLITE_NOMEM;
	vg_bind_common(st, peer, ev, fe->action_type);
	vg_bind_path(st, 6, fe->path);
	vg_bind_path(st, 8, fe->previous_path);
	rc = vg_bind_initiating(s, st, 10, fe->process, fe->parent, vg_sb_str(j));
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
	return rc != SQLITE_OK ? rc : vg_step(st);
}

static int vg_store_suppression(struct vg_store *s, const struct vg_store_peer *peer,
				const Vigil__V1__Event *ev)
{
	const Vigil__V1__Suppression *su = ev->suppression;
	sqlite3_stmt *st = s->st[VG_ST_SUPP];
	const Vigil__V1__Process *p = su->process;

	if (ev->time_ns)
		vg_bind_time(st, 1, ev->time_ns);
	else
		sqlite3_bind_text(st, 1, "1970-01-01T00:00:00.000Z", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, peer->device_id ? peer->device_id : "", -1, SQLITE_TRANSIENT);
	vg_bind_text(st, 3, peer->device_name);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ev->report_id);
	vg_bind_text(st, 5, su->reason);
	vg_bind_text(st, 6, su->event_class);
	vg_bind_text(st, 7, su->action_type);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)su->count);
	vg_bind_time(st, 9, su->first_ns);
	vg_bind_time(st, 10, su->last_ns);
	vg_bind_path(st, 11, su->path);
	if (p) {
		vg_sb_reset(&s->tmp);
		vg_cmdline(&s->tmp, p->argv, p->n_argv);
		if (vg_sb_err(&s->tmp))
			return SQLITE_NOMEM;
		sqlite3_bind_int64(st, 13, p->pid);
		vg_bind_text(st, 14, p->exe && *p->exe ? vg_basename(p->exe) : NULL);
		vg_bind_text(st, 15, p->exe);
		vg_bind_text(st, 16, p->n_argv ? vg_sb_str(&s->tmp) : NULL);
	}
	return vg_step(st);
}

static int vg_store_sensor_stats(struct vg_store *s, const char *dev, const char *now,
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
	if (!b->daemon)
		return SQLITE_OK;
	st = s->st[VG_ST_DAEMON];
	sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b->daemon->wakeups);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)b->daemon->records);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)b->daemon->summaries);
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

	vg_bind_common(st, peer, ev, se->action_type);
	vg_bind_path(st, 6, se->file_path);
	rc = vg_bind_initiating(s, st, 8, se->process, se->parent, se->additional_fields);
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

	if (ev->time_ns)
		vg_bind_time(st, 1, ev->time_ns);
	else
		sqlite3_bind_text(st, 1, "1970-01-01T00:00:00.000Z", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, peer->device_id ? peer->device_id : "", -1, SQLITE_TRANSIENT);
	vg_bind_text(st, 3, peer->device_name);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ev->report_id);
	/* 6 ProcessId, 7 FileName, 8 FolderPath, 9 CommandLine, 10 CreationTime, 11 AccountName */
	rc = vg_bind_process(st, 6, &s->tmp, p);
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
		rc = vg_bind_process(st, 16, &s->tmp2, pp);
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
	vg_additional_fields(&s->tmp3, pe);
	if (vg_sb_err(&s->tmp3))
		return SQLITE_NOMEM;
	sqlite3_bind_text(st, 24, vg_sb_str(&s->tmp3), -1, SQLITE_TRANSIENT);
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

static int vg_store_one(struct vg_store *s, const struct vg_store_peer *peer, const char *dev,
			const char *now, const Vigil__V1__Event *ev)
{
	char why_buf[64];
	const char *why = vg_event_unknown(ev, why_buf, sizeof(why_buf));
	sqlite3_stmt *st;

	if (why) {
		/* Counted with the batch, so a resend does not count it twice. */
		vg_log(VG_DEBUG, "store: skipped an event: %s", why);
		st = s->st[VG_ST_SKIPPED];
		sqlite3_bind_text(st, 1, dev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
		return vg_step(st);
	}
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

/* b with its events, or (b->events NULL) v's events, unpacked one at a time. */
static int vg_store_batch_tx(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			     const Vigil__V1__Batch *b, struct vg_batch *v)
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

	what = "begin transaction";
	rc = vg_step(s->st[VG_ST_BEGIN]);
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
		vg_step(s->st[VG_ST_ROLLBACK]);
		return 0; /* a resend of a stored batch */
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
				vg_step(s->st[VG_ST_ROLLBACK]);
				return err;
			}
		}
		rc = vg_store_one(s, peer, dev, now, ev);
		if (!b->events)
			vigil__v1__event__free_unpacked(ev, NULL);
		if (rc != SQLITE_OK)
			goto err_rollback;
	}
	what = "store counters";
	rc = vg_store_counters(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;
	rc = vg_store_sensor_stats(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;
	what = "store filter rules";
	rc = vg_store_filter_rules(s, dev, now, b);
	if (rc != SQLITE_OK)
		goto err_rollback;

	what = "commit";
	rc = vg_step(s->st[VG_ST_COMMIT]);
	if (rc != SQLITE_OK)
		goto err_rollback;
	return 1;

err_rollback:
	err = vg_store_fail(s, rc, what);
	vg_step(s->st[VG_ST_ROLLBACK]);
	return err;
}

static int vg_store_batch_do(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			     const Vigil__V1__Batch *b, struct vg_batch *v)
{
	int ret;

	if (s->lost)
		return -ESTALE;
	ret = vg_store_batch_tx(s, peer, seq, b, v);
	/*
	 * Stored, or known as stored: only true of the file at the path. The
	 * check comes after the commit, so a deletion during it is seen too.
	 */
	if (ret >= 0 && vg_store_check(s))
		return -ESTALE;
	return ret;
}

int vg_store_batch(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
		   const Vigil__V1__Batch *b)
{
	return vg_store_batch_do(s, peer, seq, b, NULL);
}

int vg_store_batch_view(struct vg_store *s, struct vg_store_peer *peer, uint64_t seq,
			struct vg_batch *v)
{
	return vg_store_batch_do(s, peer, seq, v->b, v);
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
