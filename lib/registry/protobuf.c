/*
 * protobuf.c - the Protobuf schema format (evl__sr_protobuf): parse a schema
 * given as .proto text or as a base64 FileDescriptorProto (what
 * confluent-kafka-python's ProtobufSerializer registers), with its imports
 * from the references and the well-known google/protobuf/ files built in
 * (Confluent resolves those without a reference too); resolve type names
 * with protobuf's scoping rules; check what protoc checks that matters to
 * us; print the canonical text.
 *
 * Why our own model and codec rather than protobuf-c: protobuf-c's runtime
 * works from message descriptors compiled to C at build time, and a
 * registry's schemas are only known at run time.
 *
 * Canonical text: a normalised .proto printout of the model, the same for
 * the same schema given as text or as a descriptor, and a fixed point of
 * parse+print: syntax, package, imports sorted, known file options sorted,
 * then messages (fields in declaration order with explicit labels for the
 * syntax, oneofs at their first member, reserved, extensions, nested enums,
 * nested messages), enums, services. Named types are printed fully
 * qualified with a leading dot; defaults normalised (numbers re-printed,
 * strings escaped); json_name only when it differs from the default.
 */
#include "protobuf_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

void *evl__pb_push(void *arrp, size_t *n, size_t sz)
{
    void **arr = arrp;
    if (*n >= SIZE_MAX / sz / 2)
        return NULL;
    /* capacity is implied by n: 4, then doubled at each power of two */
    if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
        void *p = realloc(*arr, (*n ? *n * 2 : 4) * sz);
        if (!p)
            return NULL;
        *arr = p;
    }
    char *e = (char *)*arr + *n * sz;
    memset(e, 0, sz);
    (*n)++;
    return e;
}

char *evl__pb_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *evl__pb_json_name(const char *name)
{
    size_t n = strlen(name);
    char *j = malloc(n + 1);
    if (!j)
        return NULL;
    size_t k = 0;
    int up = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '_') {
            up = 1;
            continue;
        }
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = 0;
        j[k++] = c;
    }
    j[k] = 0;
    return j;
}

static const char *const type_kw[] = {
    NULL, "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool",
    "string", "group", NULL, "bytes", "uint32", NULL, "sfixed32", "sfixed64", "sint32",
    "sint64"};

int evl__pb_scalar_type(const char *s, size_t n)
{
    for (int t = 1; t <= PB_SINT64; t++)
        if (type_kw[t] && t != PB_GROUP && strlen(type_kw[t]) == n && memcmp(type_kw[t], s, n) == 0)
            return t;
    return 0;
}

const char *evl__pb_type_keyword(int type)
{
    return type > 0 && type <= PB_SINT64 && type_kw[type] ? type_kw[type] : "?";
}

static void ranges_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void evl__pb_enum_free(evl_pb_enum_t *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->full_name);
    for (size_t i = 0; i < e->nvalues; i++)
        free(e->values[i].name);
    free(e->values);
    free(e->reserved);
    ranges_free(e->reserved_names, e->nreserved_names);
    free(e);
}

void evl__pb_msg_free(evl_pb_msg_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->full_name);
    for (size_t i = 0; i < m->nfields; i++) {
        evl_pb_field_t *f = &m->fields[i];
        free(f->name);
        free(f->type_name);
        free(f->def);
        free(f->json_name);
    }
    free(m->fields);
    ranges_free(m->oneofs, m->noneofs);
    for (size_t i = 0; i < m->nmsgs; i++)
        evl__pb_msg_free(m->msgs[i]);
    free(m->msgs);
    for (size_t i = 0; i < m->nenums; i++)
        evl__pb_enum_free(m->enums[i]);
    free(m->enums);
    free(m->reserved);
    ranges_free(m->reserved_names, m->nreserved_names);
    free(m->ext_ranges);
    free(m);
}

void evl__pb_file_free(evl_pb_file_t *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->package);
    for (size_t i = 0; i < f->nimports; i++)
        free(f->imports[i].path);
    free(f->imports);
    for (size_t i = 0; i < f->noptions; i++) {
        free(f->options[i].name);
        free(f->options[i].value);
    }
    free(f->options);
    for (size_t i = 0; i < f->nmsgs; i++)
        evl__pb_msg_free(f->msgs[i]);
    free(f->msgs);
    for (size_t i = 0; i < f->nenums; i++)
        evl__pb_enum_free(f->enums[i]);
    free(f->enums);
    for (size_t i = 0; i < f->nservices; i++) {
        evl_pb_service_t *s = &f->services[i];
        free(s->name);
        for (size_t k = 0; k < s->nmethods; k++) {
            free(s->methods[k].name);
            free(s->methods[k].input);
            free(s->methods[k].output);
        }
        free(s->methods);
    }
    free(f->services);
    free(f);
}

