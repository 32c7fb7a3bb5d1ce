/*
 * protobuf_parse.c - a .proto text parser (proto2 and proto3) into the
 * descriptor model of protobuf_internal.h.
 *
 * Hand-written recursive descent, as protoc's own parser is: a schema
 * arrives at run time, so there is no generated code to lean on. What the
 * model keeps: syntax, package, imports, the FileOptions we know (others,
 * custom `(x).y` ones included, are parsed and dropped: a descriptor would
 * carry them as extensions we do not interpret), messages, fields with
 * their options default / json_name / packed / deprecated, maps, oneofs,
 * enums (allow_alias), reserved ranges and names, extension ranges, and
 * services. `extend` blocks and aggregate option values are skipped
 * cleanly (balanced braces). Groups and editions are refused. Errors say
 * "line:col: what". Nesting is capped at PB_MAX_DEPTH so that hostile
 * text cannot exhaust the stack.
 */
#define EVL_PB_PARSER
#include "protobuf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An option value: the constant's text in *val (strings decoded), its kind. */
typedef struct cval {
    char *s;
    size_t n;
    int kind; /* T_IDENT, T_INT, T_FLOAT, T_STR, or T_SYM for an aggregate */
} cval_t;

static void constant(parser_t *p, cval_t *v)
{
    memset(v, 0, sizeof *v);
    if (is_sym(p, '{')) {
        v->kind = T_SYM;
        skip_block(p);
        return;
    }
    char sign = 0;
    if (is_sym(p, '-') || is_sym(p, '+')) {
        sign = p->sym;
        next(p);
    }
    if (p->t == T_STR && !sign) {
        v->kind = T_STR;
        v->n = p->str.n;
        v->s = malloc(v->n + 1);
        if (!v->s)
            return nomem(p);
        if (v->n)
            memcpy(v->s, p->str.p, v->n);
        v->s[v->n] = 0;
        next(p);
        return;
    }
    if (p->t == T_IDENT && !sign) {
        v->kind = T_IDENT;
        v->s = full_ident(p, 0, "a value");
        v->n = v->s ? strlen(v->s) : 0;
        return;
    }
    if (p->t == T_INT || p->t == T_FLOAT || p->t == T_IDENT) {
        v->kind = p->t == T_IDENT ? T_FLOAT : p->t; /* -inf, -nan */
        v->s = malloc(p->tn + 2);
        if (!v->s)
            return nomem(p);
        size_t k = 0;
        if (sign == '-')
            v->s[k++] = '-';
        memcpy(v->s + k, p->s + p->ts, p->tn);
        v->n = k + p->tn;
        v->s[v->n] = 0;
        next(p);
        return;
    }
    fail(p, "expected a value");
}

static const char *const file_opts[] = {
    "java_package", "java_outer_classname", "java_multiple_files", "java_generate_equals_and_hash",
    "java_string_check_utf8", "optimize_for", "go_package", "cc_generic_services",
    "java_generic_services", "py_generic_services", "deprecated", "cc_enable_arenas",
    "objc_class_prefix", "csharp_namespace", "swift_prefix", "php_class_prefix",
    "php_namespace", "php_metadata_namespace", "ruby_package", NULL};

/* option NAME = VALUE ;  -- kept when file is non-NULL and the name known;
 * allow_alias reported through *alias. */
static void option_stmt(parser_t *p, evl_pb_file_t *file, int *alias)
{
    next(p); /* 'option' */
    char *name = option_name(p);
    if (!name)
        return;
    cval_t v;
    if (expect_sym(p, '=') == 0)
        constant(p, &v);
    else
        memset(&v, 0, sizeof v);
    if (!p->rc)
        expect_sym(p, ';');
    if (!p->rc && alias && strcmp(name, "allow_alias") == 0 && v.kind == T_IDENT)
        *alias = strcmp(v.s, "true") == 0;
    if (!p->rc && file) {
        for (int k = 0; file_opts[k]; k++) {
            if (strcmp(file_opts[k], name) == 0 && v.kind != T_SYM) {
                evl_pb_option_t *o = evl__pb_push(&file->options, &file->noptions, sizeof *o);
                if (!o) {
                    nomem(p);
                    break;
                }
                o->name = name;
                o->value = v.s;
                o->is_string = v.kind == T_STR;
                if (o->value && v.kind == T_STR && memchr(o->value, 0, v.n))
                    o->value[strlen(o->value)] = 0; /* keep up to a NUL */
                name = NULL;
                v.s = NULL;
                break;
            }
        }
    }
    free(name);
    free(v.s);
}

