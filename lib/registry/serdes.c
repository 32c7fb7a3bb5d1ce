/*
 * serdes.c - serializers and deserializers in Confluent's wire format:
 *
 *   byte 0      magic 0
 *   bytes 1..4  schema id, big-endian
 *   Protobuf:   the message-index array: zig-zag varints, a count then the
 *               indexes; the common [0] written as the single byte 0
 *   then        the payload (Avro binary, JSON text, Protobuf message)
 *
 * A serializer registers (or looks up) its schema when made, so a schema
 * the subject refuses fails before anything is produced, and each record
 * is encoded before it is appended, so a record that does not fit the
 * schema is never appended. A deserializer finds the writer's schema by
 * the id each record carries (kept parsed by the registry handle) and, with
 * a reader schema, resolves to it.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evl_serializer {
    evl_registry_t *reg;
    evl_schema_type_t type;
    const void *schema; /* the registry's cached parse of id */
    int id;
    char *subject;
    int path[EVL_SR_PATH_MAX];
    size_t depth;
};

struct evl_deserializer {
    evl_registry_t *reg;
    evl_schema_type_t type;
    evl_sr_parsed_t reader; /* schema NULL: none */
};

EVL_API char *evl_subject_name(evl_subject_strategy_t strategy, const char *topic, bool is_key,
                               const char *record_name)
{
    char *s = NULL;
    int n = -1;
    switch (strategy) {
    case EVL_SUBJECT_TOPIC_NAME:
        if (topic)
            n = asprintf(&s, "%s-%s", topic, is_key ? "key" : "value");
        break;
    case EVL_SUBJECT_RECORD_NAME:
        if (record_name)
            n = asprintf(&s, "%s", record_name);
        break;
    case EVL_SUBJECT_TOPIC_RECORD_NAME:
        if (topic && record_name)
            n = asprintf(&s, "%s-%s", topic, record_name);
        break;
    }
    return n < 0 ? NULL : s;
}

/* ---- varints of the message-index array ---- */

