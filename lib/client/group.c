/*
 * group.c - consumer groups: the group record, assignors, membership,
 * liveness, fenced commits and the evl_group_* administration calls.
 *
 * Design (see group.h for the byte layouts):
 *
 *  - The truth is one LMDB record per group (EVL_DB_GROUPS), changed only in
 *    write transactions, so every decision (who is a member, who owns which
 *    partition, is this commit fenced) is taken against one consistent
 *    snapshot, across threads and processes alike, with no coordinator.
 *    Whoever changes membership (a joiner, a leaver, a member that notices a
 *    dead peer) recomputes the assignment in the same transaction.
 *
 *  - Cooperative rebalancing: an assignment (a member's "target") is only
 *    a wish. A member reads a partition only after claiming it (its "owned"
 *    list), and a claim succeeds only when no other member owns it. Owners
 *    that lose a partition in the target first run the revoke callback,
 *    then release it; the release bumps the state word, the new owner wakes
 *    and claims. So no partition is ever read by two members at once, and
 *    every member hears what it loses before it loses it.
 *
 *  - Liveness without a session timeout: each member holds flock(LOCK_EX)
 *    on its own lock file for its whole life. A peer that gets
 *    flock(LOCK_EX|LOCK_NB) on it knows the holder is gone (the kernel drops
 *    flocks of dead processes at once; flocks belong to open file
 *    descriptions, so threads of one process, each with its own fd, are
 *    told apart too). A member that has not polled for its
 *    max.poll.interval.ms (heartbeat word in its lock file) is removed too,
 *    but keeps its lock file: its next poll finds itself removed and joins
 *    again. Lock files are created under a temporary name and renamed once
 *    locked, so the clean-up of orphaned *.lock files never races a joiner.
 *
 *  - Prompt notice: the shared `state` word is bumped (and futex-woken)
 *    after each change; pollers compare it (one load, no syscall) and wait
 *    on it together with their partitions' futex words.
 *
 *    Caveat: a process that fork()s while a member inherits the lock's open
 *    file description; the lock then lives as long as the child too. close
 *    unlocks explicitly (LOCK_UN), so only a parent that dies while such a
 *    child lives is seen late (when its heartbeat goes stale). As for every
 *    handle, a child must not use its parent's consumers.
 *
 *  - Fencing: a commit is checked in the same write transaction that stores
 *    it (offsets.c key layout, which retention also reads). A member may
 *    commit a partition it owns, whatever its generation (it keeps owning
 *    across generations, and a revoke callback may commit); a partition
 *    owned by another member never; an unowned one only if the member is
 *    in the current generation. A consumer outside the group (manual
 *    assignment) may commit only partitions no member owns.
 */
#include "group.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "meta.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "topic.h"

#define GFILE_SIZE 4096
#define GROUP_VERSION 1u
#define GSTATE_MAGIC "EVLGRP1"
#define MFILE_MAGIC "EVLMBR1"

struct evl_gfile {
    char magic[8];
    _Atomic uint32_t seq;      /* change counter; futex word */
};

struct evl_mfile {
    char magic[8];
    _Atomic int64_t heartbeat_ms; /* CLOCK_MONOTONIC ms of the last poll */
    int64_t max_poll_ms;          /* stale after this long without one */
    int32_t pid;
};

struct evl_grp {
    evl_log_t *log;
    char *name;                /* group id */
    char *dir;                 /* DIR/groups/GROUP */
    char id[EVL_MEMBER_ID_MAX];
    int state_fd;
    struct evl_gfile *sf;
    int lock_fd;               /* held with LOCK_EX while a member */
    struct evl_mfile *mf;
    bool joined;
};

static int64_t mono_ms(void) { return evl_mono_ns() / 1000000; }

/* ---- the group record in memory ------------------------------------------- */

static void member_free(evl_gmember_t *m)
{
    free(m->subs);
    free(m->target);
    free(m->owned);
    m->subs = NULL;
    m->target = m->owned = NULL;
    m->nsubs = m->ntarget = m->nowned = 0;
}

void evl__gstate_free(evl_gstate_t *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->ntopics; i++)
        free(g->topics[i]);
    for (uint32_t i = 0; i < g->nmembers; i++)
        member_free(&g->members[i]);
    free(g->topics);
    free(g->nparts);
    free(g->members);
    memset(g, 0, sizeof *g);
}

int evl__gstate_topic(evl_gstate_t *g, const char *name, bool add)
{
    for (uint32_t i = 0; i < g->ntopics; i++)
        if (!strcmp(g->topics[i], name))
            return (int)i;
    if (!add)
        return -1;
    char **t = evl__realloc(g->topics, (g->ntopics + 1) * sizeof *t);
    if (!t)
        return -1;
    g->topics = t;
    int32_t *np = evl__realloc(g->nparts, (g->ntopics + 1) * sizeof *np);
    if (!np)
        return -1;
    g->nparts = np;
    if (!(g->topics[g->ntopics] = evl__strdup(name)))
        return -1;
    g->nparts[g->ntopics] = 0;
    return (int)g->ntopics++;
}

