// SPDX-License-Identifier: GPL-2.0-only
/*
 * Filter sets from the server. `vigil server filters apply` checks a rule
 * file with the sensor's own compiler (lib/filter.h: the same line:col
 * errors, the same limits) and stores it as its machine group's next
 * version; hosts fetch their group's current set with GET /v1/filters
 * (If-None-Match: the ETag they hold) and hand it to their sensors in the
 * FILTER frames `vigil filter` and SIGHUP use.
 *
 * The hits come back in the batches: each one carries the rule set its
 * sensor runs with the kernel's hit counters (Batch.filter_rules). A
 * version's Signature is the SHA-256 of its rules as the compiler numbers
 * and prints them ("index\tline\taction\ttext\n" each), and a batch's rules
 * get the same Signature here, so the hits of a version are those of every
 * sensor run whose set is exactly that one, wherever it came from. They are
 * kept per (device, run, generation) at the highest value seen, as the
 * counters are: a resent batch changes nothing, a sensor that restarts or
 * loads the set again counts from zero in a row of its own.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "fmt.h"
#include "log.h"
#include "server.h"
#include "server_int.h"

/* Serialises applies of one database (a version number is taken once). */
#define VG_FS_LOCK "7415903"

int vg_group_valid(const char *g)
{
	size_t n = strlen(g);

	return n && n <= VG_GROUP_MAX && strspn(g,
						"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						"0123456789._-") == n;
}

/*
 * Run sql with n parameters v (lens and fmts NULL: all text; a format 1 is
 * bytes of lens[i]), results in text or, with binary, as bytes: the result
 * (PQclear it) or NULL (logged).
 */
static PGresult *vg_fs_execb(PGconn *c, const char *what, const char *sql, int n,
			     const char *const *v, const int *lens, const int *fmts, int binary)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, v, lens, fmts, binary);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	vg_log(VG_ERROR, "server: postgresql: %s: %s", what,
	       r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	PQclear(r);
	return NULL;
}

static PGresult *vg_fs_exec(PGconn *c, const char *what, const char *sql, int n,
			    const char *const *v)
{
	return vg_fs_execb(c, what, sql, n, v, NULL, NULL, 0);
}

static int vg_fs_cmd(PGconn *c, const char *what, const char *sql, int n, const char *const *v)
{
	PGresult *r = vg_fs_exec(c, what, sql, n, v);

	PQclear(r);
	return r ? 0 : -EIO;
}

/* One rule's line of a Signature. */
static void vg_fs_sig_add(struct vg_sb *b, unsigned idx, unsigned line, const char *action,
			  const char *text)
{
	vg_sb_printf(b, "%u\t%u\t%s\t%s\n", idx, line, action ? action : "", text ? text : "");
}

