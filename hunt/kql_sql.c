// SPDX-License-Identifier: GPL-2.0-only
/*
 * SQL for the KQL translator: quoting of names and strings, the SQLite
 * dialect table (vg_kql_sqlite), and the functions translated queries call
 * at run time (kql_has and the other string operators, regexp with RE2
 * syntax translated onto POSIX ERE, kql_bin), registered by vg_kql_register().
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql.h"
#include "kql_int.h"

/* ---- SQL text */

/* s between quote characters q, each q inside doubled: SQL's quoting of names and strings. */
void vg_sql_quote(struct vg_sb *b, const char *s, char q)
{
	vg_sb_addn(b, &q, 1);
	for (const char *p = s; *p; p++) {
		vg_sb_addn(b, p, 1);
		if (*p == q)
			vg_sb_addn(b, p, 1);
	}
	vg_sb_addn(b, &q, 1);
}

void vg_sql_ident(struct vg_sb *b, const char *name)
{
	vg_sql_quote(b, name, '"');
}

void vg_sql_str(struct vg_sb *b, const char *s)
{
	vg_sql_quote(b, s, '\'');
}

/* ---- the SQLite dialect */

#define VG_SQLITE_ISO "'%%Y-%%m-%%dT%%H:%%M:%%fZ'"

static void vg_sqlite_now(struct vg_sb *b, double secs)
{
	if (secs)
		vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", 'now', '%+.3f seconds')", secs);
	else
		vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", 'now')");
}

static void vg_sqlite_time_add(struct vg_sb *b, const char *x, double secs)
{
	vg_sb_printf(b, "strftime(" VG_SQLITE_ISO ", %s, '%+.3f seconds')", x, secs);
}

/* via milliseconds since the epoch: julianday() is exact to well under 1 ms today */
static void vg_sqlite_time_bin(struct vg_sb *b, const char *x, double secs)
{
	vg_sb_printf(b,
		     "strftime(" VG_SQLITE_ISO ", kql_bin(CAST(round((julianday(%s) - 2440587.5)"
		     " * 86400000.0) AS INTEGER), %lld) / 1000.0, 'unixepoch')",
		     x, (long long)(secs * 1000 + 0.5));
}

static void vg_sqlite_num_bin(struct vg_sb *b, const char *x, const char *r)
{
	vg_sb_printf(b, "kql_bin(%s, %s)", x, r);
}

static int vg_sqlite_regex(struct vg_sb *b, const char *x, const char *re, const char *lit,
			   char *err, size_t size)
{
	(void)lit; /* regexp() compiles it at run time */
	(void)err;
	(void)size;
	vg_sb_printf(b, "(coalesce(%s, '') REGEXP %s)", x, re);
	return 0;
}

static void vg_sqlite_list_agg(struct vg_sb *b, const char *x, int distinct, int time)
{
	(void)time; /* stored as the ISO text they print as */
	vg_sb_printf(b, "json_group_array(%s%s) FILTER (WHERE %s IS NOT NULL)",
		     distinct ? "DISTINCT " : "", x, x);
}

/* kql_has() and the others: SQL functions registered by vg_kql_register() */
static void vg_sqlite_strop(struct vg_sb *b, const char *op, const char *x, const char *n, int cs)
{
	vg_sb_printf(b, "kql_%s(%s, %s, %d)", op, x, n, cs);
}

static const char *vg_sqlite_fn(const char *name, const char *sql)
{
	(void)name;
	return sql;
}

const struct vg_kql_dialect vg_kql_sqlite = {
	.name = "SQLite",
	.now = vg_sqlite_now,
	.time_add = vg_sqlite_time_add,
	.time_bin = vg_sqlite_time_bin,
	.num_bin = vg_sqlite_num_bin,
	.regex = vg_sqlite_regex,
	.list_agg = vg_sqlite_list_agg,
	.strop = vg_sqlite_strop,
	.fn = vg_sqlite_fn,
	.avg = "avg(%s)",
	.sub = "",
	.is = "IS",
	.is_not = "IS NOT",
	.not_true = "IS NOT 1",
	.true_sql = "1",
	.false_sql = "0",
	.bounded_sel = "SELECT rowid AS \"_rid\", ",
	.bounded_where = " WHERE rowid > ?1 AND rowid <= ?2",
};

