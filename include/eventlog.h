/*
 * eventlog.h - the whole public contract of libeventlog.
 *
 * libeventlog is Apache Kafka's model as an embeddable C library: records
 * (key, value, headers, timestamp) appended to topics split into partitions,
 * each partition an append-only, durable log of mmap'd segment files, read by
 * offset or by time. There is no broker: the application links the library,
 * and several threads and several processes may open one log directory at
 * once.
 *
 * If a function, type or constant does not appear in this file, it is not a
 * published API of libeventlog.
 *
 * Conventions used by every function below:
 *  - Return codes: 0 on success, a negative EVL_E* code on failure. System
 *    failures are the negated errno (EVL_ENOSPC == -ENOSPC); library
 *    conditions live below -30000. evl_strerror() names them.
 *  - Out-parameters come last as `T **out` and are set to NULL on failure.
 *  - Every close/free function accepts NULL as a harmless no-op.
 *  - Configuration objects are copied by the call that takes them: the caller
 *    keeps ownership and may free or reuse them right after the call.
 *  - Thread-safety vocabulary:
 *      Thread-safe: any thread, any time, concurrently with other calls.
 *      One thread at a time: the handle may move between threads, but calls
 *        on it must not overlap.
 *      Not concurrent: no other call on this handle (or its children) may run.
 *  - fork(): handles must not be used in a child after fork(); open new ones.
 *  - Versions with the same major number are ABI stable. Published signatures
 *    never change; a changed behaviour gets a new function (evl_x_v2).
 */
#ifndef EVENTLOG_H
#define EVENTLOG_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EVL_API __attribute__((visibility("default")))
#else
#define EVL_API
#endif

/* ------------------------------------------------------------------------ */
/** @defgroup version Versions                                              */

#define EVL_VERSION_MAJOR 0
#define EVL_VERSION_MINOR 2
#define EVL_VERSION_PATCH 0
/** Pack a version into one integer, as LMDB's MDB_VERINT does. */
#define EVL_VERINT(a, b, c) (((a) << 24) | ((b) << 16) | (c))
#define EVL_VERSION_NUMBER \
    EVL_VERINT(EVL_VERSION_MAJOR, EVL_VERSION_MINOR, EVL_VERSION_PATCH)
#define EVL_STR_(x) #x
#define EVL_STR(x) EVL_STR_(x)
#define EVL_VERSION_STRING                                              \
    EVL_STR(EVL_VERSION_MAJOR) "." EVL_STR(EVL_VERSION_MINOR) "." EVL_STR( \
        EVL_VERSION_PATCH)

/** @brief The library's version string, e.g. "0.1.0". Thread-safe. */
EVL_API const char *evl_version(void);
/** @brief The library's EVL_VERSION_NUMBER, to compare with the header's. */
EVL_API int evl_version_number(void);

/* ------------------------------------------------------------------------ */
/** @defgroup errors Error codes                                             */

#define EVL_OK 0
/* System failures: the negated errno. */
#define EVL_EINVAL (-EINVAL)   /**< invalid argument */
#define EVL_ENOMEM (-ENOMEM)   /**< out of memory */
#define EVL_ENOSPC (-ENOSPC)   /**< the file system is full */
#define EVL_EIO (-EIO)         /**< an I/O error from the kernel */
#define EVL_EACCES (-EACCES)   /**< permission denied */
/* Library conditions. */
#define EVL_ECORRUPT (-30001)  /**< data failed a checksum or a sanity check */
#define EVL_ETOOBIG (-30002)   /**< a record is larger than max.message.bytes */
#define EVL_ENOTFOUND (-30003) /**< no such topic, partition or group */
#define EVL_EEXIST (-30004)    /**< the topic already exists */
#define EVL_EOFFSET (-30005)   /**< offset out of range (below the log start
                                    or past the end) */
#define EVL_ETIMEDOUT (-30006) /**< nothing arrived before the timeout */
#define EVL_EFENCED (-30007)   /**< a stale consumer-group generation */
#define EVL_EBADNAME (-30008)  /**< an invalid topic or group name */
#define EVL_ECONFIG (-30009)   /**< unknown config name or invalid value */
#define EVL_ESTATE (-30010)    /**< call not valid in the handle's state */
#define EVL_EVERSION (-30011)  /**< files written by an incompatible version */
#define EVL_EFULL (-30012)     /**< the log's disk budget (disk.bytes.max) is
                                    reached and the policy is to reject */
#define EVL_EBUSY (-30013)     /**< the group has active members */
#define EVL_ENOOFFSET (-30014) /**< no committed offset and
                                    auto.offset.reset=none */
#define EVL_EDURABILITY (-30015) /**< the record was appended, but making it
                                    durable failed (fsync error): it must not
                                    be taken as on disk */
#define EVL_ESEQUENCE (-30016) /**< an idempotent producer's sequence is past
                                    the one the partition expects: records
                                    before it are missing (evl_producer_rewind
                                    went too far) */
#define EVL_EPRODUCER_FENCED (-30017) /**< a newer instance of this named
                                    producer (producer.name) has written to
                                    the partition: this one must close */

/**
 * @brief A static, human-readable description of a return code.
 * Thread-safe; never NULL; nothing to free.
 */
EVL_API const char *evl_strerror(int rc);
/** @brief The code's symbolic name, e.g. "EVL_ECORRUPT". Thread-safe. */
EVL_API const char *evl_errname(int rc);

/* ------------------------------------------------------------------------ */
/** @defgroup config Configuration                                           */

