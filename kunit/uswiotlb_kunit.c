// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for uswiotlb, run against the loaded module in a real kernel (bare metal QEMU
 * or a Xen PV dom0).
 *
 * Device DMA is emulated the way hardware sees it: a bus address is turned back into a local
 * page by dma_to_phys() and, in a Xen PV domain, by the machine-to-phys table (M2P). Nothing
 * here reads uswiotlb's own tables to decide what a device would see.
 */
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/kmsg_dump.h>
#include <linux/kthread.h>
#include <linux/of.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>
#include <xen/xen.h>
#include <xen/page.h>
#include <xen/grant_table.h>
#include <xen/interface/grant_table.h>

#include "uswiotlb.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

/*
 * Test-side differences between the kernels (6.1, 6.12); the module's are in compat.h. Where
 * the module changes behaviour on a feature probe (a grep of the headers), the tests decide
 * what must happen from the kernel's own configuration instead: CONFIG_DMA_NEED_SYNC came
 * with dev->dma_skip_sync (6.11), CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC with
 * dma_kmalloc_needs_bounce() (6.5). A probe that silently misses then fails the tests
 * instead of shrinking them.
 */

#ifndef KUNIT_CASE_SLOW
#define KUNIT_CASE_SLOW KUNIT_CASE	/* before 6.5 there is no speed attribute */
#endif

/* 6.11 made platform_driver.remove return void; before, such a callback was .remove_new. */
#ifdef USW_HAVE_VOID_REMOVE
#define USW_PLATFORM_REMOVE remove
#else
#define USW_PLATFORM_REMOVE remove_new
#endif

/*
 * 6.1 runs a module's suites while the module is still coming, before its sysfs directory
 * exists, and a driver that names the module as its owner cannot be added then.
 */
static struct module *usw_drv_owner(void)
{
	return THIS_MODULE->state == MODULE_STATE_LIVE ? THIS_MODULE : NULL;
}

static int usw_register_pdrv(struct platform_driver *drv)
{
	return __platform_driver_register(drv, usw_drv_owner());
}

static int usw_register_pcidrv(struct pci_driver *drv)
{
	return __pci_register_driver(drv, usw_drv_owner(), KBUILD_MODNAME);
}

/* Force (or with "" clear) which driver binds to @dev, as sysfs driver_override does. */
static int usw_set_override(struct device *dev, bool pci, const char *name)
{
#ifdef USW_HAVE_DEVICE_DRIVER_OVERRIDE
	return device_set_driver_override(dev, name);
#else
	const char **slot = pci ? &to_pci_dev(dev)->driver_override :
				  &to_platform_device(dev)->driver_override;

	return driver_set_override(dev, slot, name, strlen(name));
#endif
}

/* ---- the emulated device ---- */

static struct page *hw_bus_to_page(phys_addr_t bus)
{
	unsigned long pfn = PHYS_PFN(bus);

#ifdef CONFIG_XEN_PV
	if (xen_pv_domain())
		pfn = mfn_to_pfn(pfn);
#endif
	return pfn_to_page(pfn);
}

/* What a device reading (@write false) or writing @len bytes at @dma would do. */
static void hw_dma(struct device *dev, dma_addr_t dma, void *buf, size_t len, bool write)
{
	phys_addr_t bus = dma_to_phys(dev, dma);

	while (len) {
		size_t off = offset_in_page(bus);
		size_t chunk = min_t(size_t, len, PAGE_SIZE - off);
		char *p = kmap_local_page(hw_bus_to_page(bus));

		if (write)
			memcpy(p + off, buf, chunk);
		else
			memcpy(buf, p + off, chunk);
		kunmap_local(p);
		bus += chunk;
		buf = (char *)buf + chunk;
		len -= chunk;
	}
}

/* Bus address the hardware would use for CPU physical address @phys. */
static phys_addr_t hw_phys_to_bus(phys_addr_t phys)
{
#ifdef CONFIG_XEN_PV
	if (xen_pv_domain())
		return PFN_PHYS(pfn_to_mfn(PHYS_PFN(phys))) | offset_in_page(phys);
#endif
	return phys;
}

/* ---- per-test device ---- */

/**
 * struct usw_test - what every case starts with, and what it must end with
 * @pdev: a platform device of its own, attached
 * @dev: &pdev->dev
 * @attached: still attached, for the exit to detach
 * @errors: the errors counter at the start; the exit requires it unchanged...
 * @misuse: ...and the misuse counter too...
 * @errors_ok: ...unless the case declared it provokes errors (usw_provokes())...
 * @misuse_ok: ...or misuse
 */
struct usw_test {
	struct platform_device *pdev;
	struct device *dev;
	bool attached;
	unsigned long errors;
	unsigned long misuse;
	bool errors_ok;
	bool misuse_ok;
};

