/*
 * reader.c - evl_reader_t: reading one partition by offset or time, with
 * zero-copy views and futex waits.
 *
 * A reader follows frames by their published length words, so it needs no
 * lock and never reads what is not whole: a non-zero length word is
 * published with release order after the frame's bytes. Every frame is
 * checked (bounds and structure always, CRC-32C unless turned off) before a
 * record of it is returned; a frame that fails stops the reader with
 * EVL_ECORRUPT at that offset, and nothing invalid is returned.
 *
 * Reads stay below the file size the reader last saw (fstat again only when
 * a frame seems to cross it), so a damaged length can never make it touch
 * a page past the end of the file (which would be SIGBUS).
 *
 * Memory: as the reader moves on, the page-table entries of the part of the
 * segment it has passed are dropped every 16 MiB and when it leaves a
 * segment, so a scan of a large log keeps a bounded resident set (the page
 * cache is untouched): the window it reads and the next one, which the
 * log's prefault thread maps ahead of it (map_next_window).
 */
#include "reader.h"

#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mapahead.h"
#include "notify.h"
#include "os.h"

#define RSS_WINDOW (16u << 20)
#define MAP_AHEAD_MIN (1u << 20)

/* Drop what this reader mapped in its segment: up to where it is, and the
 * window mapped ahead of it (cancelled first, so that nothing is mapped
 * after the drop). */
static void reader_release(evl_reader_t *rd)
{
    if (rd->ahead)
        evl__mapahead_cancel(rd->log->mapahead, rd);
    uint64_t end = EVL_MAX(rd->pos, rd->ahead);
    if (rd->seg && end > rd->dropped_to)
        evl__os_dontneed(rd->seg->map + rd->dropped_to, (size_t)(end - rd->dropped_to));
    rd->ahead = 0;
}

static void reader_set_seg(evl_reader_t *rd, evl_seg_t *seg)
{
    if (rd->seg) {
        /* Leaving it: its pages would stay resident while the segment
         * stays in the cache. Views into it stay valid (a shared file
         * mapping refaults from the page cache). */
        reader_release(rd);
        if (rd->npins < EVL_READER_PINS)
            rd->pins[rd->npins++] = rd->seg;
        else
            evl__seg_unref(rd->seg); /* cannot happen within one batch */
    }
    rd->seg = seg;
    rd->fr.p = NULL;
    rd->dropped_to = EVL_SEG_HDR;
    rd->fast_end = 0; /* the first frame takes the general path */
    int64_t sz = evl__seg_file_size(seg);
    rd->known_size = sz > 0 ? EVL_MIN((uint64_t)sz, seg->max_bytes) : 0;
}

void evl__spin_init(evl_spin_t *sp, int64_t us)
{
    static _Atomic long ncpu;
    if (us < 0) {
        long n = atomic_load_explicit(&ncpu, memory_order_relaxed);
        if (n == 0) {
            n = sysconf(_SC_NPROCESSORS_ONLN);
            atomic_store_explicit(&ncpu, n, memory_order_relaxed);
        }
        us = n >= 2 ? EVL_SPIN_DEFAULT_US : 0;
    }
    *sp = (evl_spin_t){.ns = us * 1000};
}

void evl__reader_unpin(evl_reader_t *rd)
{
    for (int i = 0; i < rd->npins; i++)
        evl__seg_unref(rd->pins[i]);
    rd->npins = 0;
}

int evl__reader_open(evl_log_t *log, evl_topic_t *topic, int partition, evl_reader_t **out)
{
    *out = NULL;
    evl_part_t *part;
    int rc = evl__topic_part(topic, partition, &part);
    if (rc)
        return rc;
    evl_reader_t *rd = evl__calloc(1, sizeof *rd);
    if (!rd)
        return EVL_ENOMEM;
    rd->log = log;
    rd->topic = topic;
    rd->part = part;
    rd->check_crc = true;
    evl__spin_init(&rd->spin, -1);
    rd->cur.topic = topic->name;
    rd->cur.partition = partition;
    rc = evl_reader_seek(rd, EVL_OFFSET_BEGINNING);
    if (rc) {
        evl_reader_close(rd);
        return rc;
    }
    *out = rd;
    return 0;
}

