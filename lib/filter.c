// SPDX-License-Identifier: GPL-2.0-only
/*
 * The filter language. One rule per line, evaluated in file order, the first
 * matching rule decides; an event no rule matches is kept:
 *
 *	# comment
 *	keep file where comm == "make" and path prefix "/home/"
 *	drop file where path suffix ".h"
 *	drop network where remote in 10.0.0.0/8 and rport == 53
 *
 * ACTION CLASS [where COND (and COND)*]; ACTION is drop or keep, CLASS one
 * of exec fork exit file network security; COND is FIELD OP VALUE.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "filter.h"
#include "vf_match.h"

struct vg_vf_ctx {
	struct vg_vf_set *set;
	const char *name;
	FILE *diag;
	const char *line; /* start of the current line */
	size_t line_len;
	int lineno;
	const char *p; /* cursor */
	const char *end; /* end of the line */
};

static void vg_vf_diag(struct vg_vf_ctx *c, const char *at, int warn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Text of the rule file (or a name) to diag under lib/esc.h's rule. */
static void vg_vf_put(FILE *f, const char *s, size_t n)
{
	char one[VG_ESC_CHAR_MAX];

	while (n) {
		size_t k, used = vg_esc_char(s, n, one, &k, &(int){ 0 });

		fwrite(one, 1, k, f);
		s += used;
		n -= used;
	}
}

/*
 * "name:line:col: message", the line and a caret under at: the file may hold
 * any bytes, so all three are printed escaped and the caret counts the
 * columns of the escaped line. col stays the byte column.
 */
static void vg_vf_diag(struct vg_vf_ctx *c, const char *at, int warn, const char *fmt, ...)
{
	size_t off = (size_t)(at - c->line), shown = off < c->line_len ? off : c->line_len;
	int col = (int)off + 1, pad;
	char msg[512];
	va_list ap;

	if (warn)
		c->set->warnings++;
	else
		c->set->errors++;
	if (!c->diag)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vg_vf_put(c->diag, c->name, strlen(c->name));
	fprintf(c->diag, ":%d:%d: %s", c->lineno, col, warn ? "warning: " : "");
	vg_vf_put(c->diag, msg, strlen(msg));
	fputs("\n  ", c->diag);
	vg_vf_put(c->diag, c->line, c->line_len);
	pad = vg_esc_cols(c->line, shown) + (int)(off - shown);
	fprintf(c->diag, "\n  %*s^\n", pad, "");
}

static void vg_vf_skip_ws(struct vg_vf_ctx *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

/* A word: letters, digits, '_' and the characters of addresses. */
static size_t vg_vf_word(struct vg_vf_ctx *c, const char **start)
{
	const char *s;

	vg_vf_skip_ws(c);
	s = c->p;
	while (c->p < c->end && (isalnum((unsigned char)*c->p) || strchr("_.:/", *c->p)))
		c->p++;
	if (c->p == s && c->p < c->end && strchr("=!,()", *c->p)) {
		/* operators: == != and single punctuation */
		if ((*c->p == '=' || *c->p == '!') && c->p + 1 < c->end && c->p[1] == '=')
			c->p += 2;
		else
			c->p++;
	}
	*start = s;
	return (size_t)(c->p - s);
}

static int vg_vf_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && !memcmp(w, kw, n);
}

static const char *const vg_vf_classes[VG_CLASS_MAX] = {
	[VG_CLASS_EXEC] = "exec", [VG_CLASS_FORK] = "fork",   [VG_CLASS_EXIT] = "exit",
	[VG_CLASS_FILE] = "file", [VG_CLASS_NET] = "network", [VG_CLASS_SEC] = "security",
};

struct vg_vf_op {
	const char *name;
	int cls, op;
};

static const struct vg_vf_op vg_vf_ops[] = {
	{ "created", VG_CLASS_FILE, VG_FILE_CREATE },
	{ "modified", VG_CLASS_FILE, VG_FILE_MODIFY },
	{ "deleted", VG_CLASS_FILE, VG_FILE_DELETE },
	{ "renamed", VG_CLASS_FILE, VG_FILE_RENAME },
	{ "mode", VG_CLASS_FILE, VG_FILE_CHMOD },
	{ "owner", VG_CLASS_FILE, VG_FILE_CHOWN },
	{ "read", VG_CLASS_FILE, VG_FILE_SENSITIVE_READ },
	{ "symlink", VG_CLASS_FILE, VG_FILE_SYMLINK },
	{ "link", VG_CLASS_FILE, VG_FILE_LINK },
	{ "mkdir", VG_CLASS_FILE, VG_FILE_MKDIR },
	{ "xattr", VG_CLASS_FILE, VG_FILE_XATTR },
	{ "attr", VG_CLASS_FILE, VG_FILE_ATTR },
	{ "times", VG_CLASS_FILE, VG_FILE_TIMES },
	{ "script", VG_CLASS_FILE, VG_FILE_EXEC_SCRIPT },
	{ "image", VG_CLASS_FILE, VG_FILE_IMAGE_LOAD },
	{ "connect", VG_CLASS_NET, VG_NET_CONNECT },
	{ "connected", VG_CLASS_NET, VG_NET_CONNECTED },
	{ "failed", VG_CLASS_NET, VG_NET_CONNECT_FAIL },
	{ "accept", VG_CLASS_NET, VG_NET_ACCEPT },
	{ "listen", VG_CLASS_NET, VG_NET_LISTEN },
	{ "udp_connect", VG_CLASS_NET, VG_NET_UDP_CONNECT },
	{ "udp_send", VG_CLASS_NET, VG_NET_UDP_SEND },
	{ "dns", VG_CLASS_NET, VG_NET_DNS_QUERY },
	{ "dns_answer", VG_CLASS_NET, VG_NET_DNS_ANSWER },
	{ "setid", VG_CLASS_SEC, VG_SEC_SETID },
	{ "ptrace", VG_CLASS_SEC, VG_SEC_PTRACE },
	{ "module", VG_CLASS_SEC, VG_SEC_MODULE },
	{ "bpf", VG_CLASS_SEC, VG_SEC_BPF_LOAD },
	{ "signal", VG_CLASS_SEC, VG_SEC_SIGNAL },
};

/* A quoted string into out (at most max bytes); its length, or -1 after a diagnostic. */
static int vg_vf_string(struct vg_vf_ctx *c, char *out, size_t max)
{
	const char *q;
	size_t n = 0;

	vg_vf_skip_ws(c);
	q = c->p;
	if (c->p >= c->end || *c->p != '"') {
		vg_vf_diag(c, c->p, 0, "expected a quoted string");
		return -1;
	}
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;

		if (ch == '\\' && c->p < c->end)
			ch = *c->p++;
		if (n >= max) {
			vg_vf_diag(c, q, 0, "value longer than %zu bytes", max);
			return -1;
		}
		out[n++] = ch;
	}
	if (c->p >= c->end) {
		vg_vf_diag(c, q, 0, "unclosed string");
		return -1;
	}
	c->p++;
	if (!n) {
		vg_vf_diag(c, q, 0, "empty value");
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

static int vg_vf_number(struct vg_vf_ctx *c, unsigned long max, unsigned long long *out)
{
	const char *w, *e;
	size_t n = vg_vf_word(c, &w);
	char buf[32];
	char *end;

	if (!n || n >= sizeof(buf) || !isdigit((unsigned char)*w)) {
		vg_vf_diag(c, w, 0, "expected a number");
		return -1;
	}
	memcpy(buf, w, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	e = w + (end - buf);
	if (*end || errno || (max && *out > max)) {
		vg_vf_diag(c, *end ? e : w, 0, "bad number (0 to %lu)",
			   max ? max : (unsigned long)-1);
		return -1;
	}
	return 0;
}

/* ADDR/BITS (IPv4 or IPv6); a bare address is a /32 or /128. */
static int vg_vf_cidr(struct vg_vf_ctx *c, struct vg_flt_rule *r)
{
	const char *w, *slash;
	size_t n = vg_vf_word(c, &w);
	char buf[64];
	unsigned long bits, max;
	int fam, i;

	if (!n || n >= sizeof(buf)) {
		vg_vf_diag(c, w, 0, "expected an address or CIDR (10.0.0.0/8, fd00::/8)");
		return -1;
	}
	memcpy(buf, w, n);
	buf[n] = '\0';
	slash = memchr(w, '/', n);
	if (slash)
		buf[slash - w] = '\0';
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	max = fam == AF_INET6 ? 128 : 32;
	memset(r->raddr, 0, sizeof(r->raddr));
	if (inet_pton(fam, buf, r->raddr) != 1) {
		vg_vf_diag(c, w, 0, "bad %s address", fam == AF_INET6 ? "IPv6" : "IPv4");
		return -1;
	}
	bits = max;
	if (slash) {
		char *end;

		const char *b = buf + (slash - w) + 1;

		bits = strtoul(b, &end, 10);
		if (end == b || *end || bits > max) {
			vg_vf_diag(c, slash + 1, 0, "bad prefix length (0 to %lu)", max);
			return -1;
		}
	}
	memset(r->rmask, 0, sizeof(r->rmask));
	for (i = 0; i < (int)bits; i++)
		r->rmask[i / 8] |= 0x80 >> (i % 8);
	for (i = 0; i < 16; i++) {
		if (r->raddr[i] & ~r->rmask[i]) {
			vg_vf_diag(c, w, 0, "address has bits set beyond the /%lu prefix", bits);
			return -1;
		}
	}
	r->family = fam;
	return 0;
}

enum {
	VG_VF_F_COMM,
	VG_VF_F_UID,
	VG_VF_F_CGROUP,
	VG_VF_F_OP,
	VG_VF_F_PATH,
	VG_VF_F_REMOTE,
	VG_VF_F_RPORT,
	VG_VF_F_LPORT,
	VG_VF_F_EXE,
	VG_VF_F_PEXE,
	VG_VF_F_MAX
};
static const char *const vg_vf_fields[VG_VF_F_MAX] = {
	"comm", "uid", "cgroup", "op", "path", "remote", "rport", "lport", "exe", "parent_exe",
};

/* One condition. */
static int vg_vf_cond(struct vg_vf_ctx *c, struct vg_flt_rule *r, unsigned *seen,
		      const char **nomatch, const char **nomatch_at)
{
	const char *fw, *ow, *vw;
	size_t fn, on;
	unsigned long long num;
	char val[VG_FLT_VAL + 1];
	int f, len, i;

	fn = vg_vf_word(c, &fw);
	for (f = 0; f < VG_VF_F_MAX; f++)
		if (vg_vf_is(fw, fn, vg_vf_fields[f]))
			break;
	if (!fn) {
		vg_vf_diag(c, fw, 0, "expected a field");
		return -1;
	}
	if (f == VG_VF_F_MAX) {
		vg_vf_diag(
			c, fw, 0,
			"unknown field '%.*s' (comm, uid, cgroup, op, path, remote, rport, lport, "
			"exe, parent_exe)",
			(int)fn, fw);
		return -1;
	}
	on = vg_vf_word(c, &ow);
	if (f != VG_VF_F_PATH && (*seen & (1u << f))) {
		vg_vf_diag(c, fw, 0, "field '%s' given twice in one rule", vg_vf_fields[f]);
		return -1;
	}
	*seen |= 1u << f;
	switch (f) {
	case VG_VF_F_COMM:
		if (!vg_vf_is(ow, on, "==")) {
			vg_vf_diag(c, ow, 0, "comm takes ==");
			return -1;
		}
		vg_vf_skip_ws(c);
		vw = c->p;
		len = vg_vf_string(c, val, VG_COMM_LEN - 1);
		if (len < 0)
			return -1;
		memset(r->comm, 0, sizeof(r->comm));
		memset(r->comm_mask, 0, sizeof(r->comm_mask));
		memcpy(r->comm, val, len);
		memset(r->comm_mask, 0xff, len + 1); /* the NUL too: "cc" is not "cc1" */
		r->fields |= VG_FM_COMM;
		(void)vw;
		return 0;
	case VG_VF_F_UID:
	case VG_VF_F_CGROUP:
	case VG_VF_F_RPORT:
	case VG_VF_F_LPORT:
		if (!vg_vf_is(ow, on, "==") && !(f == VG_VF_F_UID && vg_vf_is(ow, on, "!="))) {
			vg_vf_diag(c, ow, 0, "%s takes ==%s", vg_vf_fields[f],
				   f == VG_VF_F_UID ? " or !=" : "");
			return -1;
		}
		if (vg_vf_number(c,
				 f == VG_VF_F_UID    ? 0xffffffffUL :
				 f == VG_VF_F_CGROUP ? 0 :
						       65535,
				 &num))
			return -1;
		if (f == VG_VF_F_UID) {
			r->uid = (__u32)num;
			r->fields |= vg_vf_is(ow, on, "==") ? VG_FM_UID : VG_FM_NOT_UID;
		} else if (f == VG_VF_F_CGROUP) {
			r->cgroup = num;
			r->fields |= VG_FM_CGROUP;
		} else if (f == VG_VF_F_RPORT) {
			r->rport = (__u16)num;
			r->fields |= VG_FM_RPORT;
		} else {
			r->lport = (__u16)num;
			r->fields |= VG_FM_LPORT;
		}
		return 0;
	case VG_VF_F_OP: {
		int list = vg_vf_is(ow, on, "in");

		if (!list && !vg_vf_is(ow, on, "==")) {
			vg_vf_diag(c, ow, 0, "op takes == or in (...)");
			return -1;
		}
		if (list) {
			if (vg_vf_word(c, &vw) != 1 || *vw != '(') {
				vg_vf_diag(c, vw, 0, "expected '('");
				return -1;
			}
		}
		for (;;) {
			size_t vn = vg_vf_word(c, &vw);
			size_t k;

			for (k = 0; k < sizeof(vg_vf_ops) / sizeof(vg_vf_ops[0]); k++)
				if (vg_vf_is(vw, vn, vg_vf_ops[k].name))
					break;
			if (k == sizeof(vg_vf_ops) / sizeof(vg_vf_ops[0])) {
				vg_vf_diag(c, vw, 0, "unknown operation '%.*s'", (int)vn, vw);
				return -1;
			}
			if (!(r->classes & (1u << vg_vf_ops[k].cls)) && !*nomatch) {
				*nomatch = "the operation is not one of this class";
				*nomatch_at = vw;
			}
			r->ops |= 1u << vg_vf_ops[k].op;
			if (!list)
				break;
			vn = vg_vf_word(c, &vw);
			if (vn == 1 && *vw == ')')
				break;
			if (vn != 1 || *vw != ',') {
				vg_vf_diag(c, vw, 0, "expected ',' or ')'");
				return -1;
			}
		}
		r->fields |= VG_FM_OP;
		return 0;
	}
	case VG_VF_F_PATH:
	case VG_VF_F_EXE:
	case VG_VF_F_PEXE: {
		int eq = vg_vf_is(ow, on, "=="), pre = vg_vf_is(ow, on, "prefix"),
		    suf = vg_vf_is(ow, on, "suffix"), ext = vg_vf_is(ow, on, "extension");
		int off = ext ? 1 : 0;

		if (!eq && !pre && !suf && !ext) {
			vg_vf_diag(c, ow, 0, "%s takes ==, prefix, suffix or extension",
				   vg_vf_fields[f]);
			return -1;
		}
		vg_vf_skip_ws(c);
		vw = c->p;
		val[0] = '.';
		len = vg_vf_string(c, val + off, VG_FLT_VAL - off);
		if (len < 0)
			return -1;
		len += off;
		for (i = 0; i < len; i++)
			if (val[i] == '\0') {
				vg_vf_diag(c, vw, 0, "NUL in a path value");
				return -1;
			}
		if (f != VG_VF_F_PATH) {
			int p = f == VG_VF_F_PEXE;

			if (suf || ext) {
				vg_vf_diag(c, ow, 0, "%s takes == or prefix", vg_vf_fields[f]);
				return -1;
			}
			memset(p ? r->pexe : r->exe, 0, VG_FLT_VAL);
			memset(p ? r->pexe_mask : r->exe_mask, 0, VG_FLT_VAL);
			memcpy(p ? r->pexe : r->exe, val, len);
			memset(p ? r->pexe_mask : r->exe_mask, 0xff, len);
			if (p)
				r->pexe_len = len;
			else
				r->exe_len = len;
			r->fields |= p ? (eq ? VG_FM_PEXE_EQ : VG_FM_PEXE_PRE) :
					 (eq ? VG_FM_EXE_EQ : VG_FM_EXE_PRE);
			if (val[0] != '/' && !*nomatch) {
				*nomatch = "executables are absolute paths";
				*nomatch_at = vw;
			}
			return 0;
		}
		if (((eq || pre) && (r->fields & (VG_FM_PATH_EQ | VG_FM_PATH_PRE))) ||
		    ((suf || ext) && (r->fields & VG_FM_PATH_SUF))) {
			vg_vf_diag(c, ow, 0, "path %.*s given twice in one rule", (int)on, ow);
			return -1;
		}
		if (eq || pre) {
			memset(r->pre, 0, sizeof(r->pre));
			memset(r->pre_mask, 0, sizeof(r->pre_mask));
			memcpy(r->pre, val, len);
			memset(r->pre_mask, 0xff, len);
			r->pre_len = len;
			r->fields |= eq ? VG_FM_PATH_EQ : VG_FM_PATH_PRE;
		} else {
			memset(r->suf, 0, sizeof(r->suf));
			memset(r->suf_mask, 0, sizeof(r->suf_mask));
			memcpy(r->suf + VG_FLT_VAL - len, val, len);
			memset(r->suf_mask + VG_FLT_VAL - len, 0xff, len);
			r->suf_len = len;
			r->fields |= VG_FM_PATH_SUF;
		}
		return 0;
	}
	case VG_VF_F_REMOTE:
		if (!vg_vf_is(ow, on, "in") && !vg_vf_is(ow, on, "==")) {
			vg_vf_diag(c, ow, 0, "remote takes in CIDR or == ADDRESS");
			return -1;
		}
		if (vg_vf_cidr(c, r))
			return -1;
		r->fields |= VG_FM_RADDR;
		return 0;
	}
	return -1;
}

/* Does a's == or prefix value (eq, pre) match every path b's (beq, bpre) matches? */
static int vg_vf_covers_head(__u32 af, __u32 bf, __u32 eq, __u32 pre, const __u8 *a, __u32 alen,
			     const __u8 *b, __u32 blen)
{
	if ((af & eq) && (!(bf & eq) || alen != blen || memcmp(a, b, alen)))
		return 0;
	if ((af & pre) && (!(bf & (eq | pre)) || alen > blen || memcmp(a, b, alen)))
		return 0;
	return 1;
}

/* Does a match everything b matches (so b, after a, never decides)? */
static int vg_vf_covers(const struct vg_flt_rule *a, const struct vg_flt_rule *b)
{
	__u32 af = a->fields, bf = b->fields;
	int i;

	if ((a->classes & b->classes) != b->classes)
		return 0;
	if ((af &
	     (VG_FM_COMM | VG_FM_UID | VG_FM_NOT_UID | VG_FM_CGROUP | VG_FM_RPORT | VG_FM_LPORT)) &
	    ~bf)
		return 0;
	if ((af & VG_FM_COMM) && memcmp(a->comm, b->comm, sizeof(a->comm)))
		return 0;
	if ((af & (VG_FM_UID | VG_FM_NOT_UID)) && a->uid != b->uid)
		return 0;
	if ((af & VG_FM_CGROUP) && a->cgroup != b->cgroup)
		return 0;
	if ((af & VG_FM_RPORT) && a->rport != b->rport)
		return 0;
	if ((af & VG_FM_LPORT) && a->lport != b->lport)
		return 0;
	if ((af & VG_FM_OP) && (!(bf & VG_FM_OP) || (a->ops & b->ops) != b->ops))
		return 0;
	if (af & VG_FM_RADDR) {
		if (!(bf & VG_FM_RADDR) || a->family != b->family)
			return 0;
		for (i = 0; i < 16; i++)
			if ((a->rmask[i] & b->rmask[i]) != a->rmask[i] ||
			    (b->raddr[i] & a->rmask[i]) != a->raddr[i])
				return 0;
	}
	if (!vg_vf_covers_head(af, bf, VG_FM_PATH_EQ, VG_FM_PATH_PRE, a->pre, a->pre_len, b->pre,
			       b->pre_len) ||
	    !vg_vf_covers_head(af, bf, VG_FM_EXE_EQ, VG_FM_EXE_PRE, a->exe, a->exe_len, b->exe,
			       b->exe_len) ||
	    !vg_vf_covers_head(af, bf, VG_FM_PEXE_EQ, VG_FM_PEXE_PRE, a->pexe, a->pexe_len, b->pexe,
			       b->pexe_len))
		return 0;
	if (af & VG_FM_PATH_SUF)
		if (!(bf & VG_FM_PATH_SUF) || a->suf_len > b->suf_len ||
		    memcmp(a->suf + VG_FLT_VAL - a->suf_len, b->suf + VG_FLT_VAL - a->suf_len,
			   a->suf_len))
			return 0;
	return 1;
}

/*
 * `sample 1/N` after the conditions of a drop rule: of the events the rule
 * matches, one in N is kept (counted per CPU in the kernel) and the rest
 * dropped, so a noisy source stays visible at a known fraction.
 */
static int vg_vf_sample(struct vg_vf_ctx *c, const char *at, struct vg_flt_rule *r)
{
	const char *w;
	size_t n;
	char buf[32];
	unsigned long v;
	char *end;

	if (r->action != VG_FLT_DROP) {
		vg_vf_diag(c, at, 0,
			   "only a drop rule can sample (keep one in N of what it drops)");
		return -1;
	}
	vg_vf_skip_ws(c);
	w = c->p;
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '#')
		c->p++;
	n = (size_t)(c->p - w);
	if (n < 3 || n >= sizeof(buf) || w[0] != '1' || w[1] != '/') {
		vg_vf_diag(c, w, 0, "expected 1/N after 'sample'");
		return -1;
	}
	memcpy(buf, w + 2, n - 2);
	buf[n - 2] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || *end || v < 2 || v > 1000000) {
		vg_vf_diag(c, w, 0, "sample 1/N needs N from 2 to 1000000");
		return -1;
	}
	r->sample = (uint32_t)v;
	return 0;
}

static void vg_vf_line(struct vg_vf_ctx *c)
{
	struct vg_flt_rule r;
	const char *w, *cls_at, *start, *nomatch = NULL, *nomatch_at = NULL;
	size_t n;
	unsigned seen = 0;
	int i, k;

	memset(&r, 0, sizeof(r));
	vg_vf_skip_ws(c);
	if (c->p >= c->end || *c->p == '#')
		return;
	start = c->p;
	n = vg_vf_word(c, &w);
	if (vg_vf_is(w, n, "drop"))
		r.action = VG_FLT_DROP;
	else if (vg_vf_is(w, n, "keep"))
		r.action = VG_FLT_KEEP;
	else {
		vg_vf_diag(c, w, 0, "expected 'drop' or 'keep'");
		return;
	}
	n = vg_vf_word(c, &cls_at);
	for (k = 0; k < VG_CLASS_MAX; k++)
		if (vg_vf_is(cls_at, n, vg_vf_classes[k]))
			break;
	if (k == VG_CLASS_MAX) {
		vg_vf_diag(c, cls_at, 0,
			   "unknown event class '%.*s' (exec, fork, exit, file, network, security)",
			   (int)n, cls_at);
		return;
	}
	r.classes = 1u << k;
	if (r.action == VG_FLT_DROP && k <= VG_CLASS_EXIT) {
		vg_vf_diag(c, cls_at, 0,
			   "process events cannot be dropped: vigild's process table needs every "
			   "exec, fork and exit");
		return;
	}
	n = vg_vf_word(c, &w);
	if (n && vg_vf_is(w, n, "sample")) {
		if (vg_vf_sample(c, w, &r))
			return;
	} else if (n) {
		if (!vg_vf_is(w, n, "where")) {
			vg_vf_diag(c, w, 0, "expected 'where', 'sample' or the end of the line");
			return;
		}
		for (;;) {
			if (vg_vf_cond(c, &r, &seen, &nomatch, &nomatch_at))
				return;
			n = vg_vf_word(c, &w);
			if (!n)
				break;
			if (vg_vf_is(w, n, "sample")) {
				if (vg_vf_sample(c, w, &r))
					return;
				break;
			}
			if (!vg_vf_is(w, n, "and")) {
				vg_vf_diag(c, w, 0, "expected 'and' or the end of the line");
				return;
			}
		}
	}
	vg_vf_skip_ws(c);
	if (c->p < c->end) {
		vg_vf_diag(c, c->p, 0, "unexpected '%c'", *c->p);
		return;
	}
	/* Rules that can never match. */
	if (!nomatch && (r.fields & (VG_FM_PATH_EQ | VG_FM_PATH_PRE | VG_FM_PATH_SUF)) &&
	    k != VG_CLASS_FILE) {
		nomatch = "only file events have a path";
		nomatch_at = cls_at;
	}
	if (!nomatch && (r.fields & (VG_FM_RADDR | VG_FM_RPORT | VG_FM_LPORT)) &&
	    k != VG_CLASS_NET) {
		nomatch = "only network events have addresses and ports";
		nomatch_at = cls_at;
	}
	if (!nomatch && (r.fields & VG_FM_PATH_EQ) && (r.fields & VG_FM_PATH_SUF) &&
	    (r.suf_len > r.pre_len ||
	     memcmp(r.pre + r.pre_len - r.suf_len, r.suf + VG_FLT_VAL - r.suf_len, r.suf_len))) {
		nomatch = "the path cannot equal that and end so";
		nomatch_at = start;
	}
	if (nomatch)
		vg_vf_diag(c, nomatch_at, 1, "rule can never match: %s", nomatch);
	if (r.action == VG_FLT_KEEP && k <= VG_CLASS_EXIT)
		vg_vf_diag(c, start, 1, "process events are always kept: the rule has no effect");
	for (i = 0; i < c->set->n; i++) {
		if (vg_vf_covers(&c->set->rules[i].k, &r)) {
			vg_vf_diag(
				c, start, 1,
				"rule is shadowed by line %d, which matches everything it matches",
				c->set->rules[i].line);
			break;
		}
	}
	if (c->set->n >= VG_FLT_RULES) {
		vg_vf_diag(c, start, 0, "too many rules: the kernel holds %d", VG_FLT_RULES);
		return;
	}
	c->set->rules[c->set->n].k = r;
	c->set->rules[c->set->n].line = c->lineno;
	snprintf(c->set->rules[c->set->n].text, VG_VF_TEXT, "%.*s", (int)(c->end - start), start);
	c->set->n++;
}

int vg_vf_parse(struct vg_vf_set *set, const char *name, const char *text, size_t len, FILE *diag)
{
	struct vg_vf_ctx c = { .set = set, .name = name, .diag = diag };
	const char *p = text, *end = text + len;

	memset(set, 0, sizeof(*set));
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);

		c.line = p;
		c.end = nl ? nl : end;
		c.line_len = c.end - p;
		c.lineno++;
		c.p = p;
		if (c.line_len > VG_VF_LINE_MAX) {
			c.line_len = 80;
			vg_vf_diag(&c, p + VG_VF_LINE_MAX, 0, "line longer than %d bytes",
				   VG_VF_LINE_MAX);
		} else if (memchr(p, '\0', c.line_len)) {
			vg_vf_diag(&c, memchr(p, '\0', c.line_len), 0, "NUL byte in the file");
		} else {
			vg_vf_line(&c);
		}
		p = nl ? nl + 1 : end;
	}
	return set->errors ? -EINVAL : 0;
}

int vg_vf_read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	int err;

	if (!f)
		return -errno;
	buf = malloc(VG_VF_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, VG_VF_FILE_MAX + 1, f);
	err = ferror(f) ? -EIO : n > VG_VF_FILE_MAX ? -EFBIG : 0;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

int vg_vf_parse_file(struct vg_vf_set *set, const char *path, FILE *diag)
{
	char *text;
	size_t n;
	int err = vg_vf_read_file(path, &text, &n);

	if (err)
		return err;
	err = vg_vf_parse(set, path, text, n, diag);
	free(text);
	return err;
}
