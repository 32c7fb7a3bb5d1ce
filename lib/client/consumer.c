/*
 * consumer.c - evl_consumer_t: Kafka's consumer on top of the partition
 * readers, alone (manual assignment) or as a member of a group (group.c).
 *
 * Decisions:
 *
 *  - One evl_reader_t per assigned partition. A poll returns views from
 *    several partitions in one batch, dealt round-robin (each partition up
 *    to its share of `max`, then the leftovers), starting one partition
 *    further each poll, so a busy partition cannot starve the others. The
 *    views are copies of the reader's record struct whose pointers go into
 *    the mapped segments; evl__reader_next keeps segments it leaves pinned,
 *    and the next poll unpins them, which is what makes the views valid
 *    until the next poll or close. A partition stops contributing to a batch
 *    before its reader runs out of pin slots.
 *
 *  - Waiting: futex_waitv(2) on the futex word of every assigned partition
 *    plus the group's state word, so a record appended by any process, or
 *    any group change, wakes the poll at once, with no spinning. A subscribed
 *    member also wakes every GROUP_TICK_MS to check its peers' liveness
 *    (the check is what turns a SIGKILL into a rebalance within tens of ms).
 *    Without futex_waitv (Linux < 5.16) it waits on one word in short
 *    slices.
 *
 *  - Rebalancing (group members) is served from poll, in the polling
 *    thread, one step at a time against the group record:
 *      1. partitions owned but no longer in the target: auto-commit them,
 *         call the REVOKE callback (the member still owns them, so commits
 *         made in it are accepted), then release them;
 *      2. partitions in the target owned by nobody: claim them, position
 *         them, call the ASSIGN callback.
 *    A partition still owned by another member is claimed later, when that
 *    member's release bumps the state word. A member that finds itself
 *    removed (it did not poll for max.poll.interval.ms) gets a REVOKE of
 *    everything (commits in it fail: the partitions are already someone
 *    else's), joins again, and that poll returns EVL_EFENCED.
 *
 *  - Where a newly owned partition starts (the contract the header states):
 *    the committed offset; none -> auto.offset.reset (but no position at all
 *    if the group's offsets were lost with the metadata); below the log
 *    start (retention) -> auto.offset.reset; past the end -> the end,
 *    whether auto.offset.reset says earliest or latest: the group has
 *    consumed all this log holds, and the records it committed past are not
 *    here (lost to a power cut before they reached the disk, or the log was
 *    replaced); the beginning would replay everything it already processed.
 *    auto.offset.reset=none positions nothing by itself, here neither: poll
 *    returns EVL_ENOOFFSET until evl_consumer_seek(). A position that
 *    retention passes while reading is out of range too (EVL_EOFFSET from
 *    the reader): auto.offset.reset, logged.
 *
 *  - Auto-commit (enable.auto.commit) happens at the start of poll, at most
 *    every auto.commit.interval.ms, of positions that moved: what earlier
 *    polls returned counts as processed (at-least-once). Also before a
 *    revoke and at close.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "group.h"
#include "log.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "record.h"
#include "topic.h"

#define GROUP_TICK_MS 20       /* peer liveness check period */
#define RESYNC_MS 1000         /* full re-read of the plan, in case a bump was lost */
#define SLICE_NS 5000000       /* wait slice without futex_waitv */
#define WAITV_MAX EVL_FUTEX_WAITV_MAX

enum { MODE_NONE = 0, MODE_SUBSCRIBED, MODE_ASSIGNED };

struct cpart {
    evl_topic_t *topic;
    int32_t id;
    evl_reader_t *rd;
    bool need_reset;           /* no position: auto.offset.reset=none */
    int64_t committed;         /* last offset this consumer committed, -1 */
};

struct evl_consumer {
    evl_log_t *log;
    evl_config_t cfg;
    evl_logger_t lg;
    char *group;               /* group.id, or NULL */
    int mode;
    int reset_policy;          /* EVL_RESET_POLICY_* */
    bool auto_commit, check_crcs;
    evl_spin_t spin;           /* how a waiting poll waits (spin.h) */
    int64_t commit_interval_ms, max_poll_ms;
    int strategy;
    /* group membership (subscribed) */
    evl_grp_t *grp;
    char **subs;
    size_t nsubs;
    int64_t gen;               /* generation adopted at the last sync */
    uint32_t seen;             /* state word at the last sync */
    bool dirty;                /* sync at the next poll whatever the word */
    bool fenced;               /* removed from the group: poll says so once */
    int64_t next_tick_ms, next_resync_ms, next_commit_ms;
    evl_rebalance_cb *cb;
    void *cb_opaque;
    bool in_cb;
    /* assignment */
    struct cpart *parts;
    size_t nparts, cap;
    size_t rr;                 /* first partition of the next batch */
    struct evl_record *recs;   /* the current batch's views */
    size_t nrecs_cap;
};

