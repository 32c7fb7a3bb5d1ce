/*
 * producers.c - the partition's side of idempotent producers: the producer
 * table's region of the control file (pidtab.h), its snapshot at each
 * roll, its rebuild from the frames, and finding where an old sequence
 * went.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os.h"
#include "partition_int.h"
#include "pidtab.h"
#include "record.h"

#define REGION_END (EVL_PIDTAB_OFF + 2 * EVL_PIDTAB_BYTES)

static int rebuild_into(evl_part_t *part, evl_pidtab_t *t);

/* Map the table's region if the control file has it; with create (append
 * lock held), make it first: budget, blocks, an empty table, and the empty
 * snapshot that says the frames before the active segment hold no
 * producer's batch. 0 with part->pids set; 1 when there is no region and
 * create is false. */
int evl__part_pids_attach(evl_part_t *part, bool create)
{
    if (part->pids)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/partition.ctl", part->dir);
    int fd = evl__os_open(path, O_RDWR, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    bool have = rc == 0 && st.st_size >= (off_t)REGION_END;
    if (rc == 0 && !have) {
        if (!create) {
            close(fd);
            return 1;
        }
        if ((rc = evl__part_reserve(part, REGION_END - EVL_PIDTAB_OFF)) == 0) {
            rc = evl__os_allocate(fd, EVL_PIDTAB_OFF, REGION_END - EVL_PIDTAB_OFF);
            evl__part_reserve_done(part);
        }
    }
    void *map = NULL;
    if (rc == 0)
        rc = evl__os_mmap(fd, REGION_END, 1, &map);
    close(fd);
    if (rc)
        return rc;
    evl_pidtab_t *t = (evl_pidtab_t *)((uint8_t *)map + EVL_PIDTAB_OFF);
    if (!have || memcmp(t->magic, EVL_PIDTAB_MAGIC, 8) != 0) {
        /* New (or never finished). With a snapshot (the control file was
         * made again), the table is rebuilt from it; without, it starts
         * empty, and so does a snapshot at the active segment's base, made
         * durable before any frame needs it. The magic goes in last. */
        char snap[PATH_MAX];
        snprintf(snap, sizeof snap, "%s/producers.snap", part->dir);
        evl_pidtab_t *fresh = evl__malloc(EVL_PIDTAB_BYTES);
        rc = fresh ? 0 : EVL_ENOMEM;
        if (rc == 0) {
            evl__pidtab_init(fresh);
            if (access(snap, F_OK) == 0)
                rc = rebuild_into(part, fresh);
            else
                rc = evl__pidtab_save(part->dir, fresh, atomic_load(&part->ctl->active_base));
        }
        if (rc == 0) {
            memcpy((uint8_t *)t + 8, (uint8_t *)fresh + 8, EVL_PIDTAB_BYTES - 8);
            memset((uint8_t *)t + EVL_PIDTAB_BYTES, 0, EVL_PIDTAB_BYTES); /* no pending copy */
            atomic_thread_fence(memory_order_release);
            memcpy(t->magic, EVL_PIDTAB_MAGIC, 8);
        }
        free(fresh);
        if (rc) {
            evl__os_munmap(map, REGION_END);
            return rc;
        }
    }
    part->pids_map = map;
    part->pids = t;
    return 0;
}

void evl__part_pids_detach(evl_part_t *part)
{
    if (part->pids_map)
        evl__os_munmap(part->pids_map, REGION_END);
    part->pids_map = NULL;
    part->pids = NULL;
}

/* Walk the published frames of seg from its header to end (or to its end
 * marker), calling fn on each whole, checked frame header; stop when fn
 * returns nonzero (which is returned). */
static int walk(const evl_seg_t *seg, uint64_t end,
                int (*fn)(const evl_frame_t *f, void *arg), void *arg)
{
    uint64_t limit = EVL_MIN(end, seg->max_bytes), pos = EVL_SEG_HDR;
    int64_t fsize = evl__seg_file_size(seg);
    if (fsize >= 0 && (uint64_t)fsize < limit)
        limit = (uint64_t)fsize;
    while (pos + 8 <= limit) {
        uint32_t fl = evl__frame_len_acquire(seg->map + pos);
        evl_frame_t f;
        if (fl == 0 || fl == EVL_FRAME_EOF ||
            evl__frame_head(seg->map + pos, fl, limit - pos, seg->base, true, &f) != 0)
            return 0;
        int r = fn(&f, arg);
        if (r)
            return r;
        pos += evl__frame_span(fl);
    }
    return 0;
}

/* The end of seg's published data: write_pos for the active segment, the
 * mapping's end otherwise (walk stops at the end marker). */
static uint64_t seg_end(const evl_part_t *part, const evl_seg_t *seg)
{
    if (seg->base == atomic_load(&part->ctl->active_base))
        return atomic_load_explicit(&part->ctl->write_pos, memory_order_acquire);
    return seg->max_bytes;
}

typedef struct rebuild {
    evl_pidtab_t *t;
    uint64_t from; /* frames below are in the snapshot */
} rebuild_t;

static int note_frame(const evl_frame_t *f, void *arg)
{
    rebuild_t *r = arg;
    if ((f->attrs & EVL_ATTR_PRODUCER) && f->producer_id > 0 && f->base >= r->from &&
        f->base_seq <= EVL_SEQ_MAX - (int64_t)f->count)
        evl__pidtab_note(r->t, NULL, f->producer_id, f->epoch, f->base_seq, f->base, f->count,
                         false);
    return 0;
}

/* Build t from the snapshot and the frames after it. t is private: the
 * caller publishes it only when this succeeds. */
static int rebuild_into(evl_part_t *part, evl_pidtab_t *t)
{
    uint64_t from = 0;
    int rc = evl__pidtab_load(part->dir, t, &from);
    uint64_t next = atomic_load(&part->ctl->next_offset);
    if (rc == 0 && from > next) {
        /* Past the end of the log as recovered: not a snapshot of it. */
        rc = EVL_ECORRUPT;
    }
    if (rc == EVL_ECORRUPT || rc == -ENOENT) {
        evl__logf(part->env.lg, EVL_LOG_WARNING,
                  "%s/%d: the producer snapshot is %s: rebuilding the producer table from "
                  "every segment",
                  part->env.name, part->id, rc == -ENOENT ? "missing" : "damaged");
        evl__pidtab_init(t);
        from = 0;
    } else if (rc) {
        return rc;
    }
    uint64_t *bases = NULL;
    size_t n = 0;
    if ((rc = evl__part_list(part->dir, &bases, &n)))
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i + 1 < n && bases[i + 1] <= from)
            continue; /* wholly before the snapshot */
        evl_seg_t *seg;
        if ((rc = evl__part_seg_at(part, bases[i], &seg))) {
            if (rc == -ENOENT && bases[i] < evl__part_start(part)) {
                rc = 0; /* retention got it meanwhile */
                continue;
            }
            break;
        }
        rebuild_t r = {t, from};
        walk(seg, seg_end(part, seg), note_frame, &r);
        evl__seg_unref(seg);
    }
    free(bases);
    return rc;
}

