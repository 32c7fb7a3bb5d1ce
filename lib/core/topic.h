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
    char *name;                /* "" once deleted (no longer found by name) */
    uint64_t id;               /* from the record: a re-created topic has another */
    char *dir;                 /* DIR/topics/NAME */
    evl_config_t cfg;          /* effective settings */
    pthread_mutex_t mu;        /* serialises changes to the fields below */
    _Atomic int nparts;        /* partition count (only grows) */
    /* Open partitions, read without a lock on the append path: the array
     * is replaced (never changed in place) when it grows, with its length
     * published after it; replaced arrays are freed at close. */
    _Atomic(evl_part_t **) parts;
    _Atomic int nparts_alloc;  /* slots in parts */
    void *retired;             /* replaced arrays (a linked list) */
    int64_t refreshed_ms;      /* last reload of the partition count */
    struct evl_topic *next;
} evl_topic_t;

/* The open topic named name (loaded from LMDB on first use, then cached
 * until the log closes; a cached one whose record was deleted or replaced
 * by a new topic of the same name is dropped and the new one loaded).
 * EVL_ENOTFOUND, EVL_EBADNAME. */
int evl__topic_get(struct evl_log *log, const char *name, evl_topic_t **out);
/* 0 if topic's record is still the one it was loaded from, else
 * EVL_ENOTFOUND (deleted, or deleted and created again). */
int evl__topic_current(evl_topic_t *topic);
/* The topic record (malloc'd text), or EVL_ENOTFOUND; store a new one
 * (EVL_EEXIST if there is one). */
int evl__topic_rec_read(struct evl_log *log, const char *name, char **text);
int evl__topic_rec_put_new(struct evl_log *log, const char *name, const char *text, size_t len);
/* The topic record's text: "partitions=N\nid=HEX\n" then settings. */
int evl__topic_rec_nparts(const char *text);
/* The partition count from the record, inside a transaction. */
int evl__topic_nparts_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *name);
uint64_t evl__topic_rec_id(const char *text);
/* Write DIR/topics/NAME/topic.conf, a copy of the record kept with the data
 * so that lost metadata can be rebuilt from the files (topic_recover.c):
 * temp file, fsync, rename, fsync of the folder. */
int evl__topic_conf_write(const char *tdir, const char *text, size_t len);
/* Move path (a topic's folder) into DIR/trash and remove it there. */
void evl__topic_trash(struct evl_log *log, const char *path, const char *name);
/* At open (topic_recover.c): compare the metadata with the topic folders,
 * rebuild what was lost from the files, mark lost group offsets. */
int evl__topic_reconcile(struct evl_log *log);
/* Partition p of the topic, opened on first use. EVL_ENOTFOUND past the
 * partition count (reloaded from LMDB before giving up). */
int evl__topic_part(evl_topic_t *topic, int p, evl_part_t **out);
/* Reload the partition count from LMDB; returns it or a negative code. */
int evl__topic_refresh(evl_topic_t *topic);
int evl__topic_nparts(evl_topic_t *topic);
/* Partition p if this handle has opened it already, else NULL. Lock-free. */
evl_part_t *evl__topic_part_if_open(evl_topic_t *topic, int p);
void evl__topic_free(evl_topic_t *topic);
/* Sorted keys of an LMDB table (EVL_DB_*), one malloc'd block; those that
 * start with prefix, without it. */
int evl__meta_list(struct evl_log *log, int db, char ***names, size_t *count);
int evl__meta_list_prefix(struct evl_log *log, int db, const char *prefix, char ***names,
                          size_t *count);

#endif
