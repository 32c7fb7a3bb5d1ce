/*
 * convert.c - Kafka Connect's converters for keys and values:
 * ByteArrayConverter (bytes as they are), StringConverter (UTF-8 text) and
 * JsonConverter (JSON; with schemas.enable, the {"schema", "payload"}
 * envelope, the schema kept through the transforms and written again, or
 * inferred from the data where a transform made a field without one).
 * Bytes inside JSON are base64, as JsonConverter writes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

const char *const evl__tolerances[] = {"none", "all", NULL};

enum { CONV_BYTES, CONV_STRING, CONV_JSON };

struct conv {
    int kind;
    bool schemas;
};

void evl__cval_clear(cval_t *v)
{
    json_decref(v->json);
    json_decref(v->schema);
    free(v->own);
    memset(v, 0, sizeof *v);
}

void evl__cval_set_json(cval_t *v, json_t *json)
{
    evl__cval_clear(v);
    v->json = json;
    v->null = json == NULL || json_is_null(json);
}

typedef struct find {
    const char *name;
    const char *value;
} find_t;

static int find_fn(void *arg, const char *name, const char *value)
{
    find_t *f = arg;
    if (!strcmp(name, f->name))
        f->value = value;
    return 0;
}

static bool is_class(const char *v, const char *full)
{
    const char *dot = strrchr(full, '.');
    return !strcmp(v, full) || (dot && !strcmp(v, dot + 1));
}

int evl__conv_new(const evl_conf_t *conf, const char *prefix, conv_t **out, char *err,
                  size_t errsz)
{
    const char *cls = evl_conf_str(conf, prefix);
    conv_t *c = calloc(1, sizeof *c);
    if (!c)
        return EVL_ENOMEM;
    if (is_class(cls, "org.apache.kafka.connect.converters.ByteArrayConverter"))
        c->kind = CONV_BYTES;
    else if (is_class(cls, "org.apache.kafka.connect.storage.StringConverter"))
        c->kind = CONV_STRING;
    else if (is_class(cls, "org.apache.kafka.connect.json.JsonConverter"))
        c->kind = CONV_JSON;
    else {
        snprintf(err, errsz, "%s: unknown converter '%.100s' (ByteArrayConverter, "
                             "StringConverter or JsonConverter)", prefix, cls);
        free(c);
        return EVL_ECONFIG;
    }
    char key[64];
    snprintf(key, sizeof key, "%s.schemas.enable", prefix);
    find_t f = {key, NULL};
    evl_conf_each(conf, key, find_fn, &f);
    c->schemas = c->kind == CONV_JSON; /* JsonConverter's default */
    if (f.value && strcmp(f.value, "true") && strcmp(f.value, "false")) {
        snprintf(err, errsz, "%s: true or false", key);
        free(c);
        return EVL_ECONFIG;
    }
    if (f.value)
        c->schemas = c->kind == CONV_JSON && !strcmp(f.value, "true");
    *out = c;
    return 0;
}

void evl__conv_free(conv_t *c) { free(c); }

bool evl__conv_is_bytes(const conv_t *c) { return c->kind == CONV_BYTES; }

int evl__conv_parse(const conv_t *c, const void *bytes, size_t len, bool null, cval_t *out,
                    char *msg, size_t msgsz)
{
    memset(out, 0, sizeof *out);
    if (null) {
        out->null = true;
        return 0;
    }
    if (c->kind == CONV_BYTES) {
        out->raw = true;
        out->bytes = bytes;
        out->len = len;
        return 0;
    }
    if (c->kind == CONV_STRING) {
        if (!(out->json = json_stringn(bytes ? bytes : "", len))) {
            snprintf(msg, msgsz, "StringConverter: not UTF-8 text");
            return EVL_EINVAL;
        }
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(bytes ? bytes : "", len, JSON_DECODE_ANY, &je);
    if (!j) {
        snprintf(msg, msgsz, "JsonConverter: %s at line %d column %d", je.text, je.line,
                 je.column);
        return EVL_EINVAL;
    }
    if (c->schemas) {
        json_t *s = json_object_get(j, "schema"), *p = json_object_get(j, "payload");
        if (!json_is_object(j) || json_object_size(j) != 2 || !s || !p) {
            json_decref(j);
            snprintf(msg, msgsz, "JsonConverter with schemas.enable requires \"schema\" and "
                                 "\"payload\" fields and may not contain additional fields");
            return EVL_EINVAL;
        }
        out->schema = json_is_null(s) ? NULL : json_incref(s);
        out->json = json_incref(p);
        json_decref(j);
    } else {
        out->json = j;
    }
    out->null = json_is_null(out->json);
    return 0;
}

/* A schema for data that has none (a field a transform made). */
static json_t *infer(const json_t *d)
{
    switch (json_typeof(d)) {
    case JSON_OBJECT: {
        json_t *fields = json_array();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)d, k, v) {
            json_t *f = infer(v);
            json_object_set_new(f, "field", json_string(k));
            json_array_append_new(fields, f);
        }
        return json_pack("{s:s, s:o, s:b}", "type", "struct", "fields", fields, "optional", 1);
    }
    case JSON_ARRAY: {
        json_t *items = json_array_size(d) ? infer(json_array_get(d, 0))
                                           : json_pack("{s:s, s:b}", "type", "string",
                                                       "optional", 1);
        return json_pack("{s:s, s:o, s:b}", "type", "array", "items", items, "optional", 1);
    }
    case JSON_STRING:
        return json_pack("{s:s, s:b}", "type", "string", "optional", 1);
    case JSON_INTEGER:
        return json_pack("{s:s, s:b}", "type", "int64", "optional", 1);
    case JSON_REAL:
        return json_pack("{s:s, s:b}", "type", "double", "optional", 1);
    case JSON_TRUE:
    case JSON_FALSE:
        return json_pack("{s:s, s:b}", "type", "boolean", "optional", 1);
    default:
        return json_pack("{s:s, s:b}", "type", "string", "optional", 1);
    }
}