int evl__gstate_owner(const evl_gstate_t *g, int32_t topic, int32_t part)
{
    for (uint32_t m = 0; m < g->nmembers; m++)
        for (uint32_t i = 0; i < g->members[m].nowned; i++)
            if (g->members[m].owned[i].topic == topic && g->members[m].owned[i].part == part)
                return (int)m;
    return -1;
}

static int find_member(const evl_gstate_t *g, const char *id)
{
    for (uint32_t m = 0; m < g->nmembers; m++)
        if (!strcmp(g->members[m].id, id))
            return (int)m;
    return -1;
}

static void remove_member(evl_gstate_t *g, int m)
{
    member_free(&g->members[m]);
    memmove(&g->members[m], &g->members[m + 1],
            (g->nmembers - (uint32_t)m - 1) * sizeof *g->members);
    g->nmembers--;
}

static bool has_tp(const evl_gtp_t *v, uint32_t n, int32_t t, int32_t p)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].topic == t && v[i].part == p)
            return true;
    return false;
}

static bool subscribed(const evl_gmember_t *m, int32_t t)
{
    for (uint32_t i = 0; i < m->nsubs; i++)
        if (m->subs[i] == t)
            return true;
    return false;
}

/* ---- encoding ---------------------------------------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void wb_put(struct wbuf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = evl__realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void wb_u32(struct wbuf *b, uint32_t v)
{
    uint8_t x[4];
    evl_st32(x, v);
    wb_put(b, x, 4);
}

static void wb_i64(struct wbuf *b, int64_t v)
{
    uint8_t x[8];
    evl_st64(x, (uint64_t)v);
    wb_put(b, x, 8);
}

static void wb_str(struct wbuf *b, const char *s)
{
    size_t n = strlen(s);
    uint8_t x[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    wb_put(b, x, 2);
    wb_put(b, s, n);
}

static void wb_tps(struct wbuf *b, const evl_gtp_t *v, uint32_t n, const int32_t *map)
{
    wb_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        wb_u32(b, (uint32_t)map[v[i].topic]);
        wb_u32(b, (uint32_t)v[i].part);
    }
}

/* Encode g, dropping topics that nothing refers to any more. */
static int gstate_encode(const evl_gstate_t *g, struct wbuf *b)
{
    int32_t *map = evl__calloc(g->ntopics + 1, sizeof *map);
    if (!map)
        return EVL_ENOMEM;
    for (uint32_t m = 0; m < g->nmembers; m++) {
        const evl_gmember_t *mb = &g->members[m];
        for (uint32_t i = 0; i < mb->nsubs; i++)
            map[mb->subs[i]] = 1;
        for (uint32_t i = 0; i < mb->ntarget; i++)
            map[mb->target[i].topic] = 1;
        for (uint32_t i = 0; i < mb->nowned; i++)
            map[mb->owned[i].topic] = 1;
    }
    uint32_t used = 0;
    for (uint32_t t = 0; t < g->ntopics; t++)
        map[t] = map[t] ? (int32_t)used++ : -1;
    wb_u32(b, GROUP_VERSION);
    wb_i64(b, g->gen);
    wb_u32(b, used);
    for (uint32_t t = 0; t < g->ntopics; t++)
        if (map[t] >= 0) {
            wb_str(b, g->topics[t]);
            wb_u32(b, (uint32_t)g->nparts[t]);
        }
    wb_u32(b, g->nmembers);
    for (uint32_t m = 0; m < g->nmembers; m++) {
        const evl_gmember_t *mb = &g->members[m];
        wb_str(b, mb->id);
        wb_put(b, &mb->strategy, 1);
        wb_u32(b, mb->nsubs);
        for (uint32_t i = 0; i < mb->nsubs; i++)
            wb_u32(b, (uint32_t)map[mb->subs[i]]);
        wb_tps(b, mb->target, mb->ntarget, map);
        wb_tps(b, mb->owned, mb->nowned, map);
    }
    free(map);
    return b->oom ? EVL_ENOMEM : 0;
}

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static bool rb_need(struct rbuf *r, size_t n)
{
    if (r->bad || r->len - r->off < n)
        r->bad = true;
    return !r->bad;
}

static uint32_t rb_u32(struct rbuf *r)
{
    if (!rb_need(r, 4))
        return 0;
    uint32_t v = evl_ld32(r->p + r->off);
    r->off += 4;
    return v;
}

