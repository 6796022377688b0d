/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uswiotlb bounce pool: slot allocator and translation tables.
 *
 * The pool is a set of segments of 2^seg_shift slots of USW_SLOT_SIZE bytes (256 KiB to
 * 2 MiB). A segment is contiguous in CPU-physical and in bus address space, but segments need
 * not be contiguous with each other: in a Xen PV domain each one is a separately exchanged
 * machine-contiguous extent. Segments come and go while the pool is in use (usw_pool_add(),
 * usw_pool_retire(), usw_pool_reap()); a live mapping never moves.
 *
 *   segs[]   per segment id: the segment, or NULL. The id is the high part of a slot number,
 *            so this is the phys-to-bus array: the bus address of slot i is
 *            segs[i >> seg_shift]->bus + (i & (2^seg_shift - 1)) * USW_SLOT_SIZE.
 *   index    rbtree of the segments keyed by bus address. It answers "which slot is this dma
 *            address", the only bus-to-phys translation an auto-translated guest has. It is
 *            rebuilt whole and published under RCU whenever a segment comes or goes, so
 *            lookups take no lock, only an RCU read-side section.
 *   slots[]  per segment, per slot: the free run starting there or the distance back to its
 *            mapping's head, and for a mapping's head the original buffer's address, the
 *            mapping size and its offset into the slot.
 *   areas[]  the segments are shared out among areas, each with its own lock, list of
 *            segments and next-fit cursor, so that CPUs mapping at the same time rarely
 *            contend. The cursor steps back over a map/unmap pair (cache-hot slots) and to the
 *            start of an area that empties (a request that fills the area must fit in it).
 *
 * A mapping is a run of slots within one segment. A free slot records the number of free slots
 * from it to the end of its segment, so a candidate run is tested in O(1) and freeing only
 * rewrites the runs of its own segment.
 *
 * A retiring segment has left its area's list: nothing new is placed in it, its mappings
 * unmap as usual, and usw_pool_reap() takes it out once it is empty. Callers serialize
 * usw_pool_add(), usw_pool_retire*() and usw_pool_reap() among themselves; map, unmap and
 * lookups run concurrently with all of them.
 *
 * This file and pool.c are pure logic: no hardware, arch or Xen calls, so that KUnit and the
 * host tests in tools/ drive them directly.
 */
#ifndef _USWIOTLB_POOL_H
#define _USWIOTLB_POOL_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/compiler.h>
#include <linux/cache.h>

#define USW_SLOT_SHIFT		11
#define USW_SLOT_SIZE		BIT(USW_SLOT_SHIFT)
#define USW_SEG_SHIFT_MIN	7	/* 128 slots: 256 KiB, as swiotlb's IO_TLB_SEGSIZE */
#define USW_SEG_SHIFT_MAX	10	/* 1024 slots: 2 MiB, Xen PV's largest exchange (order 9) */
#define USW_SLOT_USED		BIT(15)

/**
 * struct usw_slot - state of one 2 KiB slot
 * @orig: physical address of the original buffer (mapping head only)
 * @size: size of the mapping in bytes (mapping head only)
 * @offset: offset of the mapping's first byte into the head slot (mapping head only)
 * @state: if free, the number of free slots from here to the end of the segment; if in use,
 *	   USW_SLOT_USED | the distance in slots back to the head of its mapping
 *
 * One u16 for both keeps a slot at 16 bytes with segments of up to 1024 slots, and lets a
 * lock-free reader see "free or which head" in one load.
 */
struct usw_slot {
	phys_addr_t orig;
	u32 size;
	u16 offset;
	u16 state;
};

static inline unsigned int usw_slot_free(u16 state)
{
	return state & USW_SLOT_USED ? 0 : state;
}

static inline unsigned int usw_slot_back(u16 state)
{
	return state & ~USW_SLOT_USED;
}

