/*
 * partition_int.h - what the files of the partition module share (as
 * SQLite's btreeInt.h is to btree.c): partition.c, segcache.c, append.c,
 * prefault.c, commit.c, retention.c. Other modules use partition.h.
 */
#ifndef EVL_PARTITION_INT_H
#define EVL_PARTITION_INT_H

#include "partition.h"

/* Space is allocated as the data grows: a new partition's segment starts
 * with ALLOC_MIN bytes (its 4 KiB header and 12 KiB of records), and each
 * growth doubles the allocation, by GROW_CHUNK at most. An idle partition
 * then costs ~24 KiB on disk (ctl, a small segment, a page of index), so a
 * small device holds hundreds; a writer that fills a segment pays about
 * log2(GROW_CHUNK / ALLOC_MIN) + size / GROW_CHUNK fallocates. */
#define ALLOC_MIN EVL_ALLOC_MIN
#define GROW_CHUNK (4u << 20)
/* A slow writer asks for space when it comes this close to the end of its
 * allocation (prefault.c). */
#define AHEAD_SLOW (8u << 10)
/* A writer faults in the window after the one it writes (append.c); the
 * prefault thread keeps out of the two windows ahead of it. */
#define WRITER_WINDOW (64u << 10)

/* The next allocation step after cur bytes: double, up to GROW_CHUNK. */
static inline uint64_t grow_step(uint64_t cur)
{
    return EVL_MIN(EVL_MAX(cur, (uint64_t)ALLOC_MIN), (uint64_t)GROW_CHUNK);
}

/* Is the seal of the segment at base the one pending (evl_ctl_t.seal)? Without
 * the lock: seal_pending holds that segment's base + 1. */
static inline bool seal_pending_for(const evl_part_t *part, uint64_t base)
{
    return atomic_load(&part->ctl->seal_pending) == base + 1;
}

/* The append lock (partition.c): robust, repaired when a holder died.
 * 0, or -errno. */
int evl__part_lock(evl_part_t *part);
void evl__part_unlock(evl_part_t *part);

/* The segment cache (segcache.c), with seg_mu where it says so. */
void evl__part_cache_prune(evl_part_t *part);           /* seg_mu held */
void evl__part_cache_insert(evl_part_t *part, evl_seg_t *seg);
void evl__part_seg_set_end(evl_seg_t *seg, uint64_t pos, uint64_t next, int64_t max_ts,
                           uint32_t idx_count, uint64_t file_bytes); /* seg_mu held */

/* The writer's mapping of the active segment (append lock held). */
int evl__part_ensure_wseg(evl_part_t *part);

#endif