static int64_t rb_i64(struct rbuf *r)
{
    if (!rb_need(r, 8))
        return 0;
    int64_t v = (int64_t)evl_ld64(r->p + r->off);
    r->off += 8;
    return v;
}

/* A string of at most max - 1 bytes copied into dst (max > 0). */
static void rb_strbuf(struct rbuf *r, char *dst, size_t max)
{
    dst[0] = 0;
    if (!rb_need(r, 2))
        return;
    size_t n = r->p[r->off] | (size_t)r->p[r->off + 1] << 8;
    r->off += 2;
    if (n >= max || !rb_need(r, n)) {
        r->bad = true;
        return;
    }
    memcpy(dst, r->p + r->off, n);
    dst[n] = 0;
    r->off += n;
}

static evl_gtp_t *rb_tps(struct rbuf *r, uint32_t *n, uint32_t ntopics)
{
    *n = rb_u32(r);
    if (r->bad || *n > (r->len - r->off) / 8) {
        r->bad = true;
        *n = 0;
        return NULL;
    }
    evl_gtp_t *v = evl__malloc((*n ? *n : 1) * sizeof *v);
    if (!v) {
        r->bad = true;
        *n = 0;
        return NULL;
    }
    for (uint32_t i = 0; i < *n; i++) {
        v[i].topic = (int32_t)rb_u32(r);
        v[i].part = (int32_t)rb_u32(r);
        if ((uint32_t)v[i].topic >= ntopics || v[i].part < 0)
            r->bad = true;
    }
    return v;
}

static int gstate_decode(const void *data, size_t len, evl_gstate_t *g)
{
    struct rbuf r = {data, len, 0, false};
    memset(g, 0, sizeof *g);
    if (rb_u32(&r) != GROUP_VERSION)
        return r.bad ? EVL_ECORRUPT : EVL_EVERSION;
    g->gen = rb_i64(&r);
    uint32_t nt = rb_u32(&r);
    if (r.bad || nt > len / 6)
        return EVL_ECORRUPT;
    char name[256];
    for (uint32_t t = 0; t < nt && !r.bad; t++) {
        rb_strbuf(&r, name, sizeof name);
        int32_t np = (int32_t)rb_u32(&r);
        if (r.bad || evl__gstate_topic(g, name, true) != (int)t) {
            r.bad = true;
            break;
        }
        g->nparts[t] = np;
    }
    uint32_t nm = rb_u32(&r);
    if (!r.bad && nm <= len / 16 && (g->members = evl__calloc(nm ? nm : 1, sizeof *g->members)))
        for (uint32_t m = 0; m < nm && !r.bad; m++) {
            evl_gmember_t *mb = &g->members[m];
            g->nmembers++;
            rb_strbuf(&r, mb->id, sizeof mb->id);
            if (rb_need(&r, 1))
                mb->strategy = r.p[r.off++];
            mb->nsubs = rb_u32(&r);
            if (r.bad || mb->nsubs > (len - r.off) / 4 ||
                !(mb->subs = evl__malloc((mb->nsubs ? mb->nsubs : 1) * sizeof *mb->subs))) {
                mb->nsubs = 0;
                r.bad = true;
                break;
            }
            for (uint32_t i = 0; i < mb->nsubs; i++)
                if ((mb->subs[i] = (int32_t)rb_u32(&r)) < 0 || (uint32_t)mb->subs[i] >= g->ntopics)
                    r.bad = true;
            mb->target = rb_tps(&r, &mb->ntarget, g->ntopics);
            mb->owned = rb_tps(&r, &mb->nowned, g->ntopics);
        }
    else
        r.bad = true;
    if (r.bad) {
        evl__gstate_free(g);
        return EVL_ECORRUPT;
    }
    return 0;
}

