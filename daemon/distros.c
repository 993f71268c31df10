// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distros.h"

void vg_distros_free(struct vg_distros *d)
{
	for (size_t i = 0; i < d->n; i++)
		vg_users_free(&d->list[i].users);
	free(d->list);
	d->list = NULL;
	d->n = 0;
}

/* Copy field f (length n) into out: -EINVAL when empty (if required), too long, or a control byte. */
static int vg_field(char *out, size_t size, const char *f, size_t n, int required)
{
	if ((required && !n) || n >= size)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			return -EINVAL;
	memcpy(out, f, n);
	out[n] = '\0';
	return 0;
}

static int vg_number(const char *f, size_t n, uint32_t *out)
{
	unsigned long long v = 0;

	if (!n || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(f[i] - '0');
	}
	if (!v || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* One line into e: 0, or -EINVAL with what is wrong in why. */
static int vg_distro_line(struct vg_distro *e, const char *line, size_t len, char *why,
			  size_t why_size)
{
	static const char *const names[] = { "PID namespace", "init pid", "running flag",
					     "name",	      "flavor",	  "version" };
	const char *f[6];
	size_t n[6], k = 0;
	const char *p = line, *end = line + len;
	uint32_t running = 0;
	int err = 0;

	while (k < 6) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));

		f[k] = p;
		n[k] = (size_t)((tab ? tab : end) - p);
		k++;
		if (!tab)
			break;
		p = tab + 1;
	}
	if (k != 6 || f[5] + n[5] != end) {
		snprintf(why, why_size, "%s%zu tab-separated fields, want 6",
			 k == 6 ? "more than " : "", k);
		return -EINVAL;
	}
	for (k = 0; k < 6 && !err; k++) {
		switch (k) {
		case 0:
			err = vg_number(f[k], n[k], &e->pidns);
			break;
		case 1:
			err = vg_number(f[k], n[k], &e->initpid);
			break;
		case 2:
			err = n[k] == 1 && (f[k][0] == '0' || f[k][0] == '1') ? 0 : -EINVAL;
			running = f[k][0] == '1';
			break;
		case 3:
			err = vg_field(e->name, sizeof(e->name), f[k], n[k], 1);
			break;
		case 4:
			err = vg_field(e->flavor, sizeof(e->flavor), f[k], n[k], 0);
			break;
		case 5:
			err = vg_field(e->version, sizeof(e->version), f[k], n[k], 0);
			break;
		}
		if (err)
			snprintf(why, why_size, "bad %s", names[k]);
	}
	e->running = (int)running;
	return err;
}

int vg_distros_set(struct vg_distros *d, const char *procfs, const char *text, size_t len,
		   char *why, size_t why_size)
{
	struct vg_distros nd = { 0 };
	const char *p = text, *end = text + len;
	unsigned line = 0;
	char what[64];

	nd.list = calloc(VG_DISTROS_MAX, sizeof(*nd.list));
	if (!nd.list)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct vg_distro *e = &nd.list[nd.n];

		line++;
		if (nd.n == VG_DISTROS_MAX) {
			snprintf(why, why_size, "line %u: more than %d distributions", line,
				 VG_DISTROS_MAX);
			goto bad;
		}
		if (vg_distro_line(e, p, n, what, sizeof(what))) {
			snprintf(why, why_size, "line %u: %s", line, what);
			goto bad;
		}
		snprintf(e->passwd, sizeof(e->passwd), "%s/%u/root/etc/passwd", procfs, e->initpid);
		nd.n++;
		p += n + 1;
	}
	vg_distros_free(d);
	*d = nd;
	/* The user databases last: the list does not move any more. */
	for (size_t i = 0; i < d->n; i++)
		vg_users_init(&d->list[i].users, d->list[i].passwd);
	return 0;
bad:
	free(nd.list);
	return -EINVAL;
}

struct vg_distro *vg_distro_of(struct vg_distros *d, uint32_t pidns)
{
	if (!pidns)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		if (d->list[i].pidns == pidns)
			return &d->list[i];
	return NULL;
}

void vg_distros_os(const struct vg_distros *d, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < d->n && used < size; i++) {
		const struct vg_distro *e = &d->list[i];
		int n;

		if (!e->running)
			continue;
		n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", e->name);
		if (n > 0 && (e->flavor[0] || e->version[0]) && used + (size_t)n < size)
			n += snprintf(out + used + n, size - used - n, " (%s%s%s)", e->flavor,
				      e->flavor[0] && e->version[0] ? " " : "", e->version);
		used += n > 0 ? (size_t)n : 0;
	}
}
