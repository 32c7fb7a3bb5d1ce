/*
 * partition.c - the append path, segment rolls, group commit, the per-handle
 * segment cache, retention and waiting (see partition.h for the shared
 * control block and why it exists).
 *
 * Append protocol, under the ctl append lock:
 *   1. roll if the frame does not fit, or the segment is older than
 *      segment.ms; grow the file (fallocate, disk budget) if needed;
 *   2. set dirty_end, so a repairer knows what a dead writer may have
 *      scribbled;
 *   3. encode the frame in place (one copy of the payload), CRC it, add an
 *      index entry every index.interval.bytes;
 *   4. publish the frame_len word with a release store (readers may now see
 *      it), then move write_pos and next_offset;
 *   5. unlock, and wake sleeping readers only if there are any (no system
 *      call per record otherwise).
 * A roll (step 1) writes the old segment's end marker under the lock and
 * leaves its fdatasync, trim and sealed checkpoint to finish_seal.
 */
#include "partition.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "os.h"
#include "record.h"
#include "topic.h"

/* Space is allocated as the data grows: a new partition's segment starts
 * with ALLOC_MIN bytes (its 4 KiB header and 12 KiB of records), and each
 * growth doubles the allocation, by GROW_CHUNK at most. An idle partition
 * then costs ~24 KiB on disk (ctl, a small segment, a page of index), so a
 * small device holds hundreds; a writer that fills a segment pays about
 * log2(GROW_CHUNK / ALLOC_MIN) + size / GROW_CHUNK fallocates. */
#define ALLOC_MIN EVL_ALLOC_MIN
#define GROW_CHUNK (4u << 20)
/* For a writer faster than PREFAULT_MIN_RATE the background thread keeps
 * this much allocated and pre-faulted ahead of the write position: at a
 * few GB/s of appends that is a few ms of work, done on another core while
 * the writer only copies bytes. Slower writers get the doubling steps
 * (grow_step), from the same thread when they come within AHEAD_SLOW of
 * the allocation's end. Under a disk budget it is at most 1/32 of it. */
#define PREFAULT_AHEAD (8u << 20)
#define RATE_MIN_NS 20000000
#define RATE_MIN_BYTES (8u << 20)
#define AHEAD_SLOW (8u << 10)
#define AHEAD(part) EVL_MIN(EVL_MIN((uint64_t)PREFAULT_AHEAD, (part)->seg_bytes / 8), \
                            (uint64_t)evl__log_budget_share((part)->log, 32))
#define PREFAULT_STEP (256u << 10)
/* Below this append rate (bytes/s) the prefault thread only allocates and
 * leaves mapping pages to the writer's own windows: a few percent of a
 * writer's time, and a running prefault thread was measured to cost a
 * blocking reader's wake-up ~0.2 ms at p99 (bench W7, 17.6 MB/s). Above it
 * the writer would spend most of its time in page faults. */
#define PREFAULT_MIN_RATE (64u << 20)
#define WRITER_WINDOW (64u << 10)
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
/* drop-oldest rolls a full partition's own segment (see evl__part_append)
 * only when it holds at least this much data. */
#define SELF_ROLL_MIN (64u << 10)
/* A durable sync also syncs the index file once this many index entries
 * wait (evl__part_sync). */
#define IDX_SYNC_ENTRIES 64
/* A durable sync records a checkpoint (segment header) only once this many
 * bytes lie past the last one, or with the index file (evl__part_sync). */
#define CKPT_EVERY_BYTES (1u << 20)
/* The longest a group commit's leader waits for senders on their way. */
#define COMMIT_DELAY_MAX_NS 1000000

/* ---- locking ------------------------------------------------------------ */

static int ctl_lock(evl_part_t *part)
{
    /* The lock is held for the time of a memcpy, so spin briefly before
     * sleeping in the kernel: a futex sleep and wake cost far more than the
     * wait, and with two busy writers would make both slower than one.
     * Between tries the pause doubles up to 8: each try takes the lock's
     * line from the holder, which then waits for it to unlock (two writers
     * on one partition, 4 M sends, 5 alternating runs: median 8.9 -> 9.5
     * M/s). */
    int rc = EBUSY;
    for (int i = 0, pause = 1; i < 200 && rc == EBUSY; i++) {
        rc = pthread_mutex_trylock(&part->ctl->lock);
        if (rc == EBUSY) {
            for (int k = 0; k < pause; k++)
                evl_cpu_relax();
            pause = EVL_MIN(pause * 2, 8);
        }
    }
    /* Not a plain pthread_mutex_lock: an unlock clears the futex's waiters
     * bit and wakes one sleeper; if that sleeper is SIGKILLed before it
     * takes the lock, and another thread takes it uncontended meanwhile, the
     * bit is gone and the other sleepers are never woken (the kernel's
     * robust-list cleanup only handles a lock left free). Found by
     * test_crash.c. A timed wait bounds such a stall to 10 ms: the retry
     * sets the waiters bit again. */
    while (rc == EBUSY || rc == ETIMEDOUT) {
        struct timespec ts;
#if defined(__SANITIZE_THREAD__)
        /* GCC 12's ThreadSanitizer does not intercept clocklock. */
        const clockid_t clock = CLOCK_REALTIME;
#else
        const clockid_t clock = CLOCK_MONOTONIC; /* immune to clock jumps */
#endif
        clock_gettime(clock, &ts);
        ts.tv_nsec += 10 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
#if defined(__SANITIZE_THREAD__)
        rc = pthread_mutex_timedlock(&part->ctl->lock, &ts);
#else
        rc = pthread_mutex_clocklock(&part->ctl->lock, clock, &ts);
#endif
    }
    if (rc == EOWNERDEAD) {
        evl__logf(&part->log->lg, EVL_LOG_WARNING,
                  "%s/%d: a writer died holding the append lock; repairing the tail",
                  part->topic->name, part->id);
        evl__part_repair_tail(part);
        pthread_mutex_consistent(&part->ctl->lock);
        return 0;
    }
    return rc ? -rc : 0;
}

static void ctl_unlock(evl_part_t *part) { pthread_mutex_unlock(&part->ctl->lock); }

static inline void notify(evl_part_t *part)
{
    /* A store-load pair on each side, each with a seq_cst fence between:
     * we published the frame, then look at waiters; a reader increments
     * waiters, then looks at the frame (reader.c, consumer.c). Of the two
     * fences one comes first, so either we see the waiter or it sees the
     * frame. The fence is a locked op on our own stack on x86, so a plain
     * load leaves the waiters line shared instead of taking it from the
     * other cores each append (as an RMW on it would). */
#if defined(__SANITIZE_THREAD__)
    if (atomic_fetch_add(&part->ctl->waiters, 0)) {
#else
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&part->ctl->waiters, memory_order_relaxed)) {
#endif
        atomic_fetch_add(&part->ctl->futex_seq, 1);
        evl__futex_wake_all(&part->ctl->futex_seq);
    }
}

int evl__part_wait(evl_part_t *part, uint32_t seq, int64_t timeout_ns)
{
    return evl__futex_wait(&part->ctl->futex_seq, seq, timeout_ns);
}