/* Shortest text that reads back as the same double (or float). */
static char *print_real(double d, int is_float)
{
    char buf[64];
    if (isnan(d))
        return evl__pb_strndup("nan", 3);
    if (isinf(d))
        return d < 0 ? evl__pb_strndup("-inf", 4) : evl__pb_strndup("inf", 3);
    if (d == floor(d) && fabs(d) < 1e15) { /* integral: 1000, not 1e+03 */
        snprintf(buf, sizeof buf, "%.0f", d);
        return evl__pb_strndup(buf, strlen(buf));
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)d : back == d)
            break;
    }
    return evl__pb_strndup(buf, strlen(buf));
}

char *evl__pb_norm_number(int type, const char *s, size_t n)
{
    char buf[80];
    if (n == 0 || n >= sizeof buf || memchr(s, 0, n))
        return NULL;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    if (type == PB_DOUBLE || type == PB_FLOAT) {
        const char *q = buf[0] == '-' ? buf + 1 : buf;
        double d;
        if (strcmp(q, "inf") == 0 || strcmp(q, "infinity") == 0)
            d = INFINITY;
        else if (strcmp(q, "nan") == 0)
            d = NAN;
        else {
            if (!((q[0] >= '0' && q[0] <= '9') || q[0] == '.'))
                return NULL;
            if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
                d = (double)strtoull(q, &end, 16);
            else
                d = strtod(q, &end);
            if (*end)
                return NULL;
        }
        if (buf[0] == '-')
            d = -d;
        if (type == PB_FLOAT && !isinf(d) && !isnan(d) && fabs(d) > 3.4028234663852886e38)
            return NULL;
        return print_real(type == PB_FLOAT ? (double)(float)d : d, type == PB_FLOAT);
    }
    int neg = buf[0] == '-';
    const char *q = neg ? buf + 1 : buf;
    if (!(q[0] >= '0' && q[0] <= '9'))
        return NULL;
    unsigned long long v = strtoull(q, &end, 0);
    if (*end || errno)
        return NULL;
    int is64 = type == PB_INT64 || type == PB_UINT64 || type == PB_FIXED64 ||
               type == PB_SFIXED64 || type == PB_SINT64;
    int uns = type == PB_UINT64 || type == PB_UINT32 || type == PB_FIXED32 || type == PB_FIXED64;
    unsigned long long lim = uns ? (is64 ? UINT64_MAX : UINT32_MAX)
                                 : (unsigned long long)(is64 ? INT64_MAX : INT32_MAX) + neg;
    if ((uns && neg && v) || v > lim)
        return NULL;
    if (neg && v)
        snprintf(buf, sizeof buf, "-%llu", v);
    else
        snprintf(buf, sizeof buf, "%llu", v);
    return evl__pb_strndup(buf, strlen(buf));
}

/* ---- the type table and resolution ---- */

typedef struct tentry {
    const char *full;
    evl_pb_msg_t *msg;
    evl_pb_enum_t *en;
} tentry_t;

typedef struct resolver {
    tentry_t *v;
    size_t n;
    char *err;
    size_t errlen;
    int rc;
} resolver_t;

static void rfail(resolver_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rfail(resolver_t *r, const char *fmt, ...)
{
    if (r->rc)
        return;
    r->rc = EVL_ESCHEMA_INVALID;
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s)
        return NULL;
    if (na) {
        memcpy(s, a, na);
        s[na++] = '.';
    }
    memcpy(s + na, b, nb + 1);
    return s;
}

static const tentry_t *tfind(const resolver_t *r, const char *full)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].full, full) == 0)
            return &r->v[i];
    return NULL;
}

static void tadd(resolver_t *r, const char *full, evl_pb_msg_t *m, evl_pb_enum_t *e)
{
    if (r->rc)
        return;
    if (tfind(r, full))
        return rfail(r, "%s is already defined", full);
    tentry_t *t = evl__pb_push(&r->v, &r->n, sizeof *t);
    if (!t) {
        r->rc = EVL_ENOMEM;
        return;
    }
    t->full = full;
    t->msg = m;
    t->en = e;
}

