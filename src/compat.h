/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels uswiotlb builds for (6.1 and 6.12). Each USW_HAVE_* is set by
 * a feature probe in src/Kbuild, never by version number, so distribution backports are
 * followed automatically.
 */
#ifndef _USWIOTLB_COMPAT_H
#define _USWIOTLB_COMPAT_H

#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/module.h>

/* 6.12 renamed dma_map_ops.alloc_pages to alloc_pages_op. */
#ifdef USW_HAVE_ALLOC_PAGES_OP
#define USW_OPS_ALLOC_PAGES alloc_pages_op
#else
#define USW_OPS_ALLOC_PAGES alloc_pages
#endif

/*
 * 6.12 skips dma_sync_* calls while dev->dma_skip_sync is set and computes it only in
 * dma_set_mask(); a device whose ops we swap must have it cleared or its syncs never reach us.
 */
static inline void usw_dev_need_sync(struct device *dev)
{
#if defined(USW_HAVE_DMA_SKIP_SYNC) && defined(CONFIG_DMA_NEED_SYNC)
	dev->dma_skip_sync = false;
#endif
}

/* 6.3 made the driver core take const struct bus_type pointers. */
#ifdef USW_HAVE_CONST_BUS_TYPE
#define USW_BUS_CONST const
#else
#define USW_BUS_CONST
#endif

/*
 * Internals the KUnit suites call are exported only when the kernel can run them, in the
 * kernel's namespace for that (kunit/visibility.h, 6.2+).
 */
#ifdef USW_HAVE_KUNIT_VISIBILITY
#include <kunit/visibility.h>
#else
/* Older kernels: export regardless, in the namespace only the test module imports. */
#define EXPORT_SYMBOL_IF_KUNIT(sym) EXPORT_SYMBOL_NS_GPL(sym, EXPORTED_FOR_KUNIT_TESTING)
#endif

/*
 * 6.12 (backport of 6.15's xen-swiotlb change) bounces kmalloc buffers that share cache lines
 * for non-coherent devices, where the architecture asks for it (arm64).
 */
static inline bool usw_kmalloc_needs_bounce(struct device *dev, size_t size,
					    enum dma_data_direction dir)
{
#ifdef USW_HAVE_KMALLOC_BOUNCE
	return dma_kmalloc_needs_bounce(dev, size, dir);
#else
	return false;
#endif
}

/*
 * In TP_fast_assign(), the @field of __string(field, dev_name(dev)). 6.10 dropped
 * __assign_str()'s source argument: it is taken from the __string().
 */
#ifdef USW_HAVE_ASSIGN_STR_DST
#define usw_assign_dev_name(field) __assign_str(field)
#else
#define usw_assign_dev_name(field) __assign_str(field, dev_name(dev))
#endif

#endif /* _USWIOTLB_COMPAT_H */
