/*
 * eventlog/registry.h - a schema registry on libeventlog
 * (libeventlog-registry): Confluent Schema Registry's model, embedded.
 *
 * Producers and consumers of a topic agree on the format of its records
 * through schemas kept under subjects (by default TOPIC-key and
 * TOPIC-value). Each registration under a subject is a version (1, 2, ...)
 * and each distinct schema has a global id, shared by every subject that
 * registers the same schema (same canonical form: whitespace and JSON key
 * order do not matter). A subject's schemas evolve under a compatibility
 * level (BACKWARD by default, Confluent's rules for Avro, JSON Schema and
 * Protobuf): a schema that breaks it is refused (EVL_ESCHEMA_INCOMPATIBLE)
 * and nothing is written.
 *
 * Storage: the internal compacted topic __schemas of the log is the truth:
 * one record per registration, deletion and config change, keyed as
 * Confluent keys _schemas so that compaction keeps what matters. Each log
 * keeps an index of it in its metadata (LMDB table registry.index), brought
 * up to date from the topic before each call and rebuilt from it when lost.
 * Every process opening the log sees one registry: a registration is
 * appended only if the topic has not grown since the registry last read it
 * (a check under the partition's append lock, across processes), otherwise
 * it reads what is new and decides again, so two processes never give two
 * schemas one id or one version number twice.
 *
 * Records in Confluent's wire format: byte 0 = 0 (magic), bytes 1-4 the
 * schema id (big-endian), then the payload (Avro binary, JSON text, or for
 * Protobuf the message-index array and the message). Serializers and
 * deserializers below take and give JSON text: Avro's JSON encoding, JSON
 * documents, Protobuf's JSON mapping.
 *
 * Thread-safety: a registry handle is thread-safe; serializers and
 * deserializers are not (one per thread, or a lock of the caller's).
 * Errors: the negative EVL_E* codes of eventlog.h and the EVL_ESCHEMA_*,
 * EVL_ESUBJECT_* codes below; evl_registry_strerror() names both, and
 * evl_registry_errmsg() says what went wrong in the calling thread's last
 * failed call (reasons of incompatibility, the parse error of a schema).
 */
#ifndef EVENTLOG_REGISTRY_H
#define EVENTLOG_REGISTRY_H

#include <eventlog.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVL_ESCHEMA_INVALID (-30100)      /**< not a valid schema of its type
                                               (REST 42201), or a document or
                                               message does not match it */
#define EVL_ESCHEMA_INCOMPATIBLE (-30101) /**< breaks the subject's
                                               compatibility level (REST 409) */
#define EVL_ESCHEMA_NOTFOUND (-30102)     /**< no schema with that id, or not
                                               under that subject (40403) */
#define EVL_ESUBJECT_NOTFOUND (-30103)    /**< no such subject (40401) */
#define EVL_EVERSION_NOTFOUND (-30104)    /**< no such version (40402) */
#define EVL_EVERSION_INVALID (-30105)     /**< not a version number (42202) */
#define EVL_ESCHEMA_MISMATCH (-30106)     /**< a record's payload does not
                                               decode with its schema, or
                                               cannot be read with the
                                               reader's schema */
#define EVL_EREADONLY (-30107)            /**< the registry or subject is in
                                               READONLY mode (42205) */
#define EVL_EREFERENCED (-30108)          /**< the schema is referenced by
                                               another (42206) */
#define EVL_ENOTSOFTDELETED (-30109)      /**< a permanent delete of what was
                                               not soft-deleted first (40405,
                                               40407) */

/** @brief A name for any code of this header or of eventlog.h. */
EVL_API const char *evl_registry_strerror(int rc);
/** @brief What went wrong in the calling thread's last failed registry
 * call (never NULL; "" when nothing is known). Valid until that thread's
 * next registry call. */
EVL_API const char *evl_registry_errmsg(void);

typedef enum evl_schema_type {
    EVL_SCHEMA_AVRO = 0, /**< the default, as Confluent's */
    EVL_SCHEMA_JSON = 1,
    EVL_SCHEMA_PROTOBUF = 2
} evl_schema_type_t;

