// SPDX-License-Identifier: GPL-2.0
/*
 * The pool's size at run time: the pool_size, pool_max, segment_size and shrink_delay_ms
 * parameters, growth on demand and giving segments back.
 *
 * One mutex serializes every change of the pool's segments. A map that finds the pool full may
 * run in atomic context, so it only queues the grow work and fails; the driver's retry finds
 * the room. The shrink work retires segments beyond pool_size that stayed empty for a whole
 * shrink_delay_ms and gives back retired segments once their last mapping is gone.
 */
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "trace.h"
#include "uswiotlb.h"

#define USW_SEG_SIZE_MIN	(USW_SLOT_SIZE << USW_SEG_SHIFT_MIN)
#define USW_SEG_SIZE_MAX	(USW_SLOT_SIZE << USW_SEG_SHIFT_MAX)

unsigned int usw_seg_shift = USW_SEG_SHIFT_MIN;
unsigned long usw_pool_bytes = SZ_64M;
EXPORT_SYMBOL_IF_KUNIT(usw_pool_bytes);
unsigned long usw_pool_max_bytes;
static unsigned int usw_shrink_delay_ms = 10000;
struct usw_resize_stats usw_resize_stats;
EXPORT_SYMBOL_IF_KUNIT(usw_resize_stats);
/* The pool exists and is not going away: parameter writes resize it, full maps grow it. */
static bool usw_resizable;

static DEFINE_MUTEX(usw_resize_lock);
static void usw_grow_fn(struct work_struct *work);
static DECLARE_WORK(usw_grow_work, usw_grow_fn);
static void usw_shrink_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(usw_shrink_work, usw_shrink_fn);

static unsigned int usw_bytes_to_segs(unsigned long bytes)
{
	return bytes >> (usw_pool.seg_shift + USW_SLOT_SHIFT);
}

static unsigned int usw_live_segs(void)
{
	return usw_pool.nsegs - usw_pool.nretiring;
}

/* The size growth on demand stops at: pool_max, or pool_size if that is larger or pool_max 0. */
static unsigned long usw_grow_limit(void)
{
	return max(READ_ONCE(usw_pool_max_bytes), READ_ONCE(usw_pool_bytes));
}

/*
 * Add up to @n segments, all of them or none if @all, and count the step. Return: the number
 * added, or a negative errno when none was.
 */
static int usw_grow(unsigned int n, bool all)
{
	ktime_t start = ktime_get();
	struct usw_seg_mem *mem;
	unsigned int got = 0;
	int ret = -ENOMEM;

	lockdep_assert_held(&usw_resize_lock);
	mem = kvcalloc(n, sizeof(*mem), GFP_KERNEL);
	if (!mem)
		goto out;
	while (got < n && !usw_seg_mem_alloc(&usw_pool, &mem[got]))
		got++;
	ret = got && (got == n || !all) ? usw_pool_add(&usw_pool, mem, got) : -ENOMEM;
	if (ret)
		while (got)
			usw_seg_mem_free(&usw_pool, &mem[--got]);
	kvfree(mem);
out:
	if (!ret) {
		u64 ns = ktime_to_ns(ktime_sub(ktime_get(), start));

		WRITE_ONCE(usw_resize_stats.grows, usw_resize_stats.grows + 1);
		WRITE_ONCE(usw_resize_stats.grown_segs, usw_resize_stats.grown_segs + got);
		WRITE_ONCE(usw_resize_stats.grow_ns, usw_resize_stats.grow_ns + ns);
		trace_uswiotlb_grow(got, (unsigned long)got * usw_seg_size(&usw_pool),
				    usw_pool_size(&usw_pool), ns);
	}
	if (got < n)
		WRITE_ONCE(usw_resize_stats.grow_failures, usw_resize_stats.grow_failures + 1);
	return ret ?: got;
}

