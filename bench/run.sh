#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make bench: every workload (bench/workloads.txt) under every sensor
# configuration (bench/configs.txt), interleaved, several rounds; then the
# zero-drop ceiling (vigild alone, and into SQLite) and the userspace encode
# benchmark. Prints a progress line per run and a table; writes
# RESULTS/<timestamp>.json, .md and .png.
# See bench/README.md for the method.
#   bench/run.sh [--build DIR] [--results DIR] [--quick] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

O=build
RESULTS=bench/results
QUICK=0
ROUNDS=
usage() {
	echo "usage: bench/run.sh [--build DIR] [--results DIR] [--quick] [--rounds N]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; O=$2; shift 2 ;;
	--results) [ $# -ge 2 ] || usage; RESULTS=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--rounds)
		[ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]?$ ]] || { echo "bench: --rounds needs 1-99" >&2; exit 2; }
		ROUNDS=$2; shift 2 ;;
	*) usage ;;
	esac
done
[ -n "$ROUNDS" ] || ROUNDS=$([ "$QUICK" = 1 ] && echo 1 || echo 5)
O=$(cd "$O" && pwd)
[ "$(id -u)" = 0 ] || { echo "bench: the sensors load BPF programs and audit rules: needs root (sudo make bench)" >&2; exit 1; }
for b in "$O/vigil" "$O/vigild" "$O/bench/workload" "$O/bench/encode" "$O/bench/flood" "$O/bench/sink"; do
	[ -x "$b" ] || { echo "bench: $b is missing: run it through make bench" >&2; exit 1; }
done
for t in jq sqlite3 gnuplot bpftrace auditd auditctl; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

TS=$(date -u +%Y%m%dT%H%M%SZ)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d /tmp/vg-bench-XXXXXX)
CELLS=$tmp/cells.jsonl
: >"$CELLS"
SETTLE=0.4 # > vigild's flush interval, so what the workload caused is stored
# Before every timed run, sensor or not: the previous run's teardown (probe
# detach, SQLite, auditd flush) and a sensor's start (vigild's /proc scan)
# must not land on one configuration only.
QUIET=0.3
host_pid= bt_pid= ad_pid= sensor_pid= shm=
audit_rules_added=() audit_enabled_was= audit_backlog_was= tracefs_mounted=0

