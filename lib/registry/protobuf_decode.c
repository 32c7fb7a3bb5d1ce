/*
 * protobuf_decode.c - Protobuf binary payload -> the canonical JSON mapping
 * (evl__pb_decode), for a message known only at run time: our own wire
 * reader, since protobuf-c's runtime needs messages compiled to C at build
 * time and a registry's schemas are known only at run time.
 *
 * Output: fields in declaration order, named by JSON name (lowerCamelCase
 * or json_name); fields absent from the wire are omitted, and so are proto3
 * fields without presence that hold their default (the mapping's rule);
 * int64/uint64/fixed64/sfixed64/sint64 as strings; float and double as the
 * shortest text that reads back (NaN, Infinity, -Infinity as strings);
 * bytes as base64; enums by name (a number the enum does not know: the
 * number); maps as objects; repeated fields as arrays, packed or not.
 * A message field seen twice is merged, a oneof member clears its
 * siblings, the last value of a singular scalar wins (protobuf's rules).
 *
 * Hostile input: every length is checked against what is left, varints
 * stop at 10 bytes, nesting stops at PB_MAX_DEPTH, unknown fields are
 * skipped (groups included, with the same cap), a known field with the
 * wrong wire type or a string that is not UTF-8 is EVL_ESCHEMA_MISMATCH.
 * What is allocated grows with the payload (a JSON value per wire value).
 * The JSON text is written by our own printer: jansson prints doubles with
 * 17 digits (1.1 as 1.1000000000000001).
 */
#include "protobuf_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dx {
    char *err;
    size_t errlen;
    int rc;
} dx_t;

static void dfail(dx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void dfail(dx_t *c, int rc, const char *fmt, ...)
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

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd_t;

static int rvarint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int s = 0; s < 70; s += 7) {
        if (r->i >= r->n)
            return -1;
        uint8_t b = r->p[r->i++];
        x |= s < 64 ? (uint64_t)(b & 0x7F) << s : 0;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int rfixed(rd_t *r, int n, uint64_t *v)
{
    if (r->n - r->i < (size_t)n)
        return -1;
    uint64_t x = 0;
    for (int k = 0; k < n; k++)
        x |= (uint64_t)r->p[r->i + (size_t)k] << (8 * k);
    r->i += (size_t)n;
    *v = x;
    return 0;
}

static int rlen(rd_t *r, rd_t *s)
{
    uint64_t len;
    if (rvarint(r, &len) || len > r->n - r->i)
        return -1;
    s->p = r->p + r->i;
    s->n = (size_t)len;
    s->i = 0;
    r->i += (size_t)len;
    return 0;
}

static int rskip(rd_t *r, int wt, uint32_t num, int depth)
{
    uint64_t v;
    rd_t s;
    switch (wt) {
    case 0: return rvarint(r, &v);
    case 1: return rfixed(r, 8, &v);
    case 2: return rlen(r, &s);
    case 5: return rfixed(r, 4, &v);
    case 3: /* a group: skip to its end */
        if (depth > PB_MAX_DEPTH)
            return -1;
        for (;;) {
            uint64_t t;
            if (rvarint(r, &t) || (t >> 3) == 0 || (t >> 3) > PB_FIELD_MAX)
                return -1;
            if ((t & 7) == 4)
                return (t >> 3) == num ? 0 : -1;
            if (rskip(r, (int)(t & 7), (uint32_t)(t >> 3), depth + 1))
                return -1;
        }
    default: return -1;
    }
}

static json_t *b64_string(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc((n + 2) / 3 * 4 + 1);
    if (!s)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        s[k++] = tbl[(v >> 18) & 63];
        s[k++] = tbl[(v >> 12) & 63];
        s[k++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[k++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    json_t *j = json_stringn(s, k);
    free(s);
    return j;
}

static json_t *real_value(double d, int is_float)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d < 0 ? "-Infinity" : "Infinity");
    if (is_float) { /* the shortest decimal that is the same float */
        char buf[40];
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if ((float)strtod(buf, NULL) == (float)d)
                break;
        }
        d = strtod(buf, NULL);
    }
    return json_real(d);
}

