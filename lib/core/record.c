/*
 * record.c - encoding, validation and decoding of frames (see record.h for
 * the layout), and the public evl_record_* accessors.
 *
 * Validation is strict and bounds-checked even when checksums are off: a
 * corrupt file may produce an error, never a read outside the mapping.
 */
#include "record.h"

#include "crc32c.h"

uint64_t evl__rec_size(const evl_msg_t *m)
{
    uint64_t n = EVL_REC_HDR;
    if (m->key)
        n += m->key_len;
    if (m->value)
        n += m->value_len;
    for (size_t i = 0; i < m->header_count; i++) {
        n += 8 + m->headers[i].name_len;
        if (m->headers[i].value)
            n += m->headers[i].value_len;
    }
    if (n > INT32_MAX || (m->key && m->key_len > INT32_MAX) ||
        (m->value && m->value_len > INT32_MAX))
        return 0;
    return EVL_ALIGN8(n);
}

uint64_t evl__rec_payload(const evl_msg_t *m)
{
    uint64_t n = (m->key ? m->key_len : 0) + (m->value ? m->value_len : 0);
    for (size_t i = 0; i < m->header_count; i++)
        n += m->headers[i].name_len + (m->headers[i].value ? m->headers[i].value_len : 0);
    return n;
}

static uint8_t *put_bytes(uint8_t *d, const void *s, size_t n)
{
    if (n)
        memcpy(d, s, n);
    return d + n;
}

/* Copy n bytes; sizes of 8 to 16 (keys, mostly) as two overlapping words
 * instead of a call. */
static inline uint8_t *put_small(uint8_t *d, const void *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        const uint8_t *p = s;
        evl_st64(d, evl_ld64(p));
        evl_st64(d + n - 8, evl_ld64(p + n - 8));
        return d + n;
    }
    return put_bytes(d, s, n);
}

uint32_t evl__frame_encode(uint8_t *dst, uint64_t base_offset,
                           const evl_msg_t *msgs, size_t n, int64_t now_ms,
                           int64_t *max_ts_out)
{
    int64_t max_ts = INT64_MIN;
    uint8_t *r = dst + EVL_FRAME_HDR, *rec_end = r;
    for (size_t i = 0; i < n; i++) {
        const evl_msg_t *m = &msgs[i];
        int64_t ts = m->timestamp < 0 ? now_ms : m->timestamp;
        if (ts > max_ts)
            max_ts = ts;
        uint32_t hb = 0;
        for (size_t h = 0; h < m->header_count; h++)
            hb += 8 + (uint32_t)m->headers[h].name_len +
                  (m->headers[h].value ? (uint32_t)m->headers[h].value_len : 0);
        uint32_t klen = m->key ? (uint32_t)m->key_len : 0;
        uint32_t vlen = m->value ? (uint32_t)m->value_len : 0;
        uint32_t rec_len = EVL_REC_HDR + klen + vlen + hb;
        /* Padding first: zero the record's last aligned word; the header
         * and data written next overwrite what of it is not padding. */
        uint8_t *next = r + EVL_ALIGN8(rec_len);
        evl_st64(next - 8, 0);
        evl_st32(r, rec_len);
        evl_st32(r + 4, (uint32_t)i);
        evl_st64(r + 8, (uint64_t)ts);
        evl_st32(r + 16, m->key ? klen : (uint32_t)-1);
        evl_st32(r + 20, m->value ? vlen : (uint32_t)-1);
        evl_st32(r + 24, (uint32_t)m->header_count);
        evl_st32(r + 28, hb);
        uint8_t *d = r + EVL_REC_HDR;
        d = put_small(d, m->key, klen);
        d = put_bytes(d, m->value, vlen);
        for (size_t h = 0; h < m->header_count; h++) {
            const evl_header_t *hd = &m->headers[h];
            evl_st32(d, (uint32_t)hd->name_len);
            evl_st32(d + 4, hd->value ? (uint32_t)hd->value_len : (uint32_t)-1);
            d = put_bytes(d + 8, hd->name, hd->name_len);
            d = put_bytes(d, hd->value, hd->value ? hd->value_len : 0);
        }
        rec_end = d;
        r = next;
    }
    uint32_t frame_len = (uint32_t)(rec_end - dst);
    evl_st64(dst + 8, base_offset);
    evl_st64(dst + 16, (uint64_t)max_ts);
    evl_st32(dst + 24, (uint32_t)n);
    evl_st32(dst + 28, EVL_FRAME_MAGIC); /* magic, attributes = 0 */
    evl_st32(dst + 4, evl__crc32c(0, dst + 8, frame_len - 8));
    if (max_ts_out)
        *max_ts_out = max_ts;
    return frame_len;
}

