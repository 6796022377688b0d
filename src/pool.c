// SPDX-License-Identifier: GPL-2.0
/*
 * uswiotlb bounce pool: slot allocator and translation tables. See pool.h for the data
 * structures. Pure logic: also built in userspace by the host tests in tools/.
 */
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/mm.h>

#include "pool.h"

/**
 * usw_pool_init() - allocate the bookkeeping of a pool
 * @pool: the pool, zeroed by the caller
 * @nsegs: number of segments, at least 1
 * @nareas: wanted number of areas; rounded down to a power of two and to at most @nsegs
 *
 * The caller then fills in @pool->segs[i].vaddr, .phys and .bus for every segment and calls
 * usw_pool_index() before the pool is used.
 *
 * Return: 0, -EINVAL for no segments, or -ENOMEM.
 */
int usw_pool_init(struct usw_pool *pool, unsigned int nsegs, unsigned int nareas)
{
	unsigned int a;

	/* Slot indices are returned as int by usw_pool_alloc(). */
	if (!nsegs || nsegs > INT_MAX / USW_SEG_SLOTS)
		return -EINVAL;
	nareas = rounddown_pow_of_two(clamp(nareas, 1U, nsegs));

	pool->nsegs = nsegs;
	pool->nslots = nsegs * USW_SEG_SLOTS;
	pool->nareas = nareas;
	pool->by_bus = RB_ROOT;
	pool->segs = kcalloc(nsegs, sizeof(*pool->segs), GFP_KERNEL);
	pool->slots = kvcalloc(pool->nslots, sizeof(*pool->slots), GFP_KERNEL);
	pool->areas = kcalloc(nareas, sizeof(*pool->areas), GFP_KERNEL);
	if (!pool->segs || !pool->slots || !pool->areas) {
		usw_pool_destroy(pool);
		return -ENOMEM;
	}

	for (a = 0; a < nareas; a++) {
		unsigned int s0 = (unsigned int)((u64)a * nsegs / nareas);
		unsigned int s1 = (unsigned int)((u64)(a + 1) * nsegs / nareas);
		struct usw_area *area = &pool->areas[a];
		unsigned int s;

		spin_lock_init(&area->lock);
		area->first = s0 * USW_SEG_SLOTS;
		area->nslots = (s1 - s0) * USW_SEG_SLOTS;
		for (s = s0; s < s1; s++)
			pool->segs[s].area = a;
	}
	return 0;
}

static int usw_pool_insert(struct usw_pool *pool, struct usw_seg *seg)
{
	struct rb_node **link = &pool->by_bus.rb_node, *parent = NULL;

	while (*link) {
		struct usw_seg *other = rb_entry(*link, struct usw_seg, node);

		parent = *link;
		if (seg->bus + USW_SEG_SIZE <= other->bus)
			link = &parent->rb_left;
		else if (seg->bus >= other->bus + USW_SEG_SIZE)
			link = &parent->rb_right;
		else
			return -EINVAL;
	}
	rb_link_node(&seg->node, parent, link);
	rb_insert_color(&seg->node, &pool->by_bus);
	return 0;
}

/**
 * usw_pool_index() - build the translation tables and free lists once the segments are known
 * @pool: a pool set up by usw_pool_init() whose segment addresses are filled in
 *
 * Return: 0, or -EINVAL if a segment's bus address is not slot aligned, wraps around, or
 * overlaps another segment in bus space.
 */
int usw_pool_index(struct usw_pool *pool)
{
	unsigned int i;

	pool->by_bus = RB_ROOT;
	pool->bus_lo = (dma_addr_t)-1;
	pool->bus_hi = 0;
	for (i = 0; i < pool->nsegs; i++) {
		struct usw_seg *seg = &pool->segs[i];

		if (seg->bus & (USW_SLOT_SIZE - 1) || seg->bus + USW_SEG_SIZE < seg->bus ||
		    usw_pool_insert(pool, seg))
			return -EINVAL;
		pool->bus_lo = min(pool->bus_lo, seg->bus);
		pool->bus_hi = max(pool->bus_hi, seg->bus + USW_SEG_SIZE);
	}

	for (i = 0; i < pool->nslots; i++) {
		pool->slots[i] = (struct usw_slot){
			.free = USW_SEG_SLOTS - i % USW_SEG_SLOTS,
		};
	}
	for (i = 0; i < pool->nareas; i++) {
		pool->areas[i].index = 0;
		pool->areas[i].used = 0;
		pool->areas[i].peak = 0;
	}
	return 0;
}

/**
 * usw_pool_destroy() - free the bookkeeping (not the segments' memory, which the caller owns)
 * @pool: the pool
 */
void usw_pool_destroy(struct usw_pool *pool)
{
	kfree(pool->segs);
	kvfree(pool->slots);
	kfree(pool->areas);
	pool->segs = NULL;
	pool->slots = NULL;
	pool->areas = NULL;
	pool->nsegs = 0;
	pool->nslots = 0;
}

