# SPDX-License-Identifier: GPL-2.0
#
#   make [KDIR=/path/to/kernel/build]   build uswiotlb.ko (and the KUnit module if KUnit is on)
#   make check                          everything CI runs, from a fresh Debian 12 machine
#   make demo                           uswiotlb in a Xen PV dom0 under QEMU
#
# Kbuild reads the file named Kbuild; this Makefile is only the front door.

KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf tools/build .results

check:
	scripts/check.sh

check-host:
	$(MAKE) -C tools check

demo:
	scripts/demo.sh

.PHONY: all modules clean check check-host demo
