/*
 * test_meta.c - the metadata (DIR/meta, LMDB) lost or damaged while the
 * topics' files are not: found at open, rebuilt from the files, lost
 * committed offsets reported and never silently reset, damaged files
 * refused with the file named (issue 18, items 2 and 6).
 */
#include <sys/stat.h>

#include "helpers.h"

TestSuite(meta, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 60);

static void send_n(evl_log_t *log, const char *topic, int p, int n)
{
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, topic, NULL, &prod), 0);
    for (int i = 0; i < n; i++)
        test_send(prod, p, NULL, "v", 0);
    evl_producer_close(prod);
}

static evl_consumer_t *consumer(evl_log_t *log, const char *group, const char *reset)
{
    evl_config_t *c = evl_config_new();
    evl_config_set(c, "group.id", group, NULL, 0);
    evl_config_set(c, "auto.offset.reset", reset, NULL, 0);
    evl_config_set(c, "enable.auto.commit", "false", NULL, 0);
    evl_consumer_t *cons;
    cr_assert_eq(evl_consumer_new(log, c, &cons), 0);
    evl_config_free(c);
    return cons;
}

/* Group S commits through a subscription, group M by hand (manual assign). */
static void make_log_with_groups(void)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    evl_config_t *tcfg = test_cfg("retention.ms", "123456789", "segment.bytes", "1048576", NULL);
    cr_assert_eq(evl_topic_create(log, "orders", 3, tcfg), 0);
    cr_assert_eq(evl_topic_create(log, "audit", 1, NULL), 0);
    send_n(log, "orders", 1, 10);
    send_n(log, "audit", 0, 4);
    evl_consumer_t *s = consumer(log, "S", "earliest");
    const char *topics[] = {"orders"};
    cr_assert_eq(evl_consumer_subscribe(s, topics, 1), 0);
    const evl_record_t *recs[8];
    size_t n;
    cr_assert_eq(evl_consumer_poll(s, 2000, recs, 8, &n), 0);
    cr_assert_eq(evl_consumer_commit(s), 0);
    evl_consumer_close(s);
    evl_consumer_t *m = consumer(log, "M", "earliest");
    evl_topic_partition_t tp = {"audit", 0, 3};
    cr_assert_eq(evl_consumer_commit_offsets(m, &tp, 1, NULL), 0);
    evl_consumer_close(m);
    evl_log_close(log);
    evl_config_free(tcfg);
    evl_config_free(cfg);
}

/* Deleting data.mdb used to give an empty log: topic list empty (exit 0),
 * verify clean, the offsets gone, and a topic created again adopting the
 * old data. */
Test(meta, lost_metadata_is_rebuilt_from_the_files)
{
    make_log_with_groups();
    cr_assert_eq(unlink(tpath("log/meta/data.mdb")), 0);
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert(strstr(test_logbuf, "metadata lost"), "%s", test_logbuf);
    cr_assert(strstr(test_logbuf, "2 topic(s) rebuilt"), "%s", test_logbuf);
    cr_assert(strstr(test_logbuf, "committed offsets lost for 2 group(s)"), "%s", test_logbuf);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_TOPICS_RECOVERED), 2);
    char **names;
    size_t n;
    cr_assert_eq(evl_topic_list(log, &names, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "audit");
    cr_assert_str_eq(names[1], "orders");
    free(names);
    /* Partition counts and settings come back from topic.conf. */
    cr_assert_eq(evl_topic_partitions(log, "orders"), 3);
    char buf[32];
    evl_topic_config_get(log, "orders", "retention.ms", buf, sizeof buf);
    cr_assert_str_eq(buf, "123456789");
    evl_topic_config_get(log, "orders", "segment.bytes", buf, sizeof buf);
    cr_assert_str_eq(buf, "1048576");
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "orders", 1, &pi), 0);
    cr_assert_eq(pi.end_offset, 10);
    /* A topic of an old name is not created over its data. */
    cr_assert_eq(evl_topic_create(log, "orders", 1, NULL), EVL_EEXIST);
    /* Both groups are listed again, marked as having lost their offsets. */
    cr_assert_eq(evl_group_list(log, &names, &n), 0);
    cr_assert_eq(n, 2);
    free(names);
    evl_group_info_t *info;
    cr_assert_eq(evl_group_describe(log, "M", &info), 0);
    cr_assert_eq(evl_group_info_offsets_lost(info), 1);
    evl_group_info_free(info);
    /* Their consumers get no position, whatever auto.offset.reset says. */
    evl_consumer_t *m = consumer(log, "M", "earliest");
    evl_topic_partition_t tp = {"audit", 0, EVL_OFFSET_COMMITTED};
    cr_assert_eq(evl_consumer_assign(m, &tp, 1), 0);
    const evl_record_t *recs[8];
    cr_assert_eq(evl_consumer_poll(m, 0, recs, 8, &n), EVL_ENOOFFSET);
    cr_assert(strstr(test_logbuf, "group M: audit/0: no committed offset, and the group's "
                                  "committed offsets were lost"), "%s", test_logbuf);
    evl_consumer_close(m);
    evl_consumer_t *s = consumer(log, "S", "latest");
    const char *topics[] = {"orders"};
    cr_assert_eq(evl_consumer_subscribe(s, topics, 1), 0);
    int rc = EVL_ETIMEDOUT;
    for (int i = 0; i < 50 && rc == EVL_ETIMEDOUT; i++)
        rc = evl_consumer_poll(s, 20, recs, 8, &n);
    cr_assert_eq(rc, EVL_ENOOFFSET, "%s", evl_errname(rc));
    evl_consumer_close(s);
    /* A reset chooses the position: the mark goes, reading works. */
    cr_assert_eq(evl_group_reset(log, "M", "audit", EVL_RESET_OFFSET, 2), 0);
    cr_assert_eq(evl_group_describe(log, "M", &info), 0);
    cr_assert_eq(evl_group_info_offsets_lost(info), 0);
    evl_group_info_free(info);
    m = consumer(log, "M", "earliest");
    cr_assert_eq(evl_consumer_assign(m, &tp, 1), 0);
    cr_assert_eq(evl_consumer_poll(m, 1000, recs, 8, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(evl_record_offset(recs[0]), 2);
    evl_consumer_close(m);
    cr_assert_eq(evl_group_delete(log, "S"), 0);
    evl_log_close(log);
    /* Found once: the next open is quiet. */
    test_logbuf[0] = 0;
    log = test_open(cfg);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_TOPICS_RECOVERED), 0);
    cr_assert(!strstr(test_logbuf, "metadata lost"), "%s", test_logbuf);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Folders written before topic.conf existed: rebuilt from what the files
 * say (partition folders, the segment size in a segment header), when the
 * metadata is new while the folders exist. */
