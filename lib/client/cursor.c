/*
 * cursor.c - evl_cursor_t (eventlog/batch.h): batches and records of one
 * segment file, or of a partition's segments in turn, through record.h
 * and segment.h only: this file knows no byte layout of its own.
 *
 * A file cursor maps the .log (and its .idx) read-only at their size; a
 * partition cursor uses the partition's own mappings and reads each
 * segment up to what was published when it got there.
 */
#include "eventlog/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "partition.h"
#include "record.h"
#include "segment.h"
#include "topic.h"

struct evl_cursor {
    /* A file cursor's mappings. */
    uint8_t *fmap, *imap;
    uint64_t flen, ilen;
    uint64_t name_base;     /* the base offset its file name says */
    /* A partition cursor's partition, its segments and the current one. */
    evl_log_t *log;
    evl_part_t *part;
    evl_seg_t *seg;
    uint64_t *bases;
    size_t nbases, bi;
    /* The segment being read. */
    const uint8_t *data;    /* its mapping (header page first) */
    uint64_t limit;         /* bytes of it to read */
    uint64_t file_bytes;
    uint64_t pos;           /* the next batch */
    bool damaged;           /* the batch at pos failed: look past it */
    bool ended;             /* past an end marker (a file cursor stops) */
    /* The current batch. */
    bool in_batch;
    evl_frame_t fr;
    const uint8_t *rec;
    uint32_t rec_i;
    int64_t prev_delta;
    int64_t lost_first, lost_last;
    struct evl_record cur;
};

static void unmap_file(evl_cursor_t *c)
{
    if (c->fmap)
        munmap(c->fmap, (size_t)c->flen);
    if (c->imap)
        munmap(c->imap, (size_t)c->ilen);
    c->fmap = c->imap = NULL;
}

/* Map path read-only: 0, -ENOENT, or another negative errno. */
static int map_ro(const char *path, uint8_t **map, uint64_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = EVL_EINVAL;
    } else if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            rc = -errno;
        else
            *map = m, *len = (uint64_t)st.st_size;
    }
    close(fd);
    return rc;
}

static void set_segment(evl_cursor_t *c, const uint8_t *data, uint64_t limit, uint64_t file_bytes)
{
    c->data = data;
    c->limit = limit;
    c->file_bytes = file_bytes;
    c->pos = EVL_SEG_HDR;
    c->damaged = false;
    c->in_batch = false;
}

EVL_API int evl_cursor_open_file(const char *path, evl_cursor_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    size_t n = path ? strlen(path) : 0;
    if (n < 5 || n >= PATH_MAX)
        return EVL_EINVAL;
    bool is_idx = strcmp(path + n - 4, ".idx") == 0;
    char lpath[PATH_MAX], ipath[PATH_MAX];
    memcpy(lpath, path, n + 1);
    memcpy(ipath, path, n + 1);
    if (is_idx)
        memcpy(lpath + n - 4, ".log", 5);
    else if (strcmp(path + n - 4, ".log") == 0)
        memcpy(ipath + n - 4, ".idx", 5);
    else
        ipath[0] = 0;
    evl_cursor_t *c = evl__calloc(1, sizeof *c);
    if (!c)
        return EVL_ENOMEM;
    c->cur.partition = -1;
    const char *slash = strrchr(path, '/');
    c->name_base = strtoull(slash ? slash + 1 : path, NULL, 10);
    int rc = map_ro(lpath, &c->fmap, &c->flen);
    if (rc == -ENOENT && is_idx)
        rc = 0; /* an index alone */
    if (rc == 0 && ipath[0]) {
        int irc = map_ro(ipath, &c->imap, &c->ilen);
        if (irc != -ENOENT)
            rc = irc;
    }
    if (rc == 0 && !is_idx &&
        (!c->fmap || c->flen < EVL_SEG_HDR || !evl__seg_header_magic(c->fmap)))
        rc = EVL_ECORRUPT; /* empty, short, or not a segment */
    if (rc == 0 && !c->fmap && !c->imap)
        rc = -ENOENT;
    if (rc) {
        unmap_file(c);
        free(c);
        return rc;
    }
    if (c->fmap)
        set_segment(c, c->fmap, EVL_MIN(c->flen, evl__seg_header_max_bytes(c->fmap)), c->flen);
    *out = c;
    return 0;
}

/* Partition cursor: the bound of seg's published data. */
static uint64_t published(evl_cursor_t *c, evl_seg_t *seg)
{
    if (evl__part_seg_sealed(c->part, seg))
        return seg->end_pos + EVL_FRAME_EOF_BYTES;
    int64_t sz = evl__seg_file_size(seg);
    uint64_t lim = sz > 0 ? EVL_MIN((uint64_t)sz, seg->max_bytes) : 0;
    evl_ctl_t *ctl = c->part->ctl;
    if (atomic_load(&ctl->active_base) == seg->base)
        lim = EVL_MIN(lim, atomic_load_explicit(&ctl->write_pos, memory_order_acquire));
    return lim;
}

