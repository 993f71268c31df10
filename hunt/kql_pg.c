// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PostgreSQL 15 dialect of the KQL translator (vg_kql_pg): the tables
 * have the store's names and columns, Timestamp is a timestamptz. Kusto's
 * string operators become LIKE/starts_with()/a term regex, RE2 a
 * PostgreSQL ARE, make_set/make_list array_to_json(array_agg()), subqueries
 * in FROM get the alias PostgreSQL 15 needs, extract_json the schema's
 * vigil_json() (server/pgschema.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

/* Timestamps compare as timestamptz; a datetime literal is ISO text PostgreSQL casts. */
static void vg_pg_now(struct vg_sb *b, double secs)
{
	if (secs)
		vg_sb_printf(b, "(now() + %.3f * interval '1 second')", secs);
	else
		vg_sb_add(b, "now()");
}

static void vg_pg_time_add(struct vg_sb *b, const char *x, double secs)
{
	vg_sb_printf(b, "(CAST(%s AS timestamptz) + %.3f * interval '1 second')", x, secs);
}

/* in whole milliseconds since the epoch, as the SQLite dialect rounds */
static void vg_pg_time_bin(struct vg_sb *b, const char *x, double secs)
{
	long long ms = (long long)(secs * 1000 + 0.5);

	vg_sb_printf(b,
		     "(TIMESTAMPTZ 'epoch' + CAST(floor(extract(epoch FROM CAST(%s AS timestamptz))"
		     " * 1000 / %lld) * %lld AS double precision) * interval '1 millisecond')",
		     x, ms, ms);
}

static void vg_pg_num_bin(struct vg_sb *b, const char *x, const char *r)
{
	vg_sb_printf(b, "(CASE WHEN (%s) > 0 THEN floor(CAST(%s AS numeric) / (%s)) * (%s) END)", r,
		     x, r, r);
}

/* RE2 onto PostgreSQL's ARE: \b is \y there, the rest as the ERE of kql_sql.c */
static const struct vg_re_esc vg_pg_re_esc[] = {
	{ 'd', "[0-9]" }, { 'D', "[^0-9]" }, { 's', "\\s" }, { 'S', "\\S" }, { 'w', "\\w" },
	{ 'W', "\\W" },	  { 'b', "\\y" },    { 'B', "\\Y" }, { 'A', "^" },   { 'z', "$" },
	{ 'n', "\n" },	  { 't', "\t" },     { 'r', "\r" },  { 0, NULL },
};

static const struct vg_re_esc vg_pg_re_esc_br[] = {
	{ 'd', "0-9" }, { 's', "[:space:]" }, { 'w', "[:alnum:]_" }, { 'n', "\n" },
	{ 't', "\t" },	{ 'r', "\r" },	      { 0, NULL },
};

static int vg_pg_regex(struct vg_sb *b, const char *x, const char *re, const char *lit, char *err,
		       size_t size)
{
	struct vg_sb are;
	int icase;

	(void)re;
	if (!lit) {
		snprintf(err, size, "matches regex takes a string literal on PostgreSQL");
		return -EINVAL;
	}
	vg_sb_init(&are);
	if (vg_re_translate(lit, vg_pg_re_esc, vg_pg_re_esc_br, &are, &icase, err, size)) {
		vg_sb_free(&are);
		return -EINVAL;
	}
	/* an ARE bracket takes escapes, the ERE written for SQLite none */
	for (const char *p = vg_sb_str(&are) ?: "", *open = NULL; *p; p++) {
		if (*p == '[' && !open)
			open = p;
		else if (*p == ']' && open && p > open + 1 && !(p == open + 2 && open[1] == '^'))
			open = NULL;
		else if (*p == '\\' && open) {
			vg_sb_free(&are);
			snprintf(err, size,
				 "a backslash in a bracket expression is not supported on"
				 " PostgreSQL");
			return -EINVAL;
		} else if (*p == '\\')
			p++;
	}
	vg_sb_printf(b, "(coalesce(CAST(%s AS text), '') %s ", x, icase ? "~*" : "~");
	vg_sql_str(b, vg_sb_str(&are) ?: "");
	vg_sb_add(b, ")");
	vg_sb_free(&are);
	return 0;
}

/*
 * array_to_json writes the compact form json_group_array() does; none is [].
 * Datetimes as the store writes them, not in JSON's +00:00 form.
 */
static void vg_pg_list_agg(struct vg_sb *b, const char *x, int distinct, int time)
{
	struct vg_sb v;

	vg_sb_init(&v);
	if (time)
		vg_sb_printf(&v,
			     "to_char(CAST(%s AS timestamptz) AT TIME ZONE 'UTC',"
			     " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
			     x);
	else
		vg_sb_add(&v, x);
	vg_sb_printf(b,
		     "coalesce(CAST(array_to_json(array_agg(%s%s) FILTER (WHERE %s IS NOT NULL))"
		     " AS text), '[]')",
		     distinct ? "DISTINCT " : "", vg_sb_str(&v) ?: "", x);
	if (vg_sb_err(&v))
		b->err = v.err;
	vg_sb_free(&v);
}

/*
 * has: the needle between term boundaries (a letter or digit at its end
 * needs a non-alphanumeric or the edge next to it), as kql_has() does; the
 * needle's ARE metacharacters escaped. contains: LIKE '%needle%' (the
 * needle's LIKE metacharacters escaped); startswith/endswith: starts_with(),
 * right(). Case-insensitive unless cs.
 */
static void vg_pg_strop(struct vg_sb *b, const char *op, const char *x, const char *n, int cs)
{
	char h[64];

	snprintf(h, sizeof(h), cs ? "%s" : "lower(%s)", "coalesce(CAST(%s AS text), '')");
#define H(s) vg_sb_printf(b, h, s)
	if (!strcmp(op, "contains")) {
		/*
		 * LIKE with the needle's \, % and _ escaped: a literal needle makes a
		 * constant pattern, which the trigram index of the command line
		 * (server/pgschema.c) serves; position() is read row by row.
		 */
		vg_sb_add(b, "(");
		H(x);
		vg_sb_add(b, " LIKE ('%' || replace(replace(replace(");
		H(n);
		vg_sb_add(b, ", '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'))");
	} else if (!strcmp(op, "startswith")) {
		vg_sb_add(b, "starts_with(");
		H(x);
		vg_sb_add(b, ", ");
		H(n);
		vg_sb_add(b, ")");
	} else if (!strcmp(op, "endswith")) {
		vg_sb_add(b, "(right(");
		H(x);
		vg_sb_printf(b, ", length(coalesce(CAST(%s AS text), ''))) = ", n);
		H(n);
		vg_sb_add(b, ")");
	} else {
		vg_sb_printf(b, "(coalesce(CAST(%s AS text), '') = '' OR ", n);
		H(x);
		vg_sb_printf(b,
			     " ~ (CASE WHEN CAST(%s AS text) ~ '^[A-Za-z0-9]' THEN"
			     " '(^|[^A-Za-z0-9])' ELSE '' END || regexp_replace(",
			     n);
		H(n);
		vg_sb_printf(b,
			     ", '([\\\\^$.|?*+()\\[\\]{}])', '\\\\\\1', 'g') ||"
			     " CASE WHEN CAST(%s AS text) ~ '[A-Za-z0-9]$' THEN '($|[^A-Za-z0-9])'"
			     " ELSE '' END))",
			     n);
	}
#undef H
}

/* the document once (its second %s is printed empty), then the path */
#define VG_PG_JSON "vigil_json(CAST(%s AS text), %.0s%s)"

/* Text functions cast their argument: PostgreSQL does not coalesce a number with ''. */
static const struct {
	const char *name, *sql;
} vg_pg_fns[] = {
	{ "isempty", "(coalesce(CAST(%s AS text), '') = '')" },
	{ "isnotempty", "(coalesce(CAST(%s AS text), '') <> '')" },
	{ "not", "(NOT coalesce(CAST(%s AS boolean), false))" },
	{ "tolower", "lower(coalesce(CAST(%s AS text), ''))" },
	{ "toupper", "upper(coalesce(CAST(%s AS text), ''))" },
	{ "strlen", "length(coalesce(CAST(%s AS text), ''))" },
	{ "toint", "CAST(%s AS integer)" },
	{ "tolong", "CAST(%s AS bigint)" },
	{ "todouble", "CAST(%s AS double precision)" },
	{ "toreal", "CAST(%s AS double precision)" },
	/* SQLite's json_extract() as text: the schema's vigil_json() (server/pgschema.c) */
	{ "extract_json", VG_PG_JSON },
	{ "extractjson", VG_PG_JSON },
};

static const char *vg_pg_fn(const char *name, const char *sql)
{
	for (size_t i = 0; i < sizeof(vg_pg_fns) / sizeof(vg_pg_fns[0]); i++)
		if (!strcmp(name, vg_pg_fns[i].name))
			return vg_pg_fns[i].sql;
	return sql;
}

/*
 * extract_json()'s text == a boolean or number: true is the 1 and false the
 * 0 the value gives for JSON's true and false, a number its text.
 */
static void vg_pg_json_eq(struct vg_sb *b, const char *json, const char *other, int eq)
{
	const char *o = !strcmp(other, "true") ? "'1'" : !strcmp(other, "false") ? "'0'" : NULL;

	vg_sb_printf(b, "(%s %s ", json, eq ? "IS NOT DISTINCT FROM" : "IS DISTINCT FROM");
	if (o)
		vg_sb_printf(b, "%s)", o);
	else
		vg_sb_printf(b, "CAST(%s AS text))", other);
}

const struct vg_kql_dialect vg_kql_pg = {
	.name = "PostgreSQL",
	.now = vg_pg_now,
	.time_add = vg_pg_time_add,
	.time_bin = vg_pg_time_bin,
	.num_bin = vg_pg_num_bin,
	.regex = vg_pg_regex,
	.list_agg = vg_pg_list_agg,
	.strop = vg_pg_strop,
	.fn = vg_pg_fn,
	.json_eq = vg_pg_json_eq,
	.avg = "CAST(avg(%s) AS double precision)",
	.sub = " AS \"kql_q\"",
	.is = "IS NOT DISTINCT FROM",
	.is_not = "IS DISTINCT FROM",
	.not_true = "IS NOT TRUE",
	.true_sql = "true",
	.false_sql = "false",
	.nulls_explicit = 1,
	.max_ident = 63, /* NAMEDATALEN - 1 */
	/* the fleet's event tables number their rows as they are stored (server/pgschema.c) */
	.bounded_sel = "SELECT \"IngestId\" AS \"_rid\", ",
	.explicit_cols = 1,
	.bounded_where = " WHERE \"IngestId\" > $1 AND \"IngestId\" <= $2",
};
