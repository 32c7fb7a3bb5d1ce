/*
 * jsonschema_compat.c - compatibility of two JSON schemas: Confluent's
 * json/diff/SchemaDiff (with ObjectSchemaDiff, ArraySchemaDiff,
 * CombinedSchemaDiff, NumberSchemaDiff, StringSchemaDiff, EnumSchemaDiff,
 * NotSchemaDiff, ConstSchemaDiff), original = the writer's (old) schema,
 * update = the reader's (new). Each change found has Confluent's
 * difference type; the answer is "compatible" iff every change is in
 * Confluent's COMPATIBLE_CHANGES (the strict set, its default), and each
 * incompatible one becomes a reason "TYPE at #/json/path".
 *
 * Confluent compares the schema objects of its JSON Schema library
 * (everit), not the JSON: a schema is first classified the way everit
 * loads it (a "type" makes a typed schema, several types an anyOf of
 * them, enum/const/allOf/anyOf/oneOf/not their own schemas, several of
 * these in one object an allOf of them, no keyword at all the empty
 * schema) and the diff runs on that classification. $refs are followed
 * (resolved at parse time); a pair of schemas already being compared
 * higher up counts as compatible, as Confluent's cycle breaking does, and
 * a step budget bounds the work (combinators make it quadratic per level).
 */
#include "jsonschema_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_BUDGET 200000

enum kind { K_FALSE, K_EMPTY, K_STRING, K_NUMBER, K_BOOLEAN, K_NULL, K_OBJECT, K_ARRAY,
            K_ENUM, K_CONST, K_COMBINED, K_NOT };
enum crit { ALL, ANY, ONE };
static const char *const crit_names[] = {"allOf", "anyOf", "oneOf"};

typedef struct cnode {
    enum kind kind;
    const json_t *obj; /* the schema object whose keywords apply */
    bool integer;      /* K_NUMBER: "integer" */
    enum crit crit;    /* K_COMBINED */
    bool from_json;    /* K_COMBINED: subschemas of an allOf/anyOf/oneOf array */
    struct cnode *sub;
    size_t nsub;
} cnode_t;

typedef struct diff {
    const char *type;
    char *path;
} diff_t;

typedef struct dlist {
    diff_t *v;
    size_t n, cap;
} dlist_t;

typedef struct cctx {
    const evl_js_schema_t *a, *b; /* the two schemas (refs are looked up in both) */
    evl_sr_buf_t path;            /* "a/b/c" (joined without the leading "#/") */
    dlist_t *d;
    const json_t **stack;         /* pairs (original, update) being compared */
    size_t nstack;
    long steps;
    int rc; /* EVL_ENOMEM, or 1 when the budget ran out */
} cctx_t;

static const char *const compatible[] = {
    "ID_CHANGED", "DESCRIPTION_CHANGED", "TITLE_CHANGED", "DEFAULT_CHANGED", "SCHEMA_REMOVED",
    "TYPE_EXTENDED", "MAX_LENGTH_INCREASED", "MAX_LENGTH_REMOVED", "MIN_LENGTH_DECREASED",
    "MIN_LENGTH_REMOVED", "PATTERN_REMOVED", "MAXIMUM_INCREASED", "MAXIMUM_REMOVED",
    "MINIMUM_DECREASED", "MINIMUM_REMOVED", "EXCLUSIVE_MAXIMUM_INCREASED",
    "EXCLUSIVE_MAXIMUM_REMOVED", "EXCLUSIVE_MINIMUM_DECREASED", "EXCLUSIVE_MINIMUM_REMOVED",
    "MULTIPLE_OF_REDUCED", "MULTIPLE_OF_REMOVED", "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    "REQUIRED_ATTRIBUTE_REMOVED", "DEPENDENCY_ARRAY_NARROWED", "DEPENDENCY_ARRAY_REMOVED",
    "DEPENDENCY_SCHEMA_REMOVED", "MAX_PROPERTIES_INCREASED", "MAX_PROPERTIES_REMOVED",
    "MIN_PROPERTIES_DECREASED", "MIN_PROPERTIES_REMOVED", "ADDITIONAL_PROPERTIES_ADDED",
    "ADDITIONAL_PROPERTIES_EXTENDED", "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "MAX_ITEMS_INCREASED",
    "MAX_ITEMS_REMOVED", "MIN_ITEMS_DECREASED", "MIN_ITEMS_REMOVED", "UNIQUE_ITEMS_REMOVED",
    "ADDITIONAL_ITEMS_ADDED", "ADDITIONAL_ITEMS_EXTENDED",
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "ENUM_ARRAY_EXTENDED",
    "COMBINED_TYPE_EXTENDED", "PRODUCT_TYPE_NARROWED", "SUM_TYPE_EXTENDED", "NOT_TYPE_NARROWED",
};

static bool is_compatible_type(const char *t)
{
    for (size_t i = 0; i < sizeof compatible / sizeof *compatible; i++)
        if (strcmp(compatible[i], t) == 0)
            return true;
    return false;
}

