#!/bin/bash
# `make check`: install what is needed, build the module for every supported kernel without
# warnings, lint it, run the host tests, the KUnit suites in plain QEMU and in a Xen dom0 on
# x86_64 (PV) and arm64 (auto-translated), and the demo (NVMe + NIC traffic through uswiotlb) on
# Debian's stock 6.12 and 6.1 kernels as PV dom0.
#
#   scripts/check.sh [arm64]     arm64: only the arm64 build and KUnit runs (make check-arm64)
#
# Ends with one "N passed, N failed, N skipped" line over all test cases; exits non-zero on any
# failure.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
stock=(6.12.117+deb12-amd64 6.1.0-56-amd64)
kunit_pool=8M
passed=0 failed=0 skipped=0
case ${1-all} in
all) x86=1 ;;
arm64) x86=0 ;;
*) echo "usage: $0 [arm64]" >&2; exit 2 ;;
esac

step() { printf '\n==== %s\n' "$*"; }
count() {	# add up the "N passed, N failed[, N skipped]" line in file $1
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 || true)
	[ -n "$line" ] || { failed=$((failed + 1)); return; }
	passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
	failed=$((failed + $(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')))
	if [[ $line =~ ([0-9]+)\ skipped ]]; then
		skipped=$((skipped + BASH_REMATCH[1]))
	fi
}
# run_counted LOG CMD...: run a QEMU runner, add up its final line. A crash, WARN or timeout
# fails the run even when every case it saw passed.
run_counted() {
	local log=$1 rc before
	shift
	set +e
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	before=$failed
	count "$log"
	[ "$rc" -eq 0 ] || [ "$failed" -gt "$before" ] || failed=$((failed + 1))
}
start=$(date +%s)
mkdir -p .results

step "dependencies"
scripts/deps.sh

step "test kernels (cached by content)"
[ "$x86" = 0 ] || kdir=$(scripts/build-kernel.sh x86_64)
kdir_arm64=$(scripts/build-kernel.sh arm64)
echo "${kdir:-} $kdir_arm64"

step "module builds, W=1, no warnings"
if [ "$x86" = 1 ]; then
	for k in "${stock[@]}"; do
		scripts/build-module.sh "/usr/src/linux-headers-$k" "$cache/modbuild/$k"
	done
	scripts/build-module.sh "$kdir"
fi
arm64_build=$cache/modbuild/arm64
scripts/build-module.sh "$kdir_arm64" "$arm64_build"

step "checkpatch --strict"
ksrc=$(scripts/kernel-source.sh)
files=$(ls src/*.c src/*.h kunit/*.c bench/*.c | grep -v '\.mod\.c$')
"$ksrc/scripts/checkpatch.pl" --strict --no-tree --quiet -f $files
echo "checkpatch: clean"

if [ "$x86" = 1 ]; then
	log=.results/check-host.log
	step "host tests (tools/)"
	set +e
	make -C tools check 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	# GoogleTest's own totals, one line per binary.
	host_pass=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\.$/\1/p' "$log" | paste -sd+ |
		sed 's/^$/0/' | bc)
	host_fail=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:$/\1/p' "$log" |
		paste -sd+ | sed 's/^$/0/' | bc)
	passed=$((passed + host_pass))
	failed=$((failed + host_fail))
	[ "$rc" -eq 0 ] || [ "$host_fail" -gt 0 ] || failed=$((failed + 1))

	step "pool fuzzer, 15 s"
	if make -C tools fuzz-smoke FUZZ_SECONDS=15 >.results/check-fuzz.log 2>&1; then
		grep -E '^Done [0-9]+ runs' .results/check-fuzz.log || true
		passed=$((passed + 1))
	else
		tail -40 .results/check-fuzz.log
		failed=$((failed + 1))
	fi

	# Plain QEMU gets an IOMMU and a driver-less PCI device behind it, for the attach refusal.
	iommu="-M q35 -device intel-iommu -device pci-testdev"
	for mode in qemu xen; do
		step "KUnit x86_64 in $mode"
		run_counted ".results/check-kunit-$mode.log" \
			scripts/run-kunit.sh --mode "$mode" --mem 6G --kdir "$kdir" \
			--name "kunit-$mode" --timeout 600 \
			--qemu-args "$([ "$mode" = xen ] || echo "$iommu")" \
			-- src/uswiotlb.ko pool_size=$kunit_pool -- kunit/uswiotlb_kunit.ko
	done
fi

for mode in qemu xen; do
	step "KUnit arm64 in $mode"
	run_counted ".results/check-kunit-arm64-$mode.log" \
		scripts/run-kunit.sh --arch arm64 --mode "$mode" --mem 6G --kdir "$kdir_arm64" \
		--name "kunit-arm64-$mode" --timeout 600 -- "$arm64_build/src/uswiotlb.ko" \
		pool_size=$kunit_pool -- "$arm64_build/kunit/uswiotlb_kunit.ko"
done

if [ "$x86" = 1 ]; then
	make -s -C tools workload >/dev/null
	for k in "${stock[@]}"; do
		step "demo on stock $k (Xen PV dom0, NVMe + 2 e1000)"
		run_counted ".results/check-demo-$k.log" scripts/run-demo.sh --krel "$k" \
			--module "$cache/modbuild/$k/src/uswiotlb.ko" --tools tools/build/workload
	done
fi

if [ "$x86" = 1 ]; then
	# The benchmark must not rot: one short repetition of every scenario. Each scenario's
	# measurements all present counts as a pass; the ratios are for `make bench`.
	step "bench smoke (dma_map_benchmark, 4 scenarios; host pool benchmark)"
	for smoke in "scripts/run-bench.sh --smoke" "make -s -C tools bench-smoke"; do
		# shellcheck disable=SC2086 # the command and its arguments
		if $smoke 2>&1 | tee -a .results/check-bench.log; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
fi

step "summary"
echo "make check took $(($(date +%s) - start)) s"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
