/*
 * jsonschema.c - the JSON Schema format of the registry: parse a schema
 * (with the registered schemas it references by name), check its keywords
 * well enough to refuse nonsense, resolve every $ref once (base URIs from
 * $id, JSON pointers, anchors, the referenced documents, the draft-07
 * meta-schema), compile its patterns; its canonical text; the codec (a
 * payload is the JSON text itself, validated against the schema).
 *
 * Why resolve at parse time: a schema with a $ref to nothing is refused at
 * registration, as Confluent refuses it, and the validator and the diff
 * then follow references by a map lookup that cannot fail.
 */
#include "jsonschema_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pointer-keyed maps ---- */

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

void *evl__js_map_get(const evl_js_map_t *m, const void *key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = ptr_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->v[i].key == key)
            return m->v[i].val;
        if (!m->v[i].key)
            return NULL;
    }
}

int evl__js_map_put(evl_js_map_t *m, const void *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct evl_js_slot *v = calloc(cap, sizeof *v);
        if (!v)
            return EVL_ENOMEM;
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->v[j].key)
                continue;
            size_t i = ptr_hash(m->v[j].key) & (cap - 1);
            while (v[i].key)
                i = (i + 1) & (cap - 1);
            v[i] = m->v[j];
        }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    size_t i = ptr_hash(key) & (m->cap - 1);
    while (m->v[i].key && m->v[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->v[i].key)
        m->n++;
    m->v[i].key = key;
    m->v[i].val = val;
    return 0;
}

void evl__js_map_free(evl_js_map_t *m)
{
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* ---- the draft-07 meta-schema (for $ref to it; compact, keys sorted) ---- */

static const char meta7[] =
    "{\"$id\":\"http://json-schema.org/draft-07/schema#\",\"$schema\":\"http://json-schema.org/draft-0"
    "7/schema#\",\"default\":true,\"definitions\":{\"nonNegativeInteger\":{\"minimum\":0,\"type\":\"integer"
    "\"},\"nonNegativeIntegerDefault0\":{\"allOf\":[{\"$ref\":\"#/definitions/nonNegativeInteger\"},{\"de"
    "fault\":0}]},\"schemaArray\":{\"items\":{\"$ref\":\"#\"},\"minItems\":1,\"type\":\"array\"},\"simpleTy"
    "pes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"stringAr"
    "ray\":{\"default\":[],\"items\":{\"type\":\"string\"},\"type\":\"array\",\"uniqueItems\":true}},\"proper"
    "ties\":{\"$comment\":{\"type\":\"string\"},\"$id\":{\"format\":\"uri-reference\",\"type\":\"string\"},\"$"
    "ref\":{\"format\":\"uri-reference\",\"type\":\"string\"},\"$schema\":{\"format\":\"uri\",\"type\":\"strin"
    "g\"},\"additionalItems\":{\"$ref\":\"#\"},\"additionalProperties\":{\"$ref\":\"#\"},\"allOf\":{\"$ref\":\""
    "#/definitions/schemaArray\"},\"anyOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"const\":true,\"conta"
    "ins\":{\"$ref\":\"#\"},\"contentEncoding\":{\"type\":\"string\"},\"contentMediaType\":{\"type\":\"string\""
    "},\"default\":true,\"definitions\":{\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{},\"type\":\"o"
    "bject\"},\"dependencies\":{\"additionalProperties\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitio"
    "ns/stringArray\"}]},\"type\":\"object\"},\"description\":{\"type\":\"string\"},\"else\":{\"$ref\":\"#\"},\""
    "enum\":{\"items\":true,\"type\":\"array\"},\"examples\":{\"items\":true,\"type\":\"array\"},\"exclusiveMax"
    "imum\":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number\"},\"format\":{\"type\":\"string\"},\""
    "if\":{\"$ref\":\"#\"},\"items\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/schemaArray\"}],\"de"
    "fault\":true},\"maxItems\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},\"maxLength\":{\"$ref\":\"#/"
    "definitions/nonNegativeInteger\"},\"maxProperties\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
    "\"maximum\":{\"type\":\"number\"},\"minItems\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
    "\"minLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\"minProperties\":{\"$ref\":\"#/"
    "definitions/nonNegativeIntegerDefault0\"},\"minimum\":{\"type\":\"number\"},\"multipleOf\":{\"exclusiv"
    "eMinimum\":0,\"type\":\"number\"},\"not\":{\"$ref\":\"#\"},\"oneOf\":{\"$ref\":\"#/definitions/schemaArra"
    "y\"},\"pattern\":{\"format\":\"regex\",\"type\":\"string\"},\"patternProperties\":{\"additionalProperti"
    "es\":{\"$ref\":\"#\"},\"default\":{},\"propertyNames\":{\"format\":\"regex\"},\"type\":\"object\"},\"prope"
    "rties\":{\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{},\"type\":\"object\"},\"propertyNames\""
    ":{\"$ref\":\"#\"},\"readOnly\":{\"default\":false,\"type\":\"boolean\"},\"required\":{\"$ref\":\"#/defini"
    "tions/stringArray\"},\"then\":{\"$ref\":\"#\"},\"title\":{\"type\":\"string\"},\"type\":{\"anyOf\":[{\"$re"
    "f\":\"#/definitions/simpleTypes\"},{\"items\":{\"$ref\":\"#/definitions/simpleTypes\"},\"minItems\":1,"
    "\"type\":\"array\",\"uniqueItems\":true}]}},\"title\":\"Core schema meta-schema\",\"type\":[\"object\",\""
    "boolean\"]}";
static const char meta7_uri[] = "http://json-schema.org/draft-07/schema";

/* ---- URIs (RFC 3986 section 5.2, enough for $id and $ref) ---- */

typedef struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t nscheme, nauth, npath, nquery, nfrag;
    bool has_scheme, has_auth, has_query, has_frag;
} uri_parts_t;

