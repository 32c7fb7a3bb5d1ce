/*
 * group_state.c - a consumer group's record: in memory (members, their
 * subscriptions, targets and owned partitions), its byte encoding (layout in
 * group.h), its load and save in LMDB, and recomputing the assignment.
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

void evl__group_state_free(evl_gstate_t *g)
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

int evl__group_state_topic(evl_gstate_t *g, const char *name, bool add)
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

int evl__group_state_owner(const evl_gstate_t *g, int32_t topic, int32_t part)
{
    for (uint32_t m = 0; m < g->nmembers; m++)
        for (uint32_t i = 0; i < g->members[m].nowned; i++)
            if (g->members[m].owned[i].topic == topic && g->members[m].owned[i].part == part)
                return (int)m;
    return -1;
}

int evl__group_state_find_member(const evl_gstate_t *g, const char *id)
{
    for (uint32_t m = 0; m < g->nmembers; m++)
        if (!strcmp(g->members[m].id, id))
            return (int)m;
    return -1;
}

void evl__group_state_remove_member(evl_gstate_t *g, int m)
{
    member_free(&g->members[m]);
    memmove(&g->members[m], &g->members[m + 1],
            (g->nmembers - (uint32_t)m - 1) * sizeof *g->members);
    g->nmembers--;
}

bool evl__group_state_has_tp(const evl_gtp_t *v, uint32_t n, int32_t t, int32_t p)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].topic == t && v[i].part == p)
            return true;
    return false;
}

bool evl__group_state_subscribed(const evl_gmember_t *m, int32_t t)
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
        if (r.bad || evl__group_state_topic(g, name, true) != (int)t) {
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
        evl__group_state_free(g);
        return EVL_ECORRUPT;
    }
    return 0;
}

int evl__group_state_load(MDB_txn *txn, const MDB_dbi *dbi, const char *group, evl_gstate_t *g,
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

int evl__group_state_save(MDB_txn *txn, const MDB_dbi *dbi, const char *group, const evl_gstate_t *g)
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
bool evl__group_state_refresh_nparts(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g)
{
    bool changed = false;
    for (uint32_t t = 0; t < g->ntopics; t++) {
        bool subbed = false;
        for (uint32_t m = 0; m < g->nmembers && !subbed; m++)
            subbed = evl__group_state_subscribed(&g->members[m], (int32_t)t);
        int32_t n = subbed ? topic_nparts_txn(txn, dbi, g->topics[t]) : g->nparts[t];
        if (n != g->nparts[t]) {
            g->nparts[t] = n;
            changed = true;
        }
    }
    return changed;
}

/* A new generation: fresh counts, a fresh assignment. */
int evl__group_state_rebalance(MDB_txn *txn, const MDB_dbi *dbi, evl_gstate_t *g)
{
    evl__group_state_refresh_nparts(txn, dbi, g);
    int rc = evl__group_assign(g);
    if (rc == 0)
        g->gen++;
    return rc;
}

