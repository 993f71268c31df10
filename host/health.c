// SPDX-License-Identifier: GPL-2.0-only
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "fmt.h"
#include "health.h"
#include "hoststate.h"
#include "log.h"
#include "proxy.h"
#include "store.h"

const char *const vg_health_texts[] = {
	VG_HEALTH_OK,	   VG_HEALTH_NO_VM,   VG_HEALTH_NO_HOST,
	VG_HEALTH_WAITING, VG_HEALTH_CRASHED, VG_HEALTH_KERNEL,
	VG_HEALTH_DROPPED, VG_HEALTH_PROXY,   VG_HEALTH_CUSTOM_KERNEL,
	VG_HEALTH_WSL1,	   VG_HEALTH_UP_DOWN, VG_HEALTH_UP_REFUSED,
};
const unsigned vg_health_ntexts = sizeof(vg_health_texts) / sizeof(vg_health_texts[0]);

/* One integer (or text) from a query; missing tables read as no rows. */
static int vg_q(sqlite3 *db, const char *sql, const char *arg, int64_t *num, char *txt, size_t n)
{
	sqlite3_stmt *st;
	int rc;

	if (num)
		*num = 0;
	if (txt && n)
		txt[0] = '\0';
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		if (strstr(sqlite3_errmsg(db), "no such table"))
			return 0;
		vg_log(VG_ERROR, "healthcheck: %s: %s", sql, sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (num)
			*num = sqlite3_column_int64(st, 0);
		if (txt && sqlite3_column_text(st, 0))
			snprintf(txt, n, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		vg_log(VG_ERROR, "healthcheck: %s: %s", sql, sqlite3_errmsg(db));
		return vg_sqlite_errno(rc) ? vg_sqlite_errno(rc) : -EIO;
	}
	return 0;
}

static void vg_health_decide(struct vg_health *h, const char *sensor, const char *custom,
			     int64_t frames_since_start)
{
	if (strcmp(h->vm_state, "running")) {
		snprintf(h->health, sizeof(h->health), "%s",
			 h->wsl ? VG_HEALTH_NO_VM : VG_HEALTH_NO_HOST);
		return;
	}
	if (!strncmp(sensor, "exited: ", 8)) {
		/*
		 * With a custom kernel the administrator allowed, the sensor's own
		 * capability probe decides: a sensor that ends before sending anything
		 * there found the kernel lacking.
		 */
		if (custom[0] && !frames_since_start)
			snprintf(h->health, sizeof(h->health), VG_HEALTH_KERNEL, sensor + 8);
		else
			snprintf(h->health, sizeof(h->health), VG_HEALTH_CRASHED, sensor + 8);
		return;
	}
	/* Telemetry that stays here is as much the matter as telemetry that does not come. */
	if (h->up.url[0] && !strcmp(h->up.state, VG_UP_REFUSED)) {
		snprintf(h->health, sizeof(h->health), VG_HEALTH_UP_REFUSED, h->up.error,
			 (long long)h->up.events);
		return;
	}
	if (h->up.url[0] && !strcmp(h->up.state, VG_UP_UNREACHABLE) &&
	    h->up.failing_s >= VG_HEALTH_UP_GRACE_S) {
		snprintf(h->health, sizeof(h->health), VG_HEALTH_UP_DOWN,
			 (long long)(h->up.failing_s / 60), (long long)h->up.events);
		return;
	}
	if (!frames_since_start) {
		snprintf(h->health, sizeof(h->health), "%s", VG_HEALTH_WAITING);
		return;
	}
	if (h->dropped) {
		snprintf(h->health, sizeof(h->health), VG_HEALTH_DROPPED, (long long)h->dropped);
		return;
	}
	snprintf(h->health, sizeof(h->health), "%s", VG_HEALTH_OK);
}

int vg_health_read(sqlite3 *db, const char *self_version, int wsl, struct vg_health *h)
{
	char sensor[256] = "", custom[64] = "", started[64] = "";
	int64_t frames = 0, lost = 0;
	int err = 0;

	memset(h, 0, sizeof(*h));
	snprintf(h->plugin_version, sizeof(h->plugin_version), "%s", self_version);
	snprintf(h->vm_state, sizeof(h->vm_state), "stopped");
	if (db) {
		struct {
			const char *name;
			char *out;
			size_t n;
		} hs[] = {
			{ VG_HS_PLUGIN_VERSION, h->plugin_version, sizeof(h->plugin_version) },
			{ VG_HS_WSL_VERSION, h->wsl_version, sizeof(h->wsl_version) },
			{ VG_HS_VM_STATE, h->vm_state, sizeof(h->vm_state) },
			{ VG_HS_VM_STARTED, started, sizeof(started) },
			{ VG_HS_SENSOR, sensor, sizeof(sensor) },
			{ VG_HS_CUSTOM_CONFIG, custom, sizeof(custom) },
			{ VG_HS_CONNECTIVITY, h->connectivity, sizeof(h->connectivity) },
			{ VG_HS_PROXY, h->proxy, sizeof(h->proxy) },
			{ VG_HS_PROXY_SOURCE, h->proxy_source, sizeof(h->proxy_source) },
			{ VG_HS_DISTROS, h->distributions, sizeof(h->distributions) },
			{ VG_HS_WARNINGS, h->warnings, sizeof(h->warnings) },
			{ VG_HS_WSL1, h->wsl1, sizeof(h->wsl1) },
		};

		for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]) && !err; i++) {
			char keep[64];

			snprintf(keep, sizeof(keep), "%s", hs[i].out);
			err = vg_hoststate_get(db, hs[i].name, hs[i].out, hs[i].n);
			if (err == 0 && !hs[i].out[0])
				snprintf(hs[i].out, hs[i].n, "%s", keep); /* not recorded */
			err = err < 0 ? err : 0;
		}
		if (!err)
			err = vg_q(db,
				   "SELECT ClientVersion FROM DeviceInfo"
				   " ORDER BY Timestamp DESC, rowid DESC LIMIT 1",
				   NULL, NULL, h->sensor_version, sizeof(h->sensor_version));
		if (!err)
			err = vg_q(db, "SELECT COALESCE(SUM(Events), 0) FROM ReceivedFrames", NULL,
				   &h->received, NULL, 0);
		if (!err)
			err = vg_q(db, "SELECT COALESCE(SUM(RingbufFull), 0) FROM SensorCounters",
				   NULL, &h->dropped, NULL, 0);
		/* EventsLost is per device, repeated on each of its class rows. */
		if (!err)
			err = vg_q(db,
				   "SELECT COALESCE(SUM(l), 0) FROM (SELECT MAX(EventsLost) AS l"
				   " FROM SensorCounters GROUP BY DeviceId)",
				   NULL, &lost, NULL, 0);
		if (!err)
			err = vg_q(db, "SELECT MAX(Timestamp) FROM ReceivedFrames", NULL, NULL,
				   h->last_telemetry, sizeof(h->last_telemetry));
		if (!err)
			err = vg_q(db, "SELECT count(*) FROM ReceivedFrames WHERE Timestamp >= ?",
				   started, &frames, NULL, 0);
		if (!err)
			err = vg_outbox_read(db, &h->up);
		if (err)
			return err;
		h->dropped += lost;
	}
	h->wsl = wsl || h->wsl_version[0];
	vg_health_decide(h, sensor, custom, frames);
	return 0;
}

