// SPDX-License-Identifier: GPL-2.0-only
/*
 * The KQL lexer: query text into tokens (identifiers, strings, numbers,
 * timespans, operators), each with its line and column, and the helpers
 * the parsers use to read them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "kql_int.h"

/* ---- lexer */

static int vg_is_id0(int c)
{
	return isalpha(c) || c == '_';
}

static int vg_is_id(int c)
{
	return isalnum(c) || c == '_';
}

static int vg_tok_push(struct vg_kq *k, int *cap, struct vg_tok *t)
{
	if (k->ntk == *cap) {
		int nc = *cap ? *cap * 2 : 64;
		struct vg_tok *n = realloc(k->tk, (size_t)nc * sizeof(*n));

		if (!n) {
			free(t->s);
			return vg_kq_oom(k);
		}
		k->tk = n;
		*cap = nc;
	}
	k->tk[k->ntk++] = *t;
	return 0;
}

static double vg_span_unit(const char *u)
{
	static const struct {
		const char *name;
		double secs;
	} units[] = {
		{ "d", 86400 },
		{ "day", 86400 },
		{ "days", 86400 },
		{ "h", 3600 },
		{ "hr", 3600 },
		{ "hrs", 3600 },
		{ "hour", 3600 },
		{ "hours", 3600 },
		{ "m", 60 },
		{ "min", 60 },
		{ "minute", 60 },
		{ "minutes", 60 },
		{ "s", 1 },
		{ "sec", 1 },
		{ "second", 1 },
		{ "seconds", 1 },
		{ "ms", 0.001 },
		{ "milli", 0.001 },
		{ "millis", 0.001 },
		{ "microsecond", 1e-6 },
		{ "microseconds", 1e-6 },
		{ "tick", 1e-7 },
		{ "ticks", 1e-7 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(u, units[i].name))
			return units[i].secs;
	return -1;
}

static const char *const vg_ops[] = { "==", "!=", "=~", "!~", "<=", ">=", "<", ">",
				      "=",  "|",  ";",	"(",  ")",  ",",  "+", "-",
				      "*",  "/",  "%",	"..", ".",  "[",  "]" };

int vg_lex(struct vg_kq *k, const char *text)
{
	const char *p = text, *line_start = text;
	int line = 1, cap = 0, ws = 1;

	for (;;) {
		struct vg_tok t = { 0 };
		const char *start;
		struct vg_sb sb;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' ||
		       (p[0] == '/' && p[1] == '/')) {
			if (*p == '/') {
				while (*p && *p != '\n')
					p++;
				continue;
			}
			if (*p == '\n') {
				line++;
				line_start = p + 1;
			}
			p++;
			ws = 1;
		}
		t.line = line;
		t.col = (int)(p - line_start) + 1;
		t.adj = !ws;
		ws = 0;
		start = p;
		if (!*p) {
			t.t = TK_EOF;
			return vg_tok_push(k, &cap, &t);
		}
		vg_sb_init(&sb);
		if (k->ntk >= 2 && vg_is_op(&k->tk[k->ntk - 1], "(") &&
		    vg_is_word(&k->tk[k->ntk - 2], "datetime") && *p != '"' && *p != '\'' &&
		    *p != ')') {
			/* datetime(2026-01-31T12:00:00Z): the text up to ')' is the literal */
			const char *e = p;

			while (*e && *e != ')' && *e != '\n')
				e++;
			if (*e != ')') {
				vg_sb_free(&sb);
				return vg_kq_fail(k, &t, "unterminated datetime literal");
			}
			while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
				e--;
			vg_sb_addn(&sb, p, (size_t)(e - p));
			p = e;
			t.t = TK_STR;
		} else if (vg_is_id0((unsigned char)*p) ||
			   (*p == '$' && vg_is_id0((unsigned char)p[1]))) {
			p++; /* $left, $right of join ... on */
			while (vg_is_id((unsigned char)*p))
				p++;
			/* in~ and !in~ are single operators */
			if (p - start == 2 && !strncmp(start, "in", 2) && *p == '~')
				p++;
			t.t = TK_IDENT;
			vg_sb_addn(&sb, start, (size_t)(p - start));
		} else if (*p == '!' && vg_is_id0((unsigned char)p[1])) {
			p++;
			while (vg_is_id((unsigned char)*p))
				p++;
			if (*p == '~')
				p++;
			t.t = TK_OP;
			vg_sb_addn(&sb, start, (size_t)(p - start));
		} else if (isdigit((unsigned char)*p) ||
			   (*p == '.' && isdigit((unsigned char)p[1]))) {
			const char *u;

			while (isdigit((unsigned char)*p))
				p++;
			if (*p == '.' && isdigit((unsigned char)p[1])) {
				p++;
				while (isdigit((unsigned char)*p))
					p++;
			}
			vg_sb_addn(&sb, start, (size_t)(p - start));
			t.t = TK_NUM;
			u = p;
			while (isalpha((unsigned char)*p))
				p++;
			if (p > u) {
				char unit[16] = "";
				double secs = -1;

				if (p - u < (long)sizeof(unit)) {
					memcpy(unit, u, (size_t)(p - u));
					secs = vg_span_unit(unit);
				}
				if (secs < 0) {
					vg_sb_free(&sb);
					t.col += (int)(u - start);
					return vg_kq_fail(k, &t, "unknown timespan unit '%.*s'",
							  (int)(p - u), u);
				}
				t.t = TK_SPAN;
				t.span = strtod(vg_sb_str(&sb), NULL) * secs;
			} else if (vg_is_id((unsigned char)*p)) {
				vg_sb_free(&sb);
				return vg_kq_fail(k, &t, "malformed number");
			}
		} else if (*p == '"' || *p == '\'' ||
			   (*p == '@' && (p[1] == '"' || p[1] == '\''))) {
			int verbatim = *p == '@';
			char q;

			if (verbatim)
				p++;
			q = *p++;
			for (;;) {
				if (!*p || *p == '\n') {
					vg_sb_free(&sb);
					return vg_kq_fail(k, &t, "unterminated string");
				}
				if (*p == q) {
					if (verbatim && p[1] == q) {
						vg_sb_addn(&sb, p, 1);
						p += 2;
						continue;
					}
					p++;
					break;
				}
				if (*p == '\\' && !verbatim) {
					char c = p[1];

					switch (c) {
					case 'n':
						c = '\n';
						break;
					case 't':
						c = '\t';
						break;
					case 'r':
						c = '\r';
						break;
					case '\\':
					case '"':
					case '\'':
						break;
					default: {
						struct vg_tok bad = t;

						vg_sb_free(&sb);
						bad.col += (int)(p - start);
						return vg_kq_fail(
							k, &bad,
							"unknown escape sequence in string");
					}
					}
					vg_sb_addn(&sb, &c, 1);
					p += 2;
					continue;
				}
				vg_sb_addn(&sb, p, 1);
				p++;
			}
			t.t = TK_STR;
		} else {
			size_t i;

			for (i = 0; i < sizeof(vg_ops) / sizeof(vg_ops[0]); i++)
				if (!strncmp(p, vg_ops[i], strlen(vg_ops[i])))
					break;
			if (i == sizeof(vg_ops) / sizeof(vg_ops[0])) {
				vg_sb_free(&sb);
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					return vg_kq_fail(k, &t,
							  "unexpected character (byte 0x%02x)",
							  (unsigned char)*p);
				return vg_kq_fail(k, &t, "unexpected character '%c'", *p);
			}
			vg_sb_add(&sb, vg_ops[i]);
			p += strlen(vg_ops[i]);
			t.t = TK_OP;
		}
		if (vg_sb_err(&sb)) {
			vg_sb_free(&sb);
			return vg_kq_oom(k);
		}
		t.s = sb.s ? sb.s : strdup("");
		if (!t.s)
			return vg_kq_oom(k);
		if (vg_tok_push(k, &cap, &t))
			return k->err;
	}
}

