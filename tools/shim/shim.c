// SPDX-License-Identifier: GPL-2.0
/* Definitions behind the userspace shim's headers. */
#define _GNU_SOURCE /* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP */
#include <stdio.h>
#include <stdlib.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

unsigned int shim_fail_alloc_nth;
void (*shim_after_unlock)(spinlock_t *lock);

/* glibc's default rwlock prefers readers: mappers that keep overlapping would starve a reap. */
static pthread_rwlock_t shim_rcu_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static _Thread_local unsigned int shim_rcu_nesting;
static unsigned long shim_rcu_gp;

void rcu_read_lock(void)
{
	if (!shim_rcu_nesting++ && pthread_rwlock_rdlock(&shim_rcu_lock))
		abort();
}

void rcu_read_unlock(void)
{
	if (!shim_rcu_nesting) {
		fprintf(stderr, "shim: rcu_read_unlock() outside a read-side section\n");
		abort();
	}
	if (!--shim_rcu_nesting && pthread_rwlock_unlock(&shim_rcu_lock))
		abort();
}

void synchronize_rcu(void)
{
	/* In a read-side section this would deadlock, as in the kernel: say so instead. */
	if (shim_rcu_nesting) {
		fprintf(stderr, "shim: synchronize_rcu() in a read-side section\n");
		abort();
	}
	if (pthread_rwlock_wrlock(&shim_rcu_lock))
		abort();
	__atomic_add_fetch(&shim_rcu_gp, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&shim_rcu_lock);
}

unsigned int shim_rcu_depth(void)
{
	return shim_rcu_nesting;
}

unsigned long shim_rcu_grace_periods(void)
{
	return __atomic_load_n(&shim_rcu_gp, __ATOMIC_RELAXED);
}

void shim_rcu_check(const char *what)
{
	if (shim_rcu_nesting)
		return;
	/* What CONFIG_PROVE_RCU would report: the pointer may be freed under the caller. */
	fprintf(stderr, "shim: %s outside rcu_read_lock()\n", what);
	abort();
}
