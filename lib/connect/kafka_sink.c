/*
 * kafka_sink.c - KafkaSink: local records forwarded to a real Kafka cluster
 * through librdkafka's idempotent producer, exactly once, also across
 * broker outages and kill -9 of the worker.
 *
 * Settings: `kafka.bootstrap.servers` (required), `kafka.topic` (default:
 * each record's local topic), `kafka.partition.mode` (hash: a keyed record
 * goes where Java clients put its key, murmur2; same: the local partition),
 * and any other `kafka.*` passed to librdkafka as is. librdkafka's
 * message.timeout.ms is infinite unless set: a link down for days delays
 * records, it does not give up on them.
 *
 * Exactly once. Each record goes out with a header `evl.source` =
 * "ID/topic/partition/offset": ID names this task (16 hex digits, random,
 * kept with the task), the rest the local record. The local group commits
 * only after a flush, that is after librdkafka had every record put so far
 * acknowledged; what a crash can leave in doubt is what was put after the
 * last commit. So:
 *
 *  1. The cluster partition of a record is a function of the record alone:
 *     murmur2 of its key; for a keyless record, a hash of its local
 *     partition and offset / 256 (sticky for 256 records, as the same
 *     record picks the same partition again); the partition count is the
 *     one kept with the task (below) until a start finds nothing in doubt.
 *  2. After each commit the task keeps (evl_sink_task_save), per cluster
 *     partition, the offset just past its last acknowledged record: every
 *     record put after that commit is at or after it.
 *  3. Before its first put a task reads each cluster partition from there
 *     to its end and notes, per (local partition, cluster partition), the
 *     highest local offset found with its ID. The idempotent producer keeps
 *     each cluster partition in the order records were put, without gaps,
 *     so what reached a cluster partition from a local partition is a
 *     prefix of what was put there: a record put again is skipped exactly
 *     when its local offset is at or below that partition's highest.
 *
 * What is in doubt is read back from the cluster's high watermark. With a
 * replication factor of 1 (and librdkafka's mock cluster) every
 * acknowledged and every unacknowledged record is there; with replicas, a
 * record the leader had appended but not yet replicated when the worker
 * died, and that becomes visible only after the restart read back, would
 * be forwarded twice. The window is the replication lag at the restart
 * (replica.lag.time.max.ms at worst); Kafka's transactions would close it,
 * at the cost of a transaction per flush and brokers that support them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kafka_common.h"

static const char *const modes[] = {"hash", "same", NULL};

static const evl_confkey_t kafka_keys[] = {
    {"kafka.bootstrap.servers", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the cluster's brokers, host:port,..."},
    {"kafka.topic", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "the cluster's topic (empty: the local topic's name)"},
    {"kafka.partition.mode", EVL_CONF_ENUM, "hash", 0, -1, modes, 0, NULL, NULL,
     "hash: murmur2 of the key as Java clients; same: the local partition"},
    {"kafka.flush.timeout.ms", EVL_CONF_INT, "30000", 1, INT32_MAX, NULL, 0, NULL, NULL,
     "how long a flush waits for the cluster's acknowledgements"},
    {"kafka.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,
     "any other librdkafka producer setting, without its prefix"},
};

static const char *const ours[] = {"topic", "partition.mode", "flush.timeout.ms", NULL};

#define MAX_LTOPICS 64
#define KEEP_MAGIC 0x314b4c56u /* "VLK1" */

/* A cluster topic: its partition count in use, and per partition where
 * the records put since the last commit begin (pos) and the offset just
 * past the last acknowledged one (acked). */
typedef struct ctopic {
    char name[256]; /* empty: a free slot */
    rd_kafka_topic_t *rkt;
    int32_t nparts;
    int64_t *pos, *acked;
    bool used;      /* records put to it since the last commit */
} ctopic_t;

#define MAX_CTOPICS 64

/* (local topic, local partition, cluster topic, cluster partition) ->
 * highest local offset read back from the cluster; and (local topic, local
 * partition) -> the next offset not yet put, so that a put tried again
 * after an error does not send twice what it had sent. */
typedef struct slot {
    uint64_t key; /* 0: free */
    int64_t val;
} slot_t;

