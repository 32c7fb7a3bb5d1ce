/*
 * process.c - processors (Kafka's Processor API): a callback per record
 * with a context over the task's stores, forwarding to the processor's
 * children, and punctuation schedules. When punctuations fire (the
 * schedule, its checkpointing, wall-clock batches) is task.c's business;
 * this file builds the nodes and implements the context.
 */
#include "streams_int.h"

#include <stdlib.h>
#include <string.h>

EVL_API evl_kstream_t *evl_stream_process(evl_kstream_t *s, evl_process_fn *fn, void *arg,
                                          const char *store)
{
    if (!s)
        return NULL;
    evl_streams_builder_t *b = s->b;
    if (!fn) {
        evl__builder_fail(b, "process: no function");
        return NULL;
    }
    if (store && evl__topo_store_check(b, store))
        return NULL;
    evl_node_t *n = evl__topo_node(b, s, N_PROC);
    if (!n)
        return NULL;
    n->proc = fn;
    n->arg = arg;
    if (store && !(n->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return n;
}

EVL_API int evl_stream_punctuate(evl_kstream_t *proc, int type, int64_t interval_ms,
                                 evl_punctuate_fn *fn, void *arg)
{
    if (!proc)
        return EVL_EINVAL;
    if (proc->kind != N_PROC || !fn || interval_ms < 1 || interval_ms > ((int64_t)1 << 40) ||
        (type != EVL_PUNCTUATE_STREAM_TIME && type != EVL_PUNCTUATE_WALL_CLOCK) ||
        proc->npuncts == EVL_MAX_PUNCTS) {
        evl__builder_fail(proc->b, "punctuate: a processor, a type, an interval of 1 ms to 2^40, "
                                   "a function (at most %d per processor)",
                          EVL_MAX_PUNCTS);
        return EVL_EINVAL;
    }
    proc->puncts[proc->npuncts++] = (evl_punct_t){type, interval_ms, fn, arg};
    return 0;
}

int evl__proc_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    evl_pctx_t ctx = {t, n, r, r->timestamp};
    int rc = n->proc(n->arg, &ctx, r);
    return rc < 0 ? rc : 0;
}

int evl__proc_punctuate(evl_task_t *t, evl_node_t *n, int i, int64_t time)
{
    evl_pctx_t ctx = {t, n, NULL, time};
    int rc = n->puncts[i].fn(n->puncts[i].arg, &ctx, time);
    return rc < 0 ? rc : 0;
}

static int store_of(evl_pctx_t *ctx, const char *store)
{
    if (!store)
        return ctx->n->store ? ctx->n->store_idx : -1;
    return evl__task_store_index(ctx->t, store);
}

EVL_API int evl_pctx_get(evl_pctx_t *ctx, const char *store, const void *key, size_t key_len,
                         const void **val, size_t *val_len)
{
    int idx = store_of(ctx, store);
    if (idx < 0)
        return store ? evl__global_get(ctx->t, store, key, key_len, val, val_len) : EVL_ENOTFOUND;
    return evl__task_store_read(ctx->t, idx, key, key_len, val, val_len);
}

EVL_API int evl_pctx_put(evl_pctx_t *ctx, const void *key, size_t key_len, const void *val,
                         size_t val_len)
{
    if (!ctx->n->store || !key)
        return EVL_EINVAL;
    return evl__task_store_write(ctx->t, ctx->n->store_idx, key, key_len, val, val_len);
}

EVL_API int evl_pctx_range(evl_pctx_t *ctx, const char *store, const void *from,
                           size_t from_len, const void *to, size_t to_len, evl_entry_fn *fn,
                           void *arg)
{
    int idx = store_of(ctx, store);
    if (idx < 0)
        return EVL_ENOTFOUND;
    return evl__task_store_range(ctx->t, idx, from, from_len, to, to_len, fn, arg);
}

EVL_API int evl_pctx_forward(evl_pctx_t *ctx, const void *key, size_t key_len, const void *val,
                             size_t val_len, int64_t timestamp)
{
    /* copies: key and val may point into a store a child writes */
    void *k = key ? malloc(key_len ? key_len : 1) : NULL;
    void *v = val ? malloc(val_len ? val_len : 1) : NULL;
    int rc = (key && !k) || (val && !v) ? EVL_ENOMEM : 0;
    if (!rc) {
        if (key_len)
            memcpy(k, key, key_len);
        if (val_len)
            memcpy(v, val, val_len);
        evl_srec_t r = {k, key ? key_len : 0, v, val ? val_len : 0,
                        timestamp >= 0 ? timestamp : ctx->time};
        rc = evl__task_forward(ctx->t, ctx->n, &r);
    }
    free(k);
    free(v);
    return rc;
}

EVL_API int64_t evl_pctx_stream_time(const evl_pctx_t *ctx)
{
    return evl__task_stream_time(ctx->t);
}

EVL_API int evl_pctx_partition(const evl_pctx_t *ctx)
{
    return evl__task_partition(ctx->t);
}