/* Partition cursor: move to the segment of index bi (0, or an error). */
static int enter_segment(evl_cursor_t *c)
{
    evl__seg_unref(c->seg);
    c->seg = NULL;
    c->data = NULL;
    while (c->bi < c->nbases) {
        int rc = evl__part_seg_at(c->part, c->bases[c->bi], &c->seg);
        if (rc == -ENOENT) { /* retention took it meanwhile */
            c->bi++;
            continue;
        }
        if (rc)
            return rc;
        int64_t sz = evl__seg_file_size(c->seg);
        set_segment(c, c->seg->map, published(c, c->seg), sz > 0 ? (uint64_t)sz : 0);
        return 0;
    }
    return 0;
}

EVL_API int evl_cursor_open(evl_log_t *log, const char *topic, int partition, evl_cursor_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log || !topic)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    evl_topic_t *t;
    evl_part_t *part;
    int rc = evl__topic_get(log, topic, &t);
    if (rc || (rc = evl__topic_part(t, partition, &part)))
        return rc;
    evl_cursor_t *c = evl__calloc(1, sizeof *c);
    if (!c)
        return EVL_ENOMEM;
    c->log = log;
    c->part = part;
    c->cur.topic = t->name;
    c->cur.partition = partition;
    evl__log_ref(log);
    if ((rc = evl__part_list(part->dir, &c->bases, &c->nbases)) ||
        (rc = enter_segment(c))) {
        evl_cursor_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

EVL_API void evl_cursor_close(evl_cursor_t *c)
{
    if (!c)
        return;
    unmap_file(c);
    evl__seg_unref(c->seg);
    free(c->bases);
    if (c->log)
        evl__log_unref(c->log);
    free(c);
}

static void batch_out(const evl_frame_t *f, uint64_t pos, evl_batch_t *b)
{
    *b = (evl_batch_t){
        .position = pos,
        .length = f->len,
        .next_position = pos + evl__frame_span(f->len),
        .base_offset = (int64_t)f->base,
        .last_offset = (int64_t)(f->base + f->last_delta),
        .record_count = f->count,
        .first_timestamp = f->base_ts,
        .max_timestamp = f->max_ts,
        .producer_id = f->producer_id,
        .producer_epoch = f->epoch,
        .base_sequence = f->base_seq,
        .flags = ((f->attrs & EVL_ATTR_TXN) ? EVL_BATCH_TRANSACTIONAL : 0u) |
                 ((f->attrs & EVL_ATTR_CONTROL) ? EVL_BATCH_CONTROL : 0u) |
                 ((f->attrs & EVL_ATTR_PRODUCER) ? EVL_BATCH_PRODUCER : 0u),
    };
}

/* After a damaged batch at c->pos: the next position whose batch header
 * checks out, or c->limit. */
static uint64_t next_intact(const evl_cursor_t *c, uint64_t seg_base)
{
    evl_frame_t f;
    for (uint64_t p = c->pos + EVL_FRAME_ALIGN; p + EVL_FRAME_MIN <= c->limit;
         p += EVL_FRAME_ALIGN) {
        uint32_t fl = evl__frame_len_acquire(c->data + p);
        if (fl == EVL_FRAME_EOF && p + EVL_FRAME_EOF_BYTES <= c->limit)
            return p;
        if (fl >= EVL_FRAME_MIN && fl != EVL_FRAME_EOF && p + fl <= c->limit &&
            evl__frame_head(c->data + p, fl, c->limit - p, seg_base, true, &f) == 0)
            return p;
    }
    return c->limit;
}

EVL_API int evl_cursor_next_batch(evl_cursor_t *c, evl_batch_t *out)
{
    if (!c || !out)
        return EVL_EINVAL;
    memset(out, 0, sizeof *out);
    out->producer_id = -1;
    if (c->in_batch) {
        c->pos += evl__frame_span(c->fr.len);
        c->in_batch = false;
    }
    for (;;) {
        if (!c->data || c->ended)
            return EVL_CURSOR_END;
        if (evl__seg_header_version(c->data) != EVL_SEG_VERSION)
            return EVL_EVERSION;
        uint64_t base = evl__seg_header_base(c->data);
        if (c->damaged) {
            c->pos = next_intact(c, base);
            c->damaged = false;
        }
        if (c->pos + 8 > c->limit)
            return EVL_CURSOR_END;
        const uint8_t *f = c->data + c->pos;
        uint32_t fl = evl__frame_len_acquire(f);
        if (fl == 0)
            return EVL_CURSOR_END;
        if (fl == EVL_FRAME_EOF) {
            if (c->pos + EVL_FRAME_EOF_BYTES > c->limit) {
                out->position = c->pos;
                c->damaged = true;
                return EVL_ECORRUPT;
            }
            out->position = c->pos;
            out->base_offset = (int64_t)evl__frame_eof_next(f);
            if (c->part) {
                c->bi++;
                int rc = enter_segment(c);
                if (rc)
                    return rc;
            } else {
                c->ended = true;
            }
            return EVL_CURSOR_SEGMENT_END;
        }
        if (c->pos + fl > c->limit ||
            evl__frame_head(f, fl, c->limit - c->pos, base, true, &c->fr) != 0) {
            out->position = c->pos;
            out->length = fl;
            c->damaged = true;
            return EVL_ECORRUPT;
        }
        batch_out(&c->fr, c->pos, out);
        c->in_batch = true;
        c->rec = f + c->fr.hdr_len;
        c->rec_i = 0;
        c->prev_delta = -1;
        return 0;
    }
}

EVL_API int evl_cursor_next_record(evl_cursor_t *c, const evl_record_t **rec)
{
    if (!c || !rec)
        return EVL_EINVAL;
    *rec = NULL;
    if (!c->in_batch || c->rec_i >= c->fr.count || c->rec >= c->fr.p + c->fr.len ||
        c->prev_delta >= (int64_t)c->fr.last_delta)
        return EVL_CURSOR_END;
    const uint8_t *r = c->rec;
    if (evl__rec_read(&c->fr, &r, c->prev_delta, true, &c->cur) == 0) {
        c->rec = r;
        c->rec_i++;
        c->prev_delta = c->cur.offset - (int64_t)c->fr.base;
        *rec = &c->cur;
        return 0;
    }
    /* Damaged: find the next record that checks out. */
    const uint8_t *nx = evl__rec_resync(&c->fr, c->rec, c->prev_delta);
    struct evl_record next;
    c->lost_first = (int64_t)c->fr.base + c->prev_delta + 1;
    c->lost_last = (int64_t)(c->fr.base + c->fr.last_delta);
    if (nx) {
        r = nx;
        evl__rec_read(&c->fr, &r, c->prev_delta, true, &next);
        c->lost_last = next.offset - 1;
        c->rec = nx;
        c->rec_i++;
        c->prev_delta = c->lost_last - (int64_t)c->fr.base;
    } else {
        c->rec_i = c->fr.count;
    }
    return EVL_ECORRUPT;
}

EVL_API void evl_cursor_lost(const evl_cursor_t *c, int64_t *first, int64_t *last)
{
    if (first)
        *first = c ? c->lost_first : -1;
    if (last)
        *last = c ? c->lost_last : -1;
}

EVL_API int evl_cursor_segment(const evl_cursor_t *c, evl_segment_info_t *out)
{
    if (!c || !out)
        return EVL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!c->data)
        return EVL_ENOTFOUND;
    const uint8_t *h = c->data;
    out->version = evl__seg_header_version(h);
    out->base_offset = (int64_t)evl__seg_header_base(h);
    out->max_bytes = evl__seg_header_max_bytes(h);
    out->created_ms = evl__seg_header_created_ms(h);
    out->header_ok = evl__seg_header_crc_ok(h);
    out->file_bytes = c->file_bytes;
    evl_ckpt_t ck;
    int slot;
    if (evl__seg_ckpt_of(h, evl__seg_header_base(h), out->max_bytes, &ck, &slot)) {
        out->has_checkpoint = 1;
        out->checkpoint_slot = slot;
        out->checkpoint_seq = ck.seq;
        out->checkpoint_pos = ck.pos;
        out->checkpoint_next_offset = (int64_t)ck.next_offset;
        out->checkpoint_max_ts = ck.max_ts;
        out->sealed = (ck.flags & EVL_SEG_SEALED) != 0;
        out->index_entries = ck.idx_count;
    }
    return 0;
}

EVL_API int evl_cursor_index_entry(const evl_cursor_t *c, uint32_t i, evl_index_entry_t *out)
{
    if (!c || !out)
        return EVL_EINVAL;
    if (!c->imap)
        return EVL_ESTATE;
    if ((uint64_t)i + 1 > c->ilen / EVL_IDX_ENTRY)
        return EVL_ENOTFOUND;
    uint32_t rel, pos;
    int64_t ts;
    evl__seg_idx_entry(c->imap, i, &rel, &pos, &ts);
    if (pos == 0)
        return EVL_ENOTFOUND; /* preallocated zeros: no entry points into the header */
    uint64_t base = c->fmap ? evl__seg_header_base(c->fmap) : c->name_base;
    out->offset = (int64_t)(base + rel);
    out->position = pos;
    out->max_ts_before = ts;
    return 0;
}
