/*
 * task.c - a task: one partition of a sub-topology's inputs, its state
 * stores, and the protocol that makes its processing exactly once.
 *
 * Where things are:
 *  - the state: an LMDB environment of the task's own under
 *    state.dir/APPLICATION_ID/SUB_PARTITION (a cache: everything in it can
 *    be rebuilt from the changelog);
 *  - the changelog: partition P of the compacted topic
 *    APPLICATION_ID-SUB-changelog, shared by every instance on the log. Its
 *    records: state changes (key: store index byte + key), a checkpoint
 *    (key CKPT: the commit number, the input positions and the producer
 *    sequences after the commit) and an intent (key INTENT: the input
 *    extent of the batch about to be processed).
 *
 * A batch, under exactly_once:
 *   1. the intent (each input's [from, to)) is appended to the changelog;
 *   2. the records of that extent are processed in a fixed order (input by
 *      input, offset by offset) in an LMDB write transaction over the
 *      committed state; outputs go through the task's idempotent producer
 *      (producer.name APPLICATION_ID.SUB_P, the same in every instance);
 *   3. the state changes and a checkpoint are appended to the changelog as
 *      one batch: one frame, visible at once or not at all;
 *   4. the LMDB transaction commits, with the checkpoint.
 *
 * Why nothing is lost or repeated, whenever the process dies:
 *  - before 1: nothing of the batch happened;
 *  - between 1 and 3: the changelog ends with an intent after its last
 *    checkpoint. Whoever opens the task next (this instance or another)
 *    brings its state to that checkpoint from the changelog, rewinds the
 *    producer to the checkpoint's sequences and processes the intent's
 *    extent again. Same state, same records, same order, deterministic
 *    callbacks: the same output records with the same sequences, which the
 *    output partitions already hold and do not append again (idempotence).
 *    Nothing appended is ever withdrawn, so readers need no isolation;
 *  - between 3 and 4: the changelog holds the commit; opening the task
 *    applies its changes to the local state: done.
 * The local state never runs ahead of the changelog (4 follows 3), and a
 * task moved to another instance, or whose state.dir was deleted, reads
 * the changelog from its local checkpoint on (or from the start).
 */
#include "streams_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CKPT "\xff\xff" "checkpoint"
#define INTENT "\xff\xff" "intent"
#define CKPT_LOCAL "\xff\xff" "local"
#define FENCE "\xff\xff" "fence"
#define MAX_OUT 1024     /* (topic, partition) pairs a task writes */
#define MAX_DEPTH 64

typedef struct outp {
    char *topic;
    int32_t partition;
    int64_t seq;         /* next sequence, as of the last commit */
} outp_t;

#define MAX_SINKS 256   /* nodes whose partition counts are kept */

typedef struct outrec {
    evl_node_t *node;
    bool has_key, has_value;
    size_t key_off, key_len, value_off, value_len;
    int64_t timestamp;
    int32_t partition;
} outrec_t;

/* A punctuation schedule in this task: processor n's i-th, due at next
 * (stream-time schedules' next is in the checkpoint). */
typedef struct pstate {
    evl_node_t *n;
    int i;
    int64_t next, saved;
} pstate_t;

/* Per-task metrics (evl_task_metrics_t). */
enum { TM_RECORDS, TM_PUNCT, TM_DROPPED, TM_SKIPPED, TM_COMMITS, TM_COMMIT_US, TM_COMMIT_MAX,
       TM_RESTORE_TOTAL, TM_RESTORED, TM_REPLAYED, TM_N };

struct evl_task {
    evl_streams_t *app;
    evl_sub_t *sub;
    int p;
    char name[32];
    char *changelog;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;        /* during a batch */
    evl_producer_t *prod;
    int64_t *pos;        /* per source: the next offset to process */
    int64_t commit;      /* commit number */
    int64_t stream_time; /* the largest timestamp seen (in the checkpoint) */
    outp_t out[MAX_OUT];
    size_t nout;
    evl_bcache_t cache;  /* the batch's entries read and written */
    outrec_t *ob;        /* the batch's outputs, sent before the commit */
    size_t nob, capob;
    char *obuf;
    size_t obytes, capbytes;
    int sink_parts[MAX_SINKS];
    evl_emit_t em[MAX_DEPTH];
    int depth;
    int err;
    pstate_t *ps;        /* punctuation schedules */
    size_t nps;
    evl_gsnap_t gs;      /* the batch's view of the global tables */
    bool standby;        /* a standby's copy being brought up to date */
    bool marked;         /* counted open in the application's set */
    atomic_llong tm[TM_N];
};

static void bump(evl_task_t *t, int tm, int metric)
{
    atomic_fetch_add(&t->tm[tm], 1);
    if (metric >= 0)
        atomic_fetch_add(&t->app->metrics[metric], 1);
}

static pstate_t *ps_find(evl_task_t *t, long long node, long long i)
{
    for (size_t k = 0; k < t->nps; k++)
        if (t->ps[k].n->id == node && t->ps[k].i == i)
            return &t->ps[k];
    return NULL;
}

static bool ps_stream(const pstate_t *ps)
{
    return ps->n->puncts[ps->i].type == EVL_PUNCTUATE_STREAM_TIME;
}

/* ---- checkpoint and intent texts ---- */

static int ckpt_text(evl_task_t *t, char **out)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return EVL_ENOMEM;
    fprintf(f, "c %lld\n", (long long)t->commit);
    fprintf(f, "t %lld\n", (long long)t->stream_time);
    for (size_t i = 0; i < t->sub->nsources; i++)
        fprintf(f, "p %zu %lld\n", i, (long long)t->pos[i]);
    for (size_t i = 0; i < t->nps; i++)
        if (ps_stream(&t->ps[i]))
            fprintf(f, "u %d %d %lld\n", t->ps[i].n->id, t->ps[i].i, (long long)t->ps[i].next);
    for (size_t i = 0; i < t->nout; i++)
        fprintf(f, "s %d %lld %s\n", (int)t->out[i].partition, (long long)t->out[i].seq,
                t->out[i].topic);
    if (fclose(f))
        return EVL_ENOMEM;
    *out = s;
    return 0;
}

static outp_t *outp_find(evl_task_t *t, const char *topic, int32_t partition, bool add)
{
    for (size_t i = 0; i < t->nout; i++)
        if (t->out[i].partition == partition && !strcmp(t->out[i].topic, topic))
            return &t->out[i];
    if (!add || t->nout == MAX_OUT)
        return NULL;
    outp_t *o = &t->out[t->nout];
    if (!(o->topic = strdup(topic)))
        return NULL;
    o->partition = partition;
    o->seq = 0;
    t->nout++;
    return o;
}

/* Read a checkpoint (from LMDB or the changelog) into the task. */
static int ckpt_parse(evl_task_t *t, const char *s, size_t len)
{
    char *text = strndup(s, len), *save = NULL;
    if (!text)
        return EVL_ENOMEM;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long a, b, c;
        int p, used = 0;
        if (sscanf(line, "c %lld", &a) == 1) {
            t->commit = a;
        } else if (sscanf(line, "t %lld", &a) == 1) {
            t->stream_time = a;
        } else if (sscanf(line, "p %lld %lld", &a, &b) == 2) {
            if (a >= 0 && (size_t)a < t->sub->nsources)
                t->pos[a] = b;
        } else if (sscanf(line, "u %lld %lld %lld", &a, &b, &c) == 3) {
            pstate_t *ps = ps_find(t, a, b);
            if (ps && ps_stream(ps))
                ps->next = c;
        } else if (sscanf(line, "s %d %lld %n", &p, &b, &used) == 2 && used) {
            outp_t *o = outp_find(t, line + used, p, true);
            if (!o) {
                free(text);
                return EVL_ENOMEM;
            }
            o->seq = b;
        }
    }
    free(text);
    return 0;
}

