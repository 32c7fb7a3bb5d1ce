/*
 * topic.c - topics: creation, deletion, listing, partition growth, settings
 * stored in LMDB, and the log's cache of open topics and partitions.
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
#include "topic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "os.h"
#include "record.h"

/* ---- LMDB records ------------------------------------------------------ */

struct topic_rec {
    const char *name;
    char *text;     /* in: what to store; out: what was read (malloc'd) */
    size_t len;
    int nparts;     /* for add_partitions */
};

static int put_new(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    MDB_val k = {strlen(r->name), (void *)r->name}, v = {r->len, r->text};
    return evl__meta_rc(mdb_put(txn, dbi[EVL_DB_TOPICS], &k, &v, MDB_NOOVERWRITE));
}

static int get_rec(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    MDB_val k = {strlen(r->name), (void *)r->name}, v;
    int rc = mdb_get(txn, dbi[EVL_DB_TOPICS], &k, &v);
    if (rc)
        return evl__meta_rc(rc);
    free(r->text);
    if (!(r->text = evl__malloc(v.mv_size + 1)))
        return EVL_ENOMEM;
    memcpy(r->text, v.mv_data, v.mv_size);
    r->text[v.mv_size] = 0;
    r->len = v.mv_size;
    return 0;
}

static int del_rec(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    MDB_val k = {strlen(r->name), (void *)r->name};
    return evl__meta_rc(mdb_del(txn, dbi[EVL_DB_TOPICS], &k, NULL));
}

int evl__topic_rec_nparts(const char *text)
{
    if (strncmp(text, "partitions=", 11) != 0)
        return EVL_ECORRUPT;
    long n = strtol(text + 11, NULL, 10);
    return n >= 1 && n <= 100000 ? (int)n : EVL_ECORRUPT;
}

int evl__topic_nparts_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    char first[32];
    int rc = mdb_get(txn, dbi[EVL_DB_TOPICS], &k, &v);
    if (rc)
        return evl__meta_rc(rc);
    size_t n = EVL_MIN(v.mv_size, sizeof first - 1);
    memcpy(first, v.mv_data, n);
    first[n] = 0;
    return evl__topic_rec_nparts(first);
}

uint64_t evl__topic_rec_id(const char *text)
{
    const char *p = strstr(text, "\nid=");
    return p ? strtoull(p + 4, NULL, 16) : 0;
}

#define parse_nparts evl__topic_rec_nparts

static uint64_t new_topic_id(void)
{
    uint64_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
            id = (uint64_t)evl_mono_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    return id;
}

int evl__topic_conf_write(const char *tdir, const char *text, size_t len)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/topic.conf", tdir);
    snprintf(tmp, sizeof tmp, "%s/topic.conf.tmp", tdir);
    int fd = evl__os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    int rc = evl__os_pwrite(fd, text, len, 0);
    if (rc == 0)
        rc = evl__os_fdatasync(fd);
    close(fd);
    if (rc == 0)
        rc = evl__os_rename(tmp, path);
    if (rc == 0)
        rc = evl__os_fsync_dir(tdir);
    if (rc)
        unlink(tmp);
    return rc;
}

static int grow_rec(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    int rc = get_rec(txn, dbi, r);
    if (rc)
        return rc;
    int cur = parse_nparts(r->text);
    if (cur < 0)
        return cur;
    if (r->nparts <= cur)
        return EVL_EINVAL;
    const char *rest = strchr(r->text, '\n');
    rest = rest ? rest + 1 : "";
    size_t cap = strlen(rest) + 32;
    char *text = evl__malloc(cap);
    if (!text)
        return EVL_ENOMEM;
    int n = snprintf(text, cap, "partitions=%d\n%s", r->nparts, rest);
    MDB_val k = {strlen(r->name), (void *)r->name}, v = {(size_t)n, text};
    rc = evl__meta_rc(mdb_put(txn, dbi[EVL_DB_TOPICS], &k, &v, 0));
    free(r->text);
    r->text = text; /* what was stored, for topic.conf */
    r->len = (size_t)n;
    return rc;
}

static void cache_forget(evl_log_t *log, const char *name);

