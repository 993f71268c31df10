// SPDX-License-Identifier: GPL-2.0-only
/*
 * vigild: load the BPF programs, drain their ring buffer, keep the process
 * table, and send zstd-compressed protobuf batches to the host. This file
 * is main() and the event loop; daemon.h lists the jobs it hands out.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "batch.h"
#include "daemon.h"
#include "log.h"
#include "names.h"
#include "paths.h"

#define VG_FINAL_ACK_MS 8000 /* a busy host storing a backlog needs seconds */

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

/* File and network records one drain takes before it handles what it has. */
#define VG_DRAIN_BUDGET 4096

static int vg_on_record(void *ctx, void *data, size_t size)
{
	struct vg_daemon *d = ctx;
	const struct vg_event_hdr *h = data;

	/* The kernel woke us from the idle sleep: no event. */
	if (size >= sizeof(*h) && h->type == VG_EV_WAKE)
		return 0;
	d->records++;
	vg_record(d, data, size);
	if (vg_sensor_queue(&d->sensor, data, size))
		vg_log(VG_WARN, "record dropped: no memory (counted as lost)");
	/* A flood stops here (the record is taken), so the process ring waits for no flood. */
	if (size >= sizeof(*h) && (h->type == VG_EV_FILE || h->type == VG_EV_NET) &&
	    d->sensor.nqueue >= VG_DRAIN_BUDGET)
		return -EAGAIN;
	return 0;
}

static int vg_flush_full(void *ctx)
{
	return vg_flush(ctx, 0);
}

/*
 * Drain every ring, then handle what came in the order it happened. The
 * process ring is drained first, as ever (a flood of file events must not
 * keep it waiting), and once more after the others: the fork or exec behind
 * a file or network record drained is in this drain too, and so is named
 * right. The two ring_buffer objects share the ring's consumer position.
 */
static int vg_drain(struct vg_daemon *d)
{
	uint64_t lost = d->sensor.lost;
	int err, n, more;

	do {
		/* Past the budget: handle this much, then drain again, process ring first. */
		n = ring_buffer__consume(d->rb);
		more = n == -EAGAIN;
		if ((n < 0 && !more) || ring_buffer__consume(d->rb_proc) < 0)
			return d->err ?: vg_err(-EIO, "drain ring buffer");
		err = vg_sensor_settle(&d->sensor, d->o.batch_max, vg_flush_full, d);
	} while (more && !err);
	if (d->sensor.lost != lost)
		vg_log(VG_WARN, "%llu records malformed or dropped (counted as lost)",
		       (unsigned long long)(d->sensor.lost - lost));
	if (err)
		d->err = err; /* the main loop exits */
	return err;
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
	return n ? vg_drain(d) : 0;
}

static void vg_timer_every(int tfd, uint32_t ms)
{
	struct itimerspec its = { 0 };

	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	timerfd_settime(tfd, 0, &its, NULL);
}

static void vg_wake_up(struct vg_daemon *d, int tfd)
{
	vg_bpf_asleep(&d->bpf, 0);
	d->asleep = 0;
	vg_sensor_sync_clock(&d->sensor);
	vg_timer_every(tfd, d->o.flush_ms);
}

/*
 * The end of a flush tick. A tick that took no record (nor did any ring
 * wakeup since the last tick), sent no frame, and left nothing queued,
 * unacknowledged or held back for a sweep was idle: vigild then slows its
 * timer to --idle-ms and has the kernel wake it for the next record or
 * event held back (kern/common.bpf.h vg_wake), so an idle sensor costs a
 * machine a wakeup every 2 s instead of 5 a second. A busy tick wakes it.
 */
static int vg_tick_end(struct vg_daemon *d, int tfd, uint64_t seq)
{
	int idle = d->records == d->tick_records && d->tx.next_seq == seq && !d->sensor.nevents &&
		   vg_sender_connected(&d->tx) && vg_sender_all_acked(&d->tx) &&
		   vg_bpf_sweep_idle(&d->bpf, 0) && d->o.idle_ms > d->o.flush_ms;
	int err;

	d->tick_records = d->records;
	if (!idle && d->asleep)
		vg_wake_up(d, tfd);
	if (!idle || d->asleep)
		return 0;
	/* Asleep first, then look again: a record the kernel saw us awake for is in the rings. */
	vg_bpf_asleep(&d->bpf, 1);
	err = vg_drain(d);
	if (err || d->records != d->tick_records || !vg_bpf_sweep_idle(&d->bpf, 1)) {
		vg_bpf_asleep(&d->bpf, 0);
		d->tick_records = d->records;
		return err;
	}
	d->asleep = 1;
	vg_timer_every(tfd, d->o.idle_ms);
	return 0;
}

static int vg_epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

enum { TAG_RING = 1, TAG_SIGNAL, TAG_TIMER, TAG_PEER, TAG_PEER_OUT, TAG_CONTROL };

