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
    uint64_t n = EVL_REC_FIXED_MAX;
    if (m->key)
        n += m->key_len;
    if (m->value)
        n += m->value_len;
    for (size_t i = 0; i < m->header_count; i++) {
        n += 10 + m->headers[i].name_len;
        if (m->headers[i].value)
            n += m->headers[i].value_len;
    }
    if (n > INT32_MAX || (m->key && m->key_len > INT32_MAX) ||
        (m->value && m->value_len > INT32_MAX))
        return 0;
    return n;
}

uint64_t evl__rec_payload(const evl_msg_t *m)
{
    uint64_t n = (m->key ? m->key_len : 0) + (m->value ? m->value_len : 0);
    for (size_t i = 0; i < m->header_count; i++)
        n += m->headers[i].name_len + (m->headers[i].value ? m->headers[i].value_len : 0);
    return n;
}

static inline uint8_t *put_bytes(uint8_t *d, const void *s, size_t n)
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

static uint32_t frame_crc(const uint8_t *p, uint32_t frame_len, uint32_t end)
{
    uint8_t fl[4];
    evl_st32(fl, frame_len);
    return evl__crc32c(evl__crc32c(0, fl, 4), p + 8, end - 8);
}

/* One record at d; returns its end. */
static inline uint8_t *put_record(uint8_t *d, const evl_msg_t *m, int64_t ts_delta,
                                  uint32_t off_delta, bool with_crc)
{
    uint64_t klen = m->key ? m->key_len : 0, vlen = m->value ? m->value_len : 0;
    uint64_t hb = 0;
    for (size_t h = 0; h < m->header_count; h++) {
        const evl_header_t *hd = &m->headers[h];
        uint64_t hv = hd->value ? hd->value_len : 0;
        hb += evl__vlen(hd->name_len) + evl__vlen(hd->value ? hv + 1 : 0) + hd->name_len + hv;
    }
    uint64_t zts = evl__zz(ts_delta);
    uint64_t k1 = m->key ? klen + 1 : 0, v1 = m->value ? vlen + 1 : 0;
    uint64_t body = evl__vlen(zts) + evl__vlen(off_delta) + evl__vlen(k1) + evl__vlen(v1) +
                    evl__vlen(m->header_count) + klen + vlen + hb;
    d = evl__vput(d, body + (with_crc ? 4 : 0));
    uint8_t *crc_at = d;
    if (with_crc)
        d += 4;
    uint8_t *b = d;
    d = evl__vput(d, zts);
    d = evl__vput(d, off_delta);
    d = evl__vput(d, k1);
    d = evl__vput(d, v1);
    d = evl__vput(d, m->header_count);
    d = put_small(d, m->key, (size_t)klen);
    d = put_bytes(d, m->value, (size_t)vlen);
    for (size_t h = 0; h < m->header_count; h++) {
        const evl_header_t *hd = &m->headers[h];
        d = evl__vput(d, hd->name_len);
        d = evl__vput(d, hd->value ? hd->value_len + 1 : 0);
        d = put_bytes(d, hd->name, hd->name_len);
        d = put_bytes(d, hd->value, hd->value ? hd->value_len : 0);
    }
    if (with_crc)
        evl_st32(crc_at, evl__crc32c(0, b, (size_t)(d - b)));
    return d;
}

/* A frame's header up to its first record; returns where that goes. */
static uint8_t *put_header(uint8_t *dst, uint8_t attrs, uint64_t rel, uint64_t count,
                           uint64_t last_delta, int64_t base_ts, int64_t max_delta,
                           const evl_frame_opts_t *opts)
{
    dst[8] = attrs;
    uint8_t *d = dst + EVL_FRAME_FIXED;
    d = evl__vput(d, rel);
    d = evl__vput(d, count);
    d = evl__vput(d, last_delta);
    d = evl__vput(d, (uint64_t)base_ts);
    d = evl__vput(d, (uint64_t)max_delta);
    if (opts) {
        d = evl__vput(d, (uint64_t)opts->producer_id);
        d = evl__vput(d, (uint64_t)(uint32_t)opts->epoch);
        d = evl__vput(d, (uint64_t)opts->base_seq);
    }
    return d;
}

