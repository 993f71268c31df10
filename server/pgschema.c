// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet store's schema in PostgreSQL: the local store's tables and
 * column names (host/store.c, docs/schema.md) as quoted identifiers, with
 * PostgreSQL types (timestamptz, bigint, text), every unique key led by
 * "DeviceId" so the schema shards by device, and the server's own tables
 * (enrolment, refusals, the schema version). Version 1, then version 2's
 * columns appended (as the local store appends them).
 */
#include "server.h"

#define VG_PG_COMMON                                                                    \
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text," \
	" \"ActionType\" text NOT NULL, \"ReportId\" bigint,"
#define VG_PG_INITIATING                                                                \
	" \"InitiatingProcessId\" bigint, \"InitiatingProcessFileName\" text,"          \
	" \"InitiatingProcessFolderPath\" text, \"InitiatingProcessCommandLine\" text," \
	" \"InitiatingProcessCreationTime\" timestamptz,"                               \
	" \"InitiatingProcessAccountName\" text, \"InitiatingProcessAccountUid\" bigint," \
	" \"InitiatingProcessParentId\" bigint, \"InitiatingProcessParentFileName\" text," \
	" \"AdditionalFields\" text);"

static const char vg_pg_schema_v1[] =
	"CREATE TABLE IF NOT EXISTS \"DeviceProcessEvents\" ("
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text,"
	" \"ActionType\" text NOT NULL, \"ReportId\" bigint, \"FileName\" text,"
	" \"FolderPath\" text, \"SHA256\" text, \"ProcessId\" bigint,"
	" \"ProcessCommandLine\" text, \"ProcessCreationTime\" timestamptz,"
	" \"AccountName\" text, \"AccountUid\" bigint, \"ProcessCurrentDirectory\" text,"
	" \"ProcessExitCode\" bigint, \"ProcessParentId\" bigint,"
	" \"InitiatingProcessId\" bigint, \"InitiatingProcessFileName\" text,"
	" \"InitiatingProcessFolderPath\" text, \"InitiatingProcessCommandLine\" text,"
	" \"InitiatingProcessCreationTime\" timestamptz,"
	" \"InitiatingProcessAccountName\" text, \"InitiatingProcessParentId\" bigint,"
	" \"InitiatingProcessParentFileName\" text, \"AdditionalFields\" text);"
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Device_Time\""
	" ON \"DeviceProcessEvents\" (\"DeviceId\", \"Timestamp\");"
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Time\""
	" ON \"DeviceProcessEvents\" (\"Timestamp\", \"ReportId\");"
	"CREATE TABLE IF NOT EXISTS \"DeviceInfo\" ("
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text,"
	" \"ClientVersion\" text, \"OSPlatform\" text, \"OSArchitecture\" text,"
	" \"OSVersion\" text, \"OSDistribution\" text, \"HostDeviceId\" text,"
	" \"MachineGroup\" text, \"RegistryDeviceTag\" text, \"DeviceTags\" text,"
	" \"OnboardingStatus\" text);"
	"CREATE INDEX IF NOT EXISTS \"DeviceInfo_Device_Time\""
	" ON \"DeviceInfo\" (\"DeviceId\", \"Timestamp\");"
	"CREATE TABLE IF NOT EXISTS \"DeviceFileEvents\" (" VG_PG_COMMON
	" \"FileName\" text, \"FolderPath\" text, \"PreviousFileName\" text,"
	" \"PreviousFolderPath\" text, \"FileSize\" bigint, \"SHA256\" text," VG_PG_INITIATING
	"CREATE INDEX IF NOT EXISTS \"DeviceFileEvents_Device_Time\""
	" ON \"DeviceFileEvents\" (\"DeviceId\", \"Timestamp\");"
	"CREATE TABLE IF NOT EXISTS \"DeviceNetworkEvents\" (" VG_PG_COMMON
	" \"RemoteIP\" text, \"RemotePort\" bigint, \"LocalIP\" text, \"LocalPort\" bigint,"
	" \"Protocol\" text," VG_PG_INITIATING
	"CREATE INDEX IF NOT EXISTS \"DeviceNetworkEvents_Device_Time\""
	" ON \"DeviceNetworkEvents\" (\"DeviceId\", \"Timestamp\");"
	"CREATE TABLE IF NOT EXISTS \"DeviceEvents\" (" VG_PG_COMMON
	" \"FileName\" text, \"FolderPath\" text," VG_PG_INITIATING
	"CREATE INDEX IF NOT EXISTS \"DeviceEvents_Device_Time\""
	" ON \"DeviceEvents\" (\"DeviceId\", \"Timestamp\");"
	"CREATE TABLE IF NOT EXISTS \"SuppressedEvents\" ("
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text,"
	" \"ReportId\" bigint, \"Reason\" text NOT NULL, \"EventClass\" text, \"ActionType\" text,"
	" \"Count\" bigint NOT NULL, \"FirstTimestamp\" timestamptz,"
	" \"LastTimestamp\" timestamptz, \"FileName\" text, \"FolderPath\" text,"
	" \"InitiatingProcessId\" bigint, \"InitiatingProcessFileName\" text,"
	" \"InitiatingProcessFolderPath\" text, \"InitiatingProcessCommandLine\" text);"
	"CREATE TABLE IF NOT EXISTS \"SensorCounters\" ("
	" \"DeviceId\" text NOT NULL, \"EventClass\" text NOT NULL, \"Seen\" bigint NOT NULL,"
	" \"Emitted\" bigint NOT NULL, \"Filtered\" bigint NOT NULL,"
	" \"Deduplicated\" bigint NOT NULL, \"RateLimited\" bigint NOT NULL,"
	" \"RingbufFull\" bigint NOT NULL, \"EventsLost\" bigint NOT NULL,"
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"EventClass\"));"
	"CREATE TABLE IF NOT EXISTS \"SensorCounterStreams\" ("
	" \"DeviceId\" text NOT NULL, \"StreamId\" bigint NOT NULL, \"EventClass\" text NOT NULL,"
	" \"Seen\" bigint NOT NULL, \"Emitted\" bigint NOT NULL, \"Filtered\" bigint NOT NULL,"
	" \"Deduplicated\" bigint NOT NULL, \"RateLimited\" bigint NOT NULL,"
	" \"RingbufFull\" bigint NOT NULL, \"EventsLost\" bigint NOT NULL,"
	" \"Timestamp\" timestamptz NOT NULL,"
	" PRIMARY KEY (\"DeviceId\", \"StreamId\", \"EventClass\"));"
	"CREATE TABLE IF NOT EXISTS \"HostSkippedEvents\" ("
	" \"DeviceId\" text NOT NULL, \"Reason\" text NOT NULL, \"Count\" bigint NOT NULL,"
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"Reason\"));"
	"CREATE TABLE IF NOT EXISTS \"ReceivedFrames\" ("
	" \"DeviceId\" text NOT NULL, \"StreamId\" bigint NOT NULL, \"Seq\" bigint NOT NULL,"
	" \"Timestamp\" timestamptz NOT NULL, \"Events\" bigint NOT NULL,"
	" PRIMARY KEY (\"DeviceId\", \"StreamId\", \"Seq\"));"
	"CREATE TABLE IF NOT EXISTS \"AlertInfo\" ("
	" \"Timestamp\" timestamptz NOT NULL, \"AlertId\" text, \"Title\" text NOT NULL,"
	" \"Category\" text, \"Severity\" text, \"DetectionSource\" text,"
	" \"AttackTechniques\" text, \"RuleId\" text, \"DeviceId\" text NOT NULL,"
	" \"DeviceName\" text, \"Description\" text, \"GroupKey\" text NOT NULL,"
	" UNIQUE (\"DeviceId\", \"GroupKey\"));"
	"CREATE TABLE IF NOT EXISTS \"AlertEvidence\" ("
	" \"Timestamp\" timestamptz, \"AlertId\" text NOT NULL, \"Title\" text,"
	" \"Categories\" text, \"AttackTechniques\" text, \"DetectionSource\" text,"
	" \"EntityType\" text, \"EvidenceRole\" text, \"DeviceId\" text NOT NULL,"
	" \"DeviceName\" text, \"ActionType\" text, \"FileName\" text, \"FolderPath\" text,"
	" \"ProcessId\" bigint, \"ProcessCommandLine\" text, \"AccountName\" text,"
	" \"RemoteIP\" text, \"RemotePort\" bigint, \"SourceTable\" text NOT NULL,"
	" \"SourceRowId\" bigint NOT NULL, \"ReportId\" bigint);"
	"CREATE INDEX IF NOT EXISTS \"AlertEvidence_Alert\""
	" ON \"AlertEvidence\" (\"DeviceId\", \"AlertId\");"
	/* The server's own: enrolment secrets and devices (hashes only), refusals. */
	"CREATE TABLE IF NOT EXISTS \"ServerSecrets\" ("
	" \"SecretHash\" text PRIMARY KEY, \"Created\" timestamptz NOT NULL);"
	"CREATE TABLE IF NOT EXISTS \"EnrolledDevices\" ("
	" \"DeviceId\" text PRIMARY KEY, \"DeviceName\" text, \"TokenHash\" text NOT NULL UNIQUE,"
	" \"Revoked\" boolean NOT NULL DEFAULT false, \"Enrolled\" timestamptz NOT NULL,"
	" \"RevokedAt\" timestamptz);"
	"CREATE TABLE IF NOT EXISTS \"ServerRefused\" ("
	" \"DeviceId\" text NOT NULL, \"Reason\" text NOT NULL, \"Count\" bigint NOT NULL,"
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"Reason\"));";

const char *vg_pg_schema_sql(void)
{
	return vg_pg_schema_v1;
}

#define VG_PG_ADD(c, type) " ADD COLUMN IF NOT EXISTS \"" c "\" " type
#define VG_PG_IMAGE(t)                                                                   \
	"ALTER TABLE \"" t "\"" VG_PG_ADD("InitiatingProcessSHA256", "text") ","            \
		VG_PG_ADD("InitiatingProcessSHA1", "text") ","                                  \
		VG_PG_ADD("InitiatingProcessFileSize", "bigint") "," VG_PG_ADD("ContainerId", "text") \
		"," VG_PG_ADD("ContainerName", "text") ";"

static const char vg_pg_schema_v2[] =
	"ALTER TABLE \"DeviceProcessEvents\"" VG_PG_ADD("SHA1", "text") ","
	VG_PG_ADD("FileSize", "bigint") ";"
	VG_PG_IMAGE("DeviceProcessEvents")
	VG_PG_IMAGE("DeviceFileEvents")
	VG_PG_IMAGE("DeviceNetworkEvents")
	VG_PG_IMAGE("DeviceEvents");

const char *vg_pg_schema_v2_sql(void)
{
	return vg_pg_schema_v2;
}