int evl__gstate_load(MDB_txn *txn, const MDB_dbi *dbi, const char *group, evl_gstate_t *g,
                     bool *exists)
{
    memset(g, 0, sizeof *g);
    *exists = false;
    MDB_val k = {strlen(group), (void *)group}, v;
    int rc = mdb_get(txn, dbi[EVL_DB_GROUPS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return evl__meta_rc(rc);
    *exists = true;
    return gstate_decode(v.mv_data, v.mv_size, g);
}

int evl__gstate_save(MDB_txn *txn, const MDB_dbi *dbi, const char *group, const evl_gstate_t *g)
{
    struct wbuf b = {0};
    int rc = gstate_encode(g, &b);
    if (rc == 0) {
        MDB_val k = {strlen(group), (void *)group}, v = {b.len, b.p};
        rc = evl__meta_rc(mdb_put(txn, dbi[EVL_DB_GROUPS], &k, &v, 0));
    }
    free(b.p);
    return rc;
}

/* The partition count of topic name, read inside the group's own
 * transaction, so that an assignment and the counts it used are one
 * snapshot. 0: no such topic. */
static int32_t topic_nparts_txn(MDB_txn *txn, const MDB_dbi *dbi, const char *name)
{
    int n = evl__topic_nparts_txn(txn, dbi, name);
    return n > 0 ? n : 0;
}

/* Reload partition counts of topics someone subscribes to; true if any
 * differs from what the last assignment used. */
static bool refresh_nparts(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g)
{
    bool changed = false;
    for (uint32_t t = 0; t < g->ntopics; t++) {
        bool subbed = false;
        for (uint32_t m = 0; m < g->nmembers && !subbed; m++)
            subbed = subscribed(&g->members[m], (int32_t)t);
        int32_t n = subbed ? topic_nparts_txn(txn, dbi, g->topics[t]) : g->nparts[t];
        if (n != g->nparts[t]) {
            g->nparts[t] = n;
            changed = true;
        }
    }
    return changed;
}

/* A new generation: fresh counts, a fresh assignment. */
static int rebalance(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g)
{
    refresh_nparts(txn, dbi, g);
    int rc = evl__group_assign(g);
    if (rc == 0)
        g->gen++;
    return rc;
}

/* ---- files: the state word and member lock files ------------------------------ */

/* Map a group file, its blocks allocated first: a store into a page of a
 * file grown with ftruncate on a full file system is SIGBUS, where
 * fallocate fails cleanly with ENOSPC (and allocates the blocks a file made
 * sparse by an older version lacks). */
static int map_file(int fd, void **out)
{
    int rc = evl__os_allocate(fd, 0, GFILE_SIZE);
    return rc ? rc : evl__os_mmap(fd, GFILE_SIZE, 1, out);
}

static void gfile_bump(struct evl_gfile *sf)
{
    atomic_fetch_add_explicit(&sf->seq, 1, memory_order_release);
    evl__futex_wake_all(&sf->seq);
}

/* Bump the state word of the group in dir when no handle has it mapped. */
static void bump_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/state", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    void *p;
    if (fd < 0)
        return;
    if (map_file(fd, &p) == 0) {
        gfile_bump(p);
        munmap(p, GFILE_SIZE);
    }
    close(fd);
}

int evl__group_dir(evl_log_t *log, const char *group, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/groups/%s", log->dir, group);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

enum { M_ALIVE = 0, M_DEAD, M_STALE };

/* Is member id of the group in dir alive? DEAD: nobody holds its lock (the
 * process is gone); STALE: it holds it but has not polled for longer than
 * its max.poll.interval.ms. Errors other than a missing file count as
 * alive: taking partitions from a live member is the one mistake to avoid. */
static int member_status(const char *dir, const char *id, int64_t now_ms)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.lock", dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? M_DEAD : M_ALIVE;
    int st = M_ALIVE;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        st = M_DEAD;
    } else {
        /* The owner stores the heartbeat with one aligned store; read it
         * twice so a torn copy is never acted upon. */
        struct evl_mfile a, b;
        for (int i = 0; i < 4; i++) {
            if (pread(fd, &a, sizeof a, 0) != (ssize_t)sizeof a ||
                pread(fd, &b, sizeof b, 0) != (ssize_t)sizeof b)
                break;
            int64_t ha = atomic_load(&a.heartbeat_ms), hb = atomic_load(&b.heartbeat_ms);
            if (ha != hb)
                continue;
            if (ha > 0 && a.max_poll_ms > 0 && now_ms - ha > a.max_poll_ms)
                st = M_STALE;
            break;
        }
    }
    close(fd);
    return st;
}

/* A joiner's ID.tmp is locked from just after it is made until renamed to
 * ID.lock; one that nobody holds and that is older than a few seconds was
 * left by a joiner that died in between: remove it. */
#define TMP_GRACE_S 5
static void tmp_gc(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_mtime + TMP_GRACE_S < time(NULL) &&
        flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlink(path);
    close(fd);
}

/* Remove *.lock files of members that are gone and not in the group (left
 * behind by members removed as stalled that then died). ids: current
 * members. Lock files appear only after being locked (made under a .tmp
 * name, then renamed), so a free *.lock is never a joiner's. */
void evl__group_gc_files(const char *dir, char (*ids)[EVL_MEMBER_ID_MAX], size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) {
            tmp_gc(dir, e->d_name);
            continue;
        }
        if (len < 6 || len - 5 >= EVL_MEMBER_ID_MAX || strcmp(e->d_name + len - 5, ".lock"))
            continue;
        char id[EVL_MEMBER_ID_MAX];
        memcpy(id, e->d_name, len - 5);
        id[len - 5] = 0;
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = !strcmp(ids[i], id);
        if (!listed && member_status(dir, id, mono_ms()) == M_DEAD) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* ---- removing dead members (tick and admin) ------------------------------------- */

