/*
 * confdef.c - the areas' own settings (eventlog.h, evl_confdef_*): each
 * area (connectors, the registry, streams) declares its keys once, with a
 * type, a default, a range or list of values, a validator, the scopes
 * where the key applies and a line of documentation, as Kafka's ConfigDef
 * does; a set of name=value pairs is then checked against it, all at once
 * (every problem named, for a REST validate call) or refused at the first,
 * and read back typed. A key given where it does not apply (another scope)
 * is refused, never ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "os.h"

struct evl_confdef {
    char *area;
    evl_confkey_t *keys;
    size_t n;
};

struct evl_conf {
    const evl_confdef_t *def;
    char **val;   /* per key: the value given, or NULL (its default) */
    char **given; /* every pair given, in order (2 * ngiven) */
    size_t ngiven;
};

/* A key named "prefix.*" stands for every name that starts with "prefix."
 * (settings passed through to a library, as kafka.* to librdkafka). */
static bool is_prefix(const evl_confkey_t *k)
{
    size_t n = strlen(k->name);
    return n >= 2 && k->name[n - 1] == '*' && k->name[n - 2] == '.';
}

static const evl_confkey_t *find(const evl_confdef_t *d, const char *name, size_t *at)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->keys[i].name, name)) {
            if (at)
                *at = i;
            return &d->keys[i];
        }
    for (size_t i = 0; i < d->n; i++) {
        size_t pl = strlen(d->keys[i].name) - 1;
        if (is_prefix(&d->keys[i]) && strlen(name) > pl && !strncmp(d->keys[i].name, name, pl)) {
            if (at)
                *at = i;
            return &d->keys[i];
        }
    }
    return NULL;
}

/* Check value against k; 0, or EVL_ECONFIG with err set. */
static int check_value(const evl_confkey_t *k, const char *v, char *err, size_t errsz)
{
    char *end;
    switch (k->type) {
    case EVL_CONF_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno || (v[0] == '0' && v[1]) || v[0] == '+' || v[0] == ' ') {
            evl__errstr(err, errsz, "%s: \"%s\" is not an integer", k->name, v);
            return EVL_ECONFIG;
        }
        if (k->min <= k->max && (x < k->min || x > k->max)) {
            evl__errstr(err, errsz, "%s: %lld is outside [%" PRId64 ", %" PRId64 "]", k->name,
                        x, k->min, k->max);
            return EVL_ECONFIG;
        }
        break;
    }
    case EVL_CONF_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x) || v[0] == ' ') {
            evl__errstr(err, errsz, "%s: \"%s\" is not a number", k->name, v);
            return EVL_ECONFIG;
        }
        if (k->min <= k->max && (x < (double)k->min || x > (double)k->max)) {
            evl__errstr(err, errsz, "%s: %s is outside [%" PRId64 ", %" PRId64 "]", k->name, v,
                        k->min, k->max);
            return EVL_ECONFIG;
        }
        break;
    }
    case EVL_CONF_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false")) {
            evl__errstr(err, errsz, "%s: expected true or false, got \"%s\"", k->name, v);
            return EVL_ECONFIG;
        }
        break;
    case EVL_CONF_ENUM: {
        bool ok = false;
        for (size_t i = 0; k->values && k->values[i] && !ok; i++)
            ok = !strcmp(k->values[i], v);
        if (!ok) {
            evl__errstr(err, errsz, "%s: \"%s\" is not one of the allowed values", k->name, v);
            return EVL_ECONFIG;
        }
        break;
    }
    default: /* STRING, LIST, PASSWORD: any text */
        break;
    }
    if (strlen(v) > EVL_CONF_VALUE_MAX) {
        evl__errstr(err, errsz, "%s: value longer than %d bytes", k->name, EVL_CONF_VALUE_MAX);
        return EVL_ECONFIG;
    }
    if (k->validate) {
        char msg[256] = "";
        int rc = k->validate(k->validate_arg, v, msg, sizeof msg);
        if (rc) {
            evl__errstr(err, errsz, "%s: %s", k->name, msg[0] ? msg : "invalid value");
            return EVL_ECONFIG;
        }
    }
    return 0;
}

EVL_API int evl_confdef_new(const char *area, const evl_confkey_t *keys, size_t n,
                            evl_confdef_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!area || !*area || (!keys && n))
        return EVL_EINVAL;
    evl_confdef_t *d = evl__calloc(1, sizeof *d);
    if (!d || !(d->area = evl__strdup(area)) ||
        (n && !(d->keys = evl__malloc(n * sizeof *keys)))) {
        evl_confdef_free(d);
        return EVL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const evl_confkey_t *k = &keys[i];
        char err[160];
        /* A table with a bad row is the area's bug: refused at once. */
        if (!k->name || !*k->name || k->type < EVL_CONF_STRING || k->type > EVL_CONF_PASSWORD ||
            (k->type == EVL_CONF_ENUM && (!k->values || !k->values[0])) || find(d, k->name, NULL) ||
            (k->def && check_value(k, k->def, err, sizeof err))) {
            evl_confdef_free(d);
            return EVL_EINVAL;
        }
        d->keys[d->n++] = *k;
    }
    *out = d;
    return 0;
}

EVL_API void evl_confdef_free(evl_confdef_t *d)
{
    if (!d)
        return;
    free(d->area);
    free(d->keys);
    free(d);
}

