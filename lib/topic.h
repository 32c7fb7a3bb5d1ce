/*
 * topic.h - topics: names, settings in LMDB, the per-log cache of open
 * topics and their partitions.
 */
#ifndef EVL_TOPIC_H
#define EVL_TOPIC_H

#include "common.h"
#include "config.h"
#include "log.h"
#include "partition.h"

typedef struct evl_topic {
    struct evl_log *log;
    char *name;
    char *dir;                 /* DIR/topics/NAME */
    evl_config_t cfg;          /* effective settings */
    pthread_mutex_t mu;        /* protects nparts and parts */
    int nparts;
    evl_part_t **parts;        /* opened on first use */
    int nparts_alloc;          /* slots in parts */
    int64_t refreshed_ms;      /* last reload of the partition count */
    struct evl_topic *next;
} evl_topic_t;

/* The open topic named name (loaded from LMDB on first use, then cached
 * until the log closes). EVL_ENOTFOUND, EVL_EBADNAME. */
int evl__topic_get(struct evl_log *log, const char *name, evl_topic_t **out);
/* Partition p of the topic, opened on first use. EVL_ENOTFOUND past the
 * partition count (reloaded from LMDB before giving up). */
int evl__topic_part(evl_topic_t *topic, int p, evl_part_t **out);
/* Reload the partition count from LMDB; returns it or a negative code. */
int evl__topic_refresh(evl_topic_t *topic);
int evl__topic_nparts(evl_topic_t *topic);
void evl__topic_free(evl_topic_t *topic);
/* Sorted keys of an LMDB table (EVL_DB_*), one malloc'd block. */
int evl__meta_list(struct evl_log *log, int db, char ***names, size_t *count);

#endif
