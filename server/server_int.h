/* SPDX-License-Identifier: GPL-2.0-only */
/* What server.c lends the resources served elsewhere (filtersets.c: GET /v1/filters). */
#ifndef VG_SERVER_INT_H
#define VG_SERVER_INT_H

#include <microhttpd.h>
#include <stddef.h>

#include "fmt.h"
#include "server.h"

/* The worker thread's database connection, made on first use: NULL with why set. */
struct vg_pg *vg_http_pg(char *why, size_t why_len);
/* {"error":"reason"} with status (503 and 429 with their Retry-After). */
enum MHD_Result vg_http_fail(struct MHD_Connection *c, unsigned int status, const char *reason);
/*
 * The request's bearer token: 0 with its device in owner (VG_DEVICE_ID_MAX +
 * 1 bytes), or -1 with the refusal (401, 403, 503) queued in *ret.
 */
int vg_http_auth(struct MHD_Connection *c, char *owner, enum MHD_Result *ret);

/* GET /v1/filters (filtersets.c). */
enum MHD_Result vg_filters_get(struct MHD_Connection *c, const char *method);

#endif
