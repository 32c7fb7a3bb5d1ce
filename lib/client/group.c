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

#include "group_int.h"
#include "config.h"
#include "meta.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "topic.h"

/* ---- removing dead members (tick and admin) ------------------------------------- */

struct ids_arg {
    const char *group;
    char (*ids)[EVL_MEMBER_ID_MAX];
    size_t n;
    bool grown;    /* a evl__group_state_subscribed topic's partition count changed */
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
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &a->exists);
    if (rc)
        return rc;
    a->gen = g.gen;
    if (g.nmembers && !(a->ids = evl__malloc(g.nmembers * sizeof *a->ids)))
        rc = EVL_ENOMEM;
    for (uint32_t m = 0; m < g.nmembers && !rc; m++)
        memcpy(a->ids[a->n++], g.members[m].id, EVL_MEMBER_ID_MAX);
    if (!rc)
        a->grown = evl__group_state_refresh_nparts(txn, dbi, &g);
    evl__group_state_free(&g);
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
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc || !exists)
        return rc;
    for (size_t i = 0; i < a->n; i++) {
        int m = a->dead[i] ? evl__group_state_find_member(&g, a->ids[i]) : -1;
        if (m >= 0) {
            evl__group_state_remove_member(&g, m);
            removed = true;
        }
    }
    bool grown = evl__group_state_refresh_nparts(txn, dbi, &g);
    if (removed || grown) {
        if (!(rc = evl__group_state_rebalance(txn, dbi, &g)))
            rc = evl__group_state_save(txn, dbi, a->group, &g);
        a->changed = rc == 0;
    }
    evl__group_state_free(&g);
    return rc;
}

/* Remove members of group that are dead or stalled (not self), and
 * evl__group_state_rebalance if a evl__group_state_subscribed topic grew. sf: the state word to bump, or NULL
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
    int64_t now = group_mono_ms();
    for (size_t i = 0; i < ia.n; i++) {
        if (self && !strcmp(ia.ids[i], self))
            continue;
        status[i] = evl__group_member_status(dir, ia.ids[i], now);
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
        evl__group_bump(sf);
    else
        evl__group_bump_dir(dir);
out:
    free(dead);
    free(status);
    free(ia.ids);
    return rc;
}


/* ---- the membership handle ----------------------------------------------------- */

int evl__group_open(evl_log_t *log, const char *group, evl_grp_t **out)
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
    if ((rc = evl__group_map_file(grp->state_fd, &p)))
        goto fail;
    grp->sf = p;
    if (grp->sf->magic[0] == 0)
        memcpy(grp->sf->magic, GSTATE_MAGIC, 8); /* racing writers write the same */
    *out = grp;
    return 0;
fail:
    evl__group_close(grp);
    return rc;
}

void evl__group_close(evl_grp_t *grp)
{
    if (!grp)
        return;
    evl__group_leave(grp);
    if (grp->sf)
        munmap(grp->sf, GFILE_SIZE);
    if (grp->state_fd >= 0)
        close(grp->state_fd);
    free(grp->name);
    free(grp->dir);
    free(grp);
}

const char *evl__group_member_id(const evl_grp_t *grp) { return grp->id; }
_Atomic uint32_t *evl__group_seq_word(evl_grp_t *grp) { return &grp->sf->seq; }

void evl__group_heartbeat(evl_grp_t *grp)
{
    if (grp->mf)
        atomic_store_explicit(&grp->mf->heartbeat_ms, group_mono_ms(), memory_order_relaxed);
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
    int rc = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : evl__group_map_file(fd, &p);
    if (rc == 0) {
        struct evl_mfile *mf = p;
        memcpy(mf->magic, MFILE_MAGIC, 8);
        mf->max_poll_ms = max_poll_ms;
        mf->pid = (int32_t)getpid();
        atomic_store(&mf->heartbeat_ms, group_mono_ms());
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
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int m = evl__group_state_find_member(&g, a->id);
    if (a->leave) {
        if (m < 0) {
            evl__group_state_free(&g);
            return 0;
        }
        evl__group_state_remove_member(&g, m);
    } else {
        if (m < 0) {
            evl_gmember_t *nm = evl__realloc(g.members, (g.nmembers + 1) * sizeof *nm);
            if (!nm) {
                evl__group_state_free(&g);
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
            int t = evl__group_state_topic(&g, a->topics[i], true);
            if (t < 0)
                rc = EVL_ENOMEM;
            else if (!evl__group_state_subscribed(mb, t))
                mb->subs[mb->nsubs++] = t;
        }
    }
    if (!rc && !(rc = evl__group_state_rebalance(txn, dbi, &g)))
        rc = evl__group_state_save(txn, dbi, a->group, &g);
    free(a->ids);
    a->ids = NULL;
    a->nids = 0;
    if (!rc && g.nmembers && (a->ids = evl__malloc(g.nmembers * sizeof *a->ids)))
        for (uint32_t i = 0; i < g.nmembers; i++)
            memcpy(a->ids[a->nids++], g.members[i].id, EVL_MEMBER_ID_MAX);
    evl__group_state_free(&g);
    return rc;
}

int evl__group_join(evl_grp_t *grp, const char *const *topics, size_t n, int strategy,
                  int64_t max_poll_ms)
{
    int rc;
    if (grp->lock_fd < 0 && (rc = lock_file_create(grp, max_poll_ms)))
        return rc;
    evl__group_heartbeat(grp);
    struct join_arg a = {grp->name, grp->id, topics, n, strategy, false, NULL, 0};
    rc = evl__meta_write(grp->log->meta, join_fn, &a);
    if (rc == 0) {
        grp->joined = true;
        evl__group_bump(grp->sf);
        evl__group_gc_files(grp->dir, a.ids, a.nids);
    }
    free(a.ids);
    return rc;
}

int evl__group_leave(evl_grp_t *grp)
{
    int rc = 0;
    if (grp->joined) {
        struct join_arg a = {grp->name, grp->id, NULL, 0, 0, true, NULL, 0};
        rc = evl__meta_write(grp->log->meta, join_fn, &a);
        free(a.ids);
        grp->joined = false;
        evl__group_bump(grp->sf);
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

int evl__group_tick(evl_grp_t *grp)
{
    if (!grp->joined)
        return 0;
    return reap(grp->log, grp->name, grp->dir, grp->id, grp->sf, NULL, NULL);
}

