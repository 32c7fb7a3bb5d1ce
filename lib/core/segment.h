/*
 * segment.h - one segment: a .log file of frames and its .idx sparse index.
 *
 * .log file layout (little-endian):
 *
 *   +0     header page (4096 bytes)
 *          +0   char[8] magic "EVLSEG1\0"
 *          +8   u32 version (2: the record format of record.h; a segment
 *               of format 1 is refused with EVL_EVERSION and converted by
 *               evl_log_migrate)    +12 u32 header_bytes (4096)
 *          +16  u64 base_offset          +24 u64 max_bytes (segment.bytes)
 *          +32  i64 created_ms           +40 u32 crc of bytes [0, 40)
 *          +64  checkpoint slot 0 (64 bytes)
 *          +128 checkpoint slot 1 (64 bytes)
 *   +4096  frames (record.h), 4-aligned, back to back, up to max_bytes
 *
 *   checkpoint slot: +0 u64 seq, +8 u64 pos, +16 u64 next_offset,
 *   +24 i64 max_ts, +32 u32 flags (1 = sealed), +36 u32 idx_count,
 *   +40 u32 crc of bytes [0, 40).
 *   A checkpoint says: frames in [4096, pos) are on disk (written before an
 *   fdatasync that completed), and so are idx_count index entries. Slots
 *   alternate, as LMDB's two meta pages do, so a torn slot write leaves the
 *   other one; the valid slot with the higher seq wins. Recovery after a
 *   power loss starts at the checkpoint, never at the file size: the file is
 *   preallocated, and zeros past the data mean nothing.
 *   A sealed segment ends with an end-of-segment frame at `pos`.
 *
 * .idx file: entries of 16 bytes, one per index.interval.bytes of frames,
 * allocated in steps as entries come (EVL_IDX_STEP_MIN, doubling up to
 * EVL_IDX_STEP_MAX at a time; the mapping covers the largest possible
 * index, the file only what is allocated, and nothing reads past the
 * entries counted):
 *   +0 u32 rel_offset (frame base - segment base), +4 u32 pos (of the frame),
 *   +8 i64 max_ts_before (largest timestamp of all records before pos).
 *   One file serves offset and time lookups (Kafka keeps two); both keys
 *   only grow. The index is a hint: every entry used is checked against the
 *   frame it points to, and a bad one costs a scan, never a wrong answer.
 */
#ifndef EVL_SEGMENT_H
#define EVL_SEGMENT_H

#include "common.h"

#define EVL_SEG_HDR 4096u
#define EVL_SEG_VERSION 2u
#define EVL_SEG_SEALED 1u
#define EVL_IDX_ENTRY 16u
#define EVL_IDX_STEP_MIN 4096u
#define EVL_IDX_STEP_MAX (64u << 10)

typedef struct evl_ckpt {
    uint64_t seq, pos, next_offset;
    int64_t max_ts;
    uint32_t flags, idx_count;
} evl_ckpt_t;

typedef struct evl_seg {
    uint64_t base;          /* base offset */
    uint64_t max_bytes;     /* mapped length of the .log */
    int fd, idx_fd;         /* -1 when closed */
    uint8_t *map;           /* MAP_SHARED over max_bytes (file may be shorter) */
    uint8_t *idx;           /* MAP_SHARED over idx_cap entries */
    uint64_t idx_cap;       /* entries the idx mapping covers */
    _Atomic uint64_t idx_bytes; /* .idx bytes known to be allocated: only
                               grows, and only to a size allocated (the
                               writer and the prefault thread both grow it) */
    bool writable;
    /* Known once sealed (immutable afterwards): */
    _Atomic bool sealed;    /* set after the fields below */
    uint64_t end_pos;       /* position of the end-of-segment frame */
    uint64_t end_offset;    /* first offset of the next segment */
    int64_t max_ts;
    uint64_t file_bytes;    /* .log size when sealed */
    uint32_t idx_count;     /* valid entries when sealed */
    _Atomic int refs;
    uint64_t ino;           /* the .log's inode: a compaction replaces the
                               file under the same name (segcache.c) */
    struct evl_seg *next;   /* the partition's list, by base */
} evl_seg_t;

/* Header fields of a segment (mapped, or its first bytes read from the file:
 * evl__seg_header_ok checks the magic and version). */
static inline bool evl__seg_header_ok(const uint8_t *h)
{
    return memcmp(h, "EVLSEG1", 8) == 0 && evl_ld32(h + 8) == EVL_SEG_VERSION;
}
static inline uint32_t evl__seg_header_version(const uint8_t *h) { return evl_ld32(h + 8); }
static inline uint64_t evl__seg_header_base(const uint8_t *h) { return evl_ld64(h + 16); }
static inline uint32_t evl__seg_header_bytes(const uint8_t *h) { return evl_ld32(h + 12); }
/* The header's magic is EVLSEG1 (whatever its version). */
static inline bool evl__seg_header_magic(const uint8_t *h) { return memcmp(h, "EVLSEG1", 8) == 0; }
bool evl__seg_header_crc_ok(const uint8_t *h);
static inline uint64_t evl__seg_header_max_bytes(const uint8_t *h) { return evl_ld64(h + 24); }
static inline int64_t evl__seg_header_created_ms(const uint8_t *h) { return (int64_t)evl_ld64(h + 32); }
/* How many of count index entries the .idx file holds (a file lost and
 * made again, or cut, holds fewer than a checkpoint or the shared state
 * claims): read no entry at or past it. */
