#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vigil do-it-yourself detection test: harmless actions that look like an
# attack, so that a running sensor raises alerts within seconds.
#   1. a "download" with curl (of a local file, no network: file:///bin/true)
#      into a temporary directory, made executable and run  -> exec from /tmp,
#      and with file events: file downloaded by curl made executable and run
#   2. a tool pointed at credential stores (/etc/shadow, SSH keys, cloud
#      credentials), reading zero bytes of them               -> credential enumeration
# Nothing leaves the machine, nothing is read or changed, the temporary
# directory is removed.
#   scripts/diy.sh [DB]   with DB (the store of `vigil host`, e.g. ./vigil.db):
#                         wait up to 10 s for the alerts and print them
set -euo pipefail

DB=${1:-}
VIGIL=${VIGIL:-$(dirname "$0")/../build/vigil}
tag=vigil-diy-$$-$RANDOM
dir=$(mktemp -d "/tmp/$tag.XXXXXX")
trap 'rm -rf "$dir"' EXIT
start=$(date -u +%Y-%m-%dT%H:%M:%S)

echo "vigil DIY test ($tag): 1. download into $dir, make executable, run"
if command -v curl >/dev/null; then
	curl -s -o "$dir/payload" file:///bin/true
elif command -v wget >/dev/null; then
	cp /bin/true "$dir/payload" # wget has no file:// scheme
else
	cp /bin/true "$dir/payload"
fi
chmod +x "$dir/payload"
"$dir/payload" "$tag"

echo "vigil DIY test ($tag): 2. list credential stores (reads 0 bytes)"
head -c0 /etc/shadow "$HOME/.ssh/id_rsa" "$HOME/.aws/credentials" "$tag" 2>/dev/null || true

echo
if [ -z "$DB" ]; then
	echo "Done. With the sensor running, the alerts are in its store within seconds:"
	echo "  vigil alerts --db ./vigil.db"
	echo "  vigil hunt --db ./vigil.db 'AlertInfo | where Timestamp >= \"$start\"'"
	exit 0
fi
if [ ! -x "$VIGIL" ]; then
	echo "diy: no vigil binary at $VIGIL (set VIGIL=PATH)" >&2
	exit 1
fi
q="AlertEvidence | where Timestamp >= \"$start\" and ProcessCommandLine has \"$tag\" | distinct AlertId | count"
for _ in $(seq 1 50); do
	n=$("$VIGIL" hunt --db "$DB" --format csv "$q" 2>/dev/null | tail -n +2 | tr -d '\r')
	[ "${n:-0}" -ge 2 ] && break
	sleep 0.2
done
echo "alerts raised by this test: ${n:-0} (see: vigil alerts --db $DB)"
"$VIGIL" hunt --db "$DB" "AlertEvidence | where Timestamp >= \"$start\" and ProcessCommandLine has \"$tag\"
| project Timestamp, AlertId, Title, SourceTable, SourceRowId, ProcessCommandLine"
[ "${n:-0}" -ge 2 ]
