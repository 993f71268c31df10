// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigild: load the BPF programs, drain their ring buffer, keep the process
 * table, and send zstd-compressed protobuf batches to the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "batch.h"
#include "bpf.h"
#include "control.h"
#include "delivery.h"
#include "filter.h"
#include "device.h"
#include "include/generated/autoconf.h"
#include "log.h"
#include "paths.h"
#include "proctable.h"
#include "sender.h"
#include "sensor.h"

#define VG_MAX_IGNORE 16
#define VG_FINAL_ACK_MS 8000 /* a busy host storing a backlog needs seconds */

struct vg_opts {
	const char *transport;
	struct vg_bpf_opts bpf;
	uint32_t batch_max;
	uint32_t flush_ms;
	int zstd_level;
	uint32_t ignore[VG_MAX_IGNORE];
	int nignore;
	const char *device_id, *device_name, *host_device_id, *machine_group;
	const char *dump_dir; /* --dump-batches: raw batches for training the dictionary */
	const char *control; /* --control PATH: the local root-only control socket */
	int no_dict;
	int verbose;
	int probe, json;
	struct vg_delivery dlv;
	const char *filters; /* --filters FILE, reloaded on SIGHUP */
	const char *record; /* --record FILE: every record received, for vigil filter test */
};

struct vg_daemon {
	struct vg_opts o;
	struct vg_bpf bpf;
	struct ring_buffer *rb;
	struct vg_sensor sensor;
	struct vg_sender tx;
	struct vg_device dev;
	struct vg_counts sent_counts; /* counters in the last batch sent */
	uint64_t sent_lost; /* delivery losses reported in it */
	uint64_t stream_id;
	int device_sent;
	int peer_gone;
	int err;
	uint64_t wakeups, records, summaries;
	struct vg_control ctl;
	uint64_t dumped;
	struct vg_vf_set *filters; /* the rule set in the kernel (--filters) */
	FILE *record; /* --record FILE */
	int dump_fd; /* --dump-batches DIR */
	uint64_t filter_gen; /* rule sets loaded */
};

/* Swap a checked rule set into the kernel (it becomes d->filters), or keep the running one. */
static int vg_use_filters(struct vg_daemon *d, struct vg_vf_set *set, const char *name)
{
	struct vg_flt_rule rules[VG_FLT_RULES];
	int err, i;

	for (i = 0; i < set->n; i++)
		rules[i] = set->rules[i].k;
	err = vg_bpf_filters(&d->bpf, rules, set->n);
	if (err) {
		free(set);
		return err;
	}
	free(d->filters);
	d->filters = set;
	d->filter_gen++;
	vg_log(VG_INFO, "filters: %d rules from %s (generation %llu)", set->n, name,
	       (unsigned long long)d->filter_gen);
	return 0;
}

/* (Re)load --filters FILE into the kernel; a file with errors leaves the running set. */
static int vg_load_filters(struct vg_daemon *d)
{
	struct vg_vf_set *set;
	int err;

	if (!d->o.filters)
		return 0;
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	err = vg_vf_parse_file(set, d->o.filters, stderr);
	if (err) {
		free(set);
		if (err == -EINVAL)
			return vg_err(err, "%s has errors; filters unchanged", d->o.filters);
		return vg_err(err, "read %s", d->o.filters);
	}
	return vg_use_filters(d, set, d->o.filters);
}

_Static_assert(VG_VF_FILE_MAX <= VG_CONTROL_BODY_MAX, "a rule file must fit a control command");

/*
 * Rule text from the host (a FILTER frame) or the control socket: check it,
 * swap it in, and say how it went in out ("ok: ..." or "error: ..." with the
 * diagnostics); errors leave the running set.
 */