struct ids_arg {
    const char *group;
    char (*ids)[EVL_MEMBER_ID_MAX];
    size_t n;
    bool grown;    /* a subscribed topic's partition count changed */
    bool exists;
    int64_t gen;
};

static int ids_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct ids_arg *a = arg;
    evl_gstate_t g;
    free(a->ids);
    a->ids = NULL;
    a->n = 0;
    a->grown = false;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &a->exists);
    if (rc)
        return rc;
    a->gen = g.gen;
    if (g.nmembers && !(a->ids = evl__malloc(g.nmembers * sizeof *a->ids)))
        rc = EVL_ENOMEM;
    for (uint32_t m = 0; m < g.nmembers && !rc; m++)
        memcpy(a->ids[a->n++], g.members[m].id, EVL_MEMBER_ID_MAX);
    if (!rc)
        a->grown = refresh_nparts(txn, dbi, &g);
    evl__gstate_free(&g);
    return rc;
}

struct remove_arg {
    const char *group;
    char (*ids)[EVL_MEMBER_ID_MAX];
    bool *dead;          /* in: which to remove; out: false if already gone */
    size_t n;
    bool changed;
};

static int remove_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct remove_arg *a = arg;
    evl_gstate_t g;
    bool exists, removed = false;
    a->changed = false;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &exists);
    if (rc || !exists)
        return rc;
    for (size_t i = 0; i < a->n; i++) {
        int m = a->dead[i] ? find_member(&g, a->ids[i]) : -1;
        if (m >= 0) {
            remove_member(&g, m);
            removed = true;
        }
    }
    bool grown = refresh_nparts(txn, dbi, &g);
    if (removed || grown) {
        if (!(rc = rebalance(txn, dbi, &g)))
            rc = evl__gstate_save(txn, dbi, a->group, &g);
        a->changed = rc == 0;
    }
    evl__gstate_free(&g);
    return rc;
}

/* Remove members of group that are dead or stalled (not self), and
 * rebalance if a subscribed topic grew. sf: the state word to bump, or NULL
 * to open it. */
static int reap(evl_log_t *log, const char *group, const char *dir, const char *self,
                struct evl_gfile *sf, bool *exists, int64_t *gen)
{
    struct ids_arg ia = {group, NULL, 0, false, false, 0};
    int rc = evl__meta_read(log->meta, ids_fn, &ia);
    if (exists)
        *exists = ia.exists;
    if (gen)
        *gen = ia.gen;
    if (rc || !ia.exists) {
        free(ia.ids);
        return rc;
    }
    bool *dead = evl__calloc(ia.n + 1, sizeof *dead);
    int *status = evl__calloc(ia.n + 1, sizeof *status);
    size_t ndead = 0;
    if (!dead || !status) {
        rc = EVL_ENOMEM;
        goto out;
    }
    int64_t now = mono_ms();
    for (size_t i = 0; i < ia.n; i++) {
        if (self && !strcmp(ia.ids[i], self))
            continue;
        status[i] = member_status(dir, ia.ids[i], now);
        if (status[i] != M_ALIVE) {
            dead[i] = true;
            ndead++;
            evl__logf(&log->lg, EVL_LOG_NOTICE, "group %s: member %s %s, removing it", group,
                      ia.ids[i], status[i] == M_DEAD ? "is gone" : "stopped polling");
        }
    }
    if (!ndead && !ia.grown)
        goto out;
    struct remove_arg ra = {group, ia.ids, dead, ia.n, false};
    rc = evl__meta_write(log->meta, remove_fn, &ra);
    if (rc || !ra.changed)
        goto out;
    for (size_t i = 0; i < ia.n; i++)
        if (dead[i] && status[i] == M_DEAD) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s.lock", dir, ia.ids[i]);
            unlink(path);
        }
    if (sf)
        gfile_bump(sf);
    else
        bump_dir(dir);
out:
    free(dead);
    free(status);
    free(ia.ids);
    return rc;
}

/* ---- the membership handle ----------------------------------------------------- */