static void name_enum(resolver_t *r, evl_pb_enum_t *e, const char *scope)
{
    free(e->full_name);
    if (!(e->full_name = join(scope, e->name))) {
        r->rc = EVL_ENOMEM;
        return;
    }
    tadd(r, e->full_name, NULL, e);
}

static void name_msg(resolver_t *r, evl_pb_msg_t *m, const char *scope, int depth, int proto3)
{
    m->proto3 = proto3;
    if (r->rc)
        return;
    if (depth > PB_MAX_DEPTH)
        return rfail(r, "messages nested too deeply");
    free(m->full_name);
    if (!(m->full_name = join(scope, m->name))) {
        r->rc = EVL_ENOMEM;
        return;
    }
    tadd(r, m->full_name, m, NULL);
    for (size_t i = 0; i < m->nenums; i++)
        name_enum(r, m->enums[i], m->full_name);
    for (size_t i = 0; i < m->nmsgs; i++)
        name_msg(r, m->msgs[i], m->full_name, depth + 1, proto3);
}

/* Resolve name from scope (innermost outwards; a leading dot is absolute). */
static const tentry_t *lookup(resolver_t *r, const char *scope, const char *name)
{
    if (name[0] == '.')
        return tfind(r, name + 1);
    size_t sn = strlen(scope), nn = strlen(name);
    char *buf = malloc(sn + nn + 2);
    if (!buf) {
        r->rc = EVL_ENOMEM;
        return NULL;
    }
    const tentry_t *t = NULL;
    for (;;) {
        if (sn) {
            memcpy(buf, scope, sn);
            buf[sn] = '.';
            memcpy(buf + sn + 1, name, nn + 1);
        } else {
            memcpy(buf, name, nn + 1);
        }
        if ((t = tfind(r, buf)) || sn == 0)
            break;
        while (sn > 0 && scope[sn - 1] != '.')
            sn--;
        if (sn)
            sn--;
    }
    free(buf);
    return t;
}

static int in_ranges(const evl_pb_range_t *v, size_t n, int32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (x >= v[i].start && x <= v[i].end)
            return 1;
    return 0;
}

static int packable(int t)
{
    return t != PB_STRING && t != PB_BYTES && t != PB_MESSAGE && t != PB_GROUP;
}

static void check_default(resolver_t *r, const evl_pb_msg_t *m, evl_pb_field_t *f, int proto3)
{
    if (!f->def_set)
        return;
    if (proto3)
        return rfail(r, "%s.%s: default values are not allowed in proto3", m->full_name, f->name);
    if (f->label == PB_L_REPEATED || f->type == PB_MESSAGE || f->is_map)
        return rfail(r, "%s.%s: this field cannot have a default", m->full_name, f->name);
    int is_str = f->type == PB_STRING || f->type == PB_BYTES;
    if (is_str != (f->def_set == 2))
        return rfail(r, "%s.%s: bad default value", m->full_name, f->name);
    if (is_str)
        return;
    char *norm = NULL;
    if (f->type == PB_BOOL) {
        if ((f->def_len == 4 && !memcmp(f->def, "true", 4)) ||
            (f->def_len == 5 && !memcmp(f->def, "false", 5)))
            return;
    } else if (f->type == PB_ENUM) {
        for (size_t i = 0; f->en && i < f->en->nvalues; i++)
            if (strlen(f->en->values[i].name) == f->def_len &&
                !memcmp(f->en->values[i].name, f->def, f->def_len))
                return;
    } else if ((norm = evl__pb_norm_number(f->type, f->def, f->def_len))) {
        free(f->def);
        f->def = norm;
        f->def_len = strlen(norm);
        return;
    }
    rfail(r, "%s.%s: bad default value", m->full_name, f->name);
}

static void check_enum(resolver_t *r, const evl_pb_enum_t *e, int proto3)
{
    if (r->rc)
        return;
    if (e->nvalues == 0)
        return rfail(r, "enum %s has no values", e->full_name);
    if (proto3 && e->values[0].number != 0)
        return rfail(r, "%s: the first value of a proto3 enum must be 0", e->full_name);
    for (size_t i = 0; i < e->nvalues; i++)
        for (size_t k = 0; k < i; k++) {
            if (strcmp(e->values[i].name, e->values[k].name) == 0)
                return rfail(r, "%s: %s is defined twice", e->full_name, e->values[i].name);
            if (!e->allow_alias && e->values[i].number == e->values[k].number)
                return rfail(r, "%s: %s and %s share a number (set allow_alias)", e->full_name,
                             e->values[k].name, e->values[i].name);
        }
}

