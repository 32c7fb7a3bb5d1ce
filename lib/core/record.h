/*
 * record.h - the byte layout of records in a segment (format 2), and their
 * encoding, validation and decoding. This module owns the on-disk record
 * format; nothing else reads or writes these bytes.
 *
 * A segment holds frames. A frame is the unit of publication and recovery
 * (Kafka's record batch): one producer call writes one frame of one or more
 * records for one partition. Integers are little-endian; "varint" is an
 * unsigned LEB128 (at most 10 bytes), "zigzag" a signed value mapped to one
 * as protobuf does. Frames start on 4-byte boundaries; nothing else is
 * aligned or padded.
 *
 *   frame header
 *   +0   u32 frame_len   bytes from the frame start to the end of its last
 *                        record. Written LAST, with a release store: a
 *                        reader that sees it non-zero sees the whole frame.
 *                        0 = nothing here yet. 0xFFFFFFFF = end of segment:
 *                        the u64 at +8 is the next segment's base offset.
 *   +4   u32 crc         CRC-32C of frame_len's 4 bytes, then of the bytes
 *                        from +8 to the header's end, or to frame_len for a
 *                        frame of one record (EVL_ATTR_SINGLE), whose
 *                        record then carries no checksum of its own
 *   +8   u8  attributes  bits 0-2 compression (0: none; others are refused),
 *                        bit 3 EVL_ATTR_SINGLE, bit 4 EVL_ATTR_PRODUCER
 *                        (the producer fields below are present), bit 5
 *                        EVL_ATTR_TXN (part of a transaction), bit 6
 *                        EVL_ATTR_CONTROL (its records are commit/abort
 *                        markers), bit 7 reserved (0)
 *   +9   varint base_rel    base offset - the segment's base offset
 *        varint count       records in the frame (>= 1)
 *        varint last_delta  offset of the frame's last offset - base: count-1
 *                           as written, more once compaction removed records
 *        varint base_ts     timestamp of the first record (ms, >= 0)
 *        varint max_delta   largest record timestamp - base_ts
 *        if EVL_ATTR_PRODUCER: varint producer_id, varint epoch,
 *                              varint base_sequence
 *   records...
 *
 *   record
 *        varint len         bytes after this varint to the record's end
 *        u32 crc            CRC-32C of the body (not in a single-record frame)
 *        body:
 *        zigzag ts_delta    timestamp - base_ts
 *        varint off_delta   offset - base offset (increasing in a frame)
 *        varint key_len+1   0 = null key (distinct from an empty key)
 *        varint value_len+1 0 = null value (a tombstone)
 *        varint hdr_count
 *        key, value, then per header: varint name_len, varint value_len+1
 *        (0 = null), name, value
 *
 * Damage costs the damaged record, not its batch: each record of a frame
 * has its own checksum, and a reader that finds one failing looks for the
 * next record that checks out (evl__rec_resync) and goes on. A damaged
 * header costs the frame (its offsets are unknown).
 *
 * A keyless record of 100 bytes sent alone takes 128 bytes (format 1: 168);
 * in batches of 64, 110.4 bytes each (format 1: 136.5). bench/README.md has
 * the figures for other sizes.
 */
#ifndef EVL_RECORD_H
#define EVL_RECORD_H

#include "common.h"
#include "crc32c.h"

#define EVL_FORMAT_VERSION 2u     /* segment.h: the header's version */
#define EVL_FRAME_ALIGN 4u
#define EVL_FRAME_EOF 0xFFFFFFFFu
#define EVL_FRAME_EOF_BYTES 16u   /* room kept at every segment's end */
#define EVL_FRAME_FIXED 9u        /* frame_len, crc, attributes */
/* The largest header: the fixed part, five varints, the producer's three. */
#define EVL_FRAME_HDR_MAX (EVL_FRAME_FIXED + 5 + 5 + 5 + 10 + 10 + 10 + 5 + 10)
/* A record's own fields at their largest: len, crc, timestamp and offset
 * deltas, key and value lengths, header count. */
