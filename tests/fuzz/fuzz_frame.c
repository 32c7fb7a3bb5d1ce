/*
 * fuzz_frame.c - libFuzzer target: frame validation and record decoding
 * over arbitrary bytes (lib/core/record.c). Whatever evl__frame_check accepts must
 * decode, and every accessor must stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    /* An exact-size heap copy so ASan sees any read past the end. */
    uint8_t *p = malloc(size);
    memcpy(p, data, size);
    for (int crc = 0; crc <= 1; crc++) {
        uint32_t fl = evl_ld32(p);
        if (evl__frame_check(p, fl, size, -1, crc) != 0)
            continue;
        const uint8_t *r = p + EVL_FRAME_HDR;
        uint32_t n = evl__frame_count(p);
        for (uint32_t i = 0; i < n; i++, r = evl__rec_next(r)) {
            struct evl_record rec;
            evl__rec_decode(r, evl__frame_base(p), &rec);
            volatile uint8_t sink = 0;
            size_t len;
            const uint8_t *k = evl_record_key(&rec, &len);
            for (size_t j = 0; k && j < len; j++)
                sink ^= k[j];
            const uint8_t *v = evl_record_value(&rec, &len);
            for (size_t j = 0; v && j < len; j++)
                sink ^= v[j];
            evl_header_t h;
            for (size_t j = 0; j < evl_record_header_count(&rec); j++) {
                if (evl_record_header(&rec, j, &h) != 0)
                    abort();
                for (size_t b = 0; b < h.name_len; b++)
                    sink ^= (uint8_t)h.name[b];
                for (size_t b = 0; h.value && b < h.value_len; b++)
                    sink ^= ((const uint8_t *)h.value)[b];
            }
            evl_record_header_get(&rec, "k", &h);
            (void)sink;
        }
    }
    free(p);
    return 0;
}
