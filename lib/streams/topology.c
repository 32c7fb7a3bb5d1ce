/*
 * topology.c - the topology builder: nodes linked parent to children, a
 * grouping after a key change turned into a repartition sink and source,
 * and, when an application is made, the graph cut into sub-topologies
 * (the parts connected without a topic between them), their topics named,
 * made, and checked for co-partitioning.
 */
#include "streams_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the emitter ---- */

EVL_API int evl_emit(evl_emit_t *em, const void *key, size_t key_len, const void *value,
                     size_t value_len, int64_t timestamp)
{
    bool one = em->kind == N_MAP || em->kind == N_MAP_VALUES || em->kind == N_SELECT_KEY;
    if (one && em->n) {
        em->err = EVL_EINVAL;
        return EVL_EINVAL;
    }
    const evl_srec_t *in = em->in;
    if (em->kind == N_MAP_VALUES || em->kind == N_FLAT_MAP_VALUES) {
        key = in->key;
        key_len = in->key_len;
    } else if (em->kind == N_SELECT_KEY) {
        value = in->value;
        value_len = in->value_len;
    }
    if (em->n == em->cap) {
        size_t cap = em->cap ? em->cap * 2 : 4;
        evl_srec_t *r = realloc(em->recs, cap * sizeof *r);
        if (!r)
            return em->err = EVL_ENOMEM;
        em->recs = r;
        em->cap = cap;
    }
    size_t need = em->blen + key_len + value_len;
    if (need > em->bcap) {
        size_t cap = em->bcap ? em->bcap : 256;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(em->buf, cap);
        if (!nb)
            return em->err = EVL_ENOMEM;
        em->buf = nb;
        em->bcap = cap;
    }
    /* offsets into buf now, pointers after the callback (buf may move) */
    evl_srec_t *r = &em->recs[em->n++];
    r->key = key ? (const void *)(uintptr_t)(em->blen + 1) : NULL;
    r->key_len = key ? key_len : 0;
    if (key_len)
        memcpy(em->buf + em->blen, key, key_len);
    em->blen += key ? key_len : 0;
    r->value = value ? (const void *)(uintptr_t)(em->blen + 1) : NULL;
    r->value_len = value ? value_len : 0;
    if (value_len)
        memcpy(em->buf + em->blen, value, value_len);
    em->blen += value ? value_len : 0;
    r->timestamp = timestamp < 0 ? in->timestamp : timestamp;
    return 0;
}

void evl__emit_reset(evl_emit_t *em, evl_nkind_t kind, const evl_srec_t *in)
{
    em->kind = kind;
    em->in = in;
    em->n = 0;
    em->blen = 0;
    em->err = 0;
}

void evl__emit_fix(evl_emit_t *em)
{
    for (size_t i = 0; i < em->n; i++) {
        evl_srec_t *r = &em->recs[i];
        if (r->key)
            r->key = em->buf + ((uintptr_t)r->key - 1);
        if (r->value)
            r->value = em->buf + ((uintptr_t)r->value - 1);
    }
}

int evl__emit_one(evl_emit_t *em, int rc)
{
    if (rc >= 0 && em->err)
        rc = em->err;
    if (rc >= 0 && em->n != 1)
        rc = EVL_EINVAL;
    if (rc < 0)
        return rc;
    evl__emit_fix(em);
    return 0;
}

void evl__emit_free(evl_emit_t *em)
{
    free(em->recs);
    free(em->buf);
}

/* ---- building ---- */

static void fail(evl_streams_builder_t *b, const char *fmt, ...)
{
    if (b->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
}

void evl__builder_fail(evl_streams_builder_t *b, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail(b, "%s", msg);
}

EVL_API int evl_streams_builder_new(evl_streams_builder_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : EVL_ENOMEM;
}

static void node_free(evl_node_t *n)
{
    free(n->topic);
    free(n->preds);
    free(n->pred_args);
    free(n->store);
    free(n->init);
    free(n->kids);
    free(n);
}

EVL_API void evl_streams_builder_free(evl_streams_builder_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nnodes; i++)
        node_free(b->nodes[i]);
    for (size_t i = 0; i < b->ngroups; i++)
        free(b->groups[i]);
    for (size_t i = 0; i < b->nwindows; i++)
        free(b->windows[i]);
    for (size_t i = 0; i < b->nserdes; i++)
        free(b->serdes[i].topic);
    for (size_t i = 0; i < b->ncogroups; i++) {
        free(b->cogroups[i]->groups);
        free(b->cogroups[i]->fns);
        free(b->cogroups[i]->args);
        free(b->cogroups[i]);
    }
    free(b->cogroups);
    free(b->serdes);
    free(b->nodes);
    free(b->groups);
    free(b->windows);
    free(b);
}