static int usw_test_init(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit",
		.id = PLATFORM_DEVID_AUTO,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct usw_test *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, t);
	t->pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(t->pdev));
	t->dev = &t->pdev->dev;
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	t->attached = true;
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(t->dev, DMA_BIT_MASK(64)), 0);
	KUNIT_ASSERT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
	usw_set_force(false);
	KUNIT_ASSERT_EQ(test, usw_pool_used(&usw_pool), 0);
	t->errors = usw_stat(errors);
	t->misuse = usw_stat(misuse);
	test->priv = t;
	return 0;
}

/* The case provokes refused mappings (@errors) or misuse (@misuse) on purpose. */
static void usw_provokes(struct kunit *test, bool errors, bool misuse)
{
	struct usw_test *t = test->priv;

	t->errors_ok |= errors;
	t->misuse_ok |= misuse;
}

/*
 * Every case ends clean: nothing left mapped, and no refused mapping or misuse it did not
 * declare, whatever its own expectations looked at.
 */
static void usw_test_exit(struct kunit *test)
{
	struct usw_test *t = test->priv;

	usw_set_force(false);
	if (!t)
		return;
	KUNIT_EXPECT_EQ_MSG(test, usw_pool_used(&usw_pool), 0, "slots still mapped at the end");
	if (!t->errors_ok)
		KUNIT_EXPECT_EQ_MSG(test, usw_stat(errors), t->errors, "undeclared mapping errors");
	if (!t->misuse_ok)
		KUNIT_EXPECT_EQ_MSG(test, usw_stat(misuse), t->misuse, "undeclared misuse");
	if (t->attached)
		usw_detach(t->dev);
	platform_device_unregister(t->pdev);
}

static struct device *tdev(struct kunit *test)
{
	return ((struct usw_test *)test->priv)->dev;
}

static void fill(u8 *p, size_t size, u8 seed)
{
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = (u8)(seed + i * 7);
}

static void *tbuf(struct kunit *test, size_t size, u8 seed)
{
	u8 *p = kunit_kmalloc(test, size, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	fill(p, size, seed);
	return p;
}

static bool filled(const u8 *p, size_t size, u8 seed)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != (u8)(seed + i * 7))
			return false;
	return true;
}

static bool filled_with(const u8 *p, size_t size, u8 byte)
{
	return !memchr_inv(p, byte, size);
}

static bool in_pool(struct device *dev, dma_addr_t dma)
{
	bool found;

	rcu_read_lock();
	found = !!usw_pool_find_seg(&usw_pool, dma_to_phys(dev, dma));
	rcu_read_unlock();
	return found;
}

static long used(void)
{
	return usw_pool_used(&usw_pool);
}

/* The loaded pool's shape: segment_size and pool_size differ between the runs. */
static size_t seg_size(void)
{
	return usw_seg_size(&usw_pool);
}

static unsigned int nsegs(void)
{
	return usw_pool_nslots(&usw_pool) >> usw_pool.seg_shift;
}

/* The first segment from id @from on, or NULL: id order, whatever resizes went before. */
static struct usw_seg *seg_from(unsigned int from)
{
	for (; from < usw_pool.max_segs; from++)
		if (usw_pool.segs[from])
			return usw_pool.segs[from];
	return NULL;
}

static struct usw_seg *seg_next(const struct usw_seg *seg)
{
	return seg_from(seg->id + 1);
}

/* Read what the device sees at @dma and compare with the pattern. */
static bool hw_sees(struct kunit *test, dma_addr_t dma, size_t size, u8 seed)
{
	u8 *copy = kunit_kmalloc(test, size, GFP_KERNEL);
	bool ok;

	KUNIT_ASSERT_NOT_NULL(test, copy);
	hw_dma(tdev(test), dma, copy, size, false);
	ok = filled(copy, size, seed);
	kunit_kfree(test, copy);
	return ok;
}

static void hw_write(struct kunit *test, dma_addr_t dma, size_t size, u8 seed)
{
	u8 *src = tbuf(test, size, seed);

	hw_dma(tdev(test), dma, src, size, true);
	kunit_kfree(test, src);
}

/* ---- mapping ---- */

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

/* A page whose bus address is beyond @mask; NULL if the first 4 MiB we get have none. */
static struct page *page_above(struct kunit *test, u64 mask)
{
	const int tries = 1024;
	struct page **pages = kunit_kcalloc(test, tries, sizeof(*pages), GFP_KERNEL);
	struct page *found = NULL;
	int i, n = 0;

