/*
 * fkjoin.c - foreign-key table joins (Kafka's KTable#join with a foreign
 * key extractor): the left table's key k, its value va and the right
 * table's value for fk = fkfn(va).
 *
 * The two tables are partitioned by different keys, so the join goes
 * through two topics of the application's, as Kafka's does:
 *
 *   left table -> FKLEFT --(STORE-fk-subscription, keyed by fk)--> FKSUB
 *   right table -> FKRIGHT ----+                                    |
 *                              +--(STORE-fk-response, keyed by k)<--+
 *                                          |
 *                                        FKRESP -> FKJOIN (the result)
 *
 *  - FKLEFT (beside the left table) keeps each k's foreign key (STORE/fk).
 *    A change of k sends a subscription 'S' (k, a hash of va) to the new
 *    fk and an unsubscription 'U' to the old one; a deleted value, or one
 *    without a foreign key, is settled here at once (deleted, or joined
 *    with NULL in a left join).
 *  - FKSUB (beside the right table) keeps who subscribes to what
 *    (STORE/sub: fk, then k -> the hash) and answers a subscription with
 *    right's value for fk; FKRIGHT answers every subscriber of a right
 *    key that changed.
 *  - FKRESP (beside the left table) takes an answer (k, the hash, the
 *    right value) only if left's value for k still has that hash (an
 *    answer to an older value is dropped: a newer one follows), joins and
 *    updates the result.
 *
 * Message bytes: a subscription's key is fk, its value 'S' or 'U', the
 * hash (8 bytes) and k; an answer's key is k, its value the hash, 1 or 0
 * (a right value or none) and the right value.
 */
#include "streams_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FK_MAX 480 /* foreign keys and keys, so that fk + k fits a store key */

