/*
 * group_assign.c - the partition assignors of consumer groups: range,
 * roundrobin and sticky (partition.assignment.strategy).
 *
 * An assignor is a pure function of the group record (group.h): it reads
 * members, their subscriptions, the partition counts and (sticky) the
 * previous targets, and writes every member's new target. It runs inside the
 * LMDB write transaction that changes membership, so the assignment and the
 * membership it was computed from are one snapshot, and it must give the
 * same answer in every process: members are taken in id order and topics in
 * name order, never in memory or join order. The group's strategy is the
 * one its leader (its oldest member, members[0]) was configured with, so a
 * group whose members disagree still agrees on one assignor.
 *
 * Ownership (who reads a partition now) is not decided here: a member
 * claims a partition of its target only once the previous owner released
 * it (group.c), so an assignor may move partitions freely.
 */
#include <stdlib.h>

#include "config.h"
#include "group.h"
#include "os.h"

static bool subscribed(const evl_gmember_t *m, int32_t t)
{
    for (uint32_t i = 0; i < m->nsubs; i++)
        if (m->subs[i] == t)
            return true;
    return false;
}

/* ---- assignors -------------------------------------------------------------- */

/*
 * All three work on a flat numbering of the subscribed partitions (topic by
 * topic) and fill owner[] with member indexes; members are taken in id
 * order and topics in name order, so every process computes the same
 * assignment from the same record.
 *  - range: per topic, contiguous runs, the first members one longer
 *    (Kafka's RangeAssignor).
 *  - roundrobin: all partitions dealt in turn to the members subscribed to
 *    their topic (RoundRobinAssignor).
 *  - sticky: keep every partition of the previous target where it was, deal
 *    the unassigned ones to the least loaded, then move partitions from the
 *    most to the least loaded until no two members differ by more than one
 *    (when subscriptions allow). Joins and leaves then move as few
 *    partitions as balance requires, which is what stateful consumers want.
 */
struct asg {
    evl_gstate_t *g;
    uint32_t *base;   /* per topic: first flat index */
    int32_t *cnt;     /* per topic: partitions to assign (0: unsubscribed) */
    uint32_t *torder; /* topic indexes in name order */
    uint32_t *morder; /* member indexes in id order */
    int32_t *owner;   /* per flat partition: member or -1 */
    uint32_t *count;  /* per member */
    uint32_t total;
};

static int cmp_topic(const void *a, const void *b, void *ctx)
{
    const evl_gstate_t *g = ctx;
    return strcmp(g->topics[*(const uint32_t *)a], g->topics[*(const uint32_t *)b]);
}

static int cmp_member(const void *a, const void *b, void *ctx)
{
    const evl_gstate_t *g = ctx;
    return strcmp(g->members[*(const uint32_t *)a].id, g->members[*(const uint32_t *)b].id);
}

/* The subscribed member with the fewest partitions (id order breaks ties). */
static int least_loaded(const struct asg *a, int32_t t)
{
    int best = -1;
    for (uint32_t i = 0; i < a->g->nmembers; i++) {
        uint32_t m = a->morder[i];
        if (subscribed(&a->g->members[m], t) && (best < 0 || a->count[m] < a->count[best]))
            best = (int)m;
    }
    return best;
}

static void give(struct asg *a, uint32_t flat, int m)
{
    if (a->owner[flat] >= 0)
        a->count[a->owner[flat]]--;
    a->owner[flat] = m;
    if (m >= 0)
        a->count[m]++;
}

static void assign_range(struct asg *a)
{
    evl_gstate_t *g = a->g;
    for (uint32_t t = 0; t < g->ntopics; t++) {
        uint32_t subs = 0, i = 0, n = (uint32_t)a->cnt[t];
        for (uint32_t k = 0; k < g->nmembers; k++)
            subs += subscribed(&g->members[k], (int32_t)t);
        if (!subs)
            continue;
        for (uint32_t k = 0; k < g->nmembers; k++) {
            uint32_t m = a->morder[k];
            if (!subscribed(&g->members[m], (int32_t)t))
                continue;
            uint32_t per = n / subs, extra = n % subs;
            uint32_t start = i * per + EVL_MIN(i, extra), len = per + (i < extra);
            for (uint32_t p = start; p < start + len; p++)
                give(a, a->base[t] + p, (int)m);
            i++;
        }
    }
}

static void assign_roundrobin(struct asg *a)
{
    evl_gstate_t *g = a->g;
    uint32_t next = 0, nm = g->nmembers;
    for (uint32_t k = 0; k < g->ntopics; k++) {
        uint32_t t = a->torder[k];
        for (int32_t p = 0; p < a->cnt[t]; p++)
            for (uint32_t tries = 0; tries < nm; tries++) {
                uint32_t m = a->morder[(next + tries) % nm];
                if (subscribed(&g->members[m], (int32_t)t)) {
                    give(a, a->base[t] + (uint32_t)p, (int)m);
                    next = (next + tries + 1) % nm;
                    break;
                }
            }
    }
}

