/*
 * protobuf_print.c - the canonical .proto text of a resolved file
 * (evl__pb_print), the text the registry stores and serves for Protobuf.
 *
 * Text and descriptor inputs reach the same model, so one printer gives
 * them one canonical form. Choices, each so that the printout is a fixed
 * point of parse+print: two-space indentation, one statement per line;
 * imports sorted; file options sorted by name (only the FileOptions the
 * model knows); explicit labels as the syntax has them (proto2: every
 * field; proto3: repeated or optional only); named types fully qualified
 * with a leading dot; inside a message: fields (a oneof block where its
 * first member was), reserved numbers, reserved names, extension ranges,
 * nested enums, nested messages. Strings are escaped with \\, \", and
 * octal for control bytes; other bytes are kept as they are.
 */
#include "protobuf_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct printer {
    evl_sr_buf_t b;
    int rc;
} printer_t;

static void out(printer_t *p, const char *s)
{
    if (!p->rc)
        p->rc = evl__sr_buf_put(&p->b, s, strlen(s));
}

static void indent(printer_t *p, int lvl)
{
    for (int i = 0; i < lvl; i++)
        out(p, "  ");
}

static void quoted(printer_t *p, const char *s, size_t n)
{
    out(p, "\"");
    for (size_t i = 0; i < n && !p->rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[3] = {'\\', (char)c, 0};
            out(p, e);
        } else if (c < 0x20 || c == 0x7f) {
            p->rc = evl__sr_buf_printf(&p->b, "\\%03o", c);
        } else {
            p->rc = evl__sr_buf_byte(&p->b, c);
        }
    }
    out(p, "\"");
}

static void print_ranges(printer_t *p, const char *kw, const evl_pb_range_t *v, size_t n,
                         int32_t maxv, int lvl)
{
    if (!n)
        return;
    indent(p, lvl);
    out(p, kw);
    for (size_t i = 0; i < n && !p->rc; i++) {
        p->rc = evl__sr_buf_printf(&p->b, "%s %d", i ? "," : "", (int)v[i].start);
        if (v[i].end != v[i].start) {
            if (v[i].end == maxv)
                out(p, " to max");
            else if (!p->rc)
                p->rc = evl__sr_buf_printf(&p->b, " to %d", (int)v[i].end);
        }
    }
    out(p, ";\n");
}

static void print_names(printer_t *p, char **v, size_t n, int lvl)
{
    if (!n)
        return;
    indent(p, lvl);
    out(p, "reserved ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            out(p, ", ");
        quoted(p, v[i], strlen(v[i]));
    }
    out(p, ";\n");
}

static void print_type(printer_t *p, int type, const char *name)
{
    if (type == PB_MESSAGE || type == PB_ENUM || type == PB_NAMED) {
        if (name[0] != '.')
            out(p, ".");
        out(p, name);
    } else {
        out(p, evl__pb_type_keyword(type));
    }
}

static void print_field(printer_t *p, const evl_pb_field_t *f, int proto3, int lvl)
{
    indent(p, lvl);
    if (f->is_map) {
        out(p, "map<");
        out(p, evl__pb_type_keyword(f->key_type));
        out(p, ", ");
        print_type(p, f->type, f->type_name);
        out(p, ">");
    } else {
        if (f->oneof < 0) {
            if (f->label == PB_L_REPEATED)
                out(p, "repeated ");
            else if (f->label == PB_L_REQUIRED)
                out(p, "required ");
            else if (!proto3 || f->proto3_optional)
                out(p, "optional ");
        }
        print_type(p, f->type, f->type_name);
    }
    if (!p->rc)
        p->rc = evl__sr_buf_printf(&p->b, " %s = %d", f->name, (int)f->number);
    int nopt = 0;
    char *dj = f->json_name ? evl__pb_json_name(f->name) : NULL;
    if (f->json_name && !dj)
        p->rc = EVL_ENOMEM;
    int show_json = dj && strcmp(dj, f->json_name) != 0;
    free(dj);
    if (f->def_set) {
        out(p, nopt++ ? ", " : " [");
        out(p, "default = ");
        if (f->type == PB_STRING || f->type == PB_BYTES)
            quoted(p, f->def, f->def_len);
        else
            out(p, f->def);
    }
    if (show_json) {
        out(p, nopt++ ? ", " : " [");
        out(p, "json_name = ");
        quoted(p, f->json_name, strlen(f->json_name));
    }
    if (f->packed >= 0) {
        out(p, nopt++ ? ", " : " [");
        out(p, f->packed ? "packed = true" : "packed = false");
    }
    if (f->deprecated) {
        out(p, nopt++ ? ", " : " [");
        out(p, "deprecated = true");
    }
    if (nopt)
        out(p, "]");
    out(p, ";\n");
}

