# SPDX-License-Identifier: GPL-2.0
#
#   make [KDIR=/path/to/kernel/build]   build uswiotlb.ko (and the KUnit module if KUnit is on)
#   make check                          everything CI runs, from a fresh Debian 12 machine
#   make check-arm64                    only the arm64 build and KUnit runs
#   make check-debug                    only the debug kernel's runs (KASAN, lockdep, kmemleak...)
#   make build-matrix                   W=1 builds against the oldest and newest 6.1.0-N and 6.12.x
#                                       amd64 headers apt offers (unpacked, not installed)
#   make demo [KVER=6.12|6.1]           uswiotlb carrying NVMe + NIC DMA in a Xen PV dom0
#   make demo-all                       the demo on both stock kernels
#   make demo-pvh                       the demo in a Xen PVH dom0 (auto-translated), stock 6.12
#                                       and the test kernel
#   make demo-dkms                      make deb, installed here, and each stock kernel booting the
#                                       DKMS-built module through modprobe (no insmod)
#   make demo-arm64                     the demo in an arm64 Xen dom0 (stock arm64 6.12), coherent
#                                       and non-coherent, and an arm64 domU on blkback/netback
#   make deb                            the Debian packages: uswiotlb-dkms (all) and uswiotlb-tools,
#                                       in build/deb/
#   make bench                          dma_map_benchmark: uswiotlb vs the kernel's own DMA ops
#   make mutants [MUTANTS="a b"]        one-line mutants of src/ (scripts/mutants.txt): all killed?
#   make soak [ARMS="flip kernel"]      the demo's workloads on many fresh boots, per arm: stalls,
#                                       data errors, oopses (SOAK_RUNS, SOAK_MIN, ...: soak.sh)
#
# Kbuild reads the file named Kbuild; this Makefile is only the front door.

KDIR ?= /lib/modules/$(shell uname -r)/build
KVER ?= 6.12

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf tools/build .results build

check:
	scripts/check.sh

check-arm64:
	scripts/check.sh arm64

check-debug:
	scripts/check.sh debug

build-matrix:
	scripts/build-matrix.sh

check-host:
	$(MAKE) -C tools check

demo:
	scripts/demo.sh $(KVER)

demo-all:
	scripts/demo.sh 6.12 6.1

demo-guests:
	scripts/demo.sh --guests 6.12 6.1

demo-pvh:
	scripts/demo.sh --pvh 6.12 test

demo-arm64:
	scripts/demo.sh 6.12-arm64

demo-dkms:
	scripts/demo.sh --dkms 6.12 6.1

deb:
	scripts/deps.sh
	scripts/deb.sh

mutants:
	scripts/mutants.sh $(MUTANTS)

soak:
	scripts/soak.sh $(ARMS)

bench:
	scripts/deps.sh
	$(MAKE) -C tools bench
	scripts/run-bench.sh

.PHONY: all modules clean check check-arm64 check-debug build-matrix check-host deb demo demo-all \
	demo-guests demo-pvh demo-arm64 demo-dkms bench mutants soak