/** @brief "AVRO", "JSON", "PROTOBUF". */
EVL_API const char *evl_schema_type_name(evl_schema_type_t type);
/** @brief The type named (case-insensitive; NULL or "" is AVRO), or
 * EVL_EINVAL. */
EVL_API int evl_schema_type_parse(const char *name);

typedef enum evl_compat {
    EVL_COMPAT_NONE = 0,
    EVL_COMPAT_BACKWARD,            /**< the default */
    EVL_COMPAT_BACKWARD_TRANSITIVE,
    EVL_COMPAT_FORWARD,
    EVL_COMPAT_FORWARD_TRANSITIVE,
    EVL_COMPAT_FULL,
    EVL_COMPAT_FULL_TRANSITIVE
} evl_compat_t;

/** @brief "NONE", "BACKWARD", ... */
EVL_API const char *evl_compat_name(evl_compat_t level);
/** @brief The level named (case-insensitive), or EVL_EINVAL. */
EVL_API int evl_compat_parse(const char *name);

typedef enum evl_registry_mode {
    EVL_MODE_READWRITE = 0,
    EVL_MODE_READONLY,
    EVL_MODE_IMPORT /**< registrations keep the id (and version) given */
} evl_registry_mode_t;
EVL_API const char *evl_registry_mode_name(evl_registry_mode_t mode);
EVL_API int evl_registry_mode_parse(const char *name);

/** A reference from a schema to another registered one: name is how the
 * referring schema names it (an Avro full name, a .proto import path, a
 * JSON Schema $ref URL). */
typedef struct evl_schema_ref {
    const char *name;
    const char *subject;
    int version;
} evl_schema_ref_t;

/** A schema as registered (owned by the caller: evl_schema_info_free). */
typedef struct evl_schema_info {
    char *subject;           /**< NULL when looked up by id alone */
    int version;             /**< 0 when looked up by id alone */
    int id;
    evl_schema_type_t type;
    char *schema;            /**< the schema's canonical text */
    evl_schema_ref_t *refs;  /**< strings owned by the info */
    size_t ref_count;
    bool deleted;            /**< soft-deleted */
} evl_schema_info_t;

EVL_API void evl_schema_info_free(evl_schema_info_t *info);

typedef struct evl_registry evl_registry_t;

/**
 * @brief The registry of log (its topic __schemas, made when missing, and
 * its index). The log must outlive the handle. Thread-safe.
 * @return 0, EVL_ENOMEM, EVL_ECORRUPT (a record of __schemas that no
 * version of this library wrote), or an error of the log.
 */
EVL_API int evl_registry_open(evl_log_t *log, evl_registry_t **out);
/** @brief Close (NULL accepted). Serializers made from it first. */
EVL_API void evl_registry_close(evl_registry_t *reg);
/** @brief Read what other processes registered since the last call (the
 * other calls do this themselves). */
EVL_API int evl_registry_refresh(evl_registry_t *reg);
/** @brief Forget the index and build it again from __schemas. */
EVL_API int evl_registry_rebuild(evl_registry_t *reg);

/** Options of evl_registry_register_ex (`size` = sizeof). */
typedef struct evl_register_opts {
    size_t size;
    int id;        /**< > 0 in IMPORT mode: the id to keep */
    int version;   /**< > 0 in IMPORT mode: the version to keep */
    bool normalize;/**< ignored: schemas are always compared canonically */
} evl_register_opts_t;

/**
 * @brief Register schema (of type, with its references) under subject:
 * *id its global id, *version (may be NULL) its version under subject.
 * Registering a schema the subject already has (in canonical form, not
 * deleted) returns its id and version and writes nothing, as Confluent.
 * @return 0; EVL_ESCHEMA_INVALID (parse error in evl_registry_errmsg);
 * EVL_ESCHEMA_INCOMPATIBLE (reasons in evl_registry_errmsg); EVL_EINVAL
 * (bad subject name: 1 to 255 bytes, no control characters);
 * EVL_ESUBJECT_NOTFOUND, EVL_EVERSION_NOTFOUND (a reference to nothing);
 * EVL_EREADONLY; EVL_EBUSY (other writers kept __schemas moving for 1000
 * attempts in a row); or an error of the log. Thread-safe.
 */
