/*
 * store_read.c - questions to the registry: subjects, versions, schemas by
 * subject and version or by id, lookups, compatibility tests, levels and
 * modes. Each catches up with __schemas first, then answers from one read
 * transaction of the index (a consistent snapshot).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Catch up, then run fn in a read transaction. */
typedef struct fresh {
    evl_registry_t *reg;
    evl_kv_fn *fn;
    void *arg;
    int64_t end;
} fresh_t;

/* Answer only from an index applied up to where the sync got (a snapshot
 * behind it is another handle's rebuild half done). */
static int fresh_fn(evl_kv_t *kv, void *arg)
{
    fresh_t *f = arg;
    if (evl__sr_applied(kv, f->reg) < f->end)
        return EVL_SR_STALE;
    return f->fn(kv, f->arg);
}

static int ask(evl_registry_t *reg, evl_kv_fn *fn, void *arg)
{
    evl__sr_clearerr();
    fresh_t f = {reg, fn, arg, 0};
    int rc = EVL_SR_STALE;
    pthread_mutex_lock(&reg->mu);
    for (int attempt = 0; rc == EVL_SR_STALE && attempt < 1000; attempt++) {
        rc = evl__sr_sync(reg, &f.end);
        if (!rc)
            rc = evl_kv_read(reg->log, fresh_fn, &f);
    }
    pthread_mutex_unlock(&reg->mu);
    if (rc == EVL_SR_STALE) {
        evl__sr_seterr("the registry's index kept changing under this read");
        rc = EVL_EBUSY;
    }
    return rc;
}

static int subject_missing(const char *subject)
{
    evl__sr_seterr("Subject '%s' not found.", subject);
    return EVL_ESUBJECT_NOTFOUND;
}

/* ---- one version -------------------------------------------------------------- */

typedef struct get_args {
    evl_registry_t *reg;
    const char *subject;
    int version;
    bool deleted;
    evl_schema_info_t *out;
} get_args_t;

static int fill(evl_kv_t *kv, evl_registry_t *reg, const char *subject, const evl_sr_ver_t *v,
                evl_schema_info_t *out)
{
    int rc = evl__sr_load(kv, reg, v->id, out);
    if (rc)
        return rc;
    out->subject = subject ? strdup(subject) : NULL;
    out->version = v->version;
    out->deleted = v->deleted;
    return subject && !out->subject ? EVL_ENOMEM : 0;
}

static int get_fn(evl_kv_t *kv, void *arg)
{
    get_args_t *a = arg;
    evl_sr_ver_t *vers;
    size_t nv;
    int rc = evl__sr_versions(kv, a->reg, a->subject, &vers, &nv);
    if (rc)
        return rc;
    const evl_sr_ver_t *hit = NULL;
    bool any = false;
    for (size_t i = 0; i < nv; i++) {
        if (vers[i].deleted && !a->deleted)
            continue;
        any = true;
        if (a->version == EVL_VERSION_LATEST || vers[i].version == a->version)
            hit = &vers[i];
    }
    if (hit)
        rc = fill(kv, a->reg, a->subject, hit, a->out);
    else if (!any)
        rc = subject_missing(a->subject);
    else {
        evl__sr_seterr("Version %d not found.", a->version);
        rc = EVL_EVERSION_NOTFOUND;
    }
    free(vers);
    return rc;
}

EVL_API int evl_registry_get(evl_registry_t *reg, const char *subject, int version,
                             bool deleted, evl_schema_info_t **out)
{
    *out = NULL;
    if (!evl__sr_subject_ok(subject))
        return subject_missing(subject ? subject : "");
    if (version == 0 || version < EVL_VERSION_LATEST) {
        evl__sr_seterr("The specified version '%d' is not a valid version id. Allowed values are "
                       "between [1, 2^31-1] and the string \"latest\"",
                       version);
        return EVL_EVERSION_INVALID;
    }
    evl_schema_info_t *info = calloc(1, sizeof *info);
    if (!info)
        return EVL_ENOMEM;
    get_args_t a = {reg, subject, version, deleted, info};
    int rc = ask(reg, get_fn, &a);
    if (rc) {
        evl_schema_info_free(info);
        return rc;
    }
    *out = info;
    return 0;
}

