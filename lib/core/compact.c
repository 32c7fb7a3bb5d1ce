/*
 * compact.c - log compaction (cleanup.policy=compact): in the sealed
 * segments, keep the newest record of each key, as Kafka's log cleaner does.
 *
 * One pass over a partition:
 *   1. Only one cleaner per partition (flock on compact.lock, not waited
 *      for: a busy partition is someone else's this round).
 *   2. The cleanable segments are the sealed ones, oldest first, up to the
 *      first whose newest record is younger than min.compaction.lag.ms. The
 *      dirty ones are those past cleaner.ckpt (where the last pass ended).
 *      A pass runs when dirty bytes / cleanable bytes reach
 *      min.cleanable.dirty.ratio, when a dirty segment is older than
 *      max.compaction.lag.ms, or when asked (evl_topic_compact).
 *   3. A map from each key (its 128-bit XXH3) to its newest offset in the
 *      dirty segments.
 *   4. The cleanable segments are rewritten in groups (consecutive segments
 *      whose output fits one segment) into compact.tmp/: a record stays if
 *      its key is not in the map or it is the newest, a tombstone only until
 *      its timestamp is delete.retention.ms old, a record without a key
 *      always. Frames keep their base offsets, offset gaps and producer
 *      fields (evl__frame_repack), so offsets never change. Each new
 *      segment takes its group's first base and ends with a marker pointing
 *      at the segment after the group; it is sealed (fdatasync) there.
 *   5. The plan (groups and their source segments) is written and synced,
 *      then compact.tmp is renamed compact.swap: the commit point.
 *   6. The swap, under segments.lock (which retention takes to delete): for
 *      each group, the new .log replaces the first source's (rename), then
 *      its .idx, then the group's other sources are unlinked; the folder is
 *      synced, seg_epoch bumped, cleaner.ckpt moved, compact.swap removed.
 *
 * A kill -9 or a power cut before step 5 leaves compact.tmp, which is
 * removed; after it, compact.swap, which is finished from its plan by the
 * next open of the partition (evl__part_compact_recover) or the next pass.
 * Either way the log holds the old segments or the new ones for each group,
 * never neither. Readers are never shown a half-swapped state: a reader in
 * an old segment keeps its mapping (unlinked files stay readable) and finds
 * the old next segment until it is unlinked, after which the reader's seek
 * finds the new segment that covers its offsets (reader.c); segment caches
 * notice replaced files by their inode when seg_epoch moves (segcache.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "compact.h"
#include "crc32c.h"
#include "os.h"
#include "partition_int.h"
#include "record.h"

#define PLAN_MAGIC "EVLCPLN1"

/* ---- locks, checkpoint, plan ------------------------------------------ */

int evl__part_flock(const evl_part_t *part, const char *name, bool wait)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", part->dir, name);
    int fd = evl__os_open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return fd;
    while (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        close(fd);
        return e;
    }
    return fd;
}

void evl__part_funlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

static uint64_t ckpt_read(const evl_part_t *part)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cleaner.ckpt", part->dir);
    uint8_t b[12];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, b, sizeof b, 0);
    close(fd);
    if (n != (ssize_t)sizeof b || evl_ld32(b + 8) != evl__crc32c(0, b, 8))
        return 0; /* all dirty: a pass does more work, never less */
    return evl_ld64(b);
}

static int ckpt_write(const evl_part_t *part, uint64_t first_dirty)
{
    uint8_t b[12];
    evl_st64(b, first_dirty);
    evl_st32(b + 8, evl__crc32c(0, b, 8));
    return evl__os_write_file(part->dir, "cleaner.ckpt", b, sizeof b);
}

/* A group: sources[0..n) (consecutive segment bases) become one segment
 * of base sources[0]; `end` is the base of the segment after them. */
typedef struct group {
    uint64_t *src;
    size_t n;
    uint64_t end;
} group_t;

/* plan: magic, u32 groups, then per group u64 end, u32 n, u64 src[n];
 * u32 crc of everything before. */
