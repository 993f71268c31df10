// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sigma rule to vigil rule. The YAML is read event by event into a small
 * tree of our own, so every limit holds while reading: file size, nesting
 * depth, node count, scalar length, and no anchors or aliases at all (the
 * "billion laughs" expansion needs them, and a Sigma rule never does).
 * The tree is then checked and written as KQL in the shape Sigma's Kusto
 * back end gives for Defender's tables: =~ and in~ for plain values,
 * contains/startswith/endswith for wildcards at the ends, matches regex
 * otherwise, ipv4_is_in_range for |cidr, not(...) for negation.
 */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fmt.h"
#include "kql_int.h"
#include "sigma.h"

#define VG_SIGMA_MAX_DEPTH 16
#define VG_SIGMA_MAX_NODES 20000
#define VG_SIGMA_MAX_SCALAR 16384
/* Selections a condition may name, and its length. */
#define VG_SIGMA_MAX_COND 4096
/* The KQL written for one rule. */
#define VG_SIGMA_MAX_QUERY (48 * 1024)

enum vg_yt { Y_SCALAR, Y_SEQ, Y_MAP };

struct vg_yn {
	enum vg_yt t;
	int line, col; /* 1-based */
	int plain; /* a plain scalar: may be null, a boolean or a number */
	char *s;
	size_t len;
	struct vg_yn **kid; /* a map's are key, value, key, value, ... */
	int n;
};

struct vg_sg {
	const char *path;
	struct vg_sb *errors;
	int err;
	int nodes;
	const struct vg_sg_field *fields;
	struct vg_yn *det;
};

static int vg_sg_fail(struct vg_sg *g, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int vg_sg_fail(struct vg_sg *g, int line, int col, const char *fmt, ...)
{
	va_list ap;
	char msg[400];

	if (g->err)
		return g->err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vg_sb_printf(g->errors, "%s:%d:%d: ", g->path, line, col);
	vg_sb_safe(g->errors, msg);
	vg_sb_add(g->errors, "\n");
	g->err = -EINVAL;
	return g->err;
}

#define vg_sg_failn(g, n, ...) vg_sg_fail(g, (n)->line, (n)->col, __VA_ARGS__)

static void vg_yn_free(struct vg_yn *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->n; i++)
		vg_yn_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

/* ---- YAML, under limits */

static int vg_y_next(struct vg_sg *g, yaml_parser_t *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR)
		return g->err = -ENOMEM;
	return vg_sg_fail(g, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
			  "YAML: %s%s%s", p->problem ? p->problem : "malformed",
			  p->context ? " " : "", p->context ? p->context : "");
}

static struct vg_yn *vg_y_node(struct vg_sg *g, yaml_parser_t *p, yaml_event_t *ev, int depth);

static int vg_y_kids(struct vg_sg *g, yaml_parser_t *p, struct vg_yn *n, yaml_event_type_t end,
		     int depth)
{
	int cap = 0;

	for (;;) {
		yaml_event_t ev;
		struct vg_yn *k;

		if (vg_y_next(g, p, &ev))
			return g->err;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		k = vg_y_node(g, p, &ev, depth + 1);
		if (!k)
			return g->err;
		if (n->n == cap) {
			struct vg_yn **kid;

			cap = cap ? 2 * cap : 8;
			kid = realloc(n->kid, (size_t)cap * sizeof(*kid));
			if (!kid) {
				vg_yn_free(k);
				return g->err = -ENOMEM;
			}
			n->kid = kid;
		}
		n->kid[n->n++] = k;
		if (n->t == Y_MAP && n->n % 2) {
			if (k->t != Y_SCALAR)
				return vg_sg_failn(g, k, "a mapping key must be a plain value");
			for (int i = 0; i + 2 < n->n; i += 2)
				if (!strcmp(n->kid[i]->s, k->s))
					return vg_sg_failn(
						g, k, "key '%s' given twice (first at line %d)",
						k->s, n->kid[i]->line);
		}
	}
	return 0;
}

/* The node ev starts (ev is used up), or NULL with g->err set. */
static struct vg_yn *vg_y_node(struct vg_sg *g, yaml_parser_t *p, yaml_event_t *ev, int depth)
{
	struct vg_yn *n = calloc(1, sizeof(*n));
	const yaml_char_t *anchor = NULL;

	if (!n) {
		yaml_event_delete(ev);
		g->err = -ENOMEM;
		return NULL;
	}
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	if (++g->nodes > VG_SIGMA_MAX_NODES) {
		vg_sg_failn(g, n, "more than %d YAML nodes", VG_SIGMA_MAX_NODES);
		goto fail;
	}
	if (depth > VG_SIGMA_MAX_DEPTH) {
		vg_sg_failn(g, n, "YAML nested deeper than %d levels", VG_SIGMA_MAX_DEPTH);
		goto fail;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		n->t = Y_SCALAR;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		if (n->len > VG_SIGMA_MAX_SCALAR) {
			vg_sg_failn(g, n, "a value longer than %d bytes", VG_SIGMA_MAX_SCALAR);
			goto fail;
		}
		n->s = strndup((const char *)ev->data.scalar.value, n->len);
		if (!n->s) {
			g->err = -ENOMEM;
			goto fail;
		}
		if (strlen(n->s) != n->len) {
			vg_sg_failn(g, n, "a value holds a NUL byte");
			goto fail;
		}
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n->t = ev->type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ;
		anchor = n->t == Y_MAP ? ev->data.mapping_start.anchor :
					 ev->data.sequence_start.anchor;
		if (anchor)
			break;
		yaml_event_delete(ev);
		if (vg_y_kids(g, p, n,
			      n->t == Y_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT,
			      depth))
			goto fail_nodel;
		return n;
	case YAML_ALIAS_EVENT:
		vg_sg_failn(g, n, "YAML aliases (*%s) are not accepted",
			    (const char *)ev->data.alias.anchor);
		goto fail;
	default:
		vg_sg_failn(g, n, "unexpected YAML event");
		goto fail;
	}
	if (anchor) {
		vg_sg_failn(g, n, "YAML anchors (&%s) are not accepted", (const char *)anchor);
		goto fail;
	}
	yaml_event_delete(ev);
	return n;
fail:
	yaml_event_delete(ev);
fail_nodel:
	vg_yn_free(n);
	if (!g->err)
		g->err = -ENOMEM;
	return NULL;
}

