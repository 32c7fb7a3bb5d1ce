/*
 * fuzz_connect_json.c - libFuzzer target: a connector's settings as JSON
 * (evl_connect_json, also the REST API's bodies). Any text parses into
 * pairs or is refused with a message; never a crash or a read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <eventlog/connect.h>

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
    int rc = evl_connect_json(copy, size, &pairs, &n, err, sizeof err);
    if (rc == 0) {
        for (size_t i = 0; i < 2 * n; i++)
            if (!pairs[i])
                abort();
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (!strcmp(pairs[2 * i], pairs[2 * j]))
                    abort(); /* duplicates are refused */
        evl_connect_pairs_free(pairs, n);
    } else if (rc != EVL_ECONFIG && rc != EVL_ENOMEM) {
        abort();
    } else if (rc == EVL_ECONFIG && !err[0]) {
        abort();
    }
    free(copy);
    return 0;
}
