// SPDX-License-Identifier: GPL-2.0-only
/* vigild's command line: defaults from Kconfig, --help, and every option's check. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>

#include "daemon.h"
#include "generated/vigil_build.h"
#include "include/generated/autoconf.h"
#include "log.h"
#include "names.h"

/* "exec,file,..." into source bits; -EINVAL naming the bad word. */
static int vg_parse_sources(const char *list, unsigned int *out)
{
	char buf[256], *save = NULL, *w;

	snprintf(buf, sizeof(buf), "%s", list);
	*out = 0;
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int i;

		if (!strcmp(w, "all")) {
			*out = (1u << VG_SRC_MAX) - 1;
			continue;
		}
		i = vg_source_find(w);
		if (i < 0) {
			vg_log(VG_ERROR,
			       "unknown source '%s' (exec, fork, exit, file, network, security, all)",
			       w);
			return -EINVAL;
		}
		*out |= 1u << i;
	}
	return 0;
}

/* "GROUP[:HOOK]" into o->deny; -EINVAL when unknown. */
static int vg_parse_deny(const char *arg, struct vg_bpf_opts *o)
{
	char buf[64], *hook;
	int g;

	snprintf(buf, sizeof(buf), "%s", arg);
	hook = strchr(buf, ':');
	if (hook)
		*hook++ = '\0';
	g = vg_group_find(buf);
	if (g < 0) {
		vg_log(VG_ERROR,
		       "--deny-hook: unknown attach point '%s' (sched_process_exec, "
		       "sched_process_fork, sched_process_exit, sys_exit, inet_sock_set_state)",
		       buf);
		return -EINVAL;
	}
	if (!hook)
		o->deny[g] |= 1u << VG_HOOK_TP_BTF | 1u << VG_HOOK_RAW_TP | 1u << VG_HOOK_FENTRY |
			      1u << VG_HOOK_TP;
	else if (!strcmp(hook, "tp_btf"))
		o->deny[g] |= 1u << VG_HOOK_TP_BTF;
	else if (!strcmp(hook, "raw_tp"))
		o->deny[g] |= 1u << VG_HOOK_RAW_TP;
	else if (!strcmp(hook, "fentry"))
		o->deny[g] |= 1u << VG_HOOK_FENTRY;
	else if (!strcmp(hook, "tp"))
		o->deny[g] |= 1u << VG_HOOK_TP;
	else {
		vg_log(VG_ERROR, "--deny-hook: unknown hook '%s' (fentry, tp, tp_btf, raw_tp)",
		       hook);
		return -EINVAL;
	}
	return 0;
}

/* "CLASS:RATE[:BURST]" (class file or network) into r[class]; -EINVAL otherwise. */
static int vg_parse_rate(const char *opt, const char *arg, struct vg_rate r[VG_CLASS_MAX])
{
	char cls[32];
	unsigned long rate, burst = 0;
	int c, n;

	n = sscanf(arg, "%31[a-z]:%lu:%lu", cls, &rate, &burst);
	c = !strcmp(cls, "file") ? VG_CLASS_FILE : !strcmp(cls, "network") ? VG_CLASS_NET : -1;
	if (n < 2 || c < 0 || rate > 100000000 || burst > 100000000) {
		vg_log(VG_ERROR,
		       "%s: '%s' is not CLASS:RATE[:BURST] with CLASS file or network "
		       "(process, security and exec events are never limited)",
		       opt, arg);
		return -EINVAL;
	}
	r[c].rate = (uint32_t)rate;
	r[c].burst = (uint32_t)(burst ? burst : 2 * rate);
	return 0;
}

