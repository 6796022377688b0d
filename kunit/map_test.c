// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite uswiotlb_map: mapping, through the emulated device of helpers.c.
 */
#include <linux/delay.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/kmsg_dump.h>
#include <linux/kthread.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/grant_table.h>
#include <xen/interface/grant_table.h>

#include "helpers.h"

static void usw_test_direct_when_capable(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned long direct = usw_stat(direct), bounced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	u8 *buf = tbuf(test, 256, 1);
	dma_addr_t dma = dma_map_single(dev, buf, 256, DMA_BIDIRECTIONAL);

	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_FALSE(test, in_pool(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(direct), direct + 1);
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), bounced);
	KUNIT_EXPECT_EQ(test, dma_to_phys(dev, dma), hw_phys_to_bus(virt_to_phys(buf)));
	/* A direct mapping: device writes land in the buffer at once. */
	hw_write(test, dma, 256, 9);
	KUNIT_EXPECT_TRUE(test, filled(buf, 256, 9));
	dma_unmap_single(dev, dma, 256, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_bounce_narrow_mask(struct kunit *test)
{
	struct device *dev = tdev(test);
	u64 mask = phys_to_dma(dev, usw_pool.bus_hi - 1);
	unsigned long bounced = usw_stat(bounced[USW_BOUNCE_MASK]);
	struct page *page = page_above(test, mask);
	u8 *buf;
	dma_addr_t dma;

	KUNIT_ASSERT_NOT_NULL_MSG(test, page, "no RAM above the pool (%llx): give QEMU more", mask);
	buf = page_address(page);
	fill(buf, 1024, 3);
	KUNIT_ASSERT_EQ(test, dma_set_mask(dev, mask), 0);
	dma = dma_map_single(dev, buf + 24, 1000, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_MASK]), bounced + 1);
	KUNIT_EXPECT_LE(test, dma + 999, mask);
	KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 1000, seed_at(3, 24)));
	hw_write(test, dma, 1000, 77);
	/* The CPU's copy is untouched until the unmap copies the device's data back. */
	KUNIT_EXPECT_TRUE(test, filled(buf, 1024, 3));
	dma_unmap_single(dev, dma, 1000, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, filled(buf + 24, 1000, 77));
	KUNIT_EXPECT_EQ(test, used(), 0);
	__free_page(page);
}

static const enum dma_data_direction usw_dirs[] = {
	DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL,
};

static bool copies_back(enum dma_data_direction dir)
{
	return dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL;
}

/* Per direction: the device sees the caller's data, and unmap copies back only toward the CPU. */
static void usw_test_bounce_copy_back(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int i;

	usw_set_force(true);
	for (i = 0; i < ARRAY_SIZE(usw_dirs); i++) {
		enum dma_data_direction dir = usw_dirs[i];
		unsigned long bounced = usw_stat(bounced[USW_BOUNCE_FORCE]);
		u8 *buf = tbuf(test, 3000, 10 + i);
		dma_addr_t dma = dma_map_single(dev, buf, 3000, dir);

		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
		KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
		KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), bounced + 1);
		KUNIT_EXPECT_TRUE_MSG(test, hw_sees(test, dma, 3000, 10 + i), "dir %d", dir);
		hw_write(test, dma, 3000, 100 + i);
		KUNIT_EXPECT_TRUE(test, filled(buf, 3000, 10 + i));
		dma_unmap_single(dev, dma, 3000, dir);
		KUNIT_EXPECT_TRUE_MSG(test, filled(buf, 3000, copies_back(dir) ? 100 + i : 10 + i),
				      "dir %d", dir);
		KUNIT_EXPECT_EQ(test, used(), 0);
	}
}

