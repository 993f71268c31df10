#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# A throwaway PostgreSQL 15 cluster for the fleet tests: made in a folder of
# the caller's, run as the postgres user (PostgreSQL refuses root), listening
# on a unix socket in that folder and on 127.0.0.1 at a free port, with a
# database `vigil`. Nothing of the machine's own clusters is touched. DIR's
# parent must be one the postgres user can pass through (mode o+x).
#   scripts/pgtest.sh start DIR          print the conninfo on stdout
#   scripts/pgtest.sh start-sharded DIR  a coordinator (DIR/coord) and two shard
#                                        clusters (DIR/shard0, DIR/shard1) joined by
#                                        `vigil server shards` ($VIGIL, default
#                                        build/vigil): print the coordinator's conninfo
#   scripts/pgtest.sh stop DIR           stop it, or all three (DIR is left for the caller)
#   scripts/pgtest.sh resume DIR         start a stopped cluster (or the three) again on its port
#   scripts/pgtest.sh conninfo DIR
set -euo pipefail

usage="usage: pgtest.sh start|start-sharded|stop|resume|conninfo DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "pgtest: $bin/initdb missing (scripts/deps.sh fleet installs postgresql-15)" >&2; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }

conninfo() {
	local d=$1
	[ -d "$d/coord" ] && d=$d/coord
	echo "host=$d port=$(cat "$d/port") dbname=vigil user=postgres"
}

pg_start() {
	as_pg "$bin/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
		-o "-k $1 -p $2 -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
}

start() {
	local d=$1 port
	mkdir -p "$d"
	as_pg test -x "$(dirname "$d")" ||
		{ echo "pgtest: the postgres user cannot reach $(dirname "$d") (chmod o+x it)" >&2; exit 1; }
	chown postgres: "$d"
	chmod 0700 "$d"
	as_pg "$bin/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --no-locale >"$d/initdb.log" 2>&1 ||
		{ cat "$d/initdb.log" >&2; exit 1; }
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
		echo "$port" >"$d/port"
		if pg_start "$d" "$port"; then
			as_pg "$bin/createdb" -h "$d" -p "$port" -U postgres vigil
			return 0
		fi
	done
	cat "$d/server.log" >&2
	echo "pgtest: PostgreSQL did not start in $d" >&2
	exit 1
}

stop() {
	[ -d "$1/data" ] || return 0
	as_pg "$bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

case $cmd in
start)
	start "$dir"
	conninfo "$dir"
	;;
start-sharded)
	mkdir -p "$dir"
	chmod 0711 "$dir"
	for d in coord shard0 shard1; do start "$dir/$d"; done
	# The coordinator reaches the shards over TCP, as it would another machine.
	"${VIGIL:-build/vigil}" server shards --pg "$(conninfo "$dir")" \
		--shard "host=127.0.0.1 port=$(cat "$dir/shard0/port") dbname=vigil user=postgres" \
		--shard "host=127.0.0.1 port=$(cat "$dir/shard1/port") dbname=vigil user=postgres" >/dev/null
	conninfo "$dir"
	;;
stop)
	stop "$dir"
	for d in coord shard0 shard1; do stop "$dir/$d"; done
	;;
resume)
	# A stopped cluster, or each stopped one of a coordinator and its shards.
	resume() { as_pg "$bin/pg_ctl" -D "$1/data" status >/dev/null 2>&1 || pg_start "$1" "$(cat "$1/port")"; }
	if [ -d "$dir/coord" ]; then
		for d in coord shard0 shard1; do resume "$dir/$d"; done
	else
		resume "$dir"
	fi
	;;
conninfo)
	conninfo "$dir"
	;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
