/*
 * commit.c - durable appends: group commit (one fdatasync shared by the
 * threads that need one at once), checkpoints, and taking the write fault
 * of a durable append outside the append lock.
 */
#include <sched.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partition_int.h"
#include "record.h"

#include "os.h"

/* A durable sync also syncs the index file once this many index entries
 * wait (evl__part_sync). */
#define IDX_SYNC_ENTRIES 64
/* A durable sync records a checkpoint (segment header) only once this many
 * bytes lie past the last one, or with the index file (evl__part_sync). */
#define CKPT_EVERY_BYTES (1u << 20)
/* The longest a group commit's leader waits for senders on their way. */
#define COMMIT_DELAY_MAX_NS 1000000

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
    int rc = evl__part_lock(part);
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
        evl__part_unlock(part);
    }
    evl_seg_t *seg = NULL;
    bool failed = false;
    /* Data in a segment rolled before the snapshot is durable once its seal
     * is finished; only the last one's may still be pending. */
    if (rc == 0 && (rc = evl__part_finish_seal(part, false)))
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
        evl__part_stat_add(part, EVL_STAT_FSYNCS, 1);
        evl__part_stat_add(part, EVL_STAT_FSYNC_NS, dt);
        evl__part_stat_max(part, EVL_STAT_FSYNC_MAX_NS, dt);
        if (rc) {
            /* After a failed fsync the kernel may have dropped the dirty
             * pages and a later fsync can succeed without writing them:
             * from now on nothing in this partition is reported durable. */
            failed = true;
            evl__logf(part->env.lg, EVL_LOG_ERR, "%s/%d: fdatasync failed: %s",
                      part->env.name, part->id, evl_strerror(rc));
            rc = EVL_EDURABILITY;
        } else if (evl__part_lock(part) == 0) {
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
            evl__part_unlock(part);
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