	KUNIT_ASSERT_NOT_NULL(test, pages);
	for (i = 0; i < tries && !found; i++) {
		struct page *p = alloc_page(GFP_KERNEL);

		if (!p)
			break;
		if (hw_phys_to_bus(page_to_phys(p)) > mask)
			found = p;
		else
			pages[n++] = p;
	}
	while (n--)
		__free_page(pages[n]);
	return found;
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
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 1000, (u8)(3 + 24 * 7)));
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
		seen = dir == DMA_FROM_DEVICE ? (u8)(30 + 512 * 7) : 40;
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
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, len, (u8)(5 + (p - buf) * 7)));
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
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, max, (u8)(9 + (p - buf) * 7)));
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
	KUNIT_EXPECT_TRUE(test, hw_sees(test, b, 2 * PAGE_SIZE, (u8)(2 + 16 * 7)));
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

struct usw_worker {
	struct device *dev;
	struct completion done;
	unsigned int seed;
	int errors;
	const bool *stop;	/* run until *stop; NULL: 300 rounds */
	unsigned int rounds;
};

static int usw_worker_fn(void *data)
{
	struct usw_worker *w = data;
	u8 *buf = kmalloc(20000, GFP_KERNEL), *dev_data = kmalloc(20000, GFP_KERNEL);
	u32 rnd = w->seed;
	int iter;

	if (!buf || !dev_data) {
		w->errors = -ENOMEM;
		goto out;
	}
	for (iter = 0; w->stop ? !READ_ONCE(*w->stop) : iter < 300; iter++) {
		size_t len, i;
		dma_addr_t dma;

		rnd = rnd * 1103515245 + 12345;
		len = 1 + (rnd >> 8) % 20000;
		for (i = 0; i < len; i++)
			buf[i] = (u8)(w->seed + iter + i);
		dma = dma_map_single(w->dev, buf, len, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(w->dev, dma)) {
			w->errors++;
			continue;
		}
		hw_dma(w->dev, dma, dev_data, len, false);
		for (i = 0; i < len; i++) {
			if (dev_data[i] != (u8)(w->seed + iter + i)) {
				w->errors++;
				break;
			}
			dev_data[i] = ~dev_data[i];
		}
		hw_dma(w->dev, dma, dev_data, len, true);
		dma_unmap_single(w->dev, dma, len, DMA_BIDIRECTIONAL);
		if (memcmp(buf, dev_data, len))
			w->errors++;
		cond_resched();
	}
	w->rounds = iter;
out:
	kfree(buf);
	kfree(dev_data);
	complete(&w->done);
	return 0;
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
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, PAGE_SIZE, (u8)(33 + 100 * 7)));
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
	KUNIT_EXPECT_TRUE(test, filled(buf + 4000, 96, (u8)(9 + 4000 * 7)));
	KUNIT_EXPECT_TRUE(test, filled(buf + 4096, 64, (u8)(7 + 4096 * 7)));

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

static struct kunit_suite usw_map_suite = {
	.name = "uswiotlb_map",
	.init = usw_test_init,
	.exit = usw_test_exit,
	.test_cases = usw_map_cases,
};

/* ---- the pool's size at run time ---- */

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

static struct kunit_suite usw_resize_suite = {
	.name = "uswiotlb_resize",
	.init = usw_resize_init,
	.exit = usw_resize_exit,
	.test_cases = usw_resize_cases,
};

/* ---- attaching and parameters ---- */

static void usw_test_attach_refusals(struct kunit *test)
{
	struct usw_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, usw_attach(t->dev), -EEXIST);
	KUNIT_EXPECT_EQ(test, usw_attach(usw_dev), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_attach_by_name("usw-kunit-no-such-device"), -ENODEV);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-no-such-device"), -ENODEV);

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	KUNIT_EXPECT_NULL(test, t->dev->dma_ops);
	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), -ENODEV);

	KUNIT_ASSERT_EQ(test, usw_attach_by_name(dev_name(t->dev)), 0);
	t->attached = true;
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
}

static int usw_test_probe(struct platform_device *pdev)
{
	return 0;
}

static struct platform_driver usw_test_driver = {
	.probe = usw_test_probe,
	.driver = { .name = "usw-kunit-drv" },
};

/* Write @text to /sys/kernel/uswiotlb/@file as a shell's echo would: Return: bytes or -errno. */
static ssize_t usw_sysfs_write(const char *file, const char *text)
{
	char path[64];
	struct file *f;
	loff_t pos = 0;
	ssize_t ret;

	snprintf(path, sizeof(path), "/sys/kernel/uswiotlb/%s", file);
	f = filp_open(path, O_WRONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_write(f, text, strlen(text), &pos);
	filp_close(f, NULL);
	return ret;
}

/* The line /sys/kernel/uswiotlb/devices shows for @dev, or "" */
static void usw_devices_line(struct kunit *test, struct device *dev, char *line, size_t size)
{
	char *buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL), *cur, *l;
	size_t n = strlen(dev_name(dev));
	struct file *f;
	loff_t pos = 0;

	*line = '\0';
	KUNIT_ASSERT_NOT_NULL(test, buf);
	f = filp_open("/sys/kernel/uswiotlb/devices", O_RDONLY, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(f));
	KUNIT_EXPECT_GE(test, kernel_read(f, buf, PAGE_SIZE - 1, &pos), 0);
	filp_close(f, NULL);
	cur = buf;
	while ((l = strsep(&cur, "\n")))
		if (!strncmp(l, dev_name(dev), n) && l[n] == ' ')
			strscpy(line, l, size);
}