/**
 * An opaque set of name=value settings with Kafka-style names. One config
 * type serves every object, and each call takes the names listed for it
 * below. A name set on the config that does not apply to the call is
 * refused with EVL_ECONFIG (and a log message naming it), never ignored;
 * except that a name holding the very value the log was opened with is
 * accepted, so one config may open the log and then create its topics.
 * evl_log_open takes the log names and the topic and producer names (as
 * defaults). Integers are plain decimal ("-1", "0", "65536"; not "+1",
 * " 1" or "01"). Names (defaults in brackets):
 *
 * Log (evl_log_open):
 *   disk.bytes.max [0 = no cap]   bytes on disk for all topics together: every
 *                                 file of every partition as the file system
 *                                 charges it (segments with their allocated
 *                                 space, indexes, control blocks). Shared by
 *                                 the processes using the log; under it,
 *                                 segments roll at the smaller of
 *                                 segment.bytes and disk.bytes.max / 8 (at
 *                                 least 1 MiB). When a growth does not fit,
 *                                 retention runs at once and segments that
 *                                 the retain.until.consumed.by groups have
 *                                 committed past are deleted first, then:
 *   disk.full.policy [reject]     reject: EVL_EFULL; block: wait for space
 *                                 (checked every 10 ms) up to
 *                                 disk.full.block.ms, then EVL_EFULL;
 *                                 drop-oldest: delete the oldest segments of
 *                                 any topic (a partition with nothing else
 *                                 to drop seals its own to drop it). Each
 *                                 change between full and not is logged
 *                                 once.
 *   disk.full.block.ms [5000]     how long `block` waits before EVL_EFULL
 *   meta.mapsize [16777216]       initial LMDB map size; it grows on demand
 *   retention.check.interval.ms [30000]  how often the background thread
 *                                 applies retention to open topics
 *   recovery.mode [auto]          auto: trust the shared state left in this
 *                                 boot (O(1) open after a process crash) and
 *                                 rebuild it from the files after a reboot;
 *                                 rebuild: always rebuild from the files, as
 *                                 after a power loss (checks every partition's
 *                                 tail). Use rebuild only when no other
 *                                 process has the log open.
 *                                 repair: as auto, then cut each partition's
 *                                 damaged tail (records that fail their
 *                                 checks with no intact record after them;
 *                                 within a boot auto keeps them and readers
 *                                 stop there with EVL_ECORRUPT), and set
 *                                 damaged metadata aside, rebuilding it from
 *                                 the topics' files (evl verify --repair).
 *                                 Damage followed by intact records is not
 *                                 cut: readers skip it when sought past. Use
 *                                 it only when no other process has the log
 *                                 open.
 *   log.cleaner.enable [true]     run compaction in the background (a
 *                                 thread at idle priority per handle)
 *   log.cleaner.backoff.ms [15000] how often it looks at the compacted
 *                                 topics' open partitions
 *
 * Topic (evl_topic_create; evl_log_open's config gives the defaults):
 *   num.partitions [1]
 *   segment.bytes [1073741824]    roll size of a segment file
 *   segment.ms [604800000]        roll age of a segment
 *   retention.ms [604800000]      delete segments older than this; -1 never
 *   retention.bytes [-1]          per-partition cap on disk, besides the
 *                                 active segment: after each roll the oldest
 *                                 segments go until the rest take at most
 *                                 this (files as charged), so the folder
 *                                 holds at most retention.bytes plus one
 *                                 segment; -1 none. Retention (both) runs
 *                                 after each roll, when a partition is
 *                                 opened, at evl_log_close, and every
 *                                 retention.check.interval.ms: a process
 *                                 that appends and exits applies it too.
 *   max.message.bytes [1048576]   largest record: key + value + header names
 *                                 and values, in bytes. A larger one is
 *                                 refused (EVL_ETOOBIG); a batch is written
 *                                 as frames of at most this much record
 *                                 data each. A default that does not fit
 *                                 segment.bytes is lowered to fit (logged at
 *                                 NOTICE); a value set explicitly that does
 *                                 not fit is refused (EVL_ECONFIG)
 *   index.interval.bytes [4096]   bytes between sparse index entries
 *   partitioner [xxh3]            xxh3 | murmur2 (Kafka Java client's keyed
 *                                 hash); fixed when the topic is created
 *   durability [none]             default for producers: none | interval |
 *                                 fsync
 *   flush.interval.ms [1000]      for `interval`: background flush period
 *   retain.until.consumed.by []   comma-separated group ids whose committed
 *                                 offsets hold segments back from retention
 *                                 (still bounded by disk.bytes.max, which
 *                                 frees the segments they consumed first)
 *   cleanup.policy [delete]       delete | compact | compact,delete (Kafka's):
 *                                 compact keeps, in sealed segments, the
 *                                 newest record of each key (offsets do not
 *                                 change: they get gaps); records need a key
 *                                 (a keyless send is EVL_EINVAL); compact
 *                                 alone turns retention.ms and
 *                                 retention.bytes off (disk.bytes.max still
 *                                 holds). A pass runs when
 *   min.cleanable.dirty.ratio [0.5]  this share of the sealed data is new
 *                                 since the last pass, or when
 *   max.compaction.lag.ms [never] a segment not compacted is this old;
 *   min.compaction.lag.ms [0]     segments with records younger than this
 *                                 wait;
 *   delete.retention.ms [86400000] a tombstone (null value), when it is the
 *                                 newest of its key, stays until its
 *                                 timestamp is this old. See
 *                                 evl_topic_compact.
 *
 * Space is allocated as data comes: a partition's segment starts with 16 KiB
 * and doubles its allocation as it fills (4 MiB steps at most), its index
 * grows by pages; a writer measured faster than 64 MB/s gets 8 MiB made
 * ahead of it by a background thread. An idle partition costs ~24 KiB
 * (evl_partition_disk_usage); a topic's partitions are made when it is
 * created or grown, so a full disk or budget fails there.
 *
 * Producer (evl_producer_new):
 *   durability [topic's]          none | interval | fsync
 *   partitioner.keyless [sticky]  sticky | round-robin
 *   sticky.records [64]           records per partition before a sticky
 *                                 producer moves on
 *   enable.idempotence [false]    Kafka's idempotent producer: the producer
 *                                 gets an id, and each record a sequence
 *                                 number per partition, checked under the
 *                                 append lock. A record sent again with a
 *                                 sequence the partition already holds (a
 *                                 replay after evl_producer_rewind) is not
 *                                 appended twice: its send returns 0 and
 *                                 its original offset (-1 once that is no
 *                                 longer in the log). Within a process the
 *                                 send calls say exactly what was appended
 *                                 (a record with EVL_EDURABILITY was), so
 *                                 resending without a rewind appends again.
 *   producer.name []              with enable.idempotence: a name kept in
 *                                 the log's metadata, so that the producer
 *                                 keeps its id across restarts. Each
 *                                 evl_producer_new of the name raises its
 *                                 epoch; an older instance's sends to a
 *                                 partition the newer one has written to
 *                                 fail with EVL_EPRODUCER_FENCED.
 *
 * Consumer (evl_consumer_new):
 *   group.id []                   empty: no group (manual assign only)
 *   auto.offset.reset [latest]    earliest | latest | none
 *   enable.auto.commit [true]
 *   auto.commit.interval.ms [5000]
 *   max.poll.interval.ms [300000] a member that does not poll for this long
 *                                 is removed from its group
 *   partition.assignment.strategy [range]  range | roundrobin | sticky
 *   check.crcs [true]             verify each record's checksum on read
 *   max.poll.records [500]
 *   wait.spin.us [-1]             how long a waiting poll spins before it
 *                                 sleeps (evl_reader_set_spin_us); -1: 20
 *                                 with two or more CPUs, else 0
 */
typedef struct evl_config evl_config_t;

/** @brief A new config holding every default. NULL on out-of-memory. */
EVL_API evl_config_t *evl_config_new(void);
/** @brief A deep copy of cfg (NULL on out-of-memory). */
EVL_API evl_config_t *evl_config_dup(const evl_config_t *cfg);
/** @brief Free a config. Accepts NULL. */
EVL_API void evl_config_free(evl_config_t *cfg);
/**
 * @brief Set name to value, checking both now.
 * @param errstr  optional buffer for a one-line reason on failure
 * @return 0, EVL_ECONFIG for an unknown name or an invalid value,
 *         EVL_EINVAL for NULL arguments, EVL_ENOMEM.
 * One thread at a time per config.
 */
EVL_API int evl_config_set(evl_config_t *cfg, const char *name,
                           const char *value, char *errstr,
                           size_t errstr_size);
/**
 * @brief Copy the value of name (as a string) into buf.
 * @return the length of the value (which may exceed size - 1: the copy is then
 *         truncated), EVL_ECONFIG for an unknown name.
 */
EVL_API int evl_config_get(const evl_config_t *cfg, const char *name,
                           char *buf, size_t size);

/** Log levels for the log callback, syslog's numbers. */
#define EVL_LOG_ERR 3
#define EVL_LOG_WARNING 4
#define EVL_LOG_NOTICE 5
#define EVL_LOG_INFO 6
#define EVL_LOG_DEBUG 7

/**
 * A log callback. The library never prints; it reports recoveries, dropped
 * bytes and I/O problems here. Called from whichever library thread noticed
 * the event (an application thread inside a call, or the log's background
 * thread); it must be thread-safe and must not call back into the library.
 */
