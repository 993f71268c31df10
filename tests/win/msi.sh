#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check-msi: the MSI's tables list the three files and register the
# plug-in, and the DLL inside it carries a signature the test certificate
# verifies.
#   tests/win/msi.sh MSI CERT
set -uo pipefail

msi=$1 cert=$2
pass=0 fail=0
ok() { echo "  ok    $1"; pass=$((pass + 1)); }
bad() { echo "  FAIL  $1"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "check-msi: $msi"
files=$(msiinfo export "$msi" File 2>/dev/null | tr -d '\r' | awk -F'\t' 'NR > 3 {print $3}' | sort | tr '\n' ' ')
if [ "$files" = "healthcheck.exe vigild vigilplugin.dll " ]; then
	ok "File table: vigilplugin.dll, healthcheck.exe, vigild"
else
	bad "File table lists: '$files'"
fi
reg=$(msiinfo export "$msi" Registry 2>/dev/null | tr -d '\r' | awk -F'\t' 'NR > 3 {print $2 "|" $3 "|" $4 "|" $5}')
if grep -qxF '2|SOFTWARE\Microsoft\Windows\CurrentVersion\Lxss\Plugins|vigil|[INSTALLDIR]vigilplugin.dll' <<<"$reg"; then
	ok "Registry table: HKLM Lxss\\Plugins value vigil = [INSTALLDIR]vigilplugin.dll"
else
	bad "Registry table has no plug-in registration: $reg"
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