static void uri_split(const char *s, uri_parts_t *u)
{
    memset(u, 0, sizeof *u);
    const char *p = s;
    const char *q = s;
    if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) {
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            u->has_scheme = true;
            u->scheme = s;
            u->nscheme = (size_t)(q - s);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        u->has_auth = true;
        u->auth = p + 2;
        u->nauth = strcspn(p + 2, "/?#");
        p = u->auth + u->nauth;
    }
    u->path = p;
    u->npath = strcspn(p, "?#");
    p += u->npath;
    if (*p == '?') {
        u->has_query = true;
        u->query = p + 1;
        u->nquery = strcspn(p + 1, "#");
        p = u->query + u->nquery;
    }
    if (*p == '#') {
        u->has_frag = true;
        u->frag = p + 1;
        u->nfrag = strlen(p + 1);
    }
}

/* remove_dot_segments of in[0..n) appended to out */
static int remove_dots(evl_sr_buf_t *out, const char *in, size_t n)
{
    size_t start = out->n;
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        const char *s = in + i;
        size_t left = n - i;
        if (left >= 3 && memcmp(s, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && memcmp(s, "./", 2) == 0) {
            i += 2;
        } else if ((left >= 3 && memcmp(s, "/./", 3) == 0)) {
            i += 2;
        } else if (left == 2 && memcmp(s, "/.", 2) == 0) {
            i += 1;
            /* "/." at the end becomes "/" */
            rc = evl__sr_buf_byte(out, '/');
            i = n;
        } else if ((left >= 4 && memcmp(s, "/../", 4) == 0) || (left == 3 && memcmp(s, "/..", 3) == 0)) {
            i += 3;
            while (out->n > start && out->p[out->n - 1] != '/')
                out->n--;
            if (out->n > start)
                out->n--;
            if (left == 3)
                rc = evl__sr_buf_byte(out, '/');
        } else if ((left == 1 && s[0] == '.') || (left == 2 && memcmp(s, "..", 2) == 0)) {
            i = n;
        } else {
            size_t k = s[0] == '/' ? 1 : 0;
            while (k < left && s[k] != '/')
                k++;
            rc = evl__sr_buf_put(out, s, k);
            i += k;
        }
    }
    return rc;
}

/* Resolve ref against base: a malloc'd absolute reference (fragment kept). */
static char *uri_resolve(const char *base, const char *ref)
{
    uri_parts_t b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    evl_sr_buf_t o = {0};
    int rc = 0;
#define PUT(p, n) (rc = rc ? rc : evl__sr_buf_put(&o, (p), (n)))
    const uri_parts_t *sch = r.has_scheme ? &r : &b;
    if (sch->has_scheme) {
        PUT(sch->scheme, sch->nscheme);
        PUT(":", 1);
    }
    if (r.has_scheme || r.has_auth) {
        if (r.has_auth) {
            PUT("//", 2);
            PUT(r.auth, r.nauth);
        }
        rc = rc ? rc : remove_dots(&o, r.path, r.npath);
        if (r.has_query) {
            PUT("?", 1);
            PUT(r.query, r.nquery);
        }
    } else {
        if (b.has_auth) {
            PUT("//", 2);
            PUT(b.auth, b.nauth);
        }
        if (r.npath == 0) {
            PUT(b.path, b.npath);
            if (r.has_query) {
                PUT("?", 1);
                PUT(r.query, r.nquery);
            } else if (b.has_query) {
                PUT("?", 1);
                PUT(b.query, b.nquery);
            }
        } else {
            if (r.path[0] == '/') {
                rc = rc ? rc : remove_dots(&o, r.path, r.npath);
            } else {
                evl_sr_buf_t m = {0};
                if (b.has_auth && b.npath == 0) {
                    rc = evl__sr_buf_byte(&m, '/');
                } else {
                    size_t k = b.npath;
                    while (k > 0 && b.path[k - 1] != '/')
                        k--;
                    rc = evl__sr_buf_put(&m, b.path, k);
                }
                if (!rc)
                    rc = evl__sr_buf_put(&m, r.path, r.npath);
                if (!rc)
                    rc = remove_dots(&o, m.n ? (const char *)m.p : "", m.n);
                evl__sr_buf_free(&m);
            }
            if (r.has_query) {
                PUT("?", 1);
                PUT(r.query, r.nquery);
            }
        }
    }
    if (r.has_frag) {
        PUT("#", 1);
        PUT(r.frag, r.nfrag);
    }
#undef PUT
    if (rc) {
        evl__sr_buf_free(&o);
        return NULL;
    }
    return evl__sr_buf_str(&o);
}