static void vg_filter_text(struct vg_daemon *d, const char *name, const char *text, size_t len,
			   char *out, size_t size)
{
	struct vg_vf_set *set = calloc(1, sizeof(*set));
	char *diag = NULL;
	size_t dlen = 0;
	FILE *df = open_memstream(&diag, &dlen);
	int err;

	if (!set || !df) {
		snprintf(out, size, "error: out of memory");
		goto out;
	}
	err = vg_vf_parse(set, name, text, len, df);
	fclose(df);
	df = NULL;
	if (err) {
		snprintf(out, size, "error: %d errors; filters unchanged\n%s", set->errors, diag);
		vg_log(VG_WARN, "filters from %s: %d errors; filters unchanged", name, set->errors);
		vg_log_lines(VG_WARN, diag);
		goto out;
	}
	err = vg_use_filters(d, set, name);
	set = NULL;
	if (err)
		snprintf(out, size, "error: %s; filters unchanged", strerror(-err));
	else
		snprintf(out, size, "ok: %d rules, generation %llu%s%s", d->filters->n,
			 (unsigned long long)d->filter_gen, dlen ? "\n" : "", diag);
out:
	if (df)
		fclose(df);
	free(diag);
	free(set);
}

static int vg_alive(void *ctx, uint32_t tgid)
{
	return kill((pid_t)tgid, 0) == 0 || errno == EPERM;
}

static uint64_t vg_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Have the kernel report what dedup and rate limiting hold back, then drain the reports. */
static int vg_sweep(struct vg_daemon *d, int force)
{
	int n = vg_bpf_sweep(&d->bpf, &d->o.bpf, vg_boot_ns(), force, vg_alive, d);

	if (n == -ENOBUFS) {
		vg_log(VG_DEBUG,
		       "process ring full: suppression summaries wait for the next sweep");
		n = 0;
	}
	if (n < 0)
		return vg_err(n, "report suppressed events");
	d->summaries += (uint64_t)n;
	if (n && ring_buffer__consume(d->rb) < 0)
		return d->err ?: vg_err(-EIO, "drain ring buffer");
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
		"  --zstd-level N       compression level, 1-19 (default %d)\n"
		"  --hook H             auto (default), tp_btf or raw_tp: which tracepoint programs\n"
		"                       to load; auto falls back to raw_tp when tp_btf is refused\n"
		"  --sources LIST       event sources to watch, comma-separated: exec, fork, exit,\n"
		"                       file, network, security, or all (default). file, security\n"
		"                       and network (accept, UDP) need the sys_exit tracepoint,\n"
		"                       which adds ~20 ns to every syscall on the machine\n"
		"  --deny-hook P[:H]    treat attach point P (sched_process_exec, sched_process_fork,\n"
		"                       sched_process_exit, sys_exit, inet_sock_set_state) as\n"
		"                       refused, for hook H (tp_btf or raw_tp) or for both; tests\n"
		"                       the fallback\n"
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
		"  -h, --help           this text\n"
		"  --version            print the version\n"
		"\n"
		"SIGINT or SIGTERM: detach, drain, send the last batch, wait for its\n"
		"acknowledgement (8 s at most), exit 0. With --transport stdio it also\n"
		"exits when the peer closes; other transports reconnect.\n\n",
		CONFIG_RINGBUF_KB, CONFIG_ARGV_MAX, VG_ARGV_CAP, CONFIG_FILE_RINGBUF_KB,
		CONFIG_DEDUP_WINDOW_MS, CONFIG_RATE_FILE, CONFIG_RATE_NET, CONFIG_RATE_FILE_GLOBAL,
		CONFIG_BATCH_MAX_EVENTS, CONFIG_FLUSH_INTERVAL_MS, CONFIG_ZSTD_LEVEL);
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
};

/* 0 to run, 1 to exit 0 (help, version), negative for a usage error. */
static int vg_parse(int argc, char **argv, struct vg_opts *o)
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
		{},
	};
	uint32_t v;
	int c, err = 0;

	o->transport = "stdio";
	o->bpf.ringbuf_kb = CONFIG_RINGBUF_KB;
	o->bpf.argv_max = CONFIG_ARGV_MAX;
	o->bpf.hook = VG_HOOK_AUTO;
	o->batch_max = CONFIG_BATCH_MAX_EVENTS;
	o->flush_ms = CONFIG_FLUSH_INTERVAL_MS;
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
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			vg_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("vigild %s\n", VG_VERSION);
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
	return err;
}