/* Give back every retired segment that is empty now. */
static void usw_give_back(void)
{
	unsigned int n = usw_pool.nretiring, i;
	ktime_t start = ktime_get();
	struct usw_seg_mem *mem;

	lockdep_assert_held(&usw_resize_lock);
	if (!n)
		return;
	mem = kvcalloc(n, sizeof(*mem), GFP_KERNEL);
	if (!mem)
		return;
	n = usw_pool_reap(&usw_pool, mem, n);
	for (i = 0; i < n; i++)
		usw_seg_mem_free(&usw_pool, &mem[i]);
	kvfree(mem);
	if (n) {
		WRITE_ONCE(usw_resize_stats.shrinks, usw_resize_stats.shrinks + 1);
		WRITE_ONCE(usw_resize_stats.shrunk_segs, usw_resize_stats.shrunk_segs + n);
		trace_uswiotlb_shrink(n, (unsigned long)n * usw_seg_size(&usw_pool),
				      usw_pool_size(&usw_pool),
				      ktime_to_ns(ktime_sub(ktime_get(), start)));
	}
}

/* Watch for idle segments beyond pool_size and for retired ones still in use. */
static void usw_shrink_later(void)
{
	lockdep_assert_held(&usw_resize_lock);
	if (usw_resizable && (usw_live_segs() > usw_bytes_to_segs(usw_pool_bytes) ||
			      usw_pool.nretiring))
		schedule_delayed_work(&usw_shrink_work,
				      msecs_to_jiffies(READ_ONCE(usw_shrink_delay_ms)));
}

static void usw_shrink_fn(struct work_struct *work)
{
	mutex_lock(&usw_resize_lock);
	usw_pool_retire_idle(&usw_pool, usw_bytes_to_segs(usw_pool_bytes));
	usw_give_back();
	usw_shrink_later();
	mutex_unlock(&usw_resize_lock);
}

static void usw_grow_fn(struct work_struct *work)
{
	unsigned int limit, live, step;
	int got;

	mutex_lock(&usw_resize_lock);
	limit = usw_bytes_to_segs(usw_grow_limit());
	live = usw_live_segs();
	if (!usw_resizable || live >= limit)
		goto out;
	/* A quarter of the pool at a time: geometric, so a few steps reach any limit. */
	step = clamp(live / 4, 1U, limit - live);
	got = usw_grow(step, false);
	if (got < (int)step)
		pr_warn_ratelimited("uswiotlb: growing the pool: got %d of %u segments of %zu KiB\n",
				    max(got, 0), step, usw_seg_size(&usw_pool) >> 10);
	usw_shrink_later();
out:
	mutex_unlock(&usw_resize_lock);
}

/**
 * usw_grow_kick() - the pool was full: grow it in the background if pool_max allows
 *
 * Callable in any context; the map that found the pool full still fails.
 */
void usw_grow_kick(void)
{
	/* RCU: usw_resize_stop() waits for a kick that saw the pool resizable, then cancels. */
	rcu_read_lock();
	if (READ_ONCE(usw_resizable) && usw_pool_size(&usw_pool) < usw_grow_limit())
		queue_work(system_unbound_wq, &usw_grow_work);
	rcu_read_unlock();
}

/* pool_size written after load: grow now, or retire and give back what is empty. */
static int usw_resize_locked(unsigned long bytes)
{
	unsigned int target = usw_bytes_to_segs(bytes), live;
	unsigned long max = READ_ONCE(usw_pool_max_bytes);
	int ret = 0;

	if (bytes % usw_seg_size(&usw_pool)) {
		pr_err("uswiotlb: pool_size=%luK: not a multiple of segment_size (%zuK)\n",
		       bytes >> 10, usw_seg_size(&usw_pool) >> 10);
		return -EINVAL;
	}
	if (max && bytes > max) {
		pr_err("uswiotlb: pool_size=%luK: above pool_max (%luK); raise pool_max first\n",
		       bytes >> 10, max >> 10);
		return -EINVAL;
	}
	live = usw_live_segs();
	if (target > live) {
		ret = usw_grow(target - live, true);
		if (ret < 0) {
			pr_err("uswiotlb: pool_size=%luK: no memory for %u more segments (%d); the pool stays at %luK\n",
			       bytes >> 10, target - live, ret,
			       usw_pool_size(&usw_pool) >> 10);
			return ret;
		}
		ret = 0;
	} else if (target < live) {
		usw_pool_retire(&usw_pool, target);
		usw_give_back();
		if (usw_pool.nretiring)
			pr_info("uswiotlb: pool_size=%luK: %u segments still hold mappings; they go back when those end\n",
				bytes >> 10, usw_pool.nretiring);
	}
	WRITE_ONCE(usw_pool_bytes, bytes);
	usw_shrink_later();
	return ret;
}

