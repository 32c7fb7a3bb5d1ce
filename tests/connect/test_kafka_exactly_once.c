/*
 * test_kafka_exactly_once.c - KafkaSink forwards every local record to the
 * cluster exactly once, in per-key order, while its worker is killed -9 at
 * random moments, the cluster refuses produce requests, and partition
 * leaders move. The cluster (librdkafka's mock, on 127.0.0.1) lives in the
 * test process; the worker in a child that is killed.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

TestSuite(kafka_exactly_once, .init = test_dir_setup, .fini = test_dir_teardown);

enum { ROUNDS = 25, PER_ROUND = 1200, N = ROUNDS * PER_ROUND, CPARTS = 4, KEYS = 16 };

static rd_kafka_t *owner;
static rd_kafka_mock_cluster_t *mock;
static char boot[512];

static void cluster(void)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof err);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(owner, "%s", err);
    mock = rd_kafka_handle_mock_cluster(owner);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "remote", CPARTS, 1), 0);
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mock));
}

/* Records i in [from, to): value "i"; keyed "k<i % KEYS>" except every
 * fifth, keyless (those go where their offset says). */
static void produce_local(evl_log_t *log, int from, int to)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "local", NULL, &p), 0);
    for (int i = from; i < to; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % KEYS);
        snprintf(v, sizeof v, "%d", i);
        bool keyless = i % 5 == 0;
        evl_msg_t m = {keyless ? NULL : k, keyless ? 0 : strlen(k), v, strlen(v), NULL, 0,
                       EVL_TIMESTAMP_NOW, keyless ? i % 2 : EVL_PARTITION_ANY, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
}

/* Records in the cluster (asked again while a leader has just moved). */
static int64_t cluster_total(void)
{
    int64_t t = 0;
    for (int p = 0; p < CPARTS; p++) {
        int64_t lo, hi;
        int tries = 0;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_query_watermark_offsets(owner, "remote", p, &lo, &hi, 5000))) {
            cr_assert_lt(++tries, 100, "the cluster does not answer: %s", rd_kafka_err2str(e));
            const struct rd_kafka_metadata *md; /* where the leader went */
            if (rd_kafka_metadata(owner, 1, NULL, &md, 5000) == 0)
                rd_kafka_metadata_destroy(md);
            usleep(50000);
        }
        t += hi;
    }
    return t;
}

static pid_t child(void)
{
    static const char *const files[] = {"fwd.properties"};
    return spawn_worker(files, 1, NULL, 0);
}

/* Rounds: fewer in the sanitizer pass (EVL_TEST_QUICK). */
static int rounds(void) { return test_quick() ? 8 : ROUNDS; }

/* Every value once, each key's values increasing, all produced in all. */
static void check_cluster(void)
{
    rd_kafka_t *rk = cluster_reader(boot, "remote", CPARTS);
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    int last[KEYS], n = 0, dups = 0, idle = 0;
    for (int k = 0; k < KEYS; k++)
        last[k] = -1;
    while (idle < 30) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err) {
            char vb[16] = {0};
            memcpy(vb, m->payload, m->len < 15 ? m->len : 15);
            int v = atoi(vb);
            cr_assert(v >= 0 && v < N, "value %d", v);
            if (seen[v]++)
                dups++;
            if (m->key) {
                char kb[8] = {0};
                memcpy(kb, m->key, m->key_len < 7 ? m->key_len : 7);
                int k = atoi(kb + 1);
                cr_assert_gt(v, last[k], "key k%d: %d after %d", k, v, last[k]);
                last[k] = v;
            }
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    int missing = 0;
    int want = rounds() * PER_ROUND;
    for (int i = 0; i < want; i++)
        missing += !seen[i];
    cr_assert_eq(dups, 0, "%d records twice in the cluster", dups);
    cr_assert_eq(missing, 0, "%d records missing in the cluster", missing);
    cr_assert_eq(n, want);
}

Test(kafka_exactly_once, kill9_request_errors_and_leader_moves_lose_and_repeat_nothing,
     .timeout = 240)
{
    cluster();
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "local", 2, NULL), 0);
    const char *pairs[] = {"name", "fwd", "connector.class", "KafkaSink", "topics", "local",
                           "kafka.bootstrap.servers", boot, "kafka.topic", "remote",
                           "kafka.linger.ms", "2", "offset.flush.interval.ms", "150",
                           "errors.retry.timeout", "-1", "errors.retry.delay.max.ms", "100"};
    write_props("fwd.properties", pairs, 9);
    unsigned seed = (unsigned)getpid();
    int kills = 0, doubt = 0;
    for (int round = 0; round < rounds(); round++) {
        if (round % 3 == 1) /* produce requests refused, then accepted again */
            rd_kafka_mock_push_request_errors(mock, 0 /* Produce */, 4,
                                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                              RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                              RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
        if (round % 4 == 2) /* a leader moves */
            rd_kafka_mock_partition_set_leader(mock, "remote", rand_r(&seed) % CPARTS,
                                               1 + (int32_t)(rand_r(&seed) % 3));
        pid_t pid = child();
        /* Records arrive while the worker forwards; it dies among them. */
        int chunks = 12, at = 2 + (int)(rand_r(&seed) % 10);
        for (int ch = 0; ch < chunks; ch++) {
            int from = round * PER_ROUND + ch * (PER_ROUND / chunks);
            produce_local(log, from, from + PER_ROUND / chunks);
            usleep(ch == at && round % 2 ? 200000 : 15000); /* some live to commit */
            if (ch == at) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                /* In doubt: in the cluster, not committed by the group. */
                int64_t in = cluster_total(), done = group_committed(log, "connect-fwd");
                kills++;
                doubt += in > done;
                cr_log_info("round %d: killed with %lld in the cluster, %lld committed", round,
                            (long long)in, (long long)done);
            }
        }
    }
    pid_t pid = child();
    for (int i = 0; i < 3000 && cluster_total() < rounds() * PER_ROUND; i++)
        usleep(10000);
    usleep(500000); /* anything twice would show now */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_log_info("kafka sink: %d kills, %d of them with records in doubt", kills, doubt);
    cr_assert_gt(doubt, rounds() / 6, "too few kills left records in doubt: %d", doubt);
    check_cluster();
    evl_log_close(log);
    rd_kafka_destroy(owner);
}