EVL_API int evl_reader_open(evl_log_t *log, const char *topic, int partition,
                            evl_reader_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log || !topic)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    evl_topic_t *t;
    int rc = evl__topic_get(log, topic, &t);
    if (rc || (rc = evl__reader_open(log, t, partition, out)))
        return rc;
    (*out)->log_ref = true; /* a consumer's readers count as the consumer */
    evl__log_ref(log);
    return 0;
}

EVL_API void evl_reader_close(evl_reader_t *rd)
{
    if (!rd)
        return;
    reader_release(rd);
    evl__reader_unpin(rd);
    evl__seg_unref(rd->seg);
    evl__stat_add(rd->log, EVL_STAT_READ_RECORDS, rd->read_records);
    if (rd->log_ref)
        evl__log_unref(rd->log);
    free(rd);
}

EVL_API void evl_reader_set_check_crcs(evl_reader_t *rd, int on)
{
    if (rd)
        rd->check_crc = on != 0;
}

EVL_API void evl_reader_set_bound(evl_reader_t *rd, evl_bound_fn *fn, void *arg)
{
    if (!rd)
        return;
    rd->bound_fn = fn;
    rd->bound_arg = arg;
    rd->bound = UINT64_MAX;
}

EVL_API void evl_reader_set_spin_us(evl_reader_t *rd, int us)
{
    if (rd)
        evl__spin_init(&rd->spin, us < 0 ? -1 : EVL_MIN(us, 1000000));
}

EVL_API int64_t evl_reader_position(const evl_reader_t *rd)
{
    return rd ? (int64_t)rd->next : EVL_EINVAL;
}

/* Index entries usable in seg and the bound of its published data. */
static void seg_bounds(evl_reader_t *rd, evl_seg_t *seg, uint32_t *count, uint64_t *limit)
{
    evl_ctl_t *ctl = rd->part->ctl;
    if (evl__part_seg_sealed(rd->part, seg)) {
        *count = seg->idx_count;
        *limit = seg->end_pos;
        return;
    }
    *count = (uint32_t)atomic_load_explicit(&ctl->idx_count, memory_order_acquire);
    *limit = atomic_load_explicit(&ctl->write_pos, memory_order_acquire);
    if (atomic_load(&ctl->active_base) != seg->base) {
        /* Rolled by another handle, its seal not finished yet: the ctl
         * holds its end. Otherwise it rolled meanwhile: no index, and the
         * frames are followed from the start. */
        if (!evl__part_pending_end(rd->part, seg, count, limit)) {
            *count = 0;
            *limit = EVL_SEG_HDR;
        }
    }
}

/*
 * A reader that has read a whole window in order since it was positioned
 * and has more than a window of data ahead (a scan, not a reader at the
 * tail or a lookup) asks the prefault thread to map the next window while it
 * reads this one: mapping a page costs ~0.25 us on a VM, 10 ns a record
 * of 108 bytes, and is done on an idle core instead. At most one window
 * more is resident; on a busy machine the thread gets no CPU and the reader
 * maps its pages itself, as before.
 */
static void map_next_window(evl_reader_t *rd)
{
    if (!rd->scanning)
        return; /* before touching the lines every append writes */
    evl_seg_t *seg = rd->seg;
    uint64_t data_end = rd->known_size;
    if (atomic_load_explicit(&rd->part->ctl->active_base, memory_order_relaxed) == seg->base)
        data_end = EVL_MIN(data_end, atomic_load_explicit(&rd->part->ctl->write_pos,
                                                          memory_order_acquire));
    uint64_t from = EVL_MAX(rd->ahead, rd->dropped_to + RSS_WINDOW);
    uint64_t to = EVL_MIN(rd->dropped_to + 2 * RSS_WINDOW, data_end);
    if (to >= from + MAP_AHEAD_MIN) {
        evl__mapahead_ask(rd->log->mapahead, rd, seg, from, to - from);
        rd->ahead = to;
    }
}

