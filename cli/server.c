// SPDX-License-Identifier: GPL-2.0-only
/* vigil server: the fleet service, its onboarding packages and revocations (server/). */
#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "console.h"
#include "filter.h"
#include "log.h"
#include "server.h"

const char vg_usage_server[] =
	"usage: vigil server --pg CONNINFO --listen https://ADDR:PORT --cert FILE --key FILE\n"
	"                    [--threads N] [--max-connections N] [--max-inflight N]\n"
	"                    [--retain-days N] [--detect CONNINFO [--rules DIR]]\n"
	"                    [--console-pg CONNINFO]\n"
	"       vigil server onboard --pg CONNINFO --url https://HOST:PORT --ca CA.pem --out FILE\n"
	"                            [--group G]\n"
	"       vigil server revoke --pg CONNINFO DEVICE-ID\n"
	"       vigil server roles --pg CONNINFO [--ingest ROLE] [--analyst ROLE] [--detect ROLE]\n"
	"       vigil server shards --pg CONNINFO --shard CONNINFO [--shard CONNINFO]...\n"
	"       vigil server analyst add|remove --pg CONNINFO NAME\n"
	"       vigil server filters apply --pg CONNINFO FILE [--group G]\n"
	"       vigil server filters list --pg CONNINFO [--json]\n"
	"       vigil server filters show --pg CONNINFO [--group G] [--version N]\n"
	"       vigil server filters hits --pg CONNINFO [--group G] [--version N] [--devices]\n"
	"                                 [--json]\n"
	"       vigil server group --pg CONNINFO DEVICE-ID GROUP\n"
	"\n"
	"The fleet service: hosts POST their batches over HTTPS (TLS 1.2+) and the server\n"
	"stores each in PostgreSQL (CONNINFO, a libpq connection string) exactly once, in the\n"
	"local store's tables, answering only after the commit. The schema is created or\n"
	"migrated on start. PORT 0 takes a free port (logged). API: GET /v1/health,\n"
	"POST /v1/enroll, POST /v1/batches, GET /v1/filters (README, \"Fleet server\").\n"
	"\n"
	"  --pg CONNINFO        the PostgreSQL database (e.g. 'host=/run/postgresql dbname=vigil')\n"
	"  --listen URL         https://ADDR:PORT, ADDR an IPv4 address or [IPv6]\n"
	"  --cert FILE          the server's certificate chain (PEM)\n"
	"  --key FILE           its private key (PEM)\n"
	"  --threads N          worker threads, each with its own database connection (default 4)\n"
	"  --max-connections N  connections held at once; more wait in the backlog (default 256)\n"
	"  --max-inflight N     batches received or being stored at once (each body up to\n"
	"                       4 MiB in memory); more are answered 429 with Retry-After: 1\n"
	"                       before their body is read (default 64)\n"
	"  --retain-days N      drop the event tables' day partitions older than N days before\n"
	"                       today (UTC), on start and daily; logged and counted in\n"
	"                       RetentionDropped (default: keep every day)\n"
	"  --detect CONNINFO    run the detection rules over the fleet's tables, connected\n"
	"                       as the detector's role (roles --detect); one server of\n"
	"                       several at a time runs them, another takes over when it\n"
	"                       stops. Alerts name their device (vigil alerts --pg).\n"
	"  --rules DIR          the rules (*.rule) --detect runs; a malformed rule stops\n"
	"                       the server, one PostgreSQL cannot run is logged and left\n"
	"                       out. Default: $VIGIL_RULES, the source tree's rules/,\n"
	"                       the installed rules\n"
	"  --console-pg CONNINFO  serve the console (https://ADDR:PORT/console/: devices,\n"
	"                       timelines, hunting, alerts) reading through CONNINFO, the\n"
	"                       analyst role's (read-only; `roles` makes it); analysts log\n"
	"                       in with a token from `analyst add` (default: no console)\n"
	"\n"
	"onboard: make a new enrolment secret (stored hashed) and write the onboarding package\n"
	"FILE (mode 0600): url=, ca_pem= (CA.pem in base64 on one line) and secret= lines.\n"
	"A host enrols once with it and gets its own token; the server keeps the token's\n"
	"SHA-256 only. --group G: the devices that enrol with it are in machine group G\n"
	"(unless `group` named theirs first).\n"
	"revoke: the device's token is refused (403) from the next request on.\n"
	"roles: create (LOGIN, no password) or update the ingest role (default vigil_ingest:\n"
	"INSERT into the event tables and no SELECT of them) for the server's CONNINFO and the\n"
	"analyst role (default vigil_analyst: SELECT only) for hunt/alerts --pg and the\n"
	"detector's role (default vigil_detect: reads the events, writes only AlertInfo,\n"
	"AlertEvidence, DetectionState and DetectionFailed) for --detect. Run it as the\n"
	"schema's owner; a migrated database needs no more from the server's role.\n"
	"shards: spread the devices' rows over the --shard servers (at most 64), hash partitions\n"
	"on DeviceId through postgres_fdw; --pg is the coordinator the servers and hunters use.\n"
	"Run it once, as a superuser, on an empty fleet database, before roles (docs/fleet.md).\n"
	"analyst add: a new console login token for NAME (printed once, kept as its SHA-256;\n"
	"a NAME that had one gets a new one); remove: NAME can no longer log in.\n"
	"filters apply: check FILE (filters/NAME.vf) with the sensor's compiler (errors as\n"
	"FILE:line:col, nothing stored) and store it as the next version of machine group G\n"
	"(default \"default\"); the hosts of the group fetch it within seconds and hand it to\n"
	"their sensors. The same text as the current version stores nothing.\n"
	"filters list: each group's current version; show: a version's text (default the\n"
	"latest); hits: each rule's hits summed over every sensor of the group's devices\n"
	"that runs exactly that version's rules, with the number of devices, or per\n"
	"device (--devices); `vigil top --pg` ranks every group's rules by them.\n"
	"group: DEVICE-ID (an enrolled host's id) is in GROUP from its next fetch on.\n"
	"\n"
	"  -h, --help           show this text\n";