Test(meta, folders_without_topic_conf_are_rebuilt_when_the_metadata_is_new)
{
    make_log_with_groups();
    cr_assert_eq(unlink(tpath("log/topics/orders/topic.conf")), 0);
    cr_assert_eq(unlink(tpath("log/meta/data.mdb")), 0);
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert(strstr(test_logbuf, "topic orders: its metadata was missing; rebuilt from its "
                                  "folders, with default settings (3 partitions)"),
              "%s", test_logbuf);
    cr_assert_eq(evl_topic_partitions(log, "orders"), 3);
    char buf[32];
    evl_topic_config_get(log, "orders", "segment.bytes", buf, sizeof buf);
    cr_assert_str_eq(buf, "1048576");
    cr_assert_eq(access(tpath("log/topics/orders/topic.conf"), F_OK), 0, "written back");
    evl_log_close(log);
    evl_config_free(cfg);
}

/* With metadata that is not new, a folder no record owns is a leftover:
 * not adopted, and a topic created under its name starts empty. */
Test(meta, leftover_folder_is_not_adopted)
{
    make_log_with_groups();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -a %s %s", tpath("log/topics/audit"), tpath("keep"));
    cr_assert_eq(system(cmd), 0);
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert_eq(evl_topic_delete(log, "audit"), 0);
    evl_log_close(log);
    /* The folder comes back without its topic.conf (as a crashed delete of
     * an older version left it). */
    snprintf(cmd, sizeof cmd, "mv %s %s && rm -f %s/topic.conf", tpath("keep"),
             tpath("log/topics/audit"), tpath("log/topics/audit"));
    cr_assert_eq(system(cmd), 0);
    test_logbuf[0] = 0;
    log = test_open(cfg);
    cr_assert_eq(evl_topic_partitions(log, "audit"), EVL_ENOTFOUND);
    cr_assert(strstr(test_logbuf, "topics/audit holds no topic the metadata knows of"), "%s",
              test_logbuf);
    cr_assert_eq(evl_topic_create(log, "audit", 1, NULL), 0);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "audit", 0, &pi), 0);
    cr_assert_eq(pi.end_offset, 0, "the old data was adopted");
    evl_log_close(log);
    evl_config_free(cfg);
}

/* A delete interrupted after topic.conf was renamed: with its record still
 * there the topic stays whole; without, the leftover goes. */
