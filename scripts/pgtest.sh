#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# A throwaway PostgreSQL 15 cluster for the fleet tests: made in a folder of
# the caller's, run as the postgres user (PostgreSQL refuses root), listening
# on a unix socket in that folder and on 127.0.0.1 at a free port, with a
# database `vigil`. Nothing of the machine's own clusters is touched. DIR's
# parent must be one the postgres user can pass through (mode o+x).
#   scripts/pgtest.sh start DIR    print the conninfo on stdout
#   scripts/pgtest.sh stop DIR     stop it (DIR is left for the caller to remove)
#   scripts/pgtest.sh conninfo DIR
#   scripts/pgtest.sh resume DIR   start a stopped cluster again, on its port
set -euo pipefail

cmd=${1:?usage: pgtest.sh start|stop|conninfo DIR}
dir=${2:?usage: pgtest.sh start|stop|conninfo DIR}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "pgtest: $bin/initdb missing (scripts/deps.sh fleet installs postgresql-15)" >&2; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }

conninfo() {
	echo "host=$dir port=$(cat "$dir/port") dbname=vigil user=postgres"
}

case $cmd in
start)
	mkdir -p "$dir"
	as_pg test -x "$(dirname "$dir")" ||
		{ echo "pgtest: the postgres user cannot reach $(dirname "$dir") (chmod o+x it)" >&2; exit 1; }
	chown postgres: "$dir"
	chmod 0700 "$dir"
	as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
		echo "$port" >"$dir/port"
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
			as_pg "$bin/createdb" -h "$dir" -p "$port" -U postgres vigil
			conninfo
			exit 0
		fi
	done
	cat "$dir/server.log" >&2
	echo "pgtest: PostgreSQL did not start in $dir" >&2
	exit 1
	;;
stop)
	[ -d "$dir/data" ] || exit 0
	as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	;;
resume)
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -p $(cat "$dir/port") -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
	;;
conninfo)
	conninfo
	;;
*)
	echo "usage: pgtest.sh start|stop|resume|conninfo DIR" >&2
	exit 2
	;;
esac