/* ---- the parsed schema ---- */

static char *own(evl_js_schema_t *js, char *s)
{
    if (!s)
        return NULL;
    if (js->nstrs == js->capstrs) {
        size_t cap = js->capstrs ? js->capstrs * 2 : 16;
        char **v = realloc(js->strs, cap * sizeof *v);
        if (!v) {
            free(s);
            return NULL;
        }
        js->strs = v;
        js->capstrs = cap;
    }
    js->strs[js->nstrs++] = s;
    return s;
}

static int add_res(evl_js_schema_t *js, const char *uri, size_t n, json_t *node)
{
    /* an empty fragment is no fragment */
    if (n > 0 && uri[n - 1] == '#')
        n--;
    for (size_t i = 0; i < js->nres; i++)
        if (strlen(js->res[i].uri) == n && memcmp(js->res[i].uri, uri, n) == 0)
            return 0; /* the first one wins */
    if (js->nres == js->capres) {
        size_t cap = js->capres ? js->capres * 2 : 8;
        struct evl_js_res *v = realloc(js->res, cap * sizeof *v);
        if (!v)
            return EVL_ENOMEM;
        js->res = v;
        js->capres = cap;
    }
    char *s = strndup(uri, n);
    if (!s)
        return EVL_ENOMEM;
    js->res[js->nres].uri = s;
    js->res[js->nres].node = node;
    js->nres++;
    return 0;
}

static json_t *find_res(const evl_js_schema_t *js, const char *uri, size_t n)
{
    if (n > 0 && uri[n - 1] == '#')
        n--;
    for (size_t i = 0; i < js->nres; i++)
        if (strlen(js->res[i].uri) == n && memcmp(js->res[i].uri, uri, n) == 0)
            return js->res[i].node;
    return NULL;
}

json_t *evl__js_ref_target(const evl_js_schema_t *js, const json_t *node)
{
    return evl__js_map_get(&js->refs, node);
}

const evl_js_regex_t *evl__js_pattern(const evl_js_schema_t *js, const json_t *str)
{
    return evl__js_map_get(&js->regex, str);
}

static void js_free(void *schema)
{
    evl_js_schema_t *js = schema;
    if (!js)
        return;
    for (size_t i = 0; i < js->regex.cap; i++) {
        if (js->regex.v[i].key) {
            evl__js_regex_free(js->regex.v[i].val);
            free(js->regex.v[i].val);
        }
    }
    evl__js_map_free(&js->regex);
    evl__js_map_free(&js->base);
    evl__js_map_free(&js->refs);
    evl__js_map_free(&js->seen);
    for (size_t i = 0; i < js->nres; i++)
        free(js->res[i].uri);
    free(js->res);
    for (size_t i = 0; i < js->nstrs; i++)
        free(js->strs[i]);
    free(js->strs);
    for (size_t i = 0; i < js->ndocs; i++)
        json_decref(js->docs[i]);
    free(js->docs);
    json_decref(js->root);
    free(js->canon);
    free(js);
}

/* ---- the walk: check keywords, bases, $id, collect $refs ---- */

typedef struct pending {
    json_t *node;
    const char *base;
    const char *where; /* owned by js */
} pending_t;

typedef struct walk {
    evl_js_schema_t *js;
    pending_t *pend;
    size_t npend, cappend;
    evl_sr_buf_t path; /* the JSON pointer of the node in its document */
    char *err;
    size_t errlen;
    int rc;
} walk_t;

