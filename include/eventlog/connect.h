/*
 * eventlog/connect.h - Kafka Connect's model on libeventlog
 * (libeventlog-connect): connectors move records between the log and other
 * systems, with stored progress.
 *
 * A connector type (file, kafka, mqtt, or one of the application's) gives a
 * definition of its settings (evl_confdef_t) and a task: a source task
 * polls records from outside and names, with each, where it came from (a
 * source offset, opaque bytes); a sink task is given records and says when
 * they are safely out. The worker runs the tasks on threads of their own
 * and keeps their progress:
 *
 *  - source: records go to the log through an idempotent producer named
 *    for the connector and task; after each batch is appended (at the
 *    connector's durability), the batch's last source offset and the
 *    producer's next sequence are committed together in the log's metadata
 *    (table connect.offsets). After a crash the task restarts from the
 *    committed offset and the producer is rewound to the committed
 *    sequence, so the records sent again after it are recognised by the
 *    partition and not appended twice: no record lost or repeated, also
 *    after kill -9.
 *  - sink: records are read by a consumer of the group connect-NAME from
 *    the connector's `topics`, handed to the task (put), and their offsets
 *    committed only after the task's flush says everything put is out:
 *    after a crash the records since the last flush are put again (at
 *    least once; a sink whose target can tell repeats makes it exactly
 *    once: KafkaSink reads back what it had delivered, keeping positions
 *    with evl_sink_task_save; see lib/connect/kafka_sink.c). A source
 *    whose upstream redelivers in its own order (MQTT) says so
 *    (EVL_REPLAY_UNORDERED) and acknowledges upstream in its commit: at
 *    least once, nothing acknowledged lost.
 *
 * Between the log and a task, each record goes through the connector's
 * converters (key.converter, value.converter) and transforms
 * (transforms=...), with Kafka Connect's error handling (errors.tolerance,
 * errors.log.enable, and for sinks errors.deadletterqueue.topic.name).
 *
 * Thread-safety: a worker's calls are thread-safe; a task's callbacks run
 * on that task's thread only.
 */
#ifndef EVENTLOG_CONNECT_H
#define EVENTLOG_CONNECT_H

#include <eventlog.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A record a source task hands to the worker (all fields borrowed until
 * the next poll). */
typedef struct evl_source_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp;          /**< < 0: now */
    const void *source_offset;  /**< where it came from (opaque), kept */
    size_t source_offset_len;   /**< at most EVL_CONNECT_OFFSET_MAX bytes */
    bool has_partition;         /**< partition below is the local partition;
                                     otherwise keyed records hash and keyless
                                     ones go to partition 0 (a replay must land
                                     where the first attempt did) */
    int32_t partition;
} evl_source_record_t;

#define EVL_CONNECT_OFFSET_MAX 1024

typedef struct evl_source_task evl_source_task_t;

/** What a connector type provides for a source task. */
typedef struct evl_source_ops {
    /**
     * Start: conf holds the connector's settings (checked against the
     * type's definition); offset is the last committed source offset (NULL
     * with len 0 the first time): resume right after it. *state is the
     * task's own. 0 or a negative code (the task is FAILED).
     */
    int (*start)(const evl_conf_t *conf, const void *offset, size_t offset_len,
                 void **state);
    /**
     * Poll up to max records into recs, waiting at most timeout_ms for one.
     * Returns how many (0: nothing yet), or a negative code (the task is
     * FAILED). The views stay valid until the next poll.
     */
    int (*poll)(void *state, evl_source_record_t *recs, int max, int timeout_ms);
    /** Stop and free the state. */
    void (*stop)(void *state);
    /** Optional (may be NULL): the records of the last poll are in the log
     * at the connector's durability and their source offset is committed:
     * acknowledge them upstream now (an MQTT PUBACK, say). */
    void (*commit)(void *state);
    /** What a restart after a crash gives again: EVL_REPLAY_EXACT (0) or
     * EVL_REPLAY_UNORDERED. */
    int replay;
} evl_source_ops_t;

/** The records after the last committed source offset again, in the same
 * order per partition: the worker recognises those it had appended (its
 * producer is rewound to the committed sequences), so exactly once. */
#define EVL_REPLAY_EXACT 0
/** The upstream sends again what it had no acknowledgement for, perhaps in
 * another order or among new records (an MQTT broker): they are appended
 * again, so at least once (nothing acknowledged is lost). */
#define EVL_REPLAY_UNORDERED 1

