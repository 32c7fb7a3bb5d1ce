/*
 * fuzz_frame.c - libFuzzer target: frame validation and record decoding
 * over arbitrary bytes (lib/core/record.c, format 2). Whatever
 * evl__frame_head accepts must decode record by record (or fail cleanly),
 * resync must stay inside the frame, the whole check must agree with a walk
 * of the records, and every accessor must stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static void touch(const struct evl_record *rec)
{
    volatile uint8_t sink = 0;
    size_t len;
    const uint8_t *k = evl_record_key(rec, &len);
    for (size_t j = 0; k && j < len; j++)
        sink ^= k[j];
    const uint8_t *v = evl_record_value(rec, &len);
    for (size_t j = 0; v && j < len; j++)
        sink ^= v[j];
    evl_header_t h;
    for (size_t j = 0; j < evl_record_header_count(rec); j++) {
        if (evl_record_header(rec, j, &h) != 0)
            break; /* headers are checked by their accessors */
        for (size_t b = 0; b < h.name_len; b++)
            sink ^= (uint8_t)h.name[b];
        for (size_t b = 0; h.value && b < h.value_len; b++)
            sink ^= ((const uint8_t *)h.value)[b];
    }
    evl_record_header_get(rec, "k", &h);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    /* The first 8 bytes are the segment base; the frame follows, in an
     * exact-size heap copy so that ASan sees any read past the end. */
    uint64_t seg_base;
    memcpy(&seg_base, data, 8);
    size -= 8;
    uint8_t *p = malloc(size);
    memcpy(p, data + 8, size);
    for (int crc = 0; crc <= 1; crc++) {
        uint32_t fl = evl_ld32(p);
        evl_frame_t f;
        if (evl__frame_head(p, fl, size, seg_base, crc, &f) != 0)
            continue;
        if (f.hdr_len >= f.len || f.len > size)
            abort();
        const uint8_t *r = p + f.hdr_len;
        int64_t prev = -1;
        uint32_t good = 0, bad = 0;
        struct evl_record rec;
        while (r && r < p + f.len && good + bad < f.count) {
            const uint8_t *before = r;
            if (evl__rec_read(&f, &r, prev, crc, &rec) != 0) {
                bad++;
                r = evl__rec_resync(&f, before, prev);
                if (r && (r <= before || r >= p + f.len))
                    abort();
                continue;
            }
            /* A header that checks out keeps every offset an int64_t. */
            if (f.base + f.last_delta >= (uint64_t)INT64_MAX)
                abort();
            int64_t delta = rec.offset - (int64_t)f.base;
            if (r <= before || r > p + f.len || delta <= prev || delta > (int64_t)f.last_delta)
                abort();
            prev = delta;
            good++;
            touch(&rec);
        }
        /* The whole check passes only for a frame whose records all read. */
        if (evl__frame_check(p, fl, size, seg_base, -1, crc, NULL) == 0 &&
            (bad || good != f.count))
            abort();
    }
    free(p);
    return 0;
}
