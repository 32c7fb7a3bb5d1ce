/*
 * runtime.c - the connect worker (eventlog/connect.h): connector types,
 * settings checked before anything runs, a thread per source task, and
 * progress committed with the producer's sequences so that a restart, also
 * after kill -9, neither loses nor repeats a record.
 *
 * Progress of connector NAME, in the log's metadata table connect.offsets
 * under key NAME: u32 offset length, the source offset, u32 n, then n times
 * (u32 partition, u64 next sequence). One write transaction per committed
 * batch: the offset and the sequences agree. Records sent after the last
 * commit are sent again after a crash, with the sequences they had; the
 * partition recognises them (enable.idempotence) and returns their
 * offsets instead of appending them again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <eventlog/connect.h>

#define MAX_TYPES 32
#define SCOPE_SOURCE 1u
#define SCOPE_SINK 2u
#define MAX_TOPICS 64
#define MAX_PARTS 64
#define BATCH_MAX 1000

static const char *const durabilities[] = {"none", "interval", "fsync", NULL};

static int name_ok(void *arg, const char *v, char *msg, size_t msgsz)
{
    (void)arg;
    size_t n = strlen(v);
    bool ok = n > 0 && n <= 200;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
             (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '_' || v[i] == '-';
    if (!ok)
        snprintf(msg, msgsz, "use 1 to 200 of [A-Za-z0-9._-]");
    return !ok;
}

/* Settings of every connector, before its type's own. */
static const evl_confkey_t worker_keys[] = {
    {"name", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, name_ok, NULL,
     "the connector's name, unique in the worker"},
    {"connector.class", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the connector type"},
    {"topic", EVL_CONF_STRING, NULL, 0, -1, NULL, SCOPE_SOURCE, NULL, NULL,
     "the local topic a source writes to"},
    {"topics", EVL_CONF_LIST, NULL, 0, -1, NULL, SCOPE_SINK, NULL, NULL,
     "the local topics a sink reads (comma-separated)"},
    {"tasks.max", EVL_CONF_INT, "1", 1, 1, NULL, 0, NULL, NULL,
     "tasks at most (this version runs one)"},
    {"durability", EVL_CONF_ENUM, "fsync", 0, -1, durabilities, SCOPE_SOURCE, NULL, NULL,
     "how durable a batch is before its source offset is committed"},
    {"offset.flush.interval.ms", EVL_CONF_INT, "1000", 1, 3600000, NULL, SCOPE_SINK, NULL,
     NULL, "how often a sink is flushed and its offsets committed"},
    {"errors.retry.timeout", EVL_CONF_INT, "0", -1, INT32_MAX, NULL, 0, NULL, NULL,
     "how long a failed put or flush is tried again, in ms (0: not; -1: for ever)"},
    {"errors.retry.delay.max.ms", EVL_CONF_INT, "60000", 1, INT32_MAX, NULL, 0, NULL, NULL,
     "the longest wait between two tries (the waits double from 300 ms, with jitter)"},
};
#define NWORKER_KEYS (sizeof worker_keys / sizeof worker_keys[0])

typedef struct ctype {
    const evl_connector_type_t *type;
    evl_confdef_t *def;
    evl_confkey_t *keys;
} ctype_t;

typedef struct conn {
    char name[256];
    const ctype_t *ct;
    evl_conf_t *conf;
    evl_connect_worker_t *w;
    pthread_t th;
    bool started;
    _Atomic int stop;
    _Atomic int state;
    _Atomic int64_t records;
    _Atomic int64_t retries;
    pthread_mutex_t err_mu;
    char err[256];
    struct conn *next;
} conn_t;

struct evl_connect_worker {
    evl_log_t *log;
    pthread_mutex_t mu;
    ctype_t types[MAX_TYPES];
    size_t ntypes;
    conn_t *conns;
    evl_kv_table_t offsets;
};

/* ---- progress -------------------------------------------------------------- */

typedef struct progress {
    const char *name;
    uint8_t offset[EVL_CONNECT_OFFSET_MAX];
    uint32_t offset_len;
    uint32_t nparts;
    struct { uint32_t part; uint64_t seq; } parts[MAX_PARTS];
    evl_kv_table_t table;
    bool found;
} progress_t;

static int progress_read_fn(evl_kv_t *kv, void *arg)
{
    progress_t *p = arg;
    const uint8_t *v;
    size_t vl;
    int rc = evl_kv_get(kv, p->table, p->name, strlen(p->name), (const void **)&v, &vl);
    if (rc == EVL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    uint32_t ol, n;
    if (vl < 8 || (memcpy(&ol, v, 4), ol > EVL_CONNECT_OFFSET_MAX) || vl < 8 + ol ||
        (memcpy(&n, v + 4 + ol, 4), n > MAX_PARTS) || vl != 8 + ol + (size_t)n * 12)
        return EVL_ECORRUPT;
    p->offset_len = ol;
    memcpy(p->offset, v + 4, ol);
    p->nparts = n;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&p->parts[i].part, v + 8 + ol + i * 12, 4);
        memcpy(&p->parts[i].seq, v + 12 + ol + i * 12, 8);
    }
    p->found = true;
    return 0;
}

