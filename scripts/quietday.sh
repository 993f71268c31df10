#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check-quiet (root): a developer's ordinary day under a real sensor
# raises no alert. A sensor and its host (vigil host --spawn vigild, the
# shipped rules of rules/, the shipped filters/default.vf) watch the whole
# machine while this runs:
#   - a git clone of this repository, a parallel build of it in a fresh O=
#     (make -j2 all tests) and make check-unit from that clone;
#   - package operations whose maintainer scripts run setcap, chmod u+s,
#     systemctl enable, deb-systemd-helper, update-alternatives and ldconfig:
#     apt-get install --reinstall of installed packages that do (those of
#     REINSTALL that are installed), and install and purge of a package
#     built here with dpkg-deb whose scripts call those tools directly, as
#     Debian's iproute2 and libgstreamer1.0-0 call setcap;
#   - a shell session: an editor, compilers (a program built and run in
#     /tmp), git, ssh-keygen, a local web server fetched with curl and wget
#     into ~/.cache (a readiness probe first), python.
# Then every alert is printed with its evidence, and any alert fails the run.
#
#   scripts/quietday.sh [--build DIR] [--suite CMD] [--no-day] [--keep]
#     --build DIR   the vigil and vigild to run (default build)
#     --suite CMD   also run CMD (e.g. 'make check-kern') under the sensor, in a
#                   cgroup of its own; its alerts that scripts/quietday.allow
#                   lists (rule, a marker its evidence names, the test) and whose
#                   every evidence row was acted by a process of that cgroup are
#                   the test's own: printed, not failed. Repeatable.
#     --no-day      run only the suites
#     --keep        keep the store and logs (printed) instead of removing them
#     --recheck DIR classify the alerts of a kept run again (after an edit of
#                   scripts/quietday.allow), without running anything
# Needs root (the sensor loads BPF programs, packages are installed) and no
# network beyond the Debian mirror apt already uses (a package to reinstall
# that is not in apt's cache is fetched from it).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
O=build
suites=()
day=1
keep=0
recheck=
while [ $# -gt 0 ]; do
	case $1 in
	--build) O=${2:?--build DIR}; shift ;;
	--suite) suites+=("${2:?--suite CMD}"); shift ;;
	--no-day) day=0 ;;
	--keep) keep=1 ;;
	--recheck) recheck=${2:?--recheck DIR}; shift ;;
	-h | --help) sed -n '3,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "quietday: unknown argument '$1' (--help)" >&2; exit 2 ;;
	esac
	shift
done
O=$(cd "$O" 2>/dev/null && pwd) || { echo "quietday: no build directory $O" >&2; exit 2; }
VIGIL=$O/vigil
VIGILD=$O/vigild
for b in "$VIGIL" "$VIGILD"; do
	[ -x "$b" ] || { echo "quietday: $b is missing: make all first" >&2; exit 2; }
done
if [ "$(id -u)" != 0 ]; then
	echo "quietday: the sensor loads BPF programs and packages are installed: needs root" >&2
	exit 1
fi

# Packages reinstalled when installed: maintainer scripts that run setcap
# (libgstreamer1.0-0; iproute2 when its debconf question says so), ldconfig
# through libc-bin's trigger (libzstd1), update-alternatives (less).
REINSTALL=(libgstreamer1.0-0 iproute2 libcap2-bin libzstd1 less)
PKG=vigil-quietday

t0=$(date +%s)
say() { printf 'quietday: [%4ss] %s\n' $(($(date +%s) - t0)) "$*"; }
die() { say "$*" >&2; exit 1; }

if [ -n "$recheck" ]; then
	tmp=$(cd "$recheck" && pwd) || exit 2
	keep=1
else
	tmp=$(mktemp -d /tmp/vigil-quiet-XXXXXX)
	chmod 711 "$tmp"
