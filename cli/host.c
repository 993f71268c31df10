// SPDX-License-Identifier: GPL-2.0-only
/* vigil host: options, then the Linux endpoint (endpoint.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "cli.h"
#include "config.h"
#include "endpoint.h"
#include "generated/vigil_build.h"
#include "hostops.h"
#include "log.h"
#include "upproxy.h"

const char vg_usage_host[] =
	"usage: vigil host [--db FILE] (--listen ADDR | --spawn PATH-TO-VIGILD [ARGS...])\n"
	"                  [--keys FILE] [--hello-timeout S] [--idle-timeout S] [--max-per-peer N]\n"
	"                  [--rules DIR | --no-rules] [--filters FILE] [--print] [--json] [-v]\n"
	"                  [--upstream https://HOST:PORT --onboarding FILE [--proxy URL]]\n"
	"                  [--retain-days N] [--max-db-size SIZE] [--retain-interval S]\n"
	"                  [--metrics ADDR:PORT] [--output SPEC]...\n"
	"                  [--log-format text|json] [--log-level LEVEL]\n"
	"\n"
	"Receive framed batches from vigild, store each in one SQLite transaction and\n"
	"acknowledge it. A resent batch is acknowledged again but stored once. A batch\n"
	"that cannot be committed is not acknowledged (vigild sends it again); when\n"
	"FILE or its WAL is deleted or replaced, the host acknowledges nothing more\n"
	"and exits 1.\n"
	"\n"
	"  --db FILE            SQLite database (created when missing, WAL mode; default:\n"
	"                       db= of /etc/vigil/vigil.conf, else /var/lib/vigil/vigil.db)\n"
	"  --listen ADDR        accept vigild connections on unix:PATH (mode 0600),\n"
	"                       tcp:HOST:PORT or vsock:CID:PORT. Peers prove a key (see\n"
	"                       --keys), except root or our own user on a unix socket only\n"
	"                       we can open; tcp beyond loopback and vsock do not start\n"
	"                       without --keys.\n"
	"  --keys FILE          per-device keys, lines 'DEVICE-ID KEYHEX' (`vigil keygen`);\n"
	"                       owned by root, not readable by group or others. A peer\n"
	"                       proves its device's key (HMAC-SHA256 challenge-response,\n"
	"                       vigild --key) and can then speak for that device only.\n"
	"  --hello-timeout S    close a connection that has not proved its key and said\n"
	"                       HELLO within S seconds (default 5)\n"
	"  --idle-timeout S     close a connection without a frame for S seconds (35 to\n"
	"                       86400, default 120; vigild sends a keepalive every 30 s)\n"
	"  --max-per-peer N     connections of one address, uid or cid (default 8); over\n"
	"                       it, or with all 64 slots taken, the oldest connection that\n"
	"                       has not said who it is makes way\n"
	"  --spawn PATH [ARGS]  start PATH --transport stdio --ignore-pid <our pid> [ARGS]\n"
	"                       on one end of a socketpair; every later argument goes to\n"
	"                       vigild. SIGINT/SIGTERM stop vigild, which drains first.\n"
	"  --rules DIR          detection rules (*.rule) evaluated over what was stored,\n"
	"                       at most once a second while batches arrive, in a\n"
	"                       thread of their own that batches do not wait for;\n"
	"                       alerts go to AlertInfo/AlertEvidence (`vigil alerts`).\n"
	"                       Default: $VIGIL_RULES, the source tree's rules/,\n"
	"                       " VG_DATADIR "/rules. A malformed rule stops the host.\n"
	"  --no-rules           no detections\n"
	"  --filters FILE       filter rules (filters/NAME.vf) sent to every sensor that\n"
	"                       connects, over the connection; SIGHUP re-reads FILE and\n"
	"                       sends it again (`vigil filter apply FILE --pid HOST-PID`).\n"
	"                       Each sensor checks the rules, swaps them in atomically and\n"
	"                       answers; a FILE with errors is not sent.\n"
	"  --upstream URL       send every stored batch on to `vigil server` at URL\n"
	"                       (POST /v1/batches) from the store's outbox\n"
	"                       (UpstreamOutbox, written with the batch): in order, sent\n"
	"                       again after a doubling wait (or the server's Retry-After)\n"
	"                       until it answers 200, kept across restarts. A revoked or\n"
	"                       unknown token keeps everything, tried again every 10 min;\n"
	"                       a frame the server refuses (another 4xx) is counted in\n"
	"                       HostRefused; what retention removes unshipped is counted\n"
	"                       as UpstreamLost. `vigil stats` shows pending and lag.\n"
	"                       URL1,URL2,...: several servers on one database (at most 8);\n"
	"                       one that does not answer is left for the next at once.\n"
	"                       The filter set of the host's machine group (`vigil server\n"
	"                       filters apply`) is fetched at start and every 2 s\n"
	"                       (GET /v1/filters) and sent to every sensor as --filters\n"
	"                       is; the later of the two wins.\n"
	"  --onboarding FILE    with --upstream: the package of `vigil server onboard`\n"
	"                       (its CA, the only one trusted, and the enrolment secret).\n"
	"                       The host enrols as the device of the first sensor that\n"
	"                       sends a batch and keeps the token in DB.token\n"
	"                       (mode 0600; DB.ca.pem holds a ca_pem= CA) for later runs.\n"
	"  --proxy URL          with --upstream: send through the proxy http://HOST:PORT\n"
	"                       (HTTPS by CONNECT; no credentials), or direct. Without it:\n"
	"                       https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY (the first\n"
	"                       set) unless no_proxy or NO_PROXY names the server, else\n"
	"                       direct. `vigil healthcheck` shows the route and tests it.\n"
	"  --retain-days N      delete event rows (the Device*Events tables,\n"
	"                       SuppressedEvents, ReceivedFrames) and unshipped upstream\n"
	"                       frames (counted) older than N days\n"
	"  --max-db-size SIZE   then delete the oldest event rows while the store's pages\n"
	"                       in use exceed SIZE (K, M, G: KiB, MiB, GiB); freed pages\n"
	"                       are reused, the file does not shrink\n"
	"  --retain-interval S  seconds between retention passes (default 300; the first\n"
	"                       runs at start). A pass runs in a thread on its own\n"
	"                       connection, 512 rows a transaction, so storing batches\n"
	"                       waits at most one; what it deleted is counted per table\n"
	"                       in HostCounters (`vigil stats`)\n"
	"  --metrics ADDR:PORT  serve Prometheus text (0.0.4) at http://ADDR:PORT/metrics\n"
	"                       (127.0.0.1:9464, [::1]:9464, :9464 for every address):\n"
	"                       the counters `vigil stats` shows, ring fill, batches,\n"
	"                       bytes, store latency, alerts, retention, outputs\n"
	"  --output SPEC        also write every stored event to SPEC (repeatable, up to 8):\n"
	"                       jsonl:FILE[,max-size=SIZE][,keep=N]  one JSON object a\n"
	"                         line (the schema's columns and \"Table\"); before a line\n"
	"                         would take FILE past SIZE (default 100M, 0 never) FILE\n"
	"                         becomes FILE.1 (FILE.1 FILE.2 ..., N kept, default 5)\n"
	"                         and a new FILE is opened\n"
	"                       syslog[:FACILITY]  each event's JSON object as one message\n"
	"                         to /dev/log (syslog(3)'s form, ident vigil, facility\n"
	"                         daemon by default); waits 1 s at most for a full queue\n"
	"                       An event that cannot be written is counted in\n"
	"                       HostCounters (OutputErrors) and logged.\n"
	"  --log-format F       text (TIME LEVEL vigil: message) or json; also passed to\n"
	"                       the spawned vigild. Under journald: <N> priorities.\n"
	"  --log-level L        error, warning, info (default) or debug\n"
	"  --print              print each stored event on stdout (the `vigil events` form)\n"
	"  --json               with --print: one JSON object per line\n"
	"  -v, --verbose        more diagnostics on stderr\n"
	"  -h, --help           show this text\n";

#ifndef VG_RULES_SRC
#define VG_RULES_SRC "rules"
#endif

static int vg_is_dir(const char *p)
{
	struct stat st;

	return p && *p && !stat(p, &st) && S_ISDIR(st.st_mode);
}

/*
 * The rules directory `vigil host` and `vigil server --detect` load when --rules is not given: $VIGIL_RULES,
 * else the source tree's rules/ this binary was built from, else
 * VG_DATADIR/rules (PREFIX/share/vigil/rules). NULL when none exists.
 */