typedef struct ksink {
    kafka_errbuf_t eb; /* first: librdkafka's opaque */
    rd_kafka_t *rk;
    evl_sink_task_t *task;
    const evl_conf_t *conf;
    bool same, ready;
    int flush_ms;
    uint64_t id;
    char idhex[17];
    char *ltopics[MAX_LTOPICS];
    int nltopics;
    ctopic_t *ct;    /* MAX_CTOPICS slots: the cluster topics in use */
    int nct;         /* slots used so far (some may be free again) */
    char one[256];   /* kafka.topic: every record there (empty: its topic) */
    slot_t *map;
    size_t cap, used;
    int64_t failed; /* records librdkafka gave up on */
} ksink_t;

/* ---- the map ------------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#define NO_CPART 0xfffffu

static uint64_t key_of(int lt, int32_t lp, int ct, uint32_t cp)
{
    /* +1: never 0. lt, ct < 64; lp < 2^20; cp < 2^20 or NO_CPART. */
    return ((uint64_t)lt << 58 | (uint64_t)ct << 52 | ((uint64_t)lp & 0xfffff) << 26 |
            (cp & 0xfffff)) + 1;
}

static slot_t *map_find(ksink_t *s, uint64_t key, bool add)
{
    if (add && (s->used + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        slot_t *nm = calloc(ncap, sizeof *nm);
        if (!nm)
            return NULL;
        for (size_t i = 0; i < s->cap; i++)
            if (s->map[i].key)
                for (size_t j = mix(s->map[i].key) & (ncap - 1);; j = (j + 1) & (ncap - 1))
                    if (!nm[j].key) {
                        nm[j] = s->map[i];
                        break;
                    }
        free(s->map);
        s->map = nm;
        s->cap = ncap;
    }
    if (!s->cap)
        return NULL;
    for (size_t j = mix(key) & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (s->map[j].key == key)
            return &s->map[j];
        if (!s->map[j].key) {
            if (!add)
                return NULL;
            s->map[j] = (slot_t){key, -1};
            s->used++;
            return &s->map[j];
        }
    }
}

/* ---- what the task keeps: ID and, per cluster topic, count and positions ------ */

static int keep(ksink_t *s)
{
    size_t len = 16;
    uint32_t n = 0;
    for (int t = 0; t < s->nct; t++)
        if (s->ct[t].name[0]) {
            len += 2 + strlen(s->ct[t].name) + 4 + 8 * (size_t)s->ct[t].nparts;
            n++;
        }
    uint8_t *b = malloc(len), *p = b;
    if (!b)
        return EVL_ENOMEM;
    uint32_t magic = KEEP_MAGIC;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &s->id, 8);
    memcpy(p + 12, &n, 4);
    p += 16;
    for (int t = 0; t < s->nct; t++) {
        if (!s->ct[t].name[0])
            continue;
        uint16_t nl = (uint16_t)strlen(s->ct[t].name);
        uint32_t np = (uint32_t)s->ct[t].nparts;
        memcpy(p, &nl, 2);
        memcpy(p + 2, s->ct[t].name, nl);
        memcpy(p + 2 + nl, &np, 4);
        memcpy(p + 6 + nl, s->ct[t].pos, 8 * (size_t)np);
        p += 6 + nl + 8 * (size_t)np;
    }
    int rc = evl_sink_task_save(s->task, b, len);
    free(b);
    return rc;
}

/* The kept positions of cluster topic name: its count in *np and a copy of
 * its positions (malloc'd), or NULL if not kept. */
static int64_t *kept(const uint8_t *b, size_t len, const char *name, int32_t *np)
{
    if (len < 16)
        return NULL;
    uint32_t n;
    memcpy(&n, b + 12, 4);
    size_t at = 16;
    for (uint32_t t = 0; t < n && at + 6 <= len; t++) {
        uint16_t nl;
        uint32_t cnt;
        memcpy(&nl, b + at, 2);
        if (at + 6 + nl > len)
            return NULL;
        memcpy(&cnt, b + at + 2 + nl, 4);
        if (cnt > (1u << 20) || at + 6 + nl + 8 * (size_t)cnt > len)
            return NULL;
        if (nl == strlen(name) && !memcmp(b + at + 2, name, nl)) {
            int64_t *pos = malloc(8 * (size_t)(cnt ? cnt : 1));
            if (pos)
                memcpy(pos, b + at + 6 + nl, 8 * (size_t)cnt);
            *np = (int32_t)cnt;
            return pos;
        }
        at += 6 + nl + 8 * (size_t)cnt;
    }
    return NULL;
}

