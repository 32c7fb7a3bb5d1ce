/*
 * kafka_source.c - KafkaSource: cluster topics pulled into a local topic
 * through librdkafka's consumer.
 *
 * `kafka.topics` (comma-separated) are pulled into the local `topic`, each
 * cluster partition into a local partition of its own, in the order the
 * topics are listed: the first topic's partitions 0..n-1 to local
 * partitions 0..n-1, the next topic's after them (so the local topic needs
 * as many partitions as the cluster topics have together, at most 64; add
 * topics at the end of the list). Each local partition then gets the
 * records of one cluster partition in its order, and a replay after a
 * crash gives the same records the same sequences. The source offset is
 * where each cluster partition stands after the batch, committed in the
 * log's metadata with the local producer's sequences only once the batch
 * is appended (the worker's progress): a restart goes on from there;
 * nothing is lost or repeated. Those positions are then also committed to
 * the cluster for `kafka.group.id` (default connect-NAME), for the
 * cluster's tools to see; the log's copy stays the one that counts.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"


#define KSRC_PARTS_MAX 64 /* 4 + 12 * 64 <= EVL_CONNECT_OFFSET_MAX */
#define KSRC_TOPICS_MAX 16

static const evl_confkey_t ksrc_keys[] = {
    {"kafka.bootstrap.servers", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster's brokers, host:port,..."},
    {"kafka.topics", EVL_CONF_LIST, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster topics to pull, in the order that places them in the local partitions"},
    {"kafka.group.id", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "the group the positions are also committed to in the cluster (default connect-NAME)"},
    {"kafka.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "any other librdkafka consumer setting, without its prefix"},
};

typedef struct ksrc {
    kafka_errbuf_t eb;              /* first: librdkafka's opaque */
    rd_kafka_t *rk;
    int nparts;                     /* over all topics */
    int ntopics;
    char *topic[KSRC_TOPICS_MAX];
    int base[KSRC_TOPICS_MAX];      /* the topic's first local partition */
    int count[KSRC_TOPICS_MAX];
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

static void ksrc_stop(void *state);

static int ksrc_start(const evl_conf_t *conf, const void *offset, size_t len, void **state)
{
    ksrc_t *s = calloc(1, sizeof *s);
    if (!s || !(s->held = calloc(1000, sizeof *s->held))) {
        free(s);
        return EVL_ENOMEM;
    }
    int rc = 0;
    char list[4096];
    snprintf(list, sizeof list, "%s", evl_conf_str(conf, "kafka.topics"));
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t && rc == 0;
         t = strtok_r(NULL, ", ", &save)) {
        if (s->ntopics == KSRC_TOPICS_MAX)
            rc = EVL_ECONFIG;
        else if (!(s->topic[s->ntopics++] = strdup(t)))
            rc = EVL_ENOMEM;
    }
    if (rc == 0 && s->ntopics == 0)
        rc = EVL_ECONFIG;
    static const char *const ours[] = {"topics", "group.id", NULL};
    char err[512], group[300];
    const char *g = evl_conf_str(conf, "kafka.group.id");
    snprintf(group, sizeof group, "%s%s", g[0] ? "" : "connect-",
             g[0] ? g : evl_conf_str(conf, "name"));
    rd_kafka_conf_t *kc = rc ? NULL : evl__kafka_conf(conf, ours, &s->eb, err, sizeof err);
    if (rc == 0 && (!kc || rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "group.id", group, err, sizeof err)))
        rc = EVL_ECONFIG;
    if (rc == 0) {
        if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err)))
            rc = EVL_ECONFIG;
        kc = NULL; /* rd_kafka_new took it (or freed it) */
    }
    if (kc)
        rd_kafka_conf_destroy(kc);
    /* Each topic's partitions, placed after the topics before it. */
    for (int t = 0; rc == 0 && t < s->ntopics; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, s->topic[t], NULL);
        if (!rkt || rd_kafka_metadata(s->rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
            md->topics[0].err)
            rc = EVL_ENOTFOUND;
        else if (s->nparts + md->topics[0].partition_cnt > KSRC_PARTS_MAX)
            rc = EVL_EINVAL;
        else {
            s->base[t] = s->nparts;
            s->count[t] = md->topics[0].partition_cnt;
            s->nparts += s->count[t];
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
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
        for (int t = 0; t < s->ntopics; t++)
            for (int p = 0; p < s->count[t]; p++)
                rd_kafka_topic_partition_list_add(l, s->topic[t], p)->offset =
                    s->next[s->base[t] + p];
        if (rd_kafka_assign(s->rk, l))
            rc = EVL_EIO;
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (rc) {
        ksrc_stop(s);
        return rc;
    }
    ksrc_blob(s);
    *state = s;
    return 0;
}

/* The local partition of a message: its topic's base plus its partition. */
static int local_of(const ksrc_t *s, const rd_kafka_message_t *m)
{
    const char *name = rd_kafka_topic_name(m->rkt);
    for (int t = 0; t < s->ntopics; t++)
        if (!strcmp(s->topic[t], name))
            return m->partition >= 0 && m->partition < s->count[t] ? s->base[t] + m->partition
                                                                    : -1;
    return -1;
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
        int lp = m->err ? -1 : local_of(s, m);
        if (lp < 0) {
            rd_kafka_message_destroy(m); /* end of partition and such: not records */
            continue;
        }
        s->held[s->nheld++] = m;
        s->next[lp] = m->offset + 1;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        recs[n++] = (evl_source_record_t){m->key, m->key ? m->key_len : 0, m->payload,
                                          m->payload ? m->len : 0, ts, s->blob, 0, true, lp};
    }
    ksrc_blob(s); /* the batch's last record carries where every partition stands */
    for (int i = 0; i < n; i++)
        recs[i].source_offset_len = s->blob_len;
    return n;
}

/* The batch is in the log and its positions committed there: tell the
 * cluster too (asynchronously; the log's copy is the one that counts). */
static void ksrc_commit(void *state)
{
    ksrc_t *s = state;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts);
    for (int t = 0; t < s->ntopics; t++)
        for (int p = 0; p < s->count[t]; p++)
            if (s->next[s->base[t] + p] >= 0)
                rd_kafka_topic_partition_list_add(l, s->topic[t], p)->offset =
                    s->next[s->base[t] + p];
    if (l->cnt)
        rd_kafka_commit(s->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void ksrc_stop(void *state)
{
    ksrc_t *s = state;
    if (!s)
        return;
    ksrc_release(s);
    if (s->rk) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    for (int t = 0; t < s->ntopics; t++)
        free(s->topic[t]);
    free(s->held);
    free(s);
}

static const evl_source_ops_t ksrc_ops = {ksrc_start, ksrc_poll, ksrc_stop, ksrc_commit, EVL_REPLAY_EXACT};

static const evl_connector_type_t kafka_source = {
    "KafkaSource", ksrc_keys, sizeof ksrc_keys / sizeof ksrc_keys[0], &ksrc_ops, NULL, 1,
};

EVL_API const evl_connector_type_t *evl_connect_kafka_source(void) { return &kafka_source; }
