/*
 * connect.c - `make -C bench connect` (also run by `make bench`): forwarding
 * to Kafka. KafkaSink moving N records from a local topic to a cluster
 * (librdkafka's mock, in this process, on 127.0.0.1) beside the baseline
 * of the same run: librdkafka's own idempotent producer sending the same
 * records from memory to the same cluster with the same settings. Then the
 * store-and-forward case: a backlog of BACKLOG records kept while the
 * cluster is down, and the time from the link coming back to the backlog
 * being drained. 100-byte and 1 KiB values, keyed.
 *
 *   bin/bench_connect [N] [BACKLOG]      (defaults 1000000 and 1000000;
 *                                         BENCH_SCALE scales both)
 *
 * Prints a table on stdout and writes out/connect.tsv.
 */
#include <eventlog.h>
#include <eventlog/connect.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PARTS 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rd_kafka_t *owner;
static rd_kafka_mock_cluster_t *mock;
static char boot[256];

static int64_t in_cluster(const char *topic)
{
    int64_t t = 0;
    for (int p = 0; p < PARTS; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(owner, topic, p, &lo, &hi, 10000))
            return -1;
        t += hi;
    }
    return t;
}

static void wait_for(const char *topic, int64_t n)
{
    while (in_cluster(topic) < n)
        usleep(2000);
}

/* The baseline: librdkafka's idempotent producer, records from memory. */
static double baseline(const char *topic, long n, size_t vlen)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof err);
    rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    char *v = malloc(vlen);
    memset(v, 'v', vlen);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%ld", i % 1000);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(k, (size_t)kl),
                                 RD_KAFKA_V_VALUE(v, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    double dt = now_s() - t0;
    rd_kafka_destroy(rk);
    free(v);
    return dt;
}

static void fill(evl_log_t *log, const char *topic, long n, size_t vlen)
{
    evl_producer_t *p;
    int rc = evl_topic_create(log, topic, PARTS, NULL);
    if ((rc && rc != EVL_EEXIST) || evl_producer_new(log, topic, NULL, &p)) {
        fprintf(stderr, "bench_connect: cannot make %s\n", topic);
        exit(1);
    }
    char *v = malloc(vlen);
    memset(v, 'v', vlen);
    evl_msg_t batch[256];
    char keys[256][16];
    for (long i = 0; i < n;) {
        int b = 0;
        for (; b < 256 && i < n; b++, i++) {
            int kl = snprintf(keys[b], sizeof keys[b], "k%ld", i % 1000);
            batch[b] = (evl_msg_t){keys[b], (size_t)kl, v, vlen, NULL, 0, EVL_TIMESTAMP_NOW,
                                   EVL_PARTITION_ANY, -1};
        }
        if (evl_producer_send_batch(p, batch, (size_t)b, 0)) {
            fprintf(stderr, "bench_connect: cannot append\n");
            exit(1);
        }
    }
    evl_producer_close(p);
    free(v);
}

static evl_connect_worker_t *forward(evl_log_t *log, const char *name, const char *local,
                                     const char *remote)
{
    evl_connect_worker_t *w;
    const char *pairs[] = {"name", name, "connector.class", "KafkaSink", "topics", local,
                           "kafka.bootstrap.servers", boot, "kafka.topic", remote,
                           "kafka.linger.ms", "5", "kafka.log_level", "0",
                           "errors.retry.timeout", "-1", "errors.retry.delay.max.ms", "500"};
    char err[256];
    if (evl_connect_worker_new(log, &w) || evl_connect_start(w, pairs, 9, err, sizeof err)) {
        fprintf(stderr, "bench_connect: %s\n", err);
        exit(1);
    }
    return w;
}