/* ---- segment cache ---------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int evl__part_list(const char *dir, uint64_t **bases, size_t *count)
{
    *bases = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t n = 0, cap = 16;
    uint64_t *v = evl__malloc(cap * sizeof *v);
    if (!v) {
        closedir(d);
        return EVL_ENOMEM;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strlen(nm) != 24 || strcmp(nm + 20, ".log") != 0)
            continue;
        char *end;
        unsigned long long b = strtoull(nm, &end, 10);
        if (end != nm + 20)
            continue;
        if (n == cap) {
            uint64_t *nv = evl__realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return EVL_ENOMEM;
            }
            v = nv;
        }
        v[n++] = b;
    }
    closedir(d);
    qsort(v, n, sizeof *v, cmp_u64);
    *bases = v;
    *count = n;
    return 0;
}

/* Drop cached segments below the log start (deleted by retention). */
static void cache_prune(evl_part_t *part)
{
    uint64_t start = evl__part_start(part);
    evl_seg_t **pp = &part->segs;
    while (*pp) {
        evl_seg_t *s = *pp;
        if (s->sealed && s->end_offset <= start && s != part->wseg) {
            *pp = s->next;
            evl__seg_unref(s);
        } else {
            pp = &s->next;
        }
    }
}

/* Keep at most this many segments mapped per partition and handle, beyond
 * those in use: every cached segment holds two fds and a mapping, and a
 * partition may have thousands of segments. */
#define SEG_CACHE_MAX 8

/* Drop cached segments that nobody else references, oldest first, until
 * the cache is back under its bound (seg_mu held). */
static void cache_trim(evl_part_t *part, const evl_seg_t *keep)
{
    size_t n = 0;
    for (evl_seg_t *s = part->segs; s; s = s->next)
        n++;
    uint64_t active = atomic_load(&part->ctl->active_base);
    evl_seg_t **pp = &part->segs;
    while (n > SEG_CACHE_MAX && *pp) {
        evl_seg_t *s = *pp;
        if (s != keep && s != part->wseg && s->base != active &&
            atomic_load(&s->refs) == 1) {
            *pp = s->next;
            evl__seg_unref(s);
            n--;
        } else {
            pp = &s->next;
        }
    }
}

int evl__part_seg_at(evl_part_t *part, uint64_t base, evl_seg_t **out)
{
    pthread_mutex_lock(&part->seg_mu);
    evl_seg_t **pp = &part->segs;
    while (*pp && (*pp)->base < base)
        pp = &(*pp)->next;
    if (*pp && (*pp)->base == base) {
        evl__seg_ref(*pp);
        *out = *pp;
        pthread_mutex_unlock(&part->seg_mu);
        return 0;
    }
    evl_seg_t *seg;
    int rc = evl__seg_open(part->dir, base, part->seg_bytes, part->idx_cap, true, &seg);
    if (rc == 0) {
        seg->next = *pp;
        *pp = seg;
        evl__seg_ref(seg);
        *out = seg;
        cache_prune(part);
        cache_trim(part, seg);
    } else {
        *out = NULL;
    }
    pthread_mutex_unlock(&part->seg_mu);
    return rc;
}

/* Insert a segment this handle just created (the cache takes one ref). */
static void cache_insert(evl_part_t *part, evl_seg_t *seg)
{
    pthread_mutex_lock(&part->seg_mu);
    evl_seg_t **pp = &part->segs;
    while (*pp && (*pp)->base < seg->base)
        pp = &(*pp)->next;
    if (*pp && (*pp)->base == seg->base) { /* replace a stale mapping */
        evl_seg_t *old = *pp;
        seg->next = old->next;
        *pp = seg;
        evl__seg_unref(old);
    } else {
        seg->next = *pp;
        *pp = seg;
    }
    cache_trim(part, seg); /* a writer's rolls add segments too */
    pthread_mutex_unlock(&part->seg_mu);
}

int evl__part_seg_for(evl_part_t *part, uint64_t offset, evl_seg_t **out)
{
    *out = NULL;
    uint64_t active = atomic_load(&part->ctl->active_base);
    if (offset >= active)
        return evl__part_seg_at(part, active, out);
    uint64_t *bases;
    size_t n;
    int rc = evl__part_list(part->dir, &bases, &n);
    if (rc)
        return rc;
    rc = EVL_EOFFSET;
    for (size_t i = n; i-- > 0;)
        if (bases[i] <= offset) {
            rc = evl__part_seg_at(part, bases[i], out);
            /* A stray file with a bad header (recovery would quarantine
             * it): the segment before it leads the reader past it. */
            if (rc != EVL_ECORRUPT || bases[i] <= evl__part_start(part))
                break;
        }
    free(bases);
    return rc;
}

/* Record where seg ends, then mark it sealed for this handle (under
 * seg_mu; readers load `sealed` first, then the fields). */
static void seg_set_end(evl_seg_t *seg, uint64_t pos, uint64_t next, int64_t max_ts,
                        uint32_t idx_count, uint64_t file_bytes)
{
    seg->end_pos = pos;
    seg->end_offset = next;
    seg->max_ts = max_ts;
    seg->idx_count = idx_count;
    seg->file_bytes = file_bytes;
    seg->sealed = true;
}

/* Is the seal of the segment at base the one pending (evl_ctl_t.seal)? Without
 * the lock: seal_pending holds that segment's base + 1. */
static bool seal_pending_for(const evl_part_t *part, uint64_t base)
{
    return atomic_load(&part->ctl->seal_pending) == base + 1;
}

bool evl__part_seg_sealed(evl_part_t *part, evl_seg_t *seg)
{
    if (seg->sealed)
        return true;
    if (seg->base == atomic_load(&part->ctl->active_base))
        return false;
    /* No longer active: once the roll's seal is finished (finish_seal), or
     * recovery sealed it, its sealed checkpoint is on disk. Load it once;
     * the fields never change afterwards. Until then it is not sealed for
     * this handle, unless this handle rolled it. While its seal is pending,
     * a finisher may be writing that checkpoint: not read then. Seeing any
     * other value of seal_pending (after the roll that stored this one, as
     * active_base was read after it) orders that write before this read. */
    if (seal_pending_for(part, seg->base))
        return false;
    pthread_mutex_lock(&part->seg_mu);
    if (!seg->sealed) {
        evl_ckpt_t ck;
        int64_t size = evl__seg_file_size(seg);
        if (evl__seg_ckpt_read(seg, &ck) && (ck.flags & EVL_SEG_SEALED) &&
            size >= (int64_t)(ck.pos + EVL_FRAME_EOF_BYTES))
            seg_set_end(seg, ck.pos, ck.next_offset, ck.max_ts, ck.idx_count, (uint64_t)size);
    }
    pthread_mutex_unlock(&part->seg_mu);
    return seg->sealed;
}

/* ---- writer ----------------------------------------------------------- */

static int ensure_wseg(evl_part_t *part)
{
    uint64_t active = atomic_load(&part->ctl->active_base);
    if (part->wseg && part->wseg->base == active)
        return 0;
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, active, &seg);
    if (rc)
        return rc;
    if (!seg->writable) {
        evl__seg_unref(seg);
        return EVL_EACCES;
    }
    evl__seg_unref(part->wseg);
    part->wseg = seg;
    return 0;
}