static bool list_compatible(const dlist_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (!is_compatible_type(d->v[i].type))
            return false;
    return true;
}

static void dlist_free(dlist_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].path);
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

static void dlist_add(cctx_t *c, dlist_t *d, const char *type, const char *path)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        diff_t *v = realloc(d->v, cap * sizeof *v);
        if (!v) {
            c->rc = EVL_ENOMEM;
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    char *p = strdup(path);
    if (!p) {
        c->rc = EVL_ENOMEM;
        return;
    }
    d->v[d->n].type = type;
    d->v[d->n].path = p;
    d->n++;
}

/* move src's differences into c's list */
static void add_all(cctx_t *c, dlist_t *src)
{
    for (size_t i = 0; i < src->n; i++) {
        dlist_add(c, c->d, src->v[i].type, src->v[i].path);
    }
}

static size_t enter(cctx_t *c, const char *seg)
{
    size_t n = c->path.n;
    int rc = 0;
    if (n)
        rc = evl__sr_buf_byte(&c->path, '/');
    if (!rc)
        rc = evl__sr_buf_put(&c->path, seg, strlen(seg));
    if (rc)
        c->rc = EVL_ENOMEM;
    return n;
}

static void leave(cctx_t *c, size_t n)
{
    c->path.n = n;
}

static void add_diff(cctx_t *c, const char *type)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "#/%.*s", (int)c->path.n, c->path.n ? (const char *)c->path.p : "");
    dlist_add(c, c->d, type, buf);
}

static void add_attr(cctx_t *c, const char *attr, const char *type)
{
    size_t n = enter(c, attr);
    add_diff(c, type);
    leave(c, n);
}

/* ---- classification (everit's schema classes) ---- */

static const json_t *follow(const cctx_t *c, const json_t *s)
{
    for (int i = 0; i < 64 && json_is_object(s) && json_object_get(s, "$ref"); i++) {
        const json_t *t = evl__js_ref_target(c->a, s);
        if (!t)
            t = evl__js_ref_target(c->b, s);
        if (!t)
            return json_true();
        s = t;
    }
    if (json_is_object(s) && json_object_get(s, "$ref"))
        return json_true(); /* a loop of $refs only: accepts what it accepts */
    return s;
}

static bool has_any(const json_t *o, const char *const *kws)
{
    for (; *kws; kws++)
        if (json_object_get(o, *kws))
            return true;
    return false;
}

static const char *const string_kws[] = {"minLength", "maxLength", "pattern", "format", NULL};
static const char *const number_kws[] = {"minimum", "maximum", "exclusiveMinimum",
                                         "exclusiveMaximum", "multipleOf", NULL};
static const char *const object_kws[] = {"properties", "required", "additionalProperties",
                                         "patternProperties", "dependencies", "propertyNames",
                                         "minProperties", "maxProperties", NULL};
static const char *const array_kws[] = {"items", "additionalItems", "contains", "minItems",
                                        "maxItems", "uniqueItems", NULL};

static int push_part(cnode_t **v, size_t *n, cnode_t part)
{
    cnode_t *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return EVL_ENOMEM;
    nv[(*n)++] = part;
    *v = nv;
    return 0;
}

static void node_free(cnode_t *n)
{
    for (size_t i = 0; i < n->nsub; i++)
        node_free(&n->sub[i]);
    free(n->sub);
    n->sub = NULL;
    n->nsub = 0;
}

static cnode_t typed(const json_t *o, const char *t)
{
    cnode_t n = {.obj = o};
    if (strcmp(t, "string") == 0)
        n.kind = K_STRING;
    else if (strcmp(t, "number") == 0)
        n.kind = K_NUMBER;
    else if (strcmp(t, "integer") == 0) {
        n.kind = K_NUMBER;
        n.integer = true;
    } else if (strcmp(t, "boolean") == 0)
        n.kind = K_BOOLEAN;
    else if (strcmp(t, "null") == 0)
        n.kind = K_NULL;
    else if (strcmp(t, "object") == 0)
        n.kind = K_OBJECT;
    else if (strcmp(t, "array") == 0)
        n.kind = K_ARRAY;
    else
        n.kind = K_EMPTY;
    return n;
}

static int build(cctx_t *c, const json_t *s, cnode_t *out, int depth);

static int build_combined(cctx_t *c, const json_t *arr, enum crit cr, cnode_t *out, int depth)
{
    *out = (cnode_t){.kind = K_COMBINED, .crit = cr, .from_json = true};
    for (size_t i = 0; i < json_array_size(arr); i++) {
        /* a set: equal subschemas count once (Confluent's LinkedHashSet) */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = json_equal(json_array_get(arr, i), json_array_get(arr, j));
        if (dup)
            continue;
        cnode_t sub;
        int rc = build(c, json_array_get(arr, i), &sub, depth + 1);
        if (rc == 0)
            rc = push_part(&out->sub, &out->nsub, sub);
        if (rc) {
            node_free(&sub);
            node_free(out);
            return rc;
        }
    }
    return 0;
}