int evl__grp_open(evl_log_t *log, const char *group, evl_grp_t **out)
{
    *out = NULL;
    if (!evl__name_valid(group))
        return EVL_EBADNAME;
    evl_grp_t *grp = evl__calloc(1, sizeof *grp);
    if (!grp)
        return EVL_ENOMEM;
    grp->log = log;
    grp->state_fd = grp->lock_fd = -1;
    char dir[PATH_MAX], path[PATH_MAX + 8];
    int rc = evl__group_dir(log, group, dir, sizeof dir);
    if (rc || (rc = evl__os_mkdirs(dir, 0755)))
        goto fail;
    rc = EVL_ENOMEM;
    if (!(grp->name = evl__strdup(group)) || !(grp->dir = evl__strdup(dir)))
        goto fail;
    snprintf(path, sizeof path, "%s/state", dir);
    if ((grp->state_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        goto fail;
    }
    void *p;
    if ((rc = map_file(grp->state_fd, &p)))
        goto fail;
    grp->sf = p;
    if (grp->sf->magic[0] == 0)
        memcpy(grp->sf->magic, GSTATE_MAGIC, 8); /* racing writers write the same */
    *out = grp;
    return 0;
fail:
    evl__grp_close(grp);
    return rc;
}

void evl__grp_close(evl_grp_t *grp)
{
    if (!grp)
        return;
    evl__grp_leave(grp);
    if (grp->sf)
        munmap(grp->sf, GFILE_SIZE);
    if (grp->state_fd >= 0)
        close(grp->state_fd);
    free(grp->name);
    free(grp->dir);
    free(grp);
}

const char *evl__grp_member_id(const evl_grp_t *grp) { return grp->id; }
_Atomic uint32_t *evl__grp_seq_word(evl_grp_t *grp) { return &grp->sf->seq; }

void evl__grp_heartbeat(evl_grp_t *grp)
{
    if (grp->mf)
        atomic_store_explicit(&grp->mf->heartbeat_ms, mono_ms(), memory_order_relaxed);
}

/* Create and lock this member's lock file: made as ID.tmp, locked, then
 * renamed, so that ID.lock exists only while locked. */
static int lock_file_create(evl_grp_t *grp, int64_t max_poll_ms)
{
    static _Atomic uint32_t counter;
    uint32_t rnd;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)evl_mono_ns() ^ (uint32_t)getpid() * 2654435761u;
    snprintf(grp->id, sizeof grp->id, "m%d-%u-%08x", (int)getpid(),
             atomic_fetch_add(&counter, 1) + 1, rnd);
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", grp->dir, grp->id);
    snprintf(path, sizeof path, "%s/%s.lock", grp->dir, grp->id);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    void *p = NULL;
    int rc = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : map_file(fd, &p);
    if (rc == 0) {
        struct evl_mfile *mf = p;
        memcpy(mf->magic, MFILE_MAGIC, 8);
        mf->max_poll_ms = max_poll_ms;
        mf->pid = (int32_t)getpid();
        atomic_store(&mf->heartbeat_ms, mono_ms());
        if (rename(tmp, path) < 0)
            rc = -errno;
    }
    if (rc) {
        if (p)
            munmap(p, GFILE_SIZE);
        unlink(tmp);
        close(fd);
        grp->id[0] = 0;
        return rc;
    }
    grp->lock_fd = fd;
    grp->mf = p;
    return 0;
}

struct join_arg {
    const char *group, *id;
    const char *const *topics;
    size_t n;
    int strategy;
    bool leave;
    char (*ids)[EVL_MEMBER_ID_MAX]; /* out: members after the change */
    size_t nids;
};

static int join_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct join_arg *a = arg;
    evl_gstate_t g;
    bool exists;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int m = find_member(&g, a->id);
    if (a->leave) {
        if (m < 0) {
            evl__gstate_free(&g);
            return 0;
        }
        remove_member(&g, m);
    } else {
        if (m < 0) {
            evl_gmember_t *nm = evl__realloc(g.members, (g.nmembers + 1) * sizeof *nm);
            if (!nm) {
                evl__gstate_free(&g);
                return EVL_ENOMEM;
            }
            g.members = nm;
            m = (int)g.nmembers++;
            memset(&nm[m], 0, sizeof nm[m]);
            snprintf(nm[m].id, sizeof nm[m].id, "%s", a->id);
        }
        evl_gmember_t *mb = &g.members[m];
        mb->strategy = (uint8_t)a->strategy;
        free(mb->subs);
        mb->nsubs = 0;
        if (!(mb->subs = evl__malloc((a->n + 1) * sizeof *mb->subs)))
            rc = EVL_ENOMEM;
        for (size_t i = 0; i < a->n && !rc; i++) {
            int t = evl__gstate_topic(&g, a->topics[i], true);
            if (t < 0)
                rc = EVL_ENOMEM;
            else if (!subscribed(mb, t))
                mb->subs[mb->nsubs++] = t;
        }
    }
    if (!rc && !(rc = rebalance(txn, dbi, &g)))
        rc = evl__gstate_save(txn, dbi, a->group, &g);
    free(a->ids);
    a->ids = NULL;
    a->nids = 0;
    if (!rc && g.nmembers && (a->ids = evl__malloc(g.nmembers * sizeof *a->ids)))
        for (uint32_t i = 0; i < g.nmembers; i++)
            memcpy(a->ids[a->nids++], g.members[i].id, EVL_MEMBER_ID_MAX);
    evl__gstate_free(&g);
    return rc;
}