static void usw_test_sync_directions(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int i;

	usw_set_force(true);
	for (i = 0; i < ARRAY_SIZE(usw_dirs); i++) {
		enum dma_data_direction dir = usw_dirs[i];
		u8 *buf = tbuf(test, 4096, 20), seen;
		dma_addr_t dma = dma_map_single(dev, buf, 4096, dir);

		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
		/* Device writes; sync_for_cpu copies it to the CPU only toward the CPU. */
		hw_write(test, dma, 4096, 30);
		dma_sync_single_for_cpu(dev, dma, 4096, dir);
		KUNIT_EXPECT_TRUE_MSG(test, filled(buf, 4096, copies_back(dir) ? 30 : 20), "dir %d",
				      dir);
		/* CPU writes part; sync_for_device copies it to the device only toward it. */
		fill(buf + 512, 1024, 40);
		dma_sync_single_range_for_device(dev, dma, 512, 1024, dir);
		seen = dir == DMA_FROM_DEVICE ? seed_at(30, 512) : 40;
		KUNIT_EXPECT_TRUE_MSG(test, hw_sees(test, dma + 512, 1024, seen), "dir %d", dir);
		/* Outside the synced range the device's view is unchanged. */
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 512, 30));
		dma_unmap_single_attrs(dev, dma, 4096, dir, DMA_ATTR_SKIP_CPU_SYNC);
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_skip_cpu_sync(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, 2048, 50);
	dma_addr_t dma;

	usw_set_force(true);
	dma = dma_map_single_attrs(dev, buf, 2048, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	/* The bounce is filled at map whatever the attribute: the device never sees stale data. */
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 2048, 50));
	hw_write(test, dma, 2048, 60);
	dma_unmap_single_attrs(dev, dma, 2048, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	KUNIT_EXPECT_TRUE(test, filled(buf, 2048, 50));
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/* The slots a FROM_DEVICE mapping gets were just used by someone else: none of it may show. */
static void usw_test_from_device_no_stale_data(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *old = tbuf(test, 8192, 70), *buf = tbuf(test, 8192, 80);
	int round;

	usw_set_force(true);
	for (round = 0; round < 8; round++) {
		dma_addr_t a = dma_map_single(dev, old, 8192, DMA_FROM_DEVICE), b;

		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, a));
		hw_write(test, a, 8192, 90);
		dma_unmap_single(dev, a, 8192, DMA_FROM_DEVICE);
		fill(buf, 8192, 80 + round);
		b = dma_map_single(dev, buf, 8192, DMA_FROM_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, b));
		KUNIT_EXPECT_TRUE(test, hw_sees(test, b, 8192, 80 + round));
		dma_unmap_single(dev, b, 8192, DMA_FROM_DEVICE);
		KUNIT_EXPECT_TRUE(test, filled(buf, 8192, 80 + round));
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_min_align_mask(struct kunit *test)
{
	static const unsigned int offsets[] = { 0, 0x45, 0x7ff, 0x800, 0x923, 0xfff };
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, 3 * PAGE_SIZE, 5);
	unsigned int i;

	dma_set_min_align_mask(dev, 4095);
	KUNIT_ASSERT_EQ(test, dma_get_min_align_mask(dev), 4095U);
	usw_set_force(true);
	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		size_t len = 5000;
		u8 *p = PTR_ALIGN(buf, PAGE_SIZE) - PAGE_SIZE + offsets[i];
		dma_addr_t dma;

		if (p < buf)
			p += PAGE_SIZE;
		dma = dma_map_single(dev, p, len, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
		KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
		KUNIT_EXPECT_EQ_MSG(test, dma & 4095, virt_to_phys(p) & 4095, "offset %x",
				    offsets[i]);
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, len, seed_at(5, p - buf)));
		dma_unmap_single(dev, dma, len, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * What max_mapping_size() promises holds at the worst offset min_align_mask allows: that many
 * bytes map and reach the device, one more is refused cleanly.
 */
static void usw_test_max_mapping_promise(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned long errors = usw_stat(errors);
	size_t max;
	dma_addr_t dma;
	u8 *buf, *p;

	usw_provokes(test, true, false);
	dma_set_min_align_mask(dev, 4095);
	max = usw_dma_ops.max_mapping_size(dev);
	buf = tbuf(test, max + 2 * PAGE_SIZE, 9);
	p = PTR_ALIGN(buf, PAGE_SIZE) + 0xfff;
	usw_set_force(true);
	dma = dma_map_single(dev, p, max, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE_MSG(test, dma_mapping_error(dev, dma), "%zu bytes at offset 0xfff", max);
	KUNIT_EXPECT_EQ(test, dma & 4095, 0xfff);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, max, seed_at(9, p - buf)));
	dma_unmap_single(dev, dma, max, DMA_TO_DEVICE);

	dma = dma_map_single(dev, p, max + 1, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(errors), errors + 1);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_page_alignment(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *small = tbuf(test, 64, 1), *big = tbuf(test, 3 * PAGE_SIZE, 2);
	dma_addr_t s[5], b;
	int i;

	usw_set_force(true);
	/* Move every area's cursor off page alignment first. */
	for (i = 0; i < ARRAY_SIZE(s); i++) {
		s[i] = dma_map_single(dev, small, 64, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, s[i]));
	}
	b = dma_map_single(dev, big + 16, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, b));
	KUNIT_EXPECT_EQ(test, b & (PAGE_SIZE - 1), 0);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, b, 2 * PAGE_SIZE, seed_at(2, 16)));
	dma_unmap_single(dev, b, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	for (i = 0; i < ARRAY_SIZE(s); i++)
		dma_unmap_single(dev, s[i], 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_segment_boundary(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, 16384, 3);
	dma_addr_t dma[12];
	int i;

	dma_set_seg_boundary(dev, 0x3fff);
	KUNIT_ASSERT_EQ(test, dma_get_seg_boundary(dev), 0x3fffUL);
	usw_set_force(true);
	for (i = 0; i < ARRAY_SIZE(dma); i++) {
		size_t len = 6000 + i * 800;

		dma[i] = dma_map_single(dev, buf, len, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma[i]));
		KUNIT_EXPECT_EQ_MSG(test, (dma[i] ^ (dma[i] + len - 1)) & ~0x3fffULL, 0,
				    "%pad+%zu crosses a 16K boundary", &dma[i], len);
	}
	for (i = 0; i < ARRAY_SIZE(dma); i++)
		dma_unmap_single(dev, dma[i], 6000 + i * 800, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_too_large(struct kunit *test)
{
	struct device *dev = tdev(test);
	size_t max = usw_dma_ops.max_mapping_size(dev);
	u8 *buf = tbuf(test, max + 1, 4);
	unsigned long errors = usw_stat(errors);
	dma_addr_t dma;

	usw_provokes(test, true, false);
	KUNIT_EXPECT_EQ(test, max, seg_size());
	usw_set_force(true);
	dma = dma_map_single(dev, buf, max + 1, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(errors), errors + 1);
	KUNIT_EXPECT_EQ(test, used(), 0);

	dma = dma_map_single(dev, buf, max, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, max, 4));
	dma_unmap_single(dev, dma, max, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/* Whether the kernel log got a line containing @needle since @it last read it. */
static bool usw_logged(struct kmsg_dump_iter *it, const char *needle)
{
	bool found = false;
	char line[256];
	size_t len;

	while (kmsg_dump_get_line(it, false, line, sizeof(line) - 1, &len)) {
		line[len] = '\0';
		found |= !!strstr(line, needle);
	}
	return found;
}

/*
 * DMA_ATTR_NO_WARN: a map that fails says nothing in the log; without it, it does. The
 * message is rate limited per call site, so first let the earlier cases' burst expire.
 */
static void usw_test_no_warn(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, seg_size() + 1, 5);
	unsigned long errors = usw_stat(errors);
	struct kmsg_dump_iter it;
	dma_addr_t dma;

	usw_provokes(test, true, false);
	usw_set_force(true);
	msleep(5100);
	kmsg_dump_rewind(&it);
	usw_logged(&it, "");

	dma = dma_map_single_attrs(dev, buf, seg_size() + 1, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_FALSE(test, usw_logged(&it, "uswiotlb: cannot bounce"));
	dma = dma_map_single(dev, buf, seg_size() + 1, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_TRUE(test, usw_logged(&it, "uswiotlb: cannot bounce"));
	KUNIT_EXPECT_EQ(test, usw_stat(errors), errors + 2);
}

static void usw_test_exhaustion_recovers(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int n = nsegs(), i;
	dma_addr_t *dma = kunit_kcalloc(test, n, sizeof(*dma), GFP_KERNEL);
	u8 *buf = tbuf(test, seg_size(), 6);
	unsigned long errors = usw_stat(errors);
	dma_addr_t extra;

	usw_provokes(test, true, false);
	KUNIT_ASSERT_NOT_NULL(test, dma);
	usw_set_force(true);
	for (i = 0; i < n; i++) {
		dma[i] = dma_map_single(dev, buf, seg_size(), DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE_MSG(test, dma_mapping_error(dev, dma[i]), "segment %u", i);
	}
	KUNIT_EXPECT_EQ(test, used(), (long)usw_pool_nslots(&usw_pool));
	extra = dma_map_single(dev, buf, 2048, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, extra));
	KUNIT_EXPECT_EQ(test, usw_stat(errors), errors + 1);
	/* Nothing was damaged by the failure. */
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma[n - 1], seg_size(), 6));

	dma_unmap_single(dev, dma[0], seg_size(), DMA_TO_DEVICE);
	extra = dma_map_single(dev, buf, 2048, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, extra));
	KUNIT_EXPECT_TRUE(test, hw_sees(test, extra, 2048, 6));
	dma_unmap_single(dev, extra, 2048, DMA_TO_DEVICE);
	for (i = 1; i < n; i++)
		dma_unmap_single(dev, dma[i], seg_size(), DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, used(), 0);
	KUNIT_EXPECT_EQ(test, usw_pool_hiwater(&usw_pool), usw_pool_nslots(&usw_pool));
}

static void usw_test_map_sg_all_or_nothing(struct kunit *test)
{
	static const size_t lens[] = { 512, 4096, 3000, 100, 8192 };
	struct device *dev = tdev(test);
	struct scatterlist *sg;
	struct sg_table sgt;
	u8 *bufs[ARRAY_SIZE(lens) + 1];
	unsigned int i;
	int ret;

	usw_provokes(test, true, false);
	usw_set_force(true);
	KUNIT_ASSERT_EQ(test, sg_alloc_table(&sgt, ARRAY_SIZE(lens) + 1, GFP_KERNEL), 0);
	for_each_sgtable_sg(&sgt, sg, i) {
		size_t len = i < ARRAY_SIZE(lens) ? lens[i] : seg_size() + 1;

		bufs[i] = tbuf(test, len, i);
		sg_set_buf(sg, bufs[i], len);
	}
	/* The last entry can never be bounced: nothing may stay mapped. */
	ret = dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	KUNIT_EXPECT_EQ(test, used(), 0);

	/* Without it, everything maps and round-trips. */
	sgt.orig_nents = ARRAY_SIZE(lens);
	sg_mark_end(&sgt.sgl[ARRAY_SIZE(lens) - 1]);
	ret = dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, sgt.nents, (unsigned int)ARRAY_SIZE(lens));
	for_each_sgtable_dma_sg(&sgt, sg, i) {
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), (unsigned int)lens[i]);
		KUNIT_EXPECT_TRUE(test, hw_sees(test, sg_dma_address(sg), lens[i], i));
		hw_write(test, sg_dma_address(sg), lens[i], 200 + i);
	}
	dma_unmap_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	for (i = 0; i < ARRAY_SIZE(lens); i++)
		KUNIT_EXPECT_TRUE(test, filled(bufs[i], lens[i], 200 + i));
	KUNIT_EXPECT_EQ(test, used(), 0);
	sgt.orig_nents = ARRAY_SIZE(lens) + 1;
	sg_free_table(&sgt);
}

