/*
 * group_admin.c - evl_group_list / describe / reset / delete: consumer-group
 * administration, as kafka-consumer-groups.sh offers it.
 *
 * Decisions:
 *  - Each call first removes members that are dead (their lock is free) or
 *    stalled (no poll for their max.poll.interval.ms), exactly as a live
 *    member's periodic check would: otherwise a group whose members were all
 *    SIGKILLed would stay "busy" forever, with nobody left to notice.
 *  - "No members" for reset and delete is checked inside the write
 *    transaction that changes the offsets, so a member joining at the same
 *    moment either sees the reset offsets or makes the reset fail EBUSY.
 *  - describe lists every partition of the topics the group's members
 *    subscribe to (committed -1 when nothing is committed) and every
 *    partition with a committed offset, sorted by topic and partition; end
 *    offsets come from the partitions themselves, so lag = end - committed.
 *  - reset on a group that does not exist creates it with those offsets
 *    (Kafka's tool does the same): a new group can be told where to start.
 *    EVL_RESET_OFFSET is clamped into [log start, end].
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "group.h"
#include "meta.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "topic.h"

/* ---- administration ------------------------------------------------------------ */

/* Groups are those with a record, and those whose offsets were lost with
 * the metadata (the rebuild marks them; offsets.h), merged in order. */
EVL_API int evl_group_list(evl_log_t *log, char ***names, size_t *count)
{
    if (!log || !names || !count)
        return EVL_EINVAL;
    *names = NULL;
    *count = 0;
    char **a, **b;
    size_t na, nb;
    int rc = evl__meta_list(log, EVL_DB_GROUPS, &a, &na);
    if (rc)
        return rc;
    if ((rc = evl__meta_list_prefix(log, EVL_DB_LOG, EVL_OFFSETS_LOST_PREFIX, &b, &nb))) {
        free(a);
        return rc;
    }
    size_t bytes = 0, i = 0, j = 0, n = 0;
    for (size_t k = 0; k < na; k++)
        bytes += strlen(a[k]) + 1;
    for (size_t k = 0; k < nb; k++)
        bytes += strlen(b[k]) + 1;
    char **v = evl__malloc((na + nb + 1) * sizeof *v + bytes);
    if (!v) {
        free(a);
        free(b);
        return EVL_ENOMEM;
    }
    char *s = (char *)(v + na + nb + 1);
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
        const char *next = c <= 0 ? a[i] : b[j];
        i += c <= 0;
        j += c >= 0;
        size_t len = strlen(next) + 1;
        memcpy(s, next, len);
        v[n++] = s;
        s += len;
    }
    v[n] = NULL;
    free(a);
    free(b);
    *names = v;
    *count = n;
    return 0;
}

struct coff {
    char *topic;
    int32_t part;
    int64_t off;
};

/* Walk the committed offsets of group (keys "group\0topic\0part", offsets.h).
 * del: delete them instead. */
static int offsets_walk(MDB_txn *txn, const MDB_dbi *dbi, const char *group, bool del,
                        struct coff **out, size_t *n)
{
    char prefix[260];
    size_t plen = strlen(group) + 1;
    memcpy(prefix, group, plen);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[EVL_DB_OFFSETS], &cur);
    if (rc)
        return evl__meta_rc(rc);
    MDB_val k = {plen, prefix}, v;
    size_t cap = 0;
    *n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen + 6 || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (del) {
            if ((rc = mdb_cursor_del(cur, 0)))
                break;
            (*n)++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct coff *nv = evl__realloc(*out, cap * sizeof *nv);
            if (!nv) {
                mdb_cursor_close(cur);
                return EVL_ENOMEM;
            }
            *out = nv;
        }
        const uint8_t *kp = k.mv_data;
        size_t tlen = k.mv_size - plen - 5;
        struct coff *c = &(*out)[*n];
        if (!(c->topic = evl__malloc(tlen + 1))) {
            mdb_cursor_close(cur);
            return EVL_ENOMEM;
        }
        memcpy(c->topic, kp + plen, tlen);
        c->topic[tlen] = 0;
        kp += k.mv_size - 4;
        c->part = (int32_t)((uint32_t)kp[0] << 24 | (uint32_t)kp[1] << 16 | (uint32_t)kp[2] << 8 | kp[3]);
        c->off = v.mv_size >= 8 ? (int64_t)evl_ld64(v.mv_data) : -1;
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : evl__meta_rc(rc);
}

