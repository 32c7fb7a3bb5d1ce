/*
 * ktable.c - a table's values mapped and a table filtered (Kafka's
 * KTable#mapValues, filter, filterNot): nodes on a table's stream of
 * changes. A change passes as a change, a deletion as a deletion; an
 * update a filter no longer lets through becomes a deletion. Given a
 * store, the result is kept there like any table (joinable, queryable),
 * and a filter does not pass on deletions of keys it never held.
 */
#include "streams_int.h"

#include <stdlib.h>
#include <string.h>

static evl_node_t *table_op(evl_ktable_t *tab, evl_nkind_t kind, void *fn, void *arg,
                            const char *store, const char *what)
{
    evl_node_t *t = (evl_node_t *)tab;
    if (!t)
        return NULL;
    evl_streams_builder_t *b = t->b;
    if (!fn) {
        evl__builder_fail(b, "%s: no function", what);
        return NULL;
    }
    if (store && evl__topo_store_check(b, store))
        return NULL;
    evl_node_t *n = evl__topo_node(b, t, kind);
    if (!n)
        return NULL;
    n->fn.xform = (evl_xform_fn *)fn;
    n->arg = arg;
    if (store && !(n->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return n;
}

EVL_API evl_ktable_t *evl_table_map_values(evl_ktable_t *t, evl_xform_fn *fn, void *arg,
                                           const char *store)
{
    return (evl_ktable_t *)table_op(t, N_TMAP, (void *)fn, arg, store, "table map_values");
}

EVL_API evl_ktable_t *evl_table_filter(evl_ktable_t *t, evl_pred_fn *fn, void *arg, bool keep,
                                       const char *store)
{
    evl_node_t *n = table_op(t, N_TFILTER, (void *)fn, arg, store, "table filter");
    if (n)
        n->keep = keep;
    return (evl_ktable_t *)n;
}

/* The change r (value NULL: a deletion) kept (if materialized) and passed
 * on. A materialized node passes no deletion of a key it does not hold. */
static int put_and_pass(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (n->store) {
        if (!r->value) {
            const void *v;
            size_t vl;
            int rc = evl__task_store_read(t, n->store_idx, r->key, r->key_len, &v, &vl);
            if (rc == EVL_ENOTFOUND)
                return 0;
            if (rc)
                return rc;
        }
        int rc = evl__task_store_write(t, n->store_idx, r->key, r->key_len, r->value,
                                       r->value_len);
        if (rc)
            return rc;
    }
    return evl__task_forward(t, n, r);
}

int evl__ktable_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (!r->key)
        return 0;
    if (n->kind == N_TFILTER) {
        evl_srec_t o = *r;
        if (r->value && n->fn.pred(n->arg, r) != n->keep) {
            o.value = NULL;
            o.value_len = 0;
        }
        return put_and_pass(t, n, &o);
    }
    if (!r->value)
        return put_and_pass(t, n, r);
    evl_emit_t em = {0};
    evl__emit_reset(&em, N_MAP_VALUES, r);
    int rc = evl__emit_one(&em, n->fn.xform(n->arg, r, &em));
    if (rc >= 0) {
        evl_srec_t o = {r->key, r->key_len, em.recs[0].value ? em.recs[0].value : "",
                        em.recs[0].value_len, r->timestamp};
        rc = put_and_pass(t, n, &o);
    }
    evl__emit_free(&em);
    return rc < 0 ? rc : 0;
}
