/*
 * protobuf_codec.c - Protobuf payloads <-> the canonical JSON mapping, for
 * a message known only at run time (so our own wire codec: protobuf-c's
 * runtime needs messages compiled to C at build time), and the
 * message-index paths of Confluent's wire format (evl__pb_message_path).
 *
 * Encode (JSON -> binary): keys are a field's JSON name (lowerCamelCase or
 * its json_name) or its original name; 64-bit integers as numbers or
 * strings; enums by name or number; bytes as base64 (standard or URL-safe);
 * maps as objects; repeated as arrays, packed for proto3 numeric fields
 * (or [packed = true]); null means "not set". Proto3 fields without
 * presence that hold their default are not written, as protoc does. Well-
 * known types (Timestamp, wrappers, ...) are plain messages here: their
 * JSON special forms are not implemented.
 *
 * Decoding is protobuf_decode.c.
 */
#include "protobuf_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- message paths ---- */

static int path_in(const evl_pb_msg_t *m, const char *full, int *path, size_t d, size_t *depth)
{
    if (strcmp(m->full_name, full) == 0) {
        *depth = d;
        return 1;
    }
    if (d >= EVL_SR_PATH_MAX)
        return 0;
    for (size_t i = 0; i < m->nmsgs; i++) {
        path[d] = (int)i;
        if (path_in(m->msgs[i], full, path, d + 1, depth))
            return 1;
    }
    return 0;
}

int evl__pb_message_path(const void *schema, const char *full_name, int *path, size_t *depth)
{
    const evl_pb_schema_t *s = schema;
    if (!s->file->nmsgs)
        return EVL_ESCHEMA_INVALID;
    if (!full_name) {
        path[0] = 0;
        *depth = 1;
        return 0;
    }
    for (size_t i = 0; i < s->file->nmsgs; i++) {
        path[0] = (int)i;
        if (path_in(s->file->msgs[i], full_name, path, 1, depth))
            return 0;
    }
    return EVL_ESCHEMA_INVALID;
}

static const evl_pb_msg_t *msg_at(const evl_pb_schema_t *s, const int *path, size_t depth)
{
    if (depth == 0 || path[0] < 0 || (size_t)path[0] >= s->file->nmsgs)
        return NULL;
    const evl_pb_msg_t *m = s->file->msgs[path[0]];
    for (size_t i = 1; i < depth; i++) {
        if (path[i] < 0 || (size_t)path[i] >= m->nmsgs)
            return NULL;
        m = m->msgs[path[i]];
    }
    return m;
}

/* ---- shared helpers ---- */

typedef struct cx {
    char *err;
    size_t errlen;
    int rc;
} cx_t;

static void cfail(cx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cfail(cx_t *c, int rc, const char *fmt, ...)
{
    if (c->rc)
        return;
    c->rc = rc;
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
}

static int wire_type(const evl_pb_field_t *f, int type)
{
    switch (type) {
    case PB_DOUBLE: case PB_FIXED64: case PB_SFIXED64: return 1;
    case PB_FLOAT: case PB_FIXED32: case PB_SFIXED32: return 5;
    case PB_STRING: case PB_BYTES: case PB_MESSAGE: return 2;
    default: return 0;
    }
    (void)f;
}

static int is_packable(int type)
{
    return type != PB_STRING && type != PB_BYTES && type != PB_MESSAGE;
}

static char *json_name_of(const evl_pb_field_t *f)
{
    if (f->json_name)
        return evl__pb_strndup(f->json_name, strlen(f->json_name));
    return evl__pb_json_name(f->name);
}

/* ---- encode ---- */

static int put_tag(evl_sr_buf_t *b, int32_t num, int wt)
{
    return evl__sr_put_varint(b, ((uint64_t)(uint32_t)num << 3) | (uint64_t)wt);
}

static int b64dec(const char *s, size_t n, evl_sr_buf_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i], v;
        if (c == '=')
            break;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (evl__sr_buf_byte(out, (uint8_t)(acc >> bits)))
                return EVL_ENOMEM;
        }
    }
    return bits >= 6 ? -1 : 0;
}