static int build(cctx_t *c, const json_t *s, cnode_t *out, int depth)
{
    *out = (cnode_t){.kind = K_EMPTY};
    if (depth > EVL_JS_MAX_DEPTH)
        return 0;
    s = follow(c, s);
    if (json_is_false(s)) {
        out->kind = K_FALSE;
        return 0;
    }
    if (!json_is_object(s))
        return 0;
    cnode_t *parts = NULL;
    size_t n = 0;
    int rc = 0;
    json_t *type = json_object_get(s, "type");
    if (json_is_string(type)) {
        rc = push_part(&parts, &n, typed(s, json_string_value(type)));
    } else if (json_is_array(type) && json_array_size(type) == 1) {
        rc = push_part(&parts, &n, typed(s, json_string_value(json_array_get(type, 0))));
    } else if (json_is_array(type) && json_array_size(type) > 1) {
        cnode_t any = {.kind = K_COMBINED, .crit = ANY};
        for (size_t i = 0; i < json_array_size(type) && !rc; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            rc = push_part(&any.sub, &any.nsub, typed(s, t ? t : ""));
        }
        if (!rc)
            rc = push_part(&parts, &n, any);
        else
            node_free(&any);
    } else {
        if (has_any(s, string_kws))
            rc = push_part(&parts, &n, typed(s, "string"));
        if (!rc && has_any(s, number_kws))
            rc = push_part(&parts, &n, typed(s, "number"));
        if (!rc && has_any(s, object_kws))
            rc = push_part(&parts, &n, typed(s, "object"));
        if (!rc && has_any(s, array_kws))
            rc = push_part(&parts, &n, typed(s, "array"));
    }
    if (!rc && json_object_get(s, "enum"))
        rc = push_part(&parts, &n, (cnode_t){.kind = K_ENUM, .obj = s});
    if (!rc && json_object_get(s, "const"))
        rc = push_part(&parts, &n, (cnode_t){.kind = K_CONST, .obj = s});
    static const char *const combs[] = {"allOf", "anyOf", "oneOf"};
    for (int i = 0; i < 3 && !rc; i++) {
        json_t *arr = json_object_get(s, combs[i]);
        if (json_is_array(arr)) {
            cnode_t cn;
            rc = build_combined(c, arr, (enum crit)i, &cn, depth);
            if (!rc) {
                rc = push_part(&parts, &n, cn);
                if (rc)
                    node_free(&cn);
            }
        }
    }
    if (!rc && json_object_get(s, "not"))
        rc = push_part(&parts, &n, (cnode_t){.kind = K_NOT, .obj = s});
    if (rc) {
        for (size_t i = 0; i < n; i++)
            node_free(&parts[i]);
        free(parts);
        return rc;
    }
    if (n == 0) {
        free(parts);
        out->obj = s;
        return 0;
    }
    if (n == 1) {
        *out = parts[0];
        free(parts);
        return 0;
    }
    *out = (cnode_t){.kind = K_COMBINED, .crit = ALL, .sub = parts, .nsub = n, .obj = s};
    return 0;
}

/* ---- the diff ---- */

static void cmp_json(cctx_t *c, const json_t *o, const json_t *u);
static void cmp_nodes(cctx_t *c, const cnode_t *o, const cnode_t *u);

/* run f on a fresh list, restoring c's; the caller owns *sub */
#define SUBCTX(c, sub, call)                                                                   \
    do {                                                                                       \
        dlist_t *saved_ = (c)->d;                                                              \
        (c)->d = (sub);                                                                        \
        call;                                                                                  \
        (c)->d = saved_;                                                                       \
    } while (0)

static bool num_of(const json_t *o, const char *k, double *v)
{
    json_t *x = json_object_get(o, k);
    if (!json_is_number(x))
        return false;
    *v = json_number_value(x);
    return true;
}

static void cmp_limit(cctx_t *c, const json_t *o, const json_t *u, const char *kw,
                      const char *added, const char *removed, const char *inc, const char *dec)
{
    double a, b;
    bool ha = num_of(o, kw, &a), hb = num_of(u, kw, &b);
    if (!ha && !hb)
        return;
    if (!ha)
        add_attr(c, kw, added);
    else if (!hb)
        add_attr(c, kw, removed);
    else if (a < b)
        add_attr(c, kw, inc);
    else if (a > b)
        add_attr(c, kw, dec);
}

