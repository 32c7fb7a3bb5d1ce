/*
 * schemas.c - reading the index: stored schemas and their references,
 * subjects' versions, levels and modes; parsing a schema with its
 * references resolved; the parsed schemas kept by id; and Confluent's
 * compatibility policy (which versions a level checks, in which
 * direction).
 */
#include "store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const evl_sr_format_t *evl__sr_format(evl_schema_type_t type)
{
    switch (type) {
    case EVL_SCHEMA_AVRO: return &evl__sr_avro;
    case EVL_SCHEMA_JSON: return &evl__sr_json;
    case EVL_SCHEMA_PROTOBUF: return &evl__sr_protobuf;
    }
    return NULL;
}

void evl__sr_info_clear(evl_schema_info_t *info)
{
    free(info->subject);
    free(info->schema);
    for (size_t i = 0; i < info->ref_count; i++) {
        free((char *)info->refs[i].name);
        free((char *)info->refs[i].subject);
    }
    free(info->refs);
    memset(info, 0, sizeof *info);
}

EVL_API void evl_schema_info_free(evl_schema_info_t *info)
{
    if (!info)
        return;
    evl__sr_info_clear(info);
    free(info);
}

/* ---- references as JSON ([{"name","subject","version"}], Confluent's) ---- */

char *evl__sr_refs_json(const evl_schema_ref_t *refs, size_t nrefs)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < nrefs; i++)
        if (json_array_append_new(a, json_pack("{s:s,s:s,s:i}", "name", refs[i].name, "subject",
                                               refs[i].subject, "version", refs[i].version))) {
            json_decref(a);
            return NULL;
        }
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static int refs_from_json(evl_schema_info_t *info, json_t *a)
{
    size_t n = json_array_size(a);
    if (!n)
        return 0;
    info->refs = calloc(n, sizeof *info->refs);
    if (!info->refs)
        return EVL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(a, i);
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *subj = json_string_value(json_object_get(r, "subject"));
        if (!name || !subj)
            return EVL_ECORRUPT;
        info->refs[i].name = strdup(name);
        info->refs[i].subject = strdup(subj);
        info->refs[i].version = (int)json_integer_value(json_object_get(r, "version"));
        info->ref_count = i + 1;
        if (!info->refs[i].name || !info->refs[i].subject)
            return EVL_ENOMEM;
    }
    return 0;
}

int evl__sr_info_refs_json(evl_schema_info_t *info, const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    int rc = json_is_array(a) ? refs_from_json(info, a) : EVL_EINVAL;
    json_decref(a);
    return rc;
}

/* ---- the index ------------------------------------------------------------ */

int evl__sr_load(evl_kv_t *kv, evl_registry_t *reg, int id, evl_schema_info_t *info)
{
    uint8_t k[8];
    size_t kl = evl__sr_key_id(k, 'I', id);
    const void *v;
    size_t vl;
    int rc = evl_kv_get(kv, reg->index, k, kl, &v, &vl);
    if (rc == EVL_ENOTFOUND)
        return EVL_ESCHEMA_NOTFOUND;
    if (rc)
        return rc;
    json_t *o = json_loadb(v, vl, 0, NULL);
    const char *s = json_string_value(json_object_get(o, "s"));
    if (!s) {
        json_decref(o);
        return EVL_ECORRUPT;
    }
    memset(info, 0, sizeof *info);
    info->id = id;
    info->type = (evl_schema_type_t)json_integer_value(json_object_get(o, "t"));
    info->schema = strdup(s);
    rc = info->schema ? refs_from_json(info, json_object_get(o, "r")) : EVL_ENOMEM;
    json_decref(o);
    if (rc)
        evl__sr_info_clear(info);
    return rc;
}

typedef struct vers {
    evl_sr_ver_t *v;
    size_t n, cap;
    size_t plen;
} vers_t;

