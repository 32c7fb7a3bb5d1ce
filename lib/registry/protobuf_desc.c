/*
 * protobuf_desc.c - a base64 serialized google.protobuf.FileDescriptorProto
 * (what confluent-kafka-python's ProtobufSerializer registers as the
 * "schema" string) decoded into the model of protobuf_internal.h, so that
 * the same schema as text or as descriptor prints the same canonical text.
 *
 * The bytes are read with our own wire reader (protobuf-c would need
 * descriptor.proto compiled in, and gives nothing we need beyond it). A
 * descriptor is taken as such only when everything in it is well formed:
 * base64, wire types, lengths, names that are identifiers; anything else
 * returns 1 and the caller parses the text as .proto instead. Map fields
 * arrive as nested XxxEntry messages with map_entry = true: they become
 * map fields again and the entry messages disappear; the synthetic oneofs
 * of proto3 `optional` fields disappear as well. Nesting is capped at
 * PB_MAX_DEPTH.
 */
#include "protobuf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd_t;

#define BAD 1 /* not a (usable) descriptor */

static int varint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int s = 0; s < 64; s += 7) {
        if (r->i >= r->n)
            return BAD;
        uint8_t b = r->p[r->i++];
        x |= (uint64_t)(b & 0x7F) << s;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return BAD;
}

/* The next field's number and wire type; 1 at the end. */
static int tag(rd_t *r, uint32_t *num, int *wt)
{
    uint64_t t;
    if (varint(r, &t) || (t >> 3) == 0 || (t >> 3) > PB_FIELD_MAX)
        return BAD;
    *num = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return 0;
}

static int sub(rd_t *r, rd_t *s)
{
    uint64_t len;
    if (varint(r, &len) || len > r->n - r->i)
        return BAD;
    s->p = r->p + r->i;
    s->n = (size_t)len;
    s->i = 0;
    r->i += (size_t)len;
    return 0;
}

static int skip(rd_t *r, int wt)
{
    uint64_t v;
    rd_t s;
    switch (wt) {
    case 0: return varint(r, &v);
    case 1: if (r->n - r->i < 8) return BAD; r->i += 8; return 0;
    case 2: return sub(r, &s);
    case 5: if (r->n - r->i < 4) return BAD; r->i += 4; return 0;
    default: return BAD; /* groups: not in descriptors we accept */
    }
}

static int is_ident(const uint8_t *s, size_t n, int dotted, int lead_dot)
{
    size_t i = 0;
    if (lead_dot && n && s[0] == '.')
        i = 1;
    int start = 1;
    if (i == n)
        return 0;
    for (; i < n; i++) {
        uint8_t c = s[i];
        if (c == '.' && dotted && !start) {
            start = 1;
            continue;
        }
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(alpha || (!start && c >= '0' && c <= '9')))
            return 0;
        start = 0;
    }
    return !start;
}

/* A length-delimited string field, malloc'd; kind: 0 any (no NUL),
 * 1 identifier, 2 dotted, 3 type name. */
static int str(rd_t *r, int wt, char **out, int kind)
{
    rd_t s;
    if (wt != 2 || sub(r, &s))
        return BAD;
    if (memchr(s.p, 0, s.n))
        return BAD;
    if (kind && !is_ident(s.p, s.n, kind >= 2, kind == 3))
        return BAD;
    free(*out);
    *out = evl__pb_strndup((const char *)s.p, s.n);
    return *out ? 0 : EVL_ENOMEM;
}

static int num(rd_t *r, int wt, uint64_t *v)
{
    return wt != 0 ? BAD : varint(r, v);
}

