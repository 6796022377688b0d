// SPDX-License-Identifier: GPL-2.0
/*
 * uswiotlb dma_map_ops: one streaming-mapping path for bare metal, auto-translated guests and
 * Xen PV. What only some systems need sits behind static keys, so that on a kernel not running
 * on Xen, with forcing off, map is phys_to_dma() plus dma_capable() and unmap is one range test.
 */
#include <linux/dma-direct.h>
#include <linux/highmem.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>

#include "trace.h"
#include "uswiotlb.h"

DEFINE_STATIC_KEY_FALSE(usw_xen_pv_key);
DEFINE_STATIC_KEY_FALSE(usw_xen_auto_key);
EXPORT_SYMBOL_IF_KUNIT(usw_xen_auto_key);
DEFINE_STATIC_KEY_FALSE(usw_force_key);
EXPORT_SYMBOL_IF_KUNIT(usw_force_key);

static const char *const usw_reason_names[USW_NR_REASONS] = {
	[USW_BOUNCE_MASK] = "beyond the DMA mask",
	[USW_BOUNCE_STRADDLE] = "non-contiguous machine frames",
	[USW_BOUNCE_FORCE] = "forced",
	[USW_BOUNCE_ALIGN] = "misaligned for a non-coherent device",
	[USW_BOUNCE_FOREIGN] = "foreign page Xen cannot flush",
};

/* The device does not snoop CPU caches: mappings need maintenance (arm64 only). */
static __always_inline bool usw_noncoherent(struct device *dev)
{
	return static_branch_unlikely(&usw_noncoherent_key) && !dev_is_dma_coherent(dev);
}

/* Copy between a bounce slot and the original buffer, which may lie in highmem. */
static void usw_copy(phys_addr_t orig, void *bounce, size_t size, bool to_bounce)
{
	if (!IS_ENABLED(CONFIG_HIGHMEM)) {
		if (to_bounce)
			memcpy(bounce, phys_to_virt(orig), size);
		else
			memcpy(phys_to_virt(orig), bounce, size);
		return;
	}
	while (size) {
		size_t chunk = min_t(size_t, size, PAGE_SIZE - offset_in_page(orig));
		char *p = kmap_local_page(pfn_to_page(PHYS_PFN(orig)));

		if (to_bounce)
			memcpy(bounce, p + offset_in_page(orig), chunk);
		else
			memcpy(p + offset_in_page(orig), bounce, chunk);
		kunmap_local(p);
		orig += chunk;
		bounce = (char *)bounce + chunk;
		size -= chunk;
	}
}

static dma_addr_t usw_bounce(struct device *dev, phys_addr_t phys, size_t size,
			     enum dma_data_direction dir, unsigned long attrs,
			     enum usw_reason reason)
{
	struct usw_req req = {
		.orig = phys,
		.size = size,
		.min_align_mask = dma_get_min_align_mask(dev),
		.boundary_mask = dma_get_seg_boundary(dev),
	};
	phys_addr_t bus;
	dma_addr_t dma;
	int slot;

	/* Keep page-sized buffers page-aligned, as drivers expect from the direct path. */
	if (!req.min_align_mask && size >= PAGE_SIZE)
		req.alloc_align_mask = PAGE_SIZE - 1;

	slot = usw_pool_alloc(&usw_pool, &req, raw_smp_processor_id());
	if (slot < 0) {
		if (slot == -ENOSPC)
			usw_grow_kick();
		usw_count(errors);
		trace_uswiotlb_pool_full(dev, size, reason, -slot);
		if (!(attrs & DMA_ATTR_NO_WARN))
			dev_err_ratelimited(dev, "uswiotlb: cannot bounce %zu bytes (%s): %s\n",
					    size, usw_reason_names[reason], slot == -ENOSPC ?
					    "pool full" : "larger than a pool segment");
		return DMA_MAPPING_ERROR;
	}

	/* The pool is never encrypted memory: no encryption bit, as swiotlb does. */
	bus = usw_mapping_bus(&usw_pool, slot);
	dma = phys_to_dma_unencrypted(dev, bus);
	if (unlikely(!dma_capable(dev, dma, size, true))) {
		usw_pool_free(&usw_pool, slot);
		usw_count(errors);
		trace_uswiotlb_pool_full(dev, size, reason, EIO);
		if (!(attrs & DMA_ATTR_NO_WARN))
			dev_err_ratelimited(dev, "uswiotlb: pool at %pad is beyond DMA mask %llx\n",
					    &dma, dma_get_mask(dev));
		return DMA_MAPPING_ERROR;
	}