/** A record handed to a sink task, as Kafka Connect's SinkRecord: after
 * the connector's converters and transforms (all views, valid until the
 * next put). */
typedef struct evl_sink_record {
    const char *topic;          /**< after the transforms (a router may change it) */
    const char *original_topic; /**< the local topic it was read from */
    int32_t partition;          /**< its local partition */
    int64_t offset;             /**< its local offset */
    int64_t timestamp;
    const void *key;            /**< NULL: no key */
    size_t key_len;
    const void *value;          /**< NULL: a tombstone */
    size_t value_len;
    const evl_header_t *headers;
    size_t nheaders;
} evl_sink_record_t;

/** The worker's side of a sink task, given to its start: what the task
 * may ask of the worker. Valid until the task's stop returns. */
typedef struct evl_sink_task evl_sink_task_t;

/** What a connector type provides for a sink task. */
typedef struct evl_sink_ops {
    /** Start with the connector's settings. 0 or a negative code. */
    int (*start)(const evl_conf_t *conf, evl_sink_task_t *task, void **state);
    /** Take n records (views valid until the next put). 0 or a negative
     * code (the task is FAILED; nothing since the last flush is
     * committed). */
    int (*put)(void *state, const evl_sink_record_t *recs, size_t n);
    /** Make everything put so far safe (written, synced, acknowledged):
     * its offsets are committed once this returns 0. */
    int (*flush)(void *state);
    void (*stop)(void *state);
    /** Optional (may be NULL): the offsets of the last flush are now
     * committed. A task that keeps its own progress beside the group's
     * (evl_sink_task_save) saves it here: never ahead of the commit. */
    void (*committed)(void *state);
} evl_sink_ops_t;

/** @brief The connector's name, and which of its tasks this is (0..). */
EVL_API const char *evl_sink_task_name(const evl_sink_task_t *task);
EVL_API int evl_sink_task_id(const evl_sink_task_t *task);
/**
 * @brief What the task saved last (evl_sink_task_save), in the log's
 * metadata, also across restarts: copied into buf (cap bytes), its size in
 * *len. 0, EVL_ENOTFOUND (nothing saved), EVL_ETOOBIG (*len is the size
 * needed).
 */
EVL_API int evl_sink_task_load(evl_sink_task_t *task, void *buf, size_t cap, size_t *len);
/** @brief Keep len bytes (at most 1 MiB) for the task, durably, in one
 * metadata transaction. */
EVL_API int evl_sink_task_save(evl_sink_task_t *task, const void *buf, size_t len);

/** A connector type: its name (connector.class), its settings, its task
 * (a source or a sink). */
typedef struct evl_connector_type {
    const char *name;
    const evl_confkey_t *keys;  /**< its own settings (the worker adds name,
                                     connector.class, topic, topics...) */
    size_t nkeys;
    const evl_source_ops_t *source;
    const evl_sink_ops_t *sink;
    int max_tasks;              /**< tasks it can run at once (0: as many as
                                     tasks.max asks); each sink task is a
                                     member of the group connect-NAME */
} evl_connector_type_t;

/** The built-in FileStreamSource: `file`, `topic`, `batch.size`. */
EVL_API const evl_connector_type_t *evl_connect_file_source(void);
/** The built-in FileStreamSink: `file`, `topics` (each record's value and a
 * newline appended to the file; fsynced at each flush). */
EVL_API const evl_connector_type_t *evl_connect_file_sink(void);
/** The built-in KafkaSink: `topics` to a Kafka cluster through librdkafka
 * (`kafka.bootstrap.servers`, `kafka.topic`, `kafka.partition.mode`
 * hash|same, `kafka.flush.timeout.ms`, any other `kafka.*` to librdkafka). */
EVL_API const evl_connector_type_t *evl_connect_kafka_sink(void);
/** The built-in KafkaSource: cluster topics (`kafka.topics`, in order)
 * into the local `topic`, each cluster partition to a local partition of
 * its own (64 in all at most), no loss and no repeat across restarts (its
 * positions are committed with the worker's progress, then to the cluster
 * for `kafka.group.id`). `kafka.bootstrap.servers`, any other `kafka.*` to
 * librdkafka. */
EVL_API const evl_connector_type_t *evl_connect_kafka_source(void);

