// SPDX-License-Identifier: GPL-2.0
/*
 * Memory behind the bounce pool, and coherent allocations.
 *
 * In a Xen PV domain both come from the kernel's own Xen allocator (see xen_pv.c), which
 * exchanges pages for machine-contiguous ones below the device's mask. Everywhere else they are
 * plain page allocations whose bus address is their physical address.
 */
#include <linux/dma-direct.h>
#include <linux/genalloc.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "uswiotlb.h"

/**
 * usw_seg_mem_alloc() - memory for one pool segment, contiguous in every address space
 * @pool: the pool, for its segment size
 * @mem: filled in on success
 *
 * Return: 0 or -ENOMEM.
 */
int usw_seg_mem_alloc(const struct usw_pool *pool, struct usw_seg_mem *mem)
{
	size_t size = usw_seg_size(pool);
	struct page *page;
	dma_addr_t dma;

	if (usw_fail_pool_segment(size))
		return -ENOMEM;
	if (static_branch_unlikely(&usw_xen_pv_key)) {
		mem->vaddr = usw_xen_alloc(usw_dev, size, &dma, GFP_KERNEL | __GFP_NOWARN);
		if (!mem->vaddr)
			return -ENOMEM;
		mem->bus = dma_to_phys(usw_dev, dma);
	} else {
		/* Below 4 GiB, like the kernel's own swiotlb, so that 32-bit devices can use it. */
		page = alloc_pages(GFP_KERNEL | GFP_DMA32 | __GFP_NOWARN, get_order(size));
		if (!page)
			return -ENOMEM;
		mem->vaddr = page_address(page);
		mem->bus = page_to_phys(page);
	}
	mem->phys = virt_to_phys(mem->vaddr);
	return 0;
}

/**
 * usw_seg_mem_free() - give back memory from usw_seg_mem_alloc()
 * @pool: the pool, for its segment size
 * @mem: the memory
 */
void usw_seg_mem_free(const struct usw_pool *pool, const struct usw_seg_mem *mem)
{
	size_t size = usw_seg_size(pool);

	if (static_branch_unlikely(&usw_xen_pv_key))
		usw_xen_free(usw_dev, size, mem->vaddr, phys_to_dma(usw_dev, mem->bus));
	else
		__free_pages(virt_to_page(mem->vaddr), get_order(size));
}

/**
 * usw_pool_create() - allocate the pool's memory and tables
 * @pool: the pool, zeroed
 * @seg_shift: log2 of the slots in a segment
 * @bytes: pool size, a multiple of the segment size
 * @max_bytes: the most the pool may grow to, at least @bytes
 *
 * Return: 0 or a negative errno; nothing is left allocated on failure.
 */
