/*
 * join.c - tables read from topics, stream-table joins and table-table
 * joins (Kafka Streams' KStream#join(KTable), KTable#join/leftJoin/
 * outerJoin).
 *
 * A table node materializes its topic in its store (a put per record, a
 * delete for a null value) and passes each change on. A stream-table join
 * looks the record's key up in the table's store, in the same task: the
 * two inputs are co-partitioned (evl_streams_new checks), so the key's
 * table entry lives here. A table-table join has a side node under each
 * table; an update on one side reads the other side's store, computes the
 * result per the join's kind, keeps it in the result's store and passes
 * it on (a null value when the key no longer joins).
 *
 * Determinism (exactly once): a join sees the table as it stands when the
 * record is processed, and a task processes each batch's records input by
 * input, offset by offset; a replay sees the same.
 */
#include "streams_int.h"

#include <stdlib.h>
#include <string.h>

static bool store_ok(evl_streams_builder_t *b, const char *store)
{
    if (!store || !*store || strlen(store) > 100 || strchr(store, '/')) {
        evl__builder_fail(b, "a store needs a name (1 to 100 characters, no '/')");
        return false;
    }
    for (size_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i]->store && !strcmp(b->nodes[i]->store, store)) {
            evl__builder_fail(b, "store '%s' named twice", store);
            return false;
        }
    return true;
}