typedef void evl_log_cb(void *opaque, int level, const char *msg);

/** @brief Install a log callback (NULL removes it). */
EVL_API void evl_config_set_log_cb(evl_config_t *cfg, evl_log_cb *cb,
                                   void *opaque);

/* ------------------------------------------------------------------------ */
/** @defgroup log The log directory                                         */

typedef struct evl_log evl_log_t;

/**
 * @brief Open (creating if missing) the log directory dir.
 *
 * Several handles in one process and several processes may open the same
 * directory at once. Opening is O(1) in the size of the data: after a crash
 * only the tail of each partition is checked, torn records are truncated, and
 * what was dropped is reported through the log callback and the
 * EVL_STAT_TRUNCATED_BYTES counter.
 *
 * @param cfg  may be NULL (defaults); copied.
 * @return 0, EVL_EVERSION, EVL_EACCES, EVL_ENOMEM, another -errno.
 * Thread-safe.
 */
EVL_API int evl_log_open(const char *dir, const evl_config_t *cfg,
                         evl_log_t **out);

/**
 * @brief Convert a log written in record format 1 (libeventlog before 0.2)
 * to format 2, in place.
 *
 * This library refuses format-1 segments with EVL_EVERSION rather than
 * misread them; this rewrites each one with the same offsets, timestamps,
 * keys, values, headers and batches, crash-safely (a crash leaves every
 * segment old or new: run it again to finish). Frames that fail their
 * checksums are not carried over; their offsets are logged. Segments
 * already in format 2 are left alone. Run it with no process using the log
 * (`evl migrate` does this).
 *
 * @param cfg  may be NULL; only its logger is used.
 * @param converted  if not NULL, set to the number of segments converted.
 * @return 0, EVL_EINVAL, EVL_ENOMEM, another -errno.
 */
EVL_API int evl_log_migrate(const char *dir, const evl_config_t *cfg, int64_t *converted);

/**
 * @brief Close the log. Every producer, reader and consumer opened on it should
 * be closed first. If some are still open, nothing they use is freed: their
 * calls fail with EVL_ESTATE from now on (record views already returned stay
 * valid until their usual end), the library logs an error, and the log is
 * released when the last of them is closed. Data in the page cache is not
 * forced to disk (it survives a process crash, not a power loss): call
 * evl_log_sync() for that. Not concurrent. Accepts NULL.
 */
EVL_API void evl_log_close(evl_log_t *log);

/** @brief fsync every partition of every topic. Thread-safe. */
EVL_API int evl_log_sync(evl_log_t *log);

/**
 * @brief Apply retention (retention.ms, retention.bytes) to every partition
 * now. The log also does this by itself after rolls, on opening a
 * partition, at close and from its background thread; this call is for
 * tests and tools. Thread-safe.
 */
EVL_API int evl_log_retention_run(evl_log_t *log);

/** Counters, read with evl_log_stat(). They count this handle's activity. */
enum evl_stat {
    EVL_STAT_APPENDS = 0,       /**< records appended */
    EVL_STAT_APPEND_BYTES,      /**< bytes appended (record encodings) */
    EVL_STAT_FSYNCS,            /**< fsync calls issued */
    EVL_STAT_FSYNC_NS,          /**< total time spent in fsync, ns */
    EVL_STAT_FSYNC_MAX_NS,      /**< longest fsync, ns */
    EVL_STAT_RECOVERIES,        /**< partitions recovered on open */
    EVL_STAT_TRUNCATED_BYTES,   /**< bytes dropped by recovery */
    EVL_STAT_SEGMENTS_ROLLED,   /**< segments created by rolls */
    EVL_STAT_SEGMENTS_DELETED,  /**< segments removed by retention */
    EVL_STAT_DISK_BYTES,        /**< bytes on disk now (all topics) */
    EVL_STAT_READ_RECORDS,      /**< records returned by readers */
    EVL_STAT_READ_SLEEPS,       /**< times a waiting read slept on the futex
                                     (after its spin, if any, found nothing) */
    EVL_STAT_TOPICS_RECOVERED,  /**< topics whose lost metadata was rebuilt
                                     from their files when the log opened */
    EVL_STAT_DUPLICATES,        /**< records an idempotent producer sent
                                     again that were already in the log (not
                                     appended twice) */
    EVL_STAT__COUNT
};

/** @brief The value of counter stat (an enum evl_stat), or EVL_EINVAL. */
EVL_API int64_t evl_log_stat(evl_log_t *log, int stat);

/*
 * Background jobs: work of the library's areas (a connector's offset
 * flushes, a registry's index upkeep) run by the log handle's own threads,
 * beside its flushes, retention and compaction. A job is a function that
 * does one short step and returns when it wants its next one, in
 * evl_now() milliseconds (<= now: as soon as its lane is free; INT64_MAX:
 * not until kicked). Lanes: EVL_JOB_NORMAL (ordinary priority; steps of
 * microseconds to a millisecond), EVL_JOB_IDLE (SCHED_IDLE: only otherwise
 * idle CPU; may starve), EVL_JOB_LONG (SCHED_IDLE, for steps that take
 * long). A step must not block on anything but short locks: it holds up
 * the other jobs of its lane. Jobs stop with evl_log_close (a step in
 * progress ends first).
 */
typedef int64_t evl_job_fn(void *arg, int64_t now_ms);
#define EVL_JOB_NORMAL 0
#define EVL_JOB_IDLE 1
#define EVL_JOB_LONG 2

/** @brief The clock jobs are given: CLOCK_REALTIME in ms. */
EVL_API int64_t evl_now(void);

/**
 * @brief Run fn(arg, now) on lane, first at first_ms (INT64_MAX: at its
 * first kick). name (copied) is for messages. Thread-safe.
 * @return the job's id (>= 0); EVL_EINVAL; EVL_ESTATE (the log is closing);
 *         EVL_ENOMEM.
 */
EVL_API int evl_log_job_add(evl_log_t *log, const char *name, int lane, evl_job_fn *fn,
                            void *arg, int64_t first_ms);
/** @brief Run job id soon, whatever it said. Thread-safe, cheap. */
EVL_API void evl_log_job_kick(evl_log_t *log, int id);
/** @brief Unregister job id: when it returns, its step is not running and
 * never will again. Not from the job itself. */
EVL_API void evl_log_job_remove(evl_log_t *log, int id);

/* ------------------------------------------------------------------------ */
/** @defgroup confdef The areas' own settings                               */

/*
 * An area of the library (connectors, the registry, streams) declares its
 * settings once, as Kafka's ConfigDef does: each key with a type, a default
 * (NULL: required), a range (INT and DOUBLE, when min <= max) or the allowed
 * values (ENUM), a validator, the scopes where it applies (bits the area
 * defines, e.g. source and sink; 0: everywhere) and a line of doc. A set of
 * name/value pairs is then checked against it: a key the area does not
 * know, a key of another scope, a value out of range, one given twice and a
 * required one missing are each refused with a message naming the key,
 * never ignored. The table's strings (names, defaults, values, docs) are
 * borrowed: keep the table static.
 */
#define EVL_CONF_STRING 1
#define EVL_CONF_INT 2
#define EVL_CONF_DOUBLE 3
#define EVL_CONF_BOOL 4      /**< "true" or "false" */
#define EVL_CONF_ENUM 5
#define EVL_CONF_LIST 6      /**< comma-separated text, as Kafka's LIST */
#define EVL_CONF_PASSWORD 7  /**< text not to be shown back */
#define EVL_CONF_VALUE_MAX 65536