static void print_enum(printer_t *p, const evl_pb_enum_t *e, int lvl)
{
    indent(p, lvl);
    out(p, "enum ");
    out(p, e->name);
    out(p, " {\n");
    if (e->allow_alias) {
        indent(p, lvl + 1);
        out(p, "option allow_alias = true;\n");
    }
    for (size_t i = 0; i < e->nvalues && !p->rc; i++) {
        indent(p, lvl + 1);
        p->rc = evl__sr_buf_printf(&p->b, "%s = %d;\n", e->values[i].name,
                                   (int)e->values[i].number);
    }
    print_ranges(p, "reserved", e->reserved, e->nreserved, INT32_MAX, lvl + 1);
    print_names(p, e->reserved_names, e->nreserved_names, lvl + 1);
    indent(p, lvl);
    out(p, "}\n");
}

static void print_msg(printer_t *p, const evl_pb_msg_t *m, int proto3, int lvl)
{
    indent(p, lvl);
    out(p, "message ");
    out(p, m->name);
    out(p, " {\n");
    for (size_t i = 0; i < m->nfields && !p->rc; i++) {
        const evl_pb_field_t *f = &m->fields[i];
        if (f->oneof < 0) {
            print_field(p, f, proto3, lvl + 1);
            continue;
        }
        int seen = 0;
        for (size_t k = 0; k < i; k++)
            if (m->fields[k].oneof == f->oneof)
                seen = 1;
        if (seen)
            continue;
        indent(p, lvl + 1);
        out(p, "oneof ");
        out(p, m->oneofs[f->oneof]);
        out(p, " {\n");
        for (size_t k = i; k < m->nfields; k++)
            if (m->fields[k].oneof == f->oneof)
                print_field(p, &m->fields[k], proto3, lvl + 2);
        indent(p, lvl + 1);
        out(p, "}\n");
    }
    print_ranges(p, "reserved", m->reserved, m->nreserved, PB_FIELD_MAX, lvl + 1);
    print_names(p, m->reserved_names, m->nreserved_names, lvl + 1);
    print_ranges(p, "extensions", m->ext_ranges, m->next_ranges, PB_FIELD_MAX, lvl + 1);
    for (size_t i = 0; i < m->nenums; i++)
        print_enum(p, m->enums[i], lvl + 1);
    for (size_t i = 0; i < m->nmsgs; i++)
        print_msg(p, m->msgs[i], proto3, lvl + 1);
    indent(p, lvl);
    out(p, "}\n");
}

static int cmp_import(const void *a, const void *b)
{
    const evl_pb_import_t *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : x->kind - y->kind;
}

static int cmp_option(const void *a, const void *b)
{
    const evl_pb_option_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

char *evl__pb_print(const evl_pb_file_t *f)
{
    printer_t p = {{0}, 0};
    out(&p, f->proto3 ? "syntax = \"proto3\";\n" : "syntax = \"proto2\";\n");
    if (f->package[0]) {
        out(&p, "package ");
        out(&p, f->package);
        out(&p, ";\n");
    }
    if (f->nimports) {
        evl_pb_import_t *im = malloc(f->nimports * sizeof *im);
        if (!im)
            return NULL;
        memcpy(im, f->imports, f->nimports * sizeof *im);
        qsort(im, f->nimports, sizeof *im, cmp_import);
        out(&p, "\n");
        for (size_t i = 0; i < f->nimports; i++) {
            if (i && strcmp(im[i].path, im[i - 1].path) == 0)
                continue;
            out(&p, im[i].kind == 1 ? "import public " : im[i].kind == 2 ? "import weak " : "import ");
            quoted(&p, im[i].path, strlen(im[i].path));
            out(&p, ";\n");
        }
        free(im);
    }
    if (f->noptions) {
        evl_pb_option_t *o = malloc(f->noptions * sizeof *o);
        if (!o)
            return NULL;
        memcpy(o, f->options, f->noptions * sizeof *o);
        qsort(o, f->noptions, sizeof *o, cmp_option);
        out(&p, "\n");
        for (size_t i = 0; i < f->noptions; i++) {
            out(&p, "option ");
            out(&p, o[i].name);
            out(&p, " = ");
            if (o[i].is_string)
                quoted(&p, o[i].value, strlen(o[i].value));
            else
                out(&p, o[i].value);
            out(&p, ";\n");
        }
        free(o);
    }
    for (size_t i = 0; i < f->nmsgs; i++) {
        out(&p, "\n");
        print_msg(&p, f->msgs[i], f->proto3, 0);
    }
    for (size_t i = 0; i < f->nenums; i++) {
        out(&p, "\n");
        print_enum(&p, f->enums[i], 0);
    }
    for (size_t i = 0; i < f->nservices; i++) {
        const evl_pb_service_t *s = &f->services[i];
        out(&p, "\nservice ");
        out(&p, s->name);
        out(&p, " {\n");
        for (size_t k = 0; k < s->nmethods && !p.rc; k++) {
            const evl_pb_method_t *r = &s->methods[k];
            p.rc = evl__sr_buf_printf(&p.b, "  rpc %s(%s.%s) returns (%s.%s);\n", r->name,
                                      r->client_streaming ? "stream " : "", r->input,
                                      r->server_streaming ? "stream " : "", r->output);
        }
        out(&p, "}\n");
    }
    if (p.rc) {
        evl__sr_buf_free(&p.b);
        return NULL;
    }
    return evl__sr_buf_str(&p.b);
}
