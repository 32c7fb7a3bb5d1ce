/*
 * recovery.c - rebuilding a partition's shared state from its files.
 *
 * Runs when the ctl file is missing, damaged or from another boot (after a
 * power loss or reboot the page cache is gone, so only what reached the disk
 * counts). The segment files are the truth; the ctl file and the indexes are
 * rebuilt from them:
 *
 *   - sealed segments are trusted (sealing fsyncs them) if their end marker
 *     and checkpoint agree and the next segment starts where they end;
 *   - the last segment is scanned from its newest checkpoint (data before it
 *     was fsynced), frame by frame, until the first frame that is missing,
 *     torn or fails its checksum. Everything after that point is zeroed, so
 *     no stale byte can ever be read as a record, and what was dropped is
 *     counted and logged. Never the file size: segments are preallocated
 *     and zeros past the data mean nothing;
 *   - the index keeps the entries the checkpoint vouches for and is rebuilt
 *     from there.
 *
 * The cost is the data written since the last checkpoint (bounded by one
 * segment, or two when the power went while a roll's seal was still
 * pending: partition.c, finish_seal), not the size of the log.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "os.h"
#include "partition.h"
#include "record.h"

/* Remove temp files a crash left (a roll or an index rebuild in flight). */
static void remove_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* Rename a damaged segment out of the way, keeping it for inspection. */
static void quarantine(evl_part_t *part, uint64_t base, const char *why)
{
    char from[PATH_MAX], to[PATH_MAX];
    evl__seg_path(from, sizeof from, part->dir, base, "log");
    evl__seg_path(to, sizeof to, part->dir, base, "log.corrupt");
    evl__os_rename(from, to);
    evl__seg_path(from, sizeof from, part->dir, base, "idx");
    unlink(from);
    evl__logf(part->env.lg, EVL_LOG_ERR,
              "%s/%d: segment %llu quarantined (%s): renamed to .log.corrupt",
              part->env.name, part->id, (unsigned long long)base, why);
}

typedef struct scan {
    uint64_t pos;         /* end of the valid frames */
    uint64_t next_offset; /* offset after them */
    int64_t max_ts;
    bool eof;             /* ended on an end-of-segment frame */
    uint64_t eof_next;    /* its next base */
} scan_t;

/* Walk frames from (pos, offset) while they check out, whole (recovery
 * keeps a frame only if every record of it is intact: a frame torn by a
 * power cut has its pages written in any order). */
static void scan_frames(const evl_seg_t *seg, uint64_t file_size, scan_t *s)
{
    uint64_t limit = EVL_MIN(file_size, seg->max_bytes);
    while (s->pos + 8 <= limit) {
        const uint8_t *f = seg->map + s->pos;
        uint32_t fl = evl__frame_len_acquire(f);
        evl_frame_t fr;
        if (fl == EVL_FRAME_EOF) {
            /* A segment ends only after holding records: a marker at the
             * base offset is damage, not an end (its successor would get
             * the same base). */
            if (s->pos + EVL_FRAME_EOF_BYTES <= limit && evl__frame_eof_next(f) == s->next_offset &&
                s->next_offset > seg->base) {
                s->eof = true;
                s->eof_next = s->next_offset;
            }
            return;
        }
        /* A frame's base may be past the offset expected: the gap a
         * compaction leaves (compact.c); never before it. */
        if (fl == 0 || evl__frame_check(f, fl, limit - s->pos, seg->base, -1, true, &fr) != 0 ||
            fr.base < s->next_offset)
            return;
        if (fr.max_ts > s->max_ts)
            s->max_ts = fr.max_ts;
        s->next_offset = evl__frame_next_offset(&fr);
        s->pos += evl__frame_span(fl);
    }
}

/* Zero whatever follows the valid data; return how many bytes were not
 * already zero (what recovery dropped). */
static int64_t zero_tail(evl_seg_t *seg, uint64_t end, uint64_t file_size)
{
    uint64_t limit = EVL_MIN(file_size, seg->max_bytes);
    uint64_t last = end, p = end;
    for (; p + 8 <= limit; p += 8)
        if (evl_ld64(seg->map + p))
            last = p + 8;
    for (; p < limit; p++) /* a file cut inside a word keeps a stray byte */
        if (seg->map[p])
            last = p + 1;
    if (last > end) {
        memset(seg->map + end, 0, (size_t)(last - end));
        evl__os_fdatasync(seg->fd);
    }
    return (int64_t)(last - end);
}