static void vg_usage(FILE *f)
{
	fprintf(f,
		"usage: vigild [OPTIONS]\n"
		"\n"
		"The vigil sensor: watches process activity with eBPF and sends\n"
		"zstd-compressed protobuf batches to the host endpoint. Needs root.\n"
		"\n"
		"  --transport T        stdio (frames on stdout, acks on stdin; default)\n"
		"                       or unix:PATH, tcp:HOST:PORT, vsock:CID:PORT (connect to\n"
		"                       `vigil host --listen ADDR`; reconnects with backoff)\n"
		"  --filters FILE       filter rules (filters/NAME.vf) judged in the kernel;\n"
		"                       SIGHUP reloads the file and swaps the set atomically\n"
		"  --record FILE        write every record received (before userspace, after\n"
		"                       kernel filters: run without --filters to capture all);\n"
		"                       not through a symlink, and only to a file of vigild's user\n"
		"  --ignore-pid PID     never report this process (repeatable; vigild never\n"
		"                       reports itself)\n"
		"  --sensitive-read PATH  report reads of this file too (SensitiveFileRead;\n"
		"                       repeatable, up to 32): matched as the built-in list is,\n"
		"                       by the parent directory's name and the file's name, each\n"
		"                       at most 15 bytes; DIR/ for every file of DIR\n"
		"  --ringbuf-kb N       ring buffer size in KiB (default %d, rounded up to a power of two)\n"
		"  --argv-max N         command line bytes captured per exec (default %d, at most %d)\n"
		"  --file-ringbuf-kb N  file event ring buffer size in KiB (default %d)\n"
		"  --dedup-ms N         file event dedup window, 0 is off (default %d)\n"
		"  --rate-limit C:R[:B] at most R events per second per process of class C (file or\n"
		"                       network), burst B (default 2R); 0 is off (defaults: file %d,\n"
		"                       network %d). Process and security events are never limited\n"
		"  --rate-limit-global C:R[:B]  the same for the whole machine (default file %d)\n"
		"  --batch N            events per batch (default %d)\n"
		"  --flush-ms N         longest wait before a batch is sent (default %d)\n"
		"  --idle-ms N          the flush timer's period once a tick found nothing to do;\n"
		"                       the next record or held-back event wakes vigild at once\n"
		"                       (default 2000; 0 or not above --flush-ms: never idle)\n"
		"  --zstd-level N       compression level, 1-19 (default %d)\n"
		"  --hook H             auto (default), tp_btf or raw_tp: which tracepoint programs\n"
		"                       to load; auto takes fentry (fork; fexit on each watched\n"
		"                       syscall's function) where allowed, else tp (one tracepoint\n"
		"                       per watched syscall), else tp_btf, then raw_tp\n"
		"  --sources LIST       event sources to watch, comma-separated: exec, fork, exit,\n"
		"                       file, network, security, or all (default). file, security\n"
		"                       and network (accept, UDP) need fentry or syscall exit\n"
		"                       tracepoints, which put every syscall on the traced path\n"
		"  --no-dns-replies     do not watch recvfrom, recvmsg and recvmmsg for the replies\n"
		"                       to DNS queries (no DnsResponse events; queries are still\n"
		"                       reported): under the tp hook each watched syscall takes\n"
		"                       the traced path, and receives are among the commonest\n"
		"  --old-values         report what a chattr or futimens replaces (OldImmutable,\n"
		"                       PreviousModificationTime...) under the tracepoint hooks\n"
		"                       too, read at those syscalls' entry tracepoints, which put\n"
		"                       a probe on the entry of every syscall (+15 ns each\n"
		"                       measured); with fentry always (only those two pay)\n"
		"  --deny-hook P[:H]    treat attach point P (sched_process_exec, sched_process_fork,\n"
		"                       sched_process_exit, sys_exit, inet_sock_set_state) as\n"
		"                       refused, for hook H (fentry, tp, tp_btf or raw_tp) or all;\n"
		"                       tests the fallback\n"
		"  --probe              print what this kernel allows per event source (supported,\n"
		"                       hook chosen, why) and exit; with --json one object per line\n"
		"  --json               with --probe: JSON lines\n"
		"  --device-id ID       device id to report (default /etc/machine-id)\n"
		"  --device-name NAME   device name to report (default the hostname)\n"
		"  --host-device-id ID  the Windows host this WSL instance runs on\n"
		"  --machine-group G    machine group to report\n"
		"  --control PATH       a local control socket (root only, SO_PEERCRED; in a\n"
		"                       directory others cannot write to): one command per\n"
		"                       line: ping, stats (JSON counters), flush, reload,\n"
		"                       filter (then the rule text: checked and swapped in;\n"
		"                       `vigil filter apply FILE --control PATH`)\n"
		"  --no-dict            compress batches without the shipped zstd dictionary\n"
		"  --dump-batches DIR   also write each batch, uncompressed, to DIR (to train the\n"
		"                       dictionary: scripts/train-dict.sh; DIR vigild's own, 0700)\n"
		"  -v, --verbose        debug messages, libbpf's included\n"
		"  --log-format F       text (TIME LEVEL vigild: message, the default) or json\n"
		"                       (one object a line); $VIGIL_LOG_FORMAT. Under\n"
		"                       journald lines carry <N> priorities and no time.\n"
		"  --log-level L        error, warning, info (default) or debug;\n"
		"                       $VIGIL_LOG_LEVEL\n"
		"  -h, --help           this text\n"
		"  --hash-max-mb N      SHA256 and SHA1 of executed images up to N MiB (default %llu;\n"
		"                       larger ones are counted, not hashed)\n"
		"  --hash-wait-ms N     a batch waits at most N ms for the hashes its events need\n"
		"                       (default %d; later events of the process carry them)\n"
		"  --no-hash            do not hash executed images\n"
		"  --version            print the version, the git commit and libbpf's version\n"
		"\n"
		"SIGINT or SIGTERM: detach, drain, send the last batch, wait for its\n"
		"acknowledgement (8 s at most), exit 0. With --transport stdio it also\n"
		"exits when the peer closes; other transports reconnect.\n\n",
		CONFIG_RINGBUF_KB, CONFIG_ARGV_MAX, VG_ARGV_CAP, CONFIG_FILE_RINGBUF_KB,
		CONFIG_DEDUP_WINDOW_MS, CONFIG_RATE_FILE, CONFIG_RATE_NET, CONFIG_RATE_FILE_GLOBAL,
		CONFIG_BATCH_MAX_EVENTS, CONFIG_FLUSH_INTERVAL_MS, CONFIG_ZSTD_LEVEL,
		(unsigned long long)(VG_HASH_MAX_SIZE_DEFAULT >> 20), VG_HASH_WAIT_MS_DEFAULT);
	vg_delivery_usage(f);
}

