/*
 * consumer_int.h - what the files of evl_consumer_t share: consumer.c (the
 * public calls), consumer_parts.c (assigned partitions, where they start,
 * commits), consumer_group.c (rebalancing as a group member),
 * consumer_fetch.c (filling a batch and waiting for records).
 */
#ifndef EVL_CONSUMER_INT_H
#define EVL_CONSUMER_INT_H

#include "common.h"
#include "group.h"
#include "reader.h"

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
    evl_bound_fn *bound_fn;      /* evl_consumer_set_bound, for its readers */
    void *bound_arg;
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

static inline int64_t consumer_mono_ms(void) { return evl_mono_ns() / 1000000; }

/* Assigned partitions (consumer_parts.c). */
int evl__consumer_part_find(const evl_consumer_t *cons, const char *topic, int32_t p);
int evl__consumer_part_open(evl_consumer_t *cons, const char *topic, int32_t p, struct cpart *cp);
int evl__consumer_parts_reserve(evl_consumer_t *cons, size_t n);
void evl__consumer_part_remove(evl_consumer_t *cons, size_t i);
int64_t evl__consumer_part_position(const struct cpart *cp);
/* Apply auto.offset.reset to a partition without a usable position. */
int evl__consumer_reset(evl_consumer_t *cons, struct cpart *cp);
/* Position a partition at committed (-1: none), as consumer.c's comment says. */
int evl__consumer_start_at(evl_consumer_t *cons, struct cpart *cp, int64_t committed);
/* The positions of the partitions that have one (changed_only: that moved
 * since this consumer last committed them); *out is malloc'd. */
int evl__consumer_positions(evl_consumer_t *cons, bool changed_only, evl_topic_partition_t **out,
                            size_t *n);
evl_topic_partition_t *evl__consumer_all_parts(const evl_consumer_t *cons);
int evl__consumer_commit_tps(evl_consumer_t *cons, const evl_topic_partition_t *tps, size_t n,
                             const char *metadata);
int evl__consumer_commit_moved(evl_consumer_t *cons, const evl_topic_partition_t *only,
                               size_t nonly);

/* Rebalancing (consumer_group.c). */
void evl__consumer_drop_all(evl_consumer_t *cons, bool revoke);
int evl__consumer_service(evl_consumer_t *cons);

/* Fetching and waiting (consumer_fetch.c). */
size_t evl__consumer_fetch(evl_consumer_t *cons, const evl_record_t **recs, size_t max, int *err);
void evl__consumer_wait_any(evl_consumer_t *cons, int64_t until_ns);

#endif