/** A validator: 0, or nonzero with a message in msg. */
typedef int evl_conf_validator_fn(void *arg, const char *value, char *msg, size_t msgsz);

typedef struct evl_confkey {
    const char *name;
    int type;                    /**< EVL_CONF_* */
    const char *def;             /**< default as text; NULL: required */
    int64_t min, max;            /**< INT, DOUBLE: range if min <= max */
    const char *const *values;   /**< ENUM: the allowed values, NULL-ended */
    unsigned scope;              /**< where it applies (area-defined bits; 0: all) */
    evl_conf_validator_fn *validate;
    void *validate_arg;
    const char *doc;
} evl_confkey_t;

typedef struct evl_confdef evl_confdef_t;
typedef struct evl_conf evl_conf_t;

/** @brief An area's definition of n keys (copied; strings borrowed).
 * EVL_EINVAL for a bad row (an unknown type, a duplicate name, a default
 * its own checks refuse), EVL_ENOMEM. */
EVL_API int evl_confdef_new(const char *area, const evl_confkey_t *keys, size_t n,
                            evl_confdef_t **out);
EVL_API void evl_confdef_free(evl_confdef_t *d);
/** @brief Its keys, for documentation and REST listings. */
EVL_API size_t evl_confdef_count(const evl_confdef_t *d);
EVL_API const evl_confkey_t *evl_confdef_key(const evl_confdef_t *d, size_t i);

/** Called for each problem evl_conf_validate finds. */
typedef void evl_conf_problem_fn(void *arg, const char *key, const char *msg);
/**
 * @brief Check npairs pairs (pairs[2i] a name, pairs[2i+1] its value) for
 * scope; every problem goes to problem (may be NULL). Returns how many
 * (0: valid), or EVL_EINVAL, EVL_ENOMEM. For a REST validate call.
 */
EVL_API int evl_conf_validate(const evl_confdef_t *d, unsigned scope,
                              const char *const *pairs, size_t npairs,
                              evl_conf_problem_fn *problem, void *arg);
/** @brief Check and keep the pairs: 0 with *out, or EVL_ECONFIG with the
 * first problem in err. */
EVL_API int evl_conf_parse(const evl_confdef_t *d, unsigned scope, const char *const *pairs,
                           size_t npairs, evl_conf_t **out, char *err, size_t errsz);
EVL_API void evl_conf_free(evl_conf_t *c);
/** @brief A key's value as given, else its default (NULL: an unknown key,
 * or a required one of another scope). The typed getters read the same. */
EVL_API const char *evl_conf_str(const evl_conf_t *c, const char *name);
EVL_API int64_t evl_conf_int(const evl_conf_t *c, const char *name);
EVL_API double evl_conf_double(const evl_conf_t *c, const char *name);
EVL_API int evl_conf_bool(const evl_conf_t *c, const char *name);
/** @brief 1 if the pairs gave it, 0 if it has its default. */
EVL_API int evl_conf_isset(const evl_conf_t *c, const char *name);
/** @brief Each pair given whose name starts with prefix, in order, to fn
 * (nonzero from fn stops and is returned). A key named "PREFIX.*" in the
 * definition takes any name "PREFIX.xxx": settings passed through to a
 * library (kafka.* to librdkafka). */
EVL_API int evl_conf_each(const evl_conf_t *c, const char *prefix,
                          int (*fn)(void *arg, const char *name, const char *value), void *arg);

/* ------------------------------------------------------------------------ */
/** @defgroup kv The areas' tables in the log's metadata                    */

/*
 * Small durable state of the library's areas (a connector's source
 * offsets, a registry's index, a streams task's positions) kept in the
 * log's metadata (LMDB), beside topics and committed offsets: named tables,
 * shared by every process using the log, changed in transactions that may
 * span several tables. A write transaction is a function that may run more
 * than once (after the metadata's map grows), so it must have no effect
 * outside the transaction until the call returns 0; it returns 0 to commit
 * or a negative code to abort (the code of a failed evl_kv_* call, as is).
 * At most one write transaction runs at a time across processes: keep
 * them short. Views returned by evl_kv_get and evl_kv_scan are valid until
 * the function returns. Keys: 1 to 511 bytes.
 */
typedef unsigned int evl_kv_table_t;
typedef struct evl_kv evl_kv_t;
typedef int evl_kv_fn(evl_kv_t *kv, void *arg);
/** A scan callback: 0 goes on, > 0 stops (the scan returns 0), < 0 stops
 * and is returned. */
typedef int evl_kv_scan_fn(void *arg, const void *key, size_t klen, const void *val,
                           size_t vlen);

/**
 * @brief The table name ("area.name": [a-z0-9._-], a dot inside, 3 to 63
 * characters), made if new. Call it before transactions, not inside one.
 * Thread-safe. @return 0; EVL_EBADNAME; EVL_EFULL (48 tables at most);
 * EVL_ESTATE.
 */
EVL_API int evl_kv_table(evl_log_t *log, const char *name, evl_kv_table_t *out);
/** @brief Run fn in a write transaction (see above). Its return code, or
 * an error committing. Thread-safe. */
EVL_API int evl_kv_write(evl_log_t *log, evl_kv_fn *fn, void *arg);
/** @brief Run fn in a read transaction (a consistent snapshot). */
EVL_API int evl_kv_read(evl_log_t *log, evl_kv_fn *fn, void *arg);
/** @brief Inside fn: the value of key. 0, EVL_ENOTFOUND, EVL_EINVAL. */
EVL_API int evl_kv_get(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen,
                       const void **val, size_t *vlen);
/** @brief Inside a write fn: set key's value. 0, EVL_EINVAL, EVL_ESTATE
 * (a read transaction), or an error to return from fn as is. */
EVL_API int evl_kv_put(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen,
                       const void *val, size_t vlen);
/** @brief Inside a write fn: delete key. 0, EVL_ENOTFOUND, EVL_ESTATE. */
EVL_API int evl_kv_del(evl_kv_t *kv, evl_kv_table_t t, const void *key, size_t klen);
/** @brief Inside fn: each key starting with prefix (plen 0: all), in key
 * order, to cb. */
EVL_API int evl_kv_scan(evl_kv_t *kv, evl_kv_table_t t, const void *prefix, size_t plen,
                        evl_kv_scan_fn *cb, void *arg);

/* ------------------------------------------------------------------------ */
/** @defgroup topics Topics                                                  */

/**
 * @brief Create topic name with partitions partitions (0 = num.partitions).
 *
 * Names follow Kafka: [A-Za-z0-9._-], 1 to 249 characters, not "." or "..".
 * @param cfg  topic settings (may be NULL: the log's defaults); copied.
 * @return 0, EVL_EBADNAME, EVL_EEXIST, EVL_ECONFIG, EVL_EINVAL, -errno.
 * Thread-safe.
 */
EVL_API int evl_topic_create(evl_log_t *log, const char *name, int partitions,
                             const evl_config_t *cfg);

/**
 * Internal topics: names starting with "__" belong to the library's own
 * areas (the schema registry's __schemas, connectors' offsets, streams'
 * changelogs), as Kafka's __consumer_offsets does. evl_topic_create refuses
 * them (EVL_EBADNAME); evl_topic_list leaves them out. Otherwise they are
 * topics like any other: produce, read, delete by name.
 */
