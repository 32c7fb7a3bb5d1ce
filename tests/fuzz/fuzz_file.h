/*
 * fuzz_file.h - writing a fuzz input as a checksummed file (a plan, a
 * snapshot) whose last 4 bytes are the CRC32C of the rest. Inputs of even
 * length get a correct checksum, so that the checks behind it are reached;
 * odd ones keep theirs, so that the checksum check is fuzzed too.
 */
#ifndef EVL_FUZZ_FILE_H
#define EVL_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

static void fuzz_write_checked(const char *path, const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size + 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    if (size >= 8 && size % 2 == 0) {
        uint32_t crc = evl__crc32c(0, copy, size - 4);
        memcpy(copy + size - 4, &crc, 4);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(copy, 1, size, f) != size))
        abort();
    fclose(f);
    free(copy);
}

#endif
