// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigil server's HTTPS side: libmicrohttpd with GnuTLS (TLS 1.2 and 1.3
 * only), a pool of worker threads each with its own PostgreSQL connection,
 * a bounded number of connections, and four resources:
 *   GET  /v1/health   the database answers?
 *   POST /v1/enroll   an enrolment secret for a device's token
 *   POST /v1/batches  one vigil frame (lib/frame.h) holding one batch, or
 *                     several back to back (host/upproto.h, VG_UPP_CT_FRAMES)
 *   GET  /v1/filters  the filter set of the token's machine group (filtersets.c)
 * A request body is read up to its bound and no further; a body is decoded
 * only with lib/'s bounded decoders; a batch is answered 200 only after its
 * transaction committed. The server keeps no state of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batch.h"
#include "console.h"
#include "enroll_json.h"
#include "fmt.h"
#include "frame.h"
#include "hostops.h"
#include "log.h"
#include "server.h"
#include "server_int.h"
#include "upproto.h"

#define VG_ENROLL_MAX_BODY 4096u
#define VG_RETRY_DB "5" /* s: the database is down or failed */
#define VG_RETRY_BUSY "1" /* s: too many batches in flight */
#define VG_CT_FRAME VG_UPP_CT_FRAME

_Static_assert(VG_UPP_BODY_MAX == VG_SERVER_MAX_BODY, "one bound for a request's body");

enum vg_route { VG_R_ENROLL = 1, VG_R_BATCHES, VG_R_HEALTH };

struct vg_req {
	enum vg_route route;
	uint8_t *buf;
	size_t len, cap, limit;
	int too_big;
	int inflight; /* counted in vg_inflight until the request completes */
	int multi; /* batches: VG_UPP_CT_FRAMES, several frames */
	char owner[VG_DEVICE_ID_MAX + 1]; /* the token's device (batches) */
};

static const char *vg_conninfo;
/*
 * Batches in flight: from their accepted headers to their answer (a body is
 * held in memory meanwhile, up to VG_SERVER_MAX_BODY). Past the bound a new
 * batch is answered 429 before its body is read: memory stays bounded and
 * the host sends it again after Retry-After.
 */
