/*
 * store.c - the registry's truth and its index: records of the internal,
 * compacted topic __schemas, applied in offset order to the LMDB table
 * registry.index that answers every question.
 *
 * Records are keyed as Confluent keys _schemas, so that compaction keeps
 * the newest record of each key and a tombstone removes one:
 *   {"keytype":"SCHEMA","subject":S,"version":V,"magic":1} ->
 *       {"subject","version","id","schemaType","schema","references","deleted"}
 *   {"keytype":"CONFIG","subject":S|null,"magic":0} -> {"compatibilityLevel":L}
 *   {"keytype":"MODE","subject":S|null,"magic":0} -> {"mode":M}
 * A null value deletes (a hard-deleted version, a config removed).
 *
 * Why the index can always be rebuilt: it holds nothing the topic does
 * not. The applied offset ('A') moves in the same LMDB transaction as the
 * entries it covers, so a crash leaves either both or neither, and two
 * processes catching up at once apply each record once.
 *
 * Why two processes never hand out one id twice: a write decides on what
 * the index holds after catching up to offset E, and is appended only if
 * __schemas still ends at E (evl_send_opts_t's hook, checked under the
 * partition's append lock, across processes). If another registration got
 * in first, the hook refuses, the writer catches up and decides again.
 */
#include "store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---- keys ---------------------------------------------------------------- */

