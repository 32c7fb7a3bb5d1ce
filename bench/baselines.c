/*
 * baselines.c - the reference points every libeventlog figure is divided by,
 * measured in the same process and interleaved with the workloads:
 *
 *   B0  memcpy of the same record bytes (8-byte key + value) into a
 *       MAP_SHARED file mapping: freshly mapped (page faults and block
 *       allocation in the loop) and pre-faulted (every page written once
 *       before the clock starts). The ceiling for page-cache appends.
 *   B1  write(2) + fdatasync(2) per record: appending to a growing file, and
 *       overwriting a pre-written file. The ceiling for durable appends.
 *   B2  LMDB as a queue: big-endian u64 sequence keys, MDB_APPEND, one write
 *       transaction per 1000 records, MDB_NOSYNC.
 *   B3  SQLite as a queue: WAL, synchronous=NORMAL, a prepared INSERT, one
 *       transaction per 1000 records.
 *   CRC a bare CRC32C pass over a buffer, one checksum per record.
 *
 * Each returns the elapsed time of the timed loop in ns (setup and teardown
 * are not timed), or a negative errno.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u
#define TXN_RECORDS 1000

int64_t b0_memcpy_map(size_t n, size_t klen, size_t vlen, int prefault)
{
    char path[PATH_MAX];
    size_t rec = klen + vlen, maplen = (n * rec + PAGE - 1) / PAGE * PAGE;
    unsigned char key[8] = {0}, *value, *map, *dst;
    uint64_t t0, t1;
    int fd;

    if (klen > sizeof key)
        return -EINVAL;
    data_path(path, sizeof path, "b0");
    value = malloc(vlen ? vlen : 1);
    if (!value)
        return -ENOMEM;
    fill_pattern(value, vlen, 1);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)maplen) != 0) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        free(value);
        return e;
    }
    map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = -errno;
        close(fd);
        unlink(path);
        free(value);
        return e;
    }
    if (prefault)
        for (size_t off = 0; off < maplen; off += PAGE)
            ((volatile unsigned char *)map)[off] = 0;

    dst = map;
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        put_be64(key, i);
        memcpy(dst, key, klen);
        memcpy(dst + klen, value, vlen);
        dst += rec;
    }
    t1 = now_ns();

    munmap(map, maplen);
    close(fd);
    unlink(path);
    free(value);
    return (int64_t)(t1 - t0);
}

int64_t b1_write_fdatasync(size_t n, size_t reclen, int overwrite)
{
    char path[PATH_MAX];
    unsigned char *rec = malloc(reclen ? reclen : 1);
    uint64_t t0, t1;
    int fd, e = 0;

    if (!rec)
        return -ENOMEM;
    fill_pattern(rec, reclen, 2);
    data_path(path, sizeof path, "b1");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (overwrite ? 0 : O_APPEND),
              0644);
    if (fd < 0) {
        free(rec);
        return -errno;
    }
    if (overwrite) { /* really written blocks, not unwritten extents */
        static unsigned char zero[1 << 16];
        size_t total = n * reclen;
        for (size_t off = 0; off < total && !e; off += sizeof zero) {
            size_t len = total - off < sizeof zero ? total - off : sizeof zero;
            if (write(fd, zero, len) != (ssize_t)len)
                e = errno ? -errno : -EIO;
        }
        if (!e && fsync(fd) != 0)
            e = -errno;
    }
    t0 = now_ns();
    for (size_t i = 0; i < n && !e; i++) {
        put_be64(rec, i);
        ssize_t w = overwrite ? pwrite(fd, rec, reclen, (off_t)(i * reclen))
                              : write(fd, rec, reclen);
        if (w != (ssize_t)reclen)
            e = errno ? -errno : -EIO;
        else if (fdatasync(fd) != 0)
            e = -errno;
    }
    t1 = now_ns();
    close(fd);
    unlink(path);
    free(rec);
    return e ? e : (int64_t)(t1 - t0);
}

static int lmdb_err(const char *what, int rc)
{
    progress(1, "B2 lmdb %s: %s", what, mdb_strerror(rc));
    return rc > 0 && rc < 4096 ? -rc : -EIO;
}

