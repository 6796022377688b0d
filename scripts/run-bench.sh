#!/bin/bash
# `make bench`: the kernel's own dma_map_benchmark, uswiotlb against the kernel's DMA ops in the
# same boot, under QEMU (TCG) with the test kernel:
#   1 direct   bare metal, force=0: uswiotlb's fast path vs dma-direct
#   2 swiotlb  bare metal booted with swiotlb=force, uswiotlb force=1: our pool vs swiotlb
#   3 xen0     Xen PV dom0, force=0: uswiotlb vs xen-swiotlb
#   4 xen1     Xen PV dom0 booted with swiotlb=force, uswiotlb force=1: vs xen-swiotlb
#
#   scripts/run-bench.sh [--smoke] [--reps N] [--scenarios "direct swiotlb xen0 xen1"] [--mttcg]
#
# --smoke: one repetition, granules 1 and 16, one thread, TO_DEVICE (for make check).
# --mttcg: one host thread per vCPU (results in .results/bench-mttcg). With the default single
# TCG thread the two vCPUs take turns, so 2-thread runs interleave rather than contend.
# Each repetition also runs bench/usw_bench.ko: memcpy() of every granule, the limit a bounce
# can reach, and map/unmap pairs timed as a loop on both devices, which resolves the fast path
# that dma_map_benchmark's 100 ns rounding cannot. The pool's set-up time is recorded too.
# Writes RESULTS (.results/bench/): bench.csv (every run), summary.csv (medians and ratios),
# latency.png, and prints the table. Exits non-zero if a boot fails or a measurement is missing;
# the ratios themselves are reported, not judged.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/boot.sh
. "$here/lib/boot.sh"
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}

granules="1 4 16 64" threads="1 2" dirs="1 0" reps=3 seconds=1 extra_ms=500
scenarios="direct swiotlb xen0 xen1"
out=$PWD/.results/bench
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) granules="1 16" threads=1 dirs=1 reps=1 extra_ms=200; out=$PWD/.results/bench-smoke; shift ;;
	--reps) reps=${2-}; shift 2 ;;
	--scenarios) scenarios=${2-}; shift 2 ;;
	--mttcg) boot_tcg=multi; out=$PWD/.results/bench-mttcg; shift ;;
	*) sed -n '/^#   scripts/,/^# --smoke/p' "$0" >&2; exit 2 ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "run-bench: --reps wants a number" >&2; exit 2; }

kdir=$("$here/build-kernel.sh" x86_64)
build=$cache/modbuild/bench-x86_64
"$here/build-module.sh" "$kdir" "$build" >/dev/null
ksrc=$("$here/kernel-source.sh")

rm -rf "$out"
mkdir -p "$out/inc/linux"
out=$(cd "$out" && pwd)
# The selftest's client, built from the kernel tree; its header is kernel-internal.
cp "$ksrc/include/linux/map_benchmark.h" "$out/inc/linux/"
gcc -static -O2 -Wall -I"$out/inc" -o "$out/dma_map_benchmark" \
	"$ksrc/tools/testing/selftests/dma/dma_map_benchmark.c"

