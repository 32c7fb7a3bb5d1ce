/*
 * kafka.c - KafkaSink: local records forwarded to a real Kafka cluster
 * through librdkafka's idempotent producer.
 *
 * Settings: `kafka.bootstrap.servers` (required), `kafka.topic` (default:
 * each record's local topic), `kafka.partition.mode` (hash: librdkafka's
 * murmur2_random, so keys land where Java clients put them; same: the local
 * partition number), and any other `kafka.*` passed to librdkafka as is.
 *
 * Records go out with their key, value, headers and timestamp, and a header
 * `evl.source` naming where they came from (topic/partition/offset). The
 * runtime commits the local group's offsets only after flush: flush waits
 * until librdkafka has every record put so far acknowledged. A record that
 * librdkafka gives up on (message.timeout.ms) makes this and every later
 * flush fail, so nothing after it is committed: the task fails and, started
 * again, puts the records again from the last commit (at least once).
 */
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eventlog/connect.h>

static const char *const modes[] = {"hash", "same", NULL};

static const evl_confkey_t kafka_keys[] = {
    {"kafka.bootstrap.servers", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster's brokers, host:port,..."},
    {"kafka.topic", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "the cluster's topic (empty: the local topic's name)"},
    {"kafka.partition.mode", EVL_CONF_ENUM, "hash", 0, -1, modes, 0, NULL, NULL,
     "hash: librdkafka's murmur2_random; same: the local partition"},
    {"kafka.flush.timeout.ms", EVL_CONF_INT, "30000", 1, INT32_MAX, NULL, 0, NULL, NULL,
     "how long a flush waits for the cluster's acknowledgements"},
    {"kafka.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "any other librdkafka producer setting, without its prefix"},
};

typedef struct ksink {
    rd_kafka_t *rk;
    char topic[256];
    bool same;
    int flush_ms;
    _Atomic int64_t failed;   /* records librdkafka gave up on */
    char err[256];
} ksink_t;

/* librdkafka's own log lines: kept out of the application's stderr (a
 * library does not print); the last one stays for the task's status. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)fac;
    ksink_t *s = rd_kafka_opaque(rk);
    if (s && level <= 3)
        snprintf(s->err, sizeof s->err, "%s", buf);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ksink_t *s = opaque;
    if (m->err) {
        if (atomic_fetch_add(&s->failed, 1) == 0)
            snprintf(s->err, sizeof s->err, "%s", rd_kafka_err2str(m->err));
    }
}

typedef struct setup {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errsz;
} setup_t;

static int pass_through(void *arg, const char *name, const char *value)
{
    setup_t *st = arg;
    const char *k = name + strlen("kafka.");
    if (!strcmp(k, "topic") || !strcmp(k, "partition.mode") || !strcmp(k, "flush.timeout.ms"))
        return 0; /* ours */
    if (rd_kafka_conf_set(st->conf, k, value, st->err, st->errsz) != RD_KAFKA_CONF_OK)
        return EVL_ECONFIG;
    return 0;
}

static int ksink_start(const evl_conf_t *conf, void **state)
{
    ksink_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    snprintf(s->topic, sizeof s->topic, "%s", evl_conf_str(conf, "kafka.topic"));
    s->same = !strcmp(evl_conf_str(conf, "kafka.partition.mode"), "same");
    s->flush_ms = (int)evl_conf_int(conf, "kafka.flush.timeout.ms");
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    setup_t st = {kc, err, sizeof err};
    int rc = evl_conf_each(conf, "kafka.", pass_through, &st);
    if (rc == 0 &&
        (rd_kafka_conf_set(kc, "enable.idempotence", "true", err, sizeof err) ||
         rd_kafka_conf_set(kc, "partitioner", "murmur2_random", err, sizeof err)))
        rc = EVL_ECONFIG;
    if (rc == 0) {
        rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
        rd_kafka_conf_set_log_cb(kc, quiet_log);
        rd_kafka_conf_set_opaque(kc, s);
        s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
        if (!s->rk)
            rc = EVL_ECONFIG;
        kc = NULL; /* rd_kafka_new took it (or freed it) */
    }
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (rc) {
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int ksink_put(void *state, const evl_record_t *const *recs, size_t n)
{
    ksink_t *s = state;
    for (size_t i = 0; i < n; i++) {
        const evl_record_t *r = recs[i];
        size_t kl, vl;
        const void *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        rd_kafka_headers_t *hs = rd_kafka_headers_new(evl_record_header_count(r) + 1);
        evl_header_t h;
        for (size_t j = 0; evl_record_header(r, j, &h) == 0; j++)
            rd_kafka_header_add(hs, h.name, (ssize_t)h.name_len, h.value,
                                h.value ? (ssize_t)h.value_len : 0);
        char src[320];
        int sl = snprintf(src, sizeof src, "%s/%d/%lld", evl_record_topic(r),
                          (int)evl_record_partition(r), (long long)evl_record_offset(r));
        rd_kafka_header_add(hs, "evl.source", -1, src, sl);
        const char *topic = s->topic[0] ? s->topic : evl_record_topic(r);
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(
                s->rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_PARTITION(s->same ? evl_record_partition(r) : RD_KAFKA_PARTITION_UA),
                RD_KAFKA_V_KEY(k, k ? kl : 0), RD_KAFKA_V_VALUE((void *)v, v ? vl : 0),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(evl_record_timestamp(r)), RD_KAFKA_V_HEADERS(hs),
                RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(s->rk, 100); /* the queue drains as the cluster acknowledges */
        }
        if (e) {
            rd_kafka_headers_destroy(hs); /* not taken on failure */
            snprintf(s->err, sizeof s->err, "%s", rd_kafka_err2str(e));
            return EVL_EIO;
        }
        rd_kafka_poll(s->rk, 0);
    }
    return 0;
}

static int ksink_flush(void *state)
{
    ksink_t *s = state;
    rd_kafka_flush(s->rk, s->flush_ms);
    if (atomic_load(&s->failed))
        return EVL_EIO; /* given up on: never commit past it */
    return rd_kafka_outq_len(s->rk) > 0 ? EVL_ETIMEDOUT : 0;
}

static void ksink_stop(void *state)
{
    ksink_t *s = state;
    if (!s)
        return;
    rd_kafka_flush(s->rk, s->flush_ms);
    rd_kafka_destroy(s->rk);
    free(s);
}

static const evl_sink_ops_t ksink_ops = {ksink_start, ksink_put, ksink_flush, ksink_stop};

static const evl_connector_type_t kafka_sink = {
    "KafkaSink", kafka_keys, sizeof kafka_keys / sizeof kafka_keys[0], NULL, &ksink_ops,
};

EVL_API const evl_connector_type_t *evl_connect_kafka_sink(void) { return &kafka_sink; }