static int64_t mono_ms(void) { return evl_mono_ns() / 1000000; }

/* ---- partitions ---------------------------------------------------------------- */

static int part_find(const evl_consumer_t *cons, const char *topic, int32_t p)
{
    for (size_t i = 0; i < cons->nparts; i++)
        if (cons->parts[i].id == p && !strcmp(cons->parts[i].topic->name, topic))
            return (int)i;
    return -1;
}

/* Open a reader for topic/p into *cp (not yet positioned usefully). */
static int part_open(evl_consumer_t *cons, const char *topic, int32_t p, struct cpart *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->committed = -1;
    int rc = evl__topic_get(cons->log, topic, &cp->topic);
    if (rc || (rc = evl__reader_open(cons->log, cp->topic, p, &cp->rd)))
        return rc;
    evl_reader_set_check_crcs(cp->rd, cons->check_crcs);
    cp->id = p;
    return 0;
}

static int parts_reserve(evl_consumer_t *cons, size_t n)
{
    if (n <= cons->cap)
        return 0;
    size_t cap = cons->cap ? cons->cap : 8;
    while (cap < n)
        cap *= 2;
    struct cpart *np = evl__realloc(cons->parts, cap * sizeof *np);
    if (!np)
        return EVL_ENOMEM;
    cons->parts = np;
    cons->cap = cap;
    return 0;
}

static void part_remove(evl_consumer_t *cons, size_t i)
{
    evl_reader_close(cons->parts[i].rd);
    memmove(&cons->parts[i], &cons->parts[i + 1], (cons->nparts - i - 1) * sizeof *cons->parts);
    cons->nparts--;
}

static int64_t part_position(const struct cpart *cp)
{
    return cp->need_reset ? -1 : evl_reader_position(cp->rd);
}

/* Seek, retrying when retention moves the log start under us. */
static int seek_retry(evl_reader_t *rd, int64_t offset)
{
    int rc = EVL_EOFFSET;
    for (int i = 0; i < 8 && rc == EVL_EOFFSET; i++)
        rc = evl_reader_seek(rd, offset);
    return rc;
}

static int apply_reset_policy(evl_consumer_t *cons, struct cpart *cp)
{
    switch (cons->reset_policy) {
    case EVL_RESET_POLICY_EARLIEST:
        cp->need_reset = false;
        return seek_retry(cp->rd, EVL_OFFSET_BEGINNING);
    case EVL_RESET_POLICY_LATEST:
        cp->need_reset = false;
        return seek_retry(cp->rd, EVL_OFFSET_END);
    default:
        cp->need_reset = true;
        return 0;
    }
}

/* Position a partition at committed (-1: none), as the file comment says. */
static int start_at(evl_consumer_t *cons, struct cpart *cp, int64_t committed)
{
    cp->committed = committed;
    if (committed < 0 && cons->group && evl__offsets_lost(cons->log, cons->group)) {
        /* It may well have had one: never start it over silently. */
        evl__logf(&cons->lg, EVL_LOG_ERR,
                  "group %s: %s/%d: no committed offset, and the group's committed offsets "
                  "were lost with the metadata; not applying auto.offset.reset: seek it, or "
                  "reset the group (evl group reset)", cons->group, cp->topic->name, cp->id);
        cp->need_reset = true;
        return 0;
    }
    if (committed < 0)
        return apply_reset_policy(cons, cp);
    int64_t end = (int64_t)evl__part_end(cp->rd->part);
    if (committed > end) {
        bool none = cons->reset_policy == EVL_RESET_POLICY_NONE;
        evl__logf(&cons->lg, EVL_LOG_WARNING,
                  "group %s: %s/%d: committed offset %lld is past the end of the log (%lld): "
                  "the records it covers are not in this log; %s",
                  cons->group ? cons->group : "-", cp->topic->name, cp->id, (long long)committed,
                  (long long)end,
                  none ? "auto.offset.reset=none: no position until a seek"
                       : "starting at the end (not replaying what the group processed)");
        if (none) {
            cp->need_reset = true;
            return 0;
        }
        committed = end;
    }
    cp->need_reset = false;
    int rc = evl_reader_seek(cp->rd, committed);
    if (rc != EVL_EOFFSET)
        return rc;
    evl__logf(&cons->lg, EVL_LOG_NOTICE,
              "group %s: %s/%d: committed offset %lld is below the log start (%lld); "
              "applying auto.offset.reset",
              cons->group ? cons->group : "-", cp->topic->name, cp->id, (long long)committed,
              (long long)evl__part_start(cp->rd->part));
    return apply_reset_policy(cons, cp);
}

