/*
 * meta.c - the LMDB environment under DIR/meta (see meta.h).
 */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "os.h"

struct evl_meta {
    dev_t dev;
    ino_t ino;
    int refs;
    MDB_env *env;
    MDB_dbi dbi[EVL_DB__COUNT];
    size_t mapsize;
    /* Transactions hold it shared; a map resize holds it exclusive, because
     * mdb_env_set_mapsize needs no transaction active in this process. */
    pthread_rwlock_t resize;
    /* The areas' tables (evl__meta_table), opened once per environment:
     * added under tables_mu, read without it (an entry is whole before
     * ntables counts it), so that a check inside a transaction never takes
     * a lock that evl__meta_table holds across one. */
    pthread_mutex_t tables_mu;
    struct meta_table { char name[EVL_META_TABLE_NAME_MAX + 1]; MDB_dbi dbi; }
        tables[EVL_META_TABLES_MAX];
    _Atomic size_t ntables;
    /* The loggers of the handles sharing the environment (with
     * registry_mu): its messages go to the first, so that a handle that
     * closes takes its callback with it instead of leaving a dangling one
     * (the first opener's callback used to stay for the process's life). */
    const evl_logger_t **lgs;
    size_t nlgs;
    struct evl_meta *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static evl_meta_t *registry;

/* With registry_mu. */
static int lg_add(evl_meta_t *m, const evl_logger_t *lg)
{
    const evl_logger_t **v = evl__realloc(m->lgs, (m->nlgs + 1) * sizeof *v);
    if (!v)
        return EVL_ENOMEM;
    m->lgs = v;
    m->lgs[m->nlgs++] = lg;
    return 0;
}

static void lg_remove(evl_meta_t *m, const evl_logger_t *lg)
{
    for (size_t i = 0; i < m->nlgs; i++)
        if (m->lgs[i] == lg) {
            memmove(&m->lgs[i], &m->lgs[i + 1], (m->nlgs - i - 1) * sizeof *m->lgs);
            m->nlgs--;
            return;
        }
}

/* A message of the shared environment, to a handle that is still open. The
 * callback runs with registry_mu held: callbacks may not call the library. */
static void meta_logf(evl_meta_t *m, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void meta_logf(evl_meta_t *m, int level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; i < m->nlgs; i++)
        if (m->lgs[i] && m->lgs[i]->cb) {
            evl__logf(m->lgs[i], level, "%s", buf);
            break;
        }
    pthread_mutex_unlock(&registry_mu);
}

static const char *const db_names[EVL_DB__COUNT] = {"topics", "offsets", "groups", "log",
                                                          "producers"};

int evl__meta_rc(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return EVL_ENOTFOUND;
    case MDB_KEYEXIST:
        return EVL_EEXIST;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        return EVL_ECORRUPT;
    case MDB_INVALID: /* "not an LMDB file": damage, not a version */
        return EVL_ECORRUPT;
    case MDB_VERSION_MISMATCH:
        return EVL_EVERSION;
    case MDB_MAP_FULL:
        return EVL_ENOSPC;
    default:
        return rc > 0 ? -rc : EVL_EIO;
    }
}

/*
 * LMDB maps data.mdb and reads pages through the mapping, trusting the file
 * to hold the pages its meta page points at: a truncated file (a bad card, a
 * careless copy) is SIGBUS inside LMDB, and a file that is not LMDB's comes
 * back as MDB_INVALID, which would read as "another version". So the file
 * is checked first, against LMDB's own layout (lmdb.h, mdb.c; stable since
 * 0.9, data format version 1): two meta pages at the start, each a 16-byte
 * page header then MDB_meta:
 *   +16 u32 mm_magic 0xBEEFC0DE   +20 u32 mm_version (1)
 *   +40 MDB_db mm_dbs[0] (free pages): +40 u32 md_pad = the page size,
 *       +80 u64 md_root   +88 mm_dbs[1] (main): +128 u64 md_root
 *   +136 u64 mm_last_pg: the last page allocated   +144 u64 mm_txnid
 * (64-bit layout: pointers and size_t are 8 bytes.) The newer meta wins, as
 * in LMDB. Its two roots must lie inside the file, and the file must hold
 * at least half the pages up to mm_last_pg: not all of them, because a page
 * allocated and freed in one transaction is counted but never written, so a
 * healthy file may end a few pages early. The pages are read before the
 * file's size (another process's commit in between only makes the file
 * longer), and a file that fails is read once more before it is called
 * damaged.
 */
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_NO_PAGE UINT64_MAX /* P_INVALID: an empty database's root */

