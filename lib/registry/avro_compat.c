/*
 * avro_compat.c - can data written with one Avro schema be read with
 * another? The Avro 1.11 specification's "Schema Resolution", checked on
 * the schemas alone, in the shape of Java's SchemaCompatibility (which
 * Confluent's registry runs), with reasons worded like Confluent's.
 *
 * Decisions:
 * - Named types match by UNQUALIFIED name or by the writer's full name
 *   being one of the reader's aliases: the spec says "(unqualified) names
 *   match", and Java's schemaNameEquals does the same.
 * - Logical types are ignored: resolution works on the underlying types.
 * - Recursion: each (reader, writer) pair is memoised; a pair met again
 *   while it is being checked counts as compatible (its answer is decided
 *   by the rest of the walk), so recursive types terminate.
 * - Reasons name a JSON-pointer-like path from the reader's root, as
 *   Confluent's "location" does (/fields/2/type/items).
 */
#include "avro_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct memo {
    const evl_avro_node_t *r, *w;
    int state; /* 2 in progress, 1 compatible, 0 not */
} memo_t;

typedef struct cctx {
    memo_t *m;
    size_t n, cap;
    int nomem;
    char path[512];
    size_t plen;
} cctx_t;

static void why_add(cctx_t *c, evl_sr_msgs_t *why, const char *kind, const char *detail)
{
    if (!why)
        return; /* trying a union branch: reasons are not wanted */
    evl__sr_msg(why, "%s %s at %s", kind, detail, c->plen ? c->path : "/");
}

/* Path segments: push returns the old length for pop. */
static size_t push(cctx_t *c, const char *seg)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "/%s", seg);
    if (n > 0)
        c->plen = c->plen + (size_t)n < sizeof c->path ? c->plen + (size_t)n
                                                       : sizeof c->path - 1;
    return old;
}

static void pop(cctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = 0;
}

static const char *upper(const evl_avro_node_t *n, char *buf, size_t len)
{
    static const char *const names[] = {"NULL",   "BOOLEAN", "INT",    "LONG",  "FLOAT",
                                        "DOUBLE", "BYTES",   "STRING", "RECORD", "ENUM",
                                        "ARRAY",  "MAP",     "UNION",  "FIXED"};
    snprintf(buf, len, "%s", names[n->kind]);
    return buf;
}

static int check(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                 evl_sr_msgs_t *why);

static int mismatch(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                    evl_sr_msgs_t *why)
{
    char a[16], b[16], d[96];
    snprintf(d, sizeof d, "reader type: %s not compatible with writer type: %s",
             upper(r, a, sizeof a), upper(w, b, sizeof b));
    why_add(c, why, "TYPE_MISMATCH", d);
    return 0;
}

static int names(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                 evl_sr_msgs_t *why)
{
    if (evl__avro_names_match(r, w))
        return 1;
    char d[300];
    snprintf(d, sizeof d, "expected: %.280s", w->fullname);
    size_t o = push(c, "name");
    why_add(c, why, "NAME_MISMATCH", d);
    pop(c, o);
    return 0;
}

static int records(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                   evl_sr_msgs_t *why)
{
    int ok = names(c, r, w, why);
    for (size_t i = 0; i < r->nfields; i++) {
        const evl_avro_field_t *rf = &r->fields[i];
        /* The writer field read by this reader field: by name, else by one
         * of the reader field's aliases. */
        long wi = evl__avro_field_index(w, rf->name);
        for (size_t a = 0; wi < 0 && a < rf->naliases; a++)
            wi = evl__avro_field_index(w, rf->aliases[a]);
        char seg[32];
        snprintf(seg, sizeof seg, "fields/%zu", i);
        size_t o = push(c, seg);
        if (wi < 0) {
            if (!rf->def) {
                if (why)
                    evl__sr_msg(why, "READER_FIELD_MISSING_DEFAULT_VALUE at %s (field '%s')",
                                c->path, rf->name);
                ok = 0;
            }
        } else {
            size_t o2 = push(c, "type");
            int rc = check(c, rf->type, w->fields[wi].type, why);
            pop(c, o2);
            if (rc < 0) {
                pop(c, o);
                return rc;
            }
            ok &= rc;
        }
        pop(c, o);
    }
    return ok;
}

static int enums(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                 evl_sr_msgs_t *why)
{
    int ok = names(c, r, w, why);
    if (r->enum_default >= 0)
        return ok; /* unknown writer symbols read as the default */
    evl_sr_buf_t b = {0};
    int missing = 0;
    for (size_t i = 0; i < w->nsymbols; i++)
        if (evl__avro_symbol_index(r, w->symbols[i]) < 0) {
            evl__sr_buf_printf(&b, "%s%s", missing++ ? ", " : "[", w->symbols[i]);
        }
    if (missing) {
        evl__sr_buf_byte(&b, ']');
        char *s = evl__sr_buf_str(&b);
        size_t o = push(c, "symbols");
        why_add(c, why, "MISSING_ENUM_SYMBOLS", s ? s : "[...]");
        pop(c, o);
        free(s);
        evl__sr_buf_free(&b);
        return 0;
    }
    evl__sr_buf_free(&b);
    return ok;
}