/* ---- delivery ---------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ksink_t *s = opaque;
    if (m->err) {
        if (s->failed++ == 0)
            snprintf(s->eb.err, sizeof s->eb.err, "%s", rd_kafka_err2str(m->err));
        return;
    }
    intptr_t slot = (intptr_t)m->_private - 1; /* the slot it was put for */
    ctopic_t *ct = slot >= 0 && slot < s->nct ? &s->ct[slot] : NULL;
    if (ct && m->partition >= 0 && m->partition < ct->nparts && m->offset + 1 > ct->acked[m->partition])
        ct->acked[m->partition] = m->offset + 1;
}

static void ksink_stop(void *state);

/* ---- start, and reading back what a crash left in doubt ---------------------------- */

static int ksink_start(const evl_conf_t *conf, evl_sink_task_t *task, void **state)
{
    ksink_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    s->task = task;
    s->conf = conf;
    s->same = !strcmp(evl_conf_str(conf, "kafka.partition.mode"), "same");
    s->flush_ms = (int)evl_conf_int(conf, "kafka.flush.timeout.ms");
    int rc = 0;
    char list[4096];
    snprintf(list, sizeof list, "%s", evl_conf_str(conf, "topics"));
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t && rc == 0;
         t = strtok_r(NULL, ", ", &save)) {
        if (s->nltopics == MAX_LTOPICS || !(s->ltopics[s->nltopics++] = strdup(t)))
            rc = s->nltopics == MAX_LTOPICS ? EVL_EINVAL : EVL_ENOMEM;
    }
    snprintf(s->one, sizeof s->one, "%s", evl_conf_str(conf, "kafka.topic"));
    if (rc == 0 && !(s->ct = calloc(MAX_CTOPICS, sizeof *s->ct)))
        rc = EVL_ENOMEM;
    char err[512];
    rd_kafka_conf_t *kc = rc ? NULL : evl__kafka_conf(conf, ours, &s->eb, err, sizeof err);
    if (rc == 0 && !kc)
        rc = EVL_ECONFIG;
    /* Gapless: a record given up on stops every later one of its partition
     * (a fatal error), so what reached a partition is always a prefix. */
    if (rc == 0 && (rd_kafka_conf_set(kc, "enable.idempotence", "true", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "enable.gapless.guarantee", "true", err, sizeof err) ||
                    (!evl_conf_isset(conf, "kafka.message.timeout.ms") &&
                     !evl_conf_isset(conf, "kafka.delivery.timeout.ms") &&
                     rd_kafka_conf_set(kc, "message.timeout.ms", "0", err, sizeof err))))
        rc = EVL_ECONFIG;
    if (rc == 0) {
        rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
        rd_kafka_conf_set_opaque(kc, s);
        s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
        if (!s->rk)
            rc = EVL_ECONFIG;
        kc = NULL; /* rd_kafka_new took it (or freed it) */
    }
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (rc) {
        ksink_stop(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int ltopic_index(const ksink_t *s, const char *name, size_t len)
{
    for (int i = 0; i < s->nltopics; i++)
        if (strlen(s->ltopics[i]) == len && !memcmp(s->ltopics[i], name, len))
            return i;
    return -1;
}

/* Note one record read back: is it ours, and from which local partition? */
static void note(ksink_t *s, int ct, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hs;
    const void *hv;
    size_t hl;
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, "evl.source", &hv, &hl) ||
        hl < 22 || memcmp(hv, s->idhex, 16) || ((const char *)hv)[16] != '/')
        return;
    char buf[400];
    if (hl >= sizeof buf)
        return;
    memcpy(buf, hv, hl);
    buf[hl] = 0;
    char *o = strrchr(buf + 17, '/');
    if (!o)
        return;
    *o = 0;
    char *pp = strrchr(buf + 17, '/');
    if (!pp)
        return;
    int lt = ltopic_index(s, buf + 17, (size_t)(pp - buf - 17));
    char *end;
    long long off = strtoll(o + 1, &end, 10);
    long part = strtol(pp + 1, NULL, 10);
    if (lt < 0 || *end || part < 0 || part >= 0xfffff)
        return;
    slot_t *sl = map_find(s, key_of(lt, (int32_t)part, ct, (uint32_t)m->partition), true);
    if (sl && off > sl->val)
        sl->val = off;
}

