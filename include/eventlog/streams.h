/*
 * eventlog/streams.h - stream processing on libeventlog
 * (libeventlog-streams): Kafka Streams' model as a C library.
 *
 * An application describes a topology with the builder below: streams
 * read from topics, transformed record by record (filter, map, flat_map,
 * ...), grouped by key and aggregated into tables (count, reduce,
 * aggregate) kept in state stores, and written to topics. Instances of the
 * application (threads, or processes sharing the log directory) with one
 * application.id split the work: a task per input partition of each
 * sub-topology, assigned through the consumer-group machinery.
 *
 * A key changed before a grouping (group_by, or select_key/map then
 * group_by_key) sends the records through a repartition topic
 * APPLICATION_ID-NAME-repartition, made when missing, so that each key's
 * records meet in one task.
 *
 * State: each task keeps its stores in an LMDB environment under
 * state.dir (its own, per instance), and writes each commit's changes to
 * the sub-topology's compacted changelog topic APPLICATION_ID-N-changelog
 * (one partition per task); a task whose local state is gone (moved to
 * another instance, state.dir deleted) restores it from there.
 *
 * processing.guarantee=exactly_once (the default here) means: after any
 * number of kill -9s, every input record's effect is in the state and the
 * output exactly once, and readers of the output never see results that
 * are later undone. How (lib/streams/task.c has the argument in full): a
 * task processes its input in batches whose extent (the input offsets) is
 * fixed and made durable before processing starts; processing is a
 * deterministic function of that extent and the committed state; outputs
 * go through an idempotent producer; the commit writes the state changes,
 * the new input positions and the producer sequences in one LMDB
 * transaction (and the changes with a checkpoint as one atomic frame of
 * the changelog). A batch interrupted by a crash is processed again from
 * the same state over the same extent, so it sends the same records with
 * the same sequences, which the output partitions recognise: nothing is
 * appended twice and nothing appended is ever withdrawn. The callbacks
 * must therefore be deterministic (no clocks, no randomness, no outside
 * state) under exactly_once. at_least_once skips the fixed extent and
 * the rewind: a crash may repeat the effect of the records since the last
 * commit.
 *
 * Beyond that: tables (evl_table, map_values, filter), joins, windows,
 * global tables, processors with punctuation, serdes per topic,
 * interactive queries and metrics, each documented in its section below.
 *
 * Thread-safety: building is single-threaded; a running application's
 * calls are thread-safe; callbacks run on the stream threads (a task's on
 * one thread at a time).
 */
#ifndef EVENTLOG_STREAMS_H
#define EVENTLOG_STREAMS_H

#include <eventlog.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A record as the topology sees it (frozen struct). key NULL: a null key;
 * value NULL: a null value (a tombstone for tables). Views are valid
 * during the callback. */
typedef struct evl_srec {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp; /**< event time, ms */
} evl_srec_t;

/** Where transforming callbacks put what they make (copied at once). */
typedef struct evl_emit evl_emit_t;
/** @brief Emit a record (map, flat_map: key and value; map_values,
 * flat_map_values: the value, the key is the input's; select_key: the
 * key, the value is the input's). timestamp < 0: the input's. 0 or
 * EVL_ENOMEM, EVL_EINVAL (a second record from map or map_values). */
EVL_API int evl_emit(evl_emit_t *em, const void *key, size_t key_len, const void *value,
                     size_t value_len, int64_t timestamp);

typedef bool evl_pred_fn(void *arg, const evl_srec_t *rec);
/** A transformation: emits 0..n records (exactly one for map,
 * map_values, select_key). A negative return fails the task. */
typedef int evl_xform_fn(void *arg, const evl_srec_t *rec, evl_emit_t *em);
typedef void evl_each_fn(void *arg, const evl_srec_t *rec);
/** An aggregation step: the current aggregate (agg, NULL the first time
 * for aggregate's initializer-less form) and the record; emit the new
 * aggregate's bytes with evl_emit(em, NULL, 0, value, len, -1). */
typedef int evl_agg_fn(void *arg, const evl_srec_t *rec, const void *agg, size_t agg_len,
                       evl_emit_t *em);