EVL_API const char *evl_streams_builder_error(const evl_streams_builder_t *b)
{
    return b->err[0] ? b->err : NULL;
}

static int add_kid(evl_node_t *p, evl_node_t *k)
{
    evl_node_t **kids = realloc(p->kids, (p->nkids + 1) * sizeof *kids);
    if (!kids)
        return EVL_ENOMEM;
    p->kids = kids;
    p->kids[p->nkids++] = k;
    return 0;
}

/* A new node under parent (NULL for a source). */
static evl_node_t *node(evl_streams_builder_t *b, evl_node_t *parent, evl_nkind_t kind)
{
    if (!b || b->err[0])
        return NULL;
    evl_node_t **nodes = realloc(b->nodes, (b->nnodes + 1) * sizeof *nodes);
    evl_node_t *n = nodes ? calloc(1, sizeof *n) : NULL;
    if (nodes)
        b->nodes = nodes;
    if (!n || (parent && add_kid(parent, n))) {
        free(n);
        fail(b, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->b = b;
    n->id = (int)b->nnodes;
    n->sub = -1;
    n->parent[0] = parent;
    n->key_changed = parent && parent->key_changed;
    b->nodes[b->nnodes++] = n;
    return n;
}

evl_node_t *evl__topo_node(evl_streams_builder_t *b, evl_node_t *parent, evl_nkind_t kind)
{
    return node(b, parent, kind);
}

EVL_API evl_kstream_t *evl_stream(evl_streams_builder_t *b, const char *topic)
{
    if (!topic || !*topic) {
        if (b)
            fail(b, "evl_stream: no topic");
        return NULL;
    }
    evl_node_t *n = node(b, NULL, N_SOURCE);
    if (n && !(n->topic = strdup(topic)))
        fail(b, "out of memory");
    return n;
}

static evl_node_t *op(evl_kstream_t *s, evl_nkind_t kind, void *fn, void *arg, const char *what)
{
    if (!s)
        return NULL;
    if (!fn) {
        fail(s->b, "%s: no function", what);
        return NULL;
    }
    evl_node_t *n = node(s->b, s, kind);
    if (!n)
        return NULL;
    n->fn.xform = (evl_xform_fn *)fn;
    n->arg = arg;
    if (kind == N_MAP || kind == N_FLAT_MAP || kind == N_SELECT_KEY)
        n->key_changed = true;
    return n;
}

EVL_API evl_kstream_t *evl_stream_filter(evl_kstream_t *s, evl_pred_fn *fn, void *arg)
{
    return op(s, N_FILTER, (void *)fn, arg, "filter");
}
EVL_API evl_kstream_t *evl_stream_filter_not(evl_kstream_t *s, evl_pred_fn *fn, void *arg)
{
    return op(s, N_FILTER_NOT, (void *)fn, arg, "filter_not");
}
EVL_API evl_kstream_t *evl_stream_map(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return op(s, N_MAP, (void *)fn, arg, "map");
}
EVL_API evl_kstream_t *evl_stream_map_values(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return op(s, N_MAP_VALUES, (void *)fn, arg, "map_values");
}
EVL_API evl_kstream_t *evl_stream_flat_map(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return op(s, N_FLAT_MAP, (void *)fn, arg, "flat_map");
}
EVL_API evl_kstream_t *evl_stream_flat_map_values(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return op(s, N_FLAT_MAP_VALUES, (void *)fn, arg, "flat_map_values");
}
EVL_API evl_kstream_t *evl_stream_select_key(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return op(s, N_SELECT_KEY, (void *)fn, arg, "select_key");
}
EVL_API evl_kstream_t *evl_stream_peek(evl_kstream_t *s, evl_each_fn *fn, void *arg)
{
    return op(s, N_PEEK, (void *)fn, arg, "peek");
}

EVL_API int evl_stream_foreach(evl_kstream_t *s, evl_each_fn *fn, void *arg)
{
    return op(s, N_FOREACH, (void *)fn, arg, "foreach") ? 0 : EVL_EINVAL;
}

EVL_API evl_kstream_t *evl_stream_merge(evl_kstream_t *a, evl_kstream_t *c)
{
    if (!a || !c)
        return NULL;
    if (a->b != c->b) {
        fail(a->b, "merge: streams of two builders");
        return NULL;
    }
    evl_node_t *n = node(a->b, a, N_PASS);
    if (!n)
        return NULL;
    if (add_kid(c, n)) {
        fail(a->b, "out of memory");
        return NULL;
    }
    n->parent[1] = c;
    n->key_changed = a->key_changed || c->key_changed;
    return n;
}

EVL_API int evl_stream_branch(evl_kstream_t *s, evl_pred_fn *const *preds, void *const *args,
                              size_t n, evl_kstream_t **out)
{
    if (!s || !n)
        return EVL_EINVAL;
    evl_node_t *br = node(s->b, s, N_BRANCH);
    if (!br)
        return EVL_EINVAL;
    br->preds = calloc(n, sizeof *br->preds);
    br->pred_args = calloc(n, sizeof *br->pred_args);
    if (!br->preds || !br->pred_args) {
        fail(s->b, "out of memory");
        return EVL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!preds[i] && i + 1 != n) {
            fail(s->b, "branch: only the last predicate may be NULL (the rest)");
            return EVL_EINVAL;
        }
        br->preds[i] = preds[i];
        br->pred_args[i] = args ? args[i] : NULL;
        if (!(out[i] = node(s->b, br, N_PASS)))
            return EVL_EINVAL;
    }
    br->npreds = n;
    return 0;
}

EVL_API int evl_stream_to_with(evl_kstream_t *s, const char *topic, evl_partitioner_fn *fn,
                               void *arg)
{
    if (!s || !topic || !*topic) {
        if (s)
            fail(s->b, "to: no topic");
        return EVL_EINVAL;
    }
    if (s->b->err[0])
        return EVL_EINVAL;
    evl_node_t *n = node(s->b, s, N_SINK);
    if (!n || !(n->topic = strdup(topic))) {
        fail(s->b, "out of memory");
        return EVL_ENOMEM;
    }
    n->part_fn = fn;
    n->part_arg = arg;
    return 0;
}

EVL_API int evl_stream_to(evl_kstream_t *s, const char *topic)
{
    return evl_stream_to_with(s, topic, NULL, NULL);
}

EVL_API int evl_source_timestamps(void *source, evl_ts_fn *fn, void *arg)
{
    evl_node_t *n = source;
    if (!n)
        return EVL_EINVAL;
    if (n->kind == N_TABLE && n->parent[0])
        n = n->parent[0];
    if ((n->kind != N_SOURCE && n->kind != N_GTABLE) || n->repartition || !fn) {
        fail(n->b, "timestamps: not a stream or table made from a topic, or no function");
        return EVL_EINVAL;
    }
    n->ts_fn = fn;
    n->ts_arg = arg;
    return 0;
}

static evl_kgrouped_t *group(evl_kstream_t *s)
{
    evl_streams_builder_t *b = s->b;
    evl_kgrouped_t *g = calloc(1, sizeof *g);
    evl_kgrouped_t **gs = g ? realloc(b->groups, (b->ngroups + 1) * sizeof *gs) : NULL;
    if (!gs) {
        free(g);
        fail(b, "out of memory");
        return NULL;
    }
    b->groups = gs;
    b->groups[b->ngroups++] = g;
    g->from = s;
    return g;
}

EVL_API evl_kgrouped_t *evl_stream_group_by_key(evl_kstream_t *s)
{
    return s && !s->b->err[0] ? group(s) : NULL;
}

EVL_API evl_kgrouped_t *evl_stream_group_by(evl_kstream_t *s, evl_xform_fn *fn, void *arg)
{
    return evl_stream_group_by_key(evl_stream_select_key(s, fn, arg));
}

int evl__topo_store_check(evl_streams_builder_t *b, const char *store)
{
    if (!store || !*store || strlen(store) > 100 || strchr(store, '/')) {
        fail(b, "a store needs a name (1 to 100 characters, no '/')");
        return EVL_EINVAL;
    }
    for (size_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i]->store && !strcmp(b->nodes[i]->store, store)) {
            fail(b, "store '%s' named twice", store);
            return EVL_EINVAL;
        }
    return 0;
}