static void coffs_free(struct coff *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].topic);
    free(v);
}

struct describe_arg {
    const char *group;
    evl_gstate_t g;
    bool exists;
    struct coff *offs;
    size_t noffs;
    bool lost;
};

static int describe_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct describe_arg *a = arg;
    evl__group_state_free(&a->g);
    coffs_free(a->offs, a->noffs);
    a->offs = NULL;
    a->noffs = 0;
    int rc = evl__group_state_load(txn, dbi, a->group, &a->g, &a->exists);
    a->lost = evl__offsets_lost_txn(txn, dbi, a->group);
    return rc ? rc : offsets_walk(txn, dbi, a->group, false, &a->offs, &a->noffs);
}

struct gi_part {
    char *topic;
    int32_t part;
    int64_t committed, end;
    const char *owner;         /* points into members, or NULL */
};

struct evl_group_info {
    int64_t gen;
    bool offsets_lost;
    char **members;
    size_t nmembers;
    struct gi_part *parts;
    size_t nparts, cap;
};

static int gi_cmp(const void *x, const void *y)
{
    const struct gi_part *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->part > b->part) - (a->part < b->part);
}

static int gi_add(evl_group_info_t *info, const char *topic, int32_t part)
{
    if (info->nparts == info->cap) {
        size_t cap = info->cap ? info->cap * 2 : 16;
        struct gi_part *nv = evl__realloc(info->parts, cap * sizeof *nv);
        if (!nv)
            return EVL_ENOMEM;
        info->parts = nv;
        info->cap = cap;
    }
    struct gi_part *gp = &info->parts[info->nparts];
    if (!(gp->topic = evl__strdup(topic)))
        return EVL_ENOMEM;
    gp->part = part;
    gp->committed = gp->end = -1;
    gp->owner = NULL;
    info->nparts++;
    return 0;
}

/* Every partition of topic (as it is now), then the committed ones. */
static int gi_fill(evl_log_t *log, evl_group_info_t *info, const struct describe_arg *a)
{
    int rc = 0;
    for (uint32_t t = 0; t < a->g.ntopics && !rc; t++) {
        int np = evl_topic_partitions(log, a->g.topics[t]);
        for (int p = 0; p < np && !rc; p++)
            rc = gi_add(info, a->g.topics[t], p);
    }
    for (size_t i = 0; i < a->noffs && !rc; i++) {
        rc = gi_add(info, a->offs[i].topic, a->offs[i].part);
    }
    if (rc)
        return rc;
    if (info->nparts)
        qsort(info->parts, info->nparts, sizeof *info->parts, gi_cmp);
    size_t w = 0;
    for (size_t i = 0; i < info->nparts; i++) {
        if (w && !gi_cmp(&info->parts[w - 1], &info->parts[i])) {
            free(info->parts[i].topic);
            continue;
        }
        info->parts[w++] = info->parts[i];
    }
    info->nparts = w;
    for (size_t i = 0; i < info->nparts; i++) {
        struct gi_part *gp = &info->parts[i];
        for (size_t k = 0; k < a->noffs; k++)
            if (a->offs[k].part == gp->part && !strcmp(a->offs[k].topic, gp->topic))
                gp->committed = a->offs[k].off;
        evl_partition_info_t pi;
        if (evl_partition_info(log, gp->topic, gp->part, &pi) == 0)
            gp->end = pi.end_offset;
        int t = evl__group_state_topic((evl_gstate_t *)&a->g, gp->topic, false);
        int m = t >= 0 ? evl__group_state_owner(&a->g, t, gp->part) : -1;
        gp->owner = m >= 0 ? info->members[m] : NULL;
    }
    return 0;
}

