// SPDX-License-Identifier: GPL-2.0
/*
 * Cache maintenance for devices that do not snoop CPU caches (arm64), behind usw_noncoherent_key.
 *
 * The device reads and writes memory behind the caches, so before it reads, dirty lines must be
 * written back ("clean"), and before the CPU reads what it wrote, stale lines must be dropped
 * ("invalidate"). Memory of our own domain is maintained by virtual address, one cache line at
 * a time to the point of coherency; the kernel's dcache_*_poc helpers are not exported.
 * A foreign page (granted by another Xen domain and mapped here) has no local address: its bus
 * frame is not one of our pfns, and Xen maintains it for us through GNTTABOP_cache_flush, one
 * Xen page at a time. The rules per direction are those of arm64's arch_sync_dma_* and of
 * arch/arm/xen/mm.c.
 */
#include <linux/dma-direct.h>
#include <linux/mm.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/interface/grant_table.h>
#ifdef CONFIG_ARM64
#include <asm/barrier.h>
#include <asm/cpufeature.h>
#include <asm/sysreg.h>
#include <asm/xen/hypercall.h>
#endif

#include "uswiotlb.h"

/* Xen has GNTTABOP_cache_flush: foreign pages can be maintained instead of bounced. */
bool usw_xen_cflush;
EXPORT_SYMBOL_IF_KUNIT(usw_xen_cflush);

DEFINE_STATIC_KEY_FALSE(usw_noncoherent_key);
EXPORT_SYMBOL_IF_KUNIT(usw_noncoherent_key);

#ifdef CONFIG_ARM64
/*
 * The smallest data cache line of any CPU, from the system-wide sanitised CTR_EL0 as the
 * kernel's own dcache_line_size does: CPUs may differ, and a map may migrate mid-loop.
 */
static unsigned long usw_dline;

static void usw_dline_init(void)
{
	u64 ctr = read_sanitised_ftr_reg(SYS_CTR_EL0);

	/* CTR_EL0.DminLine, bits 19:16: log2 of the line size in 4-byte words. */
	usw_dline = 4UL << cpuid_feature_extract_unsigned_field(ctr, 16);
}

static void usw_dcache_local(phys_addr_t phys, size_t size, enum usw_cache_op op)
{
	unsigned long line = usw_dline;
	unsigned long start = (unsigned long)phys_to_virt(phys), end = start + size;
	unsigned long p = start & ~(line - 1);

	if (op == USW_CACHE_CLEAN) {
		for (; p < end; p += line)
			asm volatile("dc cvac, %0" : : "r" (p) : "memory");
	} else {
		/* Lines shared with neighbouring data are written back, not just dropped. */
		for (; p < end; p += line) {
			if (p < start || p + line > end)
				asm volatile("dc civac, %0" : : "r" (p) : "memory");
			else
				asm volatile("dc ivac, %0" : : "r" (p) : "memory");
		}
	}
	dsb(sy);
}

static int usw_xen_cache_flush(u64 bus, unsigned int offset, unsigned int len, u32 op)
{
	struct gnttab_cache_flush cf = {
		.a.dev_bus_addr = bus,
		.offset = offset,
		.length = len,
		.op = op,
	};

	if (!IS_ENABLED(CONFIG_XEN))
		return -EOPNOTSUPP;
	return HYPERVISOR_grant_table_op(GNTTABOP_cache_flush, &cf, 1);
}
#else
/* Every device is coherent here (x86): usw_noncoherent_key is never switched on. */
static void usw_dline_init(void)
{
}

static void usw_dcache_local(phys_addr_t phys, size_t size, enum usw_cache_op op)
{
}

static int usw_xen_cache_flush(u64 bus, unsigned int offset, unsigned int len, u32 op)
{
	return -EOPNOTSUPP;
}
#endif

static const struct usw_cache_hooks usw_cache_native = {
	.local = usw_dcache_local,
	.flush = usw_xen_cache_flush,
};

const struct usw_cache_hooks *usw_cache_hooks = &usw_cache_native;
EXPORT_SYMBOL_IF_KUNIT(usw_cache_hooks);

