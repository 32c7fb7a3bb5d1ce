/*
 * cogroup.c - grouped streams aggregated together (Kafka's
 * KGroupedStream#cogroup): one aggregate per key in one store, each input
 * with its own aggregator. The aggregation node (an N_AGG, so a table that
 * can be joined and queried) hangs under the first input's side node so
 * that the graph reaches it; each side (N_COSIDE) runs its aggregator on
 * the shared aggregate and passes the result on to the node's children
 * itself (task.c's aggregate_with). The sides are tied to the node for
 * the cut into sub-topologies, which makes the inputs one sub-topology:
 * co-partitioned, as evl_streams_new checks.
 */
#include "streams_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

EVL_API evl_kcogrouped_t *evl_grouped_cogroup(evl_kgrouped_t *g, evl_agg_fn *fn, void *arg)
{
    if (!g)
        return NULL;
    evl_streams_builder_t *b = g->from->b;
    if (b->err[0])
        return NULL;
    evl_kcogrouped_t *c = calloc(1, sizeof *c);
    evl_kcogrouped_t **v = c ? realloc(b->cogroups, (b->ncogroups + 1) * sizeof *v) : NULL;
    if (!v) {
        free(c);
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    b->cogroups = v;
    b->cogroups[b->ncogroups++] = c;
    return evl_cogrouped_add(c, g, fn, arg);
}

EVL_API evl_kcogrouped_t *evl_cogrouped_add(evl_kcogrouped_t *c, evl_kgrouped_t *g,
                                            evl_agg_fn *fn, void *arg)
{
    if (!c || !g)
        return NULL;
    evl_streams_builder_t *b = g->from->b;
    if (b->err[0])
        return NULL;
    if (!fn) {
        evl__builder_fail(b, "cogroup: no aggregator");
        return NULL;
    }
    if (c->n && c->groups[0]->from->b != b) {
        evl__builder_fail(b, "cogroup: grouped streams of two builders");
        return NULL;
    }
    evl_kgrouped_t **gs = realloc(c->groups, (c->n + 1) * sizeof *gs);
    if (gs)
        c->groups = gs;
    evl_agg_fn **fs = gs ? realloc(c->fns, (c->n + 1) * sizeof *fs) : NULL;
    if (fs)
        c->fns = fs;
    void **as = fs ? realloc(c->args, (c->n + 1) * sizeof *as) : NULL;
    if (!as) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    c->args = as;
    c->groups[c->n] = g;
    c->fns[c->n] = fn;
    c->args[c->n] = arg;
    c->n++;
    return c;
}

EVL_API evl_ktable_t *evl_cogrouped_aggregate(evl_kcogrouped_t *c, const void *init,
                                              size_t init_len, const char *store)
{
    if (!c || !c->n)
        return NULL;
    evl_streams_builder_t *b = c->groups[0]->from->b;
    if (b->err[0] || evl__topo_store_check(b, store))
        return NULL;
    evl_node_t *res = NULL, *first = NULL;
    for (size_t i = 0; i < c->n; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s-cogroup-%zu", store, i);
        evl_node_t *from = evl__topo_agg_input(c->groups[i]->from, name);
        evl_node_t *side = from ? evl__topo_node(b, from, N_COSIDE) : NULL;
        if (!side)
            return NULL;
        side->fn.agg = c->fns[i];
        side->arg = c->args[i];
        if (!first) {
            first = side;
            /* the aggregate: under the first side (so the graph reaches
             * it), fed by every side */
            if (!(res = evl__topo_node(b, side, N_AGG)))
                return NULL;
            res->aggkind = AGG_AGGREGATE;
            if (!(res->store = strdup(store)) || (init_len && !(res->init = malloc(init_len)))) {
                evl__builder_fail(b, "out of memory");
                return NULL;
            }
            if (init_len)
                memcpy(res->init, init, init_len);
            res->init_len = init_len;
        } else {
            side->parent[1] = res; /* one sub-topology with the aggregate */
        }
        side->join = res;
    }
    return (evl_ktable_t *)res;
}