/* Read each cluster partition of ct from its kept position to its end. */
static int read_back(ksink_t *s, int ct, const int64_t *high, bool *found)
{
    ctopic_t *c = &s->ct[ct];
    size_t before = s->used;
    int todo = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(c->nparts);
    for (int p = 0; p < c->nparts; p++)
        if (c->pos[p] < high[p]) {
            rd_kafka_topic_partition_list_add(l, c->name, p)->offset = c->pos[p];
            todo++;
        }
    if (!todo) {
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
    }
    char err[512];
    kafka_errbuf_t eb = {{0}};
    rd_kafka_conf_t *kc = evl__kafka_conf(s->conf, ours, &eb, err, sizeof err);
    int rc = kc ? 0 : EVL_ECONFIG;
    if (rc == 0 && (rd_kafka_conf_set(kc, "group.id", "evl-connect-read-back", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "enable.partition.eof", "false", err, sizeof err) ||
                    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", err, sizeof err)))
        rc = EVL_ECONFIG;
    rd_kafka_t *rk = NULL;
    if (rc == 0) {
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
        kc = NULL;
        if (!rk)
            rc = EVL_ECONFIG;
    }
    if (kc)
        rd_kafka_conf_destroy(kc);
    if (rc == 0 && rd_kafka_assign(rk, l))
        rc = EVL_EIO;
    int64_t *at = calloc((size_t)c->nparts, sizeof *at);
    if (rc == 0 && !at)
        rc = EVL_ENOMEM;
    for (int p = 0; rc == 0 && p < c->nparts; p++)
        at[p] = c->pos[p];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (rc == 0 && todo > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            /* Nothing more: a partition may end in records never returned
             * (transaction markers); its position says where it stands. */
            if (rd_kafka_position(rk, l) == 0)
                for (int i = 0; i < l->cnt; i++) {
                    int p = l->elems[i].partition;
                    if (l->elems[i].offset >= high[p] && at[p] < high[p]) {
                        at[p] = high[p];
                        todo--;
                    }
                }
            struct timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (todo > 0 && (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >
                                s->flush_ms) {
                snprintf(s->eb.err, sizeof s->eb.err, "reading %.200s back: timed out", c->name);
                rc = EVL_ETIMEDOUT;
            }
            continue;
        }
        struct timespec t1; /* an absolute limit: traffic elsewhere does not extend it */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > s->flush_ms) {
            snprintf(s->eb.err, sizeof s->eb.err, "reading %.200s back: timed out", c->name);
            rc = EVL_ETIMEDOUT;
        } else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
            m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
            m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            snprintf(s->eb.err, sizeof s->eb.err, "reading %.200s back: %.40s", c->name,
                     rd_kafka_message_errstr(m));
            rc = EVL_EIO;
        } else if (!m->err && m->partition >= 0 && m->partition < c->nparts &&
                   at[m->partition] < high[m->partition]) {
            note(s, ct, m);
            at[m->partition] = m->offset + 1;
            if (at[m->partition] >= high[m->partition])
                todo--;
        } /* other errors: librdkafka tries again; the time limit stands */
        rd_kafka_message_destroy(m);
    }
    free(at);
    rd_kafka_topic_partition_list_destroy(l);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    *found = *found || s->used > before;
    return rc;
}

static void ctopic_close(ksink_t *s, int t);

/* Open cluster topic name in a free slot: its partition count, its high
 * watermarks, and, if it was kept (b), what the last run left in doubt
 * there, read back. *slot: where. */
