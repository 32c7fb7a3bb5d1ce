/*
 * topic_cache.c - the log's cache of open topics and their partitions. A
 * topic is loaded from its record on first use and kept until the log
 * closes; a cached one whose record was deleted or replaced is dropped by
 * name (its handles keep it). Partitions are opened on first use; the
 * array of them is replaced, never changed in place, so that the append
 * path reads it without a lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "topic_int.h"
#include "os.h"
#include "record.h"

/* Raise the partition count kept in partition 0's shared state. */
void evl__topic_publish_nparts(evl_part_t *p0, int n)
{
    uint32_t cur = atomic_load(&p0->ctl->topic_nparts);
    while (cur < (uint32_t)n && !atomic_compare_exchange_weak(&p0->ctl->topic_nparts, &cur,
                                                              (uint32_t)n))
        ;
}

/* ---- the cache ------------------------------------------------------------ */

/* A topic from its record's text (r->text, taken over). */
static int topic_load(evl_log_t *log, const char *name, struct topic_rec *rr, evl_topic_t **out)
{
    struct topic_rec r = *rr;
    int rc;
    rr->text = NULL;
    evl_topic_t *t = evl__calloc(1, sizeof *t);
    char dir[PATH_MAX];
    if (!t || (rc = evl__topic_dir(log, name, dir, sizeof dir))) {
        free(r.text);
        free(t);
        return t ? rc : EVL_ENOMEM;
    }
    evl__cfg_copy(&t->cfg, &log->cfg); /* strings of log cfg copied; may fail below */
    t->log = log;
    t->name = evl__strdup(name);
    t->id = evl__topic_rec_id(r.text);
    t->dir = evl__strdup(dir);
    pthread_mutex_init(&t->mu, NULL);
    int np = evl__topic_rec_nparts(r.text);
    const char *rest = strchr(r.text, '\n');
    if (!t->name || !t->dir)
        rc = EVL_ENOMEM;
    else if (np < 0)
        rc = np;
    else
        rc = evl__cfg_topic_parse(&t->cfg, rest ? rest + 1 : "", rest ? strlen(rest + 1) : 0);
    free(r.text);
    if (rc) {
        evl__topic_free(t);
        return rc;
    }
    atomic_store(&t->nparts, np);
    t->refreshed_ms = evl_now_ms();
    *out = t;
    return 0;
}

int evl__topic_get(evl_log_t *log, const char *name, evl_topic_t **out)
{
    *out = NULL;
    if (!evl__name_valid(name))
        return EVL_EBADNAME;
    /* The record is read each time (a read transaction, ~1 us): another
     * handle or process may have deleted the topic, or made a new one of
     * that name, since this handle cached it. */
    struct topic_rec r = {name, NULL, 0, 0};
    int rc = evl__meta_read(log->meta, evl__topic_rec_get_fn, &r);
    if (rc && rc != EVL_ENOTFOUND)
        return rc; /* says nothing about the topic */
    pthread_mutex_lock(&log->mu);
    for (evl_topic_t *t = log->topics; t; t = t->next)
        if (t->name[0] && !strcmp(t->name, name)) {
            if (rc == 0 && t->id == evl__topic_rec_id(r.text)) {
                *out = t;
                pthread_mutex_unlock(&log->mu);
                free(r.text);
                return 0;
            }
            t->name[0] = 0; /* stale: kept for its handles until close */
        }
    evl_topic_t *t;
    if (rc == 0 && (rc = topic_load(log, name, &r, &t)) == 0) {
        t->next = log->topics;
        log->topics = t;
        *out = t;
    }
    pthread_mutex_unlock(&log->mu);
    free(r.text);
    return rc;
}

int evl__topic_current(evl_topic_t *t)
{
    struct topic_rec r = {t->name, NULL, 0, 0};
    if (!t->name[0])
        return EVL_ENOTFOUND;
    int rc = evl__meta_read(t->log->meta, evl__topic_rec_get_fn, &r);
    if (rc == 0 && evl__topic_rec_id(r.text) != t->id)
        rc = EVL_ENOTFOUND;
    free(r.text);
    return rc;
}

int evl__topic_refresh(evl_topic_t *t)
{
    struct topic_rec r = {t->name, NULL, 0, 0};
    if (!t->name[0])
        return EVL_ENOTFOUND;
    int rc = evl__meta_read(t->log->meta, evl__topic_rec_get_fn, &r);
    if (rc)
        return rc;
    int np = evl__topic_rec_id(r.text) == t->id ? evl__topic_rec_nparts(r.text) : EVL_ENOTFOUND;
    free(r.text);
    if (np < 0)
        return np;
    pthread_mutex_lock(&t->mu);
    if (np > atomic_load(&t->nparts))
        atomic_store(&t->nparts, np);
    t->refreshed_ms = evl_now_ms();
    np = atomic_load(&t->nparts);
    pthread_mutex_unlock(&t->mu);
    return np;
}

int evl__topic_nparts(evl_topic_t *t)
{
    return atomic_load_explicit(&t->nparts, memory_order_acquire);
}

evl_part_t *evl__topic_part_if_open(evl_topic_t *t, int p)
{
    /* Length first: a length that includes p implies the array it was
     * published with (or a later one) is the one we load next. */
    int n = atomic_load_explicit(&t->nparts_alloc, memory_order_acquire);
    evl_part_t **arr = atomic_load_explicit(&t->parts, memory_order_acquire);
    if (p < 0 || p >= n)
        return NULL;
    return __atomic_load_n(&arr[p], __ATOMIC_ACQUIRE);
}

