/*
 * topic.c - topics: creation, deletion, listing, partition growth and the
 * public calls about one topic or partition. The record itself is
 * topic_rec.c's, the cache of open topics topic_cache.c's (topic_int.h).
 *
 * A topic's record in LMDB is text, "partitions=N\nid=HEX\n" followed by
 * its settings as "name=value" lines: readable with mdb_dump, and a later
 * version can add settings without a migration. The id is random, made at
 * creation: a topic deleted and created again under its name is another
 * topic, and handles holding the old one get EVL_ENOTFOUND. The topic's
 * folder under DIR/topics holds a copy of the record (topic.conf, for
 * rebuilding lost metadata: topic_recover.c) and one folder per partition.
 *
 * Deleting, in an order that a crash at any step leaves safe:
 *   1. topic.conf -> topic.conf.deleted (the files no longer claim a topic);
 *   2. the record goes from LMDB (no handle opens the topic any more);
 *   3. every partition's shared state is marked deleted, under its append
 *      lock, so that producers of every process get EVL_ENOTFOUND instead
 *      of appending to files about to vanish;
 *   4. the folder is renamed into DIR/trash, then removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "topic_int.h"
#include "os.h"
#include "record.h"

/* ---- public topic calls -------------------------------------------------- */

int evl__topic_dir(const evl_log_t *log, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/topics/%s", log->dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Move path into DIR/trash and remove it there: a crash midway leaves it in
 * the trash, which the next open empties. */
void evl__topic_trash(evl_log_t *log, const char *path, const char *name)
{
    char trash[PATH_MAX + 300];
    snprintf(trash, sizeof trash, "%s/trash/%s.%d.%lld", log->dir, name, (int)getpid(),
             (long long)evl_mono_ns());
    if (evl__os_rename(path, trash) == 0)
        evl__os_rmtree(trash);
    else
        evl__os_rmtree(path);
}

/* The files of a topic whose record was just created: its folder (a
 * folder left under the name by a topic whose record is gone goes to the
 * trash first: its data must not be adopted), and topic.conf. */
static int topic_files_create(evl_log_t *log, const char *name, const char *dir,
                              const char *text, size_t len, int partitions)
{
    if (access(dir, F_OK) == 0) {
        evl__logf(&log->lg, EVL_LOG_NOTICE,
                  "topic %s: the folder of an earlier topic of that name, without metadata, "
                  "was left on disk; it is removed, not adopted", name);
        evl__topic_trash(log, dir, name);
    }
    int rc = evl__os_mkdirs(dir, 0755);
    if (rc || (rc = evl__topic_conf_write(dir, text, len)))
        return rc;
    /* Every partition's files now, within the disk budget: a topic made on
     * a full disk fails here, not at its first send. Each is opened and
     * closed again (no descriptors kept: a topic may have thousands). */
    evl_topic_t *t;
    if ((rc = evl__log_reserve(log, (uint64_t)partitions * EVL_PART_MIN_BYTES)) == 0 &&
        (rc = evl__topic_get(log, name, &t)) == 0) {
        for (int p = 0; p < partitions && rc == 0; p++) {
            evl_part_t *part;
            if ((rc = evl__topic_part_open(t, p, &part)) == 0)
                evl__part_close(part);
        }
    }
    evl__log_reserve_done(log);
    if (rc)
        evl__topic_cache_forget(log, name);
    return rc;
}

static int topic_create(evl_log_t *log, const char *name, int partitions,
                        const evl_config_t *cfg);

static bool internal_name(const char *name)
{
    return name && strncmp(name, EVL_TOPIC_INTERNAL_PREFIX,
                           sizeof EVL_TOPIC_INTERNAL_PREFIX - 1) == 0;
}

EVL_API int evl_topic_create(evl_log_t *log, const char *name, int partitions,
                             const evl_config_t *cfg)
{
    if (log && internal_name(name)) {
        evl__logf(&log->lg, EVL_LOG_ERR,
                  "topic %s: names starting with \"" EVL_TOPIC_INTERNAL_PREFIX "\" are the "
                  "library's own (evl_topic_create_internal)", name);
        return EVL_EBADNAME;
    }
    return topic_create(log, name, partitions, cfg);
}

EVL_API int evl_topic_create_internal(evl_log_t *log, const char *name, int partitions,
                                      const evl_config_t *cfg)
{
    if (!internal_name(name))
        return EVL_EBADNAME;
    return topic_create(log, name, partitions, cfg);
}

static int topic_create(evl_log_t *log, const char *name, int partitions,
                        const evl_config_t *cfg)
{
    if (!log)
        return EVL_EINVAL;
    if (!evl__name_valid(name))
        return EVL_EBADNAME;
    if (partitions < 0 || partitions > 100000)
        return EVL_EINVAL;
    int bad = cfg ? evl__cfg_scope_check(cfg, EVL_CFG_SCOPE_TOPIC, &log->cfg) : -1;
    if (bad >= 0) {
        evl__logf(&log->lg, EVL_LOG_ERR, "topic %s: %s is not a topic setting", name,
                  evl__cfg_name(bad));
        return EVL_ECONFIG;
    }
    evl_config_t eff;
    int rc = evl__cfg_copy(&eff, cfg ? cfg : &log->cfg);
    if (rc)
        return rc;
    if (cfg && (rc = evl__cfg_overlay_topic(&eff, &log->cfg)))
        goto out;
    if (partitions == 0)
        partitions = (int)evl__cfg_int(cfg && evl__cfg_isset(cfg, EVL_CFG_NUM_PARTITIONS)
                                           ? cfg : &log->cfg, EVL_CFG_NUM_PARTITIONS);
    /* The largest record must fit in a segment with its frame. A default
     * max.message.bytes shrinks to fit a small segment.bytes; one set
     * explicitly (here or on the log) that cannot fit is an error. */
    uint64_t seg_bytes = (uint64_t)evl__cfg_int(&eff, EVL_CFG_SEGMENT_BYTES);
    uint64_t room = EVL_ALIGN_DOWN(seg_bytes - (EVL_FRAME_HDR_MAX + EVL_REC_FIXED_MAX +
                                                EVL_SEG_HDR + EVL_FRAME_EOF_BYTES), 8);
    bool explicit_max = evl__cfg_isset(&eff, EVL_CFG_MAX_MESSAGE_BYTES) ||
                        evl__cfg_isset(&log->cfg, EVL_CFG_MAX_MESSAGE_BYTES);
    uint64_t max_msg = (uint64_t)evl__cfg_int(&eff, EVL_CFG_MAX_MESSAGE_BYTES);
    if (!explicit_max && max_msg > room) {
        evl__logf(&log->lg, EVL_LOG_NOTICE,
                  "topic %s: max.message.bytes lowered from its default %llu to %llu, the "
                  "largest record a segment of %llu bytes holds", name,
                  (unsigned long long)max_msg, (unsigned long long)room,
                  (unsigned long long)seg_bytes);
        eff.num[EVL_CFG_MAX_MESSAGE_BYTES] = (int64_t)room;
    } else if (max_msg > room) {
        evl__logf(&log->lg, EVL_LOG_ERR,
                  "topic %s: max.message.bytes=%llu does not fit segment.bytes=%llu (at most "
                  "%llu)", name, (unsigned long long)max_msg, (unsigned long long)seg_bytes,
                  (unsigned long long)room);
        rc = EVL_ECONFIG;
        goto out;
    }
    char dir[PATH_MAX];
    if ((rc = evl__topic_dir(log, name, dir, sizeof dir)))
        goto out;
    char *settings = evl__cfg_topic_serialize(&eff);
    if (!settings) {
        rc = EVL_ENOMEM;
        goto out;
    }
    size_t cap = strlen(settings) + 64;
    struct topic_rec r = {name, evl__malloc(cap), 0, 0};
    if (!r.text) {
        free(settings);
        rc = EVL_ENOMEM;
        goto out;
    }
    r.len = (size_t)snprintf(r.text, cap, "partitions=%d\nid=%016llx\n%s", partitions,
                             (unsigned long long)evl__topic_new_id(), settings);
    free(settings);
    /* The record first: it decides which of two creators wins. Then the
     * files; if they cannot be made (a full disk), the record goes again,
     * so a topic that reports success exists on disk. */
    rc = evl__meta_write(log->meta, evl__topic_rec_put_fn, &r);
    if (rc == 0 && (rc = topic_files_create(log, name, dir, r.text, r.len, partitions))) {
        evl__logf(&log->lg, EVL_LOG_ERR, "topic %s: cannot create its files: %s", name,
                  evl_strerror(rc));
        evl__meta_write(log->meta, evl__topic_rec_del_fn, &r);
        evl__os_rmtree(dir);
    }
    free(r.text);
out:
    evl__cfg_release(&eff);
    return rc;
}

/* Forget a cached topic (its memory stays until the log closes, since
 * producers may still point at it). */
void evl__topic_cache_forget(evl_log_t *log, const char *name)
{
    pthread_mutex_lock(&log->mu);
    for (evl_topic_t *t = log->topics; t; t = t->next)
        if (t->name[0] && !strcmp(t->name, name))
            t->name[0] = 0; /* no longer found by name */
    pthread_mutex_unlock(&log->mu);
}

/* Step 3 of a delete: mark each partition's shared state deleted. */
static void mark_partitions_deleted(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char pdir[PATH_MAX];
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' &&
            (size_t)snprintf(pdir, sizeof pdir, "%s/%s", dir, e->d_name) < sizeof pdir)
            evl__part_mark_deleted(pdir);
    closedir(d);
}