/* The phys-to-bus array, the rbtree and the hardware's own translation agree on every slot. */
static void usw_test_tables_agree(struct kunit *test)
{
	struct device *dev = tdev(test);
	struct usw_seg *seg;
	unsigned int s;
	u64 seen, tag;

	for (seg = seg_from(0); seg; seg = seg_next(seg)) {
		for (s = 0; s < usw_seg_slots(&usw_pool); s++) {
			unsigned int i = seg->id << usw_pool.seg_shift | s;
			dma_addr_t bus = usw_slot_bus(&usw_pool, i);
			struct usw_seg *found;

			rcu_read_lock();
			found = usw_pool_find_seg(&usw_pool, bus + USW_SLOT_SIZE - 1);
			rcu_read_unlock();
			KUNIT_ASSERT_PTR_EQ(test, found, seg);
			KUNIT_ASSERT_EQ(test, usw_slot_phys(&usw_pool, i),
					virt_to_phys(usw_slot_vaddr(&usw_pool, i)));
			tag = 0x5157000000000000ULL | i;
			memcpy(usw_slot_vaddr(&usw_pool, i), &tag, sizeof(tag));
			hw_dma(dev, phys_to_dma(dev, bus), &seen, sizeof(seen), false);
			KUNIT_ASSERT_EQ_MSG(test, seen, tag, "slot %u at bus %pad", i, &bus);
		}
	}
	rcu_read_lock();
	KUNIT_EXPECT_NULL(test, usw_pool_find_seg(&usw_pool, usw_pool.bus_lo - 1));
	KUNIT_EXPECT_NULL(test, usw_pool_find_seg(&usw_pool, usw_pool.bus_hi));
	rcu_read_unlock();
}

