// SPDX-License-Identifier: GPL-2.0-only
/* What the fleet tests share: a throwaway PostgreSQL, a CA, the server (fixture.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "frame.h"

char dir[64], conninfo[512];
int port;
pid_t server = -1;

/*
 * The source tree (VG_SRCDIR, default the working directory) and the vigil
 * binary (VIGIL, default build/vigil), as absolute paths: the tests chdir.
 */
static char src_abs[PATH_MAX], vigil_abs[PATH_MAX];

const char *srcdir(void)
{
	const char *s = getenv("VG_SRCDIR");

	if (!src_abs[0])
		cr_assert_not_null(realpath(s ? s : ".", src_abs), "VG_SRCDIR: %s",
				   strerror(errno));
	return src_abs;
}

const char *vigil(void)
{
	const char *s = getenv("VIGIL");

	if (!vigil_abs[0])
		cr_assert_not_null(realpath(s ? s : "build/vigil", vigil_abs), "VIGIL: %s",
				   strerror(errno));
	return vigil_abs;
}

void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "%s: exit %d", cmd, rc);
}

/* The first line a command prints, without its newline. */
void sh_line(char *out, size_t size, const char *cmd)
{
	FILE *p = popen(cmd, "r");

	cr_assert_not_null(p);
	cr_assert_not_null(fgets(out, (int)size, p), "%s printed nothing", cmd);
	out[strcspn(out, "\n")] = 0;
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

/* Wait for the server's "listening on port N" (not a timing assertion: it waits until it is up). */
int server_port(pid_t pid, const char *log)
{
	char path[128], line[256];
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, log);
	for (int tries = 0; tries < 600; tries++) {
		FILE *f = fopen(path, "r");

		while (f && fgets(line, sizeof(line), f)) {
			char *p = strstr(line, "listening on port ");

			if (p)
				n = atoi(p + 18);
		}
		if (f)
			fclose(f);
		if (n)
			return n;
		cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "vigil server exited; see %s", path);
		usleep(100 * 1000);
	}
	cr_assert_fail("vigil server did not start; see %s", path);
	return 0;
}

/* Start `vigil server` on a free port, its log in dir/log. */
pid_t spawn_server(const char *log)
{
	return spawn_server_args(log, NULL);
}

pid_t spawn_server_args(const char *log, const char *const *extra)
{
	const char *argv[32] = { "vigil",   "server",	 "--pg",
				 conninfo,  "--listen",	 "https://127.0.0.1:0",
				 "--cert",  "srv.pem",	 "--key",
				 "srv.key", "--threads", "2" };
	char path[128];
	int n = 12;
	pid_t pid;

	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	snprintf(path, sizeof(path), "%s/%s", dir, log);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (!pid) {
		if (!freopen(path, "w", stderr))
			_exit(127);
		execv(vigil(), (char *const *)argv);
		_exit(127);
	}
	return pid;
}

