/*
 * jsonschema_validate.c - the JSON Schema validator (draft-07, with the
 * draft-04/06 forms that differ cheaply: exclusiveMaximum/Minimum as
 * booleans, "id" for "$id" under a draft-04 $schema). Patterns are in
 * jsonschema_regex.c, formats in jsonschema_format.c.
 *
 * Keywords left out (they pass): contentMediaType, contentEncoding (draft-07
 * makes them optional annotations), readOnly/writeOnly and the other
 * annotations. Formats checked: date-time, date, time, email, hostname,
 * ipv4, ipv6, uri, uri-reference, uuid, regex, json-pointer,
 * relative-json-pointer; the others (idn-*, iri*, uri-template) pass.
 * Regex constructs refused (schema invalid): back-references, lookaround,
 * \p{..} classes, \D \W \S inside a class, empty classes [] and [^], \0.
 * Numbers: jansson refuses integers beyond 64 bits as JSON.
 */
#include "jsonschema_internal.h"

#include <math.h> /* isfinite only: the registry does not link libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- equality and numbers ---- */

static int cmp_num(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    long double x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
    long double y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
    return x < y ? -1 : x > y;
}

bool evl__js_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return cmp_num(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !evl__js_equal(v, w))
                return false;
        }
        return true;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!evl__js_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default:
        return true; /* true, false, null */
    }
}

static double dabs(double d)
{
    return d < 0 ? -d : d;
}

/* the nearest whole number (doubles from 2^53 up are all whole) */
static double whole(double d)
{
    if (dabs(d) >= 9007199254740992.0)
        return d;
    return (double)(long long)(d + (d >= 0 ? 0.5 : -0.5));
}

static bool is_integer(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && (dabs(d) >= 9007199254740992.0 || d == (double)(long long)d);
    }
    return false;
}

static bool has_type(const json_t *inst, const char *t)
{
    switch (t[0]) {
    case 'a': return json_is_array(inst);
    case 'b': return json_is_boolean(inst);
    case 'i': return is_integer(inst);
    case 'n': return t[1] == 'u' && t[2] == 'l' ? json_is_null(inst) : json_is_number(inst);
    case 'o': return json_is_object(inst);
    case 's': return json_is_string(inst);
    }
    return false;
}

static bool multiple_of(const json_t *inst, const json_t *m)
{
    if (json_is_integer(inst) && json_is_integer(m)) {
        json_int_t d = json_integer_value(m);
        return d != 0 && (d == -1 || json_integer_value(inst) % d == 0);
    }
    double a = json_number_value(inst), b = json_number_value(m);
    if (b == 0)
        return false;
    double q = a / b;
    if (!isfinite(q))
        return false;
    double r = whole(q);
    return dabs(q - r) <= 1e-9 * (dabs(q) > 1.0 ? dabs(q) : 1.0);
}

static size_t cp_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

/* ---- hashing for uniqueItems: equal (evl__js_equal) values hash alike ---- */

struct hidx {
    uint64_t h;
    size_t i;
};

static int cmp_hidx(const void *a, const void *b)
{
    const struct hidx *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static uint64_t bytes_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t value_hash(const json_t *v, int depth)
{
    if (depth > 64)
        return 0; /* deeper parts do not count: only more collisions */
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        /* 1 and 1.0 alike: hash the value as a double */
        double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
        if (d == 0)
            d = 0; /* -0.0 */
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        return mix(u ^ 0x1111);
    }
    case JSON_STRING:
        return mix(bytes_hash(json_string_value(v), json_string_length(v)) ^ 0x2222);
    case JSON_ARRAY: {
        uint64_t h = 0x3333;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = mix(h * 31 + value_hash(json_array_get(v, i), depth + 1));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t h = 0x4444;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) h +=
            mix(bytes_hash(k, strlen(k)) ^ value_hash(x, depth + 1));
        return mix(h);
    }
    case JSON_TRUE: return 0x5555;
    case JSON_FALSE: return 0x6666;
    default: return 0x7777;
    }
}

/* ---- the validator ---- */

/* Work bound: combinators over $refs can make validation exponential in
 * the document's depth (oneOf evaluates every branch); past this many
 * schema evaluations the document is refused with a message. */
#define STEP_BUDGET 2000000L

typedef struct vctx {
    const evl_js_schema_t *js;
    evl_sr_buf_t ptr; /* JSON pointer of the instance */
    int quiet;        /* inside anyOf/oneOf/not/if: failures are expected */
    char *err;
    size_t errlen;
    bool have_err;
    int rc;           /* a hard error (depth, memory, work) */
    long steps;
} vctx_t;

static int vfail(vctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(vctx_t *c, const char *fmt, ...)
{
    if (c->quiet || c->have_err || !c->errlen)
        return 0;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%.*s: %s", (int)(c->ptr.n ? c->ptr.n : 1),
             c->ptr.n ? (const char *)c->ptr.p : "/", msg);
    c->have_err = true;
    return 0;
}