/*
 * The reader's window on its segment, moved as it goes: page-table entries
 * behind it are dropped every RSS_WINDOW bytes, so a scan keeps a bounded
 * resident set. fast_end is where next_fast() has to come back here.
 */
static void reader_window(evl_reader_t *rd)
{
    if (rd->pos - rd->dropped_to >= RSS_WINDOW) {
        /* Up to a 2 MiB boundary: a huge page mapped by one entry is then
         * dropped whole instead of being split into 512 entries first. */
        uint64_t to = EVL_ALIGN_DOWN(rd->pos, EVL_HUGE_PAGE);
        evl__os_dontneed(rd->seg->map + rd->dropped_to, (size_t)(to - rd->dropped_to));
        rd->dropped_to = to;
        rd->scanning = true; /* a whole window read in order */
    }
    rd->fast_end = rd->known_size >= EVL_FRAME_MIN
                       ? EVL_MIN(rd->dropped_to + RSS_WINDOW, rd->known_size - EVL_FRAME_MIN + 1)
                       : 0;
    map_next_window(rd);
}

EVL_API int evl_reader_seek(evl_reader_t *rd, int64_t offset)
{
    if (!rd)
        return EVL_EINVAL;
    if (evl__log_closed(rd->log))
        return EVL_ESTATE;
    int64_t want = offset;
    evl_seg_t *seg;
    int rc;
    /* Retention (any thread or process) may delete the first segment
     * between the look at the log start and the open of its file: "the
     * beginning" then means the new start, so look again. */
    for (int tries = 0;; tries++) {
        uint64_t start = evl__part_start(rd->part), end = evl__part_end(rd->part);
        if (want == EVL_OFFSET_BEGINNING)
            offset = (int64_t)start;
        else if (want == EVL_OFFSET_END)
            offset = (int64_t)end;
        if (offset < (int64_t)start || offset > (int64_t)end)
            return EVL_EOFFSET;
        rc = evl__part_seg_for(rd->part, (uint64_t)offset, &seg);
        if (rc == 0)
            break;
        if (rc == -ENOENT)
            rc = EVL_EOFFSET;
        if (rc != EVL_EOFFSET || want != EVL_OFFSET_BEGINNING || tries == 8)
            return rc;
    }
    uint32_t count;
    uint64_t limit, pos, fbase;
    seg_bounds(rd, seg, &count, &limit);
    evl__seg_idx_find(seg, count, (uint64_t)offset, limit, &pos, &fbase);
    evl__reader_unpin(rd);
    reader_set_seg(rd, seg);
    evl__reader_unpin(rd);
    rd->pos = pos;
    /* Its window starts here, and nothing is mapped ahead of it until it
     * has read a whole window in order: a seek to read a few records must
     * not map (or read from disk) the 16 MiB after them. */
    rd->dropped_to = EVL_MAX((uint64_t)EVL_SEG_HDR, EVL_ALIGN_DOWN(pos, EVL_HUGE_PAGE));
    rd->scanning = false;
    rd->frame_next = fbase;
    rd->next = (uint64_t)offset;
    return 0;
}

/* Past a damaged frame, find the next intact one: a 4-aligned position
 * where a frame's header checks out (length, attributes, offset in
 * (damaged base, wanted offset], checksum). A false match would need a
 * CRC-32C collision on top of a plausible header. Bounded to RESYNC_MAX
 * bytes. */
