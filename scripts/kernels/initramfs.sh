#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the kernel matrix's initramfs: busybox (static), the static vigild
# and vg-ktest, and an /init that runs vg-ktest with the arguments given on
# the kernel command line (vgk.hooks=a,b,c vgk.n=N vgk.expect=HOOK), then powers off.
#   scripts/kernels/initramfs.sh OUT.cpio.gz VIGILD VG-KTEST
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 OUT.cpio.gz VIGILD VG-KTEST" >&2; exit 2; }
out=$1 vigild=$2 ktest=$3
busybox=${BUSYBOX:-/bin/busybox}
for f in "$vigild" "$ktest" "$busybox"; do
	[ -x "$f" ] || { echo "initramfs: $f: not an executable" >&2; exit 1; }
	# A dynamic binary would fail in the VM with a confusing "not found".
	if ! file -L "$f" | grep -q 'statically linked'; then
		echo "initramfs: $f is not statically linked" >&2
		exit 1
	fi
done

root=$(mktemp -d "${TMPDIR:-/tmp}/vgk-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,run}
cp "$busybox" "$root/bin/busybox"
for a in sh mount umount cat echo ls mkdir poweroff sleep uname tr sed ifconfig; do
	ln -s busybox "$root/bin/$a"
done
cp "$vigild" "$root/bin/vigild"
cp "$ktest" "$root/bin/vg-ktest"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
echo vgk >"$root/etc/hostname"

cat >"$root/init" <<'INIT'
#!/bin/sh
# vigil kernel matrix: run vg-ktest, print its result, power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
ifconfig lo 127.0.0.1 up # the network ground truth runs on loopback
hooks=auto n=50 expect=
for arg in $(cat /proc/cmdline); do
	case $arg in
	vgk.hooks=*) hooks=$(echo "${arg#vgk.hooks=}" | tr , ' ') ;;
	vgk.n=*) n=${arg#vgk.n=} ;;
	vgk.expect=*) expect="-e ${arg#vgk.expect=}" ;;
	esac
done
echo "vgk boot $(uname -r) up $(cut -d' ' -f1 /proc/uptime 2>/dev/null || cat /proc/uptime)"
[ -r /sys/kernel/btf/vmlinux ] && echo "vgk btf yes" || echo "vgk btf no"
echo "vgk lsm $(cat /sys/kernel/security/lsm 2>/dev/null)"
# -q: nothing else runs in this VM, so vg-ktest may stop vigild, switch
# kernel.ftrace_enabled and count program runs machine-wide.
/bin/vg-ktest -q -n "$n" $expect /bin/vigild $hooks
echo "vgk exit $?"
poweroff -f
INIT
chmod 755 "$root/init"
ln -s busybox "$root/bin/cut"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
