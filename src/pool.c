// SPDX-License-Identifier: GPL-2.0
/*
 * uswiotlb bounce pool: slot allocator and translation tables. See pool.h for the data
 * structures. Pure logic: also built in userspace by the host tests in tools/.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/mm.h>

#include "pool.h"

/**
 * usw_pool_init() - allocate the bookkeeping of an empty pool
 * @pool: the pool, zeroed by the caller
 * @seg_shift: log2 of the slots in a segment, USW_SEG_SHIFT_MIN to USW_SEG_SHIFT_MAX
 * @max_segs: the most segments the pool may ever hold, at least 1
 * @nareas: wanted number of areas; rounded down to a power of two and to at most @max_segs
 *
 * Segments then come with usw_pool_add().
 *
 * Return: 0, -EINVAL for a bad shape, or -ENOMEM.
 */
int usw_pool_init(struct usw_pool *pool, unsigned int seg_shift, unsigned int max_segs,
		  unsigned int nareas)
{
	unsigned int a, per_area;

	/* Slot numbers are returned as int by usw_pool_alloc(). */
	if (seg_shift < USW_SEG_SHIFT_MIN || seg_shift > USW_SEG_SHIFT_MAX || !max_segs ||
	    max_segs > ((unsigned int)INT_MAX >> seg_shift))
		return -EINVAL;
	nareas = rounddown_pow_of_two(clamp(nareas, 1U, max_segs));
	/* A new segment goes to the area with the fewest, which then has fewer than this. */
	per_area = DIV_ROUND_UP(max_segs, nareas);

	pool->seg_shift = seg_shift;
	pool->max_segs = max_segs;
	pool->nareas = nareas;
	pool->nsegs = 0;
	pool->nretiring = 0;
	pool->bus_lo = (dma_addr_t)-1;
	pool->bus_hi = 0;
	RCU_INIT_POINTER(pool->index, NULL);
	pool->segs = kvcalloc(max_segs, sizeof(*pool->segs), GFP_KERNEL);
	pool->areas = kcalloc(nareas, sizeof(*pool->areas), GFP_KERNEL);
	if (!pool->segs || !pool->areas)
		goto fail;
	for (a = 0; a < nareas; a++) {
		spin_lock_init(&pool->areas[a].lock);
		pool->areas[a].ids = kvcalloc(per_area, sizeof(unsigned int), GFP_KERNEL);
		if (!pool->areas[a].ids)
			goto fail;
	}
	return 0;
fail:
	usw_pool_destroy(pool);
	return -ENOMEM;
}

/**
 * usw_pool_destroy() - free the bookkeeping (not the segments' memory, which the caller owns)
 * @pool: the pool, with no lookup or mapping running
 */
void usw_pool_destroy(struct usw_pool *pool)
{
	unsigned int i;

	if (pool->segs)
		for (i = 0; i < pool->max_segs; i++)
			kvfree(pool->segs[i]);
	if (pool->areas)
		for (i = 0; i < pool->nareas; i++)
			kvfree(pool->areas[i].ids);
	kvfree(rcu_dereference_protected(pool->index, 1));
	kvfree(pool->segs);
	kfree(pool->areas);
	RCU_INIT_POINTER(pool->index, NULL);
	pool->segs = NULL;
	pool->areas = NULL;
	pool->nsegs = 0;
	pool->nretiring = 0;
}

static struct usw_seg *usw_index_find(const struct usw_index *index, size_t seg_size,
				      dma_addr_t bus)
{
	struct rb_node *node = index ? index->root.rb_node : NULL;

	while (node) {
		const struct usw_index_node *n = rb_entry(node, struct usw_index_node, node);

		if (bus < n->bus)
			node = node->rb_left;
		else if (bus - n->bus >= seg_size)
			node = node->rb_right;
		else
			return n->seg;
	}
	return NULL;
}

static int usw_index_insert(struct usw_index *index, struct usw_index_node *new,
			    size_t seg_size)
{
	struct rb_node **link = &index->root.rb_node, *parent = NULL;
	dma_addr_t bus = new->bus;

	while (*link) {
		dma_addr_t other = rb_entry(*link, struct usw_index_node, node)->bus;

		parent = *link;
		if (bus + seg_size <= other)
			link = &parent->rb_left;
		else if (bus >= other + seg_size)
			link = &parent->rb_right;
		else
			return -EINVAL;
	}
	rb_link_node(&new->node, parent, link);
	rb_insert_color(&new->node, &index->root);
	return 0;
}

