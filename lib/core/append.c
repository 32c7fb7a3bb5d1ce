/*
 * append.c - the append path, segment rolls and the seal a roll leaves to
 * finish (see partition.h for the shared control block and why it exists).
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
 * leaves its fdatasync, trim and sealed checkpoint to evl__part_finish_seal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partition_int.h"
#include "notify.h"

#include "clock.h"
#include "os.h"
#include "pidtab.h"
#include "record.h"

/* drop-oldest rolls a full partition's own segment (see evl__part_append)
 * only when it holds at least this much data. */
#define SELF_ROLL_MIN (64u << 10)


/* ---- writer ----------------------------------------------------------- */

int evl__part_ensure_wseg(evl_part_t *part)
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
    int rc = evl__part_reserve(part, want - cur + idx_add);
    if (rc)
        return rc;
    rc = evl__os_allocate(part->wseg->fd, cur, want - cur);
    if (rc == 0)
        rc = evl__seg_idx_extend(part->wseg, idx_add);
    evl__part_reserve_done(part);
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
    evl__logf(part->env.lg, EVL_LOG_ERR, "%s/%d: sealing segment %llu failed: %s",
              part->env.name, part->id, (unsigned long long)base, evl_strerror(rc));
    pthread_mutex_lock(&part->sync_mu);
    part->sync_failed = true;
    pthread_mutex_unlock(&part->sync_mu);
}

/* Does seg end at pos with a marker pointing at next, as a roll left it? */
static bool end_marker_at(evl_part_t *part, const evl_seg_t *seg, uint64_t pos, uint64_t next)
{
    int64_t size = evl__seg_file_size(seg);
    return seg->base < atomic_load(&part->ctl->active_base) && pos >= EVL_SEG_HDR &&
           pos % EVL_FRAME_ALIGN == 0 && size >= 0 && pos + EVL_FRAME_EOF_BYTES <= (uint64_t)size &&
           pos + EVL_FRAME_EOF_BYTES <= seg->max_bytes &&
           evl__frame_len_acquire(seg->map + pos) == EVL_FRAME_EOF &&
           evl__frame_eof_next(seg->map + pos) == next && next > seg->base;
}

/* The roll's note, read under the append lock (`locked`: the caller holds
 * it): 1 if a seal is pending, 0 if none, or the lock's error. */
static int pending_note(evl_part_t *part, bool locked, evl_seal_note_t *n)
{
    int rc;
    if (!atomic_load(&part->ctl->seal_pending))
        return 0;
    if (!locked && (rc = evl__part_lock(part)))
        return rc;
    rc = atomic_load(&part->ctl->seal_pending) ? 1 : 0;
    *n = part->ctl->seal;
    if (!locked)
        evl__part_unlock(part);
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
int evl__part_finish_seal(evl_part_t *part, bool locked)
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
        evl__logf(part->env.lg, EVL_LOG_WARNING,
                  "%s/%d: segment %llu: ignoring a pending seal that does not match the file",
                  part->env.name, part->id, (unsigned long long)n.base);
        evl__seg_unref(seg);
        seg = NULL;
    } else {
        rc = evl__seg_sync_end(seg, n.pos, (uint32_t)n.idx_count);
    }
    if (rc)
        seal_failed(part, n.base, rc);
    struct evl_pidtab *snap = NULL;
    if (locked || evl__part_lock(part) == 0) {
        if (seal_pending_for(part, n.base)) {
            /* After a failure, no sealed checkpoint: recovery after a reboot
             * checks that segment's frames instead of trusting it. */
            if (rc == 0 && seg) {
                evl__seg_ckpt_sealed(seg, n.pos, n.next, n.max_ts, (uint32_t)n.idx_count);
                /* The data before n.next is on disk: the producer table as
                 * of there may become the snapshot (producers.c). */
                snap = evl__part_pids_take(part, n.next);
            }
            atomic_store(&ctl->seal_pending, 0);
        }
        if (!locked)
            evl__part_unlock(part);
    }
    int src = rc == 0 && seg ? evl__os_fdatasync(seg->fd) : 0;
    if (src)
        seal_failed(part, n.base, src);
    if (src == 0)
        evl__part_pids_save(part, snap);
    else
        free(snap);
    evl__seg_unref(seg);
    return rc || src ? EVL_EDURABILITY : 0;
}


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
    evl__part_finish_seal(part, true);
    uint64_t next = atomic_load(&ctl->next_offset);
    uint64_t alloc = roll_alloc(part, atomic_load(&ctl->write_pos));
    /* The producer table as of the new segment's base, kept until the seal
     * has the old segment's data on disk (producers.c). */
    evl__part_pids_roll(part, next);
    /* Under drop-oldest the roll goes ahead even with the budget reached:
     * the segment it seals is what can be dropped next. */
    int rc = evl__part_reserve(part, alloc + EVL_IDX_STEP_MIN);
    bool over = rc == EVL_EFULL && part->env.drops_oldest;
    if (rc && !over)
        return rc;
    rc = evl__seg_create(part->dir, next, part->seg_bytes, part->idx_cap, alloc, now, &seg);
    evl__part_reserve_done(part);
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
    evl__part_seg_set_end(old, n.pos, next, n.max_ts, (uint32_t)n.idx_count, n.pos + EVL_FRAME_EOF_BYTES);
    pthread_mutex_unlock(&part->seg_mu);
    evl__part_cache_insert(part, seg);
    evl__seg_ref(seg); /* cache's reference + the one activate() takes */
    evl__part_activate(part, seg, alloc, now);
    evl__seg_unref(seg);
    evl__part_stat_add(part, EVL_STAT_SEGMENTS_ROLLED, 1);
    if (over) {
        /* Made over the budget (drop-oldest): back within it, dropping the
         * oldest sealed segments, the one just sealed among them. */
        evl__part_reserve(part, 0);
        evl__part_reserve_done(part);
    }
    /* Retention runs after a roll (off the append path: the background
     * thread, or the close of a short-lived process). */
    atomic_store(&part->retention_due, true);
    evl__part_kick(part);
    return 0;
}

