# SPDX-License-Identifier: GPL-2.0
# Kernel differences are probed by feature, not by version (see compat.h); included by the
# module's and the KUnit module's Kbuild, so both see the kernel the same way.
usw-probe = $(if $(shell grep -s -q -E '$(2)' $(srctree)/$(1) && echo y),-D$(3))
ccflags-y += $(call usw-probe,include/linux/dma-map-ops.h,\(\*alloc_pages_op\),USW_HAVE_ALLOC_PAGES_OP)
ccflags-y += $(call usw-probe,include/linux/device.h,dma_skip_sync,USW_HAVE_DMA_SKIP_SYNC)
ccflags-y += $(call usw-probe,include/linux/device/bus.h,int bus_register_notifier.const struct bus_type,USW_HAVE_CONST_BUS_TYPE)
ccflags-y += $(if $(wildcard $(srctree)/include/kunit/visibility.h),-DUSW_HAVE_KUNIT_VISIBILITY)
ccflags-y += $(call usw-probe,include/linux/dma-map-ops.h,dma_kmalloc_needs_bounce,USW_HAVE_KMALLOC_BOUNCE)
ccflags-y += $(call usw-probe,include/linux/platform_device.h,void .\*remove..struct platform_device,USW_HAVE_VOID_REMOVE)
ccflags-y += $(call usw-probe,include/linux/device.h,int device_set_driver_override,USW_HAVE_DEVICE_DRIVER_OVERRIDE)
ccflags-y += $(call usw-probe,include/trace/stages/stage6_event_callback.h,define __assign_str\(dst\),USW_HAVE_ASSIGN_STR_DST)