/* Through a repartition topic (named for the store) when the key was
 * changed upstream. */
evl_node_t *evl__topo_through(evl_node_t *from, const char *suffix)
{
    evl_streams_builder_t *b = from->b;
    evl_node_t *sink = node(b, from, N_SINK);
    evl_node_t *src = sink ? node(b, NULL, N_SOURCE) : NULL;
    if (!sink || !src || !(sink->topic = strdup(suffix)) || !(src->topic = strdup(suffix))) {
        fail(b, "out of memory");
        return NULL;
    }
    sink->repartition = src->repartition = true;
    return src;
}

evl_node_t *evl__topo_agg_input(evl_node_t *from, const char *store)
{
    if (!from->key_changed)
        return from;
    char suffix[128];
    snprintf(suffix, sizeof suffix, "%s-repartition", store);
    return evl__topo_through(from, suffix);
}

/* The aggregation node; through a repartition topic (named for the
 * store) when the key was changed upstream. */
static evl_ktable_t *agg(evl_kgrouped_t *g, evl_aggkind_t kind, evl_agg_fn *fn, void *arg,
                         const void *init, size_t init_len, const char *store)
{
    if (!g)
        return NULL;
    evl_node_t *from = g->from;
    evl_streams_builder_t *b = from->b;
    if (evl__topo_store_check(b, store))
        return NULL;
    if (kind != AGG_COUNT && !fn) {
        fail(b, "reduce/aggregate: no function");
        return NULL;
    }
    if (!(from = evl__topo_agg_input(from, store)))
        return NULL;
    evl_node_t *n = node(b, from, N_AGG);
    if (!n)
        return NULL;
    n->aggkind = kind;
    n->fn.agg = fn;
    n->arg = arg;
    if (!(n->store = strdup(store)) || (init_len && !(n->init = malloc(init_len)))) {
        fail(b, "out of memory");
        return NULL;
    }
    if (init_len)
        memcpy(n->init, init, init_len);
    n->init_len = init_len;
    return (evl_ktable_t *)n; /* a table is its aggregation node */
}

