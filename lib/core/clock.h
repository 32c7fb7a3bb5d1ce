/*
 * clock.h - the wall clock of appends, in milliseconds, without a system
 * call per record.
 *
 * Every append stamps its records with CLOCK_REALTIME in ms; clock_gettime
 * costs ~23 ns on a VM (a fifth of a single-record append). evl__append_ms()
 * returns exactly what clock_gettime would, but reads the clock only once per
 * millisecond per thread: after a real read it knows, from the TSC and a
 * conservative (slow-side) estimate of its rate, until which TSC value the
 * same millisecond is certainly still current, and until then an rdtsc and a
 * compare answer. It is used only where the kernel itself keeps time with a
 * synchronized, invariant TSC (clocksource "tsc"); elsewhere, and until the
 * rate is calibrated (the first ~20 ms), every call reads the clock.
 */
#ifndef EVL_CLOCK_H
#define EVL_CLOCK_H

#include <stdint.h>

#include "common.h"

#if defined(__x86_64__)
#include <x86intrin.h>

typedef struct evl_clk_tls {
    uint64_t from, until; /* [from, until): the TSC range where ms holds */
    int64_t ms;
} evl_clk_tls_t;

extern __thread evl_clk_tls_t evl__clk_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

int64_t evl__clock_ms_read(void);

static inline int64_t evl__append_ms(void)
{
    uint64_t t = __rdtsc();
    evl_clk_tls_t *c = &evl__clk_tls;
    if (__builtin_expect(t - c->from < c->until - c->from, 1))
        return c->ms;
    return evl__clock_ms_read();
}
#else
static inline int64_t evl__append_ms(void)
{
    return evl_now_ms();
}
#endif

/* For tests: 1 once the TSC path is calibrated and in use on this machine. */
int evl__clock_tsc_active(void);

#endif
