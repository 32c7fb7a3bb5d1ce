/*
 * log.c - evl_log_t: opening and closing a log directory, the references
 * its children hold, what a partition is given at open, and counters. The
 * disk budget is budget.c, the background jobs log_jobs.c.
 */
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os.h"
#include "topic.h"

/* ---- open / close -------------------------------------------------------------- */

/* Remove what an interrupted topic delete left in DIR/trash. Only the
 * entries: other processes may be opening the log at the same moment and
 * must find the folder itself in place. */
static void empty_trash(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    char sub[PATH_MAX];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < sizeof sub)
            evl__os_rmtree(sub);
    }
    closedir(d);
}

EVL_API int evl_log_open(const char *dir, const evl_config_t *cfg, evl_log_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 600)
        return EVL_EINVAL;
    evl_log_t *log = evl__calloc(1, sizeof *log);
    if (!log)
        return EVL_ENOMEM;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->budget_mu, NULL);
    atomic_init(&log->refs, 1);
    log->budget_fd = -1;
    int rc;
    evl_config_t defaults;
    evl__cfg_defaults(&defaults);
    if ((rc = evl__cfg_copy(&log->cfg, cfg ? cfg : &defaults)))
        goto fail;
    log->lg = log->cfg.logger;
    int bad = evl__cfg_scope_check(&log->cfg, EVL_CFG_SCOPE_LOG | EVL_CFG_SCOPE_TOPIC |
                                                  EVL_CFG_SCOPE_PRODUCER, &defaults);
    if (bad >= 0) {
        evl__logf(&log->lg, EVL_LOG_ERR, "log open: %s is a consumer setting (give it to "
                  "evl_consumer_new)", evl__cfg_name(bad));
        rc = EVL_ECONFIG;
        goto fail;
    }
    if (!(log->dir = evl__strdup(dir))) {
        rc = EVL_ENOMEM;
        goto fail;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topics", dir);
    if ((rc = evl__os_mkdirs(path, 0755)))
        goto fail;
    snprintf(path, sizeof path, "%s/trash", dir);
    if ((rc = evl__os_mkdirs(path, 0755)))
        goto fail;
    empty_trash(path); /* leftovers of an interrupted topic delete */
    evl__os_boot_id(log->boot_id);
    snprintf(path, sizeof path, "%s/meta", dir);
    bool repair = evl__cfg_int(&log->cfg, EVL_CFG_RECOVERY_MODE) == EVL_RECOVERY_REPAIR;
    if ((rc = evl__meta_open(path, (size_t)evl__cfg_int(&log->cfg, EVL_CFG_META_MAPSIZE),
                             &log->lg, repair, &log->meta)) ||
        (rc = evl__topic_reconcile(log)))
        goto fail;
    if ((rc = evl__budget_open(log)))
        goto fail;
    if ((rc = evl__log_jobs_start(log)))
        goto fail;
    *out = log;
    return 0;
fail:
    evl_log_close(log);
    return rc;
}

static void log_free(evl_log_t *log);

/* ---- the services a partition is given (partition.h: evl_part_env_t) ------------ */

static int env_reserve(void *o, uint64_t b) { return evl__log_reserve(o, b); }
static int env_reserve_try(void *o, uint64_t b) { return evl__log_reserve_try(o, b); }
static void env_reserve_done(void *o) { evl__log_reserve_done(o); }
static void env_kick(void *o) { evl__log_kick(o); }
static void env_kick_prefault(void *o) { evl__log_kick_prefault(o); }

void evl__log_part_env(evl_log_t *log, evl_part_env_t *env)
{
    env->lg = &log->lg;
    env->stats = log->stats;
    env->boot_id = log->boot_id;
    env->recovery_mode = (int)evl__cfg_int(&log->cfg, EVL_CFG_RECOVERY_MODE);
    /* Under a disk budget, segments roll at an eighth of it (at least 1
     * MiB): retention and drop-oldest work in whole segments, so a budget
     * must hold several; and no more than 1/32 of it is made ahead. */
    env->roll_bytes = (uint64_t)evl__log_budget_share(log, 8);
    env->ahead_max = (uint64_t)evl__log_budget_share(log, 32);
    env->drops_oldest = evl__log_drops_oldest(log);
    env->owner = log;
    env->reserve = env_reserve;
    env->reserve_try = env_reserve_try;
    env->reserve_done = env_reserve_done;
    env->kick = env_kick;
    env->kick_prefault = env_kick_prefault;
}