EVL_API int evl_registry_register(evl_registry_t *reg, const char *subject,
                                  evl_schema_type_t type, const char *schema,
                                  const evl_schema_ref_t *refs, size_t ref_count,
                                  int *id, int *version);
EVL_API int evl_registry_register_ex(evl_registry_t *reg, const char *subject,
                                     evl_schema_type_t type, const char *schema,
                                     const evl_schema_ref_t *refs, size_t ref_count,
                                     const evl_register_opts_t *opts, int *id, int *version);

/**
 * @brief Is schema registered under subject? *out (subject, version, id,
 * canonical schema) when it is. deleted: soft-deleted versions count too.
 * @return 0, EVL_ESUBJECT_NOTFOUND, EVL_ESCHEMA_NOTFOUND,
 * EVL_ESCHEMA_INVALID.
 */
EVL_API int evl_registry_lookup(evl_registry_t *reg, const char *subject,
                                evl_schema_type_t type, const char *schema,
                                const evl_schema_ref_t *refs, size_t ref_count, bool deleted,
                                evl_schema_info_t **out);

#define EVL_VERSION_LATEST (-1)

/** @brief Version (or EVL_VERSION_LATEST) of subject. deleted: soft-deleted
 * ones too. @return 0, EVL_ESUBJECT_NOTFOUND, EVL_EVERSION_NOTFOUND,
 * EVL_EVERSION_INVALID. */
EVL_API int evl_registry_get(evl_registry_t *reg, const char *subject, int version,
                             bool deleted, evl_schema_info_t **out);
/** @brief The schema with global id (subject NULL, version 0).
 * @return 0, EVL_ESCHEMA_NOTFOUND. */
EVL_API int evl_registry_get_by_id(evl_registry_t *reg, int id, evl_schema_info_t **out);

/** @brief Subjects (sorted; free with evl_registry_free_list); prefix NULL
 * or "" for all; deleted: soft-deleted subjects too. */
EVL_API int evl_registry_subjects(evl_registry_t *reg, const char *prefix, bool deleted,
                                  char ***names, size_t *count);
EVL_API void evl_registry_free_list(char **names, size_t count);
/** @brief Versions of subject, ascending (free()). @return 0,
 * EVL_ESUBJECT_NOTFOUND. */
EVL_API int evl_registry_versions(evl_registry_t *reg, const char *subject, bool deleted,
                                  int **versions, size_t *count);
/** @brief The (subject, version) pairs holding schema id: subjects[i] (free
 * with evl_registry_free_list) at versions[i] (free()). deleted: soft-deleted
 * ones too. @return 0, EVL_ESCHEMA_NOTFOUND. */
EVL_API int evl_registry_id_versions(evl_registry_t *reg, int id, bool deleted,
                                     char ***subjects, int **versions, size_t *count);
/** @brief Ids of the schemas that reference subject's version (free()). */
EVL_API int evl_registry_referenced_by(evl_registry_t *reg, const char *subject,
                                       int version, int **ids, size_t *count);

/**
 * @brief Delete subject: soft (its versions are hidden, kept, and its
 * name can be registered again) or, once soft-deleted, permanent (gone).
 * *versions (free(); may be NULL) the versions deleted.
 * @return 0, EVL_ESUBJECT_NOTFOUND, EVL_ENOTSOFTDELETED, EVL_EREFERENCED,
 * EVL_EREADONLY.
 */
EVL_API int evl_registry_delete_subject(evl_registry_t *reg, const char *subject,
                                        bool permanent, int **versions, size_t *count);
/** @brief Delete one version (or EVL_VERSION_LATEST), soft or permanent as
 * above; *deleted the version number. */
EVL_API int evl_registry_delete_version(evl_registry_t *reg, const char *subject, int version,
                                        bool permanent, int *deleted);