#define EVL_TOPIC_INTERNAL_PREFIX "__"

/** @brief evl_topic_create for an internal topic: name must start with
 * EVL_TOPIC_INTERNAL_PREFIX (else EVL_EBADNAME). Thread-safe. */
EVL_API int evl_topic_create_internal(evl_log_t *log, const char *name, int partitions,
                                      const evl_config_t *cfg);

/**
 * @brief Delete a topic and its data. From the moment it returns, sends and
 * flushes of producers of that topic fail with EVL_ENOTFOUND, in every
 * handle and process; a topic created again under the name is a new topic,
 * which those producers do not write to (make a new producer). Readers and
 * consumers keep what they have mapped until closed.
 * @return 0, EVL_ENOTFOUND, EVL_EBADNAME, -errno. Thread-safe.
 */
EVL_API int evl_topic_delete(evl_log_t *log, const char *name);

/**
 * @brief Grow a topic to total partitions (never shrink). As in Kafka, keys
 * then map to other partitions than before: every producer of the topic, in
 * any handle or process, maps keys over the new count from its next send.
 * The new partitions' files are made first (EVL_ENOSPC, EVL_EFULL: the topic
 * is not grown).
 * @return 0, EVL_ENOTFOUND, EVL_EINVAL (total not larger). Thread-safe.
 */
EVL_API int evl_topic_add_partitions(evl_log_t *log, const char *name,
                                     int total);

/**
 * @brief The sorted list of topic names. *names is one malloc'd block (an
 * array of *count pointers followed by the strings): free it with free().
 * Thread-safe.
 */
EVL_API int evl_topic_list(evl_log_t *log, char ***names, size_t *count);

#define EVL_TOPIC_LIST_INTERNAL 1 /**< evl_topic_list_v2: internal ones too */
/** @brief evl_topic_list, with flags (0 or EVL_TOPIC_LIST_INTERNAL). */
EVL_API int evl_topic_list_v2(evl_log_t *log, int flags, char ***names, size_t *count);

/**
 * @brief Compact the topic's partitions now (cleanup.policy compact or
 * compact,delete), whatever their dirty ratio: in the sealed segments
 * older than min.compaction.lag.ms, only the newest record of each key
 * stays (see cleanup.policy). Runs in the calling thread; a partition that
 * another thread or process is cleaning is left to it.
 * @return 0; EVL_ENOTFOUND; EVL_ECONFIG (the policy is delete); EVL_EFULL or
 *         EVL_ENOSPC (no room for the cleaned copy: nothing changed).
 */
EVL_API int evl_topic_compact(evl_log_t *log, const char *name);

/** @brief Number of partitions of topic, or a negative code. Thread-safe. */
EVL_API int evl_topic_partitions(evl_log_t *log, const char *name);

/**
 * @brief Copy one effective setting of topic (e.g. "retention.ms").
 * @return value length as evl_config_get(), EVL_ENOTFOUND, EVL_ECONFIG.
 */
EVL_API int evl_topic_config_get(evl_log_t *log, const char *name,
                                 const char *key, char *buf, size_t size);

/**
 * A snapshot of one partition, filled by evl_partition_info(). This small
 * struct is frozen: fields are never added or reordered.
 */
typedef struct evl_partition_info {
    int64_t start_offset; /**< first offset still in the log */
    int64_t end_offset;   /**< offset the next record will get */
    int64_t bytes;        /**< bytes of record data (frames) in the log;
                               disk usage, preallocation included, is
                               EVL_STAT_DISK_BYTES */
    int64_t segments;     /**< number of segment files */
} evl_partition_info_t;

/** @brief Describe one partition. 0, EVL_ENOTFOUND. Thread-safe. */
EVL_API int evl_partition_info(evl_log_t *log, const char *topic,
                               int partition, evl_partition_info_t *out);

/**
 * @brief What one partition takes on disk: the blocks of all its files
 * (segments with their allocated tails, indexes, control block), as
 * disk.bytes.max counts them. An idle partition takes about 24 KiB.
 * @return 0, EVL_ENOTFOUND, EVL_EINVAL. Thread-safe.
 */
EVL_API int evl_partition_disk_usage(evl_log_t *log, const char *topic,
                                     int partition, int64_t *bytes);

/* ------------------------------------------------------------------------ */
/** @defgroup records Records                                                */

/**
 * A header, as given to a producer or read from a record. Frozen struct.
 * value == NULL means a null value (distinct from an empty one).
 */
typedef struct evl_header {
    const char *name;  /**< UTF-8 bytes, not necessarily NUL-terminated */
    size_t name_len;
    const void *value; /**< NULL: null value */
    size_t value_len;
} evl_header_t;

#define EVL_PARTITION_ANY (-1) /**< let the partitioner choose */
/** Take the timestamp at append: CLOCK_REALTIME in ms, read as the send
 * starts. Like producers' own timestamps, those of records sent at the same
 * moment from different threads may be out of offset order by a ms; time
 * lookups allow for that (each index entry keeps the maximum so far). */
#define EVL_TIMESTAMP_NOW (-1)

/**
 * A record to produce. Frozen struct. key == NULL is a null key (distinct
 * from key_len == 0 with a non-NULL key); value == NULL is a tombstone.
 * partition and offset are set by the send call.
 */
typedef struct evl_msg {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const evl_header_t *headers; /**< header_count entries, or NULL */
    size_t header_count;
    int64_t timestamp; /**< ms since the epoch; < 0: now */
    int32_t partition; /**< in: a partition or EVL_PARTITION_ANY; out: used */
    int64_t offset;    /**< out: the offset the record got */
} evl_msg_t;

/**
 * A record read from the log: an opaque, read-only view into the mapped
 * segment, valid until the next read call on the reader or consumer that
 * returned it, or until that handle is closed. Copy what must live longer.
 */
typedef struct evl_record evl_record_t;

EVL_API int64_t evl_record_offset(const evl_record_t *rec);
EVL_API int64_t evl_record_timestamp(const evl_record_t *rec);
EVL_API int32_t evl_record_partition(const evl_record_t *rec);
/** The topic name, NUL-terminated, valid as long as the record. */
EVL_API const char *evl_record_topic(const evl_record_t *rec);
/** The key bytes and length; NULL (with *len = 0) for a null key. */
EVL_API const void *evl_record_key(const evl_record_t *rec, size_t *len);
/** The value bytes and length; NULL (with *len = 0) for a tombstone. */
EVL_API const void *evl_record_value(const evl_record_t *rec, size_t *len);
EVL_API size_t evl_record_header_count(const evl_record_t *rec);
/** @brief Header i (0-based). 0, or EVL_ENOTFOUND past the last. */
EVL_API int evl_record_header(const evl_record_t *rec, size_t i,
                              evl_header_t *out);
/** @brief The last header named name. 0, or EVL_ENOTFOUND. */
EVL_API int evl_record_header_get(const evl_record_t *rec, const char *name,
                                  evl_header_t *out);

/* ------------------------------------------------------------------------ */
/** @defgroup producer Producing                                             */

typedef struct evl_producer evl_producer_t;

/** Durability levels (config `durability`, or send flags). */
#define EVL_DURABILITY_NONE 1     /**< page cache: survives a process crash */
#define EVL_DURABILITY_INTERVAL 2 /**< also flushed by a background thread
                                       every flush.interval.ms */
#define EVL_DURABILITY_FSYNC 3    /**< the call returns once on disk; callers
                                       that fsync at once share one fsync */