/* reserved / extensions ranges; names for reserved. */
static void ranges(parser_t *p, int64_t maxv, evl_pb_range_t **r, size_t *nr, char ***names,
                   size_t *nnames)
{
    next(p); /* keyword */
    if (p->t == T_STR && names) {
        for (;;) {
            if (p->t != T_STR)
                return fail(p, "expected a reserved name");
            char **slot = evl__pb_push(names, nnames, sizeof *slot);
            if (!slot || !(*slot = evl__pb_strndup((char *)p->str.p, p->str.n)))
                return nomem(p);
            next(p);
            if (!is_sym(p, ','))
                break;
            next(p);
        }
        expect_sym(p, ';');
        return;
    }
    for (;;) {
        int64_t a, b;
        int64_t lo = maxv == INT32_MAX ? INT32_MIN : 1;
        if (int_value(p, lo, maxv, &a))
            return;
        b = a;
        if (is_kw(p, "to")) {
            next(p);
            if (is_kw(p, "max")) {
                b = maxv;
                next(p);
            } else if (int_value(p, lo, maxv, &b)) {
                return;
            }
            if (b < a)
                return fail(p, "empty range");
        }
        evl_pb_range_t *x = evl__pb_push(r, nr, sizeof *x);
        if (!x)
            return nomem(p);
        x->start = (int32_t)a;
        x->end = (int32_t)b;
        if (!is_sym(p, ','))
            break;
        next(p);
    }
    if (is_sym(p, '[')) { /* extension range options */
        while (!is_sym(p, ']') && p->t != T_EOF)
            next(p);
        expect_sym(p, ']');
    }
    expect_sym(p, ';');
}

static void enum_body(parser_t *p, evl_pb_enum_t *e)
{
    if (expect_sym(p, '{'))
        return;
    while (!p->rc && !is_sym(p, '}')) {
        if (p->t == T_EOF)
            return fail(p, "expected '}'");
        if (is_sym(p, ';')) {
            next(p);
        } else if (is_kw(p, "option")) {
            option_stmt(p, NULL, &e->allow_alias);
        } else if (is_kw(p, "reserved")) {
            ranges(p, INT32_MAX, &e->reserved, &e->nreserved, &e->reserved_names,
                   &e->nreserved_names);
        } else {
            evl_pb_enum_value_t *v = evl__pb_push(&e->values, &e->nvalues, sizeof *v);
            if (!v)
                return nomem(p);
            if (!(v->name = ident(p, "an enum value name")) || expect_sym(p, '='))
                return;
            int64_t num;
            if (int_value(p, INT32_MIN, INT32_MAX, &num))
                return;
            v->number = (int32_t)num;
            if (is_sym(p, '[')) {
                next(p);
                for (;;) {
                    char *on = option_name(p);
                    free(on);
                    cval_t cv;
                    if (p->rc || expect_sym(p, '='))
                        return;
                    constant(p, &cv);
                    free(cv.s);
                    if (!is_sym(p, ','))
                        break;
                    next(p);
                }
                if (expect_sym(p, ']'))
                    return;
            }
            expect_sym(p, ';');
        }
    }
    if (!p->rc && e->nvalues == 0)
        fail(p, "enum %s has no values", e->name);
    next(p);
}

static evl_pb_enum_t *parse_enum(parser_t *p)
{
    next(p); /* 'enum' */
    evl_pb_enum_t *e = calloc(1, sizeof *e);
    if (!e) {
        nomem(p);
        return NULL;
    }
    e->name = ident(p, "an enum name");
    if (e->name)
        enum_body(p, e);
    return e;
}

