#!/bin/bash
# `make check`: install what is needed, build the module for every supported kernel without
# warnings, lint it, run the host tests, the KUnit suites in plain QEMU and in a Xen dom0 on
# x86_64 (PV, and PVH: auto-translated) and arm64 (auto-translated), each with a real driver
# probed on uswiotlb (NVMe, virtio-blk), and in a PVH domU on x86_64, the same on the debug kernel (KASAN, lockdep, kmemleak,
# UBSAN, DMA-API debug), and the demo (NVMe + NIC traffic through uswiotlb) on Debian's stock
# 6.12 and 6.1 kernels as PV dom0, a short one on 6.12 and on the test kernel as PVH dom0, the
# guests demo (PV domUs' disk and network through blkback and netback) on both, and the demo on
# the stock arm64 6.12 as Xen dom0, coherent and non-coherent, with an arm64 domU; the Debian
# packages (make deb) installed here, and the DKMS-built module loaded by modprobe in a dom0.
#
#   scripts/check.sh [arm64|debug]   arm64: only the arm64 build and KUnit runs (make check-arm64)
#                                    debug: only the debug kernels' runs (make check-debug), with
#                                    a longer stress: USW_STRESS_MS (default 120000)
#
# Ends with one "N passed, N failed, N skipped" line over all test cases; exits non-zero on any
# failure.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
# Debian's current stock kernels, through their metapackages (scripts/kernels.sh).
stock=("$(scripts/kernels.sh 6.12)" "$(scripts/kernels.sh 6.1)")
stock_arm64=$(scripts/kernels.sh 6.12-arm64)
kernels_used=$(for s in 6.12 6.1 6.12-arm64; do scripts/kernels.sh --describe "$s"; done)
kunit_pool=8M
passed=0 failed=0 skipped=0
stress_ms=10000 # the debug kernels' usw_test_stress; the plain ones run its default (2 s)
case ${1-all} in
all) x86=1 arm64=1 debug=1 ;;
arm64) x86=0 arm64=1 debug=0 ;;
debug) x86=0 arm64=0 debug=1 stress_ms=${USW_STRESS_MS:-120000} ;;
*) echo "usage: $0 [arm64|debug]" >&2; exit 2 ;;
esac

