/*
 * log.h - the open log directory (evl_log_t): its settings, metadata
 * environment, cache of open topics, counters, disk budget (budget.c)
 * and background jobs (log_jobs.c).
 */
#ifndef EVL_LOG_H
#define EVL_LOG_H

#include <pthread.h>

#include "common.h"
#include "config.h"
#include "meta.h"

struct evl_topic;
struct evl_part;

struct evl_log {
    char *dir;
    evl_config_t cfg;           /* a copy of the caller's */
    evl_logger_t lg;
    evl_meta_t *meta;
    pthread_mutex_t mu;         /* protects topics */
    struct evl_topic *topics;   /* open topics, kept until close */
    _Atomic int64_t stats[EVL_STAT__COUNT];
    char boot_id[40];
    pthread_mutex_t budget_mu;  /* one budget check at a time in a process */
    /* Background jobs (log_jobs.c): the runner, its jobs' ids, and the
     * pages mapped ahead of readers. */
    struct evl_bg *bg;
    int job_flush, job_grow;
    struct evl_mapahead *mapahead;
    /* The handle itself and each producer, reader and consumer opened on it
     * hold a reference; the last one released frees the log. */
    _Atomic int refs;
    _Atomic bool closed;        /* evl_log_close was called */
    /* The disk budget (budget.c), when disk.bytes.max is set. */
    int budget_fd;              /* DIR/budget.ctl, flocked while reserving */
    struct evl_budget_file *budget; /* its mapping */
    _Atomic bool budget_full;   /* the last request did not fit (logged once) */
};

/* A child handle (producer, reader, consumer) takes a reference on the log
 * when it is made and drops it when closed: an evl_log_close while children
 * are open then frees nothing they use (their calls fail with EVL_ESTATE),
 * and the last child's close frees the log. */
void evl__log_ref(struct evl_log *log);
void evl__log_unref(struct evl_log *log);
static inline bool evl__log_closed(const struct evl_log *log)
{
    return atomic_load_explicit(&log->closed, memory_order_relaxed);
}

static inline void evl__stat_add(struct evl_log *log, int stat, int64_t v)
{
    atomic_fetch_add_explicit(&log->stats[stat], v, memory_order_relaxed);
}

static inline void evl__stat_max(struct evl_log *log, int stat, int64_t v)
{
    int64_t cur = atomic_load_explicit(&log->stats[stat], memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(&log->stats[stat], &cur, v))
        ;
}

/* The disk budget (budget.c). Before growing files by `bytes`: 0, with the
 * budget held until evl__log_reserve_done (call it after the allocation,
 * whatever came of it), or EVL_EFULL (nothing held). Making space may
 * delete segments of any partition; the caller may hold its own
 * partition's append lock. reserve(0) just makes the log fit again. */
int evl__log_reserve(struct evl_log *log, uint64_t bytes);
void evl__log_reserve_done(struct evl_log *log);
/* The same for space that is only nice to have (allocation ahead of a
 * writer): fits as things are, or EVL_EFULL at once; never deletes data to
 * make room, never waits. */
int evl__log_reserve_try(struct evl_log *log, uint64_t bytes);
/* disk.bytes.max / parts (at least 1 MiB), INT64_MAX without a budget. */
int64_t evl__log_budget_share(const struct evl_log *log, int parts);
/* The budget's policy is drop-oldest. */
bool evl__log_drops_oldest(const struct evl_log *log);
struct evl_part_env;
/* The log's part of what a partition is given at open (partition.h). */
void evl__log_part_env(struct evl_log *log, struct evl_part_env *env);
int evl__budget_open(struct evl_log *log);
void evl__budget_close(struct evl_log *log);
/* Call fn on every partition of every topic (opening them); the first
 * error fn returns is returned, after visiting all. */
int evl__log_each_partition(struct evl_log *log, int (*fn)(struct evl_part *, void *),
                            void *arg);
/* Start the log's background jobs (log_jobs.c); 0 or an error. */
int evl__log_jobs_start(struct evl_log *log);
/* Stop them, then flush what interval durability left unsynced and apply
 * the retention rolls and opens asked for (a short-lived process may
 * close before the jobs got to it). */
void evl__log_jobs_stop(struct evl_log *log);
/* Run the flush job soon: a flush was scheduled, a partition was opened
 * or rolled. */
void evl__log_kick(struct evl_log *log);
/* Run the grow job soon: a writer is close to its allocation's end. */
void evl__log_kick_prefault(struct evl_log *log);
/* Bytes of all segment files under DIR/topics. */
int64_t evl__log_disk_bytes(struct evl_log *log);

/* cleaner.c: the compaction job (bg.h). */
int64_t evl__cleaner_job(void *log, int64_t now);

#endif
