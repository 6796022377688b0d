// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite uswiotlb_resize: the pool's size at run time.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/kthread.h>

#include "helpers.h"

/* The shrink work twice: what stayed idle through a whole period goes back. */
static void settle(void)
{
	usw_resize_flush();
	usw_resize_flush();
}

static int usw_resize_init(struct kunit *test)
{
	int ret = usw_test_init(test);

	/* Every case starts from the pool as loaded, nothing retiring. */
	settle();
	KUNIT_ASSERT_EQ(test, usw_pool.nretiring, 0U);
	return ret;
}

static void usw_resize_exit(struct kunit *test)
{
	usw_set_pool_max(0);
	usw_test_exit(test);
}

static void start_workers(struct kunit *test, struct usw_worker *w, unsigned int n,
			  const bool *stop)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct task_struct *task;

		w[i] = (struct usw_worker){ .dev = tdev(test), .seed = 77 * (i + 1), .stop = stop };
		init_completion(&w[i].done);
		task = kthread_run(usw_worker_fn, &w[i], "usw-kunit-rs%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	}
}

/*
 * pool_size up and down while mappers run: their mappings never fail nor lose data. Two
 * mappings over half a segment each, held through a shrink to one segment, force one busy
 * segment to retire: both stay intact and writable, and it goes back once they are unmapped.
 */
static void usw_test_resize_both_ways(struct kunit *test)
{
	unsigned long base = usw_pool_bytes, seg = seg_size(), half = seg / 2 + PAGE_SIZE;
	unsigned long shrunk = usw_resize_stats.shrunk_segs;
	unsigned int n0 = nsegs(), round, i;
	struct device *dev = tdev(test);
	struct usw_worker w[2];
	dma_addr_t held[2];
	u8 *bufs[2];
	bool stop = false;

	usw_set_force(true);
	start_workers(test, w, ARRAY_SIZE(w), &stop);
	for (round = 0; round < 6; round++) {
		KUNIT_ASSERT_EQ(test, usw_resize(base + 3 * seg), 0);
		KUNIT_EXPECT_EQ(test, nsegs(), n0 + 3);
		KUNIT_ASSERT_EQ(test, usw_resize(base), 0);
		KUNIT_EXPECT_EQ(test, nsegs(), n0);
	}
	for (i = 0; i < 2; i++) {
		bufs[i] = tbuf(test, half, 30 + i);
		held[i] = dma_map_single(dev, bufs[i], half, DMA_BIDIRECTIONAL);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, held[i]));
	}
	KUNIT_ASSERT_EQ(test, usw_resize(seg), 0);
	KUNIT_EXPECT_EQ(test, nsegs(), 1U);
	KUNIT_EXPECT_GE(test, usw_pool.nretiring, 1U);
	msleep(100);
	WRITE_ONCE(stop, true);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		wait_for_completion(&w[i].done);
		KUNIT_EXPECT_EQ_MSG(test, w[i].errors, 0, "worker %u", i);
		KUNIT_EXPECT_GT_MSG(test, w[i].rounds, 0U, "worker %u", i);
	}
	for (i = 0; i < 2; i++) {
		KUNIT_EXPECT_TRUE(test, hw_sees(test, held[i], half, 30 + i));
		hw_write(test, held[i], half, 40 + i);
		dma_unmap_single(dev, held[i], half, DMA_BIDIRECTIONAL);
		KUNIT_EXPECT_TRUE(test, filled(bufs[i], half, 40 + i));
	}
	settle();
	KUNIT_EXPECT_EQ(test, usw_pool.nretiring, 0U);
	KUNIT_EXPECT_EQ(test, usw_pool.nsegs, 1U);
	KUNIT_ASSERT_EQ(test, usw_resize(base), 0);
	KUNIT_EXPECT_EQ(test, usw_pool.nsegs, n0);
	KUNIT_EXPECT_EQ(test, usw_resize_stats.shrunk_segs, shrunk + 6 * 3 + n0 - 1);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * pool_max: a map that finds the pool full fails and has the pool grow; the retry succeeds.
 * Growth stops at pool_max, and what grew goes back once idle for a period.
 */