/**
 * usw_resize() - set pool_size: a loaded pool grows to it now, or gives back segments
 * @bytes: the new size, checked by usw_parse_size()
 *
 * Segments that still hold mappings are retired and given back when they empty.
 *
 * Return: 0, or a negative errno after saying why (the pool is left as it was).
 */
int usw_resize(unsigned long bytes)
{
	int ret = 0;

	mutex_lock(&usw_resize_lock);
	if (usw_resizable)
		ret = usw_resize_locked(bytes);
	else
		usw_pool_bytes = bytes;
	mutex_unlock(&usw_resize_lock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(usw_resize);

/**
 * usw_set_pool_max() - set pool_max, the limit of growth on demand
 * @bytes: the limit, checked by usw_parse_size(); 0 switches growth off
 *
 * Return: 0, or -EINVAL after saying why.
 */
int usw_set_pool_max(unsigned long bytes)
{
	int ret = 0;

	mutex_lock(&usw_resize_lock);
	if (usw_resizable && bytes && bytes < usw_pool_bytes) {
		pr_err("uswiotlb: pool_max=%luK: below pool_size (%luK); 0 switches growth off\n",
		       bytes >> 10, usw_pool_bytes >> 10);
		ret = -EINVAL;
	} else {
		WRITE_ONCE(usw_pool_max_bytes, bytes);
		usw_shrink_later();
	}
	mutex_unlock(&usw_resize_lock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(usw_set_pool_max);

/**
 * usw_parse_size() - parse and check a pool size parameter
 * @name: the parameter's name, for the message
 * @val: the value, e.g. "64M"
 * @granule: it must be a multiple of this
 * @zero_ok: 0 is allowed too (off)
 * @bytes: set to the size on success
 *
 * Return: 0, or -EINVAL after saying what is allowed.
 */
int usw_parse_size(const char *name, const char *val, unsigned long granule, bool zero_ok,
		   unsigned long *bytes)
{
	char *end;
	unsigned long long n = memparse(val, &end);

	if (end == val || (*end && *end != '\n') || n > USW_POOL_MAX || n % granule ||
	    (!n && !zero_ok)) {
		pr_err("uswiotlb: %s='%.*s': must be a multiple of %luK from %luK to %luM%s, e.g. 64M\n",
		       name, (int)strcspn(val, "\n"), val, granule >> 10, granule >> 10,
		       USW_POOL_MAX >> 20, zero_ok ? ", or 0" : "");
		return -EINVAL;
	}
	*bytes = n;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(usw_parse_size);

/* Before load only the smallest segment's multiple can be checked: the rest is in usw_init. */
static unsigned long usw_granule(void)
{
	return READ_ONCE(usw_resizable) ? usw_seg_size(&usw_pool) : USW_SEG_SIZE_MIN;
}

static int usw_pool_size_set(const char *val, const struct kernel_param *kp)
{
	unsigned long bytes;
	int ret = usw_parse_size("pool_size", val, usw_granule(), false, &bytes);

	return ret ?: usw_resize(bytes);
}

static int usw_pool_size_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%luK\n", READ_ONCE(usw_pool_bytes) >> 10);
}

static const struct kernel_param_ops usw_pool_size_ops = {
	.set = usw_pool_size_set,
	.get = usw_pool_size_get,
};
module_param_cb(pool_size, &usw_pool_size_ops, NULL, 0644);
MODULE_PARM_DESC(pool_size,
		 "Bounce pool size, a multiple of segment_size up to 1G (default 64M); writable: the pool grows or gives segments back");

static int usw_pool_max_set(const char *val, const struct kernel_param *kp)
{
	unsigned long bytes;
	int ret = usw_parse_size("pool_max", val, usw_granule(), true, &bytes);

	return ret ?: usw_set_pool_max(bytes);
}

static int usw_pool_max_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%luK\n", READ_ONCE(usw_pool_max_bytes) >> 10);
}

static const struct kernel_param_ops usw_pool_max_ops = {
	.set = usw_pool_max_set,
	.get = usw_pool_max_get,
};
module_param_cb(pool_max, &usw_pool_max_ops, NULL, 0644);
MODULE_PARM_DESC(pool_max,
		 "Grow the pool on demand up to this size, giving idle growth back after shrink_delay_ms (default 0: off)");

static int usw_seg_size_set(const char *val, const struct kernel_param *kp)
{
	char *end;
	unsigned long long n = memparse(val, &end);

	if (end == val || (*end && *end != '\n') || !is_power_of_2(n) || n < USW_SEG_SIZE_MIN ||
	    n > USW_SEG_SIZE_MAX) {
		pr_err("uswiotlb: segment_size='%.*s': must be a power of two from %luK to %luK\n",
		       (int)strcspn(val, "\n"), val, USW_SEG_SIZE_MIN >> 10,
		       USW_SEG_SIZE_MAX >> 10);
		return -EINVAL;
	}
	usw_seg_shift = ilog2(n) - USW_SLOT_SHIFT;
	return 0;
}

static int usw_seg_size_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%luK\n", (USW_SLOT_SIZE << usw_seg_shift) >> 10);
}

static const struct kernel_param_ops usw_seg_size_ops = {
	.set = usw_seg_size_set,
	.get = usw_seg_size_get,
};
module_param_cb(segment_size, &usw_seg_size_ops, NULL, 0444);
MODULE_PARM_DESC(segment_size,
		 "Pool segment size and so the largest mapping, a power of two from 256K to 2M (default 256K)");

static int usw_shrink_delay_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;

	if (kstrtouint(val, 0, &ms) || ms < 100 || ms > 3600000) {
		pr_err("uswiotlb: shrink_delay_ms='%.*s': must be 100 to 3600000\n",
		       (int)strcspn(val, "\n"), val);
		return -EINVAL;
	}
	WRITE_ONCE(usw_shrink_delay_ms, ms);
	return 0;
}

static const struct kernel_param_ops usw_shrink_delay_ops = {
	.set = usw_shrink_delay_set,
	.get = param_get_uint,
};
module_param_cb(shrink_delay_ms, &usw_shrink_delay_ops, &usw_shrink_delay_ms, 0644);
MODULE_PARM_DESC(shrink_delay_ms,
		 "Give back segments beyond pool_size after they stayed empty this long (ms, default 10000)");

/**
 * usw_resize_check() - check the size parameters against each other at load
 *
 * Return: 0, or -EINVAL after saying what is wrong.
 */
int usw_resize_check(void)
{
	size_t seg = USW_SLOT_SIZE << usw_seg_shift;

	if (usw_pool_bytes % seg || usw_pool_max_bytes % seg) {
		pr_err("uswiotlb: pool_size (%luK) and pool_max (%luK) must be multiples of segment_size (%zuK)\n",
		       usw_pool_bytes >> 10, usw_pool_max_bytes >> 10, seg >> 10);
		return -EINVAL;
	}
	if (usw_pool_max_bytes && usw_pool_max_bytes < usw_pool_bytes) {
		pr_err("uswiotlb: pool_max (%luK) is below pool_size (%luK); 0 switches growth off\n",
		       usw_pool_max_bytes >> 10, usw_pool_bytes >> 10);
		return -EINVAL;
	}
	return 0;
}

/**
 * usw_resize_start() - the pool exists: let writes and full maps resize it
 */
void usw_resize_start(void)
{
	mutex_lock(&usw_resize_lock);
	WRITE_ONCE(usw_resizable, true);
	mutex_unlock(&usw_resize_lock);
}

/**
 * usw_resize_stop() - no more resizing; waits for a grow or shrink that is running
 */
void usw_resize_stop(void)
{
	mutex_lock(&usw_resize_lock);
	WRITE_ONCE(usw_resizable, false);
	mutex_unlock(&usw_resize_lock);
	synchronize_rcu();
	cancel_work_sync(&usw_grow_work);
	cancel_delayed_work_sync(&usw_shrink_work);
}

/**
 * usw_resize_flush() - run the shrink work now and wait for it (tests)
 */
void usw_resize_flush(void)
{
	flush_work(&usw_grow_work);
	mod_delayed_work(system_wq, &usw_shrink_work, 0);
	flush_delayed_work(&usw_shrink_work);
}
EXPORT_SYMBOL_IF_KUNIT(usw_resize_flush);