EVL_API int evl_group_describe(evl_log_t *log, const char *group, evl_group_info_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log || !group)
        return EVL_EINVAL;
    if (!evl__name_valid(group))
        return EVL_EBADNAME;
    int rc = evl__group_reap(log, group);
    if (rc)
        return rc;
    struct describe_arg a = {group, {0}, false, NULL, 0, false};
    evl_group_info_t *info = NULL;
    if ((rc = evl__meta_read(log->meta, describe_fn, &a)))
        goto out;
    if (!a.exists && !a.noffs && !a.lost) {
        rc = EVL_ENOTFOUND;
        goto out;
    }
    rc = EVL_ENOMEM;
    if (!(info = evl__calloc(1, sizeof *info)) ||
        !(info->members = evl__calloc(a.g.nmembers + 1, sizeof *info->members)))
        goto out;
    info->gen = a.g.gen;
    info->offsets_lost = a.lost;
    for (uint32_t m = 0; m < a.g.nmembers; m++, info->nmembers++)
        if (!(info->members[m] = evl__strdup(a.g.members[m].id)))
            goto out;
    if ((rc = gi_fill(log, info, &a)))
        goto out;
    *out = info;
    info = NULL;
out:
    evl_group_info_free(info);
    evl__group_state_free(&a.g);
    coffs_free(a.offs, a.noffs);
    return rc;
}

EVL_API void evl_group_info_free(evl_group_info_t *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->nmembers; i++)
        free(info->members[i]);
    for (size_t i = 0; i < info->nparts; i++)
        free(info->parts[i].topic);
    free(info->members);
    free(info->parts);
    free(info);
}

EVL_API int evl_group_info_offsets_lost(const evl_group_info_t *info)
{
    return info && info->offsets_lost;
}

EVL_API int64_t evl_group_info_generation(const evl_group_info_t *info)
{
    return info ? info->gen : EVL_EINVAL;
}

EVL_API size_t evl_group_info_member_count(const evl_group_info_t *info)
{
    return info ? info->nmembers : 0;
}

EVL_API const char *evl_group_info_member(const evl_group_info_t *info, size_t i)
{
    return info && i < info->nmembers ? info->members[i] : NULL;
}

EVL_API size_t evl_group_info_partition_count(const evl_group_info_t *info)
{
    return info ? info->nparts : 0;
}

EVL_API int evl_group_info_partition(const evl_group_info_t *info, size_t i, const char **topic,
                                     int32_t *partition, int64_t *committed,
                                     int64_t *end_offset, const char **member)
{
    if (!info || i >= info->nparts)
        return EVL_ENOTFOUND;
    const struct gi_part *gp = &info->parts[i];
    if (topic)
        *topic = gp->topic;
    if (partition)
        *partition = gp->part;
    if (committed)
        *committed = gp->committed;
    if (end_offset)
        *end_offset = gp->end;
    if (member)
        *member = gp->owner;
    return 0;
}

struct reset_arg {
    const char *group;
    const evl_topic_partition_t *tps;
    size_t n;
};

static int reset_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct reset_arg *a = arg;
    evl_gstate_t g;
    bool exists;
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc == 0 && g.nmembers)
        rc = EVL_EBUSY;
    for (size_t i = 0; i < a->n && !rc; i++)
        rc = evl__offset_put_txn(txn, dbi, a->group, a->tps[i].topic, a->tps[i].partition,
                                 a->tps[i].offset, g.gen, NULL);
    if (!rc)
        rc = evl__offsets_lost_clear_txn(txn, dbi, a->group); /* positions chosen */
    if (!rc && !exists)
        rc = evl__group_state_save(txn, dbi, a->group, &g);
    evl__group_state_free(&g);
    return rc;
}

