// SPDX-License-Identifier: GPL-2.0
/*
 * usw_bench: the in-kernel measurements of `make bench` that dma_map_benchmark cannot give.
 *
 * copy: the copy limit. A bounce is a memcpy() of the buffer into pool memory plus
 *   bookkeeping, so the time the same copy takes in the same boot is the floor a bounced map can
 *   reach. It is timed the way kernel/dma/map_benchmark.c times a map: the page-allocated source
 *   is written first, untimed, then one copy into another page-allocated buffer is bracketed by
 *   ktime_get() and counted in whole 100 ns units, so both carry the same timer cost and
 *   rounding.
 *
 * loop: map/unmap pairs timed as a whole loop, for the unbounced fast path. dma_map_benchmark
 *   rounds every map down to 100 ns, and a direct map takes a few hundred: too coarse to tell 5%.
 *   Each granule and direction runs on the kernel's device and on uswiotlb's in turn and, if
 *   floor= names a third device, on that one with ops that only add the offset: the cost of
 *   dispatching through any struct dma_map_ops instead of the kernel's inline dma-direct. The
 *   devices must have no driver bound; the buffer is the CPU's throughout (nothing is written
 *   while mapped), as in map_benchmark.
 *
 * Load with granules=1,4,16,64 (pages), ms=500 (per measurement) and, for the loop,
 * kernel=<PCI name> uswiotlb=<PCI name> [floor=<PCI name>]. Everything runs at load;
 * /sys/kernel/debug/usw_bench then holds one line per measurement.
 */
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#define USW_BENCH_MAX_GRANULES	8
#define USW_BENCH_MAX_PAGES	1024	/* map_benchmark's own limit */
#define USW_BENCH_MAX_MS	10000
#define USW_BENCH_BATCH		64	/* map/unmap pairs between two clock reads */

static char granules[64] = "1,4,16,64";
module_param_string(granules, granules, sizeof(granules), 0444);
MODULE_PARM_DESC(granules, "Comma-separated sizes in pages, 1 to 1024 (default 1,4,16,64)");

static unsigned int ms = 500;
module_param(ms, uint, 0444);
MODULE_PARM_DESC(ms, "Time spent on each measurement in milliseconds, 1 to 10000 (default 500)");

static char kernel_dev[32];
module_param_string(kernel, kernel_dev, sizeof(kernel_dev), 0444);
MODULE_PARM_DESC(kernel, "PCI device left on the kernel's DMA ops, for the map/unmap loop");

static char usw_dev[32];
module_param_string(uswiotlb, usw_dev, sizeof(usw_dev), 0444);
MODULE_PARM_DESC(uswiotlb, "PCI device attached to uswiotlb, for the map/unmap loop");

static char floor_dev[32];
module_param_string(floor, floor_dev, sizeof(floor_dev), 0444);
MODULE_PARM_DESC(floor, "PCI device given do-nothing DMA ops for the loop (bare metal only)");

static bool swap;
module_param(swap, bool, 0444);
MODULE_PARM_DESC(swap, "Run the loop's devices in reverse order (alternate per run)");

static const enum dma_data_direction usw_bench_dirs[] = { DMA_TO_DEVICE, DMA_BIDIRECTIONAL };

static unsigned int pages[USW_BENCH_MAX_GRANULES], npages;

struct usw_copy_result {
	u64 copies;
	u64 sum_100ns;
};

struct usw_loop_result {
	u64 pairs;
	u64 ns;
};

static struct usw_copy_result copy_res[USW_BENCH_MAX_GRANULES];
enum { USW_KERNEL, USW_USW, USW_FLOOR, USW_NR_IMPL };
static const char *const usw_impl_names[USW_NR_IMPL] = { "kernel", "uswiotlb", "ops_floor" };
static struct usw_loop_result loop_res[USW_BENCH_MAX_GRANULES][ARRAY_SIZE(usw_bench_dirs)]
				      [USW_NR_IMPL];
static struct dentry *usw_bench_file;