#define RESYNC_MAX (4u << 20)
static bool resync(evl_reader_t *rd)
{
    const uint8_t *map = rd->seg->map;
    uint64_t end = EVL_MIN(rd->known_size, rd->pos + RESYNC_MAX);
    evl_frame_t fr;
    for (uint64_t p = rd->pos + EVL_FRAME_ALIGN; p + EVL_FRAME_MIN <= end; p += EVL_FRAME_ALIGN) {
        const uint8_t *f = map + p;
        uint32_t fl = evl__frame_len_acquire(f);
        if (fl < EVL_FRAME_MIN || fl == EVL_FRAME_EOF || p + fl > rd->known_size)
            continue;
        if (evl__frame_head(f, fl, rd->known_size - p, rd->seg->base, true, &fr) == 0 &&
            fr.base > rd->frame_next && fr.base <= rd->next) {
            evl__logf(&rd->log->lg, EVL_LOG_WARNING,
                      "%s/%d: skipped damaged data: offsets %llu to %llu are lost",
                      rd->topic->name, rd->part->id, (unsigned long long)rd->frame_next,
                      (unsigned long long)fr.base - 1);
            rd->pos = p;
            rd->frame_next = fr.base;
            return true;
        }
    }
    return false;
}

/*
 * The segment an end marker leads to (*next_base) is gone or unreadable
 * (a bad header: a stray file) although retention has not passed it:
 * damage. Move on to the next segment that opens, as recovery does when it
 * finds such a hole (it reseals the segment before it to jump it), and say
 * which offsets are lost. Without this a reader got EVL_EOFFSET at a
 * position the log still claims, and a consumer that sought to the
 * beginning, as that error asks, looped over the same records for ever.
 */
static int skip_missing(evl_reader_t *rd, uint64_t *next_base, int why, evl_seg_t **out)
{
    uint64_t *bases;
    size_t n;
    int rc = evl__part_list(rd->part->dir, &bases, &n);
    if (rc)
        return rc;
    rc = why;
    for (size_t i = 0; i < n && rc; i++) {
        if (bases[i] <= *next_base)
            continue;
        rc = evl__part_seg_at(rd->part, bases[i], out);
        if (rc == 0 || (rc != -ENOENT && rc != EVL_ECORRUPT)) {
            if (rc == 0) {
                evl__logf(&rd->log->lg, EVL_LOG_ERR,
                          "%s/%d: segment %llu is %s: offsets %llu to %llu are lost; reading "
                          "goes on at %llu", rd->topic->name, rd->part->id,
                          (unsigned long long)*next_base,
                          why == -ENOENT ? "missing" : "unreadable (bad header)",
                          (unsigned long long)*next_base, (unsigned long long)bases[i] - 1,
                          (unsigned long long)bases[i]);
                *next_base = bases[i];
            }
            break;
        }
    }
    free(bases);
    return rc;
}

/*
 * The segment an end marker leads to is gone because a compaction merged
 * it into an earlier one (compact.c): the segment that now holds next_base
 * starts before it. Go on there, at the first record at or after the
 * offset wanted, as a seek would, but keeping the pins of the records this
 * batch already returned (reader_set_seg). 0, or -ENOENT when that is not
 * the case (the file is missing for another reason).
 */
static int follow_compacted(evl_reader_t *rd, const evl_seg_t *old, uint64_t next_base)
{
    evl_seg_t *s;
    if (evl__part_seg_for(rd->part, next_base, &s))
        return -ENOENT;
    if (s == old || s->base >= next_base) {
        evl__seg_unref(s);
        return -ENOENT;
    }
    uint64_t want = EVL_MAX(rd->next, next_base), pos, fbase;
    uint32_t count;
    uint64_t limit;
    seg_bounds(rd, s, &count, &limit);
    evl__seg_idx_find(s, count, want, limit, &pos, &fbase);
    reader_set_seg(rd, s);
    rd->pos = pos;
    rd->dropped_to = EVL_MAX((uint64_t)EVL_SEG_HDR, EVL_ALIGN_DOWN(pos, EVL_HUGE_PAGE));
    rd->scanning = false;
    rd->frame_next = fbase;
    rd->next = want;
    return 0;
}

static inline void frame_done(evl_reader_t *rd);

