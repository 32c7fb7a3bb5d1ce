/*
 * avro.c - the Avro format of the schema registry: parse an Avro schema
 * (JSON, with jansson) into the graph of avro_internal.h, check it as the
 * Avro 1.11 specification asks, and give its canonical text.
 *
 * Decisions:
 * - We parse ourselves rather than use the Avro C library, which drops
 *   field defaults (and defaults decide compatibility).
 * - Named types are resolved as the spec says: a name with a dot is a full
 *   name; otherwise it takes the namespace of the enclosing named type.
 *   A reference that is not found there is also tried in the null
 *   namespace, as Java's Schema.Names.get does (Confluent parses with Java).
 * - A named type is registered before its body is parsed, so recursive
 *   types (a linked list) resolve to the node being built.
 * - Defaults are checked against the field's type (a union's against its
 *   first branch) and invalid ones refused: Java only warns, but a default
 *   that cannot be decoded breaks every reader that needs it.
 * - The canonical text is NOT Avro's "Parsing Canonical Form" (which drops
 *   doc, defaults, aliases and logical types that Confluent clients read
 *   back): it is the schema as given, compact, with keys in a fixed order,
 *   and names written as Java's Schema.toString writes them (short within
 *   their enclosing namespace, "namespace" only where it changes), so a
 *   namespace repeated or left implicit makes no other schema.
 * - References: the store gives the referenced schemas' texts, dependencies
 *   first; they are parsed into the same name table before the main text,
 *   so the main text may name their types. Only the main text is canonical.
 */
#include "avro_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pctx {
    evl_avro_schema_t *s;
    char *err;
    size_t errlen;
    int nomem; /* an allocation failed: EVL_ENOMEM, not a bad schema */
    int failed;
} pctx_t;

static void perr(pctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(pctx_t *c, const char *fmt, ...)
{
    if (c->failed)
        return; /* keep the first error: it is the cause */
    c->failed = 1;
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
}

static void oom(pctx_t *c)
{
    c->nomem = 1;
    perr(c, "out of memory");
}

static const char *const prim_names[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static int prim_kind(const char *s)
{
    for (int i = 0; i < 8; i++)
        if (strcmp(s, prim_names[i]) == 0)
            return i; /* EVL_AVRO_NULL .. EVL_AVRO_STRING, in order */
    return -1;
}

const char *evl__avro_type_name(const evl_avro_node_t *n)
{
    switch (n->kind) {
    case EVL_AVRO_RECORD:
    case EVL_AVRO_ENUM:
    case EVL_AVRO_FIXED: return n->fullname;
    case EVL_AVRO_ARRAY: return "array";
    case EVL_AVRO_MAP: return "map";
    case EVL_AVRO_UNION: return "union";
    default: return prim_names[n->kind];
    }
}

int evl__avro_names_match(const evl_avro_node_t *reader, const evl_avro_node_t *writer)
{
    if (strcmp(reader->name, writer->name) == 0)
        return 1;
    for (size_t i = 0; i < reader->naliases; i++)
        if (strcmp(reader->aliases[i], writer->fullname) == 0)
            return 1;
    return 0;
}

long evl__avro_field_index(const evl_avro_node_t *n, const char *name)
{
    for (size_t i = 0; i < n->nfields; i++)
        if (strcmp(n->fields[i].name, name) == 0)
            return (long)i;
    return -1;
}

long evl__avro_field_for(const evl_avro_node_t *reader, const char *wname)
{
    long i = evl__avro_field_index(reader, wname);
    if (i >= 0)
        return i;
    for (size_t f = 0; f < reader->nfields; f++)
        for (size_t a = 0; a < reader->fields[f].naliases; a++)
            if (strcmp(reader->fields[f].aliases[a], wname) == 0)
                return (long)f;
    return -1;
}

long evl__avro_symbol_index(const evl_avro_node_t *n, const char *sym)
{
    for (size_t i = 0; i < n->nsymbols; i++)
        if (strcmp(n->symbols[i], sym) == 0)
            return (long)i;
    return -1;
}

/* ---- names ---- */

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return 0;
    }
    return 1;
}

/* A namespace: "" (the null namespace) or dot-separated names. */
static int valid_space(const char *s)
{
    if (!*s)
        return 1;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (!valid_name(s, n))
            return 0;
        if (!dot)
            return 1;
        s = dot + 1;
    }
}