static int vg_parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		vg_log(VG_ERROR, "%s: '%s' is not a number from %u to %u", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

enum {
	OPT_TRANSPORT = 256,
	OPT_IGNORE,
	OPT_RINGBUF,
	OPT_ARGV,
	OPT_BATCH,
	OPT_FLUSH,
	OPT_ZSTD,
	OPT_HOOK,
	OPT_DEVID,
	OPT_DEVNAME,
	OPT_HOSTID,
	OPT_GROUP,
	OPT_VERSION,
	OPT_SOURCES,
	OPT_DENY,
	OPT_PROBE,
	OPT_JSON,
	OPT_FILE_RING,
	OPT_DEDUP,
	OPT_RATE,
	OPT_RATE_GLOBAL,
	OPT_DUMP,
	OPT_NO_DICT,
	OPT_CONTROL,
	OPT_FILTERS,
	OPT_RECORD,
	OPT_NO_HASH,
	OPT_HASH_MAX,
	OPT_HASH_WAIT,
	OPT_LOG_FORMAT,
	OPT_LOG_LEVEL,
	OPT_SENS_READ,
	OPT_NO_DNSR,
	OPT_OLD_VALUES,
	OPT_IDLE,
};

int vg_opts_parse(int argc, char **argv, struct vg_opts *o)
{
	static const struct option lo[] = {
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "ignore-pid", required_argument, NULL, OPT_IGNORE },
		{ "ringbuf-kb", required_argument, NULL, OPT_RINGBUF },
		{ "argv-max", required_argument, NULL, OPT_ARGV },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "flush-ms", required_argument, NULL, OPT_FLUSH },
		{ "zstd-level", required_argument, NULL, OPT_ZSTD },
		{ "hook", required_argument, NULL, OPT_HOOK },
		{ "device-id", required_argument, NULL, OPT_DEVID },
		{ "device-name", required_argument, NULL, OPT_DEVNAME },
		{ "host-device-id", required_argument, NULL, OPT_HOSTID },
		{ "machine-group", required_argument, NULL, OPT_GROUP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "sources", required_argument, NULL, OPT_SOURCES },
		{ "deny-hook", required_argument, NULL, OPT_DENY },
		{ "probe", no_argument, NULL, OPT_PROBE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "file-ringbuf-kb", required_argument, NULL, OPT_FILE_RING },
		{ "dedup-ms", required_argument, NULL, OPT_DEDUP },
		{ "rate-limit", required_argument, NULL, OPT_RATE },
		{ "rate-limit-global", required_argument, NULL, OPT_RATE_GLOBAL },
		{ "dump-batches", required_argument, NULL, OPT_DUMP },
		{ "no-dict", no_argument, NULL, OPT_NO_DICT },
		{ "control", required_argument, NULL, OPT_CONTROL },
		VG_DELIVERY_LONGOPTS,
		{ "filters", required_argument, NULL, OPT_FILTERS },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "no-hash", no_argument, NULL, OPT_NO_HASH },
		{ "hash-max-mb", required_argument, NULL, OPT_HASH_MAX },
		{ "hash-wait-ms", required_argument, NULL, OPT_HASH_WAIT },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "sensitive-read", required_argument, NULL, OPT_SENS_READ },
		{ "no-dns-replies", no_argument, NULL, OPT_NO_DNSR },
		{ "old-values", no_argument, NULL, OPT_OLD_VALUES },
		{ "idle-ms", required_argument, NULL, OPT_IDLE },
		{},
	};
	uint32_t v;
	int c, err = 0, no_dnsr = 0;

	o->transport = "stdio";
	o->bpf.ringbuf_kb = CONFIG_RINGBUF_KB;
	o->bpf.argv_max = CONFIG_ARGV_MAX;
	o->bpf.hook = VG_HOOK_AUTO;
	o->batch_max = CONFIG_BATCH_MAX_EVENTS;
	o->flush_ms = CONFIG_FLUSH_INTERVAL_MS;
	o->idle_ms = VG_IDLE_MS;
	o->zstd_level = CONFIG_ZSTD_LEVEL;
	o->bpf.sources = (1u << VG_SRC_MAX) - 1;
	o->bpf.file_ringbuf_kb = CONFIG_FILE_RINGBUF_KB;
	o->bpf.dedup_ms[VG_CLASS_FILE] = CONFIG_DEDUP_WINDOW_MS;
	o->bpf.rl[VG_CLASS_FILE].rate = CONFIG_RATE_FILE;
	o->bpf.rl[VG_CLASS_FILE].burst = 2 * CONFIG_RATE_FILE;
	o->bpf.rlg[VG_CLASS_FILE].rate = CONFIG_RATE_FILE_GLOBAL;
	o->bpf.rlg[VG_CLASS_FILE].burst = 2 * CONFIG_RATE_FILE_GLOBAL;
	o->bpf.rl[VG_CLASS_NET].rate = CONFIG_RATE_NET;
	o->bpf.rl[VG_CLASS_NET].burst = 2 * CONFIG_RATE_NET;
	vg_delivery_defaults(&o->dlv);
	o->hash_max_mb = VG_HASH_MAX_SIZE_DEFAULT >> 20;
	o->hash_wait_ms = VG_HASH_WAIT_MS_DEFAULT;

	while (!err && (c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case OPT_TRANSPORT:
			o->transport = optarg;
			break;
		case OPT_IGNORE:
			if (o->nignore == VG_MAX_IGNORE) {
				vg_log(VG_ERROR, "--ignore-pid: at most %d", VG_MAX_IGNORE);
				return -EINVAL;
			}
			err = vg_parse_u32("--ignore-pid", optarg, 1, 0x7fffffff, &v);
			o->ignore[o->nignore++] = v;
			break;
		case OPT_SENS_READ:
			err = vg_bpf_sens_add(&o->bpf, optarg);
			break;
		case OPT_RINGBUF:
			err = vg_parse_u32("--ringbuf-kb", optarg, 4, 1u << 20, &o->bpf.ringbuf_kb);
			break;
		case OPT_ARGV:
			err = vg_parse_u32("--argv-max", optarg, 1, VG_ARGV_CAP, &o->bpf.argv_max);
			break;
		case OPT_BATCH:
			err = vg_parse_u32("--batch", optarg, 1, 65536, &o->batch_max);
			break;
		case OPT_FLUSH:
			err = vg_parse_u32("--flush-ms", optarg, 1, 60000, &o->flush_ms);
			break;
		case OPT_IDLE:
			err = vg_parse_u32("--idle-ms", optarg, 0, 3600000, &o->idle_ms);
			break;
		case OPT_ZSTD:
			err = vg_parse_u32("--zstd-level", optarg, 1, 19, &v);
			o->zstd_level = (int)v;
			break;
		case OPT_HOOK:
			if (!strcmp(optarg, "auto"))
				o->bpf.hook = VG_HOOK_AUTO;
			else if (!strcmp(optarg, "tp_btf"))
				o->bpf.hook = VG_HOOK_TP_BTF;
			else if (!strcmp(optarg, "raw_tp"))
				o->bpf.hook = VG_HOOK_RAW_TP;
			else {
				vg_log(VG_ERROR, "--hook: '%s' is not auto, tp_btf or raw_tp",
				       optarg);
				return -EINVAL;
			}
			break;
		case OPT_DEVID:
			o->device_id = optarg;
			break;
		case OPT_DEVNAME:
			o->device_name = optarg;
			break;
		case OPT_HOSTID:
			o->host_device_id = optarg;
			break;
		case OPT_GROUP:
			o->machine_group = optarg;
			break;
		case OPT_SOURCES:
			err = vg_parse_sources(optarg, &o->bpf.sources);
			break;
		case OPT_DENY:
			err = vg_parse_deny(optarg, &o->bpf);
			break;
		case OPT_PROBE:
			o->probe = 1;
			break;
		case OPT_FILE_RING:
			err = vg_parse_u32("--file-ringbuf-kb", optarg, 4, 1u << 20,
					   &o->bpf.file_ringbuf_kb);
			break;
		case OPT_DEDUP:
			err = vg_parse_u32("--dedup-ms", optarg, 0, 600000,
					   &o->bpf.dedup_ms[VG_CLASS_FILE]);
			break;
		case OPT_RATE:
			err = vg_parse_rate("--rate-limit", optarg, o->bpf.rl);
			break;
		case OPT_DUMP:
			o->dump_dir = optarg;
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_NO_DICT:
			o->no_dict = 1;
			break;
		case OPT_RATE_GLOBAL:
			err = vg_parse_rate("--rate-limit-global", optarg, o->bpf.rlg);
			break;
		case OPT_FILTERS:
			o->filters = optarg;
			break;
		case OPT_RECORD:
			o->record = optarg;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_NO_HASH:
			o->hash_max_mb = 0;
			break;
		case OPT_NO_DNSR:
			no_dnsr = 1;
			break;
		case OPT_OLD_VALUES:
			o->bpf.old_values = 1;
			break;
		case OPT_HASH_MAX:
			err = vg_parse_u32("--hash-max-mb", optarg, 1, 65536, &o->hash_max_mb);
			break;
		case OPT_HASH_WAIT:
			err = vg_parse_u32("--hash-wait-ms", optarg, 0, 10000, &o->hash_wait_ms);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_LOG_FORMAT:
			if (vg_log_format_parse(optarg) < 0)
				err = vg_err(-EINVAL, "--log-format needs text or json");
			else
				vg_log_json = vg_log_format_parse(optarg);
			break;
		case OPT_LOG_LEVEL:
			if (vg_log_level_parse(optarg) < 0)
				err = vg_err(-EINVAL,
					     "--log-level needs error, warning, info or debug");
			else
				vg_log_max = vg_log_level_parse(optarg);
			break;
		case 'h':
			vg_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("vigild %s\ncommit %s\nlibbpf %d.%d built with, %s running\n",
			       VG_VERSION, VG_GIT_COMMIT, LIBBPF_MAJOR_VERSION,
			       LIBBPF_MINOR_VERSION, libbpf_version_string());
			return 1;
		default:
			if (vg_delivery_opt(&o->dlv, c, optarg, &err))
				break;
			return -EINVAL;
		}
	}
	if (!err && optind < argc) {
		vg_log(VG_ERROR, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (o->bpf.sources & 1u << VG_SRC_NET && !no_dnsr)
		o->bpf.sources |= 1u << VG_SRC_DNSR;
	return err;
}
