#!/bin/bash
# `make demo` / `make demo-all` / `make demo-pvh`: uswiotlb carrying an NVMe disk and two NICs in
# a Xen PV (or PVH) dom0 running Debian's stock kernel, under QEMU; see scripts/run-demo.sh and
# scripts/init/demo.
#
#   scripts/demo.sh [--guests|--pvh] [6.12|6.1|6.12-arm64|test]...     (default 6.12)
#   scripts/demo.sh --dkms [6.12|6.1]...
#
# test: the x86_64 test kernel (scripts/build-kernel.sh, cached), nvme and e1000 built in.
# 6.12-arm64: Debian's stock arm64 6.12 as the dom0 of Xen 4.17 arm64 (make demo-arm64): the
# demo with the board's coherent devices, again with a device tree that makes them non-coherent
# (run-demo.sh --noncoherent), and the guests demo (an arm64 domU) on the non-coherent board.
# The module is cross-built against the stock headers (scripts/stock-kernel.sh --headers), the
# workload tools with aarch64-linux-gnu-g++.
# --guests: the guests demo (make demo-guests): PV domUs' disk and network I/O through blkback
# and netback on uswiotlb.
# --pvh: the demo in a PVH dom0 (make demo-pvh): auto-translated, no p2m.
# --dkms: the DKMS run (make demo-dkms): make deb, the packages installed on this machine and
# checked (scripts/deb-test.sh, which purges them again), then each stock kernel boots with the
# module DKMS built, loaded by modprobe through the softdep; no insmod.
#
# Installs what it needs, fetches the stock kernel image, builds uswiotlb.ko against that
# kernel's headers and the workload tools, boots, and prints the report. Exits non-zero if any
# check failed on any kernel.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
how=()
case ${1-} in --guests | --pvh | --dkms) how=("$1"); shift ;; esac
[ $# -gt 0 ] || set -- 6.12

scripts/deps.sh
make -s -C tools workload >/dev/null
if [ "${how[*]}" = --dkms ]; then
	installed=$top/.results/dkms-installed
	scripts/deb-test.sh --keep "$installed" || exit 1
	rc=0
	for kver in "$@"; do
		case $kver in
		6.12 | 6.1) krel=$(scripts/kernels.sh "$kver") ;;
		*) echo "demo: --dkms runs on 6.12 or 6.1, not '$kver'" >&2; exit 2 ;;
		esac
		scripts/run-demo.sh --krel "$krel" --dkms "$installed" --tools tools/build/workload ||
			rc=1
	done
	exit $rc
fi
rc=0
for kver in "$@"; do
	headers="" tools=tools/build/workload kernel=()
	case $kver in
	6.12 | 6.1) krel=$(scripts/kernels.sh "$kver") ;;
	6.12-arm64)
		krel=$(scripts/kernels.sh 6.12-arm64) tools=tools/build/workload-arm64
		headers=$(scripts/stock-kernel.sh --headers 6.12-arm64)
		make -s -C tools workload-arm64 >/dev/null ;;
	test)
		headers=$(scripts/build-kernel.sh) krel=test-x86_64 kernel=(--kdir "$headers") ;;
	*) echo "demo: unknown kernel '$kver' (6.12, 6.1, 6.12-arm64 or test)" >&2; exit 2 ;;
	esac
	[ ${#kernel[@]} -gt 0 ] || kernel=(--krel "$krel")
	build=$cache/modbuild/$krel
	scripts/build-module.sh "${headers:-/usr/src/linux-headers-$krel}" "$build"
	scripts/run-demo.sh "${how[@]}" "${kernel[@]}" --module "$build/src/uswiotlb.ko" \
		--tools "$tools" || rc=1
	if [ "$kver" != 6.12-arm64 ] || [ ${#how[@]} -gt 0 ]; then
		continue
	fi
	# arm64 once more with non-coherent devices, where uswiotlb maintains the caches; then an
	# arm64 domU's disk and network through blkback and netback on them: its pages are foreign
	# in dom0, and Xen maintains their caches (GNTTABOP_cache_flush).
	scripts/run-demo.sh --noncoherent --krel "$krel" --module "$build/src/uswiotlb.ko" \
		--tools "$tools" || rc=1
	scripts/run-demo.sh --guests --noncoherent --run-secs 10 --krel "$krel" \
		--module "$build/src/uswiotlb.ko" --tools "$tools" || rc=1
done
exit $rc
