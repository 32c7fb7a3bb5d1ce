/*
 * join.c - tables read from topics, stream-table joins and table-table
 * joins (Kafka Streams' KStream#join(KTable), KTable#join/leftJoin/
 * outerJoin).
 *
 * A table node materializes its topic in its store (a put per record, a
 * delete for a null value) and passes each change on. A stream-table join
 * looks the record's key up in the table's store, in the same task: the
 * two inputs are co-partitioned (evl_streams_new checks), so the key's
 * table entry lives here. A table-table join has a side node under each
 * table; an update on one side reads the other side's store, computes the
 * result per the join's kind, keeps it in the result's store and passes
 * it on (a null value when the key no longer joins).
 *
 * A stream-stream join (Kafka's KStream#join/leftJoin/outerJoin with
 * JoinWindows) has a side node under each stream and a result node whose
 * children get the results; its section below describes its stores.
 *
 * Determinism (exactly once): a join sees the table as it stands when the
 * record is processed, and a task processes each batch's records input by
 * input, offset by offset; a replay sees the same. A stream-stream join
 * depends on the records, its stores and the task's stream time (in the
 * checkpoint) only.
 */
#include "streams_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

EVL_API evl_ktable_t *evl_table(evl_streams_builder_t *b, const char *topic, const char *store)
{
    if (!b || evl__topo_store_check(b, store))
        return NULL;
    evl_node_t *src = evl_stream(b, topic);
    evl_node_t *n = src ? evl__topo_node(b, src, N_TABLE) : NULL;
    if (n && !(n->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    return (evl_ktable_t *)n;
}

EVL_API evl_kstream_t *evl_stream_join_table(evl_kstream_t *s, evl_ktable_t *tab, evl_join_fn *fn,
                                             void *arg, int how)
{
    evl_node_t *t = (evl_node_t *)tab;
    if (!s || !t)
        return NULL;
    evl_streams_builder_t *b = s->b;
    if (!fn || (how != EVL_JOIN_INNER && how != EVL_JOIN_LEFT)) {
        evl__builder_fail(b, "join: a joiner and EVL_JOIN_INNER or EVL_JOIN_LEFT");
        return NULL;
    }
    if (t->b != b || !evl__is_table(t)) {
        evl__builder_fail(b, "join: not a materialized table of this builder (give it a store)");
        return NULL;
    }
    if (s->key_changed) { /* through a repartition topic, co-partitioned with the table */
        char name[160];
        snprintf(name, sizeof name, "%s-join-%zu", t->store, b->nnodes);
        if (!(s = evl__topo_agg_input(s, name)))
            return NULL;
    }
    evl_node_t *n = evl__topo_node(b, s, N_SJOIN);
    if (!n)
        return NULL;
    n->sjoin = fn;
    n->arg = arg;
    n->join_how = how;
    n->join = t;
    n->parent[1] = t; /* the same sub-topology as the table */
    return n;
}

EVL_API evl_ktable_t *evl_table_join(evl_ktable_t *ta, evl_ktable_t *tb, evl_join2_fn *fn, void *arg,
                                     int how, const char *store)
{
    evl_node_t *a = (evl_node_t *)ta, *c = (evl_node_t *)tb;
    if (!a || !c)
        return NULL;
    evl_streams_builder_t *b = a->b;
    if (!fn || how < EVL_JOIN_INNER || how > EVL_JOIN_OUTER || c->b != b || !evl__is_table(a) ||
        !evl__is_table(c)) {
        evl__builder_fail(b, "table join: a joiner, a kind, two materialized tables of this "
                             "builder");
        return NULL;
    }
    if (evl__topo_store_check(b, store))
        return NULL;
    evl_node_t *sa = evl__topo_node(b, a, N_TJOIN_SIDE);
    evl_node_t *sb = evl__topo_node(b, c, N_TJOIN_SIDE);
    /* the result is a child of one side only so that the graph reaches it;
     * the sides pass results on to its children themselves */
    evl_node_t *res = sa ? evl__topo_node(b, sa, N_TJOIN) : NULL;
    if (!sb || !res || !(res->store = strdup(store))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    res->tjoin = fn;
    res->arg = arg;
    res->join_how = how;
    res->sides[0] = a;
    res->sides[1] = c;
    res->parent[1] = sb;
    sa->side = 0;
    sb->side = 1;
    sa->join = sb->join = res;
    return (evl_ktable_t *)res;
}

/* ---- processing ---- */

static int put_and_forward(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int rc = evl__task_store_write(t, n->store_idx, r->key, r->key_len, r->value, r->value_len);
    return rc ? rc : evl__task_forward(t, n, r);
}

/* The emitter's one value, copied (the store may move under it). */
static int run_joiner(evl_task_t *t, evl_emit_t *em, int rc, void **out, size_t *len)
{
    (void)t;
    if ((rc = evl__emit_one(em, rc)))
        return rc;
    *len = em->recs[0].value_len;
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return EVL_ENOMEM;
    if (*len)
        memcpy(*out, em->recs[0].value, *len);
    return 0;
}

static int copy_of(const void *p, size_t n, void **out)
{
    *out = NULL;
    if (!p)
        return 0;
    *out = malloc(n ? n : 1);
    if (!*out)
        return EVL_ENOMEM;
    if (n)
        memcpy(*out, p, n);
    return 0;
}

static int stream_join(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (!r->key)
        return 0; /* Kafka Streams drops null keys in joins */
    const void *tv = NULL;
    size_t tl = 0;
    int rc = evl__task_store_read(t, n->join->store_idx, r->key, r->key_len, &tv, &tl);
    if (rc == EVL_ENOTFOUND) {
        if (n->join_how == EVL_JOIN_INNER)
            return 0;
        tv = NULL;
        tl = 0;
        rc = 0;
    }
    void *tcopy;
    if (rc || (rc = copy_of(tv, tl, &tcopy)))
        return rc;
    evl_emit_t em = {0};
    evl__emit_reset(&em, N_MAP_VALUES, r);
    void *out = NULL;
    size_t len = 0;
    rc = run_joiner(t, &em, n->sjoin(n->arg, r, tcopy, tl, &em), &out, &len);
    if (!rc) {
        evl_srec_t o = {r->key, r->key_len, out, len, r->timestamp};
        rc = evl__task_forward(t, n, &o);
    }
    free(out);
    free(tcopy);
    evl__emit_free(&em);
    return rc;
}

static int table_side(evl_task_t *t, evl_node_t *side, const evl_srec_t *r)
{
    evl_node_t *res = side->join;
    if (!r->key)
        return 0;
    evl_node_t *other = res->sides[1 - side->side];
    const void *ov = NULL;
    size_t ol = 0;
    int rc = evl__task_store_read(t, other->store_idx, r->key, r->key_len, &ov, &ol);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    void *oc;
    if ((rc = copy_of(rc ? NULL : ov, rc ? 0 : ol, &oc)))
        return rc;
    const void *a = side->side == 0 ? r->value : oc, *b = side->side == 0 ? oc : r->value;
    size_t al = side->side == 0 ? r->value_len : ol, bl = side->side == 0 ? ol : r->value_len;
    bool joins = res->join_how == EVL_JOIN_INNER   ? a && b
                 : res->join_how == EVL_JOIN_LEFT ? a != NULL
                                                  : a || b;
    void *out = NULL;
    size_t len = 0;
    if (joins) {
        evl_emit_t em = {0};
        evl__emit_reset(&em, N_MAP_VALUES, r);
        rc = run_joiner(t, &em, res->tjoin(res->arg, r->key, r->key_len, a, a ? al : 0, b, b ? bl : 0, &em),
                        &out, &len);
        evl__emit_free(&em);
    } else {
        /* no result for the key: a deletion, if there was one */
        const void *prev;
        size_t pl;
        if (evl__task_store_read(t, res->store_idx, r->key, r->key_len, &prev, &pl) == EVL_ENOTFOUND) {
            free(oc);
            return 0;
        }
    }
    if (!rc) {
        evl_srec_t o = {r->key, r->key_len, joins ? out : NULL, joins ? len : 0, r->timestamp};
        rc = put_and_forward(t, res, &o);
    }
    free(out);
    free(oc);
    return rc;
}

/* ---- stream-stream joins ----
 *
 * Stores (task.c's, changelogged with the rest; W = before + after):
 *  - STORE/a, STORE/b (each side node's store_idx): the side's records,
 *    key = record key + time (8 bytes, order-preserving) + a sequence
 *    number (8 bytes, big-endian: duplicates of a key and time are kept
 *    apart) -> the value. A record of a at t looks up b's in
 *    [t - before, t + after] with a prefix scan (the key, then the bytes
 *    the range's two ends share); b's look up a's in [t - after,
 *    t + before];
 *  - STORE/index (the result node's store_idx): 'X' + expiry time + side
 *    byte + key + time + sequence, one per stored record; 'M' -> a lower
 *    bound of the expiry times still there (window.c's sweep); 'S' -> the
 *    next sequence number. A record is stored while a record still
 *    accepted (not earlier than stream time - W - grace) could join it:
 *    one of a at t expires when stream time reaches t + before + W +
 *    grace + 1 (b's: t + after + W + grace + 1);
 *  - STORE/outer (store_idx + 1, left and outer joins): the records still
 *    without a match, 'X' + close time + side + key + time + sequence ->
 *    the value, and 'M'. A record that matched nothing goes there; a
 *    later match of the other side takes it out; when stream time passes
 *    t + after + grace (a's records; b's: t + before + grace) it leaves
 *    with its result with NULL (at once, if that is already so).
 * A record reaching a side first sweeps both (results with NULL first,
 * earliest close first), then is dropped if late, joins the other side's
 * records (in time order), and is stored.
 *
 * As in Kafka Streams, a record within W + grace of stream time is still
 * accepted, and may match a record of the other side whose result with
 * NULL was already sent (its grace over): then both results stand.
 * Kafka emits an unmatched record whose window end has passed (but not its
 * grace) at once; here it waits for its grace too.
 */

#define SS_PARAM_MAX ((int64_t)1 << 52)
#define SS_TS_MAX ((int64_t)1 << 60)
#define SS_KEY_MAX (500 - 26) /* an index key: 'X' + time + side + key + time + seq */


EVL_API evl_kstream_t *evl_stream_join(evl_kstream_t *a, evl_kstream_t *c, evl_join2_fn *fn,
                                       void *arg, int how, int64_t before_ms, int64_t after_ms,
                                       int64_t grace_ms, const char *store)
{
    if (!a || !c)
        return NULL;
    evl_streams_builder_t *b = a->b;
    if (b->err[0])
        return NULL;
    if (!fn || how < EVL_JOIN_INNER || how > EVL_JOIN_OUTER || c->b != b) {
        evl__builder_fail(b, "stream join: a joiner, a kind, two streams of this builder");
        return NULL;
    }
    if (before_ms < 0 || after_ms < 0 || grace_ms < 0 || before_ms > SS_PARAM_MAX ||
        after_ms > SS_PARAM_MAX || grace_ms > SS_PARAM_MAX) {
        evl__builder_fail(b, "stream join: before %lld ms, after %lld ms, grace %lld ms "
                             "(each 0 to 2^52)",
                          (long long)before_ms, (long long)after_ms, (long long)grace_ms);
        return NULL;
    }
    if (evl__topo_store_check(b, store))
        return NULL;
    /* a side whose key changed goes through a repartition topic */
    char name[160];
    snprintf(name, sizeof name, "%s-left", store);
    if (a->key_changed && !(a = evl__topo_agg_input(a, name)))
        return NULL;
    snprintf(name, sizeof name, "%s-right", store);
    if (c->key_changed && !(c = evl__topo_agg_input(c, name)))
        return NULL;
    size_t sl = strlen(store);
    for (size_t i = 0; i < b->nnodes; i++) /* STORE/a, ... of another join */
        if (b->nodes[i]->store && !strncmp(b->nodes[i]->store, store, sl) &&
            b->nodes[i]->store[sl] == '/') {
            evl__builder_fail(b, "store '%s' named twice", store);
            return NULL;
        }
    evl_node_t *sa = evl__topo_node(b, a, N_SSJOIN_SIDE);
    evl_node_t *sb = sa ? evl__topo_node(b, c, N_SSJOIN_SIDE) : NULL;
    /* the result is a child of one side only so that the graph reaches it;
     * the sides pass results on to its children themselves */
    evl_node_t *res = sb ? evl__topo_node(b, sa, N_SSJOIN) : NULL;
    if (!res)
        return NULL;
    /* (the builder frees what is set, on failure too) */
    res->store = strdup(store);
    sa->store = malloc(sl + 3);
    sb->store = malloc(sl + 3);
    if (!res->store || !sa->store || !sb->store) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    snprintf(sa->store, sl + 3, "%s/a", store);
    snprintf(sb->store, sl + 3, "%s/b", store);
    res->tjoin = fn;
    res->arg = arg;
    res->join_how = how;
    res->join_before = before_ms;
    res->join_after = after_ms;
    res->join_grace = grace_ms;
    res->sides[0] = sa;
    res->sides[1] = sb;
    res->parent[1] = sb; /* both streams in one sub-topology */
    sa->side = 0;
    sb->side = 1;
    sa->join = sb->join = res;
    return res;
}

/* Whether a record of side s that joins nothing gets a result with NULL. */
static bool ss_outer(const evl_node_t *res, int s)
{
    return res->join_how == EVL_JOIN_OUTER || (res->join_how == EVL_JOIN_LEFT && s == 0);
}

/* When a record of side s at ts can no longer be joined (expiry) and
 * when its window closes (its result with NULL): stream time >= these. */
static int64_t ss_expiry(const evl_node_t *res, int s, int64_t ts)
{
    int64_t w = res->join_before + res->join_after;
    int64_t ahead = s == 0 ? res->join_before : res->join_after;
    return sat_add(ts, ahead + w + res->join_grace + 1);
}

static int64_t ss_close(const evl_node_t *res, int s, int64_t ts)
{
    int64_t ahead = s == 0 ? res->join_after : res->join_before;
    return sat_add(ts, ahead + res->join_grace + 1);
}

/* 'X' + time + side + key + tail (the record's time and sequence). */
static size_t ss_xkey(uint8_t *k, int64_t when, int s, const void *key, size_t kl,
                      const uint8_t *tail)
{
    k[0] = 'X';
    enc_time(k + 1, when);
    k[9] = (uint8_t)s;
    if (kl)
        memcpy(k + 10, key, kl);
    memcpy(k + 10 + kl, tail, 16);
    return 26 + kl;
}

/* The joiner on (key, av, bv); its result, with timestamp ts, to the
 * join's children. */
static int ss_emit(evl_task_t *t, evl_node_t *res, const void *key, size_t kl, const void *av,
                   size_t al, const void *bv, size_t bl, int64_t ts)
{
    evl_srec_t in = {key, kl, av ? av : bv, av ? al : bl, ts};
    evl_emit_t em = {0};
    evl__emit_reset(&em, N_MAP_VALUES, &in);
    void *out = NULL;
    size_t len = 0;
    int rc = res->tjoin(res->arg, key, kl, av, av ? al : 0, bv, bv ? bl : 0, &em);
    rc = run_joiner(t, &em, rc, &out, &len);
    evl__emit_free(&em);
    if (!rc) {
        evl_srec_t o = {key, kl, out, len, ts};
        rc = evl__task_forward(t, res, &o);
    }
    free(out);
    return rc;
}

typedef int ss_close_fn(evl_task_t *t, evl_node_t *res, int s, const uint8_t *key, size_t kl,
                        const uint8_t *tail, const void *val, size_t vl);

typedef struct ss_sweep {
    evl_task_t *t;
    evl_node_t *res;
    int idx;
    int64_t now;
    ss_close_fn *fn;
} ss_sweep_t;

static int ss_sweep_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    ss_sweep_t *s = arg;
    const uint8_t *k = key;
    if (klen < 26 || k[0] != 'X')
        return 0;
    if (dec_time(k + 1) > s->now)
        return 1; /* the rest is due later */
    int rc = s->fn(s->t, s->res, k[9], k + 10, klen - 26, k + klen - 16, val, vlen);
    return rc ? rc : evl__task_store_write(s->t, s->idx, key, klen, NULL, 0);
}

/* Every entry of store idx whose time stream time has reached, earliest
 * first, through fn and out of the store (window.c's sweep). */
static int ss_sweep(evl_task_t *t, evl_node_t *res, int idx, ss_close_fn *fn)
{
    ss_sweep_t s = {t, res, idx, evl__task_stream_time(t), fn};
    return evl__sweep_index(t, idx, ss_sweep_one, &s);
}

/* An expired record leaves its side's store. */
static int ss_expired(evl_task_t *t, evl_node_t *res, int s, const uint8_t *key, size_t kl,
                      const uint8_t *tail, const void *val, size_t vl)
{
    (void)val;
    (void)vl;
    uint8_t k[512];
    if (kl)
        memcpy(k, key, kl);
    memcpy(k + kl, tail, 16);
    return evl__task_store_write(t, res->sides[s]->store_idx, k, kl + 16, NULL, 0);
}

/* A record without a match whose window closed: its result with NULL. */
static int ss_unmatched(evl_task_t *t, evl_node_t *res, int s, const uint8_t *key, size_t kl,
                        const uint8_t *tail, const void *val, size_t vl)
{
    int64_t ts = dec_time(tail);
    return s == 0 ? ss_emit(t, res, key, kl, val, vl, NULL, 0, ts)
                  : ss_emit(t, res, key, kl, NULL, 0, val, vl, ts);
}

typedef struct ss_look {
    evl_task_t *t;
    evl_node_t *res;
    const evl_srec_t *r;
    int side;             /* r's */
    int64_t lo, hi;       /* the other side's times r joins */
    bool matched;
} ss_look_t;

static int ss_match(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    ss_look_t *m = arg;
    const evl_srec_t *r = m->r;
    if (klen != r->key_len + 16)
        return 0; /* a longer key with r's as its prefix */
    const uint8_t *tail = (const uint8_t *)key + r->key_len;
    int64_t ots = dec_time(tail);
    if (ots < m->lo || ots > m->hi)
        return 0;
    m->matched = true;
    evl_node_t *res = m->res;
    int other = 1 - m->side;
    if (ss_outer(res, other)) { /* it has its match: no result with NULL */
        uint8_t k[512];
        size_t kl = ss_xkey(k, ss_close(res, other, ots), other, r->key, r->key_len, tail);
        const void *v;
        size_t l;
        int rc = evl__task_store_read(m->t, res->store_idx + 1, k, kl, &v, &l);
        if (rc == 0)
            rc = evl__task_store_write(m->t, res->store_idx + 1, k, kl, NULL, 0);
        if (rc && rc != EVL_ENOTFOUND)
            return rc;
    }
    int64_t ts = r->timestamp > ots ? r->timestamp : ots;
    if (m->side == 0)
        return ss_emit(m->t, res, r->key, r->key_len, r->value, r->value_len, val, vlen, ts);
    return ss_emit(m->t, res, r->key, r->key_len, val, vlen, r->value, r->value_len, ts);
}

static int ss_side(evl_task_t *t, evl_node_t *side, const evl_srec_t *r)
{
    evl_node_t *res = side->join;
    int s = side->side, rc = 0;
    /* first what stream time has closed: results with NULL, then expiry */
    if (res->join_how != EVL_JOIN_INNER)
        rc = ss_sweep(t, res, res->store_idx + 1, ss_unmatched);
    if (!rc)
        rc = ss_sweep(t, res, res->store_idx, ss_expired);
    if (rc || !r->key || !r->value)
        return rc; /* Kafka Streams skips null keys and values in these joins */
    if (r->key_len > SS_KEY_MAX)
        return EVL_ETOOBIG;
    int64_t now = evl__task_stream_time(t), ts = r->timestamp;
    int64_t w = res->join_before + res->join_after;
    if (ts < 0 || ts > SS_TS_MAX || ts < sat_add(now, -(w + res->join_grace))) {
        evl__task_dropped(t);
        return 0;
    }
    /* the other side's records in the window */
    ss_look_t m = {t, res, r, s, 0, 0, false};
    m.lo = ts - (s == 0 ? res->join_before : res->join_after);
    m.hi = ts + (s == 0 ? res->join_after : res->join_before);
    uint8_t prefix[512], lo[8], hi[8];
    enc_time(lo, m.lo);
    enc_time(hi, m.hi);
    size_t j = 0;
    while (j < 8 && lo[j] == hi[j])
        j++;
    if (r->key_len)
        memcpy(prefix, r->key, r->key_len);
    memcpy(prefix + r->key_len, lo, j);
    rc = evl__task_store_scan(t, res->sides[1 - s]->store_idx, prefix, r->key_len + j, ss_match,
                              &m);
    if (rc)
        return rc;
    /* stored, under the next sequence number, and indexed for expiry */
    uint64_t seq = 0;
    const void *v;
    size_t vl;
    rc = evl__task_store_read(t, res->store_idx, "S", 1, &v, &vl);
    if (rc == 0 && vl == 8)
        seq = be64get(v);
    else if (rc && rc != EVL_ENOTFOUND)
        return rc;
    uint8_t tail[16], nseq[8], k[512];
    enc_time(tail, ts);
    be64put(tail + 8, seq);
    be64put(nseq, seq + 1);
    memcpy(k, r->key, r->key_len);
    memcpy(k + r->key_len, tail, 16);
    rc = evl__task_store_write(t, res->store_idx, "S", 1, nseq, 8);
    if (!rc)
        rc = evl__task_store_write(t, side->store_idx, k, r->key_len + 16, r->value,
                                   r->value_len);
    size_t kl = ss_xkey(k, ss_expiry(res, s, ts), s, r->key, r->key_len, tail);
    if (!rc)
        rc = evl__task_store_write(t, res->store_idx, k, kl, "x", 1);
    if (rc || m.matched || !ss_outer(res, s))
        return rc;
    /* no match yet: its result with NULL when its window closes */
    int64_t close = ss_close(res, s, ts);
    if (close <= now)
        return s == 0 ? ss_emit(t, res, r->key, r->key_len, r->value, r->value_len, NULL, 0, ts)
                      : ss_emit(t, res, r->key, r->key_len, NULL, 0, r->value, r->value_len, ts);
    kl = ss_xkey(k, close, s, r->key, r->key_len, tail);
    return evl__task_store_write(t, res->store_idx + 1, k, kl, r->value, r->value_len);
}

int evl__join_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    switch (n->kind) {
    case N_TABLE:
        return r->key ? put_and_forward(t, n, r) : 0;
    case N_SJOIN:
        return stream_join(t, n, r);
    case N_TJOIN_SIDE:
        return table_side(t, n, r);
    case N_SSJOIN_SIDE:
        return ss_side(t, n, r);
    default:
        return 0; /* N_TJOIN, N_SSJOIN: fed by their sides */
    }
}
