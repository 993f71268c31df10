#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check-pkg (root): the Debian package of `make deb`, on this machine.
#   tests/pkg/run.sh build/deb/vigil_VERSION_ARCH.deb
# Its contents are listed and checked; it is installed (dpkg -i); the unit
# passes `systemd-analyze verify`; the service's ExecStart runs for real, as
# systemd would start it (its capability bounding set, Group=, UMask=,
# NoNewPrivileges=; systemd is not PID 1 here), until a marker command shows
# in the store; a member of the group vigil reads that store with no --db, a
# non-member is told why not; `dpkg --purge` leaves no file and no group.
# Everything it made (users, processes, the package) goes on exit.
set -uo pipefail

deb=${1:?usage: tests/pkg/run.sh PACKAGE.deb}
deb=$(realpath "$deb")
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { # check WHAT COMMAND...: passes when COMMAND succeeds
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
	echo "check-pkg: $pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}

if [ "$(id -u)" != 0 ]; then
	echo "check-pkg: installs a package and adds users: needs root (sudo make check-pkg)" >&2
	exit 1
fi
if dpkg-query -W -f='${Status}' vigil 2>/dev/null | grep -q installed || getent group vigil >/dev/null ||
	[ -e /var/lib/vigil ] || [ -e /etc/vigil ]; then
	echo "check-pkg: this machine has vigil installed (package, group, /var/lib/vigil or /etc/vigil):" \
		"the test installs and purges it, so it refuses to run here" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/vigil-pkg-XXXXXX)
chmod 755 "$tmp"
host_pid=
users=(vigilpkg-in vigilpkg-out)
cleanup() {
	[ -z "$host_pid" ] || { kill -TERM "$host_pid" 2>/dev/null; wait "$host_pid" 2>/dev/null; }
	for u in "${users[@]}"; do
		getent passwd "$u" >/dev/null && userdel "$u"
	done
	if dpkg-query -W -f='${Status}' vigil 2>/dev/null | grep -q installed; then
		dpkg --purge vigil >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the package's contents
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 $7 $8 }' | sed 's|^\(.\{10\}\) root/root \./|\1 /|' |
	sort -k2 >"$tmp/contents"
