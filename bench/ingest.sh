#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make bench-ingest (part of make bench): K hosts on this machine (bench/ingest.c,
# one thread each) ship batch frames over HTTPS to one `vigil server`, which
# stores them in a throwaway PostgreSQL (scripts/pgtest.sh). Prints events
# stored per second, the server's CPU seconds per million events (and
# PostgreSQL's), bytes per event in PostgreSQL (event tables, their indexes
# and ReceivedFrames), and p50/p99 from send to commit; once per --per-request
# value, in one run on one server and database (default "1 64": one frame per
# request as the Windows plug-in sends, then 64 as `vigil host` sends a backlog).
# --sqlite: the same frames into `vigil host --listen unix:PATH` and SQLite
# instead (each host a sensor's connection, with the host's default rules):
# events stored per second and the host's CPU seconds per million events.
#   bench/ingest.sh [--build DIR] [--quick] [--sqlite] [--hosts K] [--batches N] [--events M] [--threads T]
#                   [--per-request "P1 P2 ..."]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
O=build
HOSTS=4 BATCHES=250 EVENTS=500 THREADS=4 PER="1 64" SQLITE=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) O=$2; shift 2 ;;
	--sqlite) SQLITE=1; shift ;;
	--quick) BATCHES=25; shift ;;
	--hosts) HOSTS=$2; shift 2 ;;
	--batches) BATCHES=$2; shift 2 ;;
	--events) EVENTS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--per-request) PER=$2; shift 2 ;;
	*) echo "usage: bench/ingest.sh [--build DIR] [--quick] [--sqlite] [--hosts K] [--batches N] [--events M] [--threads T] [--per-request \"P1 P2\"]" >&2; exit 2 ;;
	esac
done
O=$(cd "$O" && pwd)
# CPU seconds (user + system) of a process.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }

if [ "$SQLITE" = 1 ]; then
	D=$(mktemp -d /tmp/vigil-ingest-sqlite-XXXXXX)
	HPID=
	trap '[ -z "$HPID" ] || kill "$HPID" 2>/dev/null; wait; rm -rf "$D"' EXIT
	"$O/vigil" host --db "$D/v.db" --listen "unix:$D/s" 2>"$D/host.log" &
	HPID=$!
	for _ in $(seq 100); do [ -S "$D/s" ] && break; sleep 0.05; done
	[ -S "$D/s" ] || { cat "$D/host.log" >&2; echo "bench-ingest: vigil host did not listen" >&2; exit 1; }
	C0=$(cpu "$HPID")
	OUT=$("$O/bench/ingest" --unix "$D/s" --hosts "$HOSTS" --batches "$BATCHES" --events "$EVENTS")
	# Until the host is idle: the detections over the last batches run after them.
	C1=$(cpu "$HPID") C=
	while [ "$C1" != "$C" ]; do sleep 1.5; C=$C1 C1=$(cpu "$HPID"); done
	kill "$HPID"
	wait "$HPID" || true
	HPID=
	STORED=$(sqlite3 "$D/v.db" 'SELECT (SELECT count(*) FROM DeviceProcessEvents) + (SELECT count(*) FROM DeviceFileEvents) + (SELECT count(*) FROM DeviceNetworkEvents)')
	EVENTS_SENT=$(sed 's/.* events=\([0-9]*\).*/\1/' <<<"$OUT")
	[ "$STORED" = "$EVENTS_SENT" ] || { echo "bench-ingest: $EVENTS_SENT events sent, $STORED stored" >&2; exit 1; }
	echo "ingest (vigil host, SQLite): $OUT"
	awk -v c0="$C0" -v c1="$C1" -v n="$STORED" -v b="$(stat -c %s "$D/v.db")" 'BEGIN {
		printf "ingest (vigil host, SQLite): host_cpu_s_per_M_events=%.1f sqlite_bytes_per_event=%.0f\n",
			(c1 - c0) * 1e6 / n, b / n }'
	exit 0
fi

. "$SRC/bench/fleet.sh"
fleet_pg bench-ingest ingest
fleet_tls
"$O/vigil" server --pg "$PG" --listen https://127.0.0.1:0 --cert srv.pem --key srv.key \
	--threads "$THREADS" 2>server.log &
SPID=$!
fleet_port bench-ingest
"$O/vigil" server onboard --pg "$PG" --url "https://127.0.0.1:$PORT" --ca ca.pem --out ob.txt >/dev/null
SECRET=$(sed -n 's/^secret=//p' ob.txt)

# CPU seconds of every postgres process.
pgcpu() {
	local s=0 p
	for p in $(pgrep -u postgres); do
		s=$(awk -v s="$s" -v t="$(getconf CLK_TCK)" '{ print s + ($14 + $15) / t }' "/proc/$p/stat" 2>/dev/null || echo "$s")
	done
	echo "$s"
}
psql() { runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -A -t -q "$PG" -c "$1"; }
stored() { psql 'SELECT (SELECT count(*) FROM "DeviceProcessEvents") + (SELECT count(*) FROM "DeviceFileEvents") + (SELECT count(*) FROM "DeviceNetworkEvents")'; }
for P in $PER; do
	S0=$(stored)
	C0=$(cpu "$SPID") P0=$(pgcpu)
	OUT=$("$O/bench/ingest" --url "https://127.0.0.1:$PORT" --ca ca.pem --secret "$SECRET" \
		--hosts "$HOSTS" --batches "$BATCHES" --events "$EVENTS" --per-request "$P" --tag "p$P")
	C1=$(cpu "$SPID") P1=$(pgcpu)
	STORED=$(( $(stored) - S0 ))
	EVENTS_SENT=$(sed 's/.* events=\([0-9]*\).*/\1/' <<<"$OUT")
	[ "$STORED" = "$EVENTS_SENT" ] || { echo "bench-ingest: $EVENTS_SENT events sent, $STORED stored" >&2; exit 1; }
	echo "ingest: $OUT"
	awk -v c0="$C0" -v c1="$C1" -v p0="$P0" -v p1="$P1" -v n="$STORED" -v t="$THREADS" -v p="$P" 'BEGIN {
		printf "ingest: per_request=%d server threads=%d server_cpu_s_per_M_events=%.1f postgres_cpu_s_per_M_events=%.1f\n",
			p, t, (c1 - c0) * 1e6 / n, (p1 - p0) * 1e6 / n }'
done
STORED=$(stored)
BYTES=$(psql "WITH t(n) AS (VALUES ('DeviceProcessEvents'), ('DeviceFileEvents'), ('DeviceNetworkEvents'), ('ReceivedFrames')) SELECT sum(pg_total_relation_size(x)) FROM (SELECT format('%I', n)::regclass x FROM t UNION SELECT p.relid FROM t, pg_partition_tree(format('%I', n)::regclass) p) s")
awk -v n="$STORED" -v b="$BYTES" 'BEGIN { printf "ingest: pg_bytes_per_event=%.0f (every run)\n", b / n }'