/** The built-in MqttSource: `mqtt.topics` (filters, + and # allowed) into
 * the local `topic`, the MQTT topic as the key and the payload as the
 * value; `mqtt.server.uri` (tcp:// or ssl://host:port, comma-separated),
 * `mqtt.qos` (1), `mqtt.client.id`, `mqtt.clean.session.enabled` (false),
 * `mqtt.username`, `mqtt.password`, `mqtt.ssl.ca.file`,
 * `mqtt.ssl.cert.file`, `mqtt.ssl.key.file`, `mqtt.ssl.insecure`. A
 * message is acknowledged to the broker only once it is in the log at the
 * connector's durability (at least once; see mqtt_source.c for QoS 2). */
EVL_API const evl_connector_type_t *evl_connect_mqtt_source(void);
/** The built-in MqttSink: `topics` published to `mqtt.server.uri` at the
 * topic `mqtt.topic` (${key}, ${topic}, ${partition}; default ${key}),
 * `mqtt.qos`, `mqtt.retain`; the group commits what the broker
 * acknowledged (at least once). */
EVL_API const evl_connector_type_t *evl_connect_mqtt_sink(void);

typedef struct evl_connect_worker evl_connect_worker_t;

/** @brief A worker on log (which must outlive it). */
EVL_API int evl_connect_worker_new(evl_log_t *log, evl_connect_worker_t **out);
/** @brief Where errors.log.enable reports go (set before starting
 * connectors; the callback may be called from any task's thread). */
EVL_API void evl_connect_worker_set_log_cb(evl_connect_worker_t *w, evl_log_cb *cb,
                                           void *opaque);
/** @brief Make a connector type known (built-ins are known already). */
EVL_API int evl_connect_register(evl_connect_worker_t *w, const evl_connector_type_t *type);

/**
 * @brief Start connector from its settings: npairs name/value pairs, among
 * them `name` and `connector.class`, and for a source `topic`. Settings are
 * checked first: a bad one is refused (EVL_ECONFIG) with a message naming it
 * in err, and nothing runs. Worker settings: `durability` (a source's:
 * none | interval | fsync, default fsync: a committed offset's records are
 * on disk); for a sink `topics` (comma-separated) and
 * `offset.flush.interval.ms` (how often the sink is flushed and its offsets
 * committed, default 1000); Kafka Connect's `errors.retry.timeout` (ms a
 * failed put or flush is tried again: 0, the default, not at all; -1 for
 * ever) and `errors.retry.delay.max.ms` (60000).
 */
EVL_API int evl_connect_start(evl_connect_worker_t *w, const char *const *pairs, size_t npairs,
                              char *err, size_t errsz);

/**
 * @brief Parse Java .properties text (a Kafka Connect standalone file)
 * into *npairs name/value pairs (*pairs: 2 * npairs strings, free with
 * evl_connect_pairs_free). A key given twice is refused. 0, EVL_ECONFIG
 * (err says which line), EVL_ENOMEM.
 */
EVL_API int evl_connect_properties(const char *text, size_t len, char ***pairs,
                                   size_t *npairs, char *err, size_t errsz);
EVL_API void evl_connect_pairs_free(char **pairs, size_t npairs);
/**
 * @brief The same from JSON: {"name": ..., "config": {...}} (Kafka
 * Connect's REST body and .json files) or the config object alone. Values
 * are strings, numbers or booleans. 0, EVL_ECONFIG (err says what),
 * EVL_ENOMEM.
 */
EVL_API int evl_connect_json(const char *text, size_t len, char ***pairs, size_t *npairs,
                             char *err, size_t errsz);

/** Task states, as Kafka Connect names them. */
#define EVL_CONNECT_RUNNING 1
#define EVL_CONNECT_FAILED 2
#define EVL_CONNECT_STOPPED 3
#define EVL_CONNECT_PAUSED 4

/**
 * @brief connector's state, and for a failed one the error in err.
 * Records it has moved in *records (may be NULL). EVL_ENOTFOUND if unknown.
 */
EVL_API int evl_connect_status(evl_connect_worker_t *w, const char *connector, int64_t *records,
                               char *err, size_t errsz);
/** What a connector has done. */
typedef struct evl_connect_metrics {
    int64_t records;  /**< records moved */
    int64_t retries;  /**< failed puts and flushes tried again */
    int state;        /**< EVL_CONNECT_* */
    int64_t errors;   /**< records that failed conversion or a transform */
    int64_t dlq_records; /**< of those, written to the dead letter queue */
    int64_t filtered; /**< records a Filter transform dropped */
    int64_t bytes;    /**< key and value bytes moved */
    int64_t lag;      /**< a sink's: records in its topics its group has not
                           committed yet (0 for a source) */
} evl_connect_metrics_t;
/** @brief connector's metrics. 0 or EVL_ENOTFOUND. */
EVL_API int evl_connect_metrics(evl_connect_worker_t *w, const char *connector,
                                evl_connect_metrics_t *out);