	/*
	 * Fill the slots from the buffer even for DMA_FROM_DEVICE: a device that writes only part
	 * of it must leave the rest as it was, and stale pool data must never reach anyone.
	 */
	usw_copy(phys, (char *)usw_slot_vaddr(&usw_pool, slot) + usw_slot(&usw_pool, slot)->offset,
		 size, true);
	/* The device reads the slot: the copy must reach memory first. */
	if (usw_noncoherent(dev) && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		usw_cache_for_device(dev, bus, size, dir);
	usw_count(bounced[reason]);
	trace_uswiotlb_map(dev, phys, dma, size, dir, reason);
	return dma;
}

static __always_inline bool usw_forced(struct device *dev)
{
	return READ_ONCE(usw_force) || is_swiotlb_force_bounce(dev);
}

/*
 * Map with some key on: Xen translation, forced bouncing, non-coherent devices; or any map
 * while the map event is traced, so that the fast path needs no frame for the event's call.
 */
static noinline dma_addr_t usw_map_keyed(struct device *dev, phys_addr_t phys, size_t size,
					 enum dma_data_direction dir, unsigned long attrs)
{
	bool forced = static_branch_unlikely(&usw_force_key) && usw_forced(dev);
	struct usw_bus bus = { .addr = phys };
	enum usw_reason reason;
	dma_addr_t dma;

	/* A forced map bounces anyway: only its first frame is looked up, for the foreign count. */
	if (static_branch_unlikely(&usw_xen_pv_key) || static_branch_unlikely(&usw_xen_auto_key))
		bus = usw_xen_phys_to_bus(phys, forced ? 1 : size);
	if (forced) {
		reason = USW_BOUNCE_FORCE;
		goto bounce;
	}
	dma = phys_to_dma(dev, bus.addr);

	if (unlikely(!dma_capable(dev, dma, size, true))) {
		reason = USW_BOUNCE_MASK;
		goto bounce;
	}
	if (unlikely(bus.straddles)) {
		reason = USW_BOUNCE_STRADDLE;
		goto bounce;
	}
	if (usw_noncoherent(dev)) {
		/* A cache line shared with other data must not be invalidated under it. */
		if (usw_kmalloc_needs_bounce(dev, size, dir)) {
			reason = USW_BOUNCE_ALIGN;
			goto bounce;
		}
		if (!usw_xen_cflush && bus.foreign) {
			reason = USW_BOUNCE_FOREIGN;
			goto bounce;
		}
		if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC))
			usw_cache_for_device(dev, bus.addr, size, dir);
	}

	usw_count(direct);
	trace_uswiotlb_map(dev, phys, dma, size, dir, USW_MAP_DIRECT);
	if (bus.foreign)
		usw_count(foreign_direct);
	return dma;

bounce:
	dma = usw_bounce(dev, phys, size, dir, attrs, reason);
	if (bus.foreign && dma != DMA_MAPPING_ERROR)
		usw_count(foreign_bounced);
	return dma;
}

/*
 * With every key off (bare metal, coherent, nothing forced, not traced) a map is phys_to_dma()
 * and the mask check; everything else is a tail call, so this path needs no stack frame (on
 * x86 it saves one register: dir, which only the trace event reads, is live to the end).
 */
static __always_inline dma_addr_t usw_map(struct device *dev, phys_addr_t phys, size_t size,
					  enum dma_data_direction dir, unsigned long attrs)
{
	dma_addr_t dma;

	if (static_branch_unlikely(&usw_xen_pv_key) || static_branch_unlikely(&usw_xen_auto_key) ||
	    static_branch_unlikely(&usw_force_key) ||
	    static_branch_unlikely(&usw_noncoherent_key) || trace_uswiotlb_map_enabled())
		return usw_map_keyed(dev, phys, size, dir, attrs);
	dma = phys_to_dma(dev, phys);
	if (unlikely(!dma_capable(dev, dma, size, true)))
		return usw_bounce(dev, phys, size, dir, attrs, USW_BOUNCE_MASK);
	usw_count(direct);
	return dma;
}

static void usw_misuse(struct device *dev, const char *what, dma_addr_t dma, size_t size)
{
	usw_count(misuse);
	dev_err_ratelimited(dev, "uswiotlb: %s of %pad+%zu names no live mapping; ignored\n",
			    what, &dma, size);
}