static char *join_name(const char *space, const char *name)
{
    char *r = NULL;
    if (space && *space) {
        if (asprintf(&r, "%s.%s", space, name) < 0)
            r = NULL;
    } else {
        r = strdup(name);
    }
    return r;
}

static evl_avro_node_t *lookup_full(evl_avro_schema_t *s, const char *full)
{
    for (size_t i = 0; i < s->nnamed; i++)
        if (strcmp(s->named[i]->fullname, full) == 0)
            return s->named[i];
    return NULL;
}

/* A reference by name, from within namespace space. */
static evl_avro_node_t *resolve(pctx_t *c, const char *ref, const char *space)
{
    if (strchr(ref, '.'))
        return lookup_full(c->s, ref);
    char *full = join_name(space, ref);
    if (!full) {
        oom(c);
        return NULL;
    }
    evl_avro_node_t *n = lookup_full(c->s, full);
    free(full);
    return n ? n : lookup_full(c->s, ref);
}

/* ---- nodes ---- */

static evl_avro_node_t *new_node(pctx_t *c, evl_avro_kind_t kind)
{
    evl_avro_schema_t *s = c->s;
    if (s->nnodes == s->capnodes) {
        size_t cap = s->capnodes ? s->capnodes * 2 : 16;
        evl_avro_node_t **v = realloc(s->nodes, cap * sizeof *v);
        if (!v) {
            oom(c);
            return NULL;
        }
        s->nodes = v;
        s->capnodes = cap;
    }
    evl_avro_node_t *n = calloc(1, sizeof *n);
    if (!n) {
        oom(c);
        return NULL;
    }
    n->kind = kind;
    n->enum_default = -1;
    s->nodes[s->nnodes++] = n;
    return n;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_node(evl_avro_node_t *n)
{
    free(n->name);
    free(n->fullname);
    free_strv(n->aliases, n->naliases);
    for (size_t i = 0; i < n->nfields; i++) {
        free(n->fields[i].name);
        free_strv(n->fields[i].aliases, n->fields[i].naliases);
    }
    free(n->fields);
    free_strv(n->symbols, n->nsymbols);
    free(n->branches);
    free(n);
}

static void schema_free(void *p)
{
    evl_avro_schema_t *s = p;
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++)
        free_node(s->nodes[i]);
    free(s->nodes);
    free(s->named);
    for (size_t i = 0; i < s->ndocs; i++)
        json_decref(s->docs[i]);
    free(s->docs);
    free(s->canonical);
    free(s);
}

static const char *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Names n (named type) from the object o: "name", "namespace", "aliases";
 * registers it. Returns its namespace for nested definitions through *nsp
 * (borrowed from n->fullname's storage is not possible, so a malloc'd
 * copy the caller frees). */