/* Read a {start=1, end=2} range; excl: end is exclusive. */
static int range(rd_t *r, int wt, evl_pb_range_t **v, size_t *n, int excl)
{
    rd_t s;
    if (wt != 2 || sub(r, &s))
        return BAD;
    int64_t a = 0, b = 0;
    while (s.i < s.n) {
        uint32_t fn;
        int w;
        uint64_t x;
        if (tag(&s, &fn, &w))
            return BAD;
        if (fn == 1 || fn == 2) {
            if (num(&s, w, &x))
                return BAD;
            if (fn == 1)
                a = (int32_t)x;
            else
                b = (int32_t)x;
        } else if (skip(&s, w)) {
            return BAD;
        }
    }
    if (excl)
        b--;
    if (b < a)
        return BAD;
    evl_pb_range_t *e = evl__pb_push(v, n, sizeof *e);
    if (!e)
        return EVL_ENOMEM;
    e->start = (int32_t)a;
    e->end = (int32_t)b;
    return 0;
}

static int unescape(evl_pb_field_t *f)
{
    /* bytes defaults are C-escaped in descriptors (protoc's CEscape) */
    size_t k = 0;
    char *s = f->def;
    for (size_t i = 0; i < f->def_len; i++) {
        if (s[i] != '\\') {
            s[k++] = s[i];
            continue;
        }
        if (++i >= f->def_len)
            return BAD;
        char c = s[i];
        if (c >= '0' && c <= '7') {
            int v = 0;
            for (int d = 0; d < 3 && i < f->def_len && s[i] >= '0' && s[i] <= '7'; d++, i++)
                v = v * 8 + (s[i] - '0');
            i--;
            s[k++] = (char)(v & 0xFF);
            continue;
        }
        switch (c) {
        case 'n': s[k++] = '\n'; break;
        case 'r': s[k++] = '\r'; break;
        case 't': s[k++] = '\t'; break;
        case '"': case '\'': case '\\': s[k++] = c; break;
        default: return BAD;
        }
    }
    f->def_len = k;
    return 0;
}

static int field(rd_t *r, int wt, evl_pb_msg_t *m, int proto3)
{
    rd_t s;
    if (wt != 2 || sub(r, &s))
        return BAD;
    evl_pb_field_t *f = evl__pb_push(&m->fields, &m->nfields, sizeof *f);
    if (!f)
        return EVL_ENOMEM;
    f->oneof = -1;
    f->packed = -1;
    int rc = 0, has_num = 0, extendee = 0;
    uint64_t label = 1, type = 0, v = 0;
    while (!rc && s.i < s.n) {
        uint32_t fn;
        int w;
        if (tag(&s, &fn, &w))
            return BAD;
        switch (fn) {
        case 1: rc = str(&s, w, &f->name, 1); break;
        case 2: extendee = 1; rc = skip(&s, w); break;
        case 3: rc = num(&s, w, &v); f->number = (int32_t)v; has_num = 1;
            if (!rc && (v < 1 || v > PB_FIELD_MAX)) rc = BAD;
            break;
        case 4: rc = num(&s, w, &label); break;
        case 5: rc = num(&s, w, &type); break;
        case 6: rc = str(&s, w, &f->type_name, 3); break;
        case 7: {
            rd_t d;
            if (w != 2 || sub(&s, &d))
                return BAD;
            free(f->def);
            if (!(f->def = evl__pb_strndup((const char *)d.p, d.n)))
                return EVL_ENOMEM;
            f->def_len = d.n;
            f->def_set = 1;
            break;
        }
        case 8: {
            rd_t o;
            if (w != 2 || sub(&s, &o))
                return BAD;
            while (!rc && o.i < o.n) {
                uint32_t on;
                int ow;
                if (tag(&o, &on, &ow))
                    return BAD;
                if (on == 2 || on == 3) {
                    rc = num(&o, ow, &v);
                    if (on == 2)
                        f->packed = v != 0;
                    else
                        f->deprecated = v != 0;
                } else {
                    rc = skip(&o, ow);
                }
            }
            break;
        }
        case 9: rc = num(&s, w, &v); f->oneof = (int)(v > 100000 ? 100000 : v); break;
        case 10: rc = str(&s, w, &f->json_name, 0); break;
        case 17: rc = num(&s, w, &v); f->proto3_optional = v != 0; break;
        default: rc = skip(&s, w); break;
        }
    }
    if (rc)
        return rc;
    if (extendee || !f->name || !has_num || label < 1 || label > 3 || type < 1 || type > 18 ||
        type == PB_GROUP)
        return BAD;
    if (type == PB_MESSAGE || type == PB_ENUM) {
        if (!f->type_name)
            return BAD;
        f->type = PB_NAMED;
    } else {
        f->type = (int)type;
        free(f->type_name);
        f->type_name = NULL;
    }
    f->label = (int)label;
    if (proto3 && label == PB_L_OPTIONAL)
        f->label = PB_L_NONE;
    if (f->def_set) {
        if (type == PB_STRING || type == PB_BYTES) {
            f->def_set = 2;
            if (type == PB_BYTES && unescape(f))
                return BAD;
        }
    }
    return 0;
}

