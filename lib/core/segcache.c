/*
 * segcache.c - the segments a partition handle has open (a reference each,
 * at most SEG_CACHE_MAX beyond those in use), finding the segment that
 * holds an offset, and knowing where a sealed segment ends.
 */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <limits.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partition_int.h"
#include "os.h"
#include "record.h"

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
void evl__part_cache_prune(evl_part_t *part)
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

/* Segments came or went (ctl->seg_epoch moved): drop cached mappings of
 * sealed segments whose file is gone or was replaced (a compaction's swap
 * puts a new file under the old name). Readers holding one keep reading it
 * (the mapping outlives the file); new lookups open the current file. A
 * stat per cached segment, once per roll, deletion or swap. */
static void cache_check(evl_part_t *part)
{
    uint64_t ep = atomic_load(&part->ctl->seg_epoch);
    if (ep == part->cache_epoch)
        return;
    part->cache_epoch = ep;
    uint64_t active = atomic_load(&part->ctl->active_base);
    evl_seg_t **pp = &part->segs;
    while (*pp) {
        evl_seg_t *s = *pp;
        char path[PATH_MAX];
        struct stat st;
        evl__seg_path(path, sizeof path, part->dir, s->base, "log");
        /* Not the active segment (never replaced); the writer's own
         * mapping (wseg, read only under the append lock) holds its own
         * reference, so leaving the list never unmaps it. */
        bool stale = s->base != active &&
                     (stat(path, &st) < 0 || (uint64_t)st.st_ino != s->ino);
        if (stale) {
            *pp = s->next;
            evl__seg_unref(s);
        } else {
            pp = &s->next;
        }
    }
}

int evl__part_seg_at(evl_part_t *part, uint64_t base, evl_seg_t **out)
{
    pthread_mutex_lock(&part->seg_mu);
    cache_check(part);
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
        evl__part_cache_prune(part);
        cache_trim(part, seg);
    } else {
        *out = NULL;
        if (rc == EVL_EVERSION)
            evl__logf(part->env.lg, EVL_LOG_ERR,
                      "%s/%d: segment %llu is of another record format (a log written before "
                      "libeventlog 0.2 is format 1): convert the log with `evl migrate` "
                      "(evl_log_migrate)", part->env.name, part->id, (unsigned long long)base);
    }
    pthread_mutex_unlock(&part->seg_mu);
    return rc;
}

/* Insert a segment this handle just created (the cache takes one ref). */
void evl__part_cache_insert(evl_part_t *part, evl_seg_t *seg)
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
void evl__part_seg_set_end(evl_seg_t *seg, uint64_t pos, uint64_t next, int64_t max_ts,
                        uint32_t idx_count, uint64_t file_bytes)
{
    seg->end_pos = pos;
    seg->end_offset = next;
    seg->max_ts = max_ts;
    seg->idx_count = idx_count;
    seg->file_bytes = file_bytes;
    seg->sealed = true;
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
            evl__part_seg_set_end(seg, ck.pos, ck.next_offset, ck.max_ts, ck.idx_count, (uint64_t)size);
    }
    pthread_mutex_unlock(&part->seg_mu);
    return seg->sealed;
}