static int progress_write_fn(evl_kv_t *kv, void *arg)
{
    const progress_t *p = arg;
    uint8_t buf[8 + EVL_CONNECT_OFFSET_MAX + MAX_PARTS * 12];
    size_t len = 0;
    memcpy(buf, &p->offset_len, 4);
    memcpy(buf + 4, p->offset, p->offset_len);
    len = 4 + p->offset_len;
    memcpy(buf + len, &p->nparts, 4);
    len += 4;
    for (uint32_t i = 0; i < p->nparts; i++) {
        memcpy(buf + len, &p->parts[i].part, 4);
        memcpy(buf + len + 4, &p->parts[i].seq, 8);
        len += 12;
    }
    return evl_kv_put(kv, p->table, p->name, strlen(p->name), buf, len);
}

/* ---- a source task ---------------------------------------------------------- */

static void fail(conn_t *c, int rc, const char *what)
{
    pthread_mutex_lock(&c->err_mu);
    snprintf(c->err, sizeof c->err, "%s: %s", what, evl_strerror(rc));
    pthread_mutex_unlock(&c->err_mu);
    atomic_store(&c->state, EVL_CONNECT_FAILED);
}

static void *source_main(void *arg)
{
    conn_t *c = arg;
    evl_connect_worker_t *w = c->w;
    const evl_source_ops_t *ops = c->ct->type->source;
    const char *topic = evl_conf_str(c->conf, "topic");
    const char *dur = evl_conf_str(c->conf, "durability");
    int level = !strcmp(dur, "none") ? EVL_DURABILITY_NONE
                : !strcmp(dur, "interval") ? EVL_DURABILITY_INTERVAL
                                           : EVL_DURABILITY_FSYNC;
    progress_t p = {.name = c->name, .table = w->offsets};
    evl_producer_t *prod = NULL;
    void *state = NULL;
    evl_config_t *pc = evl_config_new();
    char pname[300];
    snprintf(pname, sizeof pname, "connect-%s", c->name);
    int rc = pc ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl_config_set(pc, "enable.idempotence", "true", NULL, 0);
    if (rc == 0)
        rc = evl_config_set(pc, "producer.name", pname, NULL, 0);
    if (rc == 0)
        rc = evl_producer_new(w->log, topic, pc, &prod);
    evl_config_free(pc);
    if (rc == 0)
        rc = evl_kv_read(w->log, progress_read_fn, &p);
    if (rc == 0 && !p.found) {
        /* The first start: progress "nothing read yet" is committed first,
         * with where each partition's sequence stands now, so that a crash
         * before the first batch's commit replays that batch with the same
         * sequences (and the partitions recognise it). */
        int np = evl_topic_partitions(w->log, topic);
        rc = np < 0 ? np : 0;
        for (int k = 0; rc == 0 && k < np && k < MAX_PARTS; k++) {
            int64_t next;
            if ((rc = evl_producer_sequence(prod, k, &next)) == 0) {
                p.parts[p.nparts].part = (uint32_t)k;
                p.parts[p.nparts++].seq = (uint64_t)next;
            }
        }
        if (rc == 0)
            rc = evl_kv_write(w->log, progress_write_fn, &p);
    }
    /* Sent after the last commit: again, with the sequences they had. */
    for (uint32_t i = 0; rc == 0 && i < p.nparts; i++)
        rc = evl_producer_rewind(prod, (int32_t)p.parts[i].part, (int64_t)p.parts[i].seq);
    if (rc == 0)
        rc = ops->start(c->conf, p.offset_len ? p.offset : NULL, p.offset_len, &state);
    if (rc) {
        fail(c, rc, "starting");
        evl_producer_close(prod);
        return NULL;
    }
    evl_source_record_t *recs = calloc(BATCH_MAX, sizeof *recs);
    evl_msg_t *msgs = calloc(BATCH_MAX, sizeof *msgs);
    if (!recs || !msgs) {
        fail(c, EVL_ENOMEM, "starting");
        goto out;
    }
    while (!atomic_load(&c->stop)) {
        int n = ops->poll(state, recs, BATCH_MAX, 100);
        if (n < 0) {
            fail(c, n, "poll");
            break;
        }
        if (n == 0)
            continue;
        for (int i = 0; i < n; i++) {
            /* Keyless records to partition 0: a replay must land where the
             * first attempt did (keyed ones hash, which is deterministic). */
            msgs[i] = (evl_msg_t){recs[i].key, recs[i].key_len, recs[i].value,
                                  recs[i].value_len, NULL, 0, recs[i].timestamp,
                                  recs[i].has_partition ? recs[i].partition
                                  : recs[i].key         ? EVL_PARTITION_ANY
                                                        : 0,
                                  -1};
        }
        rc = evl_producer_send_batch(prod, msgs, (size_t)n, EVL_SEND_DURABILITY(level));
        if (rc) {
            fail(c, rc, "sending");
            break;
        }
        atomic_fetch_add(&c->records, n);
        /* Commit: the last record's source offset, and where each
         * partition's sequence stands. */
        const evl_source_record_t *last = &recs[n - 1];
        if (last->source_offset_len > EVL_CONNECT_OFFSET_MAX) {
            fail(c, EVL_EINVAL, "a source offset longer than EVL_CONNECT_OFFSET_MAX");
            break;
        }
        memcpy(p.offset, last->source_offset, last->source_offset_len);
        p.offset_len = (uint32_t)last->source_offset_len;
        for (int i = 0; i < n; i++) {
            uint32_t part = (uint32_t)msgs[i].partition, k;
            for (k = 0; k < p.nparts && p.parts[k].part != part; k++)
                ;
            if (k == p.nparts && p.nparts < MAX_PARTS)
                p.parts[p.nparts++].part = part;
        }
        for (uint32_t k = 0; k < p.nparts; k++) {
            int64_t next;
            if ((rc = evl_producer_sequence(prod, (int32_t)p.parts[k].part, &next)))
                break;
            p.parts[k].seq = (uint64_t)next;
        }
        if (rc == 0)
            rc = evl_kv_write(w->log, progress_write_fn, &p);
        if (rc) {
            fail(c, rc, "committing the source offset");
            break;
        }
    }
out:
    ops->stop(state);
    evl_producer_close(prod);
    free(recs);
    free(msgs);
    if (atomic_load(&c->state) == EVL_CONNECT_RUNNING)
        atomic_store(&c->state, EVL_CONNECT_STOPPED);
    return NULL;
}

