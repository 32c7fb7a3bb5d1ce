/*
 * prefault.c - space made ahead of writers by the log's prefault thread:
 * allocation (fallocate) in steps for slow writers, and for fast ones
 * allocation and page mapping far ahead, in 2 MiB folios where that is
 * cheap, so that a writer's appends are memory copies.
 */
#include <sched.h>
#include <time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partition_int.h"
#include "record.h"

#include "os.h"

/* For a writer faster than PREFAULT_MIN_RATE the background thread keeps
 * this much allocated and pre-faulted ahead of the write position: at a
 * few GB/s of appends that is a few ms of work, done on another core while
 * the writer only copies bytes. Slower writers get the doubling steps
 * (grow_step), from the same thread when they come within AHEAD_SLOW of
 * the allocation's end. Under a disk budget it is at most 1/32 of it. */
#define PREFAULT_AHEAD (8u << 20)
#define RATE_MIN_NS 20000000
#define RATE_MIN_BYTES (8u << 20)
#define AHEAD(part) EVL_MIN(EVL_MIN((uint64_t)PREFAULT_AHEAD, (part)->seg_bytes / 8), \
                            (part)->env.ahead_max)
#define PREFAULT_STEP (256u << 10)
/* Below this append rate (bytes/s) the prefault thread only allocates and
 * leaves mapping pages to the writer's own windows: a few percent of a
 * writer's time, and a running prefault thread was measured to cost a
 * blocking reader's wake-up ~0.2 ms at p99 (bench W7, 17.6 MB/s). Above it
 * the writer would spend most of its time in page faults. */
#define PREFAULT_MIN_RATE (64u << 20)
/* A 2 MiB folio whose prefault took longer than this (thread CPU time) came
 * from memory that was not ready (see prefault_unit). If the writer was by
 * then within HUGE_NEAR of the unit's end, so that the slow fault could
 * have delayed it, the next HUGE_BACKOFF units use small pages, twice as
 * many after each further slow one (up to 4x). On the 2-core VM of the
 * benchmarks 512 small pages take ~0.8 ms, a 2 MiB folio 0.06-0.5 ms, one
 * from memory handed back to the host 5-10 ms. A wider back-off (32 units,
 * up to 32x, whatever the writer's distance) kept most units small on a
 * shadow-paging host, where small pages cost the writer far more than slow
 * folios cost the prefault thread: W1 4.7 against 6.6-7.9 M/s (bench/README.md). */
#define HUGE_SLOW_NS 1000000
#define HUGE_BACKOFF 4
#define HUGE_NEAR (4u << 20)

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Map [p, e), at most one 2 MiB unit of seg, ahead of a writer that appends
 * faster than PREFAULT_MIN_RATE; as one 2 MiB folio if huge (the rate was
 * measured, not a first guess) and the unit is whole.
 *
 * Such a writer fills 2 MiB in about a millisecond, so the page cache ahead
 * of it is built of 2 MiB folios where that is cheap: one fault and one
 * page-table entry per 2 MiB instead of 512, for the writer and for every
 * reader mapping the range later (a re-scan maps a 4 KiB page's worth in
 * ~20 ns instead of ~255, and takes fewer TLB misses). Two costs keep it
 * conditional:
 *  - a dirty folio is written back whole, so behind a slow writer (one
 *    fsync per record) every fsync would write 2 MiB: hence the rate;
 *  - a 2 MiB folio needs a free 2 MiB block. On a VM that hands free memory
 *    back to its host (virtio free page reporting) those blocks are the
 *    ones handed back, and touching one costs 5-10 ms, ~10x the small
 *    pages it replaces. The first step, which allocates and zeroes the
 *    folio, is timed, and after a slow one that the writer was close
 *    behind, the next units are small.
 * Nor where the writer is already close: it would fault the folio itself.
 */
static void prefault_unit(evl_part_t *part, evl_seg_t *seg, uint64_t p, uint64_t e, bool huge)
{
    huge = huge && p % EVL_HUGE_PAGE == 0 && e == p + EVL_HUGE_PAGE &&
           atomic_load_explicit(&part->ctl->write_pos, memory_order_relaxed) +
                   2 * WRITER_WINDOW <= p;
    if (part->pf_small_units > 0) {
        part->pf_small_units--;
        huge = false;
    }
    if (huge)
        evl__os_hugepages(seg->map + p, EVL_HUGE_PAGE);
    /* In short steps with a yield between, on the log's SCHED_IDLE
     * prefault thread: on a machine with few cores it would otherwise
     * preempt a writer or a spinning reader, and a 4 MiB populate (~2 ms)
     * in one go would stall it that long. */
    for (uint64_t q = p; q < e; q += PREFAULT_STEP) {
        int64_t t0 = huge && q == p ? thread_cpu_ns() : 0;
        evl__os_prefault(seg->map + q, (size_t)EVL_MIN((uint64_t)PREFAULT_STEP, e - q));
        if (t0 && thread_cpu_ns() - t0 > HUGE_SLOW_NS &&
            atomic_load_explicit(&part->ctl->write_pos, memory_order_relaxed) + HUGE_NEAR >= e) {
            part->pf_small_units = HUGE_BACKOFF << EVL_MIN(part->pf_slow_probes, 2);
            part->pf_slow_probes++;
        } else if (t0) {
            part->pf_slow_probes = 0;
        }
        sched_yield();
    }
}