static int usw_bench_parse(const char *spec)
{
	char buf[sizeof(granules)], *cur = buf, *tok;

	strscpy(buf, spec, sizeof(buf));
	while ((tok = strsep(&cur, ","))) {
		unsigned int n;

		if (npages == USW_BENCH_MAX_GRANULES || kstrtouint(tok, 10, &n) || !n ||
		    n > USW_BENCH_MAX_PAGES) {
			pr_err("usw_bench: granules='%s': want up to %d sizes of 1 to %d pages, comma-separated\n",
			       spec, USW_BENCH_MAX_GRANULES, USW_BENCH_MAX_PAGES);
			return -EINVAL;
		}
		pages[npages++] = n;
	}
	return 0;
}

static u64 usw_bench_deadline(void)
{
	return ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
}

static void usw_bench_copy(void *dst, void *src, size_t size, struct usw_copy_result *r)
{
	u64 end = usw_bench_deadline();

	do {
		ktime_t start;

		memset(src, 0x66, size);
		start = ktime_get();
		memcpy(dst, src, size);
		r->sum_100ns += div_u64(ktime_to_ns(ktime_sub(ktime_get(), start)), 100);
		r->copies++;
		cond_resched();
	} while (ktime_get_ns() < end);
}

static int usw_bench_loop(struct device *dev, void *buf, size_t size,
			  enum dma_data_direction dir, struct usw_loop_result *r)
{
	u64 end = usw_bench_deadline();

	do {
		ktime_t start = ktime_get();
		unsigned int i;

		for (i = 0; i < USW_BENCH_BATCH; i++) {
			dma_addr_t dma = dma_map_single(dev, buf, size, dir);

			if (dma_mapping_error(dev, dma)) {
				dev_err(dev, "usw_bench: cannot map %zu bytes\n", size);
				return -ENOMEM;
			}
			dma_unmap_single(dev, dma, size, dir);
		}
		r->ns += ktime_to_ns(ktime_sub(ktime_get(), start));
		r->pairs += USW_BENCH_BATCH;
		cond_resched();
	} while (ktime_get_ns() < end);
	return 0;
}

/* Bus address = physical address, as dma-direct on bare metal: nothing but the dispatch. */
static dma_addr_t usw_floor_map_page(struct device *dev, struct page *page, unsigned long offset,
				     size_t size, enum dma_data_direction dir, unsigned long attrs)
{
	return phys_to_dma(dev, page_to_phys(page) + offset);
}

static void usw_floor_unmap_page(struct device *dev, dma_addr_t dma, size_t size,
				 enum dma_data_direction dir, unsigned long attrs)
{
}

static const struct dma_map_ops usw_floor_ops = {
	.map_page = usw_floor_map_page,
	.unmap_page = usw_floor_unmap_page,
};

static struct device *usw_bench_find(const char *name)
{
	struct device *dev = bus_find_device_by_name(&pci_bus_type, NULL, name);

	if (!dev) {
		pr_err("usw_bench: no PCI device '%s'\n", name);
		return NULL;
	}
	if (dev->driver) {
		dev_err(dev, "usw_bench: has a driver bound; the loop wants an idle device\n");
		put_device(dev);
		return NULL;
	}
	return dev;
}

/* One granule: the copy, then each direction on every device, in turns. */
static int usw_bench_granule(unsigned int g, struct device *devs[USW_NR_IMPL])
{
	static const unsigned int order[2][USW_NR_IMPL] = {
		{ USW_FLOOR, USW_KERNEL, USW_USW }, { USW_USW, USW_KERNEL, USW_FLOOR },
	};
	size_t size = (size_t)pages[g] << PAGE_SHIFT;
	void *src = alloc_pages_exact(size, GFP_KERNEL);
	void *dst = alloc_pages_exact(size, GFP_KERNEL);
	unsigned int d, k;
	int ret = -ENOMEM;

	if (!src || !dst)
		goto out;
	usw_bench_copy(dst, src, size, &copy_res[g]);
	ret = 0;
	for (d = 0; d < ARRAY_SIZE(usw_bench_dirs) && !ret; d++)
		for (k = 0; k < USW_NR_IMPL && !ret; k++) {
			unsigned int i = order[swap][k];

			if (devs[i])
				ret = usw_bench_loop(devs[i], src, size, usw_bench_dirs[d],
						     &loop_res[g][d][i]);
		}
out:
	free_pages_exact(src, size);
	free_pages_exact(dst, size);
	return ret;
}

