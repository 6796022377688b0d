// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite uswiotlb_cache: cache maintenance for non-coherent devices (arm64).
 */
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/interface/grant_table.h>

#include "helpers.h"

/* One cache primitive as it ran: what, where, and two bytes as they were at that moment. */
struct usw_rec {
	bool foreign;		/* GNTTABOP_cache_flush rather than by local address */
	u32 op;			/* USW_CACHE_* for local, GNTTAB_CACHE_* for foreign */
	phys_addr_t addr;	/* local phys, or the Xen page's bus address */
	unsigned int offset;	/* foreign only: offset into that page */
	size_t size;
	u8 range0;		/* first byte of the maintained range (local only) */
	u8 watch0;		/* first byte of usw_watch, e.g. the caller's buffer */
};

static struct usw_rec usw_recs[16];
static unsigned int usw_nrecs;
static const u8 *usw_watch;
static const struct usw_cache_hooks *usw_real_hooks;

static struct usw_rec *usw_rec_next(void)
{
	struct usw_rec *r = &usw_recs[min_t(unsigned int, usw_nrecs, ARRAY_SIZE(usw_recs) - 1)];

	usw_nrecs++;
	*r = (struct usw_rec){ .watch0 = usw_watch ? *usw_watch : 0 };
	return r;
}

static void usw_rec_local(phys_addr_t phys, size_t size, enum usw_cache_op op)
{
	struct usw_rec *r = usw_rec_next();

	r->op = op;
	r->addr = phys;
	r->size = size;
	r->range0 = *(u8 *)phys_to_virt(phys);
	usw_real_hooks->local(phys, size, op);
}

/* Never reaches Xen: the test names frames that are nobody's memory. */
static int usw_rec_flush(u64 bus, unsigned int offset, unsigned int len, u32 op)
{
	struct usw_rec *r = usw_rec_next();

	r->foreign = true;
	r->op = op;
	r->addr = bus;
	r->offset = offset;
	r->size = len;
	return 0;
}

static const struct usw_cache_hooks usw_rec_hooks = {
	.local = usw_rec_local,
	.flush = usw_rec_flush,
};

static int usw_cache_test_init(struct kunit *test)
{
	int ret = usw_test_init(test);

	if (ret)
		return ret;
	usw_real_hooks = usw_cache_hooks;
	usw_cache_set_hooks(&usw_rec_hooks);
	usw_nrecs = 0;
	usw_watch = NULL;
	return 0;
}

static void usw_cache_test_exit(struct kunit *test)
{
	usw_cache_set_hooks(NULL);
	usw_watch = NULL;
	usw_test_exit(test);
}

/* The debugfs cache counters when the recording was last reset. */
static unsigned long usw_clean0, usw_inval0, usw_foreign0;

/* Forget the operations recorded and counted so far. */
static void rec_reset(void)
{
	usw_nrecs = 0;
	usw_clean0 = usw_stat(cache_clean);
	usw_inval0 = usw_stat(cache_inval);
	usw_foreign0 = usw_stat(cache_foreign);
}

/* What debugfs counted since rec_reset(): @clean, @inval local ranges, @foreign hypercalls. */
static void expect_counted(struct kunit *test, const char *when, unsigned long clean,
			   unsigned long inval, unsigned long foreign)
{
	KUNIT_EXPECT_EQ_MSG(test, usw_stat(cache_clean) - usw_clean0, clean, "%s: cache_clean",
			    when);
	KUNIT_EXPECT_EQ_MSG(test, usw_stat(cache_inval) - usw_inval0, inval, "%s: cache_inval",
			    when);
	KUNIT_EXPECT_EQ_MSG(test, usw_stat(cache_foreign) - usw_foreign0, foreign,
			    "%s: cache_foreign", when);
}

static void need_noncoherent(struct kunit *test)
{
	if (dev_is_dma_coherent(tdev(test)))
		kunit_skip(test, "devices are cache-coherent on this architecture");
}

/* Exactly one local operation @op over [@phys, +@size) was recorded. */
static void expect_one(struct kunit *test, const char *when, u32 op, phys_addr_t phys,
		       size_t size)
{
	KUNIT_EXPECT_EQ_MSG(test, usw_nrecs, 1U, "%s", when);
	expect_counted(test, when, op == USW_CACHE_CLEAN, op == USW_CACHE_INVAL, 0);
	if (usw_nrecs != 1)
		return;
	KUNIT_EXPECT_FALSE_MSG(test, usw_recs[0].foreign, "%s", when);
	KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].op, op, "%s", when);
	KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].addr, phys, "%s", when);
	KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].size, size, "%s", when);
}

