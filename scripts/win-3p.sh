#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Third-party libraries of the Windows host core (SQLite, zstd, protobuf-c)
# cross-built with mingw-w64 from Debian's own source packages: Debian ships
# no mingw builds of them. Same upstream versions as the Linux -dev packages.
#   scripts/win-3p.sh OUTDIR
# writes OUTDIR/include/{sqlite3.h,zstd.h,protobuf-c/protobuf-c.h,...} and
# OUTDIR/lib/lib{sqlite3,zstd,protobuf-c}.a.
#
# Source packages come from a private apt configuration (a deb-src line of
# our own, lists under the cache), never from the machine's sources. Both the
# downloads and the built libraries are cached in VIGIL_CACHE (default
# /var/cache/vigil, else build/), keyed by source version and compiler.
set -euo pipefail

out=${1:?usage: win-3p.sh OUTDIR}
out=$(realpath -m "$out")
cross=${CROSS:-x86_64-w64-mingw32-}
cache=${VIGIL_CACHE:-/var/cache/vigil}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=$(dirname "$out")/cache
cache=$cache/win-3p
mkdir -p "$cache"

apt_dir=$cache/apt
APT=(apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list"
     -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$apt_dir/lists"
     -o Dir::Cache="$apt_dir/cache" -o APT::Sandbox::User=root)

# The Linux build links the -dev packages' versions; build the same ones.
srcver() {
	dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null || true
}
want=("sqlite3=$(srcver libsqlite3-dev)" "libzstd=$(srcver libzstd-dev)"
      "protobuf-c=$(srcver libprotobuf-c-dev)")
for i in "${!want[@]}"; do
	[ "${want[$i]#*=}" ] || want[$i]=${want[$i]%=}
done
key=$(printf '%s\n' "${want[@]}" "$("${cross}gcc" -dumpversion)" | sha1sum | cut -c1-12)
built=$cache/built-$key

if [ ! -f "$built/.ok" ]; then
	src=$cache/src
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src"
	if ! ls "$src"/*.dsc >/dev/null 2>&1 || [ ! -f "$src/.want-$key" ]; then
		echo "win-3p: fetching Debian source packages: ${want[*]}"
		. /etc/os-release
		echo "deb-src http://deb.debian.org/debian ${VERSION_CODENAME:-bookworm} main" \
			>"$apt_dir/sources.list"
		"${APT[@]}" update >"$cache/apt.log" 2>&1 ||
			{ cat "$cache/apt.log" >&2; echo "win-3p: apt-get update of the deb-src list failed" >&2; exit 1; }
		rm -rf "$src" && mkdir -p "$src"
		(cd "$src" && "${APT[@]}" source --download-only "${want[@]}") >>"$cache/apt.log" 2>&1 ||
			{ cat "$cache/apt.log" >&2; echo "win-3p: apt-get source ${want[*]} failed" >&2; exit 1; }
		touch "$src/.want-$key"
	fi

	work=$cache/work-$key
	rm -rf "$work" "$built.tmp"
	mkdir -p "$work" "$built.tmp/include/protobuf-c" "$built.tmp/lib"
	for dsc in "$src"/*.dsc; do
		dpkg-source --no-check -x "$dsc" "$work/$(basename "$dsc" .dsc)" >/dev/null
	done
	srcdir() {
		find "$work" -mindepth 1 -maxdepth 1 -type d -name "$1_*" | head -n1
	}
	CC=${cross}gcc AR=${cross}ar
	CF=(-O2 -g0 -DNDEBUG)

	echo "win-3p: SQLite amalgamation, then mingw build"
	d=$(srcdir sqlite3)
	mkdir -p "$d/bld"
	(cd "$d/bld" && ../configure --disable-tcl >/dev/null && make sqlite3.c >/dev/null)
	"$CC" "${CF[@]}" -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION \
		-c "$d/bld/sqlite3.c" -o "$work/sqlite3.o"
	"$AR" rcs "$built.tmp/lib/libsqlite3.a" "$work/sqlite3.o"
	cp "$d/bld/sqlite3.h" "$built.tmp/include/"

	echo "win-3p: zstd"
	d=$(srcdir libzstd)
	objs=()
	for f in "$d"/lib/common/*.c "$d"/lib/compress/*.c "$d"/lib/decompress/*.c; do
		o=$work/zstd-$(basename "$f" .c).o
		"$CC" "${CF[@]}" -DZSTD_DISABLE_ASM -I"$d/lib" -I"$d/lib/common" -c "$f" -o "$o"
		objs+=("$o")
	done
	"$AR" rcs "$built.tmp/lib/libzstd.a" "${objs[@]}"
	cp "$d/lib/zstd.h" "$d/lib/zstd_errors.h" "$built.tmp/include/"

	echo "win-3p: protobuf-c"
	d=$(srcdir protobuf-c)
	"$CC" "${CF[@]}" -I"$d" -c "$d/protobuf-c/protobuf-c.c" -o "$work/protobuf-c.o"
	"$AR" rcs "$built.tmp/lib/libprotobuf-c.a" "$work/protobuf-c.o"
	cp "$d/protobuf-c/protobuf-c.h" "$built.tmp/include/protobuf-c/"

	printf '%s\n' "${want[@]}" >"$built.tmp/VERSIONS"
	touch "$built.tmp/.ok"
	rm -rf "$built" "$work"
	mv "$built.tmp" "$built"
fi

rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$built" "$out"