int usw_pool_create(struct usw_pool *pool, unsigned int seg_shift, unsigned long bytes,
		    unsigned long max_bytes)
{
	unsigned int shift = seg_shift + USW_SLOT_SHIFT;
	unsigned int nsegs = bytes >> shift, i;
	struct usw_seg_mem *mem;
	int ret;

	ret = usw_pool_init(pool, seg_shift, USW_POOL_MAX >> shift,
			    min(num_possible_cpus(), (unsigned int)(max_bytes >> shift)));
	if (ret)
		return ret;
	mem = kvcalloc(nsegs, sizeof(*mem), GFP_KERNEL);
	if (!mem) {
		usw_pool_destroy(pool);
		return -ENOMEM;
	}
	for (i = 0; i < nsegs; i++) {
		ret = usw_seg_mem_alloc(pool, &mem[i]);
		if (ret) {
			pr_err("uswiotlb: out of memory for pool segment %u of %u (%zu KiB each%s)\n",
			       i, nsegs, usw_seg_size(pool) >> 10,
			       static_branch_unlikely(&usw_xen_pv_key) ?
			       ", machine-contiguous from Xen" : "");
			goto fail;
		}
	}
	ret = usw_pool_add(pool, mem, nsegs);
	if (!ret) {
		kvfree(mem);
		return 0;
	}
	pr_err("uswiotlb: cannot index the pool's segments: %d\n", ret);
fail:
	while (i--)
		usw_seg_mem_free(pool, &mem[i]);
	kvfree(mem);
	usw_pool_destroy(pool);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(usw_pool_create);

/**
 * usw_pool_release() - free a pool made by usw_pool_create()
 * @pool: the pool
 *
 * A pool still holding mappings is leaked instead, as a device may still write to it.
 */
void usw_pool_release(struct usw_pool *pool)
{
	unsigned long used = usw_pool_used(pool);
	unsigned int i;

	if (used) {
		pr_err("uswiotlb: %lu slots still mapped; leaking the pool, a device may write it\n",
		       used);
		return;
	}
	for (i = 0; i < pool->max_segs; i++) {
		struct usw_seg *seg = pool->segs[i];
		struct usw_seg_mem mem;

		if (!seg)
			continue;
		mem = (struct usw_seg_mem){ seg->vaddr, seg->phys, seg->bus };
		usw_seg_mem_free(pool, &mem);
	}
	usw_pool_destroy(pool);
}
EXPORT_SYMBOL_IF_KUNIT(usw_pool_release);

/*
 * A device that does not snoop caches must see the CPU's writes to "coherent" memory at once:
 * map it uncached, after writing back and dropping whatever the linear map holds for it.
 * vmap() may sleep: only for callers that may.
 */
static void *usw_map_uncached(struct page *page, size_t size, gfp_t gfp)
{
	unsigned int i, n = PAGE_ALIGN(size) >> PAGE_SHIFT;
	struct page **pages = kmalloc_array(n, sizeof(*pages), gfp);
	const struct usw_cache_hooks *hooks = READ_ONCE(usw_cache_hooks);
	void *vaddr;

	if (!pages)
		return NULL;
	for (i = 0; i < n; i++)
		pages[i] = page + i;
	hooks->local(page_to_phys(page), PAGE_ALIGN(size), USW_CACHE_CLEAN);
	hooks->local(page_to_phys(page), PAGE_ALIGN(size), USW_CACHE_INVAL);
	vaddr = vmap(pages, n, VM_MAP, pgprot_dmacoherent(PAGE_KERNEL));
	kfree(pages);
	return vaddr;
}

/*
 * Uncached memory for callers that cannot sleep (dma_pool_alloc() under a spinlock), made
 * ahead like dma-direct's atomic pools. Only where devices can be non-coherent (arm64).
 */
#define USW_ATOMIC_POOL_SIZE	SZ_256K
static struct gen_pool *usw_atomic_pool;
static struct page *usw_atomic_pages;
static void *usw_atomic_vaddr;

/**
 * usw_atomic_pool_init() - set up the uncached pool for non-sleeping coherent allocations
 *
 * Return: 0 or -ENOMEM.
 */
int usw_atomic_pool_init(void)
{
	unsigned int order = get_order(USW_ATOMIC_POOL_SIZE);

	if (!IS_ENABLED(CONFIG_ARM64))
		return 0;
	usw_atomic_pages = alloc_pages(GFP_KERNEL | GFP_DMA32 | __GFP_ZERO, order);
	if (!usw_atomic_pages)
		goto fail;
	usw_atomic_vaddr = usw_map_uncached(usw_atomic_pages, USW_ATOMIC_POOL_SIZE, GFP_KERNEL);
	if (!usw_atomic_vaddr)
		goto fail;
	usw_atomic_pool = gen_pool_create(PAGE_SHIFT, NUMA_NO_NODE);
	if (!usw_atomic_pool)
		goto fail;
	if (!gen_pool_add_virt(usw_atomic_pool, (unsigned long)usw_atomic_vaddr,
			       page_to_phys(usw_atomic_pages), USW_ATOMIC_POOL_SIZE, NUMA_NO_NODE))
		return 0;
fail:
	pr_err("uswiotlb: out of memory for the %u KiB atomic coherent pool\n",
	       USW_ATOMIC_POOL_SIZE >> 10);
	usw_atomic_pool_exit();
	return -ENOMEM;
}

/**
 * usw_atomic_pool_exit() - free the uncached pool, or leak it while any of it is allocated
 */
void usw_atomic_pool_exit(void)
{
	if (usw_atomic_pool &&
	    gen_pool_avail(usw_atomic_pool) != gen_pool_size(usw_atomic_pool)) {
		/* gen_pool_destroy() would BUG on a live allocation; a device may still use it. */
		pr_err("uswiotlb: atomic coherent memory still allocated; leaking that pool\n");
		return;
	}
	if (usw_atomic_pool)
		gen_pool_destroy(usw_atomic_pool);
	if (usw_atomic_vaddr)
		vunmap(usw_atomic_vaddr);
	if (usw_atomic_pages)
		__free_pages(usw_atomic_pages, get_order(USW_ATOMIC_POOL_SIZE));
	usw_atomic_pool = NULL;
	usw_atomic_vaddr = NULL;
	usw_atomic_pages = NULL;
}

static void *usw_alloc_atomic(struct device *dev, size_t size, dma_addr_t *dma)
{
	unsigned long vaddr;

	if (!usw_atomic_pool)
		return NULL;
	vaddr = gen_pool_alloc(usw_atomic_pool, PAGE_ALIGN(size));
	if (!vaddr)
		return NULL;
	*dma = phys_to_dma(dev, gen_pool_virt_to_phys(usw_atomic_pool, vaddr));
	if (*dma + size - 1 > dev->coherent_dma_mask) {
		gen_pool_free(usw_atomic_pool, vaddr, PAGE_ALIGN(size));
		return NULL;
	}
	memset((void *)vaddr, 0, size);
	return (void *)vaddr;
}

static bool usw_free_atomic(void *vaddr, size_t size)
{
	if (!usw_atomic_pool ||
	    !gen_pool_has_addr(usw_atomic_pool, (unsigned long)vaddr, PAGE_ALIGN(size)))
		return false;
	gen_pool_free(usw_atomic_pool, (unsigned long)vaddr, PAGE_ALIGN(size));
	return true;
}

/**
 * usw_alloc() - dma_map_ops.alloc: coherent memory the device reaches without bouncing
 * @dev: the device
 * @size: bytes wanted
 * @dma: returns the device address
 * @gfp: allocation flags
 * @attrs: DMA_ATTR_* (none changes what we do: the memory is always mapped in the kernel)
 *
 * Return: the kernel address, or NULL.
 */
void *usw_alloc(struct device *dev, size_t size, dma_addr_t *dma, gfp_t gfp, unsigned long attrs)
{
	u64 mask = dev->coherent_dma_mask;
	unsigned int order = get_order(size);
	gfp_t zones[] = { 0, GFP_DMA32, GFP_DMA };
	unsigned int i;

	if (static_branch_unlikely(&usw_xen_pv_key))
		return usw_xen_alloc(dev, size, dma, gfp);
	if (!dev_is_dma_coherent(dev) && !gfpflags_allow_blocking(gfp))
		return usw_alloc_atomic(dev, size, dma);

	/* Try the normal zone first, then ever lower zones until the device reaches it. */
	gfp &= ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
	for (i = 0; i < ARRAY_SIZE(zones); i++) {
		struct page *page;

		if ((zones[i] & GFP_DMA32) && !IS_ENABLED(CONFIG_ZONE_DMA32))
			continue;
		if ((zones[i] & GFP_DMA) && !IS_ENABLED(CONFIG_ZONE_DMA))
			continue;
		page = alloc_pages_node(dev_to_node(dev), gfp | zones[i] | __GFP_ZERO, order);
		if (!page)
			continue;
		*dma = phys_to_dma(dev, page_to_phys(page));
		if (*dma + size - 1 <= mask) {
			void *vaddr = dev_is_dma_coherent(dev) ? page_address(page) :
				      usw_map_uncached(page, size, gfp);

			if (vaddr)
				return vaddr;
		}
		__free_pages(page, order);
	}
	return NULL;
}

/**
 * usw_free() - dma_map_ops.free
 * @dev: the device
 * @size: size given to usw_alloc()
 * @vaddr: address usw_alloc() returned
 * @dma: device address usw_alloc() returned
 * @attrs: DMA_ATTR_*
 */
void usw_free(struct device *dev, size_t size, void *vaddr, dma_addr_t dma, unsigned long attrs)
{
	if (static_branch_unlikely(&usw_xen_pv_key)) {
		usw_xen_free(dev, size, vaddr, dma);
	} else if (usw_free_atomic(vaddr, size)) {
		return;
	} else if (is_vmalloc_addr(vaddr)) {
		struct page *page = vmalloc_to_page(vaddr);

		/* No uncached alias may outlive the pages: they go back to the allocator. */
		vunmap(vaddr);
		__free_pages(page, get_order(size));
	} else {
		__free_pages(virt_to_page(vaddr), get_order(size));
	}
}

/* The first page of an allocation from usw_alloc(). */
static struct page *usw_alloc_page(void *cpu_addr)
{
	return is_vmalloc_addr(cpu_addr) ? vmalloc_to_page(cpu_addr) : virt_to_page(cpu_addr);
}

/**
 * usw_mmap() - dma_map_ops.mmap for memory from usw_alloc()
 * @dev: the device
 * @vma: the user mapping
 * @cpu_addr: kernel address from usw_alloc()
 * @dma: device address from usw_alloc()
 * @size: size of the allocation
 * @attrs: DMA_ATTR_*
 *
 * Return: 0, or -ENXIO if @vma does not fit inside the allocation.
 */
int usw_mmap(struct device *dev, struct vm_area_struct *vma, void *cpu_addr, dma_addr_t dma,
	     size_t size, unsigned long attrs)
{
	unsigned long count = PAGE_ALIGN(size) >> PAGE_SHIFT;
	unsigned long user = vma_pages(vma);
	unsigned long pfn = page_to_pfn(usw_alloc_page(cpu_addr)) + vma->vm_pgoff;

	if (vma->vm_pgoff >= count || user > count - vma->vm_pgoff)
		return -ENXIO;
	if (!dev_is_dma_coherent(dev))
		vma->vm_page_prot = pgprot_dmacoherent(vma->vm_page_prot);
	return remap_pfn_range(vma, vma->vm_start, pfn, user << PAGE_SHIFT, vma->vm_page_prot);
}

/**
 * usw_get_sgtable() - dma_map_ops.get_sgtable for memory from usw_alloc()
 * @dev: the device
 * @sgt: the table to fill, one entry
 * @cpu_addr: kernel address from usw_alloc()
 * @dma: device address from usw_alloc()
 * @size: size of the allocation
 * @attrs: DMA_ATTR_*
 *
 * Return: 0 or -ENOMEM.
 */
int usw_get_sgtable(struct device *dev, struct sg_table *sgt, void *cpu_addr, dma_addr_t dma,
		    size_t size, unsigned long attrs)
{
	int ret = sg_alloc_table(sgt, 1, GFP_KERNEL);

	if (!ret)
		sg_set_page(sgt->sgl, usw_alloc_page(cpu_addr), PAGE_ALIGN(size), 0);
	return ret;
}