static void usw_test_bound_driver(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-drv",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *pdev;
	unsigned int refs = usw_module_refs();
	char line[128];

	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_test_driver), 0);
	pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pdev));
	KUNIT_ASSERT_NOT_NULL(test, pdev->dev.driver);

	/* A bound driver holds mappings made through its current ops. */
	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), -EBUSY);
	KUNIT_EXPECT_NULL(test, pdev->dev.dma_ops);
	platform_driver_unregister(&usw_test_driver);

	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), 0);
	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_test_driver), 0);
	KUNIT_EXPECT_NOT_NULL(test, pdev->dev.driver);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);
	usw_devices_line(test, &pdev->dev, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line, "usw-kunit-drv bound driver=usw-kunit-drv ops=uswiotlb");
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), -EBUSY);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&pdev->dev), &usw_dma_ops);

	platform_driver_unregister(&usw_test_driver);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), 0);
	KUNIT_EXPECT_NULL(test, pdev->dev.dma_ops);
	platform_device_unregister(pdev);
}

/*
 * A PCI device the IOMMU translates for: the kernel bypasses custom ops there (6.12), so attach
 * refuses it and leaves its ops alone. Needs QEMU's intel-iommu and a driver-less PCI device.
 */
static void usw_test_iommu_refused(struct kunit *test)
{
	struct pci_dev *pdev = NULL;
	const struct dma_map_ops *ops;
	char text[32];

	for_each_pci_dev(pdev) {
		struct iommu_domain *dom = iommu_get_domain_for_dev(&pdev->dev);

		if (!pdev->dev.driver && dom && (dom->type & __IOMMU_DOMAIN_DMA_API))
			break;
	}
	if (!pdev)
		kunit_skip(test, "no driver-less PCI device in an IOMMU DMA domain");
	ops = get_dma_ops(&pdev->dev);
	KUNIT_EXPECT_EQ(test, usw_attach(&pdev->dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&pdev->dev), ops);
	snprintf(text, sizeof(text), "%s\n", pci_name(pdev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, usw_detach(&pdev->dev), -ENODEV);
	pci_dev_put(pdev);
}

/* The sysfs files as an admin uses them: through the VFS, with echo's newline. */
static void usw_test_sysfs_files(struct kunit *test)
{
	struct usw_test *t = test->priv;
	static const char *const bad[] = { "\n", "two words\n", "a,b\n", "\t\n",
		"usw-kunit-name-that-is-much-too-long-for-any-pci-or-platform-device\n" };
	char line[128], want[128], text[80];
	unsigned int i;

	usw_devices_line(test, t->dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s unbound driver=- ops=uswiotlb", dev_name(t->dev));
	KUNIT_EXPECT_STREQ(test, line, want);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KUNIT_EXPECT_EQ_MSG(test, usw_sysfs_write("attach", bad[i]), -EINVAL, "%s", bad[i]);
		KUNIT_EXPECT_EQ_MSG(test, usw_sysfs_write("detach", bad[i]), -EINVAL, "%s", bad[i]);
	}
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", "usw-kunit-no-such-device\n"), -ENODEV);

	/* Surrounding blanks are not part of the name. */
	snprintf(text, sizeof(text), "  %s\n", dev_name(t->dev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("detach", text), (ssize_t)strlen(text));
	KUNIT_EXPECT_NULL(test, t->dev->dma_ops);
	t->attached = t->dev->dma_ops == &usw_dma_ops;
	usw_devices_line(test, t->dev, line, sizeof(line));
	KUNIT_EXPECT_STREQ(test, line, "");

	snprintf(text, sizeof(text), "%s\n", dev_name(t->dev));
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), (ssize_t)strlen(text));
	t->attached = t->dev->dma_ops == &usw_dma_ops;
	KUNIT_EXPECT_TRUE(test, t->attached);
	KUNIT_EXPECT_EQ(test, usw_sysfs_write("attach", text), -EEXIST);
}

