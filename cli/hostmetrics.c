// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil host --metrics: GET /metrics from libmicrohttpd's thread (see
 * hostops.h); apart from hostops.c so what links the outputs and retention
 * (the unit tests) does not need libmicrohttpd.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "hostops.h"
#include "log.h"
#include "store.h"

struct vg_metrics_server {
	struct MHD_Daemon *d;
	struct vg_store *store; /* read side, used by MHD's one thread only */
	char *db;
	const struct vg_host_metrics *m;
};

static enum MHD_Result vg_metrics_reply(struct MHD_Connection *c, unsigned status, const char *type,
					const char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result vg_metrics_handler(void *cls, struct MHD_Connection *c, const char *url,
					  const char *method, const char *version,
					  const char *upload, size_t *upload_size, void **state)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct vg_metrics_server *ms = cls;
	struct vg_sb body;
	enum MHD_Result ret;
	int err;

	if (!*state) {
		/* First call: the headers only. */
		*state = ms;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is not read */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics"))
		return vg_metrics_reply(c, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics\n",
					24);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return vg_metrics_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
	if (!ms->store && vg_store_open_existing(&ms->store, ms->db))
		ms->store = NULL;
	vg_sb_init(&body);
	err = vg_metrics_render(&body, ms->store ? vg_store_db(ms->store) : NULL, ms->m);
	if (err) {
		vg_log(VG_WARN, "metrics: %s", strerror(-err));
		vg_sb_free(&body);
		return vg_metrics_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text,
					"the store could not be read\n", 28);
	}
	ret = vg_metrics_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			       vg_sb_str(&body), body.len);
	vg_sb_free(&body);
	return ret;
}

int vg_metrics_start(struct vg_metrics_server **out, const char *addr, const char *db,
		     const struct vg_host_metrics *m)
{
	struct vg_metrics_server *ms;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	socklen_t sl;

	*out = NULL;
	if (vg_parse_hostport(addr, &ss, &sl))
		return vg_err(-EINVAL, "--metrics %s: expected ADDR:PORT", addr);
	ms = calloc(1, sizeof(*ms));
	if (!ms || !(ms->db = strdup(db))) {
		free(ms);
		return -ENOMEM;
	}
	ms->m = m;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* One thread: requests are served one at a time, on one read connection. */
	ms->d = MHD_start_daemon(flags, 0, NULL, NULL, vg_metrics_handler, ms, MHD_OPTION_SOCK_ADDR,
				 &ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
				 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!ms->d) {
		free(ms->db);
		free(ms);
		return vg_err(-EADDRNOTAVAIL, "--metrics: could not listen on %s", addr);
	}
	vg_log(VG_INFO, "metrics: http://%s/metrics (port %u)", addr, vg_metrics_port(ms));
	*out = ms;
	return 0;
}

unsigned vg_metrics_port(const struct vg_metrics_server *ms)
{
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info((struct MHD_Daemon *)ms->d, MHD_DAEMON_INFO_BIND_PORT);

	return di ? di->port : 0;
}

void vg_metrics_stop(struct vg_metrics_server *ms)
{
	if (!ms)
		return;
	MHD_stop_daemon(ms->d);
	vg_store_close(ms->store);
	free(ms->db);
	free(ms);
}