/*
 * A new index of every segment in @segs that is not in @gone (by id), plus the @n in @added.
 * Return: it, ERR_PTR(-EINVAL) if two overlap in bus space, or ERR_PTR(-ENOMEM).
 */
static struct usw_index *usw_index_build(const struct usw_pool *pool, struct usw_seg **added,
					 unsigned int n, struct usw_seg *const *gone)
{
	size_t seg_size = usw_seg_size(pool);
	struct usw_index *index;
	unsigned int i, k = 0;

	index = kvcalloc(1, sizeof(*index) + (pool->nsegs + n) * sizeof(index->nodes[0]),
			 GFP_KERNEL);
	if (!index)
		return ERR_PTR(-ENOMEM);
	index->root = RB_ROOT;
	for (i = 0; i < pool->max_segs + n; i++) {
		struct usw_seg *seg = i < pool->max_segs ? pool->segs[i] :
				      added[i - pool->max_segs];

		if (!seg || (gone && i < pool->max_segs && gone[i]))
			continue;
		index->nodes[k].seg = seg;
		index->nodes[k].bus = seg->bus;
		if (usw_index_insert(index, &index->nodes[k++], seg_size)) {
			kvfree(index);
			return ERR_PTR(-EINVAL);
		}
	}
	return index;
}

/* Publish @index; the old one is the caller's to free once no lookup can be walking it. */
static struct usw_index *usw_index_swap(struct usw_pool *pool, struct usw_index *index)
{
	struct usw_index *old = rcu_dereference_protected(pool->index, 1);

	rcu_assign_pointer(pool->index, index);
	return old;
}

/* Give @seg to the area with the fewest segments. */
static void usw_area_add_seg(struct usw_pool *pool, struct usw_seg *seg)
{
	unsigned int a, best = 0;
	struct usw_area *area;
	unsigned long flags;

	for (a = 1; a < pool->nareas; a++)
		if (READ_ONCE(pool->areas[a].nsegs) < READ_ONCE(pool->areas[best].nsegs))
			best = a;
	area = &pool->areas[best];
	spin_lock_irqsave(&area->lock, flags);
	seg->area = best;
	seg->pos = area->nsegs;
	area->ids[area->nsegs] = seg->id;
	WRITE_ONCE(area->nsegs, area->nsegs + 1);
	area->avail += usw_seg_slots(pool);
	spin_unlock_irqrestore(&area->lock, flags);
}

/**
 * usw_pool_add() - add segments to the pool
 * @pool: the pool
 * @mem: the segments' memory, usw_seg_size() bytes each, contiguous in every address space
 * @n: number of segments
 *
 * Mappings may be placed in them as soon as this returns; lookups and mappings run on
 * meanwhile. Sleeps. Serialized by the caller with other resizes.
 *
 * Return: 0; -ENOSPC if the pool would exceed its max_segs; -EINVAL if a segment's bus address
 * is not slot aligned, wraps around, or overlaps another segment; -ENOMEM. Nothing is added
 * on failure.
 */