/* ---- retries (errors.retry.timeout, errors.retry.delay.max.ms) -------------------- */

static int64_t mono_ms(void);

/* Run op until it succeeds, the retry time is spent, or the task is asked to
 * stop; the waits double from 300 ms up to the maximum, each with up to 20%
 * of jitter, as Kafka Connect's. */
static int retrying(conn_t *c, int (*op)(void *), void *arg, const char *stage)
{
    int64_t timeout = evl_conf_int(c->conf, "errors.retry.timeout");
    int64_t max = evl_conf_int(c->conf, "errors.retry.delay.max.ms");
    int64_t start = mono_ms(), delay = max < 300 ? max : 300;
    unsigned seed = (unsigned)start ^ (unsigned)(uintptr_t)c;
    for (;;) {
        int rc = op(arg);
        if (rc == 0 || timeout == 0 || atomic_load(&c->stop))
            return rc;
        if (timeout > 0 && mono_ms() - start + delay > timeout)
            return rc;
        atomic_fetch_add(&c->retries, 1);
        pthread_mutex_lock(&c->err_mu);
        snprintf(c->err, sizeof c->err, "%s: %s (trying again)", stage, evl_strerror(rc));
        pthread_mutex_unlock(&c->err_mu);
        int64_t wait = delay + (int64_t)(rand_r(&seed) % (unsigned)(delay / 5 + 1));
        for (int64_t until = mono_ms() + wait; mono_ms() < until && !atomic_load(&c->stop);) {
            struct timespec nap = {0, 5 * 1000000};
            nanosleep(&nap, NULL);
        }
        delay = delay * 2 > max ? max : delay * 2;
    }
}

/* ---- a sink task ------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct sink_op {
    const evl_sink_ops_t *ops;
    void *state;
    evl_consumer_t *cons;
    const evl_record_t *const *recs;
    size_t n;
} sink_op_t;

static int op_put(void *arg)
{
    sink_op_t *o = arg;
    return o->ops->put(o->state, o->recs, o->n);
}

/* Out first, then committed: never a commit past what is out. */
static int op_flush(void *arg)
{
    sink_op_t *o = arg;
    int rc = o->ops->flush(o->state);
    return rc ? rc : evl_consumer_commit(o->cons);
}