static int name_node(pctx_t *c, evl_avro_node_t *n, json_t *o, const char *space, char **nsp)
{
    json_t *jname = json_object_get(o, "name");
    if (!json_is_string(jname)) {
        perr(c, "a %s needs a \"name\" string", json_string_value(json_object_get(o, "type")));
        return -1;
    }
    const char *name = json_string_value(jname);
    json_t *jns = json_object_get(o, "namespace");
    if (jns && !json_is_string(jns) && !json_is_null(jns)) {
        perr(c, "\"namespace\" of '%s' is not a string", name);
        return -1;
    }
    const char *dot = strrchr(name, '.');
    char *ns;
    if (dot) {
        ns = strndup(name, (size_t)(dot - name));
        name = dot + 1;
    } else if (json_is_string(jns)) {
        ns = strdup(json_string_value(jns));
    } else {
        ns = strdup(space ? space : "");
    }
    if (!ns) {
        oom(c);
        return -1;
    }
    if (!valid_name(name, strlen(name)) || !valid_space(ns)) {
        perr(c, "invalid name '%s%s%s'", ns, *ns ? "." : "", name);
        free(ns);
        return -1;
    }
    if (prim_kind(name) >= 0) {
        perr(c, "a named type may not be called '%s'", name);
        free(ns);
        return -1;
    }
    n->name = strdup(name);
    n->fullname = join_name(ns, name);
    if (!n->name || !n->fullname) {
        free(ns);
        oom(c);
        return -1;
    }
    if (lookup_full(c->s, n->fullname)) {
        perr(c, "'%s' is defined twice", n->fullname);
        free(ns);
        return -1;
    }
    json_t *al = json_object_get(o, "aliases");
    if (al) {
        if (!json_is_array(al)) {
            perr(c, "\"aliases\" of '%s' is not an array", n->fullname);
            free(ns);
            return -1;
        }
        n->aliases = calloc(json_array_size(al) + 1, sizeof *n->aliases);
        if (!n->aliases) {
            free(ns);
            oom(c);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(al); i++) {
            const char *a = json_string_value(json_array_get(al, i));
            if (!a) {
                perr(c, "an alias of '%s' is not a string", n->fullname);
                free(ns);
                return -1;
            }
            /* An alias is a name like any other: relative to the type's
             * namespace unless it has a dot (spec, "Aliases"). */
            char *full = strchr(a, '.') ? strdup(a) : join_name(ns, a);
            if (!full) {
                free(ns);
                oom(c);
                return -1;
            }
            n->aliases[n->naliases++] = full;
            const char *d = strrchr(full, '.');
            const char *last = d ? d + 1 : full;
            char *sp = d ? strndup(full, (size_t)(d - full)) : strdup("");
            int ok = sp && valid_name(last, strlen(last)) && valid_space(sp);
            free(sp);
            if (!ok) {
                perr(c, "invalid alias '%s' of '%s'", a, n->fullname);
                free(ns);
                return -1;
            }
        }
    }
    evl_avro_schema_t *s = c->s;
    if (s->nnamed == s->capnamed) {
        size_t cap = s->capnamed ? s->capnamed * 2 : 8;
        evl_avro_node_t **v = realloc(s->named, cap * sizeof *v);
        if (!v) {
            free(ns);
            oom(c);
            return -1;
        }
        s->named = v;
        s->capnamed = cap;
    }
    s->named[s->nnamed++] = n;
    *nsp = ns;
    return 0;
}

static evl_avro_node_t *parse_node(pctx_t *c, json_t *j, const char *space, int depth);
static int check_default(pctx_t *c, const evl_avro_node_t *n, json_t *v, int depth);

static int parse_fields(pctx_t *c, evl_avro_node_t *n, json_t *o, const char *ns, int depth)
{
    json_t *fs = json_object_get(o, "fields");
    if (!json_is_array(fs)) {
        perr(c, "record '%s' needs a \"fields\" array", n->fullname);
        return -1;
    }
    size_t nf = json_array_size(fs);
    n->fields = calloc(nf + 1, sizeof *n->fields);
    if (!n->fields) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get(fs, i);
        const char *fname = get_str(f, "name");
        if (!json_is_object(f) || !fname) {
            perr(c, "field %zu of '%s' needs a \"name\" string", i, n->fullname);
            return -1;
        }
        if (!valid_name(fname, strlen(fname))) {
            perr(c, "invalid field name '%s' in '%s'", fname, n->fullname);
            return -1;
        }
        if (evl__avro_field_index(n, fname) >= 0) {
            perr(c, "field '%s' is defined twice in '%s'", fname, n->fullname);
            return -1;
        }
        evl_avro_field_t *fd = &n->fields[n->nfields];
        fd->name = strdup(fname);
        if (!fd->name) {
            oom(c);
            return -1;
        }
        n->nfields++;
        json_t *al = json_object_get(f, "aliases");
        if (al) {
            if (!json_is_array(al)) {
                perr(c, "\"aliases\" of field '%s' is not an array", fname);
                return -1;
            }
            fd->aliases = calloc(json_array_size(al) + 1, sizeof *fd->aliases);
            if (!fd->aliases) {
                oom(c);
                return -1;
            }
            for (size_t a = 0; a < json_array_size(al); a++) {
                const char *as = json_string_value(json_array_get(al, a));
                if (!as || !valid_name(as, strlen(as))) {
                    perr(c, "invalid alias of field '%s'", fname);
                    return -1;
                }
                if (!(fd->aliases[fd->naliases++] = strdup(as))) {
                    oom(c);
                    return -1;
                }
            }
        }
        json_t *ft = json_object_get(f, "type");
        if (!ft) {
            perr(c, "field '%s' of '%s' has no \"type\"", fname, n->fullname);
            return -1;
        }
        fd->type = parse_node(c, ft, ns, depth + 1);
        if (!fd->type)
            return -1;
        fd->def = json_object_get(f, "default");
        if (fd->def && check_default(c, fd->type, fd->def, 0) < 0) {
            char *d = json_dumps(fd->def, JSON_ENCODE_ANY | JSON_COMPACT);
            perr(c, "default %.100s of field '%s' in '%s' does not match its type",
                 d ? d : "?", fname, n->fullname);
            free(d);
            return -1;
        }
        json_t *ord = json_object_get(f, "order");
        if (ord) {
            const char *os = json_string_value(ord);
            if (!os || (strcmp(os, "ascending") && strcmp(os, "descending") &&
                        strcmp(os, "ignore"))) {
                perr(c, "invalid \"order\" of field '%s'", fname);
                return -1;
            }
        }
    }
    return 0;
}

