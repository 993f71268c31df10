#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install every build and test dependency of vigil on Debian bookworm, but
# only when something is missing: a second run costs a few dpkg queries.
# The packages are listed in scripts/deps/*.txt (one file per part of the
# project; '#' starts a comment).
#   scripts/deps.sh           check, install what is missing (needs root)
#   scripts/deps.sh --list    print the package list
set -euo pipefail
cd "$(dirname "$0")"

mapfile -t PKGS < <(sed -e 's/#.*//' deps/*.txt | tr -s ' \t' '\n\n' | sed '/^$/d' | sort -u)

if [ "${1:-}" = --list ]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" && continue
	# kconfig-frontends (with the Qt and GTK front ends) serves as well as -nox.
	[ "$p" = kconfig-frontends-nox ] && installed kconfig-frontends && continue
	missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run: sudo scripts/deps.sh" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