typedef struct id_args {
    evl_registry_t *reg;
    int id;
    evl_schema_info_t *out;
} id_args_t;

static int id_fn(evl_kv_t *kv, void *arg)
{
    id_args_t *a = arg;
    int rc = evl__sr_load(kv, a->reg, a->id, a->out);
    if (rc == EVL_ESCHEMA_NOTFOUND)
        evl__sr_seterr("Schema %d not found", a->id);
    return rc;
}

EVL_API int evl_registry_get_by_id(evl_registry_t *reg, int id, evl_schema_info_t **out)
{
    *out = NULL;
    evl_schema_info_t *info = calloc(1, sizeof *info);
    if (!info)
        return EVL_ENOMEM;
    id_args_t a = {reg, id, info};
    int rc = ask(reg, id_fn, &a);
    if (rc) {
        free(info);
        return rc;
    }
    *out = info;
    return 0;
}

/* ---- lists ------------------------------------------------------------------------ */

typedef struct strs {
    char **v;
    int *ver;
    size_t n, cap;
} strs_t;

static int strs_add(strs_t *l, const char *s, size_t len, int ver)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, cap * sizeof *nv);
        int *nver = nv ? realloc(l->ver, cap * sizeof *nver) : NULL;
        if (nv)
            l->v = nv;
        if (!nver)
            return EVL_ENOMEM;
        l->ver = nver;
        l->cap = cap;
    }
    char *c = strndup(s, len);
    if (!c)
        return EVL_ENOMEM;
    l->v[l->n] = c;
    l->ver[l->n++] = ver;
    return 0;
}

EVL_API void evl_registry_free_list(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

typedef struct subj_args {
    const char *prefix;
    bool deleted;
    strs_t l;
} subj_args_t;

static int subj_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    subj_args_t *a = arg;
    if (kl < 6 || vl != 5)
        return 0;
    const char *name = (const char *)k + 1;
    size_t len = kl - 6;
    if (!a->deleted && ((const uint8_t *)v)[4])
        return 0;
    if (a->l.n && strlen(a->l.v[a->l.n - 1]) == len && memcmp(a->l.v[a->l.n - 1], name, len) == 0)
        return 0; /* another version of the same subject */
    return strs_add(&a->l, name, len, 0);
}

typedef struct subjects_q {
    evl_registry_t *reg;
    subj_args_t s;
} subjects_q_t;

static int subjects_fn(evl_kv_t *kv, void *arg)
{
    subjects_q_t *q = arg;
    uint8_t k[512];
    size_t kl = 1;
    k[0] = 'S';
    if (q->s.prefix) {
        size_t n = strlen(q->s.prefix);
        if (n > EVL_SR_SUBJECT_MAX)
            return 0;
        memcpy(k + 1, q->s.prefix, n);
        kl += n;
    }
    return evl_kv_scan(kv, q->reg->index, k, kl, subj_cb, &q->s);
}

EVL_API int evl_registry_subjects(evl_registry_t *reg, const char *prefix, bool deleted,
                                  char ***names, size_t *count)
{
    subjects_q_t q = {reg, {prefix && *prefix ? prefix : NULL, deleted, {0}}};
    int rc = ask(reg, subjects_fn, &q);
    free(q.s.l.ver);
    if (rc) {
        evl_registry_free_list(q.s.l.v, q.s.l.n);
        return rc;
    }
    *names = q.s.l.v;
    *count = q.s.l.n;
    return 0;
}

typedef struct vers_q {
    evl_registry_t *reg;
    const char *subject;
    bool deleted;
    int *out;
    size_t n;
} vers_q_t;

static int versions_fn(evl_kv_t *kv, void *arg)
{
    vers_q_t *q = arg;
    evl_sr_ver_t *vers;
    size_t nv;
    int rc = evl__sr_versions(kv, q->reg, q->subject, &vers, &nv);
    if (rc)
        return rc;
    q->out = malloc((nv ? nv : 1) * sizeof *q->out);
    if (!q->out) {
        free(vers);
        return EVL_ENOMEM;
    }
    for (size_t i = 0; i < nv; i++)
        if (q->deleted || !vers[i].deleted)
            q->out[q->n++] = vers[i].version;
    free(vers);
    return q->n ? 0 : subject_missing(q->subject);
}