/* Close a damaged, non-last segment at its valid end with a marker that
 * sends readers to the next segment (the offsets in between are lost). */
static int reseal(evl_part_t *part, evl_seg_t *seg, const scan_t *s, uint64_t next_base,
                  uint64_t file_size)
{
    int64_t dropped = zero_tail(seg, s->pos, file_size);
    evl__part_stat_add(part, EVL_STAT_TRUNCATED_BYTES, dropped);
    if (dropped == 0 && s->next_offset == next_base)
        evl__logf(part->env.lg, EVL_LOG_NOTICE,
                  "%s/%d: segment %llu: completed an interrupted roll (nothing lost)",
                  part->env.name, part->id, (unsigned long long)seg->base);
    else
    evl__logf(part->env.lg, EVL_LOG_ERR,
              "%s/%d: segment %llu damaged: kept offsets up to %llu, lost up to %llu "
              "(%lld bytes dropped)",
              part->env.name, part->id, (unsigned long long)seg->base,
              (unsigned long long)s->next_offset, (unsigned long long)next_base,
              (long long)dropped);
    /* A file cut right at (or inside) the marker's place: storing the
     * marker through the mapping past the end of the file is SIGBUS. */
    int rc;
    if (file_size < s->pos + EVL_FRAME_EOF_BYTES &&
        (rc = evl__os_allocate(seg->fd, 0, s->pos + EVL_FRAME_EOF_BYTES)) < 0)
        return rc;
    uint32_t n = evl__seg_idx_rebuild(seg, 0, s->pos, part->index_interval);
    return evl__seg_seal(seg, s->pos, next_base, s->max_ts, n);
}

static void scan_from_ckpt(const evl_seg_t *seg, scan_t *s, uint32_t *idx_trusted)
{
    evl_ckpt_t ck;
    s->pos = EVL_SEG_HDR;
    s->next_offset = seg->base;
    s->max_ts = INT64_MIN;
    s->eof = false;
    *idx_trusted = 0;
    /* A checkpoint past the end of the file (truncated behind our back)
     * vouches for nothing: trusting it would extend the file with zeros
     * inside the "durable" range and strand everything appended after. */
    int64_t fsz = evl__seg_file_size(seg);
    if (evl__seg_ckpt_read(seg, &ck) && !(ck.flags & EVL_SEG_SEALED) && fsz >= 0 &&
        ck.pos + EVL_FRAME_EOF_BYTES <= (uint64_t)fsz) {
        s->pos = ck.pos;
        s->next_offset = ck.next_offset;
        s->max_ts = ck.max_ts;
        *idx_trusted = ck.idx_count;
    }
}

/* Check a non-last segment; fix it if it does not end where the next one
 * starts. Returns 0, or a negative code when the file cannot be used. */
static int check_middle(evl_part_t *part, uint64_t base, uint64_t next_base)
{
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, base, &seg);
    if (rc == EVL_ECORRUPT) {
        quarantine(part, base, evl_strerror(rc));
        return 0;
    }
    if (rc) /* EIO, ENOMEM, EMFILE...: not the file's fault; fail, keep it */
        return rc;
    if (evl__part_seg_sealed(part, seg) && seg->end_offset == next_base) {
        evl__seg_unref(seg);
        return 0;
    }
    int64_t size = evl__seg_file_size(seg);
    scan_t s;
    uint32_t trusted;
    scan_from_ckpt(seg, &s, &trusted);
    scan_frames(seg, (uint64_t)size, &s);
    if (s.eof && s.eof_next == next_base) {
        /* Sealed on disk, checkpoint lost: write it again. */
        uint32_t n = evl__seg_idx_rebuild(seg, 0, s.pos, part->index_interval);
        rc = evl__seg_seal(seg, s.pos, next_base, s.max_ts, n);
    } else {
        rc = reseal(part, seg, &s, next_base, (uint64_t)size);
    }
    evl__seg_unref(seg);
    return rc;
}

