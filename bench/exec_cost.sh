#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The cost of vigil on an exec storm, measured side by side in one run:
# ROUNDS times, alternately, N fork+exec of /bin/true with no sensor and with
# `vigil host --spawn vigild` storing every event in SQLite. Prints each
# round and the medians; writes bench/results/exec-<timestamp>.json.
#   bench/exec_cost.sh [BUILD_DIR] [N] [ROUNDS]
set -euo pipefail
O=${1:-build}
N=${2:-2000}
ROUNDS=${3:-5}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: vigild loads BPF programs and needs root (sudo make bench)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vg-bench-XXXXXX)
host_pid=
cleanup() {
	[ -n "$host_pid" ] && kill -TERM "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

start_sensor() {
	rm -f "$tmp/b.db"*
	"$O/vigil" host --db "$tmp/b.db" --spawn "$O/vigild" 2>>"$tmp/host.log" &
	host_pid=$!
	for _ in $(seq 100); do
		[ "$(sqlite3 "$tmp/b.db" 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -ge 1 ] && return 0
		sleep 0.1
	done
	echo "bench: sensor did not start (see $tmp/host.log)" >&2
	cat "$tmp/host.log" >&2
	exit 1
}

stop_sensor() {
	kill -TERM "$host_pid"
	wait "$host_pid"
	host_pid=
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

base=() ; with=() ; stored=()
printf 'exec storm: %d x fork+exec /bin/true, %d rounds, alternating\n' "$N" "$ROUNDS"
for r in $(seq "$ROUNDS"); do
	b=$("$O/bench/execloop" "$N")
	start_sensor
	w=$("$O/bench/execloop" "$N")
	stop_sensor
	s=$(sqlite3 "$tmp/b.db" "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType='ProcessCreated' AND FolderPath LIKE '%/true'")
	base+=("$b"); with+=("$w"); stored+=("$s")
	printf '  round %d: no sensor %8.1f ms   vigil %8.1f ms   (%+.1f%%)   execs stored %d/%d\n' \
		"$r" "$(echo "$b/1000000" | bc -l)" "$(echo "$w/1000000" | bc -l)" \
		"$(echo "($w-$b)*100/$b" | bc -l)" "$s" "$N"
done
mb=$(printf '%s\n' "${base[@]}" | median)
mw=$(printf '%s\n' "${with[@]}" | median)
printf 'median: no sensor %.1f ms (%.0f us/exec), vigil %.1f ms (%.0f us/exec), ratio %.3f\n' \
	"$(echo "$mb/1000000" | bc -l)" "$(echo "$mb/$N/1000" | bc -l)" \
	"$(echo "$mw/1000000" | bc -l)" "$(echo "$mw/$N/1000" | bc -l)" "$(echo "$mw/$mb" | bc -l)"
mkdir -p bench/results
out=bench/results/exec-$(date -u +%Y%m%dT%H%M%SZ).json
{
	printf '{"workload":"exec storm","n":%d,"rounds":%d,' "$N" "$ROUNDS"
	printf '"kernel":"%s","cpus":%d,' "$(uname -r)" "$(nproc)"
	printf '"no_sensor_ns":[%s],"vigil_ns":[%s],"execs_stored":[%s],' \
		"$(IFS=,; echo "${base[*]}")" "$(IFS=,; echo "${with[*]}")" "$(IFS=,; echo "${stored[*]}")"
	printf '"median_ratio":%.4f}\n' "$(echo "$mw/$mb" | bc -l)"
} >"$out"
echo "wrote $out"
