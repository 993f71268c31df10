#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The WSL plug-in DLL under Wine (make check-win): tests/win/harness.exe plays
# WSL, tests/win/relay plays the VM and runs the real vigild, and the store
# the DLL writes is read back here with sqlite3.
#   tests/win/run.sh BUILD-DIR
set -uo pipefail

O=$(realpath "${1:-build}")
S=$(cd "$(dirname "$0")/../.." && pwd)
WINE=${WINE:-/usr/lib/wine/wine64}
T=$O/win/test
export WINEPREFIX=$T/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
DLL=$(printf 'Z:%s' "$O/win/vigilplugin.dll" | tr / '\\')
HARNESS=$O/win/tests/harness.exe
pass=0 fail=0 skip=0

winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
ok() { echo "  ok    $1"; pass=$((pass + 1)); }
bad() { echo "  FAIL  $1"; fail=$((fail + 1)); [ -n "${2:-}" ] && sed 's/^/        | /' "$2"; }
q() { sqlite3 -cmd '.timeout 5000' "$1" "$2" 2>&1; }

cleanup() {
	# Every relay and helper this run started, whatever state a test left them in.
	[ ${#bg_pids[@]} -gt 0 ] && kill "${bg_pids[@]}" 2>/dev/null
	"$(dirname "$WINE")/wineserver" -k 2>/dev/null
	# The throwaway PostgreSQL clusters and their folders.
	for d in "${bg_dirs[@]}"; do
		"$S/scripts/pgtest.sh" stop "$d/pg" >/dev/null 2>&1
		rm -rf "$d"
	done
}
bg_pids=() bg_dirs=()
trap cleanup EXIT

rm -rf "$T" && mkdir -p "$T"
echo "check-win: creating a Wine prefix"
timeout 120 "$WINE" cmd /c exit >/dev/null 2>&1 || { echo "check-win: wine64 does not run" >&2; exit 1; }
# wineboot goes on updating the new prefix in the background: let it finish.
timeout 120 "$(dirname "$WINE")/wineserver" -w
# What the MSI creates: the store's folder, where the plug-in's log goes by default.
mkdir -p "$WINEPREFIX/drive_c/ProgramData/vigil"

# harness NAME ARGS...: run the harness, output in $T/NAME.out, status in $rc.
harness() {
	local name=$1
	shift
	# Windows text-mode stdout ends lines with CR LF.
	timeout 120 "$WINE" "$HARNESS" "$DLL" "$@" 2>&1 | tr -d '\r' >"$T/$name.out"
	rc=${PIPESTATUS[0]}
}

# start_relay: the Linux side of ExecuteBinary, port in $port.
start_relay() {
	# The background job truncates relay.out only when it gets to run: remove the last
	# relay's file first, or its port (closed by now) can be read under load.
	rm -f "$T/relay.out"
	"$O/tests/win/relay" 1 >"$T/relay.out" 2>"$T/relay.err" &
	relay_pid=$!
	bg_pids+=("$relay_pid")
	for _ in $(seq 50); do
		port=$(awk '/^port/ {print $2}' "$T/relay.out" 2>/dev/null)
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	echo "check-win: the relay did not start" >&2
	exit 1
}

# wait_for DB SQL WANT [SECONDS]: poll until the query prints WANT.
wait_for() {
	for _ in $(seq $((${4:-20} * 5))); do
		[ "$(q "$1" "$2")" = "$3" ] && return 0
		sleep 0.2
	done
	return 1
}

# hc NAME ARGS...: healthcheck.exe, output in $T/NAME.hc, status in $rc.
hc() {
	local name=$1
	shift
	timeout 60 "$WINE" "$O/win/healthcheck.exe" "$@" 2>&1 | tr -d '\r' >"$T/$name.hc"
	rc=${PIPESTATUS[0]}
}

# hc_expect NAME WANT-RC WANT-HEALTH ARGS...: one health state test.
hc_expect() {
	local name=$1 want_rc=$2 want=$3
	shift 3
	hc "$name" --json "$@"
	if [ "$rc" = "$want_rc" ] && grep -qF "\"Health\":\"$want\"" "$T/$name.hc"; then
		ok "healthcheck.exe: $want"
	else
		bad "healthcheck.exe (rc $rc) should say: $want" "$T/$name.hc"
	fi
}

# vm_start NAME DB HARNESS-ARGS...: relay + harness in the background, until
# the harness says its VM runs; vm_stop ends it, status in $rc.
vm_start() {
	local name=$1 db=$2
	shift 2
	rm -f "$T/stop"
	start_relay
	timeout 120 "$WINE" "$HARNESS" "$DLL" --relay "$port" --db "$(winpath "$db")" \
		--install-dir "$(winpath "$O")" --stop-file "$(winpath "$T/stop")" \
		--timeout 60 "$@" >"$T/$name.raw" 2>&1 &
	vm_pid=$!
	vm_name=$name
	for _ in $(seq 300); do
		grep -q '^running' "$T/$name.raw" 2>/dev/null && return 0
		kill -0 $vm_pid 2>/dev/null || break
		sleep 0.1
	done
	bad "$name: the harness did not start its VM" "$T/$name.raw"
	return 1
}
vm_stop() {
	touch "$T/stop"
	wait "$vm_pid"
	rc=$?
	tr -d '\r' <"$T/$vm_name.raw" >"$T/$vm_name.out"
	wait "$relay_pid"
	relay_pid=
}

echo "check-win: WSL version check"
for v in 2.0.6 1.2.5 0.9.9; do
	harness old --wsl "$v" --custom 1
	if [ $rc = 3 ] && grep -qx 'entry: 0x8004032a' "$T/old.out" &&
		! grep -q OnVMStarted "$T/old.out"; then
		ok "WSL $v: entry point returns WSL_E_PLUGIN_REQUIRES_UPDATE"
	else
		bad "WSL $v: expected WSL_E_PLUGIN_REQUIRES_UPDATE (rc $rc)" "$T/old.out"
	fi
done
for v in 2.0.7 2.1.0 3.0.0; do
	harness new --wsl "$v" --custom 1
	if grep -qx 'entry: 0x00000000' "$T/new.out"; then
		ok "WSL $v: entry point accepts it"
	else
		bad "WSL $v: entry point refused it" "$T/new.out"
	fi
done

echo "check-win: custom kernel refusal"
for flags in 1 2 3; do
	harness custom --custom "$flags" --db "$(winpath "$T/custom.db")"
	if [ $rc = 3 ] && grep -qx 'PluginError: Custom Kernel/Configuration not supported.' \
		"$T/custom.out" && ! grep -q ExecuteBinary "$T/custom.out" &&
		grep -q '^OnVMStarted: 0x8' "$T/custom.out"; then
		ok "CustomConfigurationFlags=$flags: PluginError with the exact message, VM start fails"
	else
		bad "CustomConfigurationFlags=$flags: no refusal (rc $rc)" "$T/custom.out"
	fi
done

echo "check-win: events from a real vigild reach the store"
if [ "$(id -u)" != 0 ]; then
	echo "  skip  vigild loads BPF programs and needs root"
	skip=$((skip + 1))
else
	db=$T/vigil.db
	start_relay
	harness_bg() {
		timeout 120 "$WINE" "$HARNESS" "$DLL" --relay "$port" --db "$(winpath "$db")" \
			--install-dir "$(winpath "$O")" --distro Debian,debian,12 \
			--stop-file "$(winpath "$T/stop")" --timeout 60 2>&1 | tr -d '\r' >"$T/events.out"
		return "${PIPESTATUS[0]}"
	}
	harness_bg &
	hpid=$!
	marker=vg-win-$$-$RANDOM
	if wait_for "$db" "SELECT Value FROM HostState WHERE Name = 'SensorState'" running 30; then
		ok "the sensor started in the 'VM' and its first batch was stored"
		for _ in 1 2 3; do /bin/true "$marker"; done
		if wait_for "$db" "SELECT count(*) > 0 FROM DeviceProcessEvents WHERE ProcessCommandLine = '/bin/true $marker'" 1 20; then
			ok "workload events are in the store, read from Linux while the DLL writes"
			# No --db: healthcheck.exe finds the store through the plug-in's DbPath value.
			hc_expect healthy 0 Healthy
			if grep -q '"WslVersion":"2.0.14"' "$T/healthy.hc" &&
				grep -Eq '"EventsReceived":[1-9]' "$T/healthy.hc"; then
				ok "healthcheck.exe --json: WSL version and events received"
			else
				bad "healthcheck.exe --json fields" "$T/healthy.hc"
			fi
		else
			bad "no DeviceProcessEvents row for /bin/true $marker" "$T/relay.err"
		fi
	else
		bad "the sensor never reported (SensorState: $(q "$db" "SELECT Value FROM HostState WHERE Name = 'SensorState'"))" "$T/events.out"
	fi
	touch "$T/stop"
	wait "$hpid"
	rc=$?
	if [ $rc = 0 ] && grep -q '^OnVMStopping: 0x00000000' "$T/events.out"; then
		ok "OnVMStopping flushed and closed"
	else
		bad "harness exit $rc" "$T/events.out"
	fi
	wait "$relay_pid"
	relay_pid=
	if grep -qx 'ExecuteBinary: /opt/vigil/vigild --transport stdio --device-name .* --host-device-id .*' "$T/events.out" &&
		grep -qx 'MountFolder: .* -> /opt/vigil ro name=vigil' "$T/events.out"; then
		ok "ExecuteBinary of the mounted vigild with --transport stdio and the host's identity"
	else
		bad "unexpected MountFolder/ExecuteBinary calls" "$T/events.out"
	fi
	got=$(q "$db" "SELECT OSPlatform, DeviceTags, HostDeviceId != '' FROM DeviceInfo LIMIT 1")
	if [ "$got" = 'Linux|["WSL2"]|1' ]; then
		ok "DeviceInfo: Linux, tag WSL2, HostDeviceId set"
	else
		bad "DeviceInfo: $got"
	fi
	hc_expect after 3 "Launch WSL distribution with 'bash' command and retry in 5 minutes" \
		--db "$(winpath "$db")"
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static http://bob:hunter2@px.example:8080 \
		>/dev/null 2>&1
	mkdir -p "$T/bundle"
	hc bundle --supportBundle --db "$(winpath "$db")" --out "$(winpath "$T/bundle")"
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static - >/dev/null 2>&1
	tarball=$(ls "$T"/bundle/vigil-support-*.tar 2>/dev/null | head -n1)
	members=$(tar tf "$tarball" 2>/dev/null | sort | tr '\n' ' ')
	if grep -q '^Support bundle: Z:.*vigil-support-.*\.tar$' "$T/bundle.hc" &&
		[ "$members" = "MANIFEST config.txt health.json hoststate.txt logs.txt probe.txt spool.txt stats.json " ] &&
		tar xOf "$tarball" health.json | grep -qF '"Health":"Launch WSL distribution' &&
		tar xOf "$tarball" stats.json | grep -q '"DeviceId"' &&
		tar xOf "$tarball" config.txt | grep -qF 'TelemetryProxyServer=http://REDACTED'; then
		ok "healthcheck.exe --supportBundle: the archive, its path, health, stats, configuration"
	else
		bad "healthcheck.exe --supportBundle (members: $members)" "$T/bundle.hc"
	fi
	if [ -n "$tarball" ] && ! grep -q hunter2 "$tarball" && ! grep -q hunter2 "$T/bundle.hc"; then
		ok "no proxy password in the support bundle or the healthcheck output"
	else
		bad "the proxy password leaked"
	fi
	cp "$db" "$T/drops.db"
	q "$T/drops.db" "UPDATE HostState SET Value = 'running' WHERE Name = 'VmState';
		UPDATE HostState SET Value = 'running' WHERE Name = 'SensorState';
		UPDATE SensorCounters SET RingbufFull = 7 WHERE rowid = (SELECT min(rowid) FROM SensorCounters)"
	hc_expect drops 3 "Unhealthy: 7 events dropped" --db "$(winpath "$T/drops.db")"
	# The same implementation on Linux, with the proxy from the environment.
	https_proxy=http://p.example:3128/ "$O/vigil" healthcheck --json --db "$T/drops.db" >"$T/linux.hc" 2>&1
	rc=$?
	if [ $rc = 3 ] && grep -qF '"Health":"Unhealthy: 7 events dropped"' "$T/linux.hc" &&
		grep -qF '"Proxy":"p.example:3128","ProxySource":"environment"' "$T/linux.hc"; then
		ok "vigil healthcheck on Linux: same state, proxy from https_proxy"
	else
		bad "vigil healthcheck on Linux (rc $rc)" "$T/linux.hc"
	fi
	got=$(q "$db" "SELECT Value FROM HostState WHERE Name IN ('VmState', 'Distributions') ORDER BY Name")
	if [ "$got" = $'[{"Name":"Debian","Flavor":"debian","Version":"12"}]\nstopped' ]; then
		ok "HostState: distribution recorded, VM stopped"
	else
		bad "HostState: $got"
	fi
fi

echo "check-win: distributions in every event"
# fake_distro NAME USER: a distribution's init, in a PID namespace of its own
# (unshare -p -f), its root $T/distro-NAME (this machine's /usr bound in, its
# own /etc/passwd naming uid 4242 USER); its pid in $init, its namespace's
# inode in $ns.
fake_distro() {
	local r=$T/distro-$1 u
	mkdir -p "$r/usr" "$r/etc" "$r/tmp"
	for l in bin lib lib64 sbin; do ln -sfn "usr/$l" "$r/$l"; done
	printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:4242:4242::/tmp:/bin/sh\n' "$2" >"$r/etc/passwd"
	unshare -p -m -f --kill-child --propagation private /bin/sh -c \
		"mount --bind /usr '$r/usr' && exec chroot '$r' /usr/bin/sleep 300" &
	u=$!
	bg_pids+=("$u")
	init= ns=
	for _ in $(seq 50); do
		init=$(pgrep -P "$u" | head -n1)
		[ -n "$init" ] && [ "$(readlink "/proc/$init/root")" = "$r" ] && break
		init=
		sleep 0.1
	done
	[ -n "$init" ] && ns=$(stat -Lc %i "/proc/$init/ns/pid")
}
if [ "$(id -u)" != 0 ]; then
	echo "  skip  vigild loads BPF programs and needs root"
	skip=$((skip + 1))
elif getent passwd 4242 >/dev/null; then
	echo "  skip  uid 4242 has a name on this machine: the test needs it to have none"
	skip=$((skip + 1))
else
	fake_distro Alpha alice
	a_init=$init a_ns=$ns
	fake_distro Beta bob
	b_init=$init b_ns=$ns
	db=$T/distros.db
	if [ -z "$a_ns" ] || [ -z "$b_ns" ] || [ "$a_ns" = "$b_ns" ]; then
		bad "fake distributions: init $a_init ($a_ns), $b_init ($b_ns)"
	elif vm_start distros "$db" --distro "Alpha,alpine,3.19,$a_ns,$a_init" \
		--distro "Beta,debian,12,$b_ns,$b_init"; then
		# DeviceInfo says the distributions once vigild has the list.
		if wait_for "$db" "SELECT OSDistribution FROM DeviceInfo ORDER BY rowid DESC LIMIT 1" \
			'Alpha (alpine 3.19), Beta (debian 12)' 30; then
			ok "DeviceInfo.OSDistribution: the running distributions"
		else
			bad "DeviceInfo.OSDistribution: $(q "$db" "SELECT OSDistribution FROM DeviceInfo")" "$T/relay.err"
		fi
		mark=vg-distro-$$-$RANDOM
		# A process in each distribution, as uid 4242, which only their own passwd names.
		nsenter -t "$a_init" -p -m -r -w -S 4242 -G 4242 /usr/bin/true "$mark-a"
		nsenter -t "$b_init" -p -m -r -w -S 4242 -G 4242 /usr/bin/true "$mark-b"
		/usr/bin/true "$mark-root"
		sel="FROM DeviceProcessEvents WHERE ActionType = 'ProcessCreated' AND ProcessCommandLine LIKE '/usr/bin/true $mark-%'"
		wait_for "$db" "SELECT count(*) $sel" 3 20
		got=$(q "$db" "SELECT replace(ProcessCommandLine, '/usr/bin/true $mark-', ''),
			ifnull(Distribution, '-'), ifnull(AccountName, '-'), AccountUid $sel ORDER BY 1")
		if [ "$got" = $'a|Alpha|alice|4242\nb|Beta|bob|4242\nroot|-|root|0' ]; then
			ok "each process's distribution and its account name from that distribution's passwd"
		else
			bad "DeviceProcessEvents (command|Distribution|AccountName|uid): $got" "$T/relay.err"
		fi
		"$O/vigil" events --db "$db" --json --distribution Beta >"$T/events-beta.json" 2>&1
		if grep -qF "\"ProcessCommandLine\":\"/usr/bin/true $mark-b\"" "$T/events-beta.json" &&
			! grep -qF "$mark-a" "$T/events-beta.json" &&
			! grep -v '"Distribution":"Beta"' "$T/events-beta.json" | grep -q .; then
			ok "vigil events --distribution Beta: only Beta's events"
		else
			bad "vigil events --distribution Beta" "$T/events-beta.json"
		fi
		"$O/vigil" hunt --db "$db" --format csv "DeviceProcessEvents
			| where ActionType == 'ProcessCreated' and Distribution == 'Alpha'
			| where ProcessCommandLine has '$mark'
			| project AccountName, ProcessCommandLine" >"$T/hunt-alpha.csv" 2>&1
		if [ "$(tail -n +2 "$T/hunt-alpha.csv" | tr -d '\r')" = "alice,\"/usr/bin/true $mark-a\"" ]; then
			ok "vigil hunt: where Distribution == 'Alpha'"
		else
			bad "vigil hunt on Distribution" "$T/hunt-alpha.csv"
		fi
		vm_stop
	fi
	# The namespaces' inits too: unshare's child can outlive a SIGTERM to unshare,
	# and a bare `wait` would then sit out its sleep 300.
	kill "${bg_pids[@]}" 2>/dev/null
	kill -KILL ${a_init:+"$a_init"} ${b_init:+"$b_init"} 2>/dev/null
	wait "${bg_pids[@]}" 2>/dev/null
	bg_pids=()
fi

echo "check-win: health states"
hc_expect nostore 3 "Launch WSL distribution with 'bash' command and retry in 5 minutes" \
	--db "$(winpath "$T/none.db")"
"$O/vigil" healthcheck --db "$T/none.db" >"$T/linux-none.hc" 2>&1
rc=$?
if [ $rc = 3 ] && grep -qx "Health:                 Start the host endpoint with 'vigil host' and retry in 5 minutes" "$T/linux-none.hc"; then
	ok "vigil healthcheck on Linux with no store: a Linux host's state, not WSL's"
else
	bad "vigil healthcheck on Linux with no store (rc $rc)" "$T/linux-none.hc"
fi

echo "check-win: WSL version at load, WSL 1 distributions"
# One WSL 1 distribution in the registry before the plug-in loads, one registered
# while the VM runs; the WSL 2 one (--distro) is not listed.
if vm_start wsl1 "$T/wsl1.db" --vigild "$T/silent.sh" --wsl 2.3.26 --wsl1 Ubuntu-18.04 \
	--distro Debian,debian,12 --register-wsl1 Legacy; then
	hc wsl1 --db "$(winpath "$T/wsl1.db")"
	vm_stop
	if grep -qx 'OnDistributionRegistered: 0x00000000' "$T/wsl1.out" &&
		grep -qx "Not monitored:          Ubuntu-18.04: WSL 1, not monitored: convert it with 'wsl --set-version Ubuntu-18.04 2'" "$T/wsl1.hc" &&
		grep -qx "Not monitored:          Legacy: WSL 1, not monitored: convert it with 'wsl --set-version Legacy 2'" "$T/wsl1.hc" &&
		! grep -q 'Not monitored: .*Debian' "$T/wsl1.hc"; then
		ok "healthcheck.exe: WSL 1 distributions found at load and on registration, not monitored"
	else
		bad "WSL 1 distributions" "$T/wsl1.hc"
	fi
fi
# The entry point only, no VM: the version is recorded at load.
harness load --wsl 2.0.9 --load-only --db "$(winpath "$T/load.db")"
hc load --json --db "$(winpath "$T/load.db")"
if grep -qx 'entry: 0x00000000' "$T/load.out" && grep -qF '"WslVersion":"2.0.9"' "$T/load.hc" &&
	grep -qF "\"Health\":\"Launch WSL distribution" "$T/load.hc"; then
	ok "healthcheck.exe: WSL version from plug-in load, before any VM ran"
else
	bad "WSL version at load" "$T/load.hc"
fi

printf '#!/bin/sh\n# a sensor that never sends\nexec cat >/dev/null\n' >"$T/silent.sh"
printf '#!/bin/sh\necho "fake sensor: crashing" >&2\nexit 1\n' >"$T/crash.sh"
chmod +x "$T/silent.sh" "$T/crash.sh"
if vm_start silent "$T/silent.db" --vigild "$T/silent.sh"; then
	hc_expect waiting 3 "Waiting for telemetry. Try again in 5 minutes." --db "$(winpath "$T/silent.db")"
	vm_stop
	hc_expect stopped 3 "Launch WSL distribution with 'bash' command and retry in 5 minutes" \
		--db "$(winpath "$T/silent.db")"
fi
if vm_start crash "$T/crash.db" --vigild "$T/crash.sh"; then
	wait_for "$T/crash.db" "SELECT Value LIKE 'exited:%' FROM HostState WHERE Name = 'SensorState'" 1 20
	hc_expect crash 3 "Unhealthy: sensor crashed (the sensor closed its connection)" \
		--db "$(winpath "$T/crash.db")"
	vm_stop
fi
if vm_start kernel "$T/kernel.db" --vigild "$T/crash.sh" --custom 1 --allow-custom; then
	wait_for "$T/kernel.db" "SELECT Value LIKE 'exited:%' FROM HostState WHERE Name = 'SensorState'" 1 20
	hc_expect kernel 3 "Unhealthy: kernel capability missing: the sensor could not run on the custom kernel (the sensor closed its connection)" \
		--db "$(winpath "$T/kernel.db")"
	vm_stop
	if grep -q PluginError "$T/kernel.out"; then
		bad "AllowCustomKernel=1 still refused the custom kernel" "$T/kernel.out"
	else
		ok "AllowCustomKernel=1: a custom kernel is let through to the sensor's own probe"
	fi
fi

echo "check-win: proxy choice (TelemetryProxyServer, WinHTTP, Network & Internet, direct)"
# start_tinyproxy NAME ALLOW: a tinyproxy on a free loopback port ($tp_port)
# admitting ALLOW; 127.0.0.1 not admitted makes it refuse us with 403.
start_tinyproxy() {
	local name=$1 allow=$2
	for _ in 1 2 3 4 5; do
		tp_port=$((20000 + RANDOM % 30000))
		printf 'User nobody\nGroup nogroup\nPort %s\nListen 127.0.0.1\nTimeout 10\nAllow %s\nLogLevel Info\n' \
			"$tp_port" "$allow" >"$T/$name.conf"
		tinyproxy -d -c "$T/$name.conf" >"$T/$name.log" 2>&1 &
		tp_pids+=($!)
		bg_pids+=($!)
		for _ in $(seq 30); do
			grep -q "listening\|Listening\|Setting the various signals" "$T/$name.log" 2>/dev/null && \
				(echo >"/dev/tcp/127.0.0.1/$tp_port") 2>/dev/null && return 0
			kill -0 "${tp_pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
	done
	echo "check-win: tinyproxy did not start" >&2
	cat "$T/$name.log" >&2
	return 1
}
# One live tinyproxy per source, each with its own log: in the table @P@ is
# TelemetryProxyServer under the host EDR's policy key, @O@ the plug-in key's
# TelemetryProxyServer (its override), @W@ the WinHTTP proxy, @U@ the Network
# & Internet settings. The table runs twice: here, what healthcheck.exe says;
# with the server running (below), the route the plug-in's traffic takes.
declare -A px_port px_lines
tp_pids=()
for s in P O W U; do
	start_tinyproxy "tp-$s" 127.0.0.1 || exit 1
	px_port[$s]=$tp_port
done
tp_pids=()
# px_sub TEXT: TEXT with each @X@ replaced by that proxy's address.
px_sub() {
	local v=$1 s
	for s in P O W U; do v=${v//@$s@/127.0.0.1:${px_port[$s]}}; done
	printf '%s' "$v"
}
# px_set POLICY OVERRIDE WINHTTP USER LEGACY: set the sources ("-": unset).
px_set() {
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --policy "$(px_sub "$1")" \
		--static "$(px_sub "$2")" --winhttp "$(px_sub "$3")" --user "$(px_sub "$4")" \
		--legacy "$5" >"$T/proxyset.out" 2>&1 ||
		{ bad "proxyset.exe $*" "$T/proxyset.out"; return 1; }
}
# policy | override | winhttp | user | legacy | Proxy | ProxySource | Warnings (substring)
PROXY_TABLE=$(cat <<'TABLE'
-|-|-|-|-|direct|direct|-
-|-|-|@U@|-|@U@|Network & Internet settings|-
-|-|@W@|@U@|-|@W@|WinHTTP|-
@P@|-|@W@|@U@|-|@P@|TelemetryProxyServer|-
@P@|@O@|@W@|@U@|-|@O@|TelemetryProxyServer (plug-in key)|-
-|@O@|-|-|-|@O@|TelemetryProxyServer (plug-in key)|-
-|-|http=127.0.0.1:1;https=@W@|@U@|-|@W@|WinHTTP|-
-|-|-|-|old.example:9|direct|direct|legacy proxy value 'old.example:9' (DefenderProxyServer) is ignored
http://@P@/|-|@W@|-|old.example:9|@P@|TelemetryProxyServer|DefenderProxyServer) is ignored
-|st.example|@W@|-|-|none|TelemetryProxyServer (plug-in key)|TelemetryProxyServer (plug-in key) proxy 'st.example': not host:port
st.example:99999|-|@W@|-|-|none|TelemetryProxyServer|bad port
TABLE
)
while IFS='|' read -r po st wh us lg want_proxy want_src want_warn; do
	[ -z "$po" ] && continue
	px_set "$po" "$st" "$wh" "$us" "$lg" || continue
	want_proxy=$(px_sub "$want_proxy")
	hc proxy --json --db "$(winpath "$T/none.db")"
	row="policy=$po override=$st winhttp=$wh user=$us legacy=$lg"
	if grep -qF "\"Proxy\":\"$want_proxy\",\"ProxySource\":\"$want_src\"" "$T/proxy.hc" &&
		{ [ "$want_warn" = - ] && grep -qF '"Warnings":""' "$T/proxy.hc" ||
			{ [ "$want_warn" != - ] && grep -qF "$want_warn" "$T/proxy.hc"; }; }; then
		ok "proxy $row: $want_proxy from $want_src$([ "$want_warn" = - ] || echo ", warns")"
	else
		bad "proxy $row: want $want_proxy from $want_src, warning '$want_warn'" "$T/proxy.hc"
	fi
done <<<"$PROXY_TABLE"
px_set - - - - -

echo "check-win: connectivity test through a local tinyproxy"
tp_pids=()
# conn_case NAME PROXY WANT: a VM with ConnectivityTest=1 and TelemetryProxyServer=PROXY.
conn_case() {
	local name=$1 proxy=$2 want=$3 got
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static "$proxy" --winhttp - --user - --legacy - \
		>/dev/null 2>&1
	vm_start "$name" "$T/$name.db" --vigild "$T/silent.sh" --conn-test 1 --conn-url "$url" || return
	wait_for "$T/$name.db" "SELECT Value != '' FROM HostState WHERE Name = 'ConnectivityTest'" 1 20
	hc "$name" --json --db "$(winpath "$T/$name.db")"
	vm_stop
	got=$(grep -o '"LastConnectivityTest":"[^"]*"' "$T/$name.hc")
	if [[ "$got" == "\"LastConnectivityTest\":\"$want"* ]]; then
		ok "connectivity through $proxy: ${want%%:*}"
	else
		bad "connectivity through $proxy: want '$want...', got $got" "$T/$name.hc"
	fi
}
"$O/tests/win/httpd" 5 120 >"$T/httpd.out" 2>"$T/httpd.err" &
httpd_pid=$!
bg_pids+=("$httpd_pid")
for _ in $(seq 50); do
	grep -q '^port' "$T/httpd.out" 2>/dev/null && break
	sleep 0.1
done
url="http://127.0.0.1:$(awk '/^port/ {print $2}' "$T/httpd.out")/vigil-connectivity"
if start_tinyproxy tp-ok 127.0.0.1 && ok_port=$tp_port &&
	start_tinyproxy tp-deny 192.0.2.1 && deny_port=$tp_port; then
	conn_case conn-ok "127.0.0.1:$ok_port" \
		"passed: $url reachable through proxy 127.0.0.1:$ok_port (HTTP/1."
	if grep -q '^httpd: GET /vigil-connectivity' "$T/httpd.err"; then
		ok "the request reached the backend through the proxy"
	else
		bad "the backend saw no request" "$T/httpd.err"
	fi
	conn_case conn-deny "127.0.0.1:$deny_port" "failed: proxy 127.0.0.1:$deny_port refused: HTTP/1.0 403"
	conn_case conn-down 127.0.0.1:1 "failed: cannot connect to proxy 127.0.0.1:1: connection refused"
else
	bad "tinyproxy"
fi
kill "${tp_pids[@]}" "$httpd_pid" 2>/dev/null
timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static - >/dev/null 2>&1

echo "check-win: shipping to vigil server on PostgreSQL through tinyproxy"
# The fleet tests' set-up (tests/fleet/fixture.c), in shell: a throwaway cluster
# (scripts/pgtest.sh, run as postgres: its folder is mode 0711 under /tmp), a CA
# and the server's certificate, the server on a free port, an onboarding
# package. A second CA stands in for someone else's certificate. The server is
# https://localhost: Wine's certificate name check does not match IP addresses.
# pgq SQL: one value from the server's database.
pgq() { psql "$pg_conninfo" -XAtqc "$1" 2>&1; }
# start_server: `vigil server` on a free port ($srv_port), its log in $F/server.log.
start_server() {
	"$O/vigil" server --pg "$pg_conninfo" --listen https://127.0.0.1:0 --cert "$F/srv.pem" \
		--key "$F/srv.key" --threads 2 2>"$F/server.log" &
	srv_pid=$!
	bg_pids+=("$srv_pid")
	for _ in $(seq 300); do
		srv_port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$F/server.log" | tail -n1)
		[ -n "$srv_port" ] && return 0
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "check-win: vigil server did not start" >&2
	cat "$F/server.log" >&2
	return 1
}
# make_ca NAME: NAME.key and the self-signed NAME.pem in $F.
make_ca() {
	certtool --generate-privkey --key-type=ecdsa --outfile "$F/$1.key" 2>/dev/null &&
		printf 'cn = %s\nca\ncert_signing_key\nexpiration_days = 2\n' "$1" >"$F/$1.tmpl" &&
		certtool --generate-self-signed --load-privkey "$F/$1.key" --template "$F/$1.tmpl" \
			--outfile "$F/$1.pem" 2>/dev/null
}
# stop_server: the server ends (the hosts' frames wait in their outboxes).
stop_server() {
	kill "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
}
# ship_vm NAME ONBOARDING ARGS...: a VM whose plug-in ships to the server, its store $T/NAME.db
# ($ship_db instead when set: the same store across VM restarts).
ship_vm() {
	local name=$1 ob=$2
	shift 2
	# The real vigild (VigildPath stays set from the tests before), time for a loaded machine.
	vm_start "$name" "${ship_db:-$T/$name.db}" --vigild /opt/vigil/vigild --timeout 180 --distro Debian,debian,12 \
		--upstream "https://localhost:$srv_port" --onboarding "$(winpath "$ob")" \
		--log "$(winpath "$T/$name.log")" "$@"
}
if [ "$(id -u)" != 0 ]; then
	echo "  skip  vigild loads BPF programs and PostgreSQL runs as postgres: needs root"
	skip=$((skip + 1))
elif ! F=$(mktemp -d /tmp/vigil-winup-XXXXXX) || ! chmod 0711 "$F" || ! bg_dirs+=("$F") ||
	! pg_conninfo=$("$S/scripts/pgtest.sh" start "$F/pg" 2>"$F/pg.err"); then
	bad "a throwaway PostgreSQL (scripts/pgtest.sh)" "$F/pg.err"
elif ! make_ca ca || ! make_ca other ||
	! printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nexpiration_days = 2\n' >"$F/srv.tmpl" ||
	! certtool --generate-privkey --key-type=ecdsa --outfile "$F/srv.key" 2>/dev/null ||
	! certtool --generate-certificate --load-privkey "$F/srv.key" --load-ca-certificate "$F/ca.pem" \
		--load-ca-privkey "$F/ca.key" --template "$F/srv.tmpl" --outfile "$F/srv.pem" 2>/dev/null ||
	! certtool --generate-privkey --key-type=ecdsa --outfile "$F/imp.key" 2>/dev/null ||
	! certtool --generate-certificate --load-privkey "$F/imp.key" --load-ca-certificate "$F/other.pem" \
		--load-ca-privkey "$F/other.key" --template "$F/srv.tmpl" --outfile "$F/imp.pem" 2>/dev/null; then
	bad "the CA and the server's certificate (certtool)"
elif ! start_server || ! "$O/vigil" server onboard --pg "$pg_conninfo" --url "https://localhost:$srv_port" \
	--ca "$F/ca.pem" --out "$F/ob.txt" >/dev/null 2>"$F/onboard.err"; then
	bad "vigil server and its onboarding package" "$F/onboard.err"
elif start_tinyproxy tp-ship 127.0.0.1; then
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static "127.0.0.1:$tp_port" --winhttp - \
		--user - --legacy - >/dev/null 2>&1
	# Someone else's CA in the package: the server is refused before any body (the secret) goes.
	sed "s|^ca_pem=.*|ca_pem=$(base64 -w0 "$F/other.pem")|" "$F/ob.txt" >"$F/ob-other.txt"
	if ship_vm ship-other "$F/ob-other.txt"; then
		wait_for "$T/ship-other.db" "SELECT Value FROM HostState WHERE Name = 'SensorState'" running 60
		wait_for "$T/ship-other.db" "SELECT Value LIKE 'server certificate of https://localhost:$srv_port refused: not issued by the onboarding package''s CA%' FROM HostState WHERE Name = 'UpstreamError'" 1 60
		vm_stop
		got=$(q "$T/ship-other.db" "SELECT group_concat(Value, ' | ') FROM (SELECT Value FROM HostState WHERE Name IN ('UpstreamState', 'UpstreamError') ORDER BY Name DESC)")
		if [ "$got" = "unreachable | server certificate of https://localhost:$srv_port refused: not issued by the onboarding package's CA" ] &&
			[ "$(q "$T/ship-other.db" 'SELECT count(*) > 0 FROM UpstreamOutbox')" = 1 ] &&
			[ "$(pgq 'SELECT count(*) FROM "EnrolledDevices"')" = 0 ]; then
			ok "a server certified by another CA is refused, nothing enrolled, the frames kept"
		else
			bad "another CA: Upstream '$got', enrolled $(pgq 'SELECT count(*) FROM "EnrolledDevices"')" "$T/ship-other.log"
		fi
	fi
	# The log at LogMaxBytes already: the plug-in's first line moves it to .1.
	head -c 5000 /dev/zero | tr '\0' x >"$T/ship.log"
	mark=vg-ship-$$-$RANDOM
	if ship_vm ship "$F/ob.txt" --conn-test 1 --log-max 4096; then
		# The workload once the sensor runs (its first batch is stored).
		wait_for "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'SensorState'" running 60
		for i in 1 2 3; do /bin/true "$mark-$i"; done
		sel="FROM \"DeviceProcessEvents\" WHERE \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" LIKE '/bin/true $mark-%'"
		for _ in $(seq 300); do
			[ "$(pgq "SELECT count(*) $sel")" = 3 ] && break
			sleep 0.2
		done
		wait_for "$T/ship.db" "SELECT Value != '' FROM HostState WHERE Name = 'ConnectivityTest'" 1 30
		hc ship --json --db "$(winpath "$T/ship.db")"
		mkdir -p "$T/ship-bundle"
		hc ship-bundle --supportBundle --db "$(winpath "$T/ship.db")" --out "$(winpath "$T/ship-bundle")"
		vm_stop
		if [ "$(pgq "SELECT count(*) $sel")" = 3 ]; then
			ok "the workload's events reached PostgreSQL through the plug-in"
		else
			bad "PostgreSQL: $(pgq "SELECT count(*) $sel") of 3 events" "$T/ship.log"
		fi
		# The plug-in enrolled as the Windows host (its MachineGuid, the WSL
		# device's HostDeviceId): the server stores the WSL device's batches
		# under the host's credential, and the host's DeviceInfo row has the
		# name it enrolled with.
		wsl_dev=$(q "$T/ship.db" "SELECT DeviceId FROM DeviceInfo LIMIT 1")
		host_dev=$(q "$T/ship.db" "SELECT HostDeviceId FROM DeviceInfo LIMIT 1")
		got=$(pgq "SELECT string_agg(\"DeviceId\", ',') FROM \"EnrolledDevices\"")
		host_row=$(pgq "SELECT \"OSPlatform\" || '|' || (\"DeviceName\" = (SELECT \"DeviceName\" FROM \"EnrolledDevices\" WHERE \"DeviceId\" = '$host_dev')) FROM \"DeviceInfo\" WHERE \"DeviceId\" = '$host_dev' LIMIT 1")
		if [ -n "$host_dev" ] && [ "$host_dev" != "$wsl_dev" ] && [ "$got" = "$host_dev" ] &&
			[ "$host_row" = 'Windows|true' ] &&
			[ "$(pgq "SELECT count(*) > 0 FROM \"DeviceInfo\" WHERE \"DeviceId\" = '$wsl_dev' AND \"HostDeviceId\" = '$host_dev'")" = t ]; then
			ok "the plug-in enrolled as its Windows host; the WSL device's events are stored under it"
		else
			bad "enrolled '$got', want the host '$host_dev' (WSL device '$wsl_dev'); host DeviceInfo '$host_row'" "$T/ship.log"
		fi
		if grep -q "Request (file descriptor [0-9]*): CONNECT localhost:$srv_port HTTP/1.1" "$T/tp-ship.log" &&
			grep -q 'Established connection to host "localhost"' "$T/tp-ship.log"; then
			ok "the traffic went through the proxy (CONNECT localhost:$srv_port)"
		else
			bad "no CONNECT in the proxy's log" "$T/tp-ship.log"
		fi
		got=$(q "$T/ship.db" "SELECT group_concat(Value, ' | ') FROM (SELECT Value FROM HostState WHERE Name IN ('Upstream', 'UpstreamState') ORDER BY Name)")
		if [ "$got" = "https://localhost:$srv_port | shipping" ] &&
			[ "$(q "$T/ship.db" 'SELECT count(*) FROM UpstreamOutbox')" = 0 ] &&
			[ "$(q "$T/ship.db" 'SELECT sum(Frames) > 0 FROM UpstreamStreams')" = 1 ]; then
			ok "HostState Upstream: $got, the outbox empty, the watermark kept"
		else
			bad "HostState Upstream: '$got', outbox $(q "$T/ship.db" 'SELECT count(*) FROM UpstreamOutbox')" "$T/ship.log"
		fi
		if grep -qF "\"LastConnectivityTest\":\"passed: https://localhost:$srv_port/v1/health answered 200 through 127.0.0.1:$tp_port\"" "$T/ship.hc"; then
			ok "connectivity test: the server's health endpoint through the proxy"
		else
			bad "connectivity test against the server" "$T/ship.hc"
		fi
		if grep -q 'info vigil-plugin: upstream: enrolled ' "$T/ship.log" &&
			[ "$(head -c 5000 "$T/ship.log.1" | tr -d x | wc -c)" = 0 ] &&
			[ "$(wc -c <"$T/ship.log.1")" = 5000 ]; then
			ok "the plug-in's own log, rotated once past LogMaxBytes"
		else
			bad "the plug-in's log file" "$T/ship.log"
		fi
		tarball=$(ls "$T"/ship-bundle/vigil-support-*.tar 2>/dev/null | head -n1)
		if tar xOf "$tarball" logs.txt 2>/dev/null | grep -q 'upstream: enrolled' &&
			tar xOf "$tarball" hoststate.txt 2>/dev/null | grep -q '^UpstreamState.*shipping'; then
			ok "the support bundle holds the plug-in's log and the upstream state"
		else
			bad "support bundle: logs.txt or the Upstream state missing" "$T/ship-bundle.hc"
		fi
		# The server down: the batches wait in the store's outbox, through a
		# restart of the plug-in (VM stop, start), and reach the server once
		# it is back, each once.
		stop_server
		mark2=vg-down-$$-$RANDOM
		sel2="FROM \"DeviceProcessEvents\" WHERE \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" LIKE '/bin/true $mark2-%'"
		if ship_db=$T/ship.db ship_vm ship-down "$F/ob.txt"; then
			wait_for "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'SensorState'" running 60
			for i in 1 2 3; do /bin/true "$mark2-$i"; done
			wait_for "$T/ship.db" "SELECT count(*) FROM DeviceProcessEvents WHERE ActionType = 'ProcessCreated' AND ProcessCommandLine LIKE '/bin/true $mark2-%'" 3 60
			wait_for "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'UpstreamState'" unreachable 60
			hc ship-down --json --db "$(winpath "$T/ship.db")"
			vm_stop
			pending=$(q "$T/ship.db" "SELECT count(*) FROM UpstreamOutbox")
			if grep -q '"UpstreamState":"unreachable"' "$T/ship-down.hc" &&
				grep -q '"UpstreamPendingEvents":[1-9]' "$T/ship-down.hc" &&
				[ "$pending" -gt 0 ] 2>/dev/null; then
				ok "server down: healthcheck shows unreachable and the pending events; $pending frames kept past the VM stop"
			else
				bad "server down: pending '$pending'" "$T/ship-down.hc"
			fi
		fi
		if start_server && ship_db=$T/ship.db ship_vm ship-up "$F/ob.txt"; then
			wait_for "$T/ship.db" "SELECT count(*) FROM UpstreamOutbox" 0 120
			vm_stop
			if [ "$(pgq "SELECT count(*) $sel2")" = 3 ] &&
				[ "$(q "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'UpstreamState'")" = shipping ]; then
				ok "the backlog of a plug-in restarted while the server was down reached PostgreSQL"
			else
				bad "after the restart: PostgreSQL has $(pgq "SELECT count(*) $sel2") of 3 events" "$T/ship-up.log"
			fi
		fi
		# Every event of the local store once upstream, the backlog included.
		dev=$(q "$T/ship.db" "SELECT DeviceId FROM DeviceInfo LIMIT 1")
		bad_tables=
		for t in DeviceProcessEvents DeviceFileEvents DeviceNetworkEvents DeviceEvents; do
			l=$(q "$T/ship.db" "SELECT count(*) FROM $t WHERE DeviceId = '$dev'")
			p=$(pgq "SELECT count(*) || '/' || count(DISTINCT (\"Timestamp\", \"ReportId\")) FROM \"$t\" WHERE \"DeviceId\" = '$dev'")
			[ "$p" = "$l/$l" ] || bad_tables+=" $t(local $l, upstream $p)"
		done
		if [ -n "$dev" ] && [ -z "$bad_tables" ]; then
			ok "PostgreSQL holds every stored event exactly once"
		else
			bad "events upstream vs local:$bad_tables" "$T/ship.log"
		fi
		# An impostor: a certificate for the right name from another CA, this
		# store (its token) sent to it. openssl s_server records what it
		# receives (its stdin a FIFO this shell holds open): the plug-in
		# connects, but neither the token nor a body reaches it.
		imp_token=$(cat "$T/ship.db.token" 2>/dev/null)
		rm -f "$F/imp.in" && mkfifo "$F/imp.in"
		imp_port=$((20000 + RANDOM % 30000))
		openssl s_server -accept "127.0.0.1:$imp_port" -cert "$F/imp.pem" -key "$F/imp.key" \
			-quiet <"$F/imp.in" >"$F/imp.recv" 2>"$F/imp.err" &
		imp_pid=$!
		bg_pids+=("$imp_pid")
		exec 9>"$F/imp.in"
		imp_url=https://localhost:$imp_port
		if [ -n "$imp_token" ] && ship_db=$T/ship.db ship_vm ship-imp "$F/ob.txt" --upstream "$imp_url"; then
			wait_for "$T/ship.db" "SELECT Value LIKE 'server certificate of $imp_url refused: not issued by the onboarding package''s CA%' FROM HostState WHERE Name = 'UpstreamError'" 1 60
			vm_stop
		fi
		exec 9>&-
		kill "$imp_pid" 2>/dev/null
		wait "$imp_pid" 2>/dev/null
		# Only request heads may be there: a line of anything else is a body.
		# (Wine's WinHTTP writes the absolute URL in a request through a proxy.)
		imp_line="POST ($imp_url)?/v1/batches HTTP/1\\.[01]"
		if grep -Eq "^$imp_line" "$F/imp.recv" &&
			! grep -qiF -e authorization -e "$imp_token" "$F/imp.recv" &&
			! tr -d '\r' <"$F/imp.recv" | grep -Evq "^($imp_line|[A-Za-z-]+: .*|)\$" &&
			grep -qF "upstream: server certificate of $imp_url refused: not issued by the onboarding package's CA" "$T/ship-imp.log"; then
			ok "an impostor for the server's name got neither the token nor a body; the plug-in logged the refusal"
		else
			bad "the impostor's recording (token ${imp_token:0:6}...)" "$F/imp.recv"
			sed 's/^/        | /' "$T/ship-imp.log" 2>/dev/null | tail -n 5
		fi
		# The proxy table again, each row's plug-in shipping to the server:
		# the CONNECT is in the log of exactly the proxy the row names (in
		# none for direct), the row's workload arrives upstream; an unusable
		# proxy setting starts no sender and nothing leaves.
		n=0
		while IFS='|' read -r po st wh us lg want_proxy want_src want_warn; do
			[ -z "$po" ] && continue
			n=$((n + 1))
			px_set "$po" "$st" "$wh" "$us" "$lg" || continue
			want_proxy=$(px_sub "$want_proxy")
			row="policy=$po override=$st winhttp=$wh user=$us legacy=$lg"
			for s in P O W U; do px_lines[$s]=$(wc -l <"$T/tp-$s.log"); done
			mark=vg-route-$$-$n
			sel="FROM \"DeviceProcessEvents\" WHERE \"ActionType\" = 'ProcessCreated' AND \"ProcessCommandLine\" = '/bin/true $mark'"
			ship_db=$T/ship.db ship_vm "route-$n" "$F/ob.txt" || continue
			wait_for "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'SensorState'" running 60
			# (SensorState can be the last VM's: the workload again until it is seen.)
			for i in $(seq 300); do
				[ "$want_proxy" = none ] && break
				[ $((i % 10)) = 1 ] && /bin/true "$mark"
				[ "$(pgq "SELECT count(*) > 0 $sel")" = t ] && break
				sleep 0.2
			done
			vm_stop
			got= want=
			for s in P O W U; do
				tail -n "+$((px_lines[$s] + 1))" "$T/tp-$s.log" |
					grep -q "CONNECT localhost:$srv_port HTTP" && got+=" $(px_sub "@$s@")"
			done
			case $want_proxy in direct | none) ;; *) want=" $want_proxy" ;; esac
			arrived=$(pgq "SELECT count(*) > 0 $sel") via=${want# }
			state=$(q "$T/ship.db" "SELECT Value FROM HostState WHERE Name = 'UpstreamError'")
			if [ "$got" = "$want" ] && { [ "$want_proxy" != none ] && [ "$arrived" = t ] ||
				{ [ "$want_proxy" = none ] && [[ "$state" == "not started: "*"$want_warn"* ]]; }; }; then
				ok "route $row: $([ "$want_proxy" = none ] && echo "nothing sent ($want_src unusable)" || echo "through ${via:-no proxy}, the events upstream")"
			else
				bad "route $row: want CONNECT through '${want# }', got '${got# }'; events upstream $arrived; UpstreamError '$state'" "$T/route-$n.log"
			fi
		done <<<"$PROXY_TABLE"
		px_set - - - - -
	fi
	timeout 60 "$WINE" "$O/win/tests/proxyset.exe" --static - >/dev/null 2>&1
fi

# No server configured: the connectivity test says so, not "failed".
if vm_start conn-none "$T/conn-none.db" --vigild "$T/silent.sh" --conn-test 1; then
	wait_for "$T/conn-none.db" "SELECT Value != '' FROM HostState WHERE Name = 'ConnectivityTest'" 1 20
	hc conn-none --json --db "$(winpath "$T/conn-none.db")"
	vm_stop
	if grep -qF '"LastConnectivityTest":"not run: no server configured (UpstreamUrl, OnboardingPath)"' "$T/conn-none.hc"; then
		ok "connectivity test with no server configured: says so"
	else
		bad "connectivity test with no server" "$T/conn-none.hc"
	fi
fi

echo "win: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