static int parse_enum(pctx_t *c, evl_avro_node_t *n, json_t *o)
{
    json_t *sy = json_object_get(o, "symbols");
    if (!json_is_array(sy)) {
        perr(c, "enum '%s' needs a \"symbols\" array", n->fullname);
        return -1;
    }
    n->symbols = calloc(json_array_size(sy) + 1, sizeof *n->symbols);
    if (!n->symbols) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(sy); i++) {
        const char *s = json_string_value(json_array_get(sy, i));
        if (!s || !valid_name(s, strlen(s))) {
            perr(c, "invalid symbol in enum '%s'", n->fullname);
            return -1;
        }
        if (evl__avro_symbol_index(n, s) >= 0) {
            perr(c, "symbol '%s' appears twice in enum '%s'", s, n->fullname);
            return -1;
        }
        if (!(n->symbols[n->nsymbols++] = strdup(s))) {
            oom(c);
            return -1;
        }
    }
    json_t *d = json_object_get(o, "default");
    if (d) {
        long i = json_is_string(d) ? evl__avro_symbol_index(n, json_string_value(d)) : -1;
        if (i < 0) {
            perr(c, "default of enum '%s' is not one of its symbols", n->fullname);
            return -1;
        }
        n->enum_default = (int)i;
    }
    return 0;
}

static evl_avro_node_t *parse_union(pctx_t *c, json_t *j, const char *space, int depth)
{
    evl_avro_node_t *n = new_node(c, EVL_AVRO_UNION);
    if (!n)
        return NULL;
    size_t nb = json_array_size(j);
    n->branches = calloc(nb + 1, sizeof *n->branches);
    if (!n->branches) {
        oom(c);
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        evl_avro_node_t *b = parse_node(c, json_array_get(j, i), space, depth + 1);
        if (!b)
            return NULL;
        if (b->kind == EVL_AVRO_UNION) {
            perr(c, "a union may not contain a union");
            return NULL;
        }
        for (size_t k = 0; k < n->nbranches; k++)
            if (strcmp(evl__avro_type_name(n->branches[k]), evl__avro_type_name(b)) == 0) {
                perr(c, "a union contains '%s' twice", evl__avro_type_name(b));
                return NULL;
            }
        n->branches[n->nbranches++] = b;
    }
    return n;
}