/* The one document of text, or NULL with g->err set. */
static struct vg_yn *vg_y_load(struct vg_sg *g, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct vg_yn *root = NULL;
	int state =
		0; /* 0: stream start, 1: document start, 2: root, 3: document end, 4: stream end */

	if (!yaml_parser_initialize(&p)) {
		g->err = -ENOMEM;
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!g->err && state < 5) {
		if (vg_y_next(g, &p, &ev))
			break;
		if (state == 2 && ev.type != YAML_DOCUMENT_END_EVENT) {
			root = vg_y_node(g, &p, &ev, 0);
			state = 3;
			continue;
		}
		if (state == 1 && ev.type == YAML_STREAM_END_EVENT)
			vg_sg_fail(g, 1, 1, "no Sigma rule in the file");
		else if (state == 4 && ev.type == YAML_DOCUMENT_START_EVENT)
			vg_sg_fail(g, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				   "a second YAML document: one Sigma rule per file");
		yaml_event_delete(&ev);
		state = state == 4 ? 5 : state + 1;
	}
	yaml_parser_delete(&p);
	if (g->err) {
		vg_yn_free(root);
		return NULL;
	}
	return root;
}

/* ---- the tree */

static struct vg_yn *vg_y_get(const struct vg_yn *map, const char *key)
{
	for (int i = 0; map && map->t == Y_MAP && i + 1 < map->n; i += 2)
		if (!strcmp(map->kid[i]->s, key))
			return map->kid[i + 1];
	return NULL;
}

static int vg_y_null(const struct vg_yn *n)
{
	return n->t == Y_SCALAR && n->plain &&
	       (!n->len || !strcmp(n->s, "null") || !strcmp(n->s, "Null") ||
		!strcmp(n->s, "NULL") || !strcmp(n->s, "~"));
}

static int vg_y_bool(const struct vg_yn *n, int *v)
{
	if (n->t != Y_SCALAR || !n->plain)
		return 0;
	if (!strcmp(n->s, "true") || !strcmp(n->s, "True") || !strcmp(n->s, "TRUE"))
		return *v = 1, 1;
	if (!strcmp(n->s, "false") || !strcmp(n->s, "False") || !strcmp(n->s, "FALSE"))
		return *v = 0, 1;
	return 0;
}

static int vg_y_int(const struct vg_yn *n)
{
	const char *s = n->s + (n->s[0] == '-');

	if (n->t != Y_SCALAR || !n->plain || !*s || strlen(s) > 18)
		return 0;
	return strspn(s, "0123456789") == strlen(s);
}

/* Columns that hold numbers: a quoted '4444' is compared as the number there. */
static const char *const vg_sg_num_cols[] = { "ProcessId", "InitiatingProcessId",
					      "InitiatingProcessParentId", "LocalPort",
					      "RemotePort" };

/* Is v a number for column col (a plain one anywhere, a quoted one in a number column)? */
static int vg_sg_num(const char *col, const struct vg_yn *v)
{
	if (vg_y_int(v))
		return 1;
	if (v->t != Y_SCALAR || !v->len || v->len > 18 || strspn(v->s, "0123456789") != v->len)
		return 0;
	for (size_t i = 0; i < sizeof(vg_sg_num_cols) / sizeof(vg_sg_num_cols[0]); i++)
		if (!strcmp(col, vg_sg_num_cols[i]))
			return 1;
	return 0;
}

/* A number's digits without leading zeros (a KQL number) */
static const char *vg_sg_digits(const char *s)
{
	while (s[0] == '0' && s[1])
		s++;
	return s;
}

/* A scalar the header takes as text (of at most max bytes), or NULL with the error set. */
static const char *vg_y_text(struct vg_sg *g, const struct vg_yn *n, const char *key, size_t max)
{
	if (n->t != Y_SCALAR || vg_y_null(n)) {
		vg_sg_failn(g, n, "'%s' must be text", key);
		return NULL;
	}
	if (n->len > max) {
		vg_sg_failn(g, n, "'%s' longer than %zu bytes", key, max);
		return NULL;
	}
	return n->s;
}

/* ---- the schema: logsource category -> table, Sigma field -> column */

struct vg_sg_field {
	const char *sigma, *col;
};

/* As Sigma's Kusto back end maps Sysmon's fields to Defender's, for the columns the store has. */
static const struct vg_sg_field vg_sg_proc[] = {
	{ "Image", "FolderPath" },
	{ "CommandLine", "ProcessCommandLine" },
	{ "CurrentDirectory", "ProcessCurrentDirectory" },
	{ "User", "AccountName" },
	{ "ProcessId", "ProcessId" },
	{ "ParentProcessId", "InitiatingProcessId" },
	{ "ParentImage", "InitiatingProcessFolderPath" },
	{ "ParentCommandLine", "InitiatingProcessCommandLine" },
	{ "ParentUser", "InitiatingProcessAccountName" },
	{ "sha1", "SHA1" },
	{ "sha256", "SHA256" },
	{ NULL, NULL },
};