EVL_API int evl_topic_delete(evl_log_t *log, const char *name)
{
    if (!log)
        return EVL_EINVAL;
    if (!evl__name_valid(name))
        return EVL_EBADNAME;
    char dir[PATH_MAX], conf[PATH_MAX + 32], gone[PATH_MAX + 32];
    int rc = evl__topic_dir(log, name, dir, sizeof dir);
    if (rc)
        return rc;
    snprintf(conf, sizeof conf, "%s/topic.conf", dir);
    snprintf(gone, sizeof gone, "%s/topic.conf.deleted", dir);
    bool renamed = rename(conf, gone) == 0;
    struct topic_rec r = {name, NULL, 0, 0};
    if ((rc = evl__meta_write(log->meta, evl__topic_rec_del_fn, &r))) {
        if (renamed && rc != EVL_ENOTFOUND)
            rename(gone, conf); /* still a topic */
        return rc;
    }
    evl__topic_cache_forget(log, name);
    mark_partitions_deleted(dir);
    evl__topic_trash(log, dir, name);
    return 0;
}

EVL_API int evl_topic_add_partitions(evl_log_t *log, const char *name, int total)
{
    if (!log)
        return EVL_EINVAL;
    if (!evl__name_valid(name))
        return EVL_EBADNAME;
    if (total < 1 || total > 100000)
        return EVL_EINVAL;
    evl_topic_t *t;
    int rc = evl__topic_get(log, name, &t);
    int old = rc ? rc : evl__topic_refresh(t);
    if (old < 0)
        return old;
    if (total <= old)
        return EVL_EINVAL;
    /* The new partitions' files first, within the budget (as at create: a
     * full disk fails here, and nothing is left half-grown); then the
     * record; then the count in partition 0's shared state, which
     * producers everywhere read at each send. */
    if ((rc = evl__log_reserve(log, (uint64_t)(total - old) * EVL_PART_MIN_BYTES)) == 0)
        for (int p = old; p < total && rc == 0; p++) {
            evl_part_t *part;
            if ((rc = evl__topic_part_open(t, p, &part)) == 0)
                evl__part_close(part);
        }
    evl__log_reserve_done(log);
    struct topic_rec r = {name, NULL, 0, total};
    if (rc == 0)
        rc = evl__meta_write(log->meta, evl__topic_rec_grow_fn, &r);
    if (rc) {
        /* Partitions made before the failure stay, empty and not counted:
         * another process may be growing the topic to the same count. */
        free(r.text);
        return rc;
    }
    evl_part_t *p0;
    if (evl__topic_refresh(t) > 0 && evl__topic_part(t, 0, &p0) == 0)
        evl__topic_publish_nparts(p0, total);
    char dir[PATH_MAX];
    if (evl__topic_dir(log, name, dir, sizeof dir) == 0) {
        int crc = evl__topic_conf_write(dir, r.text, r.len);
        if (crc)
            evl__logf(&log->lg, EVL_LOG_WARNING,
                      "topic %s: grown to %d partitions, but its topic.conf could not be "
                      "rewritten (%s): a rebuild of lost metadata would count the partition "
                      "folders instead", name, total, evl_strerror(crc));
    }
    free(r.text);
    return rc;
}