/* Field options: [ name = value, ... ] */
static void field_options(parser_t *p, evl_pb_field_t *f)
{
    next(p); /* '[' */
    for (;;) {
        char *name = option_name(p);
        if (!name)
            return;
        cval_t v;
        if (expect_sym(p, '=')) {
            free(name);
            return;
        }
        constant(p, &v);
        if (p->rc) {
            free(name);
            free(v.s);
            return;
        }
        if (strcmp(name, "default") == 0) {
            if (v.kind == T_SYM || f->def_set) {
                fail(p, "bad default");
            } else {
                f->def = v.s;
                f->def_len = v.n;
                f->def_set = v.kind == T_STR ? 2 : 1; /* 2: written as a string */
                v.s = NULL;
            }
        } else if (strcmp(name, "json_name") == 0) {
            if (v.kind != T_STR || f->json_name || memchr(v.s, 0, v.n)) {
                fail(p, "json_name must be a string");
            } else {
                f->json_name = v.s;
                v.s = NULL;
            }
        } else if (strcmp(name, "packed") == 0 || strcmp(name, "deprecated") == 0) {
            int b = v.kind == T_IDENT && strcmp(v.s, "true") == 0;
            if (v.kind != T_IDENT || (!b && strcmp(v.s, "false") != 0))
                fail(p, "%s must be true or false", name);
            else if (name[0] == 'p')
                f->packed = b;
            else
                f->deprecated = b;
        }
        free(name);
        free(v.s);
        if (p->rc)
            return;
        if (!is_sym(p, ','))
            break;
        next(p);
    }
    expect_sym(p, ']');
}

/* The rest of a field after its label: type name = number [opts] ; */
static void field_rest(parser_t *p, evl_pb_field_t *f)
{
    f->oneof = -1;
    f->packed = -1;
    if (is_kw(p, "map") && p->i < p->n) {
        /* map<K, V> (a message named "map" would be followed by a name) */
        size_t save = p->i;
        int sl = p->line, sc = p->col;
        next(p);
        if (is_sym(p, '<')) {
            next(p);
            f->is_map = 1;
            if (p->t != T_IDENT ||
                !(f->key_type = evl__pb_scalar_type(p->s + p->ts, p->tn)) ||
                f->key_type == PB_DOUBLE || f->key_type == PB_FLOAT || f->key_type == PB_BYTES)
                return fail(p, "bad map key type");
            next(p);
            if (expect_sym(p, ','))
                return;
        } else {
            p->i = save;
            p->line = sl;
            p->col = sc;
            p->t = T_IDENT;
            p->ts = save - 3;
            p->tn = 3;
        }
    }
    if (p->t == T_IDENT && (f->type = evl__pb_scalar_type(p->s + p->ts, p->tn))) {
        next(p);
    } else if (is_kw(p, "group")) {
        return fail(p, "groups are not supported");
    } else {
        f->type = PB_NAMED;
        if (!(f->type_name = full_ident(p, 1, "a field type")))
            return;
    }
    if (f->is_map && expect_sym(p, '>'))
        return;
    if (!(f->name = ident(p, "a field name")) || expect_sym(p, '='))
        return;
    int64_t num;
    if (int_value(p, 1, PB_FIELD_MAX, &num))
        return;
    f->number = (int32_t)num;
    if (is_sym(p, '['))
        field_options(p, f);
    if (!p->rc)
        expect_sym(p, ';');
}

static evl_pb_msg_t *parse_message(parser_t *p);

static void skip_extend(parser_t *p)
{
    next(p); /* 'extend' */
    free(full_ident(p, 1, "a type name"));
    if (!p->rc && !is_sym(p, '{'))
        return fail(p, "expected '{'");
    skip_block(p);
}

static void oneof_body(parser_t *p, evl_pb_msg_t *m, int idx)
{
    if (expect_sym(p, '{'))
        return;
    int count = 0;
    while (!p->rc && !is_sym(p, '}')) {
        if (p->t == T_EOF)
            return fail(p, "expected '}'");
        if (is_sym(p, ';')) {
            next(p);
        } else if (is_kw(p, "option")) {
            option_stmt(p, NULL, NULL);
        } else {
            if (is_kw(p, "optional") || is_kw(p, "required") || is_kw(p, "repeated"))
                return fail(p, "oneof fields have no label");
            evl_pb_field_t *f = evl__pb_push(&m->fields, &m->nfields, sizeof *f);
            if (!f)
                return nomem(p);
            field_rest(p, f);
            f->oneof = idx;
            if (f->is_map && !p->rc)
                return fail(p, "map fields cannot be in a oneof");
            count++;
        }
    }
    if (!p->rc && count == 0)
        fail(p, "empty oneof");
    next(p);
}