int evl__part_pids_rebuild(evl_part_t *part)
{
    int rc = evl__part_pids_attach(part, false);
    if (rc == 1) {
        /* No region: never had idempotent producers, or the control file
         * was made again; then the snapshot says so, and attaching with
         * create rebuilds from it. */
        char snap[PATH_MAX];
        snprintf(snap, sizeof snap, "%s/producers.snap", part->dir);
        return access(snap, F_OK) == 0 ? evl__part_pids_attach(part, true) : 0;
    }
    if (rc)
        return rc;
    evl_pidtab_t *fresh = evl__malloc(EVL_PIDTAB_BYTES);
    if (!fresh)
        rc = EVL_ENOMEM;
    else if ((rc = rebuild_into(part, fresh)) == 0) {
        memcpy(part->pids, fresh, EVL_PIDTAB_BYTES); /* magic included */
        /* A pending copy from before is no one's now (the seal it waited
         * for was dropped with the control block's state). */
        ((evl_pidtab_t *)((uint8_t *)part->pids + EVL_PIDTAB_BYTES))->snap_base = 0;
    }
    free(fresh);
    if (rc) {
        /* Never a half-built table: without its magic, the next attach
         * (the next idempotent append) builds it again. */
        memset(part->pids->magic, 0, 8);
        evl__part_pids_detach(part);
    }
    return rc;
}