/**
 * @brief Would schema be accepted under subject? Against version (or
 * EVL_VERSION_LATEST) when version != 0; with version 0, against what the
 * subject's level checks (the latest, or all for *_TRANSITIVE). A subject
 * without versions accepts anything. *compatible the answer; *reasons (may
 * be NULL; free with evl_registry_free_list) why not.
 * @return 0 (whatever the answer), EVL_ESCHEMA_INVALID,
 * EVL_ESUBJECT_NOTFOUND, EVL_EVERSION_NOTFOUND.
 */
EVL_API int evl_registry_check(evl_registry_t *reg, const char *subject, int version,
                               evl_schema_type_t type, const char *schema,
                               const evl_schema_ref_t *refs, size_t ref_count,
                               bool *compatible, char ***reasons, size_t *reason_count);

/**
 * @brief Compatibility level of subject (NULL: the global one). *isset
 * (may be NULL) says whether subject has its own; without, *level is the
 * global level (when defaulting) or EVL_ESUBJECT_NOTFOUND is returned
 * (defaulting false), as GET /config/S?defaultToGlobal.
 */
EVL_API int evl_registry_config_get(evl_registry_t *reg, const char *subject,
                                    bool defaulting, evl_compat_t *level, bool *isset);
EVL_API int evl_registry_config_set(evl_registry_t *reg, const char *subject,
                                    evl_compat_t level);
/** @brief Remove subject's own level (NULL: the global one back to BACKWARD);
 * *was the level removed. */
EVL_API int evl_registry_config_delete(evl_registry_t *reg, const char *subject,
                                       evl_compat_t *was);
/** @brief Mode of subject (NULL: global) as config, READWRITE by default. */
EVL_API int evl_registry_mode_get(evl_registry_t *reg, const char *subject, bool defaulting,
                                  evl_registry_mode_t *mode);
EVL_API int evl_registry_mode_set(evl_registry_t *reg, const char *subject,
                                  evl_registry_mode_t mode);

/* ------------------------------------------------------------------------ */
/** @defgroup serdes Serializers and deserializers                          */

/** Subject name strategies (Confluent's). */
typedef enum evl_subject_strategy {
    EVL_SUBJECT_TOPIC_NAME = 0,   /**< TOPIC-key / TOPIC-value */
    EVL_SUBJECT_RECORD_NAME,      /**< the record's full name */
    EVL_SUBJECT_TOPIC_RECORD_NAME /**< TOPIC-full.name */
} evl_subject_strategy_t;

/**
 * @brief The subject of a topic's keys (is_key) or values under strategy,
 * for a schema whose record name is record_name (the Avro record's full
 * name, the Protobuf message's, a JSON Schema's title): malloc'd, or NULL
 * (no record name for a strategy that needs one, or no memory).
 */
EVL_API char *evl_subject_name(evl_subject_strategy_t strategy, const char *topic, bool is_key,
                               const char *record_name);

typedef struct evl_serializer evl_serializer_t;

/** Settings of a serializer (`size` = sizeof; zeroes are the defaults). */
typedef struct evl_serializer_opts {
    size_t size;
    bool is_key;                      /**< the key's subject (TOPIC-key) */
    evl_subject_strategy_t strategy;  /**< subject.name.strategy */
    bool no_auto_register;            /**< auto.register.schemas=false: the
                                           schema must be registered already */
    bool use_latest_version;          /**< use.latest.version: the subject's
                                           latest schema, not the one given */
    const char *message_name;         /**< Protobuf: the message to encode
                                           (full name; NULL: the first) */
} evl_serializer_opts_t;

/**
 * @brief A serializer of topic's values (or keys) with schema: the schema
 * is registered under its subject now (or looked up), so an incompatible
 * schema fails here with EVL_ESCHEMA_INCOMPATIBLE and a bad one with
 * EVL_ESCHEMA_INVALID, before anything is produced.
 */
EVL_API int evl_serializer_new(evl_registry_t *reg, const char *topic, evl_schema_type_t type,
                               const char *schema, const evl_schema_ref_t *refs,
                               size_t ref_count, const evl_serializer_opts_t *opts,
                               evl_serializer_t **out);