static void usw_test_unknown_unmap(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, 4096, 7);
	unsigned long misuse = usw_stat(misuse);
	unsigned int i, free_slot = UINT_MAX;
	struct usw_seg *seg;
	dma_addr_t dma, stray;

	usw_provokes(test, false, true);
	usw_set_force(true);
	dma = dma_map_single(dev, buf, 4096, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	for (seg = seg_from(0); seg; seg = seg_next(seg))
		for (i = 0; i < usw_seg_slots(&usw_pool) && free_slot == UINT_MAX; i++)
			if (usw_slot_free(seg->slots[i].state))
				free_slot = seg->id << usw_pool.seg_shift | i;
	KUNIT_ASSERT_NE(test, free_slot, UINT_MAX);
	stray = phys_to_dma(dev, usw_slot_bus(&usw_pool, free_slot));

	/* Called through the ops: the DMA API debug layer would (rightly) WARN first. */
	usw_dma_ops.unmap_page(dev, stray, 2048, DMA_BIDIRECTIONAL, 0);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 1);
	usw_dma_ops.unmap_page(dev, dma + 16, 100, DMA_BIDIRECTIONAL, 0);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 2);
	usw_dma_ops.sync_single_for_cpu(dev, dma + 4000, 200, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 3);
	KUNIT_EXPECT_EQ(test, used(), 2);
	KUNIT_EXPECT_TRUE(test, filled(buf, 4096, 7));

	/* The live mapping is intact and still unmaps normally. */
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 4096, 7));
	hw_write(test, dma, 4096, 8);
	dma_unmap_single(dev, dma, 4096, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, filled(buf, 4096, 8));
	KUNIT_EXPECT_EQ(test, used(), 0);
	/* A second unmap of the same address is refused too. */
	usw_dma_ops.unmap_page(dev, dma, 4096, DMA_BIDIRECTIONAL, 0);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 4);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_force_toggled(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *a = tbuf(test, 1500, 11), *b = tbuf(test, 1500, 12);
	dma_addr_t da, db;

	usw_set_force(true);
	da = dma_map_single(dev, a, 1500, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, da));
	KUNIT_EXPECT_TRUE(test, in_pool(dev, da));
	usw_set_force(false);
	db = dma_map_single(dev, b, 1500, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, db));
	KUNIT_EXPECT_FALSE(test, in_pool(dev, db));

	hw_write(test, da, 1500, 21);
	hw_write(test, db, 1500, 22);
	dma_unmap_single(dev, da, 1500, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, filled(a, 1500, 21));
	usw_set_force(true);
	dma_unmap_single(dev, db, 1500, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, filled(b, 1500, 22));
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static void usw_test_concurrent(struct kunit *test)
{
	struct usw_worker w[4];
	struct usw_seg *seg;
	unsigned int i;

	usw_set_force(true);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		struct task_struct *task;

		w[i] = (struct usw_worker){ .dev = tdev(test), .seed = 1000 * (i + 1) };
		init_completion(&w[i].done);
		task = kthread_run(usw_worker_fn, &w[i], "usw-kunit-%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	}
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		wait_for_completion(&w[i].done);
		KUNIT_EXPECT_EQ_MSG(test, w[i].errors, 0, "worker %u", i);
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
	for (seg = seg_from(0); seg; seg = seg_next(seg))
		for (i = 0; i < usw_seg_slots(&usw_pool); i++)
			KUNIT_ASSERT_EQ(test, usw_slot_free(seg->slots[i].state),
					usw_seg_slots(&usw_pool) - i);
}

static bool machine_consecutive(void *a, void *b)
{
	return hw_phys_to_bus(virt_to_phys(b)) == hw_phys_to_bus(virt_to_phys(a)) + PAGE_SIZE;
}

/*
 * force flipped while other CPUs map and unmap: every flip patches the jump sites the workers
 * are running through, and mappings made on either side of a flip must still verify.
 */
static void usw_test_force_flipped_under_load(struct kunit *test)
{
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	unsigned long direct = usw_stat(direct);
	struct usw_worker w[2];
	bool stop = false;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(w); i++) {
		struct task_struct *task;

		w[i] = (struct usw_worker){ .dev = tdev(test), .seed = 77 * (i + 1) };
		w[i].stop = &stop;
		init_completion(&w[i].done);
		task = kthread_run(usw_worker_fn, &w[i], "usw-flip-%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	}
	for (i = 0; i < 400; i++) {
		usw_set_force(i % 2 == 0);
		usleep_range(200, 400);
	}
	usw_set_force(false);
	WRITE_ONCE(stop, true);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		wait_for_completion(&w[i].done);
		KUNIT_EXPECT_EQ_MSG(test, w[i].errors, 0, "worker %u", i);
		KUNIT_EXPECT_GT_MSG(test, w[i].rounds, 0U, "worker %u", i);
	}
	/* The flips took effect: mappings went both ways during the run. */
	KUNIT_EXPECT_GT(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced);
	KUNIT_EXPECT_GT(test, usw_stat(direct), direct);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * Two pseudo-physically adjacent pages on non-consecutive machine frames. A dom0's p2m is
 * mostly contiguous, so make such a pair: every one-page coherent allocation below 4 GiB is
 * exchanged with Xen on its own, and the page allocator tends to hand out neighbours.
 */
static u8 *split_pair(struct kunit *test, void **pages, dma_addr_t *dmas, int n)
{
	struct device *dev = tdev(test);
	int i, j;

	KUNIT_ASSERT_EQ(test, dma_set_coherent_mask(dev, DMA_BIT_MASK(32)), 0);
	for (i = 0; i < n; i++) {
		pages[i] = dma_alloc_coherent(dev, PAGE_SIZE, &dmas[i], GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, pages[i]);
		for (j = 0; j < i; j++) {
			void *lo = pages[i] < pages[j] ? pages[i] : pages[j];
			void *hi = pages[i] < pages[j] ? pages[j] : pages[i];

			if (hi == lo + PAGE_SIZE && !machine_consecutive(lo, hi))
				return lo;
		}
	}
	return NULL;
}

/* Xen PV: a buffer over non-consecutive machine frames bounces, a consecutive one does not. */
static void usw_test_xen_straddle(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned long bounced = usw_stat(bounced[USW_BOUNCE_STRADDLE]);
	/* After much churn (the debug kernel's fault scenario) 32 pages were seen not to do. */
	const int n = 256;
	void **pages = kunit_kcalloc(test, n, sizeof(*pages), GFP_KERNEL);
	dma_addr_t *dmas = kunit_kcalloc(test, n, sizeof(*dmas), GFP_KERNEL);
	struct page *contig;
	dma_addr_t dma;
	u8 *split;
	int i;

	if (!xen_pv_domain())
		kunit_skip(test, "not a Xen PV domain");
	KUNIT_ASSERT_NOT_NULL(test, pages);
	KUNIT_ASSERT_NOT_NULL(test, dmas);
	split = split_pair(test, pages, dmas, n);
	if (split) {
		fill(split, 2 * PAGE_SIZE, 33);
		dma = dma_map_single(dev, split + 100, PAGE_SIZE, DMA_TO_DEVICE);
		KUNIT_EXPECT_FALSE(test, dma_mapping_error(dev, dma));
		KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_STRADDLE]), bounced + 1);
		KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, PAGE_SIZE, seed_at(33, 100)));
		if (!dma_mapping_error(dev, dma))
			dma_unmap_single(dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	}
	/* Freed before asserting, so a failed search leaks nothing. */
	for (i = 0; i < n && pages[i]; i++)
		dma_free_coherent(dev, PAGE_SIZE, pages[i], dmas[i]);
	KUNIT_ASSERT_NOT_NULL_MSG(test, split, "no adjacent pages on split machine frames");

	/* Over consecutive machine frames nothing straddles. */
	contig = alloc_pages(GFP_KERNEL, 1);
	KUNIT_ASSERT_NOT_NULL(test, contig);
	KUNIT_EXPECT_TRUE(test, machine_consecutive(page_address(contig),
						    page_address(contig + 1)));
	dma = dma_map_single(dev, page_address(contig) + 100, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_FALSE(test, dma_mapping_error(dev, dma));
	if (!dma_mapping_error(dev, dma)) {
		KUNIT_EXPECT_FALSE(test, in_pool(dev, dma));
		dma_unmap_single(dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_STRADDLE]), bounced + 1);
	__free_pages(contig, 1);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * Xen PV dom0: a page another domain granted us, mapped the way blkback maps a guest's (here
 * dom0 grants the page to itself), is mapped at the granted machine frame and counted foreign,
 * direct and bounced; the device's writes reach the granter's page either way.
 */
