/*
 * eventlog/registry_serde.h - the schema registry's formats as serdes of
 * the streams library (libeventlog-registry; Confluent's KafkaAvroSerde,
 * KafkaJsonSchemaSerde and KafkaProtobufSerde): topics hold Confluent's
 * wire format (magic byte, schema id, payload), callbacks see each
 * record's JSON form (Avro's JSON encoding, the JSON document, Protobuf's
 * JSON mapping). Give one to evl_streams_topic_serdes.
 */
#ifndef EVENTLOG_REGISTRY_SERDE_H
#define EVENTLOG_REGISTRY_SERDE_H

#include <eventlog/registry.h>
#include <eventlog/streams.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief A serde of topic's values (is_key: keys) in format type. With a
 * schema, records are written with it (registered under the topic's
 * subject now, or looked up: opts as evl_serializer_new's, NULL for the
 * defaults; an incompatible schema fails here) and read resolved to it;
 * without one (NULL), records are read with their writers' schemas and
 * writing fails with EVL_EINVAL. A record that does not decode (an
 * unknown id, not the wire format, not readable with the schema) or a
 * JSON form that does not fit the schema is refused: the application's
 * handler decides (evl_registry_errmsg says why). reg must outlive the
 * serde, the serde the application. Thread-safe.
 * @return 0, EVL_ENOMEM, or evl_serializer_new's and
 * evl_deserializer_new's errors.
 */
EVL_API int evl_registry_serde_new(evl_registry_t *reg, const char *topic, evl_schema_type_t type,
                                   const char *schema, bool is_key,
                                   const evl_serializer_opts_t *opts, evl_serde_t **out);
/** @brief Free a serde of evl_registry_serde_new (NULL accepted). */
EVL_API void evl_registry_serde_free(evl_serde_t *serde);

#ifdef __cplusplus
}
#endif
#endif