static void *sink_main(void *arg)
{
    conn_t *c = arg;
    evl_connect_worker_t *w = c->w;
    const evl_sink_ops_t *ops = c->ct->type->sink;
    int64_t every = evl_conf_int(c->conf, "offset.flush.interval.ms");
    char list[4096], group[300];
    snprintf(list, sizeof list, "%s", evl_conf_str(c->conf, "topics"));
    snprintf(group, sizeof group, "connect-%s", c->name);
    const char *topics[MAX_TOPICS];
    size_t nt = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && nt < MAX_TOPICS;
         t = strtok_r(NULL, ",", &save))
        if (*t)
            topics[nt++] = t;
    evl_config_t *cc = evl_config_new();
    evl_consumer_t *cons = NULL;
    void *state = NULL;
    int rc = cc ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl_config_set(cc, "group.id", group, NULL, 0);
    if (rc == 0)
        rc = evl_config_set(cc, "enable.auto.commit", "false", NULL, 0);
    if (rc == 0)
        rc = evl_config_set(cc, "auto.offset.reset", "earliest", NULL, 0);
    if (rc == 0)
        rc = evl_consumer_new(w->log, cc, &cons);
    evl_config_free(cc);
    if (rc == 0)
        rc = evl_consumer_subscribe(cons, topics, nt);
    if (rc == 0)
        rc = ops->start(c->conf, &state);
    if (rc) {
        fail(c, rc, "starting");
        evl_consumer_close(cons);
        return NULL;
    }
    const evl_record_t *recs[500];
    int64_t last = mono_ms();
    bool pending = false;
    while (!atomic_load(&c->stop)) {
        size_t n = 0;
        rc = evl_consumer_poll(cons, 100, recs, 500, &n);
        if (rc && rc != EVL_ETIMEDOUT) {
            fail(c, rc, "reading");
            break;
        }
        sink_op_t op = {ops, state, cons, recs, n};
        if (n > 0) {
            if ((rc = retrying(c, op_put, &op, "put"))) {
                fail(c, rc, "put");
                break;
            }
            pending = true;
            atomic_fetch_add(&c->records, (int64_t)n);
        }
        if (pending && mono_ms() - last >= every) {
            if ((rc = retrying(c, op_flush, &op, "flush and commit"))) {
                fail(c, rc, "flush and commit");
                break;
            }
            pending = false;
            last = mono_ms();
        }
    }
    sink_op_t op = {ops, state, cons, NULL, 0};
    if (pending && atomic_load(&c->state) == EVL_CONNECT_RUNNING && (rc = op_flush(&op)))
        fail(c, rc, "flush and commit");
    ops->stop(state);
    evl_consumer_close(cons);
    if (atomic_load(&c->state) == EVL_CONNECT_RUNNING)
        atomic_store(&c->state, EVL_CONNECT_STOPPED);
    return NULL;
}

/* ---- the worker --------------------------------------------------------------- */

EVL_API int evl_connect_register(evl_connect_worker_t *w, const evl_connector_type_t *t)
{
    bool src = t && t->source && t->source->start && t->source->poll && t->source->stop;
    bool snk = t && t->sink && t->sink->start && t->sink->put && t->sink->flush && t->sink->stop;
    if (!w || !t || !t->name || src == snk)
        return EVL_EINVAL; /* one of the two, whole */
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    for (size_t i = 0; i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, t->name))
            rc = EVL_EEXIST;
    ctype_t ct = {t, NULL, NULL};
    if (rc == 0 && w->ntypes == MAX_TYPES)
        rc = EVL_EFULL;
    if (rc == 0 && !(ct.keys = calloc(NWORKER_KEYS + t->nkeys, sizeof *ct.keys)))
        rc = EVL_ENOMEM;
    if (rc == 0) {
        memcpy(ct.keys, worker_keys, sizeof worker_keys);
        if (t->nkeys)
            memcpy(ct.keys + NWORKER_KEYS, t->keys, t->nkeys * sizeof *ct.keys);
        rc = evl_confdef_new(t->name, ct.keys, NWORKER_KEYS + t->nkeys, &ct.def);
    }
    if (rc == 0)
        w->types[w->ntypes++] = ct;
    else
        free(ct.keys);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

