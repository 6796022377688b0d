/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uswiotlb trace events (system "uswiotlb"). Every count of mapped_direct, bounced_* and
 * map_errors in debugfs has exactly one event: uswiotlb_map for the first two, by reason,
 * uswiotlb_pool_full for the last.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM uswiotlb

#if !defined(_USWIOTLB_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _USWIOTLB_TRACE_H

#include <linux/tracepoint.h>

#include "uswiotlb.h"

TRACE_DEFINE_ENUM(DMA_BIDIRECTIONAL);
TRACE_DEFINE_ENUM(DMA_TO_DEVICE);
TRACE_DEFINE_ENUM(DMA_FROM_DEVICE);
TRACE_DEFINE_ENUM(DMA_NONE);

TRACE_DEFINE_ENUM(USW_BOUNCE_MASK);
TRACE_DEFINE_ENUM(USW_BOUNCE_STRADDLE);
TRACE_DEFINE_ENUM(USW_BOUNCE_FORCE);
TRACE_DEFINE_ENUM(USW_BOUNCE_ALIGN);
TRACE_DEFINE_ENUM(USW_BOUNCE_FOREIGN);
TRACE_DEFINE_ENUM(USW_MAP_DIRECT);

#define usw_show_dir(dir)						\
	__print_symbolic(dir,						\
			 { DMA_BIDIRECTIONAL, "BIDIRECTIONAL" },	\
			 { DMA_TO_DEVICE, "TO_DEVICE" },		\
			 { DMA_FROM_DEVICE, "FROM_DEVICE" },		\
			 { DMA_NONE, "NONE" })

/* The names of the debugfs counters, bounced_<reason> and mapped_direct. */
#define usw_show_reason(reason)						\
	__print_symbolic(reason,					\
			 { USW_BOUNCE_MASK, "mask" },			\
			 { USW_BOUNCE_STRADDLE, "straddle" },		\
			 { USW_BOUNCE_FORCE, "force" },			\
			 { USW_BOUNCE_ALIGN, "align" },			\
			 { USW_BOUNCE_FOREIGN, "foreign" },		\
			 { USW_MAP_DIRECT, "direct" })

TRACE_EVENT(uswiotlb_map,
	TP_PROTO(struct device *dev, phys_addr_t phys, dma_addr_t dma, size_t size,
		 enum dma_data_direction dir, enum usw_reason reason),
	TP_ARGS(dev, phys, dma, size, dir, reason),

	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u64, phys)
		__field(u64, dma)
		__field(size_t, size)
		__field(int, dir)
		__field(int, reason)
	),

	TP_fast_assign(
		usw_assign_dev_name(dev);
		__entry->phys = phys;
		__entry->dma = dma;
		__entry->size = size;
		__entry->dir = dir;
		__entry->reason = reason;
	),

	TP_printk("%s phys=%llx dma=%llx size=%zu dir=%s reason=%s",
		  __get_str(dev), __entry->phys, __entry->dma, __entry->size,
		  usw_show_dir(__entry->dir), usw_show_reason(__entry->reason))
);

TRACE_EVENT(uswiotlb_unmap,
	TP_PROTO(struct device *dev, dma_addr_t dma, size_t size, enum dma_data_direction dir),
	TP_ARGS(dev, dma, size, dir),

	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u64, dma)
		__field(size_t, size)
		__field(int, dir)
	),

	TP_fast_assign(
		usw_assign_dev_name(dev);
		__entry->dma = dma;
		__entry->size = size;
		__entry->dir = dir;
	),

	TP_printk("%s dma=%llx size=%zu dir=%s",
		  __get_str(dev), __entry->dma, __entry->size, usw_show_dir(__entry->dir))
);

TRACE_EVENT(uswiotlb_sync,
	TP_PROTO(struct device *dev, dma_addr_t dma, size_t size, enum dma_data_direction dir,
		 bool for_device),
	TP_ARGS(dev, dma, size, dir, for_device),

	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(u64, dma)
		__field(size_t, size)
		__field(int, dir)
		__field(bool, for_device)
	),

	TP_fast_assign(
		usw_assign_dev_name(dev);
		__entry->dma = dma;
		__entry->size = size;
		__entry->dir = dir;
		__entry->for_device = for_device;
	),

	TP_printk("%s dma=%llx size=%zu dir=%s for=%s",
		  __get_str(dev), __entry->dma, __entry->size, usw_show_dir(__entry->dir),
		  __entry->for_device ? "device" : "cpu")
);

/*
 * A bounce the pool had no room for: full (the map kicks a grow if pool_max allows), larger
 * than any room it can have, or room only beyond the device's DMA mask.
 */
TRACE_EVENT(uswiotlb_pool_full,
	TP_PROTO(struct device *dev, size_t size, enum usw_reason reason, int err),
	TP_ARGS(dev, size, reason, err),

	TP_STRUCT__entry(
		__string(dev, dev_name(dev))
		__field(size_t, size)
		__field(int, reason)
		__field(int, err)
	),

	TP_fast_assign(
		usw_assign_dev_name(dev);
		__entry->size = size;
		__entry->reason = reason;
		__entry->err = err;
	),

	TP_printk("%s size=%zu reason=%s why=%s",
		  __get_str(dev), __entry->size, usw_show_reason(__entry->reason),
		  __print_symbolic(__entry->err,
				   { ENOSPC, "full" },
				   { EINVAL, "too_large" },
				   { EIO, "unreachable" }))
);

DECLARE_EVENT_CLASS(uswiotlb_resize,
	TP_PROTO(unsigned int segs, unsigned long bytes, unsigned long pool_bytes, u64 ns),
	TP_ARGS(segs, bytes, pool_bytes, ns),

	TP_STRUCT__entry(
		__field(unsigned int, segs)
		__field(unsigned long, bytes)
		__field(unsigned long, pool_bytes)
		__field(u64, ns)
	),

	TP_fast_assign(
		__entry->segs = segs;
		__entry->bytes = bytes;
		__entry->pool_bytes = pool_bytes;
		__entry->ns = ns;
	),

	TP_printk("segments=%u bytes=%lu pool_bytes=%lu ns=%llu",
		  __entry->segs, __entry->bytes, __entry->pool_bytes, __entry->ns)
);

/* Segments added, on demand or by a pool_size write; pool_bytes is the size after. */
DEFINE_EVENT(uswiotlb_resize, uswiotlb_grow,
	TP_PROTO(unsigned int segs, unsigned long bytes, unsigned long pool_bytes, u64 ns),
	TP_ARGS(segs, bytes, pool_bytes, ns));

/* Empty retired segments given back to the system. */
DEFINE_EVENT(uswiotlb_resize, uswiotlb_shrink,
	TP_PROTO(unsigned int segs, unsigned long bytes, unsigned long pool_bytes, u64 ns),
	TP_ARGS(segs, bytes, pool_bytes, ns));

#endif /* _USWIOTLB_TRACE_H */

/* Outside the guard: define_trace.h reads this file again with TRACE_HEADER_MULTI_READ. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