EVL_API int evl_topic_list_v2(evl_log_t *log, int flags, char ***names, size_t *count)
{
    if (!log || !names || !count || (flags & ~EVL_TOPIC_LIST_INTERNAL))
        return EVL_EINVAL;
    *names = NULL;
    *count = 0;
    int rc = evl__meta_list(log, EVL_DB_TOPICS, names, count);
    if (rc || (flags & EVL_TOPIC_LIST_INTERNAL))
        return rc;
    size_t k = 0; /* one block: drop the internal ones' pointers */
    for (size_t i = 0; i < *count; i++)
        if (!internal_name((*names)[i]))
            (*names)[k++] = (*names)[i];
    (*names)[k] = NULL;
    *count = k;
    return 0;
}

EVL_API int evl_topic_list(evl_log_t *log, char ***names, size_t *count)
{
    return evl_topic_list_v2(log, 0, names, count);
}

EVL_API int evl_topic_partitions(evl_log_t *log, const char *name)
{
    evl_topic_t *t;
    int rc = log ? evl__topic_get(log, name, &t) : EVL_EINVAL;
    return rc ? rc : evl__topic_refresh(t);
}

EVL_API int evl_topic_config_get(evl_log_t *log, const char *name, const char *key,
                                 char *buf, size_t size)
{
    evl_topic_t *t;
    int rc = log ? evl__topic_get(log, name, &t) : EVL_EINVAL;
    return rc ? rc : evl_config_get(&t->cfg, key, buf, size);
}

/* Partition `partition` of topic, for the public calls about one. */
static int find_part(evl_log_t *log, const char *topic, int partition, evl_part_t **out)
{
    evl_topic_t *t;
    int rc = evl__topic_get(log, topic, &t);
    return rc ? rc : evl__topic_part(t, partition, out);
}

EVL_API int evl_partition_info(evl_log_t *log, const char *topic, int partition,
                               evl_partition_info_t *out)
{
    evl_part_t *part;
    int rc = log && out ? find_part(log, topic, partition, &part) : EVL_EINVAL;
    return rc ? rc : evl__part_info(part, out);
}

EVL_API int evl_partition_disk_usage(evl_log_t *log, const char *topic, int partition,
                                     int64_t *bytes)
{
    evl_part_t *part;
    int rc = log && bytes ? find_part(log, topic, partition, &part) : EVL_EINVAL;
    if (rc == 0)
        *bytes = evl__part_disk_bytes(part->dir);
    return rc;
}

