/*
 * cleaner.c - compaction of the log's compacted topics (cleanup.policy
 * compact or compact,delete): the background job that every process with
 * the log open runs on its idle lane every log.cleaner.backoff.ms, over the
 * partitions it has open, and evl_topic_compact. One pass of one
 * partition is compact.c's; two processes never clean one partition at
 * once (its compact.lock).
 */
#include "compact.h"
#include "config.h"
#include "log.h"
#include "topic.h"

static evl_compact_opts_t opts_of(const evl_topic_t *t, int64_t now, bool force)
{
    const evl_config_t *c = &t->cfg;
    return (evl_compact_opts_t){
        .now_ms = now,
        .force = force,
        .min_dirty_ratio = (double)evl__cfg_int(c, EVL_CFG_MIN_CLEANABLE_DIRTY_RATIO) /
                           EVL_CFG_FRAC_ONE,
        .min_lag_ms = evl__cfg_int(c, EVL_CFG_MIN_COMPACTION_LAG_MS),
        .max_lag_ms = evl__cfg_int(c, EVL_CFG_MAX_COMPACTION_LAG_MS),
        .delete_retention_ms = evl__cfg_int(c, EVL_CFG_DELETE_RETENTION_MS),
    };
}

static bool compacted(const evl_topic_t *t)
{
    return t->name[0] && evl__cleanup_compacts(evl__cfg_int(&t->cfg, EVL_CFG_CLEANUP_POLICY));
}

static int clean_part(evl_topic_t *t, evl_part_t *part, const evl_compact_opts_t *o)
{
    evl_compact_stats_t st;
    int rc = evl__part_compact(part, o, &st);
    if (rc && rc != EVL_EFULL)
        evl__logf(part->env.lg, EVL_LOG_ERR, "%s/%d: compaction failed: %s", t->name, part->id,
                  evl_strerror(rc));
    return rc;
}

int64_t evl__cleaner_job(void *arg, int64_t now)
{
    evl_log_t *log = arg;
    pthread_mutex_lock(&log->mu);
    evl_topic_t *topics = log->topics; /* never freed before close */
    pthread_mutex_unlock(&log->mu);
    for (evl_topic_t *t = topics; t && !evl__log_closed(log); t = t->next) {
        if (!compacted(t))
            continue;
        evl_compact_opts_t o = opts_of(t, evl_now_ms(), false);
        int n = evl__topic_nparts(t);
        for (int p = 0; p < n; p++) {
            evl_part_t *part = evl__topic_part_if_open(t, p);
            if (part)
                clean_part(t, part, &o);
        }
    }
    (void)now;
    return evl_now_ms() + evl__cfg_int(&log->cfg, EVL_CFG_LOG_CLEANER_BACKOFF_MS);
}

EVL_API int evl_topic_compact(evl_log_t *log, const char *name)
{
    if (!log || !name)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    evl_topic_t *t;
    int rc = evl__topic_get(log, name, &t);
    if (rc)
        return rc;
    if (!compacted(t)) {
        evl__logf(&log->lg, EVL_LOG_ERR, "topic %s: cleanup.policy is delete: nothing to compact",
                  name);
        return EVL_ECONFIG;
    }
    evl_compact_opts_t o = opts_of(t, evl_now_ms(), true);
    int n = evl__topic_nparts(t);
    for (int p = 0; p < n && rc == 0; p++) {
        evl_part_t *part;
        if ((rc = evl__topic_part(t, p, &part)) == 0)
            rc = clean_part(t, part, &o);
    }
    return rc;
}
