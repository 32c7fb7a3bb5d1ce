/*
 * smt.c - Kafka Connect's single message transforms, chained by
 * `transforms=a,b` with `transforms.a.type=CLASS` and the transform's own
 * settings, each optionally applied only where a predicate holds
 * (`transforms.a.predicate=p`, `transforms.a.negate`, `predicates=p`,
 * `predicates.p.type=CLASS`). Classes by Kafka's names (the package may be
 * left out): InsertField, ReplaceField, MaskField, ExtractField,
 * HoistField and Cast ($Key or $Value), ValueToKey, TimestampRouter,
 * RegexRouter, Filter; predicates TopicNameMatches, HasHeaderKey,
 * RecordIsTombstone. Field transforms work on structured data (the String
 * or JSON converter); on a struct without a schema (schemaless) as on one
 * with a schema (JsonConverter's envelope: the schema follows, convert.c).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"

enum {
    T_INSERT, T_REPLACE, T_MASK, T_EXTRACT, T_HOIST, T_CAST, T_VALUE_TO_KEY,
    T_TS_ROUTER, T_REGEX_ROUTER, T_FILTER
};
enum { P_TOPIC, P_HEADER, P_TOMBSTONE };

typedef struct pred {
    char alias[64];
    int kind;
    regex_t re;
    bool has_re;
    char *name;
} pred_t;

typedef struct smt {
    char alias[64];
    const char *cls;
    int kind;
    bool key;           /* $Key: on the key; else the value */
    const pred_t *pred;
    bool negate;
    json_t *conf;       /* the transform's settings, by name */
    regex_t re;
    bool has_re;
} smt_t;

struct chain {
    smt_t *t;
    size_t n;
    pred_t *p;
    size_t np;
};

static const struct {
    const char *name;
    int kind;
    int side; /* 0: none; 1: needs $Key or $Value */
} classes[] = {
    {"InsertField", T_INSERT, 1},   {"ReplaceField", T_REPLACE, 1},
    {"MaskField", T_MASK, 1},       {"ExtractField", T_EXTRACT, 1},
    {"HoistField", T_HOIST, 1},     {"Cast", T_CAST, 1},
    {"ValueToKey", T_VALUE_TO_KEY, 0}, {"TimestampRouter", T_TS_ROUTER, 0},
    {"RegexRouter", T_REGEX_ROUTER, 0}, {"Filter", T_FILTER, 0},
};

typedef struct collect {
    json_t *all; /* name -> value of transforms.* and predicates.* */
} collect_t;

static int collect_fn(void *arg, const char *name, const char *value)
{
    collect_t *c = arg;
    json_object_set_new(c->all, name, json_string(value));
    return 0;
}

static const char *sget(const json_t *conf, const char *k)
{
    return json_string_value(json_object_get(conf, k));
}

/* CLASS's simple name, from a full Kafka class name or the simple one;
 * *side 1 for $Key, 2 for $Value, 0 for none. */
static const char *simple(const char *cls, int *side)
{
    const char *dot = strrchr(cls, '.');
    const char *s = dot ? dot + 1 : cls;
    *side = 0;
    const char *d = strchr(s, '$');
    if (d)
        *side = !strcmp(d, "$Key") ? 1 : !strcmp(d, "$Value") ? 2 : 3;
    return s;
}

/* The settings of alias under prefix ("transforms.a."): a new object. */
static json_t *settings(json_t *all, const char *prefix)
{
    json_t *o = json_object();
    const char *k;
    json_t *v;
    size_t pl = strlen(prefix);
    json_object_foreach(all, k, v) {
        if (!strncmp(k, prefix, pl))
            json_object_set(o, k + pl, v);
    }
    return o;
}

static int bad(char *err, size_t errsz, const char *what, const char *alias, const char *key,
               const char *why)
{
    snprintf(err, errsz, "%s.%s%s%s: %s", what, alias, key ? "." : "", key ? key : "", why);
    return EVL_ECONFIG;
}

