/*
 * record.h - the byte layout of records in a segment, and their encoding,
 * validation and decoding. This module owns the on-disk record format.
 *
 * A segment holds frames. A frame is the unit of publication, checksum and
 * recovery (Kafka's record batch): one producer call writes one frame of one
 * or more records for one partition. All integers are little-endian; frames
 * and the records inside them start on 8-byte boundaries.
 *
 *   frame header (32 bytes)
 *   +0   u32 frame_len   bytes from the frame start to the end of its last
 *                        record (unpadded). Written LAST, with a release
 *                        store: a reader that sees it non-zero sees the whole
 *                        frame. 0 = nothing here yet. 0xFFFFFFFF = end of
 *                        segment: the u64 at +8 is the next segment's base.
 *   +4   u32 crc         CRC-32C of bytes [+8, frame_len)
 *   +8   u64 base_offset offset of the first record
 *   +16  i64 max_ts      largest record timestamp in the frame (ms)
 *   +24  u32 count       records in the frame (>= 1)
 *   +28  u16 magic       0x4C45 ("EL")
 *   +30  u16 attributes  0 (reserved: compression, transactions)
 *   +32  records...
 *
 *   record (32-byte header, then data; the next record starts at the
 *   8-aligned end of this one)
 *   +0   u32 rec_len      32 + key + value + headers bytes
 *   +4   u32 offset_delta offset - base_offset (0, 1, 2, ... in order)
 *   +8   i64 timestamp    ms since the epoch
 *   +16  i32 key_len      -1 = null key (distinct from an empty key)
 *   +20  i32 value_len    -1 = null value (a tombstone)
 *   +24  u32 hdr_count
 *   +28  u32 hdr_bytes    size of the headers block
 *   +32  key, value, headers block
 *   headers block: per header u32 name_len, i32 value_len (-1 null), name,
 *   value, packed without padding.
 *
 * 108 bytes of key+value cost 172 bytes (176 aligned) as a single-record
 * frame; a 64-record batch amortises the frame header to half a byte each.
 */
#ifndef EVL_RECORD_H
#define EVL_RECORD_H

#include "common.h"
#include "crc32c.h"

#define EVL_FRAME_HDR 32u
#define EVL_REC_HDR 32u
#define EVL_FRAME_MAGIC 0x4C45u
#define EVL_FRAME_EOF 0xFFFFFFFFu
#define EVL_FRAME_EOF_BYTES 16u /* room kept at every segment's end */

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

/* Bytes the encoded record takes inside a frame, 8-aligned; 0 if a length
 * does not fit the format (> 2 GiB). */
uint64_t evl__rec_size(const evl_msg_t *msg);
/* What max.message.bytes limits: key + value + header names and values, in
 * bytes (the user's data, without the format's own fields). */
uint64_t evl__rec_payload(const evl_msg_t *msg);

/*
 * Encode msgs[0..n) as a frame at dst (which has room for
 * EVL_FRAME_HDR + sum of evl__rec_size). Timestamps < 0 become now_ms.
 * Everything is written except the frame_len word, which the caller
 * publishes with evl__frame_publish(). Returns frame_len.
 */
uint32_t evl__frame_encode(uint8_t *dst, uint64_t base_offset,
                           const evl_msg_t *msgs, size_t n, int64_t now_ms,
                           int64_t *max_ts);

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

/*
 * Check the published frame at p, with avail bytes readable from p:
 * bounds, magic, record structure, and (when crc) the checksum. Never
 * reads outside [p, p + avail). expected_offset < 0 skips that check.
 * Returns 0 or EVL_ECORRUPT.
 */
int evl__frame_check(const uint8_t *p, uint32_t frame_len, uint64_t avail,
                     int64_t expected_offset, bool crc);


/* Bounds of record `index` at rec, with `room` bytes left in its frame:
 * 0, or EVL_ECORRUPT. The headers block is checked by the accessors. */