/* Replace parts[] with a larger copy (t->mu held). */
static int parts_grow(evl_topic_t *t, int cap)
{
    int old_n = atomic_load(&t->nparts_alloc);
    evl_part_t **old = atomic_load(&t->parts);
    /* One extra slot in front links retired arrays for freeing at close. */
    void **block = evl__calloc((size_t)cap + 1, sizeof(void *));
    if (!block)
        return EVL_ENOMEM;
    evl_part_t **arr = (evl_part_t **)(block + 1);
    if (old_n)
        memcpy(arr, old, (size_t)old_n * sizeof *arr);
    atomic_store_explicit(&t->parts, arr, memory_order_release);
    atomic_store_explicit(&t->nparts_alloc, cap, memory_order_release);
    if (old) {
        void **old_block = (void **)old - 1;
        old_block[0] = t->retired;
        t->retired = old_block;
    }
    return 0;
}

int evl__topic_part_open(evl_topic_t *t, int p, evl_part_t **out)
{
    evl_part_env_t env;
    evl__log_part_env(t->log, &env);
    env.name = t->name;
    env.seg_bytes = (uint64_t)evl__cfg_int(&t->cfg, EVL_CFG_SEGMENT_BYTES);
    env.roll_bytes = EVL_MIN(env.roll_bytes, env.seg_bytes);
    env.seg_ms = evl__cfg_int(&t->cfg, EVL_CFG_SEGMENT_MS);
    env.index_interval = (uint64_t)evl__cfg_int(&t->cfg, EVL_CFG_INDEX_INTERVAL_BYTES);
    env.max_msg = (uint64_t)evl__cfg_int(&t->cfg, EVL_CFG_MAX_MESSAGE_BYTES);
    env.retention_ms = evl__cfg_int(&t->cfg, EVL_CFG_RETENTION_MS);
    env.retention_bytes = evl__cfg_int(&t->cfg, EVL_CFG_RETENTION_BYTES);
    if (!evl__cleanup_deletes(evl__cfg_int(&t->cfg, EVL_CFG_CLEANUP_POLICY)))
        env.retention_ms = env.retention_bytes = -1; /* cleanup.policy=compact */
    int rc = evl__part_open(&env, t->dir, p, out);
    if (rc == 0) {
        (*out)->log = t->log;
        (*out)->topic = t;
    }
    return rc;
}

static int part_once(evl_topic_t *t, int p, evl_part_t **out);

/*
 * A topic's record is written before its folder (topic_create: the record
 * decides which of two makers wins), so another thread or process may see
 * the topic for a moment before its folder is there: an open that finds
 * the record current but no folder waits for the maker (up to ~2 s)
 * rather than answering that there is no such topic. A delete takes the
 * record first, so a deleted topic is not waited for.
 */
int evl__topic_part(evl_topic_t *t, int p, evl_part_t **out)
{
    for (int tries = 0;; tries++) {
        int rc = part_once(t, p, out);
        if (rc != -ENOENT)
            return rc;
        if (tries >= 400 || evl__topic_current(t) != 0)
            return EVL_ENOTFOUND; /* its folder went with a delete */
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static int part_once(evl_topic_t *t, int p, evl_part_t **out)
{
    if ((*out = evl__topic_part_if_open(t, p)))
        return 0;
    if (p < 0)
        return EVL_EINVAL;
    if (p >= evl__topic_nparts(t)) {
        int rc = evl__topic_refresh(t);
        if (rc < 0)
            return rc;
        if (p >= rc)
            return EVL_ENOTFOUND;
    }
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    int cap = (atomic_load(&t->nparts) + 15) / 16 * 16;
    if (p >= atomic_load(&t->nparts_alloc))
        rc = parts_grow(t, cap);
    evl_part_t **arr = atomic_load(&t->parts);
    if (rc == 0 && !arr[p]) {
        evl_part_t *part = NULL;
        /* Only while the record is the one this topic was loaded from, and
         * checked again once the files are open: a delete (or a delete and
         * a new topic of the name) racing this open must not leave it
         * appending to a folder on its way to the trash. */
        if ((rc = evl__topic_current(t)) == 0 && (rc = evl__topic_part_open(t, p, &part)) == 0 &&
            (rc = evl__topic_current(t)) != 0) {
            /* Deleted meanwhile: what this open made goes with it. */
            char *dir = part->made_dir ? evl__strdup(part->dir) : NULL;
            evl__part_close(part);
            part = NULL;
            if (dir)
                evl__os_rmtree(dir);
            free(dir);
        }
        if (rc == 0)
            __atomic_store_n(&arr[p], part, __ATOMIC_RELEASE);
        if (rc == 0 && p == 0) /* its shared state may be new (a reboot) */
            evl__topic_publish_nparts(part, evl__topic_nparts(t));
        /* Retention (asked for at open: retention_due), or a seal left by
         * a process that died: the background thread, which finds the
         * partition from now on, does it (not this open, which would wait
         * for a segment's write-back). */
        if (rc == 0)
            evl__log_kick(t->log);
    }
    *out = rc ? NULL : arr[p];
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void evl__topic_free(evl_topic_t *t)
{
    if (!t)
        return;
    evl_part_t **arr = atomic_load(&t->parts);
    for (int i = 0; i < atomic_load(&t->nparts_alloc); i++)
        evl__part_close(arr[i]);
    if (arr)
        free((void **)arr - 1);
    while (t->retired) {
        void **b = t->retired;
        t->retired = b[0];
        free(b);
    }
    evl__cfg_release(&t->cfg);
    pthread_mutex_destroy(&t->mu);
    free(t->name);
    free(t->dir);
    free(t);
}