/* Load the frame at rd->pos. 0: loaded; 1: nothing published yet;
 * negative: error. Crosses to the next segment at an end marker. */
static int load_frame(evl_reader_t *rd)
{
    for (;;) {
        evl_seg_t *seg = rd->seg;
        /* Overtaken by retention: its segment is deleted (the mapping
         * still reads), but the records are gone from the log. */
        if (EVL_UNLIKELY(rd->next < evl__part_start(rd->part)))
            return EVL_EOFFSET;
        if (rd->pos + EVL_FRAME_MIN > rd->known_size) {
            int64_t sz = evl__seg_file_size(seg);
            rd->known_size = sz > 0 ? EVL_MIN((uint64_t)sz, seg->max_bytes) : 0;
            if (rd->pos + 8 > rd->known_size)
                return 1;
        }
        const uint8_t *f = seg->map + rd->pos;
        uint32_t fl = evl__frame_len_acquire(f);
        if (fl == 0)
            return 1;
        if (fl == EVL_FRAME_EOF) {
            if (rd->pos + EVL_FRAME_EOF_BYTES > rd->known_size)
                return EVL_ECORRUPT;
            uint64_t next_base = evl__frame_eof_next(f);
            /* A marker must lead forward: one pointing at its own segment
             * (a hostile file) would loop here forever. */
            if (next_base < rd->frame_next || next_base <= seg->base)
                return EVL_ECORRUPT;
            evl_seg_t *nseg;
            int rc = evl__part_seg_at(rd->part, next_base, &nseg);
            if (rc == -ENOENT && next_base >= evl__part_start(rd->part) &&
                follow_compacted(rd, seg, next_base) == 0)
                continue;
            if ((rc == -ENOENT || rc == EVL_ECORRUPT) && next_base >= evl__part_start(rd->part))
                rc = skip_missing(rd, &next_base, rc, &nseg);
            if (rc)
                return rc == -ENOENT ? EVL_EOFFSET : rc;
            reader_set_seg(rd, nseg);
            rd->pos = EVL_SEG_HDR;
            rd->frame_next = next_base;
            if (rd->next < next_base) /* records lost to damage: a gap */
                rd->next = next_base;
            continue;
        }
        if (rd->pos + fl > rd->known_size) {
            int64_t sz = evl__seg_file_size(seg);
            rd->known_size = sz > 0 ? EVL_MIN((uint64_t)sz, seg->max_bytes) : 0;
        }
        if (rd->pos + fl > rd->known_size ||
            evl__frame_head(f, fl, rd->known_size - rd->pos, seg->base, rd->check_crc,
                            &rd->fr) != 0 ||
            rd->fr.base < rd->frame_next) {
            rd->fr.p = NULL;
            /* The caller sought past this frame: skip to the next intact one. */
            if (rd->next > rd->frame_next && resync(rd))
                continue;
            evl__logf(&rd->log->lg, EVL_LOG_ERR,
                      "%s/%d: frame at offset %llu (segment %llu, position %llu) is corrupt",
                      rd->topic->name, rd->part->id, (unsigned long long)rd->frame_next,
                      (unsigned long long)seg->base, (unsigned long long)rd->pos);
            return EVL_ECORRUPT;
        }
        if (EVL_UNLIKELY(rd->fr.attrs & EVL_ATTR_CONTROL)) {
            /* Control records (transaction markers) are the log's own
             * bookkeeping: never returned to applications. */
            frame_done(rd);
            continue;
        }
        rd->rec = f + rd->fr.hdr_len;
        rd->rec_i = 0;
        rd->prev_delta = -1;
        reader_window(rd);
        return 0;
    }
}

/* Records left in the loaded frame (a count, the frame's end and its last
 * offset each end it: after damage was skipped, rec_i may count short). */
static inline bool frame_more(const evl_reader_t *rd)
{
    return rd->rec_i < rd->fr.count && rd->rec < rd->fr.p + rd->fr.len &&
           rd->prev_delta < (int64_t)rd->fr.last_delta;
}

