/*
 * notify.h - the wait handshake between appenders and readers, on two words
 * of a partition's shared control block (partition.h): `waiters`, how many
 * readers (in any process) are about to sleep or sleeping, and
 * `futex_seq`, the futex word they sleep on.
 *
 * A store-load pair on each side, each with a seq_cst fence between: an
 * appender publishes its frame, then looks at waiters (evl__notify_append);
 * a reader counts itself in, then looks for the frame once more
 * (evl__notify_begin, then its own look, then evl__notify_sleep or not,
 * then evl__notify_end). Of the two fences one comes first, so either the
 * appender sees the waiter (and bumps and wakes the word) or the reader
 * sees the frame: no wake-up is lost, and an append with nobody waiting
 * costs a fence and a load, no system call. The appender's fence is a
 * locked op on its own stack on x86, so a plain load leaves the waiters
 * line shared instead of taking it from the other cores each append (as an
 * RMW on it would). A waiter on several partitions (a consumer) begins on
 * each, sleeps on all their words at once (futex_waitv), and ends on each.
 */
#ifndef EVL_NOTIFY_H
#define EVL_NOTIFY_H

#include "os.h"
#include "partition.h"

/* After publishing a frame: wake the sleepers, if there are any. */
static inline void evl__notify_append(evl_ctl_t *ctl)
{
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer does not model fences: an RMW is correct without one. */
    if (atomic_fetch_add(&ctl->waiters, 0)) {
#else
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&ctl->waiters, memory_order_relaxed)) {
#endif
        atomic_fetch_add(&ctl->futex_seq, 1);
        evl__futex_wake_all(&ctl->futex_seq);
    }
}

/* Wake every sleeper whatever happened (the partition changed under them:
 * deleted, repaired), so that they look again. */
static inline void evl__notify_all(evl_ctl_t *ctl)
{
    atomic_fetch_add(&ctl->futex_seq, 1);
    evl__futex_wake_all(&ctl->futex_seq);
}

/* A reader about to sleep counts itself in; returns the word's value to
 * sleep on. Look for records once more after this (and after
 * evl__notify_fence when beginning on several partitions). */
static inline uint32_t evl__notify_begin_nofence(evl_ctl_t *ctl)
{
    uint32_t seq = atomic_load(&ctl->futex_seq);
    atomic_fetch_add(&ctl->waiters, 1);
    return seq;
}
static inline void evl__notify_fence(void) { EVL_FENCE_SC(); }
static inline uint32_t evl__notify_begin(evl_ctl_t *ctl)
{
    uint32_t seq = evl__notify_begin_nofence(ctl);
    evl__notify_fence();
    return seq;
}

/* Sleep until the word moves from seq or timeout_ns passes (< 0: forever). */
static inline int evl__notify_sleep(evl_ctl_t *ctl, uint32_t seq, int64_t timeout_ns)
{
    return evl__futex_wait(&ctl->futex_seq, seq, timeout_ns);
}

/* The word to sleep on with others (futex_waitv, evl__futex_wait_any). */
static inline _Atomic uint32_t *evl__notify_word(evl_ctl_t *ctl) { return &ctl->futex_seq; }

/* Done waiting (woken, timed out, or found records on the second look). */
static inline void evl__notify_end(evl_ctl_t *ctl) { atomic_fetch_sub(&ctl->waiters, 1); }

#endif
