/*
 * streams_int.h - what the streams library's modules share: the topology
 * graph (topology.c), tasks (task.c) and the running application (app.c).
 */
#ifndef EVL_STREAMS_INT_H
#define EVL_STREAMS_INT_H

#include <eventlog/streams.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

typedef enum {
    N_SOURCE,
    N_FILTER,
    N_FILTER_NOT,
    N_MAP,
    N_MAP_VALUES,
    N_FLAT_MAP,
    N_FLAT_MAP_VALUES,
    N_SELECT_KEY,
    N_PEEK,
    N_PASS,     /* merge, branch outputs, to_stream: records go through */
    N_BRANCH,
    N_FOREACH,
    N_SINK,
    N_AGG,
    N_WAGG,     /* windowed aggregation (window.c) */
    N_TABLE,    /* a topic materialized as a table (join.c) */
    N_SJOIN,    /* stream-table join */
    N_TJOIN_SIDE, /* one side of a table-table join, feeding ... */
    N_TJOIN,    /* ... the join's result table */
    N_SSJOIN_SIDE, /* one side of a stream-stream join, feeding ... */
    N_SSJOIN,   /* ... the join's results (its stores: STORE/index, STORE/outer) */
    N_TMAP,     /* a table's values mapped (ktable.c) */
    N_TFILTER,  /* a table filtered (ktable.c) */
    N_PROC,     /* a processor of the processor API (process.c) */
    N_GTABLE,   /* a global table (global.c): no sub-topology */
    N_GJOIN,    /* a stream-global-table join (global.c) */
    N_COSIDE,   /* a cogrouped input (cogroup.c), feeding its N_AGG */
    N_FKLEFT,   /* a foreign-key join's left side: subscriptions (fkjoin.c) */
    N_FKSUB,    /* ... the subscriptions, beside the right table */
    N_FKRIGHT,  /* ... the right table's changes, answered to subscribers */
    N_FKRESP,   /* ... the answers, beside the left table */
    N_FKJOIN    /* ... the result table */
} evl_nkind_t;

typedef enum { AGG_COUNT, AGG_REDUCE, AGG_AGGREGATE } evl_aggkind_t;

/* A punctuation schedule of a processor (process.c). */
typedef struct evl_punct {
    int type;             /* EVL_PUNCTUATE_* */
    int64_t interval;
    evl_punctuate_fn *fn;
    void *arg;
} evl_punct_t;
#define EVL_MAX_PUNCTS 8

/* A node of the topology; evl_kstream_t and evl_ktable_t are nodes. */
struct evl_kstream {
    evl_nkind_t kind;
    evl_streams_builder_t *b;
    int id;
    union {
        evl_pred_fn *pred;
        evl_xform_fn *xform;
        evl_each_fn *each;
        evl_agg_fn *agg;
    } fn;
    void *arg;
    char *topic;          /* source, sink: the topic; a repartition sink's
                             suffix until the application names it */
    bool repartition;     /* a sink or source of a repartition topic */
    evl_ts_fn *ts_fn;     /* source: the event-time extractor */
    void *ts_arg;
    evl_partitioner_fn *part_fn; /* sink: the partitioner */
    const evl_serde_t *kserde, *vserde; /* source, sink, global table: the topic's (set
                                           when an application is made) */
    void *part_arg;
    bool keep;            /* N_TFILTER: filter (true) or filter_not */
    /* N_PROC (process.c) */
    evl_process_fn *proc;
    evl_punct_t puncts[EVL_MAX_PUNCTS];
    size_t npuncts;
    int gidx;             /* N_GTABLE: its index among the global tables */
    void *join_arg;       /* N_GJOIN: the joiner's argument (the application's) */
    bool key_changed;     /* records here may not be partitioned by key */
    /* branch */
    evl_pred_fn **preds;
    void **pred_args;
    size_t npreds;
    /* agg */
    evl_aggkind_t aggkind;
    char *store;
    int store_idx;        /* within its sub-topology */
    void *init;
    size_t init_len;
    /* windowed aggregation (window.c) */
    int wkind;            /* window.c's */
    int64_t wsize, wadvance, wgrace, wgap;
    bool suppress;        /* final results only */
    evl_merge_fn *wmerge; /* session windows' merger */
    /* joins (join.c) */
    evl_join_fn *sjoin;
    evl_join2_fn *tjoin;
    int join_how;         /* EVL_JOIN_* */
    int side;             /* N_TJOIN_SIDE, N_SSJOIN_SIDE: 0 left, 1 right */
    struct evl_kstream *join; /* N_SJOIN: the table; N_TJOIN_SIDE, N_SSJOIN_SIDE: the result */
    struct evl_kstream *sides[2]; /* N_TJOIN: the two tables; N_SSJOIN: its sides */
    int64_t join_before, join_after, join_grace; /* N_SSJOIN: JoinWindows */
    /* graph */
    struct evl_kstream **kids;
    size_t nkids;
    struct evl_kstream *parent[2];
    int sub;              /* sub-topology, set by evl__topo_finish */
};