/* The loaded frame is read: move past it. */
static inline void frame_done(evl_reader_t *rd)
{
    rd->pos += evl__frame_span(rd->fr.len);
    rd->frame_next = evl__frame_next_offset(&rd->fr);
    rd->read_records += rd->fr.count;
    rd->fr.p = NULL;
}

/*
 * The record at rd->rec fails its checks. If the caller sought past the
 * first offset it can hold, skip to the next record of the frame that
 * checks out (saying which offsets are lost) and return 1; else report it
 * and return EVL_ECORRUPT, staying there: the caller decides (a seek past
 * it skips exactly what is damaged, record.h).
 */
static int damaged_record(evl_reader_t *rd)
{
    uint64_t first = rd->fr.base + (uint64_t)(rd->prev_delta + 1);
    const uint8_t *nx = NULL;
    struct evl_record tmp;
    if (rd->next > first && (nx = evl__rec_resync(&rd->fr, rd->rec, rd->prev_delta))) {
        const uint8_t *r = nx;
        evl__rec_read(&rd->fr, &r, rd->prev_delta, true, &tmp);
    }
    uint64_t last = nx ? (uint64_t)tmp.offset - 1 : rd->fr.base + rd->fr.last_delta;
    if (rd->next <= first) {
        evl__logf(&rd->log->lg, EVL_LOG_ERR,
                  "%s/%d: record at offset %llu (segment %llu, position %llu) is corrupt",
                  rd->topic->name, rd->part->id, (unsigned long long)first,
                  (unsigned long long)rd->seg->base,
                  (unsigned long long)(rd->rec - rd->seg->map));
        return EVL_ECORRUPT;
    }
    evl__logf(&rd->log->lg, EVL_LOG_WARNING,
              "%s/%d: skipped damaged data: offsets %llu to %llu are lost", rd->topic->name,
              rd->part->id, (unsigned long long)first, (unsigned long long)last);
    if (!nx) {
        rd->rec_i = rd->fr.count;
        return 1;
    }
    rd->rec = nx;
    rd->rec_i++;
    rd->prev_delta = (int64_t)(last - rd->fr.base);
    return 1;
}

/* Next record from the loaded frame: 0 with *out set, 1 when the frame is
 * used up (or none is loaded), 2 when the next record is past the reader's
 * bound, EVL_ECORRUPT for a damaged record the caller has not sought past
 * (damaged_record). */
static int take(evl_reader_t *rd, const evl_record_t **out)
{
    while (rd->fr.p && frame_more(rd)) {
        const uint8_t *r = rd->rec;
        if (evl__rec_read(&rd->fr, &r, rd->prev_delta, rd->check_crc, &rd->cur) != 0) {
            int rc = damaged_record(rd);
            if (rc < 0)
                return rc;
            continue;
        }
        if (EVL_UNLIKELY(rd->bound_fn) && (uint64_t)rd->cur.offset >= rd->bound)
            return 2; /* not visible yet (evl_reader_set_bound): stays next */
        rd->rec = r;
        rd->rec_i++;
        rd->prev_delta = rd->cur.offset - (int64_t)rd->fr.base;
        if ((uint64_t)rd->cur.offset < rd->next)
            continue; /* before the sought offset */
        rd->next = (uint64_t)rd->cur.offset + 1;
        *out = &rd->cur;
        return 0;
    }
    if (rd->fr.p)
        frame_done(rd);
    return 1;
}

bool evl__reader_ready(evl_reader_t *rd)
{
    if (EVL_UNLIKELY(rd->bound_fn))
        rd->bound = rd->bound_fn(rd->bound_arg, rd->topic->name, rd->part->id);
    if (rd->fr.p && frame_more(rd) && !rd->bound_fn)
        return true;
    const evl_record_t *r;
    int rc = take(rd, &r);
    if (rc <= 0) /* a record (cannot happen here) or an error */
        return true;
    return rc == 1 && load_frame(rd) == 0;
}