static int enum_(rd_t *r, int wt, evl_pb_enum_t ***v, size_t *n)
{
    rd_t s;
    if (wt != 2 || sub(r, &s))
        return BAD;
    evl_pb_enum_t *e = calloc(1, sizeof *e);
    evl_pb_enum_t **slot = e ? evl__pb_push(v, n, sizeof *slot) : NULL;
    if (!slot) {
        free(e);
        return EVL_ENOMEM;
    }
    *slot = e;
    int rc = 0;
    uint64_t x;
    while (!rc && s.i < s.n) {
        uint32_t fn;
        int w;
        if (tag(&s, &fn, &w))
            return BAD;
        if (fn == 1) {
            rc = str(&s, w, &e->name, 1);
        } else if (fn == 2) {
            rd_t vs;
            if (w != 2 || sub(&s, &vs))
                return BAD;
            evl_pb_enum_value_t *ev = evl__pb_push(&e->values, &e->nvalues, sizeof *ev);
            if (!ev)
                return EVL_ENOMEM;
            while (!rc && vs.i < vs.n) {
                uint32_t vn;
                int vw;
                if (tag(&vs, &vn, &vw))
                    return BAD;
                if (vn == 1)
                    rc = str(&vs, vw, &ev->name, 1);
                else if (vn == 2 && !(rc = num(&vs, vw, &x)))
                    ev->number = (int32_t)x;
                else if (vn != 2)
                    rc = skip(&vs, vw);
            }
            if (!rc && !ev->name)
                return BAD;
        } else if (fn == 3) {
            rd_t o;
            if (w != 2 || sub(&s, &o))
                return BAD;
            while (!rc && o.i < o.n) {
                uint32_t on;
                int ow;
                if (tag(&o, &on, &ow))
                    return BAD;
                if (on == 2 && !(rc = num(&o, ow, &x)))
                    e->allow_alias = x != 0;
                else if (on != 2)
                    rc = skip(&o, ow);
            }
        } else if (fn == 4) {
            rc = range(&s, w, &e->reserved, &e->nreserved, 0);
        } else if (fn == 5) {
            char **nm = evl__pb_push(&e->reserved_names, &e->nreserved_names, sizeof *nm);
            if (!nm)
                return EVL_ENOMEM;
            rc = str(&s, w, nm, 0);
        } else {
            rc = skip(&s, w);
        }
    }
    return rc ? rc : e->name ? 0 : BAD;
}

