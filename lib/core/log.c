/*
 * log.c - evl_log_t: opening a log directory, counters, the disk budget and
 * the background thread.
 *
 * Two threads per handle do what a producer must not wait for: the
 * background thread flushes partitions whose producers asked for `interval`
 * durability and applies retention to the topics this handle has open; the
 * prefault thread (SCHED_IDLE) allocates and pre-faults space ahead of
 * writers. It sleeps on a condition variable
 * until the next job is due, so close wakes it at once and an idle log
 * costs no wake-ups.
 */
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os.h"
#include "topic.h"

/* How much of a reader's next window the prefault thread maps per step. */
#define MAP_AHEAD_STEP ((uint64_t)256 << 10)

/* ---- background thread ---------------------------------------------------- */

/* Flush partitions whose interval is due, apply retention when asked;
 * returns when the next flush falls due (ms, INT64_MAX if none waits). */
static int64_t bg_flush_and_retain(evl_log_t *log, bool retention)
{
    pthread_mutex_lock(&log->mu);
    evl_topic_t *topics = log->topics; /* topics are never freed before close */
    pthread_mutex_unlock(&log->mu);
    int64_t now = evl_now_ms(), next = INT64_MAX;
    for (evl_topic_t *t = topics; t; t = t->next) {
        if (!t->name[0])
            continue;
        int64_t interval = evl__cfg_int(&t->cfg, EVL_CFG_FLUSH_INTERVAL_MS);
        int n = evl__topic_nparts(t);
        for (int p = 0; p < n; p++) {
            evl_part_t *part = evl__topic_part_if_open(t, p);
            if (!part)
                continue;
            evl__part_finish_seal(part, false); /* a roll's, or a dead process's */
            if (atomic_load(&part->interval_flush) && atomic_load(&part->unsynced)) {
                int64_t due = atomic_load(&part->last_flush_ms) + interval;
                if (now >= due) {
                    atomic_store(&part->last_flush_ms, now);
                    evl__part_sync_now(part);
                } else if (due < next) {
                    next = due;
                }
            }
            /* On its timer, and after a roll or an open (retention_due). */
            if (atomic_exchange(&part->retention_due, false) || retention)
                evl__part_retention(part, now, evl__part_keep_from(part));
        }
    }
    return next;
}

void evl__log_kick(evl_log_t *log)
{
    atomic_store(&log->kicked, true);
    pthread_mutex_lock(&log->bg_mu);
    pthread_cond_signal(&log->bg_cv);
    pthread_mutex_unlock(&log->bg_mu);
}

void evl__log_kick_prefault(evl_log_t *log)
{
    atomic_store(&log->pf_kicked, true);
    pthread_mutex_lock(&log->bg_mu);
    pthread_cond_signal(&log->pf_cv);
    pthread_mutex_unlock(&log->bg_mu);
}

/* With bg_mu. */
static void map_cancel_locked(evl_log_t *log, const void *token)
{
    int k = 0;
    for (int i = 0; i < log->n_map_reqs; i++) {
        if (log->map_reqs[i].token == token)
            evl__seg_unref(log->map_reqs[i].seg);
        else
            log->map_reqs[k++] = log->map_reqs[i];
    }
    log->n_map_reqs = k;
    if (log->map_cur == token)
        atomic_store(&log->map_cancel, true);
}

void evl__log_map_cancel(evl_log_t *log, const void *token)
{
    pthread_mutex_lock(&log->bg_mu);
    map_cancel_locked(log, token);
    /* A step being mapped for it (256 KiB at most) ends first, so that the
     * caller can drop what was mapped. */
    while (log->map_cur == token) {
        pthread_mutex_unlock(&log->bg_mu);
        sched_yield();
        pthread_mutex_lock(&log->bg_mu);
    }
    pthread_mutex_unlock(&log->bg_mu);
}

void evl__log_map_ahead(evl_log_t *log, const void *token, evl_seg_t *seg, uint64_t from,
                        uint64_t len)
{
    pthread_mutex_lock(&log->bg_mu);
    /* A request it made before and is still waiting or running is behind
     * it now: mapped late, that range would stay mapped behind the reader. */
    map_cancel_locked(log, token);
    if (log->n_map_reqs < (int)EVL_ARRAY_LEN(log->map_reqs) && !log->stopping) {
        evl__seg_ref(seg);
        log->map_reqs[log->n_map_reqs++] = (struct evl_map_req){token, seg, from, len};
        atomic_store(&log->pf_kicked, true);
        pthread_cond_signal(&log->pf_cv);
    }
    pthread_mutex_unlock(&log->bg_mu);
}

static void bg_grow(evl_log_t *log);

/* Map the ranges readers asked for, oldest first, in short steps; space
 * ahead of writers goes first whenever a writer asks. */
static void map_ahead(evl_log_t *log)
{
    for (;;) {
        pthread_mutex_lock(&log->bg_mu);
        if (log->n_map_reqs == 0 || log->stopping) {
            pthread_mutex_unlock(&log->bg_mu);
            return;
        }
        struct evl_map_req r = log->map_reqs[0];
        log->n_map_reqs--;
        memmove(log->map_reqs, log->map_reqs + 1, (size_t)log->n_map_reqs * sizeof r);
        log->map_cur = r.token;
        atomic_store(&log->map_cancel, false);
        pthread_mutex_unlock(&log->bg_mu);
        for (uint64_t p = r.from; p < r.from + r.len && !atomic_load(&log->map_cancel);
             p += MAP_AHEAD_STEP) {
            evl__os_populate_read(r.seg->map + p, EVL_MIN(MAP_AHEAD_STEP, r.from + r.len - p));
            sched_yield();
            if (atomic_exchange(&log->pf_kicked, false))
                bg_grow(log);
        }
        pthread_mutex_lock(&log->bg_mu);
        log->map_cur = NULL;
        pthread_mutex_unlock(&log->bg_mu);
        evl__seg_unref(r.seg);
    }
}