ngran=$(wc -w <<<"$granules")
fail=0
for scen in $scenarios; do
	case $scen in
	direct) mode=qemu force=0 extra="" ;;
	swiotlb) mode=qemu force=1 extra="swiotlb=force" ;;
	xen0) mode=xen force=0 extra="" ;;
	xen1) mode=xen force=1 extra="swiotlb=force" ;;
	*) echo "run-bench: unknown scenario '$scen'" >&2; exit 2 ;;
	esac
	dir=$out/$scen
	mkdir -p "$dir"
	# Kernel's, uswiotlb's, and on bare metal a third with do-nothing ops (usw_bench.ko floor=;
	# in a PV dom0 every device already goes through the xen-swiotlb ops).
	testdevs=(-device pci-testdev -device pci-testdev)
	[ "$mode" = xen ] || testdevs+=(-device pci-testdev)
	impls=$((${#testdevs[@]} / 2))
	"$here/mkinitramfs.sh" -o "$dir/initramfs.cpio" -i "$here/init/bench" \
		-f "$build/src/uswiotlb.ko:/usw/uswiotlb.ko" \
		-f "$build/bench/usw_bench.ko:/usw/usw_bench.ko" \
		-f "$out/dma_map_benchmark:/usw/dma_map_benchmark"
	# The test kernel has DMA_API_DEBUG, whose bookkeeping costs more than either
	# implementation's map under TCG and would flatten every ratio towards 1.
	kargs="$boot_kargs dma_debug=off $extra BENCH_FORCE=$force BENCH_REPS=$reps BENCH_SECONDS=$seconds"
	kargs+=" BENCH_GRANULES=${granules// /,} BENCH_THREADS=${threads// /,}"
	kargs+=" BENCH_DIRS=${dirs// /,} BENCH_EXTRA_MS=$extra_ms"
	: >"$dir/console.log"
	: >"$dir/channel.log"
	boot_qemu_cmd "$mode" "$kdir/arch/x86/boot/bzImage" "$dir/initramfs.cpio" "$kargs" 2G "" \
		"$dir/console.log" "$dir/channel.log" "${testdevs[@]}"
	n=$((ngran * $(wc -w <<<"$threads") * $(wc -w <<<"$dirs") * reps * 2))
	echo "run-bench: $scen: $n measurements of ${seconds}s ($mode, force=$force${extra:+, $extra})"
	nextra=$((ngran * reps * (1 + 2 * impls)))	# copy, loops x 2 dirs
	limit=$((120 + n * (seconds + 4) + nextra * (extra_ms + 1000) / 1000))
	boot_run $limit "$dir/console.log" "$dir/channel.log" 0 "$dir/qemu.out"
	boot_clean "$dir/channel.log" | sed -n '/^@@KTEST begin/,/^@@KTEST end/p' >"$dir/stream.log"
	problems=$(grep '^@@KTEST error' "$dir/stream.log" || true)
	trouble=$(boot_trouble "$mode" "$dir/console.log")
	got=$(grep -c '^@@KTEST bench .*unmap_us=' "$dir/stream.log" || true)
	gotextra=$(grep -c '^@@KTEST \(copy .*copy_ns\|loop .*pair_ns\)=' "$dir/stream.log" || true)
	if [ "$boot_state" != finished ] || [ -n "$problems$trouble" ] || [ "$got" != "$n" ] ||
		[ "$gotextra" != "$nextra" ]; then
		echo "run-bench: $scen FAILED: state=$boot_state, $got of $n results, $gotextra of $nextra usw_bench results${problems:+, $problems}${trouble:+, $trouble}" >&2
		tr -d '\r' <"$dir/console.log" | tail -n 30 | sed 's/^/  | /' >&2
		fail=1
	fi
	sed -n "s/^@@KTEST \(bench\|copy\|loop\|pool\|grow\) /scenario=$scen kind=\1 /p" "$dir/stream.log" \
		>>"$out/raw.txt"
	# The maps really went through uswiotlb, the way the scenario says, and none failed.
	ctrs=$(sed -n 's/^@@KTEST counters //p' "$dir/stream.log")
	echo "run-bench: $scen: uswiotlb counters ${ctrs:-missing}"
	moved=$(sed -n "s/.*\b$([ "$force" = 1 ] && echo force || echo direct)=\([0-9]*\).*/\1/p" <<<"$ctrs")
	errs=$(sed -n 's/.*\berrors=\([0-9]*\).*/\1/p' <<<"$ctrs")
	if [ "${moved:-0}" -eq 0 ] || [ "${errs:-1}" -ne 0 ]; then
		echo "run-bench: $scen FAILED: uswiotlb's counters show no $([ "$force" = 1 ] &&
			echo forced || echo direct) maps, or map errors (${ctrs:-none reported})" >&2
		fail=1
	fi
done

python3 "$here/bench-report.py" "$out" || fail=1
exit $fail