static void usw_test_syncs_reach_us(struct kunit *test)
{
	struct usw_test *t = test->priv;
	u8 *buf = tbuf(test, 1024, 1);
	dma_addr_t dma;

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
#ifdef CONFIG_DMA_NEED_SYNC
	/* What a driver probed on a coherent direct-mapped device leaves behind. */
	t->dev->dma_skip_sync = true;
#endif
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	t->attached = true;
#ifdef CONFIG_DMA_NEED_SYNC
	KUNIT_EXPECT_FALSE(test, t->dev->dma_skip_sync);
#endif
	usw_set_force(true);
	dma = dma_map_single(t->dev, buf, 1024, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	hw_write(test, dma, 1024, 2);
	dma_sync_single_for_cpu(t->dev, dma, 1024, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, filled(buf, 1024, 2));
	dma_unmap_single(t->dev, dma, 1024, DMA_FROM_DEVICE);
}

static void usw_test_attach_all_new_devices(struct kunit *test)
{
	struct platform_device *a, *b;

	usw_set_attach_all(true);
	a = platform_device_register_simple("usw-kunit-hotplug", 1, NULL, 0);
	usw_set_attach_all(false);
	b = platform_device_register_simple("usw-kunit-hotplug", 2, NULL, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(&a->dev), &usw_dma_ops);
	KUNIT_EXPECT_NULL(test, b->dev.dma_ops);
	platform_device_unregister(b);
	/* Removing an attached device forgets it. */
	platform_device_unregister(a);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-hotplug.1"), -ENODEV);
}

static void usw_test_pool_size_values(struct kunit *test)
{
	static const char *const bad[] = {
		"0", "1T", "100K", "abc", "", "64Mjunk", "1025M", "-64M", "255K",
	};
	static const struct {
		const char *val;
		unsigned long bytes;
	} good[] = {
		{ "64M", 64UL << 20 }, { "512K", 512UL << 10 }, { "256K", 256UL << 10 },
		{ "1G", 1UL << 30 }, { "4M\n", 4UL << 20 },
	};
	unsigned long bytes;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		bytes = 12345;
		KUNIT_EXPECT_EQ_MSG(test, usw_parse_size("pool_size", bad[i], SZ_256K, false,
							 &bytes), -EINVAL, "'%s'", bad[i]);
		KUNIT_EXPECT_EQ(test, bytes, 12345UL);
	}
	for (i = 0; i < ARRAY_SIZE(good); i++) {
		KUNIT_EXPECT_EQ_MSG(test, usw_parse_size("pool_size", good[i].val, SZ_256K, false,
							 &bytes), 0, "'%s'", good[i].val);
		KUNIT_EXPECT_EQ(test, bytes, good[i].bytes);
	}
	/* pool_max: 0 is "off"; with 2 MiB segments, sizes come in 2 MiB steps. */
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "0", SZ_2M, true, &bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, 0UL);
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "3M", SZ_2M, true, &bytes), -EINVAL);
	KUNIT_EXPECT_EQ(test, usw_parse_size("pool_max", "6M", SZ_2M, true, &bytes), 0);
	KUNIT_EXPECT_EQ(test, bytes, 6UL << 20);
}

/* ---- real probes: the driver core's dma_configure() runs before the driver's probe ---- */

/* What the last probe of a usw-kunit-probe driver found on its device. */
static struct {
	const struct dma_map_ops *ops;
	unsigned int probes;
} usw_probed;

static void usw_probe_record(struct device *dev)
{
	usw_probed.ops = get_dma_ops(dev);
	usw_probed.probes++;
}

static int usw_probe_platform(struct platform_device *pdev)
{
	usw_probe_record(&pdev->dev);
	return 0;
}

static struct platform_driver usw_probe_pdrv = {
	.probe = usw_probe_platform,
	.driver = { .name = "usw-kunit-probe" },
};

static int usw_probe_pci(struct pci_dev *pdev, const struct pci_device_id *id)
{
	usw_probe_record(&pdev->dev);
	return 0;
}

static struct pci_driver usw_probe_pcidrv = {
	.name = "usw-kunit-probe",
	.probe = usw_probe_pci,
};

static int usw_is_virtio_slot(struct device *dev, const void *unused)
{
	return !dev->driver && of_device_is_compatible(dev->of_node, "virtio,mmio") &&
	       !is_swiotlb_for_alloc(dev);
}

/*
 * A driver-less device whose probe goes through dma_configure(), referenced: an empty
 * virtio-mmio slot of QEMU's virt board (arm64: of_dma_configure, and under Xen
 * xen_setup_dma_ops), or QEMU's pci-testdev outside an IOMMU domain (the x86 Xen PV dom0).
 */
static struct device *usw_probe_candidate(bool *pci)
{
	struct pci_dev *pdev = NULL;
	struct device *dev;

	*pci = false;
	dev = bus_find_device(&platform_bus_type, NULL, NULL, usw_is_virtio_slot);
	if (dev)
		return dev;
	while ((pdev = pci_get_device(PCI_VENDOR_ID_REDHAT, 0x0005, pdev))) {
		if (!pdev->dev.driver && !iommu_get_domain_for_dev(&pdev->dev)) {
			*pci = true;
			return &pdev->dev;
		}
	}
	return NULL;
}