/* Open the database and bring its schema up to date: 0, or 1 (logged as "CMD: ..."). */
static int vg_server_db(const char *cmd, const char *conninfo, struct vg_pg **pg)
{
	char why[256];

	if (vg_pg_open(pg, conninfo, why, sizeof(why))) {
		vg_log(VG_ERROR, "%s: postgresql: %s", cmd, why);
		return 1;
	}
	if (vg_pg_migrate(*pg)) {
		vg_pg_close(*pg);
		return 1;
	}
	return 0;
}

static int vg_server_onboard(int argc, char **argv)
{
	const char *pgc = NULL, *url = NULL, *ca = NULL, *out = NULL, *group = NULL, *v;
	char secret[VG_TOKEN_HEX + 1];
	struct vg_pg *pg;
	char *pem = NULL, *b64 = NULL;
	size_t n = 0;
	FILE *f;
	int fd, err;

	for (int i = 1; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			pgc = v;
		} else if (vg_cli_opt(argc, argv, &i, "--url", &v)) {
			url = v;
		} else if (vg_cli_opt(argc, argv, &i, "--ca", &v)) {
			ca = v;
		} else if (vg_cli_opt(argc, argv, &i, "--out", &v)) {
			out = v;
		} else if (vg_cli_opt(argc, argv, &i, "--group", &v)) {
			if (!v || !vg_group_valid(v))
				return vg_cli_usage("server onboard",
						    "--group: 1 to %d of A-Z a-z 0-9 . _ -",
						    VG_GROUP_MAX);
			group = v;
		} else {
			return vg_cli_usage("server onboard", "unknown argument '%s'", argv[i]);
		}
	}
	if (!pgc || !url || !ca || !out)
		return vg_cli_usage("server onboard", "--pg, --url, --ca and --out are required");
	if (strncmp(url, "https://", 8) || strpbrk(url, " \t\r\n"))
		return vg_cli_usage("server onboard", "--url must be https://HOST:PORT");
	f = fopen(ca, "rb");
	if (!f)
		return vg_err(-errno, "server onboard: --ca %s", ca), 1;
	pem = malloc(1 << 20);
	if (pem)
		n = fread(pem, 1, 1 << 20, f);
	fclose(f);
	if (!pem || !n || n == 1 << 20 || !memmem(pem, n, "-----BEGIN CERTIFICATE-----", 27)) {
		free(pem);
		vg_log(VG_ERROR, "server onboard: --ca %s: not a PEM certificate under 1 MiB", ca);
		return 1;
	}
	b64 = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
	if (!b64) {
		free(pem);
		return vg_err(-ENOMEM, "server onboard"), 1;
	}
	base64_encode_raw(b64, n, (const uint8_t *)pem);
	b64[BASE64_ENCODE_RAW_LENGTH(n)] = 0;
	free(pem);
	if (vg_server_db("server onboard", pgc, &pg)) {
		free(b64);
		return 1;
	}
	err = vg_pg_new_secret(pg, secret);
	if (!err && group)
		err = vg_pg_secret_group(pg, secret, group);
	vg_pg_close(pg);
	if (err) {
		free(b64);
		return vg_err(err, "server onboard: new secret"), 1;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd < 0 || fchmod(fd, 0600) ? NULL : fdopen(fd, "w");
	if (!f) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		free(b64);
		return vg_err(err, "server onboard: %s", out), 1;
	}
	fprintf(f, "url=%s\nca_pem=%s\nsecret=%s\n", url, b64, secret);
	free(b64);
	if (fclose(f))
		return vg_err(-errno, "server onboard: %s", out), 1;
	memset(secret, 0, sizeof(secret));
	printf("wrote the onboarding package %s\n", out);
	return 0;
}

