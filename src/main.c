// SPDX-License-Identifier: GPL-2.0
/*
 * uswiotlb: one DMA-mapping implementation for bare metal, auto-translated Xen guests and Xen
 * PV domains, with its own bounce pool. Module parameters and set-up live here.
 */
#include <linux/cc_platform.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/fault-inject.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/sizes.h>

#include "uswiotlb.h"

DEFINE_PER_CPU(struct usw_stats, usw_stats);
struct usw_pool usw_pool;
EXPORT_SYMBOL_IF_KUNIT(usw_pool);
struct device *usw_dev;
EXPORT_SYMBOL_IF_KUNIT(usw_dev);
/* pool.c stays free of kernel-only macros: its test entry points are exported here. */
EXPORT_SYMBOL_IF_KUNIT(usw_pool_find_seg);
bool usw_force;
/* How long usw_pool_create() took at load: on Xen PV it is one exchange per segment. */
u64 usw_pool_setup_ns;

static struct platform_device *usw_pdev;
static char usw_attach_spec[256] = "none";
static DEFINE_MUTEX(usw_param_lock);

/**
 * usw_stat_sum() - sum one counter of &struct usw_stats over all CPUs
 * @offset: offsetof() the counter
 *
 * Return: the sum.
 */
unsigned long usw_stat_sum(size_t offset)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *(unsigned long *)((char *)per_cpu_ptr(&usw_stats, cpu) + offset);
	return sum;
}
EXPORT_SYMBOL_IF_KUNIT(usw_stat_sum);

/**
 * usw_set_force() - switch forced bouncing on or off for new mappings
 * @on: the new setting
 *
 * Mappings made before still unmap and sync correctly: those paths find bounce slots from the
 * dma address alone.
 */
void usw_set_force(bool on)
{
	mutex_lock(&usw_param_lock);
	if (on != usw_force) {
		WRITE_ONCE(usw_force, on);
		if (on)
			static_branch_inc(&usw_force_key);
		else
			static_branch_dec(&usw_force_key);
	}
	mutex_unlock(&usw_param_lock);
}
EXPORT_SYMBOL_IF_KUNIT(usw_set_force);

static int usw_force_set(const char *val, const struct kernel_param *kp)
{
	bool on;

	if (kstrtobool(val, &on)) {
		pr_err("uswiotlb: force: expected 0 or 1\n");
		return -EINVAL;
	}
	usw_set_force(on);
	return 0;
}

static const struct kernel_param_ops usw_force_ops = {
	.set = usw_force_set,
	.get = param_get_bool,
};
module_param_cb(force, &usw_force_ops, &usw_force, 0644);
MODULE_PARM_DESC(force, "Bounce every mapping (0/1, writable at run time)");

module_param_string(attach, usw_attach_spec, sizeof(usw_attach_spec), 0444);
MODULE_PARM_DESC(attach, "Devices to attach at load: none, all, or a comma-separated list of names");

#ifdef CONFIG_FAULT_INJECTION
/*
 * Fault injection for the pool's memory, in the kernel's failslab= syntax: a load with
 * fail_pool_segment=8,100,0,1 has its 8th segment allocation fail. Only in kernels built with
 * fault injection; load-time, as the pool is made before our debugfs exists.
 */
static DECLARE_FAULT_ATTR(usw_fail_segment);
/* Only when asked: a task's fail-nth would otherwise count this attribute too. */
static bool usw_fail_segment_on;

static int usw_fail_segment_set(const char *val, const struct kernel_param *kp)
{
	char spec[64];

	strscpy(spec, val, sizeof(spec));
	if (!setup_fault_attr(&usw_fail_segment, spec)) {
		pr_err("uswiotlb: fail_pool_segment='%s': want <interval>,<probability>,<space>,<times>\n",
		       val);
		return -EINVAL;
	}
	/* A message per injected failure, no stack dump: a test's console must stay clean. */
	usw_fail_segment.verbose = 1;
	usw_fail_segment_on = true;
	return 0;
}

static const struct kernel_param_ops usw_fail_segment_ops = {
	.set = usw_fail_segment_set,
};
module_param_cb(fail_pool_segment, &usw_fail_segment_ops, NULL, 0);
MODULE_PARM_DESC(fail_pool_segment,
		 "Fault injection: fail pool segment allocations (<interval>,<probability>,<space>,<times>)");

/**
 * usw_fail_pool_segment() - whether to fail this pool segment allocation (fault injection)
 * @size: the segment's size
 *
 * Return: true to fail it.
 */
