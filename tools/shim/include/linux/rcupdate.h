/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A real, if slow, RCU for the host tests: readers share a global rwlock, synchronize_rcu()
 * takes it for writing once, so it returns only after every read-side section that was running
 * when it was called has ended. Writers are preferred (shim.c), so that a steady stream of
 * readers cannot starve a resize, and the lock is taken only by a thread's outermost
 * rcu_read_lock(), so read-side sections nest as in the kernel. Grace periods are thus exact:
 * a pool.c that frees before synchronize_rcu() is caught by ASan in a reader still inside,
 * and rcu_dereference() outside rcu_read_lock() aborts, as CONFIG_PROVE_RCU would complain.
 */
#ifndef _SHIM_LINUX_RCUPDATE_H
#define _SHIM_LINUX_RCUPDATE_H

#include <linux/compiler.h>

#define __rcu

void rcu_read_lock(void);
void rcu_read_unlock(void);
void synchronize_rcu(void);
/* Test hook: read-side sections the calling thread is in, for asserting "under RCU". */
unsigned int shim_rcu_depth(void);
/* Test hook: grace periods waited for so far, by all threads. */
unsigned long shim_rcu_grace_periods(void);
/* Aborts unless in a read-side section: CONFIG_PROVE_RCU's check of rcu_dereference(). */
void shim_rcu_check(const char *what);

#define RCU_INIT_POINTER(p, v) WRITE_ONCE(p, v)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define rcu_dereference(p)                                                          \
	({                                                                          \
		__typeof__(p) _rcu_p = READ_ONCE(p);                                \
		shim_rcu_check("rcu_dereference(" #p ")");                          \
		__atomic_thread_fence(__ATOMIC_ACQUIRE);                            \
		_rcu_p;                                                             \
	})
#define rcu_dereference_protected(p, c) ((void)(c), (p))
/* The sched flavour is the same grace period in the kernel (synchronize_rcu() waits for it). */
#define rcu_read_lock_sched() rcu_read_lock()
#define rcu_read_unlock_sched() rcu_read_unlock()
#define rcu_read_lock_any_held() (shim_rcu_depth() > 0)
#define rcu_dereference_check(p, c)                                                 \
	({                                                                          \
		__typeof__(p) _rcu_p = READ_ONCE(p);                                \
		if (!(c))                                                           \
			shim_rcu_check("rcu_dereference_check(" #p ")");            \
		__atomic_thread_fence(__ATOMIC_ACQUIRE);                            \
		_rcu_p;                                                             \
	})

#endif
