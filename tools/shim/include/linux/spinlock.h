/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _SHIM_LINUX_SPINLOCK_H
#define _SHIM_LINUX_SPINLOCK_H

#include <pthread.h>

/* A real lock, so that the multithreaded test exercises the pool's locking. */
typedef pthread_mutex_t spinlock_t;

/* Test hook, called right after each unlock: lets a test run another operation at that point. */
extern void (*shim_after_unlock)(spinlock_t *lock);

#define spin_lock_init(l) pthread_mutex_init(l, NULL)
#define spin_lock_irqsave(l, flags) ((flags) = 0, (void)pthread_mutex_lock(l))
#define spin_unlock_irqrestore(l, flags)                                            \
	((void)(flags), (void)pthread_mutex_unlock(l),                                \
	 shim_after_unlock ? shim_after_unlock(l) : (void)0)

#endif
