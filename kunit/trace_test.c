// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite uswiotlb_trace: the trace events, seen by probes attached to the tracepoints.
 * Every count of mapped_direct, bounced_<reason> and map_errors comes with exactly one event,
 * and the test device's events carry what its calls did.
 */
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/spinlock.h>

#include "helpers.h"
#include "trace.h"

enum usw_ev_type { USW_EV_MAP, USW_EV_UNMAP, USW_EV_SYNC, USW_EV_FULL };

/* One event of the test device; @reason for map and pool_full, @err for pool_full. */
struct usw_ev {
	enum usw_ev_type type;
	phys_addr_t phys;
	dma_addr_t dma;
	size_t size;
	enum dma_data_direction dir;
	int reason;
	int err;
	bool for_device;
};

/*
 * What the probes saw: every map by reason (USW_MAP_DIRECT included) and every pool_full, of
 * any device, and the test device's events in order. Static, not the case's memory: a probe
 * may still run on another CPU until the exit has unregistered and synchronized.
 */
static struct {
	spinlock_t lock;	/* the whole struct */
	struct device *dev;
	unsigned long maps[USW_NR_REASONS + 1];
	unsigned long fulls;
	struct usw_ev ev[256];
	unsigned int n;		/* events of @dev, also those beyond @ev */
	bool registered;
} usw_seen = { .lock = __SPIN_LOCK_UNLOCKED(usw_seen.lock) };

static void usw_record(struct device *dev, const struct usw_ev *ev)
{
	unsigned long flags;

	spin_lock_irqsave(&usw_seen.lock, flags);
	if (ev->type == USW_EV_MAP)
		usw_seen.maps[ev->reason]++;
	if (ev->type == USW_EV_FULL)
		usw_seen.fulls++;
	if (dev == usw_seen.dev) {
		if (usw_seen.n < ARRAY_SIZE(usw_seen.ev))
			usw_seen.ev[usw_seen.n] = *ev;
		usw_seen.n++;
	}
	spin_unlock_irqrestore(&usw_seen.lock, flags);
}

static void usw_probe_map(void *data, struct device *dev, phys_addr_t phys, dma_addr_t dma,
			  size_t size, enum dma_data_direction dir, enum usw_reason reason)
{
	struct usw_ev ev = { .type = USW_EV_MAP, .phys = phys, .dma = dma, .size = size,
			     .dir = dir, .reason = reason };

	if (WARN_ON_ONCE(reason > USW_MAP_DIRECT))
		return;
	usw_record(dev, &ev);
}

static void usw_probe_unmap(void *data, struct device *dev, dma_addr_t dma, size_t size,
			    enum dma_data_direction dir)
{
	struct usw_ev ev = { .type = USW_EV_UNMAP, .dma = dma, .size = size, .dir = dir };

	usw_record(dev, &ev);
}

static void usw_probe_sync(void *data, struct device *dev, dma_addr_t dma, size_t size,
			   enum dma_data_direction dir, bool for_device)
{
	struct usw_ev ev = { .type = USW_EV_SYNC, .dma = dma, .size = size, .dir = dir,
			     .for_device = for_device };

	usw_record(dev, &ev);
}

static void usw_probe_full(void *data, struct device *dev, size_t size, enum usw_reason reason,
			   int err)
{
	struct usw_ev ev = { .type = USW_EV_FULL, .size = size, .reason = reason, .err = err };

	if (WARN_ON_ONCE(reason >= USW_NR_REASONS))
		return;
	usw_record(dev, &ev);
}

static void usw_trace_unregister(void)
{
	if (!usw_seen.registered)
		return;
	unregister_trace_uswiotlb_pool_full(usw_probe_full, NULL);
	unregister_trace_uswiotlb_sync(usw_probe_sync, NULL);
	unregister_trace_uswiotlb_unmap(usw_probe_unmap, NULL);
	unregister_trace_uswiotlb_map(usw_probe_map, NULL);
	tracepoint_synchronize_unregister();
	usw_seen.registered = false;
}

static void usw_trace_exit(struct kunit *test)
{
	usw_trace_unregister();
	usw_test_exit(test);
}