uint32_t evl__sr_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void evl__sr_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* 1 to 255 bytes of UTF-8 without control characters (subjects travel as
 * JSON strings in __schemas' keys). */
bool evl__sr_subject_ok(const char *subject)
{
    if (!subject || !*subject)
        return false;
    size_t n = strlen(subject);
    if (n > EVL_SR_SUBJECT_MAX)
        return false;
    const unsigned char *p = (const unsigned char *)subject, *end = p + n;
    while (p < end) {
        uint32_t c = *p++;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (c < 0x20 || c == 0x7f || more < 0 || end - p < more)
            return false;
        if (more)
            c &= 0x3fu >> more;
        for (int i = 0; i < more; i++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            c = c << 6 | (*p++ & 0x3f);
        }
        static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
        if (c < least[more] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false; /* overlong, past Unicode, or a surrogate */
    }
    return true;
}

size_t evl__sr_key_subj(uint8_t *buf, const char *subject, int version)
{
    size_t n = strlen(subject);
    buf[0] = 'S';
    memcpy(buf + 1, subject, n);
    buf[1 + n] = 0;
    if (version < 0)
        return n + 2; /* the prefix of every version */
    evl__sr_put32(buf + 2 + n, (uint32_t)version);
    return n + 6;
}

size_t evl__sr_key_id(uint8_t *buf, char tag, int id)
{
    buf[0] = (uint8_t)tag;
    evl__sr_put32(buf + 1, (uint32_t)id);
    return 5;
}

size_t evl__sr_key_named(uint8_t *buf, char tag, const char *subject)
{
    size_t n = subject ? strlen(subject) : 0;
    buf[0] = (uint8_t)tag;
    memcpy(buf + 1, subject ? subject : "", n);
    return n + 1;
}

uint64_t evl__sr_hash(evl_schema_type_t type, const char *canonical, const evl_schema_ref_t *refs,
                      size_t nrefs)
{
    XXH64_state_t *st = XXH64_createState();
    if (!st)
        return 0;
    XXH64_reset(st, (uint64_t)type);
    XXH64_update(st, canonical, strlen(canonical) + 1);
    for (size_t i = 0; i < nrefs; i++) {
        XXH64_update(st, refs[i].name, strlen(refs[i].name) + 1);
        XXH64_update(st, refs[i].subject, strlen(refs[i].subject) + 1);
        XXH64_update(st, &refs[i].version, sizeof refs[i].version);
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

/* ---- applying records ------------------------------------------------------ */

typedef struct rec {
    int64_t offset;
    char *key, *value; /* NUL-terminated copies; value NULL: tombstone */
} rec_t;

typedef struct apply {
    evl_registry_t *reg;
    rec_t *recs;
    size_t n;
    int64_t from;   /* the first offset read (applied offset when read) */
    int64_t to;     /* next offset after the records */
    bool rebuild;   /* clear the index first */
} apply_t;

static int put_u32(evl_kv_t *kv, evl_kv_table_t t, const uint8_t *k, size_t kl, uint32_t v)
{
    uint8_t b[4];
    evl__sr_put32(b, v);
    return evl_kv_put(kv, t, k, kl, b, 4);
}

static int get_u32(evl_kv_t *kv, evl_kv_table_t t, const uint8_t *k, size_t kl, uint32_t *v)
{
    const void *p;
    size_t n;
    int rc = evl_kv_get(kv, t, k, kl, &p, &n);
    if (rc)
        return rc;
    if (n != 4)
        return EVL_ECORRUPT;
    *v = evl__sr_be32(p);
    return 0;
}

/* The refs of stored id, for dropping its 'R' entries. */
static int del_refs(evl_kv_t *kv, evl_registry_t *reg, int id)
{
    evl_schema_info_t info = {0};
    int rc = evl__sr_load(kv, reg, id, &info);
    if (rc == EVL_ESCHEMA_NOTFOUND)
        return 0;
    for (size_t i = 0; !rc && i < info.ref_count; i++) {
        uint8_t k[512];
        size_t kl = evl__sr_key_subj(k, info.refs[i].subject, info.refs[i].version);
        k[0] = 'R';
        kl += 4;
        evl__sr_put32(k + kl - 4, (uint32_t)id);
        rc = evl_kv_del(kv, reg->index, k, kl);
        if (rc == EVL_ENOTFOUND)
            rc = 0;
    }
    evl__sr_info_clear(&info);
    return rc;
}

int evl__sr_any_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    *(bool *)arg = true;
    return 1;
}

/* Remove subject's version: its 'S' and 'U' entries; the schema itself
 * when nothing uses it any more. */
static int apply_hard_delete(evl_kv_t *kv, evl_registry_t *reg, const char *subject, int version)
{
    uint8_t k[512];
    size_t kl = evl__sr_key_subj(k, subject, version);
    const void *v;
    size_t vl;
    int rc = evl_kv_get(kv, reg->index, k, kl, &v, &vl);
    if (rc == EVL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (vl != 5)
        return EVL_ECORRUPT;
    int id = (int)evl__sr_be32(v);
    if ((rc = evl_kv_del(kv, reg->index, k, kl)))
        return rc;
    uint8_t u[512];
    size_t ul = evl__sr_key_id(u, 'U', id);
    size_t sl = strlen(subject);
    memcpy(u + ul, subject, sl + 1);
    evl__sr_put32(u + ul + sl + 1, (uint32_t)version);
    rc = evl_kv_del(kv, reg->index, u, ul + sl + 5);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    bool used = false;
    if ((rc = evl_kv_scan(kv, reg->index, u, ul, evl__sr_any_cb, &used)))
        return rc;
    if (used)
        return 0;
    /* the last user is gone: forget the schema, its hash and its refs (and
     * tell the handles' caches that an id may now mean something else) */
    if ((rc = evl__sr_bump_epoch(kv, reg)))
        return rc;
    evl_schema_info_t info = {0};
    if ((rc = evl__sr_load(kv, reg, id, &info)))
        return rc == EVL_ESCHEMA_NOTFOUND ? 0 : rc;
    uint8_t h[16];
    evl__sr_key_hash(h, info.type, evl__sr_hash(info.type, info.schema, info.refs, info.ref_count),
                     id);
    evl__sr_info_clear(&info);
    rc = evl_kv_del(kv, reg->index, h, 14);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    if ((rc = del_refs(kv, reg, id)))
        return rc;
    ul = evl__sr_key_id(u, 'I', id);
    rc = evl_kv_del(kv, reg->index, u, ul);
    return rc == EVL_ENOTFOUND ? 0 : rc;
}

static int apply_schema(evl_kv_t *kv, evl_registry_t *reg, const char *subject, int version,
                        json_t *val)
{
    int id = (int)json_integer_value(json_object_get(val, "id"));
    const char *text = json_string_value(json_object_get(val, "schema"));
    int type = evl_schema_type_parse(json_string_value(json_object_get(val, "schemaType")));
    json_t *refs = json_object_get(val, "references");
    bool deleted = json_is_true(json_object_get(val, "deleted"));
    if (id <= 0 || !text || type < 0 || (refs && !json_is_array(refs)))
        return 0; /* not a record of ours: skipped */
    uint8_t k[512];
    size_t kl;
    int rc;
    /* the schema by id (first registration wins: the same id is the same schema) */
    kl = evl__sr_key_id(k, 'I', id);
    const void *v;
    size_t vl;
    if (evl_kv_get(kv, reg->index, k, kl, &v, &vl) == EVL_ENOTFOUND) {
        json_t *r = refs ? json_incref(refs) : json_array();
        json_t *o = json_pack("{s:i,s:s,s:o}", "t", type, "s", text, "r", r);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
            return EVL_ENOMEM;
        rc = evl_kv_put(kv, reg->index, k, kl, s, strlen(s));
        free(s);
        if (rc)
            return rc;
        /* its hash, to find it by content */
        evl_schema_info_t info = {0};
        if ((rc = evl__sr_load(kv, reg, id, &info)))
            return rc;
        uint8_t h[16];
        evl__sr_key_hash(h, info.type,
                         evl__sr_hash(info.type, info.schema, info.refs, info.ref_count), id);
        rc = evl_kv_put(kv, reg->index, h, 14, "", 0);
        for (size_t i = 0; !rc && i < info.ref_count; i++) {
            uint8_t r[512];
            size_t rl = evl__sr_key_subj(r, info.refs[i].subject, info.refs[i].version);
            r[0] = 'R';
            evl__sr_put32(r + rl, (uint32_t)id);
            rc = evl_kv_put(kv, reg->index, r, rl + 4, "", 0);
        }
        evl__sr_info_clear(&info);
        if (rc)
            return rc;
    }
    /* the highest id */
    uint32_t hi = 0;
    rc = get_u32(kv, reg->index, (const uint8_t *)"N", 1, &hi);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    if ((uint32_t)id > hi && (rc = put_u32(kv, reg->index, (const uint8_t *)"N", 1, (uint32_t)id)))
        return rc;
    /* the subject's version */
    kl = evl__sr_key_subj(k, subject, version);
    uint8_t sv[5];
    evl__sr_put32(sv, (uint32_t)id);
    sv[4] = deleted;
    if ((rc = evl_kv_put(kv, reg->index, k, kl, sv, 5)))
        return rc;
    uint8_t u[512];
    size_t ul = evl__sr_key_id(u, 'U', id);
    size_t sl = strlen(subject);
    memcpy(u + ul, subject, sl + 1);
    evl__sr_put32(u + ul + sl + 1, (uint32_t)version);
    return evl_kv_put(kv, reg->index, u, ul + sl + 5, "", 0);
}

static int apply_one(evl_kv_t *kv, evl_registry_t *reg, const rec_t *r)
{
    json_t *key = json_loads(r->key, JSON_DECODE_ANY, NULL);
    json_t *val = r->value ? json_loads(r->value, JSON_DECODE_ANY, NULL) : NULL;
    const char *kt = json_string_value(json_object_get(key, "keytype"));
    json_t *js = json_object_get(key, "subject");
    const char *subject = json_string_value(js);
    int rc = 0;
    if (!kt || (subject && !evl__sr_subject_ok(subject))) {
        rc = 0; /* not ours (Confluent also writes NOOP keys): skipped */
    } else if (strcmp(kt, "SCHEMA") == 0 && subject) {
        json_int_t ver = json_integer_value(json_object_get(key, "version"));
        if (ver <= 0 || ver > INT32_MAX)
            rc = 0;
        else if (!val)
            rc = apply_hard_delete(kv, reg, subject, (int)ver);
        else if (json_is_object(val))
            rc = apply_schema(kv, reg, subject, (int)ver, val);
    } else if (strcmp(kt, "MAXID") == 0) {
        /* the highest id ever given, kept when compaction takes the
         * hard-deleted schemas that held it: ids are never given twice */
        json_int_t id = json_integer_value(json_object_get(val, "id"));
        uint32_t hi = 0;
        rc = get_u32(kv, reg->index, (const uint8_t *)"N", 1, &hi);
        if (rc == EVL_ENOTFOUND)
            rc = 0;
        if (!rc && id > (json_int_t)hi && id <= INT32_MAX)
            rc = put_u32(kv, reg->index, (const uint8_t *)"N", 1, (uint32_t)id);
    } else if (strcmp(kt, "CONFIG") == 0 || strcmp(kt, "MODE") == 0) {
        bool config = kt[0] == 'C';
        uint8_t k[512];
        size_t kl = evl__sr_key_named(k, config ? 'C' : 'M', subject);
        const char *name = json_string_value(
            json_object_get(val, config ? "compatibilityLevel" : "mode"));
        int level = name ? (config ? evl_compat_parse(name) : evl_registry_mode_parse(name)) : -1;
        if (!val) {
            rc = evl_kv_del(kv, reg->index, k, kl);
            if (rc == EVL_ENOTFOUND)
                rc = 0;
        } else if (level >= 0) {
            uint8_t b = (uint8_t)level;
            rc = evl_kv_put(kv, reg->index, k, kl, &b, 1);
        }
    }
    json_decref(key);
    json_decref(val);
    return rc;
}

typedef struct keylist {
    uint8_t **k;
    size_t *kl;
    size_t n, cap;
} keylist_t;

static int collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    keylist_t *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint8_t **nk = realloc(l->k, cap * sizeof *nk);
        if (!nk)
            return EVL_ENOMEM;
        l->k = nk;
        size_t *nl = realloc(l->kl, cap * sizeof *nl);
        if (!nl)
            return EVL_ENOMEM;
        l->kl = nl;
        l->cap = cap;
    }
    uint8_t *c = malloc(kl);
    if (!c)
        return EVL_ENOMEM;
    memcpy(c, k, kl);
    l->k[l->n] = c;
    l->kl[l->n++] = kl;
    return 0;
}

static int clear_index(evl_kv_t *kv, evl_registry_t *reg)
{
    keylist_t l = {0};
    uint32_t epoch = 0;
    get_u32(kv, reg->index, (const uint8_t *)"E", 1, &epoch);
    int rc = evl_kv_scan(kv, reg->index, NULL, 0, collect_cb, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (!rc)
            rc = evl_kv_del(kv, reg->index, l.k[i], l.kl[i]);
        free(l.k[i]);
    }
    free(l.k);
    free(l.kl);
    /* the epoch goes on across a rebuild: cached parses must go */
    return rc ? rc : put_u32(kv, reg->index, (const uint8_t *)"E", 1, epoch + 1);
}

int evl__sr_bump_epoch(evl_kv_t *kv, evl_registry_t *reg)
{
    uint32_t epoch = 0;
    int rc = get_u32(kv, reg->index, (const uint8_t *)"E", 1, &epoch);
    if (rc && rc != EVL_ENOTFOUND)
        return rc;
    return put_u32(kv, reg->index, (const uint8_t *)"E", 1, epoch + 1);
}

uint32_t evl__sr_epoch(evl_kv_t *kv, evl_registry_t *reg)
{
    uint32_t epoch = 0;
    get_u32(kv, reg->index, (const uint8_t *)"E", 1, &epoch);
    return epoch;
}

int64_t evl__sr_applied(evl_kv_t *kv, evl_registry_t *reg)
{
    const uint8_t *v;
    size_t vl;
    if (evl_kv_get(kv, reg->index, "A", 1, (const void **)&v, &vl) || vl != 8)
        return 0;
    uint64_t a = 0;
    for (int i = 0; i < 8; i++)
        a = a << 8 | v[i];
    return (int64_t)a;
}

static int apply_fn(evl_kv_t *kv, void *arg)
{
    apply_t *a = arg;
    int rc;
    if (a->rebuild && (rc = clear_index(kv, a->reg)))
        return rc;
    int64_t applied = a->rebuild ? 0 : evl__sr_applied(kv, a->reg);
    for (size_t i = 0; i < a->n; i++) {
        if (a->recs[i].offset < applied)
            continue; /* another process applied it first */
        if ((rc = apply_one(kv, a->reg, &a->recs[i])))
            return rc;
    }
    if (a->to > applied) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)((uint64_t)a->to >> (56 - 8 * i));
        if ((rc = evl_kv_put(kv, a->reg->index, "A", 1, b, 8)))
            return rc;
    }
    return 0;
}