/* ---- commits --------------------------------------------------------------------- */

/* The positions of the partitions that have one (changed_only: that moved
 * since this consumer last committed them). *out is malloc'd. */
static int positions(evl_consumer_t *cons, bool changed_only, evl_topic_partition_t **out,
                     size_t *n)
{
    *n = 0;
    *out = evl__malloc((cons->nparts + 1) * sizeof **out);
    if (!*out)
        return EVL_ENOMEM;
    for (size_t i = 0; i < cons->nparts; i++) {
        struct cpart *cp = &cons->parts[i];
        int64_t pos = part_position(cp);
        if (pos < 0 || (changed_only && pos == cp->committed))
            continue;
        (*out)[(*n)++] = (evl_topic_partition_t){cp->topic->name, cp->id, pos};
    }
    return 0;
}

/* Every assigned partition with its position (-1: none); malloc'd. */
static evl_topic_partition_t *all_parts(const evl_consumer_t *cons)
{
    evl_topic_partition_t *tps = evl__malloc((cons->nparts + 1) * sizeof *tps);
    for (size_t i = 0; tps && i < cons->nparts; i++)
        tps[i] = (evl_topic_partition_t){cons->parts[i].topic->name, cons->parts[i].id,
                                          part_position(&cons->parts[i])};
    return tps;
}

static int commit_tps(evl_consumer_t *cons, const evl_topic_partition_t *tps, size_t n,
                      const char *metadata)
{
    evl_grp_t *member = cons->mode == MODE_SUBSCRIBED ? cons->grp : NULL;
    int rc = evl__group_commit(cons->log, cons->group, member, cons->gen, tps, n, metadata);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int k = part_find(cons, tps[i].topic, tps[i].partition);
        if (k >= 0)
            cons->parts[k].committed = tps[i].offset;
    }
    return rc;
}

/* Commit the moved positions of all parts, or of those in `only`. */
static int commit_moved(evl_consumer_t *cons, const evl_topic_partition_t *only, size_t nonly)
{
    evl_topic_partition_t *tps;
    size_t n;
    int rc = positions(cons, true, &tps, &n);
    if (rc)
        return rc;
    if (only) {
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < nonly; k++)
                if (tps[i].partition == only[k].partition && !strcmp(tps[i].topic, only[k].topic)) {
                    tps[w++] = tps[i];
                    break;
                }
        n = w;
    }
    if (n)
        rc = commit_tps(cons, tps, n, NULL);
    if (rc)
        evl__logf(&cons->lg, rc == EVL_EFENCED ? EVL_LOG_NOTICE : EVL_LOG_WARNING,
                  "group %s: auto-commit of %zu partition(s) failed: %s", cons->group, n,
                  evl_strerror(rc));
    free(tps);
    return rc;
}

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
        int k = part_find(cons, tps[i].topic, tps[i].partition);
        if (k >= 0)
            part_remove(cons, (size_t)k);
    }
}

/* Give up every partition, telling the rebalance callback first when
 * revoke is set. */
static void drop_all(evl_consumer_t *cons, bool revoke)
{
    if (revoke && cons->nparts) {
        evl_topic_partition_t *tps = all_parts(cons);
        if (tps)
            serve_cb(cons, EVL_REBALANCE_REVOKE, tps, cons->nparts);
        free(tps);
    }
    while (cons->nparts)
        part_remove(cons, cons->nparts - 1);
}

/* Removed from the group: everything is lost already; say so, join again. */
static int rejoin(evl_consumer_t *cons)
{
    evl__logf(&cons->lg, EVL_LOG_WARNING,
              "group %s: member %s was removed (no poll for max.poll.interval.ms); "
              "its partitions went to others, joining again", cons->group,
              evl__group_member_id(cons->grp));
    drop_all(cons, true);
    cons->fenced = true;
    return evl__group_join(cons->grp, (const char *const *)cons->subs, cons->nsubs, cons->strategy,
                         cons->max_poll_ms);
}

