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

#endif