static size_t push_key(vctx_t *c, const char *k)
{
    size_t n = c->ptr.n;
    int rc = evl__sr_buf_byte(&c->ptr, '/');
    for (const char *p = k; *p && !rc; p++)
        rc = *p == '~' ? evl__sr_buf_put(&c->ptr, "~0", 2)
             : *p == '/' ? evl__sr_buf_put(&c->ptr, "~1", 2)
                         : evl__sr_buf_byte(&c->ptr, (uint8_t)*p);
    if (rc && !c->rc)
        c->rc = EVL_ENOMEM;
    return n;
}

static size_t push_index(vctx_t *c, size_t i)
{
    size_t n = c->ptr.n;
    if (evl__sr_buf_printf(&c->ptr, "/%zu", i) < 0 && !c->rc)
        c->rc = EVL_ENOMEM;
    return n;
}

static int v(vctx_t *c, const json_t *s, const json_t *inst, int depth);

/* validate quietly (the caller decides what a failure means) */
static int vq(vctx_t *c, const json_t *s, const json_t *inst, int depth)
{
    c->quiet++;
    int r = v(c, s, inst, depth);
    c->quiet--;
    return r;
}

#define CHECK(r)                                                                                \
    do {                                                                                        \
        int r_ = (r);                                                                           \
        if (r_ != 1)                                                                            \
            return r_;                                                                          \
    } while (0)

static int v_number(vctx_t *c, const json_t *s, const json_t *inst)
{
    json_t *k;
    if ((k = json_object_get(s, "multipleOf")) && json_is_number(k) && !multiple_of(inst, k))
        return vfail(c, "multipleOf %g", json_number_value(k));
    json_t *exmax = json_object_get(s, "exclusiveMaximum");
    json_t *exmin = json_object_get(s, "exclusiveMinimum");
    if ((k = json_object_get(s, "maximum")) && json_is_number(k)) {
        int r = cmp_num(inst, k);
        if (r > 0 || (r == 0 && json_is_true(exmax)))
            return vfail(c, "maximum %g", json_number_value(k));
    }
    if ((k = json_object_get(s, "minimum")) && json_is_number(k)) {
        int r = cmp_num(inst, k);
        if (r < 0 || (r == 0 && json_is_true(exmin)))
            return vfail(c, "minimum %g", json_number_value(k));
    }
    if (json_is_number(exmax) && cmp_num(inst, exmax) >= 0)
        return vfail(c, "exclusiveMaximum %g", json_number_value(exmax));
    if (json_is_number(exmin) && cmp_num(inst, exmin) <= 0)
        return vfail(c, "exclusiveMinimum %g", json_number_value(exmin));
    return 1;
}

static int v_string(vctx_t *c, const json_t *s, const json_t *inst)
{
    const char *str = json_string_value(inst);
    size_t n = json_string_length(inst);
    json_t *k;
    if ((k = json_object_get(s, "maxLength")) && json_is_number(k) &&
        (double)cp_count(str, n) > json_number_value(k))
        return vfail(c, "maxLength %g", json_number_value(k));
    if ((k = json_object_get(s, "minLength")) && json_is_number(k) &&
        (double)cp_count(str, n) < json_number_value(k))
        return vfail(c, "minLength %g", json_number_value(k));
    if ((k = json_object_get(s, "pattern")) && json_is_string(k)) {
        const evl_js_regex_t *rx = evl__js_pattern(c->js, k);
        if (rx && !evl__js_regex_search(rx, str, n))
            return vfail(c, "pattern %.100s", json_string_value(k));
    }
    if ((k = json_object_get(s, "format")) && json_is_string(k) &&
        !evl__js_format_ok(json_string_value(k), str, n))
        return vfail(c, "format %.40s", json_string_value(k));
    return 1;
}