static int plan_write(const char *dir, const group_t *g, size_t ng)
{
    size_t len = 12;
    for (size_t i = 0; i < ng; i++)
        len += 12 + 8 * g[i].n;
    uint8_t *b = evl__malloc(len + 4), *p = b;
    if (!b)
        return EVL_ENOMEM;
    memcpy(p, PLAN_MAGIC, 8);
    evl_st32(p + 8, (uint32_t)ng);
    p += 12;
    for (size_t i = 0; i < ng; i++) {
        evl_st64(p, g[i].end);
        evl_st32(p + 8, (uint32_t)g[i].n);
        p += 12;
        for (size_t k = 0; k < g[i].n; k++, p += 8)
            evl_st64(p, g[i].src[k]);
    }
    evl_st32(p, evl__crc32c(0, b, len));
    int rc = evl__os_write_file(dir, "plan", b, len + 4);
    free(b);
    return rc;
}

static void groups_free(group_t *g, size_t ng)
{
    for (size_t i = 0; i < ng; i++)
        free(g[i].src);
    free(g);
}

static int plan_read(const char *dir, group_t **out, size_t *nout)
{
    char path[PATH_MAX + 8];
    group_t *g = NULL;
    size_t ng = 0;
    snprintf(path, sizeof path, "%s/plan", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    uint8_t *b = NULL;
    int rc = EVL_ECORRUPT;
    if (fstat(fd, &st) < 0 || st.st_size < 16 || st.st_size > (64 << 20))
        goto out;
    size_t len = (size_t)st.st_size;
    if (!(b = evl__malloc(len)) || pread(fd, b, len, 0) != (ssize_t)len)
        goto out;
    if (memcmp(b, PLAN_MAGIC, 8) != 0 || evl_ld32(b + len - 4) != evl__crc32c(0, b, len - 4))
        goto out;
    size_t at = 12;
    ng = evl_ld32(b + 8);
    if (ng > (len - 16) / 20) /* a group takes at least 20 bytes */
        goto out;
    g = calloc(ng ? ng : 1, sizeof *g);
    if (!g) {
        rc = EVL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < ng; i++) {
        if (at + 12 > len - 4)
            goto bad;
        g[i].end = evl_ld64(b + at);
        g[i].n = evl_ld32(b + at + 8);
        at += 12;
        if (g[i].n == 0 || g[i].n > (len - 4 - at) / 8 || !(g[i].src = evl__malloc(g[i].n * 8)))
            goto bad;
        for (size_t k = 0; k < g[i].n; k++, at += 8) {
            g[i].src[k] = evl_ld64(b + at);
            /* Bases grow, within the group and from group to group, and a
             * group ends after its last: anything else is not a plan. */
            uint64_t prev = k ? g[i].src[k - 1] : i ? g[i - 1].end : 0;
            if ((k || i) && g[i].src[k] <= prev && !(k == 0 && g[i].src[k] == prev))
                goto bad;
        }
        if (g[i].end <= g[i].src[g[i].n - 1])
            goto bad;
    }
    if (at != len - 4)
        goto bad;
    *out = g;
    *nout = ng;
    rc = 0;
    goto out;
bad:
    groups_free(g, ng);
out:
    free(b);
    close(fd);
    return rc;
}

int evl__compact_plan_groups(const char *dir, size_t *groups, size_t *sources)
{
    group_t *g = NULL;
    size_t ng = 0;
    int rc = plan_read(dir, &g, &ng);
    *groups = ng;
    *sources = 0;
    for (size_t i = 0; rc == 0 && i < ng; i++)
        *sources += g[i].n;
    groups_free(g, ng);
    return rc;
}

/* ---- the swap ------------------------------------------------------------ */

static void rm_staging(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(path);
}

/* Drop this handle's cached mappings of segments a swap replaced. */
static void forget(evl_part_t *part, const group_t *g, size_t ng)
{
    pthread_mutex_lock(&part->seg_mu);
    evl_seg_t **pp = &part->segs;
    while (*pp) {
        evl_seg_t *s = *pp;
        bool gone = false;
        for (size_t i = 0; i < ng && !gone; i++)
            gone = s->base >= g[i].src[0] && s->base < g[i].end;
        if (gone) { /* never the active segment; a mapping in use keeps its ref */
            *pp = s->next;
            evl__seg_unref(s);
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&part->seg_mu);
}

static bool exists(const char *dir, uint64_t base, const char *ext)
{
    char path[PATH_MAX];
    evl__seg_path(path, sizeof path, dir, base, ext);
    return access(path, F_OK) == 0;
}

/* Are group g's sources all there, none below the log start? */
static bool sources_ok(evl_part_t *part, const group_t *g)
{
    if (g->src[0] < evl__part_start(part))
        return false;
    for (size_t k = 0; k < g->n; k++)
        if (!exists(part->dir, g->src[k], "log"))
            return false;
    return true;
}

/*
 * Carry out compact.swap's plan, under segments.lock (retention deletes
 * under it too). Per group, idempotently, in the order a crash may have
 * left it: its new files still in compact.swap (not swapped yet): swapped
 * if its sources are all there and none is below the log start, else
 * dropped (renamed *.dropped, so that a later run does not take the old
 * first source for the new one); already swapped: its other sources
 * unlinked. `fresh`: a pass that just wrote the plan, where any group
 * whose sources changed drops the whole pass (retention ran meanwhile).
 */
static int finish_swap(evl_part_t *part, bool fresh)
{
    char swap[PATH_MAX];
    snprintf(swap, sizeof swap, "%s/compact.swap", part->dir);
    group_t *g = NULL;
    size_t ng = 0;
    int rc = plan_read(swap, &g, &ng);
    if (rc == -ENOENT) {
        rm_staging(swap); /* renamed before its plan? never: a stray folder */
        return 0;
    }
    if (rc) {
        evl__logf(part->env.lg, EVL_LOG_ERR,
                  "%s/%d: the compaction plan in %s is damaged: left as it is, the segments "
                  "it names are not touched", part->env.name, part->id, swap);
        return rc;
    }
    int lk = evl__part_flock(part, "segments.lock", true);
    if (lk < 0) {
        groups_free(g, ng);
        return lk;
    }
    char from[PATH_MAX], to[PATH_MAX + 16];
    static const char *const ext[2] = {"log", "idx"};
    bool drop_all = false;
    for (size_t i = 0; fresh && i < ng && !drop_all; i++)
        drop_all = !sources_ok(part, &g[i]);
    for (size_t i = 0; i < ng && rc == 0 && !drop_all; i++) {
        if (exists(swap, g[i].src[0], "log.dropped"))
            continue;
        if (exists(swap, g[i].src[0], "log")) {
            if (!sources_ok(part, &g[i])) {
                for (int e = 0; e < 2; e++) {
                    evl__seg_path(from, sizeof from, swap, g[i].src[0], ext[e]);
                    snprintf(to, sizeof to, "%s.dropped", from);
                    evl__os_rename(from, to);
                }
                evl__logf(part->env.lg, EVL_LOG_INFO,
                          "%s/%d: compaction of segments from %llu dropped: retention "
                          "deleted some of them meanwhile", part->env.name, part->id,
                          (unsigned long long)g[i].src[0]);
                continue;
            }
            for (int e = 0; e < 2 && rc == 0; e++) {
                evl__seg_path(from, sizeof from, swap, g[i].src[0], ext[e]);
                evl__seg_path(to, sizeof to, part->dir, g[i].src[0], ext[e]);
                int r = evl__os_rename(from, to);
                if (r && r != -ENOENT)
                    rc = r;
            }
        }
        /* Swapped (now or before): the group's other segments are in the
         * new file, or below the start if retention deleted that. */
        for (size_t k = 1; k < g[i].n && rc == 0; k++)
            for (int e = 0; e < 2; e++) {
                evl__seg_path(to, sizeof to, part->dir, g[i].src[k], ext[e]);
                unlink(to);
            }
    }
    if (rc == 0)
        rc = evl__os_fsync_dir(part->dir);
    atomic_fetch_add(&part->ctl->seg_epoch, 1);
    evl__part_funlock(lk);
    forget(part, g, ng);
    if (drop_all)
        evl__logf(part->env.lg, EVL_LOG_INFO,
                  "%s/%d: compaction dropped: retention deleted segments meanwhile",
                  part->env.name, part->id);
    else if (rc == 0 && ng > 0)
        rc = ckpt_write(part, g[ng - 1].end);
    if (rc == 0) {
        rm_staging(swap);
        rc = evl__os_fsync_dir(part->dir);
    }
    groups_free(g, ng);
    return rc;
}

int evl__part_compact_recover(evl_part_t *part)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/compact.swap", part->dir);
    bool swap = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/compact.tmp", part->dir);
    bool tmp = access(path, F_OK) == 0;
    if (!swap && !tmp)
        return 0;
    /* A live cleaner (this or another process) finishes its own. */
    int lk = evl__part_flock(part, "compact.lock", false);
    if (lk == -EAGAIN)
        return 0;
    if (lk < 0)
        return lk;
    int rc = 0;
    if (tmp)
        rm_staging(path);
    if (swap) {
        evl__logf(part->env.lg, EVL_LOG_NOTICE,
                  "%s/%d: finishing a compaction a stopped cleaner left", part->env.name, part->id);
        rc = finish_swap(part, false);
    }
    evl__part_funlock(lk);
    return rc;
}

/* ---- the key map --------------------------------------------------------- */

typedef struct slot {
    XXH128_hash_t h;
    uint64_t off_plus1; /* 0: empty */
} slot_t;

typedef struct keymap {
    slot_t *s;
    size_t mask, used;
} keymap_t;

static int map_init(keymap_t *m, size_t n)
{
    size_t cap = 64;
    while (cap < 2 * n + 2)
        cap *= 2;
    m->s = calloc(cap, sizeof *m->s);
    m->mask = cap - 1;
    m->used = 0;
    return m->s ? 0 : EVL_ENOMEM;
}

static slot_t *map_slot(const keymap_t *m, XXH128_hash_t h)
{
    for (size_t i = (size_t)h.low64 & m->mask;; i = (i + 1) & m->mask) {
        slot_t *s = &m->s[i];
        if (!s->off_plus1 || (s->h.low64 == h.low64 && s->h.high64 == h.high64))
            return s;
    }
}

/* ---- walking segments ----------------------------------------------------- */

typedef struct seginfo {
    uint64_t base, end_offset, end_pos;
    int64_t max_ts;
    uint64_t frames;
    uint64_t out_bytes; /* what its kept records take (size_out) */
} seginfo_t;

/* Each record of each frame of seg (sealed, its end at end_pos): fn(frame,
 * record, its encoding's start and length). EVL_ECORRUPT on any damage:
 * nothing damaged is ever rewritten. */
typedef int rec_fn(void *arg, const evl_frame_t *f, const struct evl_record *r,
                   const uint8_t *at, uint32_t len);
typedef int frame_fn(void *arg, const evl_frame_t *f);

static int walk(const evl_seg_t *seg, uint64_t end_pos, rec_fn *rf, frame_fn *ff, void *arg)
{
    uint64_t pos = EVL_SEG_HDR;
    while (pos < end_pos) {
        uint32_t fl = evl__frame_len_acquire(seg->map + pos);
        evl_frame_t f;
        if (fl == 0 || fl == EVL_FRAME_EOF ||
            evl__frame_check(seg->map + pos, fl, end_pos - pos, seg->base, -1, true, &f) != 0)
            return EVL_ECORRUPT;
        const uint8_t *r = f.p + f.hdr_len;
        int64_t prev = -1;
        for (uint32_t i = 0; i < f.count; i++) {
            const uint8_t *at = r;
            struct evl_record rec;
            if (evl__rec_read(&f, &r, prev, true, &rec) != 0)
                return EVL_ECORRUPT;
            prev = rec.offset - (int64_t)f.base;
            int rc = rf ? rf(arg, &f, &rec, at, (uint32_t)(r - at)) : 0;
            if (rc)
                return rc;
        }
        int rc = ff ? ff(arg, &f) : 0;
        if (rc)
            return rc;
        pos += evl__frame_span(fl);
    }
    return 0;
}

static int count_frame(void *arg, const evl_frame_t *f)
{
    (void)f;
    ((seginfo_t *)arg)->frames++;
    return 0;
}

static int count_key(void *arg, const evl_frame_t *f, const struct evl_record *r,
                     const uint8_t *at, uint32_t len)
{
    (void)f, (void)at, (void)len;
    *(size_t *)arg += r->key != NULL;
    return 0;
}

static int map_key(void *arg, const evl_frame_t *f, const struct evl_record *r,
                   const uint8_t *at, uint32_t len)
{
    (void)f, (void)at, (void)len;
    if (!r->key)
        return 0;
    keymap_t *m = arg;
    XXH128_hash_t h = XXH3_128bits(r->key, r->key_len);
    slot_t *s = map_slot(m, h);
    if (!s->off_plus1) {
        s->h = h;
        m->used++;
    }
    s->off_plus1 = (uint64_t)r->offset + 1;
    return 0;
}

/* ---- rewriting a group ---------------------------------------------------- */

typedef struct writer {
    evl_part_t *part;
    const evl_compact_opts_t *o;
    const keymap_t *map;
    evl_seg_t *out;
    uint64_t pos, alloc;
    int64_t max_ts;
    /* the frame being filtered */
    const uint8_t **recs;
    uint32_t *lens, nrec, cap;
    evl_compact_stats_t *st;
} writer_t;

static bool keep(const writer_t *w, const struct evl_record *r)
{
    if (!r->key)
        return true; /* Kafka refuses keyless records in compacted topics;
                        any written before the policy changed stay */
    slot_t *s = map_slot(w->map, XXH3_128bits(r->key, r->key_len));
    if (s->off_plus1 && (uint64_t)r->offset + 1 < s->off_plus1)
        return false; /* a newer record of the key follows */
    if (!r->value && r->timestamp < w->o->now_ms - w->o->delete_retention_ms)
        return false; /* a tombstone past delete.retention.ms */
    return true;
}

static int filter_rec(void *arg, const evl_frame_t *f, const struct evl_record *r,
                      const uint8_t *at, uint32_t len)
{
    writer_t *w = arg;
    (void)f;
    w->st->records_in++;
    if (!keep(w, r))
        return 0;
    if (w->nrec == w->cap) {
        uint32_t cap = w->cap ? w->cap * 2 : 64;
        const uint8_t **nr = realloc(w->recs, cap * sizeof *nr);
        if (nr)
            w->recs = nr;
        uint32_t *nl = realloc(w->lens, cap * sizeof *nl);
        if (nl)
            w->lens = nl;
        if (!nr || !nl)
            return EVL_ENOMEM;
        w->cap = cap;
    }
    w->recs[w->nrec] = at;
    w->lens[w->nrec++] = len;
    return 0;
}

static int emit_frame(void *arg, const evl_frame_t *f)
{
    writer_t *w = arg;
    uint32_t n = w->nrec;
    w->nrec = 0;
    if (n == 0)
        return 0;
    uint64_t bytes = EVL_FRAME_HDR_MAX;
    for (uint32_t i = 0; i < n; i++)
        bytes += w->lens[i];
    uint64_t need = w->pos + EVL_ALIGN_UP(bytes, EVL_FRAME_ALIGN) + EVL_FRAME_EOF_BYTES;
    if (need > w->out->max_bytes)
        return EVL_ETOOBIG; /* the group's estimate was wrong: never */
    if (need > w->alloc) {
        uint64_t want = EVL_MIN(EVL_ALIGN_UP(need + (need >> 2), 4096), w->out->max_bytes);
        int rc = evl__part_reserve_try(w->part, want - w->alloc);
        if (rc == 0) {
            rc = evl__os_allocate(w->out->fd, w->alloc, want - w->alloc);
            evl__part_reserve_done(w->part);
        }
        if (rc)
            return rc;
        w->alloc = want;
    }
    uint8_t *dst = w->out->map + w->pos;
    uint32_t fl = evl__frame_repack(dst, w->out->base, f, w->recs, w->lens, n);
    evl__frame_publish(dst, fl);
    w->pos += evl__frame_span(fl);
    if (f->max_ts > w->max_ts)
        w->max_ts = f->max_ts;
    w->st->records_kept += n;
    return 0;
}

/* Write group g into the staging folder. */
static int write_group(evl_part_t *part, const char *staging, const group_t *g,
                       const seginfo_t *info, const evl_compact_opts_t *o, const keymap_t *map,
                       evl_compact_stats_t *st)
{
    uint64_t in = 0;
    for (size_t k = 0; k < g->n; k++)
        in += info[k].end_pos - EVL_SEG_HDR;
    uint64_t alloc = EVL_MIN(EVL_ALIGN_UP(EVL_SEG_HDR + in / 2 + 4096, 4096), part->seg_bytes);
    int rc = evl__part_reserve_try(part, alloc + EVL_IDX_STEP_MIN);
    if (rc)
        return rc;
    evl_seg_t *out;
    rc = evl__seg_create(staging, g->src[0], part->seg_bytes, part->idx_cap, alloc,
                         info[0].max_ts, &out);
    evl__part_reserve_done(part);
    if (rc)
        return rc;
    writer_t w = {part, o, map, out, EVL_SEG_HDR, alloc, INT64_MIN, NULL, NULL, 0, 0, st};
    for (size_t k = 0; k < g->n && rc == 0; k++) {
        evl_seg_t *src;
        if ((rc = evl__part_seg_at(part, g->src[k], &src)))
            break;
        rc = walk(src, info[k].end_pos, filter_rec, emit_frame, &w);
        evl__seg_unref(src);
    }
    if (rc == 0 && w.pos == EVL_SEG_HDR)
        rc = EVL_ECORRUPT; /* make_groups never makes an empty group */
    if (rc == 0) {
        uint64_t add = evl__seg_idx_shortfall(out, w.pos, part->index_interval);
        if (add && evl__part_reserve_try(part, add) == 0) {
            evl__seg_idx_extend(out, add);
            evl__part_reserve_done(part);
        }
        uint32_t ic = evl__seg_idx_rebuild(out, 0, w.pos, part->index_interval);
        rc = evl__seg_seal(out, w.pos, g->end, w.max_ts, ic);
    }
    st->bytes_out += (int64_t)w.pos;
    free(w.recs);
    free(w.lens);
    evl__seg_unref(out);
    return rc;
}

/* ---- a pass --------------------------------------------------------------- */

static int seal_info(evl_part_t *part, uint64_t base, seginfo_t *si)
{
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, base, &seg);
    if (rc)
        return rc;
    if (!evl__part_seg_sealed(part, seg) || !seg->sealed) {
        evl__seg_unref(seg);
        return 1; /* its seal is not finished yet: not cleanable */
    }
    *si = (seginfo_t){base, seg->end_offset, seg->end_pos, seg->max_ts, 0, 0};
    rc = walk(seg, seg->end_pos, NULL, count_frame, si);
    evl__seg_unref(seg);
    return rc;
}

