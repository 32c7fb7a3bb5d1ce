/*
 * producer_id.c - idempotent producers' ids and epochs, kept in the log's
 * metadata (LMDB table "producers"): a named producer (producer.name)
 * keeps its id across restarts and gets a higher epoch at each
 * evl_producer_new; an unnamed one gets a new id every time.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "meta.h"
#include "producer_id.h"

typedef struct take {
    const char *name; /* NULL: unnamed */
    int64_t pid;
    int32_t epoch;
} take_t;

/* Ids are random 63-bit numbers, not a counter: a counter kept in the
 * metadata would start again after the metadata is lost or restored from
 * a backup, and hand out ids that partitions still remember. Two producers
 * get the same id with a chance of n^2 / 2^64. */
static int new_id(int64_t *pid)
{
    uint64_t v = 0;
    while (v == 0) {
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
            return errno == EINTR ? -EINTR : -errno;
        v &= (uint64_t)INT64_MAX;
    }
    *pid = (int64_t)v;
    return 0;
}

static int take_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    take_t *t = arg;
    int rc;
    t->epoch = 0;
    if (!t->name)
        return new_id(&t->pid);
    MDB_val k = {strlen(t->name), (void *)t->name}, v;
    rc = mdb_get(txn, dbi[EVL_DB_PRODUCERS], &k, &v);
    if (rc == 0 && v.mv_size == 12) {
        t->pid = (int64_t)evl_ld64(v.mv_data);
        uint32_t e = evl_ld32((const uint8_t *)v.mv_data + 8);
        if (t->pid <= 0 || e >= INT32_MAX)
            rc = new_id(&t->pid); /* epochs used up: a new id */
        else
            t->epoch = (int32_t)e + 1;
    } else if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = new_id(&t->pid);
    } else {
        return evl__meta_rc(rc);
    }
    if (rc)
        return rc;
    uint8_t buf[12];
    evl_st64(buf, (uint64_t)t->pid);
    evl_st32(buf + 8, (uint32_t)t->epoch);
    v = (MDB_val){12, buf};
    return evl__meta_rc(mdb_put(txn, dbi[EVL_DB_PRODUCERS], &k, &v, 0));
}

int evl__producer_id_take(evl_log_t *log, const char *name, int64_t *pid, int32_t *epoch)
{
    take_t t = {name && *name ? name : NULL, 0, 0};
    int rc = evl__meta_write(log->meta, take_fn, &t);
    if (rc == 0) {
        *pid = t.pid;
        *epoch = t.epoch;
    }
    return rc;
}