static int usw_bench_show(struct seq_file *m, void *v)
{
	unsigned int g, d, i;

	for (g = 0; g < npages; g++) {
		const struct usw_copy_result *c = &copy_res[g];
		size_t bytes = (size_t)pages[g] << PAGE_SHIFT;

		/* ns per copy = sum_100ns * 100 / copies; MB/s = bytes * 1000 / ns */
		seq_printf(m, "copy granule=%u bytes=%zu copies=%llu copy_ns=%llu mbps=%llu\n",
			   pages[g], bytes, c->copies, div64_u64(c->sum_100ns * 100, c->copies),
			   c->sum_100ns ? div64_u64((u64)bytes * c->copies * 10, c->sum_100ns) : 0);
		for (d = 0; d < ARRAY_SIZE(usw_bench_dirs); d++)
			for (i = 0; i < USW_NR_IMPL; i++) {
				const struct usw_loop_result *l = &loop_res[g][d][i];

				if (!l->pairs)
					continue;
				/* dir= as dma_map_benchmark's -d: 0 bidirectional, 1 to device */
				seq_printf(m, "loop impl=%s granule=%u dir=%d pairs=%llu pair_ns=%llu\n",
					   usw_impl_names[i], pages[g],
					   usw_bench_dirs[d] == DMA_TO_DEVICE ? 1 : 0, l->pairs,
					   div64_u64(l->ns, l->pairs));
			}
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(usw_bench);

static void usw_bench_put(struct device *devs[USW_NR_IMPL])
{
	unsigned int i;

	for (i = 0; i < USW_NR_IMPL; i++)
		if (devs[i])
			put_device(devs[i]);
}

static int __init usw_bench_init(void)
{
	struct device *devs[USW_NR_IMPL] = { NULL };
	unsigned int g;
	int ret;

	if (!ms || ms > USW_BENCH_MAX_MS) {
		pr_err("usw_bench: ms=%u: want 1 to %d\n", ms, USW_BENCH_MAX_MS);
		return -EINVAL;
	}
	ret = usw_bench_parse(granules);
	if (ret)
		return ret;
	if (!*kernel_dev != !*usw_dev || (*floor_dev && !*kernel_dev)) {
		pr_err("usw_bench: give kernel= and uswiotlb= (and optionally floor=), or none\n");
		return -EINVAL;
	}
	if (*kernel_dev) {
		devs[USW_KERNEL] = usw_bench_find(kernel_dev);
		devs[USW_USW] = usw_bench_find(usw_dev);
		if (*floor_dev)
			devs[USW_FLOOR] = usw_bench_find(floor_dev);
		if (!devs[USW_KERNEL] || !devs[USW_USW] || (*floor_dev && !devs[USW_FLOOR])) {
			usw_bench_put(devs);
			return -ENODEV;
		}
	}
	if (devs[USW_FLOOR]) {
		if (get_dma_ops(devs[USW_FLOOR])) {
			dev_err(devs[USW_FLOOR], "usw_bench: floor device already has DMA ops\n");
			usw_bench_put(devs);
			return -EBUSY;
		}
		set_dma_ops(devs[USW_FLOOR], &usw_floor_ops);
	}
	for (g = 0, ret = 0; g < npages && !ret; g++)
		ret = usw_bench_granule(g, devs);
	if (devs[USW_FLOOR])
		set_dma_ops(devs[USW_FLOOR], NULL);
	usw_bench_put(devs);
	if (!ret)
		usw_bench_file = debugfs_create_file("usw_bench", 0444, NULL, NULL,
						     &usw_bench_fops);
	return ret;
}

static void __exit usw_bench_exit(void)
{
	debugfs_remove(usw_bench_file);
}

module_init(usw_bench_init);
module_exit(usw_bench_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("memcpy baseline and map/unmap loop for the uswiotlb benchmark");
MODULE_AUTHOR("uswiotlb developers");