int usw_pool_add(struct usw_pool *pool, const struct usw_seg_mem *mem, unsigned int n)
{
	unsigned int nslots = usw_seg_slots(pool), i, s, id = 0;
	size_t seg_size = usw_seg_size(pool);
	struct usw_index *index;
	struct usw_seg **added;
	dma_addr_t lo, hi;
	int ret = -ENOMEM;

	if (!n)
		return 0;
	if (n > pool->max_segs - pool->nsegs)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		if (mem[i].bus & (USW_SLOT_SIZE - 1) || mem[i].bus > (dma_addr_t)-1 - seg_size)
			return -EINVAL;

	added = kcalloc(n, sizeof(*added), GFP_KERNEL);
	if (!added)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct usw_seg *seg = kvcalloc(1, sizeof(*seg) + nslots * sizeof(seg->slots[0]),
					       GFP_KERNEL);

		if (!seg)
			goto out;
		while (pool->segs[id])
			id++;
		seg->vaddr = mem[i].vaddr;
		seg->phys = mem[i].phys;
		seg->bus = mem[i].bus;
		seg->id = id++;
		/* A whole idle period before usw_pool_retire_idle() may take it. */
		seg->touched = true;
		for (s = 0; s < nslots; s++)
			seg->slots[s].state = nslots - s;
		added[i] = seg;
	}
	index = usw_index_build(pool, added, n, NULL);
	if (IS_ERR(index)) {
		ret = PTR_ERR(index);
		goto out;
	}

	/* Findable before anything can be placed in them; the range only widens. */
	lo = READ_ONCE(pool->bus_lo);
	hi = READ_ONCE(pool->bus_hi);
	for (i = 0; i < n; i++) {
		WRITE_ONCE(pool->segs[added[i]->id], added[i]);
		lo = min(lo, added[i]->bus);
		hi = max(hi, added[i]->bus + seg_size);
	}
	WRITE_ONCE(pool->bus_lo, lo);
	WRITE_ONCE(pool->bus_hi, hi);
	WRITE_ONCE(pool->nsegs, pool->nsegs + n);
	index = usw_index_swap(pool, index);
	for (i = 0; i < n; i++)
		usw_area_add_seg(pool, added[i]);
	/* Placeable already: only the old index waits for its readers. */
	synchronize_rcu();
	kvfree(index);
	ret = 0;
	n = 0;
out:
	for (i = 0; i < n; i++)
		kvfree(added[i]);
	kfree(added);
	return ret;
}

/* Take @seg out of its area's list under the area's lock: nothing new is placed in it. */
static void usw_retire_locked(struct usw_pool *pool, struct usw_area *area, struct usw_seg *seg)
{
	unsigned int last = area->ids[area->nsegs - 1];

	area->ids[seg->pos] = last;
	pool->segs[last]->pos = seg->pos;
	WRITE_ONCE(area->nsegs, area->nsegs - 1);
	area->avail -= usw_seg_slots(pool) - seg->used;
	if (area->index >= area->nsegs << pool->seg_shift ||
	    area->avail == area->nsegs << pool->seg_shift)
		area->index = 0;
	seg->retiring = true;
	WRITE_ONCE(pool->nretiring, pool->nretiring + 1);
}

/* Retire the live segment with the fewest slots in use, the newest of equals. */
static bool usw_retire_least_used(struct usw_pool *pool)
{
	struct usw_seg *best = NULL;
	struct usw_area *area;
	unsigned long flags;
	unsigned int i;

	for (i = pool->max_segs; i--;) {
		struct usw_seg *seg = pool->segs[i];

		if (seg && !seg->retiring &&
		    (!best || READ_ONCE(seg->used) < READ_ONCE(best->used)))
			best = seg;
	}
	if (!best)
		return false;
	area = &pool->areas[best->area];
	spin_lock_irqsave(&area->lock, flags);
	usw_retire_locked(pool, area, best);
	spin_unlock_irqrestore(&area->lock, flags);
	return true;
}

/**
 * usw_pool_retire() - stop placing mappings in all but @keep segments
 * @pool: the pool
 * @keep: segments to keep
 *
 * Empty segments go first, then those with the fewest slots in use. Their mappings stay
 * valid; usw_pool_reap() gives the segments back once they are empty. Serialized by the caller
 * with other resizes.
 *
 * Return: the number of segments retired.
 */
unsigned int usw_pool_retire(struct usw_pool *pool, unsigned int keep)
{
	unsigned int n = 0;

	while (pool->nsegs - pool->nretiring > keep && usw_retire_least_used(pool))
		n++;
	return n;
}

/**
 * usw_pool_retire_idle() - retire segments that stayed empty since the last call, down to @keep
 * @pool: the pool
 * @keep: segments to keep
 *
 * A segment is idle if it is empty now and no mapping was placed in it since the previous
 * call; the newest go first. Every segment kept starts a new period. Serialized by the caller
 * with other resizes.
 *
 * Return: the number of segments retired.
 */