static void usw_test_xen_foreign(struct kunit *test)
{
	unsigned long f_direct = usw_stat(foreign_direct), f_bounced = usw_stat(foreign_bounced);
	struct device *dev = tdev(test);
	struct gnttab_unmap_grant_ref unmap;
	struct gnttab_map_grant_ref map;
	struct page *src, *page;
	dma_addr_t dma;
	void *vaddr;
	int ref;

	if (!xen_pv_domain() || !xen_initial_domain())
		kunit_skip(test, "a grant of our own has a foreign frame only in a PV dom0's p2m");
	src = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, src);
	fill(page_address(src), PAGE_SIZE, 51);
	ref = gnttab_grant_foreign_access(0, xen_page_to_gfn(src), 0);
	if (ref < 0)
		__free_page(src);
	KUNIT_ASSERT_GE(test, ref, 0);
	if (gnttab_alloc_pages(1, &page)) {
		gnttab_end_foreign_access(ref, src);
		KUNIT_FAIL(test, "no ballooned page to map a grant on");
		return;
	}
	vaddr = page_address(page);
	gnttab_set_map_op(&map, (unsigned long)vaddr, GNTMAP_host_map, ref, 0);
	if (gnttab_map_refs(&map, NULL, &page, 1) || map.status != GNTST_okay) {
		KUNIT_FAIL(test, "grant map failed: status %d", map.status);
		goto out;
	}
	KUNIT_EXPECT_TRUE(test, filled(vaddr, PAGE_SIZE, 51));

	/* In place: the device is given the granter's machine frame. */
	dma = dma_map_page(dev, page, 0, PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, dma, phys_to_dma(dev, hw_phys_to_bus(page_to_phys(src))));
	KUNIT_EXPECT_EQ(test, usw_stat(foreign_direct), f_direct + 1);
	if (!dma_mapping_error(dev, dma)) {
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, PAGE_SIZE, 51));
		hw_write(test, dma, PAGE_SIZE, 52);
		dma_unmap_page(dev, dma, PAGE_SIZE, DMA_BIDIRECTIONAL);
	}
	KUNIT_EXPECT_TRUE(test, filled(vaddr, PAGE_SIZE, 52));

	/* Forced: bounced, still foreign, and the copy back lands in the granted frame. */
	usw_set_force(true);
	dma = dma_map_page(dev, page, 0, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, !dma_mapping_error(dev, dma) && in_pool(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(foreign_bounced), f_bounced + 1);
	if (!dma_mapping_error(dev, dma)) {
		hw_write(test, dma, PAGE_SIZE, 53);
		dma_unmap_page(dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	}
	usw_set_force(false);
	KUNIT_EXPECT_TRUE(test, filled(page_address(src), PAGE_SIZE, 53));
	KUNIT_EXPECT_EQ(test, usw_stat(foreign_direct), f_direct + 1);

	gnttab_set_unmap_op(&unmap, (unsigned long)vaddr, GNTMAP_host_map, map.handle);
	KUNIT_EXPECT_EQ(test, gnttab_unmap_refs(&unmap, NULL, &page, 1), 0);
out:
	gnttab_free_pages(1, &page);
	gnttab_end_foreign_access(ref, src);
}

static void usw_test_coherent_alloc(struct kunit *test)
{
	struct device *dev = tdev(test);
	dma_addr_t dma;
	u8 *cpu;

	KUNIT_ASSERT_EQ(test, dma_set_coherent_mask(dev, DMA_BIT_MASK(32)), 0);
	cpu = dma_alloc_coherent(dev, 3 * PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_EXPECT_LE(test, dma + 3 * PAGE_SIZE - 1, DMA_BIT_MASK(32));
	/* For a device that does not snoop caches, the CPU's view is an uncached mapping. */
	KUNIT_EXPECT_EQ(test, is_vmalloc_addr(cpu), !dev_is_dma_coherent(dev));
	KUNIT_EXPECT_TRUE(test, filled_with(cpu, 3 * PAGE_SIZE, 0));
	fill(cpu, 3 * PAGE_SIZE, 44);
	/* Coherent memory is machine-contiguous: the device sees all of it at @dma. */
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 3 * PAGE_SIZE, 44));
	hw_write(test, dma, 3 * PAGE_SIZE, 45);
	KUNIT_EXPECT_TRUE(test, filled(cpu, 3 * PAGE_SIZE, 45));
	dma_free_coherent(dev, 3 * PAGE_SIZE, cpu, dma);
}

/*
 * GFP_ATOMIC from atomic context (dma_pool_alloc() under a spinlock does this): no sleeping
 * on the way, even where the memory must be mapped uncached (non-coherent devices). With
 * CONFIG_DEBUG_ATOMIC_SLEEP a vmap() here is reported and fails the boot.
 */