/* The next allocation step after cur bytes: double, up to GROW_CHUNK. */
static uint64_t grow_step(uint64_t cur)
{
    return EVL_MIN(EVL_MAX(cur, (uint64_t)ALLOC_MIN), (uint64_t)GROW_CHUNK);
}

static int grow(evl_part_t *part, uint64_t need_end)
{
    evl_ctl_t *ctl = part->ctl;
    uint64_t cur = atomic_load(&ctl->alloc_end);
    /* Not past where the segment rolls (under a budget, before
     * segment.bytes), unless this frame needs it. */
    uint64_t want = EVL_MIN(EVL_ALIGN_UP(EVL_MAX(need_end, cur + grow_step(cur)), 4096),
                            EVL_MAX(need_end, EVL_ALIGN_UP(part->roll_bytes, 4096)));
    want = EVL_MIN(want, part->seg_bytes);
    if (want < need_end)
        return EVL_ETOOBIG;
    /* The index space the new range may need comes with it, within the
     * same reservation: the budget counts index files too. */
    uint64_t idx_add = evl__seg_idx_shortfall(part->wseg, want, part->index_interval);
    int rc = evl__log_reserve(part->log, want - cur + idx_add);
    if (rc)
        return rc;
    rc = evl__os_allocate(part->wseg->fd, cur, want - cur);
    if (rc == 0)
        rc = evl__seg_idx_extend(part->wseg, idx_add);
    evl__log_reserve_done(part->log);
    if (rc)
        return rc;
    /* No pre-faulting here: this runs under the append lock (the prefault
     * thread did not keep up, e.g. every core is busy), and populating
     * 4 MiB takes milliseconds. The writer takes each page's fault as it
     * gets there instead: microseconds, spread out. */
    atomic_store_explicit(&ctl->alloc_end, want, memory_order_release);
    return 0;
}

/* Make `seg` (just created, base = next offset) the active segment. */
void evl__part_activate(evl_part_t *part, evl_seg_t *seg, uint64_t alloc, int64_t now)
{
    evl_ctl_t *ctl = part->ctl;
    atomic_store(&ctl->write_pos, EVL_SEG_HDR);
    atomic_store(&ctl->dirty_end, EVL_SEG_HDR);
    atomic_store(&ctl->alloc_end, alloc);
    atomic_store(&ctl->max_ts, INT64_MIN);
    atomic_store(&ctl->seg_created_ms, now);
    atomic_store(&ctl->idx_count, 0);
    atomic_store(&ctl->idx_synced, 0);
    atomic_store(&ctl->last_idx_pos, EVL_SEG_HDR);
    atomic_store(&ctl->last_frame_pos, 0);
    atomic_store(&ctl->active_base, seg->base);
    atomic_fetch_add(&ctl->seg_epoch, 1);
    evl__seg_unref(part->wseg);
    evl__seg_ref(seg);
    part->wseg = seg;
}

uint64_t evl__part_initial_alloc(const evl_part_t *part)
{
    return EVL_MIN((uint64_t)ALLOC_MIN, part->seg_bytes);
}

/* A rolled segment's successor starts with an eighth of what it filled
 * (a writer that fills big segments gets a big first step). */
static uint64_t roll_alloc(const evl_part_t *part, uint64_t filled)
{
    return EVL_MIN(EVL_ALIGN_UP(EVL_MAX(filled / 8, (uint64_t)ALLOC_MIN), 4096),
                   EVL_MIN((uint64_t)GROW_CHUNK, part->seg_bytes));
}

static void seal_failed(evl_part_t *part, uint64_t base, int rc)
{
    /* A failed fsync means data of that segment may not be on disk: nothing
     * in this partition is reported durable from now on. */
    evl__logf(&part->log->lg, EVL_LOG_ERR, "%s/%d: sealing segment %llu failed: %s",
              part->topic->name, part->id, (unsigned long long)base, evl_strerror(rc));
    pthread_mutex_lock(&part->sync_mu);
    part->sync_failed = true;
    pthread_mutex_unlock(&part->sync_mu);
}

/* Does seg end at pos with a marker pointing at next, as a roll left it? */
static bool end_marker_at(evl_part_t *part, const evl_seg_t *seg, uint64_t pos, uint64_t next)
{
    int64_t size = evl__seg_file_size(seg);
    return seg->base < atomic_load(&part->ctl->active_base) && pos >= EVL_SEG_HDR &&
           pos % 8 == 0 && size >= 0 && pos + EVL_FRAME_EOF_BYTES <= (uint64_t)size &&
           pos + EVL_FRAME_EOF_BYTES <= seg->max_bytes &&
           evl__frame_len_acquire(seg->map + pos) == EVL_FRAME_EOF &&
           evl_ld64(seg->map + pos + 8) == next && next > seg->base;
}

/* The roll's note, read under the append lock (`locked`: the caller holds
 * it): 1 if a seal is pending, 0 if none, or the lock's error. */
static int pending_note(evl_part_t *part, bool locked, evl_seal_note_t *n)
{
    int rc;
    if (!atomic_load(&part->ctl->seal_pending))
        return 0;
    if (!locked && (rc = ctl_lock(part)))
        return rc;
    rc = atomic_load(&part->ctl->seal_pending) ? 1 : 0;
    *n = part->ctl->seal;
    if (!locked)
        ctl_unlock(part);
    return rc;
}

/*
 * The second half of a roll's seal, done after the roll (by the background
 * thread, a durable sync, the next roll, open or close): fdatasync of the
 * old segment's data, then its files trimmed, then its sealed checkpoint.
 * Under the append lock that fdatasync stalled every writer for the whole
 * segment's write-back (1 GiB with durability none: 1.15 s, bench/README.md).
 * Only the checkpoint is written under the lock, so that every checkpoint
 * write (see evl__part_sync) is; and seal_pending is cleared after the data
 * is on disk, never before. Finishers in several threads or processes at
 * once do the same idempotent steps. `locked`: the caller holds the lock.
 */
static int finish_seal(evl_part_t *part, bool locked)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seal_note_t n;
    int rc = pending_note(part, locked, &n);
    if (rc <= 0)
        return rc;
    evl_seg_t *seg;
    rc = evl__part_seg_at(part, n.base, &seg);
    if (rc == -ENOENT) {
        seg = NULL; /* deleted meanwhile (retention): nothing to seal */
        rc = 0;
    } else if (rc) {
        return rc; /* EMFILE, ENOMEM...: stays pending, retried later */
    } else if (!seg->writable) {
        evl__seg_unref(seg);
        return 0; /* left to a process that can write */
    } else if (!end_marker_at(part, seg, n.pos, n.next)) {
        /* Not what a roll leaves: trimming by it could cut data. Drop the
         * note; recovery checks the segment's frames after a reboot. */
        evl__logf(&part->log->lg, EVL_LOG_WARNING,
                  "%s/%d: segment %llu: ignoring a pending seal that does not match the file",
                  part->topic->name, part->id, (unsigned long long)n.base);
        evl__seg_unref(seg);
        seg = NULL;
    } else {
        rc = evl__seg_sync_end(seg, n.pos, (uint32_t)n.idx_count);
    }
    if (rc)
        seal_failed(part, n.base, rc);
    if (locked || ctl_lock(part) == 0) {
        if (seal_pending_for(part, n.base)) {
            /* After a failure, no sealed checkpoint: recovery after a reboot
             * checks that segment's frames instead of trusting it. */
            if (rc == 0 && seg)
                evl__seg_ckpt_sealed(seg, n.pos, n.next, n.max_ts, (uint32_t)n.idx_count);
            atomic_store(&ctl->seal_pending, 0);
        }
        if (!locked)
            ctl_unlock(part);
    }
    int src = rc == 0 && seg ? evl__os_fdatasync(seg->fd) : 0;
    if (src)
        seal_failed(part, n.base, src);
    evl__seg_unref(seg);
    return rc || src ? EVL_EDURABILITY : 0;
}

