/*
 * crc32c.c - the bare CRC32C pass that W6 (scan with checksums) is compared
 * against: what verifying the scanned bytes costs at the least. Software
 * slicing-by-8 for any CPU, and the SSE4.2 crc32 instruction (crc32c_hw.c,
 * the only file built with -msse4.2) chosen at run time by a cpuid check, so
 * the binary still runs on CPUs without SSE4.2.
 */
#include "bench.h"

static uint32_t table[8][256];
static int table_ready;

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    table_ready = 1;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (!table_ready)
        make_table();
    crc = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
              table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
              table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

static int have_hw = -1;

static int hw_ok(void)
{
    if (have_hw < 0) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        have_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
        have_hw = 0;
#endif
    }
    return have_hw;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    return hw_ok() ? crc32c_hw(crc, buf, len) : crc32c_sw(crc, buf, len);
}

const char *crc32c_impl(void) { return hw_ok() ? "sse4.2" : "slice-8"; }

int crc32c_selftest(void)
{
    static const char v[] = "123456789";
    unsigned char big[1000];
    if (crc32c_sw(0, v, 9) != 0xE3069283u)
        return -1;
    fill_pattern(big, sizeof big, 7);
    if (hw_ok() && (crc32c_hw(0, v, 9) != 0xE3069283u ||
                    crc32c_hw(0, big + 3, 990) != crc32c_sw(0, big + 3, 990)))
        return -1;
    return 0;
}