/* An intent: from[i], to[i] per source. */
static char *intent_text(evl_task_t *t, const int64_t *to, const char *extra)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return NULL;
    for (size_t i = 0; i < t->sub->nsources; i++)
        fprintf(f, "x %zu %lld %lld\n", i, (long long)t->pos[i], (long long)to[i]);
    if (extra)
        fputs(extra, f);
    return fclose(f) ? NULL : s;
}

static int intent_parse(evl_task_t *t, const char *s, size_t len, int64_t *from, int64_t *to)
{
    char *text = strndup(s, len), *save = NULL;
    for (size_t i = 0; i < t->sub->nsources; i++)
        from[i] = to[i] = -1;
    if (!text)
        return EVL_ENOMEM; /* a replay needs its extent: the open fails */
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        long long i, a, b;
        if (sscanf(line, "x %lld %lld %lld", &i, &a, &b) == 3 && i >= 0 &&
            (size_t)i < t->sub->nsources) {
            from[i] = a;
            to[i] = b;
        }
    }
    free(text);
    return 0;
}

/* ---- the local environment ---- */

static int mdb_rc(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return EVL_ENOTFOUND;
    if (rc == ENOMEM || rc == MDB_MAP_FULL)
        return EVL_ENOMEM;
    if (rc == ENOSPC)
        return EVL_ENOSPC;
    return rc > 0 ? -rc : EVL_EIO;
}

int evl__mdb_rc(int rc)
{
    return mdb_rc(rc);
}

static int env_open(evl_task_t *t)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s/%s", t->app->state_dir, t->app->app_id, t->name) < 0)
        return EVL_ENOMEM;
    int rc = evl__mkdirs(dir);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_rc(mdb_env_create(&t->env));
    if (!rc)
        rc = mdb_rc(mdb_env_set_mapsize(t->env, (size_t)1 << 30));
    /* no fsync: the changelog is the durable copy; this is a cache */
    if (!rc)
        rc = mdb_rc(mdb_env_open(t->env, dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS, 0644));
    if (!rc)
        rc = mdb_rc(mdb_txn_begin(t->env, NULL, 0, &txn));
    if (!rc)
        rc = mdb_rc(mdb_dbi_open(txn, NULL, 0, &t->dbi));
    if (!rc)
        rc = mdb_rc(mdb_txn_commit(txn));
    else if (txn)
        mdb_txn_abort(txn);
    free(dir);
    return rc;
}

/* ---- the store inside a batch ---- */

/* key of store idx: a byte and the record's key (at most 500 bytes). */
static int skey(uint8_t *buf, int idx, const evl_srec_t *r, size_t *len)
{
    if (r->key_len > 500)
        return EVL_ETOOBIG;
    buf[0] = (uint8_t)idx;
    if (r->key_len)
        memcpy(buf + 1, r->key, r->key_len);
    *len = r->key_len + 1;
    return 0;
}

/* Reads go through the batch cache (a key read again costs a hash
 * lookup); a value found stays valid until that key is written. */
int evl__task_store_read(evl_task_t *t, int idx, const void *key, size_t klen, const void **val,
                         size_t *vlen)
{
    uint8_t k[512];
    size_t kl;
    evl_srec_t r = {key, klen, NULL, 0, 0};
    int rc = skey(k, idx, &r, &kl);
    if (rc)
        return rc;
    evl_bent_t *e = evl__bcache_find(&t->cache, k, kl);
    if (!e) {
        MDB_val mk = {kl, k}, mv;
        rc = mdb_rc(mdb_get(t->txn, t->dbi, &mk, &mv));
        if (rc && rc != EVL_ENOTFOUND)
            return rc;
        if ((rc = evl__bcache_set(&t->cache, k, kl, rc ? NULL : mv.mv_data, rc ? 0 : mv.mv_size,
                                  false, &e)))
            return rc;
    }
    if (!e->val)
        return EVL_ENOTFOUND;
    *val = e->val;
    *vlen = e->vlen;
    return 0;
}

int evl__task_store_write(evl_task_t *t, int idx, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    uint8_t k[512];
    size_t kl;
    evl_srec_t r = {key, klen, NULL, 0, 0};
    int rc = skey(k, idx, &r, &kl);
    if (rc)
        return rc;
    /* through to the transaction at once (scans read it), and the cache */
    MDB_val mk = {kl, k}, mv = {vlen, (void *)val};
    rc = val ? mdb_rc(mdb_put(t->txn, t->dbi, &mk, &mv, 0)) : mdb_rc(mdb_del(t->txn, t->dbi, &mk, NULL));
    if (rc == EVL_ENOTFOUND)
        rc = 0;
    return rc ? rc : evl__bcache_set(&t->cache, k, kl, val, vlen, true, NULL);
}

/* The entries of store idx from key lo on while they have the prefix lo
 * (prefix) or are <= hi (hi NULL: to the store's end), copied first (the
 * callback may write), then visited in order. */
int evl__visit(MDB_txn *txn, MDB_dbi dbi, int idx, const void *lo, size_t lol, bool prefix,
               const void *hi, size_t hil, evl_entry_fn *cb, void *arg)
{
    uint8_t k[512], h[512];
    size_t kl, hl = 0;
    evl_srec_t r = {lo, lol, NULL, 0, 0};
    int rc = skey(k, idx, &r, &kl);
    if (!rc && hi) {
        evl_srec_t rh = {hi, hil, NULL, 0, 0};
        rc = skey(h, idx, &rh, &hl);
    }
    MDB_cursor *cur;
    if (rc || (rc = mdb_rc(mdb_cursor_open(txn, dbi, &cur))))
        return rc;
    typedef struct ent {
        uint8_t *p;
        size_t kl, vl;
    } ent_t;
    ent_t *v = NULL;
    size_t n = 0, cap = 0;
    MDB_val mk = {kl, k}, mv;
    int op = MDB_SET_RANGE;
    while ((rc = mdb_rc(mdb_cursor_get(cur, &mk, &mv, op))) == 0) {
        op = MDB_NEXT;
        if (prefix && (mk.mv_size < kl || memcmp(mk.mv_data, k, kl)))
            break;
        if (!prefix && (mk.mv_size < 1 || ((const uint8_t *)mk.mv_data)[0] != (uint8_t)idx))
            break;
        if (!prefix && hi) {
            size_t m = mk.mv_size < hl ? mk.mv_size : hl;
            int c = memcmp(mk.mv_data, h, m);
            if (c > 0 || (c == 0 && mk.mv_size > hl))
                break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ent_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = EVL_ENOMEM;
                break;
            }
            v = nv;
        }
        if (!(v[n].p = malloc(mk.mv_size + mv.mv_size + 1))) {
            rc = EVL_ENOMEM;
            break;
        }
        memcpy(v[n].p, mk.mv_data, mk.mv_size);
        memcpy(v[n].p + mk.mv_size, mv.mv_data, mv.mv_size);
        v[n].kl = mk.mv_size;
        v[n].vl = mv.mv_size;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc == EVL_ENOTFOUND)
        rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            int stop = cb(arg, v[i].p + 1, v[i].kl - 1, v[i].p + v[i].kl, v[i].vl);
            if (stop)
                rc = stop < 0 ? stop : 1;
        }
        free(v[i].p);
    }
    free(v);
    return rc > 0 ? 0 : rc;
}

