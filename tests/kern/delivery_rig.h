/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The delivery rig of tests/kern/test_delivery.c and test_spool.c: a real
 * `vigil host --listen` and a real vigild started apart (unix, or tcp with
 * keys), their logs, the spool, and the checks every delivery test ends with.
 */
#ifndef VG_DELIVERY_RIG_H
#define VG_DELIVERY_RIG_H

#include <sys/types.h>

#include "harness.h"

struct dlv_rig {
	struct vg_t_host h; /* dir, db, log; h.pid is the host */
	char addr[160], spool[160], devid[64], marker[64];
	char keys[160], key[160]; /* tcp: the host's --keys and vigild's --key */
	int port;
	pid_t vigild;
	int starts; /* of vigild, to find its 'watching' lines in the log */
	int tmpfs;
};

extern struct dlv_rig dlv;

const char *dlv_bin(const char *env, const char *fallback);
pid_t dlv_run(char *const argv[], const char *log);
void dlv_write_key(const char *path, int seed);
void dlv_rig_setup(const char *transport);
void dlv_rig_teardown(void);
void dlv_host_start(void);
void dlv_host_kill(int sig);
void dlv_vigild_start(int spool, const char *const *extra);
void dlv_wait_settled(void);
void dlv_vigild_stop(void);
void dlv_execs(int from, int n);
void dlv_marked(int from, int n, long long *rows, long long *distinct);
void dlv_wait_marked(int from, int n);
void dlv_assert_exactly_once(int from, int n);
long long dlv_assert_counted(void);
long long dlv_db_int(const char *fmt, const char *arg);
int dlv_log_has(const char *s);
void dlv_tmpfs_mount(char *full, size_t size, const char *opts);
void dlv_fill_up(const char *dir, char *filler, size_t size);

#endif