static inline int evl__rec_check(const uint8_t *rec, uint64_t room, uint32_t index)
{
    if (room < EVL_REC_HDR)
        return EVL_ECORRUPT;
    uint32_t rec_len = evl_ld32(rec);
    int32_t klen = (int32_t)evl_ld32(rec + 16), vlen = (int32_t)evl_ld32(rec + 20);
    uint64_t need = (uint64_t)EVL_REC_HDR + (uint64_t)(klen > 0 ? klen : 0) +
                    (uint64_t)(vlen > 0 ? vlen : 0) + evl_ld32(rec + 28);
    if (rec_len < EVL_REC_HDR || rec_len > room || evl_ld32(rec + 4) != index ||
        klen < -1 || vlen < -1 || need != rec_len ||
        (uint64_t)evl_ld32(rec + 24) * 8 > evl_ld32(rec + 28))
        return EVL_ECORRUPT;
    return 0;
}

/* Frame header fields. */
static inline uint64_t evl__frame_base(const uint8_t *f) { return evl_ld64(f + 8); }
static inline uint16_t evl__frame_magic(const uint8_t *f) { return (uint16_t)(evl_ld32(f + 28) & 0xffff); }
/* An end-of-segment frame (frame_len EVL_FRAME_EOF): the next segment's base. */
static inline uint64_t evl__frame_eof_next(const uint8_t *f) { return evl_ld64(f + 8); }
/* A record's timestamp (the record at r, inside a checked frame). */
static inline int64_t evl__rec_timestamp(const uint8_t *r) { return (int64_t)evl_ld64(r + 8); }
static inline int64_t evl__frame_max_ts(const uint8_t *f) { return (int64_t)evl_ld64(f + 16); }
static inline uint32_t evl__frame_count(const uint8_t *f) { return evl_ld32(f + 24); }

/* The frame-level part of evl__frame_check (header, bounds, checksum),
 * without walking the records: readers check each record as they decode it
 * (evl__rec_check), so a frame is walked once, not twice. Inline: it is on
 * every reader's per-frame path. */
static inline int evl__frame_check_head(const uint8_t *p, uint32_t frame_len, uint64_t avail,
                                        int64_t expected_offset, bool crc)
{
    if (frame_len < EVL_FRAME_HDR + EVL_REC_HDR || frame_len > avail ||
        frame_len == EVL_FRAME_EOF)
        return EVL_ECORRUPT;
    uint32_t count = evl__frame_count(p);
    if ((evl_ld32(p + 28) & 0xffff) != EVL_FRAME_MAGIC || count == 0 ||
        (uint64_t)count * EVL_REC_HDR > frame_len)
        return EVL_ECORRUPT;
    if (expected_offset >= 0 && evl__frame_base(p) != (uint64_t)expected_offset)
        return EVL_ECORRUPT;
    if (crc && evl_ld32(p + 4) != evl__crc32c(0, p + 8, frame_len - 8))
        return EVL_ECORRUPT;
    return 0;
}

/* Decode the record at r (inside a checked frame of base offset base). */
static inline void evl__rec_decode(const uint8_t *r, uint64_t base, struct evl_record *out)
{
    int32_t klen = (int32_t)evl_ld32(r + 16), vlen = (int32_t)evl_ld32(r + 20);
    const uint8_t *d = r + EVL_REC_HDR;
    out->offset = (int64_t)(base + evl_ld32(r + 4));
    out->timestamp = evl__rec_timestamp(r);
    out->key = klen < 0 ? NULL : d;
    out->key_len = klen < 0 ? 0 : (size_t)klen;
    d += out->key_len;
    out->value = vlen < 0 ? NULL : d;
    out->value_len = vlen < 0 ? 0 : (size_t)vlen;
    d += out->value_len;
    out->hdr_count = evl_ld32(r + 24);
    out->hdr_bytes = evl_ld32(r + 28);
    out->hdrs = d;
}
/* The record after rec. */
static inline const uint8_t *evl__rec_next(const uint8_t *rec)
{
    return rec + EVL_ALIGN8(evl_ld32(rec));
}

#endif