int evl__task_store_scan(evl_task_t *t, int idx, const void *prefix, size_t plen,
                         int (*cb)(void *arg, const void *key, size_t klen, const void *val,
                                   size_t vlen),
                         void *arg)
{
    return evl__visit(t->txn, t->dbi, idx, prefix, plen, true, NULL, 0, cb, arg);
}

int evl__task_store_range(evl_task_t *t, int idx, const void *from, size_t fl, const void *to,
                          size_t tl, evl_entry_fn *cb, void *arg)
{
    return evl__visit(t->txn, t->dbi, idx, from ? from : "", from ? fl : 0, false, to, tl, cb, arg);
}

int evl__task_store_index(evl_task_t *t, const char *store)
{
    for (size_t i = 0; i < t->sub->nstores; i++)
        if (!strcmp(t->sub->stores[i], store))
            return (int)i;
    return -1;
}

/* Interactive queries: a store's committed entries, read-only. */
int evl__task_query_range(evl_task_t *t, const char *store, const void *from, size_t fl,
                          const void *to, size_t tl, bool prefix, evl_entry_fn *cb, void *arg)
{
    int idx = evl__task_store_index(t, store);
    if (idx < 0)
        return EVL_ENOTFOUND;
    MDB_txn *txn;
    int rc = mdb_rc(mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc;
    rc = evl__visit(txn, t->dbi, idx, from ? from : "", from ? fl : 0, prefix, to, tl, cb, arg);
    mdb_txn_abort(txn);
    return rc;
}

int64_t evl__task_stream_time(evl_task_t *t)
{
    return t->stream_time;
}

void evl__task_dropped(evl_task_t *t)
{
    bump(t, TM_DROPPED, EVL_SM_DROPPED);
}

evl_streams_t *evl__task_app(evl_task_t *t)
{
    return t->app;
}

evl_gsnap_t *evl__task_gsnap(evl_task_t *t)
{
    return &t->gs;
}

/* ---- processing ---- */

static int deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);

int evl__task_forward(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);

static int to_kids(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    return evl__task_forward(t, n, r);
}

int evl__task_forward(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    for (size_t i = 0; i < n->nkids; i++) {
        int rc = deliver(t, n->kids[i], r);
        if (rc)
            return rc;
    }
    return 0;
}

/* Outputs are kept in the batch and sent in order before the commit, in
 * runs of one topic (one send of many records instead of a send each). */
static int sink_(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);

static int sink(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    if (!n->kserde && !n->vserde)
        return sink_(t, n, r);
    evl_srec_t o = *r;
    void *kown, *vown;
    bool bad_key;
    int rc = evl__serde_apply(n->kserde, n->vserde, true, &o, &kown, &vown, &bad_key);
    if (rc) {
        const evl_serde_t *s = bad_key ? n->kserde : n->vserde;
        evl__app_fail(t->app, rc, "task %s: a %s for '%s' does not serialize as %s: %s", t->name,
                      bad_key ? "key" : "value", n->topic,
                      s && s->name ? s->name : "its serde", evl_strerror(rc));
        return rc;
    }
    rc = sink_(t, n, &o);
    free(kown);
    free(vown);
    return rc;
}

static int sink_(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    int parts = n->id < MAX_SINKS ? t->sink_parts[n->id] : 0;
    if (parts <= 0) {
        parts = evl__topic_ensure(t->app->log, n->topic, t->sub->partitions, NULL);
        if (parts < 0)
            return parts;
        if (n->id < MAX_SINKS)
            t->sink_parts[n->id] = parts;
    }
    if (t->nob == t->capob) {
        size_t cap = t->capob ? t->capob * 2 : 256;
        outrec_t *o = realloc(t->ob, cap * sizeof *o);
        if (!o)
            return EVL_ENOMEM;
        t->ob = o;
        t->capob = cap;
    }
    size_t need = t->obytes + r->key_len + r->value_len;
    if (need > t->capbytes) {
        size_t cap = t->capbytes ? t->capbytes : 65536;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(t->obuf, cap);
        if (!nb)
            return EVL_ENOMEM;
        t->obuf = nb;
        t->capbytes = cap;
    }
    outrec_t *o = &t->ob[t->nob++];
    o->node = n;
    o->has_key = r->key != NULL;
    o->has_value = r->value != NULL;
    o->key_off = t->obytes;
    o->key_len = r->key_len;
    if (r->key_len)
        memcpy(t->obuf + t->obytes, r->key, r->key_len);
    t->obytes += r->key_len;
    o->value_off = t->obytes;
    o->value_len = r->value_len;
    if (r->value_len)
        memcpy(t->obuf + t->obytes, r->value, r->value_len);
    t->obytes += r->value_len;
    o->timestamp = r->timestamp;
    /* keyless: a partition that depends on the task only, so a replay
     * sends it where the first attempt did */
    o->partition = r->key ? EVL_PARTITION_ANY : t->p % parts;
    if (n->part_fn) {
        int32_t q = n->part_fn(n->part_arg, r, parts);
        if (q >= parts) {
            t->nob--;
            return EVL_EINVAL;
        }
        if (q >= 0)
            o->partition = q;
    }
    return 0;
}

static int flush_outputs(evl_task_t *t)
{
    int rc = 0;
    evl_msg_t *m = t->nob ? malloc(t->nob * sizeof *m) : NULL;
    if (t->nob && !m)
        return EVL_ENOMEM;
    for (size_t i = 0; i < t->nob; i++) {
        outrec_t *o = &t->ob[i];
        m[i] = (evl_msg_t){.key = o->has_key ? t->obuf + o->key_off : NULL,
                           .key_len = o->key_len,
                           .value = o->has_value ? t->obuf + o->value_off : NULL,
                           .value_len = o->value_len, .timestamp = o->timestamp,
                           .partition = o->partition, .offset = -1};
    }
    for (size_t i = 0; !rc && i < t->nob;) {
        size_t j = i;
        while (j < t->nob && t->ob[j].node == t->ob[i].node)
            j++;
        const char *topic = t->ob[i].node->topic;
        rc = evl_producer_send_batch_to(t->prod, topic, m + i, j - i, 0);
        for (size_t k = i; !rc && k < j; k++)
            if (!outp_find(t, topic, m[k].partition, true))
                rc = EVL_ENOMEM;
        i = j;
    }
    free(m);
    t->nob = 0;
    t->obytes = 0;
    return rc;
}

/* r into the aggregate of node n (its store, initializer, children)
 * through fn: n's own, or a cogrouped input's (N_COSIDE). */