typedef struct evl_streams_builder evl_streams_builder_t;
typedef struct evl_kstream evl_kstream_t;
typedef struct evl_ktable evl_ktable_t;
typedef struct evl_kgrouped evl_kgrouped_t;

/** @brief A new builder. Handles made from it belong to it. */
EVL_API int evl_streams_builder_new(evl_streams_builder_t **out);
EVL_API void evl_streams_builder_free(evl_streams_builder_t *b);
/** @brief The first error a builder call met (NULL if none): calls on a
 * failed builder return NULL; evl_streams_new refuses it with this text. */
EVL_API const char *evl_streams_builder_error(const evl_streams_builder_t *b);

/** @brief A stream of topic's records. */
EVL_API evl_kstream_t *evl_stream(evl_streams_builder_t *b, const char *topic);
EVL_API evl_kstream_t *evl_stream_filter(evl_kstream_t *s, evl_pred_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_filter_not(evl_kstream_t *s, evl_pred_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_map(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_map_values(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_flat_map(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_flat_map_values(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_select_key(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
EVL_API evl_kstream_t *evl_stream_peek(evl_kstream_t *s, evl_each_fn *fn, void *arg);
/** @brief The records of a and b, in the order they are processed. */
EVL_API evl_kstream_t *evl_stream_merge(evl_kstream_t *a, evl_kstream_t *b);
/** @brief Branches: each record goes to the first branch whose predicate
 * holds (out[i] for preds[i]); with a NULL predicate last, the rest. */
EVL_API int evl_stream_branch(evl_kstream_t *s, evl_pred_fn *const *preds, void *const *args,
                              size_t n, evl_kstream_t **out);
/** @brief A terminal: fn for each record. */
EVL_API int evl_stream_foreach(evl_kstream_t *s, evl_each_fn *fn, void *arg);
/** @brief A terminal: append to topic (made when missing with the
 * partitions of the input), keyed records by the key's hash as the
 * producer's partitioner does. */
EVL_API int evl_stream_to(evl_kstream_t *s, const char *topic);

/** @brief Group by the record's key (repartitioned first if the key was
 * changed upstream). */
EVL_API evl_kgrouped_t *evl_stream_group_by_key(evl_kstream_t *s);
/** @brief Group by a key fn emits (select_key, then group_by_key). */
EVL_API evl_kgrouped_t *evl_stream_group_by(evl_kstream_t *s, evl_xform_fn *fn, void *arg);
/** @brief A table of each key's number of records: values are 8-byte
 * big-endian int64 (Kafka's Long serde), kept in store (a name). */
EVL_API evl_ktable_t *evl_grouped_count(evl_kgrouped_t *g, const char *store);
/** @brief Each key's records combined by fn (agg NULL for a key's first
 * record: its value is taken as is). */
EVL_API evl_ktable_t *evl_grouped_reduce(evl_kgrouped_t *g, evl_agg_fn *fn, void *arg,
                                         const char *store);
/** @brief Each key's aggregate: init (may be NULL: empty) then fn per
 * record. */
EVL_API evl_ktable_t *evl_grouped_aggregate(evl_kgrouped_t *g, const void *init, size_t init_len,
                                            evl_agg_fn *fn, void *arg, const char *store);
/** Grouped streams aggregated together (Kafka's CogroupedKStream). */
typedef struct evl_kcogrouped evl_kcogrouped_t;
/** @brief Start a cogroup with g, whose records update the shared
 * aggregate through fn. */
EVL_API evl_kcogrouped_t *evl_grouped_cogroup(evl_kgrouped_t *g, evl_agg_fn *fn, void *arg);
/** @brief Add g with its aggregator (the inputs must be co-partitioned;
 * one whose key changed upstream is repartitioned). Returns c. */
EVL_API evl_kcogrouped_t *evl_cogrouped_add(evl_kcogrouped_t *c, evl_kgrouped_t *g,
                                            evl_agg_fn *fn, void *arg);
/** @brief The table of each key's aggregate: init (may be NULL: empty),
 * then each input's record through its input's aggregator, in the order
 * the records are processed; kept in store. */
EVL_API evl_ktable_t *evl_cogrouped_aggregate(evl_kcogrouped_t *c, const void *init,
                                              size_t init_len, const char *store);
/** @brief The table's changes as a stream (each update of a key). */
EVL_API evl_kstream_t *evl_table_to_stream(evl_ktable_t *t);

/** A partitioner for evl_stream_to_with: the partition of rec in a topic
 * of partitions partitions, or -1 for the default (the key's hash; a
 * keyless record: a partition fixed by its task). Must be deterministic. */
typedef int32_t evl_partitioner_fn(void *arg, const evl_srec_t *rec, int32_t partitions);
/** @brief evl_stream_to with the partition chosen by fn (Kafka's
 * StreamPartitioner); a partition out of range fails the task with
 * EVL_EINVAL. */
EVL_API int evl_stream_to_with(evl_kstream_t *s, const char *topic, evl_partitioner_fn *fn,
                               void *arg);

/** An event-time extractor (Kafka's TimestampExtractor): the record's
 * time in ms from the record (its timestamp field holds the log's) and
 * the task's stream time so far (0 before any record). A negative result
 * drops the record, counted as EVL_SM_SKIPPED. Must be deterministic. */
typedef int64_t evl_ts_fn(void *arg, const evl_srec_t *rec, int64_t stream_time);
/** @brief Take source's event times from fn (source: a stream or table as
 * evl_stream or evl_table made it). 0 or EVL_EINVAL. */
EVL_API int evl_source_timestamps(void *source, evl_ts_fn *fn, void *arg);

/* ------------------------------------------------------------------------ */
/** @defgroup serdes Serdes per topic                                        */
/*
 * A serde says what a topic's keys or values are: reading a topic, its
 * deserializer turns the bytes into what the callbacks see; writing one,
 * its serializer turns the callbacks' bytes back (Kafka's Serde). Declared
 * per topic (evl_streams_topic_serdes) or for all (default.key.serde,
 * default.value.serde: bytes, string, int64, json); repartition and
 * changelog topics carry the callbacks' form as is. A null key or value
 * stays null and is not passed to a serde.
 *
 * An input that does not deserialize is handled per
 * deserialization.exception.handler: fail (the default: the task fails,
 * the error naming topic, partition and offset) or continue (the record is
 * skipped and counted in EVL_SM_SKIPPED), Kafka's LogAndFail and
 * LogAndContinue. An output that does not serialize fails the task.
 */

/** A serde's function: in/len to *out (malloc'd; the library frees it)
 * and *out_len, returning 0; or EVL_SERDE_SAME: the bytes as they are; or
 * a negative error code (EVL_EINVAL: not of this type). Deterministic and
 * thread-safe. */
typedef int evl_serde_fn(void *arg, const void *in, size_t len, void **out, size_t *out_len);
#define EVL_SERDE_SAME 1
typedef struct evl_serde {
    const char *name;
    evl_serde_fn *deserialize; /**< topic -> callbacks */
    evl_serde_fn *serialize;   /**< callbacks -> topic */
    void *arg;
} evl_serde_t;
/** @brief Built-in serdes: bytes as they are; UTF-8 text (invalid UTF-8
 * refused); int64: exactly 8 bytes, big-endian in topics and callbacks
 * alike (Kafka's LongSerde, count's values; evl_int64_get/put); json: a
 * JSON text, checked on the way in and out. */
EVL_API const evl_serde_t *evl_serde_bytes(void);
EVL_API const evl_serde_t *evl_serde_string(void);
EVL_API const evl_serde_t *evl_serde_int64(void);
EVL_API const evl_serde_t *evl_serde_json(void);
/** @brief topic's key and value serdes (NULL: the default), for every
 * stream, table and sink of it in the topology (copied; arg must outlive
 * the application). 0, EVL_EINVAL (declared twice). */
EVL_API int evl_streams_topic_serdes(evl_streams_builder_t *b, const char *topic,
                                     const evl_serde_t *key, const evl_serde_t *value);
/** An int64 serde's value, and one made. */
static inline int64_t evl_int64_get(const void *p)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}
static inline void evl_int64_put(void *p, int64_t v)
{
    unsigned char *b = (unsigned char *)p;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

/* ------------------------------------------------------------------------ */
/** @defgroup joins Tables and joins                                        */

/** @brief topic as a table (a changelog: each key's newest value; a null
 * value deletes it), materialized in store. */
EVL_API evl_ktable_t *evl_table(evl_streams_builder_t *b, const char *topic, const char *store);

/** @brief The table's values mapped by fn (each change: fn emits the new
 * value with evl_emit(em, NULL, 0, value, len, -1); a deletion passes as
 * a deletion), as KTable#mapValues; kept in store when store is not NULL
 * (then it can be joined and queried). */
EVL_API evl_ktable_t *evl_table_map_values(evl_ktable_t *t, evl_xform_fn *fn, void *arg,
                                           const char *store);
/** @brief The table's entries for which fn holds (keep true) or does not
 * (keep false), as KTable#filter and filterNot: an update that no longer
 * passes becomes a deletion downstream. Kept in store when not NULL (then
 * a deletion of a key it does not hold is not passed on). */
EVL_API evl_ktable_t *evl_table_filter(evl_ktable_t *t, evl_pred_fn *fn, void *arg, bool keep,
                                       const char *store);

#define EVL_JOIN_INNER 0
#define EVL_JOIN_LEFT 1
#define EVL_JOIN_OUTER 2

/** A stream-table joiner: the stream's record and the table's value for
 * its key (NULL, 0 in a left join without one); emit the result's value
 * with evl_emit(em, NULL, 0, value, len, -1) (the key is the record's). */
typedef int evl_join_fn(void *arg, const evl_srec_t *rec, const void *tvalue, size_t tlen,
                        evl_emit_t *em);
/** A table-table joiner: both tables' values for key (either NULL, 0 when
 * missing, as the join allows); emit the result's value. */
typedef int evl_join2_fn(void *arg, const void *key, size_t key_len, const void *a, size_t alen,
                         const void *b, size_t blen, evl_emit_t *em);

/**
 * @brief Each record of s joined with t's value for its key at the time
 * the record is processed (inner: records without one are dropped;
 * EVL_JOIN_LEFT: joined with NULL). s and t must be co-partitioned (the
 * same partition count, keyed alike): evl_streams_new refuses otherwise;
 * a stream whose key was changed upstream goes through a repartition
 * topic (APPLICATION_ID-TABLESTORE-join-N-repartition) as wide as the
 * table's.
 */
EVL_API evl_kstream_t *evl_stream_join_table(evl_kstream_t *s, evl_ktable_t *t, evl_join_fn *fn,
                                             void *arg, int how);
/**
 * @brief A table of a's and b's values joined per key (EVL_JOIN_INNER,
 * _LEFT, _OUTER), kept in store: an update on either side updates the
 * result, and a key the join no longer yields is deleted (a null value
 * downstream), as Kafka's KTable joins.
 */
EVL_API evl_ktable_t *evl_table_join(evl_ktable_t *a, evl_ktable_t *b, evl_join2_fn *fn, void *arg,
                                     int how, const char *store);
/**
 * @brief A foreign-key join (Kafka's KTable#join(other, foreignKeyExtractor,
 * joiner), EVL_JOIN_INNER or _LEFT): a table keyed like left whose value
 * for key k is fn(k, left[k], right[fk]), fk being what fkfn emits for
 * left[k] (evl_emit(em, fk, len, NULL, 0, -1); none emitted or a NULL
 * key: no foreign key). Updates on either side update the results; a key
 * that no longer joins (inner) is deleted downstream. left and right need
 * not be co-partitioned: left's changes subscribe to right's keys through
 * APPLICATION_ID-STORE-fk-subscription (as wide as right) and right's
 * answers come back through APPLICATION_ID-STORE-fk-response (as wide as
 * left); an answer older than left's current value is dropped. Both
 * tables must be materialized; the result is kept in store (and
 * STORE/fk, STORE/sub for the bookkeeping).
 */
EVL_API evl_ktable_t *evl_table_join_fk(evl_ktable_t *left, evl_ktable_t *right, evl_xform_fn *fkfn,
                                        void *fkarg, evl_join2_fn *fn, void *arg, int how,
                                        const char *store);
/**
 * @brief A windowed stream-stream join (Kafka Streams' KStream#join,
 * leftJoin, outerJoin with JoinWindows, 3.x semantics): a record of a at
 * time t joins each record of b with the same key and a timestamp in
 * [t - before_ms, t + after_ms] (so a record of b at t joins a's in
 * [t - after_ms, t + before_ms]), whichever comes first; fn gets the key,
 * a's value and b's value, and each result has the larger of the two
 * timestamps. EVL_JOIN_LEFT and _OUTER add, for a record of a (left) or
 * of either side (outer) that joined nothing, one result with NULL, 0 for
 * the missing side and its own timestamp, once its window has closed:
 * when stream time passes t + after_ms + grace_ms (a's records) or
 * t + before_ms + grace_ms (b's), never eagerly, so never followed by a
 * match (no spurious results). A record earlier than stream time -
 * (before_ms + after_ms + grace_ms) is dropped and counted
 * (EVL_SM_DROPPED); records with a null key or a null value are skipped.
 * The records are kept in the task's stores STORE/a and STORE/b (and
 * STORE/index, and STORE/outer for the records waiting for their null
 * result) until no record still accepted can join them. a and b must be
 * co-partitioned (evl_streams_new checks); a side whose key was changed
 * upstream goes through a repartition topic (APPLICATION_ID-STORE-left-
 * and -right-repartition, as wide as the wider of the two). Record keys
 * are limited to 474 bytes: longer ones fail the task with EVL_ETOOBIG.
 * before_ms, after_ms, grace_ms: 0 to 2^52.
 */
EVL_API evl_kstream_t *evl_stream_join(evl_kstream_t *a, evl_kstream_t *b, evl_join2_fn *fn,
                                       void *arg, int how, int64_t before_ms, int64_t after_ms,
                                       int64_t grace_ms, const char *store);

/**
 * @brief A global table (Kafka's GlobalKTable): every partition of topic,
 * in every instance, materialized in store (state.dir/APPLICATION_ID/
 * global, no changelog: the topic is its own). evl_streams_start reads
 * the topics to their ends before the tasks start; the stream threads
 * then apply what is new before each batch. Needs no co-partitioning.
 */
EVL_API evl_ktable_t *evl_global_table(evl_streams_builder_t *b, const char *topic,
                                       const char *store);
/**
 * @brief Each record of s joined with gt's value for the key keyfn emits
 * (evl_emit(em, key, len, NULL, 0, -1); keyfn NULL: the record's key), as
 * KStream#join(GlobalKTable, KeyValueMapper, ValueJoiner): inner drops a
 * record without a value (or without a lookup key), EVL_JOIN_LEFT joins
 * it with NULL, 0. The result keeps the record's key. Under exactly_once
 * a batch sees the global table as of fixed positions (in its intent), so
 * a batch processed again after a crash joins with the same values.
 */
EVL_API evl_kstream_t *evl_stream_join_global(evl_kstream_t *s, evl_ktable_t *gt,
                                              evl_xform_fn *keyfn, void *keyarg, evl_join_fn *fn,
                                              void *arg, int how);

/* ------------------------------------------------------------------------ */
/** @defgroup process Processors and punctuation                            */
/*
 * A processor (Kafka's Processor API, KStream#process): a callback per
 * record with a context through which it reads and writes the task's
 * stores (its own and the topology's tables), scans them in key order and
 * forwards records to the processor's children; and punctuators, called
 * as stream time (the largest record timestamp the task has seen) or the
 * wall clock passes each interval. Stream-time punctuation fires at the
 * first record, then when stream time reaches the last punctuation's time
 * + interval (once, however far stream time jumped), with the stream time
 * as its argument; its schedule is kept in the task's checkpoint, so a
 * replay punctuates alike. Wall-clock punctuation runs between batches,
 * as a batch of its own whose time is written to the changelog first
 * (under exactly_once): processed again after a crash, it gets the same
 * time. Both kinds must be deterministic functions of their arguments and
 * the stores under exactly_once, as every callback.
 */
typedef struct evl_pctx evl_pctx_t;
typedef int evl_process_fn(void *arg, evl_pctx_t *ctx, const evl_srec_t *rec);
typedef int evl_punctuate_fn(void *arg, evl_pctx_t *ctx, int64_t time);
#define EVL_PUNCTUATE_STREAM_TIME 0
#define EVL_PUNCTUATE_WALL_CLOCK 1

/** @brief A processor of s's records with its own key-value store (store
 * NULL: none); its forwards make the returned stream. */
EVL_API evl_kstream_t *evl_stream_process(evl_kstream_t *s, evl_process_fn *fn, void *arg,
                                          const char *store);
/** @brief Call fn every interval_ms (1 to 2^40) of stream time or wall
 * time (EVL_PUNCTUATE_*) for each task running proc (at most 8 per
 * processor). */
EVL_API int evl_stream_punctuate(evl_kstream_t *proc, int type, int64_t interval_ms,
                                 evl_punctuate_fn *fn, void *arg);
/** @brief In a processor or punctuator: key's value in store (NULL: the
 * processor's own); *val is valid until the next write. 0, EVL_ENOTFOUND
 * (no such key or store). */
EVL_API int evl_pctx_get(evl_pctx_t *ctx, const char *store, const void *key, size_t key_len,
                         const void **val, size_t *val_len);
/** @brief Write key in the processor's own store (val NULL: delete). */
EVL_API int evl_pctx_put(evl_pctx_t *ctx, const void *key, size_t key_len, const void *val,
                         size_t val_len);
/** A visitor of a scan: nonzero stops (a negative value is returned). */
typedef int evl_entry_fn(void *arg, const void *key, size_t key_len, const void *val,
                      size_t val_len);
/** @brief The entries of store (NULL: the processor's own) with from <=
 * key <= to in byte order (NULL: unbounded), in key order. The visitor
 * may write. */
EVL_API int evl_pctx_range(evl_pctx_t *ctx, const char *store, const void *from,
                           size_t from_len, const void *to, size_t to_len, evl_entry_fn *fn,
                           void *arg);
/** @brief Pass a record to the processor's children (timestamp < 0: the
 * current record's, or the punctuation's time). */
EVL_API int evl_pctx_forward(evl_pctx_t *ctx, const void *key, size_t key_len, const void *val,
                             size_t val_len, int64_t timestamp);
/** @brief The task's stream time and partition. */
EVL_API int64_t evl_pctx_stream_time(const evl_pctx_t *ctx);
EVL_API int evl_pctx_partition(const evl_pctx_t *ctx);

/* ------------------------------------------------------------------------ */
/** @defgroup run Running an application                                    */

typedef struct evl_streams evl_streams_t;

/**
 * @brief An application of topology b on log, with settings given as
 * npairs name/value pairs (pairs[2i], pairs[2i+1]); Kafka Streams' names:
 *   application.id (required)     the group id and prefix of its topics
 *   num.stream.threads [1]
 *   processing.guarantee [exactly_once]  exactly_once | at_least_once
 *   commit.interval.ms [100]       the longest a poll waits for records
 *                                  (less when a wall-clock punctuation
 *                                  is due sooner); each batch polled is
 *                                  committed
 *   state.dir [/tmp/evl-streams]   this instance's state stores (one
 *                                  directory per instance on a machine)
 *   default.key.serde, default.value.serde [bytes]  bytes | string |
 *                                  int64 | json (topics without their own)
 *   deserialization.exception.handler [fail]  fail | continue
 *   num.standby.replicas [0]       > 0: this instance keeps a warm copy
 *                                  of each task it does not run, brought
 *                                  up to its changelog's end every 200
 *                                  ms, so a task moved here restores
 *                                  only what is newer (Kafka keeps that
 *                                  many copies in other instances; with
 *                                  two instances the two agree)
 * Topics the topology reads must exist (repartition and changelog topics
 * are made when missing). b serves one application and must outlive it.
 * An unknown name or a bad value is refused, naming it.
 * @return 0, EVL_ECONFIG (with a message in errbuf), EVL_EINVAL (a failed
 * builder: its error in errbuf), EVL_ENOTFOUND (an input topic), or an
 * error of the log.
 */
EVL_API int evl_streams_new(evl_log_t *log, const evl_streams_builder_t *b,
                            const char *const *pairs, size_t npairs, char *errbuf,
                            size_t errlen, evl_streams_t **out);
/** @brief Start the stream threads. */
EVL_API int evl_streams_start(evl_streams_t *app);
/** @brief Stop: each task commits, the threads end, the group is left. A
 * task that failed makes this return its error. NULL accepted. */
EVL_API int evl_streams_close(evl_streams_t *app);
/** @brief The first error a task failed with (0 while all run). */
EVL_API int evl_streams_error(evl_streams_t *app, char *buf, size_t len);

/**
 * @brief Interactive query: key's value in store, as this instance's
 * tasks last committed it (copied into *val, malloc'd; free()). A key
 * whose task runs in another instance is not found here.
 * @return 0, EVL_ENOTFOUND (no such key, or no such store), EVL_ENOMEM.
 */
EVL_API int evl_streams_store_get(evl_streams_t *app, const char *store, const void *key,
                                  size_t key_len, void **val, size_t *val_len);

/**
 * @brief Interactive query: store's entries with from <= key <= to (byte
 * order; NULL: unbounded) as this instance's tasks last committed them,
 * task by task, each task's in key order (as Kafka's range over a store's
 * instances). fn runs under the application's lock: it must not call the
 * application. A global table's store is read the same way.
 * @return 0, EVL_ENOTFOUND (no such store here), fn's negative value.
 */
EVL_API int evl_streams_store_range(evl_streams_t *app, const char *store, const void *from,
                                    size_t from_len, const void *to, size_t to_len,
                                    evl_entry_fn *fn, void *arg);
/** A visitor of windows: the window's start and end (ms) and value. */
typedef int evl_window_fn(void *arg, int64_t start, int64_t end, const void *val,
                          size_t val_len);
/**
 * @brief Interactive query of a windowed store (Kafka's WindowStore#fetch
 * and SessionStore#fetch): key's open windows whose start lies in
 * [time_from, time_to], in start order.
 * @return 0, EVL_ENOTFOUND (no such windowed store here), EVL_EINVAL.
 */
EVL_API int evl_streams_window_fetch(evl_streams_t *app, const char *store, const void *key,
                                     size_t key_len, int64_t time_from, int64_t time_to,
                                     evl_window_fn *fn, void *arg);

/** One task's metrics (evl_streams_task_metrics). */
typedef struct evl_task_metrics {
    int subtopology, partition;
    int64_t records;          /**< input records processed */
    int64_t punctuations;     /**< punctuator calls */
    int64_t dropped;          /**< records later than a window's grace */
    int64_t skipped;          /**< records with a negative extracted time */
    int64_t commits;
    int64_t commit_latency_avg_us, commit_latency_max_us; /**< the commit step */
    int64_t restore_total;    /**< changelog records to restore at open */
    int64_t restored;         /**< of which restored so far */
    int64_t replayed;         /**< batches processed again after a crash */
} evl_task_metrics_t;
/** @brief The metrics of this instance's tasks (at most max; *n: how
 * many tasks there are). */
EVL_API int evl_streams_task_metrics(evl_streams_t *app, evl_task_metrics_t *out, size_t max,
                                     size_t *n);

/** Metrics of the instance's tasks, summed (EVL_SM_*). */
#define EVL_SM_RECORDS 0      /**< input records processed */
#define EVL_SM_COMMITS 1      /**< commits */
#define EVL_SM_RESTORED 2     /**< records restored from changelogs */
#define EVL_SM_TASKS 3        /**< tasks running now */
#define EVL_SM_REPLAYED 4     /**< batches processed again after a crash */
#define EVL_SM_DROPPED 5      /**< records later than a window's grace */
#define EVL_SM_SKIPPED 6      /**< records whose extracted time was negative */
#define EVL_SM_PUNCTUATIONS 7 /**< punctuator calls */
#define EVL_SM_STANDBY 8      /**< changelog records applied by standby replicas */
EVL_API int64_t evl_streams_metric(evl_streams_t *app, int metric);

/* ------------------------------------------------------------------------ */
/** @defgroup windows Windowed aggregation                                   */
/*
 * Kafka Streams' windowed aggregations (lib/streams/window.c), in event
 * time: a record's time is its timestamp; a task's stream time is the
 * largest timestamp it has seen (kept with its commits).
 *
 *  - time windows [start, start + size), aligned to the epoch (start a
 *    multiple of advance): tumbling when advance == size, hopping when
 *    advance < size (a record updates each of the size/advance windows
 *    holding it);
 *  - session windows [first, last] per key: a record joins (and merges)
 *    the key's sessions within gap of it on either side; sessions it
 *    merges are retracted downstream with a null value.
 *
 * A window closes when stream time reaches its end + grace (a session's:
 * when stream time passes its last record + gap + grace). A record for
 * closed windows only is dropped and counted (EVL_SM_DROPPED); a closed
 * window leaves the store.
 *
 * The table's records: key = Kafka's windowed key bytes: for time windows
 * the record key then the window start (8 bytes, big-endian: Kafka's
 * TimeWindowedSerializer); for sessions the key, then the end, then the
 * start (SessionWindowedSerializer). The store holds the open windows
 * under the same keys (evl_streams_store_get). Values: the aggregate
 * (count: 8-byte big-endian int64), at every change, with the record's
 * timestamp (sessions: the session's end), unless suppressed.
 * Record keys are limited to 483 bytes (time windows) or 475 (sessions):
 * longer ones fail the task with EVL_ETOOBIG.
 */

typedef struct evl_kwindowed evl_kwindowed_t;
/** A session merger: emit the combination of aggregates a and b with
 * evl_emit(em, NULL, 0, value, len, -1). */
typedef int evl_merge_fn(void *arg, const void *key, size_t key_len, const void *a, size_t alen,
                         const void *b, size_t blen, evl_emit_t *em);

/** @brief Time windows of size_ms every advance_ms (== size_ms:
 * tumbling), accepting records until grace_ms after a window's end
 * (Kafka's TimeWindows.ofSizeAndGrace(size, grace).advanceBy(advance)). */
EVL_API evl_kwindowed_t *evl_grouped_windowed_by(evl_kgrouped_t *g, int64_t size_ms,
                                                 int64_t advance_ms, int64_t grace_ms);
/** @brief Session windows (SessionWindows.ofInactivityGapAndGrace). */
EVL_API evl_kwindowed_t *evl_grouped_session_windowed_by(evl_kgrouped_t *g, int64_t gap_ms,
                                                         int64_t grace_ms);
/** @brief Each window's number of records (time or session windows). */
EVL_API evl_ktable_t *evl_windowed_count(evl_kwindowed_t *w, const char *store);
/** @brief Each time window's records combined by fn (the first taken as
 * is). */
EVL_API evl_ktable_t *evl_windowed_reduce(evl_kwindowed_t *w, evl_agg_fn *fn, void *arg,
                                          const char *store);
/** @brief Each time window's aggregate: init, then fn per record. */
EVL_API evl_ktable_t *evl_windowed_aggregate(evl_kwindowed_t *w, const void *init,
                                             size_t init_len, evl_agg_fn *fn, void *arg,
                                             const char *store);
/** @brief Each session's aggregate: init, then fn per record; sessions
 * merged by merge (starting from init: merge(merge(init, s1), s2)...). */
EVL_API evl_ktable_t *evl_session_aggregate(evl_kwindowed_t *w, const void *init,
                                            size_t init_len, evl_agg_fn *fn, evl_merge_fn *merge,
                                            void *arg, const char *store);
/** @brief A windowed table's final results only (Kafka's
 * suppress(Suppressed.untilWindowCloses(...))): each window's last value,
 * once, when the window closes (on the record that moves stream time
 * there), with the largest timestamp of its updates. Buffered in a store
 * of the task, so a restart neither loses nor repeats a final. */
EVL_API evl_ktable_t *evl_table_suppress_until_window_closes(evl_ktable_t *t);
/** @brief Split a windowed key: the record key's length, the window start
 * and (sessions) end; session: whether it is a session window's key.
 * end may be NULL. 0, or EVL_EINVAL (too short). */
EVL_API int evl_windowed_key_parse(const void *wkey, size_t len, bool session, size_t *key_len,
                                   int64_t *start, int64_t *end);

#ifdef __cplusplus
}
#endif
#endif