int evl__part_finish_seal(evl_part_t *part, bool locked) { return finish_seal(part, locked); }

bool evl__part_pending_end(evl_part_t *part, const evl_seg_t *seg, uint32_t *idx_count,
                           uint64_t *end_pos)
{
    evl_seal_note_t n;
    if (!seal_pending_for(part, seg->base) || pending_note(part, false, &n) != 1 ||
        n.base != seg->base)
        return false;
    *idx_count = (uint32_t)n.idx_count;
    *end_pos = n.pos;
    return true;
}

/* Roll: create the next segment first (so an end marker never points at a
 * file that does not exist), then write the old one's end marker, then
 * switch. The rest of its seal waits (finish_seal), except for a seal still
 * pending from the roll before, which is finished here: at most one segment
 * waits at a time, which evl__part_sync relies on. */
static int roll(evl_part_t *part, int64_t now)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *old = part->wseg, *seg;
    finish_seal(part, true);
    uint64_t next = atomic_load(&ctl->next_offset);
    uint64_t alloc = roll_alloc(part, atomic_load(&ctl->write_pos));
    /* Under drop-oldest the roll goes ahead even with the budget reached:
     * the segment it seals is what can be dropped next. */
    int rc = evl__log_reserve(part->log, alloc + EVL_IDX_STEP_MIN);
    bool over = rc == EVL_EFULL && evl__log_drops_oldest(part->log);
    if (rc && !over)
        return rc;
    rc = evl__seg_create(part->dir, next, part->seg_bytes, part->idx_cap, alloc, now, &seg);
    evl__log_reserve_done(part->log);
    if (rc)
        return rc;
    evl_seal_note_t n = {old->base, atomic_load(&ctl->write_pos), next,
                         atomic_load(&ctl->idx_count), atomic_load(&ctl->max_ts)};
    evl__seg_mark_end(old, n.pos, next);
    ctl->seal = n;
    atomic_store(&ctl->seal_pending, n.base + 1);
    /* This handle knows the old segment's end already: its readers and
     * retention need not wait for the checkpoint. */
    pthread_mutex_lock(&part->seg_mu);
    seg_set_end(old, n.pos, next, n.max_ts, (uint32_t)n.idx_count, n.pos + EVL_FRAME_EOF_BYTES);
    pthread_mutex_unlock(&part->seg_mu);
    cache_insert(part, seg);
    evl__seg_ref(seg); /* cache's reference + the one activate() takes */
    evl__part_activate(part, seg, alloc, now);
    evl__seg_unref(seg);
    evl__stat_add(part->log, EVL_STAT_SEGMENTS_ROLLED, 1);
    if (over) {
        /* Made over the budget (drop-oldest): back within it, dropping the
         * oldest sealed segments, the one just sealed among them. */
        evl__log_reserve(part->log, 0);
        evl__log_reserve_done(part->log);
    }
    /* Retention runs after a roll (off the append path: the background
     * thread, or the close of a short-lived process). */
    atomic_store(&part->retention_due, true);
    evl__log_kick(part->log);
    return 0;
}