static int aggregate_with(evl_task_t *t, evl_node_t *n, evl_agg_fn *fn, void *arg,
                          const evl_srec_t *r)
{
    if (!r->key)
        return 0; /* Kafka Streams drops null keys in aggregations */
    MDB_val val;
    int rc = evl__task_store_read(t, n->store_idx, r->key, r->key_len,
                                  (const void **)&val.mv_data, &val.mv_size);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    bool found = rc == 0;
    uint8_t cnt[8];
    const void *nv;
    size_t nvl;
    if (n->aggkind == AGG_COUNT) {
        uint64_t c = 0;
        if (found && val.mv_size == 8)
            for (int i = 0; i < 8; i++)
                c = c << 8 | ((const uint8_t *)val.mv_data)[i];
        c++;
        for (int i = 0; i < 8; i++)
            cnt[i] = (uint8_t)(c >> (56 - 8 * i));
        nv = cnt;
        nvl = 8;
    } else {
        if (t->depth + 1 >= MAX_DEPTH)
            return EVL_EINVAL;
        evl_emit_t *em = &t->em[t->depth++];
        evl__emit_reset(em, N_MAP_VALUES, r);
        const void *cur = found ? val.mv_data : NULL;
        size_t curl = found ? val.mv_size : 0;
        if (!found && n->aggkind == AGG_AGGREGATE) {
            cur = n->init ? n->init : "";
            curl = n->init_len;
        }
        if (!found && n->aggkind == AGG_REDUCE)
            rc = evl_emit(em, r->key, r->key_len, r->value, r->value_len, -1);
        else
            rc = fn(arg, r, cur, curl, em);
        t->depth--;
        if ((rc = evl__emit_one(em, rc)))
            return rc;
        nv = em->recs[0].value ? em->recs[0].value : "";
        nvl = em->recs[0].value_len;
    }
    if ((rc = evl__task_store_write(t, n->store_idx, r->key, r->key_len, nv, nvl)))
        return rc;
    evl_srec_t out = {r->key, r->key_len, nv, nvl, r->timestamp};
    /* nv may point into an emitter a child reuses: copy for the children */
    void *copy = malloc(nvl ? nvl : 1);
    if (!copy)
        return EVL_ENOMEM;
    memcpy(copy, nv, nvl);
    out.value = copy;
    rc = to_kids(t, n, &out);
    free(copy);
    return rc;
}

static int deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r)
{
    switch (n->kind) {
    case N_SOURCE:
    case N_PASS:
        return to_kids(t, n, r);
    case N_FILTER:
    case N_FILTER_NOT:
        if (n->fn.pred(n->arg, r) != (n->kind == N_FILTER))
            return 0;
        return to_kids(t, n, r);
    case N_PEEK:
        n->fn.each(n->arg, r);
        return to_kids(t, n, r);
    case N_FOREACH:
        n->fn.each(n->arg, r);
        return 0;
    case N_BRANCH:
        for (size_t i = 0; i < n->npreds; i++)
            if (!n->preds[i] || n->preds[i](n->pred_args[i], r))
                return deliver(t, n->kids[i], r);
        return 0;
    case N_SINK:
        return sink(t, n, r);
    case N_AGG:
        return aggregate_with(t, n, n->fn.agg, n->arg, r);
    case N_FKLEFT:
    case N_FKSUB:
    case N_FKRIGHT:
    case N_FKRESP:
    case N_FKJOIN:
        return evl__fkjoin_deliver(t, n, r);
    case N_COSIDE: /* a cogrouped input: its aggregator, the shared aggregate */
        return aggregate_with(t, n->join, n->fn.agg, n->arg, r);
    case N_WAGG:
        return evl__window_deliver(t, n, r);
    case N_TMAP:
    case N_TFILTER:
        return evl__ktable_deliver(t, n, r);
    case N_PROC:
        return evl__proc_deliver(t, n, r);
    case N_GJOIN:
        return evl__global_join_deliver(t, n, r);
    case N_GTABLE:
        return 0;
    case N_TABLE:
    case N_SJOIN:
    case N_TJOIN_SIDE:
    case N_TJOIN:
    case N_SSJOIN_SIDE:
    case N_SSJOIN:
        return evl__join_deliver(t, n, r);
    case N_MAP:
    case N_MAP_VALUES:
    case N_FLAT_MAP:
    case N_FLAT_MAP_VALUES:
    case N_SELECT_KEY: {
        if (t->depth >= MAX_DEPTH)
            return EVL_EINVAL;
        evl_emit_t *em = &t->em[t->depth++];
        evl__emit_reset(em, n->kind, r);
        int rc = n->fn.xform(n->arg, r, em);
        if (rc >= 0 && em->err)
            rc = em->err;
        if (rc >= 0 && (n->kind == N_MAP || n->kind == N_MAP_VALUES || n->kind == N_SELECT_KEY) &&
            em->n != 1)
            rc = EVL_EINVAL;
        if (rc >= 0) {
            evl__emit_fix(em);
            for (size_t i = 0; rc >= 0 && i < em->n; i++)
                rc = to_kids(t, n, &em->recs[i]);
        }
        t->depth--;
        return rc < 0 ? rc : 0;
    }
    }
    return 0;
}

/* ---- commit ---- */

static void chg_clear(evl_task_t *t)
{
    evl__bcache_clear(&t->cache);
}

/* 3 and 4 of the protocol: the changes and a checkpoint to the changelog
 * in one frame, then the local transaction. */