static int v_array(vctx_t *c, const json_t *s, const json_t *inst, int depth)
{
    size_t n = json_array_size(inst);
    json_t *k;
    if ((k = json_object_get(s, "maxItems")) && json_is_number(k) &&
        (double)n > json_number_value(k))
        return vfail(c, "maxItems %g", json_number_value(k));
    if ((k = json_object_get(s, "minItems")) && json_is_number(k) &&
        (double)n < json_number_value(k))
        return vfail(c, "minItems %g", json_number_value(k));
    if (json_is_true(json_object_get(s, "uniqueItems")) && n > 1) {
        /* sorted by a hash that equal values share: equal items meet as
         * neighbours (n log n, not n^2) */
        struct hidx *h = malloc(n * sizeof *h);
        if (!h) {
            c->rc = EVL_ENOMEM;
            return c->rc;
        }
        for (size_t i = 0; i < n; i++) {
            h[i].h = value_hash(json_array_get(inst, i), 0);
            h[i].i = i;
        }
        qsort(h, n, sizeof *h, cmp_hidx);
        size_t dup_i = 0, dup_j = 0;
        bool dup = false;
        for (size_t a = 0; a < n && !dup; a++) {
            for (size_t b = a + 1; b < n && h[b].h == h[a].h && !dup; b++) {
                c->steps++;
                if (evl__js_equal(json_array_get(inst, h[a].i), json_array_get(inst, h[b].i))) {
                    dup = true;
                    dup_i = h[a].i < h[b].i ? h[a].i : h[b].i;
                    dup_j = h[a].i < h[b].i ? h[b].i : h[a].i;
                }
            }
        }
        free(h);
        if (dup) {
            size_t o = push_index(c, dup_j);
            vfail(c, "uniqueItems (same as item %zu)", dup_i);
            c->ptr.n = o;
            return 0;
        }
    }
    json_t *items = json_object_get(s, "items");
    if (items) {
        size_t from = n;
        if (json_is_array(items)) {
            from = json_array_size(items);
            for (size_t i = 0; i < n && i < from; i++) {
                size_t o = push_index(c, i);
                int r = v(c, json_array_get(items, i), json_array_get(inst, i), depth + 1);
                c->ptr.n = o;
                CHECK(r);
            }
            json_t *add = json_object_get(s, "additionalItems");
            if (add) {
                for (size_t i = from; i < n; i++) {
                    size_t o = push_index(c, i);
                    int r = v(c, add, json_array_get(inst, i), depth + 1);
                    c->ptr.n = o;
                    CHECK(r);
                }
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t o = push_index(c, i);
                int r = v(c, items, json_array_get(inst, i), depth + 1);
                c->ptr.n = o;
                CHECK(r);
            }
        }
    }
    json_t *contains = json_object_get(s, "contains");
    if (contains) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            int r = vq(c, contains, json_array_get(inst, i), depth + 1);
            if (r < 0)
                return r;
            found = r == 1;
        }
        if (!found)
            return vfail(c, "contains");
    }
    return 1;
}

static int v_object(vctx_t *c, const json_t *s, const json_t *inst, int depth)
{
    size_t n = json_object_size(inst);
    json_t *k;
    if ((k = json_object_get(s, "maxProperties")) && json_is_number(k) &&
        (double)n > json_number_value(k))
        return vfail(c, "maxProperties %g", json_number_value(k));
    if ((k = json_object_get(s, "minProperties")) && json_is_number(k) &&
        (double)n < json_number_value(k))
        return vfail(c, "minProperties %g", json_number_value(k));
    if ((k = json_object_get(s, "required")) && json_is_array(k)) {
        size_t i;
        json_t *r;
        json_array_foreach(k, i, r)
        {
            if (json_is_string(r) && !json_object_get(inst, json_string_value(r))) {
                size_t o = push_key(c, json_string_value(r));
                vfail(c, "required");
                c->ptr.n = o;
                return 0;
            }
        }
    }
    json_t *props = json_object_get(s, "properties");
    json_t *pprops = json_object_get(s, "patternProperties");
    json_t *add = json_object_get(s, "additionalProperties");
    json_t *names = json_object_get(s, "propertyNames");
    json_t *deps = json_object_get(s, "dependencies");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)inst, key, val)
    {
        size_t o = push_key(c, key);
        bool matched = false;
        int r = 1;
        if (names) {
            json_t *ks = json_string(key);
            if (!ks)
                r = EVL_ENOMEM;
            else
                r = v(c, names, ks, depth + 1);
            json_decref(ks);
            if (r == 0)
                vfail(c, "propertyNames");
        }
        json_t *ps;
        if (r == 1 && json_is_object(props) && (ps = json_object_get(props, key))) {
            matched = true;
            r = v(c, ps, val, depth + 1);
        }
        if (r == 1 && json_is_object(pprops)) {
            const char *pk;
            json_t *pv;
            json_object_foreach(pprops, pk, pv)
            {
                const evl_js_regex_t *rx = evl__js_map_get(&c->js->regex, pk);
                if (rx && evl__js_regex_search(rx, key, strlen(key))) {
                    matched = true;
                    r = v(c, pv, val, depth + 1);
                    if (r != 1)
                        break;
                }
            }
        }
        if (r == 1 && !matched && add) {
            r = v(c, add, val, depth + 1);
        }
        if (r == 1 && json_is_object(deps) && (ps = json_object_get(deps, key))) {
            if (json_is_array(ps)) {
                size_t i;
                json_t *d;
                json_array_foreach(ps, i, d)
                {
                    if (json_is_string(d) && !json_object_get(inst, json_string_value(d))) {
                        r = vfail(c, "dependencies (needs %.60s)", json_string_value(d));
                        break;
                    }
                }
            } else {
                c->ptr.n = o;
                r = v(c, ps, inst, depth + 1);
            }
        }
        c->ptr.n = o;
        CHECK(r);
    }
    return 1;
}

