/*
 * offsets.c - committed offsets (see offsets.h) and the retention hold that
 * store-and-forward topics place on segments not yet consumed.
 */
#include "offsets.h"

#include <stdio.h>
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
    char *buf;
    size_t size, meta_len;
};

static int get_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct get_arg *a = arg;
    char kb[EVL_OFFSET_KEY_MAX];
    MDB_val k = {evl__offset_key(kb, a->group, a->topic, a->partition), kb}, v;
    int rc = mdb_get(txn, dbi[EVL_DB_OFFSETS], &k, &v);
    if (rc)
        return evl__meta_rc(rc);
    if (v.mv_size < 16)
        return EVL_ECORRUPT;
    a->offset = (int64_t)evl_ld64(v.mv_data);
    a->meta_len = v.mv_size - 16;
    if (a->size) {
        size_t n = EVL_MIN(a->meta_len, a->size - 1);
        memcpy(a->buf, (const uint8_t *)v.mv_data + 16, n);
        a->buf[n] = 0;
    }
    return 0;
}

int evl__offset_get_meta(evl_log_t *log, const char *group, const char *topic,
                         int32_t partition, int64_t *offset, char *buf, size_t size,
                         size_t *meta_len)
{
    if (strlen(group) + strlen(topic) + 8 > EVL_OFFSET_KEY_MAX)
        return EVL_EINVAL;
    struct get_arg a = {group, topic, partition, -1, buf, buf ? size : 0, 0};
    int rc = evl__meta_read(log->meta, get_fn, &a);
    if (rc == 0) {
        *offset = a.offset;
        if (meta_len)
            *meta_len = a.meta_len;
    }
    return rc;
}

int evl__offset_get(evl_log_t *log, const char *group, const char *topic, int32_t partition,
                    int64_t *offset)
{
    return evl__offset_get_meta(log, group, topic, partition, offset, NULL, 0, NULL);
}

/* ---- offsets lost with the metadata ------------------------------------------ */

static size_t lost_key(char *buf, const char *group)
{
    return (size_t)snprintf(buf, EVL_OFFSET_KEY_MAX, EVL_OFFSETS_LOST_PREFIX "%s", group);
}

int evl__offsets_lost_put_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group)
{
    char kb[EVL_OFFSET_KEY_MAX];
    uint8_t when[8];
    evl_st64(when, (uint64_t)evl_now_ms());
    MDB_val k = {lost_key(kb, group), kb}, v = {8, when};
    return evl__meta_rc(mdb_put(txn, dbi[EVL_DB_LOG], &k, &v, 0));
}

int evl__offsets_lost_clear_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group)
{
    char kb[EVL_OFFSET_KEY_MAX];
    MDB_val k = {lost_key(kb, group), kb};
    int rc = mdb_del(txn, dbi[EVL_DB_LOG], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : evl__meta_rc(rc);
}

bool evl__offsets_lost_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *group)
{
    char kb[EVL_OFFSET_KEY_MAX];
    MDB_val k = {lost_key(kb, group), kb}, v;
    return mdb_get(txn, dbi[EVL_DB_LOG], &k, &v) == 0;
}

static int lost_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    return evl__offsets_lost_txn(txn, dbi, arg) ? 0 : EVL_ENOTFOUND;
}

bool evl__offsets_lost(evl_log_t *log, const char *group)
{
    return evl__meta_read(log->meta, lost_fn, (void *)group) == 0;
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