EVL_API evl_ktable_t *evl_table_join_fk(evl_ktable_t *lt, evl_ktable_t *rt, evl_xform_fn *fkfn,
                                        void *fkarg, evl_join2_fn *fn, void *arg, int how,
                                        const char *store)
{
    evl_node_t *left = (evl_node_t *)lt, *right = (evl_node_t *)rt;
    if (!left || !right)
        return NULL;
    evl_streams_builder_t *b = left->b;
    if (b->err[0])
        return NULL;
    if (right->b != b || !evl__is_table(left) || !evl__is_table(right) || !fkfn || !fn ||
        (how != EVL_JOIN_INNER && how != EVL_JOIN_LEFT)) {
        evl__builder_fail(b, "foreign-key join: two materialized tables of this builder, a "
                             "key extractor, a joiner, EVL_JOIN_INNER or EVL_JOIN_LEFT");
        return NULL;
    }
    if (evl__topo_store_check(b, store))
        return NULL;
    char name[160];
    evl_node_t *fl = evl__topo_node(b, left, N_FKLEFT);
    snprintf(name, sizeof name, "%s-fk-subscription", store);
    evl_node_t *subsrc = fl ? evl__topo_through(fl, name) : NULL;
    evl_node_t *fs = subsrc ? evl__topo_node(b, subsrc, N_FKSUB) : NULL;
    evl_node_t *fr = fs ? evl__topo_node(b, right, N_FKRIGHT) : NULL;
    snprintf(name, sizeof name, "%s-fk-response", store);
    evl_node_t *respsrc = fr ? evl__topo_through(fs, name) : NULL;
    /* FKRIGHT writes the same topic: a second sink */
    evl_node_t *sink2 = respsrc ? evl__topo_node(b, fr, N_SINK) : NULL;
    if (sink2 && !(sink2->topic = strdup(name))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    if (sink2)
        sink2->repartition = true;
    evl_node_t *fp = sink2 ? evl__topo_node(b, respsrc, N_FKRESP) : NULL;
    evl_node_t *res = fp ? evl__topo_node(b, fp, N_FKJOIN) : NULL;
    if (!res)
        return NULL;
    char fkstore[160], substore[160];
    snprintf(fkstore, sizeof fkstore, "%s/fk", store);
    snprintf(substore, sizeof substore, "%s/sub", store);
    if (!(res->store = strdup(store)) || !(fl->store = strdup(fkstore)) ||
        !(fs->store = strdup(substore))) {
        evl__builder_fail(b, "out of memory");
        return NULL;
    }
    fl->fn.xform = fkfn;
    fl->arg = fkarg;
    fl->join = res;
    fl->sides[0] = left;
    fs->sides[1] = right;
    fs->parent[1] = right; /* beside the right table */
    fr->join = fs;
    fp->join = res;
    fp->sides[0] = left;
    fp->parent[1] = left; /* beside the left table */
    res->tjoin = fn;
    res->join_arg = arg;
    res->join_how = how;
    return (evl_ktable_t *)res;
}

/* ---- processing ---- */

/* The result for k: value v (NULL: none), kept and passed on; a deletion
 * of a result not held passes nothing. */
static int result_put(evl_task_t *t, evl_node_t *res, const void *k, size_t kl, const void *v,
                      size_t vl, int64_t ts)
{
    if (!v) {
        const void *old;
        size_t ol;
        int rc = evl__task_store_read(t, res->store_idx, k, kl, &old, &ol);
        if (rc == EVL_ENOTFOUND)
            return 0;
        if (rc)
            return rc;
    }
    int rc = evl__task_store_write(t, res->store_idx, k, kl, v, vl);
    evl_srec_t o = {k, kl, v, v ? vl : 0, ts};
    return rc ? rc : evl__task_forward(t, res, &o);
}

/* The joined value of k (va, and vb or NULL) into the result. */
static int join_into(evl_task_t *t, evl_node_t *res, const void *k, size_t kl, const void *va,
                     size_t val, const void *vb, size_t vbl, int64_t ts)
{
    if (!vb && res->join_how == EVL_JOIN_INNER)
        return result_put(t, res, k, kl, NULL, 0, ts);
    evl_srec_t in = {k, kl, va, val, ts};
    evl_emit_t em = {0};
    evl__emit_reset(&em, N_MAP_VALUES, &in);
    int rc = evl__emit_one(&em, res->tjoin(res->join_arg, k, kl, va, val, vb, vb ? vbl : 0, &em));
    if (!rc)
        rc = result_put(t, res, k, kl, em.recs[0].value ? em.recs[0].value : "",
                        em.recs[0].value_len, ts);
    evl__emit_free(&em);
    return rc;
}

static int send_sub(evl_task_t *t, evl_node_t *fl, char op, const void *fk, size_t fkl,
                    uint64_t h, const void *k, size_t kl, int64_t ts)
{
    uint8_t v[9 + FK_MAX];
    v[0] = (uint8_t)op;
    be64put(v + 1, h);
    memcpy(v + 9, k, kl);
    evl_srec_t o = {fk, fkl, v, 9 + kl, ts};
    return evl__task_forward(t, fl, &o);
}

static int left_change(evl_task_t *t, evl_node_t *fl, const evl_srec_t *r)
{
    if (!r->key)
        return 0;
    if (r->key_len > FK_MAX)
        return EVL_ETOOBIG;
    /* the foreign key now */
    evl_emit_t em = {0};
    const void *fk = NULL;
    size_t fkl = 0;
    int rc = 0;
    if (r->value) {
        evl__emit_reset(&em, N_MAP, r);
        rc = fl->fn.xform(fl->arg, r, &em);
        if (rc >= 0 && em.err)
            rc = em.err;
        if (rc >= 0 && em.n > 1)
            rc = EVL_EINVAL;
        if (rc >= 0 && em.n == 1) {
            evl__emit_fix(&em);
            fk = em.recs[0].key;
            fkl = em.recs[0].key_len;
        }
        if (rc > 0)
            rc = 0;
    }
    if (!rc && fk && fkl > FK_MAX)
        rc = EVL_ETOOBIG;
    /* and before */
    const void *old = NULL;
    size_t oldl = 0;
    void *oldc = NULL;
    if (!rc) {
        int r2 = evl__task_store_read(t, fl->store_idx, r->key, r->key_len, &old, &oldl);
        if (r2 == 0 && (oldc = malloc(oldl ? oldl : 1)))
            memcpy(oldc, old, oldl);
        else if (r2 == 0)
            rc = EVL_ENOMEM;
        else if (r2 != EVL_ENOTFOUND)
            rc = r2;
    }
    uint64_t h = r->value ? fnv1a64(r->value, r->value_len) : 0;
    bool same = oldc && fk && oldl == fkl && !memcmp(oldc, fk, fkl);
    if (!rc && oldc && !same)
        rc = send_sub(t, fl, 'U', oldc, oldl, 0, r->key, r->key_len, r->timestamp);
    if (!rc && fk)
        rc = send_sub(t, fl, 'S', fk, fkl, h, r->key, r->key_len, r->timestamp);
    if (!rc && (fk || oldc))
        rc = evl__task_store_write(t, fl->store_idx, r->key, r->key_len, fk, fkl);
    /* settled here: a deletion, or a value without a foreign key */
    if (!rc && !r->value)
        rc = result_put(t, fl->join, r->key, r->key_len, NULL, 0, r->timestamp);
    else if (!rc && !fk)
        rc = join_into(t, fl->join, r->key, r->key_len, r->value, r->value_len, NULL, 0,
                       r->timestamp);
    free(oldc);
    evl__emit_free(&em);
    return rc < 0 ? rc : 0;
}

/* STORE/sub's key: the foreign key's length (2 bytes), it, then k. */
static size_t sub_key(uint8_t *out, const void *fk, size_t fkl, const void *k, size_t kl)
{
    out[0] = (uint8_t)(fkl >> 8);
    out[1] = (uint8_t)fkl;
    memcpy(out + 2, fk, fkl);
    if (kl)
        memcpy(out + 2 + fkl, k, kl);
    return 2 + fkl + kl;
}

static int answer(evl_task_t *t, evl_node_t *from, const void *k, size_t kl, uint64_t h,
                  const void *vb, size_t vbl, int64_t ts)
{
    uint8_t *v = malloc(9 + vbl);
    if (!v)
        return EVL_ENOMEM;
    be64put(v, h);
    v[8] = vb != NULL;
    if (vb && vbl)
        memcpy(v + 9, vb, vbl);
    evl_srec_t o = {k, kl, v, 9 + (vb ? vbl : 0), ts};
    int rc = evl__task_forward(t, from, &o);
    free(v);
    return rc;
}

static int subscription(evl_task_t *t, evl_node_t *fs, const evl_srec_t *r)
{
    if (!r->key || !r->value || r->value_len < 9 || r->key_len > FK_MAX ||
        r->value_len - 9 > FK_MAX)
        return 0; /* not one of ours */
    const uint8_t *v = r->value;
    const void *k = v + 9;
    size_t kl = r->value_len - 9;
    uint8_t key[2 + 2 * FK_MAX];
    size_t n = sub_key(key, r->key, r->key_len, k, kl);
    if (v[0] == 'U')
        return evl__task_store_write(t, fs->store_idx, key, n, NULL, 0);
    int rc = evl__task_store_write(t, fs->store_idx, key, n, v + 1, 8);
    const void *vb = NULL;
    size_t vbl = 0;
    if (!rc) {
        rc = evl__task_store_read(t, fs->sides[1]->store_idx, r->key, r->key_len, &vb, &vbl);
        if (rc == EVL_ENOTFOUND) {
            vb = NULL;
            rc = 0;
        }
    }
    return rc ? rc : answer(t, fs, k, kl, be64get(v + 1), vb, vbl, r->timestamp);
}

typedef struct fanout {
    evl_task_t *t;
    evl_node_t *fr;
    size_t skip;         /* the prefix: length bytes and the foreign key */
    const evl_srec_t *r;
} fanout_t;

static int fan_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    fanout_t *f = arg;
    if (vlen != 8 || klen < f->skip)
        return 0;
    return answer(f->t, f->fr, (const uint8_t *)key + f->skip, klen - f->skip, be64get(val),
                  f->r->value, f->r->value_len, f->r->timestamp);
}