static int build_map(evl_part_t *part, const seginfo_t *info, size_t from, size_t to,
                     keymap_t *m)
{
    size_t keys = 0;
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 1 && (rc = map_init(m, keys)))
            break;
        for (size_t i = from; i < to && rc == 0; i++) {
            evl_seg_t *seg;
            if ((rc = evl__part_seg_at(part, info[i].base, &seg)))
                break;
            rc = walk(seg, info[i].end_pos, pass ? map_key : count_key, NULL,
                      pass ? (void *)m : (void *)&keys);
            evl__seg_unref(seg);
        }
    }
    return rc;
}

/* How much each segment's kept records will take: a frame per source
 * frame that keeps any, at its largest header. So that groups of segments
 * that compaction shrinks become one segment in the same pass. */
typedef struct sizer {
    const writer_t *w;
    uint64_t frame_bytes, total;
} sizer_t;

static int size_rec(void *arg, const evl_frame_t *f, const struct evl_record *r,
                    const uint8_t *at, uint32_t len)
{
    sizer_t *z = arg;
    (void)f, (void)at;
    if (keep(z->w, r))
        z->frame_bytes += len;
    return 0;
}

static int size_frame(void *arg, const evl_frame_t *f)
{
    sizer_t *z = arg;
    /* Its header as it is, plus what a larger relative base adds (at
     * most 4 bytes), aligned: never less than the repacked frame. */
    if (z->frame_bytes)
        z->total += EVL_ALIGN_UP(f->hdr_len + 4 + z->frame_bytes, EVL_FRAME_ALIGN);
    z->frame_bytes = 0;
    return 0;
}