static int vers_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    vers_t *x = arg;
    if (kl != x->plen + 4 || vl != 5)
        return 0; /* a longer subject with this one as prefix: not ours */
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        evl_sr_ver_t *nv = realloc(x->v, cap * sizeof *nv);
        if (!nv)
            return EVL_ENOMEM;
        x->v = nv;
        x->cap = cap;
    }
    x->v[x->n].version = (int)evl__sr_be32((const uint8_t *)k + x->plen);
    x->v[x->n].id = (int)evl__sr_be32(v);
    x->v[x->n].deleted = ((const uint8_t *)v)[4] != 0;
    x->n++;
    return 0;
}

int evl__sr_versions(evl_kv_t *kv, evl_registry_t *reg, const char *subject, evl_sr_ver_t **out,
                     size_t *count)
{
    uint8_t k[512];
    vers_t x = {0};
    x.plen = evl__sr_key_subj(k, subject, -1);
    int rc = evl_kv_scan(kv, reg->index, k, x.plen, vers_cb, &x);
    if (rc) {
        free(x.v);
        return rc;
    }
    *out = x.v;
    *count = x.n;
    return 0;
}

static int get_byte(evl_kv_t *kv, evl_registry_t *reg, char tag, const char *subject, int dflt)
{
    uint8_t k[512];
    size_t kl = evl__sr_key_named(k, tag, subject);
    const uint8_t *v;
    size_t vl;
    if (evl_kv_get(kv, reg->index, k, kl, (const void **)&v, &vl) == 0 && vl == 1)
        return v[0];
    return dflt;
}

int evl__sr_level(evl_kv_t *kv, evl_registry_t *reg, const char *subject)
{
    int g = get_byte(kv, reg, 'C', NULL, EVL_COMPAT_BACKWARD);
    return subject ? get_byte(kv, reg, 'C', subject, g) : g;
}

int evl__sr_mode(evl_kv_t *kv, evl_registry_t *reg, const char *subject)
{
    int g = get_byte(kv, reg, 'M', NULL, EVL_MODE_READWRITE);
    return subject ? get_byte(kv, reg, 'M', subject, g) : g;
}

typedef struct find {
    evl_kv_t *kv;
    evl_registry_t *reg;
    evl_schema_type_t type;
    const char *canonical;
    const evl_schema_ref_t *refs;
    size_t nrefs;
    int id;
} find_t;

static bool same_refs(const evl_schema_info_t *a, const evl_schema_ref_t *refs, size_t n)
{
    if (a->ref_count != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a->refs[i].name, refs[i].name) || strcmp(a->refs[i].subject, refs[i].subject) ||
            a->refs[i].version != refs[i].version)
            return false;
    return true;
}

static int find_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    find_t *f = arg;
    if (kl != 14)
        return 0;
    int id = (int)evl__sr_be32((const uint8_t *)k + 10);
    evl_schema_info_t info;
    int rc = evl__sr_load(f->kv, f->reg, id, &info);
    if (rc)
        return rc == EVL_ESCHEMA_NOTFOUND ? 0 : rc;
    bool same = info.type == f->type && strcmp(info.schema, f->canonical) == 0 &&
                same_refs(&info, f->refs, f->nrefs);
    evl__sr_info_clear(&info);
    if (same) {
        f->id = id;
        return 1;
    }
    return 0;
}

size_t evl__sr_key_hash(uint8_t *h, evl_schema_type_t type, uint64_t hash, int id)
{
    h[0] = 'H';
    h[1] = (uint8_t)type;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(hash >> (56 - 8 * i));
    evl__sr_put32(h + 10, (uint32_t)id);
    return 14;
}

int evl__sr_find_id(evl_kv_t *kv, evl_registry_t *reg, evl_schema_type_t type,
                    const char *canonical, const evl_schema_ref_t *refs, size_t nrefs)
{
    uint8_t h[16];
    evl__sr_key_hash(h, type, evl__sr_hash(type, canonical, refs, nrefs), 0);
    find_t f = {kv, reg, type, canonical, refs, nrefs, 0};
    int rc = evl_kv_scan(kv, reg->index, h, 10, find_cb, &f);
    return rc < 0 ? rc : f.id;
}