EVL_API evl_ktable_t *evl_grouped_count(evl_kgrouped_t *g, const char *store)
{
    return agg(g, AGG_COUNT, NULL, NULL, NULL, 0, store);
}

EVL_API evl_ktable_t *evl_grouped_reduce(evl_kgrouped_t *g, evl_agg_fn *fn, void *arg,
                                         const char *store)
{
    return agg(g, AGG_REDUCE, fn, arg, NULL, 0, store);
}

EVL_API evl_ktable_t *evl_grouped_aggregate(evl_kgrouped_t *g, const void *init, size_t init_len,
                                            evl_agg_fn *fn, void *arg, const char *store)
{
    return agg(g, AGG_AGGREGATE, fn, arg, init, init_len, store);
}

EVL_API evl_kstream_t *evl_table_to_stream(evl_ktable_t *t)
{
    evl_node_t *n = (evl_node_t *)t;
    return n ? node(n->b, n, N_PASS) : NULL;
}

/* ---- topics the application makes ---- */

/*
 * Make topic (when missing) and wait until it can be used: another thread
 * or process making it at the same moment wins the name first and makes
 * its files after, so a create that answers EVL_EEXIST may find it not
 * there yet for a moment (the core writes the name first, the folder
 * after); if the other maker failed (its name is given back), this one
 * makes it. Its partition count, or an error.
 */