static int right_change(evl_task_t *t, evl_node_t *fr, const evl_srec_t *r)
{
    if (!r->key || r->key_len > FK_MAX)
        return 0;
    uint8_t prefix[2 + FK_MAX];
    size_t n = sub_key(prefix, r->key, r->key_len, NULL, 0);
    fanout_t f = {t, fr, n, r};
    return evl__task_store_scan(t, fr->join->store_idx, prefix, n, fan_one, &f);
}

static int response(evl_task_t *t, evl_node_t *fp, const evl_srec_t *r)
{
    if (!r->key || !r->value || r->value_len < 9)
        return 0;
    const uint8_t *v = r->value;
    const void *va;
    size_t val;
    int rc = evl__task_store_read(t, fp->sides[0]->store_idx, r->key, r->key_len, &va, &val);
    if (rc == EVL_ENOTFOUND || (!rc && fnv1a64(va, val) != be64get(v)))
        return 0; /* an answer to a value left no longer has */
    if (rc)
        return rc;
    void *vac = malloc(val ? val : 1);
    if (!vac)
        return EVL_ENOMEM;
    memcpy(vac, va, val);
    rc = join_into(t, fp->join, r->key, r->key_len, vac, val, v[8] ? v + 9 : NULL,
                   r->value_len - 9, r->timestamp);
    free(vac);
    return rc;
}

int evl__fkjoin_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    switch (n->kind) {
    case N_FKLEFT:
        return left_change(t, n, r);
    case N_FKSUB:
        return subscription(t, n, r);
    case N_FKRIGHT:
        return right_change(t, n, r);
    case N_FKRESP:
        return response(t, n, r);
    default:
        return 0; /* N_FKJOIN: fed by the others */
    }
}
