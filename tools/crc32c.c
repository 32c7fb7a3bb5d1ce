/*
 * crc32c.c - a small software CRC-32C (Castagnoli, reflected polynomial
 * 0x82F63B78), the checksum of libeventlog's record frames.
 *
 * `evl dump` needs it to check frames it parses itself, and the library's
 * own (hardware-accelerated) CRC is not public API. Byte-at-a-time with a
 * 256-entry table built on first use: dump is a debugging tool, so clarity
 * wins over speed. crc32c(0, "123456789", 9) == 0xE3069283.
 */
#include "evl.h"

static uint32_t table[256];
static int table_ready;

static void table_init(void)
{
    uint32_t i, c;
    int k;

    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        table[i] = c;
    }
    table_ready = 1;
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;

    if (!table_ready)
        table_init();
    crc = ~crc;
    while (n--)
        crc = (crc >> 8) ^ table[(crc ^ *s++) & 0xFFu];
    return ~crc;
}
