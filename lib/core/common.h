/*
 * common.h - internal helpers shared by every module: atomics, alignment,
 * time, logging through the user's callback, little-endian loads/stores.
 *
 * Nothing here is public. Internal functions shared between modules are
 * named evl__<module>_<verb>() and are hidden by -fvisibility=hidden; only
 * functions marked EVL_API in include/eventlog.h leave the shared library.
 */
#ifndef EVL_COMMON_H
#define EVL_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "eventlog.h"

#define EVL_ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)
/* x rounded down or up to a multiple of a (a power of two). */
#define EVL_ALIGN_DOWN(x, a) ((uint64_t)(x) & ~((uint64_t)(a) - 1))
#define EVL_ALIGN_UP(x, a) EVL_ALIGN_DOWN((uint64_t)(x) + (a) - 1, a)
#define EVL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define EVL_MAX(a, b) ((a) > (b) ? (a) : (b))
/* The size of a huge page (PMD) on x86-64 and on arm64 with 4 KiB pages. */
#define EVL_HUGE_PAGE (2u << 20)
#define EVL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define EVL_LIKELY(x) __builtin_expect(!!(x), 1)
#define EVL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Unaligned-safe little-endian accessors (x86 and arm64 are little-endian;
 * the on-disk format is little-endian everywhere). memcpy keeps UBSan quiet
 * and compiles to a plain load. */
static inline uint32_t evl_ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t evl_ld64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void evl_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void evl_st64(void *p, uint64_t v) { memcpy(p, &v, 8); }

/* A sequentially consistent fence between a store and a later load (the
 * waiter/waker handshake). ThreadSanitizer does not model fences (GCC
 * rejects them under -fsanitize=thread); there the waker uses an RMW on the
 * waiter count instead (notify.h), which is correct without one. */
#if defined(__SANITIZE_THREAD__)
#define EVL_FENCE_SC() ((void)0)
#else
#define EVL_FENCE_SC() atomic_thread_fence(memory_order_seq_cst)
#endif

/* A hint to the CPU inside a spin loop. */
static inline void evl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t evl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t evl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Logging: a printf-style call that goes to the callback when one is set,
 * nowhere otherwise. The library never prints. */
typedef struct evl_logger {
    evl_log_cb *cb;
    void *opaque;
} evl_logger_t;

void evl__logf(const evl_logger_t *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy a message into a caller's errstr buffer (may be NULL). */
void evl__errstr(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Topic and group names: Kafka's rule, [A-Za-z0-9._-]{1,249}, not . or .. */
bool evl__name_valid(const char *name);

#endif