static const char *vg_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

static void vg_health_line(struct vg_sb *t, const char *label, const char *value)
{
	vg_sb_add(t, label);
	vg_sb_safe(t, value);
	vg_sb_add(t, "\n");
}

/* Each WSL 1 distribution's VG_HEALTH_WSL1 line: as JSON strings, or labelled lines. */
static void vg_health_wsl1(struct vg_sb *b, const char *names, int json)
{
	const char *p = names;

	while (*p) {
		size_t n = strcspn(p, "\n");
		char name[256], line[640];

		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1),
			 p);
		p += n + (p[n] == '\n');
		if (!name[0])
			continue;
		snprintf(line, sizeof(line), VG_HEALTH_WSL1, name, name);
		if (json) {
			if (b->len && b->s[b->len - 1] != '[')
				vg_sb_add(b, ",");
			vg_json_str(b, line);
		} else {
			vg_health_line(b, "Not monitored:          ", line);
		}
	}
}

/* --upstream: where to, how it goes, what waits and since when it fails. */
static void vg_health_upstream(struct vg_sb *b, const struct vg_outbox_state *up)
{
	vg_sb_add(b, "Upstream:               ");
	vg_sb_safe(b, up->url);
	vg_sb_add(b, " (");
	vg_sb_safe(b, vg_or(up->state, "not started"));
	vg_sb_printf(b, ")\nUpstream pending:       %lld events in %lld frames, lag %lld s\n",
		     (long long)up->events, (long long)up->frames, (long long)up->lag_s);
	if (up->state[0] && strcmp(up->state, VG_UP_SHIPPING)) {
		vg_sb_add(b, "Upstream error:         ");
		vg_sb_safe(b, up->error);
		vg_sb_add(b, " (since ");
		vg_sb_safe(b, up->since);
		vg_sb_add(b, ")\n");
	}
}

