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

static int pass_through_consumer(void *arg, const char *name, const char *value)
{
    setup_t *st = arg;
    const char *k = name + strlen("kafka.");
    if (!strcmp(k, "topics"))
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

/* ---- KafkaSource ------------------------------------------------------------------
 *
 * Pulls one cluster topic (`kafka.topics`) into the local `topic`: cluster
 * partition p goes to local partition p (the local topic needs at least as
 * many partitions), so each local partition's records come in the order of
 * one cluster partition and a replay after a crash gives the same records
 * the same sequences. The source offset is where each cluster partition
 * stands after the batch, committed in the log's metadata with the local
 * producer's sequences only once the batch is appended (the worker's
 * progress): a restart goes on from there; nothing is lost or repeated.
 */

#define KSRC_PARTS_MAX 20 /* (4 + 8) * 20 + 4 <= EVL_CONNECT_OFFSET_MAX */

static const evl_confkey_t ksrc_keys[] = {
    {"kafka.bootstrap.servers", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster's brokers, host:port,..."},
    {"kafka.topics", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster topic to pull (one in this version)"},
    {"kafka.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "any other librdkafka consumer setting, without its prefix"},
};

typedef struct ksrc {
    rd_kafka_t *rk;
    int nparts;
    int64_t next[KSRC_PARTS_MAX];   /* next cluster offset per partition */
    uint8_t blob[4 + 12 * KSRC_PARTS_MAX];
    size_t blob_len;
    rd_kafka_message_t **held;      /* the last poll's messages (views) */
    int nheld;
} ksrc_t;

static void ksrc_release(ksrc_t *s)
{
    for (int i = 0; i < s->nheld; i++)
        rd_kafka_message_destroy(s->held[i]);
    s->nheld = 0;
}

static void ksrc_blob(ksrc_t *s)
{
    uint32_t n = (uint32_t)s->nparts;
    memcpy(s->blob, &n, 4);
    for (int p = 0; p < s->nparts; p++) {
        uint32_t pp = (uint32_t)p;
        memcpy(s->blob + 4 + 12 * p, &pp, 4);
        memcpy(s->blob + 8 + 12 * p, &s->next[p], 8);
    }
    s->blob_len = 4 + 12 * (size_t)s->nparts;
}

static int ksrc_start(const evl_conf_t *conf, const void *offset, size_t len, void **state)
{
    const char *topic = evl_conf_str(conf, "kafka.topics");
    if (strchr(topic, ','))
        return EVL_ECONFIG; /* one topic in this version */
    ksrc_t *s = calloc(1, sizeof *s);
    if (!s || !(s->held = calloc(1000, sizeof *s->held))) {
        free(s);
        return EVL_ENOMEM;
    }
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    setup_t st = {kc, err, sizeof err};
    int rc = evl_conf_each(conf, "kafka.", pass_through_consumer, &st);
    if (rc == 0 && (rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "group.id", "evl-connect", err, sizeof err)))
        rc = EVL_ECONFIG;
    if (rc == 0) {
        rd_kafka_conf_set_log_cb(kc, quiet_log);
        if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err)))
            rc = EVL_ECONFIG;
        kc = NULL;
    }
    if (kc)
        rd_kafka_conf_destroy(kc);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    if (rc == 0) {
        rkt = rd_kafka_topic_new(s->rk, topic, NULL);
        if (!rkt || rd_kafka_metadata(s->rk, 0, rkt, &md, 10000) ||
            md->topic_cnt != 1 || md->topics[0].err)
            rc = EVL_ENOTFOUND;
        else if (md->topics[0].partition_cnt > KSRC_PARTS_MAX)
            rc = EVL_EINVAL;
        else
            s->nparts = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    for (int p = 0; p < s->nparts; p++)
        s->next[p] = RD_KAFKA_OFFSET_BEGINNING;
    if (rc == 0 && offset && len >= 4) { /* where the last commit left each partition */
        uint32_t n;
        memcpy(&n, offset, 4);
        for (uint32_t i = 0; i < n && 4 + 12 * (size_t)(i + 1) <= len; i++) {
            uint32_t p;
            int64_t o;
            memcpy(&p, (const uint8_t *)offset + 4 + 12 * i, 4);
            memcpy(&o, (const uint8_t *)offset + 8 + 12 * i, 8);
            if ((int)p < s->nparts)
                s->next[p] = o;
        }
    }
    if (rc == 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts);
        for (int p = 0; p < s->nparts; p++)
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = s->next[p];
        if (rd_kafka_assign(s->rk, l))
            rc = EVL_EIO;
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (rc) {
        if (s->rk)
            rd_kafka_destroy(s->rk);
        free(s->held);
        free(s);
        return rc;
    }
    ksrc_blob(s);
    *state = s;
    return 0;
}

static int ksrc_poll(void *state, evl_source_record_t *recs, int max, int timeout_ms)
{
    ksrc_t *s = state;
    ksrc_release(s);
    if (max > 1000)
        max = 1000;
    int n = 0;
    while (n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, n ? 0 : timeout_ms);
        if (!m)
            break;
        if (m->err || m->partition < 0 || m->partition >= s->nparts) {
            rd_kafka_message_destroy(m); /* end of partition and such: not records */
            continue;
        }
        s->held[s->nheld++] = m;
        s->next[m->partition] = m->offset + 1;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        recs[n++] = (evl_source_record_t){m->key, m->key ? m->key_len : 0, m->payload,
                                          m->payload ? m->len : 0, ts, s->blob, 0, true,
                                          m->partition};
    }
    ksrc_blob(s); /* the batch's last record carries where every partition stands */
    for (int i = 0; i < n; i++)
        recs[i].source_offset_len = s->blob_len;
    return n;
}

static void ksrc_stop(void *state)
{
    ksrc_t *s = state;
    if (!s)
        return;
    ksrc_release(s);
    rd_kafka_consumer_close(s->rk);
    rd_kafka_destroy(s->rk);
    free(s->held);
    free(s);
}

static const evl_source_ops_t ksrc_ops = {ksrc_start, ksrc_poll, ksrc_stop};

static const evl_connector_type_t kafka_source = {
    "KafkaSource", ksrc_keys, sizeof ksrc_keys / sizeof ksrc_keys[0], &ksrc_ops, NULL,
};

EVL_API const evl_connector_type_t *evl_connect_kafka_source(void) { return &kafka_source; }
