/*
 * retention.c - deleting whole old segments (retention.ms, retention.bytes,
 * the disk budget's drop-oldest) and what a partition holds on disk.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compact.h"
#include "partition_int.h"
#include "os.h"
#include "record.h"


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
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            total += (int64_t)st.st_blocks * 512;
        } else if (S_ISDIR(st.st_mode) && (!strcmp(e->d_name, "compact.tmp") ||
                                           !strcmp(e->d_name, "compact.swap"))) {
            /* A compaction's output before its swap (compact.c). */
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            total += evl__part_disk_bytes(sub);
        }
    }
    closedir(d);
    return total;
}

/* Remove segment `base` whose records end before `end_offset`: the log
 * start moves first, so no reader is sent to a file about to vanish;
 * mappings that readers hold stay valid after the unlink. */
static int64_t delete_segment(evl_part_t *part, uint64_t base, uint64_t end_offset)
{
    evl_ctl_t *ctl = part->ctl;
    /* Under segments.lock, which a compaction's swap holds (compact.c):
     * the file at `base` may have been replaced by a compacted one that
     * covers more (its own end marker says how far), or be gone. */
    int lk = evl__part_flock(part, "segments.lock", true);
    if (lk < 0)
        return lk;
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, base, &seg);
    if (rc) {
        evl__part_funlock(lk);
        return rc == -ENOENT ? 0 : rc; /* gone meanwhile */
    }
    if (evl__part_seg_sealed(part, seg) && seg->end_offset > end_offset)
        end_offset = seg->end_offset;
    evl__seg_unref(seg);
    uint64_t cur = atomic_load(&ctl->start_offset);
    while (cur < end_offset && !atomic_compare_exchange_weak(&ctl->start_offset, &cur, end_offset))
        ;
    int64_t bytes = seg_files_bytes(part->dir, base);
    char path[PATH_MAX];
    evl__seg_path(path, sizeof path, part->dir, base, "log");
    if (unlink(path) < 0 && errno != ENOENT) {
        int e = -errno;
        evl__part_funlock(lk);
        return e;
    }
    evl__seg_path(path, sizeof path, part->dir, base, "idx");
    unlink(path);
    evl__part_funlock(lk);
    atomic_fetch_add(&ctl->seg_epoch, 1);
    pthread_mutex_lock(&part->seg_mu);
    evl__part_cache_prune(part);
    pthread_mutex_unlock(&part->seg_mu);
    evl__part_stat_add(part, EVL_STAT_SEGMENTS_DELETED, 1);
    evl__logf(part->env.lg, EVL_LOG_INFO, "%s/%d: deleted segment %llu (%lld bytes)",
              part->env.name, part->id, (unsigned long long)base, (long long)bytes);
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
    int64_t ret_ms = part->env.retention_ms;
    int64_t ret_bytes = part->env.retention_bytes;
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
        if (bases[i + 1] <= evl__part_start(part)) {
            /* Below the start: deleted meanwhile by another pass (then it
             * is gone), or a file a compaction's swap left (compact.c):
             * either way no record of it is in the log. */
            delete_segment(part, bases[i], bases[i + 1]);
            continue;
        }
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