static int fail(walk_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(walk_t *w, const char *fmt, ...)
{
    if (w->rc == 0 && w->errlen) {
        va_list ap;
        va_start(ap, fmt);
        char msg[256];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(w->err, w->errlen, "%.*s: %s", (int)(w->path.n ? w->path.n : 1),
                 w->path.n ? (const char *)w->path.p : "#", msg);
    }
    if (w->rc == 0)
        w->rc = EVL_ESCHEMA_INVALID;
    return w->rc;
}

static int nomem(walk_t *w)
{
    if (w->rc == 0) {
        w->rc = EVL_ENOMEM;
        if (w->errlen)
            snprintf(w->err, w->errlen, "out of memory");
    }
    return w->rc;
}

static size_t path_push(walk_t *w, const char *seg)
{
    size_t n = w->path.n;
    if (evl__sr_buf_byte(&w->path, '/') < 0)
        return (size_t)-1;
    for (const char *p = seg; *p; p++) {
        int rc = *p == '~' ? evl__sr_buf_put(&w->path, "~0", 2)
                 : *p == '/' ? evl__sr_buf_put(&w->path, "~1", 2)
                             : evl__sr_buf_byte(&w->path, (uint8_t)*p);
        if (rc < 0)
            return (size_t)-1;
    }
    return n;
}

static int walk_schema(walk_t *w, json_t *node, const char *base, int depth);

static int walk_sub(walk_t *w, const char *seg, json_t *node, const char *base, int depth)
{
    size_t n = path_push(w, seg);
    if (n == (size_t)-1)
        return nomem(w);
    int rc = walk_schema(w, node, base, depth + 1);
    w->path.n = n;
    return rc;
}

static int walk_array(walk_t *w, const char *kw, json_t *arr, const char *base, int depth,
                      bool nonempty)
{
    if (!json_is_array(arr))
        return fail(w, "%s must be an array of schemas", kw);
    if (nonempty && json_array_size(arr) == 0)
        return fail(w, "%s must not be empty", kw);
    size_t n = path_push(w, kw);
    if (n == (size_t)-1)
        return nomem(w);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char seg[32];
        snprintf(seg, sizeof seg, "%zu", i);
        if (walk_sub(w, seg, v, base, depth))
            break;
    }
    w->path.n = n;
    return w->rc;
}

static int walk_object(walk_t *w, const char *kw, json_t *obj, const char *base, int depth,
                       bool patterns)
{
    if (!json_is_object(obj))
        return fail(w, "%s must be an object of schemas", kw);
    size_t n = path_push(w, kw);
    if (n == (size_t)-1)
        return nomem(w);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (patterns && !evl__js_map_get(&w->js->regex, k)) {
            evl_js_regex_t *rx = malloc(sizeof *rx);
            if (!rx)
                return nomem(w);
            char e[200];
            int rc = evl__js_regex_compile(rx, k, strlen(k), e, sizeof e);
            if (rc < 0) {
                free(rx);
                if (rc == EVL_ENOMEM)
                    return nomem(w);
                return fail(w, "%s: pattern \"%.60s\": %s", kw, k, e);
            }
            if (evl__js_map_put(&w->js->regex, k, rx) < 0) {
                evl__js_regex_free(rx);
                free(rx);
                return nomem(w);
            }
        }
        if (walk_sub(w, k, v, base, depth))
            break;
    }
    w->path.n = n;
    return w->rc;
}

static bool is_count(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d >= 0 && d < 9.2e18 && d == (double)(long long)d;
    }
    return false;
}

