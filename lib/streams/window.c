/*
 * window.c - windowed aggregations: Kafka Streams' TimeWindows (tumbling,
 * hopping), SessionWindows and suppress(untilWindowCloses), in event time.
 * The builder calls that make the N_WAGG nodes, and what those nodes do
 * with a record, inside the task's batch transaction (task.c's
 * deliver() calls evl__window_deliver).
 *
 * Why it is exactly once: everything here is a function of the record,
 * the committed stores and the task's stream time (which is in the
 * checkpoint), so a batch processed again after a crash does and sends
 * exactly the same. No clock is read.
 *
 * Stores (task.c's, one LMDB key space each, changelogged with the rest):
 *  - an aggregation node's store (store_idx, the name given): the open
 *    windows, key = Kafka's windowed key (record key + 8-byte big-endian
 *    start for time windows; record key + end + start for sessions), value
 *    = the aggregate. Queryable as is with evl_streams_store_get;
 *  - its index (store_idx + 1, "NAME/index", made by evl__topo_finish):
 *    'X' + close time (8 bytes, order-preserving) + windowed key, one per
 *    open window, and 'M' -> a lower bound of the close times still there
 *    (every window closing before it is already gone). A record first
 *    sweeps the windows whose close time stream time has reached (they
 *    leave the store: a record for them would be late anyway), scanning
 *    only the index range [M, stream time];
 *  - a suppress node's buffer (its own store, "NAME/suppress"): 'V' +
 *    windowed key -> 8-byte timestamp + the window's latest value, with
 *    the same 'X'/'M' index; at close a window's value is forwarded once
 *    and leaves the buffer. A closed window never comes back (its store
 *    entry is gone and late records are dropped), so a final is final.
 *
 * Close times (stream time >= close: the window is closed): time window
 * end + grace (Kafka: windowEnd <= streamTime - grace); session last
 * record + gap + grace + 1 (Kafka: end < streamTime - gap - grace).
 *
 * Where this differs from Kafka Streams: Kafka keeps a closed session in
 * its store until retention drops the segment, so a record within gap of
 * it (but not late itself) can still merge with it and reopen it; here a
 * closed session is gone, and such a record starts a session of its own.
 * Finals are therefore never followed by an update of the same session.
 * Eager updates of time windows carry the record's timestamp (Kafka: the
 * largest in the window); suppressed finals the largest of the window's
 * updates, as Kafka's buffer does. Record keys with another key as their
 * prefix are skipped, not avoided, by a session lookup's prefix scan.
 */
#include "streams_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W_TIME = 1, W_SESSION = 2 };

#define STORE_KEY_MAX 500        /* task.c's limit on a store key */
#define WKEY_MAX (STORE_KEY_MAX - 9) /* an index key: 'X' + close + wkey */
#define PARAM_MAX ((int64_t)1 << 52) /* sizes, grace, gap (~142,000 years) */
#define TS_MAX ((int64_t)1 << 60)    /* records later than this: dropped */

EVL_API int evl_windowed_key_parse(const void *wkey, size_t len, bool session, size_t *key_len,
                                   int64_t *start, int64_t *end)
{
    size_t tail = session ? 16 : 8;
    if (!wkey || len < tail)
        return EVL_EINVAL;
    const uint8_t *p = (const uint8_t *)wkey + len - tail;
    if (key_len)
        *key_len = len - tail;
    if (start)
        *start = (int64_t)be64get(session ? p + 8 : p);
    if (end)
        *end = session ? (int64_t)be64get(p) : -1;
    return 0;
}

/* ---- building ---- */