/* Map entries back to map fields; synthetic oneofs away. */
static int fix_message(evl_pb_msg_t *m)
{
    for (size_t i = 0; i < m->nfields; i++) {
        evl_pb_field_t *f = &m->fields[i];
        if (f->type != PB_NAMED || f->label != PB_L_REPEATED)
            continue;
        const char *last = strrchr(f->type_name, '.');
        last = last ? last + 1 : f->type_name;
        for (size_t k = 0; k < m->nmsgs; k++) {
            evl_pb_msg_t *e = m->msgs[k];
            if (!e->map_entry || strcmp(e->name, last) != 0)
                continue;
            if (e->nfields != 2 || e->fields[0].number != 1 || e->fields[1].number != 2 ||
                e->fields[0].type == PB_NAMED || e->fields[0].type == PB_DOUBLE ||
                e->fields[0].type == PB_FLOAT || e->fields[0].type == PB_BYTES)
                return BAD;
            f->is_map = 1;
            f->label = PB_L_NONE;
            f->key_type = e->fields[0].type;
            f->type = e->fields[1].type;
            free(f->type_name);
            f->type_name = e->fields[1].type_name;
            e->fields[1].type_name = NULL;
            evl__pb_msg_free(e);
            memmove(&m->msgs[k], &m->msgs[k + 1], (m->nmsgs - k - 1) * sizeof *m->msgs);
            m->nmsgs--;
            break;
        }
    }
    for (size_t i = 0; i < m->nmsgs; i++)
        if (m->msgs[i]->map_entry)
            return BAD; /* an entry no field uses */
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].oneof >= 0 && (size_t)m->fields[i].oneof >= m->noneofs)
            return BAD;
    for (size_t o = m->noneofs; o-- > 0;) {
        int synthetic = 1, members = 0;
        for (size_t i = 0; i < m->nfields; i++)
            if (m->fields[i].oneof == (int)o) {
                members++;
                synthetic &= m->fields[i].proto3_optional;
            }
        if (!members)
            return BAD;
        if (!synthetic)
            continue;
        free(m->oneofs[o]);
        memmove(&m->oneofs[o], &m->oneofs[o + 1], (m->noneofs - o - 1) * sizeof *m->oneofs);
        m->noneofs--;
        for (size_t i = 0; i < m->nfields; i++) {
            if (m->fields[i].oneof == (int)o)
                m->fields[i].oneof = -1;
            else if (m->fields[i].oneof > (int)o)
                m->fields[i].oneof--;
        }
    }
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].oneof >= 0)
            m->fields[i].label = PB_L_NONE;
    return 0;
}

static int message(rd_t *r, int wt, evl_pb_msg_t ***v, size_t *n, int proto3, int depth)
{
    rd_t s;
    if (depth > PB_MAX_DEPTH || wt != 2 || sub(r, &s))
        return BAD;
    evl_pb_msg_t *m = calloc(1, sizeof *m);
    evl_pb_msg_t **slot = m ? evl__pb_push(v, n, sizeof *slot) : NULL;
    if (!slot) {
        free(m);
        return EVL_ENOMEM;
    }
    *slot = m;
    int rc = 0;
    uint64_t x;
    while (!rc && s.i < s.n) {
        uint32_t fn;
        int w;
        if (tag(&s, &fn, &w))
            return BAD;
        switch (fn) {
        case 1: rc = str(&s, w, &m->name, 1); break;
        case 2: rc = field(&s, w, m, proto3); break;
        case 3: rc = message(&s, w, &m->msgs, &m->nmsgs, proto3, depth + 1); break;
        case 4: rc = enum_(&s, w, &m->enums, &m->nenums); break;
        case 5: rc = range(&s, w, &m->ext_ranges, &m->next_ranges, 1); break;
        case 7: {
            rd_t o;
            if (w != 2 || sub(&s, &o))
                return BAD;
            while (!rc && o.i < o.n) {
                uint32_t on;
                int ow;
                if (tag(&o, &on, &ow))
                    return BAD;
                if (on == 7 && !(rc = num(&o, ow, &x)))
                    m->map_entry = x != 0;
                else if (on != 7)
                    rc = skip(&o, ow);
            }
            break;
        }
        case 8: {
            rd_t o;
            if (w != 2 || sub(&s, &o))
                return BAD;
            char **nm = evl__pb_push(&m->oneofs, &m->noneofs, sizeof *nm);
            if (!nm)
                return EVL_ENOMEM;
            while (!rc && o.i < o.n) {
                uint32_t on;
                int ow;
                if (tag(&o, &on, &ow))
                    return BAD;
                rc = on == 1 ? str(&o, ow, nm, 1) : skip(&o, ow);
            }
            if (!rc && !*nm)
                return BAD;
            break;
        }
        case 9: rc = range(&s, w, &m->reserved, &m->nreserved, 1); break;
        case 10: {
            char **nm = evl__pb_push(&m->reserved_names, &m->nreserved_names, sizeof *nm);
            if (!nm)
                return EVL_ENOMEM;
            rc = str(&s, w, nm, 0);
            break;
        }
        default: rc = skip(&s, w); break; /* 6 extension: skipped */
        }
    }
    if (rc)
        return rc;
    if (!m->name)
        return BAD;
    return fix_message(m);
}

