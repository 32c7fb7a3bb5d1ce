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

/* What group has committed, over all its partitions (0 if it has none). */
static inline int64_t group_committed(evl_log_t *log, const char *group)
{
    evl_group_info_t *gi;
    if (evl_group_describe(log, group, &gi))
        return 0;
    int64_t t = 0;
    for (size_t i = 0; i < evl_group_info_partition_count(gi); i++) {
        const char *topic, *member;
        int32_t part;
        int64_t committed, end;
        cr_assert_eq(evl_group_info_partition(gi, i, &topic, &part, &committed, &end, &member), 0);
        t += committed > 0 ? committed : 0;
    }
    evl_group_info_free(gi);
    return t;
}

#endif