static bool is_type_name(const char *s)
{
    static const char *const names[] = {"array", "boolean", "integer", "null",
                                        "number", "object", "string"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

static int walk_schema(walk_t *w, json_t *node, const char *base, int depth)
{
    evl_js_schema_t *js = w->js;
    if (w->rc)
        return w->rc;
    if (depth > EVL_JS_MAX_DEPTH * 4)
        return fail(w, "schema nested too deep");
    if (json_is_boolean(node)) {
        if (evl__js_map_put(&js->base, node, (void *)base) < 0)
            return nomem(w);
        return 0;
    }
    if (!json_is_object(node))
        return fail(w, "a schema must be an object or a boolean");
    if (evl__js_map_get(&js->seen, node))
        return 0;
    if (evl__js_map_put(&js->seen, node, (void *)1) < 0)
        return nomem(w);

    json_t *ref = json_object_get(node, "$ref");
    const char *idkw = js->draft == 4 ? "id" : "$id";
    json_t *id = json_object_get(node, idkw);
    if (ref && !json_is_string(ref))
        return fail(w, "$ref must be a string");
    if (id && !json_is_string(id)) {
        if (js->draft == 4)
            id = NULL; /* "id" may be a property of a draft-04 object */
        else
            return fail(w, "$id must be a string");
    }
    if (id && !ref) {
        const char *ids = json_string_value(id);
        char *abs = own(js, uri_resolve(base, ids));
        if (!abs)
            return nomem(w);
        if (ids[0] == '#') {
            /* a location-independent name: base unchanged */
            if (add_res(js, abs, strlen(abs), node) < 0)
                return nomem(w);
        } else {
            size_t nb = strcspn(abs, "#");
            if (abs[nb] == '#' && abs[nb + 1]) {
                /* draft-06 style "uri#name": both the name and the base */
                if (add_res(js, abs, strlen(abs), node) < 0)
                    return nomem(w);
            }
            abs[nb] = 0;
            if (add_res(js, abs, nb, node) < 0)
                return nomem(w);
            base = abs;
        }
    }
    if (evl__js_map_put(&js->base, node, (void *)base) < 0)
        return nomem(w);
    if (ref) {
        if (w->npend == w->cappend) {
            size_t cap = w->cappend ? w->cappend * 2 : 16;
            pending_t *v = realloc(w->pend, cap * sizeof *v);
            if (!v)
                return nomem(w);
            w->pend = v;
            w->cappend = cap;
        }
        char *where = own(js, strndup(w->path.n ? (const char *)w->path.p : "", w->path.n));
        if (!where)
            return nomem(w);
        w->pend[w->npend++] = (pending_t){node, base, where};
    }

    const char *k;
    json_t *v;
    json_object_foreach(node, k, v)
    {
        if (w->rc)
            break;
        if (strcmp(k, "type") == 0) {
            if (json_is_string(v)) {
                if (!is_type_name(json_string_value(v)))
                    return fail(w, "type: unknown type \"%.40s\"", json_string_value(v));
            } else if (json_is_array(v)) {
                size_t i, j;
                json_t *t, *u;
                json_array_foreach(v, i, t)
                {
                    if (!json_is_string(t) || !is_type_name(json_string_value(t)))
                        return fail(w, "type: array of type names expected");
                    json_array_foreach(v, j, u) if (j < i && json_equal(t, u)) return fail(
                        w, "type: duplicate \"%s\"", json_string_value(t));
                }
            } else {
                return fail(w, "type must be a string or an array of strings");
            }
        } else if (strcmp(k, "enum") == 0) {
            if (!json_is_array(v))
                return fail(w, "enum must be an array");
        } else if (strcmp(k, "multipleOf") == 0) {
            if (!json_is_number(v) || json_number_value(v) <= 0)
                return fail(w, "multipleOf must be a number above 0");
        } else if (strcmp(k, "maximum") == 0 || strcmp(k, "minimum") == 0) {
            if (!json_is_number(v))
                return fail(w, "%s must be a number", k);
        } else if (strcmp(k, "exclusiveMaximum") == 0 || strcmp(k, "exclusiveMinimum") == 0) {
            if (!json_is_number(v) && !json_is_boolean(v))
                return fail(w, "%s must be a number (or a boolean, draft-04)", k);
        } else if (strcmp(k, "maxLength") == 0 || strcmp(k, "minLength") == 0 ||
                   strcmp(k, "maxItems") == 0 || strcmp(k, "minItems") == 0 ||
                   strcmp(k, "maxProperties") == 0 || strcmp(k, "minProperties") == 0) {
            if (!is_count(v))
                return fail(w, "%s must be a non-negative integer", k);
        } else if (strcmp(k, "pattern") == 0) {
            if (!json_is_string(v))
                return fail(w, "pattern must be a string");
            if (!evl__js_map_get(&js->regex, v)) {
                evl_js_regex_t *rx = malloc(sizeof *rx);
                if (!rx)
                    return nomem(w);
                char e[200];
                int rc = evl__js_regex_compile(rx, json_string_value(v), json_string_length(v),
                                               e, sizeof e);
                if (rc < 0) {
                    free(rx);
                    if (rc == EVL_ENOMEM)
                        return nomem(w);
                    return fail(w, "pattern: %s", e);
                }
                if (evl__js_map_put(&js->regex, v, rx) < 0) {
                    evl__js_regex_free(rx);
                    free(rx);
                    return nomem(w);
                }
            }
        } else if (strcmp(k, "items") == 0) {
            if (json_is_array(v))
                walk_array(w, k, v, base, depth, false);
            else
                walk_sub(w, k, v, base, depth);
        } else if (strcmp(k, "additionalItems") == 0 || strcmp(k, "contains") == 0 ||
                   strcmp(k, "additionalProperties") == 0 || strcmp(k, "propertyNames") == 0 ||
                   strcmp(k, "if") == 0 || strcmp(k, "then") == 0 || strcmp(k, "else") == 0 ||
                   strcmp(k, "not") == 0) {
            walk_sub(w, k, v, base, depth);
        } else if (strcmp(k, "uniqueItems") == 0) {
            if (!json_is_boolean(v))
                return fail(w, "uniqueItems must be a boolean");
        } else if (strcmp(k, "required") == 0) {
            size_t i;
            json_t *t;
            if (!json_is_array(v))
                return fail(w, "required must be an array of strings");
            json_array_foreach(v, i, t) if (!json_is_string(t)) return fail(
                w, "required must be an array of strings");
        } else if (strcmp(k, "properties") == 0 || strcmp(k, "definitions") == 0) {
            walk_object(w, k, v, base, depth, false);
        } else if (strcmp(k, "patternProperties") == 0) {
            walk_object(w, k, v, base, depth, true);
        } else if (strcmp(k, "dependencies") == 0) {
            if (!json_is_object(v))
                return fail(w, "dependencies must be an object");
            size_t n = path_push(w, k);
            if (n == (size_t)-1)
                return nomem(w);
            const char *dk;
            json_t *dv;
            json_object_foreach(v, dk, dv)
            {
                if (json_is_array(dv)) {
                    size_t i;
                    json_t *t;
                    json_array_foreach(dv, i, t) if (!json_is_string(t)) return fail(
                        w, "dependencies: %.40s: array of strings expected", dk);
                } else if (walk_sub(w, dk, dv, base, depth)) {
                    break;
                }
            }
            w->path.n = n;
        } else if (strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0 ||
                   strcmp(k, "oneOf") == 0) {
            walk_array(w, k, v, base, depth, true);
        } else if (strcmp(k, "format") == 0 || strcmp(k, "$schema") == 0 ||
                   strcmp(k, "$comment") == 0) {
            if (!json_is_string(v))
                return fail(w, "%s must be a string", k);
        }
    }
    return w->rc;
}

/* Percent-decode s[0..n) (a URI fragment) into a malloc'd string. */
static char *pct_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n) {
            int hi = -1, lo = -1;
            char a = s[i + 1], b = s[i + 2];
            if (a >= '0' && a <= '9') hi = a - '0';
            else if (a >= 'a' && a <= 'f') hi = a - 'a' + 10;
            else if (a >= 'A' && a <= 'F') hi = a - 'A' + 10;
            if (b >= '0' && b <= '9') lo = b - '0';
            else if (b >= 'a' && b <= 'f') lo = b - 'a' + 10;
            else if (b >= 'A' && b <= 'F') lo = b - 'A' + 10;
            if (hi >= 0 && lo >= 0) {
                o[j++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        o[j++] = s[i];
    }
    o[j] = 0;
    return o;
}

/* Follow the JSON pointer p (decoded) from node; NULL when it leads nowhere. */
static json_t *follow_pointer(json_t *node, const char *p)
{
    if (!*p)
        return node;
    if (*p != '/')
        return NULL;
    char tok[1024];
    while (node && *p == '/') {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~') {
                if (*p == '0')
                    c = '~';
                else if (*p == '1')
                    c = '/';
                else
                    return NULL;
                p++;
            }
            if (n + 1 >= sizeof tok)
                return NULL;
            tok[n++] = c;
        }
        tok[n] = 0;
        if (json_is_object(node)) {
            node = json_object_get(node, tok);
        } else if (json_is_array(node)) {
            if (n == 0 || (n > 1 && tok[0] == '0') || n > 9)
                return NULL;
            size_t idx = 0;
            for (size_t i = 0; i < n; i++) {
                if (tok[i] < '0' || tok[i] > '9')
                    return NULL;
                idx = idx * 10 + (size_t)(tok[i] - '0');
            }
            node = json_array_get(node, idx);
        } else {
            return NULL;
        }
    }
    return node;
}