int evl__topic_ensure(evl_log_t *log, const char *name, int partitions, const evl_config_t *cfg)
{
    int p = evl_topic_partitions(log, name);
    for (int i = 0; p == EVL_ENOTFOUND && i < 1000; i++) {
        if (i % 100 == 0) {
            int rc = evl_topic_create(log, name, partitions, cfg);
            if (rc && rc != EVL_EEXIST)
                return rc;
        }
        if ((p = evl_topic_partitions(log, name)) == EVL_ENOTFOUND)
            usleep(10000);
    }
    /* the name is there before the folder: wait for every partition */
    for (int k = 0, i = 0; p > 0 && k < p; i++) {
        evl_partition_info_t pi;
        int rc = evl_partition_info(log, name, k, &pi);
        if (rc == 0) {
            k++;
            continue;
        }
        if (rc != EVL_ENOTFOUND || i >= 1000)
            return rc;
        usleep(10000);
    }
    return p;
}

/* ---- sub-topologies ---- */

/* Sub-topologies are the graph's connected parts, every edge counted:
 * child to parent, and a join's link to its table (parent[1]), which no
 * kids list holds. Union-find over node ids. */
static int uf_find(int *up, int i)
{
    while (up[i] != i)
        i = up[i] = up[up[i]];
    return i;
}

static int cut_subs(evl_streams_builder_t *b)
{
    int *up = malloc((b->nnodes + 1) * sizeof *up);
    int *num = malloc((b->nnodes + 1) * sizeof *num);
    if (!up || !num) {
        free(up);
        free(num);
        return EVL_ENOMEM;
    }
    for (size_t i = 0; i < b->nnodes; i++) {
        up[i] = (int)i;
        num[i] = -1;
    }
    for (size_t i = 0; i < b->nnodes; i++)
        for (int k = 0; k < 2; k++)
            if (b->nodes[i]->parent[k]) {
                int x = uf_find(up, (int)i), y = uf_find(up, b->nodes[i]->parent[k]->id);
                if (x != y)
                    up[x] = y;
            }
    int nsub = 0;
    for (size_t i = 0; i < b->nnodes; i++) /* numbered in the order of their sources */
        if (b->nodes[i]->kind == N_SOURCE) {
            int r = uf_find(up, (int)i);
            if (num[r] < 0)
                num[r] = nsub++;
        }
    for (size_t i = 0; i < b->nnodes; i++)
        b->nodes[i]->sub = num[uf_find(up, (int)i)];
    free(up);
    free(num);
    return nsub;
}

static int add_str(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return EVL_ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return EVL_ENOMEM;
    (*n)++;
    return 0;
}