unsigned int usw_pool_retire_idle(struct usw_pool *pool, unsigned int keep)
{
	unsigned int i, n = 0;

	for (i = pool->max_segs; i--;) {
		struct usw_seg *seg = pool->segs[i];
		struct usw_area *area;
		unsigned long flags;

		if (!seg || seg->retiring)
			continue;
		area = &pool->areas[seg->area];
		spin_lock_irqsave(&area->lock, flags);
		if (pool->nsegs - pool->nretiring > keep && !seg->used && !seg->touched) {
			usw_retire_locked(pool, area, seg);
			n++;
		}
		seg->touched = false;
		spin_unlock_irqrestore(&area->lock, flags);
	}
	return n;
}

/**
 * usw_pool_reap() - remove retiring segments that are empty
 * @pool: the pool
 * @out: receives the removed segments' memory, for the caller to free
 * @max: room in @out
 *
 * Sleeps until no lookup can still see them. Serialized by the caller with other resizes.
 *
 * Return: the number of segments removed, 0 also if the new index could not be allocated (they
 * stay retiring, for a later call).
 */
unsigned int usw_pool_reap(struct usw_pool *pool, struct usw_seg_mem *out, unsigned int max)
{
	size_t seg_size = usw_seg_size(pool);
	dma_addr_t lo = (dma_addr_t)-1, hi = 0;
	struct usw_seg **gone;
	struct usw_index *index;
	unsigned int i, n = 0;

	if (!pool->nretiring || !max)
		return 0;
	gone = kcalloc(pool->max_segs, sizeof(*gone), GFP_KERNEL);
	if (!gone)
		return 0;
	for (i = 0; i < pool->max_segs && n < max; i++) {
		struct usw_seg *seg = pool->segs[i];
		struct usw_area *area;
		unsigned long flags;

		if (!seg || !seg->retiring)
			continue;
		/* Nothing is placed in a retiring segment: once empty, it stays so. */
		area = &pool->areas[seg->area];
		spin_lock_irqsave(&area->lock, flags);
		if (!seg->used)
			gone[i] = seg;
		spin_unlock_irqrestore(&area->lock, flags);
		n += !!gone[i];
	}
	if (!n)
		goto out;
	index = usw_index_build(pool, NULL, 0, gone);
	if (IS_ERR(index)) {
		n = 0;
		goto out;
	}
	/* Out of the index and of segs[] first, so that no lookup nor free reaches them after. */
	index = usw_index_swap(pool, index);
	for (i = 0; i < pool->max_segs; i++)
		if (gone[i])
			WRITE_ONCE(pool->segs[i], NULL);
	synchronize_rcu();
	kvfree(index);

	n = 0;
	for (i = 0; i < pool->max_segs; i++) {
		struct usw_seg *seg = gone[i];

		if (pool->segs[i]) {
			lo = min(lo, pool->segs[i]->bus);
			hi = max(hi, pool->segs[i]->bus + seg_size);
		}
		if (!seg)
			continue;
		out[n++] = (struct usw_seg_mem){ seg->vaddr, seg->phys, seg->bus };
		kvfree(seg);
	}
	WRITE_ONCE(pool->nsegs, pool->nsegs - n);
	WRITE_ONCE(pool->nretiring, pool->nretiring - n);
	WRITE_ONCE(pool->bus_lo, lo);
	WRITE_ONCE(pool->bus_hi, hi);
out:
	kfree(gone);
	return n;
}

/**
 * usw_pool_max_mapping() - largest mapping the pool can always place in an empty segment
 * @pool: the pool
 * @min_align_mask: the device's min_align_mask
 *
 * A mapping lives in one segment; keeping address bits under @min_align_mask may cost up to
 * that many bytes at its start, or all of it for masks wider than a segment.
 *
 * Return: the size in bytes, 0 if nothing can be placed.
 */
size_t usw_pool_max_mapping(const struct usw_pool *pool, unsigned int min_align_mask)
{
	size_t lost = round_up((size_t)min_align_mask, USW_SLOT_SIZE);

	return lost < usw_seg_size(pool) ? usw_seg_size(pool) - lost : 0;
}