static int v(vctx_t *c, const json_t *s, const json_t *inst, int depth)
{
    if (c->rc)
        return c->rc;
    if (depth > EVL_JS_MAX_DEPTH) {
        c->rc = EVL_ESCHEMA_INVALID;
        if (c->errlen)
            snprintf(c->err, c->errlen, "%.*s: nested deeper than %d (schema and document)",
                     (int)(c->ptr.n ? c->ptr.n : 1), c->ptr.n ? (const char *)c->ptr.p : "/",
                     EVL_JS_MAX_DEPTH);
        c->have_err = true;
        return c->rc;
    }
    if (++c->steps > STEP_BUDGET) {
        c->rc = EVL_ESCHEMA_INVALID;
        if (c->errlen)
            snprintf(c->err, c->errlen, "%.*s: validation takes too long (over %ld steps)",
                     (int)(c->ptr.n ? c->ptr.n : 1), c->ptr.n ? (const char *)c->ptr.p : "/",
                     STEP_BUDGET);
        c->have_err = true;
        return c->rc;
    }
    if (json_is_true(s))
        return 1;
    if (json_is_false(s))
        return vfail(c, "false schema");
    if (!json_is_object(s))
        return 1;
    if (json_object_get(s, "$ref")) {
        json_t *t = evl__js_ref_target(c->js, s);
        if (!t)
            return 1;
        return v(c, t, inst, depth + 1);
    }
    json_t *k;
    if ((k = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(k)) {
            ok = has_type(inst, json_string_value(k));
        } else if (json_is_array(k)) {
            size_t i;
            json_t *t;
            json_array_foreach(k, i, t) if (json_is_string(t) &&
                                            has_type(inst, json_string_value(t))) ok = true;
        } else {
            ok = true;
        }
        if (!ok)
            return vfail(c, "type");
    }
    if ((k = json_object_get(s, "enum")) && json_is_array(k)) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++)
            ok = evl__js_equal(json_array_get(k, i), inst);
        if (!ok)
            return vfail(c, "enum");
    }
    if ((k = json_object_get(s, "const")) && !evl__js_equal(k, inst))
        return vfail(c, "const");
    if (json_is_number(inst))
        CHECK(v_number(c, s, inst));
    else if (json_is_string(inst))
        CHECK(v_string(c, s, inst));
    else if (json_is_array(inst))
        CHECK(v_array(c, s, inst, depth));
    else if (json_is_object(inst))
        CHECK(v_object(c, s, inst, depth));

    if ((k = json_object_get(s, "allOf")) && json_is_array(k)) {
        for (size_t i = 0; i < json_array_size(k); i++)
            CHECK(v(c, json_array_get(k, i), inst, depth + 1));
    }
    if ((k = json_object_get(s, "anyOf")) && json_is_array(k)) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++) {
            int r = vq(c, json_array_get(k, i), inst, depth + 1);
            if (r < 0)
                return r;
            ok = r == 1;
        }
        if (!ok)
            return vfail(c, "anyOf");
    }
    if ((k = json_object_get(s, "oneOf")) && json_is_array(k)) {
        size_t hits = 0;
        for (size_t i = 0; i < json_array_size(k) && hits < 2; i++) {
            int r = vq(c, json_array_get(k, i), inst, depth + 1);
            if (r < 0)
                return r;
            hits += r == 1;
        }
        if (hits != 1)
            return vfail(c, "oneOf (%s)", hits ? "more than one matches" : "none matches");
    }
    if ((k = json_object_get(s, "not"))) {
        int r = vq(c, k, inst, depth + 1);
        if (r < 0)
            return r;
        if (r == 1)
            return vfail(c, "not");
    }
    if ((k = json_object_get(s, "if"))) {
        int r = vq(c, k, inst, depth + 1);
        if (r < 0)
            return r;
        const char *which = r == 1 ? "then" : "else";
        json_t *branch = json_object_get(s, which);
        if (branch) {
            r = v(c, branch, inst, depth + 1);
            if (r == 0)
                vfail(c, "%s", which);
            CHECK(r);
        }
    }
    return 1;
}

int evl__js_check(const evl_js_schema_t *js, const json_t *inst, char *err, size_t errlen)
{
    vctx_t c = {.js = js, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = 0;
    int r = v(&c, js->root, inst, 0);
    evl__sr_buf_free(&c.ptr);
    if (c.rc)
        return c.rc;
    if (r == 0 && errlen && !c.have_err)
        snprintf(err, errlen, "/: does not match");
    return r;
}