static json_t *dec_msg(dx_t *c, const evl_pb_msg_t *m, rd_t *r, json_t *into, int depth);

static int is_64_type(int t)
{
    return t == PB_INT64 || t == PB_UINT64 || t == PB_SINT64 || t == PB_FIXED64 ||
           t == PB_SFIXED64;
}

/* One value of type from r (wire type wt already checked). */
static json_t *dec_value(dx_t *c, const evl_pb_field_t *f, int type, rd_t *r, json_t *prev,
                         int depth)
{
    uint64_t v;
    rd_t s;
    char buf[32];
    switch (type) {
    case PB_DOUBLE: case PB_FIXED64: case PB_SFIXED64:
        if (rfixed(r, 8, &v))
            break;
        if (type == PB_DOUBLE) {
            double d;
            memcpy(&d, &v, 8);
            return real_value(d, 0);
        }
        snprintf(buf, sizeof buf, type == PB_FIXED64 ? "%llu" : "%lld",
                 type == PB_FIXED64 ? (unsigned long long)v : (unsigned long long)(long long)v);
        if (type == PB_SFIXED64)
            snprintf(buf, sizeof buf, "%lld", (long long)(int64_t)v);
        return json_string(buf);
    case PB_FLOAT: case PB_FIXED32: case PB_SFIXED32:
        if (rfixed(r, 4, &v))
            break;
        if (type == PB_FLOAT) {
            uint32_t u = (uint32_t)v;
            float fl;
            memcpy(&fl, &u, 4);
            return real_value(fl, 1);
        }
        return json_integer(type == PB_FIXED32 ? (json_int_t)(uint32_t)v
                                               : (json_int_t)(int32_t)(uint32_t)v);
    case PB_INT32: case PB_UINT32: case PB_SINT32: case PB_BOOL: case PB_ENUM:
    case PB_INT64: case PB_UINT64: case PB_SINT64:
        if (rvarint(r, &v))
            break;
        switch (type) {
        case PB_INT32: return json_integer((int32_t)(uint32_t)v);
        case PB_UINT32: return json_integer((uint32_t)v);
        case PB_SINT32: {
            uint32_t u = (uint32_t)v;
            return json_integer((int32_t)((u >> 1) ^ (0u - (u & 1))));
        }
        case PB_BOOL: return json_boolean(v != 0);
        case PB_ENUM: {
            int32_t n = (int32_t)(uint32_t)v;
            for (size_t i = 0; f->en && i < f->en->nvalues; i++)
                if (f->en->values[i].number == n)
                    return json_string(f->en->values[i].name);
            return json_integer(n);
        }
        case PB_INT64: snprintf(buf, sizeof buf, "%lld", (long long)(int64_t)v); break;
        case PB_UINT64: snprintf(buf, sizeof buf, "%llu", (unsigned long long)v); break;
        default:
            snprintf(buf, sizeof buf, "%lld", (long long)(int64_t)((v >> 1) ^ (0 - (v & 1))));
            break;
        }
        return json_string(buf);
    case PB_STRING: {
        if (rlen(r, &s))
            break;
        json_t *j = json_stringn((const char *)s.p, s.n);
        if (!j)
            dfail(c, EVL_ESCHEMA_MISMATCH, "%s: not UTF-8", f->name);
        return j;
    }
    case PB_BYTES:
        if (rlen(r, &s))
            break;
        return b64_string(s.p, s.n);
    case PB_MESSAGE:
        if (rlen(r, &s))
            break;
        return dec_msg(c, f->msg, &s, json_is_object(prev) ? prev : NULL, depth + 1);
    }
    dfail(c, EVL_ESCHEMA_MISMATCH, "%s: truncated value", f->name);
    return NULL;
}

static int expect_wt(int type)
{
    switch (type) {
    case PB_DOUBLE: case PB_FIXED64: case PB_SFIXED64: return 1;
    case PB_FLOAT: case PB_FIXED32: case PB_SFIXED32: return 5;
    case PB_STRING: case PB_BYTES: case PB_MESSAGE: return 2;
    default: return 0;
    }
}