static int service(rd_t *r, int wt, evl_pb_file_t *f)
{
    rd_t s;
    if (wt != 2 || sub(r, &s))
        return BAD;
    evl_pb_service_t *sv = evl__pb_push(&f->services, &f->nservices, sizeof *sv);
    if (!sv)
        return EVL_ENOMEM;
    int rc = 0;
    uint64_t x;
    while (!rc && s.i < s.n) {
        uint32_t fn;
        int w;
        if (tag(&s, &fn, &w))
            return BAD;
        if (fn == 1) {
            rc = str(&s, w, &sv->name, 1);
        } else if (fn == 2) {
            rd_t ms;
            if (w != 2 || sub(&s, &ms))
                return BAD;
            evl_pb_method_t *mt = evl__pb_push(&sv->methods, &sv->nmethods, sizeof *mt);
            if (!mt)
                return EVL_ENOMEM;
            while (!rc && ms.i < ms.n) {
                uint32_t mn;
                int mw;
                if (tag(&ms, &mn, &mw))
                    return BAD;
                switch (mn) {
                case 1: rc = str(&ms, mw, &mt->name, 1); break;
                case 2: rc = str(&ms, mw, &mt->input, 3); break;
                case 3: rc = str(&ms, mw, &mt->output, 3); break;
                case 5: if (!(rc = num(&ms, mw, &x))) mt->client_streaming = x != 0; break;
                case 6: if (!(rc = num(&ms, mw, &x))) mt->server_streaming = x != 0; break;
                default: rc = skip(&ms, mw); break;
                }
            }
            if (!rc && (!mt->name || !mt->input || !mt->output))
                return BAD;
        } else {
            rc = skip(&s, w);
        }
    }
    return rc ? rc : sv->name ? 0 : BAD;
}

static const struct {
    uint32_t num;
    const char *name;
    char kind; /* s string, b bool, e optimize_for */
} file_opts[] = {
    {1, "java_package", 's'}, {8, "java_outer_classname", 's'}, {9, "optimize_for", 'e'},
    {10, "java_multiple_files", 'b'}, {11, "go_package", 's'}, {16, "cc_generic_services", 'b'},
    {17, "java_generic_services", 'b'}, {18, "py_generic_services", 'b'},
    {20, "java_generate_equals_and_hash", 'b'}, {23, "deprecated", 'b'},
    {27, "java_string_check_utf8", 'b'}, {31, "cc_enable_arenas", 'b'},
    {36, "objc_class_prefix", 's'}, {37, "csharp_namespace", 's'}, {39, "swift_prefix", 's'},
    {40, "php_class_prefix", 's'}, {41, "php_namespace", 's'},
    {44, "php_metadata_namespace", 's'}, {45, "ruby_package", 's'}};

static int file_options(rd_t *r, int wt, evl_pb_file_t *f)
{
    rd_t o;
    if (wt != 2 || sub(r, &o))
        return BAD;
    int rc = 0;
    while (!rc && o.i < o.n) {
        uint32_t on;
        int ow;
        if (tag(&o, &on, &ow))
            return BAD;
        size_t k;
        for (k = 0; k < sizeof file_opts / sizeof file_opts[0]; k++)
            if (file_opts[k].num == on)
                break;
        if (k == sizeof file_opts / sizeof file_opts[0]) {
            rc = skip(&o, ow);
            continue;
        }
        char *val = NULL;
        uint64_t x = 0;
        if (file_opts[k].kind == 's') {
            rc = str(&o, ow, &val, 0);
        } else if (!(rc = num(&o, ow, &x))) {
            const char *t = file_opts[k].kind == 'b' ? (x ? "true" : "false")
                            : x == 2 ? "CODE_SIZE" : x == 3 ? "LITE_RUNTIME" : "SPEED";
            if (!(val = evl__pb_strndup(t, strlen(t))))
                rc = EVL_ENOMEM;
        }
        if (rc) {
            free(val);
            return rc;
        }
        evl_pb_option_t *opt = evl__pb_push(&f->options, &f->noptions, sizeof *opt);
        if (!opt || !(opt->name = evl__pb_strndup(file_opts[k].name, strlen(file_opts[k].name)))) {
            free(val);
            return EVL_ENOMEM;
        }
        opt->value = val;
        opt->is_string = file_opts[k].kind == 's';
    }
    return rc;
}