fi
# The developer's home is no scratch directory (what runs from /tmp is a rule's).
homes=$(mktemp -d /home/vigil-quiet-XXXXXX 2>/dev/null || mktemp -d "$O/quiet-home-XXXXXX")
db=$tmp/quiet.db
host_pid=
srv_pid=
cgs_made=()
own_policy=0
cleanup() {
	[ -z "$srv_pid" ] || { kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; }
	if [ -n "$host_pid" ]; then
		kill -TERM "$host_pid" 2>/dev/null
		wait "$host_pid" 2>/dev/null
	fi
	if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q installed; then
		dpkg --purge $PKG >/dev/null 2>&1
	fi
	[ $own_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
	for c in "${cgs_made[@]}"; do rmdir "$c" 2>/dev/null; done
	if [ $keep = 1 ]; then
		echo "quietday: kept $tmp (store $db, host log $tmp/host.log)"
	else
		rm -rf "$tmp"
	fi
	rm -rf "$homes"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

q() { sqlite3 -batch -noheader "$db" "$@"; }

day_cgs=()   # every step's and suite's cgroup id
suite_cgs=() # the suites' (test suites: their allow-listed alerts are their own)
if [ -n "$recheck" ]; then
	[ -f "$db" ] && [ -f "$tmp/cgroups.run" ] || die "$tmp is no kept run of quietday.sh"
	mapfile -t day_cgs <"$tmp/cgroups.run"
	[ ! -f "$tmp/cgroups.suite" ] || mapfile -t suite_cgs <"$tmp/cgroups.suite"
else
# ---- the sensor: host + vigild as the tests and the bench start them
"$VIGIL" host --db "$db" --spawn "$VIGILD" --filters "$here/filters/default.vf" \
	>"$tmp/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 300); do
	[ "$(q 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -ge 1 ] && break
	kill -0 "$host_pid" 2>/dev/null || break
	sleep 0.1
done
[ "$(q 'SELECT count(*) FROM DeviceInfo' 2>/dev/null || echo 0)" -ge 1 ] ||
	{ cat "$tmp/host.log" >&2; die "the sensor did not report within 30 s (log above)"; }
say "sensor up (store $db)"

# Every step runs in a cgroup of its own (the sensor reports each exec's
# cgroup id): an alert is the day's when a process of the day acted in it.
cgroup2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$cgroup2" ] || die "no cgroup2 mount: the day's processes cannot be told from the machine's"
step=0
run() { # run [--suite] WHAT CMD...: a step; its output goes to a log, a failure fails the run
	local suite=0 what log cg id rc
	[ "$1" = --suite ] && { suite=1; shift; }
	what=$1
	shift
	step=$((step + 1))
	log=$tmp/log.$step
	cg=$cgroup2/vigil-quiet-$$-$step
	mkdir "$cg" || die "cannot make cgroup $cg"
	cgs_made+=("$cg")
	id=$(stat -c %i "$cg")
	day_cgs+=("$id")
	echo "$id" >>"$tmp/cgroups.run"
	[ $suite = 0 ] || { suite_cgs+=("$id"); echo "$id" >>"$tmp/cgroups.suite"; }
	say "$what (cgroup $id)"
	(echo "$BASHPID" >"$cg/cgroup.procs" && "$@") >"$log" 2>&1
	rc=$?
	if [ $rc != 0 ] && [ $suite = 0 ]; then
		tail -30 "$log" >&2
		die "$what failed (its output above: $log)"
	fi
	[ $rc = 0 ] || say "$what: exit $rc (not counted here; its log: $log)"
	return 0
}

# ---- the ordinary day
build_day() {
	local src=$tmp/src
	git clone -q "$here" "$src" || return
	# The clone builds against the packages of this machine, as a fresh checkout would.
	make -C "$src" -j2 O="$tmp/b" all tests
}

apt_q() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confold "$@" </dev/null
}

# A package with the maintainer scripts many Debian packages have, calling the
# tools directly (not through debhelper's helpers), besides debhelper's own.
make_pkg() {
	local d=$tmp/pkg
	mkdir -p "$d/DEBIAN" "$d/usr/lib/$PKG" "$d/lib/systemd/system"
	cp /bin/true "$d/usr/lib/$PKG/helper"
	printf '[Unit]\nDescription=vigil quiet-day package\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
		>"$d/lib/systemd/system/$PKG.service"
	cat >"$d/DEBIAN/control" <<-EOF
		Package: $PKG
		Version: 1.0
		Architecture: all
		Maintainer: vigil <vigil@localhost>
		Description: vigil quiet-day test package (scripts/quietday.sh)
	EOF
	cat >"$d/DEBIAN/postinst" <<-EOF
		#!/bin/sh
		set -e
		if [ "\$1" = configure ]; then
		    if command -v setcap >/dev/null && setcap cap_net_raw+ep /usr/lib/$PKG/helper; then
		        :
		    else
		        chmod u+s /usr/lib/$PKG/helper
		    fi
		    update-alternatives --quiet --install /usr/bin/$PKG $PKG /usr/lib/$PKG/helper 10
		    if command -v deb-systemd-helper >/dev/null; then
		        deb-systemd-helper enable $PKG.service >/dev/null || true
		    fi
		    if command -v systemctl >/dev/null; then
		        SYSTEMD_OFFLINE=1 systemctl enable $PKG.service >/dev/null 2>&1 || true
		    fi
		    ldconfig
		fi
	EOF
	cat >"$d/DEBIAN/prerm" <<-EOF
		#!/bin/sh
		set -e
		if [ "\$1" = remove ]; then
		    update-alternatives --quiet --remove $PKG /usr/lib/$PKG/helper
		    if command -v systemctl >/dev/null; then
		        SYSTEMD_OFFLINE=1 systemctl disable $PKG.service >/dev/null 2>&1 || true
		    fi
		fi
	EOF
	cat >"$d/DEBIAN/postrm" <<-EOF
		#!/bin/sh
		set -e
		if [ "\$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
		    deb-systemd-helper purge $PKG.service >/dev/null || true
		fi
		rm -f /etc/systemd/system/multi-user.target.wants/$PKG.service
		[ "\$1" != remove ] || ldconfig
	EOF
	chmod 755 "$d/DEBIAN/postinst" "$d/DEBIAN/prerm" "$d/DEBIAN/postrm"
	dpkg-deb -Zgzip --root-owner-group -b "$d" "$tmp/$PKG.deb" >/dev/null
}

package_day() {
	local p v pkgs=()
	# The installed version, not the candidate (a reinstall would upgrade), when apt knows it.
	for p in "${REINSTALL[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || continue
		v=$(dpkg-query -W -f='${Version}' "$p")
		apt-cache show "$p=$v" >/dev/null 2>&1 && pkgs+=("$p=$v")
	done
	# No service starts during the install (invoke-rc.d asks policy-rc.d), as scripts/deps.sh.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	echo "reinstalling: ${pkgs[*]}"
	[ ${#pkgs[@]} = 0 ] || apt_q install --reinstall "${pkgs[@]}" || return
	make_pkg || return
	apt_q install "$tmp/$PKG.deb" || return
	"/usr/bin/$PKG" || return
	apt_q purge $PKG
}

shell_day() {
	local home=$homes/dev w=$tmp/work port
	mkdir -p "$home" "$w"
	export HOME=$home
	cd "$w" || return
	git init -q proj && cd proj || return
	git config user.email dev@example.invalid && git config user.name dev
	printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >hello.c
	printf 'CFLAGS = -O2 -Wall\nall: hello\n' >Makefile
	if command -v vi >/dev/null; then
		vi -es -c '%s/hello/hello, world/' -c 'wq' hello.c || return
	else
		sed -i 's/hello/hello, world/' hello.c
	fi
	make -s && ./hello >/dev/null || return
	cc -O2 -o "$tmp/a.out" hello.c && "$tmp/a.out" >/dev/null || return
	printf 'int main() { return 0; }\n' >t.cc
	c++ -o t t.cc && ./t || return
	git add -A && git commit -qm 'hello' && git log --oneline >/dev/null && git diff HEAD >/dev/null
	git checkout -qb topic && echo '/* x */' >>hello.c && git commit -qam x && git checkout -q - &&
		git merge -q topic && git status --short >/dev/null || return
	mkdir -p "$home/.ssh" && chmod 700 "$home/.ssh"
	ssh-keygen -q -t ed25519 -N '' -C dev@example.invalid -f "$home/.ssh/id_ed25519" &&
		ssh-keygen -y -f "$home/.ssh/id_ed25519" >/dev/null &&
		ssh-keygen -l -f "$home/.ssh/id_ed25519.pub" >/dev/null || return
	# A local web server: what a package index or an artifact store would be.
	mkdir -p "$w/www/simple" && echo 'print("hi")' >"$w/www/simple/pkg.py" &&
		tar -C "$w/www/simple" -czf "$w/www/pkg-1.0.tar.gz" pkg.py || return
	port=$((20000 + RANDOM % 20000))
	python3 -m http.server --bind 127.0.0.1 --directory "$w/www" "$port" >"$tmp/http.log" 2>&1 &
	srv_pid=$!
	for _ in $(seq 100); do
		(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	mkdir -p "$home/.cache/pip/http" "$home/.cache/wget" &&
		curl -fsS -o "$home/.cache/pip/http/pkg-1.0.tar.gz" "http://127.0.0.1:$port/pkg-1.0.tar.gz" &&
		wget -q -O "$home/.cache/wget/pkg.py" "http://127.0.0.1:$port/simple/pkg.py" &&
		curl -fsS "http://localhost:$port/" >/dev/null || return
	kill "$srv_pid" && wait "$srv_pid" 2>/dev/null
	srv_pid=
	mkdir -p "$home/.local/src" && tar -C "$home/.local/src" -xzf "$home/.cache/pip/http/pkg-1.0.tar.gz" &&
		python3 "$home/.local/src/pkg.py" >/dev/null || return
	python3 -m venv --without-pip "$home/venv" && "$home/venv/bin/python" -c 'import sys' || return
	grep -rq hello . && find . -name '*.c' >/dev/null && ls -la >/dev/null && ps -o pid= -p $$ >/dev/null
}

if [ $day = 1 ]; then
	run "clone, parallel build (make -j2 all tests)" build_day
	run --suite "make check-unit from the clone" make -C "$tmp/src" O="$tmp/b" check-unit
	run "package operations (apt-get install --reinstall, dpkg scripts)" package_day
	run "a shell session (editor, compilers, git, ssh-keygen, curl, wget, python)" shell_day
fi
for s in "${suites[@]}"; do
	# shellcheck disable=SC2016
	run --suite "suite: $s" bash -c 'cd "$1" && exec bash -c "$2"' _ "$here" "$s"
done

# ---- let the last batches in and the rules run over them, then stop the sensor
marker="vigil-quietday-end-$$"
/bin/true "$marker"
for _ in $(seq 300); do
	[ "$(q "SELECT count(*) FROM DeviceProcessEvents WHERE ProcessCommandLine LIKE '%$marker%'")" -ge 1 ] && break
	sleep 0.1
done
kill -TERM "$host_pid" && wait "$host_pid"
host_pid=
fi

# ---- the alerts, each classified by who acted in its evidence rows: the
# cgroup of the row's process (an exec's own) or of its initiating process
# (that process's exec or fork row).
#   own        scripts/quietday.allow lists its rule with a marker one of its
#              rows names (its path and command line, or its source row's
#              acting image, command line and AdditionalFields), and every
#              row was acted by
#              a process of a test suite's cgroup: a test's own
#   elsewhere  no row was acted by a process of this run: the rest of the
#              machine (other people's work on a shared one): printed, counted
#   day        any other: a false alert of the ordinary day: fails the run
allow=$here/scripts/quietday.allow
sql_ids() { local IFS=,; echo "${*:-NULL}"; }
allow_rows=$(sed -e 's/#.*//' "$allow" | awk 'NF >= 2 { printf "%s(%s, %s)", (n++ ? ", " : ""), q($1), q($2) }
	function q(s) { gsub("\x27", "\x27\x27", s); return "\x27" s "\x27" }')
icl_of() { # icl_of TABLE: what an evidence row of TABLE says besides its path and command line
	echo "(SELECT coalesce(f.InitiatingProcessFolderPath, '') || ' ' || coalesce(f.InitiatingProcessCommandLine, '')
	  || ' ' || coalesce(f.AdditionalFields, '')
	  FROM $1 f WHERE e.SourceTable = '$1' AND f.rowid = e.SourceRowId)"
}
cg_of() { # cg_of TABLE: the acting process's cgroup for an evidence row of TABLE
	echo "(SELECT json_extract(p.AdditionalFields, '\$.CgroupId') FROM DeviceProcessEvents p
	  JOIN $1 f ON f.rowid = e.SourceRowId WHERE e.SourceTable = '$1'
	  AND p.ProcessId = f.InitiatingProcessId AND p.ProcessCreationTime = f.InitiatingProcessCreationTime
	  AND p.ActionType IN ('ProcessCreated', 'ProcessForked') LIMIT 1)"
}
q "CREATE TEMP TABLE allow (RuleId TEXT, Mark TEXT);
${allow_rows:+INSERT INTO allow VALUES $allow_rows;}
CREATE TEMP TABLE ev AS SELECT e.AlertId, a.RuleId,
	coalesce(e.FolderPath, '') || ' ' || coalesce(e.ProcessCommandLine, '') || ' ' ||
	coalesce($(icl_of DeviceProcessEvents), $(icl_of DeviceFileEvents), $(icl_of DeviceNetworkEvents),
		 $(icl_of DeviceEvents), '') AS Text,
	coalesce((SELECT json_extract(p.AdditionalFields, '\$.CgroupId') FROM DeviceProcessEvents p
		  WHERE e.SourceTable = 'DeviceProcessEvents' AND p.rowid = e.SourceRowId),
		 $(cg_of DeviceFileEvents), $(cg_of DeviceNetworkEvents), $(cg_of DeviceEvents)) AS Cg
	FROM AlertEvidence e JOIN AlertInfo a USING (AlertId);
SELECT a.AlertId, CASE
	WHEN EXISTS (SELECT 1 FROM ev JOIN allow w ON w.RuleId = ev.RuleId AND instr(ev.Text, w.Mark) > 0
		     WHERE ev.AlertId = a.AlertId)
	 AND NOT EXISTS (SELECT 1 FROM ev WHERE ev.AlertId = a.AlertId
			 AND (ev.Cg IS NULL OR ev.Cg NOT IN ($(sql_ids "${suite_cgs[@]}"))))
	THEN 'own'
	WHEN EXISTS (SELECT 1 FROM ev WHERE ev.AlertId = a.AlertId)
	 AND NOT EXISTS (SELECT 1 FROM ev WHERE ev.AlertId = a.AlertId AND ev.Cg IN ($(sql_ids "${day_cgs[@]}")))
	THEN 'elsewhere' ELSE 'day' END
FROM AlertInfo a;" >"$tmp/class" || die "classifying the alerts failed"
"$VIGIL" alerts --db "$db" --json >"$tmp/alerts.json" || die "vigil alerts failed"
show() { # show CLASS: the alerts of that class, each with its evidence
	jq -r --rawfile cls "$tmp/class" --arg c "$1" '
		($cls | split("\n") | map(select(length > 0) | split("|") | {(.[0]): .[1]}) | add // {}) as $m
		| select($m[.AlertId] == $c)
		| "ALERT \(.Title) [\(.Severity)] rule \(.RuleId), \(.EvidenceCount) events, \(.AlertId)",
		  (.Evidence[:8][]? | "    \(.SourceTable) \(.ActionType // "") \(.FolderPath // "") \(.ProcessCommandLine // "")"),
		  (if (.Evidence | length) > 8 then "    ... and \((.Evidence | length) - 8) more" else empty end)' \
		"$tmp/alerts.json"
}
count() { grep -c "|$1\$" "$tmp/class"; }
nown=$(count own)
nelse=$(count elsewhere)
nday=$(count day)
say "alerts: $((nown + nelse + nday)): $nday of this run, $nown a test's own (scripts/quietday.allow), $nelse elsewhere on the machine"
if [ "$nown" -gt 0 ]; then
	echo "quietday: a test's own (allow-listed rule and marker, acted by the suite):"
	show own | grep '^ALERT' | sed -E 's/, [0-9]+ events, [^ ]*$//' | sort | uniq -c
fi
if [ "$nelse" -gt 0 ]; then
	echo "quietday: raised by processes outside this run (not counted):"
	show elsewhere | grep '^ALERT' | sed -E 's/, [0-9]+ events, [^ ]*$//' | sort | uniq -c
fi
if [ "$nday" -gt 0 ]; then
	echo "quietday: alerts of this run that are no test's own (each with its evidence):" >&2
	show day | cut -c1-400 >&2
	exit 1
fi
say "no alert of this run that is not a test's own: passed"