static void dec_map_entry(dx_t *c, const evl_pb_field_t *f, rd_t *r, json_t *obj, int depth)
{
    rd_t e;
    if (rlen(r, &e))
        return dfail(c, EVL_ESCHEMA_MISMATCH, "%s: truncated map entry", f->name);
    json_t *key = NULL, *val = NULL;
    evl_pb_field_t kf = {.name = f->name, .type = f->key_type};
    while (!c->rc && e.i < e.n) {
        uint64_t t;
        if (rvarint(&e, &t) || (t >> 3) == 0 || (t >> 3) > PB_FIELD_MAX) {
            dfail(c, EVL_ESCHEMA_MISMATCH, "%s: bad map entry", f->name);
            break;
        }
        uint32_t num = (uint32_t)(t >> 3);
        int wt = (int)(t & 7);
        if (num == 1 || num == 2) {
            int type = num == 1 ? f->key_type : f->type;
            if (wt != expect_wt(type)) {
                dfail(c, EVL_ESCHEMA_MISMATCH, "%s: wrong wire type in map entry", f->name);
                break;
            }
            json_t *x = dec_value(c, num == 1 ? &kf : f, type, &e, num == 2 ? val : NULL, depth);
            if (!x) {
                dfail(c, EVL_ENOMEM, "out of memory");
                break;
            }
            json_t **slot = num == 1 ? &key : &val;
            if (*slot != x)
                json_decref(*slot);
            *slot = x;
        } else if (rskip(&e, wt, num, 0)) {
            dfail(c, EVL_ESCHEMA_MISMATCH, "%s: bad map entry", f->name);
        }
    }
    if (!c->rc) {
        char kb[32];
        const char *ks = kb;
        if (!key)
            ks = f->key_type == PB_STRING ? "" : f->key_type == PB_BOOL ? "false" : "0";
        else if (json_is_string(key))
            ks = json_string_value(key);
        else if (json_is_boolean(key))
            ks = json_is_true(key) ? "true" : "false";
        else
            snprintf(kb, sizeof kb, "%lld", (long long)json_integer_value(key));
        if (!val) {
            if (f->type == PB_MESSAGE)
                val = json_object();
            else if (f->type == PB_ENUM)
                val = f->en && f->en->nvalues ? json_string(f->en->values[0].name)
                                               : json_integer(0);
            else if (f->type == PB_STRING || f->type == PB_BYTES)
                val = json_string("");
            else if (f->type == PB_BOOL)
                val = json_false();
            else if (is_64_type(f->type))
                val = json_string("0");
            else if (f->type == PB_FLOAT || f->type == PB_DOUBLE)
                val = json_real(0);
            else
                val = json_integer(0);
        }
        if (!val || json_object_set(obj, ks, val))
            dfail(c, EVL_ENOMEM, "out of memory");
    }
    json_decref(key);
    json_decref(val);
}

static int is_default_json(const evl_pb_field_t *f, const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) == 0;
    if (json_is_real(v))
        return json_real_value(v) == 0 && !signbit(json_real_value(v));
    if (json_is_false(v))
        return 1;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (f->type == PB_ENUM)
            return f->en && f->en->nvalues && strcmp(s, f->en->values[0].name) == 0 &&
                   f->en->values[0].number == 0;
        if (f->type == PB_STRING || f->type == PB_BYTES)
            return *s == 0;
        return strcmp(s, "0") == 0;
    }
    return 0;
}

static char *jname(const evl_pb_field_t *f)
{
    if (f->json_name)
        return evl__pb_strndup(f->json_name, strlen(f->json_name));
    return evl__pb_json_name(f->name);
}

