/*
 * producer_topics.c - the topics a producer sends to: its bound topic
 * (evl_producer_new) or, for a producer of any topic (evl_producer_open,
 * Kafka's shape), each topic it has named in a send, looked up once.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "os.h"
#include "producer_int.h"

ptopic_t *evl__prod_topic_new(evl_producer_t *prod, evl_topic_t *t)
{
    ptopic_t *pt = evl__calloc(1, sizeof *pt);
    if (!pt)
        return NULL;
    pt->topic = t;
    pt->partitioner = (int)evl__cfg_int(&t->cfg, EVL_CFG_PARTITIONER);
    pt->durability = prod->durability
                         ? prod->durability
                         : 1 + (int)evl__cfg_int(&t->cfg, EVL_CFG_DURABILITY);
    pt->max_msg = (uint64_t)evl__cfg_int(&t->cfg, EVL_CFG_MAX_MESSAGE_BYTES);
    pt->compacted = evl__cleanup_compacts(evl__cfg_int(&t->cfg, EVL_CFG_CLEANUP_POLICY));
    /* Partition 0 may be unusable (a damaged folder): sends to it fail
     * then, others work, and growth is seen once it opens. */
    if (evl__topic_part(t, 0, &pt->p0))
        pt->p0 = NULL;
    return pt;
}

int evl__prod_topic(evl_producer_t *prod, const char *topic, ptopic_t **out)
{
    *out = NULL;
    if (!topic) {
        *out = prod->bound;
        return prod->bound ? 0 : EVL_ESTATE;
    }
    if (prod->bound) {
        if (strcmp(prod->bound->topic->name, topic) != 0)
            return EVL_EINVAL; /* a bound producer sends to its topic only */
        *out = prod->bound;
        return 0;
    }
    for (ptopic_t *pt = atomic_load_explicit(&prod->topics, memory_order_acquire); pt;
         pt = pt->next)
        if (pt->topic->name[0] && strcmp(pt->topic->name, topic) == 0) {
            *out = pt;
            return 0;
        }
    evl_topic_t *t;
    int rc = evl__topic_get(prod->log, topic, &t);
    if (rc)
        return rc;
    pthread_mutex_lock(&prod->topics_mu);
    ptopic_t *pt;
    for (pt = atomic_load(&prod->topics); pt && pt->topic != t; pt = pt->next)
        ;
    if (!pt && (pt = evl__prod_topic_new(prod, t))) {
        pt->next = atomic_load(&prod->topics);
        atomic_store_explicit(&prod->topics, pt, memory_order_release);
    }
    pthread_mutex_unlock(&prod->topics_mu);
    *out = pt;
    return pt ? 0 : EVL_ENOMEM;
}

void evl__prod_topics_free(evl_producer_t *prod)
{
    free(prod->bound);
    for (ptopic_t *pt = atomic_load(&prod->topics), *nx; pt; pt = nx) {
        nx = pt->next;
        free(pt);
    }
}

/* Partitions added by any handle or process show in partition 0's shared
 * state (evl_topic_add_partitions), so keys map over the new count from
 * the next send on, as a Kafka producer's metadata refresh would have it
 * (one load of a line no append writes). */
int evl__prod_nparts(const ptopic_t *pt)
{
    int n = evl__topic_nparts(pt->topic);
    evl_part_t *p0 = pt->p0 ? pt->p0 : evl__topic_part_if_open(pt->topic, 0);
    if (EVL_UNLIKELY(!p0))
        return n;
    uint32_t shared = atomic_load_explicit(&p0->ctl->topic_nparts, memory_order_acquire);
    if (EVL_UNLIKELY(shared > (uint32_t)n)) {
        int r = evl__topic_refresh(pt->topic);
        if (r > n)
            n = r;
    }
    return n;
}

int evl__prod_part(const ptopic_t *pt, int p, int nparts, evl_part_t **out)
{
    if ((*out = evl__topic_part_if_open(pt->topic, p)))
        return 0;
    if (p >= nparts) {
        int n = evl__topic_refresh(pt->topic);
        if (n < 0)
            return n;
        if (p >= n)
            return EVL_EINVAL;
    }
    return evl__topic_part(pt->topic, p, out);
}
