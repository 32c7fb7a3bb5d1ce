/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every record batch, as in
 * Kafka's v2 format. SSE4.2's crc32 instruction when the CPU has it (about
 * 20 GB/s), a slicing-by-8 table otherwise; chosen once at first use.
 */
#ifndef EVL_CRC32C_H
#define EVL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) over buf. */
uint32_t evl__crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable version, exposed for tests that compare both. */
uint32_t evl__crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Which path evl__crc32c takes on this CPU: "sse4.2+pclmul", "sse4.2" or
 * "slice-8" (for tests and the benchmark header). */
const char *evl__crc32c_impl(void);

#endif