void fx_frame_file(const char *name, const Vigil__V1__Batch *b, uint64_t seq)
{
	struct vg_frame_hdr h = { .type = VG_FRAME_BATCH, .flags = VG_FRAME_F_ZSTD, .seq = seq };
	uint8_t hdr[VG_FRAME_HDR_LEN], *payload;
	size_t len;
	FILE *f;

	cr_assert_eq(vg_batch_pack(b, 3, &payload, &len), 0);
	h.len = (uint32_t)len;
	vg_frame_hdr_pack(hdr, &h, payload);
	f = fopen(name, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	cr_assert_eq(fwrite(payload, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	free(payload);
}

/*
 * A temporary dir (mode 0711: PostgreSQL, run as postgres, passes through
 * it) with a cluster in dir/pg, ca.pem and the server's srv.pem/srv.key for
 * 127.0.0.1, and the working directory moved there.
 */
void fx_pg_ca(void)
{
	char cmd[512];

	srcdir();
	vigil();
	strcpy(dir, "/tmp/vigil-fleet-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* PostgreSQL runs as the postgres user: it passes through this folder. */
	cr_assert_eq(chmod(dir, 0711), 0);
	snprintf(cmd, sizeof(cmd), "%s/scripts/pgtest.sh %s %s/pg", srcdir(), fx_pg_start(), dir);
	sh_line(conninfo, sizeof(conninfo), cmd);
	sh("cd %s && certtool --generate-privkey --key-type=ecdsa --outfile ca.key 2>/dev/null &&"
	   " printf 'cn = vigil test CA\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' > ca.tmpl &&"
	   " certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl"
	   " --outfile ca.pem 2>/dev/null &&"
	   " certtool --generate-privkey --key-type=ecdsa --outfile srv.key 2>/dev/null &&"
	   " printf 'cn = 127.0.0.1\\nip_address = 127.0.0.1\\ntls_www_server\\n"
	   "expiration_days = 2\\n' > srv.tmpl &&"
	   " certtool --generate-certificate --load-privkey srv.key --load-ca-certificate ca.pem"
	   " --load-ca-privkey ca.key --template srv.tmpl --outfile srv.pem 2>/dev/null",
	   dir);
	cr_assert_eq(chdir(dir), 0);
}

int fx_sharded(void)
{
	const char *s = getenv("VG_FLEET_SHARDS");

	return s && *s && strcmp(s, "0");
}

/* The pgtest.sh command that starts the topology (start-sharded runs $VIGIL server shards). */
const char *fx_pg_start(void)
{
	if (!fx_sharded())
		return "start";
	cr_assert_eq(setenv("VIGIL", vigil(), 1), 0);
	return "start-sharded";
}

int fx_post(const char *path, const char *file, const char *token, const char *ctype)
{
	char cmd[1024], code[16];

	snprintf(cmd, sizeof(cmd),
		 "curl -sS --cacert ca.pem -o resp.txt -D resp.hdr -w '%%{http_code}'"
		 " --data-binary @%s %s%s%s -H 'Content-Type: %s' https://127.0.0.1:%d%s",
		 file, token ? "-H 'Authorization: Bearer " : "", token ? token : "",
		 token ? "'" : "", ctype, port, path);
	sh_line(code, sizeof(code), cmd);
	return atoi(code);
}

void fx_enroll(const char *dev, char *token)
{
	char line[256], body[512];
	FILE *f = fopen("ob.txt", "r");
	char *p;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) && strncmp(line, "secret=", 7))
		;
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	f = fopen("enroll.json", "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"secret\":\"%s\",\"device_id\":\"%s\",\"device_name\":\"N\"}", line + 7, dev);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(fx_post("/v1/enroll", "enroll.json", NULL, "application/json"), 200);
	f = fopen("resp.txt", "r");
	cr_assert_not_null(f);
	body[fread(body, 1, sizeof(body) - 1, f)] = 0;
	fclose(f);
	p = strstr(body, "\"token\":\"");
	cr_assert_not_null(p, "%s", body);
	snprintf(token, VG_FX_TOKEN, "%.64s", p + 9);
}

/* fx_pg_ca(), the server on a free port and its onboarding package in ob.txt. */
void fx_server_onboard(void)
{
	fx_pg_ca();
	server = spawn_server("server.log");
	port = server_port(server, "server.log");
	sh("'%s' server onboard --pg '%s' --url https://127.0.0.1:%d --ca ca.pem --out ob.txt"
	   " >/dev/null",
	   vigil(), conninfo, port);
}

void fx_server_stop(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
}

/* Stop the cluster and remove dir (after the processes using it are gone). */
void fx_cleanup_dir(void)
{
	char cmd[512];

	if (chdir("/") == 0 && dir[0]) {
		snprintf(cmd, sizeof(cmd), "%s/scripts/pgtest.sh stop %s/pg; rm -rf '%s'", srcdir(),
			 dir, dir);
		if (system(cmd))
			fprintf(stderr, "cleanup: %s failed\n", cmd);
		dir[0] = 0;
	}
}

/* One value of a query, as text ("" for none). */
char *pgq(const char *sql)
{
	static char out[512];
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	snprintf(out, sizeof(out), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
	return out;
}

/* Stop the cluster (pg_ctl stop -m fast), or start it again on its port. */
void fx_pg_stop(void)
{
	sh("%s/scripts/pgtest.sh stop %s/pg", srcdir(), dir);
}

void fx_pg_resume(void)
{
	sh("%s/scripts/pgtest.sh resume %s/pg", srcdir(), dir);
}

long long fx_json_num(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	return p ? atoll(p + strlen(k)) : -1;
}
