/*
 * spin.h - how a blocking read waits: a short spin, then a futex sleep
 * (reader.c, consumer.c).
 *
 * A futex sleep and wake cost ~10 us on a VM, more under load: longer than
 * the gap between records of a busy stream. So a blocking read first
 * watches the partitions' next-offset words for a short while (consumer
 * config wait.spin.us, evl_reader_set_spin_us; 20 us where there are two
 * or more CPUs, none on one, where spinning only delays the writer) and
 * sleeps only if nothing came. A spin that keeps failing (records further
 * apart than the spin) is left out for a while: after 3 failures in a row
 * the next 16 waits sleep at once, so a slow stream costs a few percent of
 * a core at most, not the spin per record.
 *
 * The words are only hints: a change sends the caller back to look for a
 * record, and it sleeps with the full waiter handshake if there is none.
 */
#ifndef EVL_SPIN_H
#define EVL_SPIN_H

#include "common.h"

#define EVL_SPIN_DEFAULT_US 20
#define EVL_SPIN_MISSES 3
#define EVL_SPIN_SKIP 16

typedef struct evl_spin {
    int64_t ns;      /* how long one wait spins; 0: never */
    uint8_t misses;  /* failed spins in a row */
    uint8_t skip;    /* waits left that sleep at once */
} evl_spin_t;

/* us < 0: the default for this machine. (In reader.c.) */
void evl__spin_init(evl_spin_t *sp, int64_t us);

/* Should this wait spin? (Counts down the waits skipped after failures.) */
static inline bool evl__spin_wanted(evl_spin_t *sp)
{
    if (sp->ns <= 0)
        return false;
    if (sp->skip) {
        sp->skip--;
        return false;
    }
    return true;
}

/* After evl__spin_wanted: spin until one of words[0..n) differs from
 * vals[i] (true), or for sp->ns, or until until_ns (CLOCK_MONOTONIC; 0: no
 * limit) (false). */
static inline bool evl__spin(evl_spin_t *sp, _Atomic uint64_t *const *words,
                             const uint64_t *vals, size_t n, int64_t until_ns)
{
    if (n == 0)
        return false;
    int64_t end = evl_mono_ns() + sp->ns;
    if (until_ns > 0 && until_ns < end)
        end = until_ns;
    do {
        for (int k = 0; k < 16; k++) {
            for (size_t i = 0; i < n; i++)
                if (atomic_load_explicit(words[i], memory_order_relaxed) != vals[i]) {
                    sp->misses = 0;
                    return true;
                }
            evl_cpu_relax();
        }
    } while (evl_mono_ns() < end);
    if (++sp->misses >= EVL_SPIN_MISSES) {
        sp->misses = 0;
        sp->skip = EVL_SPIN_SKIP;
    }
    return false;
}

#endif
