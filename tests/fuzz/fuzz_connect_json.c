/*
 * fuzz_connect_json.c - libFuzzer target: a connector's settings as JSON
 * (evl_connect_json, also the REST API's bodies). Any text parses into
 * pairs or is refused with a message; never a crash or a read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_pairs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    char **pairs;
    size_t n;
    char err[128];
    check_pairs(evl_connect_json(copy, size, &pairs, &n, err, sizeof err), pairs, n, err);
    free(copy);
    return 0;
}