int evl__grp_join(evl_grp_t *grp, const char *const *topics, size_t n, int strategy,
                  int64_t max_poll_ms)
{
    int rc;
    if (grp->lock_fd < 0 && (rc = lock_file_create(grp, max_poll_ms)))
        return rc;
    evl__grp_heartbeat(grp);
    struct join_arg a = {grp->name, grp->id, topics, n, strategy, false, NULL, 0};
    rc = evl__meta_write(grp->log->meta, join_fn, &a);
    if (rc == 0) {
        grp->joined = true;
        gfile_bump(grp->sf);
        evl__group_gc_files(grp->dir, a.ids, a.nids);
    }
    free(a.ids);
    return rc;
}

int evl__grp_leave(evl_grp_t *grp)
{
    int rc = 0;
    if (grp->joined) {
        struct join_arg a = {grp->name, grp->id, NULL, 0, 0, true, NULL, 0};
        rc = evl__meta_write(grp->log->meta, join_fn, &a);
        free(a.ids);
        grp->joined = false;
        gfile_bump(grp->sf);
    }
    if (grp->lock_fd >= 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.lock", grp->dir, grp->id);
        unlink(path);
        munmap(grp->mf, GFILE_SIZE);
        grp->mf = NULL;
        /* LOCK_UN too: a child forked meanwhile shares this description. */
        flock(grp->lock_fd, LOCK_UN);
        close(grp->lock_fd);
        grp->lock_fd = -1;
    }
    return rc;
}

int evl__group_reap(evl_log_t *log, const char *group)
{
    char dir[PATH_MAX];
    int rc = evl__group_dir(log, group, dir, sizeof dir);
    return rc ? rc : reap(log, group, dir, NULL, NULL, NULL, NULL);
}

int evl__grp_tick(evl_grp_t *grp)
{
    if (!grp->joined)
        return 0;
    return reap(grp->log, grp->name, grp->dir, grp->id, grp->sf, NULL, NULL);
}

/* ---- plan, release, claim ------------------------------------------------------- */

struct plan_arg {
    const char *group, *id;
    evl_grp_plan_t *plan;
};

static int plan_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct plan_arg *a = arg;
    evl_grp_plan_t *pl = a->plan;
    evl__grp_plan_free(pl);
    evl_gstate_t g;
    bool exists;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    pl->gen = g.gen;
    int m = find_member(&g, a->id);
    pl->member = m >= 0;
    if (m >= 0) {
        evl_gmember_t *mb = &g.members[m];
        pl->names = evl__calloc(g.ntopics + 1, sizeof *pl->names);
        pl->target = evl__calloc(mb->ntarget + 1, sizeof *pl->target);
        pl->owned = evl__calloc(mb->nowned + 1, sizeof *pl->owned);
        if (!pl->names || !pl->target || !pl->owned)
            rc = EVL_ENOMEM;
        for (uint32_t t = 0; t < g.ntopics && !rc; t++, pl->nnames++)
            if (!(pl->names[t] = evl__strdup(g.topics[t])))
                rc = EVL_ENOMEM;
        for (uint32_t i = 0; i < mb->ntarget && !rc; i++)
            pl->target[pl->ntarget++] =
                (evl_topic_partition_t){pl->names[mb->target[i].topic], mb->target[i].part, -1};
        for (uint32_t i = 0; i < mb->nowned && !rc; i++)
            pl->owned[pl->nowned++] =
                (evl_topic_partition_t){pl->names[mb->owned[i].topic], mb->owned[i].part, -1};
    }
    evl__gstate_free(&g);
    return rc;
}

void evl__grp_plan_free(evl_grp_plan_t *pl)
{
    for (size_t i = 0; i < pl->nnames; i++)
        free(pl->names[i]);
    free(pl->names);
    free(pl->target);
    free(pl->owned);
    memset(pl, 0, sizeof *pl);
}

int evl__grp_plan(evl_grp_t *grp, evl_grp_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
    struct plan_arg a = {grp->name, grp->id, plan};
    int rc = evl__meta_read(grp->log->meta, plan_fn, &a);
    if (rc)
        evl__grp_plan_free(plan);
    return rc;
}

struct own_arg {
    const char *group, *id;
    const evl_topic_partition_t *tps;
    size_t n;
    bool *claimed;       /* NULL: release */
    int64_t *committed;
};