# ---------------------------------------------------------------- cleanup
audit_rules_del() {
	local r
	for r in "${audit_rules_added[@]}"; do
		# shellcheck disable=SC2086
		auditctl ${r/-a /-d } >/dev/null 2>&1 || true
	done
	audit_rules_added=()
}
stop_pid() { # pid [seconds]: TERM, wait (default 5 s), then KILL
	local p=$1 i
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq $((${2:-5} * 10))); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
cleanup() {
	stop_pid "$host_pid"
	stop_pid "$bt_pid"
	audit_rules_del
	stop_pid "$ad_pid"
	if [ -n "$audit_enabled_was" ]; then auditctl -e "$audit_enabled_was" >/dev/null 2>&1 || true; fi
	if [ -n "$audit_backlog_was" ]; then auditctl -b "$audit_backlog_was" >/dev/null 2>&1 || true; fi
	[ "$tracefs_mounted" = 1 ] && umount /sys/kernel/tracing 2>/dev/null || true
	rm -rf "$tmp"
	[ -z "$shm" ] || rm -rf "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- tables
# Configurations and workloads are data: one line each.
mapfile -t CONFIGS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' bench/configs.txt)
mapfile -t WORKLOADS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' bench/workloads.txt)
cfg_field() { echo "$1" | awk -v f="$2" '{print $f}'; }
cfg_args() { echo "$1" | awk '{for (i = 4; i <= NF; i++) printf "%s ", $i}'; }
# The zero-drop ceiling runs vigil-raw's vigild arguments (no dedup, no rate limits).
raw=$(sed -e 's/#.*//' bench/configs.txt | awk '$1 == "vigil-raw"')
[ -n "$raw" ] || die "bench/configs.txt has no vigil-raw line (the zero-drop ceiling runs its vigild arguments)"
C_ARGS="$(cfg_args "$raw")--queue-mem-kb 1024 --control $tmp/ctl"

# ---------------------------------------------------------------- sensor process stats
# CPU time of every thread of a process, in ns (schedstat: finer than clock ticks).
proc_cpu_ns() { { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{n += $1} END {printf "%.0f", n}'; }
proc_hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
proc_wchar() { awk '/^wchar/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- vigil
vigil_start() { # extra vigild args [niceness]
	local i
	rm -f "$tmp/v.db"*
	# shellcheck disable=SC2086
	nice -n "${2:-0}" "$O/vigil" host --db "$tmp/v.db" --spawn "$O/vigild" $1 >>"$tmp/vigil.log" 2>&1 &
	host_pid=$!
	for i in $(seq 100); do
		[ "$(sqlite3 "$tmp/v.db" 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -ge 1 ] && break
		kill -0 "$host_pid" 2>/dev/null || break
		sleep 0.05
	done
	sensor_pid=$(ps -o pid= --ppid "$host_pid" | head -1 | tr -d ' ')
	if [ -z "$sensor_pid" ] || [ "$i" = 100 ]; then
		cat "$tmp/vigil.log" >&2
		die "vigil did not start (log above)"
	fi
}
vigil_stop() {
	# The host may still be storing a burst (SQLite, synchronous=FULL).
	stop_pid "$host_pid" 30
	host_pid=
}
# seen captured suppressed dropped: counters from `vigil stats`, rows stored in SQLite.
vigil_counts() {
	local captured
	# Every Device*Events table: grows as event families land.
	captured=$(sqlite3 "$tmp/v.db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'Device*Events'" |
		while read -r t; do sqlite3 "$tmp/v.db" "SELECT count(*) FROM $t"; done | awk '{n += $1} END {print n + 0}')
	"$O/vigil" stats --db "$tmp/v.db" --json | jq -s --argjson cap "$captured" -r 'map(select(.Table == "SensorCounters")) |
		[(map(.Seen) | add // 0), $cap,
		 (map(.Filtered + .Deduplicated + .RateLimited) | add // 0),
		 ((map(.RingbufFull) | add // 0) + (map(.EventsLost) | max // 0))] | @tsv'
}
# The event classes vigild reports, as families bpftrace and auditd must match.
vigil_families() {
	"$O/vigil" stats --db "$tmp/v.db" --json | jq -r 'select(.EventClass != null) | .EventClass' | awk '
		/^(exec|fork|exit|proc)/ { f["process"] = 1; next }
		/(file|open|creat|unlink|rename|write|chmod|chown)/ { f["file"] = 1; next }
		/(net|tcp|udp|sock|conn|accept|listen)/ { f["net"] = 1; next }
		/(sec|ptrace|module|bpf|priv)/ { f["security"] = 1; next }
		{ printf "bench: event class %s has no bpftrace/auditd equivalent yet\n", $0 > "/dev/stderr" }
		END { for (k in f) print k }' | sort | tr '\n' ' '
}

# ---------------------------------------------------------------- bpftrace
bt_start() {
	local i
	: >"$tmp/bt.out"
	bpftrace -o "$tmp/bt.out" "$tmp/vg.bt" >>"$tmp/bpftrace.log" 2>&1 &
	bt_pid=$!
	sensor_pid=$bt_pid
	for i in $(seq 200); do
		grep -q '^vg-ready' "$tmp/bt.out" 2>/dev/null && return 0
		kill -0 "$bt_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$tmp/bpftrace.log" >&2
	die "bpftrace did not start (log above)"
}
bt_stop() {
	stop_pid "$bt_pid"
	bt_pid=
}
bt_counts() {
	local cap lost
	cap=$(grep -cvE '^(vg-ready|Attaching|Lost|$)|^@' "$tmp/bt.out" || true)
	lost=$(awk '/^Lost [0-9]+ events/ {n += $2} END {print n + 0}' "$tmp/bt.out")
	printf '%d\t%d\t0\t%d\n' $((cap + lost)) "$cap" "$lost"
}

# ---------------------------------------------------------------- auditd
audit_lost() { auditctl -s | awk '$1 == "lost" {print $2}'; }
ad_start() {
	local i r
	rm -f "$tmp/audit/audit.log"
	auditd -n -c "$tmp/audit" >>"$tmp/auditd.log" 2>&1 &
	ad_pid=$!
	sensor_pid=$ad_pid
	for i in $(seq 100); do
		[ "$(auditctl -s | awk '$1 == "pid" {print $2}')" = "$ad_pid" ] && break
		kill -0 "$ad_pid" 2>/dev/null || break
		sleep 0.05
	done
	[ "$i" != 100 ] && kill -0 "$ad_pid" 2>/dev/null || { cat "$tmp/auditd.log" >&2; die "auditd did not start (log above)"; }
	auditctl -b 8192 >/dev/null
	auditctl -e 1 >/dev/null
	while read -r r; do
		# shellcheck disable=SC2086
		auditctl $r >/dev/null || die "auditctl $r failed"
		audit_rules_added+=("$r")
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$tmp/audit.rules")
	ad_lost0=$(audit_lost)
}
ad_stop() {
	audit_rules_del
	ad_lost1=$(audit_lost)
	auditctl -e "$audit_enabled_was" >/dev/null
	auditctl -b "$audit_backlog_was" >/dev/null
	stop_pid "$ad_pid"
	ad_pid=
}
ad_counts() {
	local cap lost=$((ad_lost1 - ad_lost0))
	cap=$(grep -c '^type=SYSCALL.*key="vgbench"' "$tmp/audit/audit.log" 2>/dev/null || true)
	printf '%d\t%d\t0\t%d\n' $((cap + lost)) "$cap" "$lost"
}

# ---------------------------------------------------------------- dispatch
sensor_start() { # sensor args
	sensor_pid=
	case $1 in
	none) ;;
	vigil) vigil_start "$2" ;;
	bpftrace) bt_start ;;
	auditd) ad_start ;;
	*) die "bench/configs.txt: unknown sensor '$1'" ;;
	esac
}
# Stops the sensor; prints "seen captured suppressed dropped bytes".
sensor_stop_counts() {
	local c bytes
	case $1 in
	none) printf 'null\tnull\tnull\tnull\tnull\n'; return ;;
	vigil) bytes=$(proc_wchar "$sensor_pid"); vigil_stop; c=$(vigil_counts) ;;
	bpftrace) bt_stop; bytes=$(stat -c %s "$tmp/bt.out"); c=$(bt_counts) ;;
	auditd) ad_stop; bytes=$(stat -c %s "$tmp/audit/audit.log" 2>/dev/null || echo 0); c=$(ad_counts) ;;
	esac
	printf '%s\t%s\n' "$c" "$bytes"
}

# ---------------------------------------------------------------- workloads
make_project() { # dir nfiles: a small C project, one function per file
	local d=$1 n=$2 i
	mkdir -p "$d"
	for i in $(seq "$n"); do
		cat >"$d/f$i.c" <<-EOF
			#include <stdio.h>
			#include <stdlib.h>
			#include <string.h>
			struct rec$i { int a[16]; char name[32]; };
			int f$i(int x)
			{
				struct rec$i r;
				memset(&r, 0, sizeof(r));
				for (int k = 0; k < 16; k++)
					r.a[k] = x * k + $i;
				snprintf(r.name, sizeof(r.name), "f%d", r.a[x & 15]);
				return (int)strlen(r.name) + r.a[3];
			}
		EOF
	done
	{
		printf 'OBJS := %s\n' "$(seq -f 'f%g.o' "$n" | tr '\n' ' ')"
		printf 'lib.a: $(OBJS)\n\tar rcs $@ $^\n'
		printf '%%.o: %%.c\n\tcc -O2 -c $< -o $@\n'
		printf 'clean:\n\trm -f *.o lib.a\n'
	} >"$d/Makefile"
}
run_workload() { # kind n: prints "ns ops"
	local s e
	if [ "$1" = build ]; then
		make -s -C "$tmp/proj-$2" clean >/dev/null
		s=$(date +%s%N)
		make -s -j2 -C "$tmp/proj-$2" >/dev/null
		e=$(date +%s%N)
		echo "$((e - s)) $2"
	else
		"$O/bench/workload" "$1" "$2"
	fi
}

progress() { printf 'bench: [%3d/%d] %s\n' "$@" >&2; }

# One measured run: config line, workload kind, n, round, workload name; appends to CELLS.
run_cell() {
	local cfg=$1 kind=$2 n=$3 round=$4 wname=$5 name sensor out ns ops cpu0 cpu1 hwm counts
	name=$(cfg_field "$cfg" 1)
	sensor=$(cfg_field "$cfg" 2)
	sensor_start "$sensor" "$(cfg_args "$cfg")"
	sleep "$QUIET"
	cpu0=0
	[ -n "$sensor_pid" ] && cpu0=$(proc_cpu_ns "$sensor_pid")
	hcpu0=0
	[ -n "$host_pid" ] && hcpu0=$(proc_cpu_ns "$host_pid")
	out=$(run_workload "$kind" "$n") || die "workload $kind $n failed under $name"
	read -r ns ops <<<"$out"
	cpu1=0 hwm=0 hcpu1=0
	if [ -n "$sensor_pid" ]; then
		sleep "$SETTLE"
		cpu1=$(proc_cpu_ns "$sensor_pid")
		[ -n "$host_pid" ] && hcpu1=$(proc_cpu_ns "$host_pid")
		hwm=$(proc_hwm_kb "$sensor_pid")
	fi
	counts=$(sensor_stop_counts "$sensor")
	# shellcheck disable=SC2086
	set -- $counts
	printf '{"round":%d,"workload":"%s","config":"%s","ns":%s,"ops":%s,"seen":%s,"captured":%s,"suppressed":%s,"dropped":%s,"bytes":%s,"cpu_s":%s,"host_cpu_s":%s,"rss_kb":%s}\n' \
		"$round" "$wname" "$name" "$ns" "$ops" "$1" "$2" "$3" "$4" "$5" \
		"$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.6f", (b - a) / 1e9}')" \
		"$(awk -v a="$hcpu0" -v b="$hcpu1" 'BEGIN {printf "%.6f", (b - a) / 1e9}')" \
		"$([ "$sensor" = none ] && echo null || echo "$hwm")" >>"$CELLS"
	LAST=$(awk -v n="$ns" -v o="$ops" 'BEGIN {printf "%.0f ns/op", n / o}')
	[ "$sensor" = none ] || LAST="$LAST, $2 events captured, $4 dropped"
}