static int64_t now_us(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int commit_(evl_task_t *t);

static int commit(evl_task_t *t)
{
    int64_t t0 = now_us(CLOCK_MONOTONIC);
    int rc = commit_(t);
    int64_t us = now_us(CLOCK_MONOTONIC) - t0;
    atomic_fetch_add(&t->tm[TM_COMMIT_US], us);
    if (us > atomic_load(&t->tm[TM_COMMIT_MAX]))
        atomic_store(&t->tm[TM_COMMIT_MAX], us);
    return rc;
}

static int commit_(evl_task_t *t)
{
    int rc = flush_outputs(t);
    if (rc)
        return rc;
    t->commit++;
    /* output sequences after this batch */
    for (size_t i = 0; !rc && i < t->nout; i++)
        if (strcmp(t->out[i].topic, t->changelog))
            rc = evl_producer_sequence_to(t->prod, t->out[i].topic, t->out[i].partition,
                                          &t->out[i].seq);
    /* the batch's changes: each key written once, with its last value */
    size_t n = 1;
    for (size_t i = 0; i < t->cache.n; i++)
        n += t->cache.ents[i].dirty;
    evl_msg_t *m = calloc(n, sizeof *m);
    if (!m)
        return EVL_ENOMEM;
    for (size_t i = 0, j = 0; i < t->cache.n; i++) {
        const evl_bent_t *e = &t->cache.ents[i];
        if (e->dirty)
            m[j++] = (evl_msg_t){.key = e->key, .key_len = e->klen, .value = e->val,
                                 .value_len = e->vlen, .timestamp = -1, .partition = t->p};
    }
    /* the changelog's own sequence after this frame */
    outp_t *cl = outp_find(t, t->changelog, t->p, true);
    char *ck = NULL;
    if (!rc && !cl)
        rc = EVL_ENOMEM;
    if (!rc)
        rc = evl_producer_sequence_to(t->prod, t->changelog, t->p, &cl->seq);
    if (!rc) {
        cl->seq += (int64_t)n;
        rc = ckpt_text(t, &ck);
    }
    if (!rc) {
        m[n - 1] = (evl_msg_t){.key = CKPT, .key_len = sizeof CKPT - 1, .value = ck,
                               .value_len = strlen(ck), .timestamp = -1, .partition = t->p};
        rc = evl_producer_send_batch_to(t->prod, t->changelog, m, n, 0);
    }
    if (!rc) {
        MDB_val key = {sizeof CKPT_LOCAL - 1, CKPT_LOCAL};
        char *local = NULL;
        if (asprintf(&local, "o %lld\n%s", (long long)m[n - 1].offset, ck) < 0)
            rc = EVL_ENOMEM;
        MDB_val val = {local ? strlen(local) : 0, local};
        if (!rc)
            rc = mdb_rc(mdb_put(t->txn, t->dbi, &key, &val, 0));
        free(local);
    }
    free(ck);
    free(m);
    if (!rc) {
        rc = mdb_rc(mdb_txn_commit(t->txn));
        t->txn = NULL;
    }
    chg_clear(t);
    bump(t, TM_COMMITS, EVL_SM_COMMITS);
    return rc;
}

static int begin(evl_task_t *t)
{
    chg_clear(t);
    return mdb_rc(mdb_txn_begin(t->env, NULL, 0, &t->txn));
}

static void abort_txn(evl_task_t *t)
{
    if (t->txn)
        mdb_txn_abort(t->txn);
    t->txn = NULL;
    chg_clear(t);
    t->nob = 0;
    t->obytes = 0;
}

static int run_record(evl_task_t *t, size_t src, const evl_record_t *rec)
{
    size_t kl, vl;
    const void *k = evl_record_key(rec, &kl);
    const void *v = evl_record_value(rec, &vl);
    evl_srec_t r = {k, k ? kl : 0, v, v ? vl : 0, evl_record_timestamp(rec)};
    evl_node_t *sn = t->sub->source_nodes[src];
    bump(t, TM_RECORDS, EVL_SM_RECORDS);
    void *kown = NULL, *vown = NULL;
    bool bad_key;
    int rc = evl__serde_apply(sn->kserde, sn->vserde, false, &r, &kown, &vown, &bad_key);
    if (rc) {
        /* deserialization.exception.handler */
        if (t->app->deser_continue) {
            bump(t, TM_SKIPPED, EVL_SM_SKIPPED);
            return 0;
        }
        const evl_serde_t *s = bad_key ? sn->kserde : sn->vserde;
        evl__app_fail(t->app, rc, "task %s: %s/%d@%lld: the %s does not deserialize as %s: %s",
                      t->name, sn->topic, t->p, (long long)evl_record_offset(rec),
                      bad_key ? "key" : "value", s && s->name ? s->name : "its serde",
                      evl_strerror(rc));
        return rc;
    }
    if (sn->ts_fn) {
        int64_t ts = sn->ts_fn(sn->ts_arg, &r, t->stream_time);
        if (ts < 0) {
            bump(t, TM_SKIPPED, EVL_SM_SKIPPED);
            free(kown);
            free(vown);
            return 0;
        }
        r.timestamp = ts;
    }
    if (r.timestamp > t->stream_time)
        t->stream_time = r.timestamp;
    rc = deliver(t, sn, &r);
    free(kown);
    free(vown);
    /* stream-time punctuation: once stream time reaches a schedule's
     * time (Kafka's PunctuationSchedule: a jump over several intervals
     * punctuates once, the next after stream time + interval) */
    for (size_t i = 0; !rc && i < t->nps; i++) {
        pstate_t *ps = &t->ps[i];
        if (!ps_stream(ps) || t->stream_time < ps->next)
            continue;
        int64_t iv = ps->n->puncts[ps->i].interval;
        ps->next = sat_add(ps->next, iv) <= t->stream_time ? sat_add(t->stream_time, iv)
                                                            : sat_add(ps->next, iv);
        bump(t, TM_PUNCT, EVL_SM_PUNCTUATIONS);
        rc = evl__proc_punctuate(t, ps->n, ps->i, t->stream_time);
    }
    return rc;
}

/* 1: the intent of a batch ending at to[] (extra: more lines) */
static int intend(evl_task_t *t, const int64_t *to, const char *extra)
{
    if (!t->app->eos)
        return 0;
    char *s = intent_text(t, to, extra);
    if (!s)
        return EVL_ENOMEM;
    evl_msg_t m = {.key = INTENT, .key_len = sizeof INTENT - 1, .value = s,
                   .value_len = strlen(s), .timestamp = -1, .partition = t->p};
    int rc = evl_producer_send_to(t->prod, t->changelog, &m, 0);
    free(s);
    return rc;
}

int evl__task_process(evl_task_t *t, const evl_record_t *const *recs, const size_t *src,
                      size_t n)
{
    if (!n)
        return 0;
    int64_t *to = malloc(t->sub->nsources * sizeof *to);
    if (!to)
        return EVL_ENOMEM;
    for (size_t i = 0; i < t->sub->nsources; i++)
        to[i] = t->pos[i];
    for (size_t i = 0; i < n; i++)
        to[src[i]] = evl_record_offset(recs[i]) + 1;
    int64_t stream_time = t->stream_time; /* as committed, should the batch fail */
    for (size_t i = 0; i < t->nps; i++)
        t->ps[i].saved = t->ps[i].next;
    char *glines = NULL;
    int rc = evl__global_begin(t, &t->gs, NULL, t->app->eos ? &glines : NULL);
    if (!rc)
        rc = intend(t, to, glines);
    free(glines);
    if (!rc)
        rc = begin(t);
    /* the order: the input whose next record has the smallest timestamp
     * goes first (ties: the input declared first), each input in offset
     * order, as Kafka Streams' PartitionGroup picks; a replay merges the
     * same extent the same way */
    size_t ns = t->sub->nsources;
    size_t *head = calloc(2 * ns, sizeof *head), *end = head ? head + ns : NULL;
    if (!head)
        rc = EVL_ENOMEM;
    for (size_t i = 0; head && i < ns; i++)
        head[i] = end[i] = 0;
    for (size_t i = n; head && i-- > 0;) { /* each input's run [head, end) */
        if (end[src[i]] == 0)
            end[src[i]] = i + 1;
        head[src[i]] = i;
    }
    while (!rc && head) {
        size_t pick = ns;
        for (size_t k = 0; k < ns; k++)
            if (head[k] < end[k] &&
                (pick == ns ||
                 evl_record_timestamp(recs[head[k]]) < evl_record_timestamp(recs[head[pick]])))
                pick = k;
        if (pick == ns)
            break;
        rc = run_record(t, pick, recs[head[pick]++]);
    }
    free(head);
    if (!rc) {
        for (size_t i = 0; i < t->sub->nsources; i++)
            t->pos[i] = to[i];
        rc = commit(t);
    } else {
        abort_txn(t);
        t->stream_time = stream_time;
        for (size_t i = 0; i < t->nps; i++)
            t->ps[i].next = t->ps[i].saved;
    }
    evl__global_end(&t->gs);
    free(to);
    return rc;
}

/* When the task's next wall-clock punctuation is due (INT64_MAX: none). */
int64_t evl__task_next_wall(evl_task_t *t)
{
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < t->nps; i++)
        if (!ps_stream(&t->ps[i]) && t->ps[i].next < due)
            due = t->ps[i].next;
    return due;
}

/* Wall-clock punctuations due at now: a batch of their own, its time in
 * its intent (a replay gets the same). */
int evl__task_wall_punctuate(evl_task_t *t, int64_t now)
{
    bool due = false;
    for (size_t i = 0; i < t->nps; i++)
        due |= !ps_stream(&t->ps[i]) && now >= t->ps[i].next;
    if (!due)
        return 0;
    char *glines = NULL, *lines = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&lines, &len);
    int rc = f ? evl__global_begin(t, &t->gs, NULL, t->app->eos ? &glines : NULL) : EVL_ENOMEM;
    if (f) {
        if (glines)
            fputs(glines, f);
        for (size_t i = 0; i < t->nps; i++)
            if (!ps_stream(&t->ps[i]) && now >= t->ps[i].next)
                fprintf(f, "w %d %d %lld\n", t->ps[i].n->id, t->ps[i].i, (long long)now);
        if (fclose(f) && !rc)
            rc = EVL_ENOMEM;
    }
    free(glines);
    if (!rc)
        rc = intend(t, t->pos, lines);
    if (!rc)
        rc = begin(t);
    for (size_t i = 0; !rc && i < t->nps; i++) {
        pstate_t *ps = &t->ps[i];
        if (ps_stream(ps) || now < ps->next)
            continue;
        ps->next = sat_add(now, ps->n->puncts[ps->i].interval);
        bump(t, TM_PUNCT, EVL_SM_PUNCTUATIONS);
        rc = evl__proc_punctuate(t, ps->n, ps->i, now);
    }
    if (!rc)
        rc = commit(t);
    else
        abort_txn(t);
    evl__global_end(&t->gs);
    free(lines);
    return rc;
}