static int get_zigzag(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        u |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

/* ---- serializer ------------------------------------------------------------ */

EVL_API int evl_serializer_new(evl_registry_t *reg, const char *topic, evl_schema_type_t type,
                               const char *schema, const evl_schema_ref_t *refs,
                               size_t ref_count, const evl_serializer_opts_t *opts,
                               evl_serializer_t **out)
{
    *out = NULL;
    evl__sr_clearerr();
    evl_serializer_opts_t o = {0};
    if (opts)
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    evl_sr_parsed_t p;
    int rc = evl__sr_parse_new(reg, type, schema, refs, ref_count, &p);
    if (rc)
        return rc;
    evl_serializer_t *ser = calloc(1, sizeof *ser);
    if (!ser) {
        evl__sr_parsed_free(&p);
        return EVL_ENOMEM;
    }
    ser->reg = reg;
    ser->type = type;
    ser->subject = evl_subject_name(o.strategy, topic, o.is_key, p.fmt->record_name(p.schema));
    if (!ser->subject) {
        evl__sr_seterr("no subject: the strategy needs a record name the schema does not have");
        rc = EVL_EINVAL;
    } else if (o.use_latest_version) {
        evl_schema_info_t *info;
        rc = evl_registry_get(reg, ser->subject, EVL_VERSION_LATEST, false, &info);
        if (!rc) {
            ser->id = info->id;
            evl_schema_info_free(info);
        }
    } else if (o.no_auto_register) {
        evl_schema_info_t *info;
        rc = evl_registry_lookup(reg, ser->subject, type, schema, refs, ref_count, false, &info);
        if (!rc) {
            ser->id = info->id;
            evl_schema_info_free(info);
        }
    } else {
        rc = evl_registry_register(reg, ser->subject, type, schema, refs, ref_count, &ser->id,
                                   NULL);
    }
    evl_schema_type_t t = type;
    if (!rc)
        rc = evl__sr_schema_by_id(reg, ser->id, &t, &ser->schema);
    if (!rc && t != type) {
        evl__sr_seterr("the subject's schema is %s, not %s", evl_schema_type_name(t),
                       evl_schema_type_name(type));
        rc = EVL_ESCHEMA_INVALID;
    }
    if (!rc && type == EVL_SCHEMA_PROTOBUF) {
        rc = evl__pb_message_path(ser->schema, o.message_name, ser->path, &ser->depth);
        if (rc)
            evl__sr_seterr("no message %s in the schema", o.message_name ? o.message_name : "");
    }
    evl__sr_parsed_free(&p);
    if (rc) {
        evl_serializer_free(ser);
        return rc;
    }
    *out = ser;
    return 0;
}

EVL_API int evl_serializer_id(const evl_serializer_t *ser)
{
    return ser->id;
}

EVL_API const char *evl_serializer_subject(const evl_serializer_t *ser)
{
    return ser->subject;
}

static int encode(evl_serializer_t *ser, const char *json, size_t len, evl_sr_buf_t *b)
{
    uint8_t head[5] = {0};
    evl__sr_put32(head + 1, (uint32_t)ser->id);
    int rc = evl__sr_buf_put(b, head, 5);
    if (!rc && ser->type == EVL_SCHEMA_PROTOBUF) {
        if (ser->depth == 1 && ser->path[0] == 0) {
            rc = evl__sr_buf_byte(b, 0);
        } else {
            rc = evl__sr_put_zigzag(b, (int64_t)ser->depth);
            for (size_t i = 0; !rc && i < ser->depth; i++)
                rc = evl__sr_put_zigzag(b, ser->path[i]);
        }
    }
    if (rc)
        return rc;
    char err[EVL_SR_ERRLEN] = "";
    rc = evl__sr_format(ser->type)->encode(ser->schema, ser->path, ser->depth, json, len, b, err,
                                           sizeof err);
    if (rc == EVL_ESCHEMA_INVALID)
        evl__sr_seterr("does not fit schema %d: %s", ser->id, err);
    return rc;
}

EVL_API int evl_serializer_encode(evl_serializer_t *ser, const char *json, size_t len,
                                  void **out, size_t *out_len)
{
    evl__sr_clearerr();
    evl_sr_buf_t b = {0};
    int rc = encode(ser, json, len, &b);
    if (rc) {
        evl__sr_buf_free(&b);
        return rc;
    }
    *out = b.p;
    *out_len = b.n;
    return 0;
}

EVL_API int evl_serializer_produce(evl_serializer_t *ser, evl_producer_t *prod,
                                   const char *topic, const void *key, size_t key_len,
                                   const char *json, size_t len, int flags, int32_t *partition,
                                   int64_t *offset)
{
    evl__sr_clearerr();
    evl_sr_buf_t b = {0};
    int rc = encode(ser, json, len, &b);
    if (!rc) {
        evl_msg_t m = {.key = key, .key_len = key_len, .value = b.p, .value_len = b.n,
                       .timestamp = -1, .partition = EVL_PARTITION_ANY};
        rc = evl_producer_send_to(prod, topic, &m, flags);
        if (!rc && partition)
            *partition = m.partition;
        if (!rc && offset)
            *offset = m.offset;
    }
    evl__sr_buf_free(&b);
    return rc;
}

EVL_API void evl_serializer_free(evl_serializer_t *ser)
{
    if (!ser)
        return;
    free(ser->subject);
    free(ser);
}

/* ---- deserializer ----------------------------------------------------------- */

EVL_API int evl_deserializer_new(evl_registry_t *reg, evl_schema_type_t type,
                                 const char *reader_schema, const evl_schema_ref_t *refs,
                                 size_t ref_count, evl_deserializer_t **out)
{
    *out = NULL;
    evl__sr_clearerr();
    if (!evl__sr_format(type))
        return EVL_EINVAL;
    evl_deserializer_t *des = calloc(1, sizeof *des);
    if (!des)
        return EVL_ENOMEM;
    des->reg = reg;
    des->type = type;
    if (reader_schema) {
        int rc = evl__sr_parse_new(reg, type, reader_schema, refs, ref_count, &des->reader);
        if (rc) {
            free(des);
            return rc;
        }
    }
    *out = des;
    return 0;
}

EVL_API int evl_deserializer_decode(evl_deserializer_t *des, const void *data, size_t len,
                                    char **json, int *id)
{
    evl__sr_clearerr();
    *json = NULL;
    const uint8_t *p = data, *end = p + len;
    if (!data || len < 5 || p[0] != 0) {
        evl__sr_seterr("not Confluent's wire format (%s)",
                       !data ? "no value" : len < 5 ? "shorter than 5 bytes" : "magic byte not 0");
        return EVL_ESCHEMA_MISMATCH;
    }
    int sid = (int)evl__sr_be32(p + 1);
    p += 5;
    if (id)
        *id = sid;
    evl_schema_type_t type;
    const void *writer;
    int rc = evl__sr_schema_by_id(des->reg, sid, &type, &writer);
    if (rc == EVL_ESCHEMA_NOTFOUND) {
        evl__sr_seterr("schema id %d is not in the registry", sid);
        return rc;
    }
    if (rc)
        return rc;
    if (type != des->type) {
        evl__sr_seterr("schema %d is %s, not %s", sid, evl_schema_type_name(type),
                       evl_schema_type_name(des->type));
        return EVL_ESCHEMA_MISMATCH;
    }
    int path[EVL_SR_PATH_MAX] = {0};
    size_t depth = 0;
    if (type == EVL_SCHEMA_PROTOBUF) {
        int64_t n;
        if (get_zigzag(&p, end, &n) || n < 0 || n > EVL_SR_PATH_MAX) {
            evl__sr_seterr("bad message-index array");
            return EVL_ESCHEMA_MISMATCH;
        }
        if (n == 0) {
            depth = 1; /* the single byte 0: the first message */
        } else {
            for (int64_t i = 0; i < n; i++) {
                int64_t x;
                if (get_zigzag(&p, end, &x) || x < 0 || x > INT32_MAX) {
                    evl__sr_seterr("bad message-index array");
                    return EVL_ESCHEMA_MISMATCH;
                }
                path[depth++] = (int)x;
            }
        }
    }
    evl_sr_buf_t b = {0};
    char err[EVL_SR_ERRLEN] = "";
    rc = evl__sr_format(type)->decode(writer, des->reader.schema, path, depth, p,
                                      (size_t)(end - p), &b, err, sizeof err);
    if (rc) {
        evl__sr_buf_free(&b);
        if (rc == EVL_ESCHEMA_MISMATCH)
            evl__sr_seterr("schema %d: %s", sid, err);
        return rc;
    }
    *json = evl__sr_buf_str(&b);
    return *json ? 0 : EVL_ENOMEM;
}

EVL_API int evl_deserializer_poll(evl_deserializer_t *des, evl_consumer_t *cons,
                                  int timeout_ms, const evl_record_t **rec, char **json)
{
    const evl_record_t *r;
    size_t n;
    *json = NULL;
    int rc = evl_consumer_poll(cons, timeout_ms, &r, 1, &n);
    if (rc)
        return rc;
    if (rec)
        *rec = r;
    size_t len;
    const void *v = evl_record_value(r, &len);
    rc = evl_deserializer_decode(des, v, len, json, NULL);
    if (rc == EVL_ESCHEMA_NOTFOUND || rc == EVL_ESCHEMA_MISMATCH) {
        char why[1024];
        snprintf(why, sizeof why, "%s", evl_registry_errmsg());
        evl__sr_seterr("record %s/%d@%lld refused: %s", evl_record_topic(r),
                       (int)evl_record_partition(r), (long long)evl_record_offset(r), why);
    }
    return rc;
}

EVL_API void evl_deserializer_free(evl_deserializer_t *des)
{
    if (!des)
        return;
    evl__sr_parsed_free(&des->reader);
    free(des);
}