static json_t *dec_msg(dx_t *c, const evl_pb_msg_t *m, rd_t *r, json_t *into, int depth)
{
    if (depth > PB_MAX_DEPTH) {
        dfail(c, EVL_ESCHEMA_MISMATCH, "nested too deeply");
        return NULL;
    }
    if (!m) {
        dfail(c, EVL_ESCHEMA_MISMATCH, "no such message");
        return NULL;
    }
    json_t *obj = into ? json_incref(into) : json_object();
    if (!obj) {
        dfail(c, EVL_ENOMEM, "out of memory");
        return NULL;
    }
    while (!c->rc && r->i < r->n) {
        uint64_t t;
        if (rvarint(r, &t) || (t >> 3) == 0 || (t >> 3) > PB_FIELD_MAX) {
            dfail(c, EVL_ESCHEMA_MISMATCH, "%s: bad tag", m->full_name);
            break;
        }
        uint32_t num = (uint32_t)(t >> 3);
        int wt = (int)(t & 7);
        const evl_pb_field_t *f = NULL;
        for (size_t i = 0; i < m->nfields && !f; i++)
            if ((uint32_t)m->fields[i].number == num)
                f = &m->fields[i];
        if (!f) {
            if (rskip(r, wt, num, depth))
                dfail(c, EVL_ESCHEMA_MISMATCH, "%s: bad unknown field %u", m->full_name, num);
            continue;
        }
        char *jn = jname(f);
        if (!jn) {
            dfail(c, EVL_ENOMEM, "out of memory");
            break;
        }
        json_t *cur = json_object_get(obj, jn);
        int ewt = expect_wt(f->type);
        if (f->is_map) {
            if (wt != 2) {
                dfail(c, EVL_ESCHEMA_MISMATCH, "%s: wrong wire type %d", f->name, wt);
            } else {
                if (!json_is_object(cur)) {
                    cur = json_object();
                    if (!cur || json_object_set_new(obj, jn, cur))
                        dfail(c, EVL_ENOMEM, "out of memory");
                }
                if (!c->rc)
                    dec_map_entry(c, f, r, cur, depth);
            }
        } else if (f->label == PB_L_REPEATED) {
            if (!json_is_array(cur)) {
                cur = json_array();
                if (!cur || json_object_set_new(obj, jn, cur))
                    dfail(c, EVL_ENOMEM, "out of memory");
            }
            if (c->rc) {
            } else if (wt == 2 && ewt != 2) { /* packed */
                rd_t s;
                if (rlen(r, &s))
                    dfail(c, EVL_ESCHEMA_MISMATCH, "%s: truncated", f->name);
                while (!c->rc && s.i < s.n) {
                    json_t *x = dec_value(c, f, f->type, &s, NULL, depth);
                    if (!x || json_array_append_new(cur, x))
                        dfail(c, EVL_ENOMEM, "out of memory");
                }
            } else if (wt == ewt) {
                json_t *x = dec_value(c, f, f->type, r, NULL, depth);
                if (!x || json_array_append_new(cur, x))
                    dfail(c, EVL_ENOMEM, "out of memory");
            } else {
                dfail(c, EVL_ESCHEMA_MISMATCH, "%s: wrong wire type %d", f->name, wt);
            }
        } else if (wt != ewt) {
            dfail(c, EVL_ESCHEMA_MISMATCH, "%s: wrong wire type %d", f->name, wt);
        } else {
            json_t *x = dec_value(c, f, f->type, r, cur, depth);
            if (!x) {
                dfail(c, EVL_ENOMEM, "out of memory");
            } else {
                if (f->oneof >= 0) /* a oneof member clears its siblings */
                    for (size_t i = 0; i < m->nfields; i++) {
                        if (&m->fields[i] == f || m->fields[i].oneof != f->oneof)
                            continue;
                        char *on = jname(&m->fields[i]);
                        if (on)
                            json_object_del(obj, on);
                        free(on);
                    }
                if (json_object_set_new(obj, jn, x))
                    dfail(c, EVL_ENOMEM, "out of memory");
            }
        }
        free(jn);
    }
    if (c->rc) {
        json_decref(obj);
        return NULL;
    }
    /* declaration order; defaults of fields without presence left out */
    json_t *res = json_object();
    for (size_t i = 0; res && i < m->nfields; i++) {
        const evl_pb_field_t *f = &m->fields[i];
        char *jn = jname(f);
        json_t *v = jn ? json_object_get(obj, jn) : NULL;
        int keep = v != NULL;
        if (v && (f->is_map || f->label == PB_L_REPEATED))
            keep = json_is_array(v) ? json_array_size(v) > 0 : json_object_size(v) > 0;
        else if (v && m->proto3 && !f->proto3_optional && f->oneof < 0 && f->type != PB_MESSAGE)
            keep = !is_default_json(f, v);
        if (!jn || (keep && json_object_set(res, jn, v))) {
            json_decref(res);
            res = NULL;
        }
        free(jn);
    }
    json_decref(obj);
    if (!res)
        dfail(c, EVL_ENOMEM, "out of memory");
    return res;
}

