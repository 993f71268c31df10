#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Train the zstd dictionary shipped with both sides (schemas/vigil-v1.zdict)
# on a recorded workload, and print the compression ratio with and without it.
#   scripts/train-dict.sh [BUILD_DIR] [OUT]      (root: runs the real sensor)
# The workload: a parallel build of vigil itself from a copy, some file
# churn and loopback connections, as a developer workstation produces.
set -euo pipefail
O=${1:-build}
OUT=${2:-schemas/vigil-v1.zdict}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "train-dict: runs vigild, needs root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vg-dict-XXXXXX)
host=
cleanup() {
	[ -n "$host" ] && kill -TERM "$host" 2>/dev/null && wait "$host" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/raw" "$tmp/src"

"$O/vigil" host --db "$tmp/t.db" --no-rules --spawn "$O/vigild" --no-dict \
	--dump-batches "$tmp/raw" 2>"$tmp/host.log" &
host=$!
for _ in $(seq 100); do
	[ "$(sqlite3 "$tmp/t.db" 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -ge 1 ] && break
	sleep 0.1
done

git ls-files -z | xargs -0 cp --parents -t "$tmp/src"
make -C "$tmp/src" -j2 O="$tmp/src/build" all >/dev/null 2>&1 || true
for i in $(seq 200); do echo "$i" >"$tmp/f$i"; mv "$tmp/f$i" "$tmp/g$i"; chmod +x "$tmp/g$i"; rm "$tmp/g$i"; done
for i in $(seq 20); do (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null || true; done
sleep 1
kill -TERM "$host"
wait "$host" || true
host=

# Train on the odd batches, measure on the even ones: no credit for memorising.
mapfile -t all < <(ls "$tmp/raw"/*.pb)
train=(); held=()
for i in "${!all[@]}"; do
	if ((i % 2)); then train+=("${all[$i]}"); else held+=("${all[$i]}"); fi
done
n=${#held[@]}
raw=$(cat "${held[@]}" | wc -c)
zstd -q -f --train "${train[@]}" --maxdict=65536 -o "$OUT"
plain=0; dict=0
for f in "${held[@]}"; do
	plain=$((plain + $(zstd -q -3 -c "$f" | wc -c)))
	dict=$((dict + $(zstd -q -3 -D "$OUT" -c "$f" | wc -c)))
done
# Events in the held-out batches: vigild names each file NNN-EVENTS.pb.
events=0
for f in "${held[@]}"; do
	e=${f##*-}
	events=$((events + ${e%.pb}))
done
printf 'trained on %d batches, measured on %d others: %d events, %d bytes of protobuf\n' \
	"${#train[@]}" "$n" "$events" "$raw"
printf 'zstd -3 without dictionary: %d bytes (%.1f bytes/event, ratio %.2f)\n' \
	"$plain" "$(echo "$plain/$events" | bc -l)" "$(echo "$raw/$plain" | bc -l)"
printf 'zstd -3 with %s (%d bytes): %d bytes (%.1f bytes/event, ratio %.2f)\n' \
	"$OUT" "$(wc -c <"$OUT")" "$dict" "$(echo "$dict/$events" | bc -l)" "$(echo "$raw/$dict" | bc -l)"