/* A regular expression longer than this is refused (compiled per statement). */
#define VG_KQL_MAX_REGEX 1024
/* {n,m} repetitions above this are refused: regcomp's automaton grows with them. */
#define VG_KQL_MAX_REPEAT 255

/* ---- regular expressions: RE2 syntax onto POSIX ERE */

/* RE2 escapes and their ERE (glibc has \s \w \b and their negations as they are) */
static const struct vg_re_esc vg_re_esc[] = {
	{ 'd', "[0-9]" }, { 'D', "[^0-9]" }, { 's', "\\s" }, { 'S', "\\S" }, { 'w', "\\w" },
	{ 'W', "\\W" },	  { 'b', "\\b" },    { 'B', "\\B" }, { 'A', "^" },   { 'z', "$" },
	{ 'n', "\n" },	  { 't', "\t" },     { 'r', "\r" },  { 0, NULL },
};

/* ... and inside [...], where ERE takes no escapes */
static const struct vg_re_esc vg_re_esc_br[] = {
	{ 'd', "0-9" }, { 's', "[:space:]" }, { 'w', "[:alnum:]_" }, { 'n', "\n" },
	{ 't', "\t" },	{ 'r', "\r" },	      { 0, NULL },
};

static const char *vg_re_escape(const struct vg_re_esc *t, char c)
{
	for (; t->c; t++)
		if (t->c == c)
			return t->ere;
	return NULL;
}

/* a letter, digit or non-ASCII byte: an escape of it that RE2 has and ERE lacks */
static int vg_re_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (unsigned char)c >= 0x80;
}

/* The expanded size above which a regular expression is refused (see vg_re_cost). */
#define VG_KQL_MAX_REGEX_COST 20000

/*
 * An upper bound of the atoms glibc's regcomp builds for re: it copies the
 * operand of {n,m} m times and of + twice, so nested repetitions multiply
 * (((a{255}){255}){255} is 16 million copies, ((a+)+)+... doubles per
 * level) and a short pattern can take gigabytes. Brackets and escapes are
 * one atom; groups are tracked by parentheses. Saturates at LONG_MAX / 256.
 */