/* 0, EVL_ECORRUPT or EVL_EVERSION with the reason in why. */
static int data_file_ok(int fd, char *why, size_t size)
{
    uint8_t m0[160], m1[160];
    struct stat st;
    bool have0 = pread(fd, m0, sizeof m0, 0) == (ssize_t)sizeof m0;
    uint64_t psize = have0 ? evl_ld32(m0 + 40) : 0;
    bool psize_ok = psize >= 512 && psize <= (1u << 16) && !(psize & (psize - 1));
    bool have1 = have0 && psize_ok &&
                 pread(fd, m1, sizeof m1, (off_t)psize) == (ssize_t)sizeof m1;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size == 0)
        return 0; /* made but never written: LMDB starts it afresh */
    if (!have0 || evl_ld32(m0 + 16) != LMDB_MAGIC) {
        snprintf(why, size, "is not an LMDB file (%lld bytes)", (long long)st.st_size);
        return EVL_ECORRUPT;
    }
    if (evl_ld32(m0 + 20) != 1) {
        snprintf(why, size, "has LMDB data version %u, not 1", evl_ld32(m0 + 20));
        return EVL_EVERSION;
    }
    if (!psize_ok || !have1 || (uint64_t)st.st_size < 2 * psize) {
        snprintf(why, size, "has no second meta page (%lld bytes, page size %llu)",
                 (long long)st.st_size, (unsigned long long)psize);
        return EVL_ECORRUPT;
    }
    const uint8_t *m = m0;
    if (evl_ld32(m1 + 16) == LMDB_MAGIC && evl_ld64(m1 + 144) > evl_ld64(m0 + 144))
        m = m1;
    uint64_t pages = (uint64_t)st.st_size / psize, last = evl_ld64(m + 136);
    uint64_t roots[2] = {evl_ld64(m + 80), evl_ld64(m + 128)};
    for (int i = 0; i < 2; i++)
        if (roots[i] != LMDB_NO_PAGE && roots[i] >= pages) {
            snprintf(why, size, "is truncated: %lld bytes (%llu pages), but a root is page %llu",
                     (long long)st.st_size, (unsigned long long)pages,
                     (unsigned long long)roots[i]);
            return EVL_ECORRUPT;
        }
    if (last >= (uint64_t)INT64_MAX / psize || pages * 2 < last + 1) {
        snprintf(why, size, "is truncated: %lld bytes (%llu pages), but its meta page counts "
                 "pages 0..%llu", (long long)st.st_size, (unsigned long long)pages,
                 (unsigned long long)last);
        return EVL_ECORRUPT;
    }
    return 0;
}

static int check_data_file(const char *dir, const evl_logger_t *lg)
{
    char path[PATH_MAX], why[200] = "";
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = data_file_ok(fd, why, sizeof why);
    if (rc == EVL_ECORRUPT)
        rc = data_file_ok(fd, why, sizeof why); /* a commit may have raced the look */
    close(fd);
    if (rc == EVL_ECORRUPT || rc == EVL_EVERSION)
        evl__logf(lg, EVL_LOG_ERR, "meta: %s %s: the metadata is %s", path, why,
                  rc == EVL_ECORRUPT ? "damaged" : "of another version");
    return rc;
}