step() { printf '\n==== %s\n' "$*"; this_step=$*; }
# The summary names every step that failed with its log's failure lines: CI keeps only the end
# of the output.
failures=()
failed_in() {	# failed_in LOG: record the current step as failed
	failures+=("$this_step ($1)")
	while IFS= read -r l; do failures+=("    $l"); done < <(grep -aE \
		'FAIL|^ *not ok |^\[  FAILED  \]|[0-9]+ failed' "$1" 2>/dev/null |
		grep -vE ' 0 failed|: ok ' |
		tail -n 12 || true)
}
count() {	# add up the "N passed, N failed[, N skipped]" line in file $1
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 || true)
	[ -n "$line" ] || { failed=$((failed + 1)); failed_in "$1"; return; }
	passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
	failed=$((failed + $(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')))
	if [[ $line =~ ([0-9]+)\ skipped ]]; then
		skipped=$((skipped + BASH_REMATCH[1]))
	fi
}
# run_counted LOG CMD...: run a QEMU runner, add up its final line. A crash, WARN or timeout
# fails the run even when every case it saw passed. $ok_rc: a second exit status that is no
# failure.
run_counted() {
	local log=$1 rc before
	shift
	set +e
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	before=$failed
	count "$log"
	[ "$rc" -eq 0 ] || [ "$rc" -eq "${ok_rc:-0}" ] || [ "$failed" -gt "$before" ] ||
		failed=$((failed + 1))
	[ "$failed" -eq "$before" ] || failed_in "$log"
}
start=$(date +%s)
mkdir -p .results

step "dependencies"
scripts/deps.sh
echo "Debian's stock kernels this run uses:"
echo "$kernels_used"

step "test kernels (cached by content)"
if [ "$x86" = 1 ]; then
	kdir=$(scripts/build-kernel.sh x86_64)
	# The same configuration on Debian's 6.1: the compat branches run, not only compile.
	kdir_61=$(scripts/build-kernel.sh x86_64@6.1)
fi
[ "$arm64" = 0 ] || kdir_arm64=$(scripts/build-kernel.sh arm64)
if [ "$debug" = 1 ]; then
	kdir_debug=$(scripts/build-kernel.sh x86_64-debug)
	# 6.12 cannot run KASAN in a Xen PV domain (config/nokasan.config): the dom0 runs get
	# every other checker.
	kdir_debug_pv=$(scripts/build-kernel.sh x86_64-debug-nokasan)
	kdir_debug_arm64=$(scripts/build-kernel.sh arm64-debug)
fi
echo "${kdir:-} ${kdir_61:-} ${kdir_arm64:-} ${kdir_debug:-} ${kdir_debug_pv:-} ${kdir_debug_arm64:-}"

step "module builds, W=1, no warnings"
if [ "$x86" = 1 ]; then
	for k in "${stock[@]}"; do
		scripts/build-module.sh "/usr/src/linux-headers-$k" "$cache/modbuild/$k"
	done
	scripts/build-module.sh "$kdir"
	scripts/build-module.sh "$kdir_61" "$cache/modbuild/x86_64@6.1"
fi
arm64_build=$cache/modbuild/arm64
if [ "$arm64" = 1 ]; then
	scripts/build-module.sh "$kdir_arm64" "$arm64_build"
	# Debian's stock arm64 6.12, cross-built against its headers (unpacked, not installed).
	scripts/build-module.sh "$(scripts/stock-kernel.sh --headers 6.12-arm64)" \
		"$cache/modbuild/$stock_arm64"
fi
debug_build=$cache/modbuild/x86_64-debug
debug_pv_build=$cache/modbuild/x86_64-debug-nokasan
debug_arm64_build=$cache/modbuild/arm64-debug
if [ "$debug" = 1 ]; then
	scripts/build-module.sh "$kdir_debug" "$debug_build"
	scripts/build-module.sh "$kdir_debug_pv" "$debug_pv_build"
	scripts/build-module.sh "$kdir_debug_arm64" "$debug_arm64_build"
fi
if [ "$x86" = 1 ]; then
	# Debian's oldest and newest 6.1.0-N and 6.12.x amd64 headers on offer (make build-matrix).
	step "module builds against the oldest and newest 6.1 and 6.12 headers apt offers, W=1"
	run_counted .results/check-build-matrix.log scripts/build-matrix.sh
fi

step "checkpatch --strict"
ksrc=$(scripts/kernel-source.sh)
files=$(ls src/*.c src/*.h kunit/*.c kunit/*.h bench/*.c | grep -v '\.mod\.c$' | grep -vx src/trace.h)
"$ksrc/scripts/checkpatch.pl" --strict --no-tree --quiet -f $files
# The trace header is laid out as the kernel's own (TP_PROTO under TRACE_EVENT, a line per
# TP_STRUCT__entry field), which these two checks do not know.
"$ksrc/scripts/checkpatch.pl" --strict --no-tree --quiet --ignore PARENTHESIS_ALIGNMENT,OPEN_ENDED_LINE \
	-f src/trace.h
echo "checkpatch: clean"
if [ "$x86" = 1 ]; then
	# Every file of src/, kunit/ and bench/ through sparse (C=2), in a copy: any warning or error
	# of its fails.
	step "sparse (C=2) against the x86_64 test kernel"
	sparse_build=$cache/modbuild/sparse
	rm -rf "$sparse_build"
	mkdir -p "$sparse_build"
	cp -r Kbuild src kunit bench "$sparse_build/"
	log=.results/check-sparse.log
	make -C "$kdir" M="$sparse_build" C=2 modules >"$log" 2>&1 || { cat "$log"; exit 1; }
	if grep -E '(^|[^a-zA-Z])(warning|error):' "$log" || ! grep -q ' CHECK ' "$log"; then
		echo "sparse: warnings, or nothing checked (log: $log)" >&2
		exit 1
	fi
	echo "sparse: clean, $(grep -c ' CHECK ' "$log") files"
fi
if [ "$x86" = 1 ]; then
	# make deb, then the packages installed on this machine: DKMS builds the module for both
	# kernels, modprobe.d and the initramfs hook do what README.rst says, the purge removes it
	# all. What DKMS installed is kept for the DKMS boot run below.
	step "Debian packages: make deb, install (DKMS, 6.12 and 6.1), modprobe.d, initramfs, purge"
	run_counted .results/check-deb.log scripts/deb-test.sh --keep "$top/.results/dkms-installed"
fi
step "make mutants' list still applies to src/"
scripts/mutants.sh --check
step "the soak's and demo's parsers on recorded consoles (scripts/selftest.sh)"
run_counted .results/check-selftest.log scripts/selftest.sh

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
	[ "$rc" -eq 0 ] && [ "$host_fail" -eq 0 ] || failed_in "$log"

	step "pool fuzzer, 15 s"
	if make -C tools fuzz-smoke FUZZ_SECONDS=15 >.results/check-fuzz.log 2>&1; then
		grep -E '^Done [0-9]+ runs' .results/check-fuzz.log || true
		passed=$((passed + 1))
	else
		tail -40 .results/check-fuzz.log
		failed=$((failed + 1))
		failed_in .results/check-fuzz.log
	fi
fi

# Plain QEMU gets an IOMMU and a driver-less PCI device behind it, for the attach refusal. The
# Xen dom0 (Xen hides the IOMMU), PV or PVH, gets the PCI device for a real probe on uswiotlb,
# and an NVMe disk (--probe) whose driver is re-probed on uswiotlb.
iommu="-M q35 -device intel-iommu -device pci-testdev"
kunit_x86() { # MODE KDIR BUILD LABEL KUNIT-ARGS [run-kunit.sh options...]; MODE qemu|xen|pvh
	local mode=$1 k=$2 b=$3 label=$4 kargs=$5 how=(--mode "$1") uargs=(pool_size=$kunit_pool)
	shift 5
	step "KUnit x86_64 in $mode ($label)"
	# Defaults first: a --qemu-args of the caller's comes later and wins.
	if [ "$mode" = qemu ]; then
		set -- --qemu-args "$iommu" "$@"
	else
		set -- --probe --qemu-args "-device pci-testdev" "$@"
	fi
	# The PV dom0 runs every suite on 2 MiB segments, each one machine-contiguous from Xen:
	# the largest mapping is 2 MiB there.
	if [ "$mode" = xen ]; then
		uargs+=(segment_size=2M)
		set -- --expect "uswiotlb: .* in 4 segments of 2048 KiB .*Xen PV translation" "$@"
	fi
	[ "$mode" != pvh ] || how=(--mode xen --dom0 pvh)
	# shellcheck disable=SC2086 # KUNIT-ARGS: words, none when empty
	run_counted ".results/check-$label-$mode.log" \
		scripts/run-kunit.sh "${how[@]}" --mem 6G --kdir "$k" --name "$label-$mode" \
		--skips "$label-$mode" "$@" \
		-- "$b/src/uswiotlb.ko" "${uargs[@]}" -- "$b/kunit/uswiotlb_kunit.ko" $kargs
}
if [ "$x86" = 1 ]; then
	for mode in qemu xen pvh; do
		kunit_x86 "$mode" "$kdir" "$top" kunit "" --timeout 600
	done
	for mode in qemu xen pvh; do
		kunit_x86 "$mode" "$kdir_61" "$cache/modbuild/x86_64@6.1" kunit-61 "" --timeout 600
	done
	# In a PVH domU that a PV dom0 (Debian's stock 6.12, with Xen's toolstack) starts: the
	# module must take the auto-translated mode there too. ~1 min each.
	for spec in "kunit $kdir $top" "kunit-61 $kdir_61 $cache/modbuild/x86_64@6.1"; do
		read -r label k b <<<"$spec"
		step "KUnit x86_64 in a PVH domU ($label)"
		run_counted ".results/check-$label-domu-pvh.log" \
			scripts/run-kunit.sh --mode xen --domu pvh --kdir "$k" --name "$label-domu-pvh" \
			--skips "$label-domu-pvh" --timeout 900 \
			--expect "uswiotlb: .* Xen auto-translated, no cache flush hypercall" \
			-- "$b/src/uswiotlb.ko" pool_size=$kunit_pool -- "$b/kunit/uswiotlb_kunit.ko"
	done
fi

if [ "$arm64" = 1 ]; then
	for mode in qemu xen; do
		step "KUnit arm64 in $mode"
		run_counted ".results/check-kunit-arm64-$mode.log" \
			scripts/run-kunit.sh --arch arm64 --mode "$mode" --mem 6G \
			--kdir "$kdir_arm64" --name "kunit-arm64-$mode" --skips "kunit-arm64-$mode" \
			--timeout 600 --probe \
			-- "$arm64_build/src/uswiotlb.ko" pool_size=$kunit_pool \
			-- "$arm64_build/kunit/uswiotlb_kunit.ko"
	done
fi

if [ "$arm64" = 1 ]; then
	# make demo-arm64: Debian's stock arm64 6.12 as Xen dom0 (QEMU 10 for the NVMe's dbcs=off),
	# coherent, then non-coherent (~2 min each), then an arm64 domU's disk and network through
	# blkback and netback on the non-coherent board (~3.5 min).
	make -s -C tools workload-arm64 >/dev/null
	for how in coherent noncoherent guests; do
		step "demo on stock 6.12 arm64 (Xen dom0, NVMe + virtio-blk + 2 e1000, $how)"
		opt=()
		case $how in
		noncoherent) opt=(--noncoherent) ;;
		guests) opt=(--guests --noncoherent --run-secs 10) ;;
		esac
		run_counted ".results/check-demo-arm64-$how.log" scripts/run-demo.sh "${opt[@]}" \
			--krel "$stock_arm64" --tools tools/build/workload-arm64 \
			--module "$cache/modbuild/$stock_arm64/src/uswiotlb.ko"
	done
fi

if [ "$debug" = 1 ]; then
	# The checkers must really be on: their boot lines are required on the console, and any
	# report of theirs fails the run (boot_trouble, panic_on_warn).
	# Every checker on under TCG is slow: a CPU busy for 20 s in boot is not a lockup.
	checkers=(--append watchdog_thresh=60 --kmemleak
		--expect "kmemleak: Kernel memory leak detector initialized"
		--expect "Lock dependency validator" --expect "DMA-API: preallocated")
	for k in "$kdir_debug" "$kdir_debug_pv" "$kdir_debug_arm64"; do
		# shellcheck disable=SC2046 # one line of options
		echo "$(basename "$k"):" $(grep -E '^CONFIG_(KASAN|PROVE_LOCKING|DEBUG_ATOMIC_SLEEP|DEBUG_KMEMLEAK|DEBUG_OBJECTS|UBSAN|DMA_API_DEBUG|FAILSLAB|FAIL_PAGE_ALLOC)=' "$k/.config")
	done
	# KASAN runs only here (plain QEMU), so the fault scenario runs here too, with the NVMe
	# disk and pci-testdev outside an IOMMU (the IOMMU refusal is the plain kernel's run).
	kunit_x86 qemu "$kdir_debug" "$debug_build" kunit-debug "stress_ms=$stress_ms" \
		--timeout 2400 "${checkers[@]}" --expect "KernelAddressSanitizer initialized" \
		--faults --qemu-args "-M q35 -device pci-testdev"
	# The dom0 run also injects failures before the modules load (scripts/init/faults).
	kunit_x86 xen "$kdir_debug_pv" "$debug_pv_build" kunit-debug "stress_ms=$stress_ms" \
		--timeout 2400 "${checkers[@]}" --faults
	# arm64 under Xen keeps KASAN (an auto-translated dom0 runs it).
	step "KUnit arm64 in xen (kunit-debug)"
	run_counted .results/check-kunit-debug-arm64-xen.log \
		scripts/run-kunit.sh --arch arm64 --mode xen --mem 6G --kdir "$kdir_debug_arm64" \
		--name kunit-debug-arm64-xen --skips kunit-debug-arm64-xen --timeout 1800 --probe \
		"${checkers[@]}" \
		--expect "KernelAddressSanitizer initialized" \
		-- "$debug_arm64_build/src/uswiotlb.ko" pool_size=$kunit_pool \
		-- "$debug_arm64_build/kunit/uswiotlb_kunit.ko" "stress_ms=$stress_ms"
fi

if [ "$x86" = 1 ]; then
	make -s -C tools workload >/dev/null
	for k in "${stock[@]}"; do
		step "demo on stock $k (Xen PV dom0, NVMe + 2 e1000)"
		run_counted ".results/check-demo-$k.log" scripts/run-demo.sh --krel "$k" \
			--module "$cache/modbuild/$k/src/uswiotlb.ko" --tools tools/build/workload
	done
	# The DKMS run: the module as the package installed it, loaded by kmod's modprobe through
	# the softdep in the shipped modprobe.d file, nothing loaded by hand (~15 s each).
	for k in "${stock[@]}"; do
		step "DKMS run on stock $k (modules from the DKMS tree, loaded by modprobe)"
		run_counted ".results/check-dkms-$k.log" scripts/run-demo.sh --krel "$k" \
			--dkms "$top/.results/dkms-installed" --tools tools/build/workload
	done
	# The same in a PVH dom0 (make demo-pvh), with less data per workload run: ~100 s.
	k=${stock[0]}
	step "demo on stock $k (Xen PVH dom0, NVMe + 2 e1000), 16M + 500 frames per run"
	run_counted ".results/check-demo-pvh-$k.log" scripts/run-demo.sh --pvh --krel "$k" \
		--module "$cache/modbuild/$k/src/uswiotlb.ko" --tools tools/build/workload \
		--blk-bytes 16M --net-frames 500
	step "demo on the test kernel (Xen PVH dom0, drivers built in), 16M + 500 frames per run"
	run_counted .results/check-demo-pvh-test.log scripts/run-demo.sh --pvh --kdir "$kdir" \
		--module "$top/src/uswiotlb.ko" --tools tools/build/workload \
		--blk-bytes 16M --net-frames 500
	# The guests demo (make demo-guests): PV domUs' disk and network through blkback and
	# netback, 10 s per measured domU run: ~4 min per kernel.
	for k in "${stock[@]}"; do
		step "guests demo on stock $k (PV domUs on blkback and netback, 10 s runs)"
		run_counted ".results/check-guests-$k.log" scripts/run-demo.sh --guests --run-secs 10 \
			--krel "$k" --module "$cache/modbuild/$k/src/uswiotlb.ko" --tools tools/build/workload
	done
fi

if [ "$x86" = 1 ]; then
	# The soak's short slice: one run of each arm (make soak runs many). A run that lost an
	# NVMe command (soak.sh exit 3) is the emulator's, reported and not failed (README.rst,
	# "Known limits of the test environment"); anything else wrong fails.
	for spec in "6.12 flip kernel" "6.1 flip"; do
		read -r kv arms <<<"$spec"
		step "soak, one run per arm: $arms (stock $kv)"
		# shellcheck disable=SC2086 # the arm list
		SOAK_KVER=$kv SOAK_RUNS=1 SOAK_SECS=20 SOAK_OUT=.results/check-soak-$kv ok_rc=3 \
			run_counted ".results/check-soak-$kv.log" scripts/soak.sh $arms
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
			failed_in .results/check-bench.log
		fi
	done
fi

step "summary"
echo "make check took $(($(date +%s) - start)) s"
echo "stock kernels: $(echo "$kernels_used" | paste -sd ';' | sed 's/;/; /g')"
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