/**
 * usw_cache_set_hooks() - replace the cache primitives, for tests that record them
 * @hooks: the replacement, or NULL for the real ones
 */
void usw_cache_set_hooks(const struct usw_cache_hooks *hooks)
{
	WRITE_ONCE(usw_cache_hooks, hooks ? hooks : &usw_cache_native);
}
EXPORT_SYMBOL_IF_KUNIT(usw_cache_set_hooks);

/**
 * usw_bus_is_foreign() - whether a bus address is another domain's memory
 * @bus: bus address
 *
 * Only an auto-translated Xen domain maps foreign pages whose bus frame is not a local pfn
 * (dom0 is mapped 1:1); everywhere else every bus address names local memory.
 *
 * Return: true for a foreign frame.
 */
bool usw_bus_is_foreign(phys_addr_t bus)
{
	return static_branch_unlikely(&usw_xen_auto_key) && !pfn_valid(PHYS_PFN(bus));
}
EXPORT_SYMBOL_IF_KUNIT(usw_bus_is_foreign);

/* Foreign memory: ask Xen, one Xen page at a time, by bus address. */
static void usw_cache_foreign(struct device *dev, phys_addr_t bus, size_t size, u32 op)
{
	const struct usw_cache_hooks *hooks = READ_ONCE(usw_cache_hooks);
	unsigned int offset = xen_offset_in_page(bus);

	bus &= XEN_PAGE_MASK;
	while (size) {
		unsigned int len = min_t(size_t, size, XEN_PAGE_SIZE - offset);
		int ret = hooks->flush(bus, offset, len, op);

		usw_count(cache_foreign);
		if (ret)
			dev_err_ratelimited(dev, "uswiotlb: cache flush of %pa+%u failed (%d)\n",
					    &bus, offset, ret);
		bus += XEN_PAGE_SIZE;
		offset = 0;
		size -= len;
	}
}

/**
 * usw_cache_for_device() - make memory the device is about to access visible to it
 * @dev: the non-coherent device
 * @bus: bus address the device uses (for a bounce, the slot's); for local memory also its
 *	 physical address (the pool and auto-translated domains are mapped 1:1)
 * @size: length of the access
 * @dir: direction of the mapping
 */
void usw_cache_for_device(struct device *dev, phys_addr_t bus, size_t size,
			  enum dma_data_direction dir)
{
	if (usw_bus_is_foreign(bus)) {
		usw_cache_foreign(dev, bus, size, dir == DMA_FROM_DEVICE ? GNTTAB_CACHE_INVAL :
				  GNTTAB_CACHE_CLEAN);
	} else {
		READ_ONCE(usw_cache_hooks)->local(bus, size, USW_CACHE_CLEAN);
		usw_count(cache_clean);
	}
}

/**
 * usw_cache_for_cpu() - drop stale lines before the CPU reads what the device wrote
 * @dev: the non-coherent device
 * @bus: as for usw_cache_for_device()
 * @size: length of the access
 * @dir: direction of the mapping; a TO_DEVICE mapping needs nothing
 */
void usw_cache_for_cpu(struct device *dev, phys_addr_t bus, size_t size,
		       enum dma_data_direction dir)
{
	if (dir == DMA_TO_DEVICE)
		return;
	if (usw_bus_is_foreign(bus)) {
		usw_cache_foreign(dev, bus, size, GNTTAB_CACHE_INVAL);
	} else {
		READ_ONCE(usw_cache_hooks)->local(bus, size, USW_CACHE_INVAL);
		usw_count(cache_inval);
	}
}

/**
 * usw_cache_init() - learn the cache line size, and whether Xen maintains foreign pages for us
 *
 * Xen answers a zero-length GNTTABOP_cache_flush with 0 when it has the operation.
 */
void usw_cache_init(void)
{
	usw_dline_init();
	usw_xen_cflush = static_branch_unlikely(&usw_xen_auto_key) &&
			 usw_xen_cache_flush(0, 0, 0, 0) == 0;
}