uint32_t evl__seg_idx_usable(const struct evl_seg *seg, uint32_t count);
/* Index entry i's frame position (i below evl__seg_idx_usable). */
static inline uint32_t evl__seg_idx_pos(const struct evl_seg *seg, uint64_t i)
{
    return evl_ld32(seg->idx + i * EVL_IDX_ENTRY + 4);
}

/* Path of a segment file: dir/%020llu.ext */
void evl__seg_path(char *buf, size_t size, const char *dir, uint64_t base,
                   const char *ext);

/* Create a new segment durably (temp file, fsync, rename, fsync dir). */
int evl__seg_create(const char *dir, uint64_t base, uint64_t max_bytes,
                    uint64_t idx_cap, uint64_t initial_alloc, int64_t now_ms,
                    evl_seg_t **out);
/* Open an existing segment. EVL_ECORRUPT on a bad header, EVL_EVERSION on
 * another format, -ENOENT if missing. Reads the sealed state if present. */
int evl__seg_open(const char *dir, uint64_t base, uint64_t max_bytes,
                  uint64_t idx_cap, bool writable, evl_seg_t **out);
void evl__seg_ref(evl_seg_t *seg);
void evl__seg_unref(evl_seg_t *seg);

/* The newest valid checkpoint; returns false if none is valid. */
bool evl__seg_ckpt_read(const evl_seg_t *seg, evl_ckpt_t *out);
/* The same from a header page (EVL_SEG_HDR bytes) of a segment of this
 * base and max_bytes; *slot says which of the two (0 or 1). */
bool evl__seg_ckpt_of(const uint8_t *page, uint64_t base, uint64_t max_bytes, evl_ckpt_t *out,
                      int *slot);
/* Index entry i of an index mapping: the frame's relative offset, its
 * position and the largest timestamp before it. */
static inline void evl__seg_idx_entry(const uint8_t *idx, uint64_t i, uint32_t *rel,
                                      uint32_t *pos, int64_t *max_ts_before)
{
    const uint8_t *e = idx + i * EVL_IDX_ENTRY;
    *rel = evl_ld32(e);
    *pos = evl_ld32(e + 4);
    *max_ts_before = (int64_t)evl_ld64(e + 8);
}
/* Write the next checkpoint slot (no sync: the caller syncs when needed). */
void evl__seg_ckpt_write(evl_seg_t *seg, const evl_ckpt_t *ck);

/* Current file size of the .log (fstat). */
int64_t evl__seg_file_size(const evl_seg_t *seg);

/* Index space for a .log grown to log_end (one entry per interval bytes):
 * the bytes the .idx file still lacks (0 if none), to be reserved with the
 * .log's growth and added with evl__seg_idx_extend. */
uint64_t evl__seg_idx_shortfall(evl_seg_t *seg, uint64_t log_end, uint64_t interval);
int evl__seg_idx_extend(evl_seg_t *seg, uint64_t add);
/* Index: append entry n; find the last entry with rel_offset <= rel (for an
 * offset) or max_ts_before < ts (for a time) among count entries. Each
 * returns the frame position and its base offset, or (EVL_SEG_HDR, base). */
int evl__seg_idx_put(evl_seg_t *seg, uint32_t n, uint32_t rel, uint32_t pos,
                     int64_t max_ts_before);
void evl__seg_idx_find(const evl_seg_t *seg, uint32_t count, uint64_t offset,
                       uint64_t limit, uint64_t *pos, uint64_t *frame_base);
void evl__seg_idx_find_time(const evl_seg_t *seg, uint32_t count, int64_t ts,
                            uint64_t limit, uint64_t *pos, uint64_t *frame_base);

/* Seal: write the end-of-segment frame at pos, fdatasync both files, trim
 * them to size, write a sealed checkpoint and sync it. */
int evl__seg_seal(evl_seg_t *seg, uint64_t pos, uint64_t next_offset,
                  int64_t max_ts, uint32_t idx_count);
/* The same in steps, for a roll that finishes the seal later (partition.c,
 * finish_seal): the end marker (readers move on); the data on disk and the
 * files trimmed; the sealed checkpoint, unless it is there already (no
 * sync: the caller syncs). */
void evl__seg_mark_end(evl_seg_t *seg, uint64_t pos, uint64_t next_offset);
int evl__seg_sync_end(evl_seg_t *seg, uint64_t pos, uint32_t idx_count);
void evl__seg_ckpt_sealed(evl_seg_t *seg, uint64_t pos, uint64_t next_offset, int64_t max_ts,
                          uint32_t idx_count);

/* Rebuild the index of [EVL_SEG_HDR, end) from the frames, starting after
 * entry `from` (entries before it are kept); returns the new count. */
uint32_t evl__seg_idx_rebuild(evl_seg_t *seg, uint32_t from, uint64_t end,
                              uint64_t interval);

#endif