bool usw_fail_pool_segment(size_t size)
{
	return usw_fail_segment_on && should_fail(&usw_fail_segment, size);
}

/*
 * Widens the window between rmmod marking the module as going and our exit detaching the
 * devices, so that a test can bind a driver in it every time rather than by chance.
 */
static unsigned int usw_unload_delay_ms;
module_param_named(unload_delay_ms, usw_unload_delay_ms, uint, 0644);
MODULE_PARM_DESC(unload_delay_ms,
		 "Fault injection: sleep this long at unload before giving devices back (ms, up to 60000)");

static void usw_unload_delay(void)
{
	unsigned int ms = min(READ_ONCE(usw_unload_delay_ms), 60000U);

	if (!ms)
		return;
	pr_info("uswiotlb: unloading in %u ms (unload_delay_ms)\n", ms);
	msleep(ms);
}
#else
static void usw_unload_delay(void)
{
}
#endif

/**
 * usw_module_refs() - references held on this module, e.g. for attached devices with drivers
 *
 * Return: the count.
 */
unsigned int usw_module_refs(void)
{
	return module_refcount(THIS_MODULE);
}
EXPORT_SYMBOL_IF_KUNIT(usw_module_refs);

static int __init usw_init(void)
{
	ktime_t start;
	int ret;

	/*
	 * A memory-encrypted guest needs decrypted bounce memory (set_memory_decrypted() on the
	 * pool, as swiotlb does): not done here, so do not pretend.
	 */
	if (cc_platform_has(CC_ATTR_MEM_ENCRYPT)) {
		pr_err("uswiotlb: memory encryption is active and the pool is not decrypted: not loading; the kernel's swiotlb handles this guest\n");
		return -EOPNOTSUPP;
	}

	/* Our own device: the pool is allocated through it, never attached. */
	usw_pdev = platform_device_register_simple("uswiotlb", PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(usw_pdev))
		return PTR_ERR(usw_pdev);
	usw_dev = &usw_pdev->dev;
	usw_dev->dma_mask = &usw_dev->coherent_dma_mask;
	ret = dma_set_mask_and_coherent(usw_dev, DMA_BIT_MASK(32));
	if (ret)
		goto fail_pdev;

	ret = usw_resize_check();
	if (ret)
		goto fail_pdev;
	ret = usw_xen_init();
	if (ret)
		goto fail_pdev;
	usw_xen_auto_init();
	usw_cache_init();
	ret = usw_atomic_pool_init();
	if (ret)
		goto fail_keys;
	start = ktime_get();
	ret = usw_pool_create(&usw_pool, usw_seg_shift, usw_pool_bytes, usw_pool_max_bytes);
	if (ret)
		goto fail_atomic;
	usw_pool_setup_ns = ktime_to_ns(ktime_sub(ktime_get(), start));
	usw_debugfs_init();
	usw_resize_start();
	ret = usw_attach_init(usw_attach_spec);
	if (ret)
		goto fail_pool;

	pr_info("uswiotlb: %lu KiB pool in %u segments of %zu KiB at bus %pad-%pad, %u areas, set up in %llu ms%s%s\n",
		usw_pool_bytes >> 10, usw_pool.nsegs, usw_seg_size(&usw_pool) >> 10,
		&usw_pool.bus_lo, &usw_pool.bus_hi, usw_pool.nareas,
		div_u64(usw_pool_setup_ns, NSEC_PER_MSEC),
		static_branch_unlikely(&usw_xen_pv_key) ? ", Xen PV translation" : "",
		!static_branch_unlikely(&usw_xen_auto_key) ? "" : usw_xen_cflush ?
		", Xen auto-translated, cache flush hypercall" :
		", Xen auto-translated, no cache flush hypercall");
	return 0;

fail_pool:
	usw_resize_stop();
	usw_debugfs_exit();
	usw_pool_release(&usw_pool);
fail_atomic:
	usw_atomic_pool_exit();
fail_keys:
	static_branch_disable(&usw_xen_pv_key);
	static_branch_disable(&usw_xen_auto_key);
fail_pdev:
	platform_device_unregister(usw_pdev);
	return ret;
}

static void __exit usw_exit(void)
{
	usw_unload_delay();
	usw_attach_exit();
	usw_resize_stop();
	usw_debugfs_exit();
	usw_pool_release(&usw_pool);
	usw_atomic_pool_exit();
	platform_device_unregister(usw_pdev);
	pr_info("uswiotlb: unloaded\n");
}

module_init(usw_init);
module_exit(usw_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Unified swiotlb: DMA mapping and bouncing for bare metal and Xen");
MODULE_AUTHOR("uswiotlb developers");