/** @brief The connectors' names, oldest first; free with
 * evl_connect_list_free. */
EVL_API int evl_connect_list(evl_connect_worker_t *w, char ***names, size_t *count);
EVL_API void evl_connect_list_free(char **names, size_t count);
/** @brief A copy of connector's settings as given (free with
 * evl_connect_pairs_free), its type's name in *cls and 1 in *is_sink for a
 * sink (both may be NULL). 0, EVL_ENOTFOUND. */
EVL_API int evl_connect_config(evl_connect_worker_t *w, const char *name, char ***pairs,
                               size_t *npairs, const char **cls, int *is_sink);
/** @brief Pause a connector: its task stops moving records (a sink's put
 * records are flushed and committed first); state EVL_CONNECT_PAUSED. */
EVL_API int evl_connect_pause(evl_connect_worker_t *w, const char *name);
EVL_API int evl_connect_resume(evl_connect_worker_t *w, const char *name);
/** @brief Stop the connector's tasks and start them again from their
 * committed progress (also FAILED ones); _task: one of them. */
EVL_API int evl_connect_restart(evl_connect_worker_t *w, const char *name);
EVL_API int evl_connect_restart_task(evl_connect_worker_t *w, const char *name, int task);
/** @brief How many tasks the connector runs (tasks.max, as far as its type
 * can), or EVL_ENOTFOUND. */
EVL_API int evl_connect_task_count(evl_connect_worker_t *w, const char *name);
/** @brief Task task's own metrics (lag: 0; the connector's is the group's). */
EVL_API int evl_connect_task_metrics(evl_connect_worker_t *w, const char *name, int task,
                                     evl_connect_metrics_t *out);
/** @brief Task task's state (EVL_CONNECT_*) and error, or EVL_ENOTFOUND. */
EVL_API int evl_connect_task_status(evl_connect_worker_t *w, const char *name, int task,
                                    char *err, size_t errsz);
/** @brief Stop the connector and forget it (its progress stays in the log:
 * started again under the same name, it goes on from there). */
EVL_API int evl_connect_delete(evl_connect_worker_t *w, const char *name);
/** @brief The connector types known: count, and the i-th. */
EVL_API size_t evl_connect_type_count(evl_connect_worker_t *w);
EVL_API const evl_connector_type_t *evl_connect_type(evl_connect_worker_t *w, size_t i);
/** @brief The whole settings definition of type cls (the worker's and the
 * type's keys), or NULL. Valid as long as the worker. */
EVL_API const evl_confdef_t *evl_connect_type_settings(evl_connect_worker_t *w,
                                                       const char *cls);
typedef struct evl_connect_rest evl_connect_rest_t;
/**
 * @brief Serve Kafka Connect's REST API for w (the calls its users script
 * against: /connectors, their config, status, restart, pause, resume,
 * delete; /connector-plugins and their config validation) and its metrics
 * as Prometheus text (GET /metrics), on listen "HOST:PORT" (IPv4; NULL:
 * 127.0.0.1:8083; port 0: any free one, see evl_connect_rest_port). Runs
 * on a thread of its own until evl_connect_rest_stop, which must come
 * before evl_connect_worker_free.
 */
EVL_API int evl_connect_rest_start(evl_connect_worker_t *w, const char *listen,
                                   evl_connect_rest_t **out, char *err, size_t errsz);
EVL_API int evl_connect_rest_port(const evl_connect_rest_t *r);
EVL_API void evl_connect_rest_stop(evl_connect_rest_t *r);

/** @brief Check settings for type cls without starting anything: every
 * problem to problem (key, message). Returns how many (0: valid), or
 * EVL_ENOTFOUND (no such type), EVL_ENOMEM. */
EVL_API int evl_connect_validate(evl_connect_worker_t *w, const char *cls,
                                 const char *const *pairs, size_t npairs,
                                 evl_conf_problem_fn *problem, void *arg);

/** @brief Stop connector: its task ends, its progress is committed. */
EVL_API int evl_connect_stop(evl_connect_worker_t *w, const char *connector);
/** @brief Stop everything and free the worker. Accepts NULL. */
EVL_API void evl_connect_worker_free(evl_connect_worker_t *w);

#ifdef __cplusplus
}
#endif

#endif