const char *vg_cli_rules_dir(void)
{
	const char *env = getenv("VIGIL_RULES");

	if (env && *env)
		return env;
#ifndef VG_PACKAGED /* a package's binary never looks in the tree it was built from */
	if (vg_is_dir(VG_RULES_SRC))
		return VG_RULES_SRC;
#endif
	if (vg_is_dir(VG_DATADIR "/rules"))
		return VG_DATADIR "/rules";
	return NULL;
}

int vg_cmd_host(int argc, char **argv)
{
	struct vg_host_opts o = {
		.hello_timeout_s = VG_HOST_HELLO_TIMEOUT_S,
		.idle_timeout_s = VG_HOST_IDLE_TIMEOUT_S,
		.max_per_peer = VG_HOST_MAX_PER_PEER,
		.retain_interval_s = VG_HOST_RETAIN_INTERVAL_S,
	};
	static struct vg_output outputs[VG_HOST_MAX_OUTPUTS];
	const char *val, *listen = NULL, *proxy = NULL;
	int n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (vg_cli_is_help(a)) {
			fputs(vg_usage_host, stdout);
			return 0;
		} else if (vg_cli_opt(argc, argv, &i, "--db", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs a file", "--db");
			o.db = val;
		} else if (vg_cli_opt(argc, argv, &i, "--listen", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs an address", "--listen");
			listen = val;
		} else if (vg_cli_opt(argc, argv, &i, "--spawn", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs the path of vigild",
						    "--spawn");
			o.spawn = val;
			o.spawn_argv = argv + i + 1;
			o.spawn_argc = argc - i - 1;
			break;
		} else if (vg_cli_opt(argc, argv, &i, "--rules", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs a directory", "--rules");
			o.rules = val;
		} else if (!strcmp(a, "--no-rules")) {
			o.no_rules = 1;
		} else if (vg_cli_opt(argc, argv, &i, "--filters", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs a file", "--filters");
			o.filters = val;
		} else if (vg_cli_opt(argc, argv, &i, "--keys", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs a file", "--keys");
			o.keys = val;
		} else if (vg_cli_opt(argc, argv, &i, "--hello-timeout", &val)) {
			if (vg_cli_int("host", "--hello-timeout", val, 1, 600, &n))
				return 2;
			o.hello_timeout_s = (unsigned)n;
		} else if (vg_cli_opt(argc, argv, &i, "--idle-timeout", &val)) {
			if (vg_cli_int("host", "--idle-timeout", val, 35, 86400, &n))
				return 2;
			o.idle_timeout_s = (unsigned)n;
		} else if (vg_cli_opt(argc, argv, &i, "--max-per-peer", &val)) {
			if (vg_cli_int("host", "--max-per-peer", val, 1, 64, &n))
				return 2;
			o.max_per_peer = (unsigned)n;
		} else if (vg_cli_opt(argc, argv, &i, "--upstream", &val)) {
			if (!val || strncmp(val, "https://", 8))
				return vg_cli_usage("host", "%s needs https://HOST:PORT",
						    "--upstream");
			o.upstream = val;
		} else if (vg_cli_opt(argc, argv, &i, "--onboarding", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs a file", "--onboarding");
			o.onboarding = val;
		} else if (vg_cli_opt(argc, argv, &i, "--proxy", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs http://HOST:PORT or direct",
						    "--proxy");
			proxy = val;
		} else if (vg_cli_opt(argc, argv, &i, "--retain-days", &val)) {
			if (vg_cli_int("host", "--retain-days", val, 1, 100000, &n))
				return 2;
			o.retain_days = (unsigned)n;
		} else if (vg_cli_opt(argc, argv, &i, "--max-db-size", &val)) {
			if (vg_parse_size(val, &o.max_db_size) || o.max_db_size < (1 << 20))
				return vg_cli_usage("host",
						    "%s needs a size of 1M or more (K, M, G)",
						    "--max-db-size");
		} else if (vg_cli_opt(argc, argv, &i, "--retain-interval", &val)) {
			if (vg_cli_int("host", "--retain-interval", val, 1, 86400, &n))
				return 2;
			o.retain_interval_s = (unsigned)n;
		} else if (vg_cli_opt(argc, argv, &i, "--metrics", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs ADDR:PORT", "--metrics");
			o.metrics = val;
		} else if (vg_cli_opt(argc, argv, &i, "--output", &val)) {
			if (!val)
				return vg_cli_usage("host", "%s needs jsonl:FILE or syslog",
						    "--output");
			if (o.noutputs == VG_HOST_MAX_OUTPUTS)
				return vg_cli_usage("host", "at most %d --output",
						    VG_HOST_MAX_OUTPUTS);
			if (vg_output_parse(&outputs[o.noutputs], val))
				return 2;
			o.outputs = outputs;
			o.noutputs++;
		} else if (!strcmp(a, "--print")) {
			o.print = 1;
		} else if (!strcmp(a, "--json")) {
			o.json = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			vg_log_max = VG_DEBUG;
		} else if ((n = vg_cli_log_opt("host", argc, argv, &i))) {
			if (n == 2)
				return 2;
		} else {
			return vg_cli_usage("host", "unknown option '%s'", a);
		}
	}
	if (!o.db)
		o.db = vg_cli_default_db();
	if (!!o.upstream != !!o.onboarding)
		return vg_cli_usage("host", "--upstream and --onboarding go together");
	if (proxy && !o.upstream)
		return vg_cli_usage("host", "--proxy goes with --upstream");
	vg_up_proxy_config(proxy);
	if (o.upstream && vg_up_check(o.upstream))
		return 2;
	if (!!listen == !!o.spawn)
		return vg_cli_usage("host", "give one of --listen unix:PATH or --spawn PATH");
	if (listen) {
		struct vg_addr a;

		if (vg_addr_parse(listen, &a) || a.kind == VG_ADDR_STDIO)
			return vg_cli_usage(
				"host",
				"unsupported listen address '%s' (unix:PATH, tcp:HOST:PORT, vsock:CID:PORT)",
				listen);
		o.listen = listen;
		o.listen_path = a.kind == VG_ADDR_UNIX ? listen + 5 : NULL;
	}
	if (o.json && !o.print)
		o.print = 1;
	if (!o.rules && !o.no_rules)
		o.rules = vg_cli_rules_dir();
	return vg_host_run(&o);
}