int64_t b2_lmdb_queue(size_t n, size_t klen, size_t vlen)
{
    char dir[PATH_MAX];
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    unsigned char kbuf[8], *rec;
    size_t reclen = klen + vlen;
    size_t mapsize = n * (reclen + 48) * 2 + (64u << 20);
    uint64_t t0 = 0, t1 = 0;
    int rc, e = 0;

    rec = malloc(reclen ? reclen : 1);
    if (!rec)
        return -ENOMEM;
    fill_pattern(rec, reclen, 3);
    data_path(dir, sizeof dir, "b2");
    if ((e = make_dir(dir)) != 0) {
        free(rec);
        return e;
    }
    if ((rc = mdb_env_create(&env)) != 0 ||
        (rc = mdb_env_set_mapsize(env, mapsize)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOSYNC, 0644)) != 0) {
        e = lmdb_err("open", rc);
        goto out;
    }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        e = lmdb_err("dbi", rc);
        goto out;
    }
    txn = NULL;

    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {sizeof kbuf, kbuf}, v = {reclen, rec};
        if (!txn && (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
            e = lmdb_err("txn_begin", rc);
            goto out;
        }
        put_be64(kbuf, i);
        memcpy(rec, kbuf, klen < 8 ? klen : 8); /* the record's own key */
        if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0) {
            e = lmdb_err("put", rc);
            goto out;
        }
        if ((i + 1) % TXN_RECORDS == 0 || i + 1 == n) {
            rc = mdb_txn_commit(txn);
            txn = NULL;
            if (rc != 0) {
                e = lmdb_err("commit", rc);
                goto out;
            }
        }
    }
    t1 = now_ns();
out:
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    rm_rf(dir);
    free(rec);
    return e ? e : (int64_t)(t1 - t0);
}

static int sql_err(sqlite3 *db, const char *what)
{
    progress(1, "B3 sqlite %s: %s", what, db ? sqlite3_errmsg(db) : "?");
    return -EIO;
}

int64_t b3_sqlite_queue(size_t n, size_t klen, size_t vlen)
{
    char path[PATH_MAX], side[PATH_MAX + 8];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    unsigned char kbuf[8], *value;
    uint64_t t0 = 0, t1 = 0;
    int e = 0;

    value = malloc(vlen ? vlen : 1);
    if (!value)
        return -ENOMEM;
    fill_pattern(value, vlen, 4);
    data_path(path, sizeof path, "b3");
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        e = sql_err(db, "open");
        goto out;
    }
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE q(seq INTEGER PRIMARY KEY, k BLOB, v BLOB);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO q(seq, k, v) VALUES (?, ?, ?)", -1,
                           &st, NULL) != SQLITE_OK) {
        e = sql_err(db, "setup");
        goto out;
    }
    t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        if (i % TXN_RECORDS == 0 &&
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
            e = sql_err(db, "begin");
            goto out;
        }
        put_be64(kbuf, i);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_blob(st, 2, kbuf, (int)(klen < 8 ? klen : 8),
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, value, (int)vlen, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            e = sql_err(db, "insert");
            goto out;
        }
        sqlite3_reset(st);
        if (((i + 1) % TXN_RECORDS == 0 || i + 1 == n) &&
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            e = sql_err(db, "commit");
            goto out;
        }
    }
    t1 = now_ns();
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    free(value);
    return e ? e : (int64_t)(t1 - t0);
}

int64_t bcrc_pass(const void *buf, size_t total, size_t chunk, uint32_t *out)
{
    const unsigned char *p = buf;
    uint32_t acc = 0;
    uint64_t t0, t1;
    if (chunk == 0)
        return -EINVAL;
    t0 = now_ns();
    for (size_t off = 0; off < total; off += chunk) {
        size_t len = total - off < chunk ? total - off : chunk;
        acc ^= crc32c(0, p + off, len);
    }
    t1 = now_ns();
    *out = acc;
    return (int64_t)(t1 - t0);
}