/** @brief The schema id the serializer writes. */
EVL_API int evl_serializer_id(const evl_serializer_t *ser);
/** @brief The subject it registered under. */
EVL_API const char *evl_serializer_subject(const evl_serializer_t *ser);
/**
 * @brief Encode one JSON text (Avro's JSON encoding; a JSON document,
 * validated against the schema; Protobuf's JSON mapping of the message)
 * into *out (malloc'd; free()) in Confluent's wire format.
 * @return 0, EVL_ESCHEMA_INVALID (the text does not fit the schema: why in
 * evl_registry_errmsg), EVL_ENOMEM.
 */
EVL_API int evl_serializer_encode(evl_serializer_t *ser, const char *json, size_t len,
                                  void **out, size_t *out_len);
/**
 * @brief Encode json and append it to topic through prod as the value (key
 * raw bytes, may be NULL): nothing is appended when encoding fails.
 * partition/offset (may be NULL) where it went. Errors as above and as
 * evl_producer_send_to.
 */
EVL_API int evl_serializer_produce(evl_serializer_t *ser, evl_producer_t *prod,
                                   const char *topic, const void *key, size_t key_len,
                                   const char *json, size_t len, int flags, int32_t *partition,
                                   int64_t *offset);
EVL_API void evl_serializer_free(evl_serializer_t *ser);

typedef struct evl_deserializer evl_deserializer_t;

/**
 * @brief A deserializer of records of type. With a reader schema (may be
 * NULL), each record is resolved from its writer's schema (found by the id
 * it carries) to the reader's (Avro schema resolution; for JSON, the
 * document must validate against the reader's schema; for Protobuf the
 * message is read with the reader's descriptor).
 */
EVL_API int evl_deserializer_new(evl_registry_t *reg, evl_schema_type_t type,
                                 const char *reader_schema, const evl_schema_ref_t *refs,
                                 size_t ref_count, evl_deserializer_t **out);
/**
 * @brief Decode one wire-format payload into *json (malloc'd, free()),
 * *id (may be NULL) the writer's schema id.
 * @return 0; EVL_ESCHEMA_NOTFOUND (an id the registry does not know);
 * EVL_ESCHEMA_MISMATCH (not the wire format, a payload that does not
 * decode, or cannot be read with the reader's schema): why in
 * evl_registry_errmsg.
 */
EVL_API int evl_deserializer_decode(evl_deserializer_t *des, const void *data, size_t len,
                                    char **json, int *id);
/**
 * @brief Poll cons for one record and decode its value. *rec (may be NULL)
 * the record (valid as evl_consumer_poll says). A record that cannot be
 * decoded is refused with EVL_ESCHEMA_NOTFOUND or EVL_ESCHEMA_MISMATCH,
 * evl_registry_errmsg naming its topic, partition and offset; the consumer
 * is already past it, so the next call goes on with the next record.
 * @return 0, those codes, or evl_consumer_poll's.
 */
EVL_API int evl_deserializer_poll(evl_deserializer_t *des, evl_consumer_t *cons,
                                  int timeout_ms, const evl_record_t **rec, char **json);
EVL_API void evl_deserializer_free(evl_deserializer_t *des);

/* ------------------------------------------------------------------------ */
/** @defgroup datum Generic data                                            */

/*
 * A generic datum: a value built in C, encoded with a serializer like its
 * JSON text would be (and decoded into one), for programs that would
 * rather not print JSON. Records and maps are objects, Avro unions
 * {"branch": value} (evl_datum_union), Avro bytes and fixed strings of
 * code points 0-255 (evl_datum_bytes), Protobuf's int64 numbers or
 * strings. Containers own what is put in them; free the root only.
 */
typedef struct evl_datum evl_datum_t;
typedef enum evl_datum_type {
    EVL_DATUM_NULL = 0,
    EVL_DATUM_BOOL,
    EVL_DATUM_INT,
    EVL_DATUM_DOUBLE,
    EVL_DATUM_STRING,
    EVL_DATUM_ARRAY,
    EVL_DATUM_OBJECT
} evl_datum_type_t;