/* Commands of the local control socket (daemon/control.h). */
static int vg_control_cmd(void *ctx, const char *cmd, const char *body, size_t len, char *out,
			  size_t size)
{
	struct vg_daemon *d = ctx;

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
		if (vg_report_stats(d, out, size))
			snprintf(out, size, "error: cannot read the counters");
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * The WSL distributions the host named (a DISTROS frame): events say which
 * one each process is in, and DeviceInfo.OSDistribution, sent again with
 * the next batch, lists the running ones. A bad list keeps the last one.
 */
static void vg_apply_distros(struct vg_daemon *d)
{
	char why[160];
	int err = vg_distros_set(&d->sensor.distros, d->sensor.procfs ? d->sensor.procfs : "/proc",
				 (const char *)d->tx.distros, d->tx.distros_len, why, sizeof(why));

	free(d->tx.distros);
	d->tx.distros = NULL;
	if (err == -EINVAL) {
		vg_log(VG_WARN, "distribution list from the host refused: %s", why);
		return;
	}
	if (err) {
		vg_log(VG_ERROR, "distribution list from the host: %s", strerror(-err));
		return;
	}
	vg_distros_os(&d->sensor.distros, d->dev.os_distribution, sizeof(d->dev.os_distribution));
	if (!d->dev.os_distribution[0])
		snprintf(d->dev.os_distribution, sizeof(d->dev.os_distribution), "%s",
			 d->dev.os_release);
	d->device_sent = 0;
	vg_log(VG_INFO, "%zu WSL distributions; running: %s", d->sensor.distros.n,
	       d->dev.os_distribution);
}

/* After detaching: drain, send the last batch, give the host a moment to acknowledge it. */
static void vg_shutdown(struct vg_daemon *d)
{
	vg_bpf_detach(&d->bpf);
	if (vg_drain(d))
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
	vg_timer_every(tfd, d->o.flush_ms);
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
				if (d->asleep)
					vg_wake_up(d, tfd);
				d->wakeups++;
				err = vg_drain(d);
				break;
			case TAG_TIMER: {
				uint64_t ticks, seq = d->tx.next_seq;

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					break;
				/* Drain first so a quiet ring does not hold events back. */
				d->wakeups++;
				err = vg_drain(d) ?: vg_sweep(d, 0) ?: vg_flush(d, 0);
				vg_sensor_sync_clock(&d->sensor);
				vg_sender_tick(&d->tx);
				err = err ?: vg_tick_end(d, tfd, seq);
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
				if (!err && d->tx.distros)
					vg_apply_distros(d);
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
	/*
	 * Loading the programs makes libbpf allocate and free a few big buffers:
	 * the kernel's BTF, parsed for each load (5.5 MB on Linux 6.18), and,
	 * when the fentry check load is refused, 16 MiB for the verifier's log
	 * of its retry. glibc's dynamic threshold then moves up to their size,
	 * so what the next loads allocate comes from the heap and stays there:
	 * 22.2 of vigild's 34.7 MiB resident for as long as it ran, 10.9 MiB of
	 * it free. With the thresholds fixed, 4 MiB or more is mapped and given
	 * back when freed, and at most 8 MiB (the batch buffers the loop reuses)
	 * is kept free at the heap's top: 21.1-23.1 MiB resident at the peak
	 * and after, also at 400k file events/s (README, "vigild's resident
	 * memory").
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	/* vigil host --log-format/--log-level come this way; our own flags override them. */
	if (vg_log_env())
		vg_log(VG_WARN, "VIGIL_LOG_FORMAT or VIGIL_LOG_LEVEL has no known value; ignored");
	err = vg_opts_parse(argc, argv, &d.o);
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
	err = vg_sensor_fidelity(&d.sensor, (uint64_t)d.o.hash_max_mb << 20, (int)d.o.hash_wait_ms);
	if (err) {
		vg_err(err, "start the hash worker");
		goto out_sensor;
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
	/* In drain order (vg_drain): process, network, file, and the process ring again. */
	d.rb = ring_buffer__new(vg_bpf_ringbuf_fd(&d.bpf, VG_RING_PROC), vg_on_record, &d, NULL);
	d.rb_proc =
		ring_buffer__new(vg_bpf_ringbuf_fd(&d.bpf, VG_RING_PROC), vg_on_record, &d, NULL);
	if (!d.rb || !d.rb_proc ||
	    ring_buffer__add(d.rb, vg_bpf_ringbuf_fd(&d.bpf, VG_RING_NET), vg_on_record, &d) ||
	    ring_buffer__add(d.rb, vg_bpf_ringbuf_fd(&d.bpf, VG_RING_FILE), vg_on_record, &d)) {
		err = vg_err(-errno, "open ring buffers");
		goto out_sensor;
	}
	vg_log_sources(&d);
	err = vg_load_filters(&d);
	if (err)
		goto out_rb;
	if (d.o.record) {
		err = vg_record_open(&d);
		if (err)
			goto out_rb;
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
	ring_buffer__free(d.rb_proc);
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
