// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/uswiotlb/: pool use and event counters.
 */
#include <linux/debugfs.h>

#include "uswiotlb.h"

static struct dentry *usw_debugfs;

static int usw_nslabs_get(void *data, u64 *val)
{
	*val = usw_pool_nslots(&usw_pool);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_nslabs_fops, usw_nslabs_get, NULL, "%llu\n");

static int usw_used_get(void *data, u64 *val)
{
	*val = usw_pool_used(&usw_pool);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_used_fops, usw_used_get, NULL, "%llu\n");

static int usw_hiwater_get(void *data, u64 *val)
{
	*val = usw_pool_hiwater(&usw_pool);
	return 0;
}

/* Only 0 may be written: it restarts the high-water mark from the current use. */
static int usw_hiwater_set(void *data, u64 val)
{
	if (val)
		return -EINVAL;
	usw_pool_reset_hiwater(&usw_pool);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_hiwater_fops, usw_hiwater_get, usw_hiwater_set, "%llu\n");

static int usw_setup_us_get(void *data, u64 *val)
{
	*val = div_u64(usw_pool_setup_ns, NSEC_PER_USEC);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_setup_us_fops, usw_setup_us_get, NULL, "%llu\n");

static int usw_pool_bytes_get(void *data, u64 *val)
{
	*val = usw_pool_size(&usw_pool);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_pool_bytes_fops, usw_pool_bytes_get, NULL, "%llu\n");

static int usw_retiring_get(void *data, u64 *val)
{
	*val = READ_ONCE(usw_pool.nretiring);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_retiring_fops, usw_retiring_get, NULL, "%llu\n");

/* A field of usw_resize_stats, by offset. */
static int usw_resize_stat_get(void *data, u64 *val)
{
	char *field = (char *)&usw_resize_stats + (size_t)data;

	if ((size_t)data == offsetof(struct usw_resize_stats, grow_ns))
		*val = div_u64(READ_ONCE(*(u64 *)field), NSEC_PER_USEC);
	else
		*val = READ_ONCE(*(unsigned long *)field);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_resize_stat_fops, usw_resize_stat_get, NULL, "%llu\n");

static const struct {
	const char *name;
	size_t offset;
} usw_resize_files[] = {
	{ "grows", offsetof(struct usw_resize_stats, grows) },
	{ "grown_segments", offsetof(struct usw_resize_stats, grown_segs) },
	{ "grow_us", offsetof(struct usw_resize_stats, grow_ns) },
	{ "grow_failures", offsetof(struct usw_resize_stats, grow_failures) },
	{ "shrinks", offsetof(struct usw_resize_stats, shrinks) },
	{ "shrunk_segments", offsetof(struct usw_resize_stats, shrunk_segs) },
};

static int usw_counter_get(void *data, u64 *val)
{
	*val = usw_stat_sum((size_t)data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(usw_counter_fops, usw_counter_get, NULL, "%llu\n");

static const struct {
	const char *name;
	size_t offset;
} usw_counters[] = {
	{ "mapped_direct", offsetof(struct usw_stats, direct) },
	{ "bounced_mask", offsetof(struct usw_stats, bounced[USW_BOUNCE_MASK]) },
	{ "bounced_straddle", offsetof(struct usw_stats, bounced[USW_BOUNCE_STRADDLE]) },
	{ "bounced_force", offsetof(struct usw_stats, bounced[USW_BOUNCE_FORCE]) },
	{ "bounced_align", offsetof(struct usw_stats, bounced[USW_BOUNCE_ALIGN]) },
	{ "bounced_foreign", offsetof(struct usw_stats, bounced[USW_BOUNCE_FOREIGN]) },
	{ "foreign_direct", offsetof(struct usw_stats, foreign_direct) },
	{ "foreign_bounced", offsetof(struct usw_stats, foreign_bounced) },
	{ "map_errors", offsetof(struct usw_stats, errors) },
	{ "misuse", offsetof(struct usw_stats, misuse) },
	{ "cache_clean", offsetof(struct usw_stats, cache_clean) },
	{ "cache_inval", offsetof(struct usw_stats, cache_inval) },
	{ "cache_foreign", offsetof(struct usw_stats, cache_foreign) },
};

/**
 * usw_debugfs_init() - create /sys/kernel/debug/uswiotlb/; failures only lose statistics
 */
void usw_debugfs_init(void)
{
	unsigned int i;

	usw_debugfs = debugfs_create_dir("uswiotlb", NULL);
	debugfs_create_file_unsafe("nslabs", 0400, usw_debugfs, NULL, &usw_nslabs_fops);
	debugfs_create_file_unsafe("used", 0400, usw_debugfs, NULL, &usw_used_fops);
	debugfs_create_file_unsafe("used_hiwater", 0600, usw_debugfs, NULL, &usw_hiwater_fops);
	debugfs_create_file_unsafe("pool_setup_us", 0400, usw_debugfs, NULL, &usw_setup_us_fops);
	debugfs_create_file_unsafe("pool_bytes", 0400, usw_debugfs, NULL, &usw_pool_bytes_fops);
	debugfs_create_file_unsafe("retiring", 0400, usw_debugfs, NULL, &usw_retiring_fops);
	for (i = 0; i < ARRAY_SIZE(usw_resize_files); i++)
		debugfs_create_file_unsafe(usw_resize_files[i].name, 0400, usw_debugfs,
					   (void *)usw_resize_files[i].offset,
					   &usw_resize_stat_fops);
	for (i = 0; i < ARRAY_SIZE(usw_counters); i++)
		debugfs_create_file_unsafe(usw_counters[i].name, 0400, usw_debugfs,
					   (void *)usw_counters[i].offset, &usw_counter_fops);
}

/**
 * usw_debugfs_exit() - remove /sys/kernel/debug/uswiotlb/
 */
void usw_debugfs_exit(void)
{
	debugfs_remove_recursive(usw_debugfs);
}