/* A JSON integer (number or decimal string) into *v; signed or not. */
static int get_int(const json_t *j, int uns, int64_t lo, uint64_t hi, uint64_t *v)
{
    if (json_is_integer(j)) {
        json_int_t x = json_integer_value(j);
        if (x < 0 && (uns || x < lo))
            return -1;
        if (x >= 0 && (uint64_t)x > hi)
            return -1;
        *v = (uint64_t)x;
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (d != floor(d) || d < (double)lo || d >= 18446744073709551616.0 || d > (double)hi)
            return -1;
        *v = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const char *s = json_string_value(j);
    int neg = s[0] == '-';
    const char *q = neg ? s + 1 : s;
    if (!*q || strlen(q) > 20)
        return -1;
    uint64_t x = 0;
    for (; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        unsigned d = (unsigned)(*q - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (neg) {
        if (uns && x)
            return -1;
        if (x > (uint64_t)INT64_MAX + 1 || -(int64_t)(x - 1) - 1 < lo)
            return -1;
        *v = (uint64_t)(-(int64_t)(x - 1) - 1);
        return 0;
    }
    if (x > hi)
        return -1;
    *v = x;
    return 0;
}

static int get_double(const json_t *j, double *d)
{
    if (json_is_number(j)) {
        *d = json_number_value(j);
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const char *s = json_string_value(j);
    if (strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else {
        char *end;
        if (!*s)
            return -1;
        *d = strtod(s, &end);
        if (*end)
            return -1;
    }
    return 0;
}

static void enc_msg(cx_t *c, const evl_pb_msg_t *m, const json_t *obj, evl_sr_buf_t *b,
                    int depth);

/* One value of type (no tag) into b; packed: no length for messages. */
static void enc_value(cx_t *c, const evl_pb_field_t *f, int type, const json_t *j,
                      evl_sr_buf_t *b, int depth)
{
    uint64_t v = 0;
    double d;
    int rc = 0;
    switch (type) {
    case PB_INT32: case PB_SFIXED32: case PB_SINT32:
        if (get_int(j, 0, INT32_MIN, INT32_MAX, &v))
            goto bad;
        if (type == PB_SINT32)
            rc = evl__sr_put_varint(b, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)((int32_t)v >> 31)));
        else if (type == PB_SFIXED32)
            rc = evl__sr_put_le(b, v, 4);
        else
            rc = evl__sr_put_varint(b, v); /* negative: sign-extended to 10 bytes */
        break;
    case PB_UINT32: case PB_FIXED32:
        if (get_int(j, 1, 0, UINT32_MAX, &v))
            goto bad;
        rc = type == PB_FIXED32 ? evl__sr_put_le(b, v, 4) : evl__sr_put_varint(b, v);
        break;
    case PB_INT64: case PB_SFIXED64: case PB_SINT64:
        if (get_int(j, 0, INT64_MIN, INT64_MAX, &v))
            goto bad;
        if (type == PB_SINT64)
            rc = evl__sr_put_varint(b, (v << 1) ^ (uint64_t)((int64_t)v >> 63));
        else if (type == PB_SFIXED64)
            rc = evl__sr_put_le(b, v, 8);
        else
            rc = evl__sr_put_varint(b, v);
        break;
    case PB_UINT64: case PB_FIXED64:
        if (get_int(j, 1, 0, UINT64_MAX, &v))
            goto bad;
        rc = type == PB_FIXED64 ? evl__sr_put_le(b, v, 8) : evl__sr_put_varint(b, v);
        break;
    case PB_BOOL:
        if (!json_is_boolean(j))
            goto bad;
        rc = evl__sr_put_varint(b, json_is_true(j));
        break;
    case PB_DOUBLE: {
        if (get_double(j, &d))
            goto bad;
        uint64_t u;
        memcpy(&u, &d, 8);
        rc = evl__sr_put_le(b, u, 8);
        break;
    }
    case PB_FLOAT: {
        if (get_double(j, &d) || (isfinite(d) && fabs(d) > 3.4028234663852886e38))
            goto bad;
        float fl = (float)d;
        uint32_t u;
        memcpy(&u, &fl, 4);
        rc = evl__sr_put_le(b, u, 4);
        break;
    }
    case PB_ENUM:
        if (json_is_string(j)) {
            const char *s = json_string_value(j);
            size_t i;
            for (i = 0; f->en && i < f->en->nvalues; i++)
                if (strcmp(f->en->values[i].name, s) == 0)
                    break;
            if (!f->en || i == f->en->nvalues)
                goto bad;
            rc = evl__sr_put_varint(b, (uint64_t)(int64_t)f->en->values[i].number);
        } else {
            if (get_int(j, 0, INT32_MIN, INT32_MAX, &v))
                goto bad;
            rc = evl__sr_put_varint(b, v);
        }
        break;
    case PB_STRING:
        if (!json_is_string(j))
            goto bad;
        rc = evl__sr_put_varint(b, json_string_length(j));
        if (!rc)
            rc = evl__sr_buf_put(b, json_string_value(j), json_string_length(j));
        break;
    case PB_BYTES: {
        if (!json_is_string(j))
            goto bad;
        evl_sr_buf_t t = {0};
        int r2 = b64dec(json_string_value(j), json_string_length(j), &t);
        if (r2 == EVL_ENOMEM)
            rc = r2;
        else if (r2) {
            evl__sr_buf_free(&t);
            goto bad;
        }
        if (!rc)
            rc = evl__sr_put_varint(b, t.n);
        if (!rc)
            rc = evl__sr_buf_put(b, t.p, t.n);
        evl__sr_buf_free(&t);
        break;
    }
    case PB_MESSAGE: {
        if (!json_is_object(j))
            goto bad;
        evl_sr_buf_t t = {0};
        enc_msg(c, f->msg, j, &t, depth + 1);
        if (!c->rc)
            rc = evl__sr_put_varint(b, t.n);
        if (!c->rc && !rc)
            rc = evl__sr_buf_put(b, t.p, t.n);
        evl__sr_buf_free(&t);
        break;
    }
    default:
        goto bad;
    }
    if (rc)
        cfail(c, EVL_ENOMEM, "out of memory");
    return;
bad:
    cfail(c, EVL_ESCHEMA_INVALID, "%s: not a valid %s", f->name,
          type == PB_MESSAGE ? "message (object)" : type == PB_ENUM ? "enum value"
                                                                    : evl__pb_type_keyword(type));
}

static int is_default(int type, const json_t *j)
{
    if (json_is_integer(j))
        return json_integer_value(j) == 0;
    if (json_is_real(j))
        return json_real_value(j) == 0 && !signbit(json_real_value(j));
    if (json_is_false(j))
        return 1;
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (type == PB_STRING || type == PB_BYTES)
            return *s == 0;
        if (type != PB_ENUM)
            return strcmp(s, "0") == 0;
    }
    return 0;
}

static void enc_field(cx_t *c, const evl_pb_msg_t *m, const evl_pb_field_t *f, const json_t *j,
                      evl_sr_buf_t *b, int depth)
{
    int rc = 0;
    if (f->is_map) {
        if (!json_is_object(j))
            return cfail(c, EVL_ESCHEMA_INVALID, "%s: a map must be an object", f->name);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            evl_sr_buf_t e = {0};
            json_t *key;
            if (f->key_type == PB_BOOL) {
                if (strcmp(k, "true") && strcmp(k, "false")) {
                    cfail(c, EVL_ESCHEMA_INVALID, "%s: bad map key", f->name);
                    return;
                }
                key = json_boolean(k[0] == 't');
            } else if (f->key_type == PB_STRING) {
                key = json_string(k);
            } else {
                key = json_string(k); /* integers from their decimal text */
            }
            evl_pb_field_t kf = {.name = f->name, .type = f->key_type};
            if (!key) {
                cfail(c, EVL_ENOMEM, "out of memory");
                return;
            }
            if (put_tag(&e, 1, wire_type(f, f->key_type)))
                cfail(c, EVL_ENOMEM, "out of memory");
            enc_value(c, &kf, f->key_type, key, &e, depth);
            json_decref(key);
            if (!json_is_null(v)) {
                if (put_tag(&e, 2, wire_type(f, f->type)))
                    cfail(c, EVL_ENOMEM, "out of memory");
                enc_value(c, f, f->type, v, &e, depth);
            }
            if (!c->rc && (put_tag(b, f->number, 2) || evl__sr_put_varint(b, e.n) ||
                           evl__sr_buf_put(b, e.p, e.n)))
                cfail(c, EVL_ENOMEM, "out of memory");
            evl__sr_buf_free(&e);
            if (c->rc)
                return;
        }
        return;
    }
    if (f->label == PB_L_REPEATED) {
        if (!json_is_array(j))
            return cfail(c, EVL_ESCHEMA_INVALID, "%s: a repeated field must be an array",
                         f->name);
        size_t n = json_array_size(j);
        int packed = is_packable(f->type) && (f->packed == 1 || (m->proto3 && f->packed != 0));
        if (packed) {
            if (!n)
                return;
            evl_sr_buf_t e = {0};
            for (size_t i = 0; i < n && !c->rc; i++)
                enc_value(c, f, f->type, json_array_get(j, i), &e, depth);
            if (!c->rc && (put_tag(b, f->number, 2) || evl__sr_put_varint(b, e.n) ||
                           evl__sr_buf_put(b, e.p, e.n)))
                cfail(c, EVL_ENOMEM, "out of memory");
            evl__sr_buf_free(&e);
            return;
        }
        for (size_t i = 0; i < n && !c->rc; i++) {
            if (put_tag(b, f->number, wire_type(f, f->type)))
                return cfail(c, EVL_ENOMEM, "out of memory");
            enc_value(c, f, f->type, json_array_get(j, i), b, depth);
        }
        return;
    }
    if (m->proto3 && f->label == PB_L_NONE && !f->proto3_optional && f->oneof < 0 &&
        f->type != PB_MESSAGE && is_default(f->type, j)) {
        /* still check it is a valid value */
        evl_sr_buf_t t = {0};
        enc_value(c, f, f->type, j, &t, depth);
        evl__sr_buf_free(&t);
        return;
    }
    rc = put_tag(b, f->number, wire_type(f, f->type));
    if (rc)
        return cfail(c, EVL_ENOMEM, "out of memory");
    enc_value(c, f, f->type, j, b, depth);
}

static void enc_msg(cx_t *c, const evl_pb_msg_t *m, const json_t *obj, evl_sr_buf_t *b,
                    int depth)
{
    if (depth > PB_MAX_DEPTH)
        return cfail(c, EVL_ESCHEMA_INVALID, "nested too deeply");
    if (!m)
        return cfail(c, EVL_ESCHEMA_INVALID, "no such message");
    /* each key names a field (JSON name or original name): json_of[i] */
    const json_t **json_of = calloc(m->nfields + 1, sizeof *json_of);
    size_t *order = calloc(m->nfields + 1, sizeof *order);
    int *seen_oneof = calloc(m->noneofs + 1, sizeof *seen_oneof);
    if (!json_of || !order || !seen_oneof) {
        cfail(c, EVL_ENOMEM, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        size_t fi = m->nfields;
        for (size_t i = 0; i < m->nfields && fi == m->nfields; i++) {
            char *jn = json_name_of(&m->fields[i]);
            if (!jn) {
                cfail(c, EVL_ENOMEM, "out of memory");
                goto out;
            }
            if (strcmp(jn, k) == 0 || strcmp(m->fields[i].name, k) == 0)
                fi = i;
            free(jn);
        }
        if (fi == m->nfields) {
            cfail(c, EVL_ESCHEMA_INVALID, "%s has no field %s", m->full_name, k);
            goto out;
        }
        if (json_of[fi]) {
            cfail(c, EVL_ESCHEMA_INVALID, "%s: field %s given twice", m->full_name, k);
            goto out;
        }
        if (json_is_null(v))
            continue;
        const evl_pb_field_t *f = &m->fields[fi];
        if (f->oneof >= 0 && seen_oneof[f->oneof]++) {
            cfail(c, EVL_ESCHEMA_INVALID, "oneof %s set twice", m->oneofs[f->oneof]);
            goto out;
        }
        json_of[fi] = v;
    }
    /* written in field-number order, as protobuf serializers do */
    for (size_t i = 0; i < m->nfields; i++) {
        size_t j = i;
        while (j > 0 && m->fields[order[j - 1]].number > m->fields[i].number) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < m->nfields && !c->rc; i++)
        if (json_of[order[i]])
            enc_field(c, m, &m->fields[order[i]], json_of[order[i]], b, depth);
out:
    free(json_of);
    free(order);
    free(seen_oneof);
}

int evl__pb_encode(const void *schema, const int *path, size_t depth, const char *json,
                   size_t len, evl_sr_buf_t *out, char *err, size_t errlen)
{
    cx_t c = {err, errlen, 0};
    const evl_pb_msg_t *m = msg_at(schema, path, depth);
    if (!m) {
        cfail(&c, EVL_ESCHEMA_INVALID, "no message at that index path");
        return c.rc;
    }
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        cfail(&c, EVL_ESCHEMA_INVALID, "bad JSON at %d:%d: %s", je.line, je.column, je.text);
        return c.rc;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        cfail(&c, EVL_ESCHEMA_INVALID, "a message must be a JSON object");
        return c.rc;
    }
    size_t start = out->n;
    enc_msg(&c, m, root, out, 0);
    json_decref(root);
    if (c.rc)
        out->n = start;
    return c.rc;
}