static int env_setup(evl_meta_t *m, const char *dir, const evl_logger_t *lg)
{
    int crc = check_data_file(dir, lg);
    if (crc)
        return crc;
    int rc = mdb_env_create(&m->env);
    if (rc)
        return evl__meta_rc(rc);
    mdb_env_set_maxdbs(m->env, EVL_DB__COUNT + EVL_META_TABLES_MAX);
    mdb_env_set_maxreaders(m->env, 1024);
    mdb_env_set_mapsize(m->env, m->mapsize);
    /* MDB_NOTLS: read transactions are short and not tied to threads. */
    rc = mdb_env_open(m->env, dir, MDB_NOTLS, 0644);
    if (rc)
        return evl__meta_rc(rc);
    int dead = 0;
    mdb_reader_check(m->env, &dead);
    if (dead)
        evl__logf(lg, EVL_LOG_NOTICE, "meta: cleared %d stale reader slot(s)", dead);
    MDB_envinfo info;
    if (mdb_env_info(m->env, &info) == 0 && info.me_mapsize > m->mapsize)
        m->mapsize = info.me_mapsize;
    MDB_txn *txn;
    /* Another process may have grown the map since we set its size: adopt
     * its size and begin again (as run() does for every transaction). */
    while ((rc = mdb_txn_begin(m->env, NULL, 0, &txn)) == MDB_MAP_RESIZED)
        if ((rc = mdb_env_set_mapsize(m->env, 0)))
            return evl__meta_rc(rc);
    if (rc)
        return evl__meta_rc(rc);
    for (int i = 0; i < EVL_DB__COUNT; i++)
        if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &m->dbi[i]))) {
            mdb_txn_abort(txn);
            return evl__meta_rc(rc);
        }
    return evl__meta_rc(mdb_txn_commit(txn));
}

/* Set a damaged data.mdb aside (repair mode), keeping it for inspection. */
static int set_aside(const char *dir, const evl_logger_t *lg)
{
    char from[PATH_MAX], to[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/data.mdb", dir);
    snprintf(to, sizeof to, "%s/data.mdb.damaged-%lld", dir, (long long)evl_now_ms());
    int rc = evl__os_rename(from, to);
    if (rc == 0)
        evl__logf(lg, EVL_LOG_WARNING, "meta: repair: the damaged %s was renamed to %s; the "
                  "metadata is rebuilt from the topics' files", from, to);
    return rc;
}

/* Release an environment no handle shares any more (with registry_mu). */
static void meta_free(evl_meta_t *m)
{
    if (m->env)
        mdb_env_close(m->env);
    pthread_rwlock_destroy(&m->resize);
    pthread_mutex_destroy(&m->tables_mu);
    free(m->lgs);
    free(m);
}

int evl__meta_open(const char *dir, size_t mapsize, const evl_logger_t *lg, bool repair,
                   evl_meta_t **out)
{
    *out = NULL;
    int rc = evl__os_mkdirs(dir, 0755);
    if (rc)
        return rc;
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    pthread_mutex_lock(&registry_mu);
    for (evl_meta_t *m = registry; m; m = m->next)
        if (m->dev == st.st_dev && m->ino == st.st_ino) {
            rc = lg_add(m, lg);
            if (rc == 0) {
                m->refs++;
                *out = m;
            }
            pthread_mutex_unlock(&registry_mu);
            return rc;
        }
    evl_meta_t *m = evl__calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&registry_mu);
        return EVL_ENOMEM;
    }
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->refs = 1;
    m->mapsize = mapsize;
    pthread_rwlock_init(&m->resize, NULL);
    pthread_mutex_init(&m->tables_mu, NULL);
    rc = lg_add(m, lg);
    if (rc == 0)
        rc = env_setup(m, dir, lg);
    if (rc == EVL_ECORRUPT && repair && (rc = set_aside(dir, lg)) == 0) {
        if (m->env)
            mdb_env_close(m->env);
        m->env = NULL;
        rc = env_setup(m, dir, lg);
    }
    if (rc) {
        meta_free(m);
        pthread_mutex_unlock(&registry_mu);
        return rc;
    }
    m->next = registry;
    registry = m;
    *out = m;
    pthread_mutex_unlock(&registry_mu);
    return 0;
}

