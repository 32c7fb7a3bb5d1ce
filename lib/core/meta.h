/*
 * meta.h - metadata in LMDB: topic configs, committed offsets, groups.
 *
 * Never the records themselves: those live in segment files. Each process
 * opens an environment once, however many evl_log_t handles point at it
 * (LMDB forbids opening one environment twice in a process: closing the
 * second would drop the first's locks). Write transactions that hit
 * MDB_MAP_FULL grow the map and run again, so callers never see it; stale
 * reader slots left by killed processes are cleared on open.
 */
#ifndef EVL_META_H
#define EVL_META_H

#include <lmdb.h>

#include "common.h"

/* Tables. log: facts about the metadata itself ("created": the metadata was
 * made by a version that keeps topic.conf files; "lost/GROUP": the group's
 * committed offsets were lost with the metadata, offsets.h). */
/* producers: NAME -> the named producer's id and epoch (producer.name);
 * log's "producer.next.id": the next producer id to give out. */
enum { EVL_DB_TOPICS = 0, EVL_DB_OFFSETS, EVL_DB_GROUPS, EVL_DB_LOG, EVL_DB_PRODUCERS,
       EVL_DB__COUNT };

typedef struct evl_meta evl_meta_t;

/* A transaction body: return 0 to commit, a negative code to abort. It may
 * run more than once (after a map resize), so it must not keep side effects
 * outside the transaction until the call returns 0. */
typedef int evl_meta_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg);

/* repair: a damaged data.mdb is renamed to data.mdb.damaged-MS and a new
 * one made (the caller rebuilds it from the files); otherwise it is
 * EVL_ECORRUPT. */
/* lg: the opening handle's logger (it must live until evl__meta_close with
 * the same pointer); the environment's own messages go to an open handle's. */
int evl__meta_open(const char *dir, size_t mapsize, const evl_logger_t *lg, bool repair,
                   evl_meta_t **out);
void evl__meta_close(evl_meta_t *meta, const evl_logger_t *lg);
int evl__meta_write(evl_meta_t *meta, evl_meta_fn *fn, void *arg);
/* The areas' own tables (eventlog.h, evl_kv_table): name's handle, the
 * table made if new. At most EVL_META_TABLES_MAX per environment (EVL_EFULL
 * beyond). Must not be called inside a transaction of this process. */
#define EVL_META_TABLES_MAX 48
#define EVL_META_TABLE_NAME_MAX 63
int evl__meta_table(evl_meta_t *meta, const char *name, MDB_dbi *out);
/* Is dbi one of those (not a core table)? */
bool evl__meta_table_known(evl_meta_t *meta, MDB_dbi dbi);
int evl__meta_read(evl_meta_t *meta, evl_meta_fn *fn, void *arg);
/* LMDB return codes as EVL codes. */
int evl__meta_rc(int mdb_rc);

#endif
