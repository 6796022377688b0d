/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's own rbtree, from the kernel source's tools/include, whose path the Makefile
 * passes in USW_KERNEL_RBTREE_H; tools/lib/rbtree.c is linked in. The rest of tools/include
 * stays off the search path so that a header this shim lacks is an error, not a silent
 * substitute. C++ cannot parse the parameters that header names "new": the tests rename them.
 */
#ifndef _SHIM_LINUX_RBTREE_H
#define _SHIM_LINUX_RBTREE_H

#ifdef __cplusplus
#define new new_
#endif
#include USW_KERNEL_RBTREE_H
#ifdef __cplusplus
#undef new
#endif

#endif