void evl__part_grow_ahead(evl_part_t *part)
{
    atomic_store(&part->grow_wanted, false);
    if (evl__part_deleted(part))
        return; /* its topic is gone: nothing to make room for */
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *seg;
    uint64_t base = atomic_load(&ctl->active_base);
    if (evl__part_seg_at(part, base, &seg))
        return;
    uint64_t cur = atomic_load(&ctl->alloc_end), wp = atomic_load(&ctl->write_pos);
    /* The writer's rate since the last sample (only this thread calls),
     * over at least RATE_MIN_NS or RATE_MIN_BYTES: a writer that appends
     * in bursts is judged by its average, not by a burst. Until there is a
     * sample in this segment, the last rate seen decides. */
    int64_t now = evl_mono_ns();
    bool fast = part->pf_fast, measured = false;
    if (part->pf_last_ns && part->pf_last_base == base && wp >= part->pf_last_pos &&
        now > part->pf_last_ns) {
        if (now - part->pf_last_ns >= RATE_MIN_NS || wp - part->pf_last_pos >= RATE_MIN_BYTES) {
            fast = (double)(wp - part->pf_last_pos) * 1e9 / (double)(now - part->pf_last_ns) >=
                   (double)PREFAULT_MIN_RATE;
            part->pf_fast = fast;
            part->pf_last_ns = 0; /* a new sample starts below */
        }
        measured = true;
    }
    if (!part->pf_last_ns || part->pf_last_base != base) {
        part->pf_last_ns = now;
        part->pf_last_pos = wp;
        part->pf_last_base = base;
    }
    /* Fast: far ahead, in whole 2 MiB units (so that they can be huge
     * pages). Otherwise the next doubling step, and the writer asks again
     * when it comes within AHEAD_SLOW of its end. */
    uint64_t target = fast ? EVL_ALIGN_UP(wp + AHEAD(part) + GROW_CHUNK, EVL_HUGE_PAGE)
                           : EVL_ALIGN_UP(EVL_MAX(cur + grow_step(cur), wp + AHEAD_SLOW), 4096);
    target = EVL_MIN(target, EVL_MIN(part->seg_bytes, EVL_ALIGN_UP(part->roll_bytes, 4096)));
    atomic_store_explicit(&part->ahead, fast ? AHEAD(part) : AHEAD_SLOW, memory_order_relaxed);
    /* fallocate outside the append lock: on ext4 it can wait for the
     * journal for milliseconds, and writers must not wait with it. Two
     * growers allocating the same range is harmless (fallocate is
     * idempotent); only publishing alloc_end needs the lock, to be sure the
     * segment is still the active one. */
    uint64_t idx_add = target > cur ? evl__seg_idx_shortfall(seg, target, part->index_interval) : 0;
    bool grown = seg->writable && target > cur &&
                 evl__part_reserve_try(part, target - cur + idx_add) == 0;
    grown = grown && evl__os_allocate(seg->fd, cur, target - cur) == 0 &&
            evl__seg_idx_extend(seg, idx_add) == 0;
    evl__part_reserve_done(part);
    if (grown && evl__part_lock(part) == 0) {
        if (atomic_load(&ctl->active_base) == base) {
            if (target > atomic_load(&ctl->alloc_end))
                atomic_store_explicit(&ctl->alloc_end, target, memory_order_release);
        } else if (evl__part_seg_sealed(part, seg)) {
            /* Rolled meanwhile: give back what we added past its end. */
            evl__os_ftruncate(seg->fd, seg->end_pos + EVL_FRAME_EOF_BYTES);
            if (seg->idx_fd >= 0)
                evl__os_ftruncate(seg->idx_fd, (uint64_t)seg->idx_count * EVL_IDX_ENTRY);
            grown = false;
        }
        evl__part_unlock(part);
        /* The writer may already be storing into these pages, which is
         * fine; whichever touches a page first maps it. If this thread
         * starves, the writer maps its own windows. */
        for (uint64_t p = cur; grown && fast && p < target;) {
            uint64_t e = EVL_MIN(EVL_ALIGN_UP(p + 1, EVL_HUGE_PAGE), target);
            prefault_unit(part, seg, p, e, measured);
            p = e;
        }
    }
    evl__seg_unref(seg);
}