int evl__part_append(evl_part_t *part, const evl_msg_t *msgs, size_t n,
                     uint64_t frame_bytes, uint64_t *base, uint64_t *seg_base,
                     uint64_t *end_pos)
{
    evl_append_res_t res;
    int rc = evl__part_append_ex(part, msgs, n, frame_bytes, NULL, NULL, &res);
    if (rc == 0) {
        *base = res.base;
        *seg_base = res.seg_base;
        *end_pos = res.end_pos;
    }
    return rc;
}

/* An idempotent producer's records, under the append lock: the table's
 * verdict (pidtab.h). 1 when all n are duplicates (nothing to append),
 * 0 with *skip leading ones to leave out and fo set for the frame, or a
 * code. */
static int idempotence(evl_part_t *part, const evl_append_opts_t *o, size_t n,
                       int64_t *dup_off, evl_append_res_t *res, evl_pid_ent_t **ent,
                       evl_frame_opts_t *fo)
{
    int rc;
    if (!part->pids && (rc = evl__part_pids_attach(part, true)) != 0)
        return rc < 0 ? rc : EVL_EIO;
    uint64_t skip;
    int64_t first_new;
    if ((rc = evl__pidtab_check(part->pids, o->producer_id, o->epoch, o->seq, n, ent, &skip,
                                &first_new)))
        return rc;
    res->first_seq = o->seq < 0 ? first_new : o->seq;
    res->skipped = skip;
    for (uint64_t i = 0; i < skip; i++)
        dup_off[i] = evl__pidtab_dup_offset(*ent, res->first_seq + (int64_t)i);
    if (skip)
        evl__part_stat_add(part, EVL_STAT_DUPLICATES, (int64_t)skip);
    *fo = (evl_frame_opts_t){o->producer_id, o->epoch, first_new, o->attrs};
    return skip == n ? 1 : 0;
}