static int recover_last(evl_part_t *part, uint64_t base, bool *dropped_any)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, base, &seg);
    if (rc)
        return rc;
    int64_t size = evl__seg_file_size(seg);
    if (size < 0) {
        evl__seg_unref(seg);
        return (int)size;
    }
    scan_t s;
    uint32_t trusted;
    scan_from_ckpt(seg, &s, &trusted);
    if (evl__part_seg_sealed(part, seg)) {
        s.pos = seg->end_pos;
        s.next_offset = seg->end_offset;
        s.max_ts = seg->max_ts;
        s.eof = true;
    } else {
        scan_frames(seg, (uint64_t)size, &s);
    }
    if (s.eof) {
        /* The segment was sealed but its successor never appeared (the
         * crash came between the two): start the successor now. */
        uint64_t alloc = evl__part_initial_alloc(part);
        evl_seg_t *nseg;
        if (!seg->sealed) {
            uint32_t n = evl__seg_idx_rebuild(seg, 0, s.pos, part->index_interval);
            if ((rc = evl__seg_seal(seg, s.pos, s.next_offset, s.max_ts, n))) {
                evl__seg_unref(seg);
                return rc;
            }
        }
        evl__seg_unref(seg);
        rc = evl__seg_create(part->dir, s.next_offset, part->seg_bytes, part->idx_cap, alloc,
                             evl_now_ms(), &nseg);
        if (rc)
            return rc;
        atomic_store(&ctl->next_offset, s.next_offset);
        evl__part_activate(part, nseg, alloc, evl_now_ms());
        pthread_mutex_lock(&part->seg_mu);
        nseg->next = NULL;
        evl_seg_t **pp = &part->segs;
        while (*pp)
            pp = &(*pp)->next;
        *pp = nseg; /* the creation reference goes to the cache */
        pthread_mutex_unlock(&part->seg_mu);
        return 0;
    }
    int64_t dropped = zero_tail(seg, s.pos, (uint64_t)size);
    if (dropped > 0) {
        *dropped_any = true;
        evl__part_stat_add(part, EVL_STAT_TRUNCATED_BYTES, dropped);
        evl__logf(part->env.lg, EVL_LOG_WARNING,
                  "%s/%d: recovery truncated the torn tail at offset %llu "
                  "(segment %llu, position %llu): %lld bytes dropped",
                  part->env.name, part->id, (unsigned long long)s.next_offset,
                  (unsigned long long)base, (unsigned long long)s.pos, (long long)dropped);
    }
    uint64_t alloc = (uint64_t)size;
    if (alloc < s.pos + EVL_FRAME_EOF_BYTES) {
        uint64_t want = EVL_MIN(s.pos + evl__part_initial_alloc(part), part->seg_bytes);
        if ((rc = evl__os_allocate(seg->fd, 0, want))) {
            evl__seg_unref(seg);
            return rc;
        }
        alloc = want;
    }
    uint32_t n = evl__seg_idx_rebuild(seg, trusted, s.pos, part->index_interval);
    uint64_t last_idx = EVL_SEG_HDR;
    if (n > 0 && evl__seg_idx_usable(seg, n) == n)
        last_idx = evl__seg_idx_pos(seg, n - 1);
    /* Find the last frame's start, for the cheap check on later opens. */
    uint64_t lf = 0;
    for (uint64_t p = last_idx; p < s.pos;) {
        uint32_t fl = evl__frame_len_acquire(seg->map + p);
        if (fl == 0 || fl == EVL_FRAME_EOF) /* damaged trusted data: don't spin */
            break;
        lf = p;
        p += evl__frame_span(fl);
    }
    const uint8_t *h = seg->map;
    atomic_store(&ctl->write_pos, s.pos);
    atomic_store(&ctl->dirty_end, s.pos);
    atomic_store(&ctl->alloc_end, EVL_MIN(alloc, part->seg_bytes));
    atomic_store(&ctl->next_offset, s.next_offset);
    atomic_store(&ctl->max_ts, s.max_ts);
    atomic_store(&ctl->seg_created_ms, evl__seg_header_created_ms(h));
    atomic_store(&ctl->idx_count, n);
    atomic_store(&ctl->idx_synced, trusted);
    atomic_store(&ctl->last_idx_pos, last_idx);
    atomic_store(&ctl->last_frame_pos, lf);
    atomic_store(&ctl->active_base, base);
    atomic_fetch_add(&ctl->seg_epoch, 1);
    evl__seg_unref(part->wseg);
    part->wseg = seg; /* keeps our reference */
    return 0;
}

