/*
 * topic_recover.c - finding lost metadata at open, and rebuilding it from the
 * files.
 *
 * The topics' data lives in their folders; LMDB (DIR/meta/data.mdb) holds
 * their settings, partition counts, the groups and their committed offsets.
 * If data.mdb is deleted, or lost with a bad card, LMDB makes a new, empty
 * one, and without this module the log would look empty: `topic list`
 * empty, verify clean, every committed offset gone, and a topic created
 * again under an old name would adopt the old data. So every open compares
 * the two:
 *
 *   - each topic folder keeps topic.conf, a copy of its record (topic.c). A
 *     folder whose topic has no record gets it back from that copy, with a
 *     warning (a bad card, an old backup of data.mdb);
 *   - a folder without topic.conf (made by a version before it existed) is
 *     taken as a topic only when the metadata is new ("fresh": no "created"
 *     mark, no topics, no offsets) yet topic folders exist: its partitions
 *     are counted and its segment size read from a segment header; other
 *     settings get the log's defaults. With metadata that is not new such a
 *     folder is a leftover that no topic owns: left alone, and a topic
 *     created under its name removes it (topic.c);
 *   - a folder with topic.conf.deleted was being deleted: it goes;
 *   - committed offsets cannot be rebuilt: when the metadata is found lost,
 *     each group folder (DIR/groups/G, made by members and committers) is
 *     listed as a group again and marked "offsets lost" (offsets.h), so that
 *     its consumers get EVL_ENOOFFSET instead of silently starting over.
 *
 * The "created" mark is written at the first open by this version, so an
 * existing log whose metadata holds topics is never taken for a lost one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offsets.h"
#include "os.h"
#include "segment.h"
#include "topic.h"

#define MARK_KEY "created"
#define LIST_MAX 400 /* characters of names listed in the warning */

struct census {
    bool marked;
    size_t topics, offsets;
};

static int census_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct census *c = arg;
    MDB_val k = {sizeof MARK_KEY - 1, MARK_KEY}, v;
    MDB_stat st;
    c->marked = mdb_get(txn, dbi[EVL_DB_LOG], &k, &v) == 0;
    if (mdb_stat(txn, dbi[EVL_DB_TOPICS], &st) == 0)
        c->topics = st.ms_entries;
    if (mdb_stat(txn, dbi[EVL_DB_OFFSETS], &st) == 0)
        c->offsets = st.ms_entries;
    return 0;
}

static int mark_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    (void)arg;
    uint8_t when[8];
    evl_st64(when, (uint64_t)evl_now_ms());
    MDB_val k = {sizeof MARK_KEY - 1, MARK_KEY}, v = {8, when};
    int rc = mdb_put(txn, dbi[EVL_DB_LOG], &k, &v, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : evl__meta_rc(rc);
}

/* A small file's text (malloc'd, NUL-terminated), or NULL. */
static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (1 << 20) &&
        (text = evl__malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t n = pread(fd, text, (size_t)st.st_size, 0);
        if (n != st.st_size) {
            free(text);
            text = NULL;
        } else {
            text[n] = 0;
        }
    }
    close(fd);
    return text;
}

/* Partition folders of tdir: 1 + the highest number, 0 if none; and the
 * segment.bytes of the first segment header found (0 if none). */
static int count_partitions(const char *tdir, uint64_t *seg_bytes)
{
    DIR *d = opendir(tdir);
    int n = 0;
    *seg_bytes = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long p = strtol(e->d_name, &end, 10);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end || p < 0 || p >= 100000)
            continue;
        n = EVL_MAX(n, (int)p + 1);
        char pdir[PATH_MAX];
        uint64_t *bases;
        size_t nb;
        if (*seg_bytes || (size_t)snprintf(pdir, sizeof pdir, "%s/%s", tdir, e->d_name) >=
                              sizeof pdir || evl__part_list(pdir, &bases, &nb))
            continue;
        if (nb) {
            char path[PATH_MAX + 32];
            uint8_t h[32];
            evl__seg_path(path, sizeof path, pdir, bases[0], "log");
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
                evl__seg_header_ok(h))
                *seg_bytes = evl__seg_header_max_bytes(h);
            if (fd >= 0)
                close(fd);
        }
        free(bases);
    }
    closedir(d);
    return n;
}

