#!/bin/bash
# What a filter file saves on a real developer workload: a git clone of this
# repository and a parallel build of the clone, with the sensor running,
# once without filters and once with FILTERS (default filters/default.vf).
# Prints file events seen, filtered and stored per run (the sensor sees the
# whole machine: run it on a quiet one), those stored of the workload (its
# trees and the compilers' /tmp/cc* files), and each rule's hits.
# Root only (it loads the BPF programs). Usage: bench/filter_effect.sh [FILTERS]
set -euo pipefail
cd "$(dirname "$0")/.."
filters=${1:-filters/default.vf}
[ "$(id -u)" = 0 ] || { echo "bench/filter_effect.sh loads BPF programs: run as root" >&2; exit 1; }
[ -x build/vigil ] && [ -x build/vigild ] || make -s all
work=$(mktemp -d /tmp/vg-filter-effect-XXXXXX)
trap 'rm -rf "$work"' EXIT
count() { sqlite3 "$1" "$2"; }
for cfg in none filters; do
	args=(--flush-ms 100)
	[ "$cfg" = filters ] && args+=(--filters "$filters")
	build/vigil host --db "$work/$cfg.db" --spawn build/vigild "${args[@]}" \
		>"$work/$cfg.log" 2>&1 &
	host=$!
	for _ in $(seq 100); do
		[ "$(count "$work/$cfg.db" 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -gt 0 ] && break
		sleep 0.1
	done
	git clone -q . "$work/src-$cfg"
	make -s -C "$work/src-$cfg" -j2 O="$work/obj-$cfg" all >/dev/null 2>&1 ||
		echo "warning: the build of the clone failed (the counts still stand)" >&2
	sleep 1
	kill "$host"
	wait "$host" || true
	db="$work/$cfg.db"
	echo "$cfg: file events seen $(count "$db" "SELECT sum(Seen) FROM SensorCounters WHERE EventClass='file'")," \
		"filtered in the kernel $(count "$db" "SELECT sum(Filtered) FROM SensorCounters WHERE EventClass='file'")," \
		"stored $(count "$db" 'SELECT count(*) FROM DeviceFileEvents')," \
		"of the workload $(count "$db" "SELECT count(*) FROM DeviceFileEvents
			WHERE FolderPath LIKE '$work/%' OR FolderPath LIKE '/tmp/cc%'")"
	if [ "$cfg" = filters ]; then
		count "$db" "SELECT printf('  line %-3d hits %-6d %s', Line, Hits, Rule) FROM SensorFilterRules
			WHERE Hits > 0 ORDER BY Line"
	fi
done
