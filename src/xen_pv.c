// SPDX-License-Identifier: GPL-2.0
/*
 * Xen PV glue: phys-to-bus translation through the p2m, and machine-contiguous memory.
 *
 * A PV domain's pseudo-physical pages are backed by arbitrary machine frames, so a device needs
 * the machine address and a multi-page buffer is only directly usable if its frames happen to
 * be consecutive. Machine-contiguous memory can only be had by exchanging pages with Xen
 * (xen_create_contiguous_region), which is not exported; the kernel's own Xen DMA ops (the
 * exported x86 dma_ops, xen-swiotlb) do that in ->alloc, so the pool borrows them.
 */
#include <linux/dma-map-ops.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/interface/memory.h>
#include <asm/xen/hypercall.h>

#include "uswiotlb.h"

static const struct dma_map_ops *usw_xen_ops;

/**
 * usw_xen_alloc() - machine-contiguous memory below the device's coherent mask
 * @dev: the device whose coherent_dma_mask bounds the machine address
 * @size: bytes wanted
 * @dma: returns the device address
 * @gfp: allocation flags
 *
 * Return: the kernel address, or NULL.
 */
void *usw_xen_alloc(struct device *dev, size_t size, dma_addr_t *dma, gfp_t gfp)
{
	return usw_xen_ops->alloc(dev, size, dma, gfp, 0);
}

/**
 * usw_xen_free() - give back memory from usw_xen_alloc()
 * @dev: the device it was allocated for
 * @size: its size
 * @vaddr: its kernel address
 * @dma: its device address
 */
void usw_xen_free(struct device *dev, size_t size, void *vaddr, dma_addr_t dma)
{
	usw_xen_ops->free(dev, size, vaddr, dma, 0);
}

/**
 * usw_xen_required_mask() - highest machine address of any RAM
 *
 * Return: that address, or all ones if Xen does not say.
 */
u64 usw_xen_required_mask(void)
{
	long top = HYPERVISOR_memory_op(XENMEM_maximum_ram_page, NULL);

	return top > 0 ? ((u64)top << XEN_PAGE_SHIFT) - 1 : DMA_BIT_MASK(64);
}

/**
 * usw_xen_init() - switch on PV translation when running as a Xen PV domain
 *
 * Return: 0, or -ENODEV in a PV domain whose kernel set up no Xen DMA ops to borrow.
 */
int usw_xen_init(void)
{
	if (!xen_pv_domain())
		return 0;
	usw_xen_ops = dma_ops;
	if (!usw_xen_ops || !usw_xen_ops->alloc || !usw_xen_ops->free) {
		pr_err("uswiotlb: Xen PV domain without xen-swiotlb ops: no way to get machine-contiguous memory (boot with iommu=soft or as dom0)\n");
		return -ENODEV;
	}
	static_branch_enable(&usw_xen_pv_key);
	return 0;
}
