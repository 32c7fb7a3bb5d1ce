/*
 * pipeline.c - what happens to a record between the log and a task: the
 * key and value converters, the transforms, and Kafka Connect's error
 * handling around them (errors.tolerance, errors.log.enable, and for sinks
 * the dead letter queue: the record as it was read, with
 * __connect.errors.* headers when context headers are enabled).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

int evl__pipe_new(conn_t *c, bool sink, pipe_t **out, char *err, size_t errsz)
{
    pipe_t *p = calloc(1, sizeof *p);
    if (!p)
        return EVL_ENOMEM;
    p->c = c;
    int rc = evl__conv_new(c->conf, "key.converter", &p->kc, err, errsz);
    if (rc == 0)
        rc = evl__conv_new(c->conf, "value.converter", &p->vc, err, errsz);
    if (rc == 0)
        rc = evl__chain_new(c->conf, &p->chain, err, errsz);
    if (rc) {
        evl__pipe_free(p);
        return rc;
    }
    p->passthrough = !p->chain && evl__conv_is_bytes(p->kc) && evl__conv_is_bytes(p->vc);
    p->tolerate = !strcmp(evl_conf_str(c->conf, "errors.tolerance"), "all");
    p->log = evl_conf_bool(c->conf, "errors.log.enable") == 1;
    p->log_msgs = evl_conf_bool(c->conf, "errors.log.include.messages") == 1;
    if (sink) {
        snprintf(p->dlq_topic, sizeof p->dlq_topic, "%s",
                 evl_conf_str(c->conf, "errors.deadletterqueue.topic.name"));
        p->ctx_headers = evl_conf_bool(c->conf, "errors.deadletterqueue.context.headers.enable") == 1;
    }
    *out = p;
    return 0;
}

static void release(pipe_t *p)
{
    for (size_t i = 0; i < p->nown; i++)
        free(p->own[i]);
    p->nown = 0;
}

void evl__pipe_free(pipe_t *p)
{
    if (!p)
        return;
    release(p);
    free(p->own);
    free(p->out);
    free(p->topics);
    evl_producer_close(p->dlq);
    evl__conv_free(p->kc);
    evl__conv_free(p->vc);
    evl__chain_free(p->chain);
    free(p);
}

static int keep_buf(pipe_t *p, void *b)
{
    if (!b)
        return 0;
    if (p->nown == p->capown) {
        size_t n = p->capown ? p->capown * 2 : 256;
        void **o = realloc(p->own, n * sizeof *o);
        if (!o) {
            free(b);
            return EVL_ENOMEM;
        }
        p->own = o;
        p->capown = n;
    }
    p->own[p->nown++] = b;
    return 0;
}

static const char *stage_name(int stage)
{
    static const char *const names[] = {"KEY_CONVERTER", "VALUE_CONVERTER", "TRANSFORMATION",
                                        "TASK_PUT"};
    return names[stage];
}

/* The record the sink could not take, to the dead letter queue. */
static int to_dlq(pipe_t *p, const evl_record_t *r, int stage, const char *cls, const char *msg)
{
    evl_log_t *log = p->c->w->log;
    if (!p->dlq) {
        int rc = evl_topic_create(log, p->dlq_topic, 1, NULL);
        if (rc && rc != EVL_EEXIST)
            return rc;
        if ((rc = evl_producer_new(log, p->dlq_topic, NULL, &p->dlq)))
            return rc;
    }
    size_t nh = evl_record_header_count(r);
    evl_header_t *hs = malloc((nh + 10) * sizeof *hs);
    if (!hs)
        return EVL_ENOMEM;
    for (size_t i = 0; i < nh; i++)
        evl_record_header(r, i, &hs[i]);
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)evl_record_partition(r));
    snprintf(off, sizeof off, "%lld", (long long)evl_record_offset(r));
    const char *ctx[][2] = {
        {"__connect.errors.topic", evl_record_topic(r)},
        {"__connect.errors.partition", part},
        {"__connect.errors.offset", off},
        {"__connect.errors.connector.name", p->c->name},
        {"__connect.errors.task.id", "0"},
        {"__connect.errors.stage", stage_name(stage)},
        {"__connect.errors.class.name", cls},
        {"__connect.errors.exception.class.name", "org.apache.kafka.connect.errors.DataException"},
        {"__connect.errors.exception.message", msg},
    };
    size_t n = nh;
    for (size_t i = 0; p->ctx_headers && i < sizeof ctx / sizeof ctx[0]; i++)
        hs[n++] = (evl_header_t){ctx[i][0], strlen(ctx[i][0]), ctx[i][1], strlen(ctx[i][1])};
    size_t kl, vl;
    const void *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
    evl_msg_t m = {k, kl, v, vl, hs, n, evl_record_timestamp(r), EVL_PARTITION_ANY, -1};
    /* Durable before the sink's commit passes the record by. */
    int rc = evl_producer_send(p->dlq, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC));
    free(hs);
    if (rc == 0)
        atomic_fetch_add(&p->c->dlq, 1);
    return rc;
}