static int applied_fn(evl_kv_t *kv, void *arg)
{
    apply_t *a = arg;
    a->from = evl__sr_applied(kv, a->reg);
    return 0;
}

static void recs_free(apply_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->recs[i].key);
        free(a->recs[i].value);
    }
    a->n = 0;
}

static char *dupn(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

#define APPLY_BATCH 512

/* Read from the applied offset to the end, applying in batches. */
static int sync_from(evl_registry_t *reg, bool rebuild, int64_t *end)
{
    apply_t a = {.reg = reg, .rebuild = rebuild};
    int rc = 0;
    if (!rebuild && (rc = evl_kv_read(reg->log, applied_fn, &a)))
        return rc;
    /* the partition's bounds from the reader (two index lookups; the
     * partition's info would list its directory on every call) */
    struct {
        int64_t start_offset, end_offset;
    } pi;
    if ((rc = evl_reader_seek(reg->rd, EVL_OFFSET_END)))
        return rc;
    pi.end_offset = evl_reader_position(reg->rd);
    if ((rc = evl_reader_seek(reg->rd, EVL_OFFSET_BEGINNING)))
        return rc;
    pi.start_offset = evl_reader_position(reg->rd);
    if (!rebuild && a.from == pi.end_offset) {
        if (end)
            *end = a.from; /* nothing new: the common case, no reads */
        return 0;
    }
    if (a.from > pi.end_offset || a.from < pi.start_offset) {
        /* the topic is not the one the index was built from (made again,
         * or trimmed): build the index anew */
        a.rebuild = true;
        a.from = 0;
    }
    rc = evl_reader_seek(reg->rd, a.from > pi.start_offset ? a.from : EVL_OFFSET_BEGINNING);
    if (rc)
        return rc;
    a.recs = calloc(APPLY_BATCH, sizeof *a.recs);
    if (!a.recs)
        return EVL_ENOMEM;
    a.to = a.from;
    int64_t end_at = a.from;
    for (;;) {
        const evl_record_t *r;
        rc = evl_reader_next(reg->rd, 0, &r);
        if (rc == 0) {
            size_t kl, vl;
            const void *k = evl_record_key(r, &kl);
            const void *v = evl_record_value(r, &vl);
            rec_t *x = &a.recs[a.n];
            x->offset = evl_record_offset(r);
            x->key = dupn(k ? k : "", k ? kl : 0);
            x->value = v ? dupn(v, vl) : NULL;
            a.n++;
            a.to = x->offset + 1;
            if (!x->key || (v && !x->value)) {
                rc = EVL_ENOMEM;
                break;
            }
        } else if (rc != EVL_ETIMEDOUT) {
            break;
        }
        if (rc == EVL_ETIMEDOUT) {
            /* every record below pi.end_offset was published before the
             * reads began (next_offset moves after the frame is
             * published), so the end is at least that: records compaction
             * took from the tail leave the reader's position short of it.
             * The index records that it is applied up to there. */
            int64_t pos = evl_reader_position(reg->rd);
            end_at = pos > pi.end_offset ? pos : pi.end_offset;
            if (a.to < end_at)
                a.to = end_at;
        }
        if (a.n == APPLY_BATCH || (rc == EVL_ETIMEDOUT && (a.n || a.rebuild || a.to > a.from))) {
            int wrc = evl_kv_write(reg->log, apply_fn, &a);
            recs_free(&a);
            a.rebuild = false;
            a.from = a.to;
            if (wrc) {
                rc = wrc;
                break;
            }
        }
        if (rc == EVL_ETIMEDOUT) {
            rc = 0;
            break;
        }
    }
    recs_free(&a);
    free(a.recs);
    if (!rc && end)
        *end = end_at;
    return rc;
}

int evl__sr_sync(evl_registry_t *reg, int64_t *end)
{
    return sync_from(reg, false, end);
}

/* ---- appending ------------------------------------------------------------- */

typedef struct guard {
    int64_t expect;
    bool checked;
} guard_t;

/* Under the append lock of __schemas: let the first frame go only if the
 * topic ends where this writer last read. Later frames of the same batch
 * follow it. */
static int guard_hook(void *arg, const char *topic, int32_t partition, int64_t next)
{
    guard_t *g = arg;
    if (g->checked)
        return 0;
    if (next != g->expect)
        return EVL_SR_STALE;
    g->checked = true;
    return 0;
}

int evl__sr_append(evl_registry_t *reg, evl_msg_t *msgs, size_t n, int64_t end)
{
    guard_t g = {.expect = end};
    evl_send_opts_t so = {.size = sizeof so, .hook = guard_hook, .hook_arg = &g};
    for (size_t i = 0; i < n; i++)
        msgs[i].partition = 0;
    return evl_producer_send_batch_ex(reg->prod, EVL_SR_TOPIC, msgs, n,
                                      EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC), &so);
}

