/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uswiotlb internals shared by the module's files and its KUnit suites.
 *
 * Address spaces: "phys" is the CPU physical address (pseudo-physical in a Xen PV domain),
 * "bus" is what Xen calls the bus frame address (the machine address in a PV domain, phys
 * everywhere else), and "dma" is what a device is given: phys_to_dma(dev, bus), which adds the
 * device's dma_range_map offset or memory-encryption bit. The pool is indexed by bus address.
 */
#ifndef _USWIOTLB_H
#define _USWIOTLB_H

#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/jump_label.h>
#include <linux/percpu.h>

#include "compat.h"
#include "pool.h"

/* Why a mapping was bounced; the order is the order map tests them in. */
enum usw_reason {
	USW_BOUNCE_MASK,	/* device cannot reach the buffer */
	USW_BOUNCE_STRADDLE,	/* buffer spans non-contiguous machine frames (Xen PV) */
	USW_BOUNCE_FORCE,	/* forced, globally or for this device */
	USW_BOUNCE_ALIGN,	/* kmalloc buffer not cache-line aligned, non-coherent device */
	USW_BOUNCE_FOREIGN,	/* foreign page, non-coherent device, Xen cannot flush it */
	USW_NR_REASONS,
	USW_MAP_DIRECT = USW_NR_REASONS,/* not bounced: the reason trace events give a direct map */
};

/**
 * struct usw_stats - per-CPU event counters, summed when read
 * @direct: mappings handed to the device without bouncing
 * @bounced: bounced mappings, by &enum usw_reason
 * @foreign_direct: of @direct, those of a page another Xen domain granted us (blkback, netback)
 * @foreign_bounced: of the bounced ones, those of such a page
 * @errors: mappings refused (pool full, too large, unreachable)
 * @misuse: unmap or sync calls naming pool memory that is not a live mapping
 * @cache_clean: ranges of local memory cleaned for a non-coherent device
 * @cache_inval: ranges of local memory invalidated for the CPU after a non-coherent device
 * @cache_foreign: GNTTABOP_cache_flush calls for foreign pages (one per Xen page)
 */
struct usw_stats {
	unsigned long direct;
	unsigned long bounced[USW_NR_REASONS];
	unsigned long foreign_direct;
	unsigned long foreign_bounced;
	unsigned long errors;
	unsigned long misuse;
	unsigned long cache_clean;
	unsigned long cache_inval;
	unsigned long cache_foreign;
};

DECLARE_PER_CPU(struct usw_stats, usw_stats);
#define usw_count(field) this_cpu_inc(usw_stats.field)

DECLARE_STATIC_KEY_FALSE(usw_xen_pv_key);	/* Xen PV: p2m translation, straddles */
DECLARE_STATIC_KEY_FALSE(usw_xen_auto_key);	/* auto-translated Xen guest: foreign pages */
DECLARE_STATIC_KEY_FALSE(usw_force_key);	/* force=1, or a forced device is attached */
DECLARE_STATIC_KEY_FALSE(usw_noncoherent_key);	/* a non-coherent device is attached */

/* The most memory the pool may ever hold. */
#define USW_POOL_MAX	BIT(30)

extern struct usw_pool usw_pool;
extern const struct dma_map_ops usw_dma_ops;
extern struct device *usw_dev;
extern bool usw_force;
extern u64 usw_pool_setup_ns;

/* main.c */
unsigned long usw_stat_sum(size_t offset);
void usw_set_force(bool on);
unsigned int usw_module_refs(void);
#define usw_stat(field) usw_stat_sum(offsetof(struct usw_stats, field))
#ifdef CONFIG_FAULT_INJECTION
bool usw_fail_pool_segment(size_t size);
#else
static inline bool usw_fail_pool_segment(size_t size)
{
	return false;
}
#endif

/* mem.c: memory behind the pool and coherent allocations */
int usw_seg_mem_alloc(const struct usw_pool *pool, struct usw_seg_mem *mem);
void usw_seg_mem_free(const struct usw_pool *pool, const struct usw_seg_mem *mem);
int usw_pool_create(struct usw_pool *pool, unsigned int seg_shift, unsigned long bytes,
		    unsigned long max_bytes);
void usw_pool_release(struct usw_pool *pool);
void *usw_alloc(struct device *dev, size_t size, dma_addr_t *dma, gfp_t gfp, unsigned long attrs);
void usw_free(struct device *dev, size_t size, void *vaddr, dma_addr_t dma, unsigned long attrs);
int usw_mmap(struct device *dev, struct vm_area_struct *vma, void *cpu_addr, dma_addr_t dma,
	     size_t size, unsigned long attrs);
int usw_get_sgtable(struct device *dev, struct sg_table *sgt, void *cpu_addr, dma_addr_t dma,
		    size_t size, unsigned long attrs);
int usw_atomic_pool_init(void);
void usw_atomic_pool_exit(void);

