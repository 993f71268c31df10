// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "rule.h"

#define VG_RULE_MAX_BYTES (64 * 1024)

/* An alert takes the evidence of its rule, device and process tree for this long. */
#define VG_RULE_WINDOW_MS (10 * 60 * 1000LL)
#define VG_RULE_MAX_WINDOW_MS (7 * 24 * 3600 * 1000LL)

static char *vg_trim_dup(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static int vg_valid_technique(const char *s)
{
	/* T1234 or T1234.001, comma-separated */
	for (;;) {
		while (*s == ' ')
			s++;
		if (s[0] != 'T' || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
		    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
			return 0;
		s += 5;
		if (*s == '.') {
			if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
			    !isdigit((unsigned char)s[3]))
				return 0;
			s += 4;
		}
		while (*s == ' ')
			s++;
		if (!*s)
			return 1;
		if (*s++ != ',')
			return 0;
	}
}

/* "30s", "10m", "2h", "1d": milliseconds, or -1 */
static int64_t vg_duration_ms(const char *s)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n <= 0 || n > 1000000 || !end[0] || end[1])
		return -1;
	switch (*end) {
	case 's':
		return n * 1000;
	case 'm':
		return n * 60 * 1000;
	case 'h':
		return n * 3600 * 1000;
	case 'd':
		return n * 24 * 3600 * 1000;
	}
	return -1;
}

/*
 * Parse a rule file's text: "key: value" lines (# comments, blank lines),
 * then "query:" and the KQL to the end of the file.
 */
static int vg_rule_parse(struct vg_rule_def *r, const char *path, const char *text,
			 struct vg_sb *errors)
{
	const char *p = text;
	int line = 0;

	while (*p) {
		const char *eol = p + strcspn(p, "\n"), *colon;
		char key[32];
		char **slot = NULL;
		size_t kl;

		line++;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (*p == '#' || p[strspn(p, " \t\r")] == '\n' || p + strspn(p, " \t\r") == eol) {
			p = *eol ? eol + 1 : eol;
			continue;
		}
		kl = colon ? (size_t)(colon - p) : 0;
		if (!colon || kl >= sizeof(key)) {
			vg_sb_printf(errors,
				     "%s:%d:1: expected 'key: value' (title, severity, category,"
				     " mitre, description, group, window, lookback, query)\n",
				     path, line);
			return -EINVAL;
		}
		memcpy(key, p, kl);
		key[kl] = 0;
		if (!strcmp(key, "query")) {
			if (colon + 1 + strspn(colon + 1, " \t\r") != eol) {
				vg_sb_printf(errors,
					     "%s:%d:%d: the query starts on the line after"
					     " 'query:'\n",
					     path, line, (int)kl + 2);
				return -EINVAL;
			}
			r->query_line = line;
			r->query = strdup(*eol ? eol + 1 : "");
			break;
		}
		if (!strcmp(key, "title"))
			slot = &r->title;
		else if (!strcmp(key, "severity"))
			slot = &r->severity;
		else if (!strcmp(key, "category"))
			slot = &r->category;
		else if (!strcmp(key, "mitre"))
			slot = &r->mitre;
		else if (!strcmp(key, "description"))
			slot = &r->description;
		if (slot) {
			if (*slot) {
				vg_sb_printf(errors, "%s:%d:1: '%s' given twice\n", path, line,
					     key);
				return -EINVAL;
			}
			*slot = vg_trim_dup(colon + 1, (size_t)(eol - colon - 1));
			if (!*slot)
				return -ENOMEM;
		} else if (!strcmp(key, "window") || !strcmp(key, "lookback")) {
			char *v = vg_trim_dup(colon + 1, (size_t)(eol - colon - 1));
			int64_t ms = v ? vg_duration_ms(v) : -1;

			if (!v)
				return -ENOMEM;
			if (ms < 0 || ms > VG_RULE_MAX_WINDOW_MS) {
				vg_sb_printf(errors,
					     "%s:%d:%d: '%s' is not a duration of at most 7d"
					     " (30s, 10m, 2h, 1d)\n",
					     path, line, (int)kl + 3, v);
				free(v);
				return -EINVAL;
			}
			free(v);
			*(key[0] == 'w' ? &r->window_ms : &r->lookback_ms) = ms;
		} else if (!strcmp(key, "group")) {
			const char *g = colon + 1;

			while (g < eol) {
				size_t n = strcspn(g, ",\n");

				if (g + n > eol)
					n = (size_t)(eol - g);
				if (r->ngroup == VG_RULE_MAX_GROUP) {
					vg_sb_printf(errors, "%s:%d:1: at most %d group columns\n",
						     path, line, VG_RULE_MAX_GROUP);
					return -EINVAL;
				}
				r->group[r->ngroup] = vg_trim_dup(g, n);
				if (!r->group[r->ngroup])
					return -ENOMEM;
				if (*r->group[r->ngroup])
					r->ngroup++;
				else
					free(r->group[r->ngroup]);
				g += n + 1;
			}
		} else {
			vg_sb_printf(errors,
				     "%s:%d:1: unknown key '%s' (title, severity, category,"
				     " mitre, description, group, window, lookback, query)\n",
				     path, line, key);
			return -EINVAL;
		}
		p = *eol ? eol + 1 : eol;
	}
	if (!r->window_ms)
		r->window_ms = VG_RULE_WINDOW_MS;
	if (!r->query) {
		vg_sb_printf(errors, "%s:%d:1: no 'query:' section\n", path, line + 1);
		return -EINVAL;
	}
	if (!r->title || !r->severity || !r->category || !r->mitre) {
		vg_sb_printf(errors, "%s:1:1: a rule needs title, severity, category and mitre\n",
			     path);
		return -EINVAL;
	}
	if (strcmp(r->severity, "Informational") && strcmp(r->severity, "Low") &&
	    strcmp(r->severity, "Medium") && strcmp(r->severity, "High")) {
		vg_sb_printf(errors,
			     "%s: severity '%s' is not Informational, Low, Medium or High\n", path,
			     r->severity);
		return -EINVAL;
	}
	if (!vg_valid_technique(r->mitre)) {
		vg_sb_printf(errors,
			     "%s: mitre '%s' is not an ATT&CK technique id such as T1059"
			     " or T1059.004\n",
			     path, r->mitre);
		return -EINVAL;
	}
	return 0;
}