static int ctopic_open(ksink_t *s, const char *name, const uint8_t *b, size_t len, int *slot)
{
    int t;
    for (t = 0; t < s->nct && s->ct[t].name[0]; t++)
        ;
    if (t == MAX_CTOPICS) {
        snprintf(s->eb.err, sizeof s->eb.err, "more than %d cluster topics at once",
                 MAX_CTOPICS);
        return EVL_EFULL;
    }
    ctopic_t *c = &s->ct[t];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    rd_kafka_topic_conf_set_opaque(tc, c);
    int rc = 0;
    if (!(c->rkt = rd_kafka_topic_new(s->rk, c->name, tc)))
        rc = EVL_ECONFIG;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rc ? 0 : rd_kafka_metadata(s->rk, 0, c->rkt, &md, s->flush_ms);
    int32_t count = 0;
    if (rc == 0 &&
        (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1)) {
        snprintf(s->eb.err, sizeof s->eb.err, "cluster topic %.200s: %s", c->name,
                 rd_kafka_err2str(e ? e : md->topic_cnt != 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                                                             : md->topics[0].err));
        rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT
                 ? EVL_ETIMEDOUT
                 : EVL_ENOTFOUND;
    } else if (rc == 0) {
        count = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    int64_t *high = rc ? NULL : calloc((size_t)count, sizeof *high);
    if (rc == 0 && !high)
        rc = EVL_ENOMEM;
    for (int32_t p = 0; rc == 0 && p < count; p++) {
        int64_t lo;
        e = rd_kafka_query_watermark_offsets(s->rk, c->name, p, &lo, &high[p], s->flush_ms);
        if (e) {
            snprintf(s->eb.err, sizeof s->eb.err, "cluster topic %.200s [%d]: %s", c->name,
                     (int)p, rd_kafka_err2str(e));
            rc = EVL_ETIMEDOUT;
        }
    }
    int32_t np = 0;
    c->pos = rc == 0 && len ? kept(b, len, c->name, &np) : NULL;
    if (rc == 0 && c->pos && np > count) {
        snprintf(s->eb.err, sizeof s->eb.err, "cluster topic %.200s: %d partitions, had %d",
                 c->name, (int)count, (int)np);
        rc = EVL_ESTATE;
    }
    if (t == s->nct)
        s->nct++;
    bool found = false;
    if (rc == 0 && c->pos) {
        c->nparts = np;
        rc = read_back(s, t, high, &found);
    }
    /* A new partition count is taken when nothing is in doubt: a record
     * in doubt must be looked for where its first attempt went. */
    if (rc == 0 && (!c->pos || (!found && np != count))) {
        int64_t *pos = realloc(c->pos, 8 * (size_t)count);
        if (!pos) {
            rc = EVL_ENOMEM;
        } else {
            for (int32_t p = c->pos ? np : 0; p < count; p++)
                pos[p] = high[p];
            c->pos = pos;
            c->nparts = count;
        }
    }
    free(high);
    if (rc == 0 && !(c->acked = malloc(8 * (size_t)c->nparts)))
        rc = EVL_ENOMEM;
    if (rc == 0)
        memcpy(c->acked, c->pos, 8 * (size_t)c->nparts);
    if (rc) {
        if (!c->rkt)
            memset(c, 0, sizeof *c);
        else
            ctopic_close(s, t); /* and what was read back there */
        return rc;
    }
    *slot = t;
    return 0;
}

/* Before the first put: the task's ID, and every cluster topic it kept
 * opened, with what the last run left in doubt there read back. */
static int prepare(ksink_t *s)
{
    size_t len = 0, cap = 65536;
    uint8_t *b = malloc(cap);
    int rc = b ? evl_sink_task_load(s->task, b, cap, &len) : EVL_ENOMEM;
    if (rc == EVL_ETOOBIG) {
        uint8_t *nb = realloc(b, len);
        rc = nb ? evl_sink_task_load(s->task, b = nb, len, &len) : EVL_ENOMEM;
    }
    uint32_t magic = 0;
    if (rc == 0 && len >= 16)
        memcpy(&magic, b, 4);
    if (rc == EVL_ENOTFOUND || (rc == 0 && magic != KEEP_MAGIC)) {
        len = 0;
        rc = getrandom(&s->id, sizeof s->id, 0) == (ssize_t)sizeof s->id ? 0 : EVL_EIO;
    } else if (rc == 0) {
        memcpy(&s->id, b + 4, 8);
    }
    snprintf(s->idhex, sizeof s->idhex, "%016llx", (unsigned long long)s->id);
    uint32_t n = 0;
    if (rc == 0 && len >= 16)
        memcpy(&n, b + 12, 4);
    size_t at = 16;
    for (uint32_t i = 0; rc == 0 && i < n && at + 6 <= len; i++) {
        uint16_t nl;
        uint32_t cnt;
        memcpy(&nl, b + at, 2);
        if (at + 6 + nl > len)
            break;
        memcpy(&cnt, b + at + 2 + nl, 4);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)nl, (const char *)b + at + 2);
        int slot;
        rc = ctopic_open(s, name, b, len, &slot);
        at += 6 + nl + 8 * (size_t)cnt;
    }
    free(b);
    if (rc == 0)
        rc = keep(s); /* the ID, before anything goes out */
    if (rc == 0)
        s->ready = true;
    for (int t = 0; rc && t < s->nct; t++) /* tried again from scratch */
        if (s->ct[t].name[0])
            ctopic_close(s, t);
    return rc;
}