int evl__part_recover(evl_part_t *part)
{
    evl_ctl_t *ctl = part->ctl;
    /* Every segment is checked below, so no seal is left pending; the
     * ctl's note of one is not trusted here (evl__part_repair_tail finishes
     * it first when the ctl is). */
    atomic_store(&ctl->seal_pending, 0);
    remove_temps(part->dir);
    uint64_t *bases;
    size_t n;
    int rc = evl__part_list(part->dir, &bases, &n);
    if (rc)
        return rc;
    if (n == 0) {
        /* A new partition. */
        free(bases);
        evl_seg_t *seg;
        uint64_t alloc = evl__part_initial_alloc(part);
        uint64_t start = atomic_load(&ctl->next_offset);
        rc = evl__seg_create(part->dir, start, part->seg_bytes, part->idx_cap, alloc,
                             evl_now_ms(), &seg);
        if (rc)
            return rc;
        atomic_store(&ctl->start_offset, start);
        evl__part_activate(part, seg, alloc, evl_now_ms());
        pthread_mutex_lock(&part->seg_mu);
        seg->next = part->segs;
        part->segs = seg;
        pthread_mutex_unlock(&part->seg_mu);
        return 0;
    }
    evl__part_stat_add(part, EVL_STAT_RECOVERIES, 1);
    /* The last segment whose header can be read is the active one. */
    size_t last = n;
    while (last-- > 0) {
        evl_seg_t *seg;
        rc = evl__part_seg_at(part, bases[last], &seg);
        if (rc == 0) {
            evl__seg_unref(seg);
            break;
        }
        if (rc != EVL_ECORRUPT) {
            /* Another version's file, or a failure that says nothing about
             * the file (EIO, ENOMEM, EMFILE, a failed mmap): fail the open
             * and leave the data alone. Only a bad header is quarantined. */
            free(bases);
            return rc;
        }
        quarantine(part, bases[last], evl_strerror(rc));
        if (last == 0) {
            /* Nothing usable: start again after what the files claimed. */
            atomic_store(&ctl->next_offset, bases[0]);
            free(bases);
            return evl__part_recover(part);
        }
    }
    /* Quarantine middle segments with a bad header first, so that each
     * remaining one is checked against the segment that really follows it:
     * its end marker is then rewritten to jump the hole, instead of sending
     * readers to a file that is gone (EVL_EOFFSET forever). */
    size_t kept = 0;
    for (size_t i = 0; i < last; i++) {
        evl_seg_t *seg;
        int r = evl__part_seg_at(part, bases[i], &seg);
        if (r == 0) {
            evl__seg_unref(seg);
            bases[kept++] = bases[i];
        } else if (r == EVL_ECORRUPT) {
            quarantine(part, bases[i], evl_strerror(r));
        } else {
            free(bases);
            return r;
        }
    }
    bases[kept] = bases[last];
    last = kept;
    for (size_t i = 0; i < last; i++)
        if ((rc = check_middle(part, bases[i], bases[i + 1])) < 0)
            break;
    bool dropped = false;
    if (rc >= 0)
        rc = recover_last(part, bases[last], &dropped);
    /* The log starts at the first segment still readable. */
    uint64_t start = bases[last];
    uint64_t *now_bases;
    size_t m;
    int lrc = evl__part_list(part->dir, &now_bases, &m);
    if (lrc == 0) {
        if (m > 0)
            start = now_bases[0];
        free(now_bases);
    } else if (rc >= 0) {
        /* Never guess: a start at the active segment would hide the older
         * ones for the rest of the boot (the ctl is trusted until then). */
        rc = lrc;
    }
    atomic_store(&ctl->start_offset, start);
    free(bases);
    int prc;
    if (rc >= 0 && (prc = evl__part_pids_rebuild(part)) < 0)
        rc = prc;
    return rc;
}