static unsigned int vg_inflight, vg_max_inflight;
static pthread_mutex_t vg_inflight_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * One PostgreSQL connection per worker thread, made on its first request and
 * closed when the thread ends (the key's destructor).
 */
static pthread_key_t vg_pg_key;

static void vg_pg_key_free(void *pg)
{
	vg_pg_close(pg);
}

static struct vg_pg *vg_worker_pg(char *why, size_t why_len)
{
	struct vg_pg *pg = pthread_getspecific(vg_pg_key);

	if (!pg && !vg_pg_open(&pg, vg_conninfo, why, why_len))
		pthread_setspecific(vg_pg_key, pg);
	return pg;
}

/* retry: the Retry-After value in seconds, or NULL for none. */
static enum MHD_Result vg_reply(struct MHD_Connection *c, unsigned int status,
				const struct vg_sb *body, const char *retry)
{
	const char *s = vg_sb_str(body);
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!s)
		s = "{\"error\":\"out of memory\"}";
	r = MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (retry)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* {"error":"reason"}; 503 and 429 carry Retry-After. */
static enum MHD_Result vg_fail(struct MHD_Connection *c, unsigned int status, const char *reason)
{
	struct vg_sb b;
	enum MHD_Result ret;

	vg_sb_init(&b);
	vg_sb_add(&b, "{");
	vg_json_kv(&b, "error", reason);
	vg_sb_add(&b, "}");
	ret = vg_reply(c, status, &b,
		       status == 503 ? VG_RETRY_DB : status == 429 ? VG_RETRY_BUSY : NULL);
	vg_sb_free(&b);
	return ret;
}

static const char *vg_peer(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (!ci || getnameinfo(ci->client_addr,
			       ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
									sizeof(struct sockaddr_in),
			       buf, size, NULL, 0, NI_NUMERICHOST))
		snprintf(buf, size, "?");
	return buf;
}

static enum MHD_Result vg_health(struct MHD_Connection *c)
{
	char why[256] = "";
	struct vg_pg *pg = vg_worker_pg(why, sizeof(why));
	struct vg_sb b;
	enum MHD_Result ret;
	int down = !pg || vg_pg_ping(pg, why, sizeof(why));

	vg_sb_init(&b);
	vg_sb_add(&b, "{");
	vg_json_kv(&b, "status", down ? "degraded" : "ok");
	vg_json_kv(&b, "database", down ? why : "ok");
	vg_sb_add(&b, "}");
	ret = vg_reply(c, down ? 503 : 200, &b, down ? VG_RETRY_DB : NULL);
	vg_sb_free(&b);
	return ret;
}

static enum MHD_Result vg_enroll(struct MHD_Connection *c, struct vg_req *q)
{
	static const char *const keys[] = { "secret", "device_id", "device_name" };
	const char *vals[3] = { NULL, NULL, NULL };
	char token[VG_TOKEN_HEX + 1], why[256] = "", peer[64];
	const char *bad;
	struct vg_pg *pg;
	struct vg_sb b;
	enum MHD_Result ret;
	int err;

	bad = q->buf ? vg_enroll_parse((char *)q->buf, q->len, keys, vals, 3) : "empty body";
	if (!bad && (!vals[0] || !vals[1]))
		bad = "secret and device_id are required";
	if (!bad && (!*vals[1] || strlen(vals[1]) > VG_DEVICE_ID_MAX))
		bad = "device_id empty or too long";
	if (bad) {
		vg_log(VG_WARN, "server: %s: enrol: %s", vg_peer(c, peer, sizeof(peer)), bad);
		return vg_fail(c, 400, bad);
	}
	pg = vg_worker_pg(why, sizeof(why));
	if (!pg)
		return vg_fail(c, 503, "database unavailable");
	err = vg_pg_enroll(pg, vals[0], vals[1], vals[2], token);
	if (err == -EACCES) {
		vg_log(VG_WARN, "server: %s: enrol %s: bad secret", vg_peer(c, peer, sizeof(peer)),
		       vals[1]);
		return vg_fail(c, 401, "bad enrolment secret");
	}
	if (err == -EEXIST)
		return vg_fail(c, 409, "device already enrolled");
	if (err)
		return vg_fail(c, 503, "database unavailable");
	vg_log(VG_INFO, "server: enrolled device %s", vals[1]);
	vg_sb_init(&b);
	vg_sb_add(&b, "{");
	vg_json_kv(&b, "token", token);
	vg_sb_add(&b, "}");
	ret = vg_reply(c, 200, &b, NULL);
	vg_sb_free(&b);
	return ret;
}

/* The token of a batch request: 0 with q->owner, or the response queued (ret set). */
static int vg_authorize(struct MHD_Connection *c, struct vg_req *q, enum MHD_Result *ret)
{
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	char why[256] = "", peer[64];
	struct vg_pg *pg;
	size_t n;
	int err;

	if (!a || strncmp(a, "Bearer ", 7)) {
		*ret = vg_fail(c, 401, "no bearer token");
		return -1;
	}
	a += 7;
	n = strlen(a);
	if (n != VG_TOKEN_HEX || strspn(a, "0123456789abcdef") != n) {
		*ret = vg_fail(c, 401, "unknown token");
		return -1;
	}
	pg = vg_worker_pg(why, sizeof(why));
	err = pg ? vg_pg_token_device(pg, a, q->owner) : -EIO;
	if (!err)
		return 0;
	if (err == -ENOENT) {
		vg_log(VG_WARN, "server: %s: unknown token", vg_peer(c, peer, sizeof(peer)));
		*ret = vg_fail(c, 401, "unknown token");
	} else if (err == -EACCES) {
		vg_log(VG_WARN, "server: %s: revoked token of %s", vg_peer(c, peer, sizeof(peer)),
		       q->owner);
		*ret = vg_fail(c, 403, "token revoked");
	} else {
		*ret = vg_fail(c, 503, "database unavailable");
	}
	return -1;
}

static enum MHD_Result vg_batch_bad(struct MHD_Connection *c, struct vg_req *q, const char *why)
{
	char peer[64];

	vg_log(VG_WARN, "server: %s: refused a batch of %s: %s", vg_peer(c, peer, sizeof(peer)),
	       q->owner, why);
	return vg_fail(c, 400, why);
}

static enum MHD_Result vg_batches(struct MHD_Connection *c, struct vg_req *q)
{
	char why[256] = "", peer[64], reason[300];
	struct vg_frame_hdr h;
	struct vg_batch v;
	struct vg_pg *pg;
	struct vg_sb b;
	enum MHD_Result ret;
	int err;

	if (q->len < VG_FRAME_HDR_LEN)
		return vg_batch_bad(c, q, "body shorter than a frame header");
	err = vg_frame_hdr_unpack(q->buf, &h);
	if (err) {
		snprintf(reason, sizeof(reason), "frame header: %s", vg_frame_strerror(err));
		return vg_batch_bad(c, q, reason);
	}
	if (h.type != VG_FRAME_BATCH)
		return vg_batch_bad(c, q, "frame is not a BATCH");
	if (h.len != q->len - VG_FRAME_HDR_LEN)
		return vg_batch_bad(c, q, "frame length is not the body's");
	err = vg_frame_verify(q->buf, &h, q->buf + VG_FRAME_HDR_LEN);
	if (err)
		return vg_batch_bad(c, q, "frame crc mismatch");
	err = vg_batch_open(&v, q->buf + VG_FRAME_HDR_LEN, h.len, !!(h.flags & VG_FRAME_F_ZSTD),
			    why, sizeof(why));
	if (err) {
		snprintf(reason, sizeof(reason), "batch: %s%s%s", strerror(-err), *why ? ": " : "",
			 why);
		return vg_batch_bad(c, q, reason);
	}
	pg = vg_worker_pg(why, sizeof(why));
	err = pg ? vg_pg_store_batch(pg, q->owner, h.seq, &v, why, sizeof(why)) : -EIO;
	vg_batch_close(&v);
	if (err == -EBADMSG)
		return vg_batch_bad(c, q, why);
	if (err == -EPERM) {
		vg_log(VG_WARN, "server: %s: refused a batch of %s: %s",
		       vg_peer(c, peer, sizeof(peer)), q->owner, why);
		if (vg_pg_refused(pg, q->owner, "foreign device"))
			return vg_fail(c, 503, "database unavailable");
		return vg_fail(c, 403, why);
	}
	if (err < 0)
		return vg_fail(c, 503, "database unavailable: nothing stored");
	vg_sb_init(&b);
	vg_sb_add(&b, err ? "{\"stored\":true}" : "{\"stored\":false}");
	ret = vg_reply(c, 200, &b, NULL);
	vg_sb_free(&b);
	return ret;
}

/*
 * One frame of a request of several at off: its header, whole and inside
 * the body, else the request's framing is broken past it (-1, why). Then
 * the frame itself: its type, crc and batch, else f->why (f->v stays NULL).
 */
static int vg_frames_one(struct vg_req *q, size_t *off, struct vg_pg_frame *f,
			 struct vg_batch *v, char *why, size_t why_len)
{
	const uint8_t *p = q->buf + *off;
	struct vg_frame_hdr h;
	char bwhy[200] = "";
	int err;

	if (q->len - *off < VG_FRAME_HDR_LEN) {
		snprintf(why, why_len, "shorter than a frame header");
		return -1;
	}
	err = vg_frame_hdr_unpack(p, &h);
	if (err) {
		snprintf(why, why_len, "frame header: %s", vg_frame_strerror(err));
		return -1;
	}
	if (h.len > q->len - *off - VG_FRAME_HDR_LEN) {
		snprintf(why, why_len, "frame length past the body's end");
		return -1;
	}
	*off += VG_FRAME_HDR_LEN + h.len;
	f->seq = h.seq;
	f->result = -EBADMSG;
	if (h.type != VG_FRAME_BATCH) {
		snprintf(f->why, sizeof(f->why), "frame is not a BATCH");
	} else if (vg_frame_verify(p, &h, p + VG_FRAME_HDR_LEN)) {
		snprintf(f->why, sizeof(f->why), "frame crc mismatch");
	} else if ((err = vg_batch_open(v, p + VG_FRAME_HDR_LEN, h.len,
					!!(h.flags & VG_FRAME_F_ZSTD), bwhy, sizeof(bwhy)))) {
		snprintf(f->why, sizeof(f->why), "batch: %s%s%s", strerror(-err),
			 *bwhy ? ": " : "", bwhy);
	} else {
		f->v = v;
		f->result = 0;
	}
	return 0;
}

/*
 * Several frames (VG_UPP_CT_FRAMES): each decoded with the bounded decoders
 * before any is stored, then stored in one transaction, each answered in
 * order. A frame refused (400 malformed, 403 another device's) is answered
 * so by its place and the others are stored. A body whose framing breaks
 * (a header unreadable, a length past the end, more than VG_UPP_FRAMES_MAX
 * frames) is refused whole (400 naming the frame's index): what follows
 * cannot be trusted to be frames. Frames that decode to more than one
 * batch's bound together (VG_BATCH_MAX_DECODED) are refused whole (413: the
 * host sends them one per request), so a request holds at most twice what
 * one frame may. Database errors as for one frame: 503,
 * nothing stored.
 */
static enum MHD_Result vg_frames(struct MHD_Connection *c, struct vg_req *q)
{
	struct vg_pg_frame *f = calloc(VG_UPP_FRAMES_MAX, sizeof(*f));
	struct vg_batch *v = calloc(VG_UPP_FRAMES_MAX, sizeof(*v));
	char why[256] = "", reason[300], peer[64];
	size_t n = 0, off = 0, decoded = 0;
	struct vg_pg *pg;
	struct vg_sb b;
	enum MHD_Result ret;
	int err = 0;

	if (!f || !v) {
		free(f);
		free(v);
		return vg_fail(c, 503, "out of memory: nothing stored");
	}
	if (!q->len)
		err = snprintf(reason, sizeof(reason), "empty body");
	while (!err && off < q->len) {
		if (n == VG_UPP_FRAMES_MAX) {
			err = snprintf(reason, sizeof(reason), "more than %d frames",
				       VG_UPP_FRAMES_MAX);
			break;
		}
		if (vg_frames_one(q, &off, &f[n], &v[n], why, sizeof(why)))
			err = snprintf(reason, sizeof(reason), "frame %zu: %s", n, why);
		decoded += f[n].v ? f[n].v->len : 0;
		n++;
		if (!err && decoded > VG_BATCH_MAX_DECODED) {
			/* One batch's bound for them all: a request holds no more than one frame's. */
			snprintf(reason, sizeof(reason),
				 "frames decoding to over %u MiB together: send fewer",
				 VG_BATCH_MAX_DECODED >> 20);
			vg_log(VG_WARN, "server: %s: refused a body of %s: %s",
			       vg_peer(c, peer, sizeof(peer)), q->owner, reason);
			ret = vg_fail(c, 413, reason);
			goto out;
		}
	}
	if (err) {
		ret = vg_batch_bad(c, q, reason);
		goto out;
	}
	pg = vg_worker_pg(why, sizeof(why));
	err = pg ? vg_pg_store_frames(pg, q->owner, f, n, why, sizeof(why)) : -EIO;
	if (err == -EBADMSG) {
		ret = vg_batch_bad(c, q, why);
		goto out;
	}
	if (err) {
		ret = vg_fail(c, 503, "database unavailable: nothing stored");
		goto out;
	}
	vg_sb_init(&b);
	vg_sb_add(&b, "{\"frames\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			vg_sb_add(&b, ",");
		if (f[i].result >= 0) {
			vg_sb_add(&b, f[i].result ? "{\"stored\":true}" : "{\"stored\":false}");
			continue;
		}
		vg_log(VG_WARN, "server: %s: refused frame %zu of %zu of %s: %s",
		       vg_peer(c, peer, sizeof(peer)), i, n, q->owner, f[i].why);
		/* Counted as a refusal of one frame is (its answer says 403 all the same). */
		if (f[i].result == -EPERM && vg_pg_refused(pg, q->owner, "foreign device"))
			vg_log(VG_WARN, "server: could not count a refused frame of %s", q->owner);
		vg_sb_printf(&b, "{\"status\":%d", f[i].result == -EPERM ? 403 : 400);
		vg_json_kv(&b, "error", f[i].why);
		vg_sb_add(&b, "}");
	}
	vg_sb_add(&b, "]}");
	ret = vg_reply(c, 200, &b, NULL);
	vg_sb_free(&b);
out:
	for (size_t i = 0; i < n; i++)
		if (f[i].v)
			vg_batch_close(f[i].v);
	free(f);
	free(v);
	return ret;
}

/*
 * The path of a request target: one in absolute-form names the same
 * resource as its path (RFC 7230 5.3.2: a server must accept it; Wine's
 * WinHTTP sends it inside a proxy's CONNECT tunnel).
 */
static const char *vg_target_path(const char *url)
{
	const char *p;

	if (!strncasecmp(url, "https://", 8))
		p = strchr(url + 8, '/');
	else if (!strncasecmp(url, "http://", 7))
		p = strchr(url + 7, '/');
	else
		return url;
	return p ? p : "/";
}

static enum MHD_Result vg_handler(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct vg_req *q = *con_cls;
	enum MHD_Result ret;

	if (vg_console_url(url))
		return vg_console(c, url, method, upload, upload_size, con_cls);
	if (!q) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		enum vg_route route;

		url = vg_target_path(url);
		if (!strcmp(url, "/v1/health")) {
			if (strcmp(method, "GET") && strcmp(method, "HEAD"))
				return vg_fail(c, 405, "GET only");
			/*
			 * Answered on the next call, the request whole: MHD keeps
			 * the connection open then (an answer on the first call
			 * closes it), and a host's checked connection can carry its
			 * token next (plugin/winup.c).
			 */
			q = calloc(1, sizeof(*q));
			if (!q)
				return MHD_NO;
			q->route = VG_R_HEALTH;
			*con_cls = q;
			return MHD_YES;
		}
		if (!strcmp(url, "/v1/filters"))
			return vg_filters_get(c, method);
		if (!strcmp(url, "/v1/enroll"))
			route = VG_R_ENROLL;
		else if (!strcmp(url, "/v1/batches"))
			route = VG_R_BATCHES;
		else
			return vg_fail(c, 404, "no such resource");
		if (strcmp(method, "POST"))
			return vg_fail(c, 405, "POST only");
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->route = route;
		q->limit = route == VG_R_ENROLL ? VG_ENROLL_MAX_BODY : VG_SERVER_MAX_BODY;
		*con_cls = q;
		/* A declared length over the bound is refused before any of the body is read. */
		if (cl && strtoull(cl, NULL, 10) > q->limit)
			return vg_fail(c, 413, "body over the limit");
		if (route == VG_R_BATCHES) {
			const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								     MHD_HTTP_HEADER_CONTENT_TYPE);

			if (vg_authorize(c, q, &ret))
				return ret;
			q->multi = ct && !strcmp(ct, VG_UPP_CT_FRAMES);
			if (!q->multi && (!ct || strcmp(ct, VG_CT_FRAME)))
				return vg_fail(c, 415,
					       "Content-Type must be " VG_CT_FRAME
					       " or " VG_UPP_CT_FRAMES);
			pthread_mutex_lock(&vg_inflight_lock);
			if (vg_inflight < vg_max_inflight) {
				vg_inflight++;
				q->inflight = 1;
			}
			pthread_mutex_unlock(&vg_inflight_lock);
			if (!q->inflight) {
				vg_log(VG_DEBUG, "server: %u batches in flight, %s told to wait",
				       vg_max_inflight, q->owner);
				return vg_fail(c, 429, "server busy: too many batches in flight");
			}
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* Past the bound nothing more is kept: the rest is read and dropped. */
		if (!q->too_big && *upload_size > q->limit - q->len) {
			q->too_big = 1;
			free(q->buf);
			q->buf = NULL;
		}
		if (!q->too_big) {
			if (q->len + *upload_size > q->cap) {
				/* Grown as the body arrives, up to the bound: a small body holds little. */
				size_t cap = q->cap ? q->cap : 64u << 10;
				uint8_t *p;

				while (cap < q->len + *upload_size)
					cap *= 2;
				if (cap > q->limit)
					cap = q->limit;
				p = realloc(q->buf, cap);
				if (!p)
					return MHD_NO;
				q->buf = p;
				q->cap = cap;
			}
			memcpy(q->buf + q->len, upload, *upload_size);
			q->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		return vg_fail(c, 413, "body over the limit");
	if (q->route == VG_R_HEALTH)
		return vg_health(c);
	if (q->route == VG_R_ENROLL)
		return vg_enroll(c, q);
	return q->multi ? vg_frames(c, q) : vg_batches(c, q);
}

static void vg_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct vg_req *q = *con_cls;

	if (vg_console_done(con_cls))
		return;
	if (q) {
		if (q->inflight) {
			pthread_mutex_lock(&vg_inflight_lock);
			vg_inflight--;
			pthread_mutex_unlock(&vg_inflight_lock);
		}
		free(q->buf);
		free(q);
		*con_cls = NULL;
	}
}

static char *vg_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || len > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)len + 1))) {
		fclose(f);
		errno = EFBIG;
		return NULL;
	}
	n = fread(buf, 1, (size_t)len, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* https://ADDR:PORT (ADDR an IPv4 address or [IPv6]) into ss: 0 or -EINVAL. */
static int vg_parse_listen(const char *url, struct sockaddr_storage *ss, socklen_t *sl)
{
	/* An address is required: ":PORT" (every address) is --metrics' only. */
	if (strncmp(url, "https://", 8) || url[8] == ':' || strchr(url + 8, '/'))
		return -EINVAL;
	return vg_parse_hostport(url + 8, ss, sl);
}

int vg_server_run(const struct vg_server_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *d;
	char why[256] = "", *cert, *key;
	struct vg_pg *pg;
	unsigned int flags;
	sigset_t set;
	int sig, err;

	if (vg_parse_listen(o->listen, &ss, &sl))
		return vg_err(-EINVAL, "server: --listen %s: expected https://ADDR:PORT", o->listen);
	cert = vg_read_file(o->cert);
	if (!cert)
		return vg_err(-errno, "server: --cert %s", o->cert);
	key = vg_read_file(o->key);
	if (!key) {
		err = vg_err(-errno, "server: --key %s", o->key);
		free(cert);
		return err;
	}
	vg_conninfo = o->conninfo;
	if (o->console_pg)
		vg_console_init(o->conninfo, o->console_pg);
	vg_max_inflight = o->max_inflight;
	err = -pthread_key_create(&vg_pg_key, vg_pg_key_free);
	if (err) {
		vg_err(err, "server: thread key");
		goto out;
	}
	err = vg_pg_open(&pg, o->conninfo, why, sizeof(why));
	if (err) {
		vg_log(VG_ERROR, "server: postgresql: %s", why);
		goto out;
	}
	err = vg_pg_migrate(pg);
	vg_pg_close(pg);
	if (err)
		goto out;

	/* Workers inherit the mask: the signals reach the sigwait() below. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, vg_handler, NULL, MHD_OPTION_SOCK_ADDR, &ss,
			     MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_PRIORITIES,
			     "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
			     MHD_OPTION_THREAD_POOL_SIZE, o->threads, MHD_OPTION_CONNECTION_LIMIT,
			     o->max_conns, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_NOTIFY_COMPLETED, vg_completed, NULL, MHD_OPTION_END);
	if (!d) {
		err = vg_err(-EADDRNOTAVAIL, "server: could not listen on %s", o->listen);
		goto out;
	}
	if (o->detect && vg_detect_pg_start(o->detect, o->rules)) {
		MHD_stop_daemon(d);
		err = -EINVAL;
		goto out;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	vg_log(VG_INFO,
	       "server: listening on port %u, %u threads, at most %u connections and %u batches"
	       " in flight",
	       di ? di->port : 0, o->threads, o->max_conns, o->max_inflight);
	sigwait(&set, &sig);
	vg_log(VG_INFO, "server: stopping (signal %d)", sig);
	vg_detect_pg_stop();
	MHD_stop_daemon(d);
	err = 0;
out:
	free(cert);
	free(key);
	return err;
}

/* For the resources served elsewhere (server_int.h). */
struct vg_pg *vg_http_pg(char *why, size_t why_len)
{
	return vg_worker_pg(why, why_len);
}

enum MHD_Result vg_http_fail(struct MHD_Connection *c, unsigned int status, const char *reason)
{
	return vg_fail(c, status, reason);
}

int vg_http_auth(struct MHD_Connection *c, char *owner, enum MHD_Result *ret)
{
	struct vg_req q = { 0 };
	int err = vg_authorize(c, &q, ret);

	if (!err)
		memcpy(owner, q.owner, sizeof(q.owner));
	return err;
}
