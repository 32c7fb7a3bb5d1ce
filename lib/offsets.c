/*
 * offsets.c - committed offsets (see offsets.h) and the retention hold that
 * store-and-forward topics place on segments not yet consumed.
 */
#include "offsets.h"

#include <stdlib.h>

#include "partition.h"
#include "topic.h"

size_t evl__offset_key(char *buf, const char *group, const char *topic, int32_t partition)
{
    size_t g = strlen(group), t = strlen(topic);
    memcpy(buf, group, g + 1);
    memcpy(buf + g + 1, topic, t + 1);
    uint8_t *p = (uint8_t *)buf + g + t + 2;
    uint32_t v = (uint32_t)partition;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return g + t + 6;
}

int evl__offset_get_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group,
                        const char *topic, int32_t partition, int64_t *offset)
{
    char kb[EVL_OFFSET_KEY_MAX];
    MDB_val k = {evl__offset_key(kb, group, topic, partition), kb}, v;
    int rc = mdb_get(txn, dbi[EVL_DB_OFFSETS], &k, &v);
    if (rc)
        return evl__meta_rc(rc);
    if (v.mv_size < 16)
        return EVL_ECORRUPT;
    *offset = (int64_t)evl_ld64(v.mv_data);
    return 0;
}

int evl__offset_put_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group,
                        const char *topic, int32_t partition, int64_t offset,
                        int64_t generation, const char *metadata)
{
    char kb[EVL_OFFSET_KEY_MAX];
    size_t ml = metadata ? strlen(metadata) : 0;
    MDB_val k = {evl__offset_key(kb, group, topic, partition), kb};
    MDB_val v = {16 + ml, NULL};
    int rc = mdb_put(txn, dbi[EVL_DB_OFFSETS], &k, &v, MDB_RESERVE);
    if (rc)
        return evl__meta_rc(rc);
    evl_st64(v.mv_data, (uint64_t)offset);
    evl_st64((uint8_t *)v.mv_data + 8, (uint64_t)generation);
    if (ml)
        memcpy((uint8_t *)v.mv_data + 16, metadata, ml);
    return 0;
}

struct get_arg {
    const char *group, *topic;
    int32_t partition;
    int64_t offset;
};

static int get_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct get_arg *a = arg;
    return evl__offset_get_txn(txn, dbi, a->group, a->topic, a->partition, &a->offset);
}

int evl__offset_get(evl_log_t *log, const char *group, const char *topic, int32_t partition,
                    int64_t *offset)
{
    if (strlen(group) + strlen(topic) + 8 > EVL_OFFSET_KEY_MAX)
        return EVL_EINVAL;
    struct get_arg a = {group, topic, partition, -1};
    int rc = evl__meta_read(log->meta, get_fn, &a);
    if (rc == 0)
        *offset = a.offset;
    return rc;
}

int64_t evl__part_keep_from(evl_part_t *part)
{
    const char *list = evl__cfg_str(&part->topic->cfg, EVL_CFG_RETAIN_UNTIL_CONSUMED_BY);
    if (!list[0])
        return -1;
    int64_t keep = INT64_MAX;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        char group[256];
        if (n > 0 && n < sizeof group) {
            memcpy(group, p, n);
            group[n] = 0;
            int64_t off;
            if (evl__offset_get(part->log, group, part->topic->name, part->id, &off) != 0)
                off = 0; /* this group has consumed nothing: keep all */
            if (off < keep)
                keep = off;
        }
        p += n + (p[n] == ',');
    }
    return keep == INT64_MAX ? -1 : keep;
}
