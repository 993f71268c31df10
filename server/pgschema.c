// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fleet store's schema in PostgreSQL: the local store's tables and
 * column names (host/store.c, docs/schema.md) as quoted identifiers, with
 * PostgreSQL types (timestamptz, bigint, text), every unique key led by
 * "DeviceId" so the schema shards by device, and the server's own tables
 * (enrolment, refusals, the schema version). Each version is a step a
 * database takes forward in one transaction (pgstore.c, vg_pg_migrate): a new
 * database takes them all, so the path an old one takes is the one every
 * test runs.
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

/* Version 1: the local store's tables. */
#define VG_PG_SCHEMA_V1 \
	"CREATE TABLE IF NOT EXISTS \"DeviceProcessEvents\" (" \
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text," \
	" \"ActionType\" text NOT NULL, \"ReportId\" bigint, \"FileName\" text," \
	" \"FolderPath\" text, \"SHA256\" text, \"ProcessId\" bigint," \
	" \"ProcessCommandLine\" text, \"ProcessCreationTime\" timestamptz," \
	" \"AccountName\" text, \"AccountUid\" bigint, \"ProcessCurrentDirectory\" text," \
	" \"ProcessExitCode\" bigint, \"ProcessParentId\" bigint," \
	" \"InitiatingProcessId\" bigint, \"InitiatingProcessFileName\" text," \
	" \"InitiatingProcessFolderPath\" text, \"InitiatingProcessCommandLine\" text," \
	" \"InitiatingProcessCreationTime\" timestamptz," \
	" \"InitiatingProcessAccountName\" text, \"InitiatingProcessParentId\" bigint," \
	" \"InitiatingProcessParentFileName\" text, \"AdditionalFields\" text);" \
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Device_Time\"" \
	" ON \"DeviceProcessEvents\" (\"DeviceId\", \"Timestamp\");" \
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Time\"" \
	" ON \"DeviceProcessEvents\" (\"Timestamp\", \"ReportId\");" \
	"CREATE TABLE IF NOT EXISTS \"DeviceInfo\" (" \
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text," \
	" \"ClientVersion\" text, \"OSPlatform\" text, \"OSArchitecture\" text," \
	" \"OSVersion\" text, \"OSDistribution\" text, \"HostDeviceId\" text," \
	" \"MachineGroup\" text, \"RegistryDeviceTag\" text, \"DeviceTags\" text," \
	" \"OnboardingStatus\" text);" \
	"CREATE INDEX IF NOT EXISTS \"DeviceInfo_Device_Time\"" \
	" ON \"DeviceInfo\" (\"DeviceId\", \"Timestamp\");" \
	"CREATE TABLE IF NOT EXISTS \"DeviceFileEvents\" (" VG_PG_COMMON \
	" \"FileName\" text, \"FolderPath\" text, \"PreviousFileName\" text," \
	" \"PreviousFolderPath\" text, \"FileSize\" bigint, \"SHA256\" text," VG_PG_INITIATING \
	"CREATE INDEX IF NOT EXISTS \"DeviceFileEvents_Device_Time\"" \
	" ON \"DeviceFileEvents\" (\"DeviceId\", \"Timestamp\");" \
	"CREATE TABLE IF NOT EXISTS \"DeviceNetworkEvents\" (" VG_PG_COMMON \
	" \"RemoteIP\" text, \"RemotePort\" bigint, \"LocalIP\" text, \"LocalPort\" bigint," \
	" \"Protocol\" text," VG_PG_INITIATING \
	"CREATE INDEX IF NOT EXISTS \"DeviceNetworkEvents_Device_Time\"" \
	" ON \"DeviceNetworkEvents\" (\"DeviceId\", \"Timestamp\");" \
	"CREATE TABLE IF NOT EXISTS \"DeviceEvents\" (" VG_PG_COMMON \
	" \"FileName\" text, \"FolderPath\" text," VG_PG_INITIATING \
	"CREATE INDEX IF NOT EXISTS \"DeviceEvents_Device_Time\"" \
	" ON \"DeviceEvents\" (\"DeviceId\", \"Timestamp\");" \
	"CREATE TABLE IF NOT EXISTS \"SuppressedEvents\" (" \
	" \"Timestamp\" timestamptz NOT NULL, \"DeviceId\" text NOT NULL, \"DeviceName\" text," \
	" \"ReportId\" bigint, \"Reason\" text NOT NULL, \"EventClass\" text, \"ActionType\" text," \
	" \"Count\" bigint NOT NULL, \"FirstTimestamp\" timestamptz," \
	" \"LastTimestamp\" timestamptz, \"FileName\" text, \"FolderPath\" text," \
	" \"InitiatingProcessId\" bigint, \"InitiatingProcessFileName\" text," \
	" \"InitiatingProcessFolderPath\" text, \"InitiatingProcessCommandLine\" text);" \
	"CREATE TABLE IF NOT EXISTS \"SensorCounters\" (" \
	" \"DeviceId\" text NOT NULL, \"EventClass\" text NOT NULL, \"Seen\" bigint NOT NULL," \
	" \"Emitted\" bigint NOT NULL, \"Filtered\" bigint NOT NULL," \
	" \"Deduplicated\" bigint NOT NULL, \"RateLimited\" bigint NOT NULL," \
	" \"RingbufFull\" bigint NOT NULL, \"EventsLost\" bigint NOT NULL," \
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"EventClass\"));" \
	"CREATE TABLE IF NOT EXISTS \"SensorCounterStreams\" (" \
	" \"DeviceId\" text NOT NULL, \"StreamId\" bigint NOT NULL, \"EventClass\" text NOT NULL," \
	" \"Seen\" bigint NOT NULL, \"Emitted\" bigint NOT NULL, \"Filtered\" bigint NOT NULL," \
	" \"Deduplicated\" bigint NOT NULL, \"RateLimited\" bigint NOT NULL," \
	" \"RingbufFull\" bigint NOT NULL, \"EventsLost\" bigint NOT NULL," \
	" \"Timestamp\" timestamptz NOT NULL," \
	" PRIMARY KEY (\"DeviceId\", \"StreamId\", \"EventClass\"));" \
	"CREATE TABLE IF NOT EXISTS \"HostSkippedEvents\" (" \
	" \"DeviceId\" text NOT NULL, \"Reason\" text NOT NULL, \"Count\" bigint NOT NULL," \
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"Reason\"));" \
	"CREATE TABLE IF NOT EXISTS \"ReceivedFrames\" (" \
	" \"DeviceId\" text NOT NULL, \"StreamId\" bigint NOT NULL, \"Seq\" bigint NOT NULL," \
	" \"Timestamp\" timestamptz NOT NULL, \"Events\" bigint NOT NULL," \
	" PRIMARY KEY (\"DeviceId\", \"StreamId\", \"Seq\"));" \
	"CREATE TABLE IF NOT EXISTS \"AlertInfo\" (" \
	" \"Timestamp\" timestamptz NOT NULL, \"AlertId\" text, \"Title\" text NOT NULL," \
	" \"Category\" text, \"Severity\" text, \"DetectionSource\" text," \
	" \"AttackTechniques\" text, \"RuleId\" text, \"DeviceId\" text NOT NULL," \
	" \"DeviceName\" text, \"Description\" text, \"GroupKey\" text NOT NULL," \
	" UNIQUE (\"DeviceId\", \"GroupKey\"));" \
	"CREATE TABLE IF NOT EXISTS \"AlertEvidence\" (" \
	" \"Timestamp\" timestamptz, \"AlertId\" text NOT NULL, \"Title\" text," \
	" \"Categories\" text, \"AttackTechniques\" text, \"DetectionSource\" text," \
	" \"EntityType\" text, \"EvidenceRole\" text, \"DeviceId\" text NOT NULL," \
	" \"DeviceName\" text, \"ActionType\" text, \"FileName\" text, \"FolderPath\" text," \
	" \"ProcessId\" bigint, \"ProcessCommandLine\" text, \"AccountName\" text," \
	" \"RemoteIP\" text, \"RemotePort\" bigint, \"SourceTable\" text NOT NULL," \
	" \"SourceRowId\" bigint NOT NULL, \"ReportId\" bigint);" \
	"CREATE INDEX IF NOT EXISTS \"AlertEvidence_Alert\"" \
	" ON \"AlertEvidence\" (\"DeviceId\", \"AlertId\");" \
	/* The server's own: enrolment secrets and devices (hashes only), refusals. */ \
	"CREATE TABLE IF NOT EXISTS \"ServerSecrets\" (" \
	" \"SecretHash\" text PRIMARY KEY, \"Created\" timestamptz NOT NULL);" \
	"CREATE TABLE IF NOT EXISTS \"EnrolledDevices\" (" \
	" \"DeviceId\" text PRIMARY KEY, \"DeviceName\" text, \"TokenHash\" text NOT NULL UNIQUE," \
	" \"Revoked\" boolean NOT NULL DEFAULT false, \"Enrolled\" timestamptz NOT NULL," \
	" \"RevokedAt\" timestamptz);" \
	"CREATE TABLE IF NOT EXISTS \"ServerRefused\" (" \
	" \"DeviceId\" text NOT NULL, \"Reason\" text NOT NULL, \"Count\" bigint NOT NULL," \
	" \"Timestamp\" timestamptz NOT NULL, PRIMARY KEY (\"DeviceId\", \"Reason\"));"