/* Write a batch's protobuf, before compression, for scripts/train-dict.sh. */
static void vg_dump_batch(struct vg_daemon *d, const Vigil__V1__Batch *b)
{
	size_t len = vigil__v1__batch__get_packed_size(b);
	uint8_t *raw = malloc(len ? len : 1);
	char path[64];
	FILE *f;
	int fd;

	if (!raw)
		return;
	vigil__v1__batch__pack(b, raw);
	/* The name carries the event count, for the per-event figures. */
	snprintf(path, sizeof(path), "%020llu-%zu.pb", (unsigned long long)++d->dumped,
		 b->n_events);
	fd = vg_file_create_own("--dump-batches", d->dump_fd, path);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f || fwrite(raw, 1, len, f) != len)
		vg_log(VG_WARN, "--dump-batches: write %s/%s: %s", d->o.dump_dir, path,
		       strerror(errno));
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	free(raw);
}

static int vg_counts_changed(const struct vg_counts *a, const struct vg_counts *b)
{
	return memcmp(a, b, sizeof(*a)) != 0;
}

/* Encode what is pending (events, counters, device on first use) and send it. */
static int vg_flush(struct vg_daemon *d, int force)
{
	Vigil__V1__Batch b = VIGIL__V1__BATCH__INIT;
	Vigil__V1__Counter cnt[VG_CLASS_MAX], *cntp[VG_CLASS_MAX];
	struct vg_counts now;
	uint8_t *payload;
	size_t len;
	int err;

	if (d->peer_gone)
		return 0;
	err = vg_bpf_counts(&d->bpf, &now);
	if (err)
		return vg_err(err, "read counters");
	if (!force && !d->sensor.nevents && d->device_sent &&
	    !vg_counts_changed(&now, &d->sent_counts) &&
	    d->sent_lost == vg_sender_events_lost(&d->tx))
		return 0;

	vg_sensor_batch_fill(&d->sensor, &b);
	b.boot_time_ns = (uint64_t)d->sensor.boot_to_epoch_ns;
	b.stream_id = d->stream_id;
	if (!d->device_sent)
		b.device = &d->dev.pb;
	for (int c = 0; c < VG_CLASS_MAX; c++) {
		vigil__v1__counter__init(&cnt[c]);
		cnt[c].event_class = (char *)vg_class_name(c);
		cnt[c].seen = now.v[c][VG_CNT_SEEN];
		cnt[c].emitted = now.v[c][VG_CNT_EMITTED];
		cnt[c].filtered = now.v[c][VG_CNT_FILTERED];
		cnt[c].deduplicated = now.v[c][VG_CNT_DEDUP];
		cnt[c].rate_limited = now.v[c][VG_CNT_RATELIMIT];
		cnt[c].ringbuf_full = now.v[c][VG_CNT_RB_FULL];
		cntp[c] = &cnt[c];
	}
	b.counters = cntp;
	b.n_counters = VG_CLASS_MAX;
	b.events_lost = d->sensor.lost + vg_sender_events_lost(&d->tx);
	{
		static Vigil__V1__RingStats rs[3], *rsp[3];
		static Vigil__V1__DaemonStats ds;
		struct vg_ring_stat st[3];

		vg_bpf_ring_stats(&d->bpf, st);
		for (int i = 0; i < 3; i++) {
			vigil__v1__ring_stats__init(&rs[i]);
			rs[i].name = (char *)st[i].name;
			rs[i].size_bytes = st[i].size;
			rs[i].fill_bytes = st[i].fill;
			rs[i].peak_fill_bytes = st[i].peak;
			rsp[i] = &rs[i];
		}
		vigil__v1__daemon_stats__init(&ds);
		ds.wakeups = d->wakeups;
		ds.records = d->records;
		ds.summaries = d->summaries;
		b.rings = rsp;
		b.n_rings = 3;
		b.daemon = &ds;
	}
	if (d->filters) {
		static Vigil__V1__FilterRule fr[VG_FLT_RULES], *frp[VG_FLT_RULES];
		uint64_t hits[VG_FLT_RULES] = {};
		int n = d->filters->n;

		vg_bpf_filter_hits(&d->bpf, hits, n);
		for (int i = 0; i < n; i++) {
			vigil__v1__filter_rule__init(&fr[i]);
			fr[i].index = i;
			fr[i].line = d->filters->rules[i].line;
			fr[i].rule = d->filters->rules[i].text;
			fr[i].action =
				d->filters->rules[i].k.action == VG_FLT_DROP ? "drop" : "keep";
			fr[i].hits = hits[i];
			fr[i].generation = d->filter_gen;
			frp[i] = &fr[i];
		}
		b.filter_rules = frp;
		b.n_filter_rules = n;
	}

	if (d->o.dump_dir)
		vg_dump_batch(d, &b);
	err = vg_batch_pack(&b, d->o.zstd_level, &payload, &len);
	if (err)
		return vg_err(err, "encode batch of %zu events", d->sensor.nevents);
	err = vg_sender_send(&d->tx, VG_FRAME_BATCH, VG_FRAME_F_ZSTD, payload, len,
			     (uint32_t)d->sensor.nevents);
	free(payload);
	if (err == -EPIPE || err == -ECONNRESET) {
		vg_log(VG_INFO, "peer closed the connection");
		d->peer_gone = 1;
		return 0;
	}
	if (err)
		return vg_err(err, "send batch");
	vg_log(VG_DEBUG, "sent batch %llu: %zu events, %zu bytes",
	       (unsigned long long)d->tx.next_seq - 1, d->sensor.nevents, len);
	d->device_sent = 1;
	d->sent_counts = now;
	d->sent_lost = b.events_lost - d->sensor.lost;
	vg_sensor_batch_done(&d->sensor);
	return 0;
}