static evl_avro_node_t *parse_node(pctx_t *c, json_t *j, const char *space, int depth)
{
    if (depth > EVL_AVRO_MAX_SCHEMA_DEPTH) {
        perr(c, "schema nested deeper than %d", EVL_AVRO_MAX_SCHEMA_DEPTH);
        return NULL;
    }
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        int k = prim_kind(t);
        if (k >= 0)
            return new_node(c, (evl_avro_kind_t)k);
        evl_avro_node_t *n = resolve(c, t, space);
        if (!n && !c->failed)
            perr(c, "unknown type '%s'", t);
        return n;
    }
    if (json_is_array(j))
        return parse_union(c, j, space, depth);
    if (!json_is_object(j)) {
        perr(c, "a schema is a string, an array or an object");
        return NULL;
    }
    const char *t = get_str(j, "type");
    if (!t) {
        perr(c, "a schema object needs a \"type\" string");
        return NULL;
    }
    const char *logical = get_str(j, "logicalType");
    int k = prim_kind(t);
    evl_avro_node_t *n = NULL;
    if (k >= 0) {
        n = new_node(c, (evl_avro_kind_t)k);
    } else if (!strcmp(t, "array") || !strcmp(t, "map")) {
        int arr = !strcmp(t, "array");
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it) {
            perr(c, "%s needs \"%s\"", t, arr ? "items" : "values");
            return NULL;
        }
        n = new_node(c, arr ? EVL_AVRO_ARRAY : EVL_AVRO_MAP);
        if (n && !(n->items = parse_node(c, it, space, depth + 1)))
            return NULL;
    } else if (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
               !strcmp(t, "fixed")) {
        evl_avro_kind_t kind = t[0] == 'e' && t[1] == 'n'   ? EVL_AVRO_ENUM
                               : t[0] == 'f'                ? EVL_AVRO_FIXED
                                                            : EVL_AVRO_RECORD;
        char *ns = NULL;
        n = new_node(c, kind);
        if (!n || name_node(c, n, j, space, &ns) < 0)
            return NULL;
        int rc = 0;
        if (kind == EVL_AVRO_RECORD) {
            rc = parse_fields(c, n, j, ns, depth);
        } else if (kind == EVL_AVRO_ENUM) {
            rc = parse_enum(c, n, j);
        } else {
            json_t *sz = json_object_get(j, "size");
            if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
                json_integer_value(sz) > INT32_MAX) {
                perr(c, "fixed '%s' needs a \"size\" (a non-negative integer)", n->fullname);
                rc = -1;
            } else {
                n->size = (size_t)json_integer_value(sz);
            }
        }
        free(ns);
        if (rc < 0)
            return NULL;
    } else {
        /* {"type": "some.Name"}: a reference in object form (Java accepts). */
        n = resolve(c, t, space);
        if (!n && !c->failed)
            perr(c, "unknown type '%s'", t);
        return n;
    }
    if (n)
        n->logical = logical;
    return n;
}

/* ---- defaults ---- */

/* Does the JSON string s hold only code points 0-255 (bytes/fixed in the
 * JSON encoding)? Returns the number of code points, or -1. */
static long latin1_len(const char *s, size_t n)
{
    long count = 0;
    for (size_t i = 0; i < n; count++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            i++;
        } else if ((b == 0xC2 || b == 0xC3) && i + 1 < n) {
            i += 2;
        } else {
            return -1;
        }
    }
    return count;
}