/* Process the extent [from, to) of each source again, from readers, in
 * the order evl__task_process used: by the heads' timestamps. */
static int replay(evl_task_t *t, const int64_t *from, const int64_t *to, const char *intent)
{
    size_t ns = t->sub->nsources;
    evl_reader_t **rd = calloc(ns, sizeof *rd);
    const evl_record_t **cur = calloc(ns, sizeof *cur);
    int rc = rd && cur ? evl__global_begin(t, &t->gs, intent, NULL) : EVL_ENOMEM;
    if (!rc)
        rc = begin(t);
    for (size_t i = 0; !rc && i < ns; i++) {
        if (from[i] < 0 || to[i] <= from[i])
            continue;
        if ((rc = evl_reader_open(t->app->log, t->sub->sources[i], t->p, &rd[i])))
            break;
        rc = evl_reader_seek(rd[i], from[i]);
        if (!rc && (rc = evl_reader_next(rd[i], 0, &cur[i])) == 0 &&
            evl_record_offset(cur[i]) >= to[i])
            cur[i] = NULL;
    }
    while (!rc) {
        size_t pick = ns;
        for (size_t k = 0; k < ns; k++)
            if (cur[k] && (pick == ns || evl_record_timestamp(cur[k]) <
                                             evl_record_timestamp(cur[pick])))
                pick = k;
        if (pick == ns)
            break;
        if ((rc = run_record(t, pick, cur[pick])))
            break;
        rc = evl_reader_next(rd[pick], 0, &cur[pick]);
        if (rc == EVL_ETIMEDOUT || (!rc && evl_record_offset(cur[pick]) >= to[pick])) {
            cur[pick] = NULL;
            rc = 0;
        }
    }
    /* a wall-clock punctuation batch: its punctuations at their time */
    for (const char *l = intent; !rc && l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long long node, i, when;
        pstate_t *ps;
        if (sscanf(l, "w %lld %lld %lld", &node, &i, &when) == 3 && (ps = ps_find(t, node, i))) {
            ps->next = sat_add(when, ps->n->puncts[ps->i].interval);
            bump(t, TM_PUNCT, EVL_SM_PUNCTUATIONS);
            rc = evl__proc_punctuate(t, ps->n, ps->i, when);
        }
    }
    for (size_t i = 0; i < ns; i++) {
        if (rd && rd[i])
            evl_reader_close(rd[i]);
        if (to[i] > t->pos[i])
            t->pos[i] = to[i];
    }
    free(rd);
    free(cur);
    if (!rc)
        rc = commit(t);
    else
        abort_txn(t);
    evl__global_end(&t->gs);
    bump(t, TM_REPLAYED, EVL_SM_REPLAYED);
    return rc;
}

/* ---- opening: catch up from the changelog, finish an interrupted batch ---- */

/* Before a replay: every partition the task may write that the last
 * commit did not know is rewound to sequence 0 (what the interrupted
 * batch wrote there is sent again from the start). */
static int rewind_unknown(evl_task_t *t)
{
    evl_streams_builder_t *b = t->app->b;
    int rc = 0;
    for (size_t i = 0; !rc && i < b->nnodes; i++) {
        evl_node_t *n = b->nodes[i];
        if (n->kind != N_SINK || n->sub != t->sub->id)
            continue;
        int parts = evl_topic_partitions(t->app->log, n->topic);
        for (int p = 0; !rc && p < parts; p++)
            if (!outp_find(t, n->topic, p, false)) {
                if (!outp_find(t, n->topic, p, true))
                    return EVL_ENOMEM;
                rc = evl_producer_rewind_to(t->prod, n->topic, p, 0);
            }
    }
    return rc;
}

/* The local state brought to the changelog's end: from the local
 * checkpoint on (or the start), changes applied frame by frame. The last
 * intent (malloc'd; free it) and where it and the last checkpoint are. */
static int restore(evl_task_t *t, char **intent_out, size_t *intent_len_out, int64_t *ckpt_at,
                   int64_t *intent_at)
{
    /* the local checkpoint: where in the changelog it stands */
    MDB_txn *txn;
    *intent_out = NULL;
    *intent_len_out = 0;
    int rc = mdb_rc(mdb_txn_begin(t->env, NULL, 0, &txn));
    if (rc)
        return rc;
    int64_t from = 0, ckpt_off = -1, intent_off = -1;
    MDB_val key = {sizeof CKPT_LOCAL - 1, CKPT_LOCAL}, val;
    if (mdb_get(txn, t->dbi, &key, &val) == 0) {
        long long o = -1;
        char *local = strndup(val.mv_data, val.mv_size); /* LMDB's bytes end unterminated */
        if (!local)
            rc = EVL_ENOMEM;
        else if (sscanf(local, "o %lld", &o) == 1 && o >= 0) {
            const char *nl = strchr(local, '\n');
            if (nl && !(rc = ckpt_parse(t, nl + 1, strlen(nl + 1))))
                from = (ckpt_off = o) + 1;
        }
        free(local);
    }
    char *intent = NULL;
    size_t intent_len = 0;
    evl_reader_t *rd = NULL;
    if (!rc)
        rc = evl_reader_open(t->app->log, t->changelog, t->p, &rd);
    if (!rc && from > 0) {
        int src = evl_reader_seek(rd, from);
        if (src == EVL_EOFFSET) /* the changelog is not the one the cache knew */
            rc = EVL_ESTATE;
    }
    evl_partition_info_t pi;
    if (!rc && evl_partition_info(t->app->log, t->changelog, t->p, &pi) == 0)
        atomic_store(&t->tm[TM_RESTORE_TOTAL], pi.end_offset > from ? pi.end_offset - from : 0);
    /* changes apply as they come: each frame ends with its checkpoint, and
     * a frame is appended whole or not at all */
    while (!rc) {
        const evl_record_t *rec;
        int r = evl_reader_next(rd, 0, &rec);
        if (r == EVL_ETIMEDOUT)
            break;
        if ((rc = r))
            break;
        atomic_fetch_add(&t->tm[TM_RESTORED], 1);
        if (t->standby && atomic_load(&t->app->stop))
            break; /* a standby need not finish: what it applied is kept */
        size_t kl, vl;
        const uint8_t *k = evl_record_key(rec, &kl);
        const void *v = evl_record_value(rec, &vl);
        if (!k || !kl)
            continue;
        if (kl == sizeof CKPT - 1 && !memcmp(k, CKPT, kl)) {
            ckpt_off = evl_record_offset(rec);
            rc = v ? ckpt_parse(t, v, vl) : 0;
            char *local = NULL;
            if (!rc && asprintf(&local, "o %lld\n%.*s", (long long)ckpt_off, (int)vl,
                                (const char *)v) < 0)
                rc = EVL_ENOMEM;
            MDB_val lk = {sizeof CKPT_LOCAL - 1, CKPT_LOCAL}, lv = {local ? strlen(local) : 0, local};
            if (!rc)
                rc = mdb_rc(mdb_put(txn, t->dbi, &lk, &lv, 0));
            free(local);
        } else if (kl == sizeof INTENT - 1 && !memcmp(k, INTENT, kl)) {
            intent_off = evl_record_offset(rec);
            free(intent);
            intent = v ? strndup(v, vl) : NULL;
            intent_len = v ? vl : 0;
        } else if (k[0] != 0xff) {
            MDB_val ck = {kl, (void *)k}, cv = {vl, (void *)v};
            rc = v ? mdb_rc(mdb_put(txn, t->dbi, &ck, &cv, 0)) : mdb_rc(mdb_del(txn, t->dbi, &ck, NULL));
            if (rc == EVL_ENOTFOUND)
                rc = 0;
            atomic_fetch_add(&t->app->metrics[t->standby ? EVL_SM_STANDBY : EVL_SM_RESTORED], 1);
        }
    }
    evl_reader_close(rd);
    if (!rc)
        rc = mdb_rc(mdb_txn_commit(txn));
    else
        mdb_txn_abort(txn);
    *intent_out = intent;
    *intent_len_out = intent_len;
    *ckpt_at = ckpt_off;
    *intent_at = intent_off;
    return rc;
}