typedef struct evl_kstream evl_node_t;

struct evl_kgrouped {
    evl_node_t *from;     /* the stream grouped (after any repartition) */
};

/* A grouped stream and a window specification (window.c). */
struct evl_kwindowed {
    evl_kgrouped_t *g;
    int kind;             /* window.c's */
    int64_t size, advance, grace, gap;
};

/* A topic's serdes (serde.c). */
typedef struct evl_topic_serdes {
    char *topic;
    evl_serde_t key, value;
    bool has_key, has_value;
} evl_topic_serdes_t;

/* Grouped streams cogrouped, each with its aggregator (cogroup.c). */
struct evl_kcogrouped {
    evl_kgrouped_t **groups;
    evl_agg_fn **fns;
    void **args;
    size_t n;
};

struct evl_streams_builder {
    struct evl_kcogrouped **cogroups;
    size_t ncogroups;
    evl_topic_serdes_t *serdes;
    size_t nserdes;
    evl_node_t **nodes;
    size_t nnodes;
    struct evl_kgrouped **groups;
    size_t ngroups;
    struct evl_kwindowed **windows;
    size_t nwindows;
    char err[256];
};

/* A sub-topology: the nodes reached from its sources. */
typedef struct evl_sub {
    int id;
    char **sources;       /* topics (repartition ones named in full) */
    evl_node_t **source_nodes;
    size_t nsources;
    char **stores;
    size_t nstores;
    int partitions;
} evl_sub_t;

/* The emitter: records a callback made, copied into one buffer. */
struct evl_emit {
    evl_nkind_t kind;
    const evl_srec_t *in;
    evl_srec_t *recs;
    size_t n, cap;
    char *buf;            /* the records' bytes */
    size_t blen, bcap;
    int err;
};

void evl__emit_reset(evl_emit_t *em, evl_nkind_t kind, const evl_srec_t *in);
void evl__emit_free(evl_emit_t *em);
/* After the callback: fix the records' pointers into buf. */
void evl__emit_fix(evl_emit_t *em);
/* After a callback that must emit one record (returning rc): 0 with the
 * record's pointers fixed, or the callback's error, the emitter's, or
 * EVL_EINVAL (none, or more than one). */
int evl__emit_one(evl_emit_t *em, int rc);

/* ---- a task's batch cache (cache.c) ---- */

typedef struct evl_bent {
    uint8_t *key;         /* store index byte + record key */
    size_t klen;
    void *val;            /* NULL: no value (deleted, or absent) */
    size_t vlen;
    uint64_t hash;
    bool dirty;           /* written in this batch */
} evl_bent_t;

typedef struct evl_bcache {
    evl_bent_t *ents;     /* in the order they were made */
    size_t n, cap;
    uint32_t *tab;        /* open addressing: indexes into ents */
    size_t tcap;
} evl_bcache_t;