/* Where `how` puts partition p of topic t. */
static int reset_offset(evl_log_t *log, evl_topic_t *t, int p, int how, int64_t value,
                        int64_t *out)
{
    evl_part_t *part;
    int rc = evl__topic_part(t, p, &part);
    if (rc)
        return rc;
    int64_t start = (int64_t)evl__part_start(part), end = (int64_t)evl__part_end(part);
    switch (how) {
    case EVL_RESET_EARLIEST: *out = start; return 0;
    case EVL_RESET_LATEST: *out = end; return 0;
    case EVL_RESET_OFFSET: *out = value < start ? start : value > end ? end : value; return 0;
    default: {
        evl_reader_t *rd;
        if ((rc = evl__reader_open(log, t, p, &rd)))
            return rc;
        if ((rc = evl_reader_seek_time(rd, value)) == 0)
            *out = evl_reader_position(rd);
        evl_reader_close(rd);
        return rc;
    }
    }
}

/* Resetting a group that does not exist yet creates it, with the given
 * offsets, as Kafka's tool does: a new group can be told where to start. */
EVL_API int evl_group_reset(evl_log_t *log, const char *group, const char *topic, int how,
                            int64_t value)
{
    if (!log || !group || !topic || how < EVL_RESET_EARLIEST || how > EVL_RESET_TIMESTAMP ||
        (how == EVL_RESET_OFFSET && value < 0))
        return EVL_EINVAL;
    if (!evl__name_valid(group) || !evl__name_valid(topic))
        return EVL_EBADNAME;
    evl_topic_t *t;
    int rc = evl__topic_get(log, topic, &t);
    int np = rc ? rc : evl__topic_refresh(t);
    if (np < 0)
        return np;
    if ((rc = evl__group_reap(log, group)))
        return rc;
    evl_topic_partition_t *tps = evl__calloc((size_t)np + 1, sizeof *tps);
    if (!tps)
        return EVL_ENOMEM;
    for (int p = 0; p < np && !rc; p++) {
        tps[p].topic = topic;
        tps[p].partition = p;
        rc = reset_offset(log, t, p, how, value, &tps[p].offset);
    }
    struct reset_arg a = {group, tps, (size_t)np};
    if (!rc)
        rc = evl__meta_write(log->meta, reset_fn, &a);
    free(tps);
    return rc;
}

static int delete_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    const char *group = arg;
    evl_gstate_t g;
    bool exists;
    size_t n = 0;
    int rc = evl__group_state_load(txn, dbi, group, &g, &exists);
    if (rc == 0 && g.nmembers)
        rc = EVL_EBUSY;
    evl__group_state_free(&g);
    if (rc == 0)
        rc = offsets_walk(txn, dbi, group, true, NULL, &n);
    if (rc == 0 && evl__offsets_lost_txn(txn, dbi, group)) {
        rc = evl__offsets_lost_clear_txn(txn, dbi, group);
        exists = true;
    }
    if (rc == 0 && exists) {
        MDB_val k = {strlen(group), (void *)group};
        rc = evl__meta_rc(mdb_del(txn, dbi[EVL_DB_GROUPS], &k, NULL));
    }
    return rc == 0 && !exists && n == 0 ? EVL_ENOTFOUND : rc;
}

EVL_API int evl_group_delete(evl_log_t *log, const char *group)
{
    if (!log || !group)
        return EVL_EINVAL;
    if (!evl__name_valid(group))
        return EVL_EBADNAME;
    char dir[PATH_MAX], path[PATH_MAX + 8];
    int rc = evl__group_dir(log, group, dir, sizeof dir);
    if (rc || (rc = evl__group_reap(log, group)) ||
        (rc = evl__meta_write(log->meta, delete_fn, (void *)group)))
        return rc;
    /* The files: orphaned lock files, the state word, the folder. A
     * consumer that opened the group meanwhile keeps its mapping of the old
     * state file; it then learns of changes from its periodic resync only. */
    evl__group_gc_files(dir, NULL, 0);
    snprintf(path, sizeof path, "%s/state", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}