int evl__part_append(evl_part_t *part, const evl_msg_t *msgs, size_t n,
                     uint64_t frame_bytes, uint64_t *base, uint64_t *seg_base,
                     uint64_t *end_pos)
{
    if (frame_bytes + EVL_SEG_HDR + EVL_FRAME_EOF_BYTES > part->seg_bytes)
        return EVL_ETOOBIG;
    /* The clock is read before locking (it is a fifth of an append's time):
     * as with a producer's own timestamps, two threads' records may then
     * carry times out of offset order; a segment's max_ts and the time index
     * allow for that. */
    int64_t now = evl__append_ms();
    int rc = ctl_lock(part);
    if (rc)
        return rc;
    evl_ctl_t *ctl = part->ctl;
    /* valid shares its line with fields no append writes: a load that hits. */
    if (EVL_UNLIKELY(atomic_load_explicit(&ctl->valid, memory_order_relaxed) != 1)) {
        rc = EVL_ENOTFOUND; /* the topic was deleted (evl__part_mark_deleted) */
        goto out;
    }
    if ((rc = ensure_wseg(part)))
        goto out;
    uint64_t pos = atomic_load_explicit(&ctl->write_pos, memory_order_relaxed);
    if (pos > EVL_SEG_HDR &&
        (pos + frame_bytes + EVL_FRAME_EOF_BYTES > part->roll_bytes ||
         now - atomic_load_explicit(&ctl->seg_created_ms, memory_order_relaxed) >= part->seg_ms)) {
        if ((rc = roll(part, now)))
            goto out;
        pos = EVL_SEG_HDR;
    }
    uint64_t end = pos + frame_bytes;
    if (end + EVL_FRAME_EOF_BYTES > atomic_load_explicit(&ctl->alloc_end, memory_order_relaxed) &&
        (rc = grow(part, end + EVL_FRAME_EOF_BYTES))) {
        /* drop-oldest with nothing sealed left to drop anywhere: seal this
         * segment (roll), so that its oldest data can go, rather than
         * refuse. Not for a nearly empty segment: a new one would cost
         * about what dropping it frees. */
        if (rc != EVL_EFULL || !evl__log_drops_oldest(part->log) ||
            pos - EVL_SEG_HDR < SELF_ROLL_MIN || (rc = roll(part, now)))
            goto out;
        pos = EVL_SEG_HDR;
        end = pos + frame_bytes;
        if (end + EVL_FRAME_EOF_BYTES >
                atomic_load_explicit(&ctl->alloc_end, memory_order_relaxed) &&
            (rc = grow(part, end + EVL_FRAME_EOF_BYTES)))
            goto out;
    }
    evl_seg_t *seg = part->wseg;
    atomic_store_explicit(&ctl->dirty_end, end, memory_order_relaxed);
    uint8_t *dst = seg->map + pos;
    uint64_t off = atomic_load_explicit(&ctl->next_offset, memory_order_relaxed);
    int64_t max_ts;
    uint32_t flen = evl__frame_encode(dst, off, msgs, n, now, &max_ts);
    int64_t seg_max = atomic_load_explicit(&ctl->max_ts, memory_order_relaxed);
    uint64_t last_idx = atomic_load_explicit(&ctl->last_idx_pos, memory_order_relaxed);
    if (pos - last_idx >= part->index_interval) {
        uint64_t ic = atomic_load_explicit(&ctl->idx_count, memory_order_relaxed);
        if (evl__seg_idx_put(seg, (uint32_t)ic, (uint32_t)(off - seg->base), (uint32_t)pos,
                             seg_max) == 0) {
            atomic_store_explicit(&ctl->idx_count, ic + 1, memory_order_release);
            atomic_store_explicit(&ctl->last_idx_pos, pos, memory_order_relaxed);
        }
    }
    evl__frame_publish(dst, flen);
    atomic_store_explicit(&ctl->last_frame_pos, pos, memory_order_relaxed);
    if (max_ts > seg_max)
        atomic_store_explicit(&ctl->max_ts, max_ts, memory_order_relaxed);
    atomic_store_explicit(&ctl->write_pos, end, memory_order_release);
    atomic_store_explicit(&ctl->next_offset, off + n, memory_order_release);
    atomic_store_explicit(&part->n_appends,
                          atomic_load_explicit(&part->n_appends, memory_order_relaxed) + (int64_t)n,
                          memory_order_relaxed);
    atomic_store_explicit(&part->n_append_bytes,
                          atomic_load_explicit(&part->n_append_bytes, memory_order_relaxed) +
                              (int64_t)frame_bytes,
                          memory_order_relaxed);
    *base = off;
    *seg_base = seg->base;
    *end_pos = end;
    uint64_t alloc = atomic_load_explicit(&ctl->alloc_end, memory_order_relaxed);
    bool low = alloc < EVL_MIN(end + atomic_load_explicit(&part->ahead, memory_order_relaxed),
                               part->seg_bytes);
    /* Crossing a window boundary: fault in the next window after unlocking
     * (see below). The reference keeps the mapping alive past a roll. */
    evl_seg_t *pf_seg = NULL;
    uint64_t pf_from = ((end / WRITER_WINDOW) + 1) * WRITER_WINDOW;
    uint64_t pf_to = EVL_MIN(pf_from + WRITER_WINDOW, alloc);
    if (pos / WRITER_WINDOW != end / WRITER_WINDOW && pf_to > pf_from) {
        pf_seg = seg;
        evl__seg_ref(seg);
    }
out:
    ctl_unlock(part);
    if (rc == 0) {
        /* The writer faults in the window after the one it writes, outside
         * the lock: a few microseconds per 64 KiB, so no page fault happens
         * under the lock even when the prefault thread gets no CPU (every
         * core busy). Where it did run, the pages are there and this is
         * cheap. */
        if (pf_seg) {
            evl__os_prefault(pf_seg->map + pf_from, (size_t)(pf_to - pf_from));
            evl__seg_unref(pf_seg);
        }
        notify(part);
        if (!atomic_load_explicit(&part->unsynced, memory_order_relaxed)) {
            atomic_store_explicit(&part->unsynced, true, memory_order_relaxed);
            /* The background thread sleeps until a flush is due: tell it
             * one will be (once per flush interval, not per record). */
            if (atomic_load_explicit(&part->interval_flush, memory_order_relaxed))
                evl__log_kick(part->log);
        }
        if (low && !atomic_load_explicit(&part->grow_wanted, memory_order_relaxed)) {
            atomic_store(&part->grow_wanted, true);
            evl__log_kick_prefault(part->log);
        }
    }
    return rc;
}

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
                 evl__log_reserve_try(part->log, target - cur + idx_add) == 0;
    grown = grown && evl__os_allocate(seg->fd, cur, target - cur) == 0 &&
            evl__seg_idx_extend(seg, idx_add) == 0;
    evl__log_reserve_done(part->log);
    if (grown && ctl_lock(part) == 0) {
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
        ctl_unlock(part);
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

/* ---- group commit ------------------------------------------------------- */

/*
 * After an fdatasync the written pages are clean and write-protected, so the
 * next store into one takes a write fault, and on ext4 that fault waits for
 * the journal commit a concurrent fdatasync started. Taken inside the append
 * lock, that wait serialises every writer behind every fsync and defeats
 * group commit. So a durable append takes the fault first, outside the lock;
 * MADV_POPULATE_WRITE fails cleanly (no SIGBUS) if the file moved on.
 */
void evl__part_pretouch(evl_part_t *part, uint64_t bytes)
{
    evl_seg_t *seg;
    uint64_t base = atomic_load(&part->ctl->active_base);
    if (evl__part_seg_at(part, base, &seg))
        return;
    uint64_t pos = atomic_load(&part->ctl->write_pos);
    uint64_t alloc = atomic_load(&part->ctl->alloc_end);
    if (seg->writable && pos < alloc)
        evl__os_prefault(seg->map + pos, (size_t)EVL_MIN(bytes, alloc - pos));
    evl__seg_unref(seg);
}

static bool covered(const evl_part_t *part, uint64_t seg_base, uint64_t end_pos)
{
    return part->synced_base > seg_base ||
           (part->synced_base == seg_base && part->synced_pos >= end_pos);
}

/*
 * Group commit, leader and followers: one thread at a time (the leader)
 * snapshots the tail and fsyncs; the others wait on a condition variable and,
 * when it finishes, return at once if its fsync covered them. A follower that
 * is not covered becomes the next leader, and its fsync covers everyone who
 * appended meanwhile.
 */
int evl__part_sync(evl_part_t *part, uint64_t seg_base, uint64_t end_pos)
{
    pthread_mutex_lock(&part->sync_mu);
    for (;;) {
        if (part->sync_failed) {
            pthread_mutex_unlock(&part->sync_mu);
            return EVL_EDURABILITY;
        }
        if (covered(part, seg_base, end_pos)) {
            pthread_mutex_unlock(&part->sync_mu);
            return 0;
        }
        if (!part->sync_leader)
            break;
        pthread_cond_wait(&part->sync_cv, &part->sync_mu);
    }
    part->sync_leader = true;
    pthread_mutex_unlock(&part->sync_mu);

    /* Commit delay: wait for as many records past the last fsync's
     * snapshot as there were durable senders at once since it began: the
     * ones it covered are about to send again. Without this the senders
     * split into two cohorts that take turns, each fsync covering half of
     * them. At most as long as the last fsync took (one later fsync for
     * all beats two); a single sender never waits. */
    int inflight = atomic_load(&part->durable_inflight);
    uint64_t want = (uint64_t)atomic_exchange(&part->durable_peak, inflight);
    if (inflight == 0)
        want = 0; /* a flush or evl_log_sync with no durable sender about */
    int64_t until = evl_mono_ns() + EVL_MIN(part->last_fsync_ns, COMMIT_DELAY_MAX_NS);
    while (atomic_load(&part->ctl->next_offset) - part->snap_next < want &&
           evl_mono_ns() < until)
        sched_yield();
    int rc = ctl_lock(part);
    evl_ctl_t *ctl = part->ctl;
    evl_ckpt_t ck = {0};
    uint64_t active = 0;
    bool idx_dirty = false;
    if (rc == 0) {
        ck.pos = atomic_load(&ctl->write_pos);
        ck.next_offset = atomic_load(&ctl->next_offset);
        part->snap_next = ck.next_offset;
        ck.max_ts = atomic_load(&ctl->max_ts);
        ck.idx_count = (uint32_t)atomic_load(&ctl->idx_count);
        active = atomic_load(&ctl->active_base);
        /* The index file costs a second fdatasync (and journal commit):
         * only once IDX_SYNC_ENTRIES entries are waiting. Until then the
         * checkpoint vouches for the synced entries only, and recovery
         * after a power loss rebuilds the rest from the frames (a scan of
         * at most IDX_SYNC_ENTRIES index intervals). */
        uint64_t synced = atomic_load(&ctl->idx_synced);
        idx_dirty = synced + IDX_SYNC_ENTRIES <= ck.idx_count;
        if (!idx_dirty && synced < ck.idx_count)
            ck.idx_count = (uint32_t)synced;
        ctl_unlock(part);
    }
    evl_seg_t *seg = NULL;
    bool failed = false;
    /* Data in a segment rolled before the snapshot is durable once its seal
     * is finished; only the last one's may still be pending. */
    if (rc == 0 && (rc = finish_seal(part, false)))
        failed = rc == EVL_EDURABILITY;
    if (rc == 0 && active != seg_base && seg_base < active) {
        /* Rolled since: its seal synced that segment. */
        ck.pos = EVL_SEG_HDR;
    } else if (rc == 0 && (rc = evl__part_seg_at(part, active, &seg)) == 0) {
        int64_t t0 = evl_mono_ns();
        rc = evl__os_fdatasync(seg->fd);
        if (rc == 0 && idx_dirty && seg->idx_fd >= 0)
            rc = evl__os_fdatasync(seg->idx_fd);
        int64_t dt = evl_mono_ns() - t0;
        part->last_fsync_ns = dt;
        evl__stat_add(part->log, EVL_STAT_FSYNCS, 1);
        evl__stat_add(part->log, EVL_STAT_FSYNC_NS, dt);
        evl__stat_max(part->log, EVL_STAT_FSYNC_MAX_NS, dt);
        if (rc) {
            /* After a failed fsync the kernel may have dropped the dirty
             * pages and a later fsync can succeed without writing them:
             * from now on nothing in this partition is reported durable. */
            failed = true;
            evl__logf(&part->log->lg, EVL_LOG_ERR, "%s/%d: fdatasync failed: %s",
                      part->topic->name, part->id, evl_strerror(rc));
            rc = EVL_EDURABILITY;
        } else if (ctl_lock(part) == 0) {
            /* Record the checkpoint, unless the segment was sealed
             * meanwhile (a sealed checkpoint must stay the newest); and
             * only every CKPT_EVERY_BYTES, or with the index: it dirties
             * the header page, which the next fdatasync then writes as a
             * second I/O (one fsync'd send per call: bench W4.1 9.1 -> 10.0 k/s).
             * Recovery scans the frames past it anyway. */
            evl_ckpt_t prev;
            if (atomic_load(&ctl->active_base) == active &&
                (idx_dirty || !evl__seg_ckpt_read(seg, &prev) ||
                 ck.pos >= prev.pos + CKPT_EVERY_BYTES)) {
                evl__seg_ckpt_write(seg, &ck);
                if (ck.idx_count > atomic_load(&ctl->idx_synced))
                    atomic_store(&ctl->idx_synced, ck.idx_count);
            }
            ctl_unlock(part);
        }
        evl__seg_unref(seg);
    }

    pthread_mutex_lock(&part->sync_mu);
    if (failed)
        part->sync_failed = true;
    if (rc == 0) {
        /* Durable now: everything before (active, ck.pos). When the segment
         * rolled, ck.pos is the start of the new one: sealing synced the
         * old. active >= seg_base always (segments only move forward). */
        if (!covered(part, active, ck.pos)) {
            part->synced_base = active;
            part->synced_pos = ck.pos;
        }
        atomic_store(&part->unsynced, false);
    }
    part->sync_leader = false;
    pthread_cond_broadcast(&part->sync_cv);
    pthread_mutex_unlock(&part->sync_mu);
    return rc;
}

int evl__part_sync_now(evl_part_t *part)
{
    uint64_t base = atomic_load(&part->ctl->active_base);
    uint64_t pos = atomic_load(&part->ctl->write_pos);
    return evl__part_sync(part, base, pos);
}

/* ---- retention ------------------------------------------------------------ */

static int64_t seg_data_bytes(evl_part_t *part, uint64_t base);

static int64_t seg_files_bytes(const char *dir, uint64_t base)
{
    char path[PATH_MAX];
    struct stat st;
    int64_t total = 0;
    evl__seg_path(path, sizeof path, dir, base, "log");
    if (stat(path, &st) == 0)
        total += (int64_t)st.st_blocks * 512;
    evl__seg_path(path, sizeof path, dir, base, "idx");
    if (stat(path, &st) == 0)
        total += (int64_t)st.st_blocks * 512;
    return total;
}

int64_t evl__part_disk_bytes(const char *dir)
{
    /* Every file of the folder: segments with their preallocated tails,
     * indexes, partition.ctl, files set aside (*.corrupt) and temp files. */
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int64_t total = 0;
    struct stat st;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode))
            total += (int64_t)st.st_blocks * 512;
    closedir(d);
    return total;
}

