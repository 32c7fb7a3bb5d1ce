/*
 * sink_task.c - a sink task's thread: a consumer of the group connect-NAME
 * reads the connector's topics and hands the records to the task (put);
 * the offsets are committed only after the task's flush says everything
 * put is out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* ---- what a task keeps (table connect.sinks, key: the connector's name) ------------ */

#define KEEP_MAX (1u << 20)

struct evl_sink_task {
    conn_t *c;
};

EVL_API const char *evl_sink_task_name(const evl_sink_task_t *t)
{
    return t ? t->c->name : NULL;
}

EVL_API int evl_sink_task_id(const evl_sink_task_t *t) { return t ? t->c->task : -1; }

typedef struct keep {
    const evl_sink_task_t *t;
    void *buf;
    const void *in;
    size_t cap, len;
} keep_t;

static int load_fn(evl_kv_t *kv, void *arg)
{
    keep_t *k = arg;
    const void *v;
    size_t vl;
    int rc = evl_kv_get(kv, k->t->c->w->sinks, k->t->c->label, strlen(k->t->c->label), &v, &vl);
    if (rc)
        return rc;
    k->len = vl;
    if (vl > k->cap)
        return EVL_ETOOBIG;
    if (vl)
        memcpy(k->buf, v, vl);
    return 0;
}

EVL_API int evl_sink_task_load(evl_sink_task_t *t, void *buf, size_t cap, size_t *len)
{
    if (!t || (!buf && cap) || !len)
        return EVL_EINVAL;
    keep_t k = {t, buf, NULL, cap, 0};
    int rc = evl_kv_read(t->c->w->log, load_fn, &k);
    *len = k.len;
    return rc;
}

static int save_fn(evl_kv_t *kv, void *arg)
{
    keep_t *k = arg;
    return evl_kv_put(kv, k->t->c->w->sinks, k->t->c->label, strlen(k->t->c->label), k->in,
                      k->len);
}

EVL_API int evl_sink_task_save(evl_sink_task_t *t, const void *buf, size_t len)
{
    if (!t || (!buf && len) || len > KEEP_MAX)
        return EVL_EINVAL;
    keep_t k = {t, NULL, buf, 0, len};
    return evl_kv_write(t->c->w->log, save_fn, &k);
}

/* ---- a sink task ------------------------------------------------------------------- */

typedef struct sink_op {
    const evl_sink_ops_t *ops;
    void *state;
    evl_consumer_t *cons;
    const evl_sink_record_t *recs;
    size_t n;
} sink_op_t;

static int op_put(void *arg)
{
    sink_op_t *o = arg;
    return o->n ? o->ops->put(o->state, o->recs, o->n) : 0;
}

/* Out first, then committed: never a commit past what is out. */
static int op_flush(void *arg)
{
    sink_op_t *o = arg;
    int rc = o->ops->flush(o->state);
    return rc ? rc : evl_consumer_commit(o->cons);
}

/* Flush (with retries) and commit; then the task hears it is committed. */
static int flush_commit(conn_t *c, const evl_sink_ops_t *ops, void *state, evl_consumer_t *cons)
{
    sink_op_t op = {ops, state, cons, NULL, 0};
    int rc = evl__connect_retrying(c, op_flush, &op, "flush and commit");
    if (rc)
        evl__connect_fail(c, rc, "flush and commit");
    else if (ops->committed)
        ops->committed(state);
    return rc;
}

/* What the rebalance callback needs: partitions about to go to another
 * task are flushed and committed first (as Kafka Connect does), so their
 * new owner starts where this one stopped. */
typedef struct revoke_ctx {
    conn_t *c;
    const evl_sink_ops_t *ops;
    void *state;
    bool *pending;
    bool started; /* the task's state may be NULL: this says it started */
    int rc;
} revoke_ctx_t;

static int flush_commit(conn_t *c, const evl_sink_ops_t *ops, void *state, evl_consumer_t *cons);

static void on_rebalance(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                         size_t count, void *opaque)
{
    (void)parts;
    (void)count;
    revoke_ctx_t *x = opaque;
    if (event != EVL_REBALANCE_REVOKE || !x->started || !*x->pending || x->rc)
        return;
    if ((x->rc = flush_commit(x->c, x->ops, x->state, cons)) == 0)
        *x->pending = false;
}

void *evl__connect_sink_main(void *arg)
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
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t && nt < MAX_TOPICS;
         t = strtok_r(NULL, ", ", &save))
        topics[nt++] = t; /* "a, b" as Kafka reads it: spaces around names dropped */
    evl_config_t *cc = evl_config_new();
    evl_consumer_t *cons = NULL;
    evl_sink_task_t task = {c};
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
    bool pending = false;
    revoke_ctx_t rx = {c, ops, NULL, &pending, false, 0};
    if (rc == 0)
        evl_consumer_set_rebalance_cb(cons, on_rebalance, &rx);
    if (rc == 0)
        rc = evl_consumer_subscribe(cons, topics, nt);
    if (rc == 0)
        rc = ops->start(c->conf, &task, &state);
    if (rc) {
        evl__connect_fail(c, rc, "starting");
        evl_consumer_close(cons);
        return NULL;
    }
    rx.state = state;
    rx.started = true;
    const evl_record_t *recs[500];
    int64_t last = evl__connect_mono_ms();
    while (!atomic_load(&c->stop)) {
        if (atomic_load(&c->paused) && pending) { /* paused: what was put is out first */
            if ((rc = flush_commit(c, ops, state, cons)))
                break;
            pending = false;
        }
        if (evl__connect_paused(c))
            continue;
        size_t n = 0;
        rc = evl_consumer_poll(cons, 100, recs, 500, &n);
        if (rx.rc)
            break; /* a flush on revoke failed: the task has failed */
        if (rc && rc != EVL_ETIMEDOUT) {
            evl__connect_fail(c, rc, "reading");
            break;
        }
        sink_op_t op = {ops, state, cons, NULL, 0};
        if (n > 0 && (rc = evl__pipe_sink(c->pipe, recs, n, &op.recs, &op.n))) {
            if (atomic_load(&c->state) != EVL_CONNECT_FAILED)
                evl__connect_fail(c, rc, "converting");
            break;
        }
        if (n > 0) {
            if ((rc = evl__connect_retrying(c, op_put, &op, "put"))) {
                evl__connect_fail(c, rc, "put");
                break;
            }
            pending = true;
            atomic_fetch_add(&c->records, (int64_t)n);
            int64_t b = 0;
            for (size_t i = 0; i < op.n; i++)
                b += (int64_t)(op.recs[i].key_len + op.recs[i].value_len);
            atomic_fetch_add(&c->bytes, b);
        }
        if (pending && evl__connect_mono_ms() - last >= every) {
            if ((rc = flush_commit(c, ops, state, cons)))
                break;
            pending = false;
            last = evl__connect_mono_ms();
        }
    }
    sink_op_t op = {ops, state, cons, NULL, 0};
    if (pending && atomic_load(&c->state) == EVL_CONNECT_RUNNING) {
        if ((rc = op_flush(&op)))
            evl__connect_fail(c, rc, "flush and commit");
        else if (ops->committed)
            ops->committed(state);
    }
    ops->stop(state);
    evl_consumer_close(cons);
    if (atomic_load(&c->state) == EVL_CONNECT_RUNNING)
        atomic_store(&c->state, EVL_CONNECT_STOPPED);
    return NULL;
}