static const struct vg_sg_field vg_sg_file[] = {
	{ "TargetFilename", "FolderPath" },
	{ "ImageLoaded", "FolderPath" },
	{ "Image", "InitiatingProcessFolderPath" },
	{ "CommandLine", "InitiatingProcessCommandLine" },
	{ "User", "InitiatingProcessAccountName" },
	{ "ProcessId", "InitiatingProcessId" },
	{ "ParentProcessId", "InitiatingProcessParentId" },
	{ NULL, NULL },
};

static const struct vg_sg_field vg_sg_net[] = {
	{ "Image", "InitiatingProcessFolderPath" },
	{ "CommandLine", "InitiatingProcessCommandLine" },
	{ "User", "InitiatingProcessAccountName" },
	{ "ProcessId", "InitiatingProcessId" },
	{ "ParentProcessId", "InitiatingProcessParentId" },
	{ "Protocol", "Protocol" },
	{ "SourceIp", "LocalIP" },
	{ "SourcePort", "LocalPort" },
	{ "SourceHostname", "DeviceName" },
	{ "DestinationIp", "RemoteIP" },
	{ "DestinationPort", "RemotePort" },
	{ NULL, NULL },
};

static const struct vg_sg_cat {
	const char *category, *table, *actions;
	const struct vg_sg_field *fields;
} vg_sg_cats[] = {
	{ "process_creation", "DeviceProcessEvents", "== \"ProcessCreated\"", vg_sg_proc },
	{ "file_event", "DeviceFileEvents",
	  "in (\"FileCreated\", \"FileModified\", \"FileRenamed\")", vg_sg_file },
	{ "file_change", "DeviceFileEvents", "== \"FileModified\"", vg_sg_file },
	{ "file_rename", "DeviceFileEvents", "== \"FileRenamed\"", vg_sg_file },
	{ "file_delete", "DeviceFileEvents", "== \"FileDeleted\"", vg_sg_file },
	{ "image_load", "DeviceFileEvents", "== \"ImageLoaded\"", vg_sg_file },
	{ "network_connection", "DeviceNetworkEvents",
	  "in (\"ConnectionAttempt\", \"ConnectionSuccess\", \"ConnectionFailed\","
	  " \"InboundConnectionAccepted\")",
	  vg_sg_net },
};

static void vg_sg_field_names(const struct vg_sg_field *f, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = 0;
	for (; f->sigma && o < size; f++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", f->sigma);
}

/* ---- values */

/* A KQL string literal of s. */
static void vg_sg_str(struct vg_sb *b, const char *s)
{
	vg_sb_add(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			vg_sb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			vg_sb_add(b, "\\n");
		else if (*s == '\t')
			vg_sb_add(b, "\\t");
		else if (*s == '\r')
			vg_sb_add(b, "\\r");
		else
			vg_sb_addn(b, s, 1);
	}
	vg_sb_add(b, "\"");
}

#define VG_WILD_ANY '\001'
#define VG_WILD_ONE '\002'

enum {
	M_CONTAINS = 1 << 0,
	M_STARTS = 1 << 1,
	M_ENDS = 1 << 2,
	M_ALL = 1 << 3,
	M_RE = 1 << 4,
	M_CIDR = 1 << 5,
	M_CASED = 1 << 6,
	M_EXISTS = 1 << 7,
	M_CMP = 1 << 8,
	M_RE_I = 1 << 9,
};

/*
 * A Sigma string value as a pattern: * and ? as VG_WILD_ANY/ONE, \*, \?
 * and \\ as the character. Control characters are refused.
 */
static char *vg_sg_pattern(struct vg_sg *g, const struct vg_yn *v)
{
	char *out = malloc(v->len + 3), *o = out + 1;

	if (!out) {
		g->err = -ENOMEM;
		return NULL;
	}
	for (const char *s = v->s; *s; s++) {
		if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') {
			free(out);
			vg_sg_failn(g, v, "a value holds the control character 0x%02x",
				    (unsigned char)*s);
			return NULL;
		}
		if (*s == '\\' && (s[1] == '*' || s[1] == '?' || s[1] == '\\'))
			*o++ = *++s;
		else if (*s == '*')
			*o++ = VG_WILD_ANY;
		else if (*s == '?')
			*o++ = VG_WILD_ONE;
		else
			*o++ = *s;
	}
	*o = 0;
	return out;
}

