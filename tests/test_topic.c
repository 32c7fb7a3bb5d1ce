/*
 * test_topic.c - the log directory and topics: create, list, describe,
 * delete, grow, names, persistence of settings, several handles.
 */
#include <pthread.h>

#include "helpers.h"

TestSuite(topic, .init = test_dir_setup, .fini = test_dir_teardown);

Test(topic, create_list_describe_delete)
{
    evl_config_t *cfg = test_cfg("retention.ms", "60000", NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert_eq(evl_topic_create(log, "orders", 3, cfg), 0);
    cr_assert_eq(evl_topic_create(log, "audit.log-v1_x", 0, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "orders", 3, NULL), EVL_EEXIST);
    char **names;
    size_t n;
    cr_assert_eq(evl_topic_list(log, &names, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "audit.log-v1_x");
    cr_assert_str_eq(names[1], "orders");
    cr_assert_null(names[2]);
    free(names);
    cr_assert_eq(evl_topic_partitions(log, "orders"), 3);
    cr_assert_eq(evl_topic_partitions(log, "audit.log-v1_x"), 1);
    cr_assert_eq(evl_topic_partitions(log, "nope"), EVL_ENOTFOUND);
    char buf[64];
    cr_assert_gt(evl_topic_config_get(log, "orders", "retention.ms", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "60000");
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "orders", 2, &pi), 0);
    cr_assert_eq(pi.start_offset, 0);
    cr_assert_eq(pi.end_offset, 0);
    cr_assert_eq(pi.segments, 1);
    cr_assert_eq(evl_partition_info(log, "orders", 3, &pi), EVL_ENOTFOUND);
    cr_assert_eq(evl_topic_delete(log, "orders"), 0);
    cr_assert_eq(evl_topic_delete(log, "orders"), EVL_ENOTFOUND);
    cr_assert_eq(access(tpath("log/topics/orders"), F_OK), -1);
    cr_assert_eq(evl_topic_partitions(log, "orders"), EVL_ENOTFOUND);
    /* A new topic of the same name starts empty. */
    cr_assert_eq(evl_topic_create(log, "orders", 1, NULL), 0);
    cr_assert_eq(evl_partition_info(log, "orders", 0, &pi), 0);
    cr_assert_eq(pi.end_offset, 0);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(topic, names_follow_kafka_rules)
{
    evl_log_t *log = test_open(NULL);
    const char *bad[] = {"", ".", "..", "a/b", "../x", "x y", "é", "a\\b", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(evl_topic_create(log, bad[i], 1, NULL), EVL_EBADNAME, "%s", bad[i]);
    char longname[251];
    memset(longname, 'a', 250);
    longname[250] = 0;
    cr_assert_eq(evl_topic_create(log, longname, 1, NULL), EVL_EBADNAME);
    longname[249] = 0;
    cr_assert_eq(evl_topic_create(log, longname, 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log, NULL, 1, NULL), EVL_EBADNAME);
    cr_assert_eq(evl_topic_create(log, "ok", -1, NULL), EVL_EINVAL);
    evl_log_close(log);
}

Test(topic, settings_persist_and_bad_combination_refused)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "max.message.bytes", "1000",
                                 "partitioner", "murmur2", NULL);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 2, cfg), 0);
    evl_log_close(log);
    log = test_open(NULL);
    char buf[64];
    evl_topic_config_get(log, "t", "segment.bytes", buf, sizeof buf);
    cr_assert_str_eq(buf, "65536");
    evl_topic_config_get(log, "t", "partitioner", buf, sizeof buf);
    cr_assert_str_eq(buf, "murmur2");
    cr_assert_eq(evl_topic_config_get(log, "t", "bogus", buf, sizeof buf), EVL_ECONFIG);
    evl_config_t *bad = test_cfg("segment.bytes", "65536", "max.message.bytes", "65536", NULL);
    cr_assert_eq(evl_topic_create(log, "u", 1, bad), EVL_ECONFIG);
    evl_log_close(log);
    evl_config_free(cfg);
    evl_config_free(bad);
}

Test(topic, add_partitions_grows_only)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 2, NULL), 0);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &prod), 0);
    cr_assert_eq(evl_topic_add_partitions(log, "t", 2), EVL_EINVAL);
    cr_assert_eq(evl_topic_add_partitions(log, "t", 5), 0);
    cr_assert_eq(evl_topic_add_partitions(log, "zz", 5), EVL_ENOTFOUND);
    /* A second handle (as another process would) sees 5. */
    evl_log_t *log2 = test_open(NULL);
    cr_assert_eq(evl_topic_partitions(log2, "t"), 5);
    evl_producer_t *p2;
    cr_assert_eq(evl_producer_new(log2, "t", NULL, &p2), 0);
    cr_assert_eq(test_send(p2, 4, NULL, "x", 0), 0);
    /* The first producer still sends to the new partition. */
    cr_assert_eq(test_send(prod, 4, NULL, "y", 0), 1);
    evl_producer_close(p2);
    evl_producer_close(prod);
    evl_log_close(log2);
    evl_log_close(log);
}

