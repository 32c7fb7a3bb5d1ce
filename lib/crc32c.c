/*
 * crc32c.c - CRC-32C with a hardware path and a table fallback.
 *
 * The hardware path runs three interleaved crc32q streams on buffers of
 * 768 bytes or more (batches) and one chain below that (single records,
 * where the join would cost more than it saves). The software path is the
 * classic slicing-by-8.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xff];
}

uint32_t evl__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&table_once, table_init);
    const unsigned char *p = buf;
    crc = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc;
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
              table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
              table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
              table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
/*
 * Three streams: crc32q has a latency of 3 cycles but a throughput of one
 * per cycle, so three independent CRCs over three adjacent blocks run three
 * times faster than one chain. The block CRCs are joined by "shifting" a CRC
 * over a block of zeros, a linear map over GF(2) applied with four 256-entry
 * tables per block size (Mark Adler's method). Buffers shorter than three
 * short blocks (768 bytes: a single small record) take the plain chain.
 */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256
static uint32_t shift_long[4][256], shift_short[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* The operator that appends len zero bytes (len a power of two) to a CRC
 * register, as four byte-indexed tables. */
static void zeros_tables(uint32_t tab[4][256], size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = 0x82F63B78u; /* one zero bit */
    for (int n = 1; n < 32; n++)
        odd[n] = 1u << (n - 1);
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four zero bits */
    for (;;) {               /* then bytes: 1, 2, 4, ... up to len */
        gf2_square(even, odd);
        len >>= 1;
        if (len == 0) {
            memcpy(odd, even, sizeof odd);
            break;
        }
        gf2_square(odd, even);
        len >>= 1;
        if (len == 0)
            break;
    }
    for (uint32_t n = 0; n < 256; n++) {
        tab[0][n] = gf2_times(odd, n);
        tab[1][n] = gf2_times(odd, n << 8);
        tab[2][n] = gf2_times(odd, n << 16);
        tab[3][n] = gf2_times(odd, n << 24);
    }
}

static inline uint32_t crc_shift(uint32_t tab[4][256], uint32_t crc)
{
    return tab[0][crc & 0xff] ^ tab[1][(crc >> 8) & 0xff] ^ tab[2][(crc >> 16) & 0xff] ^
           tab[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint64_t chain3(uint64_t c0, const unsigned char **pp,
                                                         size_t *lenp, size_t block,
                                                         uint32_t tab[4][256])
{
    const unsigned char *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0, v0, v1, v2;
        const unsigned char *end = p + block;
        do {
            memcpy(&v0, p, 8);
            memcpy(&v1, p + block, 8);
            memcpy(&v2, p + 2 * block, 8);
            c0 = __builtin_ia32_crc32di(c0, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
            p += 8;
        } while (p < end);
        c0 = crc_shift(tab, (uint32_t)c0) ^ c1;
        c0 = crc_shift(tab, (uint32_t)c0) ^ c2;
        p += 2 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc,
                                                            const void *buf,
                                                            size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc;
    if (len >= 3 * SHORT_BLOCK) {
        c = chain3(c, &p, &len, LONG_BLOCK, shift_long);
        c = chain3(c, &p, &len, SHORT_BLOCK, shift_short);
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}

static uint32_t (*_Atomic crc_impl)(uint32_t, const void *, size_t);
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void pick_impl(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        zeros_tables(shift_long, LONG_BLOCK);
        zeros_tables(shift_short, SHORT_BLOCK);
        crc_impl = crc32c_hw;
    } else {
        crc_impl = evl__crc32c_sw;
    }
}

uint32_t evl__crc32c(uint32_t crc, const void *buf, size_t len)
{
    if (__builtin_expect(crc_impl == NULL, 0))
        pthread_once(&impl_once, pick_impl);
    return crc_impl(crc, buf, len);
}
#else
uint32_t evl__crc32c(uint32_t crc, const void *buf, size_t len)
{
    return evl__crc32c_sw(crc, buf, len);
}
#endif