static long vg_re_cost(const char *p)
{
	const long cap = LONG_MAX / 256;
	long sum[64] = { 0 }, last = 0;
	int top = 0;

	for (; *p; p++) {
		long f = 1;

		if (*p == '\\' && p[1]) {
			p++;
			sum[top] += last = 1;
		} else if (*p == '[') {
			for (p++; *p && *p != ']'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				break;
			sum[top] += last = 1;
		} else if (*p == '(') {
			if (top == 63)
				return cap;
			sum[++top] = 0;
			last = 0;
		} else if (*p == ')') {
			last = top > 0 ? sum[top--] : 0;
			sum[top] += last;
		} else if (*p == '+' || (*p == '{' && p[1] >= '0' && p[1] <= '9')) {
			if (*p == '+') {
				f = 2;
			} else {
				long n = 0, m = -1;

				for (p++; *p >= '0' && *p <= '9'; p++)
					n = n < 100000 ? n * 10 + (*p - '0') : n;
				if (*p == ',') {
					m = n + 1;
					if (p[1] >= '0' && p[1] <= '9')
						for (m = 0, p++; *p >= '0' && *p <= '9'; p++)
							m = m < 100000 ? m * 10 + (*p - '0') : m;
					else
						p++;
				}
				f = m > n ? m : n > 0 ? n : 1;
				if (*p != '}')
					p--;
			}
			/* the operand was counted once already */
			sum[top] += last * (f - 1);
			last *= f;
		} else if (*p != '*' && *p != '?' && *p != '|') {
			sum[top] += last = 1;
		}
		if (sum[top] > cap || last > cap)
			return cap;
	}
	while (top > 0)
		sum[top - 1] += sum[top], top--;
	return sum[0];
}

/*
 * Rewrite the RE2 constructs hunting queries use into POSIX ERE (glibc
 * regcomp): a leading (?i), (?:...), \d \D (and \d \s \w in brackets),
 * escaped punctuation in brackets, \A \z, lazy quantifiers (same match or
 * not). What ERE cannot say (look-around, named groups, \p{..}, backrefs)
 * is an error. 0, or -EINVAL with err filled.
 */
int vg_re_translate(const char *re, const struct vg_re_esc *esc, const struct vg_re_esc *esc_br,
		    struct vg_sb *out, int *icase, char *err, size_t size)
{
	const char *p = re;

	*icase = 0;
	if (strlen(re) > VG_KQL_MAX_REGEX) {
		snprintf(err, size, "regular expression longer than %d bytes", VG_KQL_MAX_REGEX);
		return -EINVAL;
	}
	if (!strncmp(p, "(?i)", 4)) {
		*icase = 1;
		p += 4;
	}
	while (*p) {
		if (*p == '\\') {
			const char *rep = vg_re_escape(esc, p[1]);
			char c = p[1];

			p += c ? 2 : 1;
			if (rep) {
				vg_sb_add(out, rep);
			} else if (!c || vg_re_word(c)) {
				snprintf(err, size,
					 c ? "unsupported escape \\%c in regular expression" :
					     "regular expression ends in a backslash",
					 c);
				return -EINVAL;
			} else {
				vg_sb_printf(out, "\\%c", c); /* escaped punctuation */
			}
		} else if (*p == '[') {
			/* ERE brackets take no escapes: ']' goes first, '-' last */
			struct vg_sb in;
			int neg = 0, rb = 0, dash = 0;

			vg_sb_init(&in);
			p++;
			if (*p == '^') {
				neg = 1;
				p++;
			}
			if (*p == ']') {
				rb = 1;
				p++;
			}
			while (*p && *p != ']') {
				if (p[0] == '[' && p[1] == ':') {
					const char *e = strstr(p, ":]");

					if (!e)
						break;
					vg_sb_addn(&in, p, (size_t)(e + 2 - p));
					p = e + 2;
				} else if (*p == '\\' && p[1]) {
					const char *rep = vg_re_escape(esc_br, p[1]);
					char c = p[1];

					p += 2;
					if (rep) {
						vg_sb_add(&in, rep);
					} else if (c == ']' || c == '-') {
						rb |= c == ']';
						dash |= c == '-';
					} else if (vg_re_word(c)) {
						vg_sb_free(&in);
						snprintf(err, size,
							 "unsupported escape \\%c in a bracket"
							 " expression",
							 c);
						return -EINVAL;
					} else {
						vg_sb_addn(&in, &c, 1);
					}
				} else {
					vg_sb_addn(&in, p++, 1);
				}
			}
			if (*p != ']') {
				vg_sb_free(&in);
				snprintf(err, size, "unterminated [ in regular expression");
				return -EINVAL;
			}
			p++;
			vg_sb_printf(out, "[%s%s%s%s]", neg ? "^" : "", rb ? "]" : "",
				     vg_sb_str(&in) ?: "", dash ? "-" : "");
			vg_sb_free(&in);
		} else if (p[0] == '(' && p[1] == '?') {
			if (p[2] != ':') {
				snprintf(err, size,
					 "unsupported group (?%c in regular expression (only (?:"
					 " and a leading (?i))",
					 p[2] ? p[2] : ' ');
				return -EINVAL;
			}
			vg_sb_add(out, "(");
			p += 3;
		} else if (*p == '{') {
			const char *e = p + 1;
			long v = 0;

			/* {n}, {n,}, {n,m}: bounded counts */
			while ((*e >= '0' && *e <= '9') || *e == ',') {
				v = *e == ',' ? 0 : v * 10 + (*e - '0');
				if (v > VG_KQL_MAX_REPEAT) {
					snprintf(err, size,
						 "repetition count above %d in regular expression",
						 VG_KQL_MAX_REPEAT);
					return -EINVAL;
				}
				e++;
			}
			vg_sb_addn(out, p++, 1);
		} else {
			int quant = *p == '*' || *p == '+' || *p == '?' || *p == '}';

			vg_sb_addn(out, p, 1);
			/* lazy quantifiers: *? +? ?? }? match the same strings */
			if (quant && p[1] == '?')
				p++;
			p++;
			/*
			 * A quantifier of a quantifier (a++, a*{2}): RE2 refuses
			 * it, and glibc's regcomp copies the operand for each
			 * one, doubling its automaton every time.
			 */
			if (quant && (*p == '*' || *p == '+' || *p == '?' || *p == '{')) {
				snprintf(err, size,
					 "repetition of a repetition ('%c' after a quantifier) in"
					 " regular expression",
					 *p);
				return -EINVAL;
			}
		}
	}
	if (vg_re_cost(re) > VG_KQL_MAX_REGEX_COST) {
		snprintf(err, size,
			 "regular expression too large once its repetitions are expanded (more"
			 " than %d atoms): nest fewer counted or + repetitions",
			 VG_KQL_MAX_REGEX_COST);
		return -EINVAL;
	}
	return 0;
}

int vg_re_compile(const char *re, regex_t *rx, char *err, size_t size)
{
	struct vg_sb ere;
	int icase, rc;

	vg_sb_init(&ere);
	if (vg_re_translate(re, vg_re_esc, vg_re_esc_br, &ere, &icase, err, size)) {
		vg_sb_free(&ere);
		return -EINVAL;
	}
	if (vg_sb_err(&ere)) {
		vg_sb_free(&ere);
		snprintf(err, size, "out of memory");
		return -ENOMEM;
	}
	rc = regcomp(rx, vg_sb_str(&ere) ?: "", REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	vg_sb_free(&ere);
	if (rc) {
		char m[120];

		regerror(rc, rx, m, sizeof(m));
		snprintf(err, size, "bad regular expression: %s", m);
		return rc == REG_ESPACE ? -ENOMEM : -EINVAL;
	}
	return 0;
}

/* ---- SQL functions */

static void vg_re_free(void *p)
{
	regfree(p);
	free(p);
}

/*
 * regexp(pattern, text): SQLite's "text REGEXP pattern". The compiled
 * pattern is kept with the statement (auxdata) while the pattern argument
 * stays the same, so a column is matched without recompiling per row.
 */
static void vg_sql_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *re = (const char *)sqlite3_value_text(argv[0]);
	const char *s = (const char *)sqlite3_value_text(argv[1]);
	regex_t *rx = sqlite3_get_auxdata(ctx, 0);
	int fresh = 0;

	(void)argc;
	if (!re || !s) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	if (!rx) {
		char err[200];
		int rc;

		rx = malloc(sizeof(*rx));
		if (!rx) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		rc = vg_re_compile(re, rx, err, sizeof(err));
		if (rc) {
			free(rx);
			if (rc == -ENOMEM)
				sqlite3_result_error_nomem(ctx);
			else
				sqlite3_result_error(ctx, err, -1);
			return;
		}
		fresh = 1;
	}
	sqlite3_result_int(ctx, !regexec(rx, s, 0, NULL, 0));
	if (fresh) /* SQLite frees it at once if it cannot keep it */
		sqlite3_set_auxdata(ctx, 0, rx, vg_re_free);
}

/* kql_bin(x, r): x rounded down to a multiple of r (null for r <= 0). */
static void vg_sql_bin(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int tx = sqlite3_value_numeric_type(argv[0]), tr = sqlite3_value_numeric_type(argv[1]);

	(void)argc;
	if (tx == SQLITE_NULL || tr == SQLITE_NULL || tx == SQLITE_TEXT || tr == SQLITE_TEXT ||
	    tx == SQLITE_BLOB || tr == SQLITE_BLOB) {
		sqlite3_result_null(ctx);
		return;
	}
	if (tx == SQLITE_INTEGER && tr == SQLITE_INTEGER) {
		sqlite3_int64 x = sqlite3_value_int64(argv[0]), r = sqlite3_value_int64(argv[1]);
		sqlite3_int64 q;

		if (r <= 0) {
			sqlite3_result_null(ctx);
			return;
		}
		q = x / r;
		if (x % r && x < 0)
			q--;
		sqlite3_result_int64(ctx, q * r);
	} else {
		double x = sqlite3_value_double(argv[0]), r = sqlite3_value_double(argv[1]);
		double q, f;

		if (!(r > 0)) {
			sqlite3_result_null(ctx);
			return;
		}
		q = x / r;
		/* floor() without libm: beyond 2^53 every double is whole */
		f = q > -9e15 && q < 9e15 ? (double)(sqlite3_int64)q : q;
		if (f > q)
			f -= 1;
		sqlite3_result_double(ctx, f * r);
	}
}

static int vg_kql_register_ops(sqlite3 *db)
{
	int rc = sqlite3_create_function(db, "regexp", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
					 vg_sql_regexp, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "kql_bin", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
					     NULL, vg_sql_bin, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	return 0;
}

/* ---- SQL functions: Kusto's string operators */

static int vg_lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int vg_eqn(const char *a, const char *b, size_t n, int cs)
{
	for (size_t i = 0; i < n; i++)
		if (cs ? a[i] != b[i] : vg_lc((unsigned char)a[i]) != vg_lc((unsigned char)b[i]))
			return 0;
	return 1;
}

enum { VG_F_HAS, VG_F_CONTAINS, VG_F_STARTS, VG_F_ENDS };

/*
 * Kusto's has matches whole terms: runs of letters and digits. A needle that
 * is itself several terms must appear with term boundaries at both ends.
 */
static int vg_has(const char *h, size_t hl, const char *n, size_t nl, int cs)
{
	if (!nl)
		return 1;
	for (size_t i = 0; i + nl <= hl; i++) {
		if (!vg_eqn(h + i, n, nl, cs))
			continue;
		if (i && isalnum((unsigned char)h[i - 1]) && isalnum((unsigned char)n[0]))
			continue;
		if (i + nl < hl && isalnum((unsigned char)h[i + nl]) &&
		    isalnum((unsigned char)n[nl - 1]))
			continue;
		return 1;
	}
	return 0;
}

static void vg_sql_strop(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int which = (int)(long)sqlite3_user_data(ctx);
	const char *h = (const char *)sqlite3_value_text(argv[0]);
	const char *n = (const char *)sqlite3_value_text(argv[1]);
	size_t hl = h ? (size_t)sqlite3_value_bytes(argv[0]) : 0;
	size_t nl = n ? (size_t)sqlite3_value_bytes(argv[1]) : 0;
	int cs = sqlite3_value_int(argv[2]), r = 0;

	if (!h)
		h = "";
	if (!n)
		n = "";
	switch (which) {
	case VG_F_HAS:
		r = vg_has(h, hl, n, nl, cs);
		break;
	case VG_F_CONTAINS:
		for (size_t i = 0; !r && i + nl <= hl; i++)
			r = vg_eqn(h + i, n, nl, cs);
		break;
	case VG_F_STARTS:
		r = nl <= hl && vg_eqn(h, n, nl, cs);
		break;
	case VG_F_ENDS:
		r = nl <= hl && vg_eqn(h + hl - nl, n, nl, cs);
		break;
	}
	sqlite3_result_int(ctx, r);
}

int vg_kql_register(sqlite3 *db)
{
	static const char *const names[] = { "kql_has", "kql_contains", "kql_startswith",
					     "kql_endswith" };

	for (long i = 0; i < 4; i++) {
		int rc =
			sqlite3_create_function(db, names[i], 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
						(void *)i, vg_sql_strop, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	return vg_kql_register_ops(db);
}