EVL_API int evl_registry_versions(evl_registry_t *reg, const char *subject, bool deleted,
                                  int **versions, size_t *count)
{
    if (!evl__sr_subject_ok(subject))
        return subject_missing(subject ? subject : "");
    vers_q_t q = {reg, subject, deleted, NULL, 0};
    int rc = ask(reg, versions_fn, &q);
    if (rc) {
        free(q.out);
        return rc;
    }
    *versions = q.out;
    *count = q.n;
    return 0;
}

typedef struct uses_q {
    evl_registry_t *reg;
    int id;
    bool deleted;
    evl_kv_t *kv;
    strs_t l;
} uses_q_t;

static int uses_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    uses_q_t *q = arg;
    if (kl < 11)
        return 0;
    const char *name = (const char *)k + 5;
    size_t len = kl - 10;
    int ver = (int)evl__sr_be32((const uint8_t *)k + kl - 4);
    if (!q->deleted) {
        char subject[EVL_SR_SUBJECT_MAX + 1];
        if (len > EVL_SR_SUBJECT_MAX)
            return 0;
        memcpy(subject, name, len);
        subject[len] = 0;
        uint8_t sk[512];
        size_t skl = evl__sr_key_subj(sk, subject, ver);
        const uint8_t *sv;
        size_t svl;
        if (evl_kv_get(q->kv, q->reg->index, sk, skl, (const void **)&sv, &svl) || svl != 5 ||
            sv[4])
            return 0;
    }
    return strs_add(&q->l, name, len, ver);
}

static int uses_fn(evl_kv_t *kv, void *arg)
{
    uses_q_t *q = arg;
    q->kv = kv;
    uint8_t k[8];
    size_t kl = evl__sr_key_id(k, 'U', q->id);
    int rc = evl_kv_scan(kv, q->reg->index, k, kl, uses_cb, q);
    if (!rc && q->l.n == 0) {
        evl__sr_seterr("Schema %d not found", q->id);
        rc = EVL_ESCHEMA_NOTFOUND;
    }
    return rc;
}

EVL_API int evl_registry_id_versions(evl_registry_t *reg, int id, bool deleted,
                                     char ***subjects, int **versions, size_t *count)
{
    uses_q_t q = {.reg = reg, .id = id, .deleted = deleted};
    int rc = ask(reg, uses_fn, &q);
    if (rc) {
        evl_registry_free_list(q.l.v, q.l.n);
        free(q.l.ver);
        return rc;
    }
    *subjects = q.l.v;
    *versions = q.l.ver;
    *count = q.l.n;
    return 0;
}

typedef struct refby_q {
    evl_registry_t *reg;
    const char *subject;
    int version;
    size_t plen;
    int *ids;
    size_t n, cap;
} refby_q_t;

static int refby_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    refby_q_t *q = arg;
    if (kl != q->plen + 4)
        return 0;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        int *ni = realloc(q->ids, cap * sizeof *ni);
        if (!ni)
            return EVL_ENOMEM;
        q->ids = ni;
        q->cap = cap;
    }
    q->ids[q->n++] = (int)evl__sr_be32((const uint8_t *)k + q->plen);
    return 0;
}

static int refby_fn(evl_kv_t *kv, void *arg)
{
    refby_q_t *q = arg;
    evl_sr_ver_t *vers;
    size_t nv;
    int rc = evl__sr_versions(kv, q->reg, q->subject, &vers, &nv);
    if (rc)
        return rc;
    int version = 0;
    for (size_t i = 0; i < nv; i++)
        if (vers[i].version == q->version || (q->version == EVL_VERSION_LATEST && !vers[i].deleted))
            version = vers[i].version;
    free(vers);
    if (!nv)
        return subject_missing(q->subject);
    if (!version) {
        evl__sr_seterr("Version %d not found.", q->version);
        return EVL_EVERSION_NOTFOUND;
    }
    uint8_t k[512];
    q->plen = evl__sr_key_subj(k, q->subject, version);
    k[0] = 'R';
    return evl_kv_scan(kv, q->reg->index, k, q->plen, refby_cb, q);
}

