#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make bench-console: the console's pages timed on a fleet store of a million
# events. A throwaway PostgreSQL (scripts/pgtest.sh) gets N events (default
# 1,000,000: 60% process, 30% file, 10% network) of 10 devices over the last
# day, half of them one device's (bench-0, the timeline timed), 1,000 frames
# and the counters of each device, and 200 alerts of 10 evidence rows; then
# `vigil server --console-pg` (as the analyst role) answers each page
# ROUNDS times (default 5) over HTTPS to curl, and the median and the
# slowest of each are printed in seconds.
#   bench/console.sh [--build DIR] [--events N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
O=build
N=1000000 ROUNDS=5
while [ $# -gt 0 ]; do
	case $1 in
	--build) O=$2; shift 2 ;;
	--events) N=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	*) echo "usage: bench/console.sh [--build DIR] [--events N] [--rounds R]" >&2; exit 2 ;;
	esac
done
O=$(cd "$O" && pwd)
. "$SRC/bench/fleet.sh"
fleet_pg bench-console console
fleet_tls
"$O/vigil" server roles --pg "$PG" >/dev/null
TOKEN=$("$O/vigil" server analyst add bench --pg "$PG")
psql() { runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -A -t -q "$PG" -v ON_ERROR_STOP=1 -c "$1"; }

# One event every 86.4 s / N over the last day: device i % 10 < 5 is bench-0, else bench-(i % 10).
DEV="CASE WHEN i % 10 < 5 THEN 'bench-0' ELSE 'bench-' || (i % 10) END"
TS="now() - (i * (interval '86399 s' / $N))"
echo "bench-console: loading $N events"
T0=$(date +%s.%N)
psql "SELECT vigil_partition(current_date - 1), vigil_partition(current_date)" >/dev/null
psql "INSERT INTO \"DeviceInfo\" (\"Timestamp\", \"DeviceId\", \"DeviceName\", \"ClientVersion\",
	\"OSPlatform\", \"OSDistribution\", \"HostDeviceId\", \"DeviceTags\")
	SELECT now(), 'bench-' || d, 'host' || d, '0.1.0', 'Linux', 'Debian',
	CASE WHEN d = 9 THEN 'bench-8' END, CASE WHEN d = 9 THEN '[\"WSL2\"]' ELSE '[]' END
	FROM generate_series(0, 9) d"
psql "INSERT INTO \"DeviceProcessEvents\" (\"Timestamp\", \"DeviceId\", \"DeviceName\", \"ActionType\",
	\"ReportId\", \"FileName\", \"FolderPath\", \"ProcessId\", \"ProcessParentId\", \"ProcessCommandLine\",
	\"AccountName\", \"InitiatingProcessId\", \"InitiatingProcessFileName\", \"InitiatingProcessCommandLine\")
	SELECT $TS, $DEV, 'host', CASE WHEN i % 20 < 10 THEN 'ProcessCreated' ELSE 'ProcessTerminated' END,
	i, 'prog' || (i % 500), '/usr/bin/prog' || (i % 500), 100000 + i / 20, 100000 + i / 20 - 1,
	'/usr/bin/prog' || (i % 500) || ' --run ' || md5(i::text), 'root', 100000 + i / 20 - 1, 'bash',
	'bash -c work' FROM generate_series(1, $N * 6 / 10) i"
psql "INSERT INTO \"DeviceFileEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\", \"ReportId\",
	\"FileName\", \"FolderPath\", \"FileSize\", \"InitiatingProcessId\", \"InitiatingProcessFileName\",
	\"InitiatingProcessCommandLine\") SELECT $TS, $DEV, 'FileCreated', i, 'f' || (i % 1000),
	'/var/tmp/f' || (i % 1000), i % 4096, 100000 + i / 20, 'prog', 'prog --write'
	FROM generate_series($N * 6 / 10 + 1, $N * 9 / 10) i"
psql "INSERT INTO \"DeviceNetworkEvents\" (\"Timestamp\", \"DeviceId\", \"ActionType\", \"ReportId\",
	\"RemoteIP\", \"RemotePort\", \"LocalIP\", \"LocalPort\", \"Protocol\", \"InitiatingProcessId\",
	\"InitiatingProcessFileName\", \"InitiatingProcessCommandLine\") SELECT $TS, $DEV,
	'ConnectionSuccess', i, '10.0.' || (i % 256) || '.' || (i % 200), 443, '10.1.0.1', 30000 + i % 30000,
	'Tcp', 100000 + i / 20, 'curl', 'curl https://x' FROM generate_series($N * 9 / 10 + 1, $N) i"
psql "INSERT INTO \"ReceivedFrames\" SELECT 'bench-' || d, 1, s, now() - s * interval '60 s', $N / 10000
	FROM generate_series(0, 9) d, generate_series(1, 1000) s"
psql "INSERT INTO \"SensorCounters\" SELECT 'bench-' || d, c, 1000, 900, 50, 40, 0, 10, 0, now()
	FROM generate_series(0, 9) d, unnest(ARRAY['exec', 'exit', 'file', 'network']) c"