static int vg_record_write(FILE *f, const void *data, size_t size)
{
	uint32_t len = (uint32_t)size;

	return fwrite(&len, sizeof(len), 1, f) == 1 && fwrite(data, 1, size, f) == size ? 0 : -EIO;
}

/*
 * A capture opens with the processes already running, as exec records
 * marked VG_F_SNAPSHOT (time 0), so a replay knows their executables as
 * the kernel does.
 */
static int vg_record_snapshot_one(void *ctx, uint32_t pid)
{
	struct {
		struct vg_exec_event e;
		char path[4096];
	} r;
	int n = vg_pt_read_exe("/proc", pid, r.path, sizeof(r.path));

	if (n < 0)
		return 1;
	memset(&r.e, 0, sizeof(r.e));
	r.e.hdr.type = VG_EV_EXEC;
	r.e.hdr.flags = VG_F_SNAPSHOT;
	r.e.task.pid = r.e.task.tgid = pid;
	r.e.path_len = (__u16)(n + 1);
	r.e.hdr.size = sizeof(r.e) + r.e.path_len;
	return vg_record_write(ctx, &r, r.e.hdr.size);
}

static int vg_on_record(void *ctx, void *data, size_t size)
{
	struct vg_daemon *d = ctx;
	int err = vg_sensor_record(&d->sensor, data, size);

	d->records++;
	if (d->record) {
		/* The capture `vigil filter test --capture` replays: u32 length, then the record. */
		if (vg_record_write(d->record, data, size)) {
			vg_log(VG_WARN, "--record: write failed; recording stops");
			fclose(d->record);
			d->record = NULL;
		}
	}
	if (err == -EBADMSG)
		vg_log(VG_WARN, "malformed record of %zu bytes (counted as lost)", size);
	else if (err)
		vg_log(VG_WARN, "record dropped: %s (counted as lost)", strerror(-err));
	if (d->sensor.nevents >= d->o.batch_max) {
		err = vg_flush(d, 0);
		if (err) {
			d->err = err;
			return err; /* stop consuming; the main loop exits */
		}
	}
	return 0;
}

static int vg_epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

enum { TAG_RING = 1, TAG_SIGNAL, TAG_TIMER, TAG_PEER, TAG_PEER_OUT, TAG_CONTROL };