static void message_body(parser_t *p, evl_pb_msg_t *m)
{
    if (expect_sym(p, '{'))
        return;
    while (!p->rc && !is_sym(p, '}')) {
        if (p->t == T_EOF)
            return fail(p, "expected '}'");
        if (is_sym(p, ';')) {
            next(p);
        } else if (is_kw(p, "option")) {
            option_stmt(p, NULL, NULL);
        } else if (is_kw(p, "message")) {
            evl_pb_msg_t *c = parse_message(p);
            evl_pb_msg_t **slot = c ? evl__pb_push(&m->msgs, &m->nmsgs, sizeof *slot) : NULL;
            if (!slot) {
                evl__pb_msg_free(c);
                return nomem(p);
            }
            *slot = c;
        } else if (is_kw(p, "enum")) {
            evl_pb_enum_t *e = parse_enum(p);
            evl_pb_enum_t **slot = e ? evl__pb_push(&m->enums, &m->nenums, sizeof *slot) : NULL;
            if (!slot) {
                evl__pb_enum_free(e);
                return nomem(p);
            }
            *slot = e;
        } else if (is_kw(p, "reserved")) {
            ranges(p, PB_FIELD_MAX, &m->reserved, &m->nreserved, &m->reserved_names,
                   &m->nreserved_names);
        } else if (is_kw(p, "extensions")) {
            ranges(p, PB_FIELD_MAX, &m->ext_ranges, &m->next_ranges, NULL, NULL);
        } else if (is_kw(p, "extend")) {
            skip_extend(p);
        } else if (is_kw(p, "oneof")) {
            next(p);
            char **slot = evl__pb_push(&m->oneofs, &m->noneofs, sizeof *slot);
            if (!slot)
                return nomem(p);
            if (!(*slot = ident(p, "a oneof name")))
                return;
            oneof_body(p, m, (int)m->noneofs - 1);
        } else {
            evl_pb_field_t *f = evl__pb_push(&m->fields, &m->nfields, sizeof *f);
            if (!f)
                return nomem(p);
            if (is_kw(p, "optional")) {
                f->label = PB_L_OPTIONAL;
                f->proto3_optional = p->proto3;
                next(p);
            } else if (is_kw(p, "required")) {
                if (p->proto3)
                    return fail(p, "required fields are not allowed in proto3");
                f->label = PB_L_REQUIRED;
                next(p);
            } else if (is_kw(p, "repeated")) {
                f->label = PB_L_REPEATED;
                next(p);
            } else if (!p->proto3 && !is_kw(p, "map")) {
                return fail(p, "expected a label (optional, required or repeated)");
            }
            if (p->proto3 && f->label == PB_L_OPTIONAL)
                f->label = PB_L_NONE; /* presence is proto3_optional */
            field_rest(p, f);
            if (f->is_map && f->label != PB_L_NONE && !p->rc)
                return fail(p, "map fields have no label");
        }
    }
    next(p);
}

static evl_pb_msg_t *parse_message(parser_t *p)
{
    if (++p->depth > PB_MAX_DEPTH) {
        fail(p, "messages nested too deeply");
        return NULL;
    }
    next(p); /* 'message' */
    evl_pb_msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        nomem(p);
        return NULL;
    }
    m->name = ident(p, "a message name");
    if (m->name)
        message_body(p, m);
    p->depth--;
    return m;
}

static void parse_service(parser_t *p, evl_pb_file_t *f)
{
    next(p); /* 'service' */
    evl_pb_service_t *s = evl__pb_push(&f->services, &f->nservices, sizeof *s);
    if (!s)
        return nomem(p);
    if (!(s->name = ident(p, "a service name")) || expect_sym(p, '{'))
        return;
    while (!p->rc && !is_sym(p, '}')) {
        if (p->t == T_EOF)
            return fail(p, "expected '}'");
        if (is_sym(p, ';')) {
            next(p);
        } else if (is_kw(p, "option")) {
            option_stmt(p, NULL, NULL);
        } else if (is_kw(p, "rpc")) {
            next(p);
            evl_pb_method_t *r = evl__pb_push(&s->methods, &s->nmethods, sizeof *r);
            if (!r)
                return nomem(p);
            if (!(r->name = ident(p, "an rpc name")) || expect_sym(p, '('))
                return;
            if (is_kw(p, "stream")) {
                r->client_streaming = 1;
                next(p);
            }
            if (!(r->input = full_ident(p, 1, "a message type")) || expect_sym(p, ')'))
                return;
            if (!is_kw(p, "returns"))
                return fail(p, "expected 'returns'");
            next(p);
            if (expect_sym(p, '('))
                return;
            if (is_kw(p, "stream")) {
                r->server_streaming = 1;
                next(p);
            }
            if (!(r->output = full_ident(p, 1, "a message type")) || expect_sym(p, ')'))
                return;
            if (is_sym(p, '{')) {
                next(p);
                while (!p->rc && !is_sym(p, '}')) {
                    if (is_sym(p, ';'))
                        next(p);
                    else if (is_kw(p, "option"))
                        option_stmt(p, NULL, NULL);
                    else
                        return fail(p, "expected an option or '}'");
                }
                next(p);
            } else {
                expect_sym(p, ';');
            }
        } else {
            return fail(p, "expected 'rpc'");
        }
    }
    next(p);
}