static void cmp_string(cctx_t *c, const json_t *o, const json_t *u)
{
    cmp_limit(c, o, u, "maxLength", "MAX_LENGTH_ADDED", "MAX_LENGTH_REMOVED",
              "MAX_LENGTH_INCREASED", "MAX_LENGTH_DECREASED");
    cmp_limit(c, o, u, "minLength", "MIN_LENGTH_ADDED", "MIN_LENGTH_REMOVED",
              "MIN_LENGTH_INCREASED", "MIN_LENGTH_DECREASED");
    json_t *po = json_object_get(o, "pattern"), *pu = json_object_get(u, "pattern");
    if (!json_is_string(po))
        po = NULL;
    if (!json_is_string(pu))
        pu = NULL;
    if (!po && pu)
        add_attr(c, "pattern", "PATTERN_ADDED");
    else if (po && !pu)
        add_attr(c, "pattern", "PATTERN_REMOVED");
    else if (po && pu && !json_equal(po, pu))
        add_attr(c, "pattern", "PATTERN_CHANGED");
}

static double dabs(double d)
{
    return d < 0 ? -d : d;
}

/* is a a whole multiple of b (b != 0)? exact for integers */
static bool divides(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t y = json_integer_value(b);
        return y != 0 && (y == -1 || json_integer_value(a) % y == 0);
    }
    double x = json_number_value(a), y = json_number_value(b);
    if (y == 0)
        return false;
    double q = x / y;
    if (!(dabs(q) < 9007199254740992.0))
        return dabs(q) < 1e300;
    double r = (double)(long long)(q + (q >= 0 ? 0.5 : -0.5));
    return dabs(q - r) <= 1e-9 * (dabs(q) > 1 ? dabs(q) : 1);
}

static void cmp_number(cctx_t *c, const cnode_t *on, const cnode_t *un)
{
    const json_t *o = on->obj, *u = un->obj;
    cmp_limit(c, o, u, "maximum", "MAXIMUM_ADDED", "MAXIMUM_REMOVED", "MAXIMUM_INCREASED",
              "MAXIMUM_DECREASED");
    cmp_limit(c, o, u, "minimum", "MINIMUM_ADDED", "MINIMUM_REMOVED", "MINIMUM_INCREASED",
              "MINIMUM_DECREASED");
    cmp_limit(c, o, u, "exclusiveMaximum", "EXCLUSIVE_MAXIMUM_ADDED",
              "EXCLUSIVE_MAXIMUM_REMOVED", "EXCLUSIVE_MAXIMUM_INCREASED",
              "EXCLUSIVE_MAXIMUM_DECREASED");
    cmp_limit(c, o, u, "exclusiveMinimum", "EXCLUSIVE_MINIMUM_ADDED",
              "EXCLUSIVE_MINIMUM_REMOVED", "EXCLUSIVE_MINIMUM_INCREASED",
              "EXCLUSIVE_MINIMUM_DECREASED");
    json_t *mo = json_object_get(o, "multipleOf"), *mu = json_object_get(u, "multipleOf");
    if (!json_is_number(mo))
        mo = NULL;
    if (!json_is_number(mu))
        mu = NULL;
    bool equal = mo ? mu && evl__js_equal(mo, mu) : !mu;
    if (!equal) {
        if (!mo)
            add_attr(c, "multipleOf", "MULTIPLE_OF_ADDED");
        else if (!mu)
            add_attr(c, "multipleOf", "MULTIPLE_OF_REMOVED");
        else if (divides(mu, mo))
            add_attr(c, "multipleOf", "MULTIPLE_OF_EXPANDED");
        else if (divides(mo, mu))
            add_attr(c, "multipleOf", "MULTIPLE_OF_REDUCED");
        else
            add_attr(c, "multipleOf", "MULTIPLE_OF_CHANGED");
    }
    if (on->integer != un->integer)
        add_diff(c, on->integer ? "TYPE_EXTENDED" : "TYPE_NARROWED");
}

static bool all_in(const json_t *a, const json_t *b)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        bool found = false;
        for (size_t j = 0; j < json_array_size(b) && !found; j++)
            found = evl__js_equal(json_array_get(a, i), json_array_get(b, j));
        if (!found)
            return false;
    }
    return true;
}

static void cmp_enum(cctx_t *c, const json_t *o, const json_t *u)
{
    json_t *eo = json_object_get(o, "enum"), *eu = json_object_get(u, "enum");
    bool o_in_u = all_in(eo, eu), u_in_o = all_in(eu, eo);
    if (o_in_u && u_in_o)
        return;
    add_attr(c, "enum", o_in_u ? "ENUM_ARRAY_EXTENDED"
                        : u_in_o ? "ENUM_ARRAY_NARROWED"
                                 : "ENUM_ARRAY_CHANGED");
}

/* Kuhn's augmenting paths: maximum matching of originals to updates. */
static bool augment(const bool *edge, size_t nu, size_t i, bool *seen, long *match_u)
{
    for (size_t j = 0; j < nu; j++) {
        if (!edge[i * nu + j] || seen[j])
            continue;
        seen[j] = true;
        if (match_u[j] < 0 || augment(edge, nu, (size_t)match_u[j], seen, match_u)) {
            match_u[j] = (long)i;
            return true;
        }
    }
    return false;
}

