/*
 * rest_routes.c - Confluent Schema Registry's REST API answered from a
 * registry handle, as a pure function of (method, URL, body), so that
 * Confluent's own clients (confluent-kafka's SchemaRegistryClient,
 * @kafkajs/confluent-schema-registry) work unchanged and the fuzz target
 * and tests reach every route with no socket:
 *
 *   GET    /subjects[?deleted&subjectPrefix]            ["a","b"]
 *   GET    /subjects/S/versions[?deleted]               [1,2]
 *   GET    /subjects/S/versions/V[?deleted]             {subject,version,id,schemaType?,schema,references?}
 *   GET    /subjects/S/versions/V/schema                the schema's text
 *   GET    /subjects/S/versions/V/referencedby          [ids]
 *   POST   /subjects/S/versions[?normalize]             register: {"id"}
 *   POST   /subjects/S[?deleted]                        lookup
 *   DELETE /subjects/S[?permanent], /subjects/S/versions/V[?permanent]
 *   GET    /schemas/ids/ID[/schema|/versions|/subjects], /schemas/types
 *   POST   /compatibility/subjects/S/versions[/V][?verbose]
 *   GET/PUT/DELETE /config[/S], GET/PUT /mode[/S], GET /
 *
 * V is a number or "latest" (or -1). Path segments and query values are
 * percent-decoded here (subjects may hold '/', ':' ...). Errors are
 * Confluent's {"error_code", "message"} with its codes and texts
 * (core/.../rest/exceptions/Errors.java), the HTTP status being the code's
 * first three digits. Strings that are not UTF-8 never reach jansson's
 * encoder as they are (it would refuse the whole answer): they are
 * answered as 404 when in the path and shown with '?' otherwise.
 */
#include "format.h"
#include "rest_int.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEG_MAX 8
#define PARAM_MAX 32
#define REFS_MAX 1000

typedef struct rq {
    evl_registry_t *reg;
    const char *method;
    char *seg[SEG_MAX];
    int nseg;
    char *key[PARAM_MAX], *val[PARAM_MAX];
    int nparam;
    const char *ctype;
    const char *body;
    size_t len;
    char **out;
    const char **type;
} rq_t;

/* ---- strings --------------------------------------------------------------------- */

static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                             : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || (n == 3 && *p > 0xF4))
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((n == 2 && *p == 0xE0 && p[1] < 0xA0) || (n == 2 && *p == 0xED && p[1] >= 0xA0) ||
            (n == 3 && *p == 0xF0 && p[1] < 0x90) || (n == 3 && *p == 0xF4 && p[1] >= 0x90))
            return false; /* overlong, surrogate, past U+10FFFF */
        p += n + 1;
    }
    return true;
}

/* A JSON string of s; bytes that are not UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    if (utf8_ok(s))
        return json_string(s);
    char *c = strdup(s);
    if (!c)
        return NULL;
    for (unsigned char *p = (unsigned char *)c; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    json_t *j = json_string(c);
    free(c);
    return j;
}

/* Percent-decode s in place ('+' as a space when plus); false on a bad
 * escape, an encoded NUL, or text that is not UTF-8. */