static int mark_imports(rd_t *r, int wt, evl_pb_file_t *f, int kind)
{
    uint64_t x;
    rd_t s;
    if (wt == 0) {
        if (varint(r, &x) || x >= f->nimports)
            return BAD;
        f->imports[x].kind = kind;
        return 0;
    }
    if (wt != 2 || sub(r, &s))
        return BAD;
    while (s.i < s.n) {
        if (varint(&s, &x) || x >= f->nimports)
            return BAD;
        f->imports[x].kind = kind;
    }
    return 0;
}

int evl__pb_parse_desc_bytes(const uint8_t *p, size_t n, evl_pb_file_t **out)
{
    *out = NULL;
    evl_pb_file_t *f = calloc(1, sizeof *f);
    if (!f)
        return EVL_ENOMEM;
    rd_t r = {p, n, 0};
    int rc = 0;
    char *syntax = NULL;
    /* syntax first: fields are read with it (proto3 labels) */
    while (!rc && r.i < r.n) {
        uint32_t fn;
        int w;
        if (tag(&r, &fn, &w))
            rc = BAD;
        else if (fn == 12)
            rc = str(&r, w, &syntax, 0);
        else
            rc = skip(&r, w);
    }
    if (!rc && syntax && strcmp(syntax, "proto3") == 0)
        f->proto3 = 1;
    else if (!rc && syntax && *syntax && strcmp(syntax, "proto2") != 0)
        rc = BAD;
    free(syntax);
    r.i = 0;
    while (!rc && r.i < r.n) {
        uint32_t fn;
        int w;
        if (tag(&r, &fn, &w)) {
            rc = BAD;
            break;
        }
        switch (fn) {
        case 2: rc = str(&r, w, &f->package, 2); break;
        case 3: {
            evl_pb_import_t *im = evl__pb_push(&f->imports, &f->nimports, sizeof *im);
            rc = im ? str(&r, w, &im->path, 0) : EVL_ENOMEM;
            break;
        }
        case 4: rc = message(&r, w, &f->msgs, &f->nmsgs, f->proto3, 0); break;
        case 5: rc = enum_(&r, w, &f->enums, &f->nenums); break;
        case 6: rc = service(&r, w, f); break;
        case 8: rc = file_options(&r, w, f); break;
        default: rc = skip(&r, w); break;
        }
    }
    /* public (10) and weak (11) dependencies index the dependency list */
    r.i = 0;
    while (!rc && r.i < r.n) {
        uint32_t fn;
        int w;
        if (tag(&r, &fn, &w))
            rc = BAD;
        else if (fn == 10 || fn == 11)
            rc = mark_imports(&r, w, f, fn == 10 ? 1 : 2);
        else
            rc = skip(&r, w);
    }
    if (!rc && !f->package && !(f->package = evl__pb_strndup("", 0)))
        rc = EVL_ENOMEM;
    if (!rc && !(f->name = evl__pb_strndup("", 0)))
        rc = EVL_ENOMEM;
    if (rc) {
        evl__pb_file_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int evl__pb_parse_desc(const char *text, size_t len, evl_pb_file_t **out)
{
    *out = NULL;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (len == 0)
        return BAD; /* empty text: let the text parser say so */
    uint8_t *bin = malloc(len / 4 * 3 + 3);
    if (!bin)
        return EVL_ENOMEM;
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(bin);
            return BAD;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bin[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6 || (pad && (len % 4) != 0)) {
        free(bin);
        return BAD;
    }
    int rc = evl__pb_parse_desc_bytes(bin, n, out);
    free(bin);
    return rc;
}
