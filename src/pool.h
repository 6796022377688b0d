/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uswiotlb bounce pool: slot allocator and translation tables.
 *
 * The pool is a set of segments of USW_SEG_SLOTS slots of USW_SLOT_SIZE bytes. A segment is
 * contiguous in CPU-physical and in bus address space, but segments need not be contiguous with
 * each other: in a Xen PV domain each one is a separately exchanged machine-contiguous extent.
 *
 *   segs[]   per segment: kernel virtual, physical and bus address of its first byte. This is
 *            the phys-to-bus array: the bus address of slot i is
 *            segs[i / USW_SEG_SLOTS].bus + (i % USW_SEG_SLOTS) * USW_SLOT_SIZE.
 *   by_bus   rbtree of the segments keyed by bus address. It answers "which slot is this dma
 *            address", the only bus-to-phys translation an auto-translated guest has. It is
 *            built once and never changed, so lookups take no lock.
 *   slots[]  per slot: the length of the free run starting there, and for a mapping's first
 *            slot the original buffer's address, the mapping size and its offset into the slot.
 *   areas[]  the slot space is cut into areas of whole segments, each with its own lock and
 *            next-fit cursor, so that CPUs mapping at the same time rarely contend. The cursor
 *            steps back over a map/unmap pair (cache-hot slots) and to the start of an area
 *            that empties (a request that fills the area must fit in it).
 *
 * A mapping is a run of slots within one segment. slots[i].free is the number of free slots
 * from i to the end of i's segment, 0 when slot i is in use, so a candidate run is tested in
 * O(1) and freeing only rewrites the runs of its own segment.
 *
 * This file and pool.c are pure logic: no hardware, arch or Xen calls, so that KUnit and the
 * host tests in tools/ drive them directly.
 */
#ifndef _USWIOTLB_POOL_H
#define _USWIOTLB_POOL_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/compiler.h>
#include <linux/cache.h>

#define USW_SLOT_SHIFT	11
#define USW_SLOT_SIZE	BIT(USW_SLOT_SHIFT)
#define USW_SEG_SLOTS	128
#define USW_SEG_SIZE	(USW_SEG_SLOTS * USW_SLOT_SIZE)

/**
 * struct usw_slot - state of one 2 KiB slot
 * @orig: physical address of the original buffer (mapping head only)
 * @size: size of the mapping in bytes (mapping head only)
 * @offset: offset of the mapping's first byte into the head slot (mapping head only)
 * @free: free slots from here to the end of the segment; 0 if this slot is in use
 * @head: distance in slots back to the head of the mapping using this slot
 */
struct usw_slot {
	phys_addr_t orig;
	u32 size;
	u16 offset;
	u8 free;
	u8 head;
};

/**
 * struct usw_seg - one segment of the pool
 * @vaddr: kernel virtual address of the first byte
 * @phys: CPU physical address of the first byte
 * @bus: bus (device) address of the first byte
 * @node: entry in &usw_pool.by_bus
 * @area: index of the area this segment belongs to
 */
struct usw_seg {
	void *vaddr;
	phys_addr_t phys;
	dma_addr_t bus;
	struct rb_node node;
	unsigned int area;
};

/**
 * struct usw_area - a run of whole segments with its own lock
 * @lock: protects the slots of this area and @index and @used
 * @first: first slot of the area
 * @nslots: number of slots in the area
 * @index: next-fit cursor, relative to @first; 0 whenever the area is empty
 * @used: slots in use
 * @peak: most slots in use at once since the last usw_pool_reset_hiwater()
 *
 * Use is counted per area, under its lock: a pool-wide atomic would be written by every map
 * and unmap on every CPU, and that one cache line would be all the CPUs share.
 */
struct usw_area {
	spinlock_t lock; /* see above */
	unsigned int first;
	unsigned int nslots;
	unsigned int index;
	unsigned int used;
	unsigned int peak;
} ____cacheline_aligned_in_smp;

/**
 * struct usw_pool - the bounce pool
 * @nsegs: number of segments
 * @nslots: number of slots, @nsegs * USW_SEG_SLOTS
 * @nareas: number of areas, a power of two
 * @segs: the segments, in slot order
 * @slots: the slots
 * @areas: the areas
 * @by_bus: the segments keyed by bus address
 * @bus_lo: lowest bus address in the pool
 * @bus_hi: one past the highest bus address in the pool
 */