static int compile(regex_t *re, const char *pattern, bool *has)
{
    char *full = malloc(strlen(pattern) + 5);
    if (!full)
        return EVL_ENOMEM;
    sprintf(full, "^(%s)$", pattern); /* Java's matches(): the whole name */
    int rc = regcomp(re, full, REG_EXTENDED);
    free(full);
    if (rc)
        return EVL_ECONFIG;
    *has = true;
    return 0;
}

static int next_alias(const char **list, char *buf, size_t sz)
{
    const char *p = *list;
    while (*p == ' ' || *p == ',')
        p++;
    if (!*p)
        return 0;
    size_t n = strcspn(p, ",");
    size_t m = n;
    while (m && p[m - 1] == ' ')
        m--;
    snprintf(buf, sz, "%.*s", (int)m, p);
    *list = p + n;
    return 1;
}

void evl__chain_free(chain_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->t[i].conf);
        if (c->t[i].has_re)
            regfree(&c->t[i].re);
    }
    for (size_t i = 0; i < c->np; i++) {
        if (c->p[i].has_re)
            regfree(&c->p[i].re);
        free(c->p[i].name);
    }
    free(c->t);
    free(c->p);
    free(c);
}

static int check_transform(smt_t *t, char *err, size_t errsz)
{
    const char *a = t->alias;
    switch (t->kind) {
    case T_EXTRACT:
    case T_HOIST:
        if (!sget(t->conf, "field") || !sget(t->conf, "field")[0])
            return bad(err, errsz, "transforms", a, "field", "required");
        break;
    case T_VALUE_TO_KEY:
        if (!sget(t->conf, "fields") || !sget(t->conf, "fields")[0])
            return bad(err, errsz, "transforms", a, "fields", "required");
        break;
    case T_MASK:
        if (!sget(t->conf, "fields") || !sget(t->conf, "fields")[0])
            return bad(err, errsz, "transforms", a, "fields", "required");
        break;
    case T_CAST: {
        const char *spec = sget(t->conf, "spec");
        if (!spec || !spec[0])
            return bad(err, errsz, "transforms", a, "spec", "required");
        static const char *const types[] = {"int8", "int16", "int32", "int64", "float32",
                                            "float64", "boolean", "string", NULL};
        char buf[128];
        for (const char *p = spec; next_alias(&p, buf, sizeof buf);) {
            const char *ty = strchr(buf, ':') ? strchr(buf, ':') + 1 : buf;
            bool ok = false;
            for (const char *const *x = types; *x; x++)
                ok = ok || !strcmp(ty, *x);
            if (!ok)
                return bad(err, errsz, "transforms", a, "spec",
                           "types are int8, int16, int32, int64, float32, float64, boolean, "
                           "string");
        }
        break;
    }
    case T_REGEX_ROUTER: {
        const char *re = sget(t->conf, "regex");
        if (!re || !sget(t->conf, "replacement"))
            return bad(err, errsz, "transforms", a, re ? "replacement" : "regex", "required");
        if (compile(&t->re, re, &t->has_re))
            return bad(err, errsz, "transforms", a, "regex", "not a regular expression");
        break;
    }
    default:
        break;
    }
    return 0;
}