/** Send flag: override the producer's durability for this call. */
#define EVL_SEND_DURABILITY(level) ((level) & 0x3)

/**
 * @brief A producer for topic. Thread-safe: any number of threads may send
 * through one producer at once.
 * @param cfg  producer settings (may be NULL); copied.
 * @return 0, EVL_ENOTFOUND, EVL_ECONFIG, EVL_ENOMEM.
 */
EVL_API int evl_producer_new(evl_log_t *log, const char *topic,
                             const evl_config_t *cfg, evl_producer_t **out);

/**
 * @brief Append one record. Key and value are copied into the log before the
 * call returns. Sets msg->partition and msg->offset.
 * @param flags  0, or EVL_SEND_DURABILITY(level); other bits: EVL_EINVAL
 * @return 0; EVL_ETOOBIG; EVL_EINVAL (bad partition or flags); EVL_ENOTFOUND
 *         (the topic was deleted); EVL_ESTATE (the log was closed); EVL_EFULL (disk
 *         budget); EVL_ENOSPC, EVL_EIO (nothing was appended);
 *         EVL_EDURABILITY (appended, but the fsync failed). Thread-safe.
 */
EVL_API int evl_producer_send(evl_producer_t *prod, evl_msg_t *msg, int flags);

/**
 * @brief Append count records. Records bound for one partition are written
 * together, in frames of at most max.message.bytes of records (one frame:
 * one checksum, one publication, offsets contiguous, visible to readers at
 * once), the partitions in the order they first appear in msgs. Not atomic
 * across frames: on failure (EVL_ENOSPC, EVL_EFULL, EVL_EIO...), the
 * frames written before it stay in the log, and exactly their records have
 * msgs[i].offset >= 0 (and msgs[i].partition set); every other record has
 * offset -1 and is not in the log. Retry only those, or records are
 * duplicated. Records refused before anything is written (EVL_ETOOBIG,
 * EVL_EINVAL) leave every offset at -1. With EVL_EDURABILITY every record
 * was appended (offsets set) but is not known to be on disk.
 * Return codes as evl_producer_send(). Thread-safe.
 */
EVL_API int evl_producer_send_batch(evl_producer_t *prod, evl_msg_t *msgs,
                                    size_t count, int flags);

/**
 * @brief Convenience: append key/value (key may be NULL) to the partitioner's
 * choice. *partition and *offset (each may be NULL) receive where it went.
 */
EVL_API int evl_producer_send_kv(evl_producer_t *prod, const void *key,
                                 size_t key_len, const void *value,
                                 size_t value_len, int32_t *partition,
                                 int64_t *offset);

/**
 * @brief A producer of any topic, Kafka's shape: the topic is named in each
 * send (evl_producer_send_to, evl_producer_send_batch_to). Settings as
 * evl_producer_new; without `durability` each topic's own applies. Each
 * topic is looked up at its first send and remembered (a deleted topic's
 * sends fail with EVL_ENOTFOUND; a topic made again under its name is a new
 * topic). Thread-safe. evl_producer_partition_for is for bound producers.
 * @return 0, EVL_ECONFIG, EVL_ENOMEM, EVL_ESTATE.
 */
EVL_API int evl_producer_open(evl_log_t *log, const evl_config_t *cfg, evl_producer_t **out);

/** @brief evl_producer_send to topic (NULL: the producer's own, for a
 * producer of evl_producer_new, which sends only to that one: another name
 * is EVL_EINVAL). An unbound producer needs a topic (EVL_ESTATE). */
EVL_API int evl_producer_send_to(evl_producer_t *prod, const char *topic, evl_msg_t *msg,
                                 int flags);
/** @brief evl_producer_send_batch to topic, as evl_producer_send_to. */
EVL_API int evl_producer_send_batch_to(evl_producer_t *prod, const char *topic,
                                       evl_msg_t *msgs, size_t count, int flags);

/**
 * Sends with options, for the library's areas (transactions, a replica's
 * fencing, exactly-once stream processing). `size` must be
 * sizeof(evl_send_opts_t) (fields may be added at the end later).
 */
#define EVL_SEND_CONTROL 0x1       /**< control records (a transaction's
                                        markers): readers never return them */
#define EVL_SEND_TRANSACTIONAL 0x2 /**< part of a transaction */
typedef struct evl_send_opts {
    size_t size;
    unsigned attrs;            /**< EVL_SEND_* */
    /**
     * Called under the partition's append lock before each frame is
     * written (a batch may take several frames, each its own atomic
     * append), with the offset its first record would get: return 0 to
     * let it go, or a negative code to refuse it (the send returns that
     * code; frames appended before stay, as with any failure). Runs while
     * every writer of the partition, in every process, waits: keep it to a
     * few loads and stores; it must not call the library.
     */
    int (*hook)(void *arg, const char *topic, int32_t partition, int64_t next_offset);
    void *hook_arg;
} evl_send_opts_t;

/** @brief evl_producer_send_batch_to with options (NULL: none). */
EVL_API int evl_producer_send_batch_ex(evl_producer_t *prod, const char *topic,
                                       evl_msg_t *msgs, size_t count, int flags,
                                       const evl_send_opts_t *opts);

/** @brief fsync everything this producer's topic holds (for a producer of
 * any topic: every topic it has sent to). Thread-safe. */
EVL_API int evl_producer_flush(evl_producer_t *prod);

/** @brief The partition the topic's partitioner gives key (key_len bytes). */
EVL_API int evl_producer_partition_for(evl_producer_t *prod, const void *key,
                                       size_t key_len);

/** @brief Close a producer. Not concurrent. Accepts NULL. */
EVL_API void evl_producer_close(evl_producer_t *prod);

/*
 * Idempotent producers (enable.idempotence=true). Each partition remembers,
 * for each producer id, the sequence it expects next and where the last
 * batches went; the frames in the log carry id, epoch and sequences, so
 * this survives crashes and reboots. Sequences are 64-bit, start at 0 and
 * go on across the epochs of a named producer.
 *
 * Replaying after a restart: an application that keeps its own progress
 * (a connector's source offsets) stores evl_producer_sequence() of each
 * partition with it, atomically. After a crash it opens the producer of the
 * same producer.name, rewinds each partition to the stored sequence and
 * sends again from its stored progress: records the log already holds come
 * back with their original offsets and are not appended again; the first
 * record the log lacks is appended, and so on. The records must be sent
 * again in the same order to the same partitions.
 */

/** @brief The producer's id and epoch. EVL_ESTATE without idempotence. */
EVL_API int evl_producer_id(const evl_producer_t *prod, int64_t *id, int32_t *epoch);

/**
 * @brief The sequence the next record this producer sends to partition
 * will carry: where the partition's log stands for this producer id (0
 * when the partition has no record of it), or where evl_producer_rewind
 * put it. Thread-safe.
 * @return 0; EVL_ESTATE without idempotence; EVL_EINVAL; EVL_ENOTFOUND.
 */
EVL_API int evl_producer_sequence(evl_producer_t *prod, int32_t partition, int64_t *next);

/**
 * @brief Send the next records to partition with sequences from next on,
 * to replay them (see above). A rewind past what the partition holds makes
 * the next send fail with EVL_ESEQUENCE, if the partition knows the
 * producer (it remembers the last 102 producers that wrote to it, named
 * ones kept over unnamed ones). Thread-safe, but sends to the partition
 * that overlap the call see the rewind or not.
 * @return 0; EVL_ESTATE without idempotence; EVL_EINVAL.
 */