/*
 * --pg CONNINFO and exactly n arguments into pos[] (what says which, for the
 * usage message): 0, -1 when --help was printed, or 2 after the usage error.
 */
static int vg_server_args(int argc, char **argv, const char *cmd, const char *what,
			  const char **pgc, const char **pos, int n)
{
	const char *v;
	int got = 0;

	*pgc = NULL;
	for (int i = 1; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return -1;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			*pgc = v;
		} else if (argv[i][0] == '-' || got == n) {
			return vg_cli_usage(cmd, "unknown argument '%s'", argv[i]);
		} else {
			pos[got++] = argv[i];
		}
	}
	if (!*pgc || got < n)
		return vg_cli_usage(cmd, "--pg and %s are required", what);
	return 0;
}

static int vg_server_revoke(int argc, char **argv)
{
	const char *pgc, *dev;
	struct vg_pg *pg;
	int err;

	err = vg_server_args(argc, argv, "server revoke", "a DEVICE-ID", &pgc, &dev, 1);
	if (err)
		return err < 0 ? 0 : err;
	if (vg_server_db("server revoke", pgc, &pg))
		return 1;
	err = vg_pg_revoke(pg, dev);
	vg_pg_close(pg);
	if (err == -ENOENT) {
		vg_log(VG_ERROR, "server revoke: no enrolled device '%s'", dev);
		return 1;
	}
	if (err)
		return vg_err(err, "server revoke"), 1;
	printf("revoked %s\n", dev);
	return 0;
}