/* Bind usw-kunit-probe to @dev through the driver core, as an admin's bind would. */
static int usw_probe_bind(struct device *dev, bool pci)
{
	usw_probed.probes = 0;
	usw_probed.ops = NULL;
	return pci ? usw_register_pcidrv(&usw_probe_pcidrv) :
		     usw_register_pdrv(&usw_probe_pdrv);
}

static void usw_probe_unbind(bool pci)
{
	if (pci)
		pci_unregister_driver(&usw_probe_pcidrv);
	else
		platform_driver_unregister(&usw_probe_pdrv);
}

#if defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_DEVICE) || defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU) || \
	defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU_ALL)
static void usw_set_coherent(struct device *dev, bool coherent)
{
	dev->dma_coherent = coherent;
}
#else
static void usw_set_coherent(struct device *dev, bool coherent)
{
}
#endif

/*
 * A real probe after attach: dma_configure() runs first (on arm64 under Xen it puts
 * xen-swiotlb's ops back), then the driver must still find our ops, the coherency the probe
 * set is what counts, the mappings it makes go through the pool with force=1, and detach
 * gives back what the kernel's probe installed.
 */
static void usw_test_real_probe(struct kunit *test)
{
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	unsigned int refs = usw_module_refs();
	const struct dma_map_ops *kernel_ops;
	char line[128], want[160];
	long noncoherent_base;
	struct device *dev;
	dma_addr_t dma;
	bool pci;
	u8 *buf;

	dev = usw_probe_candidate(&pci);
	if (!dev)
		kunit_skip(test, "no driver-less device here whose probe runs dma_configure");
	kunit_info(test, "probing %s (%s)\n", dev_name(dev), pci ? "PCI" : "platform, DT node");
	KUNIT_ASSERT_EQ(test, usw_set_override(dev, pci, "usw-kunit-probe"), 0);

	/* The kernel's own probe: what does dma_configure() install here? */
	KUNIT_ASSERT_EQ(test, usw_probe_bind(dev, pci), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	kernel_ops = dev->dma_ops;
	usw_probe_unbind(pci);

	/* Attached with ops and coherency the next probe will rewrite. */
	dev->dma_ops = NULL;
	usw_set_coherent(dev, !dev_is_dma_coherent(dev));
	noncoherent_base = static_key_count(&usw_noncoherent_key.key);
	KUNIT_ASSERT_EQ(test, usw_attach(dev), 0);

	KUNIT_ASSERT_EQ(test, usw_probe_bind(dev, pci), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	KUNIT_EXPECT_PTR_EQ(test, usw_probed.ops, &usw_dma_ops);
	/* Counted by what the probe set, not by the stale value attach saw. */
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_noncoherent_key.key),
			noncoherent_base + !dev_is_dma_coherent(dev));
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);
	usw_devices_line(test, dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s bound driver=usw-kunit-probe ops=uswiotlb", dev_name(dev));
	KUNIT_EXPECT_STREQ(test, line, want);

	/* The bound device maps through the pool. */
	buf = tbuf(test, 3000, 60);
	usw_set_force(true);
	dma = dma_map_single(dev, buf, 3000, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced + 1);
	KUNIT_EXPECT_TRUE(test, in_pool(dev, dma));
	hw_dma(dev, dma, buf + 1500, 1500, false);
	KUNIT_EXPECT_TRUE(test, filled(buf + 1500, 1500, 60));
	fill(buf + 1500, 1500, 61);
	hw_dma(dev, dma, buf + 1500, 1500, true);
	dma_unmap_single(dev, dma, 3000, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, filled(buf, 1500, 61));
	usw_set_force(false);

	usw_probe_unbind(pci);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_ops, kernel_ops);
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_noncoherent_key.key), noncoherent_base);
	KUNIT_EXPECT_EQ(test, usw_set_override(dev, pci, ""), 0);
	put_device(dev);
}

static int usw_has_restricted_pool(struct device *dev, const void *unused)
{
	return !dev->driver && is_swiotlb_for_alloc(dev);
}

/*
 * A device-tree restricted DMA pool (run-kunit.sh gives one to an empty virtio-mmio slot on
 * arm64): the device may reach nothing else, so attach refuses it, and so does the bind after
 * a probe whose dma_configure() installed the pool only after attach had looked.
 */
