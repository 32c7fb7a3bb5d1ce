/*
 * crc32c_hw.c - CRC32C with the SSE4.2 crc32 instruction, the fastest bare
 * checksum pass a reader could do: W6's baseline. Built alone with -msse4.2;
 * called only after crc32c.c's cpuid check says the CPU has SSE4.2.
 */
#include "bench.h"

#if defined(__x86_64__) && defined(__SSE4_2__)
#include <nmmintrin.h>

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    return crc32c_sw(crc, buf, len);
}
#endif