static int vg_server_roles(int argc, char **argv)
{
	const char *pgc = NULL, *ingest = "vigil_ingest", *analyst = "vigil_analyst", *v;
	const char *detect = "vigil_detect";
	struct vg_pg *pg;
	int err;

	for (int i = 1; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			pgc = v;
		} else if (vg_cli_opt(argc, argv, &i, "--ingest", &v)) {
			ingest = v;
		} else if (vg_cli_opt(argc, argv, &i, "--analyst", &v)) {
			analyst = v;
		} else if (vg_cli_opt(argc, argv, &i, "--detect", &v)) {
			detect = v;
		} else {
			return vg_cli_usage("server roles", "unknown argument '%s'", argv[i]);
		}
	}
	if (!pgc)
		return vg_cli_usage("server roles", "--pg is required");
	if (!ingest || !analyst || !detect || !*ingest || !*analyst || !*detect ||
	    !strcmp(ingest, analyst) || !strcmp(ingest, detect) || !strcmp(analyst, detect))
		return vg_cli_usage("server roles",
				    "--ingest, --analyst and --detect must be three names");
	if (vg_server_db("server roles", pgc, &pg))
		return 1;
	err = vg_pg_roles(pg, ingest, analyst, detect);
	vg_pg_close(pg);
	if (err)
		return vg_err(err, "server roles"), 1;
	printf("ingest role %s, analyst role %s, detector role %s\n", ingest, analyst, detect);
	return 0;
}

#define VG_SHARDS_MAX 64

static int vg_server_shards(int argc, char **argv)
{
	const char *pgc = NULL, *shards[VG_SHARDS_MAX], *v;
	int n = 0;

	for (int i = 1; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			pgc = v;
		} else if (vg_cli_opt(argc, argv, &i, "--shard", &v)) {
			if (n == VG_SHARDS_MAX)
				return vg_cli_usage("server shards", "more than %d --shard",
						    VG_SHARDS_MAX);
			shards[n++] = v;
		} else {
			return vg_cli_usage("server shards", "unknown argument '%s'", argv[i]);
		}
	}
	if (!pgc || !n)
		return vg_cli_usage("server shards", "--pg and a --shard are required");
	if (vg_pg_shards(pgc, shards, n))
		return 1;
	printf("%d shards behind the coordinator\n", n);
	return 0;
}