#define EVL_REC_FIXED_MAX (5 + 4 + 10 + 5 + 5 + 5 + 5)
/* The smallest frame: a header of one-byte varints, a record of six bytes. */
#define EVL_FRAME_MIN (EVL_FRAME_FIXED + 5 + 6)

#define EVL_ATTR_COMPRESSION 0x07u
#define EVL_ATTR_SINGLE 0x08u
#define EVL_ATTR_PRODUCER 0x10u
#define EVL_ATTR_TXN 0x20u
#define EVL_ATTR_CONTROL 0x40u
#define EVL_ATTR_RESERVED 0x80u

#define EVL_NO_PRODUCER (-1)

static inline uint64_t evl__frame_span(uint64_t frame_len)
{
    return EVL_ALIGN_UP(frame_len, EVL_FRAME_ALIGN);
}

/* The view behind evl_record_t (valid while its frame stays mapped). */
struct evl_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    const uint8_t *key; /* NULL: null key */
    size_t key_len;
    const uint8_t *value; /* NULL: tombstone */
    size_t value_len;
    const uint8_t *hdrs;
    uint32_t hdr_count, hdr_bytes;
};

/* A frame's header, decoded (evl__frame_head). */
typedef struct evl_frame {
    const uint8_t *p;       /* the frame */
    uint32_t len;           /* frame_len */
    uint32_t hdr_len;       /* the first record is at p + hdr_len */
    uint8_t attrs;
    uint64_t base;          /* base offset */
    uint32_t count, last_delta;
    int64_t base_ts, max_ts;
    int64_t producer_id;    /* EVL_NO_PRODUCER without EVL_ATTR_PRODUCER */
    int32_t epoch;
    int64_t base_seq;       /* 64-bit: sequences never wrap */
} evl_frame_t;

/* What a frame says about its producer, for the encoder (NULL: none). */
typedef struct evl_frame_opts {
    int64_t producer_id;    /* >= 0 */
    int32_t epoch;          /* >= 0 */
    int64_t base_seq;       /* >= 0 */
    uint8_t attrs;          /* EVL_ATTR_TXN, EVL_ATTR_CONTROL */
} evl_frame_opts_t;

/* ---- varints (bounds-checked decoding) ------------------------------------ */

static inline uint8_t *evl__vput(uint8_t *d, uint64_t v)
{
    while (v >= 0x80) {
        *d++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *d++ = (uint8_t)v;
    return d;
}

static inline uint32_t evl__vlen(uint64_t v)
{
    uint32_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint64_t evl__zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t evl__unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Decode a varint at *p (below end) into *v and move *p past it; false if
 * it runs past end or is longer than 10 bytes. */
static inline bool evl__vget(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *s = *p;
    if (EVL_LIKELY(s < end && *s < 0x80)) {
        *v = *s;
        *p = s + 1;
        return true;
    }
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70 && s < end; shift += 7) {
        uint8_t b = *s++;
        if (shift == 63 && b > 1)
            return false;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = r;
            *p = s;
            return true;
        }
    }
    return false;
}

/* ---- encoding -------------------------------------------------------------- */

/* The most bytes the record can take in a frame (its timestamp delta is
 * not known until the append reads the clock); 0 if a length does not fit
 * the format (> 2 GiB). */
uint64_t evl__rec_size(const evl_msg_t *msg);
/* What max.message.bytes limits: key + value + header names and values, in
 * bytes (the user's data, without the format's own fields). */
uint64_t evl__rec_payload(const evl_msg_t *msg);

/*
 * Encode msgs[0..n) as a frame at dst, which has room for
 * EVL_FRAME_HDR_MAX + the sum of evl__rec_size. Timestamps < 0 become
 * now_ms. Everything is written except the frame_len word, which the caller
 * publishes with evl__frame_publish(); so are the up to 3 bytes of padding
 * after the frame (zeros). Returns frame_len.
 */