void evl__meta_close(evl_meta_t *m, const evl_logger_t *lg)
{
    if (!m)
        return;
    pthread_mutex_lock(&registry_mu);
    lg_remove(m, lg);
    if (--m->refs == 0) {
        for (evl_meta_t **pp = &registry; *pp; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        meta_free(m);
    }
    pthread_mutex_unlock(&registry_mu);
}

/* Grow (or adopt another process's larger) map size. */
static int resize(evl_meta_t *m, bool grow)
{
    pthread_rwlock_wrlock(&m->resize);
    int rc;
    if (grow) {
        MDB_envinfo info;
        mdb_env_info(m->env, &info);
        size_t want = info.me_mapsize * 2;
        rc = mdb_env_set_mapsize(m->env, want);
        if (rc == 0) {
            m->mapsize = want;
            meta_logf(m, EVL_LOG_INFO, "meta: map grown to %zu bytes", want);
        }
    } else {
        rc = mdb_env_set_mapsize(m->env, 0);
    }
    pthread_rwlock_unlock(&m->resize);
    return evl__meta_rc(rc);
}

static int run(evl_meta_t *m, evl_meta_fn *fn, void *arg, bool write)
{
    for (int attempt = 0; attempt < 32; attempt++) {
        pthread_rwlock_rdlock(&m->resize);
        MDB_txn *txn;
        int rc = mdb_txn_begin(m->env, NULL, write ? 0 : MDB_RDONLY, &txn);
        if (rc == MDB_MAP_RESIZED) {
            pthread_rwlock_unlock(&m->resize);
            if ((rc = resize(m, false)))
                return rc;
            continue;
        }
        if (rc) {
            pthread_rwlock_unlock(&m->resize);
            return evl__meta_rc(rc);
        }
        int urc = fn(txn, m->dbi, arg);
        if (urc == 0) {
            rc = write ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), 0);
        } else {
            mdb_txn_abort(txn);
            rc = MDB_SUCCESS;
        }
        pthread_rwlock_unlock(&m->resize);
        if (urc == evl__meta_rc(MDB_MAP_FULL) || rc == MDB_MAP_FULL) {
            if ((rc = resize(m, true)))
                return rc;
            continue;
        }
        return urc ? urc : evl__meta_rc(rc);
    }
    return EVL_ENOSPC;
}

int evl__meta_write(evl_meta_t *m, evl_meta_fn *fn, void *arg) { return run(m, fn, arg, true); }
int evl__meta_read(evl_meta_t *m, evl_meta_fn *fn, void *arg) { return run(m, fn, arg, false); }

typedef struct open_table {
    const char *name;
    MDB_dbi dbi;
} open_table_t;

static int open_table_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    (void)dbi;
    open_table_t *o = arg;
    return evl__meta_rc(mdb_dbi_open(txn, o->name, MDB_CREATE, &o->dbi));
}

int evl__meta_table(evl_meta_t *m, const char *name, MDB_dbi *out)
{
    /* One mdb_dbi_open at a time in the process, in a transaction of its
     * own that ends before the next (LMDB's rule for it). */
    pthread_mutex_lock(&m->tables_mu);
    size_t n = atomic_load(&m->ntables);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m->tables[i].name, name)) {
            *out = m->tables[i].dbi;
            pthread_mutex_unlock(&m->tables_mu);
            return 0;
        }
    int rc = EVL_EFULL;
    if (n < EVL_META_TABLES_MAX) {
        open_table_t o = {name, 0};
        if ((rc = evl__meta_write(m, open_table_fn, &o)) == 0) {
            snprintf(m->tables[n].name, sizeof m->tables[n].name, "%s", name);
            m->tables[n].dbi = o.dbi;
            atomic_store_explicit(&m->ntables, n + 1, memory_order_release);
            *out = o.dbi;
        }
    }
    pthread_mutex_unlock(&m->tables_mu);
    return rc;
}

bool evl__meta_table_known(evl_meta_t *m, MDB_dbi dbi)
{
    size_t n = atomic_load_explicit(&m->ntables, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (m->tables[i].dbi == dbi)
            return true;
    return false;
}