static int own_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct own_arg *a = arg;
    evl_gstate_t g;
    bool exists, changed = false;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int m = find_member(&g, a->id);
    if (m < 0) {
        evl__gstate_free(&g);
        return a->claimed ? EVL_EFENCED : 0; /* removed meanwhile */
    }
    evl_gmember_t *mb = &g.members[m];
    if (a->claimed) {
        evl_gtp_t *nv = evl__realloc(mb->owned, (mb->nowned + a->n + 1) * sizeof *nv);
        if (!nv) {
            evl__gstate_free(&g);
            return EVL_ENOMEM;
        }
        mb->owned = nv;
    }
    for (size_t i = 0; i < a->n && !rc; i++) {
        int t = evl__gstate_topic(&g, a->tps[i].topic, false);
        int32_t p = a->tps[i].partition;
        if (!a->claimed) {
            for (uint32_t k = 0; t >= 0 && k < mb->nowned; k++)
                if (mb->owned[k].topic == t && mb->owned[k].part == p) {
                    mb->owned[k] = mb->owned[--mb->nowned];
                    changed = true;
                    break;
                }
            continue;
        }
        a->claimed[i] = false;
        a->committed[i] = -1;
        if (t < 0 || !has_tp(mb->target, mb->ntarget, t, p))
            continue;
        int owner = evl__gstate_owner(&g, t, p);
        if (owner >= 0 && owner != m)
            continue; /* its owner has not released it yet */
        if (owner < 0) {
            mb->owned[mb->nowned++] = (evl_gtp_t){t, p};
            changed = true;
        }
        a->claimed[i] = true;
        rc = evl__offset_get_txn(txn, dbi, a->group, a->tps[i].topic, p, &a->committed[i]);
        if (rc == EVL_ENOTFOUND) {
            a->committed[i] = -1;
            rc = 0;
        }
    }
    if (!rc && changed)
        rc = evl__gstate_save(txn, dbi, a->group, &g);
    evl__gstate_free(&g);
    return rc;
}

int evl__grp_release(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n)
{
    if (!grp->joined || n == 0)
        return 0;
    struct own_arg a = {grp->name, grp->id, tps, n, NULL, NULL};
    int rc = evl__meta_write(grp->log->meta, own_fn, &a);
    gfile_bump(grp->sf); /* wake the members waiting to claim these */
    return rc;
}

int evl__grp_claim(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n, bool *claimed,
                   int64_t *committed)
{
    if (!grp->joined)
        return EVL_ESTATE;
    struct own_arg a = {grp->name, grp->id, tps, n, claimed, committed};
    return evl__meta_write(grp->log->meta, own_fn, &a);
}

/* ---- commits ------------------------------------------------------------------- */

struct commit_arg {
    const char *group, *id; /* id NULL: not a member */
    int64_t gen;
    const evl_topic_partition_t *tps;
    size_t n;
    const char *meta;
};

static int commit_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct commit_arg *a = arg;
    evl_gstate_t g;
    bool exists;
    int rc = evl__gstate_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int me = a->id ? find_member(&g, a->id) : -1;
    for (size_t i = 0; i < a->n && !rc; i++) {
        int t = evl__gstate_topic(&g, a->tps[i].topic, false);
        int owner = t >= 0 ? evl__gstate_owner(&g, t, a->tps[i].partition) : -1;
        if (a->id) {
            if (owner >= 0 && owner != me)
                rc = EVL_EFENCED; /* another member reads it now */
            else if (owner < 0 && (me < 0 || a->gen < g.gen))
                rc = EVL_EFENCED; /* a zombie of an older generation */
        } else if (owner >= 0) {
            rc = EVL_EFENCED;     /* not a member, and a member reads it */
        }
        if (!rc)
            rc = evl__offset_put_txn(txn, dbi, a->group, a->tps[i].topic, a->tps[i].partition,
                                     a->tps[i].offset, g.gen, a->meta);
    }
    if (!rc && !exists)
        rc = evl__gstate_save(txn, dbi, a->group, &g); /* so that evl_group_list shows it */
    evl__gstate_free(&g);
    return rc;
}

static int check_tps(const evl_topic_partition_t *tps, size_t n, bool offsets)
{
    for (size_t i = 0; i < n; i++) {
        if (!tps[i].topic || !evl__name_valid(tps[i].topic))
            return EVL_EBADNAME;
        if (tps[i].partition < 0 || (offsets && tps[i].offset < 0))
            return EVL_EINVAL;
    }
    return 0;
}

int evl__grp_commit(evl_log_t *log, const char *group, evl_grp_t *grp, int64_t gen,
                    const evl_topic_partition_t *tps, size_t n, const char *metadata)
{
    int rc = check_tps(tps, n, true);
    if (rc || n == 0)
        return rc;
    /* The group's folder is the evidence that it existed, should the
     * metadata ever be lost (topic_recover.c): members make it, and so does
     * a committer that never joins. */
    char dir[PATH_MAX];
    if (!grp && evl__group_dir(log, group, dir, sizeof dir) == 0 &&
        mkdir(dir, 0755) < 0 && errno == ENOENT)
        evl__os_mkdirs(dir, 0755);
    struct commit_arg a = {group, grp ? grp->id : NULL, gen, tps, n, metadata};
    return evl__meta_write(log->meta, commit_fn, &a);
}