int evl__chain_new(const evl_conf_t *conf, chain_t **out, char *err, size_t errsz)
{
    *out = NULL;
    const char *tl = evl_conf_str(conf, "transforms"), *pl = evl_conf_str(conf, "predicates");
    collect_t col = {json_object()};
    if (!col.all)
        return EVL_ENOMEM;
    evl_conf_each(conf, "transforms.", collect_fn, &col);
    evl_conf_each(conf, "predicates.", collect_fn, &col);
    int rc = 0;
    chain_t *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(col.all);
        return EVL_ENOMEM;
    }
    char alias[64], prefix[96];
    size_t cap = 0;
    for (const char *p = pl ? pl : ""; rc == 0 && next_alias(&p, alias, sizeof alias);) {
        if (c->np == cap) {
            pred_t *np = realloc(c->p, (cap = cap ? cap * 2 : 4) * sizeof *np);
            if (!np) {
                rc = EVL_ENOMEM;
                break;
            }
            c->p = np;
        }
        pred_t *pr = &c->p[c->np];
        memset(pr, 0, sizeof *pr);
        snprintf(pr->alias, sizeof pr->alias, "%s", alias);
        snprintf(prefix, sizeof prefix, "predicates.%s.", alias);
        json_t *s = settings(col.all, prefix);
        const char *ty = sget(s, "type");
        int side;
        const char *sn = ty ? simple(ty, &side) : NULL;
        c->np++;
        if (!ty)
            rc = bad(err, errsz, "predicates", alias, "type", "required");
        else if (!strcmp(sn, "TopicNameMatches")) {
            pr->kind = P_TOPIC;
            const char *pat = sget(s, "pattern");
            if (!pat)
                rc = bad(err, errsz, "predicates", alias, "pattern", "required");
            else if (compile(&pr->re, pat, &pr->has_re))
                rc = bad(err, errsz, "predicates", alias, "pattern", "not a regular expression");
        } else if (!strcmp(sn, "HasHeaderKey")) {
            pr->kind = P_HEADER;
            const char *nm = sget(s, "name");
            if (!nm)
                rc = bad(err, errsz, "predicates", alias, "name", "required");
            else if (!(pr->name = strdup(nm)))
                rc = EVL_ENOMEM;
        } else if (!strcmp(sn, "RecordIsTombstone")) {
            pr->kind = P_TOMBSTONE;
        } else {
            rc = bad(err, errsz, "predicates", alias, "type", "unknown predicate");
        }
        json_decref(s);
    }
    cap = 0;
    for (const char *p = tl ? tl : ""; rc == 0 && next_alias(&p, alias, sizeof alias);) {
        if (c->n == cap) {
            smt_t *nt = realloc(c->t, (cap = cap ? cap * 2 : 4) * sizeof *nt);
            if (!nt) {
                rc = EVL_ENOMEM;
                break;
            }
            c->t = nt;
        }
        smt_t *t = &c->t[c->n];
        memset(t, 0, sizeof *t);
        snprintf(t->alias, sizeof t->alias, "%s", alias);
        snprintf(prefix, sizeof prefix, "transforms.%s.", alias);
        t->conf = settings(col.all, prefix);
        c->n++;
        const char *ty = sget(t->conf, "type");
        if (!ty) {
            rc = bad(err, errsz, "transforms", alias, "type", "required");
            break;
        }
        int side;
        const char *sn = simple(ty, &side);
        size_t k;
        for (k = 0; k < sizeof classes / sizeof classes[0]; k++) {
            size_t l = strlen(classes[k].name);
            if (!strncmp(sn, classes[k].name, l) && (sn[l] == 0 || sn[l] == '$'))
                break;
        }
        if (k == sizeof classes / sizeof classes[0]) {
            rc = bad(err, errsz, "transforms", alias, "type", "unknown transform");
            break;
        }
        if ((classes[k].side && side != 1 && side != 2) || (!classes[k].side && side)) {
            rc = bad(err, errsz, "transforms", alias, "type",
                     classes[k].side ? "name $Key or $Value" : "takes no $Key or $Value");
            break;
        }
        t->kind = classes[k].kind;
        t->cls = classes[k].name;
        t->key = side == 1;
        const char *pn = sget(t->conf, "predicate"), *neg = sget(t->conf, "negate");
        if (pn) {
            for (size_t i = 0; i < c->np; i++)
                if (!strcmp(c->p[i].alias, pn))
                    t->pred = &c->p[i];
            if (!t->pred) {
                rc = bad(err, errsz, "transforms", alias, "predicate", "not in predicates");
                break;
            }
        }
        if (neg && strcmp(neg, "true") && strcmp(neg, "false")) {
            rc = bad(err, errsz, "transforms", alias, "negate", "true or false");
            break;
        }
        t->negate = neg && !strcmp(neg, "true");
        rc = check_transform(t, err, errsz);
    }
    json_decref(col.all);
    if (rc || c->n == 0) {
        evl__chain_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- applying ---------------------------------------------------------------- */

static bool holds(const pred_t *p, const crec_t *r)
{
    switch (p->kind) {
    case P_TOPIC:
        return regexec(&p->re, r->topic, 0, NULL, 0) == 0;
    case P_HEADER:
        for (size_t i = 0; i < r->nheaders; i++)
            if (r->headers[i].name_len == strlen(p->name) &&
                !memcmp(r->headers[i].name, p->name, r->headers[i].name_len))
                return true;
        return false;
    default:
        return r->value.null;
    }
}

/* Field name without the "!" / "?" of InsertField's syntax. */
static void bare(const char *f, char *buf, size_t sz)
{
    size_t n = strlen(f);
    if (n && (f[n - 1] == '!' || f[n - 1] == '?'))
        n--;
    snprintf(buf, sz, "%.*s", (int)n, f);
}

static int need_struct(const cval_t *v, const smt_t *t, char *msg, size_t msgsz)
{
    if (v->null || !json_is_object(v->json)) {
        snprintf(msg, msgsz, "%s: %s requires a struct or map (%s)", t->alias, t->cls,
                 v->null ? "it is null" : v->raw ? "bytes: use the String or JSON converter"
                                                : "not a struct");
        return EVL_EINVAL;
    }
    return 0;
}

/* Cast one JSON value to type; NULL if it cannot be. */
static json_t *cast(const json_t *v, const char *type)
{
    double d;
    if (json_is_number(v))
        d = json_number_value(v);
    else if (json_is_boolean(v))
        d = json_is_true(v);
    else if (json_is_string(v)) {
        if (!strcmp(type, "string"))
            return json_incref((json_t *)v);
        char *e;
        const char *s = json_string_value(v);
        if (!strcmp(type, "boolean"))
            return !strcmp(s, "true") ? json_true() : !strcmp(s, "false") ? json_false() : NULL;
        d = strtod(s, &e);
        if (e == s || *e)
            return NULL;
    } else {
        return NULL;
    }
    if (!strcmp(type, "string")) {
        char buf[64];
        if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_boolean(v))
            snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
        else
            snprintf(buf, sizeof buf, "%.17g", d);
        return json_string(buf);
    }
    if (!strcmp(type, "boolean"))
        return json_boolean(d != 0);
    if (!strcmp(type, "float32") || !strcmp(type, "float64"))
        return json_real(!strcmp(type, "float32") ? (double)(float)d : d);
    long long lim = !strcmp(type, "int8") ? 127 : !strcmp(type, "int16") ? 32767
                    : !strcmp(type, "int32") ? 2147483647LL : 0;
    if (!json_is_integer(v) && !(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18))
        return NULL; /* out of any integer's range (or NaN) */
    json_int_t i = (json_int_t)d;
    if (json_is_integer(v))
        i = json_integer_value(v);
    if (lim)
        i = (json_int_t)(int64_t)(lim == 127 ? (int8_t)i : lim == 32767 ? (int16_t)i : (int32_t)i);
    return json_integer(i); /* Kafka's casts wrap as Java's do */
}

