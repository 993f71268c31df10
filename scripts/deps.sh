#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the Debian bookworm packages one part of vigil needs, and only
# those that are missing: a second run costs a few dpkg queries. Each part
# has its list in scripts/deps/PART.txt ('#' starts a comment):
#   base     build and run vigild and vigil (make, make run)
#   test     what the tests run besides vigil (make check)
#   bench    the sensors vigil is compared with (make bench)
#   kernels  QEMU and the initramfs tools (make check-kernels)
#   win      the Windows cross-build, Wine, MSI and signing tools (make check-win)
#   fleet    PostgreSQL, libpq, libmicrohttpd, libcurl (vigil server, --upstream)
#   pkg      debhelper, help2man, systemd-analyze (make deb, make install, make check-pkg)
# The Makefile installs each part with the targets that need it.
#   scripts/deps.sh [PART...]        install what is missing (needs root); default: base
#   scripts/deps.sh --all            every part
#   scripts/deps.sh --list [PART...] print the package list
#
# Installing never leaves a service enabled or running that was not before:
# services are kept from starting during the install (policy-rc.d), and a unit
# that a package enabled is disabled again (auditd enables itself; make bench
# starts an audit daemon of its own and stops it). Concurrent runs take turns.
set -euo pipefail
cd "$(dirname "$0")"

list=0
parts=()
for a in "$@"; do
	case $a in
	--list) list=1 ;;
	--all) parts+=($(ls deps | sed -n 's/\.txt$//p')) ;;
	-*) echo "deps: unknown option '$a' (--list, --all)" >&2; exit 2 ;;
	*)
		[ -f "deps/$a.txt" ] || { echo "deps: no part '$a' (parts: $(ls deps | sed -n 's/\.txt$//p' | tr '\n' ' '))" >&2; exit 2; }
		parts+=("$a")
		;;
	esac
done
[ ${#parts[@]} -gt 0 ] || parts=(base)

mapfile -t PKGS < <(for p in "${parts[@]}"; do sed -e 's/#.*//' "deps/$p.txt"; done |
	tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u)

if [ $list = 1 ]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Two parts installed at once (make -j2 on a fresh machine builds several
# targets that each need one) would race for dpkg's lock and for policy-rc.d:
# installs take turns, and each decides what is missing once it holds the lock.
if [ "$(id -u)" = 0 ]; then
	mkdir -p /run/lock
	exec 9>/run/lock/vigil-deps.lock
	flock 9
fi

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" && continue
	# kconfig-frontends (with the Qt and GTK front ends) serves as well as -nox.
	[ "$p" = kconfig-frontends-nox ] && installed kconfig-frontends && continue
	missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps (${parts[*]}): installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run: sudo scripts/deps.sh ${parts[*]}" >&2
	exit 1
fi

enabled_units() {
	command -v systemctl >/dev/null || return 0
	systemctl list-unit-files --state=enabled --no-legend --no-pager 2>/dev/null | awk '{print $1}' | sort
}
before=$(enabled_units)

# No service starts while we install (invoke-rc.d asks policy-rc.d). One that
# the machine already has is left in place.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e $policy ]; then
	printf '#!/bin/sh\n# vigil scripts/deps.sh: no service starts during its install\nexit 101\n' >$policy
	chmod 755 $policy
	own_policy=1
fi
cleanup() { [ $own_policy = 0 ] || rm -f $policy; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

# Units the install enabled go back to how they were.
for u in $(comm -13 <(printf '%s\n' "$before") <(enabled_units)); do
	echo "deps: $u was enabled by its package; disabling it again (vigil starts what it needs itself)"
	systemctl disable --quiet "$u" 2>/dev/null || true
done
