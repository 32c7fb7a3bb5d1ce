/*
 * consumer_parts.c - a consumer's assigned partitions: a reader each, where
 * each starts (the contract in consumer.c's comment), and commits of their
 * positions.
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

/* ---- partitions ---------------------------------------------------------------- */

int evl__consumer_part_find(const evl_consumer_t *cons, const char *topic, int32_t p)
{
    for (size_t i = 0; i < cons->nparts; i++)
        if (cons->parts[i].id == p && !strcmp(cons->parts[i].topic->name, topic))
            return (int)i;
    return -1;
}

/* Open a reader for topic/p into *cp (not yet positioned usefully). */
int evl__consumer_part_open(evl_consumer_t *cons, const char *topic, int32_t p, struct cpart *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->committed = -1;
    int rc = evl__topic_get(cons->log, topic, &cp->topic);
    if (rc || (rc = evl__reader_open(cons->log, cp->topic, p, &cp->rd)))
        return rc;
    evl_reader_set_check_crcs(cp->rd, cons->check_crcs);
    evl_reader_set_bound(cp->rd, cons->bound_fn, cons->bound_arg);
    cp->id = p;
    return 0;
}

int evl__consumer_parts_reserve(evl_consumer_t *cons, size_t n)
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

void evl__consumer_part_remove(evl_consumer_t *cons, size_t i)
{
    evl_reader_close(cons->parts[i].rd);
    memmove(&cons->parts[i], &cons->parts[i + 1], (cons->nparts - i - 1) * sizeof *cons->parts);
    cons->nparts--;
}

int64_t evl__consumer_part_position(const struct cpart *cp)
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

int evl__consumer_reset(evl_consumer_t *cons, struct cpart *cp)
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
int evl__consumer_start_at(evl_consumer_t *cons, struct cpart *cp, int64_t committed)
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
        return evl__consumer_reset(cons, cp);
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
    return evl__consumer_reset(cons, cp);
}

/* ---- commits --------------------------------------------------------------------- */

/* The positions of the partitions that have one (changed_only: that moved
 * since this consumer last committed them). *out is malloc'd. */
int evl__consumer_positions(evl_consumer_t *cons, bool changed_only, evl_topic_partition_t **out,
                     size_t *n)
{
    *n = 0;
    *out = evl__malloc((cons->nparts + 1) * sizeof **out);
    if (!*out)
        return EVL_ENOMEM;
    for (size_t i = 0; i < cons->nparts; i++) {
        struct cpart *cp = &cons->parts[i];
        int64_t pos = evl__consumer_part_position(cp);
        if (pos < 0 || (changed_only && pos == cp->committed))
            continue;
        (*out)[(*n)++] = (evl_topic_partition_t){cp->topic->name, cp->id, pos};
    }
    return 0;
}

/* Every assigned partition with its position (-1: none); malloc'd. */
evl_topic_partition_t *evl__consumer_all_parts(const evl_consumer_t *cons)
{
    evl_topic_partition_t *tps = evl__malloc((cons->nparts + 1) * sizeof *tps);
    for (size_t i = 0; tps && i < cons->nparts; i++)
        tps[i] = (evl_topic_partition_t){cons->parts[i].topic->name, cons->parts[i].id,
                                          evl__consumer_part_position(&cons->parts[i])};
    return tps;
}

int evl__consumer_commit_tps(evl_consumer_t *cons, const evl_topic_partition_t *tps, size_t n,
                      const char *metadata)
{
    evl_grp_t *member = cons->mode == MODE_SUBSCRIBED ? cons->grp : NULL;
    int rc = evl__group_commit(cons->log, cons->group, member, cons->gen, tps, n, metadata);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int k = evl__consumer_part_find(cons, tps[i].topic, tps[i].partition);
        if (k >= 0)
            cons->parts[k].committed = tps[i].offset;
    }
    return rc;
}

/* Commit the moved positions of all parts, or of those in `only`. */
int evl__consumer_commit_moved(evl_consumer_t *cons, const evl_topic_partition_t *only, size_t nonly)
{
    evl_topic_partition_t *tps;
    size_t n;
    int rc = evl__consumer_positions(cons, true, &tps, &n);
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
        rc = evl__consumer_commit_tps(cons, tps, n, NULL);
    if (rc)
        evl__logf(&cons->lg, rc == EVL_EFENCED ? EVL_LOG_NOTICE : EVL_LOG_WARNING,
                  "group %s: auto-commit of %zu partition(s) failed: %s", cons->group, n,
                  evl_strerror(rc));
    free(tps);
    return rc;
}

