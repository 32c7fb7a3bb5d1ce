/*
 * clock.c - evl__append_ms()'s slow side: read the clock, calibrate the TSC
 * rate once, and tell the calling thread until which TSC value the
 * millisecond it read is certainly still current. See clock.h.
 */
#include "clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
__thread evl_clk_tls_t evl__clk_tls __attribute__((tls_model("initial-exec")));

/* Calibration: TSC ticks per ns, measured over CALIB_NS and then lowered
 * by RATE_MARGIN, so that "ticks until the next millisecond" is always an
 * underestimate: an error makes a thread read the clock early, never late.
 * (NTP slews CLOCK_REALTIME by at most 500 ppm; the margin is 2%.) */
#define CALIB_NS 20000000
#define RATE_MARGIN 0.98
/* No caching this close to a millisecond boundary: covers rdtsc running a
 * little ahead of or behind the clock read it is compared with. */
#define GUARD_NS 2000

static pthread_once_t clk_once = PTHREAD_ONCE_INIT;
static bool clk_usable;
static uint64_t calib_tsc;
static int64_t calib_ns;
static _Atomic uint64_t ticks_per_us_x1024; /* 0 until calibrated */

static void clk_init(void)
{
    /* Only where the kernel keeps time with the TSC itself: it checked the
     * TSC is invariant and synchronized across CPUs before choosing it. */
    char cs[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (f) {
        if (!fgets(cs, sizeof cs, f))
            cs[0] = 0;
        fclose(f);
    }
    clk_usable = strcmp(cs, "tsc\n") == 0;
    calib_tsc = __rdtsc();
    calib_ns = evl_mono_ns();
}

int64_t evl__clock_ms_read(void)
{
    pthread_once(&clk_once, clk_init);
    evl_clk_tls_t *c = &evl__clk_tls;
    uint64_t t0 = __rdtsc();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    c->ms = ms;
    c->from = c->until = 0;
    if (!clk_usable)
        return ms;
    uint64_t rate = atomic_load_explicit(&ticks_per_us_x1024, memory_order_relaxed);
    if (rate == 0) {
        int64_t dns = evl_mono_ns() - calib_ns;
        uint64_t dt = __rdtsc() - calib_tsc;
        if (dns < CALIB_NS)
            return ms;
        rate = (uint64_t)((double)dt / (double)dns * 1000.0 * 1024.0 * RATE_MARGIN);
        if (rate == 0)
            return ms;
        atomic_store_explicit(&ticks_per_us_x1024, rate, memory_order_relaxed);
    }
    int64_t left_ns = 1000000 - ts.tv_nsec % 1000000 - GUARD_NS;
    if (left_ns > 0) {
        /* t0 was read before the clock: the window starts early, too. */
        c->from = t0;
        c->until = t0 + (uint64_t)left_ns * rate / (1000 * 1024);
    }
    return ms;
}

int evl__clock_tsc_active(void)
{
    pthread_once(&clk_once, clk_init);
    return clk_usable && atomic_load(&ticks_per_us_x1024) != 0;
}
#else
int evl__clock_tsc_active(void)
{
    return 0;
}
#endif