EVL_API int evl_producer_rewind(evl_producer_t *prod, int32_t partition, int64_t next);

/** @brief evl_producer_sequence and evl_producer_rewind for a partition of
 * topic (NULL: the bound one), for producers of evl_producer_open. */
EVL_API int evl_producer_sequence_to(evl_producer_t *prod, const char *topic,
                                     int32_t partition, int64_t *next);
EVL_API int evl_producer_rewind_to(evl_producer_t *prod, const char *topic, int32_t partition,
                                   int64_t next);

/* ------------------------------------------------------------------------ */
/** @defgroup reader Low-level reading of one partition                      */

typedef struct evl_reader evl_reader_t;

#define EVL_OFFSET_END (-1)       /**< the end of the partition (next append) */
#define EVL_OFFSET_BEGINNING (-2) /**< the first offset still in the log */

/**
 * @brief A reader on one partition, positioned at its beginning. Readers
 * never change the log. One thread at a time.
 * @return 0, EVL_ENOTFOUND, EVL_ENOMEM.
 */
EVL_API int evl_reader_open(evl_log_t *log, const char *topic, int partition,
                            evl_reader_t **out);

/**
 * @brief Position the reader at offset, or EVL_OFFSET_BEGINNING /
 * EVL_OFFSET_END. Uses the sparse index: no scan of the partition.
 * @return 0, EVL_EOFFSET (below the log start or past the end).
 */
EVL_API int evl_reader_seek(evl_reader_t *rd, int64_t offset);

/**
 * @brief Position the reader at the first record whose timestamp is >= ts
 * (ms), using the time index; at the end if there is none.
 */
EVL_API int evl_reader_seek_time(evl_reader_t *rd, int64_t ts);

/** @brief The offset the next read returns. */
EVL_API int64_t evl_reader_position(const evl_reader_t *rd);

/**
 * @brief Read the next record, waiting up to timeout_ms for one (0: don't
 * wait; -1: forever). The wait sleeps on a futex in the partition's shared
 * mapping, so appends from other threads and processes wake it at once.
 * *rec is valid until the next call on rd or evl_reader_close().
 * @return 0; EVL_ETIMEDOUT (nothing new); EVL_EOFFSET (the position fell
 *         below the log start through retention: seek again. Checked as
 *         each frame is loaded: records of the frame being read, and views
 *         already returned, stay valid; no record of a deleted segment is
 *         returned after that); EVL_ECORRUPT
 *         (a record failed its checksum; nothing invalid is returned). The
 *         reader stays at the damaged offset; to go past the damage, seek to
 *         a later offset (e.g. evl_reader_position(rd) + 1): the reader
 *         resumes at the first intact record at or after it, and the
 *         records the damaged batch held are lost (a gap in the offsets,
 *         reported through the log callback).
 */
EVL_API int evl_reader_next(evl_reader_t *rd, int timeout_ms,
                            const evl_record_t **rec);

/** @brief Verify checksums on read (default on). */
EVL_API void evl_reader_set_check_crcs(evl_reader_t *rd, int on);

/**
 * Isolation: what a reader may return. Records of control batches
 * (transaction markers, EVL_BATCH_CONTROL) are never returned. A bound,
 * when set, is the first offset of the partition not visible yet (a last
 * stable offset, a committed end): records at or past it wait, as records
 * not appended yet do. The function is called at each read that needs it
 * and after each wake-up (appends wake readers); a bound raised without an
 * append is seen at the next call. Return INT64_MAX for no bound. This is
 * the seam for read_committed and exactly-once reads.
 */
typedef int64_t evl_bound_fn(void *arg, const char *topic, int32_t partition);
/** @brief Set (fn) or clear (NULL) the reader's bound. One thread at a time. */
EVL_API void evl_reader_set_bound(evl_reader_t *rd, evl_bound_fn *fn, void *arg);

/**
 * @brief How long a blocking evl_reader_next() spins, watching for an
 * append, before it sleeps on the futex (at most 1 s; 0: sleep at once; -1:
 * the default, 20 us on machines with two or more CPUs and 0 on one). A
 * futex wake-up costs ~10 us on a VM, so for streams whose records come
 * closer together than the spin this cuts the latency to a cache-line
 * transfer. Spins that keep failing are skipped for a while, so slower
 * streams do not pay a spin per record.
 */
EVL_API void evl_reader_set_spin_us(evl_reader_t *rd, int us);

/** @brief Close a reader. Not concurrent. Accepts NULL. */
EVL_API void evl_reader_close(evl_reader_t *rd);

/*
 * Wait sets: one thread waiting on the readers of several partitions (of
 * one log or several), as poll() waits on several descriptors. An append
 * to any of them, by any thread or process, wakes the waiter at once.
 * One thread at a time per set, and the readers must not be read by
 * another thread meanwhile.
 */
typedef struct evl_waitset evl_waitset_t;
EVL_API int evl_waitset_new(evl_waitset_t **out);
/** @brief Add a reader (again: no-op). The set only points at it: remove
 * it before closing it. 0, EVL_EINVAL, EVL_ENOMEM. */
EVL_API int evl_waitset_add(evl_waitset_t *ws, evl_reader_t *rd);
/** @brief 0, or EVL_ENOTFOUND if it is not in the set. */
EVL_API int evl_waitset_remove(evl_waitset_t *ws, evl_reader_t *rd);
/**
 * @brief Wait until a reader of the set has a record to return (or an
 * error to report: its evl_reader_next says which), up to timeout_ms (-1:
 * no limit, 0: look only); *ready gets it (readers take turns across
 * calls). 0, EVL_ETIMEDOUT, EVL_EINVAL (empty set), EVL_ESTATE.
 */
EVL_API int evl_waitset_wait(evl_waitset_t *ws, int timeout_ms, evl_reader_t **ready);
/** @brief Free the set (not its readers). Accepts NULL. */
EVL_API void evl_waitset_free(evl_waitset_t *ws);

/* ------------------------------------------------------------------------ */
/** @defgroup consumer Consumers and consumer groups                         */

/** A topic-partition and an offset. Frozen struct. */
typedef struct evl_topic_partition {
    const char *topic;
    int32_t partition;
    int64_t offset;
} evl_topic_partition_t;

typedef struct evl_consumer evl_consumer_t;

/** Rebalance events passed to the rebalance callback. */
#define EVL_REBALANCE_REVOKE 1 /**< these partitions are about to go */
#define EVL_REBALANCE_ASSIGN 2 /**< these partitions are now yours */

/**
 * Rebalance callback: served from evl_consumer_poll() in the polling thread.
 * On REVOKE the consumer still owns the partitions, so a commit made inside
 * the callback is accepted. The array is valid during the call only.
 */
typedef void evl_rebalance_cb(evl_consumer_t *cons, int event,
                              const evl_topic_partition_t *parts, size_t count,
                              void *opaque);

/**
 * @brief A consumer. With group.id set it may subscribe (the group assigns
 * partitions) and commit offsets; without, it reads what it is assigned.
 * One thread at a time.
 *
 * Where a partition starts (subscribed, or assigned at EVL_OFFSET_COMMITTED):
 *  - at the group's committed offset;
 *  - none committed: auto.offset.reset (earliest: the log start; latest:
 *    the end; none: no position, poll returns EVL_ENOOFFSET until a seek).
 *    If the group's offsets were lost with the metadata
 *    (evl_group_info_offsets_lost) there is no position whatever the
 *    policy;
 *  - committed below the log start (retention passed it): auto.offset.reset;
 *  - committed past the end (the records it covers are not in this log, e.g.
 *    lost to a power cut before they were synced): the end, with earliest as
 *    with latest, since the group has processed everything this log holds
 *    and the beginning would replay it; with none, no position. Logged.
 * A position that retention passes while the consumer reads is out of range
 * as well: auto.offset.reset, logged.
 * @param cfg  consumer settings (may be NULL); copied.
 */
