/*
 * crc32c.c - CRC-32C with a hardware path and a table fallback.
 *
 * The hardware path runs three interleaved crc32q streams: on buffers of
 * 768 bytes or more (batches) joined with shift tables, on shorter ones
 * down to 72 bytes (a single small record's frame) joined with one
 * carry-less multiply when the CPU has PCLMULQDQ, and one chain below that.
 * The software path is the classic slicing-by-8.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* The three streams: c[0..2] continued over p[0, run), p[run, 2 run) and
 * p[2 run, 3 run), run a multiple of 8. */
__attribute__((target("sse4.2"), always_inline)) static inline void
streams3(uint64_t c[3], const unsigned char *p, size_t run)
{
    uint64_t c0 = c[0], c1 = c[1], c2 = c[2], v0, v1, v2;
    for (const unsigned char *end = p + run; p < end; p += 8) {
        memcpy(&v0, p, 8);
        memcpy(&v1, p + run, 8);
        memcpy(&v2, p + 2 * run, 8);
        c0 = __builtin_ia32_crc32di(c0, v0);
        c1 = __builtin_ia32_crc32di(c1, v1);
        c2 = __builtin_ia32_crc32di(c2, v2);
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
}

__attribute__((target("sse4.2"))) static uint64_t chain3(uint64_t c0, const unsigned char **pp,
                                                         size_t *lenp, size_t block,
                                                         uint32_t tab[4][256])
{
    const unsigned char *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * block) {
        uint64_t c[3] = {c0, 0, 0};
        streams3(c, p, block);
        c0 = crc_shift(tab, (uint32_t)c[0]) ^ c[1];
        c0 = crc_shift(tab, (uint32_t)c0) ^ c[2];
        p += 3 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return c0;
}

/*
 * Short buffers (72 to 767 bytes): three streams over three equal runs of
 * s bytes (s a multiple of 8), then one join. In the bit-reflected domain a
 * carry-less product of two 32-bit registers A and B is A*B*x, and crc32q
 * of a 64-bit value V with a zero register is V*x^32 mod P; so with
 * K(n) = x^(8n-33) mod P, crc32q(0, clmul(c, K(n))) is c shifted over n
 * zero bytes, and because all of it is linear the two shifts of the join
 * share one reduction. Over a 132-byte frame body that is ~40 cycles of
 * dependent latency instead of ~63 for one chain.
 */
#define SHORT3_MIN 72
/* Below 3 * SHORT_BLOCK bytes a run is under SHORT_BLOCK, so the join
 * shifts by less than 2 * SHORT_BLOCK. */
static uint64_t shift_k[2 * SHORT_BLOCK / 8]; /* shift_k[i] = K(8i) */
static int have_clmul;

static void shift_k_init(void)
{
    uint32_t r = 0x80000000u; /* x^0 */
    for (uint32_t m = 0, i = 1; i < sizeof shift_k / sizeof shift_k[0]; i++) {
        for (; m < 64 * i - 33; m++) /* multiply by x */
            r = (r >> 1) ^ (0x82F63B78u & (0u - (r & 1)));
        shift_k[i] = r;
    }
}

__attribute__((target("sse4.2,pclmul"))) static uint64_t chain3_short(uint64_t c0,
                                                                      const unsigned char **pp,
                                                                      size_t *lenp)
{
    size_t s = *lenp / 24 * 8;
    uint64_t c[3] = {c0, 0, 0};
    streams3(c, *pp, s);
    __m128i a = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)(uint32_t)c[0]),
                                     _mm_cvtsi64_si128((long long)shift_k[2 * s / 8]), 0);
    __m128i b = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)(uint32_t)c[1]),
                                     _mm_cvtsi64_si128((long long)shift_k[s / 8]), 0);
    uint64_t j = (uint64_t)_mm_cvtsi128_si64(_mm_xor_si128(a, b));
    *pp += 3 * s;
    *lenp -= 3 * s;
    return __builtin_ia32_crc32di(0, j) ^ c[2];
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
    if (len >= SHORT3_MIN && have_clmul)
        c = chain3_short(c, &p, &len);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = __builtin_ia32_crc32si(c32, v);
        p += 4;
        len -= 4;
    }
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
        if (__builtin_cpu_supports("pclmul")) {
            shift_k_init();
            /* Self-check before trusting it: one buffer of every short
             * length against the table version. */
            unsigned char t[3 * SHORT_BLOCK];
            for (size_t i = 0; i < sizeof t; i++)
                t[i] = (unsigned char)(i * 151 + 7);
            have_clmul = 1;
            for (size_t n = SHORT3_MIN; n < sizeof t && have_clmul; n++)
                have_clmul = crc32c_hw(0, t, n) == evl__crc32c_sw(0, t, n);
        }
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

const char *evl__crc32c_impl(void)
{
    pthread_once(&impl_once, pick_impl);
    if (crc_impl != crc32c_hw)
        return "slice-8";
    return have_clmul ? "sse4.2+pclmul" : "sse4.2";
}
#else
uint32_t evl__crc32c(uint32_t crc, const void *buf, size_t len)
{
    return evl__crc32c_sw(crc, buf, len);
}

const char *evl__crc32c_impl(void)
{
    return "slice-8";
}
#endif
