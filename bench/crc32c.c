/*
 * crc32c.c - the bare CRC32C pass that W6 (scan with checksums) is compared
 * against: what verifying the scanned bytes costs at the least. It is the
 * library's own routine (lib/core/crc32c.c, linked from the static library), so
 * the baseline is always the fastest CRC-32C the library knows: SSE4.2
 * crc32 in three interleaved streams, joined with PCLMULQDQ for short
 * buffers, or software slicing-by-8 where the CPU has neither.
 */
#include "bench.h"

/* Internal to libeventlog (hidden in the shared library, linkable from the
 * static one): lib/core/crc32c.h. */
uint32_t evl__crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t evl__crc32c_sw(uint32_t crc, const void *buf, size_t len);
const char *evl__crc32c_impl(void);

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    return evl__crc32c(crc, buf, len);
}

const char *crc32c_impl(void)
{
    return evl__crc32c_impl();
}

int crc32c_selftest(void)
{
    static const char v[] = "123456789";
    unsigned char big[1000];
    fill_pattern(big, sizeof big, 7);
    if (crc32c(0, v, 9) != 0xE3069283u || evl__crc32c_sw(0, v, 9) != 0xE3069283u)
        return -1;
    for (size_t n = 0; n < 990; n += 7)
        if (crc32c(0, big + 3, n) != evl__crc32c_sw(0, big + 3, n))
            return -1;
    return 0;
}