/* ---- token helpers */

const char *vg_tok_desc(const struct vg_tok *t)
{
	switch (t->t) {
	case TK_EOF:
		return "end of query";
	case TK_STR:
		return "a string";
	case TK_NUM:
	case TK_SPAN:
		return "a number";
	default:
		return NULL;
	}
}

int vg_expect_op(struct vg_kq *k, const char *op, const char *what)
{
	struct vg_tok *t = vg_cur(k);
	const char *d = vg_tok_desc(t);

	if (vg_accept_op(k, op))
		return 0;
	if (d)
		return vg_kq_fail(k, t, "expected '%s' %s, found %s", op, what, d);
	return vg_kq_fail(k, t, "expected '%s' %s, found '%s'", op, what, t->s);
}

int vg_expect_ident(struct vg_kq *k, const char *what, struct vg_tok **out)
{
	struct vg_tok *t = vg_cur(k);
	const char *d = vg_tok_desc(t);

	if (t->t == TK_IDENT) {
		k->pos++;
		*out = t;
		return 0;
	}
	if (d)
		return vg_kq_fail(k, t, "expected %s, found %s", what, d);
	return vg_kq_fail(k, t, "expected %s, found '%s'", what, t->s);
}

/* End of a pipe stage's argument list. */
int vg_stage_end(const struct vg_tok *t)
{
	return t->t == TK_EOF || vg_is_op(t, "|") || vg_is_op(t, ";") || vg_is_op(t, ")");
}

/*
 * A word joined to the next ones by '-' without spaces (project-away,
 * mv-expand), for naming an operator; advances past it.
 */
void vg_dashed_word(struct vg_kq *k, char *buf, size_t size)
{
	struct vg_tok *t = vg_cur(k);

	snprintf(buf, size, "%s", t->s ? t->s : "");
	k->pos++;
	while (vg_is_op(vg_cur(k), "-") && vg_cur(k)->adj && vg_peek(k, 1)->t == TK_IDENT &&
	       vg_peek(k, 1)->adj) {
		size_t l = strlen(buf);

		snprintf(buf + l, size - l, "-%s", vg_peek(k, 1)->s);
		k->pos += 2;
	}
}