/* The record text of a topic with no topic.conf, from its folders. */
static char *infer_record(evl_log_t *log, int nparts, uint64_t seg_bytes, size_t *len)
{
    evl_config_t cfg;
    if (evl__cfg_copy(&cfg, &log->cfg))
        return NULL;
    if (seg_bytes >= (1u << 16) && seg_bytes <= (1ull << 31))
        cfg.num[EVL_CFG_SEGMENT_BYTES] = (int64_t)seg_bytes;
    char *settings = evl__cfg_topic_serialize(&cfg);
    evl__cfg_release(&cfg);
    if (!settings)
        return NULL;
    uint64_t id = 0;
    while (!id && getrandom(&id, sizeof id, 0) == (ssize_t)sizeof id)
        ;
    size_t cap = strlen(settings) + 64;
    char *text = evl__malloc(cap);
    if (text)
        *len = (size_t)snprintf(text, cap, "partitions=%d\nid=%016llx\n%s", nparts,
                                (unsigned long long)(id ? id : 1), settings);
    free(settings);
    return text;
}

/* Is text a record this version can load (count, id, settings)? */
static bool conf_valid(evl_log_t *log, const char *text)
{
    if (evl__topic_rec_nparts(text) <= 0 || !evl__topic_rec_id(text))
        return false;
    evl_config_t cfg;
    if (evl__cfg_copy(&cfg, &log->cfg))
        return false;
    const char *rest = strchr(text, '\n');
    bool ok = evl__cfg_topic_parse(&cfg, rest ? rest + 1 : "", rest ? strlen(rest + 1) : 0) == 0;
    evl__cfg_release(&cfg);
    return ok;
}

/* conf's text with its partition count raised to n (malloc'd). */
static char *with_nparts(const char *conf, int n, size_t *len)
{
    const char *rest = strchr(conf, '\n');
    rest = rest ? rest + 1 : "";
    size_t cap = strlen(rest) + 32;
    char *text = evl__malloc(cap);
    if (text)
        *len = (size_t)snprintf(text, cap, "partitions=%d\n%s", n, rest);
    return text;
}

static void list_add(char *list, const char *name)
{
    size_t n = strlen(list);
    if (n + strlen(name) + 3 < LIST_MAX)
        snprintf(list + n, LIST_MAX - n, "%s%s", n ? ", " : "", name);
    else if (n + 5 < LIST_MAX && (n < 3 || strcmp(list + n - 3, "...")))
        snprintf(list + n, LIST_MAX - n, ", ...");
}