/*
 * After handing a mapping of @buf back to the CPU: nothing for TO_DEVICE, else one invalidate
 * over the mapping that ran while @buf still held @before (so before a bounce was copied
 * back), and @buf now holds what the device wrote, @after.
 */
static void expect_for_cpu(struct kunit *test, const char *when, enum dma_data_direction dir,
			   bool bounce, phys_addr_t mapped, const u8 *buf, size_t size, u8 before,
			   u8 after)
{
	if (dir == DMA_TO_DEVICE) {
		KUNIT_EXPECT_EQ_MSG(test, usw_nrecs, 0U, "%s", when);
		expect_counted(test, when, 0, 0, 0);
		return;
	}
	expect_one(test, when, USW_CACHE_INVAL, mapped, size);
	if (usw_nrecs == 1 && bounce)
		KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].watch0, before, "%s", when);
	KUNIT_EXPECT_TRUE_MSG(test, filled(buf, size, after), "%s", when);
}

static const char *const usw_dir_names[] = {
	[DMA_BIDIRECTIONAL] = "bidirectional", [DMA_TO_DEVICE] = "to-device",
	[DMA_FROM_DEVICE] = "from-device",
};

/*
 * Every direction x {map, sync_for_device, sync_for_cpu, unmap}, directly mapped and bounced:
 * which operation ran, over which range, and on which side of the bounce copy.
 */
static void usw_test_cache_directions(struct kunit *test)
{
	static const enum dma_data_direction dirs[] = {
		DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL };
	struct device *dev = tdev(test);
	const size_t size = 3000;	/* kmalloc'ed, but too large to need an alignment bounce */
	unsigned int d, bounce;
	char when[64];

	need_noncoherent(test);
	for (bounce = 0; bounce < 2; bounce++) {
		for (d = 0; d < ARRAY_SIZE(dirs); d++) {
			enum dma_data_direction dir = dirs[d];
			bool to_dev = dir != DMA_FROM_DEVICE;
			u8 *buf = tbuf(test, size, 30 + d);
			phys_addr_t mapped;
			dma_addr_t dma;

			usw_set_force(bounce);
			usw_watch = buf;

			rec_reset();
			dma = dma_map_single(dev, buf, size, dir);
			KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
			KUNIT_ASSERT_EQ(test, in_pool(dev, dma), (bool)bounce);
			mapped = dma_to_phys(dev, dma);
			snprintf(when, sizeof(when), "map %s%s", usw_dir_names[dir],
				 bounce ? " bounced" : "");
			expect_one(test, when, USW_CACHE_CLEAN, mapped, size);
			/* A slot is cleaned after it was filled, so the device sees the data. */
			if (usw_nrecs == 1)
				KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].range0, buf[0], "%s", when);

			/* The CPU writes new data and gives the buffer to the device again. */
			fill(buf, size, 50 + d);
			rec_reset();
			dma_sync_single_for_device(dev, dma, size, dir);
			snprintf(when, sizeof(when), "sync_for_device %s%s", usw_dir_names[dir],
				 bounce ? " bounced" : "");
			expect_one(test, when, USW_CACHE_CLEAN, mapped, size);
			if (usw_nrecs == 1 && bounce && to_dev)
				KUNIT_EXPECT_EQ_MSG(test, usw_recs[0].range0, (u8)(50 + d), "%s",
						    when);

			/* The device writes; the CPU takes the buffer back, twice. */
			hw_write(test, dma, size, 70 + d);
			rec_reset();
			dma_sync_single_for_cpu(dev, dma, size, dir);
			snprintf(when, sizeof(when), "sync_for_cpu %s%s", usw_dir_names[dir],
				 bounce ? " bounced" : "");
			expect_for_cpu(test, when, dir, bounce, mapped, buf, size, 50 + d, 70 + d);

			hw_write(test, dma, size, 90 + d);
			rec_reset();
			dma_unmap_single(dev, dma, size, dir);
			snprintf(when, sizeof(when), "unmap %s%s", usw_dir_names[dir],
				 bounce ? " bounced" : "");
			expect_for_cpu(test, when, dir, bounce, mapped, buf, size, 70 + d, 90 + d);
			usw_watch = NULL;
			kunit_kfree(test, buf);
		}
	}
	KUNIT_EXPECT_EQ(test, used(), 0);
}