# ---------------------------------------------------------------- set up
if ! [ -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs (bpftrace needs it)"
	tracefs_mounted=1
fi
audit_enabled_was=$(auditctl -s | awk '$1 == "enabled" {print $2}')
audit_backlog_was=$(auditctl -s | awk '$1 == "backlog_limit" {print $2}')
audit_busy=$(auditctl -s | awk '$1 == "pid" {print $2}')
[ "$audit_busy" = 0 ] || echo "bench: an audit daemon (pid $audit_busy) is running: the auditd configuration is skipped (bench starts its own; stop that one to include it)" >&2
[ -z "$(auditctl -l | grep -v '^No rules')" ] ||
	echo "bench: audit rules are already loaded (auditctl -l): every configuration pays for them" >&2

# Sensors already running (other vigild, bpftrace) run their programs on every workload here too.
OTHERS=$({ pgrep -x vigild || true; pgrep -x bpftrace || true; } | wc -l)
[ "$OTHERS" = 0 ] || echo "bench: $OTHERS other vigild or bpftrace processes are running: every configuration pays for their programs, and the ceiling for their events" >&2

mkdir -p "$tmp/audit" "$RESULTS"
cat >"$tmp/audit/auditd.conf" <<EOF
log_file = $tmp/audit/audit.log
log_format = RAW
log_group = root
priority_boost = 0
flush = INCREMENTAL_ASYNC
freq = 50
num_logs = 1
max_log_file = 4096
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = $tmp/audit/plugins
EOF
mkdir -p "$tmp/audit/plugins"
chmod 0640 "$tmp/audit/auditd.conf"

# Which event families vigild reports decides what bpftrace and auditd capture.
vigil_start ""
sleep 0.3
vigil_stop
FAMILIES=${BENCH_FAMILIES:-$(vigil_families)}
[ -n "${FAMILIES// /}" ] || die "vigild reported no event classes"
{
	echo 'BEGIN { printf("vg-ready\n"); }'
	for f in $FAMILIES; do cat "bench/bpftrace/$f.bt"; done
} >"$tmp/vg.bt"
for f in $FAMILIES; do cat "bench/audit/$f.rules"; done >"$tmp/audit.rules"
echo "bench: event families captured by every sensor: $FAMILIES" >&2

RUN_CONFIGS=() SAME_AS=() SHOWN=()
for c in "${CONFIGS[@]}"; do
	if [ "$(cfg_field "$c" 2)" = auditd ] && [ "$audit_busy" != 0 ]; then
		continue
	fi
	SHOWN+=("$c")
	if [ "$(cfg_field "$c" 3)" = - ]; then
		RUN_CONFIGS+=("$c")
	else
		SAME_AS+=("$(cfg_field "$c" 1)=$(cfg_field "$c" 3)")
		echo "bench: $(cfg_field "$c" 1) is the same configuration as $(cfg_field "$c" 3) today (bench/configs.txt): not run again" >&2
	fi
done

for w in "${WORKLOADS[@]}"; do
	read -r _ kind nf nq _ <<<"$w"
	[ "$kind" = build ] && make_project "$tmp/proj-$([ "$QUICK" = 1 ] && echo "$nq" || echo "$nf")" \
		"$([ "$QUICK" = 1 ] && echo "$nq" || echo "$nf")"
done

# Warm up (page cache, the compiler, socket tables) once, untimed.
for w in "${WORKLOADS[@]}"; do
	read -r wname kind nf nq _ <<<"$w"
	run_workload "$kind" "$([ "$QUICK" = 1 ] && echo "$nq" || echo "$nf")" >/dev/null ||
		die "workload $wname failed with no sensor"
done

# ---------------------------------------------------------------- rounds
total=$((ROUNDS * ${#WORKLOADS[@]} * ${#RUN_CONFIGS[@]}))
i=0
for r in $(seq "$ROUNDS"); do
	for w in "${WORKLOADS[@]}"; do
		read -r wname kind nf nq _ <<<"$w"
		n=$([ "$QUICK" = 1 ] && echo "$nq" || echo "$nf")
		# Rotate the order each round so no configuration always runs first.
		nc=${#RUN_CONFIGS[@]}
		for k in $(seq 0 $((nc - 1))); do
			cfg=${RUN_CONFIGS[$(((k + r - 1) % nc))]}
			i=$((i + 1))
			run_cell "$cfg" "$kind" "$n" "$r" "$wname"
			progress "$i" "$total" "round $r/$ROUNDS  $wname x $n  under $(cfg_field "$cfg" 1): $LAST"
		done
	done
done

# ---------------------------------------------------------------- zero-drop ceiling
# bench/flood makes file events vigil never suppresses (fchmod of a file per
# thread, two threads per CPU) at a paced rate, under vigil-raw's vigild
# arguments (no dedup, no rate limits), each step under a fresh sensor,
# draining into two sinks: bench/sink (vigild alone: every batch acknowledged
# and thrown away) and vigil host with SQLite. The rate doubles until the
# first counted drop (ring buffer full, or vigild's queue of unacknowledged
# frames over 1 MiB: the host is behind), or until the generator cannot keep
# 90% of the pace; then bisects. The ceiling is the highest rate whose step
# held STEP_S seconds with zero drops, in events/s.
RAMP=$tmp/ramp.jsonl
: >"$RAMP"
: >"$tmp/ramp-limit.jsonl"
if [ "$QUICK" = 1 ]; then C_START=50000 C_STEP_S=1 C_BISECT=1; else C_START=25000 C_STEP_S=4 C_BISECT=3; fi
# The sensor as the unit runs it (pkg/vigil.service.in's Nice=); the generator at the caller's.
C_NICE=$(sed -n 's/^Nice=//p' pkg/vigil.service.in)
[[ $C_NICE =~ ^-?[0-9]+$ ]] || die "pkg/vigil.service.in has no Nice= line"
C_MAX=3200000
# The generator's files: in a tmpfs, no disk in the measurement.
shm=$(mktemp -d /dev/shm/vg-bench-XXXXXX)
ceiling_start() { # sink
	local i
	rm -f "$tmp/ctl"
	if [ "$1" = sqlite ]; then
		vigil_start "$C_ARGS" "$C_NICE"
	else
		# shellcheck disable=SC2086
		nice -n "$C_NICE" "$O/bench/sink" "$O/vigild" $C_ARGS >>"$tmp/vigil.log" 2>&1 &
		host_pid=$!
		for i in $(seq 100); do
			[ -S "$tmp/ctl" ] && break
			kill -0 "$host_pid" 2>/dev/null || break
			sleep 0.05
		done
		sensor_pid=$(ps -o pid= --ppid "$host_pid" | head -1 | tr -d ' ')
	fi
	for i in $(seq 100); do
		[ -S "$tmp/ctl" ] && return 0
		kill -0 "$host_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$tmp/vigil.log" >&2
	die "vigild's control socket did not appear (log above)"
}
# One step: sink rate; appends a JSON line to RAMP; returns 1 on drops, 2 at the generator's limit.
ceiling_step() {
	local sink=$1 rate=$2 out stored=null drop c
	ceiling_start "$sink"
	sleep "$QUIET"
	out=$("$O/bench/flood" chmod "$rate" "$C_STEP_S" --dir "$shm" --control "$tmp/ctl" --sensor "$sensor_pid" \
		$([ "$sink" = sqlite ] && echo "--host $host_pid")) || die "flood failed ($sink, $rate/s)"
	if [ "$sink" = sqlite ]; then
		vigil_stop
		# Rows stored, and drops the host was told of (SensorCounters).
		c=$(vigil_counts)
		stored=$(echo "$c" | cut -f2)
		out=$(echo "$out" | jq -c --argjson st "$stored" --argjson d "$(echo "$c" | cut -f4)" \
			'. + {stored: $st, dropped_stored: $d}')
	else
		stop_pid "$host_pid" 30
		host_pid=
	fi
	out=$(echo "$out" | jq -c --arg s "$sink" '. + {sink: $s,
		dropped: ([.ringbuf_full + .events_lost, .dropped_stored // 0] | max)}')
	echo "$out" >>"$RAMP"
	drop=$(echo "$out" | jq .dropped)
	printf 'bench: ceiling %-6s %8d events/s asked, %8.0f done: %d emitted, %d dropped (ring full %d, queue %d); vigild %.2f CPU%s, machine %.0f%% busy\n' \
		"$sink" "$rate" "$(echo "$out" | jq .achieved_ops_s)" "$(echo "$out" | jq .emitted)" "$drop" \
		"$(echo "$out" | jq .ringbuf_full)" "$(echo "$out" | jq .events_lost)" "$(echo "$out" | jq .sensor_cpu)" \
		"$(echo "$out" | jq -r 'if .host_cpu then ", host \(.host_cpu) CPU" else "" end')" \
		"$(echo "$out" | jq '.machine_busy * 100')" >&2
	[ "$drop" -gt 0 ] && return 1
	[ "$(echo "$out" | jq --argjson r "$rate" '.achieved_ops_s < $r * 0.9')" = true ] && return 2
	return 0
}
for sink in vigild sqlite; do
	lo=0 hi=0 rate=$C_START limit="top of the ramp ($C_MAX/s)"
	while [ "$rate" -le "$C_MAX" ]; do
		st=0
		ceiling_step "$sink" "$rate" || st=$?
		if [ "$st" = 0 ]; then lo=$rate; rate=$((rate * 2)); continue; fi
		# At the generator's limit with no drops: held, but the sensor was not the bottleneck.
		if [ "$st" = 2 ]; then lo=$rate limit="generator limit"; else hi=$rate; fi
		break
	done
	b=0
	while [ "$hi" -gt 0 ] && [ "$b" -lt "$C_BISECT" ] && [ $((hi - lo)) -gt $((hi / 16)) ]; do
		mid=$(((lo + hi) / 2000 * 1000))
		b=$((b + 1))
		st=0
		ceiling_step "$sink" "$mid" || st=$?
		if [ "$st" = 0 ]; then lo=$mid; else hi=$mid; fi
	done
	[ "$hi" -gt 0 ] && limit="drops at $hi/s"
	printf '{"config":"%s","limit":"%s","lo":%d,"hi":%d}\n' "$sink" "$limit" "$lo" "$hi" >>"$tmp/ramp-limit.jsonl"
done

# ---------------------------------------------------------------- encode micro-benchmark
"$O/bench/encode" record "$tmp/capture.bin" >/dev/null
ENCODE=$("$O/bench/encode" replay "$tmp/capture.bin" --seconds "$([ "$QUICK" = 1 ] && echo 1 || echo 3)" --json)
echo "bench: encode+compress (userspace, no kernel): $(echo "$ENCODE" | jq -r '"\(.events_per_s | floor) events/s, protobuf \(.protobuf_mb_per_s) MB/s in, \(.wire_mb_per_s) MB/s out, \(.wire_bytes_per_event) bytes/event"')" >&2

# ---------------------------------------------------------------- results
OUT=$RESULTS/$TS
same_json=$(printf '%s\n' "${SAME_AS[@]+"${SAME_AS[@]}"}" | jq -R 'select(length > 0) | split("=") | {(.[0]): .[1]}' | jq -s 'add // {}')
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
jq -s \
	--slurpfile ramp <(cat "$RAMP") \
	--slurpfile limits "$tmp/ramp-limit.jsonl" \
	--argjson encode "$ENCODE" \
	--argjson same "$same_json" \
	--arg ts "$TS" --arg kernel "$(uname -r)" --arg cpu "$cpu_model" \
	--arg load0 "$LOAD0" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson others "$OTHERS" \
	--argjson cpus "$(nproc)" --argjson quick "$QUICK" --argjson rounds "$ROUNDS" --argjson cnice "$C_NICE" \
	--arg families "$FAMILIES" --arg wl "$(printf '%s\n' "${WORKLOADS[@]}")" \
	--arg cfgs "$(printf '%s\n' "${SHOWN[@]}")" '
	def median: sort | if length == 0 then null
		elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def r(n): if . == null then null else (. * pow(10; n) | round) / pow(10; n) end;
	. as $cells
	| ($wl | split("\n") | map(select(length > 0) | split(" ") | map(select(length > 0)))) as $wls
	| ($cfgs | split("\n") | map(select(length > 0) | split(" ") | map(select(length > 0)) | .[0])) as $cnames
	| {
		timestamp: $ts, quick: ($quick == 1), rounds: $rounds,
		machine: {kernel: $kernel, cpu: $cpu, cpus: $cpus, loadavg_start: $load0, loadavg_end: $load1,
			other_sensors: $others},
		families: ($families | split(" ") | map(select(length > 0))),
		same_as: $same,
		cells: [ $wls[] as $w | $cnames[] as $c
		  | ($same[$c] // $c) as $run
		  | [$cells[] | select(.workload == $w[0] and .config == $run)] as $mine
		  | [$cells[] | select(.workload == $w[0] and .config == "none")] as $base
		  | [$mine[] | . as $m | ($base[] | select(.round == $m.round)) as $b
		      | {ratio: ($m.ns / $b.ns), added: (($m.ns - $b.ns) / $m.ops)}] as $pairs
		  | {
			workload: $w[0], operation: ($w[4:] | join(" ")), config: $c,
			same_as: $same[$c],
			ops: ($mine[0].ops), runs: ($mine | length),
			ops_per_s: ([$mine[] | .ops / .ns * 1e9] | median | r(0)),
			ratio: ([$pairs[].ratio] | median | r(3)),
			ratio_range: (if ($pairs | length) > 1 then [([$pairs[].ratio] | min | r(2)), ([$pairs[].ratio] | max | r(2))] else null end),
			added_ns_per_op: ([$pairs[].added] | median | r(0)),
			events_seen: ([$mine[] | .seen | select(. != null)] | median | r(0)),
			events_captured: ([$mine[] | .captured | select(. != null)] | median | r(0)),
			events_suppressed: ([$mine[] | .suppressed | select(. != null)] | median | r(0)),
			events_dropped: ([$mine[] | .dropped | select(. != null)] | max),
			sensor_cpu_s_per_m_events: ([$mine[] | select(.captured != null and .captured > 0)
				| .cpu_s / .captured * 1e6] | median | r(1)),
			host_cpu_s_per_m_events: ([$mine[] | select(.captured != null and .captured > 0 and .host_cpu_s > 0)
				| .host_cpu_s / .captured * 1e6] | median | r(1)),
			sensor_peak_rss_kb: ([$mine[] | .rss_kb | select(. != null)] | max),
			bytes_per_event: ([$mine[] | select(.captured != null and .captured > 0)
				| .bytes / .captured] | median | r(1)),
			runs_raw: $mine
		  } ],
		ramp: [ $ramp[] ], ramp_sensor_nice: $cnice,
		max_zero_drop_events_per_s: ([ $limits[] | .config as $k | . as $l
		  | [$ramp[] | select(.sink == $k)] as $steps
		  | ([$steps[] | select(.dropped == 0)] | max_by(.achieved_ops_s)) as $ok
		  | ([$steps[] | select(.target_ops_s == $l.hi)][0]) as $bad
		  | {key: $k, value: {
			events_per_s: (if $ok then $ok.achieved_ops_s else 0 end),
			limited_by: $l.limit,
			at_ceiling: (if $ok then $ok | {sensor_cpu, host_cpu, machine_busy} else null end),
			first_drop: (if $bad then $bad | {target_ops_s, achieved_ops_s, ringbuf_full, events_lost,
				sensor_cpu, host_cpu, machine_busy} else null end)}} ] | from_entries),
		encode: $encode
	}' "$CELLS" >"$OUT.json"

# The table, in Markdown (bench/README.md and the README hold a copy).
jq -r '
	def n: if . == null then "-" else tostring end;
	def big: if . == null then "-" elif . >= 1e6 then "\(. / 1e5 | round / 10)M"
		elif . >= 1e4 then "\(. / 1e2 | round / 10)k" else tostring end;
	"| workload | config | ops/s | ratio (range over rounds) | +ns/op | events seen / captured / suppressed / dropped | sensor CPU s per M events | sensor peak RSS MiB | bytes/event |",
	"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
	(.cells[] |
	 if .same_as then "| \(.workload) | \(.config) | = \(.same_as) | | | | | | |"
	 else "| \(.workload) | \(.config) | \(.ops_per_s | big) | \(.ratio | n)\(if .ratio_range and .config != "none" then " (\(.ratio_range[0])-\(.ratio_range[1]))" else "" end) | \(.added_ns_per_op | n) | " +
	  (if .config == "none" then "-" else "\(.events_seen | big) / \(.events_captured | big) / \(.events_suppressed | n) / \(.events_dropped | n)" end) +
	  " | \(.sensor_cpu_s_per_m_events | n) | " +
	  (if .sensor_peak_rss_kb then "\(.sensor_peak_rss_kb / 1024 * 10 | round / 10)" else "-" end) +
	  " | \(.bytes_per_event | n) |" end),
	"",
	"Highest sustained rate with zero drops (file events from \(.machine.cpus * 2) threads, no dedup or rate limits, the sensor at nice \(.ramp_sensor_nice) as the unit runs it, events/s): " +
	  ([.max_zero_drop_events_per_s | to_entries[] | "into \(if .key == "sqlite" then "vigil host and SQLite" else "vigild alone" end) \(.value.events_per_s | n)" +
	    (if .value.first_drop then " (drops at \(.value.first_drop.target_ops_s)/s: ring buffer full \(.value.first_drop.ringbuf_full), queue over 1 MiB \(.value.first_drop.events_lost); vigild \(.value.first_drop.sensor_cpu) CPU" +
	      (if .value.first_drop.host_cpu then ", host \(.value.first_drop.host_cpu) CPU" else "" end) + ", machine \(.value.first_drop.machine_busy * 100 | round)% busy)"
	     elif .value.limited_by == "generator limit" then " or more (the generator fell below the pace with no drop: a lower bound)"
	     else " (\(.value.limited_by))" end)] | join("; ")),
	"",
	"Encode+compress, userspace only: \(.encode.events_per_s) events/s, protobuf \(.encode.protobuf_mb_per_s) MB/s in, \(.encode.wire_mb_per_s) MB/s out, \(.encode.wire_bytes_per_event) bytes/event (batch \(.encode.batch), zstd \(.encode.zstd_level)).",
	"",
	"\(.rounds) round(s)\(if .quick then " (QUICK)" else "" end), \(.machine.cpus) CPUs (\(.machine.cpu)), Linux \(.machine.kernel), load average \(.machine.loadavg_start) at the start, \(.machine.loadavg_end) at the end\(if .machine.other_sensors > 0 then ", \(.machine.other_sensors) other sensor processes running" else "" end); event families: \(.families | join(", ")).",
	(.same_as | to_entries[] | "\(.key) = \(.value): the same configuration today (no filter language yet), not run twice.")
' "$OUT.json" >"$OUT.md"

# The chart: time relative to no sensor, per workload and configuration.
for w in "${WORKLOADS[@]}"; do
	jq -r --arg w "$(cfg_field "$w" 1)" '[.cells[] | select(.workload == $w and .config != "none" and .same_as == null)]
		| [$w] + map(.ratio // 1 | tostring) | join(" ")' "$OUT.json"
done >"$tmp/chart.dat"
ctitles=$(for c in "${RUN_CONFIGS[@]}"; do cfg_field "$c" 1; done | grep -vx none | tr "\n" " ")
ncol=$(echo "$ctitles" | wc -w)
{
	echo "set terminal pngcairo size 1000,520 font ',10'"
	echo "set output '$OUT.png'"
	echo "set title 'vigil bench $TS: time per operation relative to no sensor (median of $ROUNDS round(s), log scale)'"
	echo "set style data histograms"
	echo "set style histogram clustered gap 1"
	echo "set style fill solid 0.8 border -1"
	echo "set logscale y"
	echo "set yrange [0.5:*]"
	echo "set ylabel 'x no sensor'"
	echo "set grid ytics"
	echo "set key top left"
	echo "set xtics nomirror"
	printf "plot "
	for k in $(seq "$ncol"); do
		[ "$k" -gt 1 ] && printf ", "
		printf "'%s' using %d:xtic(1) title '%s'" "$tmp/chart.dat" $((k + 1)) "$(echo "$ctitles" | awk -v k="$k" '{print $k}')"
	done
	echo
} >"$tmp/chart.gp"
gnuplot "$tmp/chart.gp" 2>"$tmp/gnuplot.log" || { cat "$tmp/gnuplot.log" >&2; die "gnuplot failed"; }

echo
cat "$OUT.md"
echo
echo "bench: wrote $OUT.json, $OUT.md, $OUT.png"