/* Column col matching the pattern pat (begins at pat[1]; pat[0] is free) as one KQL term. */
static void vg_sg_match(struct vg_sb *b, const char *col, char *pat, int mods)
{
	char *s = pat + 1;
	size_t n;
	int lead, trail, inner = 0;
	const char *cs = mods & M_CASED ? "_cs" : "";

	if (mods & (M_CONTAINS | M_ENDS) && s[0] != VG_WILD_ANY)
		*--s = VG_WILD_ANY;
	n = strlen(s);
	if (mods & (M_CONTAINS | M_STARTS) && (!n || s[n - 1] != VG_WILD_ANY)) {
		s[n++] = VG_WILD_ANY;
		s[n] = 0;
	}
	lead = n && s[0] == VG_WILD_ANY;
	trail = n > (size_t)lead && s[n - 1] == VG_WILD_ANY;
	for (size_t i = (size_t)lead; i < n - (size_t)trail; i++)
		inner |= s[i] == VG_WILD_ANY || s[i] == VG_WILD_ONE;
	if (!inner && lead && n == 1) {
		vg_sb_printf(b, "isnotempty(%s)", col);
		return;
	}
	if (!inner) {
		s[n - (size_t)trail] = 0;
		if (lead && trail)
			vg_sb_printf(b, "%s contains%s ", col, cs);
		else if (lead)
			vg_sb_printf(b, "%s endswith%s ", col, cs);
		else if (trail)
			vg_sb_printf(b, "%s startswith%s ", col, cs);
		else
			vg_sb_printf(b, "%s %s ", col, mods & M_CASED ? "==" : "=~");
		vg_sg_str(b, s + lead);
		return;
	}
	{
		struct vg_sb re;

		vg_sb_init(&re);
		vg_sb_add(&re, mods & M_CASED ? "^" : "(?i)^");
		for (const char *p = s; *p; p++) {
			if (*p == VG_WILD_ANY)
				vg_sb_add(&re, ".*");
			else if (*p == VG_WILD_ONE)
				vg_sb_add(&re, ".");
			else if (strchr("\\.^$|?*+()[]{}", *p))
				vg_sb_printf(&re, "\\%c", *p);
			else
				vg_sb_addn(&re, p, 1);
		}
		vg_sb_add(&re, "$");
		vg_sb_printf(b, "%s matches regex ", col);
		vg_sg_str(b, vg_sb_str(&re) ?: "");
		if (vg_sb_err(&re))
			b->err = -ENOMEM;
		vg_sb_free(&re);
	}
}

/* One value v of a field (column col) as a KQL term appended to b. */
static int vg_sg_value(struct vg_sg *g, struct vg_sb *b, const char *col, int mods, const char *cmp,
		       const struct vg_yn *v)
{
	int bv;

	if (v->t != Y_SCALAR)
		return vg_sg_failn(g, v, "a value must be a single value, not a %s",
				   v->t == Y_MAP ? "mapping" : "list inside a list");
	if (mods & M_EXISTS) {
		if (!vg_y_bool(v, &bv))
			return vg_sg_failn(g, v, "|exists takes true or false");
		vg_sb_printf(b, "%s(%s)", bv ? "isnotempty" : "isempty", col);
		return 0;
	}
	if (vg_y_null(v)) {
		if (mods)
			return vg_sg_failn(g, v, "null takes no modifier");
		vg_sb_printf(b, "isempty(%s)", col);
		return 0;
	}
	if (vg_y_bool(v, &bv))
		return vg_sg_failn(g, v, "a boolean value (%s) matches no column of vigil's schema",
				   v->s);
	if (mods & M_CMP) {
		if (!vg_sg_num(col, v))
			return vg_sg_failn(g, v, "|%s takes a number", cmp);
		vg_sb_printf(b, "%s %s %s", col,
			     !strcmp(cmp, "gt")	 ? ">" :
			     !strcmp(cmp, "gte") ? ">=" :
			     !strcmp(cmp, "lt")	 ? "<" :
						   "<=",
			     vg_sg_digits(v->s));
		return 0;
	}
	if (mods & M_RE) {
		char err[200];
		regex_t rx;
		struct vg_sb re;

		vg_sb_init(&re);
		vg_sb_printf(&re, "%s%s", mods & M_RE_I ? "(?i)" : "", v->s);
		if (vg_sb_err(&re))
			return g->err = -ENOMEM;
		if (vg_re_compile(vg_sb_str(&re), &rx, err, sizeof(err))) {
			vg_sb_free(&re);
			return vg_sg_failn(g, v, "%s", err);
		}
		regfree(&rx);
		vg_sb_printf(b, "%s matches regex ", col);
		vg_sg_str(b, vg_sb_str(&re));
		vg_sb_free(&re);
		return 0;
	}
	if (mods & M_CIDR) {
		if (strchr(v->s, ':'))
			return vg_sg_failn(g, v, "'%s': IPv6 ranges are not supported (IPv4 only)",
					   v->s);
		struct vg_sb re;
		int bad;

		vg_sb_init(&re);
		bad = vg_ipv4_range_re(v->s, &re);
		vg_sb_free(&re);
		if (bad)
			return vg_sg_failn(g, v, "'%s' is not an IPv4 range such as 10.0.0.0/8",
					   v->s);
		vg_sb_printf(b, "ipv4_is_in_range(%s, ", col);
		vg_sg_str(b, v->s);
		vg_sb_add(b, ")");
		return 0;
	}
	if (vg_sg_num(col, v) && !(mods & (M_CONTAINS | M_STARTS | M_ENDS))) {
		vg_sb_printf(b, "%s == %s", col,
			     v->s + strspn(v->s, "0") - (v->s[strspn(v->s, "0")] == 0));
		return 0;
	}
	{
		char *pat = vg_sg_pattern(g, v);

		if (!pat)
			return g->err;
		vg_sg_match(b, col, pat, mods);
		free(pat);
	}
	return 0;
}