/* DMA_ATTR_SKIP_CPU_SYNC: the driver maintains the caches itself, we do nothing. */
static void usw_test_cache_skip_cpu_sync(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned int bounce;

	need_noncoherent(test);
	for (bounce = 0; bounce < 2; bounce++) {
		u8 *buf = tbuf(test, 3000, 5);
		dma_addr_t dma;

		usw_set_force(bounce);
		usw_nrecs = 0;
		dma = dma_map_single_attrs(dev, buf, 3000, DMA_BIDIRECTIONAL,
					   DMA_ATTR_SKIP_CPU_SYNC);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
		dma_unmap_single_attrs(dev, dma, 3000, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
		KUNIT_EXPECT_EQ_MSG(test, usw_nrecs, 0U, "bounce %u", bounce);
		kunit_kfree(test, buf);
	}
}

/* A coherent device on the same ops gets no maintenance at all. */
static void usw_test_cache_coherent_none(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-coherent",
		.id = PLATFORM_DEVID_AUTO,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *pdev;
	struct device *dev;
	unsigned int bounce;

	need_noncoherent(test);
	pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pdev));
	dev = &pdev->dev;
#if defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_DEVICE) || defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU) || \
	defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU_ALL)
	dev->dma_coherent = true;
#endif
	KUNIT_ASSERT_TRUE(test, dev_is_dma_coherent(dev));
	KUNIT_ASSERT_EQ(test, usw_attach(dev), 0);
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)), 0);

	for (bounce = 0; bounce < 2; bounce++) {
		u8 *buf = tbuf(test, 3000, 9);
		dma_addr_t dma;

		usw_set_force(bounce);
		rec_reset();
		dma = dma_map_single(dev, buf, 3000, DMA_BIDIRECTIONAL);
		KUNIT_EXPECT_FALSE(test, dma_mapping_error(dev, dma));
		if (!dma_mapping_error(dev, dma)) {
			dma_sync_single_for_cpu(dev, dma, 3000, DMA_BIDIRECTIONAL);
			dma_sync_single_for_device(dev, dma, 3000, DMA_BIDIRECTIONAL);
			dma_unmap_single(dev, dma, 3000, DMA_BIDIRECTIONAL);
		}
		KUNIT_EXPECT_EQ_MSG(test, usw_nrecs, 0U, "bounce %u", bounce);
		expect_counted(test, bounce ? "coherent, bounced" : "coherent", 0, 0, 0);
		kunit_kfree(test, buf);
	}
	usw_set_force(false);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), 0);
	platform_device_unregister(pdev);
}

/*
 * kmalloc buffers smaller than the DMA alignment share cache lines with other objects: for a
 * device that may write them they are bounced, never invalidated in place (6.12 arm64).
 */
static void usw_test_cache_kmalloc_bounce(struct kunit *test)
{
	struct device *dev = tdev(test);
	unsigned long before = usw_stat(bounced[USW_BOUNCE_ALIGN]);
	u8 *buf;
	dma_addr_t dma;

	need_noncoherent(test);
	/* The kernel's own answer, not our probed wrapper's: a missed probe must fail here. */
#ifdef CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC
	if (!dma_kmalloc_needs_bounce(dev, 24, DMA_FROM_DEVICE))
#endif
		kunit_skip(test, "kmalloc is DMA-aligned here (no kernel swiotlb, or before 6.5)");
	buf = kmalloc(24, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fill(buf, 24, 3);

	dma = dma_map_single(dev, buf, 24, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_ALIGN]), before + 1);
	hw_write(test, dma, 24, 4);
	dma_unmap_single(dev, dma, 24, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, filled(buf, 24, 4));

	/* The device only reads a TO_DEVICE buffer: cleaning a shared line is harmless. */
	dma = dma_map_single(dev, buf, 24, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_FALSE(test, in_pool(dev, dma));
	dma_unmap_single(dev, dma, 24, DMA_TO_DEVICE);
	kfree(buf);
}

/*
 * A foreign frame (another Xen domain's, not one of our pfns) is maintained by Xen through
 * GNTTABOP_cache_flush, one Xen page at a time, by bus address; here the hypercall is recorded.
 */