static int catch_up(evl_task_t *t)
{
    char *intent;
    size_t intent_len;
    int64_t ckpt_off, intent_off;
    int rc = restore(t, &intent, &intent_len, &ckpt_off, &intent_off);
    /* the outputs' sequences where the last commit left them (the
     * changelog's go on where its log stands: a batch interrupted before
     * its commit frame left no frame there to recognise) */
    for (size_t i = 0; !rc && i < t->nout; i++)
        if (strcmp(t->out[i].topic, t->changelog))
            rc = evl_producer_rewind_to(t->prod, t->out[i].topic, t->out[i].partition,
                                        t->out[i].seq);
    if (!rc && t->app->eos && intent && intent_off > ckpt_off) {
        /* an interrupted batch: the same extent again. Partitions the
         * last commit did not know start from sequence 0; the changelog
         * goes on after the intent. */
        rc = rewind_unknown(t);
        int64_t *fr = malloc(2 * t->sub->nsources * sizeof *fr);
        if (!rc && !fr)
            rc = EVL_ENOMEM;
        if (!rc) {
            rc = intent_parse(t, intent, intent_len, fr, fr + t->sub->nsources);
            if (!rc)
                rc = replay(t, fr, fr + t->sub->nsources, intent);
        }
        free(fr);
    }
    free(intent);
    return rc;
}

/* ---- open, close ---- */

/*
 * A task that moves here may still run, for a moment, where it was (a
 * zombie that has not seen the rebalance yet). Opening the producer of the
 * task's name raised its epoch; writing to the changelog now fences the
 * zombie there: its next intent or commit frame is refused, so it can
 * neither start a batch nor commit one after this point. What it appended
 * before (an intent and some outputs) the catch-up that follows sees, and
 * the replay sends the same records with the same sequences.
 */
static int fence(evl_task_t *t)
{
    evl_msg_t m = {.key = FENCE, .key_len = sizeof FENCE - 1, .value = t->name,
                   .value_len = strlen(t->name), .timestamp = -1, .partition = t->p};
    return evl_producer_send_to(t->prod, t->changelog, &m, 0);
}

