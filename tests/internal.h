/*
 * internal.h - for tests that look inside the library (lib/ headers: the
 * build puts lib/ on the include path).
 */
#ifndef EVL_TESTS_INTERNAL_H
#define EVL_TESTS_INTERNAL_H

#include <criterion/criterion.h>

#include "partition.h"
#include "topic.h"

/* This handle's partition p of topic (opened if need be). */
static inline evl_part_t *test_part(evl_log_t *log, const char *topic, int p)
{
    evl_topic_t *t;
    evl_part_t *part;
    cr_assert_eq(evl__topic_get(log, topic, &t), 0);
    cr_assert_eq(evl__topic_part(t, p, &part), 0);
    return part;
}

#endif