static void resolve_msg(resolver_t *r, evl_pb_msg_t *m, int proto3)
{
    for (size_t i = 0; i < m->nfields && !r->rc; i++) {
        evl_pb_field_t *f = &m->fields[i];
        if (f->type == PB_NAMED) {
            const tentry_t *t = lookup(r, m->full_name, f->type_name);
            if (r->rc)
                return;
            if (!t)
                return rfail(r, "%s.%s: type %s is not defined", m->full_name, f->name,
                             f->type_name);
            char *full = evl__pb_strndup(t->full, strlen(t->full));
            if (!full) {
                r->rc = EVL_ENOMEM;
                return;
            }
            free(f->type_name);
            f->type_name = full;
            f->type = t->msg ? PB_MESSAGE : PB_ENUM;
            f->msg = t->msg;
            f->en = t->en;
        }
        if (f->is_map && f->oneof >= 0)
            return rfail(r, "%s.%s: a map cannot be in a oneof", m->full_name, f->name);
        if (f->oneof >= 0 && (size_t)f->oneof >= m->noneofs)
            return rfail(r, "%s.%s: bad oneof", m->full_name, f->name);
        if (f->packed == 1 && (f->label != PB_L_REPEATED || !packable(f->type)))
            return rfail(r, "%s.%s: only repeated scalar fields can be packed", m->full_name,
                         f->name);
        if (in_ranges(m->reserved, m->nreserved, f->number))
            return rfail(r, "%s.%s: field number %d is reserved", m->full_name, f->name,
                         (int)f->number);
        if (f->number >= 19000 && f->number <= 19999)
            return rfail(r, "%s.%s: field numbers 19000-19999 are reserved", m->full_name,
                         f->name);
        for (size_t k = 0; k < m->nreserved_names; k++)
            if (strcmp(m->reserved_names[k], f->name) == 0)
                return rfail(r, "%s.%s: the name is reserved", m->full_name, f->name);
        for (size_t k = 0; k < i; k++) {
            if (m->fields[k].number == f->number)
                return rfail(r, "%s: field number %d is used twice", m->full_name,
                             (int)f->number);
            if (strcmp(m->fields[k].name, f->name) == 0)
                return rfail(r, "%s: field %s is defined twice", m->full_name, f->name);
        }
        check_default(r, m, f, proto3);
    }
    for (size_t i = 0; i < m->nenums && !r->rc; i++)
        check_enum(r, m->enums[i], proto3);
    for (size_t i = 0; i < m->nmsgs && !r->rc; i++)
        resolve_msg(r, m->msgs[i], proto3);
}

static void resolve_file(resolver_t *r, evl_pb_file_t *f)
{
    for (size_t i = 0; i < f->nenums && !r->rc; i++)
        check_enum(r, f->enums[i], f->proto3);
    for (size_t i = 0; i < f->nmsgs && !r->rc; i++)
        resolve_msg(r, f->msgs[i], f->proto3);
    for (size_t i = 0; i < f->nservices && !r->rc; i++) {
        evl_pb_service_t *s = &f->services[i];
        for (size_t k = 0; k < s->nmethods && !r->rc; k++) {
            char **io[2] = {&s->methods[k].input, &s->methods[k].output};
            for (int j = 0; j < 2; j++) {
                const tentry_t *t = lookup(r, f->package, *io[j]);
                if (r->rc)
                    return;
                if (!t || !t->msg)
                    return rfail(r, "%s.%s: %s is not a message", s->name, s->methods[k].name,
                                 *io[j]);
                char *full = evl__pb_strndup(t->full, strlen(t->full));
                if (!full) {
                    r->rc = EVL_ENOMEM;
                    return;
                }
                free(*io[j]);
                *io[j] = full;
            }
        }
    }
}

/* ---- well-known imports ---- */

