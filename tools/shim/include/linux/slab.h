/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_SLAB_H
#define _SHIM_LINUX_SLAB_H

#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#define GFP_KERNEL 0U

/*
 * Fault injection for the tests: when nonzero, counts allocations down and the one that brings
 * it to zero fails. Not thread safe; only set it around single-threaded setup.
 */
extern unsigned int shim_fail_alloc_nth;

/*
 * kmalloc aligns power-of-two sizes naturally, which cacheline-aligned arrays such as the pool's
 * areas rely on; malloc only gives 16 bytes.
 */
static inline void *shim_calloc(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (shim_fail_alloc_nth && !--shim_fail_alloc_nth)
		return NULL;
	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	if (posix_memalign(&p, 64, bytes ? bytes : 1))
		return NULL;
	return memset(p, 0, bytes);
}

static inline void *kcalloc(size_t n, size_t size, gfp_t gfp)
{
	(void)gfp;
	return shim_calloc(n, size);
}

static inline void *kvcalloc(size_t n, size_t size, gfp_t gfp)
{
	(void)gfp;
	return shim_calloc(n, size);
}

static inline void kfree(const void *p)
{
	free((void *)p);
}

static inline void kvfree(const void *p)
{
	free((void *)p);
}

#endif