/* ---- open / close ------------------------------------------------------------ */

EVL_API int evl_registry_open(evl_log_t *log, evl_registry_t **out)
{
    *out = NULL;
    evl__sr_clearerr();
    evl_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return EVL_ENOMEM;
    reg->log = log;
    pthread_mutex_init(&reg->mu, NULL);
    int rc = evl_kv_table(log, "registry.index", &reg->index);
    if (!rc) {
        evl_config_t *tc = evl_config_new();
        if (!tc)
            rc = EVL_ENOMEM;
        if (!rc)
            rc = evl_config_set(tc, "cleanup.policy", "compact", NULL, 0);
        /* a batch of deletions is one frame, so one atomic append */
        if (!rc)
            rc = evl_config_set(tc, "max.message.bytes", "67108864", NULL, 0);
        if (!rc)
            rc = evl_topic_create_internal(log, EVL_SR_TOPIC, 1, tc);
        if (rc == EVL_EEXIST)
            rc = 0;
        evl_config_free(tc);
    }
    if (!rc)
        rc = evl_producer_open(log, NULL, &reg->prod);
    if (!rc)
        rc = evl_reader_open(log, EVL_SR_TOPIC, 0, &reg->rd);
    if (!rc) {
        pthread_mutex_lock(&reg->mu);
        rc = evl__sr_sync(reg, NULL);
        pthread_mutex_unlock(&reg->mu);
    }
    if (rc) {
        evl__sr_seterr("opening the registry: %s", evl_strerror(rc));
        evl_registry_close(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

EVL_API void evl_registry_close(evl_registry_t *reg)
{
    if (!reg)
        return;
    for (int list = 0; list < 2; list++)
        for (evl_sr_cached_t *c = list ? reg->retired : reg->cache, *nx; c; c = nx) {
            nx = c->next;
            evl__sr_format(c->type)->free(c->schema);
            free(c);
        }
    evl_reader_close(reg->rd);
    evl_producer_close(reg->prod);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

EVL_API int evl_registry_refresh(evl_registry_t *reg)
{
    evl__sr_clearerr();
    pthread_mutex_lock(&reg->mu);
    int rc = evl__sr_sync(reg, NULL);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

EVL_API int evl_registry_rebuild(evl_registry_t *reg)
{
    evl__sr_clearerr();
    pthread_mutex_lock(&reg->mu);
    int rc = sync_from(reg, true, NULL);
    pthread_mutex_unlock(&reg->mu);
    return rc;
}
