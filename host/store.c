// SPDX-License-Identifier: GPL-2.0-only
/*
 * The store's schema and life cycle: open (tables, WAL, prepared statements),
 * watch the files under it, close. The write path is store_write.c.
 */
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

#include "compat.h"
#include "fmt.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

#define VG_BUSY_TIMEOUT_MS 5000
#define VG_STORE_CACHE_KB 65536 /* the writer's page cache, at most (SQLite's default: 2000) */
#define VG_STR_(x) #x
#define VG_STR(x) VG_STR_(x)

/*
 * The columns DeviceFileEvents, DeviceNetworkEvents and DeviceEvents start
 * with, and the acting process's they end with (the text is the schema's as
 * stored in sqlite_master, unchanged).
 */
#define VG_COMMON_DDL                                                        \
	" Timestamp TEXT NOT NULL, DeviceId TEXT NOT NULL, DeviceName TEXT," \
	" ActionType TEXT NOT NULL, ReportId INTEGER,"
#define VG_INITIATING_DDL                        \
	" InitiatingProcessId INTEGER,"          \
	" InitiatingProcessFileName TEXT,"       \
	" InitiatingProcessFolderPath TEXT,"     \
	" InitiatingProcessCommandLine TEXT,"    \
	" InitiatingProcessCreationTime TEXT,"   \
	" InitiatingProcessAccountName TEXT,"    \
	" InitiatingProcessAccountUid INTEGER,"  \
	" InitiatingProcessParentId INTEGER,"    \
	" InitiatingProcessParentFileName TEXT," \
	" AdditionalFields TEXT);"

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
	"CREATE TABLE IF NOT EXISTS DeviceFileEvents (" VG_COMMON_DDL
	" FileName TEXT, FolderPath TEXT, PreviousFileName TEXT, PreviousFolderPath TEXT,"
	" FileSize INTEGER, SHA256 TEXT," VG_INITIATING_DDL
	"CREATE INDEX IF NOT EXISTS DeviceFileEvents_Time ON DeviceFileEvents(Timestamp, ReportId);"
	/* the rules' probe of a path's history (exec_from_tmp, download_exec) */
	"CREATE INDEX IF NOT EXISTS DeviceFileEvents_Path ON DeviceFileEvents(FolderPath);"
	"CREATE TABLE IF NOT EXISTS DeviceNetworkEvents (" VG_COMMON_DDL
	" RemoteIP TEXT, RemotePort INTEGER, LocalIP TEXT, LocalPort INTEGER, Protocol TEXT," VG_INITIATING_DDL
	"CREATE INDEX IF NOT EXISTS DeviceNetworkEvents_Time"
	" ON DeviceNetworkEvents(Timestamp, ReportId);"
	"CREATE TABLE IF NOT EXISTS DeviceEvents (" VG_COMMON_DDL
	" FileName TEXT, FolderPath TEXT," VG_INITIATING_DDL
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
	/* The sensor's send queue as its last batch was made: unacknowledged frames, memory, spool. */
	"CREATE TABLE IF NOT EXISTS SensorQueue ("
	" DeviceId TEXT PRIMARY KEY, Frames INTEGER, MemBytes INTEGER, SpoolBytes INTEGER,"
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
	/* The host's own counts: rows retention deleted (per table), events an --output wrote or lost. */
	"CREATE TABLE IF NOT EXISTS HostCounters ("
	" Name TEXT NOT NULL, Label TEXT NOT NULL, Count INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL, PRIMARY KEY (Name, Label));"
	"CREATE TABLE IF NOT EXISTS ReceivedFrames ("
	" DeviceId TEXT NOT NULL,"
	" StreamId INTEGER NOT NULL,"
	" Seq INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL,"
	" Events INTEGER NOT NULL,"
	" PRIMARY KEY (DeviceId, StreamId, Seq));"
	/*
	 * vigil host --upstream (cli/upstream.c): the outbox, each new batch's
	 * frame as `vigil server` takes it, written in the batch's transaction
	 * and deleted once the server answered 200; Id (never reused) is the
	 * order stored, so each stream's order. UpstreamStreams is the watermark
	 * per stream: the highest Seq shipped, frames and events shipped.
	 */
	"CREATE TABLE IF NOT EXISTS UpstreamOutbox ("
	" Id INTEGER PRIMARY KEY AUTOINCREMENT, DeviceId TEXT NOT NULL, DeviceName TEXT,"
	" StreamId INTEGER NOT NULL, Seq INTEGER NOT NULL, Events INTEGER NOT NULL,"
	" Timestamp TEXT NOT NULL, Frame BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS UpstreamStreams ("
	" DeviceId TEXT NOT NULL, StreamId INTEGER NOT NULL, Seq INTEGER NOT NULL,"
	" Frames INTEGER NOT NULL, Events INTEGER NOT NULL, Timestamp TEXT NOT NULL,"
	" PRIMARY KEY (DeviceId, StreamId));";

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

int vg_store_fail(struct vg_store *s, int rc, const char *what)
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

int vg_store_check(struct vg_store *s)
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
		int one = 1;

		/*
		 * Keep the -wal and -shm files when the host stops: a reader who may
		 * not write the directory (a member of the group vigil) needs them.
		 */
		sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
		/*
		 * The page cache holds what the detections read after each batch
		 * (every rule reads the new rows again): at SQLite's default 2 MiB
		 * each rule read them back from the file, a page at a time.
		 */
		rc = sqlite3_exec(s->db,
				  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
				  " PRAGMA cache_size = -" VG_STR(VG_STORE_CACHE_KB) ";",
				  NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, vg_schema, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = vg_store_add_columns(s->db);
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
			/* READONLY here: a WAL store without its -shm, which we may not create. */
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
#ifndef _WIN32
	/*
	 * The real cause first: SQLite's open says "unable to open" alike for a
	 * missing file and for one we may not read.
	 */
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*s = NULL;
	if (fd < 0)
		return -errno;
	close(fd);
#endif
	/* Read-only: never makes the file; a reader needs only read access. */
	return vg_store_do_open(s, path, SQLITE_OPEN_READONLY, 0);
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