/* ---- parsing with references ---------------------------------------------------- */

typedef struct closure {
    evl_sr_ref_text_t *v;
    char **texts; /* owned copies behind v[i].schema and v[i].name */
    size_t n, cap;
    unsigned loads; /* bounds the work of a reference graph */
} closure_t;

static void closure_free(closure_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->texts[2 * i]);
        free(c->texts[2 * i + 1]);
    }
    free(c->texts);
    free(c->v);
}

/* Add refs (and theirs first) to c: dependencies before dependents. */
static int add_refs(evl_kv_t *kv, evl_registry_t *reg, const evl_schema_ref_t *refs, size_t nrefs,
                    closure_t *c, int depth)
{
    if (depth > EVL_SR_REF_DEPTH) {
        evl__sr_seterr("references nested more than %d deep", EVL_SR_REF_DEPTH);
        return EVL_ESCHEMA_INVALID;
    }
    for (size_t i = 0; i < nrefs; i++) {
        const evl_schema_ref_t *r = &refs[i];
        if (!r->name || !r->subject || !evl__sr_subject_ok(r->subject)) {
            evl__sr_seterr("a reference needs a name, a subject and a version");
            return EVL_ESCHEMA_INVALID;
        }
        bool seen = false;
        for (size_t j = 0; j < c->n && !seen; j++)
            seen = strcmp(c->v[j].name, r->name) == 0;
        if (seen)
            continue;
        evl_sr_ver_t *vers;
        size_t nv;
        int rc = evl__sr_versions(kv, reg, r->subject, &vers, &nv);
        if (rc)
            return rc;
        int id = 0;
        for (size_t j = 0; j < nv; j++)
            if (!vers[j].deleted &&
                (vers[j].version == r->version || r->version == EVL_VERSION_LATEST))
                id = vers[j].id; /* latest: the last live one */
        if (++c->loads > 4096) {
            free(vers);
            evl__sr_seterr("references: more than 4096 schemas to load");
            return EVL_ESCHEMA_INVALID;
        }
        free(vers);
        if (!id) {
            evl__sr_seterr("reference '%s': no version %d of subject '%s'", r->name, r->version,
                           r->subject);
            return nv ? EVL_EVERSION_NOTFOUND : EVL_ESUBJECT_NOTFOUND;
        }
        evl_schema_info_t info;
        if ((rc = evl__sr_load(kv, reg, id, &info)))
            return rc;
        rc = add_refs(kv, reg, info.refs, info.ref_count, c, depth + 1);
        if (!rc && c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 8;
            evl_sr_ref_text_t *nv2 = realloc(c->v, cap * sizeof *nv2);
            char **nt = nv2 ? realloc(c->texts, 2 * cap * sizeof *nt) : NULL;
            if (nv2)
                c->v = nv2;
            if (nt) {
                c->texts = nt;
                c->cap = cap;
            } else {
                rc = EVL_ENOMEM;
            }
        }
        if (!rc) {
            char *name = strdup(r->name);
            if (!name) {
                rc = EVL_ENOMEM;
            } else {
                c->texts[2 * c->n] = name;
                c->texts[2 * c->n + 1] = info.schema;
                info.schema = NULL;
                c->v[c->n].name = name;
                c->v[c->n].schema = c->texts[2 * c->n + 1];
                c->v[c->n].type = info.type;
                c->n++;
            }
        }
        evl__sr_info_clear(&info);
        if (rc)
            return rc;
    }
    return 0;
}

