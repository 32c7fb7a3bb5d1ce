/*
 * datum.c - generic data (evl_datum_t): a jansson value under another
 * name, encoded through the serializer's JSON path. Why jansson and
 * not a tree of our own: the formats' codecs already speak JSON values,
 * and the JSON forms (Avro's JSON encoding, Protobuf's JSON mapping) are
 * what a datum means; the cost is one print and parse per record, which
 * a program that counts cycles avoids by giving JSON text directly.
 */
#include "registry_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define J(d) ((json_t *)(d))
#define D(j) ((evl_datum_t *)(j))

EVL_API evl_datum_t *evl_datum_null(void) { return D(json_null()); }
EVL_API evl_datum_t *evl_datum_bool(bool v) { return D(json_boolean(v)); }
EVL_API evl_datum_t *evl_datum_int(int64_t v) { return D(json_integer((json_int_t)v)); }
EVL_API evl_datum_t *evl_datum_double(double v) { return D(json_real(v)); }
EVL_API evl_datum_t *evl_datum_array(void) { return D(json_array()); }
EVL_API evl_datum_t *evl_datum_object(void) { return D(json_object()); }

EVL_API evl_datum_t *evl_datum_string(const char *s, size_t len)
{
    return D(json_stringn(s, len));
}

EVL_API evl_datum_t *evl_datum_bytes(const void *p, size_t len)
{
    /* each byte as the code point of its value, in UTF-8 */
    char *u = malloc(2 * len + 1);
    if (!u)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = ((const uint8_t *)p)[i];
        if (c < 0x80) {
            u[n++] = (char)c;
        } else {
            u[n++] = (char)(0xc0 | (c >> 6));
            u[n++] = (char)(0x80 | (c & 0x3f));
        }
    }
    json_t *j = json_stringn(u, n);
    free(u);
    return D(j);
}

EVL_API evl_datum_t *evl_datum_union(const char *branch, evl_datum_t *v)
{
    json_t *o = branch ? json_object() : NULL;
    if (!o || json_object_set_new(o, branch, J(v))) {
        json_decref(o);
        if (!o)
            json_decref(J(v));
        return NULL;
    }
    return D(o);
}

EVL_API int evl_datum_append(evl_datum_t *array, evl_datum_t *v)
{
    if (!v)
        return EVL_ENOMEM;
    if (!json_is_array(J(array))) {
        json_decref(J(v));
        return EVL_EINVAL;
    }
    return json_array_append_new(J(array), J(v)) ? EVL_ENOMEM : 0;
}

EVL_API int evl_datum_set(evl_datum_t *object, const char *name, evl_datum_t *v)
{
    if (!v)
        return EVL_ENOMEM;
    if (!json_is_object(J(object)) || !name) {
        json_decref(J(v));
        return EVL_EINVAL;
    }
    return json_object_set_new(J(object), name, J(v)) ? EVL_ENOMEM : 0;
}

EVL_API evl_datum_type_t evl_datum_type(const evl_datum_t *d)
{
    switch (json_typeof(J(d))) {
    case JSON_TRUE:
    case JSON_FALSE: return EVL_DATUM_BOOL;
    case JSON_INTEGER: return EVL_DATUM_INT;
    case JSON_REAL: return EVL_DATUM_DOUBLE;
    case JSON_STRING: return EVL_DATUM_STRING;
    case JSON_ARRAY: return EVL_DATUM_ARRAY;
    case JSON_OBJECT: return EVL_DATUM_OBJECT;
    default: return EVL_DATUM_NULL;
    }
}

EVL_API bool evl_datum_bool_value(const evl_datum_t *d) { return json_is_true(J(d)); }
EVL_API int64_t evl_datum_int_value(const evl_datum_t *d) { return json_integer_value(J(d)); }
EVL_API double evl_datum_double_value(const evl_datum_t *d) { return json_number_value(J(d)); }

EVL_API const char *evl_datum_string_value(const evl_datum_t *d, size_t *len)
{
    const char *s = json_string_value(J(d));
    if (len)
        *len = s ? json_string_length(J(d)) : 0;
    return s ? s : "";
}

EVL_API size_t evl_datum_size(const evl_datum_t *d)
{
    return json_is_array(J(d)) ? json_array_size(J(d)) : json_object_size(J(d));
}

EVL_API const evl_datum_t *evl_datum_at(const evl_datum_t *array, size_t i)
{
    return D(json_array_get(J(array), i));
}

EVL_API const evl_datum_t *evl_datum_get(const evl_datum_t *object, const char *name)
{
    return D(json_object_get(J(object), name));
}

EVL_API void evl_datum_free(evl_datum_t *d)
{
    json_decref(J(d));
}

EVL_API int evl_serializer_encode_datum(evl_serializer_t *ser, const evl_datum_t *d, void **out,
                                        size_t *out_len)
{
    char *text = d ? json_dumps(J(d), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!text)
        return d ? EVL_ENOMEM : EVL_EINVAL;
    int rc = evl_serializer_encode(ser, text, strlen(text), out, out_len);
    free(text);
    return rc;
}

EVL_API int evl_deserializer_decode_datum(evl_deserializer_t *des, const void *data, size_t len,
                                          evl_datum_t **out, int *id)
{
    char *text;
    *out = NULL;
    int rc = evl_deserializer_decode(des, data, len, &text, id);
    if (rc)
        return rc;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(text);
    if (!j)
        return EVL_ENOMEM;
    *out = D(j);
    return 0;
}
