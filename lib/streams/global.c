/*
 * global.c - global tables (Kafka's GlobalKTable) and stream-global-table
 * joins.
 *
 * Each instance keeps every partition of each global table's topic in one
 * LMDB environment, state.dir/APPLICATION_ID/global (a cache of the
 * topics, which are their own changelogs): entries keyed by the table's
 * index byte and the record key, and per (table, partition) the offset
 * applied up to, written in the same transaction as the entries.
 * evl_streams_start brings it to the topics' ends before any task runs;
 * then each stream thread applies what is new before a batch.
 *
 * Exactly once: a batch reads the global tables through one read
 * transaction (an LMDB snapshot) taken before its intent, and the intent
 * names the snapshot's positions. A replay of that batch compares them
 * with the store's: equal, it reads the store; the store has moved on, it
 * builds a scratch copy from the topics up to those positions and reads
 * that. Either way the replay joins with the values the first attempt
 * saw, unless the topic was compacted past a record the snapshot held
 * meanwhile (compaction keeps each key's newest value: the copy then has
 * that one).
 */
#include "streams_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPOS "\xff\xffg"
#define GKEY_LEN (sizeof GPOS - 1 + 5)

/* ---- building ---- */

EVL_API evl_ktable_t *evl_global_table(evl_streams_builder_t *b, const char *topic,
                                       const char *store)
{
    if (!b)
        return NULL;
    if (!topic || !*topic) {
        evl__builder_fail(b, "global table: no topic");
        return NULL;
    }
    if (evl__topo_store_check(b, store))
        return NULL;
    size_t ng = 0;
    for (size_t i = 0; i < b->nnodes; i++)
        ng += b->nodes[i]->kind == N_GTABLE;
    if (ng >= 200) {
        evl__builder_fail(b, "global table: at most 200");
        return NULL;
    }
    evl_node_t *n = evl__topo_node(b, NULL, N_GTABLE);
    if (!n)
        return NULL;
    n->gidx = (int)ng;
    if (!(n->topic = strdup(topic)) || !(n->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return (evl_ktable_t *)n;
}

EVL_API evl_kstream_t *evl_stream_join_global(evl_kstream_t *s, evl_ktable_t *gt,
                                              evl_xform_fn *keyfn, void *keyarg, evl_join_fn *fn,
                                              void *arg, int how)
{
    evl_node_t *g = (evl_node_t *)gt;
    if (!s || !g)
        return NULL;
    evl_streams_builder_t *b = s->b;
    if (g->b != b || g->kind != N_GTABLE || !fn ||
        (how != EVL_JOIN_INNER && how != EVL_JOIN_LEFT)) {
        evl__builder_fail(b, "global join: a global table of this builder, a joiner, "
                             "EVL_JOIN_INNER or EVL_JOIN_LEFT");
        return NULL;
    }
    evl_node_t *n = evl__topo_node(b, s, N_GJOIN);
    if (!n)
        return NULL;
    n->fn.xform = keyfn;
    n->arg = keyarg;
    n->sjoin = fn;
    n->join_how = how;
    n->join = g; /* no parent link: the table is in no sub-topology */
    n->join_arg = arg; /* the joiner's (arg is the key selector's) */
    return n;
}

/* ---- the store ---- */

static void gpos_key(uint8_t *k, int gidx, int p)
{
    memcpy(k, GPOS, sizeof GPOS - 1);
    k[sizeof GPOS - 1] = (uint8_t)gidx;
    for (int i = 0; i < 4; i++)
        k[sizeof GPOS + i] = (uint8_t)((uint32_t)p >> (24 - 8 * i));
}

static int64_t gpos_get(MDB_txn *txn, MDB_dbi dbi, int gidx, int p)
{
    uint8_t k[GKEY_LEN];
    gpos_key(k, gidx, p);
    MDB_val mk = {sizeof k, k}, mv;
    if (mdb_get(txn, dbi, &mk, &mv) || mv.mv_size != 8)
        return 0;
    return (int64_t)be64get(mv.mv_data);
}

static int env_make(const char *dir, MDB_env **env, MDB_dbi *dbi)
{
    int rc = evl__mkdirs(dir);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = evl__mdb_rc(mdb_env_create(env));
    if (!rc)
        rc = evl__mdb_rc(mdb_env_set_mapsize(*env, (size_t)1 << 32));
    if (!rc)
        rc = evl__mdb_rc(mdb_env_open(*env, dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, 0644));
    if (!rc)
        rc = evl__mdb_rc(mdb_txn_begin(*env, NULL, 0, &txn));
    if (!rc)
        rc = evl__mdb_rc(mdb_dbi_open(txn, NULL, 0, dbi));
    if (!rc) {
        rc = evl__mdb_rc(mdb_txn_commit(txn));
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

/* Apply partition p of table gi from its position up to limit (-1: the
 * end) through reader rd into txn. */
static int apply(evl_streams_t *app, MDB_txn *txn, MDB_dbi dbi, int gi, int p, evl_reader_t *rd,
                 int64_t limit)
{
    evl_node_t *n = app->glob->tables[gi];
    int64_t pos = gpos_get(txn, dbi, gi, p), next = pos;
    if (limit >= 0 && pos >= limit)
        return 0;
    /* retention may have taken records the store has not seen (a new
     * store, or one long stopped): on from the log's start then, as
     * Kafka's global stores go on from the earliest offset; keys whose
     * records went keep the values the store had */
    evl_partition_info_t pi;
    int64_t from = pos;
    if (evl_partition_info(app->log, n->topic, p, &pi) == 0 && from < pi.start_offset)
        from = pi.start_offset;
    int rc = evl_reader_position(rd) == from ? 0 : evl_reader_seek(rd, from);
    while (!rc) {
        const evl_record_t *rec;
        int got = evl_reader_next(rd, 0, &rec);
        if (got == EVL_ETIMEDOUT)
            break;
        if ((rc = got))
            break;
        int64_t off = evl_record_offset(rec);
        if (limit >= 0 && off >= limit)
            break;
        next = off + 1;
        size_t kl, vl;
        const void *k = evl_record_key(rec, &kl);
        const void *v = evl_record_value(rec, &vl);
        evl_srec_t r = {k, k ? kl : 0, v, v ? vl : 0, 0};
        void *kown = NULL, *vown = NULL;
        bool bad_key;
        if ((rc = evl__serde_apply(n->kserde, n->vserde, false, &r, &kown, &vown, &bad_key))) {
            if (app->deser_continue) {
                atomic_fetch_add(&app->metrics[EVL_SM_SKIPPED], 1);
                rc = 0;
                continue;
            }
            evl__app_fail(app, rc, "global table %s/%d@%lld: the %s does not deserialize: %s",
                          n->topic, p, (long long)off, bad_key ? "key" : "value",
                          evl_strerror(rc));
            break;
        }
        if (r.key && r.key_len <= 500) { /* a table has no null keys; longer cannot be stored */
            uint8_t key[512];
            key[0] = (uint8_t)gi;
            memcpy(key + 1, r.key, r.key_len);
            MDB_val mk = {r.key_len + 1, key}, mv = {r.value_len, (void *)r.value};
            rc = r.value ? evl__mdb_rc(mdb_put(txn, dbi, &mk, &mv, 0))
                         : evl__mdb_rc(mdb_del(txn, dbi, &mk, NULL));
            if (rc == EVL_ENOTFOUND)
                rc = 0;
        }
        free(kown);
        free(vown);
    }
    if (!rc && next != pos) {
        uint8_t k[GKEY_LEN], v[8];
        gpos_key(k, gi, p);
        be64put(v, (uint64_t)next);
        MDB_val mk = {sizeof k, k}, mv = {8, v};
        rc = evl__mdb_rc(mdb_put(txn, dbi, &mk, &mv, 0));
    }
    return rc;
}

int evl__global_open(evl_streams_t *app, char *err, size_t errlen)
{
    evl_streams_builder_t *b = app->b;
    size_t n = 0;
    for (size_t i = 0; i < b->nnodes; i++)
        n += b->nodes[i]->kind == N_GTABLE;
    if (!n)
        return 0;
    evl_global_t *g = calloc(1, sizeof *g);
    if (!g)
        return EVL_ENOMEM;
    app->glob = g;
    pthread_mutex_init(&g->mu, NULL);
    g->tables = calloc(n, sizeof *g->tables);
    g->parts = calloc(n, sizeof *g->parts);
    g->rd = calloc(n, sizeof *g->rd);
    if (!g->tables || !g->parts || !g->rd)
        return EVL_ENOMEM;
    for (size_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i]->kind == N_GTABLE)
            g->tables[b->nodes[i]->gidx] = b->nodes[i];
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        int p = evl_topic_partitions(app->log, g->tables[i]->topic);
        if (p == EVL_ENOTFOUND) {
            snprintf(err, errlen, "global table topic '%s' does not exist", g->tables[i]->topic);
            return p;
        }
        if (p < 0)
            return p;
        g->parts[i] = p;
        if (!(g->rd[i] = calloc((size_t)p, sizeof *g->rd[i])))
            return EVL_ENOMEM;
        for (int k = 0; k < p; k++) {
            int rc = evl_reader_open(app->log, g->tables[i]->topic, k, &g->rd[i][k]);
            if (rc)
                return rc;
        }
    }
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s/global", app->state_dir, app->app_id) < 0)
        return EVL_ENOMEM;
    int rc = env_make(dir, &g->env, &g->dbi);
    free(dir);
    return rc;
}

int evl__global_refresh(evl_streams_t *app)
{
    evl_global_t *g = app->glob;
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    MDB_txn *txn = NULL;
    int rc = evl__mdb_rc(mdb_txn_begin(g->env, NULL, 0, &txn));
    for (size_t i = 0; !rc && i < g->n; i++)
        for (int p = 0; !rc && p < g->parts[i]; p++)
            rc = apply(app, txn, g->dbi, (int)i, p, g->rd[i][p], -1);
    if (!rc)
        rc = evl__mdb_rc(mdb_txn_commit(txn));
    else if (txn)
        mdb_txn_abort(txn);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void evl__global_close(evl_streams_t *app)
{
    evl_global_t *g = app->glob;
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        for (int p = 0; g->rd[i] && p < g->parts[i]; p++)
            evl_reader_close(g->rd[i][p]);
        free(g->rd[i]);
    }
    if (g->env)
        mdb_env_close(g->env);
    pthread_mutex_destroy(&g->mu);
    free(g->tables);
    free(g->parts);
    free(g->rd);
    free(g);
    app->glob = NULL;
}

/* ---- a batch's snapshot ---- */

/* The positions an intent names: pos[i][p], -1 where it names none. */
static int64_t **positions_parse(evl_global_t *g, const char *at)
{
    int64_t **pos = calloc(g->n, sizeof *pos);
    for (size_t i = 0; pos && i < g->n; i++) {
        if (!(pos[i] = malloc((size_t)g->parts[i] * sizeof **pos))) {
            for (size_t k = 0; k < i; k++)
                free(pos[k]);
            free(pos);
            return NULL;
        }
        for (int p = 0; p < g->parts[i]; p++)
            pos[i][p] = -1;
    }
    for (const char *l = at; pos && l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long long gi, p, off;
        if (sscanf(l, "g %lld %lld %lld", &gi, &p, &off) == 3 && gi >= 0 &&
            (size_t)gi < g->n && p >= 0 && p < g->parts[gi] && off >= 0)
            pos[gi][p] = off;
    }
    return pos;
}

static void positions_free(evl_global_t *g, int64_t **pos)
{
    for (size_t i = 0; pos && i < g->n; i++)
        free(pos[i]);
    free(pos);
}

/* A scratch store holding the tables as of pos, for a replay. */
static int scratch_build(evl_task_t *t, evl_gsnap_t *gs, int64_t **pos)
{
    evl_streams_t *app = evl__task_app(t);
    evl_global_t *g = app->glob;
    if (asprintf(&gs->scratch_dir, "%s/%s/global-replay-%d_%d", app->state_dir, app->app_id,
                 evl__task_sub(t)->id, evl__task_partition(t)) < 0) {
        gs->scratch_dir = NULL;
        return EVL_ENOMEM;
    }
    int rc = evl__rmtree(gs->scratch_dir);
    if (!rc)
        rc = env_make(gs->scratch_dir, &gs->scratch, &gs->dbi);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = evl__mdb_rc(mdb_txn_begin(gs->scratch, NULL, 0, &txn));
    for (size_t i = 0; !rc && i < g->n; i++)
        for (int p = 0; !rc && p < g->parts[i]; p++) {
            if (pos[i][p] <= 0)
                continue;
            evl_reader_t *rd;
            if ((rc = evl_reader_open(app->log, g->tables[i]->topic, p, &rd)))
                break;
            rc = apply(app, txn, gs->dbi, (int)i, p, rd, pos[i][p]);
            evl_reader_close(rd);
        }
    if (!rc)
        rc = evl__mdb_rc(mdb_txn_commit(txn));
    else if (txn)
        mdb_txn_abort(txn);
    return rc;
}

int evl__global_begin(evl_task_t *t, evl_gsnap_t *gs, const char *at, char **lines)
{
    evl_global_t *g = evl__task_app(t)->glob;
    memset(gs, 0, sizeof *gs);
    if (lines)
        *lines = NULL;
    if (!g)
        return 0;
    gs->dbi = g->dbi;
    int rc = evl__mdb_rc(mdb_txn_begin(g->env, NULL, MDB_RDONLY, &gs->txn));
    if (rc)
        return rc;
    if (at) {
        /* a replay: the store itself if it stands where the intent says */
        int64_t **pos = positions_parse(g, at);
        if (!pos)
            return EVL_ENOMEM;
        bool same = true;
        for (size_t i = 0; i < g->n; i++)
            for (int p = 0; p < g->parts[i]; p++)
                same &= pos[i][p] < 0 || gpos_get(gs->txn, g->dbi, (int)i, p) == pos[i][p];
        if (!same) {
            mdb_txn_abort(gs->txn);
            gs->txn = NULL;
            rc = scratch_build(t, gs, pos);
            if (!rc)
                rc = evl__mdb_rc(mdb_txn_begin(gs->scratch, NULL, MDB_RDONLY, &gs->txn));
        }
        positions_free(g, pos);
        return rc;
    }
    if (!lines)
        return 0;
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return EVL_ENOMEM;
    for (size_t i = 0; i < g->n; i++)
        for (int p = 0; p < g->parts[i]; p++)
            fprintf(f, "g %zu %d %lld\n", i, p, (long long)gpos_get(gs->txn, g->dbi, (int)i, p));
    if (fclose(f))
        return EVL_ENOMEM;
    *lines = s;
    return 0;
}

void evl__global_end(evl_gsnap_t *gs)
{
    if (gs->txn)
        mdb_txn_abort(gs->txn);
    gs->txn = NULL;
    if (gs->scratch) {
        mdb_env_close(gs->scratch);
        gs->scratch = NULL;
        /* a scratch copy left behind is cleared the next time */
        (void)evl__rmtree(gs->scratch_dir);
    }
    free(gs->scratch_dir);
    gs->scratch_dir = NULL;
}

static int gidx_of(evl_global_t *g, const char *store)
{
    for (size_t i = 0; g && i < g->n; i++)
        if (!strcmp(g->tables[i]->store, store))
            return (int)i;
    return -1;
}

static int snap_get(evl_gsnap_t *gs, int gi, const void *key, size_t klen, const void **val,
                    size_t *vlen)
{
    if (!gs->txn || klen > 500)
        return EVL_ENOTFOUND;
    uint8_t k[512];
    k[0] = (uint8_t)gi;
    if (klen)
        memcpy(k + 1, key, klen);
    MDB_val mk = {klen + 1, k}, mv;
    int rc = evl__mdb_rc(mdb_get(gs->txn, gs->dbi, &mk, &mv));
    if (!rc) {
        *val = mv.mv_data;
        *vlen = mv.mv_size;
    }
    return rc;
}

int evl__global_get(evl_task_t *t, const char *store, const void *key, size_t klen,
                    const void **val, size_t *vlen)
{
    int gi = gidx_of(evl__task_app(t)->glob, store);
    return gi < 0 ? EVL_ENOTFOUND : snap_get(evl__task_gsnap(t), gi, key, klen, val, vlen);
}

int evl__global_join_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    const void *lk = r->key;
    size_t lkl = r->key_len;
    evl_emit_t kem = {0}, em = {0};
    int rc = 0;
    if (n->fn.xform) {
        evl__emit_reset(&kem, N_MAP, r);
        rc = evl__emit_one(&kem, n->fn.xform(n->arg, r, &kem));
        if (rc >= 0) {
            lk = kem.recs[0].key;
            lkl = kem.recs[0].key_len;
        }
    }
    const void *tv = NULL;
    size_t tl = 0;
    if (rc >= 0 && lk) {
        rc = snap_get(evl__task_gsnap(t), n->join->gidx, lk, lkl, &tv, &tl);
        if (rc == EVL_ENOTFOUND) {
            tv = NULL;
            rc = 0;
        }
    }
    if (rc >= 0 && (tv || n->join_how == EVL_JOIN_LEFT)) {
        evl__emit_reset(&em, N_MAP_VALUES, r);
        rc = evl__emit_one(&em, n->sjoin(n->join_arg, r, tv, tv ? tl : 0, &em));
        if (rc >= 0) {
            evl_srec_t o = {r->key, r->key_len, em.recs[0].value ? em.recs[0].value : "",
                            em.recs[0].value_len, r->timestamp};
            rc = evl__task_forward(t, n, &o);
        }
    }
    evl__emit_free(&kem);
    evl__emit_free(&em);
    return rc < 0 ? rc : 0;
}

int evl__global_query(evl_streams_t *app, const char *store, const void *from, size_t fl,
                      const void *to, size_t tl, bool prefix, evl_entry_fn *cb, void *arg)
{
    evl_global_t *g = app->glob;
    int gi = gidx_of(g, store);
    if (gi < 0)
        return EVL_ENOTFOUND;
    MDB_txn *txn;
    int rc = evl__mdb_rc(mdb_txn_begin(g->env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc;
    rc = evl__visit(txn, g->dbi, gi, from ? from : "", from ? fl : 0, prefix, to, tl, cb, arg);
    mdb_txn_abort(txn);
    return rc;
}

#ifdef EVL_TESTING
/* For the fuzz target: an intent's global positions, for two tables of
 * 3 and 1 partitions. text: NUL-terminated. */
int evl__streams_fuzz_positions(const char *text)
{
    int parts[2] = {3, 1};
    evl_global_t g = {.n = 2, .parts = parts};
    int64_t **pos = positions_parse(&g, text);
    if (!pos)
        return EVL_ENOMEM;
    int64_t sum = 0;
    for (size_t i = 0; i < g.n; i++)
        for (int p = 0; p < parts[i]; p++)
            sum += pos[i][p] >= 0;
    positions_free(&g, pos);
    return (int)sum;
}
#endif