/* The slot of cluster topic name, opened (and kept, before anything goes
 * there) the first time. */
static int ctopic_of(ksink_t *s, const char *name, int *slot)
{
    for (int t = 0; t < s->nct; t++)
        if (s->ct[t].name[0] && !strcmp(s->ct[t].name, name)) {
            *slot = t;
            return 0;
        }
    int rc = ctopic_open(s, name, NULL, 0, slot);
    if (rc == 0 && (rc = keep(s)))
        ctopic_close(s, *slot); /* not kept: not used */
    return rc;
}

static int32_t partition_of(const ksink_t *s, const ctopic_t *c, int lt,
                            const evl_sink_record_t *r, const void *k, size_t kl)
{
    int32_t lp = r->partition;
    if (s->same)
        return lp < c->nparts ? lp : -1;
    if (k)
        return rd_kafka_msg_partitioner_murmur2(c->rkt, k, kl, c->nparts, NULL, NULL);
    (void)lt;
    uint64_t th = 1469598103934665603ull; /* the topic's name, not its place in `topics` */
    for (const char *t = r->original_topic; *t; t++)
        th = (th ^ (unsigned char)*t) * 1099511628211ull;
    uint64_t h = mix(th ^ (uint64_t)lp << 36 ^ (uint64_t)(r->offset >> 8));
    return (int32_t)(h % (uint64_t)c->nparts);
}

static int ksink_put(void *state, const evl_sink_record_t *recs, size_t n)
{
    ksink_t *s = state;
    int rc = s->ready ? 0 : prepare(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const evl_sink_record_t *r = &recs[i];
        const char *lname = r->original_topic;
        int lt = ltopic_index(s, lname, strlen(lname));
        int32_t lp = r->partition;
        int64_t off = r->offset;
        slot_t *next = lt < 0 ? NULL : map_find(s, key_of(lt, lp, 0, NO_CPART), true);
        if (!next) {
            rc = lt < 0 ? EVL_EINVAL : EVL_ENOMEM;
            break;
        }
        if (off < next->val)
            continue; /* put already: this put is tried again */
        int cti;
        if ((rc = ctopic_of(s, s->one[0] ? s->one : r->topic, &cti)))
            break;
        ctopic_t *c = &s->ct[cti];
        c->used = true;
        size_t kl = r->key_len, vl = r->value_len;
        const void *k = r->key, *v = r->value;
        int32_t cp = partition_of(s, c, lt, r, k, kl);
        if (cp < 0) {
            snprintf(s->eb.err, sizeof s->eb.err, "%.200s has no partition %d", c->name, (int)lp);
            rc = EVL_EINVAL;
            break;
        }
        slot_t *done = map_find(s, key_of(lt, lp, cti, (uint32_t)cp), false);
        if (done && off <= done->val) {
            next->val = off + 1; /* in the cluster already (read back) */
            continue;
        }
        rd_kafka_headers_t *hs = rd_kafka_headers_new(r->nheaders + 1);
        for (size_t j = 0; j < r->nheaders; j++)
            rd_kafka_header_add(hs, r->headers[j].name, (ssize_t)r->headers[j].name_len,
                                r->headers[j].value,
                                r->headers[j].value ? (ssize_t)r->headers[j].value_len : 0);
        char src[400];
        int sl = snprintf(src, sizeof src, "%s/%s/%d/%lld", s->idhex, lname, (int)lp,
                          (long long)off);
        rd_kafka_header_add(hs, "evl.source", -1, src, sl);
        rd_kafka_resp_err_t e;
        for (int waited = 0;; waited += 100) {
            e = rd_kafka_producev(s->rk, RD_KAFKA_V_RKT(c->rkt), RD_KAFKA_V_PARTITION(cp),
                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)(cti + 1)),
                                  RD_KAFKA_V_KEY(k, k ? kl : 0),
                                  RD_KAFKA_V_VALUE((void *)v, v ? vl : 0),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_TIMESTAMP(r->timestamp),
                                  RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited >= s->flush_ms)
                break;
            rd_kafka_poll(s->rk, 100); /* the queue drains as the cluster acknowledges */
        }
        if (e) {
            rd_kafka_headers_destroy(hs); /* not taken on failure */
            snprintf(s->eb.err, sizeof s->eb.err, "%s", rd_kafka_err2str(e));
            rc = e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? EVL_ETIMEDOUT : EVL_EIO;
            break;
        }
        next->val = off + 1;
        rd_kafka_poll(s->rk, 0);
    }
    return rc;
}