/**
 * usw_pool_max_mapping() - largest mapping the pool can always place
 * @min_align_mask: the device's min_align_mask
 *
 * A mapping lives in one segment; keeping address bits under @min_align_mask may cost up to
 * that many bytes at its start, or all of it for masks wider than a segment.
 *
 * Return: the size in bytes, 0 if nothing can be placed.
 */
size_t usw_pool_max_mapping(unsigned int min_align_mask)
{
	size_t lost = round_up((size_t)min_align_mask, USW_SLOT_SIZE);

	return lost < USW_SEG_SIZE ? USW_SEG_SIZE - lost : 0;
}

static bool usw_run_fits(const struct usw_pool *pool, unsigned int slot, unsigned int n,
			 const struct usw_req *req)
{
	dma_addr_t bus = usw_slot_bus(pool, slot);
	dma_addr_t last = bus + ((dma_addr_t)n << USW_SLOT_SHIFT) - 1;
	u64 match = req->min_align_mask & ~(USW_SLOT_SIZE - 1);

	return !((bus ^ req->orig) & match) && !(bus & req->alloc_align_mask) &&
	       !((bus ^ last) & ~(u64)req->boundary_mask);
}

/* Mark @n slots from @slot as one mapping and shorten the free run in front of it. */
static void usw_take(struct usw_pool *pool, unsigned int slot, unsigned int n,
		     const struct usw_req *req, unsigned int offset)
{
	unsigned int seg_start = round_down(slot, USW_SEG_SLOTS);
	unsigned int i;

	for (i = 0; i < n; i++) {
		pool->slots[slot + i].free = 0;
		pool->slots[slot + i].head = i;
	}
	pool->slots[slot].orig = req->orig;
	pool->slots[slot].size = req->size;
	pool->slots[slot].offset = offset;

	for (i = slot; i > seg_start && pool->slots[i - 1].free; i--)
		pool->slots[i - 1].free = slot - (i - 1);
}

/* Slots taken by the mapping whose head slot is @h. */
static unsigned int usw_head_slots(const struct usw_slot *h)
{
	return DIV_ROUND_UP(h->offset + h->size, USW_SLOT_SIZE);
}

/*
 * How far the scan may move on from @slot, which cannot start a mapping of @n slots, without
 * passing one that could: past the rest of a segment too short for @n (mappings never cross
 * segments), past the rest of the mapping @slot belongs to, or past a free run shorter than @n.
 */
static unsigned int usw_scan_step(const struct usw_pool *pool, unsigned int slot, unsigned int n)
{
	unsigned int left = USW_SEG_SLOTS - slot % USW_SEG_SLOTS;
	const struct usw_slot *s = &pool->slots[slot];

	if (left < n)
		return left;
	if (!s->free)
		return usw_head_slots(s - s->head) - s->head;
	return s->free < n ? s->free : 1;
}

static int usw_area_alloc(struct usw_pool *pool, struct usw_area *area,
			  const struct usw_req *req, unsigned int n, unsigned int offset)
{
	unsigned int j, tried = 0;
	unsigned long flags;
	int found = -ENOSPC;

	spin_lock_irqsave(&area->lock, flags);
	if (area->nslots - area->used < n)
		goto out;

	j = area->index;
	while (tried < area->nslots) {
		unsigned int slot = area->first + j;
		unsigned int step;

		if (pool->slots[slot].free >= n && usw_run_fits(pool, slot, n, req)) {
			usw_take(pool, slot, n, req, offset);
			WRITE_ONCE(area->used, area->used + n);
			if (area->used > area->peak)
				WRITE_ONCE(area->peak, area->used);
			area->index = j + n < area->nslots ? j + n : 0;
			found = slot;
			break;
		}
		step = usw_scan_step(pool, slot, n);
		tried += step;
		j += step;
		if (j >= area->nslots)
			j = 0;
	}
out:
	spin_unlock_irqrestore(&area->lock, flags);
	return found;
}

/**
 * usw_pool_alloc() - find and take slots for a mapping
 * @pool: the pool
 * @req: what the mapping needs
 * @area: area to try first, usually the current CPU's number; any value is accepted
 *
 * Return: the mapping's head slot (its bus address is usw_mapping_bus()), -EINVAL if @req can
 * never be satisfied (empty, or larger than usw_pool_max_mapping()), or -ENOSPC if no area has
 * room now.
 */
int usw_pool_alloc(struct usw_pool *pool, const struct usw_req *req, unsigned int area)
{
	unsigned int offset = req->orig & req->min_align_mask & (USW_SLOT_SIZE - 1);
	unsigned int n, i;

	if (!req->size || req->size > usw_pool_max_mapping(req->min_align_mask))
		return -EINVAL;
	n = DIV_ROUND_UP(offset + req->size, USW_SLOT_SIZE);

	for (i = 0; i < pool->nareas; i++) {
		unsigned int a = (area + i) & (pool->nareas - 1);
		int slot = usw_area_alloc(pool, &pool->areas[a], req, n, offset);

		if (slot >= 0)
			return slot;
	}
	return -ENOSPC;
}

