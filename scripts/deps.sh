#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install every build and test dependency of vigil on Debian bookworm, but
# only when something is missing: a second run costs a few dpkg queries.
#   scripts/deps.sh           check, install what is missing (needs root)
#   scripts/deps.sh --list    print the package list
set -euo pipefail

PKGS=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libzstd-dev zstd
	libprotobuf-c-dev protobuf-c-compiler
	libcriterion-dev
	libsqlite3-dev sqlite3
	kconfig-frontends-nox libncurses-dev
	clang-format
	procps bc
)

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