int vg_pg_filters_apply(struct vg_pg *pg, const char *group, const char *name, const char *text,
			size_t len, FILE *diag, long long *version)
{
	PGconn *c = vg_pg_conn(pg);
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char sha[VG_TOKEN_HEX + 1], sig[VG_TOKEN_HEX + 1], ver[24], num[3][24], rules[24];
	const char *v[7];
	int lens[7] = { 0 }, fmts[7] = { 0 };
	struct vg_sb b;
	PGresult *r;
	int err = -EIO;

	if (!set)
		return -ENOMEM;
	vg_sb_init(&b);
	if (vg_vf_parse(set, name, text, len, diag)) {
		err = -EINVAL;
		goto out;
	}
	for (int i = 0; i < set->n; i++)
		vg_fs_sig_add(&b, (unsigned)i, (unsigned)set->rules[i].line,
			      set->rules[i].k.action == VG_FLT_DROP ? "drop" : "keep",
			      set->rules[i].text);
	if (vg_sb_err(&b)) {
		err = -ENOMEM;
		goto out;
	}
	vg_sha256_hex(vg_sb_str(&b) ? vg_sb_str(&b) : "", b.len, sig);
	vg_sha256_hex(text, len, sha);
	if (vg_fs_cmd(c, "begin", "BEGIN", 0, NULL) ||
	    vg_fs_cmd(c, "lock filter sets", "SELECT pg_advisory_xact_lock(" VG_FS_LOCK ")", 0, NULL))
		goto fail;
	v[0] = group;
	r = vg_fs_exec(c, "read the group's version",
		       "SELECT \"Version\", \"TextSHA256\" FROM \"FilterSets\" WHERE"
		       " \"MachineGroup\" = $1 ORDER BY \"Version\" DESC LIMIT 1",
		       1, v);
	if (!r)
		goto fail;
	*version = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	if (PQntuples(r) && !strcmp(PQgetvalue(r, 0, 1), sha)) {
		PQclear(r);
		err = -EALREADY;
		goto fail;
	}
	PQclear(r);
	++*version;
	snprintf(ver, sizeof(ver), "%lld", *version);
	snprintf(rules, sizeof(rules), "%d", set->n);
	/* The text as bytes (bytea, binary parameter): a rule file may hold any byte. */
	v[0] = group;
	v[1] = ver;
	v[2] = text;
	lens[2] = (int)len;
	fmts[2] = 1;
	v[3] = sha;
	v[4] = sig;
	v[5] = rules;
	r = vg_fs_execb(c, "store the filter set",
			"INSERT INTO \"FilterSets\" (\"MachineGroup\", \"Version\", \"Text\","
			" \"TextSHA256\", \"Signature\", \"Rules\", \"Created\") VALUES ($1, $2,"
			" $3::bytea, $4, $5, $6, now())",
			6, v, lens, fmts, 0);
	if (!r)
		goto fail;
	PQclear(r);
	for (int i = 0; i < set->n; i++) {
		struct vg_sb rule;

		/* The rule's text as stored must be UTF-8: bytes that are not become \xNN. */
		vg_sb_init(&rule);
		vg_sb_safe(&rule, set->rules[i].text);
		snprintf(num[0], sizeof(num[0]), "%d", i);
		snprintf(num[1], sizeof(num[1]), "%d", set->rules[i].line);
		v[0] = group;
		v[1] = ver;
		v[2] = num[0];
		v[3] = num[1];
		v[4] = set->rules[i].k.action == VG_FLT_DROP ? "drop" : "keep";
		v[5] = vg_sb_str(&rule) ? vg_sb_str(&rule) : "";
		err = vg_fs_cmd(c, "store a rule of the set",
				"INSERT INTO \"FilterSetRules\" (\"MachineGroup\", \"Version\","
				" \"RuleIndex\", \"Line\", \"Action\", \"Rule\") VALUES ($1, $2, $3,"
				" $4, $5, $6)",
				6, v);
		vg_sb_free(&rule);
		if (err)
			goto fail;
	}
	err = -EIO;
	if (vg_fs_cmd(c, "commit", "COMMIT", 0, NULL))
		goto fail;
	err = 0;
	goto out;
fail:
	PQclear(PQexec(c, "ROLLBACK"));
out:
	vg_sb_free(&b);
	free(set);
	return err;
}

int vg_pg_secret_group(struct vg_pg *pg, const char *secret, const char *group)
{
	char hash[VG_TOKEN_HEX + 1];
	const char *v[2] = { hash, group };

	vg_sha256_hex(secret, strlen(secret), hash);
	return vg_fs_cmd(vg_pg_conn(pg), "set the secret's group",
			 "UPDATE \"ServerSecrets\" SET \"MachineGroup\" = $2 WHERE"
			 " \"SecretHash\" = $1",
			 2, v);
}