static const struct {
    const char *path, *text;
} wkt[] = {
    {"google/protobuf/timestamp.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message Timestamp { int64 seconds = 1; int32 nanos = 2; }"},
    {"google/protobuf/duration.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message Duration { int64 seconds = 1; int32 nanos = 2; }"},
    {"google/protobuf/any.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message Any { string type_url = 1; bytes value = 2; }"},
    {"google/protobuf/empty.proto",
     "syntax = \"proto3\"; package google.protobuf; message Empty {}"},
    {"google/protobuf/field_mask.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message FieldMask { repeated string paths = 1; }"},
    {"google/protobuf/wrappers.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message DoubleValue { double value = 1; } message FloatValue { float value = 1; }"
     "message Int64Value { int64 value = 1; } message UInt64Value { uint64 value = 1; }"
     "message Int32Value { int32 value = 1; } message UInt32Value { uint32 value = 1; }"
     "message BoolValue { bool value = 1; } message StringValue { string value = 1; }"
     "message BytesValue { bytes value = 1; }"},
    {"google/protobuf/struct.proto",
     "syntax = \"proto3\"; package google.protobuf;"
     "message Struct { map<string, Value> fields = 1; }"
     "message Value { oneof kind { NullValue null_value = 1; double number_value = 2;"
     " string string_value = 3; bool bool_value = 4; Struct struct_value = 5;"
     " ListValue list_value = 6; } }"
     "enum NullValue { NULL_VALUE = 0; }"
     "message ListValue { repeated Value values = 1; }"},
};

static int parse_any(const char *text, size_t len, evl_pb_file_t **out, char *err,
                     size_t errlen)
{
    int rc = evl__pb_parse_desc(text, len, out);
    if (rc <= 0)
        return rc;
    return evl__pb_parse_text(text, len, out, err, errlen);
}

static int have_file(const evl_pb_schema_t *s, const char *path)
{
    for (size_t i = 0; i < s->ndeps; i++)
        if (strcmp(s->deps[i]->name, path) == 0)
            return 1;
    return 0;
}

static int add_dep(evl_pb_schema_t *s, evl_pb_file_t *f)
{
    evl_pb_file_t **slot = evl__pb_push(&s->deps, &s->ndeps, sizeof *slot);
    if (!slot) {
        evl__pb_file_free(f);
        return EVL_ENOMEM;
    }
    *slot = f;
    return 0;
}

/* Every import of f: a dependency already there, or a well-known file. */
static int satisfy_imports(evl_pb_schema_t *s, const evl_pb_file_t *f, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->nimports; i++) {
        const char *path = f->imports[i].path;
        if (have_file(s, path))
            continue;
        size_t k;
        for (k = 0; k < sizeof wkt / sizeof wkt[0]; k++)
            if (strcmp(wkt[k].path, path) == 0)
                break;
        if (k == sizeof wkt / sizeof wkt[0]) {
            if (f->imports[i].kind == 2)
                continue; /* weak: may be absent */
            snprintf(err, errlen, "import \"%s\" is not among the references", path);
            return EVL_ESCHEMA_INVALID;
        }
        evl_pb_file_t *w;
        int rc = evl__pb_parse_text(wkt[k].text, strlen(wkt[k].text), &w, err, errlen);
        if (rc)
            return rc;
        free(w->name);
        if (!(w->name = evl__pb_strndup(path, strlen(path)))) {
            evl__pb_file_free(w);
            return EVL_ENOMEM;
        }
        if ((rc = add_dep(s, w)))
            return rc;
    }
    return 0;
}

static void schema_free(void *p)
{
    evl_pb_schema_t *s = p;
    if (!s)
        return;
    evl__pb_file_free(s->file);
    for (size_t i = 0; i < s->ndeps; i++)
        evl__pb_file_free(s->deps[i]);
    free(s->deps);
    free(s->canon);
    free(s);
}

static int resolve_all(evl_pb_schema_t *s, char *err, size_t errlen)
{
    resolver_t r = {.err = err, .errlen = errlen};
    for (size_t pass = 0; pass <= s->ndeps; pass++) {
        evl_pb_file_t *f = pass < s->ndeps ? s->deps[pass] : s->file;
        for (size_t i = 0; i < f->nenums; i++)
            name_enum(&r, f->enums[i], f->package);
        for (size_t i = 0; i < f->nmsgs; i++)
            name_msg(&r, f->msgs[i], f->package, 0, f->proto3);
    }
    for (size_t pass = 0; pass <= s->ndeps && !r.rc; pass++)
        resolve_file(&r, pass < s->ndeps ? s->deps[pass] : s->file);
    free(r.v);
    return r.rc;
}