/**
 * struct usw_seg - one segment of the pool
 * @vaddr: kernel virtual address of the first byte
 * @phys: CPU physical address of the first byte
 * @bus: bus (device) address of the first byte
 * @id: index in &usw_pool.segs; its slots are numbered from @id << seg_shift
 * @area: index of the area this segment belongs to
 * @pos: position in that area's list while not retiring
 * @used: slots in use, under the area's lock
 * @retiring: out of its area's list, waiting to be empty
 * @touched: new, or a mapping was placed here, since usw_pool_retire_idle() last looked
 * @slots: its slots
 */
struct usw_seg {
	void *vaddr;
	phys_addr_t phys;
	dma_addr_t bus;
	unsigned int id;
	unsigned int area;
	unsigned int pos;
	unsigned int used;
	bool retiring;
	bool touched;
	struct usw_slot slots[];
};

/**
 * struct usw_seg_mem - memory for a new segment, given to usw_pool_add()
 * @vaddr: kernel virtual address of its first byte
 * @phys: CPU physical address
 * @bus: bus address
 */
struct usw_seg_mem {
	void *vaddr;
	phys_addr_t phys;
	dma_addr_t bus;
};

/**
 * struct usw_area - a set of segments with its own lock
 * @lock: protects this area's list, @index, @used, @avail, @peak, and the slots and @used of
 *	  its segments, retiring ones included
 * @ids: segment ids in placement order, @nsegs of them
 * @nsegs: segments in @ids
 * @index: next-fit cursor, a slot number relative to the list; 0 whenever the area is empty
 * @used: slots in use in this area's segments, retiring ones included
 * @avail: free slots in the segments of @ids
 * @peak: most slots in use at once since the last usw_pool_reset_hiwater()
 *
 * Use is counted per area, under its lock: a pool-wide atomic would be written by every map
 * and unmap on every CPU, and that one cache line would be all the CPUs share.
 */
struct usw_area {
	spinlock_t lock; /* see above */
	unsigned int *ids;
	unsigned int nsegs;
	unsigned int index;
	unsigned int used;
	unsigned int avail;
	unsigned int peak;
} ____cacheline_aligned_in_smp;

/**
 * struct usw_index - the bus-to-segment lookup, replaced whole under RCU
 * @root: rbtree of @nodes keyed by the segments' bus addresses
 * @nodes: one per segment, with its bus address, so that a walk reads nothing else
 */
struct usw_index {
	struct rb_root root;
	struct usw_index_node {
		struct rb_node node;
		dma_addr_t bus;
		struct usw_seg *seg;
	} nodes[];
};

/**
 * struct usw_pool - the bounce pool
 * @seg_shift: log2 of the slots in a segment
 * @max_segs: size of @segs, the most segments the pool may ever have
 * @nareas: number of areas, a power of two
 * @nsegs: segments in @segs, retiring ones included
 * @nretiring: of those, retiring
 * @segs: the segments by id, NULL where none
 * @areas: the areas
 * @index: the bus lookup
 * @bus_lo: lowest bus address in the pool, or lower
 * @bus_hi: one past the highest bus address in the pool, or higher
 *
 * @bus_lo and @bus_hi only ever err on the wide side, so that a reader that sees either value
 * of a change still finds every live mapping inside them.
 */