/* Commands of the local control socket (user/control.h). */
static int vg_control_cmd(void *ctx, const char *cmd, const char *body, size_t len, char *out,
			  size_t size)
{
	struct vg_daemon *d = ctx;
	struct vg_counts now;
	size_t n = 0;

	if (!strcmp(cmd, "filter")) {
		if (!body)
			snprintf(out, size,
				 "error: filter: the rule text follows on the next line");
		else
			vg_filter_text(d, "control", body, len, out, size);
	} else if (!strcmp(cmd, "ping")) {
		snprintf(out, size, "pong");
	} else if (!strcmp(cmd, "flush")) {
		snprintf(out, size, vg_flush(d, 1) ? "error: flush failed" : "ok");
	} else if (!strcmp(cmd, "reload")) {
		/* The same path as SIGHUP, through the signalfd. */
		snprintf(out, size, raise(SIGHUP) ? "error: %s" : "ok: reload requested",
			 strerror(errno));
	} else if (!strcmp(cmd, "stats")) {
		if (vg_bpf_counts(&d->bpf, &now)) {
			snprintf(out, size, "error: cannot read the counters");
			return 0;
		}
		n += (size_t)snprintf(out + n, size - n, "{\"classes\":{");
		for (int c = 0; c < VG_CLASS_MAX && n < size; c++)
			n += (size_t)snprintf(
				out + n, size - n,
				"%s\"%s\":{\"seen\":%llu,\"emitted\":%llu,\"filtered\":%llu,"
				"\"deduplicated\":%llu,\"rate_limited\":%llu,\"ringbuf_full\":%llu}",
				c ? "," : "", vg_class_name(c),
				(unsigned long long)now.v[c][VG_CNT_SEEN],
				(unsigned long long)now.v[c][VG_CNT_EMITTED],
				(unsigned long long)now.v[c][VG_CNT_FILTERED],
				(unsigned long long)now.v[c][VG_CNT_DEDUP],
				(unsigned long long)now.v[c][VG_CNT_RATELIMIT],
				(unsigned long long)now.v[c][VG_CNT_RB_FULL]);
		if (n < size)
			snprintf(out + n, size - n,
				 "},\"records\":%llu,\"wakeups\":%llu,\"events_lost\":%llu}",
				 (unsigned long long)d->records, (unsigned long long)d->wakeups,
				 (unsigned long long)(d->sensor.lost +
						      vg_sender_events_lost(&d->tx)));
	} else {
		return -EINVAL;
	}
	return 0;
}

/* After detaching: drain, send the last batch, give the host a moment to acknowledge it. */
static void vg_shutdown(struct vg_daemon *d)
{
	vg_bpf_detach(&d->bpf);
	if (ring_buffer__consume(d->rb) < 0 && !d->err)
		vg_log(VG_WARN, "final drain of the ring buffer failed");
	/* Everything still held back is reported now: counts must add up at the host. */
	if (vg_sweep(d, 1))
		vg_log(VG_WARN, "final report of suppressed events failed");
	if (vg_flush(d, 1))
		return;
	/* Queueing the last batch may have pushed older frames out: report that too. */
	if (d->sent_lost != vg_sender_events_lost(&d->tx) && vg_flush(d, 1))
		return;
	vg_delivery_finish(&d->tx, VG_FINAL_ACK_MS);
}

/* One line saying what is watched and how. */
static void vg_log_sources(const struct vg_daemon *d)
{
	char buf[512];
	size_t n = 0;

	for (int g = 0; g < VG_GRP_MAX; g++) {
		if (d->bpf.grp[g].hook == VG_HOOK_NONE)
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s/%s", n ? ", " : "",
				      vg_hook_name(d->bpf.grp[g].hook), vg_group_name(g));
		if (n >= sizeof(buf))
			break;
	}
	vg_log(VG_INFO, "watching (%s; ring buffers %u KiB; transport %s)", buf,
	       d->bpf.ringbuf_bytes / 1024, d->o.transport);
}