static int add_doc(evl_js_schema_t *js, json_t *doc)
{
    json_t **v = realloc(js->docs, (js->ndocs + 1) * sizeof *v);
    if (!v)
        return EVL_ENOMEM;
    js->docs = v;
    js->docs[js->ndocs++] = doc;
    return 0;
}

/* The resource (document or $id'd node) named by uri[0..n), loading the
 * meta-schema on demand. */
static json_t *lookup_doc(walk_t *w, const char *uri, size_t n, const char *raw, size_t nraw)
{
    evl_js_schema_t *js = w->js;
    json_t *r = find_res(js, uri, n);
    if (r)
        return r;
    /* a registered reference named as written, or by its last segments */
    if (nraw && (r = find_res(js, raw, nraw)))
        return r;
    for (size_t i = 0; i < js->nres; i++) {
        size_t m = strlen(js->res[i].uri);
        if (m && m < n && uri[n - m - 1] == '/' && memcmp(uri + n - m, js->res[i].uri, m) == 0 &&
            !strchr(js->res[i].uri, ':'))
            return js->res[i].node;
    }
    size_t nm = sizeof meta7_uri - 1;
    bool meta = (n == nm && memcmp(uri, meta7_uri, nm) == 0) ||
                (n == nm + 1 && memcmp(uri, "https", 5) == 0 &&
                 memcmp(uri + 5, meta7_uri + 4, nm - 4) == 0);
    if (!meta)
        return NULL;
    json_t *doc = json_loads(meta7, 0, NULL);
    if (!doc || add_doc(js, doc) < 0) {
        json_decref(doc);
        nomem(w);
        return NULL;
    }
    if (add_res(js, uri, n, doc) < 0) {
        nomem(w);
        return NULL;
    }
    evl_sr_buf_t saved = w->path;
    w->path = (evl_sr_buf_t){0};
    int draft = js->draft;
    js->draft = 7;
    walk_schema(w, doc, meta7_uri, 0);
    js->draft = draft;
    evl__sr_buf_free(&w->path);
    w->path = saved;
    return w->rc ? NULL : doc;
}