static int same_kind(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                     evl_sr_msgs_t *why)
{
    size_t o;
    int rc;
    switch (r->kind) {
    case EVL_AVRO_ARRAY:
    case EVL_AVRO_MAP:
        o = push(c, r->kind == EVL_AVRO_ARRAY ? "items" : "values");
        rc = check(c, r->items, w->items, why);
        pop(c, o);
        return rc;
    case EVL_AVRO_FIXED: {
        int ok = names(c, r, w, why);
        if (r->size != w->size) {
            char d[96];
            snprintf(d, sizeof d, "expected: %zu, found: %zu", w->size, r->size);
            o = push(c, "size");
            why_add(c, why, "FIXED_SIZE_MISMATCH", d);
            pop(c, o);
            ok = 0;
        }
        return ok;
    }
    case EVL_AVRO_ENUM: return enums(c, r, w, why);
    case EVL_AVRO_RECORD: return records(c, r, w, why);
    case EVL_AVRO_UNION: {
        /* Every branch the writer may write must be readable. */
        int ok = 1;
        for (size_t i = 0; i < w->nbranches; i++) {
            rc = check(c, r, w->branches[i], NULL);
            if (rc < 0)
                return rc;
            if (!rc) {
                char seg[24], t[16], d[80];
                snprintf(seg, sizeof seg, "%zu", i);
                snprintf(d, sizeof d, "reader union lacking writer type: %s",
                         upper(w->branches[i], t, sizeof t));
                o = push(c, seg);
                why_add(c, why, "MISSING_UNION_BRANCH", d);
                pop(c, o);
                ok = 0;
            }
        }
        return ok;
    }
    default: return 1; /* the same primitive */
    }
}

static int compute(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                   evl_sr_msgs_t *why)
{
    if (r->kind == w->kind)
        return same_kind(c, r, w, why);
    if (w->kind == EVL_AVRO_UNION) {
        /* A writer union against a reader that is not one: each branch the
         * writer may write must be read by the reader. */
        int ok = 1;
        for (size_t i = 0; i < w->nbranches; i++) {
            int rc = check(c, r, w->branches[i], why);
            if (rc < 0)
                return rc;
            ok &= rc;
        }
        return ok;
    }
    switch (r->kind) {
    case EVL_AVRO_LONG:
        return w->kind == EVL_AVRO_INT ? 1 : mismatch(c, r, w, why);
    case EVL_AVRO_FLOAT:
        return w->kind == EVL_AVRO_INT || w->kind == EVL_AVRO_LONG ? 1 : mismatch(c, r, w, why);
    case EVL_AVRO_DOUBLE:
        return w->kind == EVL_AVRO_INT || w->kind == EVL_AVRO_LONG || w->kind == EVL_AVRO_FLOAT
                   ? 1
                   : mismatch(c, r, w, why);
    case EVL_AVRO_BYTES: return w->kind == EVL_AVRO_STRING ? 1 : mismatch(c, r, w, why);
    case EVL_AVRO_STRING: return w->kind == EVL_AVRO_BYTES ? 1 : mismatch(c, r, w, why);
    case EVL_AVRO_UNION:
        /* A reader union reads a non-union writer if some branch does. */
        for (size_t i = 0; i < r->nbranches; i++) {
            int rc = check(c, r->branches[i], w, NULL);
            if (rc != 0)
                return rc;
        }
        {
            char t[16], d[64];
            snprintf(d, sizeof d, "reader union lacking writer type: %s", upper(w, t, sizeof t));
            why_add(c, why, "MISSING_UNION_BRANCH", d);
        }
        return 0;
    default: return mismatch(c, r, w, why);
    }
}

static int check(cctx_t *c, const evl_avro_node_t *r, const evl_avro_node_t *w,
                 evl_sr_msgs_t *why)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].r == r && c->m[i].w == w)
            return c->m[i].state == 2 ? 1 : c->m[i].state;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        memo_t *m = realloc(c->m, cap * sizeof *m);
        if (!m)
            return EVL_ENOMEM;
        c->m = m;
        c->cap = cap;
    }
    size_t at = c->n++;
    c->m[at] = (memo_t){r, w, 2};
    int rc = compute(c, r, w, why);
    if (rc < 0)
        return rc;
    c->m[at].state = rc;
    return rc;
}

int evl__avro_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why)
{
    const evl_avro_schema_t *rs = reader, *ws = writer;
    cctx_t c = {0};
    size_t before = why ? why->n : 0;
    int rc = check(&c, rs->root, ws->root, why);
    free(c.m);
    if (rc == 0 && why && why->n == before)
        evl__sr_msg(why, "INCOMPATIBLE the reader cannot read data written with the writer");
    return rc;
}
