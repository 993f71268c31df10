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
# Source packages come from a private apt configuration (deb-src lines of
# our own for the release, its updates and its security suite, lists under
# the cache), never from the machine's sources. The exact Debian revision of
# an installed -dev package may not be downloadable as source (a security
# update's source is not always served): then the newest revision of the same
# upstream version that is served is built, and the script says so; only when
# no source of that upstream version exists does it stop. Both the downloads
# and the built libraries are cached in VIGIL_CACHE (default /var/cache/vigil,
# else build/), keyed by the installed versions and the compiler.
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
# upstream VERSION: the version without its epoch and Debian revision.
upstream() {
	local v=${1#*:}
	case $v in *-*) v=${v%-*} ;; esac
	echo "$v"
}

# fetch_source PKG [VERSION]: download PKG's source into $src: VERSION if it
# is served, else the newest served revision of VERSION's upstream version.
fetch_source() {
	local pkg=$1 ver=${2:-} up cands=() c
	if [ -z "$ver" ]; then
		if (cd "$src" && "${APT[@]}" source --download-only "$pkg") >>"$cache/apt.log" 2>&1; then
			echo "$pkg" >>"$src/.built"
			return 0
		fi
		cat "$cache/apt.log" >&2
		echo "win-3p: apt-get source $pkg failed" >&2
		exit 1
	fi
	up=$(upstream "$ver")
	# The exact revision first, then the others of the same upstream version, newest first.
	mapfile -t cands < <(echo "$ver"
		apt-cache -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
			-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" showsrc "$pkg" 2>/dev/null |
			sed -n 's/^Version: //p' | sort -u | sort -rV |
			while read -r c; do [ "$c" != "$ver" ] && [ "$(upstream "$c")" = "$up" ] && echo "$c"; done)
	for c in "${cands[@]}"; do
		if (cd "$src" && "${APT[@]}" source --download-only "$pkg=$c") >>"$cache/apt.log" 2>&1; then
			[ "$c" = "$ver" ] ||
				echo "win-3p: $pkg $ver is not served as source; building $c (same upstream version $up)"
			echo "$pkg=$c" >>"$src/.built"
			return 0
		fi
		# A failed download may leave parts behind; they must not be unpacked.
		rm -f "$src/${pkg}_"*
	done
	cat "$cache/apt.log" >&2
	echo "win-3p: no source of $pkg $up is served (tried: ${cands[*]}); the mirror's deb-src suites are in $apt_dir/sources.list" >&2
	exit 1
}

key=$(printf '%s\n' "${want[@]}" "$("${cross}gcc" -dumpversion)" | sha1sum | cut -c1-12)
built=$cache/built-$key

if [ ! -f "$built/.ok" ]; then
	src=$cache/src
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src"
	if ! ls "$src"/*.dsc >/dev/null 2>&1 || [ ! -f "$src/.want-$key" ]; then
		echo "win-3p: fetching Debian source packages: ${want[*]}"
		. /etc/os-release
		suite=${VERSION_CODENAME:-bookworm}
		mirror=${VG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
		{
			echo "deb-src $mirror $suite main"
			echo "deb-src $mirror $suite-updates main"
			echo "deb-src ${VG_DEBIAN_SECURITY:-${mirror}-security} $suite-security main"
		} >"$apt_dir/sources.list"
		"${APT[@]}" update >"$cache/apt.log" 2>&1 ||
			{ cat "$cache/apt.log" >&2; echo "win-3p: apt-get update of the deb-src lists failed" >&2; exit 1; }
		rm -rf "$src" && mkdir -p "$src"
		for w in "${want[@]}"; do
			fetch_source "${w%%=*}" "${w#*=}"
		done
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

	cp "$src/.built" "$built.tmp/VERSIONS"
	touch "$built.tmp/.ok"
	rm -rf "$built" "$work"
	mv "$built.tmp" "$built"
fi

rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$built" "$out"
