// SPDX-License-Identifier: GPL-2.0
/* Definitions behind the userspace shim's headers. */
#include <linux/slab.h>
#include <linux/spinlock.h>

unsigned int shim_fail_alloc_nth;
void (*shim_after_unlock)(spinlock_t *lock);