static int vg_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *vg_read_file(const char *path, struct vg_sb *errors)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		vg_sb_printf(errors, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(VG_RULE_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, VG_RULE_MAX_BYTES + 1, f);
	fclose(f);
	if (n > VG_RULE_MAX_BYTES) {
		vg_sb_printf(errors, "%s: larger than %d bytes\n", path, VG_RULE_MAX_BYTES);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	if (strlen(buf) != n) {
		vg_sb_printf(errors, "%s: holds a NUL byte\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

int64_t vg_rule_time_ms(const char *t)
{
	int y, mo, d, h, mi, sec, ms = 0, n = 0;
	int64_t days;

	if (!t ||
	    sscanf(t, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	/* the first three digits of the fraction: PostgreSQL writes ".5" for 500 ms */
	if (t[n] == '.')
		for (int i = 1, scale = 100; i <= 3 && isdigit((unsigned char)t[n + i]);
		     i++, scale /= 10)
			ms += (t[n + i] - '0') * scale;
	/* days from civil (proleptic Gregorian), H. Hinnant's algorithm */
	y -= mo <= 2;
	{
		int era = (y >= 0 ? y : y - 399) / 400;
		int yoe = y - era * 400;
		int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = (int64_t)era * 146097 + doe - 719468;
	}
	return ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
}

void vg_rule_def_free(struct vg_rule_def *r)
{
	free(r->id);
	free(r->path);
	free(r->title);
	free(r->severity);
	free(r->category);
	free(r->mitre);
	free(r->description);
	for (int i = 0; i < r->ngroup; i++)
		free(r->group[i]);
	free(r->query);
	memset(r, 0, sizeof(*r));
}

void vg_rules_free(struct vg_rule_def *defs, int n)
{
	for (int i = 0; i < n; i++)
		vg_rule_def_free(&defs[i]);
	free(defs);
}

int vg_rules_load(const char *dir, struct vg_rule_def **out, int *nout, struct vg_sb *errors)
{
	struct vg_rule_def *defs = NULL;
	char **names = NULL;
	int nnames = 0, n = 0, err = 0;
	struct dirent *de;
	DIR *dh;

	*out = NULL;
	*nout = 0;
	dh = opendir(dir);
	if (!dh) {
		err = -errno;
		vg_sb_printf(errors, "%s: %s\n", dir, strerror(errno));
		return err;
	}
	while ((de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		char **nn;

		if (l < 6 || strcmp(de->d_name + l - 5, ".rule") || de->d_name[0] == '.')
			continue;
		nn = realloc(names, (size_t)(nnames + 1) * sizeof(*nn));
		if (!nn || !(nn[nnames] = strdup(de->d_name))) {
			names = nn ? nn : names;
			err = -ENOMEM;
			break;
		}
		names = nn;
		nnames++;
	}
	closedir(dh);
	if (!err && nnames)
		qsort(names, (size_t)nnames, sizeof(*names), vg_cmp_names);
	if (!err) {
		defs = calloc((size_t)nnames + 1, sizeof(*defs));
		if (!defs)
			err = -ENOMEM;
	}
	for (int i = 0; !err && i < nnames; i++) {
		struct vg_rule_def *r = &defs[n];
		char *text;

		r->path = malloc(strlen(dir) + strlen(names[i]) + 2);
		if (!r->path) {
			err = -ENOMEM;
			break;
		}
		sprintf(r->path, "%s/%s", dir, names[i]);
		r->id = strndup(names[i], strlen(names[i]) - 5);
		n++;
		if (!r->id) {
			err = -ENOMEM;
			break;
		}
		text = vg_read_file(r->path, errors);
		if (!text) {
			err = -EINVAL;
			break;
		}
		err = vg_rule_parse(r, r->path, text, errors);
		free(text);
	}
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (err) {
		vg_rules_free(defs, n);
		return err;
	}
	*out = defs;
	*nout = n;
	return 0;
}

const char *const vg_rule_ev_cols[VG_RULE_NEV] = {
	"Timestamp", "DeviceId",	   "DeviceName",  "ActionType", "FileName",   "FolderPath",
	"ProcessId", "ProcessCommandLine", "AccountName", "RemoteIP",	"RemotePort", "ReportId",
};

const char *vg_rule_entity_type(const char *table)
{
	if (!strcmp(table, "DeviceProcessEvents"))
		return "Process";
	if (!strcmp(table, "DeviceFileEvents"))
		return "File";
	if (!strcmp(table, "DeviceNetworkEvents"))
		return "Ip";
	return "Event";
}

const char *const vg_rule_tree_cols[4] = {
	"InitiatingProcessId",
	"InitiatingProcessParentId",
	"InitiatingProcessFileName",
	"InitiatingProcessParentFileName",
};

static const char *vg_row_text(const struct vg_rule_row *row, int col)
{
	return col < 0 ? NULL : row->text(row->ctx, col);
}

void vg_rule_key(const struct vg_rule_def *r, const struct vg_rule_row *row, struct vg_sb *key)
{
	const char *t = row->tree_idx ? vg_row_text(row, row->tree_idx[0]) : NULL;

	vg_sb_printf(key, "%s\x1f%s", r->id, vg_row_text(row, row->device) ?: "");
	if (r->ngroup) {
		for (int i = 0; i < r->ngroup; i++)
			vg_sb_printf(key, "\x1f%s", vg_row_text(row, row->group_idx[i]) ?: "");
	} else if (t) {
		/*
		 * A process running its parent's program (a subshell, a forked
		 * worker: it did not exec) belongs to its parent's tree, any other
		 * to its own. So the probes of a loop of subshells are one tree.
		 */
		const char *f = vg_row_text(row, row->tree_idx[2]);
		const char *pf = vg_row_text(row, row->tree_idx[3]);
		const char *pid = vg_row_text(row, row->tree_idx[1]);

		vg_sb_printf(key, "\x1ftree:%s", f && pf && !strcmp(f, pf) && pid ? pid : t);
	} else {
		vg_sb_printf(key, "\x1f%s:%lld", row->table, row->rid);
	}
}

int vg_rule_in_window(const struct vg_rule_def *r, int64_t first_ms, int64_t ts_ms)
{
	/* the alert's window is [first, first + window): a later event opens another */
	return first_ms >= 0 && ts_ms < first_ms + r->window_ms && ts_ms > first_ms - r->window_ms;
}
