// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for uswiotlb, run against the loaded module in a real kernel (bare metal QEMU
 * or a Xen PV dom0).
 *
 * Device DMA is emulated the way hardware sees it: a bus address is turned back into a local
 * page by dma_to_phys() and, in a Xen PV domain, by the machine-to-phys table (M2P). Nothing
 * here reads uswiotlb's own tables to decide what a device would see.
 *
 * One module, uswiotlb_kunit.ko, with a file per suite: map_test.c (uswiotlb_map),
 * resize_test.c (uswiotlb_resize), control_test.c (uswiotlb_control), cache_test.c
 * (uswiotlb_cache) and trace_test.c (uswiotlb_trace). This file holds what several of them
 * share (declared in helpers.h) and the list of suites, in the order they run.
 */
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/list.h>
#include <linux/platform_device.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <xen/xen.h>
#include <xen/page.h>

#include "helpers.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

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
void hw_dma(struct device *dev, dma_addr_t dma, void *buf, size_t len, bool write)
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
phys_addr_t hw_phys_to_bus(phys_addr_t phys)
{
#ifdef CONFIG_XEN_PV
	if (xen_pv_domain())
		return PFN_PHYS(pfn_to_mfn(PHYS_PFN(phys))) | offset_in_page(phys);
#endif
	return phys;
}

/* ---- per-test device ---- */

int usw_test_init(struct kunit *test)
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
void usw_provokes(struct kunit *test, bool errors, bool misuse)
{
	struct usw_test *t = test->priv;

	t->errors_ok |= errors;
	t->misuse_ok |= misuse;
}

/*
 * Every case ends clean: nothing left mapped, and no refused mapping or misuse it did not
 * declare, whatever its own expectations looked at.
 */
void usw_test_exit(struct kunit *test)
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

struct device *tdev(struct kunit *test)
{
	return ((struct usw_test *)test->priv)->dev;
}

void fill(u8 *p, size_t size, u8 seed)
{
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = (u8)(seed + i * 7);
}

void *tbuf(struct kunit *test, size_t size, u8 seed)
{
	u8 *p = kunit_kmalloc(test, size, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, p);
	fill(p, size, seed);
	return p;
}

/*
 * A page whose bus address is beyond @mask; NULL if the first 64 MiB we get have none. Where
 * the allocator hands out pages from varies with what ran before (4 MiB once found none in an
 * arm64 dom0 a case after another had found one): the pages tried wait on a list, so that
 * each try is a new page.
 */
struct page *page_above(struct kunit *test, u64 mask)
{
	const int tries = SZ_64M / PAGE_SIZE;
	struct page *found = NULL, *p, *next;
	LIST_HEAD(tried);
	int i;

	for (i = 0; i < tries && !found; i++) {
		p = alloc_page(GFP_KERNEL | __GFP_NOWARN);
		if (!p)
			break;
		if (hw_phys_to_bus(page_to_phys(p)) > mask)
			found = p;
		else
			list_add(&p->lru, &tried);
	}
	list_for_each_entry_safe(p, next, &tried, lru)
		__free_page(p);
	return found;
}

bool filled(const u8 *p, size_t size, u8 seed)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != (u8)(seed + i * 7))
			return false;
	return true;
}

bool filled_with(const u8 *p, size_t size, u8 byte)
{
	return !memchr_inv(p, byte, size);
}

bool in_pool(struct device *dev, dma_addr_t dma)
{
	bool found;

	rcu_read_lock();
	found = !!usw_pool_find_seg(&usw_pool, dma_to_phys(dev, dma));
	rcu_read_unlock();
	return found;
}

long used(void)
{
	return usw_pool_used(&usw_pool);
}

/* The loaded pool's shape: segment_size and pool_size differ between the runs. */
size_t seg_size(void)
{
	return usw_seg_size(&usw_pool);
}

unsigned int nsegs(void)
{
	return usw_pool_nslots(&usw_pool) >> usw_pool.seg_shift;
}

/* The first segment from id @from on, or NULL: id order, whatever resizes went before. */
struct usw_seg *seg_from(unsigned int from)
{
	for (; from < usw_pool.max_segs; from++)
		if (usw_pool.segs[from])
			return usw_pool.segs[from];
	return NULL;
}

struct usw_seg *seg_next(const struct usw_seg *seg)
{
	return seg_from(seg->id + 1);
}

/* Read what the device sees at @dma and compare with the pattern. */
bool hw_sees(struct kunit *test, dma_addr_t dma, size_t size, u8 seed)
{
	u8 *copy = kunit_kmalloc(test, size, GFP_KERNEL);
	bool ok;

	KUNIT_ASSERT_NOT_NULL(test, copy);
	hw_dma(tdev(test), dma, copy, size, false);
	ok = filled(copy, size, seed);
	kunit_kfree(test, copy);
	return ok;
}

void hw_write(struct kunit *test, dma_addr_t dma, size_t size, u8 seed)
{
	u8 *src = tbuf(test, size, seed);

	hw_dma(tdev(test), dma, src, size, true);
	kunit_kfree(test, src);
}

/* ---- a mapping thread ---- */

int usw_worker_fn(void *data)
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

kunit_test_suites(&usw_map_suite, &usw_resize_suite, &usw_ctl_suite, &usw_cache_suite,
		  &usw_trace_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for uswiotlb");