static void cmp_combined(cctx_t *c, const cnode_t *o, const cnode_t *u)
{
    bool changed = false;
    if (o->crit != u->crit) {
        bool single_o = o->nsub == 1, single_u = u->nsub == 1;
        if (u->crit == ANY || (single_o && single_u) || (single_o && u->crit == ONE) ||
            (single_u && o->crit == ALL)) {
            add_diff(c, "COMBINED_TYPE_EXTENDED");
        } else {
            add_diff(c, "COMBINED_TYPE_CHANGED");
            changed = true;
        }
    }
    if (changed)
        return;
    size_t no = o->nsub, nu = u->nsub;
    if (no < nu)
        add_diff(c, u->crit == ALL ? "PRODUCT_TYPE_EXTENDED" : "SUM_TYPE_EXTENDED");
    else if (no > nu)
        add_diff(c, o->crit == ALL ? "PRODUCT_TYPE_NARROWED" : "SUM_TYPE_NARROWED");
    if (no == 0 || nu == 0)
        return;
    bool *edge = calloc(no * nu, sizeof *edge);
    bool *seen = calloc(nu, sizeof *seen);
    long *match_u = malloc(nu * sizeof *match_u);
    if (!edge || !seen || !match_u) {
        c->rc = EVL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < no && !c->rc; i++) {
        char seg[48];
        snprintf(seg, sizeof seg, "%s/%zu", crit_names[o->crit], i);
        size_t p = enter(c, seg);
        for (size_t j = 0; j < nu && !c->rc; j++) {
            dlist_t sub = {0};
            SUBCTX(c, &sub, cmp_nodes(c, &o->sub[i], &u->sub[j]));
            edge[i * nu + j] = list_compatible(&sub);
            dlist_free(&sub);
        }
        leave(c, p);
    }
    for (size_t j = 0; j < nu; j++)
        match_u[j] = -1;
    size_t matched = 0;
    for (size_t i = 0; i < no; i++) {
        memset(seen, 0, nu * sizeof *seen);
        if (augment(edge, nu, i, seen, match_u))
            matched++;
    }
    if (matched < (no < nu ? no : nu))
        add_diff(c, "COMBINED_TYPE_SUBSCHEMAS_CHANGED");
out:
    free(edge);
    free(seen);
    free(match_u);
}

static void cmp_not(cctx_t *c, const json_t *o, const json_t *u)
{
    size_t p = enter(c, "not");
    dlist_t sub = {0};
    /* reversed: the new "not" must exclude less */
    SUBCTX(c, &sub, cmp_json(c, json_object_get(u, "not"), json_object_get(o, "not")));
    add_diff(c, list_compatible(&sub) ? "NOT_TYPE_NARROWED" : "NOT_TYPE_EXTENDED");
    dlist_free(&sub);
    leave(c, p);
}

static bool in_required(const json_t *s, const char *key)
{
    json_t *r = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(r); i++) {
        const char *k = json_string_value(json_array_get(r, i));
        if (k && strcmp(k, key) == 0)
            return true;
    }
    return false;
}

static bool has_default(const cctx_t *c, const json_t *s)
{
    if (json_is_object(s) && json_object_get(s, "default"))
        return true;
    s = follow(c, s);
    return json_is_object(s) && json_object_get(s, "default");
}

static bool is_empty_schema(const cctx_t *c, const json_t *s)
{
    cnode_t n;
    cctx_t tmp = *c;
    if (build(&tmp, s, &n, 0) < 0)
        return false;
    bool e = n.kind == K_EMPTY;
    node_free(&n);
    return e;
}

static bool is_false_schema(const cctx_t *c, const json_t *s)
{
    return json_is_false(follow(c, s));
}

/* additionalProperties / additionalItems: permitted? its schema (NULL when
 * absent or true) */
static bool permits(const json_t *s, const char *kw, const json_t **schema)
{
    json_t *a = json_object_get(s, kw);
    *schema = json_is_object(a) ? a : NULL;
    return !json_is_false(a);
}

static bool open_object(const json_t *s)
{
    const json_t *sch;
    json_t *pp = json_object_get(s, "patternProperties");
    return permits(s, "additionalProperties", &sch) && !sch &&
           !(json_is_object(pp) && json_object_size(pp) > 0);
}

static const json_t *partial_object(const cctx_t *c, const json_t *s, const char *key)
{
    json_t *pp = json_object_get(s, "patternProperties");
    if (json_is_object(pp)) {
        const char *k;
        json_t *v;
        json_object_foreach(pp, k, v)
        {
            const evl_js_regex_t *rx = evl__js_map_get(&c->a->regex, k);
            if (!rx)
                rx = evl__js_map_get(&c->b->regex, k);
            if (rx && evl__js_regex_search(rx, key, strlen(key)))
                return v;
        }
    }
    const json_t *sch;
    permits(s, "additionalProperties", &sch);
    return sch;
}

