/*
 * serde.c - serdes per topic: the built-in ones (bytes, string, int64,
 * json on jansson), the builder's table of topics' serdes, and applying
 * them where records enter (sources, global tables) and leave (sinks).
 */
#include "streams_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    return EVL_SERDE_SAME;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                             : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || i + k >= n)
            return false;
        uint32_t cp = k ? c & (0x3F >> k) : c;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static int string_check(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    return utf8_ok(in, len) ? EVL_SERDE_SAME : EVL_EINVAL;
}

static int int64_check(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    return len == 8 ? EVL_SERDE_SAME : EVL_EINVAL;
}

static int json_check(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    json_error_t e;
    json_t *j = json_loadb(in, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return EVL_EINVAL;
    json_decref(j);
    return EVL_SERDE_SAME;
}

static const evl_serde_t bytes_serde = {"bytes", same, same, NULL};
static const evl_serde_t string_serde = {"string", string_check, string_check, NULL};
static const evl_serde_t int64_serde = {"int64", int64_check, int64_check, NULL};
static const evl_serde_t json_serde = {"json", json_check, json_check, NULL};

EVL_API const evl_serde_t *evl_serde_bytes(void) { return &bytes_serde; }
EVL_API const evl_serde_t *evl_serde_string(void) { return &string_serde; }
EVL_API const evl_serde_t *evl_serde_int64(void) { return &int64_serde; }
EVL_API const evl_serde_t *evl_serde_json(void) { return &json_serde; }

const evl_serde_t *evl__serde_named(const char *name)
{
    static const evl_serde_t *const all[] = {&bytes_serde, &string_serde, &int64_serde,
                                             &json_serde};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!strcmp(all[i]->name, name))
            return all[i];
    return NULL;
}

EVL_API int evl_streams_topic_serdes(evl_streams_builder_t *b, const char *topic,
                                     const evl_serde_t *key, const evl_serde_t *value)
{
    if (!b || !topic || !*topic || b->err[0])
        return EVL_EINVAL;
    for (size_t i = 0; i < b->nserdes; i++)
        if (!strcmp(b->serdes[i].topic, topic)) {
            evl__builder_fail(b, "serdes of topic '%s' declared twice", topic);
            return EVL_EINVAL;
        }
    if ((key && (!key->deserialize || !key->serialize)) ||
        (value && (!value->deserialize || !value->serialize))) {
        evl__builder_fail(b, "serdes of topic '%s': a serde needs both functions", topic);
        return EVL_EINVAL;
    }
    evl_topic_serdes_t *v = realloc(b->serdes, (b->nserdes + 1) * sizeof *v);
    if (!v) {
        evl__builder_fail(b, "out of memory");
        return EVL_ENOMEM;
    }
    b->serdes = v;
    evl_topic_serdes_t *t = &b->serdes[b->nserdes];
    memset(t, 0, sizeof *t);
    if (!(t->topic = strdup(topic))) {
        evl__builder_fail(b, "out of memory");
        return EVL_ENOMEM;
    }
    if (key) {
        t->key = *key;
        t->has_key = true;
    }
    if (value) {
        t->value = *value;
        t->has_value = true;
    }
    b->nserdes++;
    return 0;
}

void evl__serdes_for(const evl_streams_t *app, const char *topic, const evl_serde_t **key,
                     const evl_serde_t **value)
{
    *key = app->default_key;
    *value = app->default_value;
    const evl_streams_builder_t *b = app->b;
    for (size_t i = 0; i < b->nserdes; i++)
        if (!strcmp(b->serdes[i].topic, topic)) {
            if (b->serdes[i].has_key)
                *key = &b->serdes[i].key;
            if (b->serdes[i].has_value)
                *value = &b->serdes[i].value;
        }
}

/* One side of a record through fn: *p, *len replaced (by *owned, to free,
 * unless the serde kept the bytes). */
static int apply_one(const evl_serde_t *s, bool ser, const void **p, size_t *len, void **owned)
{
    *owned = NULL;
    if (!s || !*p || s == &bytes_serde)
        return 0;
    void *out = NULL;
    size_t ol = 0;
    int rc = (ser ? s->serialize : s->deserialize)(s->arg, *p, *len, &out, &ol);
    if (rc == EVL_SERDE_SAME)
        return 0;
    if (rc < 0)
        return rc;
    if (rc > 0 || (!out && ol))
        return EVL_EINVAL;
    *owned = out;
    *p = out ? out : "";
    *len = ol;
    return 0;
}

int evl__serde_apply(const evl_serde_t *key, const evl_serde_t *value, bool ser, evl_srec_t *r,
                     void **kown, void **vown, bool *bad_key)
{
    *vown = NULL;
    *bad_key = true;
    int rc = apply_one(key, ser, &r->key, &r->key_len, kown);
    if (rc)
        return rc;
    *bad_key = false;
    rc = apply_one(value, ser, &r->value, &r->value_len, vown);
    if (rc) {
        free(*kown);
        *kown = NULL;
    }
    return rc;
}