static void usw_test_coherent_atomic(struct kunit *test)
{
	struct device *dev = tdev(test);
	static DEFINE_SPINLOCK(lock);
	dma_addr_t dma[3];
	u8 *cpu[3];
	unsigned int i;

	KUNIT_ASSERT_EQ(test, dma_set_coherent_mask(dev, DMA_BIT_MASK(32)), 0);
	spin_lock(&lock);
	for (i = 0; i < ARRAY_SIZE(cpu); i++)
		cpu[i] = dma_alloc_coherent(dev, (i + 1) * 1000, &dma[i], GFP_ATOMIC);
	spin_unlock(&lock);
	for (i = 0; i < ARRAY_SIZE(cpu); i++) {
		KUNIT_ASSERT_NOT_NULL_MSG(test, cpu[i], "allocation %u", i);
		KUNIT_EXPECT_TRUE(test, filled_with(cpu[i], (i + 1) * 1000, 0));
		fill(cpu[i], (i + 1) * 1000, 50 + i);
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma[i], (i + 1) * 1000, 50 + i));
	}
	spin_lock(&lock);
	dma_free_coherent(dev, 1000, cpu[0], dma[0]);
	spin_unlock(&lock);
	dma_free_coherent(dev, 2000, cpu[1], dma[1]);
	dma_free_coherent(dev, 3000, cpu[2], dma[2]);
}

/*
 * dma_alloc_pages() memory is zeroed (it may be mapped to user space), in the CPU's view and
 * in the device's, also when the mapping is bounced. Pages just dirtied and freed are the
 * likeliest to come back, so dirty some first.
 */
static void usw_test_alloc_pages_zeroed(struct kunit *test)
{
	const size_t size = 3 * PAGE_SIZE;
	struct device *dev = tdev(test);
	struct page *pages[8];
	unsigned int i, force;

	for (force = 0; force < 2; force++) {
		for (i = 0; i < ARRAY_SIZE(pages); i++) {
			pages[i] = alloc_pages(GFP_KERNEL, get_order(size));
			KUNIT_ASSERT_NOT_NULL(test, pages[i]);
			memset(page_address(pages[i]), 0xa5, PAGE_SIZE << get_order(size));
		}
		for (i = 0; i < ARRAY_SIZE(pages); i++)
			__free_pages(pages[i], get_order(size));
		usw_set_force(force);
		for (i = 0; i < ARRAY_SIZE(pages); i++) {
			dma_addr_t dma;
			u8 *seen = kunit_kzalloc(test, size, GFP_KERNEL);

			KUNIT_ASSERT_NOT_NULL(test, seen);
			pages[i] = dma_alloc_pages(dev, size, &dma, DMA_BIDIRECTIONAL, GFP_KERNEL);
			KUNIT_ASSERT_NOT_NULL(test, pages[i]);
			/* 6.1's DMA-API debug files these as a mapping whose error check is due. */
			KUNIT_EXPECT_FALSE(test, dma_mapping_error(dev, dma));
			if (force)
				KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
			KUNIT_EXPECT_TRUE_MSG(test, filled_with(page_address(pages[i]), size, 0),
					      "force=%u page %u", force, i);
			hw_dma(dev, dma, seen, size, false);
			KUNIT_EXPECT_TRUE_MSG(test, filled_with(seen, size, 0), "force=%u page %u",
					      force, i);
			dma_free_pages(dev, size, pages[i], dma, DMA_BIDIRECTIONAL);
			kunit_kfree(test, seen);
		}
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * A sync that starts inside a mapping and runs past its end serves the mapped part, as
 * swiotlb does, and is counted as misuse; nothing outside the mapping is touched.
 */
static void usw_test_sync_past_end(struct kunit *test)
{
	struct device *dev = tdev(test);
	u8 *buf = tbuf(test, 4096 + 64, 7);
	unsigned long misuse = usw_stat(misuse);
	dma_addr_t dma;

	usw_provokes(test, false, true);
	usw_set_force(true);
	dma = dma_map_single(dev, buf, 4096, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_ASSERT_TRUE(test, in_pool(dev, dma));
	hw_write(test, dma, 4096, 9);

	/* Through the ops: the DMA API debug layer would (rightly) complain first. */
	usw_dma_ops.sync_single_for_cpu(dev, dma + 4000, 200, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 1);
	KUNIT_EXPECT_TRUE(test, filled(buf, 4000, 7));
	KUNIT_EXPECT_TRUE(test, filled(buf + 4000, 96, seed_at(9, 4000)));
	KUNIT_EXPECT_TRUE(test, filled(buf + 4096, 64, seed_at(7, 4096)));

	/* And towards the device: the CPU's new data reaches the mapped tail only. */
	fill(buf + 4000, 96 + 64, 30);
	usw_dma_ops.sync_single_for_device(dev, dma + 4000, 160, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse + 2);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma + 4000, 96, 30));
	KUNIT_EXPECT_EQ(test, used(), 2);

	dma_unmap_single(dev, dma, 4096, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * map_sg says whether a failure is for now (-ENOMEM: retry once mappings are freed) or for
 * good (-EINVAL: no pool could ever hold the entry; -EIO: the pool is beyond the device).
 */
static void usw_test_map_sg_errors(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int n = nsegs(), i;
	size_t big = seg_size() - PAGE_SIZE;
	dma_addr_t *hold = kunit_kcalloc(test, n, sizeof(*hold), GFP_KERNEL);
	u8 *buf = tbuf(test, seg_size() + 1, 3);
	struct scatterlist sg;
	u64 mask;

	usw_provokes(test, true, false);
	KUNIT_ASSERT_NOT_NULL(test, hold);
	usw_set_force(true);
	sg_init_one(&sg, buf, seg_size() + 1);
	KUNIT_EXPECT_EQ(test, dma_map_sg(dev, &sg, 1, DMA_TO_DEVICE), 0);
	KUNIT_EXPECT_EQ(test, usw_dma_ops.map_sg(dev, &sg, 1, DMA_TO_DEVICE, 0), -EINVAL);

	/* 8 KiB that must not cross a 4 KiB boundary: never. */
	dma_set_seg_boundary(dev, SZ_4K - 1);
	sg_init_one(&sg, buf, SZ_8K);
	KUNIT_EXPECT_EQ(test, usw_dma_ops.map_sg(dev, &sg, 1, DMA_TO_DEVICE, 0), -EINVAL);
	dma_set_seg_boundary(dev, ULONG_MAX);

	/* A full pool: later. */
	for (i = 0; i < n; i++) {
		hold[i] = dma_map_single(dev, buf, big, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, hold[i]));
	}
	sg_init_one(&sg, buf, big);
	KUNIT_EXPECT_EQ(test, usw_dma_ops.map_sg(dev, &sg, 1, DMA_TO_DEVICE, DMA_ATTR_NO_WARN),
			-ENOMEM);
	for (i = 0; i < n; i++)
		dma_unmap_single(dev, hold[i], big, DMA_TO_DEVICE);

	/* A mask below the whole pool (set behind dma_set_mask(), which would refuse it). */
	KUNIT_ASSERT_GT(test, usw_pool.bus_lo, 0);
	mask = *dev->dma_mask;
	*dev->dma_mask = usw_pool.bus_lo - 1;
	sg_init_one(&sg, buf, 100);
	KUNIT_EXPECT_EQ(test, usw_dma_ops.map_sg(dev, &sg, 1, DMA_TO_DEVICE, DMA_ATTR_NO_WARN),
			-EIO);
	*dev->dma_mask = mask;
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/*
 * map_sg failing in the middle of a list, the pool running full at its third entry: the two
 * entries mapped are unmapped again, and the list maps and round-trips once there is room.
 */
static void usw_test_map_sg_fails_midway(struct kunit *test)
{
	const size_t big = seg_size() - PAGE_SIZE;
	struct device *dev = tdev(test);
	unsigned int n = nsegs() - 2, i;
	dma_addr_t *hold = kunit_kcalloc(test, n, sizeof(*hold), GFP_KERNEL);
	u8 *hbuf = tbuf(test, big, 1), *bufs[3];
	struct scatterlist *sg;
	struct sg_table sgt;
	long held;

	usw_provokes(test, true, false);
	KUNIT_ASSERT_NOT_NULL(test, hold);
	KUNIT_ASSERT_GE(test, nsegs(), 3U);
	dma_set_max_seg_size(dev, big);
	usw_set_force(true);
	for (i = 0; i < n; i++) {
		hold[i] = dma_map_single(dev, hbuf, big, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, hold[i]));
	}
	held = used();
	KUNIT_ASSERT_EQ(test, sg_alloc_table(&sgt, ARRAY_SIZE(bufs), GFP_KERNEL), 0);
	for_each_sgtable_sg(&sgt, sg, i) {
		bufs[i] = tbuf(test, big, 10 + i);
		sg_set_buf(sg, bufs[i], big);
	}
	KUNIT_EXPECT_EQ(test, dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, DMA_ATTR_NO_WARN),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, used(), held);
	for (i = 0; i < ARRAY_SIZE(bufs); i++)
		KUNIT_EXPECT_TRUE(test, filled(bufs[i], big, 10 + i));

	for (i = 0; i < n; i++)
		dma_unmap_single(dev, hold[i], big, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0), 0);
	for_each_sgtable_dma_sg(&sgt, sg, i) {
		KUNIT_EXPECT_TRUE(test, hw_sees(test, sg_dma_address(sg), big, 10 + i));
		hw_write(test, sg_dma_address(sg), big, 20 + i);
	}
	dma_unmap_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	for (i = 0; i < ARRAY_SIZE(bufs); i++)
		KUNIT_EXPECT_TRUE(test, filled(bufs[i], big, 20 + i));
	KUNIT_EXPECT_EQ(test, used(), 0);
	sg_free_table(&sgt);
}

