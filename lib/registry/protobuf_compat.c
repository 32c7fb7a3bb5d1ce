/*
 * protobuf_compat.c - Protobuf compatibility (evl__pb_can_read): Confluent's
 * protobuf/diff/SchemaDiff.java with original = writer (old) and update =
 * reader (new), rewritten in C over our model.
 *
 * The rules as Confluent has them (SchemaDiff, MessageSchemaDiff,
 * FieldSchemaDiff, Context): a package change is incompatible; messages
 * are compared by name at each level (a removed one is incompatible, added
 * or moved ones are fine); fields by number across the whole message,
 * oneof members included: removed/added is fine unless the field is
 * required (REQUIRED_FIELD_REMOVED/ADDED), a oneof member removed from a
 * oneof that still exists is ONEOF_FIELD_REMOVED, fields from more than one
 * original group newly put together in a oneof are
 * MULTIPLE_FIELDS_MOVED_TO_ONEOF or FIELD_MOVED_TO_EXISTING_ONEOF. For a
 * field in both: its kind (scalar, enum counting as scalar; message; map)
 * must be the same (FIELD_KIND_CHANGED); scalars stay in their group
 * (FIELD_SCALAR_KIND_CHANGED; an enum is in the int32/int64/uint32/uint64/
 * bool group); when both have labels and they differ, numbers give
 * FIELD_NUMERIC_LABEL_CHANGED (incompatible) and string/bytes
 * FIELD_STRING_OR_BYTES_LABEL_CHANGED (compatible) - a proto3 field with no
 * label compares as "no label", so Confluent lets int32 -> repeated int32
 * through there, and so do we; message fields compare their types' names
 * without the package (FIELD_NAMED_TYPE_CHANGED), and when a type comes
 * from a reference whose text differs between the two, the message itself
 * is compared too (a subcontext) and any incompatibility in it also gives
 * FIELD_NAMED_TYPE_CHANGED; maps compare key and value the same way.
 * Enums only ever give compatible differences, so they are not walked.
 * Each incompatible difference appends "NAME #/path" (Confluent's path:
 * message names, oneof name, field number).
 */
#include "protobuf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    const evl_pb_schema_t *orig, *upd;
    char path[1024];
    size_t plen;
    evl_sr_msgs_t *why;
    int bad;                                 /* incompatible differences */
    int nomem;
    const evl_pb_msg_t *stack[PB_MAX_DEPTH]; /* originals being compared */
    size_t nstack;
} ctx_t;

static const char *const compatible[] = {
    "MESSAGE_ADDED", "MESSAGE_MOVED", "ENUM_ADDED", "ENUM_REMOVED", "ENUM_CONST_ADDED",
    "ENUM_CONST_CHANGED", "ENUM_CONST_REMOVED", "FIELD_ADDED", "FIELD_REMOVED",
    "FIELD_NAME_CHANGED", "FIELD_STRING_OR_BYTES_LABEL_CHANGED", "ONEOF_ADDED",
    "ONEOF_REMOVED", "ONEOF_FIELD_ADDED", "ONEOF_FIELD_MOVED_TO_TOP_LEVEL", NULL};

static void diff(ctx_t *c, const char *type)
{
    for (int i = 0; compatible[i]; i++)
        if (strcmp(compatible[i], type) == 0)
            return;
    c->bad++;
    if (c->why)
        evl__sr_msg(c->why, "%s #/%s", type, c->path);
}

static size_t enter(ctx_t *c, const char *seg)
{
    size_t save = c->plen;
    int k = snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s", c->plen ? "/" : "", seg);
    if (k > 0)
        c->plen = c->plen + (size_t)k < sizeof c->path ? c->plen + (size_t)k : sizeof c->path - 1;
    return save;
}

static void leave(ctx_t *c, size_t save)
{
    c->plen = save;
    c->path[save] = 0;
}

static size_t enter_num(ctx_t *c, int32_t n)
{
    char b[16];
    snprintf(b, sizeof b, "%d", (int)n);
    return enter(c, b);
}