static int check_default(pctx_t *c, const evl_avro_node_t *n, json_t *v, int depth)
{
    if (depth > 2 * EVL_AVRO_MAX_DATA_DEPTH)
        return -1;
    switch (n->kind) {
    case EVL_AVRO_NULL: return json_is_null(v) ? 0 : -1;
    case EVL_AVRO_BOOLEAN: return json_is_boolean(v) ? 0 : -1;
    case EVL_AVRO_INT:
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
                       json_integer_value(v) <= INT32_MAX
                   ? 0
                   : -1;
    case EVL_AVRO_LONG: return json_is_integer(v) ? 0 : -1;
    case EVL_AVRO_FLOAT:
    case EVL_AVRO_DOUBLE: return json_is_number(v) ? 0 : -1;
    case EVL_AVRO_STRING: return json_is_string(v) ? 0 : -1;
    case EVL_AVRO_BYTES:
        return json_is_string(v) &&
                       latin1_len(json_string_value(v), json_string_length(v)) >= 0
                   ? 0
                   : -1;
    case EVL_AVRO_FIXED:
        return json_is_string(v) &&
                       latin1_len(json_string_value(v), json_string_length(v)) ==
                           (long)n->size
                   ? 0
                   : -1;
    case EVL_AVRO_ENUM:
        return json_is_string(v) && evl__avro_symbol_index(n, json_string_value(v)) >= 0 ? 0
                                                                                          : -1;
    case EVL_AVRO_ARRAY:
        if (!json_is_array(v))
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (check_default(c, n->items, json_array_get(v, i), depth + 1) < 0)
                return -1;
        return 0;
    case EVL_AVRO_MAP: {
        if (!json_is_object(v))
            return -1;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) if (check_default(c, n->items, e, depth + 1) < 0) return -1;
        return 0;
    }
    case EVL_AVRO_RECORD: {
        if (!json_is_object(v))
            return -1;
        for (size_t i = 0; i < n->nfields; i++) {
            json_t *e = json_object_get(v, n->fields[i].name);
            if (!e && !n->fields[i].def)
                return -1;
            if (e && check_default(c, n->fields[i].type, e, depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    case EVL_AVRO_UNION:
        /* Spec: "Default values for union fields correspond to the first
         * schema in the union." */
        return n->nbranches ? check_default(c, n->branches[0], v, depth + 1) : -1;
    }
    return -1;
}

/* ---- canonical text ---- */

static const char *const key_order[] = {"type",    "name",    "namespace", "doc",
                                        "aliases", "fields",  "symbols",   "items",
                                        "values",  "size",    "default"};
#define NKEY_ORDER (sizeof key_order / sizeof key_order[0])

static int key_rank(const char *k)
{
    for (size_t i = 0; i < NKEY_ORDER; i++)
        if (!strcmp(k, key_order[i]))
            return (int)i;
    return (int)NKEY_ORDER;
}

static int key_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = key_rank(x), ry = key_rank(y);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

/* Plain JSON data (defaults, custom properties): compact, keys sorted. */
static int emit_data(evl_sr_buf_t *b, json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        return EVL_ENOMEM;
    int rc = evl__sr_buf_put(b, s, strlen(s));
    free(s);
    return rc;
}

static int emit_schema(evl_sr_buf_t *b, json_t *v, int field, const char *ns);

static int is_named(json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t && (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
                 !strcmp(t, "fixed"));
}

static int emit_str(evl_sr_buf_t *b, const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (!j)
        return EVL_ENOMEM;
    int rc = emit_data(b, j);
    json_decref(j);
    return rc;
}

/* A type named by a string: a full name in the enclosing namespace is
 * written short, as Java's Schema.toString writes it (so "a.X" and "X"
 * inside namespace a are one schema). */
static int emit_ref(evl_sr_buf_t *b, json_t *v, const char *ns)
{
    const char *s = json_string_value(v);
    size_t nl = strlen(ns), sl = strlen(s);
    if (nl && sl > nl + 1 && !strncmp(s, ns, nl) && s[nl] == '.' && !strchr(s + nl + 1, '.'))
        return emit_str(b, s + nl + 1, sl - nl - 1);
    return emit_data(b, v);
}

static int emit_object(evl_sr_buf_t *b, json_t *o, int field, const char *ns)
{
    size_t n = json_object_size(o);
    if (!field && n == 1 && json_is_string(json_object_get(o, "type")))
        return emit_ref(b, json_object_get(o, "type"), ns); /* {"type":"int"} is "int" */
    /* a named type: its short name, and its namespace only where it is
     * not the enclosing one (Java's Schema.toString) */
    const char *name = NULL, *own_ns = ns;
    char *nsbuf = NULL;
    if (!field && is_named(o) && (name = json_string_value(json_object_get(o, "name")))) {
        const char *dot = strrchr(name, '.');
        if (dot) {
            nsbuf = strndup(name, (size_t)(dot - name));
            if (!nsbuf)
                return EVL_ENOMEM;
            own_ns = nsbuf;
            name = dot + 1;
        } else if (json_is_string(json_object_get(o, "namespace"))) {
            own_ns = json_string_value(json_object_get(o, "namespace"));
        }
    }
    const char **keys = malloc((n + 2) * sizeof *keys);
    if (!keys) {
        free(nsbuf);
        return EVL_ENOMEM;
    }
    size_t i = 0;
    const char *k;
    json_t *e;
    json_object_foreach(o, k, e)
    {
        if (!(name && !strcmp(k, "namespace")))
            keys[i++] = k;
    }
    if (name && strcmp(own_ns, ns))
        keys[i++] = "namespace";
    n = i;
    qsort(keys, n, sizeof *keys, key_cmp);
    int rc = evl__sr_buf_byte(b, '{');
    for (i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = evl__sr_buf_byte(b, ',');
        if (!rc)
            rc = emit_str(b, keys[i], strlen(keys[i]));
        if (!rc)
            rc = evl__sr_buf_byte(b, ':');
        if (rc)
            break;
        e = json_object_get(o, keys[i]);
        if (name && !strcmp(keys[i], "name")) {
            rc = emit_str(b, name, strlen(name));
        } else if (name && !strcmp(keys[i], "namespace")) {
            rc = emit_str(b, own_ns, strlen(own_ns));
        } else if (!strcmp(keys[i], "type") || !strcmp(keys[i], "items") ||
                   !strcmp(keys[i], "values")) {
            rc = name && !strcmp(keys[i], "type") ? emit_data(b, e)
                                                  : emit_schema(b, e, 0, name ? own_ns : ns);
        } else if (!field && !strcmp(keys[i], "fields") && json_is_array(e)) {
            rc = evl__sr_buf_byte(b, '[');
            for (size_t f = 0; !rc && f < json_array_size(e); f++) {
                if (f)
                    rc = evl__sr_buf_byte(b, ',');
                if (!rc)
                    rc = emit_object(b, json_array_get(e, f), 1, own_ns);
            }
            if (!rc)
                rc = evl__sr_buf_byte(b, ']');
        } else {
            rc = emit_data(b, e);
        }
    }
    free(keys);
    free(nsbuf);
    return rc ? rc : evl__sr_buf_byte(b, '}');
}

static int emit_schema(evl_sr_buf_t *b, json_t *v, int field, const char *ns)
{
    if (json_is_object(v))
        return emit_object(b, v, field, ns);
    if (json_is_array(v)) {
        int rc = evl__sr_buf_byte(b, '[');
        for (size_t i = 0; !rc && i < json_array_size(v); i++) {
            if (i)
                rc = evl__sr_buf_byte(b, ',');
            if (!rc)
                rc = emit_schema(b, json_array_get(v, i), 0, ns);
        }
        return rc ? rc : evl__sr_buf_byte(b, ']');
    }
    return json_is_string(v) ? emit_ref(b, v, ns) : emit_data(b, v);
}

/* ---- the format ---- */

static int parse_text(pctx_t *c, const char *text, size_t len, evl_avro_node_t **root,
                      const char *what)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        perr(c, "%s: not JSON: %s (line %d, column %d)", what, je.text, je.line, je.column);
        return -1;
    }
    evl_avro_schema_t *s = c->s;
    json_t **docs = realloc(s->docs, (s->ndocs + 1) * sizeof *docs);
    if (!docs) {
        json_decref(j);
        oom(c);
        return -1;
    }
    s->docs = docs;
    s->docs[s->ndocs++] = j;
    *root = parse_node(c, j, "", 0);
    return *root ? 0 : -1;
}

static int avro_parse(const char *text, size_t len, const evl_sr_ref_text_t *refs, size_t nrefs,
                      void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    pctx_t c = {.err = err, .errlen = errlen};
    c.s = calloc(1, sizeof *c.s);
    if (!c.s)
        return EVL_ENOMEM;
    for (size_t i = 0; i < nrefs; i++) {
        if (refs[i].type != EVL_SCHEMA_AVRO || !refs[i].schema) {
            perr(&c, "reference '%s' is not an Avro schema", refs[i].name ? refs[i].name : "?");
            goto fail;
        }
        int dup = 0; /* the same text twice in the closure: parse it once */
        for (size_t k = 0; k < i; k++)
            if (refs[k].schema && !strcmp(refs[k].schema, refs[i].schema))
                dup = 1;
        evl_avro_node_t *r;
        if (!dup && parse_text(&c, refs[i].schema, strlen(refs[i].schema), &r,
                               refs[i].name ? refs[i].name : "reference") < 0)
            goto fail;
    }
    if (!text || parse_text(&c, text ? text : "", text ? len : 0, &c.s->root, "schema") < 0) {
        if (!text)
            perr(&c, "no schema text");
        goto fail;
    }
    evl_sr_buf_t b = {0};
    if (emit_schema(&b, c.s->docs[c.s->ndocs - 1], 0, "") < 0 ||
        !(c.s->canonical = evl__sr_buf_str(&b))) {
        evl__sr_buf_free(&b);
        oom(&c);
        goto fail;
    }
    *out = c.s;
    return 0;
fail:
    schema_free(c.s);
    return c.nomem ? EVL_ENOMEM : EVL_ESCHEMA_INVALID;
}

static char *avro_canonical(const void *schema)
{
    const evl_avro_schema_t *s = schema;
    return strdup(s->canonical);
}

static const char *avro_record_name(const void *schema)
{
    const evl_avro_schema_t *s = schema;
    switch (s->root->kind) {
    case EVL_AVRO_RECORD:
    case EVL_AVRO_ENUM:
    case EVL_AVRO_FIXED: return s->root->fullname;
    default: return NULL;
    }
}

const evl_sr_format_t evl__sr_avro = {
    .name = "AVRO",
    .parse = avro_parse,
    .free = schema_free,
    .canonical = avro_canonical,
    .record_name = avro_record_name,
    .can_read = evl__avro_can_read,
    .encode = evl__avro_encode,
    .decode = evl__avro_decode,
};