int evl__pb_parse_text(const char *text, size_t len, evl_pb_file_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    parser_t p = {.s = text, .n = len, .line = 1, .col = 1, .err = err, .errlen = errlen};
    evl_pb_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->package = evl__pb_strndup("", 0)) || !(f->name = evl__pb_strndup("", 0))) {
        if (f)
            evl__pb_file_free(f);
        return EVL_ENOMEM;
    }
    next(&p);
    if (is_kw(&p, "syntax") || is_kw(&p, "edition")) {
        if (is_kw(&p, "edition"))
            fail(&p, "editions are not supported");
        next(&p);
        if (!p.rc && !expect_sym(&p, '=')) {
            if (p.t == T_STR && p.str.n == 6 && memcmp(p.str.p, "proto3", 6) == 0)
                p.proto3 = 1;
            else if (!(p.t == T_STR && p.str.n == 6 && memcmp(p.str.p, "proto2", 6) == 0))
                fail(&p, "syntax must be \"proto2\" or \"proto3\"");
            next(&p);
            if (!p.rc)
                expect_sym(&p, ';');
        }
    }
    f->proto3 = p.proto3;
    int have_package = 0;
    while (!p.rc && p.t != T_EOF) {
        if (is_sym(&p, ';')) {
            next(&p);
        } else if (is_kw(&p, "package")) {
            if (have_package++)
                fail(&p, "multiple package statements");
            next(&p);
            char *pk = full_ident(&p, 0, "a package name");
            if (pk) {
                free(f->package);
                f->package = pk;
                expect_sym(&p, ';');
            }
        } else if (is_kw(&p, "import")) {
            next(&p);
            int kind = 0;
            if (is_kw(&p, "public") || is_kw(&p, "weak")) {
                kind = p.s[p.ts] == 'p' ? 1 : 2;
                next(&p);
            }
            if (p.t != T_STR || memchr(p.str.p, 0, p.str.n)) {
                fail(&p, "expected an import path");
                break;
            }
            evl_pb_import_t *im = evl__pb_push(&f->imports, &f->nimports, sizeof *im);
            if (!im || !(im->path = evl__pb_strndup((char *)p.str.p, p.str.n))) {
                nomem(&p);
                break;
            }
            im->kind = kind;
            next(&p);
            expect_sym(&p, ';');
        } else if (is_kw(&p, "option")) {
            option_stmt(&p, f, NULL);
        } else if (is_kw(&p, "message")) {
            evl_pb_msg_t *m = parse_message(&p);
            evl_pb_msg_t **slot = m ? evl__pb_push(&f->msgs, &f->nmsgs, sizeof *slot) : NULL;
            if (!slot) {
                evl__pb_msg_free(m);
                nomem(&p);
                break;
            }
            *slot = m;
        } else if (is_kw(&p, "enum")) {
            evl_pb_enum_t *e = parse_enum(&p);
            evl_pb_enum_t **slot = e ? evl__pb_push(&f->enums, &f->nenums, sizeof *slot) : NULL;
            if (!slot) {
                evl__pb_enum_free(e);
                nomem(&p);
                break;
            }
            *slot = e;
        } else if (is_kw(&p, "service")) {
            parse_service(&p, f);
        } else if (is_kw(&p, "extend")) {
            skip_extend(&p);
        } else if (is_kw(&p, "syntax")) {
            fail(&p, "syntax must come first");
        } else {
            fail(&p, "unexpected '%.*s'", (int)(p.tn > 40 ? 40 : p.tn), p.s + p.ts);
        }
    }
    evl__sr_buf_free(&p.str);
    if (p.rc) {
        evl__pb_file_free(f);
        return p.rc;
    }
    *out = f;
    return 0;
}
