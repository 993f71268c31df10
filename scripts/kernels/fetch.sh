#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Fetch Debian's cloud kernel packages for the kernel matrix and unpack each
# kernel image. Uses a private apt configuration under CACHE (own sources
# list, lists and archives directories): the machine's own apt sources are
# left alone. A second run with everything cached does not touch the network.
#   scripts/kernels/fetch.sh CACHE SUITE...    e.g. CACHE bullseye bookworm trixie
# For each suite prints "SUITE VERSION PATH-TO-VMLINUZ" on stdout.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 CACHE SUITE..." >&2; exit 2; }
cache=$1
shift
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
mirror=${VG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "fetch: $keyring missing (debian-archive-keyring)" >&2; exit 1; }

for suite in "$@"; do
	case $suite in
	bullseye | bookworm | trixie) ;;
	*) echo "fetch: unknown suite '$suite' (bullseye, bookworm or trixie)" >&2; exit 2 ;;
	esac
	d=$cache/$suite
	if [ -s "$d/vmlinuz" ] && [ -s "$d/version" ]; then
		echo "$suite $(cat "$d/version") $d/vmlinuz"
		continue
	fi
	mkdir -p "$d/apt/lists/partial" "$d/apt/archives/partial" "$d/apt/etc/preferences.d" \
		"$d/apt/etc/sources.list.d"
	echo "deb [signed-by=$keyring] $mirror $suite main" >"$d/apt/etc/sources.list"
	: >"$d/apt/status"
	apt_opts=(-o "Dir::Etc=$d/apt/etc" -o "Dir::Etc::sourcelist=$d/apt/etc/sources.list"
		-o "Dir::Etc::sourceparts=$d/apt/etc/sources.list.d"
		-o "Dir::Etc::preferencesparts=$d/apt/etc/preferences.d"
		-o "Dir::State=$d/apt" -o "Dir::State::lists=$d/apt/lists"
		-o "Dir::State::status=$d/apt/status" -o "Dir::Cache=$d/apt"
		-o "Dir::Cache::archives=$d/apt/archives" -o "APT::Architecture=amd64"
		-o "APT::Architectures=amd64" -o "Acquire::Languages=none"
		-o "Debug::NoLocking=1" -o "Acquire::Retries=3")
	echo "fetch: $suite: apt-get update (private lists in $d/apt)" >&2
	timeout 600 apt-get "${apt_opts[@]}" -qq update </dev/null >&2
	# The metapackage names the current ABI's image package.
	pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-cloud-amd64 |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\(-unsigned\)\?\)$/\1/p' | head -n1)
	[ -n "$pkg" ] || { echo "fetch: $suite: no linux-image-cloud-amd64 dependency found" >&2; exit 1; }
	echo "fetch: $suite: downloading $pkg" >&2
	(cd "$d/apt/archives" && timeout 900 apt-get "${apt_opts[@]}" -qq download "$pkg" </dev/null >&2)
	deb=$(ls -t "$d/apt/archives/${pkg}"_*.deb | head -n1)
	rm -rf "$d/x"
	mkdir -p "$d/x"
	dpkg-deb -x "$deb" "$d/x"
	vmlinuz=$(ls "$d"/x/boot/vmlinuz-* | head -n1)
	[ -s "$vmlinuz" ] || { echo "fetch: $suite: no vmlinuz in $deb" >&2; exit 1; }
	cp "$vmlinuz" "$d/vmlinuz.tmp" && mv "$d/vmlinuz.tmp" "$d/vmlinuz"
	basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$d/version"
	# Only the image is needed (the cloud flavour builds its drivers in); drop the modules.
	rm -rf "$d/x"
	echo "$suite $(cat "$d/version") $d/vmlinuz"
done