EVL_API evl_ktable_t *evl_table(evl_streams_builder_t *b, const char *topic, const char *store)
{
    if (!b || !store_ok(b, store))
        return NULL;
    evl_node_t *src = evl_stream(b, topic);
    evl_node_t *n = src ? evl__topo_node(b, src, N_TABLE) : NULL;
    if (n && !(n->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return (evl_ktable_t *)n;
}

EVL_API evl_kstream_t *evl_stream_join_table(evl_kstream_t *s, evl_ktable_t *tab, evl_join_fn *fn,
                                             void *arg, int how)
{
    evl_node_t *t = (evl_node_t *)tab;
    if (!s || !t)
        return NULL;
    evl_streams_builder_t *b = s->b;
    if (!fn || (how != EVL_JOIN_INNER && how != EVL_JOIN_LEFT)) {
        evl__builder_fail(b, "join: a joiner and EVL_JOIN_INNER or EVL_JOIN_LEFT");
        return NULL;
    }
    if (s->key_changed) {
        evl__builder_fail(b, "join: the stream's key was changed upstream; write it to a topic "
                             "and join that");
        return NULL;
    }
    if (t->b != b || (t->kind != N_TABLE && t->kind != N_AGG && t->kind != N_TJOIN)) {
        evl__builder_fail(b, "join: not a table of this builder");
        return NULL;
    }
    evl_node_t *n = evl__topo_node(b, s, N_SJOIN);
    if (!n)
        return NULL;
    n->sjoin = fn;
    n->arg = arg;
    n->join_how = how;
    n->join = t;
    n->parent[1] = t; /* the same sub-topology as the table */
    return n;
}

EVL_API evl_ktable_t *evl_table_join(evl_ktable_t *ta, evl_ktable_t *tb, evl_join2_fn *fn, void *arg,
                                     int how, const char *store)
{
    evl_node_t *a = (evl_node_t *)ta, *c = (evl_node_t *)tb;
    if (!a || !c)
        return NULL;
    evl_streams_builder_t *b = a->b;
    if (!fn || how < EVL_JOIN_INNER || how > EVL_JOIN_OUTER || c->b != b) {
        evl__builder_fail(b, "table join: a joiner, a kind, two tables of this builder");
        return NULL;
    }
    if (!store_ok(b, store))
        return NULL;
    evl_node_t *sa = evl__topo_node(b, a, N_TJOIN_SIDE);
    evl_node_t *sb = evl__topo_node(b, c, N_TJOIN_SIDE);
    /* the result is a child of one side only so that the graph reaches it;
     * the sides pass results on to its children themselves */
    evl_node_t *res = sa ? evl__topo_node(b, sa, N_TJOIN) : NULL;
    if (!sb || !res || !(res->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    res->tjoin = fn;
    res->arg = arg;
    res->join_how = how;
    res->sides[0] = a;
    res->sides[1] = c;
    res->parent[1] = sb;
    sa->side = 0;
    sb->side = 1;
    sa->join = sb->join = res;
    return (evl_ktable_t *)res;
}

/* ---- processing ---- */

static int put_and_forward(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int rc = evl__task_store_write(t, n->store_idx, r->key, r->key_len, r->value, r->value_len);
    return rc ? rc : evl__task_forward(t, n, r);
}

/* The emitter's one value, copied (the store may move under it). */
static int run_joiner(evl_task_t *t, evl_emit_t *em, int rc, void **out, size_t *len)
{
    (void)t;
    if (rc >= 0 && em->err)
        rc = em->err;
    if (rc < 0)
        return rc;
    if (em->n != 1)
        return EVL_EINVAL;
    evl__emit_fix(em);
    *len = em->recs[0].value_len;
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return EVL_ENOMEM;
    if (*len)
        memcpy(*out, em->recs[0].value, *len);
    return 0;
}

static int copy_of(const void *p, size_t n, void **out)
{
    *out = NULL;
    if (!p)
        return 0;
    *out = malloc(n ? n : 1);
    if (!*out)
        return EVL_ENOMEM;
    if (n)
        memcpy(*out, p, n);
    return 0;
}

static int stream_join(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (!r->key)
        return 0; /* Kafka Streams drops null keys in joins */
    const void *tv = NULL;
    size_t tl = 0;
    int rc = evl__task_store_read(t, n->join->store_idx, r->key, r->key_len, &tv, &tl);
    if (rc == EVL_ENOTFOUND) {
        if (n->join_how == EVL_JOIN_INNER)
            return 0;
        tv = NULL;
        tl = 0;
        rc = 0;
    }
    void *tcopy;
    if (rc || (rc = copy_of(tv, tl, &tcopy)))
        return rc;
    evl_emit_t em = {0};
    evl__emit_reset(&em, N_MAP_VALUES, r);
    void *out = NULL;
    size_t len = 0;
    rc = run_joiner(t, &em, n->sjoin(n->arg, r, tcopy, tl, &em), &out, &len);
    if (!rc) {
        evl_srec_t o = {r->key, r->key_len, out, len, r->timestamp};
        rc = evl__task_forward(t, n, &o);
    }
    free(out);
    free(tcopy);
    evl__emit_free(&em);
    return rc;
}

static int table_side(evl_task_t *t, evl_node_t *side, const evl_srec_t *r)
{
    evl_node_t *res = side->join;
    if (!r->key)
        return 0;
    evl_node_t *other = res->sides[1 - side->side];
    const void *ov = NULL;
    size_t ol = 0;
    int rc = evl__task_store_read(t, other->store_idx, r->key, r->key_len, &ov, &ol);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    void *oc;
    if ((rc = copy_of(rc ? NULL : ov, rc ? 0 : ol, &oc)))
        return rc;
    const void *a = side->side == 0 ? r->value : oc, *b = side->side == 0 ? oc : r->value;
    size_t al = side->side == 0 ? r->value_len : ol, bl = side->side == 0 ? ol : r->value_len;
    bool joins = res->join_how == EVL_JOIN_INNER   ? a && b
                 : res->join_how == EVL_JOIN_LEFT ? a != NULL
                                                  : a || b;
    void *out = NULL;
    size_t len = 0;
    if (joins) {
        evl_emit_t em = {0};
        evl__emit_reset(&em, N_MAP_VALUES, r);
        rc = run_joiner(t, &em, res->tjoin(res->arg, r->key, r->key_len, a, a ? al : 0, b, b ? bl : 0, &em),
                        &out, &len);
        evl__emit_free(&em);
    } else {
        /* no result for the key: a deletion, if there was one */
        const void *prev;
        size_t pl;
        if (evl__task_store_read(t, res->store_idx, r->key, r->key_len, &prev, &pl) == EVL_ENOTFOUND) {
            free(oc);
            return 0;
        }
    }
    if (!rc) {
        evl_srec_t o = {r->key, r->key_len, joins ? out : NULL, joins ? len : 0, r->timestamp};
        rc = put_and_forward(t, res, &o);
    }
    free(out);
    free(oc);
    return rc;
}

int evl__join_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    switch (n->kind) {
    case N_TABLE:
        return r->key ? put_and_forward(t, n, r) : 0;
    case N_SJOIN:
        return stream_join(t, n, r);
    case N_TJOIN_SIDE:
        return table_side(t, n, r);
    default:
        return 0; /* N_TJOIN: fed by its sides */
    }
}