void evl__part_pids_roll(evl_part_t *part, uint64_t next_base)
{
    /* Any handle rolls, also one that never used the table. */
    if (!part->pids && evl__part_pids_attach(part, false) != 0)
        return;
    evl_pidtab_t *pending = (evl_pidtab_t *)((uint8_t *)part->pids + EVL_PIDTAB_BYTES);
    if (evl__pidtab_count(part->pids) == 0)
        return;
    memcpy(pending, part->pids, EVL_PIDTAB_BYTES);
    pending->snap_base = next_base;
}

evl_pidtab_t *evl__part_pids_take(evl_part_t *part, uint64_t next_base)
{
    if (!part->pids && evl__part_pids_attach(part, false) != 0)
        return NULL;
    evl_pidtab_t *pending = (evl_pidtab_t *)((uint8_t *)part->pids + EVL_PIDTAB_BYTES);
    if (memcmp(pending->magic, EVL_PIDTAB_MAGIC, 8) != 0 || pending->snap_base != next_base)
        return NULL;
    evl_pidtab_t *copy = evl__malloc(EVL_PIDTAB_BYTES);
    if (copy)
        memcpy(copy, pending, EVL_PIDTAB_BYTES);
    pending->snap_base = 0;
    return copy;
}

void evl__part_pids_save(evl_part_t *part, evl_pidtab_t *snap)
{
    if (!snap)
        return;
    int rc = evl__pidtab_save(part->dir, snap, snap->snap_base);
    if (rc)
        /* The older snapshot stays, with its base: a rebuild reads more
         * frames, and gets the same table. */
        evl__logf(part->env.lg, EVL_LOG_WARNING,
                  "%s/%d: writing the producer snapshot failed (%s); the previous one is kept",
                  part->env.name, part->id, evl_strerror(rc));
    free(snap);
}

typedef struct seek_seq {
    int64_t pid, seq0;
    uint64_t n, missing;
    int64_t *out;
    bool passed; /* a batch of pid at or before seq0 was seen */
} seek_seq_t;

static int seek_frame(const evl_frame_t *f, void *arg)
{
    seek_seq_t *s = arg;
    if (!(f->attrs & EVL_ATTR_PRODUCER) || f->producer_id != s->pid ||
        f->base_seq > EVL_SEQ_MAX - (int64_t)f->count)
        return 0;
    if (f->base_seq <= s->seq0)
        s->passed = true;
    if (f->last_delta + 1 != f->count)
        return 0; /* offsets with gaps (compacted): not by arithmetic */
    int64_t lo = EVL_MAX(f->base_seq, s->seq0);
    int64_t hi = EVL_MIN(f->base_seq + (int64_t)f->count, s->seq0 + (int64_t)s->n);
    for (int64_t q = lo; q < hi; q++)
        if (s->out[q - s->seq0] < 0) {
            s->out[q - s->seq0] = (int64_t)(f->base + (uint64_t)(q - f->base_seq));
            s->missing--;
        }
    return s->missing == 0;
}

void evl__part_find_seqs(evl_part_t *part, int64_t pid, int64_t seq0, uint64_t n, int64_t *out)
{
    seek_seq_t s = {pid, seq0, n, 0, out, false};
    for (uint64_t i = 0; i < n; i++)
        s.missing += out[i] < 0;
    uint64_t *bases = NULL;
    size_t nb = 0;
    if (s.missing == 0 || evl__part_list(part->dir, &bases, &nb))
        return;
    /* Newest first: a replay looks for what was sent shortly before; once
     * a segment holds a batch at or before seq0, older ones cannot hold
     * the rest (a producer's sequences grow with the offsets). */
    for (size_t i = nb; i-- > 0 && s.missing > 0 && !s.passed;) {
        evl_seg_t *seg;
        if (evl__part_seg_at(part, bases[i], &seg))
            continue; /* deleted meanwhile */
        walk(seg, seg_end(part, seg), seek_frame, &s);
        evl__seg_unref(seg);
    }
    free(bases);
}

int evl__part_pid_next(evl_part_t *part, int64_t pid, int64_t *next)
{
    *next = 0;
    int rc = evl__part_lock(part);
    if (rc)
        return rc;
    rc = evl__part_pids_attach(part, false);
    if (rc == 0) {
        const evl_pid_ent_t *e = evl__pidtab_find(part->pids, pid);
        if (e)
            *next = e->next_seq;
    }
    evl__part_unlock(part);
    return rc == 1 ? 0 : rc;
}