static void usw_test_cache_foreign(struct kunit *test)
{
	struct device *dev = tdev(test);
	const size_t size = 2 * XEN_PAGE_SIZE + 200;
	/* Past the end of our RAM (arm64 has no highmem), so not one of our pfns. */
	phys_addr_t bus = PAGE_ALIGN(__pa(high_memory - 1)) + 64 * PAGE_SIZE + XEN_PAGE_SIZE - 100;
	bool auto_on = static_key_enabled(&usw_xen_auto_key);
	dma_addr_t dma = phys_to_dma(dev, bus);
	unsigned int i;

	need_noncoherent(test);
	KUNIT_ASSERT_FALSE(test, pfn_valid(PHYS_PFN(bus)));
	if (!auto_on)
		static_branch_enable(&usw_xen_auto_key);

	rec_reset();
	usw_dma_ops.sync_single_for_device(dev, dma, size, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_nrecs, 4U);
	expect_counted(test, "for device, to device", 0, 0, 4);
	for (i = 0; i < min(usw_nrecs, 4U); i++) {
		KUNIT_EXPECT_TRUE(test, usw_recs[i].foreign);
		KUNIT_EXPECT_EQ(test, usw_recs[i].op, (u32)GNTTAB_CACHE_CLEAN);
		KUNIT_EXPECT_EQ(test, usw_recs[i].addr, (bus & XEN_PAGE_MASK) + i * XEN_PAGE_SIZE);
	}
	if (usw_nrecs == 4) {
		KUNIT_EXPECT_EQ(test, usw_recs[0].offset, XEN_PAGE_SIZE - 100);
		KUNIT_EXPECT_EQ(test, usw_recs[0].size, 100);
		KUNIT_EXPECT_EQ(test, usw_recs[1].offset, 0U);
		KUNIT_EXPECT_EQ(test, usw_recs[1].size, XEN_PAGE_SIZE);
		KUNIT_EXPECT_EQ(test, usw_recs[3].size, 100);
	}

	rec_reset();
	usw_dma_ops.sync_single_for_device(dev, dma, size, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_nrecs, 4U);
	expect_counted(test, "for device, from device", 0, 0, 4);
	KUNIT_EXPECT_EQ(test, usw_recs[0].op, (u32)GNTTAB_CACHE_INVAL);

	rec_reset();
	usw_dma_ops.sync_single_for_cpu(dev, dma, size, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, usw_nrecs, 0U);
	usw_dma_ops.sync_single_for_cpu(dev, dma, size, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, usw_nrecs, 4U);
	expect_counted(test, "for cpu", 0, 0, 4);
	KUNIT_EXPECT_EQ(test, usw_recs[3].op, (u32)GNTTAB_CACHE_INVAL);
	KUNIT_EXPECT_FALSE(test, usw_recs[3].addr == 0);

	if (!auto_on)
		static_branch_disable(&usw_xen_auto_key);
}

/*
 * A foreign (grant-mapped) page of an auto-translated domain, for a non-coherent device: with
 * Xen's cache-flush operation it maps in place and is maintained through the hypercall;
 * without it the only safe way is a bounce through local memory. The page's p2m entry is set
 * the way gnttab_map_refs() sets one, to a frame that is nobody's memory (so the device is
 * never pointed at it, and the recorded hypercalls never reach Xen).
 */