/* The counters the events must match, read together. */
struct usw_counts {
	unsigned long maps[USW_NR_REASONS + 1];
	unsigned long errors;
};

static void usw_read_counts(struct usw_counts *c)
{
	int r;

	for (r = 0; r < USW_NR_REASONS; r++)
		c->maps[r] = usw_stat_sum(offsetof(struct usw_stats, bounced) +
					  r * sizeof(unsigned long));
	c->maps[USW_MAP_DIRECT] = usw_stat(direct);
	c->errors = usw_stat(errors);
}

/* The test device's event @i is @want, field by field (unset fields must be 0 too). */
static void expect_ev(struct kunit *test, unsigned int i, const struct usw_ev *want)
{
	const struct usw_ev *ev = &usw_seen.ev[i];

	KUNIT_ASSERT_LT(test, i, usw_seen.n);
	KUNIT_EXPECT_EQ_MSG(test, ev->type, want->type, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->phys, want->phys, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->dma, want->dma, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->size, want->size, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->dir, want->dir, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->reason, want->reason, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->err, want->err, "event %u", i);
	KUNIT_EXPECT_EQ_MSG(test, ev->for_device, want->for_device, "event %u", i);
}

/* A map of @size bytes at @dma (from @phys), for @reason. */
static void expect_map(struct kunit *test, unsigned int i, phys_addr_t phys, dma_addr_t dma,
		       size_t size, enum dma_data_direction dir, enum usw_reason reason)
{
	struct usw_ev want = { .type = USW_EV_MAP, .phys = phys, .dma = dma, .size = size,
			       .dir = dir, .reason = reason };

	expect_ev(test, i, &want);
}

/* An unmap or a sync (@type) of @size bytes at @dma. */
static void expect_other(struct kunit *test, unsigned int i, enum usw_ev_type type,
			 dma_addr_t dma, size_t size, enum dma_data_direction dir, bool for_device)
{
	struct usw_ev want = { .type = type, .dma = dma, .size = size, .dir = dir,
			       .for_device = for_device };

	expect_ev(test, i, &want);
}

/*
 * A direct map, a bounce for the DMA mask with syncs both ways, forced bounces until the pool
 * is full and a map that fails for it: each call's event with its fields, and as many map
 * events per reason, and pool_full events, as the counters moved.
 */