static void compare_types(ctx_t *c, evl_pb_msg_t *const *om, size_t on, evl_pb_msg_t *const *um,
                          size_t un, int depth);
static void compare_msg(ctx_t *c, const evl_pb_msg_t *o, const evl_pb_msg_t *u, int depth);

enum { K_SCALAR, K_MESSAGE, K_MAP };

static int scalar_group(int t)
{
    switch (t) {
    case PB_INT32: case PB_INT64: case PB_UINT32: case PB_UINT64: case PB_BOOL: case PB_ENUM:
        return 1;
    case PB_SINT32: case PB_SINT64: return 2;
    case PB_STRING: case PB_BYTES: return 3;
    case PB_FIXED32: case PB_SFIXED32: return 4;
    case PB_FIXED64: case PB_SFIXED64: return 5;
    case PB_FLOAT: return 6;
    case PB_DOUBLE: return 7;
    }
    return 0;
}

/* Confluent's label: NULL for proto3 singular, map and oneof fields. */
static int label_of(const evl_pb_field_t *f)
{
    if (f->proto3_optional)
        return PB_L_OPTIONAL;
    return f->label;
}

/* The file that defines message full (its package, and whether it is a
 * dependency: NULL for the schema's own file). */
static const evl_pb_file_t *owner(const evl_pb_schema_t *s, const char *full, int *is_dep)
{
    for (size_t pass = 0; pass <= s->ndeps; pass++) {
        const evl_pb_file_t *f = pass == 0 ? s->file : s->deps[pass - 1];
        size_t pn = strlen(f->package);
        if (pn && (strncmp(full, f->package, pn) != 0 || full[pn] != '.'))
            continue;
        evl_pb_schema_t one = {.file = (evl_pb_file_t *)f};
        if (evl__pb_find_msg(&one, full)) {
            *is_dep = pass != 0;
            return f;
        }
    }
    return NULL;
}

static const char *local_name(const evl_pb_file_t *f, const char *full)
{
    size_t pn = f ? strlen(f->package) : 0;
    return pn && strncmp(full, f->package, pn) == 0 && full[pn] == '.' ? full + pn + 1 : full;
}

static void compare_message_types(ctx_t *c, const char *ofull, const char *ufull, int depth)
{
    int odep = 0, udep = 0;
    const evl_pb_file_t *of = owner(c->orig, ofull, &odep);
    const evl_pb_file_t *uf = owner(c->upd, ufull, &udep);
    const char *ol = local_name(of, ofull), *ul = local_name(uf, ufull);
    if (!of || !uf || strcmp(ol, ul) != 0) {
        diff(c, "FIELD_NAMED_TYPE_CHANGED");
        return;
    }
    if (!odep && !udep)
        return; /* both local: the message itself is compared by name */
    if (odep && udep && strcmp(of->name, uf->name) == 0) {
        char *a = evl__pb_print(of), *b = evl__pb_print(uf);
        int same = a && b && strcmp(a, b) == 0;
        free(a);
        free(b);
        if (same)
            return; /* the same reference on both sides */
    }
    evl_pb_schema_t o1 = {.file = (evl_pb_file_t *)of}, u1 = {.file = (evl_pb_file_t *)uf};
    const evl_pb_msg_t *om = evl__pb_find_msg(&o1, ofull), *um = evl__pb_find_msg(&u1, ufull);
    char saved[sizeof c->path];
    size_t savelen = c->plen;
    memcpy(saved, c->path, sizeof saved);
    snprintf(c->path, sizeof c->path, "%s", ol);
    for (char *q = c->path; *q; q++)
        if (*q == '.')
            *q = '/';
    c->plen = strlen(c->path);
    int before = c->bad;
    compare_msg(c, om, um, depth + 1);
    memcpy(c->path, saved, sizeof saved);
    c->plen = savelen;
    if (c->bad > before)
        diff(c, "FIELD_NAMED_TYPE_CHANGED");
}

