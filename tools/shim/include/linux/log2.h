/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_LOG2_H
#define _SHIM_LINUX_LOG2_H

/* Undefined for 0, like the kernel's. */
#define rounddown_pow_of_two(n) (1UL << (63 - __builtin_clzl((unsigned long)(n))))

#endif
