/*
 * avro_codec.c - Avro's JSON encoding <-> Avro binary, for the registry's
 * serializers (JSON text in, Confluent payload out) and deserializers
 * (payload in, JSON text out, optionally resolved to a reader's schema).
 *
 * Decisions:
 * - Encoding takes the JSON encoding of the spec (unions as {"type": v} or
 *   null; bytes and fixed as strings of code points 0-255) and, more
 *   leniently than kafka-avro-console-producer, a bare value for a union
 *   when exactly one branch fits it. Several fitting branches are an error
 *   (ambiguous), never a guess.
 * - Decoding always goes through resolution; without a reader schema the
 *   writer's schema reads itself. One code path, tested twice as hard.
 * - Payloads are hostile: every length is checked against the bytes left,
 *   varints are at most 10 bytes, data nesting is capped
 *   (EVL_AVRO_MAX_DATA_DEPTH) and a work budget bounds the values decoded
 *   (an array of a million nulls takes no bytes but would take time and
 *   memory), so output size and time are bounded by the input size.
 * - Floats are written in the shortest form that reads back to the same
 *   value; NaN and infinities (no JSON form) as the strings "NaN",
 *   "Infinity", "-Infinity", which the encoder accepts back (Jackson's
 *   convention, as Java's JsonDecoder).
 */
#include "avro_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cctx {
    char *err;
    size_t errlen;
    int quiet;    /* trying a union branch: no message */
    int failed;
    long budget;  /* values left to encode / decode */
    char path[256];
    size_t plen;
    /* decode */
    const uint8_t *p, *end;
} cctx_t;

static int fail(cctx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cctx_t *c, int rc, const char *fmt, ...)
{
    if (rc == EVL_ENOMEM || c->quiet || c->failed)
        return rc;
    c->failed = 1;
    if (c->err && c->errlen) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "at %s: %s", c->plen ? c->path : "/", msg);
    }
    return rc;
}

static size_t push(cctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(cctx_t *c, const char *fmt, ...)
{
    size_t old = c->plen;
    if (c->plen + 2 >= sizeof c->path)
        return old;
    c->path[c->plen] = '/';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->plen + 1, sizeof c->path - c->plen - 1, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        size_t nl = c->plen + 1 + (size_t)n;
        c->plen = nl < sizeof c->path ? nl : sizeof c->path - 1;
    }
    return old;
}

static void pop(cctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = 0;
}

/* ======================================================================
 * Encoding: JSON -> binary
 * ====================================================================== */

/* A JSON string of code points 0-255 as bytes; -1 when a code point is
 * above 255. Decoded in place into out (at least n bytes). */
static long latin1(const char *s, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            out[k++] = b;
            i++;
        } else if ((b == 0xC2 || b == 0xC3) && i + 1 < n) {
            out[k++] = (uint8_t)(((b & 0x03) << 6) | ((unsigned char)s[i + 1] & 0x3F));
            i += 2;
        } else {
            return -1;
        }
    }
    return (long)k;
}

static int json_float(json_t *v, double *d)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    if (!strcmp(s, "NaN"))
        *d = NAN;
    else if (!strcmp(s, "Infinity"))
        *d = INFINITY;
    else if (!strcmp(s, "-Infinity"))
        *d = -INFINITY;
    else
        return -1;
    return 0;
}

/* Could v be a value of n, judging by its JSON type alone (records and
 * arrays are not looked into)? The first filter of bare union values. */
static int fits(const evl_avro_node_t *n, json_t *v)
{
    double d;
    switch (n->kind) {
    case EVL_AVRO_NULL: return json_is_null(v);
    case EVL_AVRO_BOOLEAN: return json_is_boolean(v);
    case EVL_AVRO_INT:
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
               json_integer_value(v) <= INT32_MAX;
    case EVL_AVRO_LONG: return json_is_integer(v);
    case EVL_AVRO_FLOAT:
    case EVL_AVRO_DOUBLE: return json_float(v, &d) == 0;
    case EVL_AVRO_STRING: return json_is_string(v);
    case EVL_AVRO_BYTES:
    case EVL_AVRO_FIXED: {
        if (!json_is_string(v))
            return 0;
        uint8_t *tmp = malloc(json_string_length(v) + 1);
        long k = tmp ? latin1(json_string_value(v), json_string_length(v), tmp) : -1;
        free(tmp);
        return n->kind == EVL_AVRO_BYTES ? k >= 0 : k == (long)n->size;
    }
    case EVL_AVRO_ENUM:
        return json_is_string(v) && evl__avro_symbol_index(n, json_string_value(v)) >= 0;
    case EVL_AVRO_ARRAY: return json_is_array(v);
    case EVL_AVRO_MAP:
    case EVL_AVRO_RECORD: return json_is_object(v);
    case EVL_AVRO_UNION: return 0;
    }
    return 0;
}