static void bg_grow(evl_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    evl_topic_t *topics = log->topics;
    pthread_mutex_unlock(&log->mu);
    for (evl_topic_t *t = topics; t; t = t->next) {
        int n = evl__topic_nparts(t);
        for (int p = 0; p < n; p++) {
            evl_part_t *part = evl__topic_part_if_open(t, p);
            if (part && atomic_load(&part->grow_wanted))
                evl__part_grow_ahead(part);
        }
    }
}

/* The prefault thread: runs at SCHED_IDLE, so the work of mapping pages
 * ahead of writers uses idle CPU and never preempts an application thread
 * (on two cores, a producer and a spinning consumer would otherwise lose
 * their core for milliseconds). If it starves, writers grow files
 * themselves, which is slower but never wrong. */
static void *pf_main(void *arg)
{
    evl_log_t *log = arg;
    evl__os_sched_idle();
    pthread_mutex_lock(&log->bg_mu);
    while (!log->stopping) {
        if (!atomic_load(&log->pf_kicked))
            pthread_cond_wait(&log->pf_cv, &log->bg_mu);
        if (log->stopping)
            break;
        pthread_mutex_unlock(&log->bg_mu);
        if (atomic_exchange(&log->pf_kicked, false))
            bg_grow(log);
        map_ahead(log);
        pthread_mutex_lock(&log->bg_mu);
    }
    pthread_mutex_unlock(&log->bg_mu);
    return NULL;
}

/* The background thread sleeps until its next job is due: the earliest
 * interval flush, the retention check, or a kick (a partition just got
 * unsynced interval-durability data). An idle log costs no wake-ups but the
 * retention check. */
static void *bg_main(void *arg)
{
    evl_log_t *log = arg;
    int64_t ret_every = evl__cfg_int(&log->cfg, EVL_CFG_RETENTION_CHECK_MS);
    int64_t next_ret = evl_now_ms() + ret_every, next_flush = INT64_MAX;
    pthread_mutex_lock(&log->bg_mu);
    while (!log->stopping) {
        int64_t wake_ms = EVL_MIN(next_ret, next_flush);
        int64_t wait_ns = (wake_ms - evl_now_ms()) * 1000000;
        if (!atomic_load(&log->kicked) && wait_ns > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + wait_ns;
            ts.tv_sec = at / 1000000000;
            ts.tv_nsec = at % 1000000000;
            pthread_cond_timedwait(&log->bg_cv, &log->bg_mu, &ts);
        }
        if (log->stopping)
            break;
        pthread_mutex_unlock(&log->bg_mu);
        atomic_store(&log->kicked, false);
        int64_t now = evl_now_ms();
        bool retention = now >= next_ret;
        if (retention)
            next_ret = now + ret_every;
        next_flush = bg_flush_and_retain(log, retention);
        pthread_mutex_lock(&log->bg_mu);
    }
    pthread_mutex_unlock(&log->bg_mu);
    return NULL;
}

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
    pthread_mutex_init(&log->bg_mu, NULL);
    pthread_mutex_init(&log->budget_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* immune to clock jumps */
    pthread_cond_init(&log->bg_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&log->pf_cv, NULL);
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
    if ((rc = -pthread_create(&log->bg, NULL, bg_main, log)))
        goto fail;
    log->bg_started = true;
    if ((rc = -pthread_create(&log->pf, NULL, pf_main, log)))
        goto fail;
    log->pf_started = true;
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
    pthread_mutex_lock(&log->bg_mu);
    log->stopping = true;
    pthread_cond_signal(&log->bg_cv);
    pthread_cond_signal(&log->pf_cv);
    pthread_mutex_unlock(&log->bg_mu);
    if (log->bg_started)
        pthread_join(log->bg, NULL);
    if (log->pf_started)
        pthread_join(log->pf, NULL);
    for (int i = 0; i < log->n_map_reqs; i++)
        evl__seg_unref(log->map_reqs[i].seg);
    /* Interval-durability data goes to disk before the handle disappears,
     * and retention that a roll or the open asked for is applied: a
     * short-lived process (a cron job, a device that wakes, appends and
     * exits) may close before the background thread got to it. */
    int64_t now = evl_now_ms();
    for (evl_topic_t *t = log->topics; t; t = t->next)
        for (int p = 0; p < evl__topic_nparts(t); p++) {
            evl_part_t *part = evl__topic_part_if_open(t, p);
            if (part && atomic_load(&part->interval_flush) && atomic_load(&part->unsynced))
                evl__part_sync_now(part);
            if (part && t->name[0] && atomic_exchange(&part->retention_due, false))
                evl__part_retention(part, now, evl__part_keep_from(part));
        }
    while (log->topics) {
        evl_topic_t *t = log->topics;
        log->topics = t->next;
        evl__topic_free(t);
    }
    evl__meta_close(log->meta, &log->lg);
    evl__budget_close(log);
    evl__cfg_release(&log->cfg);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->bg_mu);
    pthread_mutex_destroy(&log->budget_mu);
    pthread_cond_destroy(&log->bg_cv);
    pthread_cond_destroy(&log->pf_cv);
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