int evl__sr_resolve_refs(evl_kv_t *kv, evl_registry_t *reg, evl_schema_ref_t *refs, size_t nrefs)
{
    for (size_t i = 0; i < nrefs; i++) {
        if (!refs[i].subject || !evl__sr_subject_ok(refs[i].subject)) {
            evl__sr_seterr("reference %zu: bad subject", i);
            return EVL_ESCHEMA_INVALID;
        }
        evl_sr_ver_t *vers;
        size_t nv;
        int rc = evl__sr_versions(kv, reg, refs[i].subject, &vers, &nv);
        if (rc)
            return rc;
        int found = 0;
        for (size_t j = 0; j < nv; j++)
            if (!vers[j].deleted && (vers[j].version == refs[i].version ||
                                     refs[i].version == EVL_VERSION_LATEST))
                found = vers[j].version;
        free(vers);
        if (!found) {
            evl__sr_seterr("reference '%s': no version %d of subject '%s'",
                           refs[i].name ? refs[i].name : "", refs[i].version, refs[i].subject);
            return nv ? EVL_EVERSION_NOTFOUND : EVL_ESUBJECT_NOTFOUND;
        }
        refs[i].version = found;
    }
    return 0;
}

int evl__sr_parse(evl_kv_t *kv, evl_registry_t *reg, evl_schema_type_t type, const char *text,
                  const evl_schema_ref_t *refs, size_t nrefs, evl_sr_parsed_t *out)
{
    memset(out, 0, sizeof *out);
    const evl_sr_format_t *fmt = evl__sr_format(type);
    if (!fmt) {
        evl__sr_seterr("unknown schema type %d", (int)type);
        return EVL_ESCHEMA_INVALID;
    }
    if (!text) {
        evl__sr_seterr("no schema given");
        return EVL_ESCHEMA_INVALID;
    }
    closure_t c = {0};
    int rc = add_refs(kv, reg, refs, nrefs, &c, 0);
    if (!rc) {
        char err[EVL_SR_ERRLEN] = "";
        rc = fmt->parse(text, strlen(text), c.v, c.n, &out->schema, err, sizeof err);
        if (rc)
            evl__sr_seterr("invalid %s schema: %s", fmt->name, err);
    }
    closure_free(&c);
    if (rc)
        return rc;
    out->type = type;
    out->fmt = fmt;
    out->canonical = fmt->canonical(out->schema);
    if (!out->canonical) {
        evl__sr_parsed_free(out);
        return EVL_ENOMEM;
    }
    return 0;
}

void evl__sr_parsed_free(evl_sr_parsed_t *p)
{
    if (p->fmt && p->schema)
        p->fmt->free(p->schema);
    free(p->canonical);
    memset(p, 0, sizeof *p);
}

/* Called with reg->mu held (the cache is the handle's). */
int evl__sr_cached(evl_kv_t *kv, evl_registry_t *reg, int id, evl_schema_type_t *type,
                   const void **schema)
{
    uint32_t epoch = evl__sr_epoch(kv, reg);
    if (epoch != reg->epoch) {
        /* an id may mean another schema now: parse afresh, keep the old
         * parses (serializers may hold them) until close */
        while (reg->cache) {
            evl_sr_cached_t *c = reg->cache;
            reg->cache = c->next;
            c->next = reg->retired;
            reg->retired = c;
        }
        reg->epoch = epoch;
    }
    for (evl_sr_cached_t *c = reg->cache; c; c = c->next)
        if (c->id == id) {
            *type = c->type;
            *schema = c->schema;
            return 0;
        }
    evl_schema_info_t info;
    int rc = evl__sr_load(kv, reg, id, &info);
    if (rc)
        return rc;
    evl_sr_parsed_t p;
    rc = evl__sr_parse(kv, reg, info.type, info.schema, info.refs, info.ref_count, &p);
    evl__sr_info_clear(&info);
    if (rc)
        return rc == EVL_ESCHEMA_INVALID ? EVL_ECORRUPT : rc;
    evl_sr_cached_t *c = malloc(sizeof *c);
    if (!c) {
        evl__sr_parsed_free(&p);
        return EVL_ENOMEM;
    }
    c->id = id;
    c->type = p.type;
    c->schema = p.schema;
    p.schema = NULL;
    evl__sr_parsed_free(&p);
    c->next = reg->cache;
    reg->cache = c;
    *type = c->type;
    *schema = c->schema;
    return 0;
}

