/*
 * log_jobs.c - what the log does in the background (bg.h), for the
 * partitions this handle has open:
 *
 *   flush      (normal lane) interval flushes as they fall due, seals
 *              finished after a roll or left by a dead process, and the
 *              retention a roll or an open asked for; kicked when a
 *              producer first writes with interval durability and when a
 *              partition is opened or rolls.
 *   retention  (normal lane) every retention.check.interval.ms.
 *   grow       (idle lane) space allocated and faulted ahead of fast
 *              writers; kicked by a writer near its allocation's end. If
 *              it starves, writers grow files themselves, slower but never
 *              wrong.
 *   map-ahead  (idle lane, mapahead.c) pages mapped ahead of readers.
 *   cleaner    (long lane, cleaner.c) compaction of compacted topics,
 *              every log.cleaner.backoff.ms.
 *
 * And at close, what a short-lived process (a cron job, a device that
 * wakes, appends and exits) must not leave undone: interval-durability
 * data goes to disk, and the retention asked for is applied.
 */
#include "log.h"

#include "mapahead.h"
#include "topic.h"

/* Call fn on each open partition of each open topic (not opening any). */
static void each_open(evl_log_t *log, void (*fn)(evl_log_t *, evl_topic_t *, evl_part_t *,
                                                 void *), void *arg)
{
    pthread_mutex_lock(&log->mu);
    evl_topic_t *topics = log->topics; /* topics are never freed before close */
    pthread_mutex_unlock(&log->mu);
    for (evl_topic_t *t = topics; t; t = t->next) {
        int n = evl__topic_nparts(t);
        for (int p = 0; p < n; p++) {
            evl_part_t *part = evl__topic_part_if_open(t, p);
            if (part)
                fn(log, t, part, arg);
        }
    }
}

struct flush_pass {
    int64_t now, next;
};

static void flush_one(evl_log_t *log, evl_topic_t *t, evl_part_t *part, void *arg)
{
    struct flush_pass *fp = arg;
    if (!t->name[0])
        return;
    evl__part_finish_seal(part, false); /* a roll's, or a dead process's */
    if (atomic_load(&part->interval_flush) && atomic_load(&part->unsynced)) {
        int64_t due = atomic_load(&part->last_flush_ms) +
                      evl__cfg_int(&t->cfg, EVL_CFG_FLUSH_INTERVAL_MS);
        if (fp->now >= due) {
            atomic_store(&part->last_flush_ms, fp->now);
            evl__part_sync_now(part);
        } else if (due < fp->next) {
            fp->next = due;
        }
    }
    if (atomic_exchange(&part->retention_due, false))
        evl__part_retention(part, fp->now, evl__part_keep_from(part));
}

static int64_t job_flush(void *arg, int64_t now)
{
    struct flush_pass fp = {now, INT64_MAX};
    each_open(arg, flush_one, &fp);
    return fp.next;
}

static void retain_one(evl_log_t *log, evl_topic_t *t, evl_part_t *part, void *arg)
{
    if (t->name[0])
        evl__part_retention(part, *(int64_t *)arg, evl__part_keep_from(part));
}

static int64_t job_retention(void *arg, int64_t now)
{
    evl_log_t *log = arg;
    each_open(log, retain_one, &now);
    return evl_now_ms() + evl__cfg_int(&log->cfg, EVL_CFG_RETENTION_CHECK_MS);
}

static void grow_one(evl_log_t *log, evl_topic_t *t, evl_part_t *part, void *arg)
{
    if (atomic_load(&part->grow_wanted))
        evl__part_grow_ahead(part);
}

static int64_t job_grow(void *arg, int64_t now)
{
    each_open(arg, grow_one, NULL);
    return INT64_MAX;
}

int evl__log_jobs_start(evl_log_t *log)
{
    int rc;
    if ((rc = evl__bg_new(&log->bg)))
        return rc;
    int64_t ret_at = evl_now_ms() + evl__cfg_int(&log->cfg, EVL_CFG_RETENTION_CHECK_MS);
    if ((rc = log->job_flush = evl__bg_add(log->bg, EVL_BG_NORMAL, "flush", job_flush, log,
                                           INT64_MAX)) < 0 ||
        (rc = evl__bg_add(log->bg, EVL_BG_NORMAL, "retention", job_retention, log,
                          ret_at)) < 0 ||
        (rc = log->job_grow = evl__bg_add(log->bg, EVL_BG_IDLE, "grow", job_grow, log,
                                          INT64_MAX)) < 0 ||
        (rc = evl__mapahead_new(log->bg, &log->mapahead)) < 0)
        return rc;
    if (evl__cfg_int(&log->cfg, EVL_CFG_LOG_CLEANER_ENABLE) &&
        (rc = evl__bg_add(log->bg, EVL_BG_LONG, "cleaner", evl__cleaner_job, log,
                          evl_now_ms() + evl__cfg_int(&log->cfg,
                                                      EVL_CFG_LOG_CLEANER_BACKOFF_MS))) < 0)
        return rc;
    /* What the open found to do (retention_due, seals of a dead process). */
    evl__bg_kick(log->bg, log->job_flush);
    return 0;
}

static void close_one(evl_log_t *log, evl_topic_t *t, evl_part_t *part, void *arg)
{
    if (atomic_load(&part->interval_flush) && atomic_load(&part->unsynced))
        evl__part_sync_now(part);
    if (t->name[0] && atomic_exchange(&part->retention_due, false))
        evl__part_retention(part, *(int64_t *)arg, evl__part_keep_from(part));
}

void evl__log_jobs_stop(evl_log_t *log)
{
    if (!log->bg)
        return;
    evl__bg_stop(log->bg);
    evl__mapahead_free(log->mapahead);
    log->mapahead = NULL;
    int64_t now = evl_now_ms();
    each_open(log, close_one, &now);
    evl__bg_free(log->bg);
    log->bg = NULL;
}

/* Before the jobs start (while the open reconciles topics), kicks are
 * dropped: the start kicks the flush job once anyway. */
void evl__log_kick(evl_log_t *log)
{
    if (log->bg)
        evl__bg_kick(log->bg, log->job_flush);
}

void evl__log_kick_prefault(evl_log_t *log)
{
    if (log->bg)
        evl__bg_kick(log->bg, log->job_grow);
}