psql "INSERT INTO \"AlertInfo\" (\"Timestamp\", \"AlertId\", \"Title\", \"Category\", \"Severity\",
	\"DeviceId\", \"GroupKey\") SELECT now() - a * interval '1 min', 'alert-' || a, 'Bench alert ' || a,
	'Execution', (ARRAY['High', 'Medium', 'Low'])[a % 3 + 1], 'bench-' || (a % 10), 'g' || a
	FROM generate_series(1, 200) a"
psql "INSERT INTO \"AlertEvidence\" (\"Timestamp\", \"AlertId\", \"EntityType\", \"DeviceId\",
	\"ActionType\", \"ProcessCommandLine\", \"SourceTable\", \"SourceRowId\", \"ReportId\")
	SELECT p.\"Timestamp\", 'alert-' || a, 'Process', p.\"DeviceId\", p.\"ActionType\",
	p.\"ProcessCommandLine\", 'DeviceProcessEvents', 0, p.\"ReportId\"
	FROM generate_series(1, 200) a, generate_series(1, 10) k
	JOIN LATERAL (SELECT * FROM \"DeviceProcessEvents\" WHERE \"ReportId\" = (a * 10 + k) * 10 + a % 10
	AND \"Timestamp\" > now() - interval '2 days') p ON true"
psql "ANALYZE"
T1=$(date +%s.%N)
echo "bench-console: loaded in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", b - a }') s;" \
	"$(psql 'SELECT (SELECT count(*) FROM "DeviceProcessEvents") + (SELECT count(*) FROM "DeviceFileEvents") + (SELECT count(*) FROM "DeviceNetworkEvents")') events," \
	"bench-0: $(psql "SELECT (SELECT count(*) FROM \"DeviceProcessEvents\" WHERE \"DeviceId\" = 'bench-0') + (SELECT count(*) FROM \"DeviceFileEvents\" WHERE \"DeviceId\" = 'bench-0') + (SELECT count(*) FROM \"DeviceNetworkEvents\" WHERE \"DeviceId\" = 'bench-0')")"

"$O/vigil" server --pg "$PG" --listen https://127.0.0.1:0 --cert srv.pem --key srv.key \
	--console-pg "$PG user=vigil_analyst" 2>server.log &
SPID=$!
fleet_port bench-console
U=https://127.0.0.1:$PORT
C=(curl -sS --cacert ca.pem -b jar -c jar)
"${C[@]}" -o /dev/null --data-urlencode name=bench --data-urlencode "token=$TOKEN" "$U/console/login"
CSRF=$("${C[@]}" "$U/console/hunt" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | sed -n 1p)
[ -n "$CSRF" ] || { echo "bench-console: no session" >&2; exit 1; }
# The timeline's second page, an event and a process of bench-0 from its first page.
FIRST=$("${C[@]}" "$U/console/device?id=bench-0")
NEXT=$(grep -o 'class="next" href="[^"]*"' <<<"$FIRST" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
EVENT=$(grep -o 'class="event" href="[^"]*"' <<<"$FIRST" | sed -n 1p | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
TREE=$(grep -o 'class="tree" href="[^"]*"' <<<"$FIRST" | sed -n 1p | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
[ -n "$NEXT" ] && [ -n "$EVENT" ] && [ -n "$TREE" ] || { echo "bench-console: the timeline has no links" >&2; exit 1; }
RARE=$(psql "SELECT md5('$((N / 3))'::text)")

# page NAME URL [curl args...]: ROUNDS answers (each must be 200): median and slowest.
page() {
	local name=$1 url=$2 t code all=()
	shift 2
	for _ in $(seq "$ROUNDS"); do
		read -r code t < <("${C[@]}" -o body.html -w '%{http_code} %{time_total}\n' "$@" "$U$url")
		[ "$code" = 200 ] || { echo "bench-console: $name: HTTP $code" >&2; head -c 600 body.html >&2; exit 1; }
		all+=("$t")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk -v n="$name" '{ v[NR] = $1 } END {
		printf "console: %-34s median %.3f s  max %.3f s\n", n, v[int((NR + 1) / 2)], v[NR] }'
}
HUNT=(--data-urlencode "csrf=$CSRF" --data-urlencode fmt=html)
page "devices" "/console/devices"
page "devices tag=WSL2" "/console/devices?tag=WSL2"
page "device timeline (first page)" "/console/device?id=bench-0"
page "device timeline (next page)" "$NEXT"
page "device timeline type=network" "/console/device?id=bench-0&type=network"
page "device timeline text (1 match)" "/console/device?id=bench-0&q=$RARE"
page "device timeline text (every exec)" "/console/device?id=bench-0&q=--run"
page "event" "$EVENT"
page "process tree" "$TREE"
page "alerts" "/console/alerts"
page "hunt: has on a command line" "/console/hunt" "${HUNT[@]}" \
	--data-urlencode 'q=DeviceProcessEvents | where ProcessCommandLine has "prog17" | take 100'
page "hunt: summarize by device" "/console/hunt" "${HUNT[@]}" \
	--data-urlencode 'q=DeviceProcessEvents | summarize n = count() by DeviceId'
page "hunt: CSV export of 10,000 rows" "/console/hunt" --data-urlencode "csrf=$CSRF" \
	--data-urlencode fmt=csv --data-urlencode 'q=DeviceNetworkEvents | take 10000'