static void usw_test_grow_on_demand(struct kunit *test)
{
	unsigned long base = usw_pool_bytes, seg = seg_size();
	struct usw_resize_stats before = usw_resize_stats;
	unsigned int n0 = nsegs(), n = 0, i;
	struct device *dev = tdev(test);
	dma_addr_t *dma = kunit_kcalloc(test, n0 + 3, sizeof(*dma), GFP_KERNEL);
	u8 *buf = tbuf(test, seg, 22);

	KUNIT_ASSERT_NOT_NULL(test, dma);
	usw_provokes(test, true, false);
	usw_set_force(true);
	KUNIT_ASSERT_EQ(test, usw_set_pool_max(base + 2 * seg), 0);
	while (n < n0 + 2) {
		dma[n] = dma_map_single_attrs(dev, buf, seg, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
		if (!dma_mapping_error(dev, dma[n])) {
			KUNIT_EXPECT_TRUE(test, hw_sees(test, dma[n], seg, 22));
			n++;
			continue;
		}
		/* Full: the map kicked the grow work; once it ran, there is room. */
		if (n < n0) {
			KUNIT_FAIL(test, "pool full after %u of %u segments", n, n0);
			break;
		}
		usw_resize_flush();
		if (nsegs() <= n) {
			KUNIT_FAIL(test, "no growth after %u mappings", n);
			break;
		}
	}
	KUNIT_EXPECT_EQ(test, nsegs(), n0 + 2);
	KUNIT_EXPECT_GT(test, usw_resize_stats.grows, before.grows);
	KUNIT_EXPECT_EQ(test, usw_resize_stats.grown_segs, before.grown_segs + 2);
	KUNIT_EXPECT_EQ(test, usw_resize_stats.grow_failures, before.grow_failures);
	kunit_info(test, "grew %lu segments of %lu KiB in %llu us\n",
		   usw_resize_stats.grown_segs - before.grown_segs, seg >> 10,
		   div_u64(usw_resize_stats.grow_ns - before.grow_ns, NSEC_PER_USEC));

	/* At pool_max: a full pool stays full. */
	dma[n] = dma_map_single_attrs(dev, buf, seg, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, dma[n]));
	usw_resize_flush();
	KUNIT_EXPECT_EQ(test, nsegs(), n0 + 2);

	for (i = 0; i < n; i++)
		dma_unmap_single(dev, dma[i], seg, DMA_TO_DEVICE);
	settle();
	KUNIT_EXPECT_EQ(test, usw_pool.nsegs, n0);
	KUNIT_EXPECT_EQ(test, usw_resize_stats.shrunk_segs, before.shrunk_segs + 2);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/* Refused sizes change nothing. */
static void usw_test_resize_refusals(struct kunit *test)
{
	unsigned long base = usw_pool_bytes, seg = seg_size();
	unsigned int n0 = nsegs();

	KUNIT_EXPECT_EQ(test, usw_resize(base + seg / 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_set_pool_max(base - seg), -EINVAL);
	KUNIT_ASSERT_EQ(test, usw_set_pool_max(base + seg), 0);
	KUNIT_EXPECT_EQ(test, usw_resize(base + 2 * seg), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_pool_bytes, base);
	KUNIT_EXPECT_EQ(test, nsegs(), n0);
	KUNIT_EXPECT_EQ(test, usw_pool.nsegs, n0);
}

/*
 * The largest mapping, a whole segment (2 MiB with segment_size=2M), bounced: the device
 * sees all of it through the hardware's translation (in a Xen PV domain: one machine-
 * contiguous extent), and writes all of it back.
 */
static void usw_test_largest_mapping(struct kunit *test)
{
	struct device *dev = tdev(test);
	size_t max = usw_dma_ops.max_mapping_size(dev);
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	u8 *buf = tbuf(test, max, 23);
	dma_addr_t dma;

	KUNIT_EXPECT_EQ(test, max, seg_size());
	kunit_info(test, "largest mapping %zu KiB\n", max >> 10);
	usw_set_force(true);
	dma = dma_map_single(dev, buf, max, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced + 1);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, max, 23));
	hw_write(test, dma, max, 24);
	dma_unmap_single(dev, dma, max, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, filled(buf, max, 24));
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static struct kunit_case usw_resize_cases[] = {
	KUNIT_CASE(usw_test_resize_refusals),
	KUNIT_CASE(usw_test_largest_mapping),
	KUNIT_CASE(usw_test_grow_on_demand),
	KUNIT_CASE(usw_test_resize_both_ways),
	{}
};

struct kunit_suite usw_resize_suite = {
	.name = "uswiotlb_resize",
	.init = usw_resize_init,
	.exit = usw_resize_exit,
	.test_cases = usw_resize_cases,
};