/* One topic folder. Returns 1 if its record was rebuilt, 0 if not. */
static int reconcile_topic(evl_log_t *log, const char *name, bool fresh)
{
    char tdir[PATH_MAX], conf_path[PATH_MAX + 32], gone[PATH_MAX + 32];
    if ((size_t)snprintf(tdir, sizeof tdir, "%s/topics/%s", log->dir, name) >= sizeof tdir)
        return 0;
    snprintf(conf_path, sizeof conf_path, "%s/topic.conf", tdir);
    snprintf(gone, sizeof gone, "%s/topic.conf.deleted", tdir);
    char *rec;
    int rc = evl__topic_rec_read(log, name, &rec);
    char *conf = read_text(conf_path);
    if (rc == 0) {
        /* A topic: make sure its files say so (a folder from a version
         * without topic.conf, or a delete that stopped before dropping the
         * record). */
        if (!conf && evl__topic_conf_write(tdir, rec, strlen(rec)) == 0)
            unlink(gone);
        free(rec);
        free(conf);
        return 0;
    }
    if (rc != EVL_ENOTFOUND) {
        free(conf);
        return 0;
    }
    uint64_t seg_bytes;
    int dirs = count_partitions(tdir, &seg_bytes);
    char *text = NULL;
    size_t len = 0;
    if (conf && !conf_valid(log, conf)) {
        evl__logf(&log->lg, EVL_LOG_ERR, "topic %s: its topic.conf is damaged; %s", name,
                  fresh && dirs > 0 ? "rebuilt from its folders instead"
                                    : "not used");
        free(conf);
        conf = NULL;
        if (fresh && dirs > 0)
            text = infer_record(log, dirs, seg_bytes, &len);
    } else if (conf) {
        text = dirs > evl__topic_rec_nparts(conf) ? with_nparts(conf, dirs, &len) : conf;
        if (text == conf)
            len = strlen(conf);
    } else if (!conf && access(gone, F_OK) == 0) {
        evl__logf(&log->lg, EVL_LOG_NOTICE,
                  "topic %s: removing what an interrupted delete left", name);
        evl__topic_trash(log, tdir, name);
    } else if (!conf && fresh && dirs > 0) {
        text = infer_record(log, dirs, seg_bytes, &len);
    } else if (!conf) {
        evl__logf(&log->lg, EVL_LOG_NOTICE,
                  "topics/%s holds no topic the metadata knows of (no topic.conf); left "
                  "alone: creating a topic of that name removes it", name);
    }
    int rebuilt = 0;
    if (text) {
        if (evl__topic_rec_put_new(log, name, text, len) == 0) {
            rebuilt = 1;
            if (!conf || text != conf)
                evl__topic_conf_write(tdir, text, len);
            evl__logf(&log->lg, EVL_LOG_WARNING,
                      "topic %s: its metadata was missing; rebuilt from %s (%d partitions)",
                      name, conf ? "its topic.conf" : "its folders, with default settings",
                      evl__topic_rec_nparts(text));
        }
        if (text != conf)
            free(text);
    }
    free(conf);
    return rebuilt;
}

struct lost_arg {
    const char *group;
};

/* The mark alone lists the group again (evl_group_list reads both). */
static int lost_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct lost_arg *a = arg;
    return evl__offsets_lost_put_txn(txn, dbi, a->group);
}

/* Mark every group folder's offsets lost; their names into list. */
static size_t mark_groups_lost(evl_log_t *log, char *list)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/groups", log->dir);
    DIR *d = opendir(path);
    size_t n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!evl__name_valid(e->d_name))
            continue;
        struct lost_arg a = {e->d_name};
        if (evl__meta_write(log->meta, lost_fn, &a) == 0) {
            list_add(list, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

int evl__topic_reconcile(evl_log_t *log)
{
    struct census c = {false, 0, 0};
    int rc = evl__meta_read(log->meta, census_fn, &c);
    if (rc)
        return rc;
    bool fresh = !c.marked && c.topics == 0 && c.offsets == 0;
    char path[PATH_MAX], topics[LIST_MAX] = "", groups[LIST_MAX] = "";
    snprintf(path, sizeof path, "%s/topics", log->dir);
    DIR *d = opendir(path);
    size_t rebuilt = 0, folders = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!evl__name_valid(e->d_name))
            continue;
        folders++;
        if (reconcile_topic(log, e->d_name, fresh)) {
            rebuilt++;
            list_add(topics, e->d_name);
        }
    }
    if (d)
        closedir(d);
    size_t lost = fresh && folders ? mark_groups_lost(log, groups) : 0;
    if (rebuilt || lost) {
        evl__stat_add(log, EVL_STAT_TOPICS_RECOVERED, (int64_t)rebuilt);
        evl__logf(&log->lg, EVL_LOG_WARNING,
                  "metadata lost (%s/meta/data.mdb %s): %zu topic(s) rebuilt from their files "
                  "(%s); committed offsets lost for %zu group(s)%s%s%s", log->dir,
                  fresh ? "was new or empty while topic folders exist"
                        : "lacked topics that exist on disk",
                  rebuilt, rebuilt ? topics : "none", lost, lost ? " (" : "",
                  lost ? groups : "",
                  lost ? "): their consumers get EVL_ENOOFFSET for partitions without an "
                         "offset until the group is reset" : "");
    }
    return c.marked ? 0 : evl__meta_write(log->meta, mark_fn, NULL);
}