/* A record failed at stage: the task fails (errors.tolerance none), or it is
 * skipped, reported and sent on. 0: skipped; else the error. */
static int failed(pipe_t *p, const evl_record_t *r, const char *topic, int32_t part, int64_t off,
                  int stage, const char *cls, const char *msg)
{
    atomic_fetch_add(&p->c->errors, 1);
    char what[512];
    if (p->log_msgs && topic)
        snprintf(what, sizeof what, "%s: %s in %s: %s (%s [%d] at offset %lld)", p->c->name,
                 stage_name(stage), cls, msg, topic, (int)part, (long long)off);
    else
        snprintf(what, sizeof what, "%s: %s in %s: %s", p->c->name, stage_name(stage), cls, msg);
    if (!p->tolerate) {
        evl__connect_fail_msg(p->c, EVL_EINVAL, what);
        return EVL_EINVAL;
    }
    if (p->log)
        evl__connect_log(p->c->w, EVL_LOG_WARNING, what);
    if (r && p->dlq_topic[0]) {
        int rc = to_dlq(p, r, stage, cls, msg);
        if (rc) {
            evl__connect_fail(p->c, rc, "writing the dead letter queue");
            return rc;
        }
    }
    return 0;
}

static int run(pipe_t *p, crec_t *cr, const void *k, size_t kl, const void *v, size_t vl,
               int *stage, const char **cls, char *msg, size_t msgsz)
{
    *stage = 0;
    *cls = "org.apache.kafka.connect.converters.KeyConverter";
    int rc = evl__conv_parse(p->kc, k, kl, k == NULL, &cr->key, msg, msgsz);
    if (rc == 0) {
        *stage = 1;
        rc = evl__conv_parse(p->vc, v, vl, v == NULL, &cr->value, msg, msgsz);
    }
    if (rc == 0 && p->chain) {
        *stage = 2;
        rc = evl__chain_apply(p->chain, cr, msg, msgsz, cls);
    }
    return rc;
}

static int format(pipe_t *p, crec_t *cr, void **k, size_t *kl, void **v, size_t *vl, int *stage,
                  char *msg, size_t msgsz)
{
    *stage = 0;
    int rc = evl__conv_format(p->kc, &cr->key, k, kl, msg, msgsz);
    if (rc == 0) {
        *stage = 1;
        rc = evl__conv_format(p->vc, &cr->value, v, vl, msg, msgsz);
    }
    return rc;
}

/* The formatted key and value into *k.. (kept until the batch is done; a
 * null stays NULL, an empty one points at ""). */
static int take(pipe_t *p, const crec_t *cr, void *kb, size_t kbl, void *vb, size_t vbl,
                const void **k, size_t *kl, const void **v, size_t *vl)
{
    *k = cr->key.null ? NULL : kb ? kb : "";
    *kl = kbl;
    *v = cr->value.null ? NULL : vb ? vb : "";
    *vl = vbl;
    int rc = keep_buf(p, kb);
    return keep_buf(p, vb) ? EVL_ENOMEM : rc;
}

