/* SPDX-License-Identifier: GPL-2.0 */
/* Userspace shim for the host tests: just the types src/pool.[ch] use. */
#ifndef _SHIM_LINUX_TYPES_H
#define _SHIM_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* The UAPI __u32 and friends, which system headers reach under this same name. */
#include_next <linux/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* x86-64 with CONFIG_ARCH_DMA_ADDR_T_64BIT and CONFIG_PHYS_ADDR_T_64BIT, as a Xen dom0 has. */
typedef u64 phys_addr_t;
typedef u64 dma_addr_t;

typedef unsigned int gfp_t;

#endif