int evl__topo_finish(evl_streams_t *app, char *err, size_t errlen)
{
    evl_streams_builder_t *b = app->b;
    int nsub = 0;
    /* the full names of repartition topics */
    for (size_t i = 0; i < b->nnodes; i++) {
        evl_node_t *n = b->nodes[i];
        if (n->repartition) {
            char *full = NULL;
            if (asprintf(&full, "%s-%s", app->app_id, n->topic) < 0)
                return EVL_ENOMEM;
            free(n->topic);
            n->topic = full;
        }
    }
    /* each topic's serdes where records enter and leave */
    for (size_t i = 0; i < b->nnodes; i++) {
        evl_node_t *n = b->nodes[i];
        n->kserde = n->vserde = NULL;
        if ((n->kind == N_SOURCE || n->kind == N_SINK || n->kind == N_GTABLE) && !n->repartition)
            evl__serdes_for(app, n->topic, &n->kserde, &n->vserde);
    }
    if ((nsub = cut_subs(b)) < 0)
        return nsub;
    app->subs = calloc((size_t)nsub + 1, sizeof *app->subs);
    if (!app->subs)
        return EVL_ENOMEM;
    app->nsubs = (size_t)nsub;
    for (size_t i = 0; i < b->nnodes; i++) {
        evl_node_t *n = b->nodes[i];
        if (n->sub < 0)
            continue;
        evl_sub_t *s = &app->subs[n->sub];
        s->id = n->sub;
        if (n->kind == N_SOURCE) {
            evl_node_t **sn = realloc(s->source_nodes, (s->nsources + 1) * sizeof *sn);
            if (!sn)
                return EVL_ENOMEM;
            s->source_nodes = sn;
            sn[s->nsources] = n;
            size_t k = s->nsources;
            if (add_str(&s->sources, &k, n->topic))
                return EVL_ENOMEM;
            s->nsources = k;
        }
        if (n->kind == N_AGG || n->kind == N_WAGG || n->kind == N_TABLE || n->kind == N_TJOIN ||
            n->kind == N_SSJOIN_SIDE || n->kind == N_FKJOIN || n->kind == N_FKLEFT ||
            n->kind == N_FKSUB ||
            ((n->kind == N_TMAP || n->kind == N_TFILTER || n->kind == N_PROC) && n->store)) {
            n->store_idx = (int)s->nstores;
            if (add_str(&s->stores, &s->nstores, n->store))
                return EVL_ENOMEM;
            /* a windowed aggregation's expiry index: store_idx + 1 */
            char index[128];
            snprintf(index, sizeof index, "%s/index", n->store);
            if (n->kind == N_WAGG && !n->suppress && add_str(&s->stores, &s->nstores, index))
                return EVL_ENOMEM;
        }
        if (n->kind == N_SSJOIN) { /* a stream-stream join's: store_idx, + 1 (left, outer) */
            char name[128];
            n->store_idx = (int)s->nstores;
            snprintf(name, sizeof name, "%s/index", n->store);
            if (add_str(&s->stores, &s->nstores, name))
                return EVL_ENOMEM;
            snprintf(name, sizeof name, "%s/outer", n->store);
            if (n->join_how != EVL_JOIN_INNER && add_str(&s->stores, &s->nstores, name))
                return EVL_ENOMEM;
        }
    }
    /* partitions: the inputs' (co-partitioned). A repartition topic not
     * made yet is made as wide as the sub-topology's other inputs (a
     * join's other side), or without any, as the widest of what writes
     * it, once that is known: a few passes, as sub-topologies feed each
     * other. */
    for (int pass = 0, pending = 1; pending && pass < 16; pass++) {
        pending = 0;
        for (size_t si = 0; si < app->nsubs; si++) {
            evl_sub_t *s = &app->subs[si];
            int want = 0, have = 0, missing = 0, unknown = 0;
            for (size_t k = 0; k < s->nsources; k++) {
                int p = evl_topic_partitions(app->log, s->sources[k]);
                if (p == EVL_ENOTFOUND && s->source_nodes[k]->repartition) {
                    missing = 1;
                    for (size_t i = 0; i < b->nnodes; i++)
                        if (b->nodes[i]->kind == N_SINK && b->nodes[i]->repartition &&
                            !strcmp(b->nodes[i]->topic, s->sources[k])) {
                            int w = app->subs[b->nodes[i]->sub].partitions;
                            unknown |= w <= 0;
                            want = w > want ? w : want;
                        }
                    continue;
                }
                if (p == EVL_ENOTFOUND) {
                    snprintf(err, errlen, "input topic '%s' does not exist", s->sources[k]);
                    return EVL_ENOTFOUND;
                }
                if (p < 0)
                    return p;
                have = p > have ? p : have;
            }
            if (have)
                want = have, unknown = 0;
            if (missing && unknown) {
                pending = 1; /* a writer's width is known next pass */
                continue;
            }
            for (size_t k = 0; missing && k < s->nsources; k++)
                if (s->source_nodes[k]->repartition) {
                    int p = evl__topic_ensure(app->log, s->sources[k], want, NULL);
                    if (p < 0)
                        return p;
                }
            s->partitions = want;
        }
    }
    for (size_t si = 0; si < app->nsubs; si++) {
        evl_sub_t *s = &app->subs[si];
        s->partitions = 0;
        for (size_t k = 0; k < s->nsources; k++) {
            int p = evl_topic_partitions(app->log, s->sources[k]);
            if (p < 0) {
                snprintf(err, errlen, "input topic '%s': %s", s->sources[k], evl_strerror(p));
                return p;
            }
            if (s->partitions && s->partitions != p) {
                snprintf(err, errlen,
                         "topics '%s' (%d partitions) and '%s' (%d) are not co-partitioned",
                         s->sources[0], s->partitions, s->sources[k], p);
                return EVL_EINVAL;
            }
            s->partitions = p;
        }
    }
    for (size_t si = 0; si < app->nsubs; si++)
        if (app->subs[si].partitions <= 0) {
            snprintf(err, errlen, "sub-topology %zu has no input partitions", si);
            return EVL_EINVAL;
        }
    return 0;
}
