#!/bin/bash
# `make demo`: boot Xen 4.17 under QEMU with the test kernel as PV dom0, load uswiotlb there and
# run its KUnit suites against the real hypervisor (p2m translation, machine-contiguous pool).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
kdir=$(scripts/build-kernel.sh x86_64)
scripts/build-module.sh "$kdir"
exec scripts/run-kunit.sh --mode xen --mem 6G --kdir "$kdir" --name demo --timeout 600 \
	-- src/uswiotlb.ko pool_size=8M -- kunit/uswiotlb_kunit.ko