int evl__pipe_sink(pipe_t *p, const evl_record_t *const *recs, size_t n,
                   const evl_sink_record_t **out, size_t *nout)
{
    release(p);
    if (n > p->cap) {
        free(p->out);
        free(p->topics);
        p->out = calloc(n, sizeof *p->out);
        p->topics = calloc(n, sizeof *p->topics);
        p->cap = p->out && p->topics ? n : 0;
        if (!p->cap)
            return EVL_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const evl_record_t *r = recs[i];
        size_t kl, vl;
        const void *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        evl_sink_record_t *o = &p->out[m];
        *o = (evl_sink_record_t){evl_record_topic(r), evl_record_topic(r),
                                 evl_record_partition(r), evl_record_offset(r),
                                 evl_record_timestamp(r), k, kl, v, vl, NULL, 0};
        size_t nh = evl_record_header_count(r);
        if (nh) {
            evl_header_t *hs = malloc(nh * sizeof *hs);
            if (!hs || keep_buf(p, hs))
                return EVL_ENOMEM;
            for (size_t j = 0; j < nh; j++)
                evl_record_header(r, j, &hs[j]);
            o->headers = hs;
            o->nheaders = nh;
        }
        if (p->passthrough) {
            m++;
            continue;
        }
        crec_t cr = {.partition = o->partition, .offset = o->offset, .timestamp = o->timestamp,
                     .headers = o->headers, .nheaders = o->nheaders};
        snprintf(cr.topic, sizeof cr.topic, "%s", o->topic);
        char msg[256] = "";
        const char *cls = "";
        int stage;
        int rc = run(p, &cr, k, kl, v, vl, &stage, &cls, msg, sizeof msg);
        void *kb = NULL, *vb = NULL;
        size_t kbl = 0, vbl = 0;
        if (rc == 0 && (rc = format(p, &cr, &kb, &kbl, &vb, &vbl, &stage, msg, sizeof msg)))
            cls = stage ? "value.converter" : "key.converter";
        if (rc == 0) {
            snprintf(p->topics[m], sizeof p->topics[m], "%s", cr.topic);
            o->topic = p->topics[m];
            rc = take(p, &cr, kb, kbl, vb, vbl, &o->key, &o->key_len, &o->value, &o->value_len);
            kb = vb = NULL;
            m += rc == 0;
        } else if (rc == 1) {
            atomic_fetch_add(&p->c->filtered, 1); /* a Filter dropped it */
            rc = 0;
        } else {
            free(kb);
            free(vb);
            if (stage < 2)
                cls = evl_conf_str(p->c->conf, stage ? "value.converter" : "key.converter");
            rc = failed(p, r, o->original_topic, o->partition, o->offset, stage, cls, msg);
        }
        evl__cval_clear(&cr.key);
        evl__cval_clear(&cr.value);
        if (rc)
            return rc;
    }
    *out = p->out;
    *nout = m;
    return 0;
}

int evl__pipe_source(pipe_t *p, const evl_source_record_t *in, const char *topic,
                     evl_msg_t *msg_out, bool *keep)
{
    *keep = true;
    if (p->passthrough)
        return 0;
    crec_t cr = {.partition = in->has_partition ? in->partition : -1, .offset = -1,
                 .timestamp = in->timestamp};
    snprintf(cr.topic, sizeof cr.topic, "%s", topic);
    char msg[256] = "";
    const char *cls = "";
    int stage;
    int rc = run(p, &cr, in->key, in->key_len, in->value, in->value_len, &stage, &cls, msg,
                 sizeof msg);
    if (rc == 0 && strcmp(cr.topic, topic)) {
        snprintf(msg, sizeof msg, "a source's records stay in its topic (%s): routing them "
                                  "elsewhere is for sinks", topic);
        rc = EVL_EINVAL;
    }
    void *kb = NULL, *vb = NULL;
    size_t kbl = 0, vbl = 0;
    if (rc == 0 && (rc = format(p, &cr, &kb, &kbl, &vb, &vbl, &stage, msg, sizeof msg)) == 0) {
        rc = take(p, &cr, kb, kbl, vb, vbl, &msg_out->key, &msg_out->key_len, &msg_out->value,
                  &msg_out->value_len);
        kb = vb = NULL;
    }
    free(kb);
    free(vb);
    evl__cval_clear(&cr.key);
    evl__cval_clear(&cr.value);
    if (rc == 1) {
        atomic_fetch_add(&p->c->filtered, 1);
        *keep = false;
        return 0;
    }
    if (rc && rc != EVL_ENOMEM) {
        if (stage < 2)
            cls = evl_conf_str(p->c->conf, stage ? "value.converter" : "key.converter");
        *keep = false;
        return failed(p, NULL, NULL, 0, 0, stage, cls, msg);
    }
    return rc;
}

void evl__pipe_source_done(pipe_t *p) { release(p); }