/**
 * usw_pool_free() - release a mapping's slots
 * @pool: the pool
 * @head: the mapping's head slot
 *
 * Return: true if @head was the head of a live mapping and its slots are free now; false if it
 * was not (nothing is changed then).
 */
bool usw_pool_free(struct usw_pool *pool, unsigned int head)
{
	unsigned int seg_start = round_down(head, USW_SEG_SLOTS);
	unsigned int seg_end = seg_start + USW_SEG_SLOTS;
	struct usw_area *area = &pool->areas[pool->segs[head / USW_SEG_SLOTS].area];
	struct usw_slot *h = &pool->slots[head];
	unsigned int n, i, count, rel = head - area->first;
	unsigned long flags;

	spin_lock_irqsave(&area->lock, flags);
	if (h->free || h->head || !h->size) {
		spin_unlock_irqrestore(&area->lock, flags);
		return false;
	}
	n = usw_head_slots(h);
	h->orig = 0;
	h->size = 0;
	h->offset = 0;

	/* Merge with the free run behind and then in front, within the segment only. */
	count = head + n < seg_end ? pool->slots[head + n].free : 0;
	for (i = head + n; i > head; i--) {
		pool->slots[i - 1].free = ++count;
		pool->slots[i - 1].head = 0;
	}
	for (i = head; i > seg_start && pool->slots[i - 1].free; i--)
		pool->slots[i - 1].free = ++count;
	WRITE_ONCE(area->used, area->used - n);
	/*
	 * An empty area places from its start: a scatterlist that fills it would not fit if the
	 * cursor split it across the wrap, and its driver would retry from there forever.
	 * Otherwise, if the newest mapping here went first (a map/unmap pair), the cursor moves
	 * back so the next map reuses these slots while they are still in the cache and the TLB.
	 */
	if (!area->used)
		area->index = 0;
	else if ((rel + n < area->nslots ? rel + n : 0) == area->index)
		area->index = rel;
	spin_unlock_irqrestore(&area->lock, flags);
	return true;
}

/**
 * usw_pool_find_seg() - the bus-to-phys lookup: which segment holds a bus address
 * @pool: the pool
 * @bus: a bus address
 *
 * Return: the segment, or NULL if @bus is not pool memory.
 */
struct usw_seg *usw_pool_find_seg(const struct usw_pool *pool, dma_addr_t bus)
{
	struct rb_node *node = pool->by_bus.rb_node;

	if (!usw_pool_may_contain(pool, bus))
		return NULL;
	while (node) {
		struct usw_seg *seg = rb_entry(node, struct usw_seg, node);

		if (bus < seg->bus)
			node = node->rb_left;
		else if (bus - seg->bus >= USW_SEG_SIZE)
			node = node->rb_right;
		else
			return seg;
	}
	return NULL;
}

/**
 * usw_pool_resolve() - find the live mapping that covers a bus address range
 * @pool: the pool
 * @bus: first bus address of the range
 * @size: length of the range in bytes
 * @ref: filled in on success
 *
 * Takes no lock: the caller owns the mapping it names, so its slots cannot change under us.
 *
 * Return: 0; -ENOENT if @bus is not pool memory (a direct mapping); -EINVAL if it is pool
 * memory but [@bus, @bus + @size) is not inside one live mapping.
 */
int usw_pool_resolve(const struct usw_pool *pool, dma_addr_t bus, size_t size,
		     struct usw_ref *ref)
{
	const struct usw_seg *seg = usw_pool_find_seg(pool, bus);
	unsigned int slot, back, head;
	const struct usw_slot *h;
	dma_addr_t start;
	u64 off;

	if (!seg)
		return -ENOENT;
	slot = (seg - pool->segs) * USW_SEG_SLOTS + ((bus - seg->bus) >> USW_SLOT_SHIFT);
	back = READ_ONCE(pool->slots[slot].head);
	if (READ_ONCE(pool->slots[slot].free) || back > slot % USW_SEG_SLOTS)
		return -EINVAL;
	head = slot - back;
	h = &pool->slots[head];
	start = usw_slot_bus(pool, head) + h->offset;
	off = bus - start;
	if (bus < start || off > h->size || size > h->size - off)
		return -EINVAL;

	ref->head = head;
	ref->bounce = (char *)usw_slot_vaddr(pool, head) + h->offset + off;
	ref->orig = h->orig + off;
	return 0;
}

/**
 * usw_pool_reset_hiwater() - restart the high-water mark from the current use
 * @pool: the pool
 */
void usw_pool_reset_hiwater(struct usw_pool *pool)
{
	unsigned int a;

	for (a = 0; a < pool->nareas; a++) {
		struct usw_area *area = &pool->areas[a];
		unsigned long flags;

		spin_lock_irqsave(&area->lock, flags);
		WRITE_ONCE(area->peak, area->used);
		spin_unlock_irqrestore(&area->lock, flags);
	}
}