/* Remove segment `base` whose records end before `end_offset`: the log
 * start moves first, so no reader is sent to a file about to vanish;
 * mappings that readers hold stay valid after the unlink. */
static int64_t delete_segment(evl_part_t *part, uint64_t base, uint64_t end_offset)
{
    evl_ctl_t *ctl = part->ctl;
    uint64_t cur = atomic_load(&ctl->start_offset);
    while (cur < end_offset && !atomic_compare_exchange_weak(&ctl->start_offset, &cur, end_offset))
        ;
    int64_t bytes = seg_files_bytes(part->dir, base);
    char path[PATH_MAX];
    evl__seg_path(path, sizeof path, part->dir, base, "log");
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    evl__seg_path(path, sizeof path, part->dir, base, "idx");
    unlink(path);
    atomic_fetch_add(&ctl->seg_epoch, 1);
    pthread_mutex_lock(&part->seg_mu);
    cache_prune(part);
    pthread_mutex_unlock(&part->seg_mu);
    evl__stat_add(part->log, EVL_STAT_SEGMENTS_DELETED, 1);
    evl__logf(&part->log->lg, EVL_LOG_INFO, "%s/%d: deleted segment %llu (%lld bytes)",
              part->topic->name, part->id, (unsigned long long)base, (long long)bytes);
    return bytes;
}

/* Largest timestamp in segment base (-1 if unknown). */
static int64_t seg_max_ts(evl_part_t *part, uint64_t base)
{
    evl_seg_t *seg;
    if (evl__part_seg_at(part, base, &seg))
        return -1;
    int64_t ts = evl__part_seg_sealed(part, seg) ? seg->max_ts : -1;
    evl__seg_unref(seg);
    return ts;
}