static int vg_run(struct vg_daemon *d)
{
	struct epoll_event evs[8];
	struct itimerspec its = { 0 };
	sigset_t mask;
	int ep = -1, sfd = -1, tfd = -1, err, stop = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0) {
		err = vg_err(-errno, "set up the event loop");
		goto out;
	}
	its.it_interval.tv_sec = d->o.flush_ms / 1000;
	its.it_interval.tv_nsec = (long)(d->o.flush_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(tfd, 0, &its, NULL);
	err = vg_epoll_add(ep, ring_buffer__epoll_fd(d->rb), TAG_RING);
	err = err ?: vg_epoll_add(ep, sfd, TAG_SIGNAL);
	err = err ?: vg_epoll_add(ep, tfd, TAG_TIMER);
	err = err ?: vg_sender_attach(&d->tx, ep, TAG_PEER, TAG_PEER_OUT);
	if (!err && d->ctl.fd >= 0)
		err = vg_epoll_add(ep, d->ctl.fd, TAG_CONTROL);
	if (err) {
		vg_err(err, "set up the event loop");
		goto out;
	}

	/* Announce the device and the starting counters at once. */
	err = vg_flush(d, 1);
	while (!err && !stop && !d->peer_gone) {
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = vg_err(-errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n && !err; i++) {
			switch (evs[i].data.u64) {
			case TAG_RING:
				d->wakeups++;
				if (ring_buffer__consume(d->rb) < 0)
					err = d->err ?: vg_err(-EIO, "drain ring buffer");
				break;
			case TAG_TIMER: {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					break;
				/* Drain first so a quiet ring does not hold events back. */
				d->wakeups++;
				if (ring_buffer__consume(d->rb) < 0)
					err = d->err ?: vg_err(-EIO, "drain ring buffer");
				else
					err = vg_sweep(d, 0) ?: vg_flush(d, 0);
				vg_sensor_sync_clock(&d->sensor);
				vg_sender_tick(&d->tx);
				break;
			}
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGHUP) {
					if (!d->o.filters)
						vg_log(VG_INFO,
						       "SIGHUP: no --filters file to reload");
					else
						vg_load_filters(
							d); /* errors keep the running set */
					break;
				}
				vg_log(VG_DEBUG, "%s: shutting down", strsignal((int)si.ssi_signo));
				stop = 1;
				break;
			}
			case TAG_PEER:
				err = vg_sender_read(&d->tx);
				if (err == -EPIPE || err == -ECONNRESET) {
					vg_log(VG_INFO, "peer closed the connection");
					d->peer_gone = 1;
					err = 0;
				}
				if (!err && d->tx.filter) {
					char answer[4096];

					vg_filter_text(d, "host", (const char *)d->tx.filter,
						       d->tx.filter_len, answer, sizeof(answer));
					free(d->tx.filter);
					d->tx.filter = NULL;
					err = vg_sender_answer(&d->tx, d->tx.filter_seq, answer);
				}
				if (!err && d->tx.stats_requested) {
					d->tx.stats_requested = 0;
					err = vg_flush(d, 1);
				}
				break;
			case TAG_PEER_OUT:
				vg_sender_writable(&d->tx);
				break;
			case TAG_CONTROL:
				if (vg_control_serve(&d->ctl, vg_control_cmd, d))
					vg_log(VG_WARN, "control socket: %s", strerror(errno));
				break;
			}
		}
	}
	if (!err)
		vg_shutdown(d);
out:
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return err;
}