evl_bent_t *evl__bcache_find(evl_bcache_t *c, const uint8_t *k, size_t kl);
/* Key's value (v NULL: none) kept; dirty: written by the batch. */
int evl__bcache_set(evl_bcache_t *c, const uint8_t *k, size_t kl, const void *v, size_t vl,
                    bool dirty, evl_bent_t **out);
void evl__bcache_clear(evl_bcache_t *c);
void evl__bcache_free(evl_bcache_t *c);

/* ---- global tables (global.c) ---- */

/* The instance's global stores: one LMDB environment, entries keyed by
 * the table's index byte + key, positions under GPOS + index + partition. */
typedef struct evl_global {
    MDB_env *env;
    MDB_dbi dbi;
    pthread_mutex_t mu;   /* one refresh at a time */
    evl_node_t **tables;
    size_t n;
    int *parts;
    evl_reader_t ***rd;   /* per table, per partition: open readers */
} evl_global_t;

/* A batch's view of the global tables: a read transaction of the
 * instance's environment, or of a scratch one rebuilt for a replay. */
typedef struct evl_gsnap {
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *scratch;
    char *scratch_dir;
} evl_gsnap_t;

/* ---- the application ---- */

typedef struct evl_task evl_task_t;

struct evl_streams {
    evl_log_t *log;
    char *app_id;
    int nthreads;
    bool eos;
    int commit_ms;
    char *state_dir;
    evl_node_t **nodes;   /* copied from the builder at new */
    size_t nnodes;
    evl_sub_t *subs;
    size_t nsubs;
    pthread_t *threads;
    atomic_bool stop;
    pthread_mutex_t mu;   /* tasks list, error */
    evl_task_t **tasks;
    size_t ntasks;
    int error;
    char errmsg[256];
    atomic_llong metrics[9];
    int standbys;             /* num.standby.replicas */
    pthread_t standby_thr;
    bool standby_started;
    pthread_mutex_t smu;      /* tasks' environments opened and closed, standbys */
    pthread_cond_t scond;     /* a standby done with a task's environment */
    int *open;                /* per (sub-topology, partition): copies open here */
    bool *busy;               /* per (sub-topology, partition): a standby at work */
    size_t *open_base;        /* per sub-topology: its first in open, busy */
    evl_streams_builder_t *b; /* the graph (the builder's; it outlives us) */
    void *thr;                /* the threads' states (app.c) */
    evl_global_t *glob;       /* NULL: no global tables */
    const evl_serde_t *default_key, *default_value;
    bool deser_continue;      /* deserialization.exception.handler=continue */
};

/* A node that holds a table in a store of its task (joinable, queryable). */
static inline bool evl__is_table(const evl_node_t *n)
{
    return n->store && (n->kind == N_TABLE || n->kind == N_AGG || n->kind == N_TJOIN ||
                        n->kind == N_TMAP || n->kind == N_TFILTER || n->kind == N_FKJOIN);
}

/* Make a topic when missing and wait until it can be used (topology.c):
 * its partition count, or an error. */
int evl__topic_ensure(evl_log_t *log, const char *name, int partitions, const evl_config_t *cfg);

/* Sub-topologies from the builder's graph (topology.c). */
int evl__topo_finish(evl_streams_t *app, char *err, size_t errlen);
/* For builder functions elsewhere (window.c): record the builder's first
 * error; a new node under parent (NULL on failure); check a store's name
 * (0, or the builder failed); the node an aggregation named store hangs
 * from: from itself, or a repartition topic's source when the key was
 * changed upstream (NULL on failure). */