static unsigned int stress_ms = 2000;
module_param(stress_ms, uint, 0444);
MODULE_PARM_DESC(stress_ms, "How long usw_test_stress runs, in milliseconds (default 2000)");

/* One thread of the stress: what it does, and what it found. */
struct usw_stress {
	struct device *dev;
	const bool *stop;
	u32 seed;
	unsigned long (*round)(struct usw_stress *s, u8 *buf, u8 *seen, u32 *rnd);
	unsigned long rounds;
	unsigned long errors;
	struct completion done;
};

static u32 usw_next(u32 *rnd)
{
	*rnd = *rnd * 1103515245 + 12345;
	return *rnd >> 8;
}

/*
 * A single mapping's life as a driver lives it, checked through the device's view: the device
 * sees the buffer, writes it, the CPU syncs and sees that, writes anew, syncs for the device,
 * and the unmap hands the device's last write back.
 */
static bool usw_stress_single(struct device *dev, u8 *buf, u8 *seen, size_t len, u32 seed)
{
	dma_addr_t dma;
	bool ok;

	fill(buf, len, seed);
	dma = dma_map_single(dev, buf, len, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, dma))
		return false;
	hw_dma(dev, dma, seen, len, false);
	ok = filled(seen, len, seed);
	fill(seen, len, seed + 1);
	hw_dma(dev, dma, seen, len, true);
	dma_sync_single_for_cpu(dev, dma, len, DMA_BIDIRECTIONAL);
	ok &= filled(buf, len, seed + 1);
	fill(buf, len, seed + 2);
	dma_sync_single_for_device(dev, dma, len, DMA_BIDIRECTIONAL);
	hw_dma(dev, dma, seen, len, false);
	ok &= filled(seen, len, seed + 2);
	fill(seen, len, seed + 3);
	hw_dma(dev, dma, seen, len, true);
	dma_unmap_single(dev, dma, len, DMA_BIDIRECTIONAL);
	return ok && filled(buf, len, seed + 3);
}

/* Three entries of random sizes in one list, written by the device, read back at unmap. */
static bool usw_stress_sg(struct device *dev, u8 *buf, u8 *seen, u32 *rnd, u32 seed)
{
	struct scatterlist sgl[3], *sg;
	size_t len[3];
	bool ok = true;
	int i, n;

	sg_init_table(sgl, 3);
	for (i = 0; i < 3; i++) {
		len[i] = 1 + usw_next(rnd) % 16384;
		fill(buf + i * 16384, len[i], seed + i);
		sg_set_buf(&sgl[i], buf + i * 16384, len[i]);
	}
	n = dma_map_sg(dev, sgl, 3, DMA_BIDIRECTIONAL);
	if (!n)
		return false;
	for_each_sg(sgl, sg, n, i) {
		hw_dma(dev, sg_dma_address(sg), seen, sg_dma_len(sg), false);
		ok &= filled(seen, sg_dma_len(sg), seed + i);
		fill(seen, sg_dma_len(sg), seed + 10 + i);
		hw_dma(dev, sg_dma_address(sg), seen, sg_dma_len(sg), true);
	}
	dma_unmap_sg(dev, sgl, 3, DMA_BIDIRECTIONAL);
	for (i = 0; i < 3; i++)
		ok &= filled(buf + i * 16384, len[i], seed + 10 + i);
	return ok;
}

