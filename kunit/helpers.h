/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the uswiotlb KUnit suites share: the emulated device, the device each case starts
 * with and the checks it ends with, the test data, the pool's shape, a mapping thread
 * (helpers.c), and the suites, which helpers.c lists for the module.
 */
#ifndef USW_KUNIT_HELPERS_H
#define USW_KUNIT_HELPERS_H

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/types.h>

#include "uswiotlb.h"

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

/* ---- the emulated device ---- */

void hw_dma(struct device *dev, dma_addr_t dma, void *buf, size_t len, bool write);
phys_addr_t hw_phys_to_bus(phys_addr_t phys);

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

int usw_test_init(struct kunit *test);
void usw_provokes(struct kunit *test, bool errors, bool misuse);
void usw_test_exit(struct kunit *test);
struct device *tdev(struct kunit *test);

void fill(u8 *p, size_t size, u8 seed);
void *tbuf(struct kunit *test, size_t size, u8 seed);
bool filled(const u8 *p, size_t size, u8 seed);
bool filled_with(const u8 *p, size_t size, u8 byte);
bool hw_sees(struct kunit *test, dma_addr_t dma, size_t size, u8 seed);
void hw_write(struct kunit *test, dma_addr_t dma, size_t size, u8 seed);
struct page *page_above(struct kunit *test, u64 mask);

/*
 * From @off bytes in, what fill() wrote from @seed goes on as if filled from this seed. Masked,
 * not cast: sparse warns of a cast to u8 that truncates a constant.
 */
static inline u8 seed_at(u8 seed, size_t off)
{
	return (seed + off * 7) & 0xff;
}

bool in_pool(struct device *dev, dma_addr_t dma);
long used(void);
size_t seg_size(void);
unsigned int nsegs(void);
struct usw_seg *seg_from(unsigned int from);
struct usw_seg *seg_next(const struct usw_seg *seg);

/* ---- a mapping thread ---- */

/*
 * One thread of usw_worker_fn(): buffers of random lengths mapped on @dev, checked through
 * the device and written back by it, until *@stop; @errors and @rounds are what it found.
 */
struct usw_worker {
	struct device *dev;
	struct completion done;
	unsigned int seed;
	int errors;
	const bool *stop;	/* run until *stop; NULL: 300 rounds */
	unsigned int rounds;
};

int usw_worker_fn(void *data);

/* The suites, one file each, in the order the module runs them. */
extern struct kunit_suite usw_map_suite;
extern struct kunit_suite usw_resize_suite;
extern struct kunit_suite usw_ctl_suite;
extern struct kunit_suite usw_cache_suite;
extern struct kunit_suite usw_trace_suite;

#endif /* USW_KUNIT_HELPERS_H */
