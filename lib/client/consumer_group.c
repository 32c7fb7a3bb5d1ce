/*
 * consumer_group.c - a subscribed consumer's side of the group protocol
 * (group.c): served from poll, one step at a time against the group record:
 * revoke and release what goes, claim and position what comes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "consumer_int.h"
#include "config.h"
#include "log.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "record.h"
#include "topic.h"

/* ---- rebalancing (group members) --------------------------------------------------- */

static void serve_cb(evl_consumer_t *cons, int event, const evl_topic_partition_t *tps,
                     size_t n)
{
    if (!cons->cb || n == 0 || !cons->grp)
        return;
    evl__group_heartbeat(cons->grp);
    cons->in_cb = true;
    cons->cb(cons, event, tps, n, cons->cb_opaque);
    cons->in_cb = false;
    evl__group_heartbeat(cons->grp);
}

/* Drop partitions tps (already released or lost). */
static void drop_parts(evl_consumer_t *cons, const evl_topic_partition_t *tps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k = evl__consumer_part_find(cons, tps[i].topic, tps[i].partition);
        if (k >= 0)
            evl__consumer_part_remove(cons, (size_t)k);
    }
}

/* Give up every partition, telling the rebalance callback first when
 * revoke is set. */
void evl__consumer_drop_all(evl_consumer_t *cons, bool revoke)
{
    if (revoke && cons->nparts) {
        evl_topic_partition_t *tps = evl__consumer_all_parts(cons);
        if (tps)
            serve_cb(cons, EVL_REBALANCE_REVOKE, tps, cons->nparts);
        free(tps);
    }
    while (cons->nparts)
        evl__consumer_part_remove(cons, cons->nparts - 1);
}

/* Removed from the group: everything is lost already; say so, join again. */
static int rejoin(evl_consumer_t *cons)
{
    evl__logf(&cons->lg, EVL_LOG_WARNING,
              "group %s: member %s was removed (no poll for max.poll.interval.ms); "
              "its partitions went to others, joining again", cons->group,
              evl__group_member_id(cons->grp));
    evl__consumer_drop_all(cons, true);
    cons->fenced = true;
    return evl__group_join(cons->grp, (const char *const *)cons->subs, cons->nsubs, cons->strategy,
                         cons->max_poll_ms);
}

static int claim(evl_consumer_t *cons, evl_topic_partition_t *want, size_t n)
{
    bool *claimed = evl__calloc(n, sizeof *claimed);
    int64_t *committed = evl__calloc(n, sizeof *committed);
    int rc = claimed && committed && evl__consumer_parts_reserve(cons, cons->nparts + n) == 0 ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl__group_claim(cons->grp, want, n, claimed, committed);
    size_t got = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!claimed[i])
            continue;
        struct cpart *cp = &cons->parts[cons->nparts];
        int prc = evl__consumer_part_open(cons, want[i].topic, want[i].partition, cp);
        if (prc == 0 && (prc = evl__consumer_start_at(cons, cp, committed[i])) != 0)
            evl_reader_close(cp->rd);
        if (prc) {
            /* Cannot read it: hand it back rather than sit on it. */
            evl__logf(&cons->lg, EVL_LOG_ERR, "group %s: cannot open %s/%d: %s; releasing it",
                      cons->group, want[i].topic, want[i].partition, evl_strerror(prc));
            evl__group_release(cons->grp, &want[i], 1);
            continue;
        }
        cons->nparts++;
        want[got] = want[i];
        want[got++].offset = evl__consumer_part_position(cp);
    }
    free(claimed);
    free(committed);
    if (rc == EVL_EFENCED)
        return 0; /* removed meanwhile: the next plan says so */
    if (rc == 0)
        serve_cb(cons, EVL_REBALANCE_ASSIGN, want, got);
    return rc;
}

static int sync_once(evl_consumer_t *cons)
{
    evl_grp_plan_t plan;
    int rc = evl__group_plan(cons->grp, &plan);
    if (rc)
        return rc;
    if (!plan.member) {
        evl__group_plan_free(&plan);
        return rejoin(cons);
    }
    cons->gen = plan.gen;
    evl_topic_partition_t *v =
        evl__malloc((cons->nparts + plan.ntarget + plan.nowned + 1) * sizeof *v);
    if (!v) {
        evl__group_plan_free(&plan);
        return EVL_ENOMEM;
    }
    /* 1. what goes */
    size_t n = 0;
    for (size_t i = 0; i < cons->nparts; i++) {
        struct cpart *cp = &cons->parts[i];
        bool keep = false;
        for (size_t k = 0; k < plan.ntarget && !keep; k++)
            keep = plan.target[k].partition == cp->id && !strcmp(plan.target[k].topic, cp->topic->name);
        if (!keep)
            v[n++] = (evl_topic_partition_t){cp->topic->name, cp->id, evl__consumer_part_position(cp)};
    }
    /* Owned in the record but not read here (a release that failed
     * earlier): give those back too, silently, or nobody else could. */
    size_t nrevoke = n;
    for (size_t k = 0; k < plan.nowned; k++) {
        const evl_topic_partition_t *o = &plan.owned[k];
        bool wanted = false;
        for (size_t t = 0; t < plan.ntarget && !wanted; t++)
            wanted = plan.target[t].partition == o->partition && !strcmp(plan.target[t].topic, o->topic);
        if (!wanted && evl__consumer_part_find(cons, o->topic, o->partition) < 0)
            v[n++] = *o;
    }
    if (nrevoke) {
        if (cons->auto_commit)
            evl__consumer_commit_moved(cons, v, nrevoke);
        serve_cb(cons, EVL_REBALANCE_REVOKE, v, nrevoke);
    }
    if (n) {
        rc = evl__group_release(cons->grp, v, n);
        drop_parts(cons, v, nrevoke);
    }
    /* 2. what comes */
    n = 0;
    for (size_t k = 0; k < plan.ntarget; k++)
        if (evl__consumer_part_find(cons, plan.target[k].topic, plan.target[k].partition) < 0)
            v[n++] = plan.target[k];
    if (n && rc == 0)
        rc = claim(cons, v, n);
    free(v);
    evl__group_plan_free(&plan);
    return rc;
}

/* Group upkeep from poll: liveness tick, then act on changes. */
int evl__consumer_service(evl_consumer_t *cons)
{
    int64_t now = consumer_mono_ms();
    bool force = cons->dirty;
    evl__group_heartbeat(cons->grp);
    if (now >= cons->next_tick_ms) {
        int rc = evl__group_tick(cons->grp);
        if (rc)
            evl__logf(&cons->lg, EVL_LOG_WARNING, "group %s: liveness check failed: %s",
                      cons->group, evl_strerror(rc));
        cons->next_tick_ms = now + GROUP_TICK_MS;
        if (now >= cons->next_resync_ms) {
            force = true;
            cons->next_resync_ms = now + RESYNC_MS;
        }
    }
    _Atomic uint32_t *word = evl__group_seq_word(cons->grp);
    for (int round = 0; round < 4; round++) {
        uint32_t seq = atomic_load_explicit(word, memory_order_acquire);
        if (!force && seq == cons->seen)
            return 0;
        force = false;
        int rc = sync_once(cons);
        if (rc)
            return rc;
        cons->dirty = false;
        cons->seen = seq;
    }
    return 0;
}