/* The schema's entry for field f (a struct's), or NULL. */
static json_t *schema_field(json_t *schema, const char *f)
{
    json_t *fields = json_object_get(schema, "fields"), *x;
    size_t i;
    json_array_foreach(fields, i, x) {
        if (json_is_string(json_object_get(x, "field")) &&
            !strcmp(json_string_value(json_object_get(x, "field")), f))
            return x;
    }
    return NULL;
}

static void fmt_time(char *out, size_t sz, const char *fmt, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t o = 0;
    for (const char *p = fmt; *p && o + 8 < sz;) {
        size_t run = 1;
        while (p[run] == p[0])
            run++;
        char c = *p;
        int val = -1, width = (int)run;
        if (c == 'y')
            val = tm.tm_year + 1900, width = run == 2 ? 2 : 4;
        else if (c == 'M')
            val = tm.tm_mon + 1;
        else if (c == 'd')
            val = tm.tm_mday;
        else if (c == 'H')
            val = tm.tm_hour;
        else if (c == 'm')
            val = tm.tm_min;
        else if (c == 's')
            val = tm.tm_sec;
        else if (c == 'S')
            val = (int)(ms % 1000);
        if (c == '\'') { /* quoted text */
            const char *e = strchr(p + 1, '\'');
            size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
            o += (size_t)snprintf(out + o, sz - o, "%.*s", (int)n, p + 1);
            p = e ? e + 1 : p + 1 + n;
            continue;
        }
        if (val >= 0) {
            if (c == 'y' && run == 2)
                val %= 100;
            o += (size_t)snprintf(out + o, sz - o, "%0*d", width, val);
        } else {
            o += (size_t)snprintf(out + o, sz - o, "%.*s", (int)run, p);
        }
        p += run;
    }
    out[o < sz ? o : sz - 1] = 0;
}

