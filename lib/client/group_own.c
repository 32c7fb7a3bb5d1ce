/*
 * group_own.c - what a member owns: its plan (target against owned), claims
 * and releases, and commits fenced against ownership and generation (see
 * group.c's comment for the rules).
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

/* ---- plan, release, claim ------------------------------------------------------- */

struct plan_arg {
    const char *group, *id;
    evl_grp_plan_t *plan;
};

static int plan_fn(MDB_txn *txn, const MDB_dbi *dbi, void *arg)
{
    struct plan_arg *a = arg;
    evl_grp_plan_t *pl = a->plan;
    evl__group_plan_free(pl);
    evl_gstate_t g;
    bool exists;
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    pl->gen = g.gen;
    int m = evl__group_state_find_member(&g, a->id);
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
    evl__group_state_free(&g);
    return rc;
}

void evl__group_plan_free(evl_grp_plan_t *pl)
{
    for (size_t i = 0; i < pl->nnames; i++)
        free(pl->names[i]);
    free(pl->names);
    free(pl->target);
    free(pl->owned);
    memset(pl, 0, sizeof *pl);
}

int evl__group_plan(evl_grp_t *grp, evl_grp_plan_t *plan)
{
    memset(plan, 0, sizeof *plan);
    struct plan_arg a = {grp->name, grp->id, plan};
    int rc = evl__meta_read(grp->log->meta, plan_fn, &a);
    if (rc)
        evl__group_plan_free(plan);
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
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int m = evl__group_state_find_member(&g, a->id);
    if (m < 0) {
        evl__group_state_free(&g);
        return a->claimed ? EVL_EFENCED : 0; /* removed meanwhile */
    }
    evl_gmember_t *mb = &g.members[m];
    if (a->claimed) {
        evl_gtp_t *nv = evl__realloc(mb->owned, (mb->nowned + a->n + 1) * sizeof *nv);
        if (!nv) {
            evl__group_state_free(&g);
            return EVL_ENOMEM;
        }
        mb->owned = nv;
    }
    for (size_t i = 0; i < a->n && !rc; i++) {
        int t = evl__group_state_topic(&g, a->tps[i].topic, false);
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
        if (t < 0 || !evl__group_state_has_tp(mb->target, mb->ntarget, t, p))
            continue;
        int owner = evl__group_state_owner(&g, t, p);
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
        rc = evl__group_state_save(txn, dbi, a->group, &g);
    evl__group_state_free(&g);
    return rc;
}

int evl__group_release(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n)
{
    if (!grp->joined || n == 0)
        return 0;
    struct own_arg a = {grp->name, grp->id, tps, n, NULL, NULL};
    int rc = evl__meta_write(grp->log->meta, own_fn, &a);
    evl__group_bump(grp->sf); /* wake the members waiting to claim these */
    return rc;
}

int evl__group_claim(evl_grp_t *grp, const evl_topic_partition_t *tps, size_t n, bool *claimed,
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
    int rc = evl__group_state_load(txn, dbi, a->group, &g, &exists);
    if (rc)
        return rc;
    int me = a->id ? evl__group_state_find_member(&g, a->id) : -1;
    for (size_t i = 0; i < a->n && !rc; i++) {
        int t = evl__group_state_topic(&g, a->tps[i].topic, false);
        int owner = t >= 0 ? evl__group_state_owner(&g, t, a->tps[i].partition) : -1;
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
        rc = evl__group_state_save(txn, dbi, a->group, &g); /* so that evl_group_list shows it */
    evl__group_state_free(&g);
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

int evl__group_commit(evl_log_t *log, const char *group, evl_grp_t *grp, int64_t gen,
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