static evl_kwindowed_t *windowed(evl_kgrouped_t *g, int kind, int64_t size, int64_t advance,
                                 int64_t grace, int64_t gap)
{
    if (!g)
        return NULL;
    evl_streams_builder_t *b = g->from->b;
    if (b->err[0])
        return NULL;
    if (kind == W_TIME && (size <= 0 || size > PARAM_MAX)) {
        evl__builder_fail(b, "windowed_by: a window size of %lld ms", (long long)size);
        return NULL;
    }
    if (kind == W_TIME && (advance <= 0 || advance > size)) {
        evl__builder_fail(b, "windowed_by: an advance of %lld ms (1 to the size, %lld)",
                          (long long)advance, (long long)size);
        return NULL;
    }
    if (kind == W_SESSION && (gap <= 0 || gap > PARAM_MAX)) {
        evl__builder_fail(b, "session_windowed_by: an inactivity gap of %lld ms",
                          (long long)gap);
        return NULL;
    }
    if (grace < 0 || grace > PARAM_MAX) {
        evl__builder_fail(b, "windowed_by: a grace period of %lld ms", (long long)grace);
        return NULL;
    }
    evl_kwindowed_t *w = calloc(1, sizeof *w);
    evl_kwindowed_t **ws = w ? realloc(b->windows, (b->nwindows + 1) * sizeof *ws) : NULL;
    if (!ws) {
        free(w);
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    b->windows = ws;
    b->windows[b->nwindows++] = w;
    w->g = g;
    w->kind = kind;
    w->size = size;
    w->advance = advance;
    w->grace = grace;
    w->gap = gap;
    return w;
}

EVL_API evl_kwindowed_t *evl_grouped_windowed_by(evl_kgrouped_t *g, int64_t size_ms,
                                                 int64_t advance_ms, int64_t grace_ms)
{
    return windowed(g, W_TIME, size_ms, advance_ms, grace_ms, 0);
}

EVL_API evl_kwindowed_t *evl_grouped_session_windowed_by(evl_kgrouped_t *g, int64_t gap_ms,
                                                         int64_t grace_ms)
{
    return windowed(g, W_SESSION, 0, 0, grace_ms, gap_ms);
}

static evl_ktable_t *wagg(evl_kwindowed_t *w, evl_aggkind_t kind, evl_agg_fn *fn,
                          evl_merge_fn *merge, void *arg, const void *init, size_t init_len,
                          const char *store, const char *what)
{
    if (!w)
        return NULL;
    evl_streams_builder_t *b = w->g->from->b;
    if (b->err[0] || evl__topo_store_check(b, store))
        return NULL;
    if (kind != AGG_COUNT && !fn) {
        evl__builder_fail(b, "%s: no function", what);
        return NULL;
    }
    if (w->kind == W_SESSION && kind != AGG_COUNT && !merge) {
        evl__builder_fail(b, "%s: session windows need evl_session_aggregate and a merger",
                          what);
        return NULL;
    }
    if (w->kind == W_TIME && merge) {
        evl__builder_fail(b, "%s: time windows: evl_windowed_aggregate", what);
        return NULL;
    }
    evl_node_t *from = evl__topo_agg_input(w->g->from, store);
    evl_node_t *n = from ? evl__topo_node(b, from, N_WAGG) : NULL;
    if (!n)
        return NULL;
    n->wkind = w->kind;
    n->wsize = w->size;
    n->wadvance = w->advance;
    n->wgrace = w->grace;
    n->wgap = w->gap;
    n->aggkind = kind;
    n->fn.agg = fn;
    n->wmerge = merge;
    n->arg = arg;
    if (!(n->store = strdup(store)) || (init_len && !(n->init = malloc(init_len)))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    if (init_len)
        memcpy(n->init, init, init_len);
    n->init_len = init_len;
    return (evl_ktable_t *)n;
}

EVL_API evl_ktable_t *evl_windowed_count(evl_kwindowed_t *w, const char *store)
{
    return wagg(w, AGG_COUNT, NULL, NULL, NULL, NULL, 0, store, "windowed_count");
}

EVL_API evl_ktable_t *evl_windowed_reduce(evl_kwindowed_t *w, evl_agg_fn *fn, void *arg,
                                          const char *store)
{
    return wagg(w, AGG_REDUCE, fn, NULL, arg, NULL, 0, store, "windowed_reduce");
}

EVL_API evl_ktable_t *evl_windowed_aggregate(evl_kwindowed_t *w, const void *init,
                                             size_t init_len, evl_agg_fn *fn, void *arg,
                                             const char *store)
{
    return wagg(w, AGG_AGGREGATE, fn, NULL, arg, init, init_len, store, "windowed_aggregate");
}

EVL_API evl_ktable_t *evl_session_aggregate(evl_kwindowed_t *w, const void *init,
                                            size_t init_len, evl_agg_fn *fn, evl_merge_fn *merge,
                                            void *arg, const char *store)
{
    if (w && w->kind == W_SESSION && !merge) {
        evl__builder_fail(w->g->from->b, "session_aggregate: no merger");
        return NULL;
    }
    if (w && w->kind != W_SESSION) {
        evl__builder_fail(w->g->from->b, "session_aggregate: not session windows");
        return NULL;
    }
    return wagg(w, AGG_AGGREGATE, fn, merge, arg, init, init_len, store, "session_aggregate");
}

EVL_API evl_ktable_t *evl_table_suppress_until_window_closes(evl_ktable_t *t)
{
    evl_node_t *p = (evl_node_t *)t;
    if (!p || p->b->err[0])
        return NULL;
    evl_streams_builder_t *b = p->b;
    if (p->kind != N_WAGG || p->suppress) {
        evl__builder_fail(b, "suppress_until_window_closes: not a windowed aggregation's table");
        return NULL;
    }
    /* the buffer's store: a name users cannot give ('/') */
    char name[160];
    for (int i = 0;; i++) {
        if (i)
            snprintf(name, sizeof name, "%s/suppress-%d", p->store, i);
        else
            snprintf(name, sizeof name, "%s/suppress", p->store);
        bool taken = false;
        for (size_t k = 0; k < b->nnodes && !taken; k++)
            taken = b->nodes[k]->store && !strcmp(b->nodes[k]->store, name);
        if (!taken)
            break;
    }
    evl_node_t *n = evl__topo_node(b, p, N_WAGG);
    if (!n)
        return NULL;
    n->suppress = true;
    n->wkind = p->wkind;
    n->wsize = p->wsize;
    n->wadvance = p->wadvance;
    n->wgrace = p->wgrace;
    n->wgap = p->wgap;
    if (!(n->store = strdup(name))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return (evl_ktable_t *)n;
}

/* ---- the index of open windows, and sweeping the closed ones ---- */

/* When the window of windowed key wk closes (n: its aggregation or
 * suppress node). */
static int64_t close_of(const evl_node_t *n, const uint8_t *wk, size_t wkl)
{
    if (n->wkind == W_SESSION) {
        int64_t end = (int64_t)be64get(wk + wkl - 16);
        return sat_add(sat_add(sat_add(end, n->wgap), n->wgrace), 1);
    }
    int64_t start = (int64_t)be64get(wk + wkl - 8);
    return sat_add(sat_add(start, n->wsize), n->wgrace);
}

static int index_key(uint8_t *k, int64_t close, const uint8_t *wk, size_t wkl, size_t *kl)
{
    if (wkl > WKEY_MAX)
        return EVL_ETOOBIG;
    k[0] = 'X';
    enc_time(k + 1, close);
    memcpy(k + 9, wk, wkl);
    *kl = 9 + wkl;
    return 0;
}

/* Add (on) or remove the index entry of wk in store idx. */
static int index_set(evl_task_t *t, evl_node_t *n, int idx, const uint8_t *wk, size_t wkl,
                     bool on)
{
    uint8_t k[STORE_KEY_MAX];
    size_t kl;
    int rc = index_key(k, close_of(n, wk, wkl), wk, wkl, &kl);
    return rc ? rc : evl__task_store_write(t, idx, k, kl, on ? "x" : NULL, on ? 1 : 0);
}

typedef int close_fn(evl_task_t *t, evl_node_t *n, const uint8_t *wk, size_t wkl);

typedef struct sweep {
    evl_task_t *t;
    evl_node_t *n;
    int idx;
    int64_t now;
    close_fn *fn;
} sweep_t;

static int sweep_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    sweep_t *s = arg;
    const uint8_t *k = key;
    if (klen < 9 || k[0] != 'X')
        return 0;
    if (dec_time(k + 1) > s->now)
        return 1; /* the rest closes later */
    int rc = s->fn(s->t, s->n, k + 9, klen - 9);
    if (!rc)
        rc = evl__task_store_write(s->t, s->idx, key, klen, NULL, 0);
    return rc;
}

/* The entries 'X' + close time of index store idx whose time stream
 * time has reached, through cb (a store scan's callback), then the mark
 * moved past now. Only the entries closing between the last mark and now
 * are read. Shared with join.c's stream-stream joins. */
int evl__sweep_index(evl_task_t *t, int idx,
                     int (*cb)(void *arg, const void *key, size_t klen, const void *val,
                               size_t vlen),
                     void *arg)
{
    int64_t now = evl__task_stream_time(t), mark = INT64_MIN;
    const void *v;
    size_t vl;
    int rc = evl__task_store_read(t, idx, "M", 1, &v, &vl);
    if (rc == 0 && vl == 8)
        mark = dec_time(v);
    else if (rc && rc != EVL_ENOTFOUND)
        return rc;
    if (now < mark)
        return 0;
    /* the entries with close times in [mark, now]: from 'X' + mark up to
     * 'X' + (now + 1), which every entry closing at now + 1 or later
     * (longer, with that prefix or a greater one) is past */
    uint8_t lo[9], hi[9];
    lo[0] = hi[0] = 'X';
    enc_time(lo + 1, mark);
    enc_time(hi + 1, sat_add(now, 1));
    if ((rc = evl__task_store_range(t, idx, lo, 9, hi, 9, cb, arg)))
        return rc;
    uint8_t m[8];
    enc_time(m, sat_add(now, 1));
    return evl__task_store_write(t, idx, "M", 1, m, 8);
}

/* Every window of n's index (store idx) that stream time has closed,
 * earliest first, through fn, and out of the index. */
static int sweep(evl_task_t *t, evl_node_t *n, int idx, close_fn *fn)
{
    sweep_t s = {t, n, idx, evl__task_stream_time(t), fn};
    return evl__sweep_index(t, idx, sweep_one, &s);
}

/* An aggregation's closed window leaves its store. */
static int purge_one(evl_task_t *t, evl_node_t *n, const uint8_t *wk, size_t wkl)
{
    return evl__task_store_write(t, n->store_idx, wk, wkl, NULL, 0);
}

/* A suppress node's closed window: its final value, once. */
static int final_one(evl_task_t *t, evl_node_t *n, const uint8_t *wk, size_t wkl)
{
    uint8_t k[STORE_KEY_MAX];
    k[0] = 'V';
    memcpy(k + 1, wk, wkl);
    const void *v;
    size_t vl;
    int rc = evl__task_store_read(t, n->store_idx, k, wkl + 1, &v, &vl);
    if (rc == EVL_ENOTFOUND || (!rc && vl < 8))
        return 0;
    if (rc)
        return rc;
    uint8_t *copy = malloc(vl);
    if (!copy)
        return EVL_ENOMEM;
    memcpy(copy, v, vl);
    rc = evl__task_store_write(t, n->store_idx, k, wkl + 1, NULL, 0);
    evl_srec_t out = {wk, wkl, copy + 8, vl - 8, (int64_t)be64get(copy)};
    if (!rc)
        rc = evl__task_forward(t, n, &out);
    free(copy);
    return rc;
}

/* Finals of n's suppressed tables that stream time has closed: on every
 * record reaching n, dropped or not. */
static int tick_kids(evl_task_t *t, evl_node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        evl_node_t *k = n->kids[i];
        if (k->kind == N_WAGG && k->suppress) {
            int rc = sweep(t, k, k->store_idx, final_one);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- aggregation steps ---- */

static int copy_out(const void *v, size_t vl, void **out, size_t *outl)
{
    if (!(*out = malloc(vl ? vl : 1)))
        return EVL_ENOMEM;
    if (vl)
        memcpy(*out, v, vl);
    *outl = vl;
    return 0;
}

/* The one value a callback emitted, copied. */
static int take_emitted(evl_emit_t *em, int rc, void **out, size_t *outl)
{
    if (rc >= 0 && em->err)
        rc = em->err;
    if (rc >= 0 && em->n != 1)
        rc = EVL_EINVAL;
    if (rc >= 0) {
        evl__emit_fix(em);
        rc = copy_out(em->recs[0].value ? em->recs[0].value : "", em->recs[0].value_len, out,
                      outl);
    }
    evl__emit_free(em);
    return rc < 0 ? rc : 0;
}

static void put_count(uint8_t *b, uint64_t c)
{
    be64put(b, c);
}

static uint64_t get_count(const void *v, size_t vl)
{
    return vl == 8 ? be64get(v) : 0;
}

/* The aggregate after record r: cur (NULL: the window's first record). */
static int agg_step(evl_node_t *n, const evl_srec_t *r, const void *cur, size_t curl, void **out,
                    size_t *outl)
{
    if (n->aggkind == AGG_COUNT) {
        uint8_t c[8];
        put_count(c, (cur ? get_count(cur, curl) : 0) + 1);
        return copy_out(c, 8, out, outl);
    }
    if (!cur && n->aggkind == AGG_REDUCE)
        return copy_out(r->value ? r->value : "", r->value_len, out, outl);
    if (!cur) {
        cur = n->init ? n->init : "";
        curl = n->init_len;
    }
    evl_emit_t em;
    memset(&em, 0, sizeof em);
    evl__emit_reset(&em, N_MAP_VALUES, r);
    int rc = n->fn.agg(n->arg, r, cur, curl, &em);
    return take_emitted(&em, rc, out, outl);
}

/* Two sessions' aggregates combined. */
static int merge_step(evl_node_t *n, const evl_srec_t *r, const void *a, size_t al, const void *b,
                      size_t bl, void **out, size_t *outl)
{
    if (n->aggkind == AGG_COUNT) {
        uint8_t c[8];
        put_count(c, get_count(a, al) + get_count(b, bl));
        return copy_out(c, 8, out, outl);
    }
    evl_emit_t em;
    memset(&em, 0, sizeof em);
    evl__emit_reset(&em, N_MAP_VALUES, r);
    int rc = n->wmerge(n->arg, r->key, r->key_len, a, al, b, bl, &em);
    return take_emitted(&em, rc, out, outl);
}

/* ---- time windows ---- */

static int time_update(evl_task_t *t, evl_node_t *n, const evl_srec_t *r, int64_t start)
{
    uint8_t wk[STORE_KEY_MAX];
    size_t wkl = r->key_len + 8;
    memcpy(wk, r->key, r->key_len);
    be64put(wk + r->key_len, (uint64_t)start);
    const void *cur;
    size_t curl;
    int rc = evl__task_store_read(t, n->store_idx, wk, wkl, &cur, &curl);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    bool found = rc == 0;
    void *nv;
    size_t nvl;
    if ((rc = agg_step(n, r, found ? (cur ? cur : "") : NULL, found ? curl : 0, &nv, &nvl)))
        return rc;
    rc = evl__task_store_write(t, n->store_idx, wk, wkl, nv, nvl);
    if (!rc && !found)
        rc = index_set(t, n, n->store_idx + 1, wk, wkl, true);
    evl_srec_t out = {wk, wkl, nv, nvl, r->timestamp};
    if (!rc)
        rc = evl__task_forward(t, n, &out);
    free(nv);
    return rc;
}

static int time_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int64_t now = evl__task_stream_time(t), ts = r->timestamp;
    if (r->key_len + 8 > WKEY_MAX)
        return EVL_ETOOBIG;
    if (ts < 0 || ts > TS_MAX) {
        evl__task_dropped(t);
        return 0;
    }
    /* the windows holding ts: starts in (ts - size, ts], multiples of
     * advance (Kafka's TimeWindows.windowsFor) */
    int64_t first = ts - n->wsize + n->wadvance;
    int64_t start = (first > 0 ? first : 0) / n->wadvance * n->wadvance;
    bool any = false;
    for (; start <= ts; start += n->wadvance) {
        if (sat_add(sat_add(start, n->wsize), n->wgrace) <= now)
            continue; /* closed */
        any = true;
        int rc = time_update(t, n, r, start);
        if (rc)
            return rc;
    }
    if (!any)
        evl__task_dropped(t);
    return 0;
}

/* ---- session windows ---- */

typedef struct session {
    uint8_t *wk;
    size_t wkl;
    void *val;
    size_t vl;
    int64_t start, end;
} session_t;

typedef struct sessions {
    size_t kl;
    int64_t lo, hi;       /* sessions ending from lo and starting until hi */
    session_t *v;
    size_t n, cap;
} sessions_t;

static int session_found(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    sessions_t *s = arg;
    if (klen != s->kl + 16)
        return 0; /* a longer key with this one as its prefix */
    const uint8_t *k = key;
    int64_t end = (int64_t)be64get(k + s->kl), start = (int64_t)be64get(k + s->kl + 8);
    if (end < s->lo || start > s->hi)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        session_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return EVL_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    session_t *e = &s->v[s->n];
    e->wk = malloc(klen);
    e->val = malloc(vlen ? vlen : 1);
    if (!e->wk || !e->val) {
        free(e->wk);
        free(e->val);
        return EVL_ENOMEM;
    }
    memcpy(e->wk, key, klen);
    if (vlen)
        memcpy(e->val, val, vlen);
    e->wkl = klen;
    e->vl = vlen;
    e->start = start;
    e->end = end;
    s->n++;
    return 0;
}

static int session_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int64_t now = evl__task_stream_time(t), ts = r->timestamp;
    if (r->key_len + 16 > WKEY_MAX)
        return EVL_ETOOBIG;
    if (ts < 0 || ts > TS_MAX) {
        evl__task_dropped(t);
        return 0;
    }
    /* the key's sessions within gap of ts, merged (Kafka's
     * KStreamSessionWindowAggregate: init, then merge with each) */
    sessions_t s = {r->key_len, ts - n->wgap, ts + n->wgap, NULL, 0, 0};
    int rc = evl__task_store_scan(t, n->store_idx, r->key, r->key_len, session_found, &s);
    void *agg = NULL;
    size_t aggl = 0;
    int64_t start = ts, end = ts;
    if (!rc) {
        if (n->aggkind == AGG_COUNT)
            rc = copy_out("\0\0\0\0\0\0\0\0", 8, &agg, &aggl);
        else
            rc = copy_out(n->init ? n->init : "", n->init_len, &agg, &aggl);
    }
    for (size_t i = 0; !rc && i < s.n; i++) {
        void *m;
        size_t ml;
        rc = merge_step(n, r, agg, aggl, s.v[i].val, s.v[i].vl, &m, &ml);
        if (!rc) {
            free(agg);
            agg = m;
            aggl = ml;
            if (s.v[i].start < start)
                start = s.v[i].start;
            if (s.v[i].end > end)
                end = s.v[i].end;
        }
    }
    if (!rc && sat_add(sat_add(end, n->wgap), n->wgrace) < now) {
        evl__task_dropped(t); /* the merged session closed already */
    } else if (!rc) {
        /* the sessions merged into a new one: gone, retracted downstream */
        for (size_t i = 0; !rc && (start != ts || end != ts) && i < s.n; i++) {
            session_t *e = &s.v[i];
            rc = evl__task_store_write(t, n->store_idx, e->wk, e->wkl, NULL, 0);
            if (!rc)
                rc = index_set(t, n, n->store_idx + 1, e->wk, e->wkl, false);
            evl_srec_t out = {e->wk, e->wkl, NULL, 0, e->end};
            if (!rc)
                rc = evl__task_forward(t, n, &out);
        }
        void *nv = NULL;
        size_t nvl = 0;
        if (!rc)
            rc = agg_step(n, r, agg, aggl, &nv, &nvl);
        uint8_t wk[STORE_KEY_MAX];
        size_t wkl = r->key_len + 16;
        memcpy(wk, r->key, r->key_len);
        be64put(wk + r->key_len, (uint64_t)end);
        be64put(wk + r->key_len + 8, (uint64_t)start);
        if (!rc)
            rc = evl__task_store_write(t, n->store_idx, wk, wkl, nv, nvl);
        if (!rc)
            rc = index_set(t, n, n->store_idx + 1, wk, wkl, true);
        evl_srec_t out = {wk, wkl, nv, nvl, end};
        if (!rc)
            rc = evl__task_forward(t, n, &out);
        free(nv);
    }
    free(agg);
    for (size_t i = 0; i < s.n; i++) {
        free(s.v[i].wk);
        free(s.v[i].val);
    }
    free(s.v);
    return rc;
}

/* ---- suppress: final results ---- */

static int suppress_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int rc = sweep(t, n, n->store_idx, final_one);
    size_t tail = n->wkind == W_SESSION ? 16 : 8;
    if (rc || !r->key || r->key_len < tail)
        return rc;
    if (r->key_len > WKEY_MAX)
        return EVL_ETOOBIG;
    const uint8_t *wk = r->key;
    size_t wkl = r->key_len;
    if (close_of(n, wk, wkl) <= evl__task_stream_time(t))
        return 0; /* closed (the aggregation sends nothing for those) */
    uint8_t k[STORE_KEY_MAX];
    k[0] = 'V';
    memcpy(k + 1, wk, wkl);
    if (!r->value) { /* a retracted session: nothing to emit for it */
        rc = evl__task_store_write(t, n->store_idx, k, wkl + 1, NULL, 0);
        return rc ? rc : index_set(t, n, n->store_idx, wk, wkl, false);
    }
    const void *v;
    size_t vl;
    rc = evl__task_store_read(t, n->store_idx, k, wkl + 1, &v, &vl);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    bool found = rc == 0 && vl >= 8;
    int64_t ts = r->timestamp;
    if (found && (int64_t)be64get(v) > ts)
        ts = (int64_t)be64get(v);
    uint8_t *buf = malloc(8 + r->value_len);
    if (!buf)
        return EVL_ENOMEM;
    be64put(buf, (uint64_t)ts);
    if (r->value_len)
        memcpy(buf + 8, r->value, r->value_len);
    rc = evl__task_store_write(t, n->store_idx, k, wkl + 1, buf, 8 + r->value_len);
    free(buf);
    if (!rc && !found)
        rc = index_set(t, n, n->store_idx, wk, wkl, true);
    return rc;
}

/* ---- a record reaching a windowed node ---- */

int evl__window_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (n->suppress)
        return suppress_deliver(t, n, r);
    /* first what stream time has closed: finals, then the store */
    int rc = tick_kids(t, n);
    if (!rc)
        rc = sweep(t, n, n->store_idx + 1, purge_one);
    if (rc || !r->key)
        return rc; /* Kafka Streams drops null keys in aggregations */
    return n->wkind == W_SESSION ? session_deliver(t, n, r) : time_deliver(t, n, r);
}