/* Raise the partition count kept in partition 0's shared state. */
static void publish_nparts(evl_part_t *p0, int n)
{
    uint32_t cur = atomic_load(&p0->ctl->topic_nparts);
    while (cur < (uint32_t)n && !atomic_compare_exchange_weak(&p0->ctl->topic_nparts, &cur,
                                                              (uint32_t)n))
        ;
}

/* ---- public topic calls -------------------------------------------------- */

static int topic_dir(const evl_log_t *log, const char *name, char *buf, size_t size)
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
            if ((rc = evl__part_open(t, p, &part)) == 0)
                evl__part_close(part);
        }
    }
    evl__log_reserve_done(log);
    if (rc)
        cache_forget(log, name);
    return rc;
}

EVL_API int evl_topic_create(evl_log_t *log, const char *name, int partitions,
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
        partitions = (int)evl__cfg_int(cfg && (cfg->set & (1ull << EVL_CFG_NUM_PARTITIONS))
                                           ? cfg : &log->cfg, EVL_CFG_NUM_PARTITIONS);
    /* The largest record must fit in a segment with its frame. A default
     * max.message.bytes shrinks to fit a small segment.bytes; one set
     * explicitly (here or on the log) that cannot fit is an error. */
    uint64_t seg_bytes = (uint64_t)evl__cfg_int(&eff, EVL_CFG_SEGMENT_BYTES);
    uint64_t room = EVL_ALIGN_DOWN(seg_bytes - (EVL_FRAME_HDR + EVL_REC_HDR + EVL_SEG_HDR +
                                                EVL_FRAME_EOF_BYTES), 8);
    uint64_t bit = 1ull << EVL_CFG_MAX_MESSAGE_BYTES;
    bool explicit_max = (eff.set & bit) || (log->cfg.set & bit);
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
    if ((rc = topic_dir(log, name, dir, sizeof dir)))
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
                             (unsigned long long)new_topic_id(), settings);
    free(settings);
    /* The record first: it decides which of two creators wins. Then the
     * files; if they cannot be made (a full disk), the record goes again,
     * so a topic that reports success exists on disk. */
    rc = evl__meta_write(log->meta, put_new, &r);
    if (rc == 0 && (rc = topic_files_create(log, name, dir, r.text, r.len, partitions))) {
        evl__logf(&log->lg, EVL_LOG_ERR, "topic %s: cannot create its files: %s", name,
                  evl_strerror(rc));
        evl__meta_write(log->meta, del_rec, &r);
        evl__os_rmtree(dir);
    }
    free(r.text);
out:
    evl__cfg_release(&eff);
    return rc;
}

/* Forget a cached topic (its memory stays until the log closes, since
 * producers may still point at it). */
static void cache_forget(evl_log_t *log, const char *name)
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
    int rc = topic_dir(log, name, dir, sizeof dir);
    if (rc)
        return rc;
    snprintf(conf, sizeof conf, "%s/topic.conf", dir);
    snprintf(gone, sizeof gone, "%s/topic.conf.deleted", dir);
    bool renamed = rename(conf, gone) == 0;
    struct topic_rec r = {name, NULL, 0, 0};
    if ((rc = evl__meta_write(log->meta, del_rec, &r))) {
        if (renamed && rc != EVL_ENOTFOUND)
            rename(gone, conf); /* still a topic */
        return rc;
    }
    cache_forget(log, name);
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
            if ((rc = evl__part_open(t, p, &part)) == 0)
                evl__part_close(part);
        }
    evl__log_reserve_done(log);
    struct topic_rec r = {name, NULL, 0, total};
    if (rc == 0)
        rc = evl__meta_write(log->meta, grow_rec, &r);
    if (rc) {
        /* Partitions made before the failure stay, empty and not counted:
         * another process may be growing the topic to the same count. */
        free(r.text);
        return rc;
    }
    evl_part_t *p0;
    if (evl__topic_refresh(t) > 0 && evl__topic_part(t, 0, &p0) == 0)
        publish_nparts(p0, total);
    char dir[PATH_MAX];
    if (topic_dir(log, name, dir, sizeof dir) == 0) {
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

struct list_arg {
    char **names;
    size_t count;
    int db;
    const char *prefix;  /* only keys that start with it, without it */
};

/* Build one block: pointer array, then the strings. */
static int list_keys(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct list_arg *a = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[a->db], &cur);
    if (rc)
        return evl__meta_rc(rc);
    size_t n = 0, bytes = 0, pl = strlen(a->prefix);
    MDB_val k, v;
#define LISTED(k) ((k).mv_size >= pl && !memcmp((k).mv_data, a->prefix, pl))
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (LISTED(k)) {
            n++;
            bytes += k.mv_size - pl + 1;
        }
    char **names = evl__malloc((n + 1) * sizeof(char *) + bytes);
    if (!names) {
        mdb_cursor_close(cur);
        return EVL_ENOMEM;
    }
    char *s = (char *)(names + n + 1);
    size_t i = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && i < n;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!LISTED(k))
            continue;
        names[i++] = s;
        memcpy(s, (const char *)k.mv_data + pl, k.mv_size - pl);
        s[k.mv_size - pl] = 0;
        s += k.mv_size - pl + 1;
    }