static void assign_sticky(struct asg *a)
{
    evl_gstate_t *g = a->g;
    for (uint32_t k = 0; k < g->nmembers; k++) {
        uint32_t m = a->morder[k];
        const evl_gmember_t *mb = &g->members[m];
        for (uint32_t i = 0; i < mb->ntarget; i++) {
            int32_t t = mb->target[i].topic, p = mb->target[i].part;
            if (p < a->cnt[t] && subscribed(mb, t) && a->owner[a->base[t] + (uint32_t)p] < 0)
                give(a, a->base[t] + (uint32_t)p, (int)m);
        }
    }
    for (uint32_t k = 0; k < g->ntopics; k++) {
        uint32_t t = a->torder[k];
        for (int32_t p = 0; p < a->cnt[t]; p++)
            if (a->owner[a->base[t] + (uint32_t)p] < 0)
                give(a, a->base[t] + (uint32_t)p, least_loaded(a, (int32_t)t));
    }
    /* Each move lowers the spread, so this ends; the bound is a guard. */
    for (uint32_t iter = 0; iter <= a->total; iter++) {
        bool moved = false;
        for (uint32_t k = 0; k < g->ntopics; k++) {
            uint32_t t = a->torder[k];
            for (int32_t p = a->cnt[t] - 1; p >= 0; p--) {
                uint32_t f = a->base[t] + (uint32_t)p;
                int from = a->owner[f], to = least_loaded(a, (int32_t)t);
                if (from >= 0 && to >= 0 && a->count[from] > a->count[to] + 1) {
                    give(a, f, to);
                    moved = true;
                }
            }
        }
        if (!moved)
            break;
    }
}

int evl__group_assign(evl_gstate_t *g)
{
    struct asg a = {g, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    int rc = EVL_ENOMEM;
    uint32_t nt = g->ntopics, nm = g->nmembers;
    a.base = evl__calloc(nt + 1, sizeof *a.base);
    a.cnt = evl__calloc(nt + 1, sizeof *a.cnt);
    a.torder = evl__calloc(nt + 1, sizeof *a.torder);
    a.morder = evl__calloc(nm + 1, sizeof *a.morder);
    a.count = evl__calloc(nm + 1, sizeof *a.count);
    if (!a.base || !a.cnt || !a.torder || !a.morder || !a.count)
        goto out;
    for (uint32_t t = 0; t < nt; t++) {
        bool subbed = false;
        for (uint32_t m = 0; m < nm && !subbed; m++)
            subbed = subscribed(&g->members[m], (int32_t)t);
        a.cnt[t] = subbed && g->nparts[t] > 0 ? g->nparts[t] : 0;
        a.base[t] = a.total;
        a.total += (uint32_t)a.cnt[t];
        a.torder[t] = t;
    }
    for (uint32_t m = 0; m < nm; m++)
        a.morder[m] = m;
    if (!(a.owner = evl__malloc((a.total + 1) * sizeof *a.owner)))
        goto out;
    for (uint32_t f = 0; f < a.total; f++)
        a.owner[f] = -1;
    qsort_r(a.torder, nt, sizeof *a.torder, cmp_topic, g);
    qsort_r(a.morder, nm, sizeof *a.morder, cmp_member, g);
    if (nm) {
        switch (g->members[0].strategy) {
        case EVL_ASSIGN_ROUNDROBIN: assign_roundrobin(&a); break;
        case EVL_ASSIGN_STICKY: assign_sticky(&a); break;
        default: assign_range(&a); break;
        }
    }
    /* Write the targets: per member, in topic-name then partition order. */
    rc = 0;
    for (uint32_t m = 0; m < nm && rc == 0; m++) {
        evl_gmember_t *mb = &g->members[m];
        evl_gtp_t *v = evl__malloc((a.count[m] ? a.count[m] : 1) * sizeof *v);
        if (!v) {
            rc = EVL_ENOMEM;
            break;
        }
        uint32_t n = 0;
        for (uint32_t k = 0; k < nt; k++) {
            uint32_t t = a.torder[k];
            for (int32_t p = 0; p < a.cnt[t]; p++)
                if (a.owner[a.base[t] + (uint32_t)p] == (int32_t)m)
                    v[n++] = (evl_gtp_t){(int32_t)t, p};
        }
        free(mb->target);
        mb->target = v;
        mb->ntarget = n;
    }
out:
    free(a.base);
    free(a.cnt);
    free(a.torder);
    free(a.morder);
    free(a.count);
    free(a.owner);
    return rc;
}