static bool usw_run_fits(const struct usw_seg *seg, unsigned int s, unsigned int n,
			 const struct usw_req *req)
{
	dma_addr_t bus = seg->bus + ((dma_addr_t)s << USW_SLOT_SHIFT);
	dma_addr_t last = bus + ((dma_addr_t)n << USW_SLOT_SHIFT) - 1;
	u64 match = req->min_align_mask & ~(USW_SLOT_SIZE - 1);

	return !((bus ^ req->orig) & match) && !(bus & req->alloc_align_mask) &&
	       !((bus ^ last) & ~(u64)req->boundary_mask);
}

/* Mark @n slots from @s as one mapping and shorten the free run in front of it. */
static void usw_take(struct usw_seg *seg, unsigned int s, unsigned int n,
		     const struct usw_req *req, unsigned int offset)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		seg->slots[s + i].state = USW_SLOT_USED | i;
	seg->slots[s].orig = req->orig;
	seg->slots[s].size = req->size;
	seg->slots[s].offset = offset;

	for (i = s; i > 0 && usw_slot_free(seg->slots[i - 1].state); i--)
		seg->slots[i - 1].state = s - (i - 1);
}

/* Slots taken by the mapping whose head slot is @h. */
static unsigned int usw_head_slots(const struct usw_slot *h)
{
	return DIV_ROUND_UP(h->offset + h->size, USW_SLOT_SIZE);
}

/*
 * How far the scan may move on from slot @s of @seg, which cannot start a mapping of @n slots,
 * without passing one that could: past the rest of a segment too short for @n (mappings never
 * cross segments), past the rest of the mapping @s belongs to, or past a free run shorter
 * than @n.
 */
static unsigned int usw_scan_step(const struct usw_pool *pool, const struct usw_seg *seg,
				  unsigned int s, unsigned int n)
{
	unsigned int left = usw_seg_slots(pool) - s;
	u16 state = seg->slots[s].state;
	unsigned int back = usw_slot_back(state);

	if (left < n)
		return left;
	if (state & USW_SLOT_USED)
		return usw_head_slots(&seg->slots[s - back]) - back;
	return state < n ? state : 1;
}