static int resolve_pending(walk_t *w)
{
    evl_js_schema_t *js = w->js;
    for (size_t i = 0; i < w->npend && !w->rc; i++) {
        pending_t pd = w->pend[i];
        const char *ref = json_string_value(json_object_get(pd.node, "$ref"));
        char *abs = uri_resolve(pd.base, ref);
        if (!abs)
            return nomem(w);
        size_t nd = strcspn(abs, "#");
        size_t nraw = strcspn(ref, "#");
        json_t *doc = lookup_doc(w, abs, nd, ref, nraw);
        json_t *target = NULL;
        if (doc) {
            if (abs[nd] == '#') {
                char *frag = pct_decode(abs + nd + 1, strlen(abs + nd + 1));
                if (!frag) {
                    free(abs);
                    return nomem(w);
                }
                if (frag[0] == '/' || frag[0] == 0) {
                    target = follow_pointer(doc, frag);
                } else {
                    /* an anchor: "doc#name" */
                    target = find_res(js, abs, strlen(abs));
                }
                free(frag);
            } else {
                target = doc;
            }
        }
        if (w->rc) {
            free(abs);
            return w->rc;
        }
        if (!target || (!json_is_object(target) && !json_is_boolean(target))) {
            w->path.n = 0;
            evl__sr_buf_printf(&w->path, "%s", pd.where);
            fail(w, "$ref \"%.200s\" resolves to no schema", ref);
            free(abs);
            return w->rc;
        }
        free(abs);
        if (evl__js_map_put(&js->refs, pd.node, target) < 0)
            return nomem(w);
        if (!evl__js_map_get(&js->base, target)) {
            /* a target no keyword leads to: walk it now, with the base of
             * its document */
            const char *b = evl__js_map_get(&js->base, doc);
            w->path.n = 0;
            walk_schema(w, target, b ? b : pd.base, 0);
        }
    }
    return w->rc;
}

static int js_parse(const char *text, size_t len, const evl_sr_ref_text_t *refs, size_t nrefs,
                    void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = 0;
    evl_js_schema_t *js = calloc(1, sizeof *js);
    if (!js)
        return EVL_ENOMEM;
    walk_t w = {.js = js, .err = err, .errlen = errlen};
    json_error_t je;
    js->root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!js->root) {
        if (errlen)
            snprintf(err, errlen, "not JSON: %s (line %d, column %d)", je.text, je.line,
                     je.column);
        js_free(js);
        return EVL_ESCHEMA_INVALID;
    }
    js->draft = 7;
    json_t *sch = json_object_get(js->root, "$schema");
    if (json_is_string(sch)) {
        if (strstr(json_string_value(sch), "draft-04"))
            js->draft = 4;
        else if (strstr(json_string_value(sch), "draft-06"))
            js->draft = 6;
    }
    json_t *title = json_object_get(js->root, "title");
    js->title = json_is_string(title) ? json_string_value(title) : NULL;

    /* the referenced documents first: addressable by their names */
    for (size_t i = 0; i < nrefs && !w.rc; i++) {
        if (refs[i].type != EVL_SCHEMA_JSON || !refs[i].name || !refs[i].schema) {
            fail(&w, "reference %zu (%.60s) is not a JSON schema", i,
                 refs[i].name ? refs[i].name : "?");
            break;
        }
        json_t *doc = json_loads(refs[i].schema, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!doc) {
            fail(&w, "reference %.60s: not JSON: %s", refs[i].name, je.text);
            break;
        }
        if (add_doc(js, doc) < 0) {
            json_decref(doc);
            nomem(&w);
            break;
        }
        const char *name = own(js, strdup(refs[i].name));
        if (!name || add_res(js, name, strlen(name), doc) < 0) {
            nomem(&w);
            break;
        }
        w.path.n = 0;
        walk_schema(&w, doc, name, 0);
    }
    if (!w.rc) {
        w.path.n = 0;
        if (add_res(js, "", 0, js->root) < 0)
            nomem(&w);
        else
            walk_schema(&w, js->root, "", 0);
    }
    if (!w.rc)
        resolve_pending(&w);
    free(w.pend);
    evl__sr_buf_free(&w.path);
    if (w.rc) {
        js_free(js);
        return w.rc;
    }
    *out = js;
    return 0;
}

/* ---- canonical text: compact, keys sorted, shortest round-trip reals ---- */