EVL_API int evl_consumer_new(evl_log_t *log, const evl_config_t *cfg,
                             evl_consumer_t **out);

/** @brief Set the rebalance callback (before subscribing). */
/** @brief evl_reader_set_bound for every partition the consumer reads,
 * now and later. One thread at a time (as polls). */
EVL_API void evl_consumer_set_bound(evl_consumer_t *cons, evl_bound_fn *fn, void *arg);

EVL_API void evl_consumer_set_rebalance_cb(evl_consumer_t *cons,
                                           evl_rebalance_cb *cb, void *opaque);

/**
 * @brief Join the group and subscribe to topics. The assignment arrives
 * through poll (and the rebalance callback).
 * @return 0, EVL_ESTATE (no group.id, or partitions assigned by hand),
 *         EVL_ENOTFOUND.
 */
EVL_API int evl_consumer_subscribe(evl_consumer_t *cons,
                                   const char *const *topics, size_t count);

/**
 * @brief Read exactly these partitions (no group membership). Each starts at
 * its offset, or at EVL_OFFSET_BEGINNING / EVL_OFFSET_END, or, with
 * EVL_OFFSET_COMMITTED, at the group's committed offset (reset policy if none).
 */
#define EVL_OFFSET_COMMITTED (-3)
EVL_API int evl_consumer_assign(evl_consumer_t *cons,
                                const evl_topic_partition_t *parts,
                                size_t count);

/** @brief The current assignment; *parts is malloc'd, free it with free(). */
EVL_API int evl_consumer_assignment(evl_consumer_t *cons,
                                    evl_topic_partition_t **parts,
                                    size_t *count);

/**
 * @brief Up to max records (at most max.poll.records), waiting up to
 * timeout_ms for the first. Serves rebalances and auto-commit. The views in
 * recs are valid until the next poll or close.
 * @return 0 with *count >= 1; EVL_ETIMEDOUT; EVL_ENOOFFSET; EVL_EFENCED.
 */
EVL_API int evl_consumer_poll(evl_consumer_t *cons, int timeout_ms,
                              const evl_record_t **recs, size_t max,
                              size_t *count);

/** @brief Move an assigned partition's position (offset or EVL_OFFSET_*). */
EVL_API int evl_consumer_seek(evl_consumer_t *cons, const char *topic,
                              int partition, int64_t offset);
/** @brief Move to the first record with timestamp >= ts. */
EVL_API int evl_consumer_seek_time(evl_consumer_t *cons, const char *topic,
                                   int partition, int64_t ts);
/** @brief The next offset poll returns for an assigned partition. */
EVL_API int evl_consumer_position(evl_consumer_t *cons, const char *topic,
                                  int partition, int64_t *offset);

/**
 * @brief Commit the positions of all assigned partitions (what poll has
 * returned). A member of an older generation gets EVL_EFENCED.
 */
EVL_API int evl_consumer_commit(evl_consumer_t *cons);
/** @brief Commit the given offsets (next offset to read), with metadata. */
EVL_API int evl_consumer_commit_offsets(evl_consumer_t *cons,
                                        const evl_topic_partition_t *parts,
                                        size_t count, const char *metadata);
/** @brief The group's committed offset, or EVL_ENOTFOUND if none. */
EVL_API int evl_consumer_committed(evl_consumer_t *cons, const char *topic,
                                   int partition, int64_t *offset);
/**
 * @brief The group's committed offset and the metadata string committed
 * with it (evl_consumer_commit_offsets), copied into buf (NUL-terminated,
 * truncated to size - 1 bytes; buf may be NULL with size 0).
 * @return the metadata's full length (>= 0; as evl_config_get, a length
 *         >= size means it was truncated), EVL_ENOTFOUND if nothing is
 *         committed, EVL_ESTATE without group.id, EVL_EINVAL.
 */
EVL_API int evl_consumer_committed_metadata(evl_consumer_t *cons, const char *topic,
                                            int partition, int64_t *offset, char *buf,
                                            size_t size);
/** @brief End offset minus committed offset (or position if nothing is
 * committed) for an assigned partition. */
EVL_API int evl_consumer_lag(evl_consumer_t *cons, const char *topic,
                             int partition, int64_t *lag);

/** @brief Leave the group (revoking first) and free. Not concurrent. */
EVL_API void evl_consumer_close(evl_consumer_t *cons);

/* Group administration. */

/** @brief Sorted group ids, freed like evl_topic_list(). Thread-safe. */
EVL_API int evl_group_list(evl_log_t *log, char ***names, size_t *count);

typedef struct evl_group_info evl_group_info_t;
/** @brief A snapshot of a group. Free with evl_group_info_free(). */
EVL_API int evl_group_describe(evl_log_t *log, const char *group,
                               evl_group_info_t **out);
EVL_API void evl_group_info_free(evl_group_info_t *info);
/**
 * @brief 1 if the group's committed offsets were lost with the log's
 * metadata (found at open: DIR/meta/data.mdb was lost while the topics
 * were not). Until the group is reset (evl_group_reset) or deleted, its
 * consumers get no position for a partition without a committed offset
 * (evl_consumer_poll returns EVL_ENOOFFSET until a seek), whatever
 * auto.offset.reset says: the group may have been anywhere.
 */
EVL_API int evl_group_info_offsets_lost(const evl_group_info_t *info);
/** @brief Generation of the group's current assignment. */
EVL_API int64_t evl_group_info_generation(const evl_group_info_t *info);
EVL_API size_t evl_group_info_member_count(const evl_group_info_t *info);
/** @brief Member i's id (valid as long as info). NULL past the last. */
EVL_API const char *evl_group_info_member(const evl_group_info_t *info,
                                          size_t i);
/**
 * Committed offsets and owners: entry i of the group's partitions.
 * @return 0, or EVL_ENOTFOUND past the last entry. *member is NULL when the
 * partition has no owner; *committed is -1 when nothing was committed.
 */
EVL_API size_t evl_group_info_partition_count(const evl_group_info_t *info);
EVL_API int evl_group_info_partition(const evl_group_info_t *info, size_t i,
                                     const char **topic, int32_t *partition,
                                     int64_t *committed, int64_t *end_offset,
                                     const char **member);

#define EVL_RESET_EARLIEST 1
#define EVL_RESET_LATEST 2
#define EVL_RESET_OFFSET 3
#define EVL_RESET_TIMESTAMP 4
/**
 * @brief Reset a group's committed offsets on topic (all partitions) while
 * the group has no members. @return 0, EVL_EBUSY, EVL_ENOTFOUND.
 */
EVL_API int evl_group_reset(evl_log_t *log, const char *group,
                            const char *topic, int how, int64_t value);
/** @brief Forget a group (no members allowed). 0, EVL_EBUSY, EVL_ENOTFOUND. */
EVL_API int evl_group_delete(evl_log_t *log, const char *group);

#ifdef __cplusplus
}
#endif
#endif /* EVENTLOG_H */
