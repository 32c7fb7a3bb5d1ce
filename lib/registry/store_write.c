/*
 * store_write.c - what changes the registry: registrations, deletions,
 * levels and modes. Each is decided on the index after catching up with
 * __schemas, then appended only if nothing came in between (store.c); if
 * something did, it is decided again. Nothing is written when a decision
 * fails (an invalid or incompatible schema, a subject not found).
 */
#include "store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 1000

/* ---- records ------------------------------------------------------------- */

static char *key_schema(const char *subject, int version)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:i}", "keytype", "SCHEMA", "subject", subject, "version",
                          version, "magic", 1);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static char *key_named(const char *keytype, const char *subject)
{
    json_t *o = json_pack("{s:s,s:o,s:i}", "keytype", keytype, "subject",
                          subject ? json_string(subject) : json_null(), "magic", 0);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static char *value_schema(const char *subject, int version, int id, evl_schema_type_t type,
                          const char *schema, const evl_schema_ref_t *refs, size_t nrefs,
                          bool deleted)
{
    char *rj = evl__sr_refs_json(refs, nrefs);
    json_t *r = rj ? json_loads(rj, 0, NULL) : NULL;
    free(rj);
    if (!r)
        return NULL;
    json_t *o = json_pack("{s:s,s:i,s:i,s:s,s:s,s:o,s:b}", "subject", subject, "version", version,
                          "id", id, "schemaType", evl_schema_type_name(type), "schema", schema,
                          "references", r, "deleted", deleted);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

typedef struct batch {
    evl_msg_t *m;
    char **bufs;
    size_t n, cap;
} batch_t;

static int batch_add(batch_t *b, char *key, char *value, bool tombstone)
{
    if (!key || (!tombstone && !value)) {
        free(key);
        free(value);
        return EVL_ENOMEM;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        evl_msg_t *m = realloc(b->m, cap * sizeof *m);
        char **bufs = m ? realloc(b->bufs, 2 * cap * sizeof *bufs) : NULL;
        if (m)
            b->m = m;
        if (!bufs) {
            free(key);
            free(value);
            return EVL_ENOMEM;
        }
        b->bufs = bufs;
        b->cap = cap;
    }
    b->bufs[2 * b->n] = key;
    b->bufs[2 * b->n + 1] = value;
    b->m[b->n] = (evl_msg_t){.key = key, .key_len = strlen(key), .value = value,
                             .value_len = value ? strlen(value) : 0, .timestamp = -1};
    b->n++;
    return 0;
}

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < 2 * b->n; i++)
        free(b->bufs[i]);
    free(b->bufs);
    free(b->m);
    memset(b, 0, sizeof *b);
}

/*
 * The loop every write runs: catch up, decide (decide() fills the batch or
 * answers without writing), append if __schemas did not move, else again.
 * Called without reg->mu.
 */
typedef int decide_fn(evl_kv_t *kv, void *arg);
typedef struct decision {
    evl_registry_t *reg;
    batch_t batch;
    bool done; /* answered without writing */
} decision_t;

typedef struct fresh {
    decide_fn *decide;
    decision_t *d;
    int64_t end;
} fresh_t;

/* Decide only on an index applied up to where the sync got: a snapshot
 * behind it is another handle's rebuild half done. */
static int fresh_fn(evl_kv_t *kv, void *arg)
{
    fresh_t *f = arg;
    if (evl__sr_applied(kv, f->d->reg) < f->end)
        return EVL_SR_STALE;
    return f->decide(kv, f->d);
}

static int run(evl_registry_t *reg, decide_fn *decide, decision_t *d)
{
    int rc = EVL_ESTATE;
    pthread_mutex_lock(&reg->mu);
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        fresh_t f = {decide, d, 0};
        batch_free(&d->batch);
        d->done = false;
        if ((rc = evl__sr_sync(reg, &f.end)))
            break;
        if ((rc = evl_kv_read(reg->log, fresh_fn, &f)) == EVL_SR_STALE)
            continue;
        if (rc || d->done || !d->batch.n)
            break;
        int64_t end = f.end;
        rc = evl__sr_append(reg, d->batch.m, d->batch.n, end);
        if (rc == EVL_SR_STALE)
            continue; /* someone wrote first: decide again on what is new */
        if (!rc)
            rc = evl__sr_sync(reg, NULL); /* apply our own record */
        break;
    }
    pthread_mutex_unlock(&reg->mu);
    batch_free(&d->batch);
    if (rc == EVL_SR_STALE) {
        evl__sr_seterr("__schemas kept moving: %d attempts lost to other writers", MAX_ATTEMPTS);
        rc = EVL_EBUSY;
    }
    return rc;
}