EVL_API int evl_conf_validate(const evl_confdef_t *d, unsigned scope,
                              const char *const *pairs, size_t npairs,
                              evl_conf_problem_fn *problem, void *arg)
{
    if (!d || (!pairs && npairs))
        return EVL_EINVAL;
    int bad = 0;
    char err[320];
    bool *given = evl__calloc(d->n ? d->n : 1, sizeof *given);
    if (!given)
        return EVL_ENOMEM;
    for (size_t i = 0; i < npairs; i++) {
        const char *name = pairs[2 * i], *v = pairs[2 * i + 1];
        size_t at;
        const evl_confkey_t *k = name ? find(d, name, &at) : NULL;
        err[0] = 0;
        if (!name || !v) {
            evl__errstr(err, sizeof err, "a NULL name or value");
        } else if (!k) {
            evl__errstr(err, sizeof err, "%s: unknown setting (%s)", name, d->area);
        } else if (k->scope && !(k->scope & scope)) {
            evl__errstr(err, sizeof err, "%s: does not apply here (%s)", name, d->area);
        } else if (is_prefix(k)) {
            for (size_t j = 0; j < i; j++)
                if (pairs[2 * j] && !strcmp(pairs[2 * j], name))
                    evl__errstr(err, sizeof err, "%s: given twice", name);
            if (!err[0])
                check_value(k, v, err, sizeof err);
        } else if (given[at]) {
            evl__errstr(err, sizeof err, "%s: given twice", name);
        } else {
            given[at] = true;
            check_value(k, v, err, sizeof err);
        }
        if (err[0]) {
            bad++;
            if (problem)
                problem(arg, name ? name : "", err);
        }
    }
    for (size_t i = 0; i < d->n; i++)
        if (!given[i] && !d->keys[i].def && !is_prefix(&d->keys[i]) &&
            (!d->keys[i].scope || (d->keys[i].scope & scope))) {
            evl__errstr(err, sizeof err, "%s: required (%s)", d->keys[i].name, d->area);
            bad++;
            if (problem)
                problem(arg, d->keys[i].name, err);
        }
    free(given);
    return bad;
}

struct first_problem {
    char *err;
    size_t errsz;
    bool seen;
};

static void first(void *arg, const char *key, const char *msg)
{
    struct first_problem *f = arg;
    (void)key;
    if (!f->seen)
        evl__errstr(f->err, f->errsz, "%s", msg);
    f->seen = true;
}

EVL_API int evl_conf_parse(const evl_confdef_t *d, unsigned scope, const char *const *pairs,
                           size_t npairs, evl_conf_t **out, char *err, size_t errsz)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    struct first_problem f = {err, errsz, false};
    int bad = evl_conf_validate(d, scope, pairs, npairs, first, &f);
    if (bad < 0)
        return bad;
    if (bad > 0)
        return EVL_ECONFIG;
    evl_conf_t *c = evl__calloc(1, sizeof *c);
    if (!c || !(c->val = evl__calloc(d->n ? d->n : 1, sizeof *c->val))) {
        free(c);
        return EVL_ENOMEM;
    }
    c->def = d;
    if (!(c->given = evl__calloc(2 * npairs + 1, sizeof *c->given))) {
        evl_conf_free(c);
        return EVL_ENOMEM;
    }
    for (size_t i = 0; i < npairs; i++) {
        size_t at = 0;
        const evl_confkey_t *k = find(d, pairs[2 * i], &at); /* known: validated above */
        c->ngiven++;
        if (!(c->given[2 * i] = evl__strdup(pairs[2 * i])) ||
            !(c->given[2 * i + 1] = evl__strdup(pairs[2 * i + 1])) ||
            (!is_prefix(k) && !(c->val[at] = evl__strdup(pairs[2 * i + 1])))) {
            evl_conf_free(c);
            return EVL_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

EVL_API void evl_conf_free(evl_conf_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->val && i < c->def->n; i++)
        free(c->val[i]);
    for (size_t i = 0; c->given && i < 2 * c->ngiven; i++)
        free(c->given[i]);
    free(c->given);
    free(c->val);
    free(c);
}

EVL_API int evl_conf_each(const evl_conf_t *c, const char *prefix,
                          int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    if (!c || !prefix || !fn)
        return EVL_EINVAL;
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < c->ngiven; i++)
        if (!strncmp(c->given[2 * i], prefix, pl)) {
            int rc = fn(arg, c->given[2 * i], c->given[2 * i + 1]);
            if (rc)
                return rc;
        }
    return 0;
}

EVL_API const char *evl_conf_str(const evl_conf_t *c, const char *name)
{
    size_t at;
    const evl_confkey_t *k = c && name ? find(c->def, name, &at) : NULL;
    if (!k)
        return NULL;
    if (is_prefix(k)) { /* a passed-through name: as given, if it was */
        for (size_t i = 0; i < c->ngiven; i++)
            if (!strcmp(c->given[2 * i], name))
                return c->given[2 * i + 1];
        return NULL;
    }
    return c->val[at] ? c->val[at] : c->def->keys[at].def;
}

EVL_API int evl_conf_isset(const evl_conf_t *c, const char *name)
{
    size_t at;
    return c && name && find(c->def, name, &at) && c->val[at] != NULL;
}

EVL_API int64_t evl_conf_int(const evl_conf_t *c, const char *name)
{
    const char *v = evl_conf_str(c, name);
    return v ? strtoll(v, NULL, 10) : 0;
}

EVL_API double evl_conf_double(const evl_conf_t *c, const char *name)
{
    const char *v = evl_conf_str(c, name);
    return v ? strtod(v, NULL) : 0;
}

EVL_API int evl_conf_bool(const evl_conf_t *c, const char *name)
{
    const char *v = evl_conf_str(c, name);
    return v && !strcmp(v, "true");
}

EVL_API size_t evl_confdef_count(const evl_confdef_t *d) { return d ? d->n : 0; }

EVL_API const evl_confkey_t *evl_confdef_key(const evl_confdef_t *d, size_t i)
{
    return d && i < d->n ? &d->keys[i] : NULL;
}