/* The schema kept, made to agree with the data again: a struct's fields
 * as the data has them now, each with its old schema where it had one. */
static json_t *reconcile(const json_t *schema, const json_t *d)
{
    if (!schema)
        return infer(d);
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (json_is_object(d) && type && !strcmp(type, "struct")) {
        json_t *old = json_object_get(schema, "fields"), *fields = json_array();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)d, k, v) {
            json_t *prev = NULL, *f;
            size_t i;
            json_array_foreach(old, i, f) {
                if (json_is_string(json_object_get(f, "field")) &&
                    !strcmp(json_string_value(json_object_get(f, "field")), k))
                    prev = f;
            }
            json_t *nf = json_is_null(v) && prev ? json_deep_copy(prev) : reconcile(prev, v);
            json_object_set_new(nf, "field", json_string(k));
            json_array_append_new(fields, nf);
        }
        json_t *s = json_deep_copy(schema);
        json_object_set_new(s, "fields", fields);
        return s;
    }
    if (json_is_object(d) || (!json_is_null(d) && type && !strcmp(type, "struct")))
        return infer(d);
    return json_deep_copy(schema);
}

static char *b64(const void *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    char *o = malloc(4 * ((n + 2) / 3) + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *w++ = t[v >> 18 & 63];
        *w++ = t[v >> 12 & 63];
        *w++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? t[v & 63] : '=';
    }
    *w = 0;
    return o;
}

int evl__conv_format(const conv_t *c, const cval_t *v, void **out, size_t *len, char *msg,
                     size_t msgsz)
{
    *out = NULL;
    *len = 0;
    if (v->null && c->kind != CONV_JSON)
        return 0;
    if (v->raw && c->kind != CONV_JSON) {
        if (!(*out = malloc(v->len ? v->len : 1)))
            return EVL_ENOMEM;
        if (v->len)
            memcpy(*out, v->bytes, v->len);
        *len = v->len;
        return 0;
    }
    if (c->kind == CONV_BYTES && !json_is_string(v->json)) {
        snprintf(msg, msgsz, "ByteArrayConverter: bytes or text expected, not %s",
                 json_is_object(v->json) ? "a struct" : "structured data");
        return EVL_EINVAL;
    }
    if (c->kind != CONV_JSON && json_is_string(v->json)) {
        *len = json_string_length(v->json);
        if (!(*out = malloc(*len ? *len : 1)))
            return EVL_ENOMEM;
        memcpy(*out, json_string_value(v->json), *len);
        return 0;
    }
    json_t *data;
    if (v->raw) {
        char *s = b64(v->bytes, v->len);
        data = s ? json_string(s) : NULL;
        free(s);
    } else {
        data = v->null ? json_null() : json_incref(v->json);
    }
    if (!data)
        return EVL_ENOMEM;
    json_t *doc = data;
    if (c->kind == CONV_JSON && c->schemas) {
        json_t *schema = v->raw ? json_pack("{s:s, s:b}", "type", "bytes", "optional", 1)
                         : v->null ? (v->schema ? json_incref(v->schema) : json_null())
                                   : reconcile(v->schema, v->json);
        doc = json_pack("{s:o, s:o}", "schema", schema ? schema : json_null(), "payload", data);
    }
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(doc);
    if (!s)
        return EVL_ENOMEM;
    *out = s;
    *len = strlen(s);
    return 0;
}
