#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The kernel matrix: boot each Debian cloud kernel under QEMU (TCG) with the
# initramfs of scripts/kernels/initramfs.sh, run vg-ktest there and, with
# --native 1, on the running kernel too; print one table; exit 1 if any check
# failed or any kernel did not finish.
#   scripts/kernels/matrix.sh --cache DIR --out DIR [--storm N] [--hooks "auto ..."]
#                             [--native 0|1] [--wsl SUITE] [--icount wsl|all|none]
#                             [--timeout S] [--jobs N] SUITE...
# --jobs: VMs booted at once (default 2); the native run comes after them, alone.
# --icount: the rows booted with one vCPU and QEMU's instruction-counted
# clock (-icount shift=0: one ns of guest time per guest instruction), where
# the cost ratios are ratios of instructions executed, whatever the host's
# load; the other rows have two vCPUs and the host's clock (default: wsl).
# Every QEMU kernel allows fentry, so there vigild's auto variant must choose
# it for sys_exit. --wsl boots SUITE's kernel once more with the stock WSL2
# kernel's LSM list (no bpf), auto variant only: the WSL-like row.
set -euo pipefail

cache= out= storm=50 hooks="auto tp tp_btf raw_tp" native=1 tmo=900 wsl= jobs=2 icount=wsl
wsl_lsm=landlock,lockdown,yama,loadpin,safesetid,integrity,selinux,apparmor,tomoyo
while [ $# -gt 0 ]; do
	case $1 in
	--cache) cache=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--storm) storm=$2; shift 2 ;;
	--hooks) hooks=$2; shift 2 ;;
	--native) native=$2; shift 2 ;;
	--wsl) wsl=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--icount) icount=$2; shift 2 ;;
	-*) echo "matrix: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ -n "$cache" ] && [ -n "$out" ] || { echo "usage: $0 --cache DIR --out DIR [...] SUITE..." >&2; exit 2; }
case $storm in '' | *[!0-9]*) echo "matrix: --storm '$storm' is not a number" >&2; exit 2 ;; esac
case $jobs in '' | *[!0-9]* | 0) echo "matrix: --jobs '$jobs' is not a positive number" >&2; exit 2 ;; esac
case $native in 0 | 1) ;; *) echo "matrix: --native is 0 or 1" >&2; exit 2 ;; esac
case $icount in wsl | all | none) ;; *) echo "matrix: --icount is wsl, all or none" >&2; exit 2 ;; esac
[ $# -gt 0 ] || [ "$native" = 1 ] || { echo "matrix: no kernel to test" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
	echo "matrix: vigild loads BPF programs; run as root (sudo make check-kernels)" >&2
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
initramfs=$out/initramfs.cpio.gz
for f in "$initramfs" "$out/vigild" "$out/vg-ktest"; do
	[ -e "$f" ] || { echo "matrix: $f missing (make check-kernels builds it)" >&2; exit 1; }
done
hooks_csv=$(echo $hooks | tr ' ' ',')
mkdir -p "$out/logs"
results=()	# "label|where|log|seconds|clock"

wsl_k= asked=" $* "
if [ -n "$wsl" ]; then
	case $asked in *" $wsl "*) ;; *) set -- "$@" "$wsl" ;; esac
fi
if [ $# -gt 0 ]; then
	t0=$(date +%s.%N)
	mapfile -t kernels < <("$here/fetch.sh" "$cache" "$@")
	for k in "${kernels[@]}"; do
		[ "${k%% *}" = "$wsl" ] && wsl_k="$k wsl"
	done
	printf 'matrix: kernels ready in %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
fi
# One VM: boot it, wait for it to power off (or the timeout), note the result in LOG's .result.
boot_vm() {
	local suite=$1 version=$2 vmlinuz=$3 where=$4 log=$5 extra=$6 cpus=$7 t0 rc=0 secs clock
	t0=$(date +%s.%N)
	# -no-reboot and panic=-1: a kernel panic ends QEMU instead of looping.
	# shellcheck disable=SC2086 # cpus holds several options
	timeout --kill-after=10 "$tmo" qemu-system-x86_64 -machine q35 -accel tcg -cpu max \
		$cpus -m 768 -display none -monitor none -no-reboot -serial "file:$log" \
		-kernel "$vmlinuz" -initrd "$initramfs" \
		-append "console=ttyS0 quiet panic=-1 $extra vgk.n=$storm vgk.expect=fentry" \
		</dev/null >"${log%.log}.qemu" 2>&1 || rc=$?
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	[ $rc -eq 0 ] || echo "matrix: $suite: qemu exited $rc$([ $rc -eq 124 ] && echo " (timeout ${tmo}s)")" >&2
	case $cpus in *icount*) clock=icount ;; *) clock=wall ;; esac
	echo "$version|$where|$log|$secs|$clock" >"${log%.log}.result"
}
vm_results=() wsl_result=
# The WSL-like row boots first: with --icount (one vCPU) it is the longest, and
# started last it would end alone; its row still prints last.
for k in ${wsl_k:+"$wsl_k"} ${kernels[@]+"${kernels[@]}"}; do
	read -r suite version vmlinuz row <<<"$k"
	# A suite fetched for the WSL-like row only has no row of its own.
	if [ -z "$row" ]; then
		case $asked in *" $suite "*) ;; *) continue ;; esac
	fi
	if [ -n "$row" ]; then
		# The WSL-like row: the LSM list of the stock WSL2 kernel, the auto variant.
		log=$out/logs/$suite-wsl.log where=wsl
		extra="lsm=$wsl_lsm vgk.hooks=auto"
	else
		log=$out/logs/$suite.log where=qemu
		extra="vgk.hooks=$hooks_csv"
	fi
	# icount runs one vCPU: QEMU hangs bringing up a second one under it.
	cpus="-smp 2"
	if [ "$icount" = all ] || { [ "$icount" = wsl ] && [ "$where" = wsl ]; }; then
		cpus="-smp 1 -icount shift=0"
	fi
	echo "matrix: booting $version ($suite, $where, $cpus) under qemu-system-x86_64 (TCG), log $log"
	rm -f "${log%.log}.result"
	boot_vm "$suite" "$version" "$vmlinuz" "$where" "$log" "$extra" "$cpus" &
	if [ "$where" = wsl ]; then wsl_result=${log%.log}.result; else vm_results+=("${log%.log}.result"); fi
	# At most --jobs VMs at once: boot and the verifier are one thread each.
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait || true
for f in ${vm_results[@]+"${vm_results[@]}"} ${wsl_result:+"$wsl_result"}; do
	if [ -s "$f" ]; then results+=("$(cat "$f")"); else echo "matrix: $f: no result" >&2; fi