enum usw_found { USW_MISUSE = -1, USW_DIRECT, USW_BOUNCED };

/*
 * A range that starts inside a live mapping but runs past its end: like swiotlb, serve the
 * part that is mapped, so the driver does not read stale data, and say so once.
 */
static noinline bool usw_clamp(struct device *dev, phys_addr_t bus, size_t *size,
			       const char *what, struct usw_ref *ref)
{
	size_t avail;

	if (*size <= 1 || usw_pool_resolve(&usw_pool, bus, 1, ref))
		return false;
	avail = usw_slot(&usw_pool, ref->head)->size -
		(bus - usw_mapping_bus(&usw_pool, ref->head));
	usw_count(misuse);
	dev_warn_once(dev, "uswiotlb: %s of %pa+%zu runs past its mapping; clamped to %zu bytes\n",
		      what, &bus, *size, avail);
	*size = avail;
	return true;
}

/*
 * Find the live bounce mapping behind @dma: bounced, direct, or misuse (reported). *@size is
 * clamped to the mapping if the range runs past its end. Under rcu_read_lock_sched(): a
 * segment found here is not given back before the caller is done with it.
 */
static __always_inline enum usw_found usw_lookup(struct device *dev, dma_addr_t dma,
						 size_t *size, const char *what,
						 struct usw_ref *ref)
{
	phys_addr_t bus = dma_to_phys(dev, dma);
	int ret;

	if (likely(!usw_pool_may_contain(&usw_pool, bus)))
		return USW_DIRECT;
	ret = usw_pool_resolve(&usw_pool, bus, *size, ref);
	if (likely(!ret))
		return USW_BOUNCED;
	if (ret == -ENOENT)
		return USW_DIRECT;
	if (usw_clamp(dev, bus, size, what, ref))
		return USW_BOUNCED;
	usw_misuse(dev, what, dma, *size);
	return USW_MISUSE;
}

/*
 * Unmap of an address inside the pool's bus range (a bounce, or a direct mapping in a hole),
 * or any unmap while the unmap event is traced.
 * Lookup and free run under RCU-sched (preemption off: inline, where rcu_read_lock() is a call
 * with PREEMPT_RCU), which a resize's synchronize_rcu() waits for before it frees a segment;
 * the copy between them needs none, as the caller owns the live mapping it names.
 */
static noinline void usw_unmap_pool(struct device *dev, dma_addr_t dma, size_t size,
				    enum dma_data_direction dir, unsigned long attrs)
{
	bool maintain = usw_noncoherent(dev) && !(attrs & DMA_ATTR_SKIP_CPU_SYNC);
	enum usw_found found;
	struct usw_ref ref;
	size_t one = 1;
	bool head = false, freed;
	u32 mapped = 0;

	trace_uswiotlb_unmap(dev, dma, size, dir);
	rcu_read_lock_sched();
	found = usw_lookup(dev, dma, &one, "unmap", &ref);
	if (found == USW_BOUNCED) {
		const struct usw_slot *h = usw_slot(&usw_pool, ref.head);

		mapped = h->size;
		head = ref.bounce == (char *)usw_slot_vaddr(&usw_pool, ref.head) + h->offset;
	}
	rcu_read_unlock_sched();

	switch (found) {
	case USW_DIRECT:
		if (maintain)
			usw_cache_for_cpu(dev, dma_to_phys(dev, dma), size, dir);
		return;
	case USW_MISUSE:
		return;
	case USW_BOUNCED:
		break;
	}
	if (!head) {
		usw_misuse(dev, "unmap from inside a mapping", dma, size);
		return;
	}
	if (size != mapped)
		dev_err_ratelimited(dev, "uswiotlb: unmap of %pad with size %zu, mapped %u\n",
				    &dma, size, mapped);

	/* Stale lines go before the slot is read, or the copy would pick them up. */
	if (maintain)
		usw_cache_for_cpu(dev, dma_to_phys(dev, dma), min_t(size_t, size, mapped), dir);
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
	    (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL))
		usw_copy(ref.orig, ref.bounce, min_t(size_t, size, mapped), false);
	rcu_read_lock_sched();
	freed = usw_pool_free(&usw_pool, ref.head);
	rcu_read_unlock_sched();
	if (!freed)
		usw_misuse(dev, "unmap", dma, size);
}

/*
 * Most unmaps are of direct mappings far from the pool: those are settled here without a
 * stack frame, the pool's lookup and the trace event stay out of line.
 */