uint32_t evl__frame_repack(uint8_t *dst, uint64_t seg_base, const evl_frame_t *src,
                           const uint8_t *const *recs, const uint32_t *lens, uint32_t n)
{
    uint8_t attrs = src->attrs;
    evl_frame_opts_t o = {src->producer_id, src->epoch, src->base_seq, 0}, *op = NULL;
    if (attrs & EVL_ATTR_PRODUCER)
        op = &o;
    uint8_t *d = put_header(dst, attrs, src->base - seg_base, n, src->last_delta, src->base_ts,
                            src->max_ts - src->base_ts, op);
    uint32_t hdr_len = (uint32_t)(d - dst);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(d, recs[i], lens[i]);
        d += lens[i];
    }
    uint32_t frame_len = (uint32_t)(d - dst);
    for (uint8_t *pad = d; pad < dst + evl__frame_span(frame_len); pad++)
        *pad = 0;
    evl_st32(dst + 4, frame_crc(dst, frame_len,
                                (attrs & EVL_ATTR_SINGLE) ? frame_len : hdr_len));
    return frame_len;
}

uint32_t evl__frame_encode(uint8_t *dst, uint64_t seg_base, uint64_t base_offset,
                           const evl_msg_t *msgs, size_t n, int64_t now_ms,
                           const evl_frame_opts_t *opts, int64_t *max_ts_out)
{
    int64_t base_ts = msgs[0].timestamp < 0 ? now_ms : msgs[0].timestamp, max_ts = base_ts;
    for (size_t i = 1; i < n; i++) {
        int64_t ts = msgs[i].timestamp < 0 ? now_ms : msgs[i].timestamp;
        if (ts > max_ts)
            max_ts = ts;
    }
    uint8_t attrs = n == 1 ? EVL_ATTR_SINGLE : 0;
    if (opts)
        attrs |= EVL_ATTR_PRODUCER | (opts->attrs & (EVL_ATTR_TXN | EVL_ATTR_CONTROL));
    uint8_t *d = put_header(dst, attrs, base_offset - seg_base, n, n - 1, base_ts,
                            max_ts - base_ts, opts);
    uint32_t hdr_len = (uint32_t)(d - dst);
    for (size_t i = 0; i < n; i++) {
        int64_t ts = msgs[i].timestamp < 0 ? now_ms : msgs[i].timestamp;
        d = put_record(d, &msgs[i], ts - base_ts, (uint32_t)i, n > 1);
    }
    uint32_t frame_len = (uint32_t)(d - dst);
    for (uint8_t *pad = d; pad < dst + evl__frame_span(frame_len); pad++)
        *pad = 0;
    evl_st32(dst + 4, frame_crc(dst, frame_len, n == 1 ? frame_len : hdr_len));
    if (max_ts_out)
        *max_ts_out = max_ts;
    return frame_len;
}

int evl__frame_head(const uint8_t *p, uint32_t frame_len, uint64_t avail, uint64_t seg_base,
                    bool crc, evl_frame_t *f)
{
    if (frame_len == EVL_FRAME_EOF || frame_len < EVL_FRAME_MIN || frame_len > avail)
        return EVL_ECORRUPT;
    uint8_t attrs = p[8];
    if (attrs & (EVL_ATTR_COMPRESSION | EVL_ATTR_RESERVED))
        return EVL_ECORRUPT;
    const uint8_t *s = p + EVL_FRAME_FIXED, *end = p + frame_len;
    uint64_t rel, count, last, base_ts, max_delta;
    if (!evl__vget(&s, end, &rel) || !evl__vget(&s, end, &count) ||
        !evl__vget(&s, end, &last) || !evl__vget(&s, end, &base_ts) ||
        !evl__vget(&s, end, &max_delta))
        return EVL_ECORRUPT;
    if (count == 0 || last > UINT32_MAX || count > last + 1 || count > frame_len / 6 ||
        ((attrs & EVL_ATTR_SINGLE) && count != 1) ||
        /* offsets are int64_t: base + last < INT64_MAX, without wrapping */
        seg_base > (uint64_t)INT64_MAX - last - 1 ||
        rel > (uint64_t)INT64_MAX - seg_base - last - 1 ||
        base_ts > INT64_MAX || max_delta > (uint64_t)INT64_MAX - base_ts)
        return EVL_ECORRUPT;
    f->producer_id = EVL_NO_PRODUCER;
    f->epoch = -1;
    f->base_seq = -1;
    if (attrs & EVL_ATTR_PRODUCER) {
        uint64_t pid, epoch, seq;
        if (!evl__vget(&s, end, &pid) || !evl__vget(&s, end, &epoch) ||
            !evl__vget(&s, end, &seq) || pid > INT64_MAX || epoch > INT32_MAX ||
            seq > INT64_MAX)
            return EVL_ECORRUPT;
        f->producer_id = (int64_t)pid;
        f->epoch = (int32_t)epoch;
        f->base_seq = (int64_t)seq;
    }
    uint32_t hdr_len = (uint32_t)(s - p);
    if (hdr_len >= frame_len)
        return EVL_ECORRUPT;
    if (crc && evl_ld32(p + 4) != frame_crc(p, frame_len,
                                            (attrs & EVL_ATTR_SINGLE) ? frame_len : hdr_len))
        return EVL_ECORRUPT;
    f->p = p;
    f->len = frame_len;
    f->hdr_len = hdr_len;
    f->attrs = attrs;
    f->base = seg_base + rel;
    f->count = (uint32_t)count;
    f->last_delta = (uint32_t)last;
    f->base_ts = (int64_t)base_ts;
    f->max_ts = (int64_t)(base_ts + max_delta);
    return 0;
}