void evl__part_repair_tail(evl_part_t *part)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *seg;
    uint64_t active = atomic_load(&ctl->active_base);
    /* A segment file past the active one means the writer died inside a
     * roll. Its ctl fields may be half switched (activate() resets the tail
     * fields before active_base), so nothing below may trust them: zeroing
     * from a reset write_pos would wipe the sealed segment, and deleting the
     * new file would send the next append into the sealed one. Rebuild from
     * the files instead, which completes the roll (rare; bounded by one
     * segment's scan). */
    uint64_t *bases;
    size_t n;
    if (evl__part_list(part->dir, &bases, &n) == 0) {
        bool rolling = n > 0 && bases[n - 1] > active;
        free(bases);
        if (rolling) {
            /* The roll before it may have left a seal pending, of a segment
             * this handle may know as sealed already (it rolled it), which
             * the rebuild would then skip. The ctl is trusted for that. */
            evl__part_finish_seal(part, true);
            evl__part_recover(part);
            return;
        }
    }
    if (evl__part_seg_at(part, active, &seg))
        return;
    uint64_t pos = atomic_load(&ctl->write_pos), dirty = atomic_load(&ctl->dirty_end);
    int64_t size = evl__seg_file_size(seg);
    uint64_t limit = EVL_MIN((uint64_t)(size > 0 ? size : 0), seg->max_bytes);
    /* write_pos is stored before next_offset: if the writer died between
     * the two, the frame ending at write_pos is not counted yet. */
    uint64_t lf = atomic_load(&ctl->last_frame_pos);
    evl_frame_t fr;
    if (lf >= EVL_SEG_HDR && lf < pos && pos <= limit) {
        uint32_t lfl = evl__frame_len_acquire(seg->map + lf);
        if (lfl != EVL_FRAME_EOF && lf + evl__frame_span(lfl) == pos &&
            evl__frame_check(seg->map + lf, lfl, pos - lf, seg->base, -1, true, &fr) == 0) {
            uint64_t want = evl__frame_next_offset(&fr);
            if (atomic_load(&ctl->next_offset) != want)
                atomic_store(&ctl->next_offset, want);
        }
    }
    uint32_t fl = pos + 4 <= limit ? evl__frame_len_acquire(seg->map + pos) : 0;
    if (fl == EVL_FRAME_EOF) {
        /* Died mid-roll after sealing: finish the switch. */
        evl__seg_unref(seg);
        evl__part_recover(part);
        return;
    }
    if (fl != 0 && pos + EVL_FRAME_EOF_BYTES <= limit &&
        evl__frame_check(seg->map + pos, fl, limit - pos - EVL_FRAME_EOF_BYTES, seg->base,
                         (int64_t)atomic_load(&ctl->next_offset), true, &fr) == 0) {
        /* It had published the frame: readers may have seen it, keep it. */
        if (fr.max_ts > atomic_load(&ctl->max_ts))
            atomic_store(&ctl->max_ts, fr.max_ts);
        atomic_store(&ctl->last_frame_pos, pos);
        atomic_store(&ctl->write_pos, pos + evl__frame_span(fl));
        atomic_store(&ctl->next_offset, evl__frame_next_offset(&fr));
        pos += evl__frame_span(fl);
    } else if (dirty > pos && dirty <= limit) {
        memset(seg->map + pos, 0, (size_t)(dirty - pos));
    }
    atomic_store(&ctl->dirty_end, atomic_load(&ctl->write_pos));
    /* An index entry for a frame that never got published must go. */
    uint64_t ic = evl__seg_idx_usable(seg, (uint32_t)atomic_load(&ctl->idx_count));
    if (ic < atomic_load(&ctl->idx_count))
        atomic_store(&ctl->idx_count, ic);
    if (ic > 0 && evl__seg_idx_pos(seg, ic - 1) >= atomic_load(&ctl->write_pos))
        atomic_store(&ctl->idx_count, ic - 1);
    evl__seg_unref(seg);
    /* The dead writer may have published a frame without noting it in the
     * producer table, or died halfway through noting it. */
    if (evl__part_pids_rebuild(part) < 0)
        evl__logf(part->env.lg, EVL_LOG_ERR, "%s/%d: rebuilding the producer table failed",
                  part->env.name, part->id);
}

/* The first frame of seg after p (up to end) whose header checks out with
 * a base offset above after: the resync of reader.c, unbounded. */
static bool intact_frame_after(const evl_seg_t *seg, uint64_t p, uint64_t end, uint64_t after)
{
    evl_frame_t fr;
    for (p += EVL_FRAME_ALIGN; p + EVL_FRAME_MIN <= end; p += EVL_FRAME_ALIGN) {
        const uint8_t *f = seg->map + p;
        uint32_t fl = evl__frame_len_acquire(f);
        if (fl < EVL_FRAME_MIN || fl == EVL_FRAME_EOF || p + fl > end)
            continue;
        if (evl__frame_head(f, fl, end - p, seg->base, true, &fr) == 0 && fr.base > after)
            return true;
    }
    return false;
}

