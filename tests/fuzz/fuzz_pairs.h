/*
 * fuzz_pairs.h - what the connector-file fuzz targets check of a parse:
 * pairs complete and without a name twice, or a refusal with a message.
 */
#ifndef EVL_FUZZ_PAIRS_H
#define EVL_FUZZ_PAIRS_H

#include <stdlib.h>
#include <string.h>

#include <eventlog/connect.h>

static void check_pairs(int rc, char **pairs, size_t n, const char *err)
{
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
}

#endif