/*
 * Version 2: the event tables partitioned by day (range on "Timestamp", UTC
 * days), a partition named TABLE_YYYYMMDD. vigil_partition(day) makes a
 * day's partitions of every event table and vigil_retain(days) drops the
 * ones older than today - days, each recorded in RetentionDropped with its
 * rows; both run as the schema's owner (SECURITY DEFINER), so the ingest
 * role, which owns nothing, can call them, and under one advisory lock, so
 * servers racing for the same day make it once. The old rows move into the
 * new tables. The indexes hunters need: device and time, file name, remote
 * IP, and trigrams of the command line as the KQL translator lowercases it
 * (hunt/kql_pg.c: `has` is a regular expression on that, which pg_trgm's GIN
 * index serves).
 */
#define VG_PG_EVENT_TABLES \
	"ARRAY['DeviceProcessEvents', 'DeviceFileEvents', 'DeviceNetworkEvents'," \
	" 'DeviceEvents', 'SuppressedEvents']"
#define VG_PG_SCHEMA_V2 \
	"CREATE EXTENSION IF NOT EXISTS pg_trgm;" \
	"CREATE TABLE \"RetentionDropped\" (\"Table\" text NOT NULL, \"Day\" date NOT NULL," \
	" \"Rows\" bigint NOT NULL, \"Timestamp\" timestamptz NOT NULL," \
	" PRIMARY KEY (\"Table\", \"Day\"));" \
	"CREATE FUNCTION vigil_partition(day date) RETURNS integer LANGUAGE plpgsql" \
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$" \
	" DECLARE t text; p text; n integer := 0;" \
	" BEGIN" \
	"  PERFORM pg_advisory_xact_lock(7415902);" \
	"  FOREACH t IN ARRAY " VG_PG_EVENT_TABLES " LOOP" \
	"   p := t || '_' || to_char(day, 'YYYYMMDD');" \
	"   IF to_regclass(quote_ident(p)) IS NULL THEN" \
	"    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)'," \
	"     p, t, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');" \
	"    n := n + 1;" \
	"   END IF;" \
	"  END LOOP;" \
	"  RETURN n;" \
	" END $$;" \
	"CREATE FUNCTION vigil_retain(days integer)" \
	" RETURNS TABLE(\"Table\" text, \"Day\" date, \"Rows\" bigint) LANGUAGE plpgsql" \
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$" \
	" DECLARE t text; p text; d date; n bigint;" \
	" BEGIN" \
	"  PERFORM pg_advisory_xact_lock(7415902);" \
	"  FOREACH t IN ARRAY " VG_PG_EVENT_TABLES " LOOP" \
	"   FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid" \
	"    WHERE i.inhparent = to_regclass(quote_ident(t)) AND c.relname ~ '_[0-9]{8}$'" \
	"    ORDER BY 1 LOOP" \
	"    d := to_date(right(p, 8), 'YYYYMMDD');" \
	"    CONTINUE WHEN d >= (now() AT TIME ZONE 'UTC')::date - days;" \
	"    EXECUTE format('SELECT count(*) FROM %I', p) INTO n;" \
	"    EXECUTE format('DROP TABLE %I', p);" \
	"    INSERT INTO \"RetentionDropped\" VALUES (t, d, n, now())" \
	"     ON CONFLICT ON CONSTRAINT \"RetentionDropped_pkey\" DO UPDATE" \
	"     SET \"Rows\" = \"RetentionDropped\".\"Rows\" + excluded.\"Rows\"," \
	"     \"Timestamp\" = excluded.\"Timestamp\";" \
	"    \"Table\" := t; \"Day\" := d; \"Rows\" := n;" \
	"    RETURN NEXT;" \
	"   END LOOP;" \
	"  END LOOP;" \
	" END $$;" \
	"DO $$" \
	" DECLARE t text; d date;" \
	" BEGIN" \
	"  FOREACH t IN ARRAY " VG_PG_EVENT_TABLES " LOOP" \
	"   EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_v1');" \
	"   EXECUTE format('CREATE TABLE %I (LIKE %I) PARTITION BY RANGE (\"Timestamp\")'," \
	"    t, t || '_v1');" \
	"  END LOOP;" \
	"  FOREACH t IN ARRAY " VG_PG_EVENT_TABLES " LOOP" \
	"   FOR d IN EXECUTE format('SELECT DISTINCT (\"Timestamp\" AT TIME ZONE ''UTC'')::date" \
	" FROM %I', t || '_v1') LOOP" \
	"    PERFORM vigil_partition(d);" \
	"   END LOOP;" \
	"   EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, t || '_v1');" \
	"   EXECUTE format('DROP TABLE %I', t || '_v1');" \
	"   EXECUTE format('CREATE INDEX %I ON %I (\"DeviceId\", \"Timestamp\")'," \
	"    t || '_Device_Time', t);" \
	"  END LOOP;" \
	" END $$;" \
	"CREATE INDEX \"DeviceProcessEvents_Time\"" \
	" ON \"DeviceProcessEvents\" (\"Timestamp\", \"ReportId\");" \
	"CREATE INDEX \"DeviceProcessEvents_FileName\" ON \"DeviceProcessEvents\" (\"FileName\");" \
	"CREATE INDEX \"DeviceProcessEvents_CommandLine\" ON \"DeviceProcessEvents\"" \
	" USING gin (lower(coalesce(CAST(\"ProcessCommandLine\" AS text), '')) gin_trgm_ops);" \
	"CREATE INDEX \"DeviceFileEvents_FileName\" ON \"DeviceFileEvents\" (\"FileName\");" \
	"CREATE INDEX \"DeviceEvents_FileName\" ON \"DeviceEvents\" (\"FileName\");" \
	"CREATE INDEX \"DeviceNetworkEvents_RemoteIP\" ON \"DeviceNetworkEvents\" (\"RemoteIP\");" \
	/* Not PostgreSQL's default, EXECUTE for everyone: an analyst must not drop days. */ \
	"REVOKE ALL ON FUNCTION vigil_partition(date), vigil_retain(integer) FROM PUBLIC;"

#define VG_PG_ADD(c, type) " ADD COLUMN IF NOT EXISTS \"" c "\" " type
#define VG_PG_IMAGE(t)                                                                   \
	"ALTER TABLE \"" t "\"" VG_PG_ADD("InitiatingProcessSHA256", "text") ","            \
		VG_PG_ADD("InitiatingProcessSHA1", "text") ","                                  \
		VG_PG_ADD("InitiatingProcessFileSize", "bigint") "," VG_PG_ADD("ContainerId", "text") \
		"," VG_PG_ADD("ContainerName", "text") "," VG_PG_ADD("Distribution", "text") ";"

/*
 * Version 3: the image digests and sizes and the container (host/store_fields.c's
 * added columns), and the WSL distribution of the process the row is about.
 * On a partitioned table ADD COLUMN reaches every day's partition.
 */
#define VG_PG_SCHEMA_V3 \
	"ALTER TABLE \"DeviceProcessEvents\"" VG_PG_ADD("SHA1", "text") "," \
	VG_PG_ADD("FileSize", "bigint") ";" \
	VG_PG_IMAGE("DeviceProcessEvents") \
	VG_PG_IMAGE("DeviceFileEvents") \
	VG_PG_IMAGE("DeviceNetworkEvents") \
	VG_PG_IMAGE("DeviceEvents")

#define VG_PG_INGEST_ID(t)                                                                 \
	"ALTER TABLE \"" t "\"" VG_PG_ADD("IngestId", "bigint DEFAULT nextval('\"IngestSeq\"')") \
	";CREATE INDEX \"" t "_Ingest\" ON \"" t "\" (\"IngestId\");"

/* A trim's end: the rows it deleted (n) counted in RetentionDropped as table, day d. */
#define VG_PG_TRIMMED(table) \
	"  GET DIAGNOSTICS n = ROW_COUNT;" \
	"  IF n > 0 THEN" \
	"   INSERT INTO \"RetentionDropped\" VALUES ('" table "', d, n, now())" \
	"    ON CONFLICT ON CONSTRAINT \"RetentionDropped_pkey\" DO UPDATE" \
	"    SET \"Rows\" = \"RetentionDropped\".\"Rows\" + excluded.\"Rows\"," \
	"    \"Timestamp\" = excluded.\"Timestamp\";" \
	"  END IF;" \
	"  RETURN n;" \
	" END $$;"

/*
 * vigil_retain_frames(days): the exactly-once record of the frames stored
 * before today - days (UTC), as vigil_retain drops the event days, but the
 * newest frame of each stream kept: a batch that names no device finds its
 * stream's device there (pgstore.c). Counted in RetentionDropped
 * ("ReceivedFrames", the first day kept). A resend of a trimmed frame would
 * be stored again: docs/fleet.md says why none comes that late.
 */
#define VG_PG_RETAIN_FRAMES \
	"CREATE FUNCTION vigil_retain_frames(days integer) RETURNS bigint LANGUAGE plpgsql" \
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$" \
	" DECLARE n bigint; d date := (now() AT TIME ZONE 'UTC')::date - days;" \
	" BEGIN" \
	"  PERFORM pg_advisory_xact_lock(7415902);" \
	"  DELETE FROM \"ReceivedFrames\" f WHERE f.\"Timestamp\" < d::timestamp AT TIME ZONE 'UTC'" \
	"   AND EXISTS (SELECT 1 FROM \"ReceivedFrames\" g WHERE g.\"DeviceId\" = f.\"DeviceId\"" \
	"   AND g.\"StreamId\" = f.\"StreamId\" AND g.\"Seq\" > f.\"Seq\");" \
	VG_PG_TRIMMED("ReceivedFrames") \
	"REVOKE ALL ON FUNCTION vigil_retain_frames(integer) FROM PUBLIC;"

/*
 * Version 4: detections in the server (detect_pg.c). Each event row gets an
 * "IngestId" from one sequence as it is stored, the detector's cursor (a
 * rowid does not exist here; docs/fleet.md says why no row committed late
 * is missed). The sequence is no column's own, so a shard's coordinator
 * keeps it when its tables become partitioned (pgshard.c copies defaults):
 * ids are taken on the coordinator and travel to the shards as values.
 * AlertInfo gets the grouping columns of the local store (hunt/detect.c),
 * DetectionState the detector's cursor per table, DetectionFailed the rows a
 * rule's query could not read (counted), AlertSeq the alerts' ids;
 * and ReceivedFrames trimmed by --retain-days (vigil_retain_frames).
 */
#define VG_PG_SCHEMA_V4 \
	"CREATE SEQUENCE \"IngestSeq\";" \
	VG_PG_INGEST_ID("DeviceProcessEvents") \
	VG_PG_INGEST_ID("DeviceFileEvents") \
	VG_PG_INGEST_ID("DeviceNetworkEvents") \
	VG_PG_INGEST_ID("DeviceEvents") \
	"ALTER TABLE \"AlertInfo\"" VG_PG_ADD("AlertKey", "text") "," \
	VG_PG_ADD("EvidenceCount", "bigint") "," VG_PG_ADD("FirstActivity", "timestamptz") "," \
	VG_PG_ADD("LastActivity", "timestamptz") ";" \
	"CREATE INDEX \"AlertInfo_Key\" ON \"AlertInfo\" (\"AlertKey\");" \
	"CREATE INDEX \"AlertEvidence_Source\" ON \"AlertEvidence\"" \
	" (\"SourceTable\", \"SourceRowId\");" \
	"CREATE SEQUENCE \"AlertSeq\";" \
	"CREATE TABLE \"DetectionState\" (\"TableName\" text PRIMARY KEY," \
	" \"LastIngestId\" bigint NOT NULL, \"Timestamp\" timestamptz NOT NULL);" \
	"CREATE TABLE \"DetectionFailed\" (\"RuleId\" text PRIMARY KEY," \
	" \"Failures\" bigint NOT NULL, \"FromIngestId\" bigint, \"ToIngestId\" bigint," \
	" \"Error\" text, \"Timestamp\" timestamptz NOT NULL);" \
	VG_PG_RETAIN_FRAMES

/*
 * Version 5: the console's analysts (server/console.c: a login token's
 * SHA-256, never the token), and the indexes its process tree walks: a
 * process's creation by its id, its children by their parent's.
 */
#define VG_PG_SCHEMA_V5 \
	"CREATE TABLE IF NOT EXISTS \"ConsoleAnalysts\" (\"Name\" text PRIMARY KEY," \
	" \"TokenHash\" text NOT NULL, \"Created\" timestamptz NOT NULL);" \
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Device_Pid\"" \
	" ON \"DeviceProcessEvents\" (\"DeviceId\", \"ProcessId\", \"Timestamp\");" \
	"CREATE INDEX IF NOT EXISTS \"DeviceProcessEvents_Device_Parent\"" \
	" ON \"DeviceProcessEvents\" (\"DeviceId\", \"ProcessParentId\", \"Timestamp\");"

/*
 * Version 6: filter sets from the server (server/filtersets.c). Each
 * machine group's sets, versioned, with their rules as the sensor's
 * compiler numbers them and the Signature of that list; each device's
 * group (none: "default"; a secret of `onboard --group` gives its group to
 * the devices enrolled with it); and the hits each sensor run reports in its
 * batches (Batch.filter_rules) per rule of the set it runs, named by the
 * same Signature, kept per run and generation as the counters are (the
 * highest seen: a resend changes nothing).
 */
#define VG_PG_SCHEMA_V6 \
	"CREATE TABLE \"FilterSets\" (\"MachineGroup\" text NOT NULL, \"Version\" bigint NOT NULL," \
	" \"Text\" bytea NOT NULL, \"TextSHA256\" text NOT NULL, \"Signature\" text NOT NULL," \
	" \"Rules\" integer NOT NULL, \"Created\" timestamptz NOT NULL," \
	" PRIMARY KEY (\"MachineGroup\", \"Version\"));" \
	"CREATE TABLE \"FilterSetRules\" (\"MachineGroup\" text NOT NULL," \
	" \"Version\" bigint NOT NULL, \"RuleIndex\" integer NOT NULL, \"Line\" integer NOT NULL," \
	" \"Action\" text NOT NULL, \"Rule\" text NOT NULL," \
	" PRIMARY KEY (\"MachineGroup\", \"Version\", \"RuleIndex\"));" \
	"CREATE TABLE \"DeviceGroups\" (\"DeviceId\" text PRIMARY KEY," \
	" \"MachineGroup\" text NOT NULL, \"Timestamp\" timestamptz NOT NULL);" \
	"CREATE TABLE \"SensorFilterHits\" (\"DeviceId\" text NOT NULL, \"StreamId\" bigint NOT NULL," \
	" \"Generation\" bigint NOT NULL, \"RuleIndex\" integer NOT NULL," \
	" \"Signature\" text NOT NULL, \"Hits\" bigint NOT NULL, \"Timestamp\" timestamptz NOT NULL," \
	" PRIMARY KEY (\"DeviceId\", \"StreamId\", \"Generation\", \"RuleIndex\"));" \
	"CREATE INDEX \"SensorFilterHits_Signature\" ON \"SensorFilterHits\" (\"Signature\");" \
	"ALTER TABLE \"ServerSecrets\" ADD COLUMN \"MachineGroup\" text;"

/*
 * Version 7: extract_json() of the KQL translator (hunt/kql_pg.c) as the
 * SQLite store's json_extract() behind json_valid() has it: a text that is
 * not JSON (PostgreSQL 15 has no json_valid()) gives NULL and the query
 * goes on; the path strict, as SQLite's (a missing key or an array is not
 * looked through); a string unquoted, a boolean 1 or 0, null NULL, an
 * object or array its JSON text. A path that is not one fails the query.
 */
#define VG_PG_SCHEMA_V7 \
	"CREATE FUNCTION vigil_json(doc text, path text) RETURNS text LANGUAGE plpgsql" \
	" IMMUTABLE STRICT PARALLEL SAFE AS $$" \
	" DECLARE p jsonpath := CAST('strict ' || path AS jsonpath); j jsonb;" \
	" BEGIN" \
	"  BEGIN j := CAST(doc AS jsonb);" \
	"  EXCEPTION WHEN invalid_text_representation OR untranslatable_character THEN" \
	"   RETURN NULL;" \
	"  END;" \
	"  j := jsonb_path_query_first(j, p, '{}', true);" \
	"  RETURN CASE jsonb_typeof(j) WHEN 'boolean' THEN CASE WHEN CAST(j AS boolean)" \
	"   THEN '1' ELSE '0' END ELSE j #>> '{}' END;" \
	" END $$;"

/*
 * Version 8: the fleet's filter hits over time. "LastHit": when a batch
 * last reported more hits for the row than it had (NULL while it has none),
 * for `vigil top --pg`. vigil_retain_filter_hits(days), run by
 * --retain-days after vigil_retain_frames: the rows of sensor runs that
 * reported nothing since before today - days (UTC), except each device's
 * newest row of each rule of each rule list (Signature), counted in
 * RetentionDropped ("SensorFilterHits", the first day kept). Deleting,
 * rather than adding old runs into one row, keeps the totals from ever
 * counting twice: a run's row holds its counter's highest value, and a
 * batch of a trimmed run that still arrives (a host back after a long
 * outage) makes that row again with the same value, where a sum would have
 * it twice. What the totals lose is the hits of runs over before the kept
 * days, counted by row.
 */
#define VG_PG_SCHEMA_V8 \
	"ALTER TABLE \"SensorFilterHits\" ADD COLUMN \"LastHit\" timestamptz;" \
	"UPDATE \"SensorFilterHits\" SET \"LastHit\" = \"Timestamp\" WHERE \"Hits\" > 0;" \
	"CREATE FUNCTION vigil_retain_filter_hits(days integer) RETURNS bigint LANGUAGE plpgsql" \
	" SECURITY DEFINER SET search_path FROM CURRENT AS $$" \
	" DECLARE n bigint; d date := (now() AT TIME ZONE 'UTC')::date - days;" \
	" BEGIN" \
	"  PERFORM pg_advisory_xact_lock(7415902);" \
	"  DELETE FROM \"SensorFilterHits\" f" \
	"   WHERE f.\"Timestamp\" < d::timestamp AT TIME ZONE 'UTC'" \
	"   AND EXISTS (SELECT 1 FROM \"SensorFilterHits\" g WHERE g.\"DeviceId\" = f.\"DeviceId\"" \
	"   AND g.\"Signature\" = f.\"Signature\" AND g.\"RuleIndex\" = f.\"RuleIndex\"" \
	"   AND (g.\"Timestamp\", g.\"StreamId\", g.\"Generation\") >" \
	"   (f.\"Timestamp\", f.\"StreamId\", f.\"Generation\"));" \
	VG_PG_TRIMMED("SensorFilterHits") \
	"REVOKE ALL ON FUNCTION vigil_retain_filter_hits(integer) FROM PUBLIC;"

static const char *const vg_pg_steps[VG_PG_SCHEMA_VERSION] = {
	VG_PG_SCHEMA_V1, VG_PG_SCHEMA_V2, VG_PG_SCHEMA_V3, VG_PG_SCHEMA_V4,
	VG_PG_SCHEMA_V5, VG_PG_SCHEMA_V6, VG_PG_SCHEMA_V7, VG_PG_SCHEMA_V8,
};
static const char vg_pg_schema_all[] = VG_PG_SCHEMA_V1 VG_PG_SCHEMA_V2 VG_PG_SCHEMA_V3
	VG_PG_SCHEMA_V4 VG_PG_SCHEMA_V5 VG_PG_SCHEMA_V6 VG_PG_SCHEMA_V7 VG_PG_SCHEMA_V8;

const char *vg_pg_schema_step(int version)
{
	return version >= 1 && version <= VG_PG_SCHEMA_VERSION ? vg_pg_steps[version - 1] : NULL;
}

const char *vg_pg_schema_sql(void)
{
	return vg_pg_schema_all;
}