int main(int argc, char **argv)
{
	struct vg_daemon d = { 0 };
	sigset_t mask;
	int err;

	vg_prog = "vigild";
	err = vg_parse(argc, argv, &d.o);
	if (err)
		return err > 0 ? 0 : 2;
	if (d.o.verbose)
		vg_log_max = VG_DEBUG;
	vg_bpf_setup_logging(d.o.verbose);
	vg_batch_use_dict(!d.o.no_dict);

	/* Signals are read from a signalfd in the main loop; a closed peer is EPIPE. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (geteuid() != 0)
		vg_log(VG_WARN, "not running as root: loading BPF programs will likely fail");
	if (vg_bpf_check_kernel())
		return 1;
	if (d.o.probe) {
		err = vg_bpf_probe(&d.bpf, &d.o.bpf);
		vg_bpf_probe_print(&d.bpf, &d.o.bpf, d.o.json);
		return err ? 1 : 0;
	}

	d.dump_fd = -1;
	if (getrandom(&d.stream_id, sizeof(d.stream_id), 0) != sizeof(d.stream_id)) {
		vg_err(-errno, "getrandom");
		return 1;
	}
	vg_device_init(&d.dev, d.o.device_id, d.o.device_name, d.o.host_device_id,
		       d.o.machine_group);
	d.o.dlv.tx.spec = d.o.transport;
	d.o.dlv.tx.stream_id = d.stream_id;
	err = vg_sender_open(&d.tx, &d.o.dlv.tx);
	if (err)
		goto out_tx;
	/* The host takes from us only what names the device the key is for. */
	if (d.tx.keyed && strcmp(d.tx.key.id, d.dev.pb.device_id)) {
		err = vg_err(-EINVAL, "--key %s is for device %s, and this is %s (--device-id)",
			     d.o.dlv.tx.key_file, d.tx.key.id, d.dev.pb.device_id);
		goto out_tx;
	}

	d.o.bpf.ignore = d.o.ignore;
	d.o.bpf.nignore = d.o.nignore;
	err = vg_bpf_start(&d.bpf, &d.o.bpf);
	if (err)
		goto out_tx;
	/* After attach: a process is either in /proc now or has events coming. */
	err = vg_sensor_init(&d.sensor, "/proc", "/etc/passwd");
	if (err) {
		vg_err(err, "read /proc");
		goto out_bpf;
	}
	err = vg_bpf_seed_exe(&d.bpf, "/proc");
	if (err < 0) {
		vg_err(err, "read /proc");
		goto out_bpf;
	}
	vg_log(VG_DEBUG, "executables of %d running processes given to the kernel", err);
	err = vg_delivery_hello(&d.tx, &d.dev.pb, d.stream_id, (uint64_t)d.sensor.boot_to_epoch_ns);
	if (err) {
		vg_err(err, "encode the connection greeting");
		goto out_sensor;
	}
	d.rb = ring_buffer__new(vg_bpf_ringbuf_fd(&d.bpf, 0), vg_on_record, &d, NULL);
	if (!d.rb || ring_buffer__add(d.rb, vg_bpf_ringbuf_fd(&d.bpf, 1), vg_on_record, &d) ||
	    ring_buffer__add(d.rb, vg_bpf_ringbuf_fd(&d.bpf, 2), vg_on_record, &d)) {
		err = vg_err(-errno, "open ring buffers");
		goto out_sensor;
	}
	vg_log_sources(&d);
	err = vg_load_filters(&d);
	if (err)
		goto out_rb;
	if (d.o.record) {
		int fd = vg_file_create_own("--record", AT_FDCWD, d.o.record);

		d.record = fd < 0 ? NULL : fdopen(fd, "w");
		if (!d.record) {
			err = fd < 0 ? fd : vg_err(-errno, "--record %s", d.o.record);
			if (fd >= 0)
				close(fd);
			goto out_rb;
		}
		if (vg_pt_each_pid("/proc", vg_record_snapshot_one, d.record) < 0) {
			err = vg_err(-EIO, "--record %s: write the process snapshot", d.o.record);
			goto out_rb;
		}
	}

	if (d.o.dump_dir) {
		d.dump_fd = vg_dir_open_own("--dump-batches", d.o.dump_dir, 0);
		if (d.dump_fd < 0) {
			err = d.dump_fd;
			goto out_rb;
		}
	}
	d.ctl.fd = -1;
	if (d.o.control && (vg_parent_dir_check("--control", d.o.control) ||
			    vg_control_open(&d.ctl, d.o.control))) {
		err = -EINVAL;
		goto out_rb;
	}
	err = vg_run(&d);
	vg_control_close(&d.ctl);
out_rb:
	ring_buffer__free(d.rb);
out_sensor:
	vg_sensor_free(&d.sensor);
out_bpf:
	vg_bpf_stop(&d.bpf);
out_tx:
	vg_sender_close(&d.tx);
	if (d.record && fclose(d.record))
		vg_log(VG_WARN, "--record: close failed");
	if (d.dump_fd >= 0)
		close(d.dump_fd);
	free(d.filters);
	return err ? 1 : 0;
}