Test(topic, open_errors)
{
    evl_log_t *log = (evl_log_t *)1;
    cr_assert_eq(evl_log_open("", NULL, &log), EVL_EINVAL);
    cr_assert_null(log);
    cr_assert_eq(evl_log_open(NULL, NULL, &log), EVL_EINVAL);
    FILE *f = fopen(tpath("file"), "w");
    fclose(f);
    cr_assert_lt(evl_log_open(tpath("file"), NULL, &log), 0);
    cr_assert_null(log);
    evl_log_close(NULL);
}

/* Issue 18: " 1048576", "+65536" and "065536" used to pass for numbers. */
Test(topic, config_numbers_are_plain_decimal)
{
    evl_config_t *cfg = evl_config_new();
    char err[128];
    const char *bad[] = {" 1048576", "+65536", "065536", "65536 ", "", "-", "1e6", "0x10000",
                         "--1", "00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        cr_assert_eq(evl_config_set(cfg, "segment.bytes", bad[i], err, sizeof err), EVL_ECONFIG,
                     "'%s' accepted", bad[i]);
        cr_assert(strstr(err, "segment.bytes"), "%s", err);
    }
    cr_assert_eq(evl_config_set(cfg, "segment.bytes", "65536", err, sizeof err), 0);
    cr_assert_eq(evl_config_set(cfg, "retention.bytes", "-1", err, sizeof err), 0);
    cr_assert_eq(evl_config_set(cfg, "disk.bytes.max", "0", err, sizeof err), 0);
    evl_config_free(cfg);
}

/* Issue 18: settings that do not apply to a call are refused, not ignored. */
Test(topic, settings_that_do_not_apply_are_refused)
{
    evl_config_t *lcfg = test_cfg("disk.bytes.max", "100000000", NULL);
    evl_log_t *log = test_open(lcfg);
    evl_config_t *c = test_cfg("group.id", "g", NULL);
    cr_assert_eq(evl_topic_create(log, "a", 1, c), EVL_ECONFIG);
    cr_assert(strstr(test_logbuf, "group.id is not a topic setting"), "%s", test_logbuf);
    evl_config_free(c);
    c = test_cfg("disk.bytes.max", "5000", NULL); /* another budget than the log's */
    cr_assert_eq(evl_topic_create(log, "a", 1, c), EVL_ECONFIG);
    evl_config_free(c);
    c = test_cfg("recovery.mode", "rebuild", NULL);
    cr_assert_eq(evl_topic_create(log, "a", 1, c), EVL_ECONFIG);
    evl_config_free(c);
    cr_assert_eq(evl_topic_partitions(log, "a"), EVL_ENOTFOUND, "nothing was created");
    /* The config that opened the log may create topics: its log settings
     * are the log's own. */
    cr_assert_eq(evl_topic_create(log, "a", 1, lcfg), 0);
    /* Producers take producer settings, consumers consumer settings. */
    evl_producer_t *prod = NULL;
    c = test_cfg("auto.offset.reset", "earliest", NULL);
    cr_assert_eq(evl_producer_new(log, "a", c, &prod), EVL_ECONFIG);
    cr_assert_null(prod);
    evl_config_free(c);
    c = test_cfg("durability", "fsync", "sticky.records", "8", NULL);
    cr_assert_eq(evl_producer_new(log, "a", c, &prod), 0);
    evl_producer_close(prod);
    evl_consumer_t *cons = NULL;
    cr_assert_eq(evl_consumer_new(log, c, &cons), EVL_ECONFIG);
    cr_assert_null(cons);
    evl_config_free(c);
    evl_log_close(log);
    /* The log takes log, topic (defaults) and producer (defaults) settings. */
    c = test_cfg("group.id", "g", NULL);
    log = (evl_log_t *)1;
    cr_assert_eq(evl_log_open(tpath("log"), c, &log), EVL_ECONFIG);
    cr_assert_null(log);
    evl_config_free(c);
    evl_config_free(lcfg);
}

/* Issue 18: a default max.message.bytes lowered to fit segment.bytes is said
 * so, and the effective value is what the topic reports. */
Test(topic, clamped_max_message_bytes_is_reported)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", NULL), *lcfg = test_cfg(NULL);
    evl_log_t *log = test_open(lcfg);
    evl_config_free(lcfg);
    cr_assert_eq(evl_topic_create(log, "t", 1, cfg), 0);
    char buf[32];
    cr_assert_gt(evl_topic_config_get(log, "t", "max.message.bytes", buf, sizeof buf), 0);
    /* 65536 less the header page, the end marker and a record's largest
     * frame and record fields (record.h: 69 + 39 bytes since sequences are
     * 64-bit), 8-aligned down. */
    cr_assert_str_eq(buf, "61312");
    cr_assert(strstr(test_logbuf, "max.message.bytes lowered from its default 1048576 to 61312"),
              "%s", test_logbuf);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Issue 18: a producer opened before the topic grew kept hashing keys over
 * the old count, so one key landed in two partitions. It sees the growth at
 * its next send, whichever handle or process grew the topic. */
