/*
 * test_kafka_source.c - KafkaSource against librdkafka's mock cluster:
 * every cluster record lands once in the local topic, cluster partition p
 * in local partition p in its order; kill -9 of the worker at random
 * moments loses and repeats nothing.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

TestSuite(kafka_source, .init = test_dir_setup, .fini = test_dir_teardown);

enum { N = 20000, PARTS = 3 };

static rd_kafka_t *owner;
static char boot[512];

/* A mock cluster with topic "remote" holding N records "v<i>" keyed k<i%10>. */
static void cluster_with_records(void)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof err);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(owner, "%s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(owner);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "remote", PARTS, 1), 0);
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    for (int i = 0; i < N; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % 10);
        snprintf(v, sizeof v, "v%d", i);
        cr_assert_eq(rd_kafka_producev(owner, RD_KAFKA_V_TOPIC("remote"), RD_KAFKA_V_KEY(k, strlen(k)),
                                       RD_KAFKA_V_VALUE(v, strlen(v)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    }
    cr_assert_eq(rd_kafka_flush(owner, 10000), 0);
}

static int64_t local_total(evl_log_t *log)
{
    int64_t t = 0;
    for (int p = 0; p < PARTS; p++) {
        evl_partition_info_t pi;
        cr_assert_eq(evl_partition_info(log, "local", p, &pi), 0);
        t += pi.end_offset;
    }
    return t;
}

/* Each local partition: its keys all hash to it in the cluster, values
 * increase, and N records in all, none twice. */
static void check_local(evl_log_t *log)
{
    static char seen[N];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (int p = 0; p < PARTS; p++) {
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, "local", p, &rd), 0);
        const evl_record_t *r;
        int last[10];
        for (int k = 0; k < 10; k++)
            last[k] = -1;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl, vl;
            const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
            char kb[8] = {0}, vb[16] = {0};
            memcpy(kb, k, kl < 7 ? kl : 7);
            memcpy(vb, v, vl < 15 ? vl : 15);
            int key = atoi(kb + 1), val = atoi(vb + 1);
            cr_assert(val >= 0 && val < N);
            cr_assert_eq(seen[val], 0, "v%d twice", val);
            seen[val] = 1;
            cr_assert_gt(val, last[key]);
            last[key] = val;
            total++;
        }
        evl_reader_close(rd);
    }
    cr_assert_eq(total, N);
}

static const char *pairs_of(const char **pairs)
{
    const char *p[] = {"name", "pull", "connector.class", "KafkaSource", "kafka.bootstrap.servers",
                       boot, "kafka.topics", "remote", "topic", "local"};
    memcpy(pairs, p, sizeof p);
    return NULL;
}

Test(kafka_source, every_cluster_record_lands_once_in_its_partition, .timeout = 60)
{
    cluster_with_records();
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", PARTS, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[10];
    pairs_of(pairs);
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 5, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 2000 && local_total(log) < N; i++)
        usleep(10000);
    usleep(200000);
    evl_connect_worker_free(w);
    check_local(log);
    /* A new worker finds nothing new. */
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_start(w, pairs, 5, err, sizeof err), 0, "%s", err);
    usleep(500000);
    evl_connect_worker_free(w);
    cr_assert_eq(local_total(log), N);
    evl_log_close(log);
    rd_kafka_destroy(owner);
}

static pid_t child(void)
{
    static const char *const files[] = {"pull.properties"};
    return spawn_worker(files, 1, NULL, 0);
}

Test(kafka_source, kill9_of_the_worker_loses_and_repeats_nothing, .timeout = 120)
{
    cluster_with_records();
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", PARTS, NULL), 0);
    const char *pairs[10];
    pairs_of(pairs);
    write_props("pull.properties", pairs, 5);
    unsigned seed = (unsigned)getpid();
    int kills = 0;
    for (int round = 0; round < (test_quick() ? 6 : 20) && local_total(log) < N; round++) {
        pid_t pid = child();
        /* a worker may move every record in ~40 ms: the first kills land
         * at its start, the later ones further into the transfer (the loop
         * ends once everything is there) */
        usleep(2000 + (unsigned)(rand_r(&seed) % (4000 + 3000 * (unsigned)round)));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        kills++;
    }
    pid_t pid = child();
    for (int i = 0; i < 3000 && local_total(log) < N; i++)
        usleep(10000);
    usleep(300000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    check_local(log);
    cr_log_info("kafka source: %d kills", kills);
    cr_assert_gt(kills, 1);
    evl_log_close(log);
    rd_kafka_destroy(owner);
}

/* Several cluster topics: each cluster partition in a local partition of
 * its own, in the order the topics are listed; the positions also reach
 * the cluster for kafka.group.id. */
Test(kafka_source, several_topics_each_partition_in_its_own, .timeout = 60)
{
    cluster_with_records(); /* "remote": PARTS partitions, N records */
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(owner);
    cr_assert_eq(rd_kafka_mock_topic_create(mc, "remote2", 2, 1), 0);
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof v, "w%d", i);
        cr_assert_eq(rd_kafka_producev(owner, RD_KAFKA_V_TOPIC("remote2"),
                                       RD_KAFKA_V_PARTITION(i % 2), RD_KAFKA_V_VALUE(v, strlen(v)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    }
    cr_assert_eq(rd_kafka_flush(owner, 10000), 0);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", PARTS + 2, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[] = {"name", "pull", "connector.class", "KafkaSource",
                           "kafka.bootstrap.servers", boot, "kafka.topics", "remote, remote2",
                           "kafka.group.id", "device-7", "topic", "local"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 6, err, sizeof err), 0, "%s", err);
    int64_t total = 0;
    for (int i = 0; i < 2000 && total < N + 100; i++) {
        usleep(10000);
        total = 0;
        for (int p = 0; p < PARTS + 2; p++) {
            evl_partition_info_t pi;
            cr_assert_eq(evl_partition_info(log, "local", p, &pi), 0);
            total += pi.end_offset;
        }
    }
    usleep(300000);
    evl_connect_worker_free(w);
    cr_assert_eq(total, N + 100);
    for (int p = 0; p < PARTS + 2; p++) { /* remote's in 0..PARTS-1, remote2's after */
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, "local", p, &rd), 0);
        const evl_record_t *r;
        int n = 0;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t vl;
            const char *v = evl_record_value(r, &vl);
            cr_assert_eq(v[0], p < PARTS ? 'v' : 'w', "local partition %d: %.*s", p, (int)vl, v);
            n++;
        }
        evl_reader_close(rd);
        if (p >= PARTS)
            cr_assert_eq(n, 50);
    }
    /* The cluster's group has the positions too. */
    char e2[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", boot, e2, sizeof e2);
    rd_kafka_conf_set(c, "group.id", "device-7", e2, sizeof e2);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e2, sizeof e2);
    cr_assert_not_null(rk, "%s", e2);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, "remote2", 0);
    rd_kafka_topic_partition_list_add(l, "remote2", 1);
    cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
    cr_assert_eq(l->elems[0].offset, 50);
    cr_assert_eq(l->elems[1].offset, 50);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    evl_log_close(log);
    rd_kafka_destroy(owner);
}
