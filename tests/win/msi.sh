#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check-msi: the MSI's tables install the plug-in and the sensor into a
# plugin folder and healthcheck.exe into a tools folder, register the plug-in,
# stop WslService before files change and start it after, refuse Windows before
# build 19044 and WSL before 2.0.7, create %ProgramData%\vigil for Administrators
# and SYSTEM only; the DLL inside carries a signature the test certificate verifies.
#   tests/win/msi.sh MSI CERT
set -uo pipefail

msi=$1 cert=$2
pass=0 fail=0
ok() { echo "  ok    $1"; pass=$((pass + 1)); }
bad() { echo "  FAIL  $1"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "check-msi: $msi"
# rows TABLE: the table's rows, tab-separated (msiinfo's three header lines dropped).
rows() { msiinfo export "$msi" "$1" 2>/dev/null | tr -d '\r' | tail -n +4 | sort; }
# where: FILE -> folder path under its root directory, from File, Component, Directory.
where=$(join -t $'\t' -1 2 -2 1 -o 1.3,2.3 <(rows File | sort -t $'\t' -k2,2) \
	<(rows Component | sort -t $'\t' -k1,1) | sort)
dirs=$(rows Directory)
path_of() {
	local d=$1 p=""
	while [ -n "$d" ]; do
		line=$(awk -F'\t' -v d="$d" '$1 == d' <<<"$dirs")
		name=$(cut -f3 <<<"$line")
		case $name in .|SourceDir) ;; *) p="$name\\$p" ;; esac
		[ "$(cut -f2 <<<"$line")" = "" ] && { printf '[%s]%s' "$d" "$p"; return; }
		case $(cut -f2 <<<"$line") in ProgramFiles64Folder|CommonAppDataFolder)
			printf '[%s]%s' "$(cut -f2 <<<"$line")" "$p"; return ;; esac
		d=$(cut -f2 <<<"$line")
	done
}
layout=$(while IFS=$'\t' read -r f d; do echo "$(path_of "$d")$f"; done <<<"$where" | sort | tr '\n' ' ')
want='[ProgramFiles64Folder]vigil\plugin\vigild [ProgramFiles64Folder]vigil\plugin\vigilplugin.dll [ProgramFiles64Folder]vigil\tools\healthcheck.exe '
if [ "$layout" = "$want" ]; then
	ok "files: plugin\\vigilplugin.dll, plugin\\vigild, tools\\healthcheck.exe under Program Files\\vigil"
else
	bad "files land at: '$layout'"
fi
reg=$(rows Registry | awk -F'\t' '{print $2 "|" $3 "|" $4 "|" $5}')
if grep -qxF '2|SOFTWARE\Microsoft\Windows\CurrentVersion\Lxss\Plugins|vigil|[PLUGINDIR]vigilplugin.dll' <<<"$reg" &&
	grep -qxF '2|SOFTWARE\vigil|InstallDir|[PLUGINDIR]' <<<"$reg"; then
	ok "Registry table: HKLM Lxss\\Plugins value vigil = [PLUGINDIR]vigilplugin.dll, InstallDir the plugin folder"
else
	bad "Registry table has no plug-in registration: $reg"
fi
# Event 51 = install start (1) + install stop (2) + uninstall start (16) + uninstall stop (32).
sc=$(rows ServiceControl | awk -F'\t' '{print $2 "|" $3 "|" $5}')
seq=$(rows InstallExecuteSequence | sort -t $'\t' -k3,3n | awk -F'\t' '{print $1}' | tr '\n' ' ')
if [ "$sc" = 'WslService|51|1' ] &&
	[[ "$seq" == *" StopServices "*" RemoveFiles "*" InstallFiles "*" StartServices "* ]]; then
	ok "ServiceControl: WslService stopped (and waited for) before files are removed or installed, started after, on install and removal"
else
	bad "ServiceControl: '$sc', sequence: $seq"
fi
lc=$(rows LaunchCondition)
search=$(rows RegLocator; rows DrLocator; rows Signature; rows AppSearch)
if grep -qxF $'Installed OR WINBUILD >= 19044\tvigil needs Windows 10 build 19044 (21H2) or later, or Windows 11.' <<<"$lc" &&
	grep -qxF $'WinBuild\t2\tSOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\tCurrentBuildNumber\t18' <<<"$search" &&
	grep -qxF $'WINBUILD\tWinBuild' <<<"$search"; then
	ok "LaunchCondition: Windows build >= 19044 (CurrentBuildNumber from the registry), with its message"
else
	bad "no Windows build launch condition: $lc"
fi
if grep -qxF $'Installed OR WSLSERVICE\tvigil needs WSL 2.0.7 or later: run \'wsl --update\', then install vigil again.' <<<"$lc" &&
	grep -qxF $'WslDir\t2\tSOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Lxss\\MSI\tInstallLocation\t16' <<<"$search" &&
	grep -qxF $'WslService\tWslDir\t\t0' <<<"$search" &&
	grep -qP '^WslService\twslservice\.exe\t2\.0\.6\.65535\t' <<<"$search" &&
	grep -qxF $'WSLSERVICE\tWslService' <<<"$search"; then
	ok "LaunchCondition: wslservice.exe 2.0.7 or later in WSL's install folder, with its message"
else
	bad "no WSL version launch condition: $lc | $search"
fi
if [ "$(rows CreateFolder)" = $'DATADIR\tData' ] &&
	[ "$(path_of DATADIR)" = '[CommonAppDataFolder]vigil\' ] &&
	[ "$(rows MsiLockPermissionsEx)" = $'DataAcl\tDATADIR\tCreateFolder\tD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)\t' ] &&
	grep -qx 'Version: 500 (1f4)' <(msiinfo suminfo "$msi"); then
	ok "%ProgramData%\\vigil created with a protected DACL: full access for SYSTEM and Administrators only"
else
	bad "ProgramData folder: $(rows CreateFolder) $(path_of DATADIR) $(rows MsiLockPermissionsEx)"
fi
if msiextract -C "$tmp" "$msi" >/dev/null 2>&1 &&
	dll=$(find "$tmp" -name vigilplugin.dll | head -n1) && [ -n "$dll" ] &&
	osslsigncode verify -CAfile "$cert" "$dll" >"$tmp/verify.log" 2>&1; then
	ok "the installed vigilplugin.dll is signed and verifies with the test certificate"
else
	bad "vigilplugin.dll in the MSI is not signed by the test certificate"
	sed 's/^/        | /' "$tmp/verify.log" 2>/dev/null | tail -5
fi
if [ -n "${dll:-}" ] && ! osslsigncode verify -CAfile /etc/ssl/certs/ca-certificates.crt "$dll" >/dev/null 2>&1; then
	ok "and does not verify against the system's CAs (a test certificate, not a trusted one)"
else
	bad "the signature verified against the system CAs"
fi

echo "msi: $pass passed, $fail failed"
[ $fail = 0 ]