/** @brief Constructors (NULL on no memory). */
EVL_API evl_datum_t *evl_datum_null(void);
EVL_API evl_datum_t *evl_datum_bool(bool v);
EVL_API evl_datum_t *evl_datum_int(int64_t v);
EVL_API evl_datum_t *evl_datum_double(double v);
/** @brief A string of len bytes of UTF-8 (NULL if not valid UTF-8). */
EVL_API evl_datum_t *evl_datum_string(const char *s, size_t len);
/** @brief Bytes as Avro's JSON encoding writes bytes and fixed. */
EVL_API evl_datum_t *evl_datum_bytes(const void *p, size_t len);
EVL_API evl_datum_t *evl_datum_array(void);
EVL_API evl_datum_t *evl_datum_object(void);
/** @brief {"branch": v}: v in the union branch named branch (Avro). Takes v. */
EVL_API evl_datum_t *evl_datum_union(const char *branch, evl_datum_t *v);
/** @brief Append v to array; set object's field name to v. Both take v
 * (freed on failure). 0, EVL_EINVAL (not an array / object), EVL_ENOMEM. */
EVL_API int evl_datum_append(evl_datum_t *array, evl_datum_t *v);
EVL_API int evl_datum_set(evl_datum_t *object, const char *name, evl_datum_t *v);
/** @brief Readers: the type; a scalar's value (0, "" for another type); an
 * array's or object's size; an array's item i; an object's field name
 * (NULL if none). Views are valid as long as the datum. */
EVL_API evl_datum_type_t evl_datum_type(const evl_datum_t *d);
EVL_API bool evl_datum_bool_value(const evl_datum_t *d);
EVL_API int64_t evl_datum_int_value(const evl_datum_t *d);
EVL_API double evl_datum_double_value(const evl_datum_t *d);
EVL_API const char *evl_datum_string_value(const evl_datum_t *d, size_t *len);
EVL_API size_t evl_datum_size(const evl_datum_t *d);
EVL_API const evl_datum_t *evl_datum_at(const evl_datum_t *array, size_t i);
EVL_API const evl_datum_t *evl_datum_get(const evl_datum_t *object, const char *name);
EVL_API void evl_datum_free(evl_datum_t *d);

/** @brief evl_serializer_encode of a datum. */
EVL_API int evl_serializer_encode_datum(evl_serializer_t *ser, const evl_datum_t *d, void **out,
                                        size_t *out_len);
/** @brief evl_deserializer_decode into a datum (*out: evl_datum_free). */
EVL_API int evl_deserializer_decode_datum(evl_deserializer_t *des, const void *data, size_t len,
                                          evl_datum_t **out, int *id);

/* ------------------------------------------------------------------------ */
/** @defgroup rest Confluent's REST API                                     */

typedef struct evl_registry_server evl_registry_server_t;

/** Settings of the REST server (`size` = sizeof; zeroes are the defaults). */
typedef struct evl_registry_server_opts {
    size_t size;
    const char *listen;         /**< "HOST:PORT"; NULL: "127.0.0.1:8081";
                                     port 0: any free port (see _port) */
    const char *basic_auth;     /**< "user:password": HTTP basic auth
                                     required on every call; NULL: none */
    const char *tls_cert_file;  /**< PEM certificate and key: HTTPS */
    const char *tls_key_file;
    size_t max_body;            /**< largest request body (0: 16 MiB);
                                     larger ones get 413 */
} evl_registry_server_opts_t;

/**
 * @brief Serve reg over HTTP with Confluent Schema Registry's REST API
 * (libmicrohttpd, its own threads) until evl_registry_server_stop. reg
 * must outlive the server. @return 0, EVL_EINVAL (a bad listen address or
 * TLS files), -errno (the address is in use...), EVL_ENOMEM.
 */
EVL_API int evl_registry_serve(evl_registry_t *reg, const evl_registry_server_opts_t *opts,
                               evl_registry_server_t **out);
/** @brief The port the server listens on. */
EVL_API int evl_registry_server_port(const evl_registry_server_t *srv);
/** @brief Stop serving (requests in flight finish first). NULL accepted. */
EVL_API void evl_registry_server_stop(evl_registry_server_t *srv);

#ifdef __cplusplus
}
#endif
#endif