static int ksink_flush(void *state)
{
    ksink_t *s = state;
    if (!s->ready)
        return 0; /* nothing put */
    rd_kafka_flush(s->rk, s->flush_ms);
    if (s->failed)
        return EVL_EIO; /* given up on: never commit past it */
    return rd_kafka_outq_len(s->rk) > 0 ? EVL_ETIMEDOUT : 0;
}

/* Close slot t: its topic and what was read back there. */
static void ctopic_close(ksink_t *s, int t)
{
    ctopic_t *c = &s->ct[t];
    rd_kafka_topic_destroy(c->rkt);
    free(c->pos);
    free(c->acked);
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t k = s->map[i].key - 1;
        if (s->map[i].key && (k & 0xfffff) != NO_CPART && (int)(k >> 52 & 63) == t)
            s->map[i].key = 0; /* then rebuilt below */
    }
    slot_t *old = s->map;
    size_t cap = s->cap;
    s->map = NULL;
    s->cap = s->used = 0;
    for (size_t i = 0; i < cap; i++)
        if (old[i].key) {
            slot_t *sl = map_find(s, old[i].key, true);
            if (sl)
                sl->val = old[i].val;
        }
    free(old);
}

/* Committed: what was put so far is not in doubt any more; the records put
 * from now on are past what was acknowledged. */
static void ksink_committed(void *state)
{
    ksink_t *s = state;
    if (!s->ready)
        return;
    for (int t = 0; t < s->nct; t++) {
        ctopic_t *c = &s->ct[t];
        if (!c->name[0])
            continue;
        memcpy(c->pos, c->acked, 8 * (size_t)c->nparts);
        if (!c->used && s->nct > MAX_CTOPICS / 2)
            ctopic_close(s, t); /* idle a whole interval: its slot for another */
        c->used = false;
    }
    keep(s); /* if it fails, the older positions kept are still right */
}

static void ksink_stop(void *state)
{
    ksink_t *s = state;
    if (!s)
        return;
    if (s->rk)
        rd_kafka_flush(s->rk, s->flush_ms);
    for (int t = 0; s->ct && t < s->nct; t++) {
        if (s->ct[t].rkt)
            rd_kafka_topic_destroy(s->ct[t].rkt);
        free(s->ct[t].pos);
        free(s->ct[t].acked);
    }
    if (s->rk)
        rd_kafka_destroy(s->rk);
    for (int i = 0; i < s->nltopics; i++)
        free(s->ltopics[i]);
    free(s->ct);
    free(s->map);
    free(s);
}

static const evl_sink_ops_t ksink_ops = {ksink_start, ksink_put, ksink_flush, ksink_stop,
                                         ksink_committed};

static const evl_connector_type_t kafka_sink = {
    "KafkaSink", kafka_keys, sizeof kafka_keys / sizeof kafka_keys[0], NULL, &ksink_ops, 1,
};

EVL_API const evl_connector_type_t *evl_connect_kafka_sink(void) { return &kafka_sink; }