static int apply_one(const smt_t *t, crec_t *r, char *msg, size_t msgsz)
{
    cval_t *v = t->key ? &r->key : &r->value;
    char buf[256];
    int rc;
    switch (t->kind) {
    case T_FILTER:
        return 1;
    case T_REGEX_ROUTER: {
        regmatch_t m[10];
        if (regexec(&t->re, r->topic, 10, m, 0))
            return 0;
        const char *rep = sget(t->conf, "replacement");
        char out[256];
        size_t o = 0;
        for (const char *p = rep; *p && o < sizeof out - 1; p++) {
            if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
                int g = p[1] - '0' + 1; /* our group 1 is the whole pattern */
                if (g < 10 && m[g].rm_so >= 0) {
                    size_t n = (size_t)(m[g].rm_eo - m[g].rm_so);
                    if (o + n >= sizeof out)
                        n = sizeof out - 1 - o;
                    memcpy(out + o, r->topic + m[g].rm_so, n);
                    o += n;
                }
                p++;
            } else {
                out[o++] = *p;
            }
        }
        out[o] = 0;
        snprintf(r->topic, sizeof r->topic, "%s", out);
        return 0;
    }
    case T_TS_ROUTER: {
        const char *tf = sget(t->conf, "topic.format"), *df = sget(t->conf, "timestamp.format");
        char ts[64], out[256];
        fmt_time(ts, sizeof ts, df ? df : "yyyyMMdd", r->timestamp);
        size_t o = 0;
        for (const char *p = tf ? tf : "${topic}-${timestamp}"; *p && o < sizeof out - 1;) {
            const char *ins = NULL;
            if (!strncmp(p, "${topic}", 8))
                ins = r->topic, p += 8;
            else if (!strncmp(p, "${timestamp}", 12))
                ins = ts, p += 12;
            if (ins)
                o += (size_t)snprintf(out + o, sizeof out - o, "%s", ins);
            else
                out[o++] = *p++;
        }
        out[o < sizeof out ? o : sizeof out - 1] = 0;
        snprintf(r->topic, sizeof r->topic, "%s", out);
        return 0;
    }
    case T_HOIST: {
        json_t *inner = v->raw ? NULL : v->null ? json_null() : json_incref(v->json);
        if (v->raw) {
            inner = json_stringn(v->bytes ? v->bytes : "", v->len);
            if (!inner) {
                snprintf(msg, msgsz, "%s: HoistField: bytes that are not text", t->alias);
                return EVL_EINVAL;
            }
        }
        json_t *schema = v->schema ? json_deep_copy(v->schema) : NULL;
        json_t *o = json_object();
        json_object_set_new(o, sget(t->conf, "field"), inner);
        evl__cval_set_json(v, o);
        if (schema) {
            json_object_set_new(schema, "field", json_string(sget(t->conf, "field")));
            v->schema = json_pack("{s:s, s:[o], s:b}", "type", "struct", "fields", schema,
                                  "optional", 0);
        }
        return 0;
    }
    case T_VALUE_TO_KEY: {
        if ((rc = need_struct(&r->value, t, msg, msgsz)))
            return rc;
        json_t *k = json_object();
        json_t *ks = r->value.schema ? json_pack("{s:s, s:[], s:b}", "type", "struct",
                                                 "fields", "optional", 0)
                                     : NULL;
        for (const char *p = sget(t->conf, "fields"); next_alias(&p, buf, sizeof buf);) {
            json_t *f = json_object_get(r->value.json, buf);
            if (!f) {
                json_decref(k);
                json_decref(ks);
                snprintf(msg, msgsz, "%s: ValueToKey: no field %s in the value", t->alias, buf);
                return EVL_EINVAL;
            }
            json_object_set_new(k, buf, json_deep_copy(f)); /* the key's own */
            json_t *fs = ks ? schema_field(r->value.schema, buf) : NULL;
            if (fs)
                json_array_append_new(json_object_get(ks, "fields"), json_deep_copy(fs));
        }
        evl__cval_set_json(&r->key, k);
        r->key.schema = ks;
        return 0;
    }
    case T_EXTRACT: {
        if (v->null)
            return 0; /* Kafka's ExtractField passes nulls */
        if ((rc = need_struct(v, t, msg, msgsz)))
            return rc;
        const char *f = sget(t->conf, "field");
        json_t *x = json_object_get(v->json, f);
        json_t *fs = v->schema ? schema_field(v->schema, f) : NULL;
        fs = fs ? json_deep_copy(fs) : NULL;
        if (fs)
            json_object_del(fs, "field");
        json_t *keep = x ? json_incref(x) : json_null();
        evl__cval_set_json(v, keep);
        v->schema = fs;
        return 0;
    }
    default:
        break;
    }
    /* Field transforms on a struct: InsertField, ReplaceField, MaskField, Cast. */
    if (t->kind == T_CAST && !json_is_object(v->json)) {
        const char *spec = sget(t->conf, "spec");
        if (strchr(spec, ':') || v->null || v->raw) {
            if (v->null)
                return 0;
            snprintf(msg, msgsz, "%s: Cast: %s", t->alias,
                     v->raw ? "bytes: use the String or JSON converter" : "not a struct");
            return EVL_EINVAL;
        }
        json_t *c = cast(v->json, spec);
        if (!c) {
            snprintf(msg, msgsz, "%s: Cast: cannot cast to %s", t->alias, spec);
            return EVL_EINVAL;
        }
        json_t *schema = v->schema ? json_deep_copy(v->schema) : NULL;
        evl__cval_set_json(v, c);
        if (schema)
            json_object_set_new(schema, "type", json_string(spec));
        v->schema = schema;
        return 0;
    }
    if (t->kind == T_INSERT && v->null)
        return 0; /* Kafka's InsertField passes tombstones */
    if ((rc = need_struct(v, t, msg, msgsz)))
        return rc;
    json_t *o = v->json;
    if (t->kind == T_INSERT) {
        const char *f;
        if ((f = sget(t->conf, "topic.field")) && f[0])
            bare(f, buf, sizeof buf), json_object_set_new(o, buf, json_string(r->topic));
        if ((f = sget(t->conf, "partition.field")) && f[0])
            bare(f, buf, sizeof buf), json_object_set_new(o, buf, json_integer(r->partition));
        if ((f = sget(t->conf, "offset.field")) && f[0])
            bare(f, buf, sizeof buf), json_object_set_new(o, buf, json_integer(r->offset));
        if ((f = sget(t->conf, "timestamp.field")) && f[0])
            bare(f, buf, sizeof buf), json_object_set_new(o, buf, json_integer(r->timestamp));
        if ((f = sget(t->conf, "static.field")) && f[0]) {
            const char *sv = sget(t->conf, "static.value");
            bare(f, buf, sizeof buf);
            json_object_set_new(o, buf, json_string(sv ? sv : ""));
        }
        return 0;
    }
    if (t->kind == T_REPLACE) {
        const char *inc = sget(t->conf, "include"), *exc = sget(t->conf, "exclude");
        inc = inc ? inc : sget(t->conf, "whitelist");
        exc = exc ? exc : sget(t->conf, "blacklist");
        const char *ren = sget(t->conf, "renames");
        json_t *n = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(o, k, x) {
            bool keep = true;
            if (inc && inc[0]) {
                keep = false;
                for (const char *p = inc; next_alias(&p, buf, sizeof buf);)
                    keep = keep || !strcmp(buf, k);
            }
            for (const char *p = exc ? exc : ""; keep && next_alias(&p, buf, sizeof buf);)
                keep = strcmp(buf, k) != 0;
            if (!keep)
                continue;
            const char *to = k;
            char rb[256];
            for (const char *p = ren ? ren : ""; next_alias(&p, buf, sizeof buf);) {
                char *colon = strchr(buf, ':');
                if (colon && (*colon = 0, !strcmp(buf, k))) {
                    snprintf(rb, sizeof rb, "%s", colon + 1);
                    to = rb;
                    break;
                }
            }
            json_object_set(n, to, x);
        }
        if (v->schema && ren && ren[0]) { /* renamed fields keep their schemas */
            for (const char *p = ren; next_alias(&p, buf, sizeof buf);) {
                char *colon = strchr(buf, ':');
                json_t *fs;
                if (colon && (*colon = 0, (fs = schema_field(v->schema, buf))))
                    json_object_set_new(fs, "field", json_string(colon + 1));
            }
        }
        json_t *schema = v->schema ? json_incref(v->schema) : NULL;
        evl__cval_set_json(v, n);
        v->schema = schema;
        return 0;
    }
    if (t->kind == T_MASK) {
        const char *rep = sget(t->conf, "replacement");
        for (const char *p = sget(t->conf, "fields"); next_alias(&p, buf, sizeof buf);) {
            json_t *x = json_object_get(o, buf);
            if (!x)
                continue;
            json_t *m;
            if (rep && !json_is_string(x)) {
                json_t *rs = json_string(rep);
                m = cast(rs, json_is_integer(x) ? "int64" : json_is_real(x) ? "float64"
                                                                            : "boolean");
                json_decref(rs);
            } else {
                m = rep                ? json_string(rep)
                    : json_is_string(x)  ? json_string("")
                    : json_is_integer(x) ? json_integer(0)
                    : json_is_real(x)    ? json_real(0)
                    : json_is_boolean(x) ? json_false()
                    : json_is_array(x)   ? json_array()
                    : json_is_object(x)  ? json_object()
                                         : json_null();
            }
            if (!m) {
                snprintf(msg, msgsz, "%s: MaskField: replacement '%s' does not fit %s",
                         t->alias, rep, buf);
                return EVL_EINVAL;
            }
            json_object_set_new(o, buf, m);
        }
        return 0;
    }
    /* T_CAST on fields */
    for (const char *p = sget(t->conf, "spec"); next_alias(&p, buf, sizeof buf);) {
        char *colon = strchr(buf, ':');
        if (!colon) {
            snprintf(msg, msgsz, "%s: Cast: a whole-value spec on a struct", t->alias);
            return EVL_EINVAL;
        }
        *colon = 0;
        json_t *x = json_object_get(o, buf);
        if (!x || json_is_null(x))
            continue;
        json_t *c = cast(x, colon + 1);
        if (!c) {
            snprintf(msg, msgsz, "%s: Cast: field %s cannot be cast to %s", t->alias, buf,
                     colon + 1);
            return EVL_EINVAL;
        }
        json_object_set_new(o, buf, c);
        json_t *fs = v->schema ? schema_field(v->schema, buf) : NULL;
        if (fs)
            json_object_set_new(fs, "type", json_string(colon + 1));
    }
    return 0;
}

int evl__chain_apply(const chain_t *c, crec_t *r, char *msg, size_t msgsz, const char **cls)
{
    for (size_t i = 0; i < c->n; i++) {
        const smt_t *t = &c->t[i];
        if (t->pred && holds(t->pred, r) == t->negate)
            continue;
        *cls = t->cls;
        int rc = apply_one(t, r, msg, msgsz);
        if (rc)
            return rc;
    }
    return 0;
}
