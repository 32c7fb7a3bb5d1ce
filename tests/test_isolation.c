/*
 * test_isolation.c - what readers may return (issue 19's seam for
 * read_committed and exactly-once reads): a bound set by the application
 * (records at or past it wait), for readers and consumers; control batches
 * (transaction markers) never returned, but seen by the batch cursor.
 */
#include "helpers.h"

#include <eventlog/batch.h>

#include "partition.h"
#include "record.h"
#include "topic.h"

TestSuite(isolation, .init = test_dir_setup, .fini = test_dir_teardown);

static int64_t bound_of(void *arg, const char *topic, int32_t partition)
{
    (void)topic;
    (void)partition;
    return *(int64_t *)arg;
}

static void produce_n(evl_producer_t *p, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        cr_assert_eq(test_send(p, 0, NULL, v, 0), i);
    }
}

Test(isolation, a_reader_returns_nothing_at_or_past_its_bound)
{
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &p);
    produce_n(p, 0, 10);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    int64_t bound = 5;
    evl_reader_set_bound(rd, bound_of, &bound);
    const evl_record_t *r;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), i);
    }
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ETIMEDOUT);
    cr_assert_eq(evl_reader_next(rd, 20, &r), EVL_ETIMEDOUT, "waits like the end");
    cr_assert_eq(evl_reader_position(rd), 5);
    bound = 8;
    for (int i = 5; i < 8; i++) {
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), i);
    }
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ETIMEDOUT);
    evl_reader_set_bound(rd, NULL, NULL);
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_record_offset(r), 8);
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
}

Test(isolation, a_consumer_applies_its_bound_to_every_partition)
{
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &p);
    produce_n(p, 0, 10);
    evl_consumer_t *c;
    cr_assert_eq(evl_consumer_new(log, NULL, &c), 0);
    int64_t bound = 3;
    evl_consumer_set_bound(c, bound_of, &bound);
    evl_topic_partition_t tp = {"t", 0, 0};
    cr_assert_eq(evl_consumer_assign(c, &tp, 1), 0);
    const evl_record_t *recs[20];
    size_t n;
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 20, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(evl_record_offset(recs[2]), 2);
    bound = INT64_MAX;
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 20, &n), 0);
    cr_assert_eq(n, 7);
    evl_consumer_close(c);
    evl_producer_close(p);
    evl_log_close(log);
}

Test(isolation, control_batches_are_skipped_by_readers_and_shown_by_the_cursor)
{
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &p);
    produce_n(p, 0, 3);
    /* A control batch (what a transaction's commit marker will be), appended
     * through the core's append with options. */
    evl_topic_t *t;
    evl_part_t *part;
    cr_assert_eq(evl__topic_get(log, "t", &t), 0);
    cr_assert_eq(evl__topic_part(t, 0, &part), 0);
    evl_msg_t marker = {"commit", 6, "", 0, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
    evl_append_opts_t o = {.producer_id = 0, .attrs = EVL_ATTR_CONTROL | EVL_ATTR_TXN};
    evl_append_res_t res;
    cr_assert_eq(evl__part_append_ex(part, &marker, 1, EVL_FRAME_HDR_MAX + evl__rec_size(&marker),
                                     &o, NULL, &res), 0);
    cr_assert_eq(res.base, 3);
    produce_n(p, 4, 2);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int64_t seen[8];
    int n = 0;
    while (evl_reader_next(rd, 0, &r) == 0 && n < 8)
        seen[n++] = evl_record_offset(r);
    cr_assert_eq(n, 5);
    cr_assert_eq(seen[2], 2);
    cr_assert_eq(seen[3], 4, "offset 3, the marker, is not returned");
    evl_reader_close(rd);
    evl_cursor_t *cur;
    cr_assert_eq(evl_cursor_open(log, "t", 0, &cur), 0);
    evl_batch_t b;
    int control = 0;
    while (evl_cursor_next_batch(cur, &b) == 0)
        control += (b.flags & EVL_BATCH_CONTROL) && (b.flags & EVL_BATCH_TRANSACTIONAL) &&
                   b.base_offset == 3;
    cr_assert_eq(control, 1);
    evl_cursor_close(cur);
    evl_producer_close(p);
    evl_log_close(log);
}

typedef struct fence {
    int64_t limit;
    int calls;
    char topic[16];
    int32_t partition;
    int64_t last_next;
} fence_t;

static int fence_hook(void *arg, const char *topic, int32_t partition, int64_t next_offset)
{
    fence_t *f = arg;
    f->calls++;
    snprintf(f->topic, sizeof f->topic, "%s", topic);
    f->partition = partition;
    f->last_next = next_offset;
    return next_offset >= f->limit ? EVL_EFENCED : 0;
}

/* The public send with options: control records, and a hook under the
 * append lock that can refuse a frame (an area's fencing). */
Test(isolation, sends_with_options_carry_control_bits_and_a_hook)
{
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(NULL, "t", 2, &p);
    fence_t f = {.limit = 3};
    evl_send_opts_t so = {sizeof so, 0, fence_hook, &f};
    evl_msg_t m[2] = {{"k", 1, "a", 1, NULL, 0, EVL_TIMESTAMP_NOW, 1, -1},
                      {"k", 1, "b", 1, NULL, 0, EVL_TIMESTAMP_NOW, 1, -1}};
    cr_assert_eq(evl_producer_send_batch_ex(p, NULL, m, 2, 0, &so), 0);
    cr_assert_eq(f.calls, 1, "one frame");
    cr_assert_str_eq(f.topic, "t");
    cr_assert_eq(f.partition, 1);
    cr_assert_eq(f.last_next, 0);
    cr_assert_eq(m[1].offset, 1);
    evl_send_opts_t ctl = {sizeof ctl, EVL_SEND_CONTROL | EVL_SEND_TRANSACTIONAL, NULL, NULL};
    evl_msg_t marker = {"commit", 6, "", 0, NULL, 0, EVL_TIMESTAMP_NOW, 1, -1};
    cr_assert_eq(evl_producer_send_batch_ex(p, NULL, &marker, 1, 0, &ctl), 0);
    cr_assert_eq(marker.offset, 2);
    m[0].partition = m[1].partition = 1;
    cr_assert_eq(evl_producer_send_batch_ex(p, NULL, m, 2, 0, &so), EVL_EFENCED);
    cr_assert_eq(m[0].offset, -1, "refused: nothing appended");
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 1, &pi), 0);
    cr_assert_eq(pi.end_offset, 3);
    /* Readers skip the marker. */
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 1, &rd), 0);
    const evl_record_t *r;
    int n = 0;
    while (evl_reader_next(rd, 0, &r) == 0)
        n++;
    cr_assert_eq(n, 2);
    evl_reader_close(rd);
    /* Bad options. */
    evl_send_opts_t bad = {sizeof bad - 1, 0, NULL, NULL};
    cr_assert_eq(evl_producer_send_batch_ex(p, NULL, m, 2, 0, &bad), EVL_EINVAL);
    bad = (evl_send_opts_t){sizeof bad, 0x80, NULL, NULL};
    cr_assert_eq(evl_producer_send_batch_ex(p, NULL, m, 2, 0, &bad), EVL_EINVAL);
    evl_producer_close(p);
    evl_log_close(log);
}
