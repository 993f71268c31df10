/* SPDX-License-Identifier: GPL-2.0-only */
/* What the fleet tests share (fixture.c). Each helper fails the test with a reason. */
#ifndef VG_FLEET_FIXTURE_H
#define VG_FLEET_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch.h"

extern char dir[64], conninfo[512]; /* the temporary dir, the cluster's conninfo */
extern int port; /* of `server` */
extern pid_t server;

const char *srcdir(void);
const char *vigil(void);
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sh_line(char *out, size_t size, const char *cmd);
int server_port(pid_t pid, const char *log);
pid_t spawn_server(const char *log);
/* spawn_server() with more arguments for `vigil server` (extra: NULL-terminated) */
pid_t spawn_server_args(const char *log, const char *const *extra);
/* Batch b packed and framed as frame seq, as vigild sends it, into file name. */
void fx_frame_file(const char *name, const Vigil__V1__Batch *b, uint64_t seq);
void fx_pg_ca(void);
void fx_server_onboard(void);
void fx_cleanup_dir(void);
/* SIGTERM `server` and wait for it (nothing when it is not running). */
void fx_server_stop(void);
char *pgq(const char *sql);
/* VG_FLEET_SHARDS=2: the tests run on a coordinator with two shards (pgtest.sh start-sharded). */
int fx_sharded(void);
/*
 * POST file to https://127.0.0.1:port/path (bearer token unless NULL) with
 * curl: the HTTP status; the body in resp.txt, the headers in resp.hdr.
 */
int fx_post(const char *path, const char *file, const char *token, const char *ctype);
/* Enrol dev with ob.txt's secret: its token in token (VG_FX_TOKEN bytes). */
#define VG_FX_TOKEN 65
void fx_enroll(const char *dev, char *token);
const char *fx_pg_start(void);
void fx_pg_stop(void);
void fx_pg_resume(void);
/* The number after "key": in a JSON line (-1 when absent). */
long long fx_json_num(const char *line, const char *key);

#endif