static void usw_test_trace_events(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int n = nsegs(), i, e;
	dma_addr_t *hold = kunit_kcalloc(test, n, sizeof(*hold), GFP_KERNEL);
	u8 *small = tbuf(test, 256, 1), *seg = tbuf(test, seg_size(), 2), *high;
	u64 mask = phys_to_dma(dev, usw_pool.bus_hi - 1);
	struct page *page = page_above(test, mask);
	struct usw_ev full_ev = { .type = USW_EV_FULL, .size = 256, .reason = USW_BOUNCE_FORCE,
				  .err = ENOSPC };
	struct usw_counts before, after;
	dma_addr_t direct, masked, forced, full;
	unsigned long flags;
	int r;

	if (!IS_ENABLED(CONFIG_TRACEPOINTS))
		kunit_skip(test, "CONFIG_TRACEPOINTS is off: there are no events to probe");
	usw_provokes(test, true, false);
	KUNIT_ASSERT_NOT_NULL(test, hold);
	KUNIT_ASSERT_NOT_NULL_MSG(test, page, "no RAM above the pool (%llx): give QEMU more", mask);
	KUNIT_ASSERT_LE_MSG(test, 2 * n + 9, ARRAY_SIZE(usw_seen.ev),
			    "%u segments: more events than the probes keep", n);
	high = page_address(page);
	fill(high, 1024, 3);

	spin_lock_irqsave(&usw_seen.lock, flags);
	memset(usw_seen.maps, 0, sizeof(usw_seen.maps));
	usw_seen.fulls = 0;
	usw_seen.n = 0;
	usw_seen.dev = dev;
	spin_unlock_irqrestore(&usw_seen.lock, flags);
	KUNIT_ASSERT_EQ(test, register_trace_uswiotlb_map(usw_probe_map, NULL), 0);
	usw_seen.registered = true;
	KUNIT_ASSERT_EQ(test, register_trace_uswiotlb_unmap(usw_probe_unmap, NULL), 0);
	KUNIT_ASSERT_EQ(test, register_trace_uswiotlb_sync(usw_probe_sync, NULL), 0);
	KUNIT_ASSERT_EQ(test, register_trace_uswiotlb_pool_full(usw_probe_full, NULL), 0);
	usw_read_counts(&before);

	direct = dma_map_single(dev, small, 256, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, direct));
	dma_unmap_single(dev, direct, 256, DMA_TO_DEVICE);

	KUNIT_ASSERT_EQ(test, dma_set_mask(dev, mask), 0);
	masked = dma_map_single(dev, high + 24, 1000, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, masked));
	dma_sync_single_for_cpu(dev, masked, 1000, DMA_BIDIRECTIONAL);
	dma_sync_single_for_device(dev, masked, 1000, DMA_BIDIRECTIONAL);
	dma_unmap_single(dev, masked, 1000, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_EQ(test, dma_set_mask(dev, DMA_BIT_MASK(64)), 0);

	usw_set_force(true);
	forced = dma_map_single(dev, small, 256, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, forced));
	dma_unmap_single(dev, forced, 256, DMA_FROM_DEVICE);
	for (i = 0; i < n; i++) {
		hold[i] = dma_map_single(dev, seg, seg_size(), DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE_MSG(test, dma_mapping_error(dev, hold[i]), "segment %u", i);
	}
	full = dma_map_single_attrs(dev, small, 256, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, full));
	for (i = 0; i < n; i++)
		dma_unmap_single(dev, hold[i], seg_size(), DMA_TO_DEVICE);

	usw_read_counts(&after);
	usw_trace_unregister();

	/* Every device's counts, against the counters over the same window. */
	for (r = 0; r <= USW_MAP_DIRECT; r++)
		KUNIT_EXPECT_EQ_MSG(test, usw_seen.maps[r], after.maps[r] - before.maps[r],
				    "map events of reason %d", r);
	KUNIT_EXPECT_EQ(test, usw_seen.fulls, after.errors - before.errors);

	/* The test device's own, call by call. */
	KUNIT_ASSERT_EQ(test, usw_seen.n, 2 * n + 9);
	expect_map(test, 0, virt_to_phys(small), direct, 256, DMA_TO_DEVICE, USW_MAP_DIRECT);
	expect_other(test, 1, USW_EV_UNMAP, direct, 256, DMA_TO_DEVICE, false);
	expect_map(test, 2, page_to_phys(page) + 24, masked, 1000, DMA_BIDIRECTIONAL,
		   USW_BOUNCE_MASK);
	KUNIT_EXPECT_TRUE(test, in_pool(dev, masked));
	expect_other(test, 3, USW_EV_SYNC, masked, 1000, DMA_BIDIRECTIONAL, false);
	expect_other(test, 4, USW_EV_SYNC, masked, 1000, DMA_BIDIRECTIONAL, true);
	expect_other(test, 5, USW_EV_UNMAP, masked, 1000, DMA_BIDIRECTIONAL, false);
	expect_map(test, 6, virt_to_phys(small), forced, 256, DMA_FROM_DEVICE, USW_BOUNCE_FORCE);
	expect_other(test, 7, USW_EV_UNMAP, forced, 256, DMA_FROM_DEVICE, false);
	for (i = 0, e = 8; i < n; i++, e++)
		expect_map(test, e, virt_to_phys(seg), hold[i], seg_size(), DMA_TO_DEVICE,
			   USW_BOUNCE_FORCE);
	expect_ev(test, e, &full_ev);
	for (i = 0, e++; i < n; i++, e++)
		expect_other(test, e, USW_EV_UNMAP, hold[i], seg_size(), DMA_TO_DEVICE, false);
	__free_page(page);
}

static struct kunit_case usw_trace_cases[] = {
	KUNIT_CASE(usw_test_trace_events),
	{}
};

struct kunit_suite usw_trace_suite = {
	.name = "uswiotlb_trace",
	.init = usw_test_init,
	.exit = usw_trace_exit,
	.test_cases = usw_trace_cases,
};
