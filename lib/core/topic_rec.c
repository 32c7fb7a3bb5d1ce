/*
 * topic_rec.c - a topic's record: text in LMDB ("partitions=N\nid=HEX\n",
 * then its settings as name=value lines; topic.c says why), its copy in
 * DIR/topics/NAME/topic.conf, and listing the keys of an LMDB table.
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

/* ---- LMDB records ------------------------------------------------------ */


int evl__topic_rec_put_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    MDB_val k = {strlen(r->name), (void *)r->name}, v = {r->len, r->text};
    return evl__meta_rc(mdb_put(txn, dbi[EVL_DB_TOPICS], &k, &v, MDB_NOOVERWRITE));
}

int evl__topic_rec_get_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
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

int evl__topic_rec_del_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
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

uint64_t evl__topic_new_id(void)
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

int evl__topic_rec_grow_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct topic_rec *r = arg;
    int rc = evl__topic_rec_get_fn(txn, dbi, r);
    if (rc)
        return rc;
    int cur = evl__topic_rec_nparts(r->text);
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


int evl__topic_rec_read(evl_log_t *log, const char *name, char **text)
{
    struct topic_rec r = {name, NULL, 0, 0};
    int rc = evl__meta_read(log->meta, evl__topic_rec_get_fn, &r);
    *text = rc ? NULL : r.text;
    if (rc)
        free(r.text);
    return rc;
}

int evl__topic_rec_put_new(evl_log_t *log, const char *name, const char *text, size_t len)
{
    struct topic_rec r = {name, (char *)text, len, 0};
    return evl__meta_write(log->meta, evl__topic_rec_put_fn, &r);
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