/* Check one record's structure; returns its aligned size or 0. */
static uint64_t rec_check(const uint8_t *r, uint64_t room, uint32_t index)
{
    if (room < EVL_REC_HDR)
        return 0;
    uint32_t rec_len = evl_ld32(r);
    int32_t klen = (int32_t)evl_ld32(r + 16), vlen = (int32_t)evl_ld32(r + 20);
    uint32_t hcount = evl_ld32(r + 24), hbytes = evl_ld32(r + 28);
    if (rec_len < EVL_REC_HDR || rec_len > room || evl_ld32(r + 4) != index)
        return 0;
    if (klen < -1 || vlen < -1)
        return 0;
    uint64_t need = (uint64_t)EVL_REC_HDR + (uint64_t)(klen > 0 ? klen : 0) +
                    (uint64_t)(vlen > 0 ? vlen : 0) + hbytes;
    if (need != rec_len || (uint64_t)hcount * 8 > hbytes)
        return 0;
    /* Walk the headers so accessors can trust them later. */
    const uint8_t *h = r + rec_len - hbytes, *hend = r + rec_len;
    for (uint32_t i = 0; i < hcount; i++) {
        if ((uint64_t)(hend - h) < 8)
            return 0;
        uint64_t nl = evl_ld32(h);
        int32_t vl = (int32_t)evl_ld32(h + 4);
        if (vl < -1 || nl + (uint64_t)(vl > 0 ? vl : 0) > (uint64_t)(hend - h - 8))
            return 0;
        h += 8 + nl + (uint64_t)(vl > 0 ? vl : 0);
    }
    if (h != hend)
        return 0;
    return EVL_ALIGN8(rec_len);
}

int evl__frame_check(const uint8_t *p, uint32_t frame_len, uint64_t avail,
                     int64_t expected_offset, bool crc)
{
    if (frame_len < EVL_FRAME_HDR + EVL_REC_HDR || frame_len > avail ||
        frame_len == EVL_FRAME_EOF)
        return EVL_ECORRUPT;
    if ((evl_ld32(p + 28) & 0xffff) != EVL_FRAME_MAGIC)
        return EVL_ECORRUPT;
    uint32_t count = evl__frame_count(p);
    if (count == 0 || (uint64_t)count * EVL_REC_HDR > frame_len)
        return EVL_ECORRUPT;
    if (expected_offset >= 0 && evl__frame_base(p) != (uint64_t)expected_offset)
        return EVL_ECORRUPT;
    if (crc && evl_ld32(p + 4) != evl__crc32c(0, p + 8, frame_len - 8))
        return EVL_ECORRUPT;
    uint64_t pos = EVL_FRAME_HDR;
    for (uint32_t i = 0; i < count; i++) {
        if (pos >= frame_len)
            return EVL_ECORRUPT;
        uint64_t sz = rec_check(p + pos, frame_len - pos, i);
        if (!sz)
            return EVL_ECORRUPT;
        uint64_t end = pos + evl_ld32(p + pos);
        pos += sz;
        if (i + 1 == count && end != frame_len)
            return EVL_ECORRUPT;
    }
    return 0;
}

EVL_API int64_t evl_record_offset(const evl_record_t *rec) { return rec ? rec->offset : -1; }
EVL_API int64_t evl_record_timestamp(const evl_record_t *rec) { return rec ? rec->timestamp : -1; }
EVL_API int32_t evl_record_partition(const evl_record_t *rec) { return rec ? rec->partition : -1; }
EVL_API const char *evl_record_topic(const evl_record_t *rec) { return rec ? rec->topic : NULL; }

EVL_API const void *evl_record_key(const evl_record_t *rec, size_t *len)
{
    if (len)
        *len = rec ? rec->key_len : 0;
    return rec ? rec->key : NULL;
}

EVL_API const void *evl_record_value(const evl_record_t *rec, size_t *len)
{
    if (len)
        *len = rec ? rec->value_len : 0;
    return rec ? rec->value : NULL;
}

EVL_API size_t evl_record_header_count(const evl_record_t *rec)
{
    return rec ? rec->hdr_count : 0;
}

EVL_API int evl_record_header(const evl_record_t *rec, size_t i, evl_header_t *out)
{
    if (!rec || !out)
        return EVL_EINVAL;
    if (i >= rec->hdr_count)
        return EVL_ENOTFOUND;
    /* Walk with bounds: the block was not checked when the record was read
     * (most readers never look at headers). */
    const uint8_t *h = rec->hdrs, *end = rec->hdrs + rec->hdr_bytes;
    for (size_t k = 0;; k++) {
        if (end - h < 8)
            return EVL_ECORRUPT;
        uint32_t nl = evl_ld32(h);
        int32_t vl = (int32_t)evl_ld32(h + 4);
        if (vl < -1 || (uint64_t)nl + (uint64_t)(vl > 0 ? vl : 0) > (uint64_t)(end - h - 8))
            return EVL_ECORRUPT;
        if (k == i) {
            out->name = (const char *)h + 8;
            out->name_len = nl;
            out->value = vl < 0 ? NULL : h + 8 + nl;
            out->value_len = vl < 0 ? 0 : (size_t)vl;
            return 0;
        }
        h += 8 + nl + (vl > 0 ? (uint32_t)vl : 0);
    }
}

EVL_API int evl_record_header_get(const evl_record_t *rec, const char *name,
                                  evl_header_t *out)
{
    if (!rec || !name || !out)
        return EVL_EINVAL;
    size_t n = strlen(name);
    int found = EVL_ENOTFOUND;
    evl_header_t h;
    for (size_t i = 0; i < rec->hdr_count; i++) {
        int rc = evl_record_header(rec, i, &h);
        if (rc)
            return rc;
        if (h.name_len == n && memcmp(h.name, name, n) == 0) {
            *out = h;
            found = 0;
        }
    }
    return found;
}