/* Kind and comparison of one (type, type name, labels) pair. */
static void compare_labels_types(ctx_t *c, int olabel, int ulabel, const evl_pb_field_t *o,
                                 const evl_pb_field_t *u, int map_part, int depth)
{
    int ot, ut;
    const char *on = NULL, *un = NULL;
    int ok, uk;
    if (map_part == 1) { /* keys */
        ot = o->key_type;
        ut = u->key_type;
        ok = uk = K_SCALAR;
    } else {
        ot = o->type;
        ut = u->type;
        on = o->type_name;
        un = u->type_name;
        ok = map_part == 0 && o->is_map ? K_MAP : ot == PB_MESSAGE ? K_MESSAGE : K_SCALAR;
        uk = map_part == 0 && u->is_map ? K_MAP : ut == PB_MESSAGE ? K_MESSAGE : K_SCALAR;
    }
    if (ok != uk) {
        diff(c, "FIELD_KIND_CHANGED");
        return;
    }
    if (ok == K_MAP) {
        compare_labels_types(c, PB_L_NONE, PB_L_NONE, o, u, 1, depth);
        compare_labels_types(c, PB_L_NONE, PB_L_NONE, o, u, 2, depth);
    } else if (ok == K_MESSAGE) {
        compare_message_types(c, on, un, depth);
    } else {
        int og = scalar_group(ot), ug = scalar_group(ut);
        if (og != ug)
            diff(c, "FIELD_SCALAR_KIND_CHANGED");
        else if (olabel != PB_L_NONE && ulabel != PB_L_NONE && olabel != ulabel)
            diff(c, og == 3 ? "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
                            : "FIELD_NUMERIC_LABEL_CHANGED");
    }
}

static void compare_field(ctx_t *c, const evl_pb_field_t *o, const evl_pb_field_t *u, int depth)
{
    if (strcmp(o->name, u->name) != 0)
        diff(c, "FIELD_NAME_CHANGED");
    compare_labels_types(c, label_of(o), label_of(u), o, u, 0, depth);
}

static const evl_pb_field_t *by_tag(const evl_pb_msg_t *m, int32_t tag)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].number == tag)
            return &m->fields[i];
    return NULL;
}

