#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# vigild's CPU seconds per million file events, a number the machine's noise
# does not ruin the way a rate does: vigild (vigil-raw's arguments: no dedup,
# no rate limits) drains into bench/sink, bench/flood makes RATE fchmod events
# per second for SECONDS, and vigild's CPU time (every thread, schedstat) is
# read before the flood and after vigild has read all it caused.
#
#   bench/cost.sh BUILD [RATE] [SECONDS] [--perf FILE] [--nice N]
#
# RATE defaults to 50000 (a rate vigild holds), SECONDS to 10. --perf FILE
# records `perf record -g` of vigild during the flood; --nice N runs the sink
# and vigild at that niceness (what the systemd unit's Nice= does), the
# flood at the caller's. Prints one line: emitted, dropped, rate achieved,
# vigild's CPU share, CPU s per million events, ns per event. Root (vigild
# loads BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/cost.sh BUILD [RATE] [SECONDS] [--perf FILE] [--nice N]"
O=${1:?$usage}
RATE=${2:-50000}
SECS=${3:-10}
PERF="" NICE=0
shift $(($# < 3 ? $# : 3))
while [ $# -gt 0 ]; do
	case $1 in
	--perf) PERF=${2:?$usage} ;;
	--nice) NICE=${2:?$usage} ;;
	*) echo "$usage" >&2 && exit 2 ;;
	esac
	shift 2
done
tmp=$(mktemp -d /tmp/vg-cost-XXXXXX)
shm=$(mktemp -d /dev/shm/vg-cost-XXXXXX)
sink_pid=
cleanup() {
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	rm -rf "$tmp" "$shm"
}
trap cleanup EXIT
raw=$(sed -e 's/#.*//' bench/configs.txt | awk '$1 == "vigil-raw" {for (i = 4; i <= NF; i++) printf "%s ", $i}')
# shellcheck disable=SC2086
nice -n "$NICE" "$O/bench/sink" "$O/vigild" $raw --queue-mem-kb 1024 --control "$tmp/ctl" 2>"$tmp/log" &
sink_pid=$!
for _ in $(seq 200); do
	[ -S "$tmp/ctl" ] && break
	kill -0 "$sink_pid" 2>/dev/null || { cat "$tmp/log" >&2; exit 1; }
	sleep 0.05
done
[ -S "$tmp/ctl" ] || { cat "$tmp/log" >&2; echo "cost: no control socket" >&2; exit 1; }
vpid=$(ps -o pid= --ppid "$sink_pid" | head -1 | tr -d ' ')
sleep 1 # start-up work (the /proc snapshot) done before the clock starts
cpu() { cat /proc/"$vpid"/task/*/schedstat | awk '{n += $1} END {printf "%.0f", n}'; }
c0=$(cpu)
[ -n "$PERF" ] && { perf record -q -g -p "$vpid" -o "$PERF" 2>/dev/null & perf_pid=$!; }
out=$("$O/bench/flood" chmod "$RATE" "$SECS" --dir "$shm" --control "$tmp/ctl" --sensor "$vpid")
c1=$(cpu)
[ -n "$PERF" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
echo "$out" | jq -r --argjson c0 "$c0" --argjson c1 "$c1" \
	'"emitted \(.emitted) dropped \(.ringbuf_full + .events_lost) achieved \(.achieved_ops_s | floor)/s vigild \(.sensor_cpu) CPU, \((($c1 - $c0) / 1e9) * 1000 | floor / 1000) CPU s: \((($c1 - $c0) / 1e3 / .emitted) * 100 | floor / 100) CPU s per M events (\(($c1 - $c0) / .emitted | floor) ns/event)"'