static void usw_test_restricted_pool_refused(struct kunit *test)
{
	struct usw_test *t = test->priv;
	unsigned int refs = usw_module_refs();
	const struct dma_map_ops *ops;
	struct io_tlb_mem *pool;
	struct device *dev;

	dev = bus_find_device(&platform_bus_type, NULL, NULL, usw_has_restricted_pool);
	if (!dev)
		kunit_skip(test, "no driver-less device with a restricted DMA pool");
	kunit_info(test, "%s has a restricted DMA pool\n", dev_name(dev));
	ops = dev->dma_ops;
	KUNIT_EXPECT_EQ(test, usw_attach(dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_ops, ops);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), -ENODEV);

	/* As before its first probe: the kernel's default pool, which attach accepts. */
	pool = dev->dma_io_tlb_mem;
	dev->dma_io_tlb_mem = t->dev->dma_io_tlb_mem;
	KUNIT_ASSERT_EQ(test, usw_attach(dev), 0);
	KUNIT_ASSERT_EQ(test, usw_set_override(dev, false, "usw-kunit-probe"), 0);
	KUNIT_EXPECT_EQ(test, usw_probe_bind(dev, false), 0);
	KUNIT_EXPECT_EQ(test, usw_probed.probes, 1U);
	KUNIT_EXPECT_PTR_EQ(test, dev->dma_io_tlb_mem, pool);
	/* dma_configure() put the pool back; the driver probed on the kernel's ops. */
	KUNIT_EXPECT_PTR_NE(test, usw_probed.ops, &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	usw_probe_unbind(false);
	KUNIT_EXPECT_EQ(test, usw_detach(dev), -ENODEV);
	KUNIT_EXPECT_PTR_NE(test, get_dma_ops(dev), &usw_dma_ops);
	dev->dma_io_tlb_mem = pool;
	KUNIT_EXPECT_EQ(test, usw_set_override(dev, false, ""), 0);
	put_device(dev);
}

/* A driver that keeps one forced mapping from probe to remove. */
struct usw_del_state {
	u8 buf[2048];
	dma_addr_t dma;
};

static const struct dma_map_ops *usw_removed_ops;

static int usw_del_probe(struct platform_device *pdev)
{
	struct usw_del_state *st = devm_kzalloc(&pdev->dev, sizeof(*st), GFP_KERNEL);

	if (!st)
		return -ENOMEM;
	st->dma = dma_map_single(&pdev->dev, st->buf, sizeof(st->buf), DMA_TO_DEVICE);
	if (dma_mapping_error(&pdev->dev, st->dma))
		return -EIO;
	platform_set_drvdata(pdev, st);
	return 0;
}

static void usw_del_remove(struct platform_device *pdev)
{
	struct usw_del_state *st = platform_get_drvdata(pdev);

	usw_removed_ops = get_dma_ops(&pdev->dev);
	dma_unmap_single(&pdev->dev, st->dma, sizeof(st->buf), DMA_TO_DEVICE);
}

static struct platform_driver usw_del_drv = {
	.probe = usw_del_probe,
	.USW_PLATFORM_REMOVE = usw_del_remove,
	.driver = { .name = "usw-kunit-del" },
};

/*
 * A device deleted while its driver is bound: device_del() tells the bus notifier before it
 * unbinds the driver, whose teardown must still unmap through our ops; then the device is
 * forgotten and the driver's module reference is dropped.
 */
static void usw_test_del_device_bound(struct kunit *test)
{
	struct platform_device_info info = {
		.name = "usw-kunit-del",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	unsigned long misuse = usw_stat(misuse);
	unsigned int refs = usw_module_refs();
	struct platform_device *pdev;

	pdev = platform_device_register_full(&info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pdev));
	KUNIT_ASSERT_EQ(test, usw_attach(&pdev->dev), 0);
	usw_set_force(true);
	KUNIT_ASSERT_EQ(test, usw_register_pdrv(&usw_del_drv), 0);
	KUNIT_ASSERT_NOT_NULL(test, pdev->dev.driver);
	KUNIT_EXPECT_EQ(test, used(), 1);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs + 1);

	usw_removed_ops = NULL;
	platform_device_unregister(pdev);
	KUNIT_EXPECT_PTR_EQ(test, usw_removed_ops, &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, used(), 0);
	KUNIT_EXPECT_EQ(test, usw_stat(misuse), misuse);
	KUNIT_EXPECT_EQ(test, usw_module_refs(), refs);
	KUNIT_EXPECT_EQ(test, usw_detach_by_name("usw-kunit-del"), -ENODEV);
	platform_driver_unregister(&usw_del_drv);
}

/* Ops of some other mechanism (an IOMMU, Xen grants, dma_dummy_ops): not ours to replace. */
static const struct dma_map_ops usw_kunit_other_ops = {
	.map_page = NULL,
};

static void usw_test_other_ops_refused(struct kunit *test)
{
	struct usw_test *t = test->priv;

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	set_dma_ops(t->dev, &usw_kunit_other_ops);
	KUNIT_EXPECT_EQ(test, usw_attach(t->dev), -EOPNOTSUPP);
	KUNIT_EXPECT_PTR_EQ(test, t->dev->dma_ops, &usw_kunit_other_ops);
	set_dma_ops(t->dev, NULL);
}

/*
 * A device the kernel forces to bounce (swiotlb=force gives every device a pool with
 * force_bounce set) bounces with our ops too at force=0, and says so in the devices file.
 * Only force_bounce of the kernel's pool matters to a device that is not on swiotlb's ops;
 * an empty pool with that set stands in for the boot option.
 */