int vg_pg_group_set(struct vg_pg *pg, const char *device, const char *group)
{
	const char *v[2] = { device, group };

	return vg_fs_cmd(vg_pg_conn(pg), "set the device's group",
			 "INSERT INTO \"DeviceGroups\" (\"DeviceId\", \"MachineGroup\", \"Timestamp\")"
			 " VALUES ($1, $2, now()) ON CONFLICT (\"DeviceId\") DO UPDATE SET"
			 " \"MachineGroup\" = excluded.\"MachineGroup\","
			 " \"Timestamp\" = excluded.\"Timestamp\"",
			 2, v);
}

int vg_pg_filters_for(struct vg_pg *pg, const char *device, char *group, long long *version,
		      char **text, size_t *len)
{
	PGconn *c = vg_pg_conn(pg);
	const char *v[1] = { device };
	PGresult *r;
	int n;

	/* Binary results: the text comes back as its bytes. */
	r = vg_fs_execb(c, "find the device's filter set",
			"SELECT g.\"MachineGroup\", s.\"Version\", s.\"Text\" FROM (SELECT"
			" coalesce((SELECT \"MachineGroup\" FROM \"DeviceGroups\" WHERE"
			" \"DeviceId\" = $1), '" VG_GROUP_DEFAULT "') AS \"MachineGroup\") g"
			" LEFT JOIN LATERAL (SELECT \"Version\", \"Text\" FROM \"FilterSets\" f WHERE"
			" f.\"MachineGroup\" = g.\"MachineGroup\" ORDER BY \"Version\" DESC LIMIT 1)"
			" s ON true",
			1, v, NULL, NULL, 1);
	if (!r)
		return -EIO;
	snprintf(group, VG_GROUP_MAX + 1, "%.*s", PQgetlength(r, 0, 0), PQgetvalue(r, 0, 0));
	if (PQgetisnull(r, 0, 1)) {
		PQclear(r);
		return -ENOENT;
	}
	/* bigint in binary: 8 bytes, network order. */
	*version = 0;
	for (int i = 0; i < 8 && PQgetlength(r, 0, 1) == 8; i++)
		*version = (*version << 8) | (unsigned char)PQgetvalue(r, 0, 1)[i];
	n = PQgetlength(r, 0, 2);
	*text = malloc((size_t)n + 1);
	if (!*text) {
		PQclear(r);
		return -ENOMEM;
	}
	memcpy(*text, PQgetvalue(r, 0, 2), (size_t)n);
	(*text)[n] = 0;
	*len = (size_t)n;
	PQclear(r);
	return 0;
}