Test(topic, producers_see_partition_growth_at_their_next_send)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg), *other = test_open(cfg);
    cr_assert_eq(evl_topic_create(log, "t", 2, NULL), 0);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &prod), 0);
    /* A key that maps to different partitions over 2 and over 8. */
    cr_assert_eq(evl_topic_create(log, "eight", 8, NULL), 0);
    evl_producer_t *eight;
    cr_assert_eq(evl_producer_new(log, "eight", NULL, &eight), 0);
    char key[16];
    int p2 = 0, p8 = 0;
    for (int k = 0; p2 == p8; k++) {
        snprintf(key, sizeof key, "key-%d", k);
        p2 = evl_producer_partition_for(prod, key, strlen(key));
        p8 = evl_producer_partition_for(eight, key, strlen(key));
    }
    evl_producer_close(eight);
    evl_msg_t m = {key, strlen(key), "v", 1, NULL, 0, -1, EVL_PARTITION_ANY, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(m.partition, p2);
    /* Grown through another handle (as another process would). */
    cr_assert_eq(evl_topic_add_partitions(other, "t", 8), 0);
    evl_producer_t *fresh;
    cr_assert_eq(evl_producer_new(other, "t", NULL, &fresh), 0);
    cr_assert_eq(evl_producer_partition_for(fresh, key, strlen(key)), p8);
    m.partition = EVL_PARTITION_ANY;
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(m.partition, p8, "the old producer sent to %d, a new one sends to %d",
                 m.partition, p8);
    cr_assert_eq(evl_producer_partition_for(prod, key, strlen(key)), p8);
    /* The new partitions exist on disk already (made by the alter). */
    for (int p = 2; p < 8; p++) {
        char path[64];
        snprintf(path, sizeof path, "log/topics/t/%d", p);
        cr_assert_eq(access(tpath(path), F_OK), 0, "%s", path);
    }
    evl_producer_close(fresh);
    evl_producer_close(prod);
    evl_log_close(other);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Internal topics (issue 19): "__" names are the library's areas' own. */
Test(topic, internal_topics_are_reserved_and_hidden_from_the_list)
{
    evl_config_t *lc = test_cfg(NULL);
    evl_log_t *log = test_open(lc);
    evl_config_free(lc);
    cr_assert_eq(evl_topic_create(log, "__schemas", 1, NULL), EVL_EBADNAME);
    cr_assert(strstr(test_logbuf, "library's own"), "%s", test_logbuf);
    cr_assert_eq(evl_topic_create_internal(log, "schemas", 1, NULL), EVL_EBADNAME);
    cr_assert_eq(evl_topic_create_internal(log, "__schemas", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "user", 2, NULL), 0);
    char **names;
    size_t n;
    cr_assert_eq(evl_topic_list(log, &names, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(names[0], "user");
    cr_assert_null(names[1]);
    free(names);
    cr_assert_eq(evl_topic_list_v2(log, EVL_TOPIC_LIST_INTERNAL, &names, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "__schemas");
    free(names);
    cr_assert_eq(evl_topic_list_v2(log, 8, &names, &n), EVL_EINVAL);
    /* Otherwise a topic like any other. */
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "__schemas", NULL, &p), 0);
    cr_assert_eq(test_send(p, 0, "k", "v", 0), 0);
    evl_producer_close(p);
    cr_assert_eq(evl_topic_delete(log, "__schemas"), 0);
    evl_log_close(log);
}

/* A topic's record is written before its folder: a thread that sees the
 * new topic (another is making it) and sends to it at once must not be
 * told there is no such topic. */
typedef struct maker {
    evl_log_t *log;
    char name[32];
} maker_t;

static void *make_topic(void *arg)
{
    maker_t *m = arg;
    evl_topic_create(m->log, m->name, 8, NULL);
    return NULL;
}

Test(topic, sent_to_while_being_made, .timeout = 60)
{
    evl_log_t *log = test_open(NULL);
    evl_producer_t *p;
    evl_config_t *c = evl_config_new();
    cr_assert_eq(evl_producer_open(log, c, &p), 0);
    evl_config_free(c);
    for (int i = 0; i < 60; i++) {
        maker_t m = {log, ""};
        snprintf(m.name, sizeof m.name, "t%d", i);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, make_topic, &m), 0);
        while (evl_topic_partitions(log, m.name) == EVL_ENOTFOUND)
            ; /* until the record is there: the folder may not be */
        evl_msg_t msg = {"k", 1, "v", 1, NULL, 0, -1, 7, -1};
        int rc = evl_producer_send_to(p, m.name, &msg, 0);
        pthread_join(th, NULL);
        cr_assert_eq(rc, 0, "%s: %s", m.name, evl_strerror(rc));
    }
    evl_producer_close(p);
    evl_log_close(log);
}