static int usw_area_alloc(struct usw_pool *pool, struct usw_area *area,
			  const struct usw_req *req, unsigned int n, unsigned int offset)
{
	unsigned int shift = pool->seg_shift, mask = usw_seg_slots(pool) - 1;
	unsigned int j, nslots, tried = 0;
	unsigned long flags;
	int found = -ENOSPC;

	spin_lock_irqsave(&area->lock, flags);
	if (area->avail < n)
		goto out;

	nslots = area->nsegs << shift;
	j = area->index;
	while (tried < nslots) {
		struct usw_seg *seg = pool->segs[area->ids[j >> shift]];
		unsigned int s = j & mask, step;

		if (usw_slot_free(seg->slots[s].state) >= n && usw_run_fits(seg, s, n, req)) {
			usw_take(seg, s, n, req, offset);
			WRITE_ONCE(seg->used, seg->used + n);
			seg->touched = true;
			area->avail -= n;
			WRITE_ONCE(area->used, area->used + n);
			if (area->used > area->peak)
				WRITE_ONCE(area->peak, area->used);
			area->index = j + n < nslots ? j + n : 0;
			found = seg->id << shift | s;
			break;
		}
		step = usw_scan_step(pool, seg, s, n);
		tried += step;
		j += step;
		if (j >= nslots)
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

	if (!req->size || req->size > usw_pool_max_mapping(pool, req->min_align_mask))
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

/* Back to the free run it merges with; moves the cursor back over a map/unmap pair. */
static void usw_release(struct usw_pool *pool, struct usw_area *area, struct usw_seg *seg,
			unsigned int s, unsigned int n)
{
	unsigned int nseg = usw_seg_slots(pool), i, count, rel, nslots;

	/* Merge with the free run behind and then in front, within the segment only. */
	count = s + n < nseg ? usw_slot_free(seg->slots[s + n].state) : 0;
	for (i = s + n; i > s; i--)
		seg->slots[i - 1].state = ++count;
	for (i = s; i > 0 && usw_slot_free(seg->slots[i - 1].state); i--)
		seg->slots[i - 1].state = ++count;
	WRITE_ONCE(seg->used, seg->used - n);
	WRITE_ONCE(area->used, area->used - n);
	if (seg->retiring)
		return;

	area->avail += n;
	/*
	 * An empty area places from its start: a scatterlist that fills it would not fit if the
	 * cursor split it across the wrap, and its driver would retry from there forever.
	 * Otherwise, if the newest mapping here went first (a map/unmap pair), the cursor moves
	 * back so the next map reuses these slots while they are still in the cache and the TLB.
	 */
	nslots = area->nsegs << pool->seg_shift;
	rel = seg->pos << pool->seg_shift | s;
	if (area->avail == nslots)
		area->index = 0;
	else if ((rel + n < nslots ? rel + n : 0) == area->index)
		area->index = rel;
}

/**
 * usw_pool_free() - release a mapping's slots
 * @pool: the pool
 * @head: the mapping's head slot
 *
 * Call under rcu_read_lock() or rcu_read_lock_sched() unless @head is a live mapping the
 * caller owns: a head that is not may name a segment usw_pool_reap() is freeing.
 *
 * Return: true if @head was the head of a live mapping and its slots are free now; false if it
 * was not (nothing is changed then).
 */
bool usw_pool_free(struct usw_pool *pool, unsigned int head)
{
	unsigned int s = head & (usw_seg_slots(pool) - 1);
	struct usw_area *area;
	struct usw_seg *seg;
	struct usw_slot *h;
	unsigned long flags;
	bool live;

	if (head >> pool->seg_shift >= pool->max_segs)
		return false;
	seg = usw_slot_seg(pool, head);
	if (!seg)
		return false;
	area = &pool->areas[seg->area];
	h = &seg->slots[s];

	spin_lock_irqsave(&area->lock, flags);
	live = (h->state & USW_SLOT_USED) && !usw_slot_back(h->state) && h->size;
	if (live) {
		unsigned int n = usw_head_slots(h);

		h->orig = 0;
		h->size = 0;
		h->offset = 0;
		usw_release(pool, area, seg, s, n);
	}
	spin_unlock_irqrestore(&area->lock, flags);
	return live;
}

/**
 * usw_pool_find_seg() - the bus-to-phys lookup: which segment holds a bus address
 * @pool: the pool
 * @bus: a bus address
 *
 * Call under rcu_read_lock() or rcu_read_lock_sched(); the segment stays valid until the
 * matching unlock.
 *
 * Return: the segment, or NULL if @bus is not pool memory.
 */
struct usw_seg *usw_pool_find_seg(const struct usw_pool *pool, dma_addr_t bus)
{
	if (!usw_pool_may_contain(pool, bus))
		return NULL;
	return usw_index_find(rcu_dereference_check(pool->index, rcu_read_lock_any_held()),
			      usw_seg_size(pool), bus);
}

/**
 * usw_pool_resolve() - find the live mapping that covers a bus address range
 * @pool: the pool
 * @bus: first bus address of the range
 * @size: length of the range in bytes
 * @ref: filled in on success
 *
 * Call under rcu_read_lock() or rcu_read_lock_sched(). Takes no lock: the caller owns the
 * mapping it names, so its slots cannot change under us.
 *
 * Return: 0; -ENOENT if @bus is not pool memory (a direct mapping); -EINVAL if it is pool
 * memory but [@bus, @bus + @size) is not inside one live mapping.
 */
int usw_pool_resolve(const struct usw_pool *pool, dma_addr_t bus, size_t size,
		     struct usw_ref *ref)
{
	const struct usw_seg *seg = usw_pool_find_seg(pool, bus);
	unsigned int s, back;
	const struct usw_slot *h;
	dma_addr_t start;
	u16 state;
	u64 off;

	if (!seg)
		return -ENOENT;
	s = (bus - seg->bus) >> USW_SLOT_SHIFT;
	state = READ_ONCE(seg->slots[s].state);
	back = usw_slot_back(state);
	if (!(state & USW_SLOT_USED) || back > s)
		return -EINVAL;
	s -= back;
	h = &seg->slots[s];
	start = seg->bus + ((dma_addr_t)s << USW_SLOT_SHIFT) + h->offset;
	off = bus - start;
	if (bus < start || off > h->size || size > h->size - off)
		return -EINVAL;

	ref->head = seg->id << pool->seg_shift | s;
	ref->bounce = (char *)seg->vaddr + ((size_t)s << USW_SLOT_SHIFT) + h->offset + off;
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