static void usw_test_cache_foreign_bounce(struct kunit *test)
{
	unsigned long foreign = usw_stat(bounced[USW_BOUNCE_FOREIGN]);
	unsigned long f_bounced = usw_stat(foreign_bounced), f_direct = usw_stat(foreign_direct);
	struct device *dev = tdev(test);
	bool cflush = usw_xen_cflush;
	unsigned long pfn, mfn;
	struct page *page;
	dma_addr_t dma;
	unsigned int i;

	need_noncoherent(test);
#ifdef CONFIG_ARM64
	if (!static_key_enabled(&usw_xen_auto_key))
#endif
		kunit_skip(test, "needs an auto-translated Xen domain's p2m (arm64 under Xen)");
	page = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	fill(page_address(page), PAGE_SIZE, 41);
	pfn = page_to_xen_pfn(page);
	mfn = XEN_PFN_DOWN(PAGE_ALIGN(__pa(high_memory - 1))) + 1024;
	KUNIT_ASSERT_FALSE(test, pfn_valid(PHYS_PFN((phys_addr_t)mfn << XEN_PAGE_SHIFT)));
	KUNIT_ASSERT_TRUE(test, __set_phys_to_machine(pfn, mfn));

	usw_xen_cflush = false;
	dma = dma_map_page(dev, page, 100, 3000, DMA_TO_DEVICE);
	KUNIT_EXPECT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FOREIGN]), foreign + 1);
	KUNIT_EXPECT_EQ(test, usw_stat(foreign_bounced), f_bounced + 1);
	/* Only a bounce may be read: the foreign frame is nobody's memory. */
	if (!dma_mapping_error(dev, dma) && in_pool(dev, dma))
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 3000, seed_at(41, 100)));
	else
		KUNIT_FAIL(test, "mapped in place at %pad without the cache-flush op", &dma);
	if (!dma_mapping_error(dev, dma))
		dma_unmap_page(dev, dma, 3000, DMA_TO_DEVICE);
	for (i = 0; i < min(usw_nrecs, 16U); i++)
		KUNIT_EXPECT_FALSE_MSG(test, usw_recs[i].foreign, "hypercall %u without the op", i);

	usw_xen_cflush = true;
	usw_nrecs = 0;
	dma = dma_map_page(dev, page, 100, 3000, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, dma, phys_to_dma(dev, ((phys_addr_t)mfn << XEN_PAGE_SHIFT) + 100));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FOREIGN]), foreign + 1);
	KUNIT_EXPECT_EQ(test, usw_stat(foreign_direct), f_direct + 1);
	KUNIT_EXPECT_GE(test, usw_nrecs, 1U);
	if (usw_nrecs)
		KUNIT_EXPECT_TRUE(test, usw_recs[0].foreign);
	if (!dma_mapping_error(dev, dma))
		dma_unmap_page(dev, dma, 3000, DMA_TO_DEVICE);

	usw_xen_cflush = cflush;
	KUNIT_EXPECT_TRUE(test, __set_phys_to_machine(pfn, INVALID_P2M_ENTRY));
	__free_page(page);
}

/*
 * Which Xen mode the module chose, against the running hypervisor; in an auto-translated domain
 * on arm, the real GNTTABOP_cache_flush on a page of our own (Xen accepts its owner's).
 */
static void usw_test_xen_mode(struct kunit *test)
{
	struct page *page;
	int ret;

	if (!xen_domain())
		kunit_skip(test, "not running on Xen");
	KUNIT_EXPECT_EQ(test, static_key_enabled(&usw_xen_auto_key), !xen_pv_domain());
	if (xen_pv_domain())
		return;
	/* Xen has the operation on arm only. */
	KUNIT_EXPECT_EQ(test, usw_xen_cflush, IS_ENABLED(CONFIG_ARM64));
	if (!usw_xen_cflush)
		return;
	page = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_FALSE(test, usw_bus_is_foreign(page_to_phys(page)));
	ret = usw_real_hooks->flush(page_to_phys(page), 64, 128, GNTTAB_CACHE_CLEAN);
	KUNIT_EXPECT_EQ(test, ret, 0);
	ret = usw_real_hooks->flush(page_to_phys(page), 0, XEN_PAGE_SIZE, GNTTAB_CACHE_INVAL);
	KUNIT_EXPECT_EQ(test, ret, 0);
	/* Xen checks the range: a flush past the end of the page is refused. */
	ret = usw_real_hooks->flush(page_to_phys(page), XEN_PAGE_SIZE - 8, 16, GNTTAB_CACHE_CLEAN);
	KUNIT_EXPECT_LT(test, ret, 0);
	__free_page(page);
}

static struct kunit_case usw_cache_cases[] = {
	KUNIT_CASE(usw_test_cache_directions),
	KUNIT_CASE(usw_test_cache_skip_cpu_sync),
	KUNIT_CASE(usw_test_cache_coherent_none),
	KUNIT_CASE(usw_test_cache_kmalloc_bounce),
	KUNIT_CASE(usw_test_cache_foreign),
	KUNIT_CASE(usw_test_cache_foreign_bounce),
	KUNIT_CASE(usw_test_xen_mode),
	{}
};

struct kunit_suite usw_cache_suite = {
	.name = "uswiotlb_cache",
	.init = usw_cache_test_init,
	.exit = usw_cache_test_exit,
	.test_cases = usw_cache_cases,
};
