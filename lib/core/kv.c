/*
 * kv.c - the areas' own tables in the log's metadata (eventlog.h,
 * evl_kv_*): a connector's source offsets, a registry's index, a streams
 * task's committed positions, each in a named LMDB table of the same
 * environment as topics and offsets, so that one transaction can change
 * several of them atomically, shared by every process using the log.
 */
#include <string.h>

#include "log.h"
#include "meta.h"

struct evl_kv {
    MDB_txn *txn;
    evl_meta_t *meta;
    bool write;
};

static bool table_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 3 || n > EVL_META_TABLE_NAME_MAX || !strchr(name, '.') || name[0] == '.' ||
        name[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

EVL_API int evl_kv_table(evl_log_t *log, const char *name, evl_kv_table_t *out)
{
    if (!log || !out)
        return EVL_EINVAL;
    if (!table_name_ok(name))
        return EVL_EBADNAME;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    MDB_dbi dbi;
    int rc = evl__meta_table(log->meta, name, &dbi);
    if (rc == 0)
        *out = (evl_kv_table_t)dbi;
    return rc;
}

typedef struct run_arg {
    evl_meta_t *meta;
    evl_kv_fn *fn;
    void *arg;
    bool write;
} run_arg_t;

static int trampoline(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    (void)dbi;
    run_arg_t *a = arg;
    evl_kv_t kv = {txn, a->meta, a->write};
    return a->fn(&kv, a->arg);
}

EVL_API int evl_kv_write(evl_log_t *log, evl_kv_fn *fn, void *arg)
{
    if (!log || !fn)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    run_arg_t a = {log->meta, fn, arg, true};
    return evl__meta_write(log->meta, trampoline, &a);
}

EVL_API int evl_kv_read(evl_log_t *log, evl_kv_fn *fn, void *arg)
{
    if (!log || !fn)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    run_arg_t a = {log->meta, fn, arg, false};
    return evl__meta_read(log->meta, trampoline, &a);
}

/* LMDB's largest key (MDB_MAXKEYSIZE, the default build). */
#define KEY_MAX 511

static int check(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen)
{
    if (!kv || (!key && klen) || klen == 0 || klen > KEY_MAX)
        return EVL_EINVAL;
    if (!evl__meta_table_known(kv->meta, (MDB_dbi)t))
        return EVL_EINVAL; /* not a handle of evl_kv_table */
    return 0;
}

EVL_API int evl_kv_get(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen,
                       const void **val, size_t *vlen)
{
    int rc = check(kv, t, key, klen);
    if (rc || !val || !vlen)
        return rc ? rc : EVL_EINVAL;
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(kv->txn, (MDB_dbi)t, &k, &v);
    if (rc == MDB_NOTFOUND)
        return EVL_ENOTFOUND;
    if (rc)
        return evl__meta_rc(rc);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 0;
}

EVL_API int evl_kv_put(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
    int rc = check(kv, t, key, klen);
    if (rc || (!val && vlen))
        return rc ? rc : EVL_EINVAL;
    if (!kv->write)
        return EVL_ESTATE;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    return evl__meta_rc(mdb_put(kv->txn, (MDB_dbi)t, &k, &v, 0));
}

EVL_API int evl_kv_del(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen)
{
    int rc = check(kv, t, key, klen);
    if (rc)
        return rc;
    if (!kv->write)
        return EVL_ESTATE;
    MDB_val k = {klen, (void *)key};
    rc = mdb_del(kv->txn, (MDB_dbi)t, &k, NULL);
    return rc == MDB_NOTFOUND ? EVL_ENOTFOUND : evl__meta_rc(rc);
}

EVL_API int evl_kv_scan(evl_kv_t *kv, evl_kv_table_t t, const void *prefix, size_t plen,
                        evl_kv_scan_fn *cb, void *arg)
{
    if (!kv || !cb || (!prefix && plen) || plen > KEY_MAX ||
        !evl__meta_table_known(kv->meta, (MDB_dbi)t))
        return EVL_EINVAL;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(kv->txn, (MDB_dbi)t, &cur);
    if (rc)
        return evl__meta_rc(rc);
    MDB_val k = {plen, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    int urc = 0;
    while (rc == 0 && urc == 0) {
        if (k.mv_size < plen || (plen && memcmp(k.mv_data, prefix, plen) != 0))
            break;
        urc = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (urc == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (urc)
        return urc > 0 ? 0 : urc; /* > 0: stop early */
    return rc == MDB_NOTFOUND ? 0 : evl__meta_rc(rc);
}