int evl__part_cut_damaged_tail(evl_part_t *part)
{
    evl_ctl_t *ctl = part->ctl;
    evl_seg_t *seg;
    int rc = evl__part_seg_at(part, atomic_load(&ctl->active_base), &seg);
    if (rc)
        return rc;
    uint64_t wp = atomic_load(&ctl->write_pos), next = atomic_load(&ctl->next_offset);
    int64_t size = evl__seg_file_size(seg);
    if (!seg->writable || size < 0 || wp > (uint64_t)size || wp > seg->max_bytes) {
        evl__seg_unref(seg);
        return 0; /* not ours to cut, or a state recovery handles */
    }
    /* Walk the whole segment: an explicit repair may cost a scan. A frame
     * whose header is intact stays, whatever its records: readers skip a
     * damaged record and report it (record.h), losing only that one. */
    uint64_t p = EVL_SEG_HDR, off = seg->base, last = 0;
    evl_frame_t fr;
    while (p < wp) {
        uint32_t fl = evl__frame_len_acquire(seg->map + p);
        if (fl == 0 || fl == EVL_FRAME_EOF || p + evl__frame_span(fl) > wp ||
            evl__frame_head(seg->map + p, fl, wp - p, seg->base, true, &fr) != 0 ||
            fr.base != off)
            break;
        last = p;
        off = evl__frame_next_offset(&fr);
        p += evl__frame_span(fl);
    }
    if (p >= wp) {
        evl__seg_unref(seg);
        return 0;
    }
    if (intact_frame_after(seg, p, wp, off)) {
        evl__logf(part->env.lg, EVL_LOG_WARNING,
                  "%s/%d: corrupt data at offset %llu (segment %llu, position %llu) is followed "
                  "by intact records: not cut; readers skip it when sought past",
                  part->env.name, part->id, (unsigned long long)off,
                  (unsigned long long)seg->base, (unsigned long long)p);
        evl__seg_unref(seg);
        return 0;
    }
    /* Nothing readable follows: cut there. The segment's checkpoint, if it
     * vouched for data past the cut, is rewritten first and synced, so that
     * a later recovery never trusts the zeroed range. */
    evl_ckpt_t ck;
    if (evl__seg_ckpt_read(seg, &ck) && !(ck.flags & EVL_SEG_SEALED) && ck.pos > p) {
        uint32_t ic = evl__seg_idx_usable(seg, (uint32_t)atomic_load(&ctl->idx_count));
        while (ic > 0 && evl__seg_idx_pos(seg, ic - 1) >= p)
            ic--;
        evl_ckpt_t cut = {0, p, off, atomic_load(&ctl->max_ts), 0, EVL_MIN(ic, ck.idx_count)};
        evl__seg_ckpt_write(seg, &cut);
        if ((rc = evl__os_fdatasync(seg->fd)) < 0) {
            evl__seg_unref(seg);
            return rc;
        }
    }
    memset(seg->map + p, 0, (size_t)(wp - p));
    if ((rc = evl__os_fdatasync(seg->fd)) < 0) {
        evl__seg_unref(seg);
        return rc;
    }
    uint64_t ic = evl__seg_idx_usable(seg, (uint32_t)atomic_load(&ctl->idx_count));
    while (ic > 0 && evl__seg_idx_pos(seg, ic - 1) >= p)
        ic--;
    atomic_store(&ctl->idx_count, ic);
    if (atomic_load(&ctl->idx_synced) > ic)
        atomic_store(&ctl->idx_synced, ic);
    if (atomic_load(&ctl->last_idx_pos) >= p)
        atomic_store(&ctl->last_idx_pos,
                     ic ? evl__seg_idx_pos(seg, ic - 1) : EVL_SEG_HDR);
    atomic_store(&ctl->last_frame_pos, last);
    atomic_store(&ctl->dirty_end, p);
    atomic_store(&ctl->write_pos, p);
    atomic_store(&ctl->next_offset, off);
    atomic_fetch_add(&ctl->seg_epoch, 1);
    evl__part_stat_add(part, EVL_STAT_TRUNCATED_BYTES, (int64_t)(wp - p));
    evl__logf(part->env.lg, EVL_LOG_WARNING,
              "%s/%d: repair cut the corrupt tail: offsets %llu to %llu dropped (segment %llu, "
              "position %llu, %llu bytes)",
              part->env.name, part->id, (unsigned long long)off,
              (unsigned long long)next - 1, (unsigned long long)seg->base,
              (unsigned long long)p, (unsigned long long)(wp - p));
    evl__seg_unref(seg);
    return evl__part_pids_rebuild(part); /* the cut frames' batches go */
}
