/*
 * offsets.h - committed consumer offsets in LMDB.
 *
 * Key: group, NUL, topic, NUL, partition (u32 big-endian, so a cursor walks a
 * group's partitions in order). Value: i64 offset (little-endian), i64
 * generation of the commit, then the metadata string.
 */
#ifndef EVL_OFFSETS_H
#define EVL_OFFSETS_H

#include <lmdb.h>

#include "common.h"
#include "log.h"

#define EVL_OFFSET_KEY_MAX 512

size_t evl__offset_key(char *buf, const char *group, const char *topic, int32_t partition);
/* Read one committed offset inside a transaction; EVL_ENOTFOUND if none. */
int evl__offset_get_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group,
                        const char *topic, int32_t partition, int64_t *offset);
int evl__offset_put_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group,
                        const char *topic, int32_t partition, int64_t offset,
                        int64_t generation, const char *metadata);
/* Outside a transaction. */
int evl__offset_get(struct evl_log *log, const char *group, const char *topic,
                    int32_t partition, int64_t *offset);
/* As evl__offset_get, with the commit's metadata string copied into
 * buf[size] (truncated, NUL-terminated); *meta_len gets its full length. */
int evl__offset_get_meta(struct evl_log *log, const char *group, const char *topic,
                         int32_t partition, int64_t *offset, char *buf, size_t size,
                         size_t *meta_len);

/* Groups whose committed offsets were lost with the metadata (a rebuild
 * from the files finds their folders, not their offsets): until the group
 * is reset or deleted, its partitions without an offset get no position
 * (EVL_ENOOFFSET), whatever auto.offset.reset says, rather than silently
 * starting over. */
#define EVL_OFFSETS_LOST_PREFIX "lost/"
int evl__offsets_lost_put_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group);
int evl__offsets_lost_clear_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group);
bool evl__offsets_lost_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group);
bool evl__offsets_lost(struct evl_log *log, const char *group);

#endif