int main(int argc, char **argv)
{
    double scale = getenv("BENCH_SCALE") ? atof(getenv("BENCH_SCALE")) : 1.0;
    long n = (long)((argc > 1 ? atol(argv[1]) : 1000000) * scale);
    long backlog = (long)((argc > 2 ? atol(argv[2]) : 1000000) * scale);
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    mock = owner ? rd_kafka_handle_mock_cluster(owner) : NULL;
    if (!mock) {
        fprintf(stderr, "bench_connect: no mock cluster: %s\n", err);
        return 1;
    }
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    char dir[] = "/tmp/evl-bench-connect-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    evl_log_t *log;
    if (evl_log_open(dir, NULL, &log))
        return 1;
    mkdir("out", 0755);
    FILE *tsv = fopen("out/connect.tsv", "w");
    if (tsv)
        fprintf(tsv, "case\tvalue_bytes\trecords\tseconds\trecords_per_s\tMB_per_s\tratio\n");
    printf("Forwarding to Kafka (librdkafka %s mock cluster, 1 broker, %d partitions)\n\n",
           rd_kafka_version_str(), PARTS);
    printf("| case | value | records | s | records/s | MB/s | vs librdkafka |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    size_t sizes[] = {100, 1024};
    for (int s = 0; s < 2; s++) {
        size_t vlen = sizes[s];
        long cnt = vlen > 100 ? n / 4 : n;
        char bt[32], lt[32], ft[32];
        snprintf(bt, sizeof bt, "base-%zu", vlen);
        snprintf(lt, sizeof lt, "local-%zu", vlen);
        snprintf(ft, sizeof ft, "fwd-%zu", vlen);
        rd_kafka_mock_topic_create(mock, bt, PARTS, 1);
        rd_kafka_mock_topic_create(mock, ft, PARTS, 1);
        double tb = baseline(bt, cnt, vlen);
        fill(log, lt, cnt, vlen);
        char name[32];
        snprintf(name, sizeof name, "fwd%zu", vlen);
        double t0 = now_s();
        evl_connect_worker_t *w = forward(log, name, lt, ft);
        wait_for(ft, cnt);
        double tf = now_s() - t0;
        evl_connect_worker_free(w);
        double mb = (double)cnt * (double)(vlen + 4) / 1e6;
        printf("| librdkafka producer, from memory | %zu B | %ld | %.2f | %.0f | %.1f | 1.00 |\n",
               vlen, cnt, tb, cnt / tb, mb / tb);
        printf("| KafkaSink, from the log | %zu B | %ld | %.2f | %.0f | %.1f | %.2f |\n", vlen,
               cnt, tf, cnt / tf, mb / tf, tb / tf);
        if (tsv) {
            fprintf(tsv, "librdkafka\t%zu\t%ld\t%.3f\t%.0f\t%.2f\t1.00\n", vlen, cnt, tb, cnt / tb,
                    mb / tb);
            fprintf(tsv, "KafkaSink\t%zu\t%ld\t%.3f\t%.0f\t%.2f\t%.3f\n", vlen, cnt, tf, cnt / tf,
                    mb / tf, tb / tf);
        }
    }
    /* The link down while a backlog builds; then up: how long to drain it. */
    rd_kafka_mock_topic_create(mock, "backlog-remote", PARTS, 1);
    fill(log, "backlog", 1, 100); /* one record through first: the task has started */
    evl_connect_worker_t *w = forward(log, "drain", "backlog", "backlog-remote");
    wait_for("backlog-remote", 1);
    rd_kafka_mock_broker_set_down(mock, 1);
    fill(log, "backlog", backlog, 100);
    sleep(1);
    double t0 = now_s();
    rd_kafka_mock_broker_set_up(mock, 1);
    wait_for("backlog-remote", backlog + 1);
    double td = now_s() - t0;
    evl_connect_worker_free(w);
    printf("\nBacklog of %ld records (100 B) kept while the cluster was down: drained %.2f s "
           "after it came back (%.0f records/s).\n",
           backlog, td, backlog / td);
    if (tsv) {
        fprintf(tsv, "drain\t100\t%ld\t%.3f\t%.0f\t%.2f\t\n", backlog, td, backlog / td,
                backlog * 104 / 1e6 / td);
        fclose(tsv);
    }
    evl_log_close(log);
    rd_kafka_destroy(owner);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
