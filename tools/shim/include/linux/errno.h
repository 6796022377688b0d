/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_ERRNO_H
#define _SHIM_LINUX_ERRNO_H

/* The UAPI header has the kernel's values; glibc's <errno.h> includes it under this name too. */
#include_next <linux/errno.h>

#endif