static int vg_server_analyst(int argc, char **argv)
{
	const char *pgc = NULL, *name = NULL, *op = argc > 1 ? argv[1] : "", *v;
	char token[VG_TOKEN_HEX + 1];
	struct vg_pg *pg;
	int err;

	for (int i = 2; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			pgc = v;
		} else if (argv[i][0] == '-' || name) {
			return vg_cli_usage("server analyst", "unknown argument '%s'", argv[i]);
		} else {
			name = argv[i];
		}
	}
	if (strcmp(op, "add") && strcmp(op, "remove"))
		return vg_cli_usage("server analyst", "add or remove, not '%s'", op);
	if (!pgc || !name)
		return vg_cli_usage("server analyst", "--pg and a NAME are required");
	if (!*name || strlen(name) > 63 || strpbrk(name, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\r"))
		return vg_cli_usage("server analyst", "NAME: 1 to 63 bytes, no control characters");
	if (vg_server_db("server analyst", pgc, &pg))
		return 1;
	vg_pg_close(pg);
	if (!strcmp(op, "remove")) {
		err = vg_console_analyst_remove(pgc, name);
		if (err == -ENOENT) {
			vg_log(VG_ERROR, "server analyst: no analyst '%s'", name);
			return 1;
		}
		if (err)
			return vg_err(err, "server analyst remove"), 1;
		printf("removed %s\n", name);
		return 0;
	}
	err = vg_console_analyst_add(pgc, name, token);
	if (err)
		return vg_err(err, "server analyst add"), 1;
	printf("%s\n", token);
	memset(token, 0, sizeof(token));
	return 0;
}

/* vigil server filters apply|list|show|hits (argv[0] is the verb). */
static int vg_server_filters(int argc, char **argv)
{
	const char *pgc = NULL, *group = VG_GROUP_DEFAULT, *file = NULL, *verb, *v;
	int json = 0, devices = 0, version = 0, err;
	char cmd[64];
	struct vg_pg *pg;
	char *text = NULL;
	size_t len = 0;
	long long applied = 0;

	if (argc < 2 || vg_cli_is_help(argv[1])) {
		if (argc >= 2) {
			fputs(vg_usage_server, stdout);
			return 0;
		}
		return vg_cli_usage("server filters", "apply, list, show or hits?");
	}
	verb = argv[1];
	if (strcmp(verb, "apply") && strcmp(verb, "list") && strcmp(verb, "show") &&
	    strcmp(verb, "hits"))
		return vg_cli_usage("server filters", "unknown command '%s'", verb);
	snprintf(cmd, sizeof(cmd), "server filters %s", verb);
	for (int i = 2; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			pgc = v;
		} else if (strcmp(verb, "list") && vg_cli_opt(argc, argv, &i, "--group", &v)) {
			group = v;
		} else if (strcmp(verb, "apply") && strcmp(verb, "list") &&
			   vg_cli_opt(argc, argv, &i, "--version", &v)) {
			if (vg_cli_int(cmd, "--version", v, 1, 2147483647, &version))
				return 2;
		} else if (!strcmp(verb, "hits") && !strcmp(argv[i], "--devices")) {
			devices = 1;
		} else if ((!strcmp(verb, "hits") || !strcmp(verb, "list")) &&
			   !strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(verb, "apply") && argv[i][0] != '-' && !file) {
			file = argv[i];
		} else {
			return vg_cli_usage(cmd, "unknown argument '%s'", argv[i]);
		}
	}
	if (!pgc)
		return vg_cli_usage(cmd, "--pg is required");
	if (!strcmp(verb, "apply") && !file)
		return vg_cli_usage(cmd, "which rule FILE?");
	if (!group || !vg_group_valid(group))
		return vg_cli_usage(cmd, "--group: 1 to %d of A-Z a-z 0-9 . _ -", VG_GROUP_MAX);
	if (file) {
		err = vg_vf_read_file(file, &text, &len);
		if (err) {
			vg_err(err, "%s: %s", cmd, file);
			return 1;
		}
	}
	if (vg_server_db(cmd, pgc, &pg)) {
		free(text);
		return 1;
	}
	if (!strcmp(verb, "apply")) {
		err = vg_pg_filters_apply(pg, group, file, text, len, stderr, &applied);
		if (!err)
			printf("filter set %s version %lld stored\n", group, applied);
		else if (err == -EALREADY)
			printf("filter set %s version %lld already has this text: nothing stored\n",
			       group, applied);
		else if (err == -EINVAL)
			vg_log(VG_ERROR, "%s: %s has errors; nothing stored", cmd, file);
		if (err == -EALREADY)
			err = 0;
	} else if (!strcmp(verb, "list")) {
		err = vg_pg_filters_list(pg, stdout, json);
	} else if (!strcmp(verb, "show")) {
		err = vg_pg_filters_show(pg, stdout, group, version);
	} else {
		err = vg_pg_filters_hits(pg, stdout, group, version, devices, json);
	}
	vg_pg_close(pg);
	free(text);
	if (err == -ENOENT)
		vg_log(VG_ERROR, "%s: group %s has no filter set%s", cmd, group,
		       version ? " of that version" : "");
	else if (err && err != -EINVAL && err != -EPIPE)
		vg_err(err, "%s", cmd);
	return err && err != -EPIPE ? 1 : 0;
}

static int vg_server_group(int argc, char **argv)
{
	const char *pgc, *pos[2], *dev, *group;
	struct vg_pg *pg;
	int err;

	err = vg_server_args(argc, argv, "server group", "a DEVICE-ID with its GROUP", &pgc, pos,
			     2);
	if (err)
		return err < 0 ? 0 : err;
	dev = pos[0];
	group = pos[1];
	if (!*dev || strlen(dev) > VG_DEVICE_ID_MAX)
		return vg_cli_usage("server group", "DEVICE-ID: 1 to %d bytes", VG_DEVICE_ID_MAX);
	if (!vg_group_valid(group))
		return vg_cli_usage("server group", "GROUP: 1 to %d of A-Z a-z 0-9 . _ -",
				    VG_GROUP_MAX);
	if (vg_server_db("server group", pgc, &pg))
		return 1;
	err = vg_pg_group_set(pg, dev, group);
	vg_pg_close(pg);
	if (err)
		return vg_err(err, "server group"), 1;
	printf("%s is in group %s\n", dev, group);
	return 0;
}