done
if [ "$native" = 1 ]; then
	log=$out/logs/native.log
	echo "matrix: running natively on $(uname -r), log $log"
	t0=$(date +%s.%N)
	timeout --kill-after=10 "$tmo" "$out/vg-ktest" -n "$storm" "$out/vigild" $hooks \
		>"$log" 2>&1 </dev/null || true
	secs=$(echo "$(date +%s.%N) - $t0" | bc)
	results+=("$(uname -r)|native|$log|$secs|wall")
fi

fail=0
printf '\n%-27s %-5s %-7s %-15s %-6s %-14s %-9s %-23s %-19s %s\n' kernel run variant \
	'chosen fork,sys' tests 'events p/ex/fk/ex' 'gt f/n/s' 'ratio ppid/stat/oc/ro' \
	'insns ex/fk/ex' 'seconds'
for r in "${results[@]}"; do
	IFS='|' read -r version where log secs clock <<<"$r"
	tr -d '\r' <"$log" | awk -v kernel="$version" -v where="$where" -v secs="$secs" -v logf="$log" '
		function insns(h, ev,   k) {
			for (k in prog) if (index(k, h " vg_" ev "_") == 1) return prog[k]
			return "-"
		}
		$1 == "vgk" && $2 == "prog" { prog[$3 " " $4] = $5 }
		$1 == "vgk" && $2 == "variant" {
			h = $3; n++
			split($4, c, "="); split($5, p, "="); split($6, f, "=")
			split($7, e, "="); split($8, ms, "="); split($9, g, "="); split($10, q, "=")
			if (f[2] != 0 || p[2] == 0) bad = 1
			printf "%-27s %-5s %-7s %-15s %-6s %-14s %-9s %-23s %-19s %.1f\n", kernel, where,
				h, c[2], p[2] "/" p[2] + f[2], e[2], g[2], q[2], insns(h, "exec") "/" \
				insns(h, "fork") "/" insns(h, "exit"), ms[2] / 1000
		}
		$1 == "vgk" && $2 == "done" { done = $3 }
		END {
			if (done != "PASS" || !n || bad) {
				printf "%-27s %-5s FAILED (%s); see %s\n", kernel, where,
					done ? "checks failed" : "vg-ktest did not finish", logf
				exit 1
			}
			printf "%-27s %-5s total %.1f s (boot, load, %d hook variants)\n", kernel, where,
				secs, n
		}' || fail=1
done
# The sensor's cost per loop: with/without, the median of the interleaved
# rounds and their range (rounds 0: one measurement, before and after
# vigild), and how many times vigil's syscall programs ran per call (exact,
# counted by the kernel with vigild stopped; - where not counted).
printf '\n%-27s %-5s %-7s %-7s %-6s %-6s %-19s %-19s %-19s %-19s %s\n' kernel run variant \
	sys_exit clock rounds getppid stat open+close read-only 'runs/call ppid/stat/oc/ro'
for r in "${results[@]}"; do
	IFS='|' read -r version where log secs clock <<<"$r"
	tr -d '\r' <"$log" | awk -v kernel="$version" -v where="$where" -v clock="$clock" '
		$1 == "vgk" && $2 == "ratio" {
			q[$3 " " $4] = $8 ? sprintf("%.3f (%.3f-%.3f)", $5, $6, $7) : sprintf("%.3f", $5)
		}
		$1 == "vgk" && $2 == "runs" { counted[$3] = 1 }
		$1 == "vgk" && $2 == "variant" {
			h = $3; rounds = 0; runs = "-"; split($4, c, "="); sub(/^[^,]*,/, "", c[2])
			for (i = 11; i <= NF; i++) {
				if ($i ~ /^rounds=/) rounds = substr($i, 8)
				if ($i ~ /^runs=/ && counted[h]) runs = substr($i, 6)
			}
			printf "%-27s %-5s %-7s %-7s %-6s %-6s %-19s %-19s %-19s %-19s %s\n", kernel, where,
				h, c[2], clock, rounds, q[h " getppid"], q[h " stat"], q[h " open_close"],
				q[h " ro_open_close"], runs
		}'
done
echo
for r in "${results[@]}"; do
	IFS='|' read -r version where log secs clock <<<"$r"
	tr -d '\r' <"$log" | sed -n -e "s/^vgk probe /$version $where probe: /p" \
		-e "s/^vgk lsm /$version $where LSMs: /p" \
		-e "s/^vgk fallback \([^ ]*\) /$version --hook \1: /p"
done
if [ $fail -ne 0 ]; then
	echo "matrix: FAILED; failing checks:" >&2
	grep -h '^vgk fail' "$out"/logs/*.log >&2 || true
	exit 1
fi
echo "matrix: all kernels passed"