/* ---- register ---------------------------------------------------------------- */

typedef struct reg_args {
    decision_t d;
    const char *subject;
    const evl_sr_parsed_t *p;
    const evl_schema_ref_t *refs;
    size_t nrefs;
    const evl_register_opts_t *opts;
    int id, version;
    evl_sr_msgs_t why;
} reg_args_t;

static int register_decide(evl_kv_t *kv, void *arg)
{
    reg_args_t *a = arg;
    evl_registry_t *reg = a->d.reg;
    int mode = evl__sr_mode(kv, reg, a->subject);
    if (mode == EVL_MODE_READONLY) {
        evl__sr_seterr("subject '%s' is in READONLY mode", a->subject);
        return EVL_EREADONLY;
    }
    evl__sr_msgs_free(&a->why); /* reasons of a lost race are not this attempt's */
    /* the references still there (not deleted since they were resolved) */
    evl_schema_ref_t *refs = (evl_schema_ref_t *)a->refs;
    int rrc = evl__sr_resolve_refs(kv, reg, refs, a->nrefs);
    if (rrc)
        return rrc;
    bool import = mode == EVL_MODE_IMPORT;
    if (!import && a->opts && a->opts->id > 0) {
        evl__sr_seterr("Subject '%s' is not in import mode: an id cannot be given", a->subject);
        return EVL_EREADONLY;
    }
    evl_sr_ver_t *vers = NULL;
    size_t nv = 0;
    int rc = evl__sr_versions(kv, reg, a->subject, &vers, &nv);
    if (rc)
        return rc;
    int id = evl__sr_find_id(kv, reg, a->p->type, a->p->canonical, a->refs, a->nrefs);
    if (id < 0) {
        free(vers);
        return id;
    }
    /* already under this subject (and not deleted): its id and version;
     * in IMPORT mode only if that is the id (and version) given */
    for (size_t i = nv; id > 0 && i-- > 0;)
        if (!vers[i].deleted && vers[i].id == id &&
            (!import || (a->opts && a->opts->id == id &&
                         (a->opts->version <= 0 || a->opts->version == vers[i].version)))) {
            a->id = id;
            a->version = vers[i].version;
            a->d.done = true;
            free(vers);
            return 0;
        }
    if (nv && vers[nv - 1].version == INT32_MAX) {
        free(vers);
        evl__sr_seterr("subject '%s' has used every version number", a->subject);
        return EVL_EFULL;
    }
    int version = nv ? vers[nv - 1].version + 1 : 1;
    if (import) {
        if (!a->opts || a->opts->id <= 0) {
            free(vers);
            evl__sr_seterr("IMPORT mode: the schema's id must be given");
            return EVL_EINVAL;
        }
        if (id > 0 && id != a->opts->id) {
            free(vers);
            evl__sr_seterr("IMPORT mode: this schema already has id %d", id);
            return EVL_EEXIST;
        }
        evl_schema_info_t other;
        if (id == 0 && evl__sr_load(kv, reg, a->opts->id, &other) == 0) {
            evl__sr_info_clear(&other);
            free(vers);
            evl__sr_seterr("IMPORT mode: id %d holds another schema", a->opts->id);
            return EVL_EEXIST;
        }
        id = a->opts->id;
        if (a->opts->version > 0)
            version = a->opts->version;
        for (size_t i = 0; i < nv; i++)
            if (vers[i].version == version) {
                free(vers);
                evl__sr_seterr("IMPORT mode: version %d of '%s' exists", version, a->subject);
                return EVL_EEXIST;
            }
    } else {
        bool ok = true;
        rc = evl__sr_check(kv, reg, a->p, vers, nv, evl__sr_level(kv, reg, a->subject), &ok,
                           &a->why);
        if (!rc && !ok)
            rc = EVL_ESCHEMA_INCOMPATIBLE;
        if (rc) {
            free(vers);
            return rc;
        }
        if (id == 0) {
            const uint8_t *v;
            size_t vl;
            uint32_t hi = 0;
            if (evl_kv_get(kv, reg->index, "N", 1, (const void **)&v, &vl) == 0 && vl == 4)
                hi = evl__sr_be32(v);
            if (hi >= INT32_MAX) {
                free(vers);
                return EVL_EFULL;
            }
            id = (int)hi + 1;
        }
    }
    free(vers);
    a->id = id;
    a->version = version;
    return batch_add(&a->d.batch, key_schema(a->subject, version),
                     value_schema(a->subject, version, id, a->p->type, a->p->canonical, a->refs,
                                  a->nrefs, false),
                     false);
}