static int claim(evl_consumer_t *cons, evl_topic_partition_t *want, size_t n)
{
    bool *claimed = evl__calloc(n, sizeof *claimed);
    int64_t *committed = evl__calloc(n, sizeof *committed);
    int rc = claimed && committed && parts_reserve(cons, cons->nparts + n) == 0 ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl__group_claim(cons->grp, want, n, claimed, committed);
    size_t got = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!claimed[i])
            continue;
        struct cpart *cp = &cons->parts[cons->nparts];
        int prc = part_open(cons, want[i].topic, want[i].partition, cp);
        if (prc == 0 && (prc = start_at(cons, cp, committed[i])) != 0)
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
        want[got++].offset = part_position(cp);
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
            v[n++] = (evl_topic_partition_t){cp->topic->name, cp->id, part_position(cp)};
    }
    /* Owned in the record but not read here (a release that failed
     * earlier): give those back too, silently, or nobody else could. */
    size_t nrevoke = n;
    for (size_t k = 0; k < plan.nowned; k++) {
        const evl_topic_partition_t *o = &plan.owned[k];
        bool wanted = false;
        for (size_t t = 0; t < plan.ntarget && !wanted; t++)
            wanted = plan.target[t].partition == o->partition && !strcmp(plan.target[t].topic, o->topic);
        if (!wanted && part_find(cons, o->topic, o->partition) < 0)
            v[n++] = *o;
    }
    if (nrevoke) {
        if (cons->auto_commit)
            commit_moved(cons, v, nrevoke);
        serve_cb(cons, EVL_REBALANCE_REVOKE, v, nrevoke);
    }
    if (n) {
        rc = evl__group_release(cons->grp, v, n);
        drop_parts(cons, v, nrevoke);
    }
    /* 2. what comes */
    n = 0;
    for (size_t k = 0; k < plan.ntarget; k++)
        if (part_find(cons, plan.target[k].topic, plan.target[k].partition) < 0)
            v[n++] = plan.target[k];
    if (n && rc == 0)
        rc = claim(cons, v, n);
    free(v);
    evl__group_plan_free(&plan);
    return rc;
}