#undef LISTED
    names[i] = NULL;
    mdb_cursor_close(cur);
    free(a->names);
    a->names = names;
    a->count = i;
    return 0;
}

int evl__meta_list(evl_log_t *log, int db, char ***names, size_t *count)
{
    return evl__meta_list_prefix(log, db, "", names, count);
}

int evl__meta_list_prefix(evl_log_t *log, int db, const char *prefix, char ***names,
                          size_t *count)
{
    struct list_arg a = {NULL, 0, db, prefix};
    int rc = evl__meta_read(log->meta, list_keys, &a);
    if (rc) {
        free(a.names);
        return rc;
    }
    *names = a.names;
    *count = a.count;
    return 0;
}

EVL_API int evl_topic_list(evl_log_t *log, char ***names, size_t *count)
{
    if (!log || !names || !count)
        return EVL_EINVAL;
    *names = NULL;
    *count = 0;
    return evl__meta_list(log, EVL_DB_TOPICS, names, count);
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

/* ---- the cache ------------------------------------------------------------ */

/* A topic from its record's text (r->text, taken over). */
static int topic_load(evl_log_t *log, const char *name, struct topic_rec *rr, evl_topic_t **out)
{
    struct topic_rec r = *rr;
    int rc;
    rr->text = NULL;
    evl_topic_t *t = evl__calloc(1, sizeof *t);
    char dir[PATH_MAX];
    if (!t || (rc = topic_dir(log, name, dir, sizeof dir))) {
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
    int np = parse_nparts(r.text);
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
    int rc = evl__meta_read(log->meta, get_rec, &r);
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

int evl__topic_rec_read(evl_log_t *log, const char *name, char **text)
{
    struct topic_rec r = {name, NULL, 0, 0};
    int rc = evl__meta_read(log->meta, get_rec, &r);
    *text = rc ? NULL : r.text;
    if (rc)
        free(r.text);
    return rc;
}

int evl__topic_rec_put_new(evl_log_t *log, const char *name, const char *text, size_t len)
{
    struct topic_rec r = {name, (char *)text, len, 0};
    return evl__meta_write(log->meta, put_new, &r);
}

int evl__topic_current(evl_topic_t *t)
{
    struct topic_rec r = {t->name, NULL, 0, 0};
    if (!t->name[0])
        return EVL_ENOTFOUND;
    int rc = evl__meta_read(t->log->meta, get_rec, &r);
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
    int rc = evl__meta_read(t->log->meta, get_rec, &r);
    if (rc)
        return rc;
    int np = evl__topic_rec_id(r.text) == t->id ? parse_nparts(r.text) : EVL_ENOTFOUND;
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

int evl__topic_part(evl_topic_t *t, int p, evl_part_t **out)
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
        if ((rc = evl__topic_current(t)) == 0 && (rc = evl__part_open(t, p, &part)) == 0 &&
            (rc = evl__topic_current(t)) != 0) {
            evl__part_close(part);
            part = NULL;
        }
        if (rc == -ENOENT)
            rc = EVL_ENOTFOUND; /* its folder went with a delete */
        if (rc == 0)
            __atomic_store_n(&arr[p], part, __ATOMIC_RELEASE);
        if (rc == 0 && p == 0) /* its shared state may be new (a reboot) */
            publish_nparts(part, evl__topic_nparts(t));
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
