/*
 * compact.h - log compaction of one partition (compact.c).
 */
#ifndef EVL_COMPACT_H
#define EVL_COMPACT_H

#include "partition.h"

typedef struct evl_compact_opts {
    int64_t now_ms;
    bool force;                 /* regardless of the dirty ratio and lag */
    double min_dirty_ratio;     /* min.cleanable.dirty.ratio */
    int64_t min_lag_ms;         /* min.compaction.lag.ms */
    int64_t max_lag_ms;         /* max.compaction.lag.ms */
    int64_t delete_retention_ms; /* delete.retention.ms */
} evl_compact_opts_t;

typedef struct evl_compact_stats {
    int64_t segments_in, segments_out, records_in, records_kept, bytes_in, bytes_out;
} evl_compact_stats_t;

/* One pass (see compact.c). 0 also when there was nothing to do or another
 * cleaner holds the partition; st says what was done. */
int evl__part_compact(evl_part_t *part, const evl_compact_opts_t *o, evl_compact_stats_t *st);
/* At a partition's open: finish a swap a stopped cleaner left, drop its
 * unfinished output. */
int evl__part_compact_recover(evl_part_t *part);
/* An exclusive flock on the partition's file `name` (made if missing);
 * the fd, -EAGAIN when !wait and it is held, or an error. */
int evl__part_flock(const evl_part_t *part, const char *name, bool wait);
void evl__part_funlock(int fd);
/* Read dir/plan (a compaction's plan): 0 with its group and source
 * counts, EVL_ECORRUPT, or -errno. For tests and fuzzing. */
int evl__compact_plan_groups(const char *dir, size_t *groups, size_t *sources);

#endif
