/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_COMPILER_H
#define _SHIM_LINUX_COMPILER_H

/* For the kernel's rbtree.h; glibc's <sys/cdefs.h> usually defines it first, the same way. */
#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) (*(volatile __typeof__(x) *)&(x) = (val))

#endif