static bool decode(char *s, bool plus)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = evl__sr_hexval((unsigned char)r[1]), lo = hi < 0 ? -1 : evl__sr_hexval((unsigned char)r[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return false;
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = 0;
    return utf8_ok(s);
}

/* ---- answers ----------------------------------------------------------------------- */

static int reply(rq_t *q, int status, json_t *j)
{
    *q->out = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    *q->type = EVL_SR_REST_CTYPE;
    return *q->out ? status : 500;
}

char *evl__sr_rest_error(int error_code, const char *message)
{
    json_t *m = jstr(message);
    json_t *j = m ? json_pack("{s:i, s:o}", "error_code", error_code, "message", m) : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static int fail(rq_t *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(rq_t *q, int code, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *q->out = evl__sr_rest_error(code, msg);
    *q->type = EVL_SR_REST_CTYPE;
    int status = code >= 10000 ? code / 100 : code;
    return *q->out ? status : 500;
}

static int not_found(rq_t *q) { return fail(q, 404, "HTTP 404 Not Found"); }
static int bad_method(rq_t *q) { return fail(q, 405, "HTTP 405 Method Not Allowed"); }

static int text(rq_t *q, const char *s)
{
    *q->out = strdup(s ? s : "");
    *q->type = EVL_SR_REST_CTYPE;
    return *q->out ? 200 : 500;
}

/* The registry's message for this thread, or dflt when it has none. */
static const char *why(const char *dflt)
{
    const char *m = evl_registry_errmsg();
    return m && *m ? m : dflt;
}

/* A registry error as Confluent's. vstr: the version as given (for the
 * version messages), NULL when none is involved. */
static int fail_rc(rq_t *q, int rc, const char *subject, const char *vstr)
{
    switch (rc) {
    case EVL_ESUBJECT_NOTFOUND:
        return fail(q, 40401, "Subject '%s' not found.", subject ? subject : "");
    case EVL_EVERSION_NOTFOUND:
        return fail(q, 40402, "Version %s not found.", vstr ? vstr : "");
    case EVL_ESCHEMA_NOTFOUND:
        return fail(q, 40403, "%s", why("Schema not found"));
    case EVL_EVERSION_INVALID:
        return fail(q, 42202,
                    "The specified version '%s' is not a valid version id. Allowed values are "
                    "between [1, 2^31-1] and the string \"latest\"",
                    vstr ? vstr : "");
    case EVL_ESCHEMA_INVALID:
        return fail(q, 42201, "%s", why("Invalid schema"));
    case EVL_EREADONLY:
        if (!subject)
            return fail(q, 42205, "The registry is in read-only mode");
        return fail(q, 42205, "Subject %s is in read-only mode", subject);
    case EVL_EREFERENCED:
        return fail(q, 42206, "%s", why("One or more references exist to the schema"));
    case EVL_ENOTSOFTDELETED:
        if (vstr)
            return fail(q, 40407,
                        "Subject '%s' Version %s was not deleted first before being "
                        "permanently deleted",
                        subject ? subject : "", vstr);
        return fail(q, 40405,
                    "Subject '%s' was not deleted first before being permanently deleted",
                    subject ? subject : "");
    case EVL_EEXIST:
        return fail(q, 42207, "%s", why("Schema already registered with another id"));
    case EVL_EINVAL: /* a subject name the registry refuses, or IMPORT without an id */
        if (!strncmp(evl_registry_errmsg(), "IMPORT", 6))
            return fail(q, 42205, "%s", evl_registry_errmsg());
        return fail(q, 42208, "The specified subject is not valid.");
    default:
        return fail(q, 50001, "Error in the backend data store: %s", evl_registry_strerror(rc));
    }
}

/* ---- the request ------------------------------------------------------------------- */

static const char *param(const rq_t *q, const char *name)
{
    for (int i = q->nparam; i-- > 0;) /* the last one given wins */
        if (!strcmp(q->key[i], name))
            return q->val[i] ? q->val[i] : "";
    return NULL;
}

static bool flag(const rq_t *q, const char *name)
{
    const char *v = param(q, name);
    return v && !strcasecmp(v, "true");
}

/* A strict decimal int: digits only (one optional '-'), within int. */
static bool parse_int(const char *s, long long lo, long long hi, int *out)
{
    const char *p = s + (*s == '-');
    if (!*p || strlen(p) > 10)
        return false;
    for (const char *c = p; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* A version of the path: a number, "latest" or -1; false when neither. */
static bool parse_version(const char *s, int *v)
{
    if (!strcasecmp(s, "latest")) {
        *v = EVL_VERSION_LATEST;
        return true;
    }
    return parse_int(s, -1, INT_MAX, v) && *v != 0;
}

static int bad_version(rq_t *q, const char *s) { return fail_rc(q, EVL_EVERSION_INVALID, NULL, s); }

/* Bodies may come as any of Confluent's types, as JSON, as bytes, or
 * untyped (the media type before any ';' parameters). */
static bool ctype_ok(const char *ct)
{
    static const char *const ok[] = {"application/vnd.schemaregistry.v1+json",
                                     "application/vnd.schemaregistry+json", "application/json",
                                     "application/octet-stream"};
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (n == strlen(ok[i]) && !strncasecmp(ct, ok[i], n))
            return true;
    return false;
}

/* The body as a JSON object, or NULL having answered 422. */
static json_t *body_object(rq_t *q, int *status)
{
    json_error_t e;
    json_t *j = q->len ? json_loadb(q->body, q->len, 0, &e) : NULL;
    if (!j || !json_is_object(j)) {
        *status = fail(q, 422, "Unprocessable entity: %s",
                       !q->len ? "no body" : !j ? e.text : "the body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

typedef struct sbody {
    json_t *root;
    const char *schema;
    evl_schema_type_t type;
    evl_schema_ref_t *refs;
    size_t nrefs;
    int id, version;
} sbody_t;

static void sbody_free(sbody_t *b)
{
    free(b->refs);
    json_decref(b->root);
}

/* A schema's body: {"schema", "schemaType"?, "references"?, "id"?,
 * "version"?}. 0, or the status of the error answered. */
static int parse_sbody(rq_t *q, sbody_t *b)
{
    int status = 0;
    memset(b, 0, sizeof *b);
    if (!(b->root = body_object(q, &status)))
        return status;
    json_t *s = json_object_get(b->root, "schema");
    if (!json_is_string(s))
        return fail(q, 422, "Unprocessable entity: \"schema\" %s",
                    s ? "must be a string" : "is required");
    b->schema = json_string_value(s);
    json_t *t = json_object_get(b->root, "schemaType");
    if (t && !json_is_null(t)) {
        int ty = json_is_string(t) ? evl_schema_type_parse(json_string_value(t)) : EVL_EINVAL;
        if (ty < 0)
            return fail(q, 42201, "Invalid schema type %s",
                        json_is_string(t) ? json_string_value(t) : "(not a string)");
        b->type = (evl_schema_type_t)ty;
    }
    const char *nums[] = {"id", "version"};
    int *dst[] = {&b->id, &b->version};
    for (int i = 0; i < 2; i++) {
        json_t *n = json_object_get(b->root, nums[i]);
        if (!n || json_is_null(n))
            continue;
        json_int_t v = json_is_integer(n) ? json_integer_value(n) : -2;
        if (v < -1 || v > INT_MAX)
            return fail(q, 422, "Unprocessable entity: \"%s\" must be an integer", nums[i]);
        *dst[i] = v > 0 ? (int)v : 0;
    }
    json_t *r = json_object_get(b->root, "references");
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_array(r) || json_array_size(r) > REFS_MAX)
        return fail(q, 422, "Unprocessable entity: \"references\" must be an array");
    b->nrefs = json_array_size(r);
    if (b->nrefs && !(b->refs = calloc(b->nrefs, sizeof *b->refs)))
        return fail(q, 50001, "Error in the backend data store: out of memory");
    for (size_t i = 0; i < b->nrefs; i++) {
        json_t *e = json_array_get(r, i), *nm = json_object_get(e, "name"),
               *sj = json_object_get(e, "subject"), *vr = json_object_get(e, "version");
        json_int_t v = json_is_integer(vr) ? json_integer_value(vr) : 0;
        if (!json_is_string(nm) || !json_is_string(sj) || v < -1 || v == 0 || v > INT_MAX)
            return fail(q, 422, "Unprocessable entity: reference %zu needs \"name\", "
                                "\"subject\" and \"version\"", i);
        b->refs[i] = (evl_schema_ref_t){json_string_value(nm), json_string_value(sj), (int)v};
    }
    return 0;
}

/* ---- schemas as Confluent shows them ---------------------------------------------- */

static json_t *refs_json(const evl_schema_info_t *info)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < info->ref_count; i++)
        json_array_append_new(a, json_pack("{s:o, s:o, s:i}", "name", jstr(info->refs[i].name),
                                           "subject", jstr(info->refs[i].subject), "version",
                                           info->refs[i].version));
    return a;
}

/* {subject?, version?, id, schemaType (not for Avro), schema, references
 * (when any)}. */
static json_t *info_json(const evl_schema_info_t *info, bool with_subject)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (with_subject) {
        json_object_set_new(o, "subject", jstr(info->subject));
        json_object_set_new(o, "version", json_integer(info->version));
        json_object_set_new(o, "id", json_integer(info->id));
    }
    if (info->type != EVL_SCHEMA_AVRO)
        json_object_set_new(o, "schemaType", json_string(evl_schema_type_name(info->type)));
    json_object_set_new(o, "schema", jstr(info->schema));
    if (info->ref_count)
        json_object_set_new(o, "references", refs_json(info));
    return o;
}

static json_t *int_array(const int *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *str_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, jstr(v[i]));
    return a;
}

/* ---- /subjects ------------------------------------------------------------------------- */

static int subjects_list(rq_t *q)
{
    char **names;
    size_t n;
    int rc = evl_registry_subjects(q->reg, param(q, "subjectPrefix"), flag(q, "deleted"),
                                   &names, &n);
    if (rc)
        return fail_rc(q, rc, NULL, NULL);
    json_t *a = str_array(names, n);
    evl_registry_free_list(names, n);
    return reply(q, 200, a);
}

static int versions_list(rq_t *q, const char *subject)
{
    int *v;
    size_t n;
    int rc = evl_registry_versions(q->reg, subject, flag(q, "deleted"), &v, &n);
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    json_t *a = int_array(v, n);
    free(v);
    return reply(q, 200, a);
}

/* GET /subjects/S/versions/V[/schema|/referencedby] */
static int version_get(rq_t *q, const char *subject, const char *vstr, const char *what)
{
    int v;
    if (!parse_version(vstr, &v))
        return bad_version(q, vstr);
    if (what && !strcmp(what, "referencedby")) {
        int *ids;
        size_t n;
        int rc = evl_registry_referenced_by(q->reg, subject, v, &ids, &n);
        if (rc)
            return fail_rc(q, rc, subject, vstr);
        json_t *a = int_array(ids, n);
        free(ids);
        return reply(q, 200, a);
    }
    evl_schema_info_t *info;
    int rc = evl_registry_get(q->reg, subject, v, flag(q, "deleted"), &info);
    if (rc)
        return fail_rc(q, rc, subject, vstr);
    int status = what ? text(q, info->schema) : reply(q, 200, info_json(info, true));
    evl_schema_info_free(info);
    return status;
}

/* POST /subjects/S/versions */
static int register_schema(rq_t *q, const char *subject)
{
    sbody_t b;
    int status = parse_sbody(q, &b);
    if (status) {
        sbody_free(&b);
        return status;
    }
    evl_register_opts_t opts = {sizeof opts, b.id, b.version, flag(q, "normalize")};
    int id = 0, version = 0;
    int rc = evl_registry_register_ex(q->reg, subject, b.type, b.schema, b.refs, b.nrefs, &opts,
                                      &id, &version);
    sbody_free(&b);
    if (rc == EVL_ESCHEMA_INCOMPATIBLE) {
        /* the registry says "...for subject: reason; reason": Confluent's
         * shape is "...for subject \"S\", details: [reasons]" */
        const char *m = evl_registry_errmsg(), *r = strstr(m, "subject: ");
        return fail(q, 409,
                    "Schema being registered is incompatible with an earlier schema for "
                    "subject \"%s\", details: [%s]",
                    subject, r ? r + 9 : m);
    }
    if (rc == EVL_ESUBJECT_NOTFOUND || rc == EVL_EVERSION_NOTFOUND) /* a reference's */
        return fail(q, 42201, "Invalid schema: %s", why("a reference to nothing"));
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    return reply(q, 200, json_pack("{s:i}", "id", id));
}

/* POST /subjects/S: is this schema registered under S? */
static int lookup(rq_t *q, const char *subject)
{
    sbody_t b;
    int status = parse_sbody(q, &b);
    if (status) {
        sbody_free(&b);
        return status;
    }
    evl_schema_info_t *info;
    int rc = evl_registry_lookup(q->reg, subject, b.type, b.schema, b.refs, b.nrefs,
                                 flag(q, "deleted"), &info);
    sbody_free(&b);
    if (rc == EVL_ESCHEMA_NOTFOUND)
        return fail(q, 40403, "Schema not found");
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    status = reply(q, 200, info_json(info, true));
    evl_schema_info_free(info);
    return status;
}

/* Was every version of subject soft-deleted (so that a soft delete finds
 * nothing)? */
static bool all_soft_deleted(rq_t *q, const char *subject)
{
    int *v;
    size_t n;
    if (evl_registry_versions(q->reg, subject, true, &v, &n))
        return false;
    free(v);
    return n > 0;
}

static int delete_subject(rq_t *q, const char *subject)
{
    bool permanent = flag(q, "permanent");
    int *v;
    size_t n;
    int rc = evl_registry_delete_subject(q->reg, subject, permanent, &v, &n);
    if (rc == EVL_ESUBJECT_NOTFOUND && !permanent && all_soft_deleted(q, subject))
        return fail(q, 40404,
                    "Subject '%s' was soft deleted.Set permanent=true to delete permanently",
                    subject);
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    json_t *a = int_array(v, n);
    free(v);
    return reply(q, 200, a);
}

static int delete_version(rq_t *q, const char *subject, const char *vstr)
{
    int v, deleted = 0;
    if (!parse_version(vstr, &v))
        return bad_version(q, vstr);
    bool permanent = flag(q, "permanent");
    int rc = evl_registry_delete_version(q->reg, subject, v, permanent, &deleted);
    if (rc == EVL_EVERSION_NOTFOUND && !permanent && v != EVL_VERSION_LATEST) {
        evl_schema_info_t *info;
        if (evl_registry_get(q->reg, subject, v, true, &info) == 0) {
            bool soft = info->deleted;
            evl_schema_info_free(info);
            if (soft)
                return fail(q, 40406,
                            "Subject '%s' Version %s was soft deleted.Set permanent=true to "
                            "delete permanently",
                            subject, vstr);
        }
        rc = EVL_EVERSION_NOTFOUND;
    }
    if (rc)
        return fail_rc(q, rc, subject, vstr);
    return reply(q, 200, json_integer(deleted));
}

static int subjects(rq_t *q)
{
    const char *m = q->method, *s = q->nseg > 1 ? q->seg[1] : NULL;
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    switch (q->nseg) {
    case 1:
        return get ? subjects_list(q) : bad_method(q);
    case 2:
        return post ? lookup(q, s) : del ? delete_subject(q, s) : bad_method(q);
    case 3:
        if (strcmp(q->seg[2], "versions"))
            return not_found(q);
        return get ? versions_list(q, s) : post ? register_schema(q, s) : bad_method(q);
    case 4:
        if (strcmp(q->seg[2], "versions"))
            return not_found(q);
        return get ? version_get(q, s, q->seg[3], NULL)
               : del ? delete_version(q, s, q->seg[3])
                     : bad_method(q);
    case 5:
        if (strcmp(q->seg[2], "versions") ||
            (strcmp(q->seg[4], "schema") && strcmp(q->seg[4], "referencedby")))
            return not_found(q);
        return get ? version_get(q, s, q->seg[3], q->seg[4]) : bad_method(q);
    }
    return not_found(q);
}

/* ---- /schemas -------------------------------------------------------------------------- */

static int schemas(rq_t *q)
{
    bool get = !strcmp(q->method, "GET");
    if (q->nseg == 2 && !strcmp(q->seg[1], "types"))
        return get ? reply(q, 200, json_pack("[s,s,s]", "JSON", "PROTOBUF", "AVRO"))
                   : bad_method(q);
    if (q->nseg < 3 || q->nseg > 4 || strcmp(q->seg[1], "ids"))
        return not_found(q);
    const char *what = q->nseg == 4 ? q->seg[3] : NULL;
    if (what && strcmp(what, "schema") && strcmp(what, "versions") && strcmp(what, "subjects"))
        return not_found(q);
    int id;
    if (!parse_int(q->seg[2], INT_MIN, INT_MAX, &id))
        return not_found(q); /* Confluent's path parameter is an int */
    if (!get)
        return bad_method(q);
    if (id <= 0)
        return fail(q, 40403, "Schema %d not found", id);
    if (what && strcmp(what, "schema")) { /* versions, subjects */
        char **subj;
        int *vers;
        size_t n;
        int rc = evl_registry_id_versions(q->reg, id, flag(q, "deleted"), &subj, &vers, &n);
        if (rc)
            return fail_rc(q, rc, NULL, NULL);
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
            if (!strcmp(what, "versions"))
                json_array_append_new(a, json_pack("{s:o, s:i}", "subject", jstr(subj[i]),
                                                   "version", vers[i]));
            else if (i == 0 || strcmp(subj[i], subj[i - 1])) /* pairs come by subject */
                json_array_append_new(a, jstr(subj[i]));
        }
        evl_registry_free_list(subj, n);
        free(vers);
        return reply(q, 200, a);
    }
    evl_schema_info_t *info;
    int rc = evl_registry_get_by_id(q->reg, id, &info);
    if (rc == EVL_ESCHEMA_NOTFOUND)
        return fail(q, 40403, "Schema %d not found", id);
    if (rc)
        return fail_rc(q, rc, NULL, NULL);
    int status = what ? text(q, info->schema) : reply(q, 200, info_json(info, false));
    evl_schema_info_free(info);
    return status;
}

/* ---- /compatibility -------------------------------------------------------------------- */

static int compatibility(rq_t *q)
{
    if (q->nseg < 4 || q->nseg > 5 || strcmp(q->seg[1], "subjects") ||
        strcmp(q->seg[3], "versions"))
        return not_found(q);
    if (strcmp(q->method, "POST"))
        return bad_method(q);
    const char *subject = q->seg[2], *vstr = q->nseg == 5 ? q->seg[4] : NULL;
    int v = 0;
    if (vstr && !parse_version(vstr, &v))
        return bad_version(q, vstr);
    sbody_t b;
    int status = parse_sbody(q, &b);
    if (status) {
        sbody_free(&b);
        return status;
    }
    bool ok = false;
    char **reasons = NULL;
    size_t n = 0;
    int rc = evl_registry_check(q->reg, subject, v, b.type, b.schema, b.refs, b.nrefs, &ok,
                                &reasons, &n);
    sbody_free(&b);
    if (rc == EVL_ESUBJECT_NOTFOUND && v == EVL_VERSION_LATEST) {
        ok = true; /* nothing to break, as Confluent answers for "latest" */
        rc = 0;
    }
    if (rc) {
        evl_registry_free_list(reasons, n);
        return fail_rc(q, rc, subject, vstr);
    }
    json_t *o = json_pack("{s:b}", "is_compatible", ok);
    if (o && flag(q, "verbose"))
        json_object_set_new(o, "messages", str_array(reasons, n));
    evl_registry_free_list(reasons, n);
    return reply(q, 200, o);
}

/* ---- /config and /mode ------------------------------------------------------------------- */

static int config(rq_t *q)
{
    if (q->nseg > 2)
        return not_found(q);
    const char *subject = q->nseg == 2 ? q->seg[1] : NULL;
    bool get = !strcmp(q->method, "GET"), put = !strcmp(q->method, "PUT"),
         del = !strcmp(q->method, "DELETE");
    evl_compat_t level;
    int rc;
    if (get) {
        rc = evl_registry_config_get(q->reg, subject, !subject || flag(q, "defaultToGlobal"),
                                     &level, NULL);
        if (rc == EVL_ESUBJECT_NOTFOUND)
            return fail(q, 40408,
                        "Subject '%s' does not have subject-level compatibility configured",
                        subject);
        if (rc)
            return fail_rc(q, rc, subject, NULL);
        return reply(q, 200, json_pack("{s:s}", "compatibilityLevel", evl_compat_name(level)));
    }
    if (del) {
        rc = evl_registry_config_delete(q->reg, subject, &level);
        if (rc == EVL_ESUBJECT_NOTFOUND)
            return fail(q, 40408,
                        "Subject '%s' does not have subject-level compatibility configured",
                        subject);
        if (rc)
            return fail_rc(q, rc, subject, NULL);
        return reply(q, 200, json_pack("{s:s}", "compatibilityLevel", evl_compat_name(level)));
    }
    if (!put)
        return bad_method(q);
    int status = 0;
    json_t *j = body_object(q, &status);
    if (!j)
        return status;
    json_t *c = json_object_get(j, "compatibility");
    if (!c)
        c = json_object_get(j, "compatibilityLevel");
    int lv = json_is_string(c) ? evl_compat_parse(json_string_value(c)) : EVL_EINVAL;
    json_decref(j);
    if (lv < 0)
        return fail(q, 42203,
                    "Invalid compatibility level. Valid values are none, backward, forward, "
                    "full, backward_transitive, forward_transitive, and full_transitive");
    rc = evl_registry_config_set(q->reg, subject, (evl_compat_t)lv);
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    return reply(q, 200, json_pack("{s:s}", "compatibility", evl_compat_name((evl_compat_t)lv)));
}

static int mode(rq_t *q)
{
    if (q->nseg > 2)
        return not_found(q);
    const char *subject = q->nseg == 2 ? q->seg[1] : NULL;
    evl_registry_mode_t m;
    int rc;
    if (!strcmp(q->method, "GET")) {
        rc = evl_registry_mode_get(q->reg, subject, !subject || flag(q, "defaultToGlobal"), &m);
        if (rc == EVL_ESUBJECT_NOTFOUND)
            return fail(q, 40409, "Subject '%s' does not have subject-level mode configured",
                        subject);
        if (rc)
            return fail_rc(q, rc, subject, NULL);
        return reply(q, 200, json_pack("{s:s}", "mode", evl_registry_mode_name(m)));
    }
    if (strcmp(q->method, "PUT"))
        return bad_method(q);
    int status = 0;
    json_t *j = body_object(q, &status);
    if (!j)
        return status;
    json_t *v = json_object_get(j, "mode");
    int mv = json_is_string(v) ? evl_registry_mode_parse(json_string_value(v)) : EVL_EINVAL;
    json_decref(j);
    if (mv < 0)
        return fail(q, 42204, "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.");
    rc = evl_registry_mode_set(q->reg, subject, (evl_registry_mode_t)mv);
    if (rc)
        return fail_rc(q, rc, subject, NULL);
    return reply(q, 200, json_pack("{s:s}", "mode", evl_registry_mode_name((evl_registry_mode_t)mv)));
}

/* ---- routing --------------------------------------------------------------------------- */

/* Split path (a copy: decoded in place) into segments and the query into
 * parameters; false when the path cannot name anything (404). */
static bool split(rq_t *q, char *path)
{
    char *query = strchr(path, '?');
    if (query)
        *query++ = 0;
    for (char *save = NULL, *p = query ? strtok_r(query, "&", &save) : NULL;
         p && q->nparam < PARAM_MAX; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        if (eq)
            *eq++ = 0;
        if (!decode(p, true) || (eq && !decode(eq, true)))
            continue; /* a parameter that names nothing we know */
        q->key[q->nparam] = p;
        q->val[q->nparam++] = eq;
    }
    if (path[0] != '/')
        return false;
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = 0; /* "/subjects/" is "/subjects" */
    if (!path[1])
        return true;
    for (char *p = path + 1;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = 0;
        if (!*p || q->nseg == SEG_MAX || !decode(p, false))
            return false;
        q->seg[q->nseg++] = p;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

int evl__sr_rest_handle(evl_registry_t *reg, const char *method, const char *url,
                        const char *ctype, const char *body, size_t len, char **resp_body,
                        const char **resp_type)
{
    rq_t q = {.reg = reg, .method = method, .ctype = ctype, .body = body, .len = len,
              .out = resp_body, .type = resp_type};
    *resp_body = NULL;
    *resp_type = EVL_SR_REST_CTYPE;
    if (!strcmp(method, "HEAD"))
        q.method = "GET"; /* the server sends the headers only */
    char *path = strdup(url ? url : "");
    if (!path)
        return 500;
    int status;
    if (!split(&q, path))
        status = not_found(&q);
    else if ((len || !strcmp(q.method, "POST") || !strcmp(q.method, "PUT")) && !ctype_ok(ctype))
        status = fail(&q, 415, "HTTP 415 Unsupported Media Type");
    else if (q.nseg == 0)
        status = !strcmp(q.method, "GET") ? reply(&q, 200, json_object()) : bad_method(&q);
    else if (!strcmp(q.seg[0], "subjects"))
        status = subjects(&q);
    else if (!strcmp(q.seg[0], "schemas"))
        status = schemas(&q);
    else if (!strcmp(q.seg[0], "compatibility"))
        status = compatibility(&q);
    else if (!strcmp(q.seg[0], "config"))
        status = config(&q);
    else if (!strcmp(q.seg[0], "mode"))
        status = mode(&q);
    else
        status = not_found(&q);
    free(path);
    return status;
}