int64_t evl__part_retention(evl_part_t *part, int64_t now_ms, int64_t keep_from)
{
    int64_t ret_ms = evl__cfg_int(&part->topic->cfg, EVL_CFG_RETENTION_MS);
    int64_t ret_bytes = evl__cfg_int(&part->topic->cfg, EVL_CFG_RETENTION_BYTES);
    if (ret_ms < 0 && ret_bytes < 0)
        return 0;
    uint64_t *bases;
    size_t n;
    /* One pass at a time in this process (the background thread after a
     * roll, a close, an explicit run): two interleaved passes each saw the
     * other's deletions as segments of unknown age and stopped early. */
    pthread_mutex_lock(&part->retention_mu);
    int rc = evl__part_list(part->dir, &bases, &n);
    if (rc) {
        pthread_mutex_unlock(&part->retention_mu);
        return rc;
    }
    uint64_t active = atomic_load(&part->ctl->active_base);
    /* retention.bytes caps what the partition keeps on disk besides its
     * active segment's space not yet written: segment and index files as
     * the file system charges them, and the control block. Retention runs
     * after each roll, when the active segment is nearly empty, so the
     * folder holds at most retention.bytes plus one segment (Kafka keeps
     * at least retention.bytes, which a device with a fixed card cannot
     * plan with). */
    int64_t total = 4096, freed = 0;
    for (size_t i = 0; i < n; i++)
        total += bases[i] == active
                     ? (int64_t)atomic_load(&part->ctl->write_pos) + EVL_IDX_STEP_MIN
                     : seg_files_bytes(part->dir, bases[i]);
    for (size_t i = 0; i + 1 < n && bases[i] < active; i++) {
        if (bases[i + 1] <= evl__part_start(part))
            continue; /* deleted meanwhile by another process's pass */
        int64_t size = seg_files_bytes(part->dir, bases[i]);
        int64_t ts = seg_max_ts(part, bases[i]);
        bool by_time = ret_ms >= 0 && ts >= 0 && ts < now_ms - ret_ms;
        bool by_size = ret_bytes >= 0 && total > ret_bytes;
        if (!by_time && !by_size)
            break;
        if (keep_from >= 0 && bases[i + 1] > (uint64_t)keep_from)
            break;
        int64_t r = delete_segment(part, bases[i], bases[i + 1]);
        if (r < 0) {
            freed = freed ? freed : r;
            break;
        }
        total -= size;
        freed += r;
    }
    free(bases);
    pthread_mutex_unlock(&part->retention_mu);
    return freed;
}

int64_t evl__part_drop_oldest(evl_part_t *part, int64_t *oldest_ts, bool dry_run,
                              int64_t consumed_to)
{
    uint64_t *bases;
    size_t n;
    if (evl__part_list(part->dir, &bases, &n))
        return 0;
    int64_t r = 0;
    uint64_t active = atomic_load(&part->ctl->active_base);
    if (n >= 2 && bases[0] < active && (consumed_to < 0 || bases[1] <= (uint64_t)consumed_to)) {
        if (oldest_ts)
            *oldest_ts = seg_max_ts(part, bases[0]);
        r = dry_run ? seg_files_bytes(part->dir, bases[0])
                    : delete_segment(part, bases[0], bases[1]);
    }
    free(bases);
    return r;
}

/* Bytes of record data in segment base: sealed files hold exactly theirs,
 * the active one up to the write position (its preallocated tail is not
 * data). */
static int64_t seg_data_bytes(evl_part_t *part, uint64_t base)
{
    if (base == atomic_load(&part->ctl->active_base))
        return (int64_t)(atomic_load(&part->ctl->write_pos) - EVL_SEG_HDR);
    char path[PATH_MAX];
    struct stat st;
    evl__seg_path(path, sizeof path, part->dir, base, "log");
    if (stat(path, &st) == 0 && st.st_size > (off_t)(EVL_SEG_HDR + EVL_FRAME_EOF_BYTES))
        return st.st_size - (off_t)(EVL_SEG_HDR + EVL_FRAME_EOF_BYTES);
    return 0;
}

int evl__part_info(evl_part_t *part, evl_partition_info_t *out)
{
    uint64_t *bases;
    size_t n;
    int rc = evl__part_list(part->dir, &bases, &n);
    if (rc)
        return rc;
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += seg_data_bytes(part, bases[i]);
    free(bases);
    out->start_offset = (int64_t)evl__part_start(part);
    out->end_offset = (int64_t)evl__part_end(part);
    out->bytes = bytes;
    out->segments = (int64_t)n;
    return 0;
}

/* ---- open / close ---------------------------------------------------------- */

#define CTL_DELETED 2u /* evl_ctl_t.valid of a deleted topic's partition */

void evl__part_mark_deleted(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/partition.ctl", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    evl_ctl_t *ctl;
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size >= 4096 && evl__os_mmap(fd, 4096, 1, (void **)&ctl) == 0) {
        if (memcmp(ctl->magic, EVL_CTL_MAGIC, 8) == 0 && ctl->version == EVL_CTL_VERSION &&
            atomic_load(&ctl->valid) == 1) {
            /* Under the append lock: a send either finished before (and its
             * record went with the topic) or sees the mark. */
            int lrc = pthread_mutex_lock(&ctl->lock);
            if (lrc == EOWNERDEAD)
                pthread_mutex_consistent(&ctl->lock);
            atomic_store(&ctl->valid, CTL_DELETED);
            if (lrc == 0 || lrc == EOWNERDEAD)
                pthread_mutex_unlock(&ctl->lock);
            atomic_fetch_add(&ctl->futex_seq, 1); /* sleeping readers look again */
            evl__futex_wake_all(&ctl->futex_seq);
        }
        evl__os_munmap(ctl, 4096);
    }
    close(fd);
}

static bool ctl_current(const evl_part_t *part)
{
    const evl_ctl_t *ctl = part->ctl;
    return memcmp(ctl->magic, EVL_CTL_MAGIC, 8) == 0 && ctl->version == EVL_CTL_VERSION &&
           ctl->size == sizeof *ctl && strcmp(ctl->boot_id, part->log->boot_id) == 0 &&
           atomic_load(&ctl->valid) == 1;
}

enum { CTL_OK = 0, CTL_MISMATCH, CTL_CORRUPT_LAST };

/* A cheap look at a state from this boot: the active file must exist and
 * cover the allocation, and the last frame must be where the ctl says and
 * check out. CTL_CORRUPT_LAST: it is there, whole (its length leads exactly
 * to write_pos), but fails its checksum or structure check. */
static int ctl_plausible(evl_part_t *part)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *seg;
    if (evl__part_seg_at(part, atomic_load(&ctl->active_base), &seg))
        return CTL_MISMATCH;
    int st = evl__seg_file_size(seg) >= (int64_t)atomic_load(&ctl->alloc_end) ? CTL_OK
                                                                             : CTL_MISMATCH;
    uint64_t lf = atomic_load(&ctl->last_frame_pos), wp = atomic_load(&ctl->write_pos);
    if (st == CTL_OK && wp > EVL_SEG_HDR) {
        st = lf >= EVL_SEG_HDR && lf < wp && wp <= atomic_load(&ctl->alloc_end) ? CTL_OK
                                                                             : CTL_MISMATCH;
        if (st == CTL_OK) {
            uint32_t fl = evl__frame_len_acquire(seg->map + lf);
            if (fl == 0 || fl == EVL_FRAME_EOF || lf + EVL_ALIGN8(fl) != wp)
                st = CTL_MISMATCH;
            else if (evl__frame_check(seg->map + lf, fl, wp - lf, -1, true) != 0)
                st = CTL_CORRUPT_LAST;
        }
    }
    evl__seg_unref(seg);
    return st;
}