/* A plain value matched for equality, case-insensitively: one of an in~ list. */
static int vg_sg_plain_eq(const char *col, const struct vg_yn *v, int mods)
{
	if (mods || v->t != Y_SCALAR || vg_y_null(v) || vg_sg_num(col, v))
		return 0;
	for (const char *s = v->s; *s; s++)
		if (*s == '*' || *s == '?' || *s == '\\' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

/* "Field|mod|mod": value or list of values, as a KQL condition appended to b. */
static int vg_sg_item(struct vg_sg *g, struct vg_sb *b, const struct vg_yn *key,
		      const struct vg_yn *val)
{
	char name[128], *mod, *save = NULL;
	const char *col = NULL;
	char cmp[8] = "";
	int mods = 0, n = 0, neq = 0, wrap;

	if (key->len >= sizeof(name))
		return vg_sg_failn(g, key, "field name longer than %zu bytes", sizeof(name) - 1);
	memcpy(name, key->s, key->len + 1);
	mod = strchr(name, '|');
	if (mod)
		*mod++ = 0;
	for (const struct vg_sg_field *f = g->fields; f->sigma; f++)
		if (!strcmp(f->sigma, name))
			col = f->col;
	if (!col) {
		char known[400];

		vg_sg_field_names(g->fields, known, sizeof(known));
		return vg_sg_failn(g, key,
				   "field '%s' has no column in this table of vigil's schema"
				   " (known: %s)",
				   name, known);
	}
	for (char *m = mod ? strtok_r(mod, "|", &save) : NULL; m; m = strtok_r(NULL, "|", &save)) {
		if (!strcmp(m, "contains"))
			mods |= M_CONTAINS;
		else if (!strcmp(m, "startswith"))
			mods |= M_STARTS;
		else if (!strcmp(m, "endswith"))
			mods |= M_ENDS;
		else if (!strcmp(m, "all"))
			mods |= M_ALL;
		else if (!strcmp(m, "re"))
			mods |= M_RE;
		else if (!strcmp(m, "i") && mods & M_RE)
			mods |= M_RE_I;
		else if (!strcmp(m, "cidr"))
			mods |= M_CIDR;
		else if (!strcmp(m, "cased"))
			mods |= M_CASED;
		else if (!strcmp(m, "exists"))
			mods |= M_EXISTS;
		else if (!strcmp(m, "gt") || !strcmp(m, "gte") || !strcmp(m, "lt") ||
			 !strcmp(m, "lte")) {
			mods |= M_CMP;
			snprintf(cmp, sizeof(cmp), "%s", m);
		} else
			return vg_sg_fail(g, key->line, key->col + (int)(m - name),
					  "unsupported modifier '%s' (contains, startswith,"
					  " endswith, all, re, re|i, cidr, cased, exists, gt,"
					  " gte, lt, lte)",
					  m);
	}
	if (__builtin_popcount((unsigned int)(mods & (M_CONTAINS | M_STARTS | M_ENDS | M_RE |
						      M_CIDR | M_EXISTS | M_CMP))) > 1 ||
	    (mods & M_CASED && mods & (M_RE | M_CIDR | M_EXISTS | M_CMP)))
		return vg_sg_failn(g, key, "modifiers of '%s' that do not go together", key->s);
	if (val->t != Y_SEQ) {
		if (mods & M_ALL)
			return vg_sg_failn(g, key, "|all takes a list of values");
		return vg_sg_value(g, b, col, mods, cmp, val);
	}
	if (!val->n)
		return vg_sg_failn(g, val, "an empty list of values");
	for (int i = 0; i < val->n; i++)
		neq += !(mods & M_ALL) && vg_sg_plain_eq(col, val->kid[i], mods);
	wrap = (neq > 1) + val->n - (neq > 1 ? neq : 0) > 1;
	vg_sb_add(b, wrap ? "(" : "");
	if (neq > 1) {
		vg_sb_printf(b, "%s in~ (", col);
		for (int i = 0, j = 0; i < val->n; i++) {
			if (!vg_sg_plain_eq(col, val->kid[i], mods))
				continue;
			vg_sb_add(b, j++ ? ", " : "");
			vg_sg_str(b, val->kid[i]->s);
		}
		vg_sb_add(b, ")");
		n++;
	}
	for (int i = 0; i < val->n && !g->err; i++) {
		if (neq > 1 && vg_sg_plain_eq(col, val->kid[i], mods))
			continue;
		vg_sb_add(b, n++ ? mods & M_ALL ? " and " : " or " : "");
		vg_sg_value(g, b, col, mods, cmp, val->kid[i]);
	}
	vg_sb_add(b, wrap ? ")" : "");
	return g->err;
}

/* A selection: a mapping (and of its fields) or a list of mappings (or). */
static int vg_sg_selection(struct vg_sg *g, struct vg_sb *b, const struct vg_yn *sel)
{
	/* a condition naming a large selection many times stops here, not at the end */
	if (b->len > VG_SIGMA_MAX_QUERY)
		return vg_sg_failn(g, sel, "the query would be longer than %d bytes",
				   VG_SIGMA_MAX_QUERY);
	if (sel->t == Y_MAP) {
		if (!sel->n)
			return vg_sg_failn(g, sel, "an empty selection");
		vg_sb_add(b, sel->n > 2 ? "(" : "");
		for (int i = 0; i + 1 < sel->n && !g->err; i += 2) {
			vg_sb_add(b, i ? " and " : "");
			vg_sg_item(g, b, sel->kid[i], sel->kid[i + 1]);
		}
		vg_sb_add(b, sel->n > 2 ? ")" : "");
		return g->err;
	}
	if (sel->t == Y_SEQ && sel->n) {
		vg_sb_add(b, sel->n > 1 ? "(" : "");
		for (int i = 0; i < sel->n && !g->err; i++) {
			if (sel->kid[i]->t != Y_MAP)
				return vg_sg_failn(g, sel->kid[i],
						   "keyword searches (values with no field) are"
						   " not supported: name the field");
			vg_sb_add(b, i ? " or " : "");
			vg_sg_selection(g, b, sel->kid[i]);
		}
		vg_sb_add(b, sel->n > 1 ? ")" : "");
		return g->err;
	}
	return vg_sg_failn(g, sel, "a selection must be a mapping of fields or a list of them");
}

/* ---- the condition */

struct vg_sg_cond {
	struct vg_sg *g;
	const struct vg_yn *node;
	const char *s, *p;
	int off; /* column of s[0] in the file, minus one */
	char tok[128];
	int tok_col;
};

static void vg_sg_lex(struct vg_sg_cond *c)
{
	size_t n;

	while (*c->p == ' ' || *c->p == '\t')
		c->p++;
	c->tok_col = c->off + (int)(c->p - c->s) + 1;
	if (!*c->p) {
		c->tok[0] = 0;
		return;
	}
	if (strchr("()|", *c->p)) {
		c->tok[0] = *c->p++;
		c->tok[1] = 0;
		return;
	}
	n = strcspn(c->p, " \t()|");
	if (n >= sizeof(c->tok))
		n = sizeof(c->tok) - 1;
	memcpy(c->tok, c->p, n);
	c->tok[n] = 0;
	c->p += strcspn(c->p, " \t()|");
}

static int vg_sg_cfail(struct vg_sg_cond *c, const char *fmt, const char *arg)
{
	return vg_sg_fail(c->g, c->node->line, c->tok_col, fmt, arg);
}

/*
 * fnmatch-like: * and ? in a selection name pattern. Only the last * is
 * ever returned to (a later * matching more cannot need an earlier one to
 * match differently), so a rule's pattern costs at most its length times the
 * name's: trying every split at every * was exponential in the stars
 * ("*a*a*a...b" against "aaaa...", found by fuzz_sigma).
 */
static int vg_sg_glob(const char *pat, const char *s)
{
	const char *star = NULL, *from = NULL;

	while (*s) {
		if (*pat == '*') {
			star = pat++;
			from = s;
		} else if (*pat && (*pat == '?' || *pat == *s)) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++from;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

static int vg_sg_or(struct vg_sg_cond *c, struct vg_sb *b, int depth, int level);

static int vg_sg_atom(struct vg_sg_cond *c, struct vg_sb *b, int depth)
{
	struct vg_sg *g = c->g;

	if (depth > 32)
		return vg_sg_cfail(c, "condition nested too deeply%s", "");
	if (!strcmp(c->tok, "not")) {
		vg_sg_lex(c);
		vg_sb_add(b, "not(");
		if (vg_sg_atom(c, b, depth + 1))
			return g->err;
		vg_sb_add(b, ")");
		return 0;
	}
	if (!strcmp(c->tok, "(")) {
		vg_sg_lex(c);
		vg_sb_add(b, "(");
		if (vg_sg_or(c, b, depth + 1, 0))
			return g->err;
		if (strcmp(c->tok, ")"))
			return vg_sg_cfail(c, "expected ')'%s", "");
		vg_sb_add(b, ")");
		vg_sg_lex(c);
		return 0;
	}
	if (!strcmp(c->tok, "1") || !strcmp(c->tok, "all") || !strcmp(c->tok, "any")) {
		int all = !strcmp(c->tok, "all"), n = 0;
		char pat[128];

		vg_sg_lex(c);
		if (strcmp(c->tok, "of"))
			return vg_sg_cfail(c, "expected 'of' after '1' or 'all'%s", "");
		vg_sg_lex(c);
		if (!c->tok[0] || strchr("()|", c->tok[0]))
			return vg_sg_cfail(c, "expected selections ('them' or a name pattern)%s",
					   "");
		snprintf(pat, sizeof(pat), "%s", c->tok);
		vg_sb_add(b, "(");
		for (int i = 0; i + 1 < g->det->n && !g->err; i += 2) {
			const char *name = g->det->kid[i]->s;

			if (!strcmp(name, "condition") || !strcmp(name, "timeframe"))
				continue;
			if (strcmp(pat, "them") ? !vg_sg_glob(pat, name) : name[0] == '_')
				continue;
			vg_sb_add(b, n++ ? all ? " and " : " or " : "");
			vg_sg_selection(g, b, g->det->kid[i + 1]);
		}
		vg_sb_add(b, ")");
		if (!g->err && !n)
			return vg_sg_cfail(c, "no selection matches '%s'", pat);
		vg_sg_lex(c);
		return g->err;
	}
	if (!c->tok[0] || strchr("()|", c->tok[0]) || !strcmp(c->tok, "and") ||
	    !strcmp(c->tok, "or"))
		return vg_sg_cfail(c, c->tok[0] ? "unexpected '%s'" : "condition ends too early%s",
				   c->tok);
	{
		const struct vg_yn *sel =
			strcmp(c->tok, "condition") && strcmp(c->tok, "timeframe") ?
				vg_y_get(g->det, c->tok) :
				NULL;

		if (!sel)
			return vg_sg_cfail(c, "no selection named '%s' in detection", c->tok);
		if (vg_sg_selection(g, b, sel))
			return g->err;
	}
	vg_sg_lex(c);
	return 0;
}

/* level 0: or of level 1; level 1: and of atoms (and binds tighter) */
static int vg_sg_or(struct vg_sg_cond *c, struct vg_sb *b, int depth, int level)
{
	const char *op = level ? "and" : "or";

	for (;;) {
		if (level ? vg_sg_atom(c, b, depth) : vg_sg_or(c, b, depth, 1))
			return c->g->err;
		if (strcmp(c->tok, op))
			return 0;
		vg_sg_lex(c);
		vg_sb_printf(b, " %s ", op);
	}
}

static int vg_sg_condition(struct vg_sg *g, struct vg_sb *b, const struct vg_yn *cond)
{
	struct vg_sg_cond c = { .g = g, .node = cond };

	if (cond->t == Y_SEQ)
		return vg_sg_failn(g, cond,
				   "a list of conditions is not supported: join them with 'or'");
	if (cond->t != Y_SCALAR || vg_y_null(cond))
		return vg_sg_failn(g, cond, "'condition' must be text");
	if (cond->len > VG_SIGMA_MAX_COND || strchr(cond->s, '\n'))
		return vg_sg_failn(g, cond, "'condition' must be one line of at most %d bytes",
				   VG_SIGMA_MAX_COND);
	c.s = c.p = cond->s;
	c.off = cond->col - 1 + !cond->plain;
	vg_sg_lex(&c);
	if (vg_sg_or(&c, b, 0, 0))
		return g->err;
	if (!strcmp(c.tok, "|"))
		return vg_sg_cfail(&c, "aggregations ('| count() ...') are not supported%s", "");
	if (c.tok[0])
		return vg_sg_cfail(&c, "unexpected '%s' after the condition", c.tok);
	return 0;
}

/* ---- the header */

/* s on one line: controls as spaces, no leading or trailing blanks */
static void vg_sg_line(struct vg_sb *b, const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	size_t n = strlen(s);

	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++)
		vg_sb_addn(b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? " " : s + i, 1);
}

static const char *const vg_sg_tactics[] = {
	"reconnaissance",  "resource_development",
	"initial_access",  "execution",
	"persistence",	   "privilege_escalation",
	"defense_evasion", "credential_access",
	"discovery",	   "lateral_movement",
	"collection",	   "command_and_control",
	"exfiltration",	   "impact",
};

/* attack.t1059.004 -> mitre, attack.defense-evasion -> category (DefenseEvasion) */
static int vg_sg_tags(struct vg_sg *g, const struct vg_yn *tags, struct vg_sb *mitre,
		      struct vg_sb *cat)
{
	if (!tags)
		return 0;
	if (tags->t != Y_SEQ)
		return vg_sg_failn(g, tags, "'tags' must be a list");
	for (int i = 0; i < tags->n; i++) {
		const struct vg_yn *t = tags->kid[i];
		const char *s;
		char norm[64];
		size_t j;

		if (t->t != Y_SCALAR)
			return vg_sg_failn(g, t, "a tag must be text");
		if (strncmp(t->s, "attack.", 7))
			continue;
		s = t->s + 7;
		if ((s[0] == 't' || s[0] == 'T') && strspn(s + 1, "0123456789") == 4 &&
		    (!s[5] || (s[5] == '.' && strspn(s + 6, "0123456789") == 3 && !s[9]))) {
			vg_sb_printf(mitre, "%sT%s", mitre->len ? ", " : "", s + 1);
			continue;
		}
		if (cat->len || strlen(s) >= sizeof(norm))
			continue;
		for (j = 0; s[j]; j++)
			norm[j] = s[j] == '-' ? '_' : s[j];
		norm[j] = 0;
		for (size_t k = 0; k < sizeof(vg_sg_tactics) / sizeof(vg_sg_tactics[0]); k++) {
			if (strcmp(norm, vg_sg_tactics[k]))
				continue;
			for (const char *w = norm; *w; w++) {
				if (*w == '_')
					continue;
				vg_sb_printf(cat, "%c",
					     w == norm || w[-1] == '_' ?
						     toupper((unsigned char)*w) :
						     *w);
			}
		}
	}
	return 0;
}

static const char *vg_sg_severity(struct vg_sg *g, const struct vg_yn *level)
{
	static const char *const map[][2] = {
		{ "critical", "High" },
		{ "high", "High" },
		{ "medium", "Medium" },
		{ "low", "Low" },
		{ "informational", "Informational" },
	};

	if (!level)
		return "Medium";
	for (size_t i = 0; level->t == Y_SCALAR && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(level->s, map[i][0]))
			return map[i][1];
	vg_sg_failn(g, level, "'level' must be informational, low, medium, high or critical");
	return NULL;
}

static const struct vg_sg_cat *vg_sg_logsource(struct vg_sg *g, const struct vg_yn *ls)
{
	const struct vg_yn *prod, *cat, *svc;

	if (!ls || ls->t != Y_MAP) {
		vg_sg_fail(g, ls ? ls->line : 1, ls ? ls->col : 1,
			   "a Sigma rule needs a 'logsource' mapping");
		return NULL;
	}
	prod = vg_y_get(ls, "product");
	cat = vg_y_get(ls, "category");
	svc = vg_y_get(ls, "service");
	if (prod && (prod->t != Y_SCALAR || strcmp(prod->s, "linux"))) {
		vg_sg_failn(g, prod, "logsource product '%s': vigil senses linux only",
			    prod->t == Y_SCALAR ? prod->s : "?");
		return NULL;
	}
	if (svc) {
		vg_sg_failn(g, svc,
			    "logsource service '%s' has no table in vigil's schema (a category"
			    " does: process_creation, file_event, file_change, file_rename,"
			    " file_delete, image_load, network_connection)",
			    svc->t == Y_SCALAR ? svc->s : "?");
		return NULL;
	}
	for (size_t i = 0;
	     cat && cat->t == Y_SCALAR && i < sizeof(vg_sg_cats) / sizeof(vg_sg_cats[0]); i++)
		if (!strcmp(cat->s, vg_sg_cats[i].category))
			return &vg_sg_cats[i];
	vg_sg_fail(g, cat ? cat->line : ls->line, cat ? cat->col : ls->col,
		   "logsource category '%s' has no table in vigil's schema (process_creation,"
		   " file_event, file_change, file_rename, file_delete, image_load,"
		   " network_connection)",
		   cat && cat->t == Y_SCALAR ? cat->s : "");
	return NULL;
}

static int vg_sg_rule(struct vg_sg *g, const struct vg_yn *root, struct vg_sb *out)
{
	const struct vg_yn *title, *desc, *cond, *id;
	const struct vg_sg_cat *cat;
	const char *sev, *s;
	struct vg_sb mitre, category, q;

	if (root->t != Y_MAP)
		return vg_sg_failn(
			g, root, "a Sigma rule is a mapping (title:, logsource:, detection:, ...)");
	if (vg_y_get(root, "action"))
		return vg_sg_failn(
			g, vg_y_get(root, "action"),
			"Sigma rule collections ('action:') are not supported: one rule per file");
	title = vg_y_get(root, "title");
	if (!title)
		return vg_sg_fail(g, 1, 1, "a Sigma rule needs a 'title'");
	if (!vg_y_text(g, title, "title", 256))
		return g->err;
	desc = vg_y_get(root, "description");
	if (desc && !vg_y_text(g, desc, "description", 4096))
		return g->err;
	id = vg_y_get(root, "id");
	if (id && !vg_y_text(g, id, "id", 128))
		return g->err;
	sev = vg_sg_severity(g, vg_y_get(root, "level"));
	if (!sev)
		return g->err;
	cat = vg_sg_logsource(g, vg_y_get(root, "logsource"));
	if (!cat)
		return g->err;
	g->fields = cat->fields;
	g->det = vg_y_get(root, "detection");
	if (!g->det || g->det->t != Y_MAP)
		return vg_sg_fail(g, g->det ? g->det->line : 1, g->det ? g->det->col : 1,
				  "a Sigma rule needs a 'detection' mapping");
	if (vg_y_get(g->det, "timeframe"))
		return vg_sg_failn(g, vg_y_get(g->det, "timeframe"),
				   "'timeframe' (an aggregation's window) is not supported");
	cond = vg_y_get(g->det, "condition");
	if (!cond)
		return vg_sg_failn(g, g->det, "'detection' needs a 'condition'");
	vg_sb_init(&mitre);
	vg_sb_init(&category);
	vg_sb_init(&q);
	vg_sg_tags(g, vg_y_get(root, "tags"), &mitre, &category);
	if (!g->err && !mitre.len)
		vg_sg_failn(g, vg_y_get(root, "tags") ?: root,
			    "no ATT&CK technique tag (attack.t1059 or attack.t1059.004): a vigil"
			    " rule names its technique");
	if (!g->err) {
		vg_sb_printf(&q, "%s\n| where ActionType %s\n| where ", cat->table, cat->actions);
		vg_sg_condition(g, &q, cond);
	}
	if (!g->err && q.len > VG_SIGMA_MAX_QUERY)
		vg_sg_failn(g, cond, "the query would be longer than %d bytes", VG_SIGMA_MAX_QUERY);
	if (!g->err && (vg_sb_err(&q) || vg_sb_err(&mitre) || vg_sb_err(&category)))
		g->err = -ENOMEM;
	if (!g->err) {
		vg_sb_add(out, "# Imported from a Sigma rule (vigil rules import-sigma): ");
		vg_sg_line(out, g->path);
		if (id) {
			vg_sb_add(out, "\n# Sigma id: ");
			vg_sg_line(out, id->s);
		}
		vg_sb_add(out, "\ntitle: ");
		vg_sg_line(out, title->s);
		vg_sb_printf(out, "\nseverity: %s\ncategory: %s\nmitre: %s\n", sev,
			     category.len ? vg_sb_str(&category) : "Sigma", vg_sb_str(&mitre));
		s = desc ? desc->s : NULL;
		if (s && s[strspn(s, " \t\r\n")]) {
			vg_sb_add(out, "description: ");
			vg_sg_line(out, s);
			vg_sb_add(out, "\n");
		}
		vg_sb_printf(out, "query:\n%s\n", vg_sb_str(&q));
		if (vg_sb_err(out))
			g->err = -ENOMEM;
	}
	vg_sb_free(&mitre);
	vg_sb_free(&category);
	vg_sb_free(&q);
	return g->err;
}

int vg_sigma_translate(const char *path, const char *text, size_t len, struct vg_sb *out,
		       struct vg_sb *errors)
{
	struct vg_sg g = { .path = path, .errors = errors };
	struct vg_sb rule;
	struct vg_yn *root;

	if (len > VG_SIGMA_MAX_BYTES)
		return vg_sg_fail(&g, 1, 1, "larger than %d bytes", VG_SIGMA_MAX_BYTES);
	if (memchr(text, 0, len))
		return vg_sg_fail(&g, 1, 1, "holds a NUL byte");
	root = vg_y_load(&g, text, len);
	if (!root)
		return g.err ? g.err : -ENOMEM;
	vg_sb_init(&rule);
	vg_sg_rule(&g, root, &rule);
	vg_yn_free(root);
	if (!g.err)
		vg_sb_add(out, vg_sb_str(&rule));
	vg_sb_free(&rule);
	return g.err ? g.err : vg_sb_err(out) ? -ENOMEM : 0;
}