/* --retain-days: drop what is past it once before serving (the server does it daily after). */
static int vg_server_retain(const char *conninfo, int days)
{
	struct vg_pg *pg;
	int err;

	vg_pg_set_retain_days(days);
	if (vg_server_db("server", conninfo, &pg))
		return 1;
	err = vg_pg_maintain(pg);
	vg_pg_close(pg);
	return err ? 1 : 0;
}

int vg_cmd_server(int argc, char **argv)
{
	struct vg_server_opts o = { .threads = 4, .max_conns = 256, .max_inflight = 64 };
	const char *v;
	int n, retain = 0;

	if (argc > 1 && !strcmp(argv[1], "onboard"))
		return vg_server_onboard(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "revoke"))
		return vg_server_revoke(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "roles"))
		return vg_server_roles(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "shards"))
		return vg_server_shards(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "analyst"))
		return vg_server_analyst(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "filters"))
		return vg_server_filters(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "group"))
		return vg_server_group(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if (vg_cli_is_help(argv[i])) {
			fputs(vg_usage_server, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--pg", &v)) {
			o.conninfo = v;
		} else if (vg_cli_opt(argc, argv, &i, "--listen", &v)) {
			o.listen = v;
		} else if (vg_cli_opt(argc, argv, &i, "--cert", &v)) {
			o.cert = v;
		} else if (vg_cli_opt(argc, argv, &i, "--key", &v)) {
			o.key = v;
		} else if (vg_cli_opt(argc, argv, &i, "--threads", &v)) {
			if (vg_cli_int("server", "--threads", v, 1, 256, &n))
				return 2;
			o.threads = (unsigned int)n;
		} else if (vg_cli_opt(argc, argv, &i, "--max-connections", &v)) {
			if (vg_cli_int("server", "--max-connections", v, 1, 65536, &n))
				return 2;
			o.max_conns = (unsigned int)n;
		} else if (vg_cli_opt(argc, argv, &i, "--retain-days", &v)) {
			if (vg_cli_int("server", "--retain-days", v, 1, 36500, &retain))
				return 2;
		} else if (vg_cli_opt(argc, argv, &i, "--detect", &v)) {
			if (!v || !*v)
				return vg_cli_usage("server", "%s needs a conninfo", "--detect");
			o.detect = v;
		} else if (vg_cli_opt(argc, argv, &i, "--rules", &v)) {
			if (!v || !*v)
				return vg_cli_usage("server", "%s needs a directory", "--rules");
			o.rules = v;
		} else if (vg_cli_opt(argc, argv, &i, "--console-pg", &v)) {
			o.console_pg = v;
		} else if (vg_cli_opt(argc, argv, &i, "--max-inflight", &v)) {
			if (vg_cli_int("server", "--max-inflight", v, 1, 4096, &n))
				return 2;
			o.max_inflight = (unsigned int)n;
		} else {
			return vg_cli_usage("server", "unknown argument '%s'", argv[i]);
		}
	}
	if (!o.conninfo || !o.listen || !o.cert || !o.key)
		return vg_cli_usage("server", "--pg, --listen, --cert and --key are required");
	if (o.rules && !o.detect)
		return vg_cli_usage("server", "--rules needs --detect");
	if (o.detect && !o.rules)
		o.rules = vg_cli_rules_dir();
	if (o.detect && !o.rules) {
		vg_log(VG_ERROR, "server: --detect: no rules directory; give --rules DIR");
		return 1;
	}
	if (retain && vg_server_retain(o.conninfo, retain))
		return 1;
	return vg_server_run(&o) ? 1 : 0;
}