typedef struct byid {
    evl_registry_t *reg;
    int id;
    evl_schema_type_t type;
    const void *schema;
} byid_t;

static int byid_fn(evl_kv_t *kv, void *arg)
{
    byid_t *b = arg;
    return evl__sr_cached(kv, b->reg, b->id, &b->type, &b->schema);
}

int evl__sr_schema_by_id(evl_registry_t *reg, int id, evl_schema_type_t *type,
                         const void **schema)
{
    byid_t b = {.reg = reg, .id = id};
    pthread_mutex_lock(&reg->mu);
    int rc = evl_kv_read(reg->log, byid_fn, &b);
    if (rc == EVL_ESCHEMA_NOTFOUND) {
        /* perhaps registered by another process since: read what is new */
        if (!evl__sr_sync(reg, NULL))
            rc = evl_kv_read(reg->log, byid_fn, &b);
    }
    pthread_mutex_unlock(&reg->mu);
    if (!rc) {
        *type = b.type;
        *schema = b.schema;
    }
    return rc;
}

/* ---- compatibility policy (Confluent's CompatibilityChecker) ------------------- */

/* One pair, in the level's direction(s). */
static int check_pair(const evl_sr_format_t *fmt, const void *nw, const void *old,
                      evl_compat_t level, int version, bool *ok, evl_sr_msgs_t *why)
{
    bool back = level != EVL_COMPAT_FORWARD && level != EVL_COMPAT_FORWARD_TRANSITIVE;
    bool fwd = level != EVL_COMPAT_BACKWARD && level != EVL_COMPAT_BACKWARD_TRANSITIVE;
    size_t before = why->n;
    if (back) {
        int r = fmt->can_read(nw, old, why);
        if (r < 0)
            return r;
        if (!r)
            *ok = false;
    }
    if (fwd) {
        int r = fmt->can_read(old, nw, why);
        if (r < 0)
            return r;
        if (!r)
            *ok = false;
    }
    for (size_t i = before; i < why->n; i++) {
        /* say which version each reason is about, as Confluent's verbose answer */
        char *s = NULL;
        if (asprintf(&s, "%s (against version %d, %s)", why->v[i], version,
                     evl_compat_name(level)) >= 0) {
            free(why->v[i]);
            why->v[i] = s;
        }
    }
    return 0;
}

int evl__sr_check(evl_kv_t *kv, evl_registry_t *reg, const evl_sr_parsed_t *nw,
                  const evl_sr_ver_t *vers, size_t nvers, evl_compat_t level, bool *ok,
                  evl_sr_msgs_t *why)
{
    *ok = true;
    if (level == EVL_COMPAT_NONE)
        return 0;
    bool transitive = level == EVL_COMPAT_BACKWARD_TRANSITIVE ||
                      level == EVL_COMPAT_FORWARD_TRANSITIVE || level == EVL_COMPAT_FULL_TRANSITIVE;
    /* newest first; soft-deleted versions are not checked (as Confluent) */
    for (size_t i = nvers; i-- > 0;) {
        if (vers[i].deleted)
            continue;
        evl_schema_type_t t;
        const void *old;
        int rc = evl__sr_cached(kv, reg, vers[i].id, &t, &old);
        if (rc)
            return rc;
        if (t != nw->type) {
            *ok = false;
            evl__sr_msg(why, "schema type %s differs from version %d's %s",
                        evl_schema_type_name(nw->type), vers[i].version, evl_schema_type_name(t));
        } else if ((rc = check_pair(nw->fmt, nw->schema, old, level, vers[i].version, ok, why))) {
            return rc;
        }
        if (!transitive)
            break;
    }
    return 0;
}