cat >"$tmp/expected" <<'LIST'
-rw-r--r-- /etc/vigil/vigil.conf
-rw-r--r-- /lib/systemd/system/vigil.service
-rwxr-xr-x /usr/bin/vigil
-rwxr-xr-x /usr/sbin/vigild
-rw-r--r-- /usr/share/bash-completion/completions/vigil
lrwxrwxrwx /usr/share/bash-completion/completions/vigild->vigil
-rw-r--r-- /usr/share/doc/vigil/changelog.gz
-rw-r--r-- /usr/share/doc/vigil/copyright
-rw-r--r-- /usr/share/man/man1/vigil.1.gz
-rw-r--r-- /usr/share/man/man8/vigild.8.gz
-rw-r--r-- /usr/share/vigil/filters/README.md
LIST
for f in filters/*.vf; do echo "-rw-r--r-- /usr/share/vigil/$f"; done >>"$tmp/expected"
for f in rules/*.rule; do echo "-rw-r--r-- /usr/share/vigil/$f"; done >>"$tmp/expected"
sort -k2 -o "$tmp/expected" "$tmp/expected"
grep -v '^d' "$tmp/contents" >"$tmp/files"
if diff -u "$tmp/expected" "$tmp/files" >"$tmp/diff"; then
	ok "contents: $(wc -l <"$tmp/files") files, modes as expected"
else
	bad "contents differ from the expected list:"
	cat "$tmp/diff"
fi
check "conffiles: /etc/vigil/vigil.conf" \
	test "$(dpkg-deb -f "$deb" Package) $(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)" = \
	"vigil /etc/vigil/vigil.conf"
mkdir "$tmp/x" && dpkg-deb -x "$deb" "$tmp/x"
check "no installed file names the directory it was built in ($(dirname "$deb"))" \
	sh -c "! grep -rl '$(dirname "$deb")' '$tmp/x'"
check "Depends names libbpf and SQLite" \
	sh -c "dpkg-deb -f '$deb' Depends | grep -q 'libbpf1.*libsqlite3'"

# ---- install, with the machine's files listed before (to compare after purge)
snapshot() {
	find /etc /usr /lib /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \) -prune \
		-o -print 2>/dev/null | sort
}
snapshot >"$tmp/before"
if dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1; then ok "dpkg -i"; else
	bad "dpkg -i:"
	cat "$tmp/dpkg-i.log"
	finish
fi
gid=$(getent group vigil | cut -d: -f3)
check "postinst made the system group vigil (gid $gid)" test -n "$gid" -a "${gid:-1000}" -lt 1000
check "/var/lib/vigil is root:vigil 2750" test "$(stat -c '%U:%G %a' /var/lib/vigil)" = "root:vigil 2750"
if systemd-analyze verify /lib/systemd/system/vigil.service >"$tmp/verify" 2>&1; then
	ok "systemd-analyze verify vigil.service"
else
	bad "systemd-analyze verify vigil.service:"
	cat "$tmp/verify"
fi
check "vigil --version names the version, a commit and libbpf" \
	sh -c "/usr/bin/vigil --version | tr '\n' ' ' | grep -Eq '^vigil $(dpkg-deb -f "$deb" Version) commit [0-9a-f]{12}.* libbpf [0-9]+\.[0-9]+'"
check "vigild --version names the libbpf built with and running" \
	sh -c "/usr/sbin/vigild --version | grep -Eq '^libbpf [0-9]+\.[0-9]+ built with, v?[0-9.]+ running'"
check "man pages render without warnings" \
	sh -c "for p in /usr/share/man/man1/vigil.1.gz /usr/share/man/man8/vigild.8.gz; do
		[ -z \"\$(MANWIDTH=80 man --warnings -l \$p 2>&1 >/dev/null)\" ] || exit 1
		MANWIDTH=80 man -l \$p 2>/dev/null | grep -q 'vigil' || exit 1; done"
check "man vigil(1) lists every command's options" \
	sh -c "MANWIDTH=100 man -l /usr/share/man/man1/vigil.1.gz 2>/dev/null | grep -q -- '--max-per-peer N'"
# Completion: the words bash would offer.
complete_words() {
	bash -c 'source /usr/share/bash-completion/completions/vigil
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vigil "$1"; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$@"
}
check "bash completion: vigil ev<TAB> gives events" test "$(complete_words vigil ev)" = events
check "bash completion: vigil events --l<TAB> gives --limit" test "$(complete_words vigil events --l)" = --limit
check "bash completion: vigild --ringbuf<TAB> gives --ringbuf-kb" \
	test "$(complete_words vigild --ringbuf)" = --ringbuf-kb

# ---- the service's ExecStart, as systemd would run it (no systemd here)
unit=/lib/systemd/system/vigil.service
prop() { sed -n "s/^$1=//p" "$unit"; }
exec_start=$(prop ExecStart)
caps=$(prop CapabilityBoundingSet | tr 'A-Z ' 'a-z,' | sed 's/cap_/+/g')
check "the unit runs as root with group $(prop Group), umask $(prop UMask), no new privileges" \
	test "$(prop Group) $(prop UMask) $(prop NoNewPrivileges)" = "vigil 0027 yes"
marker="vigil-pkg-marker-$$"
(cd / && exec setpriv --no-new-privs --bounding-set="-all,$caps" --inh-caps=-all \
	--regid=vigil --clear-groups -- sh -c "umask $(prop UMask); exec $exec_start") \
	>"$tmp/host.out" 2>"$tmp/host.err" &
host_pid=$!
seen=0
for _ in $(seq 1 60); do
	/bin/echo "$marker" >/dev/null
	# (Into a file: grep -q would close the pipe early, and pipefail fail it.)
	/usr/bin/vigil events --json >"$tmp/events" 2>/dev/null
	if grep -q "$marker" "$tmp/events"; then
		seen=1
		break
	fi
	kill -0 "$host_pid" 2>/dev/null || break
	sleep 0.5
done
if [ $seen = 1 ]; then
	ok "ExecStart ($exec_start) under the unit's bounding set stores events in /var/lib/vigil/vigil.db"
else
	bad "no event of '$marker' reached the store; vigil host said:"
	cat "$tmp/host.err"
fi
kill -TERM "$host_pid"
wait "$host_pid"
rc=$?
host_pid=
check "SIGTERM stops it cleanly (exit status $rc)" test "$rc" = 0
check "the store and its -wal/-shm are root:vigil 0640" \
	test "$(stat -c '%n %U:%G %a' /var/lib/vigil/vigil.db /var/lib/vigil/vigil.db-wal /var/lib/vigil/vigil.db-shm)" = \
	"/var/lib/vigil/vigil.db root:vigil 640
/var/lib/vigil/vigil.db-wal root:vigil 640
/var/lib/vigil/vigil.db-shm root:vigil 640"

# ---- who may read the store, with no --db
useradd --system --no-create-home --shell /usr/sbin/nologin -G vigil vigilpkg-in
useradd --system --no-create-home --shell /usr/sbin/nologin vigilpkg-out
(cd / && runuser -u vigilpkg-in -- /usr/bin/vigil events) >"$tmp/in.out" 2>"$tmp/in.err"
rc=$?
if [ $rc = 0 ] && grep -q "$marker" "$tmp/in.out"; then
	ok "a member of the group vigil reads the store with vigil events (no --db)"
else
	bad "a member of vigil: vigil events exited $rc:"
	cat "$tmp/in.err"
fi
(cd / && runuser -u vigilpkg-in -- /usr/bin/vigil hunt \
	"DeviceProcessEvents | where ProcessCommandLine has '$marker' | count") >"$tmp/hunt.out" 2>&1
check "and hunts in it (vigil hunt, no --db)" grep -Eq '^ *[1-9][0-9]* *$' "$tmp/hunt.out"
(cd / && runuser -u vigilpkg-out -- /usr/bin/vigil events) >"$tmp/out.out" 2>"$tmp/out.err"
rc=$?
want="vigil: events: cannot open /var/lib/vigil/vigil.db: permission denied; members of the group 'vigil' may read it (sudo adduser \$USER vigil, then log in again)"
# The log line: "TIME error " (lib/log.h), then the message.
if [ $rc = 1 ] && [ "$(sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z error //' "$tmp/out.err")" = "$want" ] &&
	[ ! -s "$tmp/out.out" ]; then
	ok "a non-member is told: $want"
else
	bad "a non-member: exit $rc, said:"
	cat "$tmp/out.err"
fi
for u in "${users[@]}"; do userdel "$u"; done

# ---- purge: nothing left
if dpkg --purge vigil >"$tmp/purge.log" 2>&1; then ok "dpkg --purge"; else
	bad "dpkg --purge:"
	cat "$tmp/purge.log"
fi
check "the group vigil is gone" sh -c '! getent group vigil'
snapshot >"$tmp/after"
# What changed, less what another package (another engineer's apt-get) owns
# and the backups useradd and groupadd keep.
comm -3 "$tmp/before" "$tmp/after" | sed 's/^\t//' | while read -r f; do
	case $f in /etc/group- | /etc/gshadow- | /etc/passwd- | /etc/shadow- | /etc/subuid- | /etc/subgid-) continue ;; esac
	[ -e "$f" ] && dpkg-query -S "$f" >/dev/null 2>&1 && continue
	echo "$f"
done >"$tmp/left"
if [ -s "$tmp/left" ]; then
	bad "purge changed these files (left behind or removed):"
	cat "$tmp/left"
else
	ok "purge left the machine's /etc, /usr, /lib and /var/lib as they were"
fi
finish