static void usw_unmap(struct device *dev, dma_addr_t dma, size_t size,
		      enum dma_data_direction dir, unsigned long attrs)
{
	phys_addr_t bus = dma_to_phys(dev, dma);

	if (unlikely(usw_pool_may_contain(&usw_pool, bus)) || trace_uswiotlb_unmap_enabled()) {
		usw_unmap_pool(dev, dma, size, dir, attrs);
		return;
	}
	if (usw_noncoherent(dev) && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		usw_cache_for_cpu(dev, bus, size, dir);
}

/*
 * Hand the buffer to the CPU: drop stale cache lines, then copy the slot back. The copy
 * reads through the cache, so the other order would return what the lines held.
 */
static void usw_sync_for_cpu(struct device *dev, dma_addr_t dma, size_t size,
			     enum dma_data_direction dir)
{
	struct usw_ref ref;
	enum usw_found found;

	trace_uswiotlb_sync(dev, dma, size, dir, false);
	if (dir == DMA_TO_DEVICE)
		return;
	rcu_read_lock_sched();
	found = usw_lookup(dev, dma, &size, "sync_for_cpu", &ref);
	rcu_read_unlock_sched();
	if (found == USW_MISUSE)
		return;
	if (usw_noncoherent(dev))
		usw_cache_for_cpu(dev, dma_to_phys(dev, dma), size, dir);
	if (found == USW_BOUNCED)
		usw_copy(ref.orig, ref.bounce, size, false);
}

/* Hand the buffer to the device: copy into the slot, then write the copy back to memory. */
static void usw_sync_for_device(struct device *dev, dma_addr_t dma, size_t size,
				enum dma_data_direction dir)
{
	struct usw_ref ref;
	enum usw_found found;

	trace_uswiotlb_sync(dev, dma, size, dir, true);
	if (!usw_noncoherent(dev) && dir == DMA_FROM_DEVICE)
		return;
	rcu_read_lock_sched();
	found = usw_lookup(dev, dma, &size, "sync_for_device", &ref);
	rcu_read_unlock_sched();
	if (found == USW_MISUSE)
		return;
	if (found == USW_BOUNCED && dir != DMA_FROM_DEVICE)
		usw_copy(ref.orig, ref.bounce, size, true);
	if (usw_noncoherent(dev))
		usw_cache_for_device(dev, dma_to_phys(dev, dma), size, dir);
}

static dma_addr_t usw_map_page(struct device *dev, struct page *page, unsigned long offset,
			       size_t size, enum dma_data_direction dir, unsigned long attrs)
{
	return usw_map(dev, page_to_phys(page) + offset, size, dir, attrs);
}

static void usw_unmap_sg(struct device *dev, struct scatterlist *sgl, int nents,
			 enum dma_data_direction dir, unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		usw_unmap(dev, sg->dma_address, sg_dma_len(sg), dir, attrs);
}

/*
 * Why a bounce of @size bytes at @phys failed: -ENOMEM if it may work once mappings are freed,
 * -EINVAL if no free pool could ever hold it (too large, or its segment boundary is narrower
 * than it), -EIO if the whole pool is beyond the device's reach.
 */
static int usw_map_errno(struct device *dev, phys_addr_t phys, size_t size)
{
	unsigned long boundary = dma_get_seg_boundary(dev);
	size_t span = (phys & dma_get_min_align_mask(dev) & (USW_SLOT_SIZE - 1)) + size;

	if (size > usw_pool_max_mapping(&usw_pool, dma_get_min_align_mask(dev)) ||
	    (boundary != ULONG_MAX && span > boundary + 1))
		return -EINVAL;
	if (!dma_capable(dev, phys_to_dma_unencrypted(dev, READ_ONCE(usw_pool.bus_lo)), size, true))
		return -EIO;
	return -ENOMEM;
}

static int usw_map_sg(struct device *dev, struct scatterlist *sgl, int nents,
		      enum dma_data_direction dir, unsigned long attrs)
{
	struct scatterlist *sg;
	int i, ret;