int vg_pg_filter_hits(struct vg_pg *pg, const char *device, const Vigil__V1__Batch *b,
		      const char *now, char *why, size_t why_len)
{
	char sig[VG_TOKEN_HEX + 1], stream[24], gen[24];
	struct vg_sb s, idx, hits;
	const char *v[7];
	int err = -ENOMEM;

	if (!b->n_filter_rules)
		return 0;
	if (b->n_filter_rules > VG_FLT_RULES) {
		snprintf(why, why_len, "%zu filter rules, at most %d", b->n_filter_rules,
			 VG_FLT_RULES);
		return -EBADMSG;
	}
	vg_sb_init(&s);
	vg_sb_init(&idx);
	vg_sb_init(&hits);
	vg_sb_add(&idx, "{");
	vg_sb_add(&hits, "{");
	for (size_t i = 0; i < b->n_filter_rules; i++) {
		const Vigil__V1__FilterRule *r = b->filter_rules[i];

		if (r->index != i || r->generation != b->filter_rules[0]->generation) {
			snprintf(why, why_len, "filter rule %zu: index %u, generation %llu", i,
				 r->index, (unsigned long long)r->generation);
			err = -EBADMSG;
			goto out;
		}
		vg_fs_sig_add(&s, r->index, r->line, r->action, r->rule);
		vg_sb_printf(&idx, "%s%u", i ? "," : "", r->index);
		vg_sb_printf(&hits, "%s%lld", i ? "," : "", (long long)(r->hits & INT64_MAX));
	}
	vg_sb_add(&idx, "}");
	vg_sb_add(&hits, "}");
	if (vg_sb_err(&s) || vg_sb_err(&idx) || vg_sb_err(&hits))
		goto out;
	vg_sha256_hex(vg_sb_str(&s), s.len, sig);
	snprintf(stream, sizeof(stream), "%lld", (long long)b->stream_id);
	snprintf(gen, sizeof(gen), "%lld", (long long)(b->filter_rules[0]->generation & INT64_MAX));
	v[0] = device;
	v[1] = stream;
	v[2] = gen;
	v[3] = sig;
	v[4] = vg_sb_str(&idx);
	v[5] = vg_sb_str(&hits);
	v[6] = now;
	err = vg_fs_cmd(vg_pg_conn(pg), "store filter rule hits",
			"INSERT INTO \"SensorFilterHits\" AS h (\"DeviceId\", \"StreamId\","
			" \"Generation\", \"RuleIndex\", \"Signature\", \"Hits\", \"Timestamp\","
			" \"LastHit\") SELECT $1, $2, $3, u.i, $4, u.n, $7, CASE WHEN u.n > 0 THEN"
			" $7::timestamptz END FROM unnest($5::integer[], $6::bigint[]) AS u(i, n)"
			" ON CONFLICT (\"DeviceId\", \"StreamId\", \"Generation\", \"RuleIndex\")"
			" DO UPDATE SET \"Hits\" = greatest(h.\"Hits\", excluded.\"Hits\"),"
			" \"Timestamp\" = excluded.\"Timestamp\", \"LastHit\" = CASE WHEN"
			" excluded.\"Hits\" > h.\"Hits\" THEN excluded.\"Timestamp\" ELSE"
			" h.\"LastHit\" END",
			7, v);
out:
	vg_sb_free(&s);
	vg_sb_free(&idx);
	vg_sb_free(&hits);
	return err;
}

/* ---- GET /v1/filters */

enum MHD_Result vg_filters_get(struct MHD_Connection *c, const char *method)
{
	char owner[VG_DEVICE_ID_MAX + 1], group[VG_GROUP_MAX + 1], why[256] = "", etag[128],
		ver[24];
	const char *inm;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	long long version;
	struct vg_pg *pg;
	char *text = NULL;
	size_t len;
	int err;