typedef struct parse_args {
    evl_registry_t *reg;
    evl_schema_type_t type;
    const char *text;
    const evl_schema_ref_t *refs;
    size_t nrefs;
    evl_sr_parsed_t *out;
} parse_args_t;

static int parse_fn(evl_kv_t *kv, void *arg)
{
    parse_args_t *p = arg;
    return evl__sr_parse(kv, p->reg, p->type, p->text, p->refs, p->nrefs, p->out);
}

/* Parse text with its refs resolved from the index (after catching up). */
int evl__sr_parse_new(evl_registry_t *reg, evl_schema_type_t type, const char *text,
                      const evl_schema_ref_t *refs, size_t nrefs, evl_sr_parsed_t *out)
{
    parse_args_t p = {reg, type, text, refs, nrefs, out};
    pthread_mutex_lock(&reg->mu);
    int rc = evl__sr_sync(reg, NULL);
    if (!rc)
        rc = evl_kv_read(reg->log, parse_fn, &p);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

/* Join reasons into the thread's message. */
void evl__sr_seterr_msgs(const char *what, const evl_sr_msgs_t *m)
{
    evl_sr_buf_t b = {0};
    evl__sr_buf_printf(&b, "%s", what);
    for (size_t i = 0; i < m->n; i++)
        evl__sr_buf_printf(&b, "%s%s", i ? "; " : ": ", m->v[i]);
    char *s = evl__sr_buf_str(&b);
    evl__sr_seterr("%s", s ? s : what);
    free(s);
}

EVL_API int evl_registry_register_ex(evl_registry_t *reg, const char *subject,
                                     evl_schema_type_t type, const char *schema,
                                     const evl_schema_ref_t *refs, size_t ref_count,
                                     const evl_register_opts_t *opts, int *id, int *version)
{
    evl__sr_clearerr();
    if (!evl__sr_subject_ok(subject)) {
        evl__sr_seterr("invalid subject name");
        return EVL_EINVAL;
    }
    /* references to "latest" are stored as the version they meant */
    evl_schema_ref_t *own = ref_count ? calloc(ref_count, sizeof *own) : NULL;
    if (ref_count && !own)
        return EVL_ENOMEM;
    if (ref_count)
        memcpy(own, refs, ref_count * sizeof *own);
    evl_sr_parsed_t p;
    int rc = evl__sr_parse_new(reg, type, schema, own, ref_count, &p);
    if (rc) {
        free(own);
        return rc;
    }
    reg_args_t a = {.d = {.reg = reg}, .subject = subject, .p = &p, .refs = own,
                    .nrefs = ref_count, .opts = opts};
    rc = run(reg, register_decide, &a.d);
    if (rc == EVL_ESCHEMA_INCOMPATIBLE)
        evl__sr_seterr_msgs("Schema being registered is incompatible with an earlier schema for "
                            "subject",
                            &a.why);
    evl__sr_msgs_free(&a.why);
    evl__sr_parsed_free(&p);
    free(own);
    if (!rc) {
        if (id)
            *id = a.id;
        if (version)
            *version = a.version;
    }
    return rc;
}

EVL_API int evl_registry_register(evl_registry_t *reg, const char *subject,
                                  evl_schema_type_t type, const char *schema,
                                  const evl_schema_ref_t *refs, size_t ref_count, int *id,
                                  int *version)
{
    return evl_registry_register_ex(reg, subject, type, schema, refs, ref_count, NULL, id,
                                    version);
}

/* ---- delete -------------------------------------------------------------------- */

typedef struct del_args {
    decision_t d;
    const char *subject;
    int version; /* 0: the whole subject */
    bool permanent;
    int *out;    /* versions deleted */
    size_t nout;
} del_args_t;

static int referenced(evl_kv_t *kv, evl_registry_t *reg, const char *subject, int version)
{
    uint8_t k[512];
    size_t kl = evl__sr_key_subj(k, subject, version);
    k[0] = 'R';
    bool any = false;
    int rc = evl_kv_scan(kv, reg->index, k, kl, evl__sr_any_cb, &any);
    return rc ? rc : any;
}

static int delete_decide(evl_kv_t *kv, void *arg)
{
    del_args_t *a = arg;
    evl_registry_t *reg = a->d.reg;
    if (evl__sr_mode(kv, reg, a->subject) == EVL_MODE_READONLY) {
        evl__sr_seterr("subject '%s' is in READONLY mode", a->subject);
        return EVL_EREADONLY;
    }
    evl_sr_ver_t *vers;
    size_t nv;
    int rc = evl__sr_versions(kv, reg, a->subject, &vers, &nv);
    if (rc)
        return rc;
    a->nout = 0;
    free(a->out);
    a->out = calloc(nv ? nv : 1, sizeof *a->out);
    if (!a->out) {
        free(vers);
        return EVL_ENOMEM;
    }
    bool any_live = false;
    for (size_t i = 0; i < nv; i++)
        any_live |= !vers[i].deleted;
    if (nv == 0 || (!a->permanent && !any_live && a->version == 0)) {
        free(vers);
        evl__sr_seterr("Subject '%s' not found", a->subject);
        return EVL_ESUBJECT_NOTFOUND;
    }
    if (a->version == 0 && a->permanent && any_live) {
        free(vers);
        evl__sr_seterr("Subject '%s' was not deleted first before being permanently deleted",
                       a->subject);
        return EVL_ENOTSOFTDELETED;
    }
    int target = a->version;
    if (target == EVL_VERSION_LATEST) {
        target = 0;
        for (size_t i = nv; i-- > 0 && !target;)
            if (!vers[i].deleted || a->permanent)
                target = vers[i].version;
    }
    for (size_t i = 0; i < nv && !rc; i++) {
        const evl_sr_ver_t *v = &vers[i];
        if (a->version != 0 && v->version != target)
            continue;
        if (a->version != 0) {
            if (!a->permanent && v->deleted)
                break; /* not found below */
            if (a->permanent && !v->deleted) {
                evl__sr_seterr("Subject '%s' Version %d was not deleted first before being "
                               "permanently deleted",
                               a->subject, v->version);
                rc = EVL_ENOTSOFTDELETED;
                break;
            }
        } else if (!a->permanent && v->deleted) {
            continue;
        }
        int r = referenced(kv, reg, a->subject, v->version);
        if (r) {
            if (r > 0)
                evl__sr_seterr("One or more references exist to the schema {subject=%s, "
                               "version=%d}",
                               a->subject, v->version);
            rc = r > 0 ? EVL_EREFERENCED : r;
            break;
        }
        if (a->permanent) {
            rc = batch_add(&a->d.batch, key_schema(a->subject, v->version), NULL, true);
        } else {
            evl_schema_info_t info;
            if ((rc = evl__sr_load(kv, reg, v->id, &info)))
                break;
            rc = batch_add(&a->d.batch, key_schema(a->subject, v->version),
                           value_schema(a->subject, v->version, v->id, info.type, info.schema,
                                        info.refs, info.ref_count, true),
                           false);
            evl__sr_info_clear(&info);
        }
        if (!rc)
            a->out[a->nout++] = v->version;
    }
    free(vers);
    if (!rc && a->permanent && a->nout) {
        /* compaction drops hard-deleted schemas: keep the highest id given
         * in a record of its own, so a rebuilt index never gives it again */
        const uint8_t *v;
        size_t vl;
        uint32_t hi = 0;
        if (evl_kv_get(kv, reg->index, "N", 1, (const void **)&v, &vl) == 0 && vl == 4)
            hi = evl__sr_be32(v);
        json_t *o = json_pack("{s:i}", "id", (json_int_t)hi);
        char *val = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        rc = batch_add(&a->d.batch, key_named("MAXID", NULL), val, false);
    }
    if (!rc && a->nout == 0) {
        evl__sr_seterr("Version %d not found", a->version);
        rc = EVL_EVERSION_NOTFOUND;
    }
    return rc;
}

EVL_API int evl_registry_delete_subject(evl_registry_t *reg, const char *subject,
                                        bool permanent, int **versions, size_t *count)
{
    evl__sr_clearerr();
    if (!evl__sr_subject_ok(subject)) {
        evl__sr_seterr("Subject '%s' not found.", subject ? subject : "");
        return EVL_ESUBJECT_NOTFOUND;
    }
    del_args_t a = {.d = {.reg = reg}, .subject = subject, .permanent = permanent};
    int rc = run(reg, delete_decide, &a.d);
    if (!rc && versions) {
        *versions = a.out;
        *count = a.nout;
        a.out = NULL;
    }
    free(a.out);
    return rc;
}

EVL_API int evl_registry_delete_version(evl_registry_t *reg, const char *subject, int version,
                                        bool permanent, int *deleted)
{
    evl__sr_clearerr();
    if (!evl__sr_subject_ok(subject)) {
        evl__sr_seterr("Subject '%s' not found.", subject ? subject : "");
        return EVL_ESUBJECT_NOTFOUND;
    }
    if (version == 0 || version < EVL_VERSION_LATEST) {
        evl__sr_seterr("The specified version '%d' is not a valid version id", version);
        return EVL_EVERSION_INVALID;
    }
    del_args_t a = {.d = {.reg = reg}, .subject = subject, .version = version,
                    .permanent = permanent};
    int rc = run(reg, delete_decide, &a.d);
    if (!rc && deleted)
        *deleted = a.out[0];
    free(a.out);
    return rc;
}

/* ---- levels and modes ------------------------------------------------------------ */

typedef struct set_args {
    decision_t d;
    const char *keytype; /* "CONFIG" or "MODE" */
    const char *subject;
    int value;           /* < 0: delete */
    int was;
} set_args_t;

static int set_decide(evl_kv_t *kv, void *arg)
{
    set_args_t *a = arg;
    evl_registry_t *reg = a->d.reg;
    bool config = a->keytype[0] == 'C';
    uint8_t k[512];
    size_t kl = evl__sr_key_named(k, config ? 'C' : 'M', a->subject);
    const uint8_t *v;
    size_t vl;
    a->was = -1;
    if (evl_kv_get(kv, reg->index, k, kl, (const void **)&v, &vl) == 0 && vl == 1)
        a->was = v[0];
    if (a->value < 0) {
        if (a->was < 0) {
            if (!a->subject) { /* the global default stays */
                a->was = config ? EVL_COMPAT_BACKWARD : EVL_MODE_READWRITE;
                a->d.done = true;
                return 0;
            }
            evl__sr_seterr("Subject '%s' has no %s of its own", a->subject,
                           config ? "compatibility level" : "mode");
            return EVL_ESUBJECT_NOTFOUND;
        }
        return batch_add(&a->d.batch, key_named(a->keytype, a->subject), NULL, true);
    }
    if (a->was == a->value) {
        a->d.done = true;
        return 0;
    }
    json_t *o = json_pack("{s:s}", config ? "compatibilityLevel" : "mode",
                          config ? evl_compat_name((evl_compat_t)a->value)
                                 : evl_registry_mode_name((evl_registry_mode_t)a->value));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return batch_add(&a->d.batch, key_named(a->keytype, a->subject), s, false);
}

static int set_named(evl_registry_t *reg, const char *keytype, const char *subject, int value,
                     int *was)
{
    evl__sr_clearerr();
    if (subject && !evl__sr_subject_ok(subject))
        return EVL_EINVAL;
    set_args_t a = {.d = {.reg = reg}, .keytype = keytype, .subject = subject, .value = value};
    int rc = run(reg, set_decide, &a.d);
    if (!rc && was)
        *was = a.was;
    return rc;
}

EVL_API int evl_registry_config_set(evl_registry_t *reg, const char *subject,
                                    evl_compat_t level)
{
    if ((unsigned)level > EVL_COMPAT_FULL_TRANSITIVE)
        return EVL_EINVAL;
    return set_named(reg, "CONFIG", subject, (int)level, NULL);
}

EVL_API int evl_registry_config_delete(evl_registry_t *reg, const char *subject,
                                       evl_compat_t *was)
{
    int w = 0;
    int rc = set_named(reg, "CONFIG", subject, -1, &w);
    if (!rc && was)
        *was = (evl_compat_t)w;
    return rc;
}

EVL_API int evl_registry_mode_set(evl_registry_t *reg, const char *subject,
                                  evl_registry_mode_t mode)
{
    if ((unsigned)mode > EVL_MODE_IMPORT)
        return EVL_EINVAL;
    return set_named(reg, "MODE", subject, (int)mode, NULL);
}