	for_each_sg(sgl, sg, nents, i) {
		sg->dma_address = usw_map(dev, sg_phys(sg), sg->length, dir, attrs);
		if (sg->dma_address == DMA_MAPPING_ERROR)
			goto undo;
		sg_dma_len(sg) = sg->length;
	}
	return nents;

undo:
	ret = usw_map_errno(dev, sg_phys(sg), sg->length);
	/* All or nothing: nothing mapped so far stays mapped, and nothing is copied back. */
	usw_unmap_sg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
	sg_dma_len(sgl) = 0;
	return ret;
}

static void usw_sync_sg_for_cpu(struct device *dev, struct scatterlist *sgl, int nents,
				enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		usw_sync_for_cpu(dev, sg->dma_address, sg->length, dir);
}

static void usw_sync_sg_for_device(struct device *dev, struct scatterlist *sgl, int nents,
				   enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		usw_sync_for_device(dev, sg->dma_address, sg->length, dir);
}

/* MMIO is never bounced nor translated through the p2m: PV dom0 maps it 1:1. */
static dma_addr_t usw_map_resource(struct device *dev, phys_addr_t phys, size_t size,
				   enum dma_data_direction dir, unsigned long attrs)
{
	dma_addr_t dma = phys_to_dma(dev, phys);

	if (unlikely(!dma_capable(dev, dma, size, false))) {
		dev_err_ratelimited(dev, "uswiotlb: resource %pa+%zu is beyond DMA mask %llx\n",
				    &phys, size, dma_get_mask(dev));
		return DMA_MAPPING_ERROR;
	}
	return dma;
}

static void usw_unmap_resource(struct device *dev, dma_addr_t dma, size_t size,
			       enum dma_data_direction dir, unsigned long attrs)
{
}

/*
 * dma_alloc_pages(): zeroed like dma_common_alloc_pages() (the pages may be mapped to user
 * space), before the map, so that a bounce slot starts out zeroed too.
 */
static struct page *usw_alloc_pages(struct device *dev, size_t size, dma_addr_t *dma,
				    enum dma_data_direction dir, gfp_t gfp)
{
	struct page *page = alloc_pages_node(dev_to_node(dev), gfp | __GFP_ZERO,
					     get_order(size));

	if (!page)
		return NULL;
	*dma = usw_map(dev, page_to_phys(page), size, dir, DMA_ATTR_SKIP_CPU_SYNC);
	if (*dma == DMA_MAPPING_ERROR) {
		__free_pages(page, get_order(size));
		return NULL;
	}
	return page;
}

static void usw_free_pages(struct device *dev, size_t size, struct page *page, dma_addr_t dma,
			   enum dma_data_direction dir)
{
	usw_unmap(dev, dma, size, dir, DMA_ATTR_SKIP_CPU_SYNC);
	__free_pages(page, get_order(size));
}

/* A mask is usable if the pool is below it: anything else can be bounced there. */
static int usw_dma_supported(struct device *dev, u64 mask)
{
	return phys_to_dma_unencrypted(dev, READ_ONCE(usw_pool.bus_hi) - 1) <= mask;
}

static u64 usw_get_required_mask(struct device *dev)
{
	u64 top = static_branch_unlikely(&usw_xen_pv_key) ? usw_xen_required_mask() :
			phys_to_dma(dev, __pa(high_memory - 1));

	return DMA_BIT_MASK(fls64(top));
}

/*
 * Any mapping may be bounced (force can be switched on at run time), so never promise more
 * than the pool can place: drivers size their requests from this once, at probe.
 */
static size_t usw_max_mapping_size(struct device *dev)
{
	return usw_pool_max_mapping(&usw_pool, dma_get_min_align_mask(dev));
}

const struct dma_map_ops usw_dma_ops = {
	.alloc = usw_alloc,
	.free = usw_free,
	.USW_OPS_ALLOC_PAGES = usw_alloc_pages,
	.free_pages = usw_free_pages,
	.mmap = usw_mmap,
	.get_sgtable = usw_get_sgtable,
	.map_page = usw_map_page,
	.unmap_page = usw_unmap,
	.map_sg = usw_map_sg,
	.unmap_sg = usw_unmap_sg,
	.map_resource = usw_map_resource,
	.unmap_resource = usw_unmap_resource,
	.sync_single_for_cpu = usw_sync_for_cpu,
	.sync_single_for_device = usw_sync_for_device,
	.sync_sg_for_cpu = usw_sync_sg_for_cpu,
	.sync_sg_for_device = usw_sync_sg_for_device,
	.dma_supported = usw_dma_supported,
	.get_required_mask = usw_get_required_mask,
	.max_mapping_size = usw_max_mapping_size,
};
EXPORT_SYMBOL_IF_KUNIT(usw_dma_ops);