/* ---- interactive queries: fetching a key's windows ---- */

typedef struct fetch {
    const evl_node_t *n;
    size_t klen;
    int64_t from, to;
    evl_window_fn *fn;
    void *arg;
} fetch_t;

static int fetch_one(void *arg, const void *wk, size_t wkl, const void *val, size_t vlen)
{
    fetch_t *f = arg;
    bool session = f->n->wkind == W_SESSION;
    size_t kl;
    int64_t start, end;
    if (evl_windowed_key_parse(wk, wkl, session, &kl, &start, &end) || kl != f->klen)
        return 0; /* another key with this one as its prefix */
    if (!session)
        end = sat_add(start, f->n->wsize);
    if (start < f->from || start > f->to)
        return 0;
    return f->fn(f->arg, start, end, val, vlen);
}

EVL_API int evl_streams_window_fetch(evl_streams_t *app, const char *store, const void *key,
                                     size_t key_len, int64_t time_from, int64_t time_to,
                                     evl_window_fn *fn, void *arg)
{
    if (!app || !store || !key || !fn || time_from > time_to)
        return EVL_EINVAL;
    const evl_node_t *n = NULL;
    for (size_t i = 0; i < app->b->nnodes && !n; i++) {
        const evl_node_t *c = app->b->nodes[i];
        if (c->kind == N_WAGG && !c->suppress && c->store && !strcmp(c->store, store))
            n = c;
    }
    if (!n)
        return EVL_ENOTFOUND;
    fetch_t f = {n, key_len, time_from, time_to, fn, arg};
    return evl__app_query(app, store, key, key_len, NULL, 0, true, fetch_one, &f);
}