static int enc(cctx_t *c, const evl_avro_node_t *n, json_t *v, evl_sr_buf_t *b, int depth,
               int dflt);

static int enc_union(cctx_t *c, const evl_avro_node_t *n, json_t *v, evl_sr_buf_t *b,
                     int depth, int dflt)
{
    int rc;
    if (n->nbranches == 0)
        return fail(c, EVL_ESCHEMA_INVALID, "an empty union has no values");
    if (dflt) {
        /* A default's union value is of the first branch (spec). */
        if ((rc = evl__sr_put_zigzag(b, 0)) < 0)
            return rc;
        return enc(c, n->branches[0], v, b, depth + 1, dflt);
    }
    if (json_is_null(v)) {
        for (size_t i = 0; i < n->nbranches; i++)
            if (n->branches[i]->kind == EVL_AVRO_NULL)
                return evl__sr_put_zigzag(b, (int64_t)i);
        return fail(c, EVL_ESCHEMA_INVALID, "null, but the union has no null branch");
    }
    if (json_is_object(v) && json_object_size(v) == 1) {
        /* The spec's form {"type name": value}. */
        const char *key = json_object_iter_key(json_object_iter(v));
        for (size_t i = 0; i < n->nbranches; i++) {
            const evl_avro_node_t *br = n->branches[i];
            if (strcmp(evl__avro_type_name(br), key) == 0 ||
                (br->name && strcmp(br->name, key) == 0)) {
                if ((rc = evl__sr_put_zigzag(b, (int64_t)i)) < 0)
                    return rc;
                size_t o = push(c, "%s", key);
                rc = enc(c, br, json_object_iter_value(json_object_iter(v)), b, depth + 1, 0);
                pop(c, o);
                return rc;
            }
        }
    }
    /* A bare value: the one branch it fits. */
    size_t cand = 0, last = 0;
    for (size_t i = 0; i < n->nbranches; i++)
        if (fits(n->branches[i], v)) {
            cand++;
            last = i;
        }
    if (cand == 1) {
        if ((rc = evl__sr_put_zigzag(b, (int64_t)last)) < 0)
            return rc;
        return enc(c, n->branches[last], v, b, depth + 1, 0);
    }
    if (cand == 0)
        return fail(c, EVL_ESCHEMA_INVALID, "the value fits no branch of the union");
    /* Several by JSON type (two records, int and long, ...): try each. */
    size_t ok = 0, okat = 0;
    evl_sr_buf_t good = {0};
    for (size_t i = 0; i < n->nbranches; i++) {
        if (!fits(n->branches[i], v))
            continue;
        evl_sr_buf_t t = {0};
        int quiet = c->quiet;
        c->quiet = 1;
        rc = enc(c, n->branches[i], v, &t, depth + 1, 0);
        c->quiet = quiet;
        if (rc == EVL_ENOMEM || c->budget < 0) {
            evl__sr_buf_free(&t);
            evl__sr_buf_free(&good);
            return rc == EVL_ENOMEM ? rc : fail(c, EVL_ESCHEMA_INVALID, "value too complex");
        }
        if (rc == 0) {
            ok++;
            okat = i;
            evl__sr_buf_free(&good);
            good = t;
        } else {
            evl__sr_buf_free(&t);
        }
    }
    if (ok != 1) {
        evl__sr_buf_free(&good);
        return fail(c, EVL_ESCHEMA_INVALID,
                    ok ? "the value fits several branches of the union: write it as "
                         "{\"type\": value}"
                       : "the value fits no branch of the union");
    }
    rc = evl__sr_put_zigzag(b, (int64_t)okat);
    if (!rc)
        rc = evl__sr_buf_put(b, good.p, good.n);
    evl__sr_buf_free(&good);
    return rc;
}