/*
 * The common case of a scan, kept short: the next record of the loaded
 * frame, or the first record of the frame right after it when that one is
 * published, inside the part of the file already known, and passes its
 * checks. Everything else (nothing new, segment ends, the RSS window, a
 * seek into the middle of a frame, damage) returns false with the reader in
 * a state the general path below continues from.
 */
static inline bool next_fast(evl_reader_t *rd, const evl_record_t **out)
{
    const uint8_t *r;
    if (rd->fr.p) {
        if (rd->rec_i < rd->fr.count) {
            r = rd->rec; /* past the frame's end or last offset: rec_read fails */
            if (evl__rec_read(&rd->fr, &r, rd->prev_delta, rd->check_crc, &rd->cur) != 0 ||
                (uint64_t)rd->cur.offset < rd->next)
                return false; /* the general path reads it again */
            goto found;
        }
        frame_done(rd);
    }
    uint64_t pos = rd->pos;
    if (pos >= rd->fast_end || rd->next > rd->frame_next ||
        EVL_UNLIKELY(rd->next < evl__part_start(rd->part)))
        return false;
    const uint8_t *f = rd->seg->map + pos;
    uint32_t fl = evl__frame_len_acquire(f);
    if (fl == 0 || fl == EVL_FRAME_EOF || pos + fl > rd->known_size ||
        evl__frame_head(f, fl, rd->known_size - pos, rd->seg->base, rd->check_crc, &rd->fr) != 0)
        return (rd->fr.p = NULL), false;
    if (rd->fr.base < rd->frame_next || (rd->fr.attrs & EVL_ATTR_CONTROL))
        return (rd->fr.p = NULL), false; /* the general path reports or skips it */
    rd->rec = f + rd->fr.hdr_len;
    rd->rec_i = 0;
    rd->prev_delta = -1;
    r = rd->rec;
    if (evl__rec_read(&rd->fr, &r, -1, rd->check_crc, &rd->cur) != 0)
        return false;
found:
    rd->rec = r;
    rd->rec_i++;
    rd->prev_delta = rd->cur.offset - (int64_t)rd->fr.base;
    rd->next = (uint64_t)rd->cur.offset + 1;
    *out = &rd->cur;
    return true;
}

static __attribute__((noinline)) int next_slow(evl_reader_t *rd, int64_t timeout_ns, const evl_record_t **out)
{
    *out = NULL;
    /* Checked here, off the fast path: views of a frame already loaded stay
     * valid (the log is not freed while the reader is open). */
    if (evl__log_closed(rd->log))
        return EVL_ESTATE;
    int64_t deadline = timeout_ns > 0 ? evl_mono_ns() + timeout_ns : 0;
    evl_ctl_t *ctl = rd->part->ctl;
    bool spun = false;
    for (;;) {
        /* Noted before looking, for the spin below (not when polling: a
         * load of a line every append writes would slow the writer). */
        uint64_t seen = timeout_ns ? atomic_load_explicit(&ctl->next_offset,
                                                          memory_order_relaxed) : 0;
        if (EVL_UNLIKELY(rd->bound_fn))
            rd->bound = rd->bound_fn(rd->bound_arg, rd->topic->name, rd->part->id);
        int rc = take(rd, out);
        if (rc <= 0)
            return rc;
        rc = rc == 2 ? 1 : load_frame(rd);
        if (rc == 0)
            continue;
        if (rc < 0)
            return rc;
        if (timeout_ns == 0)
            return EVL_ETIMEDOUT;
        /* Spin briefly first (spin.h): an append changes next_offset. */
        if (!spun) {
            spun = true;
            _Atomic uint64_t *word = &ctl->next_offset;
            if (evl__spin_wanted(&rd->spin) && evl__spin(&rd->spin, &word, &seen, 1, deadline))
                continue;
        }
        /* Count ourselves in, then look again (notify.h). */
        uint32_t seq = evl__notify_begin(ctl);
        rc = rd->fr.p && rd->bound_fn ? 1 : load_frame(rd);
        if (rc == 1) {
            int64_t left = -1;
            if (timeout_ns > 0) {
                left = deadline - evl_mono_ns();
                if (left <= 0) {
                    evl__notify_end(ctl);
                    return EVL_ETIMEDOUT;
                }
            }
            evl__stat_add(rd->log, EVL_STAT_READ_SLEEPS, 1);
            evl__notify_sleep(ctl, seq, left);
        }
        evl__notify_end(ctl);
        if (rc < 0)
            return rc;
    }
}