int vg_health_print(const struct vg_health *h, FILE *out, int json)
{
	struct vg_sb b;
	int err;

	vg_sb_init(&b);
	if (json) {
		vg_sb_add(&b, "{");
		vg_json_kv(&b, "PluginVersion", h->plugin_version);
		vg_json_kv(&b, "WslVersion", h->wsl_version);
		vg_json_kv(&b, "SensorVersion", h->sensor_version);
		vg_json_kv(&b, "Health", h->health);
		vg_json_kv(&b, "VmState", h->vm_state);
		vg_json_kv(&b, "LastConnectivityTest", h->connectivity);
		vg_json_kv(&b, "Proxy", h->proxy);
		vg_json_kv(&b, "ProxySource", h->proxy_source);
		vg_sb_printf(&b, ",\"EventsReceived\":%lld,\"EventsDropped\":%lld",
			     (long long)h->received, (long long)h->dropped);
		vg_json_kv(&b, "LastTelemetry", h->last_telemetry);
		vg_json_kv(&b, "Upstream", h->up.url);
		vg_json_kv(&b, "UpstreamState", h->up.state);
		vg_json_kv(&b, "UpstreamError", h->up.error);
		vg_json_kv(&b, "UpstreamErrorSince", h->up.since);
		vg_sb_printf(&b,
			     ",\"UpstreamPendingFrames\":%lld,\"UpstreamPendingEvents\":%lld,"
			     "\"UpstreamLagSeconds\":%lld",
			     (long long)h->up.frames, (long long)h->up.events,
			     (long long)h->up.lag_s);
		vg_sb_printf(&b, ",\"Distributions\":%s", vg_or(h->distributions, "[]"));
		vg_json_kv(&b, "Warnings", h->warnings);
		vg_sb_add(&b, ",\"NotMonitored\":[");
		vg_health_wsl1(&b, h->wsl1, 1);
		vg_sb_add(&b, "]}\n");
	} else {
		/* Versions, distributions and warnings come from the sensors: escaped. */
		vg_sb_printf(&b, "Plug-in version:        %s\n", vg_or(h->plugin_version, "-"));
		vg_sb_printf(&b, "WSL version:            %s\n", vg_or(h->wsl_version, "-"));
		vg_health_line(&b, "Sensor version:         ", vg_or(h->sensor_version, "-"));
		vg_health_line(&b, "Health:                 ", h->health);
		vg_health_line(&b, "Last connectivity test: ", vg_or(h->connectivity, "not run"));
		vg_sb_printf(&b, "Proxy:                  %s (%s)\n", vg_or(h->proxy, "direct"),
			     vg_or(h->proxy_source, "default"));
		vg_sb_printf(&b, "Events received:        %lld\n", (long long)h->received);
		vg_sb_printf(&b, "Events dropped:         %lld\n", (long long)h->dropped);
		vg_health_line(&b, "Last telemetry:         ", vg_or(h->last_telemetry, "never"));
		if (h->up.url[0])
			vg_health_upstream(&b, &h->up);
		vg_health_line(&b, "Distributions:          ", vg_or(h->distributions, "[]"));
		vg_health_wsl1(&b, h->wsl1, 0);
		if (h->warnings[0])
			vg_health_line(&b, "Warning:                ", h->warnings);
	}
	err = vg_sb_put(&b, out);
	vg_sb_free(&b);
	if (err == -ENOMEM)
		return err;
	return fflush(out) || ferror(out) || err ? -EPIPE : 0;
}

void vg_health_proxy(struct vg_health *h, const struct vg_proxy_sources *ps)
{
	struct vg_proxy_choice c;
	int err = vg_proxy_choose(ps, &c);

	snprintf(h->proxy, sizeof(h->proxy), "%s", c.server[0] ? c.server : "direct");
	snprintf(h->proxy_source, sizeof(h->proxy_source), "%s", c.source);
	snprintf(h->warnings, sizeof(h->warnings), "%s", c.warning);
	if (err) {
		snprintf(h->proxy, sizeof(h->proxy), "none");
		if (!strcmp(h->health, VG_HEALTH_OK))
			snprintf(h->health, sizeof(h->health), VG_HEALTH_PROXY, c.error);
		snprintf(h->warnings, sizeof(h->warnings), "%s%s%s", c.warning,
			 c.warning[0] ? "; " : "", c.error);
	}
}