void evl__log_ref(evl_log_t *log) { atomic_fetch_add(&log->refs, 1); }

void evl__log_unref(evl_log_t *log)
{
    if (atomic_fetch_sub(&log->refs, 1) == 1)
        log_free(log);
}

EVL_API void evl_log_close(evl_log_t *log)
{
    if (!log)
        return;
    atomic_store(&log->closed, true);
    int children = atomic_load(&log->refs) - 1;
    if (children > 0)
        evl__logf(&log->lg, EVL_LOG_ERR,
                  "evl_log_close: %d producer(s), reader(s) or consumer(s) are still open; "
                  "their calls now fail with EVL_ESTATE, and the log is released when the "
                  "last of them is closed", children);
    evl__log_unref(log);
}

static void log_free(evl_log_t *log)
{
    evl__log_jobs_stop(log);
    while (log->topics) {
        evl_topic_t *t = log->topics;
        log->topics = t->next;
        evl__topic_free(t);
    }
    evl__meta_close(log->meta, &log->lg);
    evl__budget_close(log);
    evl__cfg_release(&log->cfg);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->budget_mu);
    free(log->dir);
    free(log);
}

/* Call fn on every partition of every topic in the log (opening them);
 * the first error fn returns is returned, after visiting all. */
int evl__log_each_partition(evl_log_t *log, int (*fn)(evl_part_t *, void *), void *arg)
{
    char **names;
    size_t n;
    int rc = evl__meta_list(log, EVL_DB_TOPICS, &names, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        evl_topic_t *t;
        if (evl__topic_get(log, names[i], &t))
            continue; /* deleted meanwhile */
        int np = evl__topic_nparts(t);
        for (int p = 0; p < np; p++) {
            evl_part_t *part;
            int r = evl__topic_part(t, p, &part);
            if (r == 0)
                r = fn(part, arg);
            if (r && !rc)
                rc = r;
        }
    }
    free(names);
    return rc;
}

static int sync_one(evl_part_t *part, void *arg)
{
    (void)arg;
    return evl__part_sync_now(part);
}

EVL_API int evl_log_sync(evl_log_t *log)
{
    return log ? evl__log_each_partition(log, sync_one, NULL) : EVL_EINVAL;
}

static int retain_one(evl_part_t *part, void *arg)
{
    int64_t r = evl__part_retention(part, *(int64_t *)arg, evl__part_keep_from(part));
    return r < 0 ? (int)r : 0;
}

EVL_API int evl_log_retention_run(evl_log_t *log)
{
    int64_t now = evl_now_ms();
    return log ? evl__log_each_partition(log, retain_one, &now) : EVL_EINVAL;
}

EVL_API int64_t evl_log_stat(evl_log_t *log, int stat)
{
    if (!log || stat < 0 || stat >= EVL_STAT__COUNT)
        return EVL_EINVAL;
    if (stat == EVL_STAT_DISK_BYTES)
        return evl__log_disk_bytes(log);
    if (stat == EVL_STAT_APPENDS || stat == EVL_STAT_APPEND_BYTES) {
        int64_t sum = 0;
        pthread_mutex_lock(&log->mu);
        for (evl_topic_t *t = log->topics; t; t = t->next)
            for (int p = 0; p < evl__topic_nparts(t); p++) {
                evl_part_t *part = evl__topic_part_if_open(t, p);
                if (part)
                    sum += atomic_load(stat == EVL_STAT_APPENDS ? &part->n_appends
                                                                : &part->n_append_bytes);
            }
        pthread_mutex_unlock(&log->mu);
        return sum;
    }
    return atomic_load(&log->stats[stat]);
}