/**
 * struct usw_resize_stats - what resizing did since load; written under the resize lock
 * @grows: grow steps that added segments, on demand or by a pool_size write
 * @grown_segs: segments they added
 * @grow_ns: time those steps took, allocation and exchange with Xen included
 * @grow_failures: grow steps that got fewer segments than they asked for
 * @shrinks: times segments were given back
 * @shrunk_segs: segments given back
 */
struct usw_resize_stats {
	unsigned long grows;
	unsigned long grown_segs;
	u64 grow_ns;
	unsigned long grow_failures;
	unsigned long shrinks;
	unsigned long shrunk_segs;
};

/* resize.c: pool size parameters, growth on demand, giving segments back */
extern unsigned int usw_seg_shift;
extern unsigned long usw_pool_bytes;
extern unsigned long usw_pool_max_bytes;
extern struct usw_resize_stats usw_resize_stats;
int usw_parse_size(const char *name, const char *val, unsigned long granule, bool zero_ok,
		   unsigned long *bytes);
int usw_resize(unsigned long bytes);
int usw_set_pool_max(unsigned long bytes);
int usw_resize_check(void);
void usw_resize_start(void);
void usw_resize_stop(void);
void usw_resize_flush(void);
void usw_grow_kick(void);

/* attach.c */
int usw_attach(struct device *dev);
int usw_detach(struct device *dev);
int usw_attach_by_name(const char *name);
int usw_detach_by_name(const char *name);
int usw_attach_init(const char *attach);
void usw_attach_exit(void);
void usw_set_attach_all(bool all);

/* cache.c: maintenance for non-coherent devices, only reached under usw_noncoherent_key */
enum usw_cache_op {
	USW_CACHE_CLEAN,	/* write dirty lines back to memory */
	USW_CACHE_INVAL,	/* drop lines, so the CPU reads what the device wrote */
};

/**
 * struct usw_cache_hooks - the primitives cache maintenance is made of; tests record them
 * @local: maintain our own memory at @phys by virtual address, to the point of coherency
 * @flush: GNTTABOP_cache_flush of @len bytes at @offset in the Xen page at bus address @bus
 *	   (GNTTAB_CACHE_CLEAN or _INVAL in @op); returns the hypercall's result
 */
struct usw_cache_hooks {
	void (*local)(phys_addr_t phys, size_t size, enum usw_cache_op op);
	int (*flush)(u64 bus, unsigned int offset, unsigned int len, u32 op);
};

extern const struct usw_cache_hooks *usw_cache_hooks;
extern bool usw_xen_cflush;
void usw_cache_set_hooks(const struct usw_cache_hooks *hooks);
bool usw_bus_is_foreign(phys_addr_t bus);
void usw_cache_for_device(struct device *dev, phys_addr_t bus, size_t size,
			  enum dma_data_direction dir);
void usw_cache_for_cpu(struct device *dev, phys_addr_t bus, size_t size,
		       enum dma_data_direction dir);
void usw_cache_init(void);

/* debugfs.c */
void usw_debugfs_init(void);
void usw_debugfs_exit(void);

/**
 * struct usw_bus - where a buffer is on the bus
 * @addr: bus address of its first byte
 * @straddles: its machine frames are not consecutive (Xen PV), so it is not directly usable
 * @foreign: its first frame is another Xen domain's, granted to us and mapped here
 *
 * Returned by value, in registers: the map fast path keeps no stack frame for it.
 */
struct usw_bus {
	phys_addr_t addr;
	bool straddles;
	bool foreign;
};

/* xen.c: only reached while usw_xen_pv_key or usw_xen_auto_key is on */
#ifdef CONFIG_XEN
struct usw_bus usw_xen_phys_to_bus(phys_addr_t phys, size_t size);
void usw_xen_auto_init(void);
#else
static inline struct usw_bus usw_xen_phys_to_bus(phys_addr_t phys, size_t size)
{
	return (struct usw_bus){ .addr = phys };
}

static inline void usw_xen_auto_init(void)
{
}
#endif

/* xen_pv.c: only reached while usw_xen_pv_key is on */
#ifdef CONFIG_XEN_PV
int usw_xen_init(void);
void *usw_xen_alloc(struct device *dev, size_t size, dma_addr_t *dma, gfp_t gfp);
void usw_xen_free(struct device *dev, size_t size, void *vaddr, dma_addr_t dma);
u64 usw_xen_required_mask(void);
#else
static inline int usw_xen_init(void)
{
	return 0;
}

static inline void *usw_xen_alloc(struct device *dev, size_t size, dma_addr_t *dma, gfp_t gfp)
{
	return NULL;
}

static inline void usw_xen_free(struct device *dev, size_t size, void *vaddr, dma_addr_t dma)
{
}

static inline u64 usw_xen_required_mask(void)
{
	return 0;
}
#endif

#endif /* _USWIOTLB_H */