Test(meta, interrupted_delete_is_finished_or_undone)
{
    make_log_with_groups();
    cr_assert_eq(rename(tpath("log/topics/audit/topic.conf"),
                        tpath("log/topics/audit/topic.conf.deleted")), 0);
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert_eq(evl_topic_partitions(log, "audit"), 1);
    cr_assert_eq(access(tpath("log/topics/audit/topic.conf"), F_OK), 0);
    cr_assert_eq(access(tpath("log/topics/audit/topic.conf.deleted"), F_OK), -1);
    evl_log_close(log);
    /* Now as if the crash came after the record went, metadata lost too. */
    cr_assert_eq(rename(tpath("log/topics/audit/topic.conf"),
                        tpath("log/topics/audit/topic.conf.deleted")), 0);
    cr_assert_eq(unlink(tpath("log/meta/data.mdb")), 0);
    log = test_open(cfg);
    cr_assert_eq(evl_topic_partitions(log, "audit"), EVL_ENOTFOUND);
    cr_assert_eq(evl_topic_partitions(log, "orders"), 3);
    cr_assert_eq(access(tpath("log/topics/audit"), F_OK), -1);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* A truncated data.mdb was SIGBUS inside LMDB on any open; a file that is
 * not LMDB's read as "another version". Both are EVL_ECORRUPT naming the
 * file now, and recovery.mode=repair sets it aside and rebuilds. */
Test(meta, damaged_metadata_is_an_error_naming_the_file)
{
    make_log_with_groups();
    struct stat st;
    cr_assert_eq(stat(tpath("log/meta/data.mdb"), &st), 0);
    cr_assert_gt(st.st_size, 16384, "the file is larger than what is kept");
    cr_assert_eq(truncate(tpath("log/meta/data.mdb"), 16384), 0);
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = (evl_log_t *)1;
    cr_assert_eq(evl_log_open(tpath("log"), cfg, &log), EVL_ECORRUPT);
    cr_assert_null(log);
    cr_assert(strstr(test_logbuf, "meta/data.mdb is truncated: 16384 bytes"), "%s", test_logbuf);
    cr_assert_eq(truncate(tpath("log/meta/data.mdb"), 100), 0);
    test_logbuf[0] = 0;
    cr_assert_eq(evl_log_open(tpath("log"), cfg, &log), EVL_ECORRUPT);
    cr_assert(strstr(test_logbuf, "meta/data.mdb is not an LMDB file"), "%s", test_logbuf);
    evl_config_t *rep = test_cfg("recovery.mode", "repair", NULL);
    test_logbuf[0] = 0;
    cr_assert_eq(evl_log_open(tpath("log"), rep, &log), 0);
    cr_assert(strstr(test_logbuf, "was renamed to"), "%s", test_logbuf);
    cr_assert_eq(evl_topic_partitions(log, "orders"), 3);
    cr_assert_eq(evl_topic_partitions(log, "audit"), 1);
    evl_log_close(log);
    cr_assert_eq(evl_log_open(tpath("log"), cfg, &log), 0);
    evl_log_close(log);
    evl_config_free(rep);
    evl_config_free(cfg);
}

/* The metadata is shared by the handles of a process; its own messages
 * (the map growing) went to the first handle's callback for the process's
 * life, also after that handle closed and its opaque was freed. */
struct sink {
    int closed, after_close, got;
};

static void sink_cb(void *opaque, int level, const char *msg)
{
    struct sink *s = opaque;
    (void)level;
    if (strstr(msg, "map grown")) {
        s->got++;
        if (s->closed)
            s->after_close++;
    }
}

Test(meta, shared_metadata_logs_to_an_open_handle)
{
    struct sink a = {0}, b = {0};
    evl_config_t *ca = test_cfg("meta.mapsize", "1048576", NULL), *cb = evl_config_dup(ca);
    evl_config_set_log_cb(ca, sink_cb, &a);
    evl_config_set_log_cb(cb, sink_cb, &b);
    evl_log_t *la = test_open(ca), *lb = test_open(cb);
    evl_log_close(la);
    a.closed = 1;
    /* Enough committed offsets to outgrow a 1 MiB map. */
    evl_consumer_t *c;
    evl_config_t *g = evl_config_new();
    evl_config_set(g, "group.id", "g", NULL, 0);
    cr_assert_eq(evl_consumer_new(lb, g, &c), 0);
    cr_assert_eq(evl_topic_create(lb, "t", 1, NULL), 0);
    static char meta[2000];
    memset(meta, 'm', sizeof meta - 1);
    for (int i = 0; i < 2000 && !b.got; i++) {
        evl_topic_partition_t tp = {"t", i, 1};
        cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, meta), 0);
    }
    cr_assert_gt(b.got, 0, "the map never grew");
    cr_assert_eq(a.after_close, 0, "a closed handle's callback was called");
    evl_consumer_close(c);
    evl_log_close(lb);
    evl_config_free(g);
    evl_config_free(ca);
    evl_config_free(cb);
}