/* ---- JSON text: our printer (shortest reals) ---- */

static int emit_str(evl_sr_buf_t *b, const char *s, size_t n)
{
    int rc = evl__sr_buf_byte(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            rc = evl__sr_buf_put(b, e, 2);
        } else if (ch < 0x20) {
            rc = evl__sr_buf_printf(b, "\\u%04x", ch);
        } else {
            rc = evl__sr_buf_byte(b, ch);
        }
    }
    return rc ? rc : evl__sr_buf_byte(b, '"');
}

static int emit(evl_sr_buf_t *b, const json_t *j, int depth)
{
    int rc = 0;
    if (depth > PB_MAX_DEPTH + 4)
        return EVL_ESCHEMA_MISMATCH;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        int first = 1;
        rc = evl__sr_buf_byte(b, '{');
        json_object_foreach((json_t *)j, k, v)
        {
            if (!rc && !first)
                rc = evl__sr_buf_byte(b, ',');
            first = 0;
            if (!rc)
                rc = emit_str(b, k, strlen(k));
            if (!rc)
                rc = evl__sr_buf_byte(b, ':');
            if (!rc)
                rc = emit(b, v, depth + 1);
        }
        return rc ? rc : evl__sr_buf_byte(b, '}');
    }
    case JSON_ARRAY:
        rc = evl__sr_buf_byte(b, '[');
        for (size_t i = 0; i < json_array_size(j) && !rc; i++) {
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = emit(b, json_array_get(j, i), depth + 1);
        }
        return rc ? rc : evl__sr_buf_byte(b, ']');
    case JSON_STRING: return emit_str(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return evl__sr_buf_printf(b, "%lld", (long long)json_integer_value(j));
    case JSON_REAL: {
        double d = json_real_value(j);
        char buf[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return evl__sr_buf_put(b, buf, strlen(buf));
    }
    case JSON_TRUE: return evl__sr_buf_put(b, "true", 4);
    case JSON_FALSE: return evl__sr_buf_put(b, "false", 5);
    default: return evl__sr_buf_put(b, "null", 4);
    }
}

int evl__pb_decode(const void *writer, const void *reader, const int *path, size_t depth,
                   const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err,
                   size_t errlen)
{
    dx_t c = {err, errlen, 0};
    const evl_pb_schema_t *w = writer;
    const evl_pb_msg_t *m = NULL;
    if (depth > 0 && path[0] >= 0 && (size_t)path[0] < w->file->nmsgs) {
        m = w->file->msgs[path[0]];
        for (size_t i = 1; m && i < depth; i++)
            m = path[i] >= 0 && (size_t)path[i] < m->nmsgs ? m->msgs[path[i]] : NULL;
    }
    if (!m) {
        dfail(&c, EVL_ESCHEMA_MISMATCH, "no message at that index path");
        return c.rc;
    }
    if (reader) {
        const evl_pb_msg_t *rm = evl__pb_find_msg(reader, m->full_name);
        if (!rm) {
            dfail(&c, EVL_ESCHEMA_MISMATCH, "the reader's schema has no message %s",
                  m->full_name);
            return c.rc;
        }
        m = rm;
    }
    rd_t r = {data, len, 0};
    json_t *obj = dec_msg(&c, m, &r, NULL, 0);
    if (!obj)
        return c.rc ? c.rc : EVL_ENOMEM;
    size_t start = out->n;
    int rc = emit(out, obj, 0);
    json_decref(obj);
    if (rc) {
        out->n = start;
        dfail(&c, rc, "%s", rc == EVL_ENOMEM ? "out of memory" : "nested too deeply");
    }
    return c.rc;
}