void evl__builder_fail(evl_streams_builder_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
evl_node_t *evl__topo_node(evl_streams_builder_t *b, evl_node_t *parent, evl_nkind_t kind);
int evl__topo_store_check(evl_streams_builder_t *b, const char *store);
evl_node_t *evl__topo_agg_input(evl_node_t *from, const char *store);
/* A topic of the application's (APPLICATION_ID-suffix) between from and
 * the source node returned: a sink under from, and that source. */
evl_node_t *evl__topo_through(evl_node_t *from, const char *suffix);

/* Tasks (task.c). */
int evl__task_open(evl_streams_t *app, evl_sub_t *sub, int partition, evl_task_t **out);
void evl__task_close(evl_task_t *t);
/* Where each of the task's inputs goes on (for the consumer's seek). */
int64_t evl__task_position(evl_task_t *t, size_t source);
/* Process one batch: recs (sorted by source, then offset) of this task. */
int evl__task_process(evl_task_t *t, const evl_record_t *const *recs, const size_t *src,
                      size_t n);
int evl__task_store_get(evl_task_t *t, const char *store, const void *key, size_t klen,
                        void **val, size_t *vlen);
evl_sub_t *evl__task_sub(evl_task_t *t);
/* For node implementations, inside a batch: read (0, or EVL_ENOTFOUND;
 * *val valid until the next write) and write (val NULL: delete) a key of
 * store idx, scan a store's keys from a prefix (cb returns nonzero to
 * stop), send a record to a node's children; the task's stream time (the
 * largest record timestamp seen, kept in its checkpoint so a replay sees
 * the same); count a record dropped as late. */
int evl__task_store_read(evl_task_t *t, int idx, const void *key, size_t klen, const void **val,
                         size_t *vlen);
int evl__task_store_write(evl_task_t *t, int idx, const void *key, size_t klen, const void *val,
                          size_t vlen);
int evl__task_store_scan(evl_task_t *t, int idx, const void *prefix, size_t plen,
                         int (*cb)(void *arg, const void *key, size_t klen, const void *val,
                                   size_t vlen),
                         void *arg);
int evl__task_store_range(evl_task_t *t, int idx, const void *from, size_t fl, const void *to,
                          size_t tl, evl_entry_fn *cb, void *arg);
/* A store's index in the task (-1: none); a query of its committed
 * entries (from..to, or those with the prefix from). */
int evl__task_store_index(evl_task_t *t, const char *store);
int evl__task_query_range(evl_task_t *t, const char *store, const void *from, size_t fl,
                          const void *to, size_t tl, bool prefix, evl_entry_fn *cb, void *arg);
int evl__task_forward(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);
int64_t evl__task_stream_time(evl_task_t *t);
void evl__task_dropped(evl_task_t *t);
/* A table, join or join side processing a record (join.c). */
int evl__join_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);
/* Sweep an index store of close times up to stream time (window.c). */
int evl__sweep_index(evl_task_t *t, int idx,
                     int (*cb)(void *arg, const void *key, size_t klen, const void *val,
                               size_t vlen),
                     void *arg);
/* A windowed aggregation node processing a record (window.c). */
int evl__window_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);
int evl__task_partition(evl_task_t *t);

/* Serdes (serde.c): a built-in one by name; topic's (the defaults when it
 * has none); a record's key and value through them (ser: serialize), the
 * bytes made to free in *kown, *vown; *bad_key: the key failed. */
const evl_serde_t *evl__serde_named(const char *name);
void evl__serdes_for(const evl_streams_t *app, const char *topic, const evl_serde_t **key,
                     const evl_serde_t **value);
int evl__serde_apply(const evl_serde_t *key, const evl_serde_t *value, bool ser, evl_srec_t *r,
                     void **kown, void **vown, bool *bad_key);

/* Foreign-key joins (fkjoin.c). */
int evl__fkjoin_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);

/* Table map_values and filter (ktable.c). */
int evl__ktable_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);

/* Processors (process.c): a record, and a punctuation at time. */
struct evl_pctx {
    evl_task_t *t;
    evl_node_t *n;
    const evl_srec_t *rec; /* NULL in a punctuator */
    int64_t time;          /* a punctuation's */
};
int evl__proc_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);
int evl__proc_punctuate(evl_task_t *t, evl_node_t *n, int i, int64_t time);