int evl__reader_next(evl_reader_t *rd, int64_t timeout_ns, const evl_record_t **out)
{
    if (EVL_LIKELY(!rd->bound_fn) && next_fast(rd, out))
        return 0;
    return next_slow(rd, timeout_ns, out);
}

EVL_API int evl_reader_next(evl_reader_t *rd, int timeout_ms, const evl_record_t **rec)
{
    if (!rd || !rec)
        return EVL_EINVAL;
    if (__builtin_expect(rd->npins != 0, 0))
        evl__reader_unpin(rd);
    if (EVL_LIKELY(!rd->bound_fn) && next_fast(rd, rec))
        return 0;
    return next_slow(rd, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000, rec);
}

/* First record with timestamp >= ts at or after (seg, pos); sets *offset.
 * A damaged record is passed over (its timestamp is unknown). */
static bool scan_time(evl_seg_t *seg, uint64_t pos, uint64_t limit, int64_t ts,
                      uint64_t *offset)
{
    evl_frame_t fr;
    struct evl_record rec;
    while (pos + EVL_FRAME_MIN <= limit) {
        const uint8_t *f = seg->map + pos;
        uint32_t fl = evl__frame_len_acquire(f);
        if (fl == 0 || fl == EVL_FRAME_EOF || pos + fl > limit ||
            evl__frame_head(f, fl, limit - pos, seg->base, false, &fr) != 0)
            return false;
        if (fr.max_ts >= ts) {
            const uint8_t *r = f + fr.hdr_len;
            int64_t prev = -1;
            for (uint32_t i = 0; i < fr.count && r; i++) {
                if (evl__rec_read(&fr, &r, prev, false, &rec) != 0) {
                    r = evl__rec_resync(&fr, r, prev);
                    continue;
                }
                prev = rec.offset - (int64_t)fr.base;
                if (rec.timestamp >= ts) {
                    *offset = (uint64_t)rec.offset;
                    return true;
                }
            }
        }
        pos += evl__frame_span(fl);
    }
    return false;
}

EVL_API int evl_reader_seek_time(evl_reader_t *rd, int64_t ts)
{
    if (!rd)
        return EVL_EINVAL;
    if (evl__log_closed(rd->log))
        return EVL_ESTATE;
    uint64_t *bases;
    size_t n;
    int rc = evl__part_list(rd->part->dir, &bases, &n);
    if (rc)
        return rc;
    uint64_t start = evl__part_start(rd->part);
    for (size_t i = 0; i < n; i++) {
        if (bases[i] < start && i + 1 < n && bases[i + 1] <= start)
            continue;
        evl_seg_t *seg;
        if (evl__part_seg_at(rd->part, bases[i], &seg))
            continue;
        uint32_t count;
        uint64_t limit, pos, fbase, off;
        seg_bounds(rd, seg, &count, &limit);
        int64_t max_ts = seg->sealed ? seg->max_ts : atomic_load(&rd->part->ctl->max_ts);
        bool found = false;
        if (max_ts >= ts) {
            evl__seg_idx_find_time(seg, count, ts, limit, &pos, &fbase);
            found = scan_time(seg, pos, limit, ts, &off);
            (void)fbase;
        }
        evl__seg_unref(seg);
        if (found) {
            free(bases);
            return evl_reader_seek(rd, (int64_t)(off < start ? start : off));
        }
    }
    free(bases);
    return evl_reader_seek(rd, EVL_OFFSET_END);
}
