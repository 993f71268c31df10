/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The console (console*.c): analysts' pages under /console/ on vigil
 * server's TLS listener, read from PostgreSQL as the analyst role. README,
 * "Console".
 */
#ifndef VG_CONSOLE_H
#define VG_CONSOLE_H

#include <microhttpd.h>
#include <stddef.h>

#include "server.h"

/*
 * Serve the console with pages read through analyst (a libpq conninfo of the
 * read-only analyst role) and logins checked through owner (the server's).
 * Without vg_console_init() every /console/ URL is 404.
 */
void vg_console_init(const char *owner, const char *analyst);
/* Is url the console's (/ or /console...)? */
int vg_console_url(const char *url);
/* libmicrohttpd's access handler for a console URL (con_cls is the console's). */
enum MHD_Result vg_console(struct MHD_Connection *c, const char *url, const char *method,
			   const char *upload, size_t *upload_size, void **con_cls);
/* The request completed: 1 when con_cls was the console's (now freed). */
int vg_console_done(void **con_cls);

/*
 * vigil server analyst add NAME: a new login token for NAME (replacing any
 * it had) stored as its SHA-256 in ConsoleAnalysts: 0 and token set, -EIO.
 * remove: 0, -ENOENT, -EIO.
 */
int vg_console_analyst_add(const char *conninfo, const char *name, char token[VG_TOKEN_HEX + 1]);
int vg_console_analyst_remove(const char *conninfo, const char *name);

#endif