/* Global tables (global.c): open the stores (new), bring them to the
 * topics' ends (start, and before each batch), close; a batch's snapshot
 * (at = NULL: as the store stands, with its positions as intent lines
 * "g TABLE PARTITION OFFSET" in *lines when lines is not NULL; at: the
 * lines of an intent, for a replay), its end; a global store's value in
 * the task's snapshot; a stream-global-table join; a query. */
int evl__global_open(evl_streams_t *app, char *err, size_t errlen);
int evl__global_refresh(evl_streams_t *app);
void evl__global_close(evl_streams_t *app);
int evl__global_begin(evl_task_t *t, evl_gsnap_t *gs, const char *at, char **lines);
void evl__global_end(evl_gsnap_t *gs);
int evl__global_get(evl_task_t *t, const char *store, const void *key, size_t klen,
                    const void **val, size_t *vlen);
int evl__global_join_deliver(evl_task_t *t, evl_node_t *n, const evl_srec_t *r);
int evl__global_query(evl_streams_t *app, const char *store, const void *from, size_t fl,
                      const void *to, size_t tl, bool prefix, evl_entry_fn *cb, void *arg);
evl_gsnap_t *evl__task_gsnap(evl_task_t *t);
evl_streams_t *evl__task_app(evl_task_t *t);
void evl__task_metrics(evl_task_t *t, evl_task_metrics_t *m);
int evl__task_wall_punctuate(evl_task_t *t, int64_t now);
int64_t evl__task_next_wall(evl_task_t *t);
/* A standby replica of (sub, p) brought up to date (task.c). Under
 * app->smu (app.c): a task's environment about to open waits for a
 * standby at work on it, then counts as open; a standby takes a task not
 * open and not taken (false: skip it), and gives it back (with the lock
 * not held: it takes it). */
int evl__task_standby(evl_streams_t *app, evl_sub_t *sub, int p);
void evl__app_task_opening(evl_streams_t *app, const evl_sub_t *sub, int p);
void evl__app_task_closed(evl_streams_t *app, const evl_sub_t *sub, int p);
bool evl__app_standby_take(evl_streams_t *app, const evl_sub_t *sub, int p);
void evl__app_standby_give(evl_streams_t *app, const evl_sub_t *sub, int p);
/* Visit a store's entries (task.c): from lo while they have its prefix,
 * or up to hi. */
int evl__visit(MDB_txn *txn, MDB_dbi dbi, int idx, const void *lo, size_t lol, bool prefix,
               const void *hi, size_t hil, evl_entry_fn *cb, void *arg);
int evl__mdb_rc(int rc);
/* Files (files.c): a directory and its parents made; a tree removed (0
 * when it is gone or was not there). */
int evl__mkdirs(const char *path);
int evl__rmtree(const char *path);

/* A query of store's committed entries in every task of the instance
 * (from..to, or those with the prefix from); fn's stop ends it (app.c). */
int evl__app_query(evl_streams_t *app, const char *store, const void *from, size_t fl,
                   const void *to, size_t tl, bool prefix, evl_entry_fn *fn, void *arg);

void evl__app_fail(evl_streams_t *app, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bytes of stored keys, shared by window.c and join.c: big-endian
 * integers, signed times ordered as bytes, saturating sums of times. */
static inline void be64put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t be64get(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static inline void enc_time(uint8_t *p, int64_t v)
{
    be64put(p, (uint64_t)v ^ ((uint64_t)1 << 63));
}

static inline int64_t dec_time(const void *p)
{
    return (int64_t)(be64get(p) ^ ((uint64_t)1 << 63));
}

/* FNV-1a, 64 bits: the batch cache's hash, and the foreign-key join's
 * hash of a left value (sent in its messages: keep it as it is). */
static inline uint64_t fnv1a64(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static inline int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

#ifdef EVL_TESTING
/* The fuzz target's entries (task.c, global.c). */
int evl__streams_fuzz_texts(const char *text, size_t len);
int evl__streams_fuzz_positions(const char *text);
#endif

#endif