static void cmp_object(cctx_t *c, const json_t *o, const json_t *u)
{
    json_t *po = json_object_get(o, "properties"), *pu = json_object_get(u, "properties");
    if (!json_is_object(po))
        po = NULL;
    if (!json_is_object(pu))
        pu = NULL;
    const char *key;
    json_t *val;
    /* required */
    size_t p = enter(c, "required");
    if (po) {
        json_object_foreach(po, key, val)
        {
            json_t *us = pu ? json_object_get(pu, key) : NULL;
            if (!us)
                continue;
            bool ro = in_required(o, key), ru = in_required(u, key);
            size_t q = enter(c, key);
            if (ro && !ru)
                add_diff(c, "REQUIRED_ATTRIBUTE_REMOVED");
            else if (!ro && ru)
                add_diff(c, has_default(c, us) ? "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                                               : "REQUIRED_ATTRIBUTE_ADDED");
            leave(c, q);
        }
    }
    leave(c, p);
    /* properties */
    p = enter(c, "properties");
    for (int pass = 0; pass < 2; pass++) {
        json_t *from = pass == 0 ? po : pu;
        if (!from)
            continue;
        json_object_foreach(from, key, val)
        {
            json_t *os = po ? json_object_get(po, key) : NULL;
            json_t *us = pu ? json_object_get(pu, key) : NULL;
            if (pass == 1 && os)
                continue; /* done in the first pass */
            size_t q = enter(c, key);
            if (!us) {
                if (open_object(u)) {
                    add_diff(c, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL");
                } else {
                    const json_t *partial = partial_object(c, u, key);
                    if (partial) {
                        dlist_t sub = {0};
                        SUBCTX(c, &sub, cmp_json(c, os, partial));
                        add_all(c, &sub);
                        add_diff(c, list_compatible(&sub)
                                        ? "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                                        : "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL");
                        dlist_free(&sub);
                    } else {
                        add_diff(c, is_false_schema(c, os)
                                        ? "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
                                        : "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    }
                }
            } else if (!os) {
                if (open_object(o)) {
                    if (is_empty_schema(c, us))
                        add_diff(c, "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL");
                    else if (in_required(u, key))
                        add_diff(c, has_default(c, us)
                                        ? "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
                                        : "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL");
                    else
                        add_diff(c, "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL");
                } else {
                    const json_t *partial = partial_object(c, o, key);
                    if (partial) {
                        dlist_t sub = {0};
                        SUBCTX(c, &sub, cmp_json(c, partial, us));
                        add_all(c, &sub);
                        add_diff(c, list_compatible(&sub)
                                        ? "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                                        : "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL");
                        dlist_free(&sub);
                    }
                    if (in_required(u, key))
                        add_diff(c, has_default(c, us)
                                        ? "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
                                        : "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL");
                    else
                        add_diff(c, "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL");
                }
            } else {
                cmp_json(c, os, us);
            }
            leave(c, q);
        }
    }
    leave(c, p);
    /* dependencies */
    json_t *dO = json_object_get(o, "dependencies"), *dU = json_object_get(u, "dependencies");
    if (!json_is_object(dO))
        dO = NULL;
    if (!json_is_object(dU))
        dU = NULL;
    p = enter(c, "dependencies");
    for (int arrays = 1; arrays >= 0; arrays--) {
        for (int pass = 0; pass < 2; pass++) {
            json_t *from = pass == 0 ? dO : dU;
            if (!from)
                continue;
            json_object_foreach(from, key, val)
            {
                json_t *a = dO ? json_object_get(dO, key) : NULL;
                json_t *b = dU ? json_object_get(dU, key) : NULL;
                if (a && json_is_array(a) != arrays)
                    a = NULL;
                if (b && json_is_array(b) != arrays)
                    b = NULL;
                if (!a && !b)
                    continue;
                if (pass == 1 && a)
                    continue;
                size_t q = enter(c, key);
                if (!b)
                    add_diff(c, arrays ? "DEPENDENCY_ARRAY_REMOVED" : "DEPENDENCY_SCHEMA_REMOVED");
                else if (!a)
                    add_diff(c, arrays ? "DEPENDENCY_ARRAY_ADDED" : "DEPENDENCY_SCHEMA_ADDED");
                else if (!arrays)
                    cmp_json(c, a, b);
                else {
                    bool a_in_b = all_in(a, b), b_in_a = all_in(b, a);
                    if (!(a_in_b && b_in_a))
                        add_diff(c, a_in_b   ? "DEPENDENCY_ARRAY_EXTENDED"
                                    : b_in_a ? "DEPENDENCY_ARRAY_NARROWED"
                                             : "DEPENDENCY_ARRAY_CHANGED");
                }
                leave(c, q);
            }
        }
    }
    leave(c, p);
    /* additionalProperties */
    p = enter(c, "additionalProperties");
    const json_t *so, *su;
    bool ao = permits(o, "additionalProperties", &so), au = permits(u, "additionalProperties", &su);
    if (ao != au)
        add_diff(c, au ? "ADDITIONAL_PROPERTIES_ADDED" : "ADDITIONAL_PROPERTIES_REMOVED");
    else if (!so && su)
        add_diff(c, "ADDITIONAL_PROPERTIES_NARROWED");
    else if (so && !su)
        add_diff(c, "ADDITIONAL_PROPERTIES_EXTENDED");
    else if (so && su)
        cmp_json(c, so, su);
    leave(c, p);
    cmp_limit(c, o, u, "maxProperties", "MAX_PROPERTIES_ADDED", "MAX_PROPERTIES_REMOVED",
              "MAX_PROPERTIES_INCREASED", "MAX_PROPERTIES_DECREASED");
    cmp_limit(c, o, u, "minProperties", "MIN_PROPERTIES_ADDED", "MIN_PROPERTIES_REMOVED",
              "MIN_PROPERTIES_INCREASED", "MIN_PROPERTIES_DECREASED");
}

static void cmp_array(cctx_t *c, const json_t *o, const json_t *u)
{
    json_t *io = json_object_get(o, "items"), *iu = json_object_get(u, "items");
    /* items as one schema */
    size_t p = enter(c, "items");
    cmp_json(c, json_is_array(io) ? NULL : io, json_is_array(iu) ? NULL : iu);
    leave(c, p);
    /* items as an array */
    size_t no = json_is_array(io) ? json_array_size(io) : 0;
    size_t nu = json_is_array(iu) ? json_array_size(iu) : 0;
    const json_t *ao_s, *au_s;
    bool ao = permits(o, "additionalItems", &ao_s), au = permits(u, "additionalItems", &au_s);
    bool open_o = ao && !ao_s, open_u = au && !au_s;
    for (size_t i = 0; i < (no > nu ? no : nu) && !c->rc; i++) {
        char seg[32];
        snprintf(seg, sizeof seg, "items/%zu", i);
        size_t q = enter(c, seg);
        if (i < no && i < nu) {
            cmp_json(c, json_array_get(io, i), json_array_get(iu, i));
        } else if (i < no) {
            const json_t *os = json_array_get(io, i);
            if (open_u) {
                add_diff(c, "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL");
            } else if (au_s) {
                dlist_t sub = {0};
                SUBCTX(c, &sub, cmp_json(c, os, au_s));
                add_all(c, &sub);
                add_diff(c, list_compatible(&sub)
                                ? "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                                : "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL");
                dlist_free(&sub);
            } else {
                add_diff(c, is_false_schema(c, os)
                                ? "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
                                : "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL");
            }
        } else {
            const json_t *us = json_array_get(iu, i);
            if (open_o) {
                add_diff(c, is_empty_schema(c, us)
                                ? "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                                : "ITEM_ADDED_TO_OPEN_CONTENT_MODEL");
            } else if (ao_s) {
                dlist_t sub = {0};
                SUBCTX(c, &sub, cmp_json(c, ao_s, us));
                add_all(c, &sub);
                add_diff(c, list_compatible(&sub)
                                ? "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                                : "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL");
                dlist_free(&sub);
            } else {
                add_diff(c, "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL");
            }
        }
        leave(c, q);
    }
    /* additionalItems */
    p = enter(c, "additionalItems");
    if (ao != au)
        add_diff(c, ao ? "ADDITIONAL_ITEMS_REMOVED" : "ADDITIONAL_ITEMS_ADDED");
    else if (!ao_s && au_s)
        add_diff(c, "ADDITIONAL_ITEMS_NARROWED");
    else if (ao_s && !au_s)
        add_diff(c, "ADDITIONAL_ITEMS_EXTENDED");
    else if (ao_s && au_s)
        cmp_json(c, ao_s, au_s);
    leave(c, p);
    cmp_limit(c, o, u, "maxItems", "MAX_ITEMS_ADDED", "MAX_ITEMS_REMOVED", "MAX_ITEMS_INCREASED",
              "MAX_ITEMS_DECREASED");
    cmp_limit(c, o, u, "minItems", "MIN_ITEMS_ADDED", "MIN_ITEMS_REMOVED", "MIN_ITEMS_INCREASED",
              "MIN_ITEMS_DECREASED");
    bool uo = json_is_true(json_object_get(o, "uniqueItems"));
    bool uu = json_is_true(json_object_get(u, "uniqueItems"));
    if (uo != uu)
        add_attr(c, "uniqueItems", uo ? "UNIQUE_ITEMS_REMOVED" : "UNIQUE_ITEMS_ADDED");
}

static void cmp_nodes(cctx_t *c, const cnode_t *o, const cnode_t *u)
{
    if (c->rc)
        return;
    if (++c->steps > STEP_BUDGET) {
        c->rc = 1;
        return;
    }
    if (o->kind != K_COMBINED && u->kind == K_COMBINED) {
        if (u->nsub == 1) {
            dlist_t sub = {0};
            SUBCTX(c, &sub, cmp_nodes(c, o, &u->sub[0]));
            bool ok = list_compatible(&sub);
            if (ok)
                add_all(c, &sub);
            dlist_free(&sub);
            if (ok)
                return;
        } else if (u->crit == ANY || u->crit == ONE) {
            for (size_t i = 0; i < u->nsub && !c->rc; i++) {
                dlist_t sub = {0};
                SUBCTX(c, &sub, cmp_nodes(c, o, &u->sub[i]));
                bool ok = list_compatible(&sub);
                if (ok) {
                    add_all(c, &sub);
                    add_diff(c, "SUM_TYPE_EXTENDED");
                }
                dlist_free(&sub);
                if (ok)
                    return;
            }
        }
    } else if (o->kind == K_COMBINED && u->kind != K_COMBINED) {
        if (o->nsub == 1) {
            dlist_t sub = {0};
            SUBCTX(c, &sub, cmp_nodes(c, &o->sub[0], u));
            bool ok = list_compatible(&sub);
            if (ok)
                add_all(c, &sub);
            dlist_free(&sub);
            if (ok)
                return;
        } else if (o->crit == ALL) {
            for (size_t i = 0; i < o->nsub && !c->rc; i++) {
                dlist_t sub = {0};
                SUBCTX(c, &sub, cmp_nodes(c, &o->sub[i], u));
                bool ok = list_compatible(&sub);
                if (ok) {
                    add_all(c, &sub);
                    add_diff(c, "PRODUCT_TYPE_NARROWED");
                }
                dlist_free(&sub);
                if (ok)
                    return;
            }
        }
    }
    if (o->kind != u->kind) {
        if (o->kind == K_FALSE || u->kind == K_EMPTY)
            return;
        add_diff(c, "TYPE_CHANGED");
        return;
    }
    switch (o->kind) {
    case K_STRING: cmp_string(c, o->obj, u->obj); break;
    case K_NUMBER: cmp_number(c, o, u); break;
    case K_ENUM: cmp_enum(c, o->obj, u->obj); break;
    case K_CONST:
        if (!evl__js_equal(json_object_get(o->obj, "const"), json_object_get(u->obj, "const")))
            add_attr(c, "const", "ENUM_ARRAY_CHANGED");
        break;
    case K_COMBINED: cmp_combined(c, o, u); break;
    case K_NOT: cmp_not(c, o->obj, u->obj); break;
    case K_OBJECT: cmp_object(c, o->obj, u->obj); break;
    case K_ARRAY: cmp_array(c, o->obj, u->obj); break;
    default: break;
    }
}

static void cmp_json(cctx_t *c, const json_t *o, const json_t *u)
{
    if (c->rc)
        return;
    if (!o && !u)
        return;
    if (!o) {
        add_diff(c, "SCHEMA_ADDED");
        return;
    }
    if (!u) {
        add_diff(c, "SCHEMA_REMOVED");
        return;
    }
    o = follow(c, o);
    u = follow(c, u);
    /* a pair already being compared above: compatible (cycle broken) */
    for (size_t i = 0; i + 1 < c->nstack; i += 2)
        if (c->stack[i] == o && c->stack[i + 1] == u)
            return;
    if (c->nstack + 2 > 2 * EVL_JS_MAX_DEPTH) {
        c->rc = 1;
        return;
    }
    c->stack[c->nstack++] = o;
    c->stack[c->nstack++] = u;
    cnode_t no, nu;
    int rc = build(c, o, &no, 0);
    if (rc == 0) {
        rc = build(c, u, &nu, 0);
        if (rc == 0) {
            cmp_nodes(c, &no, &nu);
            node_free(&nu);
        }
        node_free(&no);
    }
    if (rc)
        c->rc = rc;
    c->nstack -= 2;
}

int evl__js_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why)
{
    const evl_js_schema_t *r = reader, *w = writer;
    dlist_t d = {0};
    cctx_t c = {.a = w, .b = r, .d = &d};
    c.stack = malloc(2 * EVL_JS_MAX_DEPTH * sizeof *c.stack);
    if (!c.stack)
        return EVL_ENOMEM;
    cmp_json(&c, w->root, r->root);
    free(c.stack);
    evl__sr_buf_free(&c.path);
    if (c.rc < 0) {
        dlist_free(&d);
        return c.rc;
    }
    int ok = 1;
    if (c.rc == 1) {
        evl__sr_msg(why, "the schemas are too complex to compare (over %d steps or %d levels)",
                    STEP_BUDGET, EVL_JS_MAX_DEPTH);
        ok = 0;
    }
    for (size_t i = 0; i < d.n; i++) {
        if (!is_compatible_type(d.v[i].type)) {
            evl__sr_msg(why, "%s at %s", d.v[i].type, d.v[i].path);
            ok = 0;
        }
    }
    dlist_free(&d);
    return ok;
}