/* One round of a mapper: a single or a scatterlist mapping. Return: errors found. */
static unsigned long usw_round_map(struct usw_stress *s, u8 *buf, u8 *seen, u32 *rnd)
{
	u32 r = usw_next(rnd);

	return !(r & 1 ? usw_stress_single(s->dev, buf, seen, 1 + r % 16384, r) :
			 usw_stress_sg(s->dev, buf, seen, rnd, r));
}

static unsigned long usw_round_flip(struct usw_stress *s, u8 *buf, u8 *seen, u32 *rnd)
{
	usw_set_force(s->rounds % 2 == 0);
	usleep_range(500, 1000);
	return 0;
}

/* The spare device attached and detached, mapping on whichever ops it has. */
static unsigned long usw_round_attach(struct usw_stress *s, u8 *buf, u8 *seen, u32 *rnd)
{
	unsigned long errors = usw_attach(s->dev) != 0;

	errors += !usw_stress_single(s->dev, buf, seen, 1 + usw_next(rnd) % 4096, *rnd);
	errors += usw_detach(s->dev) != 0;
	return errors + !usw_stress_single(s->dev, buf, seen, 1 + usw_next(rnd) % 4096, *rnd);
}

static int usw_stress_thread(void *data)
{
	struct usw_stress *s = data;
	u8 *buf = kmalloc(3 * 16384, GFP_KERNEL), *seen = kmalloc(16384, GFP_KERNEL);
	u32 rnd = s->seed;

	while (buf && seen && !READ_ONCE(*s->stop)) {
		s->errors += s->round(s, buf, seen, &rnd);
		s->rounds++;
		cond_resched();
	}
	s->errors += !buf || !seen;
	kfree(buf);
	kfree(seen);
	complete(&s->done);
	return 0;
}

/*
 * A mapper per CPU (random single and scatterlist mappings with syncs, verified through the
 * device's view) while force flips and a spare device is attached and detached, for stress_ms.
 */
static void usw_test_stress(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-spare",
		.id = PLATFORM_DEVID_AUTO,
		.dma_mask = DMA_BIT_MASK(64),
	};
	static const char *const names[] = { "flipper", "attacher" };
	unsigned int nmap = num_online_cpus(), i;
	struct usw_stress *s = kunit_kcalloc(test, nmap + 2, sizeof(*s), GFP_KERNEL);
	struct platform_device *spare;
	bool stop = false;

	KUNIT_ASSERT_NOT_NULL(test, s);
	spare = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(spare));
	for (i = 0; i < nmap + 2; i++) {
		struct task_struct *task;

		s[i] = (struct usw_stress){ .dev = i <= nmap ? tdev(test) : &spare->dev,
					    .stop = &stop, .seed = 1234567 * (i + 1) };
		s[i].round = i < nmap ? usw_round_map : i == nmap ? usw_round_flip :
			     usw_round_attach;
		init_completion(&s[i].done);
		task = kthread_run(usw_stress_thread, &s[i], "usw-stress-%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	}
	msleep(stress_ms);
	WRITE_ONCE(stop, true);
	for (i = 0; i < nmap + 2; i++) {
		const char *who = i < nmap ? "mapper" : names[i - nmap];

		wait_for_completion(&s[i].done);
		kunit_info(test, "%s %u: %lu rounds, %lu errors\n", who, i, s[i].rounds,
			   s[i].errors);
		KUNIT_EXPECT_EQ_MSG(test, s[i].errors, 0UL, "%s %u", who, i);
		KUNIT_EXPECT_GT_MSG(test, s[i].rounds, 0UL, "%s %u", who, i);
	}
	usw_set_force(false);
	platform_device_unregister(spare);
	KUNIT_EXPECT_EQ(test, used(), 0);
}

static struct kunit_case usw_map_cases[] = {
	KUNIT_CASE(usw_test_direct_when_capable),
	KUNIT_CASE(usw_test_bounce_narrow_mask),
	KUNIT_CASE(usw_test_bounce_copy_back),
	KUNIT_CASE(usw_test_sync_directions),
	KUNIT_CASE(usw_test_skip_cpu_sync),
	KUNIT_CASE(usw_test_from_device_no_stale_data),
	KUNIT_CASE(usw_test_min_align_mask),
	KUNIT_CASE(usw_test_max_mapping_promise),
	KUNIT_CASE(usw_test_page_alignment),
	KUNIT_CASE(usw_test_segment_boundary),
	KUNIT_CASE(usw_test_too_large),
	KUNIT_CASE_SLOW(usw_test_no_warn),
	KUNIT_CASE(usw_test_exhaustion_recovers),
	KUNIT_CASE(usw_test_map_sg_all_or_nothing),
	KUNIT_CASE(usw_test_tables_agree),
	KUNIT_CASE(usw_test_unknown_unmap),
	KUNIT_CASE(usw_test_force_toggled),
	KUNIT_CASE(usw_test_concurrent),
	KUNIT_CASE(usw_test_force_flipped_under_load),
	KUNIT_CASE(usw_test_xen_straddle),
	KUNIT_CASE(usw_test_xen_foreign),
	KUNIT_CASE(usw_test_coherent_alloc),
	KUNIT_CASE(usw_test_coherent_atomic),
	KUNIT_CASE(usw_test_alloc_pages_zeroed),
	KUNIT_CASE(usw_test_sync_past_end),
	KUNIT_CASE(usw_test_map_sg_errors),
	KUNIT_CASE(usw_test_map_sg_fails_midway),
	KUNIT_CASE(usw_test_stress),
	{}
};

struct kunit_suite usw_map_suite = {
	.name = "uswiotlb_map",
	.init = usw_test_init,
	.exit = usw_test_exit,
	.test_cases = usw_map_cases,
};
