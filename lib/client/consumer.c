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

#include "consumer_int.h"
#include "config.h"
#include "log.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "record.h"
#include "topic.h"

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
    cons->next_commit_ms = consumer_mono_ms() + cons->commit_interval_ms;
    evl__log_ref(log);
    *out = cons;
    return 0;
}

EVL_API void evl_consumer_set_bound(evl_consumer_t *cons, evl_bound_fn *fn, void *arg)
{
    if (!cons)
        return;
    cons->bound_fn = fn;
    cons->bound_arg = arg;
    for (size_t i = 0; i < cons->nparts; i++)
        if (cons->parts[i].rd)
            evl_reader_set_bound(cons->parts[i].rd, fn, arg);
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
        if ((rc = evl__consumer_part_open(cons, parts[n].topic, parts[n].partition, cp)))
            break;
        int64_t off = parts[n].offset, committed = -1;
        if (off != EVL_OFFSET_COMMITTED)
            rc = evl_reader_seek(cp->rd, off);
        else if (!cons->group ||
                 (rc = evl__offset_get(cons->log, cons->group, parts[n].topic, parts[n].partition,
                                       &committed)) == EVL_ENOTFOUND)
            rc = evl__consumer_start_at(cons, cp, -1);
        else if (rc == 0)
            rc = evl__consumer_start_at(cons, cp, committed);
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
        evl__consumer_commit_moved(cons, NULL, 0);
    while (cons->nparts)
        evl__consumer_part_remove(cons, cons->nparts - 1);
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
        v[i] = (evl_topic_partition_t){s, cons->parts[i].id, evl__consumer_part_position(&cons->parts[i])};
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
            int rc = evl__consumer_service(cons);
            if (rc)
                return rc;
            if (cons->fenced) {
                cons->fenced = false;
                return EVL_EFENCED;
            }
        }
        int64_t now = consumer_mono_ms();
        if (cons->auto_commit && now >= cons->next_commit_ms) {
            evl__consumer_commit_moved(cons, NULL, 0);
            cons->next_commit_ms = now + cons->commit_interval_ms;
        }
        for (size_t i = 0; i < cons->nparts; i++)
            if (cons->parts[i].need_reset)
                return EVL_ENOOFFSET;
        int err;
        size_t n = evl__consumer_fetch(cons, recs, max, &err);
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
        evl__consumer_wait_any(cons, until);
    }
}

static int assigned(evl_consumer_t *cons, const char *topic, int partition, struct cpart **out)
{
    *out = NULL;
    if (!cons || !topic)
        return EVL_EINVAL;
    if (evl__log_closed(cons->log))
        return EVL_ESTATE;
    int k = evl__consumer_part_find(cons, topic, partition);
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
        return evl__consumer_start_at(cons, cp, committed);
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
    int rc = evl__consumer_positions(cons, false, &tps, &n);
    if (rc == 0 && n)
        rc = evl__consumer_commit_tps(cons, tps, n, NULL);
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
    return evl__consumer_commit_tps(cons, parts, count, metadata);
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
        evl__consumer_commit_moved(cons, NULL, 0);
    evl__consumer_drop_all(cons, cons->mode == MODE_SUBSCRIBED);
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