static int init_mutex(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(mu, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

static int ctl_setup(evl_part_t *part)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/partition.ctl", part->dir);
    int fd = evl__os_open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return fd;
    /* flock serialises set-up between processes (and handles: it belongs to
     * the open file description). The fd is closed when set-up is done: the
     * mapping outlives it, and a partition should not cost an fd for it. */
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            int e = -errno;
            close(fd);
            return e;
        }
    /* Blocks first (not ftruncate): a store into a sparse page on a full
     * file system is SIGBUS; fallocate fails cleanly with ENOSPC. */
    int rc = evl__os_allocate(fd, 0, 4096), st;
    if (rc < 0)
        goto out;
    if ((rc = evl__os_mmap(fd, 4096, 1, (void **)&part->ctl)) < 0)
        goto out;
    evl_ctl_t *ctl = part->ctl;
    if (memcmp(ctl->magic, EVL_CTL_MAGIC, 8) == 0 && atomic_load(&ctl->valid) == CTL_DELETED) {
        rc = EVL_ENOTFOUND; /* its topic is being deleted */
        goto out;
    }
    int mode = (int)evl__cfg_int(&part->log->cfg, EVL_CFG_RECOVERY_MODE);
    bool rebuild = mode == EVL_RECOVERY_REBUILD, repair = mode == EVL_RECOVERY_REPAIR;
    if (rebuild || !ctl_current(part)) {
        memset(ctl, 0, sizeof *ctl);
        if ((rc = init_mutex(&ctl->lock)))
            goto out;
        if ((rc = evl__part_recover(part)))
            goto out;
        memcpy(ctl->magic, EVL_CTL_MAGIC, 8);
        ctl->version = EVL_CTL_VERSION;
        ctl->size = sizeof *ctl;
        memcpy(ctl->boot_id, part->log->boot_id, sizeof ctl->boot_id);
        atomic_store(&ctl->valid, 1);
    } else if ((st = ctl_plausible(part)) == CTL_CORRUPT_LAST && !repair) {
        /* Published in this boot, so written whole before its length was
         * stored: damage that came later (a scribble, bad memory or media),
         * not a torn write. Truncating it would drop acknowledged records;
         * it stays, readers stop there with EVL_ECORRUPT, and only an
         * explicit repair (recovery.mode=rebuild, evl verify --repair) cuts
         * it. */
        uint64_t lf = atomic_load(&ctl->last_frame_pos), next = atomic_load(&ctl->next_offset);
        evl__logf(&part->log->lg, EVL_LOG_ERR,
                  "%s/%d: the last frame (records before offset %llu; segment %llu, position "
                  "%llu) fails its checksum: corrupt data, kept; readers stop there "
                  "(EVL_ECORRUPT), `evl verify --repair` cuts it",
                  part->topic->name, part->id, (unsigned long long)next,
                  (unsigned long long)atomic_load(&ctl->active_base), (unsigned long long)lf);
    } else if (st == CTL_MISMATCH) {
        evl__logf(&part->log->lg, EVL_LOG_WARNING,
                  "%s/%d: shared state does not match the files; recovering",
                  part->topic->name, part->id);
        if ((rc = ctl_lock(part)) == 0) {
            rc = evl__part_recover(part);
            ctl_unlock(part);
        }
    }
    if (rc == 0 && repair && (rc = ctl_lock(part)) == 0) {
        rc = evl__part_cut_damaged_tail(part);
        ctl_unlock(part);
    }
out:
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

int evl__part_open(evl_topic_t *topic, int id, evl_part_t **out)
{
    *out = NULL;
    evl_part_t *part = evl__calloc(1, sizeof *part);
    if (!part)
        return EVL_ENOMEM;
    part->log = topic->log;
    part->topic = topic;
    part->id = id;
    pthread_mutex_init(&part->seg_mu, NULL);
    pthread_mutex_init(&part->retention_mu, NULL);
    pthread_mutex_init(&part->sync_mu, NULL);
    pthread_cond_init(&part->sync_cv, NULL);
    const evl_config_t *cfg = &topic->cfg;
    part->seg_bytes = (uint64_t)evl__cfg_int(cfg, EVL_CFG_SEGMENT_BYTES);
    part->seg_ms = evl__cfg_int(cfg, EVL_CFG_SEGMENT_MS);
    part->index_interval = (uint64_t)evl__cfg_int(cfg, EVL_CFG_INDEX_INTERVAL_BYTES);
    part->max_msg = (uint64_t)evl__cfg_int(cfg, EVL_CFG_MAX_MESSAGE_BYTES);
    part->idx_cap = part->seg_bytes / EVL_MIN(part->index_interval, 1024) + 2;
    /* Under a disk budget, segments roll at an eighth of it (at least 1
     * MiB): retention and drop-oldest work in whole segments, so a budget
     * must hold several. */
    part->roll_bytes = EVL_MIN(part->seg_bytes, (uint64_t)evl__log_budget_share(part->log, 8));
    atomic_init(&part->ahead, AHEAD_SLOW);
    atomic_init(&part->retention_due, true); /* retention on open */
    size_t len = strlen(topic->dir) + 16;
    int rc = EVL_ENOMEM;
    if (!(part->dir = evl__malloc(len)))
        goto fail;
    snprintf(part->dir, len, "%s/%d", topic->dir, id);
    /* Never mkdir -p: a topic folder renamed away by a delete must not come
     * back empty under its name. */
    if ((mkdir(topic->dir, 0755) < 0 && errno != EEXIST) ||
        (mkdir(part->dir, 0755) < 0 && errno != EEXIST)) {
        rc = -errno;
        goto fail;
    }
    if ((rc = ctl_setup(part)))
        goto fail;
    *out = part;
    return 0;
fail:
    evl__part_close(part);
    return rc;
}

void evl__part_close(evl_part_t *part)
{
    if (!part)
        return;
    if (part->ctl)
        finish_seal(part, false); /* leave the files sealed */
    evl__seg_unref(part->wseg);
    while (part->segs) {
        evl_seg_t *s = part->segs;
        part->segs = s->next;
        evl__seg_unref(s);
    }
    evl__os_munmap(part->ctl, 4096);
    pthread_mutex_destroy(&part->seg_mu);
    pthread_mutex_destroy(&part->retention_mu);
    pthread_mutex_destroy(&part->sync_mu);
    pthread_cond_destroy(&part->sync_cv);
    free(part->dir);
    free(part);
}

#ifdef EVL_TESTING
/* Test hook: take a partition's append lock and scribble a half-written
 * frame past the tail, as a writer killed mid-append would leave it. The
 * caller then dies without unlocking. */
__attribute__((visibility("default"))) void evl_test_hold_append_lock(struct evl_log *log,
                                                                      const char *topic, int p)
{
    evl_topic_t *t;
    evl_part_t *part;
    if (evl__topic_get(log, topic, &t) || evl__topic_part(t, p, &part) || ctl_lock(part))
        return;
    if (ensure_wseg(part))
        return;
    uint64_t pos = atomic_load(&part->ctl->write_pos);
    atomic_store(&part->ctl->dirty_end, pos + 64);
    memset(part->wseg->map + pos + 8, 0x5A, 56);
}
#endif
