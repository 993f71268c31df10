// SPDX-License-Identifier: GPL-2.0-only
/*
 * healthcheck's texts word for word as the README documents them, and which
 * one a store's state gives, on a WSL host's store and on a Linux host's.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "fmt.h"
#include "hoststate.h"
#include "store.h"

/* Every text, in the table's order, as the documentation writes it. */
static const char *const documented[] = {
	"Healthy",
	"Launch WSL distribution with 'bash' command and retry in 5 minutes",
	"Start the host endpoint with 'vigil host' and retry in 5 minutes",
	"Waiting for telemetry. Try again in 5 minutes.",
	"Unhealthy: sensor crashed (%s)",
	"Unhealthy: kernel capability missing: the sensor could not run on the custom kernel (%s)",
	"Unhealthy: %lld events dropped",
	"Unhealthy: %s",
	"Custom Kernel/Configuration not supported.",
	"%s: WSL 1, not monitored: convert it with 'wsl --set-version %s 2'",
	"Unhealthy: upstream unreachable for %lld minutes, %lld events pending",
	"Unhealthy: upstream refused this host (%s), %lld events pending",
};

Test(health, every_text_as_documented)
{
	cr_assert_eq(vg_health_ntexts, sizeof(documented) / sizeof(documented[0]));
	for (unsigned i = 0; i < vg_health_ntexts; i++)
		cr_expect_str_eq(vg_health_texts[i], documented[i], "text %u", i);
}

static sqlite3 *db_with(const char *const *kv)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	cr_assert_eq(vg_hoststate_init(db), 0);
	for (; kv && kv[0]; kv += 2)
		cr_assert_eq(vg_hoststate_set(db, kv[0], kv[1]), 0);
	return db;
}

static void expect_health(sqlite3 *db, int wsl, const char *want)
{
	struct vg_health h;

	cr_assert_eq(vg_health_read(db, "9.9", wsl, &h), 0);
	cr_expect_str_eq(h.health, want);
}

/* The health a store holding kv (NULL: no store) reads as. */
static void expect_store_health(const char *const *kv, int wsl, const char *want)
{
	sqlite3 *db = kv ? db_with(kv) : NULL;

	expect_health(db, wsl, want);
	sqlite3_close(db);
}

Test(health, no_session_wsl_or_linux)
{
	static const char *const plugin_loaded[] = { VG_HS_WSL_VERSION, "2.0.14", NULL };
	static const char *const host_stopped[] = { VG_HS_VM_STATE, "stopped", NULL };

	/* healthcheck.exe with no store yet; vigil healthcheck with none. */
	expect_store_health(NULL, 1,
			    "Launch WSL distribution with 'bash' command and retry in 5 minutes");
	expect_store_health(NULL, 0,
			    "Start the host endpoint with 'vigil host' and retry in 5 minutes");
	/* A store the plug-in wrote at load is a WSL host's, whoever reads it. */
	expect_store_health(plugin_loaded, 0,
			    "Launch WSL distribution with 'bash' command and retry in 5 minutes");
	expect_store_health(host_stopped, 0,
			    "Start the host endpoint with 'vigil host' and retry in 5 minutes");
}

Test(health, waiting_then_crashed)
{
	static const char *const waiting[] = { VG_HS_VM_STATE, "running", VG_HS_SENSOR, "starting",
					       NULL };
	static const char *const crashed[] = { VG_HS_VM_STATE, "running", VG_HS_SENSOR,
					       "exited: it ended", NULL };

	expect_store_health(waiting, 0, "Waiting for telemetry. Try again in 5 minutes.");
	expect_store_health(crashed, 1, "Unhealthy: sensor crashed (it ended)");
}

Test(health, wsl1_distributions_not_monitored)
{
	static const char *const wsl1[] = { VG_HS_WSL_VERSION, "2.0.14", VG_HS_WSL1,
					    "Old\nLegacy\x1b[31m", NULL };
	sqlite3 *db = db_with(wsl1);
	struct vg_health h;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(vg_health_read(db, "9.9", 1, &h), 0);
	cr_assert_str_eq(h.wsl_version, "2.0.14");
	f = open_memstream(&buf, &len);
	cr_assert_eq(vg_health_print(&h, f, 0), 0);
	fclose(f);
	cr_expect(strstr(buf, "Not monitored:          Old: WSL 1, not monitored: convert it with"
			      " 'wsl --set-version Old 2'\n"),
		  "%s", buf);
	/* The name came from the registry: escaped, not a terminal sequence. */
	cr_expect(strstr(buf, "Not monitored:          Legacy\\x1b[31m: WSL 1"), "%s", buf);
	cr_expect_null(strchr(buf, '\x1b'));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	cr_assert_eq(vg_health_print(&h, f, 1), 0);
	fclose(f);
	cr_expect(strstr(buf, "\"NotMonitored\":[\"Old: WSL 1, not monitored: convert it with "
			      "'wsl --set-version Old 2'\",\"Legacy"),
		  "%s", buf);
	free(buf);
	sqlite3_close(db);
}

/* A running host whose upstream is in state, failing since ago_s seconds, 15 events pending. */
static void expect_upstream(const char *state, const char *error, int ago_s, const char *want)
{
	char since[VG_ISO_LEN];
	const char *const kv[] = {
		VG_HS_VM_STATE, "running",	VG_HS_SENSOR, "running",      VG_HS_UPSTREAM,
		"https://s:1",	VG_HS_UP_STATE, state,	      VG_HS_UP_ERROR, error,
		VG_HS_UP_SINCE, since,		NULL
	};
	sqlite3 *db;

	vg_iso_time(since, vg_now_ns() - (uint64_t)ago_s * 1000000000u);
	db = db_with(kv);
	cr_assert_eq(
		sqlite3_exec(db,
			     "CREATE TABLE UpstreamOutbox (Id INTEGER PRIMARY KEY, Events INTEGER,"
			     " Timestamp TEXT); INSERT INTO UpstreamOutbox (Events, Timestamp)"
			     " VALUES (4, '2026-01-01T00:00:00.000Z'), (5, ''), (6, '')",
			     NULL, NULL, NULL),
		SQLITE_OK);
	expect_health(db, 0, want);
	sqlite3_close(db);
}

Test(health, upstream_unreachable_after_a_minute_or_refused)
{
	/* A server restart is no alarm; a minute without an answer is. */
	expect_upstream("unreachable", "https://s:1: Couldn't connect to server", 30,
			"Waiting for telemetry. Try again in 5 minutes.");
	expect_upstream("unreachable", "https://s:1: Couldn't connect to server", 5 * 60 + 10,
			"Unhealthy: upstream unreachable for 5 minutes, 15 events pending");
	expect_upstream("refused", "https://s:1: refused 403 {\"error\":\"token revoked\"}", 0,
			"Unhealthy: upstream refused this host (https://s:1: refused 403"
			" {\"error\":\"token revoked\"}), 15 events pending");
	expect_upstream("shipping", "", 600, "Waiting for telemetry. Try again in 5 minutes.");
}