EVL_API int evl_connect_worker_new(evl_log_t *log, evl_connect_worker_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log)
        return EVL_EINVAL;
    evl_connect_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return EVL_ENOMEM;
    w->log = log;
    pthread_mutex_init(&w->mu, NULL);
    int rc = evl_kv_table(log, "connect.offsets", &w->offsets);
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_file_source());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_file_sink());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_kafka_sink());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_kafka_source());
    if (rc) {
        evl_connect_worker_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static conn_t *find_conn(evl_connect_worker_t *w, const char *name)
{
    for (conn_t *c = w->conns; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

EVL_API int evl_connect_start(evl_connect_worker_t *w, const char *const *pairs, size_t npairs,
                              char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = 0;
    if (!w || (!pairs && npairs))
        return EVL_EINVAL;
    const char *cls = NULL, *name = NULL;
    for (size_t i = 0; i < npairs; i++) {
        if (pairs[2 * i] && !strcmp(pairs[2 * i], "connector.class"))
            cls = pairs[2 * i + 1];
        if (pairs[2 * i] && !strcmp(pairs[2 * i], "name"))
            name = pairs[2 * i + 1];
    }
    pthread_mutex_lock(&w->mu);
    const ctype_t *ct = NULL;
    for (size_t i = 0; cls && i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, cls))
            ct = &w->types[i];
    int rc = 0;
    if (!ct) {
        snprintf(err, errsz, "connector.class: %s", cls ? "unknown connector type" : "required");
        rc = EVL_ECONFIG;
    } else if (name && find_conn(w, name)) {
        snprintf(err, errsz, "name: a connector %s runs already", name);
        rc = EVL_EEXIST;
    }
    conn_t *c = NULL;
    if (rc == 0 && !(c = calloc(1, sizeof *c)))
        rc = EVL_ENOMEM;
    if (rc == 0)
        rc = evl_conf_parse(ct->def, ct->type->source ? SCOPE_SOURCE : SCOPE_SINK, pairs, npairs,
                            &c->conf, err, errsz);
    if (rc == 0 && strlen(name) >= sizeof c->name) {
        snprintf(err, errsz, "name: too long");
        rc = EVL_ECONFIG;
    }
    if (rc == 0) {
        snprintf(c->name, sizeof c->name, "%s", name);
        c->ct = ct;
        c->w = w;
        pthread_mutex_init(&c->err_mu, NULL);
        atomic_store(&c->state, EVL_CONNECT_RUNNING);
        if (pthread_create(&c->th, NULL, ct->type->source ? source_main : sink_main, c) != 0)
            rc = EVL_ENOMEM;
        else
            c->started = true;
    }
    if (rc == 0) {
        c->next = w->conns;
        w->conns = c;
    } else if (c) {
        evl_conf_free(c->conf);
        free(c);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

EVL_API int evl_connect_status(evl_connect_worker_t *w, const char *connector, int64_t *records,
                               char *err, size_t errsz)
{
    if (!w || !connector)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *c = find_conn(w, connector);
    int st = c ? atomic_load(&c->state) : EVL_ENOTFOUND;
    if (c && records)
        *records = atomic_load(&c->records);
    if (c && err && errsz) {
        pthread_mutex_lock(&c->err_mu);
        snprintf(err, errsz, "%s", c->err);
        pthread_mutex_unlock(&c->err_mu);
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void conn_end(conn_t *c)
{
    atomic_store(&c->stop, 1);
    if (c->started)
        pthread_join(c->th, NULL);
    c->started = false;
}

EVL_API int evl_connect_metrics(evl_connect_worker_t *w, const char *connector,
                                evl_connect_metrics_t *out)
{
    if (!w || !connector || !out)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *c = find_conn(w, connector);
    if (c) {
        out->records = atomic_load(&c->records);
        out->retries = atomic_load(&c->retries);
        out->state = atomic_load(&c->state);
    }
    pthread_mutex_unlock(&w->mu);
    return c ? 0 : EVL_ENOTFOUND;
}

EVL_API int evl_connect_stop(evl_connect_worker_t *w, const char *connector)
{
    if (!w || !connector)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *c = find_conn(w, connector);
    pthread_mutex_unlock(&w->mu);
    if (!c)
        return EVL_ENOTFOUND;
    conn_end(c);
    return 0;
}

EVL_API void evl_connect_worker_free(evl_connect_worker_t *w)
{
    if (!w)
        return;
    for (conn_t *c = w->conns, *nx; c; c = nx) {
        nx = c->next;
        conn_end(c);
        evl_conf_free(c->conf);
        pthread_mutex_destroy(&c->err_mu);
        free(c);
    }
    for (size_t i = 0; i < w->ntypes; i++) {
        evl_confdef_free(w->types[i].def);
        free(w->types[i].keys);
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}