int evl__part_append_ex(evl_part_t *part, const evl_msg_t *msgs, size_t n,
                        uint64_t frame_bytes, const evl_append_opts_t *opts, int64_t *dup_off,
                        evl_append_res_t *res)
{
    *res = (evl_append_res_t){0, 0, 0, 0, -1};
    if (frame_bytes + EVL_SEG_HDR + EVL_FRAME_EOF_BYTES > part->seg_bytes)
        return EVL_ETOOBIG;
    /* The clock is read before locking (it is a fifth of an append's time):
     * as with a producer's own timestamps, two threads' records may then
     * carry times out of offset order; a segment's max_ts and the time index
     * allow for that. */
    int64_t now = evl__append_ms();
    int rc = evl__part_lock(part);
    if (rc)
        return rc;
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *pf_seg = NULL;  /* the window to fault in after unlocking */
    uint64_t pf_from = 0, pf_to = 0;
    bool low = false, wrote = false;
    /* valid shares its line with fields no append writes: a load that hits. */
    if (EVL_UNLIKELY(atomic_load_explicit(&ctl->valid, memory_order_relaxed) != 1)) {
        rc = EVL_ENOTFOUND; /* the topic was deleted (evl__part_mark_deleted) */
        goto out;
    }
    if ((rc = evl__part_ensure_wseg(part)))
        goto out;
    if (opts && opts->hook &&
        (rc = opts->hook(opts->hook_arg, part,
                         atomic_load_explicit(&ctl->next_offset, memory_order_relaxed))))
        goto out;
    evl_frame_opts_t fo, *fop = NULL;
    evl_pid_ent_t *ent = NULL;
    if (opts && opts->producer_id > 0) {
        rc = idempotence(part, opts, n, dup_off, res, &ent, &fo);
        if (rc == 1) { /* all duplicates: the tail is what a sync waits for */
            res->seg_base = atomic_load_explicit(&ctl->active_base, memory_order_relaxed);
            res->end_pos = atomic_load_explicit(&ctl->write_pos, memory_order_relaxed);
            rc = 0;
            goto out;
        }
        if (rc)
            goto out;
        msgs += res->skipped;
        n -= res->skipped;
        fop = &fo;
    } else if (opts && opts->attrs) {
        fo = (evl_frame_opts_t){0, 0, 0, opts->attrs};
        fop = &fo;
    }
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
        if (rc != EVL_EFULL || !part->env.drops_oldest ||
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
    /* end is a bound until the frame is encoded (record.h: varints). */
    atomic_store_explicit(&ctl->dirty_end, end, memory_order_relaxed);
    uint8_t *dst = seg->map + pos;
    uint64_t off = atomic_load_explicit(&ctl->next_offset, memory_order_relaxed);
    int64_t max_ts;
    uint32_t flen = evl__frame_encode(dst, seg->base, off, msgs, n, now, fop, &max_ts);
    end = pos + evl__frame_span(flen);
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
    if (fop && fop->producer_id > 0)
        evl__pidtab_note(part->pids, ent, fop->producer_id, fop->epoch, fop->base_seq, off, n,
                         opts->named);
    atomic_store_explicit(&part->n_appends,
                          atomic_load_explicit(&part->n_appends, memory_order_relaxed) + (int64_t)n,
                          memory_order_relaxed);
    atomic_store_explicit(&part->n_append_bytes,
                          atomic_load_explicit(&part->n_append_bytes, memory_order_relaxed) +
                              (int64_t)flen,
                          memory_order_relaxed);
    res->base = off;
    res->seg_base = seg->base;
    res->end_pos = end;
    uint64_t alloc = atomic_load_explicit(&ctl->alloc_end, memory_order_relaxed);
    low = alloc < EVL_MIN(end + atomic_load_explicit(&part->ahead, memory_order_relaxed),
                          part->seg_bytes);
    wrote = true;
    /* Crossing a window boundary: fault in the next window after unlocking
     * (see below). The reference keeps the mapping alive past a roll. */
    pf_from = ((end / WRITER_WINDOW) + 1) * WRITER_WINDOW;
    pf_to = EVL_MIN(pf_from + WRITER_WINDOW, alloc);
    if (pos / WRITER_WINDOW != end / WRITER_WINDOW && pf_to > pf_from) {
        pf_seg = seg;
        evl__seg_ref(seg);
    }
out:
    evl__part_unlock(part);
    if (wrote) {
        /* The writer faults in the window after the one it writes, outside
         * the lock: a few microseconds per 64 KiB, so no page fault happens
         * under the lock even when the prefault thread gets no CPU (every
         * core busy). Where it did run, the pages are there and this is
         * cheap. */
        if (pf_seg) {
            evl__os_prefault(pf_seg->map + pf_from, (size_t)(pf_to - pf_from));
            evl__seg_unref(pf_seg);
        }
        evl__notify_append(part->ctl);
        if (!atomic_load_explicit(&part->unsynced, memory_order_relaxed)) {
            atomic_store_explicit(&part->unsynced, true, memory_order_relaxed);
            /* The background thread sleeps until a flush is due: tell it
             * one will be (once per flush interval, not per record). */
            if (atomic_load_explicit(&part->interval_flush, memory_order_relaxed))
                evl__part_kick(part);
        }
        if (low && !atomic_load_explicit(&part->grow_wanted, memory_order_relaxed)) {
            atomic_store(&part->grow_wanted, true);
            evl__part_kick_prefault(part);
        }
    }
    return rc;
}