uint32_t evl__frame_encode(uint8_t *dst, uint64_t seg_base, uint64_t base_offset,
                           const evl_msg_t *msgs, size_t n, int64_t now_ms,
                           const evl_frame_opts_t *opts, int64_t *max_ts);

/*
 * For compaction: write at dst a frame of the records recs[0..n) (each the
 * whole encoding read from frame src, from its length varint on, lens[i]
 * bytes; in offset order) for a segment of base seg_base, with src's base
 * offset, last offset delta (so the offsets, the gaps and the producer's
 * sequences stay what they were), timestamps, producer and attributes. A
 * single-record frame stays one (n must be 1). Returns frame_len; the
 * caller publishes it. dst has room for src's span.
 */
uint32_t evl__frame_repack(uint8_t *dst, uint64_t seg_base, const evl_frame_t *src,
                           const uint8_t *const *recs, const uint32_t *lens, uint32_t n);

static inline void evl__frame_publish(uint8_t *frame, uint32_t frame_len)
{
    atomic_store_explicit((_Atomic uint32_t *)(void *)frame, frame_len,
                          memory_order_release);
}

static inline uint32_t evl__frame_len_acquire(const uint8_t *frame)
{
    return atomic_load_explicit((_Atomic uint32_t *)(void *)frame,
                                memory_order_acquire);
}

/* An end-of-segment frame (frame_len EVL_FRAME_EOF): the next segment's base. */
static inline uint64_t evl__frame_eof_next(const uint8_t *f) { return evl_ld64(f + 8); }
static inline void evl__frame_eof_put(uint8_t *f, uint64_t next_base)
{
    evl_st64(f + 8, next_base);
}

/* ---- checking and decoding ------------------------------------------------- */

/*
 * Decode and check the header of the published frame at p (frame_len read
 * from it, avail bytes readable from p) in a segment of base seg_base:
 * bounds, attributes, counts, and (when crc) its checksum, which for a
 * single-record frame covers the record too. Never reads outside
 * [p, p + avail). 0 with *f set, or EVL_ECORRUPT.
 */
int evl__frame_head(const uint8_t *p, uint32_t frame_len, uint64_t avail, uint64_t seg_base,
                    bool crc, evl_frame_t *f);

/*
 * Read the record at *r of frame f (checked by evl__frame_head), the
 * one after a record of offset delta `prev_delta` (-1 for the
 * first): structure, bounds, its order in the frame and (when crc and the
 * frame has more than one record) its checksum. 0 with *out decoded and *r
 * moved past it, or EVL_ECORRUPT (*r unchanged). Headers are checked by
 * their accessors, not here.
 */
int evl__rec_read(const evl_frame_t *f, const uint8_t **r, int64_t prev_delta, bool crc,
                  struct evl_record *out);

/*
 * Past a damaged record at `from` in frame f: the first position after it
 * where a record checks out (its checksum included) with an offset delta
 * above prev_delta, or NULL if none does (the damage runs to the frame's
 * end). A false match would need a CRC-32C collision on a well-formed
 * record.
 */
const uint8_t *evl__rec_resync(const evl_frame_t *f, const uint8_t *from, int64_t prev_delta);

/*
 * The whole check of the frame at p: its header (evl__frame_head), then
 * every record, which must end exactly at frame_len; expected_offset >= 0
 * must be its base offset. For recovery and repair, which keep a frame
 * only if all of it is intact. 0 with *f set (if f), or EVL_ECORRUPT.
 */
int evl__frame_check(const uint8_t *p, uint32_t frame_len, uint64_t avail, uint64_t seg_base,
                     int64_t expected_offset, bool crc, evl_frame_t *f);

/* The offset after frame f (gaps left by compaction included). */
static inline uint64_t evl__frame_next_offset(const evl_frame_t *f)
{
    return f->base + f->last_delta + 1;
}

#endif
