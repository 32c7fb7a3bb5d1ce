/*
 * connect_helpers.h - what the connect tests share: numbered lines written
 * to a file ("line-<i>").
 */
#ifndef EVL_CONNECT_HELPERS_H
#define EVL_CONNECT_HELPERS_H

#include "helpers.h"

static inline void append_lines(const char *path, int from, int to)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    for (int i = from; i < to; i++)
        fprintf(f, "line-%d\n", i);
    fclose(f);
}

#endif