static int enc_record(cctx_t *c, const evl_avro_node_t *n, json_t *v, evl_sr_buf_t *b,
                      int depth, int dflt)
{
    if (!json_is_object(v))
        return fail(c, EVL_ESCHEMA_INVALID, "expected an object (record %s)", n->fullname);
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) if (evl__avro_field_index(n, k) < 0) return fail(
        c, EVL_ESCHEMA_INVALID, "record %s has no field '%.100s'", n->fullname, k);
    for (size_t i = 0; i < n->nfields; i++) {
        const evl_avro_field_t *f = &n->fields[i];
        json_t *fv = json_object_get(v, f->name);
        int fd = dflt;
        if (!fv) {
            if (!f->def) {
                size_t o = push(c, "%s", f->name);
                int rc = fail(c, EVL_ESCHEMA_INVALID, "missing field (it has no default)");
                pop(c, o);
                return rc;
            }
            fv = f->def;
            fd = 1;
        }
        size_t o = push(c, "%s", f->name);
        int rc = enc(c, f->type, fv, b, depth + 1, fd);
        pop(c, o);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int enc(cctx_t *c, const evl_avro_node_t *n, json_t *v, evl_sr_buf_t *b, int depth,
               int dflt)
{
    if (--c->budget < 0)
        return fail(c, EVL_ESCHEMA_INVALID, "value too complex");
    if (depth > EVL_AVRO_MAX_DATA_DEPTH)
        return fail(c, EVL_ESCHEMA_INVALID, "nested deeper than %d", EVL_AVRO_MAX_DATA_DEPTH);
    int rc;
    double d;
    switch (n->kind) {
    case EVL_AVRO_NULL:
        return json_is_null(v) ? 0 : fail(c, EVL_ESCHEMA_INVALID, "expected null");
    case EVL_AVRO_BOOLEAN:
        if (!json_is_boolean(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected a boolean");
        return evl__sr_buf_byte(b, json_is_true(v) ? 1 : 0);
    case EVL_AVRO_INT:
    case EVL_AVRO_LONG:
        if (!json_is_integer(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected an integer (%s)",
                        n->kind == EVL_AVRO_INT ? "int" : "long");
        if (n->kind == EVL_AVRO_INT &&
            (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX))
            return fail(c, EVL_ESCHEMA_INVALID, "%lld is out of the range of an int",
                        (long long)json_integer_value(v));
        return evl__sr_put_zigzag(b, (int64_t)json_integer_value(v));
    case EVL_AVRO_FLOAT:
    case EVL_AVRO_DOUBLE:
        if (json_float(v, &d) < 0)
            return fail(c, EVL_ESCHEMA_INVALID, "expected a number");
        if (n->kind == EVL_AVRO_FLOAT) {
            float f = (float)d;
            uint32_t u;
            memcpy(&u, &f, 4);
            return evl__sr_put_le(b, u, 4);
        } else {
            uint64_t u;
            memcpy(&u, &d, 8);
            return evl__sr_put_le(b, u, 8);
        }
    case EVL_AVRO_STRING:
        if (!json_is_string(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected a string");
        if ((rc = evl__sr_put_zigzag(b, (int64_t)json_string_length(v))) < 0)
            return rc;
        return evl__sr_buf_put(b, json_string_value(v), json_string_length(v));
    case EVL_AVRO_BYTES:
    case EVL_AVRO_FIXED: {
        if (!json_is_string(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected a string of code points 0-255");
        uint8_t *tmp = malloc(json_string_length(v) + 1);
        if (!tmp)
            return EVL_ENOMEM;
        long k = latin1(json_string_value(v), json_string_length(v), tmp);
        if (k < 0)
            rc = fail(c, EVL_ESCHEMA_INVALID, "a code point above 255 in bytes");
        else if (n->kind == EVL_AVRO_FIXED && (size_t)k != n->size)
            rc = fail(c, EVL_ESCHEMA_INVALID, "%ld bytes for fixed %s of size %zu", k,
                      n->fullname, n->size);
        else if (n->kind == EVL_AVRO_BYTES && (rc = evl__sr_put_zigzag(b, k)) < 0)
            ;
        else
            rc = evl__sr_buf_put(b, tmp, (size_t)k);
        free(tmp);
        return rc;
    }
    case EVL_AVRO_ENUM: {
        long i = json_is_string(v) ? evl__avro_symbol_index(n, json_string_value(v)) : -1;
        if (i < 0)
            return fail(c, EVL_ESCHEMA_INVALID, "not a symbol of enum %s", n->fullname);
        return evl__sr_put_zigzag(b, i);
    }
    case EVL_AVRO_ARRAY:
        if (!json_is_array(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected an array");
        if (json_array_size(v)) {
            if ((rc = evl__sr_put_zigzag(b, (int64_t)json_array_size(v))) < 0)
                return rc;
            for (size_t i = 0; i < json_array_size(v); i++) {
                size_t o = push(c, "%zu", i);
                rc = enc(c, n->items, json_array_get(v, i), b, depth + 1, dflt);
                pop(c, o);
                if (rc < 0)
                    return rc;
            }
        }
        return evl__sr_buf_byte(b, 0);
    case EVL_AVRO_MAP: {
        if (!json_is_object(v))
            return fail(c, EVL_ESCHEMA_INVALID, "expected an object (map)");
        if (json_object_size(v)) {
            if ((rc = evl__sr_put_zigzag(b, (int64_t)json_object_size(v))) < 0)
                return rc;
            const char *k;
            json_t *e;
            json_object_foreach(v, k, e)
            {
                size_t kl = strlen(k);
                if ((rc = evl__sr_put_zigzag(b, (int64_t)kl)) < 0 || (rc = evl__sr_buf_put(b, k, kl)) < 0)
                    return rc;
                size_t o = push(c, "%s", k);
                rc = enc(c, n->items, e, b, depth + 1, dflt);
                pop(c, o);
                if (rc < 0)
                    return rc;
            }
        }
        return evl__sr_buf_byte(b, 0);
    }
    case EVL_AVRO_RECORD: return enc_record(c, n, v, b, depth, dflt);
    case EVL_AVRO_UNION: return enc_union(c, n, v, b, depth, dflt);
    }
    return fail(c, EVL_ESCHEMA_INVALID, "unknown type");
}

int evl__avro_encode(const void *schema, const int *path, size_t depth, const char *json,
                     size_t len, evl_sr_buf_t *out, char *err, size_t errlen)
{
    const evl_avro_schema_t *s = schema;
    cctx_t c = {.err = err, .errlen = errlen, .budget = 1000000 + 16 * (long)(len & 0xFFFFFFF)};
    if (err && errlen)
        err[0] = 0;
    json_error_t je;
    json_t *v = json_loadb(json ? json : "", json ? len : 0, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                           &je);
    if (!v)
        return fail(&c, EVL_ESCHEMA_INVALID, "not JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
    size_t start = out->n;
    int rc = enc(&c, s->root, v, out, 0, 0);
    json_decref(v);
    if (rc < 0)
        out->n = start; /* nothing half-written */
    return rc;
}

/* ======================================================================
 * Decoding: binary -> JSON, with resolution
 * ====================================================================== */

#define MISMATCH EVL_ESCHEMA_MISMATCH

static int get_long(cctx_t *c, int64_t *v)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end)
            return fail(c, MISMATCH, "truncated (a varint)");
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1)
            return fail(c, MISMATCH, "a varint longer than 64 bits");
        z |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return fail(c, MISMATCH, "a varint longer than 10 bytes");
}

static int get_len(cctx_t *c, size_t *n)
{
    int64_t v;
    int rc = get_long(c, &v);
    if (rc < 0)
        return rc;
    if (v < 0)
        return fail(c, MISMATCH, "a negative length (%lld)", (long long)v);
    if ((uint64_t)v > (uint64_t)(c->end - c->p))
        return fail(c, MISMATCH, "a length (%lld) beyond the %zu bytes left", (long long)v,
                    (size_t)(c->end - c->p));
    *n = (size_t)v;
    return 0;
}

/* Length of the UTF-8 sequence at s (n bytes left), or 0 when invalid
 * (overlong forms, surrogates, above U+10FFFF refused). */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    size_t len;
    uint32_t cp;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        cp = b & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A JSON string of s: UTF-8 text (checked) or, bin, bytes as code points. */
static int put_jstr(cctx_t *c, evl_sr_buf_t *b, const uint8_t *s, size_t n, int bin)
{
    int rc = evl__sr_buf_byte(b, '"');
    for (size_t i = 0; rc == 0 && i < n;) {
        uint8_t ch = s[i];
        if (ch == '"' || ch == '\\') {
            uint8_t e[2] = {'\\', ch};
            rc = evl__sr_buf_put(b, e, 2);
            i++;
        } else if (ch < 0x20 || ch == 0x7F) {
            rc = evl__sr_buf_printf(b, "\\u%04x", ch);
            i++;
        } else if (ch < 0x80) {
            rc = evl__sr_buf_byte(b, ch);
            i++;
        } else if (bin) {
            uint8_t e[2] = {(uint8_t)(0xC0 | (ch >> 6)), (uint8_t)(0x80 | (ch & 0x3F))};
            rc = evl__sr_buf_put(b, e, 2);
            i++;
        } else {
            size_t k = utf8_seq(s + i, n - i);
            if (!k)
                return fail(c, MISMATCH, "a string that is not UTF-8");
            rc = evl__sr_buf_put(b, s + i, k);
            i += k;
        }
    }
    return rc ? rc : evl__sr_buf_byte(b, '"');
}

static int put_double(evl_sr_buf_t *b, double d, int single)
{
    if (isnan(d))
        return evl__sr_buf_printf(b, "\"NaN\"");
    if (isinf(d))
        return evl__sr_buf_printf(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char tmp[40];
    /* The shortest that reads back the same. */
    for (int prec = single ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (single ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
            break;
    }
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    return evl__sr_buf_put(b, tmp, strlen(tmp));
}

static int get_double(cctx_t *c, int size, double *d)
{
    if (c->end - c->p < size)
        return fail(c, MISMATCH, "truncated (a %s)", size == 4 ? "float" : "double");
    uint64_t u = 0;
    for (int i = 0; i < size; i++)
        u |= (uint64_t)c->p[i] << (8 * i);
    c->p += size;
    if (size == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        *d = f;
    } else {
        memcpy(d, &u, 8);
    }
    return 0;
}

/* The JSON encoding of a reader default (unions: the first branch). */
static int put_default(cctx_t *c, const evl_avro_node_t *n, json_t *v, evl_sr_buf_t *b,
                       int depth)
{
    if (--c->budget < 0)
        return fail(c, MISMATCH, "payload too complex");
    if (depth > 2 * EVL_AVRO_MAX_DATA_DEPTH)
        return fail(c, MISMATCH, "default nested too deep");
    int rc = 0;
    switch (n->kind) {
    case EVL_AVRO_UNION:
        if (!n->nbranches)
            return fail(c, MISMATCH, "empty union");
        if (n->branches[0]->kind == EVL_AVRO_NULL)
            return evl__sr_buf_printf(b, "null");
        rc = evl__sr_buf_byte(b, '{');
        if (!rc)
            rc = put_jstr(c, b, (const uint8_t *)evl__avro_type_name(n->branches[0]),
                          strlen(evl__avro_type_name(n->branches[0])), 0);
        if (!rc)
            rc = evl__sr_buf_byte(b, ':');
        if (!rc)
            rc = put_default(c, n->branches[0], v, b, depth + 1);
        return rc ? rc : evl__sr_buf_byte(b, '}');
    case EVL_AVRO_RECORD:
        rc = evl__sr_buf_byte(b, '{');
        for (size_t i = 0; !rc && i < n->nfields; i++) {
            json_t *fv = json_object_get(v, n->fields[i].name);
            if (!fv)
                fv = n->fields[i].def;
            if (!fv)
                return fail(c, MISMATCH, "default lacks field %s", n->fields[i].name);
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = put_jstr(c, b, (const uint8_t *)n->fields[i].name,
                              strlen(n->fields[i].name), 0);
            if (!rc)
                rc = evl__sr_buf_byte(b, ':');
            if (!rc)
                rc = put_default(c, n->fields[i].type, fv, b, depth + 1);
        }
        return rc ? rc : evl__sr_buf_byte(b, '}');
    case EVL_AVRO_ARRAY:
        rc = evl__sr_buf_byte(b, '[');
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = put_default(c, n->items, json_array_get(v, i), b, depth + 1);
        }
        return rc ? rc : evl__sr_buf_byte(b, ']');
    case EVL_AVRO_MAP: {
        const char *k;
        json_t *e;
        int first = 1;
        rc = evl__sr_buf_byte(b, '{');
        json_object_foreach(v, k, e)
        {
            if (!rc && !first)
                rc = evl__sr_buf_byte(b, ',');
            first = 0;
            if (!rc)
                rc = put_jstr(c, b, (const uint8_t *)k, strlen(k), 0);
            if (!rc)
                rc = evl__sr_buf_byte(b, ':');
            if (!rc)
                rc = put_default(c, n->items, e, b, depth + 1);
            if (rc)
                return rc;
        }
        return rc ? rc : evl__sr_buf_byte(b, '}');
    }
    case EVL_AVRO_FLOAT:
    case EVL_AVRO_DOUBLE:
        return put_double(b, json_number_value(v), n->kind == EVL_AVRO_FLOAT);
    default: {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s)
            return EVL_ENOMEM;
        rc = evl__sr_buf_put(b, s, strlen(s));
        free(s);
        return rc;
    }
    }
}

static int dec(cctx_t *c, const evl_avro_node_t *w, const evl_avro_node_t *r, evl_sr_buf_t *b,
               int depth);

/* The reader union's branch that reads writer type w: the first of the
 * same type (and name), else the first w promotes to (spec: "the first
 * schema in the reader's union that matches"). */
static long pick_branch(const evl_avro_node_t *r, const evl_avro_node_t *w)
{
    for (size_t i = 0; i < r->nbranches; i++) {
        const evl_avro_node_t *br = r->branches[i];
        if (br->kind == w->kind &&
            (!br->name || !w->name || evl__avro_names_match(br, w)))
            return (long)i;
    }
    for (size_t i = 0; i < r->nbranches; i++) {
        evl_avro_kind_t rk = r->branches[i]->kind, wk = w->kind;
        if ((rk == EVL_AVRO_LONG && wk == EVL_AVRO_INT) ||
            (rk == EVL_AVRO_FLOAT && (wk == EVL_AVRO_INT || wk == EVL_AVRO_LONG)) ||
            (rk == EVL_AVRO_DOUBLE &&
             (wk == EVL_AVRO_INT || wk == EVL_AVRO_LONG || wk == EVL_AVRO_FLOAT)) ||
            (rk == EVL_AVRO_STRING && wk == EVL_AVRO_BYTES) ||
            (rk == EVL_AVRO_BYTES && wk == EVL_AVRO_STRING))
            return (long)i;
    }
    return -1;
}

static int dec_blocks(cctx_t *c, const evl_avro_node_t *w, const evl_avro_node_t *r,
                      evl_sr_buf_t *b, int depth)
{
    int map = w->kind == EVL_AVRO_MAP;
    int rc = evl__sr_buf_byte(b, map ? '{' : '[');
    size_t count = 0;
    while (rc == 0) {
        int64_t n;
        if ((rc = get_long(c, &n)) < 0)
            return rc;
        if (n == 0)
            break;
        if (n < 0) {
            /* A negative count is followed by the block's size in bytes. */
            int64_t sz;
            if (n == INT64_MIN)
                return fail(c, MISMATCH, "a block count out of range");
            n = -n;
            if ((rc = get_long(c, &sz)) < 0)
                return rc;
            if (sz < 0 || (uint64_t)sz > (uint64_t)(c->end - c->p))
                return fail(c, MISMATCH, "a block size beyond the bytes left");
        }
        if (n > c->budget)
            return fail(c, MISMATCH, "a block of %lld items: too many", (long long)n);
        for (int64_t i = 0; i < n; i++, count++) {
            if (count && (rc = evl__sr_buf_byte(b, ',')) < 0)
                return rc;
            size_t o;
            if (map) {
                size_t kl;
                if ((rc = get_len(c, &kl)) < 0)
                    return rc;
                const uint8_t *k = c->p;
                c->p += kl;
                if ((rc = put_jstr(c, b, k, kl, 0)) < 0 || (rc = evl__sr_buf_byte(b, ':')) < 0)
                    return rc;
                o = push(c, "%.*s", (int)(kl > 64 ? 64 : kl), (const char *)k);
            } else {
                o = push(c, "%zu", count);
            }
            rc = dec(c, w->items, r->items, b, depth + 1);
            pop(c, o);
            if (rc < 0)
                return rc;
        }
    }
    return rc ? rc : evl__sr_buf_byte(b, map ? '}' : ']');
}

static int dec_record(cctx_t *c, const evl_avro_node_t *w, const evl_avro_node_t *r,
                      evl_sr_buf_t *b, int depth)
{
    if (!evl__avro_names_match(r, w))
        return fail(c, MISMATCH, "record %s cannot read record %s", r->fullname, w->fullname);
    evl_sr_buf_t *parts = calloc(r->nfields + 1, sizeof *parts);
    char *have = calloc(r->nfields + 1, 1);
    int rc = parts && have ? 0 : EVL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < w->nfields; i++) {
        const evl_avro_field_t *wf = &w->fields[i];
        long ri = evl__avro_field_for(r, wf->name);
        size_t o = push(c, "%s", wf->name);
        if (ri >= 0 && !have[ri]) {
            rc = dec(c, wf->type, r->fields[ri].type, &parts[ri], depth + 1);
            have[ri] = 1;
        } else {
            evl_sr_buf_t skip = {0}; /* a writer-only field: read, dropped */
            rc = dec(c, wf->type, wf->type, &skip, depth + 1);
            evl__sr_buf_free(&skip);
        }
        pop(c, o);
    }
    for (size_t i = 0; rc == 0 && i < r->nfields; i++) {
        if (have[i])
            continue;
        if (!r->fields[i].def) {
            size_t o = push(c, "%s", r->fields[i].name);
            rc = fail(c, MISMATCH, "the writer lacks the field and the reader has no default");
            pop(c, o);
        } else {
            rc = put_default(c, r->fields[i].type, r->fields[i].def, &parts[i], depth + 1);
        }
    }
    if (rc == 0)
        rc = evl__sr_buf_byte(b, '{');
    for (size_t i = 0; rc == 0 && i < r->nfields; i++) {
        if (i)
            rc = evl__sr_buf_byte(b, ',');
        if (!rc)
            rc = put_jstr(c, b, (const uint8_t *)r->fields[i].name, strlen(r->fields[i].name),
                          0);
        if (!rc)
            rc = evl__sr_buf_byte(b, ':');
        if (!rc)
            rc = evl__sr_buf_put(b, parts[i].p, parts[i].n);
    }
    if (rc == 0)
        rc = evl__sr_buf_byte(b, '}');
    for (size_t i = 0; parts && i < r->nfields; i++)
        evl__sr_buf_free(&parts[i]);
    free(parts);
    free(have);
    return rc;
}

static int dec(cctx_t *c, const evl_avro_node_t *w, const evl_avro_node_t *r, evl_sr_buf_t *b,
               int depth)
{
    if (--c->budget < 0)
        return fail(c, MISMATCH, "payload too complex");
    if (depth > EVL_AVRO_MAX_DATA_DEPTH)
        return fail(c, MISMATCH, "nested deeper than %d", EVL_AVRO_MAX_DATA_DEPTH);
    int rc;
    int64_t v;
    double d;
    size_t n;
    if (w->kind == EVL_AVRO_UNION) {
        if ((rc = get_long(c, &v)) < 0)
            return rc;
        if (v < 0 || (uint64_t)v >= w->nbranches)
            return fail(c, MISMATCH, "union branch %lld of %zu", (long long)v, w->nbranches);
        return dec(c, w->branches[v], r, b, depth + 1);
    }
    if (r->kind == EVL_AVRO_UNION) {
        long i = pick_branch(r, w);
        if (i < 0)
            return fail(c, MISMATCH, "the reader's union has no branch for %s",
                        evl__avro_type_name(w));
        const evl_avro_node_t *br = r->branches[i];
        if (br->kind == EVL_AVRO_NULL)
            return dec(c, w, br, b, depth + 1);
        const char *tn = evl__avro_type_name(br);
        if ((rc = evl__sr_buf_byte(b, '{')) < 0 ||
            (rc = put_jstr(c, b, (const uint8_t *)tn, strlen(tn), 0)) < 0 ||
            (rc = evl__sr_buf_byte(b, ':')) < 0 || (rc = dec(c, w, br, b, depth + 1)) < 0)
            return rc;
        return evl__sr_buf_byte(b, '}');
    }
    evl_avro_kind_t wk = w->kind;
    switch (r->kind) {
    case EVL_AVRO_NULL:
        if (wk != EVL_AVRO_NULL)
            break;
        return evl__sr_buf_printf(b, "null");
    case EVL_AVRO_BOOLEAN:
        if (wk != EVL_AVRO_BOOLEAN)
            break;
        if (c->p >= c->end)
            return fail(c, MISMATCH, "truncated (a boolean)");
        if (*c->p > 1)
            return fail(c, MISMATCH, "a boolean byte of %u", *c->p);
        return evl__sr_buf_printf(b, *c->p++ ? "true" : "false");
    case EVL_AVRO_INT:
    case EVL_AVRO_LONG:
        if (wk != EVL_AVRO_INT && !(wk == EVL_AVRO_LONG && r->kind == EVL_AVRO_LONG))
            break;
        if ((rc = get_long(c, &v)) < 0)
            return rc;
        if (wk == EVL_AVRO_INT && (v < INT32_MIN || v > INT32_MAX))
            return fail(c, MISMATCH, "an int out of range");
        return evl__sr_buf_printf(b, "%lld", (long long)v);
    case EVL_AVRO_FLOAT:
    case EVL_AVRO_DOUBLE:
        if (wk == EVL_AVRO_INT || wk == EVL_AVRO_LONG) {
            if ((rc = get_long(c, &v)) < 0)
                return rc;
            if (wk == EVL_AVRO_INT && (v < INT32_MIN || v > INT32_MAX))
                return fail(c, MISMATCH, "an int out of range");
            d = (double)v;
        } else if (wk == EVL_AVRO_FLOAT || (wk == EVL_AVRO_DOUBLE && r->kind == EVL_AVRO_DOUBLE)) {
            if ((rc = get_double(c, wk == EVL_AVRO_FLOAT ? 4 : 8, &d)) < 0)
                return rc;
        } else {
            break;
        }
        return put_double(b, d, r->kind == EVL_AVRO_FLOAT);
    case EVL_AVRO_STRING:
    case EVL_AVRO_BYTES:
        if (wk != EVL_AVRO_STRING && wk != EVL_AVRO_BYTES)
            break;
        if ((rc = get_len(c, &n)) < 0)
            return rc;
        c->p += n;
        return put_jstr(c, b, c->p - n, n, r->kind == EVL_AVRO_BYTES);
    case EVL_AVRO_FIXED:
        if (wk != EVL_AVRO_FIXED)
            break;
        if (!evl__avro_names_match(r, w) || r->size != w->size)
            return fail(c, MISMATCH, "fixed %s cannot read fixed %s", r->fullname, w->fullname);
        if ((size_t)(c->end - c->p) < w->size)
            return fail(c, MISMATCH, "truncated (fixed of %zu bytes)", w->size);
        c->p += w->size;
        return put_jstr(c, b, c->p - w->size, w->size, 1);
    case EVL_AVRO_ENUM: {
        if (wk != EVL_AVRO_ENUM)
            break;
        if (!evl__avro_names_match(r, w))
            return fail(c, MISMATCH, "enum %s cannot read enum %s", r->fullname, w->fullname);
        if ((rc = get_long(c, &v)) < 0)
            return rc;
        if (v < 0 || (uint64_t)v >= w->nsymbols)
            return fail(c, MISMATCH, "enum index %lld of %zu", (long long)v, w->nsymbols);
        long ri = evl__avro_symbol_index(r, w->symbols[v]);
        if (ri < 0)
            ri = r->enum_default;
        if (ri < 0)
            return fail(c, MISMATCH, "symbol %s is not in the reader's enum %s", w->symbols[v],
                        r->fullname);
        return put_jstr(c, b, (const uint8_t *)r->symbols[ri], strlen(r->symbols[ri]), 0);
    }
    case EVL_AVRO_ARRAY:
    case EVL_AVRO_MAP:
        if (wk != r->kind)
            break;
        return dec_blocks(c, w, r, b, depth);
    case EVL_AVRO_RECORD:
        if (wk != EVL_AVRO_RECORD)
            break;
        return dec_record(c, w, r, b, depth);
    case EVL_AVRO_UNION: break; /* handled above */
    }
    return fail(c, MISMATCH, "the reader's %s cannot read the writer's %s",
                evl__avro_type_name(r), evl__avro_type_name(w));
}

int evl__avro_decode(const void *writer, const void *reader, const int *path, size_t depth,
                     const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err,
                     size_t errlen)
{
    const evl_avro_schema_t *ws = writer, *rs = reader ? reader : writer;
    cctx_t c = {.err = err, .errlen = errlen, .p = data, .end = data + (data ? len : 0)};
    /* Bounded by the input: a value costs at least one unit, and a few
     * hundred thousand values of no bytes (nulls, empty records) is all a
     * payload may ask for on top of one per byte. */
    c.budget = 262144 + (long)(len > (size_t)1 << 30 ? (size_t)1 << 30 : len) * 4;
    if (err && errlen)
        err[0] = 0;
    size_t start = out->n;
    int rc = dec(&c, ws->root, rs->root, out, 0);
    if (rc == 0 && c.p != c.end)
        rc = fail(&c, MISMATCH, "%zu bytes left over after the value", (size_t)(c.end - c.p));
    if (rc < 0)
        out->n = start;
    return rc;
}