/* Group upkeep from poll: liveness tick, then act on changes. */
static int service(evl_consumer_t *cons)
{
    int64_t now = mono_ms();
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

/* ---- fetching and waiting ------------------------------------------------------------ */

/* Fill recs with up to max records, round-robin over the partitions. *err
 * gets the first error that stopped a partition (records already taken are
 * still returned; the error comes back at the next poll). */
static size_t fetch(evl_consumer_t *cons, const evl_record_t **recs, size_t max, int *err)
{
    size_t n = 0, np = cons->nparts;
    *err = 0;
    if (!np)
        return 0;
    bool stack_done[64], *done = stack_done;
    if (np > EVL_ARRAY_LEN(stack_done) && !(done = evl__malloc(np * sizeof *done))) {
        *err = EVL_ENOMEM;
        return 0;
    }
    memset(done, 0, np * sizeof *done);
    size_t quota = max / np ? max / np : 1;
    for (bool progress = true; progress && n < max;) {
        progress = false;
        for (size_t k = 0; k < np && n < max; k++) {
            size_t i = (cons->rr + k) % np;
            struct cpart *cp = &cons->parts[i];
            for (size_t q = 0; q < quota && n < max && !done[i]; q++) {
                /* Keep room for the pins this batch's views need. */
                if (cp->need_reset || cp->rd->npins >= EVL_READER_PINS - 2) {
                    done[i] = true;
                    break;
                }
                const evl_record_t *r;
                int rc = evl__reader_next(cp->rd, 0, &r);
                if (rc == EVL_EOFFSET) {
                    /* Retention passed our position: Kafka's out-of-range. */
                    evl__logf(&cons->lg, EVL_LOG_WARNING,
                              "%s/%d: position %lld fell below the log start; applying "
                              "auto.offset.reset", cp->topic->name, cp->id,
                              (long long)evl_reader_position(cp->rd));
                    rc = apply_reset_policy(cons, cp);
                    if (rc == 0 && !cp->need_reset) {
                        q--; /* read from the new position in this round */
                        continue;
                    }
                    if (rc == 0)
                        rc = EVL_ENOOFFSET;
                }
                if (rc) {
                    if (rc != EVL_ETIMEDOUT && !*err)
                        *err = rc;
                    done[i] = true;
                    break;
                }
                cons->recs[n] = *r;
                recs[n] = &cons->recs[n];
                n++;
                progress = true;
            }
        }
        quota = 1 + (max - n) / np; /* leftovers to whoever still has data */
    }
    if (done != stack_done)
        free(done);
    cons->rr = (cons->rr + 1) % np;
    return n;
}

/* Sleep until a record may have arrived in an assigned partition, the
 * group changed, or until_ns (CLOCK_MONOTONIC) passed. */
static void wait_any(evl_consumer_t *cons, int64_t until_ns)
{
    _Atomic uint32_t *words[WAITV_MAX];
    uint32_t vals[WAITV_MAX];
    size_t nw = 0, nparts = 0;
    if (cons->grp && cons->mode == MODE_SUBSCRIBED) {
        words[nw] = evl__group_seq_word(cons->grp);
        vals[nw] = atomic_load(words[nw]);
        if (vals[nw++] != cons->seen)
            return;
    }
    /* Spin first (spin.h): note the partitions' next offsets, look once
     * more (an append before the note would not show as a change), watch. */
    if (evl__spin_wanted(&cons->spin)) {
        _Atomic uint64_t *sw[WAITV_MAX];
        uint64_t sv[WAITV_MAX];
        size_t ns = 0;
        for (size_t i = 0; i < cons->nparts && ns < WAITV_MAX; i++)
            if (!cons->parts[i].need_reset) {
                sw[ns] = &cons->parts[i].rd->part->ctl->next_offset;
                sv[ns] = atomic_load_explicit(sw[ns], memory_order_relaxed);
                ns++;
            }
        for (size_t i = 0; i < cons->nparts; i++)
            if (!cons->parts[i].need_reset && evl__reader_ready(cons->parts[i].rd))
                return;
        if (evl__spin(&cons->spin, sw, sv, ns, until_ns))
            return;
    }
    /* Announce ourselves to the appenders, then look once more: an append
     * after the look sees the waiter and bumps the word (reader.c). */
    for (size_t i = 0; i < cons->nparts && nw < WAITV_MAX; i++) {
        evl_ctl_t *ctl = cons->parts[i].rd->part->ctl;
        if (cons->parts[i].need_reset)
            continue;
        words[nw] = &ctl->futex_seq;
        vals[nw++] = atomic_load(&ctl->futex_seq);
        atomic_fetch_add(&ctl->waiters, 1);
        nparts++;
    }
    if (nparts < cons->nparts) /* more than the kernel can watch: slices */
        until_ns = EVL_MIN(until_ns, evl_mono_ns() + SLICE_NS);
    EVL_FENCE_SC();
    bool ready = false;
    for (size_t i = 0; i < cons->nparts && !ready; i++)
        ready = !cons->parts[i].need_reset && evl__reader_ready(cons->parts[i].rd);
    int64_t left = until_ns - evl_mono_ns();
    if (!ready && left > 0) {
        evl__stat_add(cons->log, EVL_STAT_READ_SLEEPS, 1);
        if (evl__futex_wait_any(words, vals, nw, until_ns) == -ENOSYS) {
            if (nw)
                evl__futex_wait(words[0], vals[0], EVL_MIN(left, (int64_t)SLICE_NS));
            else {
                struct timespec ts = {left / 1000000000, left % 1000000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    for (size_t i = 0, k = 0; i < cons->nparts && k < nparts; i++)
        if (!cons->parts[i].need_reset) {
            atomic_fetch_sub(&cons->parts[i].rd->part->ctl->waiters, 1);
            k++;
        }
}

/* ---- the public calls ------------------------------------------------------------------ */

EVL_API int evl_consumer_new(evl_log_t *log, const evl_config_t *cfg, evl_consumer_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    evl_consumer_t *cons = evl__calloc(1, sizeof *cons);
    if (!cons)
        return EVL_ENOMEM;
    evl_config_t defaults;
    evl__cfg_defaults(&defaults);
    int rc = evl__cfg_copy(&cons->cfg, cfg ? cfg : &defaults);
    if (rc) {
        free(cons);
        return rc;
    }
    cons->log = log;
    cons->lg = cons->cfg.logger.cb ? cons->cfg.logger : log->lg;
    int bad = evl__cfg_scope_check(&cons->cfg, EVL_CFG_SCOPE_CONSUMER, &log->cfg);
    if (bad >= 0) {
        evl__logf(&cons->lg, EVL_LOG_ERR, "consumer: %s is not a consumer setting",
                  evl__cfg_name(bad));
        evl__cfg_release(&cons->cfg);
        free(cons);
        return EVL_ECONFIG;
    }
    const char *gid = evl__cfg_str(&cons->cfg, EVL_CFG_GROUP_ID);
    if (gid[0] && !evl__name_valid(gid))
        rc = EVL_EBADNAME;
    else if (gid[0] && !(cons->group = evl__strdup(gid)))
        rc = EVL_ENOMEM;
    if (rc) {
        evl__cfg_release(&cons->cfg);
        free(cons);
        return rc;
    }
    cons->reset_policy = (int)evl__cfg_int(&cons->cfg, EVL_CFG_AUTO_OFFSET_RESET);
    cons->auto_commit = cons->group && evl__cfg_int(&cons->cfg, EVL_CFG_ENABLE_AUTO_COMMIT);
    cons->commit_interval_ms = evl__cfg_int(&cons->cfg, EVL_CFG_AUTO_COMMIT_INTERVAL_MS);
    cons->max_poll_ms = evl__cfg_int(&cons->cfg, EVL_CFG_MAX_POLL_INTERVAL_MS);
    cons->strategy = (int)evl__cfg_int(&cons->cfg, EVL_CFG_ASSIGNMENT_STRATEGY);
    cons->check_crcs = evl__cfg_int(&cons->cfg, EVL_CFG_CHECK_CRCS) != 0;
    evl__spin_init(&cons->spin, evl__cfg_int(&cons->cfg, EVL_CFG_WAIT_SPIN_US));
    cons->next_commit_ms = mono_ms() + cons->commit_interval_ms;
    evl__log_ref(log);
    *out = cons;
    return 0;
}

EVL_API void evl_consumer_set_rebalance_cb(evl_consumer_t *cons, evl_rebalance_cb *cb,
                                           void *opaque)
{
    if (!cons)
        return;
    cons->cb = cb;
    cons->cb_opaque = opaque;
}

EVL_API int evl_consumer_subscribe(evl_consumer_t *cons, const char *const *topics, size_t count)
{
    if (!cons || !topics || count == 0)
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (!cons->group || cons->mode == MODE_ASSIGNED || cons->in_cb)
        return EVL_ESTATE;
    for (size_t i = 0; i < count; i++) {
        evl_topic_t *t;
        int rc = topics[i] ? evl__topic_get(cons->log, topics[i], &t) : EVL_EINVAL;
        if (rc)
            return rc;
    }
    char **subs = evl__calloc(count, sizeof *subs);
    if (!subs)
        return EVL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count && !rc; i++)
        if (!(subs[i] = evl__strdup(topics[i])))
            rc = EVL_ENOMEM;
    if (!rc && !cons->grp)
        rc = evl__group_open(cons->log, cons->group, &cons->grp);
    if (!rc)
        rc = evl__group_join(cons->grp, (const char *const *)subs, count, cons->strategy,
                           cons->max_poll_ms);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            free(subs[i]);
        free(subs);
        return rc;
    }
    for (size_t i = 0; i < cons->nsubs; i++)
        free(cons->subs[i]);
    free(cons->subs);
    cons->subs = subs;
    cons->nsubs = count;
    cons->mode = MODE_SUBSCRIBED;
    cons->dirty = true;
    cons->next_tick_ms = 0;
    return 0;
}

EVL_API int evl_consumer_assign(evl_consumer_t *cons, const evl_topic_partition_t *parts,
                                size_t count)
{
    if (!cons || (count && !parts))
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (cons->mode == MODE_SUBSCRIBED || cons->in_cb)
        return EVL_ESTATE;
    for (size_t i = 0; i < count; i++) {
        if (!parts[i].topic || parts[i].partition < 0 || parts[i].offset < EVL_OFFSET_COMMITTED)
            return EVL_EINVAL;
        for (size_t k = 0; k < i; k++)
            if (parts[k].partition == parts[i].partition && !strcmp(parts[k].topic, parts[i].topic))
                return EVL_EINVAL;
    }
    /* Build the new assignment aside, so a failure changes nothing. */
    struct cpart *np = evl__calloc(count + 1, sizeof *np);
    if (!np)
        return EVL_ENOMEM;
    int rc = 0;
    size_t n = 0;
    for (; n < count && !rc; n++) {
        struct cpart *cp = &np[n];
        if ((rc = part_open(cons, parts[n].topic, parts[n].partition, cp)))
            break;
        int64_t off = parts[n].offset, committed = -1;
        if (off != EVL_OFFSET_COMMITTED)
            rc = evl_reader_seek(cp->rd, off);
        else if (!cons->group ||
                 (rc = evl__offset_get(cons->log, cons->group, parts[n].topic, parts[n].partition,
                                       &committed)) == EVL_ENOTFOUND)
            rc = start_at(cons, cp, -1);
        else if (rc == 0)
            rc = start_at(cons, cp, committed);
        if (rc) {
            evl_reader_close(cp->rd);
            break;
        }
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            evl_reader_close(np[i].rd);
        free(np);
        return rc;
    }
    if (cons->auto_commit)
        commit_moved(cons, NULL, 0);
    while (cons->nparts)
        part_remove(cons, cons->nparts - 1);
    free(cons->parts);
    cons->parts = np;
    cons->nparts = count;
    cons->cap = count + 1;
    cons->rr = 0;
    cons->mode = count ? MODE_ASSIGNED : MODE_NONE;
    return 0;
}

EVL_API int evl_consumer_assignment(evl_consumer_t *cons, evl_topic_partition_t **parts,
                                    size_t *count)
{
    if (!parts || !count)
        return EVL_EINVAL;
    *parts = NULL;
    *count = 0;
    if (!cons)
        return EVL_EINVAL;
    /* One block: the array, then the topic names it points to. */
    size_t bytes = (cons->nparts + 1) * sizeof **parts;
    for (size_t i = 0; i < cons->nparts; i++)
        bytes += strlen(cons->parts[i].topic->name) + 1;
    evl_topic_partition_t *v = evl__malloc(bytes);
    if (!v)
        return EVL_ENOMEM;
    char *s = (char *)(v + cons->nparts + 1);
    for (size_t i = 0; i < cons->nparts; i++) {
        size_t len = strlen(cons->parts[i].topic->name) + 1;
        memcpy(s, cons->parts[i].topic->name, len);
        v[i] = (evl_topic_partition_t){s, cons->parts[i].id, part_position(&cons->parts[i])};
        s += len;
    }
    *parts = v;
    *count = cons->nparts;
    return 0;
}

EVL_API int evl_consumer_poll(evl_consumer_t *cons, int timeout_ms, const evl_record_t **recs,
                              size_t max, size_t *count)
{
    if (count)
        *count = 0;
    if (!cons || !recs || !count || max == 0)
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (cons->in_cb)
        return EVL_ESTATE;
    max = EVL_MIN(max, (size_t)evl__cfg_int(&cons->cfg, EVL_CFG_MAX_POLL_RECORDS));
    if (max > cons->nrecs_cap) {
        struct evl_record *nr = evl__realloc(cons->recs, max * sizeof *nr);
        if (!nr)
            return EVL_ENOMEM;
        cons->recs = nr;
        cons->nrecs_cap = max;
    }
    for (size_t i = 0; i < cons->nparts; i++)
        evl__reader_unpin(cons->parts[i].rd); /* the previous batch is over */
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : evl_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        bool member = cons->mode == MODE_SUBSCRIBED;
        if (member) {
            int rc = service(cons);
            if (rc)
                return rc;
            if (cons->fenced) {
                cons->fenced = false;
                return EVL_EFENCED;
            }
        }
        int64_t now = mono_ms();
        if (cons->auto_commit && now >= cons->next_commit_ms) {
            commit_moved(cons, NULL, 0);
            cons->next_commit_ms = now + cons->commit_interval_ms;
        }
        for (size_t i = 0; i < cons->nparts; i++)
            if (cons->parts[i].need_reset)
                return EVL_ENOOFFSET;
        int err;
        size_t n = fetch(cons, recs, max, &err);
        if (n) {
            if (member)
                evl__group_heartbeat(cons->grp);
            *count = n;
            return 0;
        }
        if (err)
            return err;
        int64_t tnow = evl_mono_ns();
        if (timeout_ms == 0 || tnow >= deadline)
            return EVL_ETIMEDOUT;
        int64_t until = deadline;
        if (member)
            until = EVL_MIN(until, cons->next_tick_ms * 1000000);
        wait_any(cons, until);
    }
}

static int assigned(evl_consumer_t *cons, const char *topic, int partition, struct cpart **out)
{
    *out = NULL;
    if (!cons || !topic)
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    int k = part_find(cons, topic, partition);
    if (k < 0)
        return EVL_ENOTFOUND;
    *out = &cons->parts[k];
    return 0;
}

EVL_API int evl_consumer_seek(evl_consumer_t *cons, const char *topic, int partition,
                              int64_t offset)
{
    struct cpart *cp;
    int rc = assigned(cons, topic, partition, &cp);
    if (rc)
        return rc;
    if (offset == EVL_OFFSET_COMMITTED) {
        int64_t committed = -1;
        if (cons->group && (rc = evl__offset_get(cons->log, cons->group, topic, partition,
                                                 &committed)) && rc != EVL_ENOTFOUND)
            return rc;
        return start_at(cons, cp, committed);
    }
    if (offset < EVL_OFFSET_BEGINNING)
        return EVL_EINVAL;
    if ((rc = evl_reader_seek(cp->rd, offset)) == 0)
        cp->need_reset = false;
    return rc;
}

EVL_API int evl_consumer_seek_time(evl_consumer_t *cons, const char *topic, int partition,
                                   int64_t ts)
{
    struct cpart *cp;
    int rc = assigned(cons, topic, partition, &cp);
    if (rc == 0 && (rc = evl_reader_seek_time(cp->rd, ts)) == 0)
        cp->need_reset = false;
    return rc;
}

EVL_API int evl_consumer_position(evl_consumer_t *cons, const char *topic, int partition,
                                  int64_t *offset)
{
    struct cpart *cp;
    if (!offset)
        return EVL_EINVAL;
    int rc = assigned(cons, topic, partition, &cp);
    if (rc)
        return rc;
    if (cp->need_reset)
        return EVL_ENOOFFSET;
    *offset = evl_reader_position(cp->rd);
    return 0;
}

EVL_API int evl_consumer_commit(evl_consumer_t *cons)
{
    if (!cons)
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (!cons->group)
        return EVL_ESTATE;
    evl_topic_partition_t *tps;
    size_t n;
    int rc = positions(cons, false, &tps, &n);
    if (rc == 0 && n)
        rc = commit_tps(cons, tps, n, NULL);
    free(tps);
    return rc;
}

EVL_API int evl_consumer_commit_offsets(evl_consumer_t *cons, const evl_topic_partition_t *parts,
                                        size_t count, const char *metadata)
{
    if (!cons || (count && !parts))
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (!cons->group)
        return EVL_ESTATE;
    return commit_tps(cons, parts, count, metadata);
}

EVL_API int evl_consumer_committed(evl_consumer_t *cons, const char *topic, int partition,
                                   int64_t *offset)
{
    int rc = evl_consumer_committed_metadata(cons, topic, partition, offset, NULL, 0);
    return rc > 0 ? 0 : rc;
}

EVL_API int evl_consumer_committed_metadata(evl_consumer_t *cons, const char *topic,
                                            int partition, int64_t *offset, char *buf,
                                            size_t size)
{
    if (!cons || !topic || !offset || partition < 0 || (!buf && size))
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    if (!cons->group)
        return EVL_ESTATE;
    if (!evl__name_valid(topic))
        return EVL_EBADNAME;
    size_t len = 0;
    int rc = evl__offset_get_meta(cons->log, cons->group, topic, partition, offset, buf, size,
                                  &len);
    return rc ? rc : (int)EVL_MIN(len, (size_t)INT32_MAX);
}

EVL_API int evl_consumer_lag(evl_consumer_t *cons, const char *topic, int partition, int64_t *lag)
{
    struct cpart *cp;
    if (!lag)
        return EVL_EINVAL;
    int rc = assigned(cons, topic, partition, &cp);
    if (rc)
        return rc;
    int64_t end = (int64_t)evl__part_end(cp->rd->part), from;
    if (!cons->group || (rc = evl__offset_get(cons->log, cons->group, topic, partition, &from))) {
        if (rc && rc != EVL_ENOTFOUND)
            return rc;
        if (cp->need_reset)
            return EVL_ENOOFFSET;
        from = evl_reader_position(cp->rd);
    }
    *lag = end > from ? end - from : 0;
    return 0;
}

EVL_API void evl_consumer_close(evl_consumer_t *cons)
{
    if (!cons)
        return;
    if (cons->auto_commit && cons->nparts)
        commit_moved(cons, NULL, 0);
    drop_all(cons, cons->mode == MODE_SUBSCRIBED);
    evl__group_close(cons->grp); /* leaves the group: the others take over */
    for (size_t i = 0; i < cons->nsubs; i++)
        free(cons->subs[i]);
    free(cons->subs);
    free(cons->parts);
    free(cons->recs);
    free(cons->group);
    evl__cfg_release(&cons->cfg);
    evl_log_t *log = cons->log;
    free(cons);
    evl__log_unref(log);
}