static void usw_test_kernel_forced(struct kunit *test)
{
	unsigned long forced = usw_stat(bounced[USW_BOUNCE_FORCE]);
	long keys = static_key_count(&usw_force_key.key);
	struct usw_test *t = test->priv;
	struct io_tlb_mem *pool = t->dev->dma_io_tlb_mem, *forcing;
	u8 *buf = tbuf(test, 1000, 31);
	char line[128], want[128];
	dma_addr_t dma;

	forcing = kunit_kzalloc(test, sizeof(*forcing), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, forcing);
	forcing->force_bounce = true;
	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	t->dev->dma_io_tlb_mem = forcing;
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	t->attached = true;

	usw_devices_line(test, t->dev, line, sizeof(line));
	snprintf(want, sizeof(want), "%s unbound driver=- ops=uswiotlb forced", dev_name(t->dev));
	KUNIT_EXPECT_STREQ(test, line, want);
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_force_key.key), keys + 1);
	dma = dma_map_single(t->dev, buf, 1000, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, in_pool(t->dev, dma));
	KUNIT_EXPECT_EQ(test, usw_stat(bounced[USW_BOUNCE_FORCE]), forced + 1);
	KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 1000, 31));
	dma_unmap_single(t->dev, dma, 1000, DMA_TO_DEVICE);

	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	KUNIT_EXPECT_EQ(test, static_key_count(&usw_force_key.key), keys);
	t->dev->dma_io_tlb_mem = pool;
}

static bool usw_is_xen_ops(const struct dma_map_ops *ops)
{
	char name[32];

	snprintf(name, sizeof(name), "%ps", ops);
	return ops && !strcmp(name, "xen_swiotlb_dma_ops");
}

static int usw_find_xen_ops(struct device *dev, void *data)
{
	const struct dma_map_ops **ops = data;

	if (!usw_is_xen_ops(dev->dma_ops))
		return 0;
	*ops = dev->dma_ops;
	return 1;
}

/*
 * Detach gives back the ops that were there, not NULL: xen-swiotlb's, as the kernel installs
 * them here (x86 PV: the architecture's ops; arm64 dom0: on each device at probe).
 */
static void usw_test_detach_restores_ops(struct kunit *test)
{
	const struct dma_map_ops *xen_ops = NULL;
	struct usw_test *t = test->priv;

#ifdef CONFIG_X86
	if (usw_is_xen_ops(dma_ops))
		xen_ops = dma_ops;
#endif
	if (!xen_ops)
		bus_for_each_dev(&platform_bus_type, NULL, &xen_ops, usw_find_xen_ops);
	if (!xen_ops)
		kunit_skip(test, "no xen-swiotlb DMA ops here");

	KUNIT_ASSERT_EQ(test, usw_detach(t->dev), 0);
	t->attached = false;
	set_dma_ops(t->dev, xen_ops);
	KUNIT_ASSERT_EQ(test, usw_attach(t->dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &usw_dma_ops);
	KUNIT_EXPECT_EQ(test, usw_detach(t->dev), 0);
	KUNIT_EXPECT_PTR_EQ(test, t->dev->dma_ops, xen_ops);
	set_dma_ops(t->dev, NULL);
}

static struct kunit_case usw_ctl_cases[] = {
	KUNIT_CASE(usw_test_attach_refusals),
	KUNIT_CASE(usw_test_bound_driver),
	KUNIT_CASE(usw_test_sysfs_files),
	KUNIT_CASE(usw_test_iommu_refused),
	KUNIT_CASE(usw_test_syncs_reach_us),
	KUNIT_CASE(usw_test_attach_all_new_devices),
	KUNIT_CASE(usw_test_pool_size_values),
	KUNIT_CASE(usw_test_real_probe),
	KUNIT_CASE(usw_test_restricted_pool_refused),
	KUNIT_CASE(usw_test_del_device_bound),
	KUNIT_CASE(usw_test_other_ops_refused),
	KUNIT_CASE(usw_test_detach_restores_ops),
	KUNIT_CASE(usw_test_kernel_forced),
	{}
};

static struct kunit_suite usw_ctl_suite = {
	.name = "uswiotlb_control",
	.init = usw_test_init,
	.exit = usw_test_exit,
	.test_cases = usw_ctl_cases,
};

/* ---- cache maintenance for non-coherent devices (arm64) ---- */

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
		KUNIT_EXPECT_TRUE(test, hw_sees(test, dma, 3000, (u8)(41 + 100 * 7)));
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

static struct kunit_suite usw_cache_suite = {
	.name = "uswiotlb_cache",
	.init = usw_cache_test_init,
	.exit = usw_cache_test_exit,
	.test_cases = usw_cache_cases,
};

kunit_test_suites(&usw_map_suite, &usw_resize_suite, &usw_ctl_suite, &usw_cache_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for uswiotlb");
