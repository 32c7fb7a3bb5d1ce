/*
 * segment.c - segment files: creation, opening, checkpoints, sealing and the
 * sparse index (layouts in segment.h).
 */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "os.h"
#include "record.h"

static const char seg_magic[8] = {'E', 'V', 'L', 'S', 'E', 'G', '1', 0};

void evl__seg_path(char *buf, size_t size, const char *dir, uint64_t base,
                   const char *ext)
{
    snprintf(buf, size, "%s/%020llu.%s", dir, (unsigned long long)base, ext);
}

static void seg_free(evl_seg_t *seg)
{
    if (!seg)
        return;
    evl__os_munmap(seg->map, seg->max_bytes);
    evl__os_munmap(seg->idx, seg->idx_cap * EVL_IDX_ENTRY);
    if (seg->fd >= 0)
        close(seg->fd);
    if (seg->idx_fd >= 0)
        close(seg->idx_fd);
    free(seg);
}

void evl__seg_ref(evl_seg_t *seg) { atomic_fetch_add(&seg->refs, 1); }

void evl__seg_unref(evl_seg_t *seg)
{
    if (seg && atomic_fetch_sub(&seg->refs, 1) == 1)
        seg_free(seg);
}

int64_t evl__seg_file_size(const evl_seg_t *seg)
{
    struct stat st;
    if (fstat(seg->fd, &st) < 0)
        return -errno;
    return st.st_size;
}

static int ckpt_parse(const uint8_t *s, evl_ckpt_t *ck)
{
    if (evl_ld32(s + 40) != evl__crc32c(0, s, 40))
        return -1;
    ck->seq = evl_ld64(s);
    ck->pos = evl_ld64(s + 8);
    ck->next_offset = evl_ld64(s + 16);
    ck->max_ts = (int64_t)evl_ld64(s + 24);
    ck->flags = evl_ld32(s + 32);
    ck->idx_count = evl_ld32(s + 36);
    return ck->seq == 0 ? -1 : 0;
}

bool evl__seg_header_crc_ok(const uint8_t *h)
{
    return evl_ld32(h + 40) == evl__crc32c(0, h, 40);
}

bool evl__seg_ckpt_of(const uint8_t *page, uint64_t base, uint64_t max_bytes, evl_ckpt_t *out,
                      int *slot)
{
    evl_ckpt_t a, b;
    bool va = ckpt_parse(page + 64, &a) == 0;
    bool vb = ckpt_parse(page + 128, &b) == 0;
    /* A slot must describe a plausible state of this segment. */
    if (va && (a.pos < EVL_SEG_HDR || a.pos > max_bytes || a.pos % EVL_FRAME_ALIGN ||
               a.next_offset < base))
        va = false;
    if (vb && (b.pos < EVL_SEG_HDR || b.pos > max_bytes || b.pos % EVL_FRAME_ALIGN ||
               b.next_offset < base))
        vb = false;
    if (!va && !vb)
        return false;
    bool first = va && (!vb || a.seq > b.seq);
    *out = first ? a : b;
    if (slot)
        *slot = first ? 0 : 1;
    return true;
}

bool evl__seg_ckpt_read(const evl_seg_t *seg, evl_ckpt_t *out)
{
    return evl__seg_ckpt_of(seg->map, seg->base, seg->max_bytes, out, NULL);
}

void evl__seg_ckpt_write(evl_seg_t *seg, const evl_ckpt_t *ck)
{
    evl_ckpt_t cur;
    uint64_t seq = evl__seg_ckpt_read(seg, &cur) ? cur.seq + 1 : 1;
    uint8_t *s = seg->map + 64 + (seq & 1) * 64;
    uint8_t tmp[64] = {0};
    evl_st64(tmp, seq);
    evl_st64(tmp + 8, ck->pos);
    evl_st64(tmp + 16, ck->next_offset);
    evl_st64(tmp + 24, (uint64_t)ck->max_ts);
    evl_st32(tmp + 32, ck->flags);
    evl_st32(tmp + 36, ck->idx_count);
    evl_st32(tmp + 40, evl__crc32c(0, tmp, 40));
    memcpy(s, tmp, 64);
}

static int map_files(evl_seg_t *seg, bool writable)
{
    int rc = evl__os_mmap(seg->fd, seg->max_bytes, writable, (void **)&seg->map);
    if (rc == 0 && seg->idx_fd >= 0)
        rc = evl__os_mmap(seg->idx_fd, seg->idx_cap * EVL_IDX_ENTRY, writable,
                          (void **)&seg->idx);
    return rc;
}