static int oneof_index(const evl_pb_msg_t *m, const char *name)
{
    for (size_t i = 0; i < m->noneofs; i++)
        if (strcmp(m->oneofs[i], name) == 0)
            return (int)i;
    return -1;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void compare_fields(ctx_t *c, const evl_pb_msg_t *o, const evl_pb_msg_t *u, int depth)
{
    /* oneofs of the original completely deleted (no member survives) */
    int *gone = calloc(o->noneofs + 1, sizeof *gone);
    int32_t *tags = malloc((o->nfields + u->nfields + 1) * sizeof *tags);
    if (!gone || !tags) {
        free(gone);
        free(tags);
        c->nomem = 1;
        return;
    }
    for (size_t k = 0; k < o->noneofs; k++) {
        if (oneof_index(u, o->oneofs[k]) >= 0)
            continue;
        int survives = 0;
        for (size_t i = 0; i < o->nfields; i++)
            if (o->fields[i].oneof == (int)k && by_tag(u, o->fields[i].number))
                survives = 1;
        gone[k] = !survives;
    }
    /* newly introduced mutual exclusivity: members of one update oneof that
     * come from more than one original group (an original oneof, or each
     * top-level field on its own); brand-new fields do not count */
    for (size_t k = 0; k < u->noneofs; k++) {
        size_t save = enter(c, u->oneofs[k]);
        size_t ngroups = 0;
        int top_moved = 0;
        for (size_t i = 0; i < u->nfields; i++) {
            if (u->fields[i].oneof != (int)k)
                continue;
            const evl_pb_field_t *of = by_tag(o, u->fields[i].number);
            if (!of)
                continue;
            /* group key: oneof index >= 0, or -(tag) for a top-level field */
            int32_t key = of->oneof >= 0 ? of->oneof : -of->number;
            if (of->oneof < 0)
                top_moved++;
            size_t g;
            for (g = 0; g < ngroups; g++)
                if (tags[g] == key)
                    break;
            if (g == ngroups)
                tags[ngroups++] = key;
        }
        if (ngroups > 1)
            diff(c, top_moved > 1 ? "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
                                  : "FIELD_MOVED_TO_EXISTING_ONEOF");
        leave(c, save);
    }
    /* oneofs added / removed: compatible, nothing to report */
    size_t nt = 0;
    for (size_t i = 0; i < o->nfields; i++)
        tags[nt++] = o->fields[i].number;
    for (size_t i = 0; i < u->nfields; i++)
        if (!by_tag(o, u->fields[i].number))
            tags[nt++] = u->fields[i].number;
    qsort(tags, nt, sizeof *tags, cmp_i32);
    for (size_t t = 0; t < nt; t++) {
        const evl_pb_field_t *of = by_tag(o, tags[t]), *uf = by_tag(u, tags[t]);
        if (!uf) {
            if (of->oneof >= 0) {
                if (!gone[of->oneof]) {
                    size_t s1 = enter(c, o->oneofs[of->oneof]);
                    enter_num(c, tags[t]);
                    diff(c, "ONEOF_FIELD_REMOVED");
                    leave(c, s1);
                }
            } else {
                size_t s1 = enter_num(c, tags[t]);
                diff(c, of->label == PB_L_REQUIRED ? "REQUIRED_FIELD_REMOVED" : "FIELD_REMOVED");
                leave(c, s1);
            }
        } else if (!of) {
            size_t s1 = uf->oneof >= 0 ? enter(c, u->oneofs[uf->oneof]) : c->plen;
            enter_num(c, tags[t]);
            diff(c, uf->oneof >= 0 ? "ONEOF_FIELD_ADDED"
                    : uf->label == PB_L_REQUIRED ? "REQUIRED_FIELD_ADDED" : "FIELD_ADDED");
            leave(c, s1);
        } else {
            size_t s1 = uf->oneof >= 0 ? enter(c, u->oneofs[uf->oneof]) : c->plen;
            enter_num(c, tags[t]);
            if (of->oneof >= 0 && uf->oneof < 0)
                diff(c, "ONEOF_FIELD_MOVED_TO_TOP_LEVEL");
            compare_field(c, of, uf, depth);
            leave(c, s1);
        }
    }
    free(gone);
    free(tags);
}

static void compare_msg(ctx_t *c, const evl_pb_msg_t *o, const evl_pb_msg_t *u, int depth)
{
    if (!o || !u || depth > PB_MAX_DEPTH)
        return;
    int busy = 0;
    for (size_t i = 0; i < c->nstack; i++)
        if (c->stack[i] == o)
            busy = 1;
    if (!busy && c->nstack < PB_MAX_DEPTH) {
        c->stack[c->nstack++] = o;
        compare_fields(c, o, u, depth);
        c->nstack--;
    }
    compare_types(c, o->msgs, o->nmsgs, u->msgs, u->nmsgs, depth + 1);
}

static void compare_types(ctx_t *c, evl_pb_msg_t *const *om, size_t on, evl_pb_msg_t *const *um,
                          size_t un, int depth)
{
    if (depth > PB_MAX_DEPTH)
        return;
    for (size_t i = 0; i < on; i++) {
        size_t save = enter(c, om[i]->name);
        size_t k;
        for (k = 0; k < un; k++)
            if (strcmp(um[k]->name, om[i]->name) == 0)
                break;
        if (k == un) {
            diff(c, "MESSAGE_REMOVED");
        } else {
            compare_msg(c, om[i], um[k], depth);
            if (k != i)
                diff(c, "MESSAGE_MOVED");
        }
        leave(c, save);
    }
    /* messages only in the update: MESSAGE_ADDED, compatible */
}

int evl__pb_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why)
{
    const evl_pb_schema_t *u = reader, *o = writer;
    ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return EVL_ENOMEM;
    c->orig = o;
    c->upd = u;
    c->why = why;
    if (strcmp(o->file->package, u->file->package) != 0)
        diff(c, "PACKAGE_CHANGED");
    compare_types(c, o->file->msgs, o->file->nmsgs, u->file->msgs, u->file->nmsgs, 0);
    int bad = c->bad, nomem = c->nomem;
    free(c);
    return nomem ? EVL_ENOMEM : bad ? 0 : 1;
}
