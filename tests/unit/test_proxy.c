// SPDX-License-Identifier: GPL-2.0-only
/*
 * The proxy order on Linux (host/proxy.c): the configured proxy, then the
 * environment unless no_proxy names the server, else direct; and the
 * no_proxy matching curl's users know. The route actually taken is held by
 * tests/fleet/test_proxy.c through tinyproxy's log.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "proxy.h"

struct row {
	const char *config, *env, *no_proxy, *host;
	const char *server, *source, *error; /* error: a substring, NULL for none */
};

static const struct row rows[] = {
	{ "http://cfg.example:3128", "env.example:8080", NULL, "srv.example", "cfg.example:3128",
	  VG_PROXY_SRC_CONFIG, NULL },
	{ NULL, "http://env.example:8080/", NULL, "srv.example", "env.example:8080",
	  VG_PROXY_SRC_ENV, NULL },
	{ "direct", "env.example:8080", NULL, "srv.example", "", VG_PROXY_SRC_CONFIG, NULL },
	{ NULL, "env.example:8080", "other.example,.example", "srv.example", "",
	  VG_PROXY_SRC_NO_PROXY, NULL },
	{ NULL, "env.example:8080", "xample", "srv.example", "env.example:8080", VG_PROXY_SRC_ENV,
	  NULL },
	/* no_proxy is the environment's exception, not the configuration's */
	{ "cfg.example:3128", NULL, "*", "srv.example", "cfg.example:3128", VG_PROXY_SRC_CONFIG,
	  NULL },
	{ NULL, NULL, "*", "srv.example", "", VG_PROXY_SRC_DIRECT, NULL },
	{ "http://bob:pw@cfg.example:3128", "env.example:8080", NULL, "srv.example", "",
	  VG_PROXY_SRC_CONFIG, "credentials in a proxy URL are not supported" },
	{ "cfg.example", "env.example:8080", NULL, "srv.example", "", VG_PROXY_SRC_CONFIG,
	  "not host:port" },
	{ NULL, "socks5://env.example:1080", NULL, "srv.example", "", VG_PROXY_SRC_ENV,
	  "only http:// proxies" },
};

Test(proxy, linux_order)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct vg_proxy_sources ps = {
			.config = r->config, .env = r->env, .no_proxy = r->no_proxy, .host = r->host
		};
		struct vg_proxy_choice c;
		int err = vg_proxy_choose(&ps, &c);

		cr_expect_eq(err, r->error ? -EINVAL : 0, "row %zu: %d", i, err);
		cr_expect_str_eq(c.server, r->server, "row %zu", i);
		cr_expect_str_eq(c.source, r->source, "row %zu", i);
		if (r->error)
			cr_expect(strstr(c.error, r->error), "row %zu: %s", i, c.error);
		cr_expect_null(strstr(c.error, "pw@"), "row %zu: the password shows: %s", i,
			       c.error);
	}
}

Test(proxy, no_proxy_names)
{
	static const struct {
		const char *list, *host;
		int bypass;
	} t[] = {
		{ "*", "anything.example", 1 },
		{ "example.com", "example.com", 1 },
		{ "example.com", "srv.example.com", 1 },
		{ ".example.com", "srv.EXAMPLE.com.", 1 },
		{ "example.com", "badexample.com", 0 },
		{ "srv.example.com", "example.com", 0 },
		{ "10.0.0.1, 127.0.0.1:8443", "127.0.0.1", 1 },
		{ "127.0.0.10", "127.0.0.1", 0 },
		{ "[::1]:443", "[::1]", 1 },
		{ "::1", "[::1]", 1 },
		{ "", "srv.example", 0 },
		{ ",, ,", "srv.example", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(vg_proxy_bypass(t[i].list, t[i].host), t[i].bypass, "'%s' for %s",
			     t[i].list, t[i].host);
}