static evl_seg_t *seg_new(uint64_t base, uint64_t max_bytes, uint64_t idx_cap)
{
    evl_seg_t *seg = evl__calloc(1, sizeof *seg);
    if (!seg)
        return NULL;
    seg->base = base;
    seg->max_bytes = max_bytes;
    seg->idx_cap = idx_cap;
    seg->fd = seg->idx_fd = -1;
    atomic_init(&seg->refs, 1);
    return seg;
}

int evl__seg_create(const char *dir, uint64_t base, uint64_t max_bytes,
                    uint64_t idx_cap, uint64_t initial_alloc, int64_t now_ms,
                    evl_seg_t **out)
{
    char path[PATH_MAX], tmp[PATH_MAX], ipath[PATH_MAX], itmp[PATH_MAX];
    *out = NULL;
    evl__seg_path(path, sizeof path, dir, base, "log");
    evl__seg_path(ipath, sizeof ipath, dir, base, "idx");
    evl__seg_path(tmp, sizeof tmp, dir, base, "log.tmp");
    evl__seg_path(itmp, sizeof itmp, dir, base, "idx.tmp");
    evl_seg_t *seg = seg_new(base, max_bytes, idx_cap);
    if (!seg)
        return EVL_ENOMEM;
    int rc;
    uint8_t hdr[EVL_SEG_HDR] = {0};
    memcpy(hdr, seg_magic, 8);
    evl_st32(hdr + 8, EVL_SEG_VERSION);
    evl_st32(hdr + 12, EVL_SEG_HDR);
    evl_st64(hdr + 16, base);
    evl_st64(hdr + 24, max_bytes);
    evl_st64(hdr + 32, (uint64_t)now_ms);
    evl_st32(hdr + 40, evl__crc32c(0, hdr, 40));

    seg->fd = rc = evl__os_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (rc < 0)
        goto fail;
    seg->idx_fd = rc = evl__os_open(itmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (rc < 0)
        goto fail;
    if ((rc = evl__os_allocate(seg->fd, 0, EVL_MIN(initial_alloc, max_bytes))) < 0 ||
        (rc = evl__os_pwrite(seg->fd, hdr, sizeof hdr, 0)) < 0 ||
        (rc = evl__os_allocate(seg->idx_fd, 0, EVL_IDX_STEP_MIN)) < 0 ||
        (rc = evl__os_fdatasync(seg->fd)) < 0 ||
        (rc = evl__os_fdatasync(seg->idx_fd)) < 0)
        goto fail;
    /* The index goes first: a .log whose .idx is missing is still readable
     * (the index is rebuilt), while the reverse would leave an orphan. */
    if ((rc = evl__os_rename(itmp, ipath)) < 0 || (rc = evl__os_rename(tmp, path)) < 0)
        goto fail;
    if ((rc = evl__os_fsync_dir(dir)) < 0)
        goto fail_named;
    seg->writable = true;
    struct stat st;
    if (fstat(seg->fd, &st) == 0)
        seg->ino = (uint64_t)st.st_ino;
    if ((rc = map_files(seg, true)) < 0)
        goto fail_named;
    *out = seg;
    return 0;
fail:
    unlink(tmp);
    unlink(itmp);
    seg_free(seg);
    return rc;
fail_named:
    unlink(path);
    unlink(ipath);
    seg_free(seg);
    return rc;
}

int evl__seg_open(const char *dir, uint64_t base, uint64_t max_bytes,
                  uint64_t idx_cap, bool writable, evl_seg_t **out)
{
    char path[PATH_MAX];
    *out = NULL;
    evl_seg_t *seg = seg_new(base, max_bytes, idx_cap);
    if (!seg)
        return EVL_ENOMEM;
    int rc;
    evl__seg_path(path, sizeof path, dir, base, "log");
    seg->fd = evl__os_open(path, writable ? O_RDWR : O_RDONLY, 0);
    if (seg->fd == -EACCES || seg->fd == -EROFS) {
        writable = false;
        seg->fd = evl__os_open(path, O_RDONLY, 0);
    }
    if (seg->fd < 0) {
        rc = seg->fd;
        goto fail;
    }
    struct stat st;
    if (fstat(seg->fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((uint64_t)st.st_size < EVL_SEG_HDR) {
        rc = EVL_ECORRUPT;
        goto fail;
    }
    seg->ino = (uint64_t)st.st_ino;
    evl__seg_path(path, sizeof path, dir, base, "idx");
    seg->idx_fd = evl__os_open(path, writable ? O_RDWR : O_RDONLY, 0);
    if (seg->idx_fd < 0 && writable) {
        /* A missing index is rebuilt by the caller; make an empty one. */
        seg->idx_fd = evl__os_open(path, O_RDWR | O_CREAT, 0644);
        if (seg->idx_fd >= 0 && (rc = evl__os_allocate(seg->idx_fd, 0, EVL_IDX_STEP_MIN)) < 0)
            goto fail;
    }
    seg->writable = writable;
    if ((rc = map_files(seg, writable)) < 0)
        goto fail;
    const uint8_t *h = seg->map;
    if (memcmp(h, seg_magic, 6) != 0) {
        rc = EVL_ECORRUPT;
        goto fail;
    }
    /* The header's checksum first: a damaged header is corruption, even
     * where its version field reads as another format's. */
    if (memcmp(h, seg_magic, 8) == 0 && !evl__seg_header_crc_ok(h)) {
        rc = EVL_ECORRUPT;
        goto fail;
    }
    if (memcmp(h, seg_magic, 8) != 0 || evl_ld32(h + 8) != EVL_SEG_VERSION) {
        rc = EVL_EVERSION;
        goto fail;
    }
    if (evl_ld64(h + 16) != base || evl_ld32(h + 12) != EVL_SEG_HDR) {
        rc = EVL_ECORRUPT;
        goto fail;
    }
    evl_ckpt_t ck;
    if (evl__seg_ckpt_read(seg, &ck) && (ck.flags & EVL_SEG_SEALED) &&
        ck.next_offset > base && /* sealed segments hold records */
        ck.pos + EVL_FRAME_EOF_BYTES <= (uint64_t)st.st_size &&
        evl__frame_len_acquire(seg->map + ck.pos) == EVL_FRAME_EOF) {
        seg->sealed = true;
        seg->end_pos = ck.pos;
        seg->end_offset = ck.next_offset;
        seg->max_ts = ck.max_ts;
        seg->file_bytes = (uint64_t)st.st_size;
        seg->idx_count = ck.idx_count;
        if (seg->idx_fd >= 0) {
            struct stat ist;
            if (fstat(seg->idx_fd, &ist) < 0 ||
                (uint64_t)ist.st_size < (uint64_t)ck.idx_count * EVL_IDX_ENTRY)
                seg->idx_count = 0; /* index shorter than claimed: don't use it */
        } else {
            seg->idx_count = 0;
        }
    }
    *out = seg;
    return 0;
fail:
    seg_free(seg);
    return rc;
}

/* Make room in the .idx file for entry n: the file grows in steps as the
 * segment does, so a small partition costs a page of index, not the
 * largest index its segment size could need. Another handle may have
 * grown it already (fstat). -errno on failure (the entry is then skipped:
 * the index is a hint, and a missing entry costs a scan). */
/* Record that [0, bytes) of the .idx file is allocated. */
static void idx_known(evl_seg_t *seg, uint64_t bytes)
{
    uint64_t cur = atomic_load_explicit(&seg->idx_bytes, memory_order_relaxed);
    while (cur < bytes && !atomic_compare_exchange_weak(&seg->idx_bytes, &cur, bytes))
        ;
}

/* The .idx bytes allocated, refreshed from the file when fewer than need
 * are known (another handle or thread may have grown it). */
static uint64_t idx_have(evl_seg_t *seg, uint64_t need)
{
    uint64_t have = atomic_load_explicit(&seg->idx_bytes, memory_order_relaxed);
    struct stat st;
    if (have < need && fstat(seg->idx_fd, &st) == 0) {
        idx_known(seg, (uint64_t)st.st_size);
        have = atomic_load_explicit(&seg->idx_bytes, memory_order_relaxed);
    }
    return have;
}

/* Make room in the .idx file for entry n: the file grows in steps as the
 * segment does, so a small partition costs a page of index, not the
 * largest index its segment size could need. -errno on failure (the entry
 * is then skipped: the index is a hint, and a missing entry costs a scan). */
static int idx_room(evl_seg_t *seg, uint32_t n)
{
    uint64_t need = ((uint64_t)n + 1) * EVL_IDX_ENTRY, have = idx_have(seg, need);
    if (need <= have)
        return 0;
    uint64_t step = EVL_MIN(EVL_MAX(have, (uint64_t)EVL_IDX_STEP_MIN), (uint64_t)EVL_IDX_STEP_MAX);
    uint64_t want = EVL_MIN(EVL_ALIGN_UP(EVL_MAX(need, have + step), EVL_IDX_STEP_MIN),
                            seg->idx_cap * EVL_IDX_ENTRY);
    int rc = evl__os_allocate(seg->idx_fd, have, want - have);
    if (rc == 0)
        idx_known(seg, want);
    return rc;
}

uint64_t evl__seg_idx_shortfall(evl_seg_t *seg, uint64_t log_end, uint64_t interval)
{
    if (seg->idx_fd < 0 || !seg->writable)
        return 0;
    uint64_t entries = (log_end > EVL_SEG_HDR ? (log_end - EVL_SEG_HDR) / interval : 0) + 2;
    uint64_t want = EVL_MIN(EVL_ALIGN_UP(entries * EVL_IDX_ENTRY, EVL_IDX_STEP_MIN),
                            EVL_ALIGN_UP(seg->idx_cap * EVL_IDX_ENTRY, EVL_IDX_STEP_MIN));
    uint64_t have = idx_have(seg, want);
    return want > have ? want - have : 0;
}

int evl__seg_idx_extend(evl_seg_t *seg, uint64_t add)
{
    if (add == 0)
        return 0;
    /* From the start: the range is idempotent to allocate, and another
     * thread may have grown the file meanwhile. */
    uint64_t to = atomic_load_explicit(&seg->idx_bytes, memory_order_relaxed) + add;
    int rc = evl__os_allocate(seg->idx_fd, 0, to);
    if (rc == 0)
        idx_known(seg, to);
    return rc;
}

int evl__seg_idx_put(evl_seg_t *seg, uint32_t n, uint32_t rel, uint32_t pos,
                     int64_t max_ts_before)
{
    if (!seg->idx || n >= seg->idx_cap || !seg->writable || seg->idx_fd < 0 || idx_room(seg, n))
        return -1;
    uint8_t *e = seg->idx + (uint64_t)n * EVL_IDX_ENTRY;
    evl_st32(e, rel);
    evl_st32(e + 4, pos);
    evl_st64(e + 8, (uint64_t)max_ts_before);
    return 0;
}

/* An entry is usable if it points at a published frame with its offset. */
static bool entry_ok(const evl_seg_t *seg, const uint8_t *e, uint64_t limit)
{
    uint64_t pos = evl_ld32(e + 4);
    evl_frame_t f;
    if (pos < EVL_SEG_HDR || pos % EVL_FRAME_ALIGN || pos + EVL_FRAME_MIN > limit)
        return false;
    uint32_t fl = evl__frame_len_acquire(seg->map + pos);
    if (fl == 0 || fl == EVL_FRAME_EOF || pos + fl > limit ||
        evl__frame_head(seg->map + pos, fl, limit - pos, seg->base, false, &f) != 0)
        return false;
    return f.base == seg->base + evl_ld32(e);
}

static void idx_pick(const evl_seg_t *seg, int64_t i, uint64_t limit,
                     uint64_t *pos, uint64_t *frame_base)
{
    /* Step back past entries that do not check out (at most a few). */
    for (int tries = 0; i >= 0 && tries < 4; i--, tries++) {
        const uint8_t *e = seg->idx + (uint64_t)i * EVL_IDX_ENTRY;
        if (entry_ok(seg, e, limit)) {
            *pos = evl_ld32(e + 4);
            *frame_base = seg->base + evl_ld32(e);
            return;
        }
    }
    *pos = EVL_SEG_HDR;
    *frame_base = seg->base;
}

uint32_t evl__seg_idx_usable(const evl_seg_t *seg, uint32_t count)
{
    if (!seg->idx || seg->idx_fd < 0)
        return 0;
    uint64_t need = (uint64_t)count * EVL_IDX_ENTRY;
    /* The known size is a cache: refreshing it through a const handle only
     * raises it to what the file holds. */
    uint64_t have = idx_have((evl_seg_t *)seg, need);
    return need <= have ? count : (uint32_t)(have / EVL_IDX_ENTRY);
}

void evl__seg_idx_find(const evl_seg_t *seg, uint32_t count, uint64_t offset,
                       uint64_t limit, uint64_t *pos, uint64_t *frame_base)
{
    count = evl__seg_idx_usable(seg, count);
    int64_t lo = 0, hi = (int64_t)EVL_MIN((uint64_t)count, seg->idx_cap) - 1, best = -1;
    if (!seg->idx)
        hi = -1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        uint64_t rel = evl_ld32(seg->idx + (uint64_t)mid * EVL_IDX_ENTRY);
        if (seg->base + rel <= offset) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    idx_pick(seg, best, limit, pos, frame_base);
}

void evl__seg_idx_find_time(const evl_seg_t *seg, uint32_t count, int64_t ts,
                            uint64_t limit, uint64_t *pos, uint64_t *frame_base)
{
    count = evl__seg_idx_usable(seg, count);
    int64_t lo = 0, hi = (int64_t)EVL_MIN((uint64_t)count, seg->idx_cap) - 1, best = -1;
    if (!seg->idx)
        hi = -1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t t = (int64_t)evl_ld64(seg->idx + (uint64_t)mid * EVL_IDX_ENTRY + 8);
        if (t < ts) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    idx_pick(seg, best, limit, pos, frame_base);
}

void evl__seg_mark_end(evl_seg_t *seg, uint64_t pos, uint64_t next_offset)
{
    evl__frame_eof_put(seg->map + pos, next_offset);
    evl__frame_publish(seg->map + pos, EVL_FRAME_EOF);
}

int evl__seg_sync_end(evl_seg_t *seg, uint64_t pos, uint32_t idx_count)
{
    int rc;
    if ((rc = evl__os_fdatasync(seg->fd)) < 0)
        return rc;
    /* Trim the preallocated tail: the sealed file holds exactly its data. */
    if ((rc = evl__os_ftruncate(seg->fd, pos + EVL_FRAME_EOF_BYTES)) < 0)
        return rc;
    if (seg->idx_fd >= 0) {
        if ((rc = evl__os_ftruncate(seg->idx_fd, (uint64_t)idx_count * EVL_IDX_ENTRY)) < 0 ||
            (rc = evl__os_fdatasync(seg->idx_fd)) < 0)
            return rc;
    }
    return 0;
}

void evl__seg_ckpt_sealed(evl_seg_t *seg, uint64_t pos, uint64_t next_offset, int64_t max_ts,
                          uint32_t idx_count)
{
    evl_ckpt_t ck = {0, pos, next_offset, max_ts, EVL_SEG_SEALED, idx_count}, cur;
    if (evl__seg_ckpt_read(seg, &cur) && (cur.flags & EVL_SEG_SEALED) && cur.pos == pos &&
        cur.next_offset == next_offset)
        return; /* another process finished this seal */
    evl__seg_ckpt_write(seg, &ck);
}

int evl__seg_seal(evl_seg_t *seg, uint64_t pos, uint64_t next_offset,
                  int64_t max_ts, uint32_t idx_count)
{
    evl__seg_mark_end(seg, pos, next_offset);
    int rc;
    if ((rc = evl__seg_sync_end(seg, pos, idx_count)) < 0)
        return rc;
    evl__seg_ckpt_sealed(seg, pos, next_offset, max_ts, idx_count);
    rc = evl__os_fdatasync(seg->fd);
    return rc < 0 ? rc : 0;
}

uint32_t evl__seg_idx_rebuild(evl_seg_t *seg, uint32_t from, uint64_t end,
                              uint64_t interval)
{
    uint64_t pos = EVL_SEG_HDR, last = EVL_SEG_HDR;
    int64_t max_ts = INT64_MIN;
    uint32_t n = 0;
    from = evl__seg_idx_usable(seg, from); /* an index shorter than claimed */
    if (from > 0 && seg->idx) {
        const uint8_t *e = seg->idx + (uint64_t)(from - 1) * EVL_IDX_ENTRY;
        if (entry_ok(seg, e, end)) {
            pos = last = evl_ld32(e + 4);
            max_ts = (int64_t)evl_ld64(e + 8);
            n = from;
        }
    }
    while (pos + EVL_FRAME_MIN <= end) {
        uint32_t fl = evl__frame_len_acquire(seg->map + pos);
        evl_frame_t f;
        if (fl == 0 || fl == EVL_FRAME_EOF || pos + fl > end ||
            evl__frame_head(seg->map + pos, fl, end - pos, seg->base, false, &f) != 0)
            break;
        if (pos - last >= interval && n < seg->idx_cap) {
            if (evl__seg_idx_put(seg, n, (uint32_t)(f.base - seg->base), (uint32_t)pos,
                                 max_ts) != 0)
                break; /* no room for the index: the rest is found by scanning */
            n++;
            last = pos;
        }
        if (f.max_ts > max_ts)
            max_ts = f.max_ts;
        pos += evl__frame_span(fl);
    }
    return n;
}
