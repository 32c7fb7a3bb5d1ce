/*
 * test_kafka_sink.c - KafkaSink against librdkafka's in-process mock
 * cluster (on 127.0.0.1): local records reach the cluster with key, value,
 * timestamp and headers, in per-key order, none missing; a broker down
 * while forwarding delays them, loses none; a bad librdkafka setting is
 * refused naming it.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

TestSuite(kafka_sink, .init = test_dir_setup, .fini = test_dir_teardown);

/* A mock cluster of 3 brokers, owned by a handle the test keeps. */
static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock;

static const char *mock_start(void)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof err),
                 RD_KAFKA_CONF_OK, "%s", err);
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(mock_owner, "%s", err);
    mock = rd_kafka_handle_mock_cluster(mock_owner);
    cr_assert_not_null(mock);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "remote", 3, 1), 0);
    return rd_kafka_mock_cluster_bootstraps(mock);
}

static void mock_stop(void)
{
    rd_kafka_destroy(mock_owner);
    mock_owner = NULL;
}

/* Read every message of the cluster's topic: count, and check that each
 * key's values come in increasing order and carry evl.source. */
static int read_back(const char *bootstraps, int expect)
{
    rd_kafka_t *rk = cluster_reader(bootstraps, "remote", 3);
    int n = 0, idle = 0, last[10];
    for (int k = 0; k < 10; k++)
        last[k] = -1;
    while (n < expect && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (!m->err) {
            char kb[8] = {0}, vb[16] = {0};
            memcpy(kb, m->key, m->key_len < 7 ? m->key_len : 7);
            memcpy(vb, m->payload, m->len < 15 ? m->len : 15);
            int key = atoi(kb + 1), val = atoi(vb);
            cr_assert(key >= 0 && key < 10);
            cr_assert_gt(val, last[key], "key k%d: %d after %d", key, val, last[key]);
            last[key] = val;
            rd_kafka_headers_t *hs;
            const void *hv;
            size_t hl;
            cr_assert(rd_kafka_message_headers(m, &hs) == 0 &&
                          rd_kafka_header_get_last(hs, "evl.source", &hv, &hl) == 0,
                      "no evl.source header");
            n++;
            idle = 0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static void produce_local(evl_log_t *log, int from, int to)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "local", NULL, &p), 0);
    for (int i = from; i < to; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % 10);
        snprintf(v, sizeof v, "%d", i);
        evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW,
                       EVL_PARTITION_ANY, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
}

static void wait_moved(evl_connect_worker_t *w, int64_t n)
{
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 3000 && m.records < n; i++) {
        evl_connect_metrics(w, "fwd", &m);
        cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
        usleep(10000);
    }
    cr_assert_eq(m.records, n);
}

Test(kafka_sink, local_records_reach_the_cluster, .timeout = 120)
{
    const char *boot = mock_start();
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", 2, NULL), 0);
    produce_local(log, 0, 2000);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[] = {"name", "fwd", "connector.class", "KafkaSink", "topics", "local",
                           "kafka.bootstrap.servers", boot, "kafka.topic", "remote",
                           "kafka.linger.ms", "5", "offset.flush.interval.ms", "100",
                           "errors.retry.timeout", "-1", "errors.retry.delay.max.ms", "200"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 9, err, sizeof err), 0, "%s", err);
    wait_moved(w, 2000);
    /* A broker down while more records go: they wait, none is lost. */
    cr_assert_eq(rd_kafka_mock_broker_set_down(mock, 1), 0);
    produce_local(log, 2000, 3000);
    usleep(500000);
    cr_assert_eq(rd_kafka_mock_broker_set_up(mock, 1), 0);
    wait_moved(w, 3000);
    cr_assert_eq(evl_connect_stop(w, "fwd"), 0);
    evl_connect_metrics_t m;
    cr_assert_eq(evl_connect_metrics(w, "fwd", &m), 0);
    cr_assert_eq(m.state, EVL_CONNECT_STOPPED);
    evl_connect_worker_free(w);
    /* Started again, in this process (the sanitizer pass sees it): it reads
     * back from its kept positions, then goes on; nothing twice. */
    produce_local(log, 3000, 3500);
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_start(w, pairs, 9, err, sizeof err), 0, "%s", err);
    wait_moved(w, 500);
    evl_connect_worker_free(w);
    cr_assert_eq(read_back(boot, 3500), 3500);
    /* And kcat, an independent client, reads the same 3000. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t remote -o beginning -e -q -f '%%k=%%s\\n' 2>/dev/null",
             boot);
    FILE *k = popen(cmd, "r");
    cr_assert_not_null(k);
    char line[64];
    int lines = 0;
    while (fgets(line, sizeof line, k))
        lines += line[0] == 'k';
    int st = pclose(k);
    cr_assert_eq(st, 0, "kcat exit %d", st);
    cr_assert_eq(lines, 3500);
    evl_log_close(log);
    mock_stop();
}

Test(kafka_sink, a_bad_librdkafka_setting_fails_the_task_with_its_message)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", 1, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[] = {"name", "fwd", "connector.class", "KafkaSink", "topics", "local",
                           "kafka.bootstrap.servers", "127.0.0.1:1", "kafka.no.such.thing", "1"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 5, err, sizeof err), 0, "%s", err);
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 300 && m.state != EVL_CONNECT_FAILED; i++) {
        evl_connect_metrics(w, "fwd", &m);
        usleep(10000);
    }
    cr_assert_eq(m.state, EVL_CONNECT_FAILED);
    const char *missing[] = {"name", "f2", "connector.class", "KafkaSink", "topics", "local"};
    cr_assert_eq(evl_connect_start(w, missing, 3, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "kafka.bootstrap.servers"), "%s", err);
    evl_connect_worker_free(w);
    evl_log_close(log);
}