EVL_API int evl_registry_referenced_by(evl_registry_t *reg, const char *subject, int version,
                                       int **ids, size_t *count)
{
    if (!evl__sr_subject_ok(subject))
        return subject_missing(subject ? subject : "");
    refby_q_t q = {.reg = reg, .subject = subject, .version = version};
    int rc = ask(reg, refby_fn, &q);
    if (rc) {
        free(q.ids);
        return rc;
    }
    *ids = q.ids;
    *count = q.n;
    return 0;
}

/* ---- lookup and compatibility tests --------------------------------------------------- */

typedef struct lookup_q {
    evl_registry_t *reg;
    const char *subject;
    const evl_sr_parsed_t *p;
    const evl_schema_ref_t *refs;
    size_t nrefs;
    bool deleted;
    evl_schema_info_t *out;
    /* check */
    int version;
    bool ok;
    evl_sr_msgs_t why;
} lookup_q_t;

static int lookup_fn(evl_kv_t *kv, void *arg)
{
    lookup_q_t *q = arg;
    evl_sr_ver_t *vers;
    size_t nv;
    /* references to "latest" were stored as the version they meant */
    int rc = evl__sr_resolve_refs(kv, q->reg, (evl_schema_ref_t *)q->refs, q->nrefs);
    if (rc)
        return rc;
    rc = evl__sr_versions(kv, q->reg, q->subject, &vers, &nv);
    if (rc)
        return rc;
    int id = evl__sr_find_id(kv, q->reg, q->p->type, q->p->canonical, q->refs, q->nrefs);
    bool any = false;
    rc = EVL_ESCHEMA_NOTFOUND;
    for (size_t i = nv; i-- > 0;) {
        if (vers[i].deleted && !q->deleted)
            continue;
        any = true;
        if (id > 0 && vers[i].id == id) {
            rc = fill(kv, q->reg, q->subject, &vers[i], q->out);
            break;
        }
    }
    free(vers);
    if (!any)
        return subject_missing(q->subject);
    if (rc == EVL_ESCHEMA_NOTFOUND)
        evl__sr_seterr("Schema not found");
    return rc;
}

EVL_API int evl_registry_lookup(evl_registry_t *reg, const char *subject,
                                evl_schema_type_t type, const char *schema,
                                const evl_schema_ref_t *refs, size_t ref_count, bool deleted,
                                evl_schema_info_t **out)
{
    *out = NULL;
    if (!evl__sr_subject_ok(subject))
        return subject_missing(subject ? subject : "");
    evl_sr_parsed_t p;
    int rc = evl__sr_parse_new(reg, type, schema, refs, ref_count, &p);
    if (rc)
        return rc;
    evl_schema_info_t *info = calloc(1, sizeof *info);
    evl_schema_ref_t *own = ref_count ? calloc(ref_count, sizeof *own) : NULL;
    if (own)
        memcpy(own, refs, ref_count * sizeof *own);
    lookup_q_t q = {.reg = reg, .subject = subject, .p = &p, .refs = own, .nrefs = ref_count,
                    .deleted = deleted, .out = info};
    rc = info && (own || !ref_count) ? ask(reg, lookup_fn, &q) : EVL_ENOMEM;
    free(own);
    evl__sr_parsed_free(&p);
    if (rc) {
        evl_schema_info_free(info);
        return rc;
    }
    *out = info;
    return 0;
}

static int check_fn(evl_kv_t *kv, void *arg)
{
    lookup_q_t *q = arg;
    evl_sr_ver_t *vers;
    size_t nv;
    int rc = evl__sr_versions(kv, q->reg, q->subject, &vers, &nv);
    if (rc)
        return rc;
    evl_compat_t level = (evl_compat_t)evl__sr_level(kv, q->reg, q->subject);
    q->ok = true;
    if (q->version == 0) {
        rc = evl__sr_check(kv, q->reg, q->p, vers, nv, level, &q->ok, &q->why);
    } else {
        const evl_sr_ver_t *hit = NULL;
        bool any = false;
        for (size_t i = 0; i < nv; i++) {
            if (vers[i].deleted)
                continue;
            any = true;
            if (q->version == EVL_VERSION_LATEST || vers[i].version == q->version)
                hit = &vers[i];
        }
        if (hit) {
            /* one version: the level's direction, not its transitivity */
            evl_compat_t one = level == EVL_COMPAT_BACKWARD_TRANSITIVE ? EVL_COMPAT_BACKWARD
                               : level == EVL_COMPAT_FORWARD_TRANSITIVE ? EVL_COMPAT_FORWARD
                               : level == EVL_COMPAT_FULL_TRANSITIVE    ? EVL_COMPAT_FULL
                                                                        : level;
            rc = evl__sr_check(kv, q->reg, q->p, hit, 1, one, &q->ok, &q->why);
        } else if (!any) {
            rc = subject_missing(q->subject);
        } else {
            evl__sr_seterr("Version %d not found.", q->version);
            rc = EVL_EVERSION_NOTFOUND;
        }
    }
    free(vers);
    return rc;
}