static int size_out(evl_part_t *part, seginfo_t *info, size_t n, const evl_compact_opts_t *o,
                    const keymap_t *map)
{
    writer_t w = {.part = part, .o = o, .map = map};
    for (size_t i = 0; i < n; i++) {
        evl_seg_t *seg;
        int rc = evl__part_seg_at(part, info[i].base, &seg);
        if (rc)
            return rc;
        sizer_t z = {&w, 0, 0};
        rc = walk(seg, info[i].end_pos, size_rec, size_frame, &z);
        evl__seg_unref(seg);
        if (rc)
            return rc;
        info[i].out_bytes = z.total;
    }
    return 0;
}

/*
 * Consecutive segments [0, n) in groups whose output fits a segment. A
 * group keeps at least one record: a segment with no frame, its end marker
 * at its header, is what damage looks like. Segments that keep nothing go
 * into the next group (its new segment then starts at their base, its
 * first frame later: a gap); those at the end with nothing to keep are
 * left out of this pass (*n_out says how many segments the groups cover).
 */
static int make_groups(const evl_part_t *part, const seginfo_t *info, size_t n, group_t **out,
                       size_t *nout, size_t *n_out)
{
    group_t *g = calloc(n ? n : 1, sizeof *g);
    if (!g)
        return EVL_ENOMEM;
    size_t ng = 0, covered = 0;
    uint64_t room = part->seg_bytes - EVL_SEG_HDR - EVL_FRAME_EOF_BYTES;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        uint64_t sum = 0;
        while (k < n) {
            uint64_t add = info[k].out_bytes;
            if (sum > 0 && sum + add > room)
                break;
            sum += add;
            k++;
        }
        if (sum == 0)
            break; /* the rest keeps nothing: not this pass */
        g[ng].n = k - i;
        if (!(g[ng].src = evl__malloc(g[ng].n * sizeof(uint64_t)))) {
            groups_free(g, ng);
            return EVL_ENOMEM;
        }
        for (size_t j = i; j < k; j++)
            g[ng].src[j - i] = info[j].base;
        g[ng].end = info[k - 1].end_offset;
        ng++;
        covered = k;
        i = k;
    }
    *out = g;
    *nout = ng;
    *n_out = covered;
    return 0;
}