static int pb_parse(const char *text, size_t len, const evl_sr_ref_text_t *refs, size_t nrefs,
                    void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = 0;
    evl_pb_schema_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < nrefs && !rc; i++) {
        if (refs[i].type != EVL_SCHEMA_PROTOBUF || !refs[i].name || !refs[i].schema)
            continue;
        evl_pb_file_t *f;
        char sub[EVL_SR_ERRLEN];
        rc = parse_any(refs[i].schema, strlen(refs[i].schema), &f, sub, sizeof sub);
        if (rc) {
            if (rc == EVL_ESCHEMA_INVALID)
                snprintf(err, errlen, "reference %.100s: %s", refs[i].name, sub);
            break;
        }
        free(f->name);
        if (!(f->name = evl__pb_strndup(refs[i].name, strlen(refs[i].name)))) {
            evl__pb_file_free(f);
            rc = EVL_ENOMEM;
            break;
        }
        rc = add_dep(s, f);
    }
    if (!rc)
        rc = parse_any(text, len, &s->file, err, errlen);
    for (size_t i = 0; i < s->ndeps && !rc; i++)
        rc = satisfy_imports(s, s->deps[i], err, errlen);
    if (!rc)
        rc = satisfy_imports(s, s->file, err, errlen);
    if (!rc)
        rc = resolve_all(s, err, errlen);
    if (!rc && !(s->canon = evl__pb_print(s->file)))
        rc = EVL_ENOMEM;
    if (rc) {
        schema_free(s);
        if (rc == EVL_ENOMEM && errlen)
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = s;
    return 0;
}

static char *pb_canonical(const void *schema)
{
    const evl_pb_schema_t *s = schema;
    return evl__pb_strndup(s->canon, strlen(s->canon));
}

static const char *pb_record_name(const void *schema)
{
    const evl_pb_schema_t *s = schema;
    return s->file->nmsgs ? s->file->msgs[0]->full_name : NULL;
}

static evl_pb_msg_t *find_msg_in(evl_pb_msg_t *m, const char *full, int depth)
{
    if (strcmp(m->full_name, full) == 0)
        return m;
    size_t n = strlen(m->full_name);
    if (depth > PB_MAX_DEPTH || strncmp(m->full_name, full, n) != 0 || full[n] != '.')
        return NULL;
    for (size_t i = 0; i < m->nmsgs; i++) {
        evl_pb_msg_t *r = find_msg_in(m->msgs[i], full, depth + 1);
        if (r)
            return r;
    }
    return NULL;
}

static evl_pb_enum_t *find_enum_in(evl_pb_msg_t *m, const char *full, int depth)
{
    size_t n = strlen(m->full_name);
    if (depth > PB_MAX_DEPTH || strncmp(m->full_name, full, n) != 0 || full[n] != '.')
        return NULL;
    for (size_t i = 0; i < m->nenums; i++)
        if (strcmp(m->enums[i]->full_name, full) == 0)
            return m->enums[i];
    for (size_t i = 0; i < m->nmsgs; i++) {
        evl_pb_enum_t *r = find_enum_in(m->msgs[i], full, depth + 1);
        if (r)
            return r;
    }
    return NULL;
}

evl_pb_msg_t *evl__pb_find_msg(const evl_pb_schema_t *s, const char *full)
{
    for (size_t pass = 0; pass <= s->ndeps; pass++) {
        const evl_pb_file_t *f = pass == 0 ? s->file : s->deps[pass - 1];
        for (size_t i = 0; i < f->nmsgs; i++) {
            evl_pb_msg_t *m = find_msg_in(f->msgs[i], full, 0);
            if (m)
                return m;
        }
    }
    return NULL;
}

evl_pb_enum_t *evl__pb_find_enum(const evl_pb_schema_t *s, const char *full)
{
    for (size_t pass = 0; pass <= s->ndeps; pass++) {
        const evl_pb_file_t *f = pass == 0 ? s->file : s->deps[pass - 1];
        for (size_t i = 0; i < f->nenums; i++)
            if (strcmp(f->enums[i]->full_name, full) == 0)
                return f->enums[i];
        for (size_t i = 0; i < f->nmsgs; i++) {
            evl_pb_enum_t *e = find_enum_in(f->msgs[i], full, 0);
            if (e)
                return e;
        }
    }
    return NULL;
}

const evl_sr_format_t evl__sr_protobuf = {
    .name = "PROTOBUF",
    .parse = pb_parse,
    .free = schema_free,
    .canonical = pb_canonical,
    .record_name = pb_record_name,
    .can_read = evl__pb_can_read,
    .encode = evl__pb_encode,
    .decode = evl__pb_decode,
};