EVL_API int evl_registry_check(evl_registry_t *reg, const char *subject, int version,
                               evl_schema_type_t type, const char *schema,
                               const evl_schema_ref_t *refs, size_t ref_count,
                               bool *compatible, char ***reasons, size_t *reason_count)
{
    if (reasons) {
        *reasons = NULL;
        *reason_count = 0;
    }
    if (!evl__sr_subject_ok(subject))
        return subject_missing(subject ? subject : "");
    if (version < EVL_VERSION_LATEST) {
        evl__sr_seterr("invalid version %d", version);
        return EVL_EVERSION_INVALID;
    }
    evl_sr_parsed_t p;
    int rc = evl__sr_parse_new(reg, type, schema, refs, ref_count, &p);
    if (rc)
        return rc;
    lookup_q_t q = {reg, subject, &p, refs, ref_count, false, NULL, version, true, {0}};
    rc = ask(reg, check_fn, &q);
    evl__sr_parsed_free(&p);
    if (!rc) {
        *compatible = q.ok;
        if (reasons) {
            *reasons = q.why.v;
            *reason_count = q.why.n;
            q.why.v = NULL;
            q.why.n = 0;
        }
    }
    evl__sr_msgs_free(&q.why);
    return rc;
}

/* ---- levels and modes ------------------------------------------------------------------ */

typedef struct named_q {
    evl_registry_t *reg;
    char tag;
    const char *subject;
    int value;
    bool isset;
} named_q_t;

static int named_fn(evl_kv_t *kv, void *arg)
{
    named_q_t *q = arg;
    uint8_t k[512];
    size_t kl = evl__sr_key_named(k, q->tag, q->subject);
    const uint8_t *v;
    size_t vl;
    q->isset = evl_kv_get(kv, q->reg->index, k, kl, (const void **)&v, &vl) == 0 && vl == 1;
    q->value = q->tag == 'C' ? evl__sr_level(kv, q->reg, q->subject)
                             : evl__sr_mode(kv, q->reg, q->subject);
    return 0;
}

static int get_named(evl_registry_t *reg, char tag, const char *subject, bool defaulting,
                     int *value, bool *isset)
{
    if (subject && !evl__sr_subject_ok(subject))
        return subject_missing(subject);
    named_q_t q = {reg, tag, subject, 0, false};
    int rc = ask(reg, named_fn, &q);
    if (rc)
        return rc;
    if (isset)
        *isset = q.isset;
    if (subject && !q.isset && !defaulting) {
        evl__sr_seterr("Subject '%s' does not have subject-level %s configured", subject,
                       tag == 'C' ? "compatibility" : "mode");
        return EVL_ESUBJECT_NOTFOUND;
    }
    *value = q.value;
    return 0;
}

EVL_API int evl_registry_config_get(evl_registry_t *reg, const char *subject, bool defaulting,
                                    evl_compat_t *level, bool *isset)
{
    int v;
    int rc = get_named(reg, 'C', subject, defaulting, &v, isset);
    if (!rc)
        *level = (evl_compat_t)v;
    return rc;
}

EVL_API int evl_registry_mode_get(evl_registry_t *reg, const char *subject, bool defaulting,
                                  evl_registry_mode_t *mode)
{
    int v;
    int rc = get_named(reg, 'M', subject, defaulting, &v, NULL);
    if (!rc)
        *mode = (evl_registry_mode_t)v;
    return rc;
}
