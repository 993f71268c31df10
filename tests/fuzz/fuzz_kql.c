// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the KQL translator: any input must either be
 * refused with a position inside the text (and a diagnostic that prints
 * safely), or become SQL that SQLite accepts. The PostgreSQL dialect
 * translates the same text (no database to run it here: tests/fleet does). `make check-fuzz` runs it for a bounded time (FUZZ_SECONDS).
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "fmt.h"
#include "kql.h"

static sqlite3 *db;

static const char *const vg_pg_info[] = { "Timestamp", "DeviceId", "OSPlatform", "HostDeviceId" };
static const char *const vg_pg_proc[] = { "Timestamp",	       "DeviceId",   "ActionType",
					  "FileName",	       "FolderPath", "ProcessId",
					  "ProcessCommandLine" };
static const struct vg_kql_table vg_pg_tables[] = {
	{ "DeviceInfo", vg_pg_info, 4 },
	{ "DeviceProcessEvents", vg_pg_proc, 7 },
};

static void vg_fuzz_init(void)
{
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		abort();
	if (sqlite3_exec(db,
			 "CREATE TABLE DeviceInfo (Timestamp TEXT, DeviceId TEXT, OSPlatform TEXT,"
			 " HostDeviceId TEXT);"
			 "CREATE TABLE DeviceProcessEvents (Timestamp TEXT, DeviceId TEXT,"
			 " ActionType TEXT, FileName TEXT, FolderPath TEXT, ProcessId INTEGER,"
			 " ProcessCommandLine TEXT);",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
	if (vg_kql_register(db))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_kql_query q;
	struct vg_kql_error e;
	char *text;
	int err;

	if (!db)
		vg_fuzz_init();
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	err = vg_kql_translate(db, text, size && data[0] & 1 ? VG_KQL_BOUNDED : 0, &q, &e);
	if (err == -EINVAL) {
		struct vg_sb b;

		/* The position must lie within the text (or just past its end). */
		if (e.line < 1 || e.col < 1 || !e.msg[0])
			abort();
		vg_sb_init(&b);
		vg_kql_error_format(&b, "q:", text, 0, &e);
		/* Whatever the query held, the diagnostic prints only as it is (lib/esc.h). */
		if (!vg_sb_err(&b) && vg_esc_unsafe_at(b.s, b.len) != b.len)
			abort();
		vg_sb_free(&b);
	} else if (!err) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, q.sql, -1, &st, NULL) != SQLITE_OK) {
			fprintf(stderr, "translated SQL refused: %s\n%s\n", sqlite3_errmsg(db),
				q.sql);
			abort();
		}
		/* Run it on empty tables: no crash, no error. */
		while (sqlite3_step(st) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		vg_kql_query_free(&q);
	}
	err = vg_kql_translate_for(VG_KQL_PG, vg_pg_tables, 2, text, 0, &q, &e);
	if (err == -EINVAL && (e.line < 1 || e.col < 1 || !e.msg[0]))
		abort();
	if (!err)
		vg_kql_query_free(&q);
	free(text);
	return 0;
}