int evl__part_compact(evl_part_t *part, const evl_compact_opts_t *o, evl_compact_stats_t *st)
{
    memset(st, 0, sizeof *st);
    int lk = evl__part_flock(part, "compact.lock", false);
    if (lk == -EAGAIN)
        return 0; /* another cleaner has it */
    if (lk < 0)
        return lk;
    char staging[PATH_MAX], swap[PATH_MAX];
    snprintf(staging, sizeof staging, "%s/compact.tmp", part->dir);
    snprintf(swap, sizeof swap, "%s/compact.swap", part->dir);
    rm_staging(staging);
    int rc = access(swap, F_OK) == 0 ? finish_swap(part, false) : 0;
    uint64_t *bases = NULL;
    size_t nb = 0;
    seginfo_t *info = NULL;
    group_t *g = NULL;
    size_t ng = 0, n = 0;
    keymap_t map = {0};
    if (rc || (rc = evl__part_list(part->dir, &bases, &nb)))
        goto out;
    if (!(info = calloc(nb ? nb : 1, sizeof *info))) {
        rc = EVL_ENOMEM;
        goto out;
    }
    /* The cleanable segments: sealed, past the log start, old enough. */
    uint64_t active = atomic_load(&part->ctl->active_base), start = evl__part_start(part);
    for (size_t i = 0; i < nb && bases[i] < active; i++) {
        int r = seal_info(part, bases[i], &info[n]);
        if (r == -ENOENT)
            continue; /* retention got it meanwhile */
        if (r == EVL_ECORRUPT) {
            evl__logf(part->env.lg, EVL_LOG_ERR,
                      "%s/%d: segment %llu has damaged records: compaction stops before it "
                      "(`evl verify` names them)", part->env.name, part->id,
                      (unsigned long long)bases[i]);
            break;
        }
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 1 || info[n].max_ts > o->now_ms - o->min_lag_ms)
            break;
        if (info[n].end_offset <= start)
            continue;
        n++;
    }
    uint64_t first_dirty = ckpt_read(part);
    size_t d = 0;
    while (d < n && info[d].end_offset <= first_dirty)
        d++;
    if (d == n)
        goto out; /* nothing dirty */
    uint64_t dirty = 0, total = 0;
    bool overdue = false;
    for (size_t i = 0; i < n; i++) {
        total += info[i].end_pos - EVL_SEG_HDR;
        if (i >= d) {
            dirty += info[i].end_pos - EVL_SEG_HDR;
            overdue |= info[i].max_ts < o->now_ms - o->max_lag_ms;
        }
    }
    if (!o->force && !overdue && (double)dirty < (double)total * o->min_dirty_ratio)
        goto out;
    size_t covered;
    if ((rc = build_map(part, info, d, n, &map)) || (rc = size_out(part, info, n, o, &map)) ||
        (rc = make_groups(part, info, n, &g, &ng, &covered)))
        goto out;
    if (ng == 0)
        goto out; /* nothing would be kept: left for a pass with more data */
    if (mkdir(staging, 0755) < 0) {
        rc = -errno;
        goto out;
    }
    size_t at = 0;
    for (size_t i = 0; i < ng && rc == 0; i++) {
        st->segments_in += (int64_t)g[i].n;
        for (size_t k = 0; k < g[i].n; k++)
            st->bytes_in += (int64_t)(info[at + k].end_pos - EVL_SEG_HDR);
        rc = write_group(part, staging, &g[i], &info[at], o, &map, st);
        at += g[i].n;
    }
    st->segments_out = (int64_t)ng;
    if (rc == 0 && (rc = plan_write(staging, g, ng)) == 0 &&
        (rc = evl__os_fsync_dir(staging)) == 0 && (rc = evl__os_rename(staging, swap)) == 0 &&
        (rc = evl__os_fsync_dir(part->dir)) == 0)
        rc = finish_swap(part, true);
    if (rc == 0)
        evl__logf(part->env.lg, EVL_LOG_INFO,
                  "%s/%d: compacted %lld segments into %lld: %lld of %lld records kept",
                  part->env.name, part->id, (long long)st->segments_in,
                  (long long)st->segments_out, (long long)st->records_kept,
                  (long long)st->records_in);
out:
    if (rc)
        rm_staging(staging);
    free(map.s);
    groups_free(g, ng);
    free(info);
    free(bases);
    evl__part_funlock(lk);
    return rc;
}