	if (strcmp(method, "GET"))
		return vg_http_fail(c, 405, "GET only");
	if (vg_http_auth(c, owner, &ret))
		return ret;
	pg = vg_http_pg(why, sizeof(why));
	err = pg ? vg_pg_filters_for(pg, owner, group, &version, &text, &len) : -EIO;
	if (err == -ENOENT) {
		/* No set for the group: the host keeps what its sensors run. */
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "X-Vigil-Group", group);
		ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (err)
		return vg_http_fail(c, 503, "database unavailable");
	snprintf(etag, sizeof(etag), "\"%s/%lld\"", group, version);
	snprintf(ver, sizeof(ver), "%lld", version);
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && !strcmp(inm, etag)) {
		free(text);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		len = 0;
	} else {
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
		vg_log(VG_DEBUG, "server: filter set %s version %lld to %s", group, version, owner);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, "X-Vigil-Group", group);
	MHD_add_response_header(resp, "X-Vigil-Version", ver);
	ret = MHD_queue_response(c, inm && !strcmp(inm, etag) ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK,
				 resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- vigil server filters list|show|hits */

int vg_pg_filters_list(struct vg_pg *pg, FILE *out, int json)
{
	PGresult *r = vg_fs_exec(
		vg_pg_conn(pg), "list filter sets",
		"SELECT s.\"MachineGroup\", s.\"Version\", s.\"Rules\", to_char(s.\"Created\" AT TIME"
		" ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), (SELECT count(*) FROM"
		" \"DeviceGroups\" g WHERE g.\"MachineGroup\" = s.\"MachineGroup\"), s.\"TextSHA256\""
		" FROM \"FilterSets\" s WHERE s.\"Version\" = (SELECT max(\"Version\") FROM"
		" \"FilterSets\" x WHERE x.\"MachineGroup\" = s.\"MachineGroup\") ORDER BY 1",
		0, NULL);
	struct vg_sb b;

	if (!r)
		return -EIO;
	vg_sb_init(&b);
	if (!json)
		fprintf(out, "%-24s %8s %6s %-20s %8s\n", "group", "version", "rules", "applied",
			"devices");
	for (int i = 0; i < PQntuples(r); i++) {
		vg_sb_reset(&b);
		if (json) {
			vg_sb_add(&b, "{\"MachineGroup\":");
			vg_json_str(&b, PQgetvalue(r, i, 0));
			vg_sb_printf(&b, ",\"Version\":%s,\"Rules\":%s,\"Applied\":", PQgetvalue(r, i, 1),
				     PQgetvalue(r, i, 2));
			vg_json_str(&b, PQgetvalue(r, i, 3));
			vg_sb_printf(&b, ",\"Devices\":%s,\"TextSHA256\":", PQgetvalue(r, i, 4));
			vg_json_str(&b, PQgetvalue(r, i, 5));
			vg_sb_add(&b, "}");
			fprintf(out, "%s\n", vg_sb_str(&b) ?: "");
		} else {
			vg_sb_cell(&b, PQgetvalue(r, i, 0), 24, 1);
			fprintf(out, "%s %8s %6s %-20s %8s\n", vg_sb_str(&b) ?: "", PQgetvalue(r, i, 1),
				PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		}
	}
	if (!PQntuples(r) && !json)
		fprintf(out, "(no filter sets)\n");
	vg_sb_free(&b);
	PQclear(r);
	return 0;
}

/*
 * Joined to a set s and its rule r: the hits rows of that rule from the
 * devices now in s's group (DeviceGroups; none: default) whose sensors run
 * exactly s's rules (Signature). A device of another group running the same
 * rules (the same file applied there, or its host's own --filters) counts
 * for its own group, never for this one.
 */
#define VG_FS_HITS_OF(s, r)                                                                      \
	"(\"SensorFilterHits\" h LEFT JOIN \"DeviceGroups\" g USING (\"DeviceId\")) ON"            \
	" h.\"Signature\" = " s ".\"Signature\" AND h.\"RuleIndex\" = " r ".\"RuleIndex\" AND" \
	" coalesce(g.\"MachineGroup\", '" VG_GROUP_DEFAULT "') = " s ".\"MachineGroup\""
/* Each group's current set. */
#define VG_FS_CURRENT                                                                     \
	"(SELECT DISTINCT ON (\"MachineGroup\") \"MachineGroup\", \"Version\", \"Signature\","   \
	" \"Rules\" FROM \"FilterSets\" ORDER BY \"MachineGroup\", \"Version\" DESC)"
#define VG_FS_ISO(e) "coalesce(to_char(" e " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

/* A last hit ("" for none: null) and the end of the JSON object. */
static void vg_fs_json_last(struct vg_sb *b, const char *t)
{
	if (*t)
		vg_json_str(b, t);
	else
		vg_sb_add(b, "null");
	vg_sb_add(b, "}");
}

int vg_pg_fleet_rules(struct pg_conn *c, FILE *out, int limit, int json)
{
	char lim[24];
	const char *v[1] = { lim };
	struct vg_sb b;
	PGresult *r;

	snprintf(lim, sizeof(lim), "%d", limit);
	r = vg_fs_exec(c, "read the fleet's filter hits",
		       "SELECT s.\"MachineGroup\", s.\"Version\", r.\"RuleIndex\", r.\"Line\","
		       " r.\"Action\", r.\"Rule\", count(DISTINCT h.\"DeviceId\"),"
		       " coalesce(sum(h.\"Hits\"), 0), " VG_FS_ISO("max(h.\"LastHit\")") " FROM"
		       " " VG_FS_CURRENT " s JOIN \"FilterSetRules\" r USING (\"MachineGroup\","
		       " \"Version\") LEFT JOIN " VG_FS_HITS_OF("s", "r") " GROUP BY 1, 2, 3, 4, 5, 6"
		       " ORDER BY 8 DESC, 1, 3 LIMIT $1",
		       1, v);
	if (!r)
		return -EIO;
	vg_sb_init(&b);
	if (!json)
		fprintf(out, "\n%-16s %4s %-5s %-6s %-40s %7s %12s  %s\n", "filter set", "rule",
			"line", "action", "filter rule", "devices", "hits", "last hit");
	for (int i = 0; i < PQntuples(r); i++) {
		vg_sb_reset(&b);
		if (json) {
			vg_sb_add(&b, "{\"Section\":\"fleet rule\",\"MachineGroup\":");
			vg_json_str(&b, PQgetvalue(r, i, 0));
			vg_sb_printf(&b, ",\"Version\":%s,\"RuleIndex\":%s,\"Line\":%s,\"Action\":",
				     PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
			vg_json_str(&b, PQgetvalue(r, i, 4));
			vg_sb_add(&b, ",\"Rule\":");
			vg_json_str(&b, PQgetvalue(r, i, 5));
			vg_sb_printf(&b, ",\"Devices\":%s,\"Hits\":%s,\"LastHit\":",
				     PQgetvalue(r, i, 6), PQgetvalue(r, i, 7));
			vg_fs_json_last(&b, PQgetvalue(r, i, 8));
		} else {
			struct vg_sb set;

			vg_sb_init(&set);
			vg_sb_printf(&set, "%s v%s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			vg_sb_cell(&b, vg_sb_str(&set) ?: "", 16, 1);
			vg_sb_free(&set);
			vg_sb_printf(&b, " %4s %-5s %-6s ", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
				     PQgetvalue(r, i, 4));
			vg_sb_cell(&b, PQgetvalue(r, i, 5), 40, 1);
			vg_sb_printf(&b, " %7s %12s  %s", PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
				     *PQgetvalue(r, i, 8) ? PQgetvalue(r, i, 8) : "-");
		}
		vg_sb_add(&b, "\n");
		if (vg_sb_put(&b, out))
			break;
	}
	if (!PQntuples(r) && !json)
		fprintf(out, "(no filter sets on the server)\n");
	vg_sb_free(&b);
	PQclear(r);
	return ferror(out) ? -EPIPE : 0;
}

int vg_pg_fleet_sets(struct pg_conn *c, FILE *out, int json)
{
	struct vg_sb b;
	PGresult *r;

	/*
	 * Each group's current set with its devices and hits, then (group NULL)
	 * every other rule list sensors report: an older version, a set of
	 * another group than the device's, a host's own --filters. Nothing
	 * reported is left off.
	 */
	r = vg_fs_exec(c, "read the fleet's filter sets",
		       "SELECT s.\"MachineGroup\", s.\"Version\", s.\"Rules\","
		       " count(DISTINCT h.\"DeviceId\"), coalesce(sum(h.\"Hits\"), 0),"
		       " " VG_FS_ISO("max(h.\"LastHit\")") " FROM " VG_FS_CURRENT " s LEFT JOIN"
		       " (\"SensorFilterHits\" h LEFT JOIN \"DeviceGroups\" g USING (\"DeviceId\"))"
		       " ON h.\"Signature\" = s.\"Signature\" AND coalesce(g.\"MachineGroup\", '"
		       VG_GROUP_DEFAULT "') = s.\"MachineGroup\" GROUP BY 1, 2, 3"
		       " UNION ALL SELECT NULL, NULL, count(DISTINCT (h.\"Signature\","
		       " h.\"RuleIndex\")), count(DISTINCT h.\"DeviceId\"), coalesce(sum(h.\"Hits\"),"
		       " 0), " VG_FS_ISO("max(h.\"LastHit\")") " FROM \"SensorFilterHits\" h LEFT"
		       " JOIN \"DeviceGroups\" g USING (\"DeviceId\") WHERE NOT EXISTS (SELECT 1"
		       " FROM " VG_FS_CURRENT " s WHERE s.\"Signature\" = h.\"Signature\" AND"
		       " s.\"MachineGroup\" = coalesce(g.\"MachineGroup\", '" VG_GROUP_DEFAULT "'))"
		       " ORDER BY 1 NULLS LAST",
		       0, NULL);
	if (!r)
		return -EIO;
	vg_sb_init(&b);
	if (!json)
		fprintf(out, "\nFILTER SETS (current version of each group; hits of its devices)\n"
			     "%-24s %8s %6s %8s %14s  %s\n",
			"GROUP", "VERSION", "RULES", "DEVICES", "HITS", "LAST HIT");
	for (int i = 0; i < PQntuples(r); i++) {
		int server = !PQgetisnull(r, i, 0);

		vg_sb_reset(&b);
		if (!server && !strcmp(PQgetvalue(r, i, 3), "0"))
			continue;
		if (json) {
			vg_sb_add(&b, "{\"Section\":\"filter set\",\"MachineGroup\":");
			if (server)
				vg_json_str(&b, PQgetvalue(r, i, 0));
			else
				vg_sb_add(&b, "null");
			vg_sb_printf(&b,
				     ",\"Version\":%s,\"Rules\":%s,\"Devices\":%s,\"Hits\":%s,"
				     "\"LastHit\":",
				     server ? PQgetvalue(r, i, 1) : "null", PQgetvalue(r, i, 2),
				     PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
			vg_fs_json_last(&b, PQgetvalue(r, i, 5));
		} else {
			vg_sb_cell(&b, server ? PQgetvalue(r, i, 0) : "(other rule lists)", 24, 1);
			vg_sb_printf(&b, " %8s %6s %8s %14s  %s", server ? PQgetvalue(r, i, 1) : "-",
				     PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
				     *PQgetvalue(r, i, 5) ? PQgetvalue(r, i, 5) : "-");
		}
		vg_sb_add(&b, "\n");
		if (vg_sb_put(&b, out))
			break;
	}
	vg_sb_free(&b);
	PQclear(r);
	return ferror(out) ? -EPIPE : 0;
}

/* The version to show: version, or the group's latest when 0. 0, -ENOENT, -EIO. */
static int vg_fs_version(PGconn *c, const char *group, long long *version)
{
	const char *v[1] = { group };
	PGresult *r;

	if (*version)
		return 0;
	r = vg_fs_exec(c, "find the group's version",
		       "SELECT max(\"Version\") FROM \"FilterSets\" WHERE \"MachineGroup\" = $1", 1,
		       v);
	if (!r)
		return -EIO;
	*version = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return *version ? 0 : -ENOENT;
}

int vg_pg_filters_show(struct vg_pg *pg, FILE *out, const char *group, long long version)
{
	PGconn *c = vg_pg_conn(pg);
	char ver[24];
	const char *v[2] = { group, ver };
	PGresult *r;
	int err = vg_fs_version(c, group, &version);

	if (err)
		return err;
	snprintf(ver, sizeof(ver), "%lld", version);
	r = vg_fs_execb(c, "read the filter set",
			"SELECT \"Text\" FROM \"FilterSets\" WHERE \"MachineGroup\" = $1 AND"
			" \"Version\" = $2",
			2, v, NULL, NULL, 1);
	if (!r)
		return -EIO;
	if (!PQntuples(r)) {
		PQclear(r);
		return -ENOENT;
	}
	/* The administrator's own file, as applied: written as it is. */
	err = fwrite(PQgetvalue(r, 0, 0), 1, (size_t)PQgetlength(r, 0, 0), out) ==
			      (size_t)PQgetlength(r, 0, 0) ?
		      0 :
		      -EPIPE;
	PQclear(r);
	return err;
}

int vg_pg_filters_hits(struct vg_pg *pg, FILE *out, const char *group, long long version,
		       int devices, int json)
{
	PGconn *c = vg_pg_conn(pg);
	char ver[24];
	const char *v[2] = { group, ver };
	struct vg_sb b;
	PGresult *r;
	int err = vg_fs_version(c, group, &version);

	if (err)
		return err;
	snprintf(ver, sizeof(ver), "%lld", version);
	/*
	 * Each device's hits of a rule: the sum over its sensor runs (and
	 * generations) that ran exactly this version's rules, for the devices
	 * now in the group.
	 */
	r = vg_fs_exec(
		c, "read the hits",
		devices ? "SELECT r.\"RuleIndex\", r.\"Line\", r.\"Action\", r.\"Rule\", h.\"DeviceId\","
			  " sum(h.\"Hits\") FROM \"FilterSets\" s JOIN \"FilterSetRules\" r USING"
			  " (\"MachineGroup\", \"Version\") JOIN " VG_FS_HITS_OF("s", "r") " WHERE"
			  " s.\"MachineGroup\" = $1 AND s.\"Version\" = $2"
			  " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 5" :
			  "SELECT r.\"RuleIndex\", r.\"Line\", r.\"Action\", r.\"Rule\","
			  " count(DISTINCT h.\"DeviceId\"), coalesce(sum(h.\"Hits\"), 0) FROM"
			  " \"FilterSets\" s JOIN \"FilterSetRules\" r USING (\"MachineGroup\","
			  " \"Version\") LEFT JOIN " VG_FS_HITS_OF("s", "r") " WHERE"
			  " s.\"MachineGroup\" = $1 AND s.\"Version\" = $2 GROUP BY 1, 2, 3, 4"
			  " ORDER BY 1",
		2, v);
	if (!r)
		return -EIO;
	vg_sb_init(&b);
	if (!json) {
		vg_sb_safe(&b, group);
		fprintf(out, "filter set %s version %lld: hits across the fleet\n", vg_sb_str(&b) ?: "",
			version);
		fprintf(out, "%-5s %-5s %-6s %-50s %*s %12s\n", "rule", "line", "action",
			"filter rule", devices ? -24 : 8, devices ? "device" : "devices", "hits");
	}
	for (int i = 0; i < PQntuples(r); i++) {
		vg_sb_reset(&b);
		if (json) {
			vg_sb_printf(&b, "{\"MachineGroup\":");
			vg_json_str(&b, group);
			vg_sb_printf(&b, ",\"Version\":%lld,\"RuleIndex\":%s,\"Line\":%s,\"Action\":",
				     version, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			vg_json_str(&b, PQgetvalue(r, i, 2));
			vg_sb_add(&b, ",\"Rule\":");
			vg_json_str(&b, PQgetvalue(r, i, 3));
			if (devices) {
				vg_sb_add(&b, ",\"DeviceId\":");
				vg_json_str(&b, PQgetvalue(r, i, 4));
			} else {
				vg_sb_printf(&b, ",\"Devices\":%s", PQgetvalue(r, i, 4));
			}
			vg_sb_printf(&b, ",\"Hits\":%s}", PQgetvalue(r, i, 5));
		} else {
			vg_sb_printf(&b, "%-5s %-5s %-6s ", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
				     PQgetvalue(r, i, 2));
			vg_sb_cell(&b, PQgetvalue(r, i, 3), 50, 1);
			vg_sb_add(&b, " ");
			if (devices)
				vg_sb_cell(&b, PQgetvalue(r, i, 4), 24, 1);
			else
				vg_sb_printf(&b, "%8s", PQgetvalue(r, i, 4));
			vg_sb_printf(&b, " %12s", PQgetvalue(r, i, 5));
		}
		fprintf(out, "%s\n", vg_sb_str(&b) ?: "");
	}
	vg_sb_free(&b);
	PQclear(r);
	return 0;
}