struct usw_pool {
	unsigned int seg_shift;
	unsigned int max_segs;
	unsigned int nareas;
	unsigned int nsegs;
	unsigned int nretiring;
	struct usw_seg **segs;
	struct usw_area *areas;
	struct usw_index __rcu *index;
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
 * @head: slot number of the mapping's first slot
 * @bounce: kernel virtual address of the referenced byte in the pool
 * @orig: physical address of the corresponding byte of the original buffer
 */
struct usw_ref {
	unsigned int head;
	void *bounce;
	phys_addr_t orig;
};

int usw_pool_init(struct usw_pool *pool, unsigned int seg_shift, unsigned int max_segs,
		  unsigned int nareas);
void usw_pool_destroy(struct usw_pool *pool);
int usw_pool_add(struct usw_pool *pool, const struct usw_seg_mem *mem, unsigned int n);
unsigned int usw_pool_retire(struct usw_pool *pool, unsigned int keep);
unsigned int usw_pool_retire_idle(struct usw_pool *pool, unsigned int keep);
unsigned int usw_pool_reap(struct usw_pool *pool, struct usw_seg_mem *out, unsigned int max);
size_t usw_pool_max_mapping(const struct usw_pool *pool, unsigned int min_align_mask);
int usw_pool_alloc(struct usw_pool *pool, const struct usw_req *req, unsigned int area);
bool usw_pool_free(struct usw_pool *pool, unsigned int head);
struct usw_seg *usw_pool_find_seg(const struct usw_pool *pool, dma_addr_t bus);
int usw_pool_resolve(const struct usw_pool *pool, dma_addr_t bus, size_t size,
		     struct usw_ref *ref);
void usw_pool_reset_hiwater(struct usw_pool *pool);

static inline unsigned int usw_seg_slots(const struct usw_pool *pool)
{
	return 1U << pool->seg_shift;
}

static inline size_t usw_seg_size(const struct usw_pool *pool)
{
	return (size_t)USW_SLOT_SIZE << pool->seg_shift;
}

/* The segment of a slot of a live mapping, which cannot go away under its owner. */
static inline struct usw_seg *usw_slot_seg(const struct usw_pool *pool, unsigned int slot)
{
	return READ_ONCE(pool->segs[slot >> pool->seg_shift]);
}

static inline struct usw_slot *usw_slot(const struct usw_pool *pool, unsigned int slot)
{
	return &usw_slot_seg(pool, slot)->slots[slot & (usw_seg_slots(pool) - 1)];
}

/* The phys-to-bus array, O(1) for any slot. */
static inline dma_addr_t usw_slot_bus(const struct usw_pool *pool, unsigned int slot)
{
	return usw_slot_seg(pool, slot)->bus +
	       ((dma_addr_t)(slot & (usw_seg_slots(pool) - 1)) << USW_SLOT_SHIFT);
}

static inline phys_addr_t usw_slot_phys(const struct usw_pool *pool, unsigned int slot)
{
	return usw_slot_seg(pool, slot)->phys +
	       ((phys_addr_t)(slot & (usw_seg_slots(pool) - 1)) << USW_SLOT_SHIFT);
}

static inline void *usw_slot_vaddr(const struct usw_pool *pool, unsigned int slot)
{
	return (char *)usw_slot_seg(pool, slot)->vaddr +
	       ((size_t)(slot & (usw_seg_slots(pool) - 1)) << USW_SLOT_SHIFT);
}

/* Bus address of the first byte of the mapping whose head slot is @head. */
static inline dma_addr_t usw_mapping_bus(const struct usw_pool *pool, unsigned int head)
{
	return usw_slot_bus(pool, head) + usw_slot(pool, head)->offset;
}

/* Cheap test first: most addresses a fast-path unmap sees are far outside the pool. */
static inline bool usw_pool_may_contain(const struct usw_pool *pool, dma_addr_t bus)
{
	return bus >= READ_ONCE(pool->bus_lo) && bus < READ_ONCE(pool->bus_hi);
}

/* Slots mappings can be placed in: those of segments that are not retiring. */
static inline unsigned long usw_pool_nslots(const struct usw_pool *pool)
{
	return (unsigned long)(READ_ONCE(pool->nsegs) - READ_ONCE(pool->nretiring)) <<
	       pool->seg_shift;
}

/* The pool's size in bytes: its segments but those retiring (debugfs pool_bytes). */
static inline unsigned long usw_pool_size(const struct usw_pool *pool)
{
	return usw_pool_nslots(pool) << USW_SLOT_SHIFT;
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
 * never below the most slots ever in use at once, and exact when one area did all the work.
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
