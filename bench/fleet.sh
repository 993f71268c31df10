# SPDX-License-Identifier: GPL-2.0-only
#
# What the fleet benches share (sourced by bench/ingest.sh and bench/console.sh).

# As NAME: D, a temporary directory (the working directory now), PG, a throwaway PostgreSQL
# in it; both go on exit, after the server SPID (when set). Needs root.
fleet_pg() {
	[ "$(id -u)" = 0 ] || { echo "$1: PostgreSQL runs as the postgres user: needs root" >&2; exit 1; }
	D=$(mktemp -d "/tmp/vigil-$2-XXXXXX")
	chmod 0711 "$D"
	SPID=
	trap fleet_cleanup EXIT
	PG=$("$SRC/scripts/pgtest.sh" start "$D/pg")
	cd "$D"
}

fleet_cleanup() {
	[ -z "$SPID" ] || { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; }
	"$SRC/scripts/pgtest.sh" stop "$D/pg"
	rm -rf "$D"
}

# A CA and a certificate for 127.0.0.1 in the working directory: ca.pem, srv.pem, srv.key.
fleet_tls() {
	certtool --generate-privkey --key-type=ecdsa --outfile ca.key 2>/dev/null
	printf 'cn = vigil bench CA\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
	certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.pem 2>/dev/null
	certtool --generate-privkey --key-type=ecdsa --outfile srv.key 2>/dev/null
	printf 'cn = 127.0.0.1\nip_address = 127.0.0.1\ntls_www_server\nexpiration_days = 2\n' >srv.tmpl
	certtool --generate-certificate --load-privkey srv.key --load-ca-certificate ca.pem \
		--load-ca-privkey ca.key --template srv.tmpl --outfile srv.pem 2>/dev/null
}

# PORT: the port of the server SPID logging to server.log, once it listens (exits on failure).
fleet_port() {
	for _ in $(seq 300); do
		PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' server.log)
		[ -n "$PORT" ] && return 0
		kill -0 "$SPID" || { cat server.log >&2; exit 1; }
		sleep 0.1
	done
	echo "$1: the server did not start" >&2
	exit 1
}