struct usw_pool {
	unsigned int nsegs;
	unsigned int nslots;
	unsigned int nareas;
	struct usw_seg *segs;
	struct usw_slot *slots;
	struct usw_area *areas;
	struct rb_root by_bus;
	dma_addr_t bus_lo;
	dma_addr_t bus_hi;
};

/**
 * struct usw_req - what a mapping needs from the pool
 * @orig: physical address of the original buffer
 * @size: bytes to map, at least 1
 * @min_align_mask: bus address bits under this mask must equal those of @orig
 * @alloc_align_mask: bus address of the first slot must be aligned to this mask + 1
 * @boundary_mask: the slots must not cross a multiple of this mask + 1 in bus space
 */
struct usw_req {
	phys_addr_t orig;
	size_t size;
	unsigned int min_align_mask;
	unsigned int alloc_align_mask;
	unsigned long boundary_mask;
};

/**
 * struct usw_ref - a resolved reference into a live mapping
 * @head: slot index of the mapping's first slot
 * @bounce: kernel virtual address of the referenced byte in the pool
 * @orig: physical address of the corresponding byte of the original buffer
 */
struct usw_ref {
	unsigned int head;
	void *bounce;
	phys_addr_t orig;
};

int usw_pool_init(struct usw_pool *pool, unsigned int nsegs, unsigned int nareas);
int usw_pool_index(struct usw_pool *pool);
void usw_pool_destroy(struct usw_pool *pool);
size_t usw_pool_max_mapping(unsigned int min_align_mask);
int usw_pool_alloc(struct usw_pool *pool, const struct usw_req *req, unsigned int area);
bool usw_pool_free(struct usw_pool *pool, unsigned int head);
struct usw_seg *usw_pool_find_seg(const struct usw_pool *pool, dma_addr_t bus);
int usw_pool_resolve(const struct usw_pool *pool, dma_addr_t bus, size_t size,
		     struct usw_ref *ref);
void usw_pool_reset_hiwater(struct usw_pool *pool);

/* The phys-to-bus array, O(1) for any slot. */
static inline dma_addr_t usw_slot_bus(const struct usw_pool *pool, unsigned int slot)
{
	return pool->segs[slot / USW_SEG_SLOTS].bus +
	       ((dma_addr_t)(slot % USW_SEG_SLOTS) << USW_SLOT_SHIFT);
}

static inline phys_addr_t usw_slot_phys(const struct usw_pool *pool, unsigned int slot)
{
	return pool->segs[slot / USW_SEG_SLOTS].phys +
	       ((phys_addr_t)(slot % USW_SEG_SLOTS) << USW_SLOT_SHIFT);
}

static inline void *usw_slot_vaddr(const struct usw_pool *pool, unsigned int slot)
{
	return (char *)pool->segs[slot / USW_SEG_SLOTS].vaddr +
	       ((slot % USW_SEG_SLOTS) << USW_SLOT_SHIFT);
}

/* Bus address of the first byte of the mapping whose head slot is @head. */
static inline dma_addr_t usw_mapping_bus(const struct usw_pool *pool, unsigned int head)
{
	return usw_slot_bus(pool, head) + pool->slots[head].offset;
}

/* Cheap test first: most addresses a fast-path unmap sees are far outside the pool. */
static inline bool usw_pool_may_contain(const struct usw_pool *pool, dma_addr_t bus)
{
	return bus >= pool->bus_lo && bus < pool->bus_hi;
}

/**
 * usw_pool_used() - slots in use
 * @pool: the pool
 *
 * Return: the sum over the areas, read without their locks: exact while no map or unmap runs.
 */
static inline unsigned long usw_pool_used(const struct usw_pool *pool)
{
	unsigned long sum = 0;
	unsigned int a;

	for (a = 0; a < pool->nareas; a++)
		sum += READ_ONCE(pool->areas[a].used);
	return sum;
}

/**
 * usw_pool_hiwater() - high-water mark of the pool's use
 * @pool: the pool
 *
 * Each area keeps its own peak, so this is the sum of the areas' peaks since the last reset:
 * never below the most slots ever in use at once, exact when one area did all the work, and
 * at most the pool's size.
 *
 * Return: that sum.
 */
static inline unsigned long usw_pool_hiwater(const struct usw_pool *pool)
{
	unsigned long sum = 0;
	unsigned int a;

	for (a = 0; a < pool->nareas; a++)
		sum += READ_ONCE(pool->areas[a].peak);
	return sum;
}

#endif /* _USWIOTLB_POOL_H */