int evl__task_open(evl_streams_t *app, evl_sub_t *sub, int partition, evl_task_t **out)
{
    *out = NULL;
    evl_task_t *t = calloc(1, sizeof *t);
    if (!t)
        return EVL_ENOMEM;
    t->app = app;
    t->sub = sub;
    t->p = partition;
    snprintf(t->name, sizeof t->name, "%d_%d", sub->id, partition);
    t->pos = calloc(sub->nsources, sizeof *t->pos);
    int rc = t->pos ? 0 : EVL_ENOMEM;
    if (!rc && asprintf(&t->changelog, "%s-%d-changelog", app->app_id, sub->id) < 0)
        rc = EVL_ENOMEM;
    if (!rc) {
        /* the changelog: compacted, frames up to 64 MiB (a commit is one) */
        evl_config_t *tc = evl_config_new();
        rc = tc ? 0 : EVL_ENOMEM;
        if (!rc)
            rc = evl_config_set(tc, "cleanup.policy", "compact", NULL, 0);
        if (!rc)
            rc = evl_config_set(tc, "max.message.bytes", "67108864", NULL, 0);
        if (!rc) {
            rc = evl__topic_ensure(app->log, t->changelog, sub->partitions, tc);
            rc = rc < 0 ? rc : 0;
        }
        evl_config_free(tc);
    }
    if (!rc) {
        char pname[300];
        snprintf(pname, sizeof pname, "%s.%s", app->app_id, t->name);
        evl_config_t *pc = evl_config_new();
        rc = pc ? 0 : EVL_ENOMEM;
        if (!rc)
            rc = evl_config_set(pc, "enable.idempotence", "true", NULL, 0);
        if (!rc)
            rc = evl_config_set(pc, "producer.name", pname, NULL, 0);
        if (!rc)
            rc = evl_producer_open(app->log, pc, &t->prod);
        evl_config_free(pc);
    }
    /* the punctuation schedules of the sub-topology's processors: stream
     * time's from 0 (the first record), the wall clock's an interval on */
    evl_streams_builder_t *b = app->b;
    for (size_t i = 0; !rc && i < b->nnodes; i++)
        if (b->nodes[i]->kind == N_PROC && b->nodes[i]->sub == sub->id)
            for (size_t k = 0; !rc && k < b->nodes[i]->npuncts; k++) {
                pstate_t *v = realloc(t->ps, (t->nps + 1) * sizeof *v);
                if (!v) {
                    rc = EVL_ENOMEM;
                    break;
                }
                t->ps = v;
                bool wall = b->nodes[i]->puncts[k].type == EVL_PUNCTUATE_WALL_CLOCK;
                t->ps[t->nps++] = (pstate_t){
                    b->nodes[i], (int)k,
                    wall ? now_us(CLOCK_REALTIME) / 1000 + b->nodes[i]->puncts[k].interval : 0, 0};
            }
    if (!rc) {
        /* open here: once a standby at work on it is done, none touches
         * its environment until it closes */
        pthread_mutex_lock(&app->smu);
        evl__app_task_opening(app, sub, partition);
        t->marked = true;
        rc = env_open(t);
        pthread_mutex_unlock(&app->smu);
    }
    if (!rc)
        rc = fence(t);
    if (!rc)
        rc = catch_up(t);
    if (rc == EVL_ESTATE) {
        /* the local state does not belong to this changelog: start over
         * from the changelog alone */
        mdb_env_close(t->env);
        t->env = NULL;
        char *dir = NULL;
        if (asprintf(&dir, "%s/%s/%s", app->state_dir, app->app_id, t->name) >= 0 &&
            evl__rmtree(dir) == 0) {
            for (size_t i = 0; i < t->nout; i++)
                free(t->out[i].topic);
            t->nout = 0;
            memset(t->pos, 0, sub->nsources * sizeof *t->pos);
            t->commit = 0;
            t->stream_time = 0;
            for (size_t i = 0; i < t->nps; i++)
                if (ps_stream(&t->ps[i]))
                    t->ps[i].next = 0;
            rc = env_open(t);
            if (!rc)
                rc = catch_up(t);
        }
        free(dir);
    }
    if (rc) {
        evl__task_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void evl__task_close(evl_task_t *t)
{
    if (!t)
        return;
    abort_txn(t);
    if (t->marked)
        pthread_mutex_lock(&t->app->smu);
    if (t->env)
        mdb_env_close(t->env);
    if (t->marked) {
        evl__app_task_closed(t->app, t->sub, t->p);
        pthread_mutex_unlock(&t->app->smu);
    }
    evl_producer_close(t->prod);
    for (size_t i = 0; i < t->nout; i++)
        free(t->out[i].topic);
    for (int i = 0; i < MAX_DEPTH; i++)
        evl__emit_free(&t->em[i]);
    evl__global_end(&t->gs);
    free(t->ps);
    evl__bcache_free(&t->cache);
    free(t->ob);
    free(t->obuf);
    free(t->changelog);
    free(t->pos);
    free(t);
}

int64_t evl__task_position(evl_task_t *t, size_t source)
{
    return t->pos[source];
}

evl_sub_t *evl__task_sub(evl_task_t *t)
{
    return t->sub;
}

int evl__task_partition(evl_task_t *t)
{
    return t->p;
}

int evl__task_store_get(evl_task_t *t, const char *store, const void *key, size_t klen,
                        void **val, size_t *vlen)
{
    int idx = -1;
    for (size_t i = 0; i < t->sub->nstores; i++)
        if (!strcmp(t->sub->stores[i], store))
            idx = (int)i;
    if (idx < 0)
        return EVL_ENOTFOUND;
    uint8_t k[512];
    size_t kl;
    evl_srec_t r = {key, klen, NULL, 0, 0};
    int rc = skey(k, idx, &r, &kl);
    MDB_txn *txn;
    if (rc || (rc = mdb_rc(mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn))))
        return rc;
    MDB_val mk = {kl, k}, mv;
    rc = mdb_rc(mdb_get(txn, t->dbi, &mk, &mv));
    if (!rc) {
        *val = malloc(mv.mv_size ? mv.mv_size : 1);
        if (!*val)
            rc = EVL_ENOMEM;
        else {
            memcpy(*val, mv.mv_data, mv.mv_size);
            *vlen = mv.mv_size;
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

void evl__task_metrics(evl_task_t *t, evl_task_metrics_t *m)
{
    int64_t commits = atomic_load(&t->tm[TM_COMMITS]);
    *m = (evl_task_metrics_t){
        .subtopology = t->sub->id,
        .partition = t->p,
        .records = atomic_load(&t->tm[TM_RECORDS]),
        .punctuations = atomic_load(&t->tm[TM_PUNCT]),
        .dropped = atomic_load(&t->tm[TM_DROPPED]),
        .skipped = atomic_load(&t->tm[TM_SKIPPED]),
        .commits = commits,
        .commit_latency_avg_us = commits ? atomic_load(&t->tm[TM_COMMIT_US]) / commits : 0,
        .commit_latency_max_us = atomic_load(&t->tm[TM_COMMIT_MAX]),
        .restore_total = atomic_load(&t->tm[TM_RESTORE_TOTAL]),
        .restored = atomic_load(&t->tm[TM_RESTORED]),
        .replayed = atomic_load(&t->tm[TM_REPLAYED]),
    };
}

#ifdef EVL_TESTING
/* For the fuzz target: the texts a task reads back from its changelog and
 * its local state (a checkpoint, an intent, the local checkpoint's form)
 * parsed into a task of a sub-topology with three inputs and a processor
 * with a stream-time and a wall-clock schedule. */
int evl__streams_fuzz_texts(const char *text, size_t len)
{
    static evl_node_t proc;
    proc.kind = N_PROC;
    proc.id = 1;
    proc.npuncts = 2;
    proc.puncts[0] = (evl_punct_t){EVL_PUNCTUATE_STREAM_TIME, 10, NULL, NULL};
    proc.puncts[1] = (evl_punct_t){EVL_PUNCTUATE_WALL_CLOCK, 10, NULL, NULL};
    evl_sub_t sub = {.id = 0, .nsources = 3, .partitions = 1};
    evl_streams_t app = {0};
    evl_task_t *t = calloc(1, sizeof *t);
    pstate_t ps[2] = {{&proc, 0, 0, 0}, {&proc, 1, 0, 0}};
    int64_t pos[3] = {0}, from[3], to[3];
    if (!t)
        return EVL_ENOMEM;
    t->app = &app;
    t->sub = &sub;
    t->pos = pos;
    t->ps = ps;
    t->nps = 2;
    int rc = ckpt_parse(t, text, len);
    intent_parse(t, text, len, from, to);
    /* the local checkpoint, read as catch_up reads it (a copy that ends) */
    char *local = strndup(text, len);
    long long o;
    if (local && sscanf(local, "o %lld", &o) == 1) {
        const char *nl = strchr(local, '\n');
        if (nl)
            rc = ckpt_parse(t, nl + 1, strlen(nl + 1));
    }
    free(local);
    char *ck = NULL;
    if (ckpt_text(t, &ck) == 0) /* and written back */
        free(ck);
    for (size_t i = 0; i < t->nout; i++)
        free(t->out[i].topic);
    free(t);
    return rc;
}
#endif

/*
 * A standby replica (num.standby.replicas > 0): the local copy of a task
 * this instance does not run, brought up to the changelog's end, so that
 * the task, moved here, has little to restore. Nothing is processed,
 * produced or fenced. The task is taken first (under the application's
 * standby lock, which also covers tasks' environments opening and
 * closing): LMDB must not have one environment open twice in a process,
 * so a task that opens meanwhile waits for this to end, and one open
 * here is skipped. The restore itself runs without the lock.
 */
int evl__task_standby(evl_streams_t *app, evl_sub_t *sub, int p)
{
    pthread_mutex_lock(&app->smu);
    bool taken = evl__app_standby_take(app, sub, p);
    pthread_mutex_unlock(&app->smu);
    if (!taken)
        return 0;
    evl_task_t *t = calloc(1, sizeof *t);
    int rc = t ? 0 : EVL_ENOMEM;
    if (!rc) {
        t->app = app;
        t->sub = sub;
        t->p = p;
        t->standby = true;
        snprintf(t->name, sizeof t->name, "%d_%d", sub->id, p);
        if (!(t->pos = calloc(sub->nsources, sizeof *t->pos)) ||
            asprintf(&t->changelog, "%s-%d-changelog", app->app_id, sub->id) < 0) {
            t->changelog = NULL;
            rc = EVL_ENOMEM;
        }
    }
    evl_partition_info_t pi;
    /* no changelog yet: nothing to keep */
    if (!rc && evl_partition_info(app->log, t->changelog, p, &pi) == 0 && pi.end_offset > 0) {
        rc = env_open(t);
        char *intent = NULL;
        size_t len;
        int64_t c, i;
        if (!rc)
            rc = restore(t, &intent, &len, &c, &i);
        free(intent);
        if (rc == EVL_ESTATE) { /* another changelog: start over next time */
            mdb_env_close(t->env);
            t->env = NULL;
            char *dir = NULL;
            if (asprintf(&dir, "%s/%s/%s", app->state_dir, app->app_id, t->name) >= 0 &&
                evl__rmtree(dir) == 0)
                rc = 0;
            free(dir);
        }
    }
    evl__task_close(t);
    evl__app_standby_give(app, sub, p);
    return rc;
}
