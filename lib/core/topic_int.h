/*
 * topic_int.h - what the files of the topic module share: topic.c (the
 * public calls), topic_rec.c (the record in LMDB and its copy in
 * topic.conf), topic_cache.c (the log's cache of open topics and their
 * partitions), topic_recover.c (rebuilding lost metadata). Others use
 * topic.h.
 */
#ifndef EVL_TOPIC_INT_H
#define EVL_TOPIC_INT_H

#include "topic.h"

/* A topic record being read or written (the evl__meta_* callbacks below). */
struct topic_rec {
    const char *name;
    char *text;     /* in: what to store; out: what was read (malloc'd) */
    size_t len;
    int nparts;     /* for add_partitions */
};

/* Transaction bodies for evl__meta_read/write on a struct topic_rec: read
 * (r->text malloc'd), store new (EVL_EEXIST if there is one), delete, and
 * raise the partition count to r->nparts (r->text: what was stored). */
int evl__topic_rec_get_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg);
int evl__topic_rec_put_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg);
int evl__topic_rec_del_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg);
int evl__topic_rec_grow_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg);
/* A random, non-zero topic id. */
uint64_t evl__topic_new_id(void);
/* DIR/topics/NAME into buf; -ENAMETOOLONG. */
int evl__topic_dir(const evl_log_t *log, const char *name, char *buf, size_t size);
/* Forget a cached topic by name (deleted): kept for its handles until close. */
void evl__topic_cache_forget(evl_log_t *log, const char *name);
/* Open partition p of t with what it is given (partition.h: evl_part_env_t),
 * not caching it (evl__topic_part does). */
int evl__topic_part_open(evl_topic_t *t, int p, evl_part_t **out);
/* Raise the partition count kept in partition 0's shared state. */
void evl__topic_publish_nparts(evl_part_t *p0, int n);

#endif
