// SPDX-License-Identifier: GPL-2.0-only
/* vigil top ranks what the store holds in its window, and rates filter rules. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "store.h"
#include "top.h"

static void exec_sql(struct vg_store *s, const char *sql)
{
	char *msg = NULL;

	cr_assert_eq(sqlite3_exec(vg_store_db(s), sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql,
		     msg ? msg : "");
}

static char *report(struct vg_store *s, const struct vg_top_opts *o, uint64_t now, int64_t *prev,
		    double interval)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(vg_top_print(s, f, o, now, prev, 8, interval), 0);
	fclose(f);
	return buf;
}

Test(top, ranks_sources_in_the_window_and_rates_rules)
{
	char path[] = "/tmp/vg-top-XXXXXX", db[64], iso[VG_ISO_LEN], sql[512];
	struct vg_top_opts o = { .window_s = 10, .limit = 2, .json = 1 };
	uint64_t now = vg_now_ns();
	int64_t prev[8];
	struct vg_store *s;
	char *out;

	cr_assert_not_null(mkdtemp(path));
	snprintf(db, sizeof(db), "%s/t.db", path);
	cr_assert_eq(vg_store_open(&s, db), 0);
	/* In the window: cc1 writes 3 files under /src, git 1; outside it: 50 by make. */
	vg_iso_time(iso, now - 2000000000ull);
	for (int i = 0; i < 3; i++) {
		snprintf(
			sql, sizeof(sql),
			"INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, FolderPath,"
			" InitiatingProcessFileName, InitiatingProcessFolderPath) VALUES ('%s', 'd',"
			" 'FileCreated', '/src/f%d.o', 'cc1', '/usr/lib/gcc/cc1')",
			iso, i);
		exec_sql(s, sql);
	}
	snprintf(sql, sizeof(sql),
		 "INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, FolderPath,"
		 " InitiatingProcessFileName) VALUES ('%s', 'd', 'FileModified', '/src/.git/index',"
		 " 'git')",
		 iso);
	exec_sql(s, sql);
	vg_iso_time(iso, now - 60000000000ull);
	for (int i = 0; i < 50; i++) {
		snprintf(
			sql, sizeof(sql),
			"INSERT INTO DeviceFileEvents (Timestamp, DeviceId, ActionType, FolderPath,"
			" InitiatingProcessFileName) VALUES ('%s', 'd', 'FileCreated', '/old/x%d',"
			" 'make')",
			iso, i);
		exec_sql(s, sql);
	}
	exec_sql(s, "INSERT INTO SensorFilterRules (DeviceId, RuleIndex, Line, Rule, Action, Hits)"
		    " VALUES ('d', 0, 3, 'drop file where comm == \"cc1\"', 'drop', 100)");

	for (int i = 0; i < 8; i++)
		prev[i] = -1;
	out = report(s, &o, now, prev, 2);
	cr_assert_not_null(strstr(out, "{\"Section\":\"process\",\"Key\":\"cc1\",\"Events\":3,"
				       "\"PerSecond\":0.30}"),
			   "%s", out);
	cr_assert_not_null(strstr(out, "\"Section\":\"directory\",\"Key\":\"/src/\",\"Events\":3"),
			   "%s", out);
	cr_assert_null(strstr(out, "make"), "events outside the window were ranked: %s", out);
	cr_assert_not_null(strstr(out, "\"Section\":\"rule\",\"RuleIndex\":0,\"Line\":3"), "%s",
			   out);
	cr_assert_null(strstr(out, "\"Hits\":100,\"PerSecond\""), "a rate from one sample: %s",
		       out);
	free(out);

	exec_sql(s, "UPDATE SensorFilterRules SET Hits = 140");
	out = report(s, &o, now, prev, 2);
	cr_assert_not_null(strstr(out, "\"Hits\":140,\"PerSecond\":20.00"), "%s", out);
	free(out);
	vg_store_close(s);
	snprintf(sql, sizeof(sql), "rm -rf %s", path);
	cr_assert_eq(system(sql), 0);
}