int evl__rec_read(const evl_frame_t *f, const uint8_t **r, int64_t prev_delta, bool crc,
                  struct evl_record *out)
{
    const uint8_t *s = *r, *fend = f->p + f->len;
    uint64_t len, zts, delta, k1, v1, hc;
    if (!evl__vget(&s, fend, &len) || len > (uint64_t)(fend - s))
        return EVL_ECORRUPT;
    const uint8_t *end = s + len, *crc_at = NULL;
    if (!(f->attrs & EVL_ATTR_SINGLE)) {
        if (len < 4)
            return EVL_ECORRUPT;
        crc_at = s;
        s += 4;
    }
    const uint8_t *body = s;
    if (!evl__vget(&s, end, &zts) || !evl__vget(&s, end, &delta) || !evl__vget(&s, end, &k1) ||
        !evl__vget(&s, end, &v1) || !evl__vget(&s, end, &hc))
        return EVL_ECORRUPT;
    uint64_t room = (uint64_t)(end - s), kl = k1 ? k1 - 1 : 0, vl = v1 ? v1 - 1 : 0;
    if ((int64_t)delta <= prev_delta || delta > f->last_delta || kl > room ||
        vl > room - kl || hc > (room - kl - vl) / 2)
        return EVL_ECORRUPT;
    if (crc && crc_at && evl_ld32(crc_at) != evl__crc32c(0, body, (size_t)(end - body)))
        return EVL_ECORRUPT;
    out->offset = (int64_t)(f->base + delta);
    out->timestamp = (int64_t)((uint64_t)f->base_ts + (uint64_t)evl__unzz(zts));
    out->key = k1 ? s : NULL;
    out->key_len = (size_t)kl;
    s += kl;
    out->value = v1 ? s : NULL;
    out->value_len = (size_t)vl;
    s += vl;
    out->hdrs = s;
    out->hdr_count = (uint32_t)hc;
    out->hdr_bytes = (uint32_t)(end - s);
    *r = end;
    return 0;
}

const uint8_t *evl__rec_resync(const evl_frame_t *f, const uint8_t *from, int64_t prev_delta)
{
    if (f->attrs & EVL_ATTR_SINGLE)
        return NULL;
    struct evl_record tmp;
    for (const uint8_t *q = from + 1; q < f->p + f->len; q++) {
        const uint8_t *r = q;
        if (evl__rec_read(f, &r, prev_delta, true, &tmp) == 0)
            return q;
    }
    return NULL;
}

int evl__frame_check(const uint8_t *p, uint32_t frame_len, uint64_t avail, uint64_t seg_base,
                     int64_t expected_offset, bool crc, evl_frame_t *out)
{
    evl_frame_t f;
    if (evl__frame_head(p, frame_len, avail, seg_base, crc, &f) != 0)
        return EVL_ECORRUPT;
    if (expected_offset >= 0 && f.base != (uint64_t)expected_offset)
        return EVL_ECORRUPT;
    const uint8_t *r = p + f.hdr_len;
    int64_t prev = -1;
    struct evl_record rec;
    for (uint32_t i = 0; i < f.count; i++) {
        if (evl__rec_read(&f, &r, prev, crc, &rec) != 0)
            return EVL_ECORRUPT;
        prev = rec.offset - (int64_t)f.base;
    }
    if (r != p + frame_len)
        return EVL_ECORRUPT;
    if (out)
        *out = f;
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
        uint64_t nl, vl1;
        if (!evl__vget(&h, end, &nl) || !evl__vget(&h, end, &vl1) ||
            nl > (uint64_t)(end - h) || (vl1 ? vl1 - 1 : 0) > (uint64_t)(end - h) - nl)
            return EVL_ECORRUPT;
        uint64_t vl = vl1 ? vl1 - 1 : 0;
        if (k == i) {
            out->name = (const char *)h;
            out->name_len = (size_t)nl;
            out->value = vl1 ? h + nl : NULL;
            out->value_len = (size_t)vl;
            return 0;
        }
        h += nl + vl;
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
