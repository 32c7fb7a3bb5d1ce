/*
 * data.h - a record on its way through converters and single message
 * transforms (internal), as Kafka Connect's ConnectRecord: key and value
 * either raw bytes (ByteArrayConverter) or structured data (jansson; the
 * String and JSON converters), with a schema when JsonConverter's
 * schemas.enable gave one.
 */
#ifndef EVL_CONNECT_DATA_H
#define EVL_CONNECT_DATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eventlog/connect.h>

typedef struct cval {
    bool null;         /* no key; a tombstone value */
    bool raw;          /* bytes below, as they were */
    const void *bytes; /* raw: borrowed from the record or from own */
    size_t len;
    void *own;
    json_t *json;      /* structured (owned) */
    json_t *schema;    /* JsonConverter with schemas.enable: the schema (owned) */
} cval_t;

typedef struct crec {
    char topic[256];
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    cval_t key, value;
    const evl_header_t *headers;
    size_t nheaders;
} crec_t;

void evl__cval_clear(cval_t *v);
/** v takes json (owned), schema dropped. */
void evl__cval_set_json(cval_t *v, json_t *json);

/* ---- converters (key.converter, value.converter) ---------------------------- */

typedef struct conv conv_t;
/** The converter named by prefix ("key.converter" / "value.converter") in
 * conf, with its schemas.enable. 0 or EVL_ECONFIG (err names it). */
int evl__conv_new(const evl_conf_t *conf, const char *prefix, conv_t **out, char *err,
                  size_t errsz);
void evl__conv_free(conv_t *c);
/** Pass-through (ByteArrayConverter): no conversion needed. */
bool evl__conv_is_bytes(const conv_t *c);
/** Bytes to data. 0 or EVL_EINVAL (msg says why). */
int evl__conv_parse(const conv_t *c, const void *bytes, size_t len, bool null, cval_t *out,
                    char *msg, size_t msgsz);
/** Data to bytes: *out malloc'd (NULL with *len 0 for null). 0 or EVL_EINVAL. */
int evl__conv_format(const conv_t *c, const cval_t *v, void **out, size_t *len, char *msg,
                     size_t msgsz);

/* ---- transforms (transforms=..., predicates=...) ---------------------------- */

typedef struct chain chain_t;
/** The connector's chain from its settings; NULL *out when none is set.
 * 0 or EVL_ECONFIG (err names the setting). */
int evl__chain_new(const evl_conf_t *conf, chain_t **out, char *err, size_t errsz);
void evl__chain_free(chain_t *c);
/** Apply the chain: 0 (r transformed), 1 (r filtered out), EVL_EINVAL
 * (msg says which transform and why; *cls its class). */
int evl__chain_apply(const chain_t *c, crec_t *r, char *msg, size_t msgsz, const char **cls);

/** The settings the runtime adds for converters, transforms and errors. */
#define DATA_KEYS                                                                             \
    {"key.converter", EVL_CONF_STRING, "org.apache.kafka.connect.converters.ByteArrayConverter", \
     0, -1, NULL, 0, NULL, NULL, "ByteArrayConverter, StringConverter or JsonConverter"},     \
        {"value.converter", EVL_CONF_STRING,                                                  \
         "org.apache.kafka.connect.converters.ByteArrayConverter", 0, -1, NULL, 0, NULL,      \
         NULL, "ByteArrayConverter, StringConverter or JsonConverter"},                       \
        {"key.converter.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                  \
         "the key converter's settings (schemas.enable)"},                                    \
        {"value.converter.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                \
         "the value converter's settings (schemas.enable)"},                                  \
        {"transforms", EVL_CONF_LIST, "", 0, -1, NULL, 0, NULL, NULL,                         \
         "single message transforms, in order (aliases)"},                                    \
        {"transforms.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                     \
         "transforms.ALIAS.type and the transform's settings"},                               \
        {"predicates", EVL_CONF_LIST, "", 0, -1, NULL, 0, NULL, NULL, "predicates (aliases)"}, \
        {"predicates.*", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                     \
         "predicates.ALIAS.type and the predicate's settings"},                               \
        {"errors.tolerance", EVL_CONF_ENUM, "none", 0, -1, evl__tolerances, 0, NULL, NULL,     \
         "none: a record that fails conversion or a transform fails the task; all: it is "    \
         "skipped (and sent to the dead letter queue)"},                                      \
        {"errors.log.enable", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL,             \
         "report each tolerated failure to the log's log callback"},                          \
        {"errors.log.include.messages", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL,   \
         "with the record's topic, partition and offset"},                                    \
        {"errors.deadletterqueue.topic.name", EVL_CONF_STRING, "", 0, -1, NULL, 2, NULL,      \
         NULL, "a sink's local topic for the records it could not take (created if "         \
         "missing)"},                                                                         \
        {"errors.deadletterqueue.context.headers.enable", EVL_CONF_BOOL, "false", 0, -1,      \
         NULL, 2, NULL, NULL, "add __connect.errors.* headers saying what failed"},           \
    {                                                                                         \
        "errors.deadletterqueue.topic.replication.factor", EVL_CONF_INT, "1", 1, 32767,       \
            NULL, 2, NULL, NULL, "accepted for Kafka Connect's files (one log: one copy)"     \
    }

extern const char *const evl__tolerances[];

#endif