static int put_string(evl_sr_buf_t *b, const char *s, size_t n)
{
    int rc = evl__sr_buf_byte(b, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rc = evl__sr_buf_put(b, "\\\"", 2); break;
        case '\\': rc = evl__sr_buf_put(b, "\\\\", 2); break;
        case '\n': rc = evl__sr_buf_put(b, "\\n", 2); break;
        case '\r': rc = evl__sr_buf_put(b, "\\r", 2); break;
        case '\t': rc = evl__sr_buf_put(b, "\\t", 2); break;
        case '\b': rc = evl__sr_buf_put(b, "\\b", 2); break;
        case '\f': rc = evl__sr_buf_put(b, "\\f", 2); break;
        default:
            if (c < 0x20)
                rc = evl__sr_buf_printf(b, "\\u%04x", c);
            else
                rc = evl__sr_buf_byte(b, c);
        }
    }
    return rc ? rc : evl__sr_buf_byte(b, '"');
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put_canon(evl_sr_buf_t *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys)
            return EVL_ENOMEM;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_keys);
        int rc = evl__sr_buf_byte(b, '{');
        for (i = 0; i < n && !rc; i++) {
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = put_string(b, keys[i], strlen(keys[i]));
            if (!rc)
                rc = evl__sr_buf_byte(b, ':');
            if (!rc)
                rc = put_canon(b, json_object_get(v, keys[i]));
        }
        free(keys);
        return rc ? rc : evl__sr_buf_byte(b, '}');
    }
    case JSON_ARRAY: {
        int rc = evl__sr_buf_byte(b, '[');
        for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = put_canon(b, json_array_get(v, i));
        }
        return rc ? rc : evl__sr_buf_byte(b, ']');
    }
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return evl__sr_buf_printf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        char s[40];
        for (int p = 1; p <= 17; p++) {
            snprintf(s, sizeof s, "%.*g", p, d);
            if (strtod(s, NULL) == d)
                break;
        }
        /* 1000.0, not 1e+03: positional while it is exact */
        char *e = strchr(s, 'e');
        if (e) {
            int x = atoi(e + 1), p = 17;
            for (int q = 1; q <= 17; q++) {
                snprintf(s, sizeof s, "%.*g", q, d);
                if (strtod(s, NULL) == d) {
                    p = q;
                    break;
                }
            }
            if (x >= 0 && x < 17)
                snprintf(s, sizeof s, "%.*g", x + 1 > p ? x + 1 : p, d);
        }
        if (!strpbrk(s, ".eEn"))
            strcat(s, ".0");
        return evl__sr_buf_printf(b, "%s", s);
    }
    case JSON_TRUE: return evl__sr_buf_put(b, "true", 4);
    case JSON_FALSE: return evl__sr_buf_put(b, "false", 5);
    case JSON_NULL: return evl__sr_buf_put(b, "null", 4);
    }
    return 0;
}

static char *js_canonical(const void *schema)
{
    const evl_js_schema_t *js = schema;
    evl_sr_buf_t b = {0};
    if (put_canon(&b, js->root) < 0) {
        evl__sr_buf_free(&b);
        return NULL;
    }
    return evl__sr_buf_str(&b);
}

static const char *js_record_name(const void *schema)
{
    return ((const evl_js_schema_t *)schema)->title;
}

/* ---- validation entry points and the codec ---- */

int evl__js_validate(const void *schema, const char *json, size_t len, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!doc) {
        if (errlen)
            snprintf(err, errlen, "not JSON: %s (line %d, column %d)", je.text, je.line,
                     je.column);
        return EVL_ESCHEMA_INVALID;
    }
    int rc = evl__js_check(schema, doc, err, errlen);
    json_decref(doc);
    if (rc < 0)
        return rc;
    return rc == 1 ? 0 : EVL_ESCHEMA_INVALID;
}

static int js_encode(const void *schema, const int *path, size_t depth, const char *json,
                     size_t len, evl_sr_buf_t *out, char *err, size_t errlen)
{
    int rc = evl__js_validate(schema, json, len, err, errlen);
    if (rc < 0)
        return rc;
    return evl__sr_buf_put(out, json, len);
}

static int js_decode(const void *writer, const void *reader, const int *path, size_t depth,
                     const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err,
                     size_t errlen)
{
    if (errlen)
        err[0] = 0;
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!doc) {
        if (errlen)
            snprintf(err, errlen, "payload is not JSON: %s (line %d, column %d)", je.text,
                     je.line, je.column);
        return EVL_ESCHEMA_MISMATCH;
    }
    int rc = 1;
    if (reader) {
        char e[EVL_SR_ERRLEN];
        rc = evl__js_check(reader, doc, e, sizeof e);
        if (rc == 0 || rc == EVL_ESCHEMA_INVALID) {
            if (errlen)
                snprintf(err, errlen, "does not fit the reader's schema: %s", e);
            rc = EVL_ESCHEMA_MISMATCH;
        }
    }
    json_decref(doc);
    if (rc < 0)
        return rc;
    return evl__sr_buf_put(out, data, len);
}

const evl_sr_format_t evl__sr_json = {
    .name = "JSON",
    .parse = js_parse,
    .free = js_free,
    .canonical = js_canonical,
    .record_name = js_record_name,
    .can_read = evl__js_can_read,
    .encode = js_encode,
    .decode = js_decode,
};
