/*
 * format.h - what each schema format (Avro, JSON Schema, Protobuf) gives
 * the registry: parse a schema with its references, its canonical text,
 * its compatibility with another schema of the same format, and the codec
 * between JSON text and the payload of Confluent's wire format.
 *
 * The registry (store.c) knows nothing of the formats' insides; a format
 * knows nothing of subjects, versions or the log. Everything here is
 * internal to libeventlog-registry (evl__ names, hidden).
 */
#ifndef EVL_REGISTRY_FORMAT_H
#define EVL_REGISTRY_FORMAT_H

#include <eventlog/registry.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. p is malloc'd (NULL while empty); n bytes used. */
typedef struct evl_sr_buf {
    uint8_t *p;
    size_t n, cap;
} evl_sr_buf_t;

int evl__sr_buf_put(evl_sr_buf_t *b, const void *data, size_t n); /* 0 or EVL_ENOMEM */
int evl__sr_buf_byte(evl_sr_buf_t *b, uint8_t c);
int evl__sr_buf_printf(evl_sr_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void evl__sr_buf_free(evl_sr_buf_t *b);
/* Hand the bytes over as a NUL-terminated malloc'd string (the buffer is
 * left empty); NULL on no memory. */
char *evl__sr_buf_str(evl_sr_buf_t *b);

/* Encodings the formats share: a code point as UTF-8; a hex digit's value
 * (-1: not one); an unsigned LEB128 varint (Protobuf); a zig-zag varint
 * (Avro's int and long, the message-index array); n little-endian bytes. */
int evl__sr_put_utf8(evl_sr_buf_t *b, uint32_t cp);
int evl__sr_hexval(int c);
int evl__sr_put_varint(evl_sr_buf_t *b, uint64_t v);
int evl__sr_put_zigzag(evl_sr_buf_t *b, int64_t v);
int evl__sr_put_le(evl_sr_buf_t *b, uint64_t v, int n);

/* Reasons (for incompatibility, verbose compatibility answers): a list of
 * malloc'd strings. */
typedef struct evl_sr_msgs {
    char **v;
    size_t n, cap;
} evl_sr_msgs_t;

void evl__sr_msg(evl_sr_msgs_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void evl__sr_msgs_free(evl_sr_msgs_t *m);

/* An error message buffer given to parse/encode/decode. */
#define EVL_SR_ERRLEN 512

/* A reference resolved by the store: the referenced schema's canonical
 * text, under the name the referring schema uses. Referenced schemas
 * that have references of their own come first in the array (the store
 * gives the whole closure, dependencies before dependents). */
typedef struct evl_sr_ref_text {
    const char *name;
    const char *schema;
    evl_schema_type_t type;
} evl_sr_ref_text_t;

/* Protobuf's message-index path (the wire format's array); depth 0 never
 * appears: [0] is the first message of the file. */
#define EVL_SR_PATH_MAX 32

typedef struct evl_sr_format {
    const char *name; /* "AVRO", "JSON", "PROTOBUF" */
    /* Parse text (len bytes, not NUL-terminated necessarily) with refs into
     * *out. 0, or EVL_ESCHEMA_INVALID with a message in err (errlen bytes),
     * or EVL_ENOMEM. Must not crash or loop on any input. */
    int (*parse)(const char *text, size_t len, const evl_sr_ref_text_t *refs, size_t nrefs,
                 void **out, char *err, size_t errlen);
    void (*free)(void *schema);
    /* The canonical text (malloc'd): equal for two schemas that are the
     * same schema (whitespace, JSON key order, and for Protobuf the form it
     * was given in, text or descriptor, do not matter). This is what the
     * registry stores and serves. NULL on no memory. */
    char *(*canonical)(const void *schema);
    /* The record name used by the record-name strategies (Avro: the
     * top-level named type's full name; Protobuf: the first message's full
     * name; JSON: "title"), or NULL. Borrowed from schema. */
    const char *(*record_name)(const void *schema);
    /* Can data written with `writer` be read with `reader`? (BACKWARD
     * checks reader = new, writer = old; FORWARD the reverse.) 1 yes, 0 no
     * with at least one reason appended to why, negative on error (no
     * memory). For JSON Schema and Protobuf this is Confluent's diff with
     * original = writer, update = reader. */
    int (*can_read)(const void *reader, const void *writer, evl_sr_msgs_t *why);
    /* Encode a JSON text as the payload for schema (for Protobuf, of the
     * message at path[0..depth); the message-index array is not written
     * here). Appends to out. 0, EVL_ESCHEMA_INVALID (the text does not fit
     * the schema: err says where), EVL_ENOMEM. */
    int (*encode)(const void *schema, const int *path, size_t depth, const char *json,
                  size_t len, evl_sr_buf_t *out, char *err, size_t errlen);
    /* Decode a payload written with `writer` (for Protobuf, the message at
     * path) as JSON text appended to out; with reader non-NULL, resolve to
     * the reader's schema (Avro schema resolution; JSON: validate against
     * the reader; Protobuf: read with the reader's message of the same full
     * name). 0, EVL_ESCHEMA_MISMATCH (err says why), EVL_ENOMEM. Must not
     * crash, loop or allocate without bound on any payload. */
    int (*decode)(const void *writer, const void *reader, const int *path, size_t depth,
                  const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err, size_t errlen);
} evl_sr_format_t;

extern const evl_sr_format_t evl__sr_avro;
extern const evl_sr_format_t evl__sr_json;
extern const evl_sr_format_t evl__sr_protobuf;

/* The format of type (NULL for an unknown type). */
const evl_sr_format_t *evl__sr_format(evl_schema_type_t type);

/* Protobuf only: the path of the message named full_name (NULL: the first
 * message, path [0]); EVL_ESCHEMA_INVALID when there is none. */
int evl__pb_message_path(const void *schema, const char *full_name, int *path, size_t *depth);

/* JSON Schema only: validate a JSON document; 0 or EVL_ESCHEMA_INVALID with
 * the first failure (its JSON pointer and keyword) in err. */
int evl__js_validate(const void *schema, const char *json, size_t len, char *err,
                     size_t errlen);

#endif
